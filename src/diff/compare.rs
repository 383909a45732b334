//! The comparison itself: rows aligned by swept values, each metric's
//! repetitions tested against the other run's, verdicts Holm-adjusted
//! over the rows.

use super::*;

/// Splits every (point, tier)'s repetitions into the even-numbered and the
/// odd-numbered ones (in repetition order), for a self-check. Repetitions are
/// interleaved across points, so each half spans the whole run.
pub fn split_halves(all: &Repetitions) -> (Repetitions, Repetitions) {
    let (mut even, mut odd) = (Repetitions::new(), Repetitions::new());
    for (key, reps) in all {
        for (i, r) in reps.iter().enumerate() {
            let half = if i % 2 == 0 { &mut even } else { &mut odd };
            half.entry(*key).or_default().push(r.clone());
        }
    }
    (even, odd)
}

/// What a row's verdict needs besides its adjusted p-value.
struct Pending {
    beyond: bool,
    /// A latency change beyond the threshold but smaller than the resolution.
    under_resolution: bool,
    worse_when_higher: bool,
}

/// Holm's step-down adjustment of `p` (in any order): the adjusted p-values,
/// each to be compared with α, so that the chance of any false rejection among
/// all of them is at most α whatever their dependence.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Whether a row's adjusted p-value reaches α with an interval that excludes
/// 0, on the repetitions a verdict needs.
fn significant(row: &Row, o: &Options, needed: usize) -> bool {
    let (Some(lo), Some(hi), Some(p)) = (row.ci_low, row.ci_high, row.p_adjusted) else {
        return false;
    };
    row.baseline_repetitions >= needed && row.candidate_repetitions >= needed && p <= o.alpha && (lo > 0.0 || hi < 0.0)
}

fn verdict(row: &Row, pending: &Pending, o: &Options, needed: usize) -> Verdict {
    let (Some(delta), Some(_), Some(_), Some(_)) = (row.delta, row.ci_low, row.ci_high, row.p_adjusted) else {
        return Verdict::Same;
    };
    if row.baseline_repetitions < needed || row.candidate_repetitions < needed {
        return Verdict::Undecided;
    }
    if !(significant(row, o, needed) && pending.beyond) || delta == 0.0 {
        return Verdict::Same;
    }
    if (delta > 0.0) == pending.worse_when_higher {
        Verdict::Regressed
    } else {
        Verdict::Improved
    }
}

fn key(params: &[(String, String)]) -> BTreeMap<String, String> {
    params.iter().cloned().collect()
}

/// The rows of one tier at one aligned point.
fn tier_rows(
    (bp, cp): (usize, usize),
    point: &str,
    tier: Tier,
    (a, b): (&[Repetition], &[Repetition]),
    o: &Options,
    resolution_us: f64,
) -> Vec<(Row, Pending)> {
    let mut rows = Vec::new();
    let has = |m: Metric| a.iter().chain(b).any(|r| m.of(r).is_some());
    let costing = COSTING_METRICS.into_iter().filter(|m| has(m.statistic()));
    for (i, metric) in METRICS.into_iter().chain(costing).enumerate() {
        let m = metric.statistic();
        let seed = crate::seeds::bootstrap(bp, cp, tier as u64, i);
        let c = compare_metric(m, a, b, BOOTSTRAP_ITERATIONS, seed);
        let (scale, unit) = match m {
            Metric::Quantile(_) => (1e-3, "%"),
            Metric::Throughput | Metric::Energy | Metric::Cost => (1.0, "%"),
            Metric::TimeoutRate => (100.0, "pp"),
        };
        let (beyond, under_resolution) = beyond_threshold(m, (c.delta, c.baseline, c.candidate), o, resolution_us);
        let worse_when_higher = m != Metric::Throughput;
        let row = Row {
            point: point.to_string(),
            baseline_point: bp,
            candidate_point: cp,
            tier,
            metric,
            baseline: c.baseline.map(|v| v * scale),
            candidate: c.candidate.map(|v| v * scale),
            baseline_repetitions: c.n.0,
            candidate_repetitions: c.n.1,
            delta: c.delta,
            delta_unit: unit,
            ci_low: c.ci.map(|ci| ci.0),
            ci_high: c.ci.map(|ci| ci.1),
            p_value: c.p_value,
            p_adjusted: None,
            verdict: Verdict::Same,
            significant: false,
            held_back: false,
        };
        rows.push((row, Pending { beyond, under_resolution, worse_when_higher }));
    }
    rows
}

