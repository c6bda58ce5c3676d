//! Translation between Langfuse's prompt shapes and promptops prompt files: a create body to a
//! file (its `config` split into what promptops reads and the rest, kept as sent), and a stored
//! file to the `type`, `prompt` and `config` the SDK receives.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::CreatePrompt;
use crate::prompt::{Content, Message, ModelParams, PartialSet, PromptFile, PromptKind, Role, VarType, VariableSpec};
use crate::server::error::ApiError;
use crate::store::VersionRecord;

/// A Langfuse chat message as a create body sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatMessage {
    role: Role,
    content: String,
    /// `chatmessage` when sent by newer SDKs.
    #[serde(default, rename = "type")]
    _kind: Option<String>,
}

/// The prompt file of a stored version, or why it cannot be read.
pub fn stored_file(record: &VersionRecord) -> Result<PromptFile, String> {
    crate::yaml::from_str(std::path::Path::new(record.meta.name.as_str()), &record.source).map_err(|err| {
        format!("version {} of `{}` cannot be read as a prompt file: {err}", record.meta.number, record.meta.name)
    })
}

/// The Langfuse `type` and `prompt` of a version: a text prompt's template, or its messages,
/// each template as Langfuse's `compile()` can fill it ([`langfuse_template`]).
pub fn served_prompt(file: &PromptFile, partials: &PartialSet) -> Result<(PromptKind, Value), String> {
    if let (PromptKind::Text, Some(text)) = (file.kind(), file.text()) {
        let text = langfuse_template(text, partials, 0).map_err(|why| format!("the prompt {why}"))?;
        return Ok((PromptKind::Text, Value::String(text)));
    }
    let mut messages = Vec::with_capacity(file.messages.len());
    for (i, message) in file.messages.iter().enumerate() {
        if let Some(name) = PromptFile::placeholder(message) {
            messages.push(json!({"type": "placeholder", "name": name}));
            continue;
        }
        let content = langfuse_template(&message.content.text(), partials, 0)
            .map_err(|why| format!("message {} ({}) {why}", i + 1, message.role.as_str()))?;
        messages.push(json!({"role": message.role.as_str(), "content": content}));
    }
    Ok((PromptKind::Chat, Value::Array(messages)))
}

static INCLUDE_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\{%-?\s*include\s+["']([^"']+)["']\s*-?%\}"#).expect("invariant: valid regex"));
static EXPRESSION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{\{(.*?)\}\}").expect("invariant: valid regex"));
static SIMPLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*$").expect("invariant: valid regex"));

/// How deep includes may nest when expanded for Langfuse.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A template as Langfuse's `compile()` fills it: `{% include %}` of the version's partials
/// expanded in place, `{{ var }}` kept; any other Jinja construct (conditions, loops, filters,
/// attribute access, comments) makes it unservable, named with what it is.
pub fn langfuse_template(text: &str, partials: &PartialSet, depth: usize) -> Result<String, String> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(format!("nests includes more than {MAX_INCLUDE_DEPTH} deep"));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = INCLUDE_TAG.captures(rest) {
        let (whole, include) = (found.get(0).expect("invariant: group 0"), &found[1]);
        let partial =
            partials.get(include).ok_or_else(|| format!("includes `{include}`, which the version does not hold"))?;
        out.push_str(&rest[..whole.start()]);
        out.push_str(
            &langfuse_template(partial, partials, depth + 1)
                .map_err(|why| format!("includes `{include}`, which {why}"))?,
        );
        rest = &rest[whole.end()..];
    }
    out.push_str(rest);
    for construct in ["{%", "{#"] {
        if let Some(at) = out.find(construct) {
            let snippet: String = out[at..].chars().take(40).collect();
            return Err(format!(
                "uses `{snippet}`, a Jinja construct Langfuse's compile() cannot render (it only substitutes {{{{var}}}})"
            ));
        }
    }
    if let Some(expression) = EXPRESSION.captures_iter(&out).find(|c| !SIMPLE.is_match(&c[1])) {
        return Err(format!(
            "uses `{}`, an expression Langfuse's compile() cannot render (it only substitutes {{{{var}}}})",
            &expression[0]
        ));
    }
    Ok(out)
}

/// The Langfuse `config` of a file: `model`, the sampling parameters and the settings kept in
/// `config:`, as one object.
pub fn config_of(file: &PromptFile) -> Value {
    let mut config = match serde_json::to_value(&file.params) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(model) = &file.model {
        config.insert("model".to_owned(), Value::String(model.clone()));
    }
    let defaults: Map<String, Value> =
        file.variables.iter().filter_map(|(name, spec)| Some((name.clone(), spec.default.clone()?))).collect();
    if !defaults.is_empty() {
        config.insert(VARIABLE_DEFAULTS.to_owned(), Value::Object(defaults));
    }
    config.extend(file.config.iter().map(|(k, v)| (k.clone(), v.clone())));
    Value::Object(config)
}

/// The `config` key holding declared variable defaults, which Langfuse's `compile()` does not
/// apply itself: `prompt.compile(**{**prompt.config["variable_defaults"], **values})`.
pub const VARIABLE_DEFAULTS: &str = "variable_defaults";

