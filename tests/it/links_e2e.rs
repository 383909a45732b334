//! Links end to end: jitter, outages and the fidelity columns, through a real
//! Mosquitto with real workers.

use crate::common::{run_smoke, Mosquitto, Table};

#[test]
fn uniform_jitter_widens_the_cloud_latency_and_is_reported() {
    let broker = Mosquitto::start();
    let dir = run_smoke(
        &broker,
        &[
            "tiers.cloud.link.latency=20ms",
            "tiers.cloud.link.distribution=uniform",
            "sweep={tiers.cloud.link.jitter: [0ms, 10ms]}",
            "load.duration=2s",
        ],
    );
    let summary = Table::read(&dir.join("summary.csv"));
    let cloud = |jitter: &str| {
        summary
            .filter("tier", "cloud")
            .find(|r| r[summary.col("param:tiers.cloud.link.jitter")] == jitter)
            .unwrap()
            .clone()
    };
    let (steady, jittery) = (cloud("0ms"), cloud("10ms"));
    let spread = |r: &Vec<String>| summary.num(r, "latency_p95_us") - summary.num(r, "latency_p50_us");
    // Each direction draws from U[10 ms, 30 ms]: the round trip is triangular on
    // 20–60 ms, p95 − p50 ≈ 13.7 ms. Loose bounds: a busy machine adds spread too.
    assert!(spread(&steady) < 6_000.0, "no jitter, spread {}", spread(&steady));
    assert!(spread(&jittery) > 8_000.0, "10 ms uniform jitter, spread only {}", spread(&jittery));
    for r in [&steady, &jittery] {
        assert_eq!(
            summary.num(r, "requests"),
            summary.num(r, "ok") + summary.num(r, "timeouts") + summary.num(r, "errors")
        );
    }
    // The fidelity columns: the configured spread, and delays the link really applied within it.
    let conf_p99 = summary.num(&jittery, "link:cloud:up:configured_p99_us");
    assert!((29_000.0..=30_100.0).contains(&conf_p99), "configured p99 {conf_p99}");
    let applied_p50 = summary.num(&jittery, "link:cloud:up:delay_p50_us");
    assert!((15_000.0..=30_500.0).contains(&applied_p50), "applied p50 {applied_p50}");
    // Aimed at the due time (a chunk may leave a few µs early), read from a
    // histogram with three significant digits; loose above, for a busy machine
    // whose timer thread wakes late (the fidelity benchmark measures how late).
    let steady_p50 = summary.num(&steady, "link:cloud:down:delay_p50_us");
    assert!((19_900.0..=21_000.0).contains(&steady_p50), "steady applied p50 {steady_p50}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("## Network fidelity") && report.contains("uniform jitter 10 ms"), "{report}");
}

#[test]
fn a_reset_outage_reconnects_and_every_request_is_accounted_for() {
    let broker = Mosquitto::start();
    // The measured window is 2 s; the cloud link is cut from 0.5 s to 1.0 s.
    let dir = run_smoke(
        &broker,
        &[
            "tiers.cloud.link.latency=5ms",
            "tiers.cloud.link.outages=[{at: 500ms, for: 500ms, mode: reset}]",
            "sweep={}",
            "load.duration=2s",
            "load.timeout=300ms",
        ],
    );
    let summary = Table::read(&dir.join("summary.csv"));
    let cloud = summary.filter("tier", "cloud").next().unwrap().clone();
    let edge = summary.filter("tier", "edge").next().unwrap().clone();
    let n = |r: &Vec<String>, c: &str| summary.num(r, c);
    assert_eq!(n(&cloud, "requests"), 200.0);
    assert_eq!(n(&cloud, "requests"), n(&cloud, "ok") + n(&cloud, "timeouts") + n(&cloud, "errors"));
    assert!(n(&cloud, "timeouts") >= 30.0, "the outage must cost requests: {cloud:?}");
    assert!(n(&cloud, "ok") >= 100.0, "the cloud must come back after the outage: {cloud:?}");
    assert_eq!(n(&edge, "ok"), 200.0, "the edge has no outage");

    // Requests due well after the window (and a reconnect) are answered again.
    let samples = Table::read(&dir.join("samples.csv"));
    let measured: Vec<&Vec<String>> =
        samples.filter("tier", "cloud").filter(|r| r[samples.col("phase")] == "measure").collect();
    let start = measured.iter().map(|r| samples.num(r, "intended_us")).fold(f64::MAX, f64::min);
    let late: Vec<&&Vec<String>> =
        measured.iter().filter(|r| samples.num(r, "intended_us") >= start + 1_500_000.0).collect();
    assert!(!late.is_empty());
    assert!(late.iter().all(|r| r[samples.col("status")] == "ok"), "not reconnected: {late:?}");
}
