//! One request's outcome.

use serde::Serialize;

use crate::plan::Tier;

/// How a request ended. Every request ends as exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Timeout,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
    }
}

/// Whether a request counts toward the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Warmup,
    Measure,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Warmup => "warmup",
            Phase::Measure => "measure",
        }
    }
}

/// One request to one tier. Times are microseconds from the run's start on a
/// monotonic clock; latency is measured from the intended send time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub point: usize,
    pub repetition: u32,
    pub tier: Tier,
    pub device: u32,
    pub seq: u64,
    pub phase: Phase,
    pub intended_us: u64,
    pub sent_us: u64,
    pub received_us: Option<u64>,
    pub queue_us: Option<u64>,
    pub infer_us: Option<u64>,
    pub status: Status,
    pub probability: Option<f32>,
    /// The worker's error message for `Status::Error`.
    pub error: Option<String>,
    /// The worker that answered (`edge-0`, …), when one did.
    pub worker: Option<String>,
}

impl Sample {
    /// Received minus intended send time, when a response arrived.
    pub fn latency_us(&self) -> Option<u64> {
        self.received_us.map(|r| r.saturating_sub(self.intended_us))
    }
}
