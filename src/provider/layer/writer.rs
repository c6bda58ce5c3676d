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
    failure: Arc<Mutex<Lost>>,
}

/// Writes that failed since the last flush: how many of each kind, and the first error.
#[derive(Default)]
struct Lost {
    usage_rows: u64,
    cache_entries: u64,
    first: Option<StoreError>,
}

impl fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreWriter").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl StoreWriter {
    /// A writer into `store` under `scope`. The task starts with the first write.
    pub fn new(store: Arc<dyn Store>, scope: Scope) -> Self {
        Self { store, scope, sender: OnceLock::new(), failure: Arc::new(Mutex::new(Lost::default())) }
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

    /// Waits until everything queued so far is written. Fails with
    /// [`StoreError::Background`] when writes failed since the last flush: how many usage rows
    /// and cache entries were lost, and the first error. The count then starts again.
    pub async fn flush(&self) -> Result<(), StoreError> {
        if self.sender.get().is_some() {
            let (done, wait) = oneshot::channel();
            self.send(Write::Flush(done)).await;
            let _ = wait.await;
        }
        let lost = std::mem::take(&mut *self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        match lost.first {
            Some(first) => Err(StoreError::Background {
                usage_rows: lost.usage_rows,
                cache_entries: lost.cache_entries,
                source: Box::new(first),
            }),
            None => Ok(()),
        }
    }
}

async fn run(store: Arc<dyn Store>, scope: Scope, mut receiver: mpsc::Receiver<Write>, failure: Arc<Mutex<Lost>>) {
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
        if !cache.is_empty()
            && let Err(err) = store.cache_put_many(&scope, &cache).await
        {
            remember(&failure, err, |lost| lost.cache_entries += cache.len() as u64);
        }
        if !usage.is_empty()
            && let Err(err) = store.record_usage(&scope, &usage).await
        {
            remember(&failure, err, |lost| lost.usage_rows += usage.len() as u64);
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

/// Counts a failed batch for the next flush to report (nobody may be reading the logs).
fn remember(failure: &Mutex<Lost>, err: StoreError, count: impl FnOnce(&mut Lost)) {
    tracing::warn!(error = %err, "background store write failed");
    let mut lost = failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    count(&mut lost);
    lost.first.get_or_insert(err);
}
