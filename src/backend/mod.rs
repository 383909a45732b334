//! Inference backends behind one trait: ONNX Runtime for `.onnx` files,
//! candle for `.safetensors` files, at either tier.

mod candle;
mod onnx;
mod ortlib;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use self::candle::CandleModel;
pub use self::onnx::OnnxModel;
pub use self::ortlib::{onnxruntime_library, onnxruntime_version};

/// Loading or running a model failed.
#[derive(Debug, Error)]
pub enum BackendError {
    #[error("cannot read model {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid model {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("ONNX Runtime library: {0}")]
    Runtime(String),
    #[error("inference failed: {0}")]
    Infer(String),
}

/// What the report says about a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub input_name: String,
    pub input_shape: Vec<String>,
    pub output_name: String,
    pub output_shape: Vec<String>,
}

impl ModelInfo {
    /// The width of one feature vector.
    pub fn input_width(&self) -> Option<usize> {
        self.input_shape.last().and_then(|d| d.parse().ok())
    }
}

/// One loaded model, ready to score feature vectors. Not shared between threads:
/// each worker loads its own.
pub trait Inference: Send {
    /// The anomaly probability of each row of `features` (row-major, `width` columns).
    fn infer(&mut self, features: &[f32]) -> Result<Vec<f32>, BackendError>;
    fn info(&self) -> &ModelInfo;
}

/// The runtimes simrun runs models in, by file extension.
pub const RUNTIMES: [(&str, &str); 2] = [("onnx", "ONNX Runtime"), ("safetensors", "candle")];

/// The runtime that runs the model at `path`, by its extension.
pub fn runtime_of(path: &Path) -> Option<&'static str> {
    let ext = path.extension().and_then(|e| e.to_str())?;
    RUNTIMES.iter().find(|(e, _)| *e == ext).map(|(_, runtime)| *runtime)
}

/// Loads a model in the runtime its file calls for, whichever tier serves it.
pub fn load(path: &Path) -> Result<Box<dyn Inference>, BackendError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => Ok(Box::new(OnnxModel::load(path)?)),
        Some("safetensors") => Ok(Box::new(CandleModel::load(path)?)),
        _ => Err(invalid(path, "simrun runs .onnx (ONNX Runtime) and .safetensors (candle) models")),
    }
}

fn read(path: &Path) -> Result<(Vec<u8>, String), BackendError> {
    let bytes = std::fs::read(path).map_err(|source| BackendError::Read { path: path.into(), source })?;
    let hex = crate::digest::sha256_hex(&bytes);
    Ok((bytes, hex))
}

fn invalid(path: &Path, message: impl Into<String>) -> BackendError {
    BackendError::Invalid { path: path.into(), message: message.into() }
}

/// Fails unless `features` is a whole number of rows of `width`.
fn check_rows(features: &[f32], width: usize) -> Result<usize, BackendError> {
    if features.is_empty() || width == 0 || !features.len().is_multiple_of(width) {
        return Err(BackendError::Infer(format!("{} values do not make rows of {width}", features.len())));
    }
    Ok(features.len() / width)
}
