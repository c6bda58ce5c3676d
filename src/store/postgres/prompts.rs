//! [`PromptStore`] on PostgreSQL. A commit locks its prompts' names (advisory locks, see
//! [`super::lock`]) before reading their latest versions, so concurrent commits of one prompt
//! take turns and numbers stay gapless; a label move locks its label the same way, so its
//! recorded history always chains `from` to the previous `to`.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use futures::future::try_join_all;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, backend, col, from_db, lock, to_db};
use crate::prompt::{Label, PromptName};
use crate::store::commit::{created, draft_names, now, plan_commit};
use crate::store::records::META_COLUMNS;
use crate::store::{
    CommitOutcome, LabelMove, LabelRecord, MoveReason, PromptStore, PromptSummary, Scope, StoreError, VersionDraft,
    VersionMeta, VersionRecord,
};

fn decode_meta(row: &Row) -> Result<VersionMeta, StoreError> {
    Ok(VersionMeta {
        name: decode_name(col(row, 0)?)?,
        number: from_db(col(row, 1)?)?,
        hash: col(row, 2)?,
        author: col(row, 3)?,
        message: col(row, 4)?,
        created_at: col(row, 5)?,
    })
}

fn decode_name(text: &str) -> Result<PromptName, StoreError> {
    PromptName::new(text).map_err(|err| StoreError::Decode(err.to_string()))
}

fn decode_label(text: &str) -> Result<Label, StoreError> {
    Label::new(text).map_err(|err| StoreError::Decode(err.to_string()))
}

/// The latest version of each named prompt.
async fn latest_metas(
    client: &impl GenericClient,
    scope: &Scope,
    names: &[&str],
) -> Result<HashMap<PromptName, VersionMeta>, StoreError> {
    let sql = format!(
        "SELECT DISTINCT ON (name) {META_COLUMNS} FROM prompt_versions
         WHERE tenant_id = $1 AND project_id = $2 AND name = ANY($3) ORDER BY name, number DESC"
    );
    let rows = client.query(&sql, &[&scope.tenant(), &scope.project(), &names]).await.map_err(backend)?;
    rows.iter().map(|row| decode_meta(row).map(|meta| (meta.name.clone(), meta))).collect()
}

async fn insert_versions(
    client: &impl GenericClient,
    scope: &Scope,
    drafts: &[VersionDraft],
    plan: &[CommitOutcome],
) -> Result<(), StoreError> {
    let statement = client
        .prepare(
            "INSERT INTO prompt_versions (tenant_id, project_id, name, number, hash, source, partials, author, message, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .await
        .map_err(backend)?;
    let (tenant, project) = (scope.tenant(), scope.project());
    let mut rows = Vec::new();
    for (draft, meta) in created(drafts, plan) {
        let partials = serde_json::to_string(&draft.partials).map_err(|err| StoreError::Decode(err.to_string()))?;
        rows.push((draft, meta, draft.name.as_str(), to_db(meta.number)?, partials));
    }
    let params: Vec<[&(dyn ToSql + Sync); 10]> = rows
        .iter()
        .map(|(draft, meta, name, number, partials)| {
            [
                &tenant as &(dyn ToSql + Sync),
                &project,
                name,
                number,
                &draft.hash,
                &draft.source,
                partials,
                &draft.author,
                &draft.message,
                &meta.created_at,
            ]
        })
        .collect();
    // Issued together, so tokio-postgres pipelines them: one round trip, not one per version.
    try_join_all(params.iter().map(|p| client.execute(&statement, p))).await.map_err(backend)?;
    Ok(())
}

impl PostgresStore {
    async fn record(
        &self,
        scope: &Scope,
        name: &PromptName,
        number: Option<u32>,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let client = self.client().await?;
        let number = number.map(to_db).transpose()?;
        let sql = format!(
            "SELECT {META_COLUMNS}, source, partials FROM prompt_versions
             WHERE tenant_id = $1 AND project_id = $2 AND name = $3 AND ($4::INTEGER IS NULL OR number = $4)
             ORDER BY number DESC LIMIT 1"
        );
        let row = client
            .query_opt(&sql, &[&scope.tenant(), &scope.project(), &name.as_str(), &number])
            .await
            .map_err(backend)?;
        row.map(|row| {
            let partials: &str = col(&row, 7)?;
            Ok(VersionRecord {
                meta: decode_meta(&row)?,
                source: col(&row, 6)?,
                partials: serde_json::from_str(partials).map_err(|err| StoreError::Decode(err.to_string()))?,
            })
        })
        .transpose()
    }

    async fn metas(&self, scope: &Scope, name: &PromptName, hash_prefix: &str) -> Result<Vec<VersionMeta>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {META_COLUMNS} FROM prompt_versions
             WHERE tenant_id = $1 AND project_id = $2 AND name = $3 AND starts_with(hash, $4) ORDER BY number"
        );
        let rows = client
            .query(&sql, &[&scope.tenant(), &scope.project(), &name.as_str(), &hash_prefix])
            .await
            .map_err(backend)?;
        rows.iter().map(decode_meta).collect()
    }
}

