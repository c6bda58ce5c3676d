//! OpenAI's wire format, as the official SDKs expect it: reading a chat completion or embeddings
//! request into the library's types, writing completions, SSE chunks, embeddings and model lists,
//! and the error envelope `{"error": {"message", "type", "param", "code"}}` with the statuses the
//! SDKs turn into their typed exceptions.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use crate::gateway::GatewayError;
use crate::prompt::{ModelParams, Role, Stop};
use crate::provider::{ChatMessage, ChatPart, ChatResponse, EmbedResponse, ProviderError, Usage, load_image};

/// The body of a gateway error, as OpenAI's SDKs read it (for the OpenAPI document).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct OpenAiErrorBody {
    /// The error.
    pub error: OpenAiErrorDetail,
}

/// OpenAI's error fields.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct OpenAiErrorDetail {
    /// A sentence for people.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `rate_limit_error`,
    /// `insufficient_quota` or `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, or null.
    pub param: Option<String>,
    /// A stable code (`model_not_found`, `prompt_not_found`, `missing_prompt_variables`,
    /// `rate_limit_exceeded`, `budget_exceeded`, `invalid_api_key`, …), or null.
    pub code: Option<String>,
}

/// An error in OpenAI's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A sentence for people.
    pub message: String,
    /// OpenAI's error type (`invalid_request_error`, `authentication_error`, …).
    pub kind: &'static str,
    /// The request field at fault.
    pub param: Option<String>,
    /// A stable code (`model_not_found`, `budget_exceeded`, …).
    pub code: Option<&'static str>,
    /// Seconds to wait before retrying (429).
    pub retry_after: Option<Duration>,
}

impl OpenAiError {
    /// An error of `status` and `kind` with `code`.
    pub fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), kind, param: None, code: Some(code), retry_after: None }
    }

    /// A 400 about `param`.
    pub fn invalid(param: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            param: Some(param.to_owned()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message)
        }
    }

    /// A 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", "invalid_api_key", message)
    }

    /// 429 for a client that failed to authenticate too often: retry after `seconds`.
    pub fn throttled(seconds: u64) -> Self {
        let message = "too many failed authentications from this address";
        Self {
            retry_after: Some(Duration::from_secs(seconds)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "rate_limit_exceeded", message)
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

fn upstream(err: &ProviderError) -> OpenAiError {
    let (status, code) = match err {
        ProviderError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        ProviderError::RateLimited { .. } => (StatusCode::BAD_GATEWAY, "upstream_rate_limited"),
        ProviderError::Image { .. } | ProviderError::ImageRead { .. } => {
            return OpenAiError::invalid("messages", "invalid_image", err.to_string());
        }
        _ => (StatusCode::BAD_GATEWAY, "upstream_error"),
    };
    OpenAiError::new(status, "api_error", code, err.to_string())
}

impl From<GatewayError> for OpenAiError {
    fn from(err: GatewayError) -> Self {
        let message = err.to_string();
        match err {
            GatewayError::UnknownModel { .. } => Self {
                param: Some("model".to_owned()),
                ..Self::new(StatusCode::NOT_FOUND, "invalid_request_error", "model_not_found", message)
            },
            GatewayError::NotFound { .. } => Self {
                param: Some("prompt".to_owned()),
                ..Self::new(StatusCode::NOT_FOUND, "invalid_request_error", "prompt_not_found", message)
            },
            GatewayError::BadField { field, .. } => Self::invalid(&field, "invalid_value", message),
            GatewayError::Spec(problem) => Self::invalid(&problem.path, "invalid_value", message),
            GatewayError::NotAllowed { .. } => {
                Self::new(StatusCode::FORBIDDEN, "permission_error", "not_allowed_for_key", message)
            }
            GatewayError::Unpriced { .. } => Self::invalid("model", "model_not_priced", message),
            GatewayError::Limited { limit, retry_after, .. } => {
                let (kind, code) = if limit.is_budget() {
                    ("insufficient_quota", "budget_exceeded")
                } else {
                    ("rate_limit_error", "rate_limit_exceeded")
                };
                Self { retry_after, ..Self::new(StatusCode::TOO_MANY_REQUESTS, kind, code, message) }
            }
            GatewayError::Provider(err) => upstream(&err),
            GatewayError::NoKey { .. } | GatewayError::Vault(_) | GatewayError::Refused(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "api_error", "provider_unavailable", message)
            }
            GatewayError::Store(_) | GatewayError::Internal(_) | GatewayError::Rotation { .. } => {
                tracing::error!(error = %message, "gateway internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "internal_error", "internal error")
            }
        }
    }
}

/// A string field of the body.
pub fn text_field<'a>(body: &'a Value, name: &str) -> Result<Option<&'a str>, OpenAiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(OpenAiError::invalid(name, "invalid_type", format!("`{name}` must be a string"))),
    }
}

