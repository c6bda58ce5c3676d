//! [`AccountStore`] on PostgreSQL: the same tables and queries as SQLite's, every one naming the
//! tenant (and project) it is confined to.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Utc;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{PostgresStore, backend, col, from_big, to_big};
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

/// A unique violation becomes [`StoreError::Conflict`], a foreign-key one [`StoreError::NotFound`].
fn constraint(err: tokio_postgres::Error, what: impl FnOnce() -> String) -> StoreError {
    match err.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Conflict { what: what() },
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound { what: what() },
        _ => backend(err),
    }
}

const PRINCIPAL_COLUMNS: &str = "name, kind, tenant_admin, super_admin, created_at";

fn decode_principal(row: &Row) -> Result<PrincipalRecord, StoreError> {
    let kind: String = col(row, 1)?;
    Ok(PrincipalRecord {
        name: slug(col(row, 0)?)?,
        kind: PrincipalKind::parse(&kind).ok_or_else(|| decode("principal kind", &kind))?,
        tenant_admin: col(row, 2)?,
        super_admin: col(row, 3)?,
        created_at: col(row, 4)?,
    })
}

const TOKEN_COLUMNS: &str = "id, principal, name, hash, scopes, created_at, expires_at, revoked_at, created_with";

fn decode_token(row: &Row, first: usize) -> Result<TokenRecord, StoreError> {
    let scopes: String = col(row, first + 4)?;
    Ok(TokenRecord {
        id: col(row, first)?,
        principal: slug(col(row, first + 1)?)?,
        name: col(row, first + 2)?,
        hash: col(row, first + 3)?,
        scopes: serde_json::from_str(&scopes).map_err(|err| decode("token scopes", err))?,
        created_at: col(row, first + 5)?,
        expires_at: col(row, first + 6)?,
        revoked_at: col(row, first + 7)?,
        created_with: col(row, first + 8)?,
    })
}

/// The key pair columns, of `key_pairs k`.
const KEY_COLUMNS: &str = "k.public_key, k.project_id, k.role, k.created_by, k.created_at, k.expires_at, k.revoked_at, k.created_with, k.secret_hash";

fn decode_key(row: &Row, first: usize) -> Result<KeyPairRecord, StoreError> {
    Ok(KeyPairRecord {
        public_key: col(row, first)?,
        project: slug(col(row, first + 1)?)?,
        role: role(col(row, first + 2)?)?,
        created_by: col(row, first + 3)?,
        created_at: col(row, first + 4)?,
        expires_at: col(row, first + 5)?,
        revoked_at: col(row, first + 6)?,
        created_with: col(row, first + 7)?,
        secret_hash: col(row, first + 8)?,
    })
}

