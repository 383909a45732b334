//! `devices.radio`, `devices.battery_wh`, `compute.power` and
//! `tiers.<tier>.cost` into the plan's energy and cost models, with the
//! shipped radios (`profiles/radios.yaml`) and prices (`profiles/prices.yaml`)
//! compiled in as data.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::raw::{CostFile, RadioBlock, RadioFile, ScenarioFile};
use super::validate::KeyError;
use crate::plan::{
    CloudCost, CostConfig, EdgeCost, EnergyConfig, LinkConfig, Power, Radio, Tier, TierConfig, MAX_BATTERY_WH,
    MAX_FIGURE,
};

const RADIOS: &str = include_str!("../../profiles/radios.yaml");
const PRICES: &str = include_str!("../../profiles/prices.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RadioTable {
    source: String,
    radios: BTreeMap<String, RadioEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RadioEntry {
    up_mw_per_mbps: f64,
    down_mw_per_mbps: f64,
    base_mw: f64,
    promotion_ms: f64,
    promotion_mw: f64,
    tail_ms: f64,
    tail_mw: f64,
    #[serde(default)]
    uplink_mbps: Option<f64>,
    #[serde(default)]
    downlink_mbps: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceTable {
    source: String,
    egress_per_gb: f64,
    ingress_per_gb: f64,
    per_million_messages: f64,
    message_unit_bytes: u32,
    instances: BTreeMap<String, Instance>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Instance {
    per_hour: f64,
    #[serde(default, rename = "note")]
    _note: Option<String>,
}

fn fail<T>(key: &str, message: impl Into<String>) -> Result<T, KeyError> {
    Err(KeyError { key: key.to_string(), problem: message.into().into() })
}

fn radios() -> RadioTable {
    serde_yaml::from_str(RADIOS).expect("profiles/radios.yaml is valid (a unit test reads it)")
}

fn prices() -> PriceTable {
    serde_yaml::from_str(PRICES).expect("profiles/prices.yaml is valid (a unit test reads it)")
}

fn shipped_radio(name: &str, key: &str) -> Result<Radio, KeyError> {
    let table = radios();
    let Some(e) = table.radios.get(name) else {
        let known: Vec<&str> = table.radios.keys().map(String::as_str).collect();
        return fail(key, format!("unknown radio {name:?}; simrun has: {} (or a block of figures)", known.join(", ")));
    };
    let ms = |v: f64| Duration::from_secs_f64(v / 1e3);
    Ok(Radio {
        name: name.to_string(),
        up_mw_per_mbps: e.up_mw_per_mbps,
        down_mw_per_mbps: e.down_mw_per_mbps,
        base_mw: e.base_mw,
        promotion: ms(e.promotion_ms),
        promotion_mw: e.promotion_mw,
        tail: ms(e.tail_ms),
        tail_mw: e.tail_mw,
        uplink_bps: e.uplink_mbps.map(|m| m * 1e6),
        downlink_bps: e.downlink_mbps.map(|m| m * 1e6),
        source: table.source,
    })
}

/// A power or price: finite, at least 0, at most `MAX_FIGURE`.
fn non_negative(value: f64, key: &str) -> Result<f64, KeyError> {
    if !value.is_finite() || !(0.0..=MAX_FIGURE).contains(&value) {
        return fail(key, format!("must be a number from 0 to {MAX_FIGURE}, got {value}"));
    }
    Ok(value)
}

/// A block without `model`: every power of the transfer model, and each
/// state's time with its power.
fn custom_radio(b: &RadioBlock) -> Result<Radio, KeyError> {
    let key = |k: &str| format!("devices.radio.{k}");
    let given =
        [("up_mw_per_mbps", b.up_mw_per_mbps), ("down_mw_per_mbps", b.down_mw_per_mbps), ("base_mw", b.base_mw)];
    if let Some((k, _)) = given.iter().find(|(_, v)| v.is_none()) {
        return fail(&key(k), "a radio without a model gives every power of the transfer model");
    }
    let states = [
        (b.tail.is_some(), b.tail_mw.is_some(), "tail", "tail_mw"),
        (b.promotion.is_some(), b.promotion_mw.is_some(), "promotion", "promotion_mw"),
    ];
    if let Some((time, _, t, p)) = states.iter().find(|(time, power, _, _)| time != power) {
        let (missing, given) = if *time { (p, t) } else { (t, p) };
        return fail(&key(missing), format!("{given} is given without {missing}: a radio state needs both"));
    }
    Ok(Radio {
        name: "custom".into(),
        up_mw_per_mbps: 0.0,
        down_mw_per_mbps: 0.0,
        base_mw: 0.0,
        promotion: Duration::ZERO,
        promotion_mw: 0.0,
        tail: Duration::ZERO,
        tail_mw: 0.0,
        uplink_bps: None,
        downlink_bps: None,
        source: "the scenario's devices.radio".into(),
    })
}

/// `devices.radio` as a block: `model`'s figures, each overridden by the block's.
fn radio_block(b: &RadioBlock) -> Result<Radio, KeyError> {
    let key = |k: &str| format!("devices.radio.{k}");
    let mut r = match &b.model {
        Some(name) => shipped_radio(name, &key("model"))?,
        None => custom_radio(b)?,
    };
    let set = |v: Option<f64>, k: &str, into: &mut f64| -> Result<(), KeyError> {
        if let Some(v) = v {
            *into = non_negative(v, &key(k))?;
        }
        Ok(())
    };
    set(b.up_mw_per_mbps, "up_mw_per_mbps", &mut r.up_mw_per_mbps)?;
    set(b.down_mw_per_mbps, "down_mw_per_mbps", &mut r.down_mw_per_mbps)?;
    set(b.base_mw, "base_mw", &mut r.base_mw)?;
    set(b.promotion_mw, "promotion_mw", &mut r.promotion_mw)?;
    set(b.tail_mw, "tail_mw", &mut r.tail_mw)?;
    r.promotion = b.promotion.as_ref().map_or(r.promotion, |t| t.value);
    r.tail = b.tail.as_ref().map_or(r.tail, |t| t.value);
    r.uplink_bps = b.uplink.as_ref().map(|u| u.bits_per_second).or(r.uplink_bps);
    r.downlink_bps = b.downlink.as_ref().map(|d| d.bits_per_second).or(r.downlink_bps);
    if b.model.is_some() {
        r.source = format!("{} (with the scenario's changes)", r.source);
    }
    Ok(r)
}

/// The edge's power: `compute.power`, else its profile's.
fn edge_power(file: &ScenarioFile, edge: Option<&TierConfig>) -> Result<Option<Power>, KeyError> {
    let raw = file.tiers.edge.as_ref().and_then(|e| e.compute.power.as_ref());
    if let Some(p) = raw {
        let key = "tiers.edge.compute.power";
        let idle_w = non_negative(p.idle_w, &format!("{key}.idle_w"))?;
        let active_w = non_negative(p.active_w, &format!("{key}.active_w"))?;
        if active_w < idle_w {
            return fail(
                &format!("{key}.active_w"),
                format!("is the draw with every core busy: at least idle_w ({idle_w}), got {active_w}"),
            );
        }
        if p.cores == 0 {
            return fail(&format!("{key}.cores"), "must be at least 1");
        }
        return Ok(Some(Power { idle_w, active_w, cores: p.cores, source: "the scenario's compute.power".into() }));
    }
    Ok(edge.and_then(|t| t.profile.as_ref()).and_then(|p| p.power.clone()))
}

/// The narrowest bandwidth configured on a path of links.
fn narrowest(links: &[&LinkConfig]) -> Option<f64> {
    links.iter().filter_map(|l| l.bandwidth_bps).reduce(f64::min)
}

/// The energy model, when the scenario gives `devices.radio`.
pub fn energy_config(
    file: &ScenarioFile,
    tiers: &[TierConfig],
    devices_link: &LinkConfig,
) -> Result<Option<EnergyConfig>, KeyError> {
    let devices = &file.devices;
    if let Some(on) = file.tiers.cloud.as_ref().and_then(|c| c.on_device) {
        return fail("tiers.cloud.on_device", format!("only the edge can run on the device, got {on}"));
    }
    let Some(raw) = &devices.radio else {
        if devices.battery_wh.is_some() {
            return fail("devices.battery_wh", "a battery life needs the energy estimate: give devices.radio too");
        }
        return Ok(None);
    };
    let radio = match raw {
        RadioFile::Named(name) => shipped_radio(name, "devices.radio")?,
        RadioFile::Block(b) => radio_block(b)?,
    };
    let battery_wh = match devices.battery_wh {
        Some(wh) if !(wh.is_finite() && wh > 0.0 && wh <= MAX_BATTERY_WH) => {
            return fail("devices.battery_wh", format!("must be more than 0 and at most {MAX_BATTERY_WH} Wh, got {wh}"))
        }
        other => other,
    };
    let edge = tiers.iter().find(|t| t.tier == Tier::Edge);
    let edge_on_device = file.tiers.edge.as_ref().and_then(|e| e.on_device).unwrap_or(true);
    let edge_power = edge_power(file, edge)?;
    if edge.is_some() && edge_on_device && edge_power.is_none() {
        return fail(
            "tiers.edge.compute.power",
            "the edge runs on the device (tiers.edge.on_device), so its compute draws on the battery: give \
             compute.power { idle_w, active_w, cores }, or a compute.profile with power figures \
             (raspberry-pi-3b-plus, raspberry-pi-4), or set tiers.edge.on_device: false",
        );
    }
    let path_bps = tiers.iter().map(|t| (t.tier, narrowest(&[devices_link, &t.link]))).collect();
    let config = EnergyConfig {
        radio,
        edge_on_device,
        edge_power,
        edge_threads: edge.and_then(|t| t.threads).unwrap_or(1),
        battery_wh,
        path_bps,
    };
    for t in tiers.iter().filter(|t| config.uses_radio(t.tier)) {
        if !config.radio.is_free() && config.rates(t.tier).is_none() {
            return fail(
                "devices.radio",
                format!(
                    "{} has no rates of its own and nothing on the path to the {} has a bandwidth: set \
                     tiers.{}.link.bandwidth, or give the radio its rates ({{ model: {}, uplink: 20Mbit/s, downlink: 20Mbit/s }})",
                    config.radio.name, t.tier, t.tier, config.radio.name
                ),
            );
        }
    }
    Ok(Some(config))
}

/// The cloud's prices from `tiers.cloud.cost`.
fn cloud_cost(c: &CostFile) -> Result<CloudCost, KeyError> {
    let key = |k: &str| format!("tiers.cloud.cost.{k}");
    if c.device_price.is_some() || c.lifetime.is_some() {
        return fail(&key("device_price"), "a device price and lifetime are the edge's (tiers.edge.cost)");
    }
    let table = prices();
    let per_hour = match (&c.instance, c.per_hour) {
        (_, Some(p)) => non_negative(p, &key("per_hour"))?,
        (Some(name), None) => match table.instances.get(name) {
            Some(i) => i.per_hour,
            None => {
                let known: Vec<&str> = table.instances.keys().map(String::as_str).collect();
                return fail(
                    &key("instance"),
                    format!(
                        "unknown instance {name:?}; profiles/prices.yaml has: {} (or give per_hour)",
                        known.join(", ")
                    ),
                );
            }
        },
        (None, None) => return fail(&key("instance"), "name an instance of profiles/prices.yaml, or give per_hour"),
    };
    let or = |v: Option<f64>, k: &str, default: f64| v.map_or(Ok(default), |v| non_negative(v, &key(k)));
    Ok(CloudCost {
        instance: c.instance.clone().filter(|_| c.per_hour.is_none()),
        per_hour,
        egress_per_gb: or(c.egress_per_gb, "egress_per_gb", table.egress_per_gb)?,
        ingress_per_gb: or(c.ingress_per_gb, "ingress_per_gb", table.ingress_per_gb)?,
        per_million_messages: or(c.per_million_messages, "per_million_messages", table.per_million_messages)?,
        message_unit_bytes: table.message_unit_bytes,
        source: table.source,
    })
}

/// The edge device's price and lifetime from `tiers.edge.cost`.
fn edge_cost(c: &CostFile) -> Result<EdgeCost, KeyError> {
    let key = |k: &str| format!("tiers.edge.cost.{k}");
    let cloud_only = [
        ("instance", c.instance.is_some()),
        ("per_hour", c.per_hour.is_some()),
        ("egress_per_gb", c.egress_per_gb.is_some()),
        ("ingress_per_gb", c.ingress_per_gb.is_some()),
        ("per_million_messages", c.per_million_messages.is_some()),
    ];
    if let Some((k, _)) = cloud_only.iter().find(|(_, given)| *given) {
        return fail(&key(k), "is a cloud price (tiers.cloud.cost); the edge has device_price and lifetime");
    }
    let (Some(price), Some(lifetime)) = (c.device_price, &c.lifetime) else {
        return fail(&key("device_price"), "an edge's cost is its device_price and its lifetime, both");
    };
    if lifetime.value.is_zero() {
        return fail(&key("lifetime"), "must be more than 0");
    }
    Ok(EdgeCost { device_price: non_negative(price, &key("device_price"))?, lifetime: lifetime.value })
}

/// The tiers' prices.
pub fn cost_config(file: &ScenarioFile) -> Result<CostConfig, KeyError> {
    let cloud = file.tiers.cloud.as_ref().and_then(|t| t.cost.as_ref()).map(cloud_cost).transpose()?;
    let edge = file.tiers.edge.as_ref().and_then(|t| t.cost.as_ref()).map(edge_cost).transpose()?;
    Ok(CostConfig { cloud, edge })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_radios_are_huangs_figures() {
        let lte = shipped_radio("lte", "k").unwrap();
        assert_eq!((lte.up_mw_per_mbps, lte.down_mw_per_mbps, lte.base_mw), (438.39, 51.97, 1288.04));
        assert_eq!((lte.tail, lte.tail_mw), (Duration::from_micros(11_576_000), 1060.0));
        assert_eq!((lte.promotion, lte.promotion_mw), (Duration::from_micros(260_100), 1210.7));
        let wifi = shipped_radio("wifi", "k").unwrap();
        assert_eq!((wifi.up_mw_per_mbps, wifi.base_mw, wifi.tail_mw), (283.17, 132.86, 119.3));
        assert!(wifi.uplink_bps.is_none());
        let g3 = shipped_radio("3g", "k").unwrap();
        // The DCH and FACH tails back to back, with the energy of both.
        let both = 8088.2 * 803.9 + 824.2 * 601.3;
        assert!((g3.tail.as_secs_f64() * 1e3 * g3.tail_mw - both).abs() / both < 1e-3);
        assert!(shipped_radio("ethernet", "k").unwrap().is_free() && shipped_radio("none", "k").unwrap().is_free());
        let e = shipped_radio("5g", "devices.radio").unwrap_err();
        let m = e.problem.to_string();
        assert!(m.contains("unknown radio \"5g\"") && m.contains("lte"), "{m}");
        assert!(prices().instances.contains_key("c6i.large"));
    }

    #[test]
    fn a_radio_block_needs_a_tail_power_with_its_tail() {
        let tail = super::super::units::HumanDuration::parse("2s").unwrap();
        let b = RadioBlock {
            up_mw_per_mbps: Some(1.0),
            down_mw_per_mbps: Some(1.0),
            base_mw: Some(1.0),
            tail: Some(tail),
            ..RadioBlock::default()
        };
        let e = radio_block(&b).unwrap_err();
        assert_eq!(e.key, "devices.radio.tail_mw");
        let b = RadioBlock { model: Some("lte".into()), tail_mw: Some(-1.0), ..RadioBlock::default() };
        assert_eq!(radio_block(&b).unwrap_err().key, "devices.radio.tail_mw");
        let b = RadioBlock { model: Some("lte".into()), tail_mw: Some(500.0), ..RadioBlock::default() };
        let r = radio_block(&b).unwrap();
        assert_eq!((r.tail_mw, r.base_mw), (500.0, 1288.04));
    }
}
