//! A share of a point execution's devices and the collector that settles
//! their requests: the whole fleet in a run without device hosts, this
//! run's slot of it otherwise, and a device host's slot in `simrun devices`
//! (docs/distributed.md). Latency is measured where the devices run, on one
//! clock, from the intended send time to the answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::broker::{qos, Connection, Received};
use super::collector::{micros_since, Collector, Decided};
use super::lean::{DeviceClient, DeviceConnection};
use super::loadgen::{Device, DeviceEvent, DeviceIo, OpenSchedule, Pacing, Routing, Samples};
use super::timer::PreciseTimer;
use super::{RunError, RunEvent};
use crate::plan::{device_slot, Arrival, BrokerConfig, Encoding, InputConfig, LoadConfig, Policy, Tier};
use crate::record::{Counts, DeviceHostTally, Sample, Unmatched};
use crate::seeds;
use crate::wire::{self, Topic};

/// Which devices of one point execution a fleet runs, and how they send:
/// everything a device host needs to send and settle its share as the
/// run's own process would (it travels in the `drive` job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub point: usize,
    pub repetition: u32,
    /// The scenario's seed: every device draws as it would in one process.
    pub seed: u64,
    /// Devices over every slot.
    pub devices: u32,
    /// This fleet's slot of `slots`: devices `d` with `device_slot(d, slots) == slot`.
    pub slot: u32,
    pub slots: u32,
    pub input: InputConfig,
    pub load: LoadConfig,
    pub tiers: Vec<Tier>,
    pub policy: Option<Policy>,
    pub qos: u8,
    pub encoding: Encoding,
    /// The device group this share's devices are of (0 with one block), and
    /// its first device's index over every group.
    #[serde(default)]
    pub group: u16,
    #[serde(default)]
    pub first: u32,
}

impl Share {
    /// The last level of the topics this share's requests and answers go
    /// on: its slot, kept apart per device group so that each group's
    /// collector hears only its own devices' answers.
    pub fn channel(&self) -> u32 {
        self.slot + u32::from(self.group) * (crate::plan::MAX_DEVICE_HOSTS + 1)
    }

    /// What every request id of this share starts with: `<run-id>/<point>.<rep>/`,
    /// and the group after it for every group but the first (`g2/`).
    pub fn id_prefix(&self, run_id: &str, exec: &str) -> String {
        match self.group {
            0 => format!("{run_id}/{exec}/"),
            g => format!("{run_id}/{exec}/g{g}/"),
        }
    }

    /// Samples a request owes: one per tier, or one under a routing policy.
    pub fn samples_per_request(&self) -> u64 {
        if self.policy.is_some() {
            1
        } else {
            self.tiers.len() as u64
        }
    }

    /// MQTT connections a device opens: two when each request goes to both
    /// tiers (one per copy, docs/measurement.md), else one.
    pub fn connections_per_device(&self) -> u32 {
        if self.policy.is_none() && self.tiers.len() == 2 {
            2
        } else {
            1
        }
    }
}

/// A fleet connected and ready to send.
pub struct Fleet {
    devices: Vec<Device>,
    conns: Vec<DeviceConnection>,
    /// Under `placement: both`: each device's connection for the second tier's copy.
    copies: Vec<DeviceConnection>,
    collector: Connection,
    answers: mpsc::UnboundedReceiver<Received>,
    topics: AnswerTopics,
    settler: Collector,
    qos: rumqttc::QoS,
    run_id: String,
    slots: u32,
    /// The topic channel of this fleet's devices (`Share::channel`), whose answers its collector receives.
    slot: u32,
    /// Its first device's index over every group.
    first: u32,
}

/// Where a fleet's samples and progress go, and its clock.
pub struct FleetIo {
    /// Time zero of the samples' `*_us` values.
    pub epoch: Instant,
    pub timer: PreciseTimer,
    pub events: mpsc::UnboundedSender<RunEvent>,
    pub samples: mpsc::UnboundedSender<Sample>,
}

