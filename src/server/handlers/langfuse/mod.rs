//! The Langfuse-compatible prompt API (`/api/public`), so that an application using the Langfuse
//! SDK switches to promptops by changing its host and keys. Auth is HTTP Basic with a project
//! key pair; errors come in Langfuse's shape ([`errors`]). A prompt's type (`text` or `chat`) and
//! tags belong to its name, as in Langfuse: a version of the other type is refused, and every
//! version is served with the latest version's tags. `docs/langfuse.md` lists what is supported
//! and what is not.

pub mod compose;
mod convert;
mod errors;
mod served;

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use self::compose::Resolver;
use self::convert::{config_of, file_of, served_prompt, stored_file};
pub use self::errors::{LangfuseErrorBody, langfuse_errors};
pub use self::served::ServedCache;
use super::prompts::{by_label, checked};
use crate::access::{Action, Scope, TenantScope};
use crate::prompt::{Label, PartialSet, PromptFile, PromptName, Selector};
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::server::state::AppState;
use crate::store::{CommitOutcome, LabelRecord, VersionRecord};

/// The label fetched when neither `label` nor `version` is given.
pub const DEFAULT_LABEL: &str = "production";

/// `?version=&label=` of a fetch.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct FetchQuery {
    version: Option<u32>,
    label: Option<String>,
    /// `false`: composition references left as written (default `true`).
    resolve: Option<bool>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    name: Option<String>,
    label: Option<String>,
    tag: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
    /// Only versions created at or after this time (RFC 3339).
    from_updated_at: Option<DateTime<Utc>>,
    /// Only versions created before this time (RFC 3339).
    to_updated_at: Option<DateTime<Utc>>,
}

/// A version as Langfuse's create call sends it. The SDK sends `null` for omitted fields.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePrompt {
    name: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    prompt: Value,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    commit_message: Option<String>,
}

/// The body of the labels update.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewLabels {
    new_labels: Vec<String>,
}

/// The one project a key pair opens.
fn project_of(caller: &Caller) -> Result<String, ApiError> {
    caller
        .principal
        .roles
        .keys()
        .next()
        .cloned()
        .ok_or_else(|| ApiError::Forbidden { message: "this key pair opens no project".to_owned(), hint: None })
}

fn name_of(text: &str) -> Result<PromptName, ApiError> {
    PromptName::new(text).map_err(|err| ApiError::bad_request("invalid_name", err.to_string(), Some("name")))
}

/// A stored version's file, or 409 when it cannot be read.
fn readable(record: &VersionRecord) -> Result<PromptFile, ApiError> {
    stored_file(record).map_err(|message| ApiError::Conflict {
        code: "unreadable_version",
        message,
        hint: Some("commit a new version of the prompt and move its labels there".to_owned()),
    })
}

/// The newest version of `name`, if the prompt exists.
async fn latest_of(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    name: &PromptName,
) -> Result<Option<VersionRecord>, ApiError> {
    match state.registry(scope.clone(), caller).resolve(name, &Selector::Latest).await {
        Ok(record) => Ok(Some(record)),
        Err(err) => match ApiError::from(err) {
            ApiError::NotFound { .. } => Ok(None),
            other => Err(other),
        },
    }
}

/// The model of the provider connection `id` names in the project (or its tenant): a prompt's
/// `model:` may be a promptops provider id, but the application calls the provider itself and
/// needs the provider's model name. `None` when no connection has that id (it is served as is).
async fn provider_model(state: &AppState, scope: &Scope, id: &str) -> Option<String> {
    let tenant_wide = crate::gateway::connections::tenant_wide(&TenantScope::new(scope.tenant()));
    for scope in [scope, &tenant_wide] {
        match state.connections().list(scope).await {
            Ok(views) => {
                if let Some(view) = views.into_iter().find(|v| v.spec.id == id) {
                    return view.spec.model;
                }
            }
            Err(err) => tracing::warn!(error = %err, "provider connections unreadable for a Langfuse config"),
        }
    }
    None
}

