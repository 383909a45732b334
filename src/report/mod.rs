//! The Report: summaries, model checks, warnings and the manifest of a run.

mod energy;
mod env;
mod facts;
mod manifest;
mod split;
#[cfg(test)]
mod testing;
mod warning;

use serde::{Deserialize, Serialize};

pub use energy::{Costing, EnergyLine, EnergyRow};
pub use env::HostInfo;
pub use facts::{
    Accuracy, CrossoverLine, EdgeCloud, Finding, MedianVerdict, Placement, Ranking, SilentTier, Status, TailVerdict,
    ACCURACY_CLOSE, LOST_CLOSE,
};
pub use manifest::{
    Manifest, MergedShard, ModelRecord, Parity, Reuse, CANDLE_VERSION, GIT_COMMIT, ORT_CRATE_VERSION, RUMQTTC_VERSION,
    SIMRUN_VERSION,
};
pub use split::{SplitCheck, SplitLine, SplitRow, SplitTable, CUT_KEY};
#[cfg(test)]
pub use testing::test_report;
pub use warning::{At, Warning, PARITY_LIMIT, SLOWDOWN_TOLERANCE};

use crate::plan::{Shard, Slo, Tier};
use crate::record::Unmatched;
use crate::stats::{aggregate, check_slos, Aggregate, Crossover, Floor, LinkFidelity, SloCheck, Summary};

/// A sweep point as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PointRow {
    pub index: usize,
    pub params: Vec<(String, String)>,
}

/// One device group's load over the plan's points (the report's **Load** line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoadLine {
    /// The group's name (`devices` for a single block).
    pub group: String,
    /// Its fewest and most devices over the points.
    pub devices: (u32, u32),
    /// Its arrival processes over the points, as `Arrival::describe` words them.
    pub arrivals: Vec<String>,
    /// The lowest and highest offered mean rate, and the highest peak, over
    /// the points (open loop; `None` for closed loop).
    pub mean_hz: Option<(f64, f64)>,
    pub peak_hz: Option<f64>,
}

impl LoadLine {
    pub fn of_plan(plan: &crate::plan::Plan) -> Vec<LoadLine> {
        let mut lines: Vec<LoadLine> = Vec::new();
        for g in plan.points.iter().flat_map(|p| &p.config.groups) {
            let i = match lines.iter().position(|l| l.group == g.name) {
                Some(i) => i,
                None => {
                    let fresh = LoadLine {
                        group: g.name.clone(),
                        devices: (g.count, g.count),
                        arrivals: Vec::new(),
                        mean_hz: None,
                        peak_hz: None,
                    };
                    lines.push(fresh);
                    lines.len() - 1
                }
            };
            let l = &mut lines[i];
            l.devices = (l.devices.0.min(g.count), l.devices.1.max(g.count));
            let arrival = g.load.arrival.describe();
            if !l.arrivals.contains(&arrival) {
                l.arrivals.push(arrival);
            }
            if let Some(o) = g.load.offered() {
                let (low, high) = l.mean_hz.unwrap_or((o.mean_hz, o.mean_hz));
                l.mean_hz = Some((low.min(o.mean_hz), high.max(o.mean_hz)));
                l.peak_hz = Some(l.peak_hz.unwrap_or(0.0).max(o.peak_hz));
            }
        }
        lines
    }
}

