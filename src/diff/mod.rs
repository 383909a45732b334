//! `simrun diff`: two result folders in, a point-by-point statistical
//! comparison out.
//!
//! Points are aligned by their swept values, then each tier is compared on
//! p50, p95, p99 (pooled over repetitions, from the saved histograms),
//! throughput and timeout rate. A change gets a verdict only when it is both
//! significant at 5 % and larger than the threshold, and (for latency) larger
//! than the harness resolution; otherwise it is `~`.
//!
//! The resolution exists because the tests see only the sampling noise within
//! each run. Between two runs on a shared machine, sub-millisecond latencies
//! drift by more than that (A/A runs of the smoke scenario differed by 7–13 %
//! at an edge p50 of 0.45 ms, with U-test p-values of 0.01–0.02). By default
//! the resolution is the larger harness-floor p99 of the two runs: the spread
//! of a bare echo through the same broker, measured at the start of each run.

mod render;

use std::collections::BTreeMap;

use anyhow::bail;
use hdrhistogram::Histogram;
use serde::Serialize;

pub use render::{render_json, render_markdown, render_table};

use crate::export::RunFolder;
use crate::plan::{params_label, Tier};
use crate::stats::compare::{bootstrap_quantile_delta, mann_whitney, proportion_change, rate_change, Ecdf};
use crate::stats::histogram;

/// Significance level of every test.
pub const ALPHA: f64 = 0.05;
/// Resamples per bootstrap interval.
pub const BOOTSTRAP_ITERATIONS: usize = 2000;
/// Keys that may differ between comparable runs: where they ran and how they
/// were judged, not what was measured.
const PER_RUN_KEYS: [&str; 4] = ["broker.url", "output", "description", "slo"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "improved")]
    Improved,
    #[serde(rename = "regressed")]
    Regressed,
    #[serde(rename = "~")]
    Same,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::Same => "~",
        }
    }
}

/// One metric of one tier at one aligned point.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `key=value, …` or `(base)`.
    pub point: String,
    pub baseline_point: usize,
    pub candidate_point: usize,
    pub tier: Tier,
    /// `p50`, `p95`, `p99` (ms), `throughput` (/s) or `timeout_rate` (%).
    pub metric: &'static str,
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    /// Relative change in % (`pp`, percentage points, for the timeout rate).
    pub delta: Option<f64>,
    pub delta_unit: &'static str,
    /// 95 % interval of `delta`.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRef {
    pub path: String,
    pub run_id: String,
    pub scenario: String,
    pub git_commit: String,
    pub executions_done: usize,
    pub executions_planned: usize,
}

/// The whole comparison, as every output format sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: RunRef,
    pub candidate: RunRef,
    pub threshold_pct: f64,
    /// Latency changes smaller than this (ms) are `~`.
    pub resolution_ms: f64,
    /// Where the resolution came from.
    pub resolution_source: String,
    pub alpha: f64,
    /// Scenario differences beyond swept values (only with `--force`).
    pub scenario_differences: Vec<String>,
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
    pub regressions: usize,
    pub improvements: usize,
}

fn run_ref(f: &RunFolder) -> RunRef {
    let m = &f.report.manifest;
    RunRef {
        path: f.path.display().to_string(),
        run_id: m.run_id.clone(),
        scenario: m.scenario.clone(),
        git_commit: m.git_commit.clone(),
        executions_done: f.report.executions_done(),
        executions_planned: f.report.executions_planned,
    }
}

/// What differs between the runs beyond swept values and where they ran.
pub fn scenario_differences(a: &RunFolder, b: &RunFolder) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let (ka, kb) = (&a.report.swept_keys, &b.report.swept_keys);
    if ka != kb {
        out.push(format!("swept keys: [{}] vs [{}]", ka.join(", "), kb.join(", ")));
    }
    let mut ignore: Vec<String> = PER_RUN_KEYS.iter().map(|k| k.to_string()).collect();
    ignore.push("sweep".into());
    ignore.extend(ka.iter().chain(kb).cloned());
    out.extend(a.differences(b, &ignore)?);
    Ok(out)
}

