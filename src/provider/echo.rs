//! The `echo` provider: answers with the rendered prompt itself, one `[role]` header per
//! message, so that templates can be checked in pipelines without a model.

use async_trait::async_trait;

use super::error::ProviderError;
use super::mock::estimate_usage;
use super::types::{ChatPart, ChatRequest, ChatResponse, OnDelta};
use super::{Provider, ProviderInfo};

/// Returns the rendered prompt.
#[derive(Debug)]
pub(crate) struct Echo {
    info: ProviderInfo,
}

impl Echo {
    pub(crate) fn new(info: ProviderInfo) -> Self {
        Self { info }
    }
}

/// The request as text: `[role]` and the message's parts, images shown by their source.
pub(crate) fn transcript(request: &ChatRequest) -> String {
    let mut out = String::new();
    for message in &request.messages {
        out.push_str(&format!("[{}]\n", message.role.as_str()));
        for part in &message.parts {
            match part {
                ChatPart::Text(text) => out.push_str(text),
                ChatPart::Image(super::Image::Url { url }) => out.push_str(&format!("<image: {url}>")),
                ChatPart::Image(super::Image::Base64 { media_type, data }) => {
                    out.push_str(&format!("<image: {media_type}, {} base64 characters>", data.len()));
                }
            }
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

#[async_trait]
impl Provider for Echo {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let text = transcript(request);
        if let Some(on_delta) = on_delta {
            on_delta(&text);
        }
        let usage = estimate_usage(request, &text);
        Ok(ChatResponse::new(&self.info.id, &self.info.model, text, usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKind;
    use crate::prompt::Role;
    use crate::provider::ChatMessage;

    #[tokio::test]
    async fn echoes_every_message() {
        let echo = Echo::new(ProviderInfo { id: "e".into(), kind: ProviderKind::Echo, model: "echo".into() });
        let request = ChatRequest {
            messages: vec![ChatMessage::text(Role::System, "Be kind."), ChatMessage::text(Role::User, "Hi")],
            ..ChatRequest::default()
        };
        assert_eq!(echo.chat(&request, None).await.expect("ok").text, "[system]\nBe kind.\n[user]\nHi");
    }
}
