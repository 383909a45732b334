//! One point execution's samples, as they arrive, into its summaries: a
//! `TierStats` of histograms and sums per tier, and `Summary`s at the end.

use std::collections::HashMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::*;
use crate::plan::Tier;
use crate::record::{Counts, Phase, Sample, Status};

/// A hold that ends later than this after its due end counts as late.
pub const HELD_LATE_US: u64 = 200;

/// Running statistics of one tier at one point execution.
struct TierStats {
    latency: Histogram<u64>,
    latency_sum: u128,
    infer: Histogram<u64>,
    queue: Histogram<u64>,
    network: Histogram<u64>,
    dispatch: Histogram<u64>,
    counts: Counts,
    request_bytes: u64,
    response_bytes: u64,
    responses: u64,
    held: Histogram<u64>,
    /// Achieved slowdowns in thousandths.
    slowdown_milli: Histogram<u64>,
    labelled: u64,
    correct: u64,
    overloaded: u64,
    holds: u64,
    holds_late: u64,
    /// Answered requests that reported a batch size, their sum and the largest.
    batched: u64,
    batch_sum: u64,
    batch_max: u32,
    /// Under a policy: requests answered by each tier, and that reached the cloud.
    by_edge: u64,
    by_cloud: u64,
    reached_cloud: u64,
    routes: [u64; 4],
    /// Exact sums over answered requests, for the breakdown's means.
    answered: u64,
    queue_sum: u128,
    infer_sum: u128,
    held_sum: u128,
    /// Energy estimates (µJ) of measured answered requests, and the sums of
    /// their parts (mJ): compute, radio, tail.
    energy_uj: Histogram<u64>,
    energy_n: u64,
    energy_parts: [f64; 3],
    /// What reached the cloud, for its cost.
    cloud: energy::CloudTraffic,
    /// Under `placement: partition`: answered requests, and the sums of
    /// their latency, head, tail and bytes sent (µs, bytes).
    split_n: u64,
    split_sums: [u128; 4],
}

impl TierStats {
    fn new() -> Self {
        TierStats {
            latency: histogram(),
            latency_sum: 0,
            infer: histogram(),
            queue: histogram(),
            network: histogram(),
            dispatch: histogram(),
            counts: Counts::default(),
            request_bytes: 0,
            response_bytes: 0,
            responses: 0,
            held: histogram(),
            slowdown_milli: histogram(),
            labelled: 0,
            correct: 0,
            overloaded: 0,
            holds: 0,
            holds_late: 0,
            batched: 0,
            batch_sum: 0,
            batch_max: 0,
            by_edge: 0,
            by_cloud: 0,
            reached_cloud: 0,
            routes: [0; 4],
            answered: 0,
            queue_sum: 0,
            infer_sum: 0,
            held_sum: 0,
            energy_uj: histogram(),
            energy_n: 0,
            energy_parts: [0.0; 3],
            cloud: energy::CloudTraffic::default(),
            split_n: 0,
            split_sums: [0; 4],
        }
    }
}

impl TierStats {
    /// What an answered request adds, its latency measured.
    fn add_answer(&mut self, s: &Sample, latency: u64) {
        record(&mut self.latency, latency);
        self.latency_sum += u128::from(latency);
        record(&mut self.queue, s.queue_us.unwrap_or(0));
        record(&mut self.infer, s.infer_us.unwrap_or(0));
        self.answered += 1;
        self.queue_sum += u128::from(s.queue_us.unwrap_or(0));
        self.infer_sum += u128::from(s.infer_us.unwrap_or(0));
        self.held_sum += u128::from(s.held_us.unwrap_or(0));
        // An answer always reports its queue and inference times.
        record(&mut self.network, s.network_us().unwrap_or(latency));
        if let Some(held) = s.held_us {
            record(&mut self.held, held);
        }
        if let Some(late) = s.held_late_us {
            self.holds += 1;
            self.holds_late += u64::from(late > HELD_LATE_US);
        }
        if let Some(k) = s.slowdown() {
            record(&mut self.slowdown_milli, (k * 1e3).round() as u64);
        }
        if let Some(b) = s.batch {
            self.batched += 1;
            self.batch_sum += u64::from(b);
            self.batch_max = self.batch_max.max(b);
        }
    }

