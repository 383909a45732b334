//! The host's own load over a point execution, read from Linux's `/proc`:
//! every core's busy time from `/proc/stat`, sampled four times a second for
//! the busiest second; the CPU time of this process's threads by role from
//! `/proc/self/task/*/stat`; and the broker's process when it runs here
//! (the managed broker's pid, or whichever local process listens on the
//! broker's port, from `/proc/net/tcp*` and `/proc/*/fd`). Where `/proc` is
//! missing, nothing is recorded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::record::{CpuPart, HostLoad};

/// How often the sampler reads `/proc/stat`; four reads make the busiest second.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// The roles of simrun's threads, by the name the thread was given.
const RUNTIME: &str = "simrun: async runtime";
const TIMER: &str = "simrun: precise timer";
const OTHER: &str = "simrun: other threads";

/// The idle ticks (idle and iowait) of all cores together, and when they were read.
///
/// The busy share is taken as what idle time leaves of the wall time: on a
/// tickless kernel `/proc/stat`'s idle time is measured exactly, while its busy
/// times are charged a whole tick at a time, and short bursts between ticks
/// (most of a light run's work) go uncounted. Seen here: a light run's busy
/// ticks added up to less than the CPU time of simrun's own threads.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CoreTimes {
    idle: u64,
    at: Instant,
}

/// The aggregate `cpu` line of `/proc/stat`, and the number of `cpuN` lines.
fn parse_stat(text: &str) -> Option<(CoreTimes, u32)> {
    let mut lines = text.lines();
    let first = lines.next()?;
    let mut fields = first.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
    if v.len() < 5 {
        return None;
    }
    // user nice system idle iowait …: idle and iowait are the time no task ran.
    let idle = v[3] + v[4];
    let cores =
        text.lines().filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
    Some((CoreTimes { idle, at: Instant::now() }, cores as u32))
}

fn core_times() -> Option<(CoreTimes, u32)> {
    parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// A `stat` file's command name and its utime + stime in clock ticks.
fn parse_task_stat(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    // After the name: state is field 3, utime and stime fields 14 and 15.
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The clock ticks `/proc` counts CPU time in: USER_HZ, 100 on every Linux
/// architecture simrun builds for (proc(5): divide by `sysconf(_SC_CLK_TCK)`,
/// which the kernel fixes at USER_HZ for user space; `getconf CLK_TCK` says 100 here).
const TICKS_PER_S: f64 = 100.0;

/// The role of a thread of this process, by its name.
fn role(name: &str) -> &'static str {
    if name.starts_with("tokio") {
        RUNTIME
    } else if name == "simrun-timer" {
        TIMER
    } else {
        OTHER
    }
}

/// This process's CPU ticks: its total (ended threads included) and each
/// live thread's name and ticks, by thread id.
type OwnTimes = (u64, BTreeMap<u64, (String, u64)>);

fn own_times() -> Option<OwnTimes> {
    let (_, total) = parse_task_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    let mut threads = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u64>().ok()) else { continue };
        if let Some(stat) = std::fs::read_to_string(entry.path().join("stat")).ok().and_then(|t| parse_task_stat(&t)) {
            threads.insert(tid, stat);
        }
    }
    Some((total, threads))
}

