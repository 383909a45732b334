//! The run's side of a pool: wait for enough fitting workers to announce
//! themselves, claim them, hand each one point execution at a time, notice
//! one leaving (its last will), and release them at the end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::QoS;
use thiserror::Error;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::POOL_VERSION;
use super::{
    acks_topic, jobs_topic, run_topic, samples_topic, workers_filter, Ack, AckState, Announcement, Asked, DriveSpec,
    Job, JobSpec, Misfit, RemoteLink, Role, RunPresence, SampleBatch, State,
};
use crate::plan::{BrokerConfig, Tier};
use crate::record::{DeviceHostTally, LinkRecord, RemoteMember, Sample};
use crate::run::broker::{resolve, Connection, Received, Will};
use crate::run::RunError;

/// A link that ran in a pool member's process, in front of its connections.
#[derive(Debug, Clone)]
pub struct MemberLink {
    /// The tier the member served; none for a device host's devices.
    pub tier: Option<Tier>,
    /// As the report names it: `cloud@cloud-a`, `devices@fleet-a`.
    pub name: String,
    pub record: LinkRecord,
}

/// How long a worker may take to answer a job: to load its model and
/// connect for a point, or to stop.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(10);

/// What a run needs from one pool: workers for one tier, or device hosts (`tier` none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolNeed {
    pub pool: String,
    pub tier: Option<Tier>,
    pub count: u32,
    pub wait: Duration,
    /// The scenario's model for the tier, and its SHA-256.
    pub model: String,
    pub sha256: String,
}

