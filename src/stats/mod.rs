//! Samples to summaries: HDR-histogram percentiles, counts, throughput and the
//! latency breakdown, accumulated as samples stream in; repetition aggregates
//! with confidence intervals; link records to fidelity summaries.

mod aggregate;
pub mod compare;
mod crossover;
mod link;
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

use std::collections::HashMap;
use std::time::Duration;

use hdrhistogram::Histogram;

pub use aggregate::{aggregate, median_interval, Aggregate, Interval};
pub use crossover::{crossovers, lines_along, numeric, Crossover, Line};
pub use link::{
    link_fidelity, LinkAt, LinkFidelity, LinkWarning, BANDWIDTH_TOLERANCE, DELAY_TOLERANCE, RELEASE_ERROR_LIMIT,
};
pub use slo::{check_slos, SloCheck};
pub use versus::{versus, Faster, TierAt, Versus, TIE_PCT};

use crate::plan::Tier;
use crate::record::{Counts, EchoRecord, FloorRecord, Phase, Sample, Status};

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

/// A hold that ends later than this after its due end counts as late.
pub const HELD_LATE_US: u64 = 200;

/// Running statistics of one tier at one point execution.
struct TierStats {
    latency: Histogram<u64>,
    latency_sum: u128,
    infer: Histogram<u64>,
    queue: Histogram<u64>,
    network: Histogram<u64>,
    dispatch: Histogram<u64>,
    counts: Counts,
    request_bytes: u64,
    response_bytes: u64,
    responses: u64,
    held: Histogram<u64>,
    /// Achieved slowdowns in thousandths.
    slowdown_milli: Histogram<u64>,
    labelled: u64,
    correct: u64,
    overloaded: u64,
    holds: u64,
    holds_late: u64,
    /// Answered requests that reported a batch size, their sum and the largest.
    batched: u64,
    batch_sum: u64,
    batch_max: u32,
    /// Under a policy: requests answered by each tier, and that reached the cloud.
    by_edge: u64,
    by_cloud: u64,
    reached_cloud: u64,
    routes: [u64; 4],
    /// Exact sums over answered requests, for the breakdown's means.
    answered: u64,
    queue_sum: u128,
    infer_sum: u128,
    held_sum: u128,
}

impl TierStats {
    fn new() -> Self {
        TierStats {
            latency: histogram(),
            latency_sum: 0,
            infer: histogram(),
            queue: histogram(),
            network: histogram(),
            dispatch: histogram(),
            counts: Counts::default(),
            request_bytes: 0,
            response_bytes: 0,
            responses: 0,
            held: histogram(),
            slowdown_milli: histogram(),
            labelled: 0,
            correct: 0,
            overloaded: 0,
            holds: 0,
            holds_late: 0,
            batched: 0,
            batch_sum: 0,
            batch_max: 0,
            by_edge: 0,
            by_cloud: 0,
            reached_cloud: 0,
            routes: [0; 4],
            answered: 0,
            queue_sum: 0,
            infer_sum: 0,
            held_sum: 0,
        }
    }
}

impl TierStats {
    /// What an answered request adds, its latency measured.
    fn add_answer(&mut self, s: &Sample, latency: u64) {
        record(&mut self.latency, latency);
        self.latency_sum += u128::from(latency);
        record(&mut self.queue, s.queue_us.unwrap_or(0));
        record(&mut self.infer, s.infer_us.unwrap_or(0));
        self.answered += 1;
        self.queue_sum += u128::from(s.queue_us.unwrap_or(0));
        self.infer_sum += u128::from(s.infer_us.unwrap_or(0));
        self.held_sum += u128::from(s.held_us.unwrap_or(0));
        // An answer always reports its queue and inference times.
        record(&mut self.network, s.network_us().unwrap_or(latency));
        if let Some(held) = s.held_us {
            record(&mut self.held, held);
        }
        if let Some(late) = s.held_late_us {
            self.holds += 1;
            self.holds_late += u64::from(late > HELD_LATE_US);
        }
        if let Some(k) = s.slowdown() {
            record(&mut self.slowdown_milli, (k * 1e3).round() as u64);
        }
        if let Some(b) = s.batch {
            self.batched += 1;
            self.batch_sum += u64::from(b);
            self.batch_max = self.batch_max.max(b);
        }
    }

