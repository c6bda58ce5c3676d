//! [`PromptStore`] on SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{SqliteStore, backend, parse_timestamp, timestamp};
use crate::prompt::{Label, PromptName};
use crate::store::commit::{created, draft_names, now, plan_commit};
use crate::store::records::META_COLUMNS;
use crate::store::{
    CommitOutcome, LabelMove, LabelRecord, MoveReason, PromptStore, PromptSummary, Scope, StoreError, VersionDraft,
    VersionMeta, VersionRecord,
};

fn meta_from_row(row: &Row<'_>) -> rusqlite::Result<(String, u32, String, String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn decode_meta(raw: (String, u32, String, String, String, String)) -> Result<VersionMeta, StoreError> {
    let (name, number, hash, author, message, created_at) = raw;
    Ok(VersionMeta {
        name: PromptName::new(&name).map_err(|err| StoreError::Decode(err.to_string()))?,
        number,
        hash,
        author,
        message,
        created_at: parse_timestamp(&created_at)?,
    })
}

fn latest_meta(tx: &Transaction<'_>, scope: &Scope, name: &str) -> Result<Option<VersionMeta>, StoreError> {
    let sql = format!(
        "SELECT {META_COLUMNS} FROM prompt_versions WHERE tenant_id = ?1 AND project_id = ?2 AND name = ?3 ORDER BY number DESC LIMIT 1"
    );
    let raw = tx
        .query_row(&sql, params![scope.tenant(), scope.project(), name], meta_from_row)
        .optional()
        .map_err(backend)?;
    raw.map(decode_meta).transpose()
}

fn insert_version(
    tx: &Transaction<'_>,
    scope: &Scope,
    draft: &VersionDraft,
    meta: &VersionMeta,
) -> Result<(), StoreError> {
    let partials = serde_json::to_string(&draft.partials).map_err(|err| StoreError::Decode(err.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO prompt_versions (tenant_id, project_id, name, number, hash, source, partials, author, message, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            scope.tenant(),
            scope.project(),
            draft.name.as_str(),
            meta.number,
            draft.hash,
            draft.source,
            partials,
            draft.author,
            draft.message,
            timestamp(meta.created_at)
        ])
    })
    .map_err(backend)?;
    Ok(())
}

impl SqliteStore {
    async fn record(
        &self,
        scope: &Scope,
        name: &PromptName,
        number: Option<u32>,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let (scope, name) = (scope.clone(), name.clone());
        self.call(move |conn| {
            let filter = if number.is_some() { "AND number = ?4" } else { "ORDER BY number DESC LIMIT 1" };
            let sql = format!(
                "SELECT {META_COLUMNS}, source, partials FROM prompt_versions WHERE tenant_id = ?1 AND project_id = ?2 AND name = ?3 {filter}"
            );
            let map = |row: &Row<'_>| Ok((meta_from_row(row)?, row.get::<_, String>(6)?, row.get::<_, String>(7)?));
            let raw = match number {
                Some(n) => conn.query_row(&sql, params![scope.tenant(), scope.project(), name.as_str(), n], map),
                None => conn.query_row(&sql, params![scope.tenant(), scope.project(), name.as_str()], map),
            }
            .optional()
            .map_err(backend)?;
            raw.map(|(meta, source, partials)| {
                Ok(VersionRecord {
                    meta: decode_meta(meta)?,
                    source,
                    partials: serde_json::from_str(&partials).map_err(|err| StoreError::Decode(err.to_string()))?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn metas(
        &self,
        scope: &Scope,
        name: &PromptName,
        hash_prefix: Option<&str>,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        let (scope, name) = (scope.clone(), name.clone());
        // `hash >= prefix AND hash < prefix + 'g'` is a prefix match on hex that uses the index.
        let (low, high) = hash_prefix.map_or((String::new(), "g".to_owned()), |p| (p.to_owned(), format!("{p}g")));
        self.call(move |conn| {
            let sql = format!(
                "SELECT {META_COLUMNS} FROM prompt_versions
                 WHERE tenant_id = ?1 AND project_id = ?2 AND name = ?3 AND hash >= ?4 AND hash < ?5 ORDER BY number"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt
                .query_map(params![scope.tenant(), scope.project(), name.as_str(), low, high], meta_from_row)
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend).and_then(decode_meta)).collect()
        })
        .await
    }
}

#[async_trait]
impl PromptStore for SqliteStore {
    async fn commit(&self, scope: &Scope, drafts: Vec<VersionDraft>) -> Result<Vec<CommitOutcome>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            // IMMEDIATE takes the write lock up front, so two committers serialise here and
            // each sees the other's numbers: versions stay gapless and none is lost.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let mut latest = HashMap::new();
            for name in draft_names(&drafts) {
                if let Some(meta) = latest_meta(&tx, &scope, name)? {
                    latest.insert(meta.name.clone(), meta);
                }
            }
            let plan = plan_commit(&drafts, latest, now());
            for (draft, meta) in created(&drafts, &plan) {
                insert_version(&tx, &scope, draft, meta)?;
            }
            tx.commit().map_err(backend)?;
            Ok(plan)
        })
        .await
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
        self.metas(scope, name, None).await
    }

    async fn find_hash_prefix(
        &self,
        scope: &Scope,
        name: &PromptName,
        prefix: &str,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        self.metas(scope, name, Some(&prefix.to_ascii_lowercase())).await
    }

    async fn prompts(&self, scope: &Scope) -> Result<Vec<PromptSummary>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            // The grouped scan reads only the primary-key index; the join then fetches one row
            // per prompt. (A window function over all versions was 10x slower at 10k versions.)
            let sql = "SELECT v.name, v.number, v.hash, v.author, v.message, v.created_at, c.count
                 FROM (SELECT name, MAX(number) AS latest, COUNT(*) AS count FROM prompt_versions
                       WHERE tenant_id = ?1 AND project_id = ?2 GROUP BY name) AS c
                 JOIN prompt_versions AS v
                   ON v.tenant_id = ?1 AND v.project_id = ?2 AND v.name = c.name AND v.number = c.latest
                 ORDER BY v.name";
            let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
            let rows = stmt
                .query_map(params![scope.tenant(), scope.project()], |row| {
                    Ok((meta_from_row(row)?, row.get::<_, u32>(6)?))
                })
                .map_err(backend)?;
            rows.map(|r| {
                let (meta, count) = r.map_err(backend)?;
                Ok(PromptSummary { latest: decode_meta(meta)?, version_count: count })
            })
            .collect()
        })
        .await
    }

