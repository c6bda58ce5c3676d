//! The inference gateway over real HTTP, against the LLM stub on loopback: provider keys sealed at
//! rest and never answered, master-key rotation, the SSRF guard, who may manage connections,
//! budgets that hold under concurrency, a client hanging up (the upstream call cancelled, the
//! slot given back), fallbacks that say so on plain and streamed answers, a cache that keeps
//! only successful answers, and traces the store refuses counted and shown, never dropped quietly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use promptops::gateway::rotate_master_key;
use promptops::vault::MasterKey;
use promptops_test_support::stub::{Fault, Stub, StubConfig};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Backend, TestServer, config};

const KEY: &str = "sk-live-test-0123456789-wxyz";
const PROVIDERS: &str = "/api/v1/projects/web/providers";

/// A connection to the stub, priced at 1 and 2 µ$ per input and output token.
fn connection(stub: &Stub, id: &str) -> Value {
    json!({
        "id": id, "kind": "openai", "model": "gpt-test", "base_url": stub.openai_base(),
        "pricing": {"input": 1.0, "output": 2.0}, "limits": {"max_retries": 0},
    })
}

async fn add_connection(server: &TestServer, admin: &str, stub: &Stub, id: &str) {
    let (status, body) =
        server.post(PROVIDERS, admin, json!({"connection": connection(stub, id), "api_key": KEY})).await;
    assert_eq!(status, 201, "{body}");
}

async fn gateway_key(server: &TestServer, admin: &str, limits: Value) -> String {
    let (status, body) = server.post("/api/v1/projects/web/gateway/keys", admin, json!({"limits": limits})).await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().expect("key").to_owned()
}

/// `POST /v1/…` with a gateway key: the response as it came.
async fn v1_response(server: &TestServer, key: &str, path: &str, body: &Value) -> reqwest::Response {
    server.client.post(format!("{}{path}", server.base)).bearer_auth(key).json(body).send().await.expect("send")
}

/// `POST /v1/…` with a gateway key: status, `Retry-After`, JSON.
async fn v1(server: &TestServer, key: &str, path: &str, body: Value) -> (u16, Option<String>, Value) {
    let response = v1_response(server, key, path, &body).await;
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(ToOwned::to_owned);
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

fn hello(model: &str) -> Value {
    json!({"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}]})
}

/// Every byte the database holds about its rows, as text: the SQLite files, or PostgreSQL's rows.
async fn stored_text(backend: &Backend) -> String {
    if let Some(path) = backend.url.strip_prefix("sqlite://") {
        let mut all = Vec::new();
        for suffix in ["", "-wal"] {
            all.extend(std::fs::read(format!("{path}{suffix}")).unwrap_or_default());
        }
        return String::from_utf8_lossy(&all).into_owned();
    }
    let (client, connection) =
        tokio_postgres::connect(&backend.url, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    let rows = client
        .query("SELECT row_to_json(c)::TEXT FROM provider_connections c UNION ALL SELECT row_to_json(a)::TEXT FROM audit_log a", &[])
        .await
        .expect("rows");
    rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
}

pub async fn provider_keys_are_sealed_at_rest_and_never_answered(b: Backend) {
    let stub = Stub::start(StubConfig::new().require_api_key(KEY)).await;
    let master = MasterKey::generate();
    let mut settings = config();
    settings.master_key = Some(Arc::new(master.clone()));
    let server = TestServer::on_with(b, settings).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    let (status, list) = server.get(PROVIDERS, acme.token("admin")).await;
    assert_eq!((status, list[0]["key"].as_str()), (200, Some("…wxyz")));
    assert!(!list.to_string().contains(KEY), "a listing returned the key: {list}");
    let key = gateway_key(&server, acme.token("admin"), json!({})).await;
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("fast")).await;
    assert_eq!(status, 200, "the sealed key did not open for the call: {answer}");
    let stored = stored_text(&server.backend).await;
    assert!(stored.contains("pmk1."), "no sealed key found where it was expected");
    for secret in [KEY.to_owned(), master.to_hex().expose().to_owned()] {
        assert!(!stored.contains(&secret), "the database holds a secret in clear");
    }
}

pub async fn a_rotated_master_key_opens_every_key_and_the_old_one_none(b: Backend) {
    let stub = Stub::start(StubConfig::new().require_api_key(KEY)).await;
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let mut settings = config();
    settings.master_key = Some(Arc::new(old.clone()));
    let server = TestServer::on_with(b, settings).await;
    let acme = server.tenant("acme", "web").await;
    for id in ["fast", "slow"] {
        add_connection(&server, acme.token("admin"), &stub, id).await;
    }
    let key = gateway_key(&server, acme.token("admin"), json!({})).await;
    let store = server.backend.reopen().await;
    let wrong = MasterKey::generate();
    assert!(rotate_master_key(store.as_ref(), &wrong, &new).await.is_err(), "a wrong old key must stop the rotation");
    assert_eq!(rotate_master_key(store.as_ref(), &old, &new).await.expect("rotates"), 2);
    assert_eq!(
        rotate_master_key(store.as_ref(), &old, &new).await.expect("again"),
        0,
        "a second run has nothing to do"
    );
    server.state.gateway.forget();
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("slow")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (503, Some("provider_unavailable")), "{answer}");
    let mut settings = config();
    settings.master_key = Some(Arc::new(new));
    let rotated = TestServer::on_with(server.backend, settings).await;
    let (status, _, answer) = v1(&rotated, &key, "/v1/chat/completions", hello("slow")).await;
    assert_eq!(status, 200, "the new master key did not open the key: {answer}");
}

pub async fn internal_provider_hosts_and_exec_are_refused(b: Backend) {
    let stub = Stub::start(StubConfig::new()).await;
    let mut settings = config();
    settings.allowed_provider_hosts = Vec::new();
    let server = TestServer::on_with(b, settings).await;
    let acme = server.tenant("acme", "web").await;
    let admin = acme.token("admin");
    for url in [stub.openai_base(), "http://169.254.169.254/v1".to_owned(), "http://[::1]:8080/v1".to_owned()] {
        let body = json!({"connection": {"id": "x", "kind": "openai", "model": "m", "base_url": url}});
        let (status, answer) = server.post(PROVIDERS, admin, body).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("provider_host_refused")), "{url}: {answer}");
        assert_eq!(answer["error"]["path"], "connection.base_url");
    }
    let exec = json!({"connection": {"id": "x", "kind": "exec"}});
    let (status, answer) = server.post(PROVIDERS, admin, exec).await;
    assert_eq!((status, answer["error"]["path"].as_str()), (400, Some("connection.kind")), "{answer}");
    let (status, list) = server.get(PROVIDERS, admin).await;
    assert_eq!((status, list), (200, json!([])), "a refused connection was stored");
}

