//! Every validation rule with a failing example and its exact message (file:line:col included).

use std::path::PathBuf;

use pretty_assertions::assert_eq;

use super::*;
use crate::workflow::source::StaticPrompts;

fn workflow(text: &str) -> Workflow {
    Workflow::parse(PathBuf::from("workflows/t.yaml"), PathBuf::from("workflows"), text.to_owned()).expect("parses")
}

/// Errors of the structural checks, as `line:col: message`.
fn errors(text: &str) -> Vec<String> {
    render(check_structure(&workflow(text)), Severity::Error)
}

fn warnings(text: &str) -> Vec<String> {
    render(check_structure(&workflow(text)), Severity::Warning)
}

fn render(findings: Vec<Finding>, severity: Severity) -> Vec<String> {
    findings
        .into_iter()
        .filter(|f| f.severity == severity)
        .map(|f| f.to_string().replacen("workflows/t.yaml:", "", 1))
        .collect()
}

/// The research brief's worked example, with inline prompts.
const ESSAY: &str = r#"version: 1
name: t
input: [topic]
output: [draft, score]
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
    messages: [{ role: user, content: "Critique {{ draft }}" }]
    vars: { draft: state.draft }
    parse: json
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

#[test]
fn the_worked_example_is_valid() {
    assert_eq!(errors(ESSAY), Vec::<String>::new());
    assert_eq!(warnings(ESSAY), Vec::<String>::new());
}

#[test]
fn unknown_keys_and_wrong_types_name_line_and_column() {
    let err = Workflow::parse(
        PathBuf::from("w.yaml"),
        PathBuf::new(),
        ESSAY.replace("    max_visits: 3", "    max_visit: 3"),
    )
    .expect_err("unknown key");
    assert_eq!(
        err.to_string(),
        "w.yaml:32:5: nodes.revise: unknown field `max_visit`, expected one of `type`, `description`, `prompt`, `messages`, `provider`, `params`, `vars`, `parse`, `schema`, `label`, `routes`, `tool`, `message`, `workflow`, `input`, `output`, `retry`, `timeout_s`, `cache`, `on_error`, `max_visits`, `on_limit`, `wait_for`, `defer`"
    );
    use crate::error::Diagnostic;
    assert_eq!(err.hints(), vec!["did you mean `max_visits`?".to_owned()]);
    let err =
        Workflow::parse(PathBuf::from("w.yaml"), PathBuf::new(), ESSAY.replace("max_visits: 3", "max_visits: many"))
            .expect_err("wrong type");
    assert_eq!(err.to_string(), "w.yaml:32:17: nodes.revise.max_visits: invalid type: string \"many\", expected u32");
    let err = Workflow::parse(PathBuf::from("w.yaml"), PathBuf::new(), "version: 1\nname: t\nnodes: {\n".to_owned())
        .expect_err("malformed");
    assert!(err.to_string().starts_with("w.yaml:4:1: "), "{err}");
}

