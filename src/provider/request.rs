//! Turning a [`RenderedPrompt`] into a [`ChatRequest`]: messages and parts carried over, images
//! loaded from inside the project root, parameters and the response schema kept.

use std::path::Path;

use super::error::ProviderError;
use super::image::load_image;
use super::types::{ChatMessage, ChatPart, ChatRequest, Image};
use crate::prompt::{Content, Part, RenderedPrompt};

/// Builds the request for a rendered prompt; image paths are relative to `project_root`.
pub fn request_from_rendered(rendered: &RenderedPrompt, project_root: &Path) -> Result<ChatRequest, ProviderError> {
    Ok(ChatRequest {
        prompt: Some(rendered.name.to_string()),
        messages: rendered_messages(rendered, |source| load_image(source, project_root))?,
        params: rendered.params.clone(),
        response_schema: rendered.response_schema.clone(),
    })
}

/// The messages of a rendered prompt, with image parts made by `image` (the server's refuses
/// file paths, which would read its own disk).
pub fn rendered_messages<E>(
    rendered: &RenderedPrompt,
    image: impl Fn(&str) -> Result<Image, E>,
) -> Result<Vec<ChatMessage>, E> {
    let mut messages = Vec::with_capacity(rendered.messages.len());
    for message in &rendered.messages {
        let parts = match &message.content {
            Content::Text(text) => vec![ChatPart::Text(text.clone())],
            Content::Parts(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Text(text) => Ok(ChatPart::Text(text.clone())),
                    Part::Image(source) => image(source).map(ChatPart::Image),
                })
                .collect::<Result<_, _>>()?,
        };
        messages.push(ChatMessage { role: message.role, parts });
    }
    Ok(messages)
}
