//! A worker: subscribes to its tier's requests, infers, answers. Under
//! `placement: offload` an edge worker forwards a request that arrives with
//! `policy.offload.queue` requests already in it to the cloud's request
//! topic instead, and says why on its `offloaded` topic.
//!
//! The MQTT event loop runs on one tokio task and hands requests to a serving
//! task, so a slow model queues requests (visible as `queue_us`) instead of
//! stalling the connection's keep-alive. The serving task keeps its own queue
//! of decoded requests, at most `compute.queue_limit` long (beyond it a
//! request is answered `overloaded` at once), and serves up to
//! `compute.slots` at a time: the inference calls themselves run one after
//! another on the worker's one model, and a slot stays busy while its
//! `compute.slowdown` hold lasts, which is what a slower machine's cores
//! would spend on it. Serving runs on the async runtime, not
//! a thread of its own: a hand-off to a parked OS thread and back costs tens
//! of microseconds per request (`queue_us`; docs/performance.md). Models are expected
//! to take microseconds; a model taking milliseconds would hold a runtime
//! thread for that long.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::AsyncClient;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::broker::{qos, Connection, Received};
use super::timer::{PreciseTimer, WakeLag};
use super::RunError;
use crate::backend::Inference;
use crate::plan::Tier;
use crate::wire::{self, ErrorReply, Response, Topic};

/// What a worker needs to know.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub run_id: String,
    pub tier: Tier,
    pub index: u32,
    /// A pool worker's own name (`simrun worker --name`), in place of `<tier>-<index>`.
    pub label: Option<String>,
    pub features: usize,
    pub qos: u8,
    /// Where to connect: the tier's link, or the broker itself.
    pub addr: SocketAddr,
    /// The broker behind `addr`, with its login and TLS.
    pub broker: crate::plan::BrokerConfig,
    /// Subscribe through a shared subscription, so that the broker hands each
    /// request to one of the tier's workers: only when the tier has several.
    pub shared: bool,
    /// Compute this many times slower than this host: after each inference
    /// call, hold the slot for (slowdown − 1) × the call's time (1: none).
    pub slowdown: f64,
    /// Requests served at once, and waiting for a slot at most.
    pub slots: u32,
    pub queue_limit: u32,
    /// Gather requests into one inference call (`tiers.<tier>.batching`).
    pub batching: Option<crate::plan::Batching>,
    /// `placement: offload` at the edge: forward a request to this topic (the
    /// cloud's requests) when this many are in the worker already, waiting
    /// or being served.
    pub offload: Option<(u32, String)>,
    /// `placement: partition` at the edge: run the head and hand each
    /// request's tensor on to the cloud instead of answering.
    pub split: Option<Forwarding>,
}

/// How an edge worker under `placement: partition` hands requests on.
#[derive(Debug, Clone)]
pub struct Forwarding {
    /// The cloud's request topic, to which it adds the request's slot.
    pub cloud: String,
    /// The cut, for the notice's reason.
    pub at: String,
    /// One sample's intermediate tensor, for the binary request.
    pub shape: Vec<usize>,
    /// `at: input`: forward each request as it came, running nothing.
    pub raw: bool,
}

/// The filter a tier's workers subscribe with: the request topic, or with
/// `shared` a shared subscription on it, so that the broker hands each
/// request to one worker of the tier. Brokers without shared subscriptions
/// (NATS, RabbitMQ) take one worker per tier; `delivery` checks which.
pub fn subscription(run_id: &str, tier: Tier, shared: bool) -> String {
    let request = wire::every_slot(run_id, tier, Topic::Request);
    if shared {
        format!("$share/simrun-{}-{tier}/{request}", run_id.replace('/', "_"))
    } else {
        request
    }
}

impl WorkerSpec {
    pub fn name(&self) -> String {
        self.label.clone().unwrap_or_else(|| format!("{}-{}", self.tier, self.index))
    }
}

/// Error replies a worker sends per second at most (and in one burst): a
/// flood of garbage must not turn into a flood of answers.
pub const ERROR_REPLIES_PER_S: f64 = 100.0;

/// Counters a worker keeps while it serves.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    /// Malformed requests, answered or not.
    pub rejected: AtomicU64,
    /// Malformed requests not answered because of the error-reply limit.
    pub unanswered: AtomicU64,
    /// Requests answered `overloaded` because the queue was full.
    pub overloaded: AtomicU64,
}

