//! The Report: summaries, model checks, warnings and the manifest of a run.

mod env;

use serde::Serialize;

pub use env::HostInfo;

use crate::plan::Tier;
use crate::stats::{LinkFidelity, Summary};

/// simrun's own version and build.
pub const SIMRUN_VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_COMMIT: &str = env!("SIMRUN_GIT_COMMIT");
pub const CANDLE_VERSION: &str = env!("SIMRUN_CANDLE_VERSION");
pub const ORT_CRATE_VERSION: &str = env!("SIMRUN_ORT_CRATE_VERSION");
pub const RUMQTTC_VERSION: &str = env!("SIMRUN_RUMQTTC_VERSION");

/// One model as the manifest records it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelRecord {
    pub tier: Tier,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub input: String,
    pub input_shape: Vec<String>,
    pub output: String,
    pub output_shape: Vec<String>,
    /// The model's answer to the fixed validation input (every feature 0.5).
    pub test_probability: f32,
}

/// Everything needed to know what ran, where and with what (`manifest.json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Manifest {
    pub simrun_version: String,
    pub git_commit: String,
    pub run_id: String,
    pub scenario: String,
    pub scenario_file: String,
    pub command: String,
    pub seed: u64,
    pub repetitions: u32,
    pub host: HostInfo,
    pub broker_url: String,
    pub broker_version: Option<String>,
    pub onnxruntime_version: String,
    pub onnxruntime_library: String,
    pub ort_crate_version: String,
    pub candle_version: String,
    pub rumqttc_version: String,
    /// RAYON_NUM_THREADS as the cloud backend saw it.
    pub rayon_num_threads: Option<String>,
    pub models: Vec<ModelRecord>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub wall_time_s: Option<f64>,
    /// Sum of warmup + measured durations over all point executions.
    pub scheduled_time_s: f64,
}

/// Edge and cloud answering the same inputs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Parity {
    /// Largest |edge − cloud| over seeded random inputs at validation.
    pub max_abs_diff: f32,
    pub inputs: usize,
    /// Largest |edge − cloud| over requests both tiers answered during the run.
    pub live_max_abs_diff: Option<f32>,
    pub live_pairs: u64,
}

/// A sweep point as the report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PointRow {
    pub index: usize,
    pub params: Vec<(String, String)>,
}

/// The whole run, as the exporters see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub manifest: Manifest,
    pub description: String,
    pub swept_keys: Vec<String>,
    pub points: Vec<PointRow>,
    pub summaries: Vec<Summary>,
    /// Each link direction at each point execution.
    pub links: Vec<LinkFidelity>,
    pub parity: Option<Parity>,
    pub warnings: Vec<String>,
    /// Point executions finished out of those planned.
    pub executions_done: usize,
    pub executions_planned: usize,
    /// Unknown and duplicate responses over the run (never matched).
    pub unknown_responses: u64,
    pub duplicate_responses: u64,
}

impl Report {
    pub fn complete(&self) -> bool {
        self.executions_done == self.executions_planned
    }

    /// The summary of `tier` at `point`, repetition `rep`.
    /// Names of the links that ran at any point, in first-seen order.
    pub fn link_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for l in &self.links {
            if !names.contains(&l.link) {
                names.push(l.link.clone());
            }
        }
        names
    }

    pub fn summary(&self, point: usize, rep: u32, tier: Tier) -> Option<&Summary> {
        self.summaries.iter().find(|s| s.point == point && s.repetition == rep && s.tier == tier)
    }

    /// Warnings derived from the numbers, plus those the run recorded.
    pub fn all_warnings(&self) -> Vec<String> {
        let mut out = self.warnings.clone();
        for s in &self.summaries {
            let where_ = format!("point {} rep {} {}", s.point, s.repetition, s.tier);
            if s.timeouts > 0 {
                out.push(format!("{where_}: {} of {} requests timed out", s.timeouts, s.requests));
            }
            if s.errors > 0 {
                out.push(format!("{where_}: {} of {} requests ended in an error", s.errors, s.requests));
            }
            if s.rejected > 0 {
                out.push(format!("{where_}: workers rejected {} malformed requests", s.rejected));
            }
        }
        for l in &self.links {
            out.extend(l.warnings());
        }
        if self.unknown_responses > 0 {
            out.push(format!("{} responses matched no request of this run (ignored)", self.unknown_responses));
        }
        if self.duplicate_responses > 0 {
            out.push(format!("{} duplicate responses (ignored)", self.duplicate_responses));
        }
        if let Some(p) = self.parity {
            if p.max_abs_diff > 1e-5 || p.live_max_abs_diff.is_some_and(|d| d > 1e-5) {
                out.push(format!(
                    "edge and cloud disagree by more than 1e-5 (validation {:.2e}, live {:?})",
                    p.max_abs_diff, p.live_max_abs_diff
                ));
            }
        }
        if !self.complete() {
            out.push(format!(
                "partial run: {} of {} point executions finished",
                self.executions_done, self.executions_planned
            ));
        }
        out
    }
}
