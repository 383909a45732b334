//! Running one sweep point: links, workers, devices and collector against a
//! real broker. Emits samples and events; prints nothing.

pub mod arrivals;
pub mod broker;
pub mod collector;
pub mod cpu;
pub mod delivery;
pub mod fleet;
pub mod floor;
pub mod lean;
pub mod link;
pub mod loadgen;
pub mod mosquitto;
pub mod pool;
pub mod shelf;
pub mod timer;
pub mod tls;
pub mod worker;

mod point;

use thiserror::Error;

pub use point::{run_point, PointOutcome, RunContext};

/// A failure of the infrastructure a run depends on.
#[derive(Debug, Error)]
pub enum RunError {
    #[error("broker {url}: {message}")]
    Broker { url: String, message: String },
    /// The connection is ruled out, not just unreachable: the broker turned the
    /// login, TLS handshake or subscription away, or the TLS settings are unusable.
    /// Waiting for the broker will not help.
    #[error("broker {url}: {message}")]
    Refused { url: String, message: String },
    /// Something answered that is not an MQTT broker, or a connection was
    /// reset while simrun read its answer. Before a run that is bad input;
    /// during one, a broker being restarted looks the same, so it is waited for.
    #[error("broker {url}: {message}")]
    NotMqtt { url: String, message: String },
    #[error("worker died: {0}")]
    WorkerDied(String),
    /// A remote worker or a device host left the run (its last will, or it
    /// says so); the message names it.
    #[error("{0}")]
    Left(String),
    /// A remote pool's worker refused a job or did not answer it.
    #[error("{0}")]
    Pool(String),
    #[error("model: {0}")]
    Backend(#[from] crate::backend::BackendError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl RunError {
    pub fn broker(url: &str, message: impl Into<String>) -> Self {
        RunError::Broker { url: url.to_string(), message: message.into() }
    }
}

/// What a run reports while it goes, for progress bars and logs.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    PointStarted { index: usize, repetition: u32, label: String, requests: u64, tiers: usize },
    Progress { sent: u64, requests: u64 },
    PointFinished { index: usize, repetition: u32, ok: u64, timeouts: u64, errors: u64 },
}
