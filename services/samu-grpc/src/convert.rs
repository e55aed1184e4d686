//! Protobuf ⇄ domain. Incoming messages are validated here, once, and every
//! error names the field as the client spelled it.

use chrono::{DateTime, TimeZone, Utc};
use prost_types::Timestamp;
use samu_domain::{
    CentralId, CrewMember, CrewRole, GeoPoint, MemberId, OutOfServiceReason, UnitId, UnitStatus,
    UnitType, ValidationError,
};
use samu_fleet::{CrewStatusReport, Fix, UnitState};
use samu_proto::v1 as pb;
use samu_runtime::{Report, ReportBody};

/// Most crew members one report may list.
pub const MAX_CREW: usize = 12;

type Result<T> = std::result::Result<T, ValidationError>;

/// A required timestamp.
pub fn time(field: &str, ts: Option<&Timestamp>) -> Result<DateTime<Utc>> {
    let ts = ts.ok_or_else(|| ValidationError::new(field, "is required"))?;
    let nanos = u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| ValidationError::new(field, format!("nanos {} out of range", ts.nanos)))?;
    Utc.timestamp_opt(ts.seconds, nanos)
        .single()
        .map(samu_domain::time::to_millis)
        .ok_or_else(|| {
            ValidationError::new(
                field,
                format!("{} s is not a representable time", ts.seconds),
            )
        })
}

/// A time on the wire.
pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A unit type.
pub fn unit_type(field: &str, raw: i32) -> Result<UnitType> {
    match pb::UnitType::try_from(raw) {
        Ok(pb::UnitType::Usb) => Ok(UnitType::Usb),
        Ok(pb::UnitType::Usa) => Ok(UnitType::Usa),
        Ok(pb::UnitType::Moto) => Ok(UnitType::Moto),
        Ok(pb::UnitType::Vir) => Ok(UnitType::Vir),
        Ok(pb::UnitType::Aero) => Ok(UnitType::Aero),
        Ok(pb::UnitType::Emb) => Ok(UnitType::Emb),
        Ok(pb::UnitType::Unspecified) => Err(ValidationError::new(field, "is required")),
        Err(_) => Err(ValidationError::new(
            field,
            format!("{raw} is not a unit type"),
        )),
    }
}

/// A unit type on the wire.
pub fn unit_type_pb(t: UnitType) -> pb::UnitType {
    match t {
        UnitType::Usb => pb::UnitType::Usb,
        UnitType::Usa => pb::UnitType::Usa,
        UnitType::Moto => pb::UnitType::Moto,
        UnitType::Vir => pb::UnitType::Vir,
        UnitType::Aero => pb::UnitType::Aero,
        UnitType::Emb => pb::UnitType::Emb,
    }
}

const STATUS_TABLE: [(pb::UnitStatus, UnitStatus); 9] = [
    (pb::UnitStatus::AvailableAtBase, UnitStatus::AvailableAtBase),
    (
        pb::UnitStatus::AvailableOnTheMove,
        UnitStatus::AvailableOnTheMove,
    ),
    (pb::UnitStatus::Dispatched, UnitStatus::Dispatched),
    (pb::UnitStatus::EnRoute, UnitStatus::EnRoute),
    (pb::UnitStatus::OnScene, UnitStatus::OnScene),
    (pb::UnitStatus::Transporting, UnitStatus::Transporting),
    (pb::UnitStatus::AtDestination, UnitStatus::AtDestination),
    (pb::UnitStatus::OutOfService, UnitStatus::OutOfService),
    (pb::UnitStatus::NoSignal, UnitStatus::NoSignal),
];

/// A status an app may report.
pub fn reported_status(field: &str, raw: i32) -> Result<UnitStatus> {
    let status = pb::UnitStatus::try_from(raw)
        .ok()
        .and_then(|p| STATUS_TABLE.iter().find(|(w, _)| *w == p).map(|(_, s)| *s));
    match status {
        Some(UnitStatus::NoSignal) => Err(ValidationError::new(
            field,
            "UNIT_STATUS_NO_SIGNAL is derived by the server and cannot be reported",
        )),
        Some(s) => Ok(s),
        None if raw == 0 => Err(ValidationError::new(field, "is required")),
        None => Err(ValidationError::new(
            field,
            format!("{raw} is not a unit status"),
        )),
    }
}

