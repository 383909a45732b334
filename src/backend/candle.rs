//! Safetensors models run by candle: a family of dense networks.
//!
//! The file holds weights only; its header metadata lists the layers, so
//! loading it executes no code (the seed's pickle problems cannot arise).
//! `docs/models.md` describes the family; `simrun-mlp-v1` files (the
//! anomaly detector) are read as the two-layer member they are.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::SafeTensors;
use serde::Deserialize;

use super::{check_rows, invalid, read, BackendError, Inference, ModelInfo};

/// The format of a list of dense layers in the metadata.
pub const DENSE: &str = "simrun-dense-v1";
/// The seed's fixed MLP: Linear → ReLU → Linear → Sigmoid.
const MLP: &str = "simrun-mlp-v1";
const MLP_ARCHITECTURE: &str = "linear-relu-linear-sigmoid";

/// What follows a layer's affine map.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    None,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

/// One layer as the metadata lists it: `weight` is `[out, in]` (as torch
/// stores it), `bias` `[out]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerSpec {
    weight: String,
    #[serde(default)]
    bias: Option<String>,
    activation: Activation,
}

struct Layer {
    /// Stored transposed once at load, `[in, out]`, so a layer is one matmul.
    weight_t: Tensor,
    bias: Option<Tensor>,
    activation: Activation,
}

/// A stack of dense layers on the CPU.
pub struct CandleModel {
    layers: Vec<Layer>,
    info: ModelInfo,
}

/// A file outside the family, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
struct NotInFamily(String);

fn layers_of(meta: &HashMap<String, String>) -> Result<Vec<LayerSpec>, NotInFamily> {
    let no = |m: String| NotInFamily(m);
    let format = meta.get("format").map(String::as_str);
    match format {
        Some(DENSE) => {
            let text = meta.get("layers").ok_or_else(|| no("metadata has no \"layers\"".into()))?;
            let layers: Vec<LayerSpec> = serde_json::from_str(text).map_err(|e| {
                no(format!(
                    "metadata \"layers\" is not a list of {{weight, bias, activation}} \
                     (activation none, relu, sigmoid, tanh or softmax): {e}"
                ))
            })?;
            if layers.is_empty() {
                return Err(no("metadata \"layers\" is empty".into()));
            }
            Ok(layers)
        }
        Some(MLP) if meta.get("architecture").map(String::as_str) == Some(MLP_ARCHITECTURE) => {
            let layer = |name: &str, activation| LayerSpec {
                weight: format!("{name}.weight"),
                bias: Some(format!("{name}.bias")),
                activation,
            };
            Ok(vec![layer("fc1", Activation::Relu), layer("fc2", Activation::Sigmoid)])
        }
        other => Err(no(format!(
            "metadata names {}{}; simrun runs the dense-layer family {DENSE:?} \
             (layers listed in the metadata, see docs/models.md) and {MLP:?} ({MLP_ARCHITECTURE})",
            other.map_or("no format".to_string(), |f| format!("format {f:?}")),
            meta.get("architecture").map(|a| format!(" and architecture {a:?}")).unwrap_or_default()
        ))),
    }
}

/// What the file holds, for an error about it: `fc1.weight F32 [16, 32], …`.
fn contents(tensors: &HashMap<String, Tensor>) -> String {
    let mut names: Vec<_> = tensors.iter().map(|(n, t)| format!("{n} {:?} {:?}", t.dtype(), t.dims())).collect();
    names.sort();
    let shown = names.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
    match names.len() {
        0 => "no tensors".into(),
        n if n > 8 => format!("{n} tensors: {shown}, …"),
        _ => shown,
    }
}

/// The family's layers, named by `specs`, from `tensors`: each weight
/// F32 `[out, in]` taking the previous layer's width, each bias `[out]`.
fn build_layers(
    path: &Path,
    specs: &[LayerSpec],
    tensors: &HashMap<String, Tensor>,
) -> Result<Vec<Layer>, BackendError> {
    let bad = |m: String| invalid(path, m);
    let mut layers = Vec::with_capacity(specs.len());
    let mut width: Option<usize> = None;
    for (i, spec) in specs.iter().enumerate() {
        let get = |name: &str| -> Result<&Tensor, BackendError> {
            let t = tensors.get(name).ok_or_else(|| {
                bad(format!("layer {i}: tensor {name:?} is missing; the file holds {}", contents(tensors)))
            })?;
            if t.dtype() != DType::F32 {
                return Err(bad(format!("layer {i}: tensor {name:?} is {:?}; the family is F32", t.dtype())));
            }
            Ok(t)
        };
        let w = get(&spec.weight)?;
        let (out, inp) = match w.dims() {
            [out, inp] => (*out, *inp),
            d => return Err(bad(format!("layer {i}: weight {:?} is {d:?}; expected [out, in]", spec.weight))),
        };
        if let Some(prev) = width.filter(|p| *p != inp) {
            return Err(bad(format!(
                "layer {i}: weight {:?} takes {inp} inputs but layer {} gives {prev}",
                spec.weight,
                i - 1
            )));
        }
        let bias = match &spec.bias {
            Some(name) => {
                let b = get(name)?;
                if b.dims() != [out] {
                    return Err(bad(format!("layer {i}: bias {name:?} is {:?}; expected [{out}]", b.dims())));
                }
                Some(b.clone())
            }
            None => None,
        };
        let weight_t = w.t().and_then(|t| t.contiguous()).map_err(|e| bad(e.to_string()))?;
        width = Some(out);
        layers.push(Layer { weight_t, bias, activation: spec.activation });
    }
    Ok(layers)
}

