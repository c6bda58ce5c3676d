//! [`UsageStore`] on SQLite: an append-only ledger of calls, summed for budgets and reports.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{SqliteStore, backend, timestamp};
use crate::money::Micros;
use crate::store::{Scope, StoreError, UsageGroup, UsageRecord, UsageRow, UsageStore, to_i64};

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record_usage(&self, scope: &Scope, records: &[UsageRecord]) -> Result<(), StoreError> {
        let (tenant, project, records) = (scope.tenant().to_owned(), scope.project().to_owned(), records.to_vec());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO usage_events (tenant_id, project_id, at, provider, model, prompt, input_tokens,
                         output_tokens, cached_input_tokens, cost_micros, cache_hit)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )
                    .map_err(backend)?;
                for r in &records {
                    stmt.execute(params![
                        tenant,
                        project,
                        timestamp(r.at),
                        r.provider,
                        r.model,
                        r.prompt,
                        to_i64(r.input_tokens)?,
                        to_i64(r.output_tokens)?,
                        to_i64(r.cached_input_tokens)?,
                        r.cost.0,
                        r.cache_hit
                    ])
                    .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn spend_between(&self, scope: &Scope, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Micros, StoreError> {
        let (tenant, project, from, to) =
            (scope.tenant().to_owned(), scope.project().to_owned(), timestamp(from), timestamp(to));
        self.call(move |conn| {
            conn.query_row(
                "SELECT COALESCE(SUM(cost_micros), 0) FROM usage_events
                 WHERE tenant_id = ?1 AND project_id = ?2 AND at >= ?3 AND at < ?4",
                params![tenant, project, from, to],
                |row| row.get::<_, i64>(0),
            )
            .map(Micros)
            .map_err(backend)
        })
        .await
    }

    async fn usage_report(
        &self,
        scope: &Scope,
        since: Option<DateTime<Utc>>,
        by: UsageGroup,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let (tenant, project) = (scope.tenant().to_owned(), scope.project().to_owned());
        let since = since.map_or_else(String::new, timestamp);
        // The grouping column is one of three fixed expressions, never user text.
        let key = match by {
            UsageGroup::Day => "substr(at, 1, 10)",
            UsageGroup::Provider => "provider",
            UsageGroup::Model => "model",
        };
        let sql = format!(
            "SELECT {key}, COUNT(*), SUM(cache_hit), SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens), SUM(cost_micros)
             FROM usage_events WHERE tenant_id = ?1 AND project_id = ?2 AND at >= ?3
             GROUP BY 1 ORDER BY 1"
        );
        self.call(move |conn| {
            let mut stmt = conn.prepare(&sql).map_err(backend)?;
            let rows = stmt
                .query_map(params![tenant, project, since], |row| {
                    Ok(UsageRow {
                        key: row.get(0)?,
                        requests: row.get::<_, u64>(1)?,
                        cache_hits: row.get::<_, u64>(2)?,
                        input_tokens: row.get::<_, u64>(3)?,
                        output_tokens: row.get::<_, u64>(4)?,
                        cached_input_tokens: row.get::<_, u64>(5)?,
                        cost: Micros(row.get(6)?),
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }
}
