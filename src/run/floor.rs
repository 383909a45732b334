//! The harness floor: a plain echo through the same broker at the same QoS,
//! with no links and no inference, of messages shaped as the run's: a
//! request-sized message out, a response-sized answer back, at the run's
//! rate (within 20–300/s). It is what the broker and the client stacks cost
//! a request, part of every latency simrun reports; a floor of about 40 ms
//! with small messages on loopback is the signature of Nagle's algorithm.
//!
//! The echo runs twice: straight to the broker, and with the echoing side
//! behind a 0 ms link, as every tier's workers are. The difference is what a
//! link's proxy hop costs a round trip before any delay it adds.

use std::time::{Duration, Instant};

use rumqttc::QoS;
use tokio::sync::mpsc;

use super::broker::{qos, resolve, Connection};
use super::link::Link;
use super::timer::PreciseTimer;
use super::RunError;
use crate::plan::{BrokerConfig, LinkConfig};
use crate::record::{EchoRecord, FloorRecord};

/// Echoes sent to measure the floor at most, and the fastest rate.
pub const FLOOR_MESSAGES: u64 = 300;
pub const FLOOR_RATE_HZ: f64 = 300.0;
/// The slowest rate the floor echoes at: a slower run's requests each cross
/// an idle connection, as the floor's do 50 ms apart, and a slower echo
/// would only take longer.
const FLOOR_MIN_RATE_HZ: f64 = 20.0;
/// The fewest echoes the floor measures.
const FLOOR_MIN_MESSAGES: u64 = 50;
/// Echoes sent first and left out, to warm connections and caches.
const WARMUP: u64 = 10;
/// What one echo sends: messages of `request_bytes` out, answers of
/// `response_bytes` back, `count` of them at `rate_hz`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoShape {
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub rate_hz: f64,
    pub count: u64,
}

impl EchoShape {
    /// The floor of a run whose requests and answers are `request_bytes`
    /// and `response_bytes` long (`loadgen::request_bytes`,
    /// `loadgen::response_bytes`) and offered at `rate_hz` (`None`: closed
    /// loop): they travel as the run's do, at the run's rate within
    /// 20–300/s, for about a second (50 to 300 messages).
    pub fn floor(request_bytes: usize, response_bytes: usize, rate_hz: Option<f64>) -> EchoShape {
        let rate_hz = rate_hz.unwrap_or(FLOOR_RATE_HZ).clamp(FLOOR_MIN_RATE_HZ, FLOOR_RATE_HZ);
        let count = (rate_hz as u64).clamp(FLOOR_MIN_MESSAGES, FLOOR_MESSAGES);
        EchoShape { request_bytes, response_bytes, rate_hz, count }
    }
}

/// How long one floor echo of a run offered at `rate_hz` is scheduled to
/// take, warmup included, in seconds.
pub fn scheduled_s(rate_hz: f64) -> f64 {
    let shape = EchoShape::floor(0, 0, Some(rate_hz));
    (WARMUP + shape.count) as f64 / shape.rate_hz
}

/// The echo's answer to `request`, as a worker answers: its sequence number
/// in a message of `response_bytes`.
fn answer(request: &[u8], response_bytes: usize) -> Vec<u8> {
    let mut answer = request.get(..8).unwrap_or_default().to_vec();
    answer.resize(response_bytes.max(8), b' ');
    answer
}

/// The floor's plain echo, straight to the broker: what `measure` starts
/// with, and what a run measures again after its sweep.
pub async fn straight(
    broker: &BrokerConfig,
    run_id: &str,
    timer: &PreciseTimer,
    shape: EchoShape,
) -> Result<EchoRecord, RunError> {
    echo(broker, run_id, timer, shape, None).await
}

