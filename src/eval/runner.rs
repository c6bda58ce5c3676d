//! The runner: every target × provider × case × repeat of a [`Plan`], through the [`Backend`]
//! (and so through the provider layers: cache, limits, retries, budgets, cost), with bounded
//! concurrency. Results are streamed into the store as they finish — a channel feeds a writer
//! task that batches inserts into transactions — so a run of any size holds only the cases in
//! flight. A progress callback sees every result. Cancelling stops new cases, lets the ones in
//! flight finish, and keeps the run as `interrupted`; [`Runner::resume`] finishes it later.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::assert::{Grade, Subject, json};
use super::backend::{Backend, CallError, Completion};
use super::error::{Changed, EvalError};
use super::owner::{Owner, busy, describe};
use super::plan::{Plan, PlannedTarget, TargetKind, coerce_vars};
use super::report::{ReportBuilder, RunReport};
use crate::money::Micros;
use crate::prompt;
use crate::store::{
    AssertionResult, CaseStatus, ResultRecord, RunDraft, RunRecord, RunStatus, RunTotals, Scope, Store, UnitKey,
};

/// The most results written in one transaction.
const BATCH: usize = 512;
/// Results waiting for the writer before the runner slows down to its pace.
const QUEUE: usize = 2048;
/// How long the writer collects more results before writing a batch.
const GATHER: Duration = Duration::from_millis(5);

/// A flag that stops a run after the cases in flight (Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks the run to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How far a run has got, after each result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// The run.
    pub run: u64,
    /// Results so far (those of an earlier, resumed attempt included).
    pub totals: RunTotals,
    /// Results a complete run has.
    pub total: u64,
    /// Time since this attempt started.
    pub elapsed: Duration,
}

/// Called with every result's progress.
pub type OnProgress = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Per-invocation settings.
#[derive(Clone)]
pub struct RunSettings {
    /// Cases in flight at once.
    pub concurrency: usize,
    /// Who runs it.
    pub actor: String,
    /// The git commit of the project, if any, and whether the tree is dirty.
    pub git: Option<(String, bool)>,
    /// Progress callback.
    pub on_progress: Option<OnProgress>,
    /// The stop flag.
    pub cancel: Cancel,
}

impl std::fmt::Debug for RunSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunSettings")
            .field("concurrency", &self.concurrency)
            .field("git", &self.git)
            .finish_non_exhaustive()
    }
}

/// Runs plans against a backend, recording runs in a store.
#[derive(Clone)]
pub struct Runner {
    store: Arc<dyn Store>,
    scope: Scope,
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner recording into `store` under `scope`.
    pub fn new(store: Arc<dyn Store>, scope: Scope, backend: Arc<dyn Backend>) -> Self {
        Self { store, scope, backend }
    }

    /// Records a new run of `plan` and evaluates every unit.
    pub async fn run(&self, plan: Arc<Plan>, settings: &RunSettings) -> Result<RunRecord, EvalError> {
        let run = self.start(&plan, settings).await?;
        let units = (0..plan.total()).map(|i| plan.unit(i)).collect();
        Ok(self.execute(plan, run, units, settings, None).await?.0)
    }

    /// Like [`Runner::run`], and returns the run's report, built from the results as they are
    /// produced: nothing is read back from the store.
    pub async fn run_with_report(&self, plan: Arc<Plan>, settings: &RunSettings) -> Result<RunReport, EvalError> {
        let run = self.start(&plan, settings).await?;
        let units = (0..plan.total()).map(|i| plan.unit(i)).collect();
        let builder = ReportBuilder::new(run.clone());
        let (run, builder) = self.execute(plan, run, units, settings, Some(builder)).await?;
        Ok(builder.expect("invariant: a builder was given").finish_with(run))
    }

    /// Records a new run of `plan` without evaluating anything yet: [`Runner::run_cases`] then
    /// evaluates it a few cases at a time (a sequential comparison looking between batches).
    pub async fn start(&self, plan: &Plan, settings: &RunSettings) -> Result<RunRecord, EvalError> {
        let draft = run_draft(plan, settings.actor.clone(), settings.git.clone());
        let run = self.store.create_run(&self.scope, draft).await?;
        // Recorded so that if this process dies the run shows as interrupted, not running.
        let owner = Owner::current().to_string();
        self.store.claim_run(&self.scope, run.id, None, &owner).await?;
        Ok(RunRecord { owner: Some(owner), ..run })
    }

