//! Errors as JSON: `{"error": "...", "field": "..."}` with a 4xx/5xx status.

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use samu_domain::ValidationError;
use samu_runtime::{access::AccessError, RateLimited};
use serde::Serialize;

/// An HTTP error with a JSON body.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// What went wrong, in plain words.
    error: String,
    /// A stable code: `invalid_argument`, `unauthenticated`, …
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// The same words as `error`, for clients that read `message`.
    message: String,
    /// Seconds to wait before trying again (`Retry-After`), for 429.
    #[serde(skip)]
    retry_after_s: Option<u64>,
}

/// The stable code of a status.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_argument",
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "not_found",
        409 => "failed_precondition",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "invalid_argument",
        429 => "resource_exhausted",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "error",
    }
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            error: message.clone(),
            code: code_of(status),
            field: None,
            message,
            retry_after_s: None,
        }
    }
}

impl From<AccessError> for ApiError {
    /// 401 for the token, 429 over the rate limit, 403 for the role table.
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Unauthenticated(e) => {
                ApiError::new(StatusCode::UNAUTHORIZED, e.to_string())
            }
            AccessError::Limited(e) => e.into(),
            AccessError::Denied { .. } => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
        }
    }
}

impl From<RateLimited> for ApiError {
    /// 429 with code `rate_limited`, the message naming the limit, and
    /// `Retry-After` in whole seconds.
    fn from(e: RateLimited) -> Self {
        let message = e.to_string();
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: message.clone(),
            code: "rate_limited",
            field: None,
            message,
            retry_after_s: Some(e.retry_after_s()),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let message = e.to_string();
        Self {
            status: StatusCode::BAD_REQUEST,
            error: message.clone(),
            code: "invalid_argument",
            field: Some(e.field),
            message,
            retry_after_s: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.retry_after_s {
            Some(s) => (
                self.status,
                [(header::RETRY_AFTER, s.to_string())],
                Json(self),
            )
                .into_response(),
            None => (self.status, Json(self)).into_response(),
        }
    }
}
