//! Links end to end: jitter, outages and the fidelity columns, through a real
//! Mosquitto with real workers.

use crate::common::{run_smoke, Mosquitto, Table};

#[test]
fn uniform_jitter_widens_the_cloud_latency_and_is_reported() {
    // Link timings to the millisecond, or a slowed CNN near its capacity: one such test at a time.
    let _cpu = crate::common::serial("cpu");
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
    // 20–60 ms, p95 − p50 ≈ 13.7 ms; a busy machine only adds spread. Without
    // jitter the round trip's spread is the host's (CI once measured 7.7 ms on
    // a loaded moment), so the steady link is judged by what it applied itself.
    let applied_spread = |r: &Vec<String>| {
        summary.num(r, "link:cloud:down:delay_p99_us") - summary.num(r, "link:cloud:down:delay_p50_us")
    };
    // Against the jittery link of the same run, not a fixed bound: a noisy
    // host's late wake-ups gave a 0 ms-jitter link a p99 − p50 of 3.3 ms
    // (2026-12-07, twice), while U[10 ms, 30 ms] gives about 9.8 ms plus that noise.
    let (quiet, wide) = (applied_spread(&steady), applied_spread(&jittery));
    assert!(quiet < 0.5 * wide, "no jitter, applied spread {quiet} µs; with 10 ms jitter {wide} µs");
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

    // A link with an outage gets the plot over time, embedded in the report, its text in words.
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("### Over time") && report.contains("(plots/time-p0.svg)"), "{report}");
    let time = std::fs::read_to_string(dir.join("plots/time-p0.svg")).unwrap();
    assert!(time.contains("asked delay (ms)") && time.contains("outage (shaded)"), "{time}");
    assert!(crate::common::check_plots_text(&dir) >= 3, "the CDF, the breakdown and the plot over time");
}

/// What `scenarios/traces/step.csv` asks of a request sent `t` seconds into
/// the measured window through the cloud link (down to the worker, then up):
/// each direction's delay is the row in force when the bytes are read, and
/// bytes due inside the 5–7 s outage are held until it ends.
fn step_trace_round_trip_ms(t: f64) -> f64 {
    let delay = |at: f64| if (3.0..7.0).contains(&at) { 80.0 } else { 20.0 };
    let hold = |due: f64| if (5.0..7.0).contains(&due) { 7.0 } else { due };
    let at_worker = hold(t + delay(t) / 1e3);
    let back = hold(at_worker + delay(at_worker) / 1e3);
    (back - t) * 1e3
}

#[test]
fn a_trace_steps_the_latency_and_holds_bytes_through_its_outage_when_it_says() {
    // Link timings to the millisecond, or a slowed CNN near its capacity: one such test at a time.
    let _cpu = crate::common::serial("cpu");
    let broker = Mosquitto::start();
    let dir = run_smoke(
        &broker,
        &[
            "placement=cloud",
            "tiers.cloud.link.latency=0ms",
            "tiers.cloud.link.trace=traces/step.csv",
            "sweep={}",
            "devices.count=1",
            "load.rate=50/s",
            "load.warmup=1s",
            "load.duration=9s",
            "load.timeout=5s",
        ],
    );
    let samples = Table::read(&dir.join("samples.csv"));
    let measured: Vec<&Vec<String>> = samples.filter("phase", "measure").collect();
    assert_eq!(measured.len(), 450);
    assert!(measured.iter().all(|r| r[samples.col("status")] == "ok"), "every request is answered");
    // The trace starts with the measured window, where the first measured request is due.
    let origin = measured.iter().map(|r| samples.num(r, "intended_us")).fold(f64::MAX, f64::min);
    let mut errors: Vec<(f64, f64)> = Vec::new();
    for r in &measured {
        let (intended, sent) = (samples.num(r, "intended_us"), samples.num(r, "sent_us"));
        let t = (sent - origin) / 1e6;
        // Near a change a few µs of dispatch decide which side a request falls on.
        if [2.98, 3.0, 4.92, 5.0, 6.92, 7.0].iter().any(|b| (t - b).abs() < 0.003) {
            continue;
        }
        let want = (sent - intended) / 1e3 + step_trace_round_trip_ms(t);
        // The worker's own queue and inference are left out: requests held
        // by the outage reach it all at once, at 7 s, and queue there.
        let network = samples.num(r, "latency_us") - samples.num(r, "queue_us") - samples.num(r, "infer_us");
        errors.push((t, network / 1e3 - want));
    }
    // Never early by more than the timer's aim, and at the median within a few
    // milliseconds of the trace in each stretch (0.3 ms measured; stacks and a
    // busy host only add). The ~100 requests held by the outage leave at once
    // and pass broker and client together: 1.7 ms measured, 8 ms allowed.
    assert!(errors.iter().all(|(_, e)| *e > -1.0), "earlier than the trace: {errors:?}");
    for (from, to, allowed) in [(0.0, 3.0, 3.0), (3.0, 5.0, 3.0), (5.0, 7.0, 8.0), (7.0, 9.0, 3.0)] {
        let mut e: Vec<f64> = errors.iter().filter(|(t, _)| (from..to).contains(t)).map(|p| p.1).collect();
        e.sort_by(f64::total_cmp);
        assert!(e.len() > 80, "{from}–{to} s: {} requests", e.len());
        assert!(e[e.len() / 2] < allowed, "{from}–{to} s: median {} ms over the trace", e[e.len() / 2]);
    }
    // The fidelity columns agree with the trace: what the link achieved is
    // what the trace asked of the same chunks, outage included.
    let summary = Table::read(&dir.join("summary.csv"));
    let cloud = summary.filter("tier", "cloud").next().unwrap().clone();
    for dir in ["up", "down"] {
        let n = |stat: &str| summary.num(&cloud, &format!("link:cloud:{dir}:{stat}"));
        let (asked, applied) = (n("asked_p50_us"), n("delay_p50_us"));
        assert!((applied - asked).abs() <= 200.0 + 0.05 * asked, "{dir}: median {applied} µs, asked {asked} µs");
        let (asked, applied) = (n("asked_p99_us"), n("delay_p99_us"));
        assert!((applied - asked).abs() <= 0.1 * asked, "{dir}: p99 {applied} µs, asked {asked} µs");
    }
    // Requests sent into the outage wait up to 2 s: the down direction's p99 says so.
    assert!(summary.num(&cloud, "link:cloud:down:asked_p99_us") > 1_500_000.0);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("trace traces/step.csv (hold, 9 s)"), "{report}");
    assert!(!report.contains("cloud link up: median delay") && !report.contains("cloud link down: median delay"));
}
