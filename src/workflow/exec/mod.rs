//! The executor: LangGraph's supersteps (Pregel/BSP). Each step plans the triggered nodes (a
//! node runs at most once per step, plus one task per map item), runs them concurrently, then
//! applies all their writes together in a deterministic order (node name, then map index).
//! Writes are invisible to the other tasks of the same step. Branches and map lists are then
//! evaluated on the merged state (the brief's one deliberate difference from LangGraph) and
//! trigger the next step. The run ends when nothing is triggered.
//!
//! Limits: a node triggered past its `max_visits` fails the run naming its loop (or takes its
//! `on_limit` goto); `limits.max_steps` stops a runaway run naming the loop it was in.
//! `wait_for` holds a node until every node it waits for has run since it last ran; `defer`
//! holds it until nothing else is triggered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

mod plan;

use super::checkpoint::{self, Checkpointer, MapItem, StepPayload, Trigger};
use super::compile::{Compiled, CompiledEdge};
use super::error::WorkflowError;
use super::expr::Ctx;
use super::graph::START;
use super::model::ModelCaller;
use super::node::{NodeEnv, RunOptions, TaskFailure, TaskResult, TaskSpec, run_task};
use super::state::{self, Values};
use super::trace::{Event, EventSink, Interrupt, RunOutcome, RunStatus, TaskTrace};
use crate::error::ErrorClass;
use crate::money::Micros;
use crate::store::{Scope, Store, ThreadRecord};

/// Runs workflows: new threads, resumed threads, and nested subgraphs.
#[derive(Clone)]
pub struct Runner {
    caller: Arc<dyn ModelCaller>,
    options: RunOptions,
    store: Option<(Arc<dyn Store>, Scope)>,
    events: Option<EventSink>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("caller", &self.caller).field("options", &self.options).finish_non_exhaustive()
    }
}

/// Where the run is between steps.
struct Progress {
    step: u32,
    values: Arc<Values>,
    payload: StepPayload,
}

/// What every task of a run shares.
struct Engine<'a> {
    caller: &'a dyn ModelCaller,
    options: &'a RunOptions,
    http: &'a reqwest::Client,
    events: Option<&'a EventSink>,
}

/// One invocation on one thread.
struct Run<'a> {
    engine: Engine<'a>,
    compiled: &'a Arc<Compiled>,
    thread: String,
    inputs: Value,
    checkpointer: Checkpointer,
    trace: Vec<TaskTrace>,
    warnings: Vec<String>,
}

/// A new thread id: the workflow's name and 8 random hex digits.
pub fn new_thread_id(workflow: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", workflow.replace('/', "-"), &random[..8])
}

impl Runner {
    /// A runner calling models through `caller`, storing nothing.
    pub fn new(caller: Arc<dyn ModelCaller>) -> Self {
        Self { caller, options: RunOptions::default(), store: None, events: None, http: reqwest::Client::new() }
    }

