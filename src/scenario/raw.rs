//! Raw serde structs that mirror the scenario file, defaults filled in.
//!
//! Durations and rates are parsed while deserializing so that a bad value is
//! reported with the YAML parser's line and column.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::{Bandwidth, HumanDuration, Rate};
use crate::plan::{Distribution, OutageMode};

/// The schema of an SLO bound: a duration, a rate, a percentage or a plain
/// number, depending on the metric (docs/scenario.md).
fn limit_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["string", "number", "null"] })
}

fn default_seed() -> u64 {
    42
}
fn default_one() -> u32 {
    1
}
fn default_output() -> String {
    "results".into()
}
fn default_broker_url() -> String {
    super::validate::MANAGED_BROKER.into()
}
fn zero_duration() -> HumanDuration {
    HumanDuration::parse("0ms").expect("constant")
}
/// Queueing delay wanders over tens to hundreds of milliseconds; at this
/// timescale a 30 ms ± 5 ms link keeps its median at thousands of chunks a
/// second (docs/scenario.md, Links).
fn default_jitter_timescale() -> HumanDuration {
    HumanDuration::parse("100ms").expect("constant")
}
fn default_timeout() -> HumanDuration {
    HumanDuration::parse("2s").expect("constant")
}

/// The whole scenario file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub broker: BrokerFile,
    /// One block of devices, or a list of named groups (docs/scenario.md, Device groups).
    #[serde(default, deserialize_with = "block_or_groups", serialize_with = "write_block_or_groups")]
    #[schemars(with = "DevicesSchema")]
    pub devices: DevicesFile,
    pub load: LoadFile,
    #[serde(default)]
    pub placement: PlacementFile,
    /// The parameters of the routing policies (docs/policies.md); each
    /// applies when `placement` names its policy.
    #[serde(default)]
    pub policy: PolicyFile,
    /// `placement: partition`'s model and cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionFile>,
    pub tiers: TiersFile,
    /// Dotted key → values. Kept as YAML values: each point is built by
    /// writing its values into the scenario and deserializing again.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, Vec<serde_json::Value>>")]
    pub sweep: serde_yaml::Mapping,
    #[serde(default = "default_one")]
    pub repetitions: u32,
    #[serde(default = "default_output")]
    pub output: String,
    /// Service-level objectives, checked at every sweep point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<SloFile>,
}

/// One service-level objective: `{ tier: edge, metric: p99, max: 20ms }`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<crate::plan::Tier>,
    /// A device group's name: the objective holds for that group's own rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub metric: crate::plan::SloMetric,
    /// A duration for latency metrics, a percentage or fraction for rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "limit_schema")]
    pub max: Option<serde_yaml::Value>,
    /// A rate for throughput (`190/s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "limit_schema")]
    pub min: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrokerFile {
    /// `auto` (the default): simrun starts a private Mosquitto on a free
    /// loopback port with `set_tcp_nodelay true` and stops it at the end; or
    /// `mqtt://host[:port]`, `mqtts://host[:port]` for a broker you run.
    #[serde(default = "default_broker_url")]
    pub url: String,
    #[serde(default)]
    pub qos: u8,
    /// How long a lost broker may stay away before the run stops (exit 3).
    #[serde(default = "default_reconnect_timeout")]
    pub reconnect_timeout: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The name of the environment variable that holds the password (never the password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Certificates for an `mqtts://` broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFile>,
    /// `json` (default) or `binary` requests.
    #[serde(default)]
    pub encoding: crate::plan::Encoding,
}

/// PEM files: the CA to trust (default: the system's), and a client certificate and key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn default_reconnect_timeout() -> HumanDuration {
    HumanDuration::parse("30s").expect("constant")
}

