//! The edge backend: an ONNX model run by ONNX Runtime through `ort`.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;

use super::{check_rows, invalid, ortlib, read, sample_shape, BackendError, Inference, ModelInfo};

/// An ONNX model with one float32 input `[batch, ...]` and one float32 output `[batch, ...]`.
pub struct OnnxModel {
    session: Session,
    info: ModelInfo,
}

/// The declared dimensions, as shown (`"batch"`, `"32"`) and as sizes (`None` when symbolic).
fn dims(shape: &[i64], symbolic: &[String]) -> (Vec<String>, Vec<Option<usize>>) {
    shape
        .iter()
        .enumerate()
        .map(|(i, d)| match (*d, symbolic.get(i)) {
            (d, _) if d >= 0 => (d.to_string(), Some(d as usize)),
            (_, Some(name)) if !name.is_empty() => (name.clone(), None),
            _ => ("?".into(), None),
        })
        .unzip()
}

impl OnnxModel {
    /// Loads with one intra-op thread.
    pub fn load(path: &Path) -> Result<Self, BackendError> {
        Self::load_threads(path, 1)
    }

    /// Loads with `threads` intra-op threads (`compute.threads`). They do not
    /// spin between calls: a spinning pool would take the CPU the broker,
    /// the links and the devices of the same run need.
    pub fn load_threads(path: &Path, threads: usize) -> Result<Self, BackendError> {
        let (bytes, sha256) = read(path)?;
        let env = ortlib::environment()?;
        let fail = |e: &dyn std::fmt::Display| invalid(path, e.to_string());
        let session = Session::builder(env)
            .map_err(|e| fail(&e))?
            // One thread unless asked: for one sample, ONNX Runtime's thread pools only add wake-up latency.
            .with_intra_threads(threads.max(1))
            .map_err(|e| fail(&e))?
            .with_intra_op_spinning(false)
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
        let shape_of = |what: &str, outlet: &ort::value::Outlet| {
            let what = format!("{what} `{}`", outlet.name());
            match outlet.dtype() {
                ort::value::ValueType::Tensor {
                    ty: ort::value::TensorElementType::Float32,
                    shape,
                    dimension_symbols,
                } => {
                    let names: Vec<String> = dimension_symbols.iter().map(|s| s.to_string()).collect();
                    let (shown, sizes) = dims(shape, &names);
                    let (sample, one) =
                        sample_shape(&what, &sizes, &shown).map_err(|e| invalid(path, e.to_string()))?;
                    Ok((shown, sample, one))
                }
                other => Err(invalid(path, format!("{what} is {other}; simrun runs float32 inputs and outputs only"))),
            }
        };
        let (input_shape, sample_dims, batch_of_one) = shape_of("input", input)?;
        let (output_shape, output_dims, _) = shape_of("output", output)?;
        let info = ModelInfo {
            path: path.to_path_buf(),
            sha256,
            bytes: bytes.len() as u64,
            input_name: input.name().to_string(),
            input_shape,
            output_name: output.name().to_string(),
            output_shape,
            sample_dims,
            output_len: output_dims.iter().product(),
            batch_of_one,
        };
        Ok(Self { session, info })
    }

    /// One call of the model on `rows` samples.
    fn call(&mut self, input: &[f32], rows: usize, out: &mut Vec<f32>) -> Result<(), BackendError> {
        let infer = |e: ort::Error| BackendError::Infer(e.to_string());
        let mut shape = Vec::with_capacity(self.info.sample_dims.len() + 1);
        shape.push(rows);
        shape.extend_from_slice(&self.info.sample_dims);
        let tensor = TensorRef::from_array_view((shape, input)).map_err(infer)?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(infer)?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(infer)?;
        if data.len() != rows * self.info.output_len {
            return Err(BackendError::Infer(format!(
                "expected {} outputs, got {}",
                rows * self.info.output_len,
                data.len()
            )));
        }
        out.extend_from_slice(data);
        Ok(())
    }
}

impl Inference for OnnxModel {
    fn infer(&mut self, input: &[f32]) -> Result<Vec<f32>, BackendError> {
        let len = self.info.input_len();
        let rows = check_rows(input, len)?;
        let mut out = Vec::with_capacity(rows * self.info.output_len);
        if self.info.batch_of_one {
            for sample in input.chunks_exact(len) {
                self.call(sample, 1, &mut out)?;
            }
        } else {
            self.call(input, rows, &mut out)?;
        }
        Ok(out)
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }
}

/// A tensor a model computed: its name, its shape for the input it ran on,
/// and whether it holds float32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub name: String,
    pub shape: Vec<usize>,
    pub float32: bool,
}

/// Runs the ONNX model in `bytes` (read from `path`) once on `input`, shaped
/// `shape`, and gives the shape of each of its outputs. With every tensor
/// of a graph made an output, this is how `partition` learns the shapes a
/// graph's `value_info` may not declare.
pub fn computed_shapes(
    path: &Path,
    bytes: &[u8],
    (shape, input): (&[usize], &[f32]),
) -> Result<Vec<Computed>, BackendError> {
    let env = ortlib::environment()?;
    let fail = |e: &dyn std::fmt::Display| invalid(path, e.to_string());
    let session = Session::builder(env)
        .map_err(|e| fail(&e))?
        .with_intra_threads(1)
        .map_err(|e| fail(&e))?
        .with_intra_op_spinning(false)
        .map_err(|e| fail(&e))?
        .commit_from_memory(bytes)
        .map_err(|e| fail(&e))?;
    let mut session = session;
    let infer = |e: ort::Error| BackendError::Infer(e.to_string());
    let tensor = TensorRef::from_array_view((shape.to_vec(), input)).map_err(infer)?;
    let outputs = session.run(ort::inputs![tensor]).map_err(infer)?;
    let mut computed = Vec::with_capacity(outputs.len());
    for (name, value) in outputs.iter() {
        let (shape, float32) = match value.dtype() {
            ort::value::ValueType::Tensor { ty, shape, .. } => {
                (shape.iter().map(|d| (*d).max(0) as usize).collect(), *ty == ort::value::TensorElementType::Float32)
            }
            _ => (Vec::new(), false),
        };
        computed.push(Computed { name: name.to_string(), shape, float32 });
    }
    Ok(computed)
}
