//! [`GatewayStore`] on PostgreSQL. Limits and budgets hold across every replica: a request with
//! `max_parallel` is admitted by one statement, `SELECT * FROM gateway_admit(…)` (migration 0012,
//! which also leases its slot to the replica); any other is admitted in memory from the shares
//! its replica leased ([`super::shares`]), at the cost of one `gateway_lease` round trip per
//! chunk instead of one per request.

use async_trait::async_trait;
use chrono::Utc;
use futures::future::try_join_all;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, backend, col, from_big, from_db, shares, to_big, to_db};
use crate::access::{Scope, SystemScope, TenantScope};
use crate::money::Micros;
use crate::store::gateway::meter;
use crate::store::{
    Admission, ConnectionRecord, GatewayKeyRecord, GatewayStore, MeterRequest, MeterSettle, SealedRow, SettingsOwner,
    StoreError, TraceRecord,
};

fn decode(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Decode(format!("{what}: {err}"))
}

fn json(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|err| decode("gateway JSON", err))
}

/// Grows the revision other servers poll, and announces the change to their listeners.
const BUMP: &str = "WITH bumped AS (UPDATE gateway_revision SET n = n + 1 WHERE id = 1 RETURNING n)
    SELECT pg_notify('promptops_changes', COALESCE(current_schema(), '') || ':gateway') FROM bumped";

fn owner_key(owner: SettingsOwner<'_>) -> (String, String) {
    match owner {
        SettingsOwner::Project(scope) => (scope.tenant().to_owned(), scope.project().to_owned()),
        SettingsOwner::Tenant(scope) => (scope.tenant().to_owned(), String::new()),
    }
}

fn decode_connection(row: &Row) -> Result<ConnectionRecord, StoreError> {
    Ok(ConnectionRecord {
        id: col(row, 0)?,
        spec: json(&col::<String>(row, 1)?)?,
        sealed_key: col(row, 2)?,
        key_hint: col(row, 3)?,
        updated_by: col(row, 4)?,
        updated_at: col(row, 5)?,
    })
}

const KEY_COLUMNS: &str = "token_id, tenant_id, project_id, spec, created_by, created_at";

fn decode_key(row: &Row) -> Result<GatewayKeyRecord, StoreError> {
    Ok(GatewayKeyRecord {
        token_id: col(row, 0)?,
        tenant: col(row, 1)?,
        project: col(row, 2)?,
        spec: json(&col::<String>(row, 3)?)?,
        created_by: col(row, 4)?,
        created_at: col(row, 5)?,
    })
}

const SETTLE: &str = "UPDATE gateway_meters SET
    tpm_tat = tpm_tat + $3::BIGINT,
    day_spent = CASE WHEN day = $4::BIGINT THEN day_spent ELSE 0 END + $5::BIGINT,
    day = $4::BIGINT,
    month_spent = CASE WHEN month = $6::BIGINT THEN month_spent ELSE 0 END + $5::BIGINT,
    month = $6::BIGINT
    WHERE tenant_id = $1 AND key = $2";

/// Gives a slot ($4: 1 or 0) and reservations back to the leases of their holder: $5 of the day
/// $6 and $8 of the month $7 (the day and month they were made in).
pub(super) const RELEASE: &str = "UPDATE gateway_slots SET
    in_flight = GREATEST(in_flight - $4::BIGINT, 0),
    day_reserved = CASE WHEN day = $6::BIGINT THEN GREATEST(day_reserved - $5::BIGINT, 0) ELSE day_reserved END,
    month_reserved = CASE WHEN month = $7::BIGINT THEN GREATEST(month_reserved - $8::BIGINT, 0) ELSE month_reserved END
    WHERE tenant_id = $1 AND key = $2 AND holder = $3";

const INSERT_TRACE: &str = "INSERT INTO gateway_traces (tenant_id, project_id, trace_id, at, key_id, prompt,
    prompt_label, prompt_version, model, fallback, endpoint, input_tokens, output_tokens, cost_micros, latency_ms,
    ttft_ms, attempts, cache, status, http_status, error, variables, output)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)";

const TRACE_COLUMNS: &str = "id, trace_id, at, key_id, prompt, prompt_label, prompt_version, model, fallback, endpoint,
    input_tokens, output_tokens, cost_micros, latency_ms, ttft_ms, attempts, cache, status, http_status, error,
    variables, output";

