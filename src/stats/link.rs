//! Link records to fidelity summaries: what each link was asked, what it did,
//! and whether the two differ by more than the documented tolerance.

use std::time::Duration;

use super::{percentiles, Percentiles};
use crate::delay::DelayModel;
use crate::plan::LinkConfig;
use crate::record::{Direction, DirectionRecord, LinkOutcome};

/// Draws used to describe the configured distribution.
const CONFIGURED_DRAWS: usize = 100_000;
/// Fewer chunks than this say too little to warn about.
const MIN_CHUNKS: usize = 20;
/// Achieved median delay may differ from the configured median by this much plus 5 %.
pub const DELAY_TOLERANCE: Duration = Duration::from_micros(200);
/// Release error p99 above this means the timer fell behind.
pub const RELEASE_ERROR_LIMIT: Duration = Duration::from_millis(1);
/// Achieved bandwidth may differ from the configured one by this fraction.
pub const BANDWIDTH_TOLERANCE: f64 = 0.10;

/// One direction of one link at one point execution.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct LinkFidelity {
    pub point: usize,
    pub repetition: u32,
    /// `edge`, `cloud` or `devices`.
    pub link: String,
    pub direction: Direction,
    pub config: LinkConfig,
    pub chunks: usize,
    pub configured: Percentiles,
    /// The delays the link drew for its chunks, before order, bandwidth and
    /// outages: what it was asked, at the instants it was asked.
    #[serde(default)]
    pub asked: Option<Percentiles>,
    /// Release minus read time of each chunk.
    pub applied: Option<Percentiles>,
    /// Release minus due time of each chunk.
    pub release_error: Option<Percentiles>,
    /// Bytes per second × 8 while chunks queued behind each other, if any did.
    pub achieved_bps: Option<f64>,
    /// The bandwidth asked for those chunks (a trace's varies in time).
    #[serde(default)]
    pub asked_bps: Option<f64>,
}

/// The configured delay distribution, described by seeded draws; a trace's
/// delays are drawn at evenly spaced times over its span (outages left out:
/// they are not a delay but a hold).
pub fn configured(config: &LinkConfig) -> Percentiles {
    let mut model = DelayModel::new(config, crate::seeds::CONFIGURED_DELAYS);
    let Some(trace) = config.trace.as_ref().filter(|t| !t.rows.is_empty()) else {
        if config.jitter.is_zero() {
            // A constant delay is exact: a histogram would round 10,000 µs up to 10,007.
            return flat(model.sample().as_micros() as u64);
        }
        return percentiles((0..CONFIGURED_DRAWS).map(|_| model.sample().as_micros() as u64)).expect("draws");
    };
    let delivering = || trace.rows.iter().filter(|r| !r.outage);
    if config.jitter.is_zero() && delivering().all(|r| Some(r.delay) == delivering().next().map(|f| f.delay)) {
        // One delay throughout (a converted Mahimahi trace's): exact, as for a constant link.
        return flat(delivering().next().map_or(0, |r| r.delay.as_micros() as u64));
    }
    let step = trace.span.as_nanos() as i128 / CONFIGURED_DRAWS as i128;
    let drawn = (0..CONFIGURED_DRAWS as i128)
        .map(|i| &trace.rows[crate::delay::trace_row(trace, i * step).0])
        .filter(|r| !r.outage)
        .map(|r| model.sample_around_independently(r.delay).as_micros() as u64);
    percentiles(drawn).unwrap_or_else(|| flat(0))
}

fn flat(us: u64) -> Percentiles {
    Percentiles { mean_us: us as f64, p50_us: us, p90_us: us, p95_us: us, p99_us: us, p999_us: us, max_us: us }
}

fn direction(point: usize, repetition: u32, link: &LinkOutcome, d: Direction, r: &DirectionRecord) -> LinkFidelity {
    let achieved_bps = (r.backlogged_span_us > 0 && link.config.limits_bandwidth())
        .then(|| r.backlogged_bytes as f64 * 8.0 / (r.backlogged_span_us as f64 / 1e6));
    let asked_bps = (r.backlogged_asked_ns > 0 && achieved_bps.is_some())
        .then(|| r.backlogged_bytes as f64 * 8.0 / (r.backlogged_asked_ns as f64 / 1e9));
    LinkFidelity {
        point,
        repetition,
        link: link.name.clone(),
        direction: d,
        config: link.config.clone(),
        chunks: r.applied_us.len(),
        configured: configured(&link.config),
        asked: percentiles(r.asked_us.iter().copied()),
        applied: percentiles(r.applied_us.iter().copied()),
        release_error: percentiles(r.release_error_us.iter().copied()),
        achieved_bps,
        asked_bps,
    }
}

