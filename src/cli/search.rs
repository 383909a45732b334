//! `simrun search`: bisection over one numeric key instead of a grid. Every
//! step is one more point of one ordinary run folder (so `diff`, `merge` and
//! the report work on it); the answer is printed last.
//!
//! Two questions: where the edge's and the cloud's median latency cross
//! along a key (`--for tiers.cloud.link.latency`), and the highest
//! `load.rate` at which every SLO of the scenario holds.

use std::fmt::Write as _;
use std::path::Path;

use super::failure::Failure;
use super::preflight::{start_managed_broker, use_managed_broker};
use super::{run, SearchArgs};
use crate::exit_code::Outcome;
use crate::plan::{Plan, Tier};
use crate::report::Report;
use crate::scenario;
use crate::stats::Objective;

/// Steps a search takes at most, the two ends included.
pub const MAX_STEPS: usize = 24;

/// A key's values as numbers in one unit, and back as scenario text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Ms,
    PerSecond,
    Mbit,
    Plain,
}

impl Unit {
    fn parse(text: &str) -> Option<(f64, Unit)> {
        let (x, unit) = crate::stats::numeric(text)?;
        let unit = match unit {
            "ms" => Unit::Ms,
            "/s" => Unit::PerSecond,
            "Mbit/s" => Unit::Mbit,
            _ => Unit::Plain,
        };
        Some((x, unit))
    }

    fn text(self, x: f64) -> String {
        let n = |decimals| crate::math::trimmed(x, decimals);
        match self {
            Unit::Ms => format!("{}ms", n(3)),
            Unit::PerSecond => format!("{}/s", n(1)),
            Unit::Mbit => format!("{}Mbit/s", n(3)),
            Unit::Plain => n(4),
        }
    }
}

/// A bad search request, in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SearchError(String);

fn bad(message: impl Into<String>) -> Failure {
    Failure::input(SearchError(message.into()))
}

/// What one step found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// The crossover question: which tier had the lower median latency.
    Faster(Tier),
    /// The rate question: every SLO held in every repetition, or not.
    Holds,
    Fails,
    /// Repetitions disagreed about the SLOs: counted as failing.
    Unstable,
}

impl Verdict {
    /// Which side of the answer the step is on: `true` on the low side.
    fn low_side(self, low: Verdict) -> bool {
        match (self, low) {
            (Verdict::Faster(a), Verdict::Faster(b)) => a == b,
            (v, _) => v == Verdict::Holds,
        }
    }
}

