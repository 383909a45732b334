//! Routing policies on real parts: `scenarios/policies.yaml`, shortened, with
//! each policy's routes checked from samples.csv against what the policy
//! promises.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::{root, Mosquitto, Table};

/// The policies scenario, short: 200 requests a second for 3.5 s, so that
/// the `edge` point sends each of the 540 digits rows at least once; the
/// cloud's link drops out from 1 s to 2 s of the measured window; the edge
/// is slowed 10 times, not 40, so that it stays far from saturation. An SLO on
/// the policy rows that `deadline` (its median is the cloud's) must fail,
/// so the run exits 1. Returns the results folder and the JUnit file's text.
fn run_policies(broker: &Mosquitto) -> (PathBuf, String) {
    let out = tempfile::tempdir().unwrap().keep();
    let junit = out.join("junit.xml");
    let sets = [
        format!("broker.url={}", broker.url()),
        "load.rate=200/s".into(),
        "load.duration=3s".into(),
        "load.warmup=500ms".into(),
        // A quarter of the edge's capacity at most, so a busy host cannot overload it.
        "tiers.edge.compute.slowdown=10".into(),
        "tiers.cloud.link.outages=[{at: 1s, for: 1s}]".into(),
        "sweep={placement: [edge, cascade, split, offload, deadline]}".into(),
        // Forward when one request is in the edge already: about a twentieth of them at this load.
        // With two (the scenario's), whether any request at all was forwarded was chance: one
        // run forwarded none.
        "policy.offload.queue=1".into(),
        "slo=[{tier: policy, metric: p50, max: 20ms}]".into(),
    ];
    let mut cmd = assert_cmd::Command::cargo_bin("simrun").unwrap();
    cmd.current_dir(root()).args(["run", "scenarios/policies.yaml", "--quiet", "--out"]).arg(&out);
    cmd.arg("--junit").arg(&junit);
    for s in &sets {
        cmd.args(["--set", s]);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "the deadline point fails its SLO\nstdout: {stdout}\nstderr: {stderr}");
    let report = PathBuf::from(stdout.lines().last().expect("the report path"));
    (report.parent().unwrap().to_path_buf(), std::fs::read_to_string(junit).unwrap())
}

fn samples_at<'a>(t: &'a Table, point: &str) -> Vec<&'a Vec<String>> {
    t.filter("point", point).collect()
}

