//! `simrun merge`: shard result folders into one run folder, with one summary
//! and one report. Latency percentiles are recomputed from the saved
//! histograms, so the merged numbers are those a single run would have written.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context};

use super::failure::Failure;
use super::MergeArgs;
use crate::exit_code::Outcome;
use crate::export::{self, ResultsDir, RunFolder};
use crate::report::{MergedShard, Report, Warning};
use crate::stats::Percentiles;

/// Keys that may differ between the shards of one scenario: each CI job may
/// use its own broker and output folder.
const PER_JOB_KEYS: [&str; 2] = ["broker.url", "output"];

pub fn merge(args: MergeArgs, command: String) -> Result<Outcome, Failure> {
    let mut shards = Vec::new();
    for dir in &args.dirs {
        shards.push(RunFolder::open(dir).map_err(Failure::input)?);
    }
    check_compatible(&shards).map_err(Failure::input)?;
    shards.sort_by_key(|s| s.report.shard.map_or(1, |sh| sh.index));
    let histograms = read_histograms(&shards).map_err(Failure::input)?;
    let report = merged_report(&shards, &histograms, command).map_err(Failure::input)?;
    let path = write_merged(&shards, &histograms, &report, &args.out)?;
    if let Some(junit) = &args.junit {
        super::write_junit(junit, &report)?;
    }
    super::print_line(&path.display().to_string());
    Ok(super::outcome(&report, &path))
}

/// One saved histogram of a shard: its execution and tier, its file's bytes
/// and what they hold.
struct SavedHistogram {
    point: usize,
    repetition: u32,
    tier: crate::plan::Tier,
    bytes: Vec<u8>,
    histogram: hdrhistogram::Histogram<u64>,
}

/// Every shard's histograms, each read once, in shard order.
fn read_histograms(shards: &[RunFolder]) -> anyhow::Result<Vec<Vec<SavedHistogram>>> {
    let mut out = Vec::new();
    for shard in shards {
        let mut own = Vec::new();
        for s in &shard.report.summaries {
            let (bytes, histogram) = shard.histogram_file(s.point, s.repetition, s.tier)?;
            own.push(SavedHistogram { point: s.point, repetition: s.repetition, tier: s.tier, bytes, histogram });
        }
        out.push(own);
    }
    Ok(out)
}

/// Same scenario, same split, no point run twice.
fn check_compatible(shards: &[RunFolder]) -> anyhow::Result<()> {
    let first = &shards[0];
    let ignore: Vec<String> = PER_JOB_KEYS.iter().map(|k| k.to_string()).collect();
    let count = |f: &RunFolder| f.report.shard.map_or(1, |s| s.count);
    let mut seen: Vec<(usize, &Path)> = Vec::new();
    for other in shards {
        if other.samples_path().is_none() {
            bail!("{} has no samples.csv (nor samples.csv.partial)", other.path.display());
        }
        let diffs = crate::diff::differences(first, other, &ignore)?;
        if !diffs.is_empty() {
            bail!(
                "{} and {} come from different scenarios: {}",
                first.path.display(),
                other.path.display(),
                diffs.join("; ")
            );
        }
        if count(other) != count(first) {
            bail!(
                "{} is shard {} but {} is shard {}: the plan was split differently",
                other.path.display(),
                other.report.shard.map_or("1/1 (the whole plan)".into(), |s| s.to_string()),
                first.path.display(),
                first.report.shard.map_or("1/1 (the whole plan)".into(), |s| s.to_string()),
            );
        }
        for row in &other.report.points {
            if let Some((_, earlier)) = seen.iter().find(|(p, _)| *p == row.index) {
                bail!(
                    "overlapping shards: {} and {} both ran point p{} ({})",
                    earlier.display(),
                    other.path.display(),
                    row.index,
                    other.report.shard.map_or("no shard".into(), |s| format!("shard {s}"))
                );
            }
        }
        seen.extend(other.report.points.iter().map(|p| (p.index, other.path.as_path())));
    }
    Ok(())
}

