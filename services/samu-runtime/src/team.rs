//! The regulation room's team: clock-in and clock-out.

use chrono::{DateTime, TimeDelta, Utc};
use samu_domain::{CentralId, MemberId, StaffRole, ValidationError};
use samu_store::PresenceRow;

use crate::{central::Central, registry::RegistryError};

/// How far ahead of the server's clock a clock-in may be dated.
const MAX_FUTURE: TimeDelta = TimeDelta::minutes(5);
/// How far back a forgotten clock-in or clock-out may be entered.
const MAX_PAST: TimeDelta = TimeDelta::hours(24);

fn check_time(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ValidationError> {
    if at > now + MAX_FUTURE {
        return Err(ValidationError::new(
            field,
            "is more than 5 minutes in the future",
        ));
    }
    if at < now - MAX_PAST {
        return Err(ValidationError::new(
            field,
            "is more than 24 hours in the past",
        ));
    }
    Ok(())
}

impl Central {
    /// Clocks a professional in at a central (idempotent while open).
    ///
    /// # Errors
    /// A time too far off, an unknown central, or a store failure.
    pub async fn clock_in(
        &self,
        central: &CentralId,
        member: &MemberId,
        role: StaffRole,
        reachable_only: bool,
        at: Option<DateTime<Utc>>,
    ) -> Result<PresenceRow, RegistryError> {
        let now = samu_domain::time::now();
        let at = at.unwrap_or(now);
        check_time("at", at, now)?;
        if self.store().central(central).await?.is_none() {
            return Err(RegistryError::NotFound {
                field: "central_id",
                message: format!("unknown central {central}"),
            });
        }
        let presence = self
            .store()
            .clock_in(central, member, role, reachable_only, at, now)
            .await?;
        tracing::info!(central = %central, role = %role, reachable_only, "staff clocked in");
        Ok(presence)
    }

    /// Clocks a presence out.
    ///
    /// # Errors
    /// Unknown presence, a time before the clock-in or too far off, or a
    /// store failure.
    pub async fn clock_out(
        &self,
        presence: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<PresenceRow, RegistryError> {
        let now = samu_domain::time::now();
        let at = at.unwrap_or(now);
        check_time("at", at, now)?;
        let Some(open) = self.store().presence(presence).await? else {
            return Err(RegistryError::NotFound {
                field: "presence_id",
                message: format!("unknown presence {presence}"),
            });
        };
        if open.ended_at.is_none() && at < open.started_at {
            return Err(ValidationError::new("at", "is before the clock-in").into());
        }
        let closed = self.store().clock_out(presence, at).await?.unwrap_or(open);
        tracing::info!(central = %closed.central, role = %closed.role, "staff clocked out");
        Ok(closed)
    }
}
