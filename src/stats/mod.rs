//! Statistics for A/B comparisons: pure functions from numbers to tests, intervals, sample
//! sizes and ratings. Owns the formulas and their edge cases; leaves choosing a test, reading
//! runs from the store and wording a verdict to `ab`. Imports nothing from the rest of the crate.
//!
//! The data model is the one from the method brief (`shared/research/ab-stats.md`): cases are
//! the unit of analysis, every case runs under every arm, and repeated samples of a case are
//! averaged before any test ([`cluster`]). Differences are always *A minus B*, so swapping the
//! arms flips the sign of every estimate and leaves every two-sided p-value unchanged.
//!
//! | file | owns |
//! |---|---|
//! | [`proportion`] | one rate (Wilson, Clopper-Pearson) and two independent rates (z, Fisher, Newcombe) |
//! | [`paired`] | paired pass/fail (McNemar), paired numbers (t test), sign test |
//! | [`tango`] | Tango's score interval of a paired rate difference, non-inferiority sizes |
//! | [`signed_rank`] | Wilcoxon signed-rank test for paired numbers, exact and normal |
//! | [`unpaired`] | two independent samples (Welch t, Mann-Whitney U) |
//! | [`latency`] | ratio of geometric means from paired log values |
//! | [`cluster`] | repeated samples per case: case means, clustered standard errors, flip rate |
//! | [`bootstrap`] | seeded paired case bootstrap, percentile and BCa intervals |
//! | [`multiple`] | Holm, Bonferroni, Benjamini-Hochberg adjusted p-values |
//! | [`power`] | required sample sizes and minimum detectable effects |
//! | [`mcnemar_power`] | exact power, sizes and detectable effects of the McNemar test `ab` decides with |
//! | [`sequential`] | confidence sequences and mSPRT for looking at results as they stream |
//! | [`bradley_terry`] | ratings of k arms from pairwise wins |
//!
//! Every function validates its input and returns [`StatsError`] instead of panicking: statrs'
//! quantile functions panic outside (0, 1), so probabilities are checked here first. Degenerate
//! but valid data (all outcomes identical) gives a finite, documented answer, usually p = 1.
//! Distributions come from `statrs`; the formulas it lacks are written out in these files.

pub mod bootstrap;
pub mod bradley_terry;
pub mod cluster;
mod common;
mod dist;
mod error;
mod exact;
#[cfg(test)]
mod golden;
pub mod latency;
pub mod mcnemar_power;
pub mod multiple;
pub mod paired;
pub mod power;
pub mod proportion;
pub mod sequential;
pub mod signed_rank;
pub mod tango;
pub mod unpaired;

pub use error::{Result, StatsError};

use serde::{Deserialize, Serialize};

/// A two-sided interval for a quantity, at the confidence level the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The lower bound.
    pub lower: f64,
    /// The upper bound.
    pub upper: f64,
}

impl Interval {
    /// An interval from its two bounds.
    pub fn new(lower: f64, upper: f64) -> Self {
        Self { lower, upper }
    }

    /// `center ± half_width`.
    pub fn around(center: f64, half_width: f64) -> Self {
        Self { lower: center - half_width, upper: center + half_width }
    }

    /// Whether `value` lies inside the interval, bounds included.
    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }

    /// Whether zero lies outside the interval: a difference is then significant at its level.
    pub fn excludes_zero(&self) -> bool {
        !self.contains(0.0)
    }

    /// `upper - lower`.
    pub fn width(&self) -> f64 {
        self.upper - self.lower
    }
}

/// The outcome of a hypothesis test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TestResult {
    /// The test statistic (its meaning is stated by the function that returns it).
    pub statistic: f64,
    /// The two-sided p-value, in [0, 1].
    pub p_value: f64,
}

/// A t test of a mean difference together with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TTest {
    /// The estimated difference (A − B).
    pub estimate: f64,
    /// Standard error of the estimate.
    pub standard_error: f64,
    /// `estimate / standard_error`.
    pub statistic: f64,
    /// Degrees of freedom (fractional for Welch).
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Interval of the difference at level 1 − α: `estimate ± t(1 − α/2, df) · standard_error`.
    pub interval: Interval,
}

/// How a rank test computes its p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RankMethod {
    /// Exact for small samples without ties, the normal approximation otherwise (each test
    /// states its thresholds); a result never reports this variant, only the one it used.
    Auto,
    /// The exact permutation distribution of the rank statistic, conditional on tied ranks.
    Exact,
    /// The normal approximation with the tie-corrected variance.
    Normal,
    /// The normal approximation with a ½ continuity correction toward the mean.
    NormalContinuity,
}

/// A point estimate with its standard error and interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The point estimate.
    pub estimate: f64,
    /// Its standard error.
    pub standard_error: f64,
    /// The interval at the requested level.
    pub interval: Interval,
}
