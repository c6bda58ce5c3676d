//! The interfaces the CLI talks to. Each has a local implementation over the store and a remote
//! one over HTTP (`promptops serve`), so a command does not know which it has (DESIGN
//! boundary 3).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Utc};

use crate::ab::{AbError, Analysis};
use crate::access::Scope;
use crate::api::RunUpload;
use crate::api::upload::{self, BodyProblem};
use crate::config::BudgetConfig;
use crate::error::ServiceError;
use crate::eval::compare::{self, Comparison};
use crate::eval::report::{self, RunReport};
use crate::eval::{EvalError, owner};
use crate::money::Micros;
use crate::prompt::{FetchError, Label, LoadedPrompt, PromptName, ReferenceSource, Referenced, Selector};
use crate::registry::{PromptLog, Registry, RegistryError};
use crate::store::{
    CommitOutcome, ExperimentDraft, ExperimentRecord, LabelMove, LabelRecord, PromptSummary, ResultRecord, RunRecord,
    RunStatus, RunTotals, Store, StoreError, TraceRecord, UsageGroup, UsageRow, VersionRecord,
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
    /// The baseline run of `suite` for `eval --baseline REFERENCE` (a run number, `latest` or a
    /// prompt label resolved with `versions`), never run `current` itself.
    async fn baseline(
        &self,
        suite: &str,
        reference: &str,
        current: u64,
        versions: Option<&dyn VersionLookup>,
    ) -> Result<RunRecord, EvalError>;
    /// Stores a run made elsewhere, with its results and times, under the next number, all at
    /// once; returns it as stored. Its status is its results' verdict ([`RunStatus::verdict`]),
    /// whatever the upload says: interrupted while results are missing.
    /// Nothing is written when the run or a result is invalid ([`EvalError::BadUpload`]).
    async fn upload(&self, upload: RunUpload) -> Result<RunRecord, EvalError>;
}

/// A run or experiment reference as typed: a number (`3`, `#3`) or the newest (`latest`, `last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRef {
    /// The newest.
    Latest,
    /// By number.
    Number(u64),
}

impl RecordRef {
    /// Parses `reference`; `None` when it is neither a number the store can hold nor `latest`.
    pub fn parse(reference: &str) -> Option<Self> {
        if matches!(reference, "latest" | "last") {
            return Some(Self::Latest);
        }
        let number = reference.trim_start_matches('#').parse::<u64>().ok()?;
        (number <= i64::MAX as u64).then_some(Self::Number(number))
    }
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
        Ok(self.store.runs(&self.scope, suite, None, limit).await?.into_iter().map(owner::settle).collect())
    }

    async fn run(&self, reference: &str) -> Result<RunRecord, EvalError> {
        match RecordRef::parse(reference).ok_or_else(|| EvalError::BadRunRef { text: reference.to_owned() })? {
            RecordRef::Latest => {
                let newest = self.store.runs(&self.scope, None, None, 1).await?;
                newest.into_iter().next().map(owner::settle).ok_or(EvalError::NoRuns)
            }
            RecordRef::Number(id) => {
                Ok(owner::settle(self.store.run(&self.scope, id).await?.ok_or(StoreError::RunNotFound { id })?))
            }
        }
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

    async fn baseline(
        &self,
        suite: &str,
        reference: &str,
        current: u64,
        versions: Option<&dyn VersionLookup>,
    ) -> Result<RunRecord, EvalError> {
        compare::find_baseline(&self.store, &self.scope, versions, suite, reference, current).await
    }

    async fn upload(&self, body: RunUpload) -> Result<RunRecord, EvalError> {
        upload::check_run(&body).map_err(EvalError::BadUpload)?;
        let RunUpload { mut run, results } = body;
        // The status is the results' verdict, never the sender's word: a run with a failed case
        // is not stored as passed, however it is labelled.
        let mut totals = RunTotals::default();
        results.iter().for_each(|result| totals.add(result));
        run.status = RunStatus::verdict(&totals, run.draft.total, run.draft.threshold);
        if run.status == RunStatus::Interrupted {
            run.finished_at = run.finished_at.or(Some(Utc::now()));
        }
        Ok(self.store.import_run(&self.scope, run, results).await?)
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
        upload::check_experiment(&draft).map_err(AbError::BadUpload)?;
        if let Err(err) = serde_json::from_value::<Analysis>(draft.analysis.clone()) {
            return Err(AbError::BadUpload(BodyProblem::new("analysis", format!("not an `ab` analysis: {err}"))));
        }
        for (index, arm) in draft.arms.iter().enumerate() {
            if let Some(id) = arm.run
                && self.store.run(&self.scope, id).await?.is_none()
            {
                let message = format!("run {id} does not exist in this project; upload it first");
                return Err(AbError::BadUpload(BodyProblem::new(format!("arms[{index}].run"), message)));
            }
        }
        Ok(self.store.create_experiment(&self.scope, draft).await?)
    }

    async fn experiments(&self, suite: Option<&str>, limit: u32) -> Result<Vec<ExperimentRecord>, AbError> {
        Ok(self.store.experiments(&self.scope, suite, None, limit).await?)
    }

    async fn experiment(&self, reference: &str) -> Result<ExperimentRecord, AbError> {
        match RecordRef::parse(reference).ok_or_else(|| AbError::BadExperimentRef { text: reference.to_owned() })? {
            RecordRef::Latest => {
                let newest = self.store.experiments(&self.scope, None, None, 1).await?;
                newest.into_iter().next().ok_or(AbError::ExperimentNotFound { id: 0 })
            }
            RecordRef::Number(id) => {
                self.store.experiment(&self.scope, id).await?.ok_or(AbError::ExperimentNotFound { id })
            }
        }
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

/// A registry service as composition's [`ReferenceSource`], so that `@@@langfusePrompt:…@@@`
/// references in a prompt the CLI renders resolve through the project's registry (local or remote).
pub struct RegistryReferences<'a>(pub &'a dyn RegistryService);

impl std::fmt::Debug for RegistryReferences<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryReferences")
    }
}

