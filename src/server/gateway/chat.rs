//! The `/v1` handlers. A chat request is parsed, its prompt resolved and rendered, its connection
//! and price found, then admitted on the meters (key, project, tenant: rates, calls in flight,
//! budgets reserved) before the pool calls the model. A stream's headers wait for its first
//! event, so a failure before the first byte is still a proper error status; once streaming, the
//! call runs in a task that the response body aborts when the client hangs up, and the request's
//! ticket then settles on the tokens seen.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::KeyCaller;
use super::prompts::{self, Managed};
use super::wire::{self, OpenAiError};
use crate::access::TenantScope;
use crate::gateway::pool::{Built, ProjectPool};
use crate::gateway::{GatewayError, Ticket, limits};
use crate::money::Micros;
use crate::provider::layer::CacheMode;
use crate::provider::layer::rate_limit::DEFAULT_OUTPUT_ESTIMATE;
use crate::provider::{ChatRequest, ChatResponse, EmbedRequest};
use crate::server::state::AppState;
use crate::store::{Admission, MeterRequest, MeterScope};

/// The request header that turns the response cache on or off for one request.
pub const CACHE_HEADER: &str = "x-promptops-cache";

fn parse_body(body: Result<Bytes, BytesRejection>) -> Result<Value, OpenAiError> {
    let bytes = body.map_err(|err| {
        let status = err.status();
        OpenAiError { status, ..OpenAiError::invalid("body", "invalid_body", err.body_text()) }
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|err| OpenAiError::invalid("body", "invalid_json", format!("the body is not valid JSON: {err}")))?;
    if !value.is_object() {
        return Err(OpenAiError::invalid("body", "invalid_json", "the body must be a JSON object"));
    }
    Ok(value)
}

/// A request ready to call: admitted, with everything the answer needs.
struct Prepared {
    connection: String,
    request: ChatRequest,
    project: Arc<ProjectPool>,
    cache: CacheMode,
    managed: Option<Managed>,
    keep_content: bool,
}

/// How to use the response cache: the header wins, then the connection's setting.
fn cache_choice(headers: &HeaderMap, default: bool) -> Result<CacheMode, OpenAiError> {
    match headers.get(CACHE_HEADER).map(|v| v.to_str().unwrap_or("").to_ascii_lowercase()) {
        None => Ok(cache_mode(default)),
        Some(v) if v == "on" => Ok(CacheMode::ReadWrite),
        Some(v) if v == "off" => Ok(CacheMode::Off),
        Some(v) if v == "refresh" => Ok(CacheMode::Refresh),
        Some(_) => Err(OpenAiError::invalid(CACHE_HEADER, "invalid_value", "use `on`, `off` or `refresh`")),
    }
}

fn cache_mode(on: bool) -> CacheMode {
    if on { CacheMode::ReadWrite } else { CacheMode::Off }
}

/// The end user a request names in `user`: required by a key with an end-user budget.
fn end_user<'a>(key: &KeyCaller, body: &'a Value) -> Result<Option<&'a str>, OpenAiError> {
    let user = wire::text_field(body, "user")?;
    if user.is_some_and(|u| u.is_empty() || u.chars().count() > limits::MAX_USER_CHARS) {
        let message = format!("`user` names an end user in 1 to {} characters", limits::MAX_USER_CHARS);
        return Err(OpenAiError::invalid("user", "invalid_user", message));
    }
    if user.is_none() && key.limits.user_budget.is_some() {
        let message = "this key budgets each end user: name the user in `user` (the SDK's `user=` argument)";
        return Err(OpenAiError::invalid("user", "missing_user", message));
    }
    Ok(user)
}

/// Reserves on the meters; on success the ticket holds the reservation.
async fn admit(
    state: &AppState,
    key: &KeyCaller,
    ticket: &mut Ticket,
    built: &Built,
    body: &Value,
    (input, output): (u64, u64),
) -> Result<(), OpenAiError> {
    let price = built.price;
    let tenant = TenantScope::new(key.scope.tenant());
    let project_settings =
        state.gateway.settings(state.store.as_ref(), key.scope.tenant(), key.scope.project()).await?;
    let tenant_settings = state.gateway.settings(state.store.as_ref(), key.scope.tenant(), "").await?;
    let user = end_user(key, body)?;
    let scopes =
        limits::meter_scopes(&key.key_id, &key.limits, user, key.scope.project(), &project_settings, &tenant_settings);
    let budgeted = scopes.iter().any(|s: &MeterScope| s.daily.is_some() || s.monthly.is_some());
    if budgeted && price.is_none() {
        return Err(GatewayError::Unpriced { connection: ticket.trace.model.clone() }.into());
    }
    let estimate =
        price.map_or(Micros::ZERO, |p| Micros::for_tokens(input, p.input) + Micros::for_tokens(output, p.output));
    let holder = state.gateway.traces.holder().to_owned();
    let request = MeterRequest { scopes, tokens: input + output, estimate, now: Utc::now(), holder };
    let admitted = ticket.admit(&state.store, tenant, request, (price, built.spec.model.clone()), input).await;
    match admitted.map_err(|e| OpenAiError::from(GatewayError::from(e)))? {
        Admission::Admitted => Ok(()),
        Admission::Refused { scope, limit, retry_after } => {
            Err(GatewayError::Limited { scope, limit, retry_after }.into())
        }
    }
}

