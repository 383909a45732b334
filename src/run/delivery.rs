//! The delivery probe: before the sweep, check that the broker delivers a
//! message on a tier's request topic to a subscription made exactly as that
//! tier's workers will make it.
//!
//! A broker can grant a subscription and then deliver nothing to it: NATS's
//! MQTT gateway and RabbitMQ accept a shared subscription (`$share/…`) as a
//! literal topic, and a Mosquitto whose ACL denies the request topic grants
//! the SUBACK too. Without this probe such a run "completes" with every
//! request timed out.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::broker::{qos, resolve, Connection};
use super::worker::subscription;
use super::RunError;
use crate::plan::{BrokerConfig, Tier};
use crate::wire::{self, Topic};

/// How long the probe waits for its message, in total.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often it publishes again meanwhile (a QoS 0 message may be lost).
const RESEND: Duration = Duration::from_millis(200);

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The subscription was granted, and nothing came.
    Nothing,
    /// The broker turned the subscription away (SUBACK failure).
    SubscriptionRefused,
}

/// Whether `broker` delivers a message published on `tier`'s request topic
/// of `run_id` to the subscription its workers make (`shared` when the tier
/// has more than one worker) within `PROBE_TIMEOUT`.
pub async fn delivers(broker: &BrokerConfig, run_id: &str, tier: Tier, shared: bool) -> Result<Delivery, RunError> {
    let addr = resolve(broker).await?;
    let q = qos(broker.qos);
    let topic = wire::topic(run_id, tier, Topic::Request, 0);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let filter = subscription(run_id, tier, shared);
    let id = format!("simrun-{run_id}-probe-{tier}-sub");
    let sub = match Connection::open(&id, addr, broker, &[(filter, q)], Some(tx)).await {
        Ok(c) => c,
        Err(RunError::Refused { message, .. }) if message.contains("refused a subscription") => {
            return Ok(Delivery::SubscriptionRefused)
        }
        Err(e) => return Err(e),
    };
    let publisher = Connection::open(&format!("simrun-{run_id}-probe-{tier}-pub"), addr, broker, &[], None).await?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let mut delivered = false;
    while !delivered && Instant::now() < deadline {
        publisher
            .client
            .publish(topic.clone(), q, false, PROBE_PAYLOAD.to_vec())
            .await
            .map_err(|e| RunError::broker(&broker.url, format!("publish {topic}: {e}")))?;
        let wait = RESEND.min(deadline.saturating_duration_since(Instant::now()));
        if let Ok(Some((_, p))) = tokio::time::timeout(wait, rx.recv()).await {
            delivered = p.payload.as_ref() == PROBE_PAYLOAD;
        }
    }
    publisher.close().await;
    sub.close().await;
    Ok(if delivered { Delivery::Delivered } else { Delivery::Nothing })
}

/// The probe's payload: not a request, so a worker that saw one would reject it.
pub const PROBE_PAYLOAD: &[u8] = b"simrun delivery probe";

/// Why a tier's subscription got nothing, in words a user can act on.
pub fn explain(broker_url: &str, tier: Tier, shared: bool, found: Delivery) -> String {
    if found == Delivery::SubscriptionRefused {
        return format!(
            "the broker at {broker_url} refused the {tier} tier's subscription to its request topic: does its access \
             control (ACL) let this client read and write simrun/#?"
        );
    }
    if shared {
        format!(
            "the broker at {broker_url} accepted the {tier} tier's shared subscription ($share/…) but delivered \
             nothing to it within {PROBE_TIMEOUT:?}; NATS and RabbitMQ do not support `$share`: use one worker per \
             tier (tiers.{tier}.workers: 1), or a broker that does (Mosquitto, EMQX, HiveMQ, VerneMQ)"
        )
    } else {
        format!(
            "the broker at {broker_url} accepted a subscription to the {tier} tier's request topic but delivered \
             nothing to it within {PROBE_TIMEOUT:?}: does its access control (ACL) let this client read and write \
             simrun/#?"
        )
    }
}
