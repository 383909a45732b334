//! Reading a finished (or interrupted) results folder back, for `merge` and `diff`.
//!
//! Every failure names the folder and the file, so that a CI log says which
//! artifact is missing or damaged.

use std::fs;
use std::path::{Path, PathBuf};

use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use super::{histogram_name, ResultsFile, RESULTS_FORMAT, SAMPLES_PARTIAL};

/// The format before remote members became `record::RemoteMember`; still read.
const RESULTS_FORMAT_V1: &str = "simrun-results-v1";
use crate::plan::Tier;
use crate::report::Report;
use crate::stats::compare::{Ecdf, Repetition};

/// Why a results folder could not be read; each names the folder or file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("results folder {} does not exist or is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{} is not a simrun results folder: it has no results.json ({hint})", .path.display())]
    NoResults { path: PathBuf, hint: String },
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{} is damaged or from another simrun version: {error}", .path.display())]
    Damaged { path: PathBuf, error: serde_json::Error },
    #[error("{} has format {found}; this simrun reads {RESULTS_FORMAT:?} and {RESULTS_FORMAT_V1:?}", .path.display())]
    Format { path: PathBuf, found: String },
    #[error("histogram {} is damaged: {error}", .path.display())]
    HistogramDamaged { path: PathBuf, error: String },
    #[error("histogram {} holds {holds} values but results.json counts {ok} successful requests", .path.display())]
    HistogramCount { path: PathBuf, holds: u64, ok: u64 },
}

/// A file's bytes, or the error naming it.
fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    fs::read(path).map_err(|error| ReadError::Read { path: path.to_path_buf(), error })
}

/// A run's repetitions by (point, tier), each with its repetition number.
pub type Repetitions = std::collections::BTreeMap<(usize, Tier), Vec<(u32, Repetition)>>;

/// One run's results folder, read.
#[derive(Debug)]
pub struct RunFolder {
    pub path: PathBuf,
    pub report: Report,
    /// `scenario.yaml` as the run resolved it.
    pub scenario_yaml: String,
}

/// Rewrites a `simrun-results-v1` file's remote members (the pool's
/// announcements, protocol fields and all) into today's records: a worker's
/// tier, model and runtime move into `served`, a device host gets its slot
/// from its order, and the protocol's fields are dropped.
fn upgrade_v1(value: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let Some(members) = value.pointer_mut("/report/manifest/remote_workers").and_then(Value::as_array_mut) else {
        return;
    };
    let mut slot = 0;
    for m in members.iter_mut() {
        let text = |k: &str| m.get(k).cloned().unwrap_or(Value::String(String::new()));
        let served = if m.get("role").and_then(Value::as_str) == Some("devices") {
            slot += 1;
            json!({ "role": "devices", "slot": slot })
        } else {
            let mut w = json!({
                "role": "worker", "tier": text("tier"), "model": text("model"),
                "sha256": text("sha256"), "onnxruntime": text("onnxruntime"),
            });
            if let Some(c) = m.get("compute").filter(|c| c.is_string()) {
                w["compute"] = c.clone();
            }
            w
        };
        *m = json!({
            "name": text("name"), "pool": text("pool"), "served": served, "host": text("host"),
            "os": text("os"), "arch": text("arch"), "cpu": text("cpu"),
            "cores": m.get("cores").cloned().unwrap_or(json!(0)), "simrun": text("simrun"),
        });
    }
}