    /// Checkpoints threads in `store` under `scope`.
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn Store>, scope: Scope) -> Self {
        self.store = Some((store, scope));
        self
    }

    /// Run settings.
    #[must_use]
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Sends events to `sink` as they happen.
    #[must_use]
    pub fn with_events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    fn engine(&self) -> Engine<'_> {
        Engine { caller: self.caller.as_ref(), options: &self.options, http: &self.http, events: self.events.as_ref() }
    }

    fn checkpointer(&self, compiled: &Compiled, thread: &str) -> Checkpointer {
        let target = self.store.as_ref().map(|(store, scope)| (Arc::clone(store), scope.clone(), thread.to_owned()));
        Checkpointer::new(target, compiled.file())
    }

    /// Runs `compiled` on `input` in a new thread (`thread`, or a generated id).
    pub async fn run(
        &self,
        compiled: &Arc<Compiled>,
        input: Value,
        thread: Option<String>,
    ) -> Result<RunOutcome, WorkflowError> {
        let file = compiled.file();
        let values = state::initial(file, &input).map_err(|why| {
            WorkflowError::run(
                ErrorClass::Usage,
                format!("invalid input for workflow `{}`: {why}", file.name),
                input_hints(file),
            )
        })?;
        let thread = thread.unwrap_or_else(|| new_thread_id(&file.name));
        let checkpointer = self.checkpointer(compiled, &thread);
        if let (true, Some((store, scope))) = (checkpointer.enabled(), &self.store) {
            let now = chrono::Utc::now();
            let record = ThreadRecord {
                id: thread.clone(),
                workflow: file.name.clone(),
                workflow_hash: compiled.hash.clone(),
                status: "running".to_owned(),
                step: 0,
                input: input.to_string(),
                parent: None,
                detail: None,
                created_at: now,
                updated_at: now,
            };
            if !store.create_thread(scope, &record).await? {
                return Err(WorkflowError::ThreadExists { thread });
            }
        }
        let mut run = Run {
            engine: self.engine(),
            compiled,
            thread,
            inputs: input,
            checkpointer,
            trace: Vec::new(),
            warnings: Vec::new(),
        };
        let values = Arc::new(values);
        let visits = zero_visits(compiled);
        let pending = run.next_triggers(&values, &visits, START, None).map_err(|why| run.config_error(0, why))?;
        let payload = StepPayload { pending, visits, ..StepPayload::default() };
        run.checkpointer.commit(0, &[], &payload, &values, "running").await?;
        run.drive(Progress { step: 0, values, payload }, BTreeMap::new(), None).await
    }

    /// Continues a thread after a pause (with the human's `answer`), a failure or a crash.
    pub async fn resume(
        &self,
        compiled: &Arc<Compiled>,
        thread: &str,
        answer: Option<Value>,
    ) -> Result<RunOutcome, WorkflowError> {
        let Some((store, scope)) = &self.store else {
            return Err(WorkflowError::Thread { message: "resuming needs the store".to_owned(), hints: Vec::new() });
        };
        let record = store
            .thread(scope, thread)
            .await?
            .ok_or_else(|| WorkflowError::ThreadNotFound { thread: thread.to_owned() })?;
        check_resumable(&record, compiled, answer.as_ref())?;
        check_answer(&record, compiled, answer.as_ref())?;
        let mut run = Run {
            engine: self.engine(),
            compiled,
            thread: thread.to_owned(),
            inputs: serde_json::from_str(&record.input).unwrap_or(Value::Null),
            checkpointer: self.checkpointer(compiled, thread),
            trace: Vec::new(),
            warnings: Vec::new(),
        };
        if record.workflow_hash != compiled.hash {
            run.warnings.push(format!(
                "workflow `{}` changed since thread `{thread}` started; the rest of the run uses the current file",
                record.workflow
            ));
        }
        let restored = checkpoint::restore(store.as_ref(), scope, thread, record.step, compiled.file()).await?;
        let in_flight = checkpoint::task_results(&store.tasks(scope, thread, record.step + 1).await?)?;
        let reuse: BTreeMap<String, TaskResult> = in_flight.into_iter().map(|r| (r.id.clone(), r)).collect();
        run.checkpointer.status("running", None).await?;
        let progress = Progress { step: restored.step, values: Arc::new(restored.values), payload: restored.payload };
        run.drive(progress, reuse, answer).await
    }
}

fn input_hints(file: &super::graph::WorkflowFile) -> Vec<String> {
    let keys: Vec<String> = file.input.iter().map(|k| format!("\"{k}\": …")).collect();
    vec![format!("pass `--input '{{{}}}'`", keys.join(", "))]
}

fn check_resumable(record: &ThreadRecord, compiled: &Compiled, answer: Option<&Value>) -> Result<(), WorkflowError> {
    let thread = &record.id;
    if record.workflow != compiled.file().name {
        return Err(WorkflowError::Thread {
            message: format!("thread `{thread}` runs workflow `{}`, not `{}`", record.workflow, compiled.file().name),
            hints: Vec::new(),
        });
    }
    match (record.status.as_str(), answer) {
        ("completed", _) => Err(WorkflowError::Thread {
            message: format!("thread `{thread}` has finished"),
            hints: vec![format!("fork it to run again from a step: `promptops workflow fork {thread} --step N`")],
        }),
        ("interrupted", None) => {
            let node = record
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str::<Interrupt>(d).ok())
                .map_or_else(String::new, |i| format!(" at `{}`", i.node));
            Err(WorkflowError::Thread {
                message: format!("thread `{thread}` is waiting for an answer{node}"),
                hints: vec![format!("answer with `promptops workflow resume {thread} --input JSON`")],
            })
        }
        ("interrupted", Some(_)) | (_, None) => Ok(()),
        (status, Some(_)) => Err(WorkflowError::Thread {
            message: format!("thread `{thread}` is {status}, not waiting for an answer"),
            hints: vec![format!("resume it without `--input`: `promptops workflow resume {thread}`")],
        }),
    }
}

