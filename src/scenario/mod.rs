//! Scenario files: YAML in, a validated `Plan` out. The only user of serde_yaml.

pub mod arrivals;
mod compare;
pub mod data;
pub mod energy;
mod error;
mod files;
mod locate;
mod parse;
pub mod profile;
mod raw;
pub mod trace;
mod units;
mod validate;

pub use compare::{differences, Difference};

/// The JSON Schema of a scenario file, generated from the structs the parser
/// reads it into, so that the two cannot drift (`simrun schema`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(raw::ScenarioFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
pub use error::ScenarioError;
pub use parse::{load, load_str};
pub use units::{parse_bandwidth, parse_duration, parse_rate, Invalid};
pub use validate::{batching_of, broker_from_url, KeyError, MANAGED_BROKER};