pub async fn without_a_master_key_keys_are_refused_with_a_hint(b: Backend) {
    let stub = Stub::start(StubConfig::new()).await;
    let mut settings = config();
    settings.master_key = None;
    let server = TestServer::on_with(b, settings).await;
    let acme = server.tenant("acme", "web").await;
    let body = json!({"connection": connection(&stub, "fast"), "api_key": KEY});
    let (status, answer) = server.post(PROVIDERS, acme.token("admin"), body).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("no_master_key")), "{answer}");
    assert!(answer["error"]["hint"].as_str().unwrap_or("").contains("PROMPTOPS_MASTER_KEY"), "{answer}");
}

pub async fn connections_need_an_admin_and_keys_stay_in_their_tenant(b: Backend) {
    let stub = Stub::start(StubConfig::new()).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let globex = server.tenant("globex", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    for role in ["viewer", "runner", "editor"] {
        let (status, _) = server.get(PROVIDERS, acme.token(role)).await;
        assert_eq!(status, 403, "{role} listed connections");
        let body = json!({"connection": connection(&stub, "mine")});
        assert_eq!(server.post(PROVIDERS, acme.token(role), body).await.0, 403, "{role} added a connection");
    }
    let (status, list) = server.get(PROVIDERS, globex.token("owner")).await;
    assert_eq!((status, list), (200, json!([])), "another tenant's project of the same name shows its own, empty list");
    let key = gateway_key(&server, acme.token("admin"), json!({"models": ["fast"]})).await;
    let (status, answer) = server.call(Method::GET, PROVIDERS, Some(&key), None).await;
    assert_eq!(status, 401, "a gateway key opened /api/v1: {answer}");
    let (status, _, answer) = v1(&server, acme.token("owner"), "/v1/chat/completions", hello("fast")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("invalid_api_key")), "{answer}");
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("other")).await;
    assert_eq!((status, answer["error"]["type"].as_str()), (403, Some("permission_error")), "{answer}");
    let globex_key = gateway_key(&server, globex.token("admin"), json!({})).await;
    let (status, _, answer) = v1(&server, &globex_key, "/v1/chat/completions", hello("fast")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("model_not_found")), "{answer}");
}