/// A status on the wire.
pub fn status_pb(s: UnitStatus) -> pb::UnitStatus {
    STATUS_TABLE
        .iter()
        .find(|(_, d)| *d == s)
        .map(|(w, _)| *w)
        .unwrap_or(pb::UnitStatus::Unspecified)
}

const REASON_TABLE: [(pb::OutOfServiceReason, OutOfServiceReason); 6] = [
    (
        pb::OutOfServiceReason::Maintenance,
        OutOfServiceReason::Maintenance,
    ),
    (pb::OutOfServiceReason::NoCrew, OutOfServiceReason::NoCrew),
    (
        pb::OutOfServiceReason::IncompleteCrew,
        OutOfServiceReason::IncompleteCrew,
    ),
    (
        pb::OutOfServiceReason::Equipment,
        OutOfServiceReason::Equipment,
    ),
    (
        pb::OutOfServiceReason::Cleaning,
        OutOfServiceReason::Cleaning,
    ),
    (pb::OutOfServiceReason::Other, OutOfServiceReason::Other),
];

fn reason(field: &str, raw: i32) -> Result<Option<OutOfServiceReason>> {
    if raw == 0 {
        return Ok(None);
    }
    pb::OutOfServiceReason::try_from(raw)
        .ok()
        .and_then(|p| {
            REASON_TABLE
                .iter()
                .find(|(w, _)| *w == p)
                .map(|(_, r)| Some(*r))
        })
        .ok_or_else(|| {
            ValidationError::new(field, format!("{raw} is not an out-of-service reason"))
        })
}

/// A reason on the wire.
pub fn reason_pb(r: Option<OutOfServiceReason>) -> pb::OutOfServiceReason {
    r.and_then(|r| REASON_TABLE.iter().find(|(_, d)| *d == r).map(|(w, _)| *w))
        .unwrap_or(pb::OutOfServiceReason::Unspecified)
}

const ROLE_TABLE: [(pb::CrewRole, CrewRole); 6] = [
    (pb::CrewRole::Driver, CrewRole::Driver),
    (pb::CrewRole::NursingTechnician, CrewRole::NursingTechnician),
    (pb::CrewRole::NursingAuxiliary, CrewRole::NursingAuxiliary),
    (pb::CrewRole::Nurse, CrewRole::Nurse),
    (pb::CrewRole::Physician, CrewRole::Physician),
    (pb::CrewRole::Pilot, CrewRole::Pilot),
];

fn crew_role(field: &str, raw: i32) -> Result<CrewRole> {
    pb::CrewRole::try_from(raw)
        .ok()
        .and_then(|p| ROLE_TABLE.iter().find(|(w, _)| *w == p).map(|(_, r)| *r))
        .ok_or_else(|| {
            if raw == 0 {
                ValidationError::new(field, "is required")
            } else {
                ValidationError::new(field, format!("{raw} is not a crew role"))
            }
        })
}

/// A crew role on the wire.
pub fn crew_role_pb(r: CrewRole) -> pb::CrewRole {
    ROLE_TABLE
        .iter()
        .find(|(_, d)| *d == r)
        .map(|(w, _)| *w)
        .unwrap_or(pb::CrewRole::Unspecified)
}

/// A point; `field` is the message's path (`point`, `location`).
pub fn point(field: &str, p: Option<&pb::GeoPoint>) -> Result<GeoPoint> {
    let p = p.ok_or_else(|| ValidationError::new(field, "is required"))?;
    GeoPoint::new(field, p.latitude, p.longitude)
}

fn optional_measure(field: &str, value: Option<f32>, min: f32, max: f32) -> Result<Option<f32>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && (min..max).contains(&v) => Ok(Some(v)),
        Some(v) => Err(ValidationError::new(
            field,
            format!("{v} is not a finite number in [{min}, {max})"),
        )),
    }
}

