//! The records a run hands on: one sample per request and tier, what each
//! link did, the harness floor's round trips and the answers that matched no
//! request. `run` fills them; `stats` summarises them; `report` and `export`
//! write them. This module is below all three and depends only on `plan`.

use serde::{Deserialize, Serialize};

use crate::plan::{LinkConfig, Tier};

/// How a request ended. Every request ends as exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Timeout,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
    }
}

/// How a set of requests ended: how many there were, and how many were
/// answered `ok`, timed out, or failed. Every request ends as exactly one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counts {
    pub requests: u64,
    pub ok: u64,
    pub timeouts: u64,
    pub errors: u64,
}

impl Counts {
    /// Counts one more request that ended as `status`.
    pub fn count(&mut self, status: Status) {
        self.requests += 1;
        match status {
            Status::Ok => self.ok += 1,
            Status::Timeout => self.timeouts += 1,
            Status::Error => self.errors += 1,
        }
    }

    /// Timed out or failed.
    pub fn failed(&self) -> u64 {
        self.timeouts + self.errors
    }

    /// The share answered `ok`; `None` without requests.
    pub fn ok_share(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.ok as f64 / self.requests as f64)
    }

    /// The share timed out or failed; `None` without requests.
    pub fn failed_share(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.failed() as f64 / self.requests as f64)
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.timeouts += o.timeouts;
        self.errors += o.errors;
    }
}

impl std::iter::Sum for Counts {
    fn sum<I: Iterator<Item = Counts>>(iter: I) -> Counts {
        iter.fold(Counts::default(), |mut a, c| {
            a += c;
            a
        })
    }
}

/// A remote process that took part in a run, as the results keep it: a
/// `simrun worker` that served a tier, or a `simrun devices` host that ran a
/// share of the devices. Built from the process's announcement; the pool
/// protocol's own fields (version, state, pid, control counts) stay out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteMember {
    /// Its name in its pool.
    pub name: String,
    pub pool: String,
    /// What it did for the run.
    pub served: Served,
    /// Its host: name, OS, architecture, CPU and cores, as it reported them.
    pub host: String,
    pub os: String,
    pub arch: String,
    pub cpu: String,
    pub cores: usize,
    /// Its simrun version.
    pub simrun: String,
}

/// What a remote process did for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "role", rename_all = "lowercase", deny_unknown_fields)]
pub enum Served {
    /// Served `tier` with `model` (its SHA-256) on ONNX Runtime `onnxruntime`;
    /// `compute` says how, when not one request at a time like its host.
    Worker {
        tier: Tier,
        model: String,
        sha256: String,
        onnxruntime: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        compute: Option<String>,
    },
    /// Ran the devices of slot `slot` (the run's own process is slot 0).
    Devices { slot: u32 },
}

impl RemoteMember {
    /// The tier it served, if it is a worker.
    pub fn tier(&self) -> Option<Tier> {
        match self.served {
            Served::Worker { tier, .. } => Some(tier),
            Served::Devices { .. } => None,
        }
    }
}

/// What one device host sent over a run, and how its samples ended: the
/// run's own process, or a `simrun devices` process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceHostTally {
    /// The host's name in its pool, or `this run`.
    pub name: String,
    pub host: String,
    /// Devices it ran, at the last point.
    pub devices: u32,
    /// Requests its devices sent.
    pub sent: u64,
    /// Samples those requests owe: one per tier each, or one under a policy.
    pub expected: u64,
    pub ok: u64,
    pub timeouts: u64,
    pub errors: u64,
}

impl DeviceHostTally {
    /// Whether every request it sent ended as the samples it owes.
    pub fn accounted(&self) -> bool {
        self.ok + self.timeouts + self.errors == self.expected
    }

    /// Adds one point execution's figures (same host).
    pub fn add(&mut self, other: &DeviceHostTally) {
        self.devices = other.devices;
        self.sent += other.sent;
        self.expected += other.expected;
        self.ok += other.ok;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
    }
}

/// Whether a request counts toward the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Warmup,
    Measure,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Warmup => "warmup",
            Phase::Measure => "measure",
        }
    }
}

