//! [`QueueStore`] on SQLite, for one replica: every claim, completion and rescue is an
//! immediate transaction on the one connection, so there is nothing to skip-lock. Times are
//! milliseconds since the epoch by this process's clock, the only clock there is.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::runs::{add_results, insert_run, result_from_row};
use super::{SqliteStore, backend, timestamp};
use crate::store::queue::{
    ClaimOptions, ClaimedUnit, QUEUE_OWNER, QueueStore, QueuedRunDraft, SequencedResult, UnitResult, fair_share,
};
use crate::store::run_records::RESULT_COLUMNS;
use crate::store::{RunRecord, RunStatus, RunTotals, Scope, StoreError, UnitKey, from_i64, to_i64};

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The run of `key` in `scope`, if that key was used.
fn run_of_key(tx: &Transaction<'_>, scope: &Scope, key: &str) -> Result<Option<u64>, StoreError> {
    tx.query_row(
        "SELECT run_id FROM run_specs WHERE tenant_id = ?1 AND project_id = ?2 AND idempotency_key = ?3",
        params![scope.tenant(), scope.project(), key],
        |row| row.get::<_, i64>(0),
    )
    .optional()
    .map_err(backend)?
    .map(from_i64)
    .transpose()
}

/// Gives run `run` its final status once no unit of it is left: cancelled when that was asked
/// for, else what its results say.
fn finish_if_done(tx: &Transaction<'_>, scope: &Scope, run: i64) -> Result<(), StoreError> {
    let left: i64 = tx
        .query_row(
            "SELECT count(*) FROM run_units WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3",
            params![scope.tenant(), scope.project(), run],
            |row| row.get(0),
        )
        .map_err(backend)?;
    if left > 0 {
        return Ok(());
    }
    let (cancelled, totals, total, threshold): (bool, RunTotals, i64, f64) = tx
        .query_row(
            "SELECT s.cancel_requested_at IS NOT NULL, r.done, r.passed, r.failed, r.errors, r.total, r.threshold
             FROM eval_runs r JOIN run_specs s
               ON s.tenant_id = r.tenant_id AND s.project_id = r.project_id AND s.run_id = r.id
             WHERE r.tenant_id = ?1 AND r.project_id = ?2 AND r.id = ?3",
            params![scope.tenant(), scope.project(), run],
            |row| {
                let count = |i| row.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                let totals = RunTotals {
                    done: count(1)?,
                    passed: count(2)?,
                    failed: count(3)?,
                    errors: count(4)?,
                    ..Default::default()
                };
                Ok((row.get(0)?, totals, row.get(5)?, row.get(6)?))
            },
        )
        .map_err(backend)?;
    let status = if cancelled {
        RunStatus::Cancelled
    } else {
        RunStatus::verdict(&totals, u64::try_from(total).unwrap_or(0), threshold)
    };
    tx.execute(
        "UPDATE eval_runs SET status = ?4, finished_at = ?5
         WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3 AND status = 'running'",
        params![scope.tenant(), scope.project(), run, status.as_str(), timestamp(Utc::now())],
    )
    .map_err(backend)?;
    Ok(())
}

/// Queues `units` of run `run`, available now.
fn insert_units(tx: &Transaction<'_>, scope: &Scope, run: i64, units: &[UnitKey]) -> Result<(), StoreError> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO run_units (tenant_id, project_id, run_id, unit, target_index, provider_index, case_index,
                 repeat_index, state, scheduled_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'available', ?9)",
        )
        .map_err(backend)?;
    let now = now_ms();
    for (index, key) in units.iter().enumerate() {
        insert
            .execute(params![
                scope.tenant(),
                scope.project(),
                run,
                index as i64,
                key.target,
                key.provider,
                key.case,
                key.repeat,
                now
            ])
            .map_err(backend)?;
    }
    Ok(())
}