pub async fn search(args: SearchArgs, command: String) -> Result<Outcome, Failure> {
    // Given the range, the search replaces the scenario's sweep: the base is the scenario without it.
    let mut sets = args.scenario.set.clone();
    if args.from.is_some() && args.to.is_some() {
        sets.push("sweep={}".into());
    }
    let mut base = scenario::load(&args.scenario.scenario, &sets)?;
    let key = args.key.as_str();
    let objective: Objective = args.objective.into();
    // Along load.rate, latency asks for the capacity within the SLOs; energy and cost for their crossover.
    let rate = key == "load.rate" && objective == Objective::Latency;
    searchable(&base, key, objective)?;
    let (from, to, unit) = range(&base, &args)?;
    let resolution = resolution(&args, (from, to, unit))?;
    let mut values = vec![from, to];
    // One managed broker (broker.url: auto) serves every step.
    let managed = start_managed_broker(&mut base)?;
    let load = |values: &[f64]| -> Result<Plan, Failure> {
        let list: Vec<String> = values.iter().map(|x| unit.text(*x)).collect();
        let mut set = args.scenario.set.clone();
        set.push(format!("sweep={{{key}: [{}]}}", list.join(", ")));
        let mut plan = scenario::load(&args.scenario.scenario, &set)?;
        if let Some(broker) = &managed {
            use_managed_broker(&mut plan, broker);
        }
        Ok(plan)
    };
    let plan = load(&values)?;
    let out_root = args.out.clone().unwrap_or_else(|| plan.output.clone());
    let (mut report, path) = run::execute(&plan, &out_root, command, args.quiet).await?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (mut low, mut high) = (0usize, 1usize);
    let verdict = |report: &Report, point: usize| verdict(report, point, rate, objective);
    let (v_low, v_high) = (verdict(&report, low)?, verdict(&report, high)?);
    if v_high.low_side(v_low) || (rate && v_low != Verdict::Holds) {
        super::print_line(&dir.display().to_string());
        super::print_line(&no_answer(&report, (key, objective), rate, (&values, unit), (v_low, v_high)));
        return Ok(Outcome::Passed);
    }
    let bound = steps_bound((from, to), resolution);
    while (values[high] - values[low]).abs() > resolution && values.len() < MAX_STEPS {
        if !args.quiet {
            let (a, b) = (values[low].min(values[high]), values[low].max(values[high]));
            eprintln!("search: step {} of ≤ {bound}, bracket {}–{}", values.len() + 1, unit.text(a), unit.text(b));
        }
        values.push((values[low] + values[high]) / 2.0);
        let next = values.len() - 1;
        (report, _) = run::extend(&dir, &load(&values)?, report, args.quiet).await?;
        if verdict(&report, next)?.low_side(v_low) {
            low = next;
        } else {
            high = next;
        }
    }
    super::print_line(&dir.display().to_string());
    super::print_line(&answer(&report, (key, objective), rate, (&values, unit), (low, high), resolution));
    // The answer is the outcome: the steps past it fail their SLOs by design.
    Ok(Outcome::Passed)
}

/// The most steps a search of `from`..`to` to `resolution` takes: both ends,
/// then one halving of the bracket a step.
fn steps_bound((from, to): (f64, f64), resolution: f64) -> usize {
    let halvings = ((to - from).abs() / resolution).log2().ceil().max(0.0) as usize;
    (2 + halvings).min(MAX_STEPS)
}

/// Whether the scenario can answer a search of `key`: a rate needs SLOs to
/// hold, any other key both tiers to cross.
fn searchable(base: &Plan, key: &str, objective: Objective) -> Result<(), Failure> {
    let first = base.points.first().map(|p| &p.config);
    if objective == Objective::Energy && first.is_none_or(|c| c.energy.is_none()) {
        return Err(bad("--objective energy compares the device energy per request: give devices.radio"));
    }
    let priced = |c: &crate::plan::PointConfig| c.cost.cloud.is_some() && c.cost.edge.is_some();
    if objective == Objective::Cost && !first.is_some_and(priced) {
        return Err(bad(
            "--objective cost compares both tiers' cost per million: give tiers.edge.cost and tiers.cloud.cost",
        ));
    }
    if key == "load.rate" && objective == Objective::Latency && base.slos.is_empty() {
        return Err(bad("searching load.rate finds the highest rate within the scenario's SLOs; it has none (slo:)"));
    }
    let crossing = key != "load.rate" || objective != Objective::Latency;
    if crossing && !base.points.iter().all(|p| p.config.tiers.len() == 2) {
        return Err(bad(format!(
            "searching {key} finds where the edge and the cloud cross; the scenario must place both tiers"
        )));
    }
    Ok(())
}

/// How close the search goes: `--resolution` in the key's unit, or a 64th
/// of the range.
fn resolution(args: &SearchArgs, (from, to, unit): (f64, f64, Unit)) -> Result<f64, Failure> {
    match &args.resolution {
        Some(text) => match Unit::parse(text) {
            Some((r, u)) if u == unit && r > 0.0 => Ok(r),
            _ => Err(bad(format!("--resolution {text:?} is not a positive value in the unit of {}", args.key))),
        },
        None => Ok((to - from).abs() / 64.0),
    }
}

