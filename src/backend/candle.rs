//! The cloud backend: safetensors weights run by candle.
//!
//! The file holds weights only; its header metadata names the architecture,
//! so loading it executes no code (the seed's pickle problems cannot arise).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::SafeTensors;

use super::{check_rows, invalid, read, BackendError, Inference, ModelInfo};

const FORMAT: &str = "simrun-mlp-v1";
const ARCHITECTURE: &str = "linear-relu-linear-sigmoid";

/// Linear(in, hidden) → ReLU → Linear(hidden, 1) → Sigmoid, on the CPU.
pub struct CandleModel {
    /// Weights stored transposed once at load, so a forward pass is two matmuls.
    fc1_wt: Tensor,
    fc1_b: Tensor,
    fc2_wt: Tensor,
    fc2_b: Tensor,
    width: usize,
    info: ModelInfo,
}

fn meta_usize(path: &Path, meta: &HashMap<String, String>, key: &str) -> Result<usize, BackendError> {
    meta.get(key)
        .ok_or_else(|| invalid(path, format!("metadata has no {key:?}")))?
        .parse()
        .map_err(|_| invalid(path, format!("metadata {key:?} is not a whole number")))
}

impl CandleModel {
    pub fn load(path: &Path) -> Result<Self, BackendError> {
        let (bytes, sha256) = read(path)?;
        let bad = |m: String| invalid(path, m);
        let (_, header) =
            SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        // Check the data section too; read_metadata only reads the header.
        SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        match (meta.get("format").map(String::as_str), meta.get("architecture").map(String::as_str)) {
            (Some(FORMAT), Some(ARCHITECTURE)) => {}
            (f, a) => {
                return Err(bad(format!(
                    "metadata names format {f:?} and architecture {a:?}; expected {FORMAT:?} and {ARCHITECTURE:?}"
                )))
            }
        }
        let width = meta_usize(path, &meta, "input_dim")?;
        let hidden = meta_usize(path, &meta, "hidden_dim")?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| bad(e.to_string()))?;
        let take = |name: &str, shape: &[usize]| -> Result<Tensor, BackendError> {
            let t = tensors.get(name).ok_or_else(|| bad(format!("tensor {name:?} is missing")))?;
            if t.dims() != shape || t.dtype() != DType::F32 {
                return Err(bad(format!(
                    "tensor {name:?} is {:?} {:?}; the metadata implies F32 {shape:?}",
                    t.dtype(),
                    t.dims()
                )));
            }
            Ok(t.clone())
        };
        let transpose = |t: Tensor| t.t().and_then(|t| t.contiguous()).map_err(|e| bad(e.to_string()));
        let model = Self {
            fc1_wt: transpose(take("fc1.weight", &[hidden, width])?)?,
            fc1_b: take("fc1.bias", &[hidden])?,
            fc2_wt: transpose(take("fc2.weight", &[1, hidden])?)?,
            fc2_b: take("fc2.bias", &[1])?,
            width,
            info: ModelInfo {
                path: path.to_path_buf(),
                sha256,
                bytes: bytes.len() as u64,
                input_name: meta.get("input").cloned().unwrap_or_else(|| "features".into()),
                input_shape: vec!["batch".into(), width.to_string()],
                output_name: meta.get("output").cloned().unwrap_or_else(|| "probability".into()),
                output_shape: vec!["batch".into(), "1".into()],
            },
        };
        Ok(model)
    }

    fn forward(&self, features: &[f32], rows: usize) -> candle_core::Result<Vec<f32>> {
        let x = Tensor::from_slice(features, (rows, self.width), &Device::Cpu)?;
        let h = x.matmul(&self.fc1_wt)?.broadcast_add(&self.fc1_b)?.relu()?;
        let logit = h.matmul(&self.fc2_wt)?.broadcast_add(&self.fc2_b)?;
        let p = ((logit.neg()?.exp()? + 1.0)?).recip()?;
        p.flatten_all()?.to_vec1::<f32>()
    }
}

impl Inference for CandleModel {
    fn infer(&mut self, features: &[f32]) -> Result<Vec<f32>, BackendError> {
        let rows = check_rows(features, self.width)?;
        self.forward(features, rows).map_err(|e| BackendError::Infer(e.to_string()))
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }
}