/// The latency histogram of (point, tier) over all repetitions, and the counts behind the rates.
struct Pooled {
    latency: Ecdf,
    requests: u64,
    ok: u64,
    timeouts: u64,
    window_s: f64,
}

fn pooled(f: &RunFolder, point: usize, tier: Tier) -> anyhow::Result<Option<Pooled>> {
    let rows: Vec<_> = f.report.summaries.iter().filter(|s| s.point == point && s.tier == tier).collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let mut h: Histogram<u64> = histogram();
    for s in &rows {
        h.add(f.histogram(point, s.repetition, tier)?)
            .map_err(|e| anyhow::anyhow!("combining histograms of {}: {e:?}", f.path.display()))?;
    }
    Ok(Some(Pooled {
        latency: Ecdf::of(&h),
        requests: rows.iter().map(|s| s.requests).sum(),
        ok: rows.iter().map(|s| s.ok).sum(),
        timeouts: rows.iter().map(|s| s.timeouts).sum(),
        window_s: rows.iter().map(|s| s.window_s).sum(),
    }))
}

/// `improved` or `regressed` when the change is significant and beyond the
/// threshold; `worse_when_higher` gives the direction.
fn verdict(delta: f64, ci: (f64, f64), p: f64, beyond_threshold: bool, worse_when_higher: bool) -> Verdict {
    let significant = p < ALPHA && (ci.0 > 0.0 || ci.1 < 0.0);
    if !(significant && beyond_threshold) || delta == 0.0 {
        return Verdict::Same;
    }
    if (delta > 0.0) == worse_when_higher {
        Verdict::Regressed
    } else {
        Verdict::Improved
    }
}

fn key(params: &[(String, String)]) -> BTreeMap<String, String> {
    params.iter().cloned().collect()
}

