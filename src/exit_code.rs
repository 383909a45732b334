//! The documented process exit codes, in one place.

/// Exit codes of the `simrun` binary. The README's table mirrors this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything ran and every check passed.
    Success = 0,
    /// The run finished but a service-level objective failed, or `diff` found a regression.
    CheckFailed = 1,
    /// Bad input: scenario, command-line arguments, results folder, model file.
    BadInput = 2,
    /// Infrastructure failure: broker unreachable or lost, a worker died.
    Infrastructure = 3,
    /// Stopped by SIGINT (128 + 2) after writing the finished points.
    Interrupted = 130,
    /// Stopped by SIGTERM (128 + 15) after writing the finished points.
    Terminated = 143,
}

impl ExitCode {
    /// The numeric code handed to the operating system.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// What a command that ran to its end found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed (or there was none).
    Passed,
    /// A check the user asked for failed: an SLO, a regression in `diff`, or
    /// `diff --strict` without the repetitions a verdict needs.
    ChecksFailed,
    /// A tier answered none of its requests at some point execution: the
    /// run measured nothing there.
    NothingAnswered,
}

impl Outcome {
    /// The one place an outcome becomes an exit code.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Passed => ExitCode::Success,
            Outcome::ChecksFailed => ExitCode::CheckFailed,
            Outcome::NothingAnswered => ExitCode::Infrastructure,
        }
    }
}
