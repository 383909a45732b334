//! The committed models: both load, and ONNX Runtime and candle agree.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simrun::backend::{self, BackendError, CandleModel, Inference, OnnxModel};

fn models() -> (OnnxModel, CandleModel) {
    let root = crate::common::root();
    let edge = OnnxModel::load(&root.join("models/anomaly_detector.onnx")).expect("edge model loads");
    let cloud = CandleModel::load(&root.join("models/anomaly_detector.safetensors")).expect("cloud model loads");
    (edge, cloud)
}

#[test]
fn both_models_describe_the_same_network() {
    let (edge, cloud) = models();
    for info in [edge.info(), cloud.info()] {
        assert_eq!(info.input_name, "features");
        assert_eq!(info.output_name, "probability");
        assert_eq!((info.input_len(), info.sample_dims.as_slice(), info.output_len), (32, &[32][..], 1));
        assert_eq!(info.output_shape.last().map(String::as_str), Some("1"));
        assert_eq!(info.sha256.len(), 64);
    }
}

#[test]
fn ort_and_candle_agree_within_1e_5_on_random_inputs() {
    let (mut edge, mut cloud) = models();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let rows = 2000;
    let inputs: Vec<f32> = (0..rows * 32).map(|_| rng.gen_range(-5.0f32..5.0)).collect();
    let a = edge.infer(&inputs).unwrap();
    let b = cloud.infer(&inputs).unwrap();
    assert_eq!((a.len(), b.len()), (rows, rows));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-5, "edge and cloud differ by {worst}");
    // Not a constant function: the outputs actually vary with the input.
    let spread = a.iter().cloned().fold(f32::MIN, f32::max) - a.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 0.1, "outputs barely vary: spread {spread}");
    // Single rows give the same answers as the batch.
    for row in 0..10 {
        let one = edge.infer(&inputs[row * 32..(row + 1) * 32]).unwrap();
        let two = cloud.infer(&inputs[row * 32..(row + 1) * 32]).unwrap();
        assert!((one[0] - a[row]).abs() <= 1e-6 && (two[0] - b[row]).abs() <= 1e-6);
    }
}

#[test]
fn wrong_width_is_an_error_not_a_panic() {
    let (mut edge, mut cloud) = models();
    assert!(matches!(edge.infer(&[0.0; 31]), Err(BackendError::Infer(_))));
    assert!(matches!(cloud.infer(&[0.0; 33]), Err(BackendError::Infer(_))));
    assert!(matches!(cloud.infer(&[]), Err(BackendError::Infer(_))));
}

#[test]
fn corrupt_or_mismatched_model_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::common::root();
    let onnx = std::fs::read(root.join("models/anomaly_detector.onnx")).unwrap();
    let st = std::fs::read(root.join("models/anomaly_detector.safetensors")).unwrap();

    let truncated_onnx = dir.path().join("t.onnx");
    std::fs::write(&truncated_onnx, &onnx[..onnx.len() / 2]).unwrap();
    let truncated_st = dir.path().join("t.safetensors");
    std::fs::write(&truncated_st, &st[..st.len() - 10]).unwrap();
    // ONNX bytes named .safetensors: candle must refuse them, not guess.
    let wrong_format = dir.path().join("w.safetensors");
    std::fs::write(&wrong_format, &onnx).unwrap();
    for path in [&truncated_onnx, &truncated_st, &wrong_format] {
        let err = backend::load(path).err().expect("a corrupt model must not load");
        let text = err.to_string();
        assert!(text.contains("invalid model") && text.contains(&path.display().to_string()), "{text}");
    }
    let missing = backend::load(&dir.path().join("none.onnx")).err().unwrap();
    assert!(missing.to_string().contains("cannot read model"), "{missing}");
}

