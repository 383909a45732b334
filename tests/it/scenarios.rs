//! Every scenario we ship is valid: it parses, its models load and fit, and
//! its sweep expands as written.

use simrun::cli::preflight::check_models;
use simrun::plan::Tier;
use simrun::scenario;

#[test]
fn every_file_in_scenarios_validates() {
    let root = crate::common::root();
    let mut count = 0;
    for entry in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let mut plan = scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        check_models(&mut plan).unwrap_or_else(|f| panic!("{}: {:#}", path.display(), f.error()));
        assert!(!plan.points.is_empty());
        count += 1;
    }
    assert!(count >= 2, "expected m3b.yaml and smoke.yaml");
}

#[test]
fn m3b_reproduces_the_seed_experiment() {
    let root = crate::common::root();
    let plan = scenario::load(&root.join("scenarios/m3b.yaml"), &[]).unwrap();
    assert_eq!(plan.swept_keys, ["tiers.cloud.link.latency"]);
    let values: Vec<&str> = plan.points.iter().map(|p| p.params[0].1.as_str()).collect();
    assert_eq!(values, ["0ms", "10ms", "25ms", "50ms", "100ms"]);
    let at_50 = &plan.points[3].config;
    assert_eq!(at_50.tier(Tier::Cloud).unwrap().link.latency.as_millis(), 50);
    assert_eq!(at_50.tier(Tier::Edge).unwrap().link.latency.as_millis(), 0);
    assert_eq!(at_50.devices.input.shape, [32]);
}

#[test]
fn a_sweep_over_traces_gives_a_point_per_trace() {
    let root = crate::common::root();
    let sweep = "sweep={tiers.cloud.link.trace: [traces/step.csv, traces/commute.csv]}";
    let plan =
        scenario::load(&root.join("scenarios/smoke.yaml"), &["tiers.cloud.link.latency=0ms".into(), sweep.into()])
            .unwrap_or_else(|e| panic!("{e}"));
    let traces: Vec<_> =
        plan.points.iter().map(|p| p.config.tier(Tier::Cloud).unwrap().link.trace.clone().expect("a trace")).collect();
    assert_eq!(traces.len(), 2);
    assert_eq!((traces[0].path.as_str(), traces[0].span.as_secs()), ("traces/step.csv", 9));
    assert_eq!((traces[1].path.as_str(), traces[1].span.as_secs()), ("traces/commute.csv", 180));
    assert!(traces[1].has_bandwidth && traces[1].rows.iter().any(|r| r.outage));
    assert_ne!(traces[0], traces[1]);
    assert_eq!(traces[0].sha256.len(), 64);
}

#[test]
fn overrides_and_grids() {
    let root = crate::common::root();
    let sets = vec![
        "load.duration=2s".to_string(),
        "devices.count=3".to_string(),
        "broker.url=mqtt://127.0.0.1:18830".to_string(),
    ];
    let plan = scenario::load(&root.join("scenarios/m3b.yaml"), &sets).unwrap();
    let c = &plan.points[0].config;
    assert_eq!((c.load.duration.as_secs(), c.devices.count, c.broker.port), (2, 3, 18830));
    assert!(plan.resolved_yaml.contains("duration: 2s"), "{}", plan.resolved_yaml);

    let grid = vec!["sweep.devices.count=[1, 2, 3]".to_string()];
    let plan = scenario::load(&root.join("scenarios/smoke.yaml"), &grid).unwrap();
    assert_eq!(plan.points.len(), 6, "2 latencies × 3 device counts");
    let labels: Vec<String> = plan.points.iter().map(|p| p.label()).collect();
    assert_eq!(labels[1], "tiers.cloud.link.latency=0ms, devices.count=2");
    assert_eq!(plan.points[5].config.devices.count, 3);
}

/// A version 1.0 `.npy` file of `values` with `shape`, as numpy writes it.
fn npy(descr: &str, shape: &str, values: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(values);
    out
}

