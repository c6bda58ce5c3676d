//! [`ModelCaller`] over the provider layer: prompt and router nodes call models through
//! [`Providers`], so every layer applies (response cache, budgets, cost and usage accounting,
//! retries with backoff, timeouts, concurrency and rate limits), shared with every other node
//! of the run because `Providers` builds each provider once.
//!
//! The provider layer has no per-request cache switch: nodes with `cache: false` go through a
//! second `Providers` built with the cache off (so their concurrency and rate limits are counted
//! apart from the cached nodes').

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;

use super::model::{ModelCall, ModelCaller, ModelError, ModelReply};
use crate::config::Project;
use crate::error::{Diagnostic, ErrorClass};
use crate::provider::{ChatResponse, Providers, ProvidersOptions, request_from_rendered};
use crate::store::{Scope, Store, StoreError};

/// Calls models for workflow nodes through the project's providers.
pub struct ProviderCaller {
    providers: Arc<Providers>,
    uncached: OnceLock<Arc<Providers>>,
    project: Project,
    store: Arc<dyn Store>,
    scope: Scope,
    options: ProvidersOptions,
    root: PathBuf,
}

impl std::fmt::Debug for ProviderCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderCaller").field("root", &self.root).finish_non_exhaustive()
    }
}

impl ProviderCaller {
    /// The providers of `project`, with the cache and usage ledger in `store` under `scope`.
    pub fn new(project: &Project, store: Arc<dyn Store>, scope: Scope, options: ProvidersOptions) -> Self {
        let providers = Arc::new(Providers::new(project, Arc::clone(&store), scope.clone(), options.clone()));
        Self::with_providers(project, store, scope, options, providers)
    }

    /// A caller over providers that something else also uses (an eval run whose targets mix
    /// prompts and workflows), so that one set of limits, one cache and one budget cover both.
    pub fn with_providers(
        project: &Project,
        store: Arc<dyn Store>,
        scope: Scope,
        options: ProvidersOptions,
        providers: Arc<Providers>,
    ) -> Self {
        Self {
            providers,
            uncached: OnceLock::new(),
            project: project.clone(),
            store,
            scope,
            options,
            root: project.root.clone(),
        }
    }

    /// The shared providers (to flush their writes when a command ends).
    pub fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    fn for_call(&self, cache: bool) -> &Arc<Providers> {
        if cache || self.options.no_cache {
            return &self.providers;
        }
        self.uncached.get_or_init(|| {
            let options = ProvidersOptions { no_cache: true, ..self.options.clone() };
            Arc::new(Providers::new(&self.project, Arc::clone(&self.store), self.scope.clone(), options))
        })
    }

    /// Waits for queued cache entries and usage rows of both provider sets (both are flushed
    /// even when the first fails); fails when some could not be written.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let cached = self.providers.flush().await;
        let uncached = match self.uncached.get() {
            Some(uncached) => uncached.flush().await,
            None => Ok(()),
        };
        match (cached, uncached) {
            (
                Err(StoreError::Background { usage_rows, cache_entries, source }),
                Err(StoreError::Background { usage_rows: more_rows, cache_entries: more_entries, .. }),
            ) => Err(StoreError::Background {
                usage_rows: usage_rows + more_rows,
                cache_entries: cache_entries + more_entries,
                source,
            }),
            (cached, uncached) => cached.and(uncached),
        }
    }
}

fn model_error<E: Diagnostic>(err: &E) -> ModelError {
    ModelError { message: err.to_string(), class: err.class(), hints: err.hints() }
}

#[async_trait]
impl ModelCaller for ProviderCaller {
    async fn call(&self, call: ModelCall<'_>) -> Result<ModelReply, ModelError> {
        let providers = self.for_call(call.cache);
        let reference = call.provider.map(ToOwned::to_owned).or_else(|| self.project.config.defaults.provider.clone());
        let Some(reference) = reference else {
            return Err(ModelError {
                message: format!(
                    "node `{}` names no provider, and promptops.yaml has no `defaults.provider`",
                    call.node
                ),
                class: ErrorClass::Config,
                hints: vec!["set `provider:` on the node, `model:` in the prompt, or `defaults.provider`".to_owned()],
            });
        };
        let provider = providers.get(&reference).map_err(|e| model_error(&e))?;
        let request = request_from_rendered(call.prompt, &self.root).map_err(|e| model_error(&e))?;
        let started = Instant::now();
        let response: ChatResponse = match call.on_token {
            Some(on_token) => {
                let mut forward = |piece: &str| on_token(piece);
                provider.chat(&request, Some(&mut forward)).await
            }
            None => provider.chat(&request, None).await,
        }
        .map_err(|e| model_error(&e))?;
        Ok(ModelReply {
            text: response.text,
            provider: response.provider,
            input_tokens: response.usage.input_tokens,
            output_tokens: response.usage.output_tokens,
            cost: response.cost,
            cached: response.cached,
            attempts: response.attempts,
            latency: if response.latency.is_zero() { started.elapsed() } else { response.latency },
        })
    }
}
