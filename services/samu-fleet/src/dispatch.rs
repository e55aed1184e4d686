//! The central's side of a unit's status: when a radio operator dispatches a
//! unit or records its steps on an occurrence, the unit's status follows,
//! as if the crew had reported it. The crew's own later reports still win:
//! whichever is newer holds.

use chrono::{DateTime, Utc};
use samu_domain::{UnitId, UnitStatus, ValidationError};

use crate::state::{touch, FleetError, FleetState, StatusChange, StatusSource};

impl FleetState {
    /// Sets a unit's status from the central at `at`. Older than the crew's
    /// last report: ignored (`Ok(None)`), the crew knows better.
    ///
    /// # Errors
    /// [`FleetError::UnknownUnit`], or [`FleetError::Invalid`] for
    /// `NoSignal` or `OutOfService` (the central never declares those).
    pub fn apply_central_status(
        &mut self,
        id: &UnitId,
        status: UnitStatus,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<StatusChange>, FleetError> {
        let slot = self.slot(id)?;
        if matches!(status, UnitStatus::NoSignal | UnitStatus::OutOfService) {
            return Err(ValidationError::new(
                "status",
                format!("the central does not declare a unit {status}"),
            )
            .into());
        }
        let unit = &mut self.units[slot];
        if unit.last_report_at.is_some_and(|last| at < last) {
            return Ok(None);
        }
        unit.reported_status = status;
        unit.out_of_service_reason = None;
        unit.last_report_at = Some(at);
        touch(unit, now);
        let change = self.record_change(slot, at, StatusSource::Central);
        self.reindex(slot);
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use samu_domain::{CentralId, CrewMember, CrewRole, GeoPoint, MemberId, UnitType};

    use super::*;
    use crate::{CrewStatusReport, Fix, FleetConfig, NearestQuery, UnitRecord};

    #[test]
    fn a_dispatched_unit_leaves_the_nearest_answers_and_comes_back_when_free() {
        let now = samu_domain::time::now();
        let mut fleet = FleetState::new(FleetConfig::default());
        let central = CentralId::parse("c", "3106200").unwrap();
        let id = UnitId::parse("u", "bh-usa-01").unwrap();
        let base = GeoPoint::new("p", -19.92, -43.94).unwrap();
        fleet.upsert_unit(
            UnitRecord {
                id: id.clone(),
                central: central.clone(),
                unit_type: UnitType::Usa,
                base: None,
                label: "USA 01".into(),
            },
            now,
        );
        let fix = Fix {
            at: now,
            point: base,
            speed_mps: None,
            heading_deg: None,
            accuracy_m: None,
        };
        fleet.apply_position(&id, 1, fix, now).unwrap();
        let crew = [CrewRole::Driver, CrewRole::Nurse, CrewRole::Physician]
            .iter()
            .enumerate()
            .map(|(i, &role)| CrewMember {
                id: MemberId::parse("m", &format!("p{i}")).unwrap(),
                role,
            })
            .collect();
        let report = CrewStatusReport {
            reported_at: now - TimeDelta::seconds(10),
            status: UnitStatus::AvailableAtBase,
            out_of_service_reason: None,
            crew,
        };
        fleet.apply_crew_status(&id, 2, report, now).unwrap();
        let query = NearestQuery {
            point: base,
            types: &[UnitType::Usa],
            limit: 5,
            central: Some(&central),
        };
        assert_eq!(fleet.nearest(&query).len(), 1);
        let change = fleet
            .apply_central_status(&id, UnitStatus::Dispatched, now, now)
            .unwrap()
            .expect("a change");
        assert_eq!(change.status, UnitStatus::Dispatched);
        assert_eq!(change.source, StatusSource::Central);
        assert!(fleet.nearest(&query).is_empty());
        // An older central step never overrides a newer one.
        let older = now - TimeDelta::seconds(5);
        assert_eq!(
            fleet
                .apply_central_status(&id, UnitStatus::AvailableOnTheMove, older, now)
                .unwrap(),
            None
        );
        fleet
            .apply_central_status(&id, UnitStatus::AvailableOnTheMove, now, now)
            .unwrap();
        assert_eq!(fleet.nearest(&query).len(), 1);
        assert!(fleet
            .apply_central_status(&id, UnitStatus::NoSignal, now, now)
            .is_err());
    }
}
