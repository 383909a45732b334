//! The collector: matches responses to requests and turns them into samples.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::plan::Tier;
use crate::sample::{Phase, Sample, Status};
use crate::wire::{ErrorReply, Response};

/// A request as the load generator sent it (once per tier it went to).
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub seq: u64,
    pub device: u32,
    pub phase: Phase,
    pub intended_us: u64,
    pub sent_us: u64,
    /// Set when publishing failed: the request never left.
    pub publish_error: Option<String>,
}

/// What came back for one request on one tier.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response { received_us: u64, queue_us: u64, infer_us: u64, probability: f32 },
    Error { received_us: u64, message: String },
}

/// Answers of one execution of a point, keyed by tier and sequence number.
#[derive(Debug, Default)]
pub struct Answers {
    pub by_request: HashMap<(Tier, u64), Answer>,
    /// Responses whose id belongs to no request of this point.
    pub unknown: u64,
    /// Second and later answers to the same request; never matched.
    pub duplicates: u64,
    /// Error replies without a readable request id.
    pub anonymous_errors: u64,
}

impl Answers {
    /// Records a message from a response or error topic. `prefix` is
    /// `<run-id>/<point>.<rep>/`; `expected` is the number of requests per tier.
    pub fn record(
        &mut self,
        tier: Tier,
        payload: &[u8],
        is_error: bool,
        received_us: u64,
        prefix: &str,
        expected: u64,
    ) {
        let (id, answer) = if is_error {
            match serde_json::from_slice::<ErrorReply>(payload) {
                Ok(ErrorReply { id: Some(id), error, .. }) => (id, Answer::Error { received_us, message: error }),
                Ok(_) => {
                    self.anonymous_errors += 1;
                    return;
                }
                Err(_) => {
                    self.unknown += 1;
                    return;
                }
            }
        } else {
            match serde_json::from_slice::<Response>(payload) {
                Ok(r) if r.tier == tier => (
                    r.id,
                    Answer::Response {
                        received_us,
                        queue_us: r.queue_us,
                        infer_us: r.infer_us,
                        probability: r.probability,
                    },
                ),
                _ => {
                    self.unknown += 1;
                    return;
                }
            }
        };
        let seq = id.strip_prefix(prefix).and_then(|s| s.parse::<u64>().ok()).filter(|s| *s < expected);
        let Some(seq) = seq else {
            self.unknown += 1;
            return;
        };
        match self.by_request.entry((tier, seq)) {
            std::collections::hash_map::Entry::Occupied(_) => self.duplicates += 1,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(answer);
            }
        }
    }
}

/// Turns what was sent and what came back into one sample per request and tier.
/// Every sent request yields exactly one sample: `ok`, `timeout` or `error`.
pub fn join(
    point: usize,
    repetition: u32,
    tiers: &[Tier],
    sent: &[Sent],
    answers: &Answers,
    timeout: Duration,
) -> Vec<Sample> {
    let timeout_us = timeout.as_micros() as u64;
    let mut samples = Vec::with_capacity(sent.len() * tiers.len());
    for &tier in tiers {
        for s in sent {
            let mut sample = Sample {
                point,
                repetition,
                tier,
                device: s.device,
                seq: s.seq,
                phase: s.phase,
                intended_us: s.intended_us,
                sent_us: s.sent_us,
                received_us: None,
                queue_us: None,
                infer_us: None,
                status: Status::Timeout,
                probability: None,
                error: None,
            };
            if let Some(e) = &s.publish_error {
                sample.status = Status::Error;
                sample.error = Some(format!("publish failed: {e}"));
            } else {
                match answers.by_request.get(&(tier, s.seq)) {
                    Some(Answer::Response { received_us, queue_us, infer_us, probability }) => {
                        sample.received_us = Some(*received_us);
                        sample.queue_us = Some(*queue_us);
                        sample.infer_us = Some(*infer_us);
                        sample.probability = Some(*probability);
                        let late = received_us.saturating_sub(s.intended_us) > timeout_us;
                        sample.status = if late { Status::Timeout } else { Status::Ok };
                    }
                    Some(Answer::Error { received_us, message }) => {
                        sample.received_us = Some(*received_us);
                        sample.status = Status::Error;
                        sample.error = Some(message.clone());
                    }
                    None => {}
                }
            }
            samples.push(sample);
        }
    }
    samples
}

/// Microseconds from `epoch` to `at` (zero if `at` is earlier).
pub fn micros_since(epoch: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(epoch).as_micros() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(seq: u64) -> Sent {
        Sent {
            seq,
            device: 0,
            phase: Phase::Measure,
            intended_us: seq * 1000,
            sent_us: seq * 1000 + 5,
            publish_error: None,
        }
    }

    fn response(id: &str, tier: &str) -> Vec<u8> {
        format!(r#"{{"v":1,"id":"{id}","tier":"{tier}","worker":"w","probability":0.5,"queue_us":3,"infer_us":2}}"#)
            .into_bytes()
    }

    #[test]
    fn every_request_ends_as_exactly_one_status() {
        let prefix = "run/0.0/";
        let mut answers = Answers::default();
        answers.record(Tier::Edge, &response("run/0.0/0", "edge"), false, 400, prefix, 4);
        answers.record(Tier::Edge, &response("run/0.0/0", "edge"), false, 450, prefix, 4); // duplicate
        answers.record(Tier::Edge, &response("run/0.0/1", "edge"), false, 1000 + 3_000_000, prefix, 4); // too late
        answers.record(
            Tier::Edge,
            br#"{"v":1,"id":"run/0.0/2","tier":"edge","worker":"w","error":"bad"}"#,
            true,
            2100,
            prefix,
            4,
        );
        answers.record(Tier::Edge, &response("run/1.0/3", "edge"), false, 3100, prefix, 4); // other point
        answers.record(Tier::Edge, &response("run/0.0/9", "edge"), false, 3100, prefix, 4); // out of range
        answers.record(Tier::Edge, b"garbage", false, 3100, prefix, 4);
        let sent: Vec<Sent> = (0..4).map(sent).collect();
        let samples = join(0, 0, &[Tier::Edge], &sent, &answers, Duration::from_secs(2));
        let statuses: Vec<Status> = samples.iter().map(|s| s.status).collect();
        assert_eq!(statuses, [Status::Ok, Status::Timeout, Status::Error, Status::Timeout]);
        assert_eq!(samples[0].latency_us(), Some(400));
        assert_eq!(samples[2].error.as_deref(), Some("bad"));
        assert_eq!((answers.duplicates, answers.unknown), (1, 3));
    }

    #[test]
    fn a_request_that_was_never_published_is_an_error_on_each_tier() {
        let mut s = sent(0);
        s.publish_error = Some("closed".into());
        let samples = join(0, 0, &[Tier::Edge, Tier::Cloud], &[s], &Answers::default(), Duration::from_secs(1));
        assert_eq!(samples.len(), 2);
        assert!(samples.iter().all(|s| s.status == Status::Error));
    }
}
