//! Whole runs: the essay loop, retries on schema failures, streaming, map fan-out with a
//! deterministic merge order, and the trace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pretty_assertions::assert_eq;
use promptops::money::Micros;
use promptops::workflow::fake::{FakeModel, FakeStep};
use promptops::workflow::{Event, RunStatus, Runner, TaskStatus};
use serde_json::json;

use super::{ESSAY, compiled};

fn critique(score: u32) -> FakeStep {
    FakeStep::Reply(format!("{{\"score\": {score}, \"feedback\": \"needs work {score}\"}}"))
}

#[tokio::test]
async fn the_essay_loop_revises_until_the_critic_is_satisfied() {
    let model = Arc::new(
        FakeModel::new()
            .reply("draft", "A first draft.")
            .script("critique", [critique(5), critique(6), critique(9)])
            .script("revise", [FakeStep::Reply("Second draft.".into()), FakeStep::Reply("Third draft.".into())]),
    );
    let outcome =
        Runner::new(model.clone()).run(&compiled(ESSAY).await, json!({"topic": "tides"}), None).await.expect("runs");
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.output["draft"], "Third draft.");
    assert_eq!(outcome.output["score"], 9);
    assert_eq!(
        outcome.output["rounds"],
        json!([{"round": 1, "score": 5}, {"round": 2, "score": 6}, {"round": 3, "score": 9}])
    );
    let order: Vec<&str> = outcome.trace.iter().map(|t| t.node.as_str()).collect();
    assert_eq!(order, vec!["draft", "critique", "revise", "critique", "revise", "critique"]);
    assert_eq!(outcome.steps, 6);
    assert_eq!(model.history()[2].1, "Revise A first draft. per needs work 5", "revise sees the critique");
}

#[tokio::test]
async fn the_essay_loop_leaves_by_its_branch_before_the_bound_trips() {
    let model = Arc::new(FakeModel::new().reply("critique", "{\"score\": 3, \"feedback\": \"no\"}"));
    let outcome =
        Runner::new(model.clone()).run(&compiled(ESSAY).await, json!({"topic": "tides"}), None).await.expect("runs");
    assert_eq!(model.calls("revise"), 3);
    assert_eq!(model.calls("critique"), 4);
    assert_eq!(outcome.steps, 8, "the brief's worst case: draft, 4 critiques, 3 revisions");
}

#[tokio::test]
async fn invalid_json_and_schema_mismatches_are_retried() {
    let model = Arc::new(
        FakeModel::new()
            .script(
                "critique",
                [
                    FakeStep::Reply("not json".into()),
                    FakeStep::Reply("{\"score\": 42, \"feedback\": \"x\"}".into()),
                    critique(9),
                ],
            )
            .costing(Micros(150)),
    );
    let outcome =
        Runner::new(model.clone()).run(&compiled(ESSAY).await, json!({"topic": "t"}), None).await.expect("runs");
    let critique = outcome.trace.iter().find(|t| t.node == "critique").expect("traced");
    assert_eq!((critique.retries, critique.status), (2, TaskStatus::Ok));
    assert_eq!(model.calls("critique"), 3);
    assert_eq!(outcome.cost, Micros(150 * 4), "every call is paid for, retries included");
    assert!(critique.input_tokens > 0 && critique.output_tokens > 0);
}

#[tokio::test]
async fn a_node_failing_all_its_attempts_fails_the_run_naming_node_step_and_thread() {
    let model = Arc::new(FakeModel::new().reply("critique", "still not json"));
    let err = Runner::new(model)
        .run(&compiled(ESSAY).await, json!({"topic": "t"}), Some("t1".into()))
        .await
        .expect_err("fails");
    assert_eq!(
        err.to_string(),
        "node `critique` failed at step 2 of thread `t1`: the answer of node `critique` is not valid JSON: expected value at line 1 column 1: \"still not json\""
    );
    use promptops::error::{Diagnostic, ErrorClass};
    assert_eq!(err.class(), ErrorClass::Upstream);
}

#[tokio::test]
async fn streaming_reports_values_updates_and_tokens() {
    let model =
        Arc::new(FakeModel::new().reply("draft", "two words").reply("critique", "{\"score\":9,\"feedback\":\"ok\"}"));
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = Arc::clone(&events);
    let runner = Runner::new(model).with_events(Arc::new(move |e: &Event| sink.lock().expect("lock").push(e.clone())));
    runner.run(&compiled(ESSAY).await, json!({"topic": "t"}), Some("t1".into())).await.expect("runs");
    let events = events.lock().expect("lock");
    let kinds: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_value(e).expect("json")["event"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(kinds, vec!["token", "token", "updates", "values", "token", "updates", "values"]);
    assert_eq!(
        serde_json::to_value(&events[2]).expect("json"),
        json!({"event": "updates", "thread": "t1", "step": 1, "node": "draft", "writes": {"draft": "two words"}})
    );
    assert_eq!(
        serde_json::to_value(&events[1]).expect("json"),
        json!({"event": "token", "node": "draft", "text": "words"})
    );
}

const MAP: &str = r#"version: 1
name: map
input: [items]
state:
  items: { type: array }
  results: { type: array, reducer: append, default: [] }
  summary: { type: string }
nodes:
  split: { type: tool, tool: { builtin: echo } }
  work:
    type: prompt
    messages: [{ role: user, content: "{{ x }}" }]
    vars: { x: item }
    output: { results: "[result.text]" }
  collect:
    type: tool
    tool: { builtin: join, args: { parts: state.results, sep: "'+'" } }
    output: { summary: result }
    wait_for: [work]
edges:
  - { from: START, to: split }
  - { from: split, map: { over: state.items, to: work } }
  - { from: work, to: collect }
  - { from: collect, to: END }
"#;

#[tokio::test]
async fn map_tasks_run_concurrently_and_merge_in_item_order() {
    // The first item answers last; its result still comes first.
    let model = Arc::new(FakeModel::new().script(
        "work",
        [
            FakeStep::After(Duration::from_millis(150), "A".into()),
            FakeStep::After(Duration::from_millis(50), "B".into()),
            FakeStep::Reply("C".into()),
        ],
    ));
    let started = std::time::Instant::now();
    let outcome = Runner::new(model.clone())
        .run(&compiled(MAP).await, json!({"items": ["a", "b", "c"]}), None)
        .await
        .expect("runs");
    assert!(started.elapsed() < Duration::from_millis(290), "the three tasks ran at once: {:?}", started.elapsed());
    assert_eq!(outcome.state["results"], json!(["A", "B", "C"]));
    assert_eq!(outcome.state["summary"], "A+B+C");
    let collect_runs = outcome.trace.iter().filter(|t| t.node == "collect").count();
    assert_eq!(collect_runs, 1, "the join runs once, after every map task");
    let indexes: Vec<Option<u32>> = outcome.trace.iter().filter(|t| t.node == "work").map(|t| t.index).collect();
    assert_eq!(indexes, vec![Some(0), Some(1), Some(2)]);
}
