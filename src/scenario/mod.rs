//! Scenario files: YAML in, a validated `Plan` out. The only user of serde_yaml.

mod compare;
pub mod data;
mod error;
mod locate;
mod parse;
pub mod profile;
mod raw;
pub mod trace;
mod units;
mod validate;

pub use compare::{differences, Difference};
pub use error::ScenarioError;
pub use parse::{load, load_str};
pub use units::{parse_bandwidth, parse_duration, parse_rate, Invalid};
