//! Loaded models kept across a run's points: a point takes a model for each
//! of its workers and gives it back when they stop, so a sweep whose points
//! keep a tier's model loads it once (per worker), not once per point.
//!
//! What a point changes is still started anew: links (their seeds and records
//! are the point's), devices and workers' connections. A loaded model carries
//! nothing from one point to the next that a result depends on: ONNX Runtime
//! sessions and candle models keep no state between calls, and every point
//! warms up before it measures.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::backend::{self, BackendError, Inference};

/// Models on the shelf by file and intra-op threads, and how often one was
/// loaded and how often taken from the shelf.
#[derive(Default)]
pub struct ModelShelf {
    shelf: Mutex<Vec<(Key, Box<dyn Inference>)>>,
    loaded: AtomicU64,
    reused: AtomicU64,
}

type Key = (PathBuf, u32);

impl ModelShelf {
    /// A loaded `path` with `threads` intra-op threads: one from the shelf
    /// when there is one, else loaded now.
    pub fn take(&self, path: &Path, threads: u32) -> Result<Box<dyn Inference>, BackendError> {
        let shelved = {
            let mut shelf = self.shelf.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let at = shelf.iter().position(|((p, t), _)| p == path && *t == threads);
            at.map(|i| shelf.swap_remove(i).1)
        };
        if let Some(model) = shelved {
            self.reused.fetch_add(1, Ordering::Relaxed);
            return Ok(model);
        }
        let model = backend::load_threads(path, threads)?;
        self.loaded.fetch_add(1, Ordering::Relaxed);
        Ok(model)
    }

    /// Puts a model taken with `take(path, threads)` back for a later point.
    pub fn put(&self, path: &Path, threads: u32, model: Box<dyn Inference>) {
        let mut shelf = self.shelf.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        shelf.push(((path.to_path_buf(), threads), model));
    }

    /// Models loaded, and models taken from the shelf instead, so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.loaded.load(Ordering::Relaxed), self.reused.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_given_back_is_taken_again_and_another_thread_count_is_loaded() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/anomaly_detector.safetensors");
        let shelf = ModelShelf::default();
        let first = shelf.take(&path, 1).expect("the shipped model loads");
        shelf.put(&path, 1, first);
        let again = shelf.take(&path, 1).expect("from the shelf");
        let other = shelf.take(&path, 2).expect("two threads: loaded");
        assert_eq!(shelf.counts(), (2, 1));
        assert_eq!(again.info().sha256, other.info().sha256);
    }
}
