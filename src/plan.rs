//! The typed, validated experiment: sweep points with their full configuration.
//!
//! Nothing here knows about YAML; `scenario` builds these values.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Edge,
    Cloud,
    /// Not a place but a routing policy's view: each request once, as the
    /// device experienced it end to end, whichever tiers it went to
    /// (`placement: cascade`, `offload`, `deadline`, `split`).
    Policy,
}

impl Tier {
    /// The tiers that run workers.
    pub const ALL: [Tier; 2] = [Tier::Edge, Tier::Cloud];
    /// Every kind of summary row: the tiers, and a policy's.
    pub const ROWS: [Tier; 3] = [Tier::Edge, Tier::Cloud, Tier::Policy];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Edge => "edge",
            Tier::Cloud => "cloud",
            Tier::Policy => "policy",
        }
    }

    pub fn parse(text: &str) -> Option<Tier> {
        Tier::ROWS.into_iter().find(|t| t.as_str() == text)
    }
}

/// A routing policy: where each request goes, decided where a real system
/// would decide it (docs/policies.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Policy {
    /// Every request to the edge; an uncertain answer is asked of the cloud
    /// too, whose answer the device takes. Decided on the device.
    Cascade(Uncertain),
    /// The edge serves while fewer than `queue` requests are in it (waiting
    /// or being served) and forwards the rest to the cloud. Decided on the
    /// edge gateway, on its own state.
    Offload { queue: u32 },
    /// Every request to the cloud; when no answer has come `after` its send
    /// time (or the cloud answered with an error), the device asks the edge
    /// and takes the first answer. Decided on the device.
    Deadline { after: Duration },
    /// A seeded share `edge` of the requests to the edge, the rest to the
    /// cloud. Decided on the device.
    Split { edge: f64 },
}

/// When the edge's answer counts as uncertain under `cascade`: a one-value
/// score inside `[low, high]`, or a class output whose top probability is
/// below `confidence`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Uncertain {
    pub low: f32,
    pub high: f32,
    pub confidence: f32,
    /// Whether the edge model answers with class probabilities (`Some(true)`)
    /// or a score; known once the preflight has run it.
    pub classes: Option<bool>,
}

impl Uncertain {
    /// Whether an answer with this `probability` (the score, or the top
    /// class's probability when `class` is set) is uncertain.
    pub fn holds(self, probability: f32, class: Option<u32>) -> bool {
        match class {
            None => (self.low..=self.high).contains(&probability),
            Some(_) => probability < self.confidence,
        }
    }
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Cascade(_) => "cascade",
            Policy::Offload { .. } => "offload",
            Policy::Deadline { .. } => "deadline",
            Policy::Split { .. } => "split",
        }
    }

    /// The policy and its parameter, for the report: `cascade (score in 0.2–0.8)`.
    pub fn describe(self) -> String {
        match self {
            Policy::Cascade(u) => match u.classes {
                Some(true) => format!("cascade (top class below {})", u.confidence),
                Some(false) => format!("cascade (score in {}–{})", u.low, u.high),
                None => format!("cascade (score in {}–{}, or top class below {})", u.low, u.high, u.confidence),
            },
            Policy::Offload { queue } => format!("offload (edge queue ≥ {queue})"),
            Policy::Deadline { after } => format!("deadline ({after:?})"),
            Policy::Split { edge } => format!("split ({:.0} % to the edge)", edge * 100.0),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole validated experiment.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub scenario_path: PathBuf,
    /// The scenario's text as read, for locating a key in later messages.
    pub scenario_text: String,
    /// The scenario after `--set` overrides, with every default written out.
    pub resolved_yaml: String,
    pub seed: u64,
    pub repetitions: u32,
    pub output: PathBuf,
    /// Swept keys in the order they were written.
    pub swept_keys: Vec<String>,
    pub points: Vec<SweepPoint>,
    /// Checked at every point once the run ends.
    pub slos: Vec<Slo>,
    /// Set when this run covers one shard of the plan; `points` then holds only that shard's.
    pub shard: Option<Shard>,
    /// Points in the whole plan, whatever the shard.
    pub plan_points: usize,
}

impl Plan {
    /// Keeps only the points of `shard`; fails when the shard would be empty.
    pub fn restrict_to(&mut self, shard: Shard) -> Result<(), ShardError> {
        let total = self.points.len();
        self.points.retain(|p| shard.contains(p.index));
        if self.points.is_empty() {
            return Err(ShardError(format!(
                "shard {shard} has no points: the plan has {total} (use at most {total} shards)"
            )));
        }
        self.shard = Some(shard);
        Ok(())
    }

    /// Warmup plus measured time over every point execution: the least a sweep can take.
    pub fn scheduled_load(&self) -> Duration {
        let per_round: Duration = self.points.iter().map(|p| p.config.load.warmup + p.config.load.duration).sum();
        per_round * self.repetitions
    }
}

/// One cell of the sweep grid.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    pub index: usize,
    /// `(dotted key, value as written in the scenario)` for each swept key.
    pub params: Vec<(String, String)>,
    pub config: PointConfig,
}

