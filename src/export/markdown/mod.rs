//! `report.md`: the human report, laid out like the results of M3b, the
//! reference experiment (docs/scenario.md). The conclusions are facts of
//! `report`; `summary.rs` words them, `tables.rs` builds the tables and
//! `sections.rs` writes the prose around them.

mod sections;
mod summary;
mod tables;

use std::fmt::Write;

pub use summary::{crossover_sentences, energy_sentences, finding, split_sentences};

use super::plot::{self, PlotKind};
use crate::plan::Tier;
use crate::record::Served;
use crate::report::Report;

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn opt_ms(us: Option<u64>) -> String {
    us.map(ms).unwrap_or_else(|| "–".into())
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Mean request and response sizes, `110,650 / 137`; `–` where unknown.
fn bytes_pair(request: Option<f64>, response: Option<f64>) -> String {
    let shown = |b: Option<f64>| b.map_or("–".to_string(), |b| thousands(b.round() as u64));
    format!("{} / {}", shown(request), shown(response))
}

/// `110650` as `110,650`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `![what it shows](plots/….svg)` on a line of its own.
fn embed(report: &Report, kind: &PlotKind, md: &mut String) {
    let _ = writeln!(md, "![{}]({})", kind.alt(report), kind.file());
}

/// The latency CDFs, one per point; folded away when there are more than two.
fn distributions(report: &Report, plots: &[PlotKind], md: &mut String) {
    let cdfs: Vec<&PlotKind> = plots.iter().filter(|k| matches!(k, PlotKind::Cdf { .. })).collect();
    if cdfs.is_empty() {
        return;
    }
    md.push_str("\n### Latency distributions\n\n");
    md.push_str("Each point's latency CDF over its repetitions, from the saved histograms; the marks are the p50 (filled) and the p99 (hollow).\n\n");
    let folded = cdfs.len() > 2;
    if folded {
        let _ = writeln!(md, "<details><summary>{} CDFs, one per point</summary>\n", cdfs.len());
    }
    for (i, kind) in cdfs.iter().enumerate() {
        if i > 0 {
            md.push('\n');
        }
        embed(report, kind, md);
    }
    if folded {
        md.push_str("\n</details>\n");
    }
}

/// The whole `report.md`.
pub fn report_md(report: &Report) -> String {
    let mut md = String::new();
    header(report, &mut md);
    let _ = writeln!(md, "## Summary\n\n{}\n", finding(report));
    for sentence in crossover_sentences(report) {
        let _ = writeln!(md, "**Crossover:** {sentence}\n");
    }
    for sentence in energy_sentences(report) {
        let _ = writeln!(md, "**Energy:** {sentence}\n");
    }
    for sentence in split_sentences(report) {
        let _ = writeln!(md, "**Split:** {sentence}\n");
    }
    let plots = if report.manifest.finished_at.is_some() { plot::plots_of(report) } else { Vec::new() };
    for kind in plots.iter().filter(|k| matches!(k, PlotKind::Latency { .. })) {
        embed(report, kind, &mut md);
        md.push('\n');
    }
    if !report.description.is_empty() {
        let _ = writeln!(md, "{}\n", report.description.trim());
    }
    if report.summaries.iter().any(|s| s.tier == Tier::Policy) {
        md.push_str("## Policies\n\n");
        sections::policies(report, &mut md);
        md.push('\n');
    }
    sections::splits(report, &plots, &mut md);
    md.push_str("## Model validation\n\n");
    sections::models(report, &mut md);
    results_part(report, &plots, &mut md);
    sections::energy_cost(report, &plots, &mut md);
    md.push_str("\n## Service-level objectives\n\n");
    sections::slos(report, &mut md);
    md.push_str("\n## Harness floor\n\n");
    sections::floor(report, &mut md);
    md.push_str("\n## Edge vs cloud\n\n");
    sections::edge_cloud(report, &mut md);
    md.push_str("\n## Network fidelity\n\n");
    sections::fidelity(report, &mut md);
    sections::compute(report, &mut md);
    sections::device_hosts(report, &mut md);
    sections::device_groups(report, &mut md);
    sections::host_cpu(report, &mut md);
    md.push_str("\n## Warnings\n\n");
    warnings_section(report, &mut md);
    md.push_str("\n## Environment\n\n");
    environment_section(&report.manifest, &mut md);
    md.push_str("\n## Reproduce\n\n");
    let _ = writeln!(md, "```\n{}\n```\n", report.manifest.command);
    let _ = writeln!(
        md,
        "or, with every override and default written out, `simrun run scenario.yaml` from this folder's copy."
    );
    md
}

/// The Results section: the table, repetitions, where the time goes, the
/// latency distributions and accuracy.
fn results_part(report: &Report, plots: &[PlotKind], md: &mut String) {
    md.push_str("\n## Results\n\n");
    md.push_str(
        "Latency runs from each request's intended send time to the arrival of its response, so a stalled \
         sender cannot hide its stall. Link latencies are one-way and apply in both directions: a round trip \
         through a 50ms link adds 100 ms. Only the measured window counts; warmup requests are in samples.csv only.\n\n",
    );
    sections::results(report, md);
    if report.manifest.repetitions > 1 {
        md.push_str("\n### Over repetitions\n\n");
        sections::aggregates(report, md);
    }
    md.push_str("\n### Where the time goes\n\n");
    sections::breakdown(report, md);
    for kind in plots.iter().filter(|k| matches!(k, PlotKind::Breakdown)) {
        md.push('\n');
        embed(report, kind, md);
    }
    distributions(report, plots, md);
    let over_time: Vec<&PlotKind> = plots.iter().filter(|k| matches!(k, PlotKind::Time { .. })).collect();
    if !over_time.is_empty() {
        md.push_str("\n### Over time\n\n");
        md.push_str(
            "Each request's latency at its intended send time (first repetition, measured window) where a link \
             replays a trace or has outages, with the one-way delay the link was asked for beneath and its \
             outages shaded.\n",
        );
        for kind in over_time {
            md.push('\n');
            embed(report, kind, md);
        }
    }
    if report.summaries.iter().any(|s| s.accuracy.is_some()) {
        md.push_str("\n### Accuracy\n\n");
        sections::accuracy(report, md);
    }
}

/// The title and the lines under it: status, time, run, shard, tiers.
fn header(report: &Report, md: &mut String) {
    let m = &report.manifest;
    let _ = writeln!(md, "# Results: {}\n", m.scenario);
    let _ = writeln!(md, "**Status:** {}  ", summary::status(&report.status()));
    let _ = writeln!(md, "**Completed:** {}  ", m.finished_at.as_deref().unwrap_or("not yet"));
    let wall = m.wall_time_s.map(|w| format!("{w:.1} s")).unwrap_or_else(|| "–".into());
    let _ = writeln!(
        md,
        "**Duration:** {wall} wall time for {:.1} s of scheduled load (warmup + measured)  ",
        m.scheduled_time_s
    );
    if let Some(r) = m.reuse.filter(|r| r.models_reused > 0) {
        let _ = writeln!(
            md,
            "**Reused across points:** loaded models ({} loaded for {} worker starts); devices, links and \
             worker connections are set up anew at each point  ",
            r.models_loaded,
            r.models_loaded + r.models_reused
        );
    }
    let _ = writeln!(
        md,
        "**Run:** `{}`, {} of {} point executions  ",
        m.run_id,
        report.executions_done(),
        report.executions_planned
    );
    if let Some(shard) = report.shard {
        let _ =
            writeln!(md, "**Shard:** {shard}, {} of the plan's {} points  ", report.points.len(), report.plan_points);
    }
    if !m.merged_from.is_empty() {
        let shards: Vec<String> = m
            .merged_from
            .iter()
            .map(|s| {
                let floor = s.floor.floor_p50_us.map_or(String::new(), |f| format!(", floor p50 {f} µs"));
                format!("`{}` ({}{floor})", s.run_id, s.shard.as_deref().unwrap_or("whole plan"))
            })
            .collect();
        let _ = writeln!(md, "**Merged from:** {} (the harness floor below is the first shard's)  ", shards.join(", "));
    }
    tiers_sentence(report, md);
    sections::load_line(report, md);
    md.push('\n');
}

/// The **Tiers** line: what each tier ran, and where: all on this host, or
/// some on remote workers (with or without an emulated link).
fn tiers_sentence(report: &Report, md: &mut String) {
    let m = &report.manifest;
    let remote: Vec<crate::plan::Tier> = report.tiers.iter().map(|t| t.tier).filter(|t| remote_tier(m, *t)).collect();
    if !report.tiers.is_empty() && remote.is_empty() {
        let differ = tiers_differ(report);
        let _ = writeln!(
            md,
            "**Tiers:** {}; every tier computed on this host's CPU ({}, {} cores){differ}  ",
            tiers_line(report),
            m.host.cpu,
            m.host.cores,
        );
    } else if !report.tiers.is_empty() {
        let names: Vec<String> = remote.iter().map(|t| format!("the {t} tier")).collect();
        // A remote worker's link is named `<tier>@<worker>`.
        let emulated: Vec<String> = remote
            .iter()
            .filter(|t| report.links.iter().any(|l| l.link.starts_with(&format!("{t}@"))))
            .map(|t| format!("the {t} tier's"))
            .collect();
        let network = if emulated.is_empty() {
            "a real network to the broker and no emulated link".to_string()
        } else {
            format!(
                "a real network to the broker, and {} link emulated in each worker's process on top of it",
                emulated.join(" and ")
            )
        };
        let _ = writeln!(
            md,
            "**Tiers:** {}; {} ran on remote `simrun worker` processes (Environment lists their hosts), with \
             {network}; the rest computed on this host's CPU ({}, {} cores)  ",
            tiers_line(report),
            names.join(" and "),
            m.host.cpu,
            m.host.cores
        );
    }
}

/// Each tier's model, runtime and workers.
/// `, so only the links and the models differ between them`: what differs
/// between tiers that all computed on this host, or nothing for one tier.
fn tiers_differ(report: &Report) -> String {
    let slowed = report.summaries.iter().any(|s| s.held.is_some());
    let mut differ = vec!["the links".to_string()];
    if slowed {
        differ.push("each tier's `compute.slowdown`".into());
    }
    if report.tiers.windows(2).any(|w| w[0].workers != w[1].workers) {
        differ.push("the worker counts".into());
    }
    if report.tiers.windows(2).any(|w| w[0].model != w[1].model) {
        differ.push("the models".into());
    }
    match (report.tiers.len(), differ.len()) {
        (0 | 1, _) => String::new(),
        (_, 1) => ", so only the links differ between them (the same model on each)".to_string(),
        _ => format!(", so only {} differ between them", join_and(&differ)),
    }
}

fn tiers_line(report: &Report) -> String {
    let tiers: Vec<String> = report
        .tiers
        .iter()
        .map(|t| {
            let w = match t.workers {
                (1, 1) => "1 worker".to_string(),
                (a, b) if a == b => format!("{a} workers"),
                (a, b) => format!("{a}–{b} workers"),
            };
            let remote = if remote_tier(&report.manifest, t.tier) { " of a remote pool" } else { "" };
            format!("{} `{}` in {} on {w}{remote}", t.tier, t.model, t.runtime)
        })
        .collect();
    tiers.join("; ")
}

/// Whether remote pool workers served `tier` in this run.
fn remote_tier(m: &crate::report::Manifest, tier: crate::plan::Tier) -> bool {
    m.remote_workers.iter().any(|w| w.tier() == Some(tier))
}

/// One line per remote worker and device host, and what their clocks are used for.
fn remote_workers(m: &crate::report::Manifest, md: &mut String) {
    if m.remote_workers.is_empty() {
        return;
    }
    let (hosts, workers): (Vec<_>, Vec<_>) = m.remote_workers.iter().partition(|w| w.tier().is_none());
    if !workers.is_empty() {
        let _ = writeln!(md, "- **Remote workers** (`simrun worker`, as each announced itself):");
    }
    for w in workers {
        let Served::Worker { tier, model, sha256, onnxruntime, compute } = &w.served else { continue };
        let compute = compute.as_deref().map_or(String::new(), |c| format!(", {c}"));
        let sha: String = sha256.chars().take(12).collect();
        let _ = writeln!(
            md,
            "  - `{}` (pool `{}`, {tier}): host `{}`, {} {}, {} ({} cores), simrun {}, ONNX Runtime {onnxruntime}, \
             model `{model}` (`{sha}…`){compute}",
            w.name, w.pool, w.host, w.os, w.arch, w.cpu, w.cores, w.simrun
        );
    }
    if !hosts.is_empty() {
        let _ = writeln!(md, "- **Device hosts** (`simrun devices`; this run is slot 0):");
    }
    for h in &hosts {
        let Served::Devices { slot } = h.served else { continue };
        let _ = writeln!(
            md,
            "  - `{}` (pool `{}`, slot {slot}, host `{}`): {} {}, {} ({} cores), simrun {}",
            h.name, h.pool, h.host, h.os, h.arch, h.cpu, h.cores, h.simrun
        );
    }
    let devices = if hosts.is_empty() {
        "the devices' own clock (this host)"
    } else {
        "the clock of the host that ran the device (this one, or its device host; each host settles its own \
         devices' requests)"
    };
    let _ = writeln!(
        md,
        "- **Clocks:** latency runs from send to answer on {devices}; a remote worker's queue and inference times \
         are durations on its own clock. No time is compared across hosts, so none needs synchronised clocks, and \
         no one-way time is reported."
    );
}

fn warnings_section(report: &Report, md: &mut String) {
    let warnings = report.all_warnings();
    if warnings.is_empty() {
        md.push_str("None: every measured request was answered in time, without errors.\n");
    }
    for w in warnings {
        let _ = writeln!(md, "- {w}");
    }
}

fn environment_section(m: &crate::report::Manifest, md: &mut String) {
    let h = &m.host;
    let _ = writeln!(md, "- **OS:** {} (kernel {})", h.os, h.kernel);
    let _ = writeln!(md, "- **Architecture:** {}", h.arch);
    let _ = writeln!(md, "- **CPU:** {} ({} cores available)", h.cpu, h.cores);
    let managed = if m.broker_managed {
        ", started by simrun for this run with `set_tcp_nodelay true` and stopped at its end (`broker.url: auto`)"
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "- **Broker:** {} at `{}`{managed}",
        m.broker_version.as_deref().unwrap_or("version not reported"),
        m.broker_url
    );
    remote_workers(m, md);
    let _ = writeln!(
        md,
        "- **ONNX Runtime:** {} (`{}`, ort {})",
        m.onnxruntime_version, m.onnxruntime_library, m.ort_crate_version
    );
    let _ = writeln!(
        md,
        "- **candle:** {} (RAYON_NUM_THREADS={})",
        m.candle_version,
        m.rayon_num_threads.as_deref().unwrap_or("unset")
    );
    let _ = writeln!(md, "- **MQTT client:** rumqttc {}", m.rumqttc_version);
    let _ = writeln!(md, "- **simrun:** {} (git {})", m.simrun_version, m.git_commit);
    let _ = writeln!(md, "- **Seed:** {}, repetitions: {}", m.seed, m.repetitions);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_sizes_read_in_thousands() {
        assert_eq!(bytes_pair(Some(110_650.4), Some(137.0)), "110,650 / 137");
        assert_eq!(bytes_pair(None, Some(1_000_000.0)), "– / 1,000,000");
        assert_eq!(thousands(999), "999");
    }
    use crate::report::test_report as report;
    use crate::stats::test_summary;

    fn summary_and_table(r: &Report) -> String {
        let mut table = String::new();
        sections::edge_cloud(r, &mut table);
        format!("status: {}\n\n{}\n\n{table}", summary::status(&r.status()), finding(r))
    }

    #[test]
    fn a_radio_that_costs_nothing_is_not_described_as_charging() {
        let mut r = report(2, &["5ms"], vec![test_summary(0, 0, Tier::Edge, Some(420))]);
        r.costing =
            Some(crate::report::Costing { radio: Some("ethernet".into()), radio_free: true, ..Default::default() });
        let mut md = String::new();
        sections::energy_cost(&r, &[], &mut md);
        assert!(md.contains("Radio: `ethernet`, which costs nothing here"), "{md}");
        assert!(!md.contains("pays a promotion"), "{md}");
        r.costing = Some(crate::report::Costing { radio: Some("lte".into()), ..Default::default() });
        let mut md = String::new();
        sections::energy_cost(&r, &[], &mut md);
        assert!(md.contains("pays a promotion when the radio was idle"), "{md}");
    }

    #[test]
    fn one_point_is_named_once() {
        let r = report(
            1,
            &["5ms"],
            vec![test_summary(0, 0, Tier::Edge, Some(420)), test_summary(0, 0, Tier::Cloud, Some(10_470))],
        );
        insta::assert_snapshot!("one_point", summary_and_table(&r));
    }

    #[test]
    fn a_tier_that_timed_out_completely_is_shown_and_fails_the_report() {
        let r = report(
            1,
            &["0ms", "20ms"],
            vec![
                test_summary(0, 0, Tier::Edge, Some(450)),
                test_summary(0, 0, Tier::Cloud, Some(700)),
                test_summary(1, 0, Tier::Edge, Some(460)),
                test_summary(1, 0, Tier::Cloud, None),
            ],
        );
        insta::assert_snapshot!("cloud_timed_out", summary_and_table(&r));
    }

    #[test]
    fn close_medians_are_a_tie() {
        let r = report(
            1,
            &["0ms"],
            vec![test_summary(0, 0, Tier::Edge, Some(481)), test_summary(0, 0, Tier::Cloud, Some(486))],
        );
        insta::assert_snapshot!("tie", summary_and_table(&r));
    }

    #[test]
    fn repetitions_quote_medians_in_one_row_per_point() {
        let mut s = Vec::new();
        for (rep, (edge, cloud)) in [(480, 41_000), (470, 42_000), (520, 40_000)].into_iter().enumerate() {
            s.push(test_summary(0, rep as u32, Tier::Edge, Some(edge)));
            s.push(test_summary(0, rep as u32, Tier::Cloud, Some(cloud)));
        }
        let r = report(3, &["20ms"], s);
        insta::assert_snapshot!("repetitions", summary_and_table(&r));
    }
}
