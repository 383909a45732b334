//! The pool member's side (`simrun worker`, `simrun devices`): announce,
//! wait to be claimed, serve the claiming run's point executions one after
//! another — a worker with the same `Worker` a local tier runs, a device
//! host with its share of the devices (`drive.rs`) — and be idle again when
//! the run releases us or its last will says it is gone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::QoS;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::drive::{self, Driver, Prepared};
use super::POOL_VERSION;
use super::{
    acks_topic, jobs_topic, runs_filter, worker_topic, Ack, AckState, Announcement, Asked, DriveSpec, Job, JobSpec,
    RemoteLink, Role, RunPresence, RunState, State,
};
use crate::plan::BrokerConfig;
use crate::record::LinkRecord;
use crate::run::broker::{resolve, Connection, Received, Will};
use crate::run::link::Link;
use crate::run::timer::PreciseTimer;
use crate::run::worker::{Worker, WorkerSpec};
use crate::run::RunError;

/// How long a draining worker waits for its broker to come back before it
/// leaves without the point's `stop`.
const DRAIN_CUT_OFF: Duration = Duration::from_secs(5);

/// A pool worker: its model, how it computes, its broker, and what it
/// announces (a template the serving loop keeps up to date).
pub struct PoolWorker {
    pub model: PathBuf,
    pub threads: u32,
    pub slowdown: f64,
    pub slots: u32,
    pub queue_limit: u32,
    /// Dynamic batching (`--max-batch`, `--max-wait`), if it batches.
    pub batching: Option<crate::plan::Batching>,
    pub broker: BrokerConfig,
    pub announcement: Announcement,
}

/// The run a worker serves, and the point execution it serves now.
struct Claim {
    run: String,
    current: Option<(String, Serving)>,
}

/// What a pool member does for the point execution it serves.
enum Serving {
    /// A worker, and the tier's link in front of it when the run gave one.
    Worker(Worker, Option<Link>),
    /// A device host's share, connected, waiting for `go`.
    Ready(Box<Prepared>),
    /// A device host's share, sending; the task ends with its `done`.
    Driving(JoinHandle<()>),
}

/// A pool worker's serving loop and its connection.
struct Host {
    w: PoolWorker,
    conn: Connection,
    addr: SocketAddr,
    timer: PreciseTimer,
    claim: Option<Claim>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
    /// Outages of the control connection announced again after.
    outages: usize,
    /// The worker's model between points, loaded once.
    shelf: crate::run::shelf::ModelShelf,
}

/// The live worker of `pool` already named `name`, if there is one: its
/// retained announcement, unless that says it is gone. Two processes with one
/// client id would take the broker connection from each other in turn.
async fn namesake(
    broker: &BrokerConfig,
    addr: SocketAddr,
    pool: &str,
    name: &str,
) -> Result<Option<Announcement>, RunError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = format!("simrun-pool-{pool}-{name}-probe-{}", std::process::id());
    let topics = [(worker_topic(pool, name), QoS::AtLeastOnce)];
    let conn = Connection::open(&id, addr, broker, &topics, Some(tx)).await?;
    // A retained message comes right after the subscription's acknowledgement.
    let heard = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await.ok().flatten();
    conn.close().await;
    let found = heard.and_then(|(_, p)| serde_json::from_slice::<Announcement>(&p.payload).ok());
    Ok(found.filter(|a| a.state != State::Gone))
}

