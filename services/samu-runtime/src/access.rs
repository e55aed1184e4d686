//! The RPC × role table: who may call what. Both adapters (gRPC and the
//! HTTP JSON facade) check every call with [`Central::authorize`]: the
//! token, the caller's rate limit, then this table; `docs/roles.md` prints
//! the table and a test walks every cell against a running server.

use samu_store::{Credential, Role};

use crate::{auth::AuthError, central::Central, limits::RateLimited};

/// Why a call was refused before it ran.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccessError {
    /// Missing, unknown, revoked or expired token.
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// The caller is over its rate limit.
    #[error(transparent)]
    Limited(#[from] RateLimited),
    /// The role table does not allow the call.
    #[error("the {role} role may not call {rpc:?}")]
    Denied {
        /// The caller's role.
        role: Role,
        /// The call.
        rpc: Rpc,
    },
}

impl Central {
    /// Authenticates a call's bearer token, spends one call of the caller's
    /// rate limit ([`Central::spend_call`]: per user for people, per token
    /// for admin and wall tokens; devices are limited per report instead)
    /// and checks the role table. Both doors call this, so a person's calls
    /// over gRPC and HTTP share one limit. A refused call counts too: a
    /// flood of calls the role may not make is still a flood.
    ///
    /// # Errors
    /// [`AccessError`]: unauthenticated, over the limit, or not allowed.
    pub fn authorize(&self, token: &str, rpc: Rpc) -> Result<Credential, AccessError> {
        let credential = self.authenticate(token)?;
        self.spend_call(&credential)?;
        if !rpc.allows(credential.role) {
            return Err(AccessError::Denied {
                role: credential.role,
                rpc,
            });
        }
        Ok(credential)
    }
}

/// Every call that checks a role.
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
    /// `Accounts/Logout`, `Accounts/WhoAmI`.
    Session,
    /// `Accounts/CreateUser`, `SetPassword`, `DisableUser`.
    ManageUsers,
    /// `Regulation/OpenOccurrence`.
    OpenOccurrence,
    /// `Regulation/MarkNonCase`.
    MarkNonCase,
    /// `Regulation/Regulate`.
    Regulate,
    /// `Regulation/Recommend`.
    Recommend,
    /// `Regulation/Dispatch`.
    Dispatch,
    /// `Regulation/RecordUnitStep`.
    RecordUnitStep,
    /// `Regulation/CorrectTime`.
    CorrectTime,
    /// `Regulation/CloseOccurrence`.
    CloseOccurrence,
    /// `Regulation/GetOccurrence` (personal data, audited).
    GetOccurrence,
    /// `Regulation/ListOccurrences`, `WatchOccurrences`.
    ListOccurrences,
    /// `Regulation/ResponseTimes`.
    ResponseTimes,
    /// `Regulation/AuditTrail`.
    AuditTrail,
    /// `GET /api/v1/occurrences/{id}/export`: everything about one
    /// occurrence, for a data subject's request (LGPD art. 18).
    ExportOccurrence,
    /// `GET /api/reports/…` (monthly report).
    Report,
    /// `GET /ws/wall`.
    WallFeed,
}

impl Rpc {
    /// Every call, for the table.
    pub const ALL: [Rpc; 24] = [
        Rpc::TelemetryStream,
        Rpc::NearestUnits,
        Rpc::GetUnit,
        Rpc::ListUnits,
        Rpc::Admin,
        Rpc::ClockInOut,
        Rpc::OnDuty,
        Rpc::Session,
        Rpc::ManageUsers,
        Rpc::OpenOccurrence,
        Rpc::MarkNonCase,
        Rpc::Regulate,
        Rpc::Recommend,
        Rpc::Dispatch,
        Rpc::RecordUnitStep,
        Rpc::CorrectTime,
        Rpc::CloseOccurrence,
        Rpc::GetOccurrence,
        Rpc::ListOccurrences,
        Rpc::ResponseTimes,
        Rpc::AuditTrail,
        Rpc::ExportOccurrence,
        Rpc::Report,
        Rpc::WallFeed,
    ];

    /// Whether `role` may call this.
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Rpc::TelemetryStream => role == Device,
            // Fleet data is operational, never personal: every person's role
            // and the wall may read it; vehicle apps may not.
            Rpc::NearestUnits | Rpc::GetUnit | Rpc::ListUnits | Rpc::WallFeed => {
                matches!(
                    role,
                    Admin | Wall | Tarm | Physician | RadioOperator | Manager
                )
            }
            Rpc::Admin | Rpc::ManageUsers => role == Admin,
            // The staff clock themselves in; a manager or admin may correct.
            Rpc::ClockInOut => matches!(role, Admin | Manager | Tarm | Physician | RadioOperator),
            Rpc::OnDuty => role != Device,
            Rpc::Session => role != Device,
            // The call taker records calls; a physician answering directly may too.
            Rpc::OpenOccurrence | Rpc::MarkNonCase => matches!(role, Tarm | Physician),
            // Every case is regulated by a physician.
            Rpc::Regulate => role == Physician,
            Rpc::Recommend => matches!(role, Physician | RadioOperator),
            // The radio operator sends units and follows them.
            Rpc::Dispatch | Rpc::RecordUnitStep => role == RadioOperator,
            Rpc::CorrectTime => matches!(role, Physician | RadioOperator | Manager),
            Rpc::CloseOccurrence => matches!(role, Physician | RadioOperator),
            // Personal data: the console roles and the manager, not admin
            // (who runs the registry) nor the wall.
            Rpc::GetOccurrence => matches!(role, Tarm | Physician | RadioOperator | Manager),
            Rpc::ListOccurrences => {
                matches!(role, Tarm | Physician | RadioOperator | Manager | Admin)
            }
            Rpc::ResponseTimes => matches!(role, Physician | Manager | Admin),
            Rpc::AuditTrail | Rpc::Report => matches!(role, Manager | Admin),
            // The controller's answer to a data subject: the manager only.
            Rpc::ExportOccurrence => role == Manager,
        }
    }
}
