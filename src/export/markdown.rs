//! `report.md`: the human report, in the manner of the seed's M3b results.

use std::fmt::Write;

use crate::plan::Tier;
use crate::report::Report;
use crate::stats::Summary;

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn opt_ms(us: Option<u64>) -> String {
    us.map(ms).unwrap_or_else(|| "–".into())
}

fn point_label(report: &Report, point: usize) -> String {
    let params = report.points.iter().find(|p| p.index == point).map(|p| &p.params);
    match params {
        Some(p) if !p.is_empty() => p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
        _ => "the base scenario".into(),
    }
}

/// `(point, repetition, edge p50, cloud p50)` where both tiers have a p50.
fn pairs(report: &Report) -> Vec<(usize, u32, &Summary, &Summary)> {
    report
        .summaries
        .iter()
        .filter(|s| s.tier == Tier::Edge)
        .filter_map(|e| report.summary(e.point, e.repetition, Tier::Cloud).map(|c| (e.point, e.repetition, e, c)))
        .filter(|(_, _, e, c)| e.latency.is_some() && c.latency.is_some())
        .collect()
}

fn range_ms(values: impl Iterator<Item = u64>) -> String {
    let v: Vec<u64> = values.collect();
    match (v.iter().min(), v.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => format!("{} ms", ms(*lo)),
        (Some(lo), Some(hi)) => format!("{}–{} ms", ms(*lo), ms(*hi)),
        _ => "no successful requests".into(),
    }
}

/// The two-sentence finding.
pub fn finding(report: &Report) -> String {
    let p50 = |s: &Summary| s.latency.map(|l| l.p50_us).unwrap_or(0);
    let both = pairs(report);
    if !both.is_empty() {
        let edge_faster = both.iter().filter(|(_, _, e, c)| p50(e) < p50(c)).count();
        let ratio = |(_, _, e, c): &(usize, u32, &Summary, &Summary)| p50(c) as f64 / p50(e).max(1) as f64;
        let lo = both.iter().min_by(|a, b| ratio(a).total_cmp(&ratio(b))).expect("not empty");
        let hi = both.iter().max_by(|a, b| ratio(a).total_cmp(&ratio(b))).expect("not empty");
        let verdict = match edge_faster {
            n if n == both.len() => "the edge answered faster at every point".to_string(),
            0 => "the cloud answered faster at every point".to_string(),
            n => format!("the edge answered faster at {n} of {} points", both.len()),
        };
        return format!(
            "Edge p50 latency was {} and cloud p50 {}; {verdict}. The cloud's p50 was {:.1}× the edge's at {} and {:.1}× at {}.",
            range_ms(both.iter().map(|(_, _, e, _)| p50(e))),
            range_ms(both.iter().map(|(_, _, _, c)| p50(c))),
            ratio(lo),
            point_label(report, lo.0),
            ratio(hi),
            point_label(report, hi.0),
        );
    }
    let tiers: Vec<Tier> = Tier::ALL.into_iter().filter(|t| report.summaries.iter().any(|s| s.tier == *t)).collect();
    match tiers.as_slice() {
        [tier] => format!(
            "Only the {tier} tier ran, with p50 latency {} over {} point executions. No edge-versus-cloud comparison was made.",
            range_ms(report.summaries.iter().filter_map(|s| s.latency.map(|l| l.p50_us))),
            report.summaries.len()
        ),
        _ => "No point finished with successful requests on both tiers, so there is no edge-versus-cloud finding.".into(),
    }
}

fn status(report: &Report) -> String {
    let (failed, checks) = report.slo_failures();
    let slo = (failed > 0).then(|| format!("❌ SLO FAILED ({failed} of {checks} checks)"));
    match (report.complete(), slo) {
        (false, Some(slo)) => format!("⏸ PARTIAL, {slo}"),
        (false, None) => "⏸ PARTIAL".into(),
        (true, Some(slo)) => slo,
        (true, None) if report.all_warnings().is_empty() => "✅ SUCCESS".into(),
        (true, None) => "⚠️ COMPLETED WITH WARNINGS".into(),
    }
}

