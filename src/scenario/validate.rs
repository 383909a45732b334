//! Validation: a deserialized `ScenarioFile` into a typed `PointConfig`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files::Files;
use super::raw::{
    ArrivalFile, BatchingFile, DevicesFile, GroupFile, LinkFile, LoadFile, PeriodsFile, PlacementFile, ScenarioFile,
    SloFile, TierFile, WorkersFile,
};
use super::units::{parse_duration, parse_rate, Invalid};
use crate::plan::{
    Arrival, Batching, BrokerConfig, DeviceConfig, DeviceGroup, Distribution, InputConfig, InputData, InputRows,
    LinkConfig, LinkOutage, LoadConfig, Login, Mmpp, OnOff, PartitionConfig, PointConfig, Policy, RemoteDevices,
    RemotePool, Secret, Slo, SloMetric, Tier, TierConfig, TlsConfig, Uncertain, MAX_BATCH, MAX_BATCH_WAIT,
    MAX_CONCURRENCY, MAX_DEVICES, MAX_DEVICE_HOSTS, MAX_GROUPS, MAX_INPUT_VALUES, MAX_QUEUE_LIMIT,
    MAX_REQUESTS_PER_POINT, MAX_SLOTS, MAX_SLOWDOWN, MAX_THREADS, MAX_WORKERS,
};

/// A validation failure at a dotted key.
#[derive(Debug)]
pub struct KeyError {
    pub key: String,
    pub problem: Problem,
}

/// What is wrong with one key's value. The checks most keys share are
/// their own variants; a key's own rule explains itself (`Explained`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("must be from {low} to {high}, got {got}")]
    OutOfRange { low: u64, high: u64, got: u64 },
    #[error("must be positive")]
    NotPositive,
    #[error("must be a share from 0 to 1, got {0}")]
    NotAShare(f64),
    /// A value that does not read as its unit, or a file that is not there.
    #[error("{0}")]
    Unreadable(#[from] Invalid),
    #[error("{0}")]
    Explained(String),
}

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Problem::Explained(message)
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Self {
        Problem::Explained(message.to_string())
    }
}

/// A count from 1 to `high`.
fn count_in(got: impl TryInto<u64>, high: impl TryInto<u64>) -> Problem {
    let (got, high) = (got.try_into().unwrap_or(u64::MAX), high.try_into().unwrap_or(u64::MAX));
    Problem::OutOfRange { low: 1, high, got }
}

fn err<T>(key: &str, problem: impl Into<Problem>) -> Result<T, KeyError> {
    Err(KeyError { key: key.to_string(), problem: problem.into() })
}

/// Checks one fully substituted scenario and builds its point configuration.
/// `broker`: its URL, TLS, encoding, reconnect timeout and login.
fn broker_config(file: &ScenarioFile, scenario_path: &Path) -> Result<BrokerConfig, KeyError> {
    let mut broker = broker(&file.broker.url, file.broker.qos)?;
    broker.tls = tls(&file.broker, scenario_path)?;
    broker.encoding = file.broker.encoding;
    if file.broker.reconnect_timeout.value.is_zero() {
        return err("broker.reconnect_timeout", Problem::NotPositive);
    }
    broker.reconnect_timeout = file.broker.reconnect_timeout.value;
    broker.login = login(file.broker.username.as_deref(), file.broker.password_env.as_deref())?;
    if broker.managed && broker.login.is_some() {
        return err(
            "broker.username",
            "the broker simrun starts itself (broker.url: auto) takes anyone; set broker.url to the broker that needs a login",
        );
    }
    Ok(broker)
}

pub fn point_config(file: &ScenarioFile, scenario_path: &Path, files: &Files) -> Result<PointConfig, KeyError> {
    if file.devices.groups.is_empty() {
        return block_config(file, scenario_path, files);
    }
    let groups = &file.devices.groups;
    check_group_names(groups)?;
    check_group_placements(file)?;
    let mut configs = Vec::new();
    for g in groups {
        let mut one = file.clone();
        one.devices = g.block();
        one.load = g.load(&file.load);
        one.placement = g.placement.unwrap_or(file.placement);
        let c = block_config(&one, scenario_path, files).map_err(|e| in_group(e, g))?;
        configs.push((g, c));
    }
    let mut first = 0u32;
    let mut out: Vec<DeviceGroup> = Vec::new();
    for (g, c) in &configs {
        same_as_first(g, c, &configs[0])?;
        // Each group's own block is a scenario of one group; it is renamed and renumbered.
        let mut group = c.groups[0].clone();
        (group.name, group.first) = (g.name.clone(), first);
        first = first.saturating_add(c.devices.count);
        out.push(group);
    }
    if first > MAX_DEVICES {
        return err("devices", format!("the groups hold {first} devices; at most {MAX_DEVICES}"));
    }
    // Every tier some group sends to runs; the point's policy is the groups' when they share one.
    let mut tiers: Vec<TierConfig> = Vec::new();
    for t in configs.iter().flat_map(|(_, c)| &c.tiers) {
        if !tiers.iter().any(|x| x.tier == t.tier) {
            tiers.push(t.clone());
        }
    }
    tiers.sort_by_key(|t| t.tier);
    let shared = out.iter().all(|g| g.policy == out[0].policy && g.tiers == out[0].tiers);
    let mut config = configs.swap_remove(0).1;
    config.devices.count = first;
    config.tiers = tiers;
    config.policy = out[0].policy.filter(|_| shared);
    config.groups = out;
    Ok(config)
}

/// Every group sends the first's input shape, and has a radio when it has one.
fn same_as_first(g: &GroupFile, c: &PointConfig, (first, f): &(&GroupFile, PointConfig)) -> Result<(), KeyError> {
    let at = |k: &str| format!("devices.{}.{k}", g.name);
    if c.devices.input.shape != f.devices.input.shape {
        return err(
            &at("input.shape"),
            format!(
                "every group sends the one model's input: {} against {}'s {}",
                c.devices.input.shape_text(),
                first.name,
                f.devices.input.shape_text()
            ),
        );
    }
    if c.energy.is_some() != f.energy.is_some() {
        return err(&at("radio"), "give every group a radio (for the energy estimate) or none");
    }
    Ok(())
}

/// A group may place its requests itself, unless the placement is one the
/// edge worker carries out for every request it receives (`offload`,
/// `partition`): those are the whole fleet's.
fn check_group_placements(file: &ScenarioFile) -> Result<(), KeyError> {
    let whole = |p: PlacementFile| matches!(p, PlacementFile::Offload | PlacementFile::Partition);
    let Some(g) = file.devices.groups.iter().find(|g| g.placement.is_some()) else { return Ok(()) };
    let own = g.placement.unwrap_or(file.placement);
    if whole(own) || whole(file.placement) {
        let name = serde_yaml::to_string(if whole(own) { &own } else { &file.placement }).unwrap_or_default();
        return err(
            &format!("devices.{}.placement", g.name),
            format!(
                "{} is carried out by the edge worker for every request it receives, so it is the whole fleet's: \
                 set it as the scenario's placement and give no group a placement of its own",
                name.trim()
            ),
        );
    }
    Ok(())
}

