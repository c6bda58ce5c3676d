//! Comparing a working copy with the store: which prompts are new, modified, unchanged or
//! deleted, and where their labels point. Pure functions over data the caller fetched.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::prompt::PromptName;
use crate::store::{LabelRecord, PromptSummary};

/// How a prompt's file relates to its latest version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// A file with no committed version.
    New,
    /// A file whose content differs from its latest version.
    Modified,
    /// A file equal to its latest version.
    Unchanged,
    /// Committed versions but no file.
    Deleted,
    /// A file that does not parse.
    Invalid,
}

impl FileState {
    /// The word shown in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Modified => "modified",
            Self::Unchanged => "unchanged",
            Self::Deleted => "deleted",
            Self::Invalid => "invalid",
        }
    }
}

/// One prompt's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// The prompt.
    pub name: PromptName,
    /// Its state.
    pub state: FileState,
    /// The latest version number, if any.
    pub latest: Option<u32>,
    /// Labels and the versions they point at.
    pub labels: BTreeMap<String, u32>,
}

/// Compares working-copy hashes (`None` for a file that does not parse) with the store's latest
/// versions and labels.
pub fn status(
    working: &BTreeMap<PromptName, Option<String>>,
    stored: &[PromptSummary],
    labels: &[LabelRecord],
) -> Vec<StatusEntry> {
    let latest: BTreeMap<&PromptName, (&str, u32)> =
        stored.iter().map(|s| (&s.latest.name, (s.latest.hash.as_str(), s.latest.number))).collect();
    let names: BTreeSet<&PromptName> = working.keys().chain(latest.keys().copied()).collect();
    names
        .into_iter()
        .map(|name| {
            let state = match (working.get(name), latest.get(name)) {
                (Some(None), _) => FileState::Invalid,
                (Some(_), None) => FileState::New,
                (Some(Some(hash)), Some((stored, _))) if hash == stored => FileState::Unchanged,
                (Some(_), Some(_)) => FileState::Modified,
                (None, _) => FileState::Deleted,
            };
            StatusEntry {
                name: name.clone(),
                state,
                latest: latest.get(name).map(|(_, n)| *n),
                labels: labels.iter().filter(|l| &l.name == name).map(|l| (l.label.to_string(), l.version)).collect(),
            }
        })
        .collect()
}
