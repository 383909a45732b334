//! One execution of one sweep point.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::broker::{qos, resolve, Connection, Received};
use super::collector::{micros_since, Collector, Decided};
use super::link::Link;
use super::loadgen::{Device, DeviceEvent, DeviceIo, OpenSchedule, Pacing, Routing, Samples};
use super::timer::PreciseTimer;
use super::worker::{Worker, WorkerSpec};
use super::{RunError, RunEvent};
use crate::backend;
use crate::plan::{Arrival, LinkConfig, Policy, SweepPoint, Tier};
use crate::record::{Counts, LinkOutcome, Sample, Unmatched};
use crate::seeds;
use crate::wire::{self, Topic};

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
    /// Put the devices behind a link at every point, a 0 ms one included,
    /// because some point of the plan delays them: so that points differ only
    /// by what their links add, not by the proxy hop.
    pub device_link_everywhere: bool,
    /// The remote pools the run claimed, when a tier is served by one.
    pub pools: Option<Arc<super::pool::Pools>>,
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
}

/// Everything one point execution connects: links, workers, devices, collector.
struct Rig {
    links: Vec<(String, Link)>,
    workers: Vec<(Tier, Worker)>,
    /// Set when some tier is served by a remote pool, with this execution's name.
    remote: Option<(Arc<super::pool::Pools>, String)>,
    devices: Vec<Connection>,
    collector: Connection,
}

/// Runs `point` once (`repetition`), from connecting to tearing down. Every
/// request yields one sample per tier on `samples`, as soon as it is settled.
pub async fn run_point(
    ctx: &RunContext,
    point: &SweepPoint,
    repetition: u32,
    samples: mpsc::UnboundedSender<Sample>,
) -> Result<PointOutcome, RunError> {
    let cfg = &point.config;
    let exec = format!("{}.{}", point.index, repetition);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let decided = Decided::default();
    let (mut rig, devices) = start_rig(ctx, point, repetition, &exec, tx.clone(), &decided).await?;
    drop(tx);

    let seed = seeds::execution(ctx.seed, point.index, repetition);
    let pacing = pacing(Instant::now() + LEAD, cfg, seed);
    rig.arm(pacing.measure_start());
    let _ = ctx.events.send(RunEvent::PointStarted {
        index: point.index,
        repetition,
        label: point.label(),
        requests: pacing.planned().unwrap_or(0),
        tiers: cfg.tiers.len(),
    });
    let sent_count = Arc::new(AtomicU64::new(0));
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let mut settled_txs = Vec::new();
    let mut senders = Vec::new();
    for d in devices {
        let (settled_tx, settled) = mpsc::unbounded_channel();
        settled_txs.push(settled_tx);
        let io = DeviceIo {
            epoch: ctx.epoch,
            timer: ctx.timer.clone(),
            events: events_tx.clone(),
            settled,
            sent_count: sent_count.clone(),
        };
        senders.push(tokio::spawn(d.run(pacing.clone(), io)));
    }
    drop(events_tx);
    let tiers: Vec<Tier> = cfg.tiers.iter().map(|t| t.tier).collect();
    let prefix = format!("{}/{exec}/", ctx.run_id);
    let mut collector = Collector::new(point.index, repetition, &tiers, prefix, cfg.load.timeout.as_micros() as u64)
        .with_policy(cfg.policy, decided);
    let streams = Streams {
        clients: rig.devices.iter().map(|c| c.client.clone()).collect(),
        qos: qos(cfg.broker.qos),
        events: events_rx,
        answers: &mut rx,
        settled: settled_txs,
        samples,
        sent: &sent_count,
        counts: Counts::default(),
    };
    let health = rig.collector.health.clone();
    let watch = BrokerWatch { health: &health, url: &cfg.broker.url, limit: cfg.broker.reconnect_timeout };
    let counts = tokio::select! {
        counts = collect(ctx, &mut collector, streams, &tiers, pacing.planned(), watch) => counts?,
        death = rig.first_death() => return Err(RunError::WorkerDied(death)),
    };
    for task in senders {
        task.await.map_err(|e| RunError::WorkerDied(format!("load generator: {e}")))?;
    }
    let Teardown { rejected, unanswered, links } = rig.stop(point).await?;
    let (ok, timeouts, errors) = (counts.ok, counts.timeouts, counts.errors);
    let _ = ctx.events.send(RunEvent::PointFinished { index: point.index, repetition, ok, timeouts, errors });
    Ok(PointOutcome { rejected, unanswered, links, unmatched: collector.unmatched, broker_outages: health.outages() })
}