/// Group names are unique, usable in a dotted key, and not `all` (the
/// overall row's); there is at least one group and at most `MAX_GROUPS`.
fn check_group_names(groups: &[GroupFile]) -> Result<(), KeyError> {
    if groups.len() > MAX_GROUPS {
        return err("devices", format!("{} groups; at most {MAX_GROUPS}", groups.len()));
    }
    for (i, g) in groups.iter().enumerate() {
        let usable = !g.name.is_empty() && g.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !usable || g.name == "all" {
            return err(
                &format!("devices[{i}].name"),
                format!("{:?} cannot name a group: use letters, digits, '_' and '-', and not \"all\"", g.name),
            );
        }
        if let Some(j) = groups[..i].iter().position(|o| o.name == g.name) {
            return err(
                &format!("devices[{i}].name"),
                format!("{:?} already names group {j}: group names must differ", g.name),
            );
        }
        if g.count == 0 {
            return err(
                &format!("devices.{}.count", g.name),
                format!("group {:?} has no devices: give it a count of at least 1", g.name),
            );
        }
    }
    Ok(())
}

/// A key of a group's own block, named as the group's (`devices.cameras.link.latency`,
/// `devices.cameras.load.rate`); the shared window stays `load.duration`.
fn in_group(mut e: KeyError, g: &GroupFile) -> KeyError {
    let shared = ["load.duration", "load.warmup", "load.timeout"];
    if let Some(rest) = e.key.strip_prefix("devices.") {
        e.key = format!("devices.{}.{rest}", g.name);
    } else if e.key == "devices" {
        e.key = format!("devices.{}", g.name);
    } else if e.key.starts_with("load.") && g.load.is_some() && !shared.iter().any(|k| e.key.starts_with(k)) {
        e.key = format!("devices.{}.{}", g.name, e.key);
    }
    e
}

/// One devices block (a scenario's, or one group's as its own scenario).
fn block_config(file: &ScenarioFile, scenario_path: &Path, files: &Files) -> Result<PointConfig, KeyError> {
    let broker = broker_config(file, scenario_path)?;
    if file.devices.count == 0 || file.devices.count > MAX_DEVICES {
        return err("devices.count", count_in(file.devices.count, MAX_DEVICES));
    }
    let load = load_config(&file.load, "load", scenario_path, files)?;
    let policy = policy(file)?;
    let partition = partition_config(file, scenario_path)?;
    let mut tiers = Vec::new();
    for &tier in placed(file.placement) {
        let raw = match tier {
            Tier::Edge => file.tiers.edge.as_ref(),
            _ => file.tiers.cloud.as_ref(),
        };
        let Some(raw) = raw else {
            let placement = serde_yaml::to_string(&file.placement).unwrap_or_default();
            return err(
                &format!("tiers.{tier}"),
                format!("placement {} needs a tiers.{tier} section", placement.trim()),
            );
        };
        let model = tier_model(file, tier, raw, scenario_path)?;
        let config = tier_config((tier, model), raw, scenario_path, files, load.warmup)?;
        if config.remote.is_some() && file.placement == PlacementFile::Partition {
            return err(
                &format!("tiers.{tier}.workers.remote"),
                "placement partition runs its head and tail in this process: remote pools do not serve a split",
            );
        }
        if config.remote.is_some() && broker.managed {
            return err(
                &format!("tiers.{tier}.workers.remote"),
                "a remote pool's workers connect to a broker they can reach, and the one simrun starts \
                 (broker.url: auto) is private to this run: set broker.url",
            );
        }
        tiers.push(config);
    }
    let managed = broker.managed;
    let devices_link = link_config(&file.devices.link, "devices.link", scenario_path, files, load.warmup)?;
    let energy = super::energy::energy_config(file, &tiers, &devices_link)?;
    let cost = super::energy::cost_config(file)?;
    let devices = DeviceConfig {
        count: file.devices.count,
        input: input_config(&file.devices, scenario_path, files)?,
        link: devices_link,
        remote: remote_devices(&file.devices, managed)?,
    };
    let mut config = PointConfig { broker, devices, load, tiers, policy, energy, cost, partition, groups: Vec::new() };
    config.groups = vec![config.whole_fleet()];
    Ok(config)
}

/// `partition`'s model and cut, under `placement: partition` (and refused without it).
fn partition_config(file: &ScenarioFile, scenario_path: &Path) -> Result<Option<PartitionConfig>, KeyError> {
    let Some(raw) = &file.partition else {
        return match file.placement {
            PlacementFile::Partition => {
                err("partition", "placement partition needs partition: { model: FILE.onnx, at: TENSOR }")
            }
            _ => Ok(None),
        };
    };
    if file.placement != PlacementFile::Partition {
        return err("partition", "applies to placement: partition only");
    }
    let model = resolve_model(&raw.model, scenario_path)
        .map_err(|m| KeyError { key: "partition.model".into(), problem: m.into() })?;
    if model.extension().and_then(|e| e.to_str()) != Some("onnx") {
        return err(
            "partition.model",
            format!(
                "partitioning is for ONNX models (.onnx) only, got {:?}: a .safetensors file holds weights, not a graph to cut",
                raw.model
            ),
        );
    }
    if raw.at.trim().is_empty() {
        return err("partition.at", "names a cut: a tensor (`simrun partition MODEL` lists them), input or output");
    }
    Ok(Some(PartitionConfig { model, at: raw.at.trim().to_string(), parts: None }))
}

/// The model a tier runs: its own `model`, or under `placement: partition`
/// the partitioned model (where a tier's own `model`, if given, must be it).
fn tier_model(file: &ScenarioFile, tier: Tier, raw: &TierFile, scenario_path: &Path) -> Result<PathBuf, KeyError> {
    let key = format!("tiers.{tier}.model");
    let resolve = |text: &str, key: &str| {
        resolve_model(text, scenario_path).map_err(|m| KeyError { key: key.into(), problem: m.into() })
    };
    let shared = match (&file.partition, file.placement) {
        (Some(p), PlacementFile::Partition) => Some(resolve(&p.model, "partition.model")?),
        _ => None,
    };
    match (shared, raw.model.is_empty()) {
        (None, true) => err(&key, "is required: the model the tier runs (.onnx or .safetensors)"),
        (None, false) => resolve(&raw.model, &key),
        (Some(shared), true) => Ok(shared),
        (Some(shared), false) if resolve(&raw.model, &key)? == shared => Ok(shared),
        (Some(_), false) => err(
            &key,
            "under placement partition both tiers run partition.model (the head and the tail of it): leave this out",
        ),
    }
}

