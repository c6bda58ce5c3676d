//! Threads in the store: resume after a failure, a crash and a human pause; forks and history;
//! durability modes; storage growing with each step's writes, not with the state.

use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use promptops::workflow::fake::{FakeModel, FakeStep};
use promptops::workflow::{RunOptions, RunStatus, WorkflowError, fork, history};
use serde_json::json;

use super::{ESSAY, compiled, runner, store};

const FAN: &str = r#"version: 1
name: fan
state:
  a: { type: string }
  b: { type: string }
  both: { type: string }
nodes:
  a: { type: prompt, messages: [{ role: user, content: "a" }], output: { a: result.text } }
  b: { type: prompt, messages: [{ role: user, content: "b" }], output: { b: result.text } }
  both: { type: tool, tool: { builtin: echo }, output: { both: "state.a ~ state.b" }, wait_for: [a, b] }
edges:
  - { from: START, to: [a, b] }
  - { from: a, to: both }
  - { from: b, to: both }
  - { from: both, to: END }
"#;

#[tokio::test]
async fn resume_after_a_crash_mid_step_reruns_only_the_unfinished_tasks() {
    let s = store().await;
    let c = compiled(FAN).await;
    let crashing = Arc::new(FakeModel::new().reply("a", "A").script("b", [FakeStep::Hang]));
    let crash_runner = runner(crashing.clone(), &s);
    let run = crash_runner.run(&c, json!({}), Some("t1".into()));
    // The process "dies" while `b` hangs: the run future is dropped mid-step.
    assert!(tokio::time::timeout(Duration::from_millis(300), run).await.is_err());
    let thread = s.store.thread(&s.scope, "t1").await.expect("read").expect("exists");
    assert_eq!((thread.status.as_str(), thread.step), ("running", 0));
    assert_eq!(s.store.tasks(&s.scope, "t1", 1).await.expect("tasks").len(), 1, "`a` finished and was stored");

    let fresh = Arc::new(FakeModel::new().reply("a", "A again").reply("b", "B"));
    let outcome = runner(fresh.clone(), &s).resume(&c, "t1", None).await.expect("resumes");
    assert_eq!((fresh.calls("a"), fresh.calls("b")), (0, 1));
    assert_eq!(outcome.state["both"], "AB");
    assert!(outcome.trace.iter().any(|t| t.node == "a" && t.reused));
}

#[tokio::test]
async fn resume_after_a_failure_runs_the_failed_task_again() {
    let s = store().await;
    let c = compiled(FAN).await;
    let failing = Arc::new(FakeModel::new().reply("a", "A").script("b", [FakeStep::Fail("provider down".into())]));
    let err = runner(failing, &s).run(&c, json!({}), Some("t1".into())).await.expect_err("fails");
    assert_eq!(err.to_string(), "node `b` failed at step 1 of thread `t1`: node `b`: provider down");
    assert_eq!(s.store.thread(&s.scope, "t1").await.expect("read").expect("exists").status, "failed");
    let fresh = Arc::new(FakeModel::new().reply("b", "B"));
    let outcome = runner(fresh.clone(), &s).resume(&c, "t1", None).await.expect("resumes");
    assert_eq!(fresh.calls("a"), 0);
    assert_eq!(outcome.state["both"], "AB");
}

const APPROVAL: &str = r#"version: 1
name: approval
input: [draft]
state:
  draft: { type: string }
  approved: { type: boolean }
  result: { type: string }
nodes:
  review: { type: human, message: "Approve? {{ state.draft }}", schema: { type: boolean }, output: { approved: result } }
  publish: { type: tool, tool: { builtin: echo }, output: { result: "'published' if state.approved else 'dropped'" } }
edges:
  - { from: START, to: review }
  - { from: review, to: publish }
  - { from: publish, to: END }
"#;

#[tokio::test]
async fn a_human_node_pauses_and_the_answer_resumes_it() {
    let s = store().await;
    let c = compiled(APPROVAL).await;
    let r = runner(Arc::new(FakeModel::new()), &s);
    let paused = r.run(&c, json!({"draft": "hello"}), Some("t1".into())).await.expect("pauses");
    assert_eq!(paused.status, RunStatus::Interrupted);
    let question = paused.interrupt.clone().expect("question");
    assert_eq!((question.node.as_str(), question.message.as_str()), ("review", "Approve? hello"));
    let err = r.resume(&c, "t1", None).await.expect_err("needs an answer");
    assert_eq!(err.to_string(), "thread `t1` is waiting for an answer at `review`");
    let err = r.resume(&c, "t1", Some(json!("yes"))).await.expect_err("schema");
    assert!(err.to_string().contains("does not match its schema"), "{err}");
    let done = r.resume(&c, "t1", Some(json!(true))).await.expect("resumes");
    assert_eq!((done.status, &done.state["result"]), (RunStatus::Completed, &json!("published")));
    let err = r.resume(&c, "t1", None).await.expect_err("finished");
    assert_eq!(err.to_string(), "thread `t1` has finished");
}

