//! Measurement end to end: stalls show up instead of vanishing, repetitions
//! aggregate, closed loop keeps its concurrency, Poisson arrivals run.

use std::collections::HashMap;

use crate::common::{run_smoke, Mosquitto, Table};

#[test]
fn a_stall_shows_up_in_latency_measured_from_the_intended_send_time() {
    let broker = Mosquitto::start();
    // The edge link holds every byte from 300 ms to 800 ms of the measured window.
    let dir = run_smoke(
        &broker,
        &[
            "placement=edge",
            "sweep={}",
            "tiers.edge.link.outages=[{at: 300ms, for: 500ms, mode: blackhole}]",
            "load.duration=1500ms",
            "load.timeout=3s",
        ],
    );
    let summary = Table::read(&dir.join("summary.csv"));
    let edge = summary.filter("tier", "edge").next().unwrap().clone();
    let n = |c: &str| summary.num(&edge, c);
    // Nothing vanished: every request was answered, late.
    assert_eq!(n("requests"), 150.0);
    assert_eq!(n("ok"), 150.0);
    // About a third of the requests were held; the worst waited nearly the whole window.
    assert!(n("latency_p99_us") >= 400_000.0, "p99 {} µs hides the stall", n("latency_p99_us"));
    assert!(n("latency_p50_us") < 400_000.0);
    // The held time is network time, not queue or inference time.
    assert!(n("network_p99_us") >= 400_000.0);
    assert!(n("queue_p99_us") < 100_000.0);
}

#[test]
fn repetitions_give_a_row_each_and_an_aggregate_with_an_interval() {
    let broker = Mosquitto::start();
    let dir = run_smoke(&broker, &["repetitions=3", "sweep={}", "load.duration=500ms", "load.arrival=poisson"]);
    let summary = Table::read(&dir.join("summary.csv"));
    for tier in ["edge", "cloud"] {
        let rows: Vec<&Vec<String>> = summary.filter("tier", tier).collect();
        let reps: Vec<&str> = rows.iter().map(|r| r[summary.col("repetition")].as_str()).collect();
        assert_eq!(reps, ["0", "1", "2", "all"]);
        let all = rows[3];
        let per_rep: Vec<f64> = rows[..3].iter().map(|r| summary.num(r, "latency_p50_us")).collect();
        let mut sorted = per_rep.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(summary.num(all, "latency_p50_us"), sorted[1], "the median of three");
        assert_eq!(summary.num(all, "latency_p50_ci_low_us"), sorted[0]);
        assert_eq!(summary.num(all, "latency_p50_ci_high_us"), sorted[2]);
        assert_eq!(summary.num(all, "ci_coverage"), 0.75);
        let total: f64 = rows[..3].iter().map(|r| summary.num(r, "requests")).sum();
        assert_eq!(summary.num(all, "requests"), total);
    }
    // Poisson arrivals: the counts vary around 50 per repetition, and every histogram is saved.
    for rep in 0..3 {
        for tier in ["edge", "cloud"] {
            let h = dir.join(format!("histograms/p0-r{rep}-{tier}.hdr"));
            assert!(std::fs::metadata(&h).map(|m| m.len() > 0).unwrap_or(false), "{} missing", h.display());
        }
    }
}

#[test]
fn closed_loop_never_exceeds_its_concurrency_per_device() {
    let broker = Mosquitto::start();
    let dir = run_smoke(
        &broker,
        &[
            "load.arrival=closed",
            "load.concurrency=2",
            "load.think=1ms",
            "devices.count=3",
            "sweep={}",
            "tiers.cloud.link.latency=5ms",
            "load.duration=1s",
        ],
    );
    let samples = Table::read(&dir.join("samples.csv"));
    // A request is outstanding from its intended send time until its last tier answered.
    let mut spans: HashMap<(String, String), (f64, f64)> = HashMap::new();
    for r in &samples.rows {
        assert_eq!(r[samples.col("status")], "ok", "{r:?}");
        let key = (r[samples.col("device")].clone(), r[samples.col("seq")].clone());
        let (start, end) = (samples.num(r, "intended_us"), samples.num(r, "received_us"));
        let e = spans.entry(key).or_insert((start, end));
        e.1 = e.1.max(end);
    }
    let mut per_device: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    for ((device, _), span) in spans {
        per_device.entry(device).or_default().push(span);
    }
    assert_eq!(per_device.len(), 3);
    for (device, spans) in per_device {
        assert!(spans.len() > 20, "{device} sent only {}", spans.len());
        let mut edges: Vec<(f64, i32)> = spans.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
        // At equal times, count the end first: the next request starts when the previous settles.
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut now, mut most) = (0, 0);
        for (_, d) in edges {
            now += d;
            most = most.max(now);
        }
        assert!(most <= 2, "{device} had {most} requests outstanding");
        assert_eq!(most, 2, "{device} never used its concurrency");
    }
}

