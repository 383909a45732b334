//! `report.md`: the human report, laid out like the results of M3b, the
//! reference experiment (docs/scenario.md).

use std::fmt::Write;

use super::plot::{self, PlotKind};
use crate::plan::Tier;
use crate::record::Route;
use crate::report::{Report, PARITY_LIMIT};
use crate::stats::{Faster, Summary, Versus, TIE_PCT};

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn opt_ms(us: Option<u64>) -> String {
    us.map(ms).unwrap_or_else(|| "–".into())
}

/// A point as a sentence names it: its swept values, or "the base scenario".
pub(super) fn point_label(report: &Report, point: usize) -> String {
    match report.points.iter().find(|p| p.index == point).map(|p| &p.params) {
        Some(p) if !p.is_empty() => crate::plan::params_label(p),
        _ => "the base scenario".into(),
    }
}

/// Edge against cloud at every point where both ran, in plan order.
fn versus(report: &Report) -> Vec<Versus> {
    let points: Vec<usize> = report.points.iter().map(|p| p.index).collect();
    crate::stats::versus(&report.summaries, &points)
}

fn params_of(report: &Report, point: usize) -> &[(String, String)] {
    report.points.iter().find(|p| p.index == point).map_or(&[], |p| p.params.as_slice())
}

fn range_ms(values: impl Iterator<Item = u64>) -> String {
    let v: Vec<u64> = values.collect();
    match (v.iter().min(), v.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => format!("{} ms", ms(*lo)),
        (Some(lo), Some(hi)) => format!("{}–{} ms", ms(*lo), ms(*hi)),
        _ => "no successful requests".into(),
    }
}

/// The finding: per point, which tier answered faster, if the data separate
/// them (medians over repetitions), and the range of the cloud/edge ratio.
pub fn finding(report: &Report) -> String {
    let all = versus(report);
    let compared: Vec<&Versus> = all.iter().filter(|v| v.faster.is_some()).collect();
    let silent: Vec<String> = all
        .iter()
        .filter(|v| v.faster.is_none())
        .map(|v| {
            let tier = if v.edge.p50_us.is_none() { Tier::Edge } else { Tier::Cloud };
            format!("The {tier} tier had no successful request at {}.", point_label(report, v.point))
        })
        .collect();
    if !compared.is_empty() {
        let count = |f: Faster| compared.iter().filter(|v| v.faster == Some(f)).count();
        let (edge, cloud, tie, n) = (count(Faster::Edge), count(Faster::Cloud), count(Faster::Tie), compared.len());
        let at = |k: usize| {
            if n == 1 {
                "".to_string()
            } else if k == n {
                " at every point".into()
            } else {
                format!(" at {k} of {n} points")
            }
        };
        let mut parts = Vec::new();
        if edge > 0 {
            parts.push(format!("the edge answered faster{}", at(edge)));
        }
        if cloud > 0 {
            parts.push(format!("the cloud answered faster{}", at(cloud)));
        }
        if tie > 0 {
            let what = if n == 1 {
                "the two tiers tied (too close to separate)".to_string()
            } else {
                format!("the two tiers tied{}", at(tie))
            };
            parts.push(what);
        }
        let reps = if report.manifest.repetitions > 1 { " (medians over repetitions)" } else { "" };
        let median = |v: &Option<f64>| v.map_or(0, |x| x.round() as u64);
        let ratio = |v: &&Versus| v.p50_ratio().unwrap_or(0.0);
        let lo = compared.iter().min_by(|a, b| ratio(a).total_cmp(&ratio(b))).expect("not empty");
        let hi = compared.iter().max_by(|a, b| ratio(a).total_cmp(&ratio(b))).expect("not empty");
        let ratios = if lo.point == hi.point {
            format!("The cloud's p50 was {:.1}× the edge's at {}.", ratio(lo), point_label(report, lo.point))
        } else {
            format!(
                "The cloud's p50 was {:.1}× the edge's at {} and {:.1}× at {}.",
                ratio(lo),
                point_label(report, lo.point),
                ratio(hi),
                point_label(report, hi.point)
            )
        };
        let mut out = format!(
            "Edge p50 latency was {} and cloud p50 {}{reps}; {}. {ratios}",
            range_ms(compared.iter().map(|v| median(&v.edge.p50_us))),
            range_ms(compared.iter().map(|v| median(&v.cloud.p50_us))),
            join_and(&parts),
        );
        for s in silent.into_iter().chain(accuracy_sentence(report)) {
            out.push(' ');
            out.push_str(&s);
        }
        return out;
    }
    if !silent.is_empty() {
        return silent.join(" ");
    }
    no_comparison(report)
}

/// The finding when no point compared the tiers: a policy run, or one tier.
fn no_comparison(report: &Report) -> String {
    if report.summaries.iter().any(|s| s.tier == Tier::Policy) {
        let rows = policy_rows(report);
        let best = policy_sentence(report, &rows).unwrap_or_default();
        return format!("This run routes requests by policy; the Policies section compares its placements. {best}");
    }
    let tiers: Vec<Tier> = Tier::ALL.into_iter().filter(|t| report.summaries.iter().any(|s| s.tier == *t)).collect();
    match tiers.as_slice() {
        [tier] => format!(
            "Only the {tier} tier ran, with p50 latency {} over {} point executions. No edge-versus-cloud comparison was made.",
            range_ms(report.summaries.iter().filter_map(|s| s.latency.map(|l| l.p50_us))),
            report.summaries.len()
        ),
        _ => "No point finished with successful requests on both tiers, so there is no edge-versus-cloud finding.".into(),
    }
}

/// A crossover's value with its unit (`7.5 ms`, `3.2 Mbit/s`, `450/s`, `8.25`).
fn with_unit(x: f64, unit: &str) -> String {
    match unit {
        "" => crate::math::trimmed(x, 2),
        "/s" => format!("{x:.0}/s"),
        u => format!("{} {u}", crate::math::trimmed(x, 1)),
    }
}

/// One sentence per line of the sweep along each numeric key: where the
/// faster tier changes at the median (and p99), or that it never does.
pub fn crossover_sentences(report: &Report) -> Vec<String> {
    let mut lines: Vec<(&str, &[(String, String)])> = Vec::new();
    for c in &report.crossovers {
        if !lines.contains(&(c.key.as_str(), c.fixed.as_slice())) {
            lines.push((c.key.as_str(), c.fixed.as_slice()));
        }
    }
    let reps = report.manifest.repetitions > 1;
    lines
        .into_iter()
        .map(|(key, fixed)| {
            let of = |pct: &str| -> Vec<&crate::stats::Crossover> {
                report.crossovers.iter().filter(|c| c.key == key && c.fixed == fixed && c.percentile == pct).collect()
            };
            let other = |t: Tier| if t == Tier::Edge { Tier::Cloud } else { Tier::Edge };
            let p50: Vec<String> = of("p50")
                .into_iter()
                .map(|c| match (c.at, &c.between) {
                    (Some(x), Some((a, b))) => {
                        let interval = c.interval.map_or(String::new(), |(lo, hi)| {
                            let what = if reps { "from the repetitions" } else { "" };
                            format!(" ({}–{} {what})", with_unit(lo, &c.unit), with_unit(hi, &c.unit))
                                .replace(" )", ")")
                        });
                        format!(
                            "the {} answers faster at the median below {key} ≈ {}{interval} and the {} above it \
                             (between the swept {a} and {b})",
                            c.faster_below,
                            with_unit(x, &c.unit),
                            other(c.faster_below)
                        )
                    }
                    _ => match ties_on_line(report, fixed) {
                        (0, _) => format!(
                            "the {} answers faster at the median over the whole sweep of {key} ({} to {})",
                            c.faster_below, c.from, c.to
                        ),
                        (t, n) if t == n => format!(
                            "the tiers are too close to separate at every point of the sweep of {key} ({} to {})",
                            c.from, c.to
                        ),
                        (t, n) => format!(
                            "the {}'s median is the lower one over the whole sweep of {key} ({} to {}), though the \
                             tiers are too close to separate at {t} of its {n} points",
                            c.faster_below, c.from, c.to
                        ),
                    },
                })
                .collect();
            let (median, tail) = (of("p50"), of("p99"));
            let crossings: Vec<String> = tail.iter().filter_map(|c| c.at.map(|x| with_unit(x, &c.unit))).collect();
            let with = if fixed.is_empty() {
                String::new()
            } else {
                let f: Vec<String> = fixed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("with {}, ", f.join(", "))
            };
            let mut s = format!("{with}{}", join_and(&p50));
            match (tail.first(), crossings.is_empty()) {
                (Some(t), true)
                    if ties_on_line(report, fixed).0 == 0
                        && median.iter().all(|m| m.at.is_none() && m.faster_below == t.faster_below) =>
                {
                    s = s.replace(" at the median over the whole sweep", " over the whole sweep");
                    s.push_str(", at the median and at p99");
                }
                (Some(t), true) => s.push_str(&format!("; at p99 the {} is faster throughout", t.faster_below)),
                (Some(_), false) => s.push_str(&format!("; at p99 the tiers cross at {}", join_and(&crossings))),
                (None, _) => {}
            }
            let mut chars = s.chars();
            let capital = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
            format!("{capital}{}.", chars.as_str())
        })
        .collect()
}

