//! Test support: a private Mosquitto on a free port, stopped by PID.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Mosquitto process of the test's own, with Nagle's algorithm off.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

fn mosquitto_binary() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    "mosquitto".into()
}

fn spawn(conf: &Path) -> Child {
    Command::new(mosquitto_binary())
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto is installed (scripts/setup installs it)")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Mosquitto {
    /// The PUBLISH messages the broker has delivered so far, by its own
    /// counter (`$SYS/broker/publish/messages/sent`, retained; start the
    /// broker with `sys_interval 1` for a figure at most a second old).
    pub fn deliveries(&self) -> u64 {
        let addr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let topic = ("$SYS/broker/publish/messages/sent".to_string(), rumqttc::QoS::AtMostOnce);
            let c = simrun::run::broker::Connection::open("sys-reader", addr, &self.config(), &[topic], Some(tx))
                .await
                .unwrap();
            let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a $SYS counter");
            c.close().await;
            let (_, p) = got.unwrap();
            std::str::from_utf8(&p.payload).unwrap().trim().parse().unwrap()
        })
    }

    /// Starts a broker on a free port and waits until it accepts connections.
    pub fn start() -> Mosquitto {
        Self::start_with("allow_anonymous true\n")
    }

    /// As `start`, with `extra` config lines (which must say whether anonymous clients may connect).
    pub fn start_with(extra: &str) -> Mosquitto {
        // Another process may take the port between our probe and Mosquitto's
        // bind; try a few ports before giving up.
        let mut last_error = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let conf = dir.path().join("mosquitto.conf");
            std::fs::write(
                &conf,
                format!("listener {port} 127.0.0.1\nset_tcp_nodelay true\npersistence false\n{extra}"),
            )
            .unwrap();
            let mut child = spawn(&conf);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("mosquitto exited with {status}");
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Mosquitto { child, port, _dir: dir };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start mosquitto: {last_error}");
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// This broker as a scenario's `broker:` block with defaults would give it: anonymous, QoS 1.
    pub fn config(&self) -> simrun::plan::BrokerConfig {
        simrun::plan::BrokerConfig {
            url: self.url(),
            managed: false,
            host: "127.0.0.1".into(),
            port: self.port,
            qos: 1,
            reconnect_timeout: Duration::from_secs(30),
            login: None,
            tls: None,
            encoding: simrun::plan::Encoding::Json,
        }
    }

    /// Kills the broker (by PID) and waits for it: every client loses it at once.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the broker again on the same port, with the same config.
    pub fn restart(&mut self) {
        let conf = self._dir.path().join("mosquitto.conf");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = spawn(&conf);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.child = child;
                    return;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port may still be held: try again
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(Instant::now() < deadline, "mosquitto did not restart on port {}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One test of a group at a time (`name`: the group): their runs share two
/// cores, and a flood, a dead broker or extra processes next door would be
/// measured as this test's noise. Group `cpu`: the tests that compute for
/// seconds (partitioning, its parity checks) and the tests whose timings a
/// busy neighbour would break (the A/A tie, the searches and the crossover
/// of a slowed CNN, jitter and trace timings, the diff of a slower link,
/// the link benchmark's bias) and headless Chromium starting up:
/// two of them side by side failed together on a busy run. An exclusive lock on a file, so that it
/// holds across threads (`cargo test`) and processes (`cargo nextest run`);
/// it goes with the returned file, or with the process.
pub fn serial(name: &str) -> std::fs::File {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.lock"));
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).unwrap();
    file.lock().unwrap();
    file
}

/// Runs the simrun binary with `args` in `dir`: exit code, stdout, stderr.
pub fn simrun_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = assert_cmd::Command::cargo_bin("simrun").unwrap().current_dir(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `simrun_in` the package root.
pub fn simrun(args: &[&str]) -> (i32, String, String) {
    simrun_in(&root(), args)
}

/// The package root, where `models/` and `scenarios/` live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    free_port()
}

/// Runs `simrun run scenarios/smoke.yaml` against `broker` with extra `--set`s;
/// returns the results folder. Panics with simrun's output if it fails.
pub fn run_smoke(broker: &Mosquitto, sets: &[&str]) -> PathBuf {
    let out = tempfile::tempdir().unwrap().keep();
    let mut cmd = assert_cmd::Command::cargo_bin("simrun").unwrap();
    cmd.current_dir(root()).args(["run", "scenarios/smoke.yaml", "--quiet", "--out"]).arg(&out);
    cmd.args(["--set", &format!("broker.url={}", broker.url())]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    let report = PathBuf::from(stdout.lines().last().expect("the report path"));
    report.parent().unwrap().to_path_buf()
}

/// A CSV file as a header and rows of strings.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn read(path: &Path) -> Table {
        let mut r = csv::Reader::from_path(path).unwrap();
        let header = r.headers().unwrap().iter().map(str::to_string).collect();
        let rows = r.records().map(|x| x.unwrap().iter().map(str::to_string).collect()).collect();
        Table { header, rows }
    }

    pub fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {:?}", self.header))
    }

    /// The numeric value of `name` in `row`.
    pub fn num(&self, row: &[String], name: &str) -> f64 {
        row[self.col(name)].parse().unwrap_or_else(|_| panic!("{name} = {:?} is not a number", row[self.col(name)]))
    }

    /// Rows whose `column` equals `value`.
    pub fn filter<'a>(&'a self, column: &str, value: &str) -> impl Iterator<Item = &'a Vec<String>> + 'a {
        let c = self.col(column);
        let value = value.to_string();
        self.rows.iter().filter(move |r| r[c] == value)
    }
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Checks "where the time goes" against samples.csv: for every summary row of
/// one repetition, the means of latency, queue, inference, held (compute
/// emulated) and network over its answered measured requests are the row's,
/// and the parts add up to the mean latency within 1 %. Returns the largest
/// mean held time seen, in µs.
pub fn breakdown_adds_up(dir: &Path) -> f64 {
    let samples = Table::read(&dir.join("samples.csv"));
    let summary = Table::read(&dir.join("summary.csv"));
    let mut sums: std::collections::HashMap<(String, String, String), [f64; 6]> = Default::default();
    for r in &samples.rows {
        if r[samples.col("phase")] != "measure" || r[samples.col("status")] != "ok" {
            continue;
        }
        let key = ["point", "repetition", "tier"].map(|c| r[samples.col(c)].clone());
        let v = |c: &str| r[samples.col(c)].parse::<f64>().unwrap_or(0.0);
        let (latency, queue, infer, held) = (v("latency_us"), v("queue_us"), v("infer_us"), v("held_us"));
        let s = sums.entry(key.into()).or_default();
        for (sum, x) in s.iter_mut().zip([1.0, latency, queue, infer, held, latency - queue - infer - held]) {
            *sum += x;
        }
    }
    let mut rows = 0;
    let mut most_held: f64 = 0.0;
    for r in summary.rows.iter().filter(|r| r[summary.col("repetition")] != "all") {
        if r[summary.col("latency_mean_us")].is_empty() {
            continue;
        }
        let key = ["point", "repetition", "tier"].map(|c| r[summary.col(c)].clone());
        let s = sums.get(&key.clone().into()).unwrap_or_else(|| panic!("no answered samples for {key:?}"));
        let mean = |i: usize| s[i] / s[0];
        let columns = ["latency_mean_us", "queue_mean_us", "infer_mean_us", "held_mean_us", "network_mean_us"];
        for (i, c) in columns.iter().enumerate() {
            let (reported, recomputed) = (summary.num(r, c), mean(i + 1));
            assert!(
                (reported - recomputed).abs() <= 0.1 + 1e-3 * recomputed.abs(),
                "{key:?} {c}: {reported} against {recomputed} from samples.csv"
            );
        }
        let parts: f64 = columns[1..].iter().map(|c| summary.num(r, c)).sum();
        let latency = summary.num(r, "latency_mean_us");
        assert!(
            (parts - latency).abs() <= 0.01 * latency,
            "{key:?}: parts add up to {parts} µs, mean latency {latency} µs"
        );
        most_held = most_held.max(summary.num(r, "held_mean_us"));
        rows += 1;
    }
    assert!(rows > 0, "no summary rows to check");
    most_held
}

