//! What the stub understands of an incoming model request: a chat request in either wire format
//! reduced to roles and texts, an embeddings request, and the token arithmetic both use.
//!
//! Parsing is deliberately lenient about fields the stub does not use (tools, temperature…) and
//! strict about the ones real providers reject requests for: a missing `model` or `messages`,
//! Anthropic's missing `max_tokens`. Errors are plain messages; the caller gives them the
//! provider's error shape.

use serde_json::Value;

/// Tokens charged for each image part (OpenAI's figure for a low-detail image).
pub const IMAGE_TOKENS: u64 = 85;

/// Characters per token of the stub's tokenizer.
pub const CHARS_PER_TOKEN: u64 = 4;

/// Counts the tokens of `text` the way the stub bills them: one token per started group of
/// four Unicode scalar values, so `""` is 0, `"abcd"` is 1 and `"abcde"` is 2.
pub fn count_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(CHARS_PER_TOKEN)
}

/// The wire protocol a request arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI-compatible, `Authorization: Bearer` auth.
    OpenAi,
    /// Azure OpenAI deployments, `api-key` auth, OpenAI bodies.
    Azure,
    /// Anthropic Messages, `x-api-key` auth.
    Anthropic,
}

/// One message of a chat request, its content reduced to text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool`…
    pub role: String,
    /// The text parts of the content, joined with `\n`.
    pub text: String,
    /// How many image parts the content had (`image_url` or Anthropic `image` blocks).
    pub images: usize,
}

/// A chat request as reply rules and functions see it.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The wire format it arrived in.
    pub wire: Wire,
    /// The `model` field (for Azure without one, the deployment name).
    pub model: String,
    /// Anthropic's top-level `system`; OpenAI system prompts stay in `messages`.
    pub system: Option<String>,
    /// The conversation, in order.
    pub messages: Vec<ChatMessage>,
    /// Whether `"stream": true` was asked for.
    pub stream: bool,
    /// Whether `stream_options.include_usage` was true (OpenAI only).
    pub include_usage: bool,
    /// `max_tokens` (or OpenAI's `max_completion_tokens`), if given.
    pub max_tokens: Option<u64>,
}

impl ChatRequest {
    /// The text of the last `user` message, or `""` when there is none.
    pub fn last_user_text(&self) -> &str {
        self.messages.iter().rev().find(|message| message.role == "user").map_or("", |message| message.text.as_str())
    }

    /// The system prompt and every message text, joined with `\n`.
    pub fn prompt_text(&self) -> String {
        let texts = self.messages.iter().map(|message| message.text.as_str());
        self.system.as_deref().into_iter().chain(texts).collect::<Vec<_>>().join("\n")
    }

    /// Prompt tokens: [`count_tokens`] of the system prompt and of each message, plus
    /// [`IMAGE_TOKENS`] per image.
    pub fn prompt_tokens(&self) -> u64 {
        let system = self.system.as_deref().map_or(0, count_tokens);
        let messages: u64 = self
            .messages
            .iter()
            .map(|message| count_tokens(&message.text) + IMAGE_TOKENS * message.images as u64)
            .sum();
        system + messages
    }

    /// Parses an OpenAI (or Azure, where `model` may be absent) chat completion body.
    pub(crate) fn from_openai(body: &Value, wire: Wire, deployment: Option<&str>) -> Result<Self, String> {
        let model = match (body.get("model").and_then(Value::as_str), deployment) {
            (Some(model), _) => model.to_owned(),
            (None, Some(deployment)) => deployment.to_owned(),
            (None, None) => return Err("you must provide a model parameter".to_owned()),
        };
        let include_usage = body.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
        let max_tokens = body.get("max_completion_tokens").or_else(|| body.get("max_tokens"));
        Ok(Self {
            wire,
            model,
            system: None,
            messages: parse_messages(body)?,
            stream: stream_flag(body),
            include_usage,
            max_tokens: max_tokens.and_then(Value::as_u64),
        })
    }

    /// Parses an Anthropic Messages body; `max_tokens` is required as it is by Anthropic.
    pub(crate) fn from_anthropic(body: &Value) -> Result<Self, String> {
        let Some(model) = body.get("model").and_then(Value::as_str) else {
            return Err("model: Field required".to_owned());
        };
        let Some(max_tokens) = body.get("max_tokens").and_then(Value::as_u64) else {
            return Err("max_tokens: Field required".to_owned());
        };
        Ok(Self {
            wire: Wire::Anthropic,
            model: model.to_owned(),
            system: body.get("system").map(|system| content_of(system).0),
            messages: parse_messages(body)?,
            stream: stream_flag(body),
            include_usage: false,
            max_tokens: Some(max_tokens),
        })
    }
}

