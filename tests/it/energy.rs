//! Energy and cost end to end: every figure of summary.csv's energy and cost
//! columns is recomputed here from samples.csv with docs/energy.md's
//! formulas, written again from the document, not from simrun's code.

use std::collections::HashMap;

use crate::common::{root, run_smoke, simrun_in, Mosquitto, Table};

/// profiles/radios.yaml's lte (Huang et al., MobiSys 2012).
const UP_MW_PER_MBPS: f64 = 438.39;
const DOWN_MW_PER_MBPS: f64 = 51.97;
const BASE_MW: f64 = 1288.04;
const PROMOTION: (f64, f64) = (0.2601, 1210.7);
const TAIL: (f64, f64) = (11.576, 1060.0);
/// profiles/devices.yaml's raspberry-pi-4: one core adds (6.4 − 2.7) ÷ 4 W.
const PI4_IDLE_W: f64 = 2.7;
const PI4_CORE_W: f64 = (6.4 - 2.7) / 4.0;
/// The cloud link's bandwidth the test sets, bit/s.
const CLOUD_BPS: f64 = 20e6;
/// profiles/prices.yaml: c6i.large, egress, messages, their unit.
const PER_HOUR: f64 = 0.085;
const EGRESS_PER_GB: f64 = 0.09;
const PER_MILLION_MESSAGES: f64 = 1.0;
const MESSAGE_UNIT: f64 = 5120.0;
const DEVICE_PRICE: f64 = 55.0;
const LIFETIME_S: f64 = 1095.0 * 86_400.0;
const BATTERY_WH: f64 = 10.0;

const SETS: [&str; 8] = [
    "devices.radio=lte",
    "devices.battery_wh=10",
    "tiers.edge.compute.profile=raspberry-pi-4",
    "tiers.edge.compute.class=mobilenet_v2",
    "tiers.cloud.link.bandwidth=20Mbit/s",
    "tiers.cloud.cost={instance: c6i.large}",
    "tiers.edge.cost={device_price: 55, lifetime: 1095d}",
    "load.duration=1s",
];

struct Row<'a>(&'a Table, &'a [String]);

impl Row<'_> {
    fn get(&self, c: &str) -> &str {
        &self.1[self.0.col(c)]
    }
    fn num(&self, c: &str) -> f64 {
        self.get(c).parse().unwrap_or(0.0)
    }
}

/// One request's energy by docs/energy.md: compute on the device, or the
/// radio (promotion if idle, upload, wait at the tail's power, download), in mJ.
fn before_tail(r: &Row, to_cloud: bool, computes: bool, promoted: bool) -> (f64, f64) {
    let compute = if computes { PI4_CORE_W * (r.num("infer_us") + r.num("held_us")) / 1e6 * 1e3 } else { 0.0 };
    if !to_cloud {
        return (compute, 0.0);
    }
    let (up_s, down_s) = (r.num("request_bytes") * 8.0 / CLOUD_BPS, r.num("response_bytes") * 8.0 / CLOUD_BPS);
    let elapsed_s = (r.num("received_us") - r.num("sent_us")) / 1e6;
    let wait_s = (elapsed_s - up_s - down_s).max(0.0);
    let mbps = CLOUD_BPS / 1e6;
    let mut radio = (UP_MW_PER_MBPS * mbps + BASE_MW) * up_s
        + (DOWN_MW_PER_MBPS * mbps + BASE_MW) * down_s
        + TAIL.1 * wait_s.min(TAIL.0);
    if wait_s > TAIL.0 {
        radio += PROMOTION.0 * PROMOTION.1;
    }
    if promoted {
        radio += PROMOTION.0 * PROMOTION.1;
    }
    (compute, radio)
}

