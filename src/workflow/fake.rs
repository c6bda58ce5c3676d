//! A scriptable in-process [`ModelCaller`] for tests and benchmarks: per node, a script of
//! answers, failures, delays or a hang (a call that never returns, to simulate a crash), then
//! a fixed answer or the prompt's own last message echoed back. It counts calls per node, so
//! tests can assert which tasks ran again after a resume.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::model::{ModelCall, ModelCaller, ModelError, ModelReply};
use crate::money::Micros;

/// One scripted call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeStep {
    /// Answer with this text.
    Reply(String),
    /// Fail with this message (an upstream error).
    Fail(String),
    /// Answer with this text after a delay.
    After(Duration, String),
    /// Never answer.
    Hang,
}

/// The fake model.
#[derive(Debug, Default)]
pub struct FakeModel {
    scripts: Mutex<BTreeMap<String, VecDeque<FakeStep>>>,
    fixed: BTreeMap<String, String>,
    calls: Mutex<Vec<(String, String)>>,
    cost_per_call: Micros,
}

impl FakeModel {
    /// A model that echoes the last message of every prompt.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `node`'s calls with these steps, in order (then its fixed reply, or the echo).
    #[must_use]
    pub fn script(self, node: &str, steps: impl IntoIterator<Item = FakeStep>) -> Self {
        self.lock_scripts().entry(node.to_owned()).or_default().extend(steps);
        self
    }

    /// Answers every call of `node` (after its script) with `text`.
    #[must_use]
    pub fn reply(mut self, node: &str, text: &str) -> Self {
        self.fixed.insert(node.to_owned(), text.to_owned());
        self
    }

    /// Every call costs this much.
    #[must_use]
    pub fn costing(mut self, cost: Micros) -> Self {
        self.cost_per_call = cost;
        self
    }

    /// How many calls `node` made.
    pub fn calls(&self, node: &str) -> usize {
        self.lock_calls().iter().filter(|(n, _)| n == node).count()
    }

    /// Every call as (node, prompt text), in order.
    pub fn history(&self) -> Vec<(String, String)> {
        self.lock_calls().clone()
    }

    fn lock_scripts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, VecDeque<FakeStep>>> {
        self.scripts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_calls(&self) -> std::sync::MutexGuard<'_, Vec<(String, String)>> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ModelCaller for FakeModel {
    async fn call(&self, call: ModelCall<'_>) -> Result<ModelReply, ModelError> {
        let text = call.text();
        self.lock_calls().push((call.node.to_owned(), text.clone()));
        let step = self.lock_scripts().get_mut(call.node).and_then(VecDeque::pop_front);
        let echo = || call.prompt.messages.last().map(|m| m.content.text()).unwrap_or_default();
        let answer = match step {
            Some(FakeStep::Reply(answer)) => answer,
            Some(FakeStep::Fail(message)) => return Err(ModelError::upstream(message)),
            Some(FakeStep::After(delay, answer)) => {
                tokio::time::sleep(delay).await;
                answer
            }
            Some(FakeStep::Hang) => std::future::pending().await,
            None => self.fixed.get(call.node).cloned().unwrap_or_else(echo),
        };
        if let Some(on_token) = call.on_token {
            for piece in answer.split_inclusive(' ') {
                on_token(piece);
            }
        }
        Ok(ModelReply {
            input_tokens: (text.len() as u64).div_ceil(4),
            output_tokens: (answer.len() as u64).div_ceil(4),
            text: answer,
            provider: "fake".to_owned(),
            cost: self.cost_per_call,
            cached: false,
            attempts: 1,
            latency: Duration::ZERO,
        })
    }
}
