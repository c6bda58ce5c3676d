//! Benchmarks of the inference layer: the overhead of the whole layer stack per request
//! (cache, schema, budget, cost, retry, adaptive concurrency, concurrency limit, RPM/TPM,
//! timeout) against a zero-latency in-process provider; end-to-end throughput against the LLM
//! stub on 127.0.0.1 at zero latency; and resident memory over 100,000 requests.
//!
//! `cargo bench --bench providers` prints medians. Nothing here asserts a timing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptops::access::{Action, LOCAL_PROJECT, Principal};
use promptops::config::{Project, ProviderKind};
use promptops::money::Micros;
use promptops::provider::fake::Scripted;
use promptops::provider::layer::{self, Budget, BudgetLimits, CacheMode, RetryPolicy, StackSettings, StoreWriter};
use promptops::provider::pricing::PriceTable;
use promptops::provider::{ChatRequest, Provider, Providers, ProvidersOptions};
use promptops::secret::{MemoryKeyring, Secrets};
use promptops::store::{Scope, SqliteStore, Store};
use promptops_test_support::bench::measure;
use promptops_test_support::stub::{Stub, StubConfig};

const KEY: &str = "sk-bench";

fn scope() -> Scope {
    Principal::local("bench").authorize(Action::Run, LOCAL_PROJECT).expect("local user may run")
}

/// The full stack around a zero-latency fake, as `Providers` would build it for an HTTP provider.
fn full_stack(store: Arc<dyn Store>, cache: CacheMode) -> Arc<dyn Provider> {
    let writer = Arc::new(StoreWriter::new(Arc::clone(&store), scope()));
    let limits =
        BudgetLimits { invocation: Some(Micros(i64::MAX / 2)), daily: None, monthly: None, warn_per_mille: 800 };
    let settings = StackSettings {
        concurrency: Some(64),
        adaptive: true,
        rpm: Some(100_000_000),
        tpm: Some(u64::MAX / 4),
        timeout: Duration::from_secs(60),
        retry: RetryPolicy::default(),
        cache,
        cache_ttl: None,
        identity: "bench".to_owned(),
        prices: Arc::new(PriceTable::built_in()),
        free: false,
        budget: Some(Arc::new(Budget::new(limits, store, scope()))),
        writer: Some(writer),
    };
    let fake: Arc<dyn Provider> = Arc::new(Scripted::new("fake", "gpt-4o-mini"));
    layer::stack(fake, &settings)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sequential requests through `provider`; returns the time per request.
async fn sequential(provider: &Arc<dyn Provider>, from: usize, count: usize, distinct: bool) -> Duration {
    let start = Instant::now();
    for i in from..from + count {
        let text = if distinct { format!("request number {i}") } else { "the same request".to_owned() };
        provider.chat(&ChatRequest::user(text), None).await.expect("answers");
    }
    start.elapsed() / count as u32
}

fn overhead(runtime: &tokio::runtime::Runtime, store: &Arc<dyn Store>) {
    println!("\n# per-request overhead of the layer stack, zero-latency in-process provider");
    let bare: Arc<dyn Provider> = Arc::new(Scripted::new("fake", "gpt-4o-mini"));
    let off = full_stack(Arc::clone(store), CacheMode::Off);
    let on = full_stack(Arc::clone(store), CacheMode::ReadWrite);
    let mut next = 0;
    let mut per_request = |name: &str, provider: &Arc<dyn Provider>, distinct: bool| {
        let m = measure(name, 15, || {
            next += 1_000;
            runtime.block_on(sequential(provider, next, 1_000, distinct))
        });
        println!("{:<60} median {:>9.2} µs per request", "", m.median().as_secs_f64() / 1_000.0 * 1e6);
    };
    per_request("bare fake provider (1,000 requests)", &bare, true);
    per_request("full stack, cache off (1,000 requests)", &off, true);
    per_request("full stack, cache misses + writes (1,000 requests)", &on, true);
    per_request("full stack, cache hits (1,000 requests)", &on, false);
}

fn stub_throughput(runtime: &tokio::runtime::Runtime) {
    println!("\n# end to end against the stub on 127.0.0.1 at zero latency (Providers, full stack)");
    let (stub, providers, _dir) = runtime.block_on(async {
        let stub = Stub::start(StubConfig::new().record_requests(false).reply("ok")).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = format!(
            "providers:\n  - {{ id: fast, kind: openai, model: gpt-4o-mini, base_url: '{}', limits: {{ concurrency: 16 }} }}\n",
            stub.openai_base()
        );
        std::fs::write(dir.path().join("promptops.yaml"), yaml).expect("config");
        let project = Project::open(dir.path()).expect("project");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("p.db")).await.expect("store"));
        let secrets = Secrets::new(Arc::new(|name| (name == "OPENAI_API_KEY").then(|| KEY.to_owned())), Arc::new(MemoryKeyring::default()));
        let options = ProvidersOptions { no_cache: true, max_cost: None, secrets: Some(secrets) };
        (stub, Providers::new(&project, store, scope(), options), dir)
    });
    let provider = providers.get("fast").expect("resolves");
    assert_eq!(provider.info().kind, ProviderKind::Openai);
    let requests = 4_000;
    let m = measure("4,000 requests, 16 concurrent", 7, || {
        runtime.block_on(async {
            let tasks = (0..16).map(|worker| {
                let provider = Arc::clone(&provider);
                tokio::spawn(async move {
                    for i in 0..requests / 16 {
                        provider.chat(&ChatRequest::user(format!("{worker}-{i}")), None).await.expect("answers");
                    }
                })
            });
            futures::future::join_all(tasks).await;
        });
    });
    println!("{:<60} median {:>9.0} requests/s", "", f64::from(requests) / m.median().as_secs_f64());
    let single = measure("400 sequential requests", 7, || {
        runtime.block_on(async {
            for i in 0..400 {
                provider.chat(&ChatRequest::user(format!("seq {i}")), None).await.expect("answers");
            }
        })
    });
    println!("{:<60} median {:>9.1} µs per request", "", single.median().as_secs_f64() / 400.0 * 1e6);
    runtime.block_on(async {
        providers.flush().await.expect("flushed");
        stub.shutdown().await;
    });
}

fn memory(runtime: &tokio::runtime::Runtime, store: &Arc<dyn Store>) {
    println!("\n# resident memory over 100,000 requests (full stack, cache on, distinct requests)");
    let provider = full_stack(Arc::clone(store), CacheMode::ReadWrite);
    // Warm up: the SQLite page cache and the allocator's pools fill during the first requests.
    runtime.block_on(sequential(&provider, 10_000_000, 10_000, true));
    let before = rss_kib();
    let start = Instant::now();
    let mut samples = Vec::new();
    for round in 0..10 {
        runtime.block_on(sequential(&provider, 20_000_000 + round * 10_000, 10_000, true));
        samples.push(rss_kib());
    }
    let after = rss_kib();
    println!(
        "{:<60} RSS before {before} KiB, after {after} KiB ({:+} KiB) in {:.1?}",
        "100,000 requests",
        after as i64 - before as i64,
        start.elapsed()
    );
    let text: Vec<String> = samples.iter().map(|kib| format!("{}", kib / 1024)).collect();
    println!("{:<60} RSS every 10,000 requests (MiB): {}", "", text.join(" "));
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(runtime.block_on(SqliteStore::open(dir.path().join("bench.db"))).expect("store"));
    overhead(&runtime, &store);
    stub_throughput(&runtime);
    memory(&runtime, &store);
}
