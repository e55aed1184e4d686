//! Units whose apps stream to another instance. Each instance applies the
//! views its peers publish (through Redis) to its own fleet state, so the
//! nearest-unit answer and the dispatch checks of every instance see every
//! unit, wherever its app is connected. A unit known this way is *remote*:
//! this instance neither watches its signal nor writes its history (its
//! owner does), until its app reports here.

use chrono::{DateTime, Utc};
use samu_domain::{
    CentralId, CrewCheck, GeoPoint, OutOfServiceReason, UnitId, UnitStatus, UnitType,
};

use crate::{
    state::{touch, FleetState},
    unit::{Fix, UnitRecord},
};

/// What a peer instance says about a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteView {
    /// The unit.
    pub id: UnitId,
    /// Its central.
    pub central: CentralId,
    /// Its type.
    pub unit_type: UnitType,
    /// Its label.
    pub label: String,
    /// Its effective status (may be `NoSignal`).
    pub status: UnitStatus,
    /// Why out of service.
    pub out_of_service_reason: Option<OutOfServiceReason>,
    /// Last trusted position and its time.
    pub fix: Option<(GeoPoint, DateTime<Utc>)>,
    /// Course over ground.
    pub heading: Option<f32>,
    /// Minimum crew aboard.
    pub crew_complete: bool,
    /// The peer's last change.
    pub updated_at: DateTime<Utc>,
}

impl FleetState {
    /// Applies a peer's view of a unit (registering the unit when this
    /// instance has never heard of it). Ignored, returning false, when this
    /// instance has newer live data of its own.
    pub fn apply_remote_view(&mut self, view: RemoteView) -> bool {
        if !self.by_id.contains_key(&view.id) {
            self.upsert_unit(
                UnitRecord {
                    id: view.id.clone(),
                    central: view.central.clone(),
                    unit_type: view.unit_type,
                    base: None,
                    label: view.label.clone(),
                },
                view.updated_at,
            );
        }
        let Ok(slot) = self.slot(&view.id) else {
            return false;
        };
        let unit = &mut self.units[slot];
        let has_local_stream = !unit.remote && unit.last_seq() > 0;
        if (has_local_stream || unit.remote) && unit.updated_at >= view.updated_at {
            return false;
        }
        unit.remote = true;
        if view.status == UnitStatus::NoSignal {
            unit.no_signal = true;
        } else {
            unit.no_signal = false;
            unit.reported_status = view.status;
        }
        unit.out_of_service_reason = view.out_of_service_reason;
        if let Some((point, at)) = view.fix {
            unit.fix = Some(Fix {
                at,
                point,
                speed_mps: None,
                heading_deg: view.heading,
                accuracy_m: None,
            });
            unit.last_heard = unit.last_heard.max(Some(at));
        }
        // The peer checked the crew against the same rules; which role is
        // missing is not part of the view.
        unit.crew_check = CrewCheck {
            complete: view.crew_complete,
            missing: Vec::new(),
        };
        touch(unit, view.updated_at);
        self.reindex(slot);
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::{FleetConfig, NearestQuery};

    fn view(status: UnitStatus, at: DateTime<Utc>) -> RemoteView {
        RemoteView {
            id: UnitId::parse("u", "bh-usa-09").unwrap(),
            central: CentralId::parse("c", "3106200").unwrap(),
            unit_type: UnitType::Usa,
            label: "USA 09".into(),
            status,
            out_of_service_reason: None,
            fix: Some((GeoPoint::new("p", -19.92, -43.94).unwrap(), at)),
            heading: None,
            crew_complete: true,
            updated_at: at,
        }
    }

    #[test]
    fn a_peer_s_unit_is_offered_here_and_never_swept() {
        let now = samu_domain::time::now();
        let mut fleet = FleetState::new(FleetConfig::default());
        assert!(fleet.apply_remote_view(view(UnitStatus::AvailableAtBase, now)));
        let id = UnitId::parse("u", "bh-usa-09").unwrap();
        assert!(fleet.unit(&id).unwrap().is_remote());
        let central = CentralId::parse("c", "3106200").unwrap();
        let query = NearestQuery {
            point: GeoPoint::new("p", -19.93, -43.94).unwrap(),
            types: &[UnitType::Usa],
            limit: 3,
            central: Some(&central),
        };
        assert_eq!(fleet.nearest(&query).len(), 1);
        // Silence is the owner's business: no sweep here.
        assert!(fleet.sweep_signal(now + TimeDelta::hours(1)).is_empty());
        // An older view never overrides a newer one.
        assert!(!fleet.apply_remote_view(view(UnitStatus::OnScene, now - TimeDelta::seconds(5))));
        assert!(fleet.apply_remote_view(view(UnitStatus::Dispatched, now + TimeDelta::seconds(1))));
        assert!(fleet.nearest(&query).is_empty());
    }
}
