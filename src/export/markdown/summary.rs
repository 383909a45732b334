//! The report's conclusions as sentences: status, finding, crossovers, the
//! ranking of placements and accuracy. The facts come from `report`; this
//! file only words them.

use super::{join_and, ms};
use crate::plan::Tier;
use crate::report::{
    Accuracy, CrossoverLine, EdgeCloud, Finding, MedianVerdict, Placement, Ranking, Report, Status, TailVerdict,
};
use crate::stats::TIE_PCT;

/// `0.412 ms`, or `0.412–0.480 ms` for a range.
fn range_ms(range: Option<(u64, u64)>) -> String {
    match range {
        Some((lo, hi)) if lo == hi => format!("{} ms", ms(lo)),
        Some((lo, hi)) => format!("{}–{} ms", ms(lo), ms(hi)),
        None => "no successful requests".into(),
    }
}

/// The status line's text.
pub(super) fn status(status: &Status) -> String {
    let partial = |p: bool| if p { "⏸ PARTIAL, " } else { "" };
    match *status {
        Status::Failed { partial: p, tier, executions, point, repetition } => format!(
            "{}❌ FAILED: the {tier} tier answered none of its requests at {executions} point execution(s), first at \
             point {point} rep {repetition} (see the warnings)",
            partial(p)
        ),
        Status::SloFailed { partial: p, failed, checks } => {
            format!("{}❌ SLO FAILED ({failed} of {checks} checks)", partial(p))
        }
        Status::Partial => "⏸ PARTIAL".into(),
        Status::Success => "✅ SUCCESS".into(),
        Status::CompletedWithWarnings => "⚠️ COMPLETED WITH WARNINGS".into(),
    }
}

/// The Summary section's paragraph.
pub fn finding(report: &Report) -> String {
    let silent = |s: &[crate::report::SilentTier]| -> Vec<String> {
        s.iter()
            .map(|s| format!("The {} tier had no successful request at {}.", s.tier, report.point_label(s.point)))
            .collect()
    };
    match report.finding() {
        Finding::EdgeCloud { versus, silent: quiet, accuracy } => {
            let mut out = edge_cloud(report, &versus);
            for s in silent(&quiet).into_iter().chain(accuracy.map(|a| accuracy_sentence(&a))) {
                out.push(' ');
                out.push_str(&s);
            }
            out
        }
        Finding::Silent(quiet) => silent(&quiet).join(" "),
        Finding::Policies { placements, ranking } => {
            let best = ranking.map(|r| ranking_sentence(report, &placements, &r)).unwrap_or_default();
            format!("This run routes requests by policy; the Policies section compares its placements. {best}")
        }
        Finding::Split { cuts, conditions } => format!(
            "This run splits the model between the edge and the cloud: {cuts} cut{} under {conditions} network \
             condition{}; the Split points section gives each cut's latency and where it goes.",
            if cuts == 1 { "" } else { "s" },
            if conditions == 1 { "" } else { "s" }
        ),
        Finding::OneTier { tier, p50_us, executions } => format!(
            "Only the {tier} tier ran, with p50 latency {} over {executions} point executions. No edge-versus-cloud \
             comparison was made.",
            range_ms(p50_us)
        ),
        Finding::Nothing => {
            "No point finished with successful requests on both tiers, so there is no edge-versus-cloud finding.".into()
        }
    }
}

/// `Edge p50 latency was … and cloud p50 …; the edge answered faster at 3 of 4 points and … The cloud's p50 was …`
fn edge_cloud(report: &Report, v: &EdgeCloud) -> String {
    let n = v.compared;
    let at = |k: usize| match (n, k) {
        (1, _) => String::new(),
        (_, k) if k == n => " at every point".into(),
        _ => format!(" at {k} of {n} points"),
    };
    let mut parts = Vec::new();
    if v.edge > 0 {
        parts.push(format!("the edge answered faster{}", at(v.edge)));
    }
    if v.cloud > 0 {
        parts.push(format!("the cloud answered faster{}", at(v.cloud)));
    }
    if v.tie > 0 {
        parts.push(match n {
            1 => "the two tiers tied (too close to separate)".to_string(),
            _ => format!("the two tiers tied{}", at(v.tie)),
        });
    }
    let reps = if report.manifest.repetitions > 1 { " (medians over repetitions)" } else { "" };
    let ((lo, lo_ratio), (hi, hi_ratio)) = (v.lowest_ratio, v.highest_ratio);
    // Two significant digits below 1, so that 0.07× does not print as 0.1× or 0.0×.
    let times = |r: f64| match r {
        r if r >= 0.95 || r <= 0.0 => format!("{r:.1}"),
        r => crate::math::trimmed(r, (1 - r.log10().floor() as i32).clamp(1, 6) as usize),
    };
    let (lo_ratio, hi_ratio) = (times(lo_ratio), times(hi_ratio));
    let ratios = if lo == hi {
        format!("The cloud's p50 was {lo_ratio}× the edge's at {}.", report.point_label(lo))
    } else {
        format!(
            "The cloud's p50 was {lo_ratio}× the edge's at {} and {hi_ratio}× at {}.",
            report.point_label(lo),
            report.point_label(hi)
        )
    };
    format!(
        "Edge p50 latency was {} and cloud p50 {}{reps}; {}. {ratios}",
        range_ms(Some(v.edge_p50_us)),
        range_ms(Some(v.cloud_p50_us)),
        join_and(&parts),
    )
}