pub async fn fifty_concurrent_calls_never_overspend_a_budget_of_three(b: Backend) {
    // Each call costs what it reserves: 2 input tokens at 1 µ$ and 10 output tokens at 2 µ$.
    let stub = Stub::start(StubConfig::new().reply("x".repeat(200)).latency(Duration::from_millis(100))).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    let key = gateway_key(&server, acme.token("admin"), json!({"budget": {"daily_usd": 0.000066}})).await;
    let calls = (0..50).map(|_| v1(&server, &key, "/v1/chat/completions", hello("fast")));
    let outcomes = futures::future::join_all(calls).await;
    let ok = outcomes.iter().filter(|(s, ..)| *s == 200).count();
    let refused = outcomes.iter().filter(|(s, _, a)| *s == 429 && a["error"]["code"] == "budget_exceeded").count();
    assert_eq!((ok, refused), (3, 47), "{:?}", outcomes.iter().map(|o| o.0).collect::<Vec<_>>());
    server.state.gateway.traces.flush().await.expect("nothing lost");
    let (_, traces) = server.get("/api/v1/projects/web/traces?limit=100", acme.token("viewer")).await;
    let spent: i64 = traces["items"].as_array().expect("items").iter().map(|t| t["cost"].as_i64().unwrap_or(0)).sum();
    assert_eq!(spent, 66, "settled spend must equal three calls, never more");
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("fast")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (429, Some("budget_exceeded")), "spent is spent");
}

/// PostgreSQL: two replicas lease shares of one budget, and together still never overspend it.
pub async fn two_replicas_never_overspend_a_budget_of_three_between_them(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("x".repeat(200)).latency(Duration::from_millis(100))).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    let key = gateway_key(&server, acme.token("admin"), json!({"budget": {"daily_usd": 0.000066}})).await;
    // The same master key, or the replica could not open the connection's key.
    let master_key = server.state.config.master_key.clone();
    let (replica, _stop) = server.replica_with(promptops::server::ServerConfig { master_key, ..config() }).await;
    let calls = (0..50).map(|n| {
        let (client, key) = (server.client.clone(), key.clone());
        let base = if n % 2 == 0 { server.base.clone() } else { replica.clone() };
        async move {
            let url = format!("{base}/v1/chat/completions");
            let response = client.post(url).bearer_auth(key).json(&hello("fast")).send().await.expect("send");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    });
    let outcomes = futures::future::join_all(calls).await;
    let ok = outcomes.iter().filter(|(s, _)| *s == 200).count();
    let refused = outcomes.iter().filter(|(s, a)| *s == 429 && a["error"]["code"] == "budget_exceeded").count();
    assert_eq!((ok, refused), (3, 47), "{:?}", outcomes.iter().map(|o| o.0).collect::<Vec<_>>());
    assert_eq!(stub.request_count(), 3, "no refused call reached the model");
}

pub async fn a_model_without_a_price_is_refused_where_a_budget_applies(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("hi")).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let mut unpriced = connection(&stub, "free");
    unpriced.as_object_mut().expect("object").remove("pricing");
    let (status, body) =
        server.post(PROVIDERS, acme.token("admin"), json!({"connection": unpriced, "api_key": KEY})).await;
    assert_eq!(status, 201, "{body}");
    let budgeted = gateway_key(&server, acme.token("admin"), json!({"budget": {"daily_usd": 1.0}})).await;
    let (status, _, answer) = v1(&server, &budgeted, "/v1/chat/completions", hello("free")).await;
    let error = (answer["error"]["code"].as_str(), answer["error"]["param"].as_str());
    assert_eq!((status, error), (400, (Some("model_not_priced"), Some("model"))), "{answer}");
    assert_eq!(stub.request_count(), 0, "the refused call never reached the model");
    let unbudgeted = gateway_key(&server, acme.token("admin"), json!({})).await;
    assert_eq!(
        v1(&server, &unbudgeted, "/v1/chat/completions", hello("free")).await.0,
        200,
        "no budget, no price needed"
    );
}

