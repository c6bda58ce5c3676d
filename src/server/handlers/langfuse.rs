//! The Langfuse-compatible prompt API (`/api/public`), so that an application using the Langfuse
//! SDK's `get_prompt` switches to promptops by changing its host and keys. Auth is HTTP Basic
//! with a project key pair. A promptops prompt whose only message is one `user` text is a
//! Langfuse `text` prompt; any other is a `chat` prompt. Langfuse `{{var}}` placeholders are
//! declared as string variables when a version is created. `docs/langfuse.md` lists what is
//! supported and what is not.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::prompts::{by_label, checked};
use crate::access::{Action, Scope, TenantScope};
use crate::prompt::{Content, Label, Message, PromptFile, PromptName, Role, Selector, VariableSpec};
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
}

/// Filters of the list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListQuery {
    name: Option<String>,
    label: Option<String>,
    tag: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
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

/// A Langfuse chat message (placeholders are not supported).
#[derive(Debug, Serialize, Deserialize)]
struct ChatMessage {
    role: Role,
    content: String,
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

/// `GET /api/public/v2/prompts/{name}?version=|label=` (default label `production`).
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<FetchQuery>,
) -> Result<Json<Value>, ApiError> {
    let project = project_of(&caller)?;
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let name = name_of(&name)?;
    let record = match (query.version, query.label) {
        (Some(n), _) => state.registry(scope.clone(), &caller).resolve(&name, &Selector::Version(n)).await?,
        (None, Some(label)) if label == Label::LATEST => {
            state.registry(scope.clone(), &caller).resolve(&name, &Selector::Latest).await?
        }
        (None, label) => {
            let label = label.unwrap_or_else(|| DEFAULT_LABEL.to_owned());
            by_label(&state, &caller, scope.clone(), &name, &label).await?.as_ref().clone()
        }
    };
    Ok(Json(prompt_json(&state, &caller, &scope, &record).await?))
}

/// The Langfuse `Prompt` object of a stored version.
async fn prompt_json(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    record: &VersionRecord,
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
    let file = stored_file(record).map_err(|message| ApiError::Conflict {
        code: "unreadable_version",
        message,
        hint: Some("commit a new version of the prompt and move its labels there".to_owned()),
    })?;
    let (kind, prompt) = match text_of(&file) {
        Some(text) => ("text", Value::String(text)),
        None => (
            "chat",
            json!(
                file.messages
                    .iter()
                    .map(|m| json!({"role": m.role.as_str(), "content": m.content.text()}))
                    .collect::<Vec<_>>()
            ),
        ),
    };
    Ok(json!({
        "id": format!("{}:{}:{name}:{}", scope.tenant(), scope.project(), record.meta.number),
        "type": kind,
        "name": name,
        "version": record.meta.number,
        "prompt": prompt,
        "config": config_of(&file),
        "labels": names,
        "tags": file.tags,
        "commitMessage": (!record.meta.message.is_empty()).then_some(&record.meta.message),
        "resolutionGraph": Value::Null,
        "createdAt": record.meta.created_at,
        "updatedAt": record.meta.created_at,
        "createdBy": record.meta.author,
        "projectId": scope.project(),
    }))
}

/// The prompt file of a stored version, or why it cannot be read.
fn stored_file(record: &VersionRecord) -> Result<PromptFile, String> {
    crate::yaml::from_str(std::path::Path::new(record.meta.name.as_str()), &record.source).map_err(|err| {
        format!("version {} of `{}` cannot be read as a prompt file: {err}", record.meta.number, record.meta.name)
    })
}

/// The text of a one-user-message prompt (a Langfuse text prompt).
fn text_of(file: &PromptFile) -> Option<String> {
    match file.messages.as_slice() {
        [Message { role: Role::User, content: Content::Text(text) }] => Some(text.clone()),
        _ => None,
    }
}

fn config_of(file: &PromptFile) -> Value {
    let mut config = serde_json::to_value(&file.params).unwrap_or_else(|_| json!({}));
    if let (Some(model), Value::Object(map)) = (&file.model, &mut config) {
        map.insert("model".to_owned(), Value::String(model.clone()));
    }
    config
}

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").expect("invariant: valid regex"));

