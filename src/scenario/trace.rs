//! Link trace files: timed one-way conditions, CSV (docs/scenario.md, Traces).
//!
//! ```text
//! # end: loop
//! time_s,delay_ms,bandwidth_kbit,outage
//! 0,35,20000,0
//! 61.5,35,,1
//! ```
//!
//! Rows hold from their time until the next row's. `time_s` and `delay_ms`
//! are required; `bandwidth_kbit` (empty: the link's own) and `outage` (`0`
//! or `1`) are optional; `#` starts a comment line, and `# end: loop` or
//! `# end: hold` says what follows the last row.

use std::path::Path;
use std::time::Duration;

use crate::plan::{LinkTrace, TraceEnd, TraceRow};

/// More rows than this is not a trace a link needs (a row a millisecond for
/// a quarter of an hour).
pub const MAX_ROWS: usize = 1_000_000;

/// What is wrong with a trace file, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {message}", at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct TraceError {
    pub file: String,
    /// 1-based line and column, when the fault has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

const COLUMNS: [&str; 4] = ["time_s", "delay_ms", "bandwidth_kbit", "outage"];

/// Reads and checks the trace at `path`; `shown` is how the scenario wrote it.
pub fn read(path: &Path, shown: &str) -> Result<LinkTrace, TraceError> {
    let (text, sha256) = read_text(path, shown)?;
    Ok(LinkTrace { sha256, ..parse(&text, shown)? })
}

/// A trace-like file's text and the SHA-256 of its bytes; `shown` names it in errors.
pub fn read_text(path: &Path, shown: &str) -> Result<(String, String), TraceError> {
    let fail = |message: String| TraceError { file: shown.to_string(), at: None, message };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let sha256 = crate::digest::sha256_hex(&bytes);
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    Ok((text, sha256))
}

/// Which columns the header names, by position.
struct Header {
    line: usize,
    index: [Option<usize>; 4],
}

/// Parses a trace's text; the digest is left empty.
pub fn parse(text: &str, file: &str) -> Result<LinkTrace, TraceError> {
    let at = |line: usize, column: usize, message: String| TraceError {
        file: file.to_string(),
        at: Some((line, column)),
        message,
    };
    let mut end = None;
    let mut header: Option<Header> = None;
    let mut rows: Vec<TraceRow> = Vec::new();
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(value) = comment.trim().strip_prefix("end:") {
                end = Some(match value.trim() {
                    "loop" => TraceEnd::Loop,
                    "hold" => TraceEnd::Hold,
                    other => return Err(at(line, 1, format!("end must be loop or hold, got {other:?}"))),
                });
            }
            continue;
        }
        let Some(h) = &header else {
            header = Some(parse_header(raw, line).map_err(|(c, m)| at(line, c, m))?);
            continue;
        };
        if rows.len() == MAX_ROWS {
            return Err(at(line, 1, format!("more than {MAX_ROWS} rows")));
        }
        let row = parse_row(raw, h).map_err(|(c, m)| at(line, c, m))?;
        if let Some(prev) = rows.last() {
            if row.at <= prev.at {
                return Err(at(
                    line,
                    1,
                    format!(
                        "time_s {} is not after the previous row's {} (rows must be sorted by time)",
                        row.at.as_secs_f64(),
                        prev.at.as_secs_f64()
                    ),
                ));
            }
        } else if !row.at.is_zero() {
            return Err(at(line, 1, format!("the first row must be at time_s 0, got {}", row.at.as_secs_f64())));
        }
        rows.push(row);
        last_line = line;
    }
    let whole = |message: &str| TraceError { file: file.to_string(), at: None, message: message.to_string() };
    let Some(header) = header else {
        return Err(whole("empty: expected a header such as time_s,delay_ms and at least one row"));
    };
    if rows.is_empty() {
        return Err(whole("no rows after the header"));
    }
    let end = end.unwrap_or_default();
    let span = rows.last().map(|r| r.at).unwrap_or_default();
    check_end(&rows, end, file, last_line)?;
    Ok(LinkTrace {
        path: file.to_string(),
        sha256: String::new(),
        end,
        span,
        has_bandwidth: header.index[2].is_some(),
        rows: rows.into(),
    })
}

