//! A/B experiments as the store keeps them: the arms (each an eval run), the settings that
//! decide how they were judged, a one-line outcome and the full analysis as opaque JSON owned
//! by `ab`. The [`ExperimentStore`] sub-trait of [`super::Store`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Scope, StoreError};

/// The columns of an experiment row, in the order both backends select and decode them.
pub(crate) const EXPERIMENT_COLUMNS: &str =
    "id, suite, arms, sequential, alpha, outcome, summary, analysis, actor, created_at";

/// One arm of a stored experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExperimentArm {
    /// `A`, `B`, …
    pub letter: String,
    /// What it ran (`support/triage@2 · offline`).
    pub label: String,
    /// The eval run with its results.
    pub run: Option<u64>,
}

/// What is known about an experiment when it is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExperimentDraft {
    /// The suite the arms ran (or the runs' suites, joined).
    pub suite: String,
    /// The arms; the first is the baseline.
    pub arms: Vec<ExperimentArm>,
    /// Whether decisions used confidence sequences.
    pub sequential: bool,
    /// The significance level.
    pub alpha: f64,
    /// `better`, `worse`, `no difference`, … for the primary metric.
    pub outcome: String,
    /// The headline verdict.
    pub summary: String,
    /// The whole analysis (JSON).
    pub analysis: serde_json::Value,
    /// Who ran it.
    pub actor: String,
}

/// A stored experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExperimentRecord {
    /// Its number in the project: 1, 2, 3, …
    pub id: u64,
    /// What was recorded.
    #[serde(flatten)]
    pub draft: ExperimentDraft,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A/B experiments.
#[async_trait]
pub trait ExperimentStore {
    /// Records an experiment with the next number in the scope.
    async fn create_experiment(&self, scope: &Scope, draft: ExperimentDraft) -> Result<ExperimentRecord, StoreError>;

    /// One experiment.
    async fn experiment(&self, scope: &Scope, id: u64) -> Result<Option<ExperimentRecord>, StoreError>;

    /// The newest experiments first, of one suite or all, only those numbered below `before`
    /// when it is given (keyset paging: pass the last number of the previous page), at most `limit`.
    async fn experiments(
        &self,
        scope: &Scope,
        suite: Option<&str>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ExperimentRecord>, StoreError>;
}
