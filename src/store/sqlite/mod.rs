//! The SQLite backend: one file (`.promptops/promptops.db` locally), WAL mode, migrations
//! embedded and tracked with `PRAGMA user_version`. rusqlite is synchronous, so every call runs
//! on tokio's blocking pool.

mod accounts;
mod cache;
mod experiments;
mod gateway;
mod meters;
mod prompts;
mod queue;
mod runs;
mod usage;
mod workflow;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::schema::{self, MigrationReport, SchemaStatus, SchemaStore};
use super::{OpenOptions, StoreError};

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// The gateway's meters (SQLite serves one replica: they live in memory).
    meters: Arc<meters::Meters>,
    /// A server's hold on the file (see [`OpenOptions::serve`]), released when the store is dropped.
    _served: Option<Arc<std::fs::File>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`. A corrupted file or
    /// one from a newer promptops is refused before anything is written to it.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        Self::open_with(path, OpenOptions::default()).await
    }

    /// Opens (creating if needed) the database at `path`, migrating it if `options` say so.
    pub async fn open_with(path: PathBuf, options: OpenOptions) -> Result<Self, StoreError> {
        let path_for_task = path.clone();
        let (conn, served) = tokio::task::spawn_blocking(move || {
            let mut conn = open_connection(&path_for_task)?;
            // Claimed before migrating, so that a second server changes nothing.
            let served = options.serve.then(|| claim_for_serving(&path_for_task)).transpose()?;
            if options.migrate {
                migrate(&mut conn, &path_for_task)?;
            }
            Ok::<_, StoreError>((conn, served))
        })
        .await
        .map_err(|err| StoreError::Backend(Box::new(err)))??;
        Ok(Self { path, conn: Arc::new(Mutex::new(conn)), meters: Arc::default(), _served: served.map(Arc::new) })
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
            let mut guard = conn.lock().map_err(|_| StoreError::Poisoned)?;
            f(&mut guard)
        })
        .await
        .map_err(|err| StoreError::Backend(Box::new(err)))?
    }

    /// Runs a short read (an indexed point query) on the current worker thread when the runtime
    /// is multi-threaded: at once when the connection is free, else handing the worker's other
    /// tasks off while it waits; with another runtime like [`Self::call`].
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
        // Free connection: run the query here. Handing the worker's tasks off (block_in_place)
        // wakes another thread, and on a warm eval run those hand-offs, one per cached answer,
        // were a third of the CPU (perf: scheduler and futex time).
        match self.conn.try_lock() {
            Ok(mut guard) => return f(&mut guard),
            Err(std::sync::TryLockError::Poisoned(_)) => return Err(StoreError::Poisoned),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        tokio::task::block_in_place(|| {
            let mut guard = self.conn.lock().map_err(|_| StoreError::Poisoned)?;
            f(&mut guard)
        })
    }
}

/// Takes an exclusive lock on `PATH.serve-lock`, held as long as the returned file is open. A lock
/// file beside the database, not the database itself: closing any descriptor of the database file
/// would drop the POSIX locks SQLite holds on it.
fn claim_for_serving(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".serve-lock");
    let open_error = |err: std::io::Error| StoreError::Open { path: PathBuf::from(&lock_path), source: Box::new(err) };
    let file =
        std::fs::File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(open_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Served { path: path.to_path_buf() }),
        Err(std::fs::TryLockError::Error(err)) => Err(open_error(err)),
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|err| StoreError::Open { path: path.to_path_buf(), source: Box::new(err) })?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|err| StoreError::Open { path: path.to_path_buf(), source: Box::new(err) })?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(backend)?;
    // Read the schema version before changing anything: a damaged or newer file fails here, untouched.
    schema_status(&conn, path)?;
    enable_wal(&conn).map_err(|err| corrupt(path, &err))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(backend)?;
    Ok(conn)
}

/// Switches a file to WAL. SQLite answers "database is locked" at once, without the busy
/// handler, when another connection is switching the same fresh file: retry within the timeout.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(err)
                if err.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The schema version (`PRAGMA user_version`), refusing a newer one.
fn schema_status(conn: &Connection, path: &Path) -> Result<SchemaStatus, StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|err| corrupt(path, &err))?;
    let found = u32::try_from(found).map_err(|_| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("schema version {found} is out of range"),
    })?;
    schema::check(schema::SQLITE, found)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<MigrationReport, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let before = schema_status(&tx, path)?;
    let mut applied = Vec::new();
    for migration in schema::pending(schema::SQLITE, before.applied) {
        tx.execute_batch(migration.sql).map_err(|err| corrupt(path, &err))?;
        tx.pragma_update(None, "user_version", migration.version).map_err(backend)?;
        applied.push(migration.label());
    }
    tx.commit().map_err(backend)?;
    Ok(MigrationReport { applied, status: SchemaStatus { applied: before.latest, ..before } })
}

#[async_trait::async_trait]
impl SchemaStore for SqliteStore {
    async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let path = self.path.clone();
        self.call(move |conn| schema_status(conn, &path)).await
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let path = self.path.clone();
        self.call(move |conn| migrate(conn, &path)).await
    }
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
