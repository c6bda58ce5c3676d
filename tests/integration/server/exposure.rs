//! What the server exposes and how it holds up (issue 13, findings 7, 9, 10): writes are audited
//! under the decoded names they acted on and when refused; `/metrics` needs its token or its own
//! port, and its labels are bounded and carry no tenant's names; slow headers are cut off,
//! connections are capped, and failed authentication is throttled per client address.

use std::time::{Duration, Instant};

use base64::Engine;
use promptops::server::limits::RateLimit;
use promptops::server::{self, AppState, Listeners};
use promptops::store::{CaseStatus, RunStatus};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::runs::result;
use super::{Backend, METRICS_TOKEN, TestServer, config, prompt_source};

pub async fn encoded_ids_are_audited_under_their_decoded_names(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let editor = acme.token("editor");
    let body = json!({"source": prompt_source("hi")});
    let (status, created) = server.post("/api/v1/projects/w%65b/prompts/support%2Ftriage", editor, body).await;
    assert_eq!(status, 201, "`w%65b` is served as `web`: {created}");
    let (_, log) = server.get("/api/v1/projects/web/audit?project=web&limit=1", acme.token("admin")).await;
    let entry = &log["items"][0];
    assert_eq!(entry["project"], "web", "{log}");
    assert_eq!(entry["target"], "/api/v1/projects/web/prompts/support/triage");
    assert_eq!(entry["actor"], "acme-editor");
    let (_, all) = server.get("/api/v1/audit?limit=500", &acme.admin).await;
    let text = all.to_string();
    assert!(!text.contains("w%65b") && !text.contains("%2F"), "no entry keeps the encoded form: {text}");
}

pub async fn refused_writes_are_audited(b: Backend) {
    let mut limited = config();
    limited.rate_limit = Some(RateLimit { per_second: 0.01, burst: 20.0 });
    let server = TestServer::on_with(b, limited).await;
    let acme = server.tenant("acme", "web").await;
    let path = "/api/v1/projects/web/prompts/p";
    let body = json!({"source": prompt_source("hi")});
    let (status, _) = server.post(path, "pot_not-a-real-token", body.clone()).await;
    assert_eq!(status, 401);
    let (status, _) = server.call(Method::DELETE, "/api/v1/tokens/tok_1", None, None).await;
    assert_eq!(status, 401);
    let editor = acme.token("editor");
    assert_eq!(server.post(path, editor, body.clone()).await.0, 201);
    for _ in 0..19 {
        assert_eq!(server.get("/api/v1/projects/web/prompts", editor).await.0, 200);
    }
    assert_eq!(server.post(path, editor, body).await.0, 429, "the editor's bucket of 20 is spent");

    let (_, system) = server.get("/api/v1/audit?actor=anonymous", &server.admin).await;
    let anonymous = system["items"].as_array().expect("items");
    let seen: Vec<(u64, &str)> = anonymous
        .iter()
        .map(|e| (e["status"].as_u64().expect("status"), e["action"].as_str().expect("action")))
        .collect();
    assert_eq!(
        seen,
        vec![(401, "DELETE /api/v1/tokens/{id}"), (401, "POST /api/v1/projects/{project}/prompts/{name}")],
        "refused credentials are audited in the system tenant: {system}"
    );
    assert!(anonymous.iter().all(|e| e["project"].is_null()), "the path's project is the client's claim");
    let (_, own) = server.get("/api/v1/projects/web/audit?actor=acme-editor", &acme.admin).await;
    let statuses: Vec<u64> =
        own["items"].as_array().expect("items").iter().filter_map(|e| e["status"].as_u64()).collect();
    assert_eq!(statuses, vec![429, 201], "a rate-limited write is audited under its caller: {own}");
}