/// Of the points on the line with the other swept keys at `fixed`, how
/// many the edge-against-cloud verdict calls a tie, and how many it compared:
/// a sentence about the whole line must not contradict the points.
fn ties_on_line(report: &Report, fixed: &[(String, String)]) -> (usize, usize) {
    let on_line = |point: usize| fixed.iter().all(|f| params_of(report, point).contains(f));
    let compared: Vec<Versus> = versus(report).into_iter().filter(|v| v.faster.is_some() && on_line(v.point)).collect();
    (compared.iter().filter(|v| v.faster == Some(Faster::Tie)).count(), compared.len())
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn status(report: &Report) -> String {
    let silent = report.silent_tiers();
    if let Some(first) = silent.first() {
        let partial = if report.complete() { "" } else { "⏸ PARTIAL, " };
        return format!(
            "{partial}❌ FAILED: the {} tier answered none of its requests at {} point execution(s), first at point {} \
             rep {} (see the warnings)",
            first.tier,
            silent.len(),
            first.point,
            first.repetition
        );
    }
    let (failed, checks) = report.slo_failures();
    let slo = (failed > 0).then(|| format!("❌ SLO FAILED ({failed} of {checks} checks)"));
    match (report.complete(), slo) {
        (false, Some(slo)) => format!("⏸ PARTIAL, {slo}"),
        (false, None) => "⏸ PARTIAL".into(),
        (true, Some(slo)) => slo,
        (true, None) if report.all_warnings().is_empty() => "✅ SUCCESS".into(),
        (true, None) => "⚠️ COMPLETED WITH WARNINGS".into(),
    }
}

fn slo_section(report: &Report, md: &mut String) {
    if report.slos.is_empty() {
        md.push_str("None set (add an `slo:` list to the scenario to gate on them).\n");
        return;
    }
    let reps = if report.manifest.repetitions > 1 { " (median over repetitions)" } else { "" };
    let _ = writeln!(md, "Each objective is checked at every point, for each tier it names{reps}.\n");
    let (head, rule) = param_header(report);
    let _ = writeln!(md, "{head} tier | objective | measured | |");
    let _ = writeln!(md, "{rule}---|---|---:|---|");
    for c in report.slo_checks() {
        let slo = &report.slos[c.slo];
        let params = report.points.iter().find(|p| p.index == c.point).map(|p| p.params.clone()).unwrap_or_default();
        let _ = writeln!(
            md,
            "{} {} | {} | {} | {} |",
            point_cells(report, c.point, &params),
            c.tier,
            slo.objective(),
            c.measured.map_or("no successful request".into(), |v| slo.metric.format(v)),
            if c.passed { "✅" } else { "❌" }
        );
    }
}

fn param_header(report: &Report) -> (String, String) {
    let mut head = String::from("|");
    let mut rule = String::from("|");
    for k in &report.swept_keys {
        let _ = write!(head, " {k} |");
        rule.push_str("---|");
    }
    if report.swept_keys.is_empty() {
        head.push_str(" point |");
        rule.push_str("---|");
    }
    (head, rule)
}

fn param_cells(report: &Report, s: &Summary) -> String {
    point_cells(report, s.point, &s.params)
}

/// The leading cells of a row: the swept values, or the point index without a sweep.
fn point_cells(report: &Report, point: usize, params: &[(String, String)]) -> String {
    if report.swept_keys.is_empty() {
        return format!("| {point} |");
    }
    let mut out = String::from("|");
    for k in &report.swept_keys {
        let v = params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
        let _ = write!(out, " {v} |");
    }
    out
}

/// The header and rule of a table with a row per summary: the swept keys,
/// and the repetition when there are several.
fn row_header(report: &Report) -> (String, String) {
    let (head, rule) = param_header(report);
    if report.manifest.repetitions > 1 {
        (format!("{head} rep |"), format!("{rule}---|"))
    } else {
        (head, rule)
    }
}

/// A summary's cells under `row_header`.
fn row_cells(report: &Report, s: &Summary) -> String {
    let cells = param_cells(report, s);
    if report.manifest.repetitions > 1 {
        format!("{cells} {} |", s.repetition)
    } else {
        cells
    }
}

fn results_table(report: &Report, md: &mut String) {
    let (head, rule) = row_header(report);
    let _ = writeln!(
        md,
        "{head} tier | requests | p50 (ms) | p95 (ms) | p99 (ms) | throughput (req/s) | timeouts | errors |"
    );
    let _ = writeln!(md, "{rule}---|---:|---:|---:|---:|---:|---:|---:|");
    let mut few = 0u64;
    for s in &report.summaries {
        let l = s.latency;
        // A tail percentile of a few answers is one of the slowest few, not a tail estimate.
        let mark = if l.is_some() && s.ok < FEW_SAMPLES {
            few = few.max(s.ok);
            " †"
        } else {
            ""
        };
        let _ = writeln!(
            md,
            "{} {} | {} | {} | {}{mark} | {}{mark} | {:.1} | {} | {} |",
            row_cells(report, s),
            s.tier,
            s.requests,
            opt_ms(l.map(|l| l.p50_us)),
            opt_ms(l.map(|l| l.p95_us)),
            opt_ms(l.map(|l| l.p99_us)),
            s.throughput_rps,
            s.timeouts,
            s.errors
        );
    }
    if few > 0 {
        let _ = writeln!(
            md,
            "\n† from {few} answered requests or fewer: with fewer than {FEW_SAMPLES}, p95 and p99 are among the \
             slowest few answers (often the maximum), not estimates of the tail; run longer or faster for a tail."
        );
    }
}

/// Below this many answers a row's p95 and p99 are marked as resting on few samples.
const FEW_SAMPLES: u64 = 100;

/// One row of the policy comparison: a point's policy, or one tier placed alone.
struct PolicyRow {
    point: usize,
    params: Vec<(String, String)>,
    name: String,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    failed: f64,
    edge: f64,
    cloud: f64,
    cloud_rps: f64,
    accuracy: Option<f64>,
    /// `edge 72 %, edge>cloud 28 %`
    routes: String,
}

/// The routes a (point, tier)'s requests took, as shares, means over its repetitions.
fn routes_text(report: &Report, point: usize, tier: Tier) -> String {
    if tier != Tier::Policy {
        return format!("{tier} 100 %");
    }
    let parts: Vec<String> = Route::ALL
        .iter()
        .enumerate()
        .filter_map(|(i, route)| {
            let share = mean_over(report, point, tier, |s| s.routes.map(|r| r[i]))?;
            (share > 0.0).then(|| format!("{} {:.0} %", route.as_str(), share * 100.0))
        })
        .collect();
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(", ")
    }
}

