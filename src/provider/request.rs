//! Turning a [`RenderedPrompt`] into a [`ChatRequest`]: messages and parts carried over, images
//! loaded from inside the project root, parameters and the response schema kept.

use std::path::Path;

use super::error::ProviderError;
use super::image::load_image;
use super::types::{ChatMessage, ChatPart, ChatRequest};
use crate::prompt::{Content, Part, RenderedPrompt};

/// Builds the request for a rendered prompt; image paths are relative to `project_root`.
pub fn request_from_rendered(rendered: &RenderedPrompt, project_root: &Path) -> Result<ChatRequest, ProviderError> {
    let mut messages = Vec::with_capacity(rendered.messages.len());
    for message in &rendered.messages {
        let parts = match &message.content {
            Content::Text(text) => vec![ChatPart::Text(text.clone())],
            Content::Parts(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Text(text) => Ok(ChatPart::Text(text.clone())),
                    Part::Image(source) => load_image(source, project_root).map(ChatPart::Image),
                })
                .collect::<Result<_, _>>()?,
        };
        messages.push(ChatMessage { role: message.role, parts });
    }
    Ok(ChatRequest {
        prompt: Some(rendered.name.to_string()),
        messages,
        params: rendered.params.clone(),
        response_schema: rendered.response_schema.clone(),
    })
}