/// The tiers that run workers under `placement`: a policy routes between both.
pub fn placed(placement: PlacementFile) -> &'static [Tier] {
    match placement {
        PlacementFile::Edge => &[Tier::Edge],
        PlacementFile::Cloud => &[Tier::Cloud],
        _ => &[Tier::Edge, Tier::Cloud],
    }
}

/// The routing policy `placement` names, its parameters checked.
fn policy(file: &ScenarioFile) -> Result<Option<Policy>, KeyError> {
    let p = &file.policy;
    let share = |key: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            err(key, Problem::NotAShare(v))
        }
    };
    Ok(Some(match file.placement {
        PlacementFile::Edge | PlacementFile::Cloud | PlacementFile::Both => return Ok(None),
        PlacementFile::Cascade => {
            let [low, high] = p.cascade.band[..] else {
                return err(
                    "policy.cascade.band",
                    format!("expected two scores [low, high], got {:?}", p.cascade.band),
                );
            };
            let (low, high) = (share("policy.cascade.band", low)?, share("policy.cascade.band", high)?);
            if low > high {
                return err("policy.cascade.band", format!("is empty: {low} is above {high}; write [low, high]"));
            }
            let confidence = share("policy.cascade.confidence", p.cascade.confidence)?;
            Policy::Cascade(Uncertain {
                low: low as f32,
                high: high as f32,
                confidence: confidence as f32,
                classes: None,
            })
        }
        PlacementFile::Offload if p.offload.queue == 0 => {
            return err("policy.offload.queue", "must be at least 1 (the edge serves while fewer requests are in it)")
        }
        PlacementFile::Offload => Policy::Offload { queue: p.offload.queue },
        PlacementFile::Deadline if p.deadline.after.value.is_zero() => {
            return err("policy.deadline.after", Problem::NotPositive)
        }
        PlacementFile::Deadline if p.deadline.after.value >= file.load.timeout.value => {
            return err(
                "policy.deadline.after",
                format!(
                    "{:?} is not below load.timeout ({:?}): the request would time out before the edge is asked",
                    p.deadline.after.value, file.load.timeout.value
                ),
            )
        }
        PlacementFile::Deadline => Policy::Deadline { after: p.deadline.after.value },
        PlacementFile::Split => Policy::Split { edge: share("policy.split.edge", p.split.edge)? },
        PlacementFile::Partition => Policy::Partition,
    }))
}

/// `devices.features: N`, or `devices.input`, or the model's input (shape left empty).
fn input_config(devices: &DevicesFile, scenario_path: &Path, files: &Files) -> Result<InputConfig, KeyError> {
    let raw = match (devices.features, &devices.input) {
        (Some(_), Some(_)) => {
            return err(
                "devices.input",
                "give devices.features (shorthand for input.shape: [N]) or devices.input, not both",
            )
        }
        (Some(0), None) => return err("devices.features", "must be at least 1"),
        (Some(n), None) => return Ok(InputConfig { shape: vec![n as usize], data: InputData::Uniform }),
        (None, None) => return Ok(InputConfig { shape: Vec::new(), data: InputData::Uniform }),
        (None, Some(raw)) => raw,
    };
    let mut shape = Vec::new();
    if let Some(dims) = &raw.shape {
        if dims.is_empty() || dims.contains(&0) {
            return err("devices.input.shape", format!("must list sizes of at least 1, got {dims:?}"));
        }
        shape = dims.iter().map(|d| *d as usize).collect();
        if shape.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d)).is_none_or(|n| n > MAX_INPUT_VALUES) {
            return err("devices.input.shape", format!("{dims:?} holds more than {MAX_INPUT_VALUES} values"));
        }
    }
    if let Some(dtype) = raw.dtype.as_deref().filter(|d| !matches!(*d, "f32" | "float32")) {
        return err("devices.input.dtype", format!("{dtype:?} is not supported: simrun sends float32 tensors (f32)"));
    }
    let text = raw.data.as_deref().unwrap_or("uniform");
    let data = match text {
        "uniform" | "normal" => {
            for (key, given) in [("label", raw.label.is_some()), ("labels", raw.labels.is_some())] {
                if given {
                    return err(&format!("devices.input.{key}"), format!("labels go with a data file; data is {text}"));
                }
            }
            if text == "uniform" {
                InputData::Uniform
            } else {
                InputData::Normal
            }
        }
        _ => InputData::File(data_file(raw, text, scenario_path, files)?),
    };
    if let (Some(rows), false) = (data.file(), shape.is_empty()) {
        let want: usize = shape.iter().product();
        if rows.width != want {
            return err(
                "devices.input.data",
                format!(
                    "{text} has {} values a row but devices.input.shape {dims:?} holds {want}",
                    rows.width,
                    dims = shape
                ),
            );
        }
    }
    Ok(InputConfig { shape, data })
}

/// Reads `devices.input.data`, a `.csv` or `.npy` file, with its labels.
fn data_file(
    raw: &super::raw::InputFile,
    text: &str,
    scenario_path: &Path,
    files: &Files,
) -> Result<std::sync::Arc<InputRows>, KeyError> {
    let key = "devices.input.data";
    let fail = |key: &str, message: String| KeyError { key: key.to_string(), problem: message.into() };
    let ext = Path::new(text).extension().and_then(|e| e.to_str()).filter(|e| matches!(*e, "csv" | "npy"));
    if ext.is_none() {
        return err(key, format!("{text:?} is not uniform, normal, or a data file ending in .csv or .npy"));
    }
    let path = resolve_file(text, scenario_path, "data file").map_err(|m| fail(key, m.to_string()))?;
    // Shown as a reader would type it from here, as model paths are.
    let shown = path.display().to_string();
    // How the labels are found is part of what was read.
    let labels = format!("{:?} {:?}", raw.label, raw.labels);
    files.data(&path, labels, || read_data(raw, ext, &path, &shown, scenario_path))
}

/// Reads a data file with its labels: a CSV's label column, or a `.npy` labels file.
fn read_data(
    raw: &super::raw::InputFile,
    ext: Option<&str>,
    path: &Path,
    shown: &str,
    scenario_path: &Path,
) -> Result<InputRows, KeyError> {
    let key = "devices.input.data";
    let fail = |key: &str, message: String| KeyError { key: key.to_string(), problem: message.into() };
    let rows = if ext == Some("csv") {
        {
            if raw.labels.is_some() {
                return err(
                    "devices.input.labels",
                    "labels files go with .npy data; a CSV names its label column (label)",
                );
            }
            let column = raw.label.as_deref().unwrap_or("label");
            super::data::read_csv(path, shown, column, raw.label.is_some())
        }
    } else {
        {
            if raw.label.is_some() {
                return err(
                    "devices.input.label",
                    "a label column goes with CSV data; give .npy labels as labels: FILE.npy",
                );
            }
            let labels = match &raw.labels {
                Some(l) => Some((
                    resolve_file(l, scenario_path, "labels file")
                        .map_err(|m| fail("devices.input.labels", m.to_string()))?,
                    l,
                )),
                None => None,
            };
            super::data::read_npy(path, shown, labels.as_ref().map(|(p, l)| (p.as_path(), l.as_str())))
        }
    };
    rows.map_err(|e| fail(key, e.to_string()))
}

