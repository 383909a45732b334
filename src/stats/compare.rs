//! Two-sample statistics for `diff`: Mann–Whitney U on per-request latencies,
//! bootstrap intervals for percentile deltas, and tests for rates.
//!
//! Latencies come from the saved HDR histograms (three significant digits), so
//! values within 0.1 % of each other count as ties; the U test corrects for ties.

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};

/// A latency distribution as sorted distinct values with cumulative counts.
#[derive(Debug, Clone)]
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
}

fn rank(q: f64, n: u64) -> u64 {
    ((q * n as f64).ceil() as u64).clamp(1, n)
}

/// The standard normal upper tail, P(Z > z), accurate to ~1e-7 relative
/// (a Chebyshev fit of erfc).
pub fn normal_sf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    0.5 * if x >= 0.0 { erfc } else { 2.0 - erfc }
}

/// Two-sided p-value of `z` under the standard normal.
pub fn two_sided(z: f64) -> f64 {
    (2.0 * normal_sf(z.abs())).min(1.0)
}

/// Two-sided Mann–Whitney U test of `a` against `b` (normal approximation with
/// tie and continuity corrections). 1.0 when either side is empty or all values tie.
pub fn mann_whitney(a: &Ecdf, b: &Ecdf) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    let counts = |e: &Ecdf| {
        e.values
            .iter()
            .zip(e.cumulative.iter().scan(0, |prev, &c| Some(c - std::mem::replace(prev, c))))
            .map(|(&v, c)| (v, c))
            .collect::<Vec<_>>()
    };
    let (ca, cb) = (counts(a), counts(b));
    let (mut i, mut j) = (0, 0);
    let (mut below, mut rank_sum_a, mut ties) = (0.0f64, 0.0f64, 0.0f64);
    while i < ca.len() || j < cb.len() {
        let v = match (ca.get(i), cb.get(j)) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        let mut here_a = 0.0;
        let mut here_b = 0.0;
        if ca.get(i).is_some_and(|x| x.0 == v) {
            here_a = ca[i].1 as f64;
            i += 1;
        }
        if cb.get(j).is_some_and(|y| y.0 == v) {
            here_b = cb[j].1 as f64;
            j += 1;
        }
        let t = here_a + here_b;
        rank_sum_a += here_a * (below + (t + 1.0) / 2.0);
        ties += t * t * t - t;
        below += t;
    }
    let n = na + nb;
    let u = rank_sum_a - na * (na + 1.0) / 2.0;
    let mean = na * nb / 2.0;
    let var = na * nb / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    two_sided(z)
}

/// A 95 % bootstrap interval of the relative change (in %) of the `q` quantile
/// from `a` to `b`, from `iterations` resamples of each side.
///
/// A resample's q-quantile is the value at rank ⌈q·n⌉ of n draws with
/// replacement; its position in the original ECDF is distributed as the
/// ⌈q·n⌉-th of n uniform order statistics, Beta(k, n + 1 − k). Drawing that one
/// Beta variate per resample gives exactly the bootstrap distribution of the
/// quantile without materialising the resample.
pub fn bootstrap_quantile_delta(a: &Ecdf, b: &Ecdf, q: f64, iterations: usize, seed: u64) -> Option<(f64, f64)> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let draw = |e: &Ecdf, rng: &mut ChaCha8Rng| -> Option<u64> {
        let n = e.len();
        let k = rank(q, n) as f64;
        let beta = Beta::new(k, n as f64 + 1.0 - k).ok()?;
        let u: f64 = beta.sample(rng);
        Some(e.at_rank(((u * n as f64).ceil() as u64).clamp(1, n)))
    };
    let mut deltas = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let (x, y) = (draw(a, &mut rng)?, draw(b, &mut rng)?);
        deltas.push(100.0 * (y as f64 - x as f64) / (x.max(1) as f64));
    }
    deltas.sort_by(f64::total_cmp);
    let at = |p: f64| deltas[((p * (iterations - 1) as f64).round() as usize).min(iterations - 1)];
    Some((at(0.025), at(0.975)))
}

