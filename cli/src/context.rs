//! What every command needs, built once: the printer, the requested format, and on demand the
//! project and its registry service.

use std::path::PathBuf;
use std::sync::Arc;

use promptops::access::{Action, LOCAL_PROJECT, Principal};
use promptops::config::{Project, resolve_author};
use promptops::provider::{Providers, ProvidersOptions};
use promptops::registry::Registry;
use promptops::remote::{Client, RemoteExperiments, RemoteGateway, RemoteRegistry, RemoteRuns, credentials, settings};
use promptops::secret::Secrets;
use promptops::service::{
    ExperimentService, LocalExperiments, LocalRuns, LocalUsage, RegistryService, RegistryVersions, RunService,
    UsageService,
};
use promptops::store::{Scope, SqliteStore, Store};
use promptops::workflow::VersionLookup;

use crate::diagnose::DiagnoseExt;
use crate::output::{Format, Printer};

/// Shared state of one invocation.
#[derive(Debug)]
pub struct Context {
    /// Where output goes.
    pub printer: Printer,
    /// `--format`, if given (checked against what each command supports).
    format: Option<String>,
    project_dir: Option<PathBuf>,
    remote: Option<String>,
}

impl Context {
    /// A context from the global flags.
    pub fn new(printer: Printer, format: Option<String>, project_dir: Option<PathBuf>, remote: Option<String>) -> Self {
        Self { printer, format, project_dir, remote }
    }

    /// `--remote NAME`, if given: registry and run services then talk to that server.
    pub fn remote(&self) -> Option<&str> {
        self.remote.as_deref()
    }

    /// The registry of remote `name` of `project`, with its token (`PROMPTOPS_TOKEN`, else the keyring).
    pub fn remote_registry(&self, project: &Project, name: &str) -> anyhow::Result<RemoteRegistry> {
        let client = self.remote_client(project, name)?;
        Ok(RemoteRegistry::new(client, resolve_author(project.origin_root())))
    }

    /// A client of remote `name` of `project`.
    pub fn remote_client(&self, project: &Project, name: &str) -> anyhow::Result<Client> {
        let remote = settings::find(project, name).diag()?;
        let (token, origin) = credentials::token(&Secrets::from_process(), name).diag()?;
        self.printer.detail(&format!("remote {name}: {} project {}; token from {origin}", remote.url, remote.project));
        Client::new(remote, token).diag()
    }

    /// The directory `--project`/`PROMPTOPS_PROJECT` names, if any.
    pub fn project_dir(&self) -> Option<&std::path::Path> {
        self.project_dir.as_deref()
    }

    /// The project: `--project`/`PROMPTOPS_PROJECT`, else found by walking up from the current directory.
    pub fn project(&self) -> anyhow::Result<Project> {
        match &self.project_dir {
            Some(dir) => Project::open(dir).diag(),
            None => Project::discover(&std::env::current_dir()?).diag(),
        }
    }

    /// The format to use for `command`, checked against what it supports.
    pub fn format(&self, supported: &[Format], command: &str) -> anyhow::Result<Format> {
        self.format_or(Format::Table, supported, command)
    }

    /// The format to use for `command`, `default` when none was asked for.
    pub fn format_or(&self, default: Format, supported: &[Format], command: &str) -> anyhow::Result<Format> {
        Format::pick_named(self.format.as_deref(), default, supported, command)
    }

    /// The project's local store, the scope of its one implicit tenant and project, and the
    /// user acting on it.
    pub async fn local_store(&self, project: &Project) -> anyhow::Result<LocalStore> {
        let store = SqliteStore::open(project.database_path()).await.diag()?;
        let actor = resolve_author(project.origin_root());
        self.printer.detail(&format!("store: {}; acting as {actor}", project.database_path().display()));
        let scope = Principal::local(&actor).authorize(Action::Write, LOCAL_PROJECT).diag()?;
        Ok(LocalStore { store: Arc::new(store), scope, actor })
    }

