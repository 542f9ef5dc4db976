//! Exit codes and the command-line error type.

use crate::apply::ApplyError;
use crate::graph::GraphError;
use crate::planfile::PlanFileError;
use crate::planner::PlanError;

/// closeout's exit codes (documented in the README and `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success; for `plan --detailed-exitcode`: no changes.
    Ok = 0,
    /// An error.
    Error = 1,
    /// `plan --detailed-exitcode`: changes present.
    Changes = 2,
    /// Apply finished what it could and waits on manual actions.
    WaitingOnManual = 3,
    /// The plan is stale: the tenant changed since it was planned.
    StalePlan = 4,
    /// Interrupted (Ctrl-C, SIGINT).
    Interrupted = 130,
    /// Interrupted by SIGHUP (128 + 1).
    HungUp = 129,
    /// Interrupted by SIGTERM (128 + 15).
    Terminated = 143,
}

/// A command's failure, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Graph(#[from] GraphError),
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error("{0}")]
    PlanFile(#[from] PlanFileError),
    #[error("{0}")]
    Apply(#[from] ApplyError),
    #[error("{0}")]
    Spec(#[from] crate::specfile::SpecError),
    #[error("{0}")]
    Stale(String),
    /// Ctrl-C before anything was changed.
    #[error("{0}")]
    Interrupted(String),
    #[error("{0}")]
    Message(String),
}

impl CliError {
    /// The exit code for this error.
    pub fn code(&self) -> ExitCode {
        match self {
            CliError::Stale(_) => ExitCode::StalePlan,
            CliError::Interrupted(_) => ExitCode::Interrupted,
            CliError::PlanFile(PlanFileError::Tampered { .. }) => ExitCode::Error,
            _ => ExitCode::Error,
        }
    }

    pub fn msg(m: impl Into<String>) -> CliError {
        CliError::Message(m.into())
    }
}
