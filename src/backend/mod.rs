//! Inference backends behind one trait: ONNX Runtime for `.onnx` files,
//! candle for `.safetensors` files, at either tier.

mod candle;
mod onnx;
mod ortlib;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use self::candle::CandleModel;
pub use self::onnx::{computed_shapes, Computed, OnnxModel};
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

/// What the report says about a model, and the shapes it runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub input_name: String,
    /// As the model declares it, batch first (`["batch", "32"]`).
    pub input_shape: Vec<String>,
    pub output_name: String,
    pub output_shape: Vec<String>,
    /// One sample's input dimensions, without the batch (`[3, 96, 96]`).
    pub sample_dims: Vec<usize>,
    /// Values in one sample's output.
    pub output_len: usize,
    /// The batch dimension is fixed at 1: one sample per call.
    pub batch_of_one: bool,
}

impl ModelInfo {
    /// Values in one sample's input.
    pub fn input_len(&self) -> usize {
        self.sample_dims.iter().product()
    }
}

/// One loaded model, ready to run samples. Not shared between threads:
/// each worker loads its own.
pub trait Inference: Send {
    /// The outputs of each sample in `input` (row-major, `info().input_len()`
    /// values a sample): `info().output_len()` values a sample, in order.
    fn infer(&mut self, input: &[f32]) -> Result<Vec<f32>, BackendError>;
    fn info(&self) -> &ModelInfo;
}

/// A model's declared shape that simrun cannot feed.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{0}")]
struct ShapeError(String);

/// The shape of a sample beyond the batch, from a model's declared shape
/// (`None` for a symbolic dimension): the batch must be symbolic or 1, every
/// other dimension fixed. Returns the sample's dimensions and whether the
/// batch is fixed at 1.
fn sample_shape(what: &str, dims: &[Option<usize>], declared: &[String]) -> Result<(Vec<usize>, bool), ShapeError> {
    let shown = || format!("[{}]", declared.join(", "));
    let Some((batch, rest)) = dims.split_first() else {
        return Err(ShapeError(format!("{what} is a scalar; simrun needs a batch dimension first")));
    };
    let batch_of_one = match batch {
        None => false,
        Some(1) => true,
        Some(n) => {
            return Err(ShapeError(format!(
                "{what} {}: batch dimension fixed at {n}; simrun runs a symbolic batch or a batch of 1",
                shown()
            )))
        }
    };
    let mut sample = Vec::with_capacity(rest.len());
    for (i, d) in rest.iter().enumerate() {
        match d {
            Some(n) if *n > 0 => sample.push(*n),
            _ => {
                return Err(ShapeError(format!(
                    "{what} {}: dimension {} is not a fixed size; simrun needs every dimension but the batch fixed",
                    shown(),
                    i + 1
                )))
            }
        }
    }
    Ok((sample, batch_of_one))
}

/// The threads candle's matrix products use: RAYON_NUM_THREADS, for the
/// whole process (simrun sets 1 unless told otherwise).
pub fn candle_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Why the model at `path` cannot run with `threads` intra-op threads, if
/// it cannot: candle's are the process's, and `instead` is the option asked.
pub fn threads_refused(path: &Path, threads: u32, instead: &str) -> Option<String> {
    let process = candle_threads();
    (runtime_of(path) == Some("candle") && threads as usize != process).then(|| {
        format!(
            "candle takes its threads from RAYON_NUM_THREADS for the whole process ({process} now); \
             run with RAYON_NUM_THREADS={threads} instead of {instead}"
        )
    })
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
    load_threads(path, 1)
}

/// Loads a model with `threads` intra-op threads: ONNX Runtime's own; candle
/// uses RAYON_NUM_THREADS for the whole process (`candle_threads`) whatever
/// `threads` says.
pub fn load_threads(path: &Path, threads: u32) -> Result<Box<dyn Inference>, BackendError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => Ok(Box::new(OnnxModel::load_threads(path, threads as usize)?)),
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

/// Fails unless `input` is a whole number of samples of `len` values.
fn check_rows(input: &[f32], len: usize) -> Result<usize, BackendError> {
    if input.is_empty() || len == 0 || !input.len().is_multiple_of(len) {
        return Err(BackendError::Infer(format!("{} values do not make samples of {len}", input.len())));
    }
    Ok(input.len() / len)
}

#[cfg(test)]
mod tests {
    use super::sample_shape;

    fn shape(dims: &[Option<usize>]) -> Result<(Vec<usize>, bool), super::ShapeError> {
        let declared: Vec<String> = dims.iter().map(|d| d.map_or("n".into(), |n| n.to_string())).collect();
        sample_shape("input x", dims, &declared)
    }

    #[test]
    fn a_sample_is_every_dimension_after_a_symbolic_or_unit_batch() {
        assert_eq!(shape(&[None, Some(32)]), Ok((vec![32], false)));
        assert_eq!(shape(&[Some(1), Some(3), Some(96), Some(96)]), Ok((vec![3, 96, 96], true)));
        assert_eq!(shape(&[None]), Ok((vec![], false)));
        assert!(shape(&[]).unwrap_err().0.contains("scalar"));
        assert!(shape(&[Some(8), Some(4)]).unwrap_err().0.contains("input x [8, 4]: batch dimension fixed at 8"));
        assert!(shape(&[None, None, Some(4)]).unwrap_err().0.contains("[n, n, 4]: dimension 1 is not a fixed size"));
    }
}