#[async_trait]
impl PromptStore for PostgresStore {
    async fn commit(&self, scope: &Scope, drafts: Vec<VersionDraft>) -> Result<Vec<CommitOutcome>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let names = draft_names(&drafts);
        lock(&tx, scope, "prompt", &names).await?;
        let latest = latest_metas(&tx, scope, &names).await?;
        let plan = plan_commit(&drafts, latest, now());
        insert_versions(&tx, scope, &drafts, &plan).await?;
        tx.commit().await.map_err(backend)?;
        Ok(plan)
    }

    async fn version(
        &self,
        scope: &Scope,
        name: &PromptName,
        number: u32,
    ) -> Result<Option<VersionRecord>, StoreError> {
        self.record(scope, name, Some(number)).await
    }

    async fn latest(&self, scope: &Scope, name: &PromptName) -> Result<Option<VersionRecord>, StoreError> {
        self.record(scope, name, None).await
    }

    async fn versions(&self, scope: &Scope, name: &PromptName) -> Result<Vec<VersionMeta>, StoreError> {
        self.metas(scope, name, "").await
    }

    async fn find_hash_prefix(
        &self,
        scope: &Scope,
        name: &PromptName,
        prefix: &str,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        self.metas(scope, name, &prefix.to_ascii_lowercase()).await
    }

    async fn prompts(&self, scope: &Scope) -> Result<Vec<PromptSummary>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT DISTINCT ON (name) {META_COLUMNS}, COUNT(*) OVER (PARTITION BY name) FROM prompt_versions
             WHERE tenant_id = $1 AND project_id = $2 ORDER BY name, number DESC"
        );
        let rows = client.query(&sql, &[&scope.tenant(), &scope.project()]).await.map_err(backend)?;
        rows.iter()
            .map(|row| {
                let count: i64 = col(row, 6)?;
                Ok(PromptSummary { latest: decode_meta(row)?, version_count: u32::try_from(count).unwrap_or(u32::MAX) })
            })
            .collect()
    }

    async fn labels(&self, scope: &Scope, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, label, version, updated_by, updated_at FROM labels
                 WHERE tenant_id = $1 AND project_id = $2 AND ($3::TEXT IS NULL OR name = $3) ORDER BY name, label",
                &[&scope.tenant(), &scope.project(), &name.map(PromptName::as_str)],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(LabelRecord {
                    name: decode_name(col(row, 0)?)?,
                    label: decode_label(col(row, 1)?)?,
                    version: from_db(col(row, 2)?)?,
                    updated_by: col(row, 3)?,
                    updated_at: col(row, 4)?,
                })
            })
            .collect()
    }

    async fn move_label(
        &self,
        scope: &Scope,
        name: &PromptName,
        label: &Label,
        to: Option<u32>,
        reason: MoveReason,
        actor: &str,
    ) -> Result<LabelMove, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        lock(&tx, scope, "label", &[&format!("{name}\u{1f}{label}")]).await?;
        let key: [&(dyn ToSql + Sync); 4] = [&scope.tenant(), &scope.project(), &name.as_str(), &label.as_str()];
        let from = tx
            .query_opt(
                "SELECT version FROM labels WHERE tenant_id = $1 AND project_id = $2 AND name = $3 AND label = $4",
                &key,
            )
            .await
            .map_err(backend)?
            .map(|row| from_db(col(&row, 0)?))
            .transpose()?;
        let at = now();
        match to {
            Some(number) => point_label(&tx, scope, name, label, number, actor, at).await?,
            None => {
                tx.execute(
                    "DELETE FROM labels WHERE tenant_id = $1 AND project_id = $2 AND name = $3 AND label = $4",
                    &key,
                )
                .await
                .map_err(backend)?;
            }
        }
        tx.execute(
            "INSERT INTO label_moves (tenant_id, project_id, name, label, from_version, to_version, reason, actor, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                key[0],
                key[1],
                key[2],
                key[3],
                &from.map(to_db).transpose()?,
                &to.map(to_db).transpose()?,
                &reason.as_str(),
                &actor,
                &at,
            ],
        )
        .await
        .map_err(backend)?;
        tx.execute(super::listen::NOTIFY_LABELS, &[]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(LabelMove { name: name.clone(), label: label.clone(), from, to, reason, actor: actor.to_owned(), at })
    }

    async fn label_history(&self, scope: &Scope, name: &PromptName) -> Result<Vec<LabelMove>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT label, from_version, to_version, reason, actor, at FROM label_moves
                 WHERE tenant_id = $1 AND project_id = $2 AND name = $3 ORDER BY id",
                &[&scope.tenant(), &scope.project(), &name.as_str()],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let reason: &str = col(row, 3)?;
                Ok(LabelMove {
                    name: name.clone(),
                    label: decode_label(col(row, 0)?)?,
                    from: col::<Option<i32>>(row, 1)?.map(from_db).transpose()?,
                    to: col::<Option<i32>>(row, 2)?.map(from_db).transpose()?,
                    reason: MoveReason::parse(reason)
                        .ok_or_else(|| StoreError::Decode(format!("move reason `{reason}`")))?,
                    actor: col(row, 4)?,
                    at: col(row, 5)?,
                })
            })
            .collect()
    }
}

/// Points a label at an existing version (inserting or updating its row).
async fn point_label(
    tx: &impl GenericClient,
    scope: &Scope,
    name: &PromptName,
    label: &Label,
    number: u32,
    actor: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let version = to_db(number)?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM prompt_versions WHERE tenant_id = $1 AND project_id = $2 AND name = $3 AND number = $4",
            &[&scope.tenant(), &scope.project(), &name.as_str(), &version],
        )
        .await
        .map_err(backend)?;
    if exists.is_none() {
        return Err(StoreError::VersionNotFound { name: name.clone(), number });
    }
    tx.execute(
        "INSERT INTO labels (tenant_id, project_id, name, label, version, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant_id, project_id, name, label)
         DO UPDATE SET version = EXCLUDED.version, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
        &[&scope.tenant(), &scope.project(), &name.as_str(), &label.as_str(), &version, &actor, &at],
    )
    .await
    .map_err(backend)?;
    Ok(())
}