/// A trace that would leave the link delivering nothing for good is refused.
fn check_end(rows: &[TraceRow], end: TraceEnd, file: &str, last_line: usize) -> Result<(), TraceError> {
    let fail = |at: Option<(usize, usize)>, message: &str| {
        Err(TraceError { file: file.to_string(), at, message: message.to_string() })
    };
    match end {
        TraceEnd::Hold if rows.last().is_some_and(|r| r.outage) => {
            fail(Some((last_line, 1)), "a held trace cannot end in an outage: the link would never deliver again")
        }
        TraceEnd::Loop if rows.len() < 2 => {
            fail(None, "a looped trace needs at least two rows: its last row's time is the loop's length")
        }
        TraceEnd::Loop if rows[..rows.len() - 1].iter().all(|r| r.outage) => {
            fail(None, "every row of the loop is an outage: the link would never deliver")
        }
        _ => Ok(()),
    }
}

fn parse_header(raw: &str, line: usize) -> Result<Header, (usize, String)> {
    let mut index = [None; 4];
    for (position, (column, name)) in cells(raw).enumerate() {
        let Some(k) = COLUMNS.iter().position(|c| *c == name) else {
            return Err((column, format!("unknown column {name:?}; the columns are {}", COLUMNS.join(", "))));
        };
        if index[k].replace(position).is_some() {
            return Err((column, format!("column {name} is named twice")));
        }
    }
    for required in [0, 1] {
        if index[required].is_none() {
            return Err((
                1,
                format!("the header must name {} (line {line} is taken as the header)", COLUMNS[required]),
            ));
        }
    }
    Ok(Header { line, index })
}

/// Each cell of a line with its 1-based column, trimmed.
fn cells(raw: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    raw.split(',').map(move |cell| {
        let column = start + (cell.len() - cell.trim_start().len()) + 1;
        start += cell.len() + 1;
        (raw[..column - 1].chars().count() + 1, cell.trim())
    })
}

