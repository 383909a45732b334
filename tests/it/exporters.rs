//! The exporters, snapshot-tested from committed results folders: `plain`
//! (one point, one repetition, from `scenarios/smoke.yaml`) and `rich` (two
//! points, two repetitions, links with jitter, SLOs that fail, from
//! `tests/fixtures/scenarios/ci.yaml`). Both were written by real runs; the
//! exporters are pure functions of what the folders hold, so these snapshots
//! change only when an exporter does. Review a change with
//! `INSTA_UPDATE=always cargo test --release --test it exporters` and `git diff`.

use simrun::diff::{self, Options, Side};
use simrun::export::{csv, junit, markdown, RunFolder};

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

#[test]
fn diff_renderers() {
    let rich = folder("rich");
    let all = rich.repetitions().unwrap();
    let (even, odd) = diff::split_halves(&all);
    let a = Side { folder: &rich, repetitions: &even, which: "even" };
    let b = Side { folder: &rich, repetitions: &odd, which: "odd" };
    let c = diff::compare(&a, &b, &Options::default()).unwrap();
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
    let want: Vec<&str> = csv::SUMMARY_COLUMNS.iter().chain(&csv::EXTRA_COLUMNS).copied().collect();
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
