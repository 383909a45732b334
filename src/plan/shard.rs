//! A shard of a plan (`--shard I/N`): which points it runs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of `count` deterministic subsets of a plan's points (1-based `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// A shard that cannot be written or has nothing to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(pub String);

impl Shard {
    /// Parses `I/N` with 1 ≤ I ≤ N.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError(format!("invalid shard {text:?} (expected I/N with 1 ≤ I ≤ N, e.g. 2/4)"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Points are dealt round-robin, so that each shard gets a spread of the sweep.
    pub fn contains(self, point: usize) -> bool {
        point % self.count == self.index - 1
    }

    /// The shard of `point` when the plan is split `count` ways.
    pub fn of(point: usize, count: usize) -> Shard {
        Shard { index: point % count + 1, count }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
