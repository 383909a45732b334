//! One execution of one sweep point.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::broker::{qos, resolve, Connection, Received};
use super::collector::{join, micros_since, Answers, Sent};
use super::link::{Link, LinkRecord};
use super::loadgen::{feature_rng, Device, Schedule};
use super::timer::PreciseTimer;
use super::worker::{Worker, WorkerSpec};
use super::{RunError, RunEvent};
use crate::backend;
use crate::plan::{LinkConfig, SweepPoint, Tier};
use crate::sample::{Sample, Status};
use crate::wire;

/// Lead time between setting up a point and its first request.
const LEAD: Duration = Duration::from_millis(50);

/// What a run shares between its points.
pub struct RunContext {
    pub run_id: String,
    /// Time zero of every `*_us` value in the run's samples.
    pub epoch: Instant,
    pub seed: u64,
    pub timer: PreciseTimer,
    pub events: mpsc::UnboundedSender<RunEvent>,
}

/// What one link of a point execution was asked to do and did.
#[derive(Debug, Clone)]
pub struct LinkOutcome {
    /// `edge`, `cloud` or `devices`.
    pub name: String,
    pub config: LinkConfig,
    pub record: LinkRecord,
}

/// The samples and counters of one point execution.
#[derive(Debug)]
pub struct PointOutcome {
    pub samples: Vec<Sample>,
    /// Malformed requests each tier's workers rejected.
    pub rejected: Vec<(Tier, u64)>,
    pub links: Vec<LinkOutcome>,
    pub unknown_responses: u64,
    pub duplicate_responses: u64,
    pub started_us: u64,
    pub finished_us: u64,
}

/// Everything one point execution connects: links, workers, devices, collector.
struct Rig {
    links: Vec<(String, Link)>,
    workers: Vec<(Tier, Worker)>,
    devices: Vec<Connection>,
    collector: Connection,
}

/// Runs `point` once (`repetition`), from connecting to tearing down.
pub async fn run_point(ctx: &RunContext, point: &SweepPoint, repetition: u32) -> Result<PointOutcome, RunError> {
    let cfg = &point.config;
    let started_us = micros_since(ctx.epoch, Instant::now());
    let exec = format!("{}.{}", point.index, repetition);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (mut rig, devices) = Rig::start(ctx, point, repetition, &exec, tx).await?;

    let (warm, measured) = cfg.load.request_counts();
    let schedule = Schedule {
        t0: Instant::now() + LEAD,
        rate_hz: cfg.load.rate_hz,
        warmup: warm,
        total: warm + measured,
        devices: cfg.devices.count,
    };
    rig.arm(schedule.due(warm));
    let _ = ctx.events.send(RunEvent::PointStarted {
        index: point.index,
        repetition,
        label: point.label(),
        requests: schedule.total,
        tiers: cfg.tiers.len(),
    });
    let sent_count = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = devices
        .into_iter()
        .map(|d| tokio::spawn(d.run(schedule, ctx.epoch, ctx.timer.clone(), sent_count.clone())))
        .collect();
    let prefix = format!("{}/{exec}/", ctx.run_id);
    let tiers: Vec<Tier> = cfg.tiers.iter().map(|t| t.tier).collect();
    let deadline = schedule.last_due() + cfg.load.timeout;
    let answers = collect(ctx, &mut rx, &tiers, &prefix, schedule, deadline, &sent_count).await;

    let mut sent: Vec<Sent> = Vec::with_capacity(schedule.total as usize);
    for task in senders {
        sent.extend(task.await.map_err(|e| RunError::WorkerDied(format!("load generator: {e}")))?);
    }
    sent.sort_by_key(|s| s.seq);
    let samples = join(point.index, repetition, &tiers, &sent, &answers, cfg.load.timeout);
    let (rejected, links) = rig.stop(point).await?;

    let count = |s: Status| samples.iter().filter(|x| x.status == s).count() as u64;
    let _ = ctx.events.send(RunEvent::PointFinished {
        index: point.index,
        repetition,
        ok: count(Status::Ok),
        timeouts: count(Status::Timeout),
        errors: count(Status::Error),
    });
    Ok(PointOutcome {
        samples,
        rejected,
        links,
        unknown_responses: answers.unknown,
        duplicate_responses: answers.duplicates,
        started_us,
        finished_us: micros_since(ctx.epoch, Instant::now()),
    })
}

/// A seed for one link of one point execution.
fn link_seed(ctx: &RunContext, point: usize, repetition: u32, link: u64) -> u64 {
    ctx.seed
        .wrapping_add(u64::from(repetition))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add((point as u64) << 8 | link)
}

async fn maybe_link(
    ctx: &RunContext,
    broker: SocketAddr,
    config: &LinkConfig,
    seed: u64,
) -> Result<Option<Link>, RunError> {
    if config.is_transparent() {
        return Ok(None);
    }
    Ok(Some(Link::start(broker, config.clone(), seed, ctx.timer.clone()).await?))
}

