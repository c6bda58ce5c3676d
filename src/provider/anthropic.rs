//! The Anthropic Messages API: `POST /messages` with the system prompt separate, `max_tokens`
//! always sent (defaulted when the prompt sets none), images as base64 (or URL) blocks, and SSE
//! events (`message_start`, `content_block_delta`, `message_delta`, `message_stop`, `error`).
//! The API has no structured-output switch, so a response schema is stated in the system prompt.

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use super::error::ProviderError;
use super::http::{self, SseParser};
use super::openai::HttpSetup;
use super::types::{ChatPart, ChatRequest, ChatResponse, Image, OnDelta, Usage};
use super::{Provider, ProviderInfo};
use crate::prompt::Role;

/// The default base URL.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
/// The API version header value.
const API_VERSION: &str = "2023-06-01";
/// `max_tokens` when the prompt and the provider set none (the API requires one).
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Anthropic's Messages API.
#[derive(Debug)]
pub(crate) struct Anthropic {
    setup: HttpSetup,
    client: reqwest::Client,
}

/// The request body of `/messages`.
pub(crate) fn messages_body(
    model: &str,
    request: &ChatRequest,
    setup_params: &crate::prompt::ModelParams,
    stream: bool,
) -> Value {
    let params = request.params.or(setup_params);
    let mut system: Vec<String> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(super::types::ChatMessage::content_text)
        .collect();
    if let Some(schema) = &request.response_schema {
        system
            .push(format!("Answer with JSON only, no prose and no code fences, matching this JSON Schema:\n{schema}"));
    }
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| json!({ "role": m.role.as_str(), "content": m.parts.iter().map(block).collect::<Vec<_>>() }))
        .collect();
    let mut body = json!({
        "model": model,
        "max_tokens": params.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
    });
    let object = body.as_object_mut().expect("invariant: built as an object");
    if !system.is_empty() {
        object.insert("system".into(), Value::from(system.join("\n\n")));
    }
    if let Some(t) = params.temperature {
        object.insert("temperature".into(), Value::from(t));
    }
    if let Some(p) = params.top_p {
        object.insert("top_p".into(), Value::from(p));
    }
    if let Some(stop) = &params.stop {
        object.insert("stop_sequences".into(), Value::from(stop.to_vec()));
    }
    if stream {
        object.insert("stream".into(), Value::Bool(true));
    }
    body
}

fn block(part: &ChatPart) -> Value {
    match part {
        ChatPart::Text(text) => json!({ "type": "text", "text": text }),
        ChatPart::Image(Image::Base64 { media_type, data }) => {
            json!({ "type": "image", "source": { "type": "base64", "media_type": media_type, "data": data } })
        }
        ChatPart::Image(Image::Url { url }) => json!({ "type": "image", "source": { "type": "url", "url": url } }),
    }
}

/// Anthropic counts cache reads and writes apart from `input_tokens`; ours includes them.
fn usage(value: &Value) -> Usage {
    let number = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    let cached = number("cache_read_input_tokens");
    Usage {
        input_tokens: number("input_tokens") + cached + number("cache_creation_input_tokens"),
        output_tokens: number("output_tokens"),
        cached_input_tokens: cached,
    }
}

impl Anthropic {
    pub(crate) fn new(setup: HttpSetup) -> Self {
        let client = setup.client.clone();
        Self { setup, client }
    }

    fn id(&self) -> String {
        self.setup.info.id.clone()
    }

    fn bad(&self, detail: impl Into<String>) -> ProviderError {
        ProviderError::BadResponse { provider: self.id(), detail: detail.into() }
    }

    async fn send(&self, body: &Value) -> Result<reqwest::Response, ProviderError> {
        let url = format!("{}/messages", self.setup.base_url);
        let mut builder = self.client.post(&url).header("anthropic-version", API_VERSION).json(body);
        if let Some(key) = &self.setup.key {
            builder = builder.header("x-api-key", key.expose());
        }
        for (name, value) in &self.setup.headers {
            builder = builder.header(name, value);
        }
        http::send(&self.setup.info.id, &url, builder, self.setup.key.as_ref(), self.setup.env_var.as_deref()).await
    }

    fn parse(&self, body: &Value) -> Result<ChatResponse, ProviderError> {
        let blocks =
            body.get("content").and_then(Value::as_array).ok_or_else(|| self.bad("the answer has no `content`"))?;
        let text: String = blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect();
        let usage = usage(body.get("usage").ok_or_else(|| self.bad("the answer has no `usage`"))?);
        let model = body.get("model").and_then(Value::as_str).unwrap_or(&self.setup.info.model);
        let mut response = ChatResponse::new(&self.setup.info.id, model, text, usage);
        response.finish_reason = body.get("stop_reason").and_then(Value::as_str).map(ToOwned::to_owned);
        Ok(response)
    }

