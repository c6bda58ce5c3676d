//! A scriptable in-process provider for tests and benchmarks: answers (or fails) from a
//! script, after an optional delay, and counts calls and the most calls seen in flight at once.
//! It speaks no wire protocol, so layer tests and the overhead benchmark measure only the layers.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{ChatRequest, ChatResponse, OnDelta, Provider, ProviderError, ProviderInfo, Usage};
use crate::config::ProviderKind;

/// What a scripted call does.
#[derive(Debug)]
pub enum Step {
    /// Answer with this text.
    Answer(String),
    /// Fail with this error.
    Fail(ProviderError),
}

/// The fake provider. Once the script runs out, it answers `ok`.
#[derive(Debug)]
pub struct Scripted {
    info: ProviderInfo,
    delay: Duration,
    usage: Usage,
    script: Mutex<VecDeque<Step>>,
    calls: AtomicU64,
    in_flight: AtomicU32,
    peak: AtomicU32,
}

impl Scripted {
    /// A provider that answers `ok` at once, with 10 input and 5 output tokens.
    pub fn new(id: &str, model: &str) -> Self {
        Self {
            info: ProviderInfo { id: id.to_owned(), kind: ProviderKind::Openai, model: model.to_owned() },
            delay: Duration::ZERO,
            usage: Usage { input_tokens: 10, output_tokens: 5, cached_input_tokens: 0 },
            script: Mutex::new(VecDeque::new()),
            calls: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            peak: AtomicU32::new(0),
        }
    }

    /// Answers `ok` after `delay`.
    pub fn ok_after(delay: Duration) -> Self {
        Self { delay, ..Self::new("fake", "gpt-4o-mini") }
    }

    /// Every call reports this usage.
    #[must_use]
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Every call takes this long.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Appends steps to the script.
    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(steps);
    }

    /// Calls received so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The most calls that were in flight at once.
    pub fn peak_in_flight(&self) -> u32 {
        self.peak.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Provider for Scripted {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn chat(&self, _request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let step = self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front();
        match step.unwrap_or_else(|| Step::Answer("ok".to_owned())) {
            Step::Answer(text) => {
                if let Some(on_delta) = on_delta {
                    on_delta(&text);
                }
                Ok(ChatResponse::new(&self.info.id, &self.info.model, text, self.usage))
            }
            Step::Fail(err) => Err(err),
        }
    }
}
