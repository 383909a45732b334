//! `simrun run`: the sweep loop. Checks, then runs every point execution,
//! writing results after each so that a failure later loses nothing.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use super::failure::{Failure, Signal};
use super::preflight::{
    check_brokers, check_delivery, check_models, check_open_files, claim_pools, start_managed_broker, ModelCheck,
};
use super::{signals, RunArgs};
use crate::backend;
use crate::exit_code::Outcome;
use crate::export::{self, csv, ResultsDir, RunFolder};
use crate::plan::{Plan, SweepPoint};
use crate::record::Sample;
use crate::report::{self, At, Execution, HostInfo, Manifest, Report, Warning};
use crate::run::broker::BrokerInfo;
use crate::run::loadgen::{request_bytes, response_bytes};
use crate::run::pool::Pools;
use crate::run::timer::PreciseTimer;
use crate::run::{floor, run_point, PointOutcome, RunContext};
use crate::scenario;
use crate::stats::energy::{Energy, Timelines};
use crate::stats::{self, PointStats};
use crate::ui::{self, ProgressMode};

fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A run id that sorts by time and does not collide between concurrent runs.
pub(super) fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

/// How a run starts, which decides what is checked before it does.
enum Start<'a> {
    /// A new run.
    New,
    /// A stopped run resumed: its models must be the ones it started with.
    Resume { models: &'a [report::ModelRecord] },
    /// A finished run extended by points (`simrun search`'s next step): the
    /// same command checked its brokers and their delivery moments ago.
    Extend,
}

/// What the checks found: the models, the brokers' versions, the pools claimed.
struct Checked {
    models: ModelCheck,
    brokers: Vec<(String, BrokerInfo)>,
    pools: Option<Pools>,
}

/// The checks before any point runs, in one order for every start: models
/// (the devices' input takes its shape from them), open files, brokers and
/// delivery (not when extending), then the remote pools, claimed last.
async fn check(plan: &mut Plan, run_id: &str, quiet: bool, start: Start<'_>) -> Result<Checked, Failure> {
    let models = check_models(plan)?;
    if let Start::Resume { models: before } = start {
        let hashes = |m: &[report::ModelRecord]| m.iter().map(|m| (m.tier, m.sha256.clone())).collect::<Vec<_>>();
        if hashes(&models.models) != hashes(before) {
            return Err(Failure::input(anyhow::anyhow!(
                "a model file changed since the run started (SHA-256 differs); resuming would mix two models"
            )));
        }
    }
    check_open_files(plan)?;
    let mut brokers = Vec::new();
    if !matches!(start, Start::Extend) {
        brokers = check_brokers(plan).await?;
        check_delivery(plan, run_id).await?;
    }
    let pools = claim_pools(plan, &models.models, run_id, quiet).await?;
    Ok(Checked { models, brokers, pools })
}

/// An existing results folder, to write into.
fn open_results(dir: &std::path::Path) -> Result<ResultsDir, Failure> {
    ResultsDir::open(dir.to_path_buf()).map_err(|e| Failure::input(anyhow::anyhow!("{}: {e}", dir.display())))
}

/// The failure of writing into the results folder `dir`.
fn writing(dir: &std::path::Path) -> impl Fn(std::io::Error) -> Failure + Copy + '_ {
    move |e| Failure::infrastructure(anyhow::anyhow!("writing results to {}: {e}", dir.display()))
}

pub async fn run(args: RunArgs, command: String) -> Result<Outcome, Failure> {
    let (report, report_path) = match &args.resume {
        Some(dir) => resume(dir, &args, command).await?,
        None => {
            let Some(file) = &args.scenario else {
                return Err(Failure::input(anyhow::anyhow!("give a scenario file, or --resume DIR")));
            };
            let mut plan = scenario::load(file, &args.set)?;
            if let Some(shard) = args.shard {
                plan.restrict_to(shard)?;
            }
            let out_root = args.out.clone().unwrap_or_else(|| plan.output.clone());
            let _broker = start_managed_broker(&mut plan)?;
            execute(&plan, &out_root, command, args.quiet).await?
        }
    };
    if let Some(path) = &args.junit {
        super::write_junit(path, &report)?;
    }
    super::print_line(&report_path.display().to_string());
    Ok(super::outcome(&report, &report_path))
}

