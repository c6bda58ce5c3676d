//! Loops and their bounds, joins and deferred nodes.

use std::sync::Arc;

use pretty_assertions::assert_eq;
use promptops::error::Diagnostic;
use promptops::workflow::fake::FakeModel;
use promptops::workflow::source::StaticPrompts;
use promptops::workflow::{ExecPolicy, Runner, WorkflowError, prepare};
use serde_json::json;

use super::{ESSAY, compiled, workflow};

#[tokio::test]
async fn a_cycle_without_a_bound_is_rejected_before_any_model_call() {
    let model = Arc::new(FakeModel::new());
    let text = ESSAY.replace("    max_visits: 3\n", "");
    let err = prepare(&workflow(&text), &StaticPrompts::new(), None, &ExecPolicy::Local).await.expect_err("invalid");
    let WorkflowError::Invalid { findings, .. } = &err else { panic!("{err:?}") };
    assert_eq!(
        findings[0].to_string(),
        "workflows/t.yaml:18:3: cycle `critique → revise → critique` has no `max_visits` bound"
    );
    assert_eq!(model.history().len(), 0);
}

const LOOP: &str = r#"version: 1
name: spin
state: { n: { type: integer, reducer: add, default: 0 } }
limits: { max_steps: MAX_STEPS }
nodes:
  tick: { type: tool, tool: { builtin: echo }, output: { n: "1" }, max_visits: MAX_VISITS ON_LIMIT }
edges:
  - { from: START, to: tick }
  - { from: tick, branch: [ { when: "state.n < 1000000", to: tick }, { else: END } ] }
"#;

fn spin(max_steps: u32, max_visits: u32, on_limit: &str) -> String {
    LOOP.replace("MAX_STEPS", &max_steps.to_string())
        .replace("MAX_VISITS", &max_visits.to_string())
        .replace(" ON_LIMIT", on_limit)
}

#[tokio::test]
async fn a_runaway_loop_stops_at_its_bound_naming_the_loop() {
    let runner = Runner::new(Arc::new(FakeModel::new()));
    let err = runner.run(&compiled(&spin(100, 5, "")).await, json!({}), Some("t1".into())).await.expect_err("bounded");
    assert_eq!(
        err.to_string(),
        "node `tick` reached `max_visits` (5) at step 6 of thread `t1`, in the loop `tick → tick`"
    );
    assert_eq!(err.hints()[1], "or add `on_limit: { goto: END }` to leave the loop instead of failing");
    let outcome =
        runner.run(&compiled(&spin(100, 5, ", on_limit: { goto: END }")).await, json!({}), None).await.expect("leaves");
    assert_eq!(outcome.state["n"], 5);
    assert_eq!(outcome.trace.last().map(|t| t.status), Some(promptops::workflow::TaskStatus::Limited));
}

#[tokio::test]
async fn the_step_limit_names_the_loop_that_hit_it() {
    let runner = Runner::new(Arc::new(FakeModel::new()));
    let err = runner.run(&compiled(&spin(10, 50, "")).await, json!({}), Some("t1".into())).await.expect_err("stopped");
    assert_eq!(
        err.to_string(),
        "workflow `spin` stopped after 10 steps (`limits.max_steps`) in the loop `tick → tick`; thread `t1`, visits: tick=10"
    );
}

#[tokio::test]
async fn a_thousand_step_loop_runs() {
    let started = std::time::Instant::now();
    let outcome = Runner::new(Arc::new(FakeModel::new()))
        .run(&compiled(&spin(1001, 1000, ", on_limit: { goto: END }")).await, json!({}), None)
        .await
        .expect("runs");
    assert_eq!((outcome.steps, &outcome.state["n"]), (1001, &json!(1000)));
    eprintln!("1,000 steps in {:?} (debug build)", started.elapsed());
}

#[tokio::test]
async fn a_join_waits_for_every_branch_and_a_deferred_node_runs_last() {
    let text = r#"version: 1
name: join
state: { seen: { type: array, reducer: append, default: [] } }
nodes:
  a: { type: tool, tool: { builtin: echo }, output: { seen: "['a']" } }
  b: { type: tool, tool: { builtin: echo }, output: { seen: "['b']" } }
  b2: { type: tool, tool: { builtin: echo }, output: { seen: "['b2']" } }
  join: { type: tool, tool: { builtin: echo }, output: { seen: "['join']" }, wait_for: [a, b2] }
  last: { type: tool, tool: { builtin: echo }, output: { seen: "['last']" }, defer: true }
edges:
  - { from: START, to: [a, b, last] }
  - { from: a, to: join }
  - { from: b, to: b2 }
  - { from: b2, to: join }
  - { from: join, to: END }
  - { from: last, to: END }
"#;
    let outcome =
        Runner::new(Arc::new(FakeModel::new())).run(&compiled(text).await, json!({}), None).await.expect("runs");
    assert_eq!(outcome.state["seen"], json!(["a", "b", "b2", "join", "last"]));
    let steps: Vec<(u32, &str)> = outcome.trace.iter().map(|t| (t.step, t.node.as_str())).collect();
    assert_eq!(steps, vec![(1, "a"), (1, "b"), (2, "b2"), (3, "join"), (4, "last")]);
}
