//! Each node type and each reducer.

use std::sync::Arc;

use pretty_assertions::assert_eq;
use promptops::workflow::fake::FakeModel;
use promptops::workflow::source::{Catalog, StaticPrompts};
use promptops::workflow::{ExecPolicy, RunOptions, Runner, prepare};
use serde_json::json;

use super::compiled;

#[tokio::test]
async fn every_reducer_merges_concurrent_writes() {
    let text = r#"version: 1
name: reducers
state:
  list: { type: array, reducer: append, default: [0] }
  map: { type: object, reducer: merge, default: { keep: 1 } }
  sum: { type: number, reducer: add, default: 1 }
  high: { type: number, reducer: max }
  low: { type: number, reducer: min }
  chat: { type: array, reducer: messages, default: [{ id: "1", content: "old" }] }
  last: { type: string }
nodes:
  a:
    type: tool
    tool: { builtin: echo }
    output: { list: "[1]", map: "{'a': 1}", sum: "2", high: "5", low: "5", chat: "[{'id': '1', 'content': 'new'}]", last: "'a'" }
  b:
    type: tool
    tool: { builtin: echo }
    output: { list: "[2, 3]", map: "{'b': 2}", sum: "3", high: "7", low: "3", chat: "[{'id': '2', 'content': 'hi'}]" }
edges:
  - { from: START, to: [a, b] }
  - { from: a, to: END }
  - { from: b, to: END }
"#;
    let outcome =
        Runner::new(Arc::new(FakeModel::new())).run(&compiled(text).await, json!({}), None).await.expect("runs");
    assert_eq!(
        outcome.state,
        json!({
            "list": [0, 1, 2, 3], "map": {"keep": 1, "a": 1, "b": 2}, "sum": 6, "high": 7, "low": 3,
            "chat": [{"id": "1", "content": "new"}, {"id": "2", "content": "hi"}], "last": "a"
        })
    );
}

#[tokio::test]
async fn tools_run_builtins_and_commands() {
    let text = r#"version: 1
name: tools
input: [text]
state:
  text: { type: string }
  echoed: { type: object }
  parsed: { type: object }
  words: { type: string }
nodes:
  echo: { type: tool, tool: { builtin: echo, args: { t: state.text, n: "1 + 1" } }, output: { echoed: result } }
  parse: { type: tool, tool: { builtin: json, args: { text: "'{\"k\": [1]}'" } }, output: { parsed: result } }
  count: { type: tool, tool: { exec: [wc, -w], stdin: state.text }, output: { words: result.stdout | trim } }
edges:
  - { from: START, to: [echo, parse, count] }
  - { from: echo, to: END }
  - { from: parse, to: END }
  - { from: count, to: END }
"#;
    let compiled = compiled(text).await;
    let outcome = Runner::new(Arc::new(FakeModel::new()))
        .run(&compiled, json!({"text": "three little words"}), None)
        .await
        .expect("runs");
    assert_eq!(outcome.state["echoed"], json!({"t": "three little words", "n": 2}));
    assert_eq!(outcome.state["parsed"], json!({"k": [1]}));
    assert_eq!(outcome.state["words"], "3");
    // A server refuses commands it was not told to allow, before running anything.
    let options = RunOptions { exec: ExecPolicy::Server { allowed: vec!["ls".into()] }, ..RunOptions::default() };
    let err = Runner::new(Arc::new(FakeModel::new()))
        .with_options(options)
        .run(&compiled, json!({"text": "x"}), Some("t".into()))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("node `count` runs `wc`, which this server does not allow"), "{err}");
    let err = prepare(&super::workflow(text), &StaticPrompts::new(), None, &ExecPolicy::Server { allowed: vec![] })
        .await
        .expect_err("invalid");
    use promptops::workflow::WorkflowError;
    assert!(matches!(err, WorkflowError::Invalid { .. }), "{err:?}");
}

const ROUTER: &str = r#"version: 1
name: router
input: [ticket]
state:
  ticket: { type: string }
  route: { type: string }
nodes:
  triage:
    type: router
    messages: [{ role: user, content: "Route: {{ t }}" }]
    vars: { t: state.ticket }
    routes: { billing: refund, other: END }
    output: { route: result.json.label }
  refund: { type: tool, tool: { builtin: echo }, output: { route: "state.route ~ '!'" } }
edges:
  - { from: START, to: triage }
  - { from: refund, to: END }
"#;