impl Default for BrokerFile {
    fn default() -> Self {
        Self {
            url: default_broker_url(),
            qos: 0,
            reconnect_timeout: default_reconnect_timeout(),
            username: None,
            password_env: None,
            tls: None,
            encoding: crate::plan::Encoding::Json,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicesFile {
    #[serde(default = "default_one")]
    pub count: u32,
    /// Shorthand for `input: { shape: [N] }` with seeded uniform data.
    #[serde(default)]
    pub features: Option<u32>,
    #[serde(default)]
    pub input: Option<InputFile>,
    /// The hop between the devices (and the collector) and the broker.
    #[serde(default)]
    pub link: LinkFile,
    /// Share the devices with `simrun devices` processes of a pool, on other hosts.
    #[serde(default)]
    pub remote: Option<RemoteDevicesFile>,
    /// The devices' radio, for the energy estimate: `lte`, `wifi`, `3g`,
    /// `ethernet`, `none`, or a block (docs/energy.md). Absent: no estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radio: Option<RadioFile>,
    /// Each device's battery, in watt-hours, for its battery life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_wh: Option<f64>,
    /// `devices` written as a list: its groups (and every other field its default).
    #[serde(skip)]
    pub groups: Vec<GroupFile>,
}

/// One named group of `devices` written as a list: a devices block of its
/// own, with its own arrival process.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    /// Names the group in samples, summaries, SLOs and sweep keys (`devices.<name>.count`).
    pub name: String,
    #[serde(default = "default_one")]
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputFile>,
    #[serde(default)]
    pub link: LinkFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radio: Option<RadioFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_wh: Option<f64>,
    /// The group's own placement (edge, cloud, both, cascade, deadline or
    /// split); the scenario's when absent. `offload` and `partition` are
    /// the whole fleet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementFile>,
    /// The group's arrival process; the scenario's `load` when absent
    /// (`load.duration`, `warmup` and `timeout` are always the scenario's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<GroupLoadFile>,
}

impl GroupFile {
    /// The group as a devices block of its own.
    pub fn block(&self) -> DevicesFile {
        DevicesFile {
            count: self.count,
            features: self.features,
            input: self.input.clone(),
            link: self.link.clone(),
            remote: None,
            radio: self.radio.clone(),
            battery_wh: self.battery_wh,
            groups: Vec::new(),
        }
    }

    /// The scenario's `load` with the group's process in place of its own.
    pub fn load(&self, load: &LoadFile) -> LoadFile {
        let Some(g) = &self.load else { return load.clone() };
        LoadFile {
            arrival: g.arrival,
            rate: g.rate.clone(),
            concurrency: g.concurrency,
            think: g.think.clone(),
            on_for: g.on_for.clone(),
            off_for: g.off_for.clone(),
            periods: g.periods,
            rates: g.rates.clone(),
            stay: g.stay.clone(),
            file: g.file.clone(),
            speed: g.speed,
            ..load.clone()
        }
    }
}

/// A group's `load`: the arrival keys of `load`, without its window.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupLoadFile {
    #[serde(default)]
    pub arrival: ArrivalFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    #[serde(default = "default_one")]
    pub concurrency: u32,
    #[serde(default = "zero_duration")]
    pub think: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<PeriodsFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rates: Option<Vec<Rate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stay: Option<Vec<HumanDuration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
}

/// `devices` in the JSON Schema: a block, or a list of groups.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum DevicesSchema {
    Block(Box<DevicesFile>),
    Groups(Vec<GroupFile>),
}

/// `devices` as a mapping (one block) or a sequence (named groups), read
/// from the text itself so that errors keep their line and column.
fn block_or_groups<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DevicesFile, D::Error> {
    struct Either;
    impl<'de> serde::de::Visitor<'de> for Either {
        type Value = DevicesFile;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a mapping of device settings, or a list of named device groups")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<DevicesFile, A::Error> {
            DevicesFile::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<DevicesFile, A::Error> {
            let groups = Vec::<GroupFile>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
            Ok(DevicesFile { groups, ..DevicesFile::default() })
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<DevicesFile, E> {
            Ok(DevicesFile::default())
        }
    }
    d.deserialize_any(Either)
}

fn write_block_or_groups<S: serde::Serializer>(devices: &DevicesFile, s: S) -> Result<S::Ok, S::Error> {
    if devices.groups.is_empty() {
        devices.serialize(s)
    } else {
        devices.groups.serialize(s)
    }
}

/// `devices.radio`: a shipped radio by name, or a block of figures.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RadioFile {
    Named(String),
    Block(Box<RadioBlock>),
}

/// A radio's figures (profiles/radios.yaml's layout), each overriding
/// `model`'s; without `model`, every power and time is required.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RadioBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_mw_per_mbps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_mw_per_mbps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_mw: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_mw: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_mw: Option<f64>,
    /// The rates transfers move at when their path has no bandwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<Bandwidth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downlink: Option<Bandwidth>,
}

/// `compute.power`: a device's draw, idle and with all cores busy.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerFile {
    pub idle_w: f64,
    pub active_w: f64,
    #[serde(default = "default_one")]
    pub cores: u32,
}

