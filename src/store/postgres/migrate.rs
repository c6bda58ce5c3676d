//! [`SchemaStore`] on PostgreSQL: the applied migrations are rows of `promptops_migrations`.
//! Migrating runs in one transaction that first takes an advisory lock keyed by the schema, so
//! when several replicas start at once one migrates and the others wait, then find nothing to do.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::{PostgresStore, backend, col, from_db, to_db};
use crate::store::StoreError;
use crate::store::schema::{self, MigrationReport, SchemaStatus, SchemaStore};

/// The first key of the migration lock (the second is the schema's hash): "prom" in ASCII.
const LOCK_CLASS: i32 = 0x7072_6f6d;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS promptops_migrations (
    version    INTEGER     PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// The newest applied version (0 when the table does not exist yet).
async fn applied(client: &impl GenericClient) -> Result<u32, StoreError> {
    let row = client.query_one("SELECT to_regclass('promptops_migrations') IS NOT NULL", &[]).await.map_err(backend)?;
    if !col::<bool>(&row, 0)? {
        return Ok(0);
    }
    let row =
        client.query_one("SELECT COALESCE(MAX(version), 0) FROM promptops_migrations", &[]).await.map_err(backend)?;
    from_db(col(&row, 0)?)
}

impl PostgresStore {
    /// Reads the schema version, refusing a newer one.
    pub(super) async fn read_schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let client = self.client().await?;
        schema::check(schema::POSTGRES, applied(&client).await?)
    }

    /// Applies what is pending, under the migration lock.
    pub(super) async fn apply_migrations(&self) -> Result<MigrationReport, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '')))", &[&LOCK_CLASS])
            .await
            .map_err(backend)?;
        tx.batch_execute(CREATE_TABLE).await.map_err(backend)?;
        // Read under the lock: another process may have migrated while we waited.
        let before = schema::check(schema::POSTGRES, applied(&tx).await?)?;
        let mut report = Vec::new();
        for migration in schema::pending(schema::POSTGRES, before.applied) {
            tx.batch_execute(migration.sql).await.map_err(backend)?;
            tx.execute(
                "INSERT INTO promptops_migrations (version, name) VALUES ($1, $2)",
                &[&to_db(migration.version)?, &migration.name],
            )
            .await
            .map_err(backend)?;
            report.push(migration.label());
        }
        tx.commit().await.map_err(backend)?;
        Ok(MigrationReport { applied: report, status: SchemaStatus { applied: before.latest, ..before } })
    }
}

#[async_trait]
impl SchemaStore for PostgresStore {
    async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        self.read_schema_status().await
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        self.apply_migrations().await
    }
}
