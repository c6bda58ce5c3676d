//! Benchmarks of the workflow executor (issue 6's targets): executor overhead per step with an
//! echo model (< 100 µs), a 1,000-step bounded loop (< 1 s), and checkpoint storage growth per
//! step (it must follow each step's writes, not the size of the state).
//! Run: `cargo bench --bench workflow`; the figures go into `docs/workflows.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use promptops::access::{Action, Principal};
use promptops::store::{SqliteStore, Store};
use promptops::workflow::fake::FakeModel;
use promptops::workflow::source::StaticPrompts;
use promptops::workflow::{Compiled, ExecPolicy, ModelCaller, Runner, Workflow, history, prepare};
use promptops_test_support::bench::measure;
use serde_json::json;

/// A loop of `steps` steps: one node per step, bounded by `max_visits`, leaving by `on_limit`.
fn looping(kind: &str, steps: u32, extra_state: &str, output: &str) -> String {
    let body = match kind {
        "prompt" => "type: prompt, messages: [{ role: user, content: 'step {{ n }}' }], vars: { n: state.n }",
        _ => "type: tool, tool: { builtin: echo, args: { n: state.n } }",
    };
    format!(
        "version: 1\nname: bench\nstate:\n  n: {{ type: integer, reducer: add, default: 0 }}\n{extra_state}checkpoint: {{ snapshot_every: 100000 }}\nlimits: {{ max_steps: {} }}\nnodes:\n  tick: {{ {body}, output: {{ n: '1'{output} }}, max_visits: {steps}, on_limit: {{ goto: END }} }}\nedges:\n  - {{ from: START, to: tick }}\n  - {{ from: tick, to: tick }}\n",
        steps + 1
    )
}

async fn compile(text: &str) -> Arc<Compiled> {
    let workflow = Workflow::parse(PathBuf::from("bench.yaml"), PathBuf::new(), text.to_owned()).expect("parses");
    prepare(&workflow, &StaticPrompts::new(), None, &ExecPolicy::Local).await.expect("valid").0
}

struct Db {
    store: Arc<dyn Store>,
    scope: promptops::store::Scope,
    _dir: tempfile::TempDir,
}

async fn db() -> Db {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("bench.db")).await.expect("open"));
    let scope = Principal::local("bench").authorize(Action::Run, promptops::access::LOCAL_PROJECT).expect("scope");
    Db { store, scope, _dir: dir }
}

/// The `echo` provider of a throwaway project, through the whole provider layer (no cache, so
/// every step makes a call).
fn echo_provider(rt: &tokio::runtime::Runtime) -> (Arc<dyn ModelCaller>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("promptops.yaml"),
        "providers:\n  - { id: echo, kind: echo }\ndefaults: { provider: echo }\n",
    )
    .expect("write");
    let project = promptops::config::Project::open(dir.path()).expect("project");
    let d = rt.block_on(db());
    let options = promptops::provider::ProvidersOptions { no_cache: true, ..Default::default() };
    let caller = promptops::workflow::ProviderCaller::new(&project, Arc::clone(&d.store), d.scope.clone(), options);
    std::mem::forget(d._dir);
    (Arc::new(caller), dir)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let echo: Arc<dyn ModelCaller> = Arc::new(FakeModel::new());
    let steps = 1_000;

    let prompt_loop = rt.block_on(compile(&looping("prompt", steps, "", "")));
    let (provider, _project) = echo_provider(&rt);
    let m = measure("1,000 prompt steps, echo provider (layered), no checkpoints", 10, || {
        rt.block_on(Runner::new(Arc::clone(&provider)).run(&prompt_loop, json!({}), None)).expect("runs")
    });
    println!("    => per step, provider layer included: {:.1?}", m.median() / steps);
    let m = measure("1,000 prompt steps, in-process echo model, no checkpoints", 10, || {
        rt.block_on(Runner::new(Arc::clone(&echo)).run(&prompt_loop, json!({}), None)).expect("runs")
    });
    println!("    => executor overhead per step: {:.1?}", m.median() / steps);
    let m = measure("1,000 prompt steps, echo model, SQLite checkpoints (sync)", 5, || {
        let d = rt.block_on(db());
        let runner = Runner::new(Arc::clone(&echo)).with_store(Arc::clone(&d.store), d.scope.clone());
        rt.block_on(runner.run(&prompt_loop, json!({}), None)).expect("runs")
    });
    println!("    => per step with checkpoints: {:.1?}", m.median() / steps);
    let async_loop = rt.block_on(compile(
        &looping("prompt", steps, "", "").replace("checkpoint: { ", "checkpoint: { durability: async, "),
    ));
    let m = measure("1,000 prompt steps, echo model, SQLite checkpoints (async)", 5, || {
        let d = rt.block_on(db());
        let runner = Runner::new(Arc::clone(&echo)).with_store(Arc::clone(&d.store), d.scope.clone());
        rt.block_on(runner.run(&async_loop, json!({}), None)).expect("runs")
    });
    println!("    => per step with background checkpoints: {:.1?}", m.median() / steps);

    let tool_loop = rt.block_on(compile(&looping("tool", steps, "", "")));
    measure("1,000-step bounded loop (tool nodes), no checkpoints", 10, || {
        rt.block_on(Runner::new(Arc::clone(&echo)).run(&tool_loop, json!({}), None)).expect("runs")
    });
    measure("1,000-step bounded loop (tool nodes), SQLite checkpoints (sync)", 5, || {
        let d = rt.block_on(db());
        let runner = Runner::new(Arc::clone(&echo)).with_store(Arc::clone(&d.store), d.scope.clone());
        rt.block_on(runner.run(&tool_loop, json!({}), None)).expect("runs")
    });

    storage_growth(&rt, &echo);
}

/// Bytes stored per step for a small state, a 100 KB state that nothing writes, and a state
/// that grows by one item per step: the per-step figure stays flat in all three.
fn storage_growth(rt: &tokio::runtime::Runtime, echo: &Arc<dyn ModelCaller>) {
    let big = "x".repeat(100_000);
    let cases = [
        ("small state", String::new(), String::new()),
        ("100 KB state nothing writes", format!("  big: {{ type: string, default: {big} }}\n"), String::new()),
        (
            "state growing by one item per step",
            "  log: { type: array, reducer: append, default: [] }\n".to_owned(),
            ", log: \"['entry ' ~ state.n]\"".to_owned(),
        ),
    ];
    for (name, state, output) in cases {
        let compiled = rt.block_on(compile(&looping("tool", 200, &state, &output)));
        let d = rt.block_on(db());
        let started = Instant::now();
        let runner = Runner::new(Arc::clone(echo)).with_store(Arc::clone(&d.store), d.scope.clone());
        rt.block_on(runner.run(&compiled, json!({}), Some("t".into()))).expect("runs");
        let (_, steps) = rt.block_on(history(d.store.as_ref(), &d.scope, "t")).expect("history");
        let per_step: Vec<u64> = steps.iter().skip(1).map(|s| s.bytes).collect();
        let total = rt.block_on(d.store.thread_bytes(&d.scope, "t")).expect("bytes");
        let first = per_step.first().copied().unwrap_or(0);
        let last = per_step.last().copied().unwrap_or(0);
        println!(
            "{:<60} step 0 (snapshot) {:>7} B; steps 1..200: first {first} B, last {last} B; total {total} B ({:?})",
            format!("checkpoint storage, {name}"),
            steps[0].bytes,
            started.elapsed()
        );
    }
}
