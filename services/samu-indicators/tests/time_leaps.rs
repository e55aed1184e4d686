//! The indicators over histories written while clocks misbehaved: the
//! server's clock leaping forward by hours or back by minutes, device clocks
//! off by minutes, a clock-out recorded before its clock-in.
//!
//! Whatever the history, every unit-day and team day must add up: no
//! negative duration, time in operation plus time out equal to the length of
//! the local day (23 or 25 h on a daylight-saving change), team gaps inside
//! their day and never longer than it.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use samu_domain::{
    CentralId, CrewMember, CrewRole, GeoPoint, MemberId, OutOfServiceReason, UnitId, UnitStatus,
    UnitType,
};
use samu_fleet::{
    CrewStatusOutcome, CrewStatusReport, Fix, FleetConfig, FleetState, PositionOutcome,
    StatusChange, StatusSource, UnitRecord,
};
use samu_indicators::{
    team_days, unit_days, CentralSettings, MinimumTeam, Presence, StaffRole, TeamDay, UnitDay,
    UnitHistory,
};

fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

/// A small deterministic generator (xorshift): a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

fn check_unit_day(day: &UnitDay, context: &str) {
    assert!(day.day_ms > 0, "{context}: {day:?}");
    assert!(day.in_operation_ms >= 0, "{context}: {day:?}");
    assert!(
        day.out_ms.values().all(|&ms| ms > 0),
        "{context}: only reasons with time appear, never negative: {day:?}"
    );
    assert_eq!(
        day.in_operation_ms + day.total_out_ms(),
        day.day_ms,
        "{context}: the day adds up: {day:?}"
    );
    assert!(
        (0..=day.total_out_ms()).contains(&day.counted_out_ms),
        "{context}: {day:?}"
    );
}

fn check_team_day(day: &TeamDay, context: &str) {
    assert!(
        (0..=day.day_ms).contains(&day.short_ms),
        "{context}: {day:?}"
    );
    assert_eq!(day.covered, day.short_ms == 0, "{context}: {day:?}");
    for gap in &day.gaps {
        assert!(gap.length_ms() > 0, "{context}: {gap:?}");
        assert!(gap.length_ms() <= day.day_ms, "{context}: {gap:?}");
        assert!(gap.present < gap.required, "{context}: {gap:?}");
    }
}

fn usb(id: &str) -> UnitRecord {
    UnitRecord {
        id: UnitId::parse("u", id).unwrap(),
        central: CentralId::parse("c", "3106200").unwrap(),
        unit_type: UnitType::Usb,
        base: None,
        label: id.to_uppercase(),
    }
}

fn crew(complete: bool) -> Vec<CrewMember> {
    let roles: &[CrewRole] = if complete {
        &[CrewRole::Driver, CrewRole::NursingTechnician]
    } else {
        &[CrewRole::Driver]
    };
    roles
        .iter()
        .enumerate()
        .map(|(i, &role)| CrewMember {
            id: MemberId::parse("m", &format!("m{i}")).unwrap(),
            role,
        })
        .collect()
}

/// Drives one USB through three local days of reports and sweeps while the
/// server's clock leaps, and returns the status events the fleet wrote.
fn history_through_leaps(seed: u64) -> (UnitHistory, Vec<StatusChange>) {
    let start = Utc.with_ymd_and_hms(2026, 11, 10, 3, 0, 0).unwrap(); // local midnight
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut fleet = FleetState::new(FleetConfig::default());
    let record = usb("usb-1");
    let id = record.id.clone();
    fleet.upsert_unit(record, start);
    let (mut server, mut device) = (start, start);
    let mut seq = 0;
    let mut events = Vec::new();
    let statuses = [
        UnitStatus::AvailableAtBase,
        UnitStatus::Dispatched,
        UnitStatus::EnRoute,
        UnitStatus::OnScene,
        UnitStatus::Transporting,
        UnitStatus::OutOfService,
    ];
    while device < start + TimeDelta::days(3) {
        match rng.below(100) {
            0 => server += TimeDelta::hours(rng.range(1, 6)),
            1 | 2 => server -= secs(rng.range(30, 900)),
            3 => device += secs(rng.range(-300, 300)),
            4..=30 => events.extend(fleet.sweep_signal(server)),
            31..=85 => {
                seq += 1;
                let fix = Fix {
                    at: device,
                    point: GeoPoint::new("p", -19.92, -43.94).unwrap(),
                    speed_mps: None,
                    heading_deg: None,
                    accuracy_m: None,
                };
                if let Ok(PositionOutcome::Taken {
                    status_change: Some(change),
                    ..
                }) = fleet.apply_position(&id, seq, fix, server)
                {
                    events.push(change);
                }
            }
            _ => {
                seq += 1;
                let status = statuses[rng.below(statuses.len() as u64) as usize];
                let report = CrewStatusReport {
                    reported_at: device,
                    status,
                    out_of_service_reason: (status == UnitStatus::OutOfService)
                        .then_some(OutOfServiceReason::Maintenance),
                    crew: crew(rng.below(4) != 0),
                };
                if let Ok(CrewStatusOutcome::Applied {
                    status_change: Some(change),
                    ..
                }) = fleet.apply_crew_status(&id, seq, report, server)
                {
                    events.push(change);
                }
            }
        }
        // Long silences happen too.
        let step = if rng.below(50) == 0 {
            secs(rng.range(300, 7200))
        } else {
            secs(rng.range(1, 60))
        };
        server += step;
        device += step;
    }
    let history = UnitHistory {
        unit: id,
        unit_type: UnitType::Usb,
        habilitated_from: start - TimeDelta::days(1),
        retired_at: None,
        events: events.clone(),
    };
    (history, events)
}

