//! `samples.csv` and `summary.csv`. Columns are documented in docs/results.md.

use crate::record::Direction;
use crate::record::Sample;
use crate::report::Report;
use crate::stats::energy::Energy;
use crate::stats::{Aggregate, LinkFidelity, Percentiles, Summary};

/// The columns of `samples.csv`, in order.
pub const SAMPLE_COLUMNS: [&str; 38] = [
    "run_id",
    "point",
    "repetition",
    "tier",
    "device",
    "seq",
    "phase",
    "intended_us",
    "sent_us",
    "received_us",
    "latency_us",
    "queue_us",
    "infer_us",
    "status",
    "probability",
    "network_us",
    "dispatch_us",
    "error",
    "worker",
    "request_bytes",
    "response_bytes",
    "held_us",
    "row",
    "label",
    "prediction",
    "held_late_us",
    "batch",
    "route",
    "answered_by",
    "reason",
    "energy_mj",
    "energy_compute_mj",
    "energy_radio_mj",
    "energy_tail_mj",
    "head_us",
    "forwarded_us",
    "split_bytes",
    "group",
];

/// The fixed columns of `summary.csv`; `param:<key>` columns and `rejected` follow.
pub const SUMMARY_COLUMNS: [&str; 17] = [
    "run_id",
    "point",
    "repetition",
    "tier",
    "requests",
    "ok",
    "timeouts",
    "errors",
    "throughput_rps",
    "latency_mean_us",
    "latency_p50_us",
    "latency_p90_us",
    "latency_p95_us",
    "latency_p99_us",
    "latency_max_us",
    "infer_p50_us",
    "queue_p50_us",
];

/// Per link and direction, after `rejected`: `link:<name>:<up|down>:<stat>`.
pub const LINK_STATS: [&str; 13] = [
    "delay_mean_us",
    "delay_p50_us",
    "delay_p99_us",
    "configured_mean_us",
    "configured_p50_us",
    "configured_p99_us",
    "asked_p50_us",
    "asked_p99_us",
    "release_error_p50_us",
    "release_error_p99_us",
    "chunks",
    "achieved_bandwidth_bps",
    "asked_bandwidth_bps",
];

