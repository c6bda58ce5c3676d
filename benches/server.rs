//! Fetching a prompt by label from `promptops serve` over loopback, through the native route
//! (`/api/v1`, API token) and the Langfuse-compatible one (`/api/public/v2`, key pair over HTTP
//! Basic, what the Langfuse SDK calls), one after the other: requests per second and latency
//! percentiles. The server runs in-process on its own runtime (SQLite, rate limit off);
//! the load generator is a second runtime with keep-alive connections. Both share the machine,
//! as they would on a 2-core CI box. Run with `cargo bench --bench server` (`SECONDS=` and
//! `CONNECTIONS=` override the defaults, 5 s and 32).

use std::time::{Duration, Instant};

use common::start_server;
use serde_json::json;

mod common;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn setup(client: &reqwest::Client, base: &str, token: &str) {
    let send = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        client.request(method, format!("{base}{path}")).bearer_auth(token).json(&body).send()
    };
    send(reqwest::Method::POST, "/api/v1/projects", json!({"id": "bench"})).await.expect("project");
    let source =
        "messages:\n  - role: user\n    content: \"Summarise {{ text }}\"\nvariables:\n  text: { type: string }\n";
    let created =
        send(reqwest::Method::POST, "/api/v1/projects/bench/prompts/support%2Ftriage", json!({"source": source}))
            .await
            .expect("version");
    assert_eq!(created.status(), 201);
    let moved = send(
        reqwest::Method::PUT,
        "/api/v1/projects/bench/prompts/support%2Ftriage/labels/production",
        json!({"version": 1}),
    )
    .await
    .expect("label");
    assert_eq!(moved.status(), 200);
}

/// An admin key pair of the bench project, as the `Authorization: Basic` value the SDK sends.
async fn key_pair(client: &reqwest::Client, base: &str, token: &str) -> String {
    let created = client
        .post(format!("{base}/api/v1/projects/bench/keys"))
        .bearer_auth(token)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .expect("key pair");
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.expect("key pair body");
    let pair = format!("{}:{}", body["public_key"].as_str().expect("pk"), body["secret_key"].as_str().expect("sk"));
    format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair))
}

/// Fetches `url` with `authorization` from `connections` keep-alive connections for `seconds`
/// and prints the rate and latency percentiles under `what`.
async fn measure(what: &str, client: &reqwest::Client, url: &str, authorization: &str, seconds: u64, connections: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, authorization) = (client.clone(), url.to_owned(), authorization.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let response = client.get(&url).header("authorization", &authorization).send().await.expect("get");
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("body");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<Duration> =
        futures::future::join_all(workers).await.into_iter().flat_map(|r| r.expect("worker")).collect();
    let elapsed = started.elapsed();
    all.sort();
    #[expect(clippy::cast_precision_loss, reason = "a request count")]
    let rate = all.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{what}: {} requests in {:.1} s over {connections} connections: {rate:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        all.len(),
        elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn main() {
    let seconds = setting("SECONDS", 5);
    let connections = setting("CONNECTIONS", 32);
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, token) = start_server(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let client = reqwest::Client::builder().pool_max_idle_per_host(connections as usize).build().expect("client");
        setup(&client, &base, &token).await;
        let native = format!("{base}/api/v1/projects/bench/prompts/support%2Ftriage?label=production");
        measure(
            "fetch by label (native, API token)",
            &client,
            &native,
            &format!("Bearer {token}"),
            seconds,
            connections,
        )
        .await;
        let basic = key_pair(&client, &base, &token).await;
        let langfuse = format!("{base}/api/public/v2/prompts/support%2Ftriage?label=production");
        measure("fetch by label (Langfuse, key pair)", &client, &langfuse, &basic, seconds, connections).await;
    });
}
