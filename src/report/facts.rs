//! What the report concludes, as typed facts: the finding, the crossovers,
//! the ranking of placements, accuracy and the run's status. Exporters
//! render these and decide nothing themselves.

use super::Report;
use crate::plan::Tier;
use crate::record::Route;
use crate::stats::{Crossover, Faster, Objective, Summary, Versus, TIE_PCT};

impl Report {
    /// Edge against cloud at every point where both ran, in plan order.
    pub fn versus(&self) -> Vec<Versus> {
        self.versus_on(Objective::Latency)
    }

    /// Edge against cloud on `objective` (latency, device energy or cost) at every point where both ran.
    pub fn versus_on(&self, objective: Objective) -> Vec<Versus> {
        let points: Vec<usize> = self.points.iter().map(|p| p.index).collect();
        objective.versus(&self.summaries, &points)
    }

    /// Where edge and cloud trade places on `objective` along each numeric
    /// swept key; latency's are also stored, as `crossovers`, by `summaries_changed`.
    pub fn crossovers_on(&self, objective: Objective) -> Vec<Crossover> {
        let params: Vec<(usize, Vec<(String, String)>)> =
            self.points.iter().map(|p| (p.index, p.params.clone())).collect();
        crate::stats::crossovers(&self.swept_keys, &params, &self.versus_on(objective))
    }

    /// The swept values of `point`, empty for an unknown point.
    pub fn params_of(&self, point: usize) -> &[(String, String)] {
        self.points.iter().find(|p| p.index == point).map_or(&[], |p| p.params.as_slice())
    }

    /// A point as a sentence names it: its swept values, or "the base scenario".
    pub fn point_label(&self, point: usize) -> String {
        match self.params_of(point) {
            [] => "the base scenario".into(),
            p => crate::plan::params_label(p),
        }
    }
}

/// The run's state in one word, and what makes it so.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// A tier answered nothing at `executions` point executions, first at `first`.
    Failed {
        partial: bool,
        tier: Tier,
        executions: usize,
        point: usize,
        repetition: u32,
    },
    /// `failed` of `checks` SLO checks failed.
    SloFailed {
        partial: bool,
        failed: usize,
        checks: usize,
    },
    /// Not every planned point execution finished.
    Partial,
    Success,
    CompletedWithWarnings,
}

impl Report {
    pub fn status(&self) -> Status {
        let partial = !self.complete();
        let silent = self.silent_tiers();
        if let Some(first) = silent.first() {
            return Status::Failed {
                partial,
                tier: first.tier,
                executions: silent.len(),
                point: first.point,
                repetition: first.repetition,
            };
        }
        match self.slo_failures() {
            (failed, checks) if failed > 0 => Status::SloFailed { partial, failed, checks },
            _ if partial => Status::Partial,
            _ if self.all_warnings().is_empty() => Status::Success,
            _ => Status::CompletedWithWarnings,
        }
    }
}

/// A tier that answered nothing at a point where the other did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SilentTier {
    pub tier: Tier,
    pub point: usize,
}

/// The headline: which tier answered faster over the points that compared them.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeCloud {
    /// Points where the verdict names the edge, the cloud, or a tie; and all compared.
    pub edge: usize,
    pub cloud: usize,
    pub tie: usize,
    pub compared: usize,
    /// The range of each tier's p50 over the compared points (µs, rounded medians).
    pub edge_p50_us: (u64, u64),
    pub cloud_p50_us: (u64, u64),
    /// The compared points with the lowest and the highest cloud/edge p50 ratio.
    pub lowest_ratio: (usize, f64),
    pub highest_ratio: (usize, f64),
}