/// The roles of a principal: its memberships, or owner of every project for a tenant admin.
async fn roles_of(
    client: &impl GenericClient,
    tenant: &str,
    principal: &PrincipalRecord,
) -> Result<BTreeMap<String, Role>, StoreError> {
    if principal.tenant_admin {
        let rows = client.query("SELECT id FROM projects WHERE tenant_id = $1", &[&tenant]).await.map_err(backend)?;
        return rows.iter().map(|row| Ok((col::<String>(row, 0)?, Role::Owner))).collect();
    }
    let rows = client
        .query(
            "SELECT project_id, role FROM members WHERE tenant_id = $1 AND principal = $2",
            &[&tenant, &principal.name.as_str()],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(|row| Ok((col::<String>(row, 0)?, role(col(row, 1)?)?))).collect()
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_tenant(&self, _scope: &SystemScope, id: &Slug, name: &str) -> Result<TenantRecord, StoreError> {
        let record = TenantRecord { id: id.clone(), name: name.to_owned(), created_at: Utc::now() };
        self.client()
            .await?
            .execute(
                "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)",
                &[&record.id.as_str(), &record.name, &record.created_at],
            )
            .await
            .map_err(|err| constraint(err, || format!("tenant `{id}`")))?;
        Ok(record)
    }

    async fn tenants(&self, _scope: &SystemScope) -> Result<Vec<TenantRecord>, StoreError> {
        let rows = self
            .client()
            .await?
            .query("SELECT id, name, created_at FROM tenants ORDER BY id", &[])
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| Ok(TenantRecord { id: slug(col(row, 0)?)?, name: col(row, 1)?, created_at: col(row, 2)? }))
            .collect()
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "INSERT INTO projects (tenant_id, id, name, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&scope.tenant(), &record.id.as_str(), &record.name, &record.created_by, &record.created_at],
        )
        .await
        .map_err(|err| constraint(err, || format!("project `{id}`")))?;
        tx.execute(
            "INSERT INTO members (tenant_id, project_id, principal, role) VALUES ($1, $2, $3, 'owner')",
            &[&scope.tenant(), &record.id.as_str(), &owner],
        )
        .await
        .map_err(|err| constraint(err, || format!("principal `{owner}`")))?;
        tx.commit().await.map_err(backend)?;
        Ok(record)
    }

    async fn projects(&self, scope: &TenantScope) -> Result<Vec<ProjectRecord>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, name, created_by, created_at FROM projects WHERE tenant_id = $1 ORDER BY id",
                &[&scope.tenant()],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(ProjectRecord {
                    id: slug(col(row, 0)?)?,
                    name: col(row, 1)?,
                    created_by: col(row, 2)?,
                    created_at: col(row, 3)?,
                })
            })
            .collect()
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
        self.client()
            .await?
            .execute(
                "INSERT INTO principals (tenant_id, name, kind, tenant_admin, super_admin, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&scope.tenant(), &name.as_str(), &kind.as_str(), &tenant_admin, &super_admin, &record.created_at],
            )
            .await
            .map_err(|err| constraint(err, || format!("principal `{name}`")))?;
        Ok(record)
    }

    async fn principals(&self, scope: &TenantScope) -> Result<Vec<PrincipalRecord>, StoreError> {
        let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE tenant_id = $1 ORDER BY name");
        let rows = self.client().await?.query(&sql, &[&scope.tenant()]).await.map_err(backend)?;
        rows.iter().map(decode_principal).collect()
    }

    async fn set_member(
        &self,
        scope: &Scope,
        principal: &Slug,
        role: Option<Role>,
        by_owner: bool,
    ) -> Result<MemberChange, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let who: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&scope.tenant(), &scope.project(), &principal.as_str()];
        // Member changes of one project queue on its row, so two admins demoting the last two
        // owners at once cannot both see the other one still there.
        tx.query_opt("SELECT 1 FROM projects WHERE tenant_id = $1 AND id = $2 FOR UPDATE", &who[..2])
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::NotFound { what: format!("project `{}`", scope.project()) })?;
        let before = tx
            .query_opt("SELECT role FROM members WHERE tenant_id = $1 AND project_id = $2 AND principal = $3", &who)
            .await
            .map_err(backend)?
            .map(|row| self::role(col(&row, 0)?))
            .transpose()?;
        if let Some(refused) = member_refusal(before, role, by_owner) {
            return Ok(refused);
        }
        if demotes_owner(before, role) {
            let others: i64 = col(
                &tx.query_one(
                    "SELECT COUNT(*) FROM members WHERE tenant_id = $1 AND project_id = $2 AND principal <> $3 AND role = 'owner'",
                    &who,
                )
                .await
                .map_err(backend)?,
                0,
            )?;
            if others == 0 {
                return Ok(MemberChange::LastOwner);
            }
        }
        let written = match role {
            Some(role) => {
                tx.execute(
                    "INSERT INTO members (tenant_id, project_id, principal, role) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, project_id, principal) DO UPDATE SET role = excluded.role",
                    &[&scope.tenant(), &scope.project(), &principal.as_str(), &role.as_str()],
                )
                .await
            }
            None => {
                tx.execute(
                    "UPDATE key_pairs SET revoked_at = COALESCE(revoked_at, $4)
                     WHERE tenant_id = $1 AND project_id = $2 AND created_by = $3",
                    &[&scope.tenant(), &scope.project(), &principal.as_str(), &Utc::now()],
                )
                .await
                .map_err(backend)?;
                tx.execute("DELETE FROM members WHERE tenant_id = $1 AND project_id = $2 AND principal = $3", &who)
                    .await
            }
        };
        written.map_err(|err| constraint(err, || format!("principal `{principal}`")))?;
        tx.commit().await.map_err(backend)?;
        Ok(MemberChange::Changed { before })
    }

    async fn members(&self, scope: &Scope) -> Result<Vec<MemberRecord>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT principal, role FROM members WHERE tenant_id = $1 AND project_id = $2 ORDER BY principal",
                &[&scope.tenant(), &scope.project()],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(|row| Ok(MemberRecord { principal: slug(col(row, 0)?)?, role: role(col(row, 1)?)? })).collect()
    }

    async fn create_token(&self, scope: &TenantScope, token: &TokenRecord) -> Result<(), StoreError> {
        let scopes = serde_json::to_string(&token.scopes).map_err(|err| decode("token scopes", err))?;
        self.client()
            .await?
            .execute(
                "INSERT INTO api_tokens (id, tenant_id, principal, name, hash, scopes, created_at, expires_at, revoked_at, created_with)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)",
                &[
                    &token.id,
                    &scope.tenant(),
                    &token.principal.as_str(),
                    &token.name,
                    &token.hash,
                    &scopes,
                    &token.created_at,
                    &token.expires_at,
                    &token.created_with,
                ],
            )
            .await
            .map_err(|err| constraint(err, || format!("principal `{}`", token.principal)))?;
        Ok(())
    }

    async fn tokens(&self, scope: &TenantScope, principal: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = $1 AND ($2::TEXT IS NULL OR principal = $2)
             ORDER BY created_at DESC, id"
        );
        let rows = self.client().await?.query(&sql, &[&scope.tenant(), &principal]).await.map_err(backend)?;
        rows.iter().map(|row| decode_token(row, 0)).collect()
    }

    async fn revoke_token(&self, scope: &TenantScope, id: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let values: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&scope.tenant(), &id, &Utc::now()];
        let [tokens, key_pairs] = revocation("$1", "$2", "$3");
        let changed = tx.execute(&tokens, &values).await.map_err(backend)?;
        tx.execute(&key_pairs, &values).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(changed > 0)
    }

    async fn authenticate_token(&self, key: TokenKey<'_>) -> Result<Option<TokenGrant>, StoreError> {
        let (column, value) = match key {
            TokenKey::Hash(hash) => ("hash", hash),
            TokenKey::Id(id) => ("id", id),
        };
        let client = self.client().await?;
        let sql = format!("SELECT tenant_id, {TOKEN_COLUMNS} FROM api_tokens WHERE {column} = $1");
        let Some(row) = client.query_opt(&sql, &[&value]).await.map_err(backend)? else { return Ok(None) };
        let tenant: String = col(&row, 0)?;
        let token = decode_token(&row, 1)?;
        let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE tenant_id = $1 AND name = $2");
        let row = client.query_one(&sql, &[&tenant, &token.principal.as_str()]).await.map_err(backend)?;
        let principal = decode_principal(&row)?;
        let roles = roles_of(&client, &tenant, &principal).await?;
        Ok(Some(TokenGrant { tenant, token, principal, roles }))
    }

    async fn create_key_pair(&self, scope: &Scope, key: &KeyPairRecord) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO key_pairs (public_key, tenant_id, project_id, secret_hash, role, created_by, created_at, revoked_at, expires_at, created_with)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9)",
                &[
                    &key.public_key,
                    &scope.tenant(),
                    &scope.project(),
                    &key.secret_hash,
                    &key.role.as_str(),
                    &key.created_by,
                    &key.created_at,
                    &key.expires_at,
                    &key.created_with,
                ],
            )
            .await
            .map_err(|err| constraint(err, || format!("project `{}`", scope.project())))?;
        Ok(())
    }

    async fn key_pairs(&self, scope: &Scope) -> Result<Vec<KeyPairRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM key_pairs k WHERE k.tenant_id = $1 AND k.project_id = $2 ORDER BY k.created_at, k.public_key"
        );
        let rows = self.client().await?.query(&sql, &[&scope.tenant(), &scope.project()]).await.map_err(backend)?;
        rows.iter().map(|row| decode_key(row, 0)).collect()
    }

    async fn revoke_key_pair(&self, scope: &Scope, public_key: &str) -> Result<bool, StoreError> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE key_pairs SET revoked_at = COALESCE(revoked_at, $4)
                 WHERE tenant_id = $1 AND project_id = $2 AND public_key = $3",
                &[&scope.tenant(), &scope.project(), &public_key, &Utc::now()],
            )
            .await
            .map_err(backend)?;
        Ok(changed > 0)
    }

    async fn authenticate_key_pair(&self, public_key: &str) -> Result<Option<KeyPairGrant>, StoreError> {
        let sql = format!("SELECT k.tenant_id, {KEY_COLUMNS}, {CREATOR_ROLE} WHERE k.public_key = $1");
        let Some(row) = self.client().await?.query_opt(&sql, &[&public_key]).await.map_err(backend)? else {
            return Ok(None);
        };
        let creator_role: Option<String> = col(&row, 10)?;
        Ok(Some(KeyPairGrant {
            tenant: col(&row, 0)?,
            key: decode_key(&row, 1)?,
            creator_role: creator_role.as_deref().map(role).transpose()?,
        }))
    }

    async fn audit(&self, scope: &TenantScope, entry: AuditDraft) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO audit_log (tenant_id, project_id, actor, action, target, status, client_addr, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &scope.tenant(),
                    &entry.project,
                    &entry.actor,
                    &entry.action,
                    &entry.target,
                    &i32::from(entry.status),
                    &entry.client_addr,
                    &Utc::now(),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn audit_log(&self, scope: &TenantScope, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let before = query.before.map(to_big).transpose()?;
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, project_id, actor, action, target, status, client_addr, at FROM audit_log
                 WHERE tenant_id = $1 AND ($2::BIGINT IS NULL OR id < $2) AND ($3::TEXT IS NULL OR project_id = $3)
                   AND ($4::TEXT IS NULL OR actor = $4) AND ($5::TEXT IS NULL OR strpos(action, $5) > 0)
                 ORDER BY id DESC LIMIT $6",
                &[&scope.tenant(), &before, &query.project, &query.actor, &query.action, &i64::from(query.limit)],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let status: i32 = col(row, 5)?;
                Ok(AuditRecord {
                    id: from_big(col(row, 0)?)?,
                    project: col(row, 1)?,
                    actor: col(row, 2)?,
                    action: col(row, 3)?,
                    target: col(row, 4)?,
                    status: u16::try_from(status).map_err(|err| decode("audit status", err))?,
                    client_addr: col(row, 6)?,
                    at: col(row, 7)?,
                })
            })
            .collect()
    }

    async fn label_move_mark(&self) -> Result<i64, StoreError> {
        let row = self
            .client()
            .await?
            .query_one("SELECT COALESCE(MAX(id), 0) FROM label_moves", &[])
            .await
            .map_err(backend)?;
        col(&row, 0)
    }

    fn changes(&self) -> Option<crate::store::changes::ChangeFeed> {
        self.listener.feed()
    }
}
