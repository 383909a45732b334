//! simrun in CI: SLO gates and JUnit, shards and merge, and diff, end to end
//! against a real Mosquitto, ONNX Runtime and candle.
//!
//! The runs are shared: the first test to need them makes all of them, one
//! after another (they would disturb each other's timing if run at once).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{Mosquitto, Table};

const SCENARIO: &str = "tests/fixtures/scenarios/ci.yaml";

struct Run {
    code: i32,
    dir: PathBuf,
    stderr: String,
}

struct Runs {
    _broker: Mosquitto,
    a: Run,
    /// A again, with SLOs that fail on the edge and pass on the cloud.
    a2: Run,
    junit: PathBuf,
    /// The cloud link 20 % slower.
    b: Run,
    shard1: Run,
    shard2: Run,
    scratch: PathBuf,
}

fn simrun(args: &[&str]) -> (i32, String, String) {
    let out =
        assert_cmd::Command::cargo_bin("simrun").unwrap().current_dir(common::root()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(broker: &Mosquitto, scratch: &Path, name: &str, extra: &[&str]) -> Run {
    let out = scratch.join(name);
    let url = format!("broker.url={}", broker.url());
    let mut args = vec!["run", SCENARIO, "--quiet", "--set", &url, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = simrun(&args);
    let report = stdout.lines().last().unwrap_or_else(|| panic!("{name}: no report path; stderr: {stderr}"));
    Run { code, dir: Path::new(report).parent().unwrap().to_path_buf(), stderr }
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let broker = Mosquitto::start();
        let scratch = tempfile::tempdir().unwrap().keep();
        let junit = scratch.join("a2-junit.xml");
        let slo = "slo=[{tier: edge, metric: p50, max: 1us}, {tier: cloud, metric: p99, max: 10s}]";
        Runs {
            a: run(&broker, &scratch, "a", &[]),
            a2: run(&broker, &scratch, "a2", &["--set", slo, "--junit", junit.to_str().unwrap()]),
            b: run(&broker, &scratch, "b", &["--set", "tiers.cloud.link.latency=24ms"]),
            shard1: run(&broker, &scratch, "s1", &["--shard", "1/2"]),
            shard2: run(&broker, &scratch, "s2", &["--shard", "2/2"]),
            junit,
            scratch,
            _broker: broker,
        }
    })
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn diff_json(args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut all = vec!["diff", "--format", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = simrun(&all);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (code, json, stderr)
}

fn verdicts<'a>(json: &'a serde_json::Value, tier: &str) -> Vec<(&'a str, &'a str)> {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tier"] == tier)
        .map(|r| (r["metric"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
        .collect()
}

#[test]
fn runs_with_passing_slos_exit_0() {
    let r = runs();
    for run in [&r.a, &r.b, &r.shard1, &r.shard2] {
        assert_eq!(run.code, 0, "{}: {}", run.dir.display(), run.stderr);
    }
    let md = std::fs::read_to_string(r.a.dir.join("report.md")).unwrap();
    assert!(md.contains("## Service-level objectives") && md.contains("| cloud | p99 ≤ 10s |"), "{md}");
    assert!(!md.contains("❌"), "{md}");
}

#[test]
fn a_failed_slo_exits_1_with_failing_junit_cases() {
    let r = runs();
    assert_eq!(r.a2.code, 1, "{}", r.a2.stderr);
    assert!(r.a2.stderr.contains("2 of 4 SLO checks failed"), "{}", r.a2.stderr);
    let xml = std::fs::read_to_string(&r.junit).unwrap();
    // One case per (point, SLO, tier): 2 points × (edge p50 + cloud p99).
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert!(xml.contains(r#"failures="2""#), "{xml}");
    let failures: Vec<&str> = xml.split("<testcase ").filter(|c| c.contains("<failure")).collect();
    assert_eq!(failures.len(), 2);
    for f in failures {
        assert!(f.contains("edge p50 ≤ 1us") && f.contains("measured ") && f.contains("allowed ≤ 0.001 ms"), "{f}");
    }
    let md = std::fs::read_to_string(r.a2.dir.join("report.md")).unwrap();
    assert!(md.contains("**Status:** ❌ SLO FAILED (2 of 4 checks)"), "{md}");
}

#[test]
fn a_a_gives_no_regressions() {
    let r = runs();
    let (code, json, stderr) = diff_json(&[path(&r.a.dir), path(&r.a2.dir)]);
    assert_eq!(code, 0, "{json:#} {stderr}");
    let rows = json["rows"].as_array().unwrap();
    // 2 points × 2 tiers × (p50, p95, p99, throughput, timeout rate).
    assert_eq!(rows.len(), 20, "{json:#}");
    assert!(rows.iter().all(|r| r["verdict"] != "regressed"), "{json:#}");
    assert_eq!(json["regressions"], 0);
}

#[test]
fn a_slower_cloud_link_regresses_the_cloud_and_not_the_edge() {
    let r = runs();
    // Not the same scenario: refused, naming what differs.
    let (code, _, stderr) = simrun(&["diff", path(&r.a.dir), path(&r.b.dir)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("tiers.cloud.link.latency: 20ms vs 24ms") && stderr.contains("--force"), "{stderr}");

    let (code, json, stderr) = diff_json(&["--force", path(&r.a.dir), path(&r.b.dir)]);
    assert_eq!(code, 1, "a regression exits 1: {json:#} {stderr}");
    let cloud = verdicts(&json, "cloud");
    // The median moves with the link at both points. The tail is the 4th-largest of 400
    // requests, which host noise can swamp, so it may only not improve.
    let hits = cloud.iter().filter(|(m, v)| *m == "p50" && *v == "regressed").count();
    assert_eq!(hits, 2, "cloud p50 regressed at both points: {cloud:?}");
    assert!(cloud.iter().all(|(_, v)| *v != "improved"), "{cloud:?}");
    assert!(verdicts(&json, "edge").iter().all(|(_, v)| *v != "regressed"), "{json:#}");
    // Round trip 40 ms → 48 ms plus the same overhead: about +20 %.
    for row in json["rows"].as_array().unwrap().iter().filter(|r| r["tier"] == "cloud" && r["metric"] == "p50") {
        let delta = row["delta"].as_f64().unwrap();
        assert!((15.0..25.0).contains(&delta), "cloud p50 delta {delta}: {row:#}");
        assert!(row["ci_low"].as_f64().unwrap() > 0.0 && row["p_value"].as_f64().unwrap() < 0.05, "{row:#}");
    }
    // The same comparison as markdown, for a pull-request comment.
    let (code, md, _) = simrun(&["diff", "--force", "--format", "markdown", path(&r.a.dir), path(&r.b.dir)]);
    assert_eq!(code, 1);
    assert!(md.contains("| cloud | p50 |") && md.contains("**regressed**") && md.contains("❌"), "{md}");
}

#[test]
fn plan_json_lists_points_and_shards() {
    let (code, stdout, stderr) = simrun(&["plan", SCENARIO, "--json", "--shards", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["shards"], serde_json::json!(["1/2", "2/2"]));
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!((points[0]["id"].as_str(), points[0]["shard"].as_str()), (Some("p0"), Some("1/2")));
    assert_eq!(points[1]["params"]["devices.count"], "2");
    for bad in [
        &["plan", SCENARIO, "--shards", "3"][..],
        &["run", SCENARIO, "--shard", "3/2"],
        &["run", SCENARIO, "--shard", "0/2"],
    ] {
        let (code, _, stderr) = simrun(bad);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
    }
    let (code, _, stderr) = simrun(&["run", "scenarios/smoke.yaml", "--shard", "3/3"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("shard 3/3 has no points"), "{stderr}");
}

#[test]
fn shards_merge_into_the_full_plan() {
    let r = runs();
    let merged = r.scratch.join("merged");
    let (code, stdout, stderr) = simrun(&["merge", path(&r.shard1.dir), path(&r.shard2.dir), "--out", path(&merged)]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    let full = Table::read(&r.a.dir.join("summary.csv"));
    let m = Table::read(&merged.join("summary.csv"));
    assert_eq!(m.header, full.header, "same columns as an unsharded run");
    let keys = |t: &Table| {
        let mut k: Vec<(String, String, String, String)> = t
            .rows
            .iter()
            .map(|row| {
                let c = |n: &str| row[t.col(n)].clone();
                (c("point"), c("repetition"), c("tier"), c("param:devices.count"))
            })
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&m), keys(&full), "the merged shards cover exactly the full plan's points");
    // Percentiles recomputed from the histograms equal those each shard wrote.
    for shard in [&r.shard1, &r.shard2] {
        let s = Table::read(&shard.dir.join("summary.csv"));
        for row in s.rows.iter().filter(|row| row[s.col("repetition")] != "all") {
            let twin = m
                .rows
                .iter()
                .find(|x| {
                    x[m.col("point")] == row[s.col("point")]
                        && x[m.col("tier")] == row[s.col("tier")]
                        && x[m.col("repetition")] == row[s.col("repetition")]
                })
                .unwrap();
            for col in ["requests", "ok", "latency_p50_us", "latency_p99_us", "latency_max_us"] {
                assert_eq!(twin[m.col(col)], row[s.col(col)], "{col}");
            }
        }
    }
    let samples = |d: &Path| std::fs::read_to_string(d.join("samples.csv")).unwrap().lines().count() - 1;
    assert_eq!(samples(&merged), samples(&r.shard1.dir) + samples(&r.shard2.dir));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["merged_from"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(merged.join("report.md")).unwrap();
    assert!(md.contains("2 of 2 point executions") && md.contains("**Merged from:**"), "{md}");

    // The merged folder is a run like any other: diff takes it, every point aligned.
    // (Whether it finds a regression is host noise between separate runs, not the point here.)
    let (code, json, stderr) = diff_json(&[path(&r.a.dir), path(&merged)]);
    assert!(code == 0 || code == 1, "{stderr}");
    assert_eq!(json["rows"].as_array().unwrap().len(), 20, "{json:#}");
    assert!(json["notes"].as_array().unwrap().is_empty(), "{json:#}");

    // Refusals, each naming why.
    let again = r.scratch.join("again");
    let (code, _, stderr) = simrun(&["merge", path(&r.shard1.dir), path(&r.shard1.dir), "--out", path(&again)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("overlapping shards") && stderr.contains("p0"), "{stderr}");
    let (code, _, stderr) = simrun(&["merge", path(&r.shard1.dir), path(&r.b.dir), "--out", path(&again)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("different scenarios") && stderr.contains("tiers.cloud.link.latency"), "{stderr}");
    let (code, _, stderr) = simrun(&["merge", path(&r.shard1.dir), path(&r.shard2.dir), "--out", path(&merged)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(!again.exists(), "a refused merge writes nothing");
}

#[test]
fn a_missing_or_corrupt_results_folder_exits_2() {
    let r = runs();
    let (code, _, stderr) = simrun(&["diff", path(&r.a.dir), "/nonexistent/results"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/results does not exist"), "{stderr}");

    // The scenario folder instead of a run folder: the message names the runs in it.
    let parent = r.a.dir.parent().unwrap();
    let (code, _, stderr) = simrun(&["diff", path(&r.a.dir), path(parent)]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("not a simrun results folder")
            && stderr.contains(r.a.dir.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );

    let copy = |name: &str| {
        let to = r.scratch.join(name);
        std::fs::create_dir_all(to.join("histograms")).unwrap();
        for e in common::walk(&r.a.dir) {
            let rel = e.strip_prefix(&r.a.dir).unwrap();
            std::fs::copy(&e, to.join(rel)).unwrap();
        }
        to
    };
    let truncated = copy("truncated");
    let json = std::fs::read(truncated.join("results.json")).unwrap();
    std::fs::write(truncated.join("results.json"), &json[..json.len() / 2]).unwrap();
    let (code, _, stderr) = simrun(&["diff", path(&r.a.dir), path(&truncated)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("results.json is damaged"), "{stderr}");

    let bad_hist = copy("bad-histogram");
    std::fs::write(bad_hist.join("histograms/p0-r0-cloud.hdr"), b"not a histogram").unwrap();
    let (code, _, stderr) = simrun(&["diff", path(&r.a.dir), path(&bad_hist)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("p0-r0-cloud.hdr is damaged"), "{stderr}");
    let (code, _, stderr) = simrun(&["merge", path(&bad_hist), "--out", path(&r.scratch.join("never"))]);
    assert_eq!(code, 2);
    assert!(stderr.contains("p0-r0-cloud.hdr"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}