/// Both directions of a link's record.
pub fn link_fidelity(point: usize, repetition: u32, link: &LinkOutcome) -> Vec<LinkFidelity> {
    vec![
        direction(point, repetition, link, Direction::Up, &link.record.up),
        direction(point, repetition, link, Direction::Down, &link.record.down),
    ]
}

/// Which link direction at which point execution.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkAt {
    pub point: usize,
    pub repetition: u32,
    pub link: String,
    pub direction: Direction,
}

impl std::fmt::Display for LinkAt {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "point {} rep {} {} link {}", self.point, self.repetition, self.link, self.direction.as_str())
    }
}

/// A link that did not do what it was asked.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkWarning {
    /// The median delay it added is off the median it drew for the same
    /// chunks (`asked`; the configured one for results that predate it) by
    /// more than the tolerance (all in µs).
    Delay { at: LinkAt, applied_us: u64, wanted_us: f64, asked: bool, tolerance_us: f64, jittered: bool },
    /// The timer released chunks late at the p99.
    LateRelease { at: LinkAt, p99_us: u64 },
    /// The bandwidth it achieved when backlogged is off the configured one.
    /// `wanted_bps` is what the link was asked when `asked` (a trace's), else configured.
    Bandwidth { at: LinkAt, achieved_bps: f64, wanted_bps: f64, asked: bool },
}

impl std::fmt::Display for LinkWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            LinkWarning::Delay { at, applied_us, wanted_us, asked, tolerance_us, jittered } => write!(
                f,
                "{at}: median delay {:.3} ms against {:.3} ms {} (tolerance {:.3} ms){}",
                *applied_us as f64 / 1e3,
                wanted_us / 1e3,
                if *asked { "drawn for the same chunks" } else { "configured" },
                tolerance_us / 1e3,
                if *jittered {
                    "; chunks keep their order, so jitter that changes faster than the gap between chunks raises \
                     delays (a longer jitter_timescale lets the delay wander instead)"
                } else {
                    ""
                }
            ),
            LinkWarning::LateRelease { at, p99_us } => {
                write!(
                    f,
                    "{at}: the timer released chunks late (p99 {:.3} ms after their due time)",
                    *p99_us as f64 / 1e3
                )
            }
            LinkWarning::Bandwidth { at, achieved_bps, wanted_bps, asked } => write!(
                f,
                "{at}: bandwidth {achieved_bps:.0} bit/s against {wanted_bps:.0} bit/s {} (tolerance {:.0} %)",
                if *asked { "asked" } else { "configured" },
                BANDWIDTH_TOLERANCE * 100.0
            ),
        }
    }
}