fn slo_section(report: &Report, md: &mut String) {
    if report.slos.is_empty() {
        md.push_str("None set (add an `slo:` list to the scenario to gate on them).\n");
        return;
    }
    let reps = if report.manifest.repetitions > 1 { " (median over repetitions)" } else { "" };
    let _ = writeln!(md, "Each objective is checked at every point, for each tier it names{reps}.\n");
    let (head, rule) = param_header(report);
    let _ = writeln!(md, "{head} tier | objective | measured | |");
    let _ = writeln!(md, "{rule}---|---|---:|---|");
    for c in report.slo_checks() {
        let slo = &report.slos[c.slo];
        let params = report.points.iter().find(|p| p.index == c.point).map(|p| p.params.clone()).unwrap_or_default();
        let _ = writeln!(
            md,
            "{} {} | {} | {} | {} |",
            point_cells(report, c.point, &params),
            c.tier,
            slo.objective(),
            c.measured.map_or("no successful request".into(), |v| slo.metric.format(v)),
            if c.passed { "✅" } else { "❌" }
        );
    }
}

fn param_header(report: &Report) -> (String, String) {
    let mut head = String::from("|");
    let mut rule = String::from("|");
    for k in &report.swept_keys {
        let _ = write!(head, " {k} |");
        rule.push_str("---|");
    }
    if report.swept_keys.is_empty() {
        head.push_str(" point |");
        rule.push_str("---|");
    }
    (head, rule)
}

fn param_cells(report: &Report, s: &Summary) -> String {
    point_cells(report, s.point, &s.params)
}

/// The leading cells of a row: the swept values, or the point index without a sweep.
fn point_cells(report: &Report, point: usize, params: &[(String, String)]) -> String {
    if report.swept_keys.is_empty() {
        return format!("| {point} |");
    }
    let mut out = String::from("|");
    for k in &report.swept_keys {
        let v = params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
        let _ = write!(out, " {v} |");
    }
    out
}

fn results_table(report: &Report, md: &mut String) {
    let (head, rule) = param_header(report);
    let rep = if report.manifest.repetitions > 1 { " rep |" } else { "" };
    let rep_rule = if report.manifest.repetitions > 1 { "---|" } else { "" };
    let _ = writeln!(
        md,
        "{head}{rep} tier | requests | p50 (ms) | p95 (ms) | p99 (ms) | throughput (req/s) | timeouts | errors |"
    );
    let _ = writeln!(md, "{rule}{rep_rule}---|---:|---:|---:|---:|---:|---:|---:|");
    for s in &report.summaries {
        let l = s.latency;
        let rep = if report.manifest.repetitions > 1 { format!(" {} |", s.repetition) } else { String::new() };
        let _ = writeln!(
            md,
            "{}{rep} {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            param_cells(report, s),
            s.tier,
            s.requests,
            opt_ms(l.map(|l| l.p50_us)),
            opt_ms(l.map(|l| l.p95_us)),
            opt_ms(l.map(|l| l.p99_us)),
            s.throughput_rps,
            s.timeouts,
            s.errors
        );
    }
}

fn aggregate_table(report: &Report, md: &mut String) {
    md.push_str(
        "Medians over repetitions, with distribution-free confidence intervals for the median (order statistics \
         of the per-repetition values; the coverage column gives each interval's exact coverage, below 95 % when \
         there are fewer than six repetitions).\n\n",
    );
    let (head, rule) = param_header(report);
    let _ =
        writeln!(md, "{head} tier | reps | p50 (ms) | p50 interval (ms) | p99 (ms) | p99 interval (ms) | coverage |");
    let _ = writeln!(md, "{rule}---|---:|---:|---:|---:|---:|---:|");
    for a in crate::stats::aggregate(&report.summaries) {
        let v = |x: Option<f64>| x.map(|us| format!("{:.3}", us / 1e3)).unwrap_or_else(|| "–".into());
        let i = |x: Option<crate::stats::Interval>| {
            x.map(|i| format!("{:.3}–{:.3}", i.low / 1e3, i.high / 1e3)).unwrap_or_else(|| "–".into())
        };
        let cells = point_cells(report, a.point, &a.params);
        let _ = writeln!(
            md,
            "{cells} {} | {} | {} | {} | {} | {} | {} |",
            a.tier,
            a.repetitions,
            v(a.p50_us),
            i(a.p50_ci),
            v(a.p99_us),
            i(a.p99_ci),
            a.p50_ci.map(|i| format!("{:.1} %", i.coverage * 100.0)).unwrap_or_else(|| "–".into())
        );
    }
}

