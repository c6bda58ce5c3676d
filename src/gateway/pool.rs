//! The inference pool of one server replica: each project's connections built once into the same
//! layered providers the CLI uses (retries with `Retry-After`, adaptive concurrency, limits,
//! timeouts, cost, and the response cache in the store), shared by every request of the replica,
//! and rebuilt when a connection changes ([`Pool::invalidate`], which the server calls on its own
//! changes and on other replicas' announced or polled ones). This is the "call a model with a
//! resolved connection" path: the gateway, server-side runs and the console playground all call
//! [`Pool::chat`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::GatewayError;
use super::connection::ConnectionSpec;
use super::connections::{Connections, tenant_wide};
use super::ssrf::GuardedResolver;
use crate::access::{Scope, TenantScope};
use crate::config::{ProviderConfig, ProviderKind};
use crate::provider::layer::{CacheMode, ResponseCache, StoreWriter};
use crate::provider::pricing::{Price, PriceTable};
use crate::provider::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, LayerContext, Provider, ProviderError};
use crate::store::Store;

/// Receives each streamed piece and the id of the connection that streams it.
pub type OnPiece<'a> = &'a mut (dyn FnMut(&str, &str) + Send);

/// One connection, built.
#[derive(Debug)]
pub struct Built {
    /// Its definition.
    pub spec: ConnectionSpec,
    /// The layered provider, response cache off.
    direct: Arc<dyn Provider>,
    /// The same layers behind the response cache.
    cached: Arc<dyn Provider>,
    /// The same layers storing answers in the cache without reading it.
    refreshing: Arc<dyn Provider>,
    /// Its price, if the table (or its `pricing`) has one.
    pub price: Option<Price>,
}

impl Built {
    /// Its provider, used with the response cache as `cache` says.
    fn behind(&self, cache: CacheMode) -> &Arc<dyn Provider> {
        match cache {
            CacheMode::ReadWrite => &self.cached,
            CacheMode::Off => &self.direct,
            CacheMode::Refresh => &self.refreshing,
        }
    }
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

/// Most `kind:model` variants a project keeps built (each holds its own limits).
const MAX_VARIANTS: usize = 64;

/// A project's connections, built; and, when the operator allows `kind:model` names, what
/// variants of them are built from (their definitions and keys) and the variants built so far.
#[derive(Debug)]
pub struct ProjectPool {
    built: HashMap<String, Result<Arc<Built>, GatewayError>>,
    sources: Vec<(ConnectionSpec, Option<crate::secret::SecretString>)>,
    variants: RwLock<HashMap<String, Arc<Built>>>,
    writer: Arc<StoreWriter>,
}

impl ProjectPool {
    /// The built connection `id` (or a variant built for it), or why it cannot be used.
    pub fn get(&self, id: &str) -> Result<Arc<Built>, GatewayError> {
        match self.built.get(id) {
            Some(Ok(built)) => Ok(Arc::clone(built)),
            Some(Err(err)) => Err(err.clone()),
            None => self
                .variants
                .read()
                .ok()
                .and_then(|v| v.get(id).cloned())
                .ok_or_else(|| GatewayError::UnknownModel { model: id.to_owned() }),
        }
    }

    /// The connection `kind:model` borrows its endpoint and key from: the one whose id is the
    /// kind, else the only one of that kind.
    fn source_for(
        &self,
        reference: &str,
    ) -> Result<(ConnectionSpec, Option<crate::secret::SecretString>), GatewayError> {
        let unknown = || GatewayError::UnknownModel { model: reference.to_owned() };
        let (kind_name, model) = reference.split_once(':').filter(|(_, m)| !m.is_empty()).ok_or_else(unknown)?;
        let kind: ProviderKind = serde_json::from_value(serde_json::json!(kind_name)).map_err(|_| unknown())?;
        if !matches!(kind, ProviderKind::Openai | ProviderKind::Anthropic) {
            return Err(unknown());
        }
        let of_kind: Vec<_> = self.sources.iter().filter(|(spec, _)| spec.kind == kind).collect();
        // Sources list the tenant's connections first: the project's own of the same id wins.
        let named = of_kind.iter().rev().find(|(spec, _)| spec.id == kind_name);
        let (spec, key) = match (named, of_kind.as_slice()) {
            (Some(found), _) | (None, [found]) => (*found).clone(),
            (None, []) => return Err(unknown()),
            (None, _) => {
                let message =
                    format!("several connections are `{kind_name}`; name one `{kind_name}` to serve `{reference}`");
                return Err(GatewayError::bad_field("model", message));
            }
        };
        let mut variant = spec;
        if variant.model.as_deref() != Some(model) {
            variant.pricing = None;
        }
        (variant.id, variant.model, variant.fallbacks) = (reference.to_owned(), Some(model.to_owned()), Vec::new());
        Ok((variant, key))
    }

