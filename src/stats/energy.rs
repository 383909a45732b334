//! Energy and money from what a run recorded: each request's bytes and times
//! and each device's timeline of requests, with the plan's cited constants.
//! Nothing here measures; every formula is docs/energy.md's, and a reader can
//! redo each from samples.csv.

use std::collections::BTreeMap;

use crate::plan::{CloudCost, EdgeCost, EnergyConfig, Radio, Tier};
use crate::record::{Route, Sample};

/// What one request cost the device, in millijoules, above its idle draw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Energy {
    /// The edge's compute, when the edge runs on the device.
    pub compute_mj: f64,
    /// The radio from the request's promotion to its answer: the upload, the
    /// wait for the answer (at the tail's power) and the download.
    pub radio_mj: f64,
    /// The radio's tail after the answer, until the device's next transfer
    /// or the tail's end.
    pub tail_mj: f64,
}

impl Energy {
    pub fn total_mj(&self) -> f64 {
        self.compute_mj + self.radio_mj + self.tail_mj
    }
}

/// One transfer of `bytes` at `bps`: (α × Mbit/s + β) mW for bytes × 8 ÷ bps seconds, in mJ.
pub fn transfer_mj(bytes: u64, bps: f64, mw_per_mbps: f64, base_mw: f64) -> f64 {
    if bytes == 0 || bps <= 0.0 {
        return 0.0;
    }
    let secs = bytes as f64 * 8.0 / bps;
    (mw_per_mbps * bps / 1e6 + base_mw) * secs
}

/// The radio's energy for one request, promotion to answer, in mJ: `promoted`
/// when the radio was idle before it. `elapsed_s` is sent to received.
pub fn radio_mj(radio: &Radio, rates: (f64, f64), bytes: (u64, u64), elapsed_s: f64, promoted: bool) -> f64 {
    let (up, down) = rates;
    let promotion_mj = radio.promotion_mw * radio.promotion.as_secs_f64();
    let moving_s = bytes.0 as f64 * 8.0 / up + bytes.1 as f64 * 8.0 / down;
    let wait_s = (elapsed_s - moving_s).max(0.0);
    let tail_s = radio.tail.as_secs_f64();
    // Waiting longer than the tail, the radio drops to idle and is promoted
    // again for the answer.
    let again = if wait_s > tail_s && tail_s > 0.0 { promotion_mj } else { 0.0 };
    let first = if promoted { promotion_mj } else { 0.0 };
    first
        + transfer_mj(bytes.0, up, radio.up_mw_per_mbps, radio.base_mw)
        + radio.tail_mw * wait_s.min(tail_s)
        + again
        + transfer_mj(bytes.1, down, radio.down_mw_per_mbps, radio.base_mw)
}

/// The tail after a device's transfer ends at `end_us`, until its next
/// starts at `next_us` (or in full, for its last), in mJ.
pub fn tail_mj(radio: &Radio, end_us: u64, next_us: Option<u64>) -> f64 {
    let tail_s = radio.tail.as_secs_f64();
    let gap_s = next_us.map_or(tail_s, |n| n.saturating_sub(end_us) as f64 / 1e6);
    radio.tail_mw * gap_s.min(tail_s)
}

/// What a request does with the device: compute on it, cross its radio to a tier.
fn parts(model: &EnergyConfig, s: &Sample) -> (bool, Option<Tier>) {
    match (s.tier, s.route) {
        (Tier::Edge, _) | (Tier::Policy, Some(Route::Edge)) => {
            (model.edge_on_device, model.uses_radio(Tier::Edge).then_some(Tier::Edge))
        }
        // A split: the head computed on the device (when the edge is the
        // device), its tensor crossed the radio.
        (Tier::Policy, Some(Route::EdgeThenCloud)) if s.split.is_some() => (model.edge_on_device, Some(Tier::Cloud)),
        (Tier::Policy, Some(Route::EdgeThenCloud | Route::CloudThenEdge)) => {
            // The sample holds the answering tier's times: the edge's compute
            // is known only when the edge answered.
            (model.edge_on_device && s.answered_by == Some(Tier::Edge), Some(Tier::Cloud))
        }
        _ => (false, Some(Tier::Cloud)),
    }
}

/// A request's compute and radio energy (its tail comes later), for an answered request.
fn before_tail(
    model: &EnergyConfig,
    s: &Sample,
    (computes, radio_tier): (bool, Option<Tier>),
    promoted: bool,
) -> Option<Energy> {
    let received = s.received_us?;
    let compute_mj = match (&model.edge_power, computes) {
        (Some(p), true) => {
            let busy_us = match s.split {
                Some(split) => split.head_us,
                None => s.infer_us.unwrap_or(0) + s.held_us.unwrap_or(0),
            };
            let busy_s = busy_us as f64 / 1e6;
            p.busy_w(model.edge_threads) * busy_s * 1e3
        }
        _ => 0.0,
    };
    let radio_mj = match radio_tier {
        Some(tier) if !model.radio.is_free() => {
            let rates = model.rates(tier)?;
            // An on-device head sends its tensor from the hand-off on; a
            // gateway edge got the request over the radio as it came.
            let (up, from_us) = match s.split.filter(|_| model.edge_on_device) {
                Some(split) => (split.bytes, split.forwarded_us.max(s.sent_us)),
                None => (s.request_bytes, s.sent_us),
            };
            let bytes = (u64::from(up), u64::from(s.response_bytes.unwrap_or(0)));
            let elapsed_s = received.saturating_sub(from_us) as f64 / 1e6;
            radio_mj(&model.radio, rates, bytes, elapsed_s, promoted)
        }
        _ => 0.0,
    };
    Some(Energy { compute_mj, radio_mj, tail_mj: 0.0 })
}

