//! MQTT connections: options every client shares, connecting, and probing the broker.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Packet, Publish, QoS};
use tokio::net::lookup_host;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::RunError;
use crate::plan::{BrokerConfig, Login};

/// How long a client may take to connect and subscribe.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The keep-alive of a connection without a last will (devices, workers,
/// collectors).
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Largest MQTT packet a simrun client accepts.
const MAX_PACKET: usize = crate::wire::MAX_MESSAGE_BYTES + 64 * 1024;

/// QoS 0 or 1 as rumqttc's type.
pub fn qos(level: u8) -> QoS {
    if level == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

/// Resolves the broker's host and port to one address.
pub async fn resolve(broker: &BrokerConfig) -> Result<SocketAddr, RunError> {
    let mut addrs = lookup_host((broker.host.as_str(), broker.port))
        .await
        .map_err(|e| RunError::broker(&broker.url, format!("cannot resolve host: {e}")))?;
    addrs.next().ok_or_else(|| RunError::broker(&broker.url, "host has no address"))
}

/// A client and its event loop, with Nagle's algorithm off: without
/// `tcp_nodelay` a QoS 1 round trip takes ~44 ms instead of ~0.1 ms.
/// `broker` adds its login and TLS; the connection goes to `addr` (the broker, or a link to it).
pub fn client(
    id: &str,
    addr: SocketAddr,
    broker: &BrokerConfig,
    will: Option<&Will>,
    inflight: u16,
) -> Result<(AsyncClient, EventLoop), super::tls::TlsError> {
    let mut opts = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    if let Some(w) = will {
        opts.set_last_will(rumqttc::LastWill::new(&w.topic, w.payload.clone(), QoS::AtLeastOnce, true));
    }
    if let Some(l) = &broker.login {
        opts.set_credentials(l.username.clone(), l.password.as_ref().map_or("", |p| p.expose()));
    }
    if let Some(tls) = &broker.tls {
        let config = super::tls::client_config(tls, &broker.host)?;
        opts.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config)));
    }
    opts.set_keep_alive(will.map_or(KEEP_ALIVE, |_| WILL_KEEP_ALIVE))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_inflight(inflight)
        .set_request_channel_capacity(10_000);
    let (client, mut eventloop) = AsyncClient::new(opts, 10_000);
    let mut net = NetworkOptions::new();
    net.set_tcp_nodelay(true);
    net.set_connection_timeout(CONNECT_TIMEOUT.as_secs());
    eventloop.set_network_options(net);
    Ok((client, eventloop))
}

/// QoS 1 messages a connection may have unacknowledged before it holds
/// back the next: enough for a device publishing thousands a second across
/// a link of hundreds of milliseconds.
pub const MAX_INFLIGHT: u16 = 1000;

/// How many unacknowledged QoS 1 messages a device's connection must hold
/// so that it never holds back a request: at QoS 0, one (nothing is
/// acknowledged). Closed loop, twice its outstanding requests (a policy may
/// have it ask a second tier); open loop, four times what it sends within
/// its timeout and a second more (a PUBACK later than the timeout belongs to
/// a request already timed out; the factor covers Poisson bursts and a
/// policy's second asks). Plus 16, and at most `MAX_INFLIGHT`.
pub fn device_inflight(qos: u8, load: &crate::plan::LoadConfig, devices: u32) -> u16 {
    if qos == 0 {
        return 1;
    }
    let need = match load.arrival {
        crate::plan::Arrival::Closed => 2.0 * f64::from(load.concurrency),
        _ => 4.0 * load.rate_hz / f64::from(devices.max(1)) * (load.timeout.as_secs_f64() + 1.0),
    };
    (need.ceil() + 16.0).min(f64::from(MAX_INFLIGHT)) as u16
}

/// The keep-alive of a connection with a last will (a pool's control
/// connection): the broker publishes the will 1.5 keep-alives after a host
/// falls silent without closing its connection, and at once when it closes.
pub const WILL_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// What the broker publishes (retained, QoS 1) for a client whose connection
/// ends without a DISCONNECT: a process killed, a host gone silent.
#[derive(Debug, Clone)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// A time the connection to the broker was down.
#[derive(Debug, Clone, Copy)]
pub struct BrokerOutage {
    pub started: SystemTime,
    pub start: Instant,
    /// So far, if it has not ended.
    pub duration: Duration,
}