    /// Evaluates every unit (target × provider × repeat) of the plan's cases `cases` (indices
    /// into `plan.cases`) in run `run`. The run stays `interrupted` until every case of the
    /// plan has been evaluated, so a run left part-way can be finished by [`Runner::resume`].
    pub async fn run_cases(
        &self,
        plan: Arc<Plan>,
        run: RunRecord,
        cases: &[u32],
        settings: &RunSettings,
    ) -> Result<RunRecord, EvalError> {
        let per_case = plan.pairs.len() as u64 * u64::from(plan.repeat.max(1));
        // Units are case-major: case c's are the per_case indices from c · per_case.
        let units = cases
            .iter()
            .filter(|&&case| (case as usize) < plan.cases.len())
            .flat_map(|&case| (0..per_case).map(move |i| u64::from(case) * per_case + i))
            .map(|i| plan.unit(i))
            .collect();
        Ok(self.execute(plan, run, units, settings, None).await?.0)
    }

    /// Finishes an interrupted run: the units without a result are evaluated, the others kept.
    /// Refuses when the suite, its datasets or its prompts changed since the run started.
    pub async fn resume(
        &self,
        plan: Arc<Plan>,
        run: RunRecord,
        settings: &RunSettings,
    ) -> Result<RunRecord, EvalError> {
        if run.status.is_finished() {
            return Err(EvalError::NotResumable { id: run.id, status: run.status });
        }
        if run.draft.plan_hash != plan.hash {
            let changed = what_changed(&run, &plan);
            return Err(EvalError::PlanChanged { id: run.id, suite: run.draft.suite.clone(), changed });
        }
        self.claim(&run).await?;
        let done: HashSet<UnitKey> = self.store.done_units(&self.scope, run.id).await?.into_iter().collect();
        let units = (0..plan.total()).map(|i| plan.unit(i)).filter(|u| !done.contains(u)).collect();
        Ok(self.execute(plan, run, units, settings, None).await?.0)
    }

    /// Takes a run over for this process: refused while another live process works on it, and
    /// atomically (compare and set on the owner read), so that of two processes resuming the
    /// same run only one proceeds.
    async fn claim(&self, run: &RunRecord) -> Result<(), EvalError> {
        let me = Owner::current().to_string();
        let refused = || EvalError::RunBusy { id: run.id, owner: describe(run.owner.as_deref()) };
        if busy(run, &me) {
            return Err(refused());
        }
        if !self.store.claim_run(&self.scope, run.id, run.owner.as_deref(), &me).await? {
            return Err(refused());
        }
        Ok(())
    }

    /// Evaluates `units` of `run`, streaming results to the store (and into `report`, when
    /// given), then sets the run's status from everything it holds (earlier attempts and
    /// batches included).
    async fn execute(
        &self,
        plan: Arc<Plan>,
        run: RunRecord,
        units: Vec<UnitKey>,
        settings: &RunSettings,
        report: Option<ReportBuilder>,
    ) -> Result<(RunRecord, Option<ReportBuilder>), EvalError> {
        let (sender, receiver) = mpsc::channel::<ResultRecord>(QUEUE);
        let writer = tokio::spawn(write_results(Arc::clone(&self.store), self.scope.clone(), run.id, receiver));
        let progress = Progress { run: run.id, totals: run.totals, total: plan.total(), elapsed: Duration::ZERO };
        // Results are gathered on a worker thread, not on the thread awaiting `execute`: that is
        // often `block_on`'s (the CLI's main thread), and waking that thread for every finished
        // case was about 5% of a warm run's CPU (perf: futex wake and wait, once per case).
        let gatherer =
            Gatherer { plan, backend: Arc::clone(&self.backend), settings: settings.clone(), progress, report };
        let (report, stopped) = tokio::spawn(gatherer.run(units, sender))
            .await
            .map_err(|err| EvalError::Internal(format!("the result gatherer panicked: {err}")))??;
        let written = writer.await.map_err(|err| EvalError::Internal(format!("the result writer panicked: {err}")));
        let flushed = self.backend.flush().await;
        written??;
        let stored =
            self.store.run(&self.scope, run.id).await?.ok_or(crate::store::StoreError::RunNotFound { id: run.id })?;
        let status = RunStatus::verdict(&stored.totals, stored.draft.total, stored.draft.threshold);
        let record = self.store.set_run_status(&self.scope, run.id, status).await?;
        // The results are stored; what their calls cost may not be, and budgets must not
        // silently undercount it.
        flushed.map_err(|source| EvalError::NotRecorded { run: run.id, source })?;
        if let Some(error) = stopped {
            return Err(EvalError::Stopped { run: run.id, message: error.message, hints: error.hints });
        }
        Ok((record, report))
    }
}

