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
    // Seconds of inference: not beside a test whose timings a busy neighbour would break.
    let _cpu = crate::common::serial("cpu");
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
    // Seconds of inference: not beside a test whose timings a busy neighbour would break.
    let _cpu = crate::common::serial("cpu");
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
    assert!(
        out.contains("| input (all in the cloud) | 3×128×128 | 196,608 | 98,304 | 1.000× | 0.0 % | 0.0 % |"),
        "{out}"
    );
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

/// Runs scenarios/partition.yaml briefly on `broker`: three cuts under two uplinks, with LTE energy.
fn run_partition(broker: &crate::common::Mosquitto) -> std::path::PathBuf {
    let out = tempfile::tempdir().expect("temp dir").keep();
    let mut cmd = assert_cmd::Command::cargo_bin("simrun").expect("the binary");
    cmd.current_dir(root()).args(["run", "scenarios/partition.yaml", "--quiet", "--out"]).arg(&out);
    for set in [
        format!("broker.url={}", broker.url()),
        "load.rate=2/s".into(),
        "load.duration=2s".into(),
        "load.warmup=500ms".into(),
        "devices.radio=lte".into(),
        "sweep.tiers.cloud.link.bandwidth=[1Gbit/s, 4Mbit/s]".into(),
        "sweep.partition.at=[input, r4, output]".into(),
    ] {
        cmd.args(["--set", &set]);
    }
    let output = cmd.output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    std::path::PathBuf::from(stdout.lines().last().expect("the report path")).parent().expect("folder").to_path_buf()
}

#[test]
fn a_partitioned_run_records_each_side_and_its_report_agrees_with_its_csvs() {
    // Seconds of inference: not beside a test whose timings a busy neighbour would break.
    let _cpu = crate::common::serial("cpu");
    let broker = crate::common::Mosquitto::start();
    let dir = run_partition(&broker);
    let samples = crate::common::Table::read(&dir.join("samples.csv"));
    let summary = crate::common::Table::read(&dir.join("summary.csv"));
    let get = |r: &Vec<String>, c: &str| r[samples.col(c)].clone();
    let num = |r: &Vec<String>, c: &str| get(r, c).parse::<f64>().unwrap_or(0.0);
    // Each request is one policy sample that says where it went.
    let mut sums: std::collections::HashMap<String, [f64; 5]> = Default::default();
    for r in samples.rows.iter().filter(|r| get(r, "phase") == "measure") {
        assert_eq!((get(r, "tier").as_str(), get(r, "status").as_str()), ("policy", "ok"), "{r:?}");
        let at = get(r, "reason");
        let compute = num(r, "infer_us") + num(r, "held_us");
        let (head, bytes) = match at.as_str() {
            "all in the cloud" => {
                assert_eq!((get(r, "route"), get(r, "answered_by")), ("edge>cloud".into(), "cloud".into()));
                assert_eq!((num(r, "head_us"), get(r, "split_bytes")), (0.0, get(r, "request_bytes")));
                (0.0, num(r, "split_bytes"))
            }
            "split at r4" => {
                assert_eq!((get(r, "route"), get(r, "answered_by")), ("edge>cloud".into(), "cloud".into()));
                let bytes = num(r, "split_bytes");
                assert!(
                    (32_768.0..32_768.0 + 100.0).contains(&bytes),
                    "a binary r4 tensor (32×16×16 float32): {bytes}"
                );
                assert!(num(r, "head_us") > 0.0 && num(r, "head_us") < compute, "{r:?}");
                assert!(num(r, "forwarded_us") > num(r, "sent_us") && num(r, "forwarded_us") < num(r, "received_us"));
                // The head computed on the device: a Pi 4 core's power over its compute, no more.
                let core_w = (6.4 - 2.7) / 4.0;
                let expected = core_w * num(r, "head_us") / 1e3;
                assert!((num(r, "energy_compute_mj") - expected).abs() <= 1e-3 * expected + 1e-3, "{r:?}");
                (num(r, "head_us"), bytes)
            }
            "all on the edge" => {
                assert_eq!((get(r, "route"), get(r, "answered_by")), ("edge".into(), "edge".into()));
                assert_eq!(get(r, "split_bytes"), "");
                (compute, 0.0)
            }
            other => panic!("unexpected reason {other:?}"),
        };
        let s = sums.entry(get(r, "point")).or_default();
        for (sum, v) in s.iter_mut().zip([1.0, num(r, "latency_us"), head, compute - head, bytes]) {
            *sum += v;
        }
    }
    // summary.csv's split columns are those means; the parts add up to the mean latency.
    let scol = |r: &Vec<String>, c: &str| r[summary.col(c)].parse::<f64>().unwrap_or(f64::NAN);
    let rows: Vec<&Vec<String>> = summary.filter("tier", "policy").collect();
    assert_eq!(rows.len(), 6);
    for r in &rows {
        let [n, latency, head, tail, bytes] = sums[&r[summary.col("point")]];
        for (c, v) in
            [("split_head_mean_us", head / n), ("split_tail_mean_us", tail / n), ("split_bytes_mean", bytes / n)]
        {
            assert!((scol(r, c) - v).abs() <= 0.1, "{c}: {} against {v}", scol(r, c));
        }
        let rest = latency / n - head / n - tail / n;
        assert!(
            (scol(r, "split_rest_mean_us") - rest).abs() <= 0.2,
            "rest: {} against {rest}",
            scol(r, "split_rest_mean_us")
        );
    }
    // The report's fastest cut under each uplink is summary.csv's lowest p50 there.
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report");
    assert!(report.contains("**Split:** along tiers.cloud.link.bandwidth the fastest cut is"), "{report}");
    for bandwidth in ["1Gbit/s", "4Mbit/s"] {
        let here: Vec<&&Vec<String>> =
            rows.iter().filter(|r| r[summary.col("param:tiers.cloud.link.bandwidth")] == bandwidth).collect();
        let best = here
            .iter()
            .min_by(|a, b| scol(a, "latency_p50_us").total_cmp(&scol(b, "latency_p50_us")))
            .map(|r| r[summary.col("split_at")].clone())
            .expect("rows");
        let section = report.split(&format!("### tiers.cloud.link.bandwidth={bandwidth}")).nth(1).expect("a table");
        let table: String = section.lines().take_while(|l| !l.starts_with("###") && !l.starts_with("![")).collect();
        assert!(table.contains(&format!("| **{best}** |")), "{bandwidth}: {best} is fastest in summary.csv: {table}");
    }
    assert!(dir.join("plots/split.svg").is_file());
    assert!(crate::common::check_plots_text(&dir) >= 2, "axis titles in words, text at 12 px or more");
}
