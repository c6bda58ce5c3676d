//! Persistence behind one interface with several backends (DESIGN boundary 1). The [`Store`]
//! trait is the union of one sub-trait per concern, so that each concern's queries sit together;
//! every method takes a [`Scope`] first, so tenancy is enforced in the queries themselves.
//! Backends: SQLite (embedded, default; `sqlite/`) and PostgreSQL (the server at scale;
//! `postgres/`), picked by URL in `open`; their migrations are listed in `schema`. Logic that does
//! not depend on SQL (what a commit creates, how totals add up) lives here once, for both.

mod accounts;
pub mod changes;
mod commit;
mod experiment;
pub mod gateway;
mod open;
mod postgres;
mod queue;
mod records;
mod run_records;
pub mod schema;
mod sqlite;
mod workflow;

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::access::Scope;
use crate::error::{Diagnostic, ErrorClass};
use crate::money::Micros;
use crate::prompt::{Label, PromptName};
pub use accounts::{
    AccountStore, AuditDraft, AuditQuery, AuditRecord, KeyPairGrant, KeyPairRecord, MemberChange, MemberRecord,
    PrincipalKind, PrincipalRecord, ProjectRecord, Slug, SlugError, TenantRecord, TokenGrant, TokenKey, TokenRecord,
    TokenScope,
};
pub(crate) use experiment::EXPERIMENT_COLUMNS;
pub use experiment::{ExperimentArm, ExperimentDraft, ExperimentRecord, ExperimentStore};
pub use gateway::{
    Admission, ConnectionRecord, GatewayKeyRecord, GatewayStore, MeterLimit, MeterRequest, MeterScope, MeterSettle,
    SealedRow, SettingsOwner, TraceRecord,
};
pub use open::{OpenOptions, StoreUrl, open, open_with, redact_url};
pub use postgres::PostgresStore;
pub use queue::{ClaimOptions, ClaimedUnit, QUEUE_OWNER, QueueStore, QueuedRunDraft, SequencedResult, UnitResult};
pub use records::{
    CommitOutcome, LabelMove, LabelRecord, MoveReason, PromptSummary, UsageGroup, UsageRecord, UsageRow, VersionDraft,
    VersionMeta, VersionRecord,
};
pub use run_records::{
    AssertionResult, CaseStatus, ResultQuery, ResultRecord, RunDraft, RunRecord, RunStatus, RunTarget, RunTotals,
    UnitKey,
};
pub use schema::{MigrationReport, SchemaStatus, SchemaStore};
pub use sqlite::SqliteStore;
pub use workflow::{CheckpointRow, TaskRow, ThreadRecord, WorkflowStore};

/// A keyset bound on run or experiment numbers (`id < bound`) as both backends bind it. Numbers
/// are stored as `i64`, so a bound above `i64::MAX` excludes none of them: no bound.
pub(crate) fn id_bound(before: Option<u64>) -> Option<i64> {
    before.and_then(|b| i64::try_from(b).ok())
}

/// A count, id or token sum as the `i64` both backends store; a value beyond `i64::MAX` is
/// refused, never wrapped into a negative number.
pub(crate) fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::TooLarge { value: value.to_string() })
}

/// A stored `i64` as the `u64` it was written from; a negative one is invalid stored data.
pub(crate) fn from_i64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Decode(format!("stored number {value} is negative")))
}

/// Every persistent capability. Implemented by each backend; use it as `Arc<dyn Store>`.
pub trait Store:
    PromptStore
    + CacheStore
    + UsageStore
    + RunStore
    + WorkflowStore
    + ExperimentStore
    + SchemaStore
    + AccountStore
    + GatewayStore
    + QueueStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: PromptStore
        + CacheStore
        + UsageStore
        + RunStore
        + WorkflowStore
        + ExperimentStore
        + SchemaStore
        + AccountStore
        + GatewayStore
        + QueueStore
        + Send
        + Sync
        + 'static
{
}