pub async fn metrics_need_their_token_on_the_api_port(b: Backend) {
    let server = TestServer::on(b).await;
    let get = |token: Option<&str>| {
        let mut request = server.client.get(format!("{}/metrics", server.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("get").status().as_u16() }
    };
    assert_eq!(get(None).await, 401, "no token");
    assert_eq!(get(Some("wrong")).await, 401, "wrong token");
    assert_eq!(get(Some(&server.admin)).await, 401, "an API token is not the metrics token");
    assert_eq!(get(Some(METRICS_TOKEN)).await, 200);

    let mut untokened = config();
    untokened.metrics_token = None;
    let closed = TestServer::on_with(crate::store_conformance::sqlite().await, untokened).await;
    let response = closed.client.get(format!("{}/metrics", closed.base)).send().await.expect("get");
    assert_eq!(response.status(), 404, "without a token the API port does not serve /metrics");
}

pub async fn metrics_can_have_their_own_listener(b: Backend) {
    let mut untokened = config();
    untokened.metrics_token = None;
    let state = AppState::new(b.store.clone(), untokened);
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (api_base, metrics_base) = (address(&api), address(&metrics));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let listeners = Listeners { api, metrics: Some(metrics) };
        let shutdown = async {
            let _ = stopped.await;
        };
        server::serve(listeners, state, shutdown, Duration::from_secs(1)).await.expect("serve");
    });
    let client = reqwest::Client::new();
    let page = client.get(format!("{metrics_base}/metrics")).send().await.expect("get");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("text").contains("promptops_build_info"));
    let elsewhere = client.get(format!("{metrics_base}/api/v1/projects")).send().await.expect("get");
    assert_eq!(elsewhere.status(), 404, "the metrics port serves nothing else");
    let api_metrics = client.get(format!("{api_base}/metrics")).send().await.expect("get");
    assert_eq!(api_metrics.status(), 404, "and the API port does not serve /metrics");
    drop(stop);
}

fn address(listener: &tokio::net::TcpListener) -> String {
    format!("http://{}", listener.local_addr().expect("addr"))
}

/// A run of `acme` whose results used `providers` (one result each), as `eval --remote` uploads.
fn run_with_providers(providers: &[String]) -> Value {
    let results: Vec<_> = (0..providers.len())
        .map(|i| {
            let mut result = result(0, CaseStatus::Pass);
            result.unit.provider = u32::try_from(i).expect("few providers");
            result
        })
        .collect();
    json!({
        "run": {
            "id": 1, "suite": "s", "suite_path": "eval-suites/s.yaml", "description": null, "plan_hash": "h",
            "targets": [{"reference": "p", "name": "p", "hash": "h"}], "providers": providers, "threshold": 0.5,
            "total": providers.len(), "git_commit": null, "git_dirty": false, "actor": "acme-ci",
            "status": RunStatus::Passed, "started_at": "2026-01-01T00:00:00Z", "finished_at": null,
            "totals": {"done": 0, "passed": 0, "failed": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0, "cached": 0},
        },
        "results": results,
    })
}

/// The values a label takes across every sample of the page.
fn label_values(page: &str, label: &str) -> std::collections::BTreeSet<String> {
    let key = format!("{label}=\"");
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(&key).map(|(_, rest)| rest.split('"').next().unwrap_or_default().to_owned()))
        .collect()
}

pub async fn metrics_labels_are_bounded_and_name_no_tenant(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let runner = acme.token("runner");
    let named = vec![
        "acme-secret-llm:acme-finetune-v7".to_owned(),
        "openai:gpt-4o-mini-2024-07-18".to_owned(),
        "anthropic:claude-sonnet-4-20250514".to_owned(),
        "openai:gpt-4o-acme-distilled".to_owned(),
    ];
    assert_eq!(server.post("/api/v1/projects/web/runs", runner, run_with_providers(&named)).await.0, 201);
    for method in ["PROPFIND", "X-ONE", "X-TWO", "BREW"] {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        server.client.request(method, format!("{}/healthz", server.base)).send().await.expect("send");
    }
    // Read twice first, so that the page's own series exist before it is measured.
    server.metrics().await;
    let before = server.metrics().await.len();
    for batch in 0..4 {
        let many: Vec<String> = (0..50).map(|i| format!("provider-{batch}-{i}:model-{batch}-{i}")).collect();
        assert_eq!(server.post("/api/v1/projects/web/runs", runner, run_with_providers(&many)).await.0, 201);
    }
    let page = server.metrics().await;
    for secret in ["acme-secret-llm", "acme-finetune", "acme-distilled", "provider-0-0", "model-3-49", "PROPFIND"] {
        assert!(!page.contains(secret), "/metrics names `{secret}`:\n{page}");
    }
    let providers: Vec<String> = label_values(&page, "provider").into_iter().collect();
    assert_eq!(providers, vec!["anthropic", "openai", "other"]);
    let models: Vec<String> = label_values(&page, "model").into_iter().collect();
    assert_eq!(
        models,
        vec!["claude-sonnet-4", "gpt-4o", "gpt-4o-mini", "other"],
        "dated and suffixed models fold into their family"
    );
    let methods = label_values(&page, "method");
    assert!(methods.iter().all(|m| ["GET", "POST", "PUT", "other"].contains(&m.as_str())), "{methods:?}");
    assert!(methods.contains("other"));
    assert!(page.len() < before + 200, "200 more providers grew the page from {before} to {} bytes", page.len());
}

