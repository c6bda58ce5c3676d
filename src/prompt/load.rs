//! Loading prompt files and partials from a project, checking them (templates compile, every
//! variable used is declared, partials exist), and their canonical form and content hash.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::file::{Content, Part, PromptFile};
use super::name::PromptName;
use super::params::ModelParams;
use crate::error::{Diagnostic, ErrorClass, did_you_mean, list_names};
use crate::yaml::{self, Location, YamlError};

/// Directory under `prompts/` that holds partials (`{% include "x.j2" %}`).
pub const PARTIALS_DIR: &str = "_partials";

/// Partials by include name (path under `prompts/_partials/`) with their text.
pub type PartialSet = BTreeMap<String, String>;

/// A prompt file read from disk (or rebuilt from a stored version), with the partials it uses.
#[derive(Debug, Clone)]
pub struct LoadedPrompt {
    /// The prompt's name.
    pub name: PromptName,
    /// Where it came from, for messages: a file path, or `name@3` for a stored version.
    pub origin: PathBuf,
    /// The file's text as written, with the positions of its keys.
    pub source: yaml::Source,
    /// The parsed file.
    pub file: PromptFile,
    /// Every partial it includes, directly or through another partial.
    pub partials: PartialSet,
}

/// A problem with a prompt or partial file.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file could not be read.
    #[error("failed to read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has the wrong shape.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// The file parsed but breaks a rule (template, variables, partials).
    #[error("{}{}: {message}", path.display(), location.map(|l| format!(":{}:{}", l.line, l.column)).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in it.
        location: Option<Location>,
        /// What is wrong.
        message: String,
        /// What to do.
        hints: Vec<String>,
    },
    /// No file for this prompt name.
    #[error("prompt `{name}` not found")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The prompts that exist.
        known: Vec<String>,
    },
    /// Two files map to the same name (`a.yaml` and `a.yml`).
    #[error("prompt `{name}` is defined twice: {}", list_names(paths))]
    Duplicate {
        /// The name.
        name: String,
        /// The files.
        paths: Vec<String>,
    },
}

impl Diagnostic for PromptError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotFound { .. } => ErrorClass::Usage,
            _ => ErrorClass::Config,
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Read { .. } | Self::Duplicate { .. } => vec!["keep one file per prompt name".to_owned()],
            Self::Yaml(err) => err.hints(),
            Self::Invalid { hints, .. } => hints.clone(),
            Self::NotFound { name, known } => {
                let mut hints: Vec<String> = did_you_mean(name, known.iter().map(String::as_str)).into_iter().collect();
                hints.push(format!("prompts in this project: {}", list_names(known)));
                hints.push(format!("create it with `promptops prompt new {name}`"));
                hints
            }
        }
    }
}

/// A finding that does not block anything (an unused variable, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub path: PathBuf,
    /// Where in it.
    pub location: Option<Location>,
    /// What was noticed.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(l) = self.location {
            write!(f, ":{}:{}", l.line, l.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl LoadedPrompt {
    /// Parses a prompt from its text; `partials` are the texts its includes resolve to.
    pub fn parse(name: PromptName, origin: PathBuf, source: String, partials: PartialSet) -> Result<Self, PromptError> {
        let source = yaml::Source::new(source);
        let file: PromptFile = source.parse(&origin)?;
        Ok(Self { name, origin, source, file, partials })
    }

    /// The canonical form: sorted-key JSON of the parsed file and the partials it uses. Two
    /// prompts with the same canonical form behave the same, whatever their formatting.
    pub fn canonical(&self) -> String {
        let prompt = serde_json::to_value(&self.file).unwrap_or(serde_json::Value::Null);
        let value = serde_json::json!({ "prompt": prompt, "partials": self.partials });
        canonical_json(&value)
    }

    /// The content hash (hex SHA-256 of [`Self::canonical`]).
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }
}

/// Serialises JSON with object keys sorted at every depth.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sort(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let sorted: BTreeMap<&String, serde_json::Value> = map.iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

