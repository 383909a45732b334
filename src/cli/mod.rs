//! The command line: parses arguments and wires the pipeline stages together.

pub mod bench;
mod diff;
pub mod failure;
mod init;
mod merge;
mod partition;
mod plan;
pub mod preflight;
pub mod run;
mod search;
mod signals;
mod trace;
mod validate;
mod worker;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit_code::Outcome;
use failure::Failure;

/// simrun: edge-versus-cloud ML inference experiments over a real MQTT broker.
#[derive(Debug, Parser)]
#[command(name = "simrun", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario's sweep and write samples, summary and report (the default).
    Run(RunArgs),
    /// Check a scenario, its models and the broker, and print the sweep plan; run nothing.
    Validate(ValidateArgs),
    /// Print the sweep points (id, shard and parameter values), e.g. as JSON for a CI matrix.
    Plan(PlanArgs),
    /// Combine the result folders of a plan's shards into one run folder.
    Merge(MergeArgs),
    /// Compare two result folders point by point; exit 1 on a regression.
    Diff(DiffArgs),
    /// Bisect one numeric key: where edge and cloud cross, or the highest load.rate within the SLOs.
    Search(SearchArgs),
    /// Serve one tier's model for the runs that claim this worker's pool, on
    /// another host or this one, until SIGTERM (docs/distributed.md).
    Worker(worker::WorkerArgs),
    /// Run a share of the devices of the runs that claim this host's pool, on
    /// another host or this one, until SIGTERM (docs/distributed.md).
    Devices(worker::DevicesArgs),
    /// Measure simrun's own parts on this machine and print a markdown table.
    Bench(BenchArgs),
    /// Convert a recorded network trace into a simrun link trace (CSV on stdout).
    #[command(subcommand)]
    Trace(TraceCommand),
    /// List an ONNX model's cut points (head on the edge, tail in the cloud), or write one cut's two models.
    Partition(partition::PartitionArgs),
    /// Write a commented starter scenario and the models it runs into DIR (default: here).
    Init(InitArgs),
    /// Print a shell completion script: `source <(simrun completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema of scenario files (docs/scenario.schema.json), for editors;
    /// with --results, of results.json (docs/results.schema.json).
    Schema {
        /// The schema of a results folder's results.json instead.
        #[arg(long)]
        results: bool,
    },
    /// Print the man page (roff): `simrun man > simrun.1; man -l simrun.1`;
    /// with --dir, write it and one page per command (simrun-run.1, …) there.
    Man {
        /// Write simrun.1 and a page per command into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// A Mahimahi packet-delivery trace (one ms timestamp per 1,500-byte
    /// delivery opportunity) as bandwidth per window, outages where none.
    Mahimahi {
        /// The Mahimahi trace file.
        file: PathBuf,
        /// Width of the windows the opportunities are counted in.
        #[arg(long, default_value = "100ms")]
        window: String,
        /// One-way delay of every row (Mahimahi's delay shell).
        #[arg(long, default_value = "0ms")]
        delay: String,
    },
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Print JSON: the points with their ids, parameters and shards.
    #[arg(long)]
    pub json: bool,
    /// Split the plan this many ways (default: one shard per point).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run folders of the shards (results/<scenario>/<run-id>).
    #[arg(required = true, num_args = 1..)]
    pub dirs: Vec<PathBuf>,
    /// The merged run folder to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write the merged run's SLO checks as JUnit XML.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// How `diff` prints its comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The baseline run folder.
    #[arg(required_unless_present = "self_check", conflicts_with = "self_check")]
    pub baseline: Option<PathBuf>,
    /// The candidate run folder.
    #[arg(required_unless_present = "self_check", conflicts_with = "self_check")]
    pub candidate: Option<PathBuf>,
    /// An A/A check of this machine's noise: compare RUN's even-numbered
    /// repetitions against its odd-numbered ones; every verdict is a false alarm.
    #[arg(long, value_name = "RUN")]
    pub self_check: Option<PathBuf>,
    /// Changes smaller than this many percent are `~` whatever their significance.
    #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
    pub threshold: f64,
    /// Significance level of each row's test.
    #[arg(long, default_value_t = crate::diff::ALPHA, value_name = "ALPHA")]
    pub alpha: f64,
    /// Latency changes smaller than this are `~` (default: 3 × how far the harness floor's median moved between and within the two runs; 0ms turns it off).
    #[arg(long, value_name = "DURATION", value_parser = crate::scenario::parse_duration)]
    pub resolution: Option<std::time::Duration>,
    /// Also write the forest plot (each row's change with its interval) as SVG
    /// to FILE; `--format markdown` then shows it, by this path.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Exit 1 also when a row has too few repetitions for a verdict (`?`).
    #[arg(long)]
    pub strict: bool,
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// Compare even when the scenarios differ in more than swept values.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write scenario.yaml and models/ into (created if missing).
    pub dir: Option<PathBuf>,
    /// Overwrite files that already exist there.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// The key to search: load.rate (the highest rate within the scenario's
    /// SLOs), or a numeric key such as tiers.cloud.link.latency (where the
    /// edge's and the cloud's p50 cross).
    #[arg(long = "for", value_name = "KEY")]
    pub key: String,
    /// One end of the range (default: the first value the scenario sweeps the key over).
    #[arg(long, value_name = "VALUE")]
    pub from: Option<String>,
    /// The other end (default: the last value the scenario sweeps the key over).
    #[arg(long, value_name = "VALUE")]
    pub to: Option<String>,
    /// Stop when the answer is bracketed this closely (default: the range ÷ 64).
    #[arg(long, value_name = "VALUE")]
    pub resolution: Option<String>,
    /// What edge and cloud cross on: latency (p50), energy (the device's mean
    /// energy per request, with devices.radio) or cost (per million requests,
    /// with tiers.edge.cost and tiers.cloud.cost). A load.rate search uses the SLOs.
    #[arg(long, value_enum, default_value = "latency")]
    pub objective: ObjectiveArg,
    /// Results go to DIR/<scenario-name>/<run-id>/ (default: the scenario's `output`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress output on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `simrun search --objective`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    Latency,
    Energy,
    Cost,
}

