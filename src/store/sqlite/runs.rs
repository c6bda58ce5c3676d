//! [`RunStore`] on SQLite. Results arrive in batches from the eval engine's writer task; each
//! batch is one transaction that inserts the rows and bumps the run's totals, so the totals
//! always agree with the rows, even after a crash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteStore, backend, parse_timestamp, timestamp};
use crate::money::Micros;
use crate::store::run_records::{RESULT_COLUMNS, RUN_COLUMNS};
use crate::store::{
    CaseStatus, ResultQuery, ResultRecord, RunDraft, RunRecord, RunStatus, RunStore, RunTotals, Scope, StoreError,
    UnitKey, from_i64, id_bound, to_i64,
};

fn decode_err(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Decode(format!("{what}: {err}"))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| decode_err("encode", err))
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Result<RunRecord, StoreError>> {
    let targets: String = row.get(5)?;
    let providers: String = row.get(6)?;
    let status: String = row.get(12)?;
    let started: String = row.get(13)?;
    let finished: Option<String> = row.get(14)?;
    // Checked: a negative stored count is an error, never a silent 0.
    let unsigned = |i: usize| row.get::<_, u64>(i);
    let totals = RunTotals {
        done: unsigned(15)?,
        passed: unsigned(16)?,
        failed: unsigned(17)?,
        errors: unsigned(18)?,
        input_tokens: unsigned(19)?,
        output_tokens: unsigned(20)?,
        cost: Micros(row.get(21)?),
        cached: unsigned(22)?,
    };
    let draft_parts = (
        row.get::<_, String>(1)?,
        row.get::<_, String>(2)?,
        row.get::<_, Option<String>>(3)?,
        row.get::<_, String>(4)?,
        row.get::<_, f64>(7)?,
        unsigned(8)?,
        row.get::<_, Option<String>>(9)?,
        row.get::<_, bool>(10)?,
        row.get::<_, String>(11)?,
    );
    let id = unsigned(0)?;
    let owner: Option<String> = row.get(23)?;
    Ok((|| {
        let (suite, suite_path, description, plan_hash, threshold, total, git_commit, git_dirty, actor) = draft_parts;
        Ok(RunRecord {
            id,
            draft: RunDraft {
                suite,
                suite_path,
                description,
                plan_hash,
                targets: serde_json::from_str(&targets).map_err(|e| decode_err("run targets", e))?,
                providers: serde_json::from_str(&providers).map_err(|e| decode_err("run providers", e))?,
                threshold,
                total,
                git_commit,
                git_dirty,
                actor,
            },
            status: RunStatus::parse(&status).ok_or_else(|| decode_err("run status", &status))?,
            started_at: parse_timestamp(&started)?,
            finished_at: finished.as_deref().map(parse_timestamp).transpose()?,
            totals,
            owner,
        })
    })())
}

pub(super) fn result_from_row(row: &Row<'_>) -> rusqlite::Result<Result<ResultRecord, StoreError>> {
    let index = |i: usize| row.get::<_, u32>(i);
    let unsigned = |i: usize| row.get::<_, u64>(i);
    let unit = UnitKey { target: index(0)?, provider: index(1)?, case: index(2)?, repeat: index(3)? };
    let (vars, tags, status, assertions): (String, String, String, String) =
        (row.get(7)?, row.get(8)?, row.get(9)?, row.get(13)?);
    let record = ResultRecord {
        unit,
        case_name: row.get(4)?,
        case_key: row.get(5)?,
        location: row.get(6)?,
        vars: serde_json::Value::Null,
        tags: Vec::new(),
        status: CaseStatus::Pass,
        score: row.get(10)?,
        output: row.get(11)?,
        error: row.get(12)?,
        assertions: Vec::new(),
        latency_ms: unsigned(14)?,
        input_tokens: unsigned(15)?,
        output_tokens: unsigned(16)?,
        cost: Micros(row.get(17)?),
        cached: row.get(18)?,
        duration_ms: unsigned(19)?,
    };
    Ok((|| {
        Ok(ResultRecord {
            vars: serde_json::from_str(&vars).map_err(|e| decode_err("result vars", e))?,
            tags: serde_json::from_str(&tags).map_err(|e| decode_err("result tags", e))?,
            status: CaseStatus::parse(&status).ok_or_else(|| decode_err("result status", &status))?,
            assertions: serde_json::from_str(&assertions).map_err(|e| decode_err("result assertions", e))?,
            ..record
        })
    })())
}

