//! End to end against a real Mosquitto started by each test: real ONNX
//! Runtime and candle workers, real links, the real binary.

use std::time::Duration;

use crate::common::{Mosquitto, Table};
use assert_cmd::Command;
use rumqttc::QoS;
use simrun::backend;
use simrun::plan::Tier;
use simrun::run::broker::Connection;
use simrun::run::worker::{Worker, WorkerSpec};
use simrun::wire::{self, ErrorReply, Response, Topic};

type Inbox = tokio::sync::mpsc::UnboundedReceiver<simrun::run::broker::Received>;

/// A client subscribed to `topics` through simrun's own connection code.
async fn test_client(broker: &Mosquitto, topics: &[String]) -> (Connection, Inbox) {
    let addr = format!("127.0.0.1:{}", broker.port).parse().unwrap();
    let topics: Vec<(String, QoS)> = topics.iter().map(|t| (t.clone(), QoS::AtLeastOnce)).collect();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let conn = Connection::open("itest-client", addr, &broker.config(), &topics, Some(tx)).await.expect("subscribed");
    (conn, rx)
}

async fn next_message(rx: &mut Inbox) -> (String, Vec<u8>) {
    let (_, p) =
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an answer within 10 s").expect("open");
    (p.topic, p.payload.to_vec())
}

