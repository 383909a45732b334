//! Reliability end to end, against a real Mosquitto: interrupts and resume,
//! a broker lost mid-run (back, or gone for good), and two runs sharing a broker.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{serial, Mosquitto, Table};

const SCENARIO: &str = "tests/fixtures/scenarios/ci.yaml";

fn start(broker: &Mosquitto, out: &Path, sets: &[&str]) -> Child {
    start_with_env(broker, out, sets, &[])
}

fn start_with_env(broker: &Mosquitto, out: &Path, sets: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
    cmd.current_dir(crate::common::root()).args(["run", SCENARIO, "--quiet", "--out"]).arg(out);
    cmd.args(["--set", &format!("broker.url={}", broker.url()), "--set", "slo=[]"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.envs(env.iter().copied());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// The run folder under `out` once its results.json exists.
fn run_dir(out: &Path, deadline: Instant) -> PathBuf {
    loop {
        let found = std::fs::read_dir(out.join("ci"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("results.json").is_file());
        if let Some(dir) = found {
            return dir;
        }
        assert!(Instant::now() < deadline, "no results folder appeared under {}", out.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn results(dir: &Path) -> serde_json::Value {
    // Written atomically, so a read never sees half a file.
    let bytes = std::fs::read(dir.join("results.json")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["report"].clone()
}

/// Point executions a report lists as finished.
fn done(report: &serde_json::Value) -> u64 {
    report["finished"].as_array().map_or(0, |f| f.len() as u64)
}

fn wait_executions(dir: &Path, n: u64, deadline: Instant) {
    while done(&results(dir)) < n {
        assert!(Instant::now() < deadline, "fewer than {n} executions finished in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

/// Waits for the child with a deadline (killing it past that); returns its exit code and stderr.
fn finish(mut child: Child, limit: Duration) -> (i32, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("simrun did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rows of samples.csv (or .partial) per (point, repetition).
fn sample_rows(dir: &Path) -> std::collections::BTreeMap<(String, String), usize> {
    let file =
        if dir.join("samples.csv").is_file() { dir.join("samples.csv") } else { dir.join("samples.csv.partial") };
    let t = Table::read(&file);
    let mut out = std::collections::BTreeMap::new();
    for row in &t.rows {
        *out.entry((row[t.col("point")].clone(), row[t.col("repetition")].clone())).or_insert(0) += 1;
    }
    out
}

const THREE_POINTS: [&str; 3] = ["sweep={devices.count: [1, 2, 3]}", "load.duration=1500ms", "load.warmup=200ms"];
/// (warmup + duration) × rate × two tiers.
const ROWS_PER_EXECUTION: usize = 340 * 2;

#[test]
fn an_interrupted_run_keeps_its_finished_points_and_resumes_into_the_same_folder() {
    let _serial = serial("reliability");
    let broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    let child = start(&broker, out.path(), &THREE_POINTS);
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = run_dir(out.path(), deadline);
    wait_executions(&dir, 1, deadline);
    signal(&child, "INT");
    let (code, stderr) = finish(child, Duration::from_secs(30));
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let partial = results(&dir);
    let finished = done(&partial) as usize;
    assert!((1..3).contains(&finished), "{partial:#}");
    assert!(!dir.join("samples.csv").exists(), "an interrupted run's samples must not look complete");
    let rows = sample_rows(&dir);
    assert_eq!(rows.len(), finished, "only finished executions have rows: {rows:?}");
    assert!(rows.values().all(|&n| n == ROWS_PER_EXECUTION), "{rows:?}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("⏸ PARTIAL") && md.contains("stopped by SIGINT"), "{md}");

    let mut resume = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
    resume.current_dir(crate::common::root()).args(["run", "--quiet", "--resume"]).arg(&dir);
    resume.args(["--set", &format!("broker.url={}", broker.url())]);
    let outcome = resume.output().unwrap();
    assert_eq!(outcome.status.code(), Some(0), "{}", String::from_utf8_lossy(&outcome.stderr));
    let full = results(&dir);
    assert_eq!(done(&full), 3);
    assert!(dir.join("samples.csv").is_file() && !dir.join("samples.csv.partial").exists());
    let rows = sample_rows(&dir);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.values().all(|&n| n == ROWS_PER_EXECUTION), "{rows:?}");
    let summary = Table::read(&dir.join("summary.csv"));
    let points: Vec<&str> = summary
        .rows
        .iter()
        .filter(|r| r[summary.col("repetition")] == "0")
        .map(|r| r[summary.col("point")].as_str())
        .collect();
    assert_eq!(points, ["0", "0", "1", "1", "2", "2"], "in sweep order, as if never stopped");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(!md.contains("PARTIAL") && !md.contains("stopped by"), "{md}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["interruptions"].as_array().unwrap().len(), 1);

    // Resuming a finished run changes nothing.
    let again = Command::new(assert_cmd::cargo::cargo_bin("simrun"))
        .current_dir(crate::common::root())
        .args(["run", "--quiet", "--resume"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to resume"));

    // SIGTERM does the same with exit code 143.
    let out2 = tempfile::tempdir().unwrap();
    let child = start(&broker, out2.path(), &THREE_POINTS);
    let dir2 = run_dir(out2.path(), Instant::now() + Duration::from_secs(60));
    wait_executions(&dir2, 1, Instant::now() + Duration::from_secs(60));
    signal(&child, "TERM");
    let (code, stderr) = finish(child, Duration::from_secs(30));
    assert_eq!(code, 143, "{stderr}");
    assert!(std::fs::read_to_string(dir2.join("report.md")).unwrap().contains("stopped by SIGTERM"));
}

#[test]
fn a_broker_restarted_mid_point_is_survived_and_reported() {
    let _serial = serial("reliability");
    let mut broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    let sets = ["sweep={}", "load.duration=6s", "load.warmup=500ms"];
    let child = start(&broker, out.path(), &sets);
    let dir = run_dir(out.path(), Instant::now() + Duration::from_secs(60));
    // Into the measured window: the floor and set-up take about a second.
    std::thread::sleep(Duration::from_millis(3500));
    broker.stop();
    std::thread::sleep(Duration::from_secs(2));
    broker.restart();
    let (code, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let report = results(&dir);
    let warnings: Vec<&str> = report["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    let outage =
        warnings.iter().find(|w| w.contains("the broker was unreachable")).unwrap_or_else(|| panic!("{warnings:?}"));
    assert!(outage.contains(" s; "), "{outage}");
    eprintln!("restart: {outage}");
    // Every request accounted for: one row per request and tier, whatever happened to it.
    let rows = sample_rows(&dir);
    assert_eq!(rows.values().sum::<usize>(), 1300 * 2, "{rows:?}");
    let summary = Table::read(&dir.join("summary.csv"));
    for row in summary.rows.iter().filter(|r| r[summary.col("repetition")] == "0") {
        let n = |c: &str| summary.num(row, c);
        assert_eq!(n("requests"), 1200.0, "measured window: {row:?}");
        assert_eq!(n("ok") + n("timeouts") + n("errors"), n("requests"));
        assert!(n("timeouts") + n("errors") > 0.0, "the outage touched requests: {row:?}");
        assert!(n("ok") > 600.0, "the run went on after the broker came back: {row:?}");
        eprintln!(
            "restart: {} ok {} timeouts {} errors {}",
            row[summary.col("tier")],
            n("ok"),
            n("timeouts"),
            n("errors")
        );
    }
}

#[test]
fn a_broker_away_between_points_is_waited_for() {
    let _serial = serial("reliability");
    let mut broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    let sets =
        ["sweep={devices.count: [1, 2]}", "load.duration=1500ms", "load.warmup=200ms", "broker.reconnect_timeout=10s"];
    let child = start(&broker, out.path(), &sets);
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = run_dir(out.path(), deadline);
    wait_executions(&dir, 1, deadline);
    broker.stop();
    std::thread::sleep(Duration::from_millis(1500));
    broker.restart();
    let (code, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let report = results(&dir);
    assert_eq!(done(&report), 2);
    assert_eq!(sample_rows(&dir).len(), 2);
}

#[test]
fn a_broker_gone_for_good_stops_the_run_with_exit_3_and_keeps_finished_points() {
    let _serial = serial("reliability");
    let mut broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    let sets =
        ["sweep={devices.count: [1, 2]}", "load.duration=1500ms", "load.warmup=200ms", "broker.reconnect_timeout=2s"];
    let child = start(&broker, out.path(), &sets);
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = run_dir(out.path(), deadline);
    wait_executions(&dir, 1, deadline);
    broker.stop();
    let (code, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("broker"), "{stderr}");
    let report = results(&dir);
    assert_eq!(done(&report), 1);
    let rows = sample_rows(&dir);
    assert_eq!(rows.len(), 1, "the unfinished point left no rows: {rows:?}");
    assert!(dir.join("samples.csv.partial").is_file() && !dir.join("samples.csv").exists());
    assert!(std::fs::read_to_string(dir.join("report.md")).unwrap().contains("⏸ PARTIAL"));
}

#[test]
fn two_runs_on_one_broker_never_see_each_other() {
    let _serial = serial("reliability");
    let broker = Mosquitto::start();
    // Something a crashed earlier run might have left behind: a retained message.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let addr = format!("127.0.0.1:{}", broker.port).parse().unwrap();
        let c = simrun::run::broker::Connection::open("stale", addr, &broker.config(), &[], None).await.unwrap();
        let topic = "simrun/stale-run/edge/request/0";
        c.client.publish(topic, rumqttc::QoS::AtLeastOnce, true, "garbage").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.close().await;
    });
    let outs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let sets = ["load.duration=1500ms", "load.warmup=200ms"];
    let children: Vec<Child> = outs.iter().map(|o| start(&broker, o.path(), &sets)).collect();
    for (child, out) in children.into_iter().zip(&outs) {
        let (code, stderr) = finish(child, Duration::from_secs(90));
        assert_eq!(code, 0, "{stderr}");
        let dir = run_dir(out.path(), Instant::now());
        let report = results(&dir);
        let unmatched = &report["unmatched"];
        assert_eq!(
            (unmatched["unknown"].as_u64(), unmatched["duplicates"].as_u64()),
            (Some(0), Some(0)),
            "{unmatched}"
        );
        for s in report["summaries"].as_array().unwrap() {
            assert_eq!(s["rejected"], 0, "{s}");
            assert_eq!(s["requests"], 300, "{s}");
        }
    }
}

/// Garbage for a worker: every kind the wire check has to survive.
fn garbage(i: usize, run_id: &str) -> Vec<u8> {
    let good_features = vec!["0.5"; 32].join(",");
    if i % 100 == 50 {
        return vec![b'x'; 1 << 20];
    }
    match i % 7 {
        0 => (0..100).map(|b| (b * 37 + i) as u8).collect(),
        1 => b"{not json".to_vec(),
        2 => format!(r#"{{"v":2,"id":"{run_id}/x/{i}","device":"d","features":[{good_features}]}}"#).into_bytes(),
        3 => format!(r#"{{"v":1,"id":"{run_id}/x/{i}","device":"d","features":[1,2,3]}}"#).into_bytes(),
        4 => format!(r#"{{"v":1,"id":"x{i}","device":"d","features":[NaN{}]}}"#, ",0.5".repeat(31)).into_bytes(),
        5 => format!(r#"{{"v":1,"id":"x{i}","device":"d","features":[1e999{}]}}"#, ",0.5".repeat(31)).into_bytes(),
        _ => b"".to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The lock serializes whole tests, each on its own runtime; no task of this one waits for it.
#[allow(clippy::await_holding_lock)]
async fn a_flood_of_garbage_is_counted_answered_at_a_bounded_rate_and_does_not_stop_the_run() {
    let _serial = serial("reliability");
    use rumqttc::QoS;
    use simrun::run::broker::Connection;

    let broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    let sets = ["sweep={devices.count: [1]}", "load.duration=4s", "load.warmup=300ms"];
    let child = start(&broker, out.path(), &sets);
    let dir = run_dir(out.path(), Instant::now() + Duration::from_secs(60));
    let run_id = dir.file_name().unwrap().to_str().unwrap().to_string();
    let addr = format!("127.0.0.1:{}", broker.port).parse().unwrap();
    let errors: Vec<(String, QoS)> =
        ["edge", "cloud"].iter().map(|t| (format!("simrun/{run_id}/{t}/error/+"), QoS::AtMostOnce)).collect();
    let (tx, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let listener = Connection::open("flood-listener", addr, &broker.config(), &errors, Some(tx)).await.unwrap();
    let flooder = Connection::open("flooder", addr, &broker.config(), &[], None).await.unwrap();
    // Into the measured window, then 3 s of garbage at ~1,000 messages/s to both tiers,
    // plus answers with ids no request has.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let flood_start = Instant::now();
    let mut sent = 0usize;
    while flood_start.elapsed() < Duration::from_secs(3) {
        for tier in ["edge", "cloud"] {
            let topic = format!("simrun/{run_id}/{tier}/request/0");
            flooder.client.publish(topic, QoS::AtMostOnce, false, garbage(sent, &run_id)).await.unwrap();
            let fake = format!(
                r#"{{"v":1,"id":"{run_id}/0.0/99999{sent}","tier":"{tier}","worker":"w","probability":0.5,"queue_us":1,"infer_us":1}}"#
            );
            flooder
                .client
                .publish(format!("simrun/{run_id}/{tier}/response/0"), QoS::AtMostOnce, false, fake)
                .await
                .unwrap();
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let flood_time = flood_start.elapsed().as_secs_f64();
    // The peak memory of simrun so far, flood included: it must stay bounded.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(peak_kb < 1_000_000, "simrun's peak RSS reached {peak_kb} kB under the flood");
    let (code, stderr) = tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(60))).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    let mut answered = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), replies.recv()).await {
        answered += 1;
    }
    listener.close().await;
    flooder.close().await;

    let report = results(&dir);
    assert!(report["unmatched"]["unknown"].as_u64().unwrap() > 0, "{}", report["unmatched"]);
    let summaries = report["summaries"].as_array().unwrap();
    let mut rejected = 0;
    for s in summaries {
        let n = |k: &str| s[k].as_u64().unwrap();
        rejected += n("rejected");
        assert!(n("rejected") as f64 >= sent as f64 * 0.8, "bad messages counted: {s} (sent {sent} per tier)");
        // The real requests were served while the garbage came in.
        assert!(n("ok") as f64 >= n("requests") as f64 * 0.98, "{s}");
    }
    // Error replies are bounded: 100/s per worker (one per tier) plus a burst of 100.
    let bound = 2.0 * (simrun::run::worker::ERROR_REPLIES_PER_S * (flood_time + 1.0) + 100.0);
    assert!((answered as f64) <= bound, "{answered} error replies, bound {bound}");
    assert!(answered > 0, "bad messages are answered, up to the limit");
    assert!(rejected as usize > answered, "more rejected ({rejected}) than answered ({answered})");
    eprintln!(
        "flood: {sent} bad messages per tier in {flood_time:.1} s, {rejected} rejected, {answered} answered, peak RSS {} MB",
        peak_kb / 1024
    );
}

#[test]
fn a_password_from_the_environment_logs_in_and_never_appears_in_any_output() {
    let _serial = serial("reliability");
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwords");
    let secret = "s3cret-Pw-7f1c9e";
    let made = Command::new("mosquitto_passwd").arg("-b").arg("-c").arg(&passwords).args(["simrun", secret]).status();
    assert!(made.expect("mosquitto_passwd comes with mosquitto").success());
    let broker = Mosquitto::start_with(&format!("allow_anonymous false\npassword_file {}\n", passwords.display()));
    let out = tempfile::tempdir().unwrap();
    let run = |env: &str, sets: &[&str]| {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
        cmd.current_dir(crate::common::root()).args(["run", SCENARIO, "--out"]).arg(out.path());
        cmd.args(["--set", &format!("broker.url={}", broker.url()), "--set", "slo=[]"]);
        cmd.args(["--set", "sweep={devices.count: [1]}", "--set", "load.duration=500ms"]);
        for s in sets {
            cmd.args(["--set", s]);
        }
        cmd.env("SIMRUN_TEST_PASSWORD", env).output().unwrap()
    };
    let login = ["broker.username=simrun", "broker.password_env=SIMRUN_TEST_PASSWORD"];
    let ok = run(secret, &login);
    let stdout = String::from_utf8_lossy(&ok.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&ok.stderr).into_owned();
    assert_eq!(ok.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    let run_dir = run_dir(out.path(), Instant::now());
    assert_eq!(done(&results(&run_dir)), 1);
    for file in crate::common::walk(out.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(secret), "the password is in {}", file.display());
    }
    let scenario = std::fs::read_to_string(run_dir.join("scenario.yaml")).unwrap();
    assert!(scenario.contains("password_env: SIMRUN_TEST_PASSWORD"), "{scenario}");

    // A wrong password: exit 2, the user named, the password nowhere.
    let wrong = run("not-the-password", &login);
    let stderr = String::from_utf8_lossy(&wrong.stderr).into_owned();
    assert_eq!(wrong.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refused the login of user \"simrun\""), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    // No credentials at all.
    let anonymous = run(secret, &[]);
    let stderr = String::from_utf8_lossy(&anonymous.stderr).into_owned();
    assert_eq!(anonymous.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("anonymous") && stderr.contains("not authorized"), "{stderr}");
    // The variable missing: named, before anything connects.
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
    cmd.current_dir(crate::common::root()).args([
        "validate",
        SCENARIO,
        "--no-broker",
        "--set",
        login[0],
        "--set",
        login[1],
    ]);
    let missing = cmd.env_remove("SIMRUN_TEST_PASSWORD").output().unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr).into_owned();
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("environment variable SIMRUN_TEST_PASSWORD is not set"), "{stderr}");
}

/// `openssl` with arguments, in `dir`; panics with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA named `name` in `dir`, and a certificate it signs for `cn` (with `san`).
fn ca_and_cert(dir: &Path, name: &str, certs: &[(&str, &str)]) {
    let days = "2";
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            days,
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
    for (cert, san) in certs {
        std::fs::write(dir.join(format!("{cert}.ext")), format!("subjectAltName={san}\n")).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={cert}"),
                "-keyout",
                &format!("{cert}.key"),
                "-out",
                &format!("{cert}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{cert}.csr"),
                "-CA",
                &format!("{name}.crt"),
                "-CAkey",
                &format!("{name}.key"),
                "-CAcreateserial",
                "-days",
                days,
                "-extfile",
                &format!("{cert}.ext"),
                "-out",
                &format!("{cert}.crt"),
            ],
        );
    }
}

#[test]
fn an_mqtts_broker_with_client_certificates_is_reached_through_the_links() {
    let _serial = serial("reliability");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ca_and_cert(d, "ca", &[("server", "IP:127.0.0.1"), ("client", "DNS:simrun-client")]);
    ca_and_cert(d, "other-ca", &[]);
    // Mosquitto started as root drops to its own user, which must be able to read the server's files.
    use std::os::unix::fs::PermissionsExt;
    for (f, mode) in [(d.to_path_buf(), 0o755), (d.join("server.key"), 0o644)] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let p = |f: &str| d.join(f).display().to_string();
    let broker = Mosquitto::start_with(&format!(
        "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
        p("ca.crt"),
        p("server.crt"),
        p("server.key")
    ));
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let out = tempfile::tempdir().unwrap();
    let run = |tls: String| {
        Command::new(assert_cmd::cargo::cargo_bin("simrun"))
            .current_dir(crate::common::root())
            .args(["run", SCENARIO, "--quiet", "--out"])
            .arg(out.path())
            .args(["--set", &format!("broker.url={url}"), "--set", "slo=[]", "--set", &format!("broker.tls={tls}")])
            .args(["--set", "sweep={devices.count: [1]}", "--set", "load.duration=500ms"])
            .output()
            .unwrap()
    };
    // Both tiers sit behind links (2 ms, 20 ms): TLS goes through the proxies end to end.
    let ok = run(format!("{{ca: {}, cert: {}, key: {}}}", p("ca.crt"), p("client.crt"), p("client.key")));
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let report = results(&run_dir(out.path(), Instant::now()));
    for s in report["summaries"].as_array().unwrap() {
        assert_eq!(s["ok"], s["requests"], "{s}");
    }
    // A CA that did not sign the broker's certificate: exit 2, saying so.
    let untrusted = run(format!("{{ca: {}, cert: {}, key: {}}}", p("other-ca.crt"), p("client.crt"), p("client.key")));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not trusted"), "{stderr}");
    // No client certificate for a broker that requires one: exit 2, with the handshake named.
    let anonymous = run(format!("{{ca: {}}}", p("ca.crt")));
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert_eq!(anonymous.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("requires a client certificate"), "{stderr}");
    // A pool worker reaches the same broker with --ca, --cert and --key; without them the broker refuses it.
    let worker = |tls: &[&str]| {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
        cmd.current_dir(crate::common::root());
        cmd.args(["worker", "--tier", "cloud", "--model", "models/anomaly_detector.safetensors"]);
        cmd.args(["--broker", &url, "--pool", "tls", "--name", "w"]).args(tls);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (ca, cert, key) = (p("ca.crt"), p("client.crt"), p("client.key"));
    let mut child = worker(&["--ca", &ca, "--cert", &cert, "--key", &key]);
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
        let _ = tx.send(lines.by_ref().map_while(Result::ok).any(|l| l.contains("announced in pool tls")));
    });
    let announced = rx.recv_timeout(Duration::from_secs(30)).unwrap_or(false);
    let _ = child.kill();
    let _ = child.wait();
    assert!(announced, "the worker with a client certificate announced itself");
    let refused = worker(&["--ca", &ca]).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("requires a client certificate"), "{stderr}");
}

#[test]
fn a_worker_that_dies_stops_the_run_with_exit_3_and_keeps_finished_points() {
    let _serial = serial("reliability");
    let broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    // Point 0 has 340 requests; point 1 is 20 s long, and its worker dies 0.8 s in.
    let sets = ["sweep={load.duration: [1500ms, 20s]}", "load.warmup=200ms"];
    let child = start_with_env(&broker, out.path(), &sets, &[("SIMRUN_FAULT_WORKER_PANIC", "cloud-0@500")]);
    let started = Instant::now();
    let (code, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("worker died: cloud-0 stopped serving"), "{stderr}");
    // Noticed at once: waiting for the end of point 1 would take over 21 s of load alone.
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    let dir = run_dir(out.path(), Instant::now());
    assert_eq!(done(&results(&dir)), 1);
    assert_eq!(sample_rows(&dir).len(), 1, "only point 0's rows remain");
    assert!(std::fs::read_to_string(dir.join("report.md")).unwrap().contains("⏸ PARTIAL"));
}
