//! The report's tables of summaries, one function per table, each returning
//! a `Table`: results, repetitions, breakdown, compute, batching, accuracy,
//! SLOs, placements and edge against cloud.

use super::{bytes_pair, ms, opt_ms};
use crate::export::table::{Align, Table};
use crate::report::{Placement, Report};
use crate::stats::{Breakdown, Faster, Interval, Percentiles, Summary};

/// Below this many answers a row's p95 and p99 are marked as resting on few samples.
pub(super) const FEW_SAMPLES: u64 = 100;

/// `–` for a value that is not there.
fn dash() -> String {
    "–".into()
}

/// A table whose first columns name the point: the swept keys, or `point`
/// without a sweep.
pub(super) fn by_point(report: &Report) -> Table {
    match report.swept_keys.is_empty() {
        true => Table::new().left("point"),
        false => Table::new().columns(report.swept_keys.iter().cloned(), Align::Left),
    }
}

/// The leading cells under `by_point`: the swept values, or the point index.
pub(super) fn point_cells(report: &Report, point: usize, params: &[(String, String)]) -> Vec<String> {
    if report.swept_keys.is_empty() {
        return vec![point.to_string()];
    }
    let value = |k: &String| params.iter().find(|(key, _)| key == k).map_or(String::new(), |(_, v)| v.clone());
    report.swept_keys.iter().map(value).collect()
}

/// A table with a row per summary: the point's columns, and the repetition
/// when there are several.
fn by_row(report: &Report) -> Table {
    let t = by_point(report);
    if report.manifest.repetitions > 1 {
        t.left("rep")
    } else {
        t
    }
}

/// A summary's leading cells under `by_row`.
fn row_cells(report: &Report, s: &Summary) -> Vec<String> {
    let mut cells = point_cells(report, s.point, &s.params);
    if report.manifest.repetitions > 1 {
        cells.push(s.repetition.to_string());
    }
    cells
}

/// One row: the leading cells, then the rest.
fn cells(mut lead: Vec<String>, rest: impl IntoIterator<Item = String>) -> Vec<String> {
    lead.extend(rest);
    lead
}

/// Every summary's percentiles; and the most answers of a row marked † (0 for none).
pub(super) fn results(report: &Report) -> (Table, u64) {
    let mut t = by_row(report).left("tier").columns(
        ["requests", "p50 (ms)", "p95 (ms)", "p99 (ms)", "throughput (req/s)", "timeouts", "errors"],
        Align::Right,
    );
    let mut few = 0u64;
    for s in &report.summaries {
        let l = s.latency;
        // A tail percentile of a few answers is one of the slowest few, not a tail estimate.
        let mark = if l.is_some() && s.counts.ok < FEW_SAMPLES {
            few = few.max(s.counts.ok);
            " †"
        } else {
            ""
        };
        t.row(cells(
            row_cells(report, s),
            [
                s.tier.to_string(),
                s.counts.requests.to_string(),
                opt_ms(l.map(|l| l.p50_us)),
                format!("{}{mark}", opt_ms(l.map(|l| l.p95_us))),
                format!("{}{mark}", opt_ms(l.map(|l| l.p99_us))),
                format!("{:.1}", s.throughput_rps),
                s.counts.timeouts.to_string(),
                s.counts.errors.to_string(),
            ],
        ));
    }
    (t, few)
}

/// Medians over repetitions with their intervals.
pub(super) fn aggregates(report: &Report) -> Table {
    let mut t = by_point(report)
        .left("tier")
        .columns(["reps", "p50 (ms)", "p50 interval (ms)", "p99 (ms)", "p99 interval (ms)", "coverage"], Align::Right);
    let v = |x: Option<f64>| x.map_or_else(dash, |us| format!("{:.3}", us / 1e3));
    let i = |x: Option<Interval>| x.map_or_else(dash, |i| format!("{:.3}–{:.3}", i.low / 1e3, i.high / 1e3));
    for a in &report.aggregates {
        t.row(cells(
            point_cells(report, a.point, &a.params),
            [
                a.tier.to_string(),
                a.repetitions.to_string(),
                v(a.p50_us),
                i(a.p50_ci),
                v(a.p99_us),
                i(a.p99_ci),
                a.p50_ci.map_or_else(dash, |i| format!("{:.1} %", i.coverage * 100.0)),
            ],
        ));
    }
    t
}

