//! A link: a TCP proxy on 127.0.0.1 that emulates the network of one hop.
//!
//! It sits between MQTT clients and the broker, so workers and devices stay
//! plain MQTT clients. Each direction of each connection has a reader that
//! stamps chunks with their release time (`delay::Pacer`) and a writer that
//! releases them in order on the precise timer. The queue between them is
//! unbounded: latency never limits throughput (200 ms at 5,000 requests/s keeps
//! 1,000 in flight); only a configured bandwidth does. Each direction records
//! what it was asked and what it did, for the report's fidelity table.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::timer::{PreciseTimer, WakeLag};
use crate::delay::{DelayModel, Holds, Pacer, TraceClock, Window};
use crate::plan::{LinkConfig, OutageMode};
use crate::record::{Direction, LinkRecord};

const CHUNK: usize = 64 * 1024;

struct Shared {
    config: LinkConfig,
    seed: u64,
    timer: PreciseTimer,
    upstream: SocketAddr,
    /// Blackhole windows, set when the link is armed.
    blackholes: OnceLock<Vec<Window>>,
    /// The start of the measured window, where a trace starts; set when armed.
    origin: OnceLock<Instant>,
    /// True during a reset outage: connections are refused.
    down: AtomicBool,
    reset: watch::Sender<u64>,
    armed: AtomicBool,
    connections: AtomicU64,
    record: Mutex<LinkRecord>,
}

/// A running link. Dropping it closes the listener and every proxied connection.
pub struct Link {
    addr: SocketAddr,
    tasks: JoinSet<()>,
    shared: Arc<Shared>,
}

impl Link {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to `upstream`.
    /// `seed` makes the delay sequence of every connection reproducible.
    pub async fn start(
        upstream: SocketAddr,
        config: LinkConfig,
        seed: u64,
        timer: PreciseTimer,
    ) -> std::io::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            seed,
            timer,
            upstream,
            blackholes: OnceLock::new(),
            origin: OnceLock::new(),
            down: AtomicBool::new(false),
            reset: watch::channel(0).0,
            armed: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            record: Mutex::new(LinkRecord::default()),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(listener, shared.clone()));
        Ok(Link { addr, tasks, shared })
    }

    /// Where clients connect instead of the broker.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &LinkConfig {
        &self.shared.config
    }

    /// Starts recording, and schedules the outages relative to `measure_start`.
    pub fn arm(&mut self, measure_start: Instant) {
        let windows: Vec<(Instant, Instant, OutageMode)> = self
            .shared
            .config
            .outages
            .iter()
            .map(|o| (measure_start + o.at, measure_start + o.at + o.duration, o.mode))
            .collect();
        let blackholes = windows.iter().filter(|w| w.2 == OutageMode::Blackhole).map(|w| (w.0, w.1)).collect();
        let _ = self.shared.blackholes.set(blackholes);
        let _ = self.shared.origin.set(measure_start);
        self.shared.armed.store(true, Ordering::Relaxed);
        let resets: Vec<Window> = windows.iter().filter(|w| w.2 == OutageMode::Reset).map(|w| (w.0, w.1)).collect();
        if !resets.is_empty() {
            let shared = self.shared.clone();
            self.tasks.spawn(async move {
                for (start, end) in resets {
                    shared.timer.sleep_until(start).await;
                    shared.down.store(true, Ordering::SeqCst);
                    shared.reset.send_modify(|g| *g += 1);
                    shared.timer.sleep_until(end).await;
                    shared.down.store(false, Ordering::SeqCst);
                }
            });
        }
    }

    /// Closes everything and returns what the link recorded.
    pub async fn shutdown(mut self) -> LinkRecord {
        self.tasks.shutdown().await;
        self.shared.record.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        if shared.down.load(Ordering::SeqCst) {
            drop(client); // refused for the outage window
            continue;
        }
        let index = shared.connections.fetch_add(1, Ordering::Relaxed);
        conns.spawn(proxy(client, index, shared.clone()));
        // Reap finished connections so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
    }
}

