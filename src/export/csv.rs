//! `samples.csv` and `summary.csv`. Columns are documented in the README.

use crate::report::Report;
use crate::run::link::Direction;
use crate::sample::Sample;
use crate::stats::LinkFidelity;

/// The fixed columns of `samples.csv`, in order.
pub const SAMPLE_COLUMNS: [&str; 16] = [
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
    "error",
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

/// Rows of `samples.csv` for `samples`, without the header.
pub fn sample_rows(run_id: &str, samples: &[Sample]) -> Vec<u8> {
    let mut w = writer();
    for s in samples {
        let _ = w.write_record([
            run_id.to_string(),
            s.point.to_string(),
            s.repetition.to_string(),
            s.tier.to_string(),
            format!("dev-{:03}", s.device),
            s.seq.to_string(),
            s.phase.as_str().to_string(),
            s.intended_us.to_string(),
            s.sent_us.to_string(),
            opt(s.received_us),
            opt(s.latency_us()),
            opt(s.queue_us),
            opt(s.infer_us),
            s.status.as_str().to_string(),
            opt(s.probability),
            s.error.clone().unwrap_or_default(),
        ]);
    }
    finish(w)
}

/// The whole of `summary.csv`.
pub fn summary_csv(report: &Report) -> Vec<u8> {
    let mut w = writer();
    let mut header: Vec<String> = SUMMARY_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(report.swept_keys.iter().map(|k| format!("param:{k}")));
    header.push("rejected".into());
    let links = report.link_names();
    for name in &links {
        for d in Direction::BOTH {
            header.extend(LINK_STATS.iter().map(|stat| format!("link:{name}:{}:{stat}", d.as_str())));
        }
    }
    let _ = w.write_record(&header);
    for s in &report.summaries {
        let l = s.latency;
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
            opt(l.map(|l| l.p50_us)),
            opt(l.map(|l| l.p90_us)),
            opt(l.map(|l| l.p95_us)),
            opt(l.map(|l| l.p99_us)),
            opt(l.map(|l| l.max_us)),
            opt(s.infer_p50_us),
            opt(s.queue_p50_us),
        ];
        for key in &report.swept_keys {
            row.push(s.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default());
        }
        row.push(s.rejected.to_string());
        for name in &links {
            for d in Direction::BOTH {
                let f = report.links.iter().find(|l| {
                    l.point == s.point && l.repetition == s.repetition && &l.link == name && l.direction == d
                });
                row.extend(link_cells(f));
            }
        }
        let _ = w.write_record(&row);
    }
    finish(w)
}