/// The outage in progress (since when), and those that ended.
#[derive(Debug, Default)]
struct HealthState {
    down_since: Option<(Instant, SystemTime)>,
    ended: Vec<BrokerOutage>,
}

/// When a connection lost the broker and got it back.
#[derive(Debug, Default)]
pub struct Health {
    inner: Mutex<HealthState>,
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn down(&self) {
        let mut g = self.lock();
        if g.down_since.is_none() {
            g.down_since = Some((Instant::now(), SystemTime::now()));
        }
    }

    fn up(&self) {
        let mut g = self.lock();
        if let Some((start, started)) = g.down_since.take() {
            g.ended.push(BrokerOutage { started, start, duration: start.elapsed() });
        }
    }

    /// How long the connection has been down, if it is.
    pub fn down_for(&self) -> Option<Duration> {
        self.lock().down_since.map(|(start, _)| start.elapsed())
    }

    /// Every outage, the current one included.
    pub fn outages(&self) -> Vec<BrokerOutage> {
        let g = self.lock();
        let mut out = g.ended.clone();
        if let Some((start, started)) = g.down_since {
            out.push(BrokerOutage { started, start, duration: start.elapsed() });
        }
        out
    }
}

/// A received publish and the instant its packet came out of the event loop.
pub type Received = (Instant, Publish);

/// A connected client whose event loop runs on its own task.
pub struct Connection {
    pub client: AsyncClient,
    pub health: Arc<Health>,
    task: JoinHandle<()>,
}

impl Connection {
    /// Connects to `addr` (the broker, or a link in front of it) with the
    /// broker's login and TLS, subscribes to `topics` and waits for every
    /// acknowledgement; afterwards incoming publishes go to `sink` (if any).
    pub async fn open(
        id: &str,
        addr: SocketAddr,
        broker: &BrokerConfig,
        topics: &[(String, QoS)],
        sink: Option<mpsc::UnboundedSender<Received>>,
    ) -> Result<Connection, RunError> {
        Self::open_with(id, addr, broker, topics, sink, None).await
    }

    /// A simulated device's connection: it only publishes, at the broker
    /// config's QoS, with room for `inflight` unacknowledged QoS 1 messages
    /// (`device_inflight`). The table is allocated whole, and at its full
    /// `MAX_INFLIGHT` it was two-thirds of a device's memory
    /// (docs/performance.md).
    pub async fn open_device(
        id: &str,
        addr: SocketAddr,
        broker: &BrokerConfig,
        inflight: u16,
    ) -> Result<Connection, RunError> {
        Self::open_inner(id, addr, broker, &[], None, (None, inflight)).await
    }

    /// As `open`, with a last will the broker publishes if the connection
    /// ends without a DISCONNECT (and a short keep-alive, `WILL_KEEP_ALIVE`).
    pub async fn open_with(
        id: &str,
        addr: SocketAddr,
        broker: &BrokerConfig,
        topics: &[(String, QoS)],
        sink: Option<mpsc::UnboundedSender<Received>>,
        will: Option<&Will>,
    ) -> Result<Connection, RunError> {
        Self::open_inner(id, addr, broker, topics, sink, (will, MAX_INFLIGHT)).await
    }

