//! The interfaces the CLI talks to. Each has a local implementation over the store and a remote
//! one over HTTP (`promptops serve`), so a command does not know which it has (DESIGN
//! boundary 3).

use std::sync::Arc;

use async_trait::async_trait;

use crate::ab::AbError;
use crate::access::Scope;
use crate::eval::EvalError;
use crate::eval::compare::{self, Comparison};
use crate::eval::report::{self, RunReport};
use crate::prompt::{Label, LoadedPrompt, PromptName, Selector};
use crate::registry::{PromptLog, Registry, RegistryError};
use crate::store::{
    CommitOutcome, ExperimentDraft, ExperimentRecord, LabelMove, LabelRecord, PromptSummary, ResultRecord, RunRecord,
    Store, StoreError, VersionRecord,
};
use crate::workflow::VersionLookup;

/// Prompt versions and labels.
#[async_trait]
pub trait RegistryService: Send + Sync {
    /// The user changes are recorded for.
    fn actor(&self) -> &str;
    /// Commits every prompt whose content changed.
    async fn commit(&self, prompts: &[LoadedPrompt], message: &str) -> Result<Vec<CommitOutcome>, RegistryError>;
    /// Every prompt with versions.
    async fn prompts(&self) -> Result<Vec<PromptSummary>, RegistryError>;
    /// The stored version a selector names.
    async fn resolve(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError>;
    /// Versions, labels and label moves.
    async fn log(&self, name: &PromptName) -> Result<PromptLog, RegistryError>;
    /// Where labels point.
    async fn labels(&self, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, RegistryError>;
    /// Points a label at a version.
    async fn set_label(
        &self,
        name: &PromptName,
        label: &Label,
        version: u32,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError>;
    /// Removes a label.
    async fn remove_label(&self, name: &PromptName, label: &Label, confirmed: bool)
    -> Result<LabelMove, RegistryError>;
    /// Moves a label back.
    async fn rollback(
        &self,
        name: &PromptName,
        label: &Label,
        to: Option<u32>,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError>;
}

#[async_trait]
impl RegistryService for Registry {
    fn actor(&self) -> &str {
        Registry::actor(self)
    }
    async fn commit(&self, prompts: &[LoadedPrompt], message: &str) -> Result<Vec<CommitOutcome>, RegistryError> {
        Registry::commit(self, prompts, message).await
    }
    async fn prompts(&self) -> Result<Vec<PromptSummary>, RegistryError> {
        Registry::prompts(self).await
    }
    async fn resolve(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError> {
        Registry::resolve(self, name, selector).await
    }
    async fn log(&self, name: &PromptName) -> Result<PromptLog, RegistryError> {
        Registry::log(self, name).await
    }
    async fn labels(&self, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, RegistryError> {
        Registry::labels(self, name).await
    }
    async fn set_label(
        &self,
        name: &PromptName,
        label: &Label,
        version: u32,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        Registry::set_label(self, name, label, version, confirmed).await
    }
    async fn remove_label(
        &self,
        name: &PromptName,
        label: &Label,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        Registry::remove_label(self, name, label, confirmed).await
    }
    async fn rollback(
        &self,
        name: &PromptName,
        label: &Label,
        to: Option<u32>,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        Registry::rollback(self, name, label, to, confirmed).await
    }
}

/// Eval runs kept in the store: listing, reading, reports and comparisons.
#[async_trait]
pub trait RunService: Send + Sync {
    /// The newest runs first, of one suite or all.
    async fn runs(&self, suite: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, EvalError>;
    /// A run by number, or the newest with `latest`.
    async fn run(&self, reference: &str) -> Result<RunRecord, EvalError>;
    /// A run's report (groups and problems).
    async fn report(&self, run: RunRecord) -> Result<RunReport, EvalError>;
    /// A run's results in plan order; only failures and errors with `problems_only`.
    async fn results(&self, run: u64, problems_only: bool) -> Result<Vec<ResultRecord>, EvalError>;
    /// Two runs compared case by case.
    async fn compare(&self, before: RunRecord, after: RunRecord) -> Result<Comparison, EvalError>;
}

/// [`RunService`] over the local store.
#[derive(Clone)]
pub struct LocalRuns {
    store: Arc<dyn Store>,
    scope: Scope,
}

impl std::fmt::Debug for LocalRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRuns").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl LocalRuns {
    /// Runs of `scope` in `store`.
    pub fn new(store: Arc<dyn Store>, scope: Scope) -> Self {
        Self { store, scope }
    }
}

#[async_trait]
impl RunService for LocalRuns {
    async fn runs(&self, suite: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, EvalError> {
        Ok(self.store.runs(&self.scope, suite, limit).await?)
    }

    async fn run(&self, reference: &str) -> Result<RunRecord, EvalError> {
        if matches!(reference, "latest" | "last") {
            let newest = self.store.runs(&self.scope, None, 1).await?;
            return newest.into_iter().next().ok_or(EvalError::NoRuns);
        }
        let id = reference
            .trim_start_matches('#')
            .parse::<u64>()
            .map_err(|_| EvalError::BadRunRef { text: reference.to_owned() })?;
        Ok(self.store.run(&self.scope, id).await?.ok_or(StoreError::RunNotFound { id })?)
    }

    async fn report(&self, run: RunRecord) -> Result<RunReport, EvalError> {
        Ok(report::build(&self.store, &self.scope, run).await?)
    }

    async fn results(&self, run: u64, problems_only: bool) -> Result<Vec<ResultRecord>, EvalError> {
        let mut results = Vec::new();
        report::for_each_result(&self.store, &self.scope, run, problems_only, |r| results.push(r.clone())).await?;
        Ok(results)
    }

    async fn compare(&self, before: RunRecord, after: RunRecord) -> Result<Comparison, EvalError> {
        compare::compare(&self.store, &self.scope, before, after).await
    }
}

/// A/B experiments kept in the store.
#[async_trait]
pub trait ExperimentService: Send + Sync {
    /// Records an experiment.
    async fn record(&self, draft: ExperimentDraft) -> Result<ExperimentRecord, AbError>;
    /// The newest experiments first, of one suite or all.
    async fn experiments(&self, suite: Option<&str>, limit: u32) -> Result<Vec<ExperimentRecord>, AbError>;
    /// An experiment by number, or the newest with `latest`.
    async fn experiment(&self, reference: &str) -> Result<ExperimentRecord, AbError>;
}

/// [`ExperimentService`] over the local store.
#[derive(Clone)]
pub struct LocalExperiments {
    store: Arc<dyn Store>,
    scope: Scope,
}

impl std::fmt::Debug for LocalExperiments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalExperiments").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl LocalExperiments {
    /// Experiments of `scope` in `store`.
    pub fn new(store: Arc<dyn Store>, scope: Scope) -> Self {
        Self { store, scope }
    }
}

#[async_trait]
impl ExperimentService for LocalExperiments {
    async fn record(&self, draft: ExperimentDraft) -> Result<ExperimentRecord, AbError> {
        Ok(self.store.create_experiment(&self.scope, draft).await?)
    }

    async fn experiments(&self, suite: Option<&str>, limit: u32) -> Result<Vec<ExperimentRecord>, AbError> {
        Ok(self.store.experiments(&self.scope, suite, limit).await?)
    }

    async fn experiment(&self, reference: &str) -> Result<ExperimentRecord, AbError> {
        if matches!(reference, "latest" | "last") {
            let newest = self.store.experiments(&self.scope, None, 1).await?;
            return newest.into_iter().next().ok_or(AbError::ExperimentNotFound { id: 0 });
        }
        let id = reference
            .trim_start_matches('#')
            .parse::<u64>()
            .map_err(|_| AbError::BadExperimentRef { text: reference.to_owned() })?;
        self.store.experiment(&self.scope, id).await?.ok_or(AbError::ExperimentNotFound { id })
    }
}

/// A registry service as the workflow module's [`VersionLookup`], so that `name@label` prompt
/// refs in workflows resolve through whichever registry (local or remote) the command has.
pub struct RegistryVersions(pub Arc<dyn RegistryService>);

impl std::fmt::Debug for RegistryVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryVersions")
    }
}

#[async_trait]
impl VersionLookup for RegistryVersions {
    async fn resolve_version(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError> {
        self.0.resolve(name, selector).await
    }
}
