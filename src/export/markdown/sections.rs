//! The report's sections of prose around their tables: policies, results,
//! breakdown, accuracy, SLOs, floor, edge against cloud, network fidelity,
//! models, compute and device hosts.

use std::fmt::Write;

use super::tables::{self, FEW_SAMPLES};
use super::{ms, thousands};
use crate::export::table::{Align, Table};
use crate::plan::Tier;
use crate::report::{Report, PARITY_LIMIT};

/// The placements side by side, and which of them lead.
pub(super) fn policies(report: &Report, md: &mut String) {
    let placements = report.placements();
    md.push_str(
        "Each request once, as its device experienced it end to end, whichever tiers it went to. \"routes\" says \
         where requests went, in order (`edge>cloud`: the edge, then the cloud as well). \"answered by\" \
         is the share of measured requests whose answer came from each tier (the rest timed out or failed); \
         \"to the cloud\" counts every request that reached the cloud, answered or not, per second of the \
         measured window: what the cloud would bill. Each request's route and the reason for it are in \
         samples.csv (`route`, `answered_by`, `reason`).\n\n",
    );
    md.push_str(&tables::placements(report, &placements).markdown());
    // A run of policies alone says it in its Summary already.
    let compared = report.versus().iter().any(|v| v.faster.is_some());
    if let Some(ranking) = crate::report::Ranking::of(&placements).filter(|_| compared) {
        let _ = writeln!(md, "\n{}", super::summary::ranking_sentence(report, &placements, &ranking));
    }
    md.push_str(
        "\n`cascade` and `split` route by the data and the seed: another run routes the same requests the same \
         way. `offload` and `deadline` route by timing (the edge's queue, the cloud's lateness), so two runs can \
         route different requests (docs/policies.md).\n",
    );
}

/// How device energy was estimated: the radio, the edge's power, the battery.
fn energy_models(c: &crate::report::Costing, md: &mut String) {
    if let Some(radio) = &c.radio {
        md.push_str(
            "Device energy is estimated afterwards from what the run recorded (docs/energy.md): a request's \
             energy is what it adds to the device's idle draw. ",
        );
        if c.radio_free {
            let _ = write!(md, "Radio: `{radio}`, which costs nothing here (its radio and tail columns are 0). ");
        } else {
            let _ = write!(
                md,
                "Radio: `{radio}` ({}); a request crossing it pays a promotion when the radio was idle, its upload \
                 and download by the linear throughput model, the wait for its answer at the tail's power, and \
                 the tail after its answer until the device's next request or the tail's end (a device's last \
                 request pays its whole tail). ",
                c.radio_source.as_deref().unwrap_or("")
            );
        }
        match (&c.edge_power, c.edge_on_device) {
            (Some(p), true) => {
                let _ = write!(
                    md,
                    "The edge runs on the device ({p}): its compute (inference and held time) adds \
                     (active − idle) × threads ÷ cores; its requests use no radio. "
                );
            }
            _ => md.push_str("The edge is reached over the radio; its compute is not the device's. "),
        }
        if let Some(wh) = c.battery_wh {
            let _ = write!(
                md,
                "Battery life: {wh} Wh over the idle draw plus each device's offered rate × the mean energy. "
            );
        }
        md.push('\n');
    }
}

/// What a request cost the device and the operator, with the models it was costed with.
pub(super) fn energy_cost(report: &Report, plots: &[crate::export::plot::PlotKind], md: &mut String) {
    let Some(c) = &report.costing else { return };
    let rows = report.energy_rows();
    md.push_str("\n## Energy and cost\n\n");
    energy_models(c, md);
    if let Some(per_hour) = c.cloud_per_hour {
        let instance = c.cloud_instance.as_ref().map_or(String::new(), |i| format!("{i}, "));
        let _ = writeln!(
            md,
            "\nCost per million answered requests: the cloud's workers at {instance}{} an hour each over the \
             measured window, the bytes in and out and the messages (four per request, metered in 5 KB units) at \
             {}. Not included: storage, logging, reserved or spot discounts, free tiers{}.",
            tables::money(per_hour),
            c.price_source.as_deref().unwrap_or("the scenario's prices"),
            if c.edge_device.is_some() { "" } else { ", and the edge devices (give tiers.edge.cost)" }
        );
    }
    if let Some((price, days)) = c.edge_device {
        let _ = writeln!(md, "\nThe edge's cost is each device's {} spread over {days:.0} days.", tables::money(price));
    }
    if !rows.is_empty() {
        if report.manifest.repetitions > 1 {
            md.push_str(
                "\nThe table gives means over repetitions; the Energy line of the Summary compares each tier's \
                 median over repetitions of its mean.\n",
            );
        }
        md.push('\n');
        md.push_str(&tables::energy(report, &rows).markdown());
    }
    for kind in plots.iter().filter(|k| matches!(k, crate::export::plot::PlotKind::Energy)) {
        md.push('\n');
        super::embed(report, kind, md);
    }
    for sentence in super::summary::energy_sentences(report) {
        let _ = writeln!(md, "\n{sentence}");
    }
}

