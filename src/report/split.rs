//! What the report says about a partitioned model (`placement: partition`):
//! for each swept network condition, every cut's latency and where it went
//! (the Split points table), the best cut on latency and on device energy,
//! and where the best cut changes along a swept key.

use super::Report;
use crate::plan::Tier;
use crate::stats::SplitSummary;

/// What the preflight found holding each cut's head then tail to the whole
/// model on the run's inputs: the largest difference over the cuts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SplitCheck {
    /// Cuts with a head and a tail (`input` and `output` run the whole model).
    pub cuts: usize,
    pub inputs: usize,
    pub max_abs_diff: f32,
}

/// The swept key that chooses the cut.
pub const CUT_KEY: &str = "partition.at";

/// One cut at one point, over its repetitions: the median of their p50 and
/// p99 (the point's `Aggregate`), and the means of the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitRow {
    pub point: usize,
    pub at: String,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub latency_us: f64,
    pub head_us: f64,
    pub tail_us: f64,
    pub rest_us: f64,
    pub bytes: f64,
    /// Device energy per answered request, with `devices.radio`.
    pub energy_mj: Option<f64>,
}

/// Every cut run under one network condition (the swept values other than
/// the cut), and the best of them.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitTable {
    pub condition: Vec<(String, String)>,
    pub rows: Vec<SplitRow>,
    /// The cut with the lowest p50 latency, and the one using the least device energy.
    pub fastest: Option<String>,
    pub frugal: Option<String>,
}

/// Along one swept key, the other keys fixed: the best cut at each value.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitLine {
    pub key: String,
    pub fixed: Vec<(String, String)>,
    /// (value as written, fastest cut) in sweep order.
    pub fastest: Vec<(String, String)>,
}

impl SplitLine {
    /// Where the fastest cut changes: (from, to, the values either side).
    pub fn changes(&self) -> Vec<(String, String, String, String)> {
        self.fastest
            .windows(2)
            .filter(|w| w[0].1 != w[1].1)
            .map(|w| (w[0].1.clone(), w[1].1.clone(), w[0].0.clone(), w[1].0.clone()))
            .collect()
    }
}

/// The lowest of `rows` by `f`, by cut name.
fn lowest(rows: &[SplitRow], f: impl Fn(&SplitRow) -> Option<f64>) -> Option<String> {
    rows.iter().filter_map(|r| f(r).map(|v| (v, &r.at))).min_by(|a, b| a.0.total_cmp(&b.0)).map(|(_, at)| at.clone())
}

impl Report {
    /// The split's row of each partitioned point, in plan order.
    pub fn split_rows(&self) -> Vec<SplitRow> {
        let mut out = Vec::new();
        for point in self.points.iter().map(|p| p.index) {
            let first = self.summaries.iter().find(|s| s.point == point && s.tier == Tier::Policy && s.split.is_some());
            let Some(at) = first.and_then(|s| s.split.as_ref()).map(|s| s.at.clone()) else { continue };
            let mean = |f: fn(&SplitSummary) -> f64| self.mean_over(point, Tier::Policy, |s| s.split.as_ref().map(f));
            let agg = self.aggregates.iter().find(|a| a.point == point && a.tier == Tier::Policy);
            out.push(SplitRow {
                point,
                at,
                p50_us: agg.and_then(|a| a.p50_us),
                p99_us: agg.and_then(|a| a.p99_us),
                latency_us: mean(|s| s.latency_us).unwrap_or(0.0),
                head_us: mean(|s| s.head_us).unwrap_or(0.0),
                tail_us: mean(|s| s.tail_us).unwrap_or(0.0),
                rest_us: mean(|s| s.rest_us).unwrap_or(0.0),
                bytes: mean(|s| s.bytes).unwrap_or(0.0),
                energy_mj: self.mean_over(point, Tier::Policy, |s| s.energy.map(|e| e.mean_mj)),
            });
        }
        out
    }

    /// The swept values of `point` other than the cut.
    fn condition(&self, point: usize) -> Vec<(String, String)> {
        let params = self.points.iter().find(|p| p.index == point).map(|p| p.params.clone()).unwrap_or_default();
        params.into_iter().filter(|(k, _)| k != CUT_KEY).collect()
    }