/// One sample's shape: the metadata's `input_shape` when it holds the first
/// layer's inputs, else a flat vector of them.
fn sample_dims(path: &Path, meta: &HashMap<String, String>, first_in: usize) -> Result<Vec<usize>, BackendError> {
    let bad = |m: String| invalid(path, m);
    match meta.get("input_shape") {
        Some(text) => {
            let dims: Vec<usize> = serde_json::from_str(text)
                .map_err(|_| bad(format!("metadata \"input_shape\" {text:?} is not a list of sizes")))?;
            if dims.iter().product::<usize>() != first_in || dims.contains(&0) {
                return Err(bad(format!(
                    "metadata \"input_shape\" {dims:?} does not hold the first layer's {first_in} inputs"
                )));
            }
            Ok(dims)
        }
        None => Ok(vec![first_in]),
    }
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
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| bad(e.to_string()))?;
        let specs = layers_of(&meta).map_err(|e| bad(format!("{e}; the file holds {}", contents(&tensors))))?;
        let layers = build_layers(path, &specs, &tensors)?;
        let first_in = layers[0].weight_t.dims()[0];
        let sample_dims = sample_dims(path, &meta, first_in)?;
        let output_len = layers.last().map_or(0, |l| l.weight_t.dims()[1]);
        let mut input_shape = vec!["batch".to_string()];
        input_shape.extend(sample_dims.iter().map(usize::to_string));
        let info = ModelInfo {
            path: path.to_path_buf(),
            sha256,
            bytes: bytes.len() as u64,
            input_name: meta.get("input").cloned().unwrap_or_else(|| "input".into()),
            input_shape,
            output_name: meta.get("output").cloned().unwrap_or_else(|| "output".into()),
            output_shape: vec!["batch".into(), output_len.to_string()],
            sample_dims,
            output_len,
            batch_of_one: false,
        };
        Ok(Self { layers, info })
    }

    fn forward(&self, input: &[f32], rows: usize) -> candle_core::Result<Vec<f32>> {
        let mut x = Tensor::from_slice(input, (rows, self.info.input_len()), &Device::Cpu)?;
        for layer in &self.layers {
            x = x.matmul(&layer.weight_t)?;
            if let Some(b) = &layer.bias {
                x = x.broadcast_add(b)?;
            }
            x = match layer.activation {
                Activation::None => x,
                Activation::Relu => x.relu()?,
                Activation::Sigmoid => ((x.neg()?.exp()? + 1.0)?).recip()?,
                Activation::Tanh => x.tanh()?,
                Activation::Softmax => {
                    let shifted = x.broadcast_sub(&x.max_keepdim(1)?)?.exp()?;
                    shifted.broadcast_div(&shifted.sum_keepdim(1)?)?
                }
            };
        }
        x.flatten_all()?.to_vec1::<f32>()
    }
}

impl Inference for CandleModel {
    fn infer(&mut self, input: &[f32]) -> Result<Vec<f32>, BackendError> {
        let rows = check_rows(input, self.info.input_len())?;
        self.forward(input, rows).map_err(|e| BackendError::Infer(e.to_string()))
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_family_reads_layer_lists_and_the_seed_mlp() {
        let dense = meta(&[
            ("format", DENSE),
            (
                "layers",
                r#"[{"weight":"a.w","bias":"a.b","activation":"relu"},{"weight":"b.w","activation":"softmax"}]"#,
            ),
        ]);
        let layers = layers_of(&dense).unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!((layers[1].bias.as_deref(), layers[1].activation), (None, Activation::Softmax));
        let mlp = layers_of(&meta(&[("format", MLP), ("architecture", MLP_ARCHITECTURE)])).unwrap();
        assert_eq!(mlp.iter().map(|l| l.weight.as_str()).collect::<Vec<_>>(), ["fc1.weight", "fc2.weight"]);
    }

    #[test]
    fn files_outside_the_family_say_what_is_supported() {
        let unknown = layers_of(&meta(&[("format", "pt"), ("architecture", "resnet")])).unwrap_err().0;
        assert!(unknown.starts_with("metadata names format \"pt\" and architecture \"resnet\"; "), "{unknown}");
        assert!(unknown.contains("simrun-dense-v1"), "{unknown}");
        assert!(layers_of(&HashMap::new()).unwrap_err().0.starts_with("metadata names no format;"));
        let bad = meta(&[("format", DENSE), ("layers", r#"[{"weight":"w","activation":"gelu"}]"#)]);
        assert!(layers_of(&bad).unwrap_err().0.contains("activation none, relu, sigmoid, tanh or softmax"));
        assert!(layers_of(&meta(&[("format", DENSE), ("layers", "[]")])).unwrap_err().0.contains("empty"));
    }
}