impl From<ObjectiveArg> for crate::stats::Objective {
    fn from(o: ObjectiveArg) -> Self {
        match o {
            ObjectiveArg::Latency => crate::stats::Objective::Latency,
            ObjectiveArg::Energy => crate::stats::Objective::Energy,
            ObjectiveArg::Cost => crate::stats::Objective::Cost,
        }
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Links: added delay against configured (1, 10, 50, 200 ms), release error,
    /// end-to-end bias against a 0 ms link, timer CPU, and the rate delivered
    /// at 200 ms with 5,000 messages/s offered.
    Link {
        /// One second per case instead of three.
        #[arg(long)]
        quick: bool,
    },
    /// One model's time per call on this machine, and the lines of a device
    /// profile (`compute.profile`) to calibrate with: run it on the device and
    /// on the host that will emulate it.
    Model {
        /// The model file (.onnx or .safetensors).
        model: PathBuf,
        /// Intra-op threads (ONNX Runtime; candle follows RAYON_NUM_THREADS).
        #[arg(long, default_value_t = 1)]
        threads: u32,
        /// Seconds of calls to time, after a tenth of that as warmup.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// The performance suite: edge path against a bare MQTT echo (latency and
    /// highest rate with p99 under 10 ms), inference per call, sweep overhead, compute fidelity.
    Suite {
        /// The broker to measure through: `auto` (a private Mosquitto with set_tcp_nodelay), or
        /// mqtt://HOST:PORT of one with set_tcp_nodelay.
        #[arg(long, default_value = "auto")]
        broker: String,
        /// Shorter measurements.
        #[arg(long)]
        quick: bool,
    },
}

/// Options shared by every command that reads a scenario.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// The scenario file (YAML).
    pub scenario: PathBuf,
    /// Override a key before validation, by dotted path: --set load.duration=2s (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (YAML).
    #[arg(required_unless_present = "resume")]
    pub scenario: Option<PathBuf>,
    /// Override a key before validation, by dotted path: --set load.duration=2s (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Results go to DIR/<scenario-name>/<run-id>/ (default: the scenario's `output`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress output on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only shard I of N of the plan's points (dealt round-robin).
    #[arg(long, value_name = "I/N", value_parser = crate::plan::Shard::parse)]
    pub shard: Option<crate::plan::Shard>,
    /// Also write the SLO checks as JUnit XML, one test case per point, SLO and tier.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run the point executions missing from this interrupted run's folder, into it.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["scenario", "out", "shard"])]
    pub resume: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Skip the check that the broker answers.
    #[arg(long)]
    pub no_broker: bool,
}

/// Writes `--junit` output; a path that cannot be written is bad input.
fn write_junit(path: &std::path::Path, report: &crate::report::Report) -> Result<(), Failure> {
    let xml = crate::export::junit::junit_xml(report).map_err(Failure::input)?;
    std::fs::write(path, xml)
        .map_err(|e| Failure::input(anyhow::anyhow!("cannot write JUnit file {}: {e}", path.display())))
}

/// What a finished run or merge found: nothing answered by a tier at some
/// point execution (the run measured nothing there), else a failed SLO, else
/// a pass. Says why on stderr.
fn outcome(report: &crate::report::Report, report_path: &std::path::Path) -> Outcome {
    let silent = report.silent_tiers();
    if let Some(first) = silent.first() {
        let requests: u64 = silent.iter().map(|s| s.counts.requests).sum();
        let tiers: std::collections::BTreeSet<String> = silent.iter().map(|s| s.tier.to_string()).collect();
        eprintln!(
            "error: the {} tier answered none of its {requests} requests at {} point execution(s) (first: point {} \
             rep {}); likely causes: a broker that does not deliver to the workers' subscription (access control, \
             no shared subscriptions), workers that cannot publish their answers, or a load.timeout shorter than a \
             round trip; see {}",
            tiers.into_iter().collect::<Vec<_>>().join(" and "),
            silent.len(),
            first.point,
            first.repetition,
            report_path.display()
        );
        return Outcome::NothingAnswered;
    }
    let (failed, checks) = report.slo_failures();
    if failed == 0 {
        return Outcome::Passed;
    }
    eprintln!("{failed} of {checks} SLO checks failed; see {}", report_path.display());
    Outcome::ChecksFailed
}

/// `simrun man`: the man page of every command, from the same definitions as `--help`.
fn man_page(dir: Option<&std::path::Path>) -> Result<Outcome, Failure> {
    if let Some(dir) = dir {
        let writing =
            |e: std::io::Error| Failure::input(anyhow::anyhow!("writing man pages to {}: {e}", dir.display()));
        clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), dir).map_err(writing)?;
        let top = dir.join("simrun.1");
        let page = std::fs::read_to_string(&top).map_err(writing)?;
        std::fs::write(&top, page + MAN_EXTRA).map_err(writing)?;
        print_line(&dir.display().to_string());
        return Ok(Outcome::Passed);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
        .render(&mut out)
        .map_err(|e| Failure::infrastructure(anyhow::anyhow!("rendering the man page: {e}")))?;
    print_text(&String::from_utf8_lossy(&out));
    print_text(MAN_EXTRA);
    Ok(Outcome::Passed)
}