/// The mean of `f` over the repetitions of (point, tier).
fn mean_over(report: &Report, point: usize, tier: Tier, f: impl Fn(&Summary) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = report.summaries.iter().filter(|s| s.point == point && s.tier == tier).filter_map(f).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Every placement of the run on one footing: the policy rows, and the
/// tiers of points that placed requests on one tier alone.
fn policy_rows(report: &Report) -> Vec<PolicyRow> {
    let alone = |point: usize| report.aggregates.iter().filter(|a| a.point == point).count() == 1;
    report
        .aggregates
        .iter()
        .filter(|a| a.tier == Tier::Policy || alone(a.point))
        .map(|a| {
            let mean = |f: fn(&Summary) -> Option<f64>| mean_over(report, a.point, a.tier, f);
            let all = |share: f64| if a.tier == Tier::Policy { share } else { 1.0 };
            let name = match a.tier {
                Tier::Policy => report
                    .summaries
                    .iter()
                    .find_map(|s| s.policy.clone().filter(|_| s.point == a.point && s.tier == Tier::Policy))
                    .unwrap_or_else(|| "policy".into()),
                tier => format!("{tier} only"),
            };
            let answered = |s: &Summary| (s.requests > 0).then(|| s.ok as f64 / s.requests as f64);
            PolicyRow {
                point: a.point,
                params: a.params.clone(),
                name,
                p50_us: a.p50_us,
                p99_us: a.p99_us,
                failed: mean(|s| (s.requests > 0).then(|| (s.timeouts + s.errors) as f64 / s.requests as f64))
                    .unwrap_or(0.0),
                edge: match a.tier {
                    Tier::Edge => mean_over(report, a.point, a.tier, answered).unwrap_or(0.0),
                    Tier::Cloud => 0.0,
                    Tier::Policy => all(mean(|s| s.edge_share).unwrap_or(0.0)),
                },
                cloud: match a.tier {
                    Tier::Cloud => mean_over(report, a.point, a.tier, answered).unwrap_or(0.0),
                    Tier::Edge => 0.0,
                    Tier::Policy => all(mean(|s| s.cloud_share).unwrap_or(0.0)),
                },
                cloud_rps: match a.tier {
                    Tier::Cloud => mean(|s| (s.window_s > 0.0).then(|| s.requests as f64 / s.window_s)).unwrap_or(0.0),
                    Tier::Edge => 0.0,
                    Tier::Policy => mean(|s| s.cloud_rps).unwrap_or(0.0),
                },
                accuracy: mean(|s| s.accuracy),
                routes: routes_text(report, a.point, a.tier),
            }
        })
        .collect()
}

/// The placements side by side: latency, who answered, what reached the cloud.
fn policy_section(report: &Report, md: &mut String) {
    let rows = policy_rows(report);
    md.push_str(
        "Each request once, as its device experienced it end to end, whichever tiers it went to. \"routes\" says \
         where requests went, in order (`edge>cloud`: the edge, then the cloud as well). \"answered by\" \
         is the share of measured requests whose answer came from each tier (the rest timed out or failed); \
         \"to the cloud\" counts every request that reached the cloud, answered or not, per second of the \
         measured window: what the cloud would bill. Each request's route and the reason for it are in \
         samples.csv (`route`, `answered_by`, `reason`).\n\n",
    );
    let (head, rule) = param_header(report);
    let _ = writeln!(
        md,
        "{head} policy | routes | p50 (ms) | p99 (ms) | timed out or failed | answered by edge | answered by cloud | to the cloud (req/s) | accuracy |"
    );
    let _ = writeln!(md, "{rule}---|---|---:|---:|---:|---:|---:|---:|---:|");
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let v = |x: Option<f64>| x.map(|us| format!("{:.3}", us / 1e3)).unwrap_or_else(|| "–".into());
    for r in &rows {
        let _ = writeln!(
            md,
            "{} {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            point_cells(report, r.point, &r.params),
            r.name,
            r.routes,
            v(r.p50_us),
            v(r.p99_us),
            pct(r.failed),
            pct(r.edge),
            pct(r.cloud),
            r.cloud_rps,
            r.accuracy.map(pct).unwrap_or_else(|| "–".into())
        );
    }
    // A run of policies alone says it in its Summary already.
    let compared = versus(report).iter().any(|v| v.faster.is_some());
    if let Some(sentence) = policy_sentence(report, &rows).filter(|_| compared) {
        let _ = writeln!(md, "\n{sentence}");
    }
    md.push_str(
        "\n`cascade` and `split` route by the data and the seed: another run routes the same requests the same \
         way. `offload` and `deadline` route by timing (the edge's queue, the cloud's lateness), so two runs can \
         route different requests (docs/policies.md).\n",
    );
}

/// `Of these placements, the lowest p50: … (within 5 % of each other); …`:
/// for each criterion the rows the data cannot tell from the best one.
fn policy_sentence(report: &Report, rows: &[PolicyRow]) -> Option<String> {
    let unique = rows.iter().all(|r| rows.iter().filter(|o| o.name == r.name).count() == 1);
    let name = |r: &PolicyRow| match unique {
        true => r.name.clone(),
        false => format!("{} ({})", r.name, point_label(report, r.point)),
    };
    // `close(best, value)`: too near the best to call them apart.
    let leaders = |key: &dyn Fn(&PolicyRow) -> Option<f64>, lower: bool, close: &dyn Fn(f64, f64) -> bool| {
        let values: Vec<(f64, &PolicyRow)> = rows.iter().filter_map(|r| key(r).map(|k| (k, r))).collect();
        let best = values.iter().map(|v| v.0).reduce(|a, b| if (a < b) == lower { a } else { b })?;
        let names: Vec<String> = values.iter().filter(|v| close(best, v.0)).map(|v| name(v.1)).collect();
        Some(names)
    };
    let latency = |best: f64, v: f64| v <= best * (1.0 + TIE_PCT / 100.0);
    let mut said = Vec::new();
    let mut say = |what: &str, names: Option<Vec<String>>, tie: &str| match names.as_deref() {
        Some([one]) => said.push(format!("{what}: {one}")),
        Some(many) if !many.is_empty() => said.push(format!("{what}: {} ({tie})", join_and(many))),
        _ => {}
    };
    let tie = format!("within {TIE_PCT} % of each other");
    say("the lowest p50", leaders(&|r| r.p50_us, true, &latency), &tie);
    say("the lowest p99", leaders(&|r| r.p99_us, true, &latency), &tie);
    let lost = |best: f64, v: f64| v - best <= 0.001;
    say("the fewest requests lost", leaders(&|r| Some(r.failed), true, &lost), "within 0.1 point");
    let right = |best: f64, v: f64| best - v <= 0.01;
    say("the highest accuracy", leaders(&|r| r.accuracy, false, &right), "within 1 point");
    (!said.is_empty()).then(|| format!("Of these placements, {}.", said.join("; ")))
}

/// Each tier's share of right answers on the labelled rows it answered.
fn accuracy_table(report: &Report, md: &mut String) {
    let (head, rule) = row_header(report);
    md.push_str(
        "Of the measured requests each tier answered `ok`, those that carried a labelled row, and the share whose \
         prediction (the top class, or a score of at least 0.5 for one output) was the label.\n\n",
    );
    let _ = writeln!(md, "{head} tier | labelled answers | accuracy |");
    let _ = writeln!(md, "{rule}---|---:|---:|");
    for s in report.summaries.iter().filter(|s| s.accuracy.is_some()) {
        let _ = writeln!(
            md,
            "{} {} | {} | {} |",
            row_cells(report, s),
            s.tier,
            s.labelled,
            s.accuracy.map(|a| format!("{:.2} %", a * 100.0)).unwrap_or_default()
        );
    }
}

/// `On 8,000 labelled answers, the edge's model was right 90.9 % of the time and the cloud's 96.6 %.`
fn accuracy_sentence(report: &Report) -> Option<String> {
    let mut parts = Vec::new();
    let mut total = 0;
    for tier in Tier::ALL {
        let (labelled, correct) = report
            .summaries
            .iter()
            .filter(|s| s.tier == tier)
            .filter_map(|s| s.accuracy.map(|a| (s.labelled, a * s.labelled as f64)))
            .fold((0u64, 0f64), |(n, c), (l, r)| (n + l, c + r));
        if labelled > 0 {
            total += labelled;
            parts.push(format!("the {tier}'s model was right {:.1} % of the time", 100.0 * correct / labelled as f64));
        }
    }
    (!parts.is_empty()).then(|| format!("On {total} labelled answers, {}.", join_and(&parts)))
}

fn aggregate_table(report: &Report, md: &mut String) {
    md.push_str(
        "Medians over repetitions, with distribution-free confidence intervals for the median (order statistics \
         of the per-repetition values; the coverage column gives each interval's exact coverage, below 95 % when \
         there are fewer than six repetitions).\n\n",
    );
    let (head, rule) = param_header(report);
    let _ =
        writeln!(md, "{head} tier | reps | p50 (ms) | p50 interval (ms) | p99 (ms) | p99 interval (ms) | coverage |");
    let _ = writeln!(md, "{rule}---|---:|---:|---:|---:|---:|---:|");
    for a in &report.aggregates {
        let v = |x: Option<f64>| x.map(|us| format!("{:.3}", us / 1e3)).unwrap_or_else(|| "–".into());
        let i = |x: Option<crate::stats::Interval>| {
            x.map(|i| format!("{:.3}–{:.3}", i.low / 1e3, i.high / 1e3)).unwrap_or_else(|| "–".into())
        };
        let cells = point_cells(report, a.point, &a.params);
        let _ = writeln!(
            md,
            "{cells} {} | {} | {} | {} | {} | {} | {} |",
            a.tier,
            a.repetitions,
            v(a.p50_us),
            i(a.p50_ci),
            v(a.p99_us),
            i(a.p99_ci),
            a.p50_ci.map(|i| format!("{:.1} %", i.coverage * 100.0)).unwrap_or_else(|| "–".into())
        );
    }
}

fn breakdown_table(report: &Report, md: &mut String) {
    let emulated = report.summaries.iter().any(|s| s.breakdown_or_estimate().is_some_and(|b| b.held_us > 0.0));
    md.push_str(
        "Each answered request's latency splits into the worker's queue and inference times (it measures both), \
         the time a slowed tier held its slot after inference to compute as the slower device (compute \
         (emulated), `held_us`), and the rest, network: links, broker and client stacks \
         (`network = latency − queue − infer − held`). The means add up to the mean latency, and the plot \
         stacks them; the percentiles do not add up. Dispatch is how late the load generator sent requests \
         against their schedule (`sent − intended`). Request and response are the mean MQTT payload sizes, \
         which a link's bandwidth acts on.\n\n",
    );
    let (head, rule) = row_header(report);
    let held_head = if emulated { " compute (emulated) p50 / p99 (ms) |" } else { "" };
    let _ = writeln!(
        md,
        "{head} tier | mean (ms): network + queue + inference + emulated = latency | network p50 / p99 (ms) | \
         queue p50 / p99 (ms) | inference p50 / p99 (ms) |{held_head} dispatch p50 / p99 (ms) | \
         request / response (bytes) |"
    );
    let _ = writeln!(md, "{rule}---|---|---:|---:|---:|{}---:|---:|", if emulated { "---:|" } else { "" });
    let pair = |p: Option<crate::stats::Percentiles>| {
        p.map(|p| format!("{} / {}", ms(p.p50_us), ms(p.p99_us))).unwrap_or_else(|| "–".into())
    };
    for s in &report.summaries {
        let held = if emulated { format!(" {} |", pair(s.held)) } else { String::new() };
        let _ = writeln!(
            md,
            "{} {} | {} | {} | {} | {} |{held} {} | {} |",
            row_cells(report, s),
            s.tier,
            breakdown_means(s.breakdown_or_estimate()),
            pair(s.network),
            pair(s.queue),
            pair(s.infer),
            pair(s.dispatch),
            bytes_pair(s.request_bytes_mean, s.response_bytes_mean)
        );
    }
}

/// `0.300 + 0.010 + 0.630 + 2.054 = 3.000`: the breakdown's means in ms.
fn breakdown_means(b: Option<crate::stats::Breakdown>) -> String {
    let Some(b) = b else { return "–".into() };
    let [n, q, i, h] = b.parts().map(|us| format!("{:.3}", us / 1e3));
    format!("{n} + {q} + {i} + {h} = {:.3}", b.latency_us / 1e3)
}

/// Mean request and response sizes, `110,650 / 137`; `–` where unknown.
fn bytes_pair(request: Option<f64>, response: Option<f64>) -> String {
    let shown = |b: Option<f64>| b.map_or("–".to_string(), |b| thousands(b.round() as u64));
    format!("{} / {}", shown(request), shown(response))
}

/// `110650` as `110,650`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Each slowed tier's configured slowdown against the achieved one.
fn compute_fidelity_table(report: &Report, md: &mut String) {
    let tolerance = crate::report::SLOWDOWN_TOLERANCE;
    let _ = writeln!(
        md,
        "A tier with a `compute.slowdown` holds each slot after the inference call until the call's time × the \
         slowdown has passed. Achieved is (inference + held) ÷ inference per request; a hold is late when it ended \
         more than {} µs after its due end. ✅ when the achieved median is within {:.0} % of the configured \
         slowdown.\n",
        crate::stats::HELD_LATE_US,
        tolerance * 100.0
    );
    let (head, rule) = row_header(report);
    let _ = writeln!(md, "{head} tier | configured | achieved p50 / p99 | holds late | |");
    let _ = writeln!(md, "{rule}---|---:|---:|---:|---|");
    for s in report.summaries.iter().filter(|s| s.slowdown.is_some()) {
        let k = s.slowdown.unwrap_or(1.0);
        let achieved = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.3}"));
        let mark = match s.slowdown_p50 {
            Some(a) if ((a - k) / k).abs() <= tolerance => "✅",
            Some(_) => "⚠️",
            None => "–",
        };
        let _ = writeln!(
            md,
            "{} {} | {} | {} / {} | {} | {mark} |",
            row_cells(report, s),
            s.tier,
            crate::math::trimmed(k, 3),
            achieved(s.slowdown_p50),
            achieved(s.slowdown_p99),
            s.held_late_share.map_or("–".into(), |x| format!("{:.1} %", x * 100.0))
        );
    }
}

