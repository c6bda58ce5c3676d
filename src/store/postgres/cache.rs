//! [`CacheStore`] on PostgreSQL: one row per request hash, replaced on write, ignored once expired.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, backend, col};
use crate::store::commit::now;
use crate::store::{CacheEntry, CacheStore, Scope, StoreError, in_order};

#[async_trait]
impl CacheStore for PostgresStore {
    async fn cache_get(&self, scope: &Scope, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT response FROM response_cache
                 WHERE tenant_id = $1 AND project_id = $2 AND key = $3 AND (expires_at IS NULL OR expires_at > $4)",
            )
            .await
            .map_err(backend)?;
        let row =
            client.query_opt(&statement, &[&scope.tenant(), &scope.project(), &key, &now]).await.map_err(backend)?;
        row.map(|row| col(&row, 0)).transpose()
    }

    async fn cache_get_many(
        &self,
        scope: &Scope,
        keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT key, response FROM response_cache
                 WHERE tenant_id = $1 AND project_id = $2 AND key = ANY($3) AND (expires_at IS NULL OR expires_at > $4)",
            )
            .await
            .map_err(backend)?;
        let rows =
            client.query(&statement, &[&scope.tenant(), &scope.project(), &keys, &now]).await.map_err(backend)?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            found.insert(col::<String>(row, 0)?, col::<String>(row, 1)?);
        }
        Ok(in_order(keys, &found))
    }

    async fn cache_put_many(&self, scope: &Scope, entries: &[CacheEntry]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let statement = tx
            .prepare_cached(
                "INSERT INTO response_cache (tenant_id, project_id, key, response, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, project_id, key)
                 DO UPDATE SET response = EXCLUDED.response, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
            )
            .await
            .map_err(backend)?;
        let (tenant, project, at) = (scope.tenant(), scope.project(), now());
        // Issued together, so tokio-postgres pipelines the batch in one round trip.
        try_join_all(entries.iter().map(|e| {
            tx.execute_raw(&statement, [&tenant as &(dyn ToSql + Sync), &project, &e.key, &e.value, &at, &e.expires_at])
        }))
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn cache_clear(&self, scope: &Scope, expired_before: Option<DateTime<Utc>>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM response_cache WHERE tenant_id = $1 AND project_id = $2
                 AND ($3::TIMESTAMPTZ IS NULL OR expires_at <= $3)",
                &[&scope.tenant(), &scope.project(), &expired_before],
            )
            .await
            .map_err(backend)
    }
}