/// The whole run, as the exporters see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub manifest: Manifest,
    pub description: String,
    pub swept_keys: Vec<String>,
    pub points: Vec<PointRow>,
    pub summaries: Vec<Summary>,
    /// With device groups (`devices` as a list): each group's summary of
    /// each tier at each point execution, `group` naming it; `summaries`
    /// hold the rows over every device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_summaries: Vec<Summary>,
    /// What each device group offered: its devices, arrival process and
    /// offered mean and peak rate, over the plan's points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loads: Vec<LoadLine>,
    /// Each (point, tier) over its repetitions, derived from `summaries` by
    /// `summaries_changed` (and on reading a folder); not stored.
    #[serde(skip)]
    pub aggregates: Vec<Aggregate>,
    /// Where edge and cloud trade places along each numeric swept key,
    /// derived from `summaries` by `summaries_changed`; stored for readers
    /// of `results.json`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crossovers: Vec<Crossover>,
    /// Each link direction at each point execution.
    pub links: Vec<LinkFidelity>,
    pub parity: Option<Parity>,
    pub warnings: Vec<Warning>,
    /// Point executions planned; `finished` says which are done.
    pub executions_planned: usize,
    /// Answers that matched no pending request, over the run.
    pub unmatched: Unmatched,
    /// The harness floor measured before the sweep.
    pub floor: Option<Floor>,
    /// The scenario's service-level objectives.
    #[serde(default)]
    pub slos: Vec<Slo>,
    /// Set when the run covered one shard of the plan.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// Points in the whole plan (more than `points` for a shard).
    pub plan_points: usize,
    /// The point executions finished, in the order they ran.
    #[serde(default)]
    pub finished: Vec<Execution>,
    /// Why the run stopped before its end (signal, lost broker, dead worker);
    /// `None` once it has run every execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// What each tier ran with, over the plan's points.
    #[serde(default)]
    pub tiers: Vec<TierSetup>,
    /// With `devices.remote`: what each device host (this run first) sent
    /// over the run and how its samples ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_hosts: Vec<crate::record::DeviceHostTally>,
    /// The energy and cost models, when the scenario asks for either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub costing: Option<Costing>,
    /// Under `placement: partition`: head then tail held to the whole model before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_check: Option<SplitCheck>,
    /// How busy the host was over each point execution: all its cores and the run's own parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_load: Vec<crate::record::HostLoad>,
}

/// One tier's setup over a plan: its model, runtime and workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TierSetup {
    pub tier: Tier,
    pub model: String,
    pub runtime: String,
    /// The fewest and most workers at any point.
    pub workers: (u32, u32),
}

impl TierSetup {
    /// One entry per tier the plan places requests on.
    pub fn of(plan: &crate::plan::Plan) -> Vec<TierSetup> {
        let mut out: Vec<TierSetup> = Vec::new();
        for t in plan.points.iter().flat_map(|p| &p.config.tiers) {
            match out.iter_mut().find(|s| s.tier == t.tier) {
                Some(s) => s.workers = (s.workers.0.min(t.workers), s.workers.1.max(t.workers)),
                None => out.push(TierSetup {
                    tier: t.tier,
                    model: t.model.display().to_string(),
                    runtime: crate::backend::runtime_of(&t.model).unwrap_or("unknown").into(),
                    workers: (t.workers, t.workers),
                }),
            }
        }
        out.sort_by_key(|s| s.tier);
        out
    }
}

/// One execution of one sweep point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Execution {
    pub point: usize,
    pub repetition: u32,
}

/// A harness floor median at or above this on loopback, with small messages,
/// is the signature of Nagle's algorithm (it holds a small write until the
/// previous one is acknowledged, and Linux delays that acknowledgement by
/// 40 ms: round trips step up by about 40 ms).
pub const FLOOR_ALARM_US: u64 = 20_000;

/// Messages up to this many bytes are small enough for Nagle's signature:
/// a few TCP segments, which loopback moves in microseconds without it.
pub const NAGLE_PAYLOAD_MAX: u64 = 4_096;

/// True when two model files are one model in two formats (or one file):
/// the same file name without its extension. Only then are edge and cloud
/// held to the same answers; files of different names are different models,
/// placed on the tiers on purpose (a small one at the edge, say).
fn same_model(a: &str, b: &str) -> bool {
    std::path::Path::new(a).file_stem() == std::path::Path::new(b).file_stem()
}

/// The edge's and the cloud's (first) model paths, when the tiers run
/// different models (`same_model`), so that their answers are not compared.
pub fn different_models(models: &[ModelRecord]) -> Option<(&str, &str)> {
    let edge = models.iter().find(|m| m.tier == Tier::Edge)?;
    let cloud = models.iter().find(|m| m.tier == Tier::Cloud)?;
    (!same_model(&edge.path, &cloud.path)).then_some((edge.path.as_str(), cloud.path.as_str()))
}

/// A warning for each link trace that a point plays only part of, once per
/// trace and length played. A trace starts with the measured window
/// (`LinkConfig::trace`), so a point plays `load.duration` of it.
fn partial_traces(plan: &crate::plan::Plan) -> Vec<Warning> {
    let mut out: Vec<Warning> = Vec::new();
    let mut seen: Vec<(String, std::time::Duration)> = Vec::new();
    for point in &plan.points {
        let played = point.config.load.duration;
        let tiers = point.config.tiers.iter().map(|t| (format!("tiers.{}.link", t.tier), &t.link));
        let grouped = point.config.grouped();
        let groups =
            point.config.groups.iter().map(|g| {
                (if grouped { format!("devices.{}.link", g.name) } else { "devices.link".to_string() }, &g.link)
            });
        for (link, config) in tiers.chain(groups) {
            let Some(trace) = &config.trace else { continue };
            if played >= trace.span || seen.contains(&(trace.path.clone(), played)) {
                continue;
            }
            seen.push((trace.path.clone(), played));
            let (played_s, span_s) = (played.as_secs_f64(), trace.span.as_secs_f64());
            out.push(Warning::PartialTrace { link, path: trace.path.clone(), played_s, span_s });
        }
    }
    out
}