/// Writes `head` on a fresh connection and waits for the server to close it; returns how long
/// that took, or `None` if it stayed open for `patience`.
async fn closed_after(base: &str, head: &[u8], patience: Duration) -> Option<Duration> {
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.expect("connect");
    stream.write_all(head).await.expect("write");
    let started = Instant::now();
    let mut sink = Vec::new();
    match tokio::time::timeout(patience, stream.read_to_end(&mut sink)).await {
        Ok(_) => Some(started.elapsed()),
        Err(_) => None,
    }
}

pub async fn slow_headers_are_cut_off(b: Backend) {
    let mut quick = config();
    quick.connections.header_timeout = Duration::from_millis(300);
    let server = TestServer::on_with(b, quick).await;
    let partial = b"GET /healthz HTTP/1.1\r\nHost: test\r\n";
    let closed = closed_after(&server.base, partial, Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(3)),
        "a half-sent request was kept open: {closed:?}"
    );
    let silent = closed_after(&server.base, b"", Duration::from_secs(5)).await;
    assert!(silent.is_some(), "a connection that sends nothing is closed too");
    let response = server.client.get(format!("{}/healthz", server.base)).send().await.expect("get");
    assert_eq!(response.status(), 200, "whole requests are served as before");
}

pub async fn connections_beyond_the_cap_wait(b: Backend) {
    let mut capped = config();
    capped.connections.max_connections = 2;
    let server = TestServer::on_with(b, capped).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let first = tokio::net::TcpStream::connect(&address).await.expect("connect");
    let _second = tokio::net::TcpStream::connect(&address).await.expect("connect");
    let client = reqwest::Client::builder().timeout(Duration::from_millis(800)).build().expect("client");
    let waiting = client.get(format!("{}/healthz", server.base)).send().await;
    assert!(waiting.is_err(), "a third connection was served while two were open: {waiting:?}");
    drop(first);
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("{}/healthz", server.base)).send().await {
            assert_eq!(response.status(), 200);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the freed slot was never used");
    }
}

fn basic(public: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{public}:{secret}")))
}

/// The status of `GET path` with `authorization`, sent as if through a proxy for `client`.
async fn status_from(server: &TestServer, client: &str, path: &str, authorization: &str) -> (u16, Option<String>) {
    let response = server
        .client
        .get(format!("{}{path}", server.base))
        .header("Authorization", authorization)
        .header("X-Forwarded-For", client)
        .send()
        .await
        .expect("get");
    let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (response.status().as_u16(), retry)
}

pub async fn failed_authentication_is_throttled_per_client(b: Backend) {
    let mut throttled = config();
    throttled.auth_failures = Some(RateLimit { per_second: 0.01, burst: 3.0 });
    throttled.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    let server = TestServer::on_with(b, throttled).await;
    let admin = format!("Bearer {}", server.admin);
    let projects = "/api/v1/projects";
    for attempt in 0..3 {
        assert_eq!(status_from(&server, "203.0.113.1", projects, "Bearer pot_bad").await.0, 401, "attempt {attempt}");
    }
    let (status, retry) = status_from(&server, "203.0.113.1", projects, "Bearer eyJhbGciOiJIUzI1NiJ9.e30.bad").await;
    assert_eq!((status, retry.as_deref()), (429, Some("100")), "the fourth failure waits for a refill");
    assert_eq!(status_from(&server, "203.0.113.1", projects, &admin).await.0, 429, "throttled before the check");
    assert_eq!(status_from(&server, "203.0.113.2", projects, &admin).await.0, 200, "other clients are not");

    let langfuse = "/api/public/projects";
    for _ in 0..3 {
        assert_eq!(status_from(&server, "203.0.113.3", langfuse, &basic("pk-lf-x", "sk-lf-bad")).await.0, 401);
    }
    assert_eq!(status_from(&server, "203.0.113.3", langfuse, &basic("pk-lf-x", "sk-lf-bad")).await.0, 429);
    for _ in 0..3 {
        assert_eq!(status_from(&server, "203.0.113.4", "/metrics", "Bearer wrong").await.0, 401);
    }
    let metrics = format!("Bearer {METRICS_TOKEN}");
    assert_eq!(status_from(&server, "203.0.113.4", "/metrics", &metrics).await.0, 429, "metrics tokens count too");
}

