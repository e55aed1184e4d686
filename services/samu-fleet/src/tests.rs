//! Unit tests of the fleet state: transitions, crews, sequences, nearest.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use samu_domain::{
    CentralId, CrewMember, CrewRole, GeoPoint, MemberId, OutOfServiceReason, UnitId, UnitStatus,
    UnitType,
};

use crate::*;

const BH: &str = "3106200";
const CONTAGEM: &str = "3118601";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

fn uid(s: &str) -> UnitId {
    UnitId::parse("unit_id", s).unwrap()
}

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new("p", lat, lon).unwrap()
}

fn fix(at: DateTime<Utc>, lat: f64, lon: f64) -> Fix {
    Fix {
        at,
        point: point(lat, lon),
        speed_mps: None,
        heading_deg: None,
        accuracy_m: None,
    }
}

fn full_crew(t: UnitType) -> Vec<CrewMember> {
    use CrewRole::*;
    let roles: &[CrewRole] = match t {
        UnitType::Usb => &[Driver, NursingTechnician],
        UnitType::Usa => &[Driver, Nurse, Physician],
        UnitType::Moto => &[NursingTechnician],
        UnitType::Vir => &[Driver, Physician, Nurse],
        UnitType::Aero => &[Pilot, Physician, Nurse],
        UnitType::Emb => &[Pilot, Nurse],
    };
    roles
        .iter()
        .enumerate()
        .map(|(i, &role)| CrewMember {
            id: MemberId::parse("m", &format!("p{i}")).unwrap(),
            role,
        })
        .collect()
}

fn fleet_with(units: &[(&str, &str, UnitType)]) -> FleetState {
    let mut fleet = FleetState::new(FleetConfig::default());
    for (id, central, t) in units {
        fleet.upsert_unit(
            UnitRecord {
                id: uid(id),
                central: CentralId::parse("c", central).unwrap(),
                unit_type: *t,
                base: None,
                label: id.to_string(),
            },
            t0(),
        );
    }
    fleet
}

fn report(at: DateTime<Utc>, status: UnitStatus, crew: Vec<CrewMember>) -> CrewStatusReport {
    CrewStatusReport {
        reported_at: at,
        status,
        out_of_service_reason: (status == UnitStatus::OutOfService)
            .then_some(OutOfServiceReason::Maintenance),
        crew,
    }
}

/// Brings a unit to "available at base" with a full crew at a point.
fn make_ready(fleet: &mut FleetState, id: &str, t: UnitType, seq: u64, lat: f64, lon: f64) {
    fleet
        .apply_position(&uid(id), seq, fix(t0(), lat, lon), t0())
        .unwrap();
    fleet
        .apply_crew_status(
            &uid(id),
            seq + 1,
            report(t0(), UnitStatus::AvailableAtBase, full_crew(t)),
            t0(),
        )
        .unwrap();
}

#[test]
fn a_new_unit_has_no_signal_and_is_not_dispatchable() {
    let fleet = fleet_with(&[("usa1", BH, UnitType::Usa)]);
    let unit = fleet.unit(&uid("usa1")).unwrap();
    assert_eq!(unit.status(), UnitStatus::NoSignal);
    assert!(!unit.is_dispatchable());
    assert!(!unit.crew_check.complete);
}

#[test]
fn status_transitions_write_one_event_per_real_change() {
    let mut fleet = fleet_with(&[("usb1", BH, UnitType::Usb)]);
    let id = uid("usb1");
    let out = fleet
        .apply_position(&id, 1, fix(t0(), -19.9, -43.9), t0())
        .unwrap();
    let PositionOutcome::Taken {
        status_change: Some(first),
        ..
    } = out
    else {
        panic!("first fix must end no-signal: {out:?}")
    };
    assert_eq!(
        (first.event_no, first.status),
        (1, UnitStatus::OutOfService)
    );

    let steps = [
        UnitStatus::AvailableAtBase,
        UnitStatus::Dispatched,
        UnitStatus::EnRoute,
        UnitStatus::OnScene,
        UnitStatus::Transporting,
        UnitStatus::AtDestination,
        UnitStatus::AvailableOnTheMove,
        UnitStatus::OutOfService,
    ];
    for (i, status) in steps.into_iter().enumerate() {
        let at = t0() + secs(10 * (i as i64 + 1));
        let out = fleet
            .apply_crew_status(
                &id,
                2 + i as u64,
                report(at, status, full_crew(UnitType::Usb)),
                at,
            )
            .unwrap();
        let CrewStatusOutcome::Applied {
            status_change: Some(change),
            ..
        } = out
        else {
            panic!("{status} must be a change")
        };
        assert_eq!(change.status, status);
        assert_eq!(change.event_no, 2 + i as u64);
        assert_eq!(change.at, at);
        assert!(change.crew_complete);
        assert_eq!(fleet.unit(&id).unwrap().status_since, at);
    }
    // The same declaration again changes nothing and writes no event.
    let at = t0() + secs(200);
    let out = fleet
        .apply_crew_status(
            &id,
            20,
            report(at, UnitStatus::OutOfService, full_crew(UnitType::Usb)),
            at,
        )
        .unwrap();
    assert_eq!(
        out,
        CrewStatusOutcome::Applied {
            status_change: None,
            crew_change: None
        }
    );
}

