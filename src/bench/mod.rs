//! Benchmarks that measure simrun's own parts on this machine (`simrun bench`).

pub mod inference;
pub mod link;
