//! [`AccountStore`] on SQLite. Every query names the tenant (and project) it is confined to.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteStore, backend, parse_timestamp, timestamp};
use crate::access::{Role, Scope, SystemScope, TenantScope};
use crate::store::accounts::{CREATOR_ROLE, demotes_owner, member_refusal, revocation};
use crate::store::{
    AccountStore, AuditDraft, AuditQuery, AuditRecord, KeyPairGrant, KeyPairRecord, MemberChange, MemberRecord,
    PrincipalKind, PrincipalRecord, ProjectRecord, Slug, StoreError, TenantRecord, TokenGrant, TokenKey, TokenRecord,
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

const TOKEN_COLUMNS: &str = "id, principal, name, hash, scopes, created_at, expires_at, revoked_at, created_with";

/// A token row as read, before decoding.
struct RawToken {
    id: String,
    principal: String,
    name: String,
    hash: String,
    scopes: String,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    created_with: Option<String>,
}

/// Reads [`TOKEN_COLUMNS`] starting at column `first`.
fn token_at(row: &Row<'_>, first: usize) -> rusqlite::Result<RawToken> {
    Ok(RawToken {
        id: row.get(first)?,
        principal: row.get(first + 1)?,
        name: row.get(first + 2)?,
        hash: row.get(first + 3)?,
        scopes: row.get(first + 4)?,
        created_at: row.get(first + 5)?,
        expires_at: row.get(first + 6)?,
        revoked_at: row.get(first + 7)?,
        created_with: row.get(first + 8)?,
    })
}

fn token_row(row: &Row<'_>) -> rusqlite::Result<RawToken> {
    token_at(row, 0)
}

fn decode_token(raw: RawToken) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: raw.id,
        principal: slug(&raw.principal)?,
        name: raw.name,
        scopes: serde_json::from_str(&raw.scopes).map_err(|err| decode("token scopes", err))?,
        created_at: parse_timestamp(&raw.created_at)?,
        expires_at: optional_time(raw.expires_at)?,
        revoked_at: optional_time(raw.revoked_at)?,
        created_with: raw.created_with,
        hash: raw.hash,
    })
}

/// The key pair columns, of `key_pairs k`.
const KEY_COLUMNS: &str = "k.public_key, k.project_id, k.role, k.created_by, k.created_at, k.expires_at, k.revoked_at, k.created_with, k.secret_hash";

/// A key pair row as read, before decoding.
struct RawKey {
    public_key: String,
    project: String,
    role: String,
    created_by: String,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    created_with: Option<String>,
    secret_hash: String,
}

/// Reads [`KEY_COLUMNS`] starting at column `first`.
fn key_at(row: &Row<'_>, first: usize) -> rusqlite::Result<RawKey> {
    Ok(RawKey {
        public_key: row.get(first)?,
        project: row.get(first + 1)?,
        role: row.get(first + 2)?,
        created_by: row.get(first + 3)?,
        created_at: row.get(first + 4)?,
        expires_at: row.get(first + 5)?,
        revoked_at: row.get(first + 6)?,
        created_with: row.get(first + 7)?,
        secret_hash: row.get(first + 8)?,
    })
}

fn key_row(row: &Row<'_>) -> rusqlite::Result<RawKey> {
    key_at(row, 0)
}