/// `tiers.<tier>.cost`: the cloud's prices (an instance of profiles/prices.yaml
/// and overrides), or the edge device's price and lifetime.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_per_gb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_per_gb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_million_messages: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<HumanDuration>,
}

/// `devices.remote: { pool: POOL, hosts: N, wait: 30s }`: the devices are
/// dealt round-robin over this run and `hosts` `simrun devices` processes of
/// pool POOL; the run waits up to `wait` for them to announce themselves.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteDevicesFile {
    pub pool: String,
    #[serde(default = "default_one")]
    pub hosts: u32,
    #[serde(default = "default_pool_wait")]
    pub wait: HumanDuration,
}

/// What each request carries (docs/scenario.md, Inputs).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// One sample's dimensions, without the batch; the model's when absent.
    #[serde(default)]
    pub shape: Option<Vec<u32>>,
    #[serde(default)]
    pub dtype: Option<String>,
    /// `uniform` (default), `normal`, or a `.csv` / `.npy` file of samples.
    #[serde(default)]
    pub data: Option<String>,
    /// The CSV column holding each row's label (default `label`, when present).
    #[serde(default)]
    pub label: Option<String>,
    /// A `.npy` file of one integer label per row of a `.npy` data file.
    #[serde(default)]
    pub labels: Option<String>,
}

/// How a tier computes against this host.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputeFile {
    /// Overrides the profile's figure when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowdown: Option<f64>,
    /// A device profile (`raspberry-pi-4`), or `FILE.yaml#NAME` for one of the user's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The model class whose figure of the profile applies; the median over its classes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Intra-op threads of the runtime (ONNX Runtime; candle follows RAYON_NUM_THREADS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// The device's power draw (overrides the profile's), for the energy estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerFile>,
    /// Requests a worker serves at once.
    #[serde(default = "default_one")]
    pub slots: u32,
    /// Requests a worker holds waiting for a slot before it answers `overloaded`.
    #[serde(default = "default_queue_limit")]
    pub queue_limit: u32,
}

fn default_queue_limit() -> u32 {
    crate::plan::DEFAULT_QUEUE_LIMIT
}

impl Default for ComputeFile {
    fn default() -> Self {
        ComputeFile {
            slowdown: None,
            profile: None,
            class: None,
            threads: None,
            power: None,
            slots: 1,
            queue_limit: default_queue_limit(),
        }
    }
}

impl Default for DevicesFile {
    fn default() -> Self {
        Self {
            count: 1,
            features: None,
            input: None,
            link: LinkFile::default(),
            remote: None,
            radio: None,
            battery_wh: None,
            groups: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadFile {
    #[serde(default)]
    pub arrival: ArrivalFile,
    /// Required for open-loop arrivals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    pub duration: HumanDuration,
    #[serde(default = "zero_duration")]
    pub warmup: HumanDuration,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "default_one")]
    pub concurrency: u32,
    #[serde(default = "zero_duration")]
    pub think: HumanDuration,
    /// `onoff`: how long each on and off period lasts (their means with
    /// `periods: exponential`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<PeriodsFile>,
    /// `mmpp`: the two states' rates, and their mean stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rates: Option<Vec<Rate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stay: Option<Vec<HumanDuration>>,
    /// `replay`: a file of request times (one a line) or per-interval counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `replay`: how many times faster than written the file plays (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalFile {
    #[default]
    Constant,
    Poisson,
    Closed,
    /// Bursts: evenly spaced at `rate` for `on`, then nothing for `off`.
    Onoff,
    /// A two-state Markov-modulated Poisson process (`rates`, `stay`).
    Mmpp,
    /// The request times of `file`.
    Replay,
}

/// `load.periods`: whether on/off periods last exactly `on` and `off` or
/// are exponential draws of those means.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PeriodsFile {
    #[default]
    Fixed,
    Exponential,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlacementFile {
    Edge,
    Cloud,
    #[default]
    Both,
    Cascade,
    Offload,
    Deadline,
    Split,
    /// One ONNX model split between the tiers at `partition.at`.
    Partition,
}

/// `placement: partition`: which ONNX model, cut where (docs/partition.md).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionFile {
    /// The ONNX model both tiers share: the edge runs the head, the cloud the tail.
    pub model: String,
    /// A cut tensor (`simrun partition MODEL` lists them), `input` (all in
    /// the cloud) or `output` (all on the edge); sweepable.
    pub at: String,
}

/// The routing policies' parameters, each sweepable (`policy.deadline.after`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyFile {
    pub cascade: CascadeFile,
    pub offload: OffloadFile,
    pub deadline: DeadlineFile,
    pub split: SplitFile,
}