/// `GET /api/public/v2/prompts/{name}?version=|label=` (default label `production`), served
/// from memory after the first fetch ([`served`]).
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<FetchQuery>,
) -> Result<Response, ApiError> {
    let project = project_of(&caller)?;
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let name = name_of(&name)?;
    let selector = match (query.version, query.label) {
        (Some(n), _) => Selector::Version(n),
        (None, Some(label)) if label == Label::LATEST => Selector::Latest,
        (None, label) => Selector::Named(label.unwrap_or_else(|| DEFAULT_LABEL.to_owned())),
    };
    let resolve = query.resolve.unwrap_or(true);
    let key = match &selector {
        Selector::Version(n) => format!("#{n}"),
        Selector::Latest | Selector::WorkingCopy => Label::LATEST.to_owned(),
        Selector::Named(label) => label.clone(),
    };
    let key = if resolve { key } else { format!("{key} raw") };
    let generation = state.prompts.generation();
    if let Some(body) = state.langfuse.get(&scope, name.as_str(), &key, generation) {
        return Ok(json_response(body));
    }
    let record = match &selector {
        Selector::Named(label) => by_label(&state, &caller, scope.clone(), &name, label).await?.as_ref().clone(),
        other => state.registry(scope.clone(), &caller).resolve(&name, other).await?,
    };
    let object = prompt_json(&state, &caller, &scope, &record, resolve).await?;
    let body = Bytes::from(serde_json::to_vec(&object).map_err(|err| ApiError::Internal(Box::new(err)))?);
    state.langfuse.put(&scope, name.as_str(), &key, generation, body.clone());
    Ok(json_response(body))
}

/// A 200 with a serialized JSON body.
fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// The Langfuse `Prompt` object of a stored version: its labels (with `latest` on the newest
/// version) and the prompt's tags, which are the latest version's.
async fn prompt_json(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    record: &VersionRecord,
    resolve: bool,
) -> Result<Value, ApiError> {
    let registry = state.registry(scope.clone(), caller);
    let name = &record.meta.name;
    let labels = registry.labels(Some(name)).await?;
    let latest = crate::service::RegistryService::resolve(&registry, name, &Selector::Latest).await?;
    let mut names: Vec<String> =
        labels.iter().filter(|l| l.version == record.meta.number).map(|l| l.label.to_string()).collect();
    if latest.meta.number == record.meta.number {
        names.push(Label::LATEST.to_owned());
    }
    let file = readable(record)?;
    let tags = if latest.meta.number == record.meta.number { file.tags.clone() } else { readable(&latest)?.tags };
    let (kind, prompt) = served_prompt(&file, &record.partials).map_err(|why| ApiError::Conflict {
        code: "not_langfuse_compatible",
        message: format!("version {} of `{name}` cannot be served to the Langfuse SDK: {why}", record.meta.number),
        hint: Some(
            "Langfuse's compile() only substitutes {{var}}: render the construct in the prompt file, or fetch it from /api/v1".to_owned(),
        ),
    })?;
    let id = format!("{}:{}:{name}:{}", scope.tenant(), scope.project(), record.meta.number);
    let (prompt, graph) = if resolve {
        let root = (id.clone(), name.clone(), Some(record.meta.number));
        Resolver::new(state, caller, scope).resolve(prompt, root).await.map_err(|why| ApiError::Conflict {
            code: "unresolvable_reference",
            message: format!("version {} of `{name}` cannot be composed: {why}", record.meta.number),
            hint: Some("fetch it with resolve=false to see the references as written".to_owned()),
        })?
    } else {
        (prompt, Value::Null)
    };
    let mut config = config_of(&file);
    if let (Some(model), Value::Object(map)) = (&file.model, &mut config)
        && let Some(named) = provider_model(state, scope, model).await
    {
        map.insert("model".to_owned(), Value::String(named));
    }
    Ok(json!({
        "id": id,
        "type": kind.as_str(),
        "name": name,
        "version": record.meta.number,
        "prompt": prompt,
        "config": config,
        "labels": names,
        "tags": tags,
        "commitMessage": (!record.meta.message.is_empty()).then_some(&record.meta.message),
        "resolutionGraph": graph,
        "createdAt": record.meta.created_at,
        "updatedAt": record.meta.created_at,
        "createdBy": record.meta.author,
        "projectId": scope.project(),
    }))
}

