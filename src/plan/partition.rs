//! `placement: partition`: one ONNX model split between the tiers
//! (docs/partition.md).

use std::path::PathBuf;

/// The model and where it is cut (`partition.model`, `partition.at`).
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionConfig {
    pub model: PathBuf,
    /// A tensor the model computes, `input` (all in the cloud) or `output` (all on the edge).
    pub at: String,
    /// What the preflight made of the cut: set before anything runs.
    pub parts: Option<Parts>,
}

/// A cut's two models, as the preflight wrote them, and what the edge sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// The head (run on the edge) and the tail (in the cloud); `None` for
    /// `input` and `output`, where one side runs the whole model.
    pub models: Option<(PathBuf, PathBuf)>,
    /// One sample's intermediate tensor, without the batch dimension.
    pub shape: Vec<usize>,
}

impl PartitionConfig {
    /// Everything runs in the cloud: the edge forwards the input as it came.
    pub fn all_cloud(&self) -> bool {
        self.at == "input"
    }

    /// Everything runs on the edge, which answers the device.
    pub fn all_edge(&self) -> bool {
        self.at == "output"
    }

    /// The model a tier's workers load: the head or the tail, or the whole
    /// model where one side runs it all.
    pub fn model_of(&self, tier: super::Tier) -> PathBuf {
        match (self.parts.as_ref().and_then(|p| p.models.as_ref()), tier) {
            (Some((head, _)), super::Tier::Edge) => head.clone(),
            (Some((_, tail)), super::Tier::Cloud) => tail.clone(),
            _ => self.model.clone(),
        }
    }
}
