//! The workflow module's errors: problems found in a file ([`Finding`]s, each with file:line:col
//! and hints), and failures of a run (limits, nodes, threads), each naming the node, step and
//! thread it happened in.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Diagnostic, ErrorClass, did_you_mean, list_names};
use crate::store::StoreError;
use crate::yaml::{Location, YamlError};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; does not stop a run.
    Warning,
    /// The workflow cannot run.
    Error,
}

/// One problem found in a workflow file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The file.
    pub path: PathBuf,
    /// Where in it.
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hints: Vec<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(l) = self.location {
            write!(f, ":{}:{}", l.line, l.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl From<YamlError> for Finding {
    fn from(err: YamlError) -> Self {
        Self {
            severity: Severity::Error,
            path: err.path,
            location: err.location,
            message: err.message,
            hints: err.hints,
        }
    }
}

/// Why loading, checking or running a workflow failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The file could not be read.
    #[error("failed to read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has the wrong shape.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// No workflow of that name.
    #[error("workflow `{name}` not found")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The workflows that exist.
        known: Vec<String>,
    },
    /// Static validation found errors (each is in `findings`, printed before this summary).
    #[error("workflow `{name}` is invalid: {} problem(s) found", findings.iter().filter(|f| f.severity == Severity::Error).count())]
    Invalid {
        /// The workflow.
        name: String,
        /// Every finding, errors and warnings.
        findings: Vec<Finding>,
    },
    /// A run failed (a node, a limit, a state update).
    #[error("{message}")]
    Run {
        /// What happened, naming node, step and thread.
        message: String,
        /// Exit-code class.
        class: ErrorClass,
        /// What to do.
        hints: Vec<String>,
    },
    /// The thread does not exist.
    #[error("thread `{thread}` not found")]
    ThreadNotFound {
        /// The thread asked for.
        thread: String,
    },
    /// A run was asked for on a thread that already exists.
    #[error("thread `{thread}` already exists")]
    ThreadExists {
        /// The thread.
        thread: String,
    },
    /// The thread cannot do what was asked (resume a finished run, fork past its last step…).
    #[error("{message}")]
    Thread {
        /// What is wrong.
        message: String,
        /// What to do.
        hints: Vec<String>,
    },
    /// The run paused at a `human` node and pausing was not allowed (`--non-interactive`).
    #[error("the run paused at human node `{node}` (thread `{thread}`), and pausing is not allowed here")]
    PauseNotAllowed {
        /// The human node.
        node: String,
        /// The thread.
        thread: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WorkflowError {
    /// A run failure of `class` with hints.
    pub fn run(class: ErrorClass, message: impl Into<String>, hints: Vec<String>) -> Self {
        Self::Run { message: message.into(), class, hints }
    }
}

impl Diagnostic for WorkflowError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotFound { .. } | Self::ThreadNotFound { .. } | Self::ThreadExists { .. } | Self::Thread { .. } => {
                ErrorClass::Usage
            }
            Self::PauseNotAllowed { .. } => ErrorClass::Usage,
            Self::Read { .. } | Self::Yaml(_) | Self::Invalid { .. } => ErrorClass::Config,
            Self::Run { class, .. } => *class,
            Self::Store(err) => err.class(),
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::Read { .. } => Vec::new(),
            Self::Yaml(err) => err.hints(),
            Self::NotFound { name, known } => {
                let mut hints: Vec<String> = did_you_mean(name, known.iter().map(String::as_str)).into_iter().collect();
                hints.push(format!("workflows in this project: {}", list_names(known)));
                hints.push("a workflow is `workflows/<name>.yaml`, or pass the file's path".to_owned());
                hints
            }
            Self::Invalid { .. } => {
                vec!["fix the problems above and run `promptops workflow validate` again".to_owned()]
            }
            Self::Run { hints, .. } | Self::Thread { hints, .. } => hints.clone(),
            Self::ThreadNotFound { .. } => vec!["`promptops workflow threads` lists the threads".to_owned()],
            Self::ThreadExists { thread } => vec![
                format!("continue it with `promptops workflow resume {thread}`"),
                "or leave out `--thread` to start a new thread".to_owned(),
            ],
            Self::PauseNotAllowed { thread, .. } => vec![
                format!("answer with `promptops workflow resume {thread} --input JSON`"),
                "or run without `--non-interactive` to let the run pause".to_owned(),
            ],
            Self::Store(err) => err.hints(),
        }
    }
}
