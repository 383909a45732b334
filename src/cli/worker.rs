//! `simrun worker`: serve one tier's model for any run that claims this
//! worker's pool, on a broker that run uses (docs/distributed.md).

use std::path::PathBuf;

use clap::Args;

use super::failure::Failure;
use crate::backend;
use crate::exit_code::Outcome;
use crate::plan::{Tier, DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT, MAX_SLOTS, MAX_THREADS};
use crate::report::HostInfo;
use crate::run::pool::{self, Announcement, PoolWorker, State, POOL_VERSION};
use crate::run::RunError;
use crate::scenario::MAX_SLOWDOWN;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The tier this worker serves.
    #[arg(long, value_parser = ["edge", "cloud"])]
    pub tier: String,
    /// The model file (.onnx or .safetensors); a run checks its SHA-256 against the scenario's.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The broker the run uses: mqtt://HOST[:PORT] or mqtts://HOST[:PORT].
    #[arg(long, value_name = "URL")]
    pub broker: String,
    /// This worker's name, unique in its pool (default: HOSTNAME-PID).
    #[arg(long)]
    pub name: Option<String>,
    /// The pool a scenario names in `tiers.<tier>.workers.remote`.
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
}

/// Checks the flags and the model, then serves until SIGTERM (which drains:
/// the point being served finishes first) or a second signal.
pub async fn worker(a: WorkerArgs) -> Result<Outcome, Failure> {
    let bad = |m: String| Failure::input(anyhow::anyhow!(m));
    let tier = if a.tier == "edge" { Tier::Edge } else { Tier::Cloud };
    let host = HostInfo::detect();
    let name = a.name.clone().unwrap_or_else(|| format!("{}-{}", host.hostname, std::process::id()));
    for (flag, value) in [("--name", &name), ("--pool", &a.pool)] {
        if let Some(why) = crate::plan::pool_name_problem(value) {
            return Err(bad(format!("{flag}: {why}")));
        }
    }
    if !(1..=MAX_THREADS).contains(&a.threads) || !(1..=MAX_SLOTS).contains(&a.slots) {
        return Err(bad(format!("--threads must be 1 to {MAX_THREADS} and --slots 1 to {MAX_SLOTS}")));
    }
    if !(1..=MAX_QUEUE_LIMIT).contains(&a.queue_limit) || !(1.0..=MAX_SLOWDOWN).contains(&a.slowdown) {
        return Err(bad(format!("--queue-limit must be 1 to {MAX_QUEUE_LIMIT} and --slowdown 1 to {MAX_SLOWDOWN}")));
    }
    let broker =
        crate::scenario::broker_from_url(&a.broker, a.username.as_deref(), a.password_env.as_deref(), a.ca.as_deref())
            .map_err(|e| bad(format!("{}: {}", flag_of(&e.key), e.message)))?;
    let bytes = std::fs::read(&a.model).map_err(|e| bad(format!("--model {}: {e}", a.model.display())))?;
    backend::load_threads(&a.model, a.threads).map_err(|e| bad(format!("--model {}: {e}", a.model.display())))?;
    let onnxruntime = if a.model.extension().is_some_and(|e| e == "onnx") {
        backend::onnxruntime_version()?
    } else {
        "not used".into()
    };
    let compute = compute_line(&a);
    let announcement = Announcement {
        v: POOL_VERSION,
        name: name.clone(),
        pool: a.pool.clone(),
        state: State::Idle,
        run: None,
        tier: Some(tier),
        model: a.model.display().to_string(),
        sha256: crate::digest::sha256_hex(&bytes),
        simrun: crate::report::SIMRUN_VERSION.into(),
        onnxruntime,
        host: host.hostname,
        os: host.os,
        arch: host.arch,
        cpu: host.cpu,
        cores: host.cores,
        pid: std::process::id(),
        compute,
        bad_control: 0,
        reason: None,
    };
    let w = PoolWorker {
        model: a.model.clone(),
        threads: a.threads,
        slowdown: a.slowdown,
        slots: a.slots,
        queue_limit: a.queue_limit,
        broker,
        announcement,
    };
    let log = Box::new(move |m: &str| eprintln!("simrun worker {name}: {m}"));
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
        _ => "--broker",
    }
}

/// How this worker computes, when not as its host serving one request at a time.
fn compute_line(a: &WorkerArgs) -> Option<String> {
    let slowdown = (a.slowdown > 1.0).then(|| format!("slowdown {}", a.slowdown));
    let parts: Vec<String> =
        slowdown.into_iter().chain(crate::plan::serving_parts(a.slots, a.queue_limit, Some(a.threads))).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
