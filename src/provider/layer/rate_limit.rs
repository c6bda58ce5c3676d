//! Requests-per-minute and tokens-per-minute limits as token buckets. A bucket holds one
//! second's worth of its rate (so bursts stay small and any 60-second window sees at most the
//! limit plus that second) and refills continuously. The TPM bucket is charged an estimate
//! before the call (input estimate plus `max_tokens`, or 256) and corrected with the real usage
//! after it. Time is tokio's, so tests run on paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo,
};

/// Output tokens assumed when a request sets no `max_tokens`.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// A continuously refilled token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A bucket for `per_minute` units, starting full.
    pub fn per_minute(per_minute: u64) -> Self {
        let per_second = (per_minute.max(1) as f64) / 60.0;
        let capacity = per_second.max(1.0);
        Self { per_second, capacity, state: Mutex::new((capacity, Instant::now())) }
    }

    /// Waits until `amount` units can be taken, then takes them. An amount larger than the
    /// bucket is allowed once the bucket is full, leaving it in debt, so no request waits forever.
    pub async fn take(&self, amount: u64) {
        let amount = amount as f64;
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let (tokens, last) = *state;
                let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.capacity);
                let needed = amount.min(self.capacity);
                if tokens >= needed {
                    *state = (tokens - amount, now);
                    return;
                }
                *state = (tokens, now);
                Duration::from_secs_f64((needed - tokens) / self.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Adds (positive) or removes (negative) units after the fact, e.g. when real usage differs
    /// from the estimate.
    pub fn adjust(&self, delta: f64) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 = (state.0 + delta).min(self.capacity);
    }
}

/// Wraps a provider with RPM and/or TPM buckets.
#[derive(Debug)]
pub struct RateLimit {
    inner: Arc<dyn Provider>,
    requests: Option<TokenBucket>,
    tokens: Option<TokenBucket>,
}

impl RateLimit {
    /// Limits to `rpm` requests and `tpm` tokens per minute (either may be absent).
    pub fn new(inner: Arc<dyn Provider>, rpm: Option<u32>, tpm: Option<u64>) -> Self {
        Self {
            inner,
            requests: rpm.map(|r| TokenBucket::per_minute(u64::from(r))),
            tokens: tpm.map(TokenBucket::per_minute),
        }
    }
}

/// The tokens a request is expected to use, before the provider says.
pub fn estimated_tokens(request: &ChatRequest) -> u64 {
    let output = request.params.max_tokens.map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
    request.estimated_input_tokens() + output
}

#[async_trait]
impl Provider for RateLimit {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        if let Some(bucket) = &self.requests {
            bucket.take(1).await;
        }
        let estimate = estimated_tokens(request);
        if let Some(bucket) = &self.tokens {
            bucket.take(estimate).await;
        }
        let result = self.inner.chat(request, on_delta).await;
        if let (Some(bucket), Ok(response)) = (&self.tokens, &result) {
            bucket.adjust(estimate as f64 - response.usage.total() as f64);
        }
        result
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        if let Some(bucket) = &self.requests {
            bucket.take(1).await;
        }
        let estimate: u64 = request.inputs.iter().map(|t| (t.len() as u64).div_ceil(4)).sum();
        if let Some(bucket) = &self.tokens {
            bucket.take(estimate).await;
        }
        self.inner.embed(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Usage;
    use crate::provider::fake::Scripted;

    async fn run_for(limited: Arc<RateLimit>, calls: usize) -> Vec<Duration> {
        let start = Instant::now();
        let tasks = (0..calls).map(|_| {
            let limited = limited.clone();
            tokio::spawn(async move {
                limited.chat(&ChatRequest::user("x"), None).await.expect("ok");
                start.elapsed()
            })
        });
        let mut done: Vec<Duration> =
            futures::future::join_all(tasks).await.into_iter().map(|t| t.expect("task")).collect();
        done.sort();
        done
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_holds_within_a_second_of_burst() {
        // 600 rpm = 10 per second; 100 calls need about 9 seconds after the first 10.
        let limited = Arc::new(RateLimit::new(Arc::new(Scripted::new("f", "m")), Some(600), None));
        let done = run_for(limited, 100).await;
        let last = done.last().copied().unwrap_or_default();
        assert!(last >= Duration::from_millis(8_900) && last <= Duration::from_millis(9_100), "{last:?}");
        // No window of one second holds more than 10 + the initial burst of 10.
        for (i, t) in done.iter().enumerate() {
            let in_window = done[i..].iter().take_while(|u| **u < *t + Duration::from_secs(1)).count();
            assert!(in_window <= 20, "{in_window} calls in one second from {t:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_counts_real_usage() {
        // 60,000 tpm = 1,000 tokens per second; each call really uses 500 tokens, so 40 calls
        // take about 20 seconds minus the first second's bucket.
        let usage = Usage { input_tokens: 400, output_tokens: 100, cached_input_tokens: 0 };
        let fake = Arc::new(Scripted::new("f", "m").with_usage(usage));
        let limited = Arc::new(RateLimit::new(fake, None, Some(60_000)));
        let done = run_for(limited, 40).await;
        let last = done.last().copied().unwrap_or_default();
        assert!(last >= Duration::from_millis(18_000) && last <= Duration::from_millis(20_500), "{last:?}");
    }
}
