//! What every command needs, built once: the printer, the requested format, and on demand the
//! project and its registry service.

use std::path::PathBuf;
use std::sync::Arc;

use promptops::access::{Action, LOCAL_PROJECT, Principal};
use promptops::config::{Project, resolve_author};
use promptops::provider::{Providers, ProvidersOptions};
use promptops::registry::Registry;
use promptops::service::RegistryService;
use promptops::store::{Scope, SqliteStore, Store};

use crate::diagnose::DiagnoseExt;
use crate::output::{Format, Printer};

/// Shared state of one invocation.
#[derive(Debug)]
pub struct Context {
    /// Where output goes.
    pub printer: Printer,
    /// `--format`, if given.
    pub format: Option<Format>,
    project_dir: Option<PathBuf>,
}

impl Context {
    /// A context from the global flags.
    pub fn new(printer: Printer, format: Option<Format>, project_dir: Option<PathBuf>) -> Self {
        Self { printer, format, project_dir }
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
        Format::pick(self.format, supported, command)
    }

    /// The project's store and the scope of the local user running models in it.
    pub async fn store(&self, project: &Project) -> anyhow::Result<(Arc<dyn Store>, Scope)> {
        let store = SqliteStore::open(project.database_path()).await.diag()?;
        let author = resolve_author(&project.root);
        let scope = Principal::local(&author).authorize(Action::Run, LOCAL_PROJECT).diag()?;
        Ok((Arc::new(store), scope))
    }

    /// The project's providers, layered, with the cache and usage ledger in the local store.
    pub async fn providers(&self, project: &Project, options: ProvidersOptions) -> anyhow::Result<Providers> {
        let (store, scope) = self.store(project).await?;
        Ok(Providers::new(project, store, scope, options))
    }

    /// The project's registry (the local store in `.promptops/`).
    pub async fn registry(&self, project: &Project) -> anyhow::Result<Arc<dyn RegistryService>> {
        let store = SqliteStore::open(project.database_path()).await.diag()?;
        let author = resolve_author(&project.root);
        self.printer.detail(&format!("store: {}; acting as {author}", project.database_path().display()));
        let scope = Principal::local(&author).authorize(Action::Write, LOCAL_PROJECT).diag()?;
        Ok(Arc::new(Registry::new(Arc::new(store), scope, author, project.config.labels.protected.clone())))
    }
}