/// Measures the floor on `broker` under `simrun/<run-id>/floor/`, with
/// messages shaped as the run's requests and answers (`EchoShape::floor`):
/// the straight echo, then the echo through a 0 ms link.
///
/// One after the other, not at once: side by side (tried on 2026-12-07)
/// each echo's messages found the host's threads busy with the other's, and
/// the straight floor came out ~120 µs lower against the one measured after
/// the sweep than when it ran alone (eight alternating smoke runs): the
/// floor is measured at the run's own rate because an idle host answers
/// slower, and a second lane doubles that rate.
pub async fn measure(
    broker: &BrokerConfig,
    run_id: &str,
    timer: &PreciseTimer,
    shape: EchoShape,
) -> Result<FloorRecord, RunError> {
    let straight = straight(broker, run_id, timer, shape).await?;
    if straight.round_trips_us.is_empty() {
        return Ok(FloorRecord { straight, through_link: None });
    }
    let link = Link::start(resolve(broker).await?, LinkConfig::default(), 0, timer.clone()).await?;
    let via = match Echo::open(broker, run_id, "floor/link", shape, Some(link.addr())).await {
        Ok(echo) => echo.run(timer, shape, Instant::now() + START).await,
        Err(e) => {
            link.shutdown().await;
            return Err(e);
        }
    };
    link.shutdown().await;
    Ok(FloorRecord { straight, through_link: Some(via) })
}

/// A plain echo of `shape.count` messages at `shape.rate_hz` (after a short
/// warmup), round trips measured from each message's intended send time;
/// each answer is `shape.response_bytes` long. The echoing client connects
/// to `echo_via` (a link) when given, else to the broker.
pub async fn echo(
    broker: &BrokerConfig,
    run_id: &str,
    timer: &PreciseTimer,
    shape: EchoShape,
    echo_via: Option<std::net::SocketAddr>,
) -> Result<EchoRecord, RunError> {
    let echo = Echo::open(broker, run_id, "floor", shape, echo_via).await?;
    Ok(echo.run(timer, shape, Instant::now() + START).await)
}

/// How long after its clients are connected an echo sends its first message.
const START: Duration = Duration::from_millis(10);

/// One echo's two connected clients: the echoing one (behind a link when
/// asked) and the probe that sends and times. `lane` names its topics
/// (`simrun/<run-id>/<lane>/request`) and client ids.
struct Echo {
    echo: Connection,
    echo_task: tokio::task::JoinHandle<()>,
    probe: Connection,
    answers: mpsc::UnboundedReceiver<(Instant, rumqttc::Publish)>,
    request_topic: String,
    qos: QoS,
    config_qos: u8,
}

impl Echo {
    async fn open(
        broker: &BrokerConfig,
        run_id: &str,
        lane: &str,
        shape: EchoShape,
        echo_via: Option<std::net::SocketAddr>,
    ) -> Result<Echo, RunError> {
        let addr = resolve(broker).await?;
        let q = qos(broker.qos);
        let (req_topic, resp_topic) =
            (format!("simrun/{run_id}/{lane}/request"), format!("simrun/{run_id}/{lane}/response"));
        let id = |role: &str| format!("simrun-{run_id}-{}-{role}", lane.replace('/', "-"));
        let topics = (req_topic.clone(), resp_topic.clone());
        let (echo, echo_task) =
            start_echo(&id("echo"), echo_via.unwrap_or(addr), broker, topics, shape.response_bytes).await?;
        let (probe_tx, answers) = mpsc::unbounded_channel();
        let probe = match Connection::open(&id("probe"), addr, broker, &[(resp_topic, q)], Some(probe_tx)).await {
            Ok(p) => p,
            Err(e) => {
                echo_task.abort();
                echo.close().await;
                return Err(e);
            }
        };
        Ok(Echo { echo, echo_task, probe, answers, request_topic: req_topic, qos: q, config_qos: broker.qos })
    }

    async fn close(self) {
        self.echo_task.abort();
        self.probe.close().await;
        self.echo.close().await;
    }

    /// Sends the echo's messages, the first (of the warmup) at `t0`, and
    /// closes both clients once the answers are in or overdue.
    async fn run(mut self, timer: &PreciseTimer, shape: EchoShape, t0: Instant) -> EchoRecord {
        let EchoShape { request_bytes, response_bytes, rate_hz, count } = shape;
        let total = WARMUP + count;
        let due = move |seq: u64| t0 + Duration::from_secs_f64(seq as f64 / rate_hz);
        // Published from the timer thread at each due time, exactly as the load
        // generator publishes requests, so the two are measured alike.
        let client = self.probe.client.clone();
        let sender =
            spawn_sender(client, timer.clone(), self.request_topic.clone(), self.qos, (total, request_bytes), due);
        let rtts = round_trips(&mut self.answers, (total, count), due).await;
        sender.abort();
        let qos = self.config_qos;
        self.close().await;
        EchoRecord {
            round_trips_us: rtts,
            sent: count,
            qos,
            request_bytes: request_bytes.max(8) as u64,
            response_bytes: response_bytes.max(8) as u64,
            rate_hz,
        }
    }
}

