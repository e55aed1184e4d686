//! A fixed demo month, computed from made-up history through the real
//! indicator code: the fixture of this crate's tests and the source of the
//! sample files in `services/samu-report/sample/`.
//!
//! SAMU Uberaba (IBGE 3170107, 328 272 inhabitants), November 2026, with the
//! second-year monthly amount of the seed's Annex II (R$ 23.152,00):
//! - USB-01 always in operation;
//! - USB-02 in maintenance from 10/11 14:00 to 12/11 09:30;
//! - USB-03 habilitated 16/11 at 10:00 (counts from 17/11), crew incomplete
//!   20/11 08:00–08:40, no signal 25/11 13:00–13:12;
//! - USA-01 without equipment from 05/11 23:10 to 06/11 00:40 (across
//!   midnight), and stopped 45 s for cleaning on 18/11 at 03:00;
//! - the team on 12-hour shifts with three holes: 08/11 the third day TARM
//!   arrives 07:20; 15/11 the night RO leaves 06:40; 23/11 the day RO
//!   leaves 18:55 and the night RO arrives 19:10.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use samu_domain::{CentralId, MemberId, OutOfServiceReason, UnitId, UnitStatus, UnitType};
use samu_fleet::{StatusChange, StatusSource};
use samu_indicators::{
    local_instant, Brl, CentralSettings, MonthlyIndicators, Presence, StaffRole, UnitHistory,
    YearMonth,
};

use crate::{CentralInfo, MonthlyReport, ResponseTimes, TimeFigure};

fn at(settings: &CentralSettings, date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    local_instant(
        settings.time_zone,
        date.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("valid time")),
    )
}

fn nov(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, day).expect("valid date")
}

type Step = (
    NaiveDate,
    u32,
    u32,
    UnitStatus,
    Option<OutOfServiceReason>,
    bool,
);

fn history(
    settings: &CentralSettings,
    id: &str,
    unit_type: UnitType,
    habilitated: (NaiveDate, u32, u32),
    steps: &[Step],
) -> UnitHistory {
    let unit = UnitId::parse("unit", id).expect("valid id");
    UnitHistory {
        unit: unit.clone(),
        unit_type,
        habilitated_from: at(settings, habilitated.0, habilitated.1, habilitated.2),
        retired_at: None,
        events: steps
            .iter()
            .enumerate()
            .map(|(i, &(d, h, m, status, reason, crew))| StatusChange {
                unit: unit.clone(),
                event_no: i as u64 + 1,
                at: at(settings, d, h, m),
                status,
                out_of_service_reason: reason,
                crew_complete: crew,
                source: if status == UnitStatus::NoSignal {
                    StatusSource::Signal
                } else {
                    StatusSource::Crew
                },
            })
            .collect(),
    }
}

fn roster(settings: &CentralSettings) -> Vec<Presence> {
    let mut out = Vec::new();
    let mut push = |member: String, role, from, to| {
        out.push(Presence {
            member: MemberId::parse("member", &member).expect("valid id"),
            role,
            from,
            to: Some(to),
            reachable_only: false,
        });
    };
    let first = nov(1).pred_opt().expect("valid date");
    for date in first.iter_days().take(31) {
        let next = date.succ_opt().expect("valid date");
        let day_start = at(settings, date, 7, 0);
        let night_start = at(settings, date, 19, 0);
        let night_end = at(settings, next, 7, 0);
        let d = date.format("%d").to_string();
        for (role, day_n, night_n) in [
            (StaffRole::Physician, 1, 1),
            (StaffRole::Tarm, 3, 2),
            (StaffRole::RadioOperator, 1, 1),
        ] {
            for k in 0..day_n {
                let mut from = day_start;
                let mut to = night_start;
                if date == nov(8) && role == StaffRole::Tarm && k == 2 {
                    from += TimeDelta::minutes(20);
                }
                if date == nov(23) && role == StaffRole::RadioOperator {
                    to -= TimeDelta::minutes(5);
                }
                push(format!("{}-d{k}-{d}", role.as_str()), role, from, to);
            }
            for k in 0..night_n {
                let mut from = night_start;
                let mut to = night_end;
                if next == nov(15) && role == StaffRole::RadioOperator {
                    to -= TimeDelta::minutes(20);
                }
                if date == nov(23) && role == StaffRole::RadioOperator {
                    from += TimeDelta::minutes(10);
                }
                push(format!("{}-n{k}-{d}", role.as_str()), role, from, to);
            }
        }
    }
    // A reachable-only radio operator: recorded, never counted.
    out.push(Presence {
        member: MemberId::parse("member", "radio-oncall").expect("valid id"),
        role: StaffRole::RadioOperator,
        from: at(settings, nov(23), 18, 0),
        to: Some(at(settings, nov(23), 20, 0)),
        reachable_only: true,
    });
    out
}

