//! Prompt composition on the server: the library's [`Composer`] resolves references against the
//! caller's project (labels through the server's label cache). The Langfuse route splices each
//! referenced template as Langfuse's `compile()` fills it and reports `resolutionGraph`; the
//! gateway's managed prompts splice the template as written, with its partials, and render it.

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::convert::{langfuse_template, stored_file};
use crate::access::Scope;
use crate::prompt::{Composer, FetchError, PromptKind, PromptName, ReferenceSource, Referenced, Selector};
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::handlers::prompts::by_label;
use crate::server::state::AppState;

/// Where the resolution runs.
pub struct Resolver<'a> {
    /// The server.
    pub state: &'a AppState,
    /// Who asks.
    pub caller: &'a Caller,
    /// The project.
    pub scope: &'a Scope,
    /// Referenced templates as Langfuse's `compile()` fills them (else as written).
    langfuse: bool,
}

impl std::fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("langfuse", &self.langfuse).finish_non_exhaustive()
    }
}

impl ReferenceSource for Resolver<'_> {
    fn fetch<'a>(
        &'a self,
        name: &'a PromptName,
        selector: &'a Selector,
    ) -> BoxFuture<'a, Result<Referenced, FetchError>> {
        Box::pin(async move {
            let record = match selector {
                Selector::Named(label) => {
                    by_label(self.state, self.caller, self.scope.clone(), name, label).await.map(|r| r.as_ref().clone())
                }
                other => self
                    .state
                    .registry(self.scope.clone(), self.caller)
                    .resolve(name, other)
                    .await
                    .map_err(ApiError::from),
            };
            let record = record.map_err(|err| FetchError::Missing(err.to_string().into()))?;
            if !self.langfuse {
                return Referenced::from_stored(name, record.meta.number, record.source, record.partials);
            }
            let file = stored_file(&record).map_err(FetchError::Unusable)?;
            let text = match (file.kind(), file.text()) {
                (PromptKind::Text, Some(text)) => {
                    Some(langfuse_template(text, &record.partials, 0).map_err(FetchError::Unusable)?)
                }
                _ => None,
            };
            Ok(Referenced {
                number: record.meta.number,
                text,
                partials: Default::default(),
                variables: Default::default(),
            })
        })
    }
}

impl<'a> Resolver<'a> {
    /// A resolver for one prompt served by the Langfuse route.
    pub fn new(state: &'a AppState, caller: &'a Caller, scope: &'a Scope) -> Self {
        Self { state, caller, scope, langfuse: true }
    }

    /// A resolver for a prompt rendered by the server itself (the gateway's managed prompts).
    pub fn rendered(state: &'a AppState, caller: &'a Caller, scope: &'a Scope) -> Self {
        Self { state, caller, scope, langfuse: false }
    }

    /// `prompt` (a served text or message list) with every reference replaced, and the
    /// `resolutionGraph` (`null` without references). `root` is the served version's
    /// `(id, name, version)`; `version` is `None` for a version not stored yet (a create).
    pub async fn resolve(
        self,
        prompt: Value,
        root: (String, PromptName, Option<u32>),
    ) -> Result<(Value, Value), String> {
        let (id, name, version) = root;
        let mut composer = Composer::new(&self);
        let resolved = match prompt {
            Value::String(text) => Value::String(composer.compose(&text, &name).await.map_err(|e| e.to_string())?),
            Value::Array(messages) => {
                let mut out = Vec::with_capacity(messages.len());
                for mut message in messages {
                    if let Some(Value::String(content)) = message.get_mut("content") {
                        *content = composer.compose(content, &name).await.map_err(|e| e.to_string())?;
                    }
                    out.push(message);
                }
                Value::Array(out)
            }
            other => other,
        };
        if composer.edges.is_empty() {
            return Ok((resolved, Value::Null));
        }
        let node_id = |name: &PromptName, number: u32| {
            format!("{}:{}:{name}:{number}", self.scope.tenant(), self.scope.project())
        };
        let mut dependencies = Map::new();
        for edge in &composer.edges {
            let parent = edge.parent.as_ref().map_or_else(|| id.clone(), |(name, number)| node_id(name, *number));
            let node = json!({"id": node_id(&edge.name, edge.version), "name": edge.name, "version": edge.version});
            if let Value::Array(children) = dependencies.entry(parent).or_insert_with(|| Value::Array(Vec::new()))
                && !children.contains(&node)
            {
                children.push(node);
            }
        }
        let graph = json!({"root": {"id": id, "name": name, "version": version}, "dependencies": dependencies});
        Ok((resolved, graph))
    }
}
