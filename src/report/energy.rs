//! What the report says about energy and money: the models the run was
//! costed with, each placement's energy and cost per point, and where the
//! placement that costs the device less energy changes along a swept key.

use serde::{Deserialize, Serialize};

use super::Report;
use crate::plan::Tier;
use crate::stats::{Crossover, EnergySummary, Objective};

/// The energy and cost models of a run, as the report states them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Costing {
    /// `devices.radio`'s name and the source of its figures, when energy was estimated.
    pub radio: Option<String>,
    pub radio_source: Option<String>,
    /// The radio costs nothing (`ethernet`, `none`, or a block of zeros).
    #[serde(default)]
    pub radio_free: bool,
    /// The edge runs on the device, with this power source.
    pub edge_on_device: bool,
    pub edge_power: Option<String>,
    pub battery_wh: Option<f64>,
    /// The cloud's price per worker-hour, its instance and the price file's source.
    pub cloud_per_hour: Option<f64>,
    pub cloud_instance: Option<String>,
    pub price_source: Option<String>,
    /// The edge device's price and lifetime in days.
    pub edge_device: Option<(f64, f64)>,
}

impl Costing {
    /// From the plan's first point (the models are not swept keys' business).
    pub fn of(plan: &crate::plan::Plan) -> Option<Costing> {
        let c = &plan.points.first()?.config;
        if c.energy.is_none() && c.cost.cloud.is_none() && c.cost.edge.is_none() {
            return None;
        }
        let e = c.energy.as_ref();
        Some(Costing {
            radio: e.map(|e| e.radio.name.clone()),
            radio_source: e.map(|e| e.radio.source.clone()),
            radio_free: e.is_some_and(|e| e.radio.is_free()),
            edge_on_device: e.is_some_and(|e| e.edge_on_device),
            edge_power: e
                .and_then(|e| e.edge_power.as_ref())
                .map(|p| format!("{} W idle, {} W with {} cores busy ({})", p.idle_w, p.active_w, p.cores, p.source)),
            battery_wh: e.and_then(|e| e.battery_wh),
            cloud_per_hour: c.cost.cloud.as_ref().map(|p| p.per_hour),
            cloud_instance: c.cost.cloud.as_ref().and_then(|p| p.instance.clone()),
            price_source: c.cost.cloud.as_ref().map(|p| p.source.clone()),
            edge_device: c.cost.edge.as_ref().map(|p| (p.device_price, p.lifetime.as_secs_f64() / 86_400.0)),
        })
    }
}

/// One tier's or policy's energy and cost at one point, means over its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyRow {
    pub point: usize,
    pub tier: Tier,
    /// `edge`, `cloud`, or the policy's name.
    pub name: String,
    pub mean_mj: Option<f64>,
    pub p50_mj: Option<f64>,
    pub p99_mj: Option<f64>,
    pub compute_mj: Option<f64>,
    pub radio_mj: Option<f64>,
    pub tail_mj: Option<f64>,
    pub battery_h: Option<f64>,
    pub cost_per_million: Option<f64>,
}

/// Along one line of a numeric sweep: where the placement that costs the
/// device less energy changes, or that one does throughout.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyLine {
    pub key: String,
    pub unit: String,
    pub fixed: Vec<(String, String)>,
    pub from: String,
    pub to: String,
    /// The tier using less energy below the crossing (or throughout).
    pub lower_below: Tier,
    /// Where it changes, and the swept values either side.
    pub at: Option<(f64, String, String)>,
}

impl Report {
    /// Every (point, tier) with energy or cost figures, in plan and tier order.
    pub fn energy_rows(&self) -> Vec<EnergyRow> {
        let mut out = Vec::new();
        for point in self.points.iter().map(|p| p.index) {
            for tier in Tier::ROWS {
                let mut reps = self.summaries.iter().filter(|s| s.point == point && s.tier == tier);
                if !reps.clone().any(|s| s.energy.is_some() || s.cost.is_some()) {
                    continue;
                }
                let name = reps.find_map(|s| s.policy.clone()).unwrap_or_else(|| tier.to_string());
                let energy = |f: fn(&EnergySummary) -> f64| self.mean_over(point, tier, |s| s.energy.as_ref().map(f));
                out.push(EnergyRow {
                    point,
                    tier,
                    name,
                    mean_mj: energy(|e| e.mean_mj),
                    p50_mj: energy(|e| e.p50_mj),
                    p99_mj: energy(|e| e.p99_mj),
                    compute_mj: energy(|e| e.compute_mj),
                    radio_mj: energy(|e| e.radio_mj),
                    tail_mj: energy(|e| e.tail_mj),
                    battery_h: self.mean_over(point, tier, |s| s.energy.and_then(|e| e.battery_h)),
                    cost_per_million: self.mean_over(point, tier, |s| s.cost.map(|c| c.per_million)),
                });
            }
        }
        out
    }

    /// Edge against cloud on energy along each numeric swept key.
    pub fn energy_lines(&self) -> Vec<EnergyLine> {
        self.crossovers_on(Objective::Energy)
            .into_iter()
            .filter(|c| c.percentile == "p50")
            .map(|c: Crossover| EnergyLine {
                key: c.key,
                unit: c.unit,
                fixed: c.fixed,
                from: c.from,
                to: c.to,
                lower_below: c.faster_below,
                at: c.at.zip(c.between).map(|(at, (a, b))| (at, a, b)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::test_report;
    use crate::stats::{test_summary, Summary};

    fn with_energy(point: usize, tier: Tier, mean_mj: f64) -> Summary {
        let mut s = test_summary(point, 0, tier, Some(1_000));
        s.energy = Some(EnergySummary {
            requests: 100,
            mean_mj,
            p50_mj: mean_mj,
            p99_mj: mean_mj * 2.0,
            compute_mj: 0.0,
            radio_mj: mean_mj,
            tail_mj: 0.0,
            battery_h: None,
        });
        s
    }

    #[test]
    fn the_placement_using_less_energy_changes_where_the_means_cross() {
        // The cloud's energy falls with the rate (shared tails), the edge's stays: cloud − edge is
        // +1,000 mJ at 1/s and −200 at 3/s, so they cross at 1 + 2 × 1000/1200 = 2.667/s.
        let rows = vec![
            with_energy(0, Tier::Edge, 500.0),
            with_energy(0, Tier::Cloud, 1_500.0),
            with_energy(1, Tier::Edge, 500.0),
            with_energy(1, Tier::Cloud, 300.0),
        ];
        let mut r = test_report(1, &["1/s", "3/s"], rows);
        r.swept_keys = vec!["load.rate".into()];
        for (i, p) in r.points.iter_mut().enumerate() {
            p.params = vec![("load.rate".into(), ["1/s", "3/s"][i].into())];
        }
        let lines = r.energy_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].lower_below, Tier::Edge);
        let (at, a, b) = lines[0].at.clone().unwrap();
        assert!((at - (1.0 + 2.0 * 1000.0 / 1200.0)).abs() < 1e-9, "{at}");
        assert_eq!((a.as_str(), b.as_str(), lines[0].unit.as_str()), ("1/s", "3/s", "/s"));
        let rows = r.energy_rows();
        assert_eq!(rows.len(), 4);
        assert_eq!((rows[1].name.as_str(), rows[1].mean_mj), ("cloud", Some(1_500.0)));
    }
}
