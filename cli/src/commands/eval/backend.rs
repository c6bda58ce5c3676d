//! The models behind `eval`: the project's providers through the inference layers. The
//! provider layer is not in this build yet, so every provider reference is reported as
//! unavailable during planning, before any case runs.

use std::sync::Arc;

use async_trait::async_trait;
use promptops::config::Project;
use promptops::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use promptops::prompt::RenderedPrompt;

use crate::context::LocalStore;

/// Choices that shape the provider layers.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--max-cost`, in dollars.
    pub max_cost: Option<f64>,
}

/// The backend for a project.
pub fn backend(project: &Project, store: &LocalStore, options: &BackendOptions) -> anyhow::Result<Arc<dyn Backend>> {
    let BackendOptions { no_cache, max_cost } = options;
    let _ = (project, store, no_cache, max_cost);
    Ok(Arc::new(Unavailable))
}

#[derive(Debug)]
struct Unavailable;

#[async_trait]
impl Backend for Unavailable {
    fn check_provider(&self, reference: &str) -> Result<(), ProviderProblem> {
        Err(ProviderProblem {
            message: format!("provider `{reference}` is not available in this build"),
            hints: Vec::new(),
        })
    }
    async fn complete(&self, provider: &str, _: &RenderedPrompt, _: u32) -> Result<Completion, CallError> {
        Err(CallError { message: format!("provider `{provider}` is not available in this build") })
    }
    async fn embed(&self, provider: &str, _: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        Err(CallError { message: format!("provider `{provider}` is not available in this build") })
    }
}
