//! promptfoo's `providers` (or `targets`) turned into `promptops.yaml` providers:
//! `openai:chat:<model>` and `openai:<model>`, `anthropic:messages:<model>`,
//! `ollama:chat:<model>` (OpenAI-compatible at Ollama's address), `echo` and `exec:`, with
//! `config` (`apiBaseUrl`, `apiHost`, `apiKeyEnvar`, sampling parameters) and `label`. A key
//! written in the config (`apiKey`) is never written anywhere: the provider reads it from an
//! environment variable, and `eval -c` supplies it from memory.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Treatment;
use super::prompts::slug;
use super::source::{Doc, Problems, child, keys};
use crate::config::{Defaults, ProjectConfig, ProviderConfig, ProviderKind};
use crate::prompt::{ModelParams, Stop};
use crate::secret::SecretString;

/// Ollama's OpenAI-compatible address, promptfoo's default for `ollama:` providers.
pub const OLLAMA_BASE_URL: &str = "http://localhost:11434/v1";

/// The providers of a translation, shared by the matrix and the graders.
#[derive(Debug, Default)]
pub struct Registry {
    /// The providers, in order of first use.
    pub providers: Vec<ProviderConfig>,
    /// promptfoo spelling (id and config) → our id, so the same provider is added once.
    seen: BTreeMap<String, String>,
    /// Literal keys by the variable the provider reads.
    pub secrets: BTreeMap<String, SecretString>,
}

impl Registry {
    /// `promptops.yaml` with these providers; the first is the default.
    pub fn project_config(&self, name: &str) -> ProjectConfig {
        ProjectConfig {
            name: Some(name.to_owned()),
            providers: self.providers.clone(),
            defaults: Defaults { provider: self.providers.first().map(|p| p.id.clone()), ..Defaults::default() },
            ..ProjectConfig::default()
        }
    }

    /// Adds the provider written as `value` at `path` of `doc`; its id, or `None` when it
    /// cannot be used (recorded in `problems`).
    pub fn add(&mut self, doc: &Doc, path: &[String], value: &Value, problems: &mut Problems) -> Option<String> {
        let (id, label, config) = match value {
            Value::String(id) => (id.clone(), None, serde_json::Map::new()),
            Value::Object(map) if map.contains_key("id") => {
                let id = map.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                let label = map.get("label").and_then(Value::as_str).map(str::to_owned);
                let config = map.get("config").and_then(Value::as_object).cloned().unwrap_or_default();
                for key in map.keys().filter(|k| !["id", "label", "config"].contains(&k.as_str())) {
                    problems.note(Treatment::LeftOut, doc, &child(path, &[key]), format!("provider key `{key}`"));
                }
                (id, label, config)
            }
            // `- openai:gpt-4o: { config: … }`, promptfoo's map form.
            Value::Object(map) if map.len() == 1 => {
                let (id, inner) = map.iter().next().expect("invariant: one entry");
                let label = inner.get("label").and_then(Value::as_str).map(str::to_owned);
                let config = inner.get("config").and_then(Value::as_object).cloned().unwrap_or_default();
                (id.clone(), label, config)
            }
            _ => {
                problems.error(
                    doc.error(path, "a provider is an id (`openai:gpt-4o-mini`) or a mapping with `id`")
                        .with_hint("e.g. `- id: openai:chat:gpt-4o-mini` with `config: { temperature: 0 }`"),
                );
                return None;
            }
        };
        let seen_key = format!("{id}\u{0}{label:?}\u{0}{}", Value::Object(config.clone()));
        if let Some(found) = self.seen.get(&seen_key) {
            return Some(found.clone());
        }
        let mut provider = self.wire(doc, path, &id, problems)?;
        provider.id = self.unique_id(label.as_deref().map_or_else(|| slug(&id.replace(':', "-")), slug));
        self.apply_config(doc, &child(path, &["config"]), &config, &mut provider, problems);
        self.seen.insert(seen_key, provider.id.clone());
        let our_id = provider.id.clone();
        self.providers.push(provider);
        Some(our_id)
    }

    fn unique_id(&self, wanted: String) -> String {
        let mut id = wanted.clone();
        let mut n = 2;
        while self.providers.iter().any(|p| p.id == id) {
            id = format!("{wanted}-{n}");
            n += 1;
        }
        id
    }