fn parse_row(raw: &str, header: &Header) -> Result<TraceRow, (usize, String)> {
    let all: Vec<(usize, &str)> = cells(raw).collect();
    let width = header.index.iter().flatten().count();
    if all.len() != width {
        return Err((1, format!("{} cells, the header (line {}) names {width}", all.len(), header.line)));
    }
    let cell = |k: usize| header.index[k].map(|p| all[p]);
    let number = |k: usize| -> Result<Option<(usize, f64)>, (usize, String)> {
        let Some((column, text)) = cell(k) else { return Ok(None) };
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some((column, v))),
            _ => Err((column, format!("{} {text:?} is not a number", COLUMNS[k]))),
        }
    };
    let required = |k: usize| -> Result<(usize, f64), (usize, String)> {
        number(k)?.ok_or_else(|| (cell(k).map_or(1, |c| c.0), format!("{} is empty", COLUMNS[k])))
    };
    let (column, time) = required(0)?;
    if time < 0.0 {
        return Err((column, format!("time_s {time} is negative")));
    }
    let (column, delay) = required(1)?;
    if delay < 0.0 {
        return Err((column, format!("delay_ms {delay} is negative")));
    }
    let bandwidth_bps = match number(2)? {
        Some((column, kbit)) if kbit <= 0.0 => {
            return Err((column, format!("bandwidth_kbit {kbit} must be positive (use outage for no delivery)")))
        }
        Some((_, kbit)) => Some(kbit * 1e3),
        None => None,
    };
    let outage = match number(3)? {
        None => false,
        Some((_, 0.0)) => false,
        Some((_, 1.0)) => true,
        Some((column, v)) => return Err((column, format!("outage must be 0 or 1, got {v}"))),
    };
    Ok(TraceRow {
        at: Duration::from_secs_f64(time),
        delay: Duration::from_secs_f64(delay / 1e3),
        bandwidth_bps,
        outage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text, "t.csv").expect_err("refused").to_string()
    }

    #[test]
    fn a_trace_reads_as_steps_with_its_end() {
        let t = parse(
            "# a comment\n# end: loop\ntime_s, delay_ms ,outage\n0,20,0\n3,80,\n5,80,1\n7,20,0\n9,20,0\n",
            "t.csv",
        )
        .expect("valid");
        assert_eq!(t.end, TraceEnd::Loop);
        assert_eq!(t.span, Duration::from_secs(9));
        assert!(!t.has_bandwidth);
        assert_eq!(t.rows.len(), 5);
        assert_eq!(
            t.rows[1],
            TraceRow {
                at: Duration::from_secs(3),
                delay: Duration::from_millis(80),
                bandwidth_bps: None,
                outage: false
            }
        );
        assert!(t.rows[2].outage);
        let held = parse("time_s,delay_ms,bandwidth_kbit\n0,1.5,800\n", "t.csv").expect("valid");
        assert_eq!((held.end, held.span, held.has_bandwidth), (TraceEnd::Hold, Duration::ZERO, true));
        assert_eq!(held.rows[0].bandwidth_bps, Some(800_000.0));
    }

    #[test]
    fn each_fault_is_named_with_its_line_and_column() {
        assert_eq!(error(""), "t.csv: empty: expected a header such as time_s,delay_ms and at least one row");
        assert_eq!(error("time_s,delay_ms\n"), "t.csv: no rows after the header");
        assert_eq!(error("time_s,delay_ms\n0,20\n2,abc\n"), "t.csv:3:3: delay_ms \"abc\" is not a number");
        assert_eq!(error("time_s,delay_ms\n0,20\n2, -1\n"), "t.csv:3:4: delay_ms -1 is negative");
        assert_eq!(
            error("time_s,delay_ms\n0,20\n2,20\n1,20\n"),
            "t.csv:4:1: time_s 1 is not after the previous row's 2 (rows must be sorted by time)"
        );
        assert_eq!(error("time_s,delay_ms\n1,20\n"), "t.csv:2:1: the first row must be at time_s 0, got 1");
        assert_eq!(
            error("time_s,delay\n"),
            "t.csv:1:8: unknown column \"delay\"; the columns are time_s, delay_ms, bandwidth_kbit, outage"
        );
        assert_eq!(
            error("time_s,outage\n"),
            "t.csv:1:1: the header must name delay_ms (line 1 is taken as the header)"
        );
        assert_eq!(error("time_s,delay_ms\n0,20,3\n"), "t.csv:2:1: 3 cells, the header (line 1) names 2");
        assert_eq!(error("time_s,delay_ms,outage\n0,20,2\n"), "t.csv:2:6: outage must be 0 or 1, got 2");
        assert_eq!(
            error("time_s,delay_ms,outage\n0,20,0\n1,20,1\n"),
            "t.csv:3:1: a held trace cannot end in an outage: the link would never deliver again"
        );
        assert_eq!(error("# end: forever\n"), "t.csv:1:1: end must be loop or hold, got \"forever\"");
        assert!(error("# end: loop\ntime_s,delay_ms\n0,20\n").contains("a looped trace needs at least two rows"));
        assert!(
            error("time_s,delay_ms,bandwidth_kbit\n0,20,0\n").contains("t.csv:2:6: bandwidth_kbit 0 must be positive")
        );
    }
}

/// The packet size of a Mahimahi delivery opportunity, in bytes (its MTU).
pub const MAHIMAHI_PACKET_BYTES: f64 = 1500.0;

