//! Prompt versions and labels over a [`Store`]: commit, resolve refs, log, label moves with the
//! protected-label policy, and rollback. Also the pure comparisons of a working copy with the
//! store ([`status`]) and between two texts ([`diff`]). Does not render or run prompts.

pub mod diff;
mod error;
pub mod status;
pub mod sync;

use std::sync::Arc;

pub use error::RegistryError;
use serde::{Deserialize, Serialize};

use crate::access::Scope;
use crate::prompt::{Label, LoadedPrompt, PromptName, Selector};
use crate::store::{
    CommitOutcome, LabelMove, LabelRecord, MoveReason, PromptSummary, Store, VersionDraft, VersionMeta, VersionRecord,
};

/// Shortest hash prefix accepted in a ref, so that short words are not mistaken for hashes.
pub const MIN_HASH_PREFIX: usize = 4;

/// The registry of one project, acting for one user.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    scope: Scope,
    actor: String,
    protected: Vec<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("scope", &self.scope).field("actor", &self.actor).finish_non_exhaustive()
    }
}

/// Everything `log` shows about a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromptLog {
    /// The prompt.
    pub name: PromptName,
    /// Its versions, newest first.
    pub versions: Vec<VersionMeta>,
    /// Where its labels point now.
    pub labels: Vec<LabelRecord>,
    /// Every label move, newest first.
    pub moves: Vec<LabelMove>,
}

impl Registry {
    /// A registry over `store` in `scope`, recording `actor` as the author of changes, and
    /// requiring confirmation to move the `protected` labels.
    pub fn new(store: Arc<dyn Store>, scope: Scope, actor: String, protected: Vec<String>) -> Self {
        Self { store, scope, actor, protected }
    }

    /// The user changes are recorded for.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Commits every prompt whose content differs from its latest version.
    pub async fn commit(&self, prompts: &[LoadedPrompt], message: &str) -> Result<Vec<CommitOutcome>, RegistryError> {
        let drafts = prompts
            .iter()
            .map(|p| VersionDraft {
                name: p.name.clone(),
                hash: p.hash(),
                source: p.source.text().to_owned(),
                partials: p.partials.clone(),
                author: self.actor.clone(),
                message: message.to_owned(),
                created_at: None,
            })
            .collect();
        Ok(self.store.commit(&self.scope, drafts).await?)
    }

    /// Every prompt with stored versions.
    pub async fn prompts(&self) -> Result<Vec<PromptSummary>, RegistryError> {
        Ok(self.store.prompts(&self.scope).await?)
    }

