//! Two-sample statistics for `diff`, with the repetition as the unit of
//! replication: each repetition of a point gives one value per metric, and
//! the two runs are compared on those values, never request against request.
//!
//! Requests within one repetition share the state of the machine during it,
//! so they are not independent replications of a run; tests on pooled
//! requests call run-to-run drift significant. Here:
//!
//! - the p-value is a two-sided Mann–Whitney U test on the repetition values,
//!   exact (every split of the pooled values enumerated, ties at mid-ranks)
//!   up to `EXACT_LIMIT` splits, normal with tie correction beyond;
//! - the interval is a hierarchical bootstrap (Saravanan, Berman and Sober,
//!   2020): resample repetitions with replacement, then each drawn
//!   repetition's requests, recompute each side's statistic, and take the
//!   2.5 % and 97.5 % points of the change.
//!
//! Latencies come from the saved HDR histograms (three significant digits), so
//! values within 0.1 % of each other tie.

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Binomial, Distribution, Poisson};

/// Beyond this many splits, the U test uses the normal approximation.
pub const EXACT_LIMIT: u64 = 200_000;

/// A latency distribution as sorted distinct values with cumulative counts.
#[derive(Debug, Clone, Default)]
pub struct Ecdf {
    values: Vec<u64>,
    cumulative: Vec<u64>,
}

impl Ecdf {
    pub fn of(h: &Histogram<u64>) -> Ecdf {
        let mut values = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0;
        for v in h.iter_recorded() {
            total += v.count_at_value();
            values.push(h.highest_equivalent(v.value_iterated_to()));
            cumulative.push(total);
        }
        Ecdf { values, cumulative }
    }

    pub fn len(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest value with at least `rank` (1-based) values at or below it.
    fn at_rank(&self, rank: u64) -> u64 {
        let i = self.cumulative.partition_point(|&c| c < rank);
        self.values[i.min(self.values.len() - 1)]
    }

    /// The `q` quantile, as HDR histograms define it: the value at rank ⌈q·n⌉.
    pub fn quantile(&self, q: f64) -> u64 {
        self.at_rank(rank(q, self.len()))
    }

    /// The `q` quantile of `n` draws with replacement, without drawing them:
    /// the ⌈q·n⌉-th of n uniform order statistics is Beta(k, n + 1 − k), and
    /// its position in the ECDF is the resample's quantile.
    fn resampled_quantile(&self, q: f64, rng: &mut ChaCha8Rng) -> Option<u64> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let k = rank(q, n) as f64;
        let u: f64 = Beta::new(k, n as f64 + 1.0 - k).ok()?.sample(rng);
        Some(self.at_rank(((u * n as f64).ceil() as u64).clamp(1, n)))
    }
}

fn rank(q: f64, n: u64) -> u64 {
    ((q * n as f64).ceil() as u64).clamp(1, n)
}

/// One repetition of one tier at one point, as the comparison sees it.
#[derive(Debug, Clone, Default)]
pub struct Repetition {
    pub latency: Ecdf,
    pub requests: u64,
    pub ok: u64,
    pub timeouts: u64,
    /// The measured window throughput is taken over, in seconds.
    pub window_s: f64,
    /// The summary's mean device energy per request (mJ) and cost per
    /// million requests, when the run estimated them.
    pub energy_mj: Option<f64>,
    pub cost_per_million: Option<f64>,
}

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, schemars::JsonSchema)]
pub enum Metric {
    /// A latency quantile in µs; a side's value is the median over its repetitions.
    Quantile(f64),
    /// Successful responses per second; the median over repetitions.
    Throughput,
    /// Timeouts per request, pooled over repetitions (a median would hide one bad repetition).
    TimeoutRate,
    /// The mean device energy per request and the cost per million
    /// requests: the median over repetitions. A repetition keeps only its
    /// summary's value, so the bootstrap resamples repetitions, not requests.
    Energy,
    Cost,
}

impl Metric {
    /// This repetition's value, `None` when it has none (no successful request, no window).
    pub fn of(self, r: &Repetition) -> Option<f64> {
        match self {
            Metric::Quantile(q) => (!r.latency.is_empty()).then(|| r.latency.quantile(q) as f64),
            Metric::Throughput => (r.window_s > 0.0).then(|| r.ok as f64 / r.window_s),
            Metric::TimeoutRate => (r.requests > 0).then(|| r.timeouts as f64 / r.requests as f64),
            Metric::Energy => r.energy_mj,
            Metric::Cost => r.cost_per_million,
        }
    }

