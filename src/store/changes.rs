//! Change announcements between processes that share a database, so that a server drops what it
//! cached from a label or a gateway row the moment another replica changes it, not at its next
//! poll. PostgreSQL announces with `NOTIFY` inside the writing transaction (delivered on commit,
//! never for a rollback) and [`Store::changes`](super::AccountStore::changes) hands out a feed;
//! SQLite has no such channel and gives none. Either way [`follow`] keeps polling a mark as the
//! fallback, so a lost connection or a missed announcement costs at most one poll interval.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

use super::StoreError;

/// The PostgreSQL channel the announcements use; payloads are `<schema>:<kind>`, so stores in
/// other schemas of one database (parallel tests) ignore each other's.
pub const CHANNEL: &str = "promptops_changes";

/// What another process changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A label moved.
    Labels,
    /// A provider connection, gateway key or gateway setting changed.
    Gateway,
    /// Units of server-side runs became available (a run was queued, units were released).
    Runs,
    /// The feed (re)connected or fell behind: announcements may have been missed, drop everything.
    Resync,
}

impl Change {
    /// The kind as announced (`labels`, `gateway`, `runs`).
    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "labels" => Some(Self::Labels),
            "gateway" => Some(Self::Gateway),
            "runs" => Some(Self::Runs),
            _ => None,
        }
    }
}

/// A subscription to the announcements of other processes.
pub type ChangeFeed = broadcast::Receiver<Change>;

/// Reads the mark a [`follow`] polls.
pub type MarkReader = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<i64, StoreError>> + Send>> + Send + Sync>;

/// A [`MarkReader`] from an async closure.
pub fn mark_reader<F, Fut>(read: F) -> MarkReader
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<i64, StoreError>> + Send + 'static,
{
    Box::new(move || Box::pin(read()))
}

/// The next change of the feed; pends forever without one (the poll still runs).
async fn next(feed: &mut Option<ChangeFeed>) -> Option<Change> {
    let Some(receiver) = feed else { return std::future::pending().await };
    match receiver.recv().await {
        Ok(change) => Some(change),
        Err(broadcast::error::RecvError::Lagged(_)) => Some(Change::Resync),
        Err(broadcast::error::RecvError::Closed) => {
            *feed = None;
            None
        }
    }
}

/// Calls `on_change` on `target` when the feed announces `wanted` (or asks to resync), and when
/// the mark read by `mark` differs from the last one seen, polled every `every`; a failed poll
/// calls it too (what is cached may be stale). Runs until `target` is dropped.
pub fn follow<T: Send + Sync + 'static>(
    target: &Arc<T>,
    mut feed: Option<ChangeFeed>,
    wanted: Change,
    every: Duration,
    mark: MarkReader,
    on_change: fn(&T),
) {
    let weak: Weak<T> = Arc::downgrade(target);
    tokio::spawn(async move {
        let mut seen = mark().await.ok();
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let announced = tokio::select! {
                _ = ticker.tick() => false,
                change = next(&mut feed) => match change {
                    Some(change) if change == wanted || change == Change::Resync => true,
                    _ => continue,
                },
            };
            let Some(target) = weak.upgrade() else { return };
            if announced {
                on_change(&target);
                continue;
            }
            match mark().await {
                Ok(now) if Some(now) != seen => {
                    on_change(&target);
                    seen = Some(now);
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "change poll failed; dropping what was cached");
                    on_change(&target);
                }
            }
        }
    });
}
