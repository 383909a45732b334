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
    let link = Link::start(upstream, LinkConfig { latency: delay }, timer).await.unwrap();
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
        // Never early: 50 ms each way. Loosely bounded above, to catch a gross bug only.
        assert!(rtt >= 2 * delay, "message {i} came back after {rtt:?}");
        assert!(rtt < 2 * delay + Duration::from_millis(60), "message {i} came back after {rtt:?}");
    }
    assert!(start.elapsed() < Duration::from_millis(1000), "requests were serialized: {:?}", start.elapsed());
    link.shutdown().await;
}