impl Report {
    /// The edge's and the cloud's model paths, when the tiers run different
    /// models (so their answers are not compared).
    pub fn different_models(&self) -> Option<(&str, &str)> {
        different_models(&self.manifest.models)
    }

    /// The report of `plan` before anything has run.
    pub fn new(plan: &crate::plan::Plan, manifest: Manifest, parity: Option<Parity>) -> Report {
        Report {
            manifest,
            description: plan.description.clone(),
            swept_keys: plan.swept_keys.clone(),
            points: plan.points.iter().map(|p| PointRow { index: p.index, params: p.params.clone() }).collect(),
            summaries: Vec::new(),
            group_summaries: Vec::new(),
            loads: LoadLine::of_plan(plan),
            aggregates: Vec::new(),
            crossovers: Vec::new(),
            links: Vec::new(),
            parity,
            warnings: partial_traces(plan),
            executions_planned: plan.points.len() * plan.repetitions as usize,
            unmatched: Unmatched::default(),
            floor: None,
            slos: plan.slos.clone(),
            shard: plan.shard,
            plan_points: plan.plan_points,
            finished: Vec::new(),
            stopped: None,
            tiers: TierSetup::of(plan),
            device_hosts: Vec::new(),
            costing: Costing::of(plan),
            split_check: None,
            host_load: Vec::new(),
        }
    }

    /// Recomputes what derives from `summaries`; call it after changing them.
    pub fn summaries_changed(&mut self) {
        self.aggregates = aggregate(&self.summaries);
        self.crossovers = self.crossovers_on(crate::stats::Objective::Latency);
    }

    /// Records the harness floor in the report and the manifest.
    pub fn set_floor(&mut self, floor: Option<Floor>) {
        self.floor = floor;
        self.manifest.floor.floor_p50_us = floor.map(|f| f.round_trip.p50_us);
        self.manifest.floor.floor_p99_us = floor.map(|f| f.round_trip.p99_us);
    }

    /// Adds one point execution's tally of a device host to the run's, by
    /// name and host.
    pub fn add_device_host(&mut self, t: &crate::record::DeviceHostTally) {
        match self.device_hosts.iter_mut().find(|h| h.name == t.name && h.host == t.host) {
            Some(h) => h.add(t),
            None => self.device_hosts.push(t.clone()),
        }
    }

    pub fn add_unmatched(&mut self, u: Unmatched) {
        self.unmatched += u;
    }

    /// Every SLO at every point and tier that ran.
    pub fn slo_checks(&self) -> Vec<SloCheck> {
        let rows: Vec<Summary> = self.summaries.iter().chain(&self.group_summaries).cloned().collect();
        check_slos(&self.slos, &rows)
    }

    /// How many SLO checks failed, out of how many.
    pub fn slo_failures(&self) -> (usize, usize) {
        let checks = self.slo_checks();
        (checks.iter().filter(|c| !c.passed).count(), checks.len())
    }

    /// Point executions finished.
    pub fn executions_done(&self) -> usize {
        self.finished.len()
    }

    pub fn complete(&self) -> bool {
        self.executions_done() == self.executions_planned
    }

