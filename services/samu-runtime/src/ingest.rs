//! Applying vehicle reports: fleet state first, then the write queue.

use samu_domain::{UnitId, ValidationError};
use samu_fleet::{
    CrewStatusOutcome, CrewStatusReport, Fix, FleetError, PositionKind, PositionOutcome,
};
use samu_store::PositionRow;
use tokio::sync::mpsc;

use crate::{
    central::Central,
    feed::{FleetEvent, UnitView},
    writer::WriteItem,
};

/// A validated report from a vehicle app.
#[derive(Debug, Clone)]
pub struct Report {
    /// The app's sequence number.
    pub seq: u64,
    /// The unit (already checked against the device token).
    pub unit: UnitId,
    /// What it says.
    pub body: ReportBody,
}

/// What a report says.
#[derive(Debug, Clone)]
pub enum ReportBody {
    /// A GPS fix.
    Position(Fix),
    /// A crew/status declaration.
    CrewStatus(CrewStatusReport),
}

/// How a report was taken, sent once it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The report's sequence number.
    pub seq: u64,
    /// How it was taken.
    pub kind: AckKind,
}

/// How a report was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// Applied.
    Applied,
    /// Seen before.
    Duplicate,
    /// Older than what the unit has: history only.
    Stale,
    /// Impossible jump: stored as evidence, not trusted.
    Flagged,
}

impl AckKind {
    fn label(self) -> &'static str {
        match self {
            AckKind::Applied => "applied",
            AckKind::Duplicate => "duplicate",
            AckKind::Stale => "stale",
            AckKind::Flagged => "flagged",
        }
    }

    /// Every kind, in declaration order: a kind's discriminant is its index
    /// here and in [`IngestMetrics`]' rows.
    const ALL: [AckKind; 4] = [
        AckKind::Applied,
        AckKind::Duplicate,
        AckKind::Stale,
        AckKind::Flagged,
    ];
}

/// The ingest path's metric handles, taken from the recorder once, when the
/// central starts. `metrics::counter!` looks its handle up in the
/// recorder's registry on every call (hashing the name and labels, reading
/// a sharded map), and the path made two such calls per report: 2.5 % of
/// the server's CPU at 1 000 writers (BENCHMARKS.md, 2026-12-04). A central
/// started before any recorder is installed keeps no-op handles.
pub(crate) struct IngestMetrics {
    /// `samu_report_age_seconds`.
    report_age: metrics::Histogram,
    /// `samu_reports_total`, by kind (position, crew status) and outcome
    /// (the four [`AckKind`]s in [`AckKind::ALL`]'s order, then rejected).
    reports: [[metrics::Counter; 5]; 2],
}

impl IngestMetrics {
    const KINDS: [&'static str; 2] = ["position", "crew_status"];
    const REJECTED: usize = 4;

    pub(crate) fn register() -> Self {
        let outcomes = AckKind::ALL.map(AckKind::label);
        Self {
            report_age: metrics::histogram!("samu_report_age_seconds"),
            reports: Self::KINDS.map(|kind| {
                [outcomes[0], outcomes[1], outcomes[2], outcomes[3], "rejected"].map(|outcome| {
                    metrics::counter!("samu_reports_total", "kind" => kind, "outcome" => outcome)
                })
            }),
        }
    }

    /// The row of `reports` for a report's kind.
    fn kind(body: &ReportBody) -> usize {
        match body {
            ReportBody::Position(_) => 0,
            ReportBody::CrewStatus(_) => 1,
        }
    }

    /// Counts a report of `kind` (from [`Self::kind`]), taken as `outcome`
    /// or, with `None`, rejected.
    fn count(&self, kind: usize, outcome: Option<AckKind>) {
        let outcome = outcome.map_or(Self::REJECTED, |ack| ack as usize);
        self.reports[kind][outcome].increment(1);
    }
}

impl std::fmt::Debug for IngestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestMetrics").finish_non_exhaustive()
    }
}

/// What a vehicle stream sends back to its app, in one queue per stream:
/// the acknowledgements of stored reports and the refusals of bad ones.
///
/// One queue, not one for each: every connected vehicle holds a queue for
/// its whole shift, and a tokio channel is about a kilobyte before its first
/// message (BENCHMARKS.md, "Memory per connected vehicle"). The size of an
/// [`Ack`] (the refusal, rare, is boxed), so a block of the queue stays small.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// A report stored, or known already.
    Ack(Ack),
    /// A report refused; nothing of it was stored, and the stream goes on.
    Rejected(Box<Rejected>),
}

impl Reply {
    /// The sequence number of the report it answers.
    pub fn seq(&self) -> u64 {
        match self {
            Reply::Ack(ack) => ack.seq,
            Reply::Rejected(rejected) => rejected.seq,
        }
    }
}

/// A report refused for a bad field.
#[derive(Debug, PartialEq)]
pub struct Rejected {
    /// The report's sequence number.
    pub seq: u64,
    /// What is wrong with it.
    pub error: ValidationError,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// A field is wrong; the app must drop the report.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The unit is not registered.
    #[error("unit_id: unknown unit {0}")]
    UnknownUnit(UnitId),
    /// The server is shutting down; the app should reconnect elsewhere.
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl From<FleetError> for IngestError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::UnknownUnit(u) => IngestError::UnknownUnit(u),
            FleetError::Invalid(v) => IngestError::Invalid(v),
        }
    }
}

