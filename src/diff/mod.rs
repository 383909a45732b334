//! `simrun diff`: two result folders in, a point-by-point comparison out,
//! with the repetition as the unit of replication.
//!
//! Points are aligned by their swept values; each tier is compared on p50,
//! p95, p99, throughput and timeout rate. Each repetition gives one value
//! per metric; the rank test and the hierarchical bootstrap of
//! `stats::compare` work on those values. The p-values are adjusted over all
//! rows (Holm), so `alpha` bounds the chance that an A/A diff flags anything
//! at all, not each row's. A change gets a verdict only when both sides have
//! the repetitions that adjusted p-value needs, it is significant, its
//! interval excludes zero and it is beyond the threshold.
//! With fewer repetitions the verdict is `?`: the change and its interval
//! are shown, but one run of a point cannot tell a change from the drift
//! between runs on one machine.

mod compare;
mod plot;
mod render;
mod scenarios;

use std::collections::BTreeMap;

use serde::Serialize;

pub use compare::{compare, holm, split_halves};
pub use plot::forest_plot;
pub use render::{render_json, render_markdown, render_markdown_with_plot, render_table};
pub use scenarios::{differences, scenario_differences};

use crate::export::{Repetitions, RunFolder};
use crate::plan::{params_label, Tier};
use crate::stats::compare::{compare as compare_metric, repetitions_needed, Metric, Repetition};

/// The default significance level.
pub const ALPHA: f64 = 0.05;
/// Resamples per bootstrap interval.
pub const BOOTSTRAP_ITERATIONS: usize = 2000;
/// Keys that may differ between comparable runs: where they ran and how they
/// were judged, not what was measured.
const PER_RUN_KEYS: [&str; 4] = ["broker.url", "output", "description", "slo"];
/// What the verdicts rest on, said once in every output.
pub const METHOD: &str = "two-sided Mann–Whitney U on the repetitions' values (exact), Holm-adjusted over the \
                          rows; 95 % interval from a hierarchical bootstrap (repetitions, then requests within each)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "improved")]
    Improved,
    #[serde(rename = "regressed")]
    Regressed,
    #[serde(rename = "~")]
    Same,
    /// Too few repetitions on a side for any verdict.
    #[serde(rename = "?")]
    Undecided,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::Same => "~",
            Verdict::Undecided => "?",
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
    pub metric: RowMetric,
    /// The median over repetitions (the pooled rate for `timeout_rate`).
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    /// Repetitions with a value on each side.
    pub baseline_repetitions: usize,
    pub candidate_repetitions: usize,
    /// Relative change in % (`pp`, percentage points, for the timeout rate).
    pub delta: Option<f64>,
    pub delta_unit: &'static str,
    /// 95 % interval of `delta`.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Two-sided Mann–Whitney U on the repetition values.
    pub p_value: Option<f64>,
    /// `p_value` after Holm's adjustment over every row of the comparison.
    pub p_adjusted: Option<f64>,
    pub verdict: Verdict,
    /// `~` although the test found a change: within the threshold, or (with
    /// `held_back`) beyond it but under the resolution. The forest plot marks
    /// such rows apart from the unchanged.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub significant: bool,
    /// A latency change beyond the threshold that the resolution held back to `~`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held_back: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRef {
    pub path: String,
    pub run_id: String,
    pub scenario: String,
    pub git_commit: String,
    pub host: String,
    pub executions_done: usize,
    pub executions_planned: usize,
    /// Which of its repetitions this side holds (`all`, or `even`/`odd` in a self-check).
    pub repetitions: String,
}

/// How rows are judged.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Changes within this many percent are `~` whatever their significance.
    pub threshold_pct: f64,
    pub alpha: f64,
    /// Latency changes smaller than this are `~`; by default three times how
    /// far the harness floor's median moved between and within the two runs
    /// (see `floor_movement_us`).
    pub resolution: Option<std::time::Duration>,
    /// Compare scenarios that differ in more than swept values.
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { threshold_pct: 5.0, alpha: ALPHA, resolution: None, force: false }
    }
}

