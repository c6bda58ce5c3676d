//! The layers around handlers. [`observe`] (every route): a request id (taken from
//! `x-request-id` or made up), the client's address, a tracing span carrying the id, one log
//! line per request (method, path, status, latency; never headers or bodies, so never a secret)
//! and the HTTP metrics. [`authenticate`] (API routes): the per-address throttle of failed
//! authentication, credentials → [`Caller`], the per-credential rate limit, and an audit entry
//! for every write, whatever its outcome (refusals included), under the decoded names the
//! handler acted on. [`gateway_guard`] (`/v1`): the same throttle for gateway keys, and an audit
//! entry for every refused call. [`metrics_gate`]: the metrics token.

use std::time::Instant;

use axum::RequestExt;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::auth::{self, Caller, TOKEN_PREFIX};
use super::client::ClientAddr;
use super::error::ApiError;
use super::gateway::wire::OpenAiError;
use super::state::AppState;
use crate::access::TenantScope;
use crate::store::AuditDraft;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The actor of audit entries whose credentials were refused.
pub const ANONYMOUS: &str = "anonymous";

/// Longest audited target; longer paths are cut (a path is the client's to choose).
const MAX_TARGET: usize = 1024;

/// Request id, client address, span, log line and metrics.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| auth::random_id("req_"), str::to_owned);
    let client = ClientAddr::of(request.extensions(), request.headers(), &state.config.trusted_proxies);
    request.extensions_mut().insert(client);
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe_request(&route, method.as_str(), status, elapsed);
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, route = %route, "request");
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Which credentials a group of routes takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` with an API token or a JWT (`/api/v1`).
    Bearer,
    /// `Authorization: Basic` with a Langfuse key pair (`/api/public`).
    Basic,
}

/// Throttles, authenticates, rate-limits, runs the handler, and audits writes.
pub async fn authenticate(
    State((state, scheme)): State<(AppState, Scheme)>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_of(&state, &request);
    let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let audit = if write { Some(audit_draft(&mut request, &client).await) } else { None };
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let caller = match admit(&state, scheme, authorization.as_deref(), &client).await {
        Ok(caller) => caller,
        Err(refused) => {
            let response = refused.into_response();
            if let Some(entry) = audit {
                record(&state, None, entry, response.status().as_u16()).await;
            }
            return response;
        }
    };
    let response = match state.limiter.as_ref().map(|limiter| limiter.check(&caller.credential)) {
        Some(Err(retry_after)) => ApiError::RateLimited { retry_after }.into_response(),
        _ => {
            request.extensions_mut().insert(caller.clone());
            next.run(request).await
        }
    };
    if let Some(entry) = audit {
        if response.status().is_success() {
            // Roles, tokens or projects may have changed: re-read them on the next request.
            state.grants.clear();
        }
        record(&state, Some(&caller), entry, response.status().as_u16()).await;
    }
    response
}

/// The caller, unless the client is throttled for failing too often or its credentials fail
/// (which counts against its address).
async fn admit(
    state: &AppState,
    scheme: Scheme,
    authorization: Option<&str>,
    client: &ClientAddr,
) -> Result<Caller, ApiError> {
    throttled(state, client)?;
    let caller = credentials(state, scheme, authorization).await;
    if let Err(ApiError::Unauthenticated { .. }) = &caller {
        failed(state, client);
    }
    caller
}

/// The client of a request: as [`observe`] found it, else from the socket alone.
fn client_of(state: &AppState, request: &Request) -> ClientAddr {
    request
        .extensions()
        .get::<ClientAddr>()
        .copied()
        .unwrap_or_else(|| ClientAddr::of(request.extensions(), request.headers(), &state.config.trusted_proxies))
}

/// A 429 when `client` failed to authenticate too often lately.
fn throttled(state: &AppState, client: &ClientAddr) -> Result<(), ApiError> {
    match state.auth_failures.as_deref().zip(client.ip) {
        Some((throttle, ip)) => throttle.check(ip).map_err(|retry_after| ApiError::RateLimited { retry_after }),
        None => Ok(()),
    }
}

/// Counts a failed authentication against `client`.
fn failed(state: &AppState, client: &ClientAddr) {
    if let Some((throttle, ip)) = state.auth_failures.as_deref().zip(client.ip) {
        throttle.failed(ip);
    }
}

async fn credentials(state: &AppState, scheme: Scheme, authorization: Option<&str>) -> Result<Caller, ApiError> {
    let missing = || ApiError::Unauthenticated { message: "missing credentials".to_owned() };
    let value = authorization.ok_or_else(missing)?;
    let (kind, credential) = value.split_once(' ').ok_or_else(missing)?;
    match (scheme, kind.to_ascii_lowercase().as_str()) {
        (Scheme::Bearer, "bearer") if credential.starts_with(TOKEN_PREFIX) => {
            auth::api_token(state.store.as_ref(), &state.grants, credential.trim()).await
        }
        (Scheme::Bearer, "bearer") => {
            auth::jwt(state.store.as_ref(), &state.grants, &state.config.jwt, credential.trim()).await
        }
        (Scheme::Basic, "basic") => auth::key_pair(state.store.as_ref(), &state.grants, credential).await,
        (Scheme::Basic, _) => Err(ApiError::Unauthenticated {
            message: "use HTTP Basic auth with the public key as user and the secret key as password".to_owned(),
        }),
        (Scheme::Bearer, _) => Err(missing()),
    }
}

/// What is known of a write before its caller is: the route, and the target and project under
/// the names the handler will act on (percent-decoded, as the router decodes them), so that
/// `/projects/w%65b` is audited as `web`. Actor and status are filled in afterwards.
async fn audit_draft(request: &mut Request, client: &ClientAddr) -> AuditDraft {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let params: Vec<(String, String)> = match request.extract_parts::<RawPathParams>().await {
        Ok(params) => params.iter().map(|(key, value)| (key.to_owned(), value.to_owned())).collect(),
        Err(_) => Vec::new(),
    };
    let target = if params.is_empty() { request.uri().path().to_owned() } else { fill(&route, &params) };
    let project = params.iter().find(|(key, _)| key == "project").map(|(_, value)| printable(value));
    AuditDraft {
        project,
        actor: String::new(),
        action: format!("{} {route}", request.method()),
        target: printable(&target),
        status: 0,
        client_addr: client.describe(),
    }
}

/// `route` with each `{param}` replaced by its decoded value.
fn fill(route: &str, params: &[(String, String)]) -> String {
    params.iter().fold(route.to_owned(), |path, (key, value)| path.replace(&format!("{{{key}}}"), value))
}

/// Text as the audit log stores it: control characters (NUL included, which PostgreSQL refuses)
/// escaped, and at most [`MAX_TARGET`] characters.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TARGET));
    for c in text.chars() {
        if out.len() >= MAX_TARGET {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes an audit entry: under the caller's tenant, or, for a refused credential, under the
/// `system` tenant as [`ANONYMOUS`] with no project (the names in the path are the client's).
async fn record(state: &AppState, caller: Option<&Caller>, mut entry: AuditDraft, status: u16) {
    entry.status = status;
    let tenant = match caller {
        Some(caller) => {
            entry.actor = caller.principal.subject.clone();
            if entry.project.is_none() && entry.target.starts_with("/api/public") && caller.principal.roles.len() == 1 {
                entry.project = caller.principal.roles.keys().next().cloned();
            }
            caller.principal.tenant.as_str()
        }
        None => {
            entry.actor = ANONYMOUS.to_owned();
            entry.project = None;
            super::SYSTEM_TENANT
        }
    };
    if let Err(err) = state.store.audit(&TenantScope::new(tenant), entry).await {
        tracing::error!(error = %err, "failed to write the audit log");
    }
}

/// Guards `/v1`, whose handlers check the gateway key themselves (to answer in OpenAI's
/// envelope): a client throttled for failed authentication gets 429 before its key is looked at,
/// a refused key counts against its address like a refused token, and a refused call (401, 429)
/// is audited like a refused write. Accepted calls are recorded as traces, not audit entries.
pub async fn gateway_guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let client = client_of(&state, &request);
    let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let audit = if write { Some(audit_draft(&mut request, &client).await) } else { None };
    let response = match throttled(&state, &client) {
        Ok(()) => next.run(request).await,
        Err(ApiError::RateLimited { retry_after }) => OpenAiError::throttled(retry_after).into_response(),
        Err(other) => other.into_response(),
    };
    let status = response.status();
    if status == axum::http::StatusCode::UNAUTHORIZED {
        failed(&state, &client);
    }
    if let Some(entry) = audit.filter(|_| matches!(status.as_u16(), 401 | 429)) {
        record(&state, None, entry, status.as_u16()).await;
    }
    response
}

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The API's.
    Api,
    /// The separate metrics listener (`--metrics-addr`).
    Metrics,
}

/// Guards `/metrics`: with a metrics token configured, the request must carry it (a wrong one
/// counts as a failed authentication); without one, `/metrics` is served only on the metrics
/// listener, which the deployment keeps off the public network.
pub async fn metrics_gate(
    State((state, listener)): State<(AppState, Listener)>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.config.metrics_token.as_ref() else {
        if listener == Listener::Metrics {
            return next.run(request).await;
        }
        return ApiError::NotFound {
            code: "not_found",
            message: "metrics are not served on this port".to_owned(),
            hint: Some("serve them on a separate port (--metrics-addr) or set PROMPTOPS_METRICS_TOKEN".to_owned()),
        }
        .into_response();
    };
    let client = client_of(&state, &request);
    if let Err(refused) = throttled(&state, &client) {
        return refused.into_response();
    }
    let sent = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(kind, _)| kind.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let valid =
        sent.is_some_and(|sent| auth::hashes_equal(&auth::hash_secret(sent), &auth::hash_secret(token.expose())));
    if valid {
        return next.run(request).await;
    }
    failed(&state, &client);
    ApiError::Unauthenticated { message: "/metrics needs the metrics token".to_owned() }.into_response()
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthenticated { message: "missing credentials".to_owned() })
    }
}
