//! What can stop a session: problems found before any model call, and the errors of the layers
//! it drives, each keeping its class (exit code) and hints.

use crate::ab::AbError;
use crate::error::{Diagnostic, ErrorClass};
use crate::eval::EvalError;
use crate::remote::RemoteError;
use crate::runs::RunsError;
use crate::yaml::YamlError;

/// Why a session did not produce an outcome.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The suites (or arms) have problems; nothing was run.
    #[error("{} problem(s) found in {what}; no model was called", problems.len())]
    Problems {
        /// What was planned: "eval suites", "the arms".
        what: String,
        /// Every problem, with its file and line.
        problems: Vec<YamlError>,
    },
    /// Ctrl-C stopped an A/B arm before every case ran, so nothing was compared.
    #[error("interrupted: run {run} of arm `{arm}` is incomplete; nothing was compared")]
    ArmInterrupted {
        /// The arm's run.
        run: u64,
        /// The arm as typed.
        arm: String,
    },
    /// A server's worker stopped the run: every later call would have failed the same way.
    #[error("run {run} stopped on remote `{remote}`: {message}")]
    StoppedOnServer {
        /// The run.
        run: u64,
        /// The remote.
        remote: String,
        /// The call's error.
        message: String,
        /// How to fix its cause.
        hints: Vec<String>,
    },
    /// A local run was made but did not reach the remote.
    #[error("run {run} ({suite}) is kept in the local store but did not reach remote `{remote}`")]
    Upload {
        /// The local run.
        run: u64,
        /// Its suite.
        suite: String,
        /// The remote.
        remote: String,
        /// Why.
        #[source]
        source: Box<EvalError>,
    },
    /// Running or reading runs failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The server refused or failed a run.
    #[error(transparent)]
    Runs(#[from] RunsError),
    /// The remote failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The comparison failed.
    #[error(transparent)]
    Ab(#[from] AbError),
}

impl Diagnostic for SessionError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Problems { .. } => ErrorClass::Config,
            // As an interrupted eval run: the work is incomplete, not the input wrong.
            Self::ArmInterrupted { .. } => ErrorClass::EvalFailed,
            Self::StoppedOnServer { .. } => ErrorClass::Upstream,
            Self::Upload { source, .. } => source.class(),
            Self::Eval(source) => source.class(),
            Self::Runs(err) => err.class(),
            Self::Remote(err) => err.class(),
            Self::Ab(err) => err.class(),
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::Problems { problems, .. } => problems.iter().take(5).map(ToString::to_string).collect(),
            Self::ArmInterrupted { .. } => {
                vec!["run the comparison again; finished answers come from the cache".into()]
            }
            Self::StoppedOnServer { run, remote, hints, .. } => {
                let mut all = hints.clone();
                all.push(format!(
                    "its results so far are kept (`promptops eval show {run} --remote {remote}`); fix the cause and run it again"
                ));
                all
            }
            Self::Upload { source, .. } => source.hints(),
            Self::Eval(source) => source.hints(),
            Self::Runs(err) => err.hints(),
            Self::Remote(err) => err.hints(),
            Self::Ab(err) => err.hints(),
        }
    }
}
