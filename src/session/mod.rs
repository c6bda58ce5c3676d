//! One eval or A/B session, wherever its runs run: plan every suite (every problem before any
//! model call), run each plan through the [`Executor`] chosen once (here, here then uploaded, or
//! on a server's workers), check baselines, and return a typed outcome that the CLI renders.

mod ab;
mod error;
mod eval;
mod executor;
mod local;
mod server;

pub use ab::{AbOutcome, AbSession, PlannedArm};
pub use error::SessionError;
pub use eval::{EvalOutcome, EvalSession, EvalSettings, SuiteOutcome, Verdict};
pub use executor::{Executed, Executor, Job, ProgressSink, SessionEvents};
pub use local::LocalExecutor;
pub use server::{ServerExecutor, ServerProviders, attach};

use crate::eval::Plan;

/// Cases in flight when neither the command line, the suite nor promptops.yaml sets how many.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// A run's concurrency: the command line's, else the suite's, else the project's, else
/// [`DEFAULT_CONCURRENCY`].
pub fn concurrency(flag: Option<usize>, plan: &Plan, project: Option<u32>) -> usize {
    flag.or(plan.concurrency.map(|c| c as usize)).or(project.map(|c| c as usize)).unwrap_or(DEFAULT_CONCURRENCY)
}
