//! [`GatewayStore`] on SQLite. SQLite serves one replica, so the meters live in memory
//! ([`super::meters`]): admission applies [`meter::admit`](crate::store::gateway::meter::admit)
//! there, reading a scope's row only the first time, and the background writer's flush writes
//! the settled meters in the transaction of its traces.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{SqliteStore, backend, parse_timestamp, timestamp};
use crate::access::{Scope, SystemScope, TenantScope};
use crate::money::Micros;
use crate::store::gateway::meter::{self, MeterState};
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

fn bump(conn: &Connection) -> Result<(), StoreError> {
    conn.execute("UPDATE gateway_revision SET n = n + 1 WHERE id = 1", []).map_err(backend)?;
    Ok(())
}

fn owner_key(owner: SettingsOwner<'_>) -> (String, String) {
    match owner {
        SettingsOwner::Project(scope) => (scope.tenant().to_owned(), scope.project().to_owned()),
        SettingsOwner::Tenant(scope) => (scope.tenant().to_owned(), String::new()),
    }
}

type RawConnection = (String, String, Option<String>, Option<String>, String, String);

fn decode_connection(raw: RawConnection) -> Result<ConnectionRecord, StoreError> {
    let (id, spec, sealed_key, key_hint, updated_by, updated_at) = raw;
    Ok(ConnectionRecord {
        id,
        spec: json(&spec)?,
        sealed_key,
        key_hint,
        updated_by,
        updated_at: parse_timestamp(&updated_at)?,
    })
}

type RawKey = (String, String, String, String, String, String);

fn key_row(row: &Row<'_>) -> rusqlite::Result<RawKey> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn decode_key(raw: RawKey) -> Result<GatewayKeyRecord, StoreError> {
    let (token_id, tenant, project, spec, created_by, created_at) = raw;
    Ok(GatewayKeyRecord {
        token_id,
        tenant,
        project,
        spec: json(&spec)?,
        created_by,
        created_at: parse_timestamp(&created_at)?,
    })
}

const KEY_COLUMNS: &str = "token_id, tenant_id, project_id, spec, created_by, created_at";

const METER_COLUMNS: &str = "rpm_tat, tpm_tat, day, day_spent, month, month_spent";

/// A scope's meter as stored, without its reservations: they belonged to the calls of the
/// process that made them.
fn read_meter(tx: &Transaction<'_>, tenant: &str, key: &str) -> Result<MeterState, StoreError> {
    let sql = format!("SELECT {METER_COLUMNS} FROM gateway_meters WHERE tenant_id = ?1 AND key = ?2");
    let found = tx
        .prepare_cached(&sql)
        .map_err(backend)?
        .query_row(params![tenant, key], |row| {
            Ok(MeterState {
                rpm_tat: row.get(0)?,
                tpm_tat: row.get(1)?,
                in_flight: 0,
                day: row.get(2)?,
                day_spent: row.get(3)?,
                day_reserved: 0,
                month: row.get(4)?,
                month_spent: row.get(5)?,
                month_reserved: 0,
            })
        })
        .optional()
        .map_err(backend)?;
    Ok(found.unwrap_or_default())
}

fn write_meter(tx: &Transaction<'_>, tenant: &str, key: &str, m: &MeterState) -> Result<(), StoreError> {
    tx.prepare_cached(&format!(
        "INSERT INTO gateway_meters (tenant_id, key, {METER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (tenant_id, key) DO UPDATE SET rpm_tat = ?3, tpm_tat = ?4, day = ?5,
         day_spent = ?6, month = ?7, month_spent = ?8"
    ))
    .map_err(backend)?
    .execute(params![tenant, key, m.rpm_tat, m.tpm_tat, m.day, m.day_spent, m.month, m.month_spent])
    .map_err(backend)?;
    Ok(())
}

