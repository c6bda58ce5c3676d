//! The response-schema check: when a request declares a JSON Schema, the answer must be JSON
//! (a surrounding Markdown code fence is tolerated) that satisfies it. The parsed value is put
//! in [`ChatResponse::json`]; anything else becomes [`ProviderError::SchemaMismatch`], which
//! keeps the raw answer for reports. It sits outside cost accounting, so a rejected answer is
//! still paid for and counted, and outside nothing that caches, so it is never cached.

use std::sync::Arc;

use async_trait::async_trait;

use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo,
};

/// Wraps a provider with the response-schema check.
#[derive(Debug)]
pub struct SchemaCheck {
    inner: Arc<dyn Provider>,
}

impl SchemaCheck {
    /// Checks answers of `inner`.
    pub fn new(inner: Arc<dyn Provider>) -> Self {
        Self { inner }
    }
}

/// The answer without a Markdown code fence around it.
fn unfenced(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(body) = trimmed.strip_prefix("```") else { return trimmed };
    let body = body.split_once('\n').map_or("", |(_, rest)| rest);
    body.strip_suffix("```").unwrap_or(body).trim()
}

/// Parses and validates `text` against `schema`.
pub fn check(provider: &str, schema: &serde_json::Value, text: &str) -> Result<serde_json::Value, ProviderError> {
    let mismatch = |reason: String| ProviderError::SchemaMismatch {
        provider: provider.to_owned(),
        reason,
        output: text.to_owned(),
    };
    let value: serde_json::Value = serde_json::from_str(unfenced(text)).map_err(|_| {
        mismatch(format!(
            "text that is not JSON where the prompt declares a response schema: {}",
            super::super::http::excerpt(text.trim(), 80)
        ))
    })?;
    let validator = jsonschema::validator_for(schema).map_err(|err| ProviderError::Config {
        provider: provider.to_owned(),
        message: format!("the response schema is invalid: {err}"),
        hint: Some("run `promptops prompt validate`".to_owned()),
    })?;
    if let Some(error) = validator.iter_errors(&value).next() {
        let at = error.instance_path.to_string();
        let at = if at.is_empty() { String::new() } else { format!(" at `{at}`") };
        return Err(mismatch(format!("JSON that does not match the response schema{at}: {error}")));
    }
    Ok(value)
}

#[async_trait]
impl Provider for SchemaCheck {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let mut response = self.inner.chat(request, on_delta).await?;
        if let Some(schema) = &request.response_schema {
            response.json = Some(check(&response.provider, schema, &response.text)?);
        }
        Ok(response)
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        self.inner.embed(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fenced_json_is_accepted_and_prose_is_not() {
        let schema = json!({ "type": "object", "required": ["category"], "properties": { "category": { "enum": ["billing", "other"] } } });
        assert_eq!(
            check("p", &schema, "```json\n{\"category\": \"billing\"}\n```").expect("valid"),
            json!({ "category": "billing" })
        );
        let err = check("p", &schema, "Sure! The category is billing.").expect_err("prose");
        assert!(err.to_string().contains("not JSON"), "{err}");
        let err = check("p", &schema, "{\"category\": \"refunds\"}").expect_err("wrong value");
        assert!(err.to_string().contains("at `/category`"), "{err}");
        assert!(matches!(err, ProviderError::SchemaMismatch { ref output, .. } if output.contains("refunds")));
    }
}