pub async fn each_end_user_of_a_key_has_a_budget_of_their_own(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("x".repeat(200))).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    // A call costs 22 µ$, what it reserves: two calls per end user and day.
    let key = gateway_key(&server, acme.token("admin"), json!({"user_budget": {"daily_usd": 0.000044}})).await;
    let by = |user: &str| {
        let mut body = hello("fast");
        body["user"] = json!(user);
        body
    };
    for _ in 0..2 {
        assert_eq!(v1(&server, &key, "/v1/chat/completions", by("ada")).await.0, 200);
    }
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", by("ada")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (429, Some("budget_exceeded")), "{answer}");
    assert_eq!(v1(&server, &key, "/v1/chat/completions", by("bob")).await.0, 200, "bob's budget is his own");
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("fast")).await;
    let error = (answer["error"]["code"].as_str(), answer["error"]["param"].as_str());
    assert_eq!((status, error), (400, (Some("missing_user"), Some("user"))), "{answer}");
    for bad in [json!(""), json!("u".repeat(257)), json!(7)] {
        let mut body = hello("fast");
        body["user"] = bad;
        let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", body).await;
        assert_eq!((status, answer["error"]["param"].as_str()), (400, Some("user")), "{answer}");
    }
    assert_eq!(stub.request_count(), 3, "no refused call reached the model");
}

pub async fn an_end_user_named_in_the_key_has_that_budget_in_place_of_everyones(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("x".repeat(200))).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    // A call costs 22 µ$: one call a day for every end user, three for `vip`.
    let limits = json!({"user_budget": {"daily_usd": 0.000022}, "user_budgets": {"vip": {"daily_usd": 0.000066}}});
    let key = gateway_key(&server, acme.token("admin"), limits).await;
    let status_for = |user: &'static str| {
        let mut body = hello("fast");
        body["user"] = json!(user);
        let (server, key) = (&server, &key);
        async move { v1(server, key, "/v1/chat/completions", body).await.0 }
    };
    assert_eq!((status_for("ada").await, status_for("ada").await), (200, 429), "everyone's budget");
    let vip = [status_for("vip").await, status_for("vip").await, status_for("vip").await, status_for("vip").await];
    assert_eq!(vip, [200, 200, 200, 429], "vip's own budget");
    let (_, keys) = server.get("/api/v1/projects/web/gateway/keys", acme.token("admin")).await;
    assert_eq!(keys[0]["limits"]["user_budgets"]["vip"]["daily_usd"], 0.000066, "{keys}");
    assert_eq!(stub.request_count(), 4, "no refused call reached the model");
}

pub async fn a_client_that_hangs_up_cancels_the_upstream_call(b: Backend) {
    let config = StubConfig::new().reply("word ".repeat(400)).chunk_delay(Duration::from_millis(20));
    let stub = Stub::start(config).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    let key = gateway_key(&server, acme.token("admin"), json!({})).await;
    let body = json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "talk"}]});
    let response = server
        .client
        .post(format!("{}/v1/chat/completions", server.base))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status().as_u16(), 200);
    let mut chunks = response.bytes_stream();
    for _ in 0..3 {
        chunks.next().await.expect("a chunk").expect("bytes");
    }
    assert_eq!(stub.in_flight(), 1, "the upstream stream is running");
    drop(chunks);
    let started = Instant::now();
    while stub.in_flight() > 0 {
        assert!(started.elapsed() < Duration::from_secs(3), "the upstream call outlived the client");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.state.gateway.traces.flush().await.expect("nothing lost");
    let (_, traces) = server.get("/api/v1/projects/web/traces", acme.token("viewer")).await;
    let trace = &traces["items"][0];
    assert_eq!(trace["status"], "cancelled", "{trace}");
    assert!(trace["output_tokens"].as_u64().unwrap_or(0) > 0, "the tokens seen are charged: {trace}");
    let (_, usage) = server.get("/api/v1/projects/web/usage?by=model", acme.token("viewer")).await;
    let row = &usage[0];
    assert_eq!((row["key"].as_str(), row["requests"].as_u64()), (Some("gpt-test"), Some(1)), "{usage}");
    assert_eq!(row["cost"], trace["cost"], "the ledger `cost` reads holds what the cut call was charged: {usage}");
}

/// A streamed call's body as text, with its status and headers.
async fn stream_text(server: &TestServer, key: &str, model: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let body = json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hello"}]});
    let response =
        server.client.post(format!("{}/v1/chat/completions", server.base)).bearer_auth(key).json(&body).send().await;
    let response = response.expect("stream");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.expect("text"))
}