#[test]
fn crew_completeness_for_each_type_gates_dispatch() {
    for t in UnitType::ALL {
        let mut fleet = fleet_with(&[("u", BH, t)]);
        let id = uid("u");
        fleet
            .apply_position(&id, 1, fix(t0(), -19.9, -43.9), t0())
            .unwrap();
        let mut crew = full_crew(t);
        let missing = crew.pop().unwrap();
        fleet
            .apply_crew_status(
                &id,
                2,
                report(t0(), UnitStatus::AvailableAtBase, crew.clone()),
                t0(),
            )
            .unwrap();
        let unit = fleet.unit(&id).unwrap();
        assert!(!unit.crew_check.complete, "{t} without {:?}", missing.role);
        assert!(!unit.is_dispatchable());
        assert!(fleet.nearest(&query(&[t], 5)).is_empty(), "{t}");

        crew.push(missing);
        let out = fleet
            .apply_crew_status(
                &id,
                3,
                report(t0() + secs(1), UnitStatus::AvailableAtBase, crew),
                t0(),
            )
            .unwrap();
        let CrewStatusOutcome::Applied {
            status_change: Some(change),
            crew_change: Some(crew_change),
        } = out
        else {
            panic!("{t}: completing the crew is a change")
        };
        assert!(change.crew_complete);
        assert_eq!(crew_change.joined.len(), 1);
        assert!(fleet.unit(&id).unwrap().is_dispatchable(), "{t}");
        assert_eq!(fleet.nearest(&query(&[t], 5)).len(), 1, "{t}");
    }
}

#[test]
fn crew_changes_list_who_boarded_and_who_left() {
    let mut fleet = fleet_with(&[("usb1", BH, UnitType::Usb)]);
    let id = uid("usb1");
    let crew = full_crew(UnitType::Usb);
    fleet
        .apply_crew_status(
            &id,
            1,
            report(t0(), UnitStatus::AvailableAtBase, crew.clone()),
            t0(),
        )
        .unwrap();
    let replacement = CrewMember {
        id: MemberId::parse("m", "new-driver").unwrap(),
        role: CrewRole::Driver,
    };
    let new_crew = vec![replacement.clone(), crew[1].clone()];
    let out = fleet
        .apply_crew_status(
            &id,
            2,
            report(t0() + secs(5), UnitStatus::AvailableAtBase, new_crew),
            t0(),
        )
        .unwrap();
    let CrewStatusOutcome::Applied {
        status_change,
        crew_change: Some(change),
    } = out
    else {
        panic!()
    };
    assert_eq!(status_change, None, "still complete, same status");
    assert_eq!(change.joined, vec![replacement]);
    assert_eq!(change.left, vec![crew[0].id.clone()]);
}

