//! Device groups and arrival processes end to end (docs/scenario.md, Device
//! groups and Arrivals): a replayed file's request times are the schedule,
//! an on/off process keeps its on-rate and duty cycle, and every group's
//! rows in summary.csv are recomputed from samples.csv.

use std::path::{Path, PathBuf};

use crate::common::{root, simrun_in, Mosquitto, Table};

/// Runs a scenario of the anomaly detector at the edge with `devices` and
/// `extra` keys against `broker`; returns the results folder.
/// `code`: the exit code expected (1 when an SLO fails).
fn run(broker: &Mosquitto, devices: &str, extra: &str, code: i32) -> PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    let model = root().join("models/anomaly_detector.onnx");
    let text = format!(
        "name: fleet-test\nseed: 3\nbroker: {{ url: {}, qos: 1 }}\ndevices:\n{devices}\nload:\n  duration: 3s\n  \
         timeout: 2s\n{extra}\nplacement: edge\ntiers:\n  edge:\n    model: {}\n",
        broker.url(),
        model.display()
    );
    std::fs::write(dir.join("s.yaml"), text).unwrap();
    let (got, stdout, stderr) = simrun_in(&dir, &["run", "s.yaml", "--quiet", "--out", "out"]);
    assert_eq!(got, code, "stdout: {stdout}\nstderr: {stderr}");
    dir.join(stdout.lines().last().expect("the report path")).parent().unwrap().to_path_buf()
}

/// Each measured sample's (intended, sent) times in µs, in intended order, of `group`.
fn sends(dir: &Path, group: &str) -> Vec<(f64, f64)> {
    let t = Table::read(&dir.join("samples.csv"));
    let mut v: Vec<(f64, f64)> =
        t.filter("group", group).map(|r| (t.num(r, "intended_us"), t.num(r, "sent_us"))).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

#[test]
fn a_replayed_file_is_the_schedule_and_sends_keep_to_it() {
    let broker = Mosquitto::start();
    let file = root().join("tests/fixtures/arrivals/burst.csv");
    let devices = format!(
        "  - {{ name: replayed, count: 2, features: 32, load: {{ arrival: replay, file: {} }} }}",
        file.display()
    );
    let dir = run(&broker, &devices, "", 0);
    let want: Vec<f64> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .map(|s| s * 1e6)
        .collect();
    let got = sends(&dir, "replayed");
    assert_eq!(got.len(), want.len(), "one request a line (held: nothing after the last)");
    let t0 = got[0].0;
    for ((intended, sent), file_us) in got.iter().zip(&want) {
        // The schedule is the file to the microsecond (the offsets are whole ns).
        assert!((intended - t0 - file_us).abs() <= 1.0, "intended {} against the file's {file_us}", intended - t0);
        // The send follows within the dispatch error: loosely bounded, the machine is shared.
        assert!(sent - intended >= 0.0 && sent - intended < 50_000.0, "dispatch {} µs", sent - intended);
    }
}

#[test]
fn an_on_off_process_keeps_its_on_rate_and_duty_cycle() {
    let broker = Mosquitto::start();
    let devices =
        "  - { name: bursty, count: 3, features: 32, load: { arrival: onoff, rate: 40/s, on_for: 500ms, off_for: 500ms } }";
    let dir = run(&broker, devices, "", 0);
    let got = sends(&dir, "bursty");
    // On periods are the runs of sends closer than the off period; each lasts
    // from its first send to one gap (1/40 s) after its last.
    let gap_us = 25_000.0;
    let (mut on_us, mut start) = (0.0, got[0].1);
    for w in got.windows(2) {
        if w[1].1 - w[0].1 > 250_000.0 {
            on_us += w[0].1 - start + gap_us;
            start = w[1].1;
        }
    }
    on_us += got[got.len() - 1].1 - start + gap_us;
    let span_us = 3e6;
    let (duty, on_rate) = (on_us / span_us, got.len() as f64 / (on_us / 1e6));
    assert!((duty / 0.5 - 1.0).abs() < 0.05, "duty cycle {duty} against 0.5");
    assert!((on_rate / 40.0 - 1.0).abs() < 0.05, "on-rate {on_rate}/s against 40/s");
}

#[test]
fn each_groups_rows_are_its_own_samples_and_add_up_to_the_whole() {
    let broker = Mosquitto::start();
    let devices = "  - { name: sensors, count: 3, features: 32, load: { rate: 30/s } }\n  \
                   - { name: cameras, count: 2, features: 32, link: { latency: 20ms }, load: { arrival: poisson, rate: 10/s } }";
    let slo = "slo:\n  - { group: cameras, metric: p50, max: 30ms }\n  - { group: sensors, metric: p50, max: 30ms }";
    let dir = run(&broker, devices, slo, 1);
    let samples = Table::read(&dir.join("samples.csv"));
    let summary = Table::read(&dir.join("summary.csv"));
    let mut total = 0.0;
    for group in ["sensors", "cameras"] {
        let row = summary.filter("group", group).next().unwrap_or_else(|| panic!("a row of {group}"));
        let mine: Vec<&Vec<String>> =
            samples.filter("group", group).filter(|r| r[samples.col("phase")] == "measure").collect();
        assert_eq!(summary.num(row, "requests"), mine.len() as f64, "{group}");
        let ok = mine.iter().filter(|r| r[samples.col("status")] == "ok").count();
        assert_eq!(summary.num(row, "ok"), ok as f64, "{group}");
        let mut latencies: Vec<f64> = mine.iter().filter_map(|r| r[samples.col("latency_us")].parse().ok()).collect();
        latencies.sort_by(f64::total_cmp);
        let median = latencies[(latencies.len() - 1) / 2];
        // HDR histograms keep 3 significant digits.
        assert!((summary.num(row, "latency_p50_us") / median - 1.0).abs() < 0.01, "{group}: p50 against {median}");
        total += mine.len() as f64;
    }
    let all = summary.filter("group", "all").next().expect("the row over every device");
    assert_eq!(summary.num(all, "requests"), total);
    // The cameras' link adds 40 ms a round trip: their objective fails, the sensors' holds.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let text = results.to_string();
    assert!(text.contains("\"group\":\"cameras\""), "the SLO keeps its group");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("## Device groups") && report.contains("cameras: p50 ≤ 30ms"), "{report}");
    assert!(report.contains("**Load:** sensors: 3 device(s), constant"), "{report}");
}

