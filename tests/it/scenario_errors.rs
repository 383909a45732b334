//! Every invalid scenario gives exit code 2 and one clear message; the
//! messages are snapshots. Each file in tests/fixtures/scenarios/invalid/ holds one error.

use assert_cmd::Command;

fn simrun() -> Command {
    let mut cmd = Command::cargo_bin("simrun").unwrap();
    cmd.current_dir(crate::common::root());
    // candle's thread count is the process's RAYON_NUM_THREADS, which one message names.
    cmd.env("RAYON_NUM_THREADS", "1");
    cmd
}

fn stderr_of(args: &[&str]) -> (i32, String) {
    let out = simrun().args(args).output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn each_invalid_scenario_gives_exit_2_and_its_message() {
    let dir = crate::common::root().join("tests/fixtures/scenarios/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 15, "expected the invalid fixtures, found {}", files.len());
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let rel = format!("tests/fixtures/scenarios/invalid/{name}.yaml");
        let (code, stderr) = stderr_of(&["validate", &rel, "--no-broker"]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one message, got {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        insta::assert_snapshot!(format!("invalid_{name}"), stderr);
        // `run` makes the same checks before it starts anything.
        let (run_code, run_stderr) = stderr_of(&["run", &rel, "--out", "/nonexistent/never-created"]);
        assert_eq!((run_code, run_stderr), (2, stderr), "{name}: run and validate disagree");
    }
}

#[test]
fn overrides_are_named_in_errors() {
    for (set, name) in [
        ("load.rate=fast", "set_bad_rate"),
        ("load.rat=1/s", "set_unknown_key"),
        ("tiers.edge.model=models/none.onnx", "set_missing_model"),
        ("load.duration", "set_without_value"),
    ] {
        let (code, stderr) = stderr_of(&["validate", "scenarios/smoke.yaml", "--no-broker", "--set", set]);
        assert_eq!(code, 2, "{set}: {stderr}");
        insta::assert_snapshot!(name, stderr);
    }
}

#[test]
fn a_broker_that_does_not_answer_names_its_url() {
    let port = crate::common::closed_port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let (code, stderr) = stderr_of(&["validate", "scenarios/smoke.yaml", "--set", &format!("broker.url={url}")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&url) && stderr.contains("refused"), "{stderr}");
    insta::assert_snapshot!("broker_down", stderr.replace(&port.to_string(), "[port]"));
}

#[test]
fn a_missing_scenario_file_and_bad_arguments_give_exit_2() {
    let (code, stderr) = stderr_of(&["validate", "scenarios/none.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("scenarios/none.yaml: cannot read scenario"), "{stderr}");
    let (code, _) = stderr_of(&["run", "scenarios/smoke.yaml", "--bogus"]);
    assert_eq!(code, 2);
    let (code, _) = stderr_of(&["--help"]);
    assert_eq!(code, 0);
}
