//! Remote pools end to end: `simrun worker` processes, each standing in for
//! a host, serve a tier of `simrun run` through a real Mosquitto; one of them
//! from its own network namespace over a veth pair.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{root, serial, Mosquitto, Table};

const SCENARIO: &str = "scenarios/m3b-remote.yaml";
const CLOUD_MODEL: &str = "models/anomaly_detector.safetensors";

/// A pool name no other test (or earlier run of this one) uses.
fn pool(tag: &str) -> String {
    format!("t-{tag}-{}", std::process::id())
}

/// A `simrun worker` process, stopped by PID when dropped; its stderr lines are kept.
struct PoolWorker {
    child: Child,
    name: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl PoolWorker {
    fn start(broker: &str, pool: &str, name: &str, model: &str, extra: &[&str]) -> PoolWorker {
        Self::spawn(Command::new(assert_cmd::cargo::cargo_bin("simrun")), broker, pool, name, model, extra)
    }

    fn spawn(mut cmd: Command, broker: &str, pool: &str, name: &str, model: &str, extra: &[&str]) -> PoolWorker {
        cmd.args(["worker", "--tier", "cloud", "--model", model]);
        Self::member(cmd, broker, pool, name, extra)
    }

    /// A `simrun devices` process.
    fn devices(broker: &str, pool: &str, name: &str) -> PoolWorker {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
        cmd.arg("devices");
        Self::member(cmd, broker, pool, name, &[])
    }

    fn member(mut cmd: Command, broker: &str, pool: &str, name: &str, extra: &[&str]) -> PoolWorker {
        cmd.current_dir(root()).args(["--broker", broker, "--pool", pool, "--name", name]).args(extra);
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (stderr, kept) = (child.stderr.take().unwrap(), lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        PoolWorker { child, name: name.to_string(), lines }
    }

    /// Waits until a stderr line contains `text`; panics with the lines after `limit`.
    fn wait_for(&mut self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.lines.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("worker {} exited ({status}) before saying {text:?}: {:?}", self.name, self.lines());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("worker {} did not say {text:?} within {limit:?}: {:?}", self.name, self.lines());
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for the process to end by itself: its exit code.
    fn exit_code(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("worker {} still runs after {limit:?}: {:?}", self.name, self.lines());
    }
}

impl Drop for PoolWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `simrun run` of the remote-pool scenario against `broker` with `sets`.
fn run_command(broker: &Mosquitto, out: &Path, pool: &str, sets: &[&str]) -> Command {
    let pool = format!("tiers.cloud.workers.remote={pool}");
    short_run(SCENARIO, broker, out, &[&[pool.as_str(), "load.rate=100/s"], sets].concat())
}

/// A short `simrun run` of `scenario` against `broker`, with `sets` as overrides.
fn short_run(scenario: &str, broker: &Mosquitto, out: &Path, sets: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
    cmd.current_dir(root()).args(["run", scenario, "--quiet", "--out"]).arg(out);
    cmd.args(["--set", &format!("broker.url={}", broker.url())]);
    cmd.args(["--set", "load.duration=1500ms", "--set", "load.warmup=300ms"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd
}

fn run(broker: &Mosquitto, out: &Path, pool: &str, sets: &[&str]) -> (i32, String) {
    let o = run_command(broker, out, pool, sets).output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The one run folder under `out` (there must be exactly one).
fn only_run(out: &Path) -> PathBuf {
    let scenario: Vec<PathBuf> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(scenario.len(), 1, "{scenario:?}");
    let runs: Vec<PathBuf> = std::fs::read_dir(&scenario[0]).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

/// The report in a run folder's results.json.
fn results(dir: &Path) -> serde_json::Value {
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    all["report"].clone()
}

/// A pool of its own with one cloud worker named `name`, announced.
fn one_worker(broker: &Mosquitto, tag: &str, name: &str) -> (String, PoolWorker) {
    let pool = pool(tag);
    let mut w = PoolWorker::start(&broker.url(), &pool, name, CLOUD_MODEL, &[]);
    w.wait_for("announced", Duration::from_secs(20));
    (pool, w)
}

/// Runs `cmd` and SIGKILLs `doomed` once it says `says` (in the second
/// execution, so the first is kept): the run must end with exit 3 soon
/// after, keeping the finished execution. Its stderr.
fn kill_mid_run(mut cmd: Command, doomed: &mut PoolWorker, says: &str, out: &Path) -> String {
    let mut runner = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    doomed.wait_for(says, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    let _ = doomed.child.kill();
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = runner.try_wait().unwrap() {
            break status;
        }
        assert!(killed.elapsed() < Duration::from_secs(15), "the run did not stop after the kill");
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = killed.elapsed();
    let stderr = stderr_of(&mut runner);
    assert_eq!(status.code(), Some(3), "{stderr}");
    // 2 s is the figure docs/distributed.md gives; a loaded host gets slack.
    assert!(took < Duration::from_secs(10), "exit 3 took {took:?}");
    eprintln!("exit 3 came {took:?} after the kill");
    let report = results(&only_run(out));
    assert_eq!(report["finished"].as_array().unwrap().len(), 1, "the finished execution is kept");
    stderr
}

/// Everything a finished child wrote on its piped stderr.
fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut text).unwrap();
    text
}

#[test]
fn a_remote_pool_serves_the_cloud_tier_and_keeps_serving_across_runs() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    let pool = pool("serve");
    let mut a = PoolWorker::start(&broker.url(), &pool, "cloud-a", CLOUD_MODEL, &[]);
    let mut b = PoolWorker::start(&broker.url(), &pool, "cloud-b", CLOUD_MODEL, &["--slots", "2"]);
    a.wait_for("announced", Duration::from_secs(20));
    b.wait_for("announced", Duration::from_secs(20));
    for round in 0..2 {
        let out = tempfile::tempdir().unwrap();
        let (code, stderr) = run(&broker, out.path(), &pool, &[]);
        assert_eq!(code, 0, "round {round}: {stderr}");
        let dir = only_run(out.path());
        let samples = Table::read(&dir.join("samples.csv"));
        let cloud: Vec<&Vec<String>> = samples.filter("tier", "cloud").collect();
        let edge = samples.filter("tier", "edge").count();
        assert_eq!(cloud.len(), edge, "every request goes to both tiers");
        let by = |w: &str| cloud.iter().filter(|r| r[samples.col("worker")] == w).count();
        assert!(by("cloud-a") > 0 && by("cloud-b") > 0, "both workers share the requests: {}", by("cloud-a"));
        assert_eq!(by("cloud-a") + by("cloud-b"), cloud.iter().filter(|r| r[samples.col("status")] == "ok").count());
        let manifest = &results(&dir)["manifest"];
        let remote = manifest["remote_workers"].as_array().unwrap();
        let names: Vec<&str> = remote.iter().map(|w| w["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["cloud-a", "cloud-b"]);
        // The results keep what the report needs, not the pool protocol's fields.
        assert!(remote.iter().all(|w| w["pool"] == pool.as_str() && w["served"]["tier"] == "cloud"), "{remote:?}");
        assert!(remote.iter().all(|w| ["pid", "v", "state", "bad_control"].iter().all(|k| w.get(k).is_none())));
        assert_eq!(remote[1]["served"]["compute"], "2 slots");
        crate::common::check_results_schema(&[dir.join("results.json")]);
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(report.contains("the cloud tier ran on remote `simrun worker` processes"), "{report}");
        assert!(report.contains("- `cloud-a` (pool `"), "{report}");
        assert!(report.contains("**Clocks:**"), "{report}");
    }
    a.wait_for("released by run", Duration::from_secs(5));
    assert_eq!(a.lines().iter().filter(|l| l.contains("claimed by run")).count(), 2, "{:?}", a.lines());
}

#[test]
fn a_remote_worker_killed_mid_run_ends_it_with_exit_3_naming_the_worker_and_keeps_finished_points() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    let pool = pool("kill");
    let mut a = PoolWorker::start(&broker.url(), &pool, "cloud-a", CLOUD_MODEL, &[]);
    let mut b = PoolWorker::start(&broker.url(), &pool, "doomed", CLOUD_MODEL, &[]);
    a.wait_for("announced", Duration::from_secs(20));
    b.wait_for("announced", Duration::from_secs(20));
    let out = tempfile::tempdir().unwrap();
    let cmd = run_command(&broker, out.path(), &pool, &["repetitions=2", "load.duration=4s"]);
    let stderr = kill_mid_run(cmd, &mut b, "point 0.1", out.path());
    assert!(stderr.contains("remote worker doomed (pool"), "{stderr}");
    assert!(stderr.contains("last will"), "{stderr}");
    // The survivor is free again for the next run.
    a.wait_for("released by run", Duration::from_secs(5));
}

#[test]
fn a_worker_told_to_stop_finishes_its_point_and_the_run_stops_at_the_next_naming_it() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    let (pool, mut w) = one_worker(&broker, "drain", "leaving");
    let out = tempfile::tempdir().unwrap();
    let sets = ["tiers.cloud.workers.count=1", "repetitions=2", "load.duration=2s"];
    let mut runner =
        run_command(&broker, out.path(), &pool, &sets).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    w.wait_for("point 0.0", Duration::from_secs(30));
    let term = Command::new("kill").args(["-TERM", &w.child.id().to_string()]).status().unwrap();
    assert!(term.success());
    w.wait_for("draining", Duration::from_secs(5));
    let status = runner.wait().unwrap();
    let stderr = stderr_of(&mut runner);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("leaving"), "{stderr}");
    assert_eq!(w.exit_code(Duration::from_secs(10)), 0, "{:?}", w.lines());
    let report = results(&only_run(out.path()));
    assert_eq!(report["finished"].as_array().unwrap().len(), 1, "the drained point finished and is kept");
}

#[test]
fn a_run_killed_mid_point_frees_its_workers_through_its_last_will() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    let (pool, mut w) = one_worker(&broker, "orphan", "orphaned");
    let out = tempfile::tempdir().unwrap();
    let sets = ["tiers.cloud.workers.count=1", "load.duration=30s"];
    let mut runner =
        run_command(&broker, out.path(), &pool, &sets).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    w.wait_for("point 0.0", Duration::from_secs(30));
    runner.kill().unwrap();
    runner.wait().unwrap();
    w.wait_for("is gone (its last will): released", Duration::from_secs(10));
    // Free again: the next run claims it.
    let (code, stderr) =
        run(&broker, out.path(), &pool, &["tiers.cloud.workers.count=1", "tiers.cloud.workers.wait=5s"]);
    assert_eq!(code, 0, "{stderr}");
}

/// Publishes `payload` on `topic` through a real MQTT connection (retained when asked).
fn publish(broker: &Mosquitto, topic: &str, payload: &[u8], retain: bool) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let addr = format!("127.0.0.1:{}", broker.port).parse().unwrap();
        let id = format!("pool-test-{}", std::process::id());
        let conn = simrun::run::broker::Connection::open(&id, addr, &broker.config(), &[], None).await.unwrap();
        conn.client.publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload.to_vec()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        conn.close().await;
    });
}

