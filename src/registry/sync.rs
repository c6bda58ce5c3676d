//! Copying prompt histories between two registries (`promptops push` and `pull`). Owns the rules:
//! versions are matched by number and content hash, new versions are appended in number order
//! so that numbers stay aligned on both sides, and labels are set only where the other side has
//! none. A version with the same number but another hash, or a label that points elsewhere, is a
//! conflict: the prompt is reported and nothing of it is written, unless the user chose that the
//! source's labels win (`push --force-label`, `pull --theirs`). Versions are immutable, so a
//! version conflict has no such switch. [`plan`] is a pure function; [`apply`] carries a plan
//! out on a store. Moving bytes over HTTP is the remote client's job.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::RegistryError;
use crate::access::Scope;
use crate::prompt::{Label, PromptName};
use crate::store::{
    CommitOutcome, LabelRecord, MoveReason, Store, StoreError, VersionDraft, VersionMeta, VersionRecord,
};

/// A registry's content as sent to the other side: versions with content, and labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBundle {
    /// Versions, of any prompts, in any order.
    pub versions: Vec<VersionRecord>,
    /// Where labels point.
    #[serde(default)]
    pub labels: Vec<LabelRecord>,
    /// Plan only: report what would happen and write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// A label that points elsewhere on the receiving side is moved to the source's version
    /// instead of being a conflict (`push --force-label`, `pull --theirs`).
    #[serde(default)]
    pub overwrite_labels: bool,
}

/// Which way a bundle travels, so that a conflict says which version is local and which is
/// the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the local store to a server.
    Push,
    /// From a server to the local store.
    Pull,
}

impl Direction {
    /// The words for the source's and the target's side.
    fn sides(self) -> (&'static str, &'static str) {
        match self {
            Self::Push => ("locally", "on the server"),
            Self::Pull => ("on the server", "locally"),
        }
    }
}

/// How a plan treats what differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Which way the bundle travels.
    pub direction: Direction,
    /// The source's labels replace the target's where they differ.
    pub overwrite_labels: bool,
}

/// What happens (or would happen) to one version or label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Written (or to be written, in a dry run).
    Created,
    /// Already there, identical.
    Exists,
    /// A label moved from the version it pointed at to the source's (or to be moved).
    Replaced,
    /// The other side holds something else; nothing of this prompt is written.
    Conflict,
}

/// One line of a sync report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyncItem {
    /// The prompt.
    pub name: PromptName,
    /// The version number, for a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The label, for a label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// What happens.
    pub outcome: Outcome,
    /// Why, for a conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The report of a push or pull: one item per version and label of the source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyncReport {
    /// The items, by prompt, versions before labels.
    pub items: Vec<SyncItem>,
}

impl SyncReport {
    /// How many items have `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }

    /// The versions to create, by prompt and number.
    pub fn created_versions(&self) -> BTreeSet<(&PromptName, u32)> {
        self.items
            .iter()
            .filter(|i| i.outcome == Outcome::Created && i.label.is_none())
            .filter_map(|i| Some((&i.name, i.version?)))
            .collect()
    }

    /// The prompts with at least one conflict.
    pub fn conflicted(&self) -> BTreeSet<&PromptName> {
        self.items.iter().filter(|i| i.outcome == Outcome::Conflict).map(|i| &i.name).collect()
    }
}

