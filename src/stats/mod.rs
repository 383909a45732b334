//! Samples to summaries: HDR-histogram percentiles, counts, throughput and the
//! latency breakdown, accumulated as samples stream in; repetition aggregates
//! with confidence intervals; link records to fidelity summaries.

mod aggregate;
pub mod compare;
mod crossover;
pub mod energy;
mod link;
mod point;
mod slo;
mod versus;
/// What the echo measured: round trips from intended send time, in µs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Floor {
    pub round_trip: Percentiles,
    pub answered: u64,
    pub sent: u64,
    pub qos: u8,
    /// The same echo with the echoing side behind a 0 ms link: round trips in µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_link: Option<Percentiles>,
    /// Bytes of each message out and of each answer back, and the echo's
    /// rate (absent in results that predate them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_hz: Option<f64>,
}

impl Floor {
    /// What a link's proxy hop adds to a round trip at the median, in µs.
    pub fn link_hop_us(&self) -> Option<i64> {
        self.through_link.map(|l| l.p50_us as i64 - self.round_trip.p50_us as i64)
    }
}

/// The harness floor's summary, `None` when the straight echo got no answer.
pub fn floor(record: &FloorRecord) -> Option<Floor> {
    let through_link = record.through_link.as_ref().and_then(|e| percentiles(e.round_trips_us.iter().copied()));
    echo_summary(&record.straight).map(|f| Floor { through_link, ..f })
}

/// One echo's summary, `None` when nothing came back.
pub fn echo_summary(e: &EchoRecord) -> Option<Floor> {
    percentiles(e.round_trips_us.iter().copied()).map(|round_trip| Floor {
        round_trip,
        answered: e.round_trips_us.len() as u64,
        sent: e.sent,
        qos: e.qos,
        through_link: None,
        request_bytes: Some(e.request_bytes),
        response_bytes: Some(e.response_bytes),
        rate_hz: Some(e.rate_hz),
    })
}

#[cfg(test)]
pub use versus::test_summary;

use hdrhistogram::Histogram;

pub use aggregate::{aggregate, median_interval, Aggregate, Interval};
pub use crossover::{crossovers, lines_along, numeric, Crossover, Line};
pub use link::{
    link_fidelity, LinkAt, LinkFidelity, LinkWarning, BANDWIDTH_TOLERANCE, DELAY_TOLERANCE, RELEASE_ERROR_LIMIT,
};
pub use point::{PointCosting, PointStats, HELD_LATE_US};
pub use slo::{check_slos, SloCheck};
pub use versus::{versus, Faster, Objective, TierAt, Versus, TIE_PCT};

use crate::plan::Tier;
use crate::record::{EchoRecord, FloorRecord};

/// Three significant digits, from 1 µs up to an hour.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

/// Percentiles of one set of values, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Percentiles {
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Percentiles {
    /// Percentiles of a histogram; `mean_us` from an exact sum where known.
    pub fn of(h: &Histogram<u64>, sum: Option<u128>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        Some(Percentiles {
            mean_us: sum.map_or_else(|| h.mean(), |s| s as f64 / h.len() as f64),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p95_us: h.value_at_quantile(0.95),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        })
    }
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
    Percentiles::of(&h, Some(sum))
}

