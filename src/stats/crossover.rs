//! Where edge and cloud trade places along a numeric swept key: between two
//! neighbouring points where the sign of (cloud − edge) latency changes,
//! interpolated linearly, with an interval from the repetitions' medians.

use serde::{Deserialize, Serialize};

use super::versus::Versus;
use crate::plan::Tier;

/// One line of the sweep along one numeric key, at one percentile: where the
/// faster tier changes, or that it never does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Crossover {
    /// The swept key (`tiers.cloud.link.latency`).
    pub key: String,
    /// The other swept keys' values on this line (empty with one swept key).
    pub fixed: Vec<(String, String)>,
    /// `p50` or `p99`.
    pub percentile: String,
    /// The unit of `at`, `low`, `high`: `ms`, `Mbit/s`, `/s`, or empty for a plain number.
    pub unit: String,
    /// The first and last values of the line, as swept.
    pub from: String,
    pub to: String,
    /// The tier faster below the crossover, or over the whole line when there is none.
    pub faster_below: Tier,
    /// Where the tiers trade places, when they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<f64>,
    /// The swept values either side of it, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<(String, String)>,
    /// With repetitions (p50 only): the crossover of the intervals' extremes,
    /// within the bracketing points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
}

/// A swept value as a number and its unit (`ms` for a duration, `Mbit/s` for
/// a bandwidth, `/s` for a rate, empty for a plain number), when it is one.
pub fn numeric(text: &str) -> Option<(f64, &'static str)> {
    use crate::scenario::{parse_bandwidth, parse_duration, parse_rate};
    let t = text.trim();
    if let Ok(x) = t.parse::<f64>() {
        return x.is_finite().then_some((x, ""));
    }
    if let Ok(d) = parse_duration(t) {
        return Some((d.as_secs_f64() * 1e3, "ms"));
    }
    if let Ok(b) = parse_bandwidth(t) {
        return Some((b / 1e6, "Mbit/s"));
    }
    parse_rate(t).ok().map(|r| (r, "/s"))
}

/// Swept keys and their values, as written.
type Params = Vec<(String, String)>;

/// A line along a key: the other swept keys' values it holds fixed, and its
/// points as (the key's value as written, point index), in sweep order.
pub type Line = (Params, Vec<(String, usize)>);

/// The points along `key` grouped into lines that share every other swept
/// value, in order of first appearance; points that do not sweep `key` are on none.
pub fn lines_along(key: &str, params: &[(usize, Params)]) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for (point, p) in params {
        let Some((_, value)) = p.iter().find(|(k, _)| k == key) else { continue };
        let fixed: Params = p.iter().filter(|(k, _)| k != key).cloned().collect();
        match lines.iter_mut().find(|(f, _)| *f == fixed) {
            Some((_, points)) => points.push((value.clone(), *point)),
            None => lines.push((fixed, vec![(value.clone(), *point)])),
        }
    }
    lines
}

/// One point on a line: the key's value, as written and as a number, and the tiers there.
struct Step<'a> {
    text: String,
    x: f64,
    v: &'a Versus,
}

/// Every crossover (and every line without one) along each numeric swept
/// key, holding the other swept keys fixed. `params` gives each point's
/// swept values, by point index.
pub fn crossovers(swept: &[String], params: &[(usize, Params)], versus: &[Versus]) -> Vec<Crossover> {
    let mut out = Vec::new();
    for key in swept {
        let value = |p: &[(String, String)]| p.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let all: Vec<String> = params.iter().filter_map(|(_, p)| value(p)).collect();
        let Some(unit) = all.first().and_then(|v| numeric(v)).map(|(_, u)| u) else { continue };
        if !all.iter().all(|v| numeric(v).is_some_and(|(_, u)| u == unit)) {
            continue;
        }
        // Lines through the points where both tiers ran.
        let compared: Vec<(usize, Params)> =
            params.iter().filter(|(point, _)| versus.iter().any(|v| v.point == *point)).cloned().collect();
        for (fixed, points) in lines_along(key, &compared) {
            let mut steps: Vec<Step> = points
                .into_iter()
                .filter_map(|(text, point)| {
                    let v = versus.iter().find(|v| v.point == point)?;
                    Some(Step { x: numeric(&text)?.0, text, v })
                })
                .collect();
            steps.sort_by(|a, b| a.x.total_cmp(&b.x));
            for percentile in ["p50", "p99"] {
                out.extend(along(key, &fixed, unit, percentile, &steps));
            }
        }
    }
    out
}

