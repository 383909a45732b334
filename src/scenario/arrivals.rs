//! Arrival files for `load.arrival: replay` (docs/scenario.md, Arrivals):
//!
//! ```text
//! # end: loop
//! time_s
//! 0.000
//! 0.125
//! ```
//!
//! one request a line at `time_s` seconds, or per-interval counts,
//!
//! ```text
//! # end: hold
//! time_s,count
//! 0,12
//! 60,30
//! ```
//!
//! `count` requests spread evenly from a row's time to the next row's (the
//! last row as wide as the one before it). `#` starts a comment line;
//! `# end: loop` replays the file again after its period, `# end: hold`
//! (the default) keeps a counts file's last rate and stops a timestamps
//! file. Times never go backwards. A timestamps file's period is its last
//! time plus its mean gap; a counts file's, its last row's end.

use std::path::Path;
use std::time::Duration;

use super::trace::TraceError;
use crate::plan::{ArrivalRow, ArrivalTrace, TraceEnd};

/// More lines than this is not an arrival file a point needs.
pub const MAX_ROWS: usize = 2_000_000;

/// Reads and checks the arrival file at `path`; `shown` is how the scenario wrote it.
pub fn read(path: &Path, shown: &str) -> Result<ArrivalTrace, TraceError> {
    let (text, sha256) = super::trace::read_text(path, shown)?;
    Ok(ArrivalTrace { sha256, ..parse(&text, shown)? })
}

/// A line's time and count, or what is wrong with it (its column and why).
fn parse_line(raw: &str, counts: bool) -> Result<(f64, u32), (usize, String)> {
    let cells: Vec<&str> = raw.split(',').map(str::trim).collect();
    let want = if counts { 2 } else { 1 };
    if cells.len() != want {
        return Err((1, format!("expected {want} value(s) a line, got {}", cells.len())));
    }
    let time: f64 = cells[0].parse().map_err(|_| (1, format!("time_s {:?} is not a number", cells[0])))?;
    if !time.is_finite() || time < 0.0 {
        return Err((1, format!("time_s must be a number of seconds from 0, got {}", cells[0])));
    }
    let count = match cells.get(1) {
        Some(c) => c.parse().map_err(|_| (cells[0].len() + 2, format!("count {c:?} is not a whole number")))?,
        None => 1,
    };
    Ok((time, count))
}

/// The lines' times and counts with their line numbers, the header's kind and the end.
struct Lines {
    rows: Vec<(usize, f64, u32)>,
    counts: bool,
    end: TraceEnd,
}

fn read_lines(text: &str, file: &str) -> Result<Lines, TraceError> {
    let at = |line: usize, column: usize, message: String| TraceError {
        file: file.to_string(),
        at: Some((line, column)),
        message,
    };
    let (mut end, mut counts, mut header) = (TraceEnd::Hold, None, false);
    let mut rows: Vec<(usize, f64, u32)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let (line, trimmed) = (i + 1, raw.trim());
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(value) = comment.trim().strip_prefix("end:") {
                end = match value.trim() {
                    "loop" => TraceEnd::Loop,
                    "hold" => TraceEnd::Hold,
                    other => return Err(at(line, 1, format!("end must be loop or hold, got {other:?}"))),
                };
            }
            continue;
        }
        if counts.is_none() && !header {
            header = true;
            let names: Vec<&str> = trimmed.split(',').map(str::trim).collect();
            match names.as_slice() {
                ["time_s"] => counts = Some(false),
                ["time_s", "count"] => counts = Some(true),
                _ if trimmed.parse::<f64>().is_ok() => counts = Some(false),
                _ => return Err(at(line, 1, format!("expected a header time_s or time_s,count, got {trimmed:?}"))),
            }
            if names.len() > 1 || trimmed.parse::<f64>().is_err() {
                continue;
            }
        }
        if rows.len() == MAX_ROWS {
            return Err(at(line, 1, format!("more than {MAX_ROWS} lines")));
        }
        let (time, count) = parse_line(trimmed, counts == Some(true)).map_err(|(c, m)| at(line, c, m))?;
        if let Some(&(_, previous, _)) = rows.last() {
            if time < previous {
                return Err(at(
                    line,
                    1,
                    format!("time_s {time} goes back before the previous line's {previous}: times must not decrease"),
                ));
            }
            if counts == Some(true) && time == previous {
                return Err(at(
                    line,
                    1,
                    format!("time_s {time} repeats the previous row's: each count needs its own interval"),
                ));
            }
        }
        rows.push((line, time, count));
    }
    Ok(Lines { rows, counts: counts == Some(true), end })
}

