//! Eval engine benchmarks (issue 4's targets), every case planned (dataset read, variables
//! checked, assertions prepared), rendered, answered, asserted (`is-json` + `json-path`) and
//! written to a SQLite store:
//!
//! - engine overhead at zero latency, 1,000 and 10,000 cases (target ≥ 5,000 cases/s), with an
//!   in-process backend so that only the engine is measured; peak RSS at 10,000 (< 100 MB);
//! - 50 ms latency at concurrency 4 and 32 through the real provider layers and the OpenAI
//!   wire protocol, against the LLM stub on 127.0.0.1 (target: within 10% of N·L/C);
//! - a fully cached re-run of 1,000 cases through the provider layers (target < 0.5 s).
//!
//! Run: `cargo bench --bench eval`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use promptops::access::{Action, Principal};
use promptops::config::Project;
use promptops::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use promptops::eval::providers::ProvidersBackend;
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Cancel, Overrides, PlanInput, ProjectPrompts, RunSettings, Runner, plan};
use promptops::prompt::RenderedPrompt;
use promptops::provider::{Providers, ProvidersOptions};
use promptops::secret::{MemoryKeyring, Secrets};
use promptops::store::{Scope, SqliteStore, Store};
use promptops_test_support::bench::measure;
use promptops_test_support::stub::{Stub, StubConfig};

const ANSWER: &str = r#"{"category": "billing", "urgency": "high"}"#;

/// Answers at once, in process: what is left is the engine's own cost.
#[derive(Debug)]
struct Instant0;

#[async_trait]
impl Backend for Instant0 {
    fn check_provider(&self, _: &str) -> Result<(), ProviderProblem> {
        Ok(())
    }
    async fn complete(&self, _: &str, _: &RenderedPrompt, _: u32) -> Result<Completion, CallError> {
        Ok(Completion { text: ANSWER.to_owned(), input_tokens: 40, output_tokens: 12, ..Completion::default() })
    }
    async fn embed(&self, _: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        Ok(texts.iter().map(|_| vec![1.0]).collect())
    }
}

const PROMPT: &str = "variables:\n  ticket: { type: string }\nmessages:\n  - role: system\n    content: Classify the ticket as JSON.\n  - role: user\n    content: \"Ticket: {{ ticket }}\"\n";

/// A project of one prompt and one suite of `cases` dataset rows on `provider`.
fn project(root: &Path, cases: usize, providers: &str, provider: &str) -> (Project, LoadedSuite) {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("promptops.yaml", &format!("providers:\n{providers}"));
    write("prompts/triage.yaml", PROMPT);
    let rows: String = (0..cases).map(|i| format!("I was charged twice for order {i},billing\n")).collect();
    write("eval-suites/data/tickets.csv", &format!("ticket,expected\n{rows}"));
    write(
        "eval-suites/bench.yaml",
        &format!(
            "targets: [triage]\nproviders: [{provider}]\ntests:\n  - dataset: data/tickets.csv\n    assert:\n      - {{ type: is-json }}\n      - {{ type: json-path, path: $.category, equals: \"{{{{ expected }}}}\" }}\n"
        ),
    );
    let suite = LoadedSuite::read(root, &root.join("eval-suites/bench.yaml")).expect("suite");
    (Project::open(root).expect("project"), suite)
}

struct Bench {
    _dir: tempfile::TempDir,
    project: Project,
    suite: LoadedSuite,
    store: Arc<dyn Store>,
    scope: Scope,
}

