//! Checks made before anything starts: models load and fit the devices, edge
//! and cloud agree, the broker answers and delivers to the subscriptions the
//! workers will make.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::failure::Failure;
use crate::backend::{self, BackendError, Inference, ModelInfo};
use crate::plan::{InputConfig, Plan, Policy, Tier};
use crate::report::{ModelRecord, Parity};
use crate::run::broker::{probe, BrokerInfo};
use crate::run::delivery;
use crate::run::mosquitto::ManagedBroker;
use crate::run::pool::{PoolError, PoolNeed, Pools};
use crate::run::RunError;
use crate::scenario::ScenarioError;

/// Inputs used to hold edge and cloud to the same answers.
pub const PARITY_INPUTS: usize = 256;

/// Input bytes per inference call of the parity check: a CNN's activations
/// grow with the batch (256 images of 3×96×96 in one call peaked at 1.13 GB),
/// so the inputs go through in batches of about this many bytes.
const PARITY_BATCH_BYTES: usize = 1 << 20;

/// Inputs per call of the parity check for samples of `width` values.
fn parity_batch(width: usize) -> usize {
    (PARITY_BATCH_BYTES / (width.max(1) * std::mem::size_of::<f32>())).clamp(1, PARITY_INPUTS)
}

/// What the model checks found.
pub struct ModelCheck {
    pub models: Vec<ModelRecord>,
    pub parity: Option<Parity>,
    /// Under `placement: partition`: every cut's head then tail against the whole model.
    pub split: Option<crate::report::SplitCheck>,
}

fn bad_model(plan: &Plan, point: usize, tier: Tier, message: String) -> Failure {
    bad_key(plan, point, &format!("tiers.{tier}.model"), message)
}

fn bad_key(plan: &Plan, point: usize, key: &str, message: String) -> Failure {
    let p = &plan.points[point];
    let origin = (!p.params.is_empty()).then(|| format!("sweep point {point} ({})", p.label()));
    let e = ScenarioError::at_key(&plan.scenario_path, &plan.scenario_text, key, origin, message);
    Failure::input(e)
}

/// Loads every model the plan uses once, fits each point's input to its
/// models (taking the shape from the model where the scenario gives none),
/// and compares edge with cloud.
pub fn check_models(plan: &mut Plan) -> Result<ModelCheck, Failure> {
    let mut seen = BTreeSet::new();
    let mut models = Vec::new();
    let mut loaded: Vec<(Tier, Box<dyn Inference>)> = Vec::new();
    for p in 0..plan.points.len() {
        for t in 0..plan.points[p].config.tiers.len() {
            let (tier, path) = (plan.points[p].config.tiers[t].tier, plan.points[p].config.tiers[t].model.clone());
            let mut model = backend::load(&path).map_err(|e| bad_model(plan, p, tier, e.to_string()))?;
            let info = model.info().clone();
            runs_as_set(plan, p, t, &info)?;
            fit_input(&mut plan.points[p].config.devices.input, &info).map_err(|e| bad_model(plan, p, tier, e.0))?;
            for g in 0..plan.points[p].config.groups.len() {
                fit_input(&mut plan.points[p].config.groups[g].input, &info)
                    .map_err(|e| bad_model(plan, p, tier, e.0))?;
            }
            if tier == Tier::Edge {
                fit_cascade(plan, p, model.as_mut(), &info)?;
            }
            if !seen.insert((tier, path.clone())) {
                continue;
            }
            let test =
                model.infer(&vec![0.5; info.input_len()]).map_err(|e| bad_model(plan, p, tier, e.to_string()))?;
            models.push(ModelRecord {
                tier,
                path: path.display().to_string(),
                sha256: info.sha256.clone(),
                bytes: info.bytes,
                input: info.input_name.clone(),
                input_shape: info.input_shape.clone(),
                output: info.output_name.clone(),
                output_shape: info.output_shape.clone(),
                test_probability: test.first().copied().unwrap_or(f32::NAN),
            });
            loaded.push((tier, model));
        }
    }
    same_outputs(plan, &models)?;
    if plan.points.iter().any(|p| p.config.partition.is_some()) {
        // Both tiers hold the whole model; what must agree is head then tail with it.
        let split = check_partitions(plan)?;
        return Ok(ModelCheck { models, parity: None, split: Some(split) });
    }
    let parity = match crate::report::different_models(&models) {
        Some(_) => None,
        None => parity(&mut loaded)?,
    };
    Ok(ModelCheck { models, parity, split: None })
}

