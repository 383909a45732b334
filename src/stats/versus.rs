//! Edge against cloud at each point: the medians over repetitions and which
//! tier, if any, answered faster, for the report's summary and table.
//!
//! "Faster" is claimed only when the data separate the tiers: with
//! repetitions, when the intervals of the two tiers' median p50 (over
//! repetitions, `median_interval`) do not overlap; with one repetition, when
//! the p50s differ by more than `TIE_PCT`. Anything closer is a tie: on the
//! development machine a sub-millisecond p50 moves by more than that between
//! runs.

use super::{median_interval, Interval, Summary};
use crate::plan::Tier;

/// With one repetition, p50s closer than this (% of the smaller) are a tie.
pub const TIE_PCT: f64 = 5.0;

/// Which tier answered faster at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Faster {
    Edge,
    Cloud,
    Tie,
}

/// One tier at one point, over its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct TierAt {
    /// Repetitions with successful requests.
    pub answered: usize,
    /// Repetitions at this point.
    pub repetitions: usize,
    /// Median over answered repetitions of their p50 and p99, µs.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Interval of the median p50 over repetitions (with more than one).
    pub p50_interval: Option<Interval>,
}

/// Edge and cloud at one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Versus {
    pub point: usize,
    pub edge: TierAt,
    pub cloud: TierAt,
    /// `None` when a tier has no p50 at this point.
    pub faster: Option<Faster>,
}

impl Versus {
    /// cloud p50 / edge p50.
    pub fn p50_ratio(&self) -> Option<f64> {
        Some(self.cloud.p50_us? / self.edge.p50_us?.max(1.0))
    }

    pub fn p99_ratio(&self) -> Option<f64> {
        Some(self.cloud.p99_us? / self.edge.p99_us?.max(1.0))
    }
}

/// A (point, tier)'s two figures over its repetitions: `value` gives a
/// repetition's (p50, p99), or `None` when it has none.
type Figures = fn(&Summary) -> Option<(f64, f64)>;

fn latency(s: &Summary) -> Option<(f64, f64)> {
    s.latency.map(|l| (l.p50_us as f64, l.p99_us as f64))
}

fn tier_at(summaries: &[Summary], point: usize, tier: Tier, value: Figures) -> Option<TierAt> {
    let reps: Vec<&Summary> = summaries.iter().filter(|s| s.point == point && s.tier == tier).collect();
    if reps.is_empty() {
        return None;
    }
    let p50: Vec<f64> = reps.iter().filter_map(|s| value(s).map(|v| v.0)).collect();
    let p99: Vec<f64> = reps.iter().filter_map(|s| value(s).map(|v| v.1)).collect();
    let m50 = median_interval(&p50);
    Some(TierAt {
        answered: p50.len(),
        repetitions: reps.len(),
        p50_us: m50.map(|m| m.0),
        p99_us: median_interval(&p99).map(|m| m.0),
        p50_interval: m50.filter(|_| p50.len() > 1).map(|m| m.1),
    })
}

fn faster(edge: &TierAt, cloud: &TierAt) -> Option<Faster> {
    let (e, c) = (edge.p50_us?, cloud.p50_us?);
    if let (Some(ei), Some(ci)) = (edge.p50_interval, cloud.p50_interval) {
        return Some(if ei.high < ci.low {
            Faster::Edge
        } else if ci.high < ei.low {
            Faster::Cloud
        } else {
            Faster::Tie
        });
    }
    Some(if (c - e).abs() <= TIE_PCT / 100.0 * e.min(c) {
        Faster::Tie
    } else if e < c {
        Faster::Edge
    } else {
        Faster::Cloud
    })
}

/// Every point (in `points` order) where both tiers ran.
pub fn versus(summaries: &[Summary], points: &[usize]) -> Vec<Versus> {
    compare(summaries, points, latency)
}

/// What edge and cloud are compared on: latency, the device energy a
/// request costs, or the cost per million requests (docs/search.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Objective {
    #[default]
    Latency,
    Energy,
    Cost,
}

impl Objective {
    /// Edge against cloud at `points` on this objective ("p50" is the
    /// latency's median, the mean energy, or the cost).
    pub fn versus(self, summaries: &[Summary], points: &[usize]) -> Vec<Versus> {
        match self {
            Objective::Latency => versus(summaries, points),
            // The mean energy in the "p50" slot, the p99 in the "p99" one: the
            // crossover machinery runs on energy as it does on latency.
            Objective::Energy => compare(summaries, points, |s| s.energy.map(|e| (e.mean_mj, e.p99_mj))),
            Objective::Cost => compare(summaries, points, |s| s.cost.map(|c| (c.per_million, c.per_million))),
        }
    }