/// Serves until `stop` is raised twice, or once while no point is being
/// served (SIGTERM drains: the point being served finishes first), or the
/// serving task dies (an error: it announced itself gone first).
pub async fn serve(
    w: PoolWorker,
    mut stop: watch::Receiver<u32>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<(), RunError> {
    let (pool, name) = (w.announcement.pool.clone(), w.announcement.name.clone());
    let addr = resolve(&w.broker).await?;
    let will = Will {
        topic: worker_topic(&pool, &name),
        payload: serde_json::to_vec(&Announcement::will(&pool, &name)).unwrap_or_default(),
    };
    if let Some(other) = namesake(&w.broker, addr, &pool, &name).await? {
        return Err(RunError::Pool(format!(
            "pool {pool} already has a worker named {name}: {}; give this one another --name, or stop that one",
            other.describe()
        )));
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let topics = [(jobs_topic(&pool, &name), QoS::AtLeastOnce), (runs_filter(&pool), QoS::AtLeastOnce)];
    let id = format!("simrun-pool-{pool}-{name}");
    let conn = Connection::open_with(&id, addr, &w.broker, &topics, Some(tx), Some(&will)).await?;
    let timer = PreciseTimer::start()?;
    let mut host = Host { w, conn, addr, timer, claim: None, log, outages: 0, shelf: Default::default() };
    host.announce().await;
    (host.log)(&format!("announced in pool {pool} on {}", host.w.broker.url));
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let ended = loop {
        tokio::select! {
            received = rx.recv() => match received {
                Some(r) => host.on_message(r).await,
                None => break Ok(()),
            },
            changed = stop.changed() => {
                let signals = if changed.is_ok() { *stop.borrow() } else { 2 };
                if signals >= 2 || !host.serving() {
                    break Ok(());
                }
                (host.log)("draining: the point being served finishes, then this worker leaves");
                host.announce_leaving(State::Draining, "stopping (SIGTERM)".into()).await;
            }
            _ = tick.tick() => {
                host.announce_again_after_an_outage().await;
                if let Some(dead) = host.died() {
                    break Err(RunError::WorkerDied(dead));
                }
                if host.w.announcement.state == State::Draining && (!host.serving() || host.cut_off()) {
                    break Ok(());
                }
            }
        }
    };
    host.leave(ended.as_ref().err().map(ToString::to_string)).await;
    ended
}

impl Host {
    /// The control connection has been down for a while: no run can reach
    /// this worker, so a drain would wait for a `stop` that never comes.
    fn cut_off(&self) -> bool {
        self.conn.health.down_for().is_some_and(|d| d > DRAIN_CUT_OFF)
    }

    fn serving(&self) -> bool {
        match self.claim.as_ref().and_then(|c| c.current.as_ref()) {
            Some((_, Serving::Driving(task))) => !task.is_finished(),
            Some(_) => true,
            None => false,
        }
    }

    /// The serving task's end, if it ended while serving.
    fn died(&self) -> Option<String> {
        let (exec, Serving::Worker(worker, _)) = self.claim.as_ref()?.current.as_ref()? else { return None };
        worker.died().map(|n| format!("{n} stopped serving during point {exec}"))
    }

    /// After the broker came back (a restart may have lost retained
    /// messages), says again who it is and what it does.
    async fn announce_again_after_an_outage(&mut self) {
        let outages = self.conn.health.outages().len();
        if outages > self.outages && self.conn.health.down_for().is_none() {
            self.outages = outages;
            (self.log)("the broker is back: announcing again");
            self.announce().await;
        }
    }

    /// Draining (`reason` says why) or gone, and says so.
    async fn announce_leaving(&mut self, state: State, reason: String) {
        let a = &mut self.w.announcement;
        if a.state != State::Gone {
            a.state = state;
            a.reason = Some(reason);
        }
        self.announce().await;
    }

    /// Publishes what it is now. Whether it is claimed is `self.claim`'s to
    /// say; the announcement only carries it (draining and gone stay).
    async fn announce(&mut self) {
        let a = &mut self.w.announcement;
        a.run = self.claim.as_ref().map(|c| c.run.clone());
        if !matches!(a.state, State::Draining | State::Gone) {
            a.state = if a.run.is_some() { State::Claimed } else { State::Idle };
        }
        let topic = worker_topic(&a.pool, &a.name);
        let Ok(payload) = serde_json::to_vec(&a) else { return };
        let _ = self.conn.client.publish(topic, QoS::AtLeastOnce, true, payload).await;
    }

    /// Says `state` (claimed, serving, released) to `run`.
    async fn ack(&self, run: &str, state: AckState, exec: Option<String>) {
        self.send_ack(run, state, exec, None, Stopped::default()).await
    }

    /// Says no to `run`, and why: `Refused`, or `Busy` serving another run.
    async fn refuse(&self, run: &str, state: AckState, exec: Option<String>, why: impl ToString) {
        self.send_ack(run, state, exec, Some(why.to_string()), Stopped::default()).await
    }

    /// An ack that carries what a stopped point counted and its link recorded.
    async fn send_ack(&self, run: &str, state: AckState, exec: Option<String>, message: Option<String>, s: Stopped) {
        let a = &self.w.announcement;
        let ack = Ack {
            v: POOL_VERSION,
            name: a.name.clone(),
            run: run.to_string(),
            state,
            exec,
            message,
            rejected: s.counts.0,
            unanswered: s.counts.1,
            tally: None,
            link: s.link,
        };
        let Ok(payload) = serde_json::to_vec(&ack) else { return };
        let _ = self.conn.client.publish(acks_topic(&a.pool, run), QoS::AtLeastOnce, false, payload).await;
    }

    async fn on_message(&mut self, (_, publish): Received) {
        let a = &self.w.announcement;
        if publish.topic == jobs_topic(&a.pool, &a.name) {
            match serde_json::from_slice::<Job>(&publish.payload) {
                Ok(job) => self.on_job(job).await,
                Err(e) => self.bad_control(&publish.topic, &e.to_string()).await,
            }
            return;
        }
        // A run's presence: its last will says it is gone, without releasing us.
        let Some(run) = publish.topic.rsplit('/').next() else { return };
        let gone = serde_json::from_slice::<RunPresence>(&publish.payload).is_ok_and(|p| p.state == RunState::Gone);
        if gone && self.claim.as_ref().is_some_and(|c| c.run == run) {
            (self.log)(&format!("run {run} is gone (its last will): released"));
            self.release().await;
        }
    }

    async fn bad_control(&mut self, topic: &str, error: &str) {
        self.w.announcement.bad_control += 1;
        let n = self.w.announcement.bad_control;
        (self.log)(&format!("ignored a control message on {topic} that does not parse ({n} so far): {error}"));
        self.announce().await;
    }

    async fn on_job(&mut self, job: Job) {
        let (Job::Claim { v, run }
        | Job::Start { v, run, .. }
        | Job::Stop { v, run, .. }
        | Job::Release { v, run }
        | Job::Drive { v, run, .. }
        | Job::Go { v, run, .. }) = &job;
        if *v != POOL_VERSION {
            let m = format!("control version {v}; this worker speaks {POOL_VERSION}");
            return self.refuse(run, AckState::Refused, None, m).await;
        }
        let ours = self.claim.as_ref().map(|c| c.run.clone());
        match job {
            Job::Claim { run, .. } => match ours {
                Some(other) if other != run => {
                    self.refuse(&run, AckState::Busy, None, format!("claimed by run {other}")).await
                }
                _ if self.w.announcement.state == State::Draining => {
                    self.refuse(&run, AckState::Refused, None, "draining (SIGTERM)").await
                }
                _ => {
                    self.claim.get_or_insert(Claim { run: run.clone(), current: None });
                    (self.log)(&format!("claimed by run {run}"));
                    self.announce().await;
                    self.ack(&run, AckState::Claimed, None).await;
                }
            },
            Job::Start { run, exec, spec, .. } if ours.as_deref() == Some(run.as_str()) => {
                self.start(run, exec, spec).await
            }
            Job::Drive { run, exec, spec, link, .. } if ours.as_deref() == Some(run.as_str()) => {
                self.drive(run, exec, spec, link).await
            }
            Job::Go { run, exec, lead_us, measure_us, .. } if ours.as_deref() == Some(run.as_str()) => {
                self.go(run, exec, Duration::from_micros(lead_us), Duration::from_micros(measure_us)).await
            }
            Job::Stop { run, exec, .. } if ours.as_deref() == Some(run.as_str()) => {
                let stopped = self.stop_current().await;
                self.send_ack(&run, AckState::Stopped, Some(exec), None, stopped).await;
            }
            Job::Release { run, .. } if ours.as_deref() == Some(run.as_str()) => {
                (self.log)(&format!("released by run {run}"));
                self.release().await;
                self.ack(&run, AckState::Released, None).await;
            }
            Job::Start { run, .. }
            | Job::Stop { run, .. }
            | Job::Release { run, .. }
            | Job::Drive { run, .. }
            | Job::Go { run, .. } => {
                let m = match ours {
                    Some(other) => format!("claimed by run {other}"),
                    None => "not claimed by this run".to_string(),
                };
                self.refuse(&run, AckState::Refused, None, m).await
            }
        }
    }

    /// Starts serving point execution `exec` with a `Worker` of its own.
    async fn start(&mut self, run: String, exec: String, spec: JobSpec) {
        let a = &self.w.announcement;
        let asked = Asked::Tier { tier: spec.tier, sha256: &spec.sha256 };
        if let Some(m) = a.draining().or_else(|| a.misfit(asked)) {
            return self.refuse(&run, AckState::Refused, Some(exec), m).await;
        }
        self.stop_current().await;
        match self.worker(&run, &spec).await {
            Ok((worker, link)) => {
                if let Some(c) = self.claim.as_mut() {
                    c.current = Some((exec.clone(), Serving::Worker(worker, link)));
                }
                (self.log)(&format!("serving run {run} point {exec}"));
                self.ack(&run, AckState::Serving, Some(exec)).await;
            }
            Err(e) => self.refuse(&run, AckState::Refused, Some(exec), e).await,
        }
    }

    /// A `Worker` for `job`, behind the job's link when it has one.
    async fn worker(&self, run: &str, job: &JobSpec) -> Result<(Worker, Option<Link>), RunError> {
        let link = start_link(job.link.as_ref(), self.addr, &self.timer).await?;
        let addr = link.as_ref().map_or(self.addr, Link::addr);
        let model = self.shelf.take(&self.w.model, self.w.threads)?;
        let spec = WorkerSpec {
            run_id: run.to_string(),
            tier: job.tier,
            index: 0,
            label: Some(self.w.announcement.name.clone()),
            features: job.features,
            qos: job.qos,
            addr,
            broker: self.w.broker.clone(),
            shared: job.shared,
            slowdown: self.w.slowdown,
            slots: self.w.slots,
            queue_limit: self.w.queue_limit,
            batching: self.w.batching,
            offload: job.offload.clone(),
            // A split runs in the run's own process (the scenario refuses remote pools with it).
            split: None,
        };
        Ok((Worker::start(spec, model, self.timer.clone()).await?, link))
    }

    /// Device hosts: connects this host's share of `exec`'s devices.
    async fn drive(&mut self, run: String, exec: String, spec: DriveSpec, link: Option<RemoteLink>) {
        let a = &self.w.announcement;
        if let Some(m) = a.draining().or_else(|| a.misfit(Asked::Devices)) {
            return self.refuse(&run, AckState::Refused, Some(exec), m).await;
        }
        self.stop_current().await;
        let prepared = async {
            let link = start_link(link.as_ref(), self.addr, &self.timer).await?;
            drive::prepare(&run, &exec, spec, &self.w.broker, self.addr, link).await
        };
        match prepared.await {
            Ok(ready) => {
                (self.log)(&format!("run {run} point {exec}: {} devices connected", ready.devices()));
                if let Some(c) = self.claim.as_mut() {
                    c.current = Some((exec.clone(), Serving::Ready(Box::new(ready))));
                }
                self.ack(&run, AckState::Serving, Some(exec)).await;
            }
            Err(e) => self.refuse(&run, AckState::Refused, Some(exec), e).await,
        }
    }

    /// Device hosts: starts the prepared share's schedule. A worker with a
    /// link: starts the link's record and outage clock.
    async fn go(&mut self, run: String, exec: String, lead: Duration, measure: Duration) {
        if self.w.announcement.role == Role::Worker {
            // Only a link needs the start of the measured window; a worker answers no `go`.
            if let Some((_, Serving::Worker(_, Some(link)))) = self.claim.as_mut().and_then(|c| c.current.as_mut()) {
                link.arm(Instant::now() + measure);
            }
            return;
        }
        let current = self.claim.as_mut().and_then(|c| c.current.take());
        let Some((_, Serving::Ready(ready))) = current else {
            if let Some(c) = self.claim.as_mut() {
                c.current = current;
            }
            let m = format!("no devices are connected for point {exec}");
            return self.refuse(&run, AckState::Refused, Some(exec), m).await;
        };
        let a = &self.w.announcement;
        let driver = Driver {
            client: self.conn.client.clone(),
            pool: a.pool.clone(),
            name: a.name.clone(),
            host: a.host.clone(),
            run: run.clone(),
            exec: exec.clone(),
            timer: self.timer.clone(),
            log: self.log.clone(),
        };
        let task = ready.go(lead, measure, driver);
        if let Some(c) = self.claim.as_mut() {
            c.current = Some((exec, Serving::Driving(task)));
        }
    }

    /// Stops the point being served, if one is; what its worker counted
    /// and its link recorded.
    async fn stop_current(&mut self) -> Stopped {
        let none = Stopped::default();
        let Some((exec, serving)) = self.claim.as_mut().and_then(|c| c.current.take()) else { return none };
        match serving {
            Serving::Worker(worker, link) => {
                let counts = worker.counts();
                match worker.stop().await {
                    Ok(model) => self.shelf.put(&self.w.model, self.w.threads, model),
                    Err(e) => (self.log)(&format!("point {exec}: {e}")),
                }
                let link = match link {
                    Some(l) => Some(l.shutdown().await),
                    None => None,
                };
                Stopped { counts, link }
            }
            Serving::Ready(_) => none,
            Serving::Driving(task) => {
                task.abort();
                none
            }
        }
    }

    async fn release(&mut self) {
        self.stop_current().await;
        self.claim = None;
        self.announce().await;
    }

    /// Says it is gone (retained, so a run that looks later sees why) and disconnects.
    async fn leave(mut self, error: Option<String>) {
        self.stop_current().await;
        let reason = error.unwrap_or_else(|| "stopped by a signal".into());
        (self.log)(&format!("leaving the pool: {reason}"));
        self.announce_leaving(State::Gone, reason).await;
        self.conn.close().await;
    }
}

/// What a stopped point counted (malformed requests rejected, and of those
/// not answered) and what its link recorded.
#[derive(Default)]
struct Stopped {
    counts: (u64, u64),
    link: Option<LinkRecord>,
}

/// The link a job asks for, listening on this host's loopback in front of `broker`.
async fn start_link(
    link: Option<&RemoteLink>,
    broker: SocketAddr,
    timer: &PreciseTimer,
) -> Result<Option<Link>, RunError> {
    match link {
        Some(l) => Ok(Some(Link::start(broker, l.config.clone(), l.seed, timer.clone()).await?)),
        None => Ok(None),
    }
}
