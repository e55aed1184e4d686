//! A unit as the registry knows it, and as the fleet state sees it live.

use chrono::{DateTime, Utc};
use samu_domain::{
    BaseId, CentralId, CrewCheck, CrewMember, GeoPoint, OutOfServiceReason, UnitId, UnitStatus,
    UnitType,
};
use serde::{Deserialize, Serialize};

use crate::seq::SeqWindow;

/// Registry data of a unit: changes rarely, through the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitRecord {
    /// The unit.
    pub id: UnitId,
    /// The central it answers to.
    pub central: CentralId,
    /// Its type, which sets its minimum crew.
    pub unit_type: UnitType,
    /// Its home base, if any.
    pub base: Option<BaseId>,
    /// Human label ("USA 01").
    pub label: String,
}

/// A GPS fix, already validated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// When the receiver took it.
    pub at: DateTime<Utc>,
    /// Where.
    pub point: GeoPoint,
    /// Ground speed, m/s.
    pub speed_mps: Option<f32>,
    /// Course over ground, degrees from north.
    pub heading_deg: Option<f32>,
    /// Horizontal accuracy, metres.
    pub accuracy_m: Option<f32>,
}

/// What the store keeps of a unit's live state so a restart resumes where the
/// last run stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSnapshot {
    /// Highest report sequence number applied.
    pub last_seq: u64,
    /// Last trusted fix.
    pub fix: Option<Fix>,
    /// When the last report of any kind was taken on the device.
    pub last_heard: Option<DateTime<Utc>>,
    /// Status as last declared by the crew or the central.
    pub reported_status: UnitStatus,
    /// Reason, when out of service.
    pub out_of_service_reason: Option<OutOfServiceReason>,
    /// Whether the server had marked it as without signal.
    pub no_signal: bool,
    /// Start of the current effective status.
    pub status_since: DateTime<Utc>,
    /// Time of the last crew/status report applied.
    pub last_report_at: Option<DateTime<Utc>>,
    /// Crew aboard.
    pub crew: Vec<CrewMember>,
    /// Number of the last status event written for the unit.
    pub event_no: u64,
    /// Fix time of the last fix kept in the stored track.
    pub last_kept_fix_at: Option<DateTime<Utc>>,
    /// Last change of any kind (server time).
    pub updated_at: DateTime<Utc>,
}

/// A unit's live state. Only [`crate::FleetState`] changes it.
#[derive(Debug, Clone)]
pub struct UnitState {
    /// Registry data.
    pub record: UnitRecord,
    /// Last trusted fix.
    pub fix: Option<Fix>,
    /// Time of the newest fix received, trusted or not: the unit's device is
    /// alive while this is recent.
    pub last_heard: Option<DateTime<Utc>>,
    /// Status as last declared (never `NoSignal`).
    pub reported_status: UnitStatus,
    /// Reason, when out of service.
    pub out_of_service_reason: Option<OutOfServiceReason>,
    /// Set by the signal sweep when no fix came for too long.
    pub no_signal: bool,
    /// Start of the current effective status.
    pub status_since: DateTime<Utc>,
    /// Time of the last crew/status report applied.
    pub last_report_at: Option<DateTime<Utc>>,
    /// Crew aboard now.
    pub crew: Vec<CrewMember>,
    /// The crew against the type's minimum.
    pub crew_check: CrewCheck,
    /// Last change of any kind (server time).
    pub updated_at: DateTime<Utc>,
    /// The newest fix implied an impossible speed and was not trusted.
    pub position_flagged: bool,
    /// Number of the last status event.
    pub event_no: u64,
    /// Its habilitation ended: never offered for dispatch again.
    pub retired: bool,
    pub(crate) seq: SeqWindow,
    pub(crate) last_kept: Option<Fix>,
    /// An untrusted fix that a consistent follow-up may confirm.
    pub(crate) suspect: Option<Fix>,
    /// Server time at which the newest fix was received: the no-signal delay
    /// runs from here, on the server's clock, so a device clock that is off
    /// by minutes (or a server clock that leapt) neither hides a silence nor
    /// makes a talking unit flap. `None` after a restart until the next fix
    /// (the sweep then falls back to `last_heard`).
    pub(crate) last_received: Option<DateTime<Utc>>,
    /// Time of the last status event: later events are never dated before
    /// it, so the history stays in order whatever the clocks do.
    pub(crate) last_event_at: Option<DateTime<Utc>>,
    /// Where the unit sits in the nearest-unit index, if it is eligible:
    /// within [`crate::nearest::INDEX_SLACK_M`] of its fix.
    pub(crate) indexed: Option<[f64; 3]>,
    /// The unit vector of its fix while it is indexed, for the exact
    /// distance.
    pub(crate) vector: Option<[f64; 3]>,
    /// Status, reason and crew completeness of the last status event, to
    /// write an event only when one of them changes.
    pub(crate) last_event_key: Option<EventKey>,
    /// Known only through another instance's views (its app streams there):
    /// this instance neither watches its signal nor writes its history.
    pub(crate) remote: bool,
    /// Changed since [`crate::FleetState::take_unpersisted`] last took its
    /// snapshot for the store.
    pub(crate) unpersisted: bool,
}

pub(crate) type EventKey = (UnitStatus, Option<OutOfServiceReason>, bool);

impl UnitState {
    /// The status the central sees: `NoSignal` overrides the declared one.
    pub fn status(&self) -> UnitStatus {
        if self.no_signal {
            UnitStatus::NoSignal
        } else {
            self.reported_status
        }
    }

    /// Can be offered for a new call: available, complete crew, a known
    /// position and a live signal.
    pub fn is_dispatchable(&self) -> bool {
        !self.retired
            && self.status().is_available()
            && self.crew_check.complete
            && self.fix.is_some()
    }

    /// Known only through another instance's views.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Highest report sequence number applied.
    pub fn last_seq(&self) -> u64 {
        self.seq.highest()
    }

    /// What the store must keep to restore this state.
    pub fn snapshot(&self) -> UnitSnapshot {
        UnitSnapshot {
            last_seq: self.seq.highest(),
            fix: self.fix,
            last_heard: self.last_heard,
            reported_status: self.reported_status,
            out_of_service_reason: self.out_of_service_reason,
            no_signal: self.no_signal,
            status_since: self.status_since,
            last_report_at: self.last_report_at,
            crew: self.crew.clone(),
            event_no: self.event_no,
            last_kept_fix_at: self.last_kept.map(|f| f.at),
            updated_at: self.updated_at,
        }
    }
}
