//! The LLM stub exercised over real HTTP with reqwest: every wire format, streaming, faults,
//! auth, recording, latency and the blocking start. One test binary, one module per concern.

mod anthropic;
mod behaviour;
mod faults;
mod lifecycle;
mod openai;
mod recording;

use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};

/// A client that never uses a proxy (the stub is on loopback).
fn client() -> Client {
    Client::builder().no_proxy().build().expect("a reqwest client builds")
}

/// An OpenAI chat body with one user message.
fn openai_body(text: &str) -> Value {
    json!({"model": "gpt-stub", "messages": [{"role": "user", "content": text}]})
}

/// An Anthropic body with one user message.
fn anthropic_body(text: &str) -> Value {
    json!({"model": "claude-stub", "max_tokens": 1024, "messages": [{"role": "user", "content": text}]})
}

/// A POST to Anthropic's `/v1/messages` with the headers it requires.
fn anthropic_post(url: &str, body: &Value) -> RequestBuilder {
    client()
        .post(format!("{url}/v1/messages"))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(body)
}

/// The `(event, data)` pairs of an SSE body; `event` is `None` for data-only events.
fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(payload) = line.strip_prefix("data: ") {
                    data.push_str(payload);
                }
            }
            (event, data)
        })
        .collect()
}

/// The JSON of every data event except `[DONE]`.
fn sse_json(body: &str) -> Vec<Value> {
    sse_events(body)
        .into_iter()
        .filter(|(_, data)| data != "[DONE]")
        .map(|(_, data)| serde_json::from_str(&data).expect("every event is JSON"))
        .collect()
}