/// Checks and runs `plan` into a new results folder under `out_root`; returns
/// the final report and the path of `report.md`.
pub async fn execute(
    plan: &Plan,
    out_root: &std::path::Path,
    command: String,
    quiet: bool,
) -> Result<(Report, std::path::PathBuf), Failure> {
    let mut plan = plan.clone();
    let run_id = new_run_id();
    let Checked { models, brokers, pools } = check(&mut plan, &run_id, quiet, Start::New).await?;
    let dir = out_root.join(&plan.name).join(&run_id);
    let results = ResultsDir::create(dir.clone())
        .with_context(|| format!("cannot create results folder {}", dir.display()))
        .map_err(Failure::input)?;
    let mut manifest = manifest(&plan, &models, &brokers, &run_id, command).map_err(Failure::input)?;
    manifest.remote_workers = pools.as_ref().map(Pools::members).unwrap_or_default();
    let mut report = Report::new(&plan, manifest, models.parity);
    report.split_check = models.split;
    if let Some(w) = large_json(&plan, &run_id) {
        eprintln!("warning: {w}");
        report.warnings.push(w);
    }
    let io = writing(&dir);
    results.write(crate::export::SCENARIO_YAML, plan.resolved_yaml.as_bytes()).map_err(io)?;
    results.append_samples(&csv::samples_header()).map_err(io)?;
    write_report(&results, &report).map_err(io)?;
    run_remaining(&plan, &results, report, quiet, pools).await
}

/// JSON requests above this size earn a hint that binary encoding exists.
const LARGE_JSON_BYTES: usize = 64 * 1024;

/// The hint for the point with the largest JSON requests, when they are large.
fn large_json(plan: &Plan, run_id: &str) -> Option<Warning> {
    use crate::plan::Encoding;
    let id_len = run_id.len() + 12;
    let (point, bytes) = plan
        .points
        .iter()
        .filter(|p| p.config.broker.encoding == Encoding::Json)
        .map(|p| (p, request_bytes(&p.config.devices.input.shape, Encoding::Json, id_len)))
        .max_by_key(|(_, bytes)| *bytes)
        .filter(|(_, bytes)| *bytes > LARGE_JSON_BYTES)?;
    let binary_bytes = request_bytes(&point.config.devices.input.shape, Encoding::Binary, id_len) as u64;
    Some(Warning::LargeJson { point: point.label(), bytes: bytes as u64, binary_bytes })
}

/// Runs into the finished folder `dir` (whose final report is `report`) the
/// points of `plan` it does not hold yet: `plan` is the folder's plan with
/// points added at the end of its sweep (`simrun search`'s next step).
pub async fn extend(
    dir: &std::path::Path,
    plan: &Plan,
    mut report: Report,
    quiet: bool,
) -> Result<(Report, std::path::PathBuf), Failure> {
    // The devices' input takes its shape from the models, as when the run started.
    let mut plan = plan.clone();
    let Checked { pools, .. } = check(&mut plan, &report.manifest.run_id, quiet, Start::Extend).await?;
    let plan = &plan;
    let results = open_results(dir)?;
    let io = writing(dir);
    results.reopen_samples(|_| true).map_err(io)?;
    results.write(crate::export::SCENARIO_YAML, plan.resolved_yaml.as_bytes()).map_err(io)?;
    report.points = plan.points.iter().map(|p| report::PointRow { index: p.index, params: p.params.clone() }).collect();
    report.executions_planned = plan.points.len() * plan.repetitions as usize;
    report.plan_points = plan.plan_points;
    report.manifest.finished_at = None;
    run_remaining(plan, &results, report, quiet, pools).await
}

