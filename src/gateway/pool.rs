//! The inference pool of one server replica: each project's connections built once into the same
//! layered providers the CLI uses (retries with `Retry-After`, adaptive concurrency, limits,
//! timeouts, cost, and the response cache in the store), shared by every request of the replica,
//! and rebuilt when a connection changes (here at once, on another replica within a poll). This
//! is the "call a model with a resolved connection" path: the gateway, server-side runs and the
//! console playground all call [`Pool::chat`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::GatewayError;
use super::connection::ConnectionSpec;
use super::connections::Connections;
use super::ssrf::GuardedResolver;
use crate::access::Scope;
use crate::config::{ProviderConfig, ProviderKind};
use crate::provider::layer::{CacheMode, ResponseCache, StoreWriter};
use crate::provider::pricing::{Price, PriceTable};
use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, LayerContext, OnDelta, Provider, ProviderError,
};
use crate::store::Store;

/// One connection, built.
#[derive(Debug)]
pub struct Built {
    /// Its definition.
    pub spec: ConnectionSpec,
    /// The layered provider, response cache off.
    direct: Arc<dyn Provider>,
    /// The same layers behind the response cache.
    cached: Arc<dyn Provider>,
    /// Its price, if the table (or its `pricing`) has one.
    pub price: Option<Price>,
}

/// What answered a call.
#[derive(Debug)]
pub struct Answer {
    /// The answer.
    pub response: ChatResponse,
    /// The connection that gave it.
    pub connection: String,
    /// Whether it was a fallback.
    pub fallback: bool,
}

/// A project's connections, built.
#[derive(Debug)]
pub struct ProjectPool {
    built: HashMap<String, Result<Arc<Built>, GatewayError>>,
}

impl ProjectPool {
    /// The built connection `id`, or why it cannot be used.
    pub fn get(&self, id: &str) -> Result<Arc<Built>, GatewayError> {
        match self.built.get(id) {
            Some(Ok(built)) => Ok(Arc::clone(built)),
            Some(Err(err)) => Err(err.clone()),
            None => Err(GatewayError::UnknownModel { model: id.to_owned() }),
        }
    }

    /// The ids of the connections, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.built.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// One chat call to `id`, then to its fallbacks (in order) while a failure happened before
    /// the first byte and a retry cannot help anymore.
    pub async fn chat(
        &self,
        id: &str,
        request: &ChatRequest,
        cache: bool,
        mut on_delta: Option<OnDelta<'_>>,
    ) -> Result<Answer, GatewayError> {
        let first = self.get(id)?;
        let order: Vec<String> = std::iter::once(id.to_owned()).chain(first.spec.fallbacks.iter().cloned()).collect();
        let mut last = None;
        for (index, connection) in order.iter().enumerate() {
            let built = match self.get(connection) {
                Ok(built) => built,
                Err(err) if index > 0 => {
                    tracing::warn!(connection, error = %err, "a fallback cannot be used");
                    continue;
                }
                Err(err) => return Err(err),
            };
            let provider = if cache { &built.cached } else { &built.direct };
            let streamed = AtomicBool::new(false);
            let result = match on_delta.as_deref_mut() {
                Some(sink) => {
                    let mut tracking = |delta: &str| {
                        streamed.store(true, Ordering::Relaxed);
                        sink(delta);
                    };
                    provider.chat(request, Some(&mut tracking)).await
                }
                None => provider.chat(request, None).await,
            };
            match result {
                Ok(response) => return Ok(Answer { response, connection: connection.clone(), fallback: index > 0 }),
                Err(err) if err.is_retryable() && !streamed.load(Ordering::Relaxed) => last = Some(err),
                Err(err) => return Err(GatewayError::Provider(Arc::new(err))),
            }
        }
        Err(GatewayError::Provider(Arc::new(last.unwrap_or_else(|| ProviderError::Unsupported {
            provider: id.to_owned(),
            what: "any usable connection".to_owned(),
        }))))
    }

    /// Embeddings from `id`.
    pub async fn embed(&self, id: &str, request: &EmbedRequest, cache: bool) -> Result<EmbedResponse, GatewayError> {
        let built = self.get(id)?;
        let provider = if cache { &built.cached } else { &built.direct };
        provider.embed(request).await.map_err(|err| GatewayError::Provider(Arc::new(err)))
    }
}