struct Held {
    sample: Sample,
    energy: Energy,
    /// The latest answer of the timeline so far, µs.
    end_us: u64,
}

/// Each device's radio timeline at one point execution: a request's tail is
/// known once the device's next request (on the same tier, or the policy's)
/// is sent, so each timeline holds its latest answered request until then.
/// Requests without an answer are passed on without energy and are not part
/// of a timeline.
pub struct Timelines {
    /// Each device group's model, by group (one with a single devices block); never empty.
    models: Vec<EnergyConfig>,
    held: BTreeMap<(Tier, u32), Held>,
}

impl Timelines {
    pub fn new(model: EnergyConfig) -> Self {
        Timelines { models: vec![model], held: BTreeMap::new() }
    }

    /// Each device group's model, by group; `None` without any.
    pub fn of_groups(models: Vec<EnergyConfig>) -> Option<Self> {
        (!models.is_empty()).then(|| Timelines { models, held: BTreeMap::new() })
    }

    /// The model of device group `group`.
    fn model(models: &[EnergyConfig], group: u16) -> &EnergyConfig {
        models.get(usize::from(group)).unwrap_or(&models[0])
    }

    /// Takes a settled sample; hands on every sample whose energy is now known.
    pub fn push(&mut self, s: Sample, mut emit: impl FnMut(Sample, Option<Energy>)) {
        let Some(received) = s.received_us else { return emit(s, None) };
        // From the field, not `self`: the model stays borrowed while `held` changes.
        let model = Self::model(&self.models, s.group);
        let parts = parts(model, &s);
        if parts.1.is_none() || model.radio.is_free() {
            let energy = before_tail(model, &s, parts, false);
            return emit(s, energy);
        }
        let key = (s.tier, s.device);
        let tail_us = model.radio.tail.as_micros() as u64;
        let previous = self.held.remove(&key);
        let promoted = previous.as_ref().is_none_or(|p| s.sent_us > p.end_us + tail_us);
        let mut end_us = received;
        if let Some(mut p) = previous {
            p.energy.tail_mj = tail_mj(&model.radio, p.end_us, Some(s.sent_us));
            end_us = end_us.max(p.end_us);
            emit(p.sample, Some(p.energy));
        }
        let Some(energy) = before_tail(model, &s, parts, promoted) else { return emit(s, None) };
        self.held.insert(key, Held { sample: s, energy, end_us });
    }

    /// Hands on the held samples: each device's last request pays its whole tail.
    pub fn finish(self, mut emit: impl FnMut(Sample, Option<Energy>)) {
        for (_, mut h) in self.held {
            let model = Self::model(&self.models, h.sample.group);
            h.energy.tail_mj = tail_mj(&model.radio, h.end_us, None);
            emit(h.sample, Some(h.energy));
        }
    }
}

/// Hours a battery of `battery_wh` lasts at `idle_w` plus `rate_per_s`
/// requests a second of `mean_mj` each.
pub fn battery_hours(battery_wh: f64, idle_w: f64, rate_per_s: f64, mean_mj: f64) -> Option<f64> {
    let draw_w = idle_w + rate_per_s * mean_mj / 1e3;
    (draw_w > 0.0).then(|| battery_wh / draw_w)
}

/// Metered units of a message of `bytes`: at least one.
pub fn message_units(bytes: u64, unit_bytes: u32) -> u64 {
    if unit_bytes == 0 {
        return 1;
    }
    bytes.div_ceil(u64::from(unit_bytes)).max(1)
}

/// What crossed to the cloud tier in a measured window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CloudTraffic {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub message_units: u64,
}

/// The cost per million answered requests and its parts (docs/energy.md, Money).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Cost {
    pub per_million: f64,
    /// The cloud's instances over the measured window.
    pub instance: f64,
    /// Data in and out of the cloud.
    pub transfer: f64,
    /// Managed messaging.
    pub messages: f64,
    /// The edge devices' price over their lifetime.
    pub device: f64,
}

/// The cloud's cost per million answered requests: `workers` instances over
/// `window_s`, and the traffic.
pub fn cloud_cost(
    price: &CloudCost,
    workers: u32,
    window_s: f64,
    answered: u64,
    traffic: CloudTraffic,
) -> Option<Cost> {
    if answered == 0 {
        return None;
    }
    let per = 1e6 / answered as f64;
    let instance = price.per_hour * f64::from(workers) * window_s / 3600.0 * per;
    let transfer =
        (traffic.bytes_in as f64 * price.ingress_per_gb + traffic.bytes_out as f64 * price.egress_per_gb) / 1e9 * per;
    let messages = traffic.message_units as f64 * price.per_million_messages / 1e6 * per;
    Some(Cost { per_million: instance + transfer + messages, instance, transfer, messages, device: 0.0 })
}

/// The edge devices' price spread over their lifetime, per million answered requests.
pub fn edge_cost(price: &EdgeCost, devices: u32, window_s: f64, answered: u64) -> Option<Cost> {
    if answered == 0 {
        return None;
    }
    let share = window_s / price.lifetime.as_secs_f64();
    let device = price.device_price * f64::from(devices) * share * 1e6 / answered as f64;
    Some(Cost { per_million: device, instance: 0.0, transfer: 0.0, messages: 0.0, device })
}

#[cfg(test)]
mod tests;
