//! Workflow threads and their checkpoints: the rows, and the [`WorkflowStore`] sub-trait of
//! [`super::Store`]. Payloads are opaque JSON text owned by `workflow::checkpoint`, so the store
//! knows nothing of graphs. A step is stored as the writes of its tasks (one row per task, put
//! as each finishes) plus a small commit row; a full state snapshot rides along only every few
//! steps, so storage grows with what each step writes, not with the whole state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Scope, StoreError};

/// The columns of a [`ThreadRecord`], in the order both backends decode them.
pub(crate) const THREAD_COLUMNS: &str =
    "id, workflow, workflow_hash, status, step, input, parent_id, parent_step, detail, created_at, updated_at";

/// One thread: a run of a workflow and everything needed to resume or fork it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadRecord {
    /// The thread id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The hash of the workflow file the thread started with.
    pub workflow_hash: String,
    /// `running`, `interrupted`, `failed` or `completed`.
    pub status: String,
    /// The last committed step (0 = the input).
    pub step: u32,
    /// The run's input (JSON text).
    pub input: String,
    /// The thread this one was forked from, and at which step.
    pub parent: Option<(String, u32)>,
    /// The error or the pending interrupt (JSON text), when there is one.
    pub detail: Option<String>,
    /// When the thread started.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The writes (and trace) of one finished task, stored before its step commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// The step the task belongs to.
    pub step: u32,
    /// Its id within the step (`node` or `node#index`).
    pub task: String,
    /// The payload (JSON text).
    pub payload: String,
}

/// One committed step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// The step (0 = the input).
    pub step: u32,
    /// What the next step starts from, besides the state (JSON text).
    pub payload: String,
    /// The full state after this step, every few steps (JSON text).
    pub snapshot: Option<String>,
    /// The tasks of the step, in task-id order.
    pub tasks: Vec<TaskRow>,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
}

/// Threads and checkpoints of workflow runs.
#[async_trait]
pub trait WorkflowStore {
    /// Creates a thread; false (and nothing changes) if the id is taken in the scope.
    async fn create_thread(&self, scope: &Scope, thread: &ThreadRecord) -> Result<bool, StoreError>;

    /// One thread.
    async fn thread(&self, scope: &Scope, id: &str) -> Result<Option<ThreadRecord>, StoreError>;

    /// The threads of one workflow (or all), newest first.
    async fn threads(&self, scope: &Scope, workflow: Option<&str>) -> Result<Vec<ThreadRecord>, StoreError>;

    /// Sets a thread's status and detail.
    async fn set_thread_status(
        &self,
        scope: &Scope,
        id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Stores (or replaces) the result of one finished task of an uncommitted step.
    async fn put_task(&self, scope: &Scope, thread: &str, row: &TaskRow) -> Result<(), StoreError>;

    /// The stored tasks of one step.
    async fn tasks(&self, scope: &Scope, thread: &str, step: u32) -> Result<Vec<TaskRow>, StoreError>;

    /// Commits a step: its checkpoint row, and the thread's step and status, in one transaction.
    async fn commit_step(
        &self,
        scope: &Scope,
        thread: &str,
        checkpoint: &CheckpointRow,
        status: &str,
    ) -> Result<(), StoreError>;

    /// The committed steps from `from_step` on, oldest first, each with its tasks.
    async fn checkpoints(&self, scope: &Scope, thread: &str, from_step: u32) -> Result<Vec<CheckpointRow>, StoreError>;

    /// The newest committed step at or before `step` that holds a snapshot.
    async fn snapshot_step(&self, scope: &Scope, thread: &str, step: u32) -> Result<Option<u32>, StoreError>;

    /// Creates `new` as a copy of `from` up to and including `step` (checkpoints and tasks).
    async fn fork_thread(&self, scope: &Scope, from: &str, step: u32, new: &ThreadRecord) -> Result<(), StoreError>;

    /// Bytes of checkpoint and task payloads stored for a thread (for storage-growth checks).
    async fn thread_bytes(&self, scope: &Scope, thread: &str) -> Result<u64, StoreError>;
}
