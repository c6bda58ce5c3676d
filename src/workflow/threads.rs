//! Threads as users see them: the history of a thread (one row per committed step, with its
//! tasks and how many bytes it stored) and forks (a new thread that continues from a step of
//! an old one: LangGraph's time travel). Running and resuming are in `exec`.

use serde::Serialize;

use super::checkpoint::committed_results;
use super::error::WorkflowError;
use super::trace::TaskTrace;
use crate::store::{Scope, Store, ThreadRecord};

/// One committed step of a thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    /// The step (0 = the input).
    pub step: u32,
    /// When it was committed.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Its tasks.
    pub tasks: Vec<TaskTrace>,
    /// The keys its tasks wrote.
    pub keys: Vec<String>,
    /// Bytes stored for it (tasks, commit record, snapshot).
    pub bytes: u64,
    /// Whether it holds a full snapshot of the state.
    pub snapshot: bool,
}

/// A thread and its committed steps, oldest first.
pub async fn history(
    store: &dyn Store,
    scope: &Scope,
    thread: &str,
) -> Result<(ThreadRecord, Vec<StepView>), WorkflowError> {
    let record = store
        .thread(scope, thread)
        .await?
        .ok_or_else(|| WorkflowError::ThreadNotFound { thread: thread.to_owned() })?;
    let mut steps = Vec::new();
    for row in store.checkpoints(scope, thread, 0).await? {
        let (_, results) = committed_results(&row)?;
        let mut keys: Vec<String> = results.iter().flat_map(|r| r.writes.iter().map(|(k, _)| k.clone())).collect();
        keys.sort();
        keys.dedup();
        let bytes = row.payload.len()
            + row.snapshot.as_ref().map_or(0, String::len)
            + row.tasks.iter().map(|t| t.payload.len()).sum::<usize>();
        steps.push(StepView {
            step: row.step,
            at: row.created_at,
            tasks: results.into_iter().map(|r| r.trace).collect(),
            keys,
            bytes: bytes as u64,
            snapshot: row.snapshot.is_some(),
        });
    }
    Ok((record, steps))
}

/// Forks `thread` at committed step `step` into a new thread (`new_id`, or a generated one).
/// Resuming the fork runs from that step on, with the workflow as it is now.
pub async fn fork(
    store: &dyn Store,
    scope: &Scope,
    thread: &str,
    step: u32,
    new_id: Option<String>,
) -> Result<ThreadRecord, WorkflowError> {
    let record = store
        .thread(scope, thread)
        .await?
        .ok_or_else(|| WorkflowError::ThreadNotFound { thread: thread.to_owned() })?;
    if step > record.step {
        return Err(WorkflowError::Thread {
            message: format!("thread `{thread}` has committed steps 0 to {}, not {step}", record.step),
            hints: vec![format!("`promptops workflow history {thread}` lists its steps")],
        });
    }
    let id = new_id.unwrap_or_else(|| super::exec::new_thread_id(&record.workflow));
    if store.thread(scope, &id).await?.is_some() {
        return Err(WorkflowError::ThreadExists { thread: id });
    }
    let now = chrono::Utc::now();
    let forked = ThreadRecord {
        id,
        status: "forked".to_owned(),
        step,
        parent: Some((thread.to_owned(), step)),
        detail: None,
        created_at: now,
        updated_at: now,
        ..record
    };
    store.fork_thread(scope, thread, step, &forked).await?;
    Ok(forked)
}