fn link_cells(f: Option<&LinkFidelity>) -> Vec<String> {
    let Some(f) = f else { return vec![String::new(); LINK_STATS.len()] };
    vec![
        opt(f.applied.map(|p| format!("{:.1}", p.mean_us))),
        opt(f.applied.map(|p| p.p50_us)),
        opt(f.applied.map(|p| p.p99_us)),
        format!("{:.1}", f.configured.mean_us),
        f.configured.p50_us.to_string(),
        f.configured.p99_us.to_string(),
        opt(f.asked.map(|p| p.p50_us)),
        opt(f.asked.map(|p| p.p99_us)),
        opt(f.release_error.map(|p| p.p50_us)),
        opt(f.release_error.map(|p| p.p99_us)),
        f.chunks.to_string(),
        opt(f.achieved_bps.map(|b| format!("{b:.0}"))),
        opt(f.asked_bps.map(|b| format!("{b:.0}"))),
    ]
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn writer() -> ::csv::Writer<Vec<u8>> {
    ::csv::WriterBuilder::new().from_writer(Vec::new())
}

fn finish(w: ::csv::Writer<Vec<u8>>) -> Vec<u8> {
    w.into_inner().unwrap_or_default()
}

/// The header line of `samples.csv`.
pub fn samples_header() -> Vec<u8> {
    let mut w = writer();
    let _ = w.write_record(SAMPLE_COLUMNS);
    finish(w)
}

/// Writes `samples.csv` rows one sample at a time, to any byte sink.
pub struct SampleWriter<W: std::io::Write> {
    run_id: String,
    csv: ::csv::Writer<W>,
    /// The device groups' names, by index (`devices` for one block).
    groups: Vec<String>,
}

impl<W: std::io::Write> SampleWriter<W> {
    pub fn new(run_id: &str, sink: W) -> Self {
        SampleWriter {
            run_id: run_id.to_string(),
            csv: ::csv::WriterBuilder::new().from_writer(sink),
            groups: vec![crate::plan::SINGLE_GROUP.to_string()],
        }
    }

    /// Names each sample's `group` by the point's groups.
    pub fn with_groups(mut self, names: Vec<String>) -> Self {
        self.groups = names;
        self
    }

    /// One row; `energy` when the scenario asks for the estimate and the request was answered.
    pub fn write(&mut self, s: &Sample, energy: Option<&Energy>) -> std::io::Result<()> {
        let mj = |f: fn(&Energy) -> f64| energy.map_or(String::new(), |e| format!("{:.4}", f(e)));
        self.csv
            .write_record([
                self.run_id.as_str(),
                &s.point.to_string(),
                &s.repetition.to_string(),
                s.tier.as_str(),
                &format!("dev-{:03}", s.device),
                &s.seq.to_string(),
                s.phase.as_str(),
                &s.intended_us.to_string(),
                &s.sent_us.to_string(),
                &opt(s.received_us),
                &opt(s.latency_us()),
                &opt(s.queue_us),
                &opt(s.infer_us),
                s.status.as_str(),
                &opt(s.probability),
                &opt(s.network_us()),
                &s.dispatch_us().to_string(),
                s.error.as_deref().unwrap_or(""),
                s.worker.as_deref().unwrap_or(""),
                &s.request_bytes.to_string(),
                &opt(s.response_bytes),
                &opt(s.held_us),
                &opt(s.row),
                &opt(s.label),
                &opt(s.prediction),
                &opt(s.held_late_us),
                &opt(s.batch),
                s.route.map_or("", |r| r.as_str()),
                s.answered_by.map_or("", |t| t.as_str()),
                s.reason.as_deref().unwrap_or(""),
                &mj(Energy::total_mj),
                &mj(|e| e.compute_mj),
                &mj(|e| e.radio_mj),
                &mj(|e| e.tail_mj),
                &opt(s.split.map(|p| p.head_us)),
                &opt(s.split.map(|p| p.forwarded_us)),
                &opt(s.split.map(|p| p.bytes)),
                self.groups.get(usize::from(s.group)).map_or("", String::as_str),
            ])
            .map_err(std::io::Error::other)
    }

    /// Flushes and hands back the sink.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }
}

/// Columns after the `param:` columns: the breakdown and repetition intervals.
pub const EXTRA_COLUMNS: [&str; 52] = [
    "rejected",
    "latency_p999_us",
    "network_p50_us",
    "network_p99_us",
    "queue_p99_us",
    "infer_p99_us",
    "dispatch_p50_us",
    "dispatch_p99_us",
    "latency_p50_ci_low_us",
    "latency_p50_ci_high_us",
    "latency_p99_ci_low_us",
    "latency_p99_ci_high_us",
    "ci_coverage",
    "request_bytes_mean",
    "response_bytes_mean",
    "held_p50_us",
    "slowdown_p50",
    "slowdown_p99",
    "labelled",
    "accuracy",
    "overloaded",
    "held_late_share",
    "batch_mean",
    "batch_max",
    "edge_share",
    "cloud_share",
    "cloud_rps",
    "policy",
    "route_edge",
    "route_cloud",
    "route_edge_cloud",
    "route_cloud_edge",
    "network_mean_us",
    "queue_mean_us",
    "infer_mean_us",
    "held_mean_us",
    "energy_mean_mj",
    "energy_p50_mj",
    "energy_p99_mj",
    "energy_compute_mean_mj",
    "energy_radio_mean_mj",
    "energy_tail_mean_mj",
    "battery_h",
    "cost_per_million",
    "cost_instance_per_million",
    "cost_transfer_per_million",
    "split_at",
    "split_head_mean_us",
    "split_tail_mean_us",
    "split_rest_mean_us",
    "split_bytes_mean",
    "group",
];

/// One row's cells by column name; `row_in` lays them out in the header's
/// order, empty where a row has nothing for a column.
type Cells = Vec<(String, String)>;

fn named(pairs: &[(&str, String)]) -> Cells {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn params_cells(params: &[(String, String)]) -> Cells {
    params.iter().map(|(k, v)| (format!("param:{k}"), v.clone())).collect()
}

/// A row's group: its name, `all` for the row over every group when the
/// run has groups, and nothing when it does not.
fn group_cell(report: &Report, s: &Summary) -> String {
    match &s.group {
        Some(g) => g.clone(),
        None if !report.group_summaries.is_empty() => "all".to_string(),
        None => String::new(),
    }
}

fn summary_cells(report: &Report, s: &Summary) -> Cells {
    let l = s.latency;
    let p = |x: Option<Percentiles>, f: fn(Percentiles) -> u64| opt(x.map(f));
    let mut cells = named(&[
        ("run_id", report.manifest.run_id.clone()),
        ("point", s.point.to_string()),
        ("repetition", s.repetition.to_string()),
        ("tier", s.tier.to_string()),
        ("group", group_cell(report, s)),
        ("requests", s.counts.requests.to_string()),
        ("ok", s.counts.ok.to_string()),
        ("timeouts", s.counts.timeouts.to_string()),
        ("errors", s.counts.errors.to_string()),
        ("throughput_rps", format!("{:.2}", s.throughput_rps)),
        ("latency_mean_us", opt(l.map(|l| format!("{:.1}", l.mean_us)))),
        ("latency_p50_us", p(l, |x| x.p50_us)),
        ("latency_p90_us", p(l, |x| x.p90_us)),
        ("latency_p95_us", p(l, |x| x.p95_us)),
        ("latency_p99_us", p(l, |x| x.p99_us)),
        ("latency_max_us", p(l, |x| x.max_us)),
        ("infer_p50_us", p(s.infer, |x| x.p50_us)),
        ("queue_p50_us", p(s.queue, |x| x.p50_us)),
        ("rejected", s.rejected.to_string()),
        ("latency_p999_us", p(l, |x| x.p999_us)),
        ("network_p50_us", p(s.network, |x| x.p50_us)),
        ("network_p99_us", p(s.network, |x| x.p99_us)),
        ("queue_p99_us", p(s.queue, |x| x.p99_us)),
        ("infer_p99_us", p(s.infer, |x| x.p99_us)),
        ("dispatch_p50_us", p(s.dispatch, |x| x.p50_us)),
        ("dispatch_p99_us", p(s.dispatch, |x| x.p99_us)),
        ("request_bytes_mean", opt(s.request_bytes_mean.map(|b| format!("{b:.1}")))),
        ("response_bytes_mean", opt(s.response_bytes_mean.map(|b| format!("{b:.1}")))),
        ("held_p50_us", p(s.held, |x| x.p50_us)),
        ("slowdown_p50", opt(s.slowdown_p50.map(|k| format!("{k:.3}")))),
        ("slowdown_p99", opt(s.slowdown_p99.map(|k| format!("{k:.3}")))),
        ("labelled", s.labelled.to_string()),
        ("accuracy", opt(s.accuracy.map(|a| format!("{a:.4}")))),
        ("overloaded", s.overloaded.to_string()),
        ("held_late_share", opt(s.held_late_share.map(|x| format!("{x:.4}")))),
        ("batch_mean", opt(s.batch_mean.map(|x| format!("{x:.2}")))),
        ("batch_max", opt(s.batch_max)),
        ("edge_share", opt(s.edge_share.map(|x| format!("{x:.4}")))),
        ("cloud_share", opt(s.cloud_share.map(|x| format!("{x:.4}")))),
        ("cloud_rps", opt(s.cloud_rps.map(|x| format!("{x:.2}")))),
        ("policy", s.policy.clone().unwrap_or_default()),
        ("route_edge", opt(s.routes.map(|r| format!("{:.4}", r[0])))),
        ("route_cloud", opt(s.routes.map(|r| format!("{:.4}", r[1])))),
        ("route_edge_cloud", opt(s.routes.map(|r| format!("{:.4}", r[2])))),
        ("route_cloud_edge", opt(s.routes.map(|r| format!("{:.4}", r[3])))),
        ("network_mean_us", opt(s.breakdown.map(|b| format!("{:.1}", b.network_us)))),
        ("queue_mean_us", opt(s.breakdown.map(|b| format!("{:.1}", b.queue_us)))),
        ("infer_mean_us", opt(s.breakdown.map(|b| format!("{:.1}", b.infer_us)))),
        ("held_mean_us", opt(s.breakdown.map(|b| format!("{:.1}", b.held_us)))),
    ]);
    cells.extend(costing_cells(s));
    cells.extend(params_cells(&s.params));
    cells
}

/// A summary's energy and cost columns (docs/energy.md).
fn costing_cells(s: &Summary) -> Cells {
    let e = |f: fn(&crate::stats::EnergySummary) -> f64| opt(s.energy.as_ref().map(|e| format!("{:.4}", f(e))));
    let c = |f: fn(&crate::stats::energy::Cost) -> f64| opt(s.cost.as_ref().map(|c| format!("{:.4}", f(c))));
    named(&[
        ("energy_mean_mj", e(|e| e.mean_mj)),
        ("energy_p50_mj", e(|e| e.p50_mj)),
        ("energy_p99_mj", e(|e| e.p99_mj)),
        ("energy_compute_mean_mj", e(|e| e.compute_mj)),
        ("energy_radio_mean_mj", e(|e| e.radio_mj)),
        ("energy_tail_mean_mj", e(|e| e.tail_mj)),
        ("battery_h", opt(s.energy.and_then(|e| e.battery_h).map(|h| format!("{h:.2}")))),
        ("cost_per_million", c(|c| c.per_million)),
        ("cost_instance_per_million", c(|c| c.instance)),
        ("cost_transfer_per_million", c(|c| c.transfer)),
        ("split_at", s.split.as_ref().map_or(String::new(), |p| p.at.clone())),
        ("split_head_mean_us", opt(s.split.as_ref().map(|p| format!("{:.1}", p.head_us)))),
        ("split_tail_mean_us", opt(s.split.as_ref().map(|p| format!("{:.1}", p.tail_us)))),
        ("split_rest_mean_us", opt(s.split.as_ref().map(|p| format!("{:.1}", p.rest_us)))),
        ("split_bytes_mean", opt(s.split.as_ref().map(|p| format!("{:.1}", p.bytes)))),
    ])
}

fn aggregate_cells(report: &Report, a: &Aggregate) -> Cells {
    let f = |x: Option<f64>| opt(x.map(|v| format!("{v:.0}")));
    let mut cells = named(&[
        ("run_id", report.manifest.run_id.clone()),
        ("point", a.point.to_string()),
        ("repetition", "all".into()),
        ("tier", a.tier.to_string()),
        ("requests", a.counts.requests.to_string()),
        ("ok", a.counts.ok.to_string()),
        ("timeouts", a.counts.timeouts.to_string()),
        ("errors", a.counts.errors.to_string()),
        ("throughput_rps", format!("{:.2}", a.throughput_rps)),
        ("latency_p50_us", f(a.p50_us)),
        ("latency_p99_us", f(a.p99_us)),
        ("rejected", a.rejected.to_string()),
        ("latency_p50_ci_low_us", f(a.p50_ci.map(|i| i.low))),
        ("latency_p50_ci_high_us", f(a.p50_ci.map(|i| i.high))),
        ("latency_p99_ci_low_us", f(a.p99_ci.map(|i| i.low))),
        ("latency_p99_ci_high_us", f(a.p99_ci.map(|i| i.high))),
        ("ci_coverage", opt(a.p50_ci.map(|i| format!("{:.4}", i.coverage)))),
    ]);
    cells.extend(params_cells(&a.params));
    cells
}

fn link_column(name: &str, d: Direction, stat: &str) -> String {
    format!("link:{name}:{}:{stat}", d.as_str())
}

/// The header of `summary.csv` for `report`: the fixed columns, a
/// `param:` column per swept key, the extra columns, then the links'.
pub fn summary_header(report: &Report) -> Vec<String> {
    let mut header: Vec<String> = SUMMARY_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(report.swept_keys.iter().map(|k| format!("param:{k}")));
    header.extend(EXTRA_COLUMNS.iter().map(|c| c.to_string()));
    if !report.host_load.is_empty() {
        header.extend(HOST_COLUMNS.iter().map(|c| c.to_string()));
    }
    for name in report.link_names() {
        for d in Direction::BOTH {
            header.extend(LINK_STATS.iter().map(|stat| link_column(&name, d, stat)));
        }
    }
    header
}

/// `cells` in the order of `header`; a cell whose column is not in the
/// header is a bug in this file (checked by its tests).
fn row_in(header: &[String], cells: Cells) -> Vec<String> {
    let mut by_name: std::collections::HashMap<String, String> = cells.into_iter().collect();
    header.iter().map(|c| by_name.remove(c).unwrap_or_default()).collect()
}

/// How busy the host was over a row's point execution, each a share of all
/// its cores (cores × wall time), in %: its mean and busiest second, simrun's
/// own threads, the broker's process when local, and everything else.
pub const HOST_COLUMNS: [&str; 5] =
    ["host_cpu_pct", "host_cpu_peak_pct", "simrun_cpu_pct", "broker_cpu_pct", "other_cpu_pct"];

/// The host's load over one point execution (`rep`), or none for an aggregate row.
fn host_cells_of(report: &Report, point: usize, rep: Option<u32>) -> Cells {
    let Some(l) = report.host_load.iter().find(|l| Some(l.repetition) == rep && l.point == point) else {
        return Vec::new();
    };
    let pct = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
    let values = [
        Some(l.busy_pct),
        Some(l.peak_pct),
        l.cpu_of("simrun").map(|s| l.share_pct(s)),
        l.cpu_of("broker").map(|s| l.share_pct(s)),
        Some(l.rest_pct()),
    ];
    HOST_COLUMNS.iter().zip(values).map(|(c, v)| (c.to_string(), pct(v))).collect()
}

/// The link cells of one point execution (`rep`), or none for an aggregate row.
fn link_cells_of(report: &Report, point: usize, rep: Option<u32>) -> Cells {
    let mut cells = Vec::new();
    let Some(rep) = rep else { return cells };
    for l in report.links.iter().filter(|l| l.point == point && l.repetition == rep) {
        let values = link_cells(Some(l));
        cells.extend(LINK_STATS.iter().zip(values).map(|(stat, v)| (link_column(&l.link, l.direction, stat), v)));
    }
    cells
}

/// The whole of `summary.csv`: a row per (point, repetition, tier), then, with
/// more than one repetition, an aggregate row per (point, tier) with `repetition=all`.
pub fn summary_csv(report: &Report) -> Vec<u8> {
    let mut w = writer();
    let header = summary_header(report);
    let _ = w.write_record(&header);
    for s in &report.summaries {
        let mut cells = summary_cells(report, s);
        cells.extend(link_cells_of(report, s.point, Some(s.repetition)));
        cells.extend(host_cells_of(report, s.point, Some(s.repetition)));
        let _ = w.write_record(row_in(&header, cells));
    }
    if report.manifest.repetitions > 1 {
        for a in &report.aggregates {
            let _ = w.write_record(row_in(&header, aggregate_cells(report, a)));
        }
    }
    // Each device group's rows, after the rows over every device.
    for s in &report.group_summaries {
        let _ = w.write_record(row_in(&header, summary_cells(report, s)));
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rich() -> Report {
        let text = include_str!("../../tests/fixtures/results/rich/results.json");
        let mut report = serde_json::from_str::<super::super::ResultsFile>(text).unwrap().report;
        report.summaries_changed();
        report
    }

    #[test]
    fn every_cell_has_its_column() {
        let report = rich();
        let header = summary_header(&report);
        let mut rows: Vec<Cells> = report
            .summaries
            .iter()
            .map(|s| {
                let mut c = summary_cells(&report, s);
                c.extend(link_cells_of(&report, s.point, Some(s.repetition)));
                c
            })
            .collect();
        rows.extend(report.aggregates.iter().map(|a| aggregate_cells(&report, a)));
        assert!(rows.len() > 4);
        for cells in rows {
            for (name, _) in &cells {
                assert!(header.contains(name), "{name} is not a column of {header:?}");
            }
        }
    }

    #[test]
    fn a_row_is_laid_out_by_name() {
        let header: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let row = row_in(&header, named(&[("c", "3".into()), ("a", "1".into())]));
        assert_eq!(row, ["1", "", "3"]);
    }
}
