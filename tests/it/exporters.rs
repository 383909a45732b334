//! The exporters, snapshot-tested from committed results folders: `plain`
//! (one point, one repetition, from `scenarios/smoke.yaml`) and `rich` (two
//! points, two repetitions, links with jitter, SLOs that fail, from
//! `tests/fixtures/scenarios/ci.yaml`). Both were written by real runs; the
//! exporters are pure functions of what the folders hold, so these snapshots
//! change only when an exporter does. Review a change with
//! `INSTA_UPDATE=always cargo test --release --test it exporters` and `git diff`.

use simrun::diff::{self, Options, Side};
use simrun::export::{csv, junit, markdown, plot, RunFolder};

/// The folder by its path from the package root, the test's working
/// directory under both `cargo test` and `cargo nextest run`, so that the
/// path the diff renderers print is the same on every machine.
fn folder(name: &str) -> RunFolder {
    let path = std::path::Path::new("tests/fixtures/results").join(name);
    RunFolder::open(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("UTF-8")
}

#[test]
fn report_md() {
    insta::assert_snapshot!("report_md_plain", markdown::report_md(&folder("plain").report));
    insta::assert_snapshot!("report_md_rich", markdown::report_md(&folder("rich").report));
}

#[test]
fn summary_csv() {
    insta::assert_snapshot!("summary_csv_plain", text(csv::summary_csv(&folder("plain").report)));
    insta::assert_snapshot!("summary_csv_rich", text(csv::summary_csv(&folder("rich").report)));
}

#[test]
fn junit_xml() {
    insta::assert_snapshot!("junit_plain", text(junit::junit_xml(&folder("plain").report).unwrap()));
    insta::assert_snapshot!("junit_rich", text(junit::junit_xml(&folder("rich").report).unwrap()));
}

/// The rich fixture's even repetitions against its odd ones.
fn rich_self_check() -> diff::Comparison {
    let rich = folder("rich");
    let all = rich.repetitions().unwrap();
    let (even, odd) = diff::split_halves(&all);
    let a = Side { folder: &rich, repetitions: &even, which: "even" };
    let b = Side { folder: &rich, repetitions: &odd, which: "odd" };
    diff::compare(&a, &b, &Options::default()).unwrap()
}

#[test]
fn diff_renderers() {
    let c = rich_self_check();
    insta::assert_snapshot!("diff_table", diff::render_table(&c));
    insta::assert_snapshot!("diff_markdown", diff::render_markdown(&c));
    insta::assert_snapshot!("diff_json", diff::render_json(&c));
}

#[test]
fn the_fixtures_are_what_the_snapshots_say() {
    // The plain run: one point, one repetition, every SLO met; the rich one:
    // two points, two repetitions, some SLO checks failing.
    let (plain, rich) = (folder("plain").report, folder("rich").report);
    assert_eq!((plain.points.len(), plain.manifest.repetitions), (1, 1));
    assert_eq!((rich.points.len(), rich.manifest.repetitions), (2, 2));
    assert!(!rich.links.is_empty());
    let (failed, checks) = rich.slo_failures();
    assert!(failed > 0 && failed < checks, "{failed} of {checks}");
}

#[test]
fn results_json_is_what_its_schema_says() {
    // The committed schema is the one simrun generates from the types that write results.json.
    let (code, schema, stderr) = crate::common::simrun(&["schema", "--results"]);
    assert_eq!(code, 0, "{stderr}");
    let committed = std::fs::read_to_string(crate::common::root().join("docs/results.schema.json")).unwrap();
    assert!(
        schema == committed,
        "docs/results.schema.json is stale: simrun schema --results > docs/results.schema.json"
    );
    // The rich fixture as written today, and the plain one in the previous format (read and upgraded).
    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("results.json");
    std::fs::write(&written, simrun::export::results_json(&folder("rich").report)).unwrap();
    let fixtures = crate::common::root().join("tests/fixtures/results");
    crate::common::check_results_schema(&[written, fixtures.join("rich/results.json")]);
    let plain = std::fs::read_to_string(fixtures.join("plain/results.json")).unwrap();
    assert!(plain.contains("\"simrun-results-v1\""), "the plain fixture keeps the old format, which is still read");
    assert_eq!(folder("plain").report.points.len(), 1);
}

/// The backticked names in the first cell of each row of the markdown table
/// that follows `heading` in `doc`, in order; `also` takes them from the
/// second cell of the row whose first cell is exactly that.
fn documented(doc: &str, heading: &str, also: &str) -> Vec<String> {
    let section = doc.split(heading).nth(1).unwrap_or_else(|| panic!("{heading} is in docs/results.md"));
    let rows = section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    let mut names = Vec::new();
    for row in rows.skip(2) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let from = if cells[0].trim_start_matches("| ") == also { cells[1] } else { cells[0] };
        names.extend(from.split('`').skip(1).step_by(2).map(str::to_string));
    }
    names
}