    fn breakdown(&self) -> Option<Breakdown> {
        if self.answered == 0 {
            return None;
        }
        let n = self.answered as f64;
        let mean = |sum: u128| sum as f64 / n;
        let (latency_us, queue_us, infer_us, held_us) =
            (mean(self.latency_sum), mean(self.queue_sum), mean(self.infer_sum), mean(self.held_sum));
        let network_us = latency_us - queue_us - infer_us - held_us;
        Some(Breakdown { latency_us, network_us, queue_us, infer_us, held_us })
    }
}

fn record(h: &mut Histogram<u64>, v: u64) {
    h.saturating_record(v.max(1));
}

/// Everything the summary needs from one point execution, built sample by
/// sample so that no sample has to stay in memory.
pub struct PointStats {
    pub point: usize,
    pub repetition: u32,
    tiers: Vec<(Tier, TierStats)>,
    /// Edge or cloud probabilities waiting for the other tier's, by request.
    parity_waiting: HashMap<u64, (Tier, f32)>,
    parity_max: f32,
    parity_pairs: u64,
    /// Intended send times (µs) of every request that did not end `ok`, any phase.
    failed_intended: Vec<u64>,
}

impl PointStats {
    pub fn new(point: usize, repetition: u32) -> Self {
        PointStats {
            point,
            repetition,
            tiers: Vec::new(),
            parity_waiting: HashMap::new(),
            parity_max: 0.0,
            parity_pairs: 0,
            failed_intended: Vec::new(),
        }
    }

    /// Adds one sample. Warmup samples only feed the parity check.
    pub fn add(&mut self, s: &Sample) {
        if let Some(p) = s.probability {
            match self.parity_waiting.remove(&s.seq) {
                Some((tier, other)) if tier != s.tier => {
                    self.parity_max = self.parity_max.max((p - other).abs());
                    self.parity_pairs += 1;
                }
                _ => {
                    self.parity_waiting.insert(s.seq, (s.tier, p));
                }
            }
        }
        if s.status != Status::Ok {
            self.failed_intended.push(s.intended_us);
        }
        if s.phase != Phase::Measure {
            return;
        }
        let i = match self.tiers.iter().position(|(t, _)| *t == s.tier) {
            Some(i) => i,
            None => {
                self.tiers.push((s.tier, TierStats::new()));
                self.tiers.len() - 1
            }
        };
        let t = &mut self.tiers[i].1;
        t.counts.count(s.status);
        t.request_bytes += u64::from(s.request_bytes);
        if let Some(b) = s.response_bytes {
            t.response_bytes += u64::from(b);
            t.responses += 1;
        }
        record(&mut t.dispatch, s.dispatch_us());
        if let Some(route) = s.route {
            t.reached_cloud += u64::from(route.reached_cloud());
            t.routes[route as usize] += 1;
            match s.answered_by.filter(|_| s.status == Status::Ok) {
                Some(Tier::Edge) => t.by_edge += 1,
                Some(Tier::Cloud) => t.by_cloud += 1,
                _ => {}
            }
        }
        if s.status != Status::Ok {
            if s.error.as_deref().is_some_and(|e| e.starts_with(crate::wire::OVERLOADED)) {
                t.overloaded += 1;
            }
            return;
        }
        if let Some(latency) = s.latency_us() {
            t.add_answer(s, latency);
        }
        if let (Some(label), Some(prediction)) = (s.label, s.prediction) {
            t.labelled += 1;
            t.correct += u64::from(label == prediction);
        }
    }

