//! Checkpoints of a thread in the store (research brief §b.7, pain point 8). Each finished task
//! is stored as its writes as soon as it finishes; a step commits with a small record of what
//! the next step starts from (pending triggers, visit counts, join barriers) and, every
//! `snapshot_every` steps, the whole state. The state at step N is the newest snapshot at or
//! before N with the writes of the later steps applied, so storage grows with what each step
//! writes, not with the state, and a failed or crashed step's finished tasks are not run again.
//!
//! Durability (`checkpoint.durability`): `sync` awaits every write; `async` hands writes to a
//! background task in order and waits for it when the run stops; `exit` keeps them in memory
//! until the run stops; `none` stores nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::WorkflowError;
use super::graph::{Durability, WorkflowFile};
use super::node::TaskResult;
use super::state::{self, Values, Write};
use crate::store::{CheckpointRow, Scope, Store, StoreError, TaskRow};

/// A node to run in the next step, with its map item if it is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// The node.
    pub node: String,
    /// The map item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<MapItem>,
}

/// One item of a map fan-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapItem {
    /// Its name in expressions.
    pub alias: String,
    /// Its position in the list (the task's merge order).
    pub index: u32,
    /// The item.
    pub value: Value,
}

/// What a committed step leaves for the next one, besides the state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepPayload {
    /// The nodes to run next.
    pub pending: Vec<Trigger>,
    /// Completed runs per node.
    pub visits: BTreeMap<String, u32>,
    /// For each joining node, the awaited nodes that have run since it last ran.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub barriers: BTreeMap<String, BTreeSet<String>>,
    /// The ids of the tasks this step committed. Their writes were stored as each task finished;
    /// a stored result of an earlier attempt that the step did not use is left out by this list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
}

/// The state and progress of a thread at a committed step.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The step.
    pub step: u32,
    /// The state after it.
    pub values: Values,
    /// What the next step starts from.
    pub payload: StepPayload,
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, WorkflowError> {
    serde_json::from_str(text).map_err(|err| WorkflowError::Store(StoreError::Decode(format!("checkpoint: {err}"))))
}

fn encode<T: Serialize>(value: &T) -> String {
    // Plain data (strings, numbers, maps with string keys) always serialises.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The stored results of the tasks of one step.
pub fn task_results(rows: &[TaskRow]) -> Result<Vec<TaskResult>, WorkflowError> {
    rows.iter().map(|row| decode(&row.payload)).collect()
}

/// The results a committed step used: its stored task rows, restricted to the ids its commit lists.
pub fn committed_results(row: &CheckpointRow) -> Result<(StepPayload, Vec<TaskResult>), WorkflowError> {
    let payload: StepPayload = decode(&row.payload)?;
    let results = task_results(&row.tasks)?.into_iter().filter(|r| payload.tasks.contains(&r.id)).collect();
    Ok((payload, results))
}

/// The writes of a step's tasks, in merge order (task ids sort as node name, then map index).
pub fn step_writes(results: &[TaskResult]) -> Vec<Write> {
    let mut sorted: Vec<&TaskResult> = results.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    sorted
        .into_iter()
        .flat_map(|r| {
            r.writes.iter().map(move |(key, value)| Write {
                task: r.id.clone(),
                key: key.clone(),
                value: value.clone(),
            })
        })
        .collect()
}

/// The state of `thread` at committed step `step`: the newest snapshot, then the deltas.
pub async fn restore(
    store: &dyn Store,
    scope: &Scope,
    thread: &str,
    step: u32,
    file: &WorkflowFile,
) -> Result<Restored, WorkflowError> {
    let missing =
        || WorkflowError::Store(StoreError::Decode(format!("thread `{thread}` has no snapshot before step {step}")));
    let from = store.snapshot_step(scope, thread, step).await?.ok_or_else(missing)?;
    let rows: Vec<CheckpointRow> =
        store.checkpoints(scope, thread, from).await?.into_iter().filter(|row| row.step <= step).collect();
    let first = rows.first().ok_or_else(missing)?;
    let mut values: Values = decode(first.snapshot.as_deref().ok_or_else(missing)?)?;
    for row in &rows[1..] {
        let (_, results) = committed_results(row)?;
        state::apply(file, &mut values, &step_writes(&results))
            .map_err(|why| WorkflowError::Store(StoreError::Decode(format!("replaying step {}: {why}", row.step))))?;
    }
    let last = rows.last().ok_or_else(missing)?;
    Ok(Restored { step: last.step, values, payload: decode(&last.payload)? })
}

/// One write to the store.
#[derive(Debug)]
enum Op {
    Task(TaskRow),
    Commit(CheckpointRow, String),
    Status(String, Option<String>),
}

/// Writes a thread's checkpoints with the workflow's durability.
pub struct Checkpointer {
    target: Option<(Arc<dyn Store>, Scope, String)>,
    durability: Durability,
    snapshot_every: u32,
    buffered: Mutex<Vec<Op>>,
    sender: Mutex<Option<mpsc::UnboundedSender<Op>>>,
    worker: Mutex<Option<tokio::task::JoinHandle<Result<(), StoreError>>>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer").field("durability", &self.durability).finish_non_exhaustive()
    }
}