async fn proxy(client: TcpStream, index: u64, shared: Arc<Shared>) {
    let mut reset = shared.reset.subscribe();
    let Ok(server) = TcpStream::connect(shared.upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pipe(cr, sw, Direction::Up, index, shared.clone());
    let down = pipe(sr, cw, Direction::Down, index, shared.clone());
    // A reset outage drops both halves of both sockets: the client sees the
    // connection close and reconnects after the window.
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = reset.changed() => {}
    }
}

/// A chunk read at `read_at`, due at `due`; `None` bytes mean end of stream.
struct Chunk {
    read_at: Instant,
    /// The delay the link was asked for it: drawn, held through outages,
    /// before order and bandwidth.
    asked: std::time::Duration,
    due: Instant,
    backlogged: bool,
    /// Its bytes at the bandwidth asked.
    serialization: std::time::Duration,
    bytes: Option<Vec<u8>>,
}

async fn pipe(from: OwnedReadHalf, to: OwnedWriteHalf, direction: Direction, index: u64, shared: Arc<Shared>) {
    if shared.config.is_transparent() {
        return forward(from, to, direction, shared).await;
    }
    let (tx, rx) = mpsc::unbounded_channel::<Chunk>();
    tokio::join!(read_side(from, tx, direction, index, shared.clone()), write_side(to, rx, direction, shared));
}

/// A link with nothing to emulate (0 ms, no jitter, bandwidth, outage or
/// trace) forwards each chunk from the task that read it, at once: no queue
/// and no second task to wake. It is still a hop, as every tier's link is at
/// every point, so that tiers and points compare on equal hops.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, direction: Direction, shared: Arc<Shared>) {
    let mut buf = vec![0u8; CHUNK];
    let mut previous_release = None;
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        let read_at = Instant::now();
        if n == 0 {
            let _ = to.shutdown().await;
            return;
        }
        // Recorded as released before the write, as `write_side` does, so
        // that a record taken once the far end has the bytes holds them.
        let released = Instant::now();
        if shared.armed.load(Ordering::Relaxed) {
            let chunk = Chunk {
                read_at,
                asked: std::time::Duration::ZERO,
                due: read_at,
                backlogged: false,
                serialization: std::time::Duration::ZERO,
                bytes: None,
            };
            record(&shared, direction, &chunk, n, released, previous_release);
        }
        previous_release = Some(released);
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Reads chunks and stamps each with its release time.
async fn read_side(
    mut from: OwnedReadHalf,
    tx: mpsc::UnboundedSender<Chunk>,
    direction: Direction,
    index: u64,
    shared: Arc<Shared>,
) {
    let mut model =
        DelayModel::new(&shared.config, crate::seeds::link_connection(shared.seed, index, direction == Direction::Up));
    let mut pacer = Pacer::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        let read_at = Instant::now();
        let windows = shared.blackholes.get().map(Vec::as_slice).unwrap_or(&[]);
        let clock =
            shared.config.trace.as_ref().map(|trace| TraceClock { trace, origin: shared.origin.get().copied() });
        // The delay in force when the bytes have crossed (a trace's row then),
        // and the capacity in force while they cross (`Pacer::schedule`).
        let sample = |at: Instant| match clock.and_then(|c| c.row(at).copied()) {
            Some(row) => model.sample_around(at, row.delay),
            None => model.sample_at(at),
        };
        let holds = Holds { windows, trace: clock };
        let release = pacer.schedule(read_at, n, sample, shared.config.bandwidth_bps, &holds);
        let bytes = (n > 0).then(|| buf[..n].to_vec());
        let end = bytes.is_none();
        let chunk = Chunk {
            read_at,
            asked: release.asked,
            due: release.due,
            backlogged: release.backlogged,
            serialization: release.serialization,
            bytes,
        };
        if tx.send(chunk).is_err() || end {
            return;
        }
    }
}