fn tier_config(
    (tier, model): (Tier, PathBuf),
    raw: &TierFile,
    scenario_path: &Path,
    files: &Files,
    warmup: Duration,
) -> Result<TierConfig, KeyError> {
    let fail = |key: String, message: String| KeyError { key, problem: message.into() };
    let key = |k: &str| format!("tiers.{tier}.{k}");
    let (workers, remote) = workers(tier, raw)?;
    // Either runtime at either tier; a format that can run code on load
    // (a pickle) is refused here, before a byte of it is read.
    if !matches!(model.extension().and_then(|e| e.to_str()), Some("onnx" | "safetensors")) {
        return err(
            &key("model"),
            format!("simrun runs .onnx (ONNX Runtime) and .safetensors (candle) models, got {:?}", raw.model),
        );
    }
    let link = link_config(&raw.link, &format!("tiers.{tier}.link"), scenario_path, files, warmup)?;
    let compute = &raw.compute;
    let profile = match (&compute.profile, &compute.class) {
        (Some(spec), class) => Some(
            super::profile::resolve(spec, class.as_deref(), scenario_path)
                .map_err(|e| fail(key(if e.class { "compute.class" } else { "compute.profile" }), e.to_string()))?,
        ),
        (None, Some(_)) => {
            return err(&key("compute.class"), "a model class picks a figure of a profile; set compute.profile")
        }
        (None, None) => None,
    };
    let slowdown = compute.slowdown.or(profile.as_ref().map(|p| p.slowdown)).unwrap_or(1.0);
    if !(1.0..=MAX_SLOWDOWN).contains(&slowdown) {
        return err(&key("compute.slowdown"), format!("must be from 1 to {MAX_SLOWDOWN}, got {slowdown}"));
    }
    let (slots, queue_limit) = (compute.slots, compute.queue_limit);
    if !(1..=MAX_SLOTS).contains(&slots) {
        return err(&key("compute.slots"), count_in(slots, MAX_SLOTS));
    }
    if !(1..=MAX_QUEUE_LIMIT).contains(&queue_limit) {
        return err(&key("compute.queue_limit"), count_in(queue_limit, MAX_QUEUE_LIMIT));
    }
    let threads = threads(compute.threads, &key("compute.threads"))?;
    let batching = match &raw.batching {
        Some(b) => Some(batching(b, &key("batching"))?),
        None => None,
    };
    Ok(TierConfig { tier, model, workers, link, slowdown, slots, queue_limit, threads, profile, batching, remote })
}

/// A tier's worker count, and its remote pool if it has one. What a remote
/// worker computes with is set where it runs (`simrun worker`'s flags): the
/// scenario's compute keys for the tier are refused, not silently ignored.
/// Its link runs in each worker's process.
fn workers(tier: Tier, raw: &TierFile) -> Result<(u32, Option<RemotePool>), KeyError> {
    let key = |k: &str| format!("tiers.{tier}.{k}");
    let remote = match &raw.workers {
        WorkersFile::Local(n) => {
            if *n == 0 || *n > MAX_WORKERS {
                return err(&key("workers"), count_in(*n, MAX_WORKERS));
            }
            return Ok((*n, None));
        }
        WorkersFile::Remote(r) => r,
    };
    if remote.count == 0 || remote.count > MAX_WORKERS {
        return err(&key("workers.count"), count_in(remote.count, MAX_WORKERS));
    }
    if let Some(why) = crate::plan::pool_name_problem(&remote.remote) {
        return err(&key("workers.remote"), why);
    }
    if remote.wait.value.is_zero() {
        return err(&key("workers.wait"), Problem::NotPositive);
    }
    let c = &raw.compute;
    let set = [
        ("compute.slowdown", c.slowdown.is_some(), "--slowdown"),
        ("compute.profile", c.profile.is_some(), "--slowdown (the profile's figure)"),
        ("compute.class", c.class.is_some(), "--slowdown (the profile's figure)"),
        ("compute.threads", c.threads.is_some(), "--threads"),
        ("compute.slots", c.slots != 1, "--slots"),
        ("compute.queue_limit", c.queue_limit != crate::plan::DEFAULT_QUEUE_LIMIT, "--queue-limit"),
    ];
    if let Some((k, _, flag)) = set.iter().find(|(_, given, _)| *given) {
        return err(
            &key(k),
            format!(
                "a remote pool computes as its workers were started: give {flag} to simrun worker, not the scenario"
            ),
        );
    }
    if raw.batching.is_some() {
        return err(
            &key("batching"),
            "a remote pool batches as its workers were started: give --max-batch and --max-wait to simrun worker, \
             not the scenario",
        );
    }
    Ok((remote.count, Some(RemotePool { pool: remote.remote.clone(), wait: remote.wait.value })))
}

/// The device hosts the devices are shared with, if any. `devices.link`
/// applies on every host, in front of its own devices.
fn remote_devices(raw: &DevicesFile, managed: bool) -> Result<Option<RemoteDevices>, KeyError> {
    let Some(r) = &raw.remote else { return Ok(None) };
    if let Some(why) = crate::plan::pool_name_problem(&r.pool) {
        return err("devices.remote.pool", why);
    }
    if r.hosts == 0 || r.hosts > MAX_DEVICE_HOSTS {
        return err("devices.remote.hosts", count_in(r.hosts, MAX_DEVICE_HOSTS));
    }
    if raw.count <= r.hosts {
        return err(
            "devices.remote.hosts",
            format!(
                "the {} device(s) are dealt over this run and {} host(s): give devices.count at least {}",
                raw.count,
                r.hosts,
                r.hosts + 1
            ),
        );
    }
    if r.wait.value.is_zero() {
        return err("devices.remote.wait", Problem::NotPositive);
    }
    if managed {
        return err(
            "devices.remote",
            "device hosts connect to a broker they can reach, and the one simrun starts (broker.url: auto) is \
             private to this run: set broker.url",
        );
    }
    Ok(Some(RemoteDevices { pool: r.pool.clone(), hosts: r.hosts, wait: r.wait.value }))
}

/// A tier's intra-op threads, when given. Whether the runtime can take
/// them (candle's are the process's) is checked with the model, before the run.
fn threads(asked: Option<u32>, key: &str) -> Result<Option<u32>, KeyError> {
    match asked {
        Some(n) if !(1..=MAX_THREADS).contains(&n) => err(key, count_in(n, MAX_THREADS)),
        _ => Ok(asked),
    }
}

fn batching(raw: &BatchingFile, at: &str) -> Result<Batching, KeyError> {
    batching_of(raw.max_batch, raw.max_wait.value, at)
}

