//! Scripted faults: consumed in order, one per model request, then normal replies.

use std::time::{Duration, Instant};

use promptops_test_support::stub::{Fault, Stub, StubConfig};
use serde_json::{Value, json};

use crate::{anthropic_body, anthropic_post, client, openai_body, sse_events};

async fn openai_chat(stub: &Stub, body: &Value) -> reqwest::Response {
    client().post(format!("{}/chat/completions", stub.openai_base())).json(body).send().await.expect("sent")
}

fn streaming(text: &str) -> Value {
    let mut body = openai_body(text);
    body["stream"] = json!(true);
    body
}

#[tokio::test]
async fn faults_are_served_in_order_then_normal_replies() {
    let faults = [Fault::rate_limited(2), Fault::ServerError, Fault::Unavailable, Fault::Status(418)];
    let stub = Stub::start(StubConfig::new().reply("finally").faults(faults)).await;
    assert_eq!(stub.pending_faults(), 4);

    let response = openai_chat(&stub, &openai_body("x")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");

    for (status, kind) in [(500, "server_error"), (503, "server_error"), (418, "invalid_request_error")] {
        let response = openai_chat(&stub, &openai_body("x")).await;
        assert_eq!(response.status(), status);
        assert!(!response.headers().contains_key("retry-after"));
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"]["type"], kind);
    }
    let reply: Value = openai_chat(&stub, &openai_body("x")).await.json().await.expect("JSON");
    assert_eq!(reply["choices"][0]["message"]["content"], "finally");
    assert_eq!(stub.pending_faults(), 0);
}

#[tokio::test]
async fn anthropic_faults_use_anthropic_error_types() {
    let faults = [Fault::RateLimited { retry_after_secs: None }, Fault::Status(529), Fault::ServerError];
    let stub = Stub::start(StubConfig::new().faults(faults)).await;
    for (status, kind) in [(429, "rate_limit_error"), (529, "overloaded_error"), (500, "api_error")] {
        let response = anthropic_post(&stub.url(), &anthropic_body("x")).send().await.expect("sent");
        assert_eq!(response.status(), status);
        let error: Value = response.json().await.expect("JSON");
        assert_eq!((error["type"].as_str(), error["error"]["type"].as_str()), (Some("error"), Some(kind)));
    }
}

#[tokio::test]
async fn rejected_requests_do_not_consume_faults() {
    let stub = Stub::start(StubConfig::new().require_api_key("k").fault(Fault::ServerError)).await;
    let unauthorised = openai_chat(&stub, &openai_body("x")).await;
    assert_eq!(unauthorised.status(), 401);
    assert_eq!(stub.pending_faults(), 1);
    let url = format!("{}/chat/completions", stub.openai_base());
    let response = client().post(&url).bearer_auth("k").json(&openai_body("x")).send().await.expect("sent");
    assert_eq!(response.status(), 500);
}

#[tokio::test]
async fn faults_can_be_pushed_while_running() {
    let stub = Stub::start(StubConfig::new()).await;
    assert_eq!(openai_chat(&stub, &openai_body("x")).await.status(), 200);
    stub.push_fault(Fault::Unavailable);
    assert_eq!(openai_chat(&stub, &openai_body("x")).await.status(), 503);
    assert_eq!(openai_chat(&stub, &openai_body("x")).await.status(), 200);
}

#[tokio::test]
async fn malformed_json_is_a_200_that_does_not_parse() {
    let stub = Stub::start(StubConfig::new().fault(Fault::MalformedJson)).await;
    let response = openai_chat(&stub, &openai_body("x")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("complete body");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "body `{text}` should not parse");
}

#[tokio::test]
async fn malformed_json_in_a_stream_is_one_bad_event() {
    let stub = Stub::start(StubConfig::new().reply("ok then").fault(Fault::MalformedJson)).await;
    let text = openai_chat(&stub, &streaming("x")).await.text().await.expect("complete stream");
    let events = sse_events(&text);
    let bad = events.iter().filter(|(_, data)| data != "[DONE]" && serde_json::from_str::<Value>(data).is_err());
    assert_eq!(bad.count(), 1);
    assert_eq!(events.last().map(|(_, data)| data.as_str()), Some("[DONE]"));
}

#[tokio::test]
async fn truncated_stream_closes_the_connection_before_done() {
    let stub = Stub::start(StubConfig::new().reply("one two three four").fault(Fault::truncated_after(2))).await;
    let mut response = openai_chat(&stub, &streaming("x")).await;
    assert_eq!(response.status(), 200);
    let mut received = Vec::new();
    let error = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => panic!("the stream ended cleanly: {}", String::from_utf8_lossy(&received)),
            Err(error) => break error,
        }
    };
    assert!(error.is_body() || error.is_decode(), "unexpected error kind: {error:?}");
    let text = String::from_utf8(received).expect("UTF-8");
    assert_eq!(sse_events(&text).len(), 2);
    assert!(!text.contains("[DONE]"));
    let next = openai_chat(&stub, &streaming("x")).await.text().await.expect("whole stream");
    assert!(next.contains("[DONE]"), "the fault was used up");
}

#[tokio::test]
async fn truncated_anthropic_stream_never_sends_message_stop() {
    let stub = Stub::start(StubConfig::new().fault(Fault::truncated_after(100))).await;
    let mut body = anthropic_body("x");
    body["stream"] = json!(true);
    let response = anthropic_post(&stub.url(), &body).send().await.expect("sent");
    let result = response.text().await;
    assert!(result.is_err(), "the body should fail mid-stream, got {result:?}");
}

#[tokio::test]
async fn truncated_non_streaming_body_fails_to_read() {
    let stub = Stub::start(StubConfig::new().fault(Fault::truncated_after(0))).await;
    let response = openai_chat(&stub, &openai_body("x")).await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err());
}

#[tokio::test]
async fn slow_fault_outlasts_a_client_timeout_then_replies_normally() {
    let stub = Stub::start(StubConfig::new().fault(Fault::Slow(Duration::from_millis(600)))).await;
    let url = format!("{}/chat/completions", stub.openai_base());
    let started = Instant::now();
    let result = client().post(&url).timeout(Duration::from_millis(150)).json(&openai_body("x")).send().await;
    let error = result.expect_err("the client times out");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_millis(550));
    let response = client().post(&url).json(&openai_body("x")).send().await.expect("sent");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn faults_apply_to_embeddings_too() {
    let stub = Stub::start(StubConfig::new().fault(Fault::rate_limited(0))).await;
    let url = format!("{}/embeddings", stub.openai_base());
    let body = json!({"model": "e", "input": "x"});
    let response = client().post(&url).json(&body).send().await.expect("sent");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "0");
    assert_eq!(client().post(&url).json(&body).send().await.expect("sent").status(), 200);
}