pub async fn a_fallback_answers_plain_and_streamed_calls_and_says_so(b: Backend) {
    let failing = Stub::start(StubConfig::new().faults([Fault::Unavailable, Fault::Unavailable])).await;
    let backup = Stub::start(StubConfig::new().reply("from the backup")).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin = acme.token("admin");
    add_connection(&server, admin, &backup, "backup").await;
    let mut fast = connection(&failing, "fast");
    fast["fallbacks"] = json!(["backup"]);
    let (status, body) = server.post(PROVIDERS, admin, json!({"connection": fast, "api_key": KEY})).await;
    assert_eq!(status, 201, "{body}");
    let key = gateway_key(&server, admin, json!({})).await;
    let response = v1_response(&server, &key, "/v1/chat/completions", &hello("fast")).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("x-promptops-fallback").map(|v| v.as_bytes()), Some(&b"backup"[..]));
    let (status, headers, text) = stream_text(&server, &key, "fast").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers.get("x-promptops-fallback").map(|v| v.as_bytes()), Some(&b"backup"[..]), "{headers:?}");
    assert!(text.contains("backup") && text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(failing.pending_faults(), 0, "both calls tried the failing connection first");
    let (_, headers, _) = stream_text(&server, &key, "fast").await;
    assert!(headers.get("x-promptops-fallback").is_none(), "the first connection answered: no fallback header");
}

/// A server whose project has connection `fast` to `stub` with `cache: true`, and a gateway key.
async fn with_cached_connection(b: Backend, stub: &Stub) -> (TestServer, String) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin = acme.token("admin");
    let mut cached = connection(stub, "fast");
    cached["cache"] = json!(true);
    let (status, body) = server.post(PROVIDERS, admin, json!({"connection": cached, "api_key": KEY})).await;
    assert_eq!(status, 201, "{body}");
    let key = gateway_key(&server, admin, json!({})).await;
    (server, key)
}

pub async fn only_successful_answers_are_cached(b: Backend) {
    let stub = Stub::start(StubConfig::new().faults([Fault::ServerError, Fault::MalformedJson])).await;
    let (server, key) = with_cached_connection(b, &stub).await;
    let mut seen = Vec::new();
    for call in 0..4 {
        if call == 3 {
            // The answer is stored by the pool's background writer (batches gathered for 5 ms).
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let response = v1_response(&server, &key, "/v1/chat/completions", &hello("fast")).await;
        let cache = response.headers().get("x-promptops-cache").and_then(|v| v.to_str().ok()).map(ToOwned::to_owned);
        seen.push((response.status().as_u16() == 200, cache));
    }
    let expected = [(false, None), (false, None), (true, Some("miss".to_owned())), (true, Some("hit".to_owned()))];
    assert_eq!(seen, expected, "a failed answer was served from the cache, or a good one was not");
    assert_eq!(stub.request_count(), 3, "the two failures and the first success reached the model, the hit did not");
}

/// A chat call with `x-promptops-cache: VALUE` (none without one): status, the header it
/// answered with, the answer's text.
async fn cached_call(server: &TestServer, key: &str, value: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = server.client.post(format!("{}/v1/chat/completions", server.base)).bearer_auth(key);
    if let Some(value) = value {
        request = request.header("x-promptops-cache", value);
    }
    let response = request.json(&hello("fast")).send().await.expect("send");
    let status = response.status().as_u16();
    let cache = response.headers().get("x-promptops-cache").and_then(|v| v.to_str().ok()).map(ToOwned::to_owned);
    let body: Value = response.json().await.expect("json");
    let text = body["choices"][0]["message"]["content"].clone();
    (status, cache, if status == 200 { text } else { body })
}

pub async fn a_refresh_skips_the_cached_answer_and_stores_the_new_one(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("first")).await;
    let (server, key) = with_cached_connection(b, &stub).await;
    // Answers are stored by the pool's background writer (batches gathered for 5 ms).
    let stored = || tokio::time::sleep(Duration::from_millis(300));
    assert_eq!(cached_call(&server, &key, None).await, (200, Some("miss".into()), json!("first")));
    stored().await;
    assert_eq!(cached_call(&server, &key, None).await, (200, Some("hit".into()), json!("first")));
    stub.reconfigure(|config| config.reply("second"));
    assert_eq!(cached_call(&server, &key, Some("refresh")).await, (200, Some("refresh".into()), json!("second")));
    stored().await;
    assert_eq!(cached_call(&server, &key, None).await, (200, Some("hit".into()), json!("second")), "refreshed");
    assert_eq!(stub.request_count(), 2, "the miss and the refresh reached the model, the hits did not");
    let (status, _, body) = cached_call(&server, &key, Some("sometimes")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["message"], "use `on`, `off` or `refresh`", "{body}");
}

