//! Server-side runs: units per second through 1 and 2 replicas of `promptops serve` (in-process,
//! each on its own 2-thread runtime, as separate pods would be on this 2-core machine) with
//! `WORKERS` workers each, against the stub model at `LATENCY_MS` (50) on loopback, next to the
//! ideal workers × replicas / latency; and the claim statements' time per unit claimed.
//!
//! SQLite (one replica) always; with `PROMPTOPS_BENCH_POSTGRES_URL` also PostgreSQL with one and
//! two replicas. Sizes from `UNITS` (default "2000,8000"). Run with
//! `cargo bench --bench server_runs`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::start_server_with;
use promptops::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Overrides, PlanInput, ProjectPrompts};
use promptops::prompt::RenderedPrompt;
use promptops::runs::WorkerSettings;
use promptops_test_support::stub::{Stub, StubConfig};
use serde_json::{Value, json};

mod common;

const METRICS_TOKEN: &str = "bench-metrics-token";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Planning on the client's side: any provider name is the server's to check.
#[derive(Debug)]
struct AnyProvider;

#[async_trait]
impl Backend for AnyProvider {
    fn check_provider(&self, _: &str) -> Result<(), ProviderProblem> {
        Ok(())
    }
    async fn complete(&self, _: &str, _: &RenderedPrompt, _: u32) -> Result<Completion, CallError> {
        unreachable!("planning calls no model")
    }
    async fn embed(&self, _: &str, _: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        unreachable!("planning calls no model")
    }
}

/// A suite of `units` cases, five string assertions each, as `eval --on-server` sends it.
async fn spec(units: u64) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompt =
        "messages:\n  - role: user\n    content: 'Ticket {{ n }}: classify it'\nvariables:\n  n: { type: number }\n";
    let tests: String = (0..units).map(|n| format!("  - {{ name: case {n}, vars: {{ n: {n} }} }}\n")).collect();
    let suite = format!(
        "targets: [t]\nproviders: [fast]\nthreshold: 0.5\ndefaults:\n  assert:\n    - {{ type: contains, value: bill }}\n    - {{ type: icontains, value: BILL }}\n    - {{ type: regex, value: '^b' }}\n    - {{ type: equals, value: billing }}\n    - {{ type: not-contains, value: refund }}\ntests:\n{tests}"
    );
    std::fs::create_dir_all(dir.path().join("prompts")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("eval-suites")).expect("mkdir");
    std::fs::write(dir.path().join("prompts/t.yaml"), prompt).expect("write");
    std::fs::write(dir.path().join("eval-suites/s.yaml"), &suite).expect("write");
    let loaded = LoadedSuite::read(dir.path(), &dir.path().join("eval-suites/s.yaml")).expect("suite");
    let prompts = ProjectPrompts { prompts_dir: dir.path().join("prompts"), registry: None };
    let overrides = Overrides::default();
    let input = PlanInput {
        root: dir.path(),
        default_provider: None,
        prompts: &prompts,
        backend: &AnyProvider,
        workflows: None,
        overrides: &overrides,
    };
    let plan = promptops::eval::plan(&loaded, &input).await.expect("plan");
    json!({"suite": "eval-suites/s.yaml", "files": {"prompts/t.yaml": prompt, "eval-suites/s.yaml": suite}, "plan_hash": plan.hash})
}

/// A tenant with project `web` and connection `fast` to the stub; returns its admin token.
async fn provision(client: &reqwest::Client, base: &str, admin: &str, stub: &str) -> String {
    let post = |path: &str, token: &str, body: Value| {
        client.post(format!("{base}{path}")).bearer_auth(token).json(&body).send()
    };
    // One tenant per measurement: the PostgreSQL runs share a database.
    let port = base.rsplit(':').next().unwrap_or_default();
    let tenant = format!("bench{}-{port}", std::process::id());
    let created: Value = post("/api/v1/tenants", admin, json!({"id": tenant, "admin": "root"}))
        .await
        .expect("tenant")
        .json()
        .await
        .expect("json");
    let root = created["admin_token"]["token"].as_str().expect("token").to_owned();
    post("/api/v1/projects", &root, json!({"id": "web"})).await.expect("project");
    let connection = json!({"id": "fast", "kind": "openai", "model": "gpt-4o-mini", "base_url": stub,
        "limits": {"max_retries": 0, "concurrency": 1024}});
    let answer =
        post("/api/v1/projects/web/providers", &root, json!({"connection": connection, "api_key": "sk-bench"}))
            .await
            .expect("connection");
    assert_eq!(answer.status().as_u16(), 201);
    root
}