/// A safetensors file in simrun's format whose tensors are `shapes` (F32 zeros)
/// and whose metadata says `input_dim` 32 and `hidden_dim` 16.
fn safetensors_with(shapes: &[(&str, Vec<usize>)], format: &str) -> Vec<u8> {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> =
        shapes.iter().map(|(n, s)| (n.to_string(), vec![0u8; 4 * s.iter().product::<usize>()], s.clone())).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, bytes, shape)| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).unwrap())
        })
        .collect();
    let meta: std::collections::HashMap<String, String> =
        [("format", format), ("architecture", "linear-relu-linear-sigmoid"), ("input_dim", "32"), ("hidden_dim", "16")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

#[test]
fn bad_model_files_exit_2_from_the_command_line_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::common::root();
    let onnx = std::fs::read(root.join("models/anomaly_detector.onnx")).unwrap();
    let st = std::fs::read(root.join("models/anomaly_detector.safetensors")).unwrap();
    let good =
        [("fc1.weight", vec![16, 32]), ("fc1.bias", vec![16]), ("fc2.weight", vec![1, 16]), ("fc2.bias", vec![1])];
    let mut wrong_shape = good.clone();
    wrong_shape[0].1 = vec![8, 32];
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("edge", "truncated.onnx", onnx[..onnx.len() / 3].to_vec(), "invalid model"),
        ("edge", "noise.onnx", (0..4096u32).map(|i| ((i * 2654435761u32) >> 24) as u8).collect(), "invalid model"),
        ("cloud", "truncated.safetensors", st[..st.len() / 2].to_vec(), "not a safetensors file"),
        (
            "cloud",
            "shapes.safetensors",
            safetensors_with(&wrong_shape, "simrun-mlp-v1"),
            "layer 0: bias \"fc1.bias\" is [16]; expected [8]",
        ),
        ("cloud", "format.safetensors", safetensors_with(&good, "pickle"), "metadata names format"),
        ("cloud", "missing.safetensors", safetensors_with(&good[..3], "simrun-mlp-v1"), "\"fc2.bias\" is missing"),
        // A format that can run code on load is refused by name, before any byte is read.
        (
            "cloud",
            "model.pt",
            b"\x80\x04\x95 pickle".to_vec(),
            "runs .onnx (ONNX Runtime) and .safetensors (candle) models",
        ),
        (
            "edge",
            "model.pkl",
            b"\x80\x04\x95 pickle".to_vec(),
            "runs .onnx (ONNX Runtime) and .safetensors (candle) models",
        ),
    ];
    for (tier, name, bytes, expected) in cases {
        let model = dir.path().join(name);
        std::fs::write(&model, bytes).unwrap();
        let scenario = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &scenario,
            format!(
                "name: bad-model\nload: {{ rate: 10/s, duration: 1s }}\nplacement: {tier}\ntiers:\n  {tier}:\n    model: {}\n",
                model.display()
            ),
        )
        .unwrap();
        let out = assert_cmd::Command::cargo_bin("simrun")
            .unwrap()
            .current_dir(&root)
            .args(["validate", "--no-broker"])
            .arg(&scenario)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: expected {expected:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one clear line: {stderr}");
    }
}

#[test]
fn different_models_on_the_two_tiers_run_without_parity_one_model_in_two_formats_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::common::root();
    let shapes =
        [("fc1.weight", vec![16, 32]), ("fc1.bias", vec![16]), ("fc2.weight", vec![1, 16]), ("fc2.bias", vec![1])];
    // All-zero weights: a different function from the shipped detector (it answers 0.5 to everything).
    let small = dir.path().join("small.safetensors");
    std::fs::write(&small, safetensors_with(&shapes, "simrun-mlp-v1")).unwrap();
    // The shipped cloud model under the edge model's name: one model in two formats.
    let twin = dir.path().join("anomaly_detector.safetensors");
    std::fs::copy(root.join("models/anomaly_detector.safetensors"), &twin).unwrap();
    let validate = |cloud: &std::path::Path| {
        let set = format!("tiers.cloud.model={}", cloud.display());
        crate::common::simrun(&["validate", "scenarios/smoke.yaml", "--no-broker", "--set", &set])
    };
    let (code, stdout, stderr) = validate(&small);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("parity: not checked: the tiers run different models"), "{stdout}");
    assert!(!stdout.contains("parity: max"), "{stdout}");
    let (code, stdout, stderr) = validate(&twin);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("parity: max |edge - cloud| = ") && !stdout.contains("parity: not checked"), "{stdout}");
}

#[test]
fn a_batch_fixed_at_one_runs_one_sample_a_call_and_unsupported_inputs_are_named() {
    let dir = crate::common::root().join("tests/fixtures/models");
    let mut one = backend::load(&dir.join("batch_of_one.onnx")).expect("batch of one loads");
    let mut any = backend::load(&dir.join("batch_any.onnx")).expect("symbolic batch loads");
    assert!(one.info().batch_of_one && !any.info().batch_of_one);
    assert_eq!((one.info().sample_dims.as_slice(), one.info().output_len), (&[6][..], 3));
    // Five samples in one call: five calls of one inside, the same answers as a symbolic batch.
    let inputs: Vec<f32> = (0..30).map(|i| (i as f32 - 15.0) / 7.0).collect();
    let (a, b) = (one.infer(&inputs).unwrap(), any.infer(&inputs).unwrap());
    assert_eq!(a.len(), 15);
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6), "{a:?} vs {b:?}");
    let load_error = |name: &str| match backend::load(&dir.join(name)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{name} loaded"),
    };
    let width = load_error("symbolic_width.onnx");
    assert!(width.contains("input `x` [batch, width]: dimension 1 is not a fixed size"), "{width}");
    let int64 = load_error("int64_input.onnx");
    assert!(int64.contains("input `x` is") && int64.contains("simrun runs float32 inputs and outputs only"), "{int64}");
}
