//! [`RunStore`] on PostgreSQL. Run numbers are per project and gapless: creating a run takes the
//! project's run lock first. A batch of results is one transaction that locks the run's row,
//! inserts the rows (a unit already stored is skipped) and adds the new rows' totals, so the
//! totals always agree with the rows even when two writers append to one run.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, backend, col, from_big, from_db, next_number, to_big, to_db};
use crate::money::Micros;
use crate::store::commit::now;
use crate::store::run_records::{RESULT_COLUMNS, RUN_COLUMNS};
use crate::store::{
    CaseStatus, ResultQuery, ResultRecord, RunDraft, RunRecord, RunStatus, RunStore, RunTotals, Scope, StoreError,
    UnitKey, id_bound,
};

fn decode_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| StoreError::Decode(format!("{what}: {err}")))
}

fn encode_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Decode(format!("encode: {err}")))
}

pub(super) fn decode_run(row: &Row) -> Result<RunRecord, StoreError> {
    let status: &str = col(row, 12)?;
    let count = |index: usize| col::<i64>(row, index).and_then(from_big);
    Ok(RunRecord {
        id: count(0)?,
        draft: RunDraft {
            suite: col(row, 1)?,
            suite_path: col(row, 2)?,
            description: col(row, 3)?,
            plan_hash: col(row, 4)?,
            targets: decode_json("run targets", col(row, 5)?)?,
            providers: decode_json("run providers", col(row, 6)?)?,
            threshold: col(row, 7)?,
            total: count(8)?,
            git_commit: col(row, 9)?,
            git_dirty: col(row, 10)?,
            actor: col(row, 11)?,
        },
        status: RunStatus::parse(status).ok_or_else(|| StoreError::Decode(format!("run status `{status}`")))?,
        started_at: col(row, 13)?,
        finished_at: col(row, 14)?,
        totals: RunTotals {
            done: count(15)?,
            passed: count(16)?,
            failed: count(17)?,
            errors: count(18)?,
            input_tokens: count(19)?,
            output_tokens: count(20)?,
            cost: Micros(col(row, 21)?),
            cached: count(22)?,
        },
        owner: col(row, 23)?,
    })
}

fn decode_unit(row: &Row) -> Result<UnitKey, StoreError> {
    let index = |i: usize| col::<i32>(row, i).and_then(from_db);
    Ok(UnitKey { target: index(0)?, provider: index(1)?, case: index(2)?, repeat: index(3)? })
}

pub(super) fn decode_result(row: &Row) -> Result<ResultRecord, StoreError> {
    let status: &str = col(row, 9)?;
    let count = |index: usize| col::<i64>(row, index).and_then(from_big);
    Ok(ResultRecord {
        unit: decode_unit(row)?,
        case_name: col(row, 4)?,
        case_key: col(row, 5)?,
        location: col(row, 6)?,
        vars: decode_json("result vars", col(row, 7)?)?,
        tags: decode_json("result tags", col(row, 8)?)?,
        status: CaseStatus::parse(status).ok_or_else(|| StoreError::Decode(format!("result status `{status}`")))?,
        score: col(row, 10)?,
        output: col(row, 11)?,
        error: col(row, 12)?,
        assertions: decode_json("result assertions", col(row, 13)?)?,
        latency_ms: count(14)?,
        input_tokens: count(15)?,
        output_tokens: count(16)?,
        cost: Micros(col(row, 17)?),
        cached: col(row, 18)?,
        duration_ms: count(19)?,
    })
}

/// The columns of a result that need converting before they can be bound.
struct EncodedResult {
    unit: [i32; 4],
    status: &'static str,
    json: [String; 3],
    numbers: [i64; 4],
}

fn encode_result(r: &ResultRecord) -> Result<EncodedResult, StoreError> {
    Ok(EncodedResult {
        unit: [to_db(r.unit.target)?, to_db(r.unit.provider)?, to_db(r.unit.case)?, to_db(r.unit.repeat)?],
        status: r.status.as_str(),
        json: [encode_json(&r.vars)?, encode_json(&r.tags)?, encode_json(&r.assertions)?],
        numbers: [to_big(r.latency_ms)?, to_big(r.input_tokens)?, to_big(r.output_tokens)?, to_big(r.duration_ms)?],
    })
}

