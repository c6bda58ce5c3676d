//! The eval engine's errors. Problems found while planning are collected into one
//! [`EvalError::Invalid`] so that every mistake in every suite is shown at once.

use std::path::PathBuf;

use crate::api::upload::BodyProblem;
use crate::error::{Diagnostic, ErrorClass, ServiceError, did_you_mean, list_names};
use crate::store::{RunStatus, StoreError};
use crate::yaml::YamlError;

/// Why an evaluation could not be planned, run or read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Suites have problems; nothing was run.
    #[error("{} problem(s) found in eval suites; no model was called", problems.len())]
    Invalid {
        /// Every problem, with its file and line.
        problems: Vec<YamlError>,
    },
    /// The project has no suites.
    #[error("no eval suites in `{}`", dir.display())]
    NoSuites {
        /// The suites directory.
        dir: PathBuf,
    },
    /// A suite named on the command line does not exist.
    #[error("eval suite `{name}` not found")]
    UnknownSuite {
        /// What was asked for.
        name: String,
        /// The suites that exist.
        known: Vec<String>,
    },
    /// A run reference is neither a number nor `latest`.
    #[error("`{text}` is not a run: expected a run number or `latest`")]
    BadRunRef {
        /// What was given.
        text: String,
    },
    /// `latest` was asked for, but there are no runs.
    #[error("there are no runs yet")]
    NoRuns,
    /// The run cannot be resumed: it finished.
    #[error("run {id} has already finished ({})", status.as_str())]
    NotResumable {
        /// The run.
        id: u64,
        /// Its status.
        status: RunStatus,
    },
    /// The suite, its datasets or its prompts changed since the run started.
    #[error("suite `{suite}` changed since run {id} started, so it cannot be resumed")]
    PlanChanged {
        /// The run.
        id: u64,
        /// Its suite.
        suite: String,
    },
    /// No run to compare with.
    #[error("baseline `{reference}` not found: {why}")]
    NoBaseline {
        /// The baseline asked for.
        reference: String,
        /// Why nothing matched.
        why: String,
    },
    /// An uploaded run cannot be stored as it is; nothing was written.
    #[error("the uploaded run cannot be stored")]
    BadUpload(#[source] BodyProblem),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run service (a remote server) failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Diagnostic for EvalError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. } | Self::PlanChanged { .. } => ErrorClass::Config,
            Self::Store(err) => err.class(),
            Self::Service(err) => err.class(),
            Self::Internal(_) => ErrorClass::Internal,
            _ => ErrorClass::Usage,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::Invalid { .. } => Vec::new(),
            Self::NoSuites { .. } => {
                vec!["write one, e.g. `eval-suites/smoke.yaml` with `targets:` and `tests:` (see `promptops schema eval-suite`)".to_owned()]
            }
            Self::UnknownSuite { name, known } => {
                let mut hints: Vec<String> = did_you_mean(name, known.iter().map(String::as_str)).into_iter().collect();
                hints.push(format!("suites: {}", list_names(known)));
                hints
            }
            Self::BadRunRef { .. } => vec!["run `promptops eval list` to see runs".to_owned()],
            Self::NoRuns => vec!["run `promptops eval` first".to_owned()],
            Self::NotResumable { .. } => vec!["start a new run with `promptops eval`".to_owned()],
            Self::PlanChanged { .. } => vec![
                "resume with the same --provider, --repeat, --tag and --filter flags as the first run".to_owned(),
                "or start a new run with `promptops eval`; the interrupted one stays as it is".to_owned(),
            ],
            Self::NoBaseline { .. } => vec![
                "pass a run number (`promptops eval list` shows them) or a prompt label whose versions a stored run evaluated".to_owned(),
            ],
            Self::BadUpload(_) => vec!["upload runs the way `promptops eval --remote NAME` does".to_owned()],
            Self::Store(err) => err.hints(),
            Self::Service(err) => err.hints(),
            Self::Internal(_) => vec!["this is a bug in promptops; please report it".to_owned()],
        }
    }
}
