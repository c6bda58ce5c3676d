//! The models behind `eval`: the project's providers through the inference layers, with the
//! response cache and usage ledger in the local store.

use std::sync::Arc;

use promptops::config::Project;
use promptops::eval::backend::Backend;
use promptops::eval::providers::ProvidersBackend;
use promptops::eval::workflows::ProjectWorkflows;
use promptops::money::Micros;
use promptops::provider::{Providers, ProvidersOptions};
use promptops::workflow::{self, ProviderCaller};

use crate::context::LocalStore;
use crate::diagnose::usage;

/// Choices that shape the provider layers.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--max-cost`, in dollars.
    pub max_cost: Option<f64>,
    /// Where keys come from, when not the environment and keyring (a promptfoo config's `apiKey`).
    pub secrets: Option<promptops::secret::Secrets>,
}

/// The backend for a project, and the providers behind it (workflow targets share them).
pub fn backend(
    project: &Project,
    store: &LocalStore,
    options: &BackendOptions,
) -> anyhow::Result<(Arc<dyn Backend>, Arc<Providers>, ProvidersOptions)> {
    let BackendOptions { no_cache, max_cost, secrets } = options;
    let max_cost = match max_cost {
        Some(usd) => Some(Micros::from_usd(*usd).filter(|m| m.0 >= 0).ok_or_else(|| {
            usage(format!("`--max-cost {usd}` is not an amount of dollars"), &["e.g. `--max-cost 0.50`"])
        })?),
        None => None,
    };
    let options = ProvidersOptions { no_cache: *no_cache, max_cost, secrets: secrets.clone() };
    let providers = Arc::new(Providers::new(project, Arc::clone(&store.store), store.scope.clone(), options.clone()));
    let backend = Arc::new(ProvidersBackend::new(Arc::clone(&providers), project.root.clone()));
    Ok((backend, providers, options))
}

/// The project's workflows as eval targets, calling models through `providers`.
pub fn workflows(
    project: &Project,
    store: &LocalStore,
    providers: Arc<Providers>,
    options: ProvidersOptions,
) -> ProjectWorkflows {
    let registry = store.registry(project);
    let prompts = workflow::ProjectPrompts::new(project.prompts_dir(), Some(Arc::new(registry)));
    let caller =
        ProviderCaller::with_providers(project, Arc::clone(&store.store), store.scope.clone(), options, providers);
    ProjectWorkflows::new(project.root.clone(), Arc::new(prompts), Arc::new(caller))
}
