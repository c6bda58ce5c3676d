//! [`Executor`]: where a session's runs run, chosen once per invocation. The session neither
//! knows nor asks whether that is this process, this process then a remote, or a server's
//! workers; it gets back a report, the results when asked, and the run as the runs are read.

use std::sync::Arc;

use async_trait::async_trait;

use super::SessionError;
use crate::eval::backend::Backend;
use crate::eval::report::RunReport;
use crate::eval::{Cancel, Overrides, Plan, Progress};
use crate::service::RunService;
use crate::store::{ResultRecord, RunRecord};

/// What a session tells whoever watches it (a terminal, a page).
pub trait SessionEvents: Send + Sync {
    /// A line worth showing by default.
    fn status(&self, message: &str);
    /// A line for `--verbose`.
    fn detail(&self, message: &str);
    /// Something the user should know but that does not stop the session.
    fn warn(&self, message: &str);
    /// A run named `label` with `total` results starts; its progress goes to what this returns.
    fn progress(&self, label: &str, total: u64) -> Arc<dyn ProgressSink>;
}

/// Where one run's progress goes.
pub trait ProgressSink: Send + Sync {
    /// After each result.
    fn update(&self, progress: &Progress);
    /// The run ended (or stopped being followed).
    fn finish(&self);
}

/// One run to make.
pub struct Job<'a> {
    /// What the progress shows (the suite, or the arm).
    pub label: &'a str,
    /// Cases in flight at once.
    pub concurrency: usize,
    /// Whether the caller needs every result (a format lists them, or an A/B arm).
    pub keep_results: bool,
    /// An interrupted run to finish instead of starting one.
    pub resumed: Option<RunRecord>,
    /// The command line's choices the plan was made with (a server plans again with them).
    pub overrides: &'a Overrides,
    /// The suite's targets as replaced for an A/B arm.
    pub targets: Option<&'a [String]>,
    /// Ctrl-C.
    pub cancel: &'a Cancel,
    /// Where progress and messages go.
    pub events: &'a dyn SessionEvents,
}

impl std::fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("label", &self.label)
            .field("concurrency", &self.concurrency)
            .field("keep_results", &self.keep_results)
            .finish_non_exhaustive()
    }
}

/// A run made.
#[derive(Debug)]
pub struct Executed {
    /// Its report.
    pub report: RunReport,
    /// Every result in plan order, when the job asked for them (else possibly none).
    pub results: Vec<ResultRecord>,
    /// The run as [`Executor::runs`] knows it (an uploaded run has the server's number).
    pub stored: RunRecord,
}

/// Where runs run.
#[async_trait]
pub trait Executor: Send + Sync {
    /// What planning checks provider references against.
    fn planning_backend(&self) -> Arc<dyn Backend>;
    /// Where this executor's runs are read back (baselines, stored runs).
    fn runs(&self) -> Arc<dyn RunService>;
    /// Whether runs are made by a server's workers (a stopped one is watched, not resumed).
    fn on_server(&self) -> bool;
    /// Runs `plan` to its end, or until `job.cancel`.
    async fn execute(&self, plan: Plan, job: Job<'_>) -> Result<Executed, SessionError>;
}