    /// `5.123 ms`, `812.4 mJ`, `$48.37` from the objective's unit (µs, mJ, money).
    pub fn format(self, x: f64) -> String {
        match self {
            Objective::Latency => format!("{:.3} ms", x / 1e3),
            Objective::Energy => format!("{x:.1} mJ"),
            Objective::Cost => format!("{x:.4} per million"),
        }
    }

    /// What the lower side does: `is faster`, `uses less device energy`, `costs less`.
    pub fn lower(self) -> &'static str {
        match self {
            Objective::Latency => "is faster",
            Objective::Energy => "uses less device energy",
            Objective::Cost => "costs less",
        }
    }
}

fn compare(summaries: &[Summary], points: &[usize], value: Figures) -> Vec<Versus> {
    points
        .iter()
        .filter_map(|&point| {
            let edge = tier_at(summaries, point, Tier::Edge, value)?;
            let cloud = tier_at(summaries, point, Tier::Cloud, value)?;
            let faster = faster(&edge, &cloud);
            Some(Versus { point, edge, cloud, faster })
        })
        .collect()
}

/// A summary with every latency percentile derived from `p50` (p99 = 2 × p50),
/// or no successful request when `None`: for tests of what reads summaries.
#[cfg(test)]
pub fn test_summary(point: usize, repetition: u32, tier: Tier, p50: Option<u64>) -> Summary {
    use crate::stats::Percentiles;
    Summary {
        point,
        repetition,
        tier,
        group: None,
        params: vec![],
        counts: crate::record::Counts {
            requests: 100,
            ok: if p50.is_some() { 100 } else { 0 },
            timeouts: if p50.is_some() { 0 } else { 100 },
            errors: 0,
        },
        rejected: 0,
        throughput_rps: 100.0,
        window_s: 1.0,
        latency: p50.map(|p| Percentiles {
            mean_us: p as f64,
            p50_us: p,
            p90_us: p,
            p95_us: p,
            p99_us: 2 * p,
            p999_us: 2 * p,
            max_us: 2 * p,
        }),
        infer: None,
        queue: None,
        network: None,
        dispatch: None,
        request_bytes_mean: None,
        response_bytes_mean: None,
        held: None,
        slowdown_p50: None,
        slowdown_p99: None,
        slowdown: None,
        labelled: 0,
        accuracy: None,
        overloaded: 0,
        held_late_share: None,
        batch_mean: None,
        batch_max: None,
        edge_share: None,
        cloud_share: None,
        cloud_rps: None,
        policy: None,
        routes: None,
        breakdown: None,
        energy: None,
        cost: None,
        split: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(point: usize, repetition: u32, tier: Tier, p50: Option<u64>) -> Summary {
        test_summary(point, repetition, tier, p50)
    }

    #[test]
    fn one_repetition_needs_five_percent() {
        let s = [summary(0, 0, Tier::Edge, Some(481)), summary(0, 0, Tier::Cloud, Some(486))];
        assert_eq!(versus(&s, &[0])[0].faster, Some(Faster::Tie));
        let s = [summary(0, 0, Tier::Edge, Some(481)), summary(0, 0, Tier::Cloud, Some(40_486))];
        let v = &versus(&s, &[0])[0];
        assert_eq!(v.faster, Some(Faster::Edge));
        assert!((v.p50_ratio().unwrap() - 40_486.0 / 481.0).abs() < 1e-9);
    }

    #[test]
    fn repetitions_compare_intervals_and_quote_medians() {
        let mut s = Vec::new();
        for (r, (e, c)) in [(500, 510), (520, 505), (490, 530)].into_iter().enumerate() {
            s.push(summary(0, r as u32, Tier::Edge, Some(e)));
            s.push(summary(0, r as u32, Tier::Cloud, Some(c)));
        }
        let v = &versus(&s, &[0])[0];
        assert_eq!((v.edge.p50_us, v.cloud.p50_us), (Some(500.0), Some(510.0)));
        assert_eq!(v.faster, Some(Faster::Tie), "overlapping intervals");
        for r in 0..3 {
            s.push(summary(1, r, Tier::Edge, Some(500 + u64::from(r))));
            s.push(summary(1, r, Tier::Cloud, Some(900 + 100 * u64::from(r))));
        }
        let v = &versus(&s, &[0, 1])[1];
        assert_eq!((v.faster, v.cloud.p50_us), (Some(Faster::Edge), Some(1000.0)));
    }

    #[test]
    fn a_tier_without_answers_has_no_verdict() {
        let s = [summary(0, 0, Tier::Edge, Some(500)), summary(0, 0, Tier::Cloud, None)];
        let v = &versus(&s, &[0])[0];
        assert_eq!((v.faster, v.cloud.answered, v.cloud.repetitions), (None, 0, 1));
        // A point where only one tier ran is not a comparison.
        assert!(versus(&s[..1], &[0]).is_empty());
    }
}