/// Every answered request's (compute, radio, tail) energy, keyed by
/// (point, repetition, tier, device, seq): a device's requests to a tier in
/// the order their answers came, each one's tail running from the latest
/// answer so far to the next one's send, a device's last paying the whole tail.
fn recompute(samples: &Table) -> HashMap<[String; 5], [f64; 3]> {
    let mut timelines: HashMap<[String; 4], Vec<Row>> = HashMap::new();
    let mut out = HashMap::new();
    for r in samples.rows.iter().map(|r| Row(samples, r)) {
        if r.get("received_us").is_empty() {
            continue;
        }
        let route = r.get("route");
        let to_cloud = r.get("tier") == "cloud" || (r.get("tier") == "policy" && route != "edge");
        if !to_cloud {
            let key = ["point", "repetition", "tier", "device", "seq"].map(|c| r.get(c).to_string());
            let computes = r.get("tier") == "edge" || route == "edge" || r.get("answered_by") == "edge";
            out.insert(key, [before_tail(&r, false, computes, false).0, 0.0, 0.0]);
            continue;
        }
        timelines.entry(["point", "repetition", "tier", "device"].map(|c| r.get(c).to_string())).or_default().push(r);
    }
    for rows in timelines.values_mut() {
        rows.sort_by(|a, b| a.num("received_us").total_cmp(&b.num("received_us")));
        let mut end: Option<f64> = None;
        for (i, r) in rows.iter().enumerate() {
            let promoted = end.is_none_or(|e| r.num("sent_us") > e + TAIL.0 * 1e6);
            let end_now = end.unwrap_or(0.0).max(r.num("received_us"));
            let gap_s = rows.get(i + 1).map_or(TAIL.0, |n| ((n.num("sent_us") - end_now) / 1e6).max(0.0));
            let computes = r.get("tier") == "policy" && r.get("answered_by") == "edge";
            let (compute, radio) = before_tail(r, true, computes, promoted);
            let key = ["point", "repetition", "tier", "device", "seq"].map(|c| r.get(c).to_string());
            out.insert(key, [compute, radio, TAIL.1 * gap_s.min(TAIL.0)]);
            end = Some(end_now);
        }
    }
    out
}

fn close(what: &str, reported: f64, recomputed: f64) {
    assert!(
        (reported - recomputed).abs() <= 0.01 * recomputed.abs() + 1e-3,
        "{what}: summary.csv says {reported}, samples.csv gives {recomputed}"
    );
}

/// Recomputes each sample's energy, then every summary row's energy and cost columns.
fn check(dir: &std::path::Path, window_s: f64, devices: f64) -> usize {
    let samples = Table::read(&dir.join("samples.csv"));
    let summary = Table::read(&dir.join("summary.csv"));
    let energy = recompute(&samples);
    let mut groups: HashMap<[String; 3], Vec<[f64; 3]>> = HashMap::new();
    let mut traffic: HashMap<[String; 3], [f64; 4]> = HashMap::new();
    for r in samples.rows.iter().map(|r| Row(&samples, r)) {
        let key = ["point", "repetition", "tier", "device", "seq"].map(|c| r.get(c).to_string());
        let mine = energy.get(&key).copied();
        let written = ["energy_compute_mj", "energy_radio_mj", "energy_tail_mj"].map(|c| r.get(c).to_string());
        match mine {
            Some(e) => {
                for (i, c) in ["energy_compute_mj", "energy_radio_mj", "energy_tail_mj"].iter().enumerate() {
                    close(&format!("{key:?} {c}"), r.num(c), e[i]);
                }
                close(&format!("{key:?} energy_mj"), r.num("energy_mj"), e.iter().sum());
            }
            None => assert!(written.iter().all(String::is_empty), "{key:?}: energy without an answer"),
        }
        if r.get("phase") != "measure" {
            continue;
        }
        let group = ["point", "repetition", "tier"].map(|c| r.get(c).to_string());
        if let Some(e) = mine {
            groups.entry(group.clone()).or_default().push(e);
        }
        let reached = r.get("tier") == "cloud" || (r.get("tier") == "policy" && !matches!(r.get("route"), "edge"));
        let t = traffic.entry(group).or_default();
        t[0] += f64::from(r.get("status") == "ok");
        if reached {
            let units = |b: f64| (b / MESSAGE_UNIT).ceil().max(1.0);
            t[1] += r.num("response_bytes");
            t[2] += 2.0 * units(r.num("request_bytes"));
            if !r.get("response_bytes").is_empty() {
                t[2] += 2.0 * units(r.num("response_bytes"));
            }
            t[3] = 1.0;
        }
    }
    let mut checked = 0;
    for r in summary.rows.iter().map(|r| Row(&summary, r)).filter(|r| r.get("repetition") != "all") {
        let group = ["point", "repetition", "tier"].map(|c| r.get(c).to_string());
        let Some(es) = groups.get(&group) else { continue };
        let n = es.len() as f64;
        let mut totals: Vec<f64> = es.iter().map(|e| e.iter().sum()).collect();
        totals.sort_by(f64::total_cmp);
        let rank = |q: f64| totals[((q * n).ceil() as usize).clamp(1, totals.len()) - 1];
        let mean = |i: usize| es.iter().map(|e| e[i]).sum::<f64>() / n;
        let total_mean = totals.iter().sum::<f64>() / n;
        close(&format!("{group:?} energy_mean_mj"), r.num("energy_mean_mj"), total_mean);
        close(&format!("{group:?} energy_p50_mj"), r.num("energy_p50_mj"), rank(0.5));
        close(&format!("{group:?} energy_p99_mj"), r.num("energy_p99_mj"), rank(0.99));
        for (i, c) in ["energy_compute_mean_mj", "energy_radio_mean_mj", "energy_tail_mean_mj"].iter().enumerate() {
            close(&format!("{group:?} {c}"), r.num(c), mean(i));
        }
        let rate = r.num("requests") / window_s / devices;
        let battery_h = BATTERY_WH / (PI4_IDLE_W + rate * total_mean / 1e3);
        close(&format!("{group:?} battery_h"), r.num("battery_h"), battery_h);
        // Cost per million answered requests.
        let [answered, bytes_out, units, reached] = traffic[&group];
        let per = 1e6 / answered;
        let tier = r.get("tier");
        let cloud = if tier == "edge" {
            0.0
        } else {
            PER_HOUR * window_s / 3600.0 * per
                + bytes_out * EGRESS_PER_GB / 1e9 * per
                + units * PER_MILLION_MESSAGES / 1e6 * per * reached
        };
        let edge = if tier == "cloud" { 0.0 } else { DEVICE_PRICE * devices * window_s / LIFETIME_S * per };
        close(&format!("{group:?} cost_per_million"), r.num("cost_per_million"), cloud + edge);
        checked += 1;
    }
    checked
}