/// Dynamic batching of up to `max_batch` requests, waiting at most
/// `max_wait` (keys under `at`), checked: a scenario's, or `simrun worker`'s flags.
pub fn batching_of(max_batch: u32, max_wait: Duration, at: &str) -> Result<Batching, KeyError> {
    if !(1..=MAX_BATCH).contains(&max_batch) {
        return err(&format!("{at}.max_batch"), count_in(max_batch, MAX_BATCH));
    }
    if max_batch > 1 && max_wait.is_zero() {
        return err(
            &format!("{at}.max_wait"),
            "must be positive when max_batch is above 1: with no wait no request would ever join another",
        );
    }
    if max_wait > MAX_BATCH_WAIT {
        return err(&format!("{at}.max_wait"), format!("must be at most {MAX_BATCH_WAIT:?}, got {max_wait:?}"));
    }
    Ok(Batching { max_batch, max_wait })
}

/// The load of the devices: the process at `at` (`load`, or a group's
/// `devices.<name>.load` merged into it) and the shared window.
pub(super) fn load_config(
    raw: &LoadFile,
    at: &str,
    scenario_path: &Path,
    files: &Files,
) -> Result<LoadConfig, KeyError> {
    let key = |k: &str| format!("{at}.{k}");
    let arrival = arrival(raw, at, scenario_path, files)?;
    let rate_hz = match (&raw.rate, &arrival) {
        (Some(r), _) if r.per_second <= 0.0 => return err(&key("rate"), format!("must be positive, got {:?}", r.text)),
        (Some(_), Arrival::Mmpp(_) | Arrival::Replay(_)) => {
            return err(
                &key("rate"),
                format!("{} takes its rates from {}: remove rate", arrival.as_str(), process_keys(&arrival)),
            )
        }
        (Some(r), _) => r.per_second,
        (None, Arrival::Closed | Arrival::Mmpp(_) | Arrival::Replay(_)) => 0.0,
        (None, _) => return err(&key("rate"), format!("{} arrivals need a rate, e.g. \"200/s\"", arrival.as_str())),
    };
    if raw.duration.value.is_zero() {
        return err("load.duration", Problem::NotPositive);
    }
    if raw.timeout.value.is_zero() {
        return err("load.timeout", Problem::NotPositive);
    }
    if raw.concurrency == 0 || raw.concurrency > MAX_CONCURRENCY {
        return err(&key("concurrency"), count_in(raw.concurrency, MAX_CONCURRENCY));
    }
    let load = LoadConfig {
        arrival,
        rate_hz,
        duration: raw.duration.value,
        warmup: raw.warmup.value,
        timeout: raw.timeout.value,
        concurrency: raw.concurrency,
        think: raw.think.value,
    };
    if load.arrival != Arrival::Closed {
        let (warm, measured) = load.request_counts();
        if measured == 0 {
            return err(&key("rate"), "the offered rate × duration is less than one request in the measured window");
        }
        if warm.saturating_add(measured) > MAX_REQUESTS_PER_POINT {
            return err(
                &key("rate"),
                format!(
                    "rate × (warmup + duration) is {} requests per point; at most {MAX_REQUESTS_PER_POINT}",
                    warm.saturating_add(measured)
                ),
            );
        }
    }
    Ok(load)
}

/// The keys an arrival process takes its parameters from.
fn process_keys(arrival: &Arrival) -> &'static str {
    match arrival {
        Arrival::OnOff(_) => "rate, on_for, off_for and periods",
        Arrival::Mmpp(_) => "rates and stay",
        Arrival::Replay(_) => "file and speed",
        _ => "rate",
    }
}

/// The arrival process at `at` with its own keys, refusing another process's.
fn arrival(raw: &LoadFile, at: &str, scenario_path: &Path, files: &Files) -> Result<Arrival, KeyError> {
    let key = |k: &str| format!("{at}.{k}");
    let arrival = match raw.arrival {
        ArrivalFile::Constant => Arrival::Constant,
        ArrivalFile::Poisson => Arrival::Poisson,
        ArrivalFile::Closed => Arrival::Closed,
        ArrivalFile::Onoff => Arrival::OnOff(on_off(raw, at)?),
        ArrivalFile::Mmpp => Arrival::Mmpp(mmpp(raw, at)?),
        ArrivalFile::Replay => {
            let Some(file) = &raw.file else {
                return err(&key("file"), "replay needs a file of request times (docs/scenario.md, Arrivals)");
            };
            Arrival::Replay(Box::new(replay(file, raw.speed, at, scenario_path, files)?))
        }
    };
    let given = [
        ("on_for", raw.on_for.is_some(), matches!(arrival, Arrival::OnOff(_))),
        ("off_for", raw.off_for.is_some(), matches!(arrival, Arrival::OnOff(_))),
        ("periods", raw.periods.is_some(), matches!(arrival, Arrival::OnOff(_))),
        ("rates", raw.rates.is_some(), matches!(arrival, Arrival::Mmpp(_))),
        ("stay", raw.stay.is_some(), matches!(arrival, Arrival::Mmpp(_))),
        ("file", raw.file.is_some(), matches!(arrival, Arrival::Replay(_))),
        ("speed", raw.speed.is_some(), matches!(arrival, Arrival::Replay(_))),
    ];
    if let Some((name, _, _)) = given.iter().find(|(_, set, applies)| *set && !applies) {
        let owner = match *name {
            "on_for" | "off_for" | "periods" => "onoff",
            "rates" | "stay" => "mmpp",
            _ => "replay",
        };
        return err(&key(name), format!("applies to arrival: {owner}, not {}", arrival.as_str()));
    }
    Ok(arrival)
}

fn on_off(raw: &LoadFile, at: &str) -> Result<OnOff, KeyError> {
    let (Some(on), Some(off)) = (&raw.on_for, &raw.off_for) else {
        let missing = if raw.on_for.is_none() { "on_for" } else { "off_for" };
        return err(
            &format!("{at}.{missing}"),
            "onoff needs how long each period is on and off, e.g. on_for: 2s, off_for: 6s",
        );
    };
    if on.value.is_zero() {
        return err(&format!("{at}.on_for"), Problem::NotPositive);
    }
    let exponential = raw.periods == Some(PeriodsFile::Exponential);
    Ok(OnOff { on: on.value, off: off.value, exponential })
}

fn mmpp(raw: &LoadFile, at: &str) -> Result<Mmpp, KeyError> {
    let rates: Vec<f64> = raw.rates.iter().flatten().map(|r| r.per_second).collect();
    let stay: Vec<Duration> = raw.stay.iter().flatten().map(|d| d.value).collect();
    let (Ok(rates_hz), Ok(stay)) = (<[f64; 2]>::try_from(rates), <[Duration; 2]>::try_from(stay)) else {
        let k = if raw.rates.as_ref().map_or(0, Vec::len) != 2 { "rates" } else { "stay" };
        return err(
            &format!("{at}.{k}"),
            "mmpp needs two rates and two mean stays, one for each state, e.g. rates: [50/s, 2/s], stay: [2s, 10s]",
        );
    };
    if rates_hz.iter().all(|r| *r <= 0.0) {
        return err(&format!("{at}.rates"), "at least one state needs a positive rate");
    }
    if let Some(i) = stay.iter().position(Duration::is_zero) {
        return err(&format!("{at}.stay[{i}]"), Problem::NotPositive);
    }
    Ok(Mmpp { rates_hz, stay })
}

