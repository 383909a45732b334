//! A publish-only MQTT 3.1.1 client for simulated devices on plain TCP.
//!
//! A device only publishes: its answers reach the run's collector, which
//! stands for the devices' receiving side. rumqttc's client holds about
//! 32 KB per connection whatever it sends (its codec's read and write
//! buffers, 8 KB each; a queue of 100 events; a bit per possible incoming
//! packet id, 8 KB), which made a simulated device cost ~35 KB
//! (docs/performance.md). This client holds a TCP stream, a queue of
//! encoded packets and a small read buffer: each device is still its own
//! MQTT connection with its own client id and keep-alive. It sends CONNECT,
//! PUBLISH at QoS 0 or 1, PINGREQ when idle for the keep-alive and DISCONNECT;
//! it reads CONNACK and drops what else the broker sends (PUBACK,
//! PINGRESP). The packet layouts are MQTT 3.1.1's (OASIS standard, 2014,
//! sections 2.2 and 3.1–3.14).
//!
//! When the connection is lost the client reconnects with the same backoff
//! as rumqttc's connections here (`broker::BACKOFF`); what a device
//! publishes while it is down is dropped, and its requests time out, as
//! they would on a device whose network is gone. TLS connections keep
//! rumqttc (`broker::Connection::open_device`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::broker::{BACKOFF, CONNECT_TIMEOUT, KEEP_ALIVE};
use super::RunError;
use crate::plan::BrokerConfig;

/// What the caller's side holds: the queue to the connection's task and the
/// next packet id. Cloned into every place that publishes for the device.
#[derive(Clone)]
pub struct LeanClient {
    queue: mpsc::UnboundedSender<Vec<u8>>,
    packet_id: Arc<AtomicU16>,
}

/// The device's connection was closed: nothing more can be sent.
#[derive(Debug, thiserror::Error)]
#[error("the device's connection is closed")]
pub struct Closed;

impl LeanClient {
    /// Packet ids run from 1 to 65535 (0 is not one).
    fn next_packet_id(&self) -> u16 {
        loop {
            let id = self.packet_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }
}

/// A running device connection: its client and the task that drives it.
pub struct LeanConnection {
    pub client: LeanClient,
    task: tokio::task::JoinHandle<()>,
}

impl LeanConnection {
    /// Connects to `addr` (the broker, or the devices' link) as `id` with the
    /// broker's login, and waits for the broker's CONNACK.
    pub async fn open(id: &str, addr: SocketAddr, broker: &BrokerConfig) -> Result<LeanConnection, RunError> {
        let connect = connect_packet(id, broker.login.as_ref());
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, handshake(addr, &connect)).await;
        let stream = match opened {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(e.into_run_error(&broker.url, broker.login.as_ref())),
            Err(_) => {
                let waited = CONNECT_TIMEOUT;
                return Err(RunError::broker(&broker.url, format!("no answer within {waited:?}")));
            }
        };
        let (queue, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(drive(stream, rx, addr, connect));
        Ok(LeanConnection { client: LeanClient { queue, packet_id: Arc::new(AtomicU16::new(1)) }, task })
    }

