//! The request timeout: one attempt may take at most `limits.timeout_s`. It wraps the wire
//! call only (inside retries, after the concurrency and rate limits), so that waiting for a slot
//! is not mistaken for a slow provider. A timed-out call is dropped, which closes its
//! connection or kills its `exec` child.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo,
};

/// Wraps a provider with a per-attempt deadline.
#[derive(Debug)]
pub struct Timeout {
    inner: Arc<dyn Provider>,
    after: Duration,
}

impl Timeout {
    /// Fails any call that takes longer than `after`.
    pub fn new(inner: Arc<dyn Provider>, after: Duration) -> Self {
        Self { inner, after }
    }

    fn expired(&self) -> ProviderError {
        ProviderError::Timeout { provider: self.inner.info().id.clone(), after: self.after }
    }
}

#[async_trait]
impl Provider for Timeout {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        tokio::time::timeout(self.after, self.inner.chat(request, on_delta))
            .await
            .unwrap_or_else(|_| Err(self.expired()))
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        tokio::time::timeout(self.after, self.inner.embed(request)).await.unwrap_or_else(|_| Err(self.expired()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::fake::Scripted;

    #[tokio::test(start_paused = true)]
    async fn slow_calls_time_out() {
        let slow = Arc::new(Scripted::ok_after(Duration::from_secs(10)));
        let limited = Timeout::new(slow, Duration::from_secs(2));
        let err = limited.chat(&ChatRequest::user("x"), None).await.expect_err("times out");
        assert!(matches!(err, ProviderError::Timeout { after, .. } if after == Duration::from_secs(2)));
        assert!(err.is_retryable());
    }
}
