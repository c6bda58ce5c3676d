//! The OpenAI-compatible wire protocol: `POST /chat/completions` (plain JSON or SSE with
//! `stream_options.include_usage`) and `POST /embeddings`. With `api_version` set it speaks Azure
//! OpenAI instead: the model is the deployment name, the URL is
//! `{base}/openai/deployments/{model}/...?api-version=...` and the key goes in `api-key`.
//! Nothing here retries, caches or counts money.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use super::error::ProviderError;
use super::http::{self, SseParser};
use super::types::{
    ChatMessage, ChatPart, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, RateLimitInfo, Usage,
};
use super::{Provider, ProviderInfo};
use crate::money::Micros;
use crate::prompt::ModelParams;
use crate::secret::SecretString;

/// The default base URL.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// What an HTTP provider is built from (shared with `anthropic`).
#[derive(Debug, Clone)]
pub(crate) struct HttpSetup {
    pub info: ProviderInfo,
    pub base_url: String,
    pub key: Option<SecretString>,
    pub env_var: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub params: ModelParams,
    pub api_version: Option<String>,
    /// The HTTP client (the process-wide pool, or the server's guarded one).
    pub client: reqwest::Client,
}

/// An OpenAI-compatible server.
#[derive(Debug)]
pub(crate) struct OpenAi {
    setup: HttpSetup,
    client: reqwest::Client,
}

impl OpenAi {
    pub(crate) fn new(setup: HttpSetup) -> Self {
        let client = setup.client.clone();
        Self { setup, client }
    }

    fn url(&self, endpoint: &str, model: &str) -> String {
        match &self.setup.api_version {
            Some(version) => {
                format!("{}/openai/deployments/{model}/{endpoint}?api-version={version}", self.setup.base_url)
            }
            None => format!("{}/{endpoint}", self.setup.base_url),
        }
    }

    fn post(&self, url: &str, body: &Value) -> reqwest::RequestBuilder {
        let mut builder = self.client.post(url).json(body);
        if let Some(key) = &self.setup.key {
            builder = match self.setup.api_version {
                Some(_) => builder.header("api-key", key.expose()),
                None => builder.bearer_auth(key.expose()),
            };
        }
        for (name, value) in &self.setup.headers {
            builder = builder.header(name, value);
        }
        builder
    }

    fn bad(&self, detail: impl Into<String>) -> ProviderError {
        ProviderError::BadResponse { provider: self.setup.info.id.clone(), detail: detail.into() }
    }

    async fn send(&self, url: &str, body: &Value) -> Result<reqwest::Response, ProviderError> {
        let request = self.post(url, body);
        http::send(&self.setup.info.id, url, request, self.setup.key.as_ref(), self.setup.env_var.as_deref()).await
    }
}

/// The request body of `/chat/completions`.
pub(crate) fn chat_body(model: &str, request: &ChatRequest, defaults: &ModelParams, stream: bool) -> Value {
    let params = request.params.or(defaults);
    let mut body = json!({ "model": model, "messages": request.messages.iter().map(message).collect::<Vec<_>>() });
    let object = body.as_object_mut().expect("invariant: built as an object");
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            object.insert(key.to_owned(), value);
        }
    };
    set("temperature", params.temperature.map(Value::from));
    set("top_p", params.top_p.map(Value::from));
    // Reasoning models refuse `max_tokens`; everything else (and every other server) wants it.
    let reasoning = ["o1", "o3", "o4", "gpt-5"].iter().any(|p| model.starts_with(p));
    set(if reasoning { "max_completion_tokens" } else { "max_tokens" }, params.max_tokens.map(Value::from));
    set("stop", params.stop.as_ref().map(|s| Value::from(s.to_vec())));
    set("seed", params.seed.map(Value::from));
    set("presence_penalty", params.presence_penalty.map(Value::from));
    set("frequency_penalty", params.frequency_penalty.map(Value::from));
    set(
        "response_format",
        request.response_schema.as_ref().map(|schema| {
            json!({ "type": "json_schema", "json_schema": { "name": schema_name(request), "schema": schema, "strict": false } })
        }),
    );
    if stream {
        set("stream", Some(Value::Bool(true)));
        set("stream_options", Some(json!({ "include_usage": true })));
    }
    body
}

