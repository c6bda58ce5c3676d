//! [`AccountStore`] on SQLite. Every query names the tenant (and project) it is confined to.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, backend, parse_timestamp, timestamp};
use crate::access::{Role, Scope, SystemScope, TenantScope};
use crate::store::{
    AccountStore, AuditDraft, AuditQuery, AuditRecord, KeyPairGrant, KeyPairRecord, MemberRecord, PrincipalKind,
    PrincipalRecord, ProjectRecord, Slug, StoreError, TenantRecord, TokenGrant, TokenRecord,
};

fn decode(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Decode(format!("{what}: {err}"))
}

fn slug(text: &str) -> Result<Slug, StoreError> {
    Slug::new(text).map_err(|err| decode("id", err))
}

fn role(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| decode("role", text))
}

fn optional_time(text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.as_deref().map(parse_timestamp).transpose()
}

/// A unique-constraint failure becomes [`StoreError::Conflict`], a foreign-key one [`StoreError::NotFound`].
fn constraint(err: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => match &err {
            rusqlite::Error::SqliteFailure(e, _) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                StoreError::NotFound { what: what() }
            }
            _ => StoreError::Conflict { what: what() },
        },
        _ => backend(err),
    }
}

const PRINCIPAL_COLUMNS: &str = "name, kind, tenant_admin, super_admin, created_at";

