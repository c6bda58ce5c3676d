//! Retries with exponential backoff and full jitter (a random wait between zero and
//! `backoff × 2^attempt`, capped), honouring `Retry-After` when the provider sends it. Only
//! retryable failures are retried (429, 5xx, timeouts, connection errors, early stream ends);
//! 401/403 and other client errors fail at once. A stream that has already passed text to the
//! caller is never retried, since the caller cannot take the text back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo,
};

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff ceiling.
    pub backoff: Duration,
    /// The largest backoff ceiling.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a provider asking for more fails at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retry` (1-based), or `None` to give up.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(asked) = retry_after {
            return (asked <= self.max_retry_after).then_some(asked);
        }
        let ceiling = self.backoff.saturating_mul(1u32 << (retry - 1).min(20)).min(self.max_backoff);
        let jittered = rand::rng().random_range(0.0..=1.0) * ceiling.as_secs_f64();
        Some(Duration::from_secs_f64(jittered))
    }
}

/// Wraps a provider with retries.
#[derive(Debug)]
pub struct Retry {
    inner: Arc<dyn Provider>,
    policy: RetryPolicy,
}

impl Retry {
    /// Retries per `policy`.
    pub fn new(inner: Arc<dyn Provider>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    /// Waits before the next attempt if `err` allows one; returns false to give up.
    async fn backoff(&self, attempt: u32, err: &ProviderError, streamed: bool) -> bool {
        if streamed || !err.is_retryable() || attempt > self.policy.max_retries {
            return false;
        }
        match self.policy.delay(attempt, err.retry_after()) {
            Some(wait) => {
                tracing::debug!(provider = %self.inner.info().id, attempt, ?wait, error = %err, "retrying");
                tokio::time::sleep(wait).await;
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl Provider for Retry {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        mut on_delta: Option<OnDelta<'_>>,
    ) -> Result<ChatResponse, ProviderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut streamed = false;
            let result = match on_delta.as_deref_mut() {
                Some(sink) => {
                    let mut tracking = |delta: &str| {
                        streamed = true;
                        sink(delta);
                    };
                    self.inner.chat(request, Some(&mut tracking)).await
                }
                None => self.inner.chat(request, None).await,
            };
            match result {
                Ok(mut response) => {
                    response.attempts = attempt;
                    return Ok(response);
                }
                Err(err) => {
                    if !self.backoff(attempt, &err, streamed).await {
                        return Err(err);
                    }
                }
            }
        }
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.inner.embed(request).await {
                Ok(response) => return Ok(response),
                Err(err) => {
                    if !self.backoff(attempt, &err, false).await {
                        return Err(err);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::fake::{Scripted, Step};
    use tokio::time::Instant;

    fn limited(after: Option<u64>) -> Step {
        Step::Fail(ProviderError::RateLimited {
            provider: "f".into(),
            message: "slow down".into(),
            retry_after: after.map(Duration::from_secs),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_then_succeeds() {
        let fake = Arc::new(Scripted::new("f", "m"));
        fake.push([limited(Some(2)), limited(Some(3)), Step::Answer("done".into())]);
        let retry = Retry::new(fake.clone(), RetryPolicy::default());
        let start = Instant::now();
        let response = retry.chat(&ChatRequest::user("x"), None).await.expect("ok");
        assert_eq!((response.text.as_str(), response.attempts, fake.calls()), ("done", 3, 3));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_jittered_under_an_exponential_ceiling() {
        let fake = Arc::new(Scripted::new("f", "m"));
        fake.push([limited(None), limited(None), limited(None)]);
        let policy = RetryPolicy { max_retries: 3, backoff: Duration::from_secs(1), ..RetryPolicy::default() };
        let start = Instant::now();
        Retry::new(fake.clone(), policy).chat(&ChatRequest::user("x"), None).await.expect("ok");
        // Ceilings 1 s + 2 s + 4 s.
        assert!(start.elapsed() <= Duration::from_secs(7), "{:?}", start.elapsed());
        assert_eq!(fake.calls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn auth_errors_are_not_retried_and_attempts_are_capped() {
        let fake = Arc::new(Scripted::new("f", "m"));
        fake.push([Step::Fail(ProviderError::Auth {
            provider: "f".into(),
            status: 401,
            message: "bad key".into(),
            env_var: None,
        })]);
        let retry = Retry::new(fake.clone(), RetryPolicy::default());
        assert!(matches!(retry.chat(&ChatRequest::user("x"), None).await, Err(ProviderError::Auth { .. })));
        assert_eq!(fake.calls(), 1);

        let fake = Arc::new(Scripted::new("f", "m"));
        fake.push((0..10).map(|_| limited(Some(1))));
        let retry = Retry::new(fake.clone(), RetryPolicy { max_retries: 2, ..RetryPolicy::default() });
        assert!(retry.chat(&ChatRequest::user("x"), None).await.is_err());
        assert_eq!(fake.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_already_sent_text_is_not_retried() {
        struct HalfStream;
        impl std::fmt::Debug for HalfStream {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("HalfStream")
            }
        }
        #[async_trait]
        impl Provider for HalfStream {
            fn info(&self) -> &ProviderInfo {
                static INFO: std::sync::OnceLock<ProviderInfo> = std::sync::OnceLock::new();
                INFO.get_or_init(|| ProviderInfo {
                    id: "h".into(),
                    kind: crate::config::ProviderKind::Openai,
                    model: "m".into(),
                })
            }
            async fn chat(
                &self,
                _: &ChatRequest,
                on_delta: Option<OnDelta<'_>>,
            ) -> Result<ChatResponse, ProviderError> {
                if let Some(sink) = on_delta {
                    sink("partial ");
                }
                Err(ProviderError::StreamEnded { provider: "h".into(), detail: "cut".into() })
            }
        }
        let retry = Retry::new(Arc::new(HalfStream), RetryPolicy::default());
        let mut seen = String::new();
        let mut sink = |d: &str| seen.push_str(d);
        assert!(retry.chat(&ChatRequest::user("x"), Some(&mut sink)).await.is_err());
        assert_eq!(seen, "partial ");
    }
}
