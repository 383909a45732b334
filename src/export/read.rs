//! Reading a finished (or interrupted) results folder back, for `merge` and `diff`.
//!
//! Every failure names the folder and the file, so that a CI log says which
//! artifact is missing or damaged.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use super::{histogram_name, ResultsFile, RESULTS_FORMAT, SAMPLES_PARTIAL};
use crate::plan::Tier;
use crate::report::Report;
use crate::stats::compare::{Ecdf, Repetition};

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

impl RunFolder {
    /// Reads `results.json` and `scenario.yaml` from `path`.
    pub fn open(path: &Path) -> anyhow::Result<RunFolder> {
        let shown = path.display();
        if !path.is_dir() {
            bail!("results folder {shown} does not exist or is not a folder");
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
            bail!("{shown} is not a simrun results folder: it has no results.json ({hint})");
        }
        let bytes = fs::read(&json).with_context(|| format!("cannot read {}", json.display()))?;
        let file: ResultsFile = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow!("{} is damaged or from another simrun version: {e}", json.display()))?;
        if file.format != RESULTS_FORMAT {
            bail!("{} has format {:?}; this simrun reads {RESULTS_FORMAT:?}", json.display(), file.format);
        }
        let yaml = path.join(super::SCENARIO_YAML);
        let scenario_yaml = fs::read_to_string(&yaml).with_context(|| format!("cannot read {}", yaml.display()))?;
        let mut report = file.report;
        report.summaries_changed();
        Ok(RunFolder { path: path.to_path_buf(), report, scenario_yaml })
    }

    /// The saved latency histogram of (point, repetition, tier), checked
    /// against the summary's count of successful requests.
    pub fn histogram(&self, point: usize, rep: u32, tier: Tier) -> anyhow::Result<Histogram<u64>> {
        self.histogram_file(point, rep, tier).map(|(_, h)| h)
    }

    /// The histogram's file as saved, and the histogram it holds (checked as
    /// `histogram` does): for copying a histogram without reading it twice.
    pub fn histogram_file(&self, point: usize, rep: u32, tier: Tier) -> anyhow::Result<(Vec<u8>, Histogram<u64>)> {
        let file = self.path.join(histogram_name(point, rep, tier));
        let (bytes, h) = read_histogram(&file)?;
        if let Some(s) = self.report.summary(point, rep, tier) {
            if h.len() != s.ok {
                bail!(
                    "histogram {} holds {} values but results.json counts {} successful requests",
                    file.display(),
                    h.len(),
                    s.ok
                );
            }
        }
        Ok((bytes, h))
    }

    /// Every (point, tier)'s repetitions with their histograms, for `diff`:
    /// `(repetition number, data)` in repetition order.
    pub fn repetitions(&self) -> anyhow::Result<Repetitions> {
        let mut out = Repetitions::new();
        for s in &self.report.summaries {
            let h = self.histogram(s.point, s.repetition, s.tier)?;
            let rep = Repetition {
                latency: Ecdf::of(&h),
                requests: s.requests,
                ok: s.ok,
                timeouts: s.timeouts,
                window_s: s.window_s,
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
pub fn read_histogram(file: &Path) -> anyhow::Result<(Vec<u8>, Histogram<u64>)> {
    let bytes = fs::read(file).with_context(|| format!("cannot read histogram {}", file.display()))?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow!("histogram {} is damaged: {e:?}", file.display()))?;
    Ok((bytes, h))
}
