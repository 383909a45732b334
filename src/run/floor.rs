//! The harness floor: a plain echo through the same broker at the same QoS,
//! with no links and no inference. Every latency simrun reports includes at
//! least this much; a floor of tens of milliseconds on loopback means Nagle's
//! algorithm is on in the broker or a client.
//!
//! The echo runs twice: straight to the broker, and with the echoing side
//! behind a 0 ms link, as every tier's workers are. The difference is what a
//! link's proxy hop costs a round trip before any delay it adds.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::broker::{qos, resolve, Connection};
use super::link::Link;
use super::timer::PreciseTimer;
use super::RunError;
use crate::plan::{BrokerConfig, LinkConfig};
use crate::record::{EchoRecord, FloorRecord};

/// Echoes sent to measure the floor, and their rate.
pub const FLOOR_MESSAGES: u64 = 300;
pub const FLOOR_RATE_HZ: f64 = 300.0;
/// Echoes sent first and left out, to warm connections and caches.
const WARMUP: u64 = 20;

/// The floor's plain echo, straight to the broker: what `measure` starts
/// with, and what a run measures again after its sweep.
pub async fn straight(
    broker: &BrokerConfig,
    run_id: &str,
    timer: &PreciseTimer,
    payload_bytes: usize,
) -> Result<EchoRecord, RunError> {
    echo(broker, run_id, timer, FLOOR_MESSAGES, FLOOR_RATE_HZ, payload_bytes, None).await
}

/// Measures the floor on `broker` under `simrun/<run-id>/floor/`.
/// `payload_bytes` should match the run's requests, so that the echo carries
/// the same bytes.
pub async fn measure(
    broker: &BrokerConfig,
    run_id: &str,
    timer: &PreciseTimer,
    payload_bytes: usize,
) -> Result<FloorRecord, RunError> {
    let straight = straight(broker, run_id, timer, payload_bytes).await?;
    if straight.round_trips_us.is_empty() {
        return Ok(FloorRecord { straight, through_link: None });
    }
    let link = Link::start(resolve(broker).await?, LinkConfig::default(), 0, timer.clone()).await?;
    let via = echo(broker, run_id, timer, FLOOR_MESSAGES, FLOOR_RATE_HZ, payload_bytes, Some(link.addr())).await?;
    link.shutdown().await;
    Ok(FloorRecord { straight, through_link: Some(via) })
}

/// A plain echo of `count` messages at `rate_hz` (after a short warmup),
/// round trips measured from each message's intended send time. The echoing
/// client connects to `echo_via` (a link) when given, else to the broker.
pub async fn echo(
    broker: &BrokerConfig,
    run_id: &str,
    timer: &PreciseTimer,
    count: u64,
    rate_hz: f64,
    payload_bytes: usize,
    echo_via: Option<std::net::SocketAddr>,
) -> Result<EchoRecord, RunError> {
    let addr = resolve(broker).await?;
    let q = qos(broker.qos);
    let (req_topic, resp_topic) = (format!("simrun/{run_id}/floor/request"), format!("simrun/{run_id}/floor/response"));
    let (echo_tx, mut echo_rx) = mpsc::unbounded_channel();
    let echo = Connection::open(
        &format!("simrun-{run_id}-floor-echo"),
        echo_via.unwrap_or(addr),
        broker,
        &[(req_topic.clone(), q)],
        Some(echo_tx),
    )
    .await?;
    let echo_client = echo.client.clone();
    let resp = resp_topic.clone();
    let echo_task = tokio::spawn(async move {
        while let Some((_, p)) = echo_rx.recv().await {
            if echo_client.publish(resp.clone(), q, false, p.payload.to_vec()).await.is_err() {
                return;
            }
        }
    });
    let (probe_tx, mut probe_rx) = mpsc::unbounded_channel();
    let probe =
        Connection::open(&format!("simrun-{run_id}-floor-probe"), addr, broker, &[(resp_topic, q)], Some(probe_tx))
            .await?;
    let total = WARMUP + count;
    let t0 = Instant::now() + Duration::from_millis(10);
    let due = move |seq: u64| t0 + Duration::from_secs_f64(seq as f64 / rate_hz);
    // Published from the timer thread at each due time, exactly as the load
    // generator publishes requests, so the two are measured alike.
    let sender_client = probe.client.clone();
    let sender_timer = timer.clone();
    let sender = tokio::spawn(async move {
        for seq in 0..total {
            let at = due(seq);
            if let Some(ahead) = at.checked_sub(Duration::from_millis(20)).filter(|a| *a > Instant::now()) {
                tokio::time::sleep_until(ahead.into()).await;
            }
            let (client, topic) = (sender_client.clone(), req_topic.clone());
            sender_timer.call_at(at, move || {
                let mut payload = seq.to_le_bytes().to_vec();
                payload.resize(payload_bytes.max(8), b' ');
                let _ = client.try_publish(topic, q, false, payload);
            });
        }
    });
    let deadline = due(total) + Duration::from_secs(2);
    let mut rtts = Vec::new();
    let mut seen = vec![false; total as usize];
    while (rtts.len() as u64) < count {
        let Ok(Some((at, p))) = tokio::time::timeout_at(deadline.into(), probe_rx.recv()).await else { break };
        let Some(Ok(bytes)) = p.payload.get(..8).map(<[u8; 8]>::try_from) else { continue };
        let seq = u64::from_le_bytes(bytes);
        if seq < total && !std::mem::replace(&mut seen[seq as usize], true) && seq >= WARMUP {
            rtts.push(at.saturating_duration_since(due(seq)).as_micros() as u64);
        }
    }
    sender.abort();
    echo_task.abort();
    probe.close().await;
    echo.close().await;
    Ok(EchoRecord { round_trips_us: rtts, sent: count, qos: broker.qos })
}
