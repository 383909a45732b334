//! Data and trace files, read once per scenario: every sweep point that
//! names the same file shares what the first read (one read and one copy in
//! memory, however many points there are).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::plan::{ArrivalTrace, InputRows, LinkTrace};

/// What this scenario's points have read so far.
#[derive(Default)]
pub struct Files {
    /// By path and how its labels are found (a CSV column, or a labels file).
    data: RefCell<HashMap<(PathBuf, String), Arc<InputRows>>>,
    /// By path; a trace's rows are shared between its clones.
    traces: RefCell<HashMap<PathBuf, LinkTrace>>,
    /// By path; an arrival file's rows are shared between its clones.
    arrivals: RefCell<HashMap<PathBuf, ArrivalTrace>>,
}

impl Files {
    /// The rows of the data file at `path` read with `labels`, read by `read`
    /// the first time they are asked for. A failed read is not kept.
    pub fn data<E>(
        &self,
        path: &Path,
        labels: String,
        read: impl FnOnce() -> Result<InputRows, E>,
    ) -> Result<Arc<InputRows>, E> {
        let key = (path.to_path_buf(), labels);
        if let Some(rows) = self.data.borrow().get(&key) {
            return Ok(rows.clone());
        }
        let rows = Arc::new(read()?);
        self.data.borrow_mut().insert(key, rows.clone());
        Ok(rows)
    }

    /// The trace file at `path`, read by `read` the first time it is asked for.
    pub fn trace<E>(&self, path: &Path, read: impl FnOnce() -> Result<LinkTrace, E>) -> Result<LinkTrace, E> {
        cached(&self.traces, path, read)
    }

    /// The arrival file at `path`, read by `read` the first time it is asked for.
    pub fn arrivals<E>(&self, path: &Path, read: impl FnOnce() -> Result<ArrivalTrace, E>) -> Result<ArrivalTrace, E> {
        cached(&self.arrivals, path, read)
    }
}

/// What `cache` holds for `path`, or what `read` gives, kept; a failed read is not kept.
fn cached<T: Clone, E>(
    cache: &RefCell<HashMap<PathBuf, T>>,
    path: &Path,
    read: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    if let Some(value) = cache.borrow().get(path) {
        return Ok(value.clone());
    }
    let value = read()?;
    cache.borrow_mut().insert(path.to_path_buf(), value.clone());
    Ok(value)
}