/// Whether a change of `delta` (from `baseline` to `candidate`) is beyond
/// the threshold, and whether the resolution held a latency change back.
fn beyond_threshold(
    m: Metric,
    (delta, baseline, candidate): (Option<f64>, Option<f64>, Option<f64>),
    o: &Options,
    resolution_us: f64,
) -> (bool, bool) {
    match (m, delta, baseline, candidate) {
        // Relative to the baseline's rate; from zero, any change is beyond it.
        (Metric::TimeoutRate, Some(d), Some(base), _) if base > 0.0 => {
            (d.abs() > 100.0 * base * o.threshold_pct / 100.0, false)
        }
        (Metric::TimeoutRate, Some(d), Some(_), _) => (d != 0.0, false),
        (Metric::Quantile(_), Some(d), Some(x), Some(y)) => {
            let under_resolution = d.abs() > o.threshold_pct && (y - x).abs() < resolution_us;
            (d.abs() > o.threshold_pct && !under_resolution, under_resolution)
        }
        (_, Some(d), _, _) => (d.abs() > o.threshold_pct, false),
        _ => (false, false),
    }
}

/// A run's harness-floor medians in µs: before and after its sweep (for a
/// merged run, its shards' too).
fn floor_medians(f: &RunFolder) -> Vec<u64> {
    let m = &f.report.manifest;
    m.floor.medians().chain(m.merged_from.iter().flat_map(|s| s.floor.medians())).collect()
}

/// How far the host's harness floor moved at the median, in µs: the range
/// of every floor median of both runs, before and after each sweep, so it
/// covers the move between the runs and within each.
///
/// The rank test sees the variation between repetitions within each run. A
/// shift that holds for a whole run is invisible to it: on the development
/// machine, sub-millisecond medians moved by up to 200 µs (±20 %) from one run
/// to the next while every repetition within a run agreed. When the host
/// changes like that, the floor (the same broker and client stacks without
/// the system under test) moves with it, and a latency change no larger than
/// that move is not attributed to the system under test. The floor's own
/// tail (its p99) says how noisy one round trip is, not how far the host
/// moved, and held back real changes smaller than it (a 10× slower edge,
/// 0.39 → 0.92 ms, against a 1.29 ms floor p99).
fn floor_movement_us(medians: &[u64]) -> Option<u64> {
    Some(medians.iter().max()? - medians.iter().min()?).filter(|_| medians.len() > 1)
}

/// The default resolution is this many times the floor's movement. A run's
/// path crosses more of the host than the floor's echo (the broker twice,
/// two link proxies, a worker and the collector), and moved more than it: in
/// `scripts/bench-diff` here (8 A/A runs of smoke.yaml, 28 pairs) the edge's
/// median moved up to 2.1 times as far as the floor's, and 1, 2 and 3 times
/// the movement gave a verdict in 4, 4 and 1 of the 28 pairs (the target is
/// at most 5 %). A 10× slower edge (+808 µs) still passes it (522 µs).
pub const FLOOR_MOVEMENT_FACTOR: u64 = 3;

fn check_options(o: &Options) -> Result<(), DiffError> {
    if !(o.threshold_pct.is_finite() && o.threshold_pct >= 0.0) {
        return Err(DiffError::Threshold(o.threshold_pct));
    }
    if !(o.alpha > 0.0 && o.alpha < 1.0) {
        return Err(DiffError::Alpha(o.alpha));
    }
    Ok(())
}