/// Compares `candidate` against `baseline`. Refuses runs whose scenarios
/// differ in more than swept values unless `force`.
pub fn compare(
    baseline: &RunFolder,
    candidate: &RunFolder,
    threshold_pct: f64,
    resolution: Option<std::time::Duration>,
    force: bool,
) -> anyhow::Result<Comparison> {
    if !(threshold_pct.is_finite() && threshold_pct >= 0.0) {
        bail!("--threshold must be a percentage of at least 0, got {threshold_pct}");
    }
    let differences = scenario_differences(baseline, candidate)?;
    if !differences.is_empty() && !force {
        bail!(
            "the runs' scenarios differ in more than swept values, so their numbers are not comparable: {}. \
             Use --force to compare anyway.",
            differences.join("; ")
        );
    }
    let (resolution_us, resolution_source) = match resolution {
        Some(r) => (r.as_secs_f64() * 1e6, "--resolution".to_string()),
        None => {
            // A merged run measured one floor per shard; take the largest.
            let floor = |f: &RunFolder| {
                let m = &f.report.manifest;
                m.merged_from.iter().map(|s| s.floor_p99_us).fold(m.floor_p99_us, |a, b| a.max(b))
            };
            match floor(baseline).max(floor(candidate)) {
                Some(us) => (us as f64, "the larger harness floor p99 of the two runs".to_string()),
                None => (0.0, "no harness floor was measured".to_string()),
            }
        }
    };
    let mut notes = Vec::new();
    for (name, f) in [("baseline", baseline), ("candidate", candidate)] {
        if !f.report.complete() {
            notes.push(format!(
                "the {name} is partial: {} of {} point executions",
                f.report.executions_done(),
                f.report.executions_planned
            ));
        }
    }
    let mut rows = Vec::new();
    for bp in &baseline.report.points {
        let Some(cp) = candidate.report.points.iter().find(|c| key(&c.params) == key(&bp.params)) else {
            notes.push(format!("point {} is only in the baseline", params_label(&bp.params)));
            continue;
        };
        for tier in Tier::ALL {
            let (a, b) = (pooled(baseline, bp.index, tier)?, pooled(candidate, cp.index, tier)?);
            let (a, b) = match (a, b) {
                (Some(a), Some(b)) => (a, b),
                (None, None) => continue,
                (a, _) => {
                    let only = if a.is_some() { "baseline" } else { "candidate" };
                    notes.push(format!("the {tier} tier ran at {} only in the {only}", params_label(&bp.params)));
                    continue;
                }
            };
            let row = |metric, baseline, candidate, delta_unit| Row {
                point: params_label(&bp.params),
                baseline_point: bp.index,
                candidate_point: cp.index,
                tier,
                metric,
                baseline,
                candidate,
                delta: None,
                delta_unit,
                ci_low: None,
                ci_high: None,
                p_value: None,
                verdict: Verdict::Same,
            };
            let p_latency = mann_whitney(&a.latency, &b.latency);
            for (metric, q) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
                let (x, y) = (
                    (!a.latency.is_empty()).then(|| a.latency.quantile(q) as f64),
                    (!b.latency.is_empty()).then(|| b.latency.quantile(q) as f64),
                );
                let mut r = row(metric, x.map(|v| v / 1e3), y.map(|v| v / 1e3), "%");
                let seed = (bp.index as u64) << 8 | (tier as u64) << 4 | (q * 100.0) as u64;
                if let (Some(x), Some(y), Some(ci)) =
                    (x, y, bootstrap_quantile_delta(&a.latency, &b.latency, q, BOOTSTRAP_ITERATIONS, seed))
                {
                    let delta = 100.0 * (y - x) / x.max(1.0);
                    r.delta = Some(delta);
                    (r.ci_low, r.ci_high, r.p_value) = (Some(ci.0), Some(ci.1), Some(p_latency));
                    let beyond = delta.abs() > threshold_pct && (y - x).abs() >= resolution_us;
                    r.verdict = verdict(delta, ci, p_latency, beyond, true);
                }
                rows.push(r);
            }
            let rate = |ok: u64, w: f64| (w > 0.0).then(|| ok as f64 / w);
            let mut r = row("throughput", rate(a.ok, a.window_s), rate(b.ok, b.window_s), "%");
            if let Some((delta, ci, p)) = rate_change(a.ok, a.window_s, b.ok, b.window_s) {
                (r.delta, r.ci_low, r.ci_high, r.p_value) = (Some(delta), Some(ci.0), Some(ci.1), Some(p));
                r.verdict = verdict(delta, ci, p, delta.abs() > threshold_pct, false);
            }
            rows.push(r);
            let share = |x: u64, n: u64| (n > 0).then(|| 100.0 * x as f64 / n as f64);
            let (ta, tb) = (share(a.timeouts, a.requests), share(b.timeouts, b.requests));
            let mut r = row("timeout_rate", ta, tb, "pp");
            if let Some((delta, ci, p)) = proportion_change(a.timeouts, a.requests, b.timeouts, b.requests) {
                // The threshold is relative to the baseline's rate; from zero, any change is beyond it.
                let base = ta.unwrap_or(0.0);
                let beyond = if base > 0.0 { delta.abs() > base * threshold_pct / 100.0 } else { delta != 0.0 };
                (r.delta, r.ci_low, r.ci_high, r.p_value) = (Some(delta), Some(ci.0), Some(ci.1), Some(p));
                r.verdict = verdict(delta, ci, p, beyond, true);
            }
            rows.push(r);
        }
    }
    for cp in &candidate.report.points {
        if !baseline.report.points.iter().any(|b| key(&b.params) == key(&cp.params)) {
            notes.push(format!("point {} is only in the candidate", params_label(&cp.params)));
        }
    }
    if rows.is_empty() {
        bail!("the runs have no point in common (aligned by swept values), so there is nothing to compare");
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    Ok(Comparison {
        baseline: run_ref(baseline),
        candidate: run_ref(candidate),
        threshold_pct,
        resolution_ms: resolution_us / 1e3,
        resolution_source,
        alpha: ALPHA,
        scenario_differences: differences,
        notes,
        regressions: count(Verdict::Regressed),
        improvements: count(Verdict::Improved),
        rows,
    })
}
