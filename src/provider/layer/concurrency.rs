//! The concurrency limit: at most `limits.concurrency` calls of one provider in flight, shared
//! by every caller of that provider in the process. Waiting for a slot does not count against
//! the request timeout, which wraps only the wire call.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo,
};

/// Wraps a provider with a fixed number of slots.
#[derive(Debug)]
pub struct ConcurrencyLimit {
    inner: Arc<dyn Provider>,
    slots: Arc<Semaphore>,
}

impl ConcurrencyLimit {
    /// At most `limit` (at least 1) calls at once.
    pub fn new(inner: Arc<dyn Provider>, limit: u32) -> Self {
        Self { inner, slots: Arc::new(Semaphore::new(limit.max(1) as usize)) }
    }
}

#[async_trait]
impl Provider for ConcurrencyLimit {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let _slot = self.slots.acquire().await.expect("invariant: the semaphore is never closed");
        self.inner.chat(request, on_delta).await
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let _slot = self.slots.acquire().await.expect("invariant: the semaphore is never closed");
        self.inner.embed(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::fake::Scripted;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_flight() {
        let fake = Arc::new(Scripted::ok_after(std::time::Duration::from_millis(100)));
        let limited = Arc::new(ConcurrencyLimit::new(fake.clone(), 3));
        let calls = (0..10).map(|_| {
            let limited = limited.clone();
            tokio::spawn(async move { limited.chat(&ChatRequest::user("x"), None).await })
        });
        for call in futures::future::join_all(calls).await {
            call.expect("task").expect("ok");
        }
        assert_eq!(fake.peak_in_flight(), 3);
    }
}