fn response_times() -> Vec<ResponseTimes> {
    let series = |base: f64, spread: f64, n: usize| -> Vec<f64> {
        (0..n)
            .map(|i| base + spread * ((i * 37 % 100) as f64 / 100.0))
            .collect()
    };
    let row = |priority: &str, n: usize, scene: f64| ResponseTimes {
        priority: priority.to_owned(),
        call_to_regulation: TimeFigure::from_seconds(&series(40.0, 80.0, n)),
        regulation_to_dispatch: TimeFigure::from_seconds(&series(30.0, 90.0, n)),
        dispatch_to_scene: TimeFigure::from_seconds(&series(scene, scene, n)),
        call_to_scene: TimeFigure::from_seconds(&series(scene + 120.0, scene + 90.0, n)),
    };
    vec![
        row("vermelho", 58, 420.0),
        row("amarelo", 211, 900.0),
        row("verde", 96, 1500.0),
    ]
}

/// The demo report (see the module docs).
pub fn demo_report() -> MonthlyReport {
    use OutOfServiceReason::{Equipment, Maintenance};
    use UnitStatus::{AvailableAtBase as Avail, EnRoute, NoSignal, OutOfService, Transporting};
    let settings = CentralSettings::for_population(328_272);
    let long_ago = (nov(1) - TimeDelta::days(400), 0, 0);
    let mut units = vec![
        history(
            &settings,
            "USB-01",
            UnitType::Usb,
            long_ago,
            &[
                (long_ago.0, 0, 0, Avail, None, true),
                (nov(3), 10, 5, EnRoute, None, true),
                (nov(3), 10, 40, Transporting, None, true),
                (nov(3), 11, 30, Avail, None, true),
            ],
        ),
        history(
            &settings,
            "USB-02",
            UnitType::Usb,
            long_ago,
            &[
                (long_ago.0, 0, 0, Avail, None, true),
                (nov(10), 14, 0, OutOfService, Some(Maintenance), true),
                (nov(12), 9, 30, Avail, None, true),
            ],
        ),
        history(
            &settings,
            "USB-03",
            UnitType::Usb,
            (nov(16), 10, 0),
            &[
                (nov(16), 10, 0, Avail, None, true),
                (nov(20), 8, 0, Avail, None, false),
                (nov(20), 8, 40, Avail, None, true),
                (nov(25), 13, 0, NoSignal, None, true),
                (nov(25), 13, 12, Avail, None, true),
            ],
        ),
        history(
            &settings,
            "USA-01",
            UnitType::Usa,
            long_ago,
            &[
                (long_ago.0, 0, 0, Avail, None, true),
                (nov(5), 23, 10, OutOfService, Some(Equipment), true),
                (nov(6), 0, 40, Avail, None, true),
            ],
        ),
    ];
    // A 45-second stop for cleaning at 18/11 03:00: a near miss that the
    // strict rule (0 min) still counts against the day.
    let usa = units.last_mut().expect("the USA");
    let cleaning_from = at(&settings, nov(18), 3, 0);
    for (offset, status, reason) in [
        (
            TimeDelta::zero(),
            OutOfService,
            Some(OutOfServiceReason::Cleaning),
        ),
        (TimeDelta::seconds(45), Avail, None),
    ] {
        let event_no = usa.events.len() as u64 + 1;
        usa.events.push(StatusChange {
            unit: usa.unit.clone(),
            event_no,
            at: cleaning_from + offset,
            status,
            out_of_service_reason: reason,
            crew_complete: true,
            source: StatusSource::Crew,
        });
    }
    let month = YearMonth::new(2026, 11).expect("valid month");
    let indicators =
        MonthlyIndicators::compute(&settings, month, &units, &roster(&settings), Brl(2_315_200));
    MonthlyReport {
        central: CentralInfo {
            id: CentralId::parse("central", "3170107").expect("valid IBGE code"),
            name: "SAMU Uberaba".to_owned(),
            population: 328_272,
        },
        settings,
        indicators,
        response_times: response_times(),
        generated_at: "2026-12-01T09:15:00Z".parse().expect("valid time"),
    }
}