/// The pool of one server.
pub struct Pool {
    store: Arc<dyn Store>,
    connections: Connections,
    client: reqwest::Client,
    projects: RwLock<HashMap<(String, String), Arc<ProjectPool>>>,
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("connections", &self.connections).finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool over `connections`, sending through a client that applies their SSRF policy.
    pub fn new(store: Arc<dyn Store>, connections: Connections) -> Self {
        let resolver = Arc::new(GuardedResolver::new(Arc::clone(connections.policy())));
        let client = crate::provider::guarded_client(resolver);
        Self { store, connections, client, projects: RwLock::new(HashMap::new()), generation: Default::default() }
    }

    /// The connection service the pool reads.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Forgets every built project (a connection changed).
    pub fn invalidate(&self) {
        if let Ok(mut projects) = self.projects.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            projects.clear();
        }
    }

    /// Polls the store's gateway mark every `every` and forgets what was built when another
    /// process changed a connection; runs until the pool is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let (weak, store) = (Arc::downgrade(self), Arc::clone(&self.store));
        tokio::spawn(async move {
            let mut seen = store.gateway_mark().await.ok();
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(pool) = weak.upgrade() else { return };
                match store.gateway_mark().await {
                    Ok(mark) if Some(mark) != seen => {
                        pool.invalidate();
                        seen = Some(mark);
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "gateway mark poll failed"),
                }
            }
        });
    }

    /// The built connections of a project.
    pub async fn project(&self, scope: &Scope) -> Result<Arc<ProjectPool>, GatewayError> {
        let key = (scope.tenant().to_owned(), scope.project().to_owned());
        if let Some(found) = self.projects.read().ok().and_then(|p| p.get(&key).cloned()) {
            return Ok(found);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let built = Arc::new(self.build(scope).await?);
        if let Ok(mut projects) = self.projects.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            // Two requests may build at once: keep the first, so limits are shared.
            return Ok(Arc::clone(projects.entry(key).or_insert(built)));
        }
        Ok(built)
    }

    async fn build(&self, scope: &Scope) -> Result<ProjectPool, GatewayError> {
        let writer = Arc::new(StoreWriter::new(Arc::clone(&self.store), scope.clone()));
        let mut built = HashMap::new();
        for opened in self.connections.open(scope).await? {
            let id = opened.spec.id.clone();
            let result = match opened.key {
                Ok(key) => self.build_one(opened.spec, key, &writer).map(Arc::new),
                Err(err) => Err(GatewayError::Vault(err)),
            };
            built.insert(id, result);
        }
        Ok(ProjectPool { built })
    }

    fn build_one(
        &self,
        spec: ConnectionSpec,
        key: Option<crate::secret::SecretString>,
        writer: &Arc<StoreWriter>,
    ) -> Result<Built, GatewayError> {
        let config: ProviderConfig = spec.to_provider();
        let mut overrides = std::collections::BTreeMap::new();
        if let (Some(model), Some(price)) = (&spec.model, &spec.pricing) {
            overrides.insert(model.clone(), price.clone());
        }
        let prices = Arc::new(PriceTable::with_overrides(&overrides));
        let wire = match config.kind {
            ProviderKind::Openai | ProviderKind::Anthropic => {
                if key.is_none()
                    && crate::provider::key_required(&config, crate::provider::default_base_url(config.kind))
                {
                    return Err(GatewayError::NoKey { connection: spec.id.clone() });
                }
                crate::provider::http_provider(&config, key, None, self.client.clone())
            }
            ProviderKind::Mock | ProviderKind::Echo => {
                let site = crate::provider::ConfigSite::detached();
                crate::provider::offline_provider(&config, &site, std::path::Path::new("."))
            }
            ProviderKind::Exec => return Err(GatewayError::bad_field("kind", "`exec` is never allowed on the server")),
        }
        .map_err(|err| GatewayError::Provider(Arc::new(err)))?;
        let context = LayerContext {
            prices: Arc::clone(&prices),
            writer: Some(Arc::clone(writer)),
            budget: None,
            cache: CacheMode::Off,
            cache_ttl: None,
        };
        let direct = crate::provider::layered(wire, &config, &context);
        let cached: Arc<dyn Provider> = Arc::new(ResponseCache::new(
            Arc::clone(&direct),
            Some(Arc::clone(writer)),
            CacheMode::ReadWrite,
            None,
            crate::provider::identity(&config),
        ));
        let free = matches!(config.kind, ProviderKind::Mock | ProviderKind::Echo);
        let price = if free { Some(Price::FREE) } else { config.model.as_deref().and_then(|m| prices.price(m)) };
        Ok(Built { spec, direct, cached, price })
    }
}
