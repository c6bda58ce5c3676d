//! The rows the store keeps for the registry, as plain data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Micros;
use crate::prompt::{Label, PartialSet, PromptName};

/// A version about to be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionDraft {
    /// The prompt.
    pub name: PromptName,
    /// Content hash of the canonical form.
    pub hash: String,
    /// The file's text.
    pub source: String,
    /// The partials it includes.
    pub partials: PartialSet,
    /// Who commits.
    pub author: String,
    /// Why.
    pub message: String,
    /// When the version was first made, for copies from another store (`pull`, `push`); `None`
    /// stamps it with the commit's time.
    pub created_at: Option<DateTime<Utc>>,
}

/// A stored version without its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionMeta {
    /// The prompt.
    pub name: PromptName,
    /// 1, 2, 3, … per prompt.
    pub number: u32,
    /// Content hash (hex SHA-256).
    pub hash: String,
    /// Who committed it.
    pub author: String,
    /// The commit message.
    pub message: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A stored version with its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionRecord {
    /// Number, hash, author, date, message.
    #[serde(flatten)]
    pub meta: VersionMeta,
    /// The prompt file's text.
    pub source: String,
    /// The partials it included, by include name.
    pub partials: PartialSet,
}

/// What a commit did for one prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "outcome", content = "version", rename_all = "lowercase")]
pub enum CommitOutcome {
    /// A new version was stored.
    Created(VersionMeta),
    /// The content equals the latest version; nothing was stored.
    Unchanged(VersionMeta),
}

/// Where a label points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LabelRecord {
    /// The prompt.
    pub name: PromptName,
    /// The label.
    pub label: Label,
    /// The version it points at.
    pub version: u32,
    /// Who moved it last.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// Why a label moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MoveReason {
    /// `label set`.
    Set,
    /// `rollback`.
    Rollback,
    /// `label rm`.
    Remove,
}

impl MoveReason {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Set => "set",
            Self::Rollback => "rollback",
            Self::Remove => "remove",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Set, Self::Rollback, Self::Remove].into_iter().find(|r| r.as_str() == text)
    }
}

/// One recorded label move: who moved which label from where to where, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LabelMove {
    /// The prompt.
    pub name: PromptName,
    /// The label.
    pub label: Label,
    /// The version it pointed at before (none if it was new).
    pub from: Option<u32>,
    /// The version it points at after (none if removed).
    pub to: Option<u32>,
    /// Why.
    pub reason: MoveReason,
    /// Who.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A prompt as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromptSummary {
    /// The newest version.
    pub latest: VersionMeta,
    /// How many versions exist.
    pub version_count: u32,
}

/// One model call in the usage ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// When the call finished.
    pub at: DateTime<Utc>,
    /// The provider id.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// The prompt, when the request came from one.
    pub prompt: Option<String>,
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Input tokens served from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// What the call cost.
    pub cost: Micros,
    /// Whether promptops' response cache answered (no call was made).
    pub cache_hit: bool,
}

/// How `promptops cost` groups spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UsageGroup {
    /// By UTC day (`2026-11-25`).
    Day,
    /// By provider id.
    Provider,
    /// By model.
    Model,
}

/// Totals of one group of usage rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsageRow {
    /// The day, provider id or model.
    pub key: String,
    /// Calls, cache hits included.
    pub requests: u64,
    /// Calls answered from the response cache.
    pub cache_hits: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Cached prompt tokens.
    pub cached_input_tokens: u64,
    /// Total cost.
    pub cost: Micros,
}

/// The columns of a [`VersionMeta`], in the order both backends decode them.
pub(crate) const META_COLUMNS: &str = "name, number, hash, author, message, created_at";