/// What the Summary section concludes.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// At least one point compared the tiers; `silent` lists points where one tier answered nothing.
    EdgeCloud { versus: EdgeCloud, silent: Vec<SilentTier>, accuracy: Option<Accuracy> },
    /// Points ran both tiers, but at each one of them answered nothing.
    Silent(Vec<SilentTier>),
    /// Requests were routed by policy: the placements, and their ranking
    /// (its indexes are into `placements`).
    Policies { placements: Vec<Placement>, ranking: Option<Ranking> },
    /// The model was split between the tiers (`placement: partition`): the
    /// cuts compared and the network conditions they were compared under
    /// (the Split points tables say which is best).
    Split { cuts: usize, conditions: usize },
    /// One tier alone ran: its p50 range (µs) over `executions` point executions.
    OneTier { tier: Tier, p50_us: Option<(u64, u64)>, executions: usize },
    /// Nothing finished on both tiers.
    Nothing,
}

fn range(values: impl Iterator<Item = u64>) -> Option<(u64, u64)> {
    values.fold(None, |r, v| Some(r.map_or((v, v), |(lo, hi): (u64, u64)| (lo.min(v), hi.max(v)))))
}

impl Report {
    /// The finding: per point, which tier answered faster, if the data
    /// separate them (medians over repetitions), and the range of the ratio.
    pub fn finding(&self) -> Finding {
        let tables = self.split_tables();
        if !tables.is_empty() {
            let mut cuts: Vec<&str> = tables.iter().flat_map(|t| t.rows.iter().map(|r| r.at.as_str())).collect();
            cuts.sort_unstable();
            cuts.dedup();
            return Finding::Split { cuts: cuts.len(), conditions: tables.len() };
        }
        let all = self.versus();
        let silent: Vec<SilentTier> = all
            .iter()
            .filter(|v| v.faster.is_none())
            .map(|v| SilentTier {
                tier: if v.edge.p50_us.is_none() { Tier::Edge } else { Tier::Cloud },
                point: v.point,
            })
            .collect();
        let compared: Vec<&Versus> = all.iter().filter(|v| v.faster.is_some()).collect();
        if !compared.is_empty() {
            let count = |f: Faster| compared.iter().filter(|v| v.faster == Some(f)).count();
            let median = |v: &Option<f64>| v.map_or(0, |x| x.round() as u64);
            let ratio = |v: &&&Versus| v.p50_ratio().unwrap_or(0.0);
            let lo =
                compared.iter().min_by(|a, b| ratio(a).total_cmp(&ratio(b))).map_or((0, 0.0), |v| (v.point, ratio(&v)));
            let hi =
                compared.iter().max_by(|a, b| ratio(a).total_cmp(&ratio(b))).map_or((0, 0.0), |v| (v.point, ratio(&v)));
            let versus = EdgeCloud {
                edge: count(Faster::Edge),
                cloud: count(Faster::Cloud),
                tie: count(Faster::Tie),
                compared: compared.len(),
                edge_p50_us: range(compared.iter().map(|v| median(&v.edge.p50_us))).unwrap_or_default(),
                cloud_p50_us: range(compared.iter().map(|v| median(&v.cloud.p50_us))).unwrap_or_default(),
                lowest_ratio: lo,
                highest_ratio: hi,
            };
            return Finding::EdgeCloud { versus, silent, accuracy: self.accuracy() };
        }
        if !silent.is_empty() {
            return Finding::Silent(silent);
        }
        if self.summaries.iter().any(|s| s.tier == Tier::Policy) {
            let placements = self.placements();
            return Finding::Policies { ranking: Ranking::of(&placements), placements };
        }
        let tiers: Vec<Tier> = Tier::ALL.into_iter().filter(|t| self.summaries.iter().any(|s| s.tier == *t)).collect();
        match tiers.as_slice() {
            [tier] => Finding::OneTier {
                tier: *tier,
                p50_us: range(self.summaries.iter().filter_map(|s| s.latency.map(|l| l.p50_us))),
                executions: self.summaries.len(),
            },
            _ => Finding::Nothing,
        }
    }
}

/// The share of right answers of each tier over the run's labelled answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Accuracy {
    pub labelled: u64,
    /// Each tier with labelled answers: how many, and how many were right
    /// (a sum of per-summary shares × answers, so not always whole).
    pub tiers: Vec<(Tier, u64, f64)>,
}

