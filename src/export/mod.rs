//! Exporters: pure functions from samples and the report to bytes, and the
//! results folder that writes them atomically.

pub mod csv;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod plot;
mod read;
mod results_dir;
pub mod table;
pub mod timeline;

pub use read::{read_histogram, ReadError, Repetitions, RunFolder};
pub use results_dir::{
    ResultsDir, HISTOGRAMS, MANIFEST_JSON, PLOTS, REPORT_HTML, REPORT_MD, RESULTS_JSON, SAMPLES_CSV, SAMPLES_PARTIAL,
    SCENARIO_YAML, SUMMARY_CSV,
};

use serde::{Deserialize, Serialize};

use crate::report::{Manifest, Report};

/// Names the layout of `results.json`; a reader refuses any other.
pub const RESULTS_FORMAT: &str = "simrun-results-v2";

/// `results.json`: the whole report, machine-readable, for `merge` and `diff`.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResultsFile {
    pub format: String,
    pub report: Report,
}

pub fn results_json(report: &Report) -> Vec<u8> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        format: &'a str,
        report: &'a Report,
    }
    let mut out = serde_json::to_vec_pretty(&Borrowed { format: RESULTS_FORMAT, report }).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Writes everything derived from the report: `summary.csv`, `manifest.json`,
/// `results.json`, `report.md` and `report.html` (with the plots already in
/// `plots/` inlined), each atomically.
pub fn write_report(results: &ResultsDir, report: &Report) -> std::io::Result<std::path::PathBuf> {
    results.write(SUMMARY_CSV, &csv::summary_csv(report))?;
    results.write(MANIFEST_JSON, &manifest_json(&report.manifest))?;
    results.write(RESULTS_JSON, &results_json(report))?;
    let md = markdown::report_md(report);
    let folder = results.path().to_path_buf();
    let svg_of = |link: &str| {
        let inside = link.starts_with(&format!("{PLOTS}/")) && !link.contains("..");
        inside.then(|| std::fs::read_to_string(folder.join(link)).ok()).flatten()
    };
    let title = format!("Results: {}", report.manifest.scenario);
    results.write(REPORT_HTML, html::report_html(&title, &md, &svg_of).as_bytes())?;
    results.write(REPORT_MD, md.as_bytes())
}

