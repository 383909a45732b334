//! `simrun run`: the sweep loop. Checks, then runs every point execution,
//! writing results after each so that a failure later loses nothing.

use std::time::Instant;

use anyhow::Context;
use tokio::sync::mpsc;

use super::preflight::{check_brokers, check_models, ModelCheck};
use super::{Failure, RunArgs};
use crate::backend;
use crate::exit_code::ExitCode;
use crate::export::{self, csv, ResultsDir};
use crate::plan::{Plan, SweepPoint};
use crate::report::{self, HostInfo, Manifest, PointRow, Report};
use crate::run::collector::Unmatched;
use crate::run::loadgen::request_bytes;
use crate::run::timer::PreciseTimer;
use crate::run::{floor, run_point, PointOutcome, RunContext};
use crate::sample::Sample;
use crate::scenario;
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

fn bad_input(e: impl Into<anyhow::Error>) -> Failure {
    Failure::new(ExitCode::BadInput, e)
}

pub async fn run(args: RunArgs, command: String) -> Result<ExitCode, Failure> {
    let mut plan = scenario::load(&args.scenario.scenario, &args.scenario.set).map_err(bad_input)?;
    if let Some(shard) = args.shard {
        plan.restrict_to(shard).map_err(|m| bad_input(anyhow::anyhow!(m)))?;
    }
    let out_root = args.out.clone().unwrap_or_else(|| plan.output.clone());
    let (report, report_path) = execute(&plan, &out_root, command, args.quiet).await?;
    if let Some(path) = &args.junit {
        super::write_junit(path, &report)?;
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{}", report_path.display());
    Ok(super::slo_exit(&report, &report_path))
}

/// Checks and runs `plan` into a new results folder under `out_root`; returns
/// the final report and the path of `report.md`.
pub async fn execute(
    plan: &Plan,
    out_root: &std::path::Path,
    command: String,
    quiet: bool,
) -> Result<(Report, std::path::PathBuf), Failure> {
    let plan = plan.clone();
    let models = check_models(&plan)?;
    let brokers = check_brokers(&plan).await?;
    let run_id = new_run_id();
    let dir = out_root.join(&plan.name).join(&run_id);
    let results = ResultsDir::create(dir.clone())
        .with_context(|| format!("cannot create results folder {}", dir.display()))
        .map_err(bad_input)?;
    let manifest = manifest(&plan, &models, &brokers, &run_id, command).map_err(bad_input)?;
    let mut report = Report {
        manifest,
        description: plan.description.clone(),
        swept_keys: plan.swept_keys.clone(),
        points: plan.points.iter().map(|p| PointRow { index: p.index, params: p.params.clone() }).collect(),
        summaries: Vec::new(),
        links: Vec::new(),
        parity: models.parity,
        warnings: Vec::new(),
        executions_done: 0,
        executions_planned: plan.points.len() * plan.repetitions as usize,
        unmatched: Unmatched::default(),
        floor: None,
        slos: plan.slos.clone(),
        shard: plan.shard,
        plan_points: plan.plan_points,
    };
    let io = |e: std::io::Error| {
        Failure::new(ExitCode::Infrastructure, anyhow::anyhow!("writing results to {}: {e}", dir.display()))
    };
    results.write("scenario.yaml", plan.resolved_yaml.as_bytes()).map_err(io)?;
    results.append_samples(&csv::samples_header()).map_err(io)?;
    write_report(&results, &report).map_err(io)?;

    let outcome = sweep(&plan, &results, &mut report, quiet).await;
    report.manifest.finished_at = Some(now_rfc3339());
    write_report(&results, &report).map_err(io)?;
    results.finish_samples().map_err(io)?;
    let report_path = results.path().join("report.md");
    if let Err(f) = outcome {
        eprintln!("results so far: {}", report_path.display());
        return Err(f);
    }
    Ok((report, report_path))
}

/// Runs every point execution, interleaving repetitions, and updates the report after each.
async fn sweep(plan: &Plan, results: &ResultsDir, report: &mut Report, quiet: bool) -> Result<(), Failure> {
    let infra = |e: anyhow::Error| Failure::new(ExitCode::Infrastructure, e);
    let timer = PreciseTimer::start().map_err(|e| infra(e.into()))?;
    let (events, rx) = mpsc::unbounded_channel();
    let progress = ui::spawn(rx, report.executions_planned, ProgressMode::detect(quiet));
    let epoch = Instant::now();
    let ctx = RunContext { run_id: report.manifest.run_id.clone(), epoch, seed: plan.seed, timer, events };
    if let Some(first) = plan.points.first() {
        let bytes = request_bytes(first.config.devices.features, ctx.run_id.len() + 12);
        match floor::measure(&first.config.broker, &ctx.run_id, &ctx.timer, bytes).await {
            Ok(f) => report.set_floor(f),
            Err(e) => report.warnings.push(format!("the harness floor could not be measured: {e}")),
        }
    }
    let mut result = Ok(());
    'outer: for rep in 0..plan.repetitions {
        for point in &plan.points {
            let (tx, rx) = mpsc::unbounded_channel();
            let writer = results.samples_writer().map_err(|e| infra(anyhow::anyhow!("writing samples: {e}")))?;
            let run_id = report.manifest.run_id.clone();
            let stats = PointStats::new(point.index, rep);
            let consumer = tokio::task::spawn_blocking(move || consume(rx, &run_id, writer, stats));
            let outcome = run_point(&ctx, point, rep, tx).await;
            let (stats, written) = consumer.await.map_err(|e| infra(anyhow::anyhow!("sample writer: {e}")))?;
            written.map_err(|e| infra(anyhow::anyhow!("writing samples: {e}")))?;
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    report.warnings.push(format!("run stopped at point {} rep {rep}: {e}", point.index));
                    result = Err(Failure::new(ExitCode::Infrastructure, e));
                    break 'outer;
                }
            };
            record_point(report, results, point, rep, &stats, &outcome)
                .map_err(|e| infra(anyhow::anyhow!("writing results to {}: {e}", results.path().display())))?;
            report.manifest.wall_time_s = Some(epoch.elapsed().as_secs_f64());
            write_report(results, report).map_err(|e| infra(anyhow::anyhow!("writing results: {e}")))?;
        }
    }
    drop(ctx);
    let _ = progress.await;
    result
}