    /// The project's eval runs: the local store in `.promptops/`, or the server of `--remote`.
    pub async fn runs(&self, project: &Project) -> anyhow::Result<Arc<dyn RunService>> {
        if let Some(name) = self.remote() {
            return Ok(Arc::new(RemoteRuns::new(self.remote_client(project, name)?)));
        }
        let local = self.local_store(project).await?;
        Ok(Arc::new(LocalRuns::new(local.store, local.scope)))
    }

    /// The project's A/B experiments: the local store, or the server of `--remote`.
    pub async fn experiments(&self, project: &Project) -> anyhow::Result<Arc<dyn ExperimentService>> {
        if let Some(name) = self.remote() {
            return Ok(Arc::new(RemoteExperiments::new(self.remote_client(project, name)?)));
        }
        let local = self.local_store(project).await?;
        Ok(Arc::new(LocalExperiments::new(local.store, local.scope)))
    }

    /// The project's traces and spend: the local store with `promptops.yaml`'s budgets, or the
    /// server of `--remote`.
    pub async fn usage(&self, project: &Project) -> anyhow::Result<Arc<dyn UsageService>> {
        if let Some(name) = self.remote() {
            return Ok(Arc::new(RemoteGateway::new(self.remote_client(project, name)?)));
        }
        let (store, scope) = self.store(project).await?;
        Ok(Arc::new(LocalUsage::new(store, scope, project.config.budgets.clone())))
    }

    /// Stored prompt versions for the `name@label` refs of suites and arms: the local store's
    /// registry, or the server's with `--remote` (so an uploaded run names the server's versions).
    pub fn versions(&self, project: &Project, local: &LocalStore) -> anyhow::Result<Arc<dyn VersionLookup>> {
        if let Some(name) = self.remote() {
            return Ok(Arc::new(RegistryVersions(Arc::new(self.remote_registry(project, name)?))));
        }
        Ok(Arc::new(local.registry(project)))
    }

    /// The project's store and the scope of the local user running models in it.
    pub async fn store(&self, project: &Project) -> anyhow::Result<(Arc<dyn Store>, Scope)> {
        let store = SqliteStore::open(project.database_path()).await.diag()?;
        let author = resolve_author(project.origin_root());
        let scope = Principal::local(&author).authorize(Action::Run, LOCAL_PROJECT).diag()?;
        Ok((Arc::new(store), scope))
    }

    /// The project's providers, layered, with the cache and usage ledger in the local store.
    pub async fn providers(&self, project: &Project, options: ProvidersOptions) -> anyhow::Result<Providers> {
        let (store, scope) = self.store(project).await?;
        Ok(Providers::new(project, store, scope, options))
    }

    /// The project's registry: the local store in `.promptops/`, or the server of `--remote`.
    pub async fn registry(&self, project: &Project) -> anyhow::Result<Arc<dyn RegistryService>> {
        if let Some(name) = self.remote() {
            return Ok(Arc::new(self.remote_registry(project, name)?));
        }
        let store = SqliteStore::open(project.database_path()).await.diag()?;
        let author = resolve_author(project.origin_root());
        self.printer.detail(&format!("store: {}; acting as {author}", project.database_path().display()));
        let scope = Principal::local(&author).authorize(Action::Write, LOCAL_PROJECT).diag()?;
        Ok(Arc::new(Registry::new(Arc::new(store), scope, author, project.config.labels.protected.clone())))
    }
}

/// The local store with its scope and actor.
#[derive(Clone)]
pub struct LocalStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The local tenant and project.
    pub scope: Scope,
    /// Who acts.
    pub actor: String,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore").field("scope", &self.scope).field("actor", &self.actor).finish_non_exhaustive()
    }
}

impl LocalStore {
    /// A registry over this store.
    pub fn registry(&self, project: &Project) -> Registry {
        Registry::new(
            Arc::clone(&self.store),
            self.scope.clone(),
            self.actor.clone(),
            project.config.labels.protected.clone(),
        )
    }
}