pub async fn a_hung_up_call_gives_back_its_parallel_slot(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("word ".repeat(200)).latency(Duration::from_secs(5))).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    let key = gateway_key(&server, acme.token("admin"), json!({"max_parallel": 1})).await;
    for stream in [false, true] {
        let mut body = hello("fast");
        body["stream"] = json!(stream);
        let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");
        let sent = impatient.post(format!("{}/v1/chat/completions", server.base)).bearer_auth(&key).json(&body);
        assert!(sent.send().await.is_err(), "the call was meant to time out on the client's side");
        let started = Instant::now();
        while stub.in_flight() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "the upstream call outlived the client (stream {stream})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.state.gateway.traces.flush().await.expect("nothing lost");
        let (_, traces) = server.get("/api/v1/projects/web/traces", acme.token("viewer")).await;
        assert_eq!(traces["items"][0]["status"], "cancelled", "stream {stream}: {}", traces["items"][0]);
    }
    stub.reconfigure(|config| config.latency(Duration::ZERO));
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("fast")).await;
    assert_eq!(status, 200, "a hung-up call kept its slot of max_parallel 1: {answer}");
}

const TENANT_PROVIDERS: &str = "/api/v1/providers";

pub async fn tenant_wide_connections_need_a_tenant_admin(b: Backend) {
    let stub = Stub::start(StubConfig::new()).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    for role in ["viewer", "runner", "editor", "admin", "owner"] {
        assert_eq!(server.get(TENANT_PROVIDERS, acme.token(role)).await.0, 403, "project {role} listed them");
        let body = json!({"connection": connection(&stub, "shared"), "api_key": KEY});
        assert_eq!(server.post(TENANT_PROVIDERS, acme.token(role), body).await.0, 403, "project {role} added one");
    }
    let body = json!({"connection": connection(&stub, "shared"), "api_key": KEY});
    let (status, created) = server.post(TENANT_PROVIDERS, &acme.admin, body).await;
    assert_eq!(status, 201, "{created}");
    let (status, list) = server.get(TENANT_PROVIDERS, &acme.admin).await;
    assert_eq!((status, list[0]["id"].as_str(), list[0]["key"].as_str()), (200, Some("shared"), Some("…wxyz")));
    assert!(!list.to_string().contains(KEY), "a listing returned the key: {list}");
    let (status, project_list) = server.get(PROVIDERS, acme.token("admin")).await;
    assert_eq!((status, project_list), (200, json!([])), "the project lists only its own connections");
}

pub async fn a_tenant_wide_connection_serves_its_tenants_projects_only(b: Backend) {
    let shared = Stub::start(StubConfig::new().reply("from the tenant")).await;
    let own = Stub::start(StubConfig::new().reply("from the project")).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let globex = server.tenant("globex", "web").await;
    for id in ["shared", "common"] {
        let body = json!({"connection": connection(&shared, id), "api_key": KEY});
        assert_eq!(server.post(TENANT_PROVIDERS, &acme.admin, body).await.0, 201);
    }
    add_connection(&server, acme.token("admin"), &own, "common").await;
    let key = gateway_key(&server, acme.token("admin"), json!({})).await;
    let text = |answer: &Value| answer["choices"][0]["message"]["content"].as_str().unwrap_or("").to_owned();
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("shared")).await;
    assert_eq!((status, text(&answer)), (200, "from the tenant".to_owned()), "{answer}");
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("common")).await;
    assert_eq!((status, text(&answer)), (200, "from the project".to_owned()), "the project's own must win: {answer}");
    let globex_key = gateway_key(&server, globex.token("admin"), json!({})).await;
    let (status, _, answer) = v1(&server, &globex_key, "/v1/chat/completions", hello("shared")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("model_not_found")), "{answer}");
    let (status, list) = server.get(TENANT_PROVIDERS, &globex.admin).await;
    assert_eq!((status, list), (200, json!([])), "another tenant sees none of acme's");
}