    async fn open_inner(
        id: &str,
        addr: SocketAddr,
        broker: &BrokerConfig,
        topics: &[(String, QoS)],
        sink: Option<mpsc::UnboundedSender<Received>>,
        (will, inflight): (Option<&Will>, u16),
    ) -> Result<Connection, RunError> {
        let url = broker.url.as_str();
        let login = broker.login.as_ref();
        let (client, mut eventloop) = client(id, addr, broker, will, inflight)
            .map_err(|e| RunError::Refused { url: url.to_string(), message: e.to_string() })?;
        for (topic, q) in topics {
            client
                .subscribe(topic.clone(), *q)
                .await
                .map_err(|e| RunError::broker(url, format!("subscribe {topic}: {e}")))?;
        }
        let ready = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut acks = 0;
            while acks < topics.len() || topics.is_empty() {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        if ack.return_codes.iter().any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) {
                            return Err(Turned::Away("the broker refused a subscription".to_string()));
                        }
                        acks += 1;
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) if topics.is_empty() => return Ok(()),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Some(sink) = &sink {
                            let _ = sink.send((Instant::now(), p));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Err(match (refusal(&e, login), not_mqtt(&e)) {
                            (Some(message), _) => Turned::Away(message),
                            (None, Some(message)) => Turned::NotMqtt(message),
                            (None, None) => Turned::Unreachable(e.to_string()),
                        })
                    }
                }
            }
            Ok(())
        })
        .await;
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(Turned::Unreachable(e))) => return Err(RunError::broker(url, e)),
            Ok(Err(Turned::Away(message))) => return Err(RunError::Refused { url: url.to_string(), message }),
            Ok(Err(Turned::NotMqtt(message))) => return Err(RunError::NotMqtt { url: url.to_string(), message }),
            Err(_) => return Err(RunError::broker(url, format!("no answer within {CONNECT_TIMEOUT:?}"))),
        }
        let health = Arc::new(Health::default());
        let task = tokio::spawn(drive(eventloop, sink, client.clone(), topics.to_vec(), health.clone()));
        Ok(Connection { client, health, task })
    }

    /// Disconnects politely, then stops the event loop.
    pub async fn close(self) {
        let _ = self.client.try_disconnect();
        // Give the DISCONNECT a moment to leave; the broker cleans up either way.
        let mut this = self;
        let _ = tokio::time::timeout(Duration::from_millis(200), &mut this.task).await;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a connection could not be opened.
enum Turned {
    /// No broker answered (refused port, reset, timeout).
    Unreachable(String),
    /// A broker answered and said no.
    Away(String),
    /// Something answered that is not an MQTT broker, or reset the connection
    /// while simrun read its answer (a broker being stopped or started does that too).
    NotMqtt(String),
}

/// The rustls error behind a connection error, wherever rumqttc carried it:
/// its own TLS error, or an I/O error wrapping one (the handshake, or an
/// alert read after it).
fn tls_cause(e: &rumqttc::ConnectionError) -> Option<&rustls::Error> {
    use rumqttc::{ConnectionError as E, StateError as S, TlsError as T};
    let io = match e {
        E::Tls(T::TLS(r)) => return Some(r),
        E::Tls(T::Io(io)) | E::Io(io) | E::MqttState(S::Io(io)) => io,
        E::MqttState(S::Deserialization(rumqttc::mqttbytes::Error::Io(io))) => io,
        _ => return None,
    };
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A read that failed before a whole MQTT packet came back, or an answer
/// other than CONNACK: something listens there that does not speak MQTT,
/// or a broker reset the connection while stopping or starting. The
/// preflight says the first; a running sweep waits, as for a lost broker.
fn not_mqtt(e: &rumqttc::ConnectionError) -> Option<String> {
    use rumqttc::{ConnectionError as E, StateError as S};
    matches!(e, E::MqttState(S::Deserialization(_)) | E::NotConnAck(_))
        .then(|| format!("that port did not answer as an MQTT broker (check broker.url): {e}"))
}

/// What a CONNACK's refusal `code` means (`lean`), as `refusal` words it.
pub(super) fn refusal_code(code: u8, login: Option<&Login>) -> String {
    use rumqttc::ConnectReturnCode as C;
    let code = match code {
        1 => C::RefusedProtocolVersion,
        2 => C::BadClientId,
        3 => C::ServiceUnavailable,
        4 => C::BadUserNamePassword,
        5 => C::NotAuthorized,
        other => return format!("the broker refused the connection: return code {other}"),
    };
    let refused = rumqttc::ConnectionError::ConnectionRefused(code);
    refusal(&refused, login).unwrap_or_else(|| format!("the broker refused the connection: {refused}"))
}

/// What a refused CONNECT means, in words that name the user but never the password.
fn refusal(e: &rumqttc::ConnectionError, login: Option<&Login>) -> Option<String> {
    use rumqttc::ConnectReturnCode as C;
    use rustls::{AlertDescription, Error as R};
    match tls_cause(e) {
        Some(R::AlertReceived(AlertDescription::CertificateRequired)) => {
            return Some(format!(
                "the TLS handshake failed: the broker requires a client certificate (set broker.tls.cert and \
                 broker.tls.key): {e}"
            ))
        }
        Some(R::InvalidCertificate(_)) => {
            return Some(format!(
                "the broker's certificate is not trusted (check broker.tls.ca and the broker's host name): {e}"
            ))
        }
        Some(_) => return Some(format!("the TLS handshake failed: {e}")),
        None if matches!(e, rumqttc::ConnectionError::Tls(_)) => return Some(format!("the TLS handshake failed: {e}")),
        None => {}
    }
    let rumqttc::ConnectionError::ConnectionRefused(code) = e else { return None };
    let who = match login {
        Some(l) => format!("user {:?}", l.username),
        None => "an anonymous client (set broker.username and broker.password_env)".to_string(),
    };
    Some(match code {
        C::BadUserNamePassword => format!("the broker refused the login of {who}: bad user name or password"),
        C::NotAuthorized => format!("the broker refused the login of {who}: not authorized"),
        other => format!("the broker refused the connection: {other:?}"),
    })
}

/// First and longest pause between reconnection attempts.
pub(super) const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));

