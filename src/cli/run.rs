//! `simrun run`: the sweep loop. Checks, then runs every point execution,
//! writing results after each so that a failure later loses nothing.

use std::time::Instant;

use anyhow::Context;
use tokio::sync::mpsc;

use super::preflight::{check_brokers, check_models, ModelCheck};
use super::{Failure, RunArgs};
use crate::backend;
use crate::exit_code::ExitCode;
use crate::export::{self, csv, markdown, ResultsDir};
use crate::plan::Plan;
use crate::report::{self, HostInfo, Manifest, PointRow, Report};
use crate::run::timer::PreciseTimer;
use crate::run::{run_point, RunContext};
use crate::scenario;
use crate::stats;
use crate::ui::{self, ProgressMode};

fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A run id that sorts by time and does not collide between concurrent runs.
fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

fn bad_input(e: impl Into<anyhow::Error>) -> Failure {
    Failure::new(ExitCode::BadInput, e)
}

pub async fn run(args: RunArgs, command: String) -> Result<ExitCode, Failure> {
    let plan = scenario::load(&args.scenario.scenario, &args.scenario.set).map_err(bad_input)?;
    let models = check_models(&plan)?;
    let brokers = check_brokers(&plan).await?;
    let run_id = new_run_id();
    let out_root = args.out.clone().unwrap_or_else(|| plan.output.clone());
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
        unknown_responses: 0,
        duplicate_responses: 0,
    };
    let io = |e: std::io::Error| {
        Failure::new(ExitCode::Infrastructure, anyhow::anyhow!("writing results to {}: {e}", dir.display()))
    };
    results.write("scenario.yaml", plan.resolved_yaml.as_bytes()).map_err(io)?;
    results.append_samples(&csv::samples_header()).map_err(io)?;
    write_report(&results, &report).map_err(io)?;

    let outcome = sweep(&plan, &results, &mut report, args.quiet).await;
    report.manifest.finished_at = Some(now_rfc3339());
    write_report(&results, &report).map_err(io)?;
    results.finish_samples().map_err(io)?;
    let report_path = results.write("report.md", markdown::report_md(&report).as_bytes()).map_err(io)?;
    if let Err(f) = outcome {
        eprintln!("results so far: {}", report_path.display());
        return Err(f);
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{}", report_path.display());
    Ok(ExitCode::Success)
}

/// Runs every point execution, interleaving repetitions, and updates the report after each.
async fn sweep(plan: &Plan, results: &ResultsDir, report: &mut Report, quiet: bool) -> Result<(), Failure> {
    let timer = PreciseTimer::start().map_err(|e| Failure::new(ExitCode::Infrastructure, e))?;
    let (events, rx) = mpsc::unbounded_channel();
    let progress = ui::spawn(rx, report.executions_planned, ProgressMode::detect(quiet));
    let epoch = Instant::now();
    let ctx = RunContext { run_id: report.manifest.run_id.clone(), epoch, seed: plan.seed, timer, events };
    let mut result = Ok(());
    'outer: for rep in 0..plan.repetitions {
        for point in &plan.points {
            let outcome = match run_point(&ctx, point, rep).await {
                Ok(o) => o,
                Err(e) => {
                    report.warnings.push(format!("run stopped at point {} rep {rep}: {e}", point.index));
                    result = Err(Failure::new(ExitCode::Infrastructure, e));
                    break 'outer;
                }
            };
            let rows = csv::sample_rows(&report.manifest.run_id, &outcome.samples);
            results
                .append_samples(&rows)
                .map_err(|e| Failure::new(ExitCode::Infrastructure, anyhow::anyhow!("writing samples: {e}")))?;
            for (tier, rejected) in &outcome.rejected {
                let window = point.config.load.duration;
                if let Some(s) = stats::summarize(&outcome.samples, *tier, window, &point.params, *rejected) {
                    report.summaries.push(s);
                }
            }
            for link in &outcome.links {
                report.links.extend(stats::link_fidelity(point.index, rep, link));
            }
            report.unknown_responses += outcome.unknown_responses;
            report.duplicate_responses += outcome.duplicate_responses;
            // Live parity needs only this point's samples; keep the worst.
            if let (Some(p), Some((diff, n))) = (report.parity.as_mut(), stats::live_parity(&outcome.samples)) {
                p.live_max_abs_diff = Some(p.live_max_abs_diff.unwrap_or(0.0).max(diff));
                p.live_pairs += n;
            }
            report.executions_done += 1;
            report.manifest.wall_time_s = Some(epoch.elapsed().as_secs_f64());
            write_report(results, report)
                .map_err(|e| Failure::new(ExitCode::Infrastructure, anyhow::anyhow!("writing results: {e}")))?;
        }
    }
    drop(ctx);
    let _ = progress.await;
    result
}

fn write_report(results: &ResultsDir, report: &Report) -> std::io::Result<()> {
    results.write("summary.csv", &csv::summary_csv(report))?;
    results.write("manifest.json", &export::manifest_json(&report.manifest))?;
    results.write("report.md", markdown::report_md(report).as_bytes())?;
    Ok(())
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
        scheduled_time_s: scheduled,
    })
}