/// The median over repetitions of each tier's p50 (µs), from summary.csv's aggregate rows.
fn median_p50s(dir: &std::path::Path) -> (f64, f64) {
    let summary = Table::read(&dir.join("summary.csv"));
    let all = |tier: &str| {
        let row = summary.filter("tier", tier).find(|r| r[summary.col("repetition")] == "all").unwrap();
        summary.num(row, "latency_p50_us")
    };
    (all("edge"), all("cloud"))
}

#[test]
fn a_a_between_tiers_the_same_model_at_both_tiers_ties_with_small_and_image_requests() {
    // Tens of µs between tiers: not beside a test that keeps the cores busy for seconds.
    let _cpu = crate::common::serial("cpu");
    let broker = Mosquitto::start();
    let common = ["sweep={}", "repetitions=6", "devices.count=1", "tiers.cloud.link.latency=0ms"];
    // 200 requests a repetition, so each p50 rests on enough answers to hold 30 µs on a busy host.
    let small = ["tiers.cloud.model=../models/anomaly_detector.onnx", "load.rate=200/s", "load.duration=1s"];
    // A 3×96×96 input that costs microseconds to run: with the CNN (1.2 ms a call) both tiers'
    // inferences fight for two cores, whose noise (±400 µs between medians of 40 requests)
    // would hide how the two copies travel, which is what this test is about.
    let image = [
        "devices.features=null",
        "broker.encoding=binary",
        "tiers.edge.model=../tests/fixtures/models/image_mean.onnx",
        "tiers.cloud.model=../tests/fixtures/models/image_mean.onnx",
        "load.rate=100/s",
        "load.duration=1600ms",
    ];
    for (what, sets) in [("small JSON", &small[..]), ("image-sized binary", &image[..])] {
        let sets: Vec<&str> = common.iter().chain(sets).copied().collect();
        let dir = run_smoke(&broker, &sets);
        let (edge, cloud) = median_p50s(&dir);
        let limit = (0.05 * edge.min(cloud)).max(30.0);
        assert!((edge - cloud).abs() <= limit, "{what}: edge p50 {edge} µs, cloud {cloud} µs (limit {limit} µs)");
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(report.contains("the two tiers tied"), "{what}: {report}");
        assert!(!report.contains("answered faster"), "{what}: {report}");
    }
}

#[test]
fn the_parity_check_of_an_image_cnn_keeps_memory_bounded() {
    // A Python parent whose only child is simrun: its children's peak RSS is simrun's own.
    let script = "import resource, subprocess, sys\n\
                  r = subprocess.run(sys.argv[1:], capture_output=True)\n\
                  print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let out = std::process::Command::new("python3")
        .current_dir(crate::common::root())
        .args(["-c", script])
        .arg(assert_cmd::cargo::cargo_bin("simrun"))
        .args(["validate", "scenarios/image-uplink.yaml", "--no-broker"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<u64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    assert_eq!(fields.first(), Some(&0), "validate failed: {text} {}", String::from_utf8_lossy(&out.stderr));
    // 256 images of 3×96×96 in one call peaked at 1.13 GB; in batches of ~1 MB it was 120 MB.
    let peak_kb = fields[1];
    assert!(peak_kb < 150_000, "simrun validate peaked at {peak_kb} kB");
}