/// The connection a request's `model` names: one of the project's (or its tenant's), or, where
/// the operator allows `kind:model` names, that model on the connection of that kind.
fn connection_named(state: &AppState, project: &ProjectPool, model: &str) -> Result<Arc<Built>, GatewayError> {
    match project.get(model) {
        Err(GatewayError::UnknownModel { .. }) if state.config.kind_models && model.contains(':') => {
            state.gateway.pool.variant(project, model)
        }
        other => other,
    }
}

async fn prepare(
    state: &AppState,
    key: &KeyCaller,
    headers: &HeaderMap,
    body: &Value,
    ticket: &mut Ticket,
) -> Result<Prepared, OpenAiError> {
    wire::unsupported(body)?;
    let managed = match prompts::named(body, headers)? {
        Some(named) => {
            let managed = prompts::resolve(state, key, &named, prompts::variables(body)?).await?;
            let model = if named.in_model { None } else { wire::text_field(body, "model")?.filter(|m| !m.is_empty()) };
            Some((managed, model.map(ToOwned::to_owned)))
        }
        None => None,
    };
    let connection = match &managed {
        Some((managed, model)) => model.clone().or_else(|| managed.rendered.model.clone()),
        None => wire::text_field(body, "model")?.map(ToOwned::to_owned),
    }
    .ok_or_else(|| {
        OpenAiError::invalid(
            "model",
            "missing_model",
            "name a model (a provider connection), or a prompt whose version names one",
        )
    })?;
    ticket.trace.model = connection.clone();
    let managed = managed.map(|(m, _)| m);
    if let Some(m) = &managed {
        ticket.trace.prompt = Some(m.version.meta.name.to_string());
        ticket.trace.prompt_label = m.label.clone();
        ticket.trace.prompt_version = Some(m.version.meta.number);
    }
    if !key.limits.allows_model(&connection) {
        return Err(GatewayError::NotAllowed { what: format!("model `{connection}`") }.into());
    }
    let mut messages = match &managed {
        Some(m) => prompts::messages(&m.rendered)?,
        None => Vec::new(),
    };
    messages.extend(wire::messages(body, managed.is_none())?);
    if messages.is_empty() {
        return Err(OpenAiError::invalid("messages", "missing_messages", "the request has no messages"));
    }
    let prompt_params = managed.as_ref().map(|m| m.rendered.params.clone()).unwrap_or_default();
    let request = ChatRequest {
        prompt: managed.as_ref().map(|m| m.version.meta.name.to_string()),
        messages,
        params: wire::params(body)?.or(&prompt_params),
        response_schema: wire::response_schema(body)
            .or_else(|| managed.as_ref().and_then(|m| m.rendered.response_schema.clone())),
    };
    let project = state.gateway.pool.project(&key.scope).await?;
    let built = connection_named(state, &project, &connection)?;
    let cache = cache_choice(headers, built.spec.cache)?;
    let input = request.estimated_input_tokens();
    let output = request.params.or(&built.spec.params).max_tokens.map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
    admit(state, key, ticket, &built, body, (input, output)).await?;
    let settings = state.gateway.settings(state.store.as_ref(), key.scope.tenant(), key.scope.project()).await?;
    Ok(Prepared { connection, request, project, cache, managed, keep_content: settings.keep_content })
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// The `x-promptops-*` headers known before the answer.
fn prompt_headers(headers: &mut HeaderMap, ticket: &Ticket) {
    set(headers, "x-promptops-trace-id", &ticket.trace.trace_id);
    if let Some(prompt) = &ticket.trace.prompt {
        let shown = match (&ticket.trace.prompt_label, ticket.trace.prompt_version) {
            (Some(label), _) => format!("{prompt}@{label}"),
            (None, Some(n)) => format!("{prompt}@{n}"),
            (None, None) => prompt.clone(),
        };
        set(headers, "x-promptops-prompt", &shown);
    }
    if let Some(version) = ticket.trace.prompt_version {
        set(headers, "x-promptops-prompt-version", &version.to_string());
    }
}

fn record_answer(ticket: &mut Ticket, prepared: &Prepared, response: &ChatResponse, connection: &str, fallback: bool) {
    ticket.trace.cache = match (prepared.cache, response.cached) {
        (CacheMode::Off, _) => "off",
        (CacheMode::Refresh, _) => "refresh",
        (CacheMode::ReadWrite, true) => "hit",
        (CacheMode::ReadWrite, false) => "miss",
    }
    .to_owned();
    ticket.trace.attempts = response.attempts;
    ticket.trace.fallback = fallback.then(|| connection.to_owned());
    if prepared.keep_content {
        ticket.trace.output = Some(response.text.clone());
        ticket.trace.variables = prepared.managed.as_ref().map(|m| json!(m.variables));
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<AppState>,
    key: KeyCaller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match parse_body(body) {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let mut ticket = Ticket::open(&state.gateway.traces, key.scope.clone(), &key.key_id, "chat", model);
    let prepared = match prepare(&state, &key, &headers, &body, &mut ticket).await {
        Ok(prepared) => prepared,
        Err(err) => return fail(ticket, err),
    };
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = body.pointer("/stream_options/include_usage").and_then(Value::as_bool) == Some(true);
        return stream(ticket, prepared, include_usage).await;
    }
    let answer = prepared.project.chat(&prepared.connection, &prepared.request, prepared.cache, None).await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => return fail(ticket, err.into()),
    };
    record_answer(&mut ticket, &prepared, &answer.response, &answer.connection, answer.fallback);
    let id = format!("chatcmpl-{}", ticket.trace.trace_id);
    let json = wire::completion(&id, ticket.trace.at.timestamp(), &answer.response.model, &answer.response);
    let mut response = (StatusCode::OK, axum::Json(json)).into_response();
    let headers = response.headers_mut();
    prompt_headers(headers, &ticket);
    set(headers, "x-promptops-cost-micros", &answer.response.cost.0.to_string());
    set(headers, "x-promptops-cache", &ticket.trace.cache);
    if answer.fallback {
        set(headers, "x-promptops-fallback", &answer.connection);
    }
    ticket.succeed(answer.response.usage, answer.response.cost, 200);
    response
}

fn fail(ticket: Ticket, err: OpenAiError) -> Response {
    let status = if err.status == StatusCode::TOO_MANY_REQUESTS { "refused" } else { "error" };
    let mut headers = HeaderMap::new();
    prompt_headers(&mut headers, &ticket);
    ticket.fail(status, err.status.as_u16(), err.message.clone());
    let mut response = err.into_response();
    response.headers_mut().extend(headers);
    response
}

/// What the streaming task reports: which connection streams (before its first piece), the
/// pieces, and the end.
enum Event {
    Answering(String),
    Delta(String),
    Done(Box<Result<(ChatResponse, String), OpenAiError>>),
}

/// Aborts the streaming task when the response body is dropped (the client hung up).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn stream(mut ticket: Ticket, prepared: Prepared, include_usage: bool) -> Response {
    let (sender, mut receiver) = mpsc::unbounded_channel::<Event>();
    let mut headers = HeaderMap::new();
    prompt_headers(&mut headers, &ticket);
    let (id, created) = (format!("chatcmpl-{}", ticket.trace.trace_id), ticket.trace.at.timestamp());
    let requested = prepared.connection.clone();
    let task = tokio::spawn(async move {
        let result = {
            let deltas = sender.clone();
            let mut answering = None;
            let mut sink = |delta: &str, connection: &str| {
                if answering.as_deref() != Some(connection) {
                    answering = Some(connection.to_owned());
                    let _ = deltas.send(Event::Answering(connection.to_owned()));
                }
                ticket.saw(delta);
                let _ = deltas.send(Event::Delta(delta.to_owned()));
            };
            prepared.project.chat(&prepared.connection, &prepared.request, prepared.cache, Some(&mut sink)).await
        };
        let done = match result {
            Ok(answer) => {
                record_answer(&mut ticket, &prepared, &answer.response, &answer.connection, answer.fallback);
                let response = answer.response;
                ticket.succeed(response.usage, response.cost, 200);
                Ok((response, answer.connection))
            }
            Err(err) => {
                let err = OpenAiError::from(err);
                ticket.fail("error", err.status.as_u16(), err.message.clone());
                Err(err)
            }
        };
        let _ = sender.send(Event::Done(Box::new(done)));
    });
    let guard = AbortOnDrop(task);
    let first = match receiver.recv().await {
        Some(Event::Done(done)) if done.is_err() => {
            let err = (*done).expect_err("invariant: matched as an error");
            let mut response = err.into_response();
            response.headers_mut().extend(headers);
            return response;
        }
        Some(event) => event,
        None => return OpenAiError::from(GatewayError::Internal("the stream ended".into())).into_response(),
    };
    let model = prepared_model(&first);
    if let Some(answering) = answering(&first).filter(|c| *c != requested) {
        set(&mut headers, "x-promptops-fallback", answering);
    }
    let opening = wire::chunk(&id, created, &model, json!({"role": "assistant", "content": ""}), None);
    let state = (Some(first), receiver, guard, false);
    let events = futures::stream::unfold(state, move |(pending, mut receiver, guard, finished)| {
        let (id, model) = (id.clone(), model.clone());
        async move {
            if finished {
                return None;
            }
            let event = match pending {
                Some(event) => event,
                None => receiver.recv().await?,
            };
            let (text, finished) = match event {
                Event::Answering(_) => (String::new(), false),
                Event::Delta(delta) => (wire::chunk(&id, created, &model, json!({"content": delta}), None), false),
                Event::Done(done) => match *done {
                    Ok((response, _)) => {
                        let reason = response.finish_reason.as_deref().unwrap_or("stop");
                        let mut text = wire::chunk(&id, created, &response.model, json!({}), Some(reason));
                        if include_usage {
                            text.push_str(&wire::usage_chunk(&id, created, &response.model, &response.usage));
                        }
                        text.push_str("data: [DONE]\n\n");
                        (text, true)
                    }
                    Err(err) => (wire::error_event(&err), true),
                },
            };
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(text)), (None, receiver, guard, finished)))
        }
    });
    let opening = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(Bytes::from(opening)) });
    let mut response = Response::new(Body::from_stream(futures::StreamExt::chain(opening, events)));
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.extend(headers);
    response
}