fn request(id: &str, features: &[f32]) -> Vec<u8> {
    serde_json::to_vec(&wire::Request { v: 1, id: id.into(), device: "dev-000".into(), features: features.to_vec() })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_answer_on_their_topics_with_the_models_probability_and_survive_bad_requests() {
    let broker = Mosquitto::start();
    let root = crate::common::root();
    let addr = format!("127.0.0.1:{}", broker.port).parse().unwrap();
    let run_id = "itest";
    let mut workers = Vec::new();
    for (tier, model) in
        [(Tier::Edge, "models/anomaly_detector.onnx"), (Tier::Cloud, "models/anomaly_detector.safetensors")]
    {
        let spec = WorkerSpec {
            run_id: run_id.into(),
            tier,
            index: 0,
            label: None,
            features: 32,
            qos: 1,
            addr,
            broker: broker.config(),
            shared: false,
            slowdown: 1.0,
            slots: 1,
            queue_limit: 1000,
            batching: None,
            offload: None,
            split: None,
        };
        let model = backend::load(&root.join(model)).expect("model loads");
        let timer = simrun::run::timer::PreciseTimer::start().expect("timer thread");
        workers.push(Worker::start(spec, model, timer).await.expect("worker connects and subscribes"));
    }
    let topics: Vec<String> = Tier::ALL
        .iter()
        .flat_map(|&t| [Topic::Response, Topic::Error].map(|k| wire::every_slot(run_id, t, k)))
        .collect();
    let (conn, mut rx) = test_client(&broker, &topics).await;
    let client = conn.client.clone();
    let features: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) / 8.0).collect();
    let mut reference = backend::load(&root.join("models/anomaly_detector.onnx")).unwrap();
    let expected = reference.infer(&features).unwrap()[0];

    for tier in Tier::ALL {
        // Slot 2: as from device host 2's devices, so every answer must come back in slot 2.
        let request_topic = wire::topic(run_id, tier, Topic::Request, 2);
        // A good request, garbage, a wrong width, then a good one again: the worker keeps serving.
        let binary = |id: &str| {
            let r = wire::Request { v: 2, id: id.into(), device: "dev-000".into(), features: features.clone() };
            wire::encode_request(&r, &[32], simrun::plan::Encoding::Binary)
        };
        let truncated = binary("t");
        let bad: [&[u8]; 4] = [
            b"\x00not json",
            br#"{"v":1,"id":"w","features":[1,2]}"#,
            br#"{"v":9,"id":"v","features":[]}"#,
            &truncated[..truncated.len() - 3],
        ];
        client.publish(&request_topic, QoS::AtLeastOnce, false, request("itest/0.0/1", &features)).await.unwrap();
        let (topic, payload) = next_message(&mut rx).await;
        assert_eq!(topic, wire::topic(run_id, tier, Topic::Response, 2));
        let r: Response = serde_json::from_slice(&payload).unwrap();
        assert_eq!((r.id.as_str(), r.tier, r.worker.as_str()), ("itest/0.0/1", tier, &*format!("{tier}-0")));
        assert!((r.probability - expected).abs() <= 1e-5, "{tier}: {} vs {expected}", r.probability);
        assert!(r.infer_us < 1_000_000 && r.queue_us < 1_000_000);

        let mut errors = Vec::new();
        for b in bad {
            client.publish(&request_topic, QoS::AtLeastOnce, false, b.to_vec()).await.unwrap();
            let (topic, payload) = next_message(&mut rx).await;
            assert_eq!(topic, wire::topic(run_id, tier, Topic::Error, 2));
            errors.push(serde_json::from_slice::<ErrorReply>(&payload).unwrap());
        }
        assert!(errors[0].id.is_none() && errors[0].error.contains("not a valid request"), "{:?}", errors[0]);
        assert_eq!(errors[1].id.as_deref(), Some("w"));
        assert!(errors[1].error.contains("expected 32 values, got 2"), "{:?}", errors[1]);
        assert!(errors[2].error.contains("unsupported schema version 9"), "{:?}", errors[2]);
        assert_eq!(errors[3].id.as_deref(), Some("t"));
        assert!(errors[3].error.contains("binary request: body of 125 bytes, the shape needs 128"), "{:?}", errors[3]);
        // A binary request (version 2) is answered as a JSON one is.
        client.publish(&request_topic, QoS::AtLeastOnce, false, binary("itest/0.0/3")).await.unwrap();
        let (topic, payload) = next_message(&mut rx).await;
        assert_eq!(topic, wire::topic(run_id, tier, Topic::Response, 2));
        let r: Response = serde_json::from_slice(&payload).unwrap();
        assert_eq!(r.id, "itest/0.0/3");
        assert!((r.probability - expected).abs() <= 1e-5, "{tier}: {} vs {expected}", r.probability);

        client.publish(&request_topic, QoS::AtLeastOnce, false, request("itest/0.0/2", &features)).await.unwrap();
        let (topic, payload) = next_message(&mut rx).await;
        assert_eq!(topic, wire::topic(run_id, tier, Topic::Response, 2));
        assert_eq!(serde_json::from_slice::<Response>(&payload).unwrap().id, "itest/0.0/2");
    }
    for w in workers {
        assert_eq!(w.counters.rejected.load(std::sync::atomic::Ordering::Relaxed), 4);
        w.stop().await.expect("worker stops cleanly");
    }
}

