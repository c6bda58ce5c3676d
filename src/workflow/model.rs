//! The executor's one seam to models: a [`ModelCaller`] takes a rendered prompt and returns the
//! answer with its usage and cost. The provider layer implements it (with its cache, limits,
//! retries, cost accounting and budgets); tests and benchmarks use the fakes in
//! [`super::fake`]. Keeping the seam this small lets the executor be tested without any provider.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::ErrorClass;
use crate::money::Micros;
use crate::prompt::RenderedPrompt;

/// One model call made by a node.
pub struct ModelCall<'a> {
    /// The node making the call.
    pub node: &'a str,
    /// The provider reference (an id or `kind:model`); `None` means the caller's default.
    pub provider: Option<&'a str>,
    /// The rendered prompt, with parameters and the response schema to request.
    pub prompt: &'a RenderedPrompt,
    /// Whether the response cache may be used.
    pub cache: bool,
    /// Called with each piece of streamed text, when the caller wants tokens.
    pub on_token: Option<&'a (dyn Fn(&str) + Send + Sync)>,
}

impl fmt::Debug for ModelCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelCall")
            .field("node", &self.node)
            .field("provider", &self.provider)
            .field("prompt", &self.prompt.name)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl ModelCall<'_> {
    /// Every text part of every message, joined by newlines (what fakes match on).
    pub fn text(&self) -> String {
        self.prompt.messages.iter().map(|m| m.content.text()).collect::<Vec<_>>().join("\n")
    }
}

/// A model's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelReply {
    /// The answer's text.
    pub text: String,
    /// The provider that answered.
    pub provider: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// What the call cost.
    pub cost: Micros,
    /// Whether the answer came from the response cache.
    pub cached: bool,
    /// Attempts the provider layer made (its own retries).
    pub attempts: u32,
    /// Wall time of the call.
    #[serde(with = "millis")]
    pub latency: Duration,
}

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    /// What failed.
    pub message: String,
    /// Exit-code class (`Upstream` for provider and network failures, `Config` for setup).
    pub class: ErrorClass,
    /// What to do.
    pub hints: Vec<String>,
}

impl ModelError {
    /// A provider or network failure.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self { message: message.into(), class: ErrorClass::Upstream, hints: Vec::new() }
    }
}

/// Calls a model with a rendered prompt.
#[async_trait]
pub trait ModelCaller: Send + Sync + fmt::Debug {
    /// One call.
    async fn call(&self, call: ModelCall<'_>) -> Result<ModelReply, ModelError>;
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