    /// The Split points tables: one per network condition, in plan order.
    pub fn split_tables(&self) -> Vec<SplitTable> {
        let mut tables: Vec<SplitTable> = Vec::new();
        for row in self.split_rows() {
            let condition = self.condition(row.point);
            match tables.iter_mut().find(|t| t.condition == condition) {
                Some(t) => t.rows.push(row),
                None => tables.push(SplitTable { condition, rows: vec![row], fastest: None, frugal: None }),
            }
        }
        for t in &mut tables {
            t.fastest = lowest(&t.rows, |r| r.p50_us);
            t.frugal = lowest(&t.rows, |r| r.energy_mj);
        }
        tables
    }

    /// Along each swept key other than the cut (the others fixed), the
    /// fastest cut at each of its values, where it has more than one.
    pub fn split_lines(&self) -> Vec<SplitLine> {
        let tables = self.split_tables();
        let mut lines: Vec<SplitLine> = Vec::new();
        for key in self.swept_keys.iter().filter(|k| *k != CUT_KEY) {
            for t in &tables {
                let Some(value) = t.condition.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()) else { continue };
                let fixed: Vec<(String, String)> = t.condition.iter().filter(|(k, _)| k != key).cloned().collect();
                let Some(best) = t.fastest.clone() else { continue };
                match lines.iter_mut().find(|l| l.key == *key && l.fixed == fixed) {
                    Some(l) => l.fastest.push((value, best)),
                    None => lines.push(SplitLine { key: key.clone(), fixed, fastest: vec![(value, best)] }),
                }
            }
        }
        lines.retain(|l| l.fastest.len() > 1);
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::test_report;
    use crate::report::PointRow;
    use crate::stats::{test_summary, Summary};

    fn split(point: usize, at: &str, p50_ms: u64) -> Summary {
        let mut s = test_summary(point, 0, Tier::Policy, Some(p50_ms * 1000));
        s.split = Some(SplitSummary {
            at: at.into(),
            requests: 10,
            latency_us: p50_ms as f64 * 1000.0,
            head_us: 1000.0,
            tail_us: 2000.0,
            rest_us: p50_ms as f64 * 1000.0 - 3000.0,
            bytes: 100.0,
        });
        s
    }

    #[test]
    fn the_fastest_cut_is_named_per_condition_and_where_it_changes_along_the_swept_key() {
        let mut r = test_report(1, &[], Vec::new());
        r.swept_keys = vec!["tiers.cloud.link.bandwidth".into(), CUT_KEY.into()];
        let grid = [
            ("1Gbit/s", [("input", 20), ("r4", 40), ("output", 70)]),
            ("25Mbit/s", [("input", 80), ("r4", 55), ("output", 70)]),
            ("4Mbit/s", [("input", 400), ("r4", 110), ("output", 68)]),
        ];
        r.points.clear();
        r.summaries.clear();
        for (i, (bw, cuts)) in grid.iter().enumerate() {
            for (j, (at, ms)) in cuts.iter().enumerate() {
                let point = i * 3 + j;
                let params = vec![
                    ("tiers.cloud.link.bandwidth".to_string(), bw.to_string()),
                    (CUT_KEY.to_string(), at.to_string()),
                ];
                r.points.push(PointRow { index: point, params: params.clone() });
                let mut s = split(point, at, *ms);
                s.params = params;
                r.summaries.push(s);
            }
        }
        r.summaries_changed();
        let tables = r.split_tables();
        assert_eq!(tables.len(), 3);
        let fastest: Vec<Option<&str>> = tables.iter().map(|t| t.fastest.as_deref()).collect();
        assert_eq!(fastest, [Some("input"), Some("r4"), Some("output")]);
        assert_eq!(tables[1].condition, [("tiers.cloud.link.bandwidth".to_string(), "25Mbit/s".to_string())]);
        assert_eq!(tables[1].rows.iter().map(|r| r.at.as_str()).collect::<Vec<_>>(), ["input", "r4", "output"]);
        assert_eq!(tables[0].frugal, None);
        let lines = r.split_lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            lines[0].changes(),
            [
                ("input".to_string(), "r4".to_string(), "1Gbit/s".to_string(), "25Mbit/s".to_string()),
                ("r4".to_string(), "output".to_string(), "25Mbit/s".to_string(), "4Mbit/s".to_string())
            ]
        );
    }
}
