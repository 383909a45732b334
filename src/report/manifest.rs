//! The manifest: what ran, where and with what (`manifest.json`, and the
//! head of `results.json`), with the models, shards and parity it records.

use serde::{Deserialize, Serialize};

use super::HostInfo;
use crate::plan::Tier;

/// simrun's own version and build.
pub const SIMRUN_VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_COMMIT: &str = env!("SIMRUN_GIT_COMMIT");
pub const CANDLE_VERSION: &str = env!("SIMRUN_CANDLE_VERSION");
pub const ORT_CRATE_VERSION: &str = env!("SIMRUN_ORT_CRATE_VERSION");
pub const RUMQTTC_VERSION: &str = env!("SIMRUN_RUMQTTC_VERSION");

/// One model as the manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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
    /// simrun started the broker itself for this run (`broker.url: auto`)
    /// with `set_tcp_nodelay true`, and stopped it at the end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broker_managed: bool,
    pub onnxruntime_version: String,
    pub onnxruntime_library: String,
    pub ort_crate_version: String,
    pub candle_version: String,
    pub rumqttc_version: String,
    /// RAYON_NUM_THREADS as the cloud backend saw it.
    pub rayon_num_threads: Option<String>,
    /// How each tier computes where it differs from this host serving one
    /// request at a time (`compute`, `batching`), one line per distinct setting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compute: Vec<String>,
    pub models: Vec<ModelRecord>,
    /// What the devices sent at the first point (`InputConfig::describe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub wall_time_s: Option<f64>,
    /// The harness floor before and after the sweep.
    #[serde(flatten)]
    pub floor: FloorFigures,
    /// Sum of warmup + measured durations over all point executions.
    pub scheduled_time_s: f64,
    /// What the run kept from one point to the next instead of setting it
    /// up again (`run::shelf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<Reuse>,
    /// The shard of the plan this run covered, as `I/N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Each time the run stopped before its end and was resumed: what stopped it, and when it resumed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interruptions: Vec<String>,
    /// For a merged run: the shards, in shard order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedShard>,
    /// The `simrun worker` and `simrun devices` processes of remote pools
    /// that took part in this run, as each announced itself (host, versions,
    /// model, what it served).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_workers: Vec<crate::record::RemoteMember>,
}

/// Loaded models kept across a run's points: each start of a local worker
/// took a model, loaded anew (`models_loaded`) or left by an earlier point's
/// worker (`models_reused`). Devices, links and the workers' connections are
/// set up anew at every point.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Reuse {
    pub models_loaded: u64,
    pub models_reused: u64,
}

impl Reuse {
    /// Two sessions' or shards' counts together.
    pub fn plus(self, other: Reuse) -> Reuse {
        Reuse {
            models_loaded: self.models_loaded + other.models_loaded,
            models_reused: self.models_reused + other.models_reused,
        }
    }
}

/// One shard of a merged run, with the harness floor it measured for itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct MergedShard {
    pub run_id: String,
    pub shard: Option<String>,
    /// The harness floor the shard measured for itself.
    #[serde(flatten)]
    pub floor: FloorFigures,
}

/// The harness floor of a run (or a shard): a plain echo through the
/// broker, round trip in µs, before the sweep and again after it. Written
/// as fields of the record that holds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct FloorFigures {
    /// The harness floor: a plain echo through the broker, round trip in µs.
    pub floor_p50_us: Option<u64>,
    pub floor_p99_us: Option<u64>,
    /// The harness floor's p99 measured again after the sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_after_p99_us: Option<u64>,
    /// The harness floor's median measured again after the sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_after_p50_us: Option<u64>,
}

impl FloorFigures {
    /// The medians measured, before and after.
    pub fn medians(&self) -> impl Iterator<Item = u64> {
        [self.floor_p50_us, self.floor_after_p50_us].into_iter().flatten()
    }
}

/// Edge and cloud answering the same inputs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Parity {
    /// Largest |edge − cloud| over seeded random inputs at validation.
    pub max_abs_diff: f32,
    pub inputs: usize,
    /// Largest |edge − cloud| over requests both tiers answered during the run.
    pub live_max_abs_diff: Option<f32>,
    pub live_pairs: u64,
}
