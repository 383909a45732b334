//! `samples.csv` and `summary.csv`. Columns are documented in docs/results.md.

use crate::record::Direction;
use crate::record::Sample;
use crate::report::Report;
use crate::stats::{aggregate, Aggregate, LinkFidelity, Percentiles, Summary};

/// The columns of `samples.csv`, in order.
pub const SAMPLE_COLUMNS: [&str; 19] = [
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
pub const LINK_STATS: [&str; 10] = [
    "delay_mean_us",
    "delay_p50_us",
    "delay_p99_us",
    "configured_mean_us",
    "configured_p50_us",
    "configured_p99_us",
    "release_error_p50_us",
    "release_error_p99_us",
    "chunks",
    "achieved_bandwidth_bps",
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
        opt(f.release_error.map(|p| p.p50_us)),
        opt(f.release_error.map(|p| p.p99_us)),
        f.chunks.to_string(),
        opt(f.achieved_bps.map(|b| format!("{b:.0}"))),
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
}

impl<W: std::io::Write> SampleWriter<W> {
    pub fn new(run_id: &str, sink: W) -> Self {
        SampleWriter { run_id: run_id.to_string(), csv: ::csv::WriterBuilder::new().from_writer(sink) }
    }

    pub fn write(&mut self, s: &Sample) -> std::io::Result<()> {
        let network = s.latency_us().zip(s.queue_us.zip(s.infer_us)).map(|(l, (q, i))| l.saturating_sub(q + i));
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
                &opt(network),
                &s.sent_us.saturating_sub(s.intended_us).to_string(),
                s.error.as_deref().unwrap_or(""),
                s.worker.as_deref().unwrap_or(""),
            ])
            .map_err(std::io::Error::other)
    }

    /// Flushes and hands back the sink.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }
}

/// Columns after the `param:` columns: the breakdown and repetition intervals.
pub const EXTRA_COLUMNS: [&str; 13] = [
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
];

fn params_cells(report: &Report, params: &[(String, String)]) -> Vec<String> {
    report
        .swept_keys
        .iter()
        .map(|key| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default())
        .collect()
}

fn summary_row(report: &Report, s: &Summary) -> Vec<String> {
    let l = s.latency;
    let p = |x: Option<Percentiles>, f: fn(Percentiles) -> u64| opt(x.map(f));
    let mut row = vec![
        report.manifest.run_id.clone(),
        s.point.to_string(),
        s.repetition.to_string(),
        s.tier.to_string(),
        s.requests.to_string(),
        s.ok.to_string(),
        s.timeouts.to_string(),
        s.errors.to_string(),
        format!("{:.2}", s.throughput_rps),
        opt(l.map(|l| format!("{:.1}", l.mean_us))),
        p(l, |x| x.p50_us),
        p(l, |x| x.p90_us),
        p(l, |x| x.p95_us),
        p(l, |x| x.p99_us),
        p(l, |x| x.max_us),
        p(s.infer, |x| x.p50_us),
        p(s.queue, |x| x.p50_us),
    ];
    row.extend(params_cells(report, &s.params));
    row.extend([
        s.rejected.to_string(),
        p(l, |x| x.p999_us),
        p(s.network, |x| x.p50_us),
        p(s.network, |x| x.p99_us),
        p(s.queue, |x| x.p99_us),
        p(s.infer, |x| x.p99_us),
        p(s.dispatch, |x| x.p50_us),
        p(s.dispatch, |x| x.p99_us),
    ]);
    row.extend(std::iter::repeat_n(String::new(), 5));
    row
}

fn aggregate_row(report: &Report, a: &Aggregate) -> Vec<String> {
    let f = |x: Option<f64>| opt(x.map(|v| format!("{v:.0}")));
    let mut row = vec![
        report.manifest.run_id.clone(),
        a.point.to_string(),
        "all".into(),
        a.tier.to_string(),
        a.requests.to_string(),
        a.ok.to_string(),
        a.timeouts.to_string(),
        a.errors.to_string(),
        format!("{:.2}", a.throughput_rps),
        String::new(),
        f(a.p50_us),
        String::new(),
        String::new(),
        f(a.p99_us),
        String::new(),
        String::new(),
        String::new(),
    ];
    row.extend(params_cells(report, &a.params));
    row.push(a.rejected.to_string());
    row.extend(std::iter::repeat_n(String::new(), 7));
    row.extend([
        f(a.p50_ci.map(|i| i.low)),
        f(a.p50_ci.map(|i| i.high)),
        f(a.p99_ci.map(|i| i.low)),
        f(a.p99_ci.map(|i| i.high)),
        opt(a.p50_ci.map(|i| format!("{:.4}", i.coverage))),
    ]);
    row
}

/// The whole of `summary.csv`: a row per (point, repetition, tier), then, with
/// more than one repetition, an aggregate row per (point, tier) with `repetition=all`.
pub fn summary_csv(report: &Report) -> Vec<u8> {
    let mut w = writer();
    let mut header: Vec<String> = SUMMARY_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(report.swept_keys.iter().map(|k| format!("param:{k}")));
    header.extend(EXTRA_COLUMNS.iter().map(|c| c.to_string()));
    let links = report.link_names();
    for name in &links {
        for d in Direction::BOTH {
            header.extend(LINK_STATS.iter().map(|stat| format!("link:{name}:{}:{stat}", d.as_str())));
        }
    }
    let _ = w.write_record(&header);
    let link_cells_for = |point: usize, rep: Option<u32>| -> Vec<String> {
        let mut cells = Vec::new();
        for name in &links {
            for d in Direction::BOTH {
                let f = rep.and_then(|rep| {
                    report
                        .links
                        .iter()
                        .find(|l| l.point == point && l.repetition == rep && &l.link == name && l.direction == d)
                });
                cells.extend(link_cells(f));
            }
        }
        cells
    };
    for s in &report.summaries {
        let mut row = summary_row(report, s);
        row.extend(link_cells_for(s.point, Some(s.repetition)));
        let _ = w.write_record(&row);
    }
    if report.manifest.repetitions > 1 {
        for a in aggregate(&report.summaries) {
            let mut row = aggregate_row(report, &a);
            row.extend(link_cells_for(a.point, None));
            let _ = w.write_record(&row);
        }
    }
    finish(w)
}
