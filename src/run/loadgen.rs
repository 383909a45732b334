//! The load generator: simulated devices publishing samples.
//!
//! Open-loop arrivals (`constant`, `poisson`) follow an absolute, seeded
//! schedule that never waits for responses: request `k` over all devices is due
//! at `t0 + offset[k]` and comes from device `k mod count`. `closed` keeps
//! `concurrency` requests outstanding per device, each sent `think` after one
//! settles. Latency is always measured from the intended send time, so a stall
//! cannot hide itself (coordinated omission); the dispatch error is
//! `sent − intended`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tokio::sync::mpsc;

use super::collector::{lock, micros_since, Decided, Sent};
use super::lean::{DeviceClient, Prepared};
use super::timer::PreciseTimer;
use crate::plan::{Encoding, InputConfig, InputData, InputRows, LoadConfig, Policy};
use crate::record::{Phase, Route};
use crate::wire::{self, Request};

/// When each request of an open-loop point execution is due.
#[derive(Debug, Clone)]
pub struct OpenSchedule {
    pub t0: Instant,
    /// Offsets from `t0`, in nanoseconds, non-decreasing.
    offsets_ns: Arc<Vec<u64>>,
    warmup_ns: u64,
    pub devices: u32,
}

impl OpenSchedule {
    /// The due times of `load`'s open-loop process over warmup + duration
    /// (`run::arrivals`); `seed` drives its draws.
    pub fn new(t0: Instant, load: &LoadConfig, devices: u32, seed: u64) -> Self {
        let window_ns = (load.warmup + load.duration).as_nanos() as u64;
        let offsets = super::arrivals::offsets(load, window_ns, seed);
        OpenSchedule { t0, offsets_ns: Arc::new(offsets), warmup_ns: load.warmup.as_nanos() as u64, devices }
    }

    pub fn total(&self) -> u64 {
        self.offsets_ns.len() as u64
    }

    pub fn due(&self, seq: u64) -> Instant {
        self.t0 + Duration::from_nanos(self.offsets_ns[seq as usize])
    }

    pub fn phase(&self, seq: u64) -> Phase {
        if self.offsets_ns[seq as usize] < self.warmup_ns {
            Phase::Warmup
        } else {
            Phase::Measure
        }
    }

    /// The sequence numbers that `device` sends, in order.
    pub fn device_seqs(&self, device: u32) -> impl Iterator<Item = u64> {
        (u64::from(device)..self.total()).step_by(self.devices.max(1) as usize)
    }

    /// When the measured window starts.
    pub fn measure_start(&self) -> Instant {
        self.t0 + Duration::from_nanos(self.warmup_ns)
    }

    /// Gaps between consecutive due times, in seconds (for tests of the process).
    pub fn gaps_s(&self) -> Vec<f64> {
        self.offsets_ns.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e9).collect()
    }
}

/// How a device paces its requests.
#[derive(Debug, Clone)]
pub enum Pacing {
    Open(OpenSchedule),
    Closed { t0: Instant, warmup_end: Instant, end: Instant, concurrency: u32, think: Duration, devices: u32 },
}

impl Pacing {
    pub fn measure_start(&self) -> Instant {
        match self {
            Pacing::Open(s) => s.measure_start(),
            Pacing::Closed { warmup_end, .. } => *warmup_end,
        }
    }
}

/// Where a device's samples come from: seeded draws, or rows of a data file
/// in an order shuffled once per point execution, request `seq` taking
/// `order[seq mod rows]` (so every row is sent once before any twice).
#[derive(Clone)]
pub enum Samples {
    Uniform { len: usize },
    Normal { len: usize },
    Rows { rows: Arc<InputRows>, order: Arc<[u32]> },
}

impl Samples {
    /// The samples of `input` at one point execution (`order_seed` from `seeds::rows`).
    pub fn new(input: &InputConfig, mut order_rng: ChaCha8Rng) -> Self {
        match &input.data {
            InputData::Uniform => Samples::Uniform { len: input.values() },
            InputData::Normal => Samples::Normal { len: input.values() },
            InputData::File(rows) => {
                let mut order: Vec<u32> = (0..rows.rows() as u32).collect();
                order.shuffle(&mut order_rng);
                Samples::Rows { rows: rows.clone(), order: order.into() }
            }
        }
    }

    /// Request `seq`'s sample, with its row and label when it comes from a file.
    pub fn draw(&self, seq: u64, rng: &mut ChaCha8Rng) -> (Vec<f32>, Option<u32>, Option<i64>) {
        match self {
            Samples::Uniform { len } => ((0..*len).map(|_| rng.gen_range(-2.0f32..2.0)).collect(), None, None),
            Samples::Normal { len } => ((0..*len).map(|_| rng.sample::<f32, _>(StandardNormal)).collect(), None, None),
            Samples::Rows { rows, order } => {
                let row = order[(seq % order.len() as u64) as usize];
                let label = rows.labels.as_ref().map(|l| l[row as usize]);
                (rows.row(row as usize).to_vec(), Some(row), label)
            }
        }
    }
}

