//! [`UsageStore`] on PostgreSQL: an append-only ledger of calls, summed for budgets and reports.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, backend, col, from_big, to_big};
use crate::money::Micros;
use crate::store::{Scope, StoreError, UsageGroup, UsageRecord, UsageRow, UsageStore};

fn decode_row(row: &Row) -> Result<UsageRow, StoreError> {
    Ok(UsageRow {
        key: col(row, 0)?,
        requests: from_big(col(row, 1)?)?,
        cache_hits: from_big(col(row, 2)?)?,
        input_tokens: from_big(col(row, 3)?)?,
        output_tokens: from_big(col(row, 4)?)?,
        cached_input_tokens: from_big(col(row, 5)?)?,
        cost: Micros(col(row, 6)?),
    })
}

#[async_trait]
impl UsageStore for PostgresStore {
    async fn record_usage(&self, scope: &Scope, records: &[UsageRecord]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let statement = tx
            .prepare_cached(
                "INSERT INTO usage_events (tenant_id, project_id, at, provider, model, prompt, input_tokens,
                 output_tokens, cached_input_tokens, cost_micros, cache_hit)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await
            .map_err(backend)?;
        let tokens: Vec<[i64; 3]> = records
            .iter()
            .map(|r| Ok([to_big(r.input_tokens)?, to_big(r.output_tokens)?, to_big(r.cached_input_tokens)?]))
            .collect::<Result<_, StoreError>>()?;
        let (tenant, project) = (scope.tenant(), scope.project());
        // Issued together, so tokio-postgres pipelines the batch in one round trip.
        try_join_all(records.iter().zip(&tokens).map(|(r, [input, output, cached])| {
            tx.execute_raw(
                &statement,
                [
                    &tenant as &(dyn ToSql + Sync),
                    &project,
                    &r.at,
                    &r.provider,
                    &r.model,
                    &r.prompt,
                    input,
                    output,
                    cached,
                    &r.cost.0,
                    &r.cache_hit,
                ],
            )
        }))
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn spend_between(&self, scope: &Scope, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Micros, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(SUM(cost_micros), 0)::BIGINT FROM usage_events
                 WHERE tenant_id = $1 AND project_id = $2 AND at >= $3 AND at < $4",
                &[&scope.tenant(), &scope.project(), &from, &to],
            )
            .await
            .map_err(backend)?;
        Ok(Micros(col(&row, 0)?))
    }

    async fn usage_report(
        &self,
        scope: &Scope,
        since: Option<DateTime<Utc>>,
        by: UsageGroup,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let client = self.client().await?;
        // The grouping column is one of three fixed expressions, never user text.
        let key = match by {
            UsageGroup::Day => "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            UsageGroup::Provider => "provider",
            UsageGroup::Model => "model",
        };
        let sql = format!(
            "SELECT {key} COLLATE \"C\", COUNT(*), COUNT(*) FILTER (WHERE cache_hit), SUM(input_tokens)::BIGINT,
                    SUM(output_tokens)::BIGINT, SUM(cached_input_tokens)::BIGINT, SUM(cost_micros)::BIGINT
             FROM usage_events WHERE tenant_id = $1 AND project_id = $2 AND ($3::TIMESTAMPTZ IS NULL OR at >= $3)
             GROUP BY 1 ORDER BY 1"
        );
        let rows = client.query(&sql, &[&scope.tenant(), &scope.project(), &since]).await.map_err(backend)?;
        rows.iter().map(decode_row).collect()
    }
}
