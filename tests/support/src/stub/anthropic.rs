//! The Anthropic Messages wire format: message bodies, the named SSE events of a streamed
//! message, and `{"type": "error", "error": {…}}` bodies. Pure rendering, like `openai`.
//!
//! Usage follows Anthropic's accounting: `input_tokens` counts only the prompt tokens that were
//! not read from the cache, and `cache_read_input_tokens` the rest.

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Value, json};

use super::completion::Completion;

/// Anthropic's error body: `{"type": "error", "error": {"type", "message"}}`.
pub(crate) fn error_body(status: StatusCode, message: &str) -> Value {
    let kind = match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn id(completion: &Completion) -> String {
    format!("msg_stub_{}", completion.sequence)
}

fn stop_reason(completion: &Completion) -> &'static str {
    if completion.hit_max_tokens { "max_tokens" } else { "end_turn" }
}

fn usage(completion: &Completion, output_tokens: u64) -> Value {
    json!({
        "input_tokens": completion.prompt_tokens - completion.cached_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": completion.cached_tokens,
    })
}

/// A non-streaming `message` body with one text block.
pub(crate) fn message_body(completion: &Completion) -> Value {
    json!({
        "id": id(completion),
        "type": "message",
        "role": "assistant",
        "model": completion.model,
        "content": [{"type": "text", "text": completion.text}],
        "stop_reason": stop_reason(completion),
        "stop_sequence": null,
        "usage": usage(completion, completion.completion_tokens),
    })
}

/// The events of a streamed message, as Anthropic sends them: `message_start` (output tokens 1),
/// `content_block_start`, a `ping`, one `content_block_delta` (`text_delta`) per piece,
/// `content_block_stop`, `message_delta` (stop reason, `usage.output_tokens`), `message_stop`.
pub(crate) fn stream_events(completion: &Completion) -> Vec<Bytes> {
    let mut message = message_body(completion);
    message["content"] = json!([]);
    message["stop_reason"] = Value::Null;
    message["usage"] = usage(completion, 1);
    let mut events = vec![
        event("message_start", &json!({"type": "message_start", "message": message})),
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    for piece in completion.pieces() {
        let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}});
        events.push(event("content_block_delta", &delta));
    }
    events.push(event("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    events.push(event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(completion), "stop_sequence": null},
            "usage": {"output_tokens": completion.completion_tokens},
        }),
    ));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    events
}

/// A `content_block_delta` event whose data is not valid JSON.
pub(crate) fn malformed_event() -> Bytes {
    Bytes::from_static(b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"delta\": \n\n")
}

fn event(name: &str, data: &Value) -> Bytes {
    let mut event = Vec::with_capacity(256);
    event.extend_from_slice(b"event: ");
    event.extend_from_slice(name.as_bytes());
    event.extend_from_slice(b"\ndata: ");
    // Serialising a `Value` into a Vec cannot fail: its keys are strings and writes are infallible.
    serde_json::to_writer(&mut event, data).expect("invariant: a Value always serialises");
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}
