//! The models behind `eval` and `ab`: the project's providers through the inference layers, with
//! the response cache and usage ledger in the local store; and where runs run, chosen once.

use std::sync::Arc;

use promptops::config::Project;
use promptops::eval::backend::Backend;
use promptops::eval::providers::ProvidersBackend;
use promptops::eval::workflows::ProjectWorkflows;
use promptops::eval::{Overrides, PlanInput, ProjectPrompts};
use promptops::money::Micros;
use promptops::provider::{Providers, ProvidersOptions};
use promptops::session::{Executor, LocalExecutor, ServerExecutor};
use promptops::workflow::{self, ProviderCaller};

use crate::context::{Context, LocalStore};
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

/// Where this invocation's runs run, chosen once, with the local layers beside it.
pub struct Execution {
    /// Here; here then uploaded to `--remote`; or on its workers with `--on-server`.
    pub executor: Arc<dyn Executor>,
    /// The project's providers here (a judge's calls, workflow targets).
    pub backend: Arc<dyn Backend>,
    /// The project's workflows as eval targets.
    pub workflows: ProjectWorkflows,
    /// What planning checks providers against (the executor's).
    planning: Arc<dyn Backend>,
}

impl Execution {
    /// What planning `project`'s suites needs, with `prompts` and `overrides`.
    pub fn plan_input<'a>(
        &'a self,
        project: &'a Project,
        prompts: &'a ProjectPrompts,
        overrides: &'a Overrides,
    ) -> PlanInput<'a> {
        PlanInput {
            root: &project.root,
            default_provider: project.config.defaults.provider.as_deref(),
            prompts,
            backend: self.planning.as_ref(),
            workflows: Some(&self.workflows),
            overrides,
        }
    }
}

/// The execution of `project`'s runs: on the `--remote` server's workers when `on_server`,
/// else here (and uploaded to `--remote` when one is named).
pub async fn execution(
    ctx: &Context,
    project: &Project,
    store: &LocalStore,
    options: &BackendOptions,
    on_server: bool,
) -> anyhow::Result<Execution> {
    let (backend, providers, provider_options) = backend(project, store, options)?;
    let workflows = workflows(project, store, providers, provider_options);
    let git = promptops::git::head(project.origin_root());
    let executor: Arc<dyn Executor> = match ctx.remote() {
        Some(remote) if on_server => {
            let client = ctx.remote_client(project, remote)?;
            Arc::new(ServerExecutor::new(client, project.root.clone(), project.config.defaults.provider.clone(), git))
        }
        None if on_server => {
            return Err(usage(
                "--on-server needs a remote to run on",
                &["name one with `--remote NAME` (see `promptops remote list`)"],
            ));
        }
        remote => {
            let local = LocalExecutor::new(
                Arc::clone(&store.store),
                store.scope.clone(),
                store.actor.clone(),
                git,
                Arc::clone(&backend),
            );
            match remote {
                Some(remote) => Arc::new(local.uploading_to(remote.to_owned(), ctx.runs(project).await?)),
                None => Arc::new(local),
            }
        }
    };
    let planning = executor.planning_backend();
    Ok(Execution { executor, backend, workflows, planning })
}