/// `0.412 / 1.210`: a p50 and a p99 in ms.
fn pair(p: Option<Percentiles>) -> String {
    p.map_or_else(dash, |p| format!("{} / {}", ms(p.p50_us), ms(p.p99_us)))
}

/// `0.300 + 0.010 + 0.630 + 2.054 = 3.000`: the breakdown's means in ms.
fn breakdown_means(b: Option<Breakdown>) -> String {
    let Some(b) = b else { return dash() };
    let [n, q, i, h] = b.parts().map(|us| format!("{:.3}", us / 1e3));
    format!("{n} + {q} + {i} + {h} = {:.3}", b.latency_us / 1e3)
}

/// Where each summary's time went; the emulated compute's column only when a tier was slowed.
pub(super) fn breakdown(report: &Report, emulated: bool) -> Table {
    let mut t = by_row(report)
        .left("tier")
        .left("mean (ms): network + queue + inference + emulated = latency")
        .columns(["network p50 / p99 (ms)", "queue p50 / p99 (ms)", "inference p50 / p99 (ms)"], Align::Right);
    if emulated {
        t = t.right("compute (emulated) p50 / p99 (ms)");
    }
    t = t.right("dispatch p50 / p99 (ms)").right("request / response (bytes)");
    for s in &report.summaries {
        let mut row = cells(
            row_cells(report, s),
            [
                s.tier.to_string(),
                breakdown_means(s.breakdown_or_estimate()),
                pair(s.network),
                pair(s.queue),
                pair(s.infer),
            ],
        );
        if emulated {
            row.push(pair(s.held));
        }
        row.push(pair(s.dispatch));
        row.push(bytes_pair(s.request_bytes_mean, s.response_bytes_mean));
        t.row(row);
    }
    t
}

/// Each slowed tier's configured slowdown against the achieved one.
pub(super) fn compute_fidelity(report: &Report) -> Table {
    let tolerance = crate::report::SLOWDOWN_TOLERANCE;
    let mut t =
        by_row(report).left("tier").columns(["configured", "achieved p50 / p99", "holds late"], Align::Right).left("");
    for s in report.summaries.iter().filter(|s| s.slowdown.is_some()) {
        let k = s.slowdown.unwrap_or(1.0);
        let achieved = |x: Option<f64>| x.map_or_else(dash, |v| format!("{v:.3}"));
        let mark = match s.slowdown_p50 {
            Some(a) if ((a - k) / k).abs() <= tolerance => "✅",
            Some(_) => "⚠️",
            None => "–",
        };
        t.row(cells(
            row_cells(report, s),
            [
                s.tier.to_string(),
                crate::math::trimmed(k, 3),
                format!("{} / {}", achieved(s.slowdown_p50), achieved(s.slowdown_p99)),
                s.held_late_share.map_or_else(dash, |x| format!("{:.1} %", x * 100.0)),
                mark.to_string(),
            ],
        ));
    }
    t
}

/// Each batching tier's batch sizes and the wait they cost.
pub(super) fn batching(report: &Report) -> Table {
    let mut t = by_row(report)
        .left("tier")
        .columns(["mean batch", "largest", "queue p50 / p99 (ms)", "inference p50 (ms)"], Align::Right);
    let ms = |x: Option<u64>| x.map_or_else(dash, |us| format!("{:.3}", us as f64 / 1e3));
    for s in report.summaries.iter().filter(|s| s.batch_mean.is_some()) {
        t.row(cells(
            row_cells(report, s),
            [
                s.tier.to_string(),
                format!("{:.2}", s.batch_mean.unwrap_or(0.0)),
                s.batch_max.map_or_else(dash, |b| b.to_string()),
                format!("{} / {}", ms(s.queue.map(|q| q.p50_us)), ms(s.queue.map(|q| q.p99_us))),
                ms(s.infer.map(|q| q.p50_us)),
            ],
        ));
    }
    t
}

