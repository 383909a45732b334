//! Everything a report warns about, as one type: the prose of each warning
//! lives in `Display`, once. Warnings recorded while a run goes are stored in
//! `results.json` as their text and read back as `Recorded`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::plan::Tier;
use crate::stats::LinkWarning;

/// The largest |edge − cloud| output difference that counts as agreement.
pub const PARITY_LIMIT: f32 = 1e-5;
/// The achieved slowdown's median may differ from the configured one by this fraction.
pub const SLOWDOWN_TOLERANCE: f64 = 0.05;

/// Where in the sweep something happened: `point P rep R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub point: usize,
    pub repetition: u32,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "point {} rep {}", self.point, self.repetition)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    /// Why the run stopped before its end.
    Stopped(String),
    /// A warning read back from a results folder, as it was written.
    Recorded(String),
    /// The same, prefixed with the shard it came from (`merge`).
    FromShard {
        shard: String,
        warning: Box<Warning>,
    },
    FloorNotMeasured(String),
    /// Requests of this many bytes of JSON text at `point`, which binary
    /// encoding would carry in `binary_bytes`.
    LargeJson {
        point: String,
        bytes: u64,
        binary_bytes: u64,
    },
    BrokerUnreachable {
        at: At,
        since: String,
        seconds: f64,
        touched: usize,
    },
    /// A point plays `played_s` of a link trace `span_s` long.
    PartialTrace {
        link: String,
        path: String,
        played_s: f64,
        span_s: f64,
    },
    /// The host's cores were busier than `record::SATURATED_PCT` on average over a point execution.
    HostSaturated {
        at: At,
        busy_pct: f64,
        cores: u32,
    },
    UnrepliedMalformed {
        at: At,
        tier: Tier,
        count: u64,
        replies_per_s: f64,
    },
    ShardsMissing {
        covered: usize,
        planned: usize,
        missing: Vec<String>,
    },
    /// A tier's achieved slowdown (median) is off its configured one by more than the tolerance.
    ComputeOff {
        at: At,
        tier: Tier,
        configured: f64,
        achieved: f64,
    },
    NothingAnswered {
        at: At,
        tier: Tier,
        requests: u64,
    },
    TimedOut {
        at: At,
        tier: Tier,
        count: u64,
        requests: u64,
    },
    Errors {
        at: At,
        tier: Tier,
        count: u64,
        requests: u64,
    },
    Rejected {
        at: At,
        tier: Tier,
        count: u64,
    },
    Link(LinkWarning),
    UnknownAnswers(u64),
    DuplicateAnswers(u64),
    LateAnswers(u64),
    AnonymousErrors(u64),
    /// The harness floor's median, in µs, at or above the Nagle signature.
    FloorAlarm {
        p50_us: u64,
    },
    FloorLost {
        lost: u64,
        sent: u64,
    },
    ParityOff {
        validation: f32,
        live: Option<f32>,
    },
    Partial {
        done: usize,
        planned: usize,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Warning::Stopped(s) | Warning::Recorded(s) => f.write_str(s),
            Warning::FromShard { shard, warning } => write!(f, "{shard}: {warning}"),
            Warning::FloorNotMeasured(e) => write!(f, "the harness floor could not be measured: {e}"),
            Warning::BrokerUnreachable { at, since, seconds, touched } => write!(
                f,
                "{at}: the broker was unreachable from {since} for {seconds:.2} s; {touched} request samples due \
                 within the timeout before it or during it ended as timeout or error"
            ),
            Warning::PartialTrace { link, path, played_s, span_s } => write!(
                f,
                "{link} plays only {played_s:.0} s of the {span_s:.0} s trace {path} (it starts with the measured \
                 window): the rest of the trace never ran; lengthen load.duration to play it all"
            ),
            Warning::HostSaturated { at, busy_pct, cores } => saturated(f, at, *busy_pct, *cores),
            Warning::UnrepliedMalformed { at, tier, count, replies_per_s } => write!(
                f,
                "{at} {tier}: {count} malformed requests got no error reply (replies are limited to \
                 {replies_per_s} per second per worker)"
            ),
            Warning::ShardsMissing { covered, planned, missing } => write!(
                f,
                "the merged shards cover {covered} of the plan's {planned} points; missing {}",
                missing.join(", ")
            ),
            Warning::NothingAnswered { at, tier, requests } => write!(
                f,
                "{at} {tier}: answered none of its {requests} requests: the broker may not deliver to the workers' \
                 subscription (access control, no shared subscriptions), the workers may not be allowed to publish \
                 their answers, or load.timeout is shorter than a round trip"
            ),
            Warning::TimedOut { at, tier, count, requests } => {
                write!(f, "{at} {tier}: {count} of {requests} requests timed out")
            }
            Warning::Errors { at, tier, count, requests } => {
                write!(f, "{at} {tier}: {count} of {requests} requests ended in an error")
            }
            Warning::ComputeOff { at, tier, configured, achieved } => write!(
                f,
                "{at} {tier}: computed {achieved:.3} times slower than this host at the median against {configured} \
                 configured (tolerance {:.0} %): the timer woke late for the holds, or inference took too few \
                 microseconds to measure",
                SLOWDOWN_TOLERANCE * 100.0
            ),
            Warning::LargeJson { point, bytes, binary_bytes } => write!(
                f,
                "requests are {bytes} bytes of JSON text at {point}: `broker.encoding: binary` carries the same \
                 float32 values in {binary_bytes} bytes and workers parse no text (docs/wire.md)"
            ),
            Warning::Rejected { at, tier, count } => {
                write!(f, "{at} {tier}: workers rejected {count} malformed requests")
            }
            Warning::Link(w) => fmt::Display::fmt(w, f),
            Warning::UnknownAnswers(n) => write!(f, "{n} answers matched no request of this run (ignored)"),
            Warning::DuplicateAnswers(n) => write!(
                f,
                "{n} duplicate answers: a second answer to a request its tier had already settled (ignored, never \
                 matched twice)"
            ),
            Warning::LateAnswers(n) => {
                write!(f, "{n} answers came after their request had timed out (the request stays a timeout)")
            }
            Warning::AnonymousErrors(n) => write!(f, "{n} error replies named no request"),
            Warning::FloorAlarm { p50_us } => floor_alarm(f, *p50_us),
            Warning::FloorLost { lost, sent } => write!(f, "the harness floor echo lost {lost} of {sent} messages"),
            Warning::ParityOff { validation, live } => write!(
                f,
                "edge and cloud disagree by more than {PARITY_LIMIT:e} (validation {validation:.2e}, live {live:?})"
            ),
            Warning::Partial { done, planned } => {
                write!(f, "partial run: {done} of {planned} point executions finished")
            }
        }
    }
}