/// When the edge's answer is uncertain: a one-value score inside `band`, or
/// a class output whose top probability is below `confidence`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CascadeFile {
    pub band: Vec<f64>,
    pub confidence: f64,
}

impl Default for CascadeFile {
    fn default() -> Self {
        CascadeFile { band: vec![0.2, 0.8], confidence: 0.9 }
    }
}

/// The edge serves while fewer than `queue` requests are in it (waiting or
/// being served), and forwards the rest to the cloud.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OffloadFile {
    pub queue: u32,
}

impl Default for OffloadFile {
    fn default() -> Self {
        OffloadFile { queue: 4 }
    }
}

/// The device asks the edge when the cloud has not answered `after` the send.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineFile {
    pub after: HumanDuration,
}

impl Default for DeadlineFile {
    fn default() -> Self {
        DeadlineFile { after: HumanDuration::parse("100ms").expect("constant") }
    }
}

/// The share of requests sent to the edge (a seeded draw per request).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SplitFile {
    pub edge: f64,
}

impl Default for SplitFile {
    fn default() -> Self {
        SplitFile { edge: 0.5 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TiersFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<TierFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<TierFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierFile {
    /// The tier's model; under `placement: partition` it comes from
    /// `partition.model` and may be left out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// How many workers serve the tier, in this process (a number), or in a
    /// pool of `simrun worker` processes elsewhere (`{ remote: POOL, count: N }`).
    #[serde(default)]
    pub workers: WorkersFile,
    #[serde(default)]
    pub link: LinkFile,
    #[serde(default)]
    pub compute: ComputeFile,
    /// Dynamic batching: gather requests into one inference call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batching: Option<BatchingFile>,
    /// The edge only: it runs on the device (the default), so its compute
    /// draws on the device and its requests use no radio; `false`: a
    /// gateway reached over the device's radio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_device: Option<bool>,
    /// What the tier costs (docs/energy.md, Money).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostFile>,
}

/// `tiers.<tier>.workers`: a number of local workers, or a remote pool.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum WorkersFile {
    Local(u32),
    Remote(RemoteFile),
}

impl Default for WorkersFile {
    fn default() -> Self {
        WorkersFile::Local(1)
    }
}

impl<'de> Deserialize<'de> for WorkersFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let expected = "expected a number of workers, or { remote: POOL, count: N }";
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(WorkersFile::Local)
                .ok_or_else(|| D::Error::custom(format!("{expected}, got {n}"))),
            v @ serde_yaml::Value::Mapping(_) => {
                RemoteFile::deserialize(v).map(WorkersFile::Remote).map_err(|e| D::Error::custom(e.to_string()))
            }
            other => Err(D::Error::custom(format!(
                "{expected}, got {}",
                serde_yaml::to_string(&other).unwrap_or_default().trim()
            ))),
        }
    }
}

/// `tiers.<tier>.workers: { remote: POOL, count: N, wait: 30s }`: the tier
/// is served by `count` `simrun worker` processes of pool POOL, on any host
/// that reaches the broker; the run waits up to `wait` for them to announce.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteFile {
    pub remote: String,
    #[serde(default = "default_one")]
    pub count: u32,
    #[serde(default = "default_pool_wait")]
    pub wait: HumanDuration,
}

fn default_pool_wait() -> HumanDuration {
    HumanDuration::parse("30s").expect("constant")
}

/// `tiers.<tier>.batching`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchingFile {
    pub max_batch: u32,
    pub max_wait: HumanDuration,
}

/// The emulated network of one hop. Every field is optional; all zero means no link.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    #[serde(default = "zero_duration")]
    pub latency: HumanDuration,
    #[serde(default = "zero_duration")]
    pub jitter: HumanDuration,
    #[serde(default)]
    pub distribution: Distribution,
    #[serde(default = "default_jitter_timescale")]
    pub jitter_timescale: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outages: Vec<OutageFile>,
    /// A CSV file of timed conditions (scenario::trace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl Default for LinkFile {
    fn default() -> Self {
        Self {
            latency: zero_duration(),
            jitter: zero_duration(),
            distribution: Distribution::Constant,
            jitter_timescale: default_jitter_timescale(),
            bandwidth: None,
            outages: Vec::new(),
            trace: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageFile {
    pub at: HumanDuration,
    #[serde(rename = "for")]
    pub duration: HumanDuration,
    #[serde(default)]
    pub mode: OutageMode,
}