    async fn stream(&self, response: reqwest::Response, on_delta: OnDelta<'_>) -> Result<ChatResponse, ProviderError> {
        let rate_limit = http::rate_limit_info(response.headers());
        let mut parser = SseParser::default();
        let mut bytes = response.bytes_stream();
        let mut done = ChatResponse::new(&self.setup.info.id, &self.setup.info.model, String::new(), Usage::default());
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|err| ProviderError::StreamEnded {
                provider: self.id(),
                detail: format!("the connection broke ({})", err.without_url()),
            })?;
            for event in parser.push(&chunk) {
                if event.data.is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(&event.data).map_err(|err| {
                    self.bad(format!("a stream event is not JSON ({err}): {}", http::excerpt(&event.data, 120)))
                })?;
                match value.get("type").and_then(Value::as_str).unwrap_or_default() {
                    "message_start" => {
                        let message = value.get("message").cloned().unwrap_or_default();
                        if let Some(model) = message.get("model").and_then(Value::as_str) {
                            done.model = model.to_owned();
                        }
                        done.usage = usage(message.get("usage").unwrap_or(&Value::Null));
                    }
                    "content_block_delta" => {
                        if let Some(delta) = value.pointer("/delta/text").and_then(Value::as_str) {
                            on_delta(delta);
                            done.text.push_str(delta);
                        }
                    }
                    "message_delta" => {
                        done.finish_reason =
                            value.pointer("/delta/stop_reason").and_then(Value::as_str).map(ToOwned::to_owned);
                        if let Some(output) = value.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                            done.usage.output_tokens = output;
                        }
                    }
                    "message_stop" => {
                        done.rate_limit = rate_limit;
                        return Ok(done);
                    }
                    "error" => return Err(self.stream_error(&value)),
                    _ => {}
                }
            }
        }
        Err(ProviderError::StreamEnded { provider: self.id(), detail: "no `message_stop` event".to_owned() })
    }

    /// An `error` event: `overloaded_error` is Anthropic's 529, retryable like a 5xx.
    fn stream_error(&self, value: &Value) -> ProviderError {
        let kind = value.pointer("/error/type").and_then(Value::as_str).unwrap_or_default();
        let message = value.pointer("/error/message").and_then(Value::as_str).unwrap_or(kind).to_owned();
        match kind {
            "rate_limit_error" => ProviderError::RateLimited { provider: self.id(), message, retry_after: None },
            "overloaded_error" | "api_error" => {
                ProviderError::Status { provider: self.id(), status: 529, message, retry_after: None }
            }
            _ => ProviderError::Status { provider: self.id(), status: 400, message, retry_after: None },
        }
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn info(&self) -> &ProviderInfo {
        &self.setup.info
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let body = messages_body(&self.setup.info.model, request, &self.setup.params, on_delta.is_some());
        let response = self.send(&body).await?;
        match on_delta {
            Some(on_delta) => self.stream(response, on_delta).await,
            None => {
                let rate_limit = http::rate_limit_info(response.headers());
                let body = http::json_body(&self.setup.info.id, response).await?;
                let mut parsed = self.parse(&body)?;
                parsed.rate_limit = rate_limit;
                Ok(parsed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::ModelParams;
    use crate::provider::ChatMessage;

    #[test]
    fn system_is_separate_max_tokens_defaulted_images_base64() {
        let request = ChatRequest {
            prompt: None,
            messages: vec![
                ChatMessage::text(Role::System, "Be brief."),
                ChatMessage {
                    role: Role::User,
                    parts: vec![
                        ChatPart::Image(Image::Base64 { media_type: "image/png".into(), data: "AAAA".into() }),
                        ChatPart::Text("What is it?".into()),
                    ],
                },
            ],
            params: ModelParams::default(),
            response_schema: None,
        };
        let body = messages_body("claude-sonnet-4-5", &request, &ModelParams::default(), false);
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            body["messages"][0]["content"][0],
            json!({ "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "AAAA" } })
        );
    }

    #[test]
    fn usage_counts_cache_reads_as_cached_input() {
        let u = usage(&json!({ "input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5 }));
        assert_eq!(u, Usage { input_tokens: 100, output_tokens: 5, cached_input_tokens: 90 });
    }
}