impl SweepPoint {
    /// `tiers.cloud.link.latency=50ms, devices.count=4`, or `(base)` with no sweep.
    pub fn label(&self) -> String {
        params_label(&self.params)
    }
}

/// `key=value, key=value` of a point's swept values, or `(base)` with no sweep.
pub fn params_label(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return "(base)".into();
    }
    let parts: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

/// Everything one sweep point needs to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PointConfig {
    pub broker: BrokerConfig,
    pub devices: DeviceConfig,
    pub load: LoadConfig,
    /// The tiers that receive requests, in `Tier` order.
    pub tiers: Vec<TierConfig>,
    /// How requests are routed between the tiers; `None`: each request goes
    /// to every tier of `tiers` (placement `edge`, `cloud` or `both`).
    pub policy: Option<Policy>,
}

impl PointConfig {
    pub fn tier(&self, tier: Tier) -> Option<&TierConfig> {
        self.tiers.iter().find(|t| t.tier == tier)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// As the scenario gave it; `auto` until the managed broker is started.
    pub url: String,
    /// `broker.url: auto`: simrun starts a private Mosquitto for the run
    /// (`run::mosquitto`) and points `host` and `port` at it.
    pub managed: bool,
    pub host: String,
    pub port: u16,
    /// MQTT QoS for requests and responses: 0 or 1.
    pub qos: u8,
    /// How long the broker may stay lost during a point before the run stops.
    pub reconnect_timeout: Duration,
    /// User name and password, when the broker asks for them.
    pub login: Option<Login>,
    /// Set for `mqtts://` brokers.
    pub tls: Option<TlsConfig>,
    /// How devices encode their requests.
    pub encoding: Encoding,
}

/// How devices encode requests on the wire (docs/wire.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// JSON text, schema version 1 (the seed's format).
    #[default]
    Json,
    /// A small binary header and raw little-endian float32 values, schema version 2.
    Binary,
}

impl Encoding {
    /// What the report calls the requests: `JSON requests (wire version 1)`.
    pub fn describe(self) -> &'static str {
        match self {
            Encoding::Json => "JSON requests (wire version 1)",
            Encoding::Binary => "binary requests (wire version 2)",
        }
    }
}

/// What a TLS connection trusts and presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM CA certificates to trust; `None`: the system's.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain and private key, for brokers that ask for one.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// An MQTT user name and its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: Option<Secret>,
}

/// A password: read from the environment, never printed, serialized or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(text)
    }

    /// The secret itself, for the one place that sends it: the MQTT CONNECT packet.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

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

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Arrival {
    /// Evenly spaced at `rate_hz`.
    #[default]
    Constant,
    /// A Poisson process at `rate_hz`: exponential gaps, seeded.
    Poisson,
    /// Each device keeps `concurrency` requests outstanding, `think` after each settles.
    Closed,
}

impl Arrival {
    pub fn as_str(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
            Arrival::Closed => "closed",
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
    /// Requests in the warmup and in the measured window, on an evenly spaced
    /// schedule (the expected counts for Poisson arrivals; none for closed loop).
    pub fn request_counts(&self) -> (u64, u64) {
        let warm = (self.warmup.as_secs_f64() * self.rate_hz).round() as u64;
        let total = ((self.warmup + self.duration).as_secs_f64() * self.rate_hz).round() as u64;
        (warm, total.saturating_sub(warm))
    }
}

/// Requests a worker holds waiting for a slot unless `compute.queue_limit` says otherwise.
pub const DEFAULT_QUEUE_LIMIT: u32 = 1_000;
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

/// What a service-level objective bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SloMetric {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    Mean,
    /// Successful responses per second over the measured window: a minimum.
    Throughput,
    /// Timeouts over requests, as a fraction.
    TimeoutRate,
    /// Error replies over requests, as a fraction.
    ErrorRate,
}