    /// Sends DISCONNECT after what is queued, and ends the connection,
    /// whatever clones of its client are still held.
    pub async fn close(self) {
        let LeanConnection { client, mut task } = self;
        let _ = client.queue.send(Vec::new());
        if tokio::time::timeout(Duration::from_millis(200), &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// A simulated device's connection: this module's client on plain TCP,
/// rumqttc's over TLS (`Connection::open_device`).
pub enum DeviceConnection {
    Lean(LeanConnection),
    Full(super::broker::Connection),
}

impl DeviceConnection {
    /// Connects device `id` to `addr` (the broker, or the devices' link); `inflight`
    /// sizes rumqttc's table of unacknowledged messages (`broker::device_inflight`).
    pub async fn open(id: &str, addr: SocketAddr, broker: &BrokerConfig, inflight: u16) -> Result<Self, RunError> {
        Ok(match broker.tls {
            None => DeviceConnection::Lean(LeanConnection::open(id, addr, broker).await?),
            Some(_) => {
                DeviceConnection::Full(super::broker::Connection::open_device(id, addr, broker, inflight).await?)
            }
        })
    }

    pub fn client(&self) -> DeviceClient {
        match self {
            DeviceConnection::Lean(c) => DeviceClient::Lean(c.client.clone()),
            DeviceConnection::Full(c) => DeviceClient::Full(c.client.clone()),
        }
    }

    pub async fn close(self) {
        match self {
            DeviceConnection::Lean(c) => c.close().await,
            DeviceConnection::Full(c) => c.close().await,
        }
    }
}

/// What publishes for a device, from any thread.
#[derive(Clone)]
pub enum DeviceClient {
    Lean(LeanClient),
    Full(rumqttc::AsyncClient),
}

/// A message made ready ahead of its due time on the client that sends it,
/// so that sending it is only a hand-over to the connection's task.
pub enum Prepared {
    /// The encoded PUBLISH, and the queue to the connection's task.
    Lean(mpsc::UnboundedSender<Vec<u8>>, Vec<u8>),
    /// Topic and payload, for rumqttc to encode.
    Full(rumqttc::AsyncClient, String, Vec<u8>),
}

/// A device's message could not be handed to its connection.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Lean(#[from] Closed),
    #[error(transparent)]
    Full(#[from] rumqttc::ClientError),
}

impl DeviceClient {
    pub fn prepare(&self, topic: &str, qos: rumqttc::QoS, payload: &[u8]) -> Prepared {
        match self {
            DeviceClient::Lean(c) => {
                let id = (qos != rumqttc::QoS::AtMostOnce).then(|| c.next_packet_id());
                Prepared::Lean(c.queue.clone(), publish_packet(topic, id, payload))
            }
            DeviceClient::Full(c) => Prepared::Full(c.clone(), topic.to_string(), payload.to_vec()),
        }
    }

    /// Prepares and sends at once.
    pub fn try_publish(&self, topic: &str, qos: rumqttc::QoS, payload: &[u8]) -> Result<(), PublishError> {
        self.prepare(topic, qos, payload).send(qos)
    }
}

impl Prepared {
    /// Hands the message over to its connection; never blocks.
    pub fn send(self, qos: rumqttc::QoS) -> Result<(), PublishError> {
        match self {
            Prepared::Lean(queue, packet) => queue.send(packet).map_err(|_| Closed.into()),
            Prepared::Full(client, topic, payload) => Ok(client.try_publish(topic, qos, false, payload)?),
        }
    }
}

/// Why a handshake failed.
#[derive(Debug)]
enum Handshake {
    /// No broker answered (refused, reset before anything came back).
    Unreachable(std::io::Error),
    /// Something answered that is not a CONNACK.
    NotMqtt(String),
    /// The broker's CONNACK refused the connection with this return code.
    Refused(u8),
}

impl Handshake {
    fn into_run_error(self, url: &str, login: Option<&crate::plan::Login>) -> RunError {
        match self {
            Handshake::Unreachable(e) => RunError::broker(url, e.to_string()),
            Handshake::NotMqtt(what) => RunError::NotMqtt {
                url: url.to_string(),
                message: format!("that port did not answer as an MQTT broker (check broker.url): {what}"),
            },
            Handshake::Refused(code) => {
                RunError::Refused { url: url.to_string(), message: super::broker::refusal_code(code, login) }
            }
        }
    }
}

/// Connects over TCP (no Nagle), sends CONNECT and reads the CONNACK.
async fn handshake(addr: SocketAddr, connect: &[u8]) -> Result<TcpStream, Handshake> {
    let mut stream = TcpStream::connect(addr).await.map_err(Handshake::Unreachable)?;
    stream.set_nodelay(true).map_err(Handshake::Unreachable)?;
    stream.write_all(connect).await.map_err(Handshake::Unreachable)?;
    let mut ack = [0u8; 4];
    match stream.read_exact(&mut ack).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(Handshake::NotMqtt("the connection closed before a CONNACK".to_string()))
        }
        Err(e) => return Err(Handshake::Unreachable(e)),
    }
    match ack {
        [0x20, 0x02, _, 0] => Ok(stream),
        [0x20, 0x02, _, code] => Err(Handshake::Refused(code)),
        other => Err(Handshake::NotMqtt(format!("it answered {other:02x?}, not a CONNACK"))),
    }
}

/// Writes what the device queues, reads (and drops) what the broker sends,
/// pings when idle, and reconnects when the connection is lost; sends
/// DISCONNECT and ends when every client is dropped.
async fn drive(stream: TcpStream, mut queue: mpsc::UnboundedReceiver<Vec<u8>>, addr: SocketAddr, connect: Vec<u8>) {
    let mut stream = Some(stream);
    let mut backoff = BACKOFF.0;
    loop {
        let Some(mut up) = stream.take() else {
            // Down: what is queued meanwhile is dropped (those requests time out).
            loop {
                match queue.try_recv() {
                    Ok(closing) if closing.is_empty() => return,
                    Ok(_) => {}
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF.1);
            stream = tokio::time::timeout(CONNECT_TIMEOUT, handshake(addr, &connect)).await.ok().and_then(Result::ok);
            if stream.is_some() {
                backoff = BACKOFF.0;
            }
            continue;
        };
        match serve(&mut up, &mut queue).await {
            Served::Closed => {
                let _ = up.write_all(&[0xE0, 0x00]).await;
                let _ = up.shutdown().await;
                return;
            }
            Served::Lost => {}
        }
    }
}

/// How a connected stretch ended.
enum Served {
    /// Every client is gone: disconnect.
    Closed,
    /// The connection failed: reconnect.
    Lost,
}

/// Writes what is queued and drops what is read until the connection or
/// the queue ends. Idle for half the keep-alive at a check (every half
/// keep-alive), it pings: at most a keep-alive passes between packets, and
/// the broker waits one and a half. One timer a connection, not one a message.
async fn serve(stream: &mut TcpStream, queue: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> Served {
    let (mut read, mut write) = stream.split();
    let mut scratch = [0u8; 64];
    let half = KEEP_ALIVE / 2;
    let mut check = tokio::time::interval_at(Instant::now() + half, half);
    let mut wrote = Instant::now();
    loop {
        tokio::select! {
            packet = queue.recv() => {
                // An empty packet is `close`'s; no MQTT packet is empty.
                let Some(packet) = packet.filter(|p| !p.is_empty()) else { return Served::Closed };
                if write.write_all(&packet).await.is_err() {
                    return Served::Lost;
                }
                wrote = Instant::now();
            }
            read = read.read(&mut scratch) => match read {
                Ok(0) | Err(_) => return Served::Lost,
                Ok(_) => {} // PUBACKs and PINGRESPs: nothing waits for them
            },
            _ = check.tick() => {
                if wrote.elapsed() >= half {
                    if write.write_all(&[0xC0, 0x00]).await.is_err() {
                        return Served::Lost;
                    }
                    wrote = Instant::now();
                }
            }
        }
    }
}

/// MQTT's remaining length: seven bits a byte, low first, the top bit saying
/// another byte follows.
fn put_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            return;
        }
    }
}

/// A string or binary field: its length in two bytes, then the bytes.
fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// CONNECT: protocol "MQTT" level 4, a clean session, the keep-alive, the
/// client id, and the login when there is one.
fn connect_packet(id: &str, login: Option<&crate::plan::Login>) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + id.len());
    put_field(&mut body, b"MQTT");
    body.push(4);
    let mut flags = 0x02; // clean session
    if login.is_some() {
        flags |= 0xC0; // a user name and a password (empty when none is set), as rumqttc sends them
    }
    body.push(flags);
    body.extend_from_slice(&(KEEP_ALIVE.as_secs() as u16).to_be_bytes());
    put_field(&mut body, id.as_bytes());
    if let Some(l) = login {
        put_field(&mut body, l.username.as_bytes());
        put_field(&mut body, l.password.as_ref().map_or("", |p| p.expose()).as_bytes());
    }
    let mut packet = vec![0x10];
    put_length(&mut packet, body.len());
    packet.extend_from_slice(&body);
    packet
}