#[test]
fn repeated_sequences_are_ignored_and_older_fixes_never_win() {
    let mut fleet = fleet_with(&[("usb1", BH, UnitType::Usb)]);
    let id = uid("usb1");
    fleet
        .apply_position(&id, 1, fix(t0() + secs(10), -19.90, -43.90), t0())
        .unwrap();
    assert_eq!(
        fleet
            .apply_position(&id, 1, fix(t0() + secs(20), -19.91, -43.91), t0())
            .unwrap(),
        PositionOutcome::Duplicate
    );
    let out = fleet
        .apply_position(&id, 2, fix(t0() + secs(5), -19.92, -43.92), t0())
        .unwrap();
    assert!(matches!(
        out,
        PositionOutcome::Taken {
            kind: PositionKind::Stale,
            keep_in_track: true,
            ..
        }
    ));
    let unit = fleet.unit(&id).unwrap();
    assert_eq!(unit.fix.unwrap().point.lat(), -19.90);
    assert_eq!(unit.last_seq(), 2);
    // A stale crew report is ignored too.
    fleet
        .apply_crew_status(
            &id,
            3,
            report(t0() + secs(30), UnitStatus::AvailableAtBase, vec![]),
            t0(),
        )
        .unwrap();
    assert_eq!(
        fleet
            .apply_crew_status(
                &id,
                4,
                report(t0() + secs(29), UnitStatus::OutOfService, vec![]),
                t0()
            )
            .unwrap(),
        CrewStatusOutcome::Stale
    );
    assert_eq!(
        fleet.unit(&id).unwrap().reported_status,
        UnitStatus::AvailableAtBase
    );
}

#[test]
fn impossible_jumps_are_flagged_until_confirmed() {
    let mut fleet = fleet_with(&[("usb1", BH, UnitType::Usb)]);
    let id = uid("usb1");
    fleet
        .apply_position(&id, 1, fix(t0(), -19.90, -43.90), t0())
        .unwrap();
    // 100 km in 10 s.
    let out = fleet
        .apply_position(&id, 2, fix(t0() + secs(10), -20.80, -43.90), t0())
        .unwrap();
    assert!(matches!(
        out,
        PositionOutcome::Taken {
            kind: PositionKind::Flagged,
            ..
        }
    ));
    let unit = fleet.unit(&id).unwrap();
    assert!(unit.position_flagged);
    assert_eq!(unit.fix.unwrap().point.lat(), -19.90, "not trusted");
    // A plausible fix near the old position is trusted again.
    let out = fleet
        .apply_position(&id, 3, fix(t0() + secs(20), -19.901, -43.90), t0())
        .unwrap();
    assert!(matches!(
        out,
        PositionOutcome::Taken {
            kind: PositionKind::Applied,
            ..
        }
    ));
    assert!(!fleet.unit(&id).unwrap().position_flagged);
    // Two consistent fixes far away confirm a real relocation.
    fleet
        .apply_position(&id, 4, fix(t0() + secs(30), -20.80, -43.90), t0())
        .unwrap();
    let out = fleet
        .apply_position(&id, 5, fix(t0() + secs(40), -20.8005, -43.90), t0())
        .unwrap();
    assert!(matches!(
        out,
        PositionOutcome::Taken {
            kind: PositionKind::Applied,
            ..
        }
    ));
    assert_eq!(fleet.unit(&id).unwrap().fix.unwrap().point.lat(), -20.8005);
}

#[test]
fn times_far_off_are_refused_with_the_field_named() {
    let mut fleet = fleet_with(&[("usb1", BH, UnitType::Usb)]);
    let id = uid("usb1");
    let err = fleet
        .apply_position(&id, 1, fix(t0() + secs(3600), -19.9, -43.9), t0())
        .unwrap_err();
    assert!(
        matches!(&err, FleetError::Invalid(e) if e.field == "position.fix_time"),
        "{err}"
    );
    let err = fleet
        .apply_position(&id, 1, fix(t0() - secs(3 * 86400), -19.9, -43.9), t0())
        .unwrap_err();
    assert!(
        matches!(&err, FleetError::Invalid(e) if e.field == "position.fix_time"),
        "{err}"
    );
    let err = fleet
        .apply_crew_status(
            &id,
            1,
            report(t0() + secs(3600), UnitStatus::AvailableAtBase, vec![]),
            t0(),
        )
        .unwrap_err();
    assert!(matches!(&err, FleetError::Invalid(e) if e.field == "crew_status.reported_at"));
    let err = fleet
        .apply_crew_status(&id, 1, report(t0(), UnitStatus::NoSignal, vec![]), t0())
        .unwrap_err();
    assert!(matches!(&err, FleetError::Invalid(e) if e.field == "crew_status.status"));
    let err = fleet
        .apply_position(&id, 0, fix(t0(), -19.9, -43.9), t0())
        .unwrap_err();
    assert!(matches!(&err, FleetError::Invalid(e) if e.field == "seq"));
    // A refused report does not use up its sequence number.
    assert!(matches!(
        fleet
            .apply_position(&id, 1, fix(t0(), -19.9, -43.9), t0())
            .unwrap(),
        PositionOutcome::Taken { .. }
    ));
    assert_eq!(
        fleet
            .apply_position(&uid("ghost"), 1, fix(t0(), 0.0, 0.0), t0())
            .unwrap_err(),
        FleetError::UnknownUnit(uid("ghost"))
    );
}