/// Submits a run of `units` units and waits for it to end; the wall time.
async fn run_once(client: &reqwest::Client, base: &str, token: &str, units: u64) -> Duration {
    let spec = spec(units).await;
    let started = Instant::now();
    let queued: Value = client
        .post(format!("{base}/api/v1/projects/web/runs/queue"))
        .bearer_auth(token)
        .json(&spec)
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    let id = queued["id"].as_u64().expect("run id");
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let report: Value = client
            .get(format!("{base}/api/v1/projects/web/runs/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        if report["run"]["status"] != "running" {
            assert_eq!(report["run"]["totals"]["done"].as_u64(), Some(units), "{}", report["run"]);
            return started.elapsed();
        }
    }
}

/// Claim time per unit claimed, from a replica's metrics.
async fn claim_cost(client: &reqwest::Client, base: &str) -> Option<Duration> {
    let text = client.get(format!("{base}/metrics")).bearer_auth(METRICS_TOKEN).send().await.ok()?.text().await.ok()?;
    let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()));
    let (seconds, claimed) = (value("promptops_run_claim_seconds_sum ")?, value("promptops_run_units_claimed_total ")?);
    (claimed > 0.0).then(|| Duration::from_secs_f64(seconds / claimed))
}

fn measure(label: &str, url: &str, replicas: usize, sizes: &[u64], workers: usize, latency: Duration) {
    let stub_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let stub =
        stub_runtime.block_on(Stub::start(StubConfig::new().record_requests(false).reply("billing").latency(latency)));
    let settings = WorkerSettings { slots: workers, poll: Duration::from_millis(50), ..WorkerSettings::default() };
    let servers: Vec<(String, String)> = (0..replicas)
        .map(|_| {
            let settings = settings.clone();
            start_server_with(url.to_owned(), move |config| {
                config.workers = Some(settings);
                config.metrics_token = Some(promptops::secret::SecretString::new(METRICS_TOKEN));
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
        let (base, admin) = &servers[0];
        let token = provision(&client, base, admin, &stub.openai_base()).await;
        let ideal = (workers * replicas) as f64 / latency.as_secs_f64();
        for &units in sizes {
            let wall = run_once(&client, base, &token, units).await;
            let rate = units as f64 / wall.as_secs_f64();
            println!(
                "{label}, {replicas} replica(s) × {workers} workers, {units} units: {:.2} s, {rate:.0} units/s ({:.0}% of the ideal {ideal:.0})",
                wall.as_secs_f64(),
                100.0 * rate / ideal
            );
        }
        for (base, _) in &servers {
            if let Some(per_unit) = claim_cost(&client, base).await {
                println!("{label}: claim time per unit claimed on {base}: {:.1} µs", per_unit.as_secs_f64() * 1e6);
            }
        }
    });
}

fn main() {
    let workers = usize::try_from(setting("WORKERS", 200)).unwrap_or(200);
    let latency = Duration::from_millis(setting("LATENCY_MS", 50));
    let sizes: Vec<u64> = std::env::var("UNITS")
        .unwrap_or_else(|_| "2000,8000".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    measure("SQLite", &format!("sqlite://{}", dir.path().join("bench.db").display()), 1, &sizes, workers, latency);
    if let Ok(url) = std::env::var("PROMPTOPS_BENCH_POSTGRES_URL") {
        measure("PostgreSQL", &url, 1, &sizes, workers, latency);
        measure("PostgreSQL", &url, 2, &sizes, workers, latency);
    }
}