/// The size of a request of samples of `shape`, as devices send it.
pub fn request_bytes(shape: &[usize], encoding: Encoding, id_len: usize) -> usize {
    let values: usize = shape.iter().product();
    let request = Request {
        v: wire::VERSION,
        id: "x".repeat(id_len),
        device: "dev-000".into(),
        features: (0..values).map(|i| -1.2345678 + i as f32 * 0.1).collect(),
    };
    wire::encode_request(&request, shape, encoding).len()
}

/// The size of a worker's JSON answer of one score to a request whose id is
/// `id_len` long, with representative times: what the harness floor's echo
/// answers with.
pub fn response_bytes(id_len: usize) -> usize {
    let response = wire::Response {
        v: wire::VERSION,
        id: "x".repeat(id_len),
        tier: crate::plan::Tier::Edge,
        worker: "edge-0".into(),
        probability: 0.467_532_1,
        class: None,
        queue_us: 12,
        infer_us: 45,
        held_us: None,
        held_late_us: None,
        batch: None,
    };
    serde_json::to_vec(&response).map_or(0, |b| b.len())
}

/// What a device tells the collector.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceEvent {
    /// About to publish (sent before the publish, so no answer can overtake it).
    Sent(Sent),
    /// The publish of `seq` failed; the request never left.
    Failed { seq: u64, error: String },
    /// `deadline`: no answer from the cloud by the deadline; about to ask the edge.
    FellBack { seq: u64, reason: String },
}

/// How a device routes its requests under a policy.
#[derive(Clone)]
pub struct Routing {
    pub policy: Policy,
    /// The edge's and the cloud's request topic, each as the one-topic list
    /// a request routed there is published to (built once, not per request).
    pub edge: Arc<[String]>,
    pub cloud: Arc<[String]>,
    /// The execution's seed, for `split`'s draws.
    pub execution: u64,
    pub decided: Decided,
}

impl Routing {
    /// Where request `seq` goes first, and why.
    fn first(&self, seq: u64) -> (Route, String) {
        match self.policy {
            Policy::Cascade(_) => (Route::Edge, "edge first".into()),
            Policy::Offload { queue } => (Route::Edge, format!("edge queue < {queue}")),
            Policy::Deadline { .. } => (Route::Cloud, "cloud first".into()),
            Policy::Partition => (Route::Edge, "head on the edge".into()),
            Policy::Split { edge } => {
                let u = crate::seeds::split_draw(self.execution, seq);
                if u < edge {
                    (Route::Edge, format!("split draw {u:.3} < {edge}"))
                } else {
                    (Route::Cloud, format!("split draw {u:.3} ≥ {edge}"))
                }
            }
        }
    }
}

/// One simulated device.
pub struct Device {
    pub index: u32,
    /// Its place in its group's schedule: the group's request `k` comes
    /// from the device at place `k mod count`.
    pub place: u32,
    /// `dev-003`: the name in every request's `device` field.
    pub name: String,
    pub client: DeviceClient,
    /// Request topics of the tiers each request goes to.
    pub topics: Arc<[String]>,
    /// With two tiers and no policy (`placement: both`): the connection that
    /// carries the second tier's copy, so neither copy queues behind the
    /// other on one socket (docs/measurement.md).
    pub copy: Option<DeviceClient>,
    pub qos: rumqttc::QoS,
    pub samples: Samples,
    /// One sample's dimensions, and how requests are encoded.
    pub shape: Arc<[usize]>,
    pub encoding: Encoding,
    /// `<run-id>/<point>.<rep>/`
    pub id_prefix: String,
    pub rng: ChaCha8Rng,
    /// Under a routing policy: how this device routes; `None`: every
    /// request to every tier of `topics`.
    pub routing: Option<Routing>,
}

/// What a device needs while it runs.
pub struct DeviceIo {
    pub epoch: Instant,
    pub timer: PreciseTimer,
    pub events: mpsc::UnboundedSender<DeviceEvent>,
    /// One message per request of this device that settled (closed loop).
    pub settled: mpsc::UnboundedReceiver<()>,
    pub sent_count: Arc<AtomicU64>,
}

/// How far ahead of its due time a request is handed to the timer thread.
const LOOKAHEAD: Duration = Duration::from_millis(20);