/// A unit key from four columns starting at `at`.
fn unit_key(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<UnitKey> {
    Ok(UnitKey { target: row.get(at)?, provider: row.get(at + 1)?, case: row.get(at + 2)?, repeat: row.get(at + 3)? })
}

/// Claims up to `limit` available units of `tenant` for `options.owner`.
fn claim_for(
    tx: &Transaction<'_>,
    tenant: &str,
    limit: usize,
    options: &ClaimOptions,
    out: &mut Vec<ClaimedUnit>,
) -> Result<(), StoreError> {
    let now = now_ms();
    let mut select = tx
        .prepare_cached(
            "SELECT project_id, run_id, unit, attempt, target_index, provider_index, case_index, repeat_index
             FROM run_units WHERE state = 'available' AND tenant_id = ?1 AND scheduled_ms <= ?2
             ORDER BY scheduled_ms, run_id, unit LIMIT ?3",
        )
        .map_err(backend)?;
    let rows: Vec<(String, i64, i64, i64, UnitKey)> = select
        .query_map(params![tenant, now, to_i64(limit as u64)?], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, unit_key(r, 4)?))
        })
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    let expires = now.saturating_add(millis(options.lease));
    for (project, run, unit, attempt, key) in rows {
        let token = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "UPDATE run_units SET state = 'running', attempt = attempt + 1, lease_owner = ?5, lease_token = ?6,
                 lease_expires_ms = ?7
             WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3 AND unit = ?4",
            params![tenant, project, run, unit, options.owner, token, expires],
        )
        .map_err(backend)?;
        out.push(ClaimedUnit {
            scope: Scope::new(tenant, &project),
            run: from_i64(run)?,
            unit: from_i64(unit)?,
            key,
            attempt: u32::try_from(attempt + 1).unwrap_or(u32::MAX),
            token,
        });
    }
    Ok(())
}

/// Deletes a unit's row while `claimed`'s token holds it; whether it did.
fn take_unit(tx: &Transaction<'_>, claimed: &ClaimedUnit) -> Result<bool, StoreError> {
    let deleted = tx
        .execute(
            "DELETE FROM run_units WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3 AND unit = ?4
                 AND state = 'running' AND lease_token = ?5",
            params![
                claimed.scope.tenant(),
                claimed.scope.project(),
                to_i64(claimed.run)?,
                to_i64(claimed.unit)?,
                claimed.token
            ],
        )
        .map_err(backend)?;
    Ok(deleted == 1)
}

