//! Glue between the working copy on disk and the registry service: loading prompts with all
//! their errors reported at once, and turning refs into loaded prompts or diff sides.

use std::collections::BTreeMap;
use std::path::PathBuf;

use promptops::config::Project;
use promptops::error::{Diagnostic, ErrorClass};
use promptops::prompt::{self, LoadedPrompt, PromptError, PromptName, PromptRef, Selector, Warning};
use promptops::registry::diff::DiffSide;
use promptops::service::{RegistryReferences, RegistryService};
use promptops::store::VersionRecord;

use crate::context::Context;
use crate::diagnose::{DiagnoseExt, Diagnosed};

/// Parses a ref typed on the command line.
pub fn parse_ref(text: &str) -> anyhow::Result<PromptRef> {
    text.parse::<PromptRef>().diag()
}

/// Parses a prompt name typed on the command line.
pub fn parse_name(text: &str) -> anyhow::Result<PromptName> {
    PromptName::new(text).diag()
}

/// Prints every error (with its hints) and returns one summary error of class Config.
pub fn report_all<E: Diagnostic>(ctx: &Context, errors: &[E], summary: String) -> anyhow::Error {
    for err in errors {
        ctx.printer.error_line("error", &err.to_string());
        for hint in err.hints() {
            ctx.printer.error_line("hint", &hint);
        }
    }
    Diagnosed::message(ErrorClass::Config, summary, Vec::new()).into()
}

/// Loads the prompts named (or all), validates them and prints warnings. Any error in any of
/// them is reported, all at once, and nothing is returned.
pub fn load_valid(ctx: &Context, project: &Project, names: &[PromptName]) -> anyhow::Result<Vec<LoadedPrompt>> {
    let checked = check_prompts(project, names)?;
    for warning in &checked.warnings {
        ctx.printer.warn(&warning.to_string());
    }
    if !checked.errors.is_empty() {
        let count = checked.errors.len();
        let summary = format!("{count} problem(s) found in prompt files; nothing was changed");
        return Err(report_all(ctx, &checked.errors, summary));
    }
    Ok(checked.loaded)
}

/// The prompts named (or all) that load and validate, every problem found in any of them, and
/// the warnings.
#[derive(Debug)]
pub struct Checked {
    /// The prompts without problems.
    pub loaded: Vec<LoadedPrompt>,
    /// Every problem, of every file.
    pub errors: Vec<PromptError>,
    /// What was noticed but is allowed.
    pub warnings: Vec<Warning>,
}

/// Loads and validates the prompts named (or all), keeping every problem.
pub fn check_prompts(project: &Project, names: &[PromptName]) -> anyhow::Result<Checked> {
    let (mut loaded, mut errors) = prompt::load_all(&project.prompts_dir()).diag()?;
    if !names.is_empty() {
        let on_disk = prompt::prompt_names_on_disk(&project.prompts_dir()).diag()?;
        if let Some(missing) = names.iter().find(|n| !on_disk.contains_key(*n)) {
            let known = on_disk.keys().map(ToString::to_string).collect();
            return Err(PromptError::NotFound { name: missing.to_string(), known }).diag();
        }
        loaded.retain(|p| names.contains(&p.name));
        let wanted: Vec<PathBuf> = names.iter().filter_map(|n| on_disk.get(n).cloned()).collect();
        errors.retain(|e| error_path(e).is_none_or(|p| wanted.contains(&p)));
    }
    let mut warnings = Vec::new();
    let mut valid = Vec::with_capacity(loaded.len());
    for prompt in loaded {
        let (found, noticed) = prompt::validate(&prompt);
        warnings.extend(noticed);
        if found.is_empty() {
            valid.push(prompt);
        }
        errors.extend(found);
    }
    Ok(Checked { loaded: valid, errors, warnings })
}

fn error_path(err: &PromptError) -> Option<PathBuf> {
    match err {
        PromptError::Read { path, .. } | PromptError::Invalid { path, .. } => Some(path.clone()),
        PromptError::Yaml(yaml) => Some(yaml.path.clone()),
        PromptError::NotFound { .. } | PromptError::Duplicate { .. } => None,
    }
}

/// Content hash of every prompt file by name (`None` when the file does not load).
pub type WorkingHashes = BTreeMap<PromptName, Option<String>>;

/// The working copy: every prompt that loads, and the hash of every file.
pub fn working_copy(project: &Project) -> anyhow::Result<(Vec<LoadedPrompt>, WorkingHashes)> {
    let (loaded, errors) = prompt::load_all(&project.prompts_dir()).diag()?;
    let mut hashes: BTreeMap<PromptName, Option<String>> =
        loaded.iter().map(|p| (p.name.clone(), Some(p.hash()))).collect();
    if !errors.is_empty() {
        for name in prompt::prompt_names_on_disk(&project.prompts_dir()).diag()?.into_keys() {
            hashes.entry(name).or_insert(None);
        }
    }
    Ok((loaded, hashes))
}

/// Working-copy hashes by name (`None` when the file does not load).
pub fn working_hashes(project: &Project) -> anyhow::Result<WorkingHashes> {
    Ok(working_copy(project)?.1)
}

/// A stored version as a loaded prompt (its origin reads `name@N`).
pub fn from_record(record: &VersionRecord) -> anyhow::Result<LoadedPrompt> {
    let origin = PathBuf::from(format!("{}@{}", record.meta.name, record.meta.number));
    LoadedPrompt::parse(record.meta.name.clone(), origin, record.source.clone(), record.partials.clone()).diag()
}

/// The prompt a ref selects (the working copy from disk, or a stored version), composed.
pub async fn load_ref(
    project: &Project,
    registry: &dyn RegistryService,
    r: &PromptRef,
) -> anyhow::Result<LoadedPrompt> {
    let loaded = match r.selector {
        Selector::WorkingCopy => prompt::load_prompt(&project.prompts_dir(), &r.name).diag()?,
        _ => from_record(&registry.resolve(&r.name, &r.selector).await.diag()?)?,
    };
    // Composition references resolve against the registry, as the server serves them.
    prompt::compose_prompt(loaded, &RegistryReferences(registry)).await.diag()
}

/// One side of a diff. A missing working copy or a prompt without versions is an empty side.
pub async fn diff_side(project: &Project, registry: &dyn RegistryService, r: &PromptRef) -> anyhow::Result<DiffSide> {
    if r.selector == Selector::WorkingCopy {
        return match prompt::load_prompt(&project.prompts_dir(), &r.name) {
            Ok(p) => Ok(DiffSide {
                label: format!("{} (working copy)", r.name),
                source: p.source.into(),
                partials: p.partials,
            }),
            Err(PromptError::NotFound { .. }) => Ok(DiffSide {
                label: format!("{} (deleted)", r.name),
                source: String::new(),
                partials: Default::default(),
            }),
            Err(err) => Err(err).diag(),
        };
    }
    let record = registry.resolve(&r.name, &r.selector).await.diag()?;
    Ok(DiffSide {
        label: format!("{}@{}", record.meta.name, record.meta.number),
        source: record.source,
        partials: record.partials,
    })
}

/// The first 8 characters of a hash, as shown in listings.
pub fn short_hash(hash: &str) -> &str {
    &hash[..hash.len().min(8)]
}

/// A timestamp as shown in listings (UTC, to the second).
pub fn when(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}