/// `simrun run --resume DIR`: runs the executions missing from DIR, into it.
async fn resume(
    dir: &std::path::Path,
    args: &RunArgs,
    command: String,
) -> Result<(Report, std::path::PathBuf), Failure> {
    let folder = RunFolder::open(dir).map_err(Failure::input)?;
    // Only where the broker is may change: anything else would make the halves incomparable.
    if let Some(other) = args.set.iter().find(|s| !s.starts_with("broker.url=")) {
        return Err(Failure::input(anyhow::anyhow!("with --resume only broker.url may be --set; got {other:?}")));
    }
    let stored = dir.join(crate::export::SCENARIO_YAML);
    // Model paths resolve as when the run started: from the working directory, then beside the original file.
    let original = std::path::PathBuf::from(&folder.report.manifest.scenario_file);
    let mut plan = scenario::load_str(&original, &folder.scenario_yaml, &args.set)
        .map_err(|e| Failure::input(anyhow::anyhow!("{}: {e}", stored.display())))?;
    if let Some(shard) = folder.report.shard {
        plan.restrict_to(shard)?;
    }
    let mut report = folder.report;
    let report_path = dir.join(crate::export::REPORT_MD);
    if report.complete() {
        eprintln!(
            "nothing to resume: all {} point executions of {} finished",
            report.executions_planned,
            dir.display()
        );
        return Ok((report, report_path));
    }
    let _broker = start_managed_broker(&mut plan)?;
    let start = Start::Resume { models: &report.manifest.models };
    let Checked { pools, .. } = check(&mut plan, &report.manifest.run_id, args.quiet, start).await?;
    if let Some(p) = &pools {
        report.manifest.remote_workers = p.members();
    }
    let results = open_results(dir)?;
    let done: HashSet<Execution> = report.finished.iter().copied().collect();
    results
        .reopen_samples(|e| e.is_some_and(|e| done.contains(&e)))
        .map_err(|e| Failure::infrastructure(anyhow::anyhow!("rewriting samples in {}: {e}", dir.display())))?;
    report.manifest.interruptions.push(format!(
        "stopped after {} of {} point executions; resumed at {} with: {command}",
        report.executions_done(),
        report.executions_planned,
        now_rfc3339()
    ));
    report.manifest.finished_at = None;
    report.stopped = None;
    run_remaining(&plan, &results, report, args.quiet, pools).await
}

/// Runs the executions `report` has not finished, then writes the final
/// report; the samples become `samples.csv` only once every execution finished.
async fn run_remaining(
    plan: &Plan,
    results: &ResultsDir,
    mut report: Report,
    quiet: bool,
    pools: Option<Pools>,
) -> Result<(Report, std::path::PathBuf), Failure> {
    let io = writing(results.path());
    let pools = pools.map(std::sync::Arc::new);
    let outcome = sweep(plan, results, &mut report, quiet, pools.clone()).await;
    if let Some(pools) = pools.and_then(std::sync::Arc::into_inner) {
        if pools.bad_control() > 0 {
            eprintln!("simrun: ignored {} pool control message(s) that did not parse", pools.bad_control());
        }
        pools.release().await;
    }
    report.manifest.finished_at = Some(now_rfc3339());
    // As if the run had never stopped: executions in sweep order.
    report.summaries.sort_by_key(|s| (s.repetition, s.point, s.tier));
    report.summaries_changed();
    report.links.sort_by_key(|l| (l.repetition, l.point));
    report.host_load.sort_by_key(|l| (l.repetition, l.point));
    for problem in export::write_plots(results, &report).map_err(io)? {
        eprintln!("simrun: plot {problem}");
    }
    write_report(results, &report).map_err(io)?;
    if report.complete() {
        results.finish_samples().map_err(io)?;
    }
    let report_path = results.path().join(crate::export::REPORT_MD);
    if let Err(f) = outcome {
        eprintln!("results so far: {}", report_path.display());
        if matches!(f, Failure::Stopped(..)) {
            eprintln!("resume with: simrun run --resume {}", results.path().display());
        }
        return Err(f);
    }
    Ok((report, report_path))
}

