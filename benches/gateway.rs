//! The gateway's overhead: chat completions through `promptops serve` against the stub model on
//! loopback, with a gateway key, its limits, a budget and tracing on, compared in the same run
//! with the same requests sent straight to the stub. Two loads:
//!
//! - open loop at `RATE` requests/s (default 1,000) for `SECONDS` (default 5), gateway and direct
//!   calls interleaved: p50 and p99 of each, and the difference (the overhead);
//! - closed loop with `CONNECTIONS` (default 32) keep-alive connections for `SECONDS`: sustained
//!   requests/s through the gateway, and straight to the stub.
//!
//! SQLite by default; with `PROMPTOPS_BENCH_POSTGRES_URL` the server runs on PostgreSQL, where
//! requests are admitted from the shares of rate and budget the replica leased (a round trip per
//! chunk, mostly ahead of need). Run with `cargo bench --bench gateway`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::start_server_at;
use promptops_test_support::stub::{Stub, StubConfig};
use serde_json::{Value, json};

mod common;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a list"
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// A tenant, a project, a connection to the stub and a gateway key with limits and a budget.
async fn setup(client: &reqwest::Client, base: &str, admin: &str, stub: &str) -> String {
    let tenant = format!("bench{}", std::process::id());
    let post = |path: String, token: String, body: Value| {
        let request = client.post(format!("{base}{path}")).bearer_auth(token).json(&body);
        async move { request.send().await.expect("send").json::<Value>().await.expect("json") }
    };
    let created = post("/api/v1/tenants".into(), admin.into(), json!({"id": tenant, "admin": "root"})).await;
    let root = created["admin_token"]["token"].as_str().expect("token").to_owned();
    post("/api/v1/projects".into(), root.clone(), json!({"id": "web"})).await;
    let connection = json!({"id": "fast", "kind": "openai", "model": "gpt-4o-mini", "base_url": stub,
        "limits": {"max_retries": 0, "concurrency": 256}});
    post(
        "/api/v1/projects/web/providers".into(),
        root.clone(),
        json!({"connection": connection, "api_key": "sk-bench-1234"}),
    )
    .await;
    let limits = json!({"rpm": 10_000_000, "tpm": 10_000_000_000_u64, "budget": {"daily_usd": 1_000_000.0}});
    let key = post("/api/v1/projects/web/gateway/keys".into(), root, json!({"limits": limits})).await;
    key["key"].as_str().expect("gateway key").to_owned()
}

fn body() -> Value {
    json!({"model": "fast", "max_tokens": 16, "messages": [{"role": "user", "content": "Classify: I was charged twice."}]})
}

async fn call(client: &reqwest::Client, url: &str, key: &str, model: &str) -> Duration {
    let mut body = body();
    body["model"] = json!(model);
    let started = Instant::now();
    let response = client.post(url).bearer_auth(key).json(&body).send().await.expect("send");
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.expect("body");
    started.elapsed()
}

/// Open loop: one request every `1/rate` s, alternating gateway and direct.
async fn open_loop(client: &reqwest::Client, targets: [(String, String, String); 2], rate: u64, seconds: u64) {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = rate * seconds;
    let mut tasks = Vec::with_capacity(total as usize);
    let start = tokio::time::Instant::now();
    let targets = Arc::new(targets);
    for n in 0..total {
        tokio::time::sleep_until(start + interval * u32::try_from(n).unwrap_or(u32::MAX)).await;
        let (client, targets) = (client.clone(), Arc::clone(&targets));
        tasks.push(tokio::spawn(async move {
            let (url, key, model) = &targets[(n % 2) as usize];
            ((n % 2) as usize, call(&client, url, key, model).await)
        }));
    }
    let mut samples = [Vec::new(), Vec::new()];
    for task in tasks {
        let (which, took) = task.await.expect("task");
        samples[which].push(took);
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    let mut p = [[Duration::ZERO; 2]; 2];
    for (which, list) in samples.iter_mut().enumerate() {
        list.sort();
        p[which] = [percentile(list, 0.5), percentile(list, 0.99)];
        let name = ["through the gateway", "straight to the stub"][which];
        println!(
            "open loop {rate} req/s ({achieved:.0} achieved), {name:<22} p50 {:>9.3?}  p99 {:>9.3?}",
            p[which][0], p[which][1]
        );
    }
    println!(
        "gateway overhead at {rate} req/s: p50 +{:.3?}, p99 +{:.3?}",
        p[0][0].saturating_sub(p[1][0]),
        p[0][1].saturating_sub(p[1][1])
    );
}

/// Closed loop: `connections` callers back to back for `seconds`.
async fn closed_loop(
    client: &reqwest::Client,
    target: (String, String, String),
    connections: u64,
    seconds: u64,
    name: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let target = Arc::new(target);
    let workers = (0..connections).map(|_| {
        let (client, target) = (client.clone(), Arc::clone(&target));
        tokio::spawn(async move {
            let mut done = 0_u64;
            while Instant::now() < deadline {
                call(&client, &target.0, &target.1, &target.2).await;
                done += 1;
            }
            done
        })
    });
    let done: u64 = futures::future::join_all(workers).await.into_iter().map(|r| r.expect("worker")).sum();
    #[expect(clippy::cast_precision_loss, reason = "a request count")]
    let rate = done as f64 / seconds as f64;
    println!("closed loop, {connections} connections, {name:<22} {rate:>9.0} req/s");
}

fn main() {
    let (seconds, rate, connections) = (setting("SECONDS", 5), setting("RATE", 1000), setting("CONNECTIONS", 32));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = std::env::var("PROMPTOPS_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    println!("database: {}", if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" });
    let (base, admin) = start_server_at(url);
    let stub_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let stub = stub_runtime.block_on(Stub::start(StubConfig::new().record_requests(false).reply("billing")));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");
        let key = setup(&client, &base, &admin, &stub.openai_base()).await;
        let gateway = (format!("{base}/v1/chat/completions"), key, "fast".to_owned());
        let direct =
            (format!("{}/chat/completions", stub.openai_base()), "sk-bench-1234".to_owned(), "gpt-4o-mini".to_owned());
        for _ in 0..200 {
            call(&client, &gateway.0, &gateway.1, &gateway.2).await;
            call(&client, &direct.0, &direct.1, &direct.2).await;
        }
        open_loop(&client, [gateway.clone(), direct.clone()], rate, seconds).await;
        closed_loop(&client, gateway, connections, seconds, "through the gateway").await;
        closed_loop(&client, direct, connections, seconds, "straight to the stub").await;
    });
}
