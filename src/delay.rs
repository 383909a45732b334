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
//!
//! **In time.** With `jitter_timescale` T > 0 the delays are not drawn one by
//! one: a standard normal state z follows an Ornstein–Uhlenbeck process on a
//! 1 ms grid from the first chunk of the connection direction (z' = ρz +
//! √(1 − ρ²)·ε, ρ = exp(−1 ms / T)), and each chunk's delay is the
//! distribution's quantile at Φ(z) for the grid step it is read in. Every
//! delay still has the configured distribution; delays t apart are correlated
//! by about exp(−t/T), so a chunk rarely waits behind a slower one before it.
//! The path depends only on the seed and the time since the first chunk, not
//! on how many chunks there were. T = 0 draws each chunk's delay on its own.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, LogNormal, Normal, Pareto};

use crate::plan::{Distribution, LinkConfig, LinkTrace, TraceEnd, TraceRow};

/// Draws one-way delays from a link's configured distribution.
pub struct DelayModel {
    kind: Kind,
    distribution: Distribution,
    jitter_us: f64,
    /// The distribution around a trace's delay, kept while the delay (in µs)
    /// stays the same: a trace's rows change far less often than chunks come.
    around_kind: Option<(f64, Kind)>,
    rng: ChaCha8Rng,
    /// Set when the delays are correlated in time.
    path: Option<Path>,
}

enum Kind {
    Constant(f64),
    Uniform { lo: f64, hi: f64 },
    Normal(Normal<f64>),
    LogNormal { dist: LogNormal<f64>, mu: f64, sigma: f64 },
    Pareto { dist: Pareto<f64>, scale: f64, alpha: f64 },
}

/// The grid the correlated state moves on.
const STEP: Duration = Duration::from_millis(1);

/// The correlated state: where it is on the grid, and how it moves.
struct Path {
    start: Option<Instant>,
    step: u64,
    z: f64,
    rho: f64,
    innovation: f64,
}

impl Kind {
    /// The distribution with mean (or constant) `l` and spread `j`, in µs.
    /// Parameters it cannot take (rejected by validation) give the constant `l`.
    fn new(distribution: Distribution, l: f64, j: f64) -> Kind {
        match distribution {
            Distribution::Constant => None,
            Distribution::Uniform => Some(Kind::Uniform { lo: l - j, hi: l + j }),
            Distribution::Normal => Normal::new(l, j).ok().map(Kind::Normal),
            Distribution::Lognormal => {
                let sigma2 = (1.0 + (j * j) / (l * l)).ln();
                let (mu, sigma) = (l.ln() - sigma2 / 2.0, sigma2.sqrt());
                LogNormal::new(mu, sigma).ok().map(|dist| Kind::LogNormal { dist, mu, sigma })
            }
            Distribution::Pareto => {
                let alpha = 1.0 + (1.0 + (l * l) / (j * j)).sqrt();
                let scale = l * (alpha - 1.0) / alpha;
                Pareto::new(scale, alpha).ok().map(|dist| Kind::Pareto { dist, scale, alpha })
            }
        }
        .unwrap_or(Kind::Constant(l))
    }

    /// The delay in µs whose probability under the distribution is that of
    /// `z` under the standard normal.
    fn quantile(&self, z: f64) -> f64 {
        let below = || 1.0 - crate::math::normal_sf(z);
        match self {
            Kind::Constant(l) => *l,
            Kind::Uniform { lo, hi } => lo + (hi - lo) * below(),
            Kind::Normal(d) => d.mean() + d.std_dev() * z,
            Kind::LogNormal { mu, sigma, .. } => (mu + sigma * z).exp(),
            Kind::Pareto { scale, alpha, .. } => scale * crate::math::normal_sf(z).max(1e-300).powf(-1.0 / alpha),
        }
    }
}