impl Report {
    /// Accuracy over all labelled answers, per tier; `None` without labels.
    pub fn accuracy(&self) -> Option<Accuracy> {
        let mut tiers = Vec::new();
        let mut total = 0;
        for tier in Tier::ALL {
            let (labelled, correct) = self
                .summaries
                .iter()
                .filter(|s| s.tier == tier)
                .filter_map(|s| s.accuracy.map(|a| (s.labelled, a * s.labelled as f64)))
                .fold((0u64, 0f64), |(n, c), (l, r)| (n + l, c + r));
            if labelled > 0 {
                total += labelled;
                tiers.push((tier, labelled, correct));
            }
        }
        (!tiers.is_empty()).then_some(Accuracy { labelled: total, tiers })
    }
}

/// What the median says along one line of a numeric sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum MedianVerdict {
    /// The faster tier changes at `at`, between the swept values `between`.
    Crosses { at: f64, interval: Option<(f64, f64)>, between: (String, String), faster_below: Tier },
    /// One tier is faster at every point.
    Throughout { faster: Tier },
    /// Every point is a tie.
    AllTied,
    /// One tier's median is the lower one everywhere, but `ties` of `points` are ties.
    LowerThroughout { lower: Tier, ties: usize, points: usize },
}

/// What p99 says along the same line.
#[derive(Debug, Clone, PartialEq)]
pub enum TailVerdict {
    /// No p99 crossover was computed.
    None,
    /// The median's tier is also faster at p99 throughout.
    AgreesThroughout,
    /// One tier is faster at p99 throughout.
    Throughout(Tier),
    /// The tiers cross at p99 at these values.
    Crosses(Vec<f64>),
}

/// One line of the sweep along a numeric key, the other swept keys at `fixed`.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossoverLine {
    pub key: String,
    pub unit: String,
    pub fixed: Vec<(String, String)>,
    /// The sweep's ends along the key.
    pub from: String,
    pub to: String,
    pub median: Vec<MedianVerdict>,
    pub tail: TailVerdict,
}

impl Report {
    /// Of the points on the line with the other swept keys at `fixed`, how
    /// many the edge-against-cloud verdict calls a tie, and how many it
    /// compared: a sentence about the whole line must not contradict the points.
    pub fn ties_on_line(&self, fixed: &[(String, String)]) -> (usize, usize) {
        let on_line = |point: usize| fixed.iter().all(|f| self.params_of(point).contains(f));
        let compared: Vec<Versus> =
            self.versus().into_iter().filter(|v| v.faster.is_some() && on_line(v.point)).collect();
        (compared.iter().filter(|v| v.faster == Some(Faster::Tie)).count(), compared.len())
    }

    /// Each line of the sweep along each numeric key: where the faster tier
    /// changes at the median (and p99), or that it never does.
    pub fn crossover_lines(&self) -> Vec<CrossoverLine> {
        let mut lines: Vec<(&str, &[(String, String)])> = Vec::new();
        for c in &self.crossovers {
            if !lines.contains(&(c.key.as_str(), c.fixed.as_slice())) {
                lines.push((c.key.as_str(), c.fixed.as_slice()));
            }
        }
        lines.into_iter().filter_map(|(key, fixed)| self.crossover_line(key, fixed)).collect()
    }

