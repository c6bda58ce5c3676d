//! The data a provider exchanges with its callers: requests (messages with text and image parts,
//! parameters, an optional response schema), responses (text, usage, cost, latency, whether it
//! came from the cache, attempts) and embeddings. Wire formats live in each provider's module.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::money::Micros;
use crate::prompt::{ModelParams, Role};

/// One chat request, independent of any wire protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The prompt the request was rendered from (mock rules match it; usage is recorded under it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The conversation, in order.
    pub messages: Vec<ChatMessage>,
    /// Sampling parameters; unset fields fall back to the provider's configured `params`.
    #[serde(default, skip_serializing_if = "ModelParams::is_empty")]
    pub params: ModelParams,
    /// A JSON Schema the answer must satisfy; turns on the API's structured output where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<serde_json::Value>,
}

impl ChatRequest {
    /// A request of one user message, for quick calls (`provider test`, graders).
    pub fn user(text: impl Into<String>) -> Self {
        Self { messages: vec![ChatMessage::text(Role::User, text)], ..Self::default() }
    }

    /// Every text part of every message, joined by newlines: what mock rules match against.
    pub fn text(&self) -> String {
        self.messages.iter().map(ChatMessage::content_text).collect::<Vec<_>>().join("\n")
    }

    /// The text of the last user message (empty when there is none).
    pub fn last_user_text(&self) -> String {
        self.messages.iter().rev().find(|m| m.role == Role::User).map(ChatMessage::content_text).unwrap_or_default()
    }

    /// A rough count of input tokens (about four characters each) for rate limits and budget
    /// estimates made before the provider reports the real figure.
    pub fn estimated_input_tokens(&self) -> u64 {
        let chars: usize = self
            .messages
            .iter()
            .flat_map(|m| &m.parts)
            .map(|p| match p {
                ChatPart::Text(t) => t.len(),
                // Vision models bill an image at roughly a thousand tokens or less.
                ChatPart::Image(_) => 3_000,
            })
            .sum();
        (chars as u64).div_ceil(4)
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who speaks.
    pub role: Role,
    /// Text and image parts, in order.
    pub parts: Vec<ChatPart>,
}

impl ChatMessage {
    /// A message holding one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self { role, parts: vec![ChatPart::Text(text.into())] }
    }

    /// The text parts joined by newlines (images left out).
    pub fn content_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                ChatPart::Text(t) => Some(t.as_str()),
                ChatPart::Image(_) => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatPart {
    /// Text.
    Text(String),
    /// An image, already loaded or referenced by URL.
    Image(Image),
}

/// An image ready for the wire: inline bytes (from a file or a data URL) or a remote URL that
/// the provider fetches itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Image {
    /// Inline image bytes, base64-encoded, with the MIME type sniffed from the content.
    Base64 {
        /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
        media_type: String,
        /// The bytes, standard base64.
        data: String,
    },
    /// An `http(s)` URL.
    Url {
        /// The address.
        url: String,
    },
}

impl Image {
    /// The image as a `data:` URL (OpenAI's `image_url`), or the remote URL itself.
    pub fn to_url(&self) -> String {
        match self {
            Self::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
            Self::Url { url } => url.clone(),
        }
    }
}

/// Token counts of one call. `input_tokens` includes `cached_input_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// The part of `input_tokens` served from the provider's prompt cache (billed cheaper).
    #[serde(default)]
    pub cached_input_tokens: u64,
}

impl Usage {
    /// Input plus output tokens (what a TPM limit counts).
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// What a provider reported about its rate limits in response headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `x-ratelimit-remaining-requests`.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-remaining-tokens`.
    pub remaining_tokens: Option<u64>,
}

/// One chat answer with everything the layers learnt about producing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The answer's text.
    pub text: String,
    /// The answer parsed as JSON, when the request declared a response schema (and it matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// The provider id that answered.
    pub provider: String,
    /// The model that answered, as the API reported it.
    pub model: String,
    /// Token counts.
    pub usage: Usage,
    /// What the call cost (zero for a cache hit and for offline providers).
    pub cost: Micros,
    /// Wall time from the request entering the layer stack to the answer.
    #[serde(with = "duration_ms")]
    pub latency: Duration,
    /// Whether the answer came from the response cache.
    pub cached: bool,
    /// Attempts made (1 without retries; 0 for a cache hit).
    pub attempts: u32,
    /// Why generation stopped (`stop`, `length`, `end_turn`, …), when the API says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Warnings for the user, such as a budget nearing its limit or a model without a price.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Rate-limit headers of the answer (for adaptive concurrency; not stored).
    #[serde(skip)]
    pub rate_limit: RateLimitInfo,
}

impl ChatResponse {
    /// A fresh answer from a wire provider; the layers fill in cost, latency and attempts.
    pub fn new(provider: &str, model: &str, text: String, usage: Usage) -> Self {
        Self {
            text,
            json: None,
            provider: provider.to_owned(),
            model: model.to_owned(),
            usage,
            cost: Micros::ZERO,
            latency: Duration::ZERO,
            cached: false,
            attempts: 1,
            finish_reason: None,
            warnings: Vec::new(),
            rate_limit: RateLimitInfo::default(),
        }
    }
}

/// A request for embeddings of several texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbedRequest {
    /// The texts, embedded in order.
    pub inputs: Vec<String>,
    /// The embedding model; the provider's configured model when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Embeddings, one vector per input, in input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedResponse {
    /// The vectors.
    pub vectors: Vec<Vec<f32>>,
    /// The model that answered.
    pub model: String,
    /// Token counts (output is zero).
    pub usage: Usage,
    /// What the call cost.
    pub cost: Micros,
}

/// A caller's handler for streamed text: called with each piece as it arrives.
pub type OnDelta<'a> = &'a mut (dyn FnMut(&str) + Send);

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