/// The top page's sections beyond the commands, in roff: examples, exit
/// codes (`exit_code::ExitCode`), environment and the files a run writes.
const MAN_EXTRA: &str = r#".SH EXAMPLES
.TP
\fBsimrun scenarios/m3b.yaml\fR
Run a scenario (\fBrun\fR is the default command); the last line printed is the report's path.
.TP
\fBsimrun validate scenario.yaml \-\-set load.duration=5s\fR
Check a scenario, its models and the broker, and print the plan; run nothing.
.TP
\fBsimrun scenario.yaml \-\-set 'sweep={tiers.cloud.link.latency: [5ms, 20ms, 80ms]}'\fR
Sweep a key from the command line.
.TP
\fBsimrun search scenario.yaml \-\-for tiers.cloud.link.latency \-\-from 1ms \-\-to 100ms\fR
Bisect for where the edge and the cloud cross.
.TP
\fBsimrun diff results/before results/after \-\-plot forest.svg\fR
Compare two runs repetition by repetition; exit 1 on a significant regression.
.TP
\fBsimrun man \-\-dir man/\fR
Write a page per command, for \fBman \-l\fR or a system's man path.
.SH "EXIT STATUS"
.TP
\fB0\fR
Everything ran and every check passed.
.TP
\fB1\fR
The run finished but a service-level objective failed, a tier answered nothing, or \fBdiff\fR found a regression.
.TP
\fB2\fR
Bad input: scenario (file, key and line are named), arguments, results folder, model file.
.TP
\fB3\fR
Infrastructure: the broker unreachable or lost, a worker died.
.TP
\fB130\fR, \fB143\fR
Stopped by SIGINT or SIGTERM after writing the finished points; \fBsimrun run \-\-resume\fR continues.
.SH ENVIRONMENT
.TP
\fBSIMRUN_ORT_DYLIB\fR, \fBORT_DYLIB_PATH\fR
The ONNX Runtime shared library to load, before \fI.deps/onnxruntime\fR (installed by \fIscripts/setup\fR).
.TP
\fBSIMRUN_MOSQUITTO\fR
The mosquitto binary that \fBbroker.url: auto\fR starts, before the one on PATH.
.TP
\fBRAYON_NUM_THREADS\fR
candle's threads for safetensors models; simrun sets 1 when unset.
.TP
\fBSIMRUN_FAULT_WORKER_PANIC\fR
For tests only: a worker panics at the given request.
.SH FILES
A run writes one folder under \fBoutput\fR (\fIresults/\fR by default):
.TP
\fIreport.md\fR, \fIreport.html\fR
The report; the HTML page holds the plots inline and needs no network.
.TP
\fIsamples.csv\fR
One row per request and tier; every figure of the report can be recomputed from it.
.TP
\fIsummary.csv\fR
One row per point execution and tier (and per group), with the host's CPU.
.TP
\fIresults.json\fR, \fImanifest.json\fR, \fIscenario.yaml\fR
The whole report for \fBmerge\fR and \fBdiff\fR; versions, host and models; the scenario as run.
.TP
\fIplots/\fR
Each plot as SVG and as PNG (twice the SVG's size).
.TP
\fIhistograms/\fR
Each point execution's latency histogram (HdrHistogram V2).
.SH "SEE ALSO"
docs/usage.md, docs/scenario.md and docs/results.md in simrun's source.
"#;

/// Writes `text` to stdout. A closed pipe (`simrun … | head`) is not an
/// error: the reader has what it wanted.
fn print_text(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// `text` and a newline to stdout, as `print_text`.
fn print_line(text: &str) {
    print_text(&format!("{text}\n"));
}

/// Says a failure on stderr and gives its exit code.
fn report_failure(f: Failure) -> i32 {
    eprintln!("error: {:#}", f.error());
    f.exit_code().code()
}

/// The commands, from the clap definitions (so that a new one needs no list
/// kept in step), and clap's own `help`.
fn command_names() -> Vec<String> {
    let cli = <Cli as clap::CommandFactory>::command();
    let mut names: Vec<String> = cli.get_subcommands().map(|c| c.get_name().to_string()).collect();
    names.push("help".into());
    names
}

/// Flags that come before any command.
const TOP_FLAGS: [&str; 4] = ["--help", "-h", "--version", "-V"];

/// The message for a first argument that is neither a command nor a file but
/// looks like a command mistyped (at most two edits from one).
fn mistyped_command(first: &str) -> Option<String> {
    if first.starts_with('-') || std::path::Path::new(first).exists() || first.contains(['.', '/']) {
        return None;
    }
    let names = command_names();
    let (best, distance) = names.iter().map(|c| (c, crate::math::edit_distance(first, c))).min_by_key(|(_, d)| *d)?;
    let listed: Vec<&str> = names.iter().map(String::as_str).filter(|n| *n != "help").collect();
    (distance <= 2).then(|| {
        format!(
            "unknown command `{first}`; did you mean `{best}`? (commands: {}; a scenario file may also come first)",
            listed.join(", ")
        )
    })
}

/// Runs simrun with `args` (the program name first) and returns the process exit code.
pub fn main(mut args: Vec<OsString>) -> i32 {
    // `simrun scenario.yaml` means `simrun run scenario.yaml`; a mistyped
    // command (`simrun rnu x.yaml`) is not a scenario file.
    if let Some(first) = args.get(1).and_then(|a| a.to_str()) {
        if !TOP_FLAGS.contains(&first) && !command_names().iter().any(|c| c == first) {
            if let Some(message) = mistyped_command(first) {
                return report_failure(Failure::input(anyhow::anyhow!(message)));
            }
            args.insert(1, "run".into());
        }
    }
    let command_line = shell_words(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version come this way too, and succeed.
            return if e.use_stderr() { Failure::input(e).exit_code() } else { Outcome::Passed.exit_code() }.code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return report_failure(Failure::infrastructure(anyhow::anyhow!("cannot start the async runtime: {e}")))
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(a) => run::run(a, command_line).await,
            Command::Validate(a) => validate::validate(a).await,
            Command::Plan(a) => plan::plan(a),
            Command::Merge(a) => merge::merge(a, command_line),
            Command::Diff(a) => diff::diff(a),
            Command::Search(a) => search::search(a, command_line).await,
            Command::Bench(a) => bench::bench(a).await,
            Command::Worker(a) => worker::worker(a).await,
            Command::Devices(a) => worker::devices(a).await,
            Command::Trace(t) => trace::trace(t),
            Command::Init(a) => init::init(a),
            Command::Partition(a) => partition::partition(a),
            Command::Completions { shell } => {
                let mut out = Vec::new();
                clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "simrun", &mut out);
                print_text(&String::from_utf8_lossy(&out));
                Ok(Outcome::Passed)
            }
            Command::Man { dir } => man_page(dir.as_deref()),
            Command::Schema { results } => {
                print_text(&if results { crate::export::results_schema() } else { crate::scenario::json_schema() });
                Ok(Outcome::Passed)
            }
        }
    });
    match result {
        Ok(outcome) => outcome.exit_code().code(),
        Err(f) => report_failure(f),
    }
}

fn shell_words(args: &[OsString]) -> String {
    let words: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let s = a.to_string_lossy();
            let s = if i == 0 { "simrun".into() } else { s };
            if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) && !s.is_empty() {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::edit_distance;

    #[test]
    fn mistyped_commands_are_named_and_files_are_not() {
        assert_eq!(edit_distance("rnu", "run"), 2);
        assert_eq!(edit_distance("diff", "diff"), 0);
        assert!(mistyped_command("rnu").unwrap().contains("did you mean `run`?"));
        assert!(mistyped_command("vaildate").unwrap().contains("`validate`"));
        assert_eq!(mistyped_command("scenarios/smoke.yaml"), None);
        assert_eq!(mistyped_command("my-scenario.yaml"), None);
        assert_eq!(mistyped_command("completely-different"), None);
    }
}
