//! One execution of one sweep point.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::broker::resolve;
use super::collector::micros_since;
use super::fleet::{pacing, Fleet, FleetIo, Patience, Share};
use super::link::Link;
use super::pool::{MemberLink, Pools, RemoteLink};
use super::shelf::ModelShelf;
use super::timer::PreciseTimer;
use super::worker::{Forwarding, Worker, WorkerSpec};
use super::{RunError, RunEvent};
use crate::plan::{LinkConfig, Policy, SweepPoint, Tier};
use crate::record::{DeviceHostTally, LinkOutcome, Sample, Unmatched};
use crate::seeds;
use crate::wire::{self, Topic};

/// The first link stream of remote parts: device hosts' links draw from
/// `HOST_LINKS + slot`, remote workers' from `WORKER_LINKS + member`
/// (`seeds::link` streams: the devices' is 0, local tiers' 1 and 2).
const HOST_LINKS: u64 = 100;
const WORKER_LINKS: u64 = 16;
/// Device group `g`'s link draws from `GROUP_LINKS + g` (the first group's, 0).
const GROUP_LINKS: u64 = 200;

/// Lead time between setting up a point and its first request: room for
/// the remote pools' go message when there are any (`LEAD_REMOTE`), else only
/// for the timer thread to take the first sends.
const LEAD: Duration = Duration::from_millis(10);
const LEAD_REMOTE: Duration = Duration::from_millis(50);

/// What a run shares between its points.
pub struct RunContext {
    pub run_id: String,
    /// Time zero of every `*_us` value in the run's samples.
    pub epoch: Instant,
    pub seed: u64,
    pub timer: PreciseTimer,
    pub events: mpsc::UnboundedSender<RunEvent>,
    /// Put the devices behind a link at every point, a 0 ms one included,
    /// because some point of the plan delays them: so that points differ only
    /// by what their links add, not by the proxy hop.
    pub device_link_everywhere: bool,
    /// The tiers a link delays at some point of the plan: a remote pool's
    /// workers of these run the tier's link at every point, 0 ms included,
    /// as a local tier does (`start_remote`).
    pub remote_links: Vec<Tier>,
    /// The remote pools the run claimed, when a tier is served by one.
    pub pools: Option<Arc<super::pool::Pools>>,
    /// Loaded models, kept from one point to the next.
    pub models: ModelShelf,
}

/// The counters of one point execution; its samples went to the sample channel.
#[derive(Debug)]
pub struct PointOutcome {
    /// Malformed requests each tier's workers rejected.
    pub rejected: Vec<(Tier, u64)>,
    /// Of those, how many got no error reply (over the reply limit).
    pub unanswered: Vec<(Tier, u64)>,
    pub links: Vec<LinkOutcome>,
    pub unmatched: Unmatched,
    /// Times the collector's connection to the broker was down.
    pub broker_outages: Vec<super::broker::BrokerOutage>,
    /// What each device host sent and how its samples ended: this run's
    /// share first (named `this run`), then each `simrun devices` host's.
    pub hosts: Vec<DeviceHostTally>,
}

/// What one point execution connects besides the devices: links and workers.
struct Rig {
    links: Vec<(String, Link)>,
    workers: Vec<(Tier, Worker, ModelKey)>,
    /// The run's remote pools (workers, device hosts), with this execution's name.
    remote: Option<(Arc<Pools>, String)>,
}

/// The model file a local worker took from the shelf, and its threads.
type ModelKey = (std::path::PathBuf, u32);

/// Clears the device hosts' sample sink however the execution ends, so the
/// run's sample channel closes.
struct SinkGuard(Option<Arc<Pools>>);

impl Drop for SinkGuard {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            p.end_samples();
        }
    }
}

