//! The collector: matches answers to requests as they arrive and emits one
//! `Sample` per request and tier as soon as it is settled, so a run's memory
//! is bounded by the requests in flight, not by its length.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::plan::{Policy, Tier};
use crate::record::{Phase, Route, Sample, SplitPart, Status, Unmatched};
use crate::wire::{ErrorReply, Offloaded, Response};

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
    /// Under a routing policy: where the device sent it first, and why.
    pub route: Option<(Route, String)>,
    /// The payload, kept while the device may have to send it again
    /// (`cascade`, `deadline`).
    pub payload: Option<Arc<Vec<u8>>>,
}

struct Pending {
    sent: Sent,
    /// Tiers that have not answered yet.
    waiting: Vec<Tier>,
    /// Under a policy: the route so far, and the queue, inference and held
    /// times of answers the device waited for before the one it takes.
    routed: Option<Routed>,
}

struct Routed {
    route: Route,
    reason: String,
    waited: [u64; 3],
    /// `partition`: the head's part, from the edge's notice.
    split: Option<SplitPart>,
}

/// The device must send request `seq` to `tier` as well (a policy decided so
/// on an answer: `cascade`'s uncertain edge, `deadline`'s cloud error).
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub device: u32,
    pub seq: u64,
    pub tier: Tier,
    pub payload: Arc<Vec<u8>>,
}

/// `deadline`'s bookkeeping between the collector and the devices' timers:
/// requests whose cloud answered (or failed) before their deadline, so the
/// timer must not ask the edge.
pub type Decided = Arc<Mutex<HashSet<u64>>>;

/// How a collector settles requests, chosen once when it is made.
enum Mode {
    /// Every request goes to each of these tiers, and settles with a sample
    /// per tier once each has answered or its time ran out.
    PerTier(Vec<Tier>),
    /// A policy routes each request; it settles with one sample, tier `policy`.
    Routed(Routing),
}

/// What routing by a policy keeps beside the requests in flight.
struct Routing {
    policy: Policy,
    /// (seq, tier) the policy asked but no longer waits for: its answer is dropped.
    superseded: HashSet<(u64, Tier)>,
    /// What the devices must send again.
    asks: Vec<Ask>,
    decided: Decided,
}

impl Routing {
    /// Whether the policy, on this answer, has the device ask another tier
    /// (a cascade's uncertain edge answer, a deadline's failed cloud answer);
    /// notes a deadline request as decided once the cloud has answered.
    fn redirect(&mut self, p: &mut Pending, (policy, seq, tier): (Policy, u64, Tier), result: &Answer) -> bool {
        let first = p.routed.as_ref().map(|r| r.route);
        match (policy, tier, result) {
            (Policy::Cascade(u), Tier::Edge, Ok(r)) if u.holds(r.probability, r.class) => {
                let reason = match r.class {
                    None => format!("uncertain {:.3}", r.probability),
                    Some(_) => format!("uncertain: top class {:.3} < {}", r.probability, u.confidence),
                };
                let waited = [r.queue_us, r.infer_us, r.held_us.unwrap_or(0)];
                p.routed = Some(Routed { route: Route::EdgeThenCloud, reason, waited, split: None });
                p.waiting = vec![Tier::Cloud];
                if let Some(payload) = p.sent.payload.clone() {
                    self.asks.push(Ask { device: p.sent.device, seq, tier: Tier::Cloud, payload });
                }
                true
            }
            (Policy::Deadline { .. }, Tier::Cloud, Err((message, _))) if first == Some(Route::Cloud) => {
                lock(&self.decided).insert(seq);
                let reason = format!("cloud error: {message}");
                p.routed = Some(Routed { route: Route::CloudThenEdge, reason, waited: [0; 3], split: None });
                p.waiting = vec![Tier::Edge];
                if let Some(payload) = p.sent.payload.clone() {
                    self.asks.push(Ask { device: p.sent.device, seq, tier: Tier::Edge, payload });
                }
                true
            }
            (Policy::Deadline { .. }, Tier::Cloud, Ok(_)) if first == Some(Route::Cloud) => {
                lock(&self.decided).insert(seq);
                false
            }
            _ => false,
        }
    }
}