impl Rig {
    async fn start(
        ctx: &RunContext,
        point: &SweepPoint,
        repetition: u32,
        exec: &str,
        responses: mpsc::UnboundedSender<Received>,
    ) -> Result<(Rig, Vec<Device>), RunError> {
        let cfg = &point.config;
        let broker = resolve(&cfg.broker).await?;
        let url = &cfg.broker.url;
        let mut links = Vec::new();
        let device_link =
            maybe_link(ctx, broker, &cfg.devices.link, link_seed(ctx, point.index, repetition, 0)).await?;
        // The collector stands for the devices' receiving side: it sits behind their link.
        let device_addr = device_link.as_ref().map_or(broker, Link::addr);
        if let Some(l) = device_link {
            links.push(("devices".to_string(), l));
        }
        let topics: Vec<(String, rumqttc::QoS)> = cfg
            .tiers
            .iter()
            .flat_map(|t| ["response", "error"].map(|k| (wire::topic(&ctx.run_id, t.tier, k), qos(cfg.broker.qos))))
            .collect();
        let collector_id = format!("simrun-{}-collector-{exec}", ctx.run_id);
        let collector = Connection::open(&collector_id, device_addr, url, &topics, Some(responses)).await?;

        let mut workers = Vec::new();
        for (i, tier_cfg) in cfg.tiers.iter().enumerate() {
            let seed = link_seed(ctx, point.index, repetition, 1 + i as u64);
            let link = maybe_link(ctx, broker, &tier_cfg.link, seed).await?;
            let addr = link.as_ref().map_or(broker, Link::addr);
            if let Some(l) = link {
                links.push((tier_cfg.tier.to_string(), l));
            }
            for index in 0..tier_cfg.workers {
                let model = backend::load(tier_cfg.tier, &tier_cfg.model)?;
                let spec = WorkerSpec {
                    run_id: ctx.run_id.clone(),
                    tier: tier_cfg.tier,
                    index,
                    features: cfg.devices.features,
                    qos: cfg.broker.qos,
                    addr,
                    broker_url: url.clone(),
                };
                workers.push((tier_cfg.tier, Worker::start(spec, model).await?));
            }
        }

        let request_topics: Vec<String> =
            cfg.tiers.iter().map(|t| wire::topic(&ctx.run_id, t.tier, "request")).collect();
        let mut devices = Vec::new();
        let mut conns = Vec::new();
        for index in 0..cfg.devices.count {
            let id = format!("simrun-{}-dev{index}-{exec}", ctx.run_id);
            let conn = Connection::open(&id, device_addr, url, &[], None).await?;
            devices.push(Device {
                index,
                client: conn.client.clone(),
                topics: request_topics.clone(),
                qos: qos(cfg.broker.qos),
                features: cfg.devices.features,
                id_prefix: format!("{}/{exec}/", ctx.run_id),
                rng: feature_rng(ctx.seed.wrapping_add(u64::from(repetition)), point.index, index),
            });
            conns.push(conn);
        }
        Ok((Rig { links, workers, devices: conns, collector }, devices))
    }

    /// Starts the links' records and outage clocks.
    fn arm(&mut self, measure_start: Instant) {
        for (_, link) in &mut self.links {
            link.arm(measure_start);
        }
    }

    /// Disconnects everything; returns each tier's rejected count and the links' records.
    async fn stop(self, point: &SweepPoint) -> Result<(Vec<(Tier, u64)>, Vec<LinkOutcome>), RunError> {
        for conn in self.devices {
            conn.close().await;
        }
        self.collector.close().await;
        let mut rejected: Vec<(Tier, u64)> = point.config.tiers.iter().map(|t| (t.tier, 0)).collect();
        for (tier, w) in self.workers {
            if let Some(r) = rejected.iter_mut().find(|(t, _)| *t == tier) {
                r.1 += w.counters.rejected.load(Ordering::Relaxed);
            }
            w.stop().await?;
        }
        let mut links = Vec::new();
        for (name, link) in self.links {
            let config = link.config().clone();
            links.push(LinkOutcome { name, config, record: link.shutdown().await });
        }
        Ok((rejected, links))
    }
}

/// Receives answers until every request of every tier has one, or the last
/// request's timeout has passed.
async fn collect(
    ctx: &RunContext,
    rx: &mut mpsc::UnboundedReceiver<Received>,
    tiers: &[Tier],
    prefix: &str,
    schedule: Schedule,
    deadline: Instant,
    sent: &AtomicU64,
) -> Answers {
    let mut answers = Answers::default();
    let expected = schedule.total * tiers.len() as u64;
    let mut next_progress = Instant::now();
    let response_topics: Vec<(String, Tier, bool)> = tiers
        .iter()
        .flat_map(|&t| {
            [(wire::topic(&ctx.run_id, t, "response"), t, false), (wire::topic(&ctx.run_id, t, "error"), t, true)]
        })
        .collect();
    let progress =
        |sent: &AtomicU64| RunEvent::Progress { sent: sent.load(Ordering::Relaxed), requests: schedule.total };
    while (answers.by_request.len() as u64) < expected {
        let wait =
            tokio::time::timeout_at(deadline.into(), tokio::time::timeout(Duration::from_millis(100), rx.recv()));
        match wait.await {
            Err(_) | Ok(Ok(None)) => break,
            Ok(Err(_)) => {}
            Ok(Ok(Some((at, publish)))) => {
                if let Some((_, tier, is_error)) = response_topics.iter().find(|(t, _, _)| *t == publish.topic) {
                    let received_us = micros_since(ctx.epoch, at);
                    answers.record(*tier, &publish.payload, *is_error, received_us, prefix, schedule.total);
                }
            }
        }
        if Instant::now() >= next_progress {
            next_progress = Instant::now() + Duration::from_millis(100);
            let _ = ctx.events.send(progress(sent));
        }
    }
    let _ = ctx.events.send(progress(sent));
    answers
}