/// Starts the point's rig. A broker that is away when the point starts gets
/// `broker.reconnect_timeout` to come back.
async fn start_rig(
    ctx: &RunContext,
    point: &SweepPoint,
    repetition: u32,
    exec: &str,
    answers: mpsc::UnboundedSender<Received>,
    decided: &Decided,
) -> Result<(Rig, Vec<Device>), RunError> {
    let waited = point.config.broker.reconnect_timeout;
    let deadline = Instant::now() + waited;
    loop {
        match Rig::start(ctx, point, repetition, exec, answers.clone(), decided).await {
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

/// How the devices of this point execution pace their requests.
fn pacing(t0: Instant, cfg: &crate::plan::PointConfig, seed: u64) -> Pacing {
    let load = &cfg.load;
    match load.arrival {
        Arrival::Closed => Pacing::Closed {
            t0,
            warmup_end: t0 + load.warmup,
            end: t0 + load.warmup + load.duration,
            concurrency: load.concurrency,
            think: load.think,
            devices: cfg.devices.count,
        },
        _ => Pacing::Open(OpenSchedule::new(t0, load, cfg.devices.count, seed)),
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
    async fn start(
        ctx: &RunContext,
        point: &SweepPoint,
        repetition: u32,
        exec: &str,
        responses: mpsc::UnboundedSender<Received>,
        decided: &Decided,
    ) -> Result<(Rig, Vec<Device>), RunError> {
        let cfg = &point.config;
        let broker = resolve(&cfg.broker).await?;
        let mut links = Vec::new();
        let device_seed = seeds::link(ctx.seed, point.index, repetition, 0);
        let device_link = link(ctx, broker, &cfg.devices.link, device_seed, ctx.device_link_everywhere).await?;
        // The collector stands for the devices' receiving side: it sits behind their link.
        let device_addr = device_link.as_ref().map_or(broker, Link::addr);
        if let Some(l) = device_link {
            links.push(("devices".to_string(), l));
        }
        let mut topics: Vec<(String, rumqttc::QoS)> = cfg
            .tiers
            .iter()
            .flat_map(|t| {
                [Topic::Response, Topic::Error].map(|k| (wire::topic(&ctx.run_id, t.tier, k), qos(cfg.broker.qos)))
            })
            .collect();
        if let Some(Policy::Offload { .. }) = cfg.policy {
            topics.push((wire::topic(&ctx.run_id, Tier::Edge, Topic::Offloaded), qos(cfg.broker.qos)));
        }
        let collector_id = format!("simrun-{}-collector-{exec}", ctx.run_id);
        let collector = Connection::open(&collector_id, device_addr, &cfg.broker, &topics, Some(responses)).await?;

        let workers = start_workers(ctx, point, repetition, broker, &mut links).await?;
        let remote = match &ctx.pools {
            Some(pools) if cfg.tiers.iter().any(|t| t.remote.is_some()) => {
                start_remote(ctx, pools, cfg, exec).await?;
                Some((pools.clone(), exec.to_string()))
            }
            _ => None,
        };

        let request_topics: Vec<String> =
            cfg.tiers.iter().map(|t| wire::topic(&ctx.run_id, t.tier, Topic::Request)).collect();
        let samples = Samples::new(&cfg.devices.input, seeds::rows(ctx.seed, point.index, repetition));
        let routing = cfg.policy.map(|policy| Routing {
            policy,
            edge: Arc::from([wire::topic(&ctx.run_id, Tier::Edge, Topic::Request)]),
            cloud: Arc::from([wire::topic(&ctx.run_id, Tier::Cloud, Topic::Request)]),
            execution: seeds::execution(ctx.seed, point.index, repetition),
            decided: decided.clone(),
        });
        let mut devices = Vec::new();
        let mut conns = Vec::new();
        for index in 0..cfg.devices.count {
            let id = format!("simrun-{}-dev{index}-{exec}", ctx.run_id);
            let conn = Connection::open(&id, device_addr, &cfg.broker, &[], None).await?;
            devices.push(Device {
                index,
                name: format!("dev-{index:03}"),
                client: conn.client.clone(),
                topics: request_topics.clone().into(),
                qos: qos(cfg.broker.qos),
                samples: samples.clone(),
                shape: cfg.devices.input.shape.clone().into(),
                encoding: cfg.broker.encoding,
                id_prefix: format!("{}/{exec}/", ctx.run_id),
                rng: seeds::features(ctx.seed, point.index, repetition, index),
                routing: routing.clone(),
            });
            conns.push(conn);
        }
        Ok((Rig { links, workers, remote, devices: conns, collector }, devices))
    }

    /// Resolves when any worker's serving task ends, or a remote worker
    /// leaves, with its name; never otherwise.
    async fn first_death(&self) -> String {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if let Some(name) = self.workers.iter().find_map(|(_, w)| w.died()) {
                return format!("{name} stopped serving during the point");
            }
            if let Some(gone) = self.remote.as_ref().and_then(|(pools, _)| pools.gone()) {
                return gone;
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
    async fn stop(self, point: &SweepPoint) -> Result<Teardown, RunError> {
        for conn in self.devices {
            conn.close().await;
        }
        self.collector.close().await;
        let mut rejected: Vec<(Tier, u64)> = point.config.tiers.iter().map(|t| (t.tier, 0)).collect();
        let mut unanswered = rejected.clone();
        let mut count = |tier: Tier, (r, u): (u64, u64)| {
            for (counts, n) in [(&mut rejected, r), (&mut unanswered, u)] {
                if let Some(c) = counts.iter_mut().find(|(t, _)| *t == tier) {
                    c.1 += n;
                }
            }
        };
        for (tier, w) in self.workers {
            count(tier, w.counts());
            w.stop().await?;
        }
        if let Some((pools, exec)) = &self.remote {
            for (tier, r, u) in pools.stop(exec).await? {
                count(tier, (r, u));
            }
        }
        let mut links = Vec::new();
        for (name, link) in self.links {
            let config = link.config().clone();
            links.push(LinkOutcome { name, config, record: link.shutdown().await });
        }
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
) -> Result<Vec<(Tier, Worker)>, RunError> {
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
        for index in 0..tier_cfg.workers {
            let model = backend::load_threads(&tier_cfg.model, tier_cfg.threads.unwrap_or(1))?;
            let spec = WorkerSpec {
                run_id: ctx.run_id.clone(),
                tier: tier_cfg.tier,
                index,
                label: None,
                features: cfg.devices.input.values(),
                qos: cfg.broker.qos,
                addr,
                broker: cfg.broker.clone(),
                shared: tier_cfg.workers > 1,
                slowdown: tier_cfg.slowdown,
                slots: tier_cfg.slots,
                queue_limit: tier_cfg.queue_limit,
                batching: tier_cfg.batching,
                offload: offload(ctx, cfg, tier_cfg.tier),
            };
            workers.push((tier_cfg.tier, Worker::start(spec, model, ctx.timer.clone()).await?));
        }
    }
    Ok(workers)
}

/// Where an edge worker forwards under `placement: offload`, and from how many.
fn offload(ctx: &RunContext, cfg: &crate::plan::PointConfig, tier: Tier) -> Option<(u32, String)> {
    match cfg.policy {
        Some(Policy::Offload { queue }) if tier == Tier::Edge => {
            Some((queue, wire::topic(&ctx.run_id, Tier::Cloud, Topic::Request)))
        }
        _ => None,
    }
}

/// Has each remotely served tier's pool workers serve this execution.
async fn start_remote(
    ctx: &RunContext,
    pools: &super::pool::Pools,
    cfg: &crate::plan::PointConfig,
    exec: &str,
) -> Result<(), RunError> {
    for t in cfg.tiers.iter().filter(|t| t.remote.is_some()) {
        let spec = super::pool::JobSpec {
            tier: t.tier,
            features: cfg.devices.input.values(),
            qos: cfg.broker.qos,
            shared: t.workers > 1,
            sha256: String::new(), // `Pools::start` gives the hash it claimed the workers for
            offload: offload(ctx, cfg, t.tier),
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

/// The channels the collector loop reads and writes.
struct Streams<'a> {
    events: mpsc::UnboundedReceiver<DeviceEvent>,
    answers: &'a mut mpsc::UnboundedReceiver<Received>,
    /// Per device: one message per settled request (closed loop).
    settled: Vec<mpsc::UnboundedSender<()>>,
    /// Per device: its connection, for what a policy has it send again.
    clients: Vec<rumqttc::AsyncClient>,
    qos: rumqttc::QoS,
    samples: mpsc::UnboundedSender<Sample>,
    sent: &'a AtomicU64,
    /// Samples emitted so far.
    counts: Counts,
}

impl Streams<'_> {
    fn notify(&self, device: Option<u32>) {
        if let Some(tx) = device.and_then(|d| self.settled.get(d as usize)) {
            let _ = tx.send(());
        }
    }

    fn flush(&mut self, out: &mut Vec<Sample>) {
        for s in out.drain(..) {
            self.counts.add(s.status);
            let _ = self.samples.send(s);
        }
    }
}

/// Feeds a device's report to the collector; returns the device if its request settled.
fn on_event(c: &mut Collector, e: DeviceEvent, out: &mut Vec<Sample>) -> Option<u32> {
    match e {
        DeviceEvent::Sent(s) => {
            c.sent(s);
            None
        }
        DeviceEvent::Failed { seq, error } => c.failed(seq, &error, out),
        DeviceEvent::FellBack { seq, reason } => {
            c.fell_back(seq, reason);
            None
        }
    }
}

/// Sends what a policy decided on an answer (the device asks another tier)
/// from the device's own connection.
fn send_asks(collector: &mut Collector, io: &mut Streams<'_>, run_id: &str, out: &mut Vec<Sample>) {
    for ask in collector.take_asks() {
        let Some(client) = io.clients.get(ask.device as usize) else { continue };
        let topic = wire::topic(run_id, ask.tier, Topic::Request);
        if let Err(e) = client.try_publish(topic, io.qos, false, ask.payload.to_vec()) {
            let d = collector.failed(ask.seq, &e.to_string(), out);
            io.notify(d);
        }
    }
}

/// The collector's connection, and how long it may stay down.
struct BrokerWatch<'a> {
    health: &'a super::broker::Health,
    url: &'a str,
    limit: Duration,
}

/// Settles requests until the devices are done and nothing is in flight.
/// Returns how the samples ended; fails when the broker
/// stays lost longer than `broker.reconnect_timeout`.
async fn collect(
    ctx: &RunContext,
    collector: &mut Collector,
    mut io: Streams<'_>,
    tiers: &[Tier],
    planned: Option<u64>,
    watch: BrokerWatch<'_>,
) -> Result<Counts, RunError> {
    let topics: Vec<(String, Tier, bool)> = tiers
        .iter()
        .flat_map(|&t| {
            [
                (wire::topic(&ctx.run_id, t, Topic::Response), t, false),
                (wire::topic(&ctx.run_id, t, Topic::Error), t, true),
            ]
        })
        .collect();
    let offloaded = wire::topic(&ctx.run_id, Tier::Edge, Topic::Offloaded);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut out = Vec::new();
    let mut devices_done = false;
    let mut next_progress = Instant::now();
    let progress =
        |sent: &AtomicU64| RunEvent::Progress { sent: sent.load(Ordering::Relaxed), requests: planned.unwrap_or(0) };
    loop {
        tokio::select! {
            event = io.events.recv(), if !devices_done => match event {
                Some(e) => {
                    let d = on_event(collector, e, &mut out);
                    io.notify(d);
                }
                None => devices_done = true,
            },
            answer = io.answers.recv() => {
                let Some((at, publish)) = answer else { break };
                // A device reports a request before publishing it: take every report
                // already queued, so an answer never arrives before its request.
                while let Ok(e) = io.events.try_recv() {
                    let d = on_event(collector, e, &mut out);
                    io.notify(d);
                }
                if let Some((_, tier, is_error)) = topics.iter().find(|(t, _, _)| *t == publish.topic) {
                    let d = collector.answer(*tier, &publish.payload, *is_error, micros_since(ctx.epoch, at), &mut out);
                    io.notify(d);
                } else if publish.topic == offloaded {
                    collector.offloaded(&publish.payload);
                }
                send_asks(collector, &mut io, &ctx.run_id, &mut out);
            }
            _ = tick.tick() => {
                for d in collector.expire(micros_since(ctx.epoch, Instant::now()), &mut out) {
                    io.notify(Some(d));
                }
                if let Some(down) = watch.health.down_for().filter(|d| *d > watch.limit) {
                    return Err(RunError::broker(
                        watch.url,
                        format!("lost for {:.1} s, longer than broker.reconnect_timeout ({:?})", down.as_secs_f64(), watch.limit),
                    ));
                }
            }
        }
        io.flush(&mut out);
        if Instant::now() >= next_progress {
            next_progress = Instant::now() + Duration::from_millis(100);
            let _ = ctx.events.send(progress(io.sent));
        }
        if devices_done && collector.in_flight() == 0 {
            break;
        }
    }
    collector.expire_all(&mut out);
    io.flush(&mut out);
    let _ = ctx.events.send(progress(io.sent));
    Ok(io.counts)
}