/// Runs every point execution not yet finished, interleaving repetitions, and
/// updates the report after each. An execution that does not finish leaves no
/// rows behind.
async fn sweep(
    plan: &Plan,
    results: &ResultsDir,
    report: &mut Report,
    quiet: bool,
    pools: Option<std::sync::Arc<Pools>>,
) -> Result<(), Failure> {
    let mut stop = signals::watch();
    let timer = PreciseTimer::start().map_err(Failure::infrastructure)?;
    let (events, rx) = mpsc::unbounded_channel();
    let remaining = report.executions_planned - report.executions_done();
    let progress = ui::spawn(rx, remaining, ProgressMode::detect(quiet));
    let clock = Clock { epoch: Instant::now(), wall_before: report.manifest.wall_time_s.unwrap_or(0.0) };
    let device_link_everywhere = plan.points.iter().any(|p| p.config.groups.iter().any(|g| !g.link.is_transparent()));
    let linked =
        |tier| plan.points.iter().flat_map(|p| &p.config.tiers).any(|t| t.tier == tier && !t.link.is_transparent());
    let remote_links = [crate::plan::Tier::Edge, crate::plan::Tier::Cloud].into_iter().filter(|&t| linked(t)).collect();
    let ctx = RunContext {
        run_id: report.manifest.run_id.clone(),
        epoch: clock.epoch,
        seed: plan.seed,
        timer,
        events,
        device_link_everywhere,
        remote_links,
        pools,
        models: Default::default(),
    };
    if report.floor.is_none() {
        floor_before(plan, &ctx, report, &mut stop).await?;
    }
    let mut result = Ok(());
    'outer: for rep in 0..plan.repetitions {
        for point in &plan.points {
            if report.finished.contains(&Execution { point: point.index, repetition: rep }) {
                continue;
            }
            result = execute_point(&ctx, point, rep, (results, &mut *report), &mut stop, clock).await;
            if result.is_err() {
                break 'outer;
            }
        }
    }
    if result.is_ok() && report.complete() {
        floor_after(plan, &ctx, report).await;
    }
    report.manifest.wall_time_s = Some(clock.wall_time());
    let (models_loaded, models_reused) = ctx.models.counts();
    let session = crate::report::Reuse { models_loaded, models_reused };
    report.manifest.reuse = Some(report.manifest.reuse.map_or(session, |earlier| earlier.plus(session)));
    drop(ctx);
    let _ = progress.await;
    result
}

/// When this session of a run started, and the wall time of earlier sessions.
#[derive(Clone, Copy)]
struct Clock {
    epoch: Instant,
    wall_before: f64,
}

impl Clock {
    fn wall_time(self) -> f64 {
        self.wall_before + self.epoch.elapsed().as_secs_f64()
    }
}

/// The failure of a run stopped by `signal`, noted in the report.
fn stopped_by(signal: Signal, report: &mut Report, at: &str) -> Failure {
    let name = signal.name();
    report.stopped = Some(format!("run stopped by {name} {at}; resume with simrun run --resume"));
    Failure::Stopped(
        signal,
        anyhow::anyhow!(
            "interrupted by {name} after {} of {} point executions",
            report.executions_done(),
            report.executions_planned
        ),
    )
}

/// The harness floor before the first point, into the report.
async fn floor_before(
    plan: &Plan,
    ctx: &RunContext,
    report: &mut Report,
    stop: &mut watch::Receiver<Option<Signal>>,
) -> Result<(), Failure> {
    let Some((broker, shape)) = floor_target(plan, ctx) else { return Ok(()) };
    let measured = tokio::select! {
        m = floor::measure(broker, &ctx.run_id, &ctx.timer, shape) => m,
        signal = signals::stopped(stop) => return Err(stopped_by(signal, report, "before the first point")),
    };
    match measured {
        Ok(f) => {
            report.set_floor(stats::floor(&f));
            if let Some(alarm) = report.floor_alarm() {
                eprintln!("warning: {alarm}");
            }
        }
        Err(e) => report.warnings.push(Warning::FloorNotMeasured(e.to_string())),
    }
    Ok(())
}

/// The floor again, now that the sweep is over: a host that was noisy for the
/// whole run shows it at the end too, and `diff` takes the larger.
async fn floor_after(plan: &Plan, ctx: &RunContext, report: &mut Report) {
    let Some((broker, shape)) = floor_target(plan, ctx) else { return };
    if let Ok(after) = floor::straight(broker, &ctx.run_id, &ctx.timer, shape).await {
        let after = stats::echo_summary(&after);
        report.manifest.floor.floor_after_p99_us = after.map(|f| f.round_trip.p99_us);
        report.manifest.floor.floor_after_p50_us = after.map(|f| f.round_trip.p50_us);
    }
}

