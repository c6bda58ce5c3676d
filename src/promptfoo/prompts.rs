//! promptfoo's `prompts` in every listed form — inline strings, `{id, label, raw}` objects,
//! `file://` text or Markdown files split on `---` lines, JSON or YAML chat-message files, and
//! `*` globs — turned into prompt files named `promptfoo/<label>`. A text prompt becomes one
//! user message, as promptfoo sends it; every template goes through [`super::nunjucks`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::nunjucks::{self, Mapped, Site};
use super::source::{Doc, Problems, child, file_ref, glob, keys, read_ref};
use crate::prompt::{Content, Message, PromptFile, Role, VarType, VariableSpec};

/// A translated prompt.
#[derive(Debug, Clone)]
pub struct PromptSpec {
    /// Its prompt name (`promptfoo/<slug>`).
    pub name: String,
    /// promptfoo's label (what reports show).
    pub label: String,
    /// The raw template text, as promptfoo's JSON output shows it.
    pub raw: String,
    /// Its messages, in minijinja.
    pub messages: Vec<(Role, String)>,
    /// The variables its templates read.
    pub variables: BTreeSet<String>,
}

impl PromptSpec {
    /// The prompt file: every variable the templates read, required when every case sets it,
    /// else empty by default (promptfoo renders a missing variable as empty text).
    pub fn file(&self, in_every_case: &BTreeSet<String>) -> PromptFile {
        let variables = self
            .variables
            .iter()
            .map(|name| {
                let default = (!in_every_case.contains(name)).then(|| Value::String(String::new()));
                (name.clone(), VariableSpec { kind: VarType::Any, default, ..VariableSpec::default() })
            })
            .collect::<BTreeMap<_, _>>();
        let messages = self
            .messages
            .iter()
            .map(|(role, text)| Message { role: *role, content: Content::Text(text.clone()) })
            .collect();
        PromptFile {
            description: Some(format!("Imported from promptfoo: {}", self.label)),
            model: None,
            params: Default::default(),
            variables,
            messages,
            response_schema: None,
            tags: vec!["promptfoo".to_owned()],
            kind: None,
            config: serde_json::Map::new(),
        }
    }
}

/// The translated prompts.
#[derive(Debug, Default)]
pub struct Prompts {
    /// In the config's order.
    pub prompts: Vec<PromptSpec>,
}

/// Every variable any prompt reads.
pub fn all_variables(prompts: &[PromptSpec]) -> BTreeSet<String> {
    prompts.iter().flat_map(|p| p.variables.iter().cloned()).collect()
}

/// Translates the `prompts` value of `doc`.
pub fn translate(doc: &Doc, base: &Path, value: Option<&Value>, problems: &mut Problems) -> Prompts {
    let mut out = Prompts::default();
    let entries: Vec<(Vec<String>, Value)> = match value {
        None => return out,
        Some(Value::Array(items)) => {
            items.iter().enumerate().map(|(i, v)| (keys(&["prompts", &i.to_string()]), v.clone())).collect()
        }
        // `{ "file://path": "label" }`, promptfoo's older map form.
        Some(Value::Object(map)) => {
            map.iter().map(|(k, v)| (keys(&["prompts", k]), serde_json::json!({ "id": k, "label": v }))).collect()
        }
        Some(other) => vec![(keys(&["prompts"]), other.clone())],
    };
    for (path, entry) in entries {
        match &entry {
            Value::String(text) => one(doc, base, &path, text, None, &mut out, problems),
            Value::Object(map) => {
                let label = map.get("label").and_then(Value::as_str);
                let text = map.get("raw").or_else(|| map.get("id")).and_then(Value::as_str);
                for key in map.keys().filter(|k| !["id", "label", "raw"].contains(&k.as_str())) {
                    problems.unsupported(doc, &child(&path, &[key]), format!("prompt key `{key}`"), "");
                }
                match text {
                    Some(text) => one(doc, base, &path, text, label, &mut out, problems),
                    None => problems.error(
                        doc.error(&path, "a prompt object needs `raw` or `id`")
                            .with_hint("e.g. `{ label: short, raw: 'Say {{x}}' }`"),
                    ),
                }
            }
            _ => problems.error(doc.error(&path, "a prompt is a string or a `{id, label, raw}` mapping")),
        }
    }
    if out.prompts.is_empty() && !problems.has_errors() {
        problems.error(doc.error(&keys(&["prompts"]), "no prompt to evaluate"));
    }
    out
}