fn breakdown_table(report: &Report, md: &mut String) {
    md.push_str(
        "Each answered request's latency splits into the worker's queue and inference times (it measures both) \
         and the rest, network: links, broker and client stacks (`network = latency − queue − infer`). Dispatch \
         is how late the load generator sent requests against their schedule (`sent − intended`).\n\n",
    );
    let (head, rule) = param_header(report);
    let rep = if report.manifest.repetitions > 1 { " rep |" } else { "" };
    let rep_rule = if report.manifest.repetitions > 1 { "---|" } else { "" };
    let _ = writeln!(
        md,
        "{head}{rep} tier | network p50 / p99 (ms) | queue p50 / p99 (ms) | inference p50 / p99 (ms) | dispatch p50 / p99 (ms) |"
    );
    let _ = writeln!(md, "{rule}{rep_rule}---|---:|---:|---:|---:|");
    let pair = |p: Option<crate::stats::Percentiles>| {
        p.map(|p| format!("{} / {}", ms(p.p50_us), ms(p.p99_us))).unwrap_or_else(|| "–".into())
    };
    for s in &report.summaries {
        let rep = if report.manifest.repetitions > 1 { format!(" {} |", s.repetition) } else { String::new() };
        let _ = writeln!(
            md,
            "{}{rep} {} | {} | {} | {} | {} |",
            param_cells(report, s),
            s.tier,
            pair(s.network),
            pair(s.queue),
            pair(s.infer),
            pair(s.dispatch)
        );
    }
}

fn floor_section(report: &Report, md: &mut String) {
    match report.floor {
        Some(f) => {
            let _ = writeln!(
                md,
                "Before the sweep, {} messages echoed through the same broker at QoS {} (no links, no inference) took \
                 {} ms at the median and {} ms at p99, measured from their intended send time ({} of {} answered). \
                 Every latency above includes at least this much.{}",
                f.sent,
                f.qos,
                ms(f.round_trip.p50_us),
                ms(f.round_trip.p99_us),
                f.answered,
                f.sent,
                f.through_link.map_or(String::new(), |l| format!(
                    " Through a 0 ms link, as every tier's workers are: {} ms at the median and {} ms at p99.",
                    ms(l.p50_us),
                    ms(l.p99_us)
                ))
            );
        }
        None => md.push_str("Not measured (see the warnings).\n"),
    }
}

fn comparison_table(report: &Report, md: &mut String) {
    let both = pairs(report);
    if both.is_empty() {
        md.push_str("Not available: this run did not have both tiers answering at any point.\n");
        return;
    }
    let (head, rule) = param_header(report);
    let _ = writeln!(md, "{head} edge p50 (ms) | cloud p50 (ms) | cloud/edge p50 | edge p99 (ms) | cloud p99 (ms) | cloud/edge p99 | faster |");
    let _ = writeln!(md, "{rule}---:|---:|---:|---:|---:|---:|---|");
    for (_, _, e, c) in both {
        let (el, cl) = (e.latency.expect("filtered"), c.latency.expect("filtered"));
        let faster = if el.p50_us <= cl.p50_us { "edge" } else { "cloud" };
        let _ = writeln!(
            md,
            "{} {} | {} | {:.1}× | {} | {} | {:.1}× | {faster} |",
            param_cells(report, e),
            ms(el.p50_us),
            ms(cl.p50_us),
            cl.p50_us as f64 / el.p50_us.max(1) as f64,
            ms(el.p99_us),
            ms(cl.p99_us),
            cl.p99_us as f64 / el.p99_us.max(1) as f64,
        );
    }
}

