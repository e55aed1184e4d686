//! A vehicle's report as it arrives on the gRPC stream: protobuf bytes,
//! decoded by prost, validated and converted by `samu_grpc::convert::report`,
//! then applied to a fleet state like `Central::ingest` does.
//!
//! Invariants:
//! - a rejection names a field of the message (`seq`, `body`, `position.*`,
//!   `crew_status.*`);
//! - an accepted report keeps the message's numbers exactly, has times in
//!   whole milliseconds that survive the trip back to the wire, finite and
//!   in-range coordinates and measures, at most `MAX_CREW` distinct members,
//!   never a `NO_SIGNAL` status, a reason exactly when out of service;
//! - converting the accepted report back to a message and again gives the
//!   same report;
//! - the fleet state either applies it or refuses it by field, never panics.
#![no_main]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use samu_domain::{CentralId, UnitId, UnitStatus, UnitType};
use samu_fleet::{FleetConfig, FleetError, FleetState, UnitRecord};
use samu_grpc::convert;
use samu_proto::v1 as pb;
use samu_runtime::ReportBody;

fn server_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fn unit() -> UnitId {
    UnitId::parse("unit_id", "usa-1").unwrap()
}

fn check_rejection_field(field: &str) {
    let known = ["seq", "body", "position", "crew_status"];
    assert!(
        known
            .iter()
            .any(|k| field == *k || field.starts_with(&format!("{k}."))),
        "a rejection names an unknown field {field:?}"
    );
}

fn fix_message(f: &samu_fleet::Fix) -> pb::Position {
    pb::Position {
        fix_time: Some(convert::timestamp(f.at)),
        latitude: f.point.lat(),
        longitude: f.point.lon(),
        speed_mps: f.speed_mps,
        heading_deg: f.heading_deg,
        accuracy_m: f.accuracy_m,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(message) = pb::VehicleReport::decode(data) else {
        return;
    };
    // prost itself: what decoded re-encodes to something that decodes the
    // same (compared encoded: a NaN coordinate is not equal to itself).
    let bytes = message.encode_to_vec();
    let again = pb::VehicleReport::decode(bytes.as_slice()).expect("a decoded message re-encodes");
    assert_eq!(again.encode_to_vec(), bytes);

    let report = match convert::report(&message, unit()) {
        Ok(r) => r,
        Err(e) => {
            check_rejection_field(&e.field);
            assert!(!e.message.is_empty());
            return;
        }
    };
    assert_eq!(report.seq, message.seq);
    assert!(report.seq >= 1);
    assert_eq!(report.unit, unit());

    match &report.body {
        ReportBody::Position(f) => {
            let Some(pb::vehicle_report::Body::Position(p)) = &message.body else {
                panic!("a position from a message without one");
            };
            assert_eq!(f.point.lat(), p.latitude);
            assert_eq!(f.point.lon(), p.longitude);
            assert!(f.point.lat().abs() <= 90.0 && f.point.lon().abs() <= 180.0);
            assert_eq!(f.at, samu_domain::time::to_millis(f.at), "whole ms");
            for (v, max) in [
                (f.speed_mps, 400.0),
                (f.heading_deg, 360.0),
                (f.accuracy_m, 100_000.0),
            ] {
                if let Some(v) = v {
                    assert!(v.is_finite() && (0.0..max).contains(&v), "{v}");
                }
            }
            // Back to the wire and in again: the same fix.
            let back = convert::fix(&fix_message(f)).expect("an accepted fix re-converts");
            assert_eq!(&back, f);
            assert_eq!(
                convert::time("t", Some(&convert::timestamp(f.at))).unwrap(),
                f.at
            );
        }
        ReportBody::CrewStatus(c) => {
            let Some(pb::vehicle_report::Body::CrewStatus(m)) = &message.body else {
                panic!("a crew status from a message without one");
            };
            assert_ne!(c.status, UnitStatus::NoSignal);
            assert_eq!(convert::status_pb(c.status) as i32, m.status);
            assert_eq!(
                c.out_of_service_reason.is_some(),
                c.status == UnitStatus::OutOfService
            );
            assert!(c.crew.len() <= convert::MAX_CREW);
            assert_eq!(c.crew.len(), m.crew.len());
            for (i, member) in c.crew.iter().enumerate() {
                assert_eq!(member.id.as_str(), m.crew[i].member_id);
                assert_eq!(convert::crew_role_pb(member.role) as i32, m.crew[i].role);
                assert!(c.crew[..i].iter().all(|o| o.id != member.id), "duplicate");
            }
            assert_eq!(c.reported_at, samu_domain::time::to_millis(c.reported_at));
            let back = convert::crew_status(&pb::CrewStatus {
                reported_at: Some(convert::timestamp(c.reported_at)),
                status: convert::status_pb(c.status).into(),
                out_of_service_reason: convert::reason_pb(c.out_of_service_reason).into(),
                crew: c
                    .crew
                    .iter()
                    .map(|m| pb::CrewMember {
                        member_id: m.id.to_string(),
                        role: convert::crew_role_pb(m.role).into(),
                    })
                    .collect(),
            })
            .expect("an accepted crew status re-converts");
            assert_eq!(&back, c);
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }

    // Into a fleet state, at a server time near the report's own and at one
    // far from it.
    let mut fleet = FleetState::new(FleetConfig::default());
    fleet.upsert_unit(
        UnitRecord {
            id: unit(),
            central: CentralId::parse("c", "3106200").unwrap(),
            unit_type: UnitType::Usa,
            base: None,
            label: "USA 1".into(),
        },
        server_now(),
    );
    let at = match &report.body {
        ReportBody::Position(f) => f.at,
        ReportBody::CrewStatus(c) => c.reported_at,
        #[allow(unreachable_patterns)]
        _ => return,
    };
    let later = |t: DateTime<Utc>, d: TimeDelta| t.checked_add_signed(d).unwrap_or(t);
    for now in [at, server_now(), later(at, TimeDelta::seconds(1))] {
        let result = match report.body.clone() {
            ReportBody::Position(f) => fleet
                .apply_position(&report.unit, report.seq, f, now)
                .map(drop),
            ReportBody::CrewStatus(c) => fleet
                .apply_crew_status(&report.unit, report.seq, c, now)
                .map(drop),
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        };
        match result {
            Ok(()) => {}
            Err(FleetError::Invalid(e)) => check_rejection_field(&e.field),
            Err(e) => panic!("unexpected fleet error {e}"),
        }
        let _ = fleet.sweep_signal(later(now, TimeDelta::hours(3)));
    }
});
