//! The network between a part and the broker: delay, jitter, bandwidth, outages, traces.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The emulated network of one hop (a tier's workers, or the devices, to the broker).
/// Latency is one-way and applies in each direction.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinkConfig {
    /// One-way base delay.
    pub latency: Duration,
    /// Spread; what it means depends on `distribution`.
    pub jitter: Duration,
    pub distribution: Distribution,
    /// How long the delay takes to wander: successive delays `t` apart are
    /// correlated by exp(−t / timescale). Zero draws each chunk's delay on
    /// its own (the only behaviour before this key, hence the default when
    /// reading older results).
    #[serde(default)]
    pub jitter_timescale: Duration,
    /// Per direction; `None` is unlimited.
    pub bandwidth_bps: Option<f64>,
    /// Times from the start of the measured window.
    pub outages: Vec<LinkOutage>,
    /// Recorded conditions replayed from the start of the measured window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<LinkTrace>,
}

impl LinkConfig {
    /// A constant one-way delay and nothing else.
    pub fn constant(latency: Duration) -> Self {
        LinkConfig { latency, ..LinkConfig::default() }
    }

    /// True when a bandwidth limits the link: its own, or its trace's column.
    pub fn limits_bandwidth(&self) -> bool {
        self.bandwidth_bps.is_some() || self.trace.as_ref().is_some_and(|t| t.has_bandwidth)
    }

    /// True when the link changes nothing, so no proxy is needed.
    pub fn is_transparent(&self) -> bool {
        self.latency.is_zero()
            && self.jitter.is_zero()
            && self.bandwidth_bps.is_none()
            && self.outages.is_empty()
            && self.trace.is_none()
    }
}

/// A link trace: one-way conditions over time, a step function of its rows
/// (docs/scenario.md, Traces). Results keep where it came from and its
/// digest, not its rows.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinkTrace {
    /// The path as the scenario gave it.
    pub path: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    pub end: TraceEnd,
    /// The last row's time: where a looped trace starts again.
    pub span: Duration,
    /// True when the file gives a bandwidth column.
    pub has_bandwidth: bool,
    /// Shared by every point's copy of the trace: read once per run.
    #[serde(skip)]
    pub rows: std::sync::Arc<[TraceRow]>,
}

/// Two traces are the same when their files are.
impl PartialEq for LinkTrace {
    fn eq(&self, other: &Self) -> bool {
        self.sha256 == other.sha256 && self.end == other.end
    }
}

/// What a trace does after its last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TraceEnd {
    /// The last row's conditions stay.
    #[default]
    Hold,
    /// The trace starts again from its first row at the last row's time.
    Loop,
}

/// `traces/commute.csv (loop, 180 s)`: where it came from, its end and span.
impl std::fmt::Display for LinkTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} ({}, {} s)", self.path, self.end.as_str(), self.span.as_secs_f64())
    }
}

impl TraceEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceEnd::Hold => "hold",
            TraceEnd::Loop => "loop",
        }
    }
}

/// The conditions from `at` until the next row's time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceRow {
    pub at: Duration,
    /// One-way delay.
    pub delay: Duration,
    /// `None`: the link's own `bandwidth` (unlimited without one).
    pub bandwidth_bps: Option<f64>,
    /// Bytes are held until the outage's rows end, as a blackhole outage.
    pub outage: bool,
}

/// How a link draws each chunk's delay from `latency` and `jitter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    #[default]
    Constant,
    Uniform,
    Normal,
    Lognormal,
    Pareto,
}

impl Distribution {
    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::Constant => "constant",
            Distribution::Uniform => "uniform",
            Distribution::Normal => "normal",
            Distribution::Lognormal => "lognormal",
            Distribution::Pareto => "pareto",
        }
    }
}

/// A window in which a link stops delivering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinkOutage {
    pub at: Duration,
    pub duration: Duration,
    pub mode: OutageMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutageMode {
    /// Bytes are held, then delivered when the window ends.
    #[default]
    Blackhole,
    /// Connections are closed and refused for the window; clients reconnect after it.
    Reset,
}
