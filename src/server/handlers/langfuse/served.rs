//! Fetches by label served from memory: the serialized Prompt object of `name@label`, so that a
//! busy SDK client costs no database query and no parsing per request, like the native route.
//! An entry is good while the prompt cache's generation is unchanged (any label move, and any
//! commit through this process, bumps it) and for at most [`FRESH_FOR`], the bound on how late
//! a commit through another replica (which moves `latest` and the served tags) shows here.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::body::Bytes;

use crate::access::Scope;
use crate::server::cache::Generation;

/// How long an entry is served without asking the store again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries past this count are all dropped at once (names and labels come from requests).
const MAX_ENTRIES: usize = 10_000;

type Key = (String, String, String, String);

/// Serialized Prompt objects by tenant, project, name and label.
#[derive(Debug, Default)]
pub struct ServedCache {
    entries: RwLock<HashMap<Key, (Bytes, Instant, Generation)>>,
}

fn key(scope: &Scope, name: &str, label: &str) -> Key {
    (scope.tenant().to_owned(), scope.project().to_owned(), name.to_owned(), label.to_owned())
}

impl ServedCache {
    /// The body for `name@label`, if one was made in `generation` less than [`FRESH_FOR`] ago.
    pub fn get(&self, scope: &Scope, name: &str, label: &str, generation: Generation) -> Option<Bytes> {
        let entries = self.entries.read().ok()?;
        let (body, made, made_in) = entries.get(&key(scope, name, label))?;
        (*made_in == generation && made.elapsed() < FRESH_FOR).then(|| body.clone())
    }

    /// Keeps `body`, made from what the store said in `generation`.
    pub fn put(&self, scope: &Scope, name: &str, label: &str, generation: Generation, body: Bytes) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key(scope, name, label), (body, Instant::now(), generation));
        }
    }
}
