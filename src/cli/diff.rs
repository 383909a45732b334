//! `simrun diff BASELINE CANDIDATE` and `simrun diff --self-check RUN`: load
//! the folders and their histograms here, compare in `diff`, print.
//!
//! Exit 1 when any verdict is `regressed`, or, with `--strict`, when any row
//! has too few repetitions for a verdict.

use anyhow::anyhow;

use super::failure::Failure;
use super::{DiffArgs, DiffFormat};
use crate::diff::{self, Options, Side};
use crate::exit_code::Outcome;
use crate::export::RunFolder;

pub fn diff(args: DiffArgs) -> Result<Outcome, Failure> {
    let options =
        Options { threshold_pct: args.threshold, alpha: args.alpha, resolution: args.resolution, force: args.force };
    let c = match (&args.self_check, &args.baseline, &args.candidate) {
        (Some(run), None, None) => self_check(run, &options)?,
        (None, Some(base), Some(cand)) => {
            let baseline = RunFolder::open(base).map_err(Failure::input)?;
            let candidate = RunFolder::open(cand).map_err(Failure::input)?;
            let (ra, rb) =
                (baseline.repetitions().map_err(Failure::input)?, candidate.repetitions().map_err(Failure::input)?);
            let a = Side { folder: &baseline, repetitions: &ra, which: "all" };
            let b = Side { folder: &candidate, repetitions: &rb, which: "all" };
            diff::compare(&a, &b, &options).map_err(Failure::input)?
        }
        _ => {
            return Err(Failure::input(anyhow!(
                "give two run folders (BASELINE CANDIDATE), or one with --self-check RUN"
            )));
        }
    };
    let plot = match &args.plot {
        Some(path) => write_plot(&c, path)?,
        None => None,
    };
    let text = match args.format {
        DiffFormat::Table => diff::render_table(&c),
        DiffFormat::Markdown => diff::render_markdown_with_plot(&c, plot.as_deref()),
        DiffFormat::Json => diff::render_json(&c),
    };
    super::print_text(&text);
    if c.self_check {
        return Ok(Outcome::Passed);
    }
    if c.regressions > 0 {
        return Ok(Outcome::ChecksFailed);
    }
    if args.strict && c.undecided > 0 {
        eprintln!(
            "simrun diff: --strict: {} of {} rows have too few repetitions for a verdict (need ≥ {} per side)",
            c.undecided,
            c.rows.len(),
            c.repetitions_needed
        );
        return Ok(Outcome::ChecksFailed);
    }
    Ok(Outcome::Passed)
}

/// `--self-check RUN`: the run's even repetitions against its odd ones.
fn self_check(run: &std::path::Path, options: &Options) -> Result<diff::Comparison, Failure> {
    let folder = RunFolder::open(run).map_err(Failure::input)?;
    let all = folder.repetitions().map_err(Failure::input)?;
    if all.values().all(|reps| reps.len() < 2) {
        // Five rows per (point, tier): what a verdict will need over that many.
        let rows = all.len() * diff::METRICS.len();
        let needed = crate::stats::compare::repetitions_needed(options.alpha / rows as f64);
        return Err(Failure::input(anyhow!(
            "{} has one repetition per point; a self-check splits a run's repetitions in two halves, so \
             run the scenario with `repetitions: {}` or more (--set repetitions=N) for halves that can give \
             a verdict over its {rows} rows",
            run.display(),
            2 * needed
        )));
    }
    let (even, odd) = diff::split_halves(&all);
    let a = Side { folder: &folder, repetitions: &even, which: "even" };
    let b = Side { folder: &folder, repetitions: &odd, which: "odd" };
    diff::compare(&a, &b, options).map_err(Failure::input)
}

/// Writes the forest plot to `path`; returns the path to show, or `None`
/// (with the reason on stderr) when the comparison has nothing to plot.
fn write_plot(c: &diff::Comparison, path: &std::path::Path) -> Result<Option<String>, Failure> {
    match diff::forest_plot(c) {
        Ok(svg) => {
            std::fs::write(path, svg)
                .map_err(|e| Failure::input(anyhow!("cannot write the plot to {}: {e}", path.display())))?;
            Ok(Some(path.display().to_string()))
        }
        Err(e) => {
            eprintln!("simrun diff: no plot: {e}");
            Ok(None)
        }
    }
}