#[test]
fn unit_days_of_a_history_written_through_server_clock_leaps_add_up() {
    let settings = CentralSettings::default();
    let days: Vec<NaiveDate> = (9..=14)
        .map(|d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap())
        .collect();
    for seed in 0..30 {
        let (history, events) = history_through_leaps(seed);
        assert!(events.len() > 10, "seed {seed}: {} events", events.len());
        for pair in events.windows(2) {
            assert_eq!(pair[1].event_no, pair[0].event_no + 1, "seed {seed}");
            assert!(pair[1].at >= pair[0].at, "seed {seed}: {pair:?}");
        }
        let computed = unit_days(&history, &settings, days.iter().copied());
        assert_eq!(computed.len(), days.len());
        for day in &computed {
            check_unit_day(day, &format!("seed {seed}"));
        }
    }
}

#[test]
fn unit_days_never_go_negative_even_on_histories_out_of_order() {
    // Histories stored before the fleet kept events in order (or imported)
    // may have events dated before their predecessors, by minutes or hours,
    // including across the 2018 daylight-saving days of America/Sao_Paulo
    // (a 23-hour and a 25-hour day).
    let settings = CentralSettings::default();
    let cases = [
        (
            Utc.with_ymd_and_hms(2018, 11, 3, 3, 0, 0).unwrap(),
            2018,
            11,
            2,
        ),
        (
            Utc.with_ymd_and_hms(2019, 2, 15, 2, 0, 0).unwrap(),
            2019,
            2,
            14,
        ),
        (
            Utc.with_ymd_and_hms(2026, 11, 10, 3, 0, 0).unwrap(),
            2026,
            11,
            9,
        ),
    ];
    for (base, y, m, d0) in cases {
        let days: Vec<NaiveDate> = (d0..d0 + 5)
            .map(|d| NaiveDate::from_ymd_opt(y, m, d).unwrap())
            .collect();
        for seed in 0..50u64 {
            let mut rng = Rng(seed.wrapping_add(7).wrapping_mul(0x2545_F491_4F6C_DD1D));
            let mut at = base;
            let unit = UnitId::parse("u", "usa-1").unwrap();
            let mut events = Vec::new();
            for no in 1..=60 {
                at += match rng.below(10) {
                    0 => -TimeDelta::hours(rng.range(1, 5)),
                    1 | 2 => -secs(rng.range(1, 900)),
                    _ => secs(rng.range(1, 7200)),
                };
                let status = UnitStatus::ALL[rng.below(9) as usize];
                events.push(StatusChange {
                    unit: unit.clone(),
                    event_no: no,
                    at,
                    status,
                    out_of_service_reason: (rng.below(2) == 0)
                        .then_some(OutOfServiceReason::ALL[rng.below(6) as usize]),
                    crew_complete: rng.below(3) != 0,
                    source: StatusSource::Crew,
                });
            }
            // Shuffled storage order: event_no decides, not the order given.
            events.reverse();
            let history = UnitHistory {
                unit,
                unit_type: UnitType::Usa,
                habilitated_from: base - TimeDelta::days(2),
                retired_at: None,
                events,
            };
            for day in unit_days(&history, &settings, days.iter().copied()) {
                check_unit_day(&day, &format!("{base} seed {seed}"));
            }
        }
    }
}

#[test]
fn team_days_ignore_a_clock_out_before_its_clock_in_and_add_up() {
    let tz = chrono_tz::America::Sao_Paulo;
    let team = MinimumTeam::for_population(300_000);
    let date = NaiveDate::from_ymd_opt(2026, 11, 10).unwrap();
    let midnight = Utc.with_ymd_and_hms(2026, 11, 10, 3, 0, 0).unwrap();
    let member = |s: &str| MemberId::parse("m", s).unwrap();
    let presence = |who: &str, role, from: DateTime<Utc>, to: Option<DateTime<Utc>>| Presence {
        member: member(who),
        role,
        from,
        to,
        reachable_only: false,
    };

    // The server's clock went back 10 minutes between this physician's
    // clock-in and clock-out: the presence has no length and counts nothing.
    let backwards = vec![presence(
        "p1",
        StaffRole::Physician,
        midnight + secs(600),
        Some(midnight + secs(60)),
    )];
    let day = &team_days(&backwards, &team, tz, [date])[0];
    check_team_day(day, "backwards presence");
    assert!(!day.covered);
    assert_eq!(day.short_ms, day.day_ms, "nobody was counted present");

    // Random presences, some recorded across leaps (clock-out before
    // clock-in, hours too long, still open).
    let roles = [
        StaffRole::Physician,
        StaffRole::Tarm,
        StaffRole::RadioOperator,
    ];
    for seed in 0..200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(11));
        let presences: Vec<Presence> = (0..rng.range(0, 25))
            .map(|i| {
                let from = midnight + secs(rng.range(-86_400, 2 * 86_400));
                let to = match rng.below(6) {
                    0 => None,
                    1 => Some(from - secs(rng.range(0, 900))),
                    _ => Some(from + secs(rng.range(0, 20 * 3600))),
                };
                presence(
                    &format!("m{}", i % 7),
                    roles[rng.below(3) as usize],
                    from,
                    to,
                )
            })
            .collect();
        let dates = [date.pred_opt().unwrap(), date, date.succ_opt().unwrap()];
        for day in team_days(&presences, &team, tz, dates) {
            check_team_day(&day, &format!("seed {seed}"));
        }
    }
}