#[test]
fn a_group_places_its_own_requests() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap().keep();
    let text = format!(
        "name: placed\nseed: 3\nbroker: {{ url: {} }}\ndevices:\n  \
         - {{ name: local, count: 2, features: 32, placement: edge }}\n  \
         - {{ name: remote, count: 2, features: 32, placement: cascade }}\n\
         load: {{ rate: 40/s, duration: 1s, timeout: 2s }}\n\
         tiers:\n  edge: {{ model: {edge} }}\n  cloud: {{ model: {edge}, link: {{ latency: 5ms }} }}\n",
        broker.url(),
        edge = root().join("models/anomaly_detector.onnx").display()
    );
    std::fs::write(dir.join("s.yaml"), text).unwrap();
    let (code, stdout, stderr) = simrun_in(&dir, &["run", "s.yaml", "--quiet", "--out", "out"]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let folder = dir.join(stdout.lines().last().unwrap()).parent().unwrap().to_path_buf();
    let samples = Table::read(&folder.join("samples.csv"));
    let tiers = |group: &str| {
        let mut t: Vec<String> = samples.filter("group", group).map(|r| r[samples.col("tier")].clone()).collect();
        t.sort();
        t.dedup();
        t
    };
    assert_eq!(tiers("local"), ["edge"], "the edge group's requests go to the edge alone");
    assert_eq!(tiers("remote"), ["policy"], "the cascade group's are routed, one sample each");
    assert!(samples.rows.iter().all(|r| r[samples.col("status")] == "ok"), "every request answered");
    let results = std::fs::read_to_string(folder.join("results.json")).unwrap();
    let unmatched = serde_json::from_str::<serde_json::Value>(&results).unwrap()["report"]["unmatched"].clone();
    assert_eq!(unmatched["unknown"], 0, "no answer reached the other group's collector: {unmatched}");
}
