//! Evaluation: checking prompts against test cases. Owns the eval-suite format ([`suite`]),
//! datasets ([`dataset`]), assertions ([`assert`]), turning a suite into checked cases before
//! any model call ([`plan`]), running them with bounded concurrency and streaming results into
//! the store ([`runner`]), which process owns a run ([`owner`]), and the data of reports and comparisons ([`report`]). Models are
//! reached through the [`backend::Backend`] seam; rendering reports for people is the CLI's job.

pub mod assert;
pub mod backend;
mod cases;
pub mod changed;
pub mod compare;
pub mod dataset;
mod error;
pub(crate) mod file_vars;
pub mod owner;
pub mod plan;
pub mod providers;
pub mod report;
pub mod runner;
pub mod suite;
pub mod watch;
pub mod workflows;

pub use error::{Changed, EvalError};
pub use owner::Owner;
pub use plan::{
    Case, Overrides, Plan, PlanInput, PlannedTarget, ProjectPrompts, PromptSource, Subset, TargetKind, plan,
};
pub use runner::{Cancel, OnProgress, Progress, RunSettings, Runner};
