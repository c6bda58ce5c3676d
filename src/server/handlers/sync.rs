//! `/api/v1/projects/{project}/sync`: what `promptops push` and `pull` exchange. The rules of what
//! may be written (versions matched by number and hash, conflicts held back) are
//! [`crate::registry::sync`]'s; this module only authorizes and invalidates the label cache.

use axum::Json;
use axum::extract::State;

use crate::access::Action;
use crate::registry::sync::{self, SyncBundle, SyncReport};
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiJson, ApiPath};
use crate::server::state::AppState;

/// `GET /projects/{project}/sync`: every version (with content) and label of the project.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<SyncBundle>, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    Ok(Json(sync::export(state.store.as_ref(), &scope, &[]).await?))
}

/// `POST /projects/{project}/sync`: applies a pushed bundle, checked like commits and recorded as
/// committed by the caller. Editors may push; a bundle that sets a protected label needs the
/// role that may move it.
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(bundle): ApiJson<SyncBundle>,
) -> Result<Json<SyncReport>, ApiError> {
    let protected = bundle.labels.iter().any(|l| state.is_protected(&l.label));
    let action = if protected { Action::MoveProtectedLabel } else { Action::Write };
    let scope = caller.principal.authorize(action, &project)?;
    let report =
        sync::apply(state.store.as_ref(), &scope, bundle, &caller.principal.subject, sync::Direction::Push).await;
    state.prompts.invalidate();
    Ok(Json(report?))
}
