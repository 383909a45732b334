//! Any bytes as a request, a response and an error reply on the wire.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| simrun::fuzz::wire(data));