async fn execute(store: &dyn Store, scope: &Scope, thread: &str, op: Op) -> Result<(), StoreError> {
    match op {
        Op::Task(row) => store.put_task(scope, thread, &row).await,
        Op::Commit(row, status) => store.commit_step(scope, thread, &row, &status).await,
        Op::Status(status, detail) => store.set_thread_status(scope, thread, &status, detail.as_deref()).await,
    }
}

impl Checkpointer {
    /// Checkpoints of `thread` in `store`; with no store (or `durability: none`) nothing is written.
    pub fn new(target: Option<(Arc<dyn Store>, Scope, String)>, file: &WorkflowFile) -> Self {
        let durability = if target.is_some() { file.checkpoint.durability } else { Durability::None };
        let this = Self {
            target: if durability == Durability::None { None } else { target },
            durability,
            snapshot_every: file.checkpoint.snapshot_every(),
            buffered: Mutex::new(Vec::new()),
            sender: Mutex::new(None),
            worker: Mutex::new(None),
        };
        if let (Durability::Async, Some((store, scope, thread))) = (durability, &this.target) {
            let (sender, mut receiver) = mpsc::unbounded_channel::<Op>();
            let (store, scope, thread) = (Arc::clone(store), scope.clone(), thread.clone());
            let worker = tokio::spawn(async move {
                let mut first_error = None;
                while let Some(op) = receiver.recv().await {
                    if let Err(err) = execute(store.as_ref(), &scope, &thread, op).await {
                        first_error.get_or_insert(err);
                    }
                }
                first_error.map_or(Ok(()), Err)
            });
            *lock(&this.sender) = Some(sender);
            *lock(&this.worker) = Some(worker);
        }
        this
    }

    /// Whether anything is stored (resume and history need it).
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    async fn submit(&self, op: Op) -> Result<(), WorkflowError> {
        let Some((store, scope, thread)) = &self.target else { return Ok(()) };
        match self.durability {
            Durability::Sync => execute(store.as_ref(), scope, thread, op).await?,
            Durability::Async => {
                if let Some(sender) = lock(&self.sender).as_ref() {
                    let _ = sender.send(op);
                }
            }
            Durability::Exit => lock(&self.buffered).push(op),
            Durability::None => {}
        }
        Ok(())
    }

    /// Stores a finished task of the running step.
    pub async fn task(&self, step: u32, result: &TaskResult) -> Result<(), WorkflowError> {
        self.submit(Op::Task(TaskRow { step, task: result.id.clone(), payload: encode(result) })).await
    }

    /// Commits a step (with a snapshot every `snapshot_every` steps, and always at step 0). The
    /// tasks' writes are already stored ([`Self::task`]); the commit lists their ids.
    pub async fn commit(
        &self,
        step: u32,
        results: &[TaskResult],
        payload: &StepPayload,
        values: &Values,
        status: &str,
    ) -> Result<(), WorkflowError> {
        let snapshot = step.is_multiple_of(self.snapshot_every).then(|| encode(values));
        let mut listed = payload.clone();
        listed.tasks = results.iter().map(|r| r.id.clone()).collect();
        let row = CheckpointRow { step, payload: encode(&listed), snapshot, tasks: Vec::new(), created_at: Utc::now() };
        self.submit(Op::Commit(row, status.to_owned())).await
    }

    /// Records the thread's status (and its error or pending question).
    pub async fn status(&self, status: &str, detail: Option<&Value>) -> Result<(), WorkflowError> {
        self.submit(Op::Status(status.to_owned(), detail.map(encode))).await
    }

    /// Waits until everything submitted is in the store.
    pub async fn finish(&self) -> Result<(), WorkflowError> {
        let Some((store, scope, thread)) = &self.target else { return Ok(()) };
        let buffered: Vec<Op> = std::mem::take(&mut *lock(&self.buffered));
        for op in buffered {
            execute(store.as_ref(), scope, thread, op).await?;
        }
        drop(lock(&self.sender).take());
        let worker = lock(&self.worker).take();
        if let Some(worker) = worker {
            worker.await.map_err(|err| StoreError::Backend(Box::new(err)))??;
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
