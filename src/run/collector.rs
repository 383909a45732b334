//! The collector: matches answers to requests as they arrive and emits one
//! `Sample` per request and tier as soon as it is settled, so a run's memory
//! is bounded by the requests in flight, not by its length.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use crate::plan::Tier;
use crate::record::{Phase, Sample, Status, Unmatched};
use crate::wire::{ErrorReply, Response};

/// A request as a device sent it (to every tier of the point).
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub seq: u64,
    pub device: u32,
    pub phase: Phase,
    pub intended_us: u64,
    pub sent_us: u64,
    /// The request's payload, in bytes.
    pub request_bytes: u32,
    /// The data file's row it carried, and that row's label.
    pub row: Option<u32>,
    pub label: Option<i64>,
}

struct Pending {
    sent: Sent,
    /// Tiers that have not answered yet.
    waiting: Vec<Tier>,
}

/// Settles requests into samples. Feed it what devices sent (`sent`), what
/// came back (`answer`) and the time (`expire`); it returns finished samples.
pub struct Collector {
    point: usize,
    repetition: u32,
    tiers: Vec<Tier>,
    /// `<run-id>/<point>.<rep>/`
    prefix: String,
    timeout_us: u64,
    pending: HashMap<u64, Pending>,
    /// (intended_us, seq) of pending requests, to find timeouts in order.
    deadlines: BTreeSet<(u64, u64)>,
    /// One bit per sequence number: settled for every tier.
    settled: Vec<u64>,
    /// (seq, tier) settled as a timeout: an answer to one of these is late,
    /// any other answer to a settled request a duplicate.
    timed_out: HashSet<(u64, Tier)>,
    pub unmatched: Unmatched,
}

impl Collector {
    pub fn new(point: usize, repetition: u32, tiers: &[Tier], prefix: String, timeout_us: u64) -> Self {
        Collector {
            point,
            repetition,
            tiers: tiers.to_vec(),
            prefix,
            timeout_us,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            settled: Vec::new(),
            timed_out: HashSet::new(),
            unmatched: Unmatched::default(),
        }
    }

