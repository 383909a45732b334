//! The delay model of a link, without any I/O: how long each chunk waits.
//!
//! Each chunk of bytes read at `read_at` is released at
//!
//! ```text
//! tx_done = max(read_at, previous tx_done) + bytes / bandwidth     (serialization)
//! due     = max(tx_done + sample(), previous due)                  (propagation, in order)
//! ```
//!
//! and, if `due` falls inside a blackhole outage, at the outage's end. Keeping
//! order means a chunk never overtakes the one before it, as on a TCP stream:
//! when the jitter is large against the gap between chunks, achieved delays are
//! larger and less spread than the samples drawn.
//!
//! How `latency` (L) and `jitter` (J) map to each distribution, delays clamped at zero:
//!
//! | distribution | delay |
//! |---|---|
//! | constant | L |
//! | uniform | uniform on [L − J, L + J] |
//! | normal | normal with mean L and standard deviation J |
//! | lognormal | exp(N(μ, σ²)) with mean L and standard deviation J: σ² = ln(1 + J²/L²), μ = ln L − σ²/2 |
//! | pareto | Pareto type I with mean L and standard deviation J: shape α = 1 + √(1 + L²/J²), scale L(α − 1)/α |

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, LogNormal, Normal, Pareto};

use crate::plan::{Distribution, LinkConfig};

/// Draws one-way delays from a link's configured distribution.
pub struct DelayModel {
    kind: Kind,
    rng: ChaCha8Rng,
}

enum Kind {
    Constant(f64),
    Uniform { lo: f64, hi: f64 },
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
    Pareto(Pareto<f64>),
}

impl DelayModel {
    /// A model for `config`, seeded. Invalid parameters (rejected by validation)
    /// fall back to the constant latency.
    pub fn new(config: &LinkConfig, seed: u64) -> Self {
        let l = config.latency.as_secs_f64() * 1e6;
        let j = config.jitter.as_secs_f64() * 1e6;
        let kind = match config.distribution {
            Distribution::Constant => None,
            Distribution::Uniform => Some(Kind::Uniform { lo: l - j, hi: l + j }),
            Distribution::Normal => Normal::new(l, j).ok().map(Kind::Normal),
            Distribution::Lognormal => {
                let sigma2 = (1.0 + (j * j) / (l * l)).ln();
                LogNormal::new(l.ln() - sigma2 / 2.0, sigma2.sqrt()).ok().map(Kind::LogNormal)
            }
            Distribution::Pareto => {
                let alpha = 1.0 + (1.0 + (l * l) / (j * j)).sqrt();
                Pareto::new(l * (alpha - 1.0) / alpha, alpha).ok().map(Kind::Pareto)
            }
        }
        .unwrap_or(Kind::Constant(l));
        DelayModel { kind, rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// The next delay, clamped at zero.
    pub fn sample(&mut self) -> Duration {
        let us = match &self.kind {
            Kind::Constant(l) => *l,
            Kind::Uniform { lo, hi } if hi > lo => self.rng.gen_range(*lo..=*hi),
            Kind::Uniform { lo, .. } => *lo,
            Kind::Normal(d) => d.sample(&mut self.rng),
            Kind::LogNormal(d) => d.sample(&mut self.rng),
            Kind::Pareto(d) => d.sample(&mut self.rng),
        };
        Duration::from_secs_f64(us.max(0.0) / 1e6)
    }
}

/// When a blackhole outage holds bytes, as absolute instants.
pub type Window = (Instant, Instant);

/// The release schedule of one direction of one connection.
pub struct Pacer {
    bytes_per_second: Option<f64>,
    tx_free: Option<Instant>,
    last_due: Option<Instant>,
}

/// Where a chunk's release time came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Release {
    pub due: Instant,
    /// The sample drawn for this chunk, before ordering and outages.
    pub sampled: Duration,
    /// True when the chunk waited for earlier bytes to serialize.
    pub backlogged: bool,
}

impl Pacer {
    pub fn new(bandwidth_bps: Option<f64>) -> Self {
        Pacer { bytes_per_second: bandwidth_bps.map(|b| b / 8.0), tx_free: None, last_due: None }
    }

