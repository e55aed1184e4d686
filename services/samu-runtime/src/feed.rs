//! What the wall and other instances hear about: unit views, broadcast on
//! every change.

use chrono::{DateTime, Utc};
use samu_domain::{CentralId, UnitId, UnitStatus, UnitType};
use samu_fleet::UnitState;
use serde::{Deserialize, Serialize};

/// A unit as the wall shows it. Only operational data: the wall never
/// carries crew identities or anything about patients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitView {
    /// Unit id.
    pub id: UnitId,
    /// Its central.
    pub central: CentralId,
    /// `USB`, `USA`, …
    #[serde(rename = "type")]
    pub unit_type: UnitType,
    /// Human label ("USA 01").
    pub label: String,
    /// Effective status.
    pub status: UnitStatus,
    /// Why out of service, when it is.
    pub out_of_service_reason: Option<samu_domain::OutOfServiceReason>,
    /// Last trusted latitude.
    pub lat: Option<f64>,
    /// Last trusted longitude.
    pub lon: Option<f64>,
    /// Course over ground, degrees.
    pub heading: Option<f32>,
    /// Minimum crew aboard.
    pub crew_complete: bool,
    /// Time of the last fix (lets the wall measure ingest-to-wall latency).
    pub fix_at: Option<DateTime<Utc>>,
    /// Last change of any kind.
    pub updated_at: DateTime<Utc>,
}

impl UnitView {
    /// The view as a peer's report for the fleet state.
    pub fn to_remote(&self) -> samu_fleet::RemoteView {
        samu_fleet::RemoteView {
            id: self.id.clone(),
            central: self.central.clone(),
            unit_type: self.unit_type,
            label: self.label.clone(),
            status: self.status,
            out_of_service_reason: self.out_of_service_reason,
            fix: match (self.lat, self.lon, self.fix_at) {
                (Some(lat), Some(lon), Some(at)) => samu_domain::GeoPoint::new("view", lat, lon)
                    .ok()
                    .map(|p| (p, at)),
                _ => None,
            },
            heading: self.heading,
            crew_complete: self.crew_complete,
            updated_at: self.updated_at,
        }
    }
}

impl From<&UnitState> for UnitView {
    fn from(u: &UnitState) -> Self {
        Self {
            id: u.record.id.clone(),
            central: u.record.central.clone(),
            unit_type: u.record.unit_type,
            label: u.record.label.clone(),
            status: u.status(),
            out_of_service_reason: u.out_of_service_reason.filter(|_| !u.no_signal),
            lat: u.fix.map(|f| f.point.lat()),
            lon: u.fix.map(|f| f.point.lon()),
            heading: u.fix.and_then(|f| f.heading_deg),
            crew_complete: u.crew_check.complete,
            fix_at: u.fix.map(|f| f.at),
            updated_at: u.updated_at,
        }
    }
}

/// A change somewhere in the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FleetEvent {
    /// A unit's view changed (position, status, crew).
    Unit(UnitView),
    /// An occurrence changed (no personal data: see `Summary`).
    Occurrence(Box<samu_occurrence::Summary>),
    /// The central decided a unit's status (a dispatch, a step of an
    /// occurrence) on an instance that does not hold the unit's stream: the
    /// instance that does applies it and writes it. Only between instances;
    /// walls never see it.
    CentralStatus {
        /// The unit.
        unit: UnitId,
        /// Its new status.
        status: UnitStatus,
        /// When.
        at: DateTime<Utc>,
    },
    /// A central's running figures changed (team on duty against minimum).
    Indicators {
        /// The central.
        central: CentralId,
        /// Its figures, as the wall shows them.
        figures: serde_json::Value,
    },
}

/// An occurrence as the wall shows it: operational facts only, never the
/// caller, the patient, the address or any free text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WallOccurrence {
    /// Id.
    pub id: samu_occurrence::OccurrenceId,
    /// The central's number for it.
    pub number: u64,
    /// Its central.
    pub central: CentralId,
    /// Priority, once regulated.
    pub priority: Option<samu_occurrence::Priority>,
    /// Where it is.
    pub status: samu_occurrence::OccurrenceStatus,
    /// Call received.
    pub opened_at: DateTime<Utc>,
    /// Units sent and still working it.
    pub units: Vec<UnitId>,
}

impl From<&samu_occurrence::Summary> for WallOccurrence {
    fn from(s: &samu_occurrence::Summary) -> Self {
        Self {
            id: s.id.clone(),
            number: s.number,
            central: s.central.clone(),
            priority: s.priority,
            status: s.status,
            opened_at: s.opened_at,
            units: s
                .units
                .iter()
                .filter(|u| u.step.is_engaged())
                .map(|u| u.unit.clone())
                .collect(),
        }
    }
}
