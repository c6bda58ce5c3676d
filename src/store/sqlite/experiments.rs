//! [`ExperimentStore`] on SQLite: one row per experiment; arms and analysis as JSON text.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteStore, backend, parse_timestamp, timestamp};
use crate::store::commit::now;
use crate::store::{
    EXPERIMENT_COLUMNS, ExperimentDraft, ExperimentRecord, ExperimentStore, Scope, StoreError, id_bound,
};

fn decode(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Decode(format!("{what}: {err}"))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Result<ExperimentRecord, StoreError>> {
    let id: i64 = row.get(0)?;
    let (arms, analysis, created): (String, String, String) = (row.get(2)?, row.get(7)?, row.get(9)?);
    let draft = ExperimentDraft {
        suite: row.get(1)?,
        arms: Vec::new(),
        sequential: row.get(3)?,
        alpha: row.get(4)?,
        outcome: row.get(5)?,
        summary: row.get(6)?,
        analysis: serde_json::Value::Null,
        actor: row.get(8)?,
    };
    Ok((|| {
        Ok(ExperimentRecord {
            id: u64::try_from(id).map_err(|e| decode("experiment id", e))?,
            draft: ExperimentDraft {
                arms: serde_json::from_str(&arms).map_err(|e| decode("experiment arms", e))?,
                analysis: serde_json::from_str(&analysis).map_err(|e| decode("experiment analysis", e))?,
                ..draft
            },
            created_at: parse_timestamp(&created)?,
        })
    })())
}

#[async_trait]
impl ExperimentStore for SqliteStore {
    async fn create_experiment(&self, scope: &Scope, draft: ExperimentDraft) -> Result<ExperimentRecord, StoreError> {
        let scope = scope.clone();
        let arms = serde_json::to_string(&draft.arms).map_err(|e| decode("experiment arms", e))?;
        let analysis = serde_json::to_string(&draft.analysis).map_err(|e| decode("experiment analysis", e))?;
        let created_at = now();
        let row = draft.clone();
        let id = self
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
                let next: i64 = tx
                    .query_row(
                        "SELECT COALESCE(MAX(id), 0) + 1 FROM experiments WHERE tenant_id = ?1 AND project_id = ?2",
                        params![scope.tenant(), scope.project()],
                        |row| row.get(0),
                    )
                    .map_err(backend)?;
                tx.execute(
                    "INSERT INTO experiments (tenant_id, project_id, id, suite, arms, sequential, alpha, outcome,
                     summary, analysis, actor, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        scope.tenant(),
                        scope.project(),
                        next,
                        row.suite,
                        arms,
                        row.sequential,
                        row.alpha,
                        row.outcome,
                        row.summary,
                        analysis,
                        row.actor,
                        timestamp(created_at)
                    ],
                )
                .map_err(backend)?;
                tx.commit().map_err(backend)?;
                Ok(next)
            })
            .await?;
        let id = u64::try_from(id).map_err(|e| decode("experiment id", e))?;
        Ok(ExperimentRecord { id, draft, created_at })
    }

    async fn experiment(&self, scope: &Scope, id: u64) -> Result<Option<ExperimentRecord>, StoreError> {
        let scope = scope.clone();
        let Ok(id) = i64::try_from(id) else { return Ok(None) };
        self.call(move |conn| {
            let sql = format!(
                "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3"
            );
            let row = conn
                .query_row(&sql, params![scope.tenant(), scope.project(), id], from_row)
                .optional()
                .map_err(backend)?;
            row.transpose()
        })
        .await
    }

    async fn experiments(
        &self,
        scope: &Scope,
        suite: Option<&str>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ExperimentRecord>, StoreError> {
        let (scope, suite, before) = (scope.clone(), suite.map(str::to_owned), id_bound(before));
        self.call(move |conn| {
            let sql = format!(
                "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE tenant_id = ?1 AND project_id = ?2
                 AND (?3 IS NULL OR suite = ?3) AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5"
            );
            let mut statement = conn.prepare_cached(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params![scope.tenant(), scope.project(), suite, before, i64::from(limit)], from_row)
                .map_err(backend)?;
            rows.map(|row| row.map_err(backend)?).collect()
        })
        .await
    }
}