impl Device {
    /// Sends this device's requests until its schedule or window ends.
    pub async fn run(mut self, pacing: Pacing, mut io: DeviceIo) {
        match pacing {
            Pacing::Open(s) => {
                for seq in s.device_seqs(self.place) {
                    let due = s.due(seq);
                    // Hand requests to the timer a little ahead of time, not all at once.
                    if let Some(at) = due.checked_sub(LOOKAHEAD).filter(|at| *at > Instant::now()) {
                        tokio::time::sleep_until(at.into()).await;
                    }
                    if io.events.is_closed() {
                        return;
                    }
                    self.schedule(seq, due, s.phase(seq), &io);
                }
            }
            Pacing::Closed { t0, warmup_end, end, concurrency, think, devices } => {
                let mut next = 0u64;
                let index = u64::from(self.place);
                let mut seq = || {
                    let s = next * u64::from(devices) + index;
                    next += 1;
                    s
                };
                let phase = |at: Instant| if at < warmup_end { Phase::Warmup } else { Phase::Measure };
                for _ in 0..concurrency {
                    let s = seq();
                    self.schedule(s, t0, phase(t0), &io);
                }
                while io.settled.recv().await.is_some() {
                    let due = Instant::now() + think;
                    if due >= end || io.events.is_closed() {
                        return;
                    }
                    let s = seq();
                    self.schedule(s, due, phase(due), &io);
                }
            }
        }
    }

    /// Prepares request `seq` now and has the timer thread publish it at
    /// `due`, to every tier or where the policy routes it: no task wake-up
    /// stands between the deadline and the send.
    fn schedule(&mut self, seq: u64, due: Instant, phase: Phase, io: &DeviceIo) {
        let (features, row, label) = self.samples.draw(seq, &mut self.rng);
        let request =
            Request { v: wire::VERSION, id: format!("{}{seq}", self.id_prefix), device: self.name.clone(), features };
        let payload = Arc::new(wire::encode_request(&request, &self.shape, self.encoding));
        let request_bytes = payload.len() as u32;
        let (route, topics): (_, Arc<[String]>) = match &self.routing {
            None => (None, self.topics.clone()),
            Some(r) => {
                let (route, reason) = r.first(seq);
                let topics = if route == Route::Edge { &r.edge } else { &r.cloud };
                (Some((route, reason)), topics.clone())
            }
        };
        let keep =
            matches!(self.routing.as_ref().map(|r| r.policy), Some(Policy::Cascade(_) | Policy::Deadline { .. }));
        let kept = keep.then(|| payload.clone());
        let (client, qos, device) = (self.client.clone(), self.qos, self.index);
        let (events, epoch, sent_count) = (io.events.clone(), io.epoch, io.sent_count.clone());
        if let Some(Routing { policy: Policy::Deadline { after }, edge, decided, .. }) = &self.routing {
            let fallback = Fallback { seq, edge: edge[0].clone(), decided: decided.clone(), after: *after };
            let (client, events, payload) = (client.clone(), events.clone(), payload.clone());
            io.timer.call_at(due + *after, move || fallback.fire(&client, qos, &events, &payload));
        }
        // Each topic with the connection its copy goes on; under `placement:
        // both` the copies alternate which is handed over first, so neither
        // tier is always a few µs ahead.
        // Every copy's bytes are made here, ahead of the due time.
        let mut sends: Vec<Prepared> = topics
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let on = if i == 1 { self.copy.as_ref().unwrap_or(&client) } else { &client };
                on.prepare(t, qos, &payload)
            })
            .collect();
        if sends.len() == 2 && seq % 2 == 1 {
            sends.swap(0, 1);
        }
        io.timer.call_at(due, move || {
            let sent_at = Instant::now();
            let intended_us = micros_since(epoch, due);
            let sent_us = micros_since(epoch, sent_at);
            let sent =
                Sent { seq, device, phase, intended_us, sent_us, request_bytes, row, label, route, payload: kept };
            // Reported before publishing, so no answer can overtake its request.
            if events.send(DeviceEvent::Sent(sent)).is_err() {
                return;
            }
            for message in sends {
                if let Err(e) = message.send(qos) {
                    let _ = events.send(DeviceEvent::Failed { seq, error: e.to_string() });
                    break;
                }
            }
            sent_count.fetch_add(1, Ordering::Relaxed);
        });
    }
}

/// `deadline`'s check at a request's deadline: unless the cloud has
/// answered, the device asks the edge.
struct Fallback {
    seq: u64,
    edge: String,
    decided: Decided,
    after: Duration,
}

