//! The link benchmark: a TCP echo server behind a link, driven at a fixed rate.
//!
//! For each one-way latency it reports the delay the link added per direction
//! against the configured value, the timer's release error, the end-to-end
//! bias (what a round trip gained beyond twice the one-way latency, against
//! the same echo through a 0 ms link), the timer thread's CPU time, and the
//! rate of echoes that came back against the rate offered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::plan::LinkConfig;
use crate::record::DirectionRecord;
use crate::run::link::Link;
use crate::run::timer::PreciseTimer;
/// Exact p50 and p99 of a set of microsecond values (HDR's 0.1 % buckets are
/// 200 µs wide at 200 ms, too coarse for a median error in tens of µs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exact {
    pub p50_us: u64,
    pub p99_us: u64,
}

fn exact(mut values: Vec<u64>) -> Option<Exact> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some(Exact { p50_us: at(0.5), p99_us: at(0.99) })
}

/// One case: a one-way latency at an offered message rate for a duration.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub one_way: Duration,
    pub rate_hz: f64,
    pub duration: Duration,
}

/// What one case measured.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub case: Case,
    /// Delay the link added, per direction.
    pub up: Option<Exact>,
    pub down: Option<Exact>,
    /// Release error over both directions.
    pub release_error: Option<Exact>,
    /// Each echo's round trip, from its message's due time to its return.
    pub round_trip: Option<Exact>,
    pub timer_cpu: Option<Duration>,
    pub wall: Duration,
    pub sent: u64,
    pub echoed: u64,
    /// Echoes per second over the sending window.
    pub achieved_hz: f64,
}

const FRAME: usize = 16;

async fn echo_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    Ok(addr)
}

fn merge(a: &DirectionRecord, b: &DirectionRecord) -> Vec<u64> {
    a.release_error_us.iter().chain(&b.release_error_us).copied().collect()
}

/// Runs one case with a fresh timer, so its CPU time is the case's alone.
pub async fn run_case(case: Case) -> std::io::Result<CaseResult> {
    let timer = PreciseTimer::start()?;
    let upstream = echo_server().await?;
    let mut link = Link::start(upstream, LinkConfig::constant(case.one_way), 1, timer.clone()).await?;
    let stream = TcpStream::connect(link.addr()).await?;
    stream.set_nodelay(true)?;
    let (mut r, mut w) = stream.into_split();
    let cpu_before = timer.cpu_time();
    let start = Instant::now() + Duration::from_millis(20);
    link.arm(start);
    let total = (case.rate_hz * case.duration.as_secs_f64()).round() as u64;
    let interval = 1.0 / case.rate_hz;
    let sender_timer = timer.clone();
    let sender = tokio::spawn(async move {
        for seq in 0..total {
            sender_timer.sleep_until(start + Duration::from_secs_f64(seq as f64 * interval)).await;
            let mut frame = [0u8; FRAME];
            frame[..8].copy_from_slice(&seq.to_le_bytes());
            if w.write_all(&frame).await.is_err() {
                break;
            }
        }
        w
    });
    let deadline = start + case.duration + case.one_way * 2 + Duration::from_secs(2);
    let due = move |seq: u64| start + Duration::from_secs_f64(seq as f64 * interval);
    let (round_trips, last_echo) = receive(&mut r, total, deadline, due).await;
    let echoed = round_trips.len() as u64;
    let last_echo = last_echo.unwrap_or(start);
    let _w = sender.await.map_err(std::io::Error::other)?;
    let cpu_after = timer.cpu_time();
    let wall = last_echo.saturating_duration_since(start);
    let record = link.shutdown().await;
    // Echoes per second, over the time the last echo needed beyond the path's delay.
    let sending = wall.saturating_sub(case.one_way * 2).max(Duration::from_millis(1));
    Ok(CaseResult {
        case,
        up: exact(record.up.applied_us.clone()),
        down: exact(record.down.applied_us.clone()),
        release_error: exact(merge(&record.up, &record.down)),
        round_trip: exact(round_trips),
        timer_cpu: cpu_before.zip(cpu_after).map(|(a, b)| b.saturating_sub(a)),
        wall,
        sent: total,
        echoed,
        achieved_hz: echoed as f64 / sending.as_secs_f64(),
    })
}

/// Reads the echoes of `total` messages until `deadline`: each one's round
/// trip from its due time in µs, and when the last came back.
async fn receive(
    r: &mut tokio::net::tcp::OwnedReadHalf,
    total: u64,
    deadline: Instant,
    due: impl Fn(u64) -> Instant,
) -> (Vec<u64>, Option<Instant>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut frames = Frames::default();
    let mut round_trips = Vec::with_capacity(total as usize);
    let mut last_echo = None;
    while (round_trips.len() as u64) < total {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, r.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                let now = Instant::now();
                last_echo = Some(now);
                for seq in frames.push(&buf[..n]) {
                    round_trips.push(now.saturating_duration_since(due(seq)).as_micros() as u64);
                }
            }
            _ => break,
        }
    }
    (round_trips, last_echo)
}