fn insert_trace(tx: &Transaction<'_>, scope: &Scope, t: &TraceRecord) -> Result<(), StoreError> {
    let variables = t.variables.as_ref().map(serde_json::Value::to_string);
    tx.prepare_cached(
        "INSERT INTO gateway_traces (tenant_id, project_id, trace_id, at, key_id, prompt, prompt_label, prompt_version,
         model, fallback, endpoint, input_tokens, output_tokens, cost_micros, latency_ms, ttft_ms, attempts, cache,
         status, http_status, error, variables, output)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
    )
    .map_err(backend)?
    .execute(params![
        scope.tenant(),
        scope.project(),
        t.trace_id,
        timestamp(t.at),
        t.key_id,
        t.prompt,
        t.prompt_label,
        t.prompt_version,
        t.model,
        t.fallback,
        t.endpoint,
        i64::try_from(t.input_tokens).unwrap_or(i64::MAX),
        i64::try_from(t.output_tokens).unwrap_or(i64::MAX),
        t.cost.0,
        i64::try_from(t.latency_ms).unwrap_or(i64::MAX),
        t.ttft_ms.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        t.attempts,
        t.cache,
        t.status,
        t.http_status,
        t.error,
        variables,
        t.output
    ])
    .map_err(backend)?;
    Ok(())
}

const TRACE_COLUMNS: &str = "id, trace_id, at, key_id, prompt, prompt_label, prompt_version, model, fallback, endpoint,
    input_tokens, output_tokens, cost_micros, latency_ms, ttft_ms, attempts, cache, status, http_status, error,
    variables, output";

fn trace_row(row: &Row<'_>) -> rusqlite::Result<(TraceRecord, String, Option<String>)> {
    let number = |i: usize| row.get::<_, u64>(i);
    let record = TraceRecord {
        id: number(0)?,
        trace_id: row.get(1)?,
        at: DateTime::<Utc>::MIN_UTC,
        key_id: row.get(3)?,
        prompt: row.get(4)?,
        prompt_label: row.get(5)?,
        prompt_version: row.get(6)?,
        model: row.get(7)?,
        fallback: row.get(8)?,
        endpoint: row.get(9)?,
        input_tokens: number(10)?,
        output_tokens: number(11)?,
        cost: Micros(row.get(12)?),
        latency_ms: number(13)?,
        ttft_ms: row.get::<_, Option<u64>>(14)?,
        attempts: row.get(15)?,
        cache: row.get(16)?,
        status: row.get(17)?,
        http_status: row.get(18)?,
        error: row.get(19)?,
        variables: None,
        output: row.get(21)?,
    };
    Ok((record, row.get(2)?, row.get(20)?))
}

