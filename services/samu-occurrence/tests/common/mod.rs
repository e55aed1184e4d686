//! A small script language for occurrences: `t(m)` is minute m of the fixture
//! day, `Script` appends events and remembers their numbers.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use samu_domain::{CentralId, GeoPoint, UnitId, UnitType};
use samu_occurrence::{
    Actor, CallRecord, Cnes, Decision, Event, EventBody, Nature, Occurrence, OccurrenceId,
    Priority, TransitionError, UnitStep,
};

/// Minute `m` (with seconds as the fraction) of 23/11/2026, 10:00 UTC.
pub fn t(m: f64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
        + chrono::TimeDelta::milliseconds((m * 60_000.0).round() as i64)
}

pub fn bh() -> CentralId {
    CentralId::parse("central", "3106200").unwrap()
}

pub fn unit(id: &str) -> UnitId {
    UnitId::parse("unit", id).unwrap()
}

pub fn call() -> CallRecord {
    CallRecord {
        caller_phone: "(31) 99999-0000".into(),
        caller_name: Some("Maria".into()),
        address: "Rua da Bahia, 1000".into(),
        reference_point: Some("em frente à praça".into()),
        municipality: bh(),
        complaint: "dor no peito".into(),
        nature: Nature::Clinical,
        patient_name: None,
        patient_age: Some(61),
        location: Some(GeoPoint::new("location", -19.92, -43.94).unwrap()),
    }
}

fn actor() -> Actor {
    Actor {
        credential_id: "c1".into(),
        label: "Ana".into(),
        role: "tarm".into(),
    }
}

pub struct Script {
    pub occurrence: Occurrence,
}

impl Script {
    /// A call received at minute `m`.
    pub fn call_at(m: f64) -> Self {
        let event = Event {
            no: 1,
            at: t(m),
            recorded_at: t(m),
            actor: actor(),
            body: EventBody::CallReceived {
                central: bh(),
                call: call(),
            },
        };
        Self {
            occurrence: Occurrence::open(OccurrenceId::parse("id", "occ-1").unwrap(), 1, event)
                .unwrap(),
        }
    }

    /// Tries an event at minute `m`.
    pub fn try_at(&mut self, m: f64, body: EventBody) -> Result<u64, TransitionError> {
        let no = self.occurrence.version() + 1;
        self.occurrence.apply(Event {
            no,
            at: t(m),
            recorded_at: t(m),
            actor: actor(),
            body,
        })?;
        Ok(no)
    }

    /// An event that must be taken.
    pub fn at(&mut self, m: f64, body: EventBody) -> u64 {
        match self.try_at(m, body.clone()) {
            Ok(no) => no,
            Err(e) => panic!("{body:?} at {m} refused: {e}"),
        }
    }

    /// An event that must be refused; returns the error's text.
    pub fn refused(&mut self, m: f64, body: EventBody) -> TransitionError {
        let before = self.occurrence.clone();
        let e = self
            .try_at(m, body.clone())
            .expect_err(&format!("{body:?} at {m} should be refused"));
        assert_eq!(
            self.occurrence, before,
            "a refused event changed the occurrence"
        );
        e
    }

    pub fn regulate(&mut self, m: f64, priority: Priority, types: &[UnitType]) -> u64 {
        self.at(m, regulated(priority, types))
    }

    pub fn dispatch(&mut self, m: f64, id: &str, unit_type: UnitType) -> u64 {
        self.at(m, dispatched(id, unit_type))
    }

    pub fn step(&mut self, m: f64, id: &str, step: UnitStep) -> u64 {
        self.at(m, progressed(id, step))
    }
}

pub fn regulated(priority: Priority, types: &[UnitType]) -> EventBody {
    EventBody::Regulated {
        priority,
        decision: if types.is_empty() {
            Decision::Orientation
        } else {
            Decision::Dispatch
        },
        unit_types: types.to_vec(),
        note: None,
    }
}

pub fn dispatched(id: &str, unit_type: UnitType) -> EventBody {
    EventBody::UnitDispatched {
        unit: unit(id),
        unit_type,
        label: id.to_uppercase(),
        recommended: None,
        reason: None,
    }
}

pub fn progressed(id: &str, step: UnitStep) -> EventBody {
    EventBody::UnitProgressed {
        unit: unit(id),
        step,
        destination_cnes: (step == UnitStep::AtDestination)
            .then(|| Cnes::parse("cnes", "0027014").unwrap()),
        note: (step == UnitStep::Cancelled).then(|| "outra unidade mais próxima".to_owned()),
    }
}
