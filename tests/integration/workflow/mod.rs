//! The workflow executor against fake model callers: every node type and reducer, the essay
//! loop, map fan-out and joins, limits, checkpoints, resume after a failure, a crash and a
//! human pause, forks, durability modes and storage growth.

mod checkpoints;
pub mod examples;
mod export_parity;
mod limits;
mod nodes;
mod run;

use std::path::PathBuf;
use std::sync::Arc;

use promptops::store::{Scope, SqliteStore, Store};
use promptops::workflow::source::StaticPrompts;
use promptops::workflow::{Compiled, ExecPolicy, ModelCaller, Runner, Workflow, prepare};

/// Parses a workflow written in a test.
pub fn workflow(text: &str) -> Workflow {
    Workflow::parse(PathBuf::from("workflows/t.yaml"), PathBuf::from("workflows"), text.to_owned()).expect("parses")
}

/// Validates and compiles a workflow (no registry prompts, no subgraphs).
pub async fn compiled(text: &str) -> Arc<Compiled> {
    let (compiled, _) = prepare(&workflow(text), &StaticPrompts::new(), None, &ExecPolicy::Local).await.expect("valid");
    compiled
}

/// A store in a temporary directory.
pub struct TempStore {
    pub store: Arc<dyn Store>,
    pub scope: Scope,
    _dir: tempfile::TempDir,
}

pub async fn store() -> TempStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("promptops.db")).await.expect("open"));
    TempStore { store, scope: crate::store_conformance::scope("local", "default"), _dir: dir }
}

/// A runner over `caller` checkpointing into `store`.
pub fn runner(caller: Arc<dyn ModelCaller>, store: &TempStore) -> Runner {
    Runner::new(caller).with_store(Arc::clone(&store.store), store.scope.clone())
}

/// The draft → critique → revise loop of the research brief, with inline prompts.
pub const ESSAY: &str = r#"version: 1
name: essay
input: [topic]
output: [draft, score, rounds]
state:
  topic: { type: string }
  draft: { type: string }
  critique: { type: string }
  score: { type: number, default: 0 }
  rounds: { type: array, reducer: append, default: [] }
limits: { max_steps: 20 }
nodes:
  draft:
    type: prompt
    messages: [{ role: user, content: "Write about {{ topic }}" }]
    vars: { topic: state.topic }
    output: { draft: result.text }
  critique:
    type: prompt
    messages: [{ role: user, content: "Critique: {{ draft }}" }]
    vars: { draft: state.draft }
    parse: json
    schema:
      type: object
      required: [score, feedback]
      properties: { score: { type: number, minimum: 1, maximum: 10 }, feedback: { type: string } }
    retry: { max_attempts: 3 }
    output:
      score: result.json.score
      critique: result.json.feedback
      rounds: "[{'round': visits.critique, 'score': result.json.score}]"
  revise:
    type: prompt
    messages: [{ role: user, content: "Revise {{ draft }} per {{ critique }}" }]
    vars: { draft: state.draft, critique: state.critique }
    output: { draft: result.text }
    max_visits: 3
edges:
  - { from: START, to: draft }
  - { from: draft, to: critique }
  - from: critique
    branch:
      - { when: "state.score >= 8", to: END }
      - { when: "visits.revise >= 3", to: END }
      - { else: revise }
  - { from: revise, to: critique }
"#;
