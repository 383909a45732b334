//! What the command line says when the user gets something wrong: each
//! message names the user's own input, not simrun's internals.

use crate::common::{root, simrun, simrun_in};

use std::io::Write;
use std::net::TcpListener;

#[test]
fn a_mistyped_command_is_named_and_a_scenario_still_comes_first() {
    let (code, _, stderr) = simrun(&["rnu", "scenarios/smoke.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown command `rnu`; did you mean `run`?"), "{stderr}");
    // `simrun SCENARIO` is still `simrun run SCENARIO` (here it stops at the missing broker).
    let (code, _, stderr) =
        simrun(&["scenarios/smoke.yaml", "--set", "broker.url=mqtt://127.0.0.1:1", "--set", "load.duration=100ms"]);
    assert_eq!(code, 2);
    assert!(!stderr.contains("unknown command"), "{stderr}");
}

#[test]
fn overrides_are_blamed_for_their_own_errors() {
    let (code, _, stderr) = simrun(&["plan", "scenarios/smoke.yaml", "--set", "name=a/b"]);
    assert_eq!(code, 2);
    // No line of the file is to blame.
    assert!(stderr.contains("error: scenarios/smoke.yaml: --set name=a/b: name: invalid name"), "{stderr}");
    let (code, _, stderr) = simrun(&["plan", "scenarios/smoke.yaml", "--set", "load.duration="]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--set load.duration=: load.duration: no value after `=`"), "{stderr}");
    assert!(!stderr.contains("unit value"), "{stderr}");
    let (code, _, stderr) = simrun(&["plan", "scenarios/smoke.yaml", "--set", "repetitions=0"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--set repetitions=0: repetitions: must be at least 1"), "{stderr}");
}

#[test]
fn a_port_that_does_not_speak_mqtt_is_named() {
    // A server that answers every connection like a web server would.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { return };
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let url = format!("broker.url=mqtt://127.0.0.1:{port}");
    let (code, _, stderr) = simrun(&["validate", "scenarios/smoke.yaml", "--set", &url]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("that port did not answer as an MQTT broker"), "{stderr}");
    drop(server);
}

#[test]
fn shipped_scenarios_find_their_models_from_any_working_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let scenario = crate::common::root().join("scenarios/smoke.yaml");
    let (code, stdout, stderr) = simrun_in(elsewhere.path(), &["validate", scenario.to_str().unwrap(), "--no-broker"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
}

#[test]
fn a_mahimahi_trace_converts_to_a_link_trace_that_a_scenario_accepts() {
    let fixture = "tests/fixtures/traces/short.mahimahi";
    let (code, stdout, stderr) = simrun(&["trace", "mahimahi", fixture, "--window", "50ms", "--delay", "15ms"]);
    assert_eq!(code, 0, "{stderr}");
    // Mahimahi loops every 131 ms (the last timestamp), and the opportunity at 131 ms is the
    // next loop's first: 0–49 ms four 1500-byte opportunities = 960 kbit/s; 50–99 none;
    // 100–130 two in 31 ms; the loop's end at 131 ms, with no window after it.
    let rows: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        rows,
        [
            "time_s,delay_ms,bandwidth_kbit,outage",
            "0,15,960,0",
            "0.05,15,,1",
            "0.1,15,774.1935483870968,0",
            "0.131,15,960,0"
        ]
    );
    // The mean capacity over the loop is the opportunities' bits over its length, as in Mahimahi.
    let kbit = |r: &str| r.split(',').nth(2).and_then(|c| c.parse::<f64>().ok()).unwrap_or(0.0);
    let integrated = kbit(rows[1]) * 50.0 + kbit(rows[3]) * 31.0;
    assert!((integrated / 131.0 - 6.0 * 12.0 / 0.131).abs() < 1e-6, "{integrated}");
    // What it writes is a trace a scenario runs with.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("lte.csv");
    std::fs::write(&trace, &stdout).unwrap();
    let set = format!("tiers.cloud.link.trace={}", trace.display());
    let (code, stdout, stderr) = simrun(&[
        "validate",
        "scenarios/smoke.yaml",
        "--no-broker",
        "--set",
        "tiers.cloud.link.latency=0ms",
        "--set",
        "sweep={}",
        "--set",
        "load.warmup=100ms",
        "--set",
        &set,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("lte.csv (loop, 0.131 s)"), "{stdout}");
    // A file that is not one says where.
    std::fs::write(&trace, "0\n10\nsoon\n").unwrap();
    let (code, _, stderr) = simrun(&["trace", "mahimahi", &trace.display().to_string()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("lte.csv:3:1: \"soon\" is not a whole number of milliseconds"), "{stderr}");
}

#[test]
fn bench_model_times_a_model_and_prints_profile_lines_or_says_what_is_wrong() {
    let (code, stdout, stderr) = simrun(&["bench", "model", "models/anomaly_detector.onnx", "--seconds", "0.2"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("| `anomaly_detector.onnx` | ONNX Runtime | [batch, 32] | 1 |"), "{stdout}");
    let figure = stdout
        .split("ms: { anomaly_detector: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no profile line in {stdout}"));
    assert!(figure > 0.0 && figure < 100.0, "{figure} ms a call: {stdout}");
    let (code, _, stderr) = simrun(&["bench", "model", "models/none.onnx"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read model models/none.onnx"), "{stderr}");
    let (code, _, stderr) = simrun(&["bench", "model", "models/anomaly_detector.safetensors", "--threads", "7"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("run with RAYON_NUM_THREADS=7 instead of --threads"), "{stderr}");
}

#[test]
fn completions_load_in_bash_and_complete_commands_and_flags_and_the_man_pages_render() {
    let (code, script, stderr) = simrun(&["completions", "bash"]);
    assert_eq!(code, 0, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("simrun.bash");
    std::fs::write(&file, &script).unwrap();
    // The function bash calls for `simrun se<TAB>` and `simrun search --fo<TAB>`.
    let probe = format!(
        "source {}; COMP_WORDS=(simrun se); COMP_CWORD=1; _simrun simrun se simrun; echo \"${{COMPREPLY[*]}}\"; \
         COMP_WORDS=(simrun search --fo); COMP_CWORD=2; _simrun simrun --fo search; echo \"${{COMPREPLY[*]}}\"",
        file.display()
    );
    let out = std::process::Command::new("bash").args(["-c", &probe]).output().unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines, ["search", "--for"], "{}", String::from_utf8_lossy(&out.stderr));
    for shell in ["zsh", "fish"] {
        let (code, script, _) = simrun(&["completions", shell]);
        assert!(code == 0 && script.contains("simrun"), "{shell}");
    }
    let (code, _, stderr) = simrun(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{stderr}");
    // One page per command, each of which man renders with its options.
    let pages = dir.path().join("man");
    std::fs::create_dir(&pages).unwrap();
    let (code, _, stderr) = simrun(&["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    for page in ["simrun.1", "simrun-run.1", "simrun-search.1", "simrun-bench-model.1"] {
        assert!(pages.join(page).is_file(), "{page}");
    }
    let (code, top, _) = simrun(&["man"]);
    assert!(code == 0 && top.contains(".TH simrun 1"), "{top}");
    let render = |page: &str| {
        let rendered = std::process::Command::new("man")
            .args(["-l", pages.join(page).to_str().unwrap()])
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        // man emboldens by overstriking (`x\u{8}x`) when it writes to a pipe: keep the last of each pair.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&rendered.stdout).chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        text
    };
    let text = render("simrun-search.1");
    assert!(
        text.contains("NAME") && text.contains("Bisect") && text.contains("--resolution") && text.contains("--for"),
        "{text}"
    );
    // The top page, as ripgrep's: examples, exit status, environment and files.
    let text = render("simrun.1");
    for want in
        ["EXAMPLES", "EXIT STATUS", "ENVIRONMENT", "SIMRUN_MOSQUITTO", "RAYON_NUM_THREADS", "FILES", "report.html"]
    {
        assert!(text.contains(want), "the top man page lacks {want}: {text}");
    }
    assert!(text.contains("simrun search scenario.yaml --for"), "examples render as written: {text}");
}

#[test]
fn init_writes_a_starter_scenario_that_runs_and_never_overwrites_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().join("first");
    let (code, stdout, stderr) = simrun(&["init", here.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("next: simrun ") && stdout.contains("scenario.yaml"), "{stdout}");
    let scenario = here.join("scenario.yaml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    assert!(text.contains("# A starter scenario written by `simrun init`"), "{text}");
    assert!(text.contains("url: auto"), "it needs no broker of the user's: {text}");
    assert!(here.join("scenario.schema.json").is_file());
    // `cd first && simrun scenario.yaml` runs as written, simrun starting its own broker.
    let out = dir.path().join("out");
    let (code, stdout, stderr) = simrun_in(
        &here,
        &[
            "scenario.yaml",
            "-q",
            "--out",
            out.to_str().unwrap(),
            "--set",
            "load.duration=500ms",
            "--set",
            "load.warmup=100ms",
        ],
    );
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.trim_end().ends_with("report.md"), "{stdout}");
    // A second init refuses, names what exists, and leaves it as it was.
    std::fs::write(&scenario, "name: mine\n").unwrap();
    let (code, _, stderr) = simrun(&["init", here.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("scenario.yaml") && stderr.contains("add --force to overwrite"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&scenario).unwrap(), "name: mine\n");
    let (code, _, stderr) = simrun(&["init", here.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&scenario).unwrap(), text);
}

#[test]
fn more_devices_than_open_files_is_refused_before_anything_starts() {
    let out = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("simrun");
    // A soft limit of 256 open files, set for this child only.
    let script = format!(
        "ulimit -n 256 && exec '{}' run scenarios/smoke.yaml -q --out '{}' --set devices.count=300",
        bin.display(),
        out.path().display()
    );
    let output = std::process::Command::new("sh").arg("-c").arg(&script).current_dir(root()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("devices.count 300") && stderr.contains("may open 256") && stderr.contains("ulimit -n 1024"),
        "{stderr}"
    );
    assert!(!out.path().join("smoke").exists(), "nothing ran");
}