fn number(body: &Value, name: &str) -> Result<Option<f64>, OpenAiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(OpenAiError::invalid(name, "invalid_type", format!("`{name}` must be a number"))),
    }
}

fn integer<T: TryFrom<i64>>(body: &Value, name: &str) -> Result<Option<T>, OpenAiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            value.as_i64().and_then(|n| T::try_from(n).ok()).map(Some).ok_or_else(|| {
                OpenAiError::invalid(name, "invalid_type", format!("`{name}` must be an integer in range"))
            })
        }
    }
}

/// The sampling parameters a request sets (they override the prompt's and the connection's).
pub fn params(body: &Value) -> Result<ModelParams, OpenAiError> {
    let stop = match body.get("stop") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Stop::One(s.clone())),
        Some(Value::Array(items)) => Some(Stop::Many(
            items
                .iter()
                .map(|i| i.as_str().map(ToOwned::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| OpenAiError::invalid("stop", "invalid_type", "`stop` must be strings"))?,
        )),
        Some(_) => return Err(OpenAiError::invalid("stop", "invalid_type", "`stop` must be a string or strings")),
    };
    Ok(ModelParams {
        temperature: number(body, "temperature")?,
        top_p: number(body, "top_p")?,
        max_tokens: integer(body, "max_completion_tokens")?.or(integer(body, "max_tokens")?),
        stop,
        seed: integer(body, "seed")?,
        presence_penalty: number(body, "presence_penalty")?,
        frequency_penalty: number(body, "frequency_penalty")?,
    })
}

/// Refuses what the gateway does not do, rather than silently ignoring it.
pub fn unsupported(body: &Value) -> Result<(), OpenAiError> {
    for field in ["tools", "functions", "tool_choice", "function_call", "audio", "prediction"] {
        if body.get(field).is_some_and(|v| !v.is_null()) {
            return Err(OpenAiError::invalid(
                field,
                "unsupported_parameter",
                format!("`{field}` is not supported by the promptops gateway"),
            ));
        }
    }
    if integer::<i64>(body, "n")?.is_some_and(|n| n != 1) {
        return Err(OpenAiError::invalid("n", "unsupported_parameter", "only `n: 1` is supported"));
    }
    Ok(())
}

/// The JSON Schema of `response_format: {type: json_schema}`, if given.
pub fn response_schema(body: &Value) -> Option<Value> {
    let format = body.get("response_format")?;
    (format.get("type")?.as_str()? == "json_schema").then(|| format.pointer("/json_schema/schema").cloned()).flatten()
}

fn role(text: &str, index: usize) -> Result<Role, OpenAiError> {
    match text {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        other => Err(OpenAiError::invalid(
            &format!("messages[{index}].role"),
            "unsupported_value",
            format!("role `{other}` is not supported (system, developer, user, assistant)"),
        )),
    }
}

fn part(value: &Value, at: &str) -> Result<ChatPart, OpenAiError> {
    let bad = || {
        OpenAiError::invalid(
            at,
            "invalid_value",
            "a content part is `{type: text, text}` or `{type: image_url, image_url: {url}}`",
        )
    };
    match value.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ChatPart::Text(value.get("text").and_then(Value::as_str).ok_or_else(bad)?.to_owned())),
        Some("image_url") => {
            let url = value.pointer("/image_url/url").and_then(Value::as_str).ok_or_else(bad)?;
            image(url, at)
        }
        _ => Err(bad()),
    }
}