/// The record of a new run of `plan`, made by `actor` at git commit `git` (and whether its tree
/// was dirty).
pub fn run_draft(plan: &Plan, actor: String, git: Option<(String, bool)>) -> RunDraft {
    let (git_commit, git_dirty) = git.map_or((None, false), |(c, d)| (Some(c), d));
    RunDraft {
        suite: plan.suite.clone(),
        suite_path: plan.suite_path.display().to_string(),
        description: plan.description.clone(),
        plan_hash: plan.hash.clone(),
        targets: plan.targets.iter().map(|t| t.record.clone()).collect(),
        providers: plan.providers.clone(),
        threshold: plan.threshold,
        total: plan.total(),
        git_commit,
        git_dirty,
        actor,
    }
}

/// What gathers a run's results as its cases finish: progress, the report, the writer's queue.
struct Gatherer {
    plan: Arc<Plan>,
    backend: Arc<dyn Backend>,
    settings: RunSettings,
    progress: Progress,
    report: Option<ReportBuilder>,
}

impl Gatherer {
    /// Evaluates `units`, each case in a task of its own, at most `concurrency` at once, and
    /// hands every result to the progress callback, the report and the writer (through
    /// `sender`). Returns the report, and the error that stopped the run early, if one did.
    async fn run(
        mut self,
        units: Vec<UnitKey>,
        sender: mpsc::Sender<ResultRecord>,
    ) -> Result<(Option<ReportBuilder>, Option<CallError>), EvalError> {
        let started = Instant::now();
        let (cancel, stop) = (self.settings.cancel.clone(), Cancel::default());
        let mut stopped: Option<CallError> = None;
        let (plan, backend) = (&self.plan, &self.backend);
        let halted = stop.clone();
        let mut results = futures::stream::iter(units)
            .take_while(move |_| std::future::ready(!cancel.is_cancelled() && !halted.is_cancelled()))
            .map(|unit| {
                let (plan, backend) = (Arc::clone(plan), Arc::clone(backend));
                tokio::spawn(async move { evaluate(&plan, unit, backend.as_ref()).await })
            })
            .buffer_unordered(self.settings.concurrency.max(1));
        while let Some(joined) = results.next().await {
            let evaluated = joined.map_err(|err| EvalError::Internal(format!("a case panicked: {err}")))?;
            // A call that no later call can get past stops the run; its unit keeps no result, so
            // that resuming the run once the cause is fixed evaluates it.
            if let Some(error) = evaluated.stop {
                stop.cancel();
                stopped.get_or_insert(error);
                continue;
            }
            let result = evaluated.record;
            self.progress.totals.add(&result);
            self.progress.elapsed = started.elapsed();
            if let Some(on_progress) = &self.settings.on_progress {
                on_progress(&self.progress);
            }
            if let Some(report) = self.report.as_mut() {
                report.add(&result);
            }
            if sender.send(result).await.is_err() {
                break; // The writer stopped on a store error; `execute` reports it.
            }
        }
        drop(results);
        Ok((self.report, stopped))
    }
}

/// Receives results and stores them in batches: whatever has queued up since the last write,
/// and for a moment more, goes into one transaction, so the writer keeps pace with any rate of
/// results.
async fn write_results(
    store: Arc<dyn Store>,
    scope: Scope,
    run: u64,
    mut receiver: mpsc::Receiver<ResultRecord>,
) -> Result<(), EvalError> {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        gather(&mut receiver, &mut batch).await;
        store.append_results(&scope, run, std::mem::take(&mut batch)).await?;
    }
    Ok(())
}

