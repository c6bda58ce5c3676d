//! [`QueueStore`] on PostgreSQL, shared by every replica: units are claimed with `FOR UPDATE
//! SKIP LOCKED` under a lease whose token (a fresh UUID per attempt) fences the completing
//! transaction, and leases are timed by the database's clock so replicas' clocks never matter.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::listen::NOTIFY_RUNS;
use super::runs::{add_to_totals, decode_result, insert_results, insert_run};
use super::{PostgresStore, backend, col, from_big, from_db, lock, to_big, to_db};
use crate::store::commit::now;
use crate::store::queue::{
    ClaimOptions, ClaimedUnit, QUEUE_OWNER, QueueStore, QueuedRunDraft, SequencedResult, UnitResult, fair_share,
};
use crate::store::run_records::{RESULT_COLUMNS, RUN_COLUMNS};
use crate::store::{RunRecord, RunStatus, RunTotals, Scope, StoreError, UnitKey};

fn interval(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// What `claim_units` and `renew_leases` return of a unit, in order.
const CLAIMED: &str = "u.tenant_id, u.project_id, u.run_id, u.unit, u.attempt, u.lease_token::TEXT, \
     u.target_index, u.provider_index, u.case_index, u.repeat_index";

fn claimed_from(row: &tokio_postgres::Row) -> Result<ClaimedUnit, StoreError> {
    let (tenant, project): (String, String) = (col(row, 0)?, col(row, 1)?);
    let index = |i: usize| col::<i32>(row, i).and_then(from_db);
    Ok(ClaimedUnit {
        scope: Scope::new(&tenant, &project),
        run: from_big(col(row, 2)?)?,
        unit: from_big(col(row, 3)?)?,
        key: UnitKey { target: index(6)?, provider: index(7)?, case: index(8)?, repeat: index(9)? },
        attempt: u32::try_from(col::<i32>(row, 4)?).unwrap_or(0),
        token: col(row, 5)?,
    })
}

async fn fetch_run(tx: &Transaction<'_>, scope: &Scope, run: i64) -> Result<RunRecord, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM eval_runs WHERE tenant_id = $1 AND project_id = $2 AND id = $3");
    let row = tx.query_opt(&sql, &[&scope.tenant(), &scope.project(), &run]).await.map_err(backend)?;
    row.as_ref().map(super::runs::decode_run).transpose()?.ok_or(StoreError::RunNotFound { id: from_big(run)? })
}

/// Gives run `run` (whose row the caller has locked) its final status once no unit of it is
/// left: cancelled when that was asked for, else what its results say.
async fn finish_if_done(tx: &Transaction<'_>, scope: &Scope, run: i64) -> Result<(), StoreError> {
    let (tenant, project) = (scope.tenant(), scope.project());
    let left = tx
        .query_opt(
            "SELECT 1 FROM run_units WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3 LIMIT 1",
            &[&tenant, &project, &run],
        )
        .await
        .map_err(backend)?;
    if left.is_some() {
        return Ok(());
    }
    let row = tx
        .query_one(
            "SELECT s.cancel_requested_at IS NOT NULL, r.done, r.passed, r.failed, r.errors, r.total, r.threshold
             FROM eval_runs r JOIN run_specs s
               ON s.tenant_id = r.tenant_id AND s.project_id = r.project_id AND s.run_id = r.id
             WHERE r.tenant_id = $1 AND r.project_id = $2 AND r.id = $3",
            &[&tenant, &project, &run],
        )
        .await
        .map_err(backend)?;
    let count = |i: usize| col::<i64>(&row, i).and_then(from_big);
    let totals =
        RunTotals { done: count(1)?, passed: count(2)?, failed: count(3)?, errors: count(4)?, ..Default::default() };
    let status = if col::<bool>(&row, 0)? {
        RunStatus::Cancelled
    } else {
        RunStatus::verdict(&totals, count(5)?, col(&row, 6)?)
    };
    tx.execute(
        "UPDATE eval_runs SET status = $4, finished_at = $5
         WHERE tenant_id = $1 AND project_id = $2 AND id = $3 AND status = 'running'",
        &[&tenant, &project, &run, &status.as_str(), &now()],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// Deletes the units of `done` whose tokens still hold; returns those. The statements are
/// issued together, so tokio-postgres pipelines them.
async fn take_units(tx: &Transaction<'_>, done: &[UnitResult]) -> Result<Vec<usize>, StoreError> {
    let statement = tx
        .prepare_cached(
            "DELETE FROM run_units WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3 AND unit = $4
                 AND state = 'running' AND lease_token = $5::TEXT::UUID",
        )
        .await
        .map_err(backend)?;
    let keys: Vec<(&str, &str, i64, i64, &str)> = done
        .iter()
        .map(|u| {
            let c = &u.claimed;
            Ok((c.scope.tenant(), c.scope.project(), to_big(c.run)?, to_big(c.unit)?, c.token.as_str()))
        })
        .collect::<Result<_, StoreError>>()?;
    let deleted = futures::future::try_join_all(keys.iter().map(|(tenant, project, run, unit, token)| {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [tenant, project, run, unit, token];
        tx.execute_raw(&statement, params)
    }))
    .await
    .map_err(backend)?;
    Ok(deleted.iter().enumerate().filter(|(_, n)| **n == 1).map(|(i, _)| i).collect())
}

/// Writes the accepted results of one run, numbered after its earlier ones under the run row's
/// lock, so that numbers follow commit order.
async fn write_sequenced(
    tx: &Transaction<'_>,
    scope: &Scope,
    run: i64,
    results: &[&UnitResult],
) -> Result<(), StoreError> {
    let (tenant, project) = (scope.tenant(), scope.project());
    let row = tx
        .query_one(
            "SELECT done FROM eval_runs WHERE tenant_id = $1 AND project_id = $2 AND id = $3 FOR UPDATE",
            &[&tenant, &project, &run],
        )
        .await
        .map_err(backend)?;
    let done: i64 = col(&row, 0)?;
    let records: Vec<_> = results.iter().map(|r| r.result.clone()).collect();
    let added = insert_results(tx, scope, run, &records).await?;
    add_to_totals(tx, scope, run, &added).await?;
    let units: Vec<String> = records
        .iter()
        .map(|r| format!("{}.{}.{}.{}", r.unit.target, r.unit.provider, r.unit.case, r.unit.repeat))
        .collect();
    tx.execute(
        "UPDATE eval_results r SET seq = $4 + u.n FROM unnest($5::TEXT[]) WITH ORDINALITY AS u(key, n)
         WHERE r.tenant_id = $1 AND r.project_id = $2 AND r.run_id = $3
           AND r.target_index || '.' || r.provider_index || '.' || r.case_index || '.' || r.repeat_index = u.key",
        &[&tenant, &project, &run, &done, &units],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl QueueStore for PostgresStore {
    async fn enqueue_run(&self, scope: &Scope, run: QueuedRunDraft) -> Result<(RunRecord, bool), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        if let Some(key) = &run.idempotency_key {
            // Two submissions with one key wait for each other here; the second finds the first.
            lock(&tx, scope, "run-key", &[key]).await?;
            let found = tx
                .query_opt(
                    "SELECT run_id FROM run_specs WHERE tenant_id = $1 AND project_id = $2 AND idempotency_key = $3",
                    &[&scope.tenant(), &scope.project(), key],
                )
                .await
                .map_err(backend)?;
            if let Some(row) = found {
                let record = fetch_run(&tx, scope, col(&row, 0)?).await?;
                return Ok((record, false));
            }
        }
        let record = insert_run(&tx, scope, &run.draft, (RunStatus::Running, now(), None)).await?;
        let id = to_big(record.id)?;
        let (tenant, project) = (scope.tenant(), scope.project());
        tx.execute(
            "UPDATE eval_runs SET owner = $4 WHERE tenant_id = $1 AND project_id = $2 AND id = $3",
            &[&tenant, &project, &id, &QUEUE_OWNER],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO run_specs (tenant_id, project_id, run_id, spec, idempotency_key) VALUES ($1, $2, $3, $4, $5)",
            &[&tenant, &project, &id, &run.spec, &run.idempotency_key],
        )
        .await
        .map_err(backend)?;
        let column = |pick: fn(&UnitKey) -> u32| -> Result<Vec<i32>, StoreError> {
            run.units.iter().map(|k| to_db(pick(k))).collect()
        };
        let (targets, providers) = (column(|k| k.target)?, column(|k| k.provider)?);
        let (cases, repeats) = (column(|k| k.case)?, column(|k| k.repeat)?);
        tx.execute(
            "INSERT INTO run_units (tenant_id, project_id, run_id, unit, target_index, provider_index, case_index,
                 repeat_index, state)
             SELECT $1, $2, $3, u.n - 1, u.t, u.p, u.c, u.r, 'available'
             FROM unnest($4::INT[], $5::INT[], $6::INT[], $7::INT[]) WITH ORDINALITY AS u(t, p, c, r, n)",
            &[&tenant, &project, &id, &targets, &providers, &cases, &repeats],
        )
        .await
        .map_err(backend)?;
        finish_if_done(&tx, scope, id).await?;
        let record = fetch_run(&tx, scope, id).await?;
        tx.execute(NOTIFY_RUNS, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok((record, true))
    }

    async fn run_spec(&self, scope: &Scope, run: u64) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT spec FROM run_specs WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3",
                &[&scope.tenant(), &scope.project(), &to_big(run)?],
            )
            .await
            .map_err(backend)?;
        row.as_ref().map(|r| col(r, 0)).transpose()
    }

    async fn run_stop(&self, scope: &Scope, run: u64) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT stopped FROM run_specs WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3",
                &[&scope.tenant(), &scope.project(), &to_big(run)?],
            )
            .await
            .map_err(backend)?;
        Ok(row.as_ref().map(|r| col::<Option<String>>(r, 0)).transpose()?.flatten())
    }

    async fn claim_units(&self, options: &ClaimOptions) -> Result<Vec<ClaimedUnit>, StoreError> {
        let client = self.client().await?;
        // Tenants with due units and how many each runs now (across replicas): each gets at most
        // the cap, so one tenant's 50,000 units cannot hold every worker.
        let tenants = client
            .query(
                "SELECT tenant_id, count(*) FILTER (WHERE state = 'running')::BIGINT FROM run_units
                 GROUP BY tenant_id HAVING bool_or(state = 'available' AND scheduled_at <= now())",
                &[],
            )
            .await
            .map_err(backend)?;
        let mut claimed = Vec::new();
        for (i, row) in tenants.iter().enumerate() {
            let (tenant, running): (String, i64) = (col(row, 0)?, col(row, 1)?);
            let room = (options.tenant_cap as i64 - running).max(0);
            let want = room.min(fair_share(options.limit - claimed.len(), tenants.len() - i) as i64);
            if want == 0 {
                continue;
            }
            let rows = client
                .query(
                    &format!(
                        "WITH due AS (
                         SELECT tenant_id, project_id, run_id, unit FROM run_units
                         WHERE state = 'available' AND tenant_id = $1 AND scheduled_at <= now()
                         ORDER BY scheduled_at, run_id, unit LIMIT $2 FOR UPDATE SKIP LOCKED)
                     UPDATE run_units u SET state = 'running', attempt = u.attempt + 1, lease_owner = $3,
                         lease_token = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => $4)
                     FROM due WHERE u.tenant_id = due.tenant_id AND u.project_id = due.project_id
                         AND u.run_id = due.run_id AND u.unit = due.unit
                     RETURNING {CLAIMED}"
                    ),
                    &[&tenant, &want, &options.owner, &interval(options.lease)],
                )
                .await
                .map_err(backend)?;
            for row in &rows {
                claimed.push(claimed_from(row)?);
            }
            if claimed.len() >= options.limit {
                break;
            }
        }
        Ok(claimed)
    }

    async fn complete_units(&self, results: Vec<UnitResult>) -> Result<Vec<ClaimedUnit>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let mut by_run: BTreeMap<(String, String, u64), Vec<&UnitResult>> = BTreeMap::new();
        for i in take_units(&tx, &results).await? {
            let c = &results[i].claimed;
            by_run
                .entry((c.scope.tenant().to_owned(), c.scope.project().to_owned(), c.run))
                .or_default()
                .push(&results[i]);
        }
        let mut accepted = Vec::new();
        // Runs in one sorted order, so two replicas completing units of the same runs never deadlock.
        for ((tenant, project, run), done) in by_run {
            let scope = Scope::new(&tenant, &project);
            write_sequenced(&tx, &scope, to_big(run)?, &done).await?;
            finish_if_done(&tx, &scope, to_big(run)?).await?;
            accepted.extend(done.into_iter().map(|d| d.claimed.clone()));
        }
        tx.commit().await.map_err(backend)?;
        Ok(accepted)
    }

    async fn renew_leases(&self, owner: &str, lease: Duration) -> Result<Vec<ClaimedUnit>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "UPDATE run_units u SET lease_expires_at = now() + make_interval(secs => $2)
                     WHERE lease_owner = $1 AND state = 'running' RETURNING {CLAIMED}"
                ),
                &[&owner, &interval(lease)],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(claimed_from).collect()
    }

    async fn release_units(&self, units: Vec<ClaimedUnit>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        for c in &units {
            tx.execute(
                "UPDATE run_units SET state = 'available', attempt = greatest(attempt - 1, 0), lease_owner = NULL,
                     lease_token = NULL, lease_expires_at = NULL, scheduled_at = now()
                 WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3 AND unit = $4
                     AND state = 'running' AND lease_token = $5::TEXT::UUID",
                &[&c.scope.tenant(), &c.scope.project(), &to_big(c.run)?, &to_big(c.unit)?, &c.token],
            )
            .await
            .map_err(backend)?;
        }
        tx.execute(NOTIFY_RUNS, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn rescue_units(&self, all_running: bool) -> Result<u64, StoreError> {
        let client = self.client().await?;
        // Backoff min(2^attempt, 60) s with up to a second of jitter, so that units abandoned
        // together are not all retried in the same instant.
        let rescued = client
            .execute(
                "UPDATE run_units SET state = 'available', lease_owner = NULL, lease_token = NULL,
                     lease_expires_at = NULL,
                     scheduled_at = CASE WHEN $1 THEN now()
                         ELSE now() + make_interval(secs => least(2 ^ least(attempt, 6), 60) + random()) END
                 WHERE state = 'running' AND ($1 OR lease_expires_at < now())",
                &[&all_running],
            )
            .await
            .map_err(backend)?;
        Ok(rescued)
    }

    async fn cancel_run(&self, scope: &Scope, run: u64, stopped: Option<&str>) -> Result<RunRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let (tenant, project, id) = (scope.tenant(), scope.project(), to_big(run)?);
        tx.execute(
            "SELECT 1 FROM eval_runs WHERE tenant_id = $1 AND project_id = $2 AND id = $3 FOR UPDATE",
            &[&tenant, &project, &id],
        )
        .await
        .map_err(backend)?;
        let marked = tx
            .execute(
                "UPDATE run_specs SET cancel_requested_at = coalesce(cancel_requested_at, now()),
                        stopped = coalesce(stopped, $4)
                 WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3",
                &[&tenant, &project, &id, &stopped],
            )
            .await
            .map_err(backend)?;
        if marked == 0 {
            return Err(StoreError::NotFound { what: format!("server-side run {run}") });
        }
        tx.execute(
            "DELETE FROM run_units WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3",
            &[&tenant, &project, &id],
        )
        .await
        .map_err(backend)?;
        finish_if_done(&tx, scope, id).await?;
        let record = fetch_run(&tx, scope, id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(record)
    }

    async fn results_after(
        &self,
        scope: &Scope,
        run: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedResult>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {RESULT_COLUMNS}, seq FROM eval_results
             WHERE tenant_id = $1 AND project_id = $2 AND run_id = $3 AND seq > $4 ORDER BY seq LIMIT $5"
        );
        let rows = client
            .query(&sql, &[&scope.tenant(), &scope.project(), &to_big(run)?, &to_big(after)?, &(limit as i64)])
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| Ok(SequencedResult { seq: from_big(col(row, 20)?)?, result: decode_result(row)? }))
            .collect()
    }

    async fn queue_depth(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.client().await?;
        let rows = client.query("SELECT state, count(*) FROM run_units GROUP BY state", &[]).await.map_err(backend)?;
        rows.iter().map(|row| Ok((col(row, 0)?, from_big(col(row, 1)?)?))).collect()
    }
}