#[tokio::test]
async fn a_pause_is_an_error_when_pausing_is_not_allowed() {
    let s = store().await;
    let options = RunOptions { allow_pause: false, ..RunOptions::default() };
    let r = runner(Arc::new(FakeModel::new()), &s).with_options(options);
    let err = r.run(&compiled(APPROVAL).await, json!({"draft": "x"}), Some("t1".into())).await.expect_err("no pause");
    assert!(matches!(err, WorkflowError::PauseNotAllowed { .. }), "{err:?}");
    assert_eq!(
        s.store.thread(&s.scope, "t1").await.expect("read").expect("exists").status,
        "interrupted",
        "it can still be answered"
    );
}

#[tokio::test]
async fn forks_continue_from_an_earlier_step_and_history_lists_steps() {
    let s = store().await;
    let c = compiled(ESSAY).await;
    let model = Arc::new(FakeModel::new().reply("critique", "{\"score\": 9, \"feedback\": \"good\"}"));
    runner(model, &s).run(&c, json!({"topic": "t"}), Some("t1".into())).await.expect("runs");
    let (record, steps) = history(s.store.as_ref(), &s.scope, "t1").await.expect("history");
    assert_eq!(record.status, "completed");
    let nodes: Vec<Vec<String>> = steps.iter().map(|v| v.tasks.iter().map(|t| t.node.clone()).collect()).collect();
    assert_eq!(nodes, vec![vec![], vec!["draft".to_owned()], vec!["critique".to_owned()]]);
    assert_eq!(steps[2].keys, vec!["critique", "rounds", "score"]);

    let forked = fork(s.store.as_ref(), &s.scope, "t1", 1, Some("t2".into())).await.expect("forks");
    assert_eq!(forked.parent, Some(("t1".to_owned(), 1)));
    let harsh = Arc::new(
        FakeModel::new()
            .script("critique", [FakeStep::Reply("{\"score\": 2, \"feedback\": \"no\"}".into())])
            .reply("critique", "{\"score\": 8, \"feedback\": \"ok\"}"),
    );
    let outcome = runner(harsh.clone(), &s).resume(&c, "t2", None).await.expect("resumes the fork");
    assert_eq!((harsh.calls("draft"), harsh.calls("critique"), harsh.calls("revise")), (0, 2, 1));
    assert_eq!(outcome.output["score"], 8);
    let err = fork(s.store.as_ref(), &s.scope, "t1", 9, None).await.expect_err("no such step");
    assert_eq!(err.to_string(), "thread `t1` has committed steps 0 to 2, not 9");
}

#[tokio::test]
async fn every_durability_mode_leaves_the_same_history() {
    let mut shapes = Vec::new();
    for durability in ["sync", "async", "exit"] {
        let s = store().await;
        let text = ESSAY.replace(
            "limits: { max_steps: 20 }",
            &format!("limits: {{ max_steps: 20 }}\ncheckpoint: {{ durability: {durability} }}"),
        );
        let model = Arc::new(
            FakeModel::new()
                .script("critique", [FakeStep::Reply("{\"score\": 1, \"feedback\": \"a\"}".into())])
                .reply("critique", "{\"score\": 9, \"feedback\": \"b\"}"),
        );
        runner(model, &s).run(&compiled(&text).await, json!({"topic": "t"}), Some("t1".into())).await.expect("runs");
        let (record, steps) = history(s.store.as_ref(), &s.scope, "t1").await.expect("history");
        shapes.push((record.status, record.step, steps.iter().map(|v| v.tasks.len()).collect::<Vec<_>>()));
    }
    assert_eq!(shapes[0], ("completed".to_owned(), 4, vec![0, 1, 1, 1, 1]));
    assert_eq!(shapes[0], shapes[1]);
    assert_eq!(shapes[0], shapes[2]);
}

#[tokio::test]
async fn storage_grows_with_each_steps_writes_not_with_the_state() {
    // A 100 KB state key that nothing writes, and a loop that adds one small number per step.
    let big = "x".repeat(100_000);
    let text = format!(
        "version: 1\nname: grow\nstate:\n  big: {{ type: string, default: {big} }}\n  n: {{ type: integer, reducer: add, default: 0 }}\ncheckpoint: {{ snapshot_every: 1000 }}\nlimits: {{ max_steps: 500 }}\nnodes:\n  tick: {{ type: tool, tool: {{ builtin: echo }}, output: {{ n: '1' }}, max_visits: 200, on_limit: {{ goto: END }} }}\nedges:\n  - {{ from: START, to: tick }}\n  - {{ from: tick, to: tick }}\n"
    );
    let s = store().await;
    runner(Arc::new(FakeModel::new()), &s)
        .run(&compiled(&text).await, json!({}), Some("t1".into()))
        .await
        .expect("runs");
    let (_, steps) = history(s.store.as_ref(), &s.scope, "t1").await.expect("history");
    assert!(steps[0].bytes > 100_000, "step 0 holds the snapshot");
    let per_step: Vec<u64> = steps[1..].iter().map(|v| v.bytes).collect();
    assert!(per_step.iter().all(|b| *b < 1_000), "steps store their writes only: {per_step:?}");
    let total = s.store.thread_bytes(&s.scope, "t1").await.expect("bytes");
    assert!(total < 100_000 + 200 * 1_000, "{total}");
}