    /// Waits for the project's cache entries and usage rows queued so far to be written, and
    /// says which failed: a server-side unit is completed only after its answer is cached.
    pub async fn flush(&self) -> Result<(), crate::store::StoreError> {
        self.writer.flush().await
    }

    /// The ids of the connections, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.built.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// One chat call to `id`, then to its fallbacks (in order) while a failure happened before
    /// the first byte and a retry cannot help anymore. A stream's pieces reach `on_piece` with
    /// the id of the connection giving them (a fallback's, when one answers).
    pub async fn chat(
        &self,
        id: &str,
        request: &ChatRequest,
        cache: CacheMode,
        mut on_piece: Option<OnPiece<'_>>,
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
            let provider = built.behind(cache);
            let streamed = AtomicBool::new(false);
            let result = match on_piece.as_deref_mut() {
                Some(sink) => {
                    let mut tracking = |delta: &str| {
                        streamed.store(true, Ordering::Relaxed);
                        sink(delta, connection);
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
    pub async fn embed(
        &self,
        id: &str,
        request: &EmbedRequest,
        cache: CacheMode,
    ) -> Result<EmbedResponse, GatewayError> {
        let built = self.get(id)?;
        let provider = built.behind(cache);
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

    /// The `kind:model` variant of a connection of the project (`openai:gpt-4o` on the key and
    /// endpoint of the project's `openai` connection), built on first use and kept with the
    /// project's connections. Only servers that allow such names call this.
    pub fn variant(&self, project: &ProjectPool, reference: &str) -> Result<Arc<Built>, GatewayError> {
        if let Ok(found) = project.get(reference) {
            return Ok(found);
        }
        let (spec, key) = project.source_for(reference)?;
        let built = Arc::new(self.build_one(spec, key, &project.writer)?);
        let mut variants = project.variants.write().map_err(|_| GatewayError::Internal("poisoned variants".into()))?;
        if variants.len() >= MAX_VARIANTS && !variants.contains_key(reference) {
            let message =
                format!("this project already serves {MAX_VARIANTS} `kind:model` names; add a connection instead");
            return Err(GatewayError::bad_field("model", message));
        }
        Ok(Arc::clone(variants.entry(reference.to_owned()).or_insert(built)))
    }

    /// The built connections a project may use: its own and its tenant's.
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
        // The tenant's own connections first, so that a project's connection of the same id wins.
        let shared = tenant_wide(&TenantScope::new(scope.tenant()));
        let mut opened = self.connections.open(&shared).await?;
        opened.extend(self.connections.open(scope).await?);
        let mut sources = Vec::new();
        for opened in opened {
            let id = opened.spec.id.clone();
            let result = match opened.key {
                Ok(key) => {
                    sources.push((opened.spec.clone(), key.clone()));
                    self.build_one(opened.spec, key, &writer).map(Arc::new)
                }
                Err(err) => Err(GatewayError::Vault(err)),
            };
            built.insert(id, result);
        }
        Ok(ProjectPool { built, sources, variants: RwLock::default(), writer })
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
        let behind_cache = |mode| -> Arc<dyn Provider> {
            let identity = crate::provider::identity(&config);
            Arc::new(ResponseCache::new(Arc::clone(&direct), Some(Arc::clone(writer)), mode, None, identity))
        };
        let (cached, refreshing) = (behind_cache(CacheMode::ReadWrite), behind_cache(CacheMode::Refresh));
        let free = matches!(config.kind, ProviderKind::Mock | ProviderKind::Echo);
        let price = if free { Some(Price::FREE) } else { config.model.as_deref().and_then(|m| prices.price(m)) };
        Ok(Built { spec, direct, cached, refreshing, price })
    }
}
