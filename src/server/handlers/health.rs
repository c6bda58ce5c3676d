//! Probes and metrics, unauthenticated: `/healthz` (alive), `/readyz` (database reachable,
//! migrations current, the gateway's writes landing, not shutting down), `/metrics` (Prometheus
//! text).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::api::Readiness;
use crate::server::state::AppState;

/// `GET /healthz`: 200 while the process runs.
pub async fn healthz() -> Json<Readiness> {
    Json(Readiness { status: "alive".to_owned() })
}

/// `GET /readyz`: 200 when the database answers with the current schema and takes the gateway's
/// writes; 503 otherwise and once shutdown has begun. A replica whose traces and settlements
/// are refused would admit calls it cannot account for, so it leaves the load balancer.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let status = if !state.accepting() {
        "shutting_down"
    } else {
        match state.store.schema_status().await {
            Ok(status) if status.is_current() && state.gateway.traces.losses().failing => "gateway_writes_failing",
            Ok(status) if status.is_current() => "ready",
            Ok(_) => "migrations_pending",
            Err(err) => {
                tracing::warn!(error = %err, "readiness: database unreachable");
                "database_unreachable"
            }
        }
    };
    let code = if status == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(Readiness { status: status.to_owned() }))
}

/// `GET /api/v1/openapi.json`: the OpenAPI 3.1 document.
pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::server::openapi::document())
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render();
    crate::server::metrics::render_writer_losses(&mut text, &state.gateway.traces.losses());
    let depth = state.runs.depth(state.store.as_ref()).await;
    let workers = state.runs.workers.as_ref().map(|w| w.stats());
    crate::server::metrics::render_runs(&mut text, &depth, workers);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}
