//! Gateway keys (`pog_…`) as credentials, over HTTP: a key is bounded by what made it, like any
//! token: it dies with its creator's token, loses its project with its creator's role, and a
//! client guessing keys on `/v1` is throttled like one guessing tokens on `/api/v1`.

use promptops::server::limits::RateLimit;
use reqwest::Method;
use serde_json::{Value, json};

use super::credentials::minted;
use super::{Backend, TestServer, config};

const KEYS: &str = "/api/v1/projects/web/gateway/keys";

/// A gateway key made by `creator` (an admin of `web`).
async fn key_of(server: &TestServer, creator: &str) -> String {
    let (status, body) = server.post(KEYS, creator, json!({"name": "sdk"})).await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().expect("key").to_owned()
}

/// `GET /v1/models` with `key` from the client address `from` (trusted proxies are configured
/// where it matters): status and the OpenAI error code, if any.
async fn models(server: &TestServer, key: &str, from: &str) -> (u16, Value) {
    v1(server, Method::GET, "/v1/models", key, from).await
}

async fn v1(server: &TestServer, method: Method, path: &str, key: &str, from: &str) -> (u16, Value) {
    let mut request = server
        .client
        .request(method.clone(), format!("{}{path}", server.base))
        .bearer_auth(key)
        .header("x-forwarded-for", from);
    if method == Method::POST {
        request = request.json(&json!({"model": "any", "messages": [{"role": "user", "content": "hi"}]}));
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json::<Value>().await.unwrap_or(Value::Null)["error"]["code"].clone())
}

pub async fn a_gateway_key_dies_with_the_token_that_made_it(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (creator, creator_id) = minted(&server, &acme.admin, json!({"principal": "acme-admin", "name": "ops"})).await;
    let key = key_of(&server, &creator).await;
    assert_eq!(models(&server, &key, "192.0.2.1").await.0, 200);
    let (status, _) =
        server.call(Method::DELETE, &format!("/api/v1/tokens/{creator_id}"), Some(&acme.admin), None).await;
    assert_eq!(status, 204);
    assert_eq!(
        models(&server, &key, "192.0.2.1").await,
        (401, json!("invalid_api_key")),
        "the creator's token is revoked"
    );
}

pub async fn a_gateway_key_loses_its_project_with_its_creator(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let key = key_of(&server, acme.token("admin")).await;
    let member = "/api/v1/projects/web/members/acme-admin";
    assert_eq!(models(&server, &key, "192.0.2.1").await.0, 200);
    assert_eq!(server.put(member, &acme.admin, json!({"role": "viewer"})).await.0, 200);
    assert_eq!(models(&server, &key, "192.0.2.1").await, (401, json!("invalid_api_key")), "creator demoted to viewer");
    assert_eq!(server.put(member, &acme.admin, json!({"role": "admin"})).await.0, 200);
    assert_eq!(models(&server, &key, "192.0.2.1").await.0, 200, "the key follows its creator's current role");
    assert_eq!(server.call(Method::DELETE, member, Some(&acme.admin), None).await.0, 204);
    assert_eq!(models(&server, &key, "192.0.2.1").await, (401, json!("invalid_api_key")), "creator removed");
}

pub async fn guessing_gateway_keys_is_throttled_per_client(b: Backend) {
    let mut throttled = config();
    throttled.auth_failures = Some(RateLimit { per_second: 0.01, burst: 3.0 });
    throttled.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    let server = TestServer::on_with(b, throttled).await;
    let acme = server.tenant("acme", "web").await;
    let key = key_of(&server, acme.token("admin")).await;
    let chat = "/v1/chat/completions";
    for (attempt, method) in [Method::GET, Method::GET, Method::POST].into_iter().enumerate() {
        let path = if method == Method::GET { "/v1/models" } else { chat };
        let answer = v1(&server, method, path, "pog_guessed", "203.0.113.7").await;
        assert_eq!(answer, (401, json!("invalid_api_key")), "attempt {attempt}");
    }
    let answer = v1(&server, Method::POST, chat, "pog_guessed", "203.0.113.7").await;
    assert_eq!(answer, (429, json!("rate_limit_exceeded")), "the fourth failure waits for a refill");
    assert_eq!(models(&server, &key, "203.0.113.7").await.0, 429, "throttled before the key is looked at");
    assert_eq!(models(&server, &key, "203.0.113.8").await.0, 200, "other clients are not");
    let api = server
        .client
        .get(format!("{}/api/v1/projects", server.base))
        .bearer_auth(&server.admin)
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("send");
    assert_eq!(api.status(), 429, "one allowance per client for /v1 and /api/v1");
    let (_, log) = server.get("/api/v1/audit?actor=anonymous", &server.admin).await;
    let seen: Vec<(u64, &str)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| (e["status"].as_u64().expect("status"), e["action"].as_str().expect("action")))
        .collect();
    let (refused, throttled) = ((401, "POST /v1/chat/completions"), (429, "POST /v1/chat/completions"));
    assert_eq!(seen, vec![throttled, refused], "refused calls are audited in the system tenant: {log}");
}
