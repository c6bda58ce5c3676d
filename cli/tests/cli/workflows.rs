//! `workflow validate|run|resume|history|threads|fork|draw` against the real binary.

use crate::support::Project;

const APPROVE: &str = r#"version: 1
name: approve
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

const COUNT: &str = r#"version: 1
name: count
input: [limit]
output: [n]
state:
  limit: { type: integer }
  n: { type: integer, reducer: add, default: 0 }
nodes:
  tick: { type: tool, tool: { builtin: echo }, output: { n: "1" }, max_visits: 10 }
edges:
  - { from: START, to: tick }
  - { from: tick, branch: [ { when: "state.n < state.limit", to: tick }, { else: END } ] }
"#;

fn project() -> Project {
    let project = Project::new();
    project.write("workflows/approve.yaml", APPROVE);
    project.write("workflows/count.yaml", COUNT);
    project
}

#[test]
fn validate_reports_every_problem_with_its_location_and_a_hint() {
    let project = project();
    assert!(project.run(&["workflow", "validate"]).ok().is_empty());
    project.write(
        "workflows/count.yaml",
        &COUNT
            .replace(", max_visits: 10", "")
            .replace("to: tick }\n  - { from: tick, branch", "to: tik }\n  - { from: tick, branch"),
    );
    let run = project.run(&["workflow", "validate", "count"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: workflows/count.yaml:11:20: an edge goes to `tik`, which is not a node
    hint: did you mean `tick`?
    hint: nodes: `tick`, `END`
    error: 1 problem(s) found in workflow files
    ");
    project.write("workflows/count.yaml", &COUNT.replace(", max_visits: 10", ""));
    let run = project.run(&["workflow", "run", "count", "--input", "{\"limit\": 3}"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: workflows/count.yaml:9:3: cycle `tick → tick` has no `max_visits` bound
    hint: add `max_visits: N` to one of `tick`, e.g. under `nodes.tick`
    hint: a bound makes the loop provably finite; `on_limit: { goto: ... }` says where to go when it is reached
    error: workflow `count` is invalid: 1 problem(s) found; nothing was run
    hint: fix the problems above; `promptops workflow validate` checks again
    ");
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let project = project();
    project.write("workflows/count.yaml", &COUNT.replace("max_visits: 10", "max_visit: 10"));
    let stderr = project.run(&["workflow", "validate"]).fails_with(2).to_owned();
    assert!(stderr.contains("error: workflows/count.yaml:9:68: nodes.tick: unknown field `max_visit`"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `max_visits`?"), "{stderr}");
    let stderr = project.run(&["workflow", "run", "nope"]).fails_with(2).to_owned();
    assert!(stderr.contains("error: workflow `nope` not found"), "{stderr}");
}

#[test]
fn run_prints_the_output_and_the_trace() {
    let project = project();
    let run = project.run(&["workflow", "run", "count", "--input", "{\"limit\": 2}", "--thread", "t1"]);
    let stdout = run.ok();
    assert_eq!(serde_json::from_str::<serde_json::Value>(stdout).expect("json"), serde_json::json!({"n": 2}));
    assert!(run.stderr.contains("thread t1: completed in 2 step(s)"), "{}", run.stderr);
    assert!(run.stderr.contains(" STEP   NODE   STATUS   TIME"), "{}", run.stderr);
    let json = project.run(&["workflow", "run", "count", "--input", "{\"limit\": 1}", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(json.ok()).expect("json");
    assert_eq!((doc["status"].as_str(), doc["trace"][0]["node"].as_str()), (Some("completed"), Some("tick")));
    let stderr = project
        .run(&["workflow", "run", "count", "--input", "{\"limit\": 1}", "--thread", "t1"])
        .fails_with(2)
        .to_owned();
    assert!(stderr.contains("error: thread `t1` already exists"), "{stderr}");
    let stderr = project.run(&["workflow", "run", "count", "--input", "{\"limt\": 1}"]).fails_with(2).to_owned();
    assert!(
        stderr.contains("the input has `limt`, which is not an input of workflow `count` (inputs: limit)"),
        "{stderr}"
    );
}

#[test]
fn stream_prints_json_lines() {
    let project = project();
    let run = project.run(&[
        "workflow",
        "run",
        "count",
        "--input",
        "{\"limit\": 2}",
        "--thread",
        "t1",
        "--stream",
        "updates",
    ]);
    let lines: Vec<serde_json::Value> = run.ok().lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        serde_json::json!({"event": "updates", "thread": "t1", "step": 1, "node": "tick", "writes": {"n": 1}})
    );
    let run = project.run(&["workflow", "run", "count", "--input", "{\"limit\": 2}", "--stream", "values"]);
    let last: serde_json::Value = serde_json::from_str(run.ok().lines().last().expect("a line")).expect("json");
    assert_eq!(last["values"], serde_json::json!({"limit": 2, "n": 2}));
}

#[test]
fn a_pause_exits_zero_with_the_resume_command_and_resume_finishes_it() {
    let project = project();
    let run = project.run(&["workflow", "run", "approve", "--input", "{\"draft\": \"hello\"}", "--thread", "t1"]);
    assert_eq!(
        run.ok(),
        "status: interrupted\nthread: t1\nnode: review\nquestion: Approve? hello\nanswer schema: {\"type\":\"boolean\"}\nresume: promptops workflow resume t1 --input JSON\n"
    );
    let stderr = project.run(&["workflow", "resume", "t1", "--input", "\"yes\""]).fails_with(2).to_owned();
    assert!(stderr.contains("error: the answer to `review` does not match its schema"), "{stderr}");
    let done = project.run(&["workflow", "resume", "t1", "--input", "true"]);
    assert!(done.ok().contains("\"result\": \"published\""), "{}", done.stdout);
    let history = project.run(&["workflow", "history", "t1"]);
    let table = history.ok();
    assert!(table.contains("review    approved"), "{table}");
    assert!(table.contains("publish   result"), "{table}");
    let stderr = project
        .run(&["workflow", "run", "approve", "--input", "{\"draft\": \"x\"}", "--non-interactive"])
        .fails_with(2)
        .to_owned();
    assert!(stderr.contains("the run paused at human node `review`"), "{stderr}");
}

#[test]
fn fork_starts_a_thread_from_an_earlier_step() {
    let project = project();
    project.run(&["workflow", "run", "approve", "--input", "{\"draft\": \"d\"}", "--thread", "t1"]).ok();
    project.run(&["workflow", "resume", "t1", "--input", "false"]).ok();
    let fork = project.run(&["workflow", "fork", "t1", "--step", "0", "--thread", "t2"]);
    assert_eq!(fork.ok(), "t2\n");
    let paused = project.run(&["workflow", "resume", "t2"]);
    assert!(paused.ok().starts_with("status: interrupted\nthread: t2"), "{}", paused.stdout);
    let done = project.run(&["workflow", "resume", "t2", "--input", "true"]);
    assert!(done.ok().contains("published"), "{}", done.stdout);
    let threads = project.run(&["workflow", "threads", "approve", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_str(threads.ok()).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let stderr = project.run(&["workflow", "fork", "t1", "--step", "7"]).fails_with(2).to_owned();
    assert!(stderr.contains("thread `t1` has committed steps 0 to 2, not 7"), "{stderr}");
}

#[test]
fn draw_prints_mermaid_or_dot() {
    let project = project();
    let mermaid = project.run(&["workflow", "draw", "count"]);
    assert!(mermaid.ok().contains("tick -. \"state.n < state.limit\" .-> tick"), "{}", mermaid.stdout);
    let dot = project.run(&["workflow", "draw", "count", "--format", "dot"]);
    assert!(dot.ok().starts_with("digraph \"count\" {"), "{}", dot.stdout);
    let stderr = project.run(&["workflow", "draw", "count", "--format", "json"]).fails_with(2).to_owned();
    assert!(stderr.contains("`workflow draw` does not support --format json"), "{stderr}");
}

#[test]
fn export_writes_a_langgraph_app() {
    let project = project();
    let run = project.run(&["workflow", "export", "count", "--to", "langgraph"]);
    assert_eq!(
        run.ok(),
        "export/count-langgraph/graph.py\nexport/count-langgraph/requirements.txt\nexport/count-langgraph/langgraph.json\nexport/count-langgraph/EXPORT_NOTES.md\n"
    );
    assert!(project.read("export/count-langgraph/graph.py").contains("graph = build_count()"));
    let run = project.run(&["workflow", "export", "approve", "--to", "langgraph", "-o", "out"]);
    assert!(run.ok().starts_with("out/graph.py"), "{}", run.stdout);
}

/// A temporary project holding this repository's examples (config, prompts, workflows).
fn examples() -> Project {
    let project = Project::empty();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        for entry in walk(from) {
            let target = to.join(entry.strip_prefix(from).expect("inside"));
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::copy(&entry, &target).expect("copy");
        }
    };
    std::fs::copy(repo.join("promptops.yaml"), project.root.join("promptops.yaml")).expect("copy");
    copy(&repo.join("prompts"), &project.root.join("prompts"));
    copy(&repo.join("workflows"), &project.root.join("workflows"));
    project
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn the_examples_run_offline_with_tokens_streamed() {
    let project = examples();
    assert!(project.run(&["workflow", "validate"]).stderr.contains("3 workflow(s) valid"));
    let run =
        project.run(&["workflow", "run", "essay-refine", "--input", "{\"topic\": \"tides\"}", "--stream", "tokens"]);
    let tokens: Vec<serde_json::Value> =
        run.ok().lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert!(tokens.iter().all(|t| t["event"] == "token"), "{tokens:?}");
    let nodes: Vec<&str> = tokens.iter().filter_map(|t| t["node"].as_str()).collect();
    assert!(nodes.contains(&"draft") && nodes.contains(&"revise"), "{nodes:?}");
    let run = project.run(&[
        "workflow",
        "run",
        "summarize-batch",
        "--input-file",
        "workflows/_data/documents.yaml",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(run.ok()).expect("json");
    assert_eq!(doc["output"]["notes"].as_array().map(Vec::len), Some(3));
    let paused = project.run(&[
        "workflow",
        "run",
        "support-triage",
        "--input",
        "{\"ticket\": \"I was charged twice\"}",
        "--thread",
        "t1",
    ]);
    assert!(paused.ok().contains("node: approve"), "{}", paused.stdout);
    let done = project.run(&["workflow", "resume", "t1", "--input", "false"]);
    assert!(done.ok().contains("\"status\": \"held for a person\""), "{}", done.stdout);
}

#[test]
fn shell_tools_pass_state_and_model_output_as_data_never_as_commands() {
    use promptops_test_support::hostile::{SHELL_ANSWER, SHELL_INPUT, SHELL_WORKFLOW, shell_output};
    let project = Project::new();
    let config =
        format!("providers:\n  - id: offline\n    kind: mock\n    default: '{}'\n", SHELL_ANSWER.replace('\'', "''"));
    project.write("promptops.yaml", &config);
    project.write("workflows/hostile.yaml", SHELL_WORKFLOW);
    let input = serde_json::json!({ "who": SHELL_INPUT }).to_string();
    let run = project.run(&["workflow", "run", "hostile", "--input", &input, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(run.ok()).expect("json");
    let created: Vec<String> = std::fs::read_dir(&project.root)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("from-"))
        .collect();
    assert!(created.is_empty(), "hostile values ran commands: {created:?}");
    // Each value arrived whole, as one argument, in every quoting context.
    assert_eq!(doc["output"]["out"], shell_output());
}
