//! A precise timer: one OS thread that sleeps to just before each deadline and
//! spins the rest of the way.
//!
//! tokio's timer wheel has millisecond granularity and overshoots by about a
//! millisecond; links and load pacing need tens of microseconds. Sleeping to
//! `SPIN_MARGIN` before the deadline with the thread's timer slack at 1 ns,
//! then spinning, trades a little CPU when events are dense for release errors
//! far below a millisecond (`simrun bench link` measures both; docs/performance.md
//! has the figures).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long before a deadline the timer thread stops sleeping and spins.
pub const SPIN_MARGIN: Duration = Duration::from_micros(50);

/// What happens at a deadline.
enum Action {
    /// Wake an async task.
    Wake(oneshot::Sender<()>),
    /// Run a short function on the timer thread itself: no task wake-up between
    /// the deadline and the work (load generation uses it to publish on time).
    Call(Box<dyn FnOnce() + Send>),
}

impl Action {
    fn fire(self) {
        match self {
            Action::Wake(tx) => {
                let _ = tx.send(());
            }
            Action::Call(f) => f(),
        }
    }
}

struct Entry {
    deadline: Instant,
    seq: u64,
    action: Action,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

/// A handle to the timer thread; cheap to clone. The thread ends when the last
/// handle is dropped and no deadline is pending.
#[derive(Clone)]
pub struct PreciseTimer {
    tx: mpsc::Sender<(Instant, Action)>,
    tid: std::sync::Arc<std::sync::atomic::AtomicI32>,
}

impl PreciseTimer {
    /// Starts the timer thread.
    pub fn start() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let tid = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let tid_inner = tid.clone();
        std::thread::Builder::new().name("simrun-timer".into()).spawn(move || {
            tid_inner.store(thread_id(), std::sync::atomic::Ordering::SeqCst);
            set_fine_timer_slack();
            timer_loop(rx)
        })?;
        Ok(Self { tx, tid })
    }

    /// CPU time the timer thread has used so far (Linux: from /proc), for benchmarks.
    pub fn cpu_time(&self) -> Option<Duration> {
        let tid = self.tid.load(std::sync::atomic::Ordering::SeqCst);
        let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
        let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
        Some(Duration::from_nanos(ns))
    }

    /// Resolves at `deadline`, give or take the timer's release error.
    pub async fn sleep_until(&self, deadline: Instant) {
        if deadline <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        if self.tx.send((deadline, Action::Wake(wake))).is_err() {
            // The thread is gone (only at shutdown); fall back to tokio's timer.
            tokio::time::sleep_until(deadline.into()).await;
            return;
        }
        let _ = woken.await;
    }

    /// Runs `f` on the timer thread at `deadline` (at once if it has passed).
    /// `f` must be short: every later deadline waits for it.
    pub fn call_at(&self, deadline: Instant, f: impl FnOnce() + Send + 'static) {
        if let Err(mpsc::SendError((_, action))) = self.tx.send((deadline, Action::Call(Box::new(f)))) {
            action.fire();
        }
    }
}

fn timer_loop(rx: mpsc::Receiver<(Instant, Action)>) {
    let mut heap: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut open = true;
    let mut push = |heap: &mut BinaryHeap<Reverse<Entry>>, (deadline, action): (Instant, Action)| {
        seq += 1;
        heap.push(Reverse(Entry { deadline, seq, action }));
    };
    loop {
        let Some(next) = heap.peek().map(|e| e.0.deadline) else {
            if !open {
                return;
            }
            match rx.recv() {
                Ok(item) => push(&mut heap, item),
                Err(_) => return,
            }
            continue;
        };
        let now = Instant::now();
        if next <= now {
            if let Some(Reverse(e)) = heap.pop() {
                e.action.fire();
            }
            continue;
        }
        let left = next - now;
        if left > SPIN_MARGIN && open {
            match rx.recv_timeout(left - SPIN_MARGIN) {
                Ok(item) => push(&mut heap, item),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
            }
        } else if left > SPIN_MARGIN {
            std::thread::sleep(left - SPIN_MARGIN);
        } else {
            // Spin, still taking new entries: one may be due sooner.
            while Instant::now() < next {
                match rx.try_recv() {
                    Ok(item) => push(&mut heap, item),
                    Err(mpsc::TryRecvError::Disconnected) => open = false,
                    Err(mpsc::TryRecvError::Empty) => {}
                }
                std::hint::spin_loop();
            }
        }
    }
}