#[tokio::test]
async fn a_prompt_router_is_constrained_to_its_labels() {
    let model = Arc::new(FakeModel::new().reply("triage", "{\"label\": \"billing\"}"));
    let outcome =
        Runner::new(model.clone()).run(&compiled(ROUTER).await, json!({"ticket": "refund"}), None).await.expect("runs");
    assert_eq!(outcome.state["route"], "billing!");
    let model = Arc::new(FakeModel::new().reply("triage", "{\"label\": \"weather\"}"));
    let err = Runner::new(model.clone())
        .run(&compiled(ROUTER).await, json!({"ticket": "x"}), Some("t".into()))
        .await
        .expect_err("outside the set");
    assert!(
        err.to_string().contains("does not match its schema") || err.to_string().contains("not one of its labels"),
        "{err}"
    );
}

#[tokio::test]
async fn an_expression_router_picks_a_route() {
    let text = "version: 1\nname: r\ninput: [n]\nstate: { n: { type: integer }, out: { type: string } }\nnodes:\n  pick: { type: router, label: \"'big' if state.n > 10 else 'small'\", routes: { big: big, small: small } }\n  big: { type: tool, tool: { builtin: echo }, output: { out: \"'big'\" } }\n  small: { type: tool, tool: { builtin: echo }, output: { out: \"'small'\" } }\nedges:\n  - { from: START, to: pick }\n  - { from: big, to: END }\n  - { from: small, to: END }\n";
    let runner = Runner::new(Arc::new(FakeModel::new()));
    let c = compiled(text).await;
    assert_eq!(runner.run(&c, json!({"n": 50}), None).await.expect("runs").state["out"], "big");
    assert_eq!(runner.run(&c, json!({"n": 5}), None).await.expect("runs").state["out"], "small");
}

#[tokio::test]
async fn a_subgraph_runs_with_explicit_input_and_output_mappings() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("workflows")).expect("mkdir");
    let child = "version: 1\nname: shout\ninput: [text]\noutput: [loud]\nstate: { text: { type: string }, loud: { type: string }, secret: { type: string, default: s } }\nnodes:\n  up: { type: tool, tool: { builtin: echo }, output: { loud: state.text | upper } }\nedges:\n  - { from: START, to: up }\n  - { from: up, to: END }\n";
    let parent = "version: 1\nname: parent\ninput: [msg]\nstate: { msg: { type: string }, answer: { type: string } }\nnodes:\n  call: { type: subgraph, workflow: shout, input: { text: state.msg }, output: { answer: result.loud } }\nedges:\n  - { from: START, to: call }\n  - { from: call, to: END }\n";
    std::fs::write(dir.path().join("workflows/shout.yaml"), child).expect("write");
    std::fs::write(dir.path().join("workflows/parent.yaml"), parent).expect("write");
    let catalog = Catalog::new(dir.path());
    let workflow = catalog.load("parent").expect("loads");
    let (c, _) = prepare(&workflow, &StaticPrompts::new(), Some(&catalog), &ExecPolicy::Local).await.expect("valid");
    let outcome = Runner::new(Arc::new(FakeModel::new())).run(&c, json!({"msg": "hi"}), None).await.expect("runs");
    assert_eq!(outcome.state, json!({"msg": "hi", "answer": "HI"}), "child keys do not leak into the parent");
}

#[tokio::test]
async fn a_registry_prompt_node_renders_its_prompt_with_vars() {
    let prompts = StaticPrompts::new()
        .with(
            "greet@production",
            "variables:\n  name: { type: string }\nmessages:\n  - { role: user, content: 'Hello {{ name }}' }\n",
        )
        .expect("prompt");
    let text = "version: 1\nname: g\ninput: [who]\nstate: { who: { type: string }, out: { type: string } }\nnodes:\n  hi: { type: prompt, prompt: greet@production, vars: { name: state.who }, output: { out: result.text } }\nedges:\n  - { from: START, to: hi }\n  - { from: hi, to: END }\n";
    let (c, _) = prepare(&super::workflow(text), &prompts, None, &ExecPolicy::Local).await.expect("valid");
    let outcome = Runner::new(Arc::new(FakeModel::new())).run(&c, json!({"who": "Ada"}), None).await.expect("runs");
    assert_eq!(outcome.state["out"], "Hello Ada", "the fake echoes the rendered prompt");
}

