//! Hand-computed cases (docs/energy.md works the first one through).

use std::time::Duration;

use super::*;
use crate::plan::Power;

fn radio(name: &str) -> Radio {
    let (up, down, base, pro, pro_mw, tail, tail_mw) = match name {
        "lte" => (438.39, 51.97, 1288.04, 260.1, 1210.7, 11576.0, 1060.0),
        "wifi" => (283.17, 137.01, 132.86, 79.1, 124.4, 238.1, 119.3),
        _ => unreachable!(),
    };
    let ms = |v: f64| Duration::from_secs_f64(v / 1e3);
    Radio {
        name: name.into(),
        up_mw_per_mbps: up,
        down_mw_per_mbps: down,
        base_mw: base,
        promotion: ms(pro),
        promotion_mw: pro_mw,
        tail: ms(tail),
        tail_mw,
        uplink_bps: None,
        downlink_bps: None,
        source: "test".into(),
    }
}

fn pi4() -> Power {
    Power { idle_w: 2.7, active_w: 6.4, cores: 4, source: "test".into() }
}

fn model(radio: Radio, up_bps: f64) -> EnergyConfig {
    EnergyConfig {
        radio,
        edge_on_device: true,
        edge_power: Some(pi4()),
        edge_threads: 1,
        battery_wh: None,
        path_bps: vec![(Tier::Edge, None), (Tier::Cloud, Some(up_bps))],
    }
}

/// A request to `tier` sent at `sent_us` whose answer came `elapsed_us` later.
fn sample(tier: Tier, seq: u64, sent_us: u64, elapsed_us: u64, request_bytes: u32) -> Sample {
    Sample {
        seq,
        intended_us: sent_us,
        sent_us,
        infer_us: Some(1_000),
        request_bytes,
        response_bytes: Some(0),
        ..crate::record::test_sample(tier, sent_us + elapsed_us)
    }
}

fn run(model: EnergyConfig, samples: Vec<Sample>) -> Vec<(u64, Energy)> {
    let mut timelines = Timelines::new(model);
    let mut out = Vec::new();
    for s in samples {
        timelines.push(s, |s, e| out.push((s.seq, e.unwrap())));
    }
    timelines.finish(|s, e| out.push((s.seq, e.unwrap())));
    out.sort_by_key(|(seq, _)| *seq);
    out
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-6 * want.max(1.0), "got {got}, want {want}");
}

/// 110,650 bytes at 5 Mbit/s take 0.17704 s at 438.39 × 5 + 1,288.04 =
/// 3,479.99 mW: 616.097 mJ. The promotion is 1,210.7 mW × 0.2601 s =
/// 314.903 mJ, and the silence after it the whole tail, 1,060 mW × 11.576 s
/// = 12,270.56 mJ: 93 % of the request's energy is its tail.
#[test]
fn one_upload_on_lte_followed_by_silence_is_mostly_tail() {
    let upload_us = 177_040;
    let out = run(model(radio("lte"), 5e6), vec![sample(Tier::Cloud, 0, 0, upload_us, 110_650)]);
    let e = out[0].1;
    close(e.compute_mj, 0.0);
    close(e.radio_mj, 314.90307 + 616.0974296);
    close(e.tail_mj, 12_270.56);
    assert!(e.tail_mj / e.total_mj() > 0.92);
}

/// Sent 1 s apart, the second upload starts 0.82296 s into the first's tail:
/// the first pays that much of it (872.3376 mJ) and no promotion is needed
/// again; the second pays the whole tail.
#[test]
fn two_uploads_a_second_apart_share_one_tail() {
    let upload_us = 177_040;
    let samples =
        vec![sample(Tier::Cloud, 0, 0, upload_us, 110_650), sample(Tier::Cloud, 1, 1_000_000, upload_us, 110_650)];
    let out = run(model(radio("lte"), 5e6), samples);
    close(out[0].1.radio_mj, 314.90307 + 616.0974296);
    close(out[0].1.tail_mj, 1060.0 * 0.82296);
    close(out[1].1.radio_mj, 616.0974296);
    close(out[1].1.tail_mj, 12_270.56);
    let total: f64 = out.iter().map(|(_, e)| e.total_mj()).sum();
    close(total, 314.90307 + 2.0 * 616.0974296 + 872.3376 + 12_270.56);
}

