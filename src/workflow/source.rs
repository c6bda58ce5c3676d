//! Where a workflow's references are resolved: prompt refs of `prompt` and `router` nodes
//! ([`PromptSource`]: the working copy under `prompts/`, stored versions through the registry)
//! and the files of `subgraph` nodes ([`Catalog`]). Both are handed in by the caller, so the
//! validator and the executor can be tested without a project or a store.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::error::WorkflowError;
use super::load::{self, Workflow};
use crate::error::{Diagnostic, ErrorClass};
use crate::prompt::{
    self, FetchError, LoadedPrompt, PartialSet, PromptName, PromptRef, ReferenceSource, Referenced, Selector,
};
use crate::registry::{Registry, RegistryError};
use crate::store::VersionRecord;

/// Why a prompt ref could not be loaded, as text with hints (the source may be local or remote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What failed.
    pub message: String,
    /// What to do.
    pub hints: Vec<String>,
    /// Exit-code class.
    pub class: ErrorClass,
}

impl SourceError {
    /// Captures any library error's text, hints and class.
    pub fn from_diagnostic<E: Diagnostic>(err: &E) -> Self {
        Self { message: err.to_string(), hints: err.hints(), class: err.class() }
    }
}

impl Diagnostic for SourceError {
    fn class(&self) -> ErrorClass {
        self.class
    }
    fn hints(&self) -> Vec<String> {
        self.hints.clone()
    }
}

/// Resolves prompt refs to prompts.
#[async_trait]
pub trait PromptSource: Send + Sync + fmt::Debug {
    /// The prompt a ref selects.
    async fn load(&self, reference: &PromptRef) -> Result<LoadedPrompt, SourceError>;
}

/// Looks up stored prompt versions (the registry, local or remote).
#[async_trait]
pub trait VersionLookup: Send + Sync {
    /// The stored version a selector names.
    async fn resolve_version(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError>;
}

/// A version lookup as composition's [`ReferenceSource`] (`None`: no registry is open, so any
/// reference fails saying so).
pub struct VersionReferences<'a>(pub Option<&'a dyn VersionLookup>);

impl fmt::Debug for VersionReferences<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VersionReferences")
    }
}

impl ReferenceSource for VersionReferences<'_> {
    fn fetch<'a>(
        &'a self,
        name: &'a PromptName,
        selector: &'a Selector,
    ) -> futures::future::BoxFuture<'a, Result<Referenced, FetchError>> {
        Box::pin(async move {
            let versions = self.0.ok_or_else(|| FetchError::Missing("the registry is not open here".into()))?;
            let record =
                versions.resolve_version(name, selector).await.map_err(|err| FetchError::Missing(Box::new(err)))?;
            Referenced::from_stored(name, record.meta.number, record.source, record.partials)
        })
    }
}

#[async_trait]
impl VersionLookup for Registry {
    async fn resolve_version(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError> {
        self.resolve(name, selector).await
    }
}

/// A project's prompts: the working copy from `prompts/`, and stored versions when a registry
/// is given (without one, `name@label` refs fail with a hint).
#[derive(Clone)]
pub struct ProjectPrompts {
    prompts_dir: PathBuf,
    versions: Option<Arc<dyn VersionLookup>>,
}

impl fmt::Debug for ProjectPrompts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectPrompts").field("prompts_dir", &self.prompts_dir).finish_non_exhaustive()
    }
}

impl ProjectPrompts {
    /// Prompts under `prompts_dir`, with stored versions from `versions`.
    pub fn new(prompts_dir: PathBuf, versions: Option<Arc<dyn VersionLookup>>) -> Self {
        Self { prompts_dir, versions }
    }
}

#[async_trait]
impl PromptSource for ProjectPrompts {
    async fn load(&self, reference: &PromptRef) -> Result<LoadedPrompt, SourceError> {
        let loaded = self.load_uncomposed(reference).await?;
        prompt::compose_prompt(loaded, &VersionReferences(self.versions.as_deref()))
            .await
            .map_err(|e| SourceError::from_diagnostic(&e))
    }
}