/// The labels of a request, checked before anything is written: each a valid label other than
/// `latest`, and the caller allowed to move every one of them (protected ones need an admin).
/// Returns the labels with the scope to move them in.
fn movable_labels(
    state: &AppState,
    caller: &Caller,
    project: &str,
    texts: &[String],
    field: &str,
) -> Result<(Scope, Vec<Label>), ApiError> {
    let mut labels = Vec::with_capacity(texts.len());
    for text in texts {
        let label =
            Label::new(text).map_err(|err| ApiError::bad_request("invalid_label", err.to_string(), Some(field)))?;
        if label.is_latest() {
            return Err(ApiError::bad_request("latest_is_automatic", "the `latest` label is automatic", Some(field)));
        }
        labels.push(label);
    }
    let action = if labels.iter().any(|label| state.is_protected(label)) {
        Action::MoveProtectedLabel
    } else if labels.is_empty() {
        Action::Read
    } else {
        Action::Write
    };
    Ok((caller.principal.authorize(action, project)?, labels))
}

/// Points `labels` at `version` (already checked by [`movable_labels`]).
async fn move_labels(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    name: &PromptName,
    labels: &[Label],
    version: u32,
) -> Result<(), ApiError> {
    let registry = state.registry(scope, caller);
    for label in labels {
        let moved = registry.set_label(name, label, version, true).await;
        state.prompts.invalidate();
        moved?;
    }
    Ok(())
}

/// `POST /api/public/v2/prompts`: creates a version (201) with its labels. Every check (the
/// prompt, its type against the prompt's, the labels, the role each label needs) comes first,
/// so a refusal writes nothing. A body without `tags` keeps the prompt's tags.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreatePrompt>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = project_of(&caller)?;
    let scope = caller.principal.authorize(Action::Write, &project)?;
    let name = name_of(&body.name)?;
    let previous = match latest_of(&state, &caller, &scope, &name).await? {
        Some(record) => Some(readable(&record)?),
        None => None,
    };
    let file = file_of(&body, previous.as_ref())?;
    let (_, served) = served_prompt(&file, &PartialSet::new()).map_err(|why| ApiError::BadRequest {
        code: "not_langfuse_compatible",
        message: format!("{why}, so the SDK could not use what it is served"),
        hint: Some("write variables as {{name}}; conditions, loops and filters have no Langfuse equivalent".to_owned()),
        path: Some("prompt".to_owned()),
    })?;
    let root = (format!("{}:{}:{name}:new", scope.tenant(), scope.project()), name.clone(), None);
    Resolver::new(&state, &caller, &scope).resolve(served, root).await.map_err(|why| ApiError::BadRequest {
        code: "unresolvable_reference",
        message: format!("the prompt cannot be composed: {why}"),
        hint: Some(
            "create the referenced text prompts first, with the label or version the reference names".to_owned(),
        ),
        path: Some("prompt".to_owned()),
    })?;
    if let Some(previous) = &previous
        && previous.kind() != file.kind()
    {
        return Err(ApiError::BadRequest {
            code: "type_mismatch",
            message: format!(
                "Previous versions have different prompt type. `{name}` is a {} prompt; this version is {}",
                previous.kind().as_str(),
                file.kind().as_str()
            ),
            hint: Some("create a new prompt with a different name".to_owned()),
            path: Some("type".to_owned()),
        });
    }
    let source = serde_json::to_string_pretty(&file).map_err(|err| ApiError::Internal(Box::new(err)))?;
    let prompt = checked(name.clone(), source, BTreeMap::new())?;
    let (label_scope, labels) =
        movable_labels(&state, &caller, &project, body.labels.as_deref().unwrap_or_default(), "labels")?;
    let message = body.commit_message.clone().unwrap_or_default();
    let outcomes = state.registry(scope.clone(), &caller).commit(&[prompt], &message).await;
    // A new version moves `latest` and may change the prompt's tags: what is served from memory
    // is stale (the label moves below invalidate too, but a create may move none).
    state.prompts.invalidate();
    let outcomes = outcomes?;
    let (CommitOutcome::Created(meta) | CommitOutcome::Unchanged(meta)) =
        outcomes.into_iter().next().ok_or_else(|| ApiError::Internal("commit returned nothing".into()))?;
    move_labels(&state, &caller, label_scope, &name, &labels, meta.number).await?;
    let record = state.registry(scope.clone(), &caller).resolve(&name, &Selector::Version(meta.number)).await?;
    Ok((StatusCode::CREATED, Json(prompt_json(&state, &caller, &scope, &record, true).await?)))
}

