//! Server-side runs: a client sends a suite's [`RunSpec`]; the server plans it as the client did
//! ([`planner`]), queues one unit per case × target × provider × repeat in the store, and the
//! [`worker`]s of every replica claim units under leases, evaluate them with the same engine as
//! the CLI (the project's provider connections as [`backend`], templates in the render sandbox)
//! and write each result fenced by its lease token.

pub mod backend;
pub mod planner;
pub mod spec;
pub mod worker;

use crate::error::{Diagnostic, ErrorClass};
use crate::gateway::GatewayError;
use crate::store::StoreError;
use crate::yaml::YamlError;

pub use planner::{ServerPlanner, plan_spec};
pub use spec::{RunSpec, SpecOverrides};
pub use worker::{WorkerSettings, Workers};

/// Why a server-side run cannot be submitted or worked on.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// A field of the spec is invalid.
    #[error("`{path}` {message}")]
    Invalid {
        /// The JSON path of the field.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A file the suite names could not be read into the spec.
    #[error("cannot read `{path}` for the server: {reason}")]
    Bundle {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The suite does not plan on the server.
    #[error("{} problem(s) found planning the suite on the server; no model was called", problems.len())]
    Plan {
        /// Every problem, with its file and line.
        problems: Vec<YamlError>,
    },
    /// The server planned something other than what the client planned.
    #[error("the server's plan of `{suite}` differs from yours (a label or prompt resolves to another version there)")]
    PlanMismatch {
        /// The suite.
        suite: String,
    },
    /// The suite needs what the server does not run.
    #[error("the server does not run {what}")]
    Refused {
        /// What.
        what: String,
    },
    /// A run that was not submitted to the server's queue.
    #[error("run {run} was not run on the server")]
    NotQueued {
        /// The run.
        run: u64,
    },
    /// A file operation of the planner failed.
    #[error("cannot {what}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The provider connections could not be opened.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RunsError {
    /// A spec field that is invalid.
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        Self::Invalid { path: path.to_owned(), message: message.into() }
    }

    pub(crate) fn io(what: &'static str, source: std::io::Error) -> Self {
        Self::Io { what, source }
    }
}

impl Diagnostic for RunsError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. } | Self::Refused { .. } | Self::PlanMismatch { .. } | Self::NotQueued { .. } => {
                ErrorClass::Usage
            }
            Self::Plan { .. } | Self::Bundle { .. } => ErrorClass::Config,
            Self::Io { .. } => ErrorClass::Internal,
            Self::Gateway(err) => err.class(),
            Self::Store(err) => err.class(),
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::PlanMismatch { .. } => vec![
                "pin the suite's targets to versions (`name@7`), or `promptops push` so the server has what you have"
                    .to_owned(),
            ],
            Self::Refused { .. } => vec!["run this suite locally: `promptops eval` without --on-server".to_owned()],
            Self::Plan { problems } => problems.iter().take(5).map(ToString::to_string).collect(),
            Self::Gateway(err) => err.hints(),
            Self::Store(err) => err.hints(),
            _ => Vec::new(),
        }
    }
}