fn process_ticks(pid: u32) -> Option<(String, u64)> {
    parse_task_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Everything read at one moment.
struct Snapshot {
    at: Instant,
    cores: Option<(CoreTimes, u32)>,
    own: Option<OwnTimes>,
    broker: Option<(String, u64)>,
}

fn snapshot(broker: Option<u32>) -> Snapshot {
    Snapshot { at: Instant::now(), cores: core_times(), own: own_times(), broker: broker.and_then(process_ticks) }
}

/// Watches the host over one point execution; `finish` says how busy it was.
pub struct CpuWatch {
    start: Snapshot,
    broker: Option<u32>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<f64>>,
}

impl CpuWatch {
    /// Starts watching; `broker` is the broker's process on this host, if known.
    pub fn start(broker: Option<u32>) -> CpuWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::Builder::new().name("simrun-cpu".into()).spawn(move || busiest_second(&flag)).ok();
        CpuWatch { start: snapshot(broker), broker, stop, sampler }
    }

    /// The host's load since `start`; `None` where `/proc` cannot be read.
    pub fn finish(mut self, point: usize, repetition: u32) -> Option<HostLoad> {
        let end = snapshot(self.broker);
        let peak = self.stop_sampler();
        load_between(&self.start, &end, peak, (point, repetition))
    }

    /// Wakes the sampler to stop and waits for it; its busiest second, once.
    fn stop_sampler(&mut self) -> Option<f64> {
        self.stop.store(true, Ordering::Relaxed);
        let sampler = self.sampler.take()?;
        sampler.thread().unpark();
        sampler.join().ok()
    }
}

impl Drop for CpuWatch {
    fn drop(&mut self) {
        self.stop_sampler();
    }
}

/// Reads `/proc/stat` every `SAMPLE_EVERY` until `stop`; the busiest whole
/// second's busy share of all cores, %.
fn busiest_second(stop: &AtomicBool) -> f64 {
    let per_second = (Duration::from_secs(1).as_millis() / SAMPLE_EVERY.as_millis()) as usize;
    let mut window: std::collections::VecDeque<CoreTimes> = std::collections::VecDeque::new();
    let mut peak: f64 = 0.0;
    while !stop.load(Ordering::Relaxed) {
        if let Some((t, cores)) = core_times() {
            window.push_back(t);
            if window.len() > per_second + 1 {
                window.pop_front();
            }
            if let (Some(a), Some(b), true) = (window.front(), window.back(), window.len() == per_second + 1) {
                peak = peak.max(busy_pct(*a, *b, cores));
            }
        }
        std::thread::park_timeout(SAMPLE_EVERY);
    }
    peak
}

/// The share of `cores` × the wall time between `a` and `b` that was not idle, %.
fn busy_pct(a: CoreTimes, b: CoreTimes, cores: u32) -> f64 {
    let capacity = b.at.duration_since(a.at).as_secs_f64() * TICKS_PER_S * cores.max(1) as f64;
    if capacity <= 0.0 {
        return 0.0;
    }
    let idle = b.idle.saturating_sub(a.idle) as f64;
    ((1.0 - idle / capacity) * 100.0).clamp(0.0, 100.0)
}

/// The load between two snapshots, each part's ticks in seconds.
fn load_between(a: &Snapshot, b: &Snapshot, peak: Option<f64>, (point, repetition): (usize, u32)) -> Option<HostLoad> {
    let ((ca, cores), (cb, _)) = (a.cores?, b.cores?);
    let busy_pct = busy_pct(ca, cb, cores);
    let tick = TICKS_PER_S;
    let mut parts: Vec<CpuPart> = Vec::new();
    if let (Some((total_a, threads_a)), Some((total_b, threads_b))) = (&a.own, &b.own) {
        let mut by_role: BTreeMap<&str, u64> = BTreeMap::new();
        for (tid, (name, ticks)) in threads_b {
            let before = threads_a.get(tid).map_or(0, |(_, t)| *t);
            *by_role.entry(role(name)).or_default() += ticks.saturating_sub(before);
        }
        let live: u64 = by_role.values().sum();
        // Threads that ended in between count as other threads: the process total holds them.
        *by_role.entry(OTHER).or_default() += total_b.saturating_sub(*total_a).saturating_sub(live);
        for name in [RUNTIME, TIMER, OTHER] {
            parts.push(CpuPart { name: name.into(), cpu_s: by_role.get(name).copied().unwrap_or(0) as f64 / tick });
        }
    }
    if let (Some((name, ta)), Some((_, tb))) = (&a.broker, &b.broker) {
        parts.push(CpuPart { name: format!("broker ({name})"), cpu_s: tb.saturating_sub(*ta) as f64 / tick });
    }
    Some(HostLoad {
        point,
        repetition,
        seconds: b.at.duration_since(a.at).as_secs_f64(),
        cores,
        busy_pct,
        peak_pct: peak.unwrap_or(busy_pct).max(busy_pct),
        parts,
    })
}

