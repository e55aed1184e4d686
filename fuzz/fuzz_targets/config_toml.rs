//! The server's configuration file (`--config`, TOML), as
//! `samu_central::config::Config::from_toml` reads it, and its fleet
//! settings in use.
//!
//! Invariants: a refused file gets a message; an accepted one prints back to
//! TOML that reads to the same configuration; whatever numbers it sets, the
//! fleet state built from it takes reports and sweeps without panicking,
//! however far the clocks are off.
#![no_main]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use samu_central::config::Config;
use samu_domain::{
    CentralId, CrewMember, CrewRole, GeoPoint, MemberId, UnitId, UnitStatus, UnitType,
};
use samu_fleet::{CrewStatusReport, Fix, FleetState, NearestQuery, UnitRecord};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::from_toml(text) {
        Ok(c) => c,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    let _ = config.store_url();

    // What was read prints back, and reads again to the same thing.
    if let Ok(printed) = toml::to_string(&config) {
        let again = Config::from_toml(&printed)
            .unwrap_or_else(|e| panic!("printed config does not read back: {e}\n{printed}"));
        let reprinted = toml::to_string(&again).expect("prints again");
        assert_eq!(printed, reprinted);
    }

    // The fleet settings in use.
    let fleet_config = config.fleet.clone();
    let _ = (
        fleet_config.no_signal_after(),
        fleet_config.max_future_skew(),
        fleet_config.max_report_age(),
    );
    for t in UnitType::ALL {
        let _ = fleet_config.max_speed_mps(t);
        let _ = fleet_config.eta.eta_s(t, 12_345.0);
    }
    let mut fleet = FleetState::new(fleet_config);
    let ids: Vec<UnitId> = UnitType::ALL
        .iter()
        .map(|t| UnitId::parse("u", &format!("{}-1", t.code())).unwrap())
        .collect();
    for (id, &t) in ids.iter().zip(UnitType::ALL.iter()) {
        fleet.upsert_unit(
            UnitRecord {
                id: id.clone(),
                central: CentralId::parse("c", "3106200").unwrap(),
                unit_type: t,
                base: None,
                label: id.to_string(),
            },
            t0(),
        );
    }
    let crew: Vec<CrewMember> = [
        CrewRole::Driver,
        CrewRole::Nurse,
        CrewRole::Physician,
        CrewRole::Pilot,
        CrewRole::NursingTechnician,
    ]
    .iter()
    .enumerate()
    .map(|(i, &role)| CrewMember {
        id: MemberId::parse("m", &format!("m{i}")).unwrap(),
        role,
    })
    .collect();
    let offsets = [0i64, 1, 59, 3_600, -3_600, 86_400 * 400, -86_400 * 400];
    let mut seq = 0;
    for (n, id) in ids.iter().enumerate() {
        for (k, &off) in offsets.iter().enumerate() {
            seq += 1;
            let at = t0() + TimeDelta::seconds(off);
            let lat = -19.9 + (n as f64) * 0.01 + (k as f64) * 0.3;
            let _ = fleet.apply_position(
                id,
                seq,
                Fix {
                    at,
                    point: GeoPoint::new("p", lat.clamp(-90.0, 90.0), -43.9).unwrap(),
                    speed_mps: Some(10.0),
                    heading_deg: None,
                    accuracy_m: Some(8.0),
                },
                t0() + TimeDelta::seconds(k as i64),
            );
            seq += 1;
            let _ = fleet.apply_crew_status(
                id,
                seq,
                CrewStatusReport {
                    reported_at: at,
                    status: UnitStatus::AvailableAtBase,
                    out_of_service_reason: None,
                    crew: crew.clone(),
                },
                t0() + TimeDelta::seconds(k as i64),
            );
        }
        for leap in [0i64, 120, 3 * 3600, -600, 86_400 * 3650] {
            let _ = fleet.sweep_signal(t0() + TimeDelta::seconds(leap));
        }
    }
    let near = fleet.nearest(&NearestQuery {
        point: GeoPoint::new("p", -19.92, -43.94).unwrap(),
        types: &UnitType::ALL,
        limit: 10,
        central: None,
    });
    for pair in near.windows(2) {
        assert!(pair[0].distance_m <= pair[1].distance_m);
    }
});
