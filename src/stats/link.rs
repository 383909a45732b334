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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinkFidelity {
    pub point: usize,
    pub repetition: u32,
    /// `edge`, `cloud` or `devices`.
    pub link: String,
    pub direction: Direction,
    pub config: LinkConfig,
    pub chunks: usize,
    pub configured: Percentiles,
    /// Release minus read time of each chunk.
    pub applied: Option<Percentiles>,
    /// Release minus due time of each chunk.
    pub release_error: Option<Percentiles>,
    /// Bytes per second × 8 while chunks queued behind each other, if any did.
    pub achieved_bps: Option<f64>,
}

/// The configured delay distribution, described by seeded draws.
pub fn configured(config: &LinkConfig) -> Percentiles {
    let mut model = DelayModel::new(config, 0x5eed);
    let draws = if config.jitter.is_zero() { 1 } else { CONFIGURED_DRAWS };
    percentiles((0..draws).map(|_| model.sample().as_micros() as u64)).expect("at least one draw")
}

fn direction(point: usize, repetition: u32, link: &LinkOutcome, d: Direction, r: &DirectionRecord) -> LinkFidelity {
    let achieved_bps = (r.backlogged_span_us > 0 && link.config.bandwidth_bps.is_some())
        .then(|| r.backlogged_bytes as f64 * 8.0 / (r.backlogged_span_us as f64 / 1e6));
    LinkFidelity {
        point,
        repetition,
        link: link.name.clone(),
        direction: d,
        config: link.config.clone(),
        chunks: r.applied_us.len(),
        configured: configured(&link.config),
        applied: percentiles(r.applied_us.iter().copied()),
        release_error: percentiles(r.release_error_us.iter().copied()),
        achieved_bps,
    }
}

/// Both directions of a link's record.
pub fn link_fidelity(point: usize, repetition: u32, link: &LinkOutcome) -> Vec<LinkFidelity> {
    vec![
        direction(point, repetition, link, Direction::Up, &link.record.up),
        direction(point, repetition, link, Direction::Down, &link.record.down),
    ]
}

impl LinkFidelity {
    /// What is off, in words; empty when the link did what it was asked.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let at = format!("point {} rep {} {} link {}", self.point, self.repetition, self.link, self.direction.as_str());
        if self.chunks < MIN_CHUNKS {
            return out;
        }
        if let (Some(applied), None, true) = (self.applied, self.config.bandwidth_bps, self.config.outages.is_empty()) {
            let want = self.configured.p50_us as f64;
            let tolerance = DELAY_TOLERANCE.as_micros() as f64 + 0.05 * want;
            if (applied.p50_us as f64 - want).abs() > tolerance {
                out.push(format!(
                    "{at}: median delay {:.3} ms against {:.3} ms configured (tolerance {:.3} ms){}",
                    applied.p50_us as f64 / 1e3,
                    want / 1e3,
                    tolerance / 1e3,
                    if self.config.jitter.is_zero() {
                        ""
                    } else {
                        "; chunks keep their order, so jitter larger than the gap between chunks raises delays"
                    }
                ));
            }
        }
        if let Some(err) = self.release_error {
            if err.p99_us > RELEASE_ERROR_LIMIT.as_micros() as u64 {
                out.push(format!(
                    "{at}: the timer released chunks late (p99 {:.3} ms after their due time)",
                    err.p99_us as f64 / 1e3
                ));
            }
        }
        if let (Some(want), Some(got)) = (self.config.bandwidth_bps, self.achieved_bps) {
            if (got - want).abs() / want > BANDWIDTH_TOLERANCE {
                out.push(format!(
                    "{at}: bandwidth {:.0} bit/s against {want:.0} bit/s configured (tolerance {:.0} %)",
                    got,
                    BANDWIDTH_TOLERANCE * 100.0
                ));
            }
        }
        out
    }
}