/// Under `placement: partition`: writes each cut the plan uses (once), holds
/// head then tail to the whole model on the run's inputs within
/// `PARITY_LIMIT`, refusing the cut otherwise, and gives each point its parts.
fn check_partitions(plan: &mut Plan) -> Result<crate::report::SplitCheck, Failure> {
    let mut check = crate::report::SplitCheck { cuts: 0, inputs: 0, max_abs_diff: 0.0 };
    let mut opened: Vec<(std::path::PathBuf, crate::partition::Partition)> = Vec::new();
    let mut made: Vec<((std::path::PathBuf, String), crate::plan::Parts)> = Vec::new();
    for p in 0..plan.points.len() {
        let Some(split) = plan.points[p].config.partition.clone() else { continue };
        let key = (split.model.clone(), split.at.clone());
        if let Some((_, parts)) = made.iter().find(|(k, _)| *k == key) {
            plan.points[p].config.partition =
                Some(crate::plan::PartitionConfig { parts: Some(parts.clone()), ..split });
            continue;
        }
        if !opened.iter().any(|(m, _)| *m == split.model) {
            let model = crate::partition::Partition::open(&split.model)
                .map_err(|e| bad_key(plan, p, "partition.model", e.to_string()))?;
            opened.push((split.model.clone(), model));
        }
        let Some((_, model)) = opened.iter().find(|(m, _)| *m == split.model) else { continue };
        let cut = model.cut(&split.at).map_err(|e| bad_key(plan, p, "partition.at", e.to_string()))?;
        let models = match split.all_cloud() || split.all_edge() {
            true => None,
            false => {
                let (models, (inputs, difference)) = split_models(plan, p, model, &split.at)?;
                check.cuts += 1;
                check.inputs = check.inputs.max(inputs);
                check.max_abs_diff = check.max_abs_diff.max(difference);
                Some(models)
            }
        };
        let parts = crate::plan::Parts { models, shape: cut.shape.clone() };
        plan.points[p].config.partition = Some(crate::plan::PartitionConfig { parts: Some(parts.clone()), ..split });
        made.push((key, parts));
    }
    Ok(check)
}

/// A cut's head and tail files, and the inputs and largest difference of their check.
type SplitModels = ((std::path::PathBuf, std::path::PathBuf), (usize, f32));

/// Writes the head and tail of cut `at` where the run keeps them and holds
/// head then tail to the whole model on point `p`'s inputs; gives the two
/// files, and how many inputs and the largest difference.
fn split_models(plan: &Plan, p: usize, model: &crate::partition::Partition, at: &str) -> Result<SplitModels, Failure> {
    let sha = crate::digest::sha256_hex(&std::fs::read(model.path()).map_err(Failure::input)?);
    let dir = std::env::temp_dir().join(format!("simrun-partition-{}", &sha[..16]));
    let (head, tail) = model.write(at, &dir).map_err(Failure::infrastructure)?;
    let load =
        |path: &std::path::Path| backend::load(path).map_err(|e| bad_key(plan, p, "partition.at", e.to_string()));
    let (mut whole, mut h, mut t) = (load(model.path())?, load(&head)?, load(&tail)?);
    let width = whole.info().input_len();
    let inputs = run_inputs(&plan.points[p].config.devices.input, width);
    let mut worst = 0f32;
    for batch in inputs.chunks(parity_batch(width) * width) {
        let d = crate::partition::divergence(whole.as_mut(), (h.as_mut(), t.as_mut()), batch)
            .map_err(|e| bad_key(plan, p, "partition.at", e.to_string()))?;
        worst = worst.max(d);
    }
    if worst > crate::report::PARITY_LIMIT || worst.is_nan() {
        let message = format!(
            "head then tail of cut `{at}` differ from the whole model by {worst:.2e} on {} of the run's inputs, \
             more than the parity limit {:e}: the split does not compute the model",
            inputs.len() / width.max(1),
            crate::report::PARITY_LIMIT
        );
        return Err(bad_key(plan, p, "partition.at", message));
    }
    Ok(((head, tail), (inputs.len() / width.max(1), worst)))
}

