//! One execution of one sweep point.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::broker::{qos, resolve, Connection, Received};
use super::collector::{join, micros_since, Answers, Sent};
use super::link::Link;
use super::loadgen::{feature_rng, Device, Schedule};
use super::timer::PreciseTimer;
use super::worker::{Worker, WorkerSpec};
use super::{RunError, RunEvent};
use crate::backend;
use crate::plan::{PointConfig, SweepPoint, Tier};
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

/// The samples and counters of one point execution.
#[derive(Debug)]
pub struct PointOutcome {
    pub samples: Vec<Sample>,
    /// Malformed requests each tier's workers rejected.
    pub rejected: Vec<(Tier, u64)>,
    pub unknown_responses: u64,
    pub duplicate_responses: u64,
    pub started_us: u64,
    pub finished_us: u64,
}

struct TierRig {
    tier: Tier,
    link: Option<Link>,
    workers: Vec<Worker>,
}

/// Runs `point` once (`repetition`), from connecting to tearing down.
pub async fn run_point(ctx: &RunContext, point: &SweepPoint, repetition: u32) -> Result<PointOutcome, RunError> {
    let cfg = &point.config;
    let started_us = micros_since(ctx.epoch, Instant::now());
    let broker_addr = resolve(&cfg.broker).await?;
    let exec = format!("{}.{}", point.index, repetition);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let topics: Vec<(String, rumqttc::QoS)> = cfg
        .tiers
        .iter()
        .flat_map(|t| ["response", "error"].map(|k| (wire::topic(&ctx.run_id, t.tier, k), qos(cfg.broker.qos))))
        .collect();
    let collector_id = format!("simrun-{}-collector-{exec}", ctx.run_id);
    let collector = Connection::open(&collector_id, broker_addr, &cfg.broker.url, &topics, Some(tx)).await?;
    let rigs = start_tiers(ctx, cfg, broker_addr).await?;
    let devices = start_devices(ctx, point, repetition, broker_addr, &exec).await?;

    let (warm, measured) = cfg.load.request_counts();
    let schedule = Schedule {
        t0: Instant::now() + LEAD,
        rate_hz: cfg.load.rate_hz,
        warmup: warm,
        total: warm + measured,
        devices: cfg.devices.count,
    };
    let _ = ctx.events.send(RunEvent::PointStarted {
        index: point.index,
        repetition,
        label: point.label(),
        requests: schedule.total,
        tiers: cfg.tiers.len(),
    });
    let sent_count = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    let mut device_conns = Vec::new();
    for (device, conn) in devices {
        let run = device.run(schedule, ctx.epoch, ctx.timer.clone(), sent_count.clone());
        senders.push(tokio::spawn(run));
        device_conns.push(conn);
    }
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

    for conn in device_conns {
        conn.close().await;
    }
    collector.close().await;
    let mut rejected = Vec::new();
    for rig in rigs {
        let mut count = 0;
        for w in rig.workers {
            count += w.counters.rejected.load(Ordering::Relaxed);
            w.stop().await?;
        }
        if let Some(link) = rig.link {
            link.shutdown().await;
        }
        rejected.push((rig.tier, count));
    }
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
        unknown_responses: answers.unknown,
        duplicate_responses: answers.duplicates,
        started_us,
        finished_us: micros_since(ctx.epoch, Instant::now()),
    })
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
    while (answers.by_request.len() as u64) < expected {
        let wait =
            tokio::time::timeout_at(deadline.into(), tokio::time::timeout(Duration::from_millis(100), rx.recv()));
        match wait.await {
            Err(_) => break,
            Ok(Err(_)) => {}
            Ok(Ok(None)) => break,
            Ok(Ok(Some((at, publish)))) => {
                if let Some((_, tier, is_error)) = response_topics.iter().find(|(t, _, _)| *t == publish.topic) {
                    let received_us = micros_since(ctx.epoch, at);
                    answers.record(*tier, &publish.payload, *is_error, received_us, prefix, schedule.total);
                }
            }
        }
        if Instant::now() >= next_progress {
            next_progress = Instant::now() + Duration::from_millis(100);
            let _ =
                ctx.events.send(RunEvent::Progress { sent: sent.load(Ordering::Relaxed), requests: schedule.total });
        }
    }
    let _ = ctx.events.send(RunEvent::Progress { sent: sent.load(Ordering::Relaxed), requests: schedule.total });
    answers
}

async fn start_tiers(ctx: &RunContext, cfg: &PointConfig, broker_addr: SocketAddr) -> Result<Vec<TierRig>, RunError> {
    let mut rigs = Vec::new();
    for tier_cfg in &cfg.tiers {
        let link = if tier_cfg.link.latency.is_zero() {
            None
        } else {
            Some(Link::start(broker_addr, tier_cfg.link.clone(), ctx.timer.clone()).await?)
        };
        let addr = link.as_ref().map_or(broker_addr, Link::addr);
        let mut workers = Vec::new();
        for index in 0..tier_cfg.workers {
            let model = backend::load(tier_cfg.tier, &tier_cfg.model)?;
            let spec = WorkerSpec {
                run_id: ctx.run_id.clone(),
                tier: tier_cfg.tier,
                index,
                features: cfg.devices.features,
                qos: cfg.broker.qos,
                addr,
                broker_url: cfg.broker.url.clone(),
            };
            workers.push(Worker::start(spec, model).await?);
        }
        rigs.push(TierRig { tier: tier_cfg.tier, link, workers });
    }
    Ok(rigs)
}

async fn start_devices(
    ctx: &RunContext,
    point: &SweepPoint,
    repetition: u32,
    broker_addr: SocketAddr,
    exec: &str,
) -> Result<Vec<(Device, Connection)>, RunError> {
    let cfg = &point.config;
    let topics: Vec<String> = cfg.tiers.iter().map(|t| wire::topic(&ctx.run_id, t.tier, "request")).collect();
    let mut out = Vec::new();
    for index in 0..cfg.devices.count {
        let id = format!("simrun-{}-dev{index}-{exec}", ctx.run_id);
        let conn = Connection::open(&id, broker_addr, &cfg.broker.url, &[], None).await?;
        let device = Device {
            index,
            client: conn.client.clone(),
            topics: topics.clone(),
            qos: qos(cfg.broker.qos),
            features: cfg.devices.features,
            id_prefix: format!("{}/{exec}/", ctx.run_id),
            rng: feature_rng(ctx.seed.wrapping_add(u64::from(repetition)), point.index, index),
        };
        out.push((device, conn));
    }
    Ok(out)
}
