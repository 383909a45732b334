//! The report's conclusions, on hand-built reports whose answers are
//! worked out by hand in each test.

use super::*;
use crate::report::test_report;
use crate::stats::test_summary;

/// Edge and cloud p50s (µs) at points swept over the cloud link's latency.
fn swept(points: &[(&str, u64, u64)]) -> Report {
    let latencies: Vec<&str> = points.iter().map(|p| p.0).collect();
    let summaries = points
        .iter()
        .enumerate()
        .flat_map(|(i, (_, e, c))| {
            [test_summary(i, 0, Tier::Edge, Some(*e)), test_summary(i, 0, Tier::Cloud, Some(*c))]
        })
        .collect();
    test_report(1, &latencies, summaries)
}

#[test]
fn the_finding_counts_points_and_finds_the_extreme_ratios() {
    // Ratios 1.0 (tie), 2.0 and 4.0 (cloud slower): edge faster at 2 of 3.
    let r = swept(&[("0ms", 500, 500), ("10ms", 500, 1_000), ("20ms", 500, 2_000)]);
    let Finding::EdgeCloud { versus, silent, accuracy } = r.finding() else { panic!("{:?}", r.finding()) };
    assert_eq!((versus.edge, versus.cloud, versus.tie, versus.compared), (2, 0, 1, 3));
    assert_eq!(versus.edge_p50_us, (500, 500));
    assert_eq!(versus.cloud_p50_us, (500, 2_000));
    assert_eq!(versus.lowest_ratio, (0, 1.0));
    assert_eq!(versus.highest_ratio, (2, 4.0));
    assert!(silent.is_empty());
    assert_eq!(accuracy, None);
}

#[test]
fn a_tier_without_answers_is_silent_not_compared() {
    let mut r = swept(&[("0ms", 450, 700)]);
    r.summaries.push(test_summary(1, 0, Tier::Edge, Some(460)));
    r.summaries.push(test_summary(1, 0, Tier::Cloud, None));
    r.points
        .push(crate::report::PointRow { index: 1, params: vec![("tiers.cloud.link.latency".into(), "20ms".into())] });
    r.summaries_changed();
    let Finding::EdgeCloud { versus, silent, .. } = r.finding() else { panic!() };
    assert_eq!(versus.compared, 1);
    assert_eq!(silent, vec![SilentTier { tier: Tier::Cloud, point: 1 }]);
    assert!(matches!(r.status(), Status::Failed { tier: Tier::Cloud, executions: 1, point: 1, repetition: 0, .. }));

    let only_silent =
        test_report(1, &["0ms"], vec![test_summary(0, 0, Tier::Edge, None), test_summary(0, 0, Tier::Cloud, Some(9))]);
    assert_eq!(only_silent.finding(), Finding::Silent(vec![SilentTier { tier: Tier::Edge, point: 0 }]));
}

#[test]
fn one_tier_alone_gives_its_range() {
    let r = test_report(
        1,
        &["0ms", "5ms"],
        vec![test_summary(0, 0, Tier::Cloud, Some(900)), test_summary(1, 0, Tier::Cloud, Some(700))],
    );
    assert_eq!(r.finding(), Finding::OneTier { tier: Tier::Cloud, p50_us: Some((700, 900)), executions: 2 });
    assert_eq!(test_report(1, &[], vec![]).finding(), Finding::Nothing);
}

#[test]
fn accuracy_weighs_each_summary_by_its_labelled_answers() {
    let mut r = swept(&[("0ms", 500, 900), ("5ms", 500, 1_400)]);
    // The edge: 0.9 of 100 and 0.6 of 300 → 270 right of 400.
    for (i, (labelled, acc)) in [(100, 0.9), (300, 0.6)].into_iter().enumerate() {
        let s = r.summaries.iter_mut().find(|s| s.point == i && s.tier == Tier::Edge).unwrap();
        (s.labelled, s.accuracy) = (labelled, Some(acc));
    }
    let a = r.accuracy().expect("labelled answers");
    assert_eq!(a.labelled, 400);
    let [(tier, labelled, correct)] = a.tiers.as_slice() else { panic!("{a:?}") };
    assert_eq!((*tier, *labelled), (Tier::Edge, 400));
    assert!((correct - 270.0).abs() < 1e-9);
}

#[test]
fn a_crossover_line_says_where_the_median_changes_and_what_p99_does() {
    // The cloud is faster at 0 ms (0.5× the edge's p50) and slower from 10 ms on.
    let r = swept(&[("0ms", 1_000, 500), ("10ms", 1_000, 1_500), ("20ms", 1_000, 3_000)]);
    let lines = r.crossover_lines();
    let [line] = lines.as_slice() else { panic!("{lines:?}") };
    assert_eq!((line.key.as_str(), line.unit.as_str()), ("tiers.cloud.link.latency", "ms"));
    assert_eq!((line.from.as_str(), line.to.as_str()), ("0ms", "20ms"));
    let [MedianVerdict::Crosses { at, between, faster_below, interval: None }] = line.median.as_slice() else {
        panic!("{:?}", line.median)
    };
    // Cloud − edge goes from −500 µs at 0 ms to +500 µs at 10 ms: zero at 5 ms.
    assert!((at - 5.0).abs() < 1e-9, "{at}");
    assert_eq!(between, &("0ms".to_string(), "10ms".to_string()));
    assert_eq!(*faster_below, Tier::Cloud);
    // test_summary's p99 is twice its p50, so p99 crosses at the same place.
    let TailVerdict::Crosses(at99) = &line.tail else { panic!("{:?}", line.tail) };
    assert_eq!(at99.len(), 1);
    assert!((at99[0] - 5.0).abs() < 1e-9);
}