/// On WiFi the upload is (283.17 × 5 + 132.86) mW × 0.17704 s = 274.184 mJ;
/// its tail (238.1 ms) ends long before the next request, so each pays a
/// promotion (9.840 mJ) and a whole tail (28.405 mJ).
#[test]
fn the_same_on_wifi_pays_a_short_tail_each_time() {
    let upload_us = 177_040;
    let samples =
        vec![sample(Tier::Cloud, 0, 0, upload_us, 110_650), sample(Tier::Cloud, 1, 1_000_000, upload_us, 110_650)];
    for (_, e) in run(model(radio("wifi"), 5e6), samples) {
        close(e.radio_mj, 9.84004 + 274.1836184);
        close(e.tail_mj, 28.40533);
    }
}

/// A Pi 4 draws 2.7 W idle and 6.4 W with its four cores busy: one thread
/// adds (6.4 − 2.7) ÷ 4 = 0.925 W, so 93 ms of compute (1 ms of inference
/// here and 92 ms held) cost 86.025 mJ, and no radio.
#[test]
fn a_slowed_edge_computing_93_ms_on_a_pi_4() {
    let mut s = sample(Tier::Edge, 0, 0, 95_000, 110_650);
    s.held_us = Some(92_000);
    let out = run(model(radio("lte"), 5e6), vec![s]);
    close(out[0].1.compute_mj, 86.025);
    close(out[0].1.radio_mj + out[0].1.tail_mj, 0.0);
}

/// The wait for the answer is radio time at the tail's power; a wait past
/// the tail drops the radio to idle and the answer pays a promotion again.
#[test]
fn the_wait_for_the_answer_is_charged_at_the_tail_power() {
    let lte = radio("lte");
    let up = 110_650u64 * 8;
    let moving = up as f64 / 5e6;
    let with_wait = radio_mj(&lte, (5e6, 5e6), (110_650, 0), moving + 0.5, false);
    close(with_wait - radio_mj(&lte, (5e6, 5e6), (110_650, 0), moving, false), 530.0);
    let long = radio_mj(&lte, (5e6, 5e6), (110_650, 0), moving + 20.0, false);
    close(long - radio_mj(&lte, (5e6, 5e6), (110_650, 0), moving, false), 12_270.56 + 314.90307);
}

#[test]
fn battery_life_and_costs_follow_their_formulas() {
    // 10 Wh at 2.7 W idle plus one 300 mJ request a second: 10 ÷ 3.0 h.
    close(battery_hours(10.0, 2.7, 1.0, 300.0).unwrap(), 10.0 / 3.0);
    assert_eq!(battery_hours(10.0, 0.0, 0.0, 0.0), None);
    assert_eq!((message_units(0, 5120), message_units(5120, 5120), message_units(5121, 5120)), (1, 1, 2));
    let price = CloudCost {
        instance: None,
        per_hour: 0.36,
        egress_per_gb: 0.09,
        ingress_per_gb: 0.0,
        per_million_messages: 1.0,
        message_unit_bytes: 5120,
        source: "test".into(),
    };
    // One worker for 100 s (0.01 $) over 1,000 answers: 10 $ a million; 1 GB
    // out a million requests at 0.09 $/GB; 4 message units a request.
    let traffic = CloudTraffic { bytes_in: 0, bytes_out: 1_000_000, message_units: 4_000 };
    let c = cloud_cost(&price, 1, 100.0, 1_000, traffic).unwrap();
    close(c.instance, 10.0);
    close(c.transfer, 0.09);
    close(c.messages, 4.0);
    close(c.per_million, 14.09);
    let edge = EdgeCost { device_price: 100.0, lifetime: Duration::from_secs(1_000_000) };
    // Two devices' 200 $ over 10⁶ s, 100 s of it, over 1,000 answers: 20 $ a million.
    close(edge_cost(&edge, 2, 100.0, 1_000).unwrap().per_million, 20.0);
}