pub async fn kind_model_names_work_only_where_the_operator_allows_them(b: Backend) {
    let stub = Stub::start(StubConfig::new().record_requests(true).require_api_key(KEY)).await;
    let mut settings = config();
    settings.kind_models = true;
    let server = TestServer::on_with(b, settings).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "openai").await;
    let key = gateway_key(&server, acme.token("admin"), json!({})).await;
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("openai:gpt-4o-mini")).await;
    assert_eq!(status, 200, "{answer}");
    let sent = stub.requests_to("/v1/chat/completions");
    let model = sent.last().and_then(|r| r.body.as_ref()).map(|b| b["model"].clone());
    assert_eq!(model, Some(json!("gpt-4o-mini")), "the variant asks for its own model on the connection's key");
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("anthropic:claude-x")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("model_not_found")), "no anthropic connection");
    let (replica, _stop) = server.replica().await;
    let request = server.client.post(format!("{replica}/v1/chat/completions")).bearer_auth(&key);
    let closed = request.json(&hello("openai:gpt-4o-mini")).send().await.expect("send");
    assert_eq!(closed.status().as_u16(), 404, "a server that does not allow kind:model names must not serve them");
}

/// Makes the database refuse (or accept again) new traces, as a full disk would.
async fn refuse_traces(backend: &Backend, refuse: bool) {
    if let Some(path) = backend.url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).expect("open the database");
        conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
        let sql = if refuse {
            "CREATE TRIGGER refuse_traces BEFORE INSERT ON gateway_traces BEGIN SELECT RAISE(ABORT, 'no room for traces'); END;"
        } else {
            "DROP TRIGGER refuse_traces;"
        };
        conn.execute_batch(sql).expect("trigger");
        return;
    }
    let (client, connection) =
        tokio_postgres::connect(&backend.url, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    let sql = if refuse {
        "CREATE FUNCTION refuse_traces() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'no room for traces'; END $$;
         CREATE TRIGGER refuse_traces BEFORE INSERT ON gateway_traces FOR EACH ROW EXECUTE FUNCTION refuse_traces();"
    } else {
        "DROP TRIGGER refuse_traces ON gateway_traces; DROP FUNCTION refuse_traces();"
    };
    client.batch_execute(sql).await.expect("trigger");
}

/// `/readyz`'s status code and status.
async fn readiness(server: &TestServer) -> (u16, String) {
    let response = server.client.get(format!("{}/readyz", server.base)).send().await.expect("get");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body["status"].as_str().unwrap_or_default().to_owned())
}

pub async fn traces_the_store_refuses_are_counted_and_shown(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("fine")).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    add_connection(&server, acme.token("admin"), &stub, "fast").await;
    let key = gateway_key(&server, acme.token("admin"), json!({"max_parallel": 4})).await;
    refuse_traces(&server.backend, true).await;
    let (status, _, answer) = v1(&server, &key, "/v1/chat/completions", hello("fast")).await;
    assert_eq!(status, 200, "the call itself is answered: {answer}");
    let lost = server.state.gateway.traces.flush().await.expect_err("the refused trace is reported");
    // SQLite settles in memory, and writes the meter again with the next batch: only the trace is lost.
    let settlements = u64::from(!server.backend.url.starts_with("sqlite"));
    assert_eq!((lost.report.traces, lost.report.settlements, lost.report.failing), (1, settlements, true), "{lost}");
    assert!(lost.to_string().contains("no room for traces"), "the store's reason is kept: {lost}");
    assert_eq!(readiness(&server).await, (503, "gateway_writes_failing".to_owned()));
    let metrics = server.metrics().await;
    assert!(metrics.contains("promptops_gateway_lost_writes_total{kind=\"trace\"} 1\n"), "{metrics}");
    assert!(metrics.contains("promptops_gateway_writer_failing 1\n"), "{metrics}");

    refuse_traces(&server.backend, false).await;
    let (status, _, _) = v1(&server, &key, "/v1/chat/completions", hello("fast")).await;
    assert_eq!(status, 200);
    let lost = server.state.gateway.traces.flush().await.expect_err("what was lost stays counted");
    assert_eq!((lost.report.traces, lost.report.failing), (1, false), "written again once the store takes writes");
    assert_eq!(readiness(&server).await, (200, "ready".to_owned()));
    assert!(server.metrics().await.contains("promptops_gateway_writer_failing 0\n"));
    let (_, traces) = server.get("/api/v1/projects/web/traces", acme.token("viewer")).await;
    assert_eq!(traces["items"].as_array().map(Vec::len), Some(1), "only the second call's trace was written");
}