/// Prompt versions and labels.
#[async_trait]
pub trait PromptStore {
    /// Stores a new version for every draft whose hash differs from its prompt's latest
    /// version, in one transaction; numbers are gapless per prompt even under concurrent commits.
    async fn commit(&self, scope: &Scope, drafts: Vec<VersionDraft>) -> Result<Vec<CommitOutcome>, StoreError>;

    /// One version with its content.
    async fn version(&self, scope: &Scope, name: &PromptName, number: u32)
    -> Result<Option<VersionRecord>, StoreError>;

    /// The newest version with its content.
    async fn latest(&self, scope: &Scope, name: &PromptName) -> Result<Option<VersionRecord>, StoreError>;

    /// Every version of a prompt, oldest first, without content.
    async fn versions(&self, scope: &Scope, name: &PromptName) -> Result<Vec<VersionMeta>, StoreError>;

    /// The versions whose hash starts with `prefix`.
    async fn find_hash_prefix(
        &self,
        scope: &Scope,
        name: &PromptName,
        prefix: &str,
    ) -> Result<Vec<VersionMeta>, StoreError>;

    /// Every prompt with at least one version, by name.
    async fn prompts(&self, scope: &Scope) -> Result<Vec<PromptSummary>, StoreError>;

    /// The labels of one prompt, or of all prompts.
    async fn labels(&self, scope: &Scope, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, StoreError>;

    /// Points `label` at version `to` (or removes it when `to` is `None`) and records the move.
    /// Fails with [`StoreError::VersionNotFound`] if the version does not exist.
    async fn move_label(
        &self,
        scope: &Scope,
        name: &PromptName,
        label: &Label,
        to: Option<u32>,
        reason: MoveReason,
        actor: &str,
    ) -> Result<LabelMove, StoreError>;

    /// Every recorded move of the labels of a prompt, oldest first.
    async fn label_history(&self, scope: &Scope, name: &PromptName) -> Result<Vec<LabelMove>, StoreError>;
}

/// Eval runs and their per-case results.
#[async_trait]
pub trait RunStore {
    /// Records a new run with status `running` and the next number in the scope.
    async fn create_run(&self, scope: &Scope, draft: RunDraft) -> Result<RunRecord, StoreError>;

    /// Stores a run made elsewhere (an upload) under the scope's next number, with its status,
    /// start and finish times and its results, in one transaction: all of it or nothing. The
    /// record's own number and totals are ignored; the totals are counted from `results`.
    async fn import_run(
        &self,
        scope: &Scope,
        run: RunRecord,
        results: Vec<ResultRecord>,
    ) -> Result<RunRecord, StoreError>;

    /// Adds results to a run in one transaction and updates its totals. A result whose unit is
    /// already stored is skipped, so a resumed run never counts a case twice.
    async fn append_results(&self, scope: &Scope, run: u64, results: Vec<ResultRecord>) -> Result<(), StoreError>;

    /// Sets a run's status and finish time; returns the run as stored.
    async fn set_run_status(&self, scope: &Scope, run: u64, status: RunStatus) -> Result<RunRecord, StoreError>;

    /// Makes `owner` the owner of a run that is not finished, and sets it `running`, only if its
    /// owner is still `expected` (compare and set): of two processes resuming one run, one
    /// gets `true`. `false` when the run changed hands, finished, or does not exist.
    async fn claim_run(&self, scope: &Scope, run: u64, expected: Option<&str>, owner: &str)
    -> Result<bool, StoreError>;

    /// One run.
    async fn run(&self, scope: &Scope, id: u64) -> Result<Option<RunRecord>, StoreError>;

