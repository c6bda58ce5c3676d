//! The interfaces the CLI talks to. Each has a local implementation over the store and a remote
//! one over HTTP (`promptops serve`), so a command does not know which it has (DESIGN
//! boundary 3).

use async_trait::async_trait;

use crate::prompt::{Label, LoadedPrompt, PromptName, Selector};
use crate::registry::{PromptLog, Registry, RegistryError};
use crate::store::{CommitOutcome, LabelMove, LabelRecord, PromptSummary, VersionRecord};
use crate::workflow::VersionLookup;

/// Prompt versions and labels.
#[async_trait]
pub trait RegistryService: Send + Sync {
    /// The user changes are recorded for.
    fn actor(&self) -> &str;
    /// Commits every prompt whose content changed.
    async fn commit(&self, prompts: &[LoadedPrompt], message: &str) -> Result<Vec<CommitOutcome>, RegistryError>;
    /// Every prompt with versions.
    async fn prompts(&self) -> Result<Vec<PromptSummary>, RegistryError>;
    /// The stored version a selector names.
    async fn resolve(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError>;
    /// Versions, labels and label moves.
    async fn log(&self, name: &PromptName) -> Result<PromptLog, RegistryError>;
    /// Where labels point.
    async fn labels(&self, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, RegistryError>;
    /// Points a label at a version.
    async fn set_label(
        &self,
        name: &PromptName,
        label: &Label,
        version: u32,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError>;
    /// Removes a label.
    async fn remove_label(&self, name: &PromptName, label: &Label, confirmed: bool)
    -> Result<LabelMove, RegistryError>;
    /// Moves a label back.
    async fn rollback(
        &self,
        name: &PromptName,
        label: &Label,
        to: Option<u32>,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError>;
}

#[async_trait]
impl RegistryService for Registry {
    fn actor(&self) -> &str {
        Registry::actor(self)
    }
    async fn commit(&self, prompts: &[LoadedPrompt], message: &str) -> Result<Vec<CommitOutcome>, RegistryError> {
        Registry::commit(self, prompts, message).await
    }
    async fn prompts(&self) -> Result<Vec<PromptSummary>, RegistryError> {
        Registry::prompts(self).await
    }
    async fn resolve(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError> {
        Registry::resolve(self, name, selector).await
    }
    async fn log(&self, name: &PromptName) -> Result<PromptLog, RegistryError> {
        Registry::log(self, name).await
    }
    async fn labels(&self, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, RegistryError> {
        Registry::labels(self, name).await
    }
    async fn set_label(
        &self,
        name: &PromptName,
        label: &Label,
        version: u32,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        Registry::set_label(self, name, label, version, confirmed).await
    }
    async fn remove_label(
        &self,
        name: &PromptName,
        label: &Label,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        Registry::remove_label(self, name, label, confirmed).await
    }
    async fn rollback(
        &self,
        name: &PromptName,
        label: &Label,
        to: Option<u32>,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        Registry::rollback(self, name, label, to, confirmed).await
    }
}

/// A registry service as the workflow module's [`VersionLookup`], so that `name@label` prompt
/// refs in workflows resolve through whichever registry (local or remote) the command has.
pub struct RegistryVersions(pub std::sync::Arc<dyn RegistryService>);

impl std::fmt::Debug for RegistryVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryVersions")
    }
}

#[async_trait]
impl VersionLookup for RegistryVersions {
    async fn resolve_version(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError> {
        self.0.resolve(name, selector).await
    }
}
