//! [`Providers`]: turns a reference — an `id` from `promptops.yaml`'s `providers:`, or
//! `kind:model` such as `openai:gpt-4o-mini` — into a fully layered `Arc<dyn Provider>`. Each
//! provider is built once per `Providers` and shared, so its concurrency and rate limits hold
//! across every caller (run, eval cases, workflow nodes). Keys come from [`Secrets`]: the
//! provider's `api_key_env` (or the kind's usual variable), else the keyring.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::anthropic::{self, Anthropic};
use super::echo::Echo;
use super::error::ProviderError;
use super::exec::Exec;
use super::http;
use super::layer::{self, Budget, BudgetLimits, CacheMode, RetryPolicy, StackSettings, StoreWriter};
use super::mock::{Mock, site_for};
use super::openai::{self, HttpSetup, OpenAi};
use super::pricing::PriceTable;
use super::{Provider, ProviderInfo};
use crate::config::{Project, ProjectConfig, ProviderConfig, ProviderKind};
use crate::money::Micros;
use crate::secret::{KeyLookup, SecretString, Secrets};
use crate::store::{Scope, Store, StoreError};

/// Per-invocation choices that are not in `promptops.yaml`.
#[derive(Debug, Clone, Default)]
pub struct ProvidersOptions {
    /// Neither read nor write the response cache (`--no-cache`).
    pub no_cache: bool,
    /// The most this invocation may spend (`--max-cost`).
    pub max_cost: Option<Micros>,
    /// Where keys come from; the process environment and the OS keyring when unset.
    pub secrets: Option<Secrets>,
}

/// The environment variable a kind reads its key from by default.
pub fn default_key_env(kind: ProviderKind, azure: bool) -> Option<&'static str> {
    match kind {
        ProviderKind::Openai if azure => Some("AZURE_OPENAI_API_KEY"),
        ProviderKind::Openai => Some("OPENAI_API_KEY"),
        ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
        ProviderKind::Mock | ProviderKind::Echo | ProviderKind::Exec => None,
    }
}