#[async_trait]
impl GatewayStore for SqliteStore {
    async fn put_connection(&self, scope: &Scope, record: &ConnectionRecord, replace: bool) -> Result<(), StoreError> {
        let (tenant, project, record) = (scope.tenant().to_owned(), scope.project().to_owned(), record.clone());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let verb = if replace { "INSERT OR REPLACE" } else { "INSERT" };
            tx.execute(
                &format!(
                    "{verb} INTO provider_connections (tenant_id, project_id, id, spec, sealed_key, key_hint, updated_by, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    tenant,
                    project,
                    record.id,
                    record.spec.to_string(),
                    record.sealed_key,
                    record.key_hint,
                    record.updated_by,
                    timestamp(record.updated_at)
                ],
            )
            .map_err(|err| match err.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    StoreError::Conflict { what: format!("provider connection `{}`", record.id) }
                }
                _ => backend(err),
            })?;
            bump(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn connections(&self, scope: &Scope) -> Result<Vec<ConnectionRecord>, StoreError> {
        let (tenant, project) = (scope.tenant().to_owned(), scope.project().to_owned());
        self.call(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT id, spec, sealed_key, key_hint, updated_by, updated_at FROM provider_connections
                     WHERE tenant_id = ?1 AND project_id = ?2 ORDER BY id",
                )
                .map_err(backend)?;
            let rows = statement
                .query_map(params![tenant, project], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
                })
                .map_err(backend)?
                .collect::<Result<Vec<RawConnection>, _>>()
                .map_err(backend)?;
            rows.into_iter().map(decode_connection).collect()
        })
        .await
    }

    async fn delete_connection(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let (tenant, project, id) = (scope.tenant().to_owned(), scope.project().to_owned(), id.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let deleted = tx
                .execute(
                    "DELETE FROM provider_connections WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
                    params![tenant, project, id],
                )
                .map_err(backend)?;
            bump(&tx)?;
            tx.commit().map_err(backend)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn set_connection_key(
        &self,
        scope: &Scope,
        id: &str,
        key: Option<(String, String)>,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let (tenant, project, id, actor) =
            (scope.tenant().to_owned(), scope.project().to_owned(), id.to_owned(), actor.to_owned());
        let (sealed, hint) = key.unzip();
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let changed = tx
                .execute(
                    "UPDATE provider_connections SET sealed_key = ?4, key_hint = ?5, updated_by = ?6, updated_at = ?7
                     WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3",
                    params![tenant, project, id, sealed, hint, actor, timestamp(Utc::now())],
                )
                .map_err(backend)?;
            bump(&tx)?;
            tx.commit().map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn sealed_keys(&self, _scope: &SystemScope) -> Result<Vec<SealedRow>, StoreError> {
        self.call(|conn| {
            let mut statement = conn
                .prepare(
                    "SELECT tenant_id, project_id, id, sealed_key FROM provider_connections
                     WHERE sealed_key IS NOT NULL ORDER BY tenant_id, project_id, id",
                )
                .map_err(backend)?;
            let rows = statement
                .query_map([], |row| {
                    Ok(SealedRow { tenant: row.get(0)?, project: row.get(1)?, id: row.get(2)?, sealed: row.get(3)? })
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn reseal(&self, _scope: &SystemScope, rows: &[(SealedRow, String)]) -> Result<(), StoreError> {
        let rows = rows.to_vec();
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
            for (row, sealed) in &rows {
                let changed = tx
                    .execute(
                        "UPDATE provider_connections SET sealed_key = ?5
                         WHERE tenant_id = ?1 AND project_id = ?2 AND id = ?3 AND sealed_key = ?4",
                        params![row.tenant, row.project, row.id, row.sealed, sealed],
                    )
                    .map_err(backend)?;
                if changed == 0 {
                    return Err(StoreError::Conflict {
                        what: format!("a newer key of connection `{}` in `{}/{}`", row.id, row.tenant, row.project),
                    });
                }
            }
            bump(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn put_gateway_key(&self, scope: &Scope, record: &GatewayKeyRecord) -> Result<(), StoreError> {
        let (tenant, project, record) = (scope.tenant().to_owned(), scope.project().to_owned(), record.clone());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                &format!("INSERT INTO gateway_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    record.token_id,
                    tenant,
                    project,
                    record.spec.to_string(),
                    record.created_by,
                    timestamp(record.created_at)
                ],
            )
            .map_err(backend)?;
            bump(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn delete_gateway_key(&self, scope: &Scope, token_id: &str) -> Result<(), StoreError> {
        let (tenant, project, token_id) = (scope.tenant().to_owned(), scope.project().to_owned(), token_id.to_owned());
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM gateway_keys WHERE tenant_id = ?1 AND project_id = ?2 AND token_id = ?3",
                params![tenant, project, token_id],
            )
            .map_err(backend)?;
            bump(conn)
        })
        .await
    }

    async fn gateway_keys(&self, scope: &Scope) -> Result<Vec<GatewayKeyRecord>, StoreError> {
        let (tenant, project) = (scope.tenant().to_owned(), scope.project().to_owned());
        self.call(move |conn| {
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM gateway_keys WHERE tenant_id = ?1 AND project_id = ?2
                 ORDER BY created_at DESC, token_id"
            );
            let mut statement = conn.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params![tenant, project], key_row)
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter().map(decode_key).collect()
        })
        .await
    }

    async fn gateway_key(&self, token_id: &str) -> Result<Option<GatewayKeyRecord>, StoreError> {
        let token_id = token_id.to_owned();
        self.call(move |conn| {
            let sql = format!("SELECT {KEY_COLUMNS} FROM gateway_keys WHERE token_id = ?1");
            conn.query_row(&sql, params![token_id], key_row).optional().map_err(backend)?.map(decode_key).transpose()
        })
        .await
    }

    async fn gateway_settings(&self, owner: SettingsOwner<'_>) -> Result<Option<serde_json::Value>, StoreError> {
        let (tenant, project) = owner_key(owner);
        self.call(move |conn| {
            conn.query_row(
                "SELECT spec FROM gateway_settings WHERE tenant_id = ?1 AND project_id = ?2",
                params![tenant, project],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map_err(backend)?
            .as_deref()
            .map(json)
            .transpose()
        })
        .await
    }

    async fn put_gateway_settings(&self, owner: SettingsOwner<'_>, spec: &serde_json::Value) -> Result<(), StoreError> {
        let (tenant, project) = owner_key(owner);
        let spec = spec.to_string();
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                "INSERT OR REPLACE INTO gateway_settings (tenant_id, project_id, spec) VALUES (?1, ?2, ?3)",
                params![tenant, project, spec],
            )
            .map_err(backend)?;
            bump(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn gateway_admit(&self, scope: &TenantScope, request: &MeterRequest) -> Result<Admission, StoreError> {
        let tenant = scope.tenant();
        let unknown = self.meters.unknown(tenant, request);
        if !unknown.is_empty() {
            let owned = tenant.to_owned();
            let rows = self
                .call(move |conn| {
                    let tx = conn.transaction().map_err(backend)?;
                    let rows = unknown
                        .into_iter()
                        .map(|key| read_meter(&tx, &owned, &key).map(|state| (key, state)))
                        .collect::<Result<Vec<_>, _>>()?;
                    tx.commit().map_err(backend)?;
                    Ok(rows)
                })
                .await?;
            self.meters.learn(tenant, rows);
        }
        Ok(self.meters.admit(tenant, request))
    }

    async fn gateway_renew(&self, holder: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.meters.renew(holder, meter::micros(now));
        Ok(())
    }

    fn gateway_settle_in_memory(&self, settles: Vec<(TenantScope, MeterSettle)>) -> Vec<(TenantScope, MeterSettle)> {
        self.meters.settle(settles.iter().map(|(scope, settle)| (scope.tenant(), settle)));
        Vec::new()
    }

    async fn gateway_flush(
        &self,
        traces: &[(Scope, TraceRecord)],
        settles: &[(TenantScope, MeterSettle)],
    ) -> Result<(), StoreError> {
        self.meters.settle(settles.iter().map(|(scope, settle)| (scope.tenant(), settle)));
        let meters = self.meters.to_write();
        let (traces, written) = (traces.to_vec(), meters.clone());
        let outcome = self
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
                for ((tenant, key), state) in &written {
                    write_meter(&tx, tenant, key, state)?;
                }
                for (scope, trace) in &traces {
                    insert_trace(&tx, scope, trace)?;
                }
                tx.commit().map_err(backend)
            })
            .await;
        if outcome.is_err() {
            self.meters.unwritten(meters.into_iter().map(|(key, _)| key));
        }
        outcome
    }

    async fn traces(&self, scope: &Scope, before: Option<u64>, limit: u32) -> Result<Vec<TraceRecord>, StoreError> {
        let (tenant, project) = (scope.tenant().to_owned(), scope.project().to_owned());
        let before = crate::store::id_bound(before);
        self.call(move |conn| {
            let sql = format!(
                "SELECT {TRACE_COLUMNS} FROM gateway_traces WHERE tenant_id = ?1 AND project_id = ?2
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            );
            let mut statement = conn.prepare_cached(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params![tenant, project, before, limit], trace_row)
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter()
                .map(|(mut record, at, variables)| {
                    record.at = parse_timestamp(&at)?;
                    record.variables = variables.as_deref().map(json).transpose()?;
                    Ok(record)
                })
                .collect()
        })
        .await
    }

    async fn gateway_mark(&self) -> Result<i64, StoreError> {
        self.call_short(|conn| {
            conn.query_row("SELECT n FROM gateway_revision WHERE id = 1", [], |row| row.get(0)).map_err(backend)
        })
        .await
    }
}