/// Polls the event loop for the connection's lifetime. rumqttc reconnects on
/// the next poll after an error; the pause, doubling up to a second, keeps a
/// dead broker from spinning us. Sessions are clean, so a reconnect subscribes again.
async fn drive(
    mut eventloop: EventLoop,
    sink: Option<mpsc::UnboundedSender<Received>>,
    client: AsyncClient,
    topics: Vec<(String, QoS)>,
    health: Arc<Health>,
) {
    let mut backoff = BACKOFF.0;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                health.up();
                backoff = BACKOFF.0;
                for (topic, q) in &topics {
                    let _ = client.try_subscribe(topic.clone(), *q);
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let Some(sink) = &sink {
                    let _ = sink.send((Instant::now(), p));
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(_) => {
                health.down();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
}

/// What the broker says about itself.
#[derive(Debug, Clone, Default)]
pub struct BrokerInfo {
    pub version: Option<String>,
}

/// Checks that the broker answers, and asks for its version (`$SYS/broker/version`,
/// which Mosquitto publishes retained).
pub async fn probe(broker: &BrokerConfig, client_id: &str) -> Result<BrokerInfo, RunError> {
    let addr = resolve(broker).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let topic = "$SYS/broker/version".to_string();
    let topics = [(topic, QoS::AtMostOnce)];
    let conn = Connection::open(client_id, addr, broker, &topics, Some(tx)).await?;
    let version = tokio::time::timeout(Duration::from_millis(500), rx.recv())
        .await
        .ok()
        .flatten()
        .map(|(_, p)| String::from_utf8_lossy(&p.payload).into_owned());
    conn.close().await;
    Ok(BrokerInfo { version })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_device_holds_room_for_what_it_can_have_unacknowledged_and_no_more() {
        use crate::plan::{Arrival, LoadConfig};
        let load = |arrival, rate_hz, timeout_s, concurrency| LoadConfig {
            arrival,
            rate_hz,
            timeout: Duration::from_secs(timeout_s),
            concurrency,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            think: Duration::ZERO,
        };
        // QoS 0 is never acknowledged.
        assert_eq!(device_inflight(0, &load(Arrival::Constant, 1e6, 2, 1), 1), 1);
        // 10,000 devices at 1/s each, 2 s timeout: 4 × 1 × 3 + 16.
        assert_eq!(device_inflight(1, &load(Arrival::Poisson, 10_000.0, 2, 1), 10_000), 28);
        // One device at 1,000/s needs the whole table.
        assert_eq!(device_inflight(1, &load(Arrival::Constant, 1_000.0, 1, 1), 1), MAX_INFLIGHT);
        // Closed loop: twice the outstanding requests.
        assert_eq!(device_inflight(1, &load(Arrival::Closed, 0.0, 2, 8), 100), 32);
    }
    use super::*;

    #[test]
    fn a_failed_read_is_not_mqtt_and_not_a_refusal() {
        use rumqttc::{mqttbytes, ConnectionError, StateError};
        let read = |kind: std::io::ErrorKind| {
            ConnectionError::MqttState(StateError::Deserialization(mqttbytes::Error::Io(kind.into())))
        };
        for e in [
            read(std::io::ErrorKind::ConnectionReset),
            read(std::io::ErrorKind::UnexpectedEof),
            ConnectionError::MqttState(StateError::Deserialization(mqttbytes::Error::MalformedPacket)),
        ] {
            assert_eq!(refusal(&e, None), None, "{e}");
            let said = not_mqtt(&e).unwrap();
            assert!(said.starts_with("that port did not answer as an MQTT broker"), "{said}");
        }
        assert_eq!(not_mqtt(&ConnectionError::NetworkTimeout), None);
    }
}
