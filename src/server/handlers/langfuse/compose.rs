//! Prompt composition as Langfuse does it: `@@@langfusePrompt:name=N|label=L@@@` (or
//! `|version=V`) in a served prompt is replaced by the referenced text prompt's text, itself
//! resolved, and the references are recorded in `resolutionGraph`. A reference that does not
//! resolve, points at a chat prompt, or closes a cycle is refused with what it is.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use futures::future::BoxFuture;
use regex::Regex;
use serde_json::{Map, Value, json};

use super::convert::{langfuse_template, stored_file};
use crate::access::Scope;
use crate::prompt::{PromptKind, PromptName, Selector};
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::handlers::prompts::by_label;
use crate::server::state::AppState;

/// How deep references may nest.
pub const MAX_DEPTH: usize = 10;

static REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@@@langfusePrompt:(.*?)@@@").expect("invariant: valid regex"));

/// Whether `text` holds a composition reference.
pub fn has_references(prompt: &Value) -> bool {
    strings(prompt).iter().any(|text| REFERENCE.is_match(text))
}

fn strings(prompt: &Value) -> Vec<&str> {
    match prompt {
        Value::String(text) => vec![text.as_str()],
        Value::Array(messages) => messages.iter().filter_map(|m| m.get("content").and_then(Value::as_str)).collect(),
        _ => Vec::new(),
    }
}

/// One parsed reference.
struct Reference {
    name: PromptName,
    selector: Selector,
    shown: String,
}

fn parse(inner: &str) -> Result<Reference, String> {
    let shown = format!("@@@langfusePrompt:{inner}@@@");
    let mut fields = BTreeMap::new();
    for pair in inner.split('|') {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("`{shown}`: `{pair}` is not key=value"))?;
        fields.insert(key.trim(), value.trim());
    }
    let name = fields.get("name").ok_or_else(|| format!("`{shown}` names no prompt (name=…)"))?;
    let name = PromptName::new(name).map_err(|err| format!("`{shown}`: {err}"))?;
    let selector = match (fields.get("label"), fields.get("version")) {
        (Some(_), Some(_)) => return Err(format!("`{shown}` gives both a label and a version")),
        (Some(label), None) => Selector::Named((*label).to_owned()),
        (None, Some(version)) => {
            Selector::Version(version.parse().map_err(|_| format!("`{shown}`: version `{version}` is not a number"))?)
        }
        (None, None) => return Err(format!("`{shown}` needs label=… or version=…")),
    };
    Ok(Reference { name, selector, shown })
}

/// Where the resolution runs and what it has seen.
pub struct Resolver<'a> {
    /// The server.
    pub state: &'a AppState,
    /// Who asks.
    pub caller: &'a Caller,
    /// The project.
    pub scope: &'a Scope,
    dependencies: Map<String, Value>,
}

impl<'a> Resolver<'a> {
    /// A resolver for one served prompt.
    pub fn new(state: &'a AppState, caller: &'a Caller, scope: &'a Scope) -> Self {
        Self { state, caller, scope, dependencies: Map::new() }
    }

    /// `prompt` (a served text or message list) with every reference replaced, and the
    /// `resolutionGraph` (`null` without references). `root` is the served version's
    /// `(id, name, version)`; `version` is `None` for a version not stored yet (a create).
    pub async fn resolve(
        mut self,
        prompt: Value,
        root: (String, PromptName, Option<u32>),
    ) -> Result<(Value, Value), String> {
        if !has_references(&prompt) {
            return Ok((prompt, Value::Null));
        }
        let (id, name, version) = root;
        let stack = vec![name.clone()];
        let resolved = match prompt {
            Value::String(text) => Value::String(self.text(text, id.clone(), stack).await?),
            Value::Array(messages) => {
                let mut out = Vec::with_capacity(messages.len());
                for mut message in messages {
                    if let Some(Value::String(content)) = message.get_mut("content") {
                        let text = std::mem::take(content);
                        *content = self.text(text, id.clone(), stack.clone()).await?;
                    }
                    out.push(message);
                }
                Value::Array(out)
            }
            other => other,
        };
        let graph = json!({"root": {"id": id, "name": name, "version": version}, "dependencies": self.dependencies});
        Ok((resolved, graph))
    }

    fn text(&mut self, text: String, parent: String, stack: Vec<PromptName>) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(found) = REFERENCE.captures(rest) {
                let whole = found.get(0).expect("invariant: group 0");
                let reference = parse(&found[1])?;
                if stack.contains(&reference.name) {
                    let chain: Vec<String> = stack.iter().map(ToString::to_string).collect();
                    return Err(format!(
                        "`{}` closes a cycle: {} → {}",
                        reference.shown,
                        chain.join(" → "),
                        reference.name
                    ));
                }
                if stack.len() > MAX_DEPTH {
                    return Err(format!("references nest more than {MAX_DEPTH} deep at `{}`", reference.shown));
                }
                let record = match &reference.selector {
                    Selector::Named(label) => {
                        by_label(self.state, self.caller, self.scope.clone(), &reference.name, label)
                            .await
                            .map(|r| r.as_ref().clone())
                    }
                    other => self
                        .state
                        .registry(self.scope.clone(), self.caller)
                        .resolve(&reference.name, other)
                        .await
                        .map_err(ApiError::from),
                };
                let record = record.map_err(|err| format!("`{}` does not resolve: {err}", reference.shown))?;
                let file = stored_file(&record)?;
                let child = match (file.kind(), file.text()) {
                    (PromptKind::Text, Some(child)) => langfuse_template(child, &record.partials, 0)
                        .map_err(|why| format!("`{}` points at a prompt that {why}", reference.shown))?,
                    _ => {
                        return Err(format!(
                            "`{}` points at a chat prompt; only text prompts can be composed",
                            reference.shown
                        ));
                    }
                };
                let id = format!(
                    "{}:{}:{}:{}",
                    self.scope.tenant(),
                    self.scope.project(),
                    reference.name,
                    record.meta.number
                );
                let node = json!({"id": id, "name": reference.name, "version": record.meta.number});
                if let Value::Array(children) =
                    self.dependencies.entry(parent.clone()).or_insert_with(|| Value::Array(Vec::new()))
                    && !children.contains(&node)
                {
                    children.push(node);
                }
                let mut deeper = stack.clone();
                deeper.push(reference.name.clone());
                let child = self.text(child, id, deeper).await?;
                out.push_str(&rest[..whole.start()]);
                out.push_str(&child);
                rest = &rest[whole.end()..];
            }
            out.push_str(rest);
            Ok(out)
        })
    }
}