/// The merged run's manifest: a new run id, the shards it came from, their
/// times summed or spanned, and every remote member any shard claimed.
fn merged_manifest(m: &mut crate::report::Manifest, shards: &[RunFolder], command: String) {
    m.run_id = super::run::new_run_id();
    m.command = command;
    m.shard = None;
    m.merged_from = shards
        .iter()
        .map(|s| {
            let sm = &s.report.manifest;
            MergedShard { run_id: sm.run_id.clone(), shard: sm.shard.clone(), floor: sm.floor.clone() }
        })
        .collect();
    m.started_at = shards.iter().map(|s| s.report.manifest.started_at.clone()).min().unwrap_or_default();
    m.finished_at = shards.iter().filter_map(|s| s.report.manifest.finished_at.clone()).max();
    m.wall_time_s = Some(shards.iter().filter_map(|s| s.report.manifest.wall_time_s).sum());
    m.scheduled_time_s = shards.iter().map(|s| s.report.manifest.scheduled_time_s).sum();
    m.reuse = shards.iter().filter_map(|s| s.report.manifest.reuse).reduce(|a, b| a.plus(b));
    // Each shard may have claimed other workers; one that served several
    // shards is listed once.
    m.remote_workers.clear();
    for w in shards.iter().flat_map(|s| &s.report.manifest.remote_workers) {
        if !m.remote_workers.contains(w) {
            m.remote_workers.push(w.clone());
        }
    }
}

/// Empties what each point execution adds to a report, for the shards' to be added.
fn clear_executions(report: &mut Report) {
    report.summaries.clear();
    report.group_summaries.clear();
    report.links.clear();
    report.warnings.clear();
    report.stopped = None;
    report.unmatched = Default::default();
    report.finished.clear();
    report.device_hosts.clear();
    report.host_load.clear();
}

fn merged_report(shards: &[RunFolder], histograms: &[Vec<SavedHistogram>], command: String) -> anyhow::Result<Report> {
    let first = &shards[0].report;
    let mut report = first.clone();
    merged_manifest(&mut report.manifest, shards, command);
    report.shard = None;
    report.points = shards.iter().flat_map(|s| s.report.points.clone()).collect();
    report.points.sort_by_key(|p| p.index);
    clear_executions(&mut report);
    report.executions_planned = report.plan_points * report.manifest.repetitions as usize;
    for (shard, saved) in shards.iter().zip(histograms) {
        let r = &shard.report;
        let name = r.shard.map_or_else(|| r.manifest.run_id.clone(), |s| format!("shard {s}"));
        for (s, h) in r.summaries.iter().zip(saved) {
            let mut s = s.clone();
            // Exactly what a single run would have computed: the same histogram, read back.
            let h = &h.histogram;
            s.latency = Percentiles::of(h, None)
                .map(|p| Percentiles { mean_us: s.latency.map_or(p.mean_us, |l| l.mean_us), ..p });
            report.summaries.push(s);
        }
        report.group_summaries.extend(r.group_summaries.iter().cloned());
        report.links.extend(r.links.iter().cloned());
        report.host_load.extend(r.host_load.iter().cloned());
        let own = r.stopped.iter().map(|s| Warning::Stopped(s.clone())).chain(r.warnings.iter().cloned());
        report.warnings.extend(own.map(|w| Warning::FromShard { shard: name.clone(), warning: Box::new(w) }));
        report.add_unmatched(r.unmatched);
        report.finished.extend(r.finished.iter().copied());
        // Device hosts by name over the shards (each shard's runner is `this run`).
        for t in &r.device_hosts {
            report.add_device_host(t);
        }
    }
    // Parity: the first shard's, widened by the others' live comparisons.
    for q in shards[1..].iter().filter_map(|s| s.report.parity) {
        if let Some(p) = report.parity.as_mut() {
            p.live_max_abs_diff = match (p.live_max_abs_diff, q.live_max_abs_diff) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            p.live_pairs += q.live_pairs;
        }
    }
    report.summaries.sort_by_key(|s| (s.repetition, s.point, s.tier));
    report.group_summaries.sort_by_key(|s| (s.repetition, s.point));
    report.summaries_changed();
    report.links.sort_by_key(|l| (l.repetition, l.point));
    report.host_load.sort_by_key(|l| (l.repetition, l.point));
    let have: BTreeSet<usize> = report.points.iter().map(|p| p.index).collect();
    let missing: Vec<String> = (0..report.plan_points).filter(|i| !have.contains(i)).map(|i| format!("p{i}")).collect();
    if !missing.is_empty() {
        report.warnings.push(Warning::ShardsMissing { covered: have.len(), planned: report.plan_points, missing });
    }
    Ok(report)
}