/// The route of the answer a request takes, with the reason the policy gave.
fn taken_route(routed: Option<Routed>, policy: Policy, tier: Tier, result: &Answer) -> Routed {
    let mut routed =
        routed.unwrap_or(Routed { route: Route::Edge, reason: String::new(), waited: [0; 3], split: None });
    match (policy, tier, result) {
        (Policy::Cascade(_), Tier::Edge, Ok(r)) => routed.reason = format!("confident {:.3}", r.probability),
        (Policy::Deadline { .. }, Tier::Cloud, _) if routed.route == Route::Cloud => {
            routed.reason = "cloud in time".into()
        }
        // The cloud answered a request the edge forwarded without its notice arriving first.
        (Policy::Offload { .. }, Tier::Cloud, _) if routed.route == Route::Edge => {
            routed = Routed { route: Route::Cloud, reason: "offloaded by the edge".into(), ..routed }
        }
        // The cloud answered a request whose head's notice has not arrived yet.
        (Policy::Partition, Tier::Cloud, _) if routed.route == Route::Edge => {
            routed = Routed { route: Route::EdgeThenCloud, reason: "split (no notice from the edge)".into(), ..routed }
        }
        (Policy::Partition, Tier::Edge, _) => routed.reason = "all on the edge".into(),
        _ => {}
    }
    routed
}

/// Settles requests into samples. Feed it what devices sent (`sent`), what
/// came back (`answer`) and the time (`expire`); it returns finished samples.
pub struct Collector {
    point: usize,
    repetition: u32,
    mode: Mode,
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
    /// (devices, slot, slots): the collector settles only the requests of
    /// its own share of the devices; answers to another share's are another
    /// collector's, and dropped uncounted.
    share: Option<(u32, u32, u32)>,
    /// The device group whose requests this collector settles.
    group: u16,
}

impl Collector {
    pub fn new(point: usize, repetition: u32, tiers: &[Tier], prefix: String, timeout_us: u64) -> Self {
        Collector {
            point,
            repetition,
            mode: Mode::PerTier(tiers.to_vec()),
            prefix,
            timeout_us,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            settled: Vec::new(),
            timed_out: HashSet::new(),
            unmatched: Unmatched::default(),
            share: None,
            group: 0,
        }
    }

    /// Its samples are of device group `group`.
    pub fn with_group(mut self, group: u16) -> Self {
        self.group = group;
        self
    }

    /// Settles only slot `slot`'s requests of `slots` (`plan::device_slot`).
    pub fn with_share(mut self, devices: u32, slot: u32, slots: u32) -> Self {
        self.share = (slots > 1).then_some((devices, slot, slots));
        self
    }

    /// Whether request `seq` is another share's: request `seq` comes from
    /// device `seq mod devices`, in the open loop and the closed one.
    fn foreign(&self, seq: u64) -> bool {
        self.share.is_some_and(|(devices, slot, slots)| {
            crate::plan::device_slot((seq % u64::from(devices.max(1))) as u32, slots) != slot
        })
    }

    /// Routes requests by `policy`: one sample per request, tier `policy`.
    pub fn with_policy(mut self, policy: Option<Policy>, decided: Decided) -> Self {
        if let Some(policy) = policy {
            self.mode = Mode::Routed(Routing { policy, superseded: HashSet::new(), asks: Vec::new(), decided });
        }
        self
    }

    /// What the devices must send again, since the last call.
    pub fn take_asks(&mut self) -> Vec<Ask> {
        match &mut self.mode {
            Mode::Routed(r) => std::mem::take(&mut r.asks),
            Mode::PerTier(_) => Vec::new(),
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
            group: self.group,
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
            route: None,
            answered_by: None,
            reason: None,
            split: None,
        }
    }