impl ReferenceSource for RegistryReferences<'_> {
    fn fetch<'a>(
        &'a self,
        name: &'a PromptName,
        selector: &'a Selector,
    ) -> futures::future::BoxFuture<'a, Result<Referenced, FetchError>> {
        Box::pin(async move {
            let record = self.0.resolve(name, selector).await.map_err(|err| FetchError::Missing(Box::new(err)))?;
            Referenced::from_stored(name, record.meta.number, record.source, record.partials)
        })
    }
}

/// A project's model-call records: the gateway's traces, and the spend of every model call
/// (runs and gateway) with the budget lines that apply.
#[async_trait]
pub trait UsageService: Send + Sync {
    /// The newest traces first, at most `limit`.
    async fn traces(&self, limit: u32) -> Result<Vec<TraceRecord>, ServiceError>;
    /// Spend since `since` (all of it without), grouped by day, provider or model.
    async fn usage(&self, since: Option<DateTime<Utc>>, by: UsageGroup) -> Result<Vec<UsageRow>, ServiceError>;
    /// Today's and this month's spend against the budgets this service answers for (the
    /// project's `budgets:` locally; none remotely, where the gateway's budgets are settings).
    async fn budget_lines(&self, now: DateTime<Utc>) -> Result<Vec<BudgetLine>, ServiceError>;
}

/// Spend of one budget period against its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetLine {
    /// `today` or `this month`.
    pub period: &'static str,
    /// Spent in the period so far.
    pub spent: Micros,
    /// The limit.
    pub limit: Micros,
}

/// [`UsageService`] over the local store, with the project's budgets.
#[derive(Clone)]
pub struct LocalUsage {
    store: Arc<dyn Store>,
    scope: Scope,
    budgets: Option<BudgetConfig>,
}

impl std::fmt::Debug for LocalUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUsage").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl LocalUsage {
    /// Records of `scope` in `store`, budget lines from `budgets`.
    pub fn new(store: Arc<dyn Store>, scope: Scope, budgets: Option<BudgetConfig>) -> Self {
        Self { store, scope, budgets }
    }
}

fn local(err: StoreError) -> ServiceError {
    ServiceError(Box::new(err))
}

/// Midnight (UTC) of `now`'s day and of the first of its month.
fn period_starts(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = now.date_naive();
    let first = day.with_day(1).unwrap_or(day);
    (Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)), Utc.from_utc_datetime(&first.and_time(NaiveTime::MIN)))
}

#[async_trait]
impl UsageService for LocalUsage {
    async fn traces(&self, limit: u32) -> Result<Vec<TraceRecord>, ServiceError> {
        self.store.traces(&self.scope, None, limit).await.map_err(local)
    }

    async fn usage(&self, since: Option<DateTime<Utc>>, by: UsageGroup) -> Result<Vec<UsageRow>, ServiceError> {
        self.store.usage_report(&self.scope, since, by).await.map_err(local)
    }

    async fn budget_lines(&self, now: DateTime<Utc>) -> Result<Vec<BudgetLine>, ServiceError> {
        let Some(budgets) = &self.budgets else { return Ok(Vec::new()) };
        let (day, month) = period_starts(now);
        let tomorrow = day + chrono::Duration::days(1);
        let mut lines = Vec::new();
        for (period, limit, from) in [("today", budgets.daily_usd, day), ("this month", budgets.monthly_usd, month)] {
            let Some(limit) = limit.and_then(Micros::from_usd) else { continue };
            let spent = self.store.spend_between(&self.scope, from, tomorrow).await.map_err(local)?;
            lines.push(BudgetLine { period, spent, limit });
        }
        Ok(lines)
    }
}