/// An image given by URL or data URL; never a path, which would read the server's files.
pub fn image(source: &str, at: &str) -> Result<ChatPart, OpenAiError> {
    let source = source.trim();
    if !(source.starts_with("https://") || source.starts_with("http://") || source.starts_with("data:")) {
        return Err(OpenAiError::invalid(at, "invalid_image", "an image is an http(s) URL or a data URL"));
    }
    load_image(source, std::path::Path::new("/"))
        .map(ChatPart::Image)
        .map_err(|err| OpenAiError::invalid(at, "invalid_image", err.to_string()))
}

/// The request's `messages`.
pub fn messages(body: &Value, required: bool) -> Result<Vec<ChatMessage>, OpenAiError> {
    let items = match body.get("messages") {
        None | Some(Value::Null) if !required => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        _ => return Err(OpenAiError::invalid("messages", "invalid_type", "`messages` must be a list of messages")),
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("messages[{index}]");
        let role = role(item.get("role").and_then(Value::as_str).unwrap_or(""), index)?;
        let parts = match item.get("content") {
            Some(Value::String(text)) => vec![ChatPart::Text(text.clone())],
            Some(Value::Array(parts)) => parts
                .iter()
                .enumerate()
                .map(|(j, p)| part(p, &format!("{at}.content[{j}]")))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(OpenAiError::invalid(
                    &format!("{at}.content"),
                    "invalid_type",
                    "`content` must be text or parts",
                ));
            }
        };
        out.push(ChatMessage { role, parts });
    }
    Ok(out)
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total(),
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    })
}

/// A whole chat completion.
pub fn completion(id: &str, created: i64, model: &str, response: &ChatResponse) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": response.text, "refusal": null},
            "logprobs": null,
            "finish_reason": response.finish_reason.as_deref().map_or("stop", finish),
        }],
        "usage": usage_json(&response.usage),
    })
}

/// OpenAI's name for why generation stopped.
fn finish(reason: &str) -> &str {
    match reason {
        "max_tokens" | "length" => "length",
        "content_filter" => "content_filter",
        _ => "stop",
    }
}

/// One SSE chunk: a delta of text, the final chunk (`finish`), or the usage chunk.
pub fn chunk(id: &str, created: i64, model: &str, delta: Value, finish_reason: Option<&str>) -> String {
    let value = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason.map(finish)}],
    });
    format!("data: {value}\n\n")
}

/// The usage chunk sent last when the client asked for `stream_options.include_usage`.
pub fn usage_chunk(id: &str, created: i64, model: &str, usage: &Usage) -> String {
    let value = json!({
        "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [], "usage": usage_json(usage),
    });
    format!("data: {value}\n\n")
}

/// An error in the middle of a stream (after the status was sent).
pub fn error_event(error: &OpenAiError) -> String {
    format!("data: {}\n\n", error.body())
}

/// The texts of an embeddings request's `input`.
pub fn embedding_inputs(body: &Value) -> Result<Vec<String>, OpenAiError> {
    let bad = || OpenAiError::invalid("input", "invalid_type", "`input` must be a string or a list of strings");
    match body.get("input") {
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().map(ToOwned::to_owned)).collect::<Option<_>>().ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// An embeddings answer, as floats or, when asked, base64 of little-endian `f32`s.
pub fn embeddings(model: &str, response: &EmbedResponse, base64: bool) -> Value {
    let data: Vec<Value> = response
        .vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": response.usage.input_tokens, "total_tokens": response.usage.input_tokens},
    })
}

/// The answer of `GET /v1/models`.
pub fn model_list(ids: &[String]) -> Value {
    let data: Vec<Value> =
        ids.iter().map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "promptops"})).collect();
    json!({"object": "list", "data": data})
}