    /// A policy's sample of a request, so far routed as `routed`.
    fn routed_sample(&self, s: &Sent, routed: Option<&Routed>, status: Status) -> Sample {
        let mut sample = self.sample(s, Tier::Policy, status);
        if let Some(r) = routed {
            sample.route = Some(r.route);
            sample.reason = Some(r.reason.clone());
        }
        sample
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
        let routed = sent.route.clone().map(|(route, reason)| Routed { route, reason, waited: [0; 3], split: None });
        let waiting = match (&self.mode, &routed) {
            (Mode::PerTier(tiers), _) => tiers.clone(),
            // The edge gateway may forward it: whichever tier answers.
            (Mode::Routed(Routing { policy: Policy::Offload { .. } | Policy::Partition, .. }), _) => {
                vec![Tier::Edge, Tier::Cloud]
            }
            (Mode::Routed(_), Some(r)) if r.route == Route::Cloud => vec![Tier::Cloud],
            (Mode::Routed(_), _) => vec![Tier::Edge],
        };
        self.pending.insert(sent.seq, Pending { sent, waiting, routed });
    }

    /// `deadline`: the device's timer found no answer from the cloud by the
    /// deadline and asked the edge as well.
    pub fn fell_back(&mut self, seq: u64, reason: String) {
        let Some(p) = self.pending.get_mut(&seq) else {
            // Settled meanwhile: the edge's answer will be one too many.
            if let Mode::Routed(r) = &mut self.mode {
                r.superseded.insert((seq, Tier::Edge));
            }
            return;
        };
        p.waiting.push(Tier::Edge);
        p.routed = Some(Routed { route: Route::CloudThenEdge, reason, waited: [0; 3], split: None });
    }

    /// `offload`: the edge gateway says it forwarded a request to the cloud;
    /// `partition`: the edge ran the head and sent the cloud its tensor,
    /// the notice arriving at `received_us`.
    pub fn offloaded(&mut self, payload: &[u8], received_us: u64) {
        let Ok(notice) = serde_json::from_slice::<Offloaded>(payload) else {
            self.unmatched.unknown += 1;
            return;
        };
        let Some(p) = self.seq_of(&notice.id).and_then(|seq| self.pending.get_mut(&seq)) else { return };
        p.routed = Some(match notice.head {
            None => Routed { route: Route::Cloud, reason: notice.reason, waited: [0; 3], split: None },
            Some(h) => Routed {
                route: Route::EdgeThenCloud,
                reason: notice.reason,
                waited: [h.queue_us, h.infer_us, h.held_us],
                split: Some(SplitPart { head_us: h.infer_us + h.held_us, forwarded_us: received_us, bytes: h.bytes }),
            },
        });
    }

    fn seq_of(&self, id: &str) -> Option<u64> {
        id.strip_prefix(&self.prefix).and_then(|s| s.parse::<u64>().ok())
    }