fn replay(
    text: &str,
    speed: Option<f64>,
    at: &str,
    scenario_path: &Path,
    files: &Files,
) -> Result<crate::plan::ArrivalTrace, KeyError> {
    let key = format!("{at}.file");
    let speed = speed.unwrap_or(1.0);
    if !(speed.is_finite() && speed > 0.0) {
        return err(&format!("{at}.speed"), format!("must be a positive factor, got {speed}"));
    }
    let path = resolve_file(text, scenario_path, "arrival file")
        .map_err(|m| KeyError { key: key.clone(), problem: m.into() })?;
    let shown = path.display().to_string();
    let mut trace = files
        .arrivals(&path, || super::arrivals::read(&path, &shown))
        .map_err(|e| KeyError { key: key.clone(), problem: e.to_string().into() })?;
    trace.path = text.to_string();
    trace.speed = speed;
    Ok(trace)
}

/// Checks a link block; `at` is its dotted key (`tiers.cloud.link`).
fn link_config(
    raw: &LinkFile,
    at: &str,
    scenario_path: &Path,
    files: &Files,
    warmup: Duration,
) -> Result<LinkConfig, KeyError> {
    let distribution = raw.distribution;
    let (latency, jitter) = (raw.latency.value, raw.jitter.value);
    if distribution == Distribution::Constant && !jitter.is_zero() {
        return err(
            &format!("{at}.jitter"),
            "jitter needs a distribution: uniform, normal, lognormal or pareto (set distribution)",
        );
    }
    let trace = match &raw.trace {
        Some(text) => Some(link_trace(raw, text, at, scenario_path, files, warmup)?),
        None => None,
    };
    let positive_latency = match &trace {
        Some(t) => t.rows.iter().all(|r| !r.delay.is_zero()),
        None => !latency.is_zero(),
    };
    if matches!(distribution, Distribution::Lognormal | Distribution::Pareto) && (!positive_latency || jitter.is_zero())
    {
        return err(
            &format!("{at}.distribution"),
            format!(
                "{} needs a positive latency (its mean{}) and jitter (its standard deviation)",
                distribution.as_str(),
                if trace.is_some() { ": every delay_ms of the trace" } else { "" }
            ),
        );
    }
    let mut outages = Vec::new();
    for (i, o) in raw.outages.iter().enumerate() {
        if o.duration.value.is_zero() {
            return err(&format!("{at}.outages[{i}].for"), Problem::NotPositive);
        }
        outages.push(LinkOutage { at: o.at.value, duration: o.duration.value, mode: o.mode });
    }
    outages.sort_by_key(|o| o.at);
    if let Some(w) = outages.windows(2).find(|w| w[0].at + w[0].duration > w[1].at) {
        return err(&format!("{at}.outages"), format!("outages at {:?} and {:?} overlap", w[0].at, w[1].at));
    }
    Ok(LinkConfig {
        latency,
        jitter,
        distribution,
        jitter_timescale: raw.jitter_timescale.value,
        bandwidth_bps: raw.bandwidth.as_ref().map(|b| b.bits_per_second),
        outages,
        trace,
    })
}

/// Reads a link's trace and checks it against the rest of the link and the warmup.
fn link_trace(
    raw: &LinkFile,
    text: &str,
    at: &str,
    scenario_path: &Path,
    files: &Files,
    warmup: Duration,
) -> Result<crate::plan::LinkTrace, KeyError> {
    let key = format!("{at}.trace");
    if !raw.latency.value.is_zero() {
        return err(
            &format!("{at}.latency"),
            "the trace gives the delay: remove latency (jitter and distribution still apply around the trace's delay)",
        );
    }
    let path = resolve_file(text, scenario_path, "trace file")
        .map_err(|m| KeyError { key: key.clone(), problem: m.into() })?;
    let shown = path.display().to_string();
    let mut trace = files
        .trace(&path, || super::trace::read(&path, &shown))
        .map_err(|e| KeyError { key: key.clone(), problem: e.to_string().into() })?;
    trace.path = text.to_string();
    if trace.has_bandwidth && raw.bandwidth.is_some() {
        return err(
            &format!("{at}.bandwidth"),
            "the trace gives the bandwidth (its bandwidth_kbit column): remove one",
        );
    }
    if trace.span < warmup {
        return err(
            &key,
            format!(
                "{shown} spans {:?}, shorter than load.warmup ({:?}): a trace must last at least as long as the warmup",
                trace.span, warmup
            ),
        );
    }
    Ok(trace)
}

/// Checks the `slo` list against the tiers the scenario places requests on.
/// `placed`: the tiers (and `policy`) that get summaries at some point.
/// `costed`: whether the scenario estimates energy, and whether it has prices.
/// `groups`: the device groups' names, when `devices` is a list.
pub fn slos(raw: &[SloFile], placed: &[Tier], costed: (bool, bool), groups: &[String]) -> Result<Vec<Slo>, KeyError> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let key = |k: &str| format!("slo[{i}].{k}");
        if let Some(t) = s.tier {
            if !placed.contains(&t) {
                return match t {
                    Tier::Policy => err(&key("tier"), "no point of the scenario routes requests by a policy"),
                    _ => err(&key("tier"), format!("the scenario places no requests on the {t} tier")),
                };
            }
        }
        let metric = s.metric.as_str();
        if s.metric.is_energy() && !costed.0 {
            return err(&key("metric"), format!("{metric} needs the energy estimate: give devices.radio"));
        }
        if s.metric == SloMetric::CostPerMillion && !costed.1 {
            return err(&key("metric"), format!("{metric} needs prices: give tiers.cloud.cost or tiers.edge.cost"));
        }
        let (field, value) = match (s.metric.is_minimum(), &s.max, &s.min) {
            (true, None, Some(v)) => ("min", v),
            (false, Some(v), None) => ("max", v),
            (true, Some(_), _) => {
                return err(&key("max"), format!("{metric} is bounded below: use `min`, a rate such as 190/s"))
            }
            (true, _, _) => return err(&key("min"), format!("{metric} needs `min`, a rate such as 190/s")),
            (false, _, _) if s.metric.is_latency() => {
                return err(&key("max"), format!("{metric} needs `max` alone, a duration such as 20ms"))
            }
            (false, _, _) if s.metric.is_energy() => {
                return err(&key("max"), format!("{metric} needs `max` alone, millijoules such as 500"))
            }
            (false, _, _) if s.metric == SloMetric::CostPerMillion => {
                return err(&key("max"), format!("{metric} needs `max` alone, a price such as 25"))
            }
            (false, _, _) => return err(&key("max"), format!("{metric} needs `max` alone, such as 1% or 0.01")),
        };
        let text = match value {
            serde_yaml::Value::String(t) => t.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            other => return err(&key(field), format!("expected a single value, got {other:?}")),
        };
        let limit = match s.metric {
            SloMetric::Throughput => parse_rate(&text).map_err(|m| KeyError { key: key(field), problem: m.into() })?,
            SloMetric::TimeoutRate | SloMetric::ErrorRate => {
                parse_fraction(&text).map_err(|m| KeyError { key: key(field), problem: m.into() })?
            }
            m if m.is_energy() || m == SloMetric::CostPerMillion => match text.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => v,
                _ => return err(&key(field), format!("{metric} is bounded by a number, 0 or more, got {text:?}")),
            },
            _ => {
                parse_duration(&text).map_err(|m| KeyError { key: key(field), problem: m.into() })?.as_secs_f64() * 1e6
            }
        };
        slo_group(s.group.as_ref(), groups, &key("group"))?;
        out.push(Slo { tier: s.tier, metric: s.metric, limit, limit_text: text, group: s.group.clone() });
    }
    Ok(out)
}

