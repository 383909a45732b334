//! The link on its own: a TCP echo server behind a delaying proxy.

use std::time::{Duration, Instant};

use simrun::plan::LinkConfig;
use simrun::run::link::Link;
use simrun::run::timer::PreciseTimer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_each_direction_keeps_order_and_never_serializes() {
    let upstream = echo_server().await;
    let timer = PreciseTimer::start().unwrap();
    let delay = Duration::from_millis(50);
    let mut link = Link::start(upstream, LinkConfig::constant(delay), 7, timer).await.unwrap();
    link.arm(Instant::now());
    let stream = TcpStream::connect(link.addr()).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut r, mut w) = stream.into_split();

    // 40 messages 2 ms apart: 80 ms of sending. Serialized, the echoes would take 40 × 100 ms.
    let n = 40u8;
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let mut sent = Vec::new();
        for i in 0..n {
            w.write_all(&[i]).await.unwrap();
            sent.push(Instant::now());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        (sent, w)
    });
    let mut got = Vec::new();
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < n as usize {
        let k = tokio::time::timeout(Duration::from_secs(5), r.read(&mut buf)).await.expect("echo within 5 s").unwrap();
        assert!(k > 0, "connection closed early");
        for &b in &buf[..k] {
            got.push(b);
            arrivals.push(Instant::now());
        }
    }
    let (sent, _w) = writer.await.unwrap();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "order is kept");
    for (i, (s, a)) in sent.iter().zip(&arrivals).enumerate() {
        let rtt = a.duration_since(*s);
        // Never early by more than the writer's aim (its wake-up lag, at most
        // 0.5 ms each way: CI once saw 5 µs early): 50 ms each way. Loosely
        // bounded above, to catch a gross bug only.
        assert!(rtt >= 2 * delay - Duration::from_millis(1), "message {i} came back after {rtt:?}");
        assert!(rtt < 2 * delay + Duration::from_millis(60), "message {i} came back after {rtt:?}");
    }
    assert!(start.elapsed() < Duration::from_millis(1000), "requests were serialized: {:?}", start.elapsed());
    let record = link.shutdown().await;
    // The link's own record agrees: every chunk about 50 ms, in both directions. The
    // writer asks the timer for the due time less its usual wake-up lag (at most
    // 0.5 ms), so a chunk may leave a little early when a wake-up is quick.
    assert!(!record.up.applied_us.is_empty() && !record.down.applied_us.is_empty());
    assert!(record.up.applied_us.iter().chain(&record.down.applied_us).all(|&us| us >= 49_500), "{record:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bandwidth_cap_limits_throughput_to_within_10_percent() {
    // A sink that counts bytes and notes when the first and last arrived.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let total = 250_000usize;
    let sink = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let (mut got, mut first, mut last) = (0usize, None, Instant::now());
        while got < total {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed after {got} bytes");
            first.get_or_insert_with(Instant::now);
            got += n;
            last = Instant::now();
        }
        (first.unwrap(), last)
    });
    let timer = PreciseTimer::start().unwrap();
    let bps = 2_000_000.0; // 250 kB/s: the transfer takes about a second
    let config = LinkConfig { bandwidth_bps: Some(bps), ..LinkConfig::constant(Duration::from_millis(5)) };
    let mut link = Link::start(upstream, config, 1, timer).await.unwrap();
    link.arm(Instant::now());
    let mut stream = TcpStream::connect(link.addr()).await.unwrap();
    let start = Instant::now();
    for _ in 0..total / 1000 {
        stream.write_all(&[7u8; 1000]).await.unwrap();
    }
    let (first, last) = tokio::time::timeout(Duration::from_secs(10), sink).await.expect("delivered").unwrap();
    let achieved = (total * 8) as f64 / last.duration_since(start).as_secs_f64();
    assert!((achieved - bps).abs() / bps <= 0.10, "achieved {achieved:.0} bit/s against {bps} configured");
    assert!(first.duration_since(start) >= Duration::from_millis(5), "the first byte may not beat the latency");
    let record = link.shutdown().await;
    assert_eq!(record.up.bytes, total as u64);
}

#[test]
fn the_link_benchmark_delivers_every_message_in_every_case() {
    // Its end-to-end bias is a timing: run beside the trace test, whose link traffic it shares, it was 9 ms once.
    let _cpu = crate::common::serial("cpu");
    let out = assert_cmd::Command::cargo_bin("simrun").unwrap().args(["bench", "link", "--quick"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| ") && l.contains(" ms |")).collect();
    assert_eq!(rows.len(), 6, "{table}");
    for row in rows {
        // The echoes column reads "received/sent"; no message may be lost.
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (got, sent) = cells[10].split_once('/').expect("echoes column");
        assert_eq!(got, sent, "{row}");
        // The end-to-end bias: empty for the 0 ms baseline, else the round trip less twice
        // the delay and the baseline's, which a loaded host keeps within milliseconds.
        if cells[1] == "0 ms" {
            assert_eq!(cells[8], "", "{row}");
        } else {
            let bias: i64 = cells[8].trim_end_matches(" µs").parse().expect("a bias in µs");
            assert!(bias.abs() < 5_000, "{row}");
        }
    }
}
