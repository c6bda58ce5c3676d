//! Hardening: the prompt cache follows label moves made by another server on the same database,
//! rate limits answer 429 with `Retry-After`, CORS stays closed unless configured, bodies are
//! bounded (413), and no JSON body makes a handler fail with a 500.

use std::future::Future;
use std::time::{Duration, Instant};

use promptops::server::limits::RateLimit;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Backend, TestServer, config, prompt_source};

const PROMPT: &str = "/api/v1/projects/web/prompts/p";

/// A tenant whose prompt `p` has two versions, `staging` on the first.
async fn staged(server: &TestServer) -> super::Tenant {
    let acme = server.tenant("acme", "web").await;
    let editor = acme.token("editor");
    for text in ["one", "two"] {
        server.post(PROMPT, editor, json!({"source": prompt_source(text)})).await;
    }
    server.put(&format!("{PROMPT}/labels/staging"), editor, json!({"version": 1})).await;
    acme
}

pub async fn label_moves_reach_another_server_on_the_same_database(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = staged(&server).await;
    let editor = acme.token("editor");
    let (replica, _stop) = server.replica().await;
    let fetch = |base: String| {
        let client = server.client.clone();
        let token = editor.to_owned();
        async move {
            let response =
                client.get(format!("{base}{PROMPT}?label=staging")).bearer_auth(token).send().await.expect("get");
            response.json::<Value>().await.expect("json")["number"].as_u64()
        }
    };
    assert_eq!(fetch(replica.clone()).await, Some(1));
    assert_eq!(fetch(replica.clone()).await, Some(1), "now served from the replica's cache");
    server.put(&format!("{PROMPT}/labels/staging"), editor, json!({"version": 2})).await;
    let started = Instant::now();
    while fetch(replica.clone()).await != Some(2) {
        assert!(started.elapsed() < Duration::from_secs(3), "the replica kept serving the old version");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A replica of `server` (its master key too) whose poll would take an hour: only PostgreSQL's
/// announcement can tell it.
fn never_polling(server: &TestServer) -> promptops::server::ServerConfig {
    let mut settings = config();
    settings.cache_poll = Duration::from_secs(3600);
    settings.master_key = server.state.config.master_key.clone();
    settings
}

/// Waits (a few seconds at most) until `check` holds; `what` says what did not happen.
async fn soon<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(3), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn a_label_move_reaches_a_replica_that_never_polls(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = staged(&server).await;
    let editor = acme.token("editor");
    let (replica, _stop) = server.replica_with(never_polling(&server)).await;
    let fetch = || {
        let request = server.client.get(format!("{replica}{PROMPT}?label=staging")).bearer_auth(editor);
        async move { request.send().await.expect("get").json::<Value>().await.expect("json")["number"].as_u64() }
    };
    assert_eq!(fetch().await, Some(1));
    // The replica's listener announces its own start as a resync; let that pass before caching.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fetch().await, Some(1), "now served from the replica's cache");
    server.put(&format!("{PROMPT}/labels/staging"), editor, json!({"version": 2})).await;
    soon("the replica kept serving the old version: no announcement arrived", || async { fetch().await == Some(2) })
        .await;
}

pub async fn a_new_connection_reaches_a_replica_that_never_polls(b: Backend) {
    let stub = promptops_test_support::stub::Stub::start(promptops_test_support::stub::StubConfig::new()).await;
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin = acme.token("admin");
    let (status, body) = server.post("/api/v1/projects/web/gateway/keys", admin, json!({})).await;
    assert_eq!(status, 201, "{body}");
    let key = body["key"].as_str().expect("key").to_owned();
    let (replica, _stop) = server.replica_with(never_polling(&server)).await;
    let call = || {
        let body = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]});
        let request = server.client.post(format!("{replica}/v1/chat/completions")).bearer_auth(&key).json(&body);
        async move { request.send().await.expect("post").status().as_u16() }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call().await, 404, "no connection yet; the replica has built the project's (empty) pool");
    let connection = json!({"id": "fast", "kind": "openai", "model": "gpt-test", "base_url": stub.openai_base()});
    let (status, body) = server
        .post("/api/v1/projects/web/providers", admin, json!({"connection": connection, "api_key": "sk-1"}))
        .await;
    assert_eq!(status, 201, "{body}");
    soon("the replica kept its old pool: no announcement arrived", || async { call().await == 200 }).await;
}

pub async fn a_spent_token_bucket_answers_429_with_retry_after(b: Backend) {
    let mut limited = config();
    limited.rate_limit = Some(RateLimit { per_second: 1.0, burst: 3.0 });
    let server = TestServer::on_with(b, limited).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = server
            .client
            .get(format!("{}/api/v1/projects", server.base))
            .bearer_auth(&server.admin)
            .send()
            .await
            .expect("get");
        statuses.push((response.status().as_u16(), response.headers().get("retry-after").cloned()));
    }
    assert_eq!(statuses[..3].iter().map(|s| s.0).collect::<Vec<_>>(), [200, 200, 200]);
    assert_eq!(statuses[3].0, 429);
    assert_eq!(statuses[3].1.as_ref().and_then(|v| v.to_str().ok()), Some("1"));
}

