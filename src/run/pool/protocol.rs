//! The pool's protocol: its topics and its typed control messages (a
//! member's announcement and last will, a run's presence, jobs, acks and
//! sample batches), which `claim.rs` and `serve.rs` exchange.

use serde::{Deserialize, Serialize};

use super::DriveSpec;
use crate::plan::{LinkConfig, Tier};
use crate::record::{DeviceHostTally, LinkRecord, RemoteMember, Sample, Served};

/// The version of the pool's control messages.
pub const POOL_VERSION: u32 = 1;

/// Where a worker announces itself (retained), and its last will goes.
pub fn worker_topic(pool: &str, name: &str) -> String {
    format!("simrun/pools/{pool}/workers/{name}")
}

/// Every announcement of a pool.
pub fn workers_filter(pool: &str) -> String {
    format!("simrun/pools/{pool}/workers/+")
}

/// Where a run sends a worker its jobs.
pub fn jobs_topic(pool: &str, name: &str) -> String {
    format!("simrun/pools/{pool}/jobs/{name}")
}

/// Where a pool's workers answer a run's jobs.
pub fn acks_topic(pool: &str, run: &str) -> String {
    format!("simrun/pools/{pool}/acks/{run}")
}

/// A run's presence: its last will (`gone`) lands here, so that the workers
/// it claimed free themselves if it dies without releasing them.
pub fn run_topic(pool: &str, run: &str) -> String {
    format!("simrun/pools/{pool}/runs/{run}")
}

/// Where a pool's device hosts send a run's samples.
pub fn samples_topic(pool: &str, run: &str) -> String {
    format!("simrun/pools/{pool}/samples/{run}")
}

/// Every run's presence in a pool.
pub fn runs_filter(pool: &str) -> String {
    format!("simrun/pools/{pool}/runs/+")
}

/// Where a pool worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Ready for a run to claim it.
    #[default]
    Idle,
    /// Serving the run named in `run`, and no other.
    Claimed,
    /// Stopping (SIGTERM): it finishes the point it serves, then leaves.
    Draining,
    /// Its process ended, or its connection did (the last will).
    Gone,
}

/// What a pool member does: serve a tier's model (`simrun worker`) or run
/// a share of a run's devices (`simrun devices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Worker,
    Devices,
}

/// What a worker says about itself, retained on its topic. The last will
/// carries only `v`, `name`, `pool`, `state` and `reason`, so everything
/// else has a default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Announcement {
    pub v: u32,
    pub name: String,
    pub pool: String,
    pub state: State,
    #[serde(default)]
    pub role: Role,
    /// The run that claimed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// The model file as the worker was started with it, and its SHA-256.
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub simrun: String,
    #[serde(default)]
    pub onnxruntime: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub cpu: String,
    #[serde(default)]
    pub cores: usize,
    #[serde(default)]
    pub pid: u32,
    /// How it computes, when not like its host serving one request at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<String>,
    /// Control messages it could not parse, since it started.
    #[serde(default)]
    pub bad_control: u64,
    /// Why it is gone or draining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Announcement {
    /// The payload of a worker's last will.
    pub fn will(pool: &str, name: &str) -> Announcement {
        Announcement {
            v: POOL_VERSION,
            name: name.to_string(),
            pool: pool.to_string(),
            state: State::Gone,
            reason: Some("its connection to the broker ended without a goodbye (last will)".into()),
            ..Announcement::default()
        }
    }

    /// What the results keep of it; `slot` is a device host's slot (the
    /// run's own process is slot 0).
    pub fn record(&self, slot: u32) -> RemoteMember {
        let served = match (self.role, self.tier) {
            (Role::Worker, Some(tier)) => Served::Worker {
                tier,
                model: self.model.clone(),
                sha256: self.sha256.clone(),
                onnxruntime: self.onnxruntime.clone(),
                compute: self.compute.clone(),
            },
            // A worker always announces its tier (cli/worker.rs).
            _ => Served::Devices { slot },
        };
        RemoteMember {
            name: self.name.clone(),
            pool: self.pool.clone(),
            served,
            host: self.host.clone(),
            os: self.os.clone(),
            arch: self.arch.clone(),
            cpu: self.cpu.clone(),
            cores: self.cores,
            simrun: self.simrun.clone(),
        }
    }

    /// Why this member cannot do what `asked` needs, if it cannot: its role,
    /// tier, model or simrun version. The one admission check, made by a run
    /// before it claims members and by a member before it serves a job.
    pub fn misfit(&self, asked: Asked<'_>) -> Option<Misfit> {
        match (asked, self.role) {
            (Asked::Devices, Role::Worker) => return Some(Misfit::NotADeviceHost),
            (Asked::Tier { .. }, Role::Devices) => return Some(Misfit::NotAWorker),
            (Asked::Tier { tier, .. }, _) if self.tier != Some(tier) => return Some(Misfit::OtherTier(self.tier)),
            (Asked::Tier { sha256, .. }, _) if self.sha256 != sha256 => {
                return Some(Misfit::OtherModel { model: self.model.clone(), sha256: self.sha256.clone() })
            }
            _ => {}
        }
        (self.simrun != env!("CARGO_PKG_VERSION")).then(|| Misfit::OtherVersion(self.simrun.clone()))
    }

    /// `Draining` when it is: a draining member takes no new job.
    pub fn draining(&self) -> Option<Misfit> {
        (self.state == State::Draining).then_some(Misfit::Draining)
    }

    /// Why this member cannot be claimed now, if it cannot: its state.
    pub fn unavailable(&self) -> Option<Misfit> {
        match self.state {
            State::Idle => None,
            State::Claimed => Some(Misfit::Claimed(self.run.clone())),
            State::Draining => Some(Misfit::Draining),
            State::Gone => Some(Misfit::Gone(self.reason.clone())),
        }
    }

    /// One line for messages: `pi-01 (cloud, idle, model 3f2a1c9e…, host pi)`.
    pub fn describe(&self) -> String {
        let tier = self.tier.map_or("?".to_string(), |t| t.to_string());
        let state = match (&self.state, &self.run, &self.reason) {
            (State::Claimed, Some(run), _) => format!("claimed by run {run}"),
            (State::Gone, _, Some(why)) => format!("gone: {why}"),
            (s, _, _) => format!("{s:?}").to_lowercase(),
        };
        if self.role == Role::Devices {
            return format!("{} (device host, {state}, host {})", self.name, self.host);
        }
        let sha: String = self.sha256.chars().take(12).collect();
        format!("{} ({tier}, {state}, model sha256 {sha}…, host {})", self.name, self.host)
    }
}

