//! The bodies of the fuzz targets in `fuzz/`, here so that a stable test can
//! replay their corpus (`tests/it/fuzz_corpus.rs`) and CI runs them on every push.
//! Each takes any bytes and must return without a panic.

use std::path::Path;

use crate::plan::Tier;
use crate::record::Phase;
use crate::run::collector::{Collector, Sent};

/// Bytes as a scenario file: parsing, validation and sweep expansion.
pub fn scenario(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::scenario::load_str(Path::new("fuzz.yaml"), text, &[]);
    }
}

/// Bytes as a request to a worker, and as a response and an error reply to the
/// collector, which has requests 0 to 3 of point 0.0 of run `fuzz` pending.
pub fn wire(data: &[u8]) {
    let _ = crate::wire::decode_request(data, 32);
    let mut collector = Collector::new(0, 0, &[Tier::Edge, Tier::Cloud], "fuzz/0.0/".into(), 1_000_000);
    for seq in 0..4 {
        collector.sent(Sent {
            seq,
            device: 0,
            phase: Phase::Measure,
            intended_us: 10,
            sent_us: 11,
            request_bytes: 0,
            row: None,
            label: None,
            route: None,
            payload: None,
        });
    }
    let mut out = Vec::new();
    for (tier, is_error) in [(Tier::Edge, false), (Tier::Cloud, true), (Tier::Edge, false)] {
        collector.answer(tier, data, is_error, 100, &mut out);
    }
    collector.expire_all(&mut out);
    // Every pending request ends exactly once per tier, whatever arrived.
    assert_eq!(out.len(), 8, "four requests × two tiers settle once each");
}
