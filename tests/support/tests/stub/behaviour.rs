//! Reply selection, auth, latency and concurrency.

use std::time::{Duration, Instant};

use futures::future::join_all;
use promptops_test_support::stub::{Stub, StubConfig};
use serde_json::Value;

use crate::{anthropic_body, anthropic_post, client, openai_body};

async fn ask(stub: &Stub, text: &str) -> String {
    let body: Value = client()
        .post(format!("{}/chat/completions", stub.openai_base()))
        .json(&openai_body(text))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    body["choices"][0]["message"]["content"].as_str().expect("content").to_owned()
}

#[tokio::test]
async fn rules_match_the_last_user_message_before_the_default() {
    let config = StubConfig::new()
        .reply("I don't know")
        .when_contains("capital of France", "Paris")
        .when_matches(r"(?i)^translate:", "traduction");
    let stub = Stub::start(config).await;
    assert_eq!(ask(&stub, "What is the capital of France?").await, "Paris");
    assert_eq!(ask(&stub, "TRANSLATE: hello").await, "traduction");
    assert_eq!(ask(&stub, "something else").await, "I don't know");
}

#[tokio::test]
async fn echo_and_reply_functions() {
    let stub = Stub::start(StubConfig::new().echo()).await;
    assert_eq!(ask(&stub, "repeat after me").await, "repeat after me");
    stub.reconfigure(|config| config.reply_fn(|request| format!("{} chars", request.last_user_text().len())));
    assert_eq!(ask(&stub, "four").await, "4 chars");
    stub.reconfigure(|config| config.reply("fixed again"));
    assert_eq!(ask(&stub, "four").await, "fixed again");
}

#[tokio::test]
async fn rules_apply_to_anthropic_too() {
    let stub = Stub::start(StubConfig::new().when_contains("ping", "pong")).await;
    let message: Value =
        anthropic_post(&stub.url(), &anthropic_body("ping?")).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(message["content"][0]["text"], "pong");
}

#[tokio::test]
async fn openai_api_key_is_checked_when_required() {
    let stub = Stub::start(StubConfig::new().require_api_key("sk-right")).await;
    let url = format!("{}/chat/completions", stub.openai_base());
    let cases = [
        (client().post(&url), 401),
        (client().post(&url).bearer_auth("sk-wrong"), 401),
        (client().post(&url).header("authorization", "sk-right"), 401),
        (client().post(&url).bearer_auth("sk-right"), 200),
    ];
    for (request, status) in cases {
        let response = request.json(&openai_body("x")).send().await.expect("sent");
        assert_eq!(response.status(), status);
        if status == 401 {
            let error: Value = response.json().await.expect("JSON");
            assert_eq!(error["error"]["code"], "invalid_api_key");
            assert!(!error.to_string().contains("sk-wrong"), "keys are never echoed");
        }
    }
    stub.reconfigure(StubConfig::accept_any_key);
    assert_eq!(client().post(&url).json(&openai_body("x")).send().await.expect("sent").status(), 200);
}

#[tokio::test]
async fn anthropic_api_key_is_checked_when_required() {
    let stub = Stub::start(StubConfig::new().require_api_key("sk-ant-right")).await;
    let response = anthropic_post(&stub.url(), &anthropic_body("x")).send().await.expect("sent");
    assert_eq!(response.status(), 401, "anthropic_post sends another key");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["type"], "authentication_error");
    let response = client()
        .post(format!("{}/v1/messages", stub.url()))
        .header("x-api-key", "sk-ant-right")
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic_body("x"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn forbidden_switch_gives_403_in_each_shape() {
    let stub = Stub::start(StubConfig::new().forbidden(true)).await;
    let response =
        client().post(format!("{}/chat/completions", stub.openai_base())).json(&openai_body("x")).send().await;
    let response = response.expect("sent");
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "permission_denied");
    let response = anthropic_post(&stub.url(), &anthropic_body("x")).send().await.expect("sent");
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["type"], "permission_error");
    stub.reconfigure(|config| config.forbidden(false));
    assert_eq!(anthropic_post(&stub.url(), &anthropic_body("x")).send().await.expect("sent").status(), 200);
}

#[tokio::test]
async fn fixed_latency_delays_each_reply() {
    let latency = Duration::from_millis(120);
    let stub = Stub::start(StubConfig::new().latency(latency)).await;
    let started = Instant::now();
    ask(&stub, "x").await;
    assert!(started.elapsed() >= latency);
}

#[tokio::test]
async fn latency_function_sees_the_request() {
    let config = StubConfig::new().latency_fn(|request| {
        if request.last_user_text() == "slow" { Duration::from_millis(150) } else { Duration::ZERO }
    });
    let stub = Stub::start(config).await;
    let started = Instant::now();
    ask(&stub, "slow").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn chunk_delay_spaces_streamed_events() {
    let stub = Stub::start(StubConfig::new().reply("a b c").chunk_delay(Duration::from_millis(40))).await;
    let mut body = openai_body("x");
    body["stream"] = serde_json::json!(true);
    let started = Instant::now();
    let response = client().post(format!("{}/chat/completions", stub.openai_base())).json(&body).send().await;
    response.expect("sent").text().await.expect("stream");
    // role + 3 pieces + finish + [DONE] = 6 events, 5 gaps.
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_gauge_sees_concurrent_requests() {
    // Long enough that all four overlap even on a loaded machine.
    let stub = Stub::start(StubConfig::new().latency(Duration::from_millis(500))).await;
    let client = client();
    let requests =
        (0..4).map(|_| client.post(format!("{}/chat/completions", stub.openai_base())).json(&openai_body("x")).send());
    let responses = join_all(requests).await;
    assert!(responses.iter().all(|response| response.as_ref().is_ok_and(|r| r.status() == 200)));
    assert_eq!(stub.max_in_flight(), 4);
    assert_eq!(stub.in_flight(), 0);
    stub.reset_max_in_flight();
    assert_eq!(stub.max_in_flight(), 0);
}

#[tokio::test]
async fn a_stream_stays_in_flight_until_its_last_event() {
    let stub = Stub::start(StubConfig::new().reply("a b c d").chunk_delay(Duration::from_millis(50))).await;
    let mut body = openai_body("x");
    body["stream"] = serde_json::json!(true);
    let mut response =
        client().post(format!("{}/chat/completions", stub.openai_base())).json(&body).send().await.expect("sent");
    response.chunk().await.expect("first chunk");
    assert_eq!(stub.in_flight(), 1);
    while response.chunk().await.expect("chunk").is_some() {}
    // The server drops the body stream just after writing its last chunk, not before the client
    // reads it, so give it a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while stub.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(stub.in_flight(), 0);
}
