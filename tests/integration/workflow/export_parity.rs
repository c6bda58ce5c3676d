//! Export parity: run a workflow with our executor, export it to LangGraph, run the export with
//! LangChain's fake chat model fed the same model answers, and compare the final states and the
//! visit counts. Needs Python with `langgraph`: the virtual environment
//! `$HOME/.cache/promptops-tools/langgraph-venv` is used when it exists, and created (with pip)
//! when `PROMPTOPS_TEST_LANGGRAPH=1`; otherwise the test says it was skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use promptops::config::ProjectConfig;
use promptops::workflow::fake::{FakeModel, FakeStep};
use promptops::workflow::{ModelCall, ModelCaller, ModelError, ModelReply, RunStatus, Runner, TaskStatus, export};
use serde_json::{Value, json};

use super::{ESSAY, compiled, runner, store};

/// Records every answer by node and rendered prompt, so the export can be fed the same answers
/// whatever order its concurrent tasks call the model in.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ModelCaller>,
    replies: Mutex<BTreeMap<String, BTreeMap<String, Vec<String>>>>,
}

#[async_trait]
impl ModelCaller for Recording {
    async fn call(&self, call: ModelCall<'_>) -> Result<ModelReply, ModelError> {
        let (node, prompt) = (call.node.to_owned(), call.text());
        let reply = self.inner.call(call).await?;
        self.replies.lock().expect("lock").entry(node).or_default().entry(prompt).or_default().push(reply.text.clone());
        Ok(reply)
    }
}

fn venv() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/promptops-tools/langgraph-venv")
}

/// Both parity tests may start on a fresh machine at once: one creates the venv, the other waits.
static CREATING: Mutex<()> = Mutex::new(());

/// The venv's python, creating the venv when asked to; `None` (and a note) when unavailable.
fn python() -> Option<PathBuf> {
    let _creating = CREATING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = venv();
    let python = dir.join("bin/python");
    let ready = |p: &Path| {
        std::process::Command::new(p)
            .args(["-c", "import langgraph, langchain_core, jinja2, jsonschema"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if python.exists() && ready(&python) {
        return Some(python);
    }
    if std::env::var(promptops::env::TEST_LANGGRAPH).ok().as_deref() != Some("1") {
        // Straight to stderr: `eprintln!` of a passing test is captured, and a skip must show.
        let note = format!(
            "skipped: LangGraph export parity (no venv at {}; set {}=1 to create it)\n",
            dir.display(),
            promptops::env::TEST_LANGGRAPH
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
        return None;
    }
    let run = |program: &Path, args: &[&str]| {
        std::process::Command::new(program).args(args).status().is_ok_and(|s| s.success())
    };
    let created = run(Path::new("python3"), &["-m", "venv", &dir.display().to_string()])
        && run(
            &python,
            &[
                "-m",
                "pip",
                "install",
                "-q",
                "langgraph>=1.0,<2",
                "langchain-core>=1.0,<2",
                "jinja2>=3.1,<4",
                "jsonschema>=4,<5",
            ],
        );
    assert!(created && ready(&python), "could not create the LangGraph venv at {}", dir.display());
    Some(python)
}

const DRIVER: &str = r#"
import importlib.util, json, sys
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

spec = importlib.util.spec_from_file_location("graph", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["graph"] = module
spec.loader.exec_module(module)
case = json.load(open(sys.argv[2]))


class ByPrompt(FakeListChatModel):
    """LangChain's fake chat model, answering by rendered prompt rather than by call order."""

    answers: dict = {}

    def _call(self, messages, stop=None, run_manager=None, **kwargs):
        prompt = "\n".join(m.content for m in messages)
        queue = self.answers.get(prompt)
        if not queue:
            raise KeyError(f"no recorded answer for prompt {prompt!r}; recorded: {list(self.answers)}")
        return queue.pop(0)


factory = lambda node, model: ByPrompt(responses=["unused"], answers=case["replies"].get(node) or {})
graph = module.build(model_factory=factory, checkpointer=InMemorySaver())
config = {"configurable": {"thread_id": "parity"}}
out = graph.invoke(module.make_input(case["input"]), config)
for answer in case["resumes"]:
    out = graph.invoke(Command(resume=answer), config)
state = {k: v for k, v in out.items() if not k.startswith("_promptops") and not k.startswith("__") and v is not None}
print(json.dumps({"state": state, "visits": {k: v for k, v in (out.get("_promptops_visits") or {}).items() if v}}))
"#;

/// Numbers compare as floats (LangGraph's `float` channels turn 1 into 1.0); nulls are unset.
fn normal(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(normal).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), normal(v))).collect())
        }
        other => other.clone(),
    }
}

async fn parity(python: &Path, text: &str, model: FakeModel, input: Value, resumes: &[Value]) {
    let c = compiled(text).await;
    let s = store().await;
    parity_of(python, &c, Arc::new(model), &s, input, resumes).await;
}