/// A promptops prompt file from a Langfuse create body.
fn file_of(body: &CreatePrompt) -> Result<PromptFile, ApiError> {
    let messages = match (&body.prompt, body.kind.as_deref()) {
        (Value::String(text), None | Some("text")) => {
            vec![Message { role: Role::User, content: Content::Text(text.clone()) }]
        }
        (Value::Array(_), None | Some("chat")) => serde_json::from_value::<Vec<ChatMessage>>(body.prompt.clone())
            .map_err(|err| {
                ApiError::bad_request("invalid_prompt", format!("invalid chat messages: {err}"), Some("prompt"))
            })?
            .into_iter()
            .map(|m| Message { role: m.role, content: Content::Text(m.content) })
            .collect(),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_prompt",
                "`prompt` must be a string (type text) or a list of {role, content} messages (type chat)",
                Some("prompt"),
            ));
        }
    };
    let mut variables = BTreeMap::new();
    for message in &messages {
        for found in PLACEHOLDER.captures_iter(&message.content.text()) {
            variables.insert(found[1].to_owned(), VariableSpec::default());
        }
    }
    let mut config = body.config.clone().filter(|c| c.is_object()).unwrap_or_else(|| json!({}));
    let model = config.as_object_mut().and_then(|c| c.remove("model")).and_then(|m| m.as_str().map(str::to_owned));
    let params = serde_json::from_value(config)
        .map_err(|err| ApiError::bad_request("invalid_config", format!("unsupported config: {err}"), Some("config")))?;
    Ok(PromptFile {
        description: None,
        model,
        params,
        variables,
        messages,
        response_schema: None,
        tags: body.tags.clone().unwrap_or_default(),
    })
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
/// prompt, the labels, the role each label needs) comes first, so a refusal writes nothing.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreatePrompt>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = project_of(&caller)?;
    let scope = caller.principal.authorize(Action::Write, &project)?;
    let name = name_of(&body.name)?;
    let file = file_of(&body)?;
    let source = serde_json::to_string_pretty(&file).map_err(|err| ApiError::Internal(Box::new(err)))?;
    let prompt = checked(name.clone(), source, BTreeMap::new())?;
    let (label_scope, labels) =
        movable_labels(&state, &caller, &project, body.labels.as_deref().unwrap_or_default(), "labels")?;
    let message = body.commit_message.clone().unwrap_or_default();
    let outcomes = state.registry(scope.clone(), &caller).commit(&[prompt], &message).await?;
    let (CommitOutcome::Created(meta) | CommitOutcome::Unchanged(meta)) =
        outcomes.into_iter().next().ok_or_else(|| ApiError::Internal("commit returned nothing".into()))?;
    move_labels(&state, &caller, label_scope, &name, &labels, meta.number).await?;
    let record = state.registry(scope.clone(), &caller).resolve(&name, &Selector::Version(meta.number)).await?;
    Ok((StatusCode::CREATED, Json(prompt_json(&state, &caller, &scope, &record).await?)))
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
    Ok(Json(prompt_json(&state, &caller, &scope, &record).await?))
}

/// `GET /api/public/v2/prompts`: prompt metadata, paged by `page` (from 1) and `limit`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let project = project_of(&caller)?;
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let registry = state.registry(scope, &caller);
    let labels = registry.labels(None).await?;
    let mut items = Vec::new();
    for summary in crate::service::RegistryService::prompts(&registry).await? {
        let name = &summary.latest.name;
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
        let keep = query.name.as_ref().is_none_or(|n| n == name.as_str())
            && query.label.as_ref().is_none_or(|q| q == Label::LATEST || own.iter().any(|l| l.label.as_str() == q))
            && query.tag.as_ref().is_none_or(|t| file.tags.contains(t));
        if keep {
            let mut label_names: BTreeSet<String> = own.iter().map(|l| l.label.to_string()).collect();
            label_names.insert(Label::LATEST.to_owned());
            items.push(json!({
                "name": name,
                "type": if text_of(&file).is_some() { "text" } else { "chat" },
                "versions": (1..=summary.version_count).collect::<Vec<_>>(),
                "labels": label_names,
                "tags": file.tags,
                "lastUpdatedAt": summary.latest.created_at,
                "lastConfig": config_of(&file),
            }));
        }
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
