//! Exporters: pure functions from samples and the report to bytes, and the
//! results folder that writes them atomically.

pub mod csv;
pub mod junit;
pub mod markdown;
mod read;
mod results_dir;

pub use read::{Repetitions, RunFolder};
pub use results_dir::{
    ResultsDir, HISTOGRAMS, MANIFEST_JSON, REPORT_MD, RESULTS_JSON, SAMPLES_CSV, SAMPLES_PARTIAL, SCENARIO_YAML,
    SUMMARY_CSV,
};

use serde::{Deserialize, Serialize};

use crate::report::{Manifest, Report};

/// Names the layout of `results.json`; a reader refuses any other.
pub const RESULTS_FORMAT: &str = "simrun-results-v1";

/// `results.json`: the whole report, machine-readable, for `merge` and `diff`.
#[derive(Serialize, Deserialize)]
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
/// `results.json` and `report.md`, each atomically.
pub fn write_report(results: &ResultsDir, report: &Report) -> std::io::Result<std::path::PathBuf> {
    results.write(SUMMARY_CSV, &csv::summary_csv(report))?;
    results.write(MANIFEST_JSON, &manifest_json(&report.manifest))?;
    results.write(RESULTS_JSON, &results_json(report))?;
    results.write(REPORT_MD, markdown::report_md(report).as_bytes())
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
