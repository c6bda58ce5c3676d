//! The HTTP side of the stub: the axum router, and the one pipeline every model request goes
//! through: record → auth → validate → fault → latency → reply in the request's wire format.
//!
//! The configuration lock is held once per request, only to check the key, pop a fault and
//! copy out what the reply needs (an `Arc` and a few numbers); reply functions and sleeps run
//! outside it, so a slow request never holds up the others.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use futures::StreamExt as _;
use serde_json::Value;

use super::completion::Completion;
use super::config::{Fault, Latency, RateLimitHeaders, Responder, StubConfig};
use super::record::{InFlight, Recorder};
use super::request::{ChatRequest, EmbeddingRequest, Wire};
use super::{anthropic, openai};

/// State shared by the handlers and the [`StubHandle`](super::StubHandle).
#[derive(Debug)]
pub(crate) struct Shared {
    config: Mutex<StubConfig>,
    pub(crate) recorder: Arc<Recorder>,
    sequence: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: StubConfig) -> Self {
        let recorder = Arc::new(Recorder::new(config.record));
        Self { config: Mutex::new(config), recorder, sequence: AtomicU64::new(0) }
    }

    pub(crate) fn config(&self) -> MutexGuard<'_, StubConfig> {
        // Builder methods cannot panic halfway through a change, so a poisoned lock holds a
        // whole configuration and is safe to keep using.
        self.config.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the key, then the request, then pops a fault and copies out the reply settings.
    fn admit<T>(&self, wire: Wire, headers: &HeaderMap, parsed: Result<T, Rejection>) -> Result<(T, Plan), Rejection> {
        let mut config = self.config();
        authorize(&config, wire, headers)?;
        let parsed = parsed?;
        let plan = Plan {
            fault: config.faults.pop_front(),
            responder: Arc::clone(&config.responder),
            latency: config.latency.clone(),
            chunk_delay: config.chunk_delay,
            cached_tokens: config.cached_tokens,
            rate_limit: config.rate_limit,
            embedding_dimensions: config.embedding_dimensions,
        };
        Ok((parsed, plan))
    }

    fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// What one admitted request needs from the configuration.
struct Plan {
    fault: Option<Fault>,
    responder: Arc<Responder>,
    latency: Latency,
    chunk_delay: Duration,
    cached_tokens: u64,
    rate_limit: Option<RateLimitHeaders>,
    embedding_dimensions: usize,
}

/// A refusal: the status and the message for the provider's error body.
type Rejection = (StatusCode, String);

/// The routes of every wire format the stub speaks.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai_chat))
        .route("/v1/embeddings", post(openai_embeddings))
        .route("/v1/messages", post(anthropic_messages))
        .route("/openai/deployments/{deployment}/chat/completions", post(azure_chat))
        .route("/openai/deployments/{deployment}/embeddings", post(azure_embeddings))
        .fallback(not_found)
        .with_state(shared)
}

/// The parts of a request every handler takes.
struct Incoming {
    uri: Uri,
    headers: HeaderMap,
    body: Option<Value>,
}

