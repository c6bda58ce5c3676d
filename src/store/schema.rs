//! Schema migrations, the same story in every backend: numbered `.sql` files per backend under
//! `migrations/`, embedded here in one list per backend, applied in order inside one transaction
//! and recorded (SQLite: `PRAGMA user_version`; PostgreSQL: the `promptops_migrations` table).
//! A database migrated by a newer promptops is refused, untouched. The backends own how they
//! lock and record; this module owns the lists and the arithmetic on them.
//!
//! To add a migration, add the file for *every* backend and a line to both lists below, with the
//! same number and name; a unit test checks that the lists agree and increase.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;

/// One migration of one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The number in its file name; the schema version it brings the database to.
    pub version: u32,
    /// The rest of its file name (`registry` for `0001_registry.sql`).
    pub name: &'static str,
    /// The SQL, run as one batch.
    pub sql: &'static str,
}

/// The SQLite migrations, in order.
pub(crate) const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "registry", sql: include_str!("migrations/sqlite/0001_registry.sql") },
    Migration { version: 2, name: "inference", sql: include_str!("migrations/sqlite/0002_inference.sql") },
    Migration { version: 3, name: "runs", sql: include_str!("migrations/sqlite/0003_runs.sql") },
    Migration { version: 4, name: "workflows", sql: include_str!("migrations/sqlite/0004_workflows.sql") },
    Migration { version: 5, name: "experiments", sql: include_str!("migrations/sqlite/0005_experiments.sql") },
    Migration { version: 6, name: "accounts", sql: include_str!("migrations/sqlite/0006_accounts.sql") },
    Migration { version: 7, name: "gateway", sql: include_str!("migrations/sqlite/0007_gateway.sql") },
    Migration { version: 8, name: "credentials", sql: include_str!("migrations/sqlite/0008_credentials.sql") },
    Migration { version: 9, name: "run_owner", sql: include_str!("migrations/sqlite/0009_run_owner.sql") },
    Migration { version: 10, name: "result_duration", sql: include_str!("migrations/sqlite/0010_result_duration.sql") },
    Migration { version: 11, name: "gateway_slots", sql: include_str!("migrations/sqlite/0011_gateway_slots.sql") },
    Migration {
        version: 12,
        name: "gateway_reservations",
        sql: include_str!("migrations/sqlite/0012_gateway_reservations.sql"),
    },
    Migration { version: 13, name: "run_queue", sql: include_str!("migrations/sqlite/0013_run_queue.sql") },
    Migration { version: 14, name: "run_stop", sql: include_str!("migrations/sqlite/0014_run_stop.sql") },
    Migration { version: 15, name: "gateway_shares", sql: include_str!("migrations/sqlite/0015_gateway_shares.sql") },
];

/// The PostgreSQL migrations, in order.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "registry", sql: include_str!("migrations/postgres/0001_registry.sql") },
    Migration { version: 2, name: "inference", sql: include_str!("migrations/postgres/0002_inference.sql") },
    Migration { version: 3, name: "runs", sql: include_str!("migrations/postgres/0003_runs.sql") },
    Migration { version: 4, name: "workflows", sql: include_str!("migrations/postgres/0004_workflows.sql") },
    Migration { version: 5, name: "experiments", sql: include_str!("migrations/postgres/0005_experiments.sql") },
    Migration { version: 6, name: "accounts", sql: include_str!("migrations/postgres/0006_accounts.sql") },
    Migration { version: 7, name: "gateway", sql: include_str!("migrations/postgres/0007_gateway.sql") },
    Migration { version: 8, name: "credentials", sql: include_str!("migrations/postgres/0008_credentials.sql") },
    Migration { version: 9, name: "run_owner", sql: include_str!("migrations/postgres/0009_run_owner.sql") },
    Migration {
        version: 10,
        name: "result_duration",
        sql: include_str!("migrations/postgres/0010_result_duration.sql"),
    },
    Migration { version: 11, name: "gateway_slots", sql: include_str!("migrations/postgres/0011_gateway_slots.sql") },
    Migration {
        version: 12,
        name: "gateway_reservations",
        sql: include_str!("migrations/postgres/0012_gateway_reservations.sql"),
    },
    Migration { version: 13, name: "run_queue", sql: include_str!("migrations/postgres/0013_run_queue.sql") },
    Migration { version: 14, name: "run_stop", sql: include_str!("migrations/postgres/0014_run_stop.sql") },
    Migration { version: 15, name: "gateway_shares", sql: include_str!("migrations/postgres/0015_gateway_shares.sql") },
];