/// Why a run cannot use a pool.
#[derive(Debug, Error)]
pub enum PoolError {
    /// Too few fitting workers announced themselves in time, or a worker is
    /// serving another run; the message lists who answered. Found before the
    /// run started.
    #[error("{0}")]
    Unusable(String),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// A job a worker refused, or left unanswered, in words.
#[derive(Debug, Error)]
#[error("{0}")]
struct JobRefused(String);

/// What a pool's control connection has heard.
#[derive(Default)]
struct Heard {
    announced: BTreeMap<String, Announcement>,
    acks: Vec<Ack>,
    /// Control messages that did not parse.
    bad: u64,
    /// Where device hosts' samples go during a point execution.
    sink: Option<Sink>,
}

/// Where the samples of one point execution's device hosts go, rebased on
/// the run's clock, and how many came from each.
struct Sink {
    exec: String,
    /// The run's `*_us` at the execution's start: a host's sample times
    /// count from its own start.
    offset_us: u64,
    tx: mpsc::UnboundedSender<Sample>,
    received: BTreeMap<String, u64>,
}

impl Sink {
    fn take(&mut self, batch: SampleBatch) {
        if batch.exec != self.exec {
            return; // an earlier execution's, after the run gave up on it
        }
        *self.received.entry(batch.name).or_default() += batch.samples.len() as u64;
        for mut s in batch.samples {
            s.intended_us += self.offset_us;
            s.sent_us += self.offset_us;
            s.received_us = s.received_us.map(|r| r + self.offset_us);
            let _ = self.tx.send(s);
        }
    }
}

#[derive(Default)]
struct Shared {
    heard: Mutex<Heard>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Heard> {
        self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The workers a run claimed in one pool for one tier.
struct Claimed {
    need: PoolNeed,
    run: String,
    conn: Connection,
    shared: Arc<Shared>,
    members: Vec<Announcement>,
    listener: JoinHandle<()>,
}

/// The pools a run uses, their workers claimed for it.
#[derive(Default)]
pub struct Pools {
    claimed: Vec<Claimed>,
}

impl Pools {
    /// Waits for each need's workers (up to its `wait`) and claims them for `run`.
    pub async fn claim(needs: &[PoolNeed], broker: &BrokerConfig, run: &str) -> Result<Pools, PoolError> {
        // On an error the pools claimed so far are dropped: their
        // connections end without a goodbye, and the run's last will frees them.
        let mut pools = Pools::default();
        for need in needs {
            let mut c = Claimed::open(need, broker, run).await?;
            c.members = c.wait_for_workers().await?;
            c.send_all(&Job::Claim { v: POOL_VERSION, run: run.to_string() }).await?;
            c.wait_acks(None, AckState::Claimed, JOB_TIMEOUT).await.map_err(|e| PoolError::Unusable(e.0))?;
            pools.claimed.push(c);
        }
        Ok(pools)
    }

    /// Every claimed worker and device host, as the results keep them (for
    /// the manifest); a device host's slot is its place in its pool's claim.
    pub fn members(&self) -> Vec<RemoteMember> {
        self.claimed.iter().flat_map(|c| c.members.iter().enumerate().map(|(i, m)| m.record(i as u32 + 1))).collect()
    }

    /// Pool control messages that did not parse, over every pool.
    pub fn bad_control(&self) -> u64 {
        self.claimed.iter().map(|c| c.shared.lock().bad).sum()
    }

    /// Has each device host connect its share of point execution `exec`
    /// (slot `i + 1` for the `i`-th host); returns once each said so. The
    /// hosts may take a while: each opens one connection per device.
    /// With `link`, each host runs the devices' link in front of its devices
    /// (its seed varied by slot).
    pub async fn drive(&self, exec: &str, spec: &DriveSpec, link: Option<&RemoteLink>) -> Result<(), RunError> {
        if let Some(gone) = self.gone() {
            return Err(RunError::Left(gone));
        }
        for c in self.claimed.iter().filter(|c| c.need.tier.is_none()) {
            for (i, m) in c.members.iter().enumerate() {
                let spec = DriveSpec { slot: i as u32 + 1, ..spec.clone() };
                let link = link.map(|l| l.for_member(i + 1));
                let job = Job::Drive { v: POOL_VERSION, run: c.run.clone(), exec: exec.into(), spec, link };
                c.send_to(&m.name, &job).await?;
            }
            let patience = JOB_TIMEOUT + Duration::from_millis(u64::from(spec.devices) * 2);
            c.wait_acks(Some(exec), AckState::Serving, patience).await.map_err(|e| RunError::Pool(e.0))?;
        }
        Ok(())
    }

    /// Starts the device hosts' schedules `lead` from now, and every
    /// member's link's measured window `measure` from now. The hosts'
    /// samples go to `samples`, shifted by `offset_us` onto the run's clock.
    pub async fn go(
        &self,
        exec: &str,
        (lead, measure): (Duration, Duration),
        offset_us: u64,
        samples: &mpsc::UnboundedSender<Sample>,
    ) -> Result<(), RunError> {
        let (lead_us, measure_us) = (lead.as_micros() as u64, measure.as_micros() as u64);
        for c in &self.claimed {
            if c.need.tier.is_none() {
                let tx = samples.clone();
                c.shared.lock().sink = Some(Sink { exec: exec.into(), offset_us, tx, received: BTreeMap::new() });
            }
            c.send_all(&Job::Go { v: POOL_VERSION, run: c.run.clone(), exec: exec.into(), lead_us, measure_us })
                .await?;
        }
        Ok(())
    }

    /// Waits for every device host's `done` and for all the samples it
    /// says it sent; returns each host's tally. A host that fails, or whose
    /// samples do not all arrive within `patience`, is the error.
    /// With a devices link, what each host's recorded, as `devices@<host>`.
    pub async fn finish(
        &self,
        exec: &str,
        patience: Duration,
    ) -> Result<(Vec<DeviceHostTally>, Vec<MemberLink>), RunError> {
        let mut tallies = Vec::new();
        let mut links = Vec::new();
        for c in self.claimed.iter().filter(|c| c.need.tier.is_none()) {
            let acks = c.wait_acks(Some(exec), AckState::Done, patience).await.map_err(|e| RunError::Pool(e.0))?;
            let deadline = Instant::now() + JOB_TIMEOUT;
            loop {
                let changed = c.shared.changed.notified();
                let short = {
                    let heard = c.shared.lock();
                    let got = |n: &str| heard.sink.as_ref().and_then(|s| s.received.get(n).copied()).unwrap_or(0);
                    acks.iter().find_map(|a| {
                        let t = a.tally.clone().unwrap_or_default();
                        let owed = t.ok + t.timeouts + t.errors;
                        (got(&a.name) != owed).then(|| (a.name.clone(), got(&a.name), owed))
                    })
                };
                let Some((name, got, owed)) = short else { break };
                if Instant::now() >= deadline {
                    return Err(RunError::Pool(format!(
                        "pool {}: device host {name} sent {owed} samples of point {exec}, {got} arrived within {JOB_TIMEOUT:?}",
                        c.need.pool
                    )));
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), changed).await;
            }
            c.shared.lock().sink = None;
            // In slot order, whatever order the `done`s came in.
            for m in &c.members {
                let Some(ack) = acks.iter().find(|a| a.name == m.name) else { continue };
                let tally = ack.tally.clone().unwrap_or_default();
                tallies.push(DeviceHostTally { name: m.name.clone(), host: m.host.clone(), ..tally });
            }
            links.extend(c.member_links(&acks));
        }
        Ok((tallies, links))
    }

    /// Stops handing device hosts' samples on (the execution ended, or
    /// failed): the run's sample channel can close.
    pub fn end_samples(&self) {
        for c in &self.claimed {
            c.shared.lock().sink = None;
        }
    }

    /// Has the tier's workers serve point execution `exec`; returns once
    /// each said so. The job carries the model hash the workers were claimed
    /// for, whatever `spec` says.
    pub async fn start(&self, tier: Tier, exec: &str, spec: &JobSpec) -> Result<(), RunError> {
        if let Some(gone) = self.gone() {
            return Err(RunError::Left(gone));
        }
        for c in self.claimed.iter().filter(|c| c.need.tier == Some(tier)) {
            for (i, m) in c.members.iter().enumerate() {
                let link = spec.link.as_ref().map(|l| l.for_member(i));
                let spec = JobSpec { sha256: c.need.sha256.clone(), link, ..spec.clone() };
                c.send_to(&m.name, &Job::Start { v: POOL_VERSION, run: c.run.clone(), exec: exec.into(), spec })
                    .await?;
            }
            c.wait_acks(Some(exec), AckState::Serving, JOB_TIMEOUT).await.map_err(|e| RunError::Pool(e.0))?;
        }
        Ok(())
    }

    /// Has every worker stop serving `exec`; what each tier's workers counted
    /// (malformed requests rejected, and of those not answered) and, with a
    /// link, what each worker's recorded, as `<tier>@<worker>`. Device
    /// hosts stop by themselves at the end of their share (`finish`).
    pub async fn stop(&self, exec: &str) -> Result<(Vec<(Tier, u64, u64)>, Vec<MemberLink>), RunError> {
        if let Some(gone) = self.gone() {
            return Err(RunError::Left(gone));
        }
        let mut counts = Vec::new();
        let mut links = Vec::new();
        for c in &self.claimed {
            let Some(tier) = c.need.tier else { continue };
            c.send_all(&Job::Stop { v: POOL_VERSION, run: c.run.clone(), exec: exec.into() }).await?;
            let acks =
                c.wait_acks(Some(exec), AckState::Stopped, JOB_TIMEOUT).await.map_err(|e| RunError::Pool(e.0))?;
            counts.push((tier, acks.iter().map(|a| a.rejected).sum(), acks.iter().map(|a| a.unanswered).sum()));
            links.extend(c.member_links(&acks));
        }
        Ok((counts, links))
    }

    /// A claimed worker that left (its last will, or it says it is gone) or
    /// no longer serves this run, named.
    pub fn gone(&self) -> Option<String> {
        self.claimed.iter().find_map(Claimed::gone)
    }

    /// Sets the workers free and disconnects. It does not wait for their
    /// answers (a worker that left gives none): a run that claims them next
    /// waits for their `idle` announcements instead.
    pub async fn release(self) {
        for c in self.claimed {
            let _ = c.send_all(&Job::Release { v: POOL_VERSION, run: c.run.clone() }).await;
            let _ = clear(&c.conn, &run_topic(&c.need.pool, &c.run)).await;
            c.listener.abort();
            c.conn.close().await;
        }
    }
}

impl PoolNeed {
    /// `cloud`, or `devices` for device hosts.
    fn serves(&self) -> String {
        self.tier.map_or("devices".into(), |t| t.to_string())
    }
}

impl Claimed {
    /// What the members' links recorded, from their acks, in member order.
    fn member_links(&self, acks: &[Ack]) -> Vec<MemberLink> {
        let tier = self.need.tier;
        let serves = self.need.serves();
        self.members
            .iter()
            .filter_map(|m| {
                let record = acks.iter().find(|a| a.name == m.name)?.link.clone()?;
                Some(MemberLink { tier, name: format!("{serves}@{}", m.name), record })
            })
            .collect()
    }

