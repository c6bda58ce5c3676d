//! Server-side runs over HTTP: `POST …/runs/queue` plans a client's spec as the client did and
//! queues its units (once per `Idempotency-Key`), `POST …/runs/{run}/cancel` stops one, and
//! `GET …/runs/{run}/events` streams its results in write order, then `done`, from any replica
//! and from any point (`Last-Event-ID`), since every event is read back from the store.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use crate::access::{Action, Scope};
use crate::api::{RunEvent, RunStop};
use crate::eval::runner::run_draft;
use crate::runs::{RunSpec, RunsError};
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiJson, ApiPath};
use crate::server::state::AppState;
use crate::service::{LocalRuns, RunService};
use crate::store::{QueuedRunDraft, RunRecord, RunStatus};

/// Longest idempotency key accepted.
const MAX_KEY: usize = 255;
/// Results sent per read of the store.
const PAGE: usize = 500;
/// How often a stream looks for new results while its run is in progress.
const TAIL: Duration = Duration::from_millis(300);

impl From<RunsError> for ApiError {
    fn from(err: RunsError) -> Self {
        let hint = crate::error::Diagnostic::hints(&err).into_iter().next();
        let message = err.to_string();
        match err {
            RunsError::Invalid { path, .. } => {
                Self::BadRequest { code: "invalid_spec", message, hint, path: Some(path) }
            }
            RunsError::Plan { problems } => {
                let all: Vec<String> = problems
                    .iter()
                    .map(|p| {
                        let hints = p.hints.iter().map(|h| format!("\n  hint: {h}"));
                        format!("{p}{}", hints.collect::<String>())
                    })
                    .collect();
                let message = format!("{message}:\n{}", all.join("\n"));
                Self::BadRequest { code: "invalid_suite", message, hint: None, path: None }
            }
            RunsError::Refused { .. } => Self::BadRequest { code: "not_on_server", message, hint, path: None },
            RunsError::PlanMismatch { .. } => Self::Conflict { code: "plan_mismatch", message, hint },
            RunsError::NotQueued { .. } => Self::NotFound { code: "not_queued", message, hint },
            RunsError::Gateway(err) => err.into(),
            RunsError::Store(err) => err.into(),
            RunsError::Bundle { .. } | RunsError::Io { .. } => Self::Internal(Box::new(err)),
        }
    }
}

/// The `Idempotency-Key` header, if given: at most [`MAX_KEY`] visible characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let invalid = || {
        let message = format!("Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters");
        ApiError::bad_request("invalid_parameter", message, Some("Idempotency-Key"))
    };
    let text = value.to_str().map_err(|_| invalid())?;
    if text.is_empty() || text.len() > MAX_KEY || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(text.to_owned()))
}

/// `POST /projects/{project}/runs/queue` (runner): 201 with the new run, or 200 with the run an
/// earlier submission with the same `Idempotency-Key` made. Nothing is queued unless the suite
/// plans on the server exactly as it did on the client.
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(spec): ApiJson<RunSpec>,
) -> Result<(StatusCode, Json<RunRecord>), ApiError> {
    let scope = caller.principal.authorize(Action::Run, &project)?;
    let key = idempotency_key(&headers)?;
    spec.check()?;
    let planned = state.runs.planner.check(&scope, &spec).await?;
    let plan = &planned.plan;
    let git = spec.git_commit.clone().map(|commit| (commit, spec.git_dirty));
    let queued = QueuedRunDraft {
        draft: run_draft(plan, caller.principal.subject.clone(), git),
        units: (0..plan.total()).map(|i| plan.unit(i)).collect(),
        spec: serde_json::to_string(&spec).map_err(|err| ApiError::Internal(Box::new(err)))?,
        idempotency_key: key,
    };
    let (run, created) = state.store.enqueue_run(&scope, queued).await?;
    if let Some(workers) = &state.runs.workers {
        workers.wake();
    }
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(run)))
}

