//! Errors to `tonic::Status`, in one place.

use samu_domain::ValidationError;
use samu_runtime::{registry::RegistryError, AuthError, IngestError, RateLimited};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `INVALID_ARGUMENT` whose message and `BadRequest` details name the field.
pub fn invalid(e: &ValidationError) -> Status {
    Status::with_error_details(
        Code::InvalidArgument,
        e.to_string(),
        ErrorDetails::with_bad_request_violation(e.field.clone(), e.message.clone()),
    )
}

/// Authentication failures.
pub fn unauthenticated(e: &AuthError) -> Status {
    Status::unauthenticated(e.to_string())
}

/// Over a rate limit: `RESOURCE_EXHAUSTED`, the message naming the limit,
/// with a `RetryInfo` detail saying when a retry can succeed.
pub fn rate_limited(e: &RateLimited) -> Status {
    Status::with_error_details(
        Code::ResourceExhausted,
        e.to_string(),
        ErrorDetails::with_retry_info(Some(e.retry_after)),
    )
}

/// Ingest failures.
pub fn from_ingest(e: &IngestError) -> Status {
    match e {
        IngestError::Invalid(v) => invalid(v),
        IngestError::UnknownUnit(_) => Status::not_found(e.to_string()),
        IngestError::ShuttingDown => Status::unavailable(e.to_string()),
    }
}

/// Registry failures. Store errors are logged with their cause and reported
/// without internals.
pub fn from_registry(e: &RegistryError) -> Status {
    match e {
        RegistryError::Invalid(v) => invalid(v),
        RegistryError::NotFound { .. } => Status::not_found(e.to_string()),
        RegistryError::Store(inner) => {
            tracing::error!(error = %inner, "store failure in an admin call");
            Status::internal("the store failed; see the server log")
        }
    }
}