#[test]
fn pools_that_cannot_serve_are_refused_before_the_run_naming_who_answered() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    // Nobody in the pool.
    let empty = pool("empty");
    let (code, stderr) = run(&broker, out.path(), &empty, &["tiers.cloud.workers.wait=500ms"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&format!("no worker announced itself in pool {empty}")), "{stderr}");
    // A worker with another model.
    let other = pool("model");
    let mut w = PoolWorker::start(&broker.url(), &other, "digits", "models/digits_big.safetensors", &[]);
    w.wait_for("announced", Duration::from_secs(20));
    let (code, stderr) = run(&broker, out.path(), &other, &["tiers.cloud.workers={remote: x, count: 1, wait: 500ms}"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("pool x: 0 of the 1"), "{stderr}");
    let (code, stderr) =
        run(&broker, out.path(), &other, &["tiers.cloud.workers.count=1", "tiers.cloud.workers.wait=500ms"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("digits (cloud, host") && stderr.contains("serves another model"), "{stderr}");
    // A worker claimed by another run: refused, naming that run, until the run's last will frees it.
    let busy = pool("busy");
    let mut w = PoolWorker::start(&broker.url(), &busy, "solo", CLOUD_MODEL, &[]);
    w.wait_for("announced", Duration::from_secs(20));
    // A second worker of that name would take the first one's connection: refused.
    let mut twin = PoolWorker::start(&broker.url(), &busy, "solo", CLOUD_MODEL, &[]);
    assert_eq!(twin.exit_code(Duration::from_secs(20)), 2, "{:?}", twin.lines());
    assert!(twin.lines().iter().any(|l| l.contains("already has a worker named solo")), "{:?}", twin.lines());
    let claim = br#"{"job":"claim","v":1,"run":"someone-else"}"#;
    publish(&broker, &format!("simrun/pools/{busy}/jobs/solo"), claim, false);
    w.wait_for("claimed by run someone-else", Duration::from_secs(5));
    let sets = ["tiers.cloud.workers.count=1", "tiers.cloud.workers.wait=500ms"];
    let (code, stderr) = run(&broker, out.path(), &busy, &sets);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("solo (cloud, host") && stderr.contains("is claimed by run someone-else"), "{stderr}");
    // Garbage on the control topic is counted and ignored.
    publish(&broker, &format!("simrun/pools/{busy}/jobs/solo"), b"\x00 not json", false);
    w.wait_for("does not parse (1 so far)", Duration::from_secs(5));
    publish(&broker, &format!("simrun/pools/{busy}/runs/someone-else"), br#"{"v":1,"state":"gone"}"#, false);
    w.wait_for("run someone-else is gone", Duration::from_secs(5));
    let (code, stderr) = run(&broker, out.path(), &busy, &["tiers.cloud.workers.count=1"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1, "only the run that started made a folder");
}

#[test]
fn a_worker_the_broker_refuses_or_that_is_told_nonsense_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwords");
    let made = Command::new("mosquitto_passwd").arg("-b").arg("-c").arg(&passwords).args(["pi", "right"]).status();
    assert!(made.expect("mosquitto_passwd comes with mosquitto").success());
    let broker = Mosquitto::start_with(&format!("allow_anonymous false\npassword_file {}\n", passwords.display()));
    let url = broker.url();
    let login = ["--username", "pi", "--password-env", "SIMRUN_TEST_POOL_PASSWORD"];
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
    cmd.env("SIMRUN_TEST_POOL_PASSWORD", "wrong");
    let mut w = PoolWorker::spawn(cmd, &url, "p", "pi-01", CLOUD_MODEL, &login);
    assert_eq!(w.exit_code(Duration::from_secs(20)), 2, "{:?}", w.lines());
    assert!(w.lines().iter().any(|l| l.contains("refused the login of user \"pi\"")), "{:?}", w.lines());
    assert!(!w.lines().iter().any(|l| l.contains("wrong")), "the password never shows");
    for (args, said) in [
        (vec!["--broker", &url, "--pool", "a/b"], "--pool: a pool or worker name"),
        (vec!["--broker", &url, "--slowdown", "0.5"], "--slowdown 1 to"),
        (vec!["--broker", "auto"], "--broker: a worker connects"),
        (vec!["--broker", "tcp://x"], "--broker: unsupported broker url"),
        (vec!["--broker", &url, "--max-batch", "5000"], "--max-batch: must be from 1 to 1024"),
        (vec!["--broker", &url, "--max-batch", "8"], "--max-wait: must be positive when max_batch is above 1"),
        (vec!["--broker", &url, "--max-wait", "soon"], "--max-wait:"),
        (vec!["--broker", "mqtts://127.0.0.1:1", "--cert", "Cargo.toml"], "--key: a client certificate needs its key"),
        (vec!["--broker", &url, "--cert", "Cargo.toml", "--key", "Cargo.toml"], "--cert: needs an mqtts:// broker"),
        (vec!["--broker", "mqtts://127.0.0.1:1", "--ca", "no-such.pem"], "--ca no-such.pem: no such file"),
    ] {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simrun"));
        cmd.current_dir(root()).args(["worker", "--tier", "cloud", "--model", CLOUD_MODEL]);
        let o = cmd.args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}

/// A network namespace with a veth pair to this one, deleted when dropped.
struct Netns {
    name: String,
    host_ip: String,
    ns_ip: String,
}

impl Netns {
    /// Makes one, or says why it cannot be made here.
    fn make() -> Result<Netns, String> {
        let id = std::process::id() % 60_000;
        let name = format!("simrun-t{id}");
        let (host_if, ns_if) = (format!("srh{id}"), format!("srn{id}"));
        let octet = id % 250 + 1;
        let ns = Netns { name: name.clone(), host_ip: format!("10.231.{octet}.1"), ns_ip: format!("10.231.{octet}.2") };
        let ip = |args: &[&str]| -> Result<(), String> {
            let o = Command::new("ip").args(args).output().map_err(|e| format!("ip {args:?}: {e}"))?;
            o.status
                .success()
                .then_some(())
                .ok_or_else(|| format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim()))
        };
        ip(&["netns", "add", &name])?;
        let (host_cidr, ns_cidr) = (format!("{}/30", ns.host_ip), format!("{}/30", ns.ns_ip));
        let steps: [Vec<&str>; 6] = [
            vec!["link", "add", &host_if, "type", "veth", "peer", "name", &ns_if],
            vec!["link", "set", &ns_if, "netns", &name],
            vec!["addr", "add", &host_cidr, "dev", &host_if],
            vec!["link", "set", &host_if, "up"],
            vec!["-n", &name, "addr", "add", &ns_cidr, "dev", &ns_if],
            vec!["-n", &name, "link", "set", &ns_if, "up"],
        ];
        for step in &steps {
            let args: Vec<&str> = step.iter().map(|s| &**s).collect();
            ip(&args)?; // on failure `ns` drops and deletes the namespace
        }
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip").args(["netns", "delete", &self.name]).status();
    }
}

#[test]
fn a_worker_in_its_own_network_namespace_serves_over_a_veth_pair() {
    let _serial = serial("pools");
    let ns = match Netns::make() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED a_worker_in_its_own_network_namespace_serves_over_a_veth_pair: cannot make a network namespace here ({why}); it needs root and iproute2");
            return;
        }
    };
    // The broker listens on loopback (for the run) and on the veth (for the worker).
    let port = std::net::TcpListener::bind((ns.host_ip.as_str(), 0)).unwrap().local_addr().unwrap().port();
    let broker = Mosquitto::start_with(&format!("listener {port} {}\nallow_anonymous true\n", ns.host_ip));
    let pool = pool("netns");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name]).arg(assert_cmd::cargo::cargo_bin("simrun"));
    let url = format!("mqtt://{}:{port}", ns.host_ip);
    let mut w = PoolWorker::spawn(cmd, &url, &pool, "far", CLOUD_MODEL, &[]);
    w.wait_for("announced", Duration::from_secs(20));
    // The worker's process is in the namespace, which reaches the broker only over the veth.
    let inside = Command::new("ip").args(["netns", "identify", &w.child.id().to_string()]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&inside.stdout).trim(), ns.name);
    let out = tempfile::tempdir().unwrap();
    let (code, stderr) = run(&broker, out.path(), &pool, &["tiers.cloud.workers.count=1"]);
    assert_eq!(code, 0, "{stderr}");
    let dir = only_run(out.path());
    let samples = Table::read(&dir.join("samples.csv"));
    let served = samples.filter("worker", "far").filter(|r| r[samples.col("status")] == "ok").count();
    assert_eq!(served, samples.filter("tier", "cloud").count(), "every cloud request answered from the namespace");
    assert!(served > 100, "{served}");
}