impl DelayModel {
    /// A model for `config`, seeded. Invalid parameters (rejected by validation)
    /// fall back to the constant latency.
    pub fn new(config: &LinkConfig, seed: u64) -> Self {
        let l = config.latency.as_secs_f64() * 1e6;
        let j = config.jitter.as_secs_f64() * 1e6;
        let kind = Kind::new(config.distribution, l, j);
        let varies = !matches!(kind, Kind::Constant(_)) || (config.trace.is_some() && j > 0.0);
        let timescale = config.jitter_timescale.as_secs_f64();
        let path = (timescale > 0.0 && varies).then(|| {
            let rho = (-STEP.as_secs_f64() / timescale).exp();
            Path { start: None, step: 0, z: 0.0, rho, innovation: (1.0 - rho * rho).sqrt() }
        });
        DelayModel {
            kind,
            distribution: config.distribution,
            jitter_us: j,
            around_kind: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
            path,
        }
    }

    /// The delay of a chunk read at `at` on a link whose trace asks for
    /// `base` then: the configured distribution with `base` as its latency,
    /// correlated in time as `sample_at`.
    pub fn sample_around(&mut self, at: Instant, base: Duration) -> Duration {
        self.around(base, Some(at))
    }

    /// As `sample_around`, each draw on its own whatever the timescale.
    pub fn sample_around_independently(&mut self, base: Duration) -> Duration {
        self.around(base, None)
    }

    fn around(&mut self, base: Duration, at: Option<Instant>) -> Duration {
        if self.jitter_us == 0.0 || self.distribution == Distribution::Constant {
            return base;
        }
        let z = match (at, self.path.is_some()) {
            (Some(at), true) => self.step_to(at),
            _ => rand_distr::StandardNormal.sample(&mut self.rng),
        };
        let l = base.as_secs_f64() * 1e6;
        if self.around_kind.as_ref().is_none_or(|(at, _)| *at != l) {
            self.around_kind = Some((l, Kind::new(self.distribution, l, self.jitter_us)));
        }
        let kind = self.around_kind.as_ref().map_or(&self.kind, |(_, k)| k);
        Duration::from_secs_f64(kind.quantile(z).max(0.0) / 1e6)
    }

    /// The delay of a chunk read at `at`: correlated with the chunks before
    /// it when the link has a jitter timescale, else as `sample`.
    pub fn sample_at(&mut self, at: Instant) -> Duration {
        if self.path.is_none() {
            return self.sample();
        }
        let z = self.step_to(at);
        Duration::from_secs_f64(self.kind.quantile(z).max(0.0) / 1e6)
    }

    /// The correlated standard normal state at `at`, moved forward on its grid.
    fn step_to(&mut self, at: Instant) -> f64 {
        let standard = |rng: &mut ChaCha8Rng| -> f64 { rand_distr::StandardNormal.sample(rng) };
        let Some(path) = self.path.as_mut() else { return standard(&mut self.rng) };
        let start = match path.start {
            Some(s) => s,
            None => {
                path.z = standard(&mut self.rng);
                path.start = Some(at);
                at
            }
        };
        let target = (at.saturating_duration_since(start).as_nanos() / STEP.as_nanos()) as u64;
        while path.step < target {
            path.z = path.rho * path.z + path.innovation * standard(&mut self.rng);
            path.step += 1;
        }
        path.z
    }

    /// The next delay, clamped at zero.
    pub fn sample(&mut self) -> Duration {
        let us = match &self.kind {
            Kind::Constant(l) => *l,
            Kind::Uniform { lo, hi } if hi > lo => self.rng.gen_range(*lo..=*hi),
            Kind::Uniform { lo, .. } => *lo,
            Kind::Normal(d) => d.sample(&mut self.rng),
            Kind::LogNormal { dist, .. } => dist.sample(&mut self.rng),
            Kind::Pareto { dist, .. } => dist.sample(&mut self.rng),
        };
        Duration::from_secs_f64(us.max(0.0) / 1e6)
    }
}

/// The most rows one transfer crosses: a message a millisecond row could
/// take half an hour to cross; past that its bytes leave at the last row.
const MAX_TRANSFER_STEPS: usize = 2_000_000;

/// When a blackhole outage holds bytes, as absolute instants.
pub type Window = (Instant, Instant);

