//! Why a command failed, and the exit code each kind of failure has. Call
//! sites say what went wrong; this file alone says which code that is.

use crate::backend::BackendError;
use crate::exit_code::ExitCode;
use crate::plan::ShardError;
use crate::scenario::ScenarioError;

/// A signal that stopped a run after it kept what had finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// What the user gave cannot be used: the scenario, the arguments, a
    /// model, a results folder, or a broker the run cannot start against
    /// (checked before anything runs).
    Input(anyhow::Error),
    /// Something failed once the run had started (the broker lost, a worker
    /// died), or results could not be written.
    Infrastructure(anyhow::Error),
    /// A signal stopped the run; what had finished was kept.
    Stopped(Signal, anyhow::Error),
}

impl Failure {
    pub fn input(e: impl Into<anyhow::Error>) -> Self {
        Failure::Input(e.into())
    }

    pub fn infrastructure(e: impl Into<anyhow::Error>) -> Self {
        Failure::Infrastructure(e.into())
    }

    /// The one place a failure becomes an exit code.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Input(_) => ExitCode::BadInput,
            Failure::Infrastructure(_) => ExitCode::Infrastructure,
            Failure::Stopped(Signal::Interrupt, _) => ExitCode::Interrupted,
            Failure::Stopped(Signal::Terminate, _) => ExitCode::Terminated,
        }
    }

    pub fn error(&self) -> &anyhow::Error {
        match self {
            Failure::Input(e) | Failure::Infrastructure(e) | Failure::Stopped(_, e) => e,
        }
    }
}

impl From<ScenarioError> for Failure {
    fn from(e: ScenarioError) -> Self {
        Failure::input(e)
    }
}

impl From<ShardError> for Failure {
    fn from(e: ShardError) -> Self {
        Failure::input(e)
    }
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Self {
        Failure::input(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_documented_code() {
        let e = || anyhow::anyhow!("x");
        assert_eq!(Failure::Input(e()).exit_code().code(), 2);
        assert_eq!(Failure::Infrastructure(e()).exit_code().code(), 3);
        assert_eq!(Failure::Stopped(Signal::Interrupt, e()).exit_code().code(), 130);
        assert_eq!(Failure::Stopped(Signal::Terminate, e()).exit_code().code(), 143);
        let shard = crate::plan::Shard::parse("0/2").unwrap_err();
        assert!(matches!(Failure::from(shard), Failure::Input(_)));
    }
}
