//! A device host's share of a point execution (`simrun devices`): connect
//! its devices when the run says `drive`, start their schedule when it says
//! `go`, settle their requests with its own collector (so every latency is
//! measured on this host's clock), stream the samples to the run in
//! batches and end with a `done` that tallies them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{acks_topic, samples_topic, Ack, AckState, DriveSpec, SampleBatch, POOL_VERSION};
use crate::plan::BrokerConfig;
use crate::record::{DeviceHostTally, Sample};
use crate::run::fleet::{pacing, Fleet, FleetIo, Patience};
use crate::run::link::Link;
use crate::run::timer::PreciseTimer;
use crate::run::RunError;

/// Samples per batch at most; a batch also goes when it is this old.
const BATCH_SAMPLES: usize = 500;
const BATCH_AGE: Duration = Duration::from_millis(100);

/// A share connected and waiting for `go`.
pub struct Prepared {
    fleet: Fleet,
    spec: DriveSpec,
    broker: BrokerConfig,
    /// The devices' link on this host, when the run gave one.
    link: Option<Link>,
}

/// Who is driving, for which run, and where to say so.
pub struct Driver {
    pub client: AsyncClient,
    pub pool: String,
    pub name: String,
    pub host: String,
    pub run: String,
    pub exec: String,
    pub timer: PreciseTimer,
    pub log: std::sync::Arc<dyn Fn(&str) + Send + Sync>,
}

/// Connects this host's share of the devices to `addr`, with the run's QoS
/// and encoding over this host's own login and TLS.
pub async fn prepare(
    run: &str,
    exec: &str,
    spec: DriveSpec,
    broker: &BrokerConfig,
    addr: SocketAddr,
    link: Option<Link>,
) -> Result<Prepared, RunError> {
    let addr = link.as_ref().map_or(addr, Link::addr);
    let fleet = Fleet::open(run, exec, &spec, broker, addr).await?;
    Ok(Prepared { fleet, spec, broker: broker.clone(), link })
}

impl Prepared {
    pub fn devices(&self) -> u32 {
        self.fleet.devices()
    }

    /// Starts the schedule `lead` from now. The task sends the samples as
    /// they settle and ends with `done` (or `refused`, saying why).
    pub fn go(self, lead: Duration, measure: Duration, d: Driver) -> JoinHandle<()> {
        tokio::spawn(async move {
            let t0 = Instant::now() + lead;
            let Prepared { fleet, spec, broker, mut link } = self;
            if let Some(l) = link.as_mut() {
                l.arm(Instant::now() + measure);
            }
            let seed = crate::seeds::execution(spec.seed, spec.point, spec.repetition);
            let pacing = pacing(t0, &spec.load, spec.devices, seed);
            let (samples, rx) = mpsc::unbounded_channel();
            let (events, _) = mpsc::unbounded_channel();
            let io = FleetIo { epoch: t0, timer: d.timer.clone(), events, samples };
            let out = Batches {
                client: d.client.clone(),
                topic: samples_topic(&d.pool, &d.run),
                name: d.name.clone(),
                exec: d.exec.clone(),
                sent: 0,
            };
            let sender = tokio::spawn(send_batches(rx, out));
            let patience = Patience { url: broker.url.clone(), limit: broker.reconnect_timeout };
            let ran = fleet.run(io, pacing, patience).await;
            let record = match link {
                Some(l) => Some(l.shutdown().await),
                None => None,
            };
            // The fleet's sample sender is gone: the batches end.
            let sent_samples = sender.await.unwrap_or(0);
            let (state, message, tally) = match ran {
                Ok(o) => {
                    let t = o.tally(&spec, &d.name, &d.host);
                    note_unsent(&d, &t, sent_samples);
                    (AckState::Done, None, Some(t))
                }
                Err(e) => (AckState::Refused, Some(format!("device host {}: {e}", d.name)), None),
            };
            (d.log)(&match &tally {
                Some(t) => format!(
                    "point {}: sent {}, ok {}, timeout {}, error {}",
                    d.exec, t.sent, t.ok, t.timeouts, t.errors
                ),
                None => format!("point {}: {}", d.exec, message.clone().unwrap_or_default()),
            });
            let ack = Ack {
                v: POOL_VERSION,
                name: d.name.clone(),
                run: d.run.clone(),
                state,
                exec: Some(d.exec.clone()),
                message,
                rejected: 0,
                unanswered: 0,
                tally,
                link: record,
            };
            if let Ok(payload) = serde_json::to_vec(&ack) {
                let _ = d.client.publish(acks_topic(&d.pool, &d.run), QoS::AtLeastOnce, false, payload).await;
            }
        })
    }
}

/// Says in the host's log when some settled samples could not be sent
/// (the run, waiting for them, stops naming this host).
fn note_unsent(d: &Driver, t: &DeviceHostTally, sent_samples: u64) {
    let settled = t.ok + t.timeouts + t.errors;
    if sent_samples != settled {
        (d.log)(&format!("point {}: {settled} samples settled, {sent_samples} sent to the run", d.exec));
    }
}

/// Where a host's sample batches go.
struct Batches {
    client: AsyncClient,
    topic: String,
    name: String,
    exec: String,
    /// Samples published so far.
    sent: u64,
}

impl Batches {
    async fn publish(&mut self, batch: &mut Vec<Sample>) {
        if batch.is_empty() {
            return;
        }
        let samples = std::mem::take(batch);
        let n = samples.len() as u64;
        let b = SampleBatch { v: POOL_VERSION, name: self.name.clone(), exec: self.exec.clone(), samples };
        let Ok(payload) = serde_json::to_vec(&b) else { return };
        if self.client.publish(self.topic.clone(), QoS::AtLeastOnce, false, payload).await.is_ok() {
            self.sent += n;
        }
    }
}

/// Publishes the samples in batches (`BATCH_SAMPLES`, or what came in
/// `BATCH_AGE`) until the fleet is done; returns how many it published.
async fn send_batches(mut rx: mpsc::UnboundedReceiver<Sample>, mut out: Batches) -> u64 {
    let mut batch: Vec<Sample> = Vec::new();
    let mut tick = tokio::time::interval(BATCH_AGE);
    loop {
        tokio::select! {
            s = rx.recv() => match s {
                Some(s) => {
                    batch.push(s);
                    if batch.len() >= BATCH_SAMPLES {
                        out.publish(&mut batch).await;
                    }
                }
                None => {
                    out.publish(&mut batch).await;
                    return out.sent;
                }
            },
            _ = tick.tick() => out.publish(&mut batch).await,
        }
    }
}