/// The broker the floor echoes through (the first point's) and its echo:
/// messages the size of that point's requests, at its offered rate.
fn floor_target<'a>(plan: &'a Plan, ctx: &RunContext) -> Option<(&'a crate::plan::BrokerConfig, floor::EchoShape)> {
    let first = plan.points.first()?;
    let id_len = ctx.run_id.len() + 12;
    let bytes = request_bytes(&first.config.devices.input.shape, first.config.broker.encoding, id_len);
    let load = &first.config.load;
    let rate = (load.arrival != crate::plan::Arrival::Closed).then_some(load.rate_hz);
    Some((&first.config.broker, floor::EchoShape::floor(bytes, response_bytes(id_len), rate)))
}

/// One execution of one point: its samples streamed to the results folder and
/// its summaries into the report, written after it. A failed or stopped
/// execution leaves no rows.
async fn execute_point(
    ctx: &RunContext,
    point: &SweepPoint,
    rep: u32,
    (results, report): (&ResultsDir, &mut Report),
    stop: &mut watch::Receiver<Option<Signal>>,
    clock: Clock,
) -> Result<(), Failure> {
    let writing = |what: &str, e: std::io::Error| Failure::infrastructure(anyhow::anyhow!("{what}: {e}"));
    let rows_before = results.samples_len().map_err(|e| writing("reading samples", e))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = results.samples_writer().map_err(|e| writing("writing samples", e))?;
    let run_id = report.manifest.run_id.clone();
    let costing = crate::stats::PointCosting {
        energy: point.config.energy.clone(),
        cost: point.config.cost.clone(),
        cloud_workers: point.config.tier(crate::plan::Tier::Cloud).map_or(0, |t| t.workers),
        devices: point.config.devices.count,
        groups: point.config.groups.iter().map(|g| (g.count, g.energy.clone())).collect(),
    };
    let models: Option<Vec<_>> = point.config.groups.iter().map(|g| g.energy.clone()).collect();
    let timelines = models.and_then(crate::stats::energy::Timelines::of_groups);
    let split = point.config.partition.as_ref().map(|p| p.at.clone());
    let stats =
        PointStats::new(point.index, rep).with_costing(costing).with_split(split).with_groups(point.config.grouped());
    let names: Vec<String> = point.config.groups.iter().map(|g| g.name.clone()).collect();
    let consumer = tokio::task::spawn_blocking(move || consume(rx, (&run_id, names), writer, stats, timelines));
    let watch = crate::run::cpu::CpuWatch::start(local_broker(&point.config.broker));
    let outcome = tokio::select! {
        o = run_point(ctx, point, rep, tx) => o.map_err(|e| {
            report.stopped = Some(format!("run stopped at point {} rep {rep}: {e}", point.index));
            Failure::infrastructure(e)
        }),
        signal = signals::stopped(stop) => Err(stopped_by(signal, report, &format!("during point {} rep {rep}", point.index))),
    };
    let (stats, written) =
        consumer.await.map_err(|e| Failure::infrastructure(anyhow::anyhow!("sample writer: {e}")))?;
    let outcome = match outcome {
        Ok(o) => o,
        Err(f) => {
            // The unfinished execution's rows go; the finished ones stay.
            results.truncate_samples(rows_before).map_err(|e| writing("writing samples", e))?;
            return Err(f);
        }
    };
    written.map_err(|e| writing("writing samples", e))?;
    record_point(report, results, point, rep, &stats, &outcome, clock.epoch)
        .map_err(|e| writing(&format!("writing results to {}", results.path().display()), e))?;
    if let Some(load) = watch.finish(point.index, rep) {
        if load.saturated() {
            let at = At { point: point.index, repetition: rep };
            report.warnings.push(Warning::HostSaturated { at, busy_pct: load.busy_pct, cores: load.cores });
        }
        report.host_load.push(load);
    }
    report.manifest.wall_time_s = Some(clock.wall_time());
    write_report(results, report).map_err(|e| Failure::infrastructure(anyhow::anyhow!("writing results: {e}")))
}

