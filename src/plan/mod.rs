//! The typed, validated experiment: sweep points with their full configuration.
//!
//! Nothing here knows about YAML; `scenario` builds these values. One file
//! per concern; each setting's limit sits beside its type.

mod arrival;
mod broker;
mod compute;
mod devices;
mod energy;
mod link;
mod partition;
mod policy;
mod shard;
mod slo;

pub use arrival::*;
pub use broker::*;
pub use compute::*;
pub use devices::*;
pub use energy::*;
pub use link::*;
pub use partition::*;
pub use policy::*;
pub use shard::*;
pub use slo::*;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Edge,
    Cloud,
    /// Not a place but a routing policy's view: each request once, as the
    /// device experienced it end to end, whichever tiers it went to
    /// (`placement: cascade`, `offload`, `deadline`, `split`, `partition`).
    Policy,
}

impl Tier {
    /// The tiers that run workers.
    pub const ALL: [Tier; 2] = [Tier::Edge, Tier::Cloud];
    /// Every kind of summary row: the tiers, and a policy's.
    pub const ROWS: [Tier; 3] = [Tier::Edge, Tier::Cloud, Tier::Policy];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Edge => "edge",
            Tier::Cloud => "cloud",
            Tier::Policy => "policy",
        }
    }

    pub fn parse(text: &str) -> Option<Tier> {
        Tier::ROWS.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole validated experiment.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub scenario_path: PathBuf,
    /// The scenario's text as read, for locating a key in later messages.
    pub scenario_text: String,
    /// The scenario after `--set` overrides, with every default written out.
    pub resolved_yaml: String,
    pub seed: u64,
    pub repetitions: u32,
    pub output: PathBuf,
    /// Swept keys in the order they were written.
    pub swept_keys: Vec<String>,
    pub points: Vec<SweepPoint>,
    /// Checked at every point once the run ends.
    pub slos: Vec<Slo>,
    /// Set when this run covers one shard of the plan; `points` then holds only that shard's.
    pub shard: Option<Shard>,
    /// Points in the whole plan, whatever the shard.
    pub plan_points: usize,
}

impl Plan {
    /// Keeps only the points of `shard`; fails when the shard would be empty.
    pub fn restrict_to(&mut self, shard: Shard) -> Result<(), ShardError> {
        let total = self.points.len();
        self.points.retain(|p| shard.contains(p.index));
        if self.points.is_empty() {
            return Err(ShardError(format!(
                "shard {shard} has no points: the plan has {total} (use at most {total} shards)"
            )));
        }
        self.shard = Some(shard);
        Ok(())
    }

    /// Warmup plus measured time over every point execution: the least a sweep can take.
    pub fn scheduled_load(&self) -> Duration {
        let per_round: Duration = self.points.iter().map(|p| p.config.load.warmup + p.config.load.duration).sum();
        per_round * self.repetitions
    }
}

/// One cell of the sweep grid.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    pub index: usize,
    /// `(dotted key, value as written in the scenario)` for each swept key.
    pub params: Vec<(String, String)>,
    pub config: PointConfig,
}

impl SweepPoint {
    /// `tiers.cloud.link.latency=50ms, devices.count=4`, or `(base)` with no sweep.
    pub fn label(&self) -> String {
        params_label(&self.params)
    }
}

/// `key=value, key=value` of a point's swept values, or `(base)` with no sweep.
pub fn params_label(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return "(base)".into();
    }
    let parts: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

/// Everything one sweep point needs to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PointConfig {
    pub broker: BrokerConfig,
    pub devices: DeviceConfig,
    pub load: LoadConfig,
    /// The tiers that receive requests, in `Tier` order.
    pub tiers: Vec<TierConfig>,
    /// How requests are routed between the tiers; `None`: each request goes
    /// to every tier of `tiers` (placement `edge`, `cloud` or `both`).
    pub policy: Option<Policy>,
    /// The device's energy model (`devices.radio`), when the scenario asks for it.
    pub energy: Option<EnergyConfig>,
    /// The tiers' prices (`tiers.<tier>.cost`).
    pub cost: CostConfig,
    /// `placement: partition`: the model split between the tiers.
    pub partition: Option<PartitionConfig>,
    /// The device groups, at least one. With one group it is `devices`,
    /// `load` and `energy` themselves; with several, `devices.count` is their
    /// sum and `devices`, `load` and `energy` are otherwise the first group's.
    pub groups: Vec<DeviceGroup>,
}

impl PointConfig {
    pub fn tier(&self, tier: Tier) -> Option<&TierConfig> {
        self.tiers.iter().find(|t| t.tier == tier)
    }

    /// True when the scenario wrote `devices` as a list of named groups:
    /// samples and summaries then say which group.
    pub fn grouped(&self) -> bool {
        self.groups.len() > 1 || self.groups.first().is_some_and(|g| g.name != SINGLE_GROUP)
    }

    /// The one group of a single `devices` block: every device, the point's load, energy, tiers and policy.
    pub fn whole_fleet(&self) -> DeviceGroup {
        DeviceGroup {
            name: SINGLE_GROUP.to_string(),
            first: 0,
            count: self.devices.count,
            input: self.devices.input.clone(),
            link: self.devices.link.clone(),
            load: self.load.clone(),
            energy: self.energy.clone(),
            tiers: self.tiers.iter().map(|t| t.tier).collect(),
            policy: self.policy,
        }
    }

    /// The group device `device` belongs to, by index.
    pub fn group_of(&self, device: u32) -> u16 {
        self.groups.iter().rposition(|g| g.first <= device).unwrap_or(0) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_is_uncertain_inside_the_band_for_a_score_and_below_the_confidence_for_classes() {
        let u = Uncertain { low: 0.2, high: 0.8, confidence: 0.6, classes: None };
        assert!(u.holds(0.2, None) && u.holds(0.5, None) && u.holds(0.8, None));
        assert!(!u.holds(0.19, None) && !u.holds(0.81, None));
        assert!(u.holds(0.59, Some(3)) && !u.holds(0.6, Some(3)) && !u.holds(0.95, Some(0)));
        assert_eq!(Policy::Cascade(Uncertain { classes: Some(false), ..u }).describe(), "cascade (score in 0.2–0.8)");
    }

    #[test]
    fn a_shard_is_written_i_of_n() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard::parse(" 1 / 1 "), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/2", "3/2", "1/0", "2", "a/b", "", "1/2/3", "-1/2"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.0.contains("expected I/N"), "{bad}: {e}");
        }
        assert_eq!(Shard { index: 3, count: 4 }.to_string(), "3/4");
    }

    #[test]
    fn shards_deal_the_points_round_robin_and_cover_each_once() {
        let count = 3;
        for point in 0..10 {
            let owners: Vec<usize> = (1..=count).filter(|&index| Shard { index, count }.contains(point)).collect();
            assert_eq!(owners, [point % count + 1], "point {point}");
            assert_eq!(Shard::of(point, count), Shard { index: owners[0], count });
        }
        let first: Vec<usize> = (0..7).filter(|&p| Shard { index: 1, count: 3 }.contains(p)).collect();
        assert_eq!(first, [0, 3, 6]);
    }

    #[test]
    fn a_point_is_labelled_by_its_swept_values() {
        assert_eq!(params_label(&[]), "(base)");
        let params = [("devices.count".to_string(), "4".to_string()), ("load.rate".to_string(), "9/s".to_string())];
        assert_eq!(params_label(&params), "devices.count=4, load.rate=9/s");
    }
}
