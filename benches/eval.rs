//! Eval engine benchmarks (issue 4's targets): engine overhead ≥ 5,000 cases/s at zero latency
//! (1,000 and 10,000 cases); wall time within 10% of the ideal N·L/C at 50 ms latency with
//! concurrency 4 and 32; peak RSS < 100 MB at 10,000 cases (VmHWM of this process).
//! Every case is planned (dataset read, variables checked, assertions prepared), rendered,
//! answered, asserted (`is-json` + `json-path`) and written to a SQLite store.
//! Run: `cargo bench --bench eval`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use promptops::access::{Action, Principal};
use promptops::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Cancel, Overrides, PlanInput, ProjectPrompts, RunSettings, Runner, plan};
use promptops::prompt::RenderedPrompt;
use promptops::store::{SqliteStore, Store};
use promptops_test_support::bench::measure;

/// Answers every request with the same JSON after a fixed delay: the engine's cost alone.
#[derive(Debug)]
struct Fixed {
    latency: Duration,
}

#[async_trait]
impl Backend for Fixed {
    fn check_provider(&self, _: &str) -> Result<(), ProviderProblem> {
        Ok(())
    }
    async fn complete(&self, _: &str, _: &RenderedPrompt, _: u32) -> Result<Completion, CallError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Ok(Completion {
            text: r#"{"category": "billing", "urgency": "high"}"#.to_owned(),
            input_tokens: 40,
            output_tokens: 12,
            latency: self.latency,
            ..Completion::default()
        })
    }
    async fn embed(&self, _: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        Ok(texts.iter().map(|_| vec![1.0]).collect())
    }
}

const PROMPT: &str = "variables:\n  ticket: { type: string }\nmessages:\n  - role: system\n    content: Classify the ticket as JSON.\n  - role: user\n    content: \"Ticket: {{ ticket }}\"\n";

fn project(root: &Path, cases: usize) -> LoadedSuite {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("prompts/triage.yaml", PROMPT);
    let rows: String = (0..cases).map(|i| format!("I was charged twice for order {i},billing\n")).collect();
    write("eval-suites/data/tickets.csv", &format!("ticket,expected\n{rows}"));
    write(
        "eval-suites/bench.yaml",
        "targets: [triage]\nproviders: [fake]\ntests:\n  - dataset: data/tickets.csv\n    assert:\n      - { type: is-json }\n      - { type: json-path, path: $.category, equals: \"{{ expected }}\" }\n",
    );
    LoadedSuite::read(root, &root.join("eval-suites/bench.yaml")).expect("suite")
}

/// Plans and runs `cases` cases at `latency` and `concurrency`; returns the wall time.
fn eval(runtime: &tokio::runtime::Runtime, cases: usize, latency: Duration, concurrency: usize) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let suite = project(root, cases);
    runtime.block_on(async {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(root.join(".promptops/promptops.db")).await.expect("store"));
        let scope = Principal::local("bench").authorize(Action::Run, "default").expect("scope");
        let backend: Arc<dyn Backend> = Arc::new(Fixed { latency });
        let started = Instant::now();
        let prompts = ProjectPrompts { prompts_dir: root.join("prompts"), registry: None };
        let overrides = Overrides::default();
        let input = PlanInput {
            root,
            default_provider: None,
            prompts: &prompts,
            backend: backend.as_ref(),
            overrides: &overrides,
        };
        let plan = Arc::new(plan(&suite, &input).await.expect("plans"));
        let planned = started.elapsed();
        let runner = Runner::new(store, scope, backend);
        let settings =
            RunSettings { concurrency, actor: "bench".into(), git: None, on_progress: None, cancel: Cancel::default() };
        let run = runner.run(plan, &settings).await.expect("runs");
        assert_eq!(run.totals.passed as usize, cases);
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            eprintln!("    plan {planned:?}, run {:?}", started.elapsed() - planned);
        }
        started.elapsed()
    })
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if std::env::var_os("BENCH_LATENCY_ONLY").is_none() {
        zero_latency(&runtime);
    }
    for (cases, concurrency) in [(200, 4), (1_000, 32)] {
        let latency = Duration::from_millis(50);
        let ideal = latency.as_secs_f64() * cases as f64 / concurrency as f64;
        let m = measure(&format!("eval {cases} cases, 50 ms latency, concurrency {concurrency}"), 1, || {
            eval(&runtime, cases, latency, concurrency)
        });
        println!("  → ideal N·L/C {ideal:.2}s; {:+.1}% over", (m.median().as_secs_f64() / ideal - 1.0) * 100.0);
    }
}

fn zero_latency(runtime: &tokio::runtime::Runtime) {
    let ten_k =
        measure("eval 10,000 cases, zero latency, concurrency 32", 3, || eval(runtime, 10_000, Duration::ZERO, 32));
    println!(
        "  → {:.0} cases/s; peak RSS {:.1} MB",
        10_000.0 / ten_k.median().as_secs_f64(),
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    let one_k =
        measure("eval 1,000 cases, zero latency, concurrency 32", 5, || eval(runtime, 1_000, Duration::ZERO, 32));
    println!("  → {:.0} cases/s", 1_000.0 / one_k.median().as_secs_f64());
}
