//! What a run reports: a per-task trace (duration, tokens, cost, retries), streamed events
//! (`values`, `updates`, `tokens`), the pending question of a paused run, and the outcome.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::money::Micros;

/// What happened to one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// It ran and its writes were applied.
    Ok,
    /// It failed after its retries and `on_error` sent the run elsewhere.
    Rerouted,
    /// It was triggered past `max_visits` and `on_limit` sent the run elsewhere.
    Limited,
    /// A human node waiting for an answer.
    Paused,
    /// It failed.
    Failed,
}

/// The trace of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTrace {
    /// The step it ran in.
    pub step: u32,
    /// Its node.
    pub node: String,
    /// Its map index, for map tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// What happened.
    pub status: TaskStatus,
    /// Wall time, in milliseconds.
    pub duration_ms: u64,
    /// Prompt tokens of its model calls.
    pub input_tokens: u64,
    /// Generated tokens of its model calls.
    pub output_tokens: u64,
    /// What its model calls cost.
    pub cost: Micros,
    /// Attempts after the first (the node's `retry`).
    pub retries: u32,
    /// Whether its model answer came from the response cache.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// Whether it was not run again because a finished result was stored (resume).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The provider that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The error, for failed and rerouted tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The question a paused run waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interrupt {
    /// The human node.
    pub node: String,
    /// The step it is in.
    pub step: u32,
    /// The question, rendered.
    pub message: String,
    /// The JSON Schema the answer must match, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

/// How a run ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// It reached `END`.
    Completed,
    /// It waits for a human answer.
    Interrupted,
}

impl RunStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// The result of a run (or of its part up to a pause).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutcome {
    /// The thread.
    pub thread: String,
    /// The workflow.
    pub workflow: String,
    /// Completed or interrupted.
    pub status: RunStatus,
    /// The last committed step.
    pub steps: u32,
    /// The workflow's `output` keys (all keys when it lists none).
    pub output: serde_json::Value,
    /// The whole final state.
    pub state: serde_json::Value,
    /// Every task of this invocation, in order.
    pub trace: Vec<TaskTrace>,
    /// The total cost of this invocation.
    pub cost: Micros,
    /// The question, when paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupt: Option<Interrupt>,
    /// Things worth knowing (the workflow changed since the thread started, say).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A streamed event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// The whole state after a step.
    Values {
        /// The thread.
        thread: String,
        /// The step.
        step: u32,
        /// The state.
        values: serde_json::Value,
    },
    /// One task's writes.
    Updates {
        /// The thread.
        thread: String,
        /// The step.
        step: u32,
        /// The node.
        node: String,
        /// Its map index.
        #[serde(skip_serializing_if = "Option::is_none")]
        index: Option<u32>,
        /// The keys and values it wrote.
        writes: BTreeMap<String, serde_json::Value>,
    },
    /// A piece of a model's answer.
    Token {
        /// The node.
        node: String,
        /// The text.
        text: String,
    },
}

/// Receives events as they happen.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;