/// What a run needs of a pool's members: a tier served with a model (its
/// SHA-256), or a share of the devices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Asked<'a> {
    Tier { tier: Tier, sha256: &'a str },
    Devices,
}

/// Why a member cannot take a run's job; said of the member (`worker X …`).
#[derive(Debug, Clone, PartialEq)]
pub enum Misfit {
    NotAWorker,
    NotADeviceHost,
    OtherTier(Option<Tier>),
    OtherModel {
        model: String,
        sha256: String,
    },
    /// The member's simrun version.
    OtherVersion(String),
    Claimed(Option<String>),
    Draining,
    Gone(Option<String>),
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = |x: &Option<String>| x.clone().unwrap_or_else(|| "?".into());
        match self {
            Misfit::NotAWorker => write!(f, "is a device host, not a worker"),
            Misfit::NotADeviceHost => write!(f, "is a worker, not a device host"),
            Misfit::OtherTier(t) => write!(f, "serves the {} tier", t.map_or("?".into(), |t| t.to_string())),
            Misfit::OtherModel { model, sha256 } => write!(f, "serves another model: {model} (sha256 {sha256})"),
            Misfit::OtherVersion(v) => write!(f, "runs simrun {v}, this is {}", env!("CARGO_PKG_VERSION")),
            Misfit::Claimed(run) => write!(f, "is claimed by run {}", known(run)),
            Misfit::Draining => write!(f, "is draining (stopping)"),
            Misfit::Gone(why) => write!(f, "is gone: {}", known(why)),
        }
    }
}

/// A run's presence on its run topic; its last will says `gone`, so that
/// the members it claimed free themselves if it dies without releasing them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPresence {
    pub v: u32,
    /// The topic names the run too, and is what a member goes by.
    #[serde(default)]
    pub run: String,
    pub state: RunState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Gone,
}

impl RunPresence {
    /// The payload of run `run`'s last will.
    pub fn gone(run: &str) -> RunPresence {
        RunPresence { v: POOL_VERSION, run: run.to_string(), state: RunState::Gone }
    }
}