/// A GPS fix.
pub fn fix(p: &pb::Position) -> Result<Fix> {
    Ok(Fix {
        at: time("position.fix_time", p.fix_time.as_ref())?,
        point: GeoPoint::new("position", p.latitude, p.longitude)?,
        speed_mps: optional_measure("position.speed_mps", p.speed_mps, 0.0, 400.0)?,
        heading_deg: optional_measure("position.heading_deg", p.heading_deg, 0.0, 360.0)?,
        accuracy_m: optional_measure("position.accuracy_m", p.accuracy_m, 0.0, 100_000.0)?,
    })
}

/// A crew/status declaration.
pub fn crew_status(c: &pb::CrewStatus) -> Result<CrewStatusReport> {
    let status = reported_status("crew_status.status", c.status)?;
    let reason = reason("crew_status.out_of_service_reason", c.out_of_service_reason)?;
    if status == UnitStatus::OutOfService && reason.is_none() {
        return Err(ValidationError::new(
            "crew_status.out_of_service_reason",
            "is required when the status is UNIT_STATUS_OUT_OF_SERVICE",
        ));
    }
    if c.crew.len() > MAX_CREW {
        return Err(ValidationError::new(
            "crew_status.crew",
            format!("lists {} members, at most {MAX_CREW} allowed", c.crew.len()),
        ));
    }
    let mut crew: Vec<CrewMember> = Vec::with_capacity(c.crew.len());
    for (i, m) in c.crew.iter().enumerate() {
        let id = MemberId::parse(&format!("crew_status.crew[{i}].member_id"), &m.member_id)?;
        if crew.iter().any(|c| c.id == id) {
            return Err(ValidationError::new(
                format!("crew_status.crew[{i}].member_id"),
                format!("{id} is listed twice"),
            ));
        }
        crew.push(CrewMember {
            id,
            role: crew_role(&format!("crew_status.crew[{i}].role"), m.role)?,
        });
    }
    Ok(CrewStatusReport {
        reported_at: time("crew_status.reported_at", c.reported_at.as_ref())?,
        status,
        out_of_service_reason: reason.filter(|_| status == UnitStatus::OutOfService),
        crew,
    })
}

/// A vehicle report, for an already-checked unit.
pub fn report(r: &pb::VehicleReport, unit: UnitId) -> Result<Report> {
    if r.seq == 0 {
        return Err(ValidationError::new("seq", "must be at least 1"));
    }
    let body = match &r.body {
        Some(pb::vehicle_report::Body::Position(p)) => ReportBody::Position(fix(p)?),
        Some(pb::vehicle_report::Body::CrewStatus(c)) => ReportBody::CrewStatus(crew_status(c)?),
        None => {
            return Err(ValidationError::new(
                "body",
                "a position or a crew_status is required",
            ))
        }
    };
    Ok(Report {
        seq: r.seq,
        unit,
        body,
    })
}

/// An optional central filter ("" means none).
pub fn optional_central(field: &str, raw: &str) -> Result<Option<CentralId>> {
    if raw.is_empty() {
        Ok(None)
    } else {
        CentralId::parse(field, raw).map(Some)
    }
}

/// A unit's state on the wire.
pub fn unit_state(u: &UnitState) -> pb::UnitState {
    pb::UnitState {
        unit_id: u.record.id.to_string(),
        central_id: u.record.central.to_string(),
        r#type: unit_type_pb(u.record.unit_type).into(),
        base_id: u
            .record
            .base
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        label: u.record.label.clone(),
        status: status_pb(u.status()).into(),
        apco_status: u.status().apco_code().to_owned(),
        out_of_service_reason: reason_pb(u.out_of_service_reason).into(),
        position: u.fix.map(|f| pb::GeoPoint {
            latitude: f.point.lat(),
            longitude: f.point.lon(),
        }),
        fix_time: u.fix.map(|f| timestamp(f.at)),
        speed_mps: u.fix.and_then(|f| f.speed_mps),
        heading_deg: u.fix.and_then(|f| f.heading_deg),
        crew_roles: u.crew.iter().map(|m| crew_role_pb(m.role).into()).collect(),
        crew_complete: u.crew_check.complete,
        missing_roles: u
            .crew_check
            .missing
            .iter()
            .map(|r| crew_role_pb(*r).into())
            .collect(),
        status_since: Some(timestamp(u.status_since)),
        updated_at: Some(timestamp(u.updated_at)),
        position_flagged: u.position_flagged,
    }
}