    /// A partitioned request's parts: the head's compute (all of it when the
    /// edge answered), the tail's, and the bytes the edge sent the cloud.
    fn add_split(&mut self, s: &Sample, latency: u64) {
        let compute = s.infer_us.unwrap_or(0) + s.held_us.unwrap_or(0);
        let (head, bytes) = match (s.split, s.answered_by) {
            (Some(p), _) => (p.head_us, p.bytes),
            (None, Some(Tier::Edge)) => (compute, 0),
            (None, _) => (0, s.request_bytes),
        };
        self.split_n += 1;
        let parts = [latency, head, compute.saturating_sub(head), u64::from(bytes)];
        for (sum, v) in self.split_sums.iter_mut().zip(parts) {
            *sum += u128::from(v);
        }
    }

    fn split(&self, at: Option<&String>) -> Option<SplitSummary> {
        let at = at?.clone();
        if self.split_n == 0 {
            return None;
        }
        let n = self.split_n as f64;
        let [latency_us, head_us, tail_us, bytes] = self.split_sums.map(|sum| sum as f64 / n);
        let rest_us = latency_us - head_us - tail_us;
        Some(SplitSummary { at, requests: self.split_n, latency_us, head_us, tail_us, rest_us, bytes })
    }

    fn breakdown(&self) -> Option<Breakdown> {
        if self.answered == 0 {
            return None;
        }
        let n = self.answered as f64;
        let mean = |sum: u128| sum as f64 / n;
        let (latency_us, queue_us, infer_us, held_us) =
            (mean(self.latency_sum), mean(self.queue_sum), mean(self.infer_sum), mean(self.held_sum));
        let network_us = latency_us - queue_us - infer_us - held_us;
        Some(Breakdown { latency_us, network_us, queue_us, infer_us, held_us })
    }
}

/// The statistics kept under `key`, started empty the first time it is asked for.
fn entry<K: PartialEq>(rows: &mut Vec<(K, TierStats)>, key: K) -> &mut TierStats {
    let i = match rows.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            rows.push((key, TierStats::new()));
            rows.len() - 1
        }
    };
    &mut rows[i].1
}

fn record(h: &mut Histogram<u64>, v: u64) {
    h.saturating_record(v.max(1));
}

/// Everything the summary needs from one point execution, built sample by
/// sample so that no sample has to stay in memory.
pub struct PointStats {
    pub point: usize,
    pub repetition: u32,
    tiers: Vec<(Tier, TierStats)>,
    /// With device groups: each group's statistics by (group, tier).
    groups: Vec<((u16, Tier), TierStats)>,
    grouped: bool,
    /// Edge or cloud probabilities waiting for the other tier's, by request.
    parity_waiting: HashMap<(u16, u64), (Tier, f32)>,
    parity_max: f32,
    parity_pairs: u64,
    /// Intended send times (µs) of every request that did not end `ok`, any phase.
    failed_intended: Vec<u64>,
    /// The energy model and prices, when the point has them.
    costing: Option<PointCosting>,
    /// `placement: partition`'s cut, when the point splits the model.
    split_at: Option<String>,
}

/// What the energy and cost columns need from the point's configuration.
pub struct PointCosting {
    pub energy: Option<crate::plan::EnergyConfig>,
    pub cost: crate::plan::CostConfig,
    pub cloud_workers: u32,
    pub devices: u32,
    /// With device groups: each group's devices and energy model, by group.
    pub groups: Vec<(u32, Option<crate::plan::EnergyConfig>)>,
}

impl PointCosting {
    /// The metered units of one request and its answer (each published and delivered).
    fn message_units(&self, s: &Sample) -> u64 {
        let unit = self.cost.cloud.as_ref().map_or(0, |c| c.message_unit_bytes);
        let answer = s.response_bytes.map_or(0, |b| 2 * energy::message_units(u64::from(b), unit));
        2 * energy::message_units(u64::from(s.request_bytes), unit) + answer
    }
}