fn describe_link(c: &crate::plan::LinkConfig) -> String {
    let d = |x: std::time::Duration| format!("{} ms", x.as_secs_f64() * 1e3);
    let mut parts = vec![format!("{} one-way", d(c.latency))];
    if !c.jitter.is_zero() {
        parts.push(format!("{} jitter {}", c.distribution.as_str(), d(c.jitter)));
    }
    if let Some(b) = c.bandwidth_bps {
        parts.push(format!("{:.3} Mbit/s", b / 1e6));
    }
    for o in &c.outages {
        let mode = match o.mode {
            crate::plan::OutageMode::Blackhole => "blackhole",
            crate::plan::OutageMode::Reset => "reset",
        };
        parts.push(format!("{mode} outage at {} for {}", d(o.at), d(o.duration)));
    }
    parts.join(", ")
}

fn fidelity_table(report: &Report, md: &mut String) {
    let hop = report.floor.and_then(|f| f.link_hop_us()).map_or(String::new(), |us| {
        format!(
            " The proxy hop itself added {us:+} µs to the harness floor's median round trip (measured before the \
             sweep, through a 0 ms link); it is in every tier's latency at every point, so what differs between \
             points is what their links add."
        )
    });
    let _ = writeln!(
        md,
        "Every tier reaches the broker through a link at every point, a 0 ms one included, and so do the devices \
         when any point delays them.{hop}\n"
    );
    let shown: Vec<_> = report.links.iter().filter(|f| !f.config.is_transparent()).collect();
    if shown.is_empty() {
        md.push_str("No link delayed anything: every link was 0 ms.\n");
        return;
    }
    md.push_str(
        "Each link delays every chunk of bytes in each direction (up: towards the broker; down: from it). \
         Delay is the time from reading a chunk to releasing it; release error is how far from its due time the \
         timer released it (it aims early by its usual wake-up lag). Configured values are drawn from the link's \
         distribution before order, bandwidth and outages apply. 0 ms links are left out.\n\n",
    );
    let _ = writeln!(
        md,
        "| point | link | dir | configured | configured p50 / p99 (ms) | achieved mean / p50 / p99 (ms) | release error p50 / p99 (µs) | achieved bandwidth | chunks |"
    );
    let _ = writeln!(md, "|---|---|---|---|---:|---:|---:|---:|---:|");
    for f in shown {
        let applied = f
            .applied
            .map(|a| format!("{:.3} / {} / {}", a.mean_us / 1e3, ms(a.p50_us), ms(a.p99_us)))
            .unwrap_or_else(|| "–".into());
        let err = f.release_error.map(|e| format!("{} / {}", e.p50_us, e.p99_us)).unwrap_or_else(|| "–".into());
        let bw = f.achieved_bps.map(|b| format!("{:.3} Mbit/s", b / 1e6)).unwrap_or_else(|| "–".into());
        let rep = if report.manifest.repetitions > 1 { format!(" rep {}", f.repetition) } else { String::new() };
        let _ = writeln!(
            md,
            "| {}{rep} | {} | {} | {} | {} / {} | {applied} | {err} | {bw} | {} |",
            f.point,
            f.link,
            f.direction.as_str(),
            describe_link(&f.config),
            ms(f.configured.p50_us),
            ms(f.configured.p99_us),
            f.chunks
        );
    }
    let _ = writeln!(
        md,
        "\nTolerances: a warning is raised when the achieved median delay differs from the configured one by more \
         than {} µs + 5 % (links without bandwidth limit or outages), when the release error p99 exceeds {} µs, or \
         when the achieved bandwidth is off by more than {:.0} %.",
        crate::stats::DELAY_TOLERANCE.as_micros(),
        crate::stats::RELEASE_ERROR_LIMIT.as_micros(),
        crate::stats::BANDWIDTH_TOLERANCE * 100.0
    );
}

