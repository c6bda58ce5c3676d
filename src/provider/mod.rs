//! Model providers and the inference layer (DESIGN boundary 4). A [`Provider`] only speaks its
//! wire protocol: `openai` (OpenAI-compatible chat completions and embeddings, Azure too),
//! `anthropic` (Messages API), and the offline `mock`, `echo` and `exec`. Everything else is a
//! layer in [`layer`], written once and wrapped around any provider: response cache, budgets,
//! response-schema check, cost and usage accounting, retries with backoff, request timeout,
//! concurrency limit, adaptive concurrency and RPM/TPM rate limits.
//!
//! Callers (the `run` command, the eval engine, the workflow executor) use [`Providers`]:
//!
//! ```no_run
//! # async fn demo(project: &promptops::config::Project, store: std::sync::Arc<dyn promptops::store::Store>,
//! #               scope: promptops::store::Scope, rendered: &promptops::prompt::RenderedPrompt)
//! # -> Result<(), promptops::provider::ProviderError> {
//! use promptops::provider::{Providers, ProvidersOptions, request_from_rendered};
//!
//! let providers = Providers::new(project, store, scope, ProvidersOptions::default());
//! let provider = providers.get("fast")?; // an id from promptops.yaml, or `openai:gpt-4o-mini`
//! let request = request_from_rendered(rendered, &project.root)?;
//! let answer = provider.chat(&request, None).await?; // Some(&mut |delta| ...) to stream
//! println!("{} ({} tokens, {}, cached: {})", answer.text, answer.usage.total(), answer.cost, answer.cached);
//! providers.flush().await; // wait for cache and usage writes before exiting
//! # Ok(()) }
//! ```
//!
//! Streaming is a callback ([`OnDelta`]) rather than a `Stream`: every layer then wraps one
//! `async fn`, and the final [`ChatResponse`] (usage, cost) comes back the same way for both.

mod anthropic;
mod echo;
mod error;
mod exec;
pub mod fake;
mod http;
pub(crate) use http::SseParser;
mod image;
pub mod layer;
mod mock;
mod openai;
pub mod pricing;
mod request;
mod resolve;
mod types;

use std::fmt;

use async_trait::async_trait;

use crate::config::ProviderKind;
pub use error::{BudgetKind, ProviderError};
pub(crate) use http::guarded_client;
pub use image::{MAX_IMAGE_BYTES, load_image, sniff_media_type};
pub(crate) use mock::ConfigSite;
pub use request::{rendered_messages, request_from_rendered};
pub(crate) use resolve::offline_provider;
pub use resolve::{
    LayerContext, Providers, ProvidersOptions, default_base_url, default_key_env, http_provider, identity,
    key_required, layered,
};
pub use types::{
    ChatMessage, ChatPart, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Image, OnDelta, RateLimitInfo, Usage,
};

/// Who a provider is: enough to label results and to key the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    /// The id it was resolved from (`fast`, or `openai:gpt-4o-mini`).
    pub id: String,
    /// Its wire protocol.
    pub kind: ProviderKind,
    /// The model it asks for (`mock`, `echo` and `exec` report their kind when none is set).
    pub model: String,
}

/// A model behind a wire protocol, or a layer wrapping one. Use as `Arc<dyn Provider>`.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// Who this is.
    fn info(&self) -> &ProviderInfo;

    /// One chat completion. With `on_delta`, the answer is streamed: each piece of text is
    /// passed to it as it arrives, and the returned response still holds the whole text.
    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError>;

    /// Embeddings of several texts.
    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let _ = request;
        Err(ProviderError::Unsupported { provider: self.info().id.clone(), what: "embeddings".to_owned() })
    }
}
