//! The server's one error type, [`ApiError`], and the one JSON shape every failure is answered
//! with: `{"error": {"code", "message", "hint", "path"}}`. Each variant's doc names its status.
//! `From` impls let handlers use `?` on library errors. Internal details are logged inside the
//! request's span (so with its request id) and never sent. [`ApiJson`] gives malformed bodies
//! the same shape, with the JSON path of the offending field; [`ApiQuery`] and [`ApiPath`] do the
//! same for parameters.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ab::AbError;
use crate::access::AccessError;
use crate::api::upload::BodyProblem;
use crate::error::Diagnostic;
use crate::eval::EvalError;
use crate::prompt::NameError;
use crate::registry::RegistryError;
use crate::store::{SlugError, StoreError};

/// Why a request failed. The `code`s are stable: clients match on them.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 Bad Request: a parameter or the body is invalid.
    #[error("{message}")]
    BadRequest {
        /// Stable code (`invalid_json`, `invalid_parameter`, `invalid_prompt`, …).
        code: &'static str,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
        /// The JSON path or parameter name, if one field is at fault.
        path: Option<String>,
    },
    /// 401 Unauthorized: no credentials, or credentials that are unknown, expired or revoked.
    #[error("{message}")]
    Unauthenticated {
        /// What is wrong with the credentials.
        message: String,
    },
    /// 403 Forbidden: authenticated, but the role is too weak.
    #[error("{message}")]
    Forbidden {
        /// What was refused.
        message: String,
        /// What would allow it.
        hint: Option<String>,
    },
    /// 404 Not Found: no such object in the caller's tenant (objects of other tenants look missing).
    #[error("{message}")]
    NotFound {
        /// Stable code (`not_found`, `unknown_prompt`, `unknown_version`, `unknown_label`, …).
        code: &'static str,
        /// What is missing.
        message: String,
        /// What does exist.
        hint: Option<String>,
    },
    /// 409 Conflict: the object exists already, or the state forbids the change.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// What conflicts.
        message: String,
        /// How to proceed.
        hint: Option<String>,
    },
    /// 413 Content Too Large: the body is larger than the server's `--body-limit`.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 429 Too Many Requests: the token's rate limit is spent; retry after `retry_after` seconds.
    #[error("rate limit exceeded")]
    RateLimited {
        /// Seconds until a request will be accepted.
        retry_after: u64,
    },
    /// 503 Service Unavailable: the database does not answer, or the server is shutting down.
    #[error("{message}")]
    Unavailable {
        /// Why.
        message: String,
    },
    /// 500 Internal Server Error: a bug or a backend failure; logged, never described to the client.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The body of every error answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code to match on.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// How to fix it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The JSON path or parameter at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl ApiError {
    /// A 400 with a code, a message and the field at fault.
    pub fn bad_request(code: &'static str, message: impl Into<String>, path: Option<&str>) -> Self {
        Self::BadRequest { code, message: message.into(), hint: None, path: path.map(str::to_owned) }
    }

    /// A 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound { code: "not_found", message: message.into(), hint: None }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::NotFound { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unauthenticated { .. } => "unauthenticated",
            Self::Forbidden { .. } => "forbidden",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        let (hint, path) = match self {
            Self::BadRequest { hint, path, .. } => (hint.clone(), path.clone()),
            Self::Forbidden { hint, .. } | Self::NotFound { hint, .. } | Self::Conflict { hint, .. } => {
                (hint.clone(), None)
            }
            Self::Unauthenticated { .. } => {
                (Some("send `Authorization: Bearer TOKEN` with an API token or a JWT".to_owned()), None)
            }
            Self::RateLimited { retry_after } => (Some(format!("retry after {retry_after} s")), None),
            Self::PayloadTooLarge => (Some("send a smaller body, or raise the server's --body-limit".to_owned()), None),
            Self::Unavailable { .. } | Self::Internal(_) => (None, None),
        };
        ErrorBody { error: ErrorDetail { code: self.code().to_owned(), message: self.to_string(), hint, path } }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(source) = &self {
            tracing::error!(error = %source, "internal error");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Self::RateLimited { retry_after } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

fn first_hint(err: &impl Diagnostic) -> Option<String> {
    let hints = err.hints();
    (!hints.is_empty()).then(|| hints.join("; "))
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let hint = first_hint(&err);
        let message = err.to_string();
        match err {
            StoreError::VersionNotFound { .. } => Self::NotFound { code: "unknown_version", message, hint },
            StoreError::RunNotFound { .. } => Self::NotFound { code: "unknown_run", message, hint },
            StoreError::NotFound { .. } => Self::NotFound { code: "not_found", message, hint },
            StoreError::Conflict { .. } => Self::Conflict { code: "already_exists", message, hint },
            StoreError::Connect { .. } => {
                tracing::error!(error = %message, "database unreachable");
                Self::Unavailable { message: "the database is unreachable".to_owned() }
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        let hint = first_hint(&err);
        let message = err.to_string();
        let code = match err {
            RegistryError::Store(store) => return store.into(),
            RegistryError::UnknownPrompt { .. } => "unknown_prompt",
            RegistryError::UnknownVersion { .. } => "unknown_version",
            RegistryError::UnknownLabel { .. } => "unknown_label",
            RegistryError::AmbiguousHash { .. } => {
                return Self::BadRequest { code: "ambiguous_hash", message, hint, path: None };
            }
            RegistryError::LatestIsAutomatic => {
                return Self::BadRequest { code: "latest_is_automatic", message, hint, path: None };
            }
            RegistryError::Protected { .. } => return Self::Forbidden { message, hint },
            RegistryError::BadBundle { code, path, .. } => {
                return Self::BadRequest { code, message, hint, path: Some(path) };
            }
            RegistryError::NoEarlierVersion { .. } => {
                return Self::Conflict { code: "no_earlier_version", message, hint };
            }
            // The server runs the local registry: a remote service's failure cannot reach here.
            RegistryError::Service(service) => return Self::Internal(Box::new(service)),
        };
        Self::NotFound { code, message, hint }
    }
}

impl From<AccessError> for ApiError {
    fn from(err: AccessError) -> Self {
        let hint = first_hint(&err);
        match err {
            AccessError::UnknownProject { .. } => {
                Self::NotFound { code: "unknown_project", message: err.to_string(), hint }
            }
            _ => Self::Forbidden { message: err.to_string(), hint },
        }
    }
}

impl From<EvalError> for ApiError {
    fn from(err: EvalError) -> Self {
        let hint = first_hint(&err);
        match err {
            EvalError::Store(store) => store.into(),
            EvalError::NoRuns => Self::NotFound { code: "unknown_run", message: err.to_string(), hint },
            EvalError::BadRunRef { .. } => {
                Self::BadRequest { code: "invalid_parameter", message: err.to_string(), hint, path: None }
            }
            EvalError::BadUpload(ref problem) => invalid_upload("invalid_run", &err.to_string(), problem),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<AbError> for ApiError {
    fn from(err: AbError) -> Self {
        let hint = first_hint(&err);
        match err {
            AbError::Store(store) => store.into(),
            AbError::ExperimentNotFound { .. } => {
                Self::NotFound { code: "unknown_experiment", message: err.to_string(), hint }
            }
            AbError::BadExperimentRef { .. } => {
                Self::BadRequest { code: "invalid_parameter", message: err.to_string(), hint, path: None }
            }
            AbError::BadUpload(ref problem) => invalid_upload("invalid_experiment", &err.to_string(), problem),
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// A 400 for an uploaded body that cannot be stored, naming the field at fault.
fn invalid_upload(code: &'static str, what: &str, problem: &BodyProblem) -> ApiError {
    ApiError::BadRequest {
        code,
        message: format!("{what}: {}", problem.message),
        hint: Some("see docs/server.md for what an upload must hold".to_owned()),
        path: Some(problem.path.clone()),
    }
}

impl From<NameError> for ApiError {
    fn from(err: NameError) -> Self {
        let hint = first_hint(&err);
        Self::BadRequest { code: "invalid_name", message: err.to_string(), hint, path: None }
    }
}

impl From<SlugError> for ApiError {
    fn from(err: SlugError) -> Self {
        Self::BadRequest { code: "invalid_id", message: err.to_string(), hint: None, path: None }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(err: QueryRejection) -> Self {
        Self::bad_request("invalid_parameter", err.body_text(), None)
    }
}

impl From<PathRejection> for ApiError {
    fn from(err: PathRejection) -> Self {
        Self::bad_request("invalid_parameter", err.body_text(), None)
    }
}

/// Query parameters that, when invalid, are answered with [`ApiError`] (`invalid_parameter`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(axum::extract::Query::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// Path parameters that, when invalid, are answered with [`ApiError`] (`invalid_parameter`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(axum::extract::Path::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// A JSON body that, when malformed, is answered with [`ApiError`] naming the JSON path at fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes::Bytes::from_request(request, state).await.map_err(|err: BytesRejection| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::bad_request("invalid_body", err.body_text(), None)
            }
        })?;
        parse_json(&bytes).map(Self)
    }
}

/// Parses a JSON body; a failure names the path of the field at fault (`prompts[2].name`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // An empty body is an empty object, so bodies whose fields are all optional may be left out.
    let bytes = if bytes.trim_ascii().is_empty() { b"{}".as_slice() } else { bytes };
    // Every body is an object; serde would also read a struct from an array of its fields.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::BadRequest {
            code: "invalid_json",
            message: "the request body must be a JSON object".to_owned(),
            hint: Some("see docs/server.md or /api/v1/openapi.json for the expected shape".to_owned()),
            path: None,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let path = (path != ".").then_some(path);
        ApiError::BadRequest {
            code: "invalid_json",
            message: format!("invalid JSON body: {inner}"),
            hint: Some("see docs/server.md or /api/v1/openapi.json for the expected shape".to_owned()),
            path,
        }
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::bad_request("invalid_json", format!("invalid JSON body: {err}"), None))?;
    Ok(value)
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