fn decode_key(raw: RawKey) -> Result<KeyPairRecord, StoreError> {
    Ok(KeyPairRecord {
        public_key: raw.public_key,
        project: slug(&raw.project)?,
        role: role(&raw.role)?,
        created_by: raw.created_by,
        created_at: parse_timestamp(&raw.created_at)?,
        expires_at: optional_time(raw.expires_at)?,
        revoked_at: optional_time(raw.revoked_at)?,
        created_with: raw.created_with,
        secret_hash: raw.secret_hash,
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

    async fn set_member(
        &self,
        scope: &Scope,
        principal: &Slug,
        role: Option<Role>,
        by_owner: bool,
    ) -> Result<MemberChange, StoreError> {
        let (tenant, project, principal) = (scope.tenant().to_owned(), scope.project().to_owned(), principal.clone());
        // An immediate transaction takes the write lock first, so that the read, the owner count
        // and the write cannot interleave with another process's change.
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let who = params![tenant, project, principal.as_str()];
            let before = tx
                .query_row("SELECT role FROM members WHERE tenant_id = ?1 AND project_id = ?2 AND principal = ?3", who, |row| {
                    row.get::<_, String>(0)
                })
                .optional()
                .map_err(backend)?
                .map(|text| self::role(&text))
                .transpose()?;
            if let Some(refused) = member_refusal(before, role, by_owner) {
                return Ok(refused);
            }
            if demotes_owner(before, role) {
                let others: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM members WHERE tenant_id = ?1 AND project_id = ?2 AND principal <> ?3 AND role = 'owner'",
                        who,
                        |row| row.get(0),
                    )
                    .map_err(backend)?;
                if others == 0 {
                    return Ok(MemberChange::LastOwner);
                }
            }
            match role {
                Some(role) => tx.execute(
                    "INSERT INTO members (tenant_id, project_id, principal, role) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant_id, project_id, principal) DO UPDATE SET role = excluded.role",
                    params![tenant, project, principal.as_str(), role.as_str()],
                ),
                None => tx
                    .execute(
                        "UPDATE key_pairs SET revoked_at = COALESCE(revoked_at, ?4)
                         WHERE tenant_id = ?1 AND project_id = ?2 AND created_by = ?3",
                        params![tenant, project, principal.as_str(), timestamp(Utc::now())],
                    )
                    .and_then(|_| tx.execute("DELETE FROM members WHERE tenant_id = ?1 AND project_id = ?2 AND principal = ?3", who)),
            }
            .map_err(|err| constraint(err, || format!("principal `{principal}`")))?;
            tx.commit().map_err(backend)?;
            Ok(MemberChange::Changed { before })
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
                "INSERT INTO api_tokens (id, tenant_id, principal, name, hash, scopes, created_at, expires_at, revoked_at, created_with)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9)",
                params![
                    row.id,
                    tenant,
                    row.principal.as_str(),
                    row.name,
                    row.hash,
                    scopes,
                    timestamp(row.created_at),
                    row.expires_at.map(timestamp),
                    row.created_with
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
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let values = params![tenant, id, timestamp(Utc::now())];
            let [tokens, key_pairs] = revocation("?1", "?2", "?3");
            let changed = tx.execute(&tokens, values).map_err(backend)?;
            tx.execute(&key_pairs, values).map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn authenticate_token(&self, key: TokenKey<'_>) -> Result<Option<TokenGrant>, StoreError> {
        let (column, value) = match key {
            TokenKey::Hash(hash) => ("hash", hash.to_owned()),
            TokenKey::Id(id) => ("id", id.to_owned()),
        };
        self.call_short(move |conn| {
            let sql = format!("SELECT tenant_id, {TOKEN_COLUMNS} FROM api_tokens WHERE {column} = ?1");
            let found = conn
                .prepare_cached(&sql)
                .map_err(backend)?
                .query_row(params![value], |row| Ok((row.get::<_, String>(0)?, token_at(row, 1)?)))
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
                "INSERT INTO key_pairs (public_key, tenant_id, project_id, secret_hash, role, created_by, created_at, revoked_at, expires_at, created_with)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9)",
                params![
                    row.public_key,
                    tenant,
                    project,
                    row.secret_hash,
                    row.role.as_str(),
                    row.created_by,
                    timestamp(row.created_at),
                    row.expires_at.map(timestamp),
                    row.created_with
                ],
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
                "SELECT {KEY_COLUMNS} FROM key_pairs k WHERE k.tenant_id = ?1 AND k.project_id = ?2 ORDER BY k.created_at, k.public_key"
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
            let sql = format!("SELECT k.tenant_id, {KEY_COLUMNS}, {CREATOR_ROLE} WHERE k.public_key = ?1");
            let found = conn
                .prepare_cached(&sql)
                .map_err(backend)?
                .query_row(params![key], |row| {
                    Ok((row.get::<_, String>(0)?, key_at(row, 1)?, row.get::<_, Option<String>>(10)?))
                })
                .optional()
                .map_err(backend)?;
            let Some((tenant, raw, creator_role)) = found else { return Ok(None) };
            let creator_role = creator_role.as_deref().map(role).transpose()?;
            Ok(Some(KeyPairGrant { tenant, key: decode_key(raw)?, creator_role }))
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