    async fn labels(&self, scope: &Scope, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, StoreError> {
        let (scope, name) = (scope.clone(), name.map(|n| n.as_str().to_owned()));
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, label, version, updated_by, updated_at FROM labels
                     WHERE tenant_id = ?1 AND project_id = ?2 AND (?3 IS NULL OR name = ?3) ORDER BY name, label",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![scope.tenant(), scope.project(), name], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get::<_, String>(4)?,
                    ))
                })
                .map_err(backend)?;
            rows.map(|r| {
                let (name, label, version, updated_by, updated_at) = r.map_err(backend)?;
                Ok(LabelRecord {
                    name: decode_name(&name)?,
                    label: decode_label(&label)?,
                    version,
                    updated_by,
                    updated_at: parse_timestamp(&updated_at)?,
                })
            })
            .collect()
        })
        .await
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
        let (scope, name, label, actor) = (scope.clone(), name.clone(), label.clone(), actor.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let key = params![scope.tenant(), scope.project(), name.as_str(), label.as_str()];
            let from: Option<u32> = tx
                .query_row(
                    "SELECT version FROM labels WHERE tenant_id = ?1 AND project_id = ?2 AND name = ?3 AND label = ?4",
                    key,
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            let at = now();
            match to {
                Some(number) => {
                    let exists: Option<u32> = tx
                        .query_row(
                            "SELECT number FROM prompt_versions WHERE tenant_id = ?1 AND project_id = ?2 AND name = ?3 AND number = ?4",
                            params![scope.tenant(), scope.project(), name.as_str(), number],
                            |row| row.get(0),
                        )
                        .optional()
                        .map_err(backend)?;
                    if exists.is_none() {
                        return Err(StoreError::VersionNotFound { name, number });
                    }
                    tx.execute(
                        "INSERT INTO labels (tenant_id, project_id, name, label, version, updated_by, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (tenant_id, project_id, name, label)
                         DO UPDATE SET version = excluded.version, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                        params![scope.tenant(), scope.project(), name.as_str(), label.as_str(), number, actor, timestamp(at)],
                    )
                    .map_err(backend)?;
                }
                None => {
                    tx.execute("DELETE FROM labels WHERE tenant_id = ?1 AND project_id = ?2 AND name = ?3 AND label = ?4", key)
                        .map_err(backend)?;
                }
            }
            tx.execute(
                "INSERT INTO label_moves (tenant_id, project_id, name, label, from_version, to_version, reason, actor, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![scope.tenant(), scope.project(), name.as_str(), label.as_str(), from, to, reason.as_str(), actor, timestamp(at)],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(LabelMove { name, label, from, to, reason, actor, at })
        })
        .await
    }

    async fn label_history(&self, scope: &Scope, name: &PromptName) -> Result<Vec<LabelMove>, StoreError> {
        let (scope, name) = (scope.clone(), name.clone());
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT label, from_version, to_version, reason, actor, at FROM label_moves
                     WHERE tenant_id = ?1 AND project_id = ?2 AND name = ?3 ORDER BY id",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![scope.tenant(), scope.project(), name.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get::<_, String>(3)?,
                        row.get(4)?,
                        row.get::<_, String>(5)?,
                    ))
                })
                .map_err(backend)?;
            rows.map(|r| {
                let (label, from, to, reason, actor, at) = r.map_err(backend)?;
                Ok(LabelMove {
                    name: name.clone(),
                    label: decode_label(&label)?,
                    from,
                    to,
                    reason: MoveReason::parse(&reason)
                        .ok_or_else(|| StoreError::Decode(format!("move reason `{reason}`")))?,
                    actor,
                    at: parse_timestamp(&at)?,
                })
            })
            .collect()
        })
        .await
    }
}

fn decode_name(text: &str) -> Result<PromptName, StoreError> {
    PromptName::new(text).map_err(|err| StoreError::Decode(err.to_string()))
}

fn decode_label(text: &str) -> Result<Label, StoreError> {
    Label::new(text).map_err(|err| StoreError::Decode(err.to_string()))
}