    /// Requests still waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn sample(&self, s: &Sent, tier: Tier, status: Status) -> Sample {
        Sample {
            point: self.point,
            repetition: self.repetition,
            tier,
            device: s.device,
            seq: s.seq,
            phase: s.phase,
            intended_us: s.intended_us,
            sent_us: s.sent_us,
            received_us: None,
            queue_us: None,
            infer_us: None,
            status,
            probability: None,
            error: None,
            worker: None,
            request_bytes: s.request_bytes,
            response_bytes: None,
            held_us: None,
            held_late_us: None,
            batch: None,
            row: s.row,
            label: s.label,
            prediction: None,
        }
    }

    fn mark_settled(&mut self, seq: u64) {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.settled.len() <= word {
            self.settled.resize(word + 1, 0);
        }
        self.settled[word] |= 1 << bit;
    }

    fn is_settled(&self, seq: u64) -> bool {
        self.settled.get((seq / 64) as usize).is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    /// A device is about to publish a request. It settles when every tier has
    /// answered, or when its time runs out.
    pub fn sent(&mut self, sent: Sent) {
        self.deadlines.insert((sent.intended_us, sent.seq));
        let waiting = self.tiers.clone();
        self.pending.insert(sent.seq, Pending { sent, waiting });
    }

    /// Publishing request `seq` failed: it is an error on every tier still
    /// waiting. Returns the device, now that the request is settled.
    pub fn failed(&mut self, seq: u64, error: &str, out: &mut Vec<Sample>) -> Option<u32> {
        let p = self.pending.remove(&seq)?;
        self.deadlines.remove(&(p.sent.intended_us, seq));
        for &tier in &p.waiting {
            let mut s = self.sample(&p.sent, tier, Status::Error);
            s.error = Some(format!("publish failed: {error}"));
            out.push(s);
        }
        self.mark_settled(seq);
        Some(p.sent.device)
    }

    /// Records a message from a tier's response or error topic. Returns the
    /// device whose request is now settled on every tier, if any.
    pub fn answer(
        &mut self,
        tier: Tier,
        payload: &[u8],
        is_error: bool,
        received_us: u64,
        out: &mut Vec<Sample>,
    ) -> Option<u32> {
        let parsed = if is_error {
            match serde_json::from_slice::<ErrorReply>(payload) {
                Ok(ErrorReply { id: Some(id), error, worker, .. }) => Some((id, Err((error, worker)))),
                Ok(_) => {
                    self.unmatched.anonymous_errors += 1;
                    return None;
                }
                Err(_) => None,
            }
        } else {
            match serde_json::from_slice::<Response>(payload) {
                Ok(r) if r.tier == tier => Some((r.id.clone(), Ok(r))),
                _ => None,
            }
        };
        let Some((id, result)) = parsed else {
            self.unmatched.unknown += 1;
            return None;
        };
        let Some(seq) = id.strip_prefix(&self.prefix).and_then(|s| s.parse::<u64>().ok()) else {
            self.unmatched.unknown += 1;
            return None;
        };
        let Some(pending) = self.pending.get_mut(&seq) else {
            if self.timed_out.remove(&(seq, tier)) {
                self.unmatched.late += 1;
            } else if self.is_settled(seq) {
                self.unmatched.duplicates += 1;
            } else {
                self.unmatched.unknown += 1;
            }
            return None;
        };
        let Some(pos) = pending.waiting.iter().position(|t| *t == tier) else {
            self.unmatched.duplicates += 1;
            return None;
        };
        pending.waiting.swap_remove(pos);
        let sent = pending.sent.clone();
        let done = pending.waiting.is_empty();
        let mut sample = self.sample(&sent, tier, Status::Ok);
        sample.received_us = Some(received_us);
        sample.response_bytes = Some(payload.len() as u32);
        match result {
            Ok(r) => {
                sample.worker = Some(r.worker.clone());
                sample.queue_us = Some(r.queue_us);
                sample.infer_us = Some(r.infer_us);
                sample.held_us = r.held_us;
                sample.held_late_us = r.held_late_us;
                sample.batch = r.batch;
                sample.probability = Some(r.probability);
                sample.prediction = Some(crate::wire::prediction(r.probability, r.class));
                if received_us.saturating_sub(sent.intended_us) > self.timeout_us {
                    sample.status = Status::Timeout;
                }
            }
            Err((message, worker)) => {
                sample.status = Status::Error;
                sample.error = Some(message);
                sample.worker = Some(worker);
            }
        }
        out.push(sample);
        if done {
            self.pending.remove(&seq);
            self.deadlines.remove(&(sent.intended_us, seq));
            self.mark_settled(seq);
            return Some(sent.device);
        }
        None
    }

    /// Settles as timeouts the requests whose time ran out by `now_us`;
    /// returns their devices.
    pub fn expire(&mut self, now_us: u64, out: &mut Vec<Sample>) -> Vec<u32> {
        let mut devices = Vec::new();
        while let Some(&(intended, seq)) = self.deadlines.first() {
            if intended + self.timeout_us > now_us {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.pending.remove(&seq) {
                for &tier in &p.waiting {
                    out.push(self.sample(&p.sent, tier, Status::Timeout));
                    self.timed_out.insert((seq, tier));
                }
                self.mark_settled(seq);
                devices.push(p.sent.device);
            }
        }
        devices
    }

    /// Settles everything still pending as a timeout (the run is ending).
    pub fn expire_all(&mut self, out: &mut Vec<Sample>) {
        self.expire(u64::MAX - self.timeout_us, out);
    }
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
            request_bytes: 300,
            row: None,
            label: None,
        }
    }

    fn response(id: &str, tier: &str) -> Vec<u8> {
        format!(r#"{{"v":1,"id":"{id}","tier":"{tier}","worker":"w","probability":0.5,"queue_us":3,"infer_us":2}}"#)
            .into_bytes()
    }

    #[test]
    fn every_request_ends_as_exactly_one_status_per_tier() {
        let mut c = Collector::new(0, 0, &[Tier::Edge], "run/0.0/".into(), 2_000_000);
        let mut out = Vec::new();
        for seq in 0..4 {
            c.sent(sent(seq));
        }
        assert_eq!(c.answer(Tier::Edge, &response("run/0.0/0", "edge"), false, 400, &mut out), Some(0));
        c.answer(Tier::Edge, &response("run/0.0/0", "edge"), false, 450, &mut out); // already answered: a duplicate
        c.answer(Tier::Edge, &response("run/0.0/1", "edge"), false, 1000 + 3_000_000, &mut out); // too late
        let err = br#"{"v":1,"id":"run/0.0/2","tier":"edge","worker":"w","error":"bad"}"#;
        c.answer(Tier::Edge, err, true, 2100, &mut out);
        c.answer(Tier::Edge, &response("run/1.0/3", "edge"), false, 3100, &mut out); // other point
        c.answer(Tier::Edge, &response("run/0.0/9", "edge"), false, 3100, &mut out); // never sent
        c.answer(Tier::Edge, b"garbage", false, 3100, &mut out);
        assert_eq!(c.expire(2_002_999, &mut out), Vec::<u32>::new(), "seq 3 is due at 3 ms + 2 s");
        assert_eq!(c.expire(2_003_000, &mut out), vec![0]);
        let statuses: Vec<(u64, Status)> = out.iter().map(|s| (s.seq, s.status)).collect();
        assert_eq!(statuses, [(0, Status::Ok), (1, Status::Timeout), (2, Status::Error), (3, Status::Timeout)]);
        assert_eq!(out[0].latency_us(), Some(400));
        assert_eq!(out[2].error.as_deref(), Some("bad"));
        assert_eq!(c.unmatched, Unmatched { unknown: 3, duplicates: 1, late: 0, anonymous_errors: 0 });
        assert_eq!(c.in_flight(), 0);
        // An answer to a request settled as a timeout is late; a second one, a duplicate.
        c.answer(Tier::Edge, &response("run/0.0/3", "edge"), false, 2_100_000, &mut out);
        c.answer(Tier::Edge, &response("run/0.0/3", "edge"), false, 2_100_001, &mut out);
        assert_eq!((c.unmatched.late, c.unmatched.duplicates), (1, 2));
    }

    #[test]
    fn both_tiers_must_answer_and_a_second_answer_is_a_duplicate() {
        let mut c = Collector::new(0, 0, &[Tier::Edge, Tier::Cloud], "r/0.0/".into(), 1_000_000);
        let mut out = Vec::new();
        c.sent(sent(5));
        assert_eq!(c.answer(Tier::Cloud, &response("r/0.0/5", "cloud"), false, 6000, &mut out), None);
        c.answer(Tier::Cloud, &response("r/0.0/5", "cloud"), false, 6100, &mut out);
        assert_eq!(c.unmatched.duplicates, 1);
        // A response that claims another tier than its topic does not count.
        c.answer(Tier::Edge, &response("r/0.0/5", "cloud"), false, 6200, &mut out);
        assert_eq!(c.answer(Tier::Edge, &response("r/0.0/5", "edge"), false, 6300, &mut out), Some(0));
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|s| s.status == Status::Ok));
    }

    #[test]
    fn a_request_that_was_never_published_is_an_error_on_each_tier() {
        let mut c = Collector::new(0, 0, &[Tier::Edge, Tier::Cloud], "r/0.0/".into(), 1_000_000);
        let mut out = Vec::new();
        c.sent(sent(0));
        assert_eq!(c.failed(0, "closed", &mut out), Some(0));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].error.as_deref(), Some("publish failed: closed"));
        assert!(out.iter().all(|s| s.status == Status::Error));
        c.expire_all(&mut out);
        assert_eq!(out.len(), 2);
    }
}