/// Each batching tier's batch sizes and the wait they cost.
fn batching_table(report: &Report, md: &mut String) {
    let _ = writeln!(
        md,
        "A batching tier runs the requests that wait together as one inference call, once `max_batch` wait or the \
         oldest has waited `max_wait`. A request's queue time includes its wait for the batch to fill; inference is \
         the whole call's time.\n"
    );
    let (head, rule) = row_header(report);
    let _ = writeln!(md, "{head} tier | mean batch | largest | queue p50 / p99 (ms) | inference p50 (ms) |");
    let _ = writeln!(md, "{rule}---|---:|---:|---:|---:|");
    let ms = |x: Option<u64>| x.map_or("–".into(), |us| format!("{:.3}", us as f64 / 1e3));
    for s in report.summaries.iter().filter(|s| s.batch_mean.is_some()) {
        let _ = writeln!(
            md,
            "{} {} | {:.2} | {} | {} / {} | {} |",
            row_cells(report, s),
            s.tier,
            s.batch_mean.unwrap_or(0.0),
            s.batch_max.map_or("–".into(), |b| b.to_string()),
            ms(s.queue.map(|q| q.p50_us)),
            ms(s.queue.map(|q| q.p99_us)),
            ms(s.infer.map(|q| q.p50_us)),
        );
    }
}