/// A Mahimahi packet-delivery trace (one line per opportunity to deliver one
/// 1,500-byte packet, its time in integer ms; the trace loops) as a simrun
/// trace: the opportunities in each `window` give `bandwidth_kbit`, a window
/// with none is an outage, and every row carries the one-way `delay` (in
/// Mahimahi a separate delay shell's). Consecutive equal rows are merged.
pub fn from_mahimahi(text: &str, file: &str, window: Duration, delay: Duration) -> Result<String, TraceError> {
    let at = |line: usize, message: String| TraceError { file: file.to_string(), at: Some((line, 1)), message };
    let window_ms = window.as_millis().max(1) as u64;
    let mut times: Vec<u64> = Vec::new();
    let mut last = 0;
    for (i, raw) in text.lines().enumerate() {
        let cell = raw.trim();
        if cell.is_empty() {
            continue;
        }
        let ms: u64 = cell.parse().map_err(|_| at(i + 1, format!("{cell:?} is not a whole number of milliseconds")))?;
        if ms < last {
            return Err(at(i + 1, format!("{ms} is before the previous line's {last} (times must not decrease)")));
        }
        last = ms;
        times.push(ms);
    }
    let whole = |message: &str| TraceError { file: file.to_string(), at: None, message: message.into() };
    if times.is_empty() {
        return Err(whole("no delivery opportunities"));
    }
    // Mahimahi replays the file every `period` ms, its last timestamp: an
    // opportunity at exactly `period` is the next loop's at 0.
    let period = last;
    if period == 0 {
        return Err(whole("every opportunity is at 0 ms: the trace spans no time, so it has no rate"));
    }
    let mut counts = vec![0u64; period.div_ceil(window_ms) as usize];
    for ms in times {
        counts[((ms % period) / window_ms) as usize] += 1;
    }
    // The last window may be shorter than the others: its rate is over its own length.
    let length = |slot: usize| (period - slot as u64 * window_ms).min(window_ms);
    let kbit = |n: u64, len_ms: u64| n as f64 * MAHIMAHI_PACKET_BYTES * 8.0 / len_ms as f64;
    let delay_ms = delay.as_secs_f64() * 1e3;
    let mut out = format!(
        "# converted by `simrun trace mahimahi` from {file}: {window_ms} ms windows of 1500-byte delivery \
         opportunities, one-way delay {delay_ms} ms, looping every {period} ms\n# end: loop\n\
         time_s,delay_ms,bandwidth_kbit,outage\n"
    );
    // A window's cells after its time: no opportunity is an outage.
    let cells = |slot: usize| match counts[slot] {
        0 => format!("{delay_ms},,1"),
        n => format!("{delay_ms},{},0", kbit(n, length(slot))),
    };
    let mut previous = None;
    for slot in 0..counts.len() {
        let cells = cells(slot);
        if previous.as_ref() != Some(&cells) {
            out.push_str(&format!("{},{cells}\n", (slot as u64 * window_ms) as f64 / 1e3));
            previous = Some(cells);
        }
    }
    // The loop's end, where Mahimahi starts the file again.
    out.push_str(&format!("{},{}\n", period as f64 / 1e3, cells(0)));
    Ok(out)
}

#[cfg(test)]
mod mahimahi_tests {
    use super::*;

    #[test]
    fn delivery_opportunities_become_bandwidth_and_outage_rows_that_read_back() {
        // 100 ms windows over a 260 ms loop (the last timestamp): 0–99 ms four packets and
        // the one at 260 ms (the next loop's 0), 100–199 none, 200–259 one (a 60 ms window).
        let text = "0\n10\n10\n99\n250\n260\n";
        let csv =
            from_mahimahi(text, "m.trace", Duration::from_millis(100), Duration::from_millis(20)).expect("converts");
        let t = parse(&csv, "converted").expect("reads back");
        assert_eq!(t.end, TraceEnd::Loop);
        assert_eq!(t.span, Duration::from_millis(260), "no window after the last timestamp");
        let rows: Vec<(u128, Option<f64>, bool)> =
            t.rows.iter().map(|r| (r.at.as_millis(), r.bandwidth_bps, r.outage)).collect();
        // Five 1500-byte packets in 100 ms: 600 kbit/s; one in 60 ms: 200 kbit/s.
        assert_eq!(
            rows,
            vec![
                (0, Some(600_000.0), false),
                (100, None, true),
                (200, Some(200_000.0), false),
                (260, Some(600_000.0), false)
            ]
        );
        // The mean capacity over the loop is the packets' bits over its length: 6 × 12 kbit in 260 ms.
        let integrated: f64 =
            t.rows.windows(2).map(|w| w[0].bandwidth_bps.unwrap_or(0.0) * (w[1].at - w[0].at).as_secs_f64()).sum();
        assert!((integrated / 0.260 - 6.0 * 12_000.0 / 0.260).abs() < 1e-6);
        assert!(t.rows.iter().all(|r| r.delay == Duration::from_millis(20)));
        let bad = from_mahimahi("5\n3\n", "m.trace", Duration::from_millis(100), Duration::ZERO).expect_err("refused");
        assert_eq!(bad.to_string(), "m.trace:2:1: 3 is before the previous line's 5 (times must not decrease)");
    }
}