/// An SLO's `group` names one of the scenario's device groups.
fn slo_group(group: Option<&String>, groups: &[String], key: &str) -> Result<(), KeyError> {
    {
        if let Some(g) = group.filter(|g| !groups.contains(g)) {
            let known = if groups.is_empty() {
                "the scenario has no device groups (devices is one block)".to_string()
            } else {
                format!("its groups are {}", groups.join(", "))
            };
            return err(key, format!("no device group is named {g:?}: {known}"));
        }
    }
    Ok(())
}

/// `1%`, `0.5 %` or `0.01`: a fraction from 0 to 1.
fn parse_fraction(text: &str) -> Result<f64, Invalid> {
    let bad =
        || Invalid(format!("invalid rate {text:?} (expected a percentage such as \"1%\" or a fraction such as 0.01)"));
    let v = match text.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => text.trim().parse::<f64>().map_err(|_| bad())?,
    };
    if !(0.0..=1.0).contains(&v) {
        return Err(bad());
    }
    Ok(v)
}

/// A relative model path is looked up from the working directory first, then
/// next to the scenario file.
fn resolve_model(text: &str, scenario_path: &Path) -> Result<PathBuf, Invalid> {
    resolve_file(text, scenario_path, "model file")
}

/// A relative path is looked up next to the scenario file first, so that a
/// scenario finds its files whatever the working directory, then from the
/// working directory; `what` names it in the message.
fn resolve_file(text: &str, scenario_path: &Path, what: &str) -> Result<PathBuf, Invalid> {
    let path = PathBuf::from(text);
    if path.is_absolute() {
        return if path.is_file() { Ok(path) } else { Err(Invalid(format!("{what} {text:?} not found"))) };
    }
    let beside = lexically_clean(&scenario_path.parent().unwrap_or(Path::new(".")).join(&path));
    if beside.is_file() {
        return Ok(beside);
    }
    if path.is_file() {
        return Ok(path);
    }
    Err(Invalid(format!(
        "{what} {text:?} not found (looked in {} and in the working directory)",
        scenario_path.parent().map(|p| p.display().to_string()).filter(|s| !s.is_empty()).unwrap_or_else(|| ".".into())
    )))
}

/// `scenarios/../models/x` as `models/x`: `..` after a named folder cancels
/// it, so that reports show the path a reader would type.
fn lexically_clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The broker login; the password comes from the environment variable named
/// by `password_env`, and no message ever shows it.
fn login(username: Option<&str>, password_env: Option<&str>) -> Result<Option<Login>, KeyError> {
    let Some(username) = username else {
        return match password_env {
            Some(_) => err("broker.password_env", "a password needs broker.username too"),
            None => Ok(None),
        };
    };
    if username.is_empty() {
        return err("broker.username", "must not be empty");
    }
    let password = match password_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(p) => Some(Secret::new(p)),
            Err(std::env::VarError::NotPresent) => {
                return err("broker.password_env", format!("environment variable {var} is not set"))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return err("broker.password_env", format!("environment variable {var} is not valid UTF-8"))
            }
        },
    };
    Ok(Some(Login { username: username.to_string(), password }))
}

/// A broker given on a command line (`simrun worker --broker URL`), with its
/// login: as a scenario's `broker:` block would give it, at QoS 1. The
/// error names the scenario key the flag stands for.
pub fn broker_from_url(
    url: &str,
    username: Option<&str>,
    password_env: Option<&str>,
    ca: Option<&Path>,
    client: (Option<&Path>, Option<&Path>),
) -> Result<BrokerConfig, KeyError> {
    if url == MANAGED_BROKER {
        return err("broker.url", "a worker connects to a broker the run's devices reach: give mqtt://HOST:PORT");
    }
    let mut broker = broker(url, 1)?;
    broker.login = login(username, password_env)?;
    let secure = url.starts_with("mqtts://");
    if ca.is_some() && !secure {
        return err("broker.tls.ca", "needs an mqtts:// broker");
    }
    let client = match client {
        (Some(c), Some(k)) => Some((c.to_path_buf(), k.to_path_buf())),
        (None, None) => None,
        (Some(_), None) => return err("broker.tls.key", "a client certificate needs its key"),
        (None, Some(_)) => return err("broker.tls.cert", "a client key needs its certificate"),
    };
    if client.is_some() && !secure {
        return err("broker.tls.cert", "needs an mqtts:// broker");
    }
    broker.tls = secure.then(|| TlsConfig { ca: ca.map(Path::to_path_buf), client });
    Ok(broker)
}

/// The word for a broker simrun starts itself.
pub const MANAGED_BROKER: &str = "auto";

/// `mqtt://host[:port]`, port 1883 by default, or `auto`: a private Mosquitto
/// that simrun starts (its port is known only then).
fn broker(url: &str, qos: u8) -> Result<BrokerConfig, KeyError> {
    if qos > 1 {
        return err("broker.qos", format!("must be 0 or 1, got {qos}"));
    }
    if url == MANAGED_BROKER {
        return Ok(BrokerConfig {
            url: url.to_string(),
            managed: true,
            host: "127.0.0.1".into(),
            port: 0,
            qos,
            reconnect_timeout: Duration::from_secs(30),
            login: None,
            tls: None,
            encoding: crate::plan::Encoding::Json,
        });
    }
    let (rest, default_port, secure) = match (url.strip_prefix("mqtt://"), url.strip_prefix("mqtts://")) {
        (Some(rest), _) => (rest, 1883, false),
        (_, Some(rest)) => (rest, 8883, true),
        _ => {
            return err(
                "broker.url",
                format!("unsupported broker url {url:?} (expected auto, mqtt://host:port or mqtts://host:port)"),
            )
        }
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) if port > 0 => (h, port),
            _ => return err("broker.url", format!("invalid port in broker url {url:?}")),
        },
        None => (rest, default_port),
    };
    if host.is_empty() {
        return err("broker.url", format!("no host in broker url {url:?}"));
    }
    Ok(BrokerConfig {
        url: url.to_string(),
        managed: false,
        host: host.to_string(),
        port,
        qos,
        reconnect_timeout: Duration::from_secs(30),
        login: None,
        tls: secure.then_some(TlsConfig { ca: None, client: None }),
        encoding: crate::plan::Encoding::Json,
    })
}