/// A crossover's value with its unit (`7.5 ms`, `3.2 Mbit/s`, `450/s`, `8.25`).
fn with_unit(x: f64, unit: &str) -> String {
    match unit {
        "" => crate::math::trimmed(x, 2),
        "/s" if x.abs() < 10.0 => format!("{}/s", crate::math::trimmed(x, 2)),
        "/s" => format!("{x:.0}/s"),
        u => format!("{} {u}", crate::math::trimmed(x, 1)),
    }
}

/// One sentence per line of the sweep along each numeric key.
pub fn crossover_sentences(report: &Report) -> Vec<String> {
    let reps = report.manifest.repetitions > 1;
    report.crossover_lines().iter().map(|line| crossover_sentence(line, reps)).collect()
}

fn crossover_sentence(line: &CrossoverLine, reps: bool) -> String {
    let (key, unit, from, to) = (&line.key, line.unit.as_str(), &line.from, &line.to);
    let other = |t: Tier| if t == Tier::Edge { Tier::Cloud } else { Tier::Edge };
    let median: Vec<String> = line
        .median
        .iter()
        .map(|m| match m {
            MedianVerdict::Crosses { at, interval, between: (a, b), faster_below } => {
                let interval = interval.map_or(String::new(), |(lo, hi)| {
                    let what = if reps { "from the repetitions" } else { "" };
                    format!(" ({}–{} {what})", with_unit(lo, unit), with_unit(hi, unit)).replace(" )", ")")
                });
                format!(
                    "the {faster_below} answers faster at the median below {key} ≈ {}{interval} and the {} above it \
                     (between the swept {a} and {b})",
                    with_unit(*at, unit),
                    other(*faster_below)
                )
            }
            MedianVerdict::Throughout { faster } => {
                format!("the {faster} answers faster at the median over the whole sweep of {key} ({from} to {to})")
            }
            MedianVerdict::AllTied => {
                format!("the tiers are too close to separate at every point of the sweep of {key} ({from} to {to})")
            }
            MedianVerdict::LowerThroughout { lower, ties, points } => format!(
                "the {lower}'s median is the lower one over the whole sweep of {key} ({from} to {to}), though the \
                 tiers are too close to separate at {ties} of its {points} points"
            ),
        })
        .collect();
    let mut s = format!("{}{}", with_fixed(&line.fixed), join_and(&median));
    match &line.tail {
        TailVerdict::AgreesThroughout => {
            s = s.replace(" at the median over the whole sweep", " over the whole sweep");
            s.push_str(", at the median and at p99");
        }
        TailVerdict::Throughout(t) => s.push_str(&format!("; at p99 the {t} is faster throughout")),
        TailVerdict::Crosses(at) => {
            let at: Vec<String> = at.iter().map(|x| with_unit(*x, unit)).collect();
            s.push_str(&format!("; at p99 the tiers cross at {}", join_and(&at)));
        }
        TailVerdict::None => {}
    }
    as_sentence(&s)
}

/// `with k=v, ` for the other swept keys a line holds fixed; empty when none.
fn with_fixed(fixed: &[(String, String)]) -> String {
    if fixed.is_empty() {
        return String::new();
    }
    let f: Vec<String> = fixed.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("with {}, ", f.join(", "))
}

/// `s` capitalised, with a full stop.
fn as_sentence(s: &str) -> String {
    let mut chars = s.chars();
    let capital = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
    format!("{capital}{}.", chars.as_str())
}

/// One sentence per line of a numeric sweep on device energy, or, without
/// one, per point where both tiers have an estimate.
pub fn energy_sentences(report: &Report) -> Vec<String> {
    let lines = report.energy_lines();
    if !lines.is_empty() {
        return lines.iter().map(energy_line_sentence).collect();
    }
    report
        .versus_on(crate::stats::Objective::Energy)
        .iter()
        .filter_map(|v| {
            let (e, c) = (v.edge.p50_us?, v.cloud.p50_us?);
            let (lower, low, high) = if e <= c { (Tier::Edge, e, c) } else { (Tier::Cloud, c, e) };
            Some(format!(
                "At {} the {lower} costs the device less energy per request: {} mJ against {} mJ.",
                report.point_label(v.point),
                super::thousands(low.round() as u64),
                super::thousands(high.round() as u64)
            ))
        })
        .collect()
}

