//! What simrun needs from a broker, and what it says when a broker falls
//! short: NATS's MQTT gateway (no shared subscriptions), and a Mosquitto whose
//! access control keeps a tier's answers from the devices.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{simrun, Mosquitto, Table};

/// A private NATS server with its MQTT gateway on a free port, stopped by PID.
struct Nats {
    child: Child,
    mqtt_port: u16,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// `None` (and a line saying why) when `nats-server` is not installed.
    fn start() -> Option<Nats> {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())?;
        let dir = tempfile::tempdir().unwrap();
        let (client_port, mqtt_port) = (crate::common::closed_port(), crate::common::closed_port());
        let conf = dir.path().join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "server_name: simrun-test\nlisten: 127.0.0.1:{client_port}\n\
                 jetstream {{ store_dir: \"{}\" }}\nmqtt {{ listen: 127.0.0.1:{mqtt_port} }}\n",
                dir.path().join("js").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("nats-server exited with {status}");
            }
            if TcpStream::connect(("127.0.0.1", mqtt_port)).is_ok() {
                return Some(Nats { child, mqtt_port, _dir: dir });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nats-server's MQTT gateway did not listen on {mqtt_port} within 15 s");
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.mqtt_port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smoke(url: &str, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let url = format!("broker.url={url}");
    let mut args = vec!["run", "scenarios/smoke.yaml", "--quiet", "--out", out.to_str().unwrap(), "--set", &url];
    args.extend_from_slice(&["--set", "sweep={}", "--set", "load.duration=500ms"]);
    args.extend_from_slice(extra);
    simrun(&args)
}

#[test]
fn nats_serves_one_worker_per_tier_and_refuses_two_before_the_sweep() {
    let Some(nats) = Nats::start() else {
        eprintln!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    // One worker per tier: a plain subscription, which NATS delivers to.
    let (code, stdout, stderr) = smoke(&nats.url(), out.path(), &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report = PathBuf::from(stdout.lines().last().unwrap());
    let summary = Table::read(&report.parent().unwrap().join("summary.csv"));
    for tier in ["edge", "cloud"] {
        let row = summary.filter("tier", tier).next().unwrap();
        assert_eq!(summary.num(row, "ok"), summary.num(row, "requests"), "{tier}: {row:?}");
    }

    // Two workers per tier need a shared subscription, which NATS grants and never
    // delivers to: refused before the sweep, with the reason, and no results folder.
    let refused = out.path().join("refused");
    let (code, _, stderr) = smoke(&nats.url(), &refused, &["--set", "tiers.cloud.workers=2"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("shared subscription")
            && stderr.contains("NATS and RabbitMQ do not support `$share`")
            && stderr.contains("tiers.cloud.workers: 1"),
        "{stderr}"
    );
    assert!(!refused.exists(), "nothing was run, so nothing was written");
    // validate says the same.
    let url = format!("broker.url={}", nats.url());
    let (code, _, stderr) =
        simrun(&["validate", "scenarios/smoke.yaml", "--set", &url, "--set", "tiers.cloud.workers=2"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("shared subscription"), "{stderr}");
}

#[test]
fn a_tier_that_answers_nothing_fails_the_run() {
    // The cloud's workers may read their requests but not publish their answers
    // (read-only), so the devices hear nothing from the cloud.
    let acl_dir = tempfile::tempdir().unwrap();
    let acl = acl_dir.path().join("acl");
    std::fs::write(
        &acl,
        "topic read $SYS/#\ntopic readwrite simrun/+/floor/#\ntopic readwrite simrun/+/edge/#\n\
         topic readwrite simrun/+/cloud/request/+\ntopic readwrite simrun/+/cloud/error/+\n\
         topic read simrun/+/cloud/response/+\n",
    )
    .unwrap();
    let broker = Mosquitto::start_with(&format!("allow_anonymous true\nacl_file {}\n", acl.display()));
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = smoke(&broker.url(), out.path(), &["--set", "load.timeout=300ms"]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stderr.contains("the cloud tier answered none of its") && stderr.contains("likely causes"), "{stderr}");
    let report = PathBuf::from(stdout.lines().last().expect("the report path"));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("**Status:** ❌ FAILED: the cloud tier answered none of its requests"), "{md}");
    // The edge was measured all the same.
    let summary = Table::read(&report.parent().unwrap().join("summary.csv"));
    let edge = summary.filter("tier", "edge").next().unwrap();
    assert!(summary.num(edge, "ok") > 0.0, "{edge:?}");

    // A request topic the tier's workers cannot read is caught before the sweep.
    let deny_dir = tempfile::tempdir().unwrap();
    let deny = deny_dir.path().join("acl");
    std::fs::write(&deny, "topic read $SYS/#\ntopic readwrite simrun/+/floor/#\ntopic readwrite simrun/+/edge/#\n")
        .unwrap();
    let broker = Mosquitto::start_with(&format!("allow_anonymous true\nacl_file {}\n", deny.display()));
    let (code, _, stderr) = smoke(&broker.url(), &out.path().join("denied"), &[]);
    assert_eq!(code, 2, "{stderr}");
    // (Mosquitto turns the subscription away; a broker may also grant it and deliver nothing.)
    assert!(
        (stderr.contains("delivered nothing") || stderr.contains("refused the cloud tier's subscription"))
            && stderr.contains("access control"),
        "{stderr}"
    );
}