#[tokio::test]
async fn on_error_routes_a_failure_and_records_it() {
    let text = "version: 1\nname: e\nstate: { why: { type: string }, done: { type: boolean, default: false } }\nnodes:\n  risky: { type: tool, tool: { exec: [false] }, on_error: { goto: fallback, output: { why: error } } }\n  fallback: { type: tool, tool: { builtin: echo }, output: { done: 'true' } }\nedges:\n  - { from: START, to: risky }\n  - { from: risky, to: END }\n  - { from: fallback, to: END }\n";
    let outcome =
        Runner::new(Arc::new(FakeModel::new())).run(&compiled(text).await, json!({}), None).await.expect("runs");
    assert_eq!(outcome.state["done"], true);
    assert_eq!(outcome.state["why"], "node `risky`: `false` exited with code 1");
    assert_eq!(outcome.trace[0].status, promptops::workflow::TaskStatus::Rerouted);
}

/// A one-request HTTP server on 127.0.0.1 that answers with `body` and reports the request line.
async fn one_shot_server(body: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buffer = vec![0u8; 4096];
        let n = socket.read(&mut buffer).await.expect("read");
        let request = String::from_utf8_lossy(&buffer[..n]).into_owned();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.expect("write");
        request.lines().next().unwrap_or_default().to_owned()
    });
    (port, handle)
}

#[tokio::test]
async fn an_http_tool_calls_the_url_and_parses_the_answer() {
    let (port, server) = one_shot_server("{\"price\": 42}").await;
    let text = format!(
        "version: 1\nname: h\ninput: [sku]\nstate: {{ sku: {{ type: string }}, price: {{ type: number }} }}\nnodes:\n  fetch: {{ type: tool, tool: {{ http: {{ url: 'http://127.0.0.1:{port}/items/{{{{ state.sku }}}}' }}, parse: json }}, output: {{ price: result.json.price }} }}\nedges:\n  - {{ from: START, to: fetch }}\n  - {{ from: fetch, to: END }}\n"
    );
    let outcome = Runner::new(Arc::new(FakeModel::new()))
        .run(&compiled(&text).await, json!({"sku": "a-1"}), None)
        .await
        .expect("runs");
    assert_eq!(outcome.state["price"], 42);
    assert_eq!(server.await.expect("server"), "GET /items/a-1 HTTP/1.1");
}

#[tokio::test]
async fn a_slow_node_times_out_and_on_error_is_honoured_in_a_parallel_step() {
    use promptops::workflow::fake::FakeStep;
    let text = r#"version: 1
name: t
state:
  fast: { type: string }
  slow: { type: string }
nodes:
  quick: { type: prompt, messages: [{ role: user, content: "q" }], output: { fast: result.text } }
  sleepy:
    type: prompt
    messages: [{ role: user, content: "s" }]
    timeout_s: 0.05
    retry: { max_attempts: 2 }
    output: { slow: result.text }
    on_error: { goto: END, output: { slow: "'gave up: ' ~ error" } }
edges:
  - { from: START, to: [quick, sleepy] }
  - { from: quick, to: END }
  - { from: sleepy, to: END }
"#;
    let model = Arc::new(FakeModel::new().reply("quick", "Q").script(
        "sleepy",
        [
            FakeStep::After(std::time::Duration::from_secs(5), "late".into()),
            FakeStep::After(std::time::Duration::from_secs(5), "late".into()),
        ],
    ));
    let outcome = Runner::new(model.clone()).run(&compiled(text).await, json!({}), None).await.expect("runs");
    assert_eq!(outcome.state["fast"], "Q");
    assert_eq!(outcome.state["slow"], "gave up: node `sleepy` did not finish within 0.05 s (`timeout_s`)");
    assert_eq!(model.calls("sleepy"), 2, "the timeout is per attempt, and the attempt was retried");
}

/// The shared hostile shell workflow, its model and its input.
pub fn hostile_shell() -> (&'static str, FakeModel, serde_json::Value) {
    use promptops_test_support::hostile::{SHELL_ANSWER, SHELL_INPUT, SHELL_WORKFLOW};
    (SHELL_WORKFLOW, FakeModel::new().reply("ask", SHELL_ANSWER), json!({ "who": SHELL_INPUT }))
}

#[tokio::test]
async fn shell_tools_take_state_and_model_output_as_data() {
    let (text, model, input) = hostile_shell();
    let outcome = Runner::new(Arc::new(model)).run(&compiled(text).await, input, None).await.expect("runs");
    // A value parsed as shell code would have changed the output (and touched a file).
    assert_eq!(outcome.state["out"], promptops_test_support::hostile::shell_output());
}