/// The broker's process when it runs on this host (`cpu::listener_pid`), for the host's CPU table.
fn local_broker(broker: &crate::plan::BrokerConfig) -> Option<u32> {
    let local = matches!(broker.host.as_str(), "127.0.0.1" | "localhost" | "::1" | "[::1]");
    local.then(|| crate::run::cpu::listener_pid(broker.port)).flatten()
}

/// Writes each sample as it arrives and accumulates the point's statistics;
/// ends when the run drops its sender.
fn consume(
    mut rx: mpsc::UnboundedReceiver<Sample>,
    (run_id, groups): (&str, Vec<String>),
    sink: std::io::BufWriter<std::fs::File>,
    mut stats: PointStats,
    mut timelines: Option<Timelines>,
) -> (PointStats, std::io::Result<()>) {
    let mut writer = csv::SampleWriter::new(run_id, sink).with_groups(groups);
    let mut result = Ok(());
    // A sample is written once its energy is known: with an energy model,
    // when its device's next request is sent (its tail), or at the end.
    let mut emit = |stats: &mut PointStats, sample: Sample, energy: Option<Energy>| {
        if let Some(e) = &energy {
            stats.add_energy(&sample, e);
        }
        if result.is_ok() {
            result = writer.write(&sample, energy.as_ref());
        }
    };
    while let Some(sample) = rx.blocking_recv() {
        stats.add(&sample);
        match timelines.as_mut() {
            Some(t) => t.push(sample, |s, e| emit(&mut stats, s, e)),
            None => emit(&mut stats, sample, None),
        }
    }
    if let Some(t) = timelines {
        t.finish(|s, e| emit(&mut stats, s, e));
    }
    let flushed = writer.into_inner().and_then(|mut w| {
        use std::io::Write as _;
        w.flush()?;
        w.get_ref().sync_data()
    });
    (stats, result.and(flushed))
}

/// Folds one finished point execution into the report and saves its histograms.
fn record_point(
    report: &mut Report,
    results: &ResultsDir,
    point: &SweepPoint,
    rep: u32,
    stats: &PointStats,
    outcome: &PointOutcome,
    epoch: Instant,
) -> std::io::Result<()> {
    for o in &outcome.broker_outages {
        let start = o.start.saturating_duration_since(epoch).as_micros() as u64;
        let timeout = point.config.load.timeout.as_micros() as u64;
        let touched = stats.failed_between(start.saturating_sub(timeout), start + o.duration.as_micros() as u64);
        let since = chrono::DateTime::<chrono::Local>::from(o.started).format("%H:%M:%S%.3f").to_string();
        report.warnings.push(Warning::BrokerUnreachable {
            at: At { point: point.index, repetition: rep },
            since,
            seconds: o.duration.as_secs_f64(),
            touched,
        });
    }
    for (tier, n) in outcome.unanswered.iter().filter(|(_, n)| *n > 0) {
        report.warnings.push(Warning::UnrepliedMalformed {
            at: At { point: point.index, repetition: rep },
            tier: *tier,
            count: *n,
            replies_per_s: crate::run::worker::ERROR_REPLIES_PER_S,
        });
    }
    add_summaries(report, point, stats, &outcome.rejected);
    for (tier, h) in stats.latency_histograms() {
        results.write(&export::histogram_name(point.index, rep, tier), &export::histogram_bytes(h))?;
    }
    for link in &outcome.links {
        report.links.extend(stats::link_fidelity(point.index, rep, link));
    }
    report.add_unmatched(outcome.unmatched);
    // With device hosts, each host's share is tallied; alone, the run is the only host.
    for t in outcome.hosts.iter().filter(|_| outcome.hosts.len() > 1) {
        let host = if t.host.is_empty() { report.manifest.host.hostname.clone() } else { t.host.clone() };
        report.add_device_host(&crate::record::DeviceHostTally { host, ..t.clone() });
    }
    report.finished.push(Execution { point: point.index, repetition: rep });
    if let (Some(p), Some((diff, n))) = (report.parity.as_mut(), stats.live_parity()) {
        p.live_max_abs_diff = Some(p.live_max_abs_diff.unwrap_or(0.0).max(diff));
        p.live_pairs += n;
    }
    Ok(())
}

