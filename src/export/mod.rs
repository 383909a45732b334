//! Exporters: pure functions from samples and the report to bytes, and the
//! results folder that writes them atomically.

pub mod csv;
pub mod markdown;
mod results_dir;

pub use results_dir::ResultsDir;

use crate::report::Manifest;

/// `manifest.json`, pretty-printed.
pub fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    out.push(b'\n');
    out
}