/// The row of `trace` in force `t` after its origin (negative: before it).
/// Before the origin (the warmup) every trace gives its first row, so a
/// warmup never plays a looped trace's tail; after its span a held trace
/// gives its last row and a looped one starts again.
pub fn trace_row(trace: &LinkTrace, t_ns: i128) -> (usize, i128) {
    let span = trace.span.as_nanos() as i128;
    let tau = match trace.end {
        TraceEnd::Loop if span > 0 && t_ns >= 0 => t_ns.rem_euclid(span),
        _ => t_ns.clamp(0, span),
    };
    let index = trace.rows.partition_point(|r| r.at.as_nanos() as i128 <= tau).saturating_sub(1);
    (index, tau)
}

/// A trace placed in time: its rows at instants from `origin` (the start of
/// the measured window; `None` until the link is armed, when the first
/// row's conditions apply and no outage).
#[derive(Clone, Copy)]
pub struct TraceClock<'a> {
    pub trace: &'a LinkTrace,
    pub origin: Option<Instant>,
}

impl TraceClock<'_> {
    fn offset_ns(origin: Instant, at: Instant) -> i128 {
        match at.checked_duration_since(origin) {
            Some(d) => d.as_nanos() as i128,
            None => -(origin.duration_since(at).as_nanos() as i128),
        }
    }

    /// The conditions at `at`.
    pub fn row(&self, at: Instant) -> Option<&TraceRow> {
        let origin = match self.origin {
            Some(o) => o,
            None => return self.trace.rows.first(),
        };
        self.trace.rows.get(trace_row(self.trace, Self::offset_ns(origin, at)).0)
    }

    /// The capacity in force at `at` in bit/s (a row's, else `fixed_bps`;
    /// `None`: unlimited; 0 in an outage row), and when it next changes
    /// (`None`: never). Before the origin, or unarmed, the first row's
    /// bandwidth holds and no outage.
    fn capacity(&self, at: Instant, fixed_bps: Option<f64>) -> (Option<f64>, Option<Instant>) {
        let rows = &self.trace.rows;
        let first = rows.first().and_then(|r| r.bandwidth_bps).or(fixed_bps);
        let Some(origin) = self.origin else { return (first, None) };
        let offset = Self::offset_ns(origin, at);
        if offset < 0 {
            return (first, Some(origin));
        }
        let (i, tau) = trace_row(self.trace, offset);
        let row = &rows[i];
        let rate = if row.outage { Some(0.0) } else { row.bandwidth_bps.or(fixed_bps) };
        let next = match rows.get(i + 1) {
            Some(r) => Some(r.at.as_nanos() as i128),
            None if self.trace.end == TraceEnd::Loop && !self.trace.span.is_zero() => {
                Some(self.trace.span.as_nanos() as i128)
            }
            None => None,
        };
        (rate, next.map(|n| at + Duration::from_nanos((n - tau).max(1) as u64)))
    }

    /// When `bytes` that start to cross at `start` have crossed: the trace's
    /// capacity integrated over the time they are on the wire (as a packet
    /// trace's delivery opportunities drain a queue), nothing crossing in an
    /// outage row. `fixed_bps` is the capacity where a row gives none.
    pub fn transfer_end(&self, start: Instant, bytes: usize, fixed_bps: Option<f64>) -> Instant {
        let mut bits = bytes as f64 * 8.0;
        let mut at = start;
        for _ in 0..MAX_TRANSFER_STEPS {
            let (rate, until) = self.capacity(at, fixed_bps);
            let Some(rate) = rate else { return at };
            let need = if rate > 0.0 { bits / rate } else { f64::INFINITY };
            match until {
                Some(u) if (u - at).as_secs_f64() < need => {
                    bits -= rate * (u - at).as_secs_f64();
                    at = u;
                }
                _ if need.is_finite() => return at + Duration::from_secs_f64(need),
                // A held trace never ends in an outage (validation), so this is unreachable.
                _ => return at,
            }
        }
        at
    }

    /// When `at` falls in an outage of the trace, the instant its outage rows end.
    pub fn outage_end(&self, at: Instant) -> Option<Instant> {
        let origin = self.origin?;
        if at < origin {
            return None; // the warmup plays the first row, never an outage
        }
        let rows = &self.trace.rows;
        let (mut i, tau) = trace_row(self.trace, Self::offset_ns(origin, at));
        if !rows.get(i)?.outage {
            return None;
        }
        let looped = self.trace.end == TraceEnd::Loop && !self.trace.span.is_zero();
        // Walk to the first row after `i` that is not an outage, across the loop's end.
        let mut ahead = Duration::ZERO;
        for _ in 0..=rows.len() {
            i += 1;
            if i >= rows.len() - usize::from(looped) {
                if !looped {
                    return None; // validation refuses a held trace that ends in an outage
                }
                ahead += self.trace.span;
                i = 0;
            }
            if !rows[i].outage {
                let from_tau = (ahead + rows[i].at).as_nanos() as i128 - tau;
                return Some(at + Duration::from_nanos(from_tau.max(0) as u64));
            }
        }
        None
    }
}