/// Checks a human answer against the waiting node's schema before anything runs, so that a
/// wrong answer leaves the thread waiting.
fn check_answer(record: &ThreadRecord, compiled: &Compiled, answer: Option<&Value>) -> Result<(), WorkflowError> {
    let (Some(answer), Some(detail)) = (answer, record.detail.as_deref()) else { return Ok(()) };
    let Ok(interrupt) = serde_json::from_str::<Interrupt>(detail) else { return Ok(()) };
    let Some(schema) = compiled.nodes.get(&interrupt.node).and_then(|n| n.schema.as_ref()) else { return Ok(()) };
    match schema.iter_errors(answer).next() {
        None => Ok(()),
        Some(error) => Err(WorkflowError::Thread {
            message: format!("the answer to `{}` does not match its schema: {error}", interrupt.node),
            hints: interrupt.schema.map(|s| vec![format!("the expected schema: {s}")]).unwrap_or_default(),
        }),
    }
}

/// Runs a child workflow to completion without checkpoints (a `subgraph` node).
pub(crate) fn run_nested<'a>(
    env: &'a NodeEnv<'a>,
    child: Arc<Compiled>,
    input: Value,
) -> BoxFuture<'a, Result<Value, WorkflowError>> {
    Box::pin(async move {
        let file = child.file();
        let values = state::initial(file, &input).map_err(|why| {
            WorkflowError::run(
                ErrorClass::Config,
                format!("invalid input for workflow `{}`: {why}", file.name),
                Vec::new(),
            )
        })?;
        let engine = Engine { caller: env.caller, options: env.options, http: env.http, events: None };
        let thread = format!("{}(subgraph)", file.name);
        let checkpointer = Checkpointer::new(None, file);
        let mut run = Run {
            engine,
            compiled: &child,
            thread,
            inputs: input,
            checkpointer,
            trace: Vec::new(),
            warnings: Vec::new(),
        };
        let values = Arc::new(values);
        let visits = zero_visits(&child);
        let pending = run.next_triggers(&values, &visits, START, None).map_err(|why| run.config_error(0, why))?;
        let payload = StepPayload { pending, visits, ..StepPayload::default() };
        let outcome = run.drive(Progress { step: 0, values, payload }, BTreeMap::new(), None).await?;
        if outcome.status == RunStatus::Interrupted {
            return Err(WorkflowError::run(ErrorClass::Config, "a subgraph cannot pause for human input", Vec::new()));
        }
        Ok(outcome.output)
    })
}

