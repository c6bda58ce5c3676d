//! A/B comparisons: two or more arms (prompt versions, labels, providers) run on the same eval
//! cases and compared with sound statistics. Owns arm syntax and resolution ([`arm`]), turning
//! arms into eval plans ([`arms_plan`]), reading what each arm measured from its run
//! ([`sample`]), flattening them once into per-metric columns (`columns`), choosing and
//! applying the tests ([`analysis`], [`paired`], [`unpaired`], [`decide`]), when a sequential
//! run looks and stops ([`looks`]), pairwise judging ([`judge`]), sample-size planning
//! ([`plan`]), the verdict in words ([`verdict`]) and experiments as stored ([`experiment`]).
//! Leaves the formulas to [`crate::stats`], running cases to [`crate::eval`], and rendering to
//! the CLI.
//!
//! Conventions: the first arm is the baseline, called A; every other arm is compared with it
//! and every difference is *challenger − baseline*, so swapping two arms flips every sign and
//! leaves every p-value unchanged. The case is the unit of analysis: repeats are averaged per
//! case before any test.

pub mod analysis;
pub mod arm;
pub mod arms_plan;
mod columns;
pub mod decide;
mod error;
pub mod experiment;
pub mod judge;
pub mod looks;
pub mod paired;
pub mod plan;
pub mod sample;
#[cfg(test)]
mod tests;
pub mod unpaired;
pub mod verdict;

pub use analysis::{Analysis, Decision, MetricComparison, Settings, analyse};
pub use arm::{Arm, ArmCatalog, resolve_arms};
pub use error::{AbError, check_probability};
pub use sample::{ArmSample, CaseSample, Metric, arms_of_results, arms_of_run};