/// How a fleet's requests ended.
#[derive(Debug, Clone, Default)]
pub struct FleetOutcome {
    /// Devices it ran.
    pub devices: u32,
    /// Requests its devices sent.
    pub sent: u64,
    /// Its samples, by status.
    pub counts: Counts,
    pub unmatched: Unmatched,
    /// Times the collector's connection to the broker was down.
    pub broker_outages: Vec<super::broker::BrokerOutage>,
}

impl FleetOutcome {
    /// Adds another fleet's outcome of the same execution (another device group's).
    pub fn add(&mut self, o: FleetOutcome) {
        self.devices += o.devices;
        self.sent += o.sent;
        self.counts += o.counts;
        self.unmatched += o.unmatched;
        self.broker_outages.extend(o.broker_outages);
    }

    /// What this fleet's host sent and how its samples ended, as the run
    /// reports each device host (`name`, on `host`).
    pub fn tally(&self, share: &Share, name: &str, host: &str) -> DeviceHostTally {
        DeviceHostTally {
            name: name.to_string(),
            host: host.to_string(),
            devices: self.devices,
            sent: self.sent,
            expected: self.sent * share.samples_per_request(),
            ok: self.counts.ok,
            timeouts: self.counts.timeouts,
            errors: self.counts.errors,
        }
    }
}

/// The topics a share's collector hears, all in the share's slot (the
/// answers to its own devices' requests): each tier's answers and errors,
/// and the edge's offload notices.
struct AnswerTopics {
    /// Topic, the tier it is of, and whether it carries error replies.
    answers: Vec<(String, Tier, bool)>,
    offloaded: String,
}

impl AnswerTopics {
    fn new(run_id: &str, tiers: &[Tier], slot: u32) -> AnswerTopics {
        let answers = tiers
            .iter()
            .flat_map(|&t| {
                let topic = |kind| wire::topic(run_id, t, kind, slot);
                [(topic(Topic::Response), t, false), (topic(Topic::Error), t, true)]
            })
            .collect();
        AnswerTopics { answers, offloaded: wire::topic(run_id, Tier::Edge, Topic::Offloaded, slot) }
    }

    /// What the collector subscribes to: the answers, and the offload
    /// notices under the offload policy.
    fn subscriptions(&self, policy: Option<Policy>, q: rumqttc::QoS) -> Vec<(String, rumqttc::QoS)> {
        let offloads = matches!(policy, Some(Policy::Offload { .. } | Policy::Partition));
        let notices = offloads.then(|| (self.offloaded.clone(), q));
        self.answers.iter().map(|(t, _, _)| (t.clone(), q)).chain(notices).collect()
    }
}

/// What every device of a share has in common.
struct DeviceTemplate<'a> {
    request_topics: Arc<[String]>,
    qos: rumqttc::QoS,
    samples: Samples,
    routing: Option<Routing>,
    exec: &'a str,
}

/// The share's devices of this slot, each with its own connection (and a
/// second one when it sends a copy to the other tier).
async fn open_devices(
    run_id: &str,
    share: &Share,
    broker: &BrokerConfig,
    addr: SocketAddr,
    template: DeviceTemplate<'_>,
) -> Result<(Vec<Device>, Vec<DeviceConnection>, Vec<DeviceConnection>), RunError> {
    let DeviceTemplate { request_topics, qos: q, samples, routing, exec } = template;
    let (point, repetition) = (share.point, share.repetition);
    let inflight = super::broker::device_inflight(share.qos, &share.load, share.devices);
    let first = share.first;
    let shape: Arc<[usize]> = share.input.shape.clone().into();
    let id_prefix = share.id_prefix(run_id, exec);
    let mut devices = Vec::new();
    let mut conns = Vec::new();
    let mut copies = Vec::new();
    for place in (0..share.devices).filter(|&d| device_slot(d, share.slots) == share.slot) {
        let index = first + place;
        let id = format!("simrun-{run_id}-dev{index}-{exec}");
        let conn = DeviceConnection::open(&id, addr, broker, inflight).await?;
        let copy = match share.connections_per_device() {
            2 => {
                let id = format!("simrun-{run_id}-dev{index}-{}-{exec}", share.tiers[1]);
                let c = DeviceConnection::open(&id, addr, broker, inflight).await?;
                let client = c.client();
                copies.push(c);
                Some(client)
            }
            _ => None,
        };
        devices.push(Device {
            index,
            place,
            name: format!("dev-{index:03}"),
            client: conn.client(),
            topics: request_topics.clone(),
            copy,
            qos: q,
            samples: samples.clone(),
            shape: shape.clone(),
            encoding: share.encoding,
            id_prefix: id_prefix.clone(),
            rng: seeds::features(share.seed, point, repetition, index),
            routing: routing.clone(),
        });
        conns.push(conn);
    }
    Ok((devices, conns, copies))
}

