//! What every handler shares: the store, the settings, the metrics, the caches and the rate
//! limiter, plus the readiness flag that shutdown lowers first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::auth::{Caller, GrantCache, JwtSettings};
use super::cache::PromptCache;
use super::limits::{RateLimit, RateLimiter};
use super::metrics::Metrics;
use crate::access::Scope;
use crate::prompt::Label;
use crate::registry::Registry;
use crate::store::Store;

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
    /// Rate limits.
    pub limiter: Option<Arc<RateLimiter>>,
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store`; starts the label-move poller.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        let prompts = Arc::new(PromptCache::default());
        prompts.watch(Arc::clone(&store), config.cache_poll);
        Self {
            limiter: config.rate_limit.map(|limit| Arc::new(RateLimiter::new(limit))),
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            prompts,
            grants: Arc::new(GrantCache::default()),
            ready: Arc::new(AtomicBool::new(true)),
        }
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