/// `broker.tls`: only with `mqtts://`; files resolved like model paths.
fn tls(raw: &super::raw::BrokerFile, scenario_path: &Path) -> Result<Option<TlsConfig>, KeyError> {
    let secure = raw.url.starts_with("mqtts://");
    let Some(t) = &raw.tls else {
        return Ok(secure.then_some(TlsConfig { ca: None, client: None }));
    };
    if !secure {
        return err("broker.tls", "needs an mqtts:// broker.url");
    }
    let file = |key: &str, text: &Option<String>| -> Result<Option<PathBuf>, KeyError> {
        text.as_deref()
            .map(|t| resolve_file(t, scenario_path, "file"))
            .transpose()
            .map_err(|m| KeyError { key: format!("broker.tls.{key}"), problem: m.into() })
    };
    let client = match (file("cert", &t.cert)?, file("key", &t.key)?) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => return err("broker.tls.key", "a client certificate needs its key"),
        (None, Some(_)) => return err("broker.tls.cert", "a client key needs its certificate"),
    };
    Ok(Some(TlsConfig { ca: file("ca", &t.ca)?, client }))
}

#[cfg(test)]
mod tests {
    use super::{broker, lexically_clean, threads, Problem};
    use crate::plan::MAX_THREADS;
    use std::path::{Path, PathBuf};

    #[test]
    fn a_key_out_of_its_range_is_that_problem_with_its_numbers() {
        let e = threads(Some(0), "tiers.edge.compute.threads").unwrap_err();
        assert_eq!(e.key, "tiers.edge.compute.threads");
        assert_eq!(e.problem, Problem::OutOfRange { low: 1, high: MAX_THREADS.into(), got: 0 });
        assert_eq!(e.problem.to_string(), format!("must be from 1 to {MAX_THREADS}, got 0"));
        assert_eq!(threads(Some(MAX_THREADS), "k").unwrap(), Some(MAX_THREADS));
        let e = broker("mqtt://x:1883", 2).unwrap_err();
        assert!(matches!(e.problem, Problem::Explained(_)), "{:?}", e.problem);
    }

    #[test]
    fn broker_urls() {
        let b = broker("mqtt://127.0.0.1:18830", 1).unwrap();
        assert_eq!((b.host.as_str(), b.port, b.qos), ("127.0.0.1", 18830, 1));
        assert_eq!(broker("mqtt://localhost", 0).unwrap().port, 1883);
        assert!(broker("http://x:1", 0).is_err());
        assert!(broker("mqtt://x:0", 0).is_err());
        assert!(broker("mqtt://:1883", 0).is_err());
        assert!(broker("mqtt://x:1883", 2).is_err());
    }

    #[test]
    fn paths_beside_a_scenario_read_as_typed() {
        assert_eq!(lexically_clean(Path::new("scenarios/../models/a.onnx")), PathBuf::from("models/a.onnx"));
        assert_eq!(lexically_clean(Path::new("../x/./y")), PathBuf::from("../x/y"));
        assert_eq!(lexically_clean(Path::new("/a/b/../c")), PathBuf::from("/a/c"));
        assert_eq!(lexically_clean(Path::new("a/..")), PathBuf::from("."));
    }
}

#[cfg(test)]
mod files_tests {
    use std::path::Path;

    #[test]
    fn every_point_shares_one_read_of_each_data_and_trace_file() {
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/shared.yaml");
        let text = "name: shared\n\
                    devices: { input: { data: ../models/data/digits-test.csv } }\n\
                    load: { rate: 10/s, duration: 1s }\n\
                    tiers:\n  edge: { model: ../models/digits_small.onnx }\n  \
                    cloud: { model: ../models/digits_small.onnx, link: { trace: traces/step.csv } }\n\
                    sweep: { devices.count: [1, 2, 3] }\n";
        let plan = crate::scenario::load_str(&scenario, text, &[]).expect("a valid scenario");
        assert_eq!(plan.points.len(), 3);
        let rows: Vec<_> =
            plan.points.iter().map(|p| p.config.devices.input.data.file().expect("rows") as *const _).collect();
        assert!(rows.iter().all(|r| *r == rows[0]), "one copy of the data's rows for every point");
        let traces: Vec<_> = plan
            .points
            .iter()
            .map(|p| {
                let cloud = p.config.tiers.iter().find(|t| t.tier == crate::plan::Tier::Cloud).expect("cloud");
                cloud.link.trace.as_ref().expect("a trace").rows.clone()
            })
            .collect();
        assert!(traces.iter().all(|t| std::sync::Arc::ptr_eq(t, &traces[0])), "one copy of the trace's rows");
    }

    #[test]
    fn a_groups_keys_sweep_and_set_by_its_name_and_the_groups_number_their_devices_in_order() {
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/groups.yaml");
        let text = "name: groups\n\
                    devices:\n  - { name: sensors, count: 3, features: 32 }\n  \
                    - { name: cameras, count: 2, features: 32, load: { arrival: poisson, rate: 5/s } }\n\
                    load: { rate: 10/s, duration: 1s }\n\
                    placement: edge\n\
                    tiers:\n  edge: { model: ../models/anomaly_detector.onnx }\n\
                    sweep: { devices.cameras.count: [1, 4] }\n";
        let set = ["devices.cameras.load.rate=8/s".to_string()];
        let plan = crate::scenario::load_str(&scenario, text, &set).expect("a valid scenario");
        let shape = |p: &crate::plan::SweepPoint| {
            p.config.groups.iter().map(|g| (g.name.clone(), g.first, g.count, g.load.rate_hz)).collect::<Vec<_>>()
        };
        assert_eq!(shape(&plan.points[0]), [("sensors".into(), 0, 3, 10.0), ("cameras".into(), 3, 1, 8.0)]);
        assert_eq!(shape(&plan.points[1]), [("sensors".into(), 0, 3, 10.0), ("cameras".into(), 3, 4, 8.0)]);
        assert_eq!((plan.points[1].config.devices.count, plan.points[1].config.group_of(5)), (7, 1));
        assert!(plan.points[0].config.grouped());
        let missing = crate::scenario::load_str(&scenario, text, &["devices.camera.count=2".to_string()]);
        assert!(missing.unwrap_err().to_string().contains(r#"devices has no item named "camera""#));
    }
}
