//! Who may call what: bearer tokens and the RPC × role table.
//!
//! The table itself lives in `samu_runtime::access`, shared with the HTTP
//! facade; `docs/roles.md` prints it and a test walks every cell.

use samu_runtime::Central;
use samu_store::Credential;
use tonic::{metadata::MetadataMap, Status};

use crate::status::unauthenticated;

pub use samu_runtime::access::Rpc;

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

/// Authenticates a call and checks its role against the table.
///
/// # Errors
/// `UNAUTHENTICATED` for a missing or unknown token, `PERMISSION_DENIED` for
/// a role the table does not allow.
pub fn authorize(
    central: &Central,
    metadata: &MetadataMap,
    rpc: Rpc,
) -> Result<Credential, Status> {
    let credential = central
        .authenticate(bearer(metadata))
        .map_err(|e| unauthenticated(&e))?;
    if !rpc.allows(credential.role) {
        return Err(Status::permission_denied(format!(
            "the {} role may not call {rpc:?}",
            credential.role
        )));
    }
    Ok(credential)
}