/// One row of `summary.csv`: a (point, repetition, tier) over the measured window.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Summary {
    pub point: usize,
    pub repetition: u32,
    pub tier: Tier,
    /// With device groups: the group this row is of; `None` for the row
    /// over every device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `(dotted key, value as written)` for each swept key.
    pub params: Vec<(String, String)>,
    /// Its measured requests and how they ended; results.json keeps them as
    /// fields of the summary.
    #[serde(flatten)]
    pub counts: crate::record::Counts,
    /// Malformed requests the tier's workers rejected (not counted in `requests`).
    pub rejected: u64,
    pub throughput_rps: f64,
    /// The measured window throughput is taken over, in seconds.
    #[serde(default)]
    pub window_s: f64,
    pub latency: Option<Percentiles>,
    pub infer: Option<Percentiles>,
    pub queue: Option<Percentiles>,
    /// `latency − queue − infer`: time on the wire and in the broker.
    pub network: Option<Percentiles>,
    /// `sent − intended`: how late the load generator was.
    pub dispatch: Option<Percentiles>,
    /// Mean payload bytes of a request, and of a response over those answered.
    #[serde(default)]
    pub request_bytes_mean: Option<f64>,
    #[serde(default)]
    pub response_bytes_mean: Option<f64>,
    /// Time workers held their slot after inference (`compute.slowdown`).
    #[serde(default)]
    pub held: Option<Percentiles>,
    /// The slowdown achieved per request, (call + held) ÷ call: median and p99.
    #[serde(default)]
    pub slowdown_p50: Option<f64>,
    #[serde(default)]
    pub slowdown_p99: Option<f64>,
    /// The slowdown the tier was configured with, when above 1.
    #[serde(default)]
    pub slowdown: Option<f64>,
    /// Answered requests that carried a labelled row, and the share of them
    /// whose prediction was the label (`devices.input.data` with labels).
    #[serde(default)]
    pub labelled: u64,
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// Measured requests a worker refused because its queue was full
    /// (`compute.queue_limit`), among the errors.
    #[serde(default)]
    pub overloaded: u64,
    /// The share of held requests whose hold ended more than
    /// `HELD_LATE_US` after its due end.
    #[serde(default)]
    pub held_late_share: Option<f64>,
    /// With `batching`: the mean and largest number of requests in the
    /// inference call an answered request ran in.
    #[serde(default)]
    pub batch_mean: Option<f64>,
    #[serde(default)]
    pub batch_max: Option<u32>,
    /// Under a routing policy (`tier` is `policy`): the shares of measured
    /// requests the edge and the cloud answered, and the requests per second
    /// that reached the cloud (what the cloud would bill).
    #[serde(default)]
    pub edge_share: Option<f64>,
    #[serde(default)]
    pub cloud_share: Option<f64>,
    #[serde(default)]
    pub cloud_rps: Option<f64>,
    /// The routing policy and its parameters, on a `policy` row.
    #[serde(default)]
    pub policy: Option<String>,
    /// On a `policy` row: the shares of measured requests by route, in
    /// `Route::ALL` order (`edge`, `cloud`, `edge>cloud`, `cloud>edge`).
    #[serde(default)]
    pub routes: Option<[f64; 4]>,
    /// Where the mean latency of answered requests goes; the parts add up to
    /// `latency.mean_us` exactly.
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
    /// With `devices.radio`: what an answered request cost the device (docs/energy.md).
    #[serde(default)]
    pub energy: Option<EnergySummary>,
    /// With prices (`tiers.<tier>.cost`): per million answered requests.
    #[serde(default)]
    pub cost: Option<energy::Cost>,
    /// Under `placement: partition`, on the `policy` row: where the split's
    /// time went (docs/partition.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitSummary>,
}

/// A partitioned point's answered requests: the cut, and the means of their
/// latency and its parts, in µs, over the same requests so that
/// `head + tail + rest = latency`, and of the bytes the edge sent the cloud.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SplitSummary {
    /// The cut: a tensor, `input` (all in the cloud) or `output` (all on the edge).
    pub at: String,
    pub requests: u64,
    pub latency_us: f64,
    /// The head's compute on the edge (its calls and holds).
    pub head_us: f64,
    /// The tail's compute in the cloud (its calls and holds).
    pub tail_us: f64,
    /// The rest: links, broker and queues.
    pub rest_us: f64,
    /// Bytes the edge sent the cloud a request (0 when the edge answered).
    pub bytes: f64,
}

/// The energy answered requests cost the device, in mJ above its idle draw:
/// the mean and percentiles of the total, and the mean of each part.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct EnergySummary {
    /// Requests with an estimate (measured, answered).
    pub requests: u64,
    pub mean_mj: f64,
    pub p50_mj: f64,
    pub p99_mj: f64,
    pub compute_mj: f64,
    pub radio_mj: f64,
    pub tail_mj: f64,
    /// Hours a device's battery (`devices.battery_wh`) lasts at its idle
    /// draw and this point's offered rate of these requests.
    pub battery_h: Option<f64>,
}

/// The mean latency of a tier's answered requests split into parts, in µs:
/// `network + queue + infer + held = latency`, each a mean over the same
/// requests (a request without a hold adds 0 to `held_us`), so they stack.
/// Network is the rest, `latency − queue − infer − held`, averaged with its
/// sign, so the sum is exact whatever the clocks' granularity.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Breakdown {
    pub latency_us: f64,
    pub network_us: f64,
    pub queue_us: f64,
    pub infer_us: f64,
    /// The slot held after inference to emulate a slower device (`compute (emulated)`).
    pub held_us: f64,
}

