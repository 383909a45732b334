//! Inference time per call: ONNX Runtime, candle, and a plain Rust loop over
//! the same weights (the compute floor).

use std::path::Path;
use std::time::{Duration, Instant};

use safetensors::SafeTensors;

use crate::backend::{self, BackendError};

/// The anomaly detector as plain arrays: Linear → ReLU → Linear → Sigmoid.
pub struct PlainModel {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: f32,
    width: usize,
}

fn floats(path: &Path, st: &SafeTensors, name: &str) -> Result<Vec<f32>, BackendError> {
    let t = st.tensor(name).map_err(|e| BackendError::Invalid { path: path.into(), message: e.to_string() })?;
    Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

impl PlainModel {
    /// Reads the weights from the cloud model's safetensors file.
    pub fn load(path: &Path) -> Result<Self, BackendError> {
        let bytes = std::fs::read(path).map_err(|source| BackendError::Read { path: path.into(), source })?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| BackendError::Invalid { path: path.into(), message: e.to_string() })?;
        let (w1, b1, w2, b2) = (
            floats(path, &st, "fc1.weight")?,
            floats(path, &st, "fc1.bias")?,
            floats(path, &st, "fc2.weight")?,
            floats(path, &st, "fc2.bias")?,
        );
        let width = w1.len() / b1.len().max(1);
        Ok(PlainModel { w1, b1, w2, b2: b2.first().copied().unwrap_or(0.0), width })
    }

    pub fn infer(&self, x: &[f32]) -> f32 {
        let mut logit = self.b2;
        for (j, (row, b)) in self.w1.chunks_exact(self.width).zip(&self.b1).enumerate() {
            let h: f32 = row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>() + b;
            logit += self.w2[j] * h.max(0.0);
        }
        1.0 / (1.0 + (-logit).exp())
    }
}

/// Mean time per single-row call over `calls` calls, after a warmup.
fn time_per_call(calls: u32, mut f: impl FnMut(&[f32]) -> f32) -> Duration {
    let inputs: Vec<Vec<f32>> =
        (0..64).map(|i| (0..32).map(|j| ((i * 32 + j) % 13) as f32 / 6.5 - 1.0).collect()).collect();
    let mut sink = 0f32;
    for x in inputs.iter().cycle().take(1000) {
        sink += f(x);
    }
    let start = Instant::now();
    for x in inputs.iter().cycle().take(calls as usize) {
        sink += f(x);
    }
    std::hint::black_box(sink);
    start.elapsed() / calls
}

/// Per-call times of ort, candle and the plain loop, in that order.
pub fn measure(models_dir: &Path, calls: u32) -> Result<[(String, Duration); 3], BackendError> {
    let mut edge = backend::load(&models_dir.join("anomaly_detector.onnx"))?;
    let mut cloud = backend::load(&models_dir.join("anomaly_detector.safetensors"))?;
    let plain = PlainModel::load(&models_dir.join("anomaly_detector.safetensors"))?;
    let ort = time_per_call(calls, |x| edge.infer(x).map(|v| v[0]).unwrap_or(f32::NAN));
    let candle = time_per_call(calls, |x| cloud.infer(x).map(|v| v[0]).unwrap_or(f32::NAN));
    let floor = time_per_call(calls, |x| plain.infer(x));
    Ok([("ONNX Runtime (edge)".into(), ort), ("candle (cloud)".into(), candle), ("plain Rust loop".into(), floor)])
}

/// One model's cost per call, one sample a call.
pub struct ModelTiming {
    pub file: String,
    pub runtime: &'static str,
    /// One sample's shape, as the model declares it.
    pub input: String,
    pub calls: u32,
    /// Mean time per call.
    pub per_call: Duration,
    /// Median time per call.
    pub p50: Duration,
}

/// Times every model file in `models_dir` that a runtime runs, each for
/// about `budget` after a warmup of a tenth of it, on eight seeded samples
/// in turn.
pub fn every_model(models_dir: &Path, budget: Duration) -> Result<Vec<ModelTiming>, BackendError> {
    let read = |e: std::io::Error| BackendError::Read { path: models_dir.into(), source: e };
    let mut files: Vec<_> = std::fs::read_dir(models_dir)
        .map_err(read)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| backend::runtime_of(p).is_some())
        .collect();
    files.sort();
    files.iter().map(|path| time_model(path, 1, budget)).collect()
}

/// Times one model with `threads` intra-op threads for about `budget`,
/// after a warmup of a tenth of it, on eight seeded samples in turn.
pub fn time_model(path: &Path, threads: u32, budget: Duration) -> Result<ModelTiming, BackendError> {
    let mut model = backend::load_threads(path, threads)?;
    let len = model.info().input_len();
    let samples: Vec<Vec<f32>> =
        (0..8).map(|i| (0..len).map(|j| ((i * 31 + j * 7) % 17) as f32 / 8.5 - 1.0).collect()).collect();
    let mut run_for = |span: Duration, times: &mut Vec<Duration>| -> Result<(), BackendError> {
        let start = Instant::now();
        while start.elapsed() < span || times.is_empty() {
            let call = Instant::now();
            std::hint::black_box(model.infer(&samples[times.len() % samples.len()])?);
            times.push(call.elapsed());
        }
        Ok(())
    };
    run_for(budget / 10, &mut Vec::new())?;
    let mut times = Vec::new();
    run_for(budget, &mut times)?;
    let calls = times.len() as u32;
    let per_call = times.iter().sum::<Duration>() / calls;
    times.sort();
    Ok(ModelTiming {
        file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        runtime: backend::runtime_of(path).unwrap_or("?"),
        input: format!("[{}]", model.info().input_shape.join(", ")),
        calls,
        per_call,
        p50: times[times.len() / 2],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_loop_computes_the_same_model() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let plain = PlainModel::load(&dir.join("anomaly_detector.safetensors")).unwrap();
        let mut cloud = backend::load(&dir.join("anomaly_detector.safetensors")).unwrap();
        let x: Vec<f32> = (0..32).map(|i| i as f32 / 10.0 - 1.6).collect();
        assert!((plain.infer(&x) - cloud.infer(&x).unwrap()[0]).abs() < crate::report::PARITY_LIMIT);
    }
}