/// Where a database's schema stands against what this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SchemaStatus {
    /// The newest migration applied to the database (0: none).
    pub applied: u32,
    /// The newest migration this build knows.
    pub latest: u32,
}

impl SchemaStatus {
    /// Whether every migration this build knows is applied.
    pub fn is_current(&self) -> bool {
        self.applied == self.latest
    }

    /// How many migrations are still to apply.
    pub fn pending(&self) -> u32 {
        self.latest.saturating_sub(self.applied)
    }
}

/// What [`SchemaStore::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    /// The migrations applied now, as `0003_runs` (empty when the schema was current).
    pub applied: Vec<String>,
    /// The schema afterwards.
    pub status: SchemaStatus,
}

/// The schema of the database behind a store: not scoped, since it is shared by every tenant.
/// `promptops migrate` and the server's readiness check use it.
#[async_trait]
pub trait SchemaStore {
    /// Where the schema stands; changes nothing.
    async fn schema_status(&self) -> Result<SchemaStatus, StoreError>;

    /// Applies the pending migrations in one transaction; safe when several processes start at
    /// once (one applies, the others find the schema current). A no-op when current.
    async fn migrate(&self) -> Result<MigrationReport, StoreError>;
}

/// Checks a database's schema version against a backend's list: a newer one is refused.
pub(crate) fn check(migrations: &[Migration], applied: u32) -> Result<SchemaStatus, StoreError> {
    let latest = latest(migrations);
    if applied > latest {
        return Err(StoreError::NewerSchema { found: i64::from(applied), supported: i64::from(latest) });
    }
    Ok(SchemaStatus { applied, latest })
}

/// The migrations still to apply to a database at version `applied`, in order.
pub(crate) fn pending(migrations: &'static [Migration], applied: u32) -> impl Iterator<Item = &'static Migration> {
    migrations.iter().filter(move |m| m.version > applied)
}

/// The newest version of a backend's list.
pub(crate) fn latest(migrations: &[Migration]) -> u32 {
    migrations.last().map_or(0, |m| m.version)
}

impl Migration {
    /// The file name without `.sql`: `0003_runs`.
    pub fn label(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline(list: &[Migration]) -> Vec<(u32, &str)> {
        list.iter().map(|m| (m.version, m.name)).collect()
    }

    #[test]
    fn every_backend_has_the_same_increasing_migrations() {
        assert_eq!(outline(SQLITE), outline(POSTGRES));
        let versions: Vec<u32> = SQLITE.iter().map(|m| m.version).collect();
        // A database records only the newest version it applied, so a gap would be skipped for
        // good by a database migrated past it: numbers follow the order in which migrations land
        // on main (a branch whose number was taken meanwhile takes the next free one).
        let expected: Vec<u32> = (1..).take(versions.len()).collect();
        assert_eq!(versions, expected, "migrations must be numbered 1, 2, 3, … with no gap");
    }

    #[test]
    fn a_newer_database_is_refused_and_an_older_one_has_pending_work() {
        assert!(matches!(check(SQLITE, latest(SQLITE) + 1), Err(StoreError::NewerSchema { .. })));
        let old = check(SQLITE, 1).expect("older is fine");
        assert_eq!((old.is_current(), old.pending()), (false, latest(SQLITE) - 1));
        assert_eq!(pending(SQLITE, 1).map(Migration::label).next().as_deref(), Some("0002_inference"));
        assert!(check(SQLITE, latest(SQLITE)).expect("current").is_current());
    }
}