impl PointStats {
    pub fn new(point: usize, repetition: u32) -> Self {
        PointStats {
            point,
            repetition,
            tiers: Vec::new(),
            groups: Vec::new(),
            grouped: false,
            parity_waiting: HashMap::new(),
            parity_max: 0.0,
            parity_pairs: 0,
            failed_intended: Vec::new(),
            costing: None,
            split_at: None,
        }
    }

    /// Under `placement: partition` at `at`, the policy's summary says where the split's time went.
    pub fn with_split(mut self, at: Option<String>) -> Self {
        self.split_at = at;
        self
    }

    /// With device groups, each group gets summaries of its own as well (`group_summaries`).
    pub fn with_groups(mut self, grouped: bool) -> Self {
        self.grouped = grouped;
        self
    }

    /// With the point's energy model and prices, the summaries gain their columns.
    pub fn with_costing(mut self, costing: PointCosting) -> Self {
        self.costing = Some(costing);
        self
    }

    /// A measured sample's energy, once its timeline knows it.
    pub fn add_energy(&mut self, s: &Sample, e: &energy::Energy) {
        if s.phase != Phase::Measure {
            return;
        }
        let add = |t: &mut TierStats| {
            t.energy_uj.saturating_record(((e.total_mj() * 1e3).round() as u64).max(1));
            t.energy_n += 1;
            for (sum, part) in t.energy_parts.iter_mut().zip([e.compute_mj, e.radio_mj, e.tail_mj]) {
                *sum += part;
            }
        };
        add(self.tier_mut(s.tier));
        if let Some(g) = self.group_mut(s) {
            add(g);
        }
    }

    /// The statistics of a sample's group and tier, with device groups.
    fn group_mut(&mut self, s: &Sample) -> Option<&mut TierStats> {
        self.grouped.then(|| entry(&mut self.groups, (s.group, s.tier)))
    }

    fn tier_mut(&mut self, tier: Tier) -> &mut TierStats {
        entry(&mut self.tiers, tier)
    }

    /// Adds one sample. Warmup samples only feed the parity check.
    pub fn add(&mut self, s: &Sample) {
        self.pair_for_parity(s);
        if s.status != Status::Ok {
            self.failed_intended.push(s.intended_us);
        }
        if s.phase != Phase::Measure {
            return;
        }
        let reached_cloud = s.tier == Tier::Cloud || s.route.is_some_and(|r| r.reached_cloud());
        let units = if reached_cloud { self.costing.as_ref().map_or(0, |c| c.message_units(s)) } else { 0 };
        let splits = s.tier == Tier::Policy && self.split_at.is_some();
        add_measured(self.tier_mut(s.tier), s, (reached_cloud, units, splits));
        if let Some(g) = self.group_mut(s) {
            add_measured(g, s, (reached_cloud, units, splits));
        }
    }
}

/// What a measured sample adds to one row's statistics (its tier's, or its
/// group's): `reached_cloud`, its metered units, whether it is a split.
fn add_measured(t: &mut TierStats, s: &Sample, (reached_cloud, units, splits): (bool, u64, bool)) {
    if reached_cloud {
        // A split's cloud receives the edge's tensor, not the device's request.
        t.cloud.bytes_in += u64::from(s.split.map_or(s.request_bytes, |p| p.bytes));
        t.cloud.bytes_out += u64::from(s.response_bytes.unwrap_or(0));
        t.cloud.message_units += units;
    }
    t.counts.count(s.status);
    t.request_bytes += u64::from(s.request_bytes);
    if let Some(b) = s.response_bytes {
        t.response_bytes += u64::from(b);
        t.responses += 1;
    }
    record(&mut t.dispatch, s.dispatch_us());
    if let Some(route) = s.route {
        t.reached_cloud += u64::from(route.reached_cloud());
        t.routes[route as usize] += 1;
        match s.answered_by.filter(|_| s.status == Status::Ok) {
            Some(Tier::Edge) => t.by_edge += 1,
            Some(Tier::Cloud) => t.by_cloud += 1,
            _ => {}
        }
    }
    if s.status != Status::Ok {
        if s.error.as_deref().is_some_and(|e| e.starts_with(crate::wire::OVERLOADED)) {
            t.overloaded += 1;
        }
        return;
    }
    if let Some(latency) = s.latency_us() {
        t.add_answer(s, latency);
        if splits {
            t.add_split(s, latency);
        }
    }
    if let (Some(label), Some(prediction)) = (s.label, s.prediction) {
        t.labelled += 1;
        t.correct += u64::from(label == prediction);
    }
}