    /// The run's control connection to the pool, with its last will.
    async fn open(need: &PoolNeed, broker: &BrokerConfig, run: &str) -> Result<Claimed, RunError> {
        let addr = resolve(broker).await?;
        let will = Will {
            topic: run_topic(&need.pool, run),
            payload: serde_json::to_vec(&RunPresence::gone(run)).unwrap_or_default(),
        };
        let mut topics =
            vec![(workers_filter(&need.pool), QoS::AtLeastOnce), (acks_topic(&need.pool, run), QoS::AtLeastOnce)];
        if need.tier.is_none() {
            topics.push((samples_topic(&need.pool, run), QoS::AtLeastOnce));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let id = format!("simrun-{run}-pool-{}-{}", need.pool, need.serves());
        let conn = Connection::open_with(&id, addr, broker, &topics, Some(tx), Some(&will)).await?;
        // A resumed run has the id of the one that died: clear its retained will.
        clear(&conn, &run_topic(&need.pool, run)).await?;
        let shared = Arc::new(Shared::default());
        let listener =
            tokio::spawn(listen(rx, shared.clone(), acks_topic(&need.pool, run), samples_topic(&need.pool, run)));
        Ok(Claimed { need: need.clone(), run: run.to_string(), conn, shared, members: Vec::new(), listener })
    }

    /// The first `count` fitting idle workers by name, once that many announced;
    /// after `wait`, an error listing who did.
    async fn wait_for_workers(&self) -> Result<Vec<Announcement>, PoolError> {
        let deadline = Instant::now() + self.need.wait;
        loop {
            let changed = self.shared.changed.notified();
            let fitting: Vec<Announcement> =
                self.shared.lock().announced.values().filter(|a| self.misfit(a).is_none()).cloned().collect();
            if fitting.len() >= self.need.count as usize {
                return Ok(fitting.into_iter().take(self.need.count as usize).collect());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changed).await.is_err() {
                return Err(PoolError::Unusable(self.shortfall(fitting.len())));
            }
        }
    }

    /// Why an announced worker cannot serve this need, if it cannot.
    fn misfit(&self, a: &Announcement) -> Option<Misfit> {
        let asked = match self.need.tier {
            Some(tier) => Asked::Tier { tier, sha256: &self.need.sha256 },
            None => Asked::Devices,
        };
        a.misfit(asked).or_else(|| a.unavailable())
    }

    /// The message for too few workers: how many fit, and every worker that
    /// announced itself with why it does not.
    fn shortfall(&self, fitting: usize) -> String {
        let n = &self.need;
        let (what, who, start) = match n.tier {
            Some(tier) => (
                format!("{tier} worker(s) the run needs (model {}, sha256 {})", n.model, n.sha256),
                "worker",
                format!("simrun worker --pool {} --tier {tier} --model {} --broker URL", n.pool, n.model),
            ),
            None => (
                "device host(s) the run needs".to_string(),
                "device host",
                format!("simrun devices --pool {} --broker URL", n.pool),
            ),
        };
        let mut m = format!("pool {}: {fitting} of the {} {what} were free within {:?}", n.pool, n.count, n.wait);
        let heard = self.shared.lock();
        if heard.announced.is_empty() {
            m.push_str(&format!("; no {who} announced itself in pool {} on this broker (start one: {start})", n.pool));
        }
        for a in heard.announced.values() {
            let why = self.misfit(a).map_or_else(|| "free, and fits".into(), |m| m.to_string());
            let role = match a.role {
                Role::Devices => "device host".to_string(),
                Role::Worker => a.tier.map_or("?".to_string(), |t| t.to_string()),
            };
            m.push_str(&format!("; {} ({role}, host {}) {why}", a.name, a.host));
        }
        m
    }

    /// Sends `job` to every claimed worker.
    async fn send_all(&self, job: &Job) -> Result<(), RunError> {
        for a in &self.members {
            self.send_to(&a.name, job).await?;
        }
        Ok(())
    }

    /// Sends `job` to the member named `name`.
    async fn send_to(&self, name: &str, job: &Job) -> Result<(), RunError> {
        let payload = serde_json::to_vec(job).map_err(|e| RunError::Pool(e.to_string()))?;
        self.conn
            .client
            .publish(jobs_topic(&self.need.pool, name), QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| RunError::broker(&self.need.pool, e.to_string()))
    }

    /// Waits up to `patience` for every member's ack of `exec` in
    /// `state`, and takes them; a refusal, a busy worker or silence is the error.
    async fn wait_acks(&self, exec: Option<&str>, state: AckState, patience: Duration) -> Result<Vec<Ack>, JobRefused> {
        let deadline = Instant::now() + patience;
        let pool = &self.need.pool;
        loop {
            let changed = self.shared.changed.notified();
            {
                let mut heard = self.shared.lock();
                let about = |a: &Ack| a.exec.as_deref() == exec || exec.is_none();
                if let Some(no) = heard.acks.iter().find(|a| about(a) && a.state != state) {
                    let why = no.message.clone().unwrap_or_default();
                    return Err(JobRefused(match no.state {
                        AckState::Busy => format!(
                            "pool {pool}: worker {} is {why}; a worker serves one run at a time (refused, not \
                             queued): wait for that run to end, or start more workers",
                            no.name
                        ),
                        _ => format!("pool {pool}: worker {} refused ({:?}): {why}", no.name, no.state),
                    }));
                }
                let done = self.members.iter().all(|m| heard.acks.iter().any(|a| a.name == m.name && about(a)));
                if done {
                    let (taken, kept) = std::mem::take(&mut heard.acks).into_iter().partition(|a| about(a));
                    heard.acks = kept;
                    return Ok(taken);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changed).await.is_err() {
                let heard = self.shared.lock();
                let silent: Vec<&str> = self
                    .members
                    .iter()
                    .filter(|m| !heard.acks.iter().any(|a| a.name == m.name))
                    .map(|m| m.name.as_str())
                    .collect();
                let silent = silent.join(", ");
                return Err(JobRefused(format!("pool {pool}: no answer within {patience:?} from {silent}")));
            }
        }
    }

    fn gone(&self) -> Option<String> {
        let heard = self.shared.lock();
        self.members.iter().find_map(|m| {
            let now = heard.announced.get(&m.name)?;
            let pool = &self.need.pool;
            let who = if self.need.tier.is_some() { "remote worker" } else { "device host" };
            match now.state {
                State::Gone => Some(format!(
                    "{who} {} (pool {pool}, host {}) left during the run: {}",
                    m.name,
                    m.host,
                    now.reason.as_deref().unwrap_or("gone")
                )),
                State::Idle => Some(format!("{who} {} (pool {pool}) no longer serves this run", m.name)),
                State::Claimed if now.run.as_deref() != Some(self.run.as_str()) => {
                    Some(format!("{who} {} (pool {pool}) no longer serves this run", m.name))
                }
                _ => None,
            }
        })
    }
}

/// Removes the retained message on `topic` (an empty retained publish).
/// A run's last will is retained, so that a worker cut off from the broker
/// while its run died learns of it when it reconnects; a run that ends
/// cleanly, or starts again under its old id, leaves none behind.
async fn clear(conn: &Connection, topic: &str) -> Result<(), RunError> {
    conn.client
        .publish(topic, QoS::AtLeastOnce, true, Vec::new())
        .await
        .map_err(|e| RunError::Pool(format!("clearing {topic}: {e}")))
}

/// Keeps what the control connection hears: announcements by name (an
/// empty retained message removes one) and acks of this run; hands device
/// hosts' samples on.
async fn listen(mut rx: mpsc::UnboundedReceiver<Received>, shared: Arc<Shared>, acks: String, samples: String) {
    while let Some((_, p)) = rx.recv().await {
        {
            let mut heard = shared.lock();
            if p.topic == samples {
                match (serde_json::from_slice::<SampleBatch>(&p.payload), heard.sink.as_mut()) {
                    (Ok(batch), Some(sink)) => sink.take(batch),
                    (Ok(_), None) => {}
                    (Err(_), _) => heard.bad += 1,
                }
            } else if p.topic == acks {
                match serde_json::from_slice::<Ack>(&p.payload) {
                    Ok(a) => heard.acks.push(a),
                    Err(_) => heard.bad += 1,
                }
            } else if let Some(name) = p.topic.rsplit('/').next() {
                if p.payload.is_empty() {
                    heard.announced.remove(name);
                } else {
                    match serde_json::from_slice::<Announcement>(&p.payload) {
                        Ok(a) if a.name == name => {
                            heard.announced.insert(name.to_string(), a);
                        }
                        _ => heard.bad += 1,
                    }
                }
            }
        }
        shared.changed.notify_waiters();
    }
}
