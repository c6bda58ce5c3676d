//! The inference layers, each written once and wrapped around any [`Provider`]. [`stack`]
//! assembles them, outermost first:
//!
//! | layer | file | why here |
//! |---|---|---|
//! | response cache | `cache.rs` | a hit skips everything below: no budget, no rate limit, no cost |
//! | response schema | `schema.rs` | outside cost, so a rejected answer is still paid for; inside the cache, so it is never cached |
//! | budget | `budget.rs` | reserves before anything is sent; settles with the real cost |
//! | cost and usage | `cost.rs` | prices the answer; the usage row goes to the background writer |
//! | retry | `retry.rs` | each attempt takes its own slot and tokens again, so backoff holds none |
//! | adaptive concurrency | `adaptive.rs` | AIMD on 429s and remaining-requests headers |
//! | concurrency limit | `concurrency.rs` | the configured hard cap |
//! | RPM / TPM | `rate_limit.rs` | token buckets |
//! | timeout | `timeout.rs` | the wire call only, not the waits above it |
//!
//! Store writes (cache entries, usage rows) go through `writer.rs`, off the request path.

pub mod adaptive;
pub mod budget;
pub mod cache;
pub mod concurrency;
pub mod cost;
pub mod rate_limit;
pub mod retry;
pub mod schema;
pub mod timeout;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

pub use adaptive::AdaptiveConcurrency;
pub use budget::{Budget, BudgetGuard, BudgetLimits};
pub use cache::{CacheMode, ResponseCache};
pub use concurrency::ConcurrencyLimit;
pub use cost::CostAccounting;
pub use rate_limit::{RateLimit, TokenBucket};
pub use retry::{Retry, RetryPolicy};
pub use schema::SchemaCheck;
pub use timeout::Timeout;
pub use writer::StoreWriter;

use super::Provider;
use super::pricing::PriceTable;

/// The most calls in flight that adaptive concurrency starts from when `limits.concurrency` is unset.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 32;
/// The request timeout when `limits.timeout_s` is unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything the stack needs, resolved from `promptops.yaml` and the command line.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// Hard cap on calls in flight (`limits.concurrency`).
    pub concurrency: Option<u32>,
    /// Whether to adapt concurrency to 429s (on for HTTP providers).
    pub adaptive: bool,
    /// `limits.rpm`.
    pub rpm: Option<u32>,
    /// `limits.tpm`.
    pub tpm: Option<u64>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Cache use.
    pub cache: CacheMode,
    /// Cache entry lifetime (`defaults.cache_ttl_s`; none = forever).
    pub cache_ttl: Option<Duration>,
    /// What identifies the provider's answers in cache keys.
    pub identity: String,
    /// Prices.
    pub prices: Arc<PriceTable>,
    /// Whether the provider is free (offline kinds).
    pub free: bool,
    /// Budget tracking, when any limit is set.
    pub budget: Option<Arc<Budget>>,
    /// The background store writer (cache and usage), when there is a store.
    pub writer: Option<Arc<StoreWriter>>,
}

/// Wraps `wire` in every layer, in the order documented above.
pub fn stack(wire: Arc<dyn Provider>, settings: &StackSettings) -> Arc<dyn Provider> {
    let mut provider: Arc<dyn Provider> = Arc::new(Timeout::new(wire, settings.timeout));
    if settings.rpm.is_some() || settings.tpm.is_some() {
        provider = Arc::new(RateLimit::new(provider, settings.rpm, settings.tpm));
    }
    if let Some(limit) = settings.concurrency {
        provider = Arc::new(ConcurrencyLimit::new(provider, limit));
    }
    if settings.adaptive {
        let max = settings.concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
        provider = Arc::new(AdaptiveConcurrency::new(provider, max));
    }
    provider = Arc::new(Retry::new(provider, settings.retry));
    provider =
        Arc::new(CostAccounting::new(provider, Arc::clone(&settings.prices), settings.writer.clone(), settings.free));
    // Free providers cannot overspend, so a budget already used up must not stop them.
    if let Some(budget) = settings.budget.as_ref().filter(|_| !settings.free) {
        provider = Arc::new(BudgetGuard::new(provider, Arc::clone(budget), Arc::clone(&settings.prices)));
    }
    provider = Arc::new(SchemaCheck::new(provider));
    Arc::new(ResponseCache::new(
        provider,
        settings.writer.clone(),
        settings.cache,
        settings.cache_ttl,
        settings.identity.clone(),
    ))
}
