//! The eval engine's [`Backend`] on the server: a project's provider connections (the gateway's
//! pool, with its limits, retries, cost, usage rows and response cache), and target prompts
//! rendered in the render sandbox, since their templates are their editors' code.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Diagnostic;
use crate::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use crate::gateway::{GatewayError, ProjectPool};
use crate::prompt::{CompiledPrompt, RenderSandbox, RenderedPrompt, Vars};
use crate::provider::layer::CacheMode;
use crate::provider::{EmbedRequest, request_from_rendered};
use crate::store::StoreError;

/// Models of one project, reached through its connections.
#[derive(Debug, Clone)]
pub struct PoolBackend {
    project: Arc<ProjectPool>,
    sandbox: Option<Arc<RenderSandbox>>,
    root: PathBuf,
}

impl PoolBackend {
    /// A backend over `project`'s connections, rendering in `sandbox` (in this process when none:
    /// tests and embedders that trust every prompt's author); image paths are relative to `root`.
    pub fn new(project: Arc<ProjectPool>, sandbox: Option<Arc<RenderSandbox>>, root: PathBuf) -> Self {
        Self { project, sandbox, root }
    }
}

/// A connection's failure; it ends the run where no later call can succeed (a refused or
/// missing key, a connection that cannot be built or used).
fn call_error(err: &GatewayError) -> CallError {
    match err {
        GatewayError::Provider(inner) => CallError::provider(inner),
        other => {
            let stops_run = !matches!(other, GatewayError::Limited { .. } | GatewayError::Store(_));
            CallError { message: other.to_string(), stops_run, hints: other.hints() }
        }
    }
}

#[async_trait]
impl Backend for PoolBackend {
    fn check_provider(&self, reference: &str) -> Result<(), ProviderProblem> {
        self.project.get(reference).map(|_| ()).map_err(|err| match err {
            GatewayError::UnknownModel { .. } => ProviderProblem {
                message: format!("provider `{reference}` is not a connection of this project on the server"),
                hints: vec![format!(
                    "the server's connections: {}; add one with `promptops provider add {reference} --remote NAME`",
                    crate::error::list_names(&self.project.ids())
                )],
            },
            other => ProviderProblem { message: other.to_string(), hints: other.hints() },
        })
    }

    async fn render(&self, prompt: &CompiledPrompt, vars: &Vars) -> Result<RenderedPrompt, String> {
        match &self.sandbox {
            Some(sandbox) => sandbox.render(prompt.prompt(), vars).await.map_err(|err| err.to_string()),
            None => prompt.render(vars).map_err(|err| err.to_string()),
        }
    }

    async fn complete(&self, provider: &str, prompt: &RenderedPrompt, repeat: u32) -> Result<Completion, CallError> {
        let mut request = request_from_rendered(prompt, &self.root).map_err(|err| CallError::provider(&err))?;
        if repeat > 0 {
            request.params.seed = Some(request.params.seed.unwrap_or(0).wrapping_add(i64::from(repeat)));
        }
        let answer =
            self.project.chat(provider, &request, CacheMode::ReadWrite, None).await.map_err(|e| call_error(&e))?;
        let response = answer.response;
        Ok(Completion {
            text: response.text,
            input_tokens: response.usage.input_tokens,
            output_tokens: response.usage.output_tokens,
            cost: response.cost,
            latency: response.latency,
            cached: response.cached,
        })
    }

    async fn embed(&self, provider: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        let request = EmbedRequest { inputs: texts.to_vec(), model: None };
        let answer = self.project.embed(provider, &request, CacheMode::ReadWrite).await.map_err(|e| call_error(&e))?;
        Ok(answer.vectors)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.project.flush().await
    }
}
