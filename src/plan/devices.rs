//! The simulated devices: how many, where they run, what they send and when.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub count: u32,
    /// What each request carries.
    pub input: InputConfig,
    /// The hop between the devices (and the collector) and the broker.
    pub link: LinkConfig,
    /// Shared with `simrun devices` processes of a pool, when set.
    pub remote: Option<RemoteDevices>,
}

/// One group of devices (`devices` written as a list of named groups; a
/// single block is one group named `devices`): its own count, input, link,
/// arrival process and radio.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceGroup {
    pub name: String,
    /// Its devices are `first..first + count`, numbered over every group.
    pub first: u32,
    pub count: u32,
    pub input: InputConfig,
    pub link: LinkConfig,
    pub load: LoadConfig,
    pub energy: Option<super::EnergyConfig>,
    /// The tiers its requests go to, and how they are routed (`PointConfig::policy`'s meaning).
    pub tiers: Vec<super::Tier>,
    pub policy: Option<super::Policy>,
}

/// The name of the one group of a scenario whose `devices` is a single block.
pub const SINGLE_GROUP: &str = "devices";
/// Groups in one scenario, at most.
pub const MAX_GROUPS: usize = 64;

/// Each device is an MQTT connection; the open-file limit (checked before a
/// run) usually binds first. 15,000 ran here in 1.5 GB (docs/performance.md).
pub const MAX_DEVICES: u32 = 50_000;
/// The most `simrun devices` processes one run shares its devices with.
pub const MAX_DEVICE_HOSTS: u32 = 64;
/// Closed loop: requests outstanding per device, at most.
pub const MAX_CONCURRENCY: u32 = 10_000;
/// Requests one point may schedule, at most: a typo should not exhaust the machine.
pub const MAX_REQUESTS_PER_POINT: u64 = 10_000_000;
/// Values in one sample, at most: as JSON text, still within the largest
/// message (`wire::MAX_MESSAGE_BYTES`).
pub const MAX_INPUT_VALUES: usize = 1 << 22;

/// `devices.remote`: device `d` runs in slot `d mod (hosts + 1)`, slot 0
/// being the run's own process and slot `i` the pool's `i`-th device host
/// by name (docs/distributed.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDevices {
    pub pool: String,
    pub hosts: u32,
    /// How long the run waits for the hosts to announce themselves.
    pub wait: Duration,
}

impl DeviceConfig {
    /// Slots the devices are dealt over: the run's own process, and each
    /// device host of `remote`.
    pub fn slots(&self) -> u32 {
        self.remote.as_ref().map_or(1, |r| r.hosts + 1)
    }
}

/// Which of `slots` slots device `device` runs in.
pub fn device_slot(device: u32, slots: u32) -> u32 {
    device % slots.max(1)
}

/// What the devices send: one sample of `shape` per request (float32), drawn
/// from `data` (docs/scenario.md, Inputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputConfig {
    /// One sample's dimensions, without the batch. Empty until taken from the
    /// model when the scenario gives neither a shape nor `devices.features`.
    pub shape: Vec<usize>,
    pub data: InputData,
}

impl InputConfig {
    /// Values in one sample.
    pub fn values(&self) -> usize {
        if self.shape.is_empty() {
            0
        } else {
            self.shape.iter().product()
        }
    }

    /// What the devices send, for the report: `[64] float32 from the 540 rows
    /// of \`d.csv\` (labelled), in a seeded order`.
    pub fn describe(&self) -> String {
        let source = match &self.data {
            InputData::Uniform => "seeded uniform in [-2, 2)".to_string(),
            InputData::Normal => "seeded standard normal".to_string(),
            InputData::File(rows) => format!(
                "the {} rows of `{}`{}, in a seeded order (SHA-256 `{}…`)",
                rows.rows(),
                rows.path,
                if rows.labels.is_some() { " (labelled)" } else { "" },
                &rows.sha256[..12.min(rows.sha256.len())]
            ),
        };
        format!("{} float32, {source}", self.shape_text())
    }

    /// The shape as a scenario writes it: `[3, 96, 96]`.
    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        format!("[{}]", dims.join(", "))
    }
}

/// Where the samples come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InputData {
    /// Seeded, uniform in [-2, 2) (the seed's inputs).
    Uniform,
    /// Seeded, standard normal.
    Normal,
    /// Rows of a file, replayed in a seeded order.
    File(std::sync::Arc<InputRows>),
}

impl InputData {
    pub fn file(&self) -> Option<&InputRows> {
        match self {
            InputData::File(rows) => Some(rows),
            _ => None,
        }
    }
}

/// The samples of a data file (CSV or .npy), read once at validation.
/// Results keep its path and digest, not its values.
#[derive(Clone, Serialize, Deserialize)]
pub struct InputRows {
    /// The path as the scenario gave it.
    pub path: String,
    /// SHA-256 of the file's bytes (with its labels file's, when separate), hex.
    pub sha256: String,
    /// Values in one row.
    pub width: usize,
    /// Row-major, `width` values a row.
    pub values: Vec<f32>,
    /// One label a row, or none.
    pub labels: Option<Vec<i64>>,
}

impl InputRows {
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.width..(index + 1) * self.width]
    }
}

impl fmt::Debug for InputRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputRows")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("rows", &self.rows())
            .field("width", &self.width)
            .field("labelled", &self.labels.is_some())
            .finish()
    }
}

impl PartialEq for InputRows {
    fn eq(&self, other: &Self) -> bool {
        self.sha256 == other.sha256 && self.path == other.path
    }
}

/// `uniform`, `normal` or the file's path.
impl fmt::Display for InputData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputData::Uniform => f.write_str("uniform"),
            InputData::Normal => f.write_str("normal"),
            InputData::File(rows) => f.write_str(&rows.path),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadConfig {
    pub arrival: Arrival,
    /// Total offered rate over all devices (open loop).
    pub rate_hz: f64,
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
    /// Closed loop: requests outstanding per device.
    pub concurrency: u32,
    /// Closed loop: pause between a request settling and the next.
    pub think: Duration,
}

impl LoadConfig {
    /// Requests in the warmup and in the measured window at the offered mean
    /// rate (exact for `constant`, expected for the other open-loop
    /// processes; none for closed loop).
    pub fn request_counts(&self) -> (u64, u64) {
        let rate = self.offered().map_or(0.0, |o| o.mean_hz);
        let warm = (self.warmup.as_secs_f64() * rate).round() as u64;
        let total = ((self.warmup + self.duration).as_secs_f64() * rate).round() as u64;
        (warm, total.saturating_sub(warm))
    }

    /// The offered mean and peak rate of an open-loop process; `None` for closed loop.
    pub fn offered(&self) -> Option<Offered> {
        let rate = self.rate_hz;
        let (mean_hz, peak_hz) = match &self.arrival {
            Arrival::Closed => return None,
            Arrival::Constant | Arrival::Poisson => (rate, rate),
            Arrival::OnOff(o) => (rate * o.duty_cycle(), rate),
            Arrival::Mmpp(m) => (m.mean_hz(), m.rates_hz[0].max(m.rates_hz[1])),
            Arrival::Replay(r) => (r.mean_hz(), r.peak_hz()),
        };
        Some(Offered { mean_hz, peak_hz })
    }
}
