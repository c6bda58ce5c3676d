//! Store writes off the request path: cache entries and usage rows go through a channel to one
//! background task, which batches usage rows into one transaction. A caller that needs them on
//! disk (the CLI before exiting, the eval engine at the end of a run) awaits
//! [`StoreWriter::flush`].

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::store::{CacheEntry, Scope, Store, StoreError, UsageRecord};

/// Most messages handled per batch.
const BATCH: usize = 512;
/// Most writes waiting in the queue.
const QUEUE: usize = 4 * BATCH;
/// How long the writer waits for more writes before writing a batch.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

enum Write {
    Cache { key: String, value: String, expires_at: Option<DateTime<Utc>> },
    Usage(UsageRecord),
    Flush(oneshot::Sender<()>),
}

/// The background writer of one store scope.
pub struct StoreWriter {
    store: Arc<dyn Store>,
    scope: Scope,
    sender: OnceLock<mpsc::Sender<Write>>,
    failure: Arc<Mutex<Option<String>>>,
}

impl fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreWriter").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl StoreWriter {
    /// A writer into `store` under `scope`. The task starts with the first write.
    pub fn new(store: Arc<dyn Store>, scope: Scope) -> Self {
        Self { store, scope, sender: OnceLock::new(), failure: Arc::new(Mutex::new(None)) }
    }

    /// The store and scope, for reads.
    pub fn store(&self) -> (&Arc<dyn Store>, &Scope) {
        (&self.store, &self.scope)
    }

    /// Queues a write. The queue is bounded: when the store falls behind, callers wait here
    /// rather than memory growing without limit.
    async fn send(&self, write: Write) {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(Arc::clone(&self.store), self.scope.clone(), receiver, Arc::clone(&self.failure)));
            sender
        });
        // The task lives as long as the sender, so a send cannot fail while `self` exists.
        let _ = sender.send(write).await;
    }

    /// Queues a cache entry.
    pub async fn put_cache(&self, key: String, value: String, expires_at: Option<DateTime<Utc>>) {
        self.send(Write::Cache { key, value, expires_at }).await;
    }

    /// Queues a usage row.
    pub async fn record(&self, record: UsageRecord) {
        self.send(Write::Usage(record)).await;
    }

    /// Waits until everything queued so far is written; reports the first write that failed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        if self.sender.get().is_some() {
            let (done, wait) = oneshot::channel();
            self.send(Write::Flush(done)).await;
            let _ = wait.await;
        }
        match self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            Some(message) => Err(StoreError::Decode(format!("a background write failed: {message}"))),
            None => Ok(()),
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    scope: Scope,
    mut receiver: mpsc::Receiver<Write>,
    failure: Arc<Mutex<Option<String>>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        gather(&mut receiver, &mut batch).await;
        let (mut usage, mut cache, mut flushes) = (Vec::new(), Vec::new(), Vec::new());
        for write in batch.drain(..) {
            match write {
                Write::Usage(record) => usage.push(record),
                Write::Cache { key, value, expires_at } => cache.push(CacheEntry { key, value, expires_at }),
                Write::Flush(done) => flushes.push(done),
            }
        }
        // One transaction per kind per batch: under load the writer keeps up by batching more.
        if !cache.is_empty() {
            remember(&failure, store.cache_put_many(&scope, &cache).await);
        }
        if !usage.is_empty() {
            remember(&failure, store.record_usage(&scope, &usage).await);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Collects more writes for a moment before writing: fewer, larger transactions keep the
/// connection free for the cache reads on the request path. A flush is served at once.
async fn gather(receiver: &mut mpsc::Receiver<Write>, batch: &mut Vec<Write>) {
    let deadline = tokio::time::Instant::now() + GATHER;
    while batch.len() < BATCH && !batch.iter().any(|w| matches!(w, Write::Flush(_))) {
        let more = tokio::time::timeout_at(deadline, receiver.recv_many(batch, BATCH - batch.len())).await;
        if !matches!(more, Ok(n) if n > 0) {
            break;
        }
    }
}

fn remember(failure: &Mutex<Option<String>>, result: Result<(), StoreError>) {
    if let Err(err) = result {
        tracing::warn!(error = %err, "background store write failed");
        failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert_with(|| err.to_string());
    }
}