impl Incoming {
    /// Counts the request in flight, records it, and parses its body as JSON.
    fn arrive(shared: &Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> (Self, InFlight) {
        let received_at = Instant::now();
        let in_flight = shared.recorder.enter();
        if shared.recorder.is_enabled() {
            shared.recorder.record(method, uri.clone(), headers.clone(), body.clone(), received_at);
        }
        let body = serde_json::from_slice(&body).ok();
        (Self { uri, headers, body }, in_flight)
    }

    /// The JSON object body, or a 400.
    fn object(&self) -> Result<&Value, Rejection> {
        match &self.body {
            Some(body @ Value::Object(_)) => Ok(body),
            _ => Err(bad_request("the request body is not a JSON object")),
        }
    }

    fn query_has(&self, name: &str) -> bool {
        let query = self.uri.query().unwrap_or("");
        query.split('&').any(|pair| pair.split('=').next() == Some(name))
    }
}

fn bad_request(message: impl Into<String>) -> Rejection {
    (StatusCode::BAD_REQUEST, message.into())
}

async fn openai_chat(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (incoming, in_flight) = Incoming::arrive(&shared, method, uri, headers, body);
    let parsed =
        incoming.object().and_then(|body| ChatRequest::from_openai(body, Wire::OpenAi, None).map_err(bad_request));
    chat(&shared, Wire::OpenAi, &incoming, parsed, in_flight).await
}

async fn azure_chat(
    State(shared): State<Arc<Shared>>,
    Path(deployment): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (incoming, in_flight) = Incoming::arrive(&shared, method, uri, headers, body);
    let parsed = azure_api_version(&incoming).and_then(|()| {
        let body = incoming.object()?;
        ChatRequest::from_openai(body, Wire::Azure, Some(&deployment)).map_err(bad_request)
    });
    chat(&shared, Wire::Azure, &incoming, parsed, in_flight).await
}

async fn anthropic_messages(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (incoming, in_flight) = Incoming::arrive(&shared, method, uri, headers, body);
    let parsed = if incoming.headers.contains_key("anthropic-version") {
        incoming.object().and_then(|body| ChatRequest::from_anthropic(body).map_err(bad_request))
    } else {
        Err(bad_request("anthropic-version: header is required"))
    };
    chat(&shared, Wire::Anthropic, &incoming, parsed, in_flight).await
}

async fn openai_embeddings(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (incoming, in_flight) = Incoming::arrive(&shared, method, uri, headers, body);
    let parsed = incoming.object().and_then(|body| EmbeddingRequest::parse(body, None).map_err(bad_request));
    embeddings(&shared, Wire::OpenAi, &incoming, parsed, in_flight).await
}

async fn azure_embeddings(
    State(shared): State<Arc<Shared>>,
    Path(deployment): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (incoming, in_flight) = Incoming::arrive(&shared, method, uri, headers, body);
    let parsed = azure_api_version(&incoming).and_then(|()| {
        let body = incoming.object()?;
        EmbeddingRequest::parse(body, Some(&deployment)).map_err(bad_request)
    });
    embeddings(&shared, Wire::Azure, &incoming, parsed, in_flight).await
}

/// Recorded like any request, then 404 in OpenAI's shape (Anthropic's under `/v1/messages…`).
async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let wire = if uri.path().starts_with("/v1/messages") { Wire::Anthropic } else { Wire::OpenAi };
    let message = format!("the stub has no route `{method} {}`", uri.path());
    let (_incoming, _in_flight) = Incoming::arrive(&shared, method, uri, headers, body);
    error_response(wire, StatusCode::NOT_FOUND, &message)
}

fn azure_api_version(incoming: &Incoming) -> Result<(), Rejection> {
    if incoming.query_has("api-version") {
        Ok(())
    } else {
        Err(bad_request("missing required query parameter `api-version`"))
    }
}

/// Checks the API key of `wire` against the configuration, then the 403 switch.
fn authorize(config: &StubConfig, wire: Wire, headers: &HeaderMap) -> Result<(), Rejection> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let presented = match wire {
        Wire::OpenAi => header(AUTHORIZATION.as_str()).and_then(|value| value.strip_prefix("Bearer ")),
        Wire::Azure => header("api-key"),
        Wire::Anthropic => header("x-api-key"),
    };
    let unauthorized = |message: &str| Err((StatusCode::UNAUTHORIZED, message.to_owned()));
    match (config.api_key.as_deref(), presented) {
        (None, None) if wire == Wire::Anthropic => return unauthorized("x-api-key header is required"),
        (Some(_), None) => return unauthorized("no API key was provided"),
        (Some(expected), Some(key)) if key != expected => return unauthorized("incorrect API key provided"),
        _ => {}
    }
    if config.forbidden {
        return Err((StatusCode::FORBIDDEN, "this API key does not have access to this resource".to_owned()));
    }
    Ok(())
}

async fn chat(
    shared: &Shared,
    wire: Wire,
    incoming: &Incoming,
    parsed: Result<ChatRequest, Rejection>,
    in_flight: InFlight,
) -> Response {
    let (request, mut plan) = match shared.admit(wire, &incoming.headers, parsed) {
        Ok(admitted) => admitted,
        Err((status, message)) => return error_response(wire, status, &message),
    };
    if let Some(response) = fault_response(wire, &mut plan).await {
        return response;
    }
    sleep(plan.latency.for_request(&request)).await;
    let text = plan.responder.reply(&request);
    let completion = Completion::new(shared.next_sequence(), &request, text, plan.cached_tokens);
    let created = unix_seconds();
    let mut response = if request.stream {
        let events = match wire {
            Wire::Anthropic => anthropic::stream_events(&completion),
            Wire::OpenAi | Wire::Azure => openai::stream_events(&completion, created, request.include_usage),
        };
        stream_response(wire, events, &plan, in_flight)
    } else {
        let body = match wire {
            Wire::Anthropic => anthropic::message_body(&completion),
            Wire::OpenAi | Wire::Azure => openai::completion_body(&completion, created),
        };
        body_response(&body, plan.fault.as_ref())
    };
    rate_limit_headers(wire, plan.rate_limit, response.headers_mut());
    response
}

async fn embeddings(
    shared: &Shared,
    wire: Wire,
    incoming: &Incoming,
    parsed: Result<EmbeddingRequest, Rejection>,
    _in_flight: InFlight,
) -> Response {
    let (request, mut plan) = match shared.admit(wire, &incoming.headers, parsed) {
        Ok(admitted) => admitted,
        Err((status, message)) => return error_response(wire, status, &message),
    };
    if let Some(response) = fault_response(wire, &mut plan).await {
        return response;
    }
    let body = openai::embeddings_body(&request, plan.embedding_dimensions);
    let mut response = body_response(&body, plan.fault.as_ref());
    rate_limit_headers(wire, plan.rate_limit, response.headers_mut());
    response
}