fn decode_trace(row: &Row) -> Result<TraceRecord, StoreError> {
    let variables: Option<String> = col(row, 20)?;
    Ok(TraceRecord {
        id: from_big(col(row, 0)?)?,
        trace_id: col(row, 1)?,
        at: col(row, 2)?,
        key_id: col(row, 3)?,
        prompt: col(row, 4)?,
        prompt_label: col(row, 5)?,
        prompt_version: col::<Option<i32>>(row, 6)?.map(from_db).transpose()?,
        model: col(row, 7)?,
        fallback: col(row, 8)?,
        endpoint: col(row, 9)?,
        input_tokens: from_big(col(row, 10)?)?,
        output_tokens: from_big(col(row, 11)?)?,
        cost: Micros(col(row, 12)?),
        latency_ms: from_big(col(row, 13)?)?,
        ttft_ms: col::<Option<i64>>(row, 14)?.map(from_big).transpose()?,
        attempts: from_db(col(row, 15)?)?,
        cache: col(row, 16)?,
        status: col(row, 17)?,
        http_status: u16::try_from(col::<i32>(row, 18)?).map_err(|err| decode("http status", err))?,
        error: col(row, 19)?,
        variables: variables.as_deref().map(json).transpose()?,
        output: col(row, 21)?,
    })
}

/// The admission function's arguments, in its order.
struct AdmitArgs {
    keys: Vec<String>,
    rpm: Vec<Option<i64>>,
    tpm: Vec<Option<i64>>,
    parallel: Vec<Option<i64>>,
    daily: Vec<Option<i64>>,
    monthly: Vec<Option<i64>>,
}

impl AdmitArgs {
    fn of(request: &MeterRequest) -> Self {
        let scopes = &request.scopes;
        Self {
            keys: scopes.iter().map(|s| s.key.clone()).collect(),
            rpm: scopes.iter().map(|s| s.rpm.map(i64::from)).collect(),
            tpm: scopes.iter().map(|s| s.tpm.map(|t| i64::try_from(t).unwrap_or(i64::MAX))).collect(),
            parallel: scopes.iter().map(|s| s.max_parallel.map(i64::from)).collect(),
            daily: scopes.iter().map(|s| s.daily.map(|m| m.0)).collect(),
            monthly: scopes.iter().map(|s| s.monthly.map(|m| m.0)).collect(),
        }
    }
}

