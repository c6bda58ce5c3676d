//! The response cache, the outermost layer. The key is the SHA-256 of the canonical request
//! (provider identity: kind, model, base URL and default parameters; then the request as
//! JSON), so any change to messages, images, parameters or schema misses. Hits are answered
//! without a call (and streamed as one piece); misses are stored after a successful answer,
//! through the background writer, with the TTL of `defaults.cache_ttl_s`. Errors are never
//! stored. A failing cache read is a miss with a warning, never a failed request. Embeddings
//! are cached the same way, under keys of their own.
//! This layer also stamps the response's latency, hit or miss.

mod reads;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::writer::StoreWriter;
use crate::money::Micros;
use crate::provider::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo,
};
use crate::store::UsageRecord;

/// How the cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Read hits and store new answers.
    ReadWrite,
    /// Neither read nor write (`--no-cache`, or no store).
    Off,
    /// Store a new answer without reading: the caller wants a fresh one, and later readers too.
    Refresh,
}

/// Wraps a provider with the response cache.
#[derive(Debug)]
pub struct ResponseCache {
    inner: Arc<dyn Provider>,
    writer: Option<Arc<StoreWriter>>,
    mode: CacheMode,
    ttl: Option<Duration>,
    identity: String,
    reads: reads::Reads,
}

impl ResponseCache {
    /// Caches answers of `inner` in the writer's store. `identity` names everything about the
    /// provider that changes answers (kind, model, base URL, default parameters).
    pub fn new(
        inner: Arc<dyn Provider>,
        writer: Option<Arc<StoreWriter>>,
        mode: CacheMode,
        ttl: Option<Duration>,
        identity: String,
    ) -> Self {
        let mode = if writer.is_some() { mode } else { CacheMode::Off };
        Self { inner, writer, mode, ttl, identity, reads: reads::Reads::default() }
    }

    /// The cache key of a request: hex SHA-256 of the provider identity and the request JSON.
    pub fn key(&self, request: &ChatRequest) -> String {
        // Serialising plain data cannot fail; an empty body would only cost a cache miss.
        self.digest(b"chat", &serde_json::to_vec(request).unwrap_or_default())
    }

    fn digest(&self, what: &[u8], body: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"promptops-cache-v1\n");
        hasher.update(what);
        hasher.update(b"\n");
        hasher.update(self.identity.as_bytes());
        hasher.update(b"\n");
        hasher.update(body);
        hex::encode(hasher.finalize())
    }

    /// When an entry stored now expires; a TTL beyond the calendar (`cache_ttl_s` is any u64)
    /// means never, rather than an overflow panic.
    fn expiry(&self) -> Option<chrono::DateTime<Utc>> {
        let ttl = chrono::Duration::from_std(self.ttl?).ok()?;
        Utc::now().checked_add_signed(ttl)
    }

    async fn lookup(&self, writer: &StoreWriter, key: &str) -> Result<Option<ChatResponse>, String> {
        let (store, scope) = writer.store();
        let Some(text) = self.reads.get(store.as_ref(), scope, key).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| e.to_string())
    }

    async fn record_hit(&self, writer: &StoreWriter, request: &ChatRequest, hit: &ChatResponse) {
        writer
            .record(UsageRecord {
                at: Utc::now(),
                provider: self.inner.info().id.clone(),
                model: hit.model.clone(),
                prompt: request.prompt.clone(),
                input_tokens: 0,
                output_tokens: 0,
                cached_input_tokens: 0,
                cost: Micros::ZERO,
                cache_hit: true,
            })
            .await;
    }

    async fn store(&self, writer: &StoreWriter, key: String, response: &ChatResponse) {
        let mut stored = response.clone();
        stored.warnings.clear();
        let Ok(value) = serde_json::to_string(&stored) else { return };
        writer.put_cache(key, value, self.expiry()).await;
    }
}

#[async_trait]
impl Provider for ResponseCache {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let start = Instant::now();
        let (Some(writer), CacheMode::ReadWrite | CacheMode::Refresh) = (&self.writer, self.mode) else {
            let mut response = self.inner.chat(request, on_delta).await?;
            response.latency = start.elapsed();
            return Ok(response);
        };
        let key = self.key(request);
        let mut warnings = Vec::new();
        let found = match self.mode {
            CacheMode::ReadWrite => self.lookup(writer, &key).await,
            CacheMode::Off | CacheMode::Refresh => Ok(None),
        };
        match found {
            Ok(Some(mut hit)) => {
                if let Some(on_delta) = on_delta {
                    on_delta(&hit.text);
                }
                self.record_hit(writer, request, &hit).await;
                (hit.cached, hit.cost, hit.attempts, hit.latency) = (true, Micros::ZERO, 0, start.elapsed());
                return Ok(hit);
            }
            Ok(None) => {}
            Err(err) => warnings.push(format!("the response cache could not be read ({err}); calling the provider")),
        }
        let mut response = self.inner.chat(request, on_delta).await?;
        self.store(writer, key, &response).await;
        response.warnings.extend(warnings);
        response.latency = start.elapsed();
        Ok(response)
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let (Some(writer), CacheMode::ReadWrite | CacheMode::Refresh) = (&self.writer, self.mode) else {
            return self.inner.embed(request).await;
        };
        let key = self.digest(b"embed", &serde_json::to_vec(request).unwrap_or_default());
        let (store, scope) = writer.store();
        // A failing read is only a miss: embeddings are recomputed, never refused.
        if self.mode == CacheMode::ReadWrite
            && let Ok(Some(text)) = store.cache_get(scope, &key, Utc::now()).await
            && let Ok(mut hit) = serde_json::from_str::<EmbedResponse>(&text)
        {
            hit.cost = Micros::ZERO;
            return Ok(hit);
        }
        let response = self.inner.embed(request).await?;
        if let Ok(value) = serde_json::to_string(&response) {
            writer.put_cache(key, value, self.expiry()).await;
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::fake::Scripted;

    fn cache(ttl: Option<Duration>) -> ResponseCache {
        ResponseCache::new(Arc::new(Scripted::new("p", "m")), None, CacheMode::Off, ttl, "p".to_owned())
    }

    #[test]
    fn entries_expire_after_the_ttl_and_a_ttl_beyond_the_calendar_means_never() {
        let expiry = cache(Some(Duration::from_secs(60))).expiry().expect("expires");
        assert!((expiry - Utc::now()).num_seconds() <= 60);
        assert_eq!(cache(None).expiry(), None);
        assert_eq!(cache(Some(Duration::from_secs(u64::MAX))).expiry(), None);
        assert_eq!(cache(Some(Duration::from_secs(10_000_000_000_000))).expiry(), None, "used to overflow");
    }
}