/// The runtime walks the fleet for lost signals a part at a time, each
/// part under its own hold of the fleet's lock; the parts find what one
/// walk finds, and a unit that reports before the marking keeps its signal.
#[test]
fn the_signal_walk_in_parts_finds_what_one_walk_finds() {
    let mut fleet = fleet_with(&[
        ("usa1", BH, UnitType::Usa),
        ("usa2", BH, UnitType::Usa),
        ("usb3", BH, UnitType::Usb),
    ]);
    make_ready(&mut fleet, "usa1", UnitType::Usa, 1, -19.9, -43.9);
    make_ready(&mut fleet, "usa2", UnitType::Usa, 1, -19.91, -43.91);
    make_ready(&mut fleet, "usb3", UnitType::Usb, 1, -19.92, -43.92);
    let now = t0() + secs(500);
    assert!(fleet.signal_lost(t0() + secs(100)).is_empty());
    let whole = fleet.signal_lost(now);
    assert_eq!(whole.len(), 3);

    let mut parts = Vec::new();
    let mut next = Some(0);
    let mut holds = 0;
    while let Some(from) = next {
        next = fleet.signal_lost_from(from, 2, &mut parts, now);
        holds += 1;
    }
    assert_eq!(parts, whole);
    assert_eq!(holds, 2);
    // Past the end: nothing, and no next part.
    assert_eq!(fleet.signal_lost_from(7, 2, &mut parts, now), None);
    assert_eq!(parts, whole);

    // usa2 reports between the walk and the marking: it keeps its signal.
    fleet
        .apply_position(&uid("usa2"), 10, fix(now, -19.91, -43.91), now)
        .unwrap();
    let changes = fleet.declare_signal_lost(&whole, now);
    let marked: Vec<&str> = changes.iter().map(|c| c.unit.as_str()).collect();
    assert_eq!(marked.len(), 2, "{marked:?}");
    assert!(!marked.contains(&"usa2"), "{marked:?}");
    assert!(fleet.unit(&uid("usa2")).unwrap().is_dispatchable());
    assert!(fleet.signal_lost(now).is_empty(), "only once");
}

#[test]
fn silent_units_lose_signal_and_get_it_back() {
    let mut fleet = fleet_with(&[("usa1", BH, UnitType::Usa)]);
    make_ready(&mut fleet, "usa1", UnitType::Usa, 1, -19.9, -43.9);
    let id = uid("usa1");
    assert!(fleet.unit(&id).unwrap().is_dispatchable());
    assert!(fleet.sweep_signal(t0() + secs(100)).is_empty());
    let changes = fleet.sweep_signal(t0() + secs(500));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].status, UnitStatus::NoSignal);
    assert_eq!(
        changes[0].at,
        t0() + secs(120),
        "dated when the delay ran out"
    );
    assert!(fleet.sweep_signal(t0() + secs(600)).is_empty(), "only once");
    assert!(!fleet.unit(&id).unwrap().is_dispatchable());
    assert!(fleet.nearest(&query(&[UnitType::Usa], 5)).is_empty());

    let at = t0() + secs(700);
    let out = fleet
        .apply_position(&id, 10, fix(at, -19.9, -43.9), at)
        .unwrap();
    let PositionOutcome::Taken {
        status_change: Some(back),
        keep_in_track: true,
        ..
    } = out
    else {
        panic!()
    };
    assert_eq!(back.status, UnitStatus::AvailableAtBase);
    assert!(fleet.unit(&id).unwrap().is_dispatchable());
}

