//! `/api/v1/projects/{project}/runs`: eval runs uploaded by the CLI (`eval --remote`), listed,
//! shown with their report, their results paged, and two runs compared, over the local
//! [`crate::service::RunService`]. Experiments (A/B) are `experiments.rs`'.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{decode_cursor, encode_cursor, newest_first, page_of};
use crate::access::{Action, Scope};
use crate::api::{CompareQuery, Page, ResultListQuery, RunListQuery, RunUpload};
use crate::eval::compare::Comparison;
use crate::eval::report::RunReport;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::server::metrics::RunUsage;
use crate::server::state::AppState;
use crate::service::{LocalRuns, RunService};
use crate::store::{ResultQuery, ResultRecord, RunRecord, UnitKey};

fn runs(state: &AppState, scope: Scope) -> LocalRuns {
    LocalRuns::new(Arc::clone(&state.store), scope)
}

/// `POST /projects/{project}/runs` (runner): stores a run and its results; the server numbers it,
/// records the caller as who ran it and derives its status from the results. The run and every
/// result are checked first, so a bad body writes nothing.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(mut body): ApiJson<RunUpload>,
) -> Result<(StatusCode, Json<RunRecord>), ApiError> {
    let scope = caller.principal.authorize(Action::Run, &project)?;
    body.run.draft.actor.clone_from(&caller.principal.subject);
    let usage = RunUsage::of(&body.run.draft.providers, &body.results);
    let stored = runs(&state, scope).upload(body).await?;
    state.metrics.run_uploaded(usage);
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `GET /projects/{project}/runs?suite=`: newest first, paged.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<RunListQuery>,
) -> Result<Json<Page<RunRecord>>, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let suite = query.suite.as_deref();
    let page = newest_first(&query, |before, limit| state.store.runs(&scope, suite, before, limit), |r| r.id).await?;
    Ok(Json(page))
}

/// `GET /projects/{project}/runs/{run}`: the run's report (the run, its groups and problems).
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, run)): ApiPath<(String, String)>,
) -> Result<Json<RunReport>, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let service = runs(&state, scope);
    let record = service.run(&run).await?;
    Ok(Json(service.report(record).await?))
}

fn unit_cursor(unit: &UnitKey) -> String {
    encode_cursor(&format!("{}.{}.{}.{}", unit.target, unit.provider, unit.case, unit.repeat))
}

fn parse_unit(cursor: Option<&str>) -> Result<Option<UnitKey>, ApiError> {
    let invalid = || ApiError::bad_request("invalid_cursor", "the cursor is not one this server made", Some("cursor"));
    decode_cursor(cursor)?
        .map(|text| {
            let parts: Vec<u32> = text.split('.').map(str::parse).collect::<Result<_, _>>().map_err(|_| invalid())?;
            match parts.as_slice() {
                [target, provider, case, repeat] => {
                    Ok(UnitKey { target: *target, provider: *provider, case: *case, repeat: *repeat })
                }
                _ => Err(invalid()),
            }
        })
        .transpose()
}

/// `GET /projects/{project}/runs/{run}/results?problems_only=`: results in unit order, paged.
pub async fn results(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, run)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ResultListQuery>,
) -> Result<Json<Page<ResultRecord>>, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let record = runs(&state, scope.clone()).run(&run).await?;
    let limit = crate::api::PageQuery { limit: query.limit, cursor: None }.limit();
    let after = parse_unit(query.cursor.as_deref())?;
    let result_query = ResultQuery { problems_only: query.problems_only, after, limit: Some(limit + 1) };
    let items = state.store.results(&scope, record.id, result_query).await?;
    Ok(Json(page_of(items, limit, |r| unit_cursor(&r.unit))))
}

/// `GET /projects/{project}/runs/compare?before=&after=`: two runs compared case by case.
pub async fn compare(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<CompareQuery>,
) -> Result<Json<Comparison>, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let service = runs(&state, scope);
    let (before, after) = (service.run(&query.before).await?, service.run(&query.after).await?);
    Ok(Json(service.compare(before, after).await?))
}
