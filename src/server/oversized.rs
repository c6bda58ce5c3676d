//! A body that declares more than the body limit is read to its end (up to four times the limit)
//! before it is refused: answering 413 and closing while the client is still writing makes most
//! clients (the Langfuse and OpenAI SDKs included) report a connection reset, not the error.
//! It runs before authentication, so the request timeout is what bounds how long it reads.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;

/// How much more than the limit is still read through, so that the client sees the 413.
const DRAIN_FACTOR: u64 = 4;

/// Reads an oversized body through and hands the handler only its first `limit + 1` bytes, which
/// the handler's own body limit then refuses in its route's error shape. Larger bodies, and
/// bodies of unknown length, are left alone.
pub async fn drain_oversized(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let limit_bytes = limit as u64;
    if !declared.is_some_and(|n| n > limit_bytes && n <= limit_bytes.saturating_mul(DRAIN_FACTOR)) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let mut kept = Vec::with_capacity(limit.saturating_add(1));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                let room = (limit + 1).saturating_sub(kept.len()).min(chunk.len());
                kept.extend_from_slice(&chunk[..room]);
            }
            // A body cut short stays an error: what was read is never handed on as if whole.
            Err(err) => {
                let cut = futures::stream::iter([Ok(Bytes::from(kept)), Err(err)]);
                return next.run(Request::from_parts(parts, Body::from_stream(cut))).await;
            }
        }
    }
    parts.headers.insert(CONTENT_LENGTH, kept.len().into());
    next.run(Request::from_parts(parts, Body::from(Bytes::from(kept)))).await
}