impl Bench {
    async fn new(cases: usize, providers: &str, provider: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (project, suite) = project(dir.path(), cases, providers, provider);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(project.database_path()).await.expect("store"));
        let scope = Principal::local("bench").authorize(Action::Run, "default").expect("scope");
        Self { _dir: dir, project, suite, store, scope }
    }

    fn providers(&self, no_cache: bool) -> Arc<dyn Backend> {
        let secrets = Secrets::new(Arc::new(|_: &str| None), Arc::new(MemoryKeyring::default()));
        let options = ProvidersOptions { no_cache, max_cost: None, secrets: Some(secrets) };
        let providers = Providers::new(&self.project, Arc::clone(&self.store), self.scope.clone(), options);
        Arc::new(ProvidersBackend::new(Arc::new(providers), self.project.root.clone()))
    }

    /// Plans and runs the suite; returns the wall time of both.
    async fn eval(&self, backend: Arc<dyn Backend>, concurrency: usize) -> Duration {
        let started = Instant::now();
        let prompts = ProjectPrompts { prompts_dir: self.project.prompts_dir(), registry: None };
        let overrides = Overrides::default();
        let input = PlanInput {
            root: &self.project.root,
            default_provider: None,
            prompts: &prompts,
            backend: backend.as_ref(),
            workflows: None,
            overrides: &overrides,
        };
        let plan = Arc::new(plan(&self.suite, &input).await.expect("plans"));
        let cases = plan.total();
        let runner = Runner::new(Arc::clone(&self.store), self.scope.clone(), backend);
        let settings =
            RunSettings { concurrency, actor: "bench".into(), git: None, on_progress: None, cancel: Cancel::default() };
        let run = runner.run(plan, &settings).await.expect("runs");
        assert_eq!(run.totals.passed, cases, "every case passes");
        started.elapsed()
    }
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn engine(runtime: &tokio::runtime::Runtime) {
    for (cases, runs) in [(10_000, 3), (1_000, 5)] {
        let bench = runtime.block_on(Bench::new(cases, "  - { id: fake, kind: echo }\n", "fake"));
        let m = measure(&format!("engine: {cases} cases, zero latency, concurrency 32"), runs, || {
            runtime.block_on(bench.eval(Arc::new(Instant0), 32))
        });
        let rss = if cases == 10_000 {
            format!("; peak RSS {:.1} MB", peak_rss_mb().unwrap_or(f64::NAN))
        } else {
            String::new()
        };
        println!("  → {:.0} cases/s{rss}", cases as f64 / m.median().as_secs_f64());
    }
}

fn latency(runtime: &tokio::runtime::Runtime) {
    let stub = runtime.block_on(Stub::start(
        StubConfig::new().reply(ANSWER).latency(Duration::from_millis(50)).record_requests(false),
    ));
    let providers = format!(
        "  - id: stub\n    kind: openai\n    model: gpt-4o-mini\n    base_url: {}\n    limits: {{ concurrency: 64 }}\n",
        stub.openai_base()
    );
    for (cases, concurrency) in [(200, 4), (1_000, 32)] {
        let ideal = 0.050 * cases as f64 / concurrency as f64;
        let bench = runtime.block_on(Bench::new(cases, &providers, "stub"));
        // Building the HTTP client (TLS roots) happens once per process; time it apart.
        let backend = bench.providers(true);
        let setup = Instant::now();
        backend.check_provider("stub").expect("resolves");
        let setup = setup.elapsed();
        let m = measure(&format!("stub at 50 ms: {cases} cases, concurrency {concurrency}"), 1, || {
            runtime.block_on(bench.eval(Arc::clone(&backend), concurrency))
        });
        println!(
            "  → ideal N·L/C {ideal:.2} s; {:+.1}% (HTTP client set-up before it: {setup:.1?})",
            (m.median().as_secs_f64() / ideal - 1.0) * 100.0
        );
    }
}

fn cached(runtime: &tokio::runtime::Runtime) {
    let bench = runtime.block_on(Bench::new(
        1_000,
        &format!("  - id: mock\n    kind: mock\n    default: '{ANSWER}'\n"),
        "mock",
    ));
    let first = runtime.block_on(bench.eval(bench.providers(false), 32));
    println!("cold run of 1,000 cases through the provider layers (fills the cache): {first:.3?}");
    measure("fully cached re-run: 1,000 cases, concurrency 32", 5, || {
        runtime.block_on(bench.eval(bench.providers(false), 32))
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    engine(&runtime);
    cached(&runtime);
    latency(&runtime);
}