/// One request to one tier. Times are microseconds from the run's start on a
/// monotonic clock; latency is measured from the intended send time. A
/// device host sends its samples to the run as JSON (docs/distributed.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub point: usize,
    pub repetition: u32,
    pub tier: Tier,
    pub device: u32,
    /// The device's group, by its place in `devices` (0 with one block).
    #[serde(default)]
    pub group: u16,
    pub seq: u64,
    pub phase: Phase,
    pub intended_us: u64,
    pub sent_us: u64,
    pub received_us: Option<u64>,
    pub queue_us: Option<u64>,
    pub infer_us: Option<u64>,
    pub status: Status,
    pub probability: Option<f32>,
    /// The worker's error message for `Status::Error`.
    pub error: Option<String>,
    /// The worker that answered (`edge-0`, …), when one did.
    pub worker: Option<String>,
    /// The request's MQTT payload, in bytes.
    pub request_bytes: u32,
    /// The response's (or error reply's) payload, in bytes, when one came.
    pub response_bytes: Option<u32>,
    /// Time the worker held its slot after inference to compute as a slower
    /// machine (`compute.slowdown`), when it did.
    pub held_us: Option<u64>,
    /// How long after its due end that hold ended, when there was one.
    pub held_late_us: Option<u64>,
    /// Requests in the inference call this one ran in, when the tier batches.
    pub batch: Option<u32>,
    /// The row of `devices.input.data` the request carried, for a data file.
    pub row: Option<u32>,
    /// That row's label, when the file has labels.
    pub label: Option<i64>,
    /// The answer's predicted label: its class, or its score against 0.5.
    pub prediction: Option<i64>,
    /// Under a routing policy (`tier` is `policy`): the tiers the request
    /// went to, whose answer the device took, and why.
    pub route: Option<Route>,
    pub answered_by: Option<Tier>,
    pub reason: Option<String>,
    /// Under `placement: partition`, for a request the edge forwarded: the
    /// head's compute on the edge (its call and hold; part of `infer_us` and
    /// `held_us`, which hold both sides'), when the edge's notice reached the
    /// collector, and the bytes it sent the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitPart>,
}

/// The edge's part of a partitioned request (`Sample::split`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitPart {
    pub head_us: u64,
    pub forwarded_us: u64,
    pub bytes: u32,
}

/// Where a request went under a routing policy, in the order it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Route {
    Edge = 0,
    Cloud,
    /// The edge, then the cloud as well (`cascade` on an uncertain answer).
    EdgeThenCloud,
    /// The cloud, then the edge as well (`deadline` when the cloud was late).
    CloudThenEdge,
}

impl Route {
    pub const ALL: [Route; 4] = [Route::Edge, Route::Cloud, Route::EdgeThenCloud, Route::CloudThenEdge];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Edge => "edge",
            Route::Cloud => "cloud",
            Route::EdgeThenCloud => "edge>cloud",
            Route::CloudThenEdge => "cloud>edge",
        }
    }

    /// Whether the request reached the cloud (what the cloud would bill).
    pub fn reached_cloud(self) -> bool {
        self != Route::Edge
    }
}

/// A measured request to `tier` sent at 0 and answered `ok` at `received_us`,
/// with nothing else set: for unit tests of what reads samples, which change
/// the fields they are about (`Sample { seq: 3, ..test_sample(…) }`).
#[cfg(test)]
pub fn test_sample(tier: Tier, received_us: u64) -> Sample {
    Sample {
        point: 0,
        repetition: 0,
        tier,
        device: 0,
        group: 0,
        seq: 0,
        phase: Phase::Measure,
        intended_us: 0,
        sent_us: 0,
        received_us: Some(received_us),
        queue_us: Some(0),
        infer_us: Some(0),
        status: Status::Ok,
        probability: Some(0.5),
        error: None,
        worker: None,
        request_bytes: 0,
        response_bytes: None,
        held_us: None,
        held_late_us: None,
        batch: None,
        row: None,
        label: None,
        prediction: None,
        route: None,
        answered_by: None,
        reason: None,
        split: None,
    }
}

impl Sample {
    /// Received minus intended send time, when a response arrived.
    pub fn latency_us(&self) -> Option<u64> {
        self.received_us.map(|r| r.saturating_sub(self.intended_us))
    }

    /// Latency minus the worker's queue, inference and held times: links,
    /// broker and client stacks. Only for an answer that reported both.
    pub fn network_us(&self) -> Option<u64> {
        let (latency, queue, infer) = (self.latency_us()?, self.queue_us?, self.infer_us?);
        Some(latency.saturating_sub(queue + infer + self.held_us.unwrap_or(0)))
    }

    /// The slowdown this request's inference achieved: (call + held) ÷ call,
    /// when the worker held its slot.
    pub fn slowdown(&self) -> Option<f64> {
        let (infer, held) = (self.infer_us?, self.held_us?);
        (infer > 0).then(|| (infer + held) as f64 / infer as f64)
    }

    /// Sent minus intended send time: how late the load generator was.
    pub fn dispatch_us(&self) -> u64 {
        self.sent_us.saturating_sub(self.intended_us)
    }
}