/// Compares `source` with the `target` side and says what to write. Pure: no store involved.
/// `target_versions` and `target_labels` may hold other prompts; they are left alone.
pub fn plan(
    source_versions: &[VersionMeta],
    source_labels: &[LabelRecord],
    target_versions: &[VersionMeta],
    target_labels: &[LabelRecord],
    rules: Rules,
) -> SyncReport {
    let (here, there) = rules.direction.sides();
    let target: BTreeMap<(&PromptName, u32), &str> =
        target_versions.iter().map(|v| ((&v.name, v.number), v.hash.as_str())).collect();
    let target_label: BTreeMap<(&PromptName, &Label), u32> =
        target_labels.iter().map(|l| ((&l.name, &l.label), l.version)).collect();
    let mut by_prompt: BTreeMap<&PromptName, Vec<SyncItem>> = BTreeMap::new();
    let mut sorted: Vec<&VersionMeta> = source_versions.iter().collect();
    sorted.sort_by(|a, b| (&a.name, a.number).cmp(&(&b.name, b.number)));
    for version in sorted {
        let item = match target.get(&(&version.name, version.number)) {
            None => item(&version.name, Some(version.number), None, Outcome::Created, None),
            Some(hash) if *hash == version.hash => {
                item(&version.name, Some(version.number), None, Outcome::Exists, None)
            }
            Some(hash) => {
                let detail = format!(
                    "version {} differs: {} {here}, {} {there}",
                    version.number,
                    short(&version.hash),
                    short(hash)
                );
                item(&version.name, Some(version.number), None, Outcome::Conflict, Some(detail))
            }
        };
        by_prompt.entry(&version.name).or_default().push(item);
    }
    for label in source_labels {
        let item = match target_label.get(&(&label.name, &label.label)) {
            None => item(&label.name, Some(label.version), Some(&label.label), Outcome::Created, None),
            Some(&there) if there == label.version => {
                item(&label.name, Some(label.version), Some(&label.label), Outcome::Exists, None)
            }
            Some(&elsewhere) if rules.overwrite_labels => {
                let detail = format!("moved from {elsewhere} {there}");
                item(&label.name, Some(label.version), Some(&label.label), Outcome::Replaced, Some(detail))
            }
            Some(&elsewhere) => {
                let detail = format!("label `{}` points at {} {here}, {elsewhere} {there}", label.label, label.version);
                item(&label.name, Some(label.version), Some(&label.label), Outcome::Conflict, Some(detail))
            }
        };
        by_prompt.entry(&label.name).or_default().push(item);
    }
    SyncReport { items: by_prompt.into_values().flat_map(hold_conflicted).collect() }
}

fn item(
    name: &PromptName,
    version: Option<u32>,
    label: Option<&Label>,
    outcome: Outcome,
    detail: Option<String>,
) -> SyncItem {
    SyncItem { name: name.clone(), version, label: label.cloned(), outcome, detail }
}

fn short(hash: &str) -> &str {
    hash.get(..8).unwrap_or(hash)
}

/// A prompt with a conflict is written not at all: its `created` items become conflicts too, so
/// that the report says nothing of it was written.
fn hold_conflicted(mut items: Vec<SyncItem>) -> Vec<SyncItem> {
    if items.iter().any(|i| i.outcome == Outcome::Conflict) {
        for held in items.iter_mut().filter(|i| matches!(i.outcome, Outcome::Created | Outcome::Replaced)) {
            held.outcome = Outcome::Conflict;
            held.detail = Some("held back: another item of this prompt conflicts".to_owned());
        }
    }
    items
}

/// Every version (with content) and label of `store`, or of the prompts in `only`.
pub async fn export(store: &dyn Store, scope: &Scope, only: &[PromptName]) -> Result<SyncBundle, RegistryError> {
    let mut bundle = SyncBundle::default();
    for summary in store.prompts(scope).await? {
        let name = summary.latest.name;
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        for number in 1..=summary.version_count {
            let record = store.version(scope, &name, number).await?;
            bundle.versions.extend(record);
        }
    }
    let labels = store.labels(scope, None).await?;
    bundle.labels = labels.into_iter().filter(|l| only.is_empty() || only.contains(&l.name)).collect();
    Ok(bundle)
}

