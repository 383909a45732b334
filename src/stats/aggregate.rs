//! Repetitions to an aggregate row: the median over repetitions, with a 95 %
//! distribution-free confidence interval for the median.
//!
//! With the per-repetition values sorted, x(1) ≤ … ≤ x(n), the interval is
//! [x(k), x(n−k+1)] for the largest k with P(B ≤ k−1) ≤ 0.025, B ~ Binomial(n, ½):
//! it covers the true median with probability 1 − 2·P(B ≤ k−1) ≥ 95 %, whatever
//! the distribution. Fewer than six repetitions cannot reach 95 %; the interval
//! is then [min, max] and its coverage, 1 − 2·½ⁿ, is reported with it.

use super::Summary;
use crate::plan::Tier;

/// An interval and the probability that it covers the true value.
#[derive(Debug, Clone, Copy, PartialEq, schemars::JsonSchema)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    pub coverage: f64,
}

fn binomial_cdf_half(n: usize, k: usize) -> f64 {
    // P(B ≤ k) for B ~ Binomial(n, 1/2), summed in floating point (n is small).
    let mut term = 0.5f64.powi(n as i32);
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        if i > 0 {
            term *= (n - i + 1) as f64 / i as f64;
        }
        sum += term;
    }
    sum
}

/// The median of `values` and its confidence interval; `None` for no values.
pub fn median_interval(values: &[f64]) -> Option<(f64, Interval)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    let mut k = 1;
    while k < n / 2 && binomial_cdf_half(n, k) <= 0.025 {
        k += 1;
    }
    let coverage = 1.0 - 2.0 * binomial_cdf_half(n, k - 1);
    Some((median, Interval { low: v[k - 1], high: v[n - k], coverage }))
}

/// One aggregate row of `summary.csv`: a (point, tier) over its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub point: usize,
    pub tier: Tier,
    pub params: Vec<(String, String)>,
    pub repetitions: usize,
    /// Sums over repetitions.
    pub counts: crate::record::Counts,
    pub rejected: u64,
    /// Medians over repetitions.
    pub throughput_rps: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p50_ci: Option<Interval>,
    pub p99_ci: Option<Interval>,
}

/// Aggregates the per-repetition summaries of each (point, tier).
pub fn aggregate(summaries: &[Summary]) -> Vec<Aggregate> {
    let mut keys: Vec<(usize, Tier)> = summaries.iter().map(|s| (s.point, s.tier)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(point, tier)| {
            let rows: Vec<&Summary> = summaries.iter().filter(|s| s.point == point && s.tier == tier).collect();
            let sum = |f: fn(&Summary) -> u64| rows.iter().map(|s| f(s)).sum::<u64>();
            let p50: Vec<f64> = rows.iter().filter_map(|s| s.latency.map(|l| l.p50_us as f64)).collect();
            let p99: Vec<f64> = rows.iter().filter_map(|s| s.latency.map(|l| l.p99_us as f64)).collect();
            let tput: Vec<f64> = rows.iter().map(|s| s.throughput_rps).collect();
            let (p50, p50_ci) = median_interval(&p50).map_or((None, None), |(m, i)| (Some(m), Some(i)));
            let (p99, p99_ci) = median_interval(&p99).map_or((None, None), |(m, i)| (Some(m), Some(i)));
            Aggregate {
                point,
                tier,
                params: rows[0].params.clone(),
                repetitions: rows.len(),
                counts: rows.iter().map(|s| s.counts).sum(),
                rejected: sum(|s| s.rejected),
                throughput_rps: median_interval(&tput).map_or(0.0, |(m, _)| m),
                p50_us: p50,
                p99_us: p99,
                p50_ci,
                p99_ci,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_by_hand() {
        // n = 3: [min, max], coverage 1 − 2/8 = 0.75.
        let (m, i) = median_interval(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((m, i.low, i.high, i.coverage), (2.0, 1.0, 3.0, 0.75));
        // n = 6: P(B ≤ 0) = 1/64 ≤ 0.025 but P(B ≤ 1) = 7/64 > 0.025, so k = 1: [x1, x6], 1 − 2/64.
        let (m, i) = median_interval(&[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]).unwrap();
        assert_eq!((m, i.low, i.high), (3.5, 1.0, 6.0));
        assert!((i.coverage - (1.0 - 2.0 / 64.0)).abs() < 1e-12);
        // n = 20: k = 6 (P(B ≤ 5) ≈ 0.0207), interval [x6, x15], coverage ≈ 0.9586.
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let (m, i) = median_interval(&v).unwrap();
        assert_eq!((m, i.low, i.high), (10.5, 6.0, 15.0));
        assert!(i.coverage >= 0.95 && i.coverage < 0.97, "{}", i.coverage);
        assert!(median_interval(&[]).is_none());
        let (m, i) = median_interval(&[4.0]).unwrap();
        assert_eq!((m, i.low, i.high, i.coverage), (4.0, 4.0, 4.0, 0.0));
    }
}
