//! LGPD: personal data is kept only as long as the law asks, and a person's
//! request for their data is answered from one export.
//!
//! After the retention period (counted from closing; 20 years by default,
//! like a medical record under CFM Res. 1.821/2007; a setting), the job
//! erases an occurrence's caller and patient data. What remains (the clock,
//! priorities, units, nature, municipality) keeps the response-time figures
//! and reports whole. Each erasure is an audit record. Position tracks (where
//! crews were: personal data of the staff) are kept a year by default; audit
//! records ten years, as the seed keeps accountability documents (Art. 6 §2).
//! Unit status histories, unit-days and team days, which the indicators and
//! reports are made of, are kept.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use samu_occurrence::{Detail, EventBody, OccurrenceId};
use samu_store::{AuditRecord, StoreError};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{
    central::Central,
    regulation::{Caller, RegulationError},
};

/// Occurrences erased per pass, so a first run over years of history never
/// holds the store for long.
const PURGE_BATCH: u32 = 500;

/// Everything stored about one occurrence, for a data subject's request.
#[derive(Debug, Clone, Serialize)]
pub struct OccurrenceExport {
    /// The occurrence, its call record and timeline.
    pub occurrence: Detail,
    /// When its personal data was erased, if it was.
    pub personal_purged_at: Option<DateTime<Utc>>,
    /// Who read or wrote it, when, from where.
    pub audit: Vec<serde_json::Value>,
    /// When this export was made.
    pub exported_at: DateTime<Utc>,
}

impl Central {
    /// Erases the personal data of occurrences closed more than `retention`
    /// before `now`; returns how many.
    ///
    /// # Errors
    /// A store failure.
    pub async fn purge_expired_personal_data(
        &self,
        retention: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut purged = 0;
        loop {
            let due = self
                .store()
                .occurrences_to_purge(now - retention, PURGE_BATCH)
                .await?;
            if due.is_empty() {
                return Ok(purged);
            }
            let batch = due.len();
            for id in due {
                let Some(stored) = self.store().occurrence(&id).await? else {
                    continue;
                };
                let Some(EventBody::CallReceived { central, call }) =
                    stored.events.first().map(|e| e.body.clone())
                else {
                    continue;
                };
                let erased = EventBody::CallReceived {
                    central,
                    call: call.erased(),
                };
                let audit = AuditRecord {
                    // When it really happened, whatever cut-off was asked.
                    at: samu_domain::time::now(),
                    credential_id: "system".into(),
                    user_id: None,
                    actor: "retention job".into(),
                    role: "system".into(),
                    action: "purged".into(),
                    occurrence_id: Some(id.to_string()),
                    fields: call
                        .personal_fields()
                        .iter()
                        .map(|f| (*f).to_owned())
                        .collect(),
                    remote_addr: None,
                };
                if self
                    .store()
                    .purge_personal_data(&id, &erased, &audit)
                    .await?
                {
                    purged += 1;
                }
            }
            if batch < PURGE_BATCH as usize {
                tracing::info!(purged, "personal data past its retention erased");
                return Ok(purged);
            }
        }
    }

    /// Everything stored about an occurrence (audited as an export).
    ///
    /// # Errors
    /// Unknown occurrence, another central, or a store failure.
    pub async fn export_occurrence(
        &self,
        caller: &Caller,
        id: &OccurrenceId,
    ) -> Result<OccurrenceExport, RegulationError> {
        let occurrence = self.occurrence_detail_as(caller, id, "export").await?;
        let audit = self
            .store()
            .audit_trail(id)
            .await?
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "at": r.at, "actor": r.actor, "role": r.role, "action": r.action,
                    "fields": r.fields, "from": r.remote_addr,
                })
            })
            .collect();
        Ok(OccurrenceExport {
            occurrence,
            personal_purged_at: self.store().personal_purged_at(id).await?,
            audit,
            exported_at: samu_domain::time::now(),
        })
    }
}

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Personal data of an occurrence, from its closing.
    pub personal_data: TimeDelta,
    /// Stored position fixes, from when they were taken.
    pub position_track: TimeDelta,
    /// Audit records, from when they were written.
    pub audit: TimeDelta,
}

impl Central {
    /// One pass of the retention job: erases personal data past its period,
    /// deletes position fixes and audit records past theirs.
    ///
    /// # Errors
    /// A store failure.
    pub async fn apply_retention(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<(usize, u64, u64), StoreError> {
        let erased = self
            .purge_expired_personal_data(retention.personal_data, now)
            .await?;
        let fixes = self
            .store()
            .purge_positions_before(now - retention.position_track)
            .await?;
        let audit = self
            .store()
            .purge_audit_before(now - retention.audit)
            .await?;
        // Idempotency keys only need to outlive a console's retries.
        self.store()
            .purge_command_keys_before(now - TimeDelta::days(1))
            .await?;
        if fixes > 0 || audit > 0 {
            tracing::info!(fixes, audit, "records past their retention deleted");
        }
        Ok((erased, fixes, audit))
    }
}

/// Runs the retention pass every `every` until shutdown, after making the
/// track's time index BRIN (PostgreSQL, once).
pub async fn retention_job(
    central: Central,
    retention: Retention,
    every: Duration,
    shutdown: CancellationToken,
) {
    // The only reader of the track's time index makes it BRIN first, in the
    // background of a start that is not kept waiting for it.
    tokio::select! {
        _ = shutdown.cancelled() => return,
        converted = central.store().track_time_index_to_brin() => {
            if let Err(e) = converted {
                tracing::warn!(
                    error = %e,
                    "the track's time index stays a B-tree until the next start"
                );
            }
        }
    }
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(e) = central
            .apply_retention(retention, samu_domain::time::now())
            .await
        {
            tracing::error!(error = %e, "the retention job failed; it will retry");
        }
    }
}