/// Inputs a split's check runs on: each runs the whole model and then the
/// head and the tail, and a split model is a CNN of milliseconds a call
/// (split_cnn: 64 inputs take under a second here).
const SPLIT_INPUTS: usize = 64;

/// The inputs a split's check runs on: the data file's first rows, or
/// seeded random values where the devices send random ones.
fn run_inputs(input: &InputConfig, width: usize) -> Vec<f32> {
    if let Some(rows) = input.data.file().filter(|r| r.width == width && r.rows() > 0) {
        let n = rows.rows().min(SPLIT_INPUTS);
        return rows.values[..n * width].to_vec();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(crate::seeds::PARITY_INPUTS);
    (0..SPLIT_INPUTS * width).map(|_| rng.gen_range(-3.0f32..3.0)).collect()
}

/// Whether point `p`'s tier `t` can run its model as set: threads where the
/// backend takes them, batches where the model's batch dimension allows.
fn runs_as_set(plan: &Plan, p: usize, t: usize, info: &ModelInfo) -> Result<(), Failure> {
    let (tier, path) = (plan.points[p].config.tiers[t].tier, &plan.points[p].config.tiers[t].model);
    let (batching, threads) = (plan.points[p].config.tiers[t].batching, plan.points[p].config.tiers[t].threads);
    let refused = threads.and_then(|n| backend::threads_refused(path, n, "setting threads for a .safetensors model"));
    if let Some(message) = refused {
        return Err(bad_key(plan, p, &format!("tiers.{tier}.compute.threads"), message));
    }
    if let Some(b) = batching.filter(|b| b.max_batch > 1 && info.batch_of_one) {
        let message = format!(
            "{} has its batch dimension fixed at 1 ([{}]), so it cannot run a batch of {}; \
             export it with a symbolic batch or set max_batch: 1",
            path.display(),
            info.input_shape.join(", "),
            b.max_batch
        );
        return Err(bad_key(plan, p, &format!("tiers.{tier}.batching.max_batch"), message));
    }
    Ok(())
}

/// Under a cascade, tells the policy whether the edge model gives class
/// probabilities or a score; fails when it gives neither.
fn fit_cascade(plan: &mut Plan, p: usize, model: &mut dyn Inference, info: &ModelInfo) -> Result<(), Failure> {
    let path = info.path.clone();
    let tier = Tier::Edge;
    let config = &plan.points[p].config;
    let cascades = config.groups.iter().map(|g| g.policy).chain([config.policy]);
    if cascades.flatten().any(|c| matches!(c, Policy::Cascade(_))) {
        let out = model.infer(&vec![0.5; info.input_len()]).map_err(|e| bad_model(plan, p, tier, e.to_string()))?;
        let config = &mut plan.points[p].config;
        let policies = config.groups.iter_mut().map(|g| &mut g.policy).chain([&mut config.policy]);
        for policy in policies {
            if let Some(Policy::Cascade(u)) = policy {
                u.classes = Some(out.len() > 1);
            }
        }
        if let Some(why) = no_confidence(&out) {
            let message = format!(
                "cascade escalates on the edge model's score or class probability, and {} gives neither: \
                 {why}; end the model in a sigmoid or softmax",
                path.display()
            );
            return Err(bad_key(plan, p, "placement", message));
        }
    }
    Ok(())
}

/// Why one sample's output is neither a score in [0, 1] nor class
/// probabilities (each in [0, 1], summing to 1), or `None` when it is.
fn no_confidence(out: &[f32]) -> Option<String> {
    if let Some(v) = out.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Some(format!("its output has {v}, outside [0, 1]"));
    }
    let sum: f32 = out.iter().sum();
    (out.len() > 1 && (sum - 1.0).abs() > 1e-3).then(|| format!("its {} outputs sum to {sum}, not 1", out.len()))
}

/// The devices' samples do not fit a model's input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InputMismatch(String);