    /// The value of this repetition with its requests resampled, as `(numerator, denominator)`.
    fn resample(self, r: &Repetition, rng: &mut ChaCha8Rng) -> Option<(f64, f64)> {
        match self {
            Metric::Quantile(q) => r.latency.resampled_quantile(q, rng).map(|v| (v as f64, 1.0)),
            Metric::Throughput => {
                if r.window_s <= 0.0 {
                    return None;
                }
                // Successful responses in a window are close to Poisson.
                let ok = if r.ok == 0 { 0.0 } else { Poisson::new(r.ok as f64).ok()?.sample(rng) };
                Some((ok, r.window_s))
            }
            Metric::TimeoutRate => {
                if r.requests == 0 {
                    return None;
                }
                let p = r.timeouts as f64 / r.requests as f64;
                let t = Binomial::new(r.requests, p).ok()?.sample(rng);
                Some((t as f64, r.requests as f64))
            }
            Metric::Energy | Metric::Cost => self.of(r).map(|v| (v, 1.0)),
        }
    }

    /// A side's statistic from its repetitions' `(numerator, denominator)` pairs.
    fn summarize(self, values: &mut [(f64, f64)]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        match self {
            Metric::TimeoutRate => {
                let (num, den) = values.iter().fold((0.0, 0.0), |(n, d), v| (n + v.0, d + v.1));
                (den > 0.0).then(|| num / den)
            }
            _ => {
                let ratios: Vec<f64> = values.iter().map(|v| v.0 / v.1).collect();
                super::median_interval(&ratios).map(|m| m.0)
            }
        }
    }

    /// The change from `a` to `b`: relative in % (percentage points for the timeout rate).
    pub fn change(self, a: f64, b: f64) -> Option<f64> {
        match self {
            Metric::TimeoutRate => Some(100.0 * (b - a)),
            _ => (a > 0.0).then(|| 100.0 * (b - a) / a),
        }
    }
}

/// One metric compared between two sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    /// `Metric::change` of the two sides' statistics.
    pub delta: Option<f64>,
    /// 95 % hierarchical bootstrap interval of `delta`.
    pub ci: Option<(f64, f64)>,
    /// Two-sided Mann–Whitney U on the repetition values.
    pub p_value: Option<f64>,
    /// Repetitions with a value, per side.
    pub n: (usize, usize),
}

/// Compares `metric` between the repetitions `a` (baseline) and `b` (candidate).
pub fn compare(metric: Metric, a: &[Repetition], b: &[Repetition], iterations: usize, seed: u64) -> Change {
    let values = |reps: &[Repetition]| reps.iter().filter_map(|r| metric.of(r)).collect::<Vec<f64>>();
    let (va, vb) = (values(a), values(b));
    let stat = |reps: &[Repetition]| {
        let mut pairs: Vec<(f64, f64)> = reps
            .iter()
            .filter_map(|r| match metric {
                Metric::TimeoutRate => (r.requests > 0).then_some((r.timeouts as f64, r.requests as f64)),
                _ => metric.of(r).map(|v| (v, 1.0)),
            })
            .collect();
        metric.summarize(&mut pairs)
    };
    let (sa, sb) = (stat(a), stat(b));
    let delta = sa.zip(sb).and_then(|(x, y)| metric.change(x, y));
    let usable = |reps: &[Repetition]| reps.iter().filter(|r| metric.of(r).is_some()).cloned().collect::<Vec<_>>();
    let ci = delta.and_then(|_| hierarchical_bootstrap(metric, &usable(a), &usable(b), iterations, seed));
    let p_value = (!va.is_empty() && !vb.is_empty()).then(|| mann_whitney(&va, &vb));
    Change { baseline: sa, candidate: sb, delta, ci, p_value, n: (va.len(), vb.len()) }
}