/// Inserts the results, skipping units already stored; returns the totals of those inserted.
pub(super) async fn insert_results(
    tx: &deadpool_postgres::Transaction<'_>,
    scope: &Scope,
    run: i64,
    results: &[ResultRecord],
) -> Result<RunTotals, StoreError> {
    let sql = format!(
        "INSERT INTO eval_results (tenant_id, project_id, run_id, {RESULT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
         ON CONFLICT DO NOTHING"
    );
    let statement = tx.prepare_cached(&sql).await.map_err(backend)?;
    let encoded: Vec<EncodedResult> = results.iter().map(encode_result).collect::<Result<_, _>>()?;
    let (tenant, project) = (scope.tenant(), scope.project());
    // Issued together, so tokio-postgres pipelines the batch; the server still runs them in order.
    let inserted = try_join_all(results.iter().zip(&encoded).map(|(r, e)| {
        let [target, provider, case, repeat] = &e.unit;
        let [vars, tags, assertions] = &e.json;
        let [latency, input, output, duration] = &e.numbers;
        let params: [&(dyn ToSql + Sync); 23] = [
            &tenant,
            &project,
            &run,
            target,
            provider,
            case,
            repeat,
            &r.case_name,
            &r.case_key,
            &r.location,
            vars,
            tags,
            &e.status,
            &r.score,
            &r.output,
            &r.error,
            assertions,
            latency,
            input,
            output,
            &r.cost.0,
            &r.cached,
            duration,
        ];
        tx.execute_raw(&statement, params)
    }))
    .await
    .map_err(backend)?;
    let mut added = RunTotals::default();
    for (result, _) in results.iter().zip(inserted).filter(|(_, rows)| *rows > 0) {
        added.add(result);
    }
    Ok(added)
}