impl Fleet {
    /// Connects the collector (subscribed to the tiers' answers) and every
    /// device of the share, all to `addr` (the broker, or the devices'
    /// link), with the share's QoS and encoding over `broker`'s login and TLS.
    pub async fn open(
        run_id: &str,
        exec: &str,
        share: &Share,
        broker: &BrokerConfig,
        addr: SocketAddr,
    ) -> Result<Fleet, RunError> {
        let broker = BrokerConfig { qos: share.qos, encoding: share.encoding, ..broker.clone() };
        let q = qos(share.qos);
        let channel = share.channel();
        let topics = AnswerTopics::new(run_id, &share.tiers, channel);
        let mut slot = if share.slots > 1 { format!("-s{}", share.slot) } else { String::new() };
        if share.group > 0 {
            slot.push_str(&format!("-g{}", share.group));
        }
        let (tx, answers) = mpsc::unbounded_channel();
        let collector_id = format!("simrun-{run_id}-collector{slot}-{exec}");
        let subscriptions = topics.subscriptions(share.policy, q);
        let collector = Connection::open(&collector_id, addr, &broker, &subscriptions, Some(tx)).await?;
        let decided = Decided::default();
        let (point, repetition) = (share.point, share.repetition);
        let timeout_us = share.load.timeout.as_micros() as u64;
        let settler = Collector::new(point, repetition, &share.tiers, share.id_prefix(run_id, exec), timeout_us)
            .with_policy(share.policy, decided.clone())
            .with_share(share.devices, share.slot, share.slots)
            .with_group(share.group);
        let request_topics: Arc<[String]> =
            share.tiers.iter().map(|&t| wire::topic(run_id, t, Topic::Request, channel)).collect::<Vec<_>>().into();
        let samples = Samples::new(&share.input, seeds::rows(share.seed, point, repetition));
        let routing = share.policy.map(|policy| Routing {
            policy,
            edge: Arc::from([wire::topic(run_id, Tier::Edge, Topic::Request, channel)]),
            cloud: Arc::from([wire::topic(run_id, Tier::Cloud, Topic::Request, channel)]),
            execution: seeds::execution(share.seed, point, repetition),
            decided,
        });
        let template = DeviceTemplate { request_topics, qos: q, samples, routing, exec };
        let (devices, conns, copies) = open_devices(run_id, share, &broker, addr, template).await?;
        let (slots, slot) = (share.slots, channel);
        let run_id = run_id.to_string();
        let first = share.first;
        Ok(Fleet { devices, conns, copies, collector, answers, topics, settler, qos: q, run_id, slots, slot, first })
    }

    /// Devices in this fleet.
    pub fn devices(&self) -> u32 {
        self.devices.len() as u32
    }

    /// The requests this fleet's devices will send, where known in advance (open loop).
    pub fn planned(&self, pacing: &Pacing) -> Option<u64> {
        match pacing {
            Pacing::Open(s) => Some(self.devices.iter().map(|d| s.device_seqs(d.place).count() as u64).sum()),
            Pacing::Closed { .. } => None,
        }
    }