pub async fn cors_is_closed_unless_origins_are_configured(b: Backend) {
    let closed = TestServer::on(b).await;
    let preflight = |server: &TestServer| {
        server
            .client
            .request(Method::OPTIONS, format!("{}/api/v1/projects", server.base))
            .header("Origin", "https://app.example.com")
            .header("Access-Control-Request-Method", "GET")
            .send()
    };
    let response = preflight(&closed).await.expect("preflight");
    assert!(response.headers().get("access-control-allow-origin").is_none());
    let mut open = config();
    open.cors_origins = vec!["https://app.example.com".to_owned()];
    let opened = TestServer::on_with(crate::store_conformance::sqlite().await, open).await;
    let response = preflight(&opened).await.expect("preflight");
    assert_eq!(
        response.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
}

pub async fn oversized_bodies_are_refused(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, body) = server.post(PROMPT, acme.token("editor"), json!({"source": huge})).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
}

/// A client still writing an oversized body when the server answers would see a reset, not the
/// 413: the body is read through first (the test server's limit is 1 MiB).
pub async fn an_oversized_body_sent_slowly_is_read_through_and_gets_its_413(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let length = 3 * 1024 * 1024;
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {PROMPT} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n",
        acme.token("editor")
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    for _ in 0..length / (64 * 1024) {
        stream.write_all(&[b'x'; 64 * 1024]).await.expect("every chunk is written: the server is still reading");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("the answer");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "the API's own error body: {answer}");
}

/// A client that declares an oversized body, sends a valid small one and stops writing has not
/// sent that small one: nothing is committed.
pub async fn a_body_cut_short_is_never_taken_as_whole(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let editor = acme.token("editor");
    let body = json!({"source": prompt_source("cut")}).to_string();
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {PROMPT} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {editor}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        2 * 1024 * 1024
    );
    stream.write_all(format!("{head}{body}").as_bytes()).await.expect("write");
    stream.shutdown().await.expect("stop writing");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
    let (status, _) = server.get(PROMPT, editor).await;
    assert_eq!(status, 404, "no version was committed");
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z/_.{}% -]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("source".to_owned()),
                    Just("name".to_owned()),
                    Just("prompts".to_owned()),
                    Just("version".to_owned()),
                    Just("prompt".to_owned()),
                    Just("connection".to_owned()),
                    Just("model".to_owned()),
                    Just("messages".to_owned()),
                    "[a-z]{1,6}".prop_map(String::from)
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request with a JSON body; answers of `/api` are checked against the OpenAPI document, those
/// of `/v1` (OpenAI's wire format) are not described there.
async fn send(server: &TestServer, method: Method, path: &str, caller: &str, body: Value) -> (u16, Value) {
    if !path.starts_with("/v1") {
        return server.call(method, path, Some(caller), Some(body)).await;
    }
    let request = server.client.request(method, format!("{}{path}", server.base)).bearer_auth(caller).json(&body);
    let response = request.send().await.expect("send");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

pub async fn no_json_body_makes_a_handler_fail_with_500(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    server.post(PROMPT, acme.token("editor"), json!({"source": prompt_source("one")})).await;
    let own = json!({"connection": {"id": "own", "kind": "echo"}});
    assert_eq!(server.post("/api/v1/projects/web/providers", &acme.admin, own).await.0, 201);
    let (_, key) = server.post("/api/v1/projects/web/gateway/keys", &acme.admin, json!({})).await;
    let key = key["key"].as_str().expect("pog_ key");
    let writes: Vec<(Method, &str)> = vec![
        (Method::POST, PROMPT),
        (Method::POST, "/api/v1/projects/web/commits"),
        (Method::PUT, "/api/v1/projects/web/prompts/p/labels/staging"),
        (Method::POST, "/api/v1/projects/web/prompts/p/labels/staging/rollback"),
        (Method::PUT, "/api/v1/projects/web/members/acme-viewer"),
        (Method::POST, "/api/v1/projects/web/keys"),
        (Method::POST, "/api/v1/projects/web/runs"),
        (Method::POST, "/api/v1/projects/web/experiments"),
        (Method::POST, "/api/v1/tokens"),
        (Method::POST, "/api/v1/projects"),
        (Method::POST, "/api/v1/principals"),
        (Method::POST, "/api/v1/projects/web/providers"),
        (Method::PUT, "/api/v1/projects/web/providers/own"),
        (Method::PUT, "/api/v1/projects/web/providers/own/key"),
        (Method::POST, "/api/v1/projects/web/gateway/keys"),
        (Method::PUT, "/api/v1/projects/web/gateway/settings"),
        (Method::PUT, "/api/v1/gateway/settings"),
        (Method::POST, "/v1/chat/completions"),
        (Method::POST, "/v1/embeddings"),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 24, ..ProptestConfig::default() });
    for (method, path) in writes {
        // `/v1` takes the gateway key and answers in OpenAI's envelope, whose `code` may be null.
        let (caller, shape) = if path.starts_with("/v1") { (key, "message") } else { (acme.admin.as_str(), "code") };
        for _ in 0..24 {
            let body = json_value().new_tree(&mut runner).expect("value").current();
            let (status, answer) = send(&server, method.clone(), path, caller, body.clone()).await;
            assert!(status < 500, "{method} {path} with {body} answered {status}: {answer}");
            if status >= 400 {
                assert!(answer["error"][shape].is_string(), "{method} {path}: {answer}");
            }
        }
        let raw = server
            .client
            .request(method.clone(), format!("{}{path}", server.base))
            .bearer_auth(caller)
            .body("{\"a\": [1, 2")
            .send()
            .await
            .expect("send");
        assert_eq!(raw.status(), 400, "{method} {path}");
    }
}