impl Fallback {
    fn fire(
        &self,
        client: &DeviceClient,
        qos: rumqttc::QoS,
        events: &mpsc::UnboundedSender<DeviceEvent>,
        payload: &[u8],
    ) {
        let answered = lock(&self.decided).remove(&self.seq);
        if answered || events.is_closed() {
            return;
        }
        let reason = format!("cloud late ({:?})", self.after);
        if events.send(DeviceEvent::FellBack { seq: self.seq, reason }).is_err() {
            return;
        }
        if let Err(e) = client.try_publish(&self.edge, qos, payload) {
            let _ = events.send(DeviceEvent::Failed { seq: self.seq, error: e.to_string() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Arrival;

    fn load(arrival: Arrival, rate: f64, secs: u64) -> LoadConfig {
        LoadConfig {
            arrival,
            rate_hz: rate,
            duration: Duration::from_secs(secs),
            warmup: Duration::from_millis(15),
            timeout: Duration::from_secs(1),
            concurrency: 1,
            think: Duration::ZERO,
        }
    }

    #[test]
    fn samples_come_seeded_and_a_files_rows_each_once_before_any_twice() {
        use rand::SeedableRng;
        let rng = || ChaCha8Rng::seed_from_u64(9);
        let rows = InputRows {
            path: "d.csv".into(),
            sha256: String::new(),
            width: 2,
            values: (0..10).map(|v| v as f32).collect(),
            labels: Some(vec![10, 11, 12, 13, 14]),
        };
        let input = |data| InputConfig { shape: vec![2], data };
        let file = Samples::new(&input(InputData::File(Arc::new(rows))), rng());
        let mut device = rng();
        let drawn: Vec<_> = (0..10).map(|seq| file.draw(seq, &mut device)).collect();
        let first: std::collections::BTreeSet<u32> = drawn[..5].iter().filter_map(|d| d.1).collect();
        assert_eq!(first.len(), 5, "every row once in the first five requests");
        assert_eq!(
            drawn[..5].iter().map(|d| d.1).collect::<Vec<_>>(),
            drawn[5..].iter().map(|d| d.1).collect::<Vec<_>>()
        );
        for (values, row, label) in &drawn {
            let r = row.unwrap() as usize;
            assert_eq!((values.as_slice(), *label), (&[2.0 * r as f32, 2.0 * r as f32 + 1.0][..], Some(10 + r as i64)));
        }
        let normal = Samples::new(&input(InputData::Normal), rng());
        let values: Vec<f32> = (0..5000).flat_map(|s| normal.draw(s, &mut device).0).collect();
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32).sqrt();
        assert!(mean.abs() < 0.05 && (sd - 1.0).abs() < 0.05, "normal draws: mean {mean}, sd {sd}");
        let uniform = Samples::new(&input(InputData::Uniform), rng());
        let (a, b) = (uniform.draw(0, &mut rng()), uniform.draw(0, &mut rng()));
        assert_eq!(a, b, "seeded");
        assert!(a.0.iter().all(|v| (-2.0..2.0).contains(v)) && a.1.is_none());
    }

    #[test]
    fn the_floors_answer_is_a_real_answer_of_the_runs_id_length() {
        let bytes = response_bytes(30);
        assert_eq!(response_bytes(40), bytes + 10, "the id is the only part that grows");
        // About what the runs' answers measured (128 bytes with smoke.yaml's ids).
        assert!((110..160).contains(&bytes), "{bytes}");
    }

    #[test]
    fn constant_schedule_is_evenly_spaced_and_split_round_robin() {
        let t0 = Instant::now();
        let s = OpenSchedule::new(t0, &load(Arrival::Constant, 200.0, 1), 4, 0);
        assert_eq!(s.total(), 203);
        assert_eq!(s.due(0), t0);
        assert_eq!(s.due(200) - t0, Duration::from_secs(1));
        assert_eq!(s.device_seqs(1).take(3).collect::<Vec<_>>(), [1, 5, 9]);
        let all: usize = (0..4).map(|d| s.device_seqs(d).count()).sum();
        assert_eq!(all, 203);
        assert_eq!((s.phase(2), s.phase(3)), (Phase::Warmup, Phase::Measure));
    }

    #[test]
    fn poisson_gaps_have_the_configured_mean_and_a_cv_near_one() {
        let s = OpenSchedule::new(Instant::now(), &load(Arrival::Poisson, 1000.0, 100), 4, 42);
        let gaps = s.gaps_s();
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((mean - 1e-3).abs() < 0.02e-3, "mean gap {mean}");
        assert!((sd / mean - 1.0).abs() < 0.03, "coefficient of variation {}", sd / mean);
        assert!((s.total() as f64 - 100_015.0).abs() < 1500.0, "{} arrivals", s.total());
        // Seeded: the same seed gives the same schedule, another seed another.
        let again = OpenSchedule::new(s.t0, &load(Arrival::Poisson, 1000.0, 100), 4, 42);
        let other = OpenSchedule::new(s.t0, &load(Arrival::Poisson, 1000.0, 100), 4, 43);
        assert_eq!(again.gaps_s()[..100], gaps[..100]);
        assert_ne!(other.gaps_s()[..100], gaps[..100]);
    }
}