impl ProjectPrompts {
    async fn load_uncomposed(&self, reference: &PromptRef) -> Result<LoadedPrompt, SourceError> {
        if reference.selector == Selector::WorkingCopy {
            return prompt::load_prompt(&self.prompts_dir, &reference.name)
                .map_err(|e| SourceError::from_diagnostic(&e));
        }
        let Some(versions) = &self.versions else {
            return Err(SourceError {
                message: format!("prompt ref `{reference}` needs the registry, which is not available here"),
                hints: vec!["refer to the working copy (`name` without `@`)".to_owned()],
                class: ErrorClass::Usage,
            });
        };
        let record = versions
            .resolve_version(&reference.name, &reference.selector)
            .await
            .map_err(|e| SourceError::from_diagnostic(&e))?;
        let origin = PathBuf::from(format!("{}@{}", record.meta.name, record.meta.number));
        LoadedPrompt::parse(record.meta.name.clone(), origin, record.source, record.partials)
            .map_err(|e| SourceError::from_diagnostic(&e))
    }
}

/// Prompts held in memory, by ref text (`name` or `name@label`): for tests and for exported or
/// frozen workflows.
#[derive(Debug, Clone, Default)]
pub struct StaticPrompts {
    prompts: std::collections::BTreeMap<String, LoadedPrompt>,
}

impl StaticPrompts {
    /// No prompts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a prompt under a ref text, parsing its YAML (panics are not used: a bad text is an error).
    pub fn with(mut self, reference: &str, yaml: &str) -> Result<Self, SourceError> {
        let parsed: PromptRef = reference.parse().map_err(|e| SourceError::from_diagnostic(&e))?;
        let origin = PathBuf::from(format!("prompts/{}.yaml", parsed.name));
        let prompt = LoadedPrompt::parse(parsed.name, origin, yaml.to_owned(), PartialSet::new())
            .map_err(|e| SourceError::from_diagnostic(&e))?;
        self.prompts.insert(reference.to_owned(), prompt);
        Ok(self)
    }
}

#[async_trait]
impl PromptSource for StaticPrompts {
    async fn load(&self, reference: &PromptRef) -> Result<LoadedPrompt, SourceError> {
        self.prompts.get(&reference.to_string()).cloned().ok_or_else(|| SourceError {
            message: format!("prompt `{reference}` not found"),
            hints: vec![format!("known: {}", self.prompts.keys().cloned().collect::<Vec<_>>().join(", "))],
            class: ErrorClass::Usage,
        })
    }
}

/// Where workflows live: resolves `subgraph` references and names given on the command line.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// `workflows/`.
    pub workflows_dir: PathBuf,
    /// The project root (messages show paths relative to it).
    pub root: PathBuf,
}

impl Catalog {
    /// The workflows of a project rooted at `root`.
    pub fn new(root: &Path) -> Self {
        Self { workflows_dir: root.join("workflows"), root: root.to_path_buf() }
    }

    /// A workflow by name, or by path when the text looks like one.
    pub fn load(&self, name_or_path: &str) -> Result<Workflow, WorkflowError> {
        if load::looks_like_path(name_or_path) {
            let path = Path::new(name_or_path);
            let absolute = if path.is_absolute() { path.to_path_buf() } else { self.root.join(path) };
            let absolute = if absolute.is_file() { absolute } else { path.to_path_buf() };
            return load::load_file(&absolute, load::shown(&self.root, &absolute));
        }
        load::load_named(&self.workflows_dir, &self.root, name_or_path)
    }

    /// The workflow a subgraph node of `parent` names: a path relative to the parent's file
    /// when it starts with `.` or ends with `.yaml`, else a name under `workflows/`.
    pub fn subgraph(&self, parent: &Workflow, reference: &str) -> Result<Workflow, WorkflowError> {
        if reference.starts_with('.') || reference.ends_with(".yaml") || reference.ends_with(".yml") {
            let path = normalize(&parent.dir.join(reference));
            return load::load_file(&path, load::shown(&self.root, &path));
        }
        self.load(reference)
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system (the file may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