fn floor_section(report: &Report, md: &mut String) {
    let Some(f) = report.floor else {
        md.push_str("Not measured (see the warnings).\n");
        return;
    };
    let shape = match (f.request_bytes, f.response_bytes, f.rate_hz) {
        (Some(req), Some(resp), Some(rate)) => format!(
            " of {} bytes, each answered with {} bytes (the size of the first point's requests and of a worker's \
             answer), at {rate:.0}/s",
            thousands(req),
            thousands(resp)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        md,
        "Before the sweep, {} messages{shape} echoed through the same broker at QoS {} (no links, no inference) \
         took {} ms at the median and {} ms at p99, measured from their intended send time ({} of {} answered). \
         This is what the broker and the client stacks alone cost a request like the run's, and it is part of \
         every latency above; it is not a lower bound of each percentile, since it was measured at another moment \
         of a shared host.{}",
        f.sent,
        f.qos,
        ms(f.round_trip.p50_us),
        ms(f.round_trip.p99_us),
        f.answered,
        f.sent,
        f.through_link.map_or(String::new(), |l| format!(
            " Through a 0 ms link, as every tier's workers are: {} ms at the median and {} ms at p99.",
            ms(l.p50_us),
            ms(l.p99_us)
        ))
    );
    let below = report
        .summaries
        .iter()
        .filter_map(|s| s.latency.map(|l| (s, l.p50_us)))
        .filter(|(_, p50)| *p50 < f.round_trip.p50_us)
        .min_by_key(|(_, p50)| *p50);
    if let Some((s, p50)) = below {
        let _ = writeln!(
            md,
            "\nThe floor's median is above the {}'s p50 at {} ({} ms): the host was slower while the floor ran than \
             during that point, so the floor is a rough figure here.",
            s.tier,
            point_label(report, s.point),
            ms(p50)
        );
    }
}

fn comparison_table(report: &Report, md: &mut String) {
    let all = versus(report);
    if all.is_empty() {
        if report.summaries.iter().any(|s| s.tier == Tier::Policy) {
            md.push_str(
                "Not compared here: under a routing policy each request goes where the policy decides, so each \
                 request has one latency, the policy's, and no point sent the same requests to both tiers. The \
                 Policies table above compares the policies with each other and with all-edge and all-cloud \
                 where the run placed requests that way.\n",
            );
        } else {
            md.push_str("Not available: this run did not place requests on both tiers at any point.\n");
        }
        return;
    }
    let reps = report.manifest.repetitions > 1;
    if reps {
        md.push_str(
            "Medians over repetitions; `faster` names a tier only where the intervals of the two medians do not \
             overlap.\n\n",
        );
    } else {
        let _ = writeln!(
            md,
            "`faster` names a tier only where the p50s differ by more than {} %; closer is a tie (with \
             repetitions, the intervals of the medians decide).\n",
            crate::stats::TIE_PCT
        );
    }
    let (head, rule) = param_header(report);
    let (rep_head, rep_rule) = if reps { (" reps |", "---:|") } else { ("", "") };
    let _ = writeln!(md, "{head}{rep_head} edge p50 (ms) | cloud p50 (ms) | cloud/edge p50 | edge p99 (ms) | cloud p99 (ms) | cloud/edge p99 | faster |");
    let _ = writeln!(md, "{rule}{rep_rule}---:|---:|---:|---:|---:|---:|---|");
    let value = |v: Option<f64>| v.map_or("–".to_string(), |us| ms(us.round() as u64));
    let times = |v: Option<f64>| v.map_or("–".to_string(), |r| format!("{r:.1}×"));
    for v in &all {
        let faster = match v.faster {
            Some(Faster::Edge) => "edge".to_string(),
            Some(Faster::Cloud) => "cloud".to_string(),
            Some(Faster::Tie) => "tie".to_string(),
            None if v.edge.p50_us.is_none() => "edge: no answers".to_string(),
            None => "cloud: no answers".to_string(),
        };
        let rep_cell = if reps { format!(" {} / {} |", v.edge.answered, v.cloud.answered) } else { String::new() };
        let _ = writeln!(
            md,
            "{}{rep_cell} {} | {} | {} | {} | {} | {} | {faster} |",
            point_cells(report, v.point, params_of(report, v.point)),
            value(v.edge.p50_us),
            value(v.cloud.p50_us),
            times(v.p50_ratio()),
            value(v.edge.p99_us),
            value(v.cloud.p99_us),
            times(v.p99_ratio()),
        );
    }
}

fn describe_link(c: &crate::plan::LinkConfig) -> String {
    let d = |x: std::time::Duration| format!("{} ms", x.as_secs_f64() * 1e3);
    let mut parts = vec![match &c.trace {
        Some(t) => format!("trace {t}"),
        None => format!("{} one-way", d(c.latency)),
    }];
    if !c.jitter.is_zero() {
        let over = if c.jitter_timescale.is_zero() {
            "drawn per chunk".to_string()
        } else {
            format!("wandering over {}", d(c.jitter_timescale))
        };
        parts.push(format!("{} jitter {} {over}", c.distribution.as_str(), d(c.jitter)));
    }
    if let Some(b) = c.bandwidth_bps {
        parts.push(format!("{:.3} Mbit/s", b / 1e6));
    }
    for o in &c.outages {
        let mode = match o.mode {
            crate::plan::OutageMode::Blackhole => "blackhole",
            crate::plan::OutageMode::Reset => "reset",
        };
        parts.push(format!("{mode} outage at {} for {}", d(o.at), d(o.duration)));
    }
    parts.join(", ")
}

/// What the harness floor says a link's proxy hop costs; a negative
/// difference of the two echoes is noise, and said so.
fn hop_sentence(report: &Report) -> String {
    report.floor.and_then(|f| f.link_hop_us()).map_or(String::new(), |us| match us {
        1.. => format!(
            " The proxy hop itself added {us} µs to the harness floor's median round trip (measured before the \
             sweep, through a 0 ms link); it is in every tier's latency at every point, so what differs between \
             points is what their links add."
        ),
        _ => format!(
            " The proxy hop added no time the harness floor could resolve: the echo through a 0 ms link had a \
             median round trip {} µs below the straight echo's, which is run-to-run noise of the two echoes, \
             not a hop that saves time.",
            -us
        ),
    })
}

fn fidelity_table(report: &Report, md: &mut String) {
    let hop = hop_sentence(report);
    let remote = if report.links.iter().any(|l| l.link.contains('@')) {
        " A link named `PART@NAME` ran in the process of remote worker or device host NAME, in front of its own \
         connections, on that host's network to the broker: the real network's latency comes on top of it, and \
         no one-way time is measured across hosts."
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "Every tier reaches the broker through a link at every point, a 0 ms one included (a remote tier when any \
         point delays it), and so do the devices when any point delays them.{hop}{remote}\n"
    );
    let shown: Vec<_> = report.links.iter().filter(|f| !f.config.is_transparent()).collect();
    if shown.is_empty() {
        md.push_str("No link delayed anything: every link was 0 ms.\n");
        return;
    }
    md.push_str(
        "Each link delays every chunk of bytes in each direction (up: towards the broker; down: from it). \
         Delay is the time from reading a chunk to releasing it; release error is how far from its due time the \
         timer released it (it aims early by its usual wake-up lag). Configured values describe the link's \
         distribution (100,000 seeded draws; for a trace, draws at evenly spaced times over its span, outages \
         left out); asked values are the delays the link drew (or its trace gave) for these very chunks, held \
         through outages, before order and bandwidth apply (with a jitter timescale the delay wanders, so a run \
         asks a sample of the distribution, and the achieved median is held against the asked one). 0 ms links \
         are left out.\n\n",
    );
    let _ = writeln!(
        md,
        "| point | link | dir | configured | configured p50 / p99 (ms) | asked p50 / p99 (ms) | achieved mean / p50 / p99 (ms) | release error p50 / p99 (µs) | achieved bandwidth | chunks |"
    );
    let _ = writeln!(md, "|---|---|---|---|---:|---:|---:|---:|---:|---:|");
    for f in shown {
        let applied = f
            .applied
            .map(|a| format!("{:.3} / {} / {}", a.mean_us / 1e3, ms(a.p50_us), ms(a.p99_us)))
            .unwrap_or_else(|| "–".into());
        let err = f.release_error.map(|e| format!("{} / {}", e.p50_us, e.p99_us)).unwrap_or_else(|| "–".into());
        let asked = f.asked.map(|a| format!("{} / {}", ms(a.p50_us), ms(a.p99_us))).unwrap_or_else(|| "–".into());
        let bw = match (f.achieved_bps, f.asked_bps, f.config.trace.as_ref().is_some_and(|t| t.has_bandwidth)) {
            (Some(b), Some(a), true) => format!("{:.3} Mbit/s (asked {:.3})", b / 1e6, a / 1e6),
            (Some(b), _, _) => format!("{:.3} Mbit/s", b / 1e6),
            (None, _, _) => "–".into(),
        };
        let rep = if report.manifest.repetitions > 1 { format!(" rep {}", f.repetition) } else { String::new() };
        let _ = writeln!(
            md,
            "| {}{rep} | {} | {} | {} | {} / {} | {asked} | {applied} | {err} | {bw} | {} |",
            f.point,
            f.link,
            f.direction.as_str(),
            describe_link(&f.config),
            ms(f.configured.p50_us),
            ms(f.configured.p99_us),
            f.chunks
        );
    }
    let _ = writeln!(
        md,
        "\nTolerances: a warning is raised when the achieved median delay differs from the configured one by more \
         than {} µs + 5 % (links without a bandwidth limit), when the release error p99 exceeds {} µs, or when the \
         achieved bandwidth is off the configured (or the trace's) by more than {:.0} %.",
        crate::stats::DELAY_TOLERANCE.as_micros(),
        crate::stats::RELEASE_ERROR_LIMIT.as_micros(),
        crate::stats::BANDWIDTH_TOLERANCE * 100.0
    );
}

fn model_section(report: &Report, md: &mut String) {
    let _ = writeln!(md, "| tier | model | input | output | test inference (all inputs 0.5) | SHA-256 |");
    let _ = writeln!(md, "|---|---|---|---|---:|---|");
    for m in &report.manifest.models {
        let _ = writeln!(
            md,
            "| {} | `{}` ({} bytes) | `{}` [{}] | `{}` [{}] | {:.4} | `{}…` |",
            m.tier,
            m.path,
            m.bytes,
            m.input,
            m.input_shape.join(", "),
            m.output,
            m.output_shape.join(", "),
            m.test_probability,
            &m.sha256[..12.min(m.sha256.len())]
        );
    }
    if let Some(input) = &report.manifest.input {
        let _ = writeln!(md, "\nDevices sent {input}.");
    }
    if let Some((edge, cloud)) = report.different_models().filter(|_| report.parity.is_none()) {
        let _ = writeln!(
            md,
            "\nEdge/cloud parity: not checked: the tiers run different models (`{edge}`, `{cloud}`), so their \
             answers may differ; parity holds one model in two formats (the same file name) to the same answers."
        );
    }
    if let Some(p) = report.parity {
        let mark = |d: f32| if d <= PARITY_LIMIT { "✅" } else { "❌" };
        let _ = writeln!(
            md,
            "\nEdge/cloud parity: the largest difference over {} seeded random inputs was {:.2e} (limit {PARITY_LIMIT:e}) {}.",
            p.inputs,
            p.max_abs_diff,
            mark(p.max_abs_diff)
        );
        if let Some(live) = p.live_max_abs_diff {
            let _ = writeln!(
                md,
                "During the run, {} requests answered by both tiers differed by at most {:.2e} {}.",
                p.live_pairs,
                live,
                mark(live)
            );
        }
    }
}

/// `![what it shows](plots/….svg)` on a line of its own.
fn embed(report: &Report, kind: &PlotKind, md: &mut String) {
    let _ = writeln!(md, "![{}]({})", kind.alt(report), kind.file());
}

/// The latency CDFs, one per point; folded away when there are more than two.
fn distributions(report: &Report, plots: &[PlotKind], md: &mut String) {
    let cdfs: Vec<&PlotKind> = plots.iter().filter(|k| matches!(k, PlotKind::Cdf { .. })).collect();
    if cdfs.is_empty() {
        return;
    }
    md.push_str("\n### Latency distributions\n\n");
    md.push_str("Each point's latency CDF over its repetitions, from the saved histograms; the marks are the p50 (filled) and the p99 (hollow).\n\n");
    let folded = cdfs.len() > 2;
    if folded {
        let _ = writeln!(md, "<details><summary>{} CDFs, one per point</summary>\n", cdfs.len());
    }
    for (i, kind) in cdfs.iter().enumerate() {
        if i > 0 {
            md.push('\n');
        }
        embed(report, kind, md);
    }
    if folded {
        md.push_str("\n</details>\n");
    }
}

/// The whole `report.md`.
pub fn report_md(report: &Report) -> String {
    let mut md = String::new();
    header(report, &mut md);
    let _ = writeln!(md, "## Summary\n\n{}\n", finding(report));
    for sentence in crossover_sentences(report) {
        let _ = writeln!(md, "**Crossover:** {sentence}\n");
    }
    let plots = if report.manifest.finished_at.is_some() { plot::plots_of(report) } else { Vec::new() };
    for kind in plots.iter().filter(|k| matches!(k, PlotKind::Latency { .. })) {
        embed(report, kind, &mut md);
        md.push('\n');
    }
    if !report.description.is_empty() {
        let _ = writeln!(md, "{}\n", report.description.trim());
    }
    if report.summaries.iter().any(|s| s.tier == Tier::Policy) {
        md.push_str("## Policies\n\n");
        policy_section(report, &mut md);
        md.push('\n');
    }
    md.push_str("## Model validation\n\n");
    model_section(report, &mut md);
    md.push_str("\n## Results\n\n");
    md.push_str(
        "Latency runs from each request's intended send time to the arrival of its response, so a stalled \
         sender cannot hide its stall. Link latencies are one-way and apply in both directions: a round trip \
         through a 50ms link adds 100 ms. Only the measured window counts; warmup requests are in samples.csv only.\n\n",
    );
    results_table(report, &mut md);
    if report.manifest.repetitions > 1 {
        md.push_str("\n### Over repetitions\n\n");
        aggregate_table(report, &mut md);
    }
    md.push_str("\n### Where the time goes\n\n");
    breakdown_table(report, &mut md);
    for kind in plots.iter().filter(|k| matches!(k, PlotKind::Breakdown)) {
        md.push('\n');
        embed(report, kind, &mut md);
    }
    distributions(report, &plots, &mut md);
    if report.summaries.iter().any(|s| s.accuracy.is_some()) {
        md.push_str("\n### Accuracy\n\n");
        accuracy_table(report, &mut md);
    }
    md.push_str("\n## Service-level objectives\n\n");
    slo_section(report, &mut md);
    md.push_str("\n## Harness floor\n\n");
    floor_section(report, &mut md);
    md.push_str("\n## Edge vs cloud\n\n");
    comparison_table(report, &mut md);
    md.push_str("\n## Network fidelity\n\n");
    fidelity_table(report, &mut md);
    compute_section(report, &mut md);
    device_hosts_section(report, &mut md);
    md.push_str("\n## Warnings\n\n");
    warnings_section(report, &mut md);
    md.push_str("\n## Environment\n\n");
    environment_section(&report.manifest, &mut md);
    md.push_str("\n## Reproduce\n\n");
    let _ = writeln!(md, "```\n{}\n```\n", report.manifest.command);
    let _ = writeln!(
        md,
        "or, with every override and default written out, `simrun run scenario.yaml` from this folder's copy."
    );
    md
}

/// What each tier computed as, with its fidelity and batching, when any tier was slowed or batched.
fn compute_section(report: &Report, md: &mut String) {
    let slowed = report.summaries.iter().any(|s| s.slowdown.is_some());
    let batched = report.summaries.iter().any(|s| s.batch_mean.is_some());
    if slowed || batched || !report.manifest.compute.is_empty() {
        md.push_str("\n## Compute\n\n");
        for line in &report.manifest.compute {
            let _ = writeln!(md, "- {line}");
        }
        if !report.manifest.compute.is_empty() {
            md.push('\n');
        }
    }
    if slowed {
        md.push_str("### Compute fidelity\n\n");
        compute_fidelity_table(report, md);
    }
    if batched {
        md.push_str("\n### Batching\n\n");
        batching_table(report, md);
    }
}

/// The title and the lines under it: status, time, run, shard, tiers.
fn header(report: &Report, md: &mut String) {
    let m = &report.manifest;
    let _ = writeln!(md, "# Results: {}\n", m.scenario);
    let _ = writeln!(md, "**Status:** {}  ", status(report));
    let _ = writeln!(md, "**Completed:** {}  ", m.finished_at.as_deref().unwrap_or("not yet"));
    let wall = m.wall_time_s.map(|w| format!("{w:.1} s")).unwrap_or_else(|| "–".into());
    let _ = writeln!(
        md,
        "**Duration:** {wall} wall time for {:.1} s of scheduled load (warmup + measured)  ",
        m.scheduled_time_s
    );
    let _ = writeln!(
        md,
        "**Run:** `{}`, {} of {} point executions  ",
        m.run_id,
        report.executions_done(),
        report.executions_planned
    );
    if let Some(shard) = report.shard {
        let _ =
            writeln!(md, "**Shard:** {shard}, {} of the plan's {} points  ", report.points.len(), report.plan_points);
    }
    if !m.merged_from.is_empty() {
        let shards: Vec<String> = m
            .merged_from
            .iter()
            .map(|s| {
                let floor = s.floor_p50_us.map_or(String::new(), |f| format!(", floor p50 {f} µs"));
                format!("`{}` ({}{floor})", s.run_id, s.shard.as_deref().unwrap_or("whole plan"))
            })
            .collect();
        let _ = writeln!(md, "**Merged from:** {} (the harness floor below is the first shard's)  ", shards.join(", "));
    }
    let remote: Vec<crate::plan::Tier> = report.tiers.iter().map(|t| t.tier).filter(|t| remote_tier(m, *t)).collect();
    if !report.tiers.is_empty() && remote.is_empty() {
        let differ = tiers_differ(report);
        let _ = writeln!(
            md,
            "**Tiers:** {}; every tier computed on this host's CPU ({}, {} cores){differ}  ",
            tiers_line(report),
            m.host.cpu,
            m.host.cores,
        );
    } else if !report.tiers.is_empty() {
        let names: Vec<String> = remote.iter().map(|t| format!("the {t} tier")).collect();
        // A remote worker's link is named `<tier>@<worker>`.
        let emulated: Vec<String> = remote
            .iter()
            .filter(|t| report.links.iter().any(|l| l.link.starts_with(&format!("{t}@"))))
            .map(|t| format!("the {t} tier's"))
            .collect();
        let network = if emulated.is_empty() {
            "a real network to the broker and no emulated link".to_string()
        } else {
            format!(
                "a real network to the broker, and {} link emulated in each worker's process on top of it",
                emulated.join(" and ")
            )
        };
        let _ = writeln!(
            md,
            "**Tiers:** {}; {} ran on remote `simrun worker` processes (Environment lists their hosts), with \
             {network}; the rest computed on this host's CPU ({}, {} cores)  ",
            tiers_line(report),
            names.join(" and "),
            m.host.cpu,
            m.host.cores
        );
    }
    md.push('\n');
}

/// Each tier's model, runtime and workers.
/// `, so only the links and the models differ between them`: what differs
/// between tiers that all computed on this host, or nothing for one tier.
fn tiers_differ(report: &Report) -> String {
    let slowed = report.summaries.iter().any(|s| s.held.is_some());
    let mut differ = vec!["the links".to_string()];
    if slowed {
        differ.push("each tier's `compute.slowdown`".into());
    }
    if report.tiers.windows(2).any(|w| w[0].workers != w[1].workers) {
        differ.push("the worker counts".into());
    }
    if report.tiers.windows(2).any(|w| w[0].model != w[1].model) {
        differ.push("the models".into());
    }
    match (report.tiers.len(), differ.len()) {
        (0 | 1, _) => String::new(),
        (_, 1) => ", so only the links differ between them (the same model on each)".to_string(),
        _ => format!(", so only {} differ between them", join_and(&differ)),
    }
}

fn tiers_line(report: &Report) -> String {
    let tiers: Vec<String> = report
        .tiers
        .iter()
        .map(|t| {
            let w = match t.workers {
                (1, 1) => "1 worker".to_string(),
                (a, b) if a == b => format!("{a} workers"),
                (a, b) => format!("{a}–{b} workers"),
            };
            let remote = if remote_tier(&report.manifest, t.tier) { " of a remote pool" } else { "" };
            format!("{} `{}` in {} on {w}{remote}", t.tier, t.model, t.runtime)
        })
        .collect();
    tiers.join("; ")
}

/// Whether remote pool workers served `tier` in this run.
fn remote_tier(m: &crate::report::Manifest, tier: crate::plan::Tier) -> bool {
    m.remote_workers.iter().any(|w| w.tier == Some(tier))
}

/// One line per remote worker and device host, and what their clocks are used for.
fn remote_workers(m: &crate::report::Manifest, md: &mut String) {
    if m.remote_workers.is_empty() {
        return;
    }
    let (hosts, workers): (Vec<_>, Vec<_>) =
        m.remote_workers.iter().partition(|w| w.role == crate::run::pool::Role::Devices);
    if !workers.is_empty() {
        let _ = writeln!(md, "- **Remote workers** (`simrun worker`, as each announced itself):");
    }
    for w in workers {
        let tier = w.tier.map_or("?".to_string(), |t| t.to_string());
        let compute = w.compute.as_deref().map_or(String::new(), |c| format!(", {c}"));
        let sha: String = w.sha256.chars().take(12).collect();
        let _ = writeln!(
            md,
            "  - `{}` (pool `{}`, {tier}): host `{}`, {} {}, {} ({} cores), simrun {}, ONNX Runtime {}, pid {}, \
             model `{}` (`{sha}…`){compute}",
            w.name, w.pool, w.host, w.os, w.arch, w.cpu, w.cores, w.simrun, w.onnxruntime, w.pid, w.model
        );
    }
    if !hosts.is_empty() {
        let _ = writeln!(md, "- **Device hosts** (`simrun devices`, in slot order from slot 1; this run is slot 0):");
    }
    for h in &hosts {
        let _ = writeln!(
            md,
            "  - `{}` (pool `{}`): host `{}`, {} {}, {} ({} cores), simrun {}, pid {}",
            h.name, h.pool, h.host, h.os, h.arch, h.cpu, h.cores, h.simrun, h.pid
        );
    }
    let devices = if hosts.is_empty() {
        "the devices' own clock (this host)"
    } else {
        "the clock of the host that ran the device (this one, or its device host; each host settles its own \
         devices' requests)"
    };
    let _ = writeln!(
        md,
        "- **Clocks:** latency runs from send to answer on {devices}; a remote worker's queue and inference times \
         are durations on its own clock. No time is compared across hosts, so none needs synchronised clocks, and \
         no one-way time is reported."
    );
}

/// Each device host's requests and samples over the run, when the devices
/// were shared with `simrun devices` processes.
fn device_hosts_section(report: &Report, md: &mut String) {
    if report.device_hosts.is_empty() {
        return;
    }
    md.push_str("\n## Device hosts\n\n");
    md.push_str(
        "Each host sent its own devices' requests and settled them on its own clock; a request owes one sample \
         per tier (one under a routing policy).\n\n",
    );
    md.push_str("| Device host | Host | Devices | Requests sent | Samples owed | ok | timeout | error | Accounted |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for t in &report.device_hosts {
        let accounted = if t.accounted() { "yes" } else { "**no**" };
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {accounted} |",
            t.name, t.host, t.devices, t.sent, t.expected, t.ok, t.timeouts, t.errors
        );
    }
}

