//! `broker.url: auto`: simrun starts a private Mosquitto and stops it at the
//! end, after a SIGINT, and even after a SIGKILL of simrun itself.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::root;

/// A simrun started for a test, killed (by PID) if the test ends first, and
/// its stderr as read so far (progress: one line per point, off a terminal).
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// simrun on the smoke scenario with no broker named, its temporary files
/// (and so its broker's folder) under `tmp`.
fn start(tmp: &Path, out: &Path, duration: &str) -> Running {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
    cmd.current_dir(root()).args(["run", "scenarios/smoke.yaml", "--out"]).arg(out);
    cmd.args(["--set", &format!("load.duration={duration}"), "--set", "load.warmup=100ms"]);
    cmd.env("TMPDIR", tmp).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let (pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Ok(mut s) = sink.lock() {
                s.push_str(&line);
                s.push('\n');
            }
        }
    });
    Running { child, stderr }
}

/// PIDs of live processes whose command line mentions `tmp` (the broker and its keeper).
fn brokers_under(tmp: &Path) -> Vec<u32> {
    let needle = tmp.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            found.push(pid);
        }
    }
    found
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the child's exit; returns its code and stderr.
fn finish(running: &mut Running, limit: Duration) -> (i32, String) {
    wait_until(limit, "simrun exits", || running.child.try_wait().unwrap().is_some());
    let code = running.child.wait().unwrap().code().unwrap_or(-1);
    (code, running.stderr())
}

fn results_json(out: &Path) -> serde_json::Value {
    let run = std::fs::read_dir(out.join("smoke")).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(run.join("results.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_run_without_a_broker_url_starts_its_own_mosquitto_and_stops_it() {
    let (tmp, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut run = start(tmp.path(), out.path(), "600ms");
    wait_until(Duration::from_secs(20), "the private broker starts", || !brokers_under(tmp.path()).is_empty());
    let (code, stderr) = finish(&mut run, Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let report = results_json(out.path());
    let manifest = &report["report"]["manifest"];
    assert_eq!(manifest["broker_managed"], true, "{manifest:#}");
    assert!(manifest["broker_url"].as_str().unwrap().starts_with("mqtt://127.0.0.1:"), "{manifest:#}");
    assert!(
        manifest["broker_version"].as_str().is_some_and(|v| v.contains("mosquitto")),
        "the broker answered its version: {manifest:#}"
    );
    // The report shows its plots, and each is in the folder.
    let run = std::fs::read_dir(out.path().join("smoke")).unwrap().next().unwrap().unwrap().path();
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("started by simrun for this run"), "{md}");
    let plots: Vec<&str> = md.split("](plots/").skip(1).filter_map(|t| t.split_once(')')).map(|t| t.0).collect();
    assert_eq!(plots.len(), 4, "latency against the swept key, two CDFs, the breakdown: {plots:?}");
    for p in plots {
        let svg = std::fs::read_to_string(run.join("plots").join(p)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("ms"), "{p}");
    }
    wait_until(Duration::from_secs(5), "no broker process is left", || brokers_under(tmp.path()).is_empty());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("simrun-broker-")))
        .collect();
    assert!(left.is_empty(), "the broker's folder was left behind: {left:?}");
}

#[test]
fn an_interrupted_or_killed_run_leaves_no_broker_behind() {
    for signal in ["INT", "KILL"] {
        let (tmp, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut run = start(tmp.path(), out.path(), "30s");
        wait_until(Duration::from_secs(20), "the private broker starts", || brokers_under(tmp.path()).len() >= 2);
        // Mid-point: its progress line is printed after simrun watches for signals.
        wait_until(Duration::from_secs(30), "the first point starts", || run.stderr().contains("point 0 rep 0 ("));
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(run.child.id().to_string()).status().unwrap();
        assert!(sent.success());
        let (code, stderr) = finish(&mut run, Duration::from_secs(30));
        match signal {
            "INT" => assert_eq!(code, 130, "{stderr}"),
            _ => assert_eq!(code, -1, "killed by a signal: {stderr}"),
        }
        wait_until(Duration::from_secs(10), &format!("the broker is gone after SIG{signal}"), || {
            brokers_under(tmp.path()).is_empty()
        });
    }
}

#[test]
fn without_mosquitto_the_error_says_how_to_get_one_or_name_a_broker() {
    let out = tempfile::tempdir().unwrap();
    let output = assert_cmd::Command::cargo_bin("simrun")
        .unwrap()
        .current_dir(root())
        .args(["run", "scenarios/smoke.yaml", "--quiet", "--out"])
        .arg(out.path())
        .env("SIMRUN_MOSQUITTO", "/nonexistent/mosquitto")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("apt-get install mosquitto") && stderr.contains("--set broker.url="), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(!out.path().join("smoke").exists(), "nothing ran");
}
