//! Error bodies in Langfuse's shape on the Langfuse-compatible routes: `{"message", "error"}`
//! as the Langfuse server answers (the SDK surfaces `message`), with promptops' `code`, `hint`
//! and `path` kept beside them.

use axum::body::{Body, to_bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Largest error body rewritten; promptops' own error bodies are far smaller.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The Langfuse error name of a status.
fn error_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 422 => "InvalidRequestError",
        401 => "UnauthorizedError",
        403 => "ForbiddenError",
        404 => "LangfuseNotFoundError",
        405 => "MethodNotAllowedError",
        409 => "ConflictError",
        429 => "TooManyRequestsError",
        503 => "ServiceUnavailableError",
        _ => "InternalServerError",
    }
}

/// An error body as the Langfuse server sends it, with promptops' details beside it.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LangfuseErrorBody {
    /// A sentence for people (what the SDK shows).
    pub message: String,
    /// Langfuse's error name: `InvalidRequestError`, `UnauthorizedError`, `ForbiddenError`,
    /// `LangfuseNotFoundError`, `ConflictError`, `TooManyRequestsError`, …
    pub error: String,
    /// promptops' stable snake_case code.
    pub code: String,
    /// How to fix it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The JSON path or parameter at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// promptops' error body as it arrives here.
#[derive(Deserialize)]
struct Native {
    error: NativeDetail,
}

#[derive(Deserialize)]
struct NativeDetail {
    code: String,
    message: String,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

/// Rewrites a promptops error body (`{"error": {"code", "message", "hint"?, "path"?}}`) into
/// Langfuse's shape; successes and bodies of another shape pass unchanged.
pub async fn langfuse_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return (status, "error body too large to translate").into_response();
    };
    let Ok(Native { error }) = serde_json::from_slice::<Native>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let shaped = LangfuseErrorBody {
        message: error.message,
        error: error_name(status).to_owned(),
        code: error.code,
        hint: error.hint,
        path: error.path,
    };
    let body = serde_json::to_vec(&shaped).unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}