impl RunFolder {
    /// Reads `results.json` and `scenario.yaml` from `path`.
    pub fn open(path: &Path) -> Result<RunFolder, ReadError> {
        if !path.is_dir() {
            return Err(ReadError::NotAFolder(path.to_path_buf()));
        }
        let json = path.join(super::RESULTS_JSON);
        if !json.is_file() {
            let runs: Vec<String> = fs::read_dir(path)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter(|e| e.path().join(super::RESULTS_JSON).is_file())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let hint = match runs.as_slice() {
                [] => "give a run's folder, results/<scenario>/<run-id>".to_string(),
                some => format!("it holds runs {}; give one of them", some.join(", ")),
            };
            return Err(ReadError::NoResults { path: path.to_path_buf(), hint });
        }
        let bytes = read(&json)?;
        let damaged = |error: serde_json::Error| ReadError::Damaged { path: json.clone(), error };
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(damaged)?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(RESULTS_FORMAT) => {}
            Some(RESULTS_FORMAT_V1) => upgrade_v1(&mut value),
            format => {
                let found = format.map_or("none".to_string(), |f| format!("{f:?}"));
                return Err(ReadError::Format { path: json, found });
            }
        }
        let file: ResultsFile = serde_json::from_value(value).map_err(damaged)?;
        let yaml = path.join(super::SCENARIO_YAML);
        let scenario_yaml = fs::read_to_string(&yaml).map_err(|error| ReadError::Read { path: yaml, error })?;
        let mut report = file.report;
        report.summaries_changed();
        Ok(RunFolder { path: path.to_path_buf(), report, scenario_yaml })
    }

    /// The saved latency histogram of (point, repetition, tier), checked
    /// against the summary's count of successful requests.
    pub fn histogram(&self, point: usize, rep: u32, tier: Tier) -> Result<Histogram<u64>, ReadError> {
        self.histogram_file(point, rep, tier).map(|(_, h)| h)
    }

    /// The histogram's file as saved, and the histogram it holds (checked as
    /// `histogram` does): for copying a histogram without reading it twice.
    pub fn histogram_file(&self, point: usize, rep: u32, tier: Tier) -> Result<(Vec<u8>, Histogram<u64>), ReadError> {
        let file = self.path.join(histogram_name(point, rep, tier));
        let (bytes, h) = read_histogram(&file)?;
        if let Some(s) = self.report.summary(point, rep, tier) {
            if h.len() != s.counts.ok {
                return Err(ReadError::HistogramCount { path: file, holds: h.len(), ok: s.counts.ok });
            }
        }
        Ok((bytes, h))
    }

    /// Every (point, tier)'s repetitions with their histograms, for `diff`:
    /// `(repetition number, data)` in repetition order.
    pub fn repetitions(&self) -> Result<Repetitions, ReadError> {
        let mut out = Repetitions::new();
        for s in &self.report.summaries {
            let h = self.histogram(s.point, s.repetition, s.tier)?;
            let rep = Repetition {
                latency: Ecdf::of(&h),
                requests: s.counts.requests,
                ok: s.counts.ok,
                timeouts: s.counts.timeouts,
                window_s: s.window_s,
                energy_mj: s.energy.map(|e| e.mean_mj),
                cost_per_million: s.cost.map(|c| c.per_million),
            };
            out.entry((s.point, s.tier)).or_default().push((s.repetition, rep));
        }
        for reps in out.values_mut() {
            reps.sort_by_key(|r| r.0);
        }
        Ok(out)
    }

    /// The samples file: `samples.csv`, or `samples.csv.partial` of an interrupted run.
    pub fn samples_path(&self) -> Option<PathBuf> {
        [self.path.join(super::SAMPLES_CSV), self.path.join(SAMPLES_PARTIAL)].into_iter().find(|p| p.is_file())
    }
}

/// A saved histogram file's bytes and the histogram they hold.
pub fn read_histogram(file: &Path) -> Result<(Vec<u8>, Histogram<u64>), ReadError> {
    let bytes = read(file)?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| ReadError::HistogramDamaged { path: file.to_path_buf(), error: format!("{e:?}") })?;
    Ok((bytes, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_file_keeps_its_members_as_records_without_the_protocol() {
        let mut v = serde_json::json!({ "format": "simrun-results-v1", "report": { "manifest": { "remote_workers": [
            { "v": 1, "name": "cloud-a", "pool": "p", "state": "idle", "role": "worker", "tier": "cloud",
              "model": "m.onnx", "sha256": "ab", "simrun": "0.1", "onnxruntime": "1.31.1", "host": "h", "os": "linux",
              "arch": "x86_64", "cpu": "c", "cores": 2, "pid": 7, "compute": "2 slots", "bad_control": 0 },
            { "v": 1, "name": "fleet-a", "pool": "q", "state": "idle", "role": "devices", "host": "h2", "pid": 8 },
            { "v": 1, "name": "fleet-b", "pool": "q", "state": "idle", "role": "devices", "host": "h3", "pid": 9 }
        ] } } });
        upgrade_v1(&mut v);
        let members: Vec<crate::record::RemoteMember> =
            serde_json::from_value(v["report"]["manifest"]["remote_workers"].take()).expect("today's records");
        use crate::record::Served;
        let Served::Worker { tier, compute, .. } = &members[0].served else { panic!("{members:?}") };
        assert_eq!((*tier, compute.as_deref()), (Tier::Cloud, Some("2 slots")));
        assert_eq!(members[0].cores, 2);
        assert_eq!(members[1].served, Served::Devices { slot: 1 });
        assert_eq!(members[2].served, Served::Devices { slot: 2 });
        assert_eq!(members[2].host, "h3");
    }
}