impl Run<'_> {
    fn config_error(&self, step: u32, why: String) -> WorkflowError {
        WorkflowError::run(ErrorClass::Config, format!("{why} (step {step} of thread `{}`)", self.thread), Vec::new())
    }

    /// Steps until the run completes, pauses or fails.
    async fn drive(
        &mut self,
        mut progress: Progress,
        mut reuse: BTreeMap<String, TaskResult>,
        mut answer: Option<Value>,
    ) -> Result<RunOutcome, WorkflowError> {
        loop {
            let (tasks, carry) = match self.plan(&progress) {
                Ok(planned) => planned,
                Err(err) => return Err(self.fail(progress.step + 1, err, None).await),
            };
            if tasks.is_empty() {
                if let Some(waiting) = carry.first() {
                    let err = self.blocked(progress.step, &waiting.node);
                    return Err(self.fail(progress.step, err, None).await);
                }
                return self.complete(progress).await;
            }
            let max_steps = self.compiled.file().limits.max_steps();
            if progress.step >= max_steps {
                let err = self.step_limit(&progress, &tasks, max_steps);
                return Err(self.fail(progress.step + 1, err, None).await);
            }
            let step = progress.step + 1;
            let results = self.run_step(step, &progress, &tasks, &mut reuse, &mut answer).await;
            reuse.clear();
            let mut finished = Vec::new();
            let mut failed: Option<TaskFailure> = None;
            for result in results {
                match result {
                    Ok(done) => finished.push(done),
                    Err(failure) => {
                        self.trace.push(failure.trace.clone());
                        failed = failed.or(Some(failure));
                    }
                }
            }
            self.trace.extend(finished.iter().map(|r| r.trace.clone()));
            if let Some(failure) = failed {
                let err = WorkflowError::run(
                    failure.class,
                    format!(
                        "node `{}` failed at step {step} of thread `{}`: {}",
                        failure.node, self.thread, failure.message
                    ),
                    failure.hints.clone(),
                );
                return Err(self.fail(step, err, Some(&failure.node)).await);
            }
            if let Some(interrupt) = finished.iter().find_map(|r| r.interrupt.clone()) {
                return self.pause(progress, interrupt).await;
            }
            progress = match self.advance(step, progress, &finished, carry) {
                Ok(next) => next,
                Err(why) => return Err(self.fail(step, self.config_error(step, why), None).await),
            };
            self.checkpointer.commit(step, &finished, &progress.payload, &progress.values, "running").await?;
            self.emit_step(step, &finished, &progress.values);
        }
    }

    /// Runs the tasks of one step concurrently; finished tasks are stored as they finish.
    async fn run_step(
        &self,
        step: u32,
        progress: &Progress,
        tasks: &[TaskSpec],
        reuse: &mut BTreeMap<String, TaskResult>,
        answer: &mut Option<Value>,
    ) -> Vec<Result<TaskResult, TaskFailure>> {
        let env = NodeEnv {
            compiled: self.compiled,
            caller: self.engine.caller,
            options: self.engine.options,
            http: self.engine.http,
            events: self.engine.events,
            inputs: &self.inputs,
            state: Arc::clone(&progress.values),
            visits: &progress.payload.visits,
            step,
        };
        let mut plans = Vec::with_capacity(tasks.len());
        for task in tasks {
            let stored = reuse.remove(&task.id);
            let plan = match stored {
                Some(mut done) if done.interrupt.is_none() => {
                    done.trace.reused = true;
                    Err(done)
                }
                Some(paused) => match answer.take() {
                    Some(value) => Ok(Some(value)),
                    None => Err(paused),
                },
                None => Ok(None),
            };
            plans.push((task, plan));
        }
        let env = &env;
        let futures = plans.into_iter().map(|(task, plan)| async move {
            let resume = match plan {
                Err(stored) => return Ok(stored),
                Ok(resume) => resume,
            };
            let result = run_task(env, task, resume.as_ref()).await;
            if let Ok(done) = &result
                && let Err(err) = self.checkpointer.task(step, done).await
            {
                let node = &task.node;
                return Err(TaskFailure {
                    node: node.clone(),
                    message: format!("its result could not be stored: {err}"),
                    class: ErrorClass::Internal,
                    hints: Vec::new(),
                    trace: done.trace.clone(),
                });
            }
            result
        });
        futures::future::join_all(futures).await
    }

    /// Applies a finished step: writes, visits, barriers, and the triggers of the next step.
    fn advance(
        &self,
        step: u32,
        progress: Progress,
        finished: &[TaskResult],
        carry: Vec<Trigger>,
    ) -> Result<Progress, String> {
        let Progress { values, mut payload, .. } = progress;
        let mut values = values;
        state::apply(self.compiled.file(), Arc::make_mut(&mut values), &checkpoint::step_writes(finished))?;
        for result in finished.iter().filter(|r| r.trace.status != super::trace::TaskStatus::Limited) {
            *payload.visits.entry(result.node.clone()).or_insert(0) += 1;
            payload.barriers.remove(&result.node);
            for waiter in self.compiled.waiters.get(&result.node).into_iter().flatten() {
                payload.barriers.entry(waiter.clone()).or_default().insert(result.node.clone());
            }
        }
        let mut pending = carry;
        let mut sorted: Vec<&TaskResult> = finished.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        let mut seen = BTreeSet::new();
        for result in sorted {
            // A node's edges fire once per step, however many of its map tasks ran.
            if result.route.is_none() && !seen.insert(result.node.clone()) {
                continue;
            }
            pending.extend(self.next_triggers(&values, &payload.visits, &result.node, result.route.as_deref())?);
        }
        payload.pending = pending;
        Ok(Progress { step, values, payload })
    }

    /// The triggers a finished node (or `START`) fires.
    fn next_triggers(
        &self,
        values: &Arc<Values>,
        visits: &BTreeMap<String, u32>,
        from: &str,
        route: Option<&str>,
    ) -> Result<Vec<Trigger>, String> {
        let plain = |node: &str| Trigger { node: node.to_owned(), item: None };
        if let Some(target) = route {
            return Ok(if target == super::graph::END { Vec::new() } else { vec![plain(target)] });
        }
        let ctx =
            Ctx { state: Some(Arc::clone(values)), inputs: Some(&self.inputs), visits: Some(visits), ..Ctx::default() };
        let exprs = &self.compiled.exprs;
        let mut out = Vec::new();
        for edge in self.compiled.edges.get(from).into_iter().flatten() {
            match edge {
                CompiledEdge::To(targets) => out.extend(targets.iter().map(|t| plain(t))),
                CompiledEdge::Branch(cases) => {
                    for (condition, targets) in cases {
                        let taken = match condition {
                            None => true,
                            Some(id) => truthy(&exprs.eval(*id, &ctx).map_err(|why| {
                                format!("the branch condition `{}` after `{from}` failed: {why}", exprs.source(*id))
                            })?),
                        };
                        if taken {
                            out.extend(targets.iter().map(|t| plain(t)));
                            break;
                        }
                    }
                }
                CompiledEdge::Map { over, alias, to } => {
                    let list = exprs.eval(*over, &ctx).map_err(|why| {
                        format!("the map list `{}` after `{from}` failed: {why}", exprs.source(*over))
                    })?;
                    let Value::Array(items) = list else {
                        return Err(format!(
                            "the map list `{}` after `{from}` is not a list: {}",
                            exprs.source(*over),
                            state::short(&list)
                        ));
                    };
                    for (index, value) in items.into_iter().enumerate() {
                        let index = u32::try_from(index).unwrap_or(u32::MAX);
                        out.push(Trigger {
                            node: to.clone(),
                            item: Some(MapItem { alias: alias.clone(), index, value }),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    async fn fail(&mut self, step: u32, err: WorkflowError, node: Option<&str>) -> WorkflowError {
        let detail = serde_json::json!({ "step": step, "node": node, "error": err.to_string() });
        if let Err(store) = self.checkpointer.status("failed", Some(&detail)).await {
            return store;
        }
        if let Err(store) = self.checkpointer.finish().await {
            return store;
        }
        err
    }

    async fn pause(&mut self, progress: Progress, interrupt: Interrupt) -> Result<RunOutcome, WorkflowError> {
        let detail = serde_json::to_value(&interrupt).unwrap_or(Value::Null);
        self.checkpointer.status("interrupted", Some(&detail)).await?;
        self.checkpointer.finish().await?;
        if !self.engine.options.allow_pause {
            return Err(WorkflowError::PauseNotAllowed { node: interrupt.node, thread: self.thread.clone() });
        }
        Ok(self.outcome(RunStatus::Interrupted, &progress, Some(interrupt)))
    }

    async fn complete(&mut self, progress: Progress) -> Result<RunOutcome, WorkflowError> {
        self.checkpointer.status("completed", None).await?;
        self.checkpointer.finish().await?;
        Ok(self.outcome(RunStatus::Completed, &progress, None))
    }

    fn outcome(&self, status: RunStatus, progress: &Progress, interrupt: Option<Interrupt>) -> RunOutcome {
        let file = self.compiled.file();
        let state = Value::Object(progress.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        let output = if file.output.is_empty() {
            state.clone()
        } else {
            Value::Object(
                file.output
                    .iter()
                    .map(|k| (k.clone(), progress.values.get(k).cloned().unwrap_or(Value::Null)))
                    .collect(),
            )
        };
        RunOutcome {
            thread: self.thread.clone(),
            workflow: file.name.clone(),
            status,
            steps: progress.step,
            output,
            state,
            cost: self.trace.iter().map(|t| t.cost).fold(Micros::ZERO, |a, b| a + b),
            trace: self.trace.clone(),
            interrupt,
            warnings: self.warnings.clone(),
        }
    }

    fn emit_step(&self, step: u32, finished: &[TaskResult], values: &Values) {
        let Some(sink) = self.engine.events else { return };
        for result in finished {
            sink(&Event::Updates {
                thread: self.thread.clone(),
                step,
                node: result.node.clone(),
                index: result.index,
                writes: result.writes.iter().cloned().collect(),
            });
        }
        let values = Value::Object(values.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        sink(&Event::Values { thread: self.thread.clone(), step, values });
    }
}

/// Every node at zero runs, so that `visits.NODE` is 0 (not undefined) before it first runs.
fn zero_visits(compiled: &Compiled) -> BTreeMap<String, u32> {
    compiled.nodes.keys().map(|name| (name.clone(), 0)).collect()
}

/// Jinja truthiness of a JSON value: false, null, 0, "" and empty collections are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
