//! The PostgreSQL backend, for the server at scale: tokio-postgres behind a deadpool pool, so
//! several replicas can share one database. Same tables and semantics as SQLite (tenant and
//! project columns in every table and every `WHERE`, parameterised SQL only); what SQLite gets
//! from its single writer, this backend gets from transactions plus advisory locks ([`lock`]).
//!
//! Connections use TLS when the URL says `sslmode=require` ([`tls`]), plain TCP otherwise. Owns
//! connecting and the conversions between Rust and SQL types; the queries live in one module
//! per sub-trait, the migration lists in [`super::schema`].

mod accounts;
mod cache;
mod experiments;
mod gateway;
mod listen;
mod migrate;
mod prompts;
mod queue;
mod runs;
pub(super) mod shares;
mod tls;
mod usage;
mod workflow;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::Host;
use tokio_postgres::{Config, NoTls, Row, Transaction};

use super::{OpenOptions, Scope, StoreError, redact_url};

/// Connections per store (per server replica). PostgreSQL's default `max_connections` is 100.
const POOL_SIZE: usize = 16;

/// How long to wait for a connection before reporting the database unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A store in a PostgreSQL database (the tables live in the first schema of the `search_path`).
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    target: String,
    tls: bool,
    listener: Arc<listen::Listener>,
    /// The gateway's shares of rate and budget leased by this process's replicas.
    shares: Arc<shares::Shares>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("target", &self.target).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database a `postgres://` URL names and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, OpenOptions::default()).await
    }

    /// Connects, checks that the schema is not newer than this build, and migrates if asked.
    /// Fails with [`StoreError::Connect`] (host, port, user and database; never the password)
    /// when the database does not answer.
    pub async fn open_with(url: &str, options: OpenOptions) -> Result<Self, StoreError> {
        let (config, tls) = parse_config(url)?;
        let target = describe(&config);
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let connector = if tls.required { Some(tls::connector(&tls, url)?) } else { None };
        let listener = Arc::new(listen::Listener::new(config.clone(), connector.clone()));
        let manager = match connector {
            Some(connector) => Manager::from_config(config, connector, manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(CONNECT_TIMEOUT * 3))
            .build()
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
        let store = Self { pool, target, tls: tls.required, listener, shares: Arc::default() };
        if options.migrate {
            store.apply_migrations().await?;
        } else {
            store.read_schema_status().await?;
        }
        Ok(store)
    }

    /// Where the store is, for messages: `user@host:port/database`, never the password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|err| StoreError::Connect {
            target: self.target.clone(),
            tls: self.tls,
            source: Box::new(err),
        })
    }
}

/// How long a session may sit inside a transaction without sending anything.
const IDLE_IN_TRANSACTION: &str = "10s";

/// Parses a `postgres://` URL into tokio-postgres' settings and what it asks of TLS.
fn parse_config(url: &str) -> Result<(Config, tls::TlsRequest), StoreError> {
    let (url_for_driver, tls) = tls::split_url(url);
    let mut config = Config::from_str(&url_for_driver)
        .map_err(|err| StoreError::InvalidUrl { url: redact_url(url), reason: err.to_string() })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("promptops");
    }
    // A process frozen inside a transaction (SIGSTOP, a paused VM, a stuck node) would hold its
    // row locks for ever, and every replica writing the same run would wait on it; PostgreSQL
    // ends such a session instead, and its late writes fail (they are fenced anyway).
    let options = config.get_options().unwrap_or_default().to_owned();
    if !options.contains("idle_in_transaction_session_timeout") {
        config.options(format!("{options} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION}").trim());
    }
    Ok((config, tls))
}

/// `user@host:port/database` of a parsed URL.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let port = config.get_ports().get(index).or(config.get_ports().first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let database = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
    let hosts = if hosts.is_empty() { "localhost:5432".to_owned() } else { hosts.join(",") };
    format!("{user}{hosts}/{database}")
}

/// Takes transaction-scoped advisory locks on `keys` (of one `kind`, within `scope`), in one
/// sorted order so two writers can never deadlock. Writers of the same keys then run one after
/// the other across connections and replicas: what keeps version and run numbers gapless even
/// when the row to lock does not exist yet. The schema is part of the key, so stores in other
/// schemas of the same database (parallel tests) never wait for each other.
pub(crate) async fn lock(tx: &Transaction<'_>, scope: &Scope, kind: &str, keys: &[&str]) -> Result<(), StoreError> {
    let keys: Vec<String> =
        keys.iter().map(|key| format!("{}\u{1f}{}\u{1f}{kind}\u{1f}{key}", scope.tenant(), scope.project())).collect();
    tx.execute(
        "SELECT pg_advisory_xact_lock(h) FROM (
             SELECT DISTINCT hashtextextended(COALESCE(current_schema(), '') || k, 0) AS h
             FROM unnest($1::TEXT[]) AS k ORDER BY h
         ) AS locks",
        &[&keys],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// The next number of a per-project sequence kept as `MAX(id) + 1` in `table`, taking the
/// project's `kind` lock first so concurrent writers get distinct, gapless numbers.
pub(crate) async fn next_number(
    tx: &Transaction<'_>,
    scope: &Scope,
    kind: &str,
    table: &str,
) -> Result<i64, StoreError> {
    lock(tx, scope, kind, &[""]).await?;
    let sql = format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table} WHERE tenant_id = $1 AND project_id = $2");
    let row = tx.query_one(&sql, &[&scope.tenant(), &scope.project()]).await.map_err(backend)?;
    col(&row, 0)
}

/// Wraps any tokio-postgres error.
pub(crate) fn backend(err: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// Reads column `index` of a row.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index).map_err(backend)
}

/// A `u32` (version, step, index) as an `INTEGER`.
pub(crate) fn to_db(value: u32) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|_| StoreError::TooLarge { value: value.to_string() })
}

/// An `INTEGER` as a `u32`.
pub(crate) fn from_db(value: i32) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Decode(format!("stored number {value} is negative")))
}

/// A `u64` (count, tokens, id) as a `BIGINT`.
pub(crate) use crate::store::to_i64 as to_big;

/// A `BIGINT` as a `u64`.
pub(crate) use crate::store::from_i64 as from_big;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_names_user_host_and_database_but_never_the_password() {
        let (config, _) = parse_config("postgres://app:hunter2@db.internal:6432/promptops").expect("valid");
        assert_eq!(describe(&config), "app@db.internal:6432/promptops");
    }

    #[test]
    fn a_malformed_url_is_refused_without_echoing_the_password() {
        let err = parse_config("postgres://app:hunter2@db:notaport/x").expect_err("bad port");
        let text = format!("{err} {err:?}");
        assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