/// Every prompt file under `prompts_dir`, by name. Partials and hidden files are skipped.
pub fn prompt_names_on_disk(prompts_dir: &Path) -> Result<BTreeMap<PromptName, PathBuf>, PromptError> {
    let files = crate::fsutil::yaml_files(prompts_dir).map_err(|(path, source)| PromptError::Read { path, source })?;
    let mut found: BTreeMap<PromptName, PathBuf> = BTreeMap::new();
    for (name, path) in files {
        let name = PromptName::new(&name).map_err(|err| PromptError::Invalid {
            path: path.clone(),
            location: None,
            message: err.to_string(),
            hints: err.hints(),
        })?;
        if let Some(previous) = found.insert(name.clone(), path.clone()) {
            return Err(PromptError::Duplicate {
                name: name.to_string(),
                paths: vec![previous.display().to_string(), path.display().to_string()],
            });
        }
    }
    Ok(found)
}

/// Reads every prompt under `prompts_dir`. Prompts that fail to load are returned as errors
/// beside the ones that loaded, so that one broken file does not hide the rest.
pub fn load_all(prompts_dir: &Path) -> Result<(Vec<LoadedPrompt>, Vec<PromptError>), PromptError> {
    let on_disk = prompt_names_on_disk(prompts_dir)?;
    let available = load_partials(prompts_dir)?;
    let mut loaded = Vec::with_capacity(on_disk.len());
    let mut errors = Vec::new();
    for (name, path) in on_disk {
        let origin = display_path(prompts_dir, &path);
        let result = std::fs::read_to_string(&path)
            .map_err(|source| PromptError::Read { path: origin.clone(), source })
            .and_then(|source| LoadedPrompt::parse(name, origin, source, PartialSet::new()))
            .and_then(|mut prompt| {
                prompt.partials = partials_used(&prompt, &available)?;
                Ok(prompt)
            });
        match result {
            Ok(prompt) => loaded.push(prompt),
            Err(err) => errors.push(err),
        }
    }
    Ok((loaded, errors))
}

/// Reads the prompt `name` from `prompts_dir` with the partials it includes.
pub fn load_prompt(prompts_dir: &Path, name: &PromptName) -> Result<LoadedPrompt, PromptError> {
    let on_disk = prompt_names_on_disk(prompts_dir)?;
    let Some(path) = on_disk.get(name) else {
        return Err(PromptError::NotFound {
            name: name.to_string(),
            known: on_disk.keys().map(ToString::to_string).collect(),
        });
    };
    let origin = display_path(prompts_dir, path);
    let source = std::fs::read_to_string(path).map_err(|source| PromptError::Read { path: origin.clone(), source })?;
    let mut prompt = LoadedPrompt::parse(name.clone(), origin, source, PartialSet::new())?;
    let available = load_partials(prompts_dir)?;
    prompt.partials = partials_used(&prompt, &available)?;
    Ok(prompt)
}

/// How a file under `prompts_dir` is named in messages: relative to the project root
/// (`prompts/support/triage.yaml`), the way users see it in their editor and in git.
fn display_path(prompts_dir: &Path, path: &Path) -> PathBuf {
    let root = prompts_dir.parent().unwrap_or(prompts_dir);
    path.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

/// Every partial under `prompts/_partials/`, by include name.
pub fn load_partials(prompts_dir: &Path) -> Result<PartialSet, PromptError> {
    let root = prompts_dir.join(PARTIALS_DIR);
    let mut partials = PartialSet::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(PromptError::Read { path: dir, source }),
        };
        for entry in entries {
            let path = entry.map_err(|source| PromptError::Read { path: dir.clone(), source })?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(&root) {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| PromptError::Read { path: path.clone(), source })?;
                partials.insert(relative.to_string_lossy().replace('\\', "/"), text);
            }
        }
    }
    Ok(partials)
}

static INCLUDE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\{%-?\s*(?:include|import|from|extends)\s+(?:\[\s*)?["']([^"']+)["']"#)
        .expect("invariant: valid regex")
});