impl PointStats {
    /// Pairs the edge's and the cloud's probabilities of one request for the live parity.
    fn pair_for_parity(&mut self, s: &Sample) {
        let Some(p) = s.probability else { return };
        match self.parity_waiting.remove(&(s.group, s.seq)) {
            Some((tier, other)) if tier != s.tier => {
                self.parity_max = self.parity_max.max((p - other).abs());
                self.parity_pairs += 1;
            }
            _ => {
                self.parity_waiting.insert((s.group, s.seq), (s.tier, p));
            }
        }
    }

    /// The summary of each tier; `window` is the measured duration the throughput is taken over.
    pub fn summaries(&self, window: Duration, params: &[(String, String)], rejected: &[(Tier, u64)]) -> Vec<Summary> {
        let mut tiers: Vec<&(Tier, TierStats)> = self.tiers.iter().collect();
        tiers.sort_by_key(|(t, _)| *t);
        tiers.into_iter().map(|(tier, t)| self.summary((*tier, None), t, window, params, rejected)).collect()
    }

    /// With device groups, each group's summary of each tier, in group then
    /// tier order, named by `names` (the groups' names by index). Workers
    /// serve every group, so their rejections stay in the overall rows.
    pub fn group_summaries(&self, window: Duration, params: &[(String, String)], names: &[String]) -> Vec<Summary> {
        let mut rows: Vec<&((u16, Tier), TierStats)> = self.groups.iter().collect();
        rows.sort_by_key(|(k, _)| *k);
        rows.into_iter()
            .map(|((g, tier), t)| Summary {
                group: names.get(usize::from(*g)).cloned(),
                ..self.summary((*tier, Some(*g)), t, window, params, &[])
            })
            .collect()
    }

    /// One row's summary: a tier's over every device, or (`group`) over one group's.
    fn summary(
        &self,
        (tier, group): (Tier, Option<u16>),
        t: &TierStats,
        window: Duration,
        params: &[(String, String)],
        rejected: &[(Tier, u64)],
    ) -> Summary {
        let secs = window.as_secs_f64();
        let policy = tier == Tier::Policy;
        let tier = &tier;
        Summary {
            point: self.point,
            repetition: self.repetition,
            tier: *tier,
            params: params.to_vec(),
            counts: t.counts,
            rejected: rejected.iter().find(|(x, _)| x == tier).map_or(0, |(_, n)| *n),
            throughput_rps: if secs > 0.0 { t.counts.ok as f64 / secs } else { 0.0 },
            window_s: secs,
            latency: Percentiles::of(&t.latency, Some(t.latency_sum)),
            infer: Percentiles::of(&t.infer, None),
            queue: Percentiles::of(&t.queue, None),
            network: Percentiles::of(&t.network, None),
            dispatch: Percentiles::of(&t.dispatch, None),
            request_bytes_mean: (t.counts.requests > 0).then(|| t.request_bytes as f64 / t.counts.requests as f64),
            response_bytes_mean: (t.responses > 0).then(|| t.response_bytes as f64 / t.responses as f64),
            held: Percentiles::of(&t.held, None),
            slowdown_p50: (!t.slowdown_milli.is_empty()).then(|| t.slowdown_milli.value_at_quantile(0.50) as f64 / 1e3),
            slowdown_p99: (!t.slowdown_milli.is_empty()).then(|| t.slowdown_milli.value_at_quantile(0.99) as f64 / 1e3),
            slowdown: None,
            labelled: t.labelled,
            accuracy: (t.labelled > 0).then(|| t.correct as f64 / t.labelled as f64),
            overloaded: t.overloaded,
            held_late_share: (t.holds > 0).then(|| t.holds_late as f64 / t.holds as f64),
            batch_mean: (t.batched > 0).then(|| t.batch_sum as f64 / t.batched as f64),
            batch_max: (t.batched > 0).then_some(t.batch_max),
            edge_share: (policy && t.counts.requests > 0).then(|| t.by_edge as f64 / t.counts.requests as f64),
            cloud_share: (policy && t.counts.requests > 0).then(|| t.by_cloud as f64 / t.counts.requests as f64),
            cloud_rps: (policy && secs > 0.0).then(|| t.reached_cloud as f64 / secs),
            policy: None,
            routes: (policy && t.counts.requests > 0).then(|| t.routes.map(|n| n as f64 / t.counts.requests as f64)),
            breakdown: t.breakdown(),
            energy: self.energy_summary(t, secs, group),
            // The cloud's instances and the edge's devices serve every group: a cost is the fleet's.
            cost: if group.is_none() { self.cost(*tier, t, secs) } else { None },
            split: if policy { t.split(self.split_at.as_ref()) } else { None },
            group: None,
        }
    }