/// Cloud minus edge at a step, at `percentile`.
fn gap(v: &Versus, percentile: &str) -> Option<f64> {
    match percentile {
        "p50" => Some(v.cloud.p50_us? - v.edge.p50_us?),
        _ => Some(v.cloud.p99_us? - v.edge.p99_us?),
    }
}

/// Where a straight line through (x0, d0) and (x1, d1) meets zero.
fn zero(x0: f64, d0: f64, x1: f64, d1: f64) -> f64 {
    if d0 == d1 {
        return x0;
    }
    x0 + (x1 - x0) * d0 / (d0 - d1)
}

/// The crossovers of one line at one percentile, or one entry saying which tier was faster throughout.
fn along(key: &str, fixed: &[(String, String)], unit: &str, percentile: &str, steps: &[Step]) -> Vec<Crossover> {
    let known: Vec<(&Step, f64)> = steps.iter().filter_map(|s| gap(s.v, percentile).map(|d| (s, d))).collect();
    let (Some(first), Some(last)) = (known.first(), known.last()) else { return Vec::new() };
    if known.len() < 2 {
        return Vec::new();
    }
    let tier = |d: f64| if d < 0.0 { Tier::Cloud } else { Tier::Edge };
    let base = Crossover {
        key: key.to_string(),
        fixed: fixed.to_vec(),
        percentile: percentile.to_string(),
        unit: unit.to_string(),
        from: first.0.text.clone(),
        to: last.0.text.clone(),
        faster_below: tier(first.1),
        at: None,
        between: None,
        interval: None,
    };
    let mut out = Vec::new();
    for pair in known.windows(2) {
        let ((a, da), (b, db)) = (pair[0], pair[1]);
        if tier(da) == tier(db) {
            continue;
        }
        let interval = (percentile == "p50").then(|| interval(a, b)).flatten();
        out.push(Crossover {
            faster_below: tier(da),
            at: Some(zero(a.x, da, b.x, db)),
            between: Some((a.text.clone(), b.text.clone())),
            interval,
            ..base.clone()
        });
    }
    if out.is_empty() {
        out.push(base);
    }
    out
}