/// Fits the devices' samples to a model's input: takes the model's shape
/// where the scenario gives none, else holds the two to the same dimensions
/// (a flat shape of the same number of values also fits, as
/// `devices.features: N` always has).
fn fit_input(input: &mut InputConfig, info: &ModelInfo) -> Result<(), InputMismatch> {
    let model = format!("model input `{}` is [{}]", info.input_name, info.input_shape.join(", "));
    if input.shape.is_empty() {
        if let Some(rows) = input.data.file().filter(|r| r.width != info.input_len()) {
            return Err(InputMismatch(format!(
                "{model}, {} values a sample, but {} has {} values a row",
                info.input_len(),
                rows.path,
                rows.width
            )));
        }
        input.shape = info.sample_dims.clone();
        return Ok(());
    }
    let flat = input.shape.len() == 1 && input.values() == info.input_len();
    if input.shape != info.sample_dims && !flat {
        return Err(InputMismatch(format!(
            "{model} but the devices send samples of {} (devices.input.shape or devices.features)",
            input.shape_text()
        )));
    }
    Ok(())
}

/// Both tiers must answer in the same shape (beyond the batch), whatever
/// models they run, or their answers could not be compared or aggregated.
fn same_outputs(plan: &Plan, models: &[ModelRecord]) -> Result<(), Failure> {
    let Some(edge) = models.iter().find(|m| m.tier == Tier::Edge) else { return Ok(()) };
    for cloud in models.iter().filter(|m| m.tier == Tier::Cloud) {
        if cloud.output_shape.get(1..) != edge.output_shape.get(1..) {
            let message = format!(
                "output `{}` is [{}] but the edge model's `{}` is [{}]; both tiers must answer in the same shape",
                cloud.output,
                cloud.output_shape.join(", "),
                edge.output,
                edge.output_shape.join(", ")
            );
            let point = plan
                .points
                .iter()
                .position(|p| p.config.tiers.iter().any(|t| t.model.display().to_string() == cloud.path));
            return Err(bad_model(plan, point.unwrap_or(0), Tier::Cloud, message));
        }
    }
    Ok(())
}