/// Compares `candidate` against `baseline`. Refuses runs whose scenarios
/// differ in more than swept values (and their repetition count) unless `force`.
pub fn compare(baseline: &Side, candidate: &Side, o: &Options) -> Result<Comparison, DiffError> {
    check_options(o)?;
    let self_check = baseline.which != "all";
    let differences = if self_check { Vec::new() } else { scenario_differences(baseline.folder, candidate.folder)? };
    if !differences.is_empty() && !o.force {
        return Err(DiffError::Incomparable(differences));
    }
    let mut notes = side_notes(baseline, candidate, self_check);
    let (resolution_us, resolution_source) = resolution(baseline, candidate, o);
    let rows = aligned_rows(baseline, candidate, o, resolution_us, &mut notes);
    if rows.is_empty() {
        return Err(DiffError::NothingInCommon);
    }
    let judged = judge(rows, o);
    if !judged.held_back.is_empty() {
        notes.push(format!(
            "{} latency row(s) changed significantly and beyond the threshold but by less than the resolution \
             ({:.3} ms, {resolution_source}), so they are ~: {}. A resolution this large means the host was \
             noisy while a floor was measured; rerun baseline and candidate on a quieter host, or set \
             --resolution",
            judged.held_back.len(),
            resolution_us / 1e3,
            judged.held_back.join(", ")
        ));
    }
    let rows = judged.rows;
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    Ok(Comparison {
        baseline: run_ref(baseline),
        candidate: run_ref(candidate),
        self_check,
        threshold_pct: o.threshold_pct,
        resolution_ms: resolution_us / 1e3,
        resolution_source,
        alpha: o.alpha,
        repetitions_needed: judged.needed,
        family: judged.family,
        method: METHOD,
        scenario_differences: differences,
        notes,
        regressions: count(Verdict::Regressed),
        improvements: count(Verdict::Improved),
        undecided: count(Verdict::Undecided),
        rows,
    })
}

/// What the reader should know about the sides themselves: partial runs, different hosts.
fn side_notes(baseline: &Side, candidate: &Side, self_check: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let (ra, rb) = (&baseline.folder.report, &candidate.folder.report);
    // A self-check's two sides are one run: say so once.
    let sides: &[(&str, &crate::report::Report)] =
        if self_check { &[("run", ra)] } else { &[("baseline", ra), ("candidate", rb)] };
    for &(name, r) in sides {
        if !r.complete() {
            notes.push(format!(
                "the {name} is partial: {} of {} point executions",
                r.executions_done(),
                r.executions_planned
            ));
        }
    }
    let (ha, hb) = (&ra.manifest.host, &rb.manifest.host);
    if !self_check && (ha.hostname != hb.hostname || ha.cpu != hb.cpu) {
        notes.push(format!(
            "the runs come from different hosts ({}, {} against {}, {}): every difference between the machines \
             is in the changes; run baseline and candidate on one host, interleaved",
            ha.hostname, ha.cpu, hb.hostname, hb.cpu
        ));
    }
    notes
}

/// The smallest latency change a verdict may rest on, in µs, and where it came from.
fn resolution(baseline: &Side, candidate: &Side, o: &Options) -> (f64, String) {
    match o.resolution {
        Some(r) => (r.as_secs_f64() * 1e6, "--resolution".to_string()),
        None => match floor_movement_us(&[floor_medians(baseline.folder), floor_medians(candidate.folder)].concat()) {
            Some(us) => (
                (us * FLOOR_MOVEMENT_FACTOR) as f64,
                format!(
                    "{FLOOR_MOVEMENT_FACTOR} × how far the harness floor's median moved between and within the two \
                     runs, before and after their sweeps"
                ),
            ),
            None => (0.0, "no harness floor was measured twice".to_string()),
        },
    }
}