#[test]
fn a_sweep_runs_end_to_end_and_the_cloud_link_shows_in_the_latency() {
    let broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    let output = Command::cargo_bin("simrun")
        .unwrap()
        .current_dir(crate::common::root())
        .args(["scenarios/smoke.yaml", "--quiet", "--out"])
        .arg(out.path())
        .args(["--set", &format!("broker.url={}", broker.url())])
        .args(["--set", "sweep.tiers.cloud.link.latency=[0ms, 25ms]"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    let report = std::path::PathBuf::from(stdout.lines().last().expect("the report path"));
    assert_eq!(report.file_name().unwrap(), "report.md");
    let dir = report.parent().unwrap();
    assert!(dir.starts_with(out.path().join("smoke")));
    for f in ["scenario.yaml", "manifest.json", "samples.csv", "summary.csv", "report.md"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }

    let summary = Table::read(&dir.join("summary.csv"));
    let (header, rows) = (&summary.header, &summary.rows);
    let wanted = "run_id,point,repetition,tier,requests,ok,timeouts,errors,throughput_rps,latency_mean_us,latency_p50_us,latency_p90_us,latency_p95_us,latency_p99_us,latency_max_us,infer_p50_us,queue_p50_us,param:tiers.cloud.link.latency";
    assert!(header.join(",").starts_with(wanted), "{header:?}");
    assert_eq!(rows.len(), 4, "2 points × 2 tiers");
    let (col, num) = (|name: &str| summary.col(name), |row: &Vec<String>, name: &str| summary.num(row, name));
    for row in rows {
        assert_eq!(num(row, "requests"), num(row, "ok") + num(row, "timeouts") + num(row, "errors"));
        assert_eq!(num(row, "requests"), 100.0, "100/s for 1 s measured");
        assert!(num(row, "ok") >= 95.0, "{row:?}");
    }
    let p50 = |tier: &str, latency: &str| {
        let row = rows
            .iter()
            .find(|r| r[col("tier")] == tier && r[col("param:tiers.cloud.link.latency")] == latency)
            .unwrap();
        num(row, "latency_p50_us")
    };
    let edge = p50("edge", "25ms");
    let cloud = p50("cloud", "25ms");
    // 25 ms one way = 50 ms round trip, on top of what the edge takes. Loose bounds: a gross bug only.
    assert!(edge < 10_000.0, "edge p50 {edge} µs");
    assert!(cloud >= 50_000.0, "the link may never deliver early: cloud p50 {cloud} µs");
    assert!(cloud <= 50_000.0 + edge + 15_000.0, "cloud p50 {cloud} µs, edge p50 {edge} µs");
    assert!(p50("cloud", "0ms") < 10_000.0);

    let table = Table::read(&dir.join("samples.csv"));
    let (sheader, samples) = (&table.header, &table.rows);
    assert_eq!(
        sheader[..15].join(","),
        "run_id,point,repetition,tier,device,seq,phase,intended_us,sent_us,received_us,latency_us,queue_us,infer_us,status,probability"
    );
    // 120 requests per point (20 warmup + 100 measured), each to both tiers, 2 points.
    assert_eq!(samples.len(), 480);
    let scol = |name: &str| table.col(name);
    assert_eq!(samples.iter().filter(|r| r[scol("phase")] == "warmup").count(), 80);
    assert!(samples.iter().all(|r| ["ok", "timeout", "error"].contains(&r[scol("status")].as_str())));

    let md = std::fs::read_to_string(&report).unwrap();
    for needle in [
        "# Results: smoke",
        "**Status:**",
        "## Summary",
        "## Model validation",
        "## Edge vs cloud",
        "| 25ms |",
        "## Environment",
        "## Reproduce",
        "mosquitto",
    ] {
        assert!(md.contains(needle), "report lacks {needle:?}:\n{md}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["onnxruntime_version"].as_str().unwrap().starts_with("1.31.1"), "{manifest}");
    assert_eq!(manifest["models"].as_array().unwrap().len(), 2);
    let resolved = std::fs::read_to_string(dir.join("scenario.yaml")).unwrap();
    assert!(resolved.contains(&broker.url()) && resolved.contains("25ms"), "{resolved}");
}

#[test]
fn an_unreachable_results_folder_fails_before_the_run() {
    let broker = Mosquitto::start();
    let output = Command::cargo_bin("simrun")
        .unwrap()
        .current_dir(crate::common::root())
        .args(["run", "scenarios/smoke.yaml", "--out", "/proc/simrun-cannot-write-here"])
        .args(["--set", &format!("broker.url={}", broker.url())])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot create results folder /proc/simrun-cannot-write-here"), "{stderr}");
}

#[test]
fn either_runtime_serves_either_tier() {
    // The same network in both files: candle at the edge, ONNX Runtime in the cloud.
    let broker = crate::common::Mosquitto::start();
    let dir = crate::common::run_smoke(
        &broker,
        &[
            "tiers.edge.model=../models/anomaly_detector.safetensors",
            "tiers.cloud.model=../models/anomaly_detector.onnx",
            "sweep={}",
        ],
    );
    let summary = crate::common::Table::read(&dir.join("summary.csv"));
    for tier in ["edge", "cloud"] {
        let row = summary.filter("tier", tier).next().unwrap_or_else(|| panic!("no {tier} row"));
        assert_eq!(summary.num(row, "ok"), summary.num(row, "requests"), "{tier}: {row:?}");
        assert!(summary.num(row, "requests") >= 100.0, "{tier}: {row:?}");
        // 32 floats as JSON text, and an answer of a probability and timings.
        let (request, response) = (summary.num(row, "request_bytes_mean"), summary.num(row, "response_bytes_mean"));
        assert!((200.0..2_000.0).contains(&request) && (50.0..1_000.0).contains(&response), "{tier}: {row:?}");
    }
    // Each sample carries its own sizes, and the summary's means are theirs.
    let samples = crate::common::Table::read(&dir.join("samples.csv"));
    let measured: Vec<_> = samples.filter("phase", "measure").filter(|r| r[samples.col("tier")] == "edge").collect();
    let mean = measured.iter().map(|r| samples.num(r, "request_bytes")).sum::<f64>() / measured.len() as f64;
    let edge = summary.filter("tier", "edge").next().unwrap();
    assert!((mean - summary.num(edge, "request_bytes_mean")).abs() < 0.1, "{mean}");
    assert!(measured.iter().all(|r| samples.num(r, "response_bytes") > 0.0));
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("edge `models/anomaly_detector.safetensors` in candle")
            && report.contains("cloud `models/anomaly_detector.onnx` in ONNX Runtime"),
        "{report}"
    );
}

#[test]
fn a_slower_edge_holds_each_inference_for_its_slowdown() {
    let broker = crate::common::Mosquitto::start();
    let dir = crate::common::run_smoke(
        &broker,
        &["placement=edge", "sweep={tiers.edge.compute.slowdown: [1, 10]}", "load.duration=2s"],
    );
    let summary = crate::common::Table::read(&dir.join("summary.csv"));
    let row = |k: &str| {
        summary
            .filter("tier", "edge")
            .find(|r| r[summary.col("param:tiers.edge.compute.slowdown")] == k && r[summary.col("repetition")] == "0")
            .unwrap_or_else(|| panic!("no row for slowdown {k}"))
            .clone()
    };
    let (plain, slow) = (row("1"), row("10"));
    assert_eq!(summary.num(&slow, "ok"), summary.num(&slow, "requests"), "{slow:?}");
    assert!(plain[summary.col("held_p50_us")].is_empty() && plain[summary.col("slowdown_p50")].is_empty());
    // Held nine times the call it follows, on a timer that wakes a little late:
    // loosely bounded, the compute fidelity figures are for a benchmark.
    let achieved = summary.num(&slow, "slowdown_p50");
    assert!((8.5..=20.0).contains(&achieved), "slowdown 10 achieved {achieved}: {slow:?}");
    // Nine calls' worth, less the early aim of the wake-up lag (tens of µs).
    assert!(summary.num(&slow, "held_p50_us") > 5.0 * summary.num(&slow, "infer_p50_us"), "{slow:?}");
    // The hold is the worker's time, not the network's.
    let samples = crate::common::Table::read(&dir.join("samples.csv"));
    for r in samples.filter("phase", "measure").filter(|r| r[samples.col("point")] == "1") {
        let parts = ["queue_us", "infer_us", "held_us", "network_us"].map(|c| samples.num(r, c));
        assert_eq!(parts.iter().sum::<f64>(), samples.num(r, "latency_us"), "{r:?}");
        // Each hold says how late it ended: the hold less its lateness is at most the nine calls it was
        // due to last (less when it ended early), whole microseconds rounded down on each side.
        let (held, late, infer) =
            (samples.num(r, "held_us"), samples.num(r, "held_late_us"), samples.num(r, "infer_us"));
        assert!(held - late <= 9.0 * (infer + 1.0) + 1.0, "held {held} late {late} infer {infer}: {r:?}");
    }
    let late = summary.num(&slow, "held_late_share");
    assert!((0.0..=1.0).contains(&late), "{slow:?}");
    assert!(plain[summary.col("held_late_share")].is_empty(), "{plain:?}");
    // The report's compute fidelity table has a row for the slowed point only.
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let section = report.split("### Compute fidelity").nth(1).expect("a compute fidelity section");
    let rows: Vec<&str> = section.lines().filter(|l| l.contains("| edge |")).collect();
    assert_eq!(rows.len(), 1, "{section}");
    assert!(rows[0].starts_with("| 10 | edge | 10 | "), "{section}");
}

#[test]
fn labelled_rows_give_each_tier_its_accuracy_and_each_answer_its_prediction() {
    let broker = crate::common::Mosquitto::start();
    let dir = crate::common::run_smoke(
        &broker,
        &[
            "devices.features=null",
            "devices.input={data: ../models/data/digits-test.csv}",
            "tiers.edge.model=../models/digits_small.onnx",
            "tiers.cloud.model=../models/digits_big.safetensors",
            "sweep={}",
            "load.duration=2s",
        ],
    );
    // The rows as the devices read them, and each model's answer to each, run here outside the pipeline.
    let root = crate::common::root();
    let data = crate::common::Table::read(&root.join("models/data/digits-test.csv"));
    let pixels: Vec<f32> = data.rows.iter().flat_map(|r| r[..64].iter().map(|v| v.parse::<f32>().unwrap())).collect();
    let labels: Vec<i64> = data.rows.iter().map(|r| r[64].parse().unwrap()).collect();
    let offline = |model: &str| -> Vec<i64> {
        let out = simrun::backend::load(&root.join(model)).unwrap().infer(&pixels).unwrap();
        out.chunks(10)
            .map(|c| {
                let (probability, class) = simrun::wire::score(c);
                simrun::wire::prediction(probability, class)
            })
            .collect()
    };
    let samples = crate::common::Table::read(&dir.join("samples.csv"));
    let summary = crate::common::Table::read(&dir.join("summary.csv"));
    for (tier, model) in [("edge", "models/digits_small.onnx"), ("cloud", "models/digits_big.safetensors")] {
        let expected = offline(model);
        let rows: Vec<_> = samples.filter("tier", tier).filter(|r| r[samples.col("phase")] == "measure").collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut correct = 0;
        for r in &rows {
            let row: usize = r[samples.col("row")].parse().unwrap();
            let (label, prediction): (i64, i64) =
                (r[samples.col("label")].parse().unwrap(), r[samples.col("prediction")].parse().unwrap());
            assert_eq!(label, labels[row], "{tier}: the label of row {row}");
            assert_eq!(prediction, expected[row], "{tier}: the prediction for row {row}");
            correct += usize::from(label == prediction);
            seen.insert(row);
        }
        // 220 requests of 540 rows: a seeded order sends no row twice.
        assert_eq!(seen.len(), rows.len(), "{tier}: a row repeated before every row was sent");
        let row = summary.filter("tier", tier).next().unwrap();
        assert_eq!(summary.num(row, "labelled") as usize, rows.len(), "{row:?}");
        let accuracy = correct as f64 / rows.len() as f64;
        assert!((summary.num(row, "accuracy") - accuracy).abs() < 1e-4, "{tier}: {accuracy} against {row:?}");
        assert!(accuracy > 0.8, "{tier}: a trained model gets most digits right, got {accuracy}");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("### Accuracy") && report.contains("labelled answers"), "{report}");
    assert!(report.contains("Devices sent [64] float32, the 540 rows of `models/data/digits-test.csv` (labelled)"));
    assert!(report.contains("in JSON requests (wire version 1)"), "{report}");
}

#[test]
fn images_travel_as_binary_requests_and_a_narrow_link_shows_their_size() {
    let broker = crate::common::Mosquitto::start();
    let dir = crate::common::run_smoke(
        &broker,
        &[
            "devices.features=null",
            "broker.encoding=binary",
            "tiers.edge.model=../models/image_cnn.onnx",
            "tiers.cloud.model=../models/image_cnn.onnx",
            "tiers.cloud.link={latency: 5ms, bandwidth: 20Mbit/s}",
            "sweep={}",
            "load.rate=10/s",
            "load.duration=2s",
        ],
    );
    let summary = crate::common::Table::read(&dir.join("summary.csv"));
    // 3×96×96 float32 values and a 58-byte header (id `<run-id>/0.0/<seq>`, device, four dimensions).
    let samples = crate::common::Table::read(&dir.join("samples.csv"));
    for r in samples.filter("phase", "measure") {
        let bytes = samples.num(r, "request_bytes") as usize;
        assert!((110_592 + 40..110_592 + 80).contains(&bytes), "{bytes}");
    }
    let (edge, cloud) =
        (summary.filter("tier", "edge").next().unwrap(), summary.filter("tier", "cloud").next().unwrap());
    for row in [edge, cloud] {
        assert_eq!(summary.num(row, "ok"), summary.num(row, "requests"), "{row:?}");
    }
    // 110 KB through 20 Mbit/s takes 44 ms on the way to the cloud, on top of its 5 ms each way.
    assert!(summary.num(cloud, "latency_p50_us") > 44_000.0 + 10_000.0, "{cloud:?}");
    let achieved = summary.num(cloud, "link:cloud:down:achieved_bandwidth_bps");
    assert!((achieved / 20e6 - 1.0).abs() < 0.10, "achieved {achieved} bit/s");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("Devices sent [3, 96, 96] float32, seeded uniform in [-2, 2), in binary requests"),
        "{report}"
    );
}

#[test]
fn a_busy_edge_queues_then_answers_overloaded_and_more_slots_carry_more() {
    let broker = crate::common::Mosquitto::start();
    // The CNN (0.9–1.3 ms a call here) computing twenty times slower holds each slot 17 ms or more:
    // one slot carries at most ~60/s of the 300/s offered, four about four times that. (At five times
    // slower a fast spell of the machine let one slot carry 218/s, too close to what four carry.)
    let dir = crate::common::run_smoke(
        &broker,
        &[
            "placement=edge",
            "devices.features=null",
            "broker.encoding=binary",
            "tiers.edge.model=../models/image_cnn.onnx",
            "tiers.edge.compute={slowdown: 20, queue_limit: 10}",
            "sweep={tiers.edge.compute.slots: [1, 4]}",
            "load.rate=300/s",
            "load.duration=2s",
            "load.warmup=1s",
            "load.timeout=5s",
        ],
    );
    let summary = crate::common::Table::read(&dir.join("summary.csv"));
    let row = |slots: &str| {
        summary
            .filter("tier", "edge")
            .find(|r| r[summary.col("param:tiers.edge.compute.slots")] == slots)
            .unwrap_or_else(|| panic!("no row for {slots} slots"))
            .clone()
    };
    let (one, four) = (row("1"), row("4"));
    for r in [&one, &four] {
        // Every refusal is an overload, answered at once: nothing times out, nothing else fails.
        assert_eq!(summary.num(r, "timeouts"), 0.0, "{r:?}");
        assert_eq!(summary.num(r, "errors"), summary.num(r, "overloaded"), "{r:?}");
    }
    assert!(summary.num(&one, "overloaded") > 0.0, "a full queue of 10 refuses: {one:?}");
    assert!(summary.num(&one, "throughput_rps") < 0.8 * 300.0, "{one:?}");
    // Waiting for the one slot shows as queueing: up to ten holds of several ms each.
    assert!(summary.num(&one, "queue_p99_us") > 1_000.0, "{one:?}");
    let ratio = summary.num(&four, "throughput_rps") / summary.num(&one, "throughput_rps");
    assert!(ratio > 1.7, "four slots carried {ratio:.2}× one slot's throughput: {one:?} {four:?}");
    let samples = crate::common::Table::read(&dir.join("samples.csv"));
    let refused = samples.filter("status", "error").next().expect("an overloaded sample");
    assert!(
        refused[samples.col("error")].starts_with("overloaded: 10 requests already wait for a slot"),
        "{refused:?}"
    );
}

#[test]
fn a_batching_cloud_gathers_requests_within_max_wait_and_keeps_up() {
    let broker = crate::common::Mosquitto::start();
    // 2,000 requests/s from four devices: with a 2 ms window about four wait together.
    let dir = crate::common::run_smoke(
        &broker,
        &[
            "placement=cloud",
            "devices.count=4",
            "tiers.cloud.model=../models/anomaly_detector.onnx",
            "tiers.cloud.link={latency: 0ms}",
            "sweep={tiers.cloud.batching: [null, {max_batch: 16, max_wait: 2ms}]}",
            "load.rate=2000/s",
            "load.duration=2s",
            "load.warmup=500ms",
            "load.timeout=5s",
        ],
    );
    let summary = crate::common::Table::read(&dir.join("summary.csv"));
    let rows: Vec<_> = summary.filter("tier", "cloud").cloned().collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (plain, batched) = (&rows[0], &rows[1]);
    for r in [plain, batched] {
        assert_eq!(summary.num(r, "ok"), summary.num(r, "requests"), "every request answered: {r:?}");
    }
    assert!(plain[summary.col("batch_mean")].is_empty(), "{plain:?}");
    assert!(summary.num(batched, "batch_mean") > 1.5, "{batched:?}");
    assert!(summary.num(batched, "batch_max") <= 16.0, "{batched:?}");
    // Throughput holds: batching answers what it is offered.
    let ratio = summary.num(batched, "throughput_rps") / summary.num(plain, "throughput_rps");
    assert!(ratio > 0.95, "batched throughput {ratio:.3}× the unbatched: {plain:?} {batched:?}");
    // The wait for the batch to fill is in queue_us and bounded by max_wait (plus the timer's error,
    // bounded loosely for a busy machine); without batching there is next to none.
    let batched_queue = summary.num(batched, "queue_p50_us");
    assert!(batched_queue > summary.num(plain, "queue_p50_us"), "{plain:?} {batched:?}");
    assert!(batched_queue <= 3_000.0, "{batched:?}");
    assert!(summary.num(batched, "queue_p99_us") <= 12_000.0, "{batched:?}");
    let samples = crate::common::Table::read(&dir.join("samples.csv"));
    let sizes: Vec<f64> = samples
        .filter("phase", "measure")
        .filter(|r| r[samples.col("point")] == "1")
        .map(|r| samples.num(r, "batch"))
        .collect();
    let above_one = sizes.iter().filter(|b| **b > 1.0).count();
    assert!(above_one * 2 > sizes.len(), "{above_one} of {} requests ran in batches above 1", sizes.len());
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("### Batching") && report.contains("cloud: batches of up to 16 requests or 2ms"),
        "{report}"
    );
}

#[test]
fn a_device_profile_gives_the_slowdown_per_model_class_and_the_report_names_its_source() {
    let broker = crate::common::Mosquitto::start();
    let dir = crate::common::run_smoke(
        &broker,
        &[
            "placement=edge",
            "tiers.edge.compute={profile: raspberry-pi-4, threads: 2}",
            "sweep={tiers.edge.compute.class: [efficientnet_b0, squeezenet]}",
            "load.duration=2s",
        ],
    );
    let summary = crate::common::Table::read(&dir.join("summary.csv"));
    // The published one-thread ratios against the reference host: 5.66 and 10.92.
    for (class, k) in [("efficientnet_b0", 5.66), ("squeezenet", 10.92)] {
        let row = summary
            .filter("tier", "edge")
            .find(|r| r[summary.col("param:tiers.edge.compute.class")] == class)
            .unwrap_or_else(|| panic!("no row for {class}"));
        assert_eq!(summary.num(row, "ok"), summary.num(row, "requests"), "{row:?}");
        // The anomaly detector's calls take ~35 µs, so each hold is ~150–350 µs and aims early by the
        // timer's running wake-up lag: tens of µs on a busy host, which is 10 % or more of such a hold
        // (5.04 achieved for 5.66 once, with the suite running beside it). The bounds say the profile's
        // ratio was applied, not how precisely a sub-millisecond hold lands (docs/compute.md measures that).
        let achieved = summary.num(row, "slowdown_p50");
        assert!(achieved > 0.75 * k && achieved < 2.0 * k, "{class}: {k} configured, {achieved} achieved: {row:?}");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for line in [
        "- edge: profile raspberry-pi-4 (class squeezenet) gives slowdown 10.92 — Raspberry Pi 4",
        "2 intra-op threads",
        "Tencent/ncnn benchmark/README.md",
        "| squeezenet | edge | 10.925 | ",
    ] {
        assert!(report.contains(line), "{line:?} missing from:\n{report}");
    }
}

#[test]
fn a_slowed_edge_and_a_latency_sweep_give_a_crossover_between_the_bracketing_points() {
    // Link timings to the millisecond, or a slowed CNN near its capacity: one such test at a time.
    let _cpu = crate::common::serial("cpu");
    let broker = crate::common::Mosquitto::start();
    // The CNN (0.5–3 ms a call on any plausible host) twenty times slower at the edge: 10–60 ms there,
    // against one call plus the link in the cloud: faster at 0 ms, slower at 50 ms each way.
    let dir = crate::common::run_smoke(
        &broker,
        &[
            "devices.features=null",
            "broker.encoding=binary",
            "tiers.edge.model=../models/image_cnn.onnx",
            "tiers.cloud.model=../models/image_cnn.onnx",
            "tiers.edge.compute={slowdown: 20}",
            "sweep={tiers.cloud.link.latency: [0ms, 50ms]}",
            "load.rate=10/s",
            "load.duration=2s",
            "load.warmup=500ms",
        ],
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    // A real run's results.json, with slowed compute, links and crossovers, is what the schema says.
    crate::common::check_results_schema(&[dir.join("results.json")]);
    // Two points, one worker a tier: each tier's CNN loaded once and taken again at the second point.
    let reuse = &results["report"]["manifest"]["reuse"];
    assert_eq!((reuse["models_loaded"].as_u64(), reuse["models_reused"].as_u64()), (Some(2), Some(2)), "{reuse}");
    let crossovers = results["report"]["crossovers"].as_array().expect("crossovers in results.json");
    let p50 = crossovers.iter().find(|c| c["percentile"] == "p50").expect("a p50 entry");
    assert_eq!(p50["key"], "tiers.cloud.link.latency", "{p50}");
    assert_eq!(p50["faster_below"], "cloud", "{p50}");
    assert_eq!(p50["between"], serde_json::json!(["0ms", "50ms"]), "{p50}");
    let at = p50["at"].as_f64().expect("a crossing");
    assert!(at > 0.0 && at < 50.0, "{p50}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let shown = format!("{:.1}", at).trim_end_matches(".0").to_string();
    assert!(
        report.contains(&format!(
            "**Crossover:** The cloud answers faster at the median below tiers.cloud.link.latency ≈ {shown} ms and \
             the edge above it (between the swept 0ms and 50ms)"
        )),
        "{report}"
    );
}

#[test]
fn large_json_requests_come_with_the_hint_that_binary_encoding_exists() {
    let broker = crate::common::Mosquitto::start();
    let dir = crate::common::run_smoke(
        &broker,
        &[
            "placement=edge",
            "devices.features=null",
            "tiers.edge.model=../tests/fixtures/models/image_mean.onnx",
            "sweep={}",
            "load.rate=10/s",
            "load.duration=300ms",
        ],
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    // 27,648 values as JSON text against 110,592 bytes of float32 and a header.
    let line = report.lines().find(|l| l.contains("bytes of JSON text")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("`broker.encoding: binary` carries the same float32 values in 1106"), "{line}");
}