#[test]
fn a_line_without_a_crossing_counts_its_ties() {
    // Edge faster everywhere, by 2× and 3×: no tie, p99 agrees.
    let r = swept(&[("0ms", 500, 1_000), ("10ms", 500, 1_500)]);
    let line = &r.crossover_lines()[0];
    assert_eq!(line.median, vec![MedianVerdict::Throughout { faster: Tier::Edge }]);
    assert_eq!(line.tail, TailVerdict::AgreesThroughout);
    // One tie (2 % apart) and one clear edge win: the edge's median is lower, with 1 tie of 2.
    let r = swept(&[("0ms", 500, 510), ("10ms", 500, 1_500)]);
    assert_eq!(r.ties_on_line(&[]), (1, 2));
    let line = &r.crossover_lines()[0];
    assert_eq!(line.median, vec![MedianVerdict::LowerThroughout { lower: Tier::Edge, ties: 1, points: 2 }]);
    assert_eq!(line.tail, TailVerdict::Throughout(Tier::Edge));
}

/// A policy summary at `point` with its p50, share failed and accuracy.
fn policy(point: usize, name: &str, p50: u64, timeouts: u64, accuracy: Option<f64>) -> Summary {
    let mut s = test_summary(point, 0, Tier::Policy, Some(p50));
    s.policy = Some(name.into());
    (s.counts.ok, s.counts.timeouts) = (100 - timeouts, timeouts);
    (s.accuracy, s.labelled) = (accuracy, if accuracy.is_some() { 100 } else { 0 });
    (s.edge_share, s.cloud_share, s.cloud_rps) = (Some(0.7), Some(0.2), Some(20.0));
    s.routes = Some([0.7, 0.1, 0.2, 0.0]);
    s
}

#[test]
fn placements_put_policies_and_lone_tiers_on_one_footing() {
    let mut cloud = test_summary(0, 0, Tier::Cloud, Some(2_000));
    (cloud.counts.ok, cloud.counts.timeouts) = (90, 10);
    let r = test_report(3, &["a", "b"], vec![cloud, policy(1, "cascade", 900, 5, Some(0.95))]);
    let p = r.placements();
    assert_eq!(p.len(), 2);
    assert_eq!((p[0].name.as_str(), p[0].edge, p[0].cloud), ("cloud only", 0.0, 0.9));
    assert!((p[0].failed - 0.1).abs() < 1e-12);
    assert_eq!(p[0].cloud_rps, 100.0); // 100 requests over a 1 s window
    assert_eq!(p[0].routes, vec![(Route::Cloud, 1.0)]);
    assert_eq!((p[1].name.as_str(), p[1].edge, p[1].cloud, p[1].cloud_rps), ("cascade", 0.7, 0.2, 20.0));
    assert_eq!(p[1].routes, vec![(Route::ALL[0], 0.7), (Route::ALL[1], 0.1), (Route::ALL[2], 0.2)]);
}

#[test]
fn the_ranking_keeps_every_placement_too_close_to_the_best() {
    let r = test_report(
        1,
        &["a", "b", "c"],
        vec![
            policy(0, "cascade", 1_000, 0, Some(0.95)),
            policy(1, "offload", 1_040, 1, Some(0.941)), // p50 within 5 %, accuracy within 1 point
            policy(2, "deadline", 1_100, 0, Some(0.90)),
        ],
    );
    let p = r.placements();
    let ranking = Ranking::of(&p).expect("values to rank");
    assert_eq!(ranking.lowest_p50, vec![0, 1]);
    assert_eq!(ranking.lowest_p99, vec![0, 1]);
    assert_eq!(ranking.fewest_lost, vec![0, 2]);
    assert_eq!(ranking.highest_accuracy, vec![0, 1]);
    assert_eq!(Ranking::of(&[]), None);
}

#[test]
fn status_is_partial_until_every_execution_finished() {
    let mut r = swept(&[("0ms", 500, 900)]);
    assert_eq!(r.status(), Status::Success);
    r.finished.clear();
    assert_eq!(r.status(), Status::Partial);
}

#[test]
fn a_point_is_named_by_its_swept_values() {
    let r = swept(&[("5ms", 1, 2)]);
    assert_eq!(r.point_label(0), "tiers.cloud.link.latency=5ms");
    assert_eq!(r.point_label(9), "the base scenario");
}