fn model_section(report: &Report, md: &mut String) {
    let _ = writeln!(md, "| tier | model | input | output | test inference (all features 0.5) | SHA-256 |");
    let _ = writeln!(md, "|---|---|---|---|---:|---|");
    for m in &report.manifest.models {
        let _ = writeln!(
            md,
            "| {} | `{}` ({} bytes) | `{}` [{}] | `{}` [{}] | {:.4} | `{}…` |",
            m.tier,
            m.path,
            m.bytes,
            m.input,
            m.input_shape.join(", "),
            m.output,
            m.output_shape.join(", "),
            m.test_probability,
            &m.sha256[..12.min(m.sha256.len())]
        );
    }
    if let Some(p) = report.parity {
        let mark = |d: f32| if d <= 1e-5 { "✅" } else { "❌" };
        let _ = writeln!(
            md,
            "\nEdge/cloud parity: the largest difference over {} seeded random inputs was {:.2e} (limit 1e-5) {}.",
            p.inputs,
            p.max_abs_diff,
            mark(p.max_abs_diff)
        );
        if let Some(live) = p.live_max_abs_diff {
            let _ = writeln!(
                md,
                "During the run, {} requests answered by both tiers differed by at most {:.2e} {}.",
                p.live_pairs,
                live,
                mark(live)
            );
        }
    }
}

/// The whole `report.md`.
pub fn report_md(report: &Report) -> String {
    let m = &report.manifest;
    let mut md = String::new();
    let _ = writeln!(md, "# Results: {}\n", m.scenario);
    let _ = writeln!(md, "**Status:** {}  ", status(report));
    let _ = writeln!(md, "**Completed:** {}  ", m.finished_at.as_deref().unwrap_or("not yet"));
    let wall = m.wall_time_s.map(|w| format!("{w:.1} s")).unwrap_or_else(|| "–".into());
    let _ = writeln!(
        md,
        "**Duration:** {wall} wall time for {:.1} s of scheduled load (warmup + measured)  ",
        m.scheduled_time_s
    );
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
                let floor = s.floor_p50_us.map_or(String::new(), |f| format!(", floor p50 {f} µs"));
                format!("`{}` ({}{floor})", s.run_id, s.shard.as_deref().unwrap_or("whole plan"))
            })
            .collect();
        let _ = writeln!(md, "**Merged from:** {} (the harness floor below is the first shard's)  ", shards.join(", "));
    }
    md.push('\n');
    let _ = writeln!(md, "## Summary\n\n{}\n", finding(report));
    if !report.description.is_empty() {
        let _ = writeln!(md, "{}\n", report.description.trim());
    }
    md.push_str("## Model validation\n\n");
    model_section(report, &mut md);
    md.push_str("\n## Results\n\n");
    md.push_str(
        "Latency runs from each request's intended send time to the arrival of its response, so a stalled \
         sender cannot hide its stall. Link latencies are one-way and apply in both directions: a round trip \
         through a 50ms link adds 100 ms. Only the measured window counts; warmup requests are in samples.csv only.\n\n",
    );
    results_table(report, &mut md);
    if report.manifest.repetitions > 1 {
        md.push_str("\n### Over repetitions\n\n");
        aggregate_table(report, &mut md);
    }
    md.push_str("\n### Where the time goes\n\n");
    breakdown_table(report, &mut md);
    md.push_str("\n## Service-level objectives\n\n");
    slo_section(report, &mut md);
    md.push_str("\n## Harness floor\n\n");
    floor_section(report, &mut md);
    md.push_str("\n## Edge vs cloud\n\n");
    comparison_table(report, &mut md);
    md.push_str("\n## Network fidelity\n\n");
    fidelity_table(report, &mut md);
    md.push_str("\n## Warnings\n\n");
    let warnings = report.all_warnings();
    if warnings.is_empty() {
        md.push_str("None: every measured request was answered in time, without errors.\n");
    }
    for w in warnings {
        let _ = writeln!(md, "- {w}");
    }
    md.push_str("\n## Environment\n\n");
    let h = &m.host;
    let _ = writeln!(md, "- **OS:** {} (kernel {})", h.os, h.kernel);
    let _ = writeln!(md, "- **Architecture:** {}", h.arch);
    let _ = writeln!(md, "- **CPU:** {} ({} cores available)", h.cpu, h.cores);
    let _ = writeln!(
        md,
        "- **Broker:** {} at `{}`",
        m.broker_version.as_deref().unwrap_or("version not reported"),
        m.broker_url
    );
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
    md.push_str("\n## Reproduce\n\n");
    let _ = writeln!(md, "```\n{}\n```\n", m.command);
    let _ = writeln!(
        md,
        "or, with every override and default written out, `simrun run scenario.yaml` from this folder's copy."
    );
    md
}