/// The rows of every (point, tier) both sides ran, points aligned by their
/// swept values; what only one side ran goes to `notes`.
fn aligned_rows(
    baseline: &Side,
    candidate: &Side,
    o: &Options,
    resolution_us: f64,
    notes: &mut Vec<String>,
) -> Vec<(Row, Pending)> {
    let (ra, rb) = (&baseline.folder.report, &candidate.folder.report);
    let mut rows = Vec::new();
    for bp in &ra.points {
        let Some(cp) = rb.points.iter().find(|c| key(&c.params) == key(&bp.params)) else {
            notes.push(format!("point {} is only in the baseline", params_label(&bp.params)));
            continue;
        };
        for tier in Tier::ROWS {
            let get = |s: &Side, p: usize| -> Option<Vec<Repetition>> {
                s.repetitions.get(&(p, tier)).map(|v| v.iter().map(|r| r.1.clone()).collect())
            };
            let (a, b) = match (get(baseline, bp.index), get(candidate, cp.index)) {
                (Some(a), Some(b)) => (a, b),
                (None, None) => continue,
                (a, _) => {
                    let only = if a.is_some() { "baseline" } else { "candidate" };
                    notes.push(format!("the {tier} tier ran at {} only in the {only}", params_label(&bp.params)));
                    continue;
                }
            };
            let label = params_label(&bp.params);
            rows.extend(tier_rows((bp.index, cp.index), &label, tier, (&a, &b), o, resolution_us));
        }
    }
    for cp in &rb.points {
        if !ra.points.iter().any(|b| key(&b.params) == key(&cp.params)) {
            notes.push(format!("point {} is only in the candidate", params_label(&cp.params)));
        }
    }
    rows
}

/// The rows with their adjusted p-values and verdicts.
struct Judged {
    rows: Vec<Row>,
    /// The rows with a test: Holm's family.
    family: usize,
    /// Repetitions per side a verdict needs over that family.
    needed: usize,
    /// Rows the resolution kept from a verdict, as `point tier metric`.
    held_back: Vec<String>,
}

