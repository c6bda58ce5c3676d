//! [`WorkflowStore`] on SQLite.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, backend, parse_timestamp, timestamp};
use crate::store::workflow::THREAD_COLUMNS;
use crate::store::{CheckpointRow, Scope, StoreError, TaskRow, ThreadRecord, WorkflowStore};

type RawThread =
    (String, String, String, String, u32, String, Option<String>, Option<u32>, Option<String>, String, String);

fn thread_from_row(row: &Row<'_>) -> rusqlite::Result<RawThread> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    ))
}

fn decode_thread(raw: RawThread) -> Result<ThreadRecord, StoreError> {
    let (id, workflow, workflow_hash, status, step, input, parent_id, parent_step, detail, created, updated) = raw;
    Ok(ThreadRecord {
        id,
        workflow,
        workflow_hash,
        status,
        step,
        input,
        parent: parent_id.zip(parent_step),
        detail,
        created_at: parse_timestamp(&created)?,
        updated_at: parse_timestamp(&updated)?,
    })
}

fn insert_thread(conn: &rusqlite::Connection, scope: &Scope, t: &ThreadRecord) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT OR IGNORE INTO workflow_threads (tenant_id, project_id, id, workflow, workflow_hash, status, step, input,
             parent_id, parent_step, detail, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            scope.tenant(),
            scope.project(),
            t.id,
            t.workflow,
            t.workflow_hash,
            t.status,
            t.step,
            t.input,
            t.parent.as_ref().map(|p| p.0.clone()),
            t.parent.as_ref().map(|p| p.1),
            t.detail,
            timestamp(t.created_at),
            timestamp(t.updated_at)
        ],
    )
}

fn tasks_of(conn: &rusqlite::Connection, scope: &Scope, thread: &str, step: u32) -> Result<Vec<TaskRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT task, payload FROM workflow_tasks
             WHERE tenant_id = ?1 AND project_id = ?2 AND thread_id = ?3 AND step = ?4 ORDER BY task",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![scope.tenant(), scope.project(), thread, step], |row| {
            Ok(TaskRow { step, task: row.get(0)?, payload: row.get(1)? })
        })
        .map_err(backend)?;
    rows.map(|r| r.map_err(backend)).collect()
}

#[async_trait]
impl WorkflowStore for SqliteStore {
    async fn create_thread(&self, scope: &Scope, thread: &ThreadRecord) -> Result<bool, StoreError> {
        let (scope, thread) = (scope.clone(), thread.clone());
        self.call(move |conn| Ok(insert_thread(conn, &scope, &thread).map_err(backend)? == 1)).await
    }