#[test]
fn a_worker_announces_itself_again_when_its_broker_comes_back_without_its_retained_messages() {
    let _serial = serial("pools");
    let mut broker = Mosquitto::start();
    let (pool, mut w) = one_worker(&broker, "restart", "steady");
    // The broker keeps nothing across a restart (persistence false): the announcement is gone with it.
    broker.stop();
    broker.restart();
    w.wait_for("the broker is back: announcing again", Duration::from_secs(20));
    let out = tempfile::tempdir().unwrap();
    let (code, stderr) =
        run(&broker, out.path(), &pool, &["tiers.cloud.workers.count=1", "tiers.cloud.workers.wait=10s"]);
    assert_eq!(code, 0, "{stderr}");
}

/// `simrun run` of the shared-devices scenario against `broker`, its
/// devices dealt over the run and the device hosts of `pool`.
fn devices_run(broker: &Mosquitto, out: &Path, pool: &str, sets: &[&str]) -> Command {
    let pool = format!("devices.remote.pool={pool}");
    short_run("scenarios/m3b-devices.yaml", broker, out, &[&[pool.as_str(), "load.rate=150/s"], sets].concat())
}

/// Two device hosts of a pool of their own, announced.
fn two_hosts(broker: &Mosquitto, tag: &str) -> (String, PoolWorker, PoolWorker) {
    let pool = pool(tag);
    let mut a = PoolWorker::devices(&broker.url(), &pool, "fleet-a");
    let mut b = PoolWorker::devices(&broker.url(), &pool, "fleet-b");
    a.wait_for("announced", Duration::from_secs(20));
    b.wait_for("announced", Duration::from_secs(20));
    (pool, a, b)
}

