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

/// The next message a subscriber hears within 5 s: topic, payload, QoS.
async fn next_publish(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<simrun::run::broker::Received>,
) -> Option<(String, Vec<u8>, rumqttc::QoS)> {
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.ok().flatten();
    got.map(|(_, p)| (p.topic, p.payload.to_vec(), p.qos))
}

/// A simulated device's own MQTT client (`run::lean`) against a real
/// Mosquitto: what it publishes at QoS 0 and 1 arrives, it connects again
/// after the broker restarts, and a refused login is a refusal naming the user.
#[test]
fn a_device_connection_publishes_at_both_qos_comes_back_after_a_restart_and_names_a_refused_user() {
    use simrun::run::broker::Connection;
    use simrun::run::lean::DeviceConnection;
    let mut broker = crate::common::Mosquitto::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let cfg = broker.config();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", cfg.port).parse().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let topics = [("lean/#".to_string(), rumqttc::QoS::AtLeastOnce)];
        let listener = Connection::open("lean-listener", addr, &cfg, &topics, Some(tx)).await.unwrap();
        let device = DeviceConnection::open("lean-device", addr, &cfg, 1).await.unwrap();
        assert!(matches!(device, DeviceConnection::Lean(_)), "plain TCP: the lean client");
        let client = device.client();
        client.try_publish("lean/0", rumqttc::QoS::AtMostOnce, b"zero").unwrap();
        assert_eq!(next_publish(&mut rx).await, Some(("lean/0".into(), b"zero".to_vec(), rumqttc::QoS::AtMostOnce)));
        let big = vec![7u8; 200_000]; // a remaining length of three bytes
        client.try_publish("lean/1", rumqttc::QoS::AtLeastOnce, &big).unwrap();
        assert_eq!(next_publish(&mut rx).await, Some(("lean/1".into(), big, rumqttc::QoS::AtLeastOnce)));

        // The broker goes and comes back: the device connects again by itself.
        broker.stop();
        broker.restart();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut heard = None;
        while heard.is_none() && std::time::Instant::now() < deadline {
            let _ = client.try_publish("lean/again", rumqttc::QoS::AtLeastOnce, b"back");
            heard = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await.ok().flatten();
        }
        let (_, p) = heard.expect("the device published again after the broker restarted");
        assert_eq!((p.topic.as_str(), &p.payload[..]), ("lean/again", &b"back"[..]));
        device.close().await;
        listener.close().await;
    });

    // A broker that wants a password: a wrong one is refused, naming the user.
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwords");
    let mut made = Command::new("mosquitto_passwd");
    made.arg("-b").arg("-c").arg(&passwords).args(["dev", "right"]);
    assert!(made.status().expect("mosquitto_passwd comes with mosquitto").success());
    let locked = crate::common::Mosquitto::start_with(&format!(
        "allow_anonymous false\npassword_file {}\n",
        passwords.display()
    ));
    rt.block_on(async {
        let mut cfg = locked.config();
        let login = |p: &str| simrun::plan::Login {
            username: "dev".into(),
            password: Some(simrun::plan::Secret::new(p.into())),
        };
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", cfg.port).parse().unwrap();
        cfg.login = Some(login("wrong"));
        let refused = DeviceConnection::open("lean-device", addr, &cfg, 1).await.err().expect("a wrong password");
        let text = refused.to_string();
        assert!(matches!(refused, simrun::run::RunError::Refused { .. }), "{text}");
        // Mosquitto 2.0 answers a wrong password with "not authorized" (CONNACK code 5).
        assert!(text.contains("refused the login of user \"dev\""), "{text}");
        assert!(!text.contains("wrong"), "the password is in {text}");
        cfg.login = Some(login("right"));
        let device = DeviceConnection::open("lean-device", addr, &cfg, 1).await.expect("the right password");
        device.close().await;
    });
}