/// Draws the report's plots (`plot::plots_of`) into `plots/`, the CDFs from
/// the folder's saved histograms. Returns what could not be drawn, one line
/// each; the rest is drawn regardless.
pub fn write_plots(results: &ResultsDir, report: &Report) -> std::io::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut histograms = plot::PointHistograms::new();
    for s in report.summaries.iter().filter(|s| s.latency.is_some()) {
        let file = results.path().join(histogram_name(s.point, s.repetition, s.tier));
        match read_histogram(&file) {
            Ok((_, h)) => add_histogram(&mut histograms, (s.point, s.tier), &h, &mut problems),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    problems.extend(write_plots_from(results, report, histograms)?);
    Ok(problems)
}

/// Adds `h` into the (point, tier) histogram over repetitions.
pub fn add_histogram(
    into: &mut plot::PointHistograms,
    key: (usize, crate::plan::Tier),
    h: &hdrhistogram::Histogram<u64>,
    problems: &mut Vec<String>,
) {
    match into.get_mut(&key) {
        Some(sum) => {
            if let Err(e) = sum.add(h) {
                problems.push(format!("point {} {}: histograms do not add: {e:?}", key.0, key.1));
            }
        }
        None => {
            into.insert(key, h.clone());
        }
    }
}

/// Draws the report's plots from histograms already read (`merge` has them)
/// and, for the plots over time, the folder's samples, read once.
pub fn write_plots_from(
    results: &ResultsDir,
    report: &Report,
    histograms: plot::PointHistograms,
) -> std::io::Result<Vec<String>> {
    let mut problems = Vec::new();
    let kinds = plot::plots_of(report);
    let over_time: Vec<usize> =
        kinds.iter().filter_map(|k| if let plot::PlotKind::Time { point } = k { Some(*point) } else { None }).collect();
    let timed = match over_time.is_empty() {
        true => Default::default(),
        false => timed_samples(results.path(), &over_time).unwrap_or_else(|e| {
            problems.push(format!("plots over time: samples not read: {e}"));
            Default::default()
        }),
    };
    let data = plot::PlotData { histograms, timed };
    let fonts = if kinds.is_empty() { None } else { Some(plot::Fonts::system()) };
    for kind in kinds {
        match plot::render(&kind, report, &data) {
            Ok(svg) => {
                results.write(&kind.file(), svg.as_bytes())?;
                match fonts.as_ref().map(|f| plot::png(&svg, f)) {
                    Some(Ok(png)) => {
                        results.write(&kind.png_file(), &png)?;
                    }
                    Some(Err(e)) => problems.push(format!("{}: not drawn: {e}", kind.png_file())),
                    None => {}
                }
            }
            Err(e) => problems.push(format!("{}: not drawn: {e}", kind.file())),
        }
    }
    Ok(problems)
}

/// The first repetition's measured samples of each of `points`, from the
/// folder's samples (`samples.csv`, or the file a run appends to until it ends).
fn timed_samples(
    folder: &std::path::Path,
    points: &[usize],
) -> Result<std::collections::BTreeMap<usize, Vec<timeline::Timed>>, plot::PlotError> {
    let path = [SAMPLES_CSV, SAMPLES_PARTIAL].iter().map(|f| folder.join(f)).find(|p| p.is_file());
    let path = path.ok_or("no samples file")?;
    let mut reader = ::csv::Reader::from_path(&path)?;
    let header = reader.headers()?.clone();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or(format!("samples have no {name} column"));
    let (p, rep, tier, phase) = (col("point")?, col("repetition")?, col("tier")?, col("phase")?);
    let (intended, latency, status) = (col("intended_us")?, col("latency_us")?, col("status")?);
    let mut out: std::collections::BTreeMap<usize, Vec<timeline::Timed>> = Default::default();
    for row in reader.records() {
        let row = row?;
        if row.get(rep) != Some("0") || row.get(phase) != Some("measure") {
            continue;
        }
        let Some(point) = row.get(p).and_then(|v| v.parse::<usize>().ok()).filter(|p| points.contains(p)) else {
            continue;
        };
        let Some(t) = row.get(tier).and_then(crate::plan::Tier::parse) else { continue };
        let Some(at) = row.get(intended).and_then(|v| v.parse::<u64>().ok()) else { continue };
        let ok = row.get(status) == Some("ok");
        let latency_us = row.get(latency).and_then(|v| v.parse::<u64>().ok()).filter(|_| ok);
        out.entry(point).or_default().push(timeline::Timed { tier: t, intended_us: at, latency_us });
    }
    Ok(out)
}

/// An HDR histogram in the V2 format (`HdrHistogram` compatible), so that later
/// tools can combine runs exactly.
pub fn histogram_bytes(h: &hdrhistogram::Histogram<u64>) -> Vec<u8> {
    use hdrhistogram::serialization::{Serializer, V2Serializer};
    let mut out = Vec::new();
    let _ = V2Serializer::new().serialize(h, &mut out);
    out
}

/// The file name of a saved histogram: `histograms/p<point>-r<rep>-<tier>.hdr`.
pub fn histogram_name(point: usize, repetition: u32, tier: crate::plan::Tier) -> String {
    format!("{HISTOGRAMS}/p{point}-r{repetition}-{tier}.hdr")
}

/// `manifest.json`, pretty-printed.
pub fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The JSON Schema of `results.json` (docs/results.schema.json), generated
/// from the types that write it.
pub fn results_schema() -> String {
    let schema = schemars::schema_for!(ResultsFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
