//! [`WorkflowStore`] on PostgreSQL.
//!
//! Same semantics as SQLite's: a step's tasks are put as they finish, its checkpoint and the
//! thread's step commit in one transaction, and a fork copies history in one transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Utc;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{PostgresStore, backend, col, from_db, to_db};
use crate::store::workflow::THREAD_COLUMNS;
use crate::store::{CheckpointRow, Scope, StoreError, TaskRow, ThreadRecord, WorkflowStore};

fn decode_thread(row: &Row) -> Result<ThreadRecord, StoreError> {
    let parent_id: Option<String> = col(row, 6)?;
    let parent_step: Option<i32> = col(row, 7)?;
    let parent = match (parent_id, parent_step) {
        (Some(id), Some(step)) => Some((id, from_db(step)?)),
        _ => None,
    };
    Ok(ThreadRecord {
        id: col(row, 0)?,
        workflow: col(row, 1)?,
        workflow_hash: col(row, 2)?,
        status: col(row, 3)?,
        step: from_db(col(row, 4)?)?,
        input: col(row, 5)?,
        parent,
        detail: col(row, 8)?,
        created_at: col(row, 9)?,
        updated_at: col(row, 10)?,
    })
}

async fn insert_thread(client: &impl GenericClient, scope: &Scope, t: &ThreadRecord) -> Result<u64, StoreError> {
    let parent_id = t.parent.as_ref().map(|p| p.0.clone());
    let parent_step = t.parent.as_ref().map(|p| to_db(p.1)).transpose()?;
    client
        .execute(
            "INSERT INTO workflow_threads (tenant_id, project_id, id, workflow, workflow_hash, status, step, input,
                 parent_id, parent_step, detail, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
            &[
                &scope.tenant(),
                &scope.project(),
                &t.id,
                &t.workflow,
                &t.workflow_hash,
                &t.status,
                &to_db(t.step)?,
                &t.input,
                &parent_id,
                &parent_step,
                &t.detail,
                &t.created_at,
                &t.updated_at,
            ],
        )
        .await
        .map_err(backend)
}

