//! The integration tests, one binary with a module per area. Most run simrun
//! against real Mosquitto brokers (each test starts its own), real ONNX
//! Runtime and real candle; `exporters` snapshots the exporters from
//! committed results folders, and `house` checks the rules of `src/`.

mod brokers;
mod ci;
mod cli_messages;
mod common;
mod docs;
mod e2e;
mod energy;
mod exporters;
mod fleets;
mod fuzz_corpus;
mod house;
mod link;
mod links_e2e;
mod managed_broker;
mod measurement;
mod models;
mod partition;
mod policies;
mod pools;
mod reliability;
mod report_html;
mod scenario_errors;
mod scenarios;
mod search;
