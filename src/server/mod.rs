//! `promptops serve`: the library over HTTP (axum). The route table ([`routes`]) feeds the router
//! and the OpenAPI document; [`middleware`] observes, authenticates, rate-limits and audits;
//! [`handlers`] are thin calls into the registry, the run service and the account store.
//! Everything is kept in the database, so any number of replicas can share one.

pub mod auth;
pub mod bounds;
pub mod cache;
pub mod client;
pub mod error;
pub mod gateway;
pub mod handlers;
pub mod jwt;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod oversized;
pub mod routes;
pub mod state;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use state::{AppState, ServerConfig};

use crate::access::{SystemScope, TenantScope};
use crate::store::{PrincipalKind, Slug, StoreError, TokenKey, TokenRecord};
use middleware::{Listener, Scheme};
use routes::Access;

/// The tenant the first admin lives in.
pub const SYSTEM_TENANT: &str = "system";
/// The first admin's name.
pub const ADMIN_PRINCIPAL: &str = "admin";

/// The whole application: routes, middleware, limits, CORS.
pub fn router(state: AppState) -> Router {
    let mut public = Router::new();
    let mut bearer = Router::new();
    let mut basic = Router::new();
    let mut metrics = Router::new();
    let mut gateway = Router::new();
    for route in routes::table() {
        let group = match route.access {
            Access::Public => &mut public,
            Access::Gateway => &mut gateway,
            Access::Bearer => &mut bearer,
            Access::Basic => &mut basic,
            Access::Metrics => &mut metrics,
        };
        *group = std::mem::take(group).route(route.path, (route.handler)());
    }
    let config = &state.config;
    let guard = axum::middleware::from_fn_with_state(state.clone(), middleware::gateway_guard);
    let mut app = Router::new()
        .merge(public)
        .merge(metrics_gated(metrics, &state, Listener::Api))
        .merge(gateway.route_layer(guard));
    for (group, scheme) in [(bearer, Scheme::Bearer), (basic, Scheme::Basic)] {
        if group.has_routes() {
            let auth = axum::middleware::from_fn_with_state((state.clone(), scheme), middleware::authenticate);
            let group = group.route_layer(auth);
            // The Langfuse-compatible routes answer errors in Langfuse's shape, refused
            // credentials included, so the wrapper goes outside authentication.
            let group = match scheme {
                Scheme::Basic => group.route_layer(axum::middleware::map_response(handlers::langfuse::langfuse_errors)),
                Scheme::Bearer => group,
            };
            app = app.merge(group);
        }
    }
    app.fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(axum::middleware::from_fn_with_state(config.body_limit, oversized::drain_oversized))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::SERVICE_UNAVAILABLE, config.request_timeout))
        .layer(cors(&config.cors_origins))
        .with_state(state)
}

/// The separate metrics listener's application: `GET /metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    let metrics = routes::table()
        .into_iter()
        .filter(|route| route.access == Access::Metrics)
        .fold(Router::new(), |router, route| router.route(route.path, (route.handler)()));
    metrics_gated(metrics, &state, Listener::Metrics)
        .fallback(not_found)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            state.config.request_timeout,
        ))
        .with_state(state)
}

fn metrics_gated(routes: Router<AppState>, state: &AppState, listener: Listener) -> Router<AppState> {
    if !routes.has_routes() {
        return routes;
    }
    routes.route_layer(axum::middleware::from_fn_with_state((state.clone(), listener), middleware::metrics_gate))
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found("no such route; see /api/v1/openapi.json")
}

/// CORS: closed (no CORS headers at all) unless origins are configured.
fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()).collect();
    if allowed.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

/// Where the server listens: the API, and optionally a separate port for `/metrics` only.
#[derive(Debug)]
pub struct Listeners {
    /// The API, the Langfuse API and the probes.
    pub api: tokio::net::TcpListener,
    /// `/metrics` alone (`--metrics-addr`), for a port only Prometheus can reach.
    pub metrics: Option<tokio::net::TcpListener>,
}

impl From<tokio::net::TcpListener> for Listeners {
    fn from(api: tokio::net::TcpListener) -> Self {
        Self { api, metrics: None }
    }
}