/// Creates `out` and writes the merged folder: scenario, histograms, samples, summary, report.
fn write_merged(
    shards: &[RunFolder],
    histograms: &[Vec<SavedHistogram>],
    report: &Report,
    out: &Path,
) -> Result<std::path::PathBuf, Failure> {
    if out.exists() && fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Failure::input(anyhow!(
            "--out {} already exists and is not empty; merge writes a new folder",
            out.display()
        )));
    }
    let results = ResultsDir::create(out.to_path_buf())
        .with_context(|| format!("cannot create {}", out.display()))
        .map_err(Failure::input)?;
    let write = || -> anyhow::Result<std::path::PathBuf> {
        results.write(crate::export::SCENARIO_YAML, shards[0].scenario_yaml.as_bytes())?;
        for h in histograms.iter().flatten() {
            results.write(&export::histogram_name(h.point, h.repetition, h.tier), &h.bytes)?;
        }
        let mut sink = results.samples_writer()?;
        let mut header_written = false;
        for shard in shards {
            let Some(path) = shard.samples_path() else {
                bail!("{} has no samples.csv", shard.path.display());
            };
            let mut lines = BufReader::new(fs::File::open(&path)?);
            let mut header = String::new();
            lines.read_line(&mut header)?;
            if !header_written {
                sink.write_all(header.as_bytes())?;
                header_written = true;
            }
            std::io::copy(&mut lines, &mut sink)?;
        }
        sink.flush()?;
        sink.get_ref().sync_data()?;
        drop(sink);
        results.finish_samples()?;
        let mut per_point = export::plot::PointHistograms::new();
        let mut problems = Vec::new();
        for h in histograms.iter().flatten() {
            export::add_histogram(&mut per_point, (h.point, h.tier), &h.histogram, &mut problems);
        }
        problems.extend(export::write_plots_from(&results, report, per_point)?);
        for problem in problems {
            eprintln!("simrun: plot {problem}");
        }
        Ok(export::write_report(&results, report)?)
    };
    write().map_err(|e| Failure::infrastructure(anyhow!("writing the merged folder {}: {e:#}", out.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RemoteMember, Served};

    fn member(name: &str, slot: u32) -> RemoteMember {
        RemoteMember {
            name: name.into(),
            pool: "p".into(),
            served: Served::Devices { slot },
            host: "h".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            cpu: "c".into(),
            cores: 2,
            simrun: "0".into(),
        }
    }

    #[test]
    fn a_merged_run_lists_every_shards_remote_members_once() {
        let shard = |members: Vec<RemoteMember>| {
            let mut report = crate::report::test_report(1, &["0ms"], vec![]);
            report.manifest.remote_workers = members;
            RunFolder { path: "x".into(), report, scenario_yaml: String::new() }
        };
        let shards = [shard(vec![member("a", 1)]), shard(vec![member("a", 1), member("b", 2)])];
        let mut m = shards[0].report.manifest.clone();
        merged_manifest(&mut m, &shards, "simrun merge".into());
        let names: Vec<&str> = m.remote_workers.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(m.merged_from.len(), 2);
    }
}
