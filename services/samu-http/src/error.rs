//! Errors as JSON: `{"error": "...", "field": "..."}` with a 4xx/5xx status.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use samu_domain::ValidationError;
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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}