fn principal_row(row: &Row<'_>) -> rusqlite::Result<(String, String, bool, bool, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

fn decode_principal(raw: (String, String, bool, bool, String)) -> Result<PrincipalRecord, StoreError> {
    let (name, kind, tenant_admin, super_admin, created_at) = raw;
    Ok(PrincipalRecord {
        name: slug(&name)?,
        kind: PrincipalKind::parse(&kind).ok_or_else(|| decode("principal kind", &kind))?,
        tenant_admin,
        super_admin,
        created_at: parse_timestamp(&created_at)?,
    })
}

const TOKEN_COLUMNS: &str = "id, principal, name, hash, scopes, created_at, expires_at, revoked_at";

type RawToken = (String, String, String, String, String, String, Option<String>, Option<String>);

fn token_row(row: &Row<'_>) -> rusqlite::Result<RawToken> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?))
}

fn decode_token(raw: RawToken) -> Result<TokenRecord, StoreError> {
    let (id, principal, name, hash, scopes, created_at, expires_at, revoked_at) = raw;
    Ok(TokenRecord {
        id,
        principal: slug(&principal)?,
        name,
        scopes: serde_json::from_str(&scopes).map_err(|err| decode("token scopes", err))?,
        created_at: parse_timestamp(&created_at)?,
        expires_at: optional_time(expires_at)?,
        revoked_at: optional_time(revoked_at)?,
        hash,
    })
}

const KEY_COLUMNS: &str = "public_key, project_id, role, created_by, created_at, revoked_at, secret_hash";

type RawKey = (String, String, String, String, String, Option<String>, String);

fn key_row(row: &Row<'_>) -> rusqlite::Result<RawKey> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
}

fn decode_key(raw: RawKey) -> Result<KeyPairRecord, StoreError> {
    let (public_key, project, role_text, created_by, created_at, revoked_at, secret_hash) = raw;
    Ok(KeyPairRecord {
        public_key,
        project: slug(&project)?,
        role: role(&role_text)?,
        created_by,
        created_at: parse_timestamp(&created_at)?,
        revoked_at: optional_time(revoked_at)?,
        secret_hash,
    })
}

/// The roles of a principal: its memberships, or owner of every project for a tenant admin.
fn roles_of(
    conn: &Connection,
    tenant: &str,
    principal: &PrincipalRecord,
) -> Result<BTreeMap<String, Role>, StoreError> {
    let mut roles = BTreeMap::new();
    if principal.tenant_admin {
        let mut stmt = conn.prepare_cached("SELECT id FROM projects WHERE tenant_id = ?1").map_err(backend)?;
        let ids = stmt.query_map(params![tenant], |row| row.get::<_, String>(0)).map_err(backend)?;
        for id in ids {
            roles.insert(id.map_err(backend)?, Role::Owner);
        }
        return Ok(roles);
    }
    let mut stmt = conn
        .prepare_cached("SELECT project_id, role FROM members WHERE tenant_id = ?1 AND principal = ?2")
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![tenant, principal.name.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(backend)?;
    for row in rows {
        let (project, role_text) = row.map_err(backend)?;
        roles.insert(project, role(&role_text)?);
    }
    Ok(roles)
}

fn collect<T, R>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<R>,
    decode: impl Fn(R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let rows = stmt.query_map(params, read).map_err(backend)?;
    rows.map(|row| decode(row.map_err(backend)?)).collect()
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_tenant(&self, _scope: &SystemScope, id: &Slug, name: &str) -> Result<TenantRecord, StoreError> {
        let record = TenantRecord { id: id.clone(), name: name.to_owned(), created_at: Utc::now() };
        let row = record.clone();
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![row.id.as_str(), row.name, timestamp(row.created_at)],
            )
            .map_err(|err| constraint(err, || format!("tenant `{}`", row.id)))?;
            Ok(())
        })
        .await?;
        Ok(record)
    }

    async fn tenants(&self, _scope: &SystemScope) -> Result<Vec<TenantRecord>, StoreError> {
        self.call(|conn| {
            collect(
                conn,
                "SELECT id, name, created_at FROM tenants ORDER BY id",
                [],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)),
                |(id, name, at)| Ok(TenantRecord { id: slug(&id)?, name, created_at: parse_timestamp(&at)? }),
            )
        })
        .await
    }

    async fn create_project(
        &self,
        scope: &TenantScope,
        id: &Slug,
        name: &str,
        owner: &str,
    ) -> Result<ProjectRecord, StoreError> {
        let record = ProjectRecord {
            id: id.clone(),
            name: name.to_owned(),
            created_by: owner.to_owned(),
            created_at: Utc::now(),
        };
        let (row, tenant) = (record.clone(), scope.tenant().to_owned());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute(
                "INSERT INTO projects (tenant_id, id, name, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![tenant, row.id.as_str(), row.name, row.created_by, timestamp(row.created_at)],
            )
            .map_err(|err| constraint(err, || format!("project `{}`", row.id)))?;
            tx.execute(
                "INSERT INTO members (tenant_id, project_id, principal, role) VALUES (?1, ?2, ?3, 'owner')",
                params![tenant, row.id.as_str(), row.created_by],
            )
            .map_err(|err| constraint(err, || format!("principal `{}`", row.created_by)))?;
            tx.commit().map_err(backend)
        })
        .await?;
        Ok(record)
    }

    async fn projects(&self, scope: &TenantScope) -> Result<Vec<ProjectRecord>, StoreError> {
        let tenant = scope.tenant().to_owned();
        self.call(move |conn| {
            collect(
                conn,
                "SELECT id, name, created_by, created_at FROM projects WHERE tenant_id = ?1 ORDER BY id",
                params![tenant],
                |row| Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get::<_, String>(3)?)),
                |(id, name, created_by, at)| {
                    Ok(ProjectRecord { id: slug(&id)?, name, created_by, created_at: parse_timestamp(&at)? })
                },
            )
        })
        .await
    }

    async fn create_principal(
        &self,
        scope: &TenantScope,
        name: &Slug,
        kind: PrincipalKind,
        tenant_admin: bool,
        super_admin: bool,
    ) -> Result<PrincipalRecord, StoreError> {
        let record = PrincipalRecord { name: name.clone(), kind, tenant_admin, super_admin, created_at: Utc::now() };
        let (row, tenant) = (record.clone(), scope.tenant().to_owned());
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO principals (tenant_id, name, kind, tenant_admin, super_admin, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![tenant, row.name.as_str(), row.kind.as_str(), row.tenant_admin, row.super_admin, timestamp(row.created_at)],
            )
            .map_err(|err| constraint(err, || format!("principal `{}`", row.name)))?;
            Ok(())
        })
        .await?;
        Ok(record)
    }

    async fn principals(&self, scope: &TenantScope) -> Result<Vec<PrincipalRecord>, StoreError> {
        let tenant = scope.tenant().to_owned();
        self.call(move |conn| {
            let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE tenant_id = ?1 ORDER BY name");
            collect(conn, &sql, params![tenant], principal_row, decode_principal)
        })
        .await
    }

    async fn set_member(&self, scope: &Scope, principal: &Slug, role: Option<Role>) -> Result<(), StoreError> {
        let (tenant, project, principal) = (scope.tenant().to_owned(), scope.project().to_owned(), principal.clone());
        self.call(move |conn| {
            match role {
                Some(role) => conn.execute(
                    "INSERT INTO members (tenant_id, project_id, principal, role) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant_id, project_id, principal) DO UPDATE SET role = excluded.role",
                    params![tenant, project, principal.as_str(), role.as_str()],
                ),
                None => conn.execute(
                    "DELETE FROM members WHERE tenant_id = ?1 AND project_id = ?2 AND principal = ?3",
                    params![tenant, project, principal.as_str()],
                ),
            }
            .map_err(|err| constraint(err, || format!("principal `{principal}`")))?;
            Ok(())
        })
        .await
    }

    async fn members(&self, scope: &Scope) -> Result<Vec<MemberRecord>, StoreError> {
        let (tenant, project) = (scope.tenant().to_owned(), scope.project().to_owned());
        self.call(move |conn| {
            collect(
                conn,
                "SELECT principal, role FROM members WHERE tenant_id = ?1 AND project_id = ?2 ORDER BY principal",
                params![tenant, project],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                |(principal, role_text)| Ok(MemberRecord { principal: slug(&principal)?, role: role(&role_text)? }),
            )
        })
        .await
    }

    async fn create_token(&self, scope: &TenantScope, token: &TokenRecord) -> Result<(), StoreError> {
        let (row, tenant) = (token.clone(), scope.tenant().to_owned());
        let scopes = serde_json::to_string(&row.scopes).map_err(|err| decode("token scopes", err))?;
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO api_tokens (id, tenant_id, principal, name, hash, scopes, created_at, expires_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
                params![
                    row.id,
                    tenant,
                    row.principal.as_str(),
                    row.name,
                    row.hash,
                    scopes,
                    timestamp(row.created_at),
                    row.expires_at.map(timestamp)
                ],
            )
            .map_err(|err| constraint(err, || format!("principal `{}`", row.principal)))?;
            Ok(())
        })
        .await
    }

    async fn tokens(&self, scope: &TenantScope, principal: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        let (tenant, principal) = (scope.tenant().to_owned(), principal.map(str::to_owned));
        self.call(move |conn| {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = ?1 AND (?2 IS NULL OR principal = ?2)
                 ORDER BY created_at DESC, id"
            );
            collect(conn, &sql, params![tenant, principal], token_row, decode_token)
        })
        .await
    }

    async fn revoke_token(&self, scope: &TenantScope, id: &str) -> Result<bool, StoreError> {
        let (tenant, id) = (scope.tenant().to_owned(), id.to_owned());
        self.call(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?3) WHERE tenant_id = ?1 AND id = ?2",
                    params![tenant, id, timestamp(Utc::now())],
                )
                .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn authenticate_token(&self, hash: &str) -> Result<Option<TokenGrant>, StoreError> {
        let hash = hash.to_owned();
        self.call_short(move |conn| {
            let sql = format!("SELECT tenant_id, {TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?1");
            let found = conn
                .prepare_cached(&sql)
                .map_err(backend)?
                .query_row(params![hash], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        (
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                            row.get(6)?,
                            row.get(7)?,
                            row.get(8)?,
                        ),
                    ))
                })
                .optional()
                .map_err(backend)?;
            let Some((tenant, raw)) = found else { return Ok(None) };
            let token = decode_token(raw)?;
            let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE tenant_id = ?1 AND name = ?2");
            let raw = conn
                .prepare_cached(&sql)
                .map_err(backend)?
                .query_row(params![tenant, token.principal.as_str()], principal_row)
                .map_err(backend)?;
            let principal = decode_principal(raw)?;
            let roles = roles_of(conn, &tenant, &principal)?;
            Ok(Some(TokenGrant { tenant, token, principal, roles }))
        })
        .await
    }

    async fn create_key_pair(&self, scope: &Scope, key: &KeyPairRecord) -> Result<(), StoreError> {
        let (tenant, project, row) = (scope.tenant().to_owned(), scope.project().to_owned(), key.clone());
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO key_pairs (public_key, tenant_id, project_id, secret_hash, role, created_by, created_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)",
                params![row.public_key, tenant, project, row.secret_hash, row.role.as_str(), row.created_by, timestamp(row.created_at)],
            )
            .map_err(|err| constraint(err, || format!("project `{project}`")))?;
            Ok(())
        })
        .await
    }

    async fn key_pairs(&self, scope: &Scope) -> Result<Vec<KeyPairRecord>, StoreError> {
        let (tenant, project) = (scope.tenant().to_owned(), scope.project().to_owned());
        self.call(move |conn| {
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM key_pairs WHERE tenant_id = ?1 AND project_id = ?2 ORDER BY created_at, public_key"
            );
            collect(conn, &sql, params![tenant, project], key_row, decode_key)
        })
        .await
    }

    async fn revoke_key_pair(&self, scope: &Scope, public_key: &str) -> Result<bool, StoreError> {
        let (tenant, project, key) = (scope.tenant().to_owned(), scope.project().to_owned(), public_key.to_owned());
        self.call(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE key_pairs SET revoked_at = COALESCE(revoked_at, ?4)
                     WHERE tenant_id = ?1 AND project_id = ?2 AND public_key = ?3",
                    params![tenant, project, key, timestamp(Utc::now())],
                )
                .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn authenticate_key_pair(&self, public_key: &str) -> Result<Option<KeyPairGrant>, StoreError> {
        let key = public_key.to_owned();
        self.call_short(move |conn| {
            let sql = format!("SELECT tenant_id, {KEY_COLUMNS} FROM key_pairs WHERE public_key = ?1");
            let found = conn
                .prepare_cached(&sql)
                .map_err(backend)?
                .query_row(params![key], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?),
                    ))
                })
                .optional()
                .map_err(backend)?;
            found.map(|(tenant, raw)| Ok(KeyPairGrant { tenant, key: decode_key(raw)? })).transpose()
        })
        .await
    }

    async fn audit(&self, scope: &TenantScope, entry: AuditDraft) -> Result<(), StoreError> {
        let tenant = scope.tenant().to_owned();
        self.call(move |conn| {
            conn.prepare_cached(
                "INSERT INTO audit_log (tenant_id, project_id, actor, action, target, status, client_addr, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(backend)?
            .execute(params![
                tenant,
                entry.project,
                entry.actor,
                entry.action,
                entry.target,
                entry.status,
                entry.client_addr,
                timestamp(Utc::now())
            ])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn audit_log(&self, scope: &TenantScope, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let (tenant, query) = (scope.tenant().to_owned(), query.clone());
        self.call(move |conn| {
            collect(
                conn,
                "SELECT id, project_id, actor, action, target, status, client_addr, at FROM audit_log
                 WHERE tenant_id = ?1 AND (?2 IS NULL OR id < ?2) AND (?3 IS NULL OR project_id = ?3)
                   AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR instr(action, ?5) > 0)
                 ORDER BY id DESC LIMIT ?6",
                params![
                    tenant,
                    query.before.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
                    query.project,
                    query.actor,
                    query.action,
                    query.limit
                ],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, u16>(5)?,
                        row.get::<_, String>(6)?,
                        row.get::<_, String>(7)?,
                    ))
                },
                |(id, project, actor, action, target, status, client_addr, at)| {
                    Ok(AuditRecord {
                        id: u64::try_from(id).map_err(|err| decode("audit id", err))?,
                        project,
                        actor,
                        action,
                        target,
                        status,
                        client_addr,
                        at: parse_timestamp(&at)?,
                    })
                },
            )
        })
        .await
    }

    async fn label_move_mark(&self) -> Result<i64, StoreError> {
        self.call(|conn| {
            conn.query_row("SELECT COALESCE(MAX(id), 0) FROM label_moves", [], |row| row.get(0)).map_err(backend)
        })
        .await
    }
}
