//! Anthropic Messages: JSON and streamed replies, required headers and fields.

use promptops_test_support::stub::{Stub, StubConfig, count_tokens};
use serde_json::{Value, json};

use crate::{anthropic_body, anthropic_post, client, sse_events};

#[tokio::test]
async fn message_has_text_block_usage_and_stop_reason() {
    let stub = Stub::start(StubConfig::new().reply("Bonjour à tous").cached_tokens(3)).await;
    let mut body = anthropic_body("Say hello in French");
    body["system"] = json!("You are a translator.");
    let response = anthropic_post(&stub.url(), &body).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.expect("JSON");
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"], json!([{"type": "text", "text": "Bonjour à tous"}]));
    assert_eq!(message["stop_reason"], "end_turn");
    let prompt = count_tokens("You are a translator.") + count_tokens("Say hello in French");
    assert_eq!(message["usage"]["input_tokens"], prompt - 3, "input_tokens excludes cache reads");
    assert_eq!(message["usage"]["cache_read_input_tokens"], 3);
    assert_eq!(message["usage"]["output_tokens"], count_tokens("Bonjour à tous"));
}

#[tokio::test]
async fn max_tokens_stops_with_max_tokens() {
    let stub = Stub::start(StubConfig::new().reply("a long long reply")).await;
    let mut body = anthropic_body("x");
    body["max_tokens"] = json!(1);
    let message: Value = anthropic_post(&stub.url(), &body).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(message["content"][0]["text"], "a lo");
    assert_eq!(message["stop_reason"], "max_tokens");
}

#[tokio::test]
async fn stream_sends_the_named_event_sequence() {
    let stub = Stub::start(StubConfig::new().reply("Hello big world")).await;
    let mut body = anthropic_body("hi");
    body["stream"] = json!(true);
    let response = anthropic_post(&stub.url(), &body).send().await.expect("sent");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.expect("stream");
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_deref().expect("every event is named")).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let data: Vec<Value> = events.iter().map(|(_, data)| serde_json::from_str(data).expect("JSON data")).collect();
    for (name, value) in names.iter().zip(&data) {
        assert_eq!(value["type"], *name, "the data's type repeats the event name");
    }
    assert_eq!(data[0]["message"]["usage"]["input_tokens"], 1);
    let text: String = data
        .iter()
        .filter(|event| event["delta"]["type"] == "text_delta")
        .filter_map(|event| event["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello big world");
    assert_eq!(data[7]["delta"]["stop_reason"], "end_turn");
    assert_eq!(data[7]["usage"]["output_tokens"], count_tokens("Hello big world"));
}

#[tokio::test]
async fn missing_headers_and_max_tokens_get_anthropic_errors() {
    let stub = Stub::start(StubConfig::new()).await;
    let url = format!("{}/v1/messages", stub.url());
    let no_key = client().post(&url).header("anthropic-version", "2023-06-01").json(&anthropic_body("x"));
    let response = no_key.send().await.expect("sent");
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "authentication_error");

    let no_version = client().post(&url).header("x-api-key", "k").json(&anthropic_body("x"));
    let response = no_version.send().await.expect("sent");
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"].as_str().is_some_and(|message| message.contains("anthropic-version")));

    let mut body = anthropic_body("x");
    body.as_object_mut().expect("object").remove("max_tokens");
    let response = anthropic_post(&stub.url(), &body).send().await.expect("sent");
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("JSON");
    assert!(error["error"]["message"].as_str().is_some_and(|message| message.contains("max_tokens")));
}

#[tokio::test]
async fn rate_limit_headers_use_anthropic_names() {
    let stub = Stub::start(StubConfig::new().rate_limit_remaining(7, 700)).await;
    let response = anthropic_post(&stub.url(), &anthropic_body("x")).send().await.expect("sent");
    assert_eq!(response.headers()["anthropic-ratelimit-requests-remaining"], "7");
    assert_eq!(response.headers()["anthropic-ratelimit-tokens-remaining"], "700");
}
