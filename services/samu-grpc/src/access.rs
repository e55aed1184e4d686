//! Who may call what: bearer tokens and the RPC × role table.
//!
//! The table itself lives in `samu_runtime::access`, shared with the HTTP
//! facade; `docs/roles.md` prints it and a test walks every cell.

use samu_runtime::Central;
use samu_store::Credential;
use tonic::{metadata::MetadataMap, Status};

use crate::status::{rate_limited, unauthenticated};

pub use samu_runtime::access::{AccessError, Rpc};

/// The bearer token of a call's metadata.
fn bearer(metadata: &MetadataMap) -> &str {
    metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or("")
}

/// Authenticates a call, spends one call of the caller's rate limit and
/// checks its role against the table ([`Central::authorize`], shared with
/// the HTTP facade).
///
/// # Errors
/// `UNAUTHENTICATED` for a missing or unknown token, `RESOURCE_EXHAUSTED`
/// (with `RetryInfo`) over the caller's rate limit, `PERMISSION_DENIED` for
/// a role the table does not allow.
pub fn authorize(
    central: &Central,
    metadata: &MetadataMap,
    rpc: Rpc,
) -> Result<Credential, Status> {
    central
        .authorize(bearer(metadata), rpc)
        .map_err(|e| match e {
            AccessError::Unauthenticated(e) => unauthenticated(&e),
            AccessError::Limited(e) => rate_limited(&e),
            AccessError::Denied { .. } => Status::permission_denied(e.to_string()),
        })
}