impl Summary {
    /// The breakdown; for results written before it was recorded, an
    /// estimate from the histograms' means (within their 0.1 % precision,
    /// the held time averaged over held requests only).
    pub fn breakdown_or_estimate(&self) -> Option<Breakdown> {
        self.breakdown.or_else(|| {
            let (l, q, i) = (self.latency?, self.queue?, self.infer?);
            let held_us = self.held.map_or(0.0, |h| h.mean_us);
            let network_us = l.mean_us - q.mean_us - i.mean_us - held_us;
            Some(Breakdown { latency_us: l.mean_us, network_us, queue_us: q.mean_us, infer_us: i.mean_us, held_us })
        })
    }
}

impl Breakdown {
    /// The parts in stacking order: network, queue, inference, compute (emulated).
    pub fn parts(&self) -> [f64; 4] {
        [self.network_us, self.queue_us, self.infer_us, self.held_us]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::record::{Phase, Sample, Status};

    fn sample(seq: u64, latency: u64, status: Status, phase: Phase) -> Sample {
        Sample {
            seq,
            phase,
            intended_us: 1000,
            sent_us: 1000 + seq,
            queue_us: Some(10),
            infer_us: Some(20),
            status,
            request_bytes: 300,
            ..crate::record::test_sample(Tier::Edge, 1000 + latency)
        }
    }

    #[test]
    fn the_breakdown_adds_up_to_the_mean_latency_with_holds_and_without() {
        let mut stats = PointStats::new(0, 0);
        // Two answers of one tier: one held 2,000 µs, one not held.
        for (seq, latency, queue, infer, held) in [(0u64, 3_000u64, 100, 500, Some(2_000)), (1, 1_000, 50, 500, None)] {
            let mut s = sample(seq, latency, Status::Ok, Phase::Measure);
            (s.queue_us, s.infer_us, s.held_us) = (Some(queue), Some(infer), held);
            stats.add(&s);
        }
        let summary = &stats.summaries(Duration::from_secs(1), &[], &[])[0];
        let b = summary.breakdown.expect("answered requests");
        assert_eq!((b.latency_us, b.queue_us, b.infer_us, b.held_us), (2_000.0, 75.0, 500.0, 1_000.0));
        assert_eq!(b.network_us, 425.0);
        assert_eq!(b.parts().iter().sum::<f64>(), summary.latency.unwrap().mean_us);
    }

    #[test]
    fn each_group_gets_rows_of_its_own_samples_and_the_whole_keeps_them_all() {
        let mut stats = PointStats::new(0, 0).with_groups(true);
        // Group 0 answers in 1 ms, group 1 in 2 ms; both use seq 0, which must not pair them for parity.
        for (group, seq, latency) in [(0u16, 0u64, 1_000u64), (0, 1, 1_000), (1, 0, 2_000)] {
            let tier = if group == 0 { Tier::Edge } else { Tier::Cloud };
            let s = Sample { group, tier, probability: Some(0.5), ..sample(seq, latency, Status::Ok, Phase::Measure) };
            stats.add(&s);
        }
        let names = ["sensors".to_string(), "cameras".to_string()];
        let rows = stats.group_summaries(Duration::from_secs(1), &[], &names);
        let got: Vec<_> =
            rows.iter().map(|r| (r.group.clone().unwrap(), r.counts.requests, r.latency.unwrap().max_us)).collect();
        assert_eq!(got, [("sensors".into(), 2, 1_000), ("cameras".into(), 1, 2_000)]);
        let whole = stats.summaries(Duration::from_secs(1), &[], &[]);
        assert_eq!(
            whole.iter().map(|w| (w.group.clone(), w.counts.requests)).collect::<Vec<_>>(),
            [(None, 2), (None, 1)]
        );
        assert_eq!(
            stats.live_parity(),
            None,
            "an edge and a cloud answer of seq 0 from two groups are not one request"
        );
        let ungrouped = PointStats::new(0, 0);
        assert!(ungrouped.group_summaries(Duration::from_secs(1), &[], &names).is_empty());
    }

    #[test]
    fn accuracy_counts_answered_labelled_requests_of_the_measured_window() {
        let mut stats = PointStats::new(0, 0);
        let cases = [
            (Status::Ok, Phase::Measure, Some(3), Some(3)),
            (Status::Ok, Phase::Measure, Some(3), Some(1)),
            (Status::Ok, Phase::Measure, Some(0), Some(0)),
            (Status::Ok, Phase::Measure, None, Some(0)),
            (Status::Ok, Phase::Warmup, Some(1), Some(2)),
            (Status::Timeout, Phase::Measure, Some(1), None),
        ];
        for (seq, (status, phase, label, prediction)) in cases.into_iter().enumerate() {
            let mut s = sample(seq as u64, 100, status, phase);
            (s.label, s.prediction) = (label, prediction);
            stats.add(&s);
        }
        let summary = &stats.summaries(Duration::from_secs(1), &[], &[])[0];
        assert_eq!((summary.labelled, summary.accuracy), (3, Some(2.0 / 3.0)));
        let unlabelled = PointStats::new(0, 0);
        assert!(unlabelled.summaries(Duration::from_secs(1), &[], &[]).is_empty());
    }

    #[test]
    fn percentiles_of_hand_computed_values() {
        // 1..=1000 ms: p50 = 500 ms, p99 = 990 ms, p99.9 = 999 ms, within HDR's 0.1 %.
        let p = percentiles((1..=1000).map(|ms| ms * 1000)).unwrap();
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.001 + 1.0;
        assert!(close(p.p50_us, 500_000), "{p:?}");
        assert!(close(p.p90_us, 900_000), "{p:?}");
        assert!(close(p.p99_us, 990_000), "{p:?}");
        assert!(close(p.p999_us, 999_000), "{p:?}");
        assert!(close(p.max_us, 1_000_000), "{p:?}");
        assert_eq!(p.mean_us, 500_500.0);
        assert!(percentiles(std::iter::empty()).is_none());
    }

    /// A small deterministic generator for property checks.
    fn values(seed: u64, n: usize, range: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                1 + (x >> 33) % range
            })
            .collect()
    }

    #[test]
    fn percentiles_are_ordered_and_agree_with_exact_ones_within_hdr_precision() {
        for seed in 0..20 {
            let mut v = values(seed, 5000, 10_000_000);
            let p = percentiles(v.iter().copied()).unwrap();
            assert!(p.p50_us <= p.p90_us && p.p90_us <= p.p95_us && p.p95_us <= p.p99_us);
            assert!(p.p99_us <= p.p999_us && p.p999_us <= p.max_us);
            v.sort_unstable();
            for (q, got) in [(0.5, p.p50_us), (0.9, p.p90_us), (0.99, p.p99_us)] {
                // HDR reports the highest value equivalent to the q-th smallest sample.
                let exact = v[((q * v.len() as f64).ceil() as usize).max(1) - 1];
                let tolerance = exact as f64 * 0.001 + 1.0;
                assert!((got as f64 - exact as f64).abs() <= tolerance, "seed {seed} q {q}: {got} vs {exact}");
            }
        }
    }

    #[test]
    fn point_stats_count_only_the_measured_window_and_break_latency_down() {
        let mut stats = PointStats::new(0, 0);
        for s in [
            sample(0, 500, Status::Ok, Phase::Warmup),
            sample(1, 100, Status::Ok, Phase::Measure),
            sample(2, 300, Status::Ok, Phase::Measure),
            sample(3, 0, Status::Timeout, Phase::Measure),
            sample(4, 0, Status::Error, Phase::Measure),
        ] {
            stats.add(&s);
        }
        let rows = stats.summaries(Duration::from_secs(2), &[], &[(Tier::Edge, 7)]);
        assert_eq!(rows.len(), 1);
        let s = &rows[0];
        assert_eq!((s.counts.requests, s.counts.ok, s.counts.timeouts, s.counts.errors, s.rejected), (4, 2, 1, 1, 7));
        assert_eq!(s.counts.requests, s.counts.ok + s.counts.timeouts + s.counts.errors);
        assert_eq!(s.throughput_rps, 1.0);
        assert_eq!(s.latency.unwrap().max_us, 300);
        // network = latency − queue (10) − infer (20)
        assert_eq!(s.network.unwrap().max_us, 270);
        assert_eq!(s.network.unwrap().p50_us, 70);
        assert_eq!(s.dispatch.unwrap().max_us, 4);
    }

    #[test]
    fn live_parity_pairs_the_tiers_of_one_request() {
        let mut stats = PointStats::new(0, 0);
        let mut e = sample(1, 100, Status::Ok, Phase::Measure);
        let mut c = e.clone();
        c.tier = Tier::Cloud;
        e.probability = Some(0.25);
        c.probability = Some(0.2500003);
        stats.add(&e);
        stats.add(&c);
        let (diff, n) = stats.live_parity().unwrap();
        assert_eq!(n, 1);
        assert!(diff > 0.0 && diff < 1e-6);
    }
}