/// Parses an arrival file's text; the digest is left empty and `speed` 1.
pub fn parse(text: &str, file: &str) -> Result<ArrivalTrace, TraceError> {
    let Lines { rows, counts, end } = read_lines(text, file)?;
    let whole = |message: String| TraceError { file: file.to_string(), at: None, message };
    let ns = |s: f64| (s * 1e9).round() as u64;
    let mut out: Vec<ArrivalRow> = Vec::with_capacity(rows.len());
    for (i, &(_, time, count)) in rows.iter().enumerate() {
        let width = match (counts, rows.get(i + 1), i.checked_sub(1).map(|p| rows[p].1)) {
            (false, _, _) => 0,
            (true, Some(next), _) => ns(next.1) - ns(time),
            (true, None, Some(previous)) => ns(time) - ns(previous),
            (true, None, None) => 1_000_000_000,
        };
        out.push(ArrivalRow { at_ns: ns(time), width_ns: width, count });
    }
    let requests: u64 = out.iter().map(|r| u64::from(r.count)).sum();
    if requests == 0 {
        return Err(whole("no requests: expected a header (time_s, or time_s,count) and lines of times".into()));
    }
    let last = out[out.len() - 1];
    let period_ns = if counts {
        last.at_ns + last.width_ns
    } else if out.len() > 1 {
        last.at_ns + (last.at_ns - out[0].at_ns) / (out.len() as u64 - 1)
    } else {
        last.at_ns
    };
    if end == TraceEnd::Loop && period_ns == 0 {
        return Err(whole("a looped file needs requests at more than one time: its period would be 0".into()));
    }
    Ok(ArrivalTrace {
        path: file.to_string(),
        sha256: String::new(),
        end,
        counts,
        period: Duration::from_nanos(period_ns),
        speed: 1.0,
        rows: out.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text, "a.csv").unwrap_err().to_string()
    }

    #[test]
    fn timestamps_and_counts_read_with_their_period_mean_and_peak() {
        let t = parse("# end: loop\ntime_s\n0\n0.25\n0.5\n1.5\n", "a.csv").unwrap();
        assert_eq!((t.counts, t.end, t.requests()), (false, TraceEnd::Loop, 4));
        assert_eq!(t.period, Duration::from_millis(2000), "last time plus the mean gap (0.5 s)");
        assert_eq!((t.mean_hz(), t.peak_hz()), (2.0, 3.0));
        let bare = parse("0.5\n1\n", "a.csv").unwrap();
        assert_eq!(bare.rows.iter().map(|r| r.at_ns).collect::<Vec<_>>(), [500_000_000, 1_000_000_000]);
        let c = parse("time_s,count\n0,120\n60,30\n", "a.csv").unwrap();
        assert_eq!((c.counts, c.end, c.period), (true, TraceEnd::Hold, Duration::from_secs(120)));
        assert_eq!((c.rows[1].width_ns, c.rows[0].offset_ns(60)), (60_000_000_000, 30_000_000_000));
        assert_eq!((c.mean_hz(), c.peak_hz(), c.held_hz()), (150.0 / 120.0, 2.0, Some(0.5)));
        let fast = ArrivalTrace { speed: 60.0, ..c };
        assert_eq!((fast.mean_hz(), fast.peak_hz()), (75.0, 120.0));
        assert_eq!(fast.to_string(), "a.csv (counts, hold, 120 s, ×60)");
    }

    #[test]
    fn a_bad_file_says_which_line_and_why() {
        assert_eq!(
            error("time_s\n0\n2\n1.5\n"),
            "a.csv:4:1: time_s 1.5 goes back before the previous line's 2: times must not decrease"
        );
        assert_eq!(error("when\n1\n"), "a.csv:1:1: expected a header time_s or time_s,count, got \"when\"");
        assert_eq!(error("time_s,count\n0,x\n"), "a.csv:2:3: count \"x\" is not a whole number");
        assert!(error("time_s,count\n0,1\n0,2\n").contains("repeats the previous row's"));
        assert!(error("# end: loop\ntime_s\n").contains("no requests"));
        assert!(error("time_s\n-1\n").contains("must be a number of seconds from 0"));
        assert!(error("# end: loop\n0\n").contains("period would be 0"));
        assert!(error("# end: forever\n1\n").contains("end must be loop or hold"));
    }
}
