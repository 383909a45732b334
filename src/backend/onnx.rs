//! The edge backend: an ONNX model run by ONNX Runtime through `ort`.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;

use super::{check_rows, invalid, ortlib, read, BackendError, Inference, ModelInfo};

/// An ONNX model with one float input `[batch, width]` and one float output `[batch, 1]`.
pub struct OnnxModel {
    session: Session,
    width: usize,
    info: ModelInfo,
}

fn dims(shape: &[i64], symbolic: &[String]) -> Vec<String> {
    shape
        .iter()
        .enumerate()
        .map(|(i, d)| match (*d, symbolic.get(i)) {
            (d, _) if d >= 0 => d.to_string(),
            (_, Some(name)) if !name.is_empty() => name.clone(),
            _ => "?".into(),
        })
        .collect()
}

impl OnnxModel {
    pub fn load(path: &Path) -> Result<Self, BackendError> {
        let (bytes, sha256) = read(path)?;
        let env = ortlib::environment()?;
        let fail = |e: &dyn std::fmt::Display| invalid(path, e.to_string());
        let session = Session::builder(env)
            .map_err(|e| fail(&e))?
            // One sample at a time: ONNX Runtime's thread pools only add wake-up latency.
            .with_intra_threads(1)
            .map_err(|e| fail(&e))?
            .with_inter_threads(1)
            .map_err(|e| fail(&e))?
            .commit_from_memory(&bytes)
            .map_err(|e| fail(&e))?;
        let (input, output) = match (session.inputs(), session.outputs()) {
            ([input], [output]) => (input, output),
            (i, o) => {
                return Err(invalid(
                    path,
                    format!("expected one input and one output, found {} and {}", i.len(), o.len()),
                ))
            }
        };
        let shape_of = |outlet: &ort::value::Outlet| -> Result<Vec<String>, BackendError> {
            match outlet.dtype() {
                ort::value::ValueType::Tensor {
                    ty: ort::value::TensorElementType::Float32,
                    shape,
                    dimension_symbols,
                } => {
                    let names: Vec<String> = dimension_symbols.iter().map(|s| s.to_string()).collect();
                    Ok(dims(shape, &names))
                }
                other => Err(invalid(path, format!("{}: expected a float32 tensor, found {other}", outlet.name()))),
            }
        };
        let input_shape = shape_of(input)?;
        let output_shape = shape_of(output)?;
        let width = match input_shape.as_slice() {
            [_, w] => w.parse::<usize>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            invalid(path, format!("input {}: expected shape [batch, width], found {input_shape:?}", input.name()))
        })?;
        let info = ModelInfo {
            path: path.to_path_buf(),
            sha256,
            bytes: bytes.len() as u64,
            input_name: input.name().to_string(),
            input_shape,
            output_name: output.name().to_string(),
            output_shape,
        };
        Ok(Self { session, width, info })
    }
}

impl Inference for OnnxModel {
    fn infer(&mut self, features: &[f32]) -> Result<Vec<f32>, BackendError> {
        let rows = check_rows(features, self.width)?;
        let input = TensorRef::from_array_view(([rows, self.width], features))
            .map_err(|e| BackendError::Infer(e.to_string()))?;
        let outputs = self.session.run(ort::inputs![input]).map_err(|e| BackendError::Infer(e.to_string()))?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| BackendError::Infer(e.to_string()))?;
        if data.len() != rows {
            return Err(BackendError::Infer(format!("expected {rows} outputs, got {}", data.len())));
        }
        Ok(data.to_vec())
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }
}