/// The echo's frames as they come back, split wherever TCP splits them.
#[derive(Default)]
struct Frames {
    partial: Vec<u8>,
}

impl Frames {
    /// The sequence numbers of the frames `bytes` completes.
    fn push(&mut self, bytes: &[u8]) -> Vec<u64> {
        self.partial.extend_from_slice(bytes);
        let whole = self.partial.len() / FRAME * FRAME;
        let seqs = self.partial[..whole]
            .chunks_exact(FRAME)
            .map(|f| u64::from_le_bytes([f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]]))
            .collect();
        self.partial.drain(..whole);
        seqs
    }
}

/// The standard cases: 0 (the baseline of the end-to-end bias), 1, 10, 50
/// and 200 ms one-way at 1,000 messages/s for 3 s, and 200 ms at 5,000
/// messages/s.
pub fn standard_cases(quick: bool) -> Vec<Case> {
    let secs = if quick { 1 } else { 3 };
    let mut cases: Vec<Case> = [0u64, 1, 10, 50, 200]
        .into_iter()
        .map(|ms| Case { one_way: Duration::from_millis(ms), rate_hz: 1000.0, duration: Duration::from_secs(secs) })
        .collect();
    cases.push(Case { one_way: Duration::from_millis(200), rate_hz: 5000.0, duration: Duration::from_secs(secs) });
    cases
}

/// Runs the cases one after another.
pub async fn run(cases: &[Case]) -> std::io::Result<Vec<CaseResult>> {
    let mut out = Vec::new();
    for c in cases {
        out.push(run_case(*c).await?);
    }
    Ok(out)
}

/// The results as a markdown table, with the added delay as an error against
/// the configured one-way value, and the end-to-end bias: the round trip's
/// median less twice the one-way latency, less the median of the 0 ms case
/// at the same rate (the echo and the proxy hop themselves).
pub fn table(results: &[CaseResult]) -> String {
    let mut s = String::from(
        "| one-way | offered | added delay up p50 / p99 | added delay down p50 / p99 | median error | release error p50 / p99 | round trip p50 | end-to-end bias | timer CPU | echoes | achieved rate |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let configured = |r: &CaseResult| r.case.one_way.as_micros() as i64;
    let baseline = |rate: f64| {
        let zero = results.iter().find(|b| b.case.one_way.is_zero() && b.case.rate_hz == rate);
        zero.or_else(|| results.iter().find(|b| b.case.one_way.is_zero())).and_then(|b| b.round_trip)
    };
    for r in results {
        let round_trip = r.round_trip.map(|t| format!("{} µs", t.p50_us)).unwrap_or_default();
        let bias = match (r.round_trip, baseline(r.case.rate_hz)) {
            (Some(t), Some(b)) if !r.case.one_way.is_zero() => {
                format!("{:+} µs", t.p50_us as i64 - 2 * configured(r) - b.p50_us as i64)
            }
            _ => String::new(),
        };
        let pair = |p: Option<Exact>| p.map(|p| format!("{} / {} µs", p.p50_us, p.p99_us)).unwrap_or_default();
        let median_error = r
            .up
            .zip(r.down)
            .map(|(u, d)| format!("{:+} / {:+} µs", u.p50_us as i64 - configured(r), d.p50_us as i64 - configured(r)))
            .unwrap_or_default();
        let cpu = r
            .timer_cpu
            .map(|c| format!("{:.1} % of a core", 100.0 * c.as_secs_f64() / r.wall.as_secs_f64().max(1e-9)))
            .unwrap_or_else(|| "n/a".into());
        s.push_str(&format!(
            "| {} ms | {:.0}/s | {} | {} | {median_error} | {} | {round_trip} | {bias} | {cpu} | {}/{} | {:.0}/s ({:.1} %) |\n",
            r.case.one_way.as_millis(),
            r.case.rate_hz,
            pair(r.up),
            pair(r.down),
            pair(r.release_error),
            r.echoed,
            r.sent,
            r.achieved_hz,
            100.0 * r.achieved_hz / r.case.rate_hz
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_come_back_whole_and_in_order() {
        let mut bytes = Vec::new();
        for seq in [3u64, 4, 70_000] {
            let mut frame = [0u8; FRAME];
            frame[..8].copy_from_slice(&seq.to_le_bytes());
            bytes.extend_from_slice(&frame);
        }
        let mut frames = Frames::default();
        assert_eq!(frames.push(&bytes[..5]), Vec::<u64>::new());
        assert_eq!(frames.push(&bytes[5..20]), vec![3]);
        assert_eq!(frames.push(&bytes[20..]), vec![4, 70_000]);
        assert!(frames.partial.is_empty());
    }
}