/// Stores one result with `statement` (prepared from [`insert_result_sql`]); false when it was
/// stored before.
fn insert_result(
    statement: &mut rusqlite::Statement<'_>,
    scope: &Scope,
    run: u64,
    r: &ResultRecord,
) -> Result<bool, StoreError> {
    let numbers = [to_i64(run)?, to_i64(r.latency_ms)?, to_i64(r.input_tokens)?, to_i64(r.output_tokens)?];
    let [run, latency_ms, input_tokens, output_tokens] = numbers;
    let changed = statement
        .execute(params![
            scope.tenant(),
            scope.project(),
            run,
            r.unit.target,
            r.unit.provider,
            r.unit.case,
            r.unit.repeat,
            r.case_name,
            r.case_key,
            r.location,
            json(&r.vars).unwrap_or_default(),
            json(&r.tags).unwrap_or_default(),
            r.status.as_str(),
            r.score,
            r.output,
            r.error,
            json(&r.assertions).unwrap_or_default(),
            latency_ms,
            input_tokens,
            output_tokens,
            r.cost.0,
            r.cached,
            r.duration_ms as i64,
        ])
        .map_err(backend)?;
    Ok(changed > 0)
}

fn insert_result_sql() -> String {
    format!(
        "INSERT INTO eval_results (tenant_id, project_id, run_id, {RESULT_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)
         ON CONFLICT DO NOTHING"
    )
}

/// A run's status, start and finish, as they are stored with it.
pub(super) type RunStamps = (RunStatus, DateTime<Utc>, Option<DateTime<Utc>>);

/// Inserts a run under the scope's next number, inside `tx`; returns the number.
pub(super) fn insert_run(
    tx: &rusqlite::Transaction<'_>,
    scope: &Scope,
    draft: &RunDraft,
    (status, started_at, finished_at): RunStamps,
) -> Result<u64, StoreError> {
    let next: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM eval_runs WHERE tenant_id = ?1 AND project_id = ?2",
            params![scope.tenant(), scope.project()],
            |row| row.get(0),
        )
        .map_err(backend)?;
    tx.execute(
        "INSERT INTO eval_runs (tenant_id, project_id, id, suite, suite_path, description, plan_hash, targets,
         providers, threshold, total, git_commit, git_dirty, actor, status, started_at, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
            scope.tenant(),
            scope.project(),
            next,
            draft.suite,
            draft.suite_path,
            draft.description,
            draft.plan_hash,
            json(&draft.targets)?,
            json(&draft.providers)?,
            draft.threshold,
            to_i64(draft.total)?,
            draft.git_commit,
            draft.git_dirty,
            draft.actor,
            status.as_str(),
            timestamp(started_at),
            finished_at.map(timestamp),
        ],
    )
    .map_err(backend)?;
    from_i64(next)
}

/// Stores results of run `run` (checked to exist) inside `tx`, and adds the new ones to its totals.
pub(super) fn add_results(
    tx: &rusqlite::Transaction<'_>,
    scope: &Scope,
    run: u64,
    results: &[ResultRecord],
) -> Result<(), StoreError> {
    let mut added = RunTotals::default();
    // Prepared once per batch: formatting and looking up the statement per result showed in profiles.
    let mut statement = tx.prepare_cached(&insert_result_sql()).map_err(backend)?;
    for result in results {
        if insert_result(&mut statement, scope, run, result)? {
            added.add(result);
        }
    }
    let updated = tx
        .execute(
            "UPDATE eval_runs SET done = done + ?4, passed = passed + ?5, failed = failed + ?6,
             errors = errors + ?7, input_tokens = input_tokens + ?8, output_tokens = output_tokens + ?9,
             cost_micros = cost_micros + ?10, cached = cached + ?11
             WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
            params![
                scope.tenant(),
                scope.project(),
                to_i64(run)?,
                to_i64(added.done)?,
                to_i64(added.passed)?,
                to_i64(added.failed)?,
                to_i64(added.errors)?,
                to_i64(added.input_tokens)?,
                to_i64(added.output_tokens)?,
                added.cost.0,
                to_i64(added.cached)?,
            ],
        )
        .map_err(backend)?;
    debug_assert_eq!(updated, 1, "the run was checked to exist, in the same transaction");
    Ok(())
}