/// Runs `point` once (`repetition`), from connecting to tearing down. Every
/// request yields one sample per tier on `samples`, as soon as it is settled
/// (a device host's, as its batch arrives).
pub async fn run_point(
    ctx: &RunContext,
    point: &SweepPoint,
    repetition: u32,
    samples: mpsc::UnboundedSender<Sample>,
) -> Result<PointOutcome, RunError> {
    let cfg = &point.config;
    let exec = format!("{}.{}", point.index, repetition);
    let hosts = ctx.pools.clone().filter(|_| cfg.devices.remote.is_some());
    let _sink = SinkGuard(hosts.clone());
    let shares = shares(ctx, point, repetition);
    let share = shares[0].clone();
    let (mut rig, fleets) = start_rig(ctx, point, (repetition, &exec), &shares).await?;
    if let Some(p) = &hosts {
        // Each host runs the devices' link in front of its own devices.
        let link = ctx.device_link_everywhere.then(|| RemoteLink {
            config: cfg.devices.link.clone(),
            seed: seeds::link(ctx.seed, point.index, repetition, HOST_LINKS),
        });
        p.drive(&exec, &share, link.as_ref()).await?;
    }
    let pacings = start_clock(ctx, point, (repetition, &exec), &mut rig, &samples).await?;
    let _ = ctx.events.send(RunEvent::PointStarted {
        index: point.index,
        repetition,
        label: point.label(),
        // With device hosts, the progress shown is this run's share.
        requests: fleets.iter().zip(&pacings).map(|(f, p)| f.planned(p).unwrap_or(0)).sum(),
        tiers: cfg.tiers.len(),
    });
    let io = FleetIo { epoch: ctx.epoch, timer: ctx.timer.clone(), events: ctx.events.clone(), samples };
    let patience = Patience { url: cfg.broker.url.clone(), limit: cfg.broker.reconnect_timeout };
    let local = tokio::select! {
        done = run_fleets(fleets, pacings, io, patience) => done?,
        death = rig.first_death() => return Err(death),
    };
    // The host is filled in where the report is (`cli::run`).
    let mut tallies = vec![local.tally(&share, "this run", "")];
    let (hosts, host_links) = match &hosts {
        Some(p) => hosts_finish(p, &exec, cfg, &rig).await?,
        None => (Vec::new(), Vec::new()),
    };
    tallies.extend(hosts);
    let Teardown { rejected, unanswered, mut links } = rig.stop(point, &ctx.models).await?;
    links.extend(host_links);
    let sum = |f: fn(&DeviceHostTally) -> u64| tallies.iter().map(f).sum::<u64>();
    let (ok, timeouts, errors) = (sum(|t| t.ok), sum(|t| t.timeouts), sum(|t| t.errors));
    let _ = ctx.events.send(RunEvent::PointFinished { index: point.index, repetition, ok, timeouts, errors });
    Ok(PointOutcome {
        rejected,
        unanswered,
        links,
        unmatched: local.unmatched,
        broker_outages: local.broker_outages,
        hosts: tallies,
    })
}

/// Runs each device group's fleet to its end, at once, and adds up what
/// they did. One group runs in this task, as it always has.
async fn run_fleets(
    fleets: Vec<Fleet>,
    pacings: Vec<super::loadgen::Pacing>,
    io: FleetIo,
    patience: Patience,
) -> Result<super::fleet::FleetOutcome, RunError> {
    let mut runs = fleets.into_iter().zip(pacings);
    if runs.len() == 1 {
        let (fleet, pacing) = runs.next().expect("one fleet");
        return fleet.run(io, pacing, patience).await;
    }
    // Dropped on an early return, the set stops the other groups' fleets.
    let mut set = tokio::task::JoinSet::new();
    for (fleet, pacing) in runs {
        let io = FleetIo {
            epoch: io.epoch,
            timer: io.timer.clone(),
            events: io.events.clone(),
            samples: io.samples.clone(),
        };
        set.spawn(fleet.run(io, pacing, patience.clone()));
    }
    drop(io);
    let mut total = super::fleet::FleetOutcome::default();
    while let Some(done) = set.join_next().await {
        let one = done.map_err(|e| RunError::WorkerDied(format!("a device group's fleet: {e}")))??;
        total.add(one);
    }
    Ok(total)
}

/// Sets each group's schedule a short lead from now, tells the remote
/// workers when it starts, and arms the links for the measured window.
/// The first group draws from the execution's seed (as the one block
/// always has), the others from `seeds::group`.
async fn start_clock(
    ctx: &RunContext,
    point: &SweepPoint,
    (repetition, exec): (u32, &str),
    rig: &mut Rig,
    samples: &mpsc::UnboundedSender<Sample>,
) -> Result<Vec<super::loadgen::Pacing>, RunError> {
    let cfg = &point.config;
    let seed = seeds::execution(ctx.seed, point.index, repetition);
    let t0 = Instant::now() + if rig.remote.is_some() { LEAD_REMOTE } else { LEAD };
    let pacings: Vec<_> = cfg
        .groups
        .iter()
        .enumerate()
        .map(|(g, group)| pacing(t0, &group.load, group.count, seeds::group(seed, g as u16)))
        .collect();
    let measure_start = t0 + cfg.load.warmup;
    if let Some((p, _)) = &rig.remote {
        let now = Instant::now();
        let after = (t0.saturating_duration_since(now), measure_start.saturating_duration_since(now));
        p.go(exec, after, micros_since(ctx.epoch, t0), samples).await?;
    }
    rig.arm(measure_start);
    Ok(pacings)
}

