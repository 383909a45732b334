//! How a tier computes: its model, workers, slots, queue, slowdown, batching
//! and remote pool, with each setting's limit beside it.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// Requests a worker holds waiting for a slot unless `compute.queue_limit` says otherwise.
pub const DEFAULT_QUEUE_LIMIT: u32 = 1_000;
/// Workers a tier may have at most.
pub const MAX_WORKERS: u32 = 64;
/// A Raspberry Pi Zero is a few tens of times slower than a server core.
pub const MAX_SLOWDOWN: f64 = 1_000.0;
/// Slots a worker may have at most.
pub const MAX_SLOTS: u32 = 64;
/// The largest `compute.queue_limit`.
pub const MAX_QUEUE_LIMIT: u32 = 1_000_000;
/// Intra-op threads a tier's runtime may use at most (`compute.threads`).
pub const MAX_THREADS: u32 = 64;
/// The largest `batching.max_batch`.
pub const MAX_BATCH: u32 = 1_024;
/// The longest `batching.max_wait`.
pub const MAX_BATCH_WAIT: Duration = Duration::from_secs(1);

/// A worker's dynamic batching (`tiers.<tier>.batching`): it gathers queued
/// requests until `max_batch` wait or the oldest has waited `max_wait`, and
/// runs them as one inference call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batching {
    pub max_batch: u32,
    pub max_wait: Duration,
}

/// Where a tier's slowdown came from, when a device profile gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileChoice {
    /// The profile's name (`raspberry-pi-4`).
    pub name: String,
    /// The model class its figure is for, or `None` for the median over its classes.
    pub class: Option<String>,
    /// The slowdown the profile gives (device time ÷ reference time).
    pub slowdown: f64,
    /// The device, the reference host and where the figures come from, in one line.
    pub source: String,
    /// The device's power draw, when the profile gives it.
    pub power: Option<Power>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TierConfig {
    pub tier: Tier,
    pub model: PathBuf,
    pub workers: u32,
    pub link: LinkConfig,
    /// The tier computes this many times slower than this host (≥ 1): each
    /// worker holds its slot for (slowdown − 1) × every inference call.
    pub slowdown: f64,
    /// Requests each worker serves at once (`compute.slots`).
    pub slots: u32,
    /// Requests each worker holds waiting for a slot, at most; beyond them a
    /// request is answered `overloaded` (`compute.queue_limit`).
    pub queue_limit: u32,
    /// Intra-op threads of the tier's runtime (`compute.threads`), when
    /// given: ONNX Runtime's own (1 when not); candle's are the process's
    /// RAYON_NUM_THREADS, which a given number must equal.
    pub threads: Option<u32>,
    /// The device profile the slowdown came from (`compute.profile`), if any;
    /// an explicit `compute.slowdown` overrides its figure.
    pub profile: Option<ProfileChoice>,
    /// Dynamic batching, when the tier batches.
    pub batching: Option<Batching>,
    /// Served by `workers` `simrun worker` processes of a pool, not by this process.
    pub remote: Option<RemotePool>,
}

/// Why `name` cannot name a pool, if it cannot: it becomes one level of an
/// MQTT topic (`simrun/pools/<pool>/…`), so no `/`, `+`, `#` or `$`.
pub fn pool_name_problem(name: &str) -> Option<String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok) {
        return Some(format!(
            "a pool or worker name is 1 to 64 letters, digits, '-', '_' or '.' (it is a topic level), got {name:?}"
        ));
    }
    None
}

/// `tiers.<tier>.workers: { remote: POOL, … }`: a pool of `simrun worker`
/// processes on hosts that reach the broker (docs/distributed.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePool {
    pub pool: String,
    /// How long the run waits for the pool's workers to announce themselves.
    pub wait: Duration,
}

impl TierConfig {
    /// How this tier computes, in one line, when it differs from this host
    /// serving one request at a time on one thread.
    pub fn describe_compute(&self) -> Option<String> {
        let mut parts = Vec::new();
        match &self.profile {
            Some(p) => {
                let class =
                    p.class.as_deref().map_or("the median over its model classes".into(), |c| format!("class {c}"));
                let figure = if (p.slowdown - self.slowdown).abs() > 1e-9 {
                    format!("{:.2}, overridden by compute.slowdown {}", p.slowdown, self.slowdown)
                } else {
                    format!("{:.2}", p.slowdown)
                };
                parts.push(format!("profile {} ({class}) gives slowdown {figure} — {}", p.name, p.source));
            }
            None if self.slowdown > 1.0 => parts.push(format!("slowdown {}", self.slowdown)),
            None => {}
        }
        parts.extend(serving_parts(self.slots, self.queue_limit, self.threads));
        if let Some(b) = self.batching {
            parts.push(format!("batches of up to {} requests or {:?}", b.max_batch, b.max_wait));
        }
        (!parts.is_empty()).then(|| format!("{}: {}", self.tier, parts.join("; ")))
    }
}

/// How a worker serves where it differs from one request at a time on one
/// thread: its slots, queue limit and intra-op threads, a phrase each (a
/// tier's `describe_compute`, and a `simrun worker`'s announcement).
pub fn serving_parts(slots: u32, queue_limit: u32, threads: Option<u32>) -> Vec<String> {
    let mut parts = Vec::new();
    if slots > 1 {
        parts.push(format!("{slots} slots"));
    }
    if queue_limit != DEFAULT_QUEUE_LIMIT {
        parts.push(format!("queue limit {queue_limit}"));
    }
    if let Some(n) = threads.filter(|n| *n > 1) {
        parts.push(format!("{n} intra-op threads"));
    }
    parts
}