/// Answers the faults that replace the reply; waits out `Slow`. Faults that corrupt the reply
/// (`MalformedJson`, `TruncatedStream`) stay in the plan for the renderer.
async fn fault_response(wire: Wire, plan: &mut Plan) -> Option<Response> {
    let status = match plan.fault.as_ref()? {
        Fault::RateLimited { retry_after_secs } => {
            let mut response = error_response(wire, StatusCode::TOO_MANY_REQUESTS, "rate limit reached (stub fault)");
            if let Some(seconds) = retry_after_secs {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(*seconds));
            }
            return Some(response);
        }
        Fault::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Fault::Status(code) => StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Fault::Slow(delay) => {
            sleep(*delay).await;
            plan.fault = None;
            return None;
        }
        Fault::MalformedJson | Fault::TruncatedStream { .. } => return None,
    };
    Some(error_response(wire, status, &format!("{} (stub fault)", status.canonical_reason().unwrap_or("error"))))
}

/// A provider-shaped JSON error.
fn error_response(wire: Wire, status: StatusCode, message: &str) -> Response {
    let body = match wire {
        Wire::Anthropic => anthropic::error_body(status, message),
        Wire::OpenAi | Wire::Azure => openai::error_body(status, message),
    };
    (status, [(CONTENT_TYPE, "application/json")], to_json(&body)).into_response()
}

/// A 200 JSON body, unless a fault corrupts it: garbage for `MalformedJson`, half of it and a
/// dropped connection for `TruncatedStream`.
fn body_response(body: &Value, fault: Option<&Fault>) -> Response {
    let bytes = match fault {
        Some(Fault::MalformedJson) => Body::from(&b"{\"id\": \"stub\", \"choices\": [{\"message\": "[..]),
        Some(Fault::TruncatedStream { .. }) => {
            let mut bytes = to_json(body);
            bytes.truncate(bytes.len() / 2);
            let half = futures::stream::iter([Ok(Bytes::from(bytes))]);
            Body::from_stream(half.chain(cut_off()))
        }
        _ => Body::from(to_json(body)),
    };
    ([(CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// An SSE response sending `events` with the plan's delay between them; the request stays in
/// flight until the stream ends or the client goes away.
fn stream_response(wire: Wire, mut events: Vec<Bytes>, plan: &Plan, in_flight: InFlight) -> Response {
    let mut cut = false;
    match plan.fault {
        Some(Fault::MalformedJson) => {
            let garbage =
                if wire == Wire::Anthropic { anthropic::malformed_event() } else { openai::malformed_event() };
            events.insert(1.min(events.len()), garbage);
        }
        Some(Fault::TruncatedStream { after_events }) => {
            events.truncate(after_events.min(events.len().saturating_sub(1)));
            cut = true;
        }
        _ => {}
    }
    let delay = plan.chunk_delay;
    let sent = futures::stream::iter(events.into_iter().enumerate()).then(move |(index, event)| async move {
        if index > 0 {
            sleep(delay).await;
        }
        Ok::<_, io::Error>(event)
    });
    let end = if cut { cut_off().left_stream() } else { futures::stream::empty().right_stream() };
    let body = sent.chain(end).map(move |item| {
        let _still_in_flight = &in_flight;
        item
    });
    let headers = [(CONTENT_TYPE, "text/event-stream"), (CACHE_CONTROL, "no-cache")];
    (headers, Body::from_stream(body)).into_response()
}

fn rate_limit_headers(wire: Wire, limits: Option<RateLimitHeaders>, headers: &mut HeaderMap) {
    let Some(limits) = limits else { return };
    let (requests, tokens) = match wire {
        Wire::Anthropic => ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-remaining"),
        Wire::OpenAi | Wire::Azure => ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"),
    };
    headers.insert(HeaderName::from_static(requests), HeaderValue::from(limits.requests));
    headers.insert(HeaderName::from_static(tokens), HeaderValue::from(limits.tokens));
}

/// A body error that makes hyper drop the connection mid-body. It comes after a short pause:
/// hyper flushes what it has buffered only when the body is pending, and an error arriving in
/// the same poll would discard the status line and the events sent so far.
fn cut_off() -> impl futures::Stream<Item = Result<Bytes, io::Error>> {
    futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Err(io::Error::new(io::ErrorKind::ConnectionAborted, "stub fault: connection closed mid-stream"))
    })
}

async fn sleep(duration: Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

fn to_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("invariant: a Value always serialises")
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}