    fn crossover_line(&self, key: &str, fixed: &[(String, String)]) -> Option<CrossoverLine> {
        let of = |pct: &str| -> Vec<&Crossover> {
            self.crossovers.iter().filter(|c| c.key == key && c.fixed == fixed && c.percentile == pct).collect()
        };
        let (median, tail) = (of("p50"), of("p99"));
        let first = median.first().or(tail.first())?;
        let ties = self.ties_on_line(fixed);
        let verdicts: Vec<MedianVerdict> = median
            .iter()
            .map(|c| match (c.at, &c.between) {
                (Some(at), Some((a, b))) => MedianVerdict::Crosses {
                    at,
                    interval: c.interval,
                    between: (a.clone(), b.clone()),
                    faster_below: c.faster_below,
                },
                _ => match ties {
                    (0, _) => MedianVerdict::Throughout { faster: c.faster_below },
                    (t, n) if t == n => MedianVerdict::AllTied,
                    (t, n) => MedianVerdict::LowerThroughout { lower: c.faster_below, ties: t, points: n },
                },
            })
            .collect();
        let crossings: Vec<f64> = tail.iter().filter_map(|c| c.at).collect();
        let tail = match (tail.first(), crossings.is_empty()) {
            (Some(t), true)
                if ties.0 == 0 && median.iter().all(|m| m.at.is_none() && m.faster_below == t.faster_below) =>
            {
                TailVerdict::AgreesThroughout
            }
            (Some(t), true) => TailVerdict::Throughout(t.faster_below),
            (Some(_), false) => TailVerdict::Crosses(crossings),
            (None, _) => TailVerdict::None,
        };
        Some(CrossoverLine {
            key: key.to_string(),
            unit: first.unit.clone(),
            fixed: fixed.to_vec(),
            from: first.from.clone(),
            to: first.to.clone(),
            median: verdicts,
            tail,
        })
    }
}

/// One placement on the common footing of the Policies table: a point's
/// policy, or one tier placed alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub point: usize,
    pub params: Vec<(String, String)>,
    /// The policy's name, or `edge only` / `cloud only`.
    pub name: String,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Shares of the requests (0–1), means over repetitions.
    pub failed: f64,
    pub edge: f64,
    pub cloud: f64,
    /// Requests that reached the cloud per second of the measured window.
    pub cloud_rps: f64,
    pub accuracy: Option<f64>,
    /// Each route taken, with its share (0–1), in `Route::ALL` order.
    pub routes: Vec<(Route, f64)>,
    /// Mean device energy a request cost (mJ), and the cost per million
    /// answered requests, means over repetitions, when estimated.
    pub energy_mj: Option<f64>,
    pub cost_per_million: Option<f64>,
}

