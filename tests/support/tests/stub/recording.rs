//! What the stub records: methods, paths, headers, bodies, arrival times, counts.

use std::time::Duration;

use promptops_test_support::stub::{Fault, Stub, StubConfig};
use serde_json::{Value, json};

use crate::{anthropic_post, client, openai_body};

#[tokio::test]
async fn requests_are_recorded_with_headers_and_json_bodies() {
    let stub = Stub::start(StubConfig::new()).await;
    let body = json!({"model": "gpt-stub", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]}]});
    client()
        .post(format!("{}/chat/completions?trace=1", stub.openai_base()))
        .bearer_auth("sk-test")
        .header("x-custom", "yes")
        .json(&body)
        .send()
        .await
        .expect("sent");
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.query.as_deref(), Some("trace=1"));
    assert_eq!(request.query_param("trace"), Some("1"));
    assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(request.header("X-Custom"), Some("yes"));
    assert!(!request.has_header("x-api-key"));
    assert_eq!(request.json(), &body);
    assert_eq!(request.json()["messages"][0]["content"][1]["type"], "image_url");
    assert_eq!(request.raw_body, serde_json::to_vec(&body).expect("serialises"));
}

#[tokio::test]
async fn anthropic_image_blocks_are_recorded() {
    let stub = Stub::start(StubConfig::new()).await;
    let body = json!({"model": "claude-stub", "max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "describe"}
    ]}]});
    let reply: Value = anthropic_post(&stub.url(), &body).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(reply["usage"]["input_tokens"], 85 + 2, "an image costs IMAGE_TOKENS");
    let request = &stub.requests_to("/v1/messages")[0];
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    let block = &request.json()["messages"][0]["content"][0];
    assert_eq!(block["source"]["type"], "base64");
}

#[tokio::test]
async fn rejected_and_unknown_requests_are_recorded_too() {
    let stub = Stub::start(StubConfig::new().require_api_key("k")).await;
    let unauthorised = client().post(format!("{}/chat/completions", stub.openai_base())).json(&openai_body("x"));
    assert_eq!(unauthorised.send().await.expect("sent").status(), 401);
    let unknown = client().get(format!("{}/v1/models", stub.url())).send().await.expect("sent");
    assert_eq!(unknown.status(), 404);
    let error: Value = unknown.json().await.expect("JSON");
    assert!(error["error"]["message"].as_str().is_some_and(|message| message.contains("/v1/models")));
    let paths: Vec<String> = stub.requests().into_iter().map(|request| request.path).collect();
    assert_eq!(paths, ["/v1/chat/completions", "/v1/models"]);
    assert_eq!(stub.requests()[1].body, None);
}

#[tokio::test]
async fn arrival_times_show_the_spacing_of_retries() {
    let stub = Stub::start(StubConfig::new().fault(Fault::rate_limited(0))).await;
    let url = format!("{}/chat/completions", stub.openai_base());
    assert_eq!(client().post(&url).json(&openai_body("x")).send().await.expect("sent").status(), 429);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(client().post(&url).json(&openai_body("x")).send().await.expect("sent").status(), 200);
    let requests = stub.requests();
    let gap = requests[1].received_at - requests[0].received_at;
    assert!(gap >= Duration::from_millis(100), "{gap:?}");
}

#[tokio::test]
async fn recording_can_be_off_while_counting_goes_on() {
    let stub = Stub::start(StubConfig::new().record_requests(false)).await;
    let url = format!("{}/chat/completions", stub.openai_base());
    for _ in 0..3 {
        client().post(&url).json(&openai_body("x")).send().await.expect("sent");
    }
    assert!(stub.requests().is_empty());
    assert_eq!(stub.request_count(), 3);
    stub.reconfigure(|config| config.record_requests(true));
    client().post(&url).json(&openai_body("x")).send().await.expect("sent");
    assert_eq!(stub.requests().len(), 1);
    stub.clear_requests();
    assert!(stub.requests().is_empty());
    assert_eq!(stub.request_count(), 4);
}