#[test]
fn devices_split_over_the_run_and_two_device_hosts_give_one_folder_with_every_request_accounted_for() {
    let _serial = serial("pools");
    let broker = Mosquitto::start_with("allow_anonymous true\nsys_interval 1\n");
    let (pool, mut a, mut b) = two_hosts(&broker, "fleet");
    let out = tempfile::tempdir().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let before = broker.deliveries();
    let o = devices_run(&broker, out.path(), &pool, &["repetitions=2", "placement=both"]).output().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let delivered = broker.deliveries() - before;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}\n{:?}\n{:?}", a.lines(), b.lines());
    let dir = only_run(out.path());
    let report = results(&dir);
    let hosts = report["device_hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["this run", "fleet-a", "fleet-b"]);
    let samples = Table::read(&dir.join("samples.csv"));
    let (device, status, latency) = (samples.col("device"), samples.col("status"), samples.col("latency_us"));
    for (slot, h) in hosts.iter().enumerate() {
        let n = |k: &str| h[k].as_u64().unwrap();
        assert_eq!(n("devices"), 2, "{h}");
        // Two repetitions of 1.8 s at 150/s, a third of them each: about 180 requests, two tiers each.
        assert!((150..=210).contains(&n("sent")), "{h}");
        assert_eq!(n("expected"), 2 * n("sent"), "{h}");
        assert_eq!(n("ok") + n("timeouts") + n("errors"), n("expected"), "every request accounted for: {h}");
        assert!(n("ok") * 10 >= n("expected") * 9, "{h}");
        // The host's rows are in the one samples.csv: its devices are slot `slot`'s (d mod 3).
        let rows = samples
            .rows
            .iter()
            .filter(|r| r[device].trim_start_matches("dev-").parse::<usize>().unwrap() % 3 == slot)
            .count() as u64;
        assert_eq!(rows, n("expected"), "{h}");
    }
    assert_eq!(samples.rows.len() as u64, hosts.iter().map(|h| h["expected"].as_u64().unwrap()).sum::<u64>());
    // Answers go only to the collector of the slot that asked. Per request each tier's request
    // reaches one worker and its answer one collector: at least 4 deliveries, plus the floor's
    // echoes, control messages and sample batches (about 2 a request in a run this short: 5.98
    // measured). Answers fanned out to all three collectors would make it at least 2 + 2 × 3 = 8
    // before any of those, so the bound needs no figure for them.
    let requests: u64 = hosts.iter().map(|h| h["sent"].as_u64().unwrap()).sum();
    let per_request = delivered as f64 / requests as f64;
    assert!((4.0..8.0).contains(&per_request), "{delivered} deliveries for {requests} requests: {per_request:.2} each");
    // Each host's latencies were measured on its own clock: positive and far below the timeout.
    for r in samples.rows.iter().filter(|r| r[status] == "ok") {
        let us: u64 = r[latency].parse().unwrap();
        assert!((1..2_000_000).contains(&us), "{r:?}");
    }
    let members = report["manifest"]["remote_workers"].as_array().unwrap();
    assert!(members.iter().all(|m| m["served"]["role"] == "devices") && members.len() == 2, "{members:?}");
    let slots: Vec<u64> = members.iter().map(|m| m["served"]["slot"].as_u64().unwrap()).collect();
    assert_eq!(slots, [1, 2], "{members:?}");
    crate::common::check_results_schema(&[dir.join("results.json")]);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Device hosts") && md.contains("| fleet-b |"), "{md}");
    a.wait_for("released by run", Duration::from_secs(5));
    b.wait_for("released by run", Duration::from_secs(5));
}