/// A token bucket: `ERROR_REPLIES_PER_S` tokens a second, as many at most.
struct ReplyBudget {
    tokens: f64,
    at: Instant,
}

impl ReplyBudget {
    fn new() -> Self {
        ReplyBudget { tokens: ERROR_REPLIES_PER_S, at: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * ERROR_REPLIES_PER_S).min(ERROR_REPLIES_PER_S);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A running worker.
pub struct Worker {
    conn: Connection,
    serving: tokio::task::JoinHandle<Box<dyn Inference>>,
    pub counters: Arc<WorkerCounters>,
    name: String,
}

impl Worker {
    /// Connects, subscribes (shared among the tier's workers when it has several) and starts serving.
    pub async fn start(spec: WorkerSpec, model: Box<dyn Inference>, timer: PreciseTimer) -> Result<Worker, RunError> {
        let name = spec.name();
        let (tx, rx) = mpsc::unbounded_channel();
        let client_id = format!("simrun-{}-{name}", spec.run_id);
        let topics = [(subscription(&spec.run_id, spec.tier, spec.shared), qos(spec.qos))];
        let conn = Connection::open(&client_id, spec.addr, &spec.broker, &topics, Some(tx)).await?;
        let counters = Arc::new(WorkerCounters::default());
        let serve = Serve {
            spec: spec.clone(),
            name: name.clone(),
            model,
            client: conn.client.clone(),
            counters: counters.clone(),
            timer,
            lag: SharedLag::default(),
        };
        let serving = tokio::spawn(serve.run(rx));
        Ok(Worker { conn, serving, counters, name })
    }

    /// The worker's name if its serving task has ended (it panicked or gave up) while running.
    pub fn died(&self) -> Option<&str> {
        self.serving.is_finished().then_some(self.name.as_str())
    }

    /// Malformed requests rejected so far, and of those not answered.
    pub fn counts(&self) -> (u64, u64) {
        (self.counters.rejected.load(Ordering::Relaxed), self.counters.unanswered.load(Ordering::Relaxed))
    }

    /// Stops serving and gives back the worker's model. Fails if the serving task died.
    pub async fn stop(self) -> Result<Box<dyn Inference>, RunError> {
        self.conn.close().await;
        // The connection's sink is gone, so the serving queue ends and the task returns.
        self.serving.await.map_err(|e| RunError::WorkerDied(format!("{}: {e}", self.name)))
    }
}

struct Serve {
    spec: WorkerSpec,
    name: String,
    model: Box<dyn Inference>,
    client: AsyncClient,
    counters: Arc<WorkerCounters>,
    timer: PreciseTimer,
    lag: SharedLag,
}

/// The wake-up lag the worker's holds learn from, shared by its slots.
type SharedLag = Arc<std::sync::Mutex<WakeLag>>;

/// What became of an arriving request.
enum Admitted {
    /// Queued for a slot, or forwarded to the cloud.
    Taken,
    /// Refused (the queue is full): answered on the error topic.
    Refused(ErrorReply),
    /// Not a request: answered on the error topic while the reply budget lasts.
    Unreadable(ErrorReply),
    /// The connection is closing.
    Closing,
}

/// A decoded request waiting for a slot, with when it arrived and the
/// devices' slot it came from (where its answer goes).
type Queued = (Instant, wire::Request, Slot);

/// The last level of the topic a request came in on: which collector awaits
/// its answer (`wire::topic`).
type Slot = Box<str>;

impl Serve {
    /// Serves until the connection closes, then gives back the model.
    async fn run(mut self, rx: mpsc::UnboundedReceiver<Received>) -> Box<dyn Inference> {
        self.serve_all(rx).await;
        self.model
    }

    async fn serve_all(&mut self, mut rx: mpsc::UnboundedReceiver<Received>) {
        let topics = Topics {
            response: wire::prefix(&self.spec.run_id, self.spec.tier, Topic::Response),
            error: wire::prefix(&self.spec.run_id, self.spec.tier, Topic::Error),
            offloaded: wire::prefix(&self.spec.run_id, self.spec.tier, Topic::Offloaded),
        };
        let mut budget = ReplyBudget::new();
        // Fault injection for the test of a worker that dies mid-run (tests/it/reliability.rs):
        // SIMRUN_FAULT_WORKER_PANIC=NAME@N makes worker NAME panic at its Nth request of the run.
        let doomed: Option<u64> = std::env::var("SIMRUN_FAULT_WORKER_PANIC")
            .ok()
            .and_then(|v| v.split_once('@').filter(|(w, _)| *w == self.name).and_then(|(_, n)| n.parse().ok()));
        let slots = self.spec.slots.max(1) as usize;
        let mut queue: VecDeque<Queued> = VecDeque::new();
        // Slots held after their inference call (compute.slowdown), each a task that answers when it ends.
        let mut held: JoinSet<()> = JoinSet::new();
        loop {
            while held.len() < slots {
                let Some(n) = self.ready(&queue, Instant::now()) else { break };
                let batch: Vec<Queued> = queue.drain(..n).collect();
                if !self.serve(batch, &topics, &mut held).await {
                    return; // the connection is closing
                }
            }
            // A free slot and a batch still filling: wake when its oldest request has waited max_wait.
            let fill_until = self.filling(&queue).filter(|_| held.len() < slots);
            let (received_at, publish) = tokio::select! {
                biased;
                Some(_) = held.join_next(), if !held.is_empty() => continue,
                Some(()) = wake_at(&self.timer, fill_until) => continue,
                received = rx.recv() => match received {
                    Some(r) => r,
                    None => return,
                },
            };
            if let Some(n) = doomed {
                static SERVED: AtomicU64 = AtomicU64::new(0);
                if SERVED.fetch_add(1, Ordering::Relaxed) + 1 == n {
                    panic!("injected fault: worker {} dies (SIMRUN_FAULT_WORKER_PANIC)", self.name);
                }
            }
            let slot = wire::slot_of(&publish.topic);
            let arrived = (received_at, slot);
            let reply = match self.admit(arrived, &publish.payload, &mut queue, held.len(), &topics).await {
                Admitted::Taken => continue,
                Admitted::Closing => return,
                Admitted::Refused(reply) => reply,
                Admitted::Unreadable(reply) if budget.take() => reply,
                Admitted::Unreadable(_) => {
                    self.counters.unanswered.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let Ok(payload) = serde_json::to_vec(&reply) else { continue };
            let topic = wire::with_slot(&topics.error, slot);
            if self.client.publish(topic, qos(self.spec.qos), false, payload).await.is_err() {
                return;
            }
        }
    }

    /// Takes one arriving request: forwards it to the cloud when the edge
    /// offloads, queues it when there is room, else refuses it; a request that
    /// does not decode is refused too (`Unreadable`: answered within the budget).
    /// (`&mut self`: the model is not `Sync`, so only a unique borrow is `Send`.)
    async fn admit(
        &mut self,
        (received_at, slot): (Instant, &str),
        payload: &[u8],
        queue: &mut VecDeque<Queued>,
        serving: usize,
        topics: &Topics,
    ) -> Admitted {
        let inside = queue.len() + serving;
        match wire::decode_request(payload, self.spec.features) {
            Ok(request) if self.spec.split.as_ref().is_some_and(|s| s.raw) => {
                let head = wire::Head { queue_us: 0, infer_us: 0, held_us: 0, bytes: payload.len() as u32 };
                let Some(forward) = self.hand_on(request.id, head, (topics, slot)) else { return Admitted::Taken };
                match forward.send(&self.client, payload).await {
                    true => Admitted::Taken,
                    false => Admitted::Closing,
                }
            }
            Ok(request) if self.offloads(inside).is_some() => {
                let Some(forward) = self.forward(request.id, inside, (topics, slot)) else { return Admitted::Taken };
                match forward.send(&self.client, payload).await {
                    true => Admitted::Taken,
                    false => Admitted::Closing,
                }
            }
            Ok(request) if queue.len() < self.spec.queue_limit as usize => {
                queue.push_back((received_at, request, slot.into()));
                Admitted::Taken
            }
            Ok(request) => {
                // Full: answered at once, so an overloaded tier shows as errors, not as memory.
                self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                let m = format!("{}: {} requests already wait for a slot", wire::OVERLOADED, queue.len());
                Admitted::Refused(self.error_reply(Some(request.id), m))
            }
            Err((id, e)) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                Admitted::Unreadable(self.error_reply(id, e.to_string()))
            }
        }
    }

    /// The offload limit, when a request arriving with `inside` requests in
    /// the worker (waiting or being served) goes to the cloud instead.
    fn offloads(&self, inside: usize) -> Option<u32> {
        self.spec.offload.as_ref().map(|(limit, _)| *limit).filter(|limit| inside >= *limit as usize)
    }

    /// What to publish to send a request arriving with `inside` requests in
    /// the worker to the cloud instead.
    fn forward(&self, id: String, inside: usize, (topics, slot): (&Topics, &str)) -> Option<Forward> {
        let (limit, (_, cloud)) = (self.offloads(inside)?, self.spec.offload.as_ref()?);
        let reason = format!("edge queue {inside} ≥ {limit}");
        let notice = wire::Offloaded { v: wire::VERSION, id, worker: self.name.clone(), reason, head: None };
        Some(Forward {
            notice: serde_json::to_vec(&notice).ok()?,
            notice_topic: wire::with_slot(&topics.offloaded, slot),
            cloud: wire::with_slot(cloud, slot),
            qos: qos(self.spec.qos),
        })
    }

    /// What to publish to hand request `id` on to the cloud under
    /// `placement: partition`, with the head's part in the notice.
    fn hand_on(&self, id: String, head: wire::Head, (topics, slot): (&Topics, &str)) -> Option<Forward> {
        self.clone_for_handoff(topics).forward_of(id, head, slot)
    }

    /// How many queued requests to run now in one call, if any: one without
    /// batching; with it, `max_batch` once that many wait, or all that wait
    /// once the oldest has waited `max_wait`.
    fn ready(&self, queue: &VecDeque<Queued>, now: Instant) -> Option<usize> {
        let (oldest, _, _) = queue.front()?;
        let Some(b) = self.spec.batching else { return Some(1) };
        let max = b.max_batch.max(1) as usize;
        (queue.len() >= max || now >= *oldest + b.max_wait).then(|| queue.len().min(max))
    }

    /// When the batch now filling must go (its oldest request's arrival +
    /// `max_wait`), while requests wait for it.
    fn filling(&self, queue: &VecDeque<Queued>) -> Option<Instant> {
        let b = self.spec.batching?;
        queue.front().map(|(oldest, _, _)| *oldest + b.max_wait)
    }

    fn error_reply(&self, id: Option<String>, error: String) -> ErrorReply {
        ErrorReply { v: wire::VERSION, id, tier: self.spec.tier, worker: self.name.clone(), error }
    }

    /// Runs a batch of requests in a free slot as one call and answers each:
    /// at once, or, with a slowdown, from a task in `held` when its hold
    /// ends. False when the connection is closing.
    async fn serve(&mut self, batch: Vec<Queued>, topics: &Topics, held: &mut JoinSet<()>) -> bool {
        if self.spec.split.is_some() {
            return self.serve_head(batch, topics, held).await;
        }
        let qos = qos(self.spec.qos);
        let slots: Vec<Slot> = batch.iter().map(|(_, _, slot)| slot.clone()).collect();
        match self.answer(batch) {
            Ok((mut responses, started, call)) if self.spec.slowdown > 1.0 => {
                let (timer, lag, slowdown) = (self.timer.clone(), self.lag.clone(), self.spec.slowdown);
                let (client, prefix) = (self.client.clone(), topics.response.clone());
                held.spawn(async move {
                    hold(&timer, &lag, slowdown, &mut responses, (started, call)).await;
                    for (response, slot) in responses.iter().zip(&slots) {
                        if let Ok(payload) = serde_json::to_vec(response) {
                            let _ = client.publish(wire::with_slot(&prefix, slot), qos, false, payload).await;
                        }
                    }
                });
                true
            }
            Ok((responses, _, _)) => {
                for (response, slot) in responses.iter().zip(&slots) {
                    let Ok(payload) = serde_json::to_vec(response) else { continue };
                    let topic = wire::with_slot(&topics.response, slot);
                    if self.client.publish(topic, qos, false, payload).await.is_err() {
                        return false;
                    }
                }
                true
            }
            Err(replies) => {
                for (reply, slot) in replies.iter().zip(&slots) {
                    let Ok(payload) = serde_json::to_vec(reply) else { continue };
                    if self.client.publish(wire::with_slot(&topics.error, slot), qos, false, payload).await.is_err() {
                        return false;
                    }
                }
                true
            }
        }
    }

    /// The model's answers to a batch of requests run as one call, when the
    /// call started and how long it took; or an error reply to each.
    fn answer(&mut self, batch: Vec<Queued>) -> Result<(Vec<Response>, Instant, Duration), Vec<ErrorReply>> {
        let n = batch.len();
        let (out, started, call) = match self.call(&batch) {
            Ok(done) => done,
            Err(e) => return Err(self.error_each(batch, e.to_string())),
        };
        let each = out.len() / n;
        let size = self.spec.batching.map(|_| n as u32);
        let responses = batch
            .into_iter()
            .zip(out.chunks(each))
            .map(|((received_at, request, _), values)| {
                let (probability, class) = wire::score(values);
                Response {
                    v: wire::VERSION,
                    id: request.id,
                    tier: self.spec.tier,
                    worker: self.name.clone(),
                    probability,
                    class,
                    queue_us: started.duration_since(received_at).as_micros() as u64,
                    infer_us: call.as_micros() as u64,
                    held_us: None,
                    held_late_us: None,
                    batch: size,
                }
            })
            .collect();
        Ok((responses, started, call))
    }

    /// One inference call on a batch: the outputs, a whole number of values
    /// a request, when the call started and how long it took.
    fn call(&mut self, batch: &[Queued]) -> Result<(Vec<f32>, Instant, Duration), CallError> {
        let n = batch.len();
        // One request is run from its own buffer; a batch is laid out sample after sample.
        let input: std::borrow::Cow<[f32]> = match batch {
            [(_, one, _)] => std::borrow::Cow::Borrowed(&one.features),
            _ => batch.iter().flat_map(|(_, r, _)| r.features.iter().copied()).collect(),
        };
        let started = Instant::now();
        let result = self.model.infer(&input);
        let call = started.elapsed();
        match result {
            Ok(out) if !out.is_empty() && out.len() % n == 0 => Ok((out, started, call)),
            Ok(out) => Err(CallError::Count { got: out.len(), n }),
            Err(e) => Err(CallError::Backend(e)),
        }
    }

    /// `placement: partition`: runs the head on a batch and hands each
    /// request's tensor on to the cloud (binary wire) with a notice of what
    /// the head took: at once, or, with a slowdown, from a task in `held`
    /// when its hold ends. False when the connection is closing.
    async fn serve_head(&mut self, batch: Vec<Queued>, topics: &Topics, held: &mut JoinSet<()>) -> bool {
        let Some(split) = self.spec.split.clone() else { return true };
        let (out, started, call) = match self.call(&batch) {
            Ok(done) => done,
            Err(e) => {
                let slots: Vec<Slot> = batch.iter().map(|(_, _, slot)| slot.clone()).collect();
                let qos = qos(self.spec.qos);
                for (reply, slot) in self.error_each(batch, e.to_string()).iter().zip(&slots) {
                    let Ok(payload) = serde_json::to_vec(reply) else { continue };
                    if self.client.publish(wire::with_slot(&topics.error, slot), qos, false, payload).await.is_err() {
                        return false;
                    }
                }
                return true;
            }
        };
        let each = out.len() / batch.len();
        let mut handoffs = Vec::with_capacity(batch.len());
        for ((received_at, request, slot), values) in batch.into_iter().zip(out.chunks(each)) {
            let tensor =
                wire::Request { v: 2, id: request.id.clone(), device: request.device, features: values.to_vec() };
            let payload = wire::encode_request(&tensor, &split.shape, crate::plan::Encoding::Binary);
            let head = wire::Head {
                queue_us: started.duration_since(received_at).as_micros() as u64,
                infer_us: call.as_micros() as u64,
                held_us: 0,
                bytes: payload.len() as u32,
            };
            handoffs.push((request.id, head, slot, payload));
        }
        let (client, me) = (self.client.clone(), self.clone_for_handoff(topics));
        let (timer, lag, slowdown) = (self.timer.clone(), self.lag.clone(), self.spec.slowdown);
        let send = async move {
            let held_us = hold_time(&timer, &lag, slowdown, (started, call)).await.map_or(0, |(h, _)| h);
            for (id, mut head, slot, payload) in handoffs {
                head.held_us = held_us;
                let Some(forward) = me.forward_of(id, head, &slot) else { continue };
                if !forward.send(&client, &payload).await {
                    return false;
                }
            }
            true
        };
        if slowdown > 1.0 {
            held.spawn(async move {
                send.await;
            });
            true
        } else {
            send.await
        }
    }

    /// What a held hand-off needs of the worker to build its messages.
    fn clone_for_handoff(&self, topics: &Topics) -> HandOn {
        HandOn {
            name: self.name.clone(),
            split: self.spec.split.clone(),
            offloaded: topics.offloaded.clone(),
            qos: qos(self.spec.qos),
        }
    }

    fn error_each(&self, batch: Vec<Queued>, message: String) -> Vec<ErrorReply> {
        batch.into_iter().map(|(_, r, _)| self.error_reply(Some(r.id), message.clone())).collect()
    }
}

/// Why an inference call gave no answers to reply with.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    Backend(crate::backend::BackendError),
    #[error("model returned {got} values for {n} samples")]
    Count { got: usize, n: usize },
}

/// Sleeps until `at` on the precise timer; without an `at`, never wakes.
async fn wake_at(timer: &PreciseTimer, at: Option<Instant>) -> Option<()> {
    match at {
        Some(t) => {
            timer.sleep_until(t).await;
            Some(())
        }
        None => std::future::pending().await,
    }
}

/// A tier's response, error and offload topics, without the slot each
/// answer adds.
struct Topics {
    response: String,
    error: String,
    offloaded: String,
}

/// An offloaded request: the notice that says why, and where it goes.
struct Forward {
    notice: Vec<u8>,
    notice_topic: String,
    cloud: String,
    qos: rumqttc::QoS,
}

impl Forward {
    /// Says why on the offloaded topic, then forwards the request as it came
    /// to the cloud's request topic. False when the connection is closing.
    async fn send(self, client: &AsyncClient, payload: &[u8]) -> bool {
        client.publish(self.notice_topic, self.qos, false, self.notice).await.is_ok()
            && client.publish(self.cloud, self.qos, false, payload.to_vec()).await.is_ok()
    }
}

/// What a worker under `placement: partition` needs to hand a request on,
/// also from a held slot's task.
struct HandOn {
    name: String,
    split: Option<Forwarding>,
    offloaded: String,
    qos: rumqttc::QoS,
}

impl HandOn {
    /// The notice (what the head took) and the cloud's topic for request `id`.
    fn forward_of(&self, id: String, head: wire::Head, slot: &str) -> Option<Forward> {
        let split = self.split.as_ref()?;
        let reason = if split.raw { "all in the cloud".to_string() } else { format!("split at {}", split.at) };
        let notice = wire::Offloaded { v: wire::VERSION, id, worker: self.name.clone(), reason, head: Some(head) };
        Some(Forward {
            notice: serde_json::to_vec(&notice).ok()?,
            notice_topic: wire::with_slot(&self.offloaded, slot),
            cloud: wire::with_slot(&split.cloud, slot),
            qos: self.qos,
        })
    }
}

/// Keeps the slot busy until `slowdown` × the inference call after it
/// started, on the precise timer (no core spins for it), and says in the
/// response how long it held.
/// It asks the timer for the end less its usual wake-up lag (`WakeLag`), as
/// a link's writer does, so that the hold ends on time rather than after it.
async fn hold(
    timer: &PreciseTimer,
    lag: &SharedLag,
    slowdown: f64,
    responses: &mut [Response],
    (started, call): (Instant, Duration),
) {
    let Some((held, late)) = hold_time(timer, lag, slowdown, (started, call)).await else { return };
    for response in responses {
        response.held_us = Some(held);
        response.held_late_us = Some(late);
    }
}

/// The hold itself: sleeps until `slowdown` × the call after it started and
/// gives how long it held and how late it ended, in µs (`None`: no slowdown).
async fn hold_time(
    timer: &PreciseTimer,
    lag: &SharedLag,
    slowdown: f64,
    (started, call): (Instant, Duration),
) -> Option<(u64, u64)> {
    if slowdown <= 1.0 {
        return None;
    }
    let done = started + call.mul_f64(slowdown);
    let held_from = Instant::now();
    let target = lag.lock().map_or(done, |l| l.target(held_from, done));
    let waited = target > held_from;
    timer.sleep_until(target).await;
    let woke = Instant::now();
    if waited {
        if let Ok(mut l) = lag.lock() {
            l.observe(woke.saturating_duration_since(target));
        }
    }
    Some((woke.duration_since(held_from).as_micros() as u64, woke.saturating_duration_since(done).as_micros() as u64))
}