    /// The newest runs first, of one suite or all, only those numbered below `before` when it
    /// is given (keyset paging: pass the last number of the previous page), at most `limit`.
    async fn runs(
        &self,
        scope: &Scope,
        suite: Option<&str>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// A run's results in unit order, filtered and paged by `query`.
    async fn results(&self, scope: &Scope, run: u64, query: ResultQuery) -> Result<Vec<ResultRecord>, StoreError>;

    /// The units of a run that have a result (what `--resume` skips).
    async fn done_units(&self, scope: &Scope, run: u64) -> Result<Vec<UnitKey>, StoreError>;
}

/// The provider layer's response cache: opaque values under request hashes, with an optional expiry.
#[async_trait]
pub trait CacheStore {
    /// The value stored under `key`, unless it expired before `now`.
    async fn cache_get(&self, scope: &Scope, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;

    /// The values stored under each of `keys` (in their order, `None` where there is none or it
    /// expired before `now`), read in one query: a warm eval run asks for thousands of answers,
    /// and one query per answer spends more on starting and ending reads than on finding them.
    async fn cache_get_many(
        &self,
        scope: &Scope,
        keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<String>>, StoreError>;

    /// Stores (or replaces) the value under `key`; `expires_at` of `None` keeps it until cleared.
    async fn cache_put(
        &self,
        scope: &Scope,
        key: &str,
        value: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let entry = CacheEntry { key: key.to_owned(), value: value.to_owned(), expires_at };
        self.cache_put_many(scope, std::slice::from_ref(&entry)).await
    }

    /// Stores (or replaces) several entries in one transaction (the background writer's batches).
    async fn cache_put_many(&self, scope: &Scope, entries: &[CacheEntry]) -> Result<(), StoreError>;

    /// Removes every entry of the scope (or only the expired ones when `expired_before` is set);
    /// returns how many were removed.
    async fn cache_clear(&self, scope: &Scope, expired_before: Option<DateTime<Utc>>) -> Result<u64, StoreError>;
}

/// The values found for `keys` by one query, in the order of `keys` (a key asked twice, by two
/// requests that are the same, gets its value both times).
pub(crate) fn in_order(keys: &[String], found: &HashMap<String, String>) -> Vec<Option<String>> {
    keys.iter().map(|key| found.get(key).cloned()).collect()
}

/// One response-cache entry to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The request hash.
    pub key: String,
    /// The stored response.
    pub value: String,
    /// When it stops being served (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// The usage and cost ledger: one row per model call (cache hits included, at zero cost).
#[async_trait]
pub trait UsageStore {
    /// Appends usage rows, in one transaction.
    async fn record_usage(&self, scope: &Scope, records: &[UsageRecord]) -> Result<(), StoreError>;

    /// The total cost of calls made at or after `from` and before `to`.
    async fn spend_between(&self, scope: &Scope, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Micros, StoreError>;

    /// Totals since `since` (or ever), grouped by day, provider or model, in key order.
    async fn usage_report(
        &self,
        scope: &Scope,
        since: Option<DateTime<Utc>>,
        by: UsageGroup,
    ) -> Result<Vec<UsageRow>, StoreError>;
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("failed to open the database `{}`", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A database URL could not be understood.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database server did not answer or refused the connection.
    #[error("failed to connect to PostgreSQL at `{target}`")]
    Connect {
        /// `user@host:port/database`, never the password.
        target: String,
        /// Whether the URL asked for TLS.
        tls: bool,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file is not a database, or it is damaged.
    #[error("the database `{}` is corrupted or not a promptops database: {detail}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The database was written by a newer promptops.
    #[error("the database schema is version {found}, newer than this promptops supports ({supported})")]
    NewerSchema {
        /// The schema version found.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// A version that does not exist was referenced.
    #[error("prompt `{name}` has no version {number}")]
    VersionNotFound {
        /// The prompt.
        name: PromptName,
        /// The missing version.
        number: u32,
    },
    /// A run that does not exist was referenced.
    #[error("run {id} not found")]
    RunNotFound {
        /// The run asked for.
        id: u64,
    },
    /// The object already exists.
    #[error("{what} already exists")]
    Conflict {
        /// What, with its id: "tenant `acme`".
        what: String,
    },
    /// A referenced object does not exist in the scope.
    #[error("{what} not found")]
    NotFound {
        /// What, with its id: "principal `bob`".
        what: String,
    },
    /// Stored data could not be decoded.
    #[error("stored data is invalid: {0}")]
    Decode(String),
    /// A number is beyond what the database stores (`i64::MAX` for counts and ids).
    #[error("{value} is too large to store")]
    TooLarge {
        /// The number, as given.
        value: String,
    },
    /// The connection's lock was poisoned: an earlier operation panicked while holding it, so
    /// the connection's state is unknown and it is not used again.
    #[error("the database connection is unusable: an earlier operation failed while holding it")]
    Poisoned,
    /// What the store holds disagrees with what was written alongside it (another writer
    /// changed it meanwhile): nothing more is written.
    #[error("the store disagrees with what was written: {0}")]
    Diverged(String),
    /// Another `promptops serve` holds this SQLite database: SQLite serves one replica.
    #[error("the database `{}` is already served by another `promptops serve`", path.display())]
    Served {
        /// The database file.
        path: PathBuf,
    },
    /// Writes made off the request path (cache entries, usage rows) failed: they are lost.
    #[error(
        "{usage_rows} usage row(s) and {cache_entries} cache entr{} were not recorded",
        if *cache_entries == 1 { "y" } else { "ies" }
    )]
    Background {
        /// Usage rows lost: spend that budgets and `promptops cost` do not see.
        usage_rows: u64,
        /// Cache entries lost: later identical calls are paid again.
        cache_entries: u64,
        /// The first write that failed.
        #[source]
        source: Box<StoreError>,
    },
    /// The backend failed.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Diagnostic for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::VersionNotFound { .. } | Self::RunNotFound { .. } | Self::Conflict { .. } | Self::NotFound { .. } => {
                ErrorClass::Usage
            }
            Self::Corrupt { .. }
            | Self::NewerSchema { .. }
            | Self::Open { .. }
            | Self::InvalidUrl { .. }
            | Self::Served { .. } => ErrorClass::Config,
            Self::Connect { .. } => ErrorClass::Upstream,
            Self::TooLarge { .. } | Self::Diverged(_) => ErrorClass::Usage,
            Self::Decode(_) | Self::Backend(_) | Self::Background { .. } | Self::Poisoned => ErrorClass::Internal,
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Corrupt { path, .. } => vec![format!(
                "nothing was changed; move `{}` aside (your prompt files are safe) and run the command again to start a fresh store",
                path.display()
            )],
            Self::NewerSchema { .. } => vec!["nothing was changed; upgrade promptops to use this database".to_owned()],
            Self::InvalidUrl { .. } => vec![
                "use `sqlite://PATH` (or a plain path) or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`".to_owned(),
            ],
            Self::Connect { target, tls, .. } => connect_hints(target, *tls),
            Self::VersionNotFound { name, .. } => vec![format!("run `promptops log {name}` to list its versions")],
            Self::RunNotFound { .. } => vec!["run `promptops eval list` to list runs".to_owned()],
            Self::Poisoned => vec!["nothing more was written; run the command again".to_owned()],
            Self::Served { .. } => vec![
                "SQLite serves one replica: stop the other server, or use PostgreSQL (`postgres://…`) to run several"
                    .to_owned(),
            ],
            Self::Diverged(_) => vec!["another process wrote meanwhile; run the command again".to_owned()],
            Self::Background { usage_rows, .. } => {
                let mut hints = Vec::new();
                if *usage_rows > 0 {
                    hints.push("budgets and `promptops cost` undercount the spend of the calls made".to_owned());
                }
                hints.push("check the database: free disk space, file permissions, the server's health".to_owned());
                hints
            }
            _ => Vec::new(),
        }
    }
}

/// What to check when PostgreSQL does not answer.
fn connect_hints(target: &str, tls: bool) -> Vec<String> {
    let host_port = target.rsplit_once('@').map_or(target, |(_, rest)| rest);
    let host_port = host_port.split_once('/').map_or(host_port, |(hosts, _)| hosts);
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5432"));
    let mut hints = vec![
        format!("check that PostgreSQL is running and reachable: `pg_isready -h {host} -p {port}`"),
        "check the user, password and database name in the URL (the password is never shown)".to_owned(),
    ];
    if tls {
        hints.push(format!(
            "with `sslmode=require` the certificate of `{host}` must be signed by a public CA or by one in `sslrootcert=PATH`"
        ));
    }
    hints
}
