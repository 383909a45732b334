//! Pools of `simrun worker` processes on other hosts, coordinated through the
//! broker (docs/distributed.md). A pool worker announces itself, retained, on
//! `simrun/pools/<pool>/workers/<name>`, with a last will that says `gone`
//! when its connection ends without a goodbye. A run claims the workers it
//! needs (`claim.rs`), asks each for one point execution at a time (a job:
//! the `WorkerSpec` of a local worker, less where to connect) and releases
//! them at its end; a worker serves one run at a time (`serve.rs`) and runs
//! the same `Worker` as a local tier.
//!
//! The control messages are JSON, version `POOL_VERSION`; one that does not
//! parse is counted and ignored, on both sides.

mod claim;
mod drive;
mod protocol;
mod serve;

pub use crate::run::fleet::Share as DriveSpec;

pub use claim::{MemberLink, PoolError, PoolNeed, Pools, JOB_TIMEOUT};
pub use protocol::*;
pub use serve::{serve, PoolWorker};