#[test]
fn each_policy_routes_as_it_promises_and_answers_for_every_request() {
    let broker = Mosquitto::start();
    let (dir, junit) = run_policies(&broker);
    let t = Table::read(&dir.join("samples.csv"));
    let (route, by, reason, row, prob) =
        (t.col("route"), t.col("answered_by"), t.col("reason"), t.col("row"), t.col("probability"));

    // The edge model's top-class probability for each row, from the edge-only point.
    let edge: HashMap<&str, f32> = samples_at(&t, "0")
        .iter()
        .filter(|s| !s[prob].is_empty())
        .map(|s| (s[row].as_str(), s[prob].parse().unwrap()))
        .collect();
    assert_eq!(edge.len(), 540, "the edge point sent every row");

    // cascade (confidence 0.5): exactly the rows the edge is unsure of went to the cloud.
    let cascade = samples_at(&t, "1");
    let mut escalated = 0;
    for s in &cascade {
        assert_eq!(s[t.col("tier")], "policy");
        if s[route] == "edge" && s[t.col("status")] != "ok" {
            continue; // lost before the edge answered: nothing was decided
        }
        let unsure = edge[s[row].as_str()] < 0.5;
        let expected = if unsure { "edge>cloud" } else { "edge" };
        assert_eq!(s[route], expected, "row {} (edge {}): {}", s[row], edge[s[row].as_str()], s[reason]);
        if s[t.col("status")] == "ok" {
            assert_eq!(s[by], if unsure { "cloud" } else { "edge" });
        }
        escalated += usize::from(unsure);
    }
    assert!(escalated > 0 && escalated < cascade.len(), "{escalated} of {} escalated", cascade.len());

    // split (0.5): each request's route is its seeded draw, the same in every run.
    let seed = 7;
    let exec = simrun::seeds::execution(seed, 2, 0);
    let split = samples_at(&t, "2");
    for s in &split {
        let draw = simrun::seeds::split_draw(exec, s[t.col("seq")].parse().unwrap());
        assert_eq!(s[route], if draw < 0.5 { "edge" } else { "cloud" }, "{}", s[reason]);
    }
    let to_edge = split.iter().filter(|s| s[route] == "edge").count() as f64 / split.len() as f64;
    assert!((0.4..0.6).contains(&to_edge), "split sent {to_edge} to the edge");

    // offload (queue 1): the edge forwarded requests only with 1 or more in it, and said so.
    let offload = samples_at(&t, "3");
    let forwarded: Vec<_> = offload.iter().filter(|s| s[route] == "cloud").collect();
    assert!(!forwarded.is_empty() && forwarded.len() < offload.len(), "{} forwarded", forwarded.len());
    for s in &forwarded {
        let n: u32 = s[reason]
            .strip_prefix("edge queue ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("reason {:?}", s[reason]));
        assert!(n >= 1, "{}", s[reason]);
    }

    // deadline (100 ms) through a 1 s cloud outage: every request answered,
    // those sent inside the outage by the edge.
    let deadline = samples_at(&t, "4");
    let measured: Vec<_> = deadline.iter().filter(|s| s[t.col("phase")] == "measure").collect();
    assert!(deadline.iter().all(|s| s[t.col("status")] == "ok"), "deadline lost a request");
    let start = measured.iter().map(|s| t.num(s, "intended_us")).fold(f64::MAX, f64::min);
    let inside: Vec<_> =
        measured.iter().filter(|s| (start + 1.0e6..start + 1.85e6).contains(&t.num(s, "intended_us"))).collect();
    assert!(inside.len() > 100, "{} requests inside the outage", inside.len());
    for s in &inside {
        assert_eq!((s[route].as_str(), s[by].as_str()), ("cloud>edge", "edge"), "{}", s[reason]);
    }
    assert!(measured.iter().any(|s| s[reason] == "cloud in time"));

    summary_and_report(&dir);
    // Where the time goes adds up for the tier and the policy rows, the edge's emulated compute included.
    assert!(crate::common::breakdown_adds_up(&dir) > 0.0, "the edge is slowed 10 times: its held time shows");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("compute (emulated) p50 / p99 (ms)"), "{report}");
    // The SLO was checked on each policy row: the cascade's median passes, the deadline's fails.
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("| cascade | policy | p50 ≤ 20ms |"), "{report}");
    let failing: Vec<&str> =
        report.lines().filter(|l| l.contains("| policy | p50 ≤ 20ms") && l.ends_with("❌ |")).collect();
    assert!(failing.iter().any(|l| l.starts_with("| deadline |")), "{failing:?}");
    assert!(!failing.iter().any(|l| l.starts_with("| cascade |")), "{failing:?}");
    assert!(junit.contains("policy") && junit.contains("<failure"), "{junit}");
}

/// The policy rows add up, and the report compares the placements.
fn summary_and_report(dir: &Path) {
    let s = Table::read(&dir.join("summary.csv"));
    let rows: Vec<_> = s.filter("tier", "policy").collect();
    assert_eq!(rows.len(), 4, "one policy row per policy point");
    for r in &rows {
        let requests = s.num(r, "requests");
        assert_eq!(s.num(r, "ok") + s.num(r, "timeouts") + s.num(r, "errors"), requests);
        let shares = s.num(r, "edge_share") + s.num(r, "cloud_share");
        assert!((shares - s.num(r, "ok") / requests).abs() < 1e-3, "answered shares {shares}");
        assert!(!r[s.col("policy")].is_empty());
        let routes: f64 =
            ["route_edge", "route_cloud", "route_edge_cloud", "route_cloud_edge"].iter().map(|c| s.num(r, c)).sum();
        assert!((routes - 1.0).abs() < 1e-3, "route shares add up to {routes}");
    }
    // Under deadline every request reached the cloud first: the cloud's rate is the offered one.
    let deadline = rows.iter().find(|r| r[s.col("param:placement")] == "deadline").unwrap();
    assert!((s.num(deadline, "cloud_rps") - 200.0).abs() < 30.0, "{}", s.num(deadline, "cloud_rps"));
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for needle in [
        "## Policies",
        "| edge | edge only |",
        "cascade (top class below 0.5)",
        "offload (edge queue ≥ 1)",
        "deadline (100ms)",
    ] {
        assert!(report.contains(needle), "report lacks {needle:?}");
    }
}