/// Collects more results for up to [`GATHER`]: writing only what had queued meant more, smaller
/// transactions on a warm run (each a hop to the blocking pool), and a connection busy more often
/// when the response cache wanted to read. A closed queue ends it at once.
async fn gather(receiver: &mut mpsc::Receiver<ResultRecord>, batch: &mut Vec<ResultRecord>) {
    let deadline = tokio::time::Instant::now() + GATHER;
    while batch.len() < BATCH {
        match tokio::time::timeout_at(deadline, receiver.recv_many(batch, BATCH - batch.len())).await {
            Ok(received) if received > 0 => {}
            _ => break,
        }
    }
}

/// One evaluated unit: its result, and the call's error when it ends the run (the result then
/// only says so, and is not kept: the unit runs again when the run is resumed).
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The unit's result.
    pub record: ResultRecord,
    /// The error that ends the run, if the call failed so.
    pub stop: Option<CallError>,
}

/// Evaluates one unit: render, call, transform, assert; timed as a whole, so that a case whose
/// grading was slow (a script that ran into its timeout) reports the time it really took.
pub async fn evaluate(plan: &Plan, unit: UnitKey, backend: &dyn Backend) -> Evaluated {
    let started = Instant::now();
    let mut evaluated = produce_and_grade(plan, unit, backend).await;
    evaluated.record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    evaluated
}

async fn produce_and_grade(plan: &Plan, unit: UnitKey, backend: &dyn Backend) -> Evaluated {
    let target = &plan.targets[unit.target as usize];
    let provider = &plan.providers[unit.provider as usize];
    let case = &plan.cases[unit.case as usize];
    let vars = case.vars.to_vars();
    let record = unevaluated(Some(case), unit);
    let completion = match produce(target, provider, &vars, unit.repeat, backend).await {
        Ok(completion) => completion,
        Err(err) => {
            let stop = err.stops_run.then(|| err.clone());
            return Evaluated { record: errored(record, err.message), stop };
        }
    };
    Evaluated { record: grade(record, completion, case, &vars, backend).await, stop: None }
}

/// The result of `case` from its `completion`: the transform, then every assertion.
async fn grade(
    mut record: ResultRecord,
    completion: Completion,
    case: &super::plan::Case,
    vars: &prompt::Vars,
    backend: &dyn Backend,
) -> ResultRecord {
    record.latency_ms = u64::try_from(completion.latency.as_millis()).unwrap_or(u64::MAX);
    (record.input_tokens, record.output_tokens) = (completion.input_tokens, completion.output_tokens);
    record.cost = completion.cost;
    record.cached = completion.cached;
    record.output = Some(completion.text.clone());
    let mut output = completion.text;
    let mut parsed = json::parse_output(&output);
    if let Some(transform) = &case.transform {
        let subject =
            Subject { output: &output, json: parsed.as_ref(), vars, latency_ms: record.latency_ms, cost: record.cost };
        match super::assert::expr::transform(transform, &subject) {
            Ok(new) => {
                output = new;
                parsed = json::parse_output(&output);
            }
            Err(why) => return errored(record, why),
        }
    }
    let subject =
        Subject { output: &output, json: parsed.as_ref(), vars, latency_ms: record.latency_ms, cost: record.cost };
    for assertion in &case.assertions {
        match assertion.evaluate(&subject, backend).await {
            Ok(grade) => {
                record.cost += grade.cost;
                record.assertions.push(assertion_result(assertion, grade));
            }
            Err(why) => return errored(record, format!("{}: {why}", assertion.name())),
        }
    }
    let (status, score) = verdict(&record.assertions, case.threshold);
    record.status = status;
    record.score = score;
    record
}

/// The target's output for a case: a rendered prompt sent to the provider, or a workflow run
/// whose output keys become the output as JSON.
async fn produce(
    target: &PlannedTarget,
    provider: &str,
    vars: &prompt::Vars,
    repeat: u32,
    backend: &dyn Backend,
) -> Result<Completion, CallError> {
    match &target.kind {
        TargetKind::Prompt(prompt) => {
            let rendered =
                backend.render(prompt, &coerce_vars(prompt.prompt(), vars)).await.map_err(CallError::case)?;
            backend.complete(provider, &rendered, repeat).await
        }
        TargetKind::Workflow(workflow) => {
            let input = serde_json::Value::Object(vars.clone().into_iter().collect());
            let run = workflow.run(input).await.map_err(|err| CallError::case(err.to_string()))?;
            Ok(Completion {
                text: serde_json::to_string(&run.output).unwrap_or_default(),
                input_tokens: run.input_tokens,
                output_tokens: run.output_tokens,
                cost: run.cost,
                latency: run.latency,
                cached: false,
            })
        }
    }
}