/// `model`, the sampling parameters, and every other key of a Langfuse `config`.
type SplitConfig = (Option<String>, ModelParams, Map<String, Value>);

/// A Langfuse `config` split into what promptops reads (`model`, the sampling parameters) and
/// the rest, kept as sent. A key promptops reads must have the type it reads (`config.temperature`
/// a number...); `null` stands for an omitted key.
fn split_config(config: Option<&Value>) -> Result<SplitConfig, ApiError> {
    let invalid = |path: &str, message: String| ApiError::bad_request("invalid_config", message, Some(path));
    let mut rest = match config {
        None | Some(Value::Null) => return Ok((None, ModelParams::default(), Map::new())),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(invalid("config", format!("`config` must be a JSON object, got {}", json_type(other))));
        }
    };
    let model = match rest.remove("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(model)) => Some(model),
        Some(other) => {
            return Err(invalid("config.model", format!("`config.model` must be a string, got {}", json_type(&other))));
        }
    };
    let mut known = Map::new();
    for key in ModelParams::KEYS {
        match rest.remove(key) {
            None | Some(Value::Null) => {}
            Some(value) => {
                let one = Map::from_iter([(key.to_owned(), value.clone())]);
                if let Err(err) = serde_json::from_value::<ModelParams>(Value::Object(one)) {
                    let path = format!("config.{key}");
                    return Err(invalid(
                        &path,
                        format!("`{path}` ({value}) is read by promptops and cannot be: {err}"),
                    ));
                }
                known.insert(key.to_owned(), value);
            }
        }
    }
    let params = serde_json::from_value(Value::Object(known))
        .map_err(|err| invalid("config", format!("unusable sampling parameters: {err}")))?;
    Ok((model, params, rest))
}

/// The JSON type of `value`, for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One message of a chat create body: `{role, content}`, or a placeholder
/// `{"type": "placeholder", "name": "history"}` (stored as a `placeholder` message).
fn chat_message(item: &Value, path: &str) -> Result<Message, ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_prompt", message, Some(path));
    if item.get("type").and_then(Value::as_str) == Some("placeholder") {
        let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(invalid(format!(
                "`{path}` is a placeholder whose `name` must be a variable name (letters, digits, `_`), got {}",
                item.get("name").map_or_else(|| "nothing".to_owned(), Value::to_string)
            )));
        }
        return Ok(Message { role: Role::Placeholder, content: Content::Text(name.to_owned()) });
    }
    let message =
        ChatMessage::deserialize(item).map_err(|err| invalid(format!("`{path}` is not a chat message: {err}")))?;
    if message.role == Role::Placeholder {
        return Err(invalid(format!("`{path}`: a placeholder is written {{\"type\": \"placeholder\", \"name\": …}}")));
    }
    Ok(Message { role: message.role, content: Content::Text(message.content) })
}

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").expect("invariant: valid regex"));

/// A promptops prompt file from a Langfuse create body. `previous` is the prompt's latest
/// version, whose tags a body without `tags` keeps (tags belong to the prompt, not a version).
pub fn file_of(body: &CreatePrompt, previous: Option<&PromptFile>) -> Result<PromptFile, ApiError> {
    let (kind, messages) = match (&body.prompt, body.kind.as_deref()) {
        (Value::String(text), None | Some("text")) => {
            (PromptKind::Text, vec![Message { role: Role::User, content: Content::Text(text.clone()) }])
        }
        (Value::Array(items), None | Some("chat")) => {
            let mut messages = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                messages.push(chat_message(item, &format!("prompt[{i}]"))?);
            }
            (PromptKind::Chat, messages)
        }
        (_, Some(kind)) if kind != "text" && kind != "chat" => {
            return Err(ApiError::bad_request(
                "invalid_type",
                format!("`type` must be \"text\" or \"chat\", got {kind:?}"),
                Some("type"),
            ));
        }
        (prompt, kind) => {
            let expected = match kind {
                Some("chat") => "a list of {role, content} messages (type chat)",
                Some(_) => "a string (type text)",
                None => "a string (type text) or a list of {role, content} messages (type chat)",
            };
            return Err(ApiError::bad_request(
                "invalid_prompt",
                format!("`prompt` must be {expected}, got {}", json_type(prompt)),
                Some("prompt"),
            ));
        }
    };
    let mut variables = BTreeMap::new();
    for message in &messages {
        if let Some(name) = PromptFile::placeholder(message) {
            let spec = VariableSpec { kind: VarType::Array, required: Some(false), ..VariableSpec::default() };
            variables.insert(name.to_owned(), spec);
            continue;
        }
        for found in PLACEHOLDER.captures_iter(&message.content.text()) {
            variables.insert(found[1].to_owned(), VariableSpec::default());
        }
    }
    let (model, params, config) = split_config(body.config.as_ref())?;
    let tags = match (&body.tags, previous) {
        (Some(tags), _) => tags.clone(),
        (None, Some(previous)) => previous.tags.clone(),
        (None, None) => Vec::new(),
    };
    Ok(PromptFile {
        description: None,
        model,
        params,
        variables,
        messages,
        response_schema: None,
        tags,
        kind: Some(kind),
        config,
    })
}
