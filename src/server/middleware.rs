//! The layers around handlers. [`observe`] (every route): a request id (taken from
//! `x-request-id` or made up), a tracing span carrying it, one log line per request (method,
//! path, status, latency; never headers or bodies, so never a secret) and the HTTP metrics.
//! [`authenticate`] (API routes): credentials → [`Caller`], the per-credential rate limit, and
//! an audit entry for every write, whatever its outcome.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::auth::{self, Caller, TOKEN_PREFIX};
use super::error::ApiError;
use super::state::AppState;
use crate::store::AuditDraft;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Request id, span, log line and metrics.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| auth::random_id("req_"), str::to_owned);
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

/// Authenticates, rate-limits, runs the handler, and audits writes.
pub async fn authenticate(
    State((state, scheme)): State<(AppState, Scheme)>,
    mut request: Request,
    next: Next,
) -> Response {
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let caller = match credentials(&state, scheme, authorization.as_deref()).await {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    if let Some(limiter) = &state.limiter
        && let Err(retry_after) = limiter.check(&caller.credential)
    {
        return ApiError::RateLimited { retry_after }.into_response();
    }
    let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let audit = write.then(|| audit_draft(&caller, &request));
    request.extensions_mut().insert(caller.clone());
    let response = next.run(request).await;
    if let Some(mut entry) = audit {
        entry.status = response.status().as_u16();
        if response.status().is_success() {
            // Roles, tokens or projects may have changed: re-read them on the next request.
            state.grants.clear();
        }
        let scope = crate::access::TenantScope::new(&caller.principal.tenant);
        if let Err(err) = state.store.audit(&scope, entry).await {
            tracing::error!(error = %err, "failed to write the audit log");
        }
    }
    response
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

fn audit_draft(caller: &Caller, request: &Request) -> AuditDraft {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    let path = request.uri().path();
    let project = path
        .strip_prefix("/api/v1/projects/")
        .and_then(|rest| rest.split('/').next())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            (caller.principal.roles.len() == 1 && path.starts_with("/api/public"))
                .then(|| caller.principal.roles.keys().next().cloned().unwrap_or_default())
        });
    let client_addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.to_string());
    AuditDraft {
        project,
        actor: caller.principal.subject.clone(),
        action: format!("{} {route}", request.method()),
        target: path.to_owned(),
        status: 0,
        client_addr,
    }
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
