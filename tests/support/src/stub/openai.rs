//! The OpenAI wire format (also Azure's): chat completion bodies, `chat.completion.chunk` SSE
//! events ending in `data: [DONE]`, embeddings lists and `{"error": {…}}` bodies. Pure
//! rendering; which one to send is decided in `server`.

use axum::http::StatusCode;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use super::completion::Completion;
use super::embed::embed;
use super::request::{EmbeddingRequest, count_tokens};

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn error_body(status: StatusCode, message: &str) -> Value {
    let (kind, code) = match status.as_u16() {
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => ("invalid_request_error", json!("permission_denied")),
        404 => ("invalid_request_error", json!("not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn id(completion: &Completion) -> String {
    format!("chatcmpl-stub-{}", completion.sequence)
}

fn finish_reason(completion: &Completion) -> &'static str {
    if completion.hit_max_tokens { "length" } else { "stop" }
}

fn usage(completion: &Completion) -> Value {
    json!({
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": completion.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

/// A non-streaming `chat.completion` body.
pub(crate) fn completion_body(completion: &Completion, created: u64) -> Value {
    json!({
        "id": id(completion),
        "object": "chat.completion",
        "created": created,
        "model": completion.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": completion.text, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason(completion),
        }],
        "usage": usage(completion),
    })
}

/// The SSE events of a streamed completion: a role chunk, one chunk per piece, a chunk with the
/// finish reason, with `include_usage` a chunk with empty `choices` and `usage`, then `[DONE]`.
/// With `include_usage` every other chunk has `"usage": null`, as OpenAI sends it.
pub(crate) fn stream_events(completion: &Completion, created: u64, include_usage: bool) -> Vec<Bytes> {
    let id = id(completion);
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created,
            "model": completion.model, "choices": choices,
        });
        if include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        data_event(&chunk)
    };
    let delta =
        |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let mut events = vec![chunk(delta(json!({"role": "assistant", "content": ""}), Value::Null), None)];
    for piece in completion.pieces() {
        events.push(chunk(delta(json!({"content": piece}), Value::Null), None));
    }
    events.push(chunk(delta(json!({}), json!(finish_reason(completion))), None));
    if include_usage {
        events.push(chunk(json!([]), Some(usage(completion))));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// An SSE event whose data is not valid JSON.
pub(crate) fn malformed_event() -> Bytes {
    Bytes::from_static(b"data: {\"id\": \"chatcmpl-stub\", \"choices\": [{\"delta\": \n\n")
}

fn data_event(value: &Value) -> Bytes {
    let mut event = Vec::with_capacity(256);
    event.extend_from_slice(b"data: ");
    // Serialising a `Value` into a Vec cannot fail: its keys are strings and writes are infallible.
    serde_json::to_writer(&mut event, value).expect("invariant: a Value always serialises");
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// An embeddings `list` body: one vector per input, floats or base64 of little-endian f32s.
pub(crate) fn embeddings_body(request: &EmbeddingRequest, default_dimensions: usize) -> Value {
    let dimensions = request.dimensions.unwrap_or(default_dimensions);
    let data: Vec<Value> = request
        .inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embed(input, dimensions);
            let embedding = if request.base64 { json!(base64_floats(&vector)) } else { json!(vector) };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: u64 = request.inputs.iter().map(|input| count_tokens(input)).sum();
    json!({
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
}

fn base64_floats(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