impl Central {
    /// Applies a report to the fleet state and queues its writes; `replies`
    /// receives the acknowledgement once the report is stored. Waits when
    /// the write queue is full, so a slow store slows the apps down instead
    /// of growing memory.
    ///
    /// Cancel-safe: dropped before it returns, it has applied and queued
    /// the report entirely or not at all.
    ///
    /// # Errors
    /// [`IngestError`] when the report is refused; nothing is stored then.
    pub async fn ingest(
        &self,
        report: Report,
        replies: &mpsc::Sender<Reply>,
    ) -> Result<(), IngestError> {
        // A place in the write queue first. Waiting for one (the store is
        // slow) is the report's only wait, and it comes before the fleet
        // changes: a caller dropped while it waits (its app went away)
        // leaves nothing applied and unwritten, no status event whose number
        // the store never gets. The queue's place then takes the write at
        // once, without a second wait.
        let place = self
            .inner
            .writes
            .reserve()
            .await
            .map_err(|_| IngestError::ShuttingDown)?;
        let now = samu_domain::time::now();
        let metrics = &self.inner.ingest_metrics;
        let kind_row = IngestMetrics::kind(&report.body);
        if let ReportBody::Position(fix) = &report.body {
            // How old a fix is when the server takes it: the device's link
            // and the network, plus any skew of the device's clock. Beside
            // `samu_wall_fix_age_seconds`, it splits a wall's latency into
            // the way here and the way to the wall.
            metrics
                .report_age
                .record(samu_domain::time::span(fix.at, now).as_secs_f64());
        }
        let live_states_behind = self.inner.live_states_behind;
        let applied = self.with_fleet_mut(|fleet| -> Result<_, FleetError> {
            let (kind, item) = match report.body {
                ReportBody::Position(fix) => {
                    match fleet.apply_position(&report.unit, report.seq, fix, now)? {
                        PositionOutcome::Duplicate => (AckKind::Duplicate, None),
                        PositionOutcome::Taken {
                            kind,
                            keep_in_track,
                            status_change,
                        } => {
                            let ack_kind = match kind {
                                PositionKind::Applied => AckKind::Applied,
                                PositionKind::Stale => AckKind::Stale,
                                PositionKind::Flagged => AckKind::Flagged,
                            };
                            let publish = kind == PositionKind::Applied || status_change.is_some();
                            let item = WriteItem {
                                position: keep_in_track.then(|| PositionRow {
                                    unit: report.unit.clone(),
                                    seq: report.seq,
                                    fix,
                                    kind,
                                }),
                                status: status_change.map(Box::new),
                                ..WriteItem::default()
                            };
                            (ack_kind, Some((item, publish)))
                        }
                    }
                }
                ReportBody::CrewStatus(declared) => {
                    match fleet.apply_crew_status(&report.unit, report.seq, declared, now)? {
                        CrewStatusOutcome::Duplicate => (AckKind::Duplicate, None),
                        CrewStatusOutcome::Stale => {
                            (AckKind::Stale, Some((WriteItem::default(), false)))
                        }
                        CrewStatusOutcome::Applied {
                            status_change,
                            crew_change,
                        } => {
                            let publish = status_change.is_some() || crew_change.is_some();
                            let item = WriteItem {
                                status: status_change.map(Box::new),
                                crew: crew_change.map(Box::new),
                                ..WriteItem::default()
                            };
                            (AckKind::Applied, Some((item, publish)))
                        }
                    }
                }
            };
            // Every report that was not a duplicate moved the unit's sequence
            // number, so its live state changed. One that changed its status
            // or crew writes the live state with its history; a plain fix
            // (or a repeated declaration) leaves it to the writer's
            // write-behind of live states, which rewrites each unit once per
            // `runtime.live_state_flush_ms` however often it reports.
            let unit = fleet
                .unit(&report.unit)
                .expect("applied to an existing unit");
            let item = item.map(|(mut item, publish)| {
                if item.status.is_some() || item.crew.is_some() || !live_states_behind {
                    item.live = Some(Box::new((report.unit.clone(), unit.snapshot())));
                }
                (item, publish.then(|| UnitView::from(unit)))
            });
            if item.as_ref().is_some_and(|(i, _)| i.live.is_none()) {
                fleet.mark_unpersisted(&report.unit);
            }
            Ok((kind, item))
        });
        let (kind, item) = match applied {
            Ok(applied) => applied,
            Err(e) => {
                metrics.count(kind_row, None);
                return Err(e.into());
            }
        };
        metrics.count(kind_row, Some(kind));
        let ack = Ack {
            seq: report.seq,
            kind,
        };
        let item = match item {
            None => WriteItem::barrier(replies.clone(), ack),
            Some((mut item, view)) => {
                if let Some(view) = view {
                    self.publish(FleetEvent::Unit(view));
                }
                item.ack = Some((replies.clone(), ack));
                item
            }
        };
        place.send(item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `IngestMetrics::count` indexes its row by the kind's discriminant.
    #[test]
    fn every_ack_kind_is_at_its_discriminant_in_all() {
        for (index, kind) in AckKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, index, "{kind:?}");
        }
    }

    /// A reply costs a stream's queue no more than an acknowledgement alone:
    /// the refusal is boxed and the tag fits in the acknowledgement's spare
    /// bits, so each block of 32 replies stays at 32 × 16 bytes.
    #[test]
    fn a_reply_is_the_size_of_an_acknowledgement() {
        assert_eq!(std::mem::size_of::<Reply>(), std::mem::size_of::<Ack>());
        assert_eq!(std::mem::size_of::<Reply>(), 16);
        let rejected = Reply::Rejected(Box::new(Rejected {
            seq: 7,
            error: ValidationError::new("lat", "out of range"),
        }));
        assert_eq!(rejected.seq(), 7);
        let ack = Reply::Ack(Ack {
            seq: 8,
            kind: AckKind::Stale,
        });
        assert_eq!(ack.seq(), 8);
    }
}
