//! Managed prompts in gateway requests. A request names one in the first of three ways that it
//! uses: `model: "prompt:NAME@LABEL"` (also `@7`, `@latest`), body fields `prompt_id` with
//! `prompt_label` or `prompt_version` (LiteLLM's names), or the header `X-Promptops-Prompt:
//! NAME@LABEL`; variables come in `prompt_variables`. A label is resolved from the server's label
//! cache (no database read; a move clears it), the stored version is parsed once per content
//! hash, and it is rendered strictly: a missing variable is a 400 that names it, before any call.
//! `promptops serve` renders in its sandbox's worker processes (bounded in memory and time).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::KeyCaller;
use super::wire::{OpenAiError, image};
use crate::error::Diagnostic;
use crate::prompt::{
    LoadedPrompt, PromptRef, RenderError, RenderedPrompt, SandboxError, Selector, Vars, compose_prompt, has_references,
    render,
};
use crate::provider::{ChatMessage, ChatPart, rendered_messages};
use crate::server::error::ApiError;
use crate::server::handlers::langfuse::compose::Resolver;
use crate::server::handlers::prompts::by_label;
use crate::server::state::AppState;
use crate::store::VersionRecord;

/// The header naming a prompt for clients that cannot change the body.
pub const PROMPT_HEADER: &str = "x-promptops-prompt";
/// The label used when a reference names none.
pub const DEFAULT_LABEL: &str = "production";

/// A prompt named by a request.
#[derive(Debug, Clone)]
pub struct Named {
    /// The reference (a label, a number or `latest`).
    pub reference: PromptRef,
    /// Whether it came in `model` (then the version's model is the connection).
    pub in_model: bool,
}

/// A resolved and rendered prompt.
#[derive(Debug, Clone)]
pub struct Managed {
    /// The version used.
    pub version: Arc<VersionRecord>,
    /// The label it was found by.
    pub label: Option<String>,
    /// Its rendering.
    pub rendered: RenderedPrompt,
    /// The variables given.
    pub variables: Vars,
}

fn reference(text: &str, param: &str) -> Result<PromptRef, OpenAiError> {
    let mut parsed = PromptRef::from_str(text.trim())
        .map_err(|err| OpenAiError::invalid(param, "invalid_prompt", err.to_string()))?;
    if parsed.selector == Selector::WorkingCopy {
        parsed.selector = Selector::Named(DEFAULT_LABEL.to_owned());
    }
    Ok(parsed)
}

/// Which prompt the request names, if any (first match wins).
pub fn named(body: &Value, headers: &HeaderMap) -> Result<Option<Named>, OpenAiError> {
    if let Some(text) = body.get("model").and_then(Value::as_str).and_then(|m| m.strip_prefix("prompt:")) {
        return Ok(Some(Named { reference: reference(text, "model")?, in_model: true }));
    }
    if let Some(id) = super::wire::text_field(body, "prompt_id")? {
        let selector = match (super::wire::text_field(body, "prompt_label")?, body.get("prompt_version")) {
            (_, Some(version)) if !version.is_null() => {
                let number = version.as_u64().or_else(|| version.as_str().and_then(|s| s.parse().ok()));
                let number = number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    OpenAiError::invalid("prompt_version", "invalid_type", "`prompt_version` must be a version number")
                })?;
                format!("{id}@{number}")
            }
            (Some(label), _) => format!("{id}@{label}"),
            (None, _) => id.to_owned(),
        };
        return Ok(Some(Named { reference: reference(&selector, "prompt_id")?, in_model: false }));
    }
    if let Some(value) = headers.get(PROMPT_HEADER) {
        let text = value.to_str().map_err(|_| OpenAiError::invalid(PROMPT_HEADER, "invalid_prompt", "not text"))?;
        return Ok(Some(Named { reference: reference(text, PROMPT_HEADER)?, in_model: false }));
    }
    Ok(None)
}

/// The variables of `prompt_variables` (Helicone's `inputs` too).
pub fn variables(body: &Value) -> Result<Vars, OpenAiError> {
    match body.get("prompt_variables").or_else(|| body.get("inputs")) {
        None | Some(Value::Null) => Ok(Vars::new()),
        Some(Value::Object(map)) => Ok(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Some(_) => {
            Err(OpenAiError::invalid("prompt_variables", "invalid_type", "`prompt_variables` must be an object"))
        }
    }
}

fn not_found(err: ApiError) -> OpenAiError {
    match err {
        ApiError::NotFound { message, .. } => OpenAiError {
            param: Some("prompt".to_owned()),
            ..OpenAiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "prompt_not_found", message)
        },
        ApiError::BadRequest { message, .. } => OpenAiError::invalid("prompt", "invalid_prompt", message),
        other => {
            tracing::error!(error = %other, "prompt resolution failed");
            OpenAiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "internal_error", "internal error")
        }
    }
}