#[test]
fn the_track_keeps_fixes_by_time_or_distance() {
    let mut fleet = fleet_with(&[("usb1", BH, UnitType::Usb)]);
    let id = uid("usb1");
    let kept = |out: PositionOutcome| match out {
        PositionOutcome::Taken { keep_in_track, .. } => keep_in_track,
        PositionOutcome::Duplicate => panic!(),
    };
    assert!(kept(
        fleet
            .apply_position(&id, 1, fix(t0(), -19.9, -43.9), t0())
            .unwrap()
    ));
    assert!(!kept(
        fleet
            .apply_position(&id, 2, fix(t0() + secs(5), -19.9, -43.9), t0())
            .unwrap()
    ));
    assert!(kept(
        fleet
            .apply_position(&id, 3, fix(t0() + secs(15), -19.9, -43.9), t0())
            .unwrap()
    ));
    // ~150 m in 5 s: kept for the distance.
    assert!(kept(
        fleet
            .apply_position(&id, 4, fix(t0() + secs(20), -19.9013, -43.9), t0())
            .unwrap()
    ));
}

fn query(types: &[UnitType], limit: usize) -> NearestQuery<'_> {
    NearestQuery {
        point: point(-19.9167, -43.9345),
        types,
        limit,
        central: None,
    }
}

#[test]
fn nearest_orders_by_distance_filters_and_limits() {
    let mut fleet = fleet_with(&[
        ("usa-far", BH, UnitType::Usa),
        ("usa-near", BH, UnitType::Usa),
        ("usa-mid", CONTAGEM, UnitType::Usa),
        ("usb-near", BH, UnitType::Usb),
        ("usa-busy", BH, UnitType::Usa),
    ]);
    make_ready(&mut fleet, "usa-far", UnitType::Usa, 1, -20.3, -43.9);
    make_ready(&mut fleet, "usa-near", UnitType::Usa, 1, -19.92, -43.94);
    make_ready(&mut fleet, "usa-mid", UnitType::Usa, 1, -19.93, -44.05);
    make_ready(&mut fleet, "usb-near", UnitType::Usb, 1, -19.917, -43.935);
    make_ready(&mut fleet, "usa-busy", UnitType::Usa, 1, -19.9167, -43.9345);
    fleet
        .apply_crew_status(
            &uid("usa-busy"),
            3,
            report(
                t0() + secs(1),
                UnitStatus::EnRoute,
                full_crew(UnitType::Usa),
            ),
            t0(),
        )
        .unwrap();

    let ids = |found: Vec<Nearest<'_>>| {
        found
            .iter()
            .map(|n| n.unit.record.id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(fleet.nearest(&query(&[UnitType::Usa], 5))),
        ["usa-near", "usa-mid", "usa-far"]
    );
    assert_eq!(
        ids(fleet.nearest(&query(&[UnitType::Usa], 2))),
        ["usa-near", "usa-mid"]
    );
    assert_eq!(
        ids(fleet.nearest(&query(&[UnitType::Usa, UnitType::Usb], 2))),
        ["usb-near", "usa-near"]
    );
    let bh = CentralId::parse("c", BH).unwrap();
    let only_bh = NearestQuery {
        central: Some(&bh),
        ..query(&[UnitType::Usa], 5)
    };
    assert_eq!(ids(fleet.nearest(&only_bh)), ["usa-near", "usa-far"]);
    assert!(fleet.nearest(&query(&[UnitType::Moto], 5)).is_empty());
    assert!(fleet.nearest(&query(&[], 5)).is_empty());

    let first = &fleet.nearest(&query(&[UnitType::Usa], 1))[0];
    let expected = point(-19.9167, -43.9345).distance_m(point(-19.92, -43.94));
    assert!((first.distance_m - expected).abs() < 0.01);
    // 1.4 detour at 40 km/h.
    assert!((first.eta_s - expected * 1.4 / (40.0 / 3.6)).abs() < 0.01);
}