/// The providers of one project, built on demand and shared.
pub struct Providers {
    root: PathBuf,
    config: ProjectConfig,
    secrets: Secrets,
    prices: Arc<PriceTable>,
    writer: Arc<StoreWriter>,
    budget: Option<Arc<Budget>>,
    cache: CacheMode,
    built: Mutex<HashMap<String, Arc<dyn Provider>>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers").field("root", &self.root).field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl Providers {
    /// The providers of `project`, with the response cache and usage ledger in `store` under `scope`.
    pub fn new(project: &Project, store: Arc<dyn Store>, scope: Scope, options: ProvidersOptions) -> Self {
        let config = project.config.clone();
        let budgets = config.budgets.clone();
        let limits = BudgetLimits {
            invocation: options.max_cost,
            daily: budgets.as_ref().and_then(|b| b.daily_usd).and_then(Micros::from_usd),
            monthly: budgets.as_ref().and_then(|b| b.monthly_usd).and_then(Micros::from_usd),
            warn_per_mille: budgets.as_ref().and_then(|b| b.warn_at).map_or(800, |w| (w * 1000.0).round() as u32),
        };
        let budget = limits.any().then(|| Arc::new(Budget::new(limits, Arc::clone(&store), scope.clone())));
        Self {
            root: project.root.clone(),
            prices: Arc::new(PriceTable::with_overrides(&config.pricing)),
            config,
            secrets: options.secrets.unwrap_or_else(Secrets::from_process),
            writer: Arc::new(StoreWriter::new(store, scope)),
            budget,
            cache: if options.no_cache { CacheMode::Off } else { CacheMode::ReadWrite },
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The layered provider a reference names: a configured `id`, else `kind:model`.
    pub fn get(&self, reference: &str) -> Result<Arc<dyn Provider>, ProviderError> {
        if let Some(provider) = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(reference) {
            return Ok(Arc::clone(provider));
        }
        let (config, index) = self.config_for(reference)?;
        let provider = self.build(&config, index)?;
        let mut built = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Two callers may race to build the same provider: keep the first so limits are shared.
        Ok(Arc::clone(built.entry(reference.to_owned()).or_insert(provider)))
    }

    /// The configuration a reference resolves to, and its index in `providers:` if configured.
    pub fn config_for(&self, reference: &str) -> Result<(ProviderConfig, Option<usize>), ProviderError> {
        if let Some(index) = self.config.providers.iter().position(|p| p.id == reference) {
            return Ok((self.config.providers[index].clone(), Some(index)));
        }
        let Some((kind_text, model)) = reference.split_once(':') else {
            let configured = self.config.providers.iter().map(|p| p.id.clone()).collect();
            return Err(ProviderError::Unknown { wanted: reference.to_owned(), configured });
        };
        let kind = ProviderKind::parse(kind_text)
            .ok_or_else(|| ProviderError::UnknownKind { wanted: reference.to_owned(), kind: kind_text.to_owned() })?;
        Ok((
            ProviderConfig { id: reference.to_owned(), kind, model: Some(model.to_owned()), ..blank(reference, kind) },
            None,
        ))
    }

    /// Every configured provider.
    pub fn configured(&self) -> &[ProviderConfig] {
        &self.config.providers
    }

    /// The price table in force.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// The key sources.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Waits for queued cache entries and usage rows to reach the store; fails with
    /// [`StoreError::Background`] when some of them could not be written.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.writer.flush().await
    }

    /// Looks for the key of a provider: (variable read, keyring names tried, outcome).
    pub fn key_for(&self, config: &ProviderConfig) -> Option<(String, Vec<String>, KeyLookup)> {
        let env_var = config
            .api_key_env
            .clone()
            .or_else(|| default_key_env(config.kind, config.api_version.is_some()).map(ToOwned::to_owned))?;
        let names = keyring_names(config);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let found = self.secrets.lookup(&env_var, &refs);
        Some((env_var, names, found))
    }

    fn build(&self, config: &ProviderConfig, index: Option<usize>) -> Result<Arc<dyn Provider>, ProviderError> {
        let wire = match config.kind {
            ProviderKind::Openai | ProviderKind::Anthropic => {
                let default_url = default_base_url(config.kind);
                let (key, env_var) = self.key(config, key_required(config, default_url))?;
                http_provider(config, key, env_var, http::client())?
            }
            _ => offline_provider(config, &site_for(&self.root, index.unwrap_or(0)), &self.root)?,
        };
        let context = LayerContext {
            prices: Arc::clone(&self.prices),
            writer: Some(Arc::clone(&self.writer)),
            budget: self.budget.clone(),
            cache: self.cache,
            cache_ttl: self.config.defaults.cache_ttl_s.map(Duration::from_secs),
        };
        Ok(layered(wire, config, &context))
    }

    fn key(
        &self,
        config: &ProviderConfig,
        required: bool,
    ) -> Result<(Option<SecretString>, Option<String>), ProviderError> {
        let Some((env_var, names, found)) = self.key_for(config) else { return Ok((None, None)) };
        match found {
            KeyLookup::Found(secret, _) => Ok((Some(secret), Some(env_var))),
            KeyLookup::Missing { .. } if !required => Ok((None, Some(env_var))),
            KeyLookup::Missing { keyring_note } => Err(ProviderError::MissingKey {
                provider: config.id.clone(),
                env_var,
                keyring_name: names.into_iter().next().unwrap_or_default(),
                keyring_note,
            }),
        }
    }
}

/// What the layers around the providers of one owner share (a project locally, a project's
/// connections on the server).
#[derive(Debug, Clone)]
pub struct LayerContext {
    /// Prices.
    pub prices: Arc<PriceTable>,
    /// The background writer of cache entries and usage rows.
    pub writer: Option<Arc<StoreWriter>>,
    /// Spending limits, when any is set.
    pub budget: Option<Arc<Budget>>,
    /// Cache use.
    pub cache: CacheMode,
    /// Cache entry lifetime.
    pub cache_ttl: Option<Duration>,
}

/// Wraps a wire provider in every layer, with the limits of `config`.
pub fn layered(wire: Arc<dyn Provider>, config: &ProviderConfig, context: &LayerContext) -> Arc<dyn Provider> {
    let limits = &config.limits;
    let http = matches!(config.kind, ProviderKind::Openai | ProviderKind::Anthropic);
    let defaults = RetryPolicy::default();
    let settings = StackSettings {
        concurrency: limits.concurrency,
        adaptive: http,
        rpm: limits.rpm,
        tpm: limits.tpm,
        timeout: limits
            .timeout_s
            .filter(|t| t.is_finite() && *t > 0.0)
            .map_or(layer::DEFAULT_TIMEOUT, Duration::from_secs_f64),
        retry: RetryPolicy {
            max_retries: limits.max_retries.unwrap_or(if http { defaults.max_retries } else { 0 }),
            backoff: limits.backoff_ms.map_or(defaults.backoff, Duration::from_millis),
            max_backoff: limits.max_backoff_ms.map_or(defaults.max_backoff, Duration::from_millis),
            ..defaults
        },
        cache: context.cache,
        cache_ttl: context.cache_ttl,
        identity: identity(config),
        prices: Arc::clone(&context.prices),
        // An `exec` command costs nothing unless its model has a price in the table.
        free: match config.kind {
            ProviderKind::Mock | ProviderKind::Echo => true,
            ProviderKind::Exec => config.model.as_deref().and_then(|m| context.prices.price(m)).is_none(),
            ProviderKind::Openai | ProviderKind::Anthropic => false,
        },
        budget: context.budget.clone(),
        writer: context.writer.clone(),
    };
    layer::stack(wire, &settings)
}

/// The default base URL of an HTTP kind.
pub fn default_base_url(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => anthropic::DEFAULT_BASE_URL,
        _ => openai::DEFAULT_BASE_URL,
    }
}