/// Resolves and renders the named prompt with `variables`.
pub async fn resolve(
    state: &AppState,
    key: &KeyCaller,
    named: &Named,
    variables: Vars,
) -> Result<Managed, OpenAiError> {
    let reference = &named.reference;
    if !key.limits.allows_prompt(reference.name.as_str()) {
        return Err(OpenAiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "not_allowed_for_key",
            format!("this key may not use prompt `{}`", reference.name),
        ));
    }
    let (version, label) = match &reference.selector {
        Selector::Named(label) => {
            let found = by_label(state, &key.caller, key.scope.clone(), &reference.name, label).await;
            (found.map_err(not_found)?, Some(label.clone()))
        }
        selector => {
            let registry = state.registry(key.scope.clone(), &key.caller);
            let found = registry.resolve(&reference.name, selector).await.map_err(|e| not_found(e.into()))?;
            (Arc::new(found), None)
        }
    };
    let mut loaded = parsed(state, &version)?;
    if loaded.file.messages.iter().any(|m| has_references(&m.content.text())) {
        // Composition references resolve as the Langfuse route and the CLI resolve them.
        let source = Resolver::rendered(state, &key.caller, &key.scope);
        let composed = compose_prompt(loaded.as_ref().clone(), &source).await.map_err(|err| {
            let message = format!("{err}; fix the stored version or the prompt it references");
            OpenAiError::new(StatusCode::CONFLICT, "invalid_request_error", "unresolvable_reference", message)
        })?;
        loaded = Arc::new(composed);
    }
    let rendered = match &state.config.render_sandbox {
        Some(sandbox) => sandbox.render(&loaded, &variables).await.map_err(sandbox_error)?,
        None => render(&loaded, &variables).map_err(render_error)?,
    };
    Ok(Managed { version, label, rendered, variables })
}

fn parsed(state: &AppState, version: &VersionRecord) -> Result<Arc<LoadedPrompt>, OpenAiError> {
    let cache = &state.gateway.parsed;
    if let Some(found) = cache.get(&version.meta.hash) {
        return Ok(found);
    }
    let origin = PathBuf::from(format!("{}@{}", version.meta.name, version.meta.number));
    let loaded =
        LoadedPrompt::parse(version.meta.name.clone(), origin, version.source.clone(), version.partials.clone())
            .map_err(|err| OpenAiError::invalid("prompt", "invalid_prompt", err.to_string()))?;
    let loaded = Arc::new(loaded);
    cache.put(version.meta.hash.clone(), Arc::clone(&loaded));
    Ok(loaded)
}

fn sandbox_error(err: SandboxError) -> OpenAiError {
    let message = err.to_string();
    match err {
        SandboxError::Render(err) => render_error(err),
        SandboxError::TimedOut { .. } | SandboxError::OutOfMemory { .. } => {
            let hint = err.hints().join("; ");
            OpenAiError::invalid("prompt", "prompt_render_limit", format!("{message}; {hint}"))
        }
        SandboxError::Worker(_) => {
            tracing::error!(error = %message, "the render sandbox failed");
            OpenAiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "internal_error", "internal error")
        }
    }
}

fn render_error(err: RenderError) -> OpenAiError {
    let message = err.to_string();
    match err {
        RenderError::Missing { name, .. } => {
            OpenAiError::invalid(&format!("prompt_variables.{name}"), "missing_prompt_variables", message)
        }
        RenderError::WrongType { name, .. }
        | RenderError::NotAllowed { name, .. }
        | RenderError::Placeholder { name, .. } => {
            OpenAiError::invalid(&format!("prompt_variables.{name}"), "invalid_prompt_variables", message)
        }
        RenderError::Template(_) => OpenAiError::invalid("prompt_variables", "invalid_prompt_variables", message),
    }
}

/// The rendered messages as the provider layer takes them (images by URL only).
pub fn messages(rendered: &RenderedPrompt) -> Result<Vec<ChatMessage>, OpenAiError> {
    rendered_messages(rendered, |source| match image(source, "prompt")? {
        ChatPart::Image(image) => Ok(image),
        ChatPart::Text(_) => Err(OpenAiError::invalid("prompt", "invalid_image", "not an image")),
    })
}