/// A 95 % interval of `metric`'s change from `a` to `b`: repetitions drawn
/// with replacement on each side, then each drawn repetition's requests.
pub fn hierarchical_bootstrap(
    metric: Metric,
    a: &[Repetition],
    b: &[Repetition],
    iterations: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    if a.is_empty() || b.is_empty() || iterations == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let side = |reps: &[Repetition], rng: &mut ChaCha8Rng| -> Option<f64> {
        let mut drawn = Vec::with_capacity(reps.len());
        for _ in 0..reps.len() {
            drawn.push(metric.resample(&reps[rng.gen_range(0..reps.len())], rng)?);
        }
        metric.summarize(&mut drawn)
    };
    let mut deltas = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let x = side(a, &mut rng)?;
        let y = side(b, &mut rng)?;
        if let Some(d) = metric.change(x, y) {
            deltas.push(d);
        }
    }
    if deltas.is_empty() {
        return None;
    }
    deltas.sort_by(f64::total_cmp);
    let at = |p: f64| deltas[((p * (deltas.len() - 1) as f64).round() as usize).min(deltas.len() - 1)];
    Some((at(0.025), at(0.975)))
}

/// C(n, k) as f64 (exact for the sizes used here).
pub fn binomial(n: u64, k: u64) -> f64 {
    let k = k.min(n - k.min(n));
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// The smallest two-sided p-value a rank test can give with `na` and `nb`
/// values: both extreme splits out of C(na + nb, na).
pub fn smallest_p_value(na: usize, nb: usize) -> f64 {
    if na == 0 || nb == 0 {
        return 1.0;
    }
    (2.0 / binomial((na + nb) as u64, na as u64)).min(1.0)
}

/// The fewest repetitions per side with which the rank test can reach `alpha`.
pub fn repetitions_needed(alpha: f64) -> usize {
    (1..=64).find(|&n| smallest_p_value(n, n) <= alpha).unwrap_or(64)
}

/// Mid-ranks (1-based) of `values`.
fn mid_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Two-sided Mann–Whitney U test of `a` against `b`: the share of all splits
/// of the pooled values into groups of their sizes whose rank sum is at least
/// as far from its mean as the observed one (exact, ties at mid-ranks), or the
/// normal approximation with tie and continuity corrections when there are
/// more than `EXACT_LIMIT` splits. 1.0 when either side is empty.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len(), b.len());
    if na == 0 || nb == 0 {
        return 1.0;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let ranks = mid_ranks(&pooled);
    let n = na + nb;
    let observed: f64 = ranks[..na].iter().sum();
    let mean = na as f64 * (n as f64 + 1.0) / 2.0;
    if binomial(n as u64, na as u64) <= EXACT_LIMIT as f64 {
        // Rank sums are multiples of 0.5: compare on doubled integers.
        let twice: Vec<i64> = ranks.iter().map(|r| (2.0 * r).round() as i64).collect();
        let (obs, mean2) = ((2.0 * observed).round() as i64, (2.0 * mean).round() as i64);
        let far = (obs - mean2).abs();
        let (mut extreme, mut total) = (0u64, 0u64);
        for_each_combination(n, na, &mut |chosen| {
            let sum: i64 = chosen.iter().map(|&i| twice[i]).sum();
            total += 1;
            if (sum - mean2).abs() >= far {
                extreme += 1;
            }
        });
        return extreme as f64 / total as f64;
    }
    let mut sorted = pooled;
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().take_while(|&&v| v == sorted[i]).count();
        let t = j as f64;
        ties += t * t * t - t;
        i += j;
    }
    let (fa, fb, fnn) = (na as f64, nb as f64, n as f64);
    let var = fa * fb / 12.0 * ((fnn + 1.0) - ties / (fnn * (fnn - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((observed - mean).abs() - 0.5).max(0.0) / var.sqrt();
    two_sided(z)
}

/// Calls `f` with every k-subset of 0..n, as sorted indices.
fn for_each_combination(n: usize, k: usize, f: &mut impl FnMut(&[usize])) {
    let mut idx: Vec<usize> = (0..k).collect();
    loop {
        f(&idx);
        // The rightmost index that can still move right.
        let Some(i) = (0..k).rev().find(|&i| idx[i] < n - k + i) else { return };
        idx[i] += 1;
        for j in i + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

pub use crate::math::normal_sf;

/// Two-sided p-value of `z` under the standard normal.
pub fn two_sided(z: f64) -> f64 {
    (2.0 * normal_sf(z.abs())).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecdf(values: impl IntoIterator<Item = u64>) -> Ecdf {
        let mut h = crate::stats::histogram();
        for v in values {
            h.record(v).unwrap();
        }
        Ecdf::of(&h)
    }

    fn rep(latencies: impl IntoIterator<Item = u64>, timeouts: u64) -> Repetition {
        let latency = ecdf(latencies);
        let ok = latency.len();
        Repetition { latency, requests: ok + timeouts, ok, timeouts, window_s: 1.0, ..Repetition::default() }
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((two_sided(2.575_829) - 0.01).abs() < 1e-6);
        assert!((normal_sf(-1.0) - 0.841_344_746).abs() < 1e-6);
        assert!((normal_sf(6.0) / 9.865_876_45e-10 - 1.0).abs() < 1e-5);
    }

    #[test]
    fn quantiles_agree_with_the_histogram() {
        let mut h = crate::stats::histogram();
        for v in 1..=10_000u64 {
            h.record(v * 37 % 100_003).unwrap();
        }
        let e = Ecdf::of(&h);
        for q in [0.5, 0.95, 0.99, 0.999] {
            assert_eq!(e.quantile(q), h.value_at_quantile(q), "q = {q}");
        }
    }

    #[test]
    fn smallest_p_values_and_repetitions_needed() {
        // 2 / C(2n, n): 0.10 for n = 3, 0.0286 for n = 4, 0.0079 for n = 5.
        assert!((smallest_p_value(3, 3) - 0.1).abs() < 1e-12);
        assert!((smallest_p_value(4, 4) - 2.0 / 70.0).abs() < 1e-12);
        assert!((smallest_p_value(5, 5) - 2.0 / 252.0).abs() < 1e-12);
        assert_eq!(smallest_p_value(1, 1), 1.0);
        assert_eq!(smallest_p_value(0, 5), 1.0);
        assert_eq!(repetitions_needed(0.05), 4);
        assert_eq!(repetitions_needed(0.01), 5);
        assert_eq!(repetitions_needed(0.1), 3);
    }

    #[test]
    fn exact_u_test_by_hand() {
        // Complete separation of 4 and 4: 2 of 70 splits are as extreme.
        let p = mann_whitney(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]);
        assert!((p - 2.0 / 70.0).abs() < 1e-12, "p = {p}");
        // Direction does not matter.
        assert_eq!(p, mann_whitney(&[5.0, 6.0, 7.0, 8.0], &[1.0, 2.0, 3.0, 4.0]));
        // {1,2,3} against {4,5,6}: 2 of 20 splits.
        assert!((mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) - 0.1).abs() < 1e-12);
        // One swap from separation, 4 and 4: rank sums 11 or ≤ 11 and ≥ 25: 4 of 70.
        let p = mann_whitney(&[1.0, 2.0, 3.0, 5.0], &[4.0, 6.0, 7.0, 8.0]);
        assert!((p - 4.0 / 70.0).abs() < 1e-12, "p = {p}");
        // Equal samples: the observed sum is the mean, every split is as extreme.
        assert_eq!(mann_whitney(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 1.0);
        // All tied: p = 1.
        assert_eq!(mann_whitney(&[5.0, 5.0], &[5.0, 5.0, 5.0]), 1.0);
        // Tiny samples cannot be significant.
        assert_eq!(mann_whitney(&[1.0], &[2.0]), 1.0);
        assert_eq!(mann_whitney(&[], &[2.0]), 1.0);
    }

    #[test]
    fn exact_u_test_with_ties_enumerates_mid_ranks() {
        // a = {1, 2, 2}, b = {2, 3, 3}: mid-ranks 1, 3, 3 | 3, 5.5, 5.5; W_a = 7, mean 10.5.
        // Splits of {1, 3, 3, 3, 5.5, 5.5} into 3: sums at distance ≥ 3.5 from 10.5 are
        // {1,3,3} = 7 (3 ways) and {3,5.5,5.5} = 14 (3 ways): 6 of 20.
        let p = mann_whitney(&[1.0, 2.0, 2.0], &[2.0, 3.0, 3.0]);
        assert!((p - 0.3).abs() < 1e-12, "p = {p}");
    }

    #[test]
    fn large_samples_use_the_normal_approximation() {
        // 12 + 12 values: C(24, 12) = 2.7 M splits, beyond the exact limit.
        let a: Vec<f64> = (0..12).map(f64::from).collect();
        let b: Vec<f64> = (0..12).map(|i| f64::from(i) + 0.5).collect();
        let p = mann_whitney(&a, &b);
        assert!(p > 0.5 && p <= 1.0, "p = {p}");
        let b: Vec<f64> = (100..112).map(f64::from).collect();
        let p = mann_whitney(&a, &b);
        // z = (72 − 0.5)/√300 = 4.128: p ≈ 3.7e-5 (exact: 2/C(24,12) = 7.4e-7).
        assert!((3e-5..5e-5).contains(&p), "p = {p}");
    }

    #[test]
    fn a_known_shift_is_found_and_an_a_a_interval_covers_zero() {
        let base: Vec<Repetition> =
            (0..5).map(|r| rep((0..1000).map(|i| 10_000 + (i * 7 + r * 13) % 1000), 0)).collect();
        let slower: Vec<Repetition> =
            (0..5).map(|r| rep((0..1000).map(|i| 12_000 + (i * 7 + r * 13) % 1000 * 12 / 10), 0)).collect();
        let c = compare(Metric::Quantile(0.5), &base, &slower, 2000, 7);
        assert_eq!(c.n, (5, 5));
        let delta = c.delta.unwrap();
        assert!((19.0..21.0).contains(&delta), "delta {delta}");
        let (lo, hi) = c.ci.unwrap();
        assert!(lo > 15.0 && hi < 25.0 && lo <= delta && delta <= hi, "[{lo}, {hi}]");
        assert!((c.p_value.unwrap() - 2.0 / 252.0).abs() < 1e-12);
        // Against itself: no change, an interval around 0, p = 1.
        let same = compare(Metric::Quantile(0.99), &base, &base, 2000, 7);
        let (lo, hi) = same.ci.unwrap();
        assert_eq!(same.delta, Some(0.0));
        assert!(lo <= 0.0 && hi >= 0.0, "A/A interval [{lo}, {hi}]");
        assert_eq!(same.p_value, Some(1.0));
        // Deterministic for a seed.
        assert_eq!(
            compare(Metric::Quantile(0.5), &base, &slower, 500, 1),
            compare(Metric::Quantile(0.5), &base, &slower, 500, 1)
        );
    }

    #[test]
    fn one_repetition_per_side_gives_an_interval_but_no_evidence() {
        let a = [rep(1000..2000, 0)];
        let b = [rep(1200..2200, 0)];
        let c = compare(Metric::Quantile(0.5), &a, &b, 1000, 3);
        assert_eq!(c.n, (1, 1));
        assert_eq!(c.p_value, Some(1.0));
        let (lo, hi) = c.ci.unwrap();
        assert!(lo > 0.0 && hi < 30.0, "[{lo}, {hi}]");
    }

    #[test]
    fn the_bootstrap_resamples_repetitions_not_only_requests() {
        // Five tight repetitions whose medians spread from 1,000 to 1,400 µs: a
        // request-level bootstrap of the pooled data would give a narrow interval;
        // resampling repetitions gives one as wide as their spread allows.
        let spread: Vec<Repetition> = (0..5).map(|r| rep((0..500).map(|i| 1000 + r * 100 + i % 3), 0)).collect();
        let (lo, hi) = hierarchical_bootstrap(Metric::Quantile(0.5), &spread, &spread, 2000, 5).unwrap();
        assert!(lo < -15.0 && hi > 15.0, "[{lo}, {hi}]");
    }

    #[test]
    fn rates_pool_counts_and_medians_take_the_middle() {
        let a = [rep([100, 200], 0), rep([100, 200], 0), rep([100, 200], 2)];
        let b = [rep([100, 200], 2), rep([100, 200], 2), rep([100, 200], 2)];
        // Timeouts 2 of 8 against 6 of 12: +25 pp, pooled, not a median of 0 %.
        let c = compare(Metric::TimeoutRate, &a, &b, 500, 1);
        assert!((c.baseline.unwrap() - 0.25).abs() < 1e-12 && (c.candidate.unwrap() - 0.5).abs() < 1e-12);
        assert!((c.delta.unwrap() - 25.0).abs() < 1e-9);
        let t = compare(Metric::Throughput, &a, &b, 500, 1);
        assert_eq!((t.baseline, t.candidate, t.delta), (Some(2.0), Some(2.0), Some(0.0)));
        let four = [rep([100], 0), rep([200], 0), rep([300], 0), rep([1000], 0)];
        assert_eq!(compare(Metric::Quantile(0.5), &four, &four, 10, 1).baseline, Some(250.0), "the middle two");
        // A repetition without successful requests has no latency value.
        let empty = [rep([], 5), rep([300], 0)];
        assert_eq!(compare(Metric::Quantile(0.5), &empty, &a, 100, 1).n, (1, 3));
    }
}