/// The result of `unit` before anything is known of it: an error with no output, named after
/// its case (by its number when the plan is not at hand).
pub fn unevaluated(case: Option<&super::plan::Case>, unit: UnitKey) -> ResultRecord {
    ResultRecord {
        unit,
        case_name: case.map_or_else(|| format!("case {}", unit.case), |c| c.name.clone()),
        case_key: case.map(|c| c.key.clone()).unwrap_or_default(),
        location: case.map(|c| c.location.clone()),
        vars: case.map(|c| serde_json::to_value(&c.vars).unwrap_or_default()).unwrap_or_default(),
        tags: case.map(|c| c.tags.clone()).unwrap_or_default(),
        status: CaseStatus::Error,
        score: 0.0,
        output: None,
        error: None,
        assertions: Vec::new(),
        latency_ms: 0,
        duration_ms: 0,
        input_tokens: 0,
        output_tokens: 0,
        cost: Micros::ZERO,
        cached: false,
    }
}

fn errored(mut record: ResultRecord, message: String) -> ResultRecord {
    record.status = CaseStatus::Error;
    record.error = Some(message);
    record
}

fn assertion_result(assertion: &super::assert::Assertion, grade: Grade) -> AssertionResult {
    AssertionResult {
        kind: assertion.name(),
        pass: grade.pass,
        score: grade.score,
        weight: assertion.weight,
        metric: assertion.metric.clone(),
        reason: grade.reason,
    }
}

/// A case passes when every weighted assertion passes or, with a case threshold, when the
/// weighted score reaches it. Weight-0 assertions are reported but decide nothing.
pub fn verdict(assertions: &[AssertionResult], threshold: Option<f64>) -> (CaseStatus, f64) {
    let weight: f64 = assertions.iter().map(|a| a.weight).sum();
    let score = if weight > 0.0 { assertions.iter().map(|a| a.weight * a.score).sum::<f64>() / weight } else { 1.0 };
    let pass = match threshold {
        Some(t) => score + 1e-9 >= t,
        None => assertions.iter().filter(|a| a.weight > 0.0).all(|a| a.pass),
    };
    (if pass { CaseStatus::Pass } else { CaseStatus::Fail }, score)
}

/// What differs between an interrupted run and the plan of its resumption, in the user's terms,
/// so the refusal names the cause instead of listing every flag that might be it.
fn what_changed(run: &RunRecord, plan: &Plan) -> Changed {
    let before = &run.draft;
    for (old, new) in before.targets.iter().zip(plan.targets.iter().map(|t| &t.record)) {
        if old.hash != new.hash {
            return Changed::Target(old.reference.clone());
        }
    }
    if before.targets.len() != plan.targets.len() {
        return Changed::Targets;
    }
    if before.providers != plan.providers {
        return Changed::Providers { before: before.providers.clone(), now: plan.providers.clone() };
    }
    if before.total != plan.total() {
        return Changed::Cases { before: before.total, now: plan.total() };
    }
    Changed::Suite
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(pass: bool, score: f64, weight: f64) -> AssertionResult {
        AssertionResult { kind: "x".into(), pass, score, weight, metric: None, reason: String::new() }
    }

    #[test]
    fn verdicts_weigh_assertions() {
        let all = [result(true, 1.0, 1.0), result(false, 0.0, 3.0)];
        assert_eq!(verdict(&all, None), (CaseStatus::Fail, 0.25));
        assert_eq!(verdict(&all, Some(0.2)).0, CaseStatus::Pass);
        assert_eq!(verdict(&[result(false, 0.0, 0.0)], None), (CaseStatus::Pass, 1.0));
        assert_eq!(verdict(&[], None), (CaseStatus::Pass, 1.0));
    }
}