/// Adjusts the p-values over every row with a test (α bounds the chance of
/// any false alarm among them) and gives each row its verdict.
fn judge(mut rows: Vec<(Row, Pending)>, o: &Options) -> Judged {
    let tested: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].0.p_value.is_some()).collect();
    let family = tested.len().max(1);
    let needed = repetitions_needed(o.alpha / family as f64);
    let adjusted = holm(&tested.iter().map(|&i| rows[i].0.p_value.unwrap_or(1.0)).collect::<Vec<_>>());
    for (&i, p) in tested.iter().zip(adjusted) {
        rows[i].0.p_adjusted = Some(p);
    }
    let mut held_back = Vec::new();
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|(mut row, pending)| {
            row.verdict = verdict(&row, &pending, o, needed);
            row.significant = row.verdict == Verdict::Same && significant(&row, o, needed);
            row.held_back = pending.under_resolution && row.significant;
            if row.held_back {
                held_back.push(format!("{} {} {}", row.point, row.tier, row.metric));
            }
            row
        })
        .collect();
    Judged { rows, family, needed, held_back }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_moved_as_far_as_its_medians_spread_and_not_at_all_with_one() {
        // Baseline 174 µs before its sweep and 258 after; candidate 162 and 180.
        assert_eq!(floor_movement_us(&[174, 258, 162, 180]), Some(96));
        assert_eq!(floor_movement_us(&[200, 200]), Some(0));
        assert_eq!(floor_movement_us(&[200]), None, "one floor says nothing about movement");
        assert_eq!(floor_movement_us(&[]), None);
    }

    #[test]
    fn holm_by_hand() {
        // Sorted 0.01, 0.02, 0.04 over m = 3: 0.03, max(0.03, 0.04), max(0.04, 0.04).
        let a = holm(&[0.04, 0.01, 0.02]);
        let want = [0.04, 0.03, 0.04];
        for (x, y) in a.iter().zip(want) {
            assert!((x - y).abs() < 1e-12, "{a:?}");
        }
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
        // The smallest exact p of 6 against 6 survives 20 rows at 5 %; that of 5 against 5 does not.
        assert!(crate::stats::compare::smallest_p_value(6, 6) * 20.0 <= 0.05);
        assert!(crate::stats::compare::smallest_p_value(5, 5) * 20.0 > 0.05);
        assert_eq!(repetitions_needed(0.05 / 20.0), 6);
    }

    /// A p50 row of 6 against 6 repetitions, its change `delta` % with the
    /// interval [lo, hi] and the adjusted p-value `p`.
    fn row(metric: RowMetric, delta: f64, (lo, hi): (f64, f64), p: f64) -> Row {
        Row {
            point: "(base)".into(),
            baseline_point: 0,
            candidate_point: 0,
            tier: Tier::Cloud,
            metric,
            baseline: Some(10.0),
            candidate: Some(10.0 * (1.0 + delta / 100.0)),
            baseline_repetitions: 6,
            candidate_repetitions: 6,
            delta: Some(delta),
            delta_unit: "%",
            ci_low: Some(lo),
            ci_high: Some(hi),
            p_value: Some(p),
            p_adjusted: Some(p),
            verdict: Verdict::Same,
            significant: false,
            held_back: false,
        }
    }

    fn pending(beyond: bool, worse_when_higher: bool) -> Pending {
        Pending { beyond, under_resolution: false, worse_when_higher }
    }

    #[test]
    fn a_verdict_needs_significance_an_interval_off_zero_a_change_beyond_the_threshold_and_repetitions() {
        let o = Options::default();
        let slower = row(RowMetric::P50, 20.0, (12.0, 28.0), 0.04);
        assert_eq!(verdict(&slower, &pending(true, true), &o, 6), Verdict::Regressed);
        // Not significant after adjustment, or the interval holds 0, or within the threshold.
        assert_eq!(verdict(&row(RowMetric::P50, 20.0, (12.0, 28.0), 0.06), &pending(true, true), &o, 6), Verdict::Same);
        assert_eq!(verdict(&row(RowMetric::P50, 20.0, (-1.0, 28.0), 0.04), &pending(true, true), &o, 6), Verdict::Same);
        assert_eq!(verdict(&slower, &pending(false, true), &o, 6), Verdict::Same);
        // Too few repetitions on a side: `?`, whatever the numbers.
        assert_eq!(verdict(&slower, &pending(true, true), &o, 7), Verdict::Undecided);
        // Faster latency improves; more throughput improves, less regresses.
        let faster = row(RowMetric::P50, -20.0, (-28.0, -12.0), 0.04);
        assert_eq!(verdict(&faster, &pending(true, true), &o, 6), Verdict::Improved);
        let more = row(RowMetric::Throughput, 20.0, (12.0, 28.0), 0.04);
        assert_eq!(verdict(&more, &pending(true, false), &o, 6), Verdict::Improved);
        let less = row(RowMetric::Throughput, -20.0, (-28.0, -12.0), 0.04);
        assert_eq!(verdict(&less, &pending(true, false), &o, 6), Verdict::Regressed);
    }

    #[test]
    fn a_row_held_back_by_the_resolution_is_named_in_a_note() {
        let o = Options::default();
        let held = Pending { beyond: false, under_resolution: true, worse_when_higher: true };
        let rows = vec![
            (row(RowMetric::P50, 20.0, (12.0, 28.0), 0.001), held),
            (row(RowMetric::P99, 1.0, (-2.0, 3.0), 0.9), pending(false, true)),
        ];
        let judged = judge(rows, &o);
        assert!(judged.rows.iter().all(|r| r.verdict == Verdict::Same));
        assert_eq!(judged.held_back, ["(base) cloud p50"]);
        assert_eq!(judged.family, 2);
    }

    fn reps(n: u32) -> Vec<(u32, Repetition)> {
        (0..n).map(|r| (r, Repetition::default())).collect()
    }

    #[test]
    fn halves_alternate_in_repetition_order() {
        let mut all = Repetitions::new();
        all.insert((0, Tier::Edge), reps(5));
        all.insert((1, Tier::Cloud), reps(1));
        let (even, odd) = split_halves(&all);
        let numbers =
            |h: &Repetitions, k| h.get(&k).map(|v: &Vec<(u32, Repetition)>| v.iter().map(|r| r.0).collect::<Vec<_>>());
        assert_eq!(numbers(&even, (0, Tier::Edge)), Some(vec![0, 2, 4]));
        assert_eq!(numbers(&odd, (0, Tier::Edge)), Some(vec![1, 3]));
        assert_eq!(numbers(&even, (1, Tier::Cloud)), Some(vec![0]));
        assert_eq!(numbers(&odd, (1, Tier::Cloud)), None);
    }
}