/// Which way bytes travel through a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the clients to the broker.
    Up,
    /// From the broker to the clients.
    Down,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::Up, Direction::Down];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// What one direction of a link did, chunk by chunk, since it was armed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectionRecord {
    /// Release minus read: the delay actually added, in µs.
    pub applied_us: Vec<u64>,
    /// What the link was asked for each chunk, in µs: the delay drawn (or
    /// given by its trace), held through outages, before order and bandwidth.
    pub asked_us: Vec<u64>,
    /// |release − due time|: the timer's error, in µs.
    pub release_error_us: Vec<u64>,
    pub bytes: u64,
    /// Bytes of chunks that waited behind earlier bytes, and the time between
    /// their release and the previous release: the achieved bandwidth when backlogged.
    pub backlogged_bytes: u64,
    pub backlogged_span_us: u64,
    /// The same chunks' bytes at the bandwidth asked when each was read.
    pub backlogged_asked_ns: u64,
}

/// A link's records for both directions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub up: DirectionRecord,
    pub down: DirectionRecord,
}

/// What one link of a point execution was asked to do and did.
#[derive(Debug, Clone)]
pub struct LinkOutcome {
    /// `edge`, `cloud` or `devices`.
    pub name: String,
    pub config: LinkConfig,
    pub record: LinkRecord,
}

/// Counters of answers that matched no pending request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Unmatched {
    /// Ids that belong to no request of this point execution.
    pub unknown: u64,
    /// A second answer to a request already answered by that tier.
    pub duplicates: u64,
    /// Answers that came after their request was settled as a timeout.
    pub late: u64,
    /// Error replies without a readable request id.
    pub anonymous_errors: u64,
}

impl std::ops::AddAssign for Unmatched {
    fn add_assign(&mut self, o: Unmatched) {
        self.unknown += o.unknown;
        self.duplicates += o.duplicates;
        self.late += o.late;
        self.anonymous_errors += o.anonymous_errors;
    }
}

/// The round trips of one harness-floor echo, in µs from each message's
/// intended send time, in arrival order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EchoRecord {
    pub round_trips_us: Vec<u64>,
    pub sent: u64,
    pub qos: u8,
    /// Bytes of each message out and of its echo back, and the send rate.
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub rate_hz: f64,
}

/// The harness floor as measured: straight to the broker, and with the
/// echoing side behind a 0 ms link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FloorRecord {
    pub straight: EchoRecord,
    pub through_link: Option<EchoRecord>,
}

/// Above this mean share of its cores over a point execution, the host was
/// saturated: the run's parts waited for CPU, and its latencies say so as
/// much as they say anything about the tiers.
pub const SATURATED_PCT: f64 = 90.0;

/// How busy the host was over one point execution, from `/proc`: every
/// core's busy time (`/proc/stat`) and the CPU time of the run's own parts
/// (its threads by role, the broker's process when it runs on this host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostLoad {
    pub point: usize,
    pub repetition: u32,
    /// The wall time measured over, s: the whole execution, set-up and warmup included.
    pub seconds: f64,
    /// The host's cores, as `/proc/stat` counts them.
    pub cores: u32,
    /// Mean busy share of all cores over the execution, %.
    pub busy_pct: f64,
    /// The busiest whole second's busy share of all cores, %.
    pub peak_pct: f64,
    /// CPU seconds of each part, in the order the report shows them.
    pub parts: Vec<CpuPart>,
}

/// One part's CPU time over a point execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CpuPart {
    /// `simrun: async runtime`, `simrun: precise timer`, `simrun: other threads`, `broker (mosquitto)`.
    pub name: String,
    pub cpu_s: f64,
}

impl HostLoad {
    /// `cpu_s` as a share of the host's capacity over the execution (cores × wall time), %.
    pub fn share_pct(&self, cpu_s: f64) -> f64 {
        let capacity = self.seconds * self.cores.max(1) as f64;
        if capacity > 0.0 {
            cpu_s / capacity * 100.0
        } else {
            0.0
        }
    }

    /// The CPU seconds of the parts whose name starts with `prefix`.
    pub fn cpu_of(&self, prefix: &str) -> Option<f64> {
        let mut parts = self.parts.iter().filter(|p| p.name.starts_with(prefix)).peekable();
        parts.peek()?;
        Some(parts.map(|p| p.cpu_s).sum())
    }

    /// What the host's busy time leaves after the run's parts: other processes', %.
    pub fn rest_pct(&self) -> f64 {
        let ours: f64 = self.parts.iter().map(|p| p.cpu_s).sum();
        (self.busy_pct - self.share_pct(ours)).max(0.0)
    }

    /// Whether the host was above `SATURATED_PCT` on average over the execution.
    pub fn saturated(&self) -> bool {
        self.busy_pct > SATURATED_PCT
    }
}