/// The Split points: per network condition, each cut's latency and parts.
pub(super) fn splits(report: &Report, plots: &[crate::export::plot::PlotKind], md: &mut String) {
    let tables = report.split_tables();
    if tables.is_empty() {
        return;
    }
    md.push_str("## Split points\n\n");
    md.push_str(
        "Each cut runs the model's head on the edge (slowed like any edge) and sends the tensor at the cut to the \
         cloud, which runs the tail and answers the device; `input` sends the input as it came, `output` answers on \
         the edge. Head, tail and the rest are means over the same answered requests and add up to the mean; the \
         rest is the links, the broker and the queues. Bytes sent: what the edge sent the cloud a request.\n",
    );
    if let Some(c) = report.split_check.filter(|c| c.cuts > 0) {
        let _ = writeln!(
            md,
            "\nBefore the run, head then tail reproduced the whole model at each of the {} cut(s) with a head and a \
             tail within {:.2e} on {} of the run's inputs (limit {:e}).",
            c.cuts,
            c.max_abs_diff,
            c.inputs,
            crate::report::PARITY_LIMIT
        );
    }
    for t in &tables {
        if !t.condition.is_empty() {
            let _ = writeln!(md, "\n### {}", crate::plan::params_label(&t.condition));
        }
        md.push('\n');
        md.push_str(&tables::split(t).markdown());
    }
    for kind in plots.iter().filter(|k| matches!(k, crate::export::plot::PlotKind::Split)) {
        md.push('\n');
        super::embed(report, kind, md);
    }
    for sentence in super::summary::split_sentences(report) {
        let _ = writeln!(md, "\nBest split: {sentence}");
    }
    md.push('\n');
}

/// Every summary's percentiles, with the † note when a row rests on few answers.
pub(super) fn results(report: &Report, md: &mut String) {
    let (table, few) = tables::results(report);
    md.push_str(&table.markdown());
    if few > 0 {
        let _ = writeln!(
            md,
            "\n† from {few} answered requests or fewer: with fewer than {FEW_SAMPLES}, p95 and p99 are among the \
             slowest few answers (often the maximum), not estimates of the tail; run longer or faster for a tail."
        );
    }
}

pub(super) fn aggregates(report: &Report, md: &mut String) {
    md.push_str(
        "Medians over repetitions, with distribution-free confidence intervals for the median (order statistics \
         of the per-repetition values; the coverage column gives each interval's exact coverage, below 95 % when \
         there are fewer than six repetitions).\n\n",
    );
    md.push_str(&tables::aggregates(report).markdown());
}

pub(super) fn breakdown(report: &Report, md: &mut String) {
    let emulated = report.summaries.iter().any(|s| s.breakdown_or_estimate().is_some_and(|b| b.held_us > 0.0));
    md.push_str(
        "Each answered request's latency splits into the worker's queue and inference times (it measures both), \
         the time a slowed tier held its slot after inference to compute as the slower device (compute \
         (emulated), `held_us`), and the rest, network: links, broker and client stacks \
         (`network = latency − queue − infer − held`). The means add up to the mean latency, and the plot \
         stacks them; the percentiles do not add up. Dispatch is how late the load generator sent requests \
         against their schedule (`sent − intended`). Request and response are the mean MQTT payload sizes, \
         which a link's bandwidth acts on.\n\n",
    );
    md.push_str(&tables::breakdown(report, emulated).markdown());
}

/// Each tier's share of right answers on the labelled rows it answered.
pub(super) fn accuracy(report: &Report, md: &mut String) {
    md.push_str(
        "Of the measured requests each tier answered `ok`, those that carried a labelled row, and the share whose \
         prediction (the top class, or a score of at least 0.5 for one output) was the label.\n\n",
    );
    md.push_str(&tables::accuracy(report).markdown());
}