/// Writes each sample as it arrives and accumulates the point's statistics;
/// ends when the run drops its sender.
fn consume(
    mut rx: mpsc::UnboundedReceiver<Sample>,
    run_id: &str,
    sink: std::io::BufWriter<std::fs::File>,
    mut stats: PointStats,
) -> (PointStats, std::io::Result<()>) {
    let mut writer = csv::SampleWriter::new(run_id, sink);
    let mut result = Ok(());
    while let Some(sample) = rx.blocking_recv() {
        stats.add(&sample);
        if result.is_ok() {
            result = writer.write(&sample);
        }
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
) -> std::io::Result<()> {
    let window = point.config.load.duration;
    report.summaries.extend(stats.summaries(window, &point.params, &outcome.rejected));
    for (tier, h) in stats.latency_histograms() {
        results.write(&export::histogram_name(point.index, rep, tier), &export::histogram_bytes(h))?;
    }
    for link in &outcome.links {
        report.links.extend(stats::link_fidelity(point.index, rep, link));
    }
    report.add_unmatched(outcome.unmatched);
    if let (Some(p), Some((diff, n))) = (report.parity.as_mut(), stats.live_parity()) {
        p.live_max_abs_diff = Some(p.live_max_abs_diff.unwrap_or(0.0).max(diff));
        p.live_pairs += n;
    }
    report.executions_done += 1;
    Ok(())
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
        onnxruntime_version: ort_version,
        onnxruntime_library: ort_library,
        ort_crate_version: report::ORT_CRATE_VERSION.into(),
        candle_version: report::CANDLE_VERSION.into(),
        rumqttc_version: report::RUMQTTC_VERSION.into(),
        rayon_num_threads: std::env::var("RAYON_NUM_THREADS").ok(),
        models: models.models.clone(),
        started_at: now_rfc3339(),
        finished_at: None,
        wall_time_s: None,
        floor_p50_us: None,
        floor_p99_us: None,
        scheduled_time_s: scheduled,
        shard: plan.shard.map(|s| s.to_string()),
        merged_from: Vec::new(),
    })
}