/// The range to search: `--from`/`--to`, or the first and last values the scenario sweeps the key over.
fn range(base: &Plan, args: &SearchArgs) -> Result<(f64, f64, Unit), Failure> {
    let key = args.key.as_str();
    let swept: Vec<&str> =
        base.points.iter().filter_map(|p| p.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())).collect();
    let (from, to) = match (&args.from, &args.to) {
        (Some(a), Some(b)) => (a.clone(), b.clone()),
        _ => match (swept.first(), swept.last()) {
            (Some(a), Some(b)) if a != b => (a.to_string(), b.to_string()),
            _ => return Err(bad(format!("give --from and --to: the scenario does not sweep {key} over a range"))),
        },
    };
    let (Some((a, unit)), Some((b, unit_b))) = (Unit::parse(&from), Unit::parse(&to)) else {
        return Err(bad(format!(
            "{key}: {from:?} to {to:?} is not a numeric range (a duration, bandwidth, rate or number)"
        )));
    };
    if unit != unit_b || a == b {
        return Err(bad(format!("{key}: {from:?} to {to:?} is not a range of one unit")));
    }
    Ok((a, b, unit))
}

/// What the run at `point` says: the faster tier at the median, or whether every SLO held in every repetition.
fn verdict(report: &Report, point: usize, rate: bool, objective: Objective) -> Result<Verdict, Failure> {
    if rate {
        let reps: Vec<u32> = report.finished.iter().filter(|e| e.point == point).map(|e| e.repetition).collect();
        let held: Vec<bool> = reps
            .iter()
            .map(|r| {
                let mine: Vec<_> =
                    report.summaries.iter().filter(|s| s.point == point && s.repetition == *r).cloned().collect();
                crate::stats::check_slos(&report.slos, &mine).iter().all(|c| c.passed)
            })
            .collect();
        return Ok(match (held.iter().all(|h| *h), held.iter().any(|h| *h)) {
            (true, _) => Verdict::Holds,
            (false, true) => Verdict::Unstable,
            (false, false) => Verdict::Fails,
        });
    }
    let v = objective.versus(&report.summaries, &[point]);
    let gap = v.first().and_then(|v| Some(v.cloud.p50_us? - v.edge.p50_us?));
    match gap {
        Some(g) => Ok(Verdict::Faster(if g < 0.0 { Tier::Cloud } else { Tier::Edge })),
        None => Err(bad(format!("a tier has no figure at {}; no crossover can be found", label(report, point)))),
    }
}

fn label(report: &Report, point: usize) -> String {
    let p = report.points.iter().find(|p| p.index == point);
    p.map_or(format!("point {point}"), |p| crate::plan::params_label(&p.params))
}

/// Both tiers' figures at a point on the objective, for the messages.
fn p50s(report: &Report, point: usize, objective: Objective) -> String {
    let figure = |t: Tier| {
        objective
            .versus(&report.summaries, &[point])
            .first()
            .and_then(|v| if t == Tier::Edge { v.edge.p50_us } else { v.cloud.p50_us })
            .map_or("–".into(), |x| objective.format(x))
    };
    let what = if objective == Objective::Latency { " p50" } else { "" };
    format!("edge{what} {}, cloud{what} {}", figure(Tier::Edge), figure(Tier::Cloud))
}

fn no_answer(
    report: &Report,
    (key, objective): (&str, Objective),
    rate: bool,
    (values, unit): (&[f64], Unit),
    v: (Verdict, Verdict),
) -> String {
    let (a, b) = (unit.text(values[0]), unit.text(values[1]));
    if rate {
        return match v {
            (Verdict::Holds, _) => {
                format!("search: no answer in the range: every SLO holds at {b} as well; search higher")
            }
            _ => format!("search: no answer in the range: the SLOs fail already at {a}; search lower"),
        };
    }
    let tier = match v.0 {
        Verdict::Faster(t) => t.to_string(),
        _ => "same".into(),
    };
    format!(
        "search: no crossover of {key} between {a} and {b}: the {tier} tier {} at both ends ({a}: {}; {b}: {})",
        objective.lower(),
        p50s(report, 0, objective),
        p50s(report, 1, objective)
    )
}

