//! `simrun worker`: serve one tier's model for any run that claims this
//! worker's pool, on a broker that run uses; `simrun devices`: run a share
//! of the devices of any run that claims this host's pool
//! (docs/distributed.md).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::failure::Failure;
use crate::backend;
use crate::exit_code::Outcome;
use crate::plan::MAX_SLOWDOWN;
use crate::plan::{Batching, BrokerConfig};
use crate::plan::{Tier, DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT, MAX_SLOTS, MAX_THREADS};
use crate::report::HostInfo;
use crate::run::pool::{self, Announcement, PoolWorker, Role, State, POOL_VERSION};
use crate::run::RunError;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The tier this worker serves.
    #[arg(long, value_parser = ["edge", "cloud"])]
    pub tier: String,
    /// The model file (.onnx or .safetensors); a run checks its SHA-256 against the scenario's.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub member: MemberArgs,
    /// Intra-op threads (ONNX Runtime; candle follows RAYON_NUM_THREADS).
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Requests served at once.
    #[arg(long, default_value_t = 1)]
    pub slots: u32,
    /// Requests waiting for a slot, at most; beyond them a request is answered `overloaded`.
    #[arg(long, default_value_t = DEFAULT_QUEUE_LIMIT)]
    pub queue_limit: u32,
    /// Compute this many times slower than this host (1: as fast as it is).
    #[arg(long, default_value_t = 1.0)]
    pub slowdown: f64,
    /// Dynamic batching: run up to this many queued requests as one call (1: no batching).
    #[arg(long, default_value_t = 1)]
    pub max_batch: u32,
    /// With --max-batch: how long the oldest queued request may wait for others to join it (e.g. 2ms).
    #[arg(long, value_name = "DURATION", default_value = "0ms")]
    pub max_wait: String,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub member: MemberArgs,
}