/// What holds a chunk due at an instant, and until when: the link's blackhole
/// windows and its trace's outages.
pub struct Holds<'a> {
    pub windows: &'a [Window],
    pub trace: Option<TraceClock<'a>>,
}

impl Holds<'_> {
    /// The first instant from `due` on at which nothing holds bytes.
    fn release(&self, mut due: Instant) -> Instant {
        // Outages may follow each other: a few rounds settle any real file.
        for _ in 0..64 {
            let window = self.windows.iter().find(|(start, end)| due >= *start && due < *end).map(|w| w.1);
            let trace = self.trace.and_then(|t| t.outage_end(due));
            match window.into_iter().chain(trace).max() {
                Some(end) if end > due => due = end,
                _ => break,
            }
        }
        due
    }
}

/// The release schedule of one direction of one connection.
#[derive(Default)]
pub struct Pacer {
    tx_free: Option<Instant>,
    last_due: Option<Instant>,
}

/// Where a chunk's release time came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Release {
    pub due: Instant,
    /// What the link was asked for this chunk: its sampled delay, held
    /// through outages, before order and bandwidth.
    pub asked: Duration,
    /// True when the chunk waited for earlier bytes to serialize.
    pub backlogged: bool,
    /// How long its bytes took to cross at the capacity in force while they
    /// crossed (a trace's, integrated over that time).
    pub serialization: Duration,
}

impl Pacer {
    pub fn new() -> Self {
        Pacer::default()
    }

    /// Schedules a chunk of `bytes` read at `read_at`: its bytes cross at
    /// `bandwidth_bps` or at the capacity `holds.trace` gives over time
    /// (unlimited where neither gives one), then wait the delay `sample`
    /// gives for the instant they have crossed, held through `holds`.
    pub fn schedule(
        &mut self,
        read_at: Instant,
        bytes: usize,
        sample: impl FnOnce(Instant) -> Duration,
        bandwidth_bps: Option<f64>,
        holds: &Holds,
    ) -> Release {
        let mut backlogged = false;
        let mut serialization = Duration::ZERO;
        let trace = holds.trace.filter(|c| c.trace.has_bandwidth);
        let tx_done = if bandwidth_bps.is_some() || trace.is_some() {
            let start = match self.tx_free {
                Some(free) if free > read_at => {
                    backlogged = true;
                    free
                }
                _ => read_at,
            };
            let done = match (trace, bandwidth_bps) {
                (Some(clock), fixed) => clock.transfer_end(start, bytes, fixed),
                (None, Some(bps)) => start + Duration::from_secs_f64(bytes as f64 * 8.0 / bps),
                (None, None) => start,
            };
            serialization = done - start;
            self.tx_free = Some(done);
            done
        } else {
            read_at
        };
        let sampled = sample(tx_done);
        let mut due = tx_done + sampled;
        if let Some(last) = self.last_due {
            due = due.max(last);
        }
        let due = holds.release(due);
        let asked = holds.release(tx_done + sampled) - tx_done;
        self.last_due = Some(due);
        Release { due, asked, backlogged, serialization }
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
        let mut p = Pacer::new();
        let a = p.schedule(t0, 10, |_| ms(30), None, &NONE);
        let b = p.schedule(t0 + ms(1), 10, |_| ms(5), None, &NONE);
        assert_eq!(a.due, t0 + ms(30));
        assert_eq!(b.due, a.due, "the second chunk waits for the first");
        let c = p.schedule(t0 + ms(40), 10, |_| ms(5), None, &NONE);
        assert_eq!(c.due, t0 + ms(45));
    }