#[test]
fn the_documented_columns_are_the_columns() {
    let doc = std::fs::read_to_string(crate::common::root().join("docs/results.md")).unwrap();
    assert_eq!(documented(&doc, "## `samples.csv`", ""), csv::SAMPLE_COLUMNS, "docs/results.md, samples.csv");
    let summary: Vec<String> = documented(&doc, "## `summary.csv`", "")
        .into_iter()
        .filter(|c| !c.starts_with("param:") && !c.starts_with("link:"))
        .collect();
    let want: Vec<&str> =
        csv::SUMMARY_COLUMNS.iter().chain(&csv::EXTRA_COLUMNS).chain(&csv::HOST_COLUMNS).copied().collect();
    assert_eq!(summary, want, "docs/results.md, summary.csv");
    let stats: Vec<String> = documented(&doc, "## `summary.csv`", "`link:<link>:<dir>:<stat>`")
        .into_iter()
        .filter(|c| csv::LINK_STATS.contains(&c.as_str()))
        .collect();
    assert_eq!(stats, csv::LINK_STATS, "docs/results.md, the link columns");
    // And the header of a real summary has them in that order.
    let header = csv::summary_header(&folder("rich").report);
    assert!(header.starts_with(&csv::SUMMARY_COLUMNS.map(String::from)), "{header:?}");
    assert!(
        header.iter().any(|c| c == "param:devices.count") && header.iter().any(|c| c.starts_with("link:cloud:up:"))
    );
}

/// The latency histograms of the rich fixture, per (point, tier) over its repetitions.
fn rich_histograms(f: &RunFolder) -> plot::PointHistograms {
    let mut out = plot::PointHistograms::new();
    let mut problems = Vec::new();
    for s in &f.report.summaries {
        simrun::export::add_histogram(
            &mut out,
            (s.point, s.tier),
            &f.histogram(s.point, s.repetition, s.tier).unwrap(),
            &mut problems,
        );
    }
    assert!(problems.is_empty(), "{problems:?}");
    out
}

/// Texts of an SVG's `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text").skip(1).filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.to_string())).collect()
}

fn has_text(svg: &str, want: &str) -> bool {
    svg_texts(svg).iter().any(|t| t.contains(want))
}