async fn parity_of(
    python: &Path,
    c: &Arc<promptops::workflow::Compiled>,
    model: Arc<dyn ModelCaller>,
    s: &super::TempStore,
    input: Value,
    resumes: &[Value],
) {
    let recording = Arc::new(Recording { inner: model, replies: Mutex::default() });
    let r: Runner = runner(recording.clone(), s);
    let mut outcome = r.run(c, input.clone(), Some("t".into())).await.expect("runs");
    let mut trace = outcome.trace.clone();
    for answer in resumes {
        assert_eq!(outcome.status, RunStatus::Interrupted);
        outcome = r.resume(c, "t", Some(answer.clone())).await.expect("resumes");
        trace.extend(outcome.trace.clone());
    }
    assert_eq!(outcome.status, RunStatus::Completed);
    let mut visits: BTreeMap<String, u64> = BTreeMap::new();
    for t in trace.iter().filter(|t| matches!(t.status, TaskStatus::Ok | TaskStatus::Rerouted)) {
        *visits.entry(t.node.clone()).or_default() += 1;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    export::write(dir.path(), &export::langgraph(c, &ProjectConfig::default())).expect("export");
    let replies = recording.replies.lock().expect("lock").clone();
    let case = json!({ "input": input, "replies": replies, "resumes": resumes });
    std::fs::write(dir.path().join("case.json"), case.to_string()).expect("write");
    std::fs::write(dir.path().join("driver.py"), DRIVER).expect("write");
    let out = std::process::Command::new(python)
        .arg(dir.path().join("driver.py"))
        .arg(dir.path().join("graph.py"))
        .arg(dir.path().join("case.json"))
        .output()
        .expect("python runs");
    assert!(out.status.success(), "the export failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Value = serde_json::from_slice(&out.stdout).expect("driver prints JSON");
    assert_eq!(normal(&theirs["state"]), normal(&outcome.state), "final states differ");
    assert_eq!(normal(&theirs["visits"]), normal(&json!(visits)), "visit counts differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_graphs_end_in_the_same_state_as_the_executor() {
    let Some(python) = python() else { return };
    let essay = FakeModel::new()
        .reply("draft", "A draft.")
        .script(
            "critique",
            [
                FakeStep::Reply("{\"score\": 4, \"feedback\": \"more\"}".into()),
                FakeStep::Reply("{\"score\": 9, \"feedback\": \"good\"}".into()),
            ],
        )
        .reply("revise", "A better draft.");
    parity(&python, ESSAY, essay, json!({"topic": "tides"}), &[]).await;

    let map = "version: 1\nname: mapper\ninput: [docs]\noutput: [summary]\nstate:\n  docs: { type: array }\n  notes: { type: array, reducer: append, default: [] }\n  words: { type: integer, reducer: add, default: 0 }\n  summary: { type: string }\nnodes:\n  split: { type: tool, tool: { builtin: echo } }\n  note: { type: prompt, messages: [{ role: user, content: 'Summarise: {{ d }}' }], vars: { d: item }, output: { notes: '[result.text]', words: '1' } }\n  reduce: { type: tool, tool: { builtin: join, args: { parts: state.notes, sep: \"' | '\" } }, output: { summary: result }, wait_for: [note] }\nedges:\n  - { from: START, to: split }\n  - { from: split, map: { over: state.docs, to: note } }\n  - { from: note, to: reduce }\n  - { from: reduce, to: END }\n";
    let model = FakeModel::new().script(
        "note",
        [FakeStep::Reply("one".into()), FakeStep::Reply("two".into()), FakeStep::Reply("three".into())],
    );
    parity(&python, map, model, json!({"docs": ["a", "b", "c"]}), &[]).await;

    let approval = "version: 1\nname: approval\ninput: [ticket]\nstate:\n  ticket: { type: string }\n  kind: { type: string }\n  approved: { type: boolean }\n  outcome: { type: string }\nnodes:\n  triage: { type: router, messages: [{ role: user, content: '{{ t }}' }], vars: { t: state.ticket }, routes: { refund: review, other: END }, output: { kind: result.json.label } }\n  review: { type: human, message: 'Refund {{ state.ticket }}?', schema: { type: boolean }, output: { approved: result } }\n  act: { type: tool, tool: { builtin: echo }, output: { outcome: \"'refunded' if state.approved else 'declined'\" } }\nedges:\n  - { from: START, to: triage }\n  - { from: review, to: act }\n  - { from: act, to: END }\n";
    let model = FakeModel::new().reply("triage", "{\"label\": \"refund\"}");
    parity(&python, approval, model, json!({"ticket": "charged twice"}), &[json!(true)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_workflows_on_the_mock_provider_end_in_the_same_state_when_exported() {
    let Some(python) = python() else { return };
    let ex = super::examples::examples().await;
    let cases = [
        ("essay-refine", json!({"topic": "tides"}), vec![]),
        ("summarize-batch", json!({"documents": ["One.", "Two.", "Three."]}), vec![]),
        ("support-triage", json!({"ticket": "I was charged twice"}), vec![json!(true)]),
    ];
    for (name, input, resumes) in cases {
        let s = store().await;
        parity_of(&python, &ex.compiled(name).await, ex.mock(), &s, input, &resumes).await;
    }
}