fn energy_line_sentence(line: &crate::report::EnergyLine) -> String {
    let other = |t: Tier| if t == Tier::Edge { Tier::Cloud } else { Tier::Edge };
    let (lower, key) = (line.lower_below, &line.key);
    let verdict = match &line.at {
        Some((at, a, b)) => format!(
            "the {lower} uses less device energy per request below {key} ≈ {} and the {} above it (between the swept {a} and {b})",
            with_unit(*at, &line.unit),
            other(lower)
        ),
        None => format!(
            "the {lower} uses less device energy per request over the whole sweep of {key} ({} to {})",
            line.from, line.to
        ),
    };
    as_sentence(&format!("{}{verdict}", with_fixed(&line.fixed)))
}

/// `Of these placements, the lowest p50: … (within 5 % of each other); …`.
pub(super) fn ranking_sentence(report: &Report, placements: &[Placement], ranking: &Ranking) -> String {
    let unique = placements.iter().all(|r| placements.iter().filter(|o| o.name == r.name).count() == 1);
    let name = |i: &usize| {
        let p = &placements[*i];
        match unique {
            true => p.name.clone(),
            false => format!("{} ({})", p.name, report.point_label(p.point)),
        }
    };
    let mut said = Vec::new();
    let mut say = |what: &str, leaders: &[usize], tie: &str| {
        let names: Vec<String> = leaders.iter().map(name).collect();
        match names.as_slice() {
            [] => {}
            [one] => said.push(format!("{what}: {one}")),
            many => said.push(format!("{what}: {} ({tie})", join_and(many))),
        }
    };
    let tie = format!("within {TIE_PCT} % of each other");
    say("the lowest p50", &ranking.lowest_p50, &tie);
    say("the lowest p99", &ranking.lowest_p99, &tie);
    say("the fewest requests lost", &ranking.fewest_lost, "within 0.1 point");
    say("the highest accuracy", &ranking.highest_accuracy, "within 1 point");
    say("the least device energy", &ranking.lowest_energy, &tie);
    say("the lowest cost", &ranking.lowest_cost, &tie);
    format!("Of these placements, {}.", said.join("; "))
}

/// `On 8,000 labelled answers, the edge's model was right 90.9 % of the time and the cloud's 96.6 %.`
fn accuracy_sentence(a: &Accuracy) -> String {
    let parts: Vec<String> = a
        .tiers
        .iter()
        .map(|(tier, labelled, correct)| {
            format!("the {tier}'s model was right {:.1} % of the time", 100.0 * correct / *labelled as f64)
        })
        .collect();
    format!("On {} labelled answers, {}.", a.labelled, join_and(&parts))
}

/// The Split line of the Summary: where the fastest cut changes along each
/// swept key, or the fastest cut of each condition when none is swept.
pub fn split_sentences(report: &Report) -> Vec<String> {
    let lines = report.split_lines();
    if !lines.is_empty() {
        return lines.iter().map(split_line_sentence).collect();
    }
    report
        .split_tables()
        .iter()
        .filter_map(|t| {
            let best = t.fastest.as_ref()?;
            let row = t.rows.iter().find(|r| &r.at == best)?;
            let at = if t.condition.is_empty() {
                String::new()
            } else {
                format!(" at {}", crate::plan::params_label(&t.condition))
            };
            Some(format!(
                "the fastest cut{at} is `{best}`, p50 {} ms{}.",
                row.p50_us.map_or("–".into(), |us| super::ms(us.round() as u64)),
                frugal(t)
            ))
        })
        .collect()
}

/// `; on device energy, `r4``: when the cut using the least energy is another.
fn frugal(t: &crate::report::SplitTable) -> String {
    match (&t.frugal, &t.fastest) {
        (Some(f), Some(best)) if f != best => format!("; the cut using the least device energy is `{f}`"),
        (Some(_), Some(_)) => "; it also uses the least device energy".into(),
        _ => String::new(),
    }
}

fn split_line_sentence(line: &crate::report::SplitLine) -> String {
    let fixed =
        if line.fixed.is_empty() { String::new() } else { format!(" ({})", crate::plan::params_label(&line.fixed)) };
    let each: Vec<String> = line.fastest.iter().map(|(v, cut)| format!("`{cut}` at {v}")).collect();
    let changes: Vec<String> =
        line.changes().iter().map(|(from, to, a, b)| format!("from `{from}` to `{to}` between {a} and {b}")).collect();
    let verdict = match changes.is_empty() {
        true => "the same cut throughout".to_string(),
        false => format!("it changes {}", super::join_and(&changes)),
    };
    format!("along {}{fixed} the fastest cut is {}: {verdict}.", line.key, super::join_and(&each))
}
