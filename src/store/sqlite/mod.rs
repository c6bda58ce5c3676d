//! The SQLite backend: one file (`.promptops/promptops.db` locally), WAL mode, migrations
//! embedded and tracked with `PRAGMA user_version`. rusqlite is synchronous, so every call runs
//! on tokio's blocking pool.

mod cache;
mod experiments;
mod prompts;
mod runs;
mod usage;
mod workflow;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::StoreError;

/// Migrations in order; the position + 1 is the schema version they bring the database to.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_registry.sql"),
    include_str!("../migrations/sqlite/0002_inference.sql"),
    include_str!("../migrations/sqlite/0003_runs.sql"),
    include_str!("../migrations/sqlite/0004_workflows.sql"),
    include_str!("../migrations/sqlite/0005_experiments.sql"),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`. A corrupted file or
    /// one from a newer promptops is refused before anything is written to it.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        let path_for_task = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_and_migrate(&path_for_task))
            .await
            .map_err(|err| StoreError::Backend(Box::new(err)))??;
        Ok(Self { path, conn: Arc::new(Mutex::new(conn)) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Decode("connection lock poisoned".to_owned()))?;
            f(&mut guard)
        })
        .await
        .map_err(|err| StoreError::Backend(Box::new(err)))?
    }

    /// Runs a short read (an indexed point query) on the current worker thread when the runtime
    /// is multi-threaded, handing the worker's other tasks off meanwhile; else like [`Self::call`].
    /// Hopping to the blocking pool costs more than such a query, and the response cache reads
    /// on every request.
    pub(crate) async fn call_short<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread {
            return self.call(f).await;
        }
        tokio::task::block_in_place(|| {
            let mut guard = self.conn.lock().map_err(|_| StoreError::Decode("connection lock poisoned".to_owned()))?;
            f(&mut guard)
        })
    }
}

fn open_and_migrate(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|err| StoreError::Open { path: path.to_path_buf(), source: Box::new(err) })?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|err| StoreError::Open { path: path.to_path_buf(), source: Box::new(err) })?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(backend)?;
    // Read the schema version before changing anything: a damaged file fails here, untouched.
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|err| corrupt(path, &err))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { found, supported: SCHEMA_VERSION });
    }
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|err| corrupt(path, &err))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(backend)?;
    migrate(conn, path)
}

fn migrate(mut conn: Connection, path: &Path) -> Result<Connection, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|err| corrupt(path, &err))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(current).unwrap_or(0)) {
        tx.execute_batch(sql).map_err(|err| corrupt(path, &err))?;
        tx.pragma_update(None, "user_version", index as i64 + 1).map_err(backend)?;
    }
    tx.commit().map_err(backend)?;
    Ok(conn)
}

fn corrupt(path: &Path, err: &rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_path_buf(), detail: err.to_string() }
        }
        _ => StoreError::Corrupt { path: path.to_path_buf(), detail: err.to_string() },
    }
}

/// Wraps any rusqlite error.
pub(crate) fn backend(err: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// The stored form of a timestamp: RFC 3339 in UTC with microseconds, so text order is time order.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a stored timestamp.
pub(crate) fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| StoreError::Decode(format!("timestamp `{text}`: {err}")))
}