/// Each device host's tally and links once it has sent its last samples;
/// fails when a worker dies first.
async fn hosts_finish(
    pools: &super::pool::Pools,
    exec: &str,
    cfg: &crate::plan::PointConfig,
    rig: &Rig,
) -> Result<(Vec<DeviceHostTally>, Vec<LinkOutcome>), RunError> {
    // A host started its schedule a control message later than this run.
    let patience = super::pool::JOB_TIMEOUT + cfg.load.timeout;
    let (hosts, links) = tokio::select! {
        done = pools.finish(exec, patience) => done?,
        death = rig.first_death() => return Err(death),
    };
    Ok((hosts, links.into_iter().map(|l| member_link(cfg, l)).collect()))
}

/// A link that ran in a remote member's process, with the scenario's
/// configuration for it.
fn member_link(cfg: &crate::plan::PointConfig, l: MemberLink) -> LinkOutcome {
    let config = match l.tier {
        Some(tier) => cfg.tier(tier).map(|t| t.link.clone()).unwrap_or_default(),
        None => cfg.devices.link.clone(),
    };
    LinkOutcome { name: l.name, config, record: l.record }
}

/// This run's share of each device group's devices (slot 0); each device
/// host gets the same with its own slot.
fn shares(ctx: &RunContext, point: &SweepPoint, repetition: u32) -> Vec<Share> {
    let cfg = &point.config;
    let share = |(g, group): (usize, &crate::plan::DeviceGroup)| Share {
        point: point.index,
        repetition,
        seed: ctx.seed,
        devices: group.count,
        slot: 0,
        slots: cfg.devices.slots(),
        input: group.input.clone(),
        load: group.load.clone(),
        tiers: group.tiers.clone(),
        policy: group.policy,
        qos: cfg.broker.qos,
        encoding: cfg.broker.encoding,
        group: g as u16,
        first: group.first,
    };
    cfg.groups.iter().enumerate().map(share).collect()
}

