//! Prompt fetches by label, served from memory. Every label move made through this process
//! clears the cache at once; moves made by other processes on the same database too where the
//! store announces them (PostgreSQL `NOTIFY`), and otherwise by polling the store's label-move
//! mark (the id of the newest move) every `poll` interval, which stays on as the fallback. A
//! generation counter keeps a fetch that raced with a move from caching what it read before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::access::Scope;
use crate::store::changes::{Change, follow, mark_reader};
use crate::store::{Store, VersionRecord};

type Key = (String, String, String, String);

/// Resolved `name@label` versions by tenant, project, name and label.
#[derive(Debug, Default)]
pub struct PromptCache {
    entries: RwLock<HashMap<Key, Arc<VersionRecord>>>,
    generation: AtomicU64,
}

/// The generation a fetch started in; pass it back to [`PromptCache::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

fn key(scope: &Scope, name: &str, label: &str) -> Key {
    (scope.tenant().to_owned(), scope.project().to_owned(), name.to_owned(), label.to_owned())
}

impl PromptCache {
    /// The cached version, if any.
    pub fn get(&self, scope: &Scope, name: &str, label: &str) -> Option<Arc<VersionRecord>> {
        self.entries.read().ok()?.get(&key(scope, name, label)).cloned()
    }

    /// The current generation, read before asking the store.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Caches what the store said, unless the cache was invalidated since `generation`.
    pub fn put(&self, generation: Generation, scope: &Scope, name: &str, label: &str, version: Arc<VersionRecord>) {
        if let Ok(mut entries) = self.entries.write()
            && self.generation.load(Ordering::Acquire) == generation.0
        {
            entries.insert(key(scope, name, label), version);
        }
    }

    /// Forgets everything (a label moved somewhere).
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    /// Forgets everything when another process moves a label: at once where the store announces
    /// moves (PostgreSQL), and in any case when the label-move mark changes, polled every `every`.
    /// Runs until the cache is dropped.
    pub fn watch(self: &Arc<Self>, store: Arc<dyn Store>, every: Duration) {
        let feed = store.changes();
        let mark = mark_reader(move || {
            let store = Arc::clone(&store);
            async move { store.label_move_mark().await }
        });
        follow(self, feed, Change::Labels, every, mark, Self::invalidate);
    }
}
