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
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            error: message.into(),
            field: None,
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: e.to_string(),
            field: Some(e.field),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}
