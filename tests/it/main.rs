//! The integration tests, one binary: every module runs simrun against real
//! brokers, real ONNX Runtime and real candle.

mod brokers;
mod ci;
mod cli_messages;
mod common;
mod e2e;
mod fuzz_corpus;
mod house;
mod link;
mod links_e2e;
mod measurement;
mod models;
mod reliability;
mod scenario_errors;
mod scenarios;
