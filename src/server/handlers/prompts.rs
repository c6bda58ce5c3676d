//! `/api/v1/projects/{project}/prompts` and labels, over the local [`crate::registry::Registry`]
//! (DESIGN boundary 3). A prompt name containing `/` is sent percent-encoded as one path segment
//! (`support%2Ftriage`). Fetches by label go through the in-memory cache.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::paginate;
use crate::access::Action;
use crate::api::{
    CommitRequest, DiffQuery, LabelQuery, NewVersion, Page, PromptListQuery, Rollback, SetLabel, VersionQuery,
};
use crate::prompt::{Label, LoadedPrompt, PromptName, PromptRef, Selector};
use crate::registry::PromptLog;
use crate::registry::diff::{DiffSide, FileDiff, diff_prompts};
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::server::metrics::FetchSource;
use crate::server::state::AppState;
use crate::store::{CommitOutcome, LabelMove, LabelRecord, PromptSummary, VersionRecord};

type ApiResult<T> = Result<Json<T>, ApiError>;

fn prompt_name(text: &str) -> Result<PromptName, ApiError> {
    PromptName::new(text).map_err(|err| ApiError::BadRequest {
        code: "invalid_name",
        hint: Some("prompt names with `/` are sent percent-encoded as one path segment: `support%2Ftriage`".to_owned()),
        message: err.to_string(),
        path: Some("name".to_owned()),
    })
}

fn label_name(text: &str) -> Result<Label, ApiError> {
    Label::new(text).map_err(|err| ApiError::bad_request("invalid_label", err.to_string(), Some("label")))
}

/// `GET /projects/{project}/prompts`: prompts with their latest version, by name.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<PromptListQuery>,
) -> ApiResult<Page<PromptSummary>> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let registry = state.registry(scope, &caller);
    let mut prompts = crate::service::RegistryService::prompts(&registry).await?;
    if let Some(prefix) = &query.prefix {
        prompts.retain(|p| p.latest.name.as_str().starts_with(prefix.as_str()));
    }
    if let Some(label) = &query.label {
        let labelled = registry.labels(None).await?;
        prompts.retain(|p| labelled.iter().any(|l| l.name == p.latest.name && l.label.as_str() == label));
    }
    Ok(Json(paginate(prompts, query.limit, query.cursor.as_deref(), |p| p.latest.name.to_string())?))
}

/// `GET /projects/{project}/prompts/{name}?version=|label=`: one version with its content.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let name = prompt_name(&name)?;
    let selector = match (query.version, query.label) {
        (Some(n), _) => Selector::Version(n),
        (None, Some(label)) if label == Label::LATEST => Selector::Latest,
        (None, Some(label)) => {
            let record = by_label(&state, &caller, scope, &name, &label).await?;
            return Ok(Json(record.as_ref()).into_response());
        }
        (None, None) => Selector::Latest,
    };
    Ok(Json(state.registry(scope, &caller).resolve(&name, &selector).await?).into_response())
}

/// `name@label` from the cache, else from the store (and then cached).
pub async fn by_label(
    state: &AppState,
    caller: &Caller,
    scope: crate::access::Scope,
    name: &PromptName,
    label: &str,
) -> Result<Arc<VersionRecord>, ApiError> {
    if let Some(hit) = state.prompts.get(&scope, name.as_str(), label) {
        state.metrics.prompt_fetch(FetchSource::Cache);
        return Ok(hit);
    }
    let generation = state.prompts.generation();
    let record =
        Arc::new(state.registry(scope.clone(), caller).resolve(name, &Selector::Named(label.to_owned())).await?);
    state.metrics.prompt_fetch(FetchSource::Store);
    state.prompts.put(generation, &scope, name.as_str(), label, Arc::clone(&record));
    Ok(record)
}

/// A prompt from a request, checked like `promptops commit` checks files
/// ([`crate::prompt::check_sent`], which pushed versions go through too).
pub fn checked(
    name: PromptName,
    source: String,
    partials: crate::prompt::PartialSet,
) -> Result<LoadedPrompt, ApiError> {
    crate::prompt::check_sent(name, source, partials).map_err(|err| {
        let hints = crate::error::Diagnostic::hints(&err);
        let hint = if hints.is_empty() {
            "the source must be a valid prompt file (see schemas/prompt.schema.json)".to_owned()
        } else {
            hints.join("; ")
        };
        ApiError::BadRequest {
            code: "invalid_prompt",
            message: err.to_string(),
            hint: Some(hint),
            path: Some("source".to_owned()),
        }
    })
}

/// `POST /projects/{project}/prompts/{name}`: commits a version; 201 if new, 200 if unchanged.
pub async fn create_version(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<CommitOutcome>), ApiError> {
    let scope = caller.principal.authorize(Action::Write, &project)?;
    let prompt = checked(prompt_name(&name)?, body.source, body.partials)?;
    let outcome = state.registry(scope, &caller).commit(&[prompt], &body.message).await;
    // A new version moves `latest`, which the Langfuse route serves from memory.
    state.prompts.invalidate();
    let outcome = outcome?;
    let outcome = outcome.into_iter().next().ok_or_else(|| ApiError::Internal("commit returned nothing".into()))?;
    let status = if matches!(outcome, CommitOutcome::Created(_)) { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(outcome)))
}