/// `PATCH /api/public/v2/prompts/{name}/versions/{version}`: adds labels (never removes any);
/// all of them or, when one is refused, none.
pub async fn update_labels(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((name, version)): ApiPath<(String, u32)>,
    ApiJson(body): ApiJson<NewLabels>,
) -> Result<Json<Value>, ApiError> {
    let project = project_of(&caller)?;
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let name = name_of(&name)?;
    let (label_scope, labels) = movable_labels(&state, &caller, &project, &body.new_labels, "newLabels")?;
    let record = state.registry(scope.clone(), &caller).resolve(&name, &Selector::Version(version)).await?;
    move_labels(&state, &caller, label_scope, &name, &labels, version).await?;
    Ok(Json(prompt_json(&state, &caller, &scope, &record, true).await?))
}

/// `GET /api/public/v2/prompts`: prompt metadata, paged by `page` (from 1) and `limit`. With
/// `fromUpdatedAt`/`toUpdatedAt`, only the versions created in that window count, and a prompt
/// with none is left out.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let project = project_of(&caller)?;
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let registry = state.registry(scope, &caller);
    let labels = registry.labels(None).await?;
    let windowed = query.from_updated_at.is_some() || query.to_updated_at.is_some();
    let in_window = |at: &DateTime<Utc>| {
        query.from_updated_at.is_none_or(|from| *at >= from) && query.to_updated_at.is_none_or(|to| *at < to)
    };
    let mut items = Vec::new();
    for summary in crate::service::RegistryService::prompts(&registry).await? {
        let name = &summary.latest.name;
        if query.name.as_ref().is_some_and(|n| n != name.as_str()) {
            continue;
        }
        let latest = registry.resolve(name, &Selector::Latest).await?;
        // A version stored before sources were checked on every path may not parse: it is left
        // out of the list (and named in the log) rather than failing the whole project's list.
        let file = match stored_file(&latest) {
            Ok(file) => file,
            Err(message) => {
                tracing::warn!(prompt = %name, version = latest.meta.number, %message, "left out of the Langfuse list");
                continue;
            }
        };
        let own: Vec<&LabelRecord> = labels.iter().filter(|l| &l.name == name).collect();
        let keep = query.label.as_ref().is_none_or(|q| q == Label::LATEST || own.iter().any(|l| l.label.as_str() == q))
            && query.tag.as_ref().is_none_or(|t| file.tags.contains(t));
        if !keep {
            continue;
        }
        let (versions, last_updated) = if windowed {
            let log = crate::service::RegistryService::log(&registry, name).await?;
            let mut shown: Vec<&crate::store::VersionMeta> =
                log.versions.iter().filter(|v| in_window(&v.created_at)).collect();
            shown.sort_by_key(|v| v.number);
            match shown.last() {
                Some(last) => (shown.iter().map(|v| v.number).collect::<Vec<_>>(), last.created_at),
                None => continue,
            }
        } else {
            ((1..=summary.version_count).collect(), summary.latest.created_at)
        };
        let mut label_names: BTreeSet<String> = own.iter().map(|l| l.label.to_string()).collect();
        label_names.insert(Label::LATEST.to_owned());
        items.push(json!({
            "name": name,
            "type": file.kind().as_str(),
            "versions": versions,
            "labels": label_names,
            "tags": file.tags,
            "lastUpdatedAt": last_updated,
            "lastConfig": config_of(&file),
        }));
    }
    let (page, limit) = (query.page.unwrap_or(1).max(1), query.limit.unwrap_or(10).clamp(1, 100));
    let total = items.len();
    let start = ((page - 1) as usize).saturating_mul(limit as usize).min(total);
    let data: Vec<Value> = items.into_iter().skip(start).take(limit as usize).collect();
    Ok(Json(json!({
        "data": data,
        "meta": {"page": page, "limit": limit, "totalItems": total, "totalPages": total.div_ceil(limit as usize)},
    })))
}

/// `GET /api/public/projects`: the key pair's project (what the SDK's `auth_check` reads).
pub async fn projects(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let project = project_of(&caller)?;
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let tenant = TenantScope::new(scope.tenant());
    let record = state.store.projects(&tenant).await?.into_iter().find(|p| p.id.as_str() == project);
    let name = record.map_or_else(|| project.clone(), |p| p.name);
    Ok(Json(json!({
        "data": [{"id": project, "name": name, "organization": {"id": scope.tenant(), "name": scope.tenant()}, "metadata": {}}],
    })))
}
