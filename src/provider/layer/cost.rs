//! Usage and cost accounting: prices each answer from the [`PriceTable`] in integer
//! micro-dollars and queues a usage row for the store (off the request path). Offline kinds
//! (`mock`, `echo`) cost nothing; a paid model missing from the table costs $0 with a warning
//! that says how to add its price.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::writer::StoreWriter;
use crate::money::Micros;
use crate::provider::pricing::PriceTable;
use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo, Usage,
};
use crate::store::UsageRecord;

/// Wraps a provider with cost accounting.
#[derive(Debug)]
pub struct CostAccounting {
    inner: Arc<dyn Provider>,
    prices: Arc<PriceTable>,
    writer: Option<Arc<StoreWriter>>,
    free: bool,
}

impl CostAccounting {
    /// Prices answers of `inner`; `free` providers are never priced. Rows go to `writer` if given.
    pub fn new(
        inner: Arc<dyn Provider>,
        prices: Arc<PriceTable>,
        writer: Option<Arc<StoreWriter>>,
        free: bool,
    ) -> Self {
        Self { inner, prices, writer, free }
    }

    /// The cost of `usage` on `model`, and a warning when the model has no price.
    fn price(&self, model: &str, usage: &Usage) -> (Micros, Option<String>) {
        if self.free {
            return (Micros::ZERO, None);
        }
        match self.prices.price(model).or_else(|| self.prices.price(&self.inner.info().model)) {
            Some(price) => (price.cost(usage), None),
            None => (
                Micros::ZERO,
                Some(format!(
                    "no price known for model `{model}`: its cost is counted as $0 (add it under `pricing:` in promptops.yaml)"
                )),
            ),
        }
    }

    async fn record(&self, prompt: Option<&str>, model: &str, usage: &Usage, cost: Micros) {
        if let Some(writer) = &self.writer {
            writer
                .record(UsageRecord {
                    at: Utc::now(),
                    provider: self.inner.info().id.clone(),
                    model: model.to_owned(),
                    prompt: prompt.map(ToOwned::to_owned),
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                    cached_input_tokens: usage.cached_input_tokens,
                    cost,
                    cache_hit: false,
                })
                .await;
        }
    }
}

#[async_trait]
impl Provider for CostAccounting {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let mut response = self.inner.chat(request, on_delta).await?;
        let (cost, warning) = self.price(&response.model, &response.usage);
        response.cost = cost;
        response.warnings.extend(warning);
        self.record(request.prompt.as_deref(), &response.model, &response.usage, cost).await;
        Ok(response)
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let mut response = self.inner.embed(request).await?;
        response.cost = self.price(&response.model, &response.usage).0;
        self.record(None, &response.model, &response.usage, response.cost).await;
        Ok(response)
    }
}
