//! Adaptive concurrency (AIMD): the number of calls allowed in flight halves when the provider
//! answers 429 and grows by one after as many successes in a row as the current limit, up to
//! the configured maximum. When a response says how many requests remain in the provider's
//! window (`x-ratelimit-remaining-requests`), the limit does not grow past that, and a window
//! reported empty (no requests or no tokens remaining) halves it like a 429. Slots are a
//! semaphore whose permits are added when the limit grows and retired when it shrinks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo,
    RateLimitInfo,
};

/// Two 429s closer together than this count as one congestion signal: a burst of concurrent
/// calls all failing at once must not halve the limit once per call.
const DECREASE_SPACING: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct State {
    limit: u32,
    /// Permits to retire as they come back, after a decrease.
    debt: u32,
    successes: u32,
    last_decrease: Option<Instant>,
}

/// Wraps a provider with an AIMD concurrency limit.
#[derive(Debug)]
pub struct AdaptiveConcurrency {
    inner: Arc<dyn Provider>,
    max: u32,
    slots: Arc<Semaphore>,
    state: Arc<Mutex<State>>,
}

/// A slot that returns itself, or retires itself if the limit shrank meanwhile.
struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    state: Arc<Mutex<State>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.debt > 0 {
            state.debt -= 1;
            if let Some(permit) = self.permit.take() {
                permit.forget();
            }
        }
    }
}

impl AdaptiveConcurrency {
    /// Starts at `max` calls in flight and never goes above it.
    pub fn new(inner: Arc<dyn Provider>, max: u32) -> Self {
        let max = max.max(1);
        Self {
            inner,
            max,
            slots: Arc::new(Semaphore::new(max as usize)),
            state: Arc::new(Mutex::new(State { limit: max, debt: 0, successes: 0, last_decrease: None })),
        }
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.lock().limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn slot(&self) -> Slot {
        let permit = Arc::clone(&self.slots).acquire_owned().await.expect("invariant: the semaphore is never closed");
        Slot { permit: Some(permit), state: Arc::clone(&self.state) }
    }

    fn on_rate_limited(&self) {
        let mut state = self.lock();
        let now = Instant::now();
        if state.last_decrease.is_some_and(|at| now.duration_since(at) < DECREASE_SPACING) {
            return;
        }
        let new_limit = (state.limit / 2).max(1);
        state.debt += state.limit - new_limit;
        state.limit = new_limit;
        state.successes = 0;
        state.last_decrease = Some(now);
        tracing::debug!(provider = %self.inner.info().id, limit = new_limit, "429: concurrency halved");
    }

    fn on_success(&self, remaining_requests: Option<u64>) {
        let mut state = self.lock();
        state.successes += 1;
        let headroom = remaining_requests.is_none_or(|r| r > u64::from(state.limit));
        if state.successes >= state.limit && state.limit < self.max && headroom {
            state.successes = 0;
            state.limit += 1;
            if state.debt > 0 {
                state.debt -= 1;
            } else {
                self.slots.add_permits(1);
            }
        }
    }
}

/// Whether the provider said its request or token window is used up.
fn exhausted(info: &RateLimitInfo) -> bool {
    info.remaining_requests == Some(0) || info.remaining_tokens == Some(0)
}

#[async_trait]
impl Provider for AdaptiveConcurrency {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let _slot = self.slot().await;
        let result = self.inner.chat(request, on_delta).await;
        match &result {
            // An exhausted window is a 429 about to happen: back off before it does.
            Ok(response) if exhausted(&response.rate_limit) => self.on_rate_limited(),
            Ok(response) => self.on_success(response.rate_limit.remaining_requests),
            Err(err) if err.is_rate_limited() => self.on_rate_limited(),
            Err(_) => {}
        }
        result
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let _slot = self.slot().await;
        let result = self.inner.embed(request).await;
        match &result {
            Ok(_) => self.on_success(None),
            Err(err) if err.is_rate_limited() => self.on_rate_limited(),
            Err(_) => {}
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::fake::{Scripted, Step};

    #[tokio::test(start_paused = true)]
    async fn halves_on_429_and_grows_back_after_successes() {
        let fake = Arc::new(Scripted::new("f", "m"));
        fake.push([Step::Fail(ProviderError::RateLimited {
            provider: "f".into(),
            message: "x".into(),
            retry_after: None,
        })]);
        let adaptive = AdaptiveConcurrency::new(fake.clone(), 8);
        assert!(adaptive.chat(&ChatRequest::user("x"), None).await.is_err());
        assert_eq!(adaptive.limit(), 4);
        for _ in 0..4 {
            adaptive.chat(&ChatRequest::user("x"), None).await.expect("ok");
        }
        assert_eq!(adaptive.limit(), 5);
        for _ in 0..100 {
            adaptive.chat(&ChatRequest::user("x"), None).await.expect("ok");
        }
        assert_eq!(adaptive.limit(), 8, "never above the maximum");
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_window_backs_off_and_a_small_one_stops_growth() {
        #[derive(Debug)]
        struct Window(RateLimitInfo);
        #[async_trait]
        impl Provider for Window {
            fn info(&self) -> &ProviderInfo {
                static INFO: std::sync::OnceLock<ProviderInfo> = std::sync::OnceLock::new();
                INFO.get_or_init(|| ProviderInfo {
                    id: "w".into(),
                    kind: crate::config::ProviderKind::Openai,
                    model: "m".into(),
                })
            }
            async fn chat(&self, _: &ChatRequest, _: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
                let mut response = ChatResponse::new("w", "m", "ok".into(), crate::provider::Usage::default());
                response.rate_limit = self.0;
                Ok(response)
            }
        }
        let empty = AdaptiveConcurrency::new(
            Arc::new(Window(RateLimitInfo { remaining_requests: Some(5), remaining_tokens: Some(0) })),
            8,
        );
        empty.chat(&ChatRequest::user("x"), None).await.expect("ok");
        assert_eq!(empty.limit(), 4);
        let small = AdaptiveConcurrency::new(
            Arc::new(Window(RateLimitInfo { remaining_requests: Some(3), remaining_tokens: None })),
            8,
        );
        small.on_rate_limited();
        assert_eq!(small.limit(), 4);
        for _ in 0..50 {
            small.chat(&ChatRequest::user("x"), None).await.expect("ok");
        }
        assert_eq!(small.limit(), 4, "3 requests left in the window: no growth");
    }

    #[tokio::test(start_paused = true)]
    async fn the_lowered_limit_holds_for_concurrent_calls() {
        let fake = Arc::new(Scripted::ok_after(Duration::from_millis(100)));
        fake.push([Step::Fail(ProviderError::RateLimited {
            provider: "f".into(),
            message: "x".into(),
            retry_after: None,
        })]);
        let adaptive = Arc::new(AdaptiveConcurrency::new(fake.clone(), 8));
        let _ = adaptive.chat(&ChatRequest::user("x"), None).await;
        let before = fake.peak_in_flight();
        let calls = (0..4).map(|_| {
            let adaptive = adaptive.clone();
            tokio::spawn(async move { adaptive.chat(&ChatRequest::user("x"), None).await })
        });
        futures::future::join_all(calls).await;
        assert!(before <= 1 && fake.peak_in_flight() <= 4, "peak {}", fake.peak_in_flight());
    }
}
