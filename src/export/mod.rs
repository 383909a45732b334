//! Exporters: pure functions from samples and the report to bytes, and the
//! results folder that writes them atomically.

pub mod csv;
pub mod markdown;
mod results_dir;

pub use results_dir::{ResultsDir, HISTOGRAMS};

use crate::report::Manifest;

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