#[test]
fn the_energy_and_cost_columns_recompute_from_samples_csv() {
    let broker = Mosquitto::start();
    let dir = run_smoke(&broker, &SETS);
    // Two points, edge and cloud each.
    assert_eq!(check(&dir, 1.0, 2.0), 4);
    let samples = Table::read(&dir.join("samples.csv"));
    let cloud: Vec<f64> = samples.filter("tier", "cloud").map(|r| samples.num(r, "energy_tail_mj")).collect();
    // 50 requests a second per device share one tail: the last of each device pays it whole.
    assert!(cloud.iter().filter(|t| **t > 12_000.0).count() >= 2, "{cloud:?}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("## Energy and cost") && report.contains("**Energy:**"), "{report}");
    assert!(report.contains("(plots/energy.svg)") && dir.join("plots/energy.svg").is_file(), "{report}");
    assert!(crate::common::check_plots_text(&dir) >= 3, "axis titles in words, text at 12 px or more");
    // diff compares the energy and cost of each (point, tier) too.
    let (code, stdout, stderr) = simrun_in(&root(), &["diff", dir.to_str().unwrap(), dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("energy_mean_mj") && stdout.contains("cost_per_million"), "{stdout}");
    // A policy: its rows recompute the same way, the edge's compute and the cloud's radio by route.
    let mut sets = SETS.to_vec();
    sets.extend(["placement=offload", "policy.offload.queue=1"]);
    let dir = run_smoke(&broker, &sets);
    assert_eq!(check(&dir, 1.0, 2.0), 2);
}

#[test]
fn bad_energy_and_price_keys_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = std::fs::read_to_string(root().join("scenarios/smoke.yaml")).unwrap();
    let model = root().join("models/anomaly_detector.onnx");
    let base = smoke
        .replace("../models/anomaly_detector.onnx", model.to_str().unwrap())
        .replace("../models/anomaly_detector.safetensors", model.to_str().unwrap());
    std::fs::write(dir.path().join("s.yaml"), &base).unwrap();
    let cases = [
        (vec!["devices.radio=5g"], "devices.radio", "unknown radio \"5g\""),
        (vec!["devices.radio={model: lte, tail_mw: -3}"], "devices.radio.tail_mw", "from 0 to"),
        (
            vec!["devices.radio={up_mw_per_mbps: 1, down_mw_per_mbps: 1, base_mw: 1, tail: 2s}"],
            "devices.radio.tail_mw",
            "tail is given without tail_mw",
        ),
        (vec!["devices.radio=lte"], "tiers.edge.compute.power", "runs on the device"),
        (
            vec!["devices.radio=lte", "tiers.edge.compute.power={idle_w: -1, active_w: 2}"],
            "tiers.edge.compute.power.idle_w",
            "from 0 to",
        ),
        (vec!["devices.radio=wifi", "tiers.edge.on_device=false"], "devices.radio", "no rates of its own"),
        (vec!["tiers.cloud.cost={instance: z9.huge}"], "tiers.cloud.cost.instance", "unknown instance \"z9.huge\""),
        (vec!["tiers.cloud.cost={per_hour: -0.1}"], "tiers.cloud.cost.per_hour", "from 0 to"),
        (vec!["devices.battery_wh=10"], "devices.battery_wh", "needs the energy estimate"),
    ];
    for (sets, key, says) in cases {
        let mut args = vec!["validate", "s.yaml"];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let (code, stdout, stderr) = simrun_in(dir.path(), &args);
        assert_eq!(code, 2, "{sets:?}: {stdout}{stderr}");
        assert!(stderr.contains(key) && stderr.contains(says), "{sets:?}: {stderr}");
        assert!(stderr.contains("s.yaml"), "{sets:?} names the file: {stderr}");
    }
}