    /// The summary of `tier` at `point`, repetition `rep`.
    /// Names of the links that ran at any point, in first-seen order.
    pub fn link_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for l in &self.links {
            if !names.contains(&l.link) {
                names.push(l.link.clone());
            }
        }
        names
    }

    pub fn summary(&self, point: usize, rep: u32, tier: Tier) -> Option<&Summary> {
        self.summaries.iter().find(|s| s.point == point && s.repetition == rep && s.tier == tier)
    }

    /// Warnings derived from the numbers, plus those the run recorded.
    /// Point executions where a tier had requests and answered none of them
    /// (no answer, no error reply): it measured nothing there.
    pub fn silent_tiers(&self) -> Vec<&Summary> {
        self.summaries.iter().filter(|s| s.counts.requests > 0 && s.counts.ok == 0 && s.counts.errors == 0).collect()
    }

    /// The loud warning of a harness floor that shows Nagle's algorithm on the
    /// broker; `run` also prints it on stderr as soon as the floor is measured.
    /// Only Nagle's signature raises it: tens of milliseconds for small
    /// messages (large ones take long to cross on their own), on a broker
    /// simrun did not start itself (it starts its own with
    /// `set_tcp_nodelay true`, and its clients always set TCP_NODELAY).
    pub fn floor_alarm(&self) -> Option<Warning> {
        let f = self.floor?;
        let small = f.request_bytes.is_none_or(|b| b <= NAGLE_PAYLOAD_MAX);
        (f.round_trip.p50_us >= FLOOR_ALARM_US && small && !self.manifest.broker_managed)
            .then_some(Warning::FloorAlarm { p50_us: f.round_trip.p50_us })
    }

    /// Everything the report warns about, from what the run recorded and from its numbers.
    pub fn all_warnings(&self) -> Vec<Warning> {
        let mut out: Vec<Warning> =
            self.stopped.iter().map(|s| Warning::Stopped(s.clone())).chain(self.warnings.iter().cloned()).collect();
        for s in &self.summaries {
            let (at, tier) = (At { point: s.point, repetition: s.repetition }, s.tier);
            if s.counts.requests > 0 && s.counts.ok == 0 && s.counts.errors == 0 {
                out.push(Warning::NothingAnswered { at, tier, requests: s.counts.requests });
            }
            if s.counts.timeouts > 0 {
                out.push(Warning::TimedOut { at, tier, count: s.counts.timeouts, requests: s.counts.requests });
            }
            if s.counts.errors > 0 {
                out.push(Warning::Errors { at, tier, count: s.counts.errors, requests: s.counts.requests });
            }
            if s.rejected > 0 {
                out.push(Warning::Rejected { at, tier, count: s.rejected });
            }
            if let (Some(configured), Some(achieved)) = (s.slowdown, s.slowdown_p50) {
                if (achieved - configured).abs() > warning::SLOWDOWN_TOLERANCE * configured {
                    out.push(Warning::ComputeOff { at, tier, configured, achieved });
                }
            }
        }
        out.extend(self.links.iter().flat_map(|l| l.warnings()).map(Warning::Link));
        let u = self.unmatched;
        let counted = [
            (u.unknown, Warning::UnknownAnswers as fn(u64) -> Warning),
            (u.duplicates, Warning::DuplicateAnswers),
            (u.late, Warning::LateAnswers),
            (u.anonymous_errors, Warning::AnonymousErrors),
        ];
        out.extend(counted.into_iter().filter(|(n, _)| *n > 0).map(|(n, w)| w(n)));
        out.extend(self.floor_alarm());
        if let Some(f) = self.floor.filter(|f| f.answered < f.sent) {
            out.push(Warning::FloorLost { lost: f.sent - f.answered, sent: f.sent });
        }
        if let Some(p) = self.parity {
            if p.max_abs_diff > PARITY_LIMIT || p.live_max_abs_diff.is_some_and(|d| d > PARITY_LIMIT) {
                out.push(Warning::ParityOff { validation: p.max_abs_diff, live: p.live_max_abs_diff });
            }
        }
        if !self.complete() {
            out.push(Warning::Partial { done: self.executions_done(), planned: self.executions_planned });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed plain run: one point, one repetition, nothing to warn about.
    fn plain() -> Report {
        let text = include_str!("../../tests/fixtures/results/plain/results.json");
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut report: Report = serde_json::from_value(value["report"].clone()).unwrap();
        report.summaries_changed();
        report
    }

    #[test]
    fn a_clean_run_warns_of_nothing() {
        let r = plain();
        assert_eq!(r.all_warnings(), Vec::<Warning>::new());
    }

    #[test]
    fn every_kind_of_trouble_is_warned_of_once() {
        let mut r = plain();
        r.summaries[0].counts.timeouts = 2;
        r.summaries[0].rejected = 1;
        r.unmatched = Unmatched { unknown: 1, duplicates: 2, late: 3, anonymous_errors: 0 };
        r.warnings.push(Warning::Recorded("recorded while it ran".into()));
        r.stopped = Some("stopped by SIGINT".into());
        r.finished.clear();
        if let Some(p) = r.parity.as_mut() {
            p.live_max_abs_diff = Some(PARITY_LIMIT * 10.0);
        }
        let text: Vec<String> = r.all_warnings().iter().map(|w| w.to_string()).collect();
        let tier = r.summaries[0].tier;
        let want = [
            "stopped by SIGINT".to_string(),
            "recorded while it ran".to_string(),
            format!("point 0 rep 0 {tier}: 2 of {} requests timed out", r.summaries[0].counts.requests),
            format!("point 0 rep 0 {tier}: workers rejected 1 malformed requests"),
            "1 answers matched no request of this run (ignored)".to_string(),
        ];
        for w in &want {
            assert_eq!(text.iter().filter(|t| *t == w).count(), 1, "{w} in {text:#?}");
        }
        assert!(text.iter().any(|t| t.starts_with("2 duplicate answers")), "{text:#?}");
        assert!(text.iter().any(|t| t.starts_with("3 answers came after")), "{text:#?}");
        assert!(!text.iter().any(|t| t.contains("error replies named no request")), "{text:#?}");
        assert!(text.iter().any(|t| t.starts_with("edge and cloud disagree")) || r.parity.is_none(), "{text:#?}");
        assert!(text.last().unwrap().starts_with("partial run: 0 of"), "{text:#?}");
    }

    #[test]
    fn a_nagle_floor_is_alarmed() {
        let mut r = plain();
        let mut floor = r.floor.expect("the fixture measured a floor");
        floor.round_trip.p50_us = FLOOR_ALARM_US + 1;
        r.floor = Some(floor);
        assert!(matches!(r.floor_alarm(), Some(Warning::FloorAlarm { .. })));
        assert!(r.all_warnings()[0].to_string().starts_with("⚠️ HARNESS FLOOR IS 20.0 ms"));
        // Not Nagle's signature: 1.6 MB messages take long on their own, and
        // a broker simrun started itself has Nagle off.
        floor.request_bytes = Some(1_600_000);
        r.floor = Some(floor);
        assert_eq!(r.floor_alarm(), None);
        floor.request_bytes = Some(300);
        r.floor = Some(floor);
        r.manifest.broker_managed = true;
        assert_eq!(r.floor_alarm(), None);
    }

    #[test]
    fn a_slowdown_off_by_more_than_5_percent_is_warned_of() {
        let mut r = plain();
        r.summaries[0].slowdown = Some(10.0);
        r.summaries[0].slowdown_p50 = Some(10.4);
        assert_eq!(r.all_warnings(), Vec::<Warning>::new(), "4 % off is within the tolerance");
        r.summaries[0].slowdown_p50 = Some(10.6);
        let text: Vec<String> = r.all_warnings().iter().map(|w| w.to_string()).collect();
        let tier = r.summaries[0].tier;
        assert_eq!(text.len(), 1, "{text:?}");
        assert!(
            text[0].starts_with(&format!(
                "point 0 rep 0 {tier}: computed 10.600 times slower than this host at the median against 10 configured (tolerance 5 %)"
            )),
            "{text:?}"
        );
    }
}

#[cfg(test)]
mod partial_trace_tests {
    use super::*;

    fn plan(duration: &str, sweep: &str) -> crate::plan::Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/x.yaml");
        let text = format!(
            "name: x\ndevices: {{ count: 1, features: 32 }}\nload: {{ rate: 10/s, duration: {duration}, warmup: 2s }}\n\
             tiers:\n  edge: {{ model: ../models/anomaly_detector.onnx }}\n  cloud:\n    model: ../models/anomaly_detector.onnx\n    \
             link: {{ trace: traces/step.csv }}\nsweep: {sweep}\n"
        );
        crate::scenario::load_str(&path, &text, &[]).expect("a valid scenario")
    }

    #[test]
    fn a_trace_longer_than_the_measured_window_is_warned_of_once_per_length() {
        // step.csv runs 9 s from the measured window's start; warmup does not play it.
        let warned = partial_traces(&plan("8s", "{ devices.count: [1, 2] }"));
        assert_eq!(warned.len(), 1, "{warned:?}");
        let text = warned[0].to_string();
        assert!(text.starts_with("tiers.cloud.link plays only 8 s of the 9 s trace traces/step.csv"), "{text}");
        assert!(partial_traces(&plan("9s", "{}")).is_empty(), "a window as long as the trace plays it all");
        assert_eq!(partial_traces(&plan("4s", "{ load.duration: [4s, 6s] }")).len(), 2, "one per length played");
    }
}
