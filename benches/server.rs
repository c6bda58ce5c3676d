//! Fetching a prompt by label from `promptops serve` over loopback: requests per second and
//! latency percentiles. The server runs in-process on its own runtime (SQLite, rate limit off);
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
        let url = format!("{base}/api/v1/projects/bench/prompts/support%2Ftriage?label=production");
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                let (client, url, token) = (client.clone(), url.clone(), token.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        let response = client.get(&url).bearer_auth(&token).send().await.expect("get");
                        assert_eq!(response.status(), 200);
                        response.bytes().await.expect("body");
                        latencies.push(sent.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all: Vec<Duration> = futures::future::join_all(workers).await.into_iter().flat_map(|r| r.expect("worker")).collect();
        let elapsed = started.elapsed();
        all.sort();
        #[expect(clippy::cast_precision_loss, reason = "a request count")]
        let rate = all.len() as f64 / elapsed.as_secs_f64();
        println!(
            "fetch by label: {} requests in {:.1} s over {connections} connections: {rate:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            all.len(),
            elapsed.as_secs_f64(),
            percentile(&all, 0.50).as_secs_f64() * 1000.0,
            percentile(&all, 0.99).as_secs_f64() * 1000.0,
        );
    });
}