    /// The energy columns of a tier's summary.
    /// With `group`, its devices and radio give the battery life.
    fn energy_summary(&self, t: &TierStats, secs: f64, group: Option<u16>) -> Option<EnergySummary> {
        let costing = self.costing.as_ref()?;
        let own = group.and_then(|g| costing.groups.get(usize::from(g)));
        let model = match own {
            Some((_, model)) => model.as_ref()?,
            None => costing.energy.as_ref()?,
        };
        if t.energy_n == 0 {
            return None;
        }
        let n = t.energy_n as f64;
        let [compute_mj, radio_mj, tail_mj] = t.energy_parts.map(|sum| sum / n);
        let devices = own.map_or(costing.devices, |(d, _)| *d).max(1);
        let rate = if secs > 0.0 { t.counts.requests as f64 / secs / f64::from(devices) } else { 0.0 };
        Some(EnergySummary {
            requests: t.energy_n,
            mean_mj: compute_mj + radio_mj + tail_mj,
            p50_mj: t.energy_uj.value_at_quantile(0.50) as f64 / 1e3,
            p99_mj: t.energy_uj.value_at_quantile(0.99) as f64 / 1e3,
            compute_mj,
            radio_mj,
            tail_mj,
            battery_h: model
                .battery_wh
                .and_then(|wh| energy::battery_hours(wh, model.idle_w(), rate, compute_mj + radio_mj + tail_mj)),
        })
    }

    /// The cost per million answered requests of a tier's summary: the
    /// cloud's for the cloud and a policy, the edge devices' for the edge and a policy.
    fn cost(&self, tier: Tier, t: &TierStats, secs: f64) -> Option<energy::Cost> {
        let c = self.costing.as_ref()?;
        let answered = t.counts.ok;
        let cloud = c.cost.cloud.as_ref().filter(|_| tier != Tier::Edge);
        let cloud = cloud.and_then(|p| energy::cloud_cost(p, c.cloud_workers, secs, answered, t.cloud));
        let edge = c.cost.edge.as_ref().filter(|_| tier != Tier::Cloud);
        let edge = edge.and_then(|p| energy::edge_cost(p, c.devices, secs, answered));
        match (cloud, edge) {
            (Some(a), Some(b)) => {
                Some(energy::Cost { per_million: a.per_million + b.per_million, device: b.device, ..a })
            }
            (a, b) => a.or(b),
        }
    }

    /// Requests (per tier) that did not end `ok` and were due from `from_us` to `to_us`.
    pub fn failed_between(&self, from_us: u64, to_us: u64) -> usize {
        self.failed_intended.iter().filter(|&&t| t >= from_us && t <= to_us).count()
    }

    /// The latency histogram of each tier, for saving.
    pub fn latency_histograms(&self) -> Vec<(Tier, &Histogram<u64>)> {
        self.tiers.iter().map(|(t, s)| (*t, &s.latency)).collect()
    }

    /// The largest |edge − cloud| over requests both tiers answered, and how many.
    pub fn live_parity(&self) -> Option<(f32, u64)> {
        (self.parity_pairs > 0).then_some((self.parity_max, self.parity_pairs))
    }
}
