//! The comparison as a terminal table, markdown (for a pull-request comment) or JSON.

use std::fmt::Write;

use super::{Comparison, Row, RowMetric};

fn value(r: &Row, v: Option<f64>) -> String {
    match (v, r.metric) {
        (None, _) => "–".into(),
        (Some(v), RowMetric::Throughput) => format!("{v:.1}/s"),
        (Some(v), RowMetric::TimeoutRate) => format!("{v:.2} %"),
        (Some(v), RowMetric::EnergyMeanMj) => format!("{v:.1} mJ"),
        (Some(v), RowMetric::CostPerMillion) => format!("{v:.4}"),
        (Some(v), _) => format!("{v:.3} ms"),
    }
}

fn signed(v: f64) -> String {
    format!("{v:+.1}")
}

fn delta(r: &Row) -> String {
    r.delta.map_or("–".into(), |d| format!("{} {}", signed(d), r.delta_unit))
}

fn interval(r: &Row) -> String {
    match (r.ci_low, r.ci_high) {
        (Some(lo), Some(hi)) => format!("[{}, {}]", signed(lo), signed(hi)),
        _ => "–".into(),
    }
}

fn p_value(r: &Row) -> String {
    match r.p_adjusted {
        None => "–".into(),
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
    }
}

fn cells(r: &Row) -> [String; 10] {
    [
        r.point.clone(),
        r.tier.to_string(),
        r.metric.to_string(),
        value(r, r.baseline),
        value(r, r.candidate),
        format!("{}/{}", r.baseline_repetitions, r.candidate_repetitions),
        delta(r),
        interval(r),
        p_value(r),
        r.verdict.as_str().to_string(),
    ]
}

const HEADER: [&str; 10] =
    ["point", "tier", "metric", "baseline", "candidate", "reps", "delta", "95% CI", "p (Holm)", "verdict"];

fn summary_line(c: &Comparison) -> String {
    let regressed = match c.regressions {
        0 => "no regressions".to_string(),
        1 => "1 regression".to_string(),
        n => format!("{n} regressions"),
    };
    let undecided = match c.undecided {
        0 => String::new(),
        n => format!(", {n} without a verdict (?)"),
    };
    format!("{regressed}, {} improvement(s){undecided} over {} comparisons", c.improvements, c.rows.len())
}

fn count_range((lo, hi): (usize, usize)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    }
}

/// What every verdict rests on, said once.
pub fn basis(c: &Comparison) -> String {
    let (a, b) = c.repetition_range();
    let mut s = format!(
        "verdicts rest on {} baseline and {} candidate repetitions per point; {}; α = {} over {} rows, \
         threshold {} %",
        count_range(a),
        count_range(b),
        c.method,
        c.alpha,
        c.family,
        c.threshold_pct
    );
    let _ = write!(s, ", latency changes under {:.3} ms are ~ ({})", c.resolution_ms, c.resolution_source);
    if a.0 < c.repetitions_needed || b.0 < c.repetitions_needed {
        let _ = write!(
            s,
            ". A verdict needs ≥ {} repetitions per side at α = {} over {} rows (`repetitions: {}` or more in the \
             scenario): rows with fewer show the change and its interval with the verdict ?",
            c.repetitions_needed, c.alpha, c.family, c.repetitions_needed
        );
    }
    s
}

fn preamble(c: &Comparison, out: &mut String, bullet: &str) {
    if c.self_check {
        let _ = writeln!(
            out,
            "{bullet}self-check of {} ({}): its even-numbered repetitions against its odd-numbered ones, an A/A \
             comparison; every verdict below is a false alarm of this machine's noise",
            c.baseline.run_id, c.baseline.path
        );
    } else {
        let _ =
            writeln!(out, "{bullet}baseline:  {} ({}, {})", c.baseline.run_id, c.baseline.path, c.baseline.git_commit);
        let _ = writeln!(
            out,
            "{bullet}candidate: {} ({}, {})",
            c.candidate.run_id, c.candidate.path, c.candidate.git_commit
        );
    }
    let _ = writeln!(out, "{bullet}{}", basis(c));
    for d in &c.scenario_differences {
        let _ = writeln!(out, "{bullet}compared with --force although the scenarios differ: {d}");
    }
    for n in &c.notes {
        let _ = writeln!(out, "{bullet}note: {n}");
    }
}

/// An aligned plain-text table for a terminal or a CI log.
pub fn render_table(c: &Comparison) -> String {
    let rows: Vec<[String; 10]> = c.rows.iter().map(cells).collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Text left, numbers right.
            if i < 3 || i == 9 {
                let _ = write!(s, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(s, "{}{cell}  ", " ".repeat(pad));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    preamble(c, &mut out, "");
    out.push('\n');
    let _ = writeln!(out, "{}", line(&HEADER.map(String::from)));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    let _ = writeln!(out, "\n{}", summary_line(c));
    out
}

/// Markdown for a pull-request comment.
pub fn render_markdown(c: &Comparison) -> String {
    render_markdown_with_plot(c, None)
}

/// Markdown for a pull-request comment, with the forest plot written to
/// `plot` (`simrun diff --plot FILE`) shown under the verdict.
pub fn render_markdown_with_plot(c: &Comparison, plot: Option<&str>) -> String {
    let mut out = String::from("## simrun diff\n\n");
    let mark = match (c.regressions, c.undecided) {
        (0, 0) => "✅",
        (0, _) => "❔",
        _ => "❌",
    };
    let _ = writeln!(out, "{mark} **{}**\n", summary_line(c));
    if let Some(path) = plot {
        let _ = writeln!(out, "![change per row with its 95 % interval]({path})\n");
    }
    preamble(c, &mut out, "- ");
    out.push('\n');
    use crate::export::table::{Align, Table};
    let mut table = Table::new()
        .columns(HEADER[..3].iter().copied(), Align::Left)
        .columns(HEADER[3..9].iter().copied(), Align::Right);
    table = table.left(HEADER[9]);
    for r in &c.rows {
        let mut cells = cells(r);
        if matches!(r.verdict, super::Verdict::Improved | super::Verdict::Regressed) {
            cells[9] = format!("**{}**", cells[9]);
        }
        table.row(cells.to_vec());
    }
    out.push_str(&table.markdown());
    out.push_str(
        "\nEach repetition of a point gives one value per metric (its p50, p95, p99, throughput); baseline and \
         candidate are the medians of those values (the timeout rate is pooled). p is a rank test on the \
         repetition values, not on requests (requests within one run share the machine's state and are not \
         independent replications of it), adjusted over all rows by Holm's method, so that α bounds the chance \
         of any false alarm in this comparison.\n",
    );
    out
}

pub fn render_json(c: &Comparison) -> String {
    let mut s = serde_json::to_string_pretty(c).unwrap_or_default();
    s.push('\n');
    s
}
