//! The real [`Backend`]: the project's providers through the inference layers (cache, budgets,
//! response schema, cost and usage, retries, concurrency and rate limits, timeouts). One
//! [`Providers`] serves every case, so each provider's limits hold across the whole run.
//!
//! A case's repeats after the first ask with `seed + repeat`, so that each repeat is its own
//! sample (where the provider honours seeds) and its own cache entry: repeating a cached answer
//! would measure nothing.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::backend::{Backend, CallError, Completion, ProviderProblem};
use crate::error::Diagnostic;
use crate::prompt::RenderedPrompt;
use crate::provider::{EmbedRequest, ProviderError, Providers, request_from_rendered};
use crate::store::StoreError;

/// Models reached through [`Providers`].
#[derive(Debug, Clone)]
pub struct ProvidersBackend {
    providers: Arc<Providers>,
    root: PathBuf,
}

impl ProvidersBackend {
    /// A backend over `providers`; image paths are relative to `root` (the project root).
    pub fn new(providers: Arc<Providers>, root: PathBuf) -> Self {
        Self { providers, root }
    }
}

fn call_error(err: &ProviderError) -> CallError {
    CallError::provider(err)
}

#[async_trait]
impl Backend for ProvidersBackend {
    fn check_provider(&self, reference: &str) -> Result<(), ProviderProblem> {
        self.providers
            .get(reference)
            .map(|_| ())
            .map_err(|err| ProviderProblem { message: err.to_string(), hints: err.hints() })
    }

    async fn complete(&self, provider: &str, prompt: &RenderedPrompt, repeat: u32) -> Result<Completion, CallError> {
        let model = self.providers.get(provider).map_err(|e| call_error(&e))?;
        let mut request = request_from_rendered(prompt, &self.root).map_err(|e| call_error(&e))?;
        if repeat > 0 {
            request.params.seed = Some(request.params.seed.unwrap_or(0).wrapping_add(i64::from(repeat)));
        }
        let answer = model.chat(&request, None).await.map_err(|e| call_error(&e))?;
        Ok(Completion {
            text: answer.text,
            input_tokens: answer.usage.input_tokens,
            output_tokens: answer.usage.output_tokens,
            cost: answer.cost,
            latency: answer.latency,
            cached: answer.cached,
        })
    }

    async fn embed(&self, provider: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        let model = self.providers.get(provider).map_err(|e| call_error(&e))?;
        let request = EmbedRequest { inputs: texts.to_vec(), model: None };
        Ok(model.embed(&request).await.map_err(|e| call_error(&e))?.vectors)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.providers.flush().await
    }
}