/// Writes the results of one run whose units `take_unit` accepted, numbering them after the
/// run's earlier results.
fn write_sequenced(tx: &Transaction<'_>, scope: &Scope, run: u64, accepted: &[UnitResult]) -> Result<(), StoreError> {
    let id = to_i64(run)?;
    let done: i64 = tx
        .query_row(
            "SELECT done FROM eval_runs WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
            params![scope.tenant(), scope.project(), id],
            |row| row.get(0),
        )
        .map_err(backend)?;
    let results: Vec<_> = accepted.iter().map(|a| a.result.clone()).collect();
    add_results(tx, scope, run, &results)?;
    for (i, result) in results.iter().enumerate() {
        tx.execute(
            "UPDATE eval_results SET seq = ?8 WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3
                 AND target_index = ?4 AND provider_index = ?5 AND case_index = ?6 AND repeat_index = ?7",
            params![
                scope.tenant(),
                scope.project(),
                id,
                result.unit.target,
                result.unit.provider,
                result.unit.case,
                result.unit.repeat,
                done + 1 + i as i64
            ],
        )
        .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn enqueue_run(&self, scope: &Scope, run: QueuedRunDraft) -> Result<(RunRecord, bool), StoreError> {
        let task_scope = scope.clone();
        let (id, created) = self
            .call(move |conn| {
                let scope = task_scope;
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
                if let Some(key) = &run.idempotency_key
                    && let Some(id) = run_of_key(&tx, &scope, key)?
                {
                    return Ok((id, false));
                }
                let id = insert_run(&tx, &scope, &run.draft, (RunStatus::Running, Utc::now(), None))?;
                tx.execute(
                    "UPDATE eval_runs SET owner = ?4 WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
                    params![scope.tenant(), scope.project(), to_i64(id)?, QUEUE_OWNER],
                )
                .map_err(backend)?;
                tx.execute(
                    "INSERT INTO run_specs (tenant_id, project_id, run_id, spec, idempotency_key)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![scope.tenant(), scope.project(), to_i64(id)?, run.spec, run.idempotency_key],
                )
                .map_err(backend)?;
                insert_units(&tx, &scope, to_i64(id)?, &run.units)?;
                finish_if_done(&tx, &scope, to_i64(id)?)?;
                tx.commit().map_err(backend)?;
                Ok((id, true))
            })
            .await?;
        let record = self.fetch_run(scope, id).await?.ok_or(StoreError::RunNotFound { id })?;
        Ok((record, created))
    }

    async fn run_spec(&self, scope: &Scope, run: u64) -> Result<Option<String>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            conn.query_row(
                "SELECT spec FROM run_specs WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3",
                params![scope.tenant(), scope.project(), to_i64(run)?],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn run_stop(&self, scope: &Scope, run: u64) -> Result<Option<String>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            conn.query_row(
                "SELECT stopped FROM run_specs WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3",
                params![scope.tenant(), scope.project(), to_i64(run)?],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(backend)
        })
        .await
    }

    async fn claim_units(&self, options: &ClaimOptions) -> Result<Vec<ClaimedUnit>, StoreError> {
        let options = options.clone();
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let mut tenants: BTreeMap<String, i64> = BTreeMap::new();
            {
                let mut waiting = tx
                    .prepare_cached(
                        "SELECT tenant_id, sum(state = 'running') FROM run_units GROUP BY tenant_id
                         HAVING sum(state = 'available' AND scheduled_ms <= ?1) > 0",
                    )
                    .map_err(backend)?;
                let rows = waiting.query_map(params![now_ms()], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend)?;
                for row in rows {
                    let (tenant, running) = row.map_err(backend)?;
                    tenants.insert(tenant, running);
                }
            }
            let mut claimed = Vec::new();
            let waiting = tenants.len();
            for (i, (tenant, running)) in tenants.into_iter().enumerate() {
                let room = (options.tenant_cap as i64 - running).max(0) as usize;
                let want = room.min(fair_share(options.limit - claimed.len(), waiting - i));
                if want > 0 {
                    claim_for(&tx, &tenant, want, &options, &mut claimed)?;
                }
                if claimed.len() >= options.limit {
                    break;
                }
            }
            tx.commit().map_err(backend)?;
            Ok(claimed)
        })
        .await
    }

    async fn complete_units(&self, results: Vec<UnitResult>) -> Result<Vec<ClaimedUnit>, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let mut by_run: BTreeMap<(Scope, u64), Vec<UnitResult>> = BTreeMap::new();
            for done in results {
                if take_unit(&tx, &done.claimed)? {
                    by_run.entry((done.claimed.scope.clone(), done.claimed.run)).or_default().push(done);
                }
            }
            let mut accepted = Vec::new();
            for ((scope, run), done) in by_run {
                write_sequenced(&tx, &scope, run, &done)?;
                finish_if_done(&tx, &scope, to_i64(run)?)?;
                accepted.extend(done.into_iter().map(|d| d.claimed));
            }
            tx.commit().map_err(backend)?;
            Ok(accepted)
        })
        .await
    }

    async fn renew_leases(&self, owner: &str, lease: Duration) -> Result<Vec<ClaimedUnit>, StoreError> {
        let owner = owner.to_owned();
        self.call(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "UPDATE run_units SET lease_expires_ms = ?2 WHERE lease_owner = ?1 AND state = 'running'
                     RETURNING tenant_id, project_id, run_id, unit, attempt, lease_token,
                         target_index, provider_index, case_index, repeat_index",
                )
                .map_err(backend)?;
            let rows = statement
                .query_map(params![owner, now_ms().saturating_add(millis(lease))], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        unit_key(r, 6)?,
                    ))
                })
                .map_err(backend)?;
            let mut held = Vec::new();
            for row in rows {
                let (tenant, project, run, unit, attempt, token, key) = row.map_err(backend)?;
                held.push(ClaimedUnit {
                    scope: Scope::new(&tenant, &project),
                    run: from_i64(run)?,
                    unit: from_i64(unit)?,
                    key,
                    attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                    token,
                });
            }
            Ok(held)
        })
        .await
    }

    async fn release_units(&self, units: Vec<ClaimedUnit>) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            for unit in units {
                tx.execute(
                    "UPDATE run_units SET state = 'available', attempt = max(attempt - 1, 0), lease_owner = NULL,
                         lease_token = NULL, lease_expires_ms = NULL, scheduled_ms = ?6
                     WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3 AND unit = ?4 AND lease_token = ?5
                         AND state = 'running'",
                    params![
                        unit.scope.tenant(),
                        unit.scope.project(),
                        to_i64(unit.run)?,
                        to_i64(unit.unit)?,
                        unit.token,
                        now_ms()
                    ],
                )
                .map_err(backend)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn rescue_units(&self, all_running: bool) -> Result<u64, StoreError> {
        self.call(move |conn| {
            let now = now_ms();
            // Backoff min(2^attempt, 60) s, with up to a second of jitter so that units abandoned
            // together are not all retried in the same instant; none for a restart's requeue.
            let rescued = conn
                .execute(
                    "UPDATE run_units SET state = 'available', lease_owner = NULL, lease_token = NULL,
                         lease_expires_ms = NULL,
                         scheduled_ms = CASE WHEN ?2 THEN ?1
                             ELSE ?1 + min(1000 << min(attempt, 6), 60000) + abs(random() % 1000) END
                     WHERE state = 'running' AND (?2 OR lease_expires_ms < ?1)",
                    params![now, all_running],
                )
                .map_err(backend)?;
            Ok(rescued as u64)
        })
        .await
    }

    async fn cancel_run(&self, scope: &Scope, run: u64, stopped: Option<&str>) -> Result<RunRecord, StoreError> {
        let task_scope = scope.clone();
        let stopped = stopped.map(str::to_owned);
        self.call(move |conn| {
            let scope = task_scope;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let id = to_i64(run)?;
            let marked = tx
                .execute(
                    "UPDATE run_specs SET cancel_requested_at = coalesce(cancel_requested_at, ?4),
                            stopped = coalesce(stopped, ?5)
                     WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3",
                    params![scope.tenant(), scope.project(), id, timestamp(Utc::now()), stopped],
                )
                .map_err(backend)?;
            if marked == 0 {
                return Err(StoreError::NotFound { what: format!("server-side run {run}") });
            }
            tx.execute(
                "DELETE FROM run_units WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3",
                params![scope.tenant(), scope.project(), id],
            )
            .map_err(backend)?;
            finish_if_done(&tx, &scope, id)?;
            tx.commit().map_err(backend)
        })
        .await?;
        self.fetch_run(scope, run).await?.ok_or(StoreError::RunNotFound { id: run })
    }

    async fn results_after(
        &self,
        scope: &Scope,
        run: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedResult>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            let sql = format!(
                "SELECT {RESULT_COLUMNS}, seq FROM eval_results
                 WHERE tenant_id = ?1 AND project_id = ?2 AND run_id = ?3 AND seq > ?4 ORDER BY seq LIMIT ?5"
            );
            let mut statement = conn.prepare_cached(&sql).map_err(backend)?;
            let rows = statement
                .query_map(
                    params![scope.tenant(), scope.project(), to_i64(run)?, to_i64(after)?, limit as i64],
                    |row| Ok((result_from_row(row)?, row.get::<_, i64>(20)?)),
                )
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (result, seq) = row.map_err(backend)?;
                out.push(SequencedResult { seq: from_i64(seq)?, result: result? });
            }
            Ok(out)
        })
        .await
    }

    async fn queue_depth(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.call(|conn| {
            let mut statement =
                conn.prepare_cached("SELECT state, count(*) FROM run_units GROUP BY state").map_err(backend)?;
            let rows =
                statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (state, count) = row.map_err(backend)?;
                out.push((state, from_i64(count)?));
            }
            Ok(out)
        })
        .await
    }
}
