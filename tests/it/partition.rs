//! `simrun partition` and the graph surgery under it, on the shipped split
//! model and on SqueezeNet 1.1's topology, with real ONNX Runtime.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simrun::partition::{self, Partition};

use crate::common::{root, simrun};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

#[test]
fn every_cut_of_the_shipped_model_written_to_disk_runs_head_then_tail_as_the_whole_model() {
    let path = root().join("models/split_cnn.onnx");
    let model = Partition::open(&path).expect("the shipped split model opens");
    let cuts = model.cuts();
    assert_eq!((cuts[0].name.as_str(), cuts[cuts.len() - 1].name.as_str()), ("input", "output"));
    let input = cuts[0].values();
    assert_eq!(input, 3 * 128 * 128);
    let smaller = cuts[1..cuts.len() - 1].iter().filter(|c| c.values() < input).count();
    assert!(smaller >= 5, "{smaller} cuts smaller than the input");
    let names: Vec<&str> = cuts.iter().map(|c| c.name.as_str()).collect();
    for inside in ["r6a", "c6b", "r7a", "c7b"] {
        assert!(!names.contains(&inside), "{inside} is inside a residual block: {names:?}");
    }
    for (cut, shape) in [("p3", vec![64, 16, 16]), ("r4", vec![32, 16, 16]), ("g", vec![128, 1, 1])] {
        assert_eq!(model.cut(cut).expect("a cut").shape, shape, "{cut}");
    }
    // Head MACs grow along the cuts, and the whole model's are the output's.
    assert!(cuts.windows(2).all(|w| w[0].head_macs <= w[1].head_macs));
    assert_eq!(cuts[cuts.len() - 1].head_macs, model.macs);

    let dir = tempfile::tempdir().expect("temp dir");
    let mut whole = simrun::backend::load(&path).expect("loads");
    let inputs = random(4 * input, 3);
    for cut in &cuts[1..cuts.len() - 1] {
        let (head, tail) = model.write(&cut.name, dir.path()).expect("writes");
        let mut h = simrun::backend::load(&head).expect("the head loads from disk");
        let mut t = simrun::backend::load(&tail).expect("the tail loads from disk");
        assert_eq!(h.info().output_len, cut.values(), "{}", cut.name);
        assert_eq!(t.info().input_len(), cut.values(), "{}", cut.name);
        let d = partition::divergence(whole.as_mut(), (h.as_mut(), t.as_mut()), &inputs).expect("runs");
        assert!(d <= 1e-5, "cut {}: head then tail differs by {d}", cut.name);
    }
}

#[test]
fn squeezenet_offers_no_cut_inside_a_fire_module_and_says_what_the_tail_would_miss() {
    let path = root().join("tests/fixtures/models/squeezenet1_1.onnx");
    let model = Partition::open(&path).expect("SqueezeNet 1.1 opens");
    let names: Vec<&str> = model.cuts().iter().map(|c| c.name.as_str()).collect();
    for fire in 2..=9 {
        // The squeeze feeds both expands: one tensor carries everything, so it is a cut;
        // the expands are branches joined by the concatenation, so neither is.
        assert!(names.contains(&format!("fire{fire}.squeeze_relu").as_str()), "{names:?}");
        assert!(names.contains(&format!("fire{fire}.cat").as_str()), "{names:?}");
        for branch in ["expand1x1", "expand1x1_relu", "expand3x3", "expand3x3_relu"] {
            assert!(!names.contains(&format!("fire{fire}.{branch}").as_str()), "fire{fire}.{branch}: {names:?}");
        }
    }
    let e = model.cut("fire4.expand1x1_relu").expect_err("inside a fire module");
    let text = e.to_string();
    assert!(text.contains("is not a cut") && text.contains("`fire4.squeeze_relu`"), "{text}");
    assert!(text.contains("the cuts are: input, conv1, conv1_relu, pool1,"), "{text}");
    let dir = tempfile::tempdir().expect("temp dir");
    let (head, tail) = model.write("pool5", dir.path()).expect("writes");
    let mut whole = simrun::backend::load(&path).expect("loads");
    let mut h = simrun::backend::load(&head).expect("head");
    let mut t = simrun::backend::load(&tail).expect("tail");
    let d = partition::divergence(whole.as_mut(), (h.as_mut(), t.as_mut()), &random(2 * 3 * 64 * 64, 5)).expect("runs");
    assert!(d <= 1e-5, "{d}");
}

#[test]
fn the_command_lists_cuts_with_sizes_and_writes_a_cut_it_checks() {
    let model = root().join("models/split_cnn.onnx");
    let (code, out, err) = simrun(&["partition", model.to_str().unwrap(), "--float16"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("| input (all in the cloud) | 3×128×128 | 196,608 | 98,304 | 1.000× | 0.0 % | 0.0 % |"), "{out}");
    assert!(out.contains("| `r4` | 32×16×16 | 32,768 | 16,384 | 0.167× |"), "{out}");
    assert!(out.contains("| output (all on the edge) | 10 | 40 | 20 |"), "{out}");
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, out, err) =
        simrun(&["partition", model.to_str().unwrap(), "--at", "r4", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("split_cnn.r4.head.onnx").is_file() && dir.path().join("split_cnn.r4.tail.onnx").is_file());
    assert!(out.contains("largest difference 0.00e0"), "{out}");
}

#[test]
fn bad_partition_requests_exit_2_naming_the_problem() {
    let model = root().join("models/split_cnn.onnx");
    let m = model.to_str().unwrap();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().to_str().unwrap();
    let refused = |args: &[&str], expected: &[&str]| {
        let (code, _, err) = simrun(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        for e in expected {
            assert!(err.contains(e), "{args:?}: expected {e:?} in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    };
    refused(
        &["partition", m, "--at", "r6a", "--out", out],
        &["`r6a` is not a cut", "would also need `r5`", "the cuts are: input, c1,"],
    );
    refused(&["partition", m, "--at", "nonesuch", "--out", out], &["no tensor of that name", "the cuts are:"]);
    refused(&["partition", m, "--at", "image", "--out", out], &["the model's input: say `input`"]);
    let safetensors = root().join("models/anomaly_detector.safetensors");
    refused(&["partition", safetensors.to_str().unwrap()], &["ONNX models (.onnx) only", ".safetensors"]);

    // A model with a second output: the whole graph, also giving `g`.
    use onnx_protobuf::Message;
    let bytes = std::fs::read(&model).expect("reads");
    let mut proto = onnx_protobuf::ModelProto::parse_from_bytes(&bytes).expect("parses");
    let mut extra = onnx_protobuf::ValueInfoProto::new();
    extra.name = "g".into();
    proto.graph.as_mut().expect("graph").output.push(extra);
    let two = dir.path().join("two_outputs.onnx");
    std::fs::write(&two, proto.write_to_bytes().expect("encodes")).expect("writes");
    refused(
        &["partition", two.to_str().unwrap()],
        &["has 1 inputs (image) and 2 outputs (probabilities, g)", "one input and one output"],
    );
}