/// The model named in the first chunks: the answer's when the call already ended.
fn prepared_model(first: &Event) -> String {
    match first {
        Event::Done(done) => done.as_ref().as_ref().map(|(r, _)| r.model.clone()).unwrap_or_default(),
        Event::Answering(_) | Event::Delta(_) => String::new(),
    }
}

/// The connection that streams, as the first event says.
fn answering(first: &Event) -> Option<&str> {
    match first {
        Event::Answering(connection) => Some(connection),
        Event::Done(done) => done.as_ref().as_ref().ok().map(|(_, connection)| connection.as_str()),
        Event::Delta(_) => None,
    }
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(state): State<AppState>,
    key: KeyCaller,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match parse_body(body) {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let model = body.get("model").and_then(Value::as_str).unwrap_or("").to_owned();
    let mut ticket = Ticket::open(&state.gateway.traces, key.scope.clone(), &key.key_id, "embeddings", &model);
    let result = async {
        if !key.limits.allows_model(&model) {
            return Err(OpenAiError::from(GatewayError::NotAllowed { what: format!("model `{model}`") }));
        }
        let inputs = wire::embedding_inputs(&body)?;
        let project = state.gateway.pool.project(&key.scope).await?;
        let built = connection_named(&state, &project, &model)?;
        let tokens: u64 = inputs.iter().map(|t| (t.len() as u64).div_ceil(4)).sum();
        admit(&state, &key, &mut ticket, &built, &body, (tokens, 0)).await?;
        let request = EmbedRequest { inputs, model: None };
        Ok(project.embed(&model, &request, cache_mode(built.spec.cache)).await?)
    }
    .await;
    match result {
        Ok(response) => {
            let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
            let json = wire::embeddings(&response.model, &response, base64);
            let usage = crate::provider::Usage { input_tokens: response.usage.input_tokens, ..Default::default() };
            let mut answer = (StatusCode::OK, axum::Json(json)).into_response();
            set(answer.headers_mut(), "x-promptops-trace-id", &ticket.trace.trace_id);
            set(answer.headers_mut(), "x-promptops-cost-micros", &response.cost.0.to_string());
            ticket.succeed(usage, response.cost, 200);
            answer
        }
        Err(err) => fail(ticket, err),
    }
}

/// `GET /v1/models`: the project's connections and the `prompt:` ids this key may use.
pub async fn models(State(state): State<AppState>, key: KeyCaller) -> Result<Response, OpenAiError> {
    let project = state.gateway.pool.project(&key.scope).await?;
    let mut ids: Vec<String> = project.ids().into_iter().filter(|id| key.limits.allows_model(id)).collect();
    let labels =
        state.store.labels(&key.scope, None).await.map_err(|err| OpenAiError::from(GatewayError::from(err)))?;
    ids.extend(
        labels
            .iter()
            .filter(|l| key.limits.allows_prompt(l.name.as_str()))
            .map(|l| format!("prompt:{}@{}", l.name, l.label)),
    );
    Ok((StatusCode::OK, axum::Json(wire::model_list(&ids))).into_response())
}