/// The echoing client: each request on `topics.0` is answered on `topics.1`
/// with `response_bytes` bytes that start with the request's sequence number.
async fn start_echo(
    client_id: &str,
    addr: std::net::SocketAddr,
    broker: &BrokerConfig,
    topics: (String, String),
    response_bytes: usize,
) -> Result<(Connection, tokio::task::JoinHandle<()>), RunError> {
    let q = qos(broker.qos);
    let (req_topic, resp) = topics;
    let (echo_tx, mut echo_rx) = mpsc::unbounded_channel();
    let echo = Connection::open(client_id, addr, broker, &[(req_topic, q)], Some(echo_tx)).await?;
    let echo_client = echo.client.clone();
    let task = tokio::spawn(async move {
        while let Some((_, p)) = echo_rx.recv().await {
            if echo_client.publish(resp.clone(), q, false, answer(&p.payload, response_bytes)).await.is_err() {
                return;
            }
        }
    });
    Ok((echo, task))
}

/// Publishes `shape.0` numbered requests of `shape.1` bytes, each from the
/// timer thread at its due time.
fn spawn_sender(
    client: rumqttc::AsyncClient,
    timer: PreciseTimer,
    topic: String,
    q: rumqttc::QoS,
    shape: (u64, usize),
    due: impl Fn(u64) -> Instant + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let (total, payload_bytes) = shape;
    tokio::spawn(async move {
        for seq in 0..total {
            let at = due(seq);
            if let Some(ahead) = at.checked_sub(Duration::from_millis(20)).filter(|a| *a > Instant::now()) {
                tokio::time::sleep_until(ahead.into()).await;
            }
            let (client, topic) = (client.clone(), topic.clone());
            timer.call_at(at, move || {
                let mut payload = seq.to_le_bytes().to_vec();
                payload.resize(payload_bytes.max(8), b' ');
                let _ = client.try_publish(topic, q, false, payload);
            });
        }
    })
}

/// The round trips of the first answer to each measured request (after the
/// warmup), in microseconds from its due time, until `counts.1` are in or
/// two seconds after the last was due.
async fn round_trips(
    answers: &mut mpsc::UnboundedReceiver<(Instant, rumqttc::Publish)>,
    counts: (u64, u64),
    due: impl Fn(u64) -> Instant,
) -> Vec<u64> {
    let (total, count) = counts;
    let deadline = due(total) + Duration::from_secs(2);
    let mut rtts = Vec::new();
    let mut seen = vec![false; total as usize];
    while (rtts.len() as u64) < count {
        let Ok(Some((at, p))) = tokio::time::timeout_at(deadline.into(), answers.recv()).await else { break };
        let Some(Ok(bytes)) = p.payload.get(..8).map(<[u8; 8]>::try_from) else { continue };
        let seq = u64::from_le_bytes(bytes);
        if seq < total && !std::mem::replace(&mut seen[seq as usize], true) && seq >= WARMUP {
            rtts.push(at.saturating_duration_since(due(seq)).as_micros() as u64);
        }
    }
    rtts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_echoes_at_the_runs_rate_within_its_bounds_and_answers_like_a_worker() {
        let shape = |rate| {
            let s = EchoShape::floor(110_650, 128, rate);
            (s.rate_hz, s.count, s.request_bytes, s.response_bytes)
        };
        assert_eq!(shape(Some(100.0)), (100.0, 100, 110_650, 128));
        assert_eq!(shape(Some(1.0)), (20.0, 50, 110_650, 128), "a slow run: 20/s, 50 echoes");
        assert_eq!(shape(Some(30_000.0)), (300.0, 300, 110_650, 128));
        assert_eq!(shape(None), (300.0, 300, 110_650, 128), "closed loop");
        let reply = answer(&7u64.to_le_bytes().repeat(1000), 128);
        assert_eq!((reply.len(), &reply[..8]), (128, &7u64.to_le_bytes()[..]));
    }
}
