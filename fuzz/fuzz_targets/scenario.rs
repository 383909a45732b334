//! Any bytes as a scenario file: parse, override-free validation, sweep expansion.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| simrun::fuzz::scenario(data));