    /// The stored version a selector names. The working copy is not the registry's business.
    pub async fn resolve(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError> {
        let number = match selector {
            Selector::WorkingCopy | Selector::Latest => None,
            Selector::Version(n) => Some(*n),
            Selector::Named(text) => Some(self.resolve_named(name, text).await?),
        };
        let record = match number {
            Some(n) => self.store.version(&self.scope, name, n).await?,
            None => self.store.latest(&self.scope, name).await?,
        };
        match record {
            Some(record) => Ok(record),
            None => Err(self.missing(name, number).await?),
        }
    }

    /// A label's version or, failing that, a hash prefix's.
    async fn resolve_named(&self, name: &PromptName, text: &str) -> Result<u32, RegistryError> {
        let labels = self.store.labels(&self.scope, Some(name)).await?;
        if let Some(record) = labels.iter().find(|l| l.label.as_str() == text) {
            return Ok(record.version);
        }
        let is_hash = text.len() >= MIN_HASH_PREFIX && text.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hash {
            let found = self.store.find_hash_prefix(&self.scope, name, text).await?;
            match found.as_slice() {
                [one] => return Ok(one.number),
                [] => {}
                many => {
                    return Err(RegistryError::AmbiguousHash {
                        name: name.clone(),
                        prefix: text.to_owned(),
                        matches: many.iter().map(|m| m.number).collect(),
                    });
                }
            }
        }
        if self.store.latest(&self.scope, name).await?.is_none() {
            return Err(self.unknown_prompt(name).await?);
        }
        Err(RegistryError::UnknownLabel {
            name: name.clone(),
            label: text.to_owned(),
            labels: labels.iter().map(|l| l.label.to_string()).collect(),
        })
    }

    async fn missing(&self, name: &PromptName, number: Option<u32>) -> Result<RegistryError, RegistryError> {
        let versions = self.store.versions(&self.scope, name).await?;
        if versions.is_empty() {
            return self.unknown_prompt(name).await;
        }
        Ok(RegistryError::UnknownVersion {
            name: name.clone(),
            number: number.unwrap_or_default(),
            available: versions.iter().map(|v| v.number).collect(),
        })
    }

    async fn unknown_prompt(&self, name: &PromptName) -> Result<RegistryError, RegistryError> {
        let known = self.store.prompts(&self.scope).await?.into_iter().map(|p| p.latest.name.to_string()).collect();
        Ok(RegistryError::UnknownPrompt { name: name.clone(), known })
    }

    /// Versions, labels and label moves of a prompt, newest first.
    pub async fn log(&self, name: &PromptName) -> Result<PromptLog, RegistryError> {
        let mut versions = self.store.versions(&self.scope, name).await?;
        if versions.is_empty() {
            return Err(self.unknown_prompt(name).await?);
        }
        versions.reverse();
        let labels = self.store.labels(&self.scope, Some(name)).await?;
        let mut moves = self.store.label_history(&self.scope, name).await?;
        moves.reverse();
        Ok(PromptLog { name: name.clone(), versions, labels, moves })
    }

    /// Where labels point, for one prompt or all.
    pub async fn labels(&self, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, RegistryError> {
        Ok(self.store.labels(&self.scope, name).await?)
    }

    /// Points `label` at `version`. `confirmed` must be true for a protected label.
    pub async fn set_label(
        &self,
        name: &PromptName,
        label: &Label,
        version: u32,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        self.check_movable(name, label, confirmed)?;
        if self.store.version(&self.scope, name, version).await?.is_none() {
            return Err(self.missing(name, Some(version)).await?);
        }
        Ok(self.store.move_label(&self.scope, name, label, Some(version), MoveReason::Set, &self.actor).await?)
    }

    /// Removes `label` from the prompt.
    pub async fn remove_label(
        &self,
        name: &PromptName,
        label: &Label,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        self.check_movable(name, label, confirmed)?;
        let labels = self.store.labels(&self.scope, Some(name)).await?;
        if !labels.iter().any(|l| &l.label == label) {
            return Err(RegistryError::UnknownLabel {
                name: name.clone(),
                label: label.to_string(),
                labels: labels.iter().map(|l| l.label.to_string()).collect(),
            });
        }
        Ok(self.store.move_label(&self.scope, name, label, None, MoveReason::Remove, &self.actor).await?)
    }

    /// Moves `label` back to the version it held before its current one (when it held none, the
    /// version before its current one), or to `to`.
    pub async fn rollback(
        &self,
        name: &PromptName,
        label: &Label,
        to: Option<u32>,
        confirmed: bool,
    ) -> Result<LabelMove, RegistryError> {
        self.check_movable(name, label, confirmed)?;
        let history = self.store.label_history(&self.scope, name).await?;
        let held = versions_held(&history, label);
        let Some(&current) = held.last() else {
            let labels = self.store.labels(&self.scope, Some(name)).await?;
            return Err(RegistryError::UnknownLabel {
                name: name.clone(),
                label: label.to_string(),
                labels: labels.iter().map(|l| l.label.to_string()).collect(),
            });
        };
        let target = match (to, held.iter().rev().nth(1)) {
            (Some(n), _) => n,
            (None, Some(&before)) => before,
            // The label held nothing before (its first move was none → @current): roll back to
            // the version committed before the current one, as a reader of `log` expects.
            (None, None) => self
                .version_before(name, current)
                .await?
                .ok_or_else(|| RegistryError::NoEarlierVersion { name: name.clone(), label: label.clone(), current })?,
        };
        if self.store.version(&self.scope, name, target).await?.is_none() {
            return Err(self.missing(name, Some(target)).await?);
        }
        Ok(self.store.move_label(&self.scope, name, label, Some(target), MoveReason::Rollback, &self.actor).await?)
    }

    /// The newest stored version numbered below `current`.
    async fn version_before(&self, name: &PromptName, current: u32) -> Result<Option<u32>, RegistryError> {
        let versions = self.store.versions(&self.scope, name).await?;
        Ok(versions.iter().map(|v| v.number).filter(|&n| n < current).max())
    }

    fn check_movable(&self, name: &PromptName, label: &Label, confirmed: bool) -> Result<(), RegistryError> {
        if label.is_latest() {
            return Err(RegistryError::LatestIsAutomatic);
        }
        if !confirmed && self.protected.iter().any(|p| p == label.as_str()) {
            return Err(RegistryError::Protected { name: name.clone(), label: label.clone() });
        }
        Ok(())
    }
}

/// The stack of versions a label has pointed at: a `set` pushes, a `rollback` pops back to its
/// target (or pushes it if it was never held), a removal clears. So repeated rollbacks walk
/// further back instead of flip-flopping between two versions.
pub fn versions_held(history: &[LabelMove], label: &Label) -> Vec<u32> {
    let mut stack: Vec<u32> = Vec::new();
    for change in history.iter().filter(|m| &m.label == label) {
        match (change.reason, change.to) {
            (MoveReason::Remove, _) | (_, None) => stack.clear(),
            (MoveReason::Set, Some(to)) => stack.push(to),
            (MoveReason::Rollback, Some(to)) => match stack.iter().rposition(|&v| v == to) {
                Some(position) => stack.truncate(position + 1),
                None => stack.push(to),
            },
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn step(reason: MoveReason, to: Option<u32>) -> LabelMove {
        LabelMove {
            name: PromptName::new("a").expect("valid"),
            label: Label::new("production").expect("valid"),
            from: None,
            to,
            reason,
            actor: "ada".into(),
            at: Utc::now(),
        }
    }

    #[test]
    fn rollbacks_walk_back_through_history() {
        let label = Label::new("production").expect("valid");
        let mut history =
            vec![step(MoveReason::Set, Some(1)), step(MoveReason::Set, Some(3)), step(MoveReason::Set, Some(4))];
        assert_eq!(versions_held(&history, &label), vec![1, 3, 4]);
        history.push(step(MoveReason::Rollback, Some(3)));
        assert_eq!(versions_held(&history, &label), vec![1, 3]);
        history.push(step(MoveReason::Rollback, Some(1)));
        assert_eq!(versions_held(&history, &label), vec![1]);
    }

    #[test]
    fn removal_forgets_the_stack() {
        let label = Label::new("production").expect("valid");
        let history =
            vec![step(MoveReason::Set, Some(1)), step(MoveReason::Remove, None), step(MoveReason::Set, Some(2))];
        assert_eq!(versions_held(&history, &label), vec![2]);
    }
}