/// What a run asks of a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "lowercase")]
pub enum Job {
    /// Serve run `run` and no other until it releases you.
    Claim { v: u32, run: String },
    /// Start serving point execution `exec` of the claimed run.
    Start { v: u32, run: String, exec: String, spec: JobSpec },
    /// Stop serving `exec`, and say what you counted.
    Stop { v: u32, run: String, exec: String },
    /// The run is over: be idle again.
    Release { v: u32, run: String },
    /// A device host: connect your share of point execution `exec`'s
    /// devices (through `link`, when given), and say `serving`.
    Drive {
        v: u32,
        run: String,
        exec: String,
        spec: DriveSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<RemoteLink>,
    },
    /// A device host: start the schedule `lead_us` from now; send the
    /// samples, then `done` with your tally. A device host or a worker with
    /// a link: its measured window starts `measure_us` from now (a link's
    /// record and outages count from then).
    Go {
        v: u32,
        run: String,
        exec: String,
        lead_us: u64,
        #[serde(default)]
        measure_us: u64,
    },
}

/// A link the pool member runs in its own process, in front of its own
/// connections to the broker: the part that owns the connection applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteLink {
    pub config: LinkConfig,
    /// Its delay draws' seed.
    pub seed: u64,
}

impl RemoteLink {
    /// The same link for the `i`-th member, with draws of its own: each
    /// member's network is its own.
    pub fn for_member(&self, i: usize) -> RemoteLink {
        RemoteLink { config: self.config.clone(), seed: self.seed.wrapping_add((i as u64).wrapping_mul(0x9e37_79b9)) }
    }
}

/// Samples a device host sends the run, in order, a batch at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleBatch {
    pub v: u32,
    pub name: String,
    pub exec: String,
    pub samples: Vec<Sample>,
}

/// A local worker's `WorkerSpec`, less where to connect and how it computes
/// (the worker's own broker and flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub tier: Tier,
    pub features: usize,
    pub qos: u8,
    /// Share the tier's requests with the pool's other workers.
    pub shared: bool,
    /// The model the run expects, by SHA-256: a worker with another refuses.
    pub sha256: String,
    /// `placement: offload` at the edge: the limit and the cloud's request topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offload: Option<(u32, String)>,
    /// The tier's link, run by the worker in front of its connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<RemoteLink>,
}

/// How a worker answered a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckState {
    Claimed,
    /// Claimed by another run (named in `message`): a worker never mixes two runs.
    Busy,
    Serving,
    Stopped,
    Released,
    /// The job cannot be done here (`message` says why).
    Refused,
    /// A device host finished its share of the point (`tally` says how).
    Done,
}

