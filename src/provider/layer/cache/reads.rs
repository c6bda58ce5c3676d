//! Reads of the response cache gathered into batches: the requests that look up their answers
//! at the same moment (the ready cases of an eval run) are answered by one query
//! ([`cache_get_many`](crate::store::CacheStore::cache_get_many)) instead of one query each.
//! Owns the queue of waiting reads and who reads for it; what a hit or a miss means is the cache
//! layer's.
//!
//! One request at a time is the reader: it lets the other ready tasks run first (so that they
//! queue their keys; not when the last batch had no other key), reads one batch, hands the role
//! to the next waiting request and answers the batch. A reader that is dropped mid-read hands
//! the role on too, and a request whose batch was dropped with it reads alone, so no request
//! waits forever.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use tokio::sync::oneshot;

use crate::store::{Scope, Store};

/// Most keys read in one query.
const BATCH: usize = 256;

/// A read's answer: the stored text, if any, or why the store could not be read.
pub(super) type Answer = Result<Option<String>, String>;

/// What a waiting request is told.
enum Reply {
    /// Its answer.
    Answer(Answer),
    /// It is the reader now.
    Read,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Answer(_) => "Answer",
            Self::Read => "Read",
        })
    }
}

/// The batching reads of one cache layer.
#[derive(Debug, Default)]
pub(super) struct Reads {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    /// The requests waiting for the reader (which is not among them), with where to reply.
    waiting: VecDeque<(String, oneshot::Sender<Reply>)>,
    /// Whether some request is the reader (then it will read what is waiting).
    reading: bool,
    /// Whether the last batch was the reader's key alone, as every batch is when requests come
    /// one at a time (`-j 1`): then the next reader does not wait for company, which costs the
    /// task a trip through the scheduler (18% more CPU per cached case at `-j 1`).
    alone: bool,
}

impl Reads {
    /// The text stored under `key`, read together with the other keys asked for meanwhile.
    pub(super) async fn get(&self, store: &dyn Store, scope: &Scope, key: &str) -> Answer {
        let mut waiting = self.enqueue(key);
        loop {
            let Some(receiver) = waiting else {
                return Turn { reads: self, done: false }.read_batch(store, scope, key).await;
            };
            match receiver.await {
                Ok(Reply::Answer(answer)) => return answer,
                Ok(Reply::Read) => waiting = None,
                // Its batch was dropped with a cancelled reader.
                Err(_) => return store.cache_get(scope, key, Utc::now()).await.map_err(|err| err.to_string()),
            }
        }
    }