    /// Sends every device's requests by `pacing` and settles them; returns
    /// once each has settled. Fails when the broker stays lost longer than
    /// `reconnect_timeout`, or a device's task panics.
    pub async fn run(mut self, io: FleetIo, pacing: Pacing, patience: Patience) -> Result<FleetOutcome, RunError> {
        let planned = self.planned(&pacing);
        let sent_count = Arc::new(AtomicU64::new(0));
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut settled = Vec::new();
        let mut senders = Vec::new();
        let devices = self.devices();
        for d in std::mem::take(&mut self.devices) {
            let (settled_tx, settled_rx) = mpsc::unbounded_channel();
            settled.push(settled_tx);
            let dio = DeviceIo {
                epoch: io.epoch,
                timer: io.timer.clone(),
                events: events_tx.clone(),
                settled: settled_rx,
                sent_count: sent_count.clone(),
            };
            senders.push(tokio::spawn(d.run(pacing.clone(), dio)));
        }
        drop(events_tx);
        let streams = Streams {
            clients: self.conns.iter().map(DeviceConnection::client).collect(),
            slots: self.slots,
            first: self.first,
            qos: self.qos,
            events: events_rx,
            answers: &mut self.answers,
            settled,
            samples: io.samples,
            sent: &sent_count,
            counts: Counts::default(),
        };
        let health = self.collector.health.clone();
        let progress = Progress { events: &io.events, planned };
        let watch = BrokerWatch { health: &health, patience };
        let run = Settle { run_id: &self.run_id, slot: self.slot, epoch: io.epoch, topics: &self.topics };
        let counts = collect(run, &mut self.settler, streams, progress, watch).await?;
        for task in senders {
            task.await.map_err(|e| RunError::WorkerDied(format!("load generator: {e}")))?;
        }
        for conn in self.conns.into_iter().chain(self.copies) {
            conn.close().await;
        }
        self.collector.close().await;
        let outcome = FleetOutcome {
            devices,
            sent: sent_count.load(Ordering::Relaxed),
            counts,
            unmatched: self.settler.unmatched,
            broker_outages: health.outages(),
        };
        Ok(outcome)
    }
}

/// How the devices of a point execution pace their requests from `t0`:
/// the same schedule on every host (`seed` is the execution's).
pub fn pacing(t0: Instant, load: &LoadConfig, devices: u32, seed: u64) -> Pacing {
    match load.arrival {
        Arrival::Closed => Pacing::Closed {
            t0,
            warmup_end: t0 + load.warmup,
            end: t0 + load.warmup + load.duration,
            concurrency: load.concurrency,
            think: load.think,
            devices,
        },
        _ => Pacing::Open(OpenSchedule::new(t0, load, devices, seed)),
    }
}

/// How long the collector's broker may stay lost (`broker.reconnect_timeout`).
#[derive(Clone)]
pub struct Patience {
    pub url: String,
    pub limit: Duration,
}

/// The collector's connection, and how long it may stay down.
struct BrokerWatch<'a> {
    health: &'a super::broker::Health,
    patience: Patience,
}

/// What the collector loop settles: the run's topics, its clock's zero.
struct Settle<'a> {
    run_id: &'a str,
    slot: u32,
    epoch: Instant,
    topics: &'a AnswerTopics,
}

/// Where progress goes, and the requests this fleet plans to send.
struct Progress<'a> {
    events: &'a mpsc::UnboundedSender<RunEvent>,
    planned: Option<u64>,
}

/// The channels the collector loop reads and writes.
struct Streams<'a> {
    events: mpsc::UnboundedReceiver<DeviceEvent>,
    answers: &'a mut mpsc::UnboundedReceiver<Received>,
    /// Per device of the fleet, by position: one message per settled request (closed loop).
    settled: Vec<mpsc::UnboundedSender<()>>,
    /// Slots the devices are dealt over: a slot holds devices `slot`,
    /// `slot + slots`, …, so device `d` is at position `d / slots`.
    slots: u32,
    /// The fleet's first device's index over every group.
    first: u32,
    /// Per device: its connection, for what a policy has it send again.
    clients: Vec<DeviceClient>,
    qos: rumqttc::QoS,
    samples: mpsc::UnboundedSender<Sample>,
    sent: &'a AtomicU64,
    /// Samples emitted so far.
    counts: Counts,
}