/// The routing policy of a point's `group` (of every group for `None`: the
/// groups' policies, each once, when they differ).
fn policy_of(point: &SweepPoint, group: Option<&str>) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    for g in point.config.groups.iter().filter(|g| group.is_none_or(|name| g.name == name)) {
        if let Some(d) = g.policy.map(|p| p.describe()).filter(|d| !names.contains(d)) {
            names.push(d);
        }
    }
    (!names.is_empty()).then(|| names.join(" / "))
}

/// The point execution's summaries, over every device and (with device groups) per group.
fn add_summaries(report: &mut Report, point: &SweepPoint, stats: &PointStats, rejected: &[(crate::plan::Tier, u64)]) {
    let window = point.config.load.duration;
    let names: Vec<String> = point.config.groups.iter().map(|g| g.name.clone()).collect();
    let tag = |mut s: crate::stats::Summary| {
        s.slowdown = point.config.tier(s.tier).map(|t| t.slowdown).filter(|k| *k > 1.0);
        s.policy = policy_of(point, s.group.as_deref()).filter(|_| s.tier == crate::plan::Tier::Policy);
        s
    };
    report.summaries.extend(stats.summaries(window, &point.params, rejected).into_iter().map(tag));
    report.group_summaries.extend(stats.group_summaries(window, &point.params, &names).into_iter().map(tag));
    report.summaries_changed();
}

fn write_report(results: &ResultsDir, report: &Report) -> std::io::Result<()> {
    export::write_report(results, report).map(|_| ())
}

fn manifest(
    plan: &Plan,
    models: &ModelCheck,
    brokers: &[(String, crate::run::broker::BrokerInfo)],
    run_id: &str,
    command: String,
) -> anyhow::Result<Manifest> {
    let scheduled = plan.scheduled_load().as_secs_f64();
    let (ort_version, ort_library) = if models.models.iter().any(|m| m.tier == crate::plan::Tier::Edge) {
        (backend::onnxruntime_version()?, backend::onnxruntime_library()?.display().to_string())
    } else {
        ("not used".to_string(), String::new())
    };
    Ok(Manifest {
        simrun_version: report::SIMRUN_VERSION.into(),
        git_commit: report::GIT_COMMIT.into(),
        run_id: run_id.into(),
        scenario: plan.name.clone(),
        scenario_file: plan.scenario_path.display().to_string(),
        command,
        seed: plan.seed,
        repetitions: plan.repetitions,
        host: HostInfo::detect(),
        broker_url: brokers.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>().join(", "),
        broker_version: brokers.first().and_then(|(_, i)| i.version.clone()),
        broker_managed: plan.points.iter().any(|p| p.config.broker.managed),
        onnxruntime_version: ort_version,
        onnxruntime_library: ort_library,
        ort_crate_version: report::ORT_CRATE_VERSION.into(),
        candle_version: report::CANDLE_VERSION.into(),
        rumqttc_version: report::RUMQTTC_VERSION.into(),
        rayon_num_threads: std::env::var("RAYON_NUM_THREADS").ok(),
        compute: {
            let mut lines: Vec<String> = Vec::new();
            for line in plan.points.iter().flat_map(|p| p.config.tiers.iter().filter_map(|t| t.describe_compute())) {
                if !lines.contains(&line) {
                    lines.push(line);
                }
            }
            lines
        },
        models: models.models.clone(),
        input: plan
            .points
            .first()
            .map(|p| format!("{}, in {}", p.config.devices.input.describe(), p.config.broker.encoding.describe())),
        started_at: now_rfc3339(),
        finished_at: None,
        wall_time_s: None,
        floor: Default::default(),
        scheduled_time_s: scheduled,
        reuse: None,
        shard: plan.shard.map(|s| s.to_string()),
        interruptions: Vec::new(),
        merged_from: Vec::new(),
        remote_workers: Vec::new(),
    })
}