    /// Queues `key` and returns where its reply comes; `None` when this request is the reader.
    fn enqueue(&self, key: &str) -> Option<oneshot::Receiver<Reply>> {
        let mut queue = self.lock();
        if !queue.reading {
            queue.reading = true;
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        queue.waiting.push_back((key.to_owned(), sender));
        Some(receiver)
    }

    /// Gives the reader's role to the first request still waiting, else to nobody.
    fn hand_over(&self) {
        let mut queue = self.lock();
        while let Some((_, sender)) = queue.waiting.pop_front() {
            if sender.send(Reply::Read).is_ok() {
                return;
            }
        }
        queue.reading = false;
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is consistent between statements, so a panic elsewhere leaves it usable.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The reader's turn: hands the role over when it ends, read or dropped.
struct Turn<'r> {
    reads: &'r Reads,
    done: bool,
}

impl Turn<'_> {
    /// Reads `key` and the keys waiting; answers them and returns the reader's own answer.
    async fn read_batch(mut self, store: &dyn Store, scope: &Scope, key: &str) -> Answer {
        // Let the other ready tasks run first, so that their keys join this batch.
        if !self.reads.lock().alone {
            tokio::task::yield_now().await;
        }
        let (mut keys, mut senders) = (vec![key.to_owned()], Vec::new());
        {
            let mut queue = self.reads.lock();
            let count = queue.waiting.len().min(BATCH - 1);
            queue.alone = count == 0;
            for (key, sender) in queue.waiting.drain(..count) {
                keys.push(key);
                senders.push(sender);
            }
        }
        // A key alone takes the one-key query: the list query costs more for a list of one.
        let answers = match keys.as_slice() {
            [key] => store.cache_get(scope, key, Utc::now()).await.map(|value| vec![value]),
            _ => store.cache_get_many(scope, &keys, Utc::now()).await,
        };
        // The next reader is named before this batch is answered, so the queue always has one.
        self.done = true;
        self.reads.hand_over();
        match answers {
            Ok(values) => {
                let mut values = values.into_iter();
                let own = values.next().flatten();
                for (sender, value) in senders.into_iter().zip(values) {
                    // A request that stopped waiting needs no answer.
                    let _ = sender.send(Reply::Answer(Ok(value)));
                }
                Ok(own)
            }
            Err(err) => {
                let message = err.to_string();
                for sender in senders {
                    let _ = sender.send(Reply::Answer(Err(message.clone())));
                }
                Err(message)
            }
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.reads.hand_over();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::access::{Action, Principal};
    use crate::store::SqliteStore;

    async fn store_with(dir: &tempfile::TempDir, entries: &[(&str, &str)]) -> (Arc<dyn Store>, Scope) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("p.db")).await.expect("store"));
        let scope = Principal::local("test").authorize(Action::Run, "default").expect("scope");
        for (key, value) in entries {
            store.cache_put(&scope, key, value, None).await.expect("put");
        }
        (store, scope)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_at_the_same_moment_are_answered_by_their_own_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, scope) = store_with(&dir, &[("a", "1"), ("b", "2")]).await;
        let reads = Arc::new(Reads::default());
        let asks = ["a", "b", "missing", "a"].map(|key| {
            let (reads, store, scope) = (Arc::clone(&reads), Arc::clone(&store), scope.clone());
            tokio::spawn(async move { reads.get(store.as_ref(), &scope, key).await })
        });
        let mut answers = Vec::new();
        for ask in asks {
            answers.push(ask.await.expect("task").expect("read"));
        }
        assert_eq!(answers, vec![Some("1".to_owned()), Some("2".to_owned()), None, Some("1".to_owned())]);
        let queue = reads.lock();
        assert!(!queue.reading && queue.waiting.is_empty(), "no reader is left behind");
    }

    #[tokio::test]
    async fn a_reader_dropped_mid_read_leaves_no_request_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, scope) = store_with(&dir, &[("a", "1"), ("b", "2")]).await;
        let reads = Reads::default();
        // The first request reads; dropping it while it lets others queue abandons its turn.
        let mut first = Box::pin(reads.get(store.as_ref(), &scope, "a"));
        assert!(futures::poll!(first.as_mut()).is_pending(), "the reader yields before reading");
        let mut second = Box::pin(reads.get(store.as_ref(), &scope, "b"));
        assert!(futures::poll!(second.as_mut()).is_pending(), "queued behind the reader");
        drop(first);
        assert_eq!(second.await, Ok(Some("2".to_owned())), "the role was handed over");
        assert_eq!(reads.get(store.as_ref(), &scope, "a").await, Ok(Some("1".to_owned())));
    }

    // A multi-threaded runtime, where a free connection is read without leaving the task.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn requests_that_come_one_at_a_time_do_not_wait_for_company() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, scope) = store_with(&dir, &[("a", "1"), ("b", "2")]).await;
        let reads = Reads::default();
        assert_eq!(reads.get(store.as_ref(), &scope, "a").await, Ok(Some("1".to_owned())), "a batch of one");
        let mut next = Box::pin(reads.get(store.as_ref(), &scope, "b"));
        assert_eq!(futures::poll!(next.as_mut()), std::task::Poll::Ready(Ok(Some("2".to_owned()))), "no yield");
    }
}