fn stream_flag(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

fn parse_messages(body: &Value) -> Result<Vec<ChatMessage>, String> {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Err("messages: Field required (an array)".to_owned());
    };
    messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let Some(role) = message.get("role").and_then(Value::as_str) else {
                return Err(format!("messages.{index}.role: Field required"));
            };
            let (text, images) = message.get("content").map_or((String::new(), 0), content_of);
            Ok(ChatMessage { role: role.to_owned(), text, images })
        })
        .collect()
}

/// Reduces a content value (a string, or an array of typed parts in either wire format) to its
/// text parts joined with `\n` and a count of image parts. Unknown parts are ignored.
fn content_of(content: &Value) -> (String, usize) {
    match content {
        Value::String(text) => (text.clone(), 0),
        Value::Array(parts) => {
            let mut texts = Vec::new();
            let mut images = 0;
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => texts.extend(part.get("text").and_then(Value::as_str)),
                    Some("image_url" | "image") => images += 1,
                    _ => {}
                }
            }
            (texts.join("\n"), images)
        }
        _ => (String::new(), 0),
    }
}

/// An embeddings request: the input texts and the wanted vector size.
#[derive(Debug, Clone)]
pub(crate) struct EmbeddingRequest {
    pub model: String,
    pub inputs: Vec<String>,
    pub dimensions: Option<usize>,
    pub base64: bool,
}

impl EmbeddingRequest {
    /// Parses an OpenAI embeddings body. Token-array inputs are refused: the stub embeds text.
    pub(crate) fn parse(body: &Value, deployment: Option<&str>) -> Result<Self, String> {
        let model = body.get("model").and_then(Value::as_str).or(deployment);
        let Some(model) = model else {
            return Err("you must provide a model parameter".to_owned());
        };
        let inputs = match body.get("input") {
            Some(Value::String(text)) => vec![text.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| "input: the stub accepts only strings".to_owned())?,
            _ => return Err("input: Field required (a string or an array of strings)".to_owned()),
        };
        let dimensions = body.get("dimensions").and_then(Value::as_u64);
        Ok(Self {
            model: model.to_owned(),
            inputs,
            dimensions: dimensions.and_then(|d| usize::try_from(d).ok()).filter(|d| *d > 0),
            base64: body.get("encoding_format").and_then(Value::as_str) == Some("base64"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_are_started_groups_of_four_characters() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("abcd"), 1);
        assert_eq!(count_tokens("abcde"), 2);
        assert_eq!(count_tokens("ééééé"), 2);
    }

    #[test]
    fn openai_parts_reduce_to_text_and_image_count() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "this?"}
            ]}
        ]});
        let request = ChatRequest::from_openai(&body, Wire::OpenAi, None).expect("valid body");
        assert_eq!(request.last_user_text(), "what is\nthis?");
        assert_eq!(request.messages[1].images, 1);
        assert_eq!(request.prompt_text(), "be brief\nwhat is\nthis?");
        assert_eq!(request.prompt_tokens(), 2 + 4 + IMAGE_TOKENS);
    }

    #[test]
    fn anthropic_requires_max_tokens_and_keeps_system_apart() {
        let body = json!({"model": "claude", "system": [{"type": "text", "text": "sys"}],
            "messages": [{"role": "user", "content": "hi"}]});
        let error = ChatRequest::from_anthropic(&body).expect_err("max_tokens is missing");
        assert!(error.contains("max_tokens"));
        let mut body = body;
        body["max_tokens"] = json!(10);
        let request = ChatRequest::from_anthropic(&body).expect("valid body");
        assert_eq!(request.system.as_deref(), Some("sys"));
        assert_eq!(request.prompt_text(), "sys\nhi");
    }

    #[test]
    fn embedding_inputs_are_strings() {
        let request = EmbeddingRequest::parse(&json!({"model": "e", "input": ["a", "b"]}), None).expect("valid");
        assert_eq!(request.inputs, ["a", "b"]);
        assert!(EmbeddingRequest::parse(&json!({"model": "e", "input": [[1, 2]]}), None).is_err());
    }
}