/// Releases chunks in order at their due times.
async fn write_side(
    mut to: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Chunk>,
    direction: Direction,
    shared: Arc<Shared>,
) {
    let mut previous_release: Option<Instant> = None;
    let mut wake = WakeLag::default();
    let mut next: Option<Chunk> = None;
    let mut batch: Vec<Chunk> = Vec::new();
    let mut out = Vec::new();
    loop {
        let chunk = match next.take() {
            Some(c) => c,
            None => match rx.recv().await {
                Some(c) => c,
                None => return,
            },
        };
        // Ask the timer for the due time less the usual lag of its
        // wake-up, so that chunks leave at their due time, not after it.
        let target = wake.target(chunk.read_at, chunk.due);
        let waited = target > Instant::now();
        shared.timer.sleep_until(target).await;
        let released = Instant::now();
        if waited {
            wake.observe(released.saturating_duration_since(target));
        }
        // Chunks already due leave with this one in one write, so that a
        // burst (the bytes an outage held) leaves at once, as from a real
        // link, instead of one write after another.
        next = gather_due(&mut batch, chunk, &mut rx, released);
        let bytes = joined(&batch, &mut out);
        // Recorded as released before the write, so that a record taken as
        // soon as the far end has the bytes holds them (the write's return
        // can come after the reader already saw them).
        for c in &batch {
            let Some(chunk_bytes) = &c.bytes else { continue };
            if shared.armed.load(Ordering::Relaxed) {
                record(&shared, direction, c, chunk_bytes.len(), released, previous_release);
            }
            previous_release = Some(released);
        }
        if !bytes.is_empty() && to.write_all(bytes).await.is_err() {
            return;
        }
        // The end of the stream can only be the batch's last chunk.
        if batch.last().is_some_and(|c| c.bytes.is_none()) {
            let _ = to.shutdown().await;
            return;
        }
    }
}

/// Starts `batch` with `first` and adds the chunks behind it already due at
/// `released` (up to the end of the stream); returns the first one not due.
fn gather_due(
    batch: &mut Vec<Chunk>,
    first: Chunk,
    rx: &mut mpsc::UnboundedReceiver<Chunk>,
    released: Instant,
) -> Option<Chunk> {
    batch.clear();
    batch.push(first);
    while batch.last().is_some_and(|c| c.bytes.is_some()) {
        match rx.try_recv() {
            Ok(c) if c.due <= released => batch.push(c),
            Ok(c) => return Some(c),
            Err(_) => break,
        }
    }
    None
}

/// The batch's bytes in one slice. Most releases are one chunk: written as
/// it is, without a copy.
fn joined<'a>(batch: &'a [Chunk], out: &'a mut Vec<u8>) -> &'a [u8] {
    match batch {
        [one] => one.bytes.as_deref().unwrap_or_default(),
        many => {
            out.clear();
            many.iter().filter_map(|c| c.bytes.as_deref()).for_each(|b| out.extend_from_slice(b));
            out
        }
    }
}

fn record(
    shared: &Shared,
    direction: Direction,
    chunk: &Chunk,
    n: usize,
    released: Instant,
    previous: Option<Instant>,
) {
    let Ok(mut r) = shared.record.lock() else { return };
    let d = match direction {
        Direction::Up => &mut r.up,
        Direction::Down => &mut r.down,
    };
    d.applied_us.push(released.duration_since(chunk.read_at).as_micros() as u64);
    d.asked_us.push(chunk.asked.as_micros() as u64);
    // Early or late: the writer aims a little before the due time (`WakeLag`).
    let error = released.saturating_duration_since(chunk.due).max(chunk.due.saturating_duration_since(released));
    d.release_error_us.push(error.as_micros() as u64);
    d.bytes += n as u64;
    if let (true, Some(prev)) = (chunk.backlogged, previous) {
        d.backlogged_bytes += n as u64;
        d.backlogged_span_us += released.saturating_duration_since(prev).as_micros() as u64;
        d.backlogged_asked_ns += chunk.serialization.as_nanos() as u64;
    }
}