/// With intervals at both points: where the gap's extremes (cloud low −
/// edge high, cloud high − edge low) cross zero, each held to the bracket.
fn interval(a: &Step, b: &Step) -> Option<(f64, f64)> {
    let extremes = |s: &Step| {
        let (e, c) = (s.v.edge.p50_interval?, s.v.cloud.p50_interval?);
        Some((c.low - e.high, c.high - e.low))
    };
    let ((a_min, a_max), (b_min, b_max)) = (extremes(a)?, extremes(b)?);
    let cross = |d0: f64, d1: f64| {
        if (d0 < 0.0) == (d1 < 0.0) {
            // This extreme does not change sign between the points: the
            // crossover may lie anywhere up to the bracket's end on its side.
            if d0.abs() < d1.abs() {
                a.x
            } else {
                b.x
            }
        } else {
            zero(a.x, d0, b.x, d1)
        }
    };
    let (x, y) = (cross(a_min, b_min), cross(a_max, b_max));
    Some((x.min(y), x.max(y)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::versus::TierAt;
    use crate::stats::Interval;

    fn at(p50: f64, interval: Option<(f64, f64)>) -> TierAt {
        TierAt {
            answered: 1,
            repetitions: 1,
            p50_us: Some(p50),
            p99_us: Some(2.0 * p50),
            p50_interval: interval.map(|(low, high)| Interval { low, high, coverage: 0.95 }),
        }
    }

    fn point(point: usize, edge: f64, cloud: f64) -> Versus {
        Versus { point, edge: at(edge, None), cloud: at(cloud, None), faster: None }
    }

    fn params(values: &[&str]) -> Vec<(usize, Vec<(String, String)>)> {
        values.iter().enumerate().map(|(i, v)| (i, vec![("lat".to_string(), v.to_string())])).collect()
    }

    #[test]
    fn the_crossing_is_interpolated_between_the_bracketing_points() {
        // Cloud − edge: −600 µs at 0 ms, −200 at 5 ms, +200 at 10 ms, +1000 at 20 ms: zero at 7.5 ms.
        let v =
            vec![point(0, 1000.0, 400.0), point(1, 1000.0, 800.0), point(2, 1000.0, 1200.0), point(3, 1000.0, 2000.0)];
        let c = crossovers(&["lat".into()], &params(&["0ms", "5ms", "10ms", "20ms"]), &v);
        let p50: Vec<&Crossover> = c.iter().filter(|c| c.percentile == "p50").collect();
        assert_eq!(p50.len(), 1, "{c:?}");
        assert_eq!(p50[0].faster_below, Tier::Cloud);
        assert!((p50[0].at.unwrap() - 7.5).abs() < 1e-9, "{c:?}");
        assert_eq!(p50[0].between, Some(("5ms".into(), "10ms".into())));
        assert_eq!((p50[0].unit.as_str(), p50[0].from.as_str(), p50[0].to.as_str()), ("ms", "0ms", "20ms"));
        assert_eq!(p50[0].interval, None);
    }

    #[test]
    fn one_tier_faster_throughout_is_one_entry_without_a_crossing() {
        let v = vec![point(0, 100.0, 400.0), point(1, 100.0, 800.0)];
        let c = crossovers(&["lat".into()], &params(&["1", "2"]), &v);
        assert_eq!(c.len(), 2, "p50 and p99: {c:?}");
        assert!(c.iter().all(|c| c.at.is_none() && c.faster_below == Tier::Edge && c.unit.is_empty()));
        // A key whose values are not all numbers has no crossover.
        assert!(crossovers(&["lat".into()], &params(&["1ms", "fast"]), &v).is_empty());
    }

    #[test]
    fn repetitions_give_an_interval_inside_the_bracket() {
        let rep = |p: usize, e: f64, c: f64| Versus {
            point: p,
            edge: at(e, Some((e - 50.0, e + 50.0))),
            cloud: at(c, Some((c - 50.0, c + 50.0))),
            faster: None,
        };
        let v = vec![rep(0, 1000.0, 800.0), rep(1, 1000.0, 1200.0)];
        let c = crossovers(&["lat".into()], &params(&["0ms", "10ms"]), &v);
        let p50 = c.iter().find(|c| c.percentile == "p50").unwrap();
        let (low, high) = p50.interval.unwrap();
        // Gap extremes −300 and −100 at 0 ms, +100 and +300 at 10 ms: the lower crosses zero at 7.5 ms,
        // the upper at 2.5 ms, the medians at 5 ms.
        assert!((p50.at.unwrap() - 5.0).abs() < 1e-9);
        assert!((low - 2.5).abs() < 1e-9 && (high - 7.5).abs() < 1e-9, "{low}–{high}");
        // When one extreme keeps its sign, the interval runs to the bracket's end on that side.
        let v = vec![rep(0, 1000.0, 960.0), rep(1, 1000.0, 1200.0)];
        let c = crossovers(&["lat".into()], &params(&["0ms", "10ms"]), &v);
        let (low, high) = c.iter().find(|c| c.percentile == "p50").unwrap().interval.unwrap();
        assert!(low == 0.0 && high > 0.0 && high < 10.0, "{low}–{high}");
    }

    #[test]
    fn every_line_of_a_grid_gets_its_own_crossover() {
        let params: Vec<(usize, Vec<(String, String)>)> = [("2", "0ms"), ("2", "10ms"), ("8", "0ms"), ("8", "10ms")]
            .iter()
            .enumerate()
            .map(|(i, (k, l))| (i, vec![("k".to_string(), k.to_string()), ("lat".to_string(), l.to_string())]))
            .collect();
        let v = vec![point(0, 100.0, 50.0), point(1, 100.0, 150.0), point(2, 800.0, 50.0), point(3, 800.0, 150.0)];
        let c: Vec<Crossover> = crossovers(&["k".into(), "lat".into()], &params, &v)
            .into_iter()
            .filter(|c| c.key == "lat" && c.percentile == "p50")
            .collect();
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].fixed, vec![("k".to_string(), "2".to_string())]);
        assert!((c[0].at.unwrap() - 5.0).abs() < 1e-9, "{c:?}");
        assert!(c[1].at.is_none() && c[1].faster_below == Tier::Cloud, "{c:?}");
    }
}
