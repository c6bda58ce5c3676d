//! The backends the conformance cases run on: a fresh SQLite file in a temporary directory, or a
//! fresh schema in the PostgreSQL database of `PROMPTOPS_TEST_POSTGRES_URL` (the store reaches it
//! through `search_path` in the URL's connection options), dropped when the test ends.

use std::future::Future;
use std::sync::{Arc, Mutex, Once};

use futures::future::BoxFuture;
use promptops::store::{self, Store};

/// The variable naming the PostgreSQL database the suite may use.
const POSTGRES_URL: &str = "PROMPTOPS_TEST_POSTGRES_URL";

/// A fresh store of one backend, the URL to open more handles on the same database (a second
/// process, as far as the backend can tell), and the means to make another empty database.
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub url: String,
    fresh: Box<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>,
    /// What is removed when the test ends (the temporary directory, the schemas); fields drop
    /// in order, so the stores above close first.
    _cleanup: Box<dyn std::any::Any + Send + Sync>,
}

impl Backend {
    /// A second store on the same database, opened the way a second process would.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        store::open(&self.url).await.expect("reopen")
    }

    /// Runs `count` writers at once, each on a handle of its own (its own process, as far as
    /// the backend can tell); returns what they return, in writer order.
    pub async fn concurrently<T, F, Fut>(&self, count: u32, writer: F) -> Vec<T>
    where
        F: Fn(Arc<dyn Store>, u32) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let mut tasks = Vec::new();
        for index in 0..count {
            tasks.push(tokio::spawn(writer(self.reopen().await, index)));
        }
        futures::future::try_join_all(tasks).await.expect("writers")
    }

    /// The URL of another, empty database of the same backend (removed with this one).
    pub async fn fresh_url(&self) -> String {
        (self.fresh)().await
    }
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    let url = format!("sqlite://{}", root.join("promptops.db").display());
    let store = store::open(&url).await.expect("open sqlite");
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fresh = Box::new(move || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = format!("sqlite://{}", root.join(format!("fresh-{n}.db")).display());
        Box::pin(async move { url }) as BoxFuture<'static, String>
    });
    Backend { store, url, fresh, _cleanup: Box::new(dir) }
}

/// A store in a new schema, or `None` when no PostgreSQL is configured: then the test `test`
/// says on stderr that it was skipped (once the reason, then one line per test), so that a green
/// run shows what it did not test.
pub async fn postgres(test: &str) -> Option<Backend> {
    static SKIPPED: Once = Once::new();
    let Ok(base) = std::env::var(POSTGRES_URL) else {
        // Written to stderr directly: the test harness captures `eprintln!` of passing tests.
        SKIPPED.call_once(|| {
            let notice = format!("{POSTGRES_URL} is not set: the PostgreSQL half of the store suite is skipped\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
        });
        let line = format!("skipped: {test} (no PostgreSQL)\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return None;
    };
    let schemas = Arc::new(Schemas { base, names: Mutex::new(Vec::new()) });
    let url = schemas.create().await;
    let store = store::open(&url).await.expect("open postgres");
    let for_fresh = Arc::clone(&schemas);
    let fresh = Box::new(move || {
        let schemas = Arc::clone(&for_fresh);
        Box::pin(async move { schemas.create().await }) as BoxFuture<'static, String>
    });
    Some(Backend { store, url, fresh, _cleanup: Box::new(schemas) })
}

/// The schemas one test created in the test database.
pub struct Schemas {
    base: String,
    names: Mutex<Vec<String>>,
}

impl Schemas {
    /// Creates an empty schema; returns a URL whose connections use it.
    async fn create(&self) -> String {
        let name = format!("promptops_test_{}", uuid::Uuid::new_v4().simple());
        let client = connect(&self.base).await;
        client.batch_execute(&format!("CREATE SCHEMA {name}")).await.expect("create schema");
        self.names.lock().expect("lock").push(name.clone());
        let separator = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{name}", self.base)
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let (base, names) = (self.base.clone(), std::mem::take(&mut *self.names.lock().expect("lock")));
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let client = connect(&base).await;
                for name in names {
                    let sql = format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE");
                    if let Err(err) = client.batch_execute(&sql).await {
                        eprintln!("could not drop test schema {name}: {err}");
                    }
                }
            });
        });
        let _ = dropped.join();
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}