/// Max |edge − cloud| over every output value for seeded random inputs, for
/// the first model of each tier.
fn parity(loaded: &mut [(Tier, Box<dyn Inference>)]) -> Result<Option<Parity>, BackendError> {
    let edge = loaded.iter().position(|(t, _)| *t == Tier::Edge);
    let cloud = loaded.iter().position(|(t, _)| *t == Tier::Cloud);
    let (Some(e), Some(c)) = (edge, cloud) else {
        return Ok(None);
    };
    let width = loaded[e].1.info().input_len();
    if loaded[c].1.info().input_len() != width {
        return Ok(None);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(crate::seeds::PARITY_INPUTS);
    let inputs: Vec<f32> = (0..PARITY_INPUTS * width).map(|_| rng.gen_range(-3.0f32..3.0)).collect();
    let mut max = 0f32;
    for batch in inputs.chunks(parity_batch(width) * width) {
        let a = loaded[e].1.infer(batch)?;
        let b = loaded[c].1.infer(batch)?;
        max = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(max, f32::max);
    }
    Ok(Some(Parity { max_abs_diff: max, inputs: PARITY_INPUTS, live_max_abs_diff: None, live_pairs: 0 }))
}

/// Open files a run needs beyond its connections: libraries, logs, results, the timer.
const BASE_OPEN_FILES: u64 = 64;

/// Checks that this process may open the files the largest point needs: one
/// socket per device connection (two connections a device under `placement:
/// both`; three sockets a connection when a devices link proxies it: the
/// device's end and the proxy's two), three per worker (its connection and
/// its link's two sockets), and a margin. Past the soft limit connections fail mid-start, with a message
/// about sockets, not about the scenario.
pub fn check_open_files(plan: &Plan) -> Result<(), Failure> {
    let Some(limit) = open_file_limit() else { return Ok(()) };
    let device_link = plan.points.iter().any(|p| p.config.groups.iter().any(|g| !g.link.is_transparent()));
    let per_device = if device_link { 3 } else { 1 };
    let need = |p: &crate::plan::SweepPoint| {
        let workers: u64 = p.config.tiers.iter().map(|t| u64::from(t.workers) * 3).sum();
        // With device hosts, this process runs one share of the devices.
        let slots = u64::from(p.config.devices.slots());
        // Under `placement: both` each device sends each tier's copy on a connection of its own.
        let copies = |g: &crate::plan::DeviceGroup| if g.policy.is_none() && g.tiers.len() == 2 { 2 } else { 1 };
        let devices: u64 = p.config.groups.iter().map(|g| u64::from(g.count).div_ceil(slots) * copies(g)).sum();
        devices * per_device + workers + BASE_OPEN_FILES
    };
    let Some(point) = plan.points.iter().max_by_key(|p| need(p)) else { return Ok(()) };
    let needed = need(point);
    if needed <= limit {
        return Ok(());
    }
    Err(Failure::input(anyhow::anyhow!(
        "devices.count {} at {} needs about {needed} open files (each device is an MQTT connection{}), but this process may \
         open {limit}: raise the limit (`ulimit -n {}` in the shell that runs simrun) or use fewer devices",
        point.config.devices.count,
        point.label(),
        if device_link { ", three sockets through the devices link" } else { "" },
        (needed / 1024 + 1) * 1024,
    )))
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` where unknown or unlimited.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// Starts the private Mosquitto when the plan's broker is `auto` and points
/// the plan at it; the broker stops when the returned value is dropped, so
/// the caller keeps it for as long as anything may use the broker (a whole
/// `search`, not one step of it).
/// The report's Environment section says that it did.
pub fn start_managed_broker(plan: &mut Plan) -> Result<Option<ManagedBroker>, Failure> {
    if !plan.points.iter().any(|p| p.config.broker.managed) {
        return Ok(None);
    }
    let broker = ManagedBroker::start().map_err(Failure::input)?;
    use_managed_broker(plan, &broker);
    Ok(Some(broker))
}

/// Points every `auto` point of `plan` at `broker`.
pub fn use_managed_broker(plan: &mut Plan, broker: &ManagedBroker) {
    for point in plan.points.iter_mut().filter(|p| p.config.broker.managed) {
        let b = &mut point.config.broker;
        b.url = broker.url();
        b.host = "127.0.0.1".into();
        b.port = broker.port();
    }
}

/// Checks that every broker the plan uses answers, and asks its version.
pub async fn check_brokers(plan: &Plan) -> Result<Vec<(String, BrokerInfo)>, Failure> {
    let mut out: Vec<(String, BrokerInfo)> = Vec::new();
    for point in &plan.points {
        let b = &point.config.broker;
        if out.iter().any(|(u, _)| *u == b.url) {
            continue;
        }
        let id = format!("simrun-probe-{}", std::process::id());
        let info = probe(b, &id).await.map_err(|e| match e {
            // Reached, but turned away: the hint about a missing broker would mislead.
            RunError::Refused { .. } | RunError::NotMqtt { .. } => Failure::input(e),
            _ => {
                let hint = "is a broker running there? set broker.url, or --set broker.url=mqtt://HOST:PORT";
                Failure::input(anyhow::anyhow!("{e} ({hint})"))
            }
        })?;
        out.push((b.url.clone(), info));
    }
    Ok(out)
}

/// Checks that every broker delivers each tier's requests to a subscription
/// made as that tier's workers make it (shared when a point gives the tier
/// several workers), on the topics of `run_id`.
pub async fn check_delivery(plan: &Plan, run_id: &str) -> Result<(), Failure> {
    let mut seen = BTreeSet::new();
    for point in &plan.points {
        let b = &point.config.broker;
        for t in &point.config.tiers {
            let shared = t.workers > 1;
            if !seen.insert((b.url.clone(), t.tier, shared)) {
                continue;
            }
            let found = delivery::delivers(b, run_id, t.tier, shared)
                .await
                .map_err(|e| Failure::input(anyhow::anyhow!("{e}")))?;
            if found != delivery::Delivery::Delivered {
                let why = delivery::explain(&b.url, t.tier, shared, found);
                return Err(Failure::input(anyhow::anyhow!(why)));
            }
        }
    }
    Ok(())
}

/// What the plan needs from remote pools: per pool and tier, the most
/// workers and the longest wait any point asks for, and the tier's model.
fn pool_needs(plan: &Plan, models: &[ModelRecord]) -> Result<Vec<PoolNeed>, Failure> {
    let mut needs: Vec<PoolNeed> = Vec::new();
    for (p, point) in plan.points.iter().enumerate() {
        for t in &point.config.tiers {
            let Some(remote) = &t.remote else { continue };
            let path = t.model.display().to_string();
            let Some(sha256) = models.iter().find(|m| m.tier == t.tier && m.path == path).map(|m| m.sha256.clone())
            else {
                let message = format!("{path} was not checked before the run (a bug: please report it)");
                return Err(bad_key(plan, p, &format!("tiers.{}.model", t.tier), message));
            };
            match needs.iter_mut().find(|n| n.pool == remote.pool && n.tier == Some(t.tier)) {
                Some(n) if n.sha256 != sha256 => {
                    let message = format!(
                        "pool {} serves one model, and the sweep gives the {} tier two ({} and {path})",
                        remote.pool, t.tier, n.model
                    );
                    return Err(bad_key(plan, p, &format!("tiers.{}.model", t.tier), message));
                }
                Some(n) => {
                    n.count = n.count.max(t.workers);
                    n.wait = n.wait.max(remote.wait);
                }
                None => needs.push(PoolNeed {
                    pool: remote.pool.clone(),
                    tier: Some(t.tier),
                    count: t.workers,
                    wait: remote.wait,
                    model: path,
                    sha256,
                }),
            }
        }
    }
    let hosts: Vec<&crate::plan::RemoteDevices> =
        plan.points.iter().filter_map(|p| p.config.devices.remote.as_ref()).collect();
    if let Some(first) = hosts.first() {
        if hosts.len() != plan.points.len() || hosts.iter().any(|h| h != first) {
            let message = "a sweep deals every point's devices over the same device hosts: give devices.remote \
                           once, not per point";
            return Err(bad_key(plan, 0, "devices.remote", message.into()));
        }
        needs.push(PoolNeed {
            pool: first.pool.clone(),
            tier: None,
            count: first.hosts,
            wait: first.wait,
            model: String::new(),
            sha256: String::new(),
        });
    }
    Ok(needs)
}

/// Waits for and claims the remote workers the plan needs, before anything
/// runs: a pool that does not show up in time, a worker with another model
/// or simrun, or one serving another run, is bad input (exit 2), listed.
pub async fn claim_pools(
    plan: &Plan,
    models: &[ModelRecord],
    run_id: &str,
    quiet: bool,
) -> Result<Option<Pools>, Failure> {
    let needs = pool_needs(plan, models)?;
    let Some(broker) = plan.points.first().map(|p| &p.config.broker).filter(|_| !needs.is_empty()) else {
        return Ok(None);
    };
    for n in needs.iter().filter(|_| !quiet) {
        let what = n.tier.map_or("device host(s)".to_string(), |t| format!("{t} worker(s)"));
        eprintln!("simrun: waiting up to {:?} for {} {what} of pool {}", n.wait, n.count, n.pool);
    }
    match Pools::claim(&needs, broker, run_id).await {
        Ok(pools) => Ok(Some(pools)),
        Err(PoolError::Unusable(m)) => Err(Failure::input(anyhow::anyhow!(m))),
        Err(PoolError::Run(e)) => Err(Failure::input(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_takes_a_score_or_probabilities_and_nothing_else() {
        assert_eq!(no_confidence(&[0.3]), None);
        assert_eq!(no_confidence(&[0.2, 0.7, 0.1]), None);
        assert_eq!(no_confidence(&[2.5]).as_deref(), Some("its output has 2.5, outside [0, 1]"));
        assert!(no_confidence(&[0.5, 0.6]).is_some_and(|m| m.starts_with("its 2 outputs sum to 1.1")));
    }

    #[test]
    fn the_parity_check_batches_large_samples_and_keeps_small_ones_in_one_call() {
        assert_eq!(parity_batch(32), PARITY_INPUTS, "the anomaly detector's 32 features: one call");
        assert_eq!(parity_batch(3 * 96 * 96), 9, "a 110,592-byte image: 9 a call");
        assert_eq!(parity_batch(1 << 20), 1, "a sample over the budget still runs, alone");
    }
}