#[async_trait]
impl GatewayStore for PostgresStore {
    async fn put_connection(&self, scope: &Scope, record: &ConnectionRecord, replace: bool) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let conflict = if replace {
            "ON CONFLICT (tenant_id, project_id, id) DO UPDATE SET spec = EXCLUDED.spec, sealed_key = EXCLUDED.sealed_key,
             key_hint = EXCLUDED.key_hint, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO provider_connections (tenant_id, project_id, id, spec, sealed_key, key_hint, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) {conflict}"
        );
        let spec = record.spec.to_string();
        tx.execute(
            &sql,
            &[
                &scope.tenant(),
                &scope.project(),
                &record.id,
                &spec,
                &record.sealed_key,
                &record.key_hint,
                &record.updated_by,
                &record.updated_at,
            ],
        )
        .await
        .map_err(|err| {
            if err.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                StoreError::Conflict { what: format!("provider connection `{}`", record.id) }
            } else {
                backend(err)
            }
        })?;
        tx.execute(BUMP, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn connections(&self, scope: &Scope) -> Result<Vec<ConnectionRecord>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, spec, sealed_key, key_hint, updated_by, updated_at FROM provider_connections
                 WHERE tenant_id = $1 AND project_id = $2 ORDER BY id",
                &[&scope.tenant(), &scope.project()],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(decode_connection).collect()
    }

    async fn delete_connection(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let deleted = tx
            .execute(
                "DELETE FROM provider_connections WHERE tenant_id = $1 AND project_id = $2 AND id = $3",
                &[&scope.tenant(), &scope.project(), &id],
            )
            .await
            .map_err(backend)?;
        tx.execute(BUMP, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(deleted > 0)
    }

    async fn set_connection_key(
        &self,
        scope: &Scope,
        id: &str,
        key: Option<(String, String)>,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let (sealed, hint) = key.unzip();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let changed = tx
            .execute(
                "UPDATE provider_connections SET sealed_key = $4, key_hint = $5, updated_by = $6, updated_at = $7
                 WHERE tenant_id = $1 AND project_id = $2 AND id = $3",
                &[&scope.tenant(), &scope.project(), &id, &sealed, &hint, &actor, &Utc::now()],
            )
            .await
            .map_err(backend)?;
        tx.execute(BUMP, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(changed > 0)
    }

    async fn sealed_keys(&self, _scope: &SystemScope) -> Result<Vec<SealedRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT tenant_id, project_id, id, sealed_key FROM provider_connections
                 WHERE sealed_key IS NOT NULL ORDER BY tenant_id, project_id, id",
                &[],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(SealedRow { tenant: col(row, 0)?, project: col(row, 1)?, id: col(row, 2)?, sealed: col(row, 3)? })
            })
            .collect()
    }

    async fn reseal(&self, _scope: &SystemScope, rows: &[(SealedRow, String)]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        for (row, sealed) in rows {
            let changed = tx
                .execute(
                    "UPDATE provider_connections SET sealed_key = $5
                     WHERE tenant_id = $1 AND project_id = $2 AND id = $3 AND sealed_key = $4",
                    &[&row.tenant, &row.project, &row.id, &row.sealed, sealed],
                )
                .await
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::Conflict {
                    what: format!("a newer key of connection `{}` in `{}/{}`", row.id, row.tenant, row.project),
                });
            }
        }
        tx.execute(BUMP, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn put_gateway_key(&self, scope: &Scope, record: &GatewayKeyRecord) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let spec = record.spec.to_string();
        tx.execute(
            &format!("INSERT INTO gateway_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[&record.token_id, &scope.tenant(), &scope.project(), &spec, &record.created_by, &record.created_at],
        )
        .await
        .map_err(backend)?;
        tx.execute(BUMP, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn delete_gateway_key(&self, scope: &Scope, token_id: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "DELETE FROM gateway_keys WHERE tenant_id = $1 AND project_id = $2 AND token_id = $3",
            &[&scope.tenant(), &scope.project(), &token_id],
        )
        .await
        .map_err(backend)?;
        tx.execute(BUMP, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn gateway_keys(&self, scope: &Scope) -> Result<Vec<GatewayKeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM gateway_keys WHERE tenant_id = $1 AND project_id = $2
             ORDER BY created_at DESC, token_id"
        );
        let rows = self.client().await?.query(&sql, &[&scope.tenant(), &scope.project()]).await.map_err(backend)?;
        rows.iter().map(decode_key).collect()
    }

    async fn gateway_key(&self, token_id: &str) -> Result<Option<GatewayKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM gateway_keys WHERE token_id = $1");
        let row = self.client().await?.query_opt(&sql, &[&token_id]).await.map_err(backend)?;
        row.as_ref().map(decode_key).transpose()
    }

    async fn gateway_settings(&self, owner: SettingsOwner<'_>) -> Result<Option<serde_json::Value>, StoreError> {
        let (tenant, project) = owner_key(owner);
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT spec FROM gateway_settings WHERE tenant_id = $1 AND project_id = $2",
                &[&tenant, &project],
            )
            .await
            .map_err(backend)?;
        row.map(|row| json(&col::<String>(&row, 0)?)).transpose()
    }

    async fn put_gateway_settings(&self, owner: SettingsOwner<'_>, spec: &serde_json::Value) -> Result<(), StoreError> {
        let (tenant, project) = owner_key(owner);
        let spec = spec.to_string();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "INSERT INTO gateway_settings (tenant_id, project_id, spec) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, project_id) DO UPDATE SET spec = EXCLUDED.spec",
            &[&tenant, &project, &spec],
        )
        .await
        .map_err(backend)?;
        tx.execute(BUMP, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn gateway_admit(&self, scope: &TenantScope, request: &MeterRequest) -> Result<Admission, StoreError> {
        if shares::shared(&request.scopes) {
            return self.admit_shared(scope.tenant(), request).await;
        }
        self.admit_each(scope, request).await
    }

    async fn gateway_renew(&self, holder: &str, now: chrono::DateTime<Utc>) -> Result<(), StoreError> {
        let now = meter::micros(now);
        let client = self.client().await?;
        // Two statements, each committed alone and locking its rows in key order (as admissions
        // and settlements do), so that neither holds one row while it waits for another.
        // Ended leases are taken only when no one holds them; the next renewal takes the rest.
        client
            .execute(
                "DELETE FROM gateway_slots WHERE (tenant_id, key, holder) IN (SELECT tenant_id, key, holder
                 FROM gateway_slots WHERE expires_at <= $1 ORDER BY tenant_id, key, holder FOR UPDATE SKIP LOCKED)",
                &[&now],
            )
            .await
            .map_err(backend)?;
        client
            .execute(
                "UPDATE gateway_slots SET expires_at = $2::BIGINT + $3::BIGINT WHERE (tenant_id, key, holder) IN
                 (SELECT tenant_id, key, holder FROM gateway_slots WHERE holder = $1 ORDER BY tenant_id, key FOR UPDATE)",
                &[&holder, &now, &meter::lease_us()],
            )
            .await
            .map_err(backend)?;
        drop(client);
        // Only once the database renewed them may the book count on its shares for longer.
        let idle = self.shares.renewed(holder, now);
        self.release(&idle).await
    }

    fn gateway_settle_in_memory(&self, settles: Vec<(TenantScope, MeterSettle)>) -> Vec<(TenantScope, MeterSettle)> {
        let (mine, others): (Vec<_>, Vec<_>) = settles.into_iter().partition(|(_, s)| shares::shared(&s.scopes));
        self.shares.settle(mine.iter().map(|(scope, settle)| (scope.tenant(), settle)));
        others
    }

    async fn gateway_flush(
        &self,
        traces: &[(Scope, TraceRecord)],
        settles: &[(TenantScope, MeterSettle)],
    ) -> Result<(), StoreError> {
        // Shared settlements handed here directly (not through the method above) go to the book
        // first; the others are written as they come, and retried by the caller if this fails.
        let (mine, others): (Vec<_>, Vec<_>) = settles.iter().partition(|(_, s)| shares::shared(&s.scopes));
        self.shares.settle(mine.iter().map(|(scope, settle)| (scope.tenant(), settle)));
        let queued = self.shares.drain();
        let mut work = shares::Pending::default();
        for (scope, settle) in others {
            work.settle_each(scope.tenant(), settle);
        }
        let outcome = self.write_flush(traces, &queued, work).await;
        if outcome.is_err() {
            // The book already counts these as done: the next flush writes them.
            self.shares.requeue(queued);
        }
        outcome
    }

    async fn traces(&self, scope: &Scope, before: Option<u64>, limit: u32) -> Result<Vec<TraceRecord>, StoreError> {
        let sql = format!(
            "SELECT {TRACE_COLUMNS} FROM gateway_traces WHERE tenant_id = $1 AND project_id = $2
             AND ($3::BIGINT IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let (before, limit) = (crate::store::id_bound(before), i64::from(limit));
        let rows = self
            .client()
            .await?
            .query(&sql, &[&scope.tenant(), &scope.project(), &before, &limit])
            .await
            .map_err(backend)?;
        rows.iter().map(decode_trace).collect()
    }

    async fn gateway_mark(&self) -> Result<i64, StoreError> {
        let row = self
            .client()
            .await?
            .query_one("SELECT n FROM gateway_revision WHERE id = 1", &[])
            .await
            .map_err(backend)?;
        col(&row, 0)
    }
}

impl PostgresStore {
    /// Admits one request with `gateway_admit`: rates, a slot and a reservation in one statement.
    async fn admit_each(&self, scope: &TenantScope, request: &MeterRequest) -> Result<Admission, StoreError> {
        let args = AdmitArgs::of(request);
        let (tokens, now) = (to_big(request.tokens)?, meter::micros(request.now));
        let (day, month) = (meter::day_of(request.now), meter::month_of(request.now));
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT * FROM gateway_admit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
            .await
            .map_err(backend)?;
        let row = client
            .query_opt(
                &statement,
                &[
                    &scope.tenant(),
                    &args.keys,
                    &args.rpm,
                    &args.tpm,
                    &args.parallel,
                    &args.daily,
                    &args.monthly,
                    &tokens,
                    &request.estimate.0,
                    &now,
                    &day,
                    &month,
                    &request.holder,
                    &meter::lease_us(),
                ],
            )
            .await
            .map_err(backend)?;
        let Some(row) = row else { return Ok(Admission::Admitted) };
        shares::refusal(col(&row, 0)?, &col::<String>(&row, 1)?, col(&row, 2)?)
    }

    /// Records traces, spend on meter rows and give-backs to lease rows in one transaction.
    async fn write_flush(
        &self,
        traces: &[(Scope, TraceRecord)],
        queued: &shares::Pending,
        mut work: shares::Pending,
    ) -> Result<(), StoreError> {
        work.meters.extend(queued.meters.iter().cloned());
        work.releases.extend(queued.releases.iter().cloned());
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let settle = tx.prepare_cached(SETTLE).await.map_err(backend)?;
        let release = tx.prepare_cached(RELEASE).await.map_err(backend)?;
        let insert = tx.prepare_cached(INSERT_TRACE).await.map_err(backend)?;
        // Rows are locked as an admission locks them: meters before slots, each in key order, so
        // a flush and an admission never wait for each other in a cycle. The sorts are stable:
        // two settlements of one row keep their order. Traces are pipelined in one round trip.
        work.meters.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        for (tenant, key, correction, day, month, cost) in &work.meters {
            let params: [&(dyn ToSql + Sync); 6] = [tenant, key, correction, day, cost, month];
            tx.execute(&settle, &params).await.map_err(backend)?;
        }
        work.releases.sort_by(|(a, _), (b, _)| (&a.tenant, &a.key, &a.holder).cmp(&(&b.tenant, &b.key, &b.holder)));
        for (r, slot) in &work.releases {
            let params: [&(dyn ToSql + Sync); 8] =
                [&r.tenant, &r.key, &r.holder, slot, &r.day.1, &r.day.0, &r.month.0, &r.month.1];
            tx.execute(&release, &params).await.map_err(backend)?;
        }
        insert_traces(&tx, &insert, traces).await?;
        tx.commit().await.map_err(backend)
    }
}

/// Inserts traces in one pipelined round trip.
async fn insert_traces(
    tx: &tokio_postgres::Transaction<'_>,
    insert: &tokio_postgres::Statement,
    traces: &[(Scope, TraceRecord)],
) -> Result<(), StoreError> {
    let rows: Vec<TraceParams> = traces.iter().map(TraceParams::of).collect::<Result<_, _>>()?;
    try_join_all(traces.iter().zip(&rows).map(|((_, t), p)| {
        tx.execute_raw(
            insert,
            [
                &p.tenant as &(dyn ToSql + Sync),
                &p.project,
                &t.trace_id,
                &t.at,
                &t.key_id,
                &t.prompt,
                &t.prompt_label,
                &p.version,
                &t.model,
                &t.fallback,
                &t.endpoint,
                &p.input,
                &p.output,
                &t.cost.0,
                &p.latency,
                &p.ttft,
                &p.attempts,
                &t.cache,
                &t.status,
                &p.status,
                &t.error,
                &p.variables,
                &t.output,
            ],
        )
    }))
    .await
    .map_err(backend)?;
    Ok(())
}

/// The numeric columns of a trace, converted to SQL types before the pipelined inserts.
struct TraceParams {
    tenant: String,
    project: String,
    version: Option<i32>,
    input: i64,
    output: i64,
    latency: i64,
    ttft: Option<i64>,
    attempts: i32,
    status: i32,
    variables: Option<String>,
}

impl TraceParams {
    fn of((scope, t): &(Scope, TraceRecord)) -> Result<Self, StoreError> {
        Ok(Self {
            tenant: scope.tenant().to_owned(),
            project: scope.project().to_owned(),
            version: t.prompt_version.map(to_db).transpose()?,
            input: to_big(t.input_tokens)?,
            output: to_big(t.output_tokens)?,
            latency: to_big(t.latency_ms)?,
            ttft: t.ttft_ms.map(to_big).transpose()?,
            attempts: to_db(t.attempts)?,
            status: i32::from(t.http_status),
            variables: t.variables.as_ref().map(serde_json::Value::to_string),
        })
    }
}