/// The partials `prompt` includes, directly or transitively, taken from `available`.
pub fn partials_used(prompt: &LoadedPrompt, available: &PartialSet) -> Result<PartialSet, PromptError> {
    let mut used = PartialSet::new();
    let mut queue: Vec<(PathBuf, String)> =
        templates_of(&prompt.file).into_iter().map(|t| (prompt.origin.clone(), t)).collect();
    while let Some((origin, text)) = queue.pop() {
        for (line_index, line) in text.lines().enumerate() {
            for capture in INCLUDE.captures_iter(line) {
                let include = &capture[1];
                if used.contains_key(include) {
                    continue;
                }
                let Some(partial) = available.get(include) else {
                    let mut hints: Vec<String> =
                        did_you_mean(include, available.keys().map(String::as_str)).into_iter().collect();
                    let names: Vec<&String> = available.keys().collect();
                    hints
                        .push(format!("partials live in `prompts/{PARTIALS_DIR}/`; available: {}", list_names(&names)));
                    let in_prompt = if origin == prompt.origin { find_in_file(&prompt.source, include) } else { None };
                    return Err(PromptError::Invalid {
                        path: origin,
                        location: in_prompt.or(Some(Location { line: line_index + 1, column: 1 })),
                        message: format!("partial `{include}` not found"),
                        hints,
                    });
                };
                used.insert(include.to_owned(), partial.clone());
                queue.push((partial_path(prompt, include), partial.clone()));
            }
        }
    }
    Ok(used)
}

/// Where a partial of `prompt` lives on disk, for messages.
pub(crate) fn partial_path(prompt: &LoadedPrompt, include: &str) -> PathBuf {
    let prompts_dir = prompts_root(prompt);
    prompts_dir.join(PARTIALS_DIR).join(include)
}

/// The `prompts/` directory a prompt file sits in (its origin minus the name's segments).
fn prompts_root(prompt: &LoadedPrompt) -> PathBuf {
    let depth = prompt.name.as_str().split('/').count();
    let mut dir = prompt.origin.clone();
    for _ in 0..depth {
        dir.pop();
    }
    dir
}

/// All template strings of a prompt file, in message order.
pub(crate) fn templates_of(file: &PromptFile) -> Vec<String> {
    file.messages
        .iter()
        .flat_map(|m| match &m.content {
            Content::Text(t) => vec![t.clone()],
            Content::Parts(parts) => parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) | Part::Image(t) => t.clone(),
                })
                .collect(),
        })
        .collect()
}

/// The first place in `source` where `needle` appears as a whole word inside `{{ }}` or `{% %}`.
pub(crate) fn find_in_file(source: &str, needle: &str) -> Option<Location> {
    let word = Regex::new(&format!(r"(^|[^A-Za-z0-9_]){}([^A-Za-z0-9_]|$)", regex::escape(needle))).ok()?;
    source.lines().enumerate().find_map(|(i, line)| {
        if !(line.contains("{{") || line.contains("{%")) {
            return None;
        }
        word.find(line).map(|m| {
            let offset = if m.as_str().starts_with(needle) { 0 } else { 1 };
            Location { line: i + 1, column: line[..m.start()].chars().count() + offset + 1 }
        })
    })
}