/// How a pool member finds its pool: the broker, its login, its name.
#[derive(Debug, Args)]
pub struct MemberArgs {
    /// The broker the run uses: mqtt://HOST[:PORT] or mqtts://HOST[:PORT].
    #[arg(long, value_name = "URL")]
    pub broker: String,
    /// This member's name, unique in its pool (default: HOSTNAME-PID).
    #[arg(long)]
    pub name: Option<String>,
    /// The pool a scenario names in `tiers.<tier>.workers.remote` or `devices.remote.pool`.
    #[arg(long, default_value = "default")]
    pub pool: String,
    /// User name for the broker.
    #[arg(long)]
    pub username: Option<String>,
    /// The environment variable that holds the broker password (never the password).
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// PEM CA certificates to trust for an mqtts:// broker (default: the system's).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain, for an mqtts:// broker that asks for one (with --key).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// Checks the flags and the model, then serves until SIGTERM (which drains:
/// the point being served finishes first) or a second signal.
pub async fn worker(a: WorkerArgs) -> Result<Outcome, Failure> {
    let bad = |m: String| Failure::input(anyhow::anyhow!(m));
    let tier = if a.tier == "edge" { Tier::Edge } else { Tier::Cloud };
    let host = HostInfo::detect();
    let (name, broker) = join(&a.member, &host)?;
    if !(1..=MAX_THREADS).contains(&a.threads) || !(1..=MAX_SLOTS).contains(&a.slots) {
        return Err(bad(format!("--threads must be 1 to {MAX_THREADS} and --slots 1 to {MAX_SLOTS}")));
    }
    if !(1..=MAX_QUEUE_LIMIT).contains(&a.queue_limit) || !(1.0..=MAX_SLOWDOWN).contains(&a.slowdown) {
        return Err(bad(format!("--queue-limit must be 1 to {MAX_QUEUE_LIMIT} and --slowdown 1 to {MAX_SLOWDOWN}")));
    }
    let batching = batching(&a)?;
    let bytes = std::fs::read(&a.model).map_err(|e| bad(format!("--model {}: {e}", a.model.display())))?;
    backend::load_threads(&a.model, a.threads).map_err(|e| bad(format!("--model {}: {e}", a.model.display())))?;
    let onnxruntime = if a.model.extension().is_some_and(|e| e == "onnx") {
        backend::onnxruntime_version()?
    } else {
        "not used".into()
    };
    let compute = compute_line(&a, batching);
    let announcement = Announcement {
        tier: Some(tier),
        model: a.model.display().to_string(),
        sha256: crate::digest::sha256_hex(&bytes),
        onnxruntime,
        compute,
        ..announce(&name, &a.member.pool, Role::Worker, host)
    };
    let w = PoolWorker {
        model: a.model.clone(),
        threads: a.threads,
        slowdown: a.slowdown,
        slots: a.slots,
        queue_limit: a.queue_limit,
        batching,
        broker,
        announcement,
    };
    serve(w, "worker").await
}

/// Checks the flags, then runs its share of the devices of each run that
/// claims it until SIGTERM (which lets the point being driven finish) or a
/// second signal.
pub async fn devices(a: DevicesArgs) -> Result<Outcome, Failure> {
    let host = HostInfo::detect();
    let (name, broker) = join(&a.member, &host)?;
    let announcement =
        Announcement { onnxruntime: "not used".into(), ..announce(&name, &a.member.pool, Role::Devices, host) };
    let w = PoolWorker {
        model: PathBuf::new(),
        threads: 1,
        slowdown: 1.0,
        slots: 1,
        queue_limit: DEFAULT_QUEUE_LIMIT,
        batching: None,
        broker,
        announcement,
    };
    serve(w, "devices").await
}

/// The member's name (checked, or HOSTNAME-PID) and its broker, from its flags.
fn join(m: &MemberArgs, host: &HostInfo) -> Result<(String, BrokerConfig), Failure> {
    let bad = |m: String| Failure::input(anyhow::anyhow!(m));
    let name = m.name.clone().unwrap_or_else(|| format!("{}-{}", host.hostname, std::process::id()));
    for (flag, value) in [("--name", &name), ("--pool", &m.pool)] {
        if let Some(why) = crate::plan::pool_name_problem(value) {
            return Err(bad(format!("{flag}: {why}")));
        }
    }
    let client = (m.cert.as_deref(), m.key.as_deref());
    for (flag, path) in [("--ca", &m.ca), ("--cert", &m.cert), ("--key", &m.key)] {
        if let Some(p) = path.as_ref().filter(|p| !p.is_file()) {
            return Err(bad(format!("{flag} {}: no such file", p.display())));
        }
    }
    let url = &m.broker;
    let broker = crate::scenario::broker_from_url(
        url,
        m.username.as_deref(),
        m.password_env.as_deref(),
        m.ca.as_deref(),
        client,
    )
    .map_err(|e| bad(format!("{}: {}", flag_of(&e.key), e.problem)))?;
    Ok((name, broker))
}

/// What a member says about itself before a role's details.
fn announce(name: &str, pool: &str, role: Role, host: HostInfo) -> Announcement {
    Announcement {
        v: POOL_VERSION,
        name: name.to_string(),
        pool: pool.to_string(),
        state: State::Idle,
        role,
        simrun: crate::report::SIMRUN_VERSION.into(),
        host: host.hostname,
        os: host.os,
        arch: host.arch,
        cpu: host.cpu,
        cores: host.cores,
        pid: std::process::id(),
        ..Announcement::default()
    }
}

/// Serves the pool until signalled; a broker or pool that cannot be used is bad input.
async fn serve(w: PoolWorker, command: &'static str) -> Result<Outcome, Failure> {
    let name = w.announcement.name.clone();
    let log = Arc::new(move |m: &str| eprintln!("simrun {command} {name}: {m}"));
    match pool::serve(w, super::signals::count(), log).await {
        Ok(()) => Ok(Outcome::Passed),
        Err(
            e @ (RunError::Refused { .. } | RunError::NotMqtt { .. } | RunError::Broker { .. } | RunError::Pool(_)),
        ) => Err(Failure::input(e)),
        Err(e) => Err(Failure::infrastructure(e)),
    }
}

/// The scenario key a worker flag stands for, back to the flag.
fn flag_of(key: &str) -> &'static str {
    match key {
        "broker.username" => "--username",
        "broker.password_env" => "--password-env",
        "broker.tls.ca" => "--ca",
        "broker.tls.cert" => "--cert",
        "worker.max_batch" => "--max-batch",
        "worker.max_wait" => "--max-wait",
        "broker.tls.key" => "--key",
        _ => "--broker",
    }
}

/// How this worker computes, when not as its host serving one request at a time.
fn compute_line(a: &WorkerArgs, batching: Option<Batching>) -> Option<String> {
    let slowdown = (a.slowdown > 1.0).then(|| format!("slowdown {}", a.slowdown));
    let batches = batching.map(|b| format!("batches of up to {} requests or {:?}", b.max_batch, b.max_wait));
    let serving = crate::plan::serving_parts(a.slots, a.queue_limit, Some(a.threads));
    let parts: Vec<String> = slowdown.into_iter().chain(serving).chain(batches).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `--max-batch` and `--max-wait`, checked as a scenario's `batching`; none for one request at a time.
fn batching(a: &WorkerArgs) -> Result<Option<Batching>, Failure> {
    let bad = |m: String| Failure::input(anyhow::anyhow!(m));
    let wait = crate::scenario::parse_duration(&a.max_wait).map_err(|e| bad(format!("--max-wait: {}", e.0)))?;
    if a.max_batch == 1 && wait.is_zero() {
        return Ok(None);
    }
    crate::scenario::batching_of(a.max_batch, wait, "worker")
        .map(Some)
        .map_err(|e| bad(format!("{}: {}", flag_of(&e.key), e.problem)))
}