/// Rates `ok_a / secs_a` against `ok_b / secs_b` as Poisson counts: the relative
/// change in %, its 95 % interval (log ratio, normal approximation) and p-value.
pub fn rate_change(ok_a: u64, secs_a: f64, ok_b: u64, secs_b: f64) -> Option<(f64, (f64, f64), f64)> {
    if ok_a == 0 || ok_b == 0 || secs_a <= 0.0 || secs_b <= 0.0 {
        return None;
    }
    let log_ratio = ((ok_b as f64 / secs_b) / (ok_a as f64 / secs_a)).ln();
    let se = (1.0 / ok_a as f64 + 1.0 / ok_b as f64).sqrt();
    let pct = |l: f64| 100.0 * (l.exp() - 1.0);
    Some((pct(log_ratio), (pct(log_ratio - 1.96 * se), pct(log_ratio + 1.96 * se)), two_sided(log_ratio / se)))
}

/// Proportions `x_a / n_a` against `x_b / n_b`: the difference in percentage
/// points, its 95 % Wald interval, and the pooled two-proportion z-test p-value.
pub fn proportion_change(x_a: u64, n_a: u64, x_b: u64, n_b: u64) -> Option<(f64, (f64, f64), f64)> {
    if n_a == 0 || n_b == 0 {
        return None;
    }
    let (na, nb) = (n_a as f64, n_b as f64);
    let (pa, pb) = (x_a as f64 / na, x_b as f64 / nb);
    let diff = pb - pa;
    let se = (pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb).sqrt();
    let pooled = (x_a + x_b) as f64 / (na + nb);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    let p = if se0 > 0.0 { two_sided(diff / se0) } else { 1.0 };
    Some((100.0 * diff, (100.0 * (diff - 1.96 * se), 100.0 * (diff + 1.96 * se)), p))
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

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((two_sided(2.575_829) - 0.01).abs() < 1e-6);
        assert!((normal_sf(-1.0) - 0.841_344_746).abs() < 1e-6);
        // Relative accuracy deep in the tail: P(Z > 6) = 9.8659e-10.
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
    fn mann_whitney_by_hand() {
        // a = {1, 2, 3}, b = {4, 5, 6}: U = 0, mean 4.5, var 3·3·7/12 = 5.25;
        // z = (4.5 − 0.5)/√5.25 = 1.7457, p = 0.0809.
        let p = mann_whitney(&ecdf([1, 2, 3]), &ecdf([4, 5, 6]));
        assert!((p - 0.080_87).abs() < 1e-3, "p = {p}");
        // Identical samples: no evidence at all.
        assert!(mann_whitney(&ecdf(1..=100), &ecdf(1..=100)) > 0.99);
        // All ties: no variance, p = 1.
        assert_eq!(mann_whitney(&ecdf([5, 5]), &ecdf([5, 5, 5])), 1.0);
        // A 20 % shift over 1,000 values is unmistakable.
        assert!(mann_whitney(&ecdf(1000..2000), &ecdf(1200..2200)) < 1e-10);
    }

    #[test]
    fn bootstrap_interval_covers_the_shift_and_excludes_zero() {
        let a = ecdf((0..2000).map(|i| 10_000 + i % 1000));
        let b = ecdf((0..2000).map(|i| 12_000 + i % 1000 * 12 / 10));
        let (lo, hi) = bootstrap_quantile_delta(&a, &b, 0.5, 2000, 7).unwrap();
        assert!(lo > 0.0 && lo < 20.0 && hi > 20.0 && hi < 30.0, "[{lo}, {hi}]");
        let (lo, hi) = bootstrap_quantile_delta(&a, &a, 0.99, 2000, 7).unwrap();
        assert!(lo <= 0.0 && hi >= 0.0, "A/A interval [{lo}, {hi}] must contain 0");
        // Deterministic for a seed.
        assert_eq!(bootstrap_quantile_delta(&a, &b, 0.5, 500, 1), bootstrap_quantile_delta(&a, &b, 0.5, 500, 1));
    }

    #[test]
    fn rates_and_proportions() {
        let (d, (lo, hi), p) = rate_change(1000, 10.0, 800, 10.0).unwrap();
        assert!((d + 20.0).abs() < 1e-9 && lo < -20.0 && hi > -20.0 && hi < 0.0 && p < 1e-5);
        assert!(rate_change(0, 1.0, 1, 1.0).is_none());
        let (d, _, p) = proportion_change(0, 1000, 5, 1000).unwrap();
        assert!((d - 0.5).abs() < 1e-12 && p < 0.05, "p = {p}");
        let (d, _, p) = proportion_change(0, 1000, 0, 1000).unwrap();
        assert_eq!((d, p), (0.0, 1.0));
    }
}