/// Checks a loaded prompt: every template compiles, uses only declared variables, and the
/// declared variables are consistent. Returns every error found, and warnings.
pub fn validate(prompt: &LoadedPrompt) -> (Vec<PromptError>, Vec<Warning>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let declared: BTreeSet<&str> = prompt.file.variables.keys().map(String::as_str).collect();
    let invalid = |location, message: String, hints: Vec<String>| PromptError::Invalid {
        path: prompt.origin.clone(),
        location,
        message,
        hints,
    };
    if prompt.file.messages.is_empty() {
        errors.push(invalid(
            prompt.source.locate(&["messages"]),
            "`messages` is empty".to_owned(),
            vec!["add at least one message".to_owned()],
        ));
    }
    let used = match super::render::used_variables(prompt) {
        Ok(used) => used,
        Err(err) => {
            errors.push(err);
            return (errors, warnings);
        }
    };
    for name in &used {
        if !declared.contains(name.as_str()) {
            let mut hints: Vec<String> = did_you_mean(name, declared.iter().copied()).into_iter().collect();
            hints.push(format!(
                "declare it under `variables:` (declared: {})",
                list_names(&declared.iter().collect::<Vec<_>>())
            ));
            errors.push(invalid(
                find_in_file(&prompt.source, name),
                format!("template uses undeclared variable `{name}`"),
                hints,
            ));
        }
    }
    for (name, spec) in &prompt.file.variables {
        let location = prompt.source.locate(&["variables", name]);
        if !used.contains(name) {
            warnings.push(Warning {
                path: prompt.origin.clone(),
                location,
                message: format!("variable `{name}` is declared but never used"),
            });
        }
        if let Some(default) = &spec.default {
            if !spec.kind.accepts(default) {
                errors.push(invalid(
                    location,
                    format!("default of `{name}` is not of type {}", spec.kind.as_str()),
                    Vec::new(),
                ));
            }
            if spec.allowed.as_ref().is_some_and(|allowed| !allowed.contains(default)) {
                errors.push(invalid(
                    location,
                    format!("default of `{name}` is not one of its `enum` values"),
                    Vec::new(),
                ));
            }
        }
        if let Some(bad) = spec.allowed.iter().flatten().find(|v| !spec.kind.accepts(v)) {
            errors.push(invalid(
                location,
                format!("`enum` value {bad} of `{name}` is not of type {}", spec.kind.as_str()),
                Vec::new(),
            ));
        }
    }
    for (i, message) in prompt.file.messages.iter().enumerate() {
        if message.role != super::file::Role::Placeholder {
            continue;
        }
        let location = prompt.source.locate(&["messages", &i.to_string(), "content"]);
        let named = PromptFile::placeholder(message).filter(|name| is_identifier(name));
        let Some(name) = named else {
            errors.push(invalid(
                location,
                "a `placeholder` message's content is the name of a variable".to_owned(),
                vec![
                    "write `- role: placeholder` with `content: history`, and declare `history: { type: array }`"
                        .to_owned(),
                ],
            ));
            continue;
        };
        if let Some(spec) = prompt.file.variables.get(name)
            && !matches!(spec.kind, super::file::VarType::Array | super::file::VarType::Any)
        {
            errors.push(invalid(
                location,
                format!("placeholder `{name}` holds messages, but `{name}` is declared as {}", spec.kind.as_str()),
                vec![format!("declare it as `{name}: {{ type: array }}`")],
            ));
        }
    }
    if prompt.file.kind == Some(super::file::PromptKind::Text) && prompt.file.text().is_none() {
        errors.push(invalid(
            prompt.source.locate(&["type"]),
            "a `type: text` prompt has exactly one message, a `user` text".to_owned(),
            vec!["remove `type: text` to serve the prompt as `chat`, or keep one user message".to_owned()],
        ));
    }
    for key in prompt.file.config.keys() {
        if key == "model" || ModelParams::KEYS.contains(&key.as_str()) {
            let home = if key == "model" { "the top-level `model:`".to_owned() } else { format!("`params.{key}`") };
            errors.push(invalid(
                prompt.source.locate(&["config", key]),
                format!("`config.{key}` is read by promptops and belongs in {home}"),
                vec![format!("move it to {home}; `config:` keeps only settings promptops does not read")],
            ));
        }
    }
    if let Some(schema) = &prompt.file.response_schema
        && let Err(message) = crate::json_schema::check_json_schema(schema)
    {
        errors.push(invalid(
            prompt.source.locate(&["response_schema"]),
            format!("`response_schema` is not a valid JSON Schema: {message}"),
            Vec::new(),
        ));
    }
    (errors, warnings)
}

/// Whether `name` can be a variable's name (a placeholder's content must be one).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
