//! What a bundle must satisfy before anything of it is written, so that a push (or pull) is
//! applied whole or refused whole with the JSON path at fault: every version to create is a
//! valid prompt ([`crate::prompt::check_sent`], the normal commit's check) whose hash is its
//! content's, not the sender's claim; each prompt's new versions continue its numbering here
//! without a gap or repeat; each label to set names a version that exists here or is created,
//! and is not `latest`. The plan ([`super::plan`]) decides what is created; this checks it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{Outcome, SyncBundle, SyncReport};
use crate::prompt::{Label, PromptName, check_sent};
use crate::registry::RegistryError;
use crate::store::VersionMeta;

fn bad(code: &'static str, path: String, message: String) -> RegistryError {
    RegistryError::BadBundle { code, path, message }
}

/// Checks `bundle` against the `target` side's versions (of the bundle's prompts), given the
/// plan `report`.
pub(super) fn check(bundle: &SyncBundle, report: &SyncReport, target: &[VersionMeta]) -> Result<(), RegistryError> {
    let created = report.created_versions();
    check_versions(bundle, &created)?;
    check_numbering(bundle, &created, target)?;
    check_labels(bundle, report, &created, target)
}

/// No version twice; every created version valid, with the hash of its content.
fn check_versions(bundle: &SyncBundle, created: &BTreeSet<(&PromptName, u32)>) -> Result<(), RegistryError> {
    let mut seen = HashSet::new();
    for (index, record) in bundle.versions.iter().enumerate() {
        let (name, number) = (&record.meta.name, record.meta.number);
        if !seen.insert((name, number)) {
            let message = format!("version {number} of `{name}` appears twice");
            return Err(bad("invalid_bundle", format!("versions[{index}].number"), message));
        }
        if !created.contains(&(name, number)) {
            continue;
        }
        let prompt = check_sent(name.clone(), record.source.clone(), record.partials.clone()).map_err(|err| {
            bad("invalid_prompt", format!("versions[{index}].source"), format!("version {number} of `{name}`: {err}"))
        })?;
        let hash = prompt.hash();
        if hash != record.meta.hash {
            let message = format!(
                "version {number} of `{name}` claims hash `{}`, but its content hashes to `{hash}`",
                record.meta.hash.escape_debug()
            );
            return Err(bad("hash_mismatch", format!("versions[{index}].hash"), message));
        }
    }
    Ok(())
}

/// Each prompt's created versions are the numbers right after its latest one here, in order:
/// the store numbers versions itself, so a gap would shift every later number.
fn check_numbering(
    bundle: &SyncBundle,
    created: &BTreeSet<(&PromptName, u32)>,
    target: &[VersionMeta],
) -> Result<(), RegistryError> {
    let mut latest: BTreeMap<&PromptName, u32> = BTreeMap::new();
    for meta in target {
        let entry = latest.entry(&meta.name).or_default();
        *entry = (*entry).max(meta.number);
    }
    for &(name, number) in created {
        let expected = latest.get(name).copied().unwrap_or_default() + 1;
        if number != expected {
            let index = bundle.versions.iter().position(|v| &v.meta.name == name && v.meta.number == number);
            let message = format!(
                "version {number} of `{name}` would follow version {} here; send the versions in between too",
                expected - 1
            );
            return Err(bad("invalid_bundle", format!("versions[{}].number", index.unwrap_or_default()), message));
        }
        latest.insert(name, number);
    }
    Ok(())
}

/// No label twice; every label to set is movable and names a version that will exist.
fn check_labels(
    bundle: &SyncBundle,
    report: &SyncReport,
    created: &BTreeSet<(&PromptName, u32)>,
    target: &[VersionMeta],
) -> Result<(), RegistryError> {
    let existing: BTreeSet<(&PromptName, u32)> = target.iter().map(|m| (&m.name, m.number)).collect();
    let to_set: BTreeSet<(&PromptName, &Label)> = report
        .items
        .iter()
        .filter(|i| matches!(i.outcome, Outcome::Created | Outcome::Replaced))
        .filter_map(|i| Some((&i.name, i.label.as_ref()?)))
        .collect();
    let mut seen = HashSet::new();
    for (index, label) in bundle.labels.iter().enumerate() {
        let (name, text, version) = (&label.name, &label.label, label.version);
        if !seen.insert((name, text)) {
            let message = format!("label `{text}` of `{name}` appears twice");
            return Err(bad("invalid_bundle", format!("labels[{index}].label"), message));
        }
        if !to_set.contains(&(name, text)) {
            continue;
        }
        if text.is_latest() {
            let message = "the `latest` label is automatic and cannot be set".to_owned();
            return Err(bad("latest_is_automatic", format!("labels[{index}].label"), message));
        }
        if !existing.contains(&(name, version)) && !created.contains(&(name, version)) {
            let message =
                format!("label `{text}` of `{name}` points at version {version}, which is neither here nor sent");
            return Err(bad("unknown_version", format!("labels[{index}].version"), message));
        }
    }
    Ok(())
}