    /// The summary of each tier; `window` is the measured duration the throughput is taken over.
    pub fn summaries(&self, window: Duration, params: &[(String, String)], rejected: &[(Tier, u64)]) -> Vec<Summary> {
        let mut tiers: Vec<&(Tier, TierStats)> = self.tiers.iter().collect();
        tiers.sort_by_key(|(t, _)| *t);
        let secs = window.as_secs_f64();
        tiers
            .into_iter()
            .map(|(tier, t)| (tier, t, *tier == Tier::Policy))
            .map(|(tier, t, policy)| Summary {
                point: self.point,
                repetition: self.repetition,
                tier: *tier,
                params: params.to_vec(),
                counts: t.counts,
                rejected: rejected.iter().find(|(x, _)| x == tier).map_or(0, |(_, n)| *n),
                throughput_rps: if secs > 0.0 { t.counts.ok as f64 / secs } else { 0.0 },
                window_s: secs,
                latency: Percentiles::of(&t.latency, Some(t.latency_sum)),
                infer: Percentiles::of(&t.infer, None),
                queue: Percentiles::of(&t.queue, None),
                network: Percentiles::of(&t.network, None),
                dispatch: Percentiles::of(&t.dispatch, None),
                request_bytes_mean: (t.counts.requests > 0).then(|| t.request_bytes as f64 / t.counts.requests as f64),
                response_bytes_mean: (t.responses > 0).then(|| t.response_bytes as f64 / t.responses as f64),
                held: Percentiles::of(&t.held, None),
                slowdown_p50: (!t.slowdown_milli.is_empty())
                    .then(|| t.slowdown_milli.value_at_quantile(0.50) as f64 / 1e3),
                slowdown_p99: (!t.slowdown_milli.is_empty())
                    .then(|| t.slowdown_milli.value_at_quantile(0.99) as f64 / 1e3),
                slowdown: None,
                labelled: t.labelled,
                accuracy: (t.labelled > 0).then(|| t.correct as f64 / t.labelled as f64),
                overloaded: t.overloaded,
                held_late_share: (t.holds > 0).then(|| t.holds_late as f64 / t.holds as f64),
                batch_mean: (t.batched > 0).then(|| t.batch_sum as f64 / t.batched as f64),
                batch_max: (t.batched > 0).then_some(t.batch_max),
                edge_share: (policy && t.counts.requests > 0).then(|| t.by_edge as f64 / t.counts.requests as f64),
                cloud_share: (policy && t.counts.requests > 0).then(|| t.by_cloud as f64 / t.counts.requests as f64),
                cloud_rps: (policy && secs > 0.0).then(|| t.reached_cloud as f64 / secs),
                policy: None,
                routes: (policy && t.counts.requests > 0)
                    .then(|| t.routes.map(|n| n as f64 / t.counts.requests as f64)),
                breakdown: t.breakdown(),
            })
            .collect()
    }

    /// Requests (per tier) that did not end `ok` and were due from `from_us` to `to_us`.
    pub fn failed_between(&self, from_us: u64, to_us: u64) -> usize {
        self.failed_intended.iter().filter(|&&t| t >= from_us && t <= to_us).count()
    }

    /// The latency histogram of each tier, for saving.
    pub fn latency_histograms(&self) -> Vec<(Tier, &Histogram<u64>)> {
        self.tiers.iter().map(|(t, s)| (*t, &s.latency)).collect()
    }

    /// The largest |edge − cloud| over requests both tiers answered, and how many.
    pub fn live_parity(&self) -> Option<(f32, u64)> {
        (self.parity_pairs > 0).then_some((self.parity_max, self.parity_pairs))
    }
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
            sent_us: 1000 + seq,
            received_us: Some(1000 + latency),
            queue_us: Some(10),
            infer_us: Some(20),
            status,
            probability: Some(0.5),
            error: None,
            worker: None,
            request_bytes: 300,
            response_bytes: None,
            held_us: None,
            held_late_us: None,
            batch: None,
            row: None,
            label: None,
            prediction: None,
            route: None,
            answered_by: None,
            reason: None,
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