/// The process on this host that listens on TCP `port`, if any and if it
/// can be seen: the socket's inode from `/proc/net/tcp` and `tcp6`, then the
/// process holding it among `/proc/*/fd`.
pub fn listener_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        inodes.extend(text.lines().skip(1).filter_map(|l| listening_inode(l, port)));
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for proc_dir in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = proc_dir.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(proc_dir.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str())) {
                return Some(pid);
            }
        }
    }
    None
}

/// The inode of a `/proc/net/tcp` line's socket when it listens on `port`.
fn listening_inode(line: &str, port: u16) -> Option<u64> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let local = f.get(1)?;
    let state = f.get(3)?;
    let p = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
    (p == port && *state == "0A").then(|| f.get(9)?.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse() {
        let text =
            "cpu  100 5 50 800 40 0 5 0 0 0\ncpu0 50 2 25 400 20 0 3 0 0 0\ncpu1 50 3 25 400 20 0 2 0 0 0\nintr 1\n";
        let (t, cores) = parse_stat(text).unwrap();
        assert_eq!(cores, 2);
        assert_eq!(t.idle, 840);
        // 2 cores for 1 s are 200 ticks; 20 of them idle.
        let (a, b) = (CoreTimes { idle: 100, at: t.at }, CoreTimes { idle: 120, at: t.at + Duration::from_secs(1) });
        assert!((busy_pct(a, b, 2) - 90.0).abs() < 1e-9);
        assert_eq!(busy_pct(b, CoreTimes { idle: 400, ..b }, 2), 0.0, "no time: nothing to say");
    }

    #[test]
    fn task_stat_parses_names_with_spaces_and_parentheses() {
        let text = "4242 (tokio-rt (w)) S 1 2 3 4 5 6 7 8 9 10 17 4 0 0 20 0 1 0";
        assert_eq!(parse_task_stat(text), Some(("tokio-rt (w)".into(), 21)));
        assert_eq!(role("tokio-rt-worker"), RUNTIME);
        assert_eq!(role("simrun-timer"), TIMER);
        assert_eq!(role("simrun"), OTHER);
    }

    #[test]
    fn listening_sockets_are_found_by_port() {
        let listen =
            "   0: 0100007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1";
        assert_eq!(listening_inode(listen, 1883), Some(31337));
        assert_eq!(listening_inode(listen, 1884), None);
        let established = listen.replace(" 0A ", " 01 ");
        assert_eq!(listening_inode(&established, 1883), None);
    }

    #[test]
    fn this_process_burning_a_core_is_seen() {
        let watch = CpuWatch::start(None);
        // Until this thread has used 0.3 s of CPU, however busy the machine.
        let thread_cpu = || {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            parse_task_stat(&stat).unwrap().1 as f64 / TICKS_PER_S
        };
        let (from, give_up) = (thread_cpu(), Instant::now() + Duration::from_secs(20));
        let mut x = 0u64;
        while thread_cpu() - from < 0.3 && Instant::now() < give_up {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let load = watch.finish(3, 1).expect("/proc is readable here");
        assert_eq!((load.point, load.repetition), (3, 1));
        let ours: f64 = load.parts.iter().map(|p| p.cpu_s).sum();
        // The process's ticks (100 Hz) hold this thread's 0.3 s and whatever other tests used meanwhile.
        assert!(ours >= 0.25, "{load:?}");
        assert!(load.busy_pct > 0.0 && load.busy_pct <= 100.0, "{load:?}");
        assert!(load.peak_pct >= load.busy_pct);
    }
}