#[test]
fn a_device_host_killed_mid_run_ends_it_with_exit_3_naming_it_and_keeps_finished_points() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    let (pool, mut a, mut b) = two_hosts(&broker, "fleet-kill");
    let out = tempfile::tempdir().unwrap();
    let cmd = devices_run(&broker, out.path(), &pool, &["repetitions=2", "load.duration=4s"]);
    let stderr = kill_mid_run(cmd, &mut b, "point 0.1: 2 devices connected", out.path());
    assert!(stderr.contains("device host fleet-b (pool"), "{stderr}");
    a.wait_for("released by run", Duration::from_secs(5));
}

#[test]
fn device_hosts_that_cannot_serve_are_refused_before_the_run_naming_who_answered() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    // A worker in the pool is not a device host; one host is too few for two.
    let pool = pool("fleet-misfit");
    let mut w = PoolWorker::start(&broker.url(), &pool, "cloud-a", CLOUD_MODEL, &[]);
    let mut d = PoolWorker::devices(&broker.url(), &pool, "fleet-a");
    w.wait_for("announced", Duration::from_secs(20));
    d.wait_for("announced", Duration::from_secs(20));
    let out = tempfile::tempdir().unwrap();
    let o = devices_run(&broker, out.path(), &pool, &["devices.remote.wait=1s"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1 of the 2 device host(s) the run needs were free within 1s"), "{stderr}");
    assert!(stderr.contains("cloud-a (cloud, host") && stderr.contains("is a worker, not a device host"), "{stderr}");
    assert!(stderr.contains("fleet-a (device host, host") && stderr.contains("free, and fits"), "{stderr}");
    // Nobody at all: the message says how to start one.
    let nobody = self::pool("fleet-none");
    let o = devices_run(&broker, out.path(), &nobody, &["devices.remote.wait=1s"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no device host announced itself") && stderr.contains("simrun devices --pool"), "{stderr}");
}

#[test]
fn links_apply_where_their_part_runs_in_a_remote_workers_process_and_in_front_of_a_device_hosts_devices() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    let (cloud, fleet) = (pool("links-cloud"), pool("links-fleet"));
    let mut w = PoolWorker::start(&broker.url(), &cloud, "cloud-a", CLOUD_MODEL, &[]);
    let mut d = PoolWorker::devices(&broker.url(), &fleet, "fleet-a");
    w.wait_for("announced", Duration::from_secs(20));
    d.wait_for("announced", Duration::from_secs(20));
    let out = tempfile::tempdir().unwrap();
    let sets = [
        "devices.count=4".to_string(),
        "devices.remote.hosts=1".to_string(),
        format!("tiers.cloud.workers={{remote: {cloud}, count: 1}}"),
        "tiers.cloud.link.latency=15ms".to_string(),
        "devices.link.latency=5ms".to_string(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let o = devices_run(&broker, out.path(), &fleet, &sets).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}\n{:?}\n{:?}", w.lines(), d.lines());
    let dir = only_run(out.path());
    let report = results(&dir);
    let links: std::collections::BTreeSet<&str> =
        report["links"].as_array().unwrap().iter().map(|l| l["link"].as_str().unwrap()).collect();
    let expected = ["cloud@cloud-a", "devices", "devices@fleet-a", "edge"];
    assert_eq!(links.into_iter().collect::<Vec<_>>(), expected, "each link where its part ran");
    // Every request crossed its devices' link both ways (10 ms), the cloud's
    // also the remote worker's (30 ms more), on either host.
    let samples = Table::read(&dir.join("samples.csv"));
    let (tier, status, latency, device) =
        (samples.col("tier"), samples.col("status"), samples.col("latency_us"), samples.col("device"));
    for host in [0, 1] {
        for (t, floor_ms) in [("edge", 10.0), ("cloud", 40.0)] {
            let mut l: Vec<f64> = samples
                .rows
                .iter()
                .filter(|r| r[tier] == t && r[status] == "ok")
                .filter(|r| r[device].trim_start_matches("dev-").parse::<u32>().unwrap() % 2 == host)
                .map(|r| r[latency].parse::<f64>().unwrap() / 1000.0)
                .collect();
            l.sort_by(f64::total_cmp);
            assert!(l.len() > 50, "{t} on slot {host}: {} answers", l.len());
            let p50 = l[l.len() / 2];
            assert!(p50 >= floor_ms && p50 < floor_ms + 30.0, "{t} on slot {host}: p50 {p50} ms");
        }
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("the cloud tier's link emulated in each worker's process"), "{md}");
}

#[test]
fn a_worker_batches_as_its_flags_say_and_announces_it() {
    let _serial = serial("pools");
    let broker = Mosquitto::start();
    let pool = pool("batch");
    let flags = ["--max-batch", "8", "--max-wait", "3ms"];
    let mut a = PoolWorker::start(&broker.url(), &pool, "cloud-a", CLOUD_MODEL, &flags);
    let mut b = PoolWorker::start(&broker.url(), &pool, "cloud-b", CLOUD_MODEL, &flags);
    a.wait_for("announced", Duration::from_secs(20));
    b.wait_for("announced", Duration::from_secs(20));
    let out = tempfile::tempdir().unwrap();
    // 8 devices at 800/s: requests arrive well within 3 ms of each other.
    let (code, stderr) = run(&broker, out.path(), &pool, &["load.rate=800/s", "devices.count=8"]);
    assert_eq!(code, 0, "{stderr}");
    let dir = only_run(out.path());
    let samples = Table::read(&dir.join("samples.csv"));
    let (tier, batch) = (samples.col("tier"), samples.col("batch"));
    let sizes: Vec<u32> =
        samples.rows.iter().filter(|r| r[tier] == "cloud").filter_map(|r| r[batch].parse().ok()).collect();
    assert!(!sizes.is_empty() && sizes.iter().all(|&n| (1..=8).contains(&n)), "{sizes:?}");
    assert!(sizes.iter().any(|&n| n > 1), "some requests shared a call: {sizes:?}");
    let report = results(&dir);
    for w in report["manifest"]["remote_workers"].as_array().unwrap() {
        let compute = w["served"]["compute"].as_str().unwrap_or_default();
        assert!(compute.contains("batches of up to 8 requests or 3ms"), "{w}");
    }
}