/// OpenAI wants `^[a-zA-Z0-9_-]{1,64}$`.
fn schema_name(request: &ChatRequest) -> String {
    let name: String = request
        .prompt
        .as_deref()
        .unwrap_or("response")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(64)
        .collect();
    if name.is_empty() { "response".to_owned() } else { name }
}

fn message(message: &ChatMessage) -> Value {
    let role = message.role.as_str();
    if let [ChatPart::Text(text)] = message.parts.as_slice() {
        return json!({ "role": role, "content": text });
    }
    let parts: Vec<Value> = message
        .parts
        .iter()
        .map(|part| match part {
            ChatPart::Text(text) => json!({ "type": "text", "text": text }),
            ChatPart::Image(image) => json!({ "type": "image_url", "image_url": { "url": image.to_url() } }),
        })
        .collect();
    json!({ "role": role, "content": parts })
}

fn usage(value: Option<&Value>) -> Option<Usage> {
    let value = value.filter(|v| v.is_object())?;
    let number = |pointer: &str| value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        input_tokens: number("/prompt_tokens"),
        output_tokens: number("/completion_tokens"),
        cached_input_tokens: number("/prompt_tokens_details/cached_tokens"),
    })
}

/// When a server reports no usage, the layers still need a figure: about four characters a token.
fn estimated_usage(request: &ChatRequest, text: &str) -> Usage {
    Usage {
        input_tokens: request.estimated_input_tokens(),
        output_tokens: (text.len() as u64).div_ceil(4),
        cached_input_tokens: 0,
    }
}