/// Each tier's share of right answers on the labelled rows it answered.
pub(super) fn accuracy(report: &Report) -> Table {
    let mut t = by_row(report).left("tier").columns(["labelled answers", "accuracy"], Align::Right);
    for s in report.summaries.iter().filter(|s| s.accuracy.is_some()) {
        t.row(cells(
            row_cells(report, s),
            [
                s.tier.to_string(),
                s.labelled.to_string(),
                s.accuracy.map(|a| format!("{:.2} %", a * 100.0)).unwrap_or_default(),
            ],
        ));
    }
    t
}

/// Every SLO check: the objective, what was measured, passed or not.
pub(super) fn slos(report: &Report) -> Table {
    let mut t = by_point(report).left("tier").left("objective").right("measured").left("");
    for c in report.slo_checks() {
        let slo = &report.slos[c.slo];
        t.row(cells(
            point_cells(report, c.point, report.params_of(c.point)),
            [
                c.tier.to_string(),
                slo.objective(),
                c.measured.map_or("no successful request".into(), |v| slo.metric.format(v)),
                (if c.passed { "✅" } else { "❌" }).to_string(),
            ],
        ));
    }
    t
}

/// `edge 72 %, edge>cloud 28 %`, or `–` when no route was recorded.
fn routes_text(p: &Placement) -> String {
    let parts: Vec<String> =
        p.routes.iter().map(|(r, share)| format!("{} {:.0} %", r.as_str(), share * 100.0)).collect();
    if parts.is_empty() {
        dash()
    } else {
        parts.join(", ")
    }
}

/// The placements side by side: latency, who answered, what reached the cloud.
pub(super) fn placements(report: &Report, placements: &[Placement]) -> Table {
    let mut t = by_point(report).left("policy").left("routes").columns(
        [
            "p50 (ms)",
            "p99 (ms)",
            "timed out or failed",
            "answered by edge",
            "answered by cloud",
            "to the cloud (req/s)",
            "accuracy",
        ],
        Align::Right,
    );
    let energy = placements.iter().any(|p| p.energy_mj.is_some());
    let cost = placements.iter().any(|p| p.cost_per_million.is_some());
    if energy {
        t = t.right("energy (mJ)");
    }
    if cost {
        t = t.right("cost per million");
    }
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let v = |x: Option<f64>| x.map_or_else(dash, |us| format!("{:.3}", us / 1e3));
    for p in placements {
        let mut row = vec![
            p.name.clone(),
            routes_text(p),
            v(p.p50_us),
            v(p.p99_us),
            pct(p.failed),
            pct(p.edge),
            pct(p.cloud),
            format!("{:.1}", p.cloud_rps),
            p.accuracy.map_or_else(dash, pct),
        ];
        if energy {
            row.push(p.energy_mj.map_or_else(dash, |e| format!("{e:.1}")));
        }
        if cost {
            row.push(p.cost_per_million.map_or_else(dash, money));
        }
        t.row(cells(point_cells(report, p.point, &p.params), row));
    }
    t
}

/// `$12.34`, or `$0.085` and `$0.0012` below a dollar.
pub(super) fn money(x: f64) -> String {
    if x.abs() >= 1.0 || x == 0.0 {
        format!("${x:.2}")
    } else {
        format!("${}", crate::math::trimmed(x, 4))
    }
}

