//! The API's one error type and its one JSON envelope.
//!
//! Handlers return `Result<_, ApiError>`; the status code for each variant is
//! decided here and nowhere else, and so are the conversions from the lower
//! layers' refusals. Internal errors are logged once, here, and the client
//! sees only a generic message. [`ErrorBody`] is both what is serialised and
//! what the OpenAPI document describes.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::business::WriteError;
use crate::domain::InvalidPhone;
use crate::domain::tenant::Forbidden;

/// How long a client is asked to wait after a 503: long enough for a
/// locked database to free up or a restarted one to accept connections.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// The one error envelope every `/api` route answers with on failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable.
    #[schema(value_type = String, example = "not_found", pattern = "^(bad_request|unauthorized|forbidden|not_found|conflict|unprocessable|request_timeout|too_many_requests|gone|not_implemented|unavailable|internal)$")]
    pub code: &'static str,
    /// For humans; never contains internal details.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// 401; the message says what to do (log in again, or that the
    /// credentials were wrong without saying which).
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    /// 429 with `Retry-After`, in whole seconds.
    /// 408: the request body stopped arriving.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("service unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Any database error is a 503 the client may retry, never a 500: a locked
/// SQLite file, a stopped PostgreSQL or a statement that timed out all say
/// "not now", and the error is logged once, here.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database unavailable");
        ApiError::Unavailable
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::PhoneTaken(_) => ApiError::Conflict(e.to_string()),
            WriteError::Invalid(problem) => ApiError::Unprocessable(problem),
            WriteError::Db(e) => e.into(),
        }
    }
}

impl From<InvalidPhone> for ApiError {
    fn from(e: InvalidPhone) -> Self {
        ApiError::Unprocessable(e.to_string())
    }
}

impl From<Forbidden> for ApiError {
    fn from(e: Forbidden) -> Self {
        ApiError::Forbidden(e.0.to_string())
    }
}

impl ApiError {
    /// 401 for a request without a valid session.
    pub const UNAUTHENTICATED: ApiError = ApiError::Unauthorized("authentication required");

    /// 429 asking the client to wait `wait`, rounded up so a client that
    /// waits exactly this long is let in.
    pub fn retry_after(wait: std::time::Duration) -> Self {
        ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code in the envelope.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::BodyTimeout => "request_timeout",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Gone(_) => "gone",
            ApiError::NotImplemented(_) => "not_implemented",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
            },
        });
        match self {
            ApiError::TooManyRequests { retry_after_secs } => (
                self.status(),
                [(RETRY_AFTER, retry_after_secs.to_string())],
                body,
            )
                .into_response(),
            ApiError::Unavailable => (
                self.status(),
                [(RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECS.to_string())],
                body,
            )
                .into_response(),
            _ => (self.status(), body).into_response(),
        }
    }
}