/// Serves `state` on `listeners` until `shutdown` resolves: then readiness drops to 503 at once,
/// in-flight requests finish (for at most `drain`), and the function returns.
pub async fn serve(
    listeners: impl Into<Listeners>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let Listeners { api, metrics } = listeners.into();
    let limits = state.config.connections;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (began_tx, began_rx) = tokio::sync::oneshot::channel::<()>();
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let flag = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        flag.begin_shutdown();
        // Workers stop claiming now and finish their units alongside the requests in flight.
        let workers = flag.runs.workers.clone();
        let draining = tokio::spawn(async move {
            if let Some(workers) = workers {
                workers.drain(drain).await;
            }
        });
        let _ = began_tx.send(());
        tracing::info!("shutting down: readiness is now 503; finishing in-flight requests and run units");
        // Give load balancers a moment to see the 503 before connections close.
        tokio::time::sleep(drain.min(Duration::from_millis(200))).await;
        let _ = stop_tx.send(true);
        let _ = draining.await;
        let _ = drained_tx.send(());
    });
    let mut servers = tokio::task::JoinSet::new();
    if let Some(listener) = metrics {
        servers.spawn(listen::serve_connections(listener, metrics_router(state.clone()), limits, stop_rx.clone()));
    }
    servers.spawn(listen::serve_connections(api, router(state), limits, stop_rx));
    // In-flight requests get `drain` once shutdown has begun; never a deadline before that.
    let deadline = async {
        if began_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(drain.saturating_add(Duration::from_secs(1))).await;
    };
    tokio::select! {
        () = async { while servers.join_next().await.is_some() {} } => {}
        () = deadline => {}
    }
    // Units still running at the drain deadline are given back to the queue before returning.
    let _ = tokio::time::timeout(drain.saturating_add(Duration::from_secs(2)), drained_rx).await;
    Ok(())
}

/// Makes sure the first admin exists: a super-admin `admin` in tenant `system`. With `token`
/// (from `PROMPTOPS_ADMIN_TOKEN`) that token is registered for it; with `generate`
/// (`--init-admin`) a new token is made and returned, to be shown once.
pub async fn bootstrap_admin(
    store: &dyn crate::store::Store,
    token: Option<&crate::secret::SecretString>,
    generate: bool,
) -> Result<Option<String>, StoreError> {
    let system = SystemScope::new();
    let tenant = Slug::new(SYSTEM_TENANT).map_err(|err| StoreError::Decode(err.to_string()))?;
    let admin = Slug::new(ADMIN_PRINCIPAL).map_err(|err| StoreError::Decode(err.to_string()))?;
    let scope: TenantScope = system.tenant(SYSTEM_TENANT);
    match store.create_tenant(&system, &tenant, "System").await {
        Ok(_) | Err(StoreError::Conflict { .. }) => {}
        Err(err) => return Err(err),
    }
    match store.create_principal(&scope, &admin, PrincipalKind::User, true, true).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => {}
        Err(err) => return Err(err),
    }
    if let Some(token) = token {
        let hash = auth::hash_secret(token.expose());
        if store.authenticate_token(TokenKey::Hash(&hash)).await?.is_none() {
            store.create_token(&scope, &admin_token("PROMPTOPS_ADMIN_TOKEN", hash)).await?;
        }
    }
    if !generate {
        return Ok(None);
    }
    let secret = auth::random_secret(auth::TOKEN_PREFIX);
    store.create_token(&scope, &admin_token("--init-admin", auth::hash_secret(secret.expose()))).await?;
    Ok(Some(secret.expose().to_owned()))
}

fn admin_token(name: &str, hash: String) -> TokenRecord {
    TokenRecord {
        id: auth::random_id("tok_"),
        principal: Slug::new(ADMIN_PRINCIPAL).expect("invariant: `admin` is a valid id"),
        name: name.to_owned(),
        scopes: Vec::new(),
        created_at: chrono::Utc::now(),
        expires_at: None,
        revoked_at: None,
        created_with: None,
        hash,
    }
}