impl OpenAi {
    fn parse_chat(
        &self,
        request: &ChatRequest,
        body: &Value,
        rate_limit: RateLimitInfo,
    ) -> Result<ChatResponse, ProviderError> {
        let choice = body.pointer("/choices/0").ok_or_else(|| self.bad("the answer has no `choices`"))?;
        let text = match choice.pointer("/message/content") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => return Err(self.bad(format!("`message.content` is not text: {other}"))),
        };
        let usage = usage(body.get("usage")).unwrap_or_else(|| estimated_usage(request, &text));
        let model = body.get("model").and_then(Value::as_str).unwrap_or(&self.setup.info.model);
        let mut response = ChatResponse::new(&self.setup.info.id, model, text, usage);
        response.finish_reason = choice.get("finish_reason").and_then(Value::as_str).map(ToOwned::to_owned);
        response.rate_limit = rate_limit;
        Ok(response)
    }

    async fn stream(
        &self,
        request: &ChatRequest,
        response: reqwest::Response,
        on_delta: OnDelta<'_>,
    ) -> Result<ChatResponse, ProviderError> {
        let rate_limit = http::rate_limit_info(response.headers());
        let mut parser = SseParser::default();
        let mut bytes = response.bytes_stream();
        let (mut text, mut usage_seen, mut model, mut finish) = (String::new(), None, None, None);
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|err| ProviderError::StreamEnded {
                provider: self.setup.info.id.clone(),
                detail: format!("the connection broke ({})", err.without_url()),
            })?;
            for event in parser.push(&chunk) {
                if event.data == "[DONE]" {
                    let usage = usage_seen.unwrap_or_else(|| estimated_usage(request, &text));
                    let model = model.unwrap_or_else(|| self.setup.info.model.clone());
                    let mut done = ChatResponse::new(&self.setup.info.id, &model, text, usage);
                    done.finish_reason = finish;
                    done.rate_limit = rate_limit;
                    return Ok(done);
                }
                let value: Value = serde_json::from_str(&event.data).map_err(|err| {
                    self.bad(format!("a stream event is not JSON ({err}): {}", http::excerpt(&event.data, 120)))
                })?;
                if let Some(message) = value.pointer("/error/message").and_then(Value::as_str) {
                    return Err(ProviderError::Status {
                        provider: self.setup.info.id.clone(),
                        status: 500,
                        message: message.to_owned(),
                        retry_after: None,
                    });
                }
                if let Some(delta) =
                    value.pointer("/choices/0/delta/content").and_then(Value::as_str).filter(|d| !d.is_empty())
                {
                    on_delta(delta);
                    text.push_str(delta);
                }
                if let Some(reason) = value.pointer("/choices/0/finish_reason").and_then(Value::as_str) {
                    finish = Some(reason.to_owned());
                }
                usage_seen = usage(value.get("usage")).or(usage_seen);
                model = value.get("model").and_then(Value::as_str).map(ToOwned::to_owned).or(model);
            }
        }
        Err(ProviderError::StreamEnded { provider: self.setup.info.id.clone(), detail: "no `[DONE]` event".to_owned() })
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn info(&self) -> &ProviderInfo {
        &self.setup.info
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let model = &self.setup.info.model;
        let url = self.url("chat/completions", model);
        let body = chat_body(model, request, &self.setup.params, on_delta.is_some());
        let response = self.send(&url, &body).await?;
        match on_delta {
            Some(on_delta) => self.stream(request, response, on_delta).await,
            None => {
                let rate_limit = http::rate_limit_info(response.headers());
                let body = http::json_body(&self.setup.info.id, response).await?;
                self.parse_chat(request, &body, rate_limit)
            }
        }
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let model = request.model.as_deref().unwrap_or(&self.setup.info.model);
        let url = self.url("embeddings", model);
        let response = self.send(&url, &json!({ "model": model, "input": request.inputs })).await?;
        let body = http::json_body(&self.setup.info.id, response).await?;
        let data = body.get("data").and_then(Value::as_array).ok_or_else(|| self.bad("the answer has no `data`"))?;
        let mut vectors = vec![Vec::new(); data.len()];
        for (position, item) in data.iter().enumerate() {
            let index = item.get("index").and_then(Value::as_u64).map_or(position, |i| i as usize);
            let vector = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| self.bad("an item has no `embedding`"))?
                .iter()
                .map(|x| x.as_f64().map(|x| x as f32))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| self.bad("an embedding holds a non-number"))?;
            *vectors.get_mut(index).ok_or_else(|| self.bad("an embedding index is out of range"))? = vector;
        }
        let usage = usage(body.get("usage")).unwrap_or_default();
        let model = body.get("model").and_then(Value::as_str).unwrap_or(model).to_owned();
        Ok(EmbedResponse { vectors, model, usage, cost: Micros::ZERO })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::Role;
    use crate::provider::Image;

    #[test]
    fn images_become_image_url_parts_and_schemas_response_format() {
        let request = ChatRequest {
            prompt: Some("vision/caption".into()),
            messages: vec![ChatMessage {
                role: Role::User,
                parts: vec![
                    ChatPart::Text("Describe".into()),
                    ChatPart::Image(Image::Base64 { media_type: "image/png".into(), data: "AAAA".into() }),
                ],
            }],
            params: ModelParams { max_tokens: Some(50), ..ModelParams::default() },
            response_schema: Some(json!({ "type": "object" })),
        };
        let body =
            chat_body("gpt-4o-mini", &request, &ModelParams { temperature: Some(0.0), ..ModelParams::default() }, true);
        assert_eq!(
            body["messages"][0]["content"][1],
            json!({ "type": "image_url", "image_url": { "url": "data:image/png;base64,AAAA" } })
        );
        assert_eq!(body["response_format"]["json_schema"]["name"], "vision_caption");
        assert_eq!((body["max_tokens"].clone(), body["temperature"].clone()), (json!(50), json!(0.0)));
        assert_eq!(body["stream_options"], json!({ "include_usage": true }));
        let reasoning = chat_body("o3-mini", &request, &ModelParams::default(), false);
        assert_eq!(reasoning["max_completion_tokens"], 50);
        assert!(reasoning.get("stream").is_none());
    }
}