/// `POST /projects/{project}/runs/{run}/cancel` (runner): the run, cancelled.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, run)): ApiPath<(String, String)>,
) -> Result<Json<RunRecord>, ApiError> {
    let scope = caller.principal.authorize(Action::Run, &project)?;
    let record = LocalRuns::new(state.store.clone(), scope.clone()).run(&run).await?;
    if record.status != RunStatus::Running && record.status != RunStatus::Cancelled {
        let message = format!("run {} has already ended ({})", record.id, record.status.as_str());
        return Err(ApiError::Conflict { code: "run_ended", message, hint: None });
    }
    let cancelled = state.store.cancel_run(&scope, record.id, None).await?;
    if let Some(workers) = &state.runs.workers {
        workers.drop_run(&scope, record.id);
    }
    Ok(Json(cancelled))
}

/// `GET /projects/{project}/runs/{run}/events`: `result` events from the one after
/// `Last-Event-ID`, `progress` after each batch, and `done` when the run has ended.
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, run)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let record = LocalRuns::new(state.store.clone(), scope.clone()).run(&run).await?;
    let after = match headers.get("last-event-id") {
        Some(value) => value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).ok_or_else(|| {
            ApiError::bad_request("invalid_parameter", "Last-Event-ID must be a result number", Some("Last-Event-ID"))
        })?,
        None => 0,
    };
    // Only a queued run is still being written by the workers; any other run is streamed as it
    // stands and ends at once, whatever its stored status says.
    let queued = state.store.run_spec(&scope, record.id).await?.is_some();
    let tail = Tail { state, scope, run: record.id, after, ended: false, queued };
    let stream = futures::stream::unfold(tail, |mut tail| async move {
        let events = tail.next().await?;
        Some((futures::stream::iter(events.into_iter().map(Ok)), tail))
    });
    Ok(Sse::new(futures::StreamExt::flatten(stream)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Where one event stream stands.
struct Tail {
    state: AppState,
    scope: Scope,
    run: u64,
    after: u64,
    ended: bool,
    queued: bool,
}

impl Tail {
    /// The next events: new results and the run's progress, `done` once it has ended and every
    /// result is sent, none after that (the stream ends). A store error ends the stream too;
    /// the client reconnects from its last event.
    async fn next(&mut self) -> Option<Vec<Event>> {
        if self.ended {
            return None;
        }
        loop {
            // The run is read before its results: a run seen ended has every result stored.
            let record = self.state.store.run(&self.scope, self.run).await.ok()??;
            let results = self.state.store.results_after(&self.scope, self.run, self.after, PAGE).await.ok()?;
            let more = results.len() == PAGE;
            let mut events: Vec<Event> = results
                .into_iter()
                .map(|r| {
                    self.after = r.seq;
                    event("result", &RunEvent::Result(Box::new(r.result))).id(r.seq.to_string())
                })
                .collect();
            if !events.is_empty() {
                events.push(event("progress", &RunEvent::Run(Box::new(record.clone()))));
            }
            if (record.status != RunStatus::Running || !self.queued) && !more {
                self.ended = true;
                if let Some(stop) = self.stop().await {
                    events.push(event("stopped", &RunEvent::Stopped(stop)));
                }
                events.push(event("done", &RunEvent::Run(Box::new(record))));
            }
            if !events.is_empty() {
                return Some(events);
            }
            tokio::time::sleep(TAIL).await;
        }
    }
}

impl Tail {
    /// Why a worker stopped the run, when one did.
    async fn stop(&self) -> Option<RunStop> {
        if !self.queued {
            return None;
        }
        let stored = self.state.store.run_stop(&self.scope, self.run).await.ok()??;
        serde_json::from_str(&stored).ok()
    }
}

fn event(name: &str, data: &RunEvent) -> Event {
    Event::default().event(name).data(serde_json::to_string(data).unwrap_or_default())
}
