//! `simrun validate`: every check a run makes before it starts, and the plan.

use std::fmt::Write;

use super::failure::Failure;
use super::preflight::{check_brokers, check_delivery, check_models, check_open_files, start_managed_broker};
use super::ValidateArgs;
use crate::exit_code::Outcome;
use crate::plan::Plan;
use crate::scenario;

/// The sweep plan as text, one line per point.
pub fn describe_plan(plan: &Plan) -> String {
    let mut out = String::new();
    let per_point = plan.points.first().map(|p| p.config.load.warmup + p.config.load.duration).unwrap_or_default();
    let total = plan.scheduled_load().as_secs_f64();
    let _ = writeln!(
        out,
        "plan: {} point(s) × {} repetition(s), {:.1} s of load each, {:.1} s in all",
        plan.points.len(),
        plan.repetitions,
        per_point.as_secs_f64(),
        total
    );
    for p in &plan.points {
        let c = &p.config;
        let tiers: Vec<String> = c
            .tiers
            .iter()
            .map(|t| match &t.remote {
                Some(r) => format!("{} ×{} of remote pool {}", t.tier, t.workers, r.pool),
                None => format!("{} ×{} link {}", t.tier, t.workers, link_summary(&t.link)),
            })
            .collect();
        let devices = match &c.devices.remote {
            Some(r) => {
                format!("{} devices over this run and {} device host(s) of pool {}", c.devices.count, r.hosts, r.pool)
            }
            None if c.grouped() => {
                let groups: Vec<String> = c.groups.iter().map(|g| format!("{} {}", g.count, g.name)).collect();
                format!("{} devices ({})", c.devices.count, groups.join(", "))
            }
            None => format!("{} devices", c.devices.count),
        };
        let rate = c.groups.iter().filter_map(|g| g.load.offered()).map(|o| o.mean_hz).sum::<f64>();
        let (warm, measured) =
            c.groups.iter().map(|g| g.load.request_counts()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let _ = writeln!(
            out,
            "  point {:>3}  {:<40} {}; {devices}, {:.0}/s, {} warmup + {} measured requests",
            p.index,
            p.label(),
            tiers.join(", "),
            rate,
            warm,
            measured
        );
    }
    out
}

pub async fn validate(args: ValidateArgs) -> Result<Outcome, Failure> {
    let mut plan = scenario::load(&args.scenario.scenario, &args.scenario.set).map_err(Failure::input)?;
    let models = check_models(&mut plan)?;
    check_open_files(&plan)?;
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {} ({})", plan.scenario_path.display(), plan.name);
    out.push_str(&models_text(&plan, &models));
    if args.no_broker {
        let _ = writeln!(out, "broker: not checked (--no-broker)");
    } else {
        let _broker = start_managed_broker(&mut plan)?;
        if plan.points.iter().any(|p| p.config.broker.managed) {
            let _ = writeln!(out, "broker: auto: simrun started a private Mosquitto for this check and stops it");
        }
        for (url, info) in check_brokers(&plan).await? {
            let _ =
                writeln!(out, "broker: {url} answers ({})", info.version.as_deref().unwrap_or("version not reported"));
        }
        check_delivery(&plan, &format!("validate-{}", std::process::id())).await?;
        let _ = writeln!(out, "broker: delivers to the subscriptions the workers will make");
    }
    out.push_str(&describe_plan(&plan));
    out.push_str("ok\n");
    // A closed pipe (`simrun validate x | head`) is not an error.
    super::print_text(&out);
    Ok(Outcome::Passed)
}

/// The models, the devices' input and what the parity checks found.
fn models_text(plan: &crate::plan::Plan, models: &super::preflight::ModelCheck) -> String {
    let mut out = String::new();
    for m in &models.models {
        let _ = writeln!(
            out,
            "model: {:<5} {} {} [{}] -> {} [{}], sha256 {}",
            m.tier.to_string(),
            m.path,
            m.input,
            m.input_shape.join(", "),
            m.output,
            m.output_shape.join(", "),
            m.sha256
        );
    }
    if let Some(first) = plan.points.first() {
        let _ = writeln!(out, "input: {}", first.config.devices.input.describe());
    }
    if let Some((edge, cloud)) = crate::report::different_models(&models.models) {
        let _ = writeln!(out, "parity: not checked: the tiers run different models ({edge}, {cloud})");
    }
    if let Some(p) = models.parity {
        let _ = writeln!(
            out,
            "parity: max |edge - cloud| = {:.2e} over {} inputs (limit {:e})",
            p.max_abs_diff,
            p.inputs,
            crate::report::PARITY_LIMIT
        );
    }
    if let Some(c) = models.split {
        let _ = writeln!(
            out,
            "split: head then tail of {} cut(s) against the whole model: max difference {:.2e} over {} inputs (limit {:e})",
            c.cuts,
            c.max_abs_diff,
            c.inputs,
            crate::report::PARITY_LIMIT
        );
    }
    out
}

/// A link in a few words: its latency, or the trace it replays.
fn link_summary(link: &crate::plan::LinkConfig) -> String {
    match &link.trace {
        Some(t) => format!("trace {t}"),
        None => format!("{:?}", link.latency),
    }
}
