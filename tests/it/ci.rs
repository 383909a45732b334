//! simrun in CI: SLO gates and JUnit, shards and merge, and diff, end to end
//! against a real Mosquitto, ONNX Runtime and candle.
//!
//! Each test starts its own broker and makes the runs it needs in a folder it
//! owns: no state is shared between tests, so the suite behaves the same under
//! `cargo test` (threads) and `cargo nextest run` (a process per test), and
//! every broker is stopped by PID when its test ends, also when it fails.

use std::path::{Path, PathBuf};

use crate::common::{simrun, Mosquitto, Table};

const SCENARIO: &str = "tests/fixtures/scenarios/ci.yaml";

struct Run {
    code: i32,
    dir: PathBuf,
    stderr: String,
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

/// One run with passing SLOs and one with failing ones, then what CI does with
/// them: exit codes, JUnit, an A/A diff of single repetitions, damaged folders.
#[test]
fn slo_gates_junit_and_single_repetition_diffs() {
    let broker = Mosquitto::start();
    let scratch = tempfile::tempdir().unwrap();
    let a = run(&broker, scratch.path(), "a", &[]);
    let junit = scratch.path().join("a2-junit.xml");
    let slo = "slo=[{tier: edge, metric: p50, max: 1us}, {tier: cloud, metric: p99, max: 10s}]";
    let a2 = run(&broker, scratch.path(), "a2", &["--set", slo, "--junit", path(&junit)]);

    assert_eq!(a.code, 0, "{}: {}", a.dir.display(), a.stderr);
    let md = std::fs::read_to_string(a.dir.join("report.md")).unwrap();
    assert!(md.contains("## Service-level objectives") && md.contains("| cloud | p99 ≤ 10s |"), "{md}");
    assert!(!md.contains("❌"), "{md}");

    assert_eq!(a2.code, 1, "{}", a2.stderr);
    assert!(a2.stderr.contains("2 of 4 SLO checks failed"), "{}", a2.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    // One case per (point, SLO, tier): 2 points × (edge p50 + cloud p99).
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert!(xml.contains(r#"failures="2""#), "{xml}");
    let failures: Vec<&str> = xml.split("<testcase ").filter(|c| c.contains("<failure")).collect();
    assert_eq!(failures.len(), 2);
    for f in failures {
        assert!(f.contains("edge p50 ≤ 1us") && f.contains("measured ") && f.contains("allowed ≤ 0.001 ms"), "{f}");
    }
    let md = std::fs::read_to_string(a2.dir.join("report.md")).unwrap();
    assert!(md.contains("**Status:** ❌ SLO FAILED (2 of 4 checks)"), "{md}");

    // One repetition per side cannot separate a change from the drift between
    // runs: every row shows its change and interval, the verdict is `?`, exit 0.
    let (code, json, stderr) = diff_json(&[path(&a.dir), path(&a2.dir)]);
    assert_eq!(code, 0, "{json:#} {stderr}");
    let rows = json["rows"].as_array().unwrap();
    // 2 points × 2 tiers × (p50, p95, p99, throughput, timeout rate).
    assert_eq!(rows.len(), 20, "{json:#}");
    let with_values: Vec<_> = rows.iter().filter(|r| r["delta"].is_number()).collect();
    assert!(with_values.iter().all(|r| r["verdict"] == "?"), "{json:#}");
    assert!(rows.iter().any(|r| r["metric"] == "p50" && r["ci_low"].is_number()), "{json:#}");
    // 20 rows at α = 5 % (Holm): only 6 against 6 can reach 0.05 / 20.
    assert_eq!((json["regressions"].as_u64(), json["repetitions_needed"].as_u64()), (Some(0), Some(6)));
    let (code, table, stderr) = simrun(&["diff", path(&a.dir), path(&a2.dir)]);
    assert_eq!(code, 0);
    assert!(
        table.contains("verdicts rest on 1 baseline and 1 candidate repetitions") && table.contains("needs ≥ 6"),
        "{table}"
    );
    let (code, _, stderr2) = simrun(&["diff", "--strict", path(&a.dir), path(&a2.dir)]);
    assert_eq!(code, 1, "--strict fails a diff without verdicts: {stderr} {stderr2}");
    assert!(stderr2.contains("too few repetitions"), "{stderr2}");
    // A self-check needs repetitions to split.
    let (code, _, stderr) = simrun(&["diff", "--self-check", path(&a.dir)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("one repetition per point") && stderr.contains("repetitions: 12"), "{stderr}");

    damaged_folders_exit_2(&a, scratch.path());
}

/// A cloud link 20 % slower, measured with the repetitions a verdict needs.
#[test]
fn a_slower_cloud_link_regresses_the_cloud() {
    // Link timings to the millisecond, or a slowed CNN near its capacity: one such test at a time.
    let _cpu = crate::common::serial("cpu");
    let broker = Mosquitto::start();
    let scratch = tempfile::tempdir().unwrap();
    let short = ["--set", "repetitions=6", "--set", "load.duration=600ms", "--set", "load.warmup=200ms"];
    let a = run(&broker, scratch.path(), "a", &short);
    let mut slower = short.to_vec();
    slower.extend(["--set", "tiers.cloud.link.latency=24ms"]);
    let b = run(&broker, scratch.path(), "b", &slower);
    assert_eq!((a.code, b.code), (0, 0), "{} {}", a.stderr, b.stderr);

    // Not the same scenario: refused, naming what differs.
    let (code, _, stderr) = simrun(&["diff", path(&a.dir), path(&b.dir)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("tiers.cloud.link.latency: 20ms vs 24ms") && stderr.contains("--force"), "{stderr}");

    // The resolution is pinned: by default it is the runs' largest harness-floor
    // p99, which a busy machine (this suite runs its tests side by side) once
    // took to 9 ms, above the 8 ms this change makes. Below, a resolution
    // above the change holds the verdicts back and says so.
    let (code, json, stderr) = diff_json(&["--force", "--resolution", "1ms", path(&a.dir), path(&b.dir)]);
    assert_eq!(code, 1, "a regression exits 1: {json:#} {stderr}");
    let rows = json["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["baseline_repetitions"] == 6 && r["candidate_repetitions"] == 6), "{json:#}");
    // The median moves with the link at both points: 6 repetitions each side,
    // all apart, give the rank test's smallest p-value, 2/C(12,6) = 0.0022,
    // which Holm's adjustment over 20 rows takes to at most 0.043.
    let cloud = verdicts(&json, "cloud");
    let hits = cloud.iter().filter(|(m, v)| *m == "p50" && *v == "regressed").count();
    assert_eq!(hits, 2, "cloud p50 regressed at both points: {cloud:?}");
    assert!(cloud.iter().all(|(_, v)| *v != "improved" && *v != "?"), "{cloud:?}");
    // The edge did not change, but whether two runs made one after the other on
    // a busy machine measure it alike is the machine's noise, not diff's logic:
    // `scripts/bench-diff` measures that (A/A false alarms, and none on the edge
    // under a slower cloud link). Here only that the edge rows were judged.
    assert!(verdicts(&json, "edge").iter().all(|(_, v)| *v != "?"), "{json:#}");
    // Round trip 40 ms → 48 ms plus the same overhead o: +8 / (40 + o), +20 %
    // on a quiet machine; CI once measured o = 4 ms (+17 %). Loose below, for
    // a busier one.
    for row in rows.iter().filter(|r| r["tier"] == "cloud" && r["metric"] == "p50") {
        let delta = row["delta"].as_f64().unwrap();
        assert!((10.0..25.0).contains(&delta), "cloud p50 delta {delta}: {row:#}");
        assert!(row["ci_low"].as_f64().unwrap() > 0.0 && row["p_adjusted"].as_f64().unwrap() <= 0.05, "{row:#}");
    }
    // The same comparison as markdown, for a pull-request comment, saying once what it rests on.
    let md_args = ["diff", "--force", "--resolution", "1ms", "--format", "markdown", path(&a.dir), path(&b.dir)];
    let (code, md, _) = simrun(&md_args);
    assert_eq!(code, 1);
    assert!(md.contains("| cloud | p50 |") && md.contains("**regressed**") && md.contains("❌"), "{md}");
    assert_eq!(md.matches("verdicts rest on 6 baseline and 6 candidate repetitions").count(), 1, "{md}");

    // A resolution above the change: no verdict, and a note naming the rows it held back.
    let (code, table, stderr) = simrun(&["diff", "--force", "--resolution", "1s", path(&a.dir), path(&b.dir)]);
    assert_eq!(code, 0, "{table} {stderr}");
    assert!(
        table.contains("changed significantly and beyond the threshold but by less than the resolution (1000.000 ms")
            && table.contains("devices.count=1 cloud p50")
            && table.contains("devices.count=2 cloud p50"),
        "{table}"
    );

    // A self-check of 6 repetitions: 3 against 3, too few for any verdict.
    let (code, json, stderr) = diff_json(&["--self-check", path(&a.dir)]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["self_check"], true);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20, "{json:#}");
    assert!(rows.iter().all(|r| r["baseline_repetitions"] == 3 && r["verdict"] == "?"), "{json:#}");
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
    let broker = Mosquitto::start();
    let scratch = tempfile::tempdir().unwrap();
    let a = run(&broker, scratch.path(), "a", &[]);
    let shard1 = run(&broker, scratch.path(), "s1", &["--shard", "1/2"]);
    let shard2 = run(&broker, scratch.path(), "s2", &["--shard", "2/2"]);
    let b = run(&broker, scratch.path(), "b", &["--set", "tiers.cloud.link.latency=24ms"]);
    for run in [&a, &b, &shard1, &shard2] {
        assert_eq!(run.code, 0, "{}: {}", run.dir.display(), run.stderr);
    }
    let merged = scratch.path().join("merged");
    let (code, stdout, stderr) = simrun(&["merge", path(&shard1.dir), path(&shard2.dir), "--out", path(&merged)]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    let full = Table::read(&a.dir.join("summary.csv"));
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
    for shard in [&shard1, &shard2] {
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
    assert_eq!(samples(&merged), samples(&shard1.dir) + samples(&shard2.dir));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["merged_from"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(merged.join("report.md")).unwrap();
    assert!(md.contains("2 of 2 point executions") && md.contains("**Merged from:**"), "{md}");

    // The merged folder is a run like any other: diff takes it, every point
    // aligned, one repetition per side, so no verdict.
    let (code, json, stderr) = diff_json(&[path(&a.dir), path(&merged)]);
    assert_eq!(code, 0, "{stderr}");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20, "{json:#}");
    assert!(rows.iter().all(|r| r["baseline_repetitions"] == 1 && r["candidate_repetitions"] == 1), "{json:#}");
    assert!(json["notes"].as_array().unwrap().is_empty(), "{json:#}");

    // Refusals, each naming why.
    let again = scratch.path().join("again");
    let (code, _, stderr) = simrun(&["merge", path(&shard1.dir), path(&shard1.dir), "--out", path(&again)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("overlapping shards") && stderr.contains("p0"), "{stderr}");
    let (code, _, stderr) = simrun(&["merge", path(&shard1.dir), path(&b.dir), "--out", path(&again)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("different scenarios") && stderr.contains("tiers.cloud.link.latency"), "{stderr}");
    let (code, _, stderr) = simrun(&["merge", path(&shard1.dir), path(&shard2.dir), "--out", path(&merged)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(!again.exists(), "a refused merge writes nothing");
}

fn damaged_folders_exit_2(a: &Run, scratch: &Path) {
    let (code, _, stderr) = simrun(&["diff", path(&a.dir), "/nonexistent/results"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/results does not exist"), "{stderr}");

    // The scenario folder instead of a run folder: the message names the runs in it.
    let parent = a.dir.parent().unwrap();
    let (code, _, stderr) = simrun(&["diff", path(&a.dir), path(parent)]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("not a simrun results folder") && stderr.contains(a.dir.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );

    let copy = |name: &str| {
        let to = scratch.join(name);
        std::fs::create_dir_all(to.join("histograms")).unwrap();
        for e in crate::common::walk(&a.dir) {
            let rel = e.strip_prefix(&a.dir).unwrap();
            std::fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
            std::fs::copy(&e, to.join(rel)).unwrap();
        }
        to
    };
    let truncated = copy("truncated");
    let json = std::fs::read(truncated.join("results.json")).unwrap();
    std::fs::write(truncated.join("results.json"), &json[..json.len() / 2]).unwrap();
    let (code, _, stderr) = simrun(&["diff", path(&a.dir), path(&truncated)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("results.json is damaged"), "{stderr}");

    let bad_hist = copy("bad-histogram");
    std::fs::write(bad_hist.join("histograms/p0-r0-cloud.hdr"), b"not a histogram").unwrap();
    let (code, _, stderr) = simrun(&["diff", path(&a.dir), path(&bad_hist)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("p0-r0-cloud.hdr is damaged"), "{stderr}");
    let (code, _, stderr) = simrun(&["merge", path(&bad_hist), "--out", path(&scratch.join("never"))]);
    assert_eq!(code, 2);
    assert!(stderr.contains("p0-r0-cloud.hdr"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}