/// A central's own trees (their sizes are its dispatchable counts) follow
/// every way a unit enters or leaves dispatch, and a change of central.
#[test]
fn dispatchable_counts_follow_status_retirement_and_central() {
    let mut fleet = fleet_with(&[
        ("usa-1", BH, UnitType::Usa),
        ("usa-2", BH, UnitType::Usa),
        ("usb-1", CONTAGEM, UnitType::Usb),
    ]);
    let (bh, contagem) = (
        CentralId::parse("c", BH).unwrap(),
        CentralId::parse("c", CONTAGEM).unwrap(),
    );
    assert_eq!(fleet.dispatchable_count(&bh, UnitType::Usa), 0);
    make_ready(&mut fleet, "usa-1", UnitType::Usa, 1, -19.92, -43.94);
    make_ready(&mut fleet, "usa-2", UnitType::Usa, 1, -19.93, -43.95);
    make_ready(&mut fleet, "usb-1", UnitType::Usb, 1, -19.93, -44.05);
    assert_eq!(fleet.dispatchable_count(&bh, UnitType::Usa), 2);
    assert_eq!(fleet.dispatchable_count(&contagem, UnitType::Usb), 1);
    // A moving unit stays counted once.
    fleet
        .apply_position(
            &uid("usa-1"),
            10,
            fix(t0() + secs(5), -19.921, -43.941),
            t0() + secs(5),
        )
        .unwrap();
    assert_eq!(fleet.dispatchable_count(&bh, UnitType::Usa), 2);
    // Busy: out of dispatch.
    fleet
        .apply_crew_status(
            &uid("usa-2"),
            11,
            report(
                t0() + secs(6),
                UnitStatus::EnRoute,
                full_crew(UnitType::Usa),
            ),
            t0() + secs(6),
        )
        .unwrap();
    assert_eq!(fleet.dispatchable_count(&bh, UnitType::Usa), 1);
    fn only(fleet: &FleetState, central: &CentralId, t: UnitType) -> Vec<String> {
        fleet
            .nearest(&NearestQuery {
                central: Some(central),
                ..query(&[t], 5)
            })
            .iter()
            .map(|n| n.unit.record.id.to_string())
            .collect()
    }
    assert_eq!(only(&fleet, &bh, UnitType::Usa), ["usa-1"]);
    assert!(only(&fleet, &contagem, UnitType::Usa).is_empty());
    // usa-1 moves to Contagem's registry: counted there, not in BH.
    fleet.upsert_unit(
        UnitRecord {
            central: contagem.clone(),
            ..fleet.unit(&uid("usa-1")).unwrap().record.clone()
        },
        t0() + secs(7),
    );
    assert_eq!(fleet.dispatchable_count(&bh, UnitType::Usa), 0);
    assert_eq!(fleet.dispatchable_count(&contagem, UnitType::Usa), 1);
    assert_eq!(only(&fleet, &contagem, UnitType::Usa), ["usa-1"]);
    assert!(only(&fleet, &bh, UnitType::Usa).is_empty());
    fleet.retire_unit(&uid("usa-1"));
    assert_eq!(fleet.dispatchable_count(&contagem, UnitType::Usa), 0);
    assert!(only(&fleet, &contagem, UnitType::Usa).is_empty());
}

#[test]
fn nearest_breaks_ties_by_unit_id() {
    let mut fleet = fleet_with(&[
        ("usb-c", BH, UnitType::Usb),
        ("usb-a", BH, UnitType::Usb),
        ("usb-b", BH, UnitType::Usb),
        ("usb-z", BH, UnitType::Usb),
    ]);
    // Three units parked at the same base, one a bit further.
    for id in ["usb-c", "usb-a", "usb-b"] {
        make_ready(&mut fleet, id, UnitType::Usb, 1, -19.95, -43.95);
    }
    make_ready(&mut fleet, "usb-z", UnitType::Usb, 1, -19.96, -43.95);
    for limit in 1..=4 {
        let found: Vec<String> = fleet
            .nearest(&query(&[UnitType::Usb], limit))
            .iter()
            .map(|n| n.unit.record.id.to_string())
            .collect();
        assert_eq!(
            found,
            ["usb-a", "usb-b", "usb-c", "usb-z"][..limit],
            "limit {limit}"
        );
    }
}

#[test]
fn moving_units_move_in_the_index() {
    let mut fleet = fleet_with(&[("a", BH, UnitType::Usb), ("b", BH, UnitType::Usb)]);
    make_ready(&mut fleet, "a", UnitType::Usb, 1, -19.92, -43.94);
    make_ready(&mut fleet, "b", UnitType::Usb, 1, -19.95, -43.94);
    assert_eq!(
        fleet.nearest(&query(&[UnitType::Usb], 1))[0]
            .unit
            .record
            .id
            .as_str(),
        "a"
    );
    fleet
        .apply_position(
            &uid("a"),
            10,
            fix(t0() + secs(300), -19.97, -43.94),
            t0() + secs(300),
        )
        .unwrap();
    assert_eq!(
        fleet.nearest(&query(&[UnitType::Usb], 1))[0]
            .unit
            .record
            .id
            .as_str(),
        "b"
    );
}