pub(super) fn slos(report: &Report, md: &mut String) {
    if report.slos.is_empty() {
        md.push_str("None set (add an `slo:` list to the scenario to gate on them).\n");
        return;
    }
    let reps = if report.manifest.repetitions > 1 { " (median over repetitions)" } else { "" };
    let _ = writeln!(md, "Each objective is checked at every point, for each tier it names{reps}.\n");
    md.push_str(&tables::slos(report).markdown());
}

pub(super) fn floor(report: &Report, md: &mut String) {
    let Some(f) = report.floor else {
        md.push_str("Not measured (see the warnings).\n");
        return;
    };
    let shape = match (f.request_bytes, f.response_bytes, f.rate_hz) {
        (Some(req), Some(resp), Some(rate)) => format!(
            " of {} bytes, each answered with {} bytes (the size of the first point's requests and of a worker's \
             answer), at {rate:.0}/s",
            thousands(req),
            thousands(resp)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        md,
        "Before the sweep, {} messages{shape} echoed through the same broker at QoS {} (no links, no inference) \
         took {} ms at the median and {} ms at p99, measured from their intended send time ({} of {} answered). \
         This is what the broker and the client stacks alone cost a request like the run's, and it is part of \
         every latency above; it is not a lower bound of each percentile, since it was measured at another moment \
         of a shared host.{}",
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
    let below = report
        .summaries
        .iter()
        .filter_map(|s| s.latency.map(|l| (s, l.p50_us)))
        .filter(|(_, p50)| *p50 < f.round_trip.p50_us)
        .min_by_key(|(_, p50)| *p50);
    if let Some((s, p50)) = below {
        let _ = writeln!(
            md,
            "\nThe floor's median is above the {}'s p50 at {} ({} ms): the host was slower while the floor ran than \
             during that point, so the floor is a rough figure here.",
            s.tier,
            report.point_label(s.point),
            ms(p50)
        );
    }
}

pub(super) fn edge_cloud(report: &Report, md: &mut String) {
    if report.versus().is_empty() {
        if report.summaries.iter().any(|s| s.tier == Tier::Policy) {
            md.push_str(
                "Not compared here: under a routing policy each request goes where the policy decides, so each \
                 request has one latency, the policy's, and no point sent the same requests to both tiers. The \
                 Policies table above compares the policies with each other and with all-edge and all-cloud \
                 where the run placed requests that way.\n",
            );
        } else {
            md.push_str("Not available: this run did not place requests on both tiers at any point.\n");
        }
        return;
    }
    if report.manifest.repetitions > 1 {
        md.push_str(
            "Medians over repetitions; `faster` names a tier only where the intervals of the two medians do not \
             overlap.\n\n",
        );
    } else {
        let _ = writeln!(
            md,
            "`faster` names a tier only where the p50s differ by more than {} %; closer is a tie (with \
             repetitions, the intervals of the medians decide).\n",
            crate::stats::TIE_PCT
        );
    }
    md.push_str(&tables::edge_cloud(report).markdown());
}

fn describe_link(c: &crate::plan::LinkConfig) -> String {
    let d = |x: std::time::Duration| format!("{} ms", x.as_secs_f64() * 1e3);
    let mut parts = vec![match &c.trace {
        Some(t) => format!("trace {t}"),
        None => format!("{} one-way", d(c.latency)),
    }];
    if !c.jitter.is_zero() {
        let over = if c.jitter_timescale.is_zero() {
            "drawn per chunk".to_string()
        } else {
            format!("wandering over {}", d(c.jitter_timescale))
        };
        parts.push(format!("{} jitter {} {over}", c.distribution.as_str(), d(c.jitter)));
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

/// What the harness floor says a link's proxy hop costs; a negative
/// difference of the two echoes is noise, and said so.
fn hop_sentence(report: &Report) -> String {
    report.floor.and_then(|f| f.link_hop_us()).map_or(String::new(), |us| match us {
        1.. => format!(
            " The proxy hop itself added {us} µs to the harness floor's median round trip (measured before the \
             sweep, through a 0 ms link); it is in every tier's latency at every point, so what differs between \
             points is what their links add."
        ),
        _ => format!(
            " The proxy hop added no time the harness floor could resolve: the echo through a 0 ms link had a \
             median round trip {} µs below the straight echo's, which is run-to-run noise of the two echoes, \
             not a hop that saves time.",
            -us
        ),
    })
}

pub(super) fn fidelity(report: &Report, md: &mut String) {
    let hop = hop_sentence(report);
    let remote = if report.links.iter().any(|l| l.link.contains('@')) {
        " A link named `PART@NAME` ran in the process of remote worker or device host NAME, in front of its own \
         connections, on that host's network to the broker: the real network's latency comes on top of it, and \
         no one-way time is measured across hosts."
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "Every tier reaches the broker through a link at every point, a 0 ms one included (a remote tier when any \
         point delays it), and so do the devices when any point delays them.{hop}{remote}\n"
    );
    let shown: Vec<_> = report.links.iter().filter(|f| !f.config.is_transparent()).collect();
    if shown.is_empty() {
        md.push_str("No link delayed anything: every link was 0 ms.\n");
        return;
    }
    md.push_str(
        "Each link delays every chunk of bytes in each direction (up: towards the broker; down: from it). \
         Delay is the time from reading a chunk to releasing it; release error is how far from its due time the \
         timer released it (it aims early by its usual wake-up lag). Configured values describe the link's \
         distribution (100,000 seeded draws; for a trace, draws at evenly spaced times over its span, outages \
         left out); asked values are the delays the link drew (or its trace gave) for these very chunks, held \
         through outages, before order and bandwidth apply (with a jitter timescale the delay wanders, so a run \
         asks a sample of the distribution, and the achieved median is held against the asked one). 0 ms links \
         are left out.\n\n",
    );
    md.push_str(&fidelity_table(report, &shown).markdown());
    let _ = writeln!(
        md,
        "\nTolerances: a warning is raised when the achieved median delay differs from the configured one by more \
         than {} µs + 5 % (links without a bandwidth limit), when the release error p99 exceeds {} µs, or when the \
         achieved bandwidth is off the configured (or the trace's) by more than {:.0} %.",
        crate::stats::DELAY_TOLERANCE.as_micros(),
        crate::stats::RELEASE_ERROR_LIMIT.as_micros(),
        crate::stats::BANDWIDTH_TOLERANCE * 100.0
    );
}

/// One row per delaying link direction: configured, asked and achieved.
fn fidelity_table(report: &Report, shown: &[&crate::stats::LinkFidelity]) -> Table {
    let mut t = Table::new().columns(["point", "link", "dir", "configured"], Align::Left).columns(
        [
            "configured p50 / p99 (ms)",
            "asked p50 / p99 (ms)",
            "achieved mean / p50 / p99 (ms)",
            "release error p50 / p99 (µs)",
            "achieved bandwidth",
            "chunks",
        ],
        Align::Right,
    );
    for f in shown {
        let applied = f
            .applied
            .map(|a| format!("{:.3} / {} / {}", a.mean_us / 1e3, ms(a.p50_us), ms(a.p99_us)))
            .unwrap_or_else(|| "–".into());
        let err = f.release_error.map(|e| format!("{} / {}", e.p50_us, e.p99_us)).unwrap_or_else(|| "–".into());
        let asked = f.asked.map(|a| format!("{} / {}", ms(a.p50_us), ms(a.p99_us))).unwrap_or_else(|| "–".into());
        let bw = match (f.achieved_bps, f.asked_bps, f.config.trace.as_ref().is_some_and(|t| t.has_bandwidth)) {
            (Some(b), Some(a), true) => format!("{:.3} Mbit/s (asked {:.3})", b / 1e6, a / 1e6),
            (Some(b), _, _) => format!("{:.3} Mbit/s", b / 1e6),
            (None, _, _) => "–".into(),
        };
        let rep = if report.manifest.repetitions > 1 { format!(" rep {}", f.repetition) } else { String::new() };
        t.row(vec![
            format!("{}{rep}", f.point),
            f.link.clone(),
            f.direction.as_str().to_string(),
            describe_link(&f.config),
            format!("{} / {}", ms(f.configured.p50_us), ms(f.configured.p99_us)),
            asked,
            applied,
            err,
            bw,
            f.chunks.to_string(),
        ]);
    }
    t
}

/// Each tier's model, what devices sent, and the parity of the tiers' answers.
pub(super) fn models(report: &Report, md: &mut String) {
    let mut t = Table::new()
        .columns(["tier", "model", "input", "output"], Align::Left)
        .right("test inference (all inputs 0.5)")
        .left("SHA-256");
    for m in &report.manifest.models {
        t.row(vec![
            m.tier.to_string(),
            format!("`{}` ({} bytes)", m.path, m.bytes),
            format!("`{}` [{}]", m.input, m.input_shape.join(", ")),
            format!("`{}` [{}]", m.output, m.output_shape.join(", ")),
            format!("{:.4}", m.test_probability),
            format!("`{}…`", &m.sha256[..12.min(m.sha256.len())]),
        ]);
    }
    md.push_str(&t.markdown());
    if let Some(input) = &report.manifest.input {
        let _ = writeln!(md, "\nDevices sent {input}.");
    }
    if let Some((edge, cloud)) = report.different_models().filter(|_| report.parity.is_none()) {
        let _ = writeln!(
            md,
            "\nEdge/cloud parity: not checked: the tiers run different models (`{edge}`, `{cloud}`), so their \
             answers may differ; parity holds one model in two formats (the same file name) to the same answers."
        );
    }
    if let Some(p) = report.parity {
        let mark = |d: f32| if d <= PARITY_LIMIT { "✅" } else { "❌" };
        let _ = writeln!(
            md,
            "\nEdge/cloud parity: the largest difference over {} seeded random inputs was {:.2e} (limit {PARITY_LIMIT:e}) {}.",
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

/// What each tier computed as, with its fidelity and batching, when any tier was slowed or batched.
pub(super) fn compute(report: &Report, md: &mut String) {
    let slowed = report.summaries.iter().any(|s| s.slowdown.is_some());
    let batched = report.summaries.iter().any(|s| s.batch_mean.is_some());
    if slowed || batched || !report.manifest.compute.is_empty() {
        md.push_str("\n## Compute\n\n");
        for line in &report.manifest.compute {
            let _ = writeln!(md, "- {line}");
        }
        if !report.manifest.compute.is_empty() {
            md.push('\n');
        }
    }
    if slowed {
        md.push_str("### Compute fidelity\n\n");
        let _ = writeln!(
            md,
            "A tier with a `compute.slowdown` holds each slot after the inference call until the call's time × the \
             slowdown has passed. Achieved is (inference + held) ÷ inference per request; a hold is late when it \
             ended more than {} µs after its due end. ✅ when the achieved median is within {:.0} % of the \
             configured slowdown.\n",
            crate::stats::HELD_LATE_US,
            crate::report::SLOWDOWN_TOLERANCE * 100.0
        );
        md.push_str(&tables::compute_fidelity(report).markdown());
    }
    if batched {
        md.push_str("\n### Batching\n\n");
        let _ = writeln!(
            md,
            "A batching tier runs the requests that wait together as one inference call, once `max_batch` wait or \
             the oldest has waited `max_wait`. A request's queue time includes its wait for the batch to fill; \
             inference is the whole call's time.\n"
        );
        md.push_str(&tables::batching(report).markdown());
    }
}

/// Each device host's requests and samples over the run, when the devices
/// were shared with `simrun devices` processes.
pub(super) fn device_hosts(report: &Report, md: &mut String) {
    if report.device_hosts.is_empty() {
        return;
    }
    md.push_str("\n## Device hosts\n\n");
    md.push_str(
        "Each host sent its own devices' requests and settled them on its own clock; a request owes one sample \
         per tier (one under a routing policy).\n\n",
    );
    let mut t = Table::new()
        .columns(["Device host", "Host"], Align::Left)
        .columns(["Devices", "Requests sent", "Samples owed", "ok", "timeout", "error"], Align::Right)
        .left("Accounted");
    for h in &report.device_hosts {
        t.row(vec![
            h.name.clone(),
            format!("`{}`", h.host),
            h.devices.to_string(),
            h.sent.to_string(),
            h.expected.to_string(),
            h.ok.to_string(),
            h.timeouts.to_string(),
            h.errors.to_string(),
            (if h.accounted() { "yes" } else { "**no**" }).to_string(),
        ]);
    }
    md.push_str(&t.markdown());
}

/// `## Device groups`: each group's rows side by side at each point
/// execution, beside the row over every device (docs/scenario.md, Device groups).
pub(super) fn device_groups(report: &Report, md: &mut String) {
    if report.group_summaries.is_empty() {
        return;
    }
    md.push_str("\n## Device groups\n\n");
    md.push_str(
        "Each group's requests on their own, from the same samples as the rows over every device (`all`); \
         summary.csv holds the same rows with a `group` column.\n\n",
    );
    let mut t = Table::new()
        .left("Point")
        .columns(["Rep"], Align::Right)
        .columns(["Group", "Tier"], Align::Left)
        .columns(["Requests", "p50 (ms)", "p99 (ms)", "Throughput (req/s)", "Timeouts", "Errors"], Align::Right);
    let mut rows: Vec<&crate::stats::Summary> = report.summaries.iter().chain(&report.group_summaries).collect();
    rows.sort_by_key(|s| (s.point, s.repetition, s.tier, s.group.is_some()));
    for s in rows {
        t.row(vec![
            crate::plan::params_label(&s.params),
            s.repetition.to_string(),
            s.group.clone().unwrap_or_else(|| "all".into()),
            s.tier.to_string(),
            s.counts.requests.to_string(),
            super::opt_ms(s.latency.map(|l| l.p50_us)),
            super::opt_ms(s.latency.map(|l| l.p99_us)),
            format!("{:.1}", s.throughput_rps),
            s.counts.timeouts.to_string(),
            s.counts.errors.to_string(),
        ]);
    }
    md.push_str(&t.markdown());
}

/// The **Load** line: each group's devices, arrival process and offered
/// mean and peak rate.
pub(super) fn load_line(report: &Report, md: &mut String) {
    let range = |(low, high): (f64, f64)| {
        if (high - low).abs() < 1e-9 {
            format!("{}/s", crate::math::trimmed(low, 3))
        } else {
            format!("{}–{}/s", crate::math::trimmed(low, 3), crate::math::trimmed(high, 3))
        }
    };
    let parts: Vec<String> = report
        .loads
        .iter()
        .map(|l| {
            let devices = match l.devices {
                (a, b) if a == b => format!("{a}"),
                (a, b) => format!("{a}–{b}"),
            };
            let offered = match (l.mean_hz, l.peak_hz) {
                (Some(mean), Some(peak)) => {
                    format!(", offering {} on average and {} at peak", range(mean), range((peak, peak)))
                }
                _ => String::new(),
            };
            let name = if report.loads.len() > 1 || l.group != crate::plan::SINGLE_GROUP {
                format!("{}: ", l.group)
            } else {
                String::new()
            };
            format!("{name}{devices} device(s), {}{offered}", l.arrivals.join(" or "))
        })
        .collect();
    if !parts.is_empty() {
        let _ = writeln!(md, "**Load:** {}  ", parts.join("; "));
    }
}

/// How busy the host was over each point execution: all its cores, and the
/// CPU of the run's own parts, each a share of the host's capacity.
pub(super) fn host_cpu(report: &Report, md: &mut String) {
    let Some(first) = report.host_load.first() else { return };
    md.push_str("\n## Host CPU\n\n");
    let _ = writeln!(
        md,
        "How busy this host's {} cores were over each point execution (set-up and warmup included), from \
         `/proc`: each figure is a share of all cores over the execution's wall time, so 50 % is one core of two. \
         *Busiest second* is the busiest whole second's share; *other processes* is what the host's busy time \
         leaves after simrun's threads and the broker. Above {:.0} % on average the host was saturated, and a \
         warning names the point. Remote workers and device hosts run elsewhere and are not counted.\n",
        first.cores,
        crate::record::SATURATED_PCT
    );
    let mut names: Vec<String> = Vec::new();
    for p in report.host_load.iter().flat_map(|l| &l.parts) {
        if !names.contains(&p.name) {
            names.push(p.name.clone());
        }
    }
    let mut t = Table::new()
        .left("Point")
        .columns(["Rep", "Host busy", "Busiest second"], Align::Right)
        .columns(names.iter().map(String::as_str), Align::Right)
        .right("Other processes");
    let pct = |v: f64| format!("{v:.1} %");
    for l in &report.host_load {
        let mut row = vec![report.point_label(l.point), l.repetition.to_string()];
        let busy = if l.saturated() { format!("**{}**", pct(l.busy_pct)) } else { pct(l.busy_pct) };
        row.extend([busy, pct(l.peak_pct)]);
        for name in &names {
            let part = l.parts.iter().find(|p| &p.name == name);
            row.push(part.map_or_else(|| "–".into(), |p| pct(l.share_pct(p.cpu_s))));
        }
        row.push(pct(l.rest_pct()));
        t.row(row);
    }
    md.push_str(&t.markdown());
}
