//! Workflows as eval targets (`workflow:<name>` in a suite's `targets`): each case runs the
//! workflow once with the case's variables as input, and the assertions see its output keys as
//! JSON. Model calls go through the same providers as the rest of the run.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Diagnostic;
use crate::workflow::{ModelCaller, PromptSource, WorkflowTarget};

/// The pseudo-provider a workflow target is paired with: a workflow's nodes name their own
/// providers, so the suite's `providers:` do not apply to it.
pub const WORKFLOW_PROVIDER: &str = "workflow";

/// Loads the workflows that `workflow:<name>` targets name.
#[async_trait]
pub trait WorkflowSource: Send + Sync + fmt::Debug {
    /// The workflow `name` (a name under `workflows/` or a path), validated and compiled. The
    /// error is a message and hints.
    async fn load(&self, name: &str) -> Result<Arc<WorkflowTarget>, (String, Vec<String>)>;
}

/// The workflows of a project.
pub struct ProjectWorkflows {
    root: PathBuf,
    prompts: Arc<dyn PromptSource>,
    caller: Arc<dyn ModelCaller>,
}

impl fmt::Debug for ProjectWorkflows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectWorkflows").field("root", &self.root).finish_non_exhaustive()
    }
}

impl ProjectWorkflows {
    /// Workflows under `root/workflows`, their prompts from `prompts`, model calls by `caller`.
    pub fn new(root: PathBuf, prompts: Arc<dyn PromptSource>, caller: Arc<dyn ModelCaller>) -> Self {
        Self { root, prompts, caller }
    }
}

#[async_trait]
impl WorkflowSource for ProjectWorkflows {
    async fn load(&self, name: &str) -> Result<Arc<WorkflowTarget>, (String, Vec<String>)> {
        WorkflowTarget::load(&self.root, name, Arc::clone(&self.prompts), Arc::clone(&self.caller))
            .await
            .map(Arc::new)
            .map_err(|err| (format!("workflow target `{name}`: {err}"), err.hints()))
    }
}