/// A worker's answer to a job, on the run's acks topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub v: u32,
    pub name: String,
    pub run: String,
    pub state: AckState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// At `stopped`: malformed requests rejected, and of those not answered.
    #[serde(default)]
    pub rejected: u64,
    #[serde(default)]
    pub unanswered: u64,
    /// At `done`: what the device host sent and how its samples ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<DeviceHostTally>,
    /// At `stopped` (a worker) or `done` (a device host) with a link: what it recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_last_will_is_a_typed_presence_that_says_gone() {
        let will = serde_json::to_vec(&RunPresence::gone("r1")).unwrap();
        assert_eq!(String::from_utf8_lossy(&will), r#"{"v":1,"run":"r1","state":"gone"}"#);
        let back: RunPresence = serde_json::from_slice(&will).unwrap();
        assert_eq!((back.run.as_str(), back.state), ("r1", RunState::Gone));
        let bare: RunPresence = serde_json::from_str(r#"{"v":1,"state":"gone"}"#).unwrap();
        assert_eq!(bare.state, RunState::Gone);
    }

    #[test]
    fn one_admission_check_for_the_run_and_the_member() {
        let worker = Announcement {
            role: Role::Worker,
            tier: Some(Tier::Cloud),
            sha256: "ab".into(),
            model: "m.onnx".into(),
            simrun: env!("CARGO_PKG_VERSION").into(),
            ..Announcement::will("p", "w")
        };
        let cloud = Asked::Tier { tier: Tier::Cloud, sha256: "ab" };
        assert_eq!(worker.misfit(cloud), None);
        assert_eq!(worker.misfit(Asked::Devices), Some(Misfit::NotADeviceHost));
        assert_eq!(
            worker.misfit(Asked::Tier { tier: Tier::Edge, sha256: "ab" }),
            Some(Misfit::OtherTier(Some(Tier::Cloud)))
        );
        let other = worker.misfit(Asked::Tier { tier: Tier::Cloud, sha256: "cd" }).unwrap();
        assert_eq!(other.to_string(), "serves another model: m.onnx (sha256 ab)");
        let old = Announcement { simrun: "0.0.1".into(), ..worker.clone() };
        assert_eq!(old.misfit(cloud), Some(Misfit::OtherVersion("0.0.1".into())));
        // The will's state: gone, and so not to be claimed; a draining member takes no job.
        assert!(matches!(worker.unavailable(), Some(Misfit::Gone(Some(_)))));
        let draining = Announcement { state: State::Draining, ..worker };
        assert_eq!(draining.draining(), Some(Misfit::Draining));
    }

    #[test]
    fn a_last_will_parses_as_an_announcement_and_says_gone() {
        let will = serde_json::to_vec(&Announcement::will("p", "w1")).unwrap();
        let back: Announcement = serde_json::from_slice(&will).unwrap();
        assert_eq!(back.state, State::Gone);
        assert!(back.describe().starts_with("w1 (?, gone: its connection"), "{}", back.describe());
        // A minimal will, as another implementation might write it, parses too.
        let minimal: Announcement = serde_json::from_str(r#"{"v":1,"name":"w2","pool":"p","state":"gone"}"#).unwrap();
        assert_eq!(minimal.name, "w2");
    }

    #[test]
    fn jobs_round_trip_and_garbage_does_not_parse() {
        let spec = JobSpec {
            tier: Tier::Cloud,
            features: 8,
            qos: 1,
            shared: true,
            sha256: "ab".into(),
            offload: Some((2, "simrun/r/cloud/request".into())),
            link: Some(RemoteLink { config: LinkConfig::default(), seed: 7 }),
        };
        for job in [
            Job::Claim { v: 1, run: "r".into() },
            Job::Start { v: 1, run: "r".into(), exec: "0.0".into(), spec },
            Job::Stop { v: 1, run: "r".into(), exec: "0.0".into() },
            Job::Release { v: 1, run: "r".into() },
        ] {
            let text = serde_json::to_string(&job).unwrap();
            assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job, "{text}");
        }
        for bad in ["", "{}", r#"{"job":"explode","v":1}"#, r#"{"job":"claim"}"#, "\u{0}\u{1}", r#"{"job":"go","v":1}"#]
        {
            assert!(serde_json::from_str::<Job>(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_device_hosts_share_travels_whole_with_its_data_rows_and_its_samples_come_back() {
        use crate::plan::{Arrival, Encoding, InputConfig, InputData, InputRows, LoadConfig, Policy};
        use std::{sync::Arc, time::Duration};
        let rows = InputRows {
            path: "d.csv".into(),
            sha256: "ab".into(),
            width: 2,
            values: vec![0.5, -1.0, 2.0, 3.25],
            labels: Some(vec![0, 1]),
        };
        let spec = DriveSpec {
            point: 3,
            repetition: 1,
            seed: 42,
            devices: 6,
            slot: 2,
            slots: 3,
            group: 1,
            first: 6,
            input: InputConfig { shape: vec![2], data: InputData::File(Arc::new(rows)) },
            load: LoadConfig {
                arrival: Arrival::Poisson,
                rate_hz: 150.0,
                duration: Duration::from_millis(1500),
                warmup: Duration::from_millis(300),
                timeout: Duration::from_secs(2),
                concurrency: 1,
                think: Duration::ZERO,
            },
            tiers: vec![Tier::Edge, Tier::Cloud],
            policy: Some(Policy::Deadline { after: Duration::from_millis(40) }),
            qos: 1,
            encoding: Encoding::Binary,
        };
        let job = Job::Drive { v: 1, run: "r".into(), exec: "3.1".into(), spec, link: None };
        let back: Job = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(back, job);
        let Job::Drive { spec, .. } = back else { unreachable!() };
        let rows = spec.input.data.file().unwrap();
        assert_eq!(
            (rows.row(1), rows.labels.as_deref()),
            (&[2.0, 3.25][..], Some(&[0, 1][..])),
            "values, not just the digest"
        );
        let done = Ack {
            v: 1,
            name: "fleet-a".into(),
            run: "r".into(),
            state: AckState::Done,
            exec: Some("3.1".into()),
            message: None,
            rejected: 0,
            unanswered: 0,
            tally: Some(DeviceHostTally { sent: 5, expected: 10, ok: 9, timeouts: 1, ..Default::default() }),
            link: None,
        };
        let back: Ack = serde_json::from_str(&serde_json::to_string(&done).unwrap()).unwrap();
        assert!(back.tally.as_ref().unwrap().accounted(), "{back:?}");
        assert_eq!(back, done);
    }
}