/// Whether an HTTP provider needs a key: the vendors' own endpoints always do; a self-hosted
/// server (Ollama, vLLM) may not.
pub fn key_required(config: &ProviderConfig, default_url: &str) -> bool {
    config.api_version.is_some() || config.base_url.as_deref().is_none_or(|u| u.trim_end_matches('/') == default_url)
}

/// The wire provider of an HTTP kind (`openai`, `anthropic`) with its key already found, sending
/// through `client` (the server passes one that refuses internal addresses).
pub fn http_provider(
    config: &ProviderConfig,
    key: Option<SecretString>,
    env_var: Option<String>,
    client: reqwest::Client,
) -> Result<Arc<dyn Provider>, ProviderError> {
    let model = config.model.clone().unwrap_or_else(|| config.kind.as_str().to_owned());
    let info = ProviderInfo { id: config.id.clone(), kind: config.kind, model };
    let default_url = default_base_url(config.kind);
    let setup = http_setup(config, info, default_url, key, env_var, client)?;
    Ok(match config.kind {
        ProviderKind::Anthropic => Arc::new(Anthropic::new(setup)),
        _ => Arc::new(OpenAi::new(setup)),
    })
}

/// The wire provider of an offline kind (`mock`, `echo`, `exec`); `root` is where `exec` runs.
pub(crate) fn offline_provider(
    config: &ProviderConfig,
    site: &super::mock::ConfigSite,
    root: &std::path::Path,
) -> Result<Arc<dyn Provider>, ProviderError> {
    let model = config.model.clone().unwrap_or_else(|| config.kind.as_str().to_owned());
    let info = ProviderInfo { id: config.id.clone(), kind: config.kind, model };
    Ok(match config.kind {
        ProviderKind::Mock => Arc::new(Mock::new(info, config, site)?),
        ProviderKind::Echo => Arc::new(Echo::new(info)),
        ProviderKind::Exec => Arc::new(Exec::new(info, config.command.clone(), root.to_path_buf())?),
        ProviderKind::Openai | ProviderKind::Anthropic => {
            return Err(ProviderError::Config {
                provider: config.id.clone(),
                message: "an HTTP provider needs its key".to_owned(),
                hint: None,
            });
        }
    })
}

fn http_setup(
    config: &ProviderConfig,
    info: ProviderInfo,
    default_url: &str,
    key: Option<SecretString>,
    env_var: Option<String>,
    client: reqwest::Client,
) -> Result<HttpSetup, ProviderError> {
    if config.model.is_none() {
        return Err(ProviderError::Config {
            provider: config.id.clone(),
            message: "no `model` is set".to_owned(),
            hint: Some(format!("add `model:` to it in promptops.yaml, or use `{}:MODEL`", config.kind.as_str())),
        });
    }
    let azure = config.api_version.is_some();
    if azure && config.base_url.is_none() {
        return Err(ProviderError::Config {
            provider: config.id.clone(),
            message: "Azure OpenAI (`api_version`) needs `base_url`".to_owned(),
            hint: Some("e.g. `base_url: https://RESOURCE.openai.azure.com`".to_owned()),
        });
    }
    let base_url = http::base_url(&config.id, config.base_url.as_deref().unwrap_or(default_url))?;
    Ok(HttpSetup {
        info,
        base_url,
        key,
        env_var,
        headers: config.headers.clone(),
        params: config.params.clone(),
        api_version: config.api_version.clone(),
        client,
    })
}

/// The keyring entries tried for a provider: its id, then its kind (`openai`), so that one
/// `auth set-key openai` serves every `openai:MODEL` reference.
fn keyring_names(config: &ProviderConfig) -> Vec<String> {
    // A `kind:model` reference is not a name anyone would store a key under.
    if config.id.contains(':') || config.id == config.kind.as_str() {
        return vec![config.kind.as_str().to_owned()];
    }
    vec![config.id.clone(), config.kind.as_str().to_owned()]
}

/// Everything about a provider that changes its answers, for cache keys.
pub fn identity(config: &ProviderConfig) -> String {
    serde_json::json!({
        "kind": config.kind.as_str(),
        "model": config.model,
        "base_url": config.base_url,
        "api_version": config.api_version,
        "params": config.params,
        "rules": config.rules,
        "default": config.default,
        "seed": config.seed,
        "command": config.command,
    })
    .to_string()
}

/// A provider configuration with nothing but an id and kind.
fn blank(id: &str, kind: ProviderKind) -> ProviderConfig {
    ProviderConfig::new(id, kind)
}
