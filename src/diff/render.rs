//! The comparison as a terminal table, markdown (for a pull-request comment) or JSON.

use std::fmt::Write;

use super::{Comparison, Row};

fn value(r: &Row, v: Option<f64>) -> String {
    match (v, r.metric) {
        (None, _) => "–".into(),
        (Some(v), "throughput") => format!("{v:.1}/s"),
        (Some(v), "timeout_rate") => format!("{v:.2} %"),
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
    match r.p_value {
        None => "–".into(),
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
    }
}

fn cells(r: &Row) -> [String; 9] {
    [
        r.point.clone(),
        r.tier.to_string(),
        r.metric.to_string(),
        value(r, r.baseline),
        value(r, r.candidate),
        delta(r),
        interval(r),
        p_value(r),
        r.verdict.as_str().to_string(),
    ]
}

const HEADER: [&str; 9] = ["point", "tier", "metric", "baseline", "candidate", "delta", "95% CI", "p", "verdict"];

fn summary_line(c: &Comparison) -> String {
    let regressed = match c.regressions {
        0 => "no regressions".to_string(),
        1 => "1 regression".to_string(),
        n => format!("{n} regressions"),
    };
    format!(
        "{regressed}, {} improvement(s) over {} comparisons (significance {:.0} %, threshold {} %, latency resolution {:.3} ms)",
        c.improvements,
        c.rows.len(),
        c.alpha * 100.0,
        c.threshold_pct,
        c.resolution_ms
    )
}

fn preamble(c: &Comparison, out: &mut String, bullet: &str) {
    let _ = writeln!(out, "{bullet}baseline:  {} ({}, {})", c.baseline.run_id, c.baseline.path, c.baseline.git_commit);
    let _ =
        writeln!(out, "{bullet}candidate: {} ({}, {})", c.candidate.run_id, c.candidate.path, c.candidate.git_commit);
    let _ = writeln!(out, "{bullet}latency changes under {:.3} ms are ~ ({})", c.resolution_ms, c.resolution_source);
    for d in &c.scenario_differences {
        let _ = writeln!(out, "{bullet}compared with --force although the scenarios differ: {d}");
    }
    for n in &c.notes {
        let _ = writeln!(out, "{bullet}note: {n}");
    }
}

/// An aligned plain-text table for a terminal or a CI log.
pub fn render_table(c: &Comparison) -> String {
    let rows: Vec<[String; 9]> = c.rows.iter().map(cells).collect();
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
            if i < 3 || i == 8 {
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
    let mut out = String::from("## simrun diff\n\n");
    let mark = if c.regressions > 0 { "❌" } else { "✅" };
    let _ = writeln!(out, "{mark} **{}**\n", summary_line(c));
    preamble(c, &mut out, "- ");
    out.push('\n');
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---|");
    for r in &c.rows {
        let mut cells = cells(r);
        if r.verdict != super::Verdict::Same {
            cells[8] = format!("**{}**", cells[8]);
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push_str(
        "\nLatency p-values are Mann–Whitney U on per-request latencies (pooled over repetitions, from the saved \
         histograms); percentile intervals are bootstrap. A verdict needs significance, a change beyond the \
         threshold and, for latency, beyond the harness resolution. The tests cover the sampling noise within each \
         run; the resolution stands in for the drift between runs on one machine.\n",
    );
    out
}

pub fn render_json(c: &Comparison) -> String {
    let mut s = serde_json::to_string_pretty(c).unwrap_or_default();
    s.push('\n');
    s
}