    /// Publishing request `seq` failed: it is an error on every tier still
    /// waiting. Returns the device, now that the request is settled.
    pub fn failed(&mut self, seq: u64, error: &str, out: &mut Vec<Sample>) -> Option<u32> {
        let p = self.pending.remove(&seq)?;
        self.deadlines.remove(&(p.sent.intended_us, seq));
        let each: Vec<Sample> = match self.mode {
            Mode::Routed(_) => vec![self.routed_sample(&p.sent, p.routed.as_ref(), Status::Error)],
            Mode::PerTier(_) => p.waiting.iter().map(|&tier| self.sample(&p.sent, tier, Status::Error)).collect(),
        };
        for mut s in each {
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
        let (seq, result) = self.parse(tier, payload, is_error)?;
        let Some(pending) = self.pending.get_mut(&seq) else {
            if self.foreign(seq) {
                // Another device host's request, settled by its own collector.
            } else if self.superseded(seq, tier) {
                // A policy stopped waiting for this tier: nothing to count.
            } else if self.timed_out.remove(&(seq, tier)) {
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
        if let Mode::Routed(Routing { policy, .. }) = self.mode {
            return self.route(policy, seq, tier, result, (received_us, payload.len() as u32), out);
        }
        pending.waiting.swap_remove(pos);
        let sent = pending.sent.clone();
        let done = pending.waiting.is_empty();
        out.push(self.answered(&sent, tier, result, received_us, payload.len() as u32));
        if done {
            self.settle(seq, &sent);
            return Some(sent.device);
        }
        None
    }

    /// Whether the policy stopped waiting for `tier`'s answer to `seq`
    /// (forgotten now that it came).
    fn superseded(&mut self, seq: u64, tier: Tier) -> bool {
        match &mut self.mode {
            Mode::Routed(r) => r.superseded.remove(&(seq, tier)),
            Mode::PerTier(_) => false,
        }
    }

    /// The request's sequence number and the answer, from a message on
    /// `tier`'s response or error topic; counts what matches no request.
    fn parse(&mut self, tier: Tier, payload: &[u8], is_error: bool) -> Option<(u64, Answer)> {
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
        let found = parsed.and_then(|(id, result)| Some((self.seq_of(&id)?, result)));
        if found.is_none() {
            self.unmatched.unknown += 1;
        }
        found
    }

    fn settle(&mut self, seq: u64, sent: &Sent) {
        self.pending.remove(&seq);
        self.deadlines.remove(&(sent.intended_us, seq));
        self.mark_settled(seq);
    }

    /// The sample of `tier`'s answer to `sent`.
    fn answered(&self, sent: &Sent, tier: Tier, result: Answer, received_us: u64, bytes: u32) -> Sample {
        let mut sample = self.sample(sent, tier, Status::Ok);
        sample.received_us = Some(received_us);
        sample.response_bytes = Some(bytes);
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
        sample
    }

    /// An answer under a routing policy: the device asks another tier, or
    /// takes it as the request's one sample.
    fn route(
        &mut self,
        policy: Policy,
        seq: u64,
        tier: Tier,
        result: Answer,
        (received_us, bytes): (u64, u32),
        out: &mut Vec<Sample>,
    ) -> Option<u32> {
        let Mode::Routed(routing) = &mut self.mode else { return None };
        let p = self.pending.get_mut(&seq)?;
        if routing.redirect(p, (policy, seq, tier), &result) {
            return None;
        }
        for &other in p.waiting.iter().filter(|t| **t != tier) {
            routing.superseded.insert((seq, other));
        }
        let p = self.pending.remove(&seq)?;
        self.settle(seq, &p.sent);
        let routed = taken_route(p.routed, policy, tier, &result);
        let mut sample = self.answered(&p.sent, tier, result, received_us, bytes);
        sample.tier = Tier::Policy;
        sample.answered_by = Some(tier);
        sample.route = Some(routed.route);
        sample.split = routed.split;
        if sample.status == Status::Ok {
            let [queue, infer, held] = routed.waited;
            sample.queue_us = sample.queue_us.map(|q| q + queue);
            sample.infer_us = sample.infer_us.map(|i| i + infer);
            if held > 0 {
                sample.held_us = Some(sample.held_us.unwrap_or(0) + held);
            }
        }
        sample.reason = Some(routed.reason);
        out.push(sample);
        Some(p.sent.device)
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
                match self.mode {
                    Mode::Routed(_) => out.push(self.routed_sample(&p.sent, p.routed.as_ref(), Status::Timeout)),
                    Mode::PerTier(_) => {
                        out.extend(p.waiting.iter().map(|&tier| self.sample(&p.sent, tier, Status::Timeout)))
                    }
                }
                for &tier in &p.waiting {
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

/// A tier's answer: its response, or its error message and worker.
type Answer = Result<Response, (String, String)>;

/// The `deadline` bookkeeping, also after a panic elsewhere held it.
pub(super) fn lock(decided: &Decided) -> std::sync::MutexGuard<'_, HashSet<u64>> {
    decided.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
            route: None,
            payload: None,
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
    fn a_share_settles_its_own_devices_and_drops_the_other_hosts_answers_uncounted() {
        // Six devices over three slots: slot 1 has devices 1 and 4.
        let mut c = Collector::new(0, 0, &[Tier::Edge], "r/0.0/".into(), 1_000_000).with_share(6, 1, 3);
        let mut out = Vec::new();
        c.sent(Sent { device: 1, ..sent(7) }); // request 7 comes from device 7 mod 6 = 1
        for seq in [6, 8, 9, 12] {
            // devices 0, 2, 3 and 0: another slot's requests
            assert_eq!(c.answer(Tier::Edge, &response(&format!("r/0.0/{seq}"), "edge"), false, 9000, &mut out), None);
        }
        assert_eq!(c.unmatched, Unmatched::default(), "another host's answers are not unmatched");
        assert_eq!(c.answer(Tier::Edge, &response("r/0.0/10", "edge"), false, 9000, &mut out), None);
        assert_eq!(c.unmatched.unknown, 1, "device 4 is ours: an answer to a request it never sent is unknown");
        assert_eq!(c.answer(Tier::Edge, &response("r/0.0/7", "edge"), false, 9000, &mut out), Some(1));
        assert_eq!(out.len(), 1);
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

    fn routed(seq: u64, route: Route) -> Sent {
        Sent { route: Some((route, "first".into())), payload: Some(Arc::new(vec![seq as u8])), ..sent(seq) }
    }

    fn scored(id: &str, tier: &str, p: f32) -> Vec<u8> {
        format!(r#"{{"v":1,"id":"{id}","tier":"{tier}","worker":"{tier}-0","probability":{p},"class":3,"queue_us":3,"infer_us":2}}"#)
            .into_bytes()
    }

    #[test]
    fn cascade_asks_the_cloud_for_an_uncertain_edge_answer_and_reports_one_sample() {
        let u = crate::plan::Uncertain { low: 0.2, high: 0.8, confidence: 0.5, classes: Some(true) };
        let mut c = Collector::new(0, 0, &[Tier::Edge, Tier::Cloud], "r/0.0/".into(), 1_000_000)
            .with_policy(Some(Policy::Cascade(u)), Decided::default());
        let mut out = Vec::new();
        c.sent(routed(1, Route::Edge));
        c.sent(routed(2, Route::Edge));
        assert_eq!(c.answer(Tier::Edge, &scored("r/0.0/1", "edge", 0.9), false, 1500, &mut out), Some(0));
        assert_eq!(c.answer(Tier::Edge, &scored("r/0.0/2", "edge", 0.4), false, 2500, &mut out), None);
        assert_eq!(c.take_asks(), [Ask { device: 0, seq: 2, tier: Tier::Cloud, payload: Arc::new(vec![2]) }]);
        assert_eq!(c.answer(Tier::Cloud, &scored("r/0.0/2", "cloud", 0.95), false, 9000, &mut out), Some(0));
        let got: Vec<_> =
            out.iter().map(|s| (s.tier, s.route, s.answered_by, s.reason.as_deref(), s.latency_us())).collect();
        assert_eq!(
            got,
            [
                (Tier::Policy, Some(Route::Edge), Some(Tier::Edge), Some("confident 0.900"), Some(500)),
                (
                    Tier::Policy,
                    Some(Route::EdgeThenCloud),
                    Some(Tier::Cloud),
                    Some("uncertain: top class 0.400 < 0.5"),
                    Some(7000)
                ),
            ]
        );
        // The device waited for the edge's queue and inference, then the cloud's.
        assert_eq!((out[1].queue_us, out[1].infer_us), (Some(6), Some(4)));
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn deadline_takes_the_first_answer_after_falling_back_and_drops_the_other() {
        let decided = Decided::default();
        let mut c = Collector::new(0, 0, &[Tier::Edge, Tier::Cloud], "r/0.0/".into(), 1_000_000)
            .with_policy(Some(Policy::Deadline { after: std::time::Duration::from_millis(50) }), decided.clone());
        let mut out = Vec::new();
        c.sent(routed(1, Route::Cloud));
        c.sent(routed(2, Route::Cloud));
        c.sent(routed(3, Route::Cloud));
        // In time: the timer must not ask the edge.
        c.answer(Tier::Cloud, &scored("r/0.0/1", "cloud", 0.9), false, 5000, &mut out);
        assert!(lock(&decided).contains(&1));
        // Late: the timer asked the edge; the edge answers first, the cloud's answer is dropped uncounted.
        c.fell_back(2, "cloud late (50ms)".into());
        assert_eq!(c.answer(Tier::Edge, &scored("r/0.0/2", "edge", 0.6), false, 60_000, &mut out), Some(0));
        c.answer(Tier::Cloud, &scored("r/0.0/2", "cloud", 0.9), false, 70_000, &mut out);
        // An error from the cloud: the edge is asked at once.
        c.answer(
            Tier::Cloud,
            br#"{"v":1,"id":"r/0.0/3","tier":"cloud","worker":"cloud-0","error":"down"}"#,
            true,
            4000,
            &mut out,
        );
        assert_eq!(c.take_asks().iter().map(|a| (a.seq, a.tier)).collect::<Vec<_>>(), [(3, Tier::Edge)]);
        let got: Vec<_> = out.iter().map(|s| (s.seq, s.route, s.answered_by, s.reason.clone().unwrap())).collect();
        assert_eq!(
            got,
            [
                (1, Some(Route::Cloud), Some(Tier::Cloud), "cloud in time".to_string()),
                (2, Some(Route::CloudThenEdge), Some(Tier::Edge), "cloud late (50ms)".to_string()),
            ]
        );
        assert_eq!(c.unmatched, Unmatched::default());
        c.expire_all(&mut out);
        assert_eq!(
            (out[2].status, out[2].route, out[2].reason.as_deref()),
            (Status::Timeout, Some(Route::CloudThenEdge), Some("cloud error: down"))
        );
    }

    #[test]
    fn offload_takes_the_clouds_answer_with_the_edges_reason() {
        let mut c = Collector::new(0, 0, &[Tier::Edge, Tier::Cloud], "r/0.0/".into(), 1_000_000)
            .with_policy(Some(Policy::Offload { queue: 2 }), Decided::default());
        let mut out = Vec::new();
        c.sent(Sent { payload: None, ..routed(1, Route::Edge) });
        c.offloaded(br#"{"v":1,"id":"r/0.0/1","worker":"edge-0","reason":"edge queue 3 \u2265 2"}"#, 5);
        c.offloaded(b"not a notice", 6);
        assert_eq!(c.answer(Tier::Cloud, &scored("r/0.0/1", "cloud", 0.7), false, 9000, &mut out), Some(0));
        assert_eq!((out[0].route, out[0].reason.as_deref()), (Some(Route::Cloud), Some("edge queue 3 ≥ 2")));
        assert_eq!(c.unmatched.unknown, 1);
        // Without the notice the route still follows the tier that answered.
        c.sent(Sent { payload: None, ..routed(2, Route::Edge) });
        c.answer(Tier::Cloud, &scored("r/0.0/2", "cloud", 0.7), false, 9500, &mut out);
        assert_eq!((out[1].route, out[1].reason.as_deref()), (Some(Route::Cloud), Some("offloaded by the edge")));
    }
}
