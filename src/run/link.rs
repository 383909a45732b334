//! A link: a TCP proxy on 127.0.0.1 that delays every byte by a one-way latency.
//!
//! It sits between an MQTT client and the broker, so workers stay plain MQTT
//! clients. Each direction of each connection has a reader that stamps chunks
//! with their due time and a writer that releases them in order on the precise
//! timer. The queue between them is unbounded: a link adds delay, never a
//! throughput limit (200 ms at 5,000 requests/s keeps 1,000 in flight).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::timer::PreciseTimer;
use crate::plan::LinkConfig;

const CHUNK: usize = 64 * 1024;

/// A running link. Dropping it closes the listener and every proxied connection.
pub struct Link {
    addr: SocketAddr,
    tasks: JoinSet<()>,
}

impl Link {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, config: LinkConfig, timer: PreciseTimer) -> std::io::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(listener, upstream, config.latency, timer));
        Ok(Link { addr, tasks })
    }

    /// Where clients connect instead of the broker.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, delay: Duration, timer: PreciseTimer) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let timer = timer.clone();
        conns.spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let up = pipe(cr, sw, delay, timer.clone());
            let down = pipe(sr, cw, delay, timer);
            tokio::join!(up, down);
        });
        // Reap finished connections so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
    }
}

/// A chunk read at one instant, due at `read_at + delay`; `None` bytes mean end of stream.
struct Chunk {
    due: Instant,
    bytes: Option<Vec<u8>>,
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration, timer: PreciseTimer) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Chunk>();
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            let due = Instant::now() + delay;
            let bytes = (n > 0).then(|| buf[..n].to_vec());
            let end = bytes.is_none();
            if tx.send(Chunk { due, bytes }).is_err() || end {
                return;
            }
        }
    };
    let writer = async move {
        while let Some(chunk) = rx.recv().await {
            // FIFO with a constant delay keeps due times in order, so order is kept.
            timer.sleep_until(chunk.due).await;
            match chunk.bytes {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::join!(reader, writer);
}