#[test]
fn npy_samples_with_npy_labels_feed_the_model_and_a_short_labels_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::common::root();
    // Five samples of 4×8 float32 values for a model of 32 inputs, and five int64 labels.
    let values: Vec<u8> = (0..5 * 32).flat_map(|i| (i as f32 / 40.0).to_le_bytes()).collect();
    std::fs::write(dir.path().join("x.npy"), npy("<f4", "(5, 4, 8)", &values)).unwrap();
    std::fs::write(dir.path().join("y.npy"), npy("<i8", "(5,)", &[[1u8, 0, 0, 0, 0, 0, 0, 0]; 5].concat())).unwrap();
    std::fs::write(dir.path().join("short.npy"), npy("<i8", "(4,)", &[0u8; 32])).unwrap();
    let scenario = |labels: &str| {
        let path = dir.path().join(format!("{labels}.yaml"));
        let model = root.join("models/anomaly_detector.onnx");
        let text = format!(
            "name: npy\ndevices:\n  input:\n    data: x.npy\n    labels: {labels}.npy\nload: {{ rate: 10/s, duration: 1s }}\n\
             placement: edge\ntiers:\n  edge:\n    model: {}\n",
            model.display()
        );
        std::fs::write(&path, text).unwrap();
        assert_cmd::Command::cargo_bin("simrun").unwrap().args(["validate", "--no-broker"]).arg(&path).output().unwrap()
    };
    let ok = scenario("y");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(
        stdout.contains("input: [32] float32, the 5 rows of `") && stdout.contains("x.npy` (labelled)"),
        "{stdout}"
    );
    let short = scenario("short");
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert_eq!(short.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("short.npy: shape [4]: expected [5], one label per row of"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn every_shipped_scenario_points_at_the_schema_and_an_independent_validator_accepts_it() {
    let root = crate::common::root();
    // The committed schema is the one simrun generates from its parser's types.
    let (code, schema, stderr) = crate::common::simrun(&["schema"]);
    assert_eq!(code, 0, "{stderr}");
    let committed = std::fs::read_to_string(root.join("docs/scenario.schema.json")).unwrap();
    assert!(schema == committed, "docs/scenario.schema.json is stale: simrun schema > docs/scenario.schema.json");
    let mut files: Vec<String> = std::fs::read_dir(root.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for f in &files {
        let first = std::fs::read_to_string(f).unwrap().lines().next().unwrap_or_default().to_string();
        assert_eq!(first, "# yaml-language-server: $schema=../docs/scenario.schema.json", "{f}");
    }
    files.push(root.join("templates/scenario.yaml").display().to_string());
    // A misspelt key and a duration without a unit are what the schema must catch.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: x\nload: { rate: 10/s, duration: 5, warmpu: 1s }\ntiers: { edge: { model: m.onnx } }\n",
    )
    .unwrap();
    let validate = |files: &[String]| {
        let out = std::process::Command::new("python3")
            .arg(root.join("tests/fixtures/schema/validate.py"))
            .arg(root.join("docs/scenario.schema.json"))
            .args(files)
            .env("PYTHONPATH", root.join(".deps/python"))
            .output()
            .expect("python3 runs");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, text) = validate(&files);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("checked {} files, 0 errors", files.len())), "{text}");
    let (code, text) = validate(&[bad.display().to_string()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("warmpu") && text.contains("load/duration"), "{text}");
    // Under tiers, the error names the failing key, not "any of the given schemas";
    // sweep keys and their values are checked too, group keys pass by name.
    let tiers = dir.path().join("tiers.yaml");
    std::fs::write(
        &tiers,
        "name: x\nload: { rate: 10/s, duration: 1s }\ntiers: { cloud: { model: m.onnx, link: { latncy: 5ms } } }\n\
         sweep: { tiers.cloud.link.latncy: [1ms], devices.count: [two], devices.cams.count: [1, 2], load.rate: [10/s] }\n",
    )
    .unwrap();
    let (code, text) = validate(&[tiers.display().to_string()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(!text.contains("any of the given schemas"), "{text}");
    assert!(text.contains("tiers/cloud/link: Additional properties are not allowed ('latncy'"), "{text}");
    assert!(text.contains("'tiers.cloud.link.latncy'"), "an unknown sweep key: {text}");
    assert!(text.contains("sweep/devices.count/0: 'two'"), "a sweep value of the wrong type: {text}");
    assert!(text.contains("checked 1 files, 3 errors"), "group keys and load.rate pass: {text}");
}
