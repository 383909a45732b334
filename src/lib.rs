//! simrun: run edge-versus-cloud inference experiments against a real MQTT broker.
//!
//! The pipeline runs one way: `scenario` (YAML → `ScenarioFile` → `Plan`), `run`
//! (one sweep point → `record`s: samples, link records), `stats` (records →
//! `Summary`), `report` (summaries + manifest → `Report`), `export` (report →
//! bytes, and results folders read back) and `diff` (two result folders → a
//! comparison). `cli` wires them together and turns errors into exit codes;
//! ARCHITECTURE.md has the layers and what each module may use.

pub mod backend;
pub mod bench;
pub mod cli;
pub mod delay;
pub mod diff;
pub mod digest;
pub mod exit_code;
pub mod export;
#[doc(hidden)]
pub mod fuzz;
pub mod math;
pub mod partition;
pub mod plan;
pub mod record;
pub mod report;
pub mod run;
pub mod scenario;
pub mod seeds;
pub mod stats;
pub mod ui;
pub mod wire;