/// Plans `bundle` against `store`, checks everything it would write ([`check`]: nothing is
/// written unless all of it may be) and, unless it is a dry run, writes the created items: versions
/// through the store's gapless commit in number order (so the numbers match the source's), then
/// labels (created or replaced), recorded as moved by `actor`. A push (the bundle is a client's
/// say-so) records its new versions as committed by `actor`, now; a pull keeps the author and
/// date the remote recorded.
pub async fn apply(
    store: &dyn Store,
    scope: &Scope,
    bundle: SyncBundle,
    actor: &str,
    direction: Direction,
) -> Result<SyncReport, RegistryError> {
    let names: BTreeSet<PromptName> = bundle
        .versions
        .iter()
        .map(|v| v.meta.name.clone())
        .chain(bundle.labels.iter().map(|l| l.name.clone()))
        .collect();
    let mut target_versions = Vec::new();
    for name in &names {
        target_versions.extend(store.versions(scope, name).await?);
    }
    let target_labels = store.labels(scope, None).await?;
    let metas: Vec<VersionMeta> = bundle.versions.iter().map(|v| v.meta.clone()).collect();
    let rules = Rules { direction, overwrite_labels: bundle.overwrite_labels };
    let report = plan(&metas, &bundle.labels, &target_versions, &target_labels, rules);
    check::check(&bundle, &report, &target_versions)?;
    if bundle.dry_run {
        return Ok(report);
    }
    let pusher = match direction {
        Direction::Push => Some(actor),
        Direction::Pull => None,
    };
    write_versions(store, scope, &report, bundle.versions, pusher).await?;
    for label in report.items.iter().filter(|i| matches!(i.outcome, Outcome::Created | Outcome::Replaced)) {
        if let (Some(name), Some(version)) = (label.label.as_ref(), label.version) {
            store.move_label(scope, &label.name, name, Some(version), MoveReason::Set, actor).await?;
        }
    }
    Ok(report)
}

/// Writes the created versions; with `pusher`, as committed by it now, else as the source says.
async fn write_versions(
    store: &dyn Store,
    scope: &Scope,
    report: &SyncReport,
    versions: Vec<VersionRecord>,
    pusher: Option<&str>,
) -> Result<(), RegistryError> {
    let wanted = report.created_versions();
    let mut queues: BTreeMap<&PromptName, Vec<&VersionRecord>> = BTreeMap::new();
    for record in versions.iter().filter(|v| wanted.contains(&(&v.meta.name, v.meta.number))) {
        queues.entry(&record.meta.name).or_default().push(record);
    }
    queues.values_mut().for_each(|queue| queue.sort_by_key(|v| std::cmp::Reverse(v.meta.number)));
    // One transaction per round: each round appends the next version of every prompt, so a
    // thousand prompts with one version each is one commit, not a thousand.
    loop {
        let round: Vec<&VersionRecord> = queues.values_mut().filter_map(Vec::pop).collect();
        if round.is_empty() {
            return Ok(());
        }
        let outcomes = store.commit(scope, round.iter().map(|r| to_draft(r, pusher)).collect()).await?;
        for record in round {
            check_number(record, &outcomes)?;
        }
    }
}

fn to_draft(record: &VersionRecord, pusher: Option<&str>) -> VersionDraft {
    VersionDraft {
        name: record.meta.name.clone(),
        hash: record.meta.hash.clone(),
        source: record.source.clone(),
        partials: record.partials.clone(),
        author: pusher.map_or_else(|| record.meta.author.clone(), str::to_owned),
        message: record.meta.message.clone(),
        created_at: pusher.is_none().then_some(record.meta.created_at),
    }
}

/// The store numbers versions itself; a gap in the source (or a concurrent writer) would shift
/// the numbers, which must not pass silently.
fn check_number(record: &VersionRecord, outcomes: &[CommitOutcome]) -> Result<(), RegistryError> {
    let stored = outcomes.iter().find_map(|o| match o {
        CommitOutcome::Created(meta) | CommitOutcome::Unchanged(meta) => {
            (meta.name == record.meta.name).then_some(meta.number)
        }
    });
    if stored == Some(record.meta.number) {
        return Ok(());
    }
    Err(RegistryError::Store(StoreError::Diverged(format!(
        "version {} of `{}` was stored as {}; the histories are not aligned",
        record.meta.number,
        record.meta.name,
        stored.map_or_else(|| "nothing".to_owned(), |n| n.to_string())
    ))))
}

mod check;
#[cfg(test)]
mod tests;
