//! [`ExperimentStore`] on PostgreSQL. Experiment numbers are per project and gapless: creating
//! one takes the project's experiment lock first, as runs do.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{PostgresStore, backend, col, from_big, next_number};
use crate::store::commit::now;
use crate::store::{
    EXPERIMENT_COLUMNS, ExperimentDraft, ExperimentRecord, ExperimentStore, Scope, StoreError, id_bound,
};

fn decode_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| StoreError::Decode(format!("{what}: {err}")))
}

fn encode_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Decode(format!("encode: {err}")))
}

fn decode(row: &Row) -> Result<ExperimentRecord, StoreError> {
    Ok(ExperimentRecord {
        id: from_big(col(row, 0)?)?,
        draft: ExperimentDraft {
            suite: col(row, 1)?,
            arms: decode_json("experiment arms", col(row, 2)?)?,
            sequential: col(row, 3)?,
            alpha: col(row, 4)?,
            outcome: col(row, 5)?,
            summary: col(row, 6)?,
            analysis: decode_json("experiment analysis", col(row, 7)?)?,
            actor: col(row, 8)?,
        },
        created_at: col(row, 9)?,
    })
}

#[async_trait]
impl ExperimentStore for PostgresStore {
    async fn create_experiment(&self, scope: &Scope, draft: ExperimentDraft) -> Result<ExperimentRecord, StoreError> {
        let (arms, analysis) = (encode_json(&draft.arms)?, encode_json(&draft.analysis)?);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let next = next_number(&tx, scope, "experiments", "experiments").await?;
        let sql = format!(
            "INSERT INTO experiments (tenant_id, project_id, id, suite, arms, sequential, alpha, outcome, summary,
             analysis, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             RETURNING {EXPERIMENT_COLUMNS}"
        );
        let row = tx
            .query_one(
                &sql,
                &[
                    &scope.tenant(),
                    &scope.project(),
                    &next,
                    &draft.suite,
                    &arms,
                    &draft.sequential,
                    &draft.alpha,
                    &draft.outcome,
                    &draft.summary,
                    &analysis,
                    &draft.actor,
                    &now(),
                ],
            )
            .await
            .map_err(backend)?;
        let record = decode(&row)?;
        tx.commit().await.map_err(backend)?;
        Ok(record)
    }

    async fn experiment(&self, scope: &Scope, id: u64) -> Result<Option<ExperimentRecord>, StoreError> {
        let Ok(id) = i64::try_from(id) else { return Ok(None) };
        let client = self.client().await?;
        let sql = format!(
            "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE tenant_id = $1 AND project_id = $2 AND id = $3"
        );
        let row = client.query_opt(&sql, &[&scope.tenant(), &scope.project(), &id]).await.map_err(backend)?;
        row.as_ref().map(decode).transpose()
    }

    async fn experiments(
        &self,
        scope: &Scope,
        suite: Option<&str>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ExperimentRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE tenant_id = $1 AND project_id = $2
             AND ($3::TEXT IS NULL OR suite = $3) AND ($4::BIGINT IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
        );
        let rows = client
            .query(&sql, &[&scope.tenant(), &scope.project(), &suite, &id_bound(before), &i64::from(limit)])
            .await
            .map_err(backend)?;
        rows.iter().map(decode).collect()
    }
}