impl SloMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            SloMetric::P50 => "p50",
            SloMetric::P90 => "p90",
            SloMetric::P95 => "p95",
            SloMetric::P99 => "p99",
            SloMetric::P999 => "p999",
            SloMetric::Max => "max",
            SloMetric::Mean => "mean",
            SloMetric::Throughput => "throughput",
            SloMetric::TimeoutRate => "timeout_rate",
            SloMetric::ErrorRate => "error_rate",
        }
    }

    /// Latency metrics are in µs; their limits are durations.
    pub fn is_latency(self) -> bool {
        !matches!(self, SloMetric::Throughput | SloMetric::TimeoutRate | SloMetric::ErrorRate)
    }

    /// Throughput is bounded below; everything else above.
    pub fn is_minimum(self) -> bool {
        self == SloMetric::Throughput
    }

    /// `value` in the metric's unit (µs, requests/s, fraction), for people.
    pub fn format(self, value: f64) -> String {
        if self.is_latency() {
            format!("{:.3} ms", value / 1e3)
        } else if self == SloMetric::Throughput {
            format!("{value:.1}/s")
        } else {
            format!("{:.3} %", value * 100.0)
        }
    }
}

/// A service-level objective, checked at every sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Slo {
    /// `None`: each tier that ran.
    pub tier: Option<Tier>,
    pub metric: SloMetric,
    /// In the metric's unit: µs for latency, requests/s for throughput, a fraction for rates.
    pub limit: f64,
    /// The limit as the scenario wrote it.
    pub limit_text: String,
}

impl Slo {
    /// `≥` for a minimum, `≤` for a maximum.
    pub fn operator(&self) -> &'static str {
        if self.metric.is_minimum() {
            "≥"
        } else {
            "≤"
        }
    }

    /// `p99 ≤ 20ms`.
    pub fn objective(&self) -> String {
        format!("{} {} {}", self.metric.as_str(), self.operator(), self.limit_text)
    }
}

/// One of `count` deterministic subsets of a plan's points (1-based `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// A shard that cannot be written or has nothing to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(pub String);

impl Shard {
    /// Parses `I/N` with 1 ≤ I ≤ N.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError(format!("invalid shard {text:?} (expected I/N with 1 ≤ I ≤ N, e.g. 2/4)"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Points are dealt round-robin, so that each shard gets a spread of the sweep.
    pub fn contains(self, point: usize) -> bool {
        point % self.count == self.index - 1
    }

    /// The shard of `point` when the plan is split `count` ways.
    pub fn of(point: usize, count: usize) -> Shard {
        Shard { index: point % count + 1, count }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_is_uncertain_inside_the_band_for_a_score_and_below_the_confidence_for_classes() {
        let u = Uncertain { low: 0.2, high: 0.8, confidence: 0.6, classes: None };
        assert!(u.holds(0.2, None) && u.holds(0.5, None) && u.holds(0.8, None));
        assert!(!u.holds(0.19, None) && !u.holds(0.81, None));
        assert!(u.holds(0.59, Some(3)) && !u.holds(0.6, Some(3)) && !u.holds(0.95, Some(0)));
        assert_eq!(Policy::Cascade(Uncertain { classes: Some(false), ..u }).describe(), "cascade (score in 0.2–0.8)");
    }

    #[test]
    fn a_shard_is_written_i_of_n() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard::parse(" 1 / 1 "), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/2", "3/2", "1/0", "2", "a/b", "", "1/2/3", "-1/2"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.0.contains("expected I/N"), "{bad}: {e}");
        }
        assert_eq!(Shard { index: 3, count: 4 }.to_string(), "3/4");
    }

    #[test]
    fn shards_deal_the_points_round_robin_and_cover_each_once() {
        let count = 3;
        for point in 0..10 {
            let owners: Vec<usize> = (1..=count).filter(|&index| Shard { index, count }.contains(point)).collect();
            assert_eq!(owners, [point % count + 1], "point {point}");
            assert_eq!(Shard::of(point, count), Shard { index: owners[0], count });
        }
        let first: Vec<usize> = (0..7).filter(|&p| Shard { index: 1, count: 3 }.contains(p)).collect();
        assert_eq!(first, [0, 3, 6]);
    }

    #[test]
    fn a_point_is_labelled_by_its_swept_values() {
        assert_eq!(params_label(&[]), "(base)");
        let params = [("devices.count".to_string(), "4".to_string()), ("load.rate".to_string(), "9/s".to_string())];
        assert_eq!(params_label(&params), "devices.count=4, load.rate=9/s");
    }
}