/// Starts the point's rig. A broker that is away when the point starts gets
/// `broker.reconnect_timeout` to come back.
async fn start_rig(
    ctx: &RunContext,
    point: &SweepPoint,
    (repetition, exec): (u32, &str),
    shares: &[Share],
) -> Result<(Rig, Vec<Fleet>), RunError> {
    let waited = point.config.broker.reconnect_timeout;
    let deadline = Instant::now() + waited;
    loop {
        match Rig::start(ctx, point, (repetition, exec), shares).await {
            Ok(started) => return Ok(started),
            Err(RunError::Broker { .. } | RunError::NotMqtt { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(RunError::Broker { url, message } | RunError::NotMqtt { url, message }) => {
                let message = format!("{message} (still, after broker.reconnect_timeout {waited:?})");
                return Err(RunError::broker(&url, message));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A link for `config`, or none when it is transparent and not `always`.
///
/// A link adds its proxy hop (a loopback TCP connection and a task hand-off)
/// on top of its delay. Every tier goes through one at every point, a 0 ms
/// one included, so that a tier's points and the two tiers compare like with
/// like; the harness floor measures the hop once (`floor::Floor::through_link`).
async fn link(
    ctx: &RunContext,
    broker: SocketAddr,
    config: &LinkConfig,
    seed: u64,
    always: bool,
) -> Result<Option<Link>, RunError> {
    if config.is_transparent() && !always {
        return Ok(None);
    }
    Ok(Some(Link::start(broker, config.clone(), seed, ctx.timer.clone()).await?))
}

impl Rig {
    /// Links, this run's share of each group's devices (`shares`), local
    /// workers, and the remote ones' jobs.
    async fn start(
        ctx: &RunContext,
        point: &SweepPoint,
        (repetition, exec): (u32, &str),
        shares: &[Share],
    ) -> Result<(Rig, Vec<Fleet>), RunError> {
        let cfg = &point.config;
        let broker = resolve(&cfg.broker).await?;
        let mut links = Vec::new();
        let mut fleets = Vec::new();
        for (share, group) in shares.iter().zip(&cfg.groups) {
            let stream = if share.group == 0 { 0 } else { GROUP_LINKS + u64::from(share.group) };
            let device_seed = seeds::link(ctx.seed, point.index, repetition, stream);
            let device_link = link(ctx, broker, &group.link, device_seed, ctx.device_link_everywhere).await?;
            // The collector stands for the devices' receiving side: it sits behind their link.
            let device_addr = device_link.as_ref().map_or(broker, Link::addr);
            if let Some(l) = device_link {
                let name = if cfg.grouped() { format!("devices.{}", group.name) } else { "devices".to_string() };
                links.push((name, l));
            }
            fleets.push(Fleet::open(&ctx.run_id, exec, share, &cfg.broker, device_addr).await?);
        }
        let workers = start_workers(ctx, point, repetition, broker, &mut links).await?;
        let remote = match &ctx.pools {
            Some(pools) => {
                start_remote(ctx, pools, point, (repetition, exec)).await?;
                Some((pools.clone(), exec.to_string()))
            }
            None => None,
        };
        Ok((Rig { links, workers, remote }, fleets))
    }

    /// Resolves when any worker's serving task ends, or a remote worker or
    /// device host leaves, naming it; never otherwise.
    async fn first_death(&self) -> RunError {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if let Some(name) = self.workers.iter().find_map(|(_, w, _)| w.died()) {
                return RunError::WorkerDied(format!("{name} stopped serving during the point"));
            }
            if let Some(gone) = self.remote.as_ref().and_then(|(pools, _)| pools.gone()) {
                return RunError::Left(gone);
            }
        }
    }

    /// Starts the links' records and outage clocks.
    fn arm(&mut self, measure_start: Instant) {
        for (_, link) in &mut self.links {
            link.arm(measure_start);
        }
    }

    /// Disconnects everything; returns what the workers and links counted.
    async fn stop(self, point: &SweepPoint, models: &ModelShelf) -> Result<Teardown, RunError> {
        let mut rejected: Vec<(Tier, u64)> = point.config.tiers.iter().map(|t| (t.tier, 0)).collect();
        let mut unanswered = rejected.clone();
        let mut count = |tier: Tier, (r, u): (u64, u64)| {
            for (counts, n) in [(&mut rejected, r), (&mut unanswered, u)] {
                if let Some(c) = counts.iter_mut().find(|(t, _)| *t == tier) {
                    c.1 += n;
                }
            }
        };
        for (tier, w, (path, threads)) in self.workers {
            count(tier, w.counts());
            let model = w.stop().await?;
            models.put(&path, threads, model);
        }
        let mut remote_links = Vec::new();
        if let Some((pools, exec)) = &self.remote {
            let (counts, records) = pools.stop(exec).await?;
            for (tier, r, u) in counts {
                count(tier, (r, u));
            }
            remote_links.extend(records.into_iter().map(|l| member_link(&point.config, l)));
        }
        let mut links = Vec::new();
        for (name, link) in self.links {
            let config = link.config().clone();
            links.push(LinkOutcome { name, config, record: link.shutdown().await });
        }
        links.extend(remote_links);
        Ok(Teardown { rejected, unanswered, links })
    }
}

/// Starts each tier's link and workers; the links join `links`.
async fn start_workers(
    ctx: &RunContext,
    point: &SweepPoint,
    repetition: u32,
    broker: SocketAddr,
    links: &mut Vec<(String, Link)>,
) -> Result<Vec<(Tier, Worker, ModelKey)>, RunError> {
    let cfg = &point.config;
    let mut workers = Vec::new();
    for (i, tier_cfg) in cfg.tiers.iter().enumerate() {
        if tier_cfg.remote.is_some() {
            continue; // its workers connect from their own hosts (`start_remote`)
        }
        let seed = seeds::link(ctx.seed, point.index, repetition, 1 + i as u64);
        let tier_link = link(ctx, broker, &tier_cfg.link, seed, true).await?;
        let addr = tier_link.as_ref().map_or(broker, Link::addr);
        if let Some(l) = tier_link {
            links.push((tier_cfg.tier.to_string(), l));
        }
        let (path, features) = worker_model(cfg, tier_cfg);
        for index in 0..tier_cfg.workers {
            let threads = tier_cfg.threads.unwrap_or(1);
            let model = ctx.models.take(&path, threads)?;
            let spec = WorkerSpec {
                run_id: ctx.run_id.clone(),
                tier: tier_cfg.tier,
                index,
                label: None,
                features,
                qos: cfg.broker.qos,
                addr,
                broker: cfg.broker.clone(),
                shared: tier_cfg.workers > 1,
                slowdown: tier_cfg.slowdown,
                slots: tier_cfg.slots,
                queue_limit: tier_cfg.queue_limit,
                batching: tier_cfg.batching,
                offload: offload(ctx, cfg, tier_cfg.tier),
                split: forwarding(ctx, cfg, tier_cfg.tier),
            };
            let worker = Worker::start(spec, model, ctx.timer.clone()).await?;
            workers.push((tier_cfg.tier, worker, (path.clone(), threads)));
        }
    }
    Ok(workers)
}

/// The model a tier's workers load and the values a request to them holds:
/// the tier's model and the devices' samples, or under `placement:
/// partition` the head (the devices' samples) or the tail (the cut's tensor).
fn worker_model(cfg: &crate::plan::PointConfig, t: &crate::plan::TierConfig) -> (std::path::PathBuf, usize) {
    let samples = cfg.devices.input.values();
    let Some(split) = &cfg.partition else { return (t.model.clone(), samples) };
    match (t.tier, split.parts.as_ref().filter(|p| p.models.is_some())) {
        (Tier::Cloud, Some(parts)) => (split.model_of(t.tier), parts.shape.iter().product()),
        _ => (split.model_of(t.tier), samples),
    }
}

/// How an edge worker hands requests on to the cloud under `placement:
/// partition`, unless the cut is `output` (the edge answers).
fn forwarding(ctx: &RunContext, cfg: &crate::plan::PointConfig, tier: Tier) -> Option<Forwarding> {
    let split = cfg.partition.as_ref().filter(|s| tier == Tier::Edge && !s.all_edge())?;
    Some(Forwarding {
        cloud: wire::prefix(&ctx.run_id, Tier::Cloud, Topic::Request),
        at: split.at.clone(),
        shape: split.parts.as_ref().map(|p| p.shape.clone()).unwrap_or_default(),
        raw: split.all_cloud(),
    })
}

/// Where an edge worker forwards under `placement: offload` (the cloud's
/// request topic, to which it adds the slot the request came from), and
/// from how many.
fn offload(ctx: &RunContext, cfg: &crate::plan::PointConfig, tier: Tier) -> Option<(u32, String)> {
    match cfg.policy {
        Some(Policy::Offload { queue }) if tier == Tier::Edge => {
            Some((queue, wire::prefix(&ctx.run_id, Tier::Cloud, Topic::Request)))
        }
        _ => None,
    }
}

/// Has each remotely served tier's pool workers serve this execution.
/// A tier whose link delays it at some point of the plan has each worker
/// run it, at every point (`RunContext::remote_links`).
async fn start_remote(
    ctx: &RunContext,
    pools: &super::pool::Pools,
    point: &SweepPoint,
    (repetition, exec): (u32, &str),
) -> Result<(), RunError> {
    let cfg = &point.config;
    for (i, t) in cfg.tiers.iter().enumerate().filter(|(_, t)| t.remote.is_some()) {
        let link = ctx.remote_links.contains(&t.tier).then(|| RemoteLink {
            config: t.link.clone(),
            seed: seeds::link(ctx.seed, point.index, repetition, WORKER_LINKS + i as u64),
        });
        let spec = super::pool::JobSpec {
            tier: t.tier,
            features: cfg.devices.input.values(),
            qos: cfg.broker.qos,
            shared: t.workers > 1,
            sha256: String::new(), // `Pools::start` gives the hash it claimed the workers for
            offload: offload(ctx, cfg, t.tier),
            link,
        };
        pools.start(t.tier, exec, &spec).await?;
    }
    Ok(())
}

/// What a point's rig counted by the time it was taken down.
struct Teardown {
    /// Malformed requests each tier's workers rejected.
    rejected: Vec<(Tier, u64)>,
    /// Of those, how many got no error reply.
    unanswered: Vec<(Tier, u64)>,
    links: Vec<LinkOutcome>,
}