#[test]
fn shape_rules() {
    let cases: &[(&str, &str, &str)] = &[
        ("version: 1", "version: 2", "1:1: unsupported workflow version `2`"),
        ("output: [draft, score]", "output: [draft, scroe]", "4:17: `output` lists `scroe`, which is not a state key"),
        (
            "rounds: { type: array, reducer: append",
            "rounds: { type: number, reducer: append",
            "10:27: reducer `append` needs an array key, but `rounds` is of type number",
        ),
        (
            "score: { type: number, default: 0 }",
            "score: { type: number, default: high }",
            "9:26: the default of `score` is not of type number",
        ),
        (
            "    output: { draft: result.text }\n  critique",
            "    output: { drat: result.text }\n  critique",
            "17:15: node `draft` writes `drat`, which is not a state key",
        ),
        (
            "    max_visits: 3",
            "    max_visits: 3\n    routes: { a: END }",
            "33:5: `routes` does not apply to a prompt node",
        ),
        ("    max_visits: 3", "    max_visits: 0", "32:5: `max_visits` must be at least 1"),
        (
            "  - { from: revise, to: critique }",
            "  - { from: revise, to: critque }",
            "41:21: an edge goes to `critque`, which is not a node",
        ),
        (
            "  - { from: revise, to: critique }",
            "  - { from: revize, to: critique }",
            "41:7: an edge leaves `revize`, which is not a node",
        ),
        (
            "      - { else: revise }",
            "      - { when: 'true', to: revise }",
            "37:5: branch from `critique` has no `else`",
        ),
        (
            "state.score >= 8",
            "state.score >=",
            "38:11: expression `state.score >=` does not compile: unexpected end of input, expected expression",
        ),
        (
            "state.score >= 8",
            "state.scroe >= 8",
            "38:11: `state.scroe >= 8` reads `state.scroe`, which is not a state key",
        ),
        ("state.score >= 8", "stat.score >= 8", "38:11: `stat.score >= 8` uses unknown name `stat`"),
        (
            "visits.revise >= 3",
            "visits.revize >= 3",
            "39:11: `visits.revize >= 3` reads `visits.revize`, which is not a node",
        ),
        (
            "content: \"Critique {{ draft }}\"",
            "content: \"Critique {{ drafts }}\"",
            "20:30: the inline prompt uses variable `drafts`, which `vars` does not supply",
        ),
        (
            "  revise:\n    type: prompt",
            "  END:\n    type: prompt",
            "27:3: `END` is reserved and cannot be a node name",
        ),
    ];
    let mut wrong = Vec::new();
    for (from, to, expected) in cases {
        assert!(ESSAY.contains(from), "bad test case: {from}");
        let got = errors(&ESSAY.replacen(from, to, 1));
        if !got.iter().any(|g| g == expected) {
            wrong.push(format!("for `{to}` expected\n  {expected}\ngot\n  {got:#?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn node_types_need_their_fields() {
    let text = "version: 1\nname: t\nnodes:\n  a: { type: prompt }\n  b: { type: router, routes: { x: END } }\n  c: { type: tool }\n  d: { type: subgraph }\n  e: { type: tool, tool: { builtin: join } }\n  f: { type: tool, tool: { builtin: echo, exec: [ls] } }\nedges:\n  - { from: START, to: [a, c, d, e, f] }\n  - { from: a, to: END }\n  - { from: c, to: END }\n  - { from: d, to: END }\n  - { from: e, to: END }\n  - { from: f, to: END }\n";
    assert_eq!(
        errors(text),
        vec![
            "4:3: prompt node `a` needs `prompt` (a registry ref) or `messages` (an inline prompt)",
            "5:3: router node `b` needs `label` (an expression) or a prompt that picks the label",
            "6:3: tool node `c` needs `tool` (`builtin`, `exec` or `http`)",
            "7:3: subgraph node `d` needs `workflow` (the workflow to run)",
            "8:20: built-in `join` needs the argument `parts`",
            "9:20: tool of node `f` needs exactly one of `builtin`, `exec` or `http`",
        ]
    );
}

#[test]
fn routers_take_targets_from_routes() {
    let text = "version: 1\nname: t\nstate: { kind: { type: string, default: a } }\nnodes:\n  r: { type: router, label: state.kind, routes: { a: x, b: nowhere } }\n  x: { type: tool, tool: { builtin: echo } }\nedges:\n  - { from: START, to: r }\n  - { from: r, to: x }\n  - { from: x, to: END }\n";
    assert_eq!(
        errors(text),
        vec![
            "5:57: route `b` of router `r` goes to `nowhere`, which is not a node".to_owned(),
            "9:3: router `r` has an edge; its targets come from its `routes`".to_owned(),
        ]
    );
}

#[test]
fn flow_rules() {
    let base = "version: 1\nname: t\nnodes:\n  a: { type: tool, tool: { builtin: echo } }\n  b: { type: tool, tool: { builtin: echo } }\n  c: { type: tool, tool: { builtin: echo } }\nedges:\n";
    assert_eq!(errors(&format!("{base}  - {{ from: a, to: END }}\n")), vec!["7:1: no edge leaves `START`"]);
    let text = format!("{base}  - {{ from: START, to: a }}\n  - {{ from: a, to: b }}\n  - {{ from: b, to: END }}\n");
    assert_eq!(errors(&text), vec!["6:3: node `c` has no outgoing edge", "6:3: node `c` is unreachable from `START`"]);
    let text = format!(
        "{base}  - {{ from: START, to: a }}\n  - {{ from: a, branch: [ {{ when: 'true', to: b }}, {{ else: END }} ] }}\n  - {{ from: b, to: c }}\n  - {{ from: c, to: b }}\n"
    );
    let got = errors(&text);
    assert_eq!(
        got,
        vec![
            "5:3: node `b` cannot reach `END`",
            "6:3: node `c` cannot reach `END`",
            "5:3: cycle `b → c → b` has no `max_visits` bound",
        ]
    );
}

#[test]
fn an_unbounded_cycle_prints_the_cycle_and_where_a_bound_goes() {
    let findings = check_structure(&workflow(&ESSAY.replace("    max_visits: 3\n", "")));
    let error = findings.iter().find(|f| f.message.starts_with("cycle")).expect("cycle error");
    assert_eq!(
        error.to_string(),
        "workflows/t.yaml:18:3: cycle `critique → revise → critique` has no `max_visits` bound"
    );
    assert_eq!(error.hints[0], "add `max_visits: N` to one of `critique`, `revise`, e.g. under `nodes.revise`");
}

#[test]
fn the_step_bound_is_compared_with_max_steps() {
    assert_eq!(
        warnings(&ESSAY.replace("max_steps: 20", "max_steps: 7")),
        vec!["11:11: a run may take up to 8 steps, more than `limits.max_steps` (7)"]
    );
}

#[test]
fn reads_before_writes_print_the_path() {
    // `critique` has no default and `revise` reads it: fine, critique always runs first. Send
    // `draft` straight to `revise` on one branch and the read is unset on that path.
    let text = ESSAY.replace(
        "  - { from: draft, to: critique }",
        "  - from: draft\n    branch: [ { when: 'state.draft', to: critique }, { else: revise } ]",
    );
    assert_eq!(
        errors(&text),
        vec!["30:33: node `revise` reads `state.critique`, which is unset on the path START → draft → revise"]
    );
    let text = ESSAY.replace("input: [topic]\n", "");
    assert_eq!(
        errors(&text),
        vec!["15:13: node `draft` reads `state.topic`, which is unset on the path START → draft"]
    );
    let text = ESSAY
        .replace("      - { when: \"state.score >= 8\", to: END }", "      - { when: \"state.missing >= 8\", to: END }")
        .replace("  rounds: { type", "  missing: { type: number }\n  rounds: { type");
    assert_eq!(
        errors(&text),
        vec![
            "39:11: the edge after `critique` reads `state.missing`, which is unset on the path START → draft → critique"
        ]
    );
}

#[test]
fn a_condition_closing_a_variable_block_is_an_error_at_its_place() {
    // Found by fuzzing: minijinja's lexer panicked on it.
    let text = ESSAY.replace("when: \"state.score >= 8\"", "when: \"state.score >= 8}}}}\"");
    let found = errors(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("38:11: ") && found[0].contains("`}}`"), "{found:?}");
}

#[test]
fn concurrent_writes_need_a_merging_reducer() {
    let text = "version: 1\nname: t\nstate:\n  out: { type: string }\n  all: { type: array, reducer: append }\nnodes:\n  a: { type: tool, tool: { builtin: echo }, output: { out: \"'a'\", all: \"['a']\" } }\n  b: { type: tool, tool: { builtin: echo }, output: { out: \"'b'\", all: \"['b']\" } }\nedges:\n  - { from: START, to: [a, b] }\n  - { from: a, to: END }\n  - { from: b, to: END }\n";
    assert_eq!(
        errors(text),
        vec![
            "8:55: `out` may be written by `a` and `b` in the same step, but its reducer `replace` keeps only one value"
        ]
    );
    let text = "version: 1\nname: t\nstate:\n  items: { type: array, default: [1, 2] }\n  out: { type: string }\nnodes:\n  split: { type: tool, tool: { builtin: echo } }\n  work: { type: tool, tool: { builtin: echo }, output: { out: item } }\nedges:\n  - { from: START, to: split }\n  - { from: split, map: { over: state.items, to: work } }\n  - { from: work, to: END }\n";
    assert_eq!(
        errors(text),
        vec![
            "8:58: `out` is written by every task of the map to `work`, but its reducer `replace` keeps only one value"
        ]
    );
}

#[test]
fn a_branch_reading_a_sibling_write_is_a_warning() {
    let text = "version: 1\nname: t\nstate:\n  flag: { type: boolean, default: false }\nnodes:\n  a: { type: tool, tool: { builtin: echo } }\n  b: { type: tool, tool: { builtin: echo }, output: { flag: 'true' } }\nedges:\n  - { from: START, to: [a, b] }\n  - { from: a, branch: [ { when: state.flag, to: END }, { else: END } ] }\n  - { from: b, to: END }\n";
    assert_eq!(
        warnings(text),
        vec!["10:28: the edge after `a` reads `state.flag`, which another node of the same step writes"]
    );
}

const TRIAGE: &str = "variables:\n  ticket: { type: string }\n  language: { default: en }\nmessages:\n  - { role: user, content: '{{ ticket }} {{ language }}' }\nresponse_schema:\n  type: object\n  properties: { category: { enum: [billing, bug, other] } }\n";

fn router_workflow(routes: &str, vars: &str) -> Workflow {
    workflow(&format!(
        "version: 1\nname: t\ninput: [ticket]\nstate: {{ ticket: {{ type: string }} }}\nnodes:\n  triage:\n    type: router\n    prompt: support/triage@production\n    vars: {{ {vars} }}\n    parse: json\n    label: result.json.category\n    routes: {{ {routes} }}\nedges:\n  - {{ from: START, to: triage }}\n"
    ))
}

async fn reference_errors(workflow: &Workflow) -> Vec<String> {
    let prompts = StaticPrompts::new().with("support/triage@production", TRIAGE).expect("prompt");
    let findings = validate(workflow, References { prompts: Some(&prompts), ..References::default() }).await;
    render(findings, Severity::Error)
}

#[tokio::test]
async fn prompt_variables_must_be_supplied() {
    let w = router_workflow("billing: END, bug: END, other: END", "language: \"'de'\"");
    assert_eq!(
        reference_errors(&w).await,
        vec!["9:5: prompt `support/triage@production` needs variable `ticket`, which node `triage` does not supply"]
    );
}

#[tokio::test]
async fn router_labels_need_routes() {
    let w = router_workflow("billing: END, other: END", "ticket: state.ticket");
    assert_eq!(reference_errors(&w).await, vec!["12:5: router `triage` can answer `bug`, which has no route"]);
}

#[tokio::test]
async fn unknown_prompts_are_reported_where_they_are_used() {
    let w = workflow(
        &router_workflow("billing: END, bug: END, other: END", "ticket: state.ticket")
            .source
            .replace("support/triage@production", "support/triag"),
    );
    assert_eq!(reference_errors(&w).await, vec!["8:5: prompt `support/triag` not found"]);
}

#[tokio::test]
async fn human_nodes_need_checkpoints_and_exec_needs_permission() {
    let text = "version: 1\nname: t\ncheckpoint: { durability: none }\nnodes:\n  ask: { type: human, message: ok? }\n  run: { type: tool, tool: { exec: [rm, -rf, x] } }\nedges:\n  - { from: START, to: ask }\n  - { from: ask, to: run }\n  - { from: run, to: END }\n";
    let policy = ExecPolicy::Server { allowed: vec!["wc".into()] };
    let findings = validate(&workflow(text), References { exec: Some(&policy), ..References::default() }).await;
    assert_eq!(
        render(findings, Severity::Error),
        vec![
            "5:3: human node `ask` needs checkpoints to pause into, but `checkpoint.durability` is `none`",
            "6:30: node `run` runs `rm`, which this server does not allow",
        ]
    );
}

#[tokio::test]
async fn subgraphs_must_exist_map_their_keys_and_not_include_themselves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    let child = "version: 1\nname: child\ninput: [text]\noutput: [ok]\nstate: { text: { type: string }, ok: { type: boolean, default: true } }\nnodes:\n  n: { type: tool, tool: { builtin: echo } }\n  ask: { type: human }\nedges:\n  - { from: START, to: n }\n  - { from: n, to: ask }\n  - { from: ask, to: END }\n";
    std::fs::write(root.join("workflows/child.yaml"), child).expect("write");
    let parent = "version: 1\nname: parent\nstate: { approved: { type: boolean } }\nnodes:\n  legal: { type: subgraph, workflow: child, input: { txt: \"'x'\" }, output: { approved: result.okay } }\n  again: { type: subgraph, workflow: ./parent.yaml }\n  lost: { type: subgraph, workflow: nowhere }\nedges:\n  - { from: START, to: [legal, again, lost] }\n  - { from: legal, to: END }\n  - { from: again, to: END }\n  - { from: lost, to: END }\n";
    std::fs::write(root.join("workflows/parent.yaml"), parent).expect("write");
    let catalog = Catalog::new(root);
    let w = catalog.load("parent").expect("loads");
    let findings = validate(&w, References { catalog: Some(&catalog), ..References::default() }).await;
    let got: Vec<String> = findings.iter().filter(|f| f.severity == Severity::Error).map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "workflows/parent.yaml:6:28: subgraph `./parent.yaml` includes itself: workflows/parent.yaml → workflows/parent.yaml",
            "workflows/parent.yaml:5:28: subgraph `child` has human node `ask`, and a subgraph cannot pause",
            "workflows/parent.yaml:5:45: subgraph node `legal` does not supply `text`, an input of workflow `child`",
            "workflows/parent.yaml:5:54: subgraph node `legal` passes `txt`, which is not an input of workflow `child`",
            "workflows/parent.yaml:5:78: node `legal` reads `result.okay`, which workflow `child` does not output",
            "workflows/parent.yaml:7:27: subgraph `nowhere` of node `lost` cannot be loaded: workflow `nowhere` not found",
        ]
    );
}