/// `POST /projects/{project}/commits`: commits several prompts in one transaction.
pub async fn commit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<CommitRequest>,
) -> ApiResult<Vec<CommitOutcome>> {
    let scope = caller.principal.authorize(Action::Write, &project)?;
    let prompts = body
        .prompts
        .into_iter()
        .enumerate()
        .map(|(index, p)| {
            checked(p.name, p.source, p.partials).map_err(|mut err| {
                if let ApiError::BadRequest { path, .. } = &mut err {
                    *path = Some(format!("prompts[{index}].source"));
                }
                err
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = state.registry(scope, &caller).commit(&prompts, &body.message).await;
    state.prompts.invalidate();
    Ok(Json(outcomes?))
}

/// `GET /projects/{project}/prompts/{name}/log`: versions, labels and moves, newest first.
pub async fn log(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name)): ApiPath<(String, String)>,
) -> ApiResult<PromptLog> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    Ok(Json(state.registry(scope, &caller).log(&prompt_name(&name)?).await?))
}

/// `GET /projects/{project}/prompts/{name}/diff?from=&to=`: the files that differ.
pub async fn diff(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<DiffQuery>,
) -> ApiResult<Vec<FileDiff>> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let name = prompt_name(&name)?;
    let registry = state.registry(scope, &caller);
    let mut sides = Vec::new();
    for (text, parameter) in [(query.from.as_str(), "from"), (query.to.as_deref().unwrap_or(Label::LATEST), "to")] {
        let reference: PromptRef = format!("{name}@{text}").parse().map_err(|err: crate::prompt::NameError| {
            ApiError::bad_request("invalid_parameter", err.to_string(), Some(parameter))
        })?;
        let record = registry.resolve(&name, &reference.selector).await?;
        let label = format!("{name}@{}", record.meta.number);
        sides.push(DiffSide { label, source: record.source, partials: record.partials });
    }
    Ok(Json(diff_prompts(&sides[0], &sides[1])))
}

/// `GET /projects/{project}/labels?name=`: where labels point.
pub async fn labels(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<LabelQuery>,
) -> ApiResult<Page<LabelRecord>> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let labels = state.registry(scope, &caller).labels(query.name.as_ref()).await?;
    Ok(Json(paginate(labels, query.limit, query.cursor.as_deref(), |l| format!("{}\u{0}{}", l.name, l.label))?))
}

/// `GET /projects/{project}/prompts/{name}/labels/history`: every move, oldest first.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name)): ApiPath<(String, String)>,
) -> ApiResult<Vec<LabelMove>> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let log = state.registry(scope, &caller).log(&prompt_name(&name)?).await?;
    Ok(Json(log.moves))
}

/// The scope for moving `label`: protected labels need an admin.
fn authorize_move(
    state: &AppState,
    caller: &Caller,
    project: &str,
    label: &Label,
) -> Result<crate::access::Scope, ApiError> {
    let action = if state.is_protected(label) { Action::MoveProtectedLabel } else { Action::Write };
    Ok(caller.principal.authorize(action, project)?)
}

/// `PUT /projects/{project}/prompts/{name}/labels/{label}`: sets or moves a label.
pub async fn set_label(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name, label)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<SetLabel>,
) -> ApiResult<LabelMove> {
    let (name, label) = (prompt_name(&name)?, label_name(&label)?);
    let scope = authorize_move(&state, &caller, &project, &label)?;
    let moved = state.registry(scope, &caller).set_label(&name, &label, body.version, true).await;
    state.prompts.invalidate();
    Ok(Json(moved?))
}

/// `DELETE /projects/{project}/prompts/{name}/labels/{label}`: removes a label.
pub async fn remove_label(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name, label)): ApiPath<(String, String, String)>,
) -> ApiResult<LabelMove> {
    let (name, label) = (prompt_name(&name)?, label_name(&label)?);
    let scope = authorize_move(&state, &caller, &project, &label)?;
    let moved = state.registry(scope, &caller).remove_label(&name, &label, true).await;
    state.prompts.invalidate();
    Ok(Json(moved?))
}

/// `POST /projects/{project}/prompts/{name}/labels/{label}/rollback`: moves a label back.
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name, label)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<Rollback>,
) -> ApiResult<LabelMove> {
    let (name, label) = (prompt_name(&name)?, label_name(&label)?);
    let scope = authorize_move(&state, &caller, &project, &label)?;
    let moved = state.registry(scope, &caller).rollback(&name, &label, body.to, true).await;
    state.prompts.invalidate();
    Ok(Json(moved?))
}