impl Report {
    /// The mean of `f` over the repetitions of (point, tier).
    pub(super) fn mean_over(&self, point: usize, tier: Tier, f: impl Fn(&Summary) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.summaries.iter().filter(|s| s.point == point && s.tier == tier).filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// The routes a (point, tier)'s requests took, as shares, means over its repetitions.
    fn routes(&self, point: usize, tier: Tier) -> Vec<(Route, f64)> {
        let alone = match tier {
            Tier::Edge => Some(Route::Edge),
            Tier::Cloud => Some(Route::Cloud),
            Tier::Policy => None,
        };
        if let Some(route) = alone {
            return vec![(route, 1.0)];
        }
        Route::ALL
            .iter()
            .enumerate()
            .filter_map(|(i, route)| {
                let share = self.mean_over(point, tier, |s| s.routes.map(|r| r[i]))?;
                (share > 0.0).then_some((*route, share))
            })
            .collect()
    }

    /// Every placement of the run on one footing: the policy rows, and the
    /// tiers of points that placed requests on one tier alone.
    pub fn placements(&self) -> Vec<Placement> {
        let alone = |point: usize| self.aggregates.iter().filter(|a| a.point == point).count() == 1;
        let answered = |s: &Summary| s.counts.ok_share();
        self.aggregates
            .iter()
            .filter(|a| a.tier == Tier::Policy || alone(a.point))
            .map(|a| {
                let mean = |f: &dyn Fn(&Summary) -> Option<f64>| self.mean_over(a.point, a.tier, f);
                let name = match a.tier {
                    Tier::Policy => self
                        .summaries
                        .iter()
                        .find_map(|s| s.policy.clone().filter(|_| s.point == a.point && s.tier == Tier::Policy))
                        .unwrap_or_else(|| "policy".into()),
                    tier => format!("{tier} only"),
                };
                let (edge, cloud, cloud_rps) = match a.tier {
                    Tier::Edge => (mean(&answered).unwrap_or(0.0), 0.0, 0.0),
                    Tier::Cloud => (
                        0.0,
                        mean(&answered).unwrap_or(0.0),
                        mean(&|s| (s.window_s > 0.0).then(|| s.counts.requests as f64 / s.window_s)).unwrap_or(0.0),
                    ),
                    Tier::Policy => (
                        mean(&|s| s.edge_share).unwrap_or(0.0),
                        mean(&|s| s.cloud_share).unwrap_or(0.0),
                        mean(&|s| s.cloud_rps).unwrap_or(0.0),
                    ),
                };
                Placement {
                    point: a.point,
                    params: a.params.clone(),
                    name,
                    p50_us: a.p50_us,
                    p99_us: a.p99_us,
                    failed: mean(&|s| s.counts.failed_share()).unwrap_or(0.0),
                    edge,
                    cloud,
                    cloud_rps,
                    accuracy: mean(&|s| s.accuracy),
                    routes: self.routes(a.point, a.tier),
                    energy_mj: mean(&|s| s.energy.map(|e| e.mean_mj)),
                    cost_per_million: mean(&|s| s.cost.map(|c| c.per_million)),
                }
            })
            .collect()
    }
}

/// For each criterion, the placements (indexes into the list ranked) the
/// data cannot tell from the best one; empty where no placement has a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ranking {
    /// Within `TIE_PCT` % of the lowest p50, and of the lowest p99.
    pub lowest_p50: Vec<usize>,
    pub lowest_p99: Vec<usize>,
    /// Within `LOST_CLOSE` of the smallest share lost.
    pub fewest_lost: Vec<usize>,
    /// Within `ACCURACY_CLOSE` of the highest accuracy.
    pub highest_accuracy: Vec<usize>,
    /// Within `TIE_PCT` % of the least device energy, and of the lowest cost.
    pub lowest_energy: Vec<usize>,
    pub lowest_cost: Vec<usize>,
}

/// Shares of requests lost closer than this (0.1 point) are not told apart.
pub const LOST_CLOSE: f64 = 0.001;
/// Accuracies closer than this (1 point) are not told apart.
pub const ACCURACY_CLOSE: f64 = 0.01;

impl Ranking {
    /// The leaders of `placements` on each criterion; `None` when no
    /// criterion has a value.
    pub fn of(placements: &[Placement]) -> Option<Ranking> {
        let leaders = |key: &dyn Fn(&Placement) -> Option<f64>, lower: bool, close: &dyn Fn(f64, f64) -> bool| {
            let values: Vec<(f64, usize)> =
                placements.iter().enumerate().filter_map(|(i, p)| key(p).map(|k| (k, i))).collect();
            let Some(best) = values.iter().map(|v| v.0).reduce(|a, b| if (a < b) == lower { a } else { b }) else {
                return Vec::new();
            };
            values.iter().filter(|v| close(best, v.0)).map(|v| v.1).collect()
        };
        let latency = |best: f64, v: f64| v <= best * (1.0 + TIE_PCT / 100.0);
        let ranking = Ranking {
            lowest_p50: leaders(&|p| p.p50_us, true, &latency),
            lowest_p99: leaders(&|p| p.p99_us, true, &latency),
            fewest_lost: leaders(&|p| Some(p.failed), true, &|best, v| v - best <= LOST_CLOSE),
            highest_accuracy: leaders(&|p| p.accuracy, false, &|best, v| best - v <= ACCURACY_CLOSE),
            lowest_energy: leaders(&|p| p.energy_mj, true, &latency),
            lowest_cost: leaders(&|p| p.cost_per_million, true, &latency),
        };
        (ranking != Ranking::default()).then_some(ranking)
    }
}

#[cfg(test)]
mod tests;