#[test]
fn a_snapshot_restores_the_same_state() {
    let mut fleet = fleet_with(&[("usa1", BH, UnitType::Usa)]);
    make_ready(&mut fleet, "usa1", UnitType::Usa, 1, -19.92, -43.94);
    let id = uid("usa1");
    let unit = fleet.unit(&id).unwrap();
    let (record, snapshot) = (unit.record.clone(), unit.snapshot());

    let mut restored = FleetState::new(FleetConfig::default());
    restored.restore_unit(record, snapshot.clone());
    let unit = restored.unit(&id).unwrap();
    assert_eq!(unit.snapshot(), snapshot);
    assert!(unit.is_dispatchable());
    assert_eq!(restored.nearest(&query(&[UnitType::Usa], 1)).len(), 1);
    // Sequence numbers already applied stay applied; no duplicate event.
    assert_eq!(
        restored
            .apply_position(&id, 2, fix(t0() + secs(1), -19.92, -43.94), t0())
            .unwrap(),
        PositionOutcome::Duplicate
    );
    let out = restored
        .apply_crew_status(
            &id,
            3,
            report(
                t0() + secs(2),
                UnitStatus::AvailableAtBase,
                full_crew(UnitType::Usa),
            ),
            t0(),
        )
        .unwrap();
    assert_eq!(
        out,
        CrewStatusOutcome::Applied {
            status_change: None,
            crew_change: None
        }
    );
}

#[test]
fn changing_a_units_type_moves_it_between_trees() {
    let mut fleet = fleet_with(&[("u1", BH, UnitType::Usb)]);
    make_ready(&mut fleet, "u1", UnitType::Usb, 1, -19.92, -43.94);
    let mut record = fleet.unit(&uid("u1")).unwrap().record.clone();
    record.unit_type = UnitType::Moto;
    fleet.upsert_unit(record, t0());
    assert!(fleet.nearest(&query(&[UnitType::Usb], 5)).is_empty());
    // A USB crew is not a MOTO crew (no nursing rider alone is fine: a técnico is aboard).
    assert_eq!(fleet.nearest(&query(&[UnitType::Moto], 5)).len(), 1);
}

#[test]
fn retired_units_are_never_offered() {
    let mut fleet = fleet_with(&[("u1", BH, UnitType::Usb)]);
    make_ready(&mut fleet, "u1", UnitType::Usb, 1, -19.92, -43.94);
    fleet.retire_unit(&uid("u1"));
    assert!(fleet.nearest(&query(&[UnitType::Usb], 5)).is_empty());
    assert!(!fleet.unit(&uid("u1")).unwrap().is_dispatchable());
}

#[test]
fn units_marked_unpersisted_are_taken_once_each_in_marking_order() {
    let mut fleet = fleet_with(&[
        ("a", "3106200", UnitType::Usb),
        ("b", "3106200", UnitType::Usb),
        ("c", "3106200", UnitType::Usa),
    ]);
    make_ready(&mut fleet, "b", UnitType::Usb, 1, -19.9, -43.9);
    fleet.mark_unpersisted(&uid("b"));
    fleet.mark_unpersisted(&uid("a"));
    fleet.mark_unpersisted(&uid("b"));
    fleet.mark_unpersisted(&uid("nobody"));
    fleet.mark_unpersisted(&uid("c"));
    assert_eq!(fleet.unpersisted_count(), 3, "each unit once");

    let first = fleet.take_unpersisted(2);
    let ids: Vec<&str> = first.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(first[0].1, fleet.unit(&uid("b")).unwrap().snapshot());
    assert_eq!(first[0].1.last_seq, 2);

    // Marked again after being taken: taken again, after those still waiting.
    fleet.mark_unpersisted(&uid("b"));
    let rest = fleet.take_unpersisted(10);
    let ids: Vec<&str> = rest.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["c", "b"]);
    assert!(fleet.take_unpersisted(10).is_empty());
    assert_eq!(fleet.unpersisted_count(), 0);
}

