//! The seam between the eval engine and the models: [`Backend`] produces an output for a
//! rendered prompt on a provider, embeds texts, and says up front whether a provider reference
//! resolves. The real implementation goes through the provider layers (cache, limits, retries,
//! budgets, cost); tests and benchmarks can plug in a fake.

use std::time::Duration;

use async_trait::async_trait;

use crate::money::Micros;
use crate::prompt::{CompiledPrompt, RenderedPrompt, Vars};
use crate::store::StoreError;

/// One answer of a model, with what it cost to get.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    /// The answer's text.
    pub text: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// What the call cost (zero for a cache hit).
    pub cost: Micros,
    /// Wall time of the call.
    pub latency: Duration,
    /// Whether the answer came from the response cache.
    pub cached: bool,
}

/// A failed call: the provider, the network or the budget said no. The case is an error; when
/// every later call would fail the same way (a refused or missing key, a spent budget), the run
/// stops instead of paying for the same error on every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// What went wrong, for the report.
    pub message: String,
    /// Whether this ends the run.
    pub stops_run: bool,
    /// How to fix it, when it ends the run.
    pub hints: Vec<String>,
}

impl CallError {
    /// A failure of this case alone.
    pub fn case(message: impl Into<String>) -> Self {
        Self { message: message.into(), stops_run: false, hints: Vec::new() }
    }

    /// A provider's failure, ending the run when no later call can succeed.
    pub fn provider(err: &crate::provider::ProviderError) -> Self {
        use crate::error::Diagnostic;
        Self { message: err.to_string(), stops_run: err.stops_run(), hints: err.hints() }
    }
}

/// Why a provider reference cannot be used, found before any call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderProblem {
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hints: Vec<String>,
}

/// Produces outputs for the runner. Shared by every case of a run, so implementations hold
/// their providers (and their limits) once.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Checks that `reference` names a usable provider (an id or `kind:model`).
    fn check_provider(&self, reference: &str) -> Result<(), ProviderProblem>;

    /// Renders a target prompt with a case's variables: in this process, unless the backend
    /// runs someone else's templates (the server renders in its sandbox).
    async fn render(&self, prompt: &CompiledPrompt, vars: &Vars) -> Result<RenderedPrompt, String> {
        prompt.render(vars).map_err(|err| err.to_string())
    }

    /// Runs a rendered prompt on a provider. `repeat` is the case's repeat (0 for the first
    /// run): a repeat after the first asks for a fresh answer, since repeating a cached one
    /// would measure nothing.
    async fn complete(&self, provider: &str, prompt: &RenderedPrompt, repeat: u32) -> Result<Completion, CallError>;

    /// Embeds texts, one vector per text, in order.
    async fn embed(&self, provider: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, CallError>;

    /// Waits for background writes (cache entries, usage rows) to finish, and says which of
    /// them failed: a lost usage row is spend that budgets never see.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
