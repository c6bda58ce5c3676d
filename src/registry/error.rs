//! The registry's errors, each with hints that list what does exist.

use crate::error::{Diagnostic, ErrorClass, did_you_mean, list_names};
use crate::prompt::{Label, PromptName};
use crate::store::StoreError;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The registry is a remote server, and talking to it failed.
    #[error(transparent)]
    Service(#[from] crate::error::ServiceError),
    /// The prompt has no stored versions.
    #[error("prompt `{name}` has no committed versions")]
    UnknownPrompt {
        /// The prompt asked for.
        name: PromptName,
        /// Prompts that have versions.
        known: Vec<String>,
    },
    /// The version does not exist.
    #[error("prompt `{name}` has no version {number}")]
    UnknownVersion {
        /// The prompt.
        name: PromptName,
        /// The version asked for.
        number: u32,
        /// The versions that exist.
        available: Vec<u32>,
    },
    /// Neither a label nor a hash prefix of the prompt.
    #[error("prompt `{name}` has no label or version hash `{label}`")]
    UnknownLabel {
        /// The prompt.
        name: PromptName,
        /// What was asked for.
        label: String,
        /// The labels it has.
        labels: Vec<String>,
    },
    /// A hash prefix matches several versions.
    #[error("hash prefix `{prefix}` of prompt `{name}` matches versions {}", matches.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))]
    AmbiguousHash {
        /// The prompt.
        name: PromptName,
        /// The prefix.
        prefix: String,
        /// The versions it matches.
        matches: Vec<u32>,
    },
    /// `latest` cannot be moved by hand.
    #[error("the `latest` label is automatic and cannot be set or removed")]
    LatestIsAutomatic,
    /// A protected label needs confirmation.
    #[error("label `{label}` of `{name}` is protected")]
    Protected {
        /// The prompt.
        name: PromptName,
        /// The label.
        label: Label,
    },
    /// A pushed or pulled bundle holds something that may not be written; nothing of it was.
    #[error("invalid bundle: `{path}`: {message}")]
    BadBundle {
        /// Stable code (`invalid_prompt`, `hash_mismatch`, `unknown_version`, `invalid_bundle`, …).
        code: &'static str,
        /// The JSON path at fault (`versions[3].hash`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Rollback has nowhere to go.
    #[error("label `{label}` of `{name}` has no earlier version than {current}")]
    NoEarlierVersion {
        /// The prompt.
        name: PromptName,
        /// The label.
        label: Label,
        /// Where it points now.
        current: u32,
    },
}

impl Diagnostic for RegistryError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Store(err) => err.class(),
            Self::Service(err) => err.class(),
            _ => ErrorClass::Usage,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::Store(err) => err.hints(),
            Self::Service(err) => err.hints(),
            Self::UnknownPrompt { name, known } => {
                let mut hints: Vec<String> =
                    did_you_mean(name.as_str(), known.iter().map(String::as_str)).into_iter().collect();
                hints.push(format!("prompts with versions: {}", list_names(known)));
                hints.push(format!("commit it first with `promptops commit {name} -m MESSAGE`"));
                hints
            }
            Self::UnknownVersion { name, available, .. } => {
                let numbers: Vec<String> = available.iter().map(u32::to_string).collect();
                vec![format!("versions of `{name}`: {}", numbers.join(", "))]
            }
            Self::UnknownLabel { name, label, labels } => {
                let mut hints: Vec<String> =
                    did_you_mean(label, labels.iter().map(String::as_str)).into_iter().collect();
                hints.push(format!("labels of `{name}`: {} (and `latest`)", list_names(labels)));
                hints
            }
            Self::AmbiguousHash { .. } => vec!["use a longer hash prefix or the version number".to_owned()],
            Self::LatestIsAutomatic => {
                vec!["`latest` always points at the newest version; use another label name".to_owned()]
            }
            Self::Protected { .. } => {
                vec![
                    "pass `--yes` to confirm; protected labels are listed under `labels.protected` in promptops.yaml"
                        .to_owned(),
                ]
            }
            Self::NoEarlierVersion { .. } => vec!["pass `--to VERSION` to choose the version".to_owned()],
            Self::BadBundle { .. } => vec![
                "nothing was written; compare the sending side with `promptops prompt log NAME` and check its files with `promptops prompt validate`"
                    .to_owned(),
            ],
        }
    }
}