/// The whole comparison, as every output format sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: RunRef,
    pub candidate: RunRef,
    /// A self-check: one run's even repetitions against its odd ones.
    pub self_check: bool,
    pub threshold_pct: f64,
    /// Latency changes smaller than this (ms) are `~`.
    pub resolution_ms: f64,
    /// Where the resolution came from.
    pub resolution_source: String,
    pub alpha: f64,
    /// Rows with a test: Holm's adjustment runs over this many.
    pub family: usize,
    /// Repetitions each side needs before a row's adjusted p-value can reach `alpha`.
    pub repetitions_needed: usize,
    pub method: &'static str,
    /// Scenario differences beyond swept values (only with `--force`).
    pub scenario_differences: Vec<String>,
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
    pub regressions: usize,
    pub improvements: usize,
    /// Rows with the verdict `?`.
    pub undecided: usize,
}

impl Comparison {
    /// The smallest and largest number of repetitions behind a row, per side.
    pub fn repetition_range(&self) -> ((usize, usize), (usize, usize)) {
        let range = |f: fn(&Row) -> usize| {
            let v = self.rows.iter().map(f);
            (v.clone().min().unwrap_or(0), v.max().unwrap_or(0))
        };
        (range(|r| r.baseline_repetitions), range(|r| r.candidate_repetitions))
    }
}

/// One side of a comparison: a run folder and the repetitions taken from it.
pub struct Side<'a> {
    pub folder: &'a RunFolder,
    pub repetitions: &'a Repetitions,
    /// `all`, or which half in a self-check (`even`, `odd`): anything but
    /// `all` makes the comparison a self-check of one run.
    pub which: &'static str,
}

fn run_ref(s: &Side) -> RunRef {
    let f = s.folder;
    let m = &f.report.manifest;
    RunRef {
        path: f.path.display().to_string(),
        run_id: m.run_id.clone(),
        scenario: m.scenario.clone(),
        git_commit: m.git_commit.clone(),
        host: m.host.hostname.clone(),
        executions_done: f.report.executions_done(),
        executions_planned: f.report.executions_planned,
        repetitions: s.which.to_string(),
    }
}

/// Why two runs cannot be compared as asked.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("--threshold must be a percentage of at least 0, got {0}")]
    Threshold(f64),
    #[error("--alpha must be between 0 and 1, got {0}")]
    Alpha(f64),
    /// A stored scenario that does not parse, naming both folders.
    #[error("{} or {}: {error}", .a.display(), .b.display())]
    Scenario { a: std::path::PathBuf, b: std::path::PathBuf, error: String },
    #[error(
        "the runs' scenarios differ in more than swept values, so their numbers are not comparable: {}. Use \
         --force to compare anyway.",
        .0.join("; ")
    )]
    Incomparable(Vec<String>),
    #[error("the runs have no point in common (aligned by swept values), so there is nothing to compare")]
    NothingInCommon,
}

/// What a row compares: a latency quantile (ms), the throughput (/s), the
/// timeout rate (%), and, when either run estimated them, the mean device
/// energy per request (mJ) and the cost per million requests. Written as
/// `p50`, `p95`, `p99`, `throughput`, `timeout_rate`, `energy_mean_mj`,
/// `cost_per_million`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowMetric {
    P50,
    P95,
    P99,
    Throughput,
    TimeoutRate,
    EnergyMeanMj,
    CostPerMillion,
}

impl RowMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            RowMetric::P50 => "p50",
            RowMetric::P95 => "p95",
            RowMetric::P99 => "p99",
            RowMetric::Throughput => "throughput",
            RowMetric::TimeoutRate => "timeout_rate",
            RowMetric::EnergyMeanMj => "energy_mean_mj",
            RowMetric::CostPerMillion => "cost_per_million",
        }
    }

    /// The per-repetition statistic behind the row.
    pub fn statistic(self) -> Metric {
        match self {
            RowMetric::P50 => Metric::Quantile(0.50),
            RowMetric::P95 => Metric::Quantile(0.95),
            RowMetric::P99 => Metric::Quantile(0.99),
            RowMetric::Throughput => Metric::Throughput,
            RowMetric::TimeoutRate => Metric::TimeoutRate,
            RowMetric::EnergyMeanMj => Metric::Energy,
            RowMetric::CostPerMillion => Metric::Cost,
        }
    }
}

impl std::fmt::Display for RowMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The metrics of every (point, tier), one row each.
pub const METRICS: [RowMetric; 5] =
    [RowMetric::P50, RowMetric::P95, RowMetric::P99, RowMetric::Throughput, RowMetric::TimeoutRate];
/// Rows a (point, tier) gains when either run has the figure.
pub const COSTING_METRICS: [RowMetric; 2] = [RowMetric::EnergyMeanMj, RowMetric::CostPerMillion];
