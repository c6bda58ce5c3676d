//! `/api/v1/projects/{project}/experiments`: A/B experiments recorded by `ab --remote` (their
//! arms' runs uploaded first), listed newest first and shown, over the local
//! [`crate::service::ExperimentService`], which checks an upload before storing it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::newest_first;
use crate::access::{Action, Scope};
use crate::api::{Page, RunListQuery};
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::server::state::AppState;
use crate::service::{ExperimentService, LocalExperiments};
use crate::store::{ExperimentDraft, ExperimentRecord};

fn experiments(state: &AppState, scope: Scope) -> LocalExperiments {
    LocalExperiments::new(Arc::clone(&state.store), scope)
}

/// `POST /projects/{project}/experiments` (runner): records an experiment; the server numbers
/// it and records the caller as who ran it. Its arms' runs must be in the project already.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(mut body): ApiJson<ExperimentDraft>,
) -> Result<(StatusCode, Json<ExperimentRecord>), ApiError> {
    let scope = caller.principal.authorize(Action::Run, &project)?;
    body.actor.clone_from(&caller.principal.subject);
    let stored = experiments(&state, scope).record(body).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `GET /projects/{project}/experiments?suite=`: newest first, paged.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<RunListQuery>,
) -> Result<Json<Page<ExperimentRecord>>, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let suite = query.suite.as_deref();
    let page =
        newest_first(&query, |before, limit| state.store.experiments(&scope, suite, before, limit), |e| e.id).await?;
    Ok(Json(page))
}

/// `GET /projects/{project}/experiments/{experiment}`: one experiment (number or `latest`).
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, experiment)): ApiPath<(String, String)>,
) -> Result<Json<ExperimentRecord>, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    Ok(Json(experiments(&state, scope).experiment(&experiment).await?))
}