/// `Warning::HostSaturated`'s prose.
fn saturated(f: &mut fmt::Formatter, at: &At, busy_pct: f64, cores: u32) -> fmt::Result {
    write!(
        f,
        "{at}: the host was saturated, its {cores} cores {busy_pct:.0} % busy on average (above {:.0} %): devices, \
         broker, links and tiers waited for CPU, so its latencies measure the host as much as the tiers (Host CPU \
         says which part used it)",
        crate::record::SATURATED_PCT
    )
}

/// `Warning::FloorAlarm`'s prose.
fn floor_alarm(f: &mut fmt::Formatter, p50_us: u64) -> fmt::Result {
    let ms = p50_us as f64 / 1e3;
    write!(
        f,
        "⚠️ HARNESS FLOOR IS {ms:.1} ms: a plain echo through this broker takes {ms:.1} ms at the median, which on \
         loopback means Nagle's algorithm is on. Every latency in this report carries it. Add `set_tcp_nodelay true` \
         to the Mosquitto config (simrun's clients already set TCP_NODELAY)."
    )
}

/// Stored as the text a reader sees.
impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl schemars::JsonSchema for Warning {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Warning".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "description": "A warning as the report states it." })
    }
}

impl<'de> Deserialize<'de> for Warning {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Warning::Recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_stored_as_its_text_and_read_back_alike() {
        let w = Warning::TimedOut { at: At { point: 1, repetition: 0 }, tier: Tier::Cloud, count: 3, requests: 40 };
        assert_eq!(w.to_string(), "point 1 rep 0 cloud: 3 of 40 requests timed out");
        let json = serde_json::to_string(&w).unwrap();
        let back: Warning = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_string(), w.to_string());
        let shard = Warning::FromShard { shard: "shard 2/2".into(), warning: Box::new(back) };
        assert_eq!(shard.to_string(), "shard 2/2: point 1 rep 0 cloud: 3 of 40 requests timed out");
    }

    #[test]
    fn the_parity_limit_is_written_as_configured() {
        let w = Warning::ParityOff { validation: 2e-5, live: None };
        assert!(w.to_string().starts_with("edge and cloud disagree by more than 1e-5 (validation 2.00e-5"), "{w}");
    }
}
