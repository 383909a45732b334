//! The broker a run talks to: address, QoS, encoding, TLS and login.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// As the scenario gave it; `auto` until the managed broker is started.
    pub url: String,
    /// `broker.url: auto`: simrun starts a private Mosquitto for the run
    /// (`run::mosquitto`) and points `host` and `port` at it.
    pub managed: bool,
    pub host: String,
    pub port: u16,
    /// MQTT QoS for requests and responses: 0 or 1.
    pub qos: u8,
    /// How long the broker may stay lost during a point before the run stops.
    pub reconnect_timeout: Duration,
    /// User name and password, when the broker asks for them.
    pub login: Option<Login>,
    /// Set for `mqtts://` brokers.
    pub tls: Option<TlsConfig>,
    /// How devices encode their requests.
    pub encoding: Encoding,
}

/// How devices encode requests on the wire (docs/wire.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// JSON text, schema version 1 (the seed's format).
    #[default]
    Json,
    /// A small binary header and raw little-endian float32 values, schema version 2.
    Binary,
}

impl Encoding {
    /// What the report calls the requests: `JSON requests (wire version 1)`.
    pub fn describe(self) -> &'static str {
        match self {
            Encoding::Json => "JSON requests (wire version 1)",
            Encoding::Binary => "binary requests (wire version 2)",
        }
    }
}

/// What a TLS connection trusts and presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM CA certificates to trust; `None`: the system's.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain and private key, for brokers that ask for one.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// An MQTT user name and its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: Option<Secret>,
}

/// A password: read from the environment, never printed, serialized or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(text)
    }

    /// The secret itself, for the one place that sends it: the MQTT CONNECT packet.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
