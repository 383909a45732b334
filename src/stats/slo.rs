//! Service-level objectives against the summaries: one check per (SLO, point, tier).
//!
//! With several repetitions, the value checked is the median over them, as in
//! the aggregate rows of `summary.csv`.

use serde::{Deserialize, Serialize};

use super::{median_interval, Summary};
use crate::plan::{Slo, SloMetric, Tier};

/// The outcome of one SLO at one point for one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloCheck {
    /// Index into the scenario's `slo` list.
    pub slo: usize,
    pub point: usize,
    pub tier: Tier,
    /// In the metric's unit; `None` when nothing could be measured (no successful request).
    pub measured: Option<f64>,
    pub passed: bool,
}

fn value(metric: SloMetric, s: &Summary) -> Option<f64> {
    let share = |n: u64| (s.counts.requests > 0).then(|| n as f64 / s.counts.requests as f64);
    match metric {
        SloMetric::Throughput => Some(s.throughput_rps),
        SloMetric::TimeoutRate => share(s.counts.timeouts),
        SloMetric::ErrorRate => share(s.counts.errors),
        SloMetric::EnergyMean => s.energy.map(|e| e.mean_mj),
        SloMetric::EnergyP50 => s.energy.map(|e| e.p50_mj),
        SloMetric::EnergyP99 => s.energy.map(|e| e.p99_mj),
        SloMetric::CostPerMillion => s.cost.map(|c| c.per_million),
        _ => s.latency.map(|l| match metric {
            SloMetric::P50 => l.p50_us as f64,
            SloMetric::P90 => l.p90_us as f64,
            SloMetric::P95 => l.p95_us as f64,
            SloMetric::P99 => l.p99_us as f64,
            SloMetric::P999 => l.p999_us as f64,
            SloMetric::Max => l.max_us as f64,
            _ => l.mean_us,
        }),
    }
}

/// Checks every SLO at every (point, tier) the summaries cover, in SLO, point, tier order.
/// A tier that ran no requests at a point is not checked there.
pub fn check_slos(slos: &[Slo], summaries: &[Summary]) -> Vec<SloCheck> {
    let mut out = Vec::new();
    for (i, slo) in slos.iter().enumerate() {
        // An SLO of a group holds for that group's rows, any other for the rows over every device.
        let summaries: Vec<Summary> = summaries.iter().filter(|s| s.group == slo.group).cloned().collect();
        let summaries = summaries.as_slice();
        let mut keys: Vec<(usize, Tier)> = summaries.iter().map(|s| (s.point, s.tier)).collect();
        keys.sort();
        keys.dedup();
        for &(point, tier) in keys.iter().filter(|(_, t)| slo.tier.is_none_or(|want| want == *t)) {
            let values: Option<Vec<f64>> =
                summaries.iter().filter(|s| s.point == point && s.tier == tier).map(|s| value(slo.metric, s)).collect();
            let measured = values.and_then(|v| median_interval(&v)).map(|(m, _)| m);
            let passed =
                measured.is_some_and(|m| if slo.metric.is_minimum() { m >= slo.limit } else { m <= slo.limit });
            out.push(SloCheck { slo: i, point, tier, measured, passed });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Percentiles;

    /// The shared test summary with this p99 and these timeouts.
    fn summary(point: usize, rep: u32, tier: Tier, p99_us: u64, timeouts: u64) -> Summary {
        let l = Percentiles { mean_us: 1.0, p50_us: 1, p90_us: 1, p95_us: 1, p99_us, p999_us: 1, max_us: p99_us };
        Summary {
            counts: crate::record::Counts { requests: 100, ok: 100 - timeouts, timeouts, errors: 0 },
            throughput_rps: (100 - timeouts) as f64,
            latency: (timeouts < 100).then_some(l),
            ..crate::stats::test_summary(point, rep, tier, Some(1))
        }
    }

    fn slo(tier: Option<Tier>, metric: SloMetric, limit: f64) -> Slo {
        Slo { tier, metric, limit, limit_text: limit.to_string(), group: None }
    }

    #[test]
    fn checks_each_point_and_tier_against_the_median_over_repetitions() {
        let rows = vec![
            summary(0, 0, Tier::Edge, 900, 0),
            summary(0, 1, Tier::Edge, 1100, 0),
            summary(0, 2, Tier::Edge, 5000, 0),
            summary(0, 0, Tier::Cloud, 20_000, 0),
            summary(1, 0, Tier::Edge, 100, 0),
        ];
        let checks = check_slos(&[slo(Some(Tier::Edge), SloMetric::P99, 1000.0)], &rows);
        // Point 0: median of 900, 1100, 5000 is 1100 > 1000; point 1: 100. The cloud is not checked.
        assert_eq!(checks.len(), 2);
        assert_eq!((checks[0].point, checks[0].measured, checks[0].passed), (0, Some(1100.0), false));
        assert_eq!((checks[1].point, checks[1].measured, checks[1].passed), (1, Some(100.0), true));
        let every = check_slos(&[slo(None, SloMetric::P99, 30_000.0)], &rows);
        assert_eq!(
            every.iter().map(|c| (c.point, c.tier)).collect::<Vec<_>>(),
            [(0, Tier::Edge), (0, Tier::Cloud), (1, Tier::Edge)]
        );
        assert!(every.iter().all(|c| c.passed));
    }

    #[test]
    fn rates_throughput_and_no_successes() {
        let rows = vec![summary(0, 0, Tier::Cloud, 10, 2), summary(1, 0, Tier::Cloud, 10, 100)];
        let t = check_slos(&[slo(None, SloMetric::TimeoutRate, 0.01)], &rows);
        assert_eq!((t[0].measured, t[0].passed), (Some(0.02), false));
        let tp = check_slos(&[slo(None, SloMetric::Throughput, 98.0)], &rows);
        assert_eq!((tp[0].passed, tp[1].passed), (true, false));
        // Every request timed out: no latency to check, which fails the SLO.
        let p = check_slos(&[slo(None, SloMetric::P99, 1e9)], &rows);
        assert_eq!((p[1].measured, p[1].passed), (None, false));
    }
}
