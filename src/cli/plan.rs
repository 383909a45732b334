//! `simrun plan`: the sweep points, with the shard each falls in, for people
//! or (with `--json`) for a CI matrix.

use serde::Serialize;

use super::failure::Failure;
use super::PlanArgs;
use crate::exit_code::Outcome;
use crate::plan::{Plan, Shard};
use crate::scenario;

#[derive(Serialize)]
struct PlanJson<'a> {
    scenario: &'a str,
    repetitions: u32,
    swept_keys: &'a [String],
    /// The `--shard` values of the matrix, one job each.
    shards: Vec<String>,
    points: Vec<PointJson>,
}

#[derive(Serialize)]
struct PointJson {
    id: String,
    index: usize,
    label: String,
    params: serde_json::Map<String, serde_json::Value>,
    shard: String,
}

fn plan_json(plan: &Plan, count: usize) -> PlanJson<'_> {
    PlanJson {
        scenario: &plan.name,
        repetitions: plan.repetitions,
        swept_keys: &plan.swept_keys,
        shards: (1..=count).map(|i| Shard { index: i, count }.to_string()).collect(),
        points: plan
            .points
            .iter()
            .map(|p| PointJson {
                id: format!("p{}", p.index),
                index: p.index,
                label: p.label(),
                params: p.params.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
                shard: Shard::of(p.index, count).to_string(),
            })
            .collect(),
    }
}

pub fn plan(args: PlanArgs) -> Result<Outcome, Failure> {
    let plan = scenario::load(&args.scenario.scenario, &args.scenario.set).map_err(Failure::input)?;
    let count = args.shards.unwrap_or(plan.points.len());
    if count == 0 || count > plan.points.len() {
        return Err(Failure::input(anyhow::anyhow!(
            "--shards must be from 1 to the number of points, {}; got {count}",
            plan.points.len()
        )));
    }
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&plan_json(&plan, count)).map_err(Failure::input)?;
        s.push('\n');
        s
    } else {
        let mut s = format!(
            "{}: {} point(s) × {} repetition(s) in {count} shard(s)\n",
            plan.name,
            plan.points.len(),
            plan.repetitions
        );
        for p in &plan.points {
            s.push_str(&format!(
                "  p{:<4} shard {:<7} {}\n",
                p.index,
                Shard::of(p.index, count).to_string(),
                p.label()
            ));
        }
        s
    };
    super::print_text(&out);
    Ok(Outcome::Passed)
}
