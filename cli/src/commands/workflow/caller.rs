//! The model caller the CLI hands to the workflow executor.
//!
//! Until the provider layer is part of this build, prompt and router nodes fail with a clear
//! message; tool, human and expression-router workflows run as usual.

use async_trait::async_trait;
use promptops::config::Project;
use promptops::error::ErrorClass;
use promptops::workflow::{ModelCall, ModelCaller, ModelError, ModelReply};

/// Calls models for workflow nodes.
#[derive(Debug)]
pub struct ProjectCaller;

impl ProjectCaller {
    /// The caller for `project`.
    pub fn new(_project: &Project, _no_cache: bool) -> Self {
        Self
    }
}

#[async_trait]
impl ModelCaller for ProjectCaller {
    async fn call(&self, call: ModelCall<'_>) -> Result<ModelReply, ModelError> {
        Err(ModelError {
            message: format!("node `{}` needs a model provider, and this build has none", call.node),
            class: ErrorClass::Config,
            hints: vec!["use tool and expression-router nodes, or a build with providers".to_owned()],
        })
    }
}