async fn put_task_row(
    client: &impl GenericClient,
    scope: &Scope,
    thread: &str,
    row: &TaskRow,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO workflow_tasks (tenant_id, project_id, thread_id, step, task, payload)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, project_id, thread_id, step, task) DO UPDATE SET payload = EXCLUDED.payload",
            &[&scope.tenant(), &scope.project(), &thread, &to_db(row.step)?, &row.task, &row.payload],
        )
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl WorkflowStore for PostgresStore {
    async fn create_thread(&self, scope: &Scope, thread: &ThreadRecord) -> Result<bool, StoreError> {
        let client = self.client().await?;
        Ok(insert_thread(&client, scope, thread).await? == 1)
    }

    async fn thread(&self, scope: &Scope, id: &str) -> Result<Option<ThreadRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {THREAD_COLUMNS} FROM workflow_threads WHERE tenant_id = $1 AND project_id = $2 AND id = $3"
        );
        let row = client.query_opt(&sql, &[&scope.tenant(), &scope.project(), &id]).await.map_err(backend)?;
        row.as_ref().map(decode_thread).transpose()
    }

    async fn threads(&self, scope: &Scope, workflow: Option<&str>) -> Result<Vec<ThreadRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {THREAD_COLUMNS} FROM workflow_threads WHERE tenant_id = $1 AND project_id = $2
             AND ($3::TEXT IS NULL OR workflow = $3) ORDER BY created_at DESC, id COLLATE \"C\""
        );
        let rows = client.query(&sql, &[&scope.tenant(), &scope.project(), &workflow]).await.map_err(backend)?;
        rows.iter().map(decode_thread).collect()
    }

    async fn set_thread_status(
        &self,
        scope: &Scope,
        id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE workflow_threads SET status = $4, detail = $5, updated_at = $6
                 WHERE tenant_id = $1 AND project_id = $2 AND id = $3",
                &[&scope.tenant(), &scope.project(), &id, &status, &detail, &Utc::now()],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn put_task(&self, scope: &Scope, thread: &str, row: &TaskRow) -> Result<(), StoreError> {
        let client = self.client().await?;
        put_task_row(&client, scope, thread, row).await
    }

    async fn tasks(&self, scope: &Scope, thread: &str, step: u32) -> Result<Vec<TaskRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT task, payload FROM workflow_tasks
                 WHERE tenant_id = $1 AND project_id = $2 AND thread_id = $3 AND step = $4 ORDER BY task COLLATE \"C\"",
                &[&scope.tenant(), &scope.project(), &thread, &to_db(step)?],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(|row| Ok(TaskRow { step, task: col(row, 0)?, payload: col(row, 1)? })).collect()
    }

    async fn commit_step(
        &self,
        scope: &Scope,
        thread: &str,
        checkpoint: &CheckpointRow,
        status: &str,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let step = to_db(checkpoint.step)?;
        tx.execute(
            "INSERT INTO workflow_checkpoints (tenant_id, project_id, thread_id, step, payload, snapshot, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (tenant_id, project_id, thread_id, step)
             DO UPDATE SET payload = EXCLUDED.payload, snapshot = EXCLUDED.snapshot, created_at = EXCLUDED.created_at",
            &[
                &scope.tenant(),
                &scope.project(),
                &thread,
                &step,
                &checkpoint.payload,
                &checkpoint.snapshot,
                &checkpoint.created_at,
            ],
        )
        .await
        .map_err(backend)?;
        for task in &checkpoint.tasks {
            put_task_row(&tx, scope, thread, task).await?;
        }
        tx.execute(
            "UPDATE workflow_threads SET step = $4, status = $5, detail = NULL, updated_at = $6
             WHERE tenant_id = $1 AND project_id = $2 AND id = $3",
            &[&scope.tenant(), &scope.project(), &thread, &step, &status, &Utc::now()],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn checkpoints(&self, scope: &Scope, thread: &str, from_step: u32) -> Result<Vec<CheckpointRow>, StoreError> {
        let client = self.client().await?;
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&scope.tenant(), &scope.project(), &thread, &to_db(from_step)?];
        let tasks = client
            .query(
                "SELECT step, task, payload FROM workflow_tasks
                 WHERE tenant_id = $1 AND project_id = $2 AND thread_id = $3 AND step >= $4 ORDER BY step, task COLLATE \"C\"",
                &args,
            )
            .await
            .map_err(backend)?;
        let mut by_step: BTreeMap<u32, Vec<TaskRow>> = BTreeMap::new();
        for row in &tasks {
            let step = from_db(col(row, 0)?)?;
            by_step.entry(step).or_default().push(TaskRow { step, task: col(row, 1)?, payload: col(row, 2)? });
        }
        let rows = client
            .query(
                "SELECT step, payload, snapshot, created_at FROM workflow_checkpoints
                 WHERE tenant_id = $1 AND project_id = $2 AND thread_id = $3 AND step >= $4 ORDER BY step",
                &args,
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let step = from_db(col(row, 0)?)?;
                Ok(CheckpointRow {
                    step,
                    payload: col(row, 1)?,
                    snapshot: col(row, 2)?,
                    tasks: by_step.remove(&step).unwrap_or_default(),
                    created_at: col(row, 3)?,
                })
            })
            .collect()
    }

    async fn snapshot_step(&self, scope: &Scope, thread: &str, step: u32) -> Result<Option<u32>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT MAX(step) FROM workflow_checkpoints
                 WHERE tenant_id = $1 AND project_id = $2 AND thread_id = $3 AND step <= $4 AND snapshot IS NOT NULL",
                &[&scope.tenant(), &scope.project(), &thread, &to_db(step)?],
            )
            .await
            .map_err(backend)?;
        col::<Option<i32>>(&row, 0)?.map(from_db).transpose()
    }

    async fn fork_thread(&self, scope: &Scope, from: &str, step: u32, new: &ThreadRecord) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        if insert_thread(&tx, scope, new).await? != 1 {
            return Err(StoreError::Conflict { what: format!("thread `{}`", new.id) });
        }
        let step = to_db(step)?;
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&scope.tenant(), &scope.project(), &from, &step, &new.id];
        tx.execute(
            "INSERT INTO workflow_checkpoints (tenant_id, project_id, thread_id, step, payload, snapshot, created_at)
             SELECT tenant_id, project_id, $5, step, payload, snapshot, created_at FROM workflow_checkpoints
             WHERE tenant_id = $1 AND project_id = $2 AND thread_id = $3 AND step <= $4",
            &args,
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO workflow_tasks (tenant_id, project_id, thread_id, step, task, payload)
             SELECT tenant_id, project_id, $5, step, task, payload FROM workflow_tasks
             WHERE tenant_id = $1 AND project_id = $2 AND thread_id = $3 AND step <= $4",
            &args,
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn thread_bytes(&self, scope: &Scope, thread: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT
                   (SELECT COALESCE(SUM(octet_length(payload) + COALESCE(octet_length(snapshot), 0)), 0)
                      FROM workflow_checkpoints WHERE tenant_id = $1 AND project_id = $2 AND thread_id = $3)
                 + (SELECT COALESCE(SUM(octet_length(payload)), 0)
                      FROM workflow_tasks WHERE tenant_id = $1 AND project_id = $2 AND thread_id = $3)",
                &[&scope.tenant(), &scope.project(), &thread],
            )
            .await
            .map_err(backend)?;
        let bytes: i64 = col(&row, 0)?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}