#[test]
fn each_plot_draws_its_axes_series_and_labels() {
    let rich = folder("rich");
    let mut report = rich.report.clone();
    let histograms = plot::PlotData { histograms: rich_histograms(&rich), ..Default::default() };
    let kinds = plot::plots_of(&report);
    let files: Vec<String> = kinds.iter().map(|k| k.file()).collect();
    assert_eq!(
        files,
        ["plots/latency-devices.count.svg", "plots/cdf-p0.svg", "plots/cdf-p1.svg", "plots/breakdown.svg"],
        "one latency plot per swept key, a CDF per point, the breakdown"
    );
    // A crossover to mark, as if the tiers traded places at 1.5 devices.
    report.crossovers.push(simrun::stats::Crossover {
        key: "devices.count".into(),
        fixed: vec![],
        percentile: "p50".into(),
        unit: String::new(),
        from: "1".into(),
        to: "2".into(),
        faster_below: simrun::plan::Tier::Edge,
        at: Some(1.5),
        between: Some(("1".into(), "2".into())),
        interval: None,
    });
    let svg = |kind: &plot::PlotKind| plot::render(kind, &report, &histograms).unwrap();

    let latency = svg(&kinds[0]);
    assert!(latency.starts_with("<svg") && latency.trim_end().ends_with("</svg>"));
    for want in ["Latency against devices", "latency (ms, log scale)", "edge p50", "edge p99", "cloud p50", "cloud p99"]
    {
        assert!(has_text(&latency, want), "latency plot lacks {want:?}: {:?}", svg_texts(&latency));
    }
    assert!(has_text(&latency, "p50 crossover 1.5"), "the crossover is marked: {:?}", svg_texts(&latency));
    // Four series, each a line and its legend's line, and the dotted crossover.
    assert!(latency.matches("<polyline").count() >= 8, "{latency}");
    // Markers that tell the tiers apart without colour: circles and squares.
    assert!(latency.contains("<circle") && latency.contains("<rect"));
    assert!(latency.contains("stroke-dasharray") || latency.matches("<polyline").count() > 12, "p99 is dashed");

    for (i, kind) in kinds[1..3].iter().enumerate() {
        let cdf = svg(kind);
        for want in ["latency (ms, log scale)", "share of requests at or below", "edge, p50", "cloud, p99", "100 %"] {
            assert!(has_text(&cdf, want), "CDF {i} lacks {want:?}: {:?}", svg_texts(&cdf));
        }
        assert!(has_text(&cdf, &format!("Latency CDF at devices {}", i + 1)), "{:?}", svg_texts(&cdf));
    }

    let breakdown = svg(&kinds[3]);
    for want in ["network", "queue", "inference", "share of the mean latency (%)", " ms", "1 edge", "2 cloud"] {
        assert!(has_text(&breakdown, want), "breakdown lacks {want:?}: {:?}", svg_texts(&breakdown));
    }
    // Three parts of four bars, each filled and outlined.
    assert!(breakdown.matches("<rect").count() >= 3 * 4 * 2, "{breakdown}");
}

#[test]
fn every_plot_says_keys_in_words_at_a_readable_size() {
    use crate::common::{dotted_keys, svg_text_problems};
    assert_eq!(dotted_keys("Latency against tiers.cloud.link.latency (ms)"), ["tiers.cloud.link.latency"]);
    assert!(dotted_keys("p50 crossover 1.5 ms, 0.2 %").is_empty(), "numbers are not keys");
    let mut svgs: Vec<(String, String)> = Vec::new();
    for name in ["rich"] {
        let f = folder(name);
        let data = plot::PlotData { histograms: rich_histograms(&f), ..Default::default() };
        for kind in plot::plots_of(&f.report) {
            let svg = plot::render(&kind, &f.report, &data).unwrap_or_else(|e| panic!("{}: {e}", kind.file()));
            svgs.push((format!("{name}/{}", kind.file()), svg));
        }
    }
    assert!(svgs.len() >= 4, "plots of the fixtures: {:?}", svgs.iter().map(|s| &s.0).collect::<Vec<_>>());
    for (file, svg) in &svgs {
        let problems = svg_text_problems(svg);
        assert!(problems.is_empty(), "{file}: {problems:?}");
    }
}

#[test]
fn the_report_embeds_the_plots_a_finished_run_has() {
    let rich = folder("rich").report;
    let md = markdown::report_md(&rich);
    for kind in plot::plots_of(&rich) {
        assert!(md.contains(&format!("]({})", kind.file())), "report.md embeds {}", kind.file());
    }
    let mut unfinished = rich.clone();
    unfinished.manifest.finished_at = None;
    assert!(!markdown::report_md(&unfinished).contains("](plots/"), "no plots before the run's end");
}

#[test]
fn the_diff_forest_plot_has_a_row_per_change() {
    let c = rich_self_check();
    let svg = diff::forest_plot(&c).unwrap();
    assert!(has_text(&svg, "candidate against baseline (%)"), "{:?}", svg_texts(&svg));
    for r in c.rows.iter().filter(|r| r.delta_unit == "%" && r.delta.is_some()) {
        let label = format!("{} {} {}", r.point, r.tier, r.metric.as_str());
        assert!(has_text(&svg, &label), "row {label:?}: {:?}", svg_texts(&svg));
    }
    assert!(has_text(&svg, "regressed") && has_text(&svg, "too few repetitions"), "the marker key");
    let md = diff::render_markdown_with_plot(&c, Some("diff.svg"));
    assert!(md.contains("](diff.svg)"), "{md}");
}