/// Each tier's and policy's device energy per request, its parts, the
/// battery life and the cost per million requests.
pub(super) fn energy(report: &Report, rows: &[crate::report::EnergyRow]) -> Table {
    let mut t = by_point(report).left("placement").columns(
        ["mean (mJ)", "p50 (mJ)", "p99 (mJ)", "compute", "radio", "tail", "battery (h)", "cost per million"],
        Align::Right,
    );
    let mj = |x: Option<f64>| x.map_or_else(dash, |e| format!("{e:.1}"));
    for r in rows {
        t.row(cells(
            point_cells(report, r.point, report.params_of(r.point)),
            [
                r.name.clone(),
                mj(r.mean_mj),
                mj(r.p50_mj),
                mj(r.p99_mj),
                mj(r.compute_mj),
                mj(r.radio_mj),
                mj(r.tail_mj),
                r.battery_h.map_or_else(dash, |h| format!("{h:.1}")),
                r.cost_per_million.map_or_else(dash, money),
            ],
        ));
    }
    t
}

/// Edge against cloud at each point that ran both.
pub(super) fn edge_cloud(report: &Report) -> Table {
    let reps = report.manifest.repetitions > 1;
    let mut t = by_point(report);
    if reps {
        t = t.right("reps");
    }
    let mut t = t
        .columns(
            ["edge p50 (ms)", "cloud p50 (ms)", "cloud/edge p50", "edge p99 (ms)", "cloud p99 (ms)", "cloud/edge p99"],
            Align::Right,
        )
        .left("faster");
    let value = |v: Option<f64>| v.map_or_else(dash, |us| ms(us.round() as u64));
    let times = |v: Option<f64>| v.map_or_else(dash, |r| format!("{r:.1}×"));
    for v in &report.versus() {
        let faster = match v.faster {
            Some(Faster::Edge) => "edge",
            Some(Faster::Cloud) => "cloud",
            Some(Faster::Tie) => "tie",
            None if v.edge.p50_us.is_none() => "edge: no answers",
            None => "cloud: no answers",
        };
        let mut row = point_cells(report, v.point, report.params_of(v.point));
        if reps {
            row.push(format!("{} / {}", v.edge.answered, v.cloud.answered));
        }
        t.row(cells(
            row,
            [
                value(v.edge.p50_us),
                value(v.cloud.p50_us),
                times(v.p50_ratio()),
                value(v.edge.p99_us),
                value(v.cloud.p99_us),
                times(v.p99_ratio()),
                faster.to_string(),
            ],
        ));
    }
    t
}

/// One network condition's Split points: each cut's latency, where it went
/// (means over the same requests, so head + tail + the rest = the mean) and
/// what it sent; the fastest cut in bold.
pub(super) fn split(table: &crate::report::SplitTable) -> Table {
    let energy = table.rows.iter().any(|r| r.energy_mj.is_some());
    let mut t = Table::new().left("cut").columns(
        [
            "p50 (ms)",
            "p99 (ms)",
            "mean (ms)",
            "head, edge (ms)",
            "tail, cloud (ms)",
            "links, broker, queues (ms)",
            "bytes sent",
        ],
        Align::Right,
    );
    if energy {
        t = t.right("energy (mJ)");
    }
    let value = |v: Option<f64>| v.map_or_else(dash, |us| ms(us.round() as u64));
    let mean = |us: f64| format!("{:.2}", us / 1000.0);
    for r in &table.rows {
        let name = match table.fastest.as_deref() == Some(r.at.as_str()) {
            true => format!("**{}**", r.at),
            false => r.at.clone(),
        };
        let mut row = vec![
            name,
            value(r.p50_us),
            value(r.p99_us),
            mean(r.latency_us),
            mean(r.head_us),
            mean(r.tail_us),
            mean(r.rest_us),
            super::thousands(r.bytes.round() as u64),
        ];
        if energy {
            row.push(r.energy_mj.map_or_else(dash, |e| format!("{e:.1}")));
        }
        t.row(row);
    }
    t
}