impl Streams<'_> {
    fn position(&self, device: u32) -> usize {
        (device.saturating_sub(self.first) / self.slots.max(1)) as usize
    }

    fn notify(&self, device: Option<u32>) {
        if let Some(tx) = device.and_then(|d| self.settled.get(self.position(d))) {
            let _ = tx.send(());
        }
    }

    fn client(&self, device: u32) -> Option<&DeviceClient> {
        self.clients.get(self.position(device))
    }

    fn flush(&mut self, out: &mut Vec<Sample>) {
        for s in out.drain(..) {
            self.counts.count(s.status);
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
fn send_asks(collector: &mut Collector, io: &mut Streams<'_>, (run_id, slot): (&str, u32), out: &mut Vec<Sample>) {
    for ask in collector.take_asks() {
        let Some(client) = io.client(ask.device) else { continue };
        let topic = wire::topic(run_id, ask.tier, Topic::Request, slot);
        if let Err(e) = client.try_publish(&topic, io.qos, &ask.payload) {
            let d = collector.failed(ask.seq, &e.to_string(), out);
            io.notify(d);
        }
    }
}

/// Settles one answer (or passes on an offload notice), after every device
/// report already queued, so an answer never arrives before its request.
fn on_answer(
    collector: &mut Collector,
    io: &mut Streams<'_>,
    run: &Settle<'_>,
    at: Instant,
    publish: &rumqttc::Publish,
    out: &mut Vec<Sample>,
) {
    while let Ok(e) = io.events.try_recv() {
        let d = on_event(collector, e, out);
        io.notify(d);
    }
    if let Some((_, tier, is_error)) = run.topics.answers.iter().find(|(t, _, _)| *t == publish.topic) {
        let d = collector.answer(*tier, &publish.payload, *is_error, micros_since(run.epoch, at), out);
        io.notify(d);
    } else if publish.topic == run.topics.offloaded {
        collector.offloaded(&publish.payload, micros_since(run.epoch, at));
    }
    send_asks(collector, io, (run.run_id, run.slot), out);
}

/// Expires what has waited past its timeout; fails when the broker has been
/// lost longer than `broker.reconnect_timeout`.
fn on_tick(
    collector: &mut Collector,
    io: &mut Streams<'_>,
    epoch: Instant,
    watch: &BrokerWatch<'_>,
    out: &mut Vec<Sample>,
) -> Result<(), RunError> {
    for d in collector.expire(micros_since(epoch, Instant::now()), out) {
        io.notify(Some(d));
    }
    let Patience { url, limit } = &watch.patience;
    let (url, limit) = (url.as_str(), *limit);
    if let Some(down) = watch.health.down_for().filter(|d| *d > limit) {
        return Err(RunError::broker(
            url,
            format!("lost for {:.1} s, longer than broker.reconnect_timeout ({limit:?})", down.as_secs_f64()),
        ));
    }
    Ok(())
}

/// Settles requests until the devices are done and nothing is in flight.
/// Returns how the samples ended; fails when the broker
/// stays lost longer than `broker.reconnect_timeout`.
async fn collect(
    run: Settle<'_>,
    collector: &mut Collector,
    mut io: Streams<'_>,
    progress: Progress<'_>,
    watch: BrokerWatch<'_>,
) -> Result<Counts, RunError> {
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut out = Vec::new();
    let mut devices_done = false;
    let mut next_progress = Instant::now();
    let report = |sent: &AtomicU64| {
        let event = RunEvent::Progress { sent: sent.load(Ordering::Relaxed), requests: progress.planned.unwrap_or(0) };
        let _ = progress.events.send(event);
    };
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
                on_answer(collector, &mut io, &run, at, &publish, &mut out);
            }
            _ = tick.tick() => on_tick(collector, &mut io, run.epoch, &watch, &mut out)?,
        }
        io.flush(&mut out);
        if Instant::now() >= next_progress {
            next_progress = Instant::now() + Duration::from_millis(100);
            report(io.sent);
        }
        if devices_done && collector.in_flight() == 0 {
            break;
        }
    }
    collector.expire_all(&mut out);
    io.flush(&mut out);
    report(io.sent);
    Ok(io.counts)
}
