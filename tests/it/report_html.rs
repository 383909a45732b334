//! `report.html` in a real browser: Debian's Chromium, headless (installed by
//! scripts/setup), opens a real run's page from disk, with no network, and
//! the page's own script says what it found.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{run_smoke, Mosquitto};

/// A process group the test started, killed whatever happens to the test:
/// Chromium starts helper processes of its own, all in the group.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        // `-s KILL --` and then the negative group id: procps's `kill -9 -N`
        // does not read -N as a group here, and as root it killed every
        // process of the machine's session, this test's shell included.
        assert!(self.0 > 1, "never a group id of 0 or 1");
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.0)]).status();
    }
}

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Chromium is installed (scripts/setup installs the chromium package)")
}

/// The page's DOM after its scripts ran, and what the browser logged.
fn open(page: &Path, fragment: &str) -> (String, String) {
    use std::os::unix::process::CommandExt;
    let profile = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=5000", "--dump-dom"])
        .arg(format!("file://{}{fragment}", page.display()))
        .stdout(Stdio::from(out.reopen().unwrap()))
        .stderr(Stdio::from(err.reopen().unwrap()))
        .process_group(0)
        .spawn()
        .unwrap();
    let _group = Group(child.id());
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "Chromium did not finish within 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    (std::fs::read_to_string(out.path()).unwrap(), std::fs::read_to_string(err.path()).unwrap())
}

fn attribute(dom: &str, name: &str) -> Option<String> {
    let html = dom.split_once("<html")?.1.split_once('>')?.0;
    Some(html.split_once(&format!("{name}=\""))?.1.split_once('"')?.0.to_string())
}

#[test]
fn the_html_report_opens_in_a_browser_with_every_plot_and_table() {
    let broker = Mosquitto::start();
    let dir = run_smoke(&broker, &["repetitions=2"]);
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let plots = md.matches("](plots/").count();
    let tables =
        md.lines().filter(|l| l.starts_with("|---") || l.starts_with("|:--") || l.starts_with("| ---")).count();
    assert!(plots >= 4 && tables >= 5, "the smoke run's report has plots ({plots}) and tables ({tables})");
    assert!(!html.contains("<img"), "every plot is inline, so the page is one file");
    assert!(crate::common::check_plots_text(&dir) >= 4, "axis titles in words, text at 12 px or more");

    // Chromium computes for seconds as it starts: not beside the tests whose timings that would break.
    let (dom, log) = {
        let _cpu = crate::common::serial("cpu");
        open(&page, "#selftest")
    };
    assert_eq!(attribute(&dom, "data-ready").as_deref(), Some("yes"), "the page's script ran: {log}");
    assert_eq!(attribute(&dom, "data-errors"), None, "no script error");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "the page logged to the console: {console:?}");
    assert_eq!(attribute(&dom, "data-plots"), Some(plots.to_string()), "every plot of report.md is drawn inline");
    assert_eq!(attribute(&dom, "data-tables"), Some(tables.to_string()), "every table of report.md is there");
    let sorted = attribute(&dom, "data-sorted").unwrap_or_default();
    assert!(sorted.ends_with(" 0 out of order") && !sorted.starts_with("0 "), "sorting: {sorted}");
    // Hover values: each latency plot's points carry their value as an SVG title.
    assert!(dom.contains("<title>edge p50, cloud link one-way latency = "), "hover titles on points");
}
