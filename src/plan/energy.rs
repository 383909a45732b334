//! What a request costs: the device's energy (its radio and, for an edge on
//! the device, its compute) and the operator's money, as typed constants with
//! their sources. The formulas are `stats::energy`'s (docs/energy.md).

use std::time::Duration;

use super::Tier;

/// The largest battery a device may be given, in watt-hours (a car battery is ~600 Wh).
pub const MAX_BATTERY_WH: f64 = 10_000.0;
/// The largest power or price accepted (watts, milliwatts, mW per Mbit/s, or money): a typo guard.
pub const MAX_FIGURE: f64 = 10_000.0;

/// A radio's power model: the linear throughput model of Huang et al.
/// (MobiSys 2012) while bytes move, a promotion before the first transfer
/// after idle, and a tail after the last (docs/energy.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Radio {
    /// `lte`, `wifi`, `3g`, `ethernet`, `none`, or `custom`.
    pub name: String,
    /// Active power = up_mw_per_mbps × uplink Mbit/s + base_mw while uploading
    /// (down_mw_per_mbps and the downlink rate while downloading).
    pub up_mw_per_mbps: f64,
    pub down_mw_per_mbps: f64,
    pub base_mw: f64,
    /// Idle to connected: how long it takes and the power meanwhile.
    pub promotion: Duration,
    pub promotion_mw: f64,
    /// Connected after the last transfer until the radio drops to idle.
    pub tail: Duration,
    pub tail_mw: f64,
    /// The rates a transfer moves at when its path has no bandwidth, bit/s.
    pub uplink_bps: Option<f64>,
    pub downlink_bps: Option<f64>,
    /// Where the constants come from.
    pub source: String,
}

impl Radio {
    /// True when the radio costs nothing (`ethernet`, `none`).
    pub fn is_free(&self) -> bool {
        self.up_mw_per_mbps == 0.0
            && self.down_mw_per_mbps == 0.0
            && self.base_mw == 0.0
            && self.promotion_mw == 0.0
            && self.tail_mw == 0.0
    }
}

/// A device's power draw: idle, and with every core busy (`compute.power`,
/// or its profile's). The linear utilisation model: a run on `t` of `cores`
/// cores draws idle + (active − idle) × t / cores.
#[derive(Debug, Clone, PartialEq)]
pub struct Power {
    pub idle_w: f64,
    pub active_w: f64,
    pub cores: u32,
    pub source: String,
}

impl Power {
    /// What running on `threads` cores adds to the idle draw, in watts.
    pub fn busy_w(&self, threads: u32) -> f64 {
        let share = f64::from(threads.clamp(1, self.cores.max(1))) / f64::from(self.cores.max(1));
        (self.active_w - self.idle_w).max(0.0) * share
    }
}

/// `devices.radio` with what the energy estimate needs from the rest of the point.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyConfig {
    pub radio: Radio,
    /// The edge runs on the device (`tiers.edge.on_device`, the default):
    /// its compute draws on the device and its requests use no radio.
    pub edge_on_device: bool,
    /// The edge's power when it runs on the device.
    pub edge_power: Option<Power>,
    /// Cores the edge's runtime uses (`compute.threads`, 1 when not given).
    pub edge_threads: u32,
    /// `devices.battery_wh`, for the battery life.
    pub battery_wh: Option<f64>,
    /// The narrowest bandwidth configured on each tier's path (the devices'
    /// link and the tier's), bit/s, or `None` for the radio's own rate.
    pub path_bps: Vec<(Tier, Option<f64>)>,
}

impl EnergyConfig {
    /// The uplink and downlink rates (bit/s) a request to `tier` moves at.
    pub fn rates(&self, tier: Tier) -> Option<(f64, f64)> {
        let path = self.path_bps.iter().find(|(t, _)| *t == tier).and_then(|(_, b)| *b);
        Some((path.or(self.radio.uplink_bps)?, path.or(self.radio.downlink_bps)?))
    }

    /// Whether requests to `tier` cross the radio.
    pub fn uses_radio(&self, tier: Tier) -> bool {
        tier == Tier::Cloud || !self.edge_on_device
    }

    /// The device's idle draw, in watts: the edge's when it is the device, else none counted.
    pub fn idle_w(&self) -> f64 {
        if self.edge_on_device {
            self.edge_power.as_ref().map_or(0.0, |p| p.idle_w)
        } else {
            0.0
        }
    }
}

/// `tiers.cloud.cost`: what running the cloud tier is billed (docs/energy.md, Money).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudCost {
    /// The price file's instance, when one was named.
    pub instance: Option<String>,
    /// Per worker, per hour.
    pub per_hour: f64,
    /// Data out of the cloud (the answers) and into it (the requests), per GB (10⁹ bytes).
    pub egress_per_gb: f64,
    pub ingress_per_gb: f64,
    /// Per million metered messages, each message counted in units of
    /// `message_unit_bytes` (0: one unit whatever its size).
    pub per_million_messages: f64,
    pub message_unit_bytes: u32,
    /// Where the prices come from and when they were read.
    pub source: String,
}

/// `tiers.edge.cost`: a device's price spread over its lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeCost {
    pub device_price: f64,
    pub lifetime: Duration,
}

/// Money, for the tiers that have prices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostConfig {
    pub cloud: Option<CloudCost>,
    pub edge: Option<EdgeCost>,
}