/// PUBLISH of `payload` on `topic`, at QoS 1 with `packet_id`, else QoS 0.
fn publish_packet(topic: &str, packet_id: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let remaining = 2 + topic.len() + packet_id.map_or(0, |_| 2) + payload.len();
    let mut packet = Vec::with_capacity(5 + remaining);
    packet.push(if packet_id.is_some() { 0x32 } else { 0x30 });
    put_length(&mut packet, remaining);
    put_field(&mut packet, topic.as_bytes());
    if let Some(id) = packet_id {
        packet.extend_from_slice(&id.to_be_bytes());
    }
    packet.extend_from_slice(payload);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_laid_out_as_mqtt_3_1_1_says() {
        // Remaining lengths at the boundaries of one, two and three bytes (section 2.2.3).
        for (n, bytes) in [(0, vec![0]), (127, vec![0x7F]), (128, vec![0x80, 0x01]), (16_383, vec![0xFF, 0x7F])] {
            let mut out = Vec::new();
            put_length(&mut out, n);
            assert_eq!(out, bytes, "{n}");
        }
        let mut out = Vec::new();
        put_length(&mut out, 2_097_152);
        assert_eq!(out, [0x80, 0x80, 0x80, 0x01]);
        assert_eq!(publish_packet("a/b", None, b"hi"), [0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i']);
        assert_eq!(publish_packet("t", Some(0x0102), b"x"), [0x32, 6, 0, 1, b't', 1, 2, b'x']);
        let connect = connect_packet("d", None);
        assert_eq!(connect, [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 1, b'd']);
    }
}