pub async fn a_forwarded_address_is_believed_only_from_trusted_proxies(b: Backend) {
    let mut throttled = config();
    throttled.auth_failures = Some(RateLimit { per_second: 0.01, burst: 3.0 });
    let server = TestServer::on_with(b, throttled).await;
    for attempt in 0..3 {
        let spoofed = format!("198.51.100.{attempt}");
        assert_eq!(status_from(&server, &spoofed, "/api/v1/projects", "Bearer pot_bad").await.0, 401);
    }
    let (status, _) = status_from(&server, "198.51.100.99", "/api/v1/projects", "Bearer pot_bad").await;
    assert_eq!(status, 429, "a made-up X-Forwarded-For does not buy more attempts");
}

pub async fn a_throttled_write_is_audited(b: Backend) {
    let mut throttled = config();
    throttled.auth_failures = Some(RateLimit { per_second: 0.01, burst: 1.0 });
    let server = TestServer::on_with(b, throttled).await;
    let body = json!({"id": "evil"});
    assert_eq!(server.post("/api/v1/projects", "pot_bad", body.clone()).await.0, 401);
    let (status, refused) = server.post("/api/v1/projects", "pot_bad", body).await;
    assert_eq!(status, 429, "{refused}");
    // The admin's own requests come from the same address: its bucket refills too slowly, so read
    // the log through the store.
    let operator = promptops::access::Principal {
        subject: "operator".into(),
        tenant: server::SYSTEM_TENANT.into(),
        roles: Default::default(),
        tenant_admin: true,
        super_admin: true,
    };
    let scope = operator.authorize_tenant().expect("a tenant admin reads its tenant's log");
    let query = promptops::store::AuditQuery { limit: 10, ..Default::default() };
    let log = server.backend.store.audit_log(&scope, &query).await.expect("audit log");
    let statuses: Vec<(u16, &str)> = log.iter().map(|e| (e.status, e.actor.as_str())).collect();
    assert!(statuses.starts_with(&[(429, "anonymous"), (401, "anonymous")]), "{statuses:?}");
}

/// The sum of every `promptops_gateway_requests_total` sample of a metrics page.
fn gateway_requests(page: &str) -> u64 {
    page.lines()
        .filter(|l| l.starts_with("promptops_gateway_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The metrics page once the gateway has counted `calls` requests (traces are written behind
/// the answer).
async fn metrics_after(server: &TestServer, calls: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = server.metrics().await;
        if gateway_requests(&page) >= calls || Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn gateway_series_name_no_tenant_and_stay_bounded(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin = acme.token("admin");
    let connection = json!({"connection": {"id": "acme-secret-conn", "kind": "echo", "model": "acme-finetune-v9"}});
    assert_eq!(server.post("/api/v1/projects/web/providers", admin, connection).await.0, 201);
    let source = json!({"source": prompt_source("plan")});
    assert_eq!(server.post("/api/v1/projects/web/prompts/acme-secret-prompt", admin, source).await.0, 201);
    let label = "/api/v1/projects/web/prompts/acme-secret-prompt/labels/staging";
    assert_eq!(server.put(label, admin, json!({"version": 1})).await.0, 200);
    let (_, key) = server.post("/api/v1/projects/web/gateway/keys", admin, json!({})).await;
    let key = key["key"].as_str().expect("pog_ key").to_owned();
    let call = |model: String, prompt: Option<&'static str>| {
        let mut request = server.client.post(format!("{}/v1/chat/completions", server.base)).bearer_auth(&key);
        if let Some(prompt) = prompt {
            request = request.header("x-promptops-prompt", prompt);
        }
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "prompt_variables": {"topic": "t"}});
        async move { request.json(&body).send().await.expect("send").status().as_u16() }
    };
    assert_eq!(call("acme-secret-conn".into(), None).await, 200);
    assert_eq!(call("acme-secret-conn".into(), Some("acme-secret-prompt@staging")).await, 200);
    assert_eq!(call("acme-made-up-0".into(), None).await, 404);
    // Read once more, so that the page's own series (its route's histogram) exist before it is measured.
    metrics_after(&server, 3).await;
    let before = server.metrics().await.len();
    for i in 1..60 {
        assert_eq!(call(format!("acme-made-up-{i}"), None).await, 404);
    }
    let page = metrics_after(&server, 62).await;
    assert_eq!(gateway_requests(&page), 62, "every call is counted:\n{page}");
    for secret in ["acme-secret-conn", "acme-finetune", "acme-secret-prompt", "acme-made-up", "web"] {
        assert!(!page.contains(secret), "/metrics names `{secret}`:\n{page}");
    }
    assert!(page.len() < before + 200, "59 made-up models grew the page from {before} to {} bytes", page.len());
}