fn answer(
    report: &Report,
    (key, objective): (&str, Objective),
    rate: bool,
    (values, unit): (&[f64], Unit),
    (low, high): (usize, usize),
    resolution: f64,
) -> String {
    let (lo, hi) = (unit.text(values[low]), unit.text(values[high]));
    let steps = values.len();
    let mut out = String::new();
    if rate {
        let _ = write!(
            out,
            "search: the highest load.rate within every SLO is {lo} ({hi} fails; {steps} steps, resolution {})",
            unit.text(resolution)
        );
        if let Some(c) = costs_at(report, low) {
            let _ = write!(out, "\n{c}");
        }
        if let Some(w) = dispatch_warning(report, low) {
            let _ = write!(out, "\n{w}");
        }
        return out;
    }
    let crossovers = report.crossovers_on(objective);
    let c = crossovers.iter().find(|c| {
        c.key == key
            && c.percentile == "p50"
            && c.between.as_ref().is_some_and(|(a, b)| {
                let pair = [a.as_str(), b.as_str()];
                pair.contains(&lo.as_str()) && pair.contains(&hi.as_str())
            })
    });
    let at = c.and_then(|c| c.at).map_or(format!("between {lo} and {hi}"), |x| format!("≈ {}", unit.text(x)));
    let below = c.map_or(String::new(), |c| format!("; the {} {} below it", c.faster_below, objective.lower()));
    let on = match objective {
        Objective::Latency => "at p50",
        Objective::Energy => "on device energy per request",
        Objective::Cost => "on cost per million requests",
    };
    let _ = write!(
        out,
        "search: edge and cloud cross {on} along {key} {at} (bracketed by {lo} and {hi}, resolution {}, {steps} steps){below}",
        unit.text(resolution)
    );
    out
}

/// At the capacity found: each tier's cost per million requests and device
/// energy per request, when the scenario has them (means over repetitions).
fn costs_at(report: &Report, point: usize) -> Option<String> {
    let rows = report.energy_rows();
    let parts: Vec<String> = rows
        .iter()
        .filter(|r| r.point == point)
        .flat_map(|r| {
            let cost = r.cost_per_million.map(|c| format!("{} {c:.4} per million requests", r.name));
            let energy = r.mean_mj.map(|e| format!("{} {e:.1} mJ a request", r.name));
            cost.into_iter().chain(energy)
        })
        .collect();
    (!parts.is_empty()).then(|| format!("at that rate: {}", parts.join("; ")))
}

/// The load generator falling behind makes a rate search find its limit, not the system's.
fn dispatch_warning(report: &Report, point: usize) -> Option<String> {
    let worst =
        report.summaries.iter().filter(|s| s.point == point).filter_map(|s| s.dispatch.map(|d| d.p99_us)).max()?;
    (worst > DISPATCH_WARN_US).then(|| {
        format!(
            "warning: at that rate requests left up to {:.1} ms late (dispatch p99): the load generator fell behind, \
             so the answer may be its limit rather than the system's",
            worst as f64 / 1e3
        )
    })
}

/// Dispatch error (sent − intended) at p99 above which a rate search warns.
const DISPATCH_WARN_US: u64 = 1_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_bound_counts_both_ends_and_each_halving() {
        // 64ths of the range: the ends, then six halvings.
        assert_eq!(steps_bound((0.0, 64.0), 1.0), 8);
        assert_eq!(steps_bound((10.0, 5.0), 1.0), 5);
        assert_eq!(steps_bound((0.0, 1.0), 2.0), 2);
        assert_eq!(steps_bound((0.0, 1e9), 1e-9), MAX_STEPS);
    }
}