pub(super) async fn add_to_totals(
    tx: &deadpool_postgres::Transaction<'_>,
    scope: &Scope,
    run: i64,
    added: &RunTotals,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE eval_runs SET done = done + $4, passed = passed + $5, failed = failed + $6,
         errors = errors + $7, input_tokens = input_tokens + $8, output_tokens = output_tokens + $9,
         cost_micros = cost_micros + $10, cached = cached + $11
         WHERE tenant_id = $1 AND project_id = $2 AND id = $3",
        &[
            &scope.tenant(),
            &scope.project(),
            &run,
            &to_big(added.done)?,
            &to_big(added.passed)?,
            &to_big(added.failed)?,
            &to_big(added.errors)?,
            &to_big(added.input_tokens)?,
            &to_big(added.output_tokens)?,
            &added.cost.0,
            &to_big(added.cached)?,
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// A run's status, start and finish, as they are stored with it.
type RunStamps = (RunStatus, DateTime<Utc>, Option<DateTime<Utc>>);

/// Inserts a run under the scope's next number, inside `tx`; returns it as stored.
pub(super) async fn insert_run(
    tx: &tokio_postgres::Transaction<'_>,
    scope: &Scope,
    draft: &RunDraft,
    (status, started_at, finished_at): RunStamps,
) -> Result<RunRecord, StoreError> {
    let next = next_number(tx, scope, "runs", "eval_runs").await?;
    let sql = format!(
        "INSERT INTO eval_runs (tenant_id, project_id, id, suite, suite_path, description, plan_hash, targets,
         providers, threshold, total, git_commit, git_dirty, actor, status, started_at, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         RETURNING {RUN_COLUMNS}"
    );
    let row = tx
        .query_one(
            &sql,
            &[
                &scope.tenant(),
                &scope.project(),
                &next,
                &draft.suite,
                &draft.suite_path,
                &draft.description,
                &draft.plan_hash,
                &encode_json(&draft.targets)?,
                &encode_json(&draft.providers)?,
                &draft.threshold,
                &to_big(draft.total)?,
                &draft.git_commit,
                &draft.git_dirty,
                &draft.actor,
                &status.as_str(),
                &started_at,
                &finished_at,
            ],
        )
        .await
        .map_err(backend)?;
    decode_run(&row)
}

#[async_trait]
impl RunStore for PostgresStore {
    async fn create_run(&self, scope: &Scope, draft: RunDraft) -> Result<RunRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let run = insert_run(&tx, scope, &draft, (RunStatus::Running, now(), None)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(run)
    }

    async fn import_run(
        &self,
        scope: &Scope,
        run: RunRecord,
        results: Vec<ResultRecord>,
    ) -> Result<RunRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let inserted = insert_run(&tx, scope, &run.draft, (run.status, run.started_at, run.finished_at)).await?;
        let id = to_big(inserted.id)?;
        let added = insert_results(&tx, scope, id, &results).await?;
        add_to_totals(&tx, scope, id, &added).await?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM eval_runs WHERE tenant_id = $1 AND project_id = $2 AND id = $3");
        let row = tx.query_one(&sql, &[&scope.tenant(), &scope.project(), &id]).await.map_err(backend)?;
        let stored = decode_run(&row)?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn append_results(&self, scope: &Scope, run: u64, results: Vec<ResultRecord>) -> Result<(), StoreError> {
        let id = to_big(run)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM eval_runs WHERE tenant_id = $1 AND project_id = $2 AND id = $3 FOR UPDATE",
                &[&scope.tenant(), &scope.project(), &id],
            )
            .await
            .map_err(backend)?;
        if exists.is_none() {
            return Err(StoreError::RunNotFound { id: run });
        }
        let added = insert_results(&tx, scope, id, &results).await?;
        add_to_totals(&tx, scope, id, &added).await?;
        tx.commit().await.map_err(backend)
    }

    async fn set_run_status(&self, scope: &Scope, run: u64, status: RunStatus) -> Result<RunRecord, StoreError> {
        let client = self.client().await?;
        let finished = (status != RunStatus::Running).then(now);
        let sql = format!(
            "UPDATE eval_runs SET status = $4, finished_at = $5 WHERE tenant_id = $1 AND project_id = $2 AND id = $3
             RETURNING {RUN_COLUMNS}"
        );
        let row = client
            .query_opt(&sql, &[&scope.tenant(), &scope.project(), &to_big(run)?, &status.as_str(), &finished])
            .await
            .map_err(backend)?;
        row.as_ref().map(decode_run).transpose()?.ok_or(StoreError::RunNotFound { id: run })
    }

    async fn claim_run(
        &self,
        scope: &Scope,
        run: u64,
        expected: Option<&str>,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let claimed = client
            .execute(
                "UPDATE eval_runs SET owner = $4, status = 'running', finished_at = NULL
                 WHERE tenant_id = $1 AND project_id = $2 AND id = $3 AND owner IS NOT DISTINCT FROM $5
                   AND status IN ('running', 'interrupted')",
                &[&scope.tenant(), &scope.project(), &to_big(run)?, &owner, &expected],
            )
            .await
            .map_err(backend)?;
        Ok(claimed == 1)
    }

    async fn run(&self, scope: &Scope, id: u64) -> Result<Option<RunRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM eval_runs WHERE tenant_id = $1 AND project_id = $2 AND id = $3");
        let row = client.query_opt(&sql, &[&scope.tenant(), &scope.project(), &to_big(id)?]).await.map_err(backend)?;
        row.as_ref().map(decode_run).transpose()
    }

    async fn runs(
        &self,
        scope: &Scope,
        suite: Option<&str>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM eval_runs WHERE tenant_id = $1 AND project_id = $2
             AND ($3::TEXT IS NULL OR suite = $3) AND ($4::BIGINT IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
        );
        let rows = client
            .query(&sql, &[&scope.tenant(), &scope.project(), &suite, &id_bound(before), &i64::from(limit)])
            .await
            .map_err(backend)?;
        rows.iter().map(decode_run).collect()
    }

    async fn results(&self, scope: &Scope, run: u64, query: ResultQuery) -> Result<Vec<ResultRecord>, StoreError> {
        let client = self.client().await?;
        let after = match query.after {
            Some(u) => [to_db(u.target)?, to_db(u.provider)?, to_db(u.case)?, to_db(u.repeat)?],
            None => [-1; 4],
        };
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM eval_results WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3
             AND (target_index, provider_index, case_index, repeat_index) > ($4, $5, $6, $7)
             AND (NOT $8 OR status <> 'pass')
             ORDER BY target_index, provider_index, case_index, repeat_index LIMIT $9"
        );
        let limit = query.limit.map(i64::from);
        let rows = client
            .query(
                &sql,
                &[
                    &scope.tenant(),
                    &scope.project(),
                    &to_big(run)?,
                    &after[0],
                    &after[1],
                    &after[2],
                    &after[3],
                    &query.problems_only,
                    &limit,
                ],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(decode_result).collect()
    }

    async fn done_units(&self, scope: &Scope, run: u64) -> Result<Vec<UnitKey>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT target_index, provider_index, case_index, repeat_index FROM eval_results
                 WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3",
                &[&scope.tenant(), &scope.project(), &to_big(run)?],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(decode_unit).collect()
    }
}