fn one(
    doc: &Doc,
    base: &Path,
    path: &[String],
    text: &str,
    label: Option<&str>,
    out: &mut Prompts,
    problems: &mut Problems,
) {
    let Some(pattern) = file_ref(text) else {
        let line = doc.locate(path).map_or(1, |l| l.line);
        let site = Site { path: &doc.path, line };
        if let Some(mapped) = nunjucks::map(text, site, problems) {
            let label = label.map_or_else(|| short(text), str::to_owned);
            push(out, label, text, vec![(Role::User, mapped)]);
        }
        return;
    };
    let files = match glob(base, pattern) {
        Ok(files) => files,
        Err(message) => return problems.error(doc.error(path, message)),
    };
    for relative in files {
        let (real, content) = match read_ref(doc, base, path, &relative) {
            Ok(found) => found,
            Err(err) => return problems.error(err),
        };
        let shown = Path::new(&relative);
        let extension = shown.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let stem = shown.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        match extension.as_str() {
            "json" | "yaml" | "yml" => chat_file(doc, path, &real, content, label.unwrap_or(&stem), out, problems),
            "js" | "cjs" | "mjs" | "ts" | "py" => problems.unsupported(
                doc,
                path,
                format!("prompt function `{relative}` (promptops does not run JavaScript or Python prompts)"),
                "render the prompt in a text or chat file instead",
            ),
            _ => text_file(&real, &content, label.unwrap_or(&stem), out, problems),
        }
    }
}

/// A text or Markdown file: prompts separated by lines holding only `---`.
fn text_file(real: &Path, content: &str, label: &str, out: &mut Prompts, problems: &mut Problems) {
    let mut parts: Vec<(usize, String)> = vec![(1, String::new())];
    for (i, line) in content.lines().enumerate() {
        if line.trim() == "---" {
            parts.push((i + 2, String::new()));
        } else if let Some((_, part)) = parts.last_mut() {
            part.push_str(line);
            part.push('\n');
        }
    }
    let count = parts.len();
    for (n, (line, part)) in parts.into_iter().enumerate() {
        let part = part.trim().to_owned();
        if part.is_empty() {
            continue;
        }
        let site = Site { path: real, line };
        if let Some(mapped) = nunjucks::map(&part, site, problems) {
            let label = if count > 1 { format!("{label}-{}", n + 1) } else { label.to_owned() };
            push(out, label, &part, vec![(Role::User, mapped)]);
        }
    }
}

/// A JSON or YAML list of `{role, content}` messages.
fn chat_file(
    doc: &Doc,
    path: &[String],
    real: &Path,
    content: String,
    label: &str,
    out: &mut Prompts,
    problems: &mut Problems,
) {
    let raw = content.clone();
    let file = match Doc::parse(real, content) {
        Ok(file) => file,
        Err(err) => return problems.error(*err),
    };
    let Some(items) = file.value.as_array() else {
        return problems.error(
            doc.error(path, format!("`{}` is not a list of chat messages", real.display()))
                .with_hint("a chat prompt file is a list of `{role, content}` messages"),
        );
    };
    let mut messages = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = keys(&[&i.to_string()]);
        let role = match item.get("role").and_then(Value::as_str) {
            Some("system") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            other => {
                let what = format!("chat role `{}`", other.unwrap_or("(none)"));
                problems.unsupported(&file, &at, what, "roles are `system`, `user` and `assistant`");
                continue;
            }
        };
        let Some(text) = item.get("content").and_then(Value::as_str) else {
            problems.unsupported(&file, &child(&at, &["content"]), "message content that is not text".to_owned(), "");
            continue;
        };
        let line = file.locate(&child(&at, &["content"])).map_or(1, |l| l.line);
        if let Some(mapped) = nunjucks::map(text, Site { path: real, line }, problems) {
            messages.push((role, mapped));
        }
    }
    if messages.len() == items.len() && !messages.is_empty() {
        push(out, label.to_owned(), &raw, messages);
    }
}

fn push(out: &mut Prompts, label: String, raw: &str, messages: Vec<(Role, Mapped)>) {
    let mut name = format!("promptfoo/{}", slug(&label));
    let mut n = 2;
    while out.prompts.iter().any(|p| p.name == name) {
        name = format!("promptfoo/{}-{n}", slug(&label));
        n += 1;
    }
    let variables = messages.iter().flat_map(|(_, m)| m.variables.iter().cloned()).collect();
    let messages = messages.into_iter().map(|(role, m)| (role, m.text)).collect();
    out.prompts.push(PromptSpec { name, label, raw: raw.to_owned(), messages, variables });
}

/// A prompt-name segment from a label: lowercase letters, digits and `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() { "prompt".to_owned() } else { out }
}

/// A label for an inline prompt: its first words.
fn short(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().take(6).collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_prompt_name_segments() {
        assert_eq!(slug("Short & Sweet: {{topic}}"), "short-sweet-topic");
        assert_eq!(slug("!!!"), "prompt");
    }
}
