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
    #[error("run {id} of suite `{suite}` cannot be resumed: {changed}")]
    PlanChanged {
        /// The run.
        id: u64,
        /// Its suite.
        suite: String,
        /// What differs.
        changed: Changed,
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
    /// Another process works on the run (`--resume` of a run that is running, or two at once).
    #[error("run {id} is being run by another process ({owner})")]
    RunBusy {
        /// The run.
        id: u64,
        /// Who holds it: `pid 42 on host ci-1`.
        owner: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A run's results are stored, but some of its usage rows or cache entries are not.
    #[error("run {run} finished, but not everything its calls cost was recorded")]
    NotRecorded {
        /// The run.
        run: u64,
        /// What was lost ([`StoreError::Background`]).
        #[source]
        source: StoreError,
    },
    /// A call failed in a way every later call would repeat (a refused or missing key, a spent
    /// budget): the run stopped there, keeping what finished.
    #[error("run {run} stopped: {message}")]
    Stopped {
        /// The run.
        run: u64,
        /// The call's error.
        message: String,
        /// How to fix its cause.
        hints: Vec<String>,
    },
    /// The run service (a remote server) failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What differs between an interrupted run and its resumption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// A target's content (a prompt file, its partials, or the version a label points at).
    Target(String),
    /// The list of targets.
    Targets,
    /// The providers (the suite's, or `--provider`).
    Providers {
        /// The run's.
        before: Vec<String>,
        /// The resumption's.
        now: Vec<String>,
    },
    /// The number of results (cases, `--repeat`, `--tag`, `--filter`).
    Cases {
        /// The run's.
        before: u64,
        /// The resumption's.
        now: u64,
    },
    /// Something else the cases depend on: the suite file or a dataset.
    Suite,
}

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Target(reference) => write!(f, "`{reference}` changed since it started"),
            Self::Targets => f.write_str("the suite's targets changed since it started"),
            Self::Providers { before, now } => {
                write!(f, "it ran on {} and would now run on {}", list_names(before), list_names(now))
            }
            Self::Cases { before, now } => {
                let results = |n: u64| if n == 1 { "1 result".to_owned() } else { format!("{n} results") };
                write!(f, "it was planned with {} and would now make {}", results(*before), results(*now))
            }
            Self::Suite => f.write_str("the suite file or one of its datasets changed since it started"),
        }
    }
}

impl Changed {
    /// How to resume anyway, where the user can.
    fn hint(&self) -> Option<String> {
        match self {
            Self::Providers { .. } => Some("resume with the providers of the first run (`--provider`)".to_owned()),
            Self::Cases { .. } => {
                Some("resume with the `--repeat`, `--tag` and `--filter` flags of the first run".to_owned())
            }
            Self::Target(_) | Self::Targets | Self::Suite => {
                Some("put the files back as they were (`git stash`) to resume".to_owned())
            }
        }
    }
}

impl Diagnostic for EvalError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. } | Self::PlanChanged { .. } => ErrorClass::Config,
            Self::Store(err) | Self::NotRecorded { source: err, .. } => err.class(),
            Self::Service(err) => err.class(),
            Self::Stopped { .. } => ErrorClass::Upstream,
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
            Self::RunBusy { id, .. } => vec![
                format!("wait for it to finish; once that process is gone, `promptops eval list` shows run {id} as interrupted and `promptops eval --resume {id}` finishes it"),
            ],
            Self::PlanChanged { changed, .. } => {
                let mut hints: Vec<String> = changed.hint().into_iter().collect();
                hints.push("or start a new run with `promptops eval`; the interrupted one stays as it is".to_owned());
                hints
            }
            Self::NoBaseline { .. } => vec![
                "pass a run number (`promptops eval list` shows them) or a prompt label whose versions a stored run evaluated".to_owned(),
            ],
            Self::BadUpload(_) => vec!["upload runs the way `promptops eval --remote NAME` does".to_owned()],
            Self::Store(err) => err.hints(),
            Self::NotRecorded { run, source } => {
                let mut hints = source.hints();
                hints.push(format!("its results are stored: `promptops eval show {run}`"));
                hints
            }
            Self::Service(err) => err.hints(),
            Self::Stopped { run, hints, .. } => {
                let mut all = hints.clone();
                all.push(format!("then `promptops eval --resume {run}` evaluates the cases that are left"));
                all
            }
            Self::Internal(_) => vec!["this is a bug in promptops; please report it".to_owned()],
        }
    }
}