/// The index lets an entry lag its unit by up to the slack: with units
/// moving by less and more than it, parking and leaving dispatch, every
/// answer is the exact order (and distance) a scan of all units gives.
#[test]
fn nearest_with_index_slack_matches_an_exact_scan() {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    let mut rng = StdRng::seed_from_u64(7);
    // 300 units in about 600 m by 600 m: neighbours tens of metres apart,
    // so an entry's lag changes the order if the walk stops too soon.
    let ids: Vec<String> = (0..300).map(|i| format!("u{i:03}")).collect();
    let spec: Vec<(&str, &str, UnitType)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let central = if i % 3 == 0 { CONTAGEM } else { BH };
            let t = if i % 2 == 0 {
                UnitType::Usa
            } else {
                UnitType::Usb
            };
            (id.as_str(), central, t)
        })
        .collect();
    let mut fleet = fleet_with(&spec);
    // Each unit's own clock, seq and position.
    let mut state: Vec<(DateTime<Utc>, u64, f64, f64)> = Vec::new();
    for (id, _, t) in &spec {
        let (lat, lon) = (
            -19.92 + rng.random_range(-0.003..0.003),
            -43.94 + rng.random_range(-0.003..0.003),
        );
        make_ready(&mut fleet, id, *t, 1, lat, lon);
        state.push((t0() + secs(1), 3, lat, lon));
    }
    let metres = 1.0 / 111_000.0;
    for step in 0..4_000 {
        let i = rng.random_range(0..spec.len());
        let (id, _, t) = spec[i];
        let (at, seq, lat, lon) = state[i];
        let at = at + secs(30);
        if rng.random_bool(0.05) {
            // Out of dispatch and back.
            let status = if rng.random_bool(0.5) {
                UnitStatus::EnRoute
            } else {
                UnitStatus::AvailableAtBase
            };
            fleet
                .apply_crew_status(&uid(id), seq, report(at, status, full_crew(t)), at)
                .unwrap();
            state[i] = (at, seq + 1, lat, lon);
        } else {
            // Mostly a few metres (inside the slack), sometimes hundreds.
            let step_m = if rng.random_bool(0.8) {
                rng.random_range(0.0..20.0)
            } else {
                rng.random_range(20.0..150.0)
            };
            let angle: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            let (lat, lon) = (
                lat + step_m * metres * angle.sin(),
                lon + step_m * metres * angle.cos(),
            );
            fleet
                .apply_position(&uid(id), seq, fix(at, lat, lon), at)
                .unwrap();
            state[i] = (at, seq + 1, lat, lon);
        }
        if step % 40 != 0 {
            continue;
        }
        let target = point(
            -19.92 + rng.random_range(-0.004..0.004),
            -43.94 + rng.random_range(-0.004..0.004),
        );
        let types: &[UnitType] = match step % 3 {
            0 => &[UnitType::Usa],
            1 => &[UnitType::Usb],
            _ => &[UnitType::Usa, UnitType::Usb],
        };
        let limit = rng.random_range(1..12);
        let bh = CentralId::parse("c", BH).unwrap();
        let central = (step % 2 == 0).then_some(&bh);
        let found = fleet.nearest(&NearestQuery {
            point: target,
            types,
            limit,
            central,
        });
        let v = target.unit_vector();
        let mut exact: Vec<(f64, String)> = fleet
            .units()
            .filter(|u| u.is_dispatchable() && types.contains(&u.record.unit_type))
            .filter(|u| central.is_none_or(|c| &u.record.central == c))
            .map(|u| {
                let w = u.fix.unwrap().point.unit_vector();
                let d2 = (v[0] - w[0]).powi(2) + (v[1] - w[1]).powi(2) + (v[2] - w[2]).powi(2);
                (d2, u.record.id.to_string())
            })
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        exact.truncate(limit);
        let got: Vec<String> = found.iter().map(|n| n.unit.record.id.to_string()).collect();
        let want: Vec<String> = exact.iter().map(|e| e.1.clone()).collect();
        assert_eq!(got, want, "step {step}");
        for (n, (d2, _)) in found.iter().zip(&exact) {
            let expected = samu_domain::geo::chord_to_metres(d2.sqrt());
            assert!((n.distance_m - expected).abs() < 1e-6, "step {step}");
        }
    }
}
