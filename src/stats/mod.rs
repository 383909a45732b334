//! Samples to summaries: HDR-histogram percentiles, counts and throughput;
//! link records to fidelity summaries.

mod link;

pub use link::{link_fidelity, LinkFidelity, BANDWIDTH_TOLERANCE, DELAY_TOLERANCE, RELEASE_ERROR_LIMIT};

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::plan::Tier;
use crate::sample::{Phase, Sample, Status};

/// Three significant digits, up to an hour in microseconds.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

/// Latency percentiles of one set of values, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// Percentiles of `values` from an HDR histogram; `None` when there are none.
pub fn percentiles(values: impl IntoIterator<Item = u64>) -> Option<Percentiles> {
    let mut h = histogram();
    let mut sum = 0u128;
    for v in values {
        // Zero is below the histogram's floor; 1 µs is within its precision.
        h.saturating_record(v.max(1));
        sum += u128::from(v);
    }
    if h.is_empty() {
        return None;
    }
    Some(Percentiles {
        mean_us: sum as f64 / h.len() as f64,
        p50_us: h.value_at_quantile(0.50),
        p90_us: h.value_at_quantile(0.90),
        p95_us: h.value_at_quantile(0.95),
        p99_us: h.value_at_quantile(0.99),
        max_us: h.max(),
    })
}

/// One row of `summary.csv`: a (point, repetition, tier) over the measured window.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub point: usize,
    pub repetition: u32,
    pub tier: Tier,
    /// `(dotted key, value as written)` for each swept key.
    pub params: Vec<(String, String)>,
    pub requests: u64,
    pub ok: u64,
    pub timeouts: u64,
    pub errors: u64,
    /// Malformed requests the tier's workers rejected (not counted in `requests`).
    pub rejected: u64,
    pub throughput_rps: f64,
    pub latency: Option<Percentiles>,
    pub infer_p50_us: Option<u64>,
    pub queue_p50_us: Option<u64>,
}

/// Summarizes the measured samples of one tier of one point execution.
/// `window` is the measured duration the throughput is taken over.
pub fn summarize(
    samples: &[Sample],
    tier: Tier,
    window: Duration,
    params: &[(String, String)],
    rejected: u64,
) -> Option<Summary> {
    let measured: Vec<&Sample> = samples.iter().filter(|s| s.tier == tier && s.phase == Phase::Measure).collect();
    let first = measured.first()?;
    let ok: Vec<&Sample> = measured.iter().copied().filter(|s| s.status == Status::Ok).collect();
    let count = |st: Status| measured.iter().filter(|s| s.status == st).count() as u64;
    let secs = window.as_secs_f64();
    Some(Summary {
        point: first.point,
        repetition: first.repetition,
        tier,
        params: params.to_vec(),
        requests: measured.len() as u64,
        ok: ok.len() as u64,
        timeouts: count(Status::Timeout),
        errors: count(Status::Error),
        rejected,
        throughput_rps: if secs > 0.0 { ok.len() as f64 / secs } else { 0.0 },
        latency: percentiles(ok.iter().filter_map(|s| s.latency_us())),
        infer_p50_us: percentiles(ok.iter().filter_map(|s| s.infer_us)).map(|p| p.p50_us),
        queue_p50_us: percentiles(ok.iter().filter_map(|s| s.queue_us)).map(|p| p.p50_us),
    })
}

/// The largest |edge − cloud| probability over requests both tiers answered.
pub fn live_parity(samples: &[Sample]) -> Option<(f32, u64)> {
    use std::collections::HashMap;
    let mut edge: HashMap<(usize, u32, u64), f32> = HashMap::new();
    for s in samples.iter().filter(|s| s.tier == Tier::Edge) {
        if let Some(p) = s.probability {
            edge.insert((s.point, s.repetition, s.seq), p);
        }
    }
    let mut worst = 0f32;
    let mut n = 0u64;
    for s in samples.iter().filter(|s| s.tier == Tier::Cloud) {
        if let (Some(c), Some(e)) = (s.probability, edge.get(&(s.point, s.repetition, s.seq))) {
            worst = worst.max((c - e).abs());
            n += 1;
        }
    }
    (n > 0).then_some((worst, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seq: u64, latency: u64, status: Status, phase: Phase) -> Sample {
        Sample {
            point: 0,
            repetition: 0,
            tier: Tier::Edge,
            device: 0,
            seq,
            phase,
            intended_us: 1000,
            sent_us: 1000,
            received_us: Some(1000 + latency),
            queue_us: Some(1),
            infer_us: Some(2),
            status,
            probability: Some(0.5),
            error: None,
        }
    }

    #[test]
    fn percentiles_of_hand_computed_values() {
        // 1..=100 ms: p50 = 50 ms, p90 = 90 ms, p99 = 99 ms, within HDR's 0.1 %.
        let p = percentiles((1..=100).map(|ms| ms * 1000)).unwrap();
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.001 + 1.0;
        assert!(close(p.p50_us, 50_000), "{p:?}");
        assert!(close(p.p90_us, 90_000), "{p:?}");
        assert!(close(p.p99_us, 99_000), "{p:?}");
        assert!(close(p.max_us, 100_000), "{p:?}");
        assert_eq!(p.mean_us, 50_500.0);
        assert!(percentiles(std::iter::empty()).is_none());
    }

    #[test]
    fn percentiles_are_ordered() {
        let mut x = 12345u64;
        let values: Vec<u64> = (0..5000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 40) % 1_000_000
            })
            .collect();
        let p = percentiles(values).unwrap();
        assert!(p.p50_us <= p.p90_us && p.p90_us <= p.p95_us && p.p95_us <= p.p99_us && p.p99_us <= p.max_us);
    }

    #[test]
    fn summary_counts_only_the_measured_window() {
        let samples = vec![
            sample(0, 500, Status::Ok, Phase::Warmup),
            sample(1, 100, Status::Ok, Phase::Measure),
            sample(2, 300, Status::Ok, Phase::Measure),
            sample(3, 0, Status::Timeout, Phase::Measure),
            sample(4, 0, Status::Error, Phase::Measure),
        ];
        let s = summarize(&samples, Tier::Edge, Duration::from_secs(2), &[], 7).unwrap();
        assert_eq!((s.requests, s.ok, s.timeouts, s.errors, s.rejected), (4, 2, 1, 1, 7));
        assert_eq!(s.requests, s.ok + s.timeouts + s.errors);
        assert_eq!(s.throughput_rps, 1.0);
        assert_eq!(s.latency.unwrap().max_us, 300);
        assert!(summarize(&samples, Tier::Cloud, Duration::from_secs(2), &[], 0).is_none());
    }
}