    /// The provider kind and model an id names.
    fn wire(&self, doc: &Doc, path: &[String], id: &str, problems: &mut Problems) -> Option<ProviderConfig> {
        let parts: Vec<&str> = id.splitn(3, ':').collect();
        let (kind, model, base_url) = match parts.as_slice() {
            ["openai", "chat" | "responses", model] | ["openai", model] => (ProviderKind::Openai, *model, None),
            ["openai", "embedding" | "embeddings", model] => (ProviderKind::Openai, *model, None),
            ["anthropic", "messages", model] => (ProviderKind::Anthropic, *model, None),
            ["ollama", "chat", model] | ["ollama", model] => {
                (ProviderKind::Openai, *model, Some(OLLAMA_BASE_URL.to_owned()))
            }
            ["echo"] => {
                problems.note(
                    Treatment::Approximated,
                    doc,
                    path,
                    "`echo`: answers with the last user message (a chat prompt's other messages are not echoed)"
                        .to_owned(),
                );
                let mut echo = blank(ProviderKind::Mock, None);
                echo.default = Some("{{ last_user }}".to_owned());
                return Some(echo);
            }
            ["exec", ..] => {
                let line = id.strip_prefix("exec:").unwrap_or_default().trim();
                let command = match crate::eval::assert::script::split_command(line) {
                    Ok(words) if !words.is_empty() => words,
                    _ => {
                        problems.error(doc.error(path, format!("`{id}` names no command")));
                        return None;
                    }
                };
                problems.note(
                    Treatment::Approximated,
                    doc,
                    path,
                    format!("`{id}`: the command gets the request as JSON on stdin, not the prompt as an argument"),
                );
                let mut exec = blank(ProviderKind::Exec, None);
                exec.command = command;
                return Some(exec);
            }
            _ => {
                let what = format!("provider `{id}`");
                problems.unsupported(
                    doc,
                    path,
                    what,
                    "supported: openai:chat:<model>, openai:<model>, anthropic:messages:<model>, ollama:chat:<model>, echo, exec:<command>",
                );
                return None;
            }
        };
        if model.is_empty() {
            problems.error(doc.error(path, format!("`{id}` names no model")));
            return None;
        }
        let mut provider = blank(kind, Some(model.to_owned()));
        provider.base_url = base_url;
        Some(provider)
    }

    fn apply_config(
        &mut self,
        doc: &Doc,
        path: &[String],
        config: &serde_json::Map<String, Value>,
        provider: &mut ProviderConfig,
        problems: &mut Problems,
    ) {
        let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_owned);
        let number = |key: &str| config.get(key).and_then(Value::as_f64);
        if let Some(url) = text("apiBaseUrl") {
            provider.base_url = Some(url);
        } else if let Some(host) = text("apiHost") {
            provider.base_url = Some(format!("https://{host}/v1"));
        }
        if let Some(env) = text("apiKeyEnvar") {
            provider.api_key_env = Some(env);
        }
        if let Some(key) = text("apiKey") {
            let env = self.key_env(provider, &key);
            provider.api_key_env = Some(env.clone());
            self.secrets.insert(env.clone(), SecretString::new(key));
            problems.note(
                Treatment::LeftOut,
                doc,
                &child(path, &["apiKey"]),
                format!("the key in `apiKey` (never copied: provider `{}` reads `{env}`)", provider.id),
            );
        }
        provider.params = ModelParams {
            temperature: number("temperature"),
            top_p: number("top_p"),
            max_tokens: number("max_tokens").map(|n| n as u32),
            stop: match config.get("stop") {
                Some(Value::String(s)) => Some(Stop::One(s.clone())),
                Some(Value::Array(items)) => {
                    Some(Stop::Many(items.iter().filter_map(Value::as_str).map(str::to_owned).collect()))
                }
                _ => None,
            },
            seed: config.get("seed").and_then(Value::as_i64),
            presence_penalty: number("presence_penalty"),
            frequency_penalty: number("frequency_penalty"),
        };
        const KNOWN: [&str; 11] = [
            "apiBaseUrl",
            "apiHost",
            "apiKey",
            "apiKeyEnvar",
            "temperature",
            "top_p",
            "max_tokens",
            "stop",
            "seed",
            "presence_penalty",
            "frequency_penalty",
        ];
        for key in config.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
            problems.note(Treatment::LeftOut, doc, &child(path, &[key]), format!("provider setting `{key}`"));
        }
    }

    /// The variable a literal key is read from: the provider's own, unless another provider
    /// already holds a different key under that name.
    fn key_env(&self, provider: &ProviderConfig, key: &str) -> String {
        let usual = match provider.kind {
            ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
            _ => "OPENAI_API_KEY",
        };
        let wanted = provider.api_key_env.clone().unwrap_or_else(|| usual.to_owned());
        match self.secrets.get(&wanted) {
            Some(held) if held.expose() != key => {
                format!("PROMPTOPS_PROMPTFOO_KEY_{}", provider.id.to_uppercase().replace(['-', '.', '/'], "_"))
            }
            _ => wanted,
        }
    }
}

fn blank(kind: ProviderKind, model: Option<String>) -> ProviderConfig {
    ProviderConfig { model, ..ProviderConfig::new("", kind) }
}

/// Translates the `providers` (or `targets`) list: the ids of the providers to run every
/// prompt on.
pub fn translate(
    doc: &Doc,
    key: &str,
    value: Option<&Value>,
    registry: &mut Registry,
    problems: &mut Problems,
) -> Vec<String> {
    let entries: Vec<(Vec<String>, &Value)> = match value {
        None => return Vec::new(),
        Some(Value::Array(items)) => items.iter().enumerate().map(|(i, v)| (keys(&[key, &i.to_string()]), v)).collect(),
        Some(one) => vec![(keys(&[key]), one)],
    };
    let mut ids = Vec::new();
    for (path, entry) in entries {
        if let Some(Value::String(text)) = Some(entry)
            && text.starts_with("file://")
        {
            problems.unsupported(doc, &path, format!("provider file `{text}`"), "list the providers in the config");
            continue;
        }
        if let Some(id) = registry.add(doc, &path, entry, problems)
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}
