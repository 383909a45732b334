//! The fuzz targets' committed corpus, replayed on stable Rust: every input
//! that `cargo fuzz` kept must still go through without a panic.

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = crate::common::root().join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| (p.display().to_string(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn the_scenario_corpus_parses_or_fails_cleanly() {
    let inputs = corpus("scenario");
    assert!(inputs.len() >= 20, "the corpus is committed: {} inputs", inputs.len());
    for (name, bytes) in inputs {
        let result = std::panic::catch_unwind(|| simrun::fuzz::scenario(&bytes));
        assert!(result.is_ok(), "{name} panicked");
    }
}

#[test]
fn the_wire_corpus_settles_every_request_once() {
    let inputs = corpus("wire");
    assert!(inputs.len() >= 6, "the corpus is committed: {} inputs", inputs.len());
    for (name, bytes) in inputs {
        let result = std::panic::catch_unwind(|| simrun::fuzz::wire(&bytes));
        assert!(result.is_ok(), "{name} panicked");
    }
}