    /// Schedules a chunk of `bytes` read at `read_at`, delayed by `sampled`,
    /// held through any blackhole `windows`.
    pub fn schedule(&mut self, read_at: Instant, bytes: usize, sampled: Duration, windows: &[Window]) -> Release {
        let mut backlogged = false;
        let tx_done = match self.bytes_per_second {
            Some(rate) => {
                let start = match self.tx_free {
                    Some(free) if free > read_at => {
                        backlogged = true;
                        free
                    }
                    _ => read_at,
                };
                let done = start + Duration::from_secs_f64(bytes as f64 / rate);
                self.tx_free = Some(done);
                done
            }
            None => read_at,
        };
        let mut due = tx_done + sampled;
        if let Some(last) = self.last_due {
            due = due.max(last);
        }
        for &(start, end) in windows {
            if due >= start && due < end {
                due = end;
            }
        }
        self.last_due = Some(due);
        Release { due, sampled, backlogged }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Distribution;

    fn stats(config: &LinkConfig) -> (f64, f64, f64) {
        let mut m = DelayModel::new(config, 99);
        let v: Vec<f64> = (0..200_000).map(|_| m.sample().as_secs_f64() * 1e3).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        let min = v.iter().cloned().fold(f64::MAX, f64::min);
        (mean, sd, min)
    }

    fn link(dist: Distribution, latency_ms: u64, jitter_ms: u64) -> LinkConfig {
        LinkConfig {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            distribution: dist,
            ..LinkConfig::default()
        }
    }

    #[test]
    fn each_distribution_has_the_configured_mean_and_spread() {
        let close = |got: f64, want: f64, tol: f64| (got - want).abs() <= tol;
        let (m, s, _) = stats(&link(Distribution::Constant, 50, 0));
        assert!(close(m, 50.0, 1e-9) && s < 1e-9);
        // Uniform on [L−J, L+J]: standard deviation J/√3.
        let (m, s, min) = stats(&link(Distribution::Uniform, 50, 10));
        assert!(close(m, 50.0, 0.1) && close(s, 10.0 / 3f64.sqrt(), 0.1) && min >= 40.0, "{m} {s} {min}");
        let (m, s, _) = stats(&link(Distribution::Normal, 50, 5));
        assert!(close(m, 50.0, 0.1) && close(s, 5.0, 0.1), "{m} {s}");
        let (m, s, min) = stats(&link(Distribution::Lognormal, 50, 10));
        assert!(close(m, 50.0, 0.2) && close(s, 10.0, 0.3) && min > 0.0, "{m} {s}");
        // Pareto's variance converges slowly; a wider tolerance on its spread.
        let (m, s, min) = stats(&link(Distribution::Pareto, 50, 10));
        assert!(close(m, 50.0, 0.5) && close(s, 10.0, 1.5) && min > 0.0, "{m} {s} {min}");
    }

    #[test]
    fn delays_are_clamped_at_zero_and_seeded() {
        let (_, _, min) = stats(&link(Distribution::Normal, 1, 5));
        assert_eq!(min, 0.0);
        let c = link(Distribution::Normal, 10, 3);
        let a: Vec<Duration> = (0..5).scan(DelayModel::new(&c, 1), |m, _| Some(m.sample())).collect();
        let b: Vec<Duration> = (0..5).scan(DelayModel::new(&c, 1), |m, _| Some(m.sample())).collect();
        let d: Vec<Duration> = (0..5).scan(DelayModel::new(&c, 2), |m, _| Some(m.sample())).collect();
        assert_eq!(a, b);
        assert_ne!(a, d);
    }

    #[test]
    fn order_is_kept_even_when_a_later_sample_is_shorter() {
        let t0 = Instant::now();
        let mut p = Pacer::new(None);
        let ms = Duration::from_millis;
        let a = p.schedule(t0, 10, ms(30), &[]);
        let b = p.schedule(t0 + ms(1), 10, ms(5), &[]);
        assert_eq!(a.due, t0 + ms(30));
        assert_eq!(b.due, a.due, "the second chunk waits for the first");
        let c = p.schedule(t0 + ms(40), 10, ms(5), &[]);
        assert_eq!(c.due, t0 + ms(45));
    }

    #[test]
    fn bandwidth_serializes_chunks_behind_each_other() {
        let t0 = Instant::now();
        // 8 kbit/s = 1000 bytes/s: 100 bytes take 100 ms.
        let mut p = Pacer::new(Some(8000.0));
        let ms = Duration::from_millis;
        let a = p.schedule(t0, 100, ms(10), &[]);
        let b = p.schedule(t0, 100, ms(10), &[]);
        assert_eq!(a.due, t0 + ms(110));
        assert_eq!(b.due, t0 + ms(210));
        assert!(!a.backlogged && b.backlogged);
        // After the queue drains, a chunk starts at once again.
        let c = p.schedule(t0 + ms(1000), 100, ms(10), &[]);
        assert_eq!(c.due, t0 + ms(1110));
        assert!(!c.backlogged);
    }

    #[test]
    fn blackhole_windows_hold_bytes_until_they_end() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let window = [(t0 + ms(100), t0 + ms(300))];
        let mut p = Pacer::new(None);
        assert_eq!(p.schedule(t0, 1, ms(50), &window).due, t0 + ms(50));
        assert_eq!(p.schedule(t0 + ms(100), 1, ms(50), &window).due, t0 + ms(300));
        assert_eq!(p.schedule(t0 + ms(260), 1, ms(50), &window).due, t0 + ms(310));
    }
}
