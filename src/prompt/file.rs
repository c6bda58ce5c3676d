//! The prompt file format (`prompts/<name>.yaml`) as plain data.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::params::ModelParams;

/// One prompt file. Field names are the ones users type; see FORMATS.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops prompt file")]
pub struct PromptFile {
    /// What the prompt is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The default provider: a provider id from `promptops.yaml` or `kind:model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model parameters; they override the provider's defaults.
    #[serde(default, skip_serializing_if = "ModelParams::is_empty")]
    pub params: ModelParams,
    /// The variables the templates may use. Using an undeclared one is an error.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, VariableSpec>,
    /// The chat messages, as minijinja templates.
    pub messages: Vec<Message>,
    /// An optional JSON Schema that the model's answer must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<serde_json::Value>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// How the Langfuse-compatible API serves the prompt: `text` (its one user message's
    /// template) or `chat` (the messages). Unset: `text` when the only message is one user text.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PromptKind>,
    /// Application settings kept with the version and served as part of Langfuse's `config`
    /// (promptops itself reads only `model` and `params`, which may not be repeated here).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub config: serde_json::Map<String, serde_json::Value>,
}

impl PromptFile {
    /// How the prompt is served through the Langfuse-compatible API (`type`, else inferred).
    pub fn kind(&self) -> PromptKind {
        self.kind.unwrap_or(if self.text().is_some() { PromptKind::Text } else { PromptKind::Chat })
    }

    /// The variable a placeholder message names, if `message` is one.
    pub fn placeholder(message: &Message) -> Option<&str> {
        match (&message.role, &message.content) {
            (Role::Placeholder, Content::Text(name)) => Some(name.trim()),
            _ => None,
        }
    }

    /// The template of a prompt whose only message is one user text.
    pub fn text(&self) -> Option<&str> {
        match self.messages.as_slice() {
            [Message { role: Role::User, content: Content::Text(text) }] => Some(text),
            _ => None,
        }
    }
}

/// A Langfuse prompt type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PromptKind {
    /// One template, sent as the user message.
    Text,
    /// A list of messages.
    Chat,
}

impl PromptKind {
    /// The name Langfuse uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Chat => "chat",
        }
    }
}

/// A declared template variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    /// The value's type; `--var` strings are converted to it.
    #[serde(default, rename = "type")]
    pub kind: VarType,
    /// Whether a value must be given. Defaults to true unless a `default` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// The value used when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// The only values allowed.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<serde_json::Value>>,
    /// What the variable means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl VariableSpec {
    /// Whether a value must be supplied by the caller.
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }
}

/// The JSON type of a variable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    /// Text (the default).
    #[default]
    String,
    /// Any number.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A list.
    Array,
    /// A mapping.
    Object,
    /// Anything.
    Any,
}

impl VarType {
    /// Whether `value` has this type.
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match self {
            Self::String => value.is_string(),
            Self::Number => value.is_number(),
            Self::Integer => value.is_i64() || value.is_u64(),
            Self::Boolean => value.is_boolean(),
            Self::Array => matches!(value, V::Array(_)),
            Self::Object => matches!(value, V::Object(_)),
            Self::Any => true,
        }
    }

    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
            Self::Any => "any",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said: a template string, or a list of text and image parts.
    pub content: Content,
}

/// The speaker of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The user's turn.
    User,
    /// A previous model answer (few-shot examples).
    Assistant,
    /// Not a message: `content` names a variable whose messages (a list of `{role, content}`,
    /// such as a conversation history) are inserted here at render time (Langfuse's chat
    /// placeholders).
    Placeholder,
}

impl Role {
    /// The role as the APIs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Placeholder => "placeholder",
        }
    }
}

/// Message content: one text, or parts mixing text and images.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text and image parts, in order.
    Parts(Vec<Part>),
}

impl Content {
    /// The parts of this content (plain text is one text part).
    pub fn parts(&self) -> Vec<Part> {
        match self {
            Self::Text(text) => vec![Part::Text(text.clone())],
            Self::Parts(parts) => parts.clone(),
        }
    }

    /// All text parts joined by newlines (images left out).
    pub fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(t.as_str()),
                    Part::Image(_) => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

// Hand-written so that a wrong shape gets a precise message and location instead of serde's
// "data did not match any variant of untagged enum".
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, or a list of parts such as `- text: ...` and `- image: ...`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element::<Part>()? {
                    parts.push(part);
                }
                if parts.is_empty() {
                    return Err(de::Error::invalid_length(0, &"at least one part"));
                }
                Ok(Content::Parts(parts))
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}

impl schemars::JsonSchema for Content {
    fn schema_name() -> Cow<'static, str> {
        "Content".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let part = generator.subschema_for::<Part>();
        schemars::json_schema!({
            "description": "A template string, or a list of text and image parts.",
            "oneOf": [
                { "type": "string" },
                { "type": "array", "minItems": 1, "items": part }
            ]
        })
    }
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawPart", into = "RawPart")]
pub enum Part {
    /// A text template.
    Text(String),
    /// An image: a template giving a path relative to the project, a URL or a data URL.
    Image(String),
}

/// A part as written in YAML: `- text: ...` or `- image: ...` (serde_yaml 0.9 reads enums from
/// tags, not from one-key mappings, so the mapping form is parsed here).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
struct RawPart {
    /// A text template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// An image: a path relative to the project, a URL or a data URL (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<String>,
}

impl TryFrom<RawPart> for Part {
    type Error = String;
    fn try_from(raw: RawPart) -> Result<Self, Self::Error> {
        match (raw.text, raw.image) {
            (Some(text), None) => Ok(Self::Text(text)),
            (None, Some(image)) => Ok(Self::Image(image)),
            _ => Err("a part needs exactly one of `text` or `image`".to_owned()),
        }
    }
}

impl From<Part> for RawPart {
    fn from(part: Part) -> Self {
        match part {
            Part::Text(text) => Self { text: Some(text), image: None },
            Part::Image(image) => Self { text: None, image: Some(image) },
        }
    }
}
