//! [`CacheStore`] on SQLite: one row per request hash, replaced on write, ignored once expired.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, backend, timestamp};
use crate::store::{CacheEntry, CacheStore, Scope, StoreError, in_order};

#[async_trait]
impl CacheStore for SqliteStore {
    async fn cache_get(&self, scope: &Scope, key: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        let (tenant, project, key, now) =
            (scope.tenant().to_owned(), scope.project().to_owned(), key.to_owned(), timestamp(now));
        self.call_short(move |conn| {
            conn.prepare_cached(
                "SELECT response FROM response_cache
                 WHERE tenant_id = ?1 AND project_id = ?2 AND key = ?3 AND (expires_at IS NULL OR expires_at > ?4)",
            )
            .and_then(|mut stmt| stmt.query_row(params![tenant, project, key, now], |row| row.get(0)).optional())
            .map_err(backend)
        })
        .await
    }

    async fn cache_get_many(
        &self,
        scope: &Scope,
        keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<String>>, StoreError> {
        // The keys travel as one JSON array, so that one prepared statement serves every batch
        // size (an `IN (?, ?, …)` list would be a statement per size, crowding the statement cache).
        let list = serde_json::to_string(keys).map_err(|err| StoreError::Backend(Box::new(err)))?;
        let (tenant, project, now) = (scope.tenant().to_owned(), scope.project().to_owned(), timestamp(now));
        let found: HashMap<String, String> = self
            .call_short(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT key, response FROM response_cache
                         WHERE tenant_id = ?1 AND project_id = ?2 AND key IN (SELECT value FROM json_each(?3))
                           AND (expires_at IS NULL OR expires_at > ?4)",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![tenant, project, list, now], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)
            })
            .await?;
        Ok(in_order(keys, &found))
    }

    async fn cache_put_many(&self, scope: &Scope, entries: &[CacheEntry]) -> Result<(), StoreError> {
        let (tenant, project, entries) = (scope.tenant().to_owned(), scope.project().to_owned(), entries.to_vec());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO response_cache (tenant_id, project_id, key, response, created_at, expires_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (tenant_id, project_id, key)
                         DO UPDATE SET response = excluded.response, created_at = excluded.created_at, expires_at = excluded.expires_at",
                    )
                    .map_err(backend)?;
                let now = timestamp(Utc::now());
                for e in &entries {
                    stmt.execute(params![tenant, project, e.key, e.value, now, e.expires_at.map(timestamp)])
                        .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn cache_clear(&self, scope: &Scope, expired_before: Option<DateTime<Utc>>) -> Result<u64, StoreError> {
        let (tenant, project) = (scope.tenant().to_owned(), scope.project().to_owned());
        let before = expired_before.map(timestamp);
        self.call(move |conn| {
            let removed = match before {
                Some(before) => conn.execute(
                    "DELETE FROM response_cache WHERE tenant_id = ?1 AND project_id = ?2 AND expires_at IS NOT NULL AND expires_at <= ?3",
                    params![tenant, project, before],
                ),
                None => conn
                    .execute("DELETE FROM response_cache WHERE tenant_id = ?1 AND project_id = ?2", params![tenant, project]),
            }
            .map_err(backend)?;
            Ok(removed as u64)
        })
        .await
    }
}