impl SqliteStore {
    pub(super) async fn fetch_run(&self, scope: &Scope, id: u64) -> Result<Option<RunRecord>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            let sql =
                format!("SELECT {RUN_COLUMNS} FROM eval_runs WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3");
            conn.query_row(&sql, params![scope.tenant(), scope.project(), to_i64(id)?], run_from_row)
                .optional()
                .map_err(backend)?
                .transpose()
        })
        .await
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, scope: &Scope, draft: RunDraft) -> Result<RunRecord, StoreError> {
        let scope_for_task = scope.clone();
        let id = self
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
                let stamps = (RunStatus::Running, Utc::now(), None);
                let id = insert_run(&tx, &scope_for_task, &draft, stamps)?;
                tx.commit().map_err(backend)?;
                Ok(id)
            })
            .await?;
        self.fetch_run(scope, id).await?.ok_or(StoreError::RunNotFound { id })
    }

    async fn import_run(
        &self,
        scope: &Scope,
        run: RunRecord,
        results: Vec<ResultRecord>,
    ) -> Result<RunRecord, StoreError> {
        let scope_for_task = scope.clone();
        let id = self
            .call(move |conn| {
                let scope = scope_for_task;
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
                let id = insert_run(&tx, &scope, &run.draft, (run.status, run.started_at, run.finished_at))?;
                add_results(&tx, &scope, id, &results)?;
                tx.commit().map_err(backend)?;
                Ok(id)
            })
            .await?;
        self.fetch_run(scope, id).await?.ok_or(StoreError::RunNotFound { id })
    }

    async fn append_results(&self, scope: &Scope, run: u64, results: Vec<ResultRecord>) -> Result<(), StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM eval_runs WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
                    params![scope.tenant(), scope.project(), to_i64(run)?],
                    |_| Ok(()),
                )
                .optional()
                .map_err(backend)?;
            if exists.is_none() {
                return Err(StoreError::RunNotFound { id: run });
            }
            add_results(&tx, &scope, run, &results)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn set_run_status(&self, scope: &Scope, run: u64, status: RunStatus) -> Result<RunRecord, StoreError> {
        let scope_for_task = scope.clone();
        let updated = self
            .call(move |conn| {
                let finished = (status != RunStatus::Running).then(|| timestamp(Utc::now()));
                conn.execute(
                    "UPDATE eval_runs SET status = ?4, finished_at = ?5 WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
                    params![scope_for_task.tenant(), scope_for_task.project(), to_i64(run)?, status.as_str(), finished],
                )
                .map_err(backend)
            })
            .await?;
        if updated == 0 {
            return Err(StoreError::RunNotFound { id: run });
        }
        self.fetch_run(scope, run).await?.ok_or(StoreError::RunNotFound { id: run })
    }

    async fn claim_run(
        &self,
        scope: &Scope,
        run: u64,
        expected: Option<&str>,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let (scope, expected, owner) = (scope.clone(), expected.map(str::to_owned), owner.to_owned());
        let id = to_i64(run)?;
        let claimed = self
            .call(move |conn| {
                conn.execute(
                    "UPDATE eval_runs SET owner = ?4, status = 'running', finished_at = NULL
                     WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3 AND owner IS ?5
                       AND status IN ('running', 'interrupted')",
                    params![scope.tenant(), scope.project(), id, owner, expected],
                )
                .map_err(backend)
            })
            .await?;
        Ok(claimed == 1)
    }

    async fn run(&self, scope: &Scope, id: u64) -> Result<Option<RunRecord>, StoreError> {
        self.fetch_run(scope, id).await
    }

    async fn runs(
        &self,
        scope: &Scope,
        suite: Option<&str>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let (scope, suite, before) = (scope.clone(), suite.map(str::to_owned), id_bound(before));
        self.call(move |conn| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM eval_runs WHERE tenant_id = ?1 AND project_id = ?2
                 AND (?3 IS NULL OR suite = ?3) AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5"
            );
            let mut statement = conn.prepare_cached(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params![scope.tenant(), scope.project(), suite, before, i64::from(limit)], run_from_row)
                .map_err(backend)?;
            rows.map(|row| row.map_err(backend)?).collect()
        })
        .await
    }

    async fn results(&self, scope: &Scope, run: u64, query: ResultQuery) -> Result<Vec<ResultRecord>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            let after = query.after.map(|u| (u.target, u.provider, u.case, u.repeat));
            let (t, p, c, r) =
                after.map_or((-1, -1, -1, -1), |(t, p, c, r)| (i64::from(t), i64::from(p), i64::from(c), i64::from(r)));
            let sql = format!(
                "SELECT {RESULT_COLUMNS} FROM eval_results WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3
                 AND (target_index, provider_index, case_index, repeat_index) > (?4, ?5, ?6, ?7)
                 AND (?8 = 0 OR status != 'pass')
                 ORDER BY target_index, provider_index, case_index, repeat_index LIMIT ?9"
            );
            let mut statement = conn.prepare_cached(&sql).map_err(backend)?;
            let limit = query.limit.map_or(-1, i64::from);
            let rows = statement
                .query_map(
                    params![scope.tenant(), scope.project(), to_i64(run)?, t, p, c, r, query.problems_only, limit],
                    result_from_row,
                )
                .map_err(backend)?;
            rows.map(|row| row.map_err(backend)?).collect()
        })
        .await
    }

    async fn done_units(&self, scope: &Scope, run: u64) -> Result<Vec<UnitKey>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT target_index, provider_index, case_index, repeat_index FROM eval_results
                     WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3",
                )
                .map_err(backend)?;
            let rows = statement
                .query_map(params![scope.tenant(), scope.project(), to_i64(run)?], |row| {
                    Ok(UnitKey { target: row.get(0)?, provider: row.get(1)?, case: row.get(2)?, repeat: row.get(3)? })
                })
                .map_err(backend)?;
            rows.map(|row| row.map_err(backend)).collect()
        })
        .await
    }
}
