//! What every handler shares: the store, the settings, the metrics, the caches and the rate
//! limiter, plus the readiness flag that shutdown lowers first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ipnet::IpNet;

use super::auth::{Caller, GrantCache, JwtSettings};
use super::cache::PromptCache;
use super::gateway::GatewayState;
use super::handlers::langfuse::ServedCache;
use super::limits::{FailureThrottle, RateLimit, RateLimiter};
use super::listen::ConnectionLimits;
use super::metrics::Metrics;
use crate::access::Scope;
use crate::gateway::{Connections, HostPolicy, Pool, TraceWriter};
use crate::prompt::{Label, RenderSandbox};
use crate::registry::Registry;
use crate::runs::planner::ServerPlanner;
use crate::runs::{WorkerSettings, Workers};
use crate::secret::SecretString;
use crate::store::Store;
use crate::store::changes::{Change, follow, mark_reader};
use crate::vault::MasterKey;

/// Labels only admins and owners may move, unless configured otherwise.
pub const DEFAULT_PROTECTED_LABELS: &[&str] = &["production"];

/// The server's settings, resolved once by `promptops serve`.
#[derive(Debug)]
pub struct ServerConfig {
    /// Labels that need [`crate::access::Action::MoveProtectedLabel`].
    pub protected_labels: Vec<String>,
    /// How access tokens are signed.
    pub jwt: JwtSettings,
    /// Per-credential rate limit (`None`: unlimited).
    pub rate_limit: Option<RateLimit>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Origins allowed by CORS (empty: CORS closed).
    pub cors_origins: Vec<String>,
    /// How often other processes' label moves are polled for.
    pub cache_poll: Duration,
    /// The header deadline and the connection cap.
    pub connections: ConnectionLimits,
    /// Failed authentications allowed per client address (`None`: unlimited).
    pub auth_failures: Option<RateLimit>,
    /// Proxies whose `X-Forwarded-For` names the client (empty: the header is ignored).
    pub trusted_proxies: Vec<IpNet>,
    /// The bearer token `/metrics` needs. Without it, `/metrics` is served only on the separate
    /// metrics listener, if there is one, and never on the API's.
    pub metrics_token: Option<SecretString>,
    /// The key that seals provider keys (none: the server refuses to store keys).
    pub master_key: Option<Arc<MasterKey>>,
    /// Internal hosts provider connections may nevertheless use (`--allow-provider-host`).
    pub allowed_provider_hosts: Vec<String>,
    /// Whether a gateway request may name a model as `kind:model` (`openai:gpt-4o`), served on
    /// the key and endpoint of the project's connection of that kind (`--allow-kind-models`).
    pub kind_models: bool,
    /// Where the gateway renders managed prompts: in worker processes bounded in memory and time
    /// (what `promptops serve` sets up), or in this process with only the template's fuel and
    /// output bounds (`None`: for tests and embedders that trust every prompt's author).
    pub render_sandbox: Option<Arc<RenderSandbox>>,
    /// How this replica's workers run queued units (`None`: it runs none; other replicas may).
    pub workers: Option<WorkerSettings>,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The settings.
    pub config: Arc<ServerConfig>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Prompts by label.
    pub prompts: Arc<PromptCache>,
    /// Recently checked API tokens.
    pub grants: Arc<GrantCache>,
    /// Langfuse Prompt objects served by label.
    pub langfuse: Arc<ServedCache>,
    /// Rate limits.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Failed authentications by client address.
    pub auth_failures: Option<Arc<FailureThrottle>>,
    /// The inference gateway.
    pub gateway: Arc<GatewayState>,
    /// Server-side runs: their planner, and this replica's workers if it runs any.
    pub runs: Arc<RunQueue>,
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store`; starts following other processes' label moves and gateway changes.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        let prompts = Arc::new(PromptCache::default());
        prompts.watch(Arc::clone(&store), config.cache_poll);
        let metrics = Arc::new(Metrics::default());
        let gateway = Arc::new(gateway_state(&store, &config, &metrics));
        let mark_store = Arc::clone(&store);
        let mark = mark_reader(move || {
            let store = Arc::clone(&mark_store);
            async move { store.gateway_mark().await }
        });
        follow(&gateway, store.changes(), Change::Gateway, config.cache_poll, mark, GatewayState::forget);
        let runs = Arc::new(RunQueue::start(&store, &config, &gateway));
        Self {
            runs,
            limiter: config.rate_limit.map(|limit| Arc::new(RateLimiter::new(limit))),
            auth_failures: config.auth_failures.map(|limit| Arc::new(FailureThrottle::new(limit))),
            store,
            config: Arc::new(config),
            metrics,
            gateway,
            prompts,
            grants: Arc::new(GrantCache::default()),
            langfuse: Arc::new(ServedCache::default()),
            ready: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The provider connections of this server.
    pub fn connections(&self) -> &Connections {
        self.gateway.pool.connections()
    }

    /// The registry of `scope`, acting for `caller`. Authorization is already done, so protected
    /// labels need no further confirmation here.
    pub fn registry(&self, scope: Scope, caller: &Caller) -> Registry {
        Registry::new(Arc::clone(&self.store), scope, caller.principal.subject.clone(), Vec::new())
    }

    /// Whether moving `label` needs an admin.
    pub fn is_protected(&self, label: &Label) -> bool {
        self.config.protected_labels.iter().any(|p| p == label.as_str())
    }

    /// Whether the server takes traffic (false once shutdown began).
    pub fn accepting(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Lowers readiness: the first step of a graceful shutdown.
    pub fn begin_shutdown(&self) {
        self.ready.store(false, Ordering::Release);
    }
}

/// Server-side runs on this replica: the planner that checks submitted specs and plans queued
/// runs, and the workers (when this replica runs units).
#[derive(Debug)]
pub struct RunQueue {
    /// Plans specs and keeps the plans of runs in progress.
    pub planner: Arc<ServerPlanner>,
    /// This replica's workers.
    pub workers: Option<Arc<Workers>>,
    /// The queue's depth as last counted, and when: scrapes within [`DEPTH_TTL`] reuse it.
    depth: tokio::sync::Mutex<Option<CountedDepth>>,
}

/// Units by state, and when they were counted.
type CountedDepth = (std::time::Instant, Vec<(String, u64)>);

/// How long a count of the queue serves metrics scrapes (every replica is scraped).
const DEPTH_TTL: Duration = Duration::from_secs(5);

impl RunQueue {
    fn start(store: &Arc<dyn Store>, config: &ServerConfig, gateway: &GatewayState) -> Self {
        let sandbox = config.render_sandbox.clone();
        let planner = Arc::new(ServerPlanner::new(Arc::clone(store), Arc::clone(&gateway.pool), sandbox));
        let workers = config.workers.clone().map(|settings| {
            Workers::start(Arc::clone(store), Arc::clone(&planner), settings, crate::eval::Owner::current().to_string())
        });
        Self { planner, workers, depth: tokio::sync::Mutex::new(None) }
    }

    /// Units by state over every tenant and replica, counted at most every [`DEPTH_TTL`]; empty
    /// when the store cannot say (the scrape still answers).
    pub async fn depth(&self, store: &dyn Store) -> Vec<(String, u64)> {
        let mut cached = self.depth.lock().await;
        if let Some((at, depth)) = cached.as_ref()
            && at.elapsed() < DEPTH_TTL
        {
            return depth.clone();
        }
        let depth = store.queue_depth().await.unwrap_or_default();
        *cached = Some((std::time::Instant::now(), depth.clone()));
        depth
    }
}

/// The gateway's per-replica state: the pool over the connections, the trace writer (feeding the
/// metrics), and the caches of keys, settings and parsed prompts.
fn gateway_state(store: &Arc<dyn Store>, config: &ServerConfig, metrics: &Arc<Metrics>) -> GatewayState {
    let policy = Arc::new(HostPolicy::allowing(config.allowed_provider_hosts.iter().cloned()));
    let connections = Connections::new(Arc::clone(store), config.master_key.clone(), policy);
    let pool = Arc::new(Pool::new(Arc::clone(store), connections));
    let observed = Arc::clone(metrics);
    let traces = TraceWriter::start(Arc::clone(store), Some(Arc::new(move |trace| observed.gateway_request(trace))));
    GatewayState { pool, traces, keys: Default::default(), settings: Default::default(), parsed: Default::default() }
}