fn warnings_section(report: &Report, md: &mut String) {
    let warnings = report.all_warnings();
    if warnings.is_empty() {
        md.push_str("None: every measured request was answered in time, without errors.\n");
    }
    for w in warnings {
        let _ = writeln!(md, "- {w}");
    }
}

fn environment_section(m: &crate::report::Manifest, md: &mut String) {
    let h = &m.host;
    let _ = writeln!(md, "- **OS:** {} (kernel {})", h.os, h.kernel);
    let _ = writeln!(md, "- **Architecture:** {}", h.arch);
    let _ = writeln!(md, "- **CPU:** {} ({} cores available)", h.cpu, h.cores);
    let managed = if m.broker_managed {
        ", started by simrun for this run with `set_tcp_nodelay true` and stopped at its end (`broker.url: auto`)"
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "- **Broker:** {} at `{}`{managed}",
        m.broker_version.as_deref().unwrap_or("version not reported"),
        m.broker_url
    );
    remote_workers(m, md);
    let _ = writeln!(
        md,
        "- **ONNX Runtime:** {} (`{}`, ort {})",
        m.onnxruntime_version, m.onnxruntime_library, m.ort_crate_version
    );
    let _ = writeln!(
        md,
        "- **candle:** {} (RAYON_NUM_THREADS={})",
        m.candle_version,
        m.rayon_num_threads.as_deref().unwrap_or("unset")
    );
    let _ = writeln!(md, "- **MQTT client:** rumqttc {}", m.rumqttc_version);
    let _ = writeln!(md, "- **simrun:** {} (git {})", m.simrun_version, m.git_commit);
    let _ = writeln!(md, "- **Seed:** {}, repetitions: {}", m.seed, m.repetitions);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Unmatched;

    #[test]
    fn payload_sizes_read_in_thousands() {
        assert_eq!(bytes_pair(Some(110_650.4), Some(137.0)), "110,650 / 137");
        assert_eq!(bytes_pair(None, Some(1_000_000.0)), "– / 1,000,000");
        assert_eq!(thousands(999), "999");
    }
    use crate::report::{HostInfo, Manifest, PointRow};
    use crate::stats::test_summary;

    /// A finished report of `summaries` over points swept on the cloud link.
    fn report(repetitions: u32, latencies: &[&str], summaries: Vec<Summary>) -> Report {
        let key = "tiers.cloud.link.latency".to_string();
        let points: Vec<PointRow> = latencies
            .iter()
            .enumerate()
            .map(|(index, l)| PointRow { index, params: vec![(key.clone(), l.to_string())] })
            .collect();
        let manifest = Manifest {
            simrun_version: "0".into(),
            git_commit: "test".into(),
            run_id: "run".into(),
            scenario: "test".into(),
            scenario_file: "test.yaml".into(),
            command: "simrun run test.yaml".into(),
            seed: 1,
            repetitions,
            host: HostInfo {
                hostname: "host".into(),
                os: "os".into(),
                kernel: "k".into(),
                arch: "x86_64".into(),
                cpu: "cpu".into(),
                cores: 2,
            },
            broker_url: "mqtt://127.0.0.1:1883".into(),
            broker_version: None,
            broker_managed: false,
            onnxruntime_version: "1".into(),
            onnxruntime_library: "lib".into(),
            ort_crate_version: "2".into(),
            candle_version: "0".into(),
            rumqttc_version: "0".into(),
            rayon_num_threads: None,
            compute: Vec::new(),
            models: vec![],
            input: None,
            started_at: "then".into(),
            finished_at: Some("now".into()),
            wall_time_s: Some(1.0),
            floor_p50_us: None,
            floor_p99_us: None,
            floor_after_p99_us: None,
            floor_after_p50_us: None,
            scheduled_time_s: 1.0,
            shard: None,
            interruptions: vec![],
            merged_from: vec![],
            remote_workers: vec![],
        };
        let executions = points.len() * repetitions as usize;
        let mut report = Report {
            manifest,
            description: String::new(),
            swept_keys: vec![key],
            finished: (0..repetitions)
                .flat_map(|r| (0..points.len()).map(move |p| crate::report::Execution { point: p, repetition: r }))
                .collect(),
            points,
            summaries,
            aggregates: vec![],
            crossovers: vec![],
            links: vec![],
            parity: None,
            warnings: vec![],
            executions_planned: executions,
            unmatched: Unmatched::default(),
            floor: None,
            slos: vec![],
            shard: None,
            plan_points: latencies.len(),
            stopped: None,
            tiers: vec![],
            device_hosts: vec![],
        };
        report.summaries_changed();
        report
    }

    fn summary_and_table(r: &Report) -> String {
        let mut table = String::new();
        comparison_table(r, &mut table);
        format!("status: {}\n\n{}\n\n{table}", status(r), finding(r))
    }

    #[test]
    fn one_point_is_named_once() {
        let r = report(
            1,
            &["5ms"],
            vec![test_summary(0, 0, Tier::Edge, Some(420)), test_summary(0, 0, Tier::Cloud, Some(10_470))],
        );
        insta::assert_snapshot!("one_point", summary_and_table(&r));
    }

    #[test]
    fn a_tier_that_timed_out_completely_is_shown_and_fails_the_report() {
        let r = report(
            1,
            &["0ms", "20ms"],
            vec![
                test_summary(0, 0, Tier::Edge, Some(450)),
                test_summary(0, 0, Tier::Cloud, Some(700)),
                test_summary(1, 0, Tier::Edge, Some(460)),
                test_summary(1, 0, Tier::Cloud, None),
            ],
        );
        insta::assert_snapshot!("cloud_timed_out", summary_and_table(&r));
    }

    #[test]
    fn close_medians_are_a_tie() {
        let r = report(
            1,
            &["0ms"],
            vec![test_summary(0, 0, Tier::Edge, Some(481)), test_summary(0, 0, Tier::Cloud, Some(486))],
        );
        insta::assert_snapshot!("tie", summary_and_table(&r));
    }

    #[test]
    fn repetitions_quote_medians_in_one_row_per_point() {
        let mut s = Vec::new();
        for (rep, (edge, cloud)) in [(480, 41_000), (470, 42_000), (520, 40_000)].into_iter().enumerate() {
            s.push(test_summary(0, rep as u32, Tier::Edge, Some(edge)));
            s.push(test_summary(0, rep as u32, Tier::Cloud, Some(cloud)));
        }
        let r = report(3, &["20ms"], s);
        insta::assert_snapshot!("repetitions", summary_and_table(&r));
    }
}