    #[test]
    fn bandwidth_serializes_chunks_behind_each_other() {
        let t0 = Instant::now();
        // 8 kbit/s = 1000 bytes/s: 100 bytes take 100 ms.
        let mut p = Pacer::new();
        let a = p.schedule(t0, 100, |_| ms(10), Some(8000.0), &NONE);
        let b = p.schedule(t0, 100, |_| ms(10), Some(8000.0), &NONE);
        assert_eq!(a.due, t0 + ms(110));
        assert_eq!(b.due, t0 + ms(210));
        assert!(!a.backlogged && b.backlogged);
        // After the queue drains, a chunk starts at once again.
        let c = p.schedule(t0 + ms(1000), 100, |_| ms(10), Some(8000.0), &NONE);
        assert_eq!(c.due, t0 + ms(1110));
        assert!(!c.backlogged);
    }

    #[test]
    fn blackhole_windows_hold_bytes_until_they_end() {
        let t0 = Instant::now();
        let window = [(t0 + ms(100), t0 + ms(300))];
        let mut p = Pacer::new();
        assert_eq!(p.schedule(t0, 1, |_| ms(50), None, &Holds { windows: &window, trace: None }).due, t0 + ms(50));
        assert_eq!(
            p.schedule(t0 + ms(100), 1, |_| ms(50), None, &Holds { windows: &window, trace: None }).due,
            t0 + ms(300)
        );
        assert_eq!(
            p.schedule(t0 + ms(260), 1, |_| ms(50), None, &Holds { windows: &window, trace: None }).due,
            t0 + ms(310)
        );
    }

    const NONE: Holds = Holds { windows: &[], trace: None };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn correlated(dist: Distribution, latency_ms: u64, jitter_ms: u64, timescale: Duration) -> LinkConfig {
        LinkConfig { jitter_timescale: timescale, ..link(dist, latency_ms, jitter_ms) }
    }

    /// Delays in ms of chunks read every `gap` for `span`, from one model.
    fn path(config: &LinkConfig, seed: u64, gap: Duration, span: Duration) -> Vec<f64> {
        let mut m = DelayModel::new(config, seed);
        let t0 = Instant::now();
        let n = (span.as_nanos() / gap.as_nanos()) as u32;
        (0..n).map(|i| m.sample_at(t0 + gap * i).as_secs_f64() * 1e3).collect()
    }