/// Checks each `results.json` against docs/results.schema.json with Python's
/// jsonschema, an implementation independent of the types that wrote them.
pub fn check_results_schema(files: &[PathBuf]) {
    let root = root();
    let out = std::process::Command::new("python3")
        .arg(root.join("tests/fixtures/schema/validate.py"))
        .arg(root.join("docs/results.schema.json"))
        .args(files)
        .env("PYTHONPATH", root.join(".deps/python"))
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("checked {} files, 0 errors", files.len())), "{text}");
}

/// A word like `tiers.cloud` or `devices.count`: a scenario key as the user
/// writes it, which an axis title or caption should say in words.
pub fn dotted_keys(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "()=,:".contains(c))
        .filter(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() > 1
                && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        })
        .map(str::to_string)
        .collect()
}

/// What is wrong with an SVG plot's text, parsed from its `<text>`
/// elements: a raw dotted key, or a `font-size` under 12 px; and no text at all.
pub fn svg_text_problems(svg: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut texts = 0;
    for element in svg.split("<text").skip(1) {
        let Some((attributes, rest)) = element.split_once('>') else { continue };
        let content = rest.split_once("</text>").map_or("", |t| t.0);
        texts += 1;
        let size = attributes.split_once("font-size=\"").and_then(|t| t.1.split_once('"')).map(|t| t.0);
        match size.and_then(|s| s.parse::<f64>().ok()) {
            Some(px) if px >= 12.0 => {}
            other => problems.push(format!("{content:?} at font-size {other:?}")),
        }
        for key in dotted_keys(content) {
            problems.push(format!("{content:?} says the raw key {key}"));
        }
    }
    if texts == 0 {
        problems.push("no text".into());
    }
    problems
}

/// `svg_text_problems` of every SVG under a run folder's `plots/`; how many were checked.
pub fn check_plots_text(dir: &Path) -> usize {
    let plots: Vec<PathBuf> =
        walk(&dir.join("plots")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "svg")).collect();
    for p in &plots {
        let problems = svg_text_problems(&std::fs::read_to_string(p).unwrap());
        assert!(problems.is_empty(), "{}: {problems:?}", p.display());
        assert!(p.with_extension("png").is_file(), "{} has its PNG", p.display());
    }
    plots.len()
}