fn thread_id() -> i32 {
    #[allow(unsafe_code)]
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe {
        libc::gettid()
    }
}

/// The kernel groups timer wake-ups by up to 50 µs by default; we want them exact.
#[allow(unsafe_code)]
fn set_fine_timer_slack() {
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// The running estimate of how late a task wakes after the timer fires
/// (a link's writer, a worker holding its slot):
/// the timer thread spins to the deadline, but handing the wake-up to a tokio
/// task costs tens of microseconds more (more when the runtime is parked).
/// Without it, every delayed chunk would be late by that much (a `1ms`
/// link would add more than a millisecond), and every held inference too.
#[derive(Debug, Default)]
pub struct WakeLag {
    /// Exponentially weighted mean of the lag, in ns (weight 1/16).
    mean_ns: f64,
}

impl WakeLag {
    /// The largest lag this compensates; beyond it the host is overloaded
    /// and the fidelity table's release error reports it.
    const CAP_NS: f64 = 500_000.0;

    /// What to ask the timer for: `due` less the usual lag, not before `from`.
    pub fn target(&self, from: Instant, due: Instant) -> Instant {
        let lag = std::time::Duration::from_nanos(self.mean_ns as u64);
        due.checked_sub(lag).map_or(from, |t| t.max(from))
    }

    /// Folds in how late a wake-up came after the instant asked for.
    pub fn observe(&mut self, lag: std::time::Duration) {
        let ns = (lag.as_nanos() as f64).min(Self::CAP_NS);
        self.mean_ns += (ns - self.mean_ns) / 16.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_in_deadline_order_and_not_early() {
        let timer = PreciseTimer::start().unwrap();
        let start = Instant::now();
        let mut tasks = Vec::new();
        for ms in [30u64, 10, 20, 0] {
            let t = timer.clone();
            let deadline = start + Duration::from_millis(ms);
            tasks.push(tokio::spawn(async move {
                t.sleep_until(deadline).await;
                (ms, deadline, Instant::now())
            }));
        }
        let mut woken = Vec::new();
        for task in tasks {
            let (ms, deadline, at) = task.await.unwrap();
            assert!(at >= deadline, "{ms} ms deadline woke early");
            // Loose bound: only a gross bug (a missed wake-up) breaks it.
            assert!(at - deadline < Duration::from_millis(500), "{ms} ms deadline woke {:?} late", at - deadline);
            woken.push((at, ms));
        }
        woken.sort();
        assert_eq!(woken.iter().map(|w| w.1).collect::<Vec<_>>(), [0, 10, 20, 30]);
    }

    #[tokio::test]
    async fn calls_run_on_the_timer_thread_in_deadline_order() {
        let timer = PreciseTimer::start().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now();
        for ms in [20u64, 5, 10] {
            let tx = tx.clone();
            timer.call_at(start + Duration::from_millis(ms), move || {
                let _ = tx.send((ms, Instant::now(), std::thread::current().name().map(str::to_string)));
            });
        }
        let mut order = Vec::new();
        for _ in 0..3 {
            let (ms, at, thread) = rx.recv().await.unwrap();
            assert!(at >= start + Duration::from_millis(ms), "{ms} ms call ran early");
            assert_eq!(thread.as_deref(), Some("simrun-timer"));
            order.push(ms);
        }
        assert_eq!(order, [5, 10, 20]);
    }
}
