//! Who may call what: bearer tokens and the RPC × role table.
//!
//! The table is the single source of truth; `docs/roles.md` prints it and a
//! test walks every cell against a running server.

use samu_runtime::Central;
use samu_store::{Credential, Role};
use tonic::{metadata::MetadataMap, Status};

use crate::status::unauthenticated;

/// Every RPC that checks a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rpc {
    /// `Telemetry/Stream`.
    TelemetryStream,
    /// `Fleet/NearestUnits`.
    NearestUnits,
    /// `Fleet/GetUnit`.
    GetUnit,
    /// `Fleet/ListUnits`.
    ListUnits,
    /// `Admin/*`.
    Admin,
    /// `Team/ClockIn`, `Team/ClockOut`.
    ClockInOut,
    /// `Team/OnDuty`.
    OnDuty,
}

impl Rpc {
    /// Every RPC, for the table.
    pub const ALL: [Rpc; 7] = [
        Rpc::TelemetryStream,
        Rpc::NearestUnits,
        Rpc::GetUnit,
        Rpc::ListUnits,
        Rpc::Admin,
        Rpc::ClockInOut,
        Rpc::OnDuty,
    ];

    /// Whether `role` may call this RPC.
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Rpc::TelemetryStream => role == Device,
            // Fleet data is operational, never personal: every person's role
            // and the wall may read it; vehicle apps may not.
            Rpc::NearestUnits | Rpc::GetUnit | Rpc::ListUnits => {
                matches!(
                    role,
                    Admin | Wall | Tarm | Physician | RadioOperator | Manager
                )
            }
            Rpc::Admin => role == Admin,
            // The staff clock themselves in; a manager or admin may correct.
            Rpc::ClockInOut => matches!(role, Admin | Manager | Tarm | Physician | RadioOperator),
            Rpc::OnDuty => role != Device,
        }
    }
}

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