    fn mean_sd(v: &[f64]) -> (f64, f64) {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (mean, (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt())
    }

    #[test]
    fn correlated_delays_keep_the_configured_distribution() {
        // 200 s at 1 ms against a 100 ms timescale: about a thousand independent stretches.
        let close = |got: f64, want: f64, tol: f64| (got - want).abs() <= tol;
        let (gap, span, t) = (ms(1), Duration::from_secs(200), ms(100));
        let (m, s) = mean_sd(&path(&correlated(Distribution::Normal, 30, 5, t), 1, gap, span));
        assert!(close(m, 30.0, 0.5) && close(s, 5.0, 0.5), "normal {m} {s}");
        let v = path(&correlated(Distribution::Uniform, 50, 10, t), 2, gap, span);
        let (m, s) = mean_sd(&v);
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
        assert!(close(m, 50.0, 1.0) && close(s, 10.0 / 3f64.sqrt(), 0.6), "uniform {m} {s}");
        assert!(lo >= 40.0 && hi <= 60.0, "uniform within [L−J, L+J]: {lo} {hi}");
        let (m, s) = mean_sd(&path(&correlated(Distribution::Lognormal, 50, 10, t), 3, gap, span));
        assert!(close(m, 50.0, 1.5) && close(s, 10.0, 1.5), "lognormal {m} {s}");
        let v = path(&correlated(Distribution::Pareto, 50, 10, t), 4, gap, span);
        let (m, _) = mean_sd(&v);
        let scale = {
            let a = 1.0 + (1.0f64 + 25.0).sqrt();
            50.0 * (a - 1.0) / a
        };
        assert!(close(m, 50.0, 2.0) && v.iter().all(|x| *x >= scale - 1e-9), "pareto {m}");
    }

    #[test]
    fn delays_a_timescale_apart_are_correlated_by_about_one_over_e() {
        let v = path(&correlated(Distribution::Normal, 30, 5, ms(100)), 5, ms(1), Duration::from_secs(200));
        let (m, s) = mean_sd(&v);
        let corr = |lag: usize| {
            let n = v.len() - lag;
            (0..n).map(|i| (v[i] - m) * (v[i + lag] - m)).sum::<f64>() / (n as f64 * s * s)
        };
        assert!(corr(1) > 0.97, "lag 1 ms: {}", corr(1));
        assert!((corr(100) - (-1f64).exp()).abs() < 0.1, "lag 100 ms: {}", corr(100));
        assert!(corr(500).abs() < 0.15, "lag 500 ms: {}", corr(500));
    }

    #[test]
    fn the_path_depends_on_the_seed_and_time_only() {
        let c = correlated(Distribution::Normal, 30, 5, ms(100));
        // Read every 1 ms or every 7 ms: the same delay at the same time.
        let every = path(&c, 9, ms(1), Duration::from_secs(2));
        let sparse = path(&c, 9, ms(7), Duration::from_secs(2));
        for (i, d) in sparse.iter().enumerate() {
            assert_eq!(*d, every[i * 7], "at {} ms", i * 7);
        }
        assert_ne!(path(&c, 10, ms(1), Duration::from_secs(2)), every);
        // A timescale of zero is the independent draws of `sample`.
        let independent = link(Distribution::Normal, 30, 5);
        let mut a = DelayModel::new(&independent, 3);
        let mut b = DelayModel::new(&independent, 3);
        let t0 = Instant::now();
        assert!((0..100u64).all(|i| a.sample_at(t0 + ms(i)) == b.sample()));
    }

    /// The median of what a stream of chunks every `gap` actually waits
    /// (release minus read, in order), against the configured 30 ms.
    fn achieved_median_ms(timescale: Duration, gap: Duration) -> f64 {
        let config = correlated(Distribution::Normal, 30, 5, timescale);
        let mut model = DelayModel::new(&config, 11);
        let mut pacer = Pacer::new();
        let t0 = Instant::now();
        let n = (Duration::from_secs(60).as_nanos() / gap.as_nanos()) as u32;
        let mut waits: Vec<f64> = (0..n)
            .map(|i| {
                let read = t0 + gap * i;
                let due = pacer.schedule(read, 100, |at| model.sample_at(at), None, &NONE).due;
                (due - read).as_secs_f64() * 1e3
            })
            .collect();
        waits.sort_by(f64::total_cmp);
        waits[waits.len() / 2]
    }

    #[test]
    fn correlated_jitter_keeps_the_median_where_independent_draws_raise_it() {
        // 3,000 chunks a second, 30 ms ± 5 ms normal: the fidelity tolerance is 0.2 ms + 5 %.
        let gap = Duration::from_nanos(333_333);
        let correlated = achieved_median_ms(ms(100), gap);
        assert!((correlated - 30.0).abs() < 0.2 + 1.5, "100 ms timescale: median {correlated} ms");
        let independent = achieved_median_ms(Duration::ZERO, gap);
        assert!(independent > 33.0, "independent draws wait behind slower chunks: median {independent} ms");
    }

    fn trace(end: TraceEnd, rows: &[(u64, u64, bool)]) -> LinkTrace {
        let rows: Vec<TraceRow> = rows
            .iter()
            .map(|&(at_ms, delay_ms, outage)| TraceRow {
                at: ms(at_ms),
                delay: ms(delay_ms),
                bandwidth_bps: None,
                outage,
            })
            .collect();
        let span = rows.last().map(|r| r.at).unwrap_or_default();
        LinkTrace { path: "t.csv".into(), sha256: String::new(), end, span, has_bandwidth: false, rows: rows.into() }
    }

    /// 0–3 s: 20 ms; 3–5 s: 80 ms; 5–7 s: outage; then 20 ms; the loop is 9 s long.
    const STEP: [(u64, u64, bool); 5] =
        [(0, 20, false), (3000, 80, false), (5000, 80, true), (7000, 20, false), (9000, 20, false)];

    #[test]
    fn a_trace_gives_the_row_in_force_held_or_looped() {
        let t0 = Instant::now() + Duration::from_secs(100);
        let held = trace(TraceEnd::Hold, &STEP);
        let looped = trace(TraceEnd::Loop, &STEP);
        let delay = |t: &LinkTrace, at: Instant| TraceClock { trace: t, origin: Some(t0) }.row(at).map(|r| r.delay);
        assert_eq!(delay(&held, t0), Some(ms(20)));
        assert_eq!(delay(&held, t0 + ms(2999)), Some(ms(20)));
        assert_eq!(delay(&held, t0 + ms(3000)), Some(ms(80)));
        assert_eq!(delay(&held, t0 + ms(60_000)), Some(ms(20)), "held: the last row stays");
        assert_eq!(delay(&held, t0 - ms(500)), Some(ms(20)), "before the origin: the first row");
        assert_eq!(delay(&looped, t0 + ms(9000 + 3500)), Some(ms(80)), "looped: 12.5 s is 3.5 s into the loop");
        assert_eq!(delay(&looped, t0 - ms(5500)), Some(ms(20)), "the warmup plays the first row, not the loop's tail");
        // Not yet armed: the first row, and no outage.
        let unarmed = TraceClock { trace: &held, origin: None };
        assert_eq!(unarmed.row(t0 + ms(5500)).map(|r| r.delay), Some(ms(20)));
        assert_eq!(unarmed.outage_end(t0 + ms(5500)), None);
    }

    #[test]
    fn a_trace_outage_holds_bytes_until_its_rows_end_also_across_the_loop() {
        let t0 = Instant::now();
        let looped = trace(TraceEnd::Loop, &STEP);
        let clock = TraceClock { trace: &looped, origin: Some(t0) };
        assert_eq!(clock.outage_end(t0 + ms(4999)), None);
        assert_eq!(clock.outage_end(t0 + ms(5000)), Some(t0 + ms(7000)));
        assert_eq!(clock.outage_end(t0 + ms(9000 + 6000)), Some(t0 + ms(9000 + 7000)));
        // An outage in the last row of the loop runs into the first rows of the next round.
        let wraps = trace(TraceEnd::Loop, &[(0, 10, true), (1000, 10, false), (4000, 10, true), (5000, 10, false)]);
        let clock = TraceClock { trace: &wraps, origin: Some(t0) };
        assert_eq!(clock.outage_end(t0 + ms(4500)), Some(t0 + ms(6000)));
        // Through the pacer: a chunk due inside the outage leaves when it ends,
        // and what it was asked says so.
        let mut p = Pacer::new();
        let holds = Holds { windows: &[], trace: Some(TraceClock { trace: &looped, origin: Some(t0) }) };
        let r = p.schedule(t0 + ms(4950), 10, |_| ms(80), None, &holds);
        assert_eq!(r.due, t0 + ms(7000));
        assert_eq!(r.asked, ms(2050));
        let r = p.schedule(t0 + ms(7100), 10, |_| ms(20), None, &holds);
        assert_eq!((r.due, r.asked), (t0 + ms(7120), ms(20)));
    }

    /// A trace of `(ms, kbit/s or outage)` rows, 5 ms one-way delay.
    fn capacity_trace(end: TraceEnd, rows: &[(u64, Option<f64>)]) -> LinkTrace {
        let rows: Vec<TraceRow> = rows
            .iter()
            .map(|&(at, kbit)| TraceRow {
                at: ms(at),
                delay: ms(5),
                bandwidth_bps: kbit.map(|k| k * 1e3),
                outage: kbit.is_none(),
            })
            .collect();
        let span = rows.last().map(|r| r.at).unwrap_or_default();
        LinkTrace { path: "c.csv".into(), sha256: String::new(), end, span, has_bandwidth: true, rows: rows.into() }
    }

    #[test]
    fn a_message_drains_through_the_capacity_over_time_not_the_rate_it_was_read_at() {
        // 1 s at 1 Mbit/s, then 9 s at 100 Mbit/s. 1 MB (8 Mbit) sent at 0.5 s:
        // 0.5 Mbit crosses by 1 s, the other 7.5 Mbit take 75 ms, then the 5 ms delay.
        let t0 = Instant::now();
        let t =
            capacity_trace(TraceEnd::Hold, &[(0, Some(1_000.0)), (1_000, Some(100_000.0)), (10_000, Some(100_000.0))]);
        let holds = Holds { windows: &[], trace: Some(TraceClock { trace: &t, origin: Some(t0) }) };
        let mut p = Pacer::new();
        let r = p.schedule(t0 + ms(500), 1_000_000, |_| ms(5), None, &holds);
        let arrival = (r.due - t0).as_secs_f64();
        assert!((arrival - 1.080).abs() < 1e-6, "arrived at {arrival} s, not 0.5 + 0.5 + 0.075 + 0.005");
        assert!((r.serialization.as_secs_f64() - 0.575).abs() < 1e-6);
        // Read at 1 Mbit/s and sent at that rate throughout, it would have taken 8 s.
        // An outage row delivers nothing: the bytes wait it out and go on after it.
        let gap =
            capacity_trace(TraceEnd::Hold, &[(0, Some(800.0)), (100, None), (300, Some(800.0)), (400, Some(800.0))]);
        let holds = Holds { windows: &[], trace: Some(TraceClock { trace: &gap, origin: Some(t0) }) };
        let mut p = Pacer::new();
        // 20,000 bytes = 160 kbit: 80 kbit by 100 ms, none until 300 ms, 80 kbit by 400 ms.
        let r = p.schedule(t0, 20_000, |_| ms(5), None, &holds);
        assert_eq!(r.due, t0 + ms(405));
        // The delay is the one in force when the bytes have crossed.
        let mut p = Pacer::new();
        let r = p.schedule(t0, 20_000, |at| if at >= t0 + ms(300) { ms(50) } else { ms(5) }, None, &holds);
        assert_eq!(r.due, t0 + ms(450));
    }

    #[test]
    fn a_looped_trace_drains_across_its_end_and_the_warmup_plays_its_first_row() {
        let t0 = Instant::now();
        // 100 ms at 80 kbit/s, 100 ms at 800 kbit/s, looping every 200 ms.
        let t = capacity_trace(TraceEnd::Loop, &[(0, Some(80.0)), (100, Some(800.0)), (200, Some(80.0))]);
        let clock = TraceClock { trace: &t, origin: Some(t0) };
        // 9,000 bytes = 72 kbit from 150 ms: 40 kbit by 200 ms, 8 kbit by 300 ms, 24 kbit by 330 ms.
        let end = clock.transfer_end(t0 + ms(150), 9_000, None);
        assert_eq!(end, t0 + ms(330));
        // Before the origin (the warmup) the first row's capacity holds until the origin.
        let warm = clock.transfer_end(t0 - ms(50), 1_000, None);
        assert_eq!(warm, t0 + ms(50), "8 kbit: 4 kbit in the 50 ms before the origin, 4 kbit after it");
    }

    #[test]
    fn jitter_around_a_trace_keeps_its_distribution_and_seed() {
        let config = LinkConfig {
            jitter: ms(5),
            distribution: Distribution::Normal,
            jitter_timescale: ms(100),
            trace: Some(trace(TraceEnd::Hold, &STEP)),
            ..LinkConfig::default()
        };
        let t0 = Instant::now();
        let run = |seed| {
            let mut m = DelayModel::new(&config, seed);
            (0..60_000u64)
                .map(|i| m.sample_around(t0 + ms(i), if i < 30_000 { ms(20) } else { ms(80) }).as_secs_f64() * 1e3)
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "seeded");
        assert_ne!(a, run(8));
        let (low, _) = mean_sd(&a[..30_000]);
        let (high, sd) = mean_sd(&a[30_000..]);
        assert!((low - 20.0).abs() < 1.0 && (high - 80.0).abs() < 1.0 && (sd - 5.0).abs() < 1.0, "{low} {high} {sd}");
        // Without jitter the trace's delay is the delay.
        let plain = LinkConfig { jitter: Duration::ZERO, distribution: Distribution::Constant, ..config };
        assert_eq!(DelayModel::new(&plain, 1).sample_around(t0, ms(80)), ms(80));
    }
}