    async fn thread(&self, scope: &Scope, id: &str) -> Result<Option<ThreadRecord>, StoreError> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.call(move |conn| {
            let sql = format!(
                "SELECT {THREAD_COLUMNS} FROM workflow_threads WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3"
            );
            let raw = conn
                .query_row(&sql, params![scope.tenant(), scope.project(), id], thread_from_row)
                .optional()
                .map_err(backend)?;
            raw.map(decode_thread).transpose()
        })
        .await
    }

    async fn threads(&self, scope: &Scope, workflow: Option<&str>) -> Result<Vec<ThreadRecord>, StoreError> {
        let (scope, workflow) = (scope.clone(), workflow.map(ToOwned::to_owned));
        self.call(move |conn| {
            let sql = format!(
                "SELECT {THREAD_COLUMNS} FROM workflow_threads WHERE tenant_id = ?1 AND project_id = ?2
                 AND (?3 IS NULL OR workflow = ?3) ORDER BY created_at DESC, id"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
            let rows =
                stmt.query_map(params![scope.tenant(), scope.project(), workflow], thread_from_row).map_err(backend)?;
            rows.map(|r| r.map_err(backend).and_then(decode_thread)).collect()
        })
        .await
    }

    async fn set_thread_status(
        &self,
        scope: &Scope,
        id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let (scope, id, status, detail) =
            (scope.clone(), id.to_owned(), status.to_owned(), detail.map(ToOwned::to_owned));
        self.call(move |conn| {
            conn.execute(
                "UPDATE workflow_threads SET status = ?4, detail = ?5, updated_at = ?6
                 WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
                params![scope.tenant(), scope.project(), id, status, detail, timestamp(Utc::now())],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_task(&self, scope: &Scope, thread: &str, row: &TaskRow) -> Result<(), StoreError> {
        let (scope, thread, row) = (scope.clone(), thread.to_owned(), row.clone());
        self.call(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO workflow_tasks (tenant_id, project_id, thread_id, step, task, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![scope.tenant(), scope.project(), thread, row.step, row.task, row.payload],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn tasks(&self, scope: &Scope, thread: &str, step: u32) -> Result<Vec<TaskRow>, StoreError> {
        let (scope, thread) = (scope.clone(), thread.to_owned());
        self.call(move |conn| tasks_of(conn, &scope, &thread, step)).await
    }

    async fn commit_step(
        &self,
        scope: &Scope,
        thread: &str,
        checkpoint: &CheckpointRow,
        status: &str,
    ) -> Result<(), StoreError> {
        let (scope, thread, cp, status) = (scope.clone(), thread.to_owned(), checkpoint.clone(), status.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                "INSERT OR REPLACE INTO workflow_checkpoints (tenant_id, project_id, thread_id, step, payload, snapshot, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![scope.tenant(), scope.project(), thread, cp.step, cp.payload, cp.snapshot, timestamp(cp.created_at)],
            )
            .map_err(backend)?;
            for task in &cp.tasks {
                tx.execute(
                    "INSERT OR REPLACE INTO workflow_tasks (tenant_id, project_id, thread_id, step, task, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![scope.tenant(), scope.project(), thread, task.step, task.task, task.payload],
                )
                .map_err(backend)?;
            }
            tx.execute(
                "UPDATE workflow_threads SET step = ?4, status = ?5, detail = NULL, updated_at = ?6
                 WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
                params![scope.tenant(), scope.project(), thread, cp.step, status, timestamp(Utc::now())],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn checkpoints(&self, scope: &Scope, thread: &str, from_step: u32) -> Result<Vec<CheckpointRow>, StoreError> {
        let (scope, thread) = (scope.clone(), thread.to_owned());
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT step, payload, snapshot, created_at FROM workflow_checkpoints
                     WHERE tenant_id = ?1 AND project_id = ?2 AND thread_id = ?3 AND step >= ?4 ORDER BY step",
                )
                .map_err(backend)?;
            let raw: Vec<(u32, String, Option<String>, String)> = stmt
                .query_map(params![scope.tenant(), scope.project(), thread, from_step], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .map_err(backend)?
                .collect::<Result<_, _>>()
                .map_err(backend)?;
            raw.into_iter()
                .map(|(step, payload, snapshot, created)| {
                    let tasks = tasks_of(conn, &scope, &thread, step)?;
                    Ok(CheckpointRow { step, payload, snapshot, tasks, created_at: parse_timestamp(&created)? })
                })
                .collect()
        })
        .await
    }

    async fn snapshot_step(&self, scope: &Scope, thread: &str, step: u32) -> Result<Option<u32>, StoreError> {
        let (scope, thread) = (scope.clone(), thread.to_owned());
        self.call(move |conn| {
            conn.query_row(
                "SELECT MAX(step) FROM workflow_checkpoints
                 WHERE tenant_id = ?1 AND project_id = ?2 AND thread_id = ?3 AND step <= ?4 AND snapshot IS NOT NULL",
                params![scope.tenant(), scope.project(), thread, step],
                |row| row.get(0),
            )
            .map_err(backend)
        })
        .await
    }

    async fn fork_thread(&self, scope: &Scope, from: &str, step: u32, new: &ThreadRecord) -> Result<(), StoreError> {
        let (scope, from, new) = (scope.clone(), from.to_owned(), new.clone());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            if insert_thread(&tx, &scope, &new).map_err(backend)? != 1 {
                return Err(StoreError::Conflict { what: format!("thread `{}`", new.id) });
            }
            let args = params![scope.tenant(), scope.project(), from, step, new.id];
            tx.execute(
                "INSERT INTO workflow_checkpoints (tenant_id, project_id, thread_id, step, payload, snapshot, created_at)
                 SELECT tenant_id, project_id, ?5, step, payload, snapshot, created_at FROM workflow_checkpoints
                 WHERE tenant_id = ?1 AND project_id = ?2 AND thread_id = ?3 AND step <= ?4",
                args,
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO workflow_tasks (tenant_id, project_id, thread_id, step, task, payload)
                 SELECT tenant_id, project_id, ?5, step, task, payload FROM workflow_tasks
                 WHERE tenant_id = ?1 AND project_id = ?2 AND thread_id = ?3 AND step <= ?4",
                args,
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn thread_bytes(&self, scope: &Scope, thread: &str) -> Result<u64, StoreError> {
        let (scope, thread) = (scope.clone(), thread.to_owned());
        self.call(move |conn| {
            let args = params![scope.tenant(), scope.project(), thread];
            let checkpoints: i64 = conn
                .query_row(
                    "SELECT COALESCE(SUM(LENGTH(payload) + COALESCE(LENGTH(snapshot), 0)), 0) FROM workflow_checkpoints
                     WHERE tenant_id = ?1 AND project_id = ?2 AND thread_id = ?3",
                    args,
                    |row| row.get(0),
                )
                .map_err(backend)?;
            let tasks: i64 = conn
                .query_row(
                    "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM workflow_tasks
                     WHERE tenant_id = ?1 AND project_id = ?2 AND thread_id = ?3",
                    args,
                    |row| row.get(0),
                )
                .map_err(backend)?;
            Ok(u64::try_from(checkpoints + tasks).unwrap_or(0))
        })
        .await
    }
}
