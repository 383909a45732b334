//! Routing policies: where a request goes and why.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A routing policy: where each request goes, decided where a real system
/// would decide it (docs/policies.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Policy {
    /// Every request to the edge; an uncertain answer is asked of the cloud
    /// too, whose answer the device takes. Decided on the device.
    Cascade(Uncertain),
    /// The edge serves while fewer than `queue` requests are in it (waiting
    /// or being served) and forwards the rest to the cloud. Decided on the
    /// edge gateway, on its own state.
    Offload { queue: u32 },
    /// Every request to the cloud; when no answer has come `after` its send
    /// time (or the cloud answered with an error), the device asks the edge
    /// and takes the first answer. Decided on the device.
    Deadline { after: Duration },
    /// A seeded share `edge` of the requests to the edge, the rest to the
    /// cloud. Decided on the device.
    Split { edge: f64 },
    /// The model split between the tiers (`placement: partition`): the edge
    /// runs the head and forwards the intermediate tensor to the cloud,
    /// which runs the tail and answers the device (`PartitionConfig`).
    Partition,
}

/// When the edge's answer counts as uncertain under `cascade`: a one-value
/// score inside `[low, high]`, or a class output whose top probability is
/// below `confidence`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Uncertain {
    pub low: f32,
    pub high: f32,
    pub confidence: f32,
    /// Whether the edge model answers with class probabilities (`Some(true)`)
    /// or a score; known once the preflight has run it.
    pub classes: Option<bool>,
}

impl Uncertain {
    /// Whether an answer with this `probability` (the score, or the top
    /// class's probability when `class` is set) is uncertain.
    pub fn holds(self, probability: f32, class: Option<u32>) -> bool {
        match class {
            None => (self.low..=self.high).contains(&probability),
            Some(_) => probability < self.confidence,
        }
    }
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Cascade(_) => "cascade",
            Policy::Offload { .. } => "offload",
            Policy::Deadline { .. } => "deadline",
            Policy::Split { .. } => "split",
            Policy::Partition => "partition",
        }
    }

    /// The policy and its parameter, for the report: `cascade (score in 0.2–0.8)`.
    pub fn describe(self) -> String {
        match self {
            Policy::Cascade(u) => match u.classes {
                Some(true) => format!("cascade (top class below {})", u.confidence),
                Some(false) => format!("cascade (score in {}–{})", u.low, u.high),
                None => format!("cascade (score in {}–{}, or top class below {})", u.low, u.high, u.confidence),
            },
            Policy::Offload { queue } => format!("offload (edge queue ≥ {queue})"),
            Policy::Deadline { after } => format!("deadline ({after:?})"),
            Policy::Split { edge } => format!("split ({:.0} % to the edge)", edge * 100.0),
            Policy::Partition => "partition".into(),
        }
    }
}