impl LinkFidelity {
    /// What is off; empty when the link did what it was asked.
    pub fn warnings(&self) -> Vec<LinkWarning> {
        let mut out = Vec::new();
        if self.chunks < MIN_CHUNKS {
            return out;
        }
        let at = || LinkAt {
            point: self.point,
            repetition: self.repetition,
            link: self.link.clone(),
            direction: self.direction,
        };
        if let (Some(applied), false) = (self.applied, self.config.limits_bandwidth()) {
            let want = self.asked.unwrap_or(self.configured).p50_us as f64;
            let tolerance = DELAY_TOLERANCE.as_micros() as f64 + 0.05 * want;
            if (applied.p50_us as f64 - want).abs() > tolerance {
                out.push(LinkWarning::Delay {
                    at: at(),
                    applied_us: applied.p50_us,
                    wanted_us: want,
                    asked: self.asked.is_some(),
                    tolerance_us: tolerance,
                    jittered: !self.config.jitter.is_zero(),
                });
            }
        }
        if let Some(err) = self.release_error {
            if err.p99_us > RELEASE_ERROR_LIMIT.as_micros() as u64 {
                out.push(LinkWarning::LateRelease { at: at(), p99_us: err.p99_us });
            }
        }
        // A trace's bandwidth varies: held against what it asked of the same
        // bytes; a fixed one against the configured rate, as before traces.
        let from_trace = self.config.trace.as_ref().is_some_and(|t| t.has_bandwidth);
        let want = if from_trace { self.asked_bps } else { self.config.bandwidth_bps };
        if let (Some(want), Some(got)) = (want, self.achieved_bps) {
            if (got - want).abs() / want > BANDWIDTH_TOLERANCE {
                out.push(LinkWarning::Bandwidth { at: at(), achieved_bps: got, wanted_bps: want, asked: from_trace });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fidelity(config: LinkConfig, applied_us: u64, release_p99_us: u64, achieved_bps: Option<f64>) -> LinkFidelity {
        LinkFidelity {
            point: 1,
            repetition: 0,
            link: "cloud".into(),
            direction: Direction::Up,
            configured: configured(&config),
            config,
            chunks: 100,
            asked: None,
            applied: Some(flat(applied_us)),
            release_error: Some(flat(release_p99_us)),
            achieved_bps,
            asked_bps: None,
        }
    }

    fn latency(ms: u64) -> LinkConfig {
        LinkConfig { latency: Duration::from_millis(ms), ..LinkConfig::default() }
    }

    #[test]
    fn a_link_that_did_what_it_was_asked_has_no_warning() {
        assert!(fidelity(latency(20), 20_050, 30, None).warnings().is_empty());
    }

    #[test]
    fn a_delay_off_by_more_than_the_tolerance_is_named_with_its_place() {
        // 20 ms configured: tolerance 0.2 ms + 5 % = 1.2 ms.
        assert!(fidelity(latency(20), 21_100, 30, None).warnings().is_empty());
        let w = fidelity(latency(20), 21_300, 30, None).warnings();
        assert!(matches!(w.as_slice(), [LinkWarning::Delay { applied_us: 21_300, .. }]), "{w:?}");
        // A constant delay's configured median is exact, not a histogram's rounding of it.
        let text = w[0].to_string();
        assert!(
            text.starts_with("point 1 rep 0 cloud link up: median delay 21.300 ms against 20.000 ms configured"),
            "{text}"
        );
        assert!(text.contains("ms configured (tolerance 1.2"), "{text}");
        assert_eq!(configured(&latency(10)).p50_us, 10_000);
        // So is a trace with one delay throughout, outage rows aside.
        use crate::plan::{LinkTrace, TraceEnd, TraceRow};
        let row = |at: u64, outage: bool| TraceRow {
            at: Duration::from_millis(at),
            delay: Duration::from_millis(20),
            bandwidth_bps: Some(1e6),
            outage,
        };
        let rows = vec![row(0, false), row(100, true), row(200, false), row(300, false)];
        let trace = LinkTrace {
            path: "t.csv".into(),
            sha256: String::new(),
            end: TraceEnd::Loop,
            span: Duration::from_millis(300),
            has_bandwidth: true,
            rows: rows.into(),
        };
        let config = LinkConfig { trace: Some(trace), ..LinkConfig::default() };
        assert_eq!((configured(&config).p50_us, configured(&config).p99_us), (20_000, 20_000));
    }

    #[test]
    fn a_late_timer_and_a_missed_bandwidth_are_named() {
        let w = fidelity(latency(20), 20_000, 1_500, None).warnings();
        assert!(matches!(w.as_slice(), [LinkWarning::LateRelease { p99_us: 1_500, .. }]), "{w:?}");
        let narrow = LinkConfig { bandwidth_bps: Some(1e6), ..latency(20) };
        assert!(fidelity(narrow.clone(), 20_000, 30, Some(0.95e6)).warnings().is_empty());
        let w = fidelity(narrow, 20_000, 30, Some(0.8e6)).warnings();
        assert!(matches!(w.as_slice(), [LinkWarning::Bandwidth { .. }]), "{w:?}");
        assert!(w[0].to_string().contains("bandwidth 800000 bit/s against 1000000 bit/s"), "{}", w[0]);
    }

    #[test]
    fn too_few_chunks_say_nothing() {
        let few = LinkFidelity { chunks: MIN_CHUNKS - 1, ..fidelity(latency(20), 90_000, 9_000, None) };
        assert!(few.warnings().is_empty());
    }
}
