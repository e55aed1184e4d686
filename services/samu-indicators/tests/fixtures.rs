//! Fixtures computed by hand (issue 6, "Done means"). Each test states its
//! hand computation. The central is in America/Sao_Paulo (UTC-03:00, no
//! daylight saving since 2019), so local midnight is 03:00Z.

use chrono::{DateTime, NaiveDate, Utc};
use samu_domain::{MemberId, OutOfServiceReason, UnitId, UnitStatus, UnitType};
use samu_fleet::{StatusChange, StatusSource};
use samu_indicators::{
    annual, unit_day, unit_days, Brl, CentralSettings, MinimumTeam, MonthlyIndicators, OutReason,
    Presence, RoleCounts, Shift, StaffRole, TeamGap, UnitHistory, YearMonth,
};

const MIN: i64 = 60_000;
const DAY: i64 = 1440 * MIN;

/// A local (-03:00) time as UTC: `local("2026-11-10 22:30")`.
fn local(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(&format!("{s} -0300"), "%Y-%m-%d %H:%M %z")
        .unwrap()
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn month(s: &str) -> YearMonth {
    YearMonth::parse(s).unwrap()
}

/// Builds a unit's history from (local time, status, reason, crew complete).
fn unit(
    id: &str,
    unit_type: UnitType,
    habilitated_from: &str,
    retired_at: Option<&str>,
    events: &[(&str, UnitStatus, Option<OutOfServiceReason>, bool)],
) -> UnitHistory {
    let unit = UnitId::parse("unit", id).unwrap();
    UnitHistory {
        unit: unit.clone(),
        unit_type,
        habilitated_from: local(habilitated_from),
        retired_at: retired_at.map(local),
        events: events
            .iter()
            .enumerate()
            .map(|(i, &(at, status, reason, crew))| StatusChange {
                unit: unit.clone(),
                event_no: i as u64 + 1,
                at: local(at),
                status,
                out_of_service_reason: reason,
                crew_complete: crew,
                source: StatusSource::Crew,
            })
            .collect(),
    }
}

use OutOfServiceReason::Maintenance;
use UnitStatus::{AvailableAtBase as Available, EnRoute, NoSignal, OutOfService};

/// A unit available with a complete crew since long before.
fn always_available(id: &str, unit_type: UnitType) -> UnitHistory {
    unit(
        id,
        unit_type,
        "2020-01-01 00:00",
        None,
        &[("2020-01-01 00:00", Available, None, true)],
    )
}

fn presence(member: &str, role: StaffRole, from: &str, to: Option<&str>) -> Presence {
    Presence {
        member: MemberId::parse("member", member).unwrap(),
        role,
        from: local(from),
        to: to.map(local),
        reachable_only: false,
    }
}

/// One of each role present without interruption since 2020.
fn full_team() -> Vec<Presence> {
    StaffRole::ALL
        .iter()
        .map(|&role| presence(role.as_str(), role, "2020-01-01 00:00", None))
        .collect()
}

/// Settings with a minimum team of one per role and shift.
fn one_per_role() -> CentralSettings {
    let one = RoleCounts {
        physician: 1,
        tarm: 1,
        radio_operator: 1,
    };
    let mut s = CentralSettings::default();
    s.minimum_team.day = one;
    s.minimum_team.night = one;
    s
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_30_day_month() {
    // November 2026, 30 days; Uberaba's defaults (328 272 inhabitants:
    // day 1 regulador, 3 TARM, 1 RO; night 1, 2, 1), R$ 23.152,00 programmed.
    //
    // USB-1: available all month                              → 30 of 30 days.
    // USB-2: maintenance from 10/11 14:00 to 12/11 09:30       → out on 10, 11
    //        and 12/11                                        → 27 of 30 days.
    // USA-1: crew incomplete 15/11 03:00–03:30                → 29 of 30 days.
    // (1) USB = (30 + 27) / (2 × 30) = 57/60 = 95 %.
    // (2) USA = 29/30 = 96,666… %.
    // Team: 1 regulador, 3 TARM, 1 RO present all month, except the RO
    // absent 05/11 02:00–02:10 and the third TARM absent 20/11 10:00–11:00
    // (day shift needs 3). A third-TARM absence at night (21/11 22:00–23:00)
    // is harmless: the night needs only 2.
    // (3) team = 28/30 = 93,333… %.
    // Score = (35 × 95 + 35 × 290/3 + 30 × 280/3) / 100 = 28525/300
    //       = 95,08333… %.
    // Incentive = 2 315 200 centavos × 28525/30000 = 2 201 369,33…
    //           → R$ 22.013,69.
    let settings = CentralSettings::for_population(328_272);
    let units = vec![
        always_available("USB-1", UnitType::Usb),
        unit(
            "USB-2",
            UnitType::Usb,
            "2020-01-01 00:00",
            None,
            &[
                ("2026-10-01 00:00", Available, None, true),
                ("2026-11-10 14:00", OutOfService, Some(Maintenance), true),
                ("2026-11-12 09:30", Available, None, true),
            ],
        ),
        unit(
            "USA-1",
            UnitType::Usa,
            "2020-01-01 00:00",
            None,
            &[
                ("2026-10-01 00:00", Available, None, true),
                ("2026-11-15 03:00", Available, None, false),
                ("2026-11-15 03:30", Available, None, true),
            ],
        ),
    ];
    let presences = vec![
        presence("p1", StaffRole::Physician, "2026-10-01 00:00", None),
        presence("t1", StaffRole::Tarm, "2026-10-01 00:00", None),
        presence("t2", StaffRole::Tarm, "2026-10-01 00:00", None),
        presence(
            "t3",
            StaffRole::Tarm,
            "2026-10-01 00:00",
            Some("2026-11-20 10:00"),
        ),
        presence(
            "t3",
            StaffRole::Tarm,
            "2026-11-20 11:00",
            Some("2026-11-21 22:00"),
        ),
        presence("t3", StaffRole::Tarm, "2026-11-21 23:00", None),
        presence(
            "r1",
            StaffRole::RadioOperator,
            "2026-10-01 00:00",
            Some("2026-11-05 02:00"),
        ),
        presence("r1", StaffRole::RadioOperator, "2026-11-05 02:10", None),
    ];
    let m = MonthlyIndicators::compute(
        &settings,
        month("2026-11"),
        &units,
        &presences,
        Brl(2_315_200),
    );
    assert_eq!(m.days_in_month, 30);
    assert_eq!((m.usb.numerator, m.usb.denominator), (57, 60));
    assert_eq!((m.usa.numerator, m.usa.denominator), (29, 30));
    assert_eq!((m.team.numerator, m.team.denominator), (28, 30));
    assert!(close(m.usb.percent().unwrap(), 95.0));
    assert!(close(m.usa.percent().unwrap(), 2900.0 / 30.0));
    assert!(close(m.team.percent().unwrap(), 2800.0 / 30.0));
    assert!(close(m.score.unwrap(), 28525.0 / 300.0));
    assert_eq!(m.incentive_due, Brl(2_201_369));

    let out_days: Vec<u32> = m
        .unit_days
        .iter()
        .filter(|d| !d.in_operation)
        .map(|d| chrono::Datelike::day(&d.date))
        .collect();
    assert_eq!(out_days, [10, 11, 12, 15]);
    // USB-2 on 10/11: 14:00–24:00 = 600 min of maintenance.
    let usb2_10 = m
        .unit_days
        .iter()
        .find(|d| d.unit.as_str() == "USB-2" && d.date == date(2026, 11, 10))
        .unwrap();
    assert_eq!(
        usb2_10.out_ms_of(OutReason::OutOfService(Maintenance)),
        600 * MIN
    );
    assert_eq!(usb2_10.in_operation_ms, 840 * MIN);

    let uncovered: Vec<_> = m.uncovered_days().map(|d| (d.date, d.short_ms)).collect();
    assert_eq!(
        uncovered,
        [
            (date(2026, 11, 5), 10 * MIN),
            (date(2026, 11, 20), 60 * MIN)
        ]
    );
    let gap = &m.team_days[19].gaps[0];
    assert_eq!(
        (gap.role, gap.shift, gap.present, gap.required),
        (StaffRole::Tarm, Shift::Day, 2, 3)
    );
}

#[test]
fn a_31_day_month_with_a_unit_habilitated_and_one_retired_mid_month() {
    // October 2026, 31 days.
    // USB-1 habilitated 10/10 at 15:00: counts from 11/10, 21 days (11–31),
    //       all in operation (its events start at habilitation).
    // USB-2 habilitated all month, maintenance 05/10 08:00–09:00 → 30 of 31.
    // (1) USB = (21 + 30) / (21 + 31) = 51/52 = 98,0769… %.
    // USA-1 retired 20/10 at 12:00: counts 1–19/10, 19 days, all in
    //       operation: (2) USA = 19/19 = 100 %.
    // Team covered every day: (3) = 31/31 = 100 %.
    // Score = (35 × 5100/52 + 35 × 100 + 30 × 100) / 100
    //       = 100 − 0,35 × (100 − 5100/52) = 100 − 0,35 × 100/52 = 99,32692… %.
    let settings = one_per_role();
    let units = vec![
        unit(
            "USB-1",
            UnitType::Usb,
            "2026-10-10 15:00",
            None,
            &[("2026-10-10 15:00", Available, None, true)],
        ),
        unit(
            "USB-2",
            UnitType::Usb,
            "2020-01-01 00:00",
            None,
            &[
                ("2020-01-01 00:00", Available, None, true),
                ("2026-10-05 08:00", OutOfService, Some(Maintenance), true),
                ("2026-10-05 09:00", Available, None, true),
            ],
        ),
        unit(
            "USA-1",
            UnitType::Usa,
            "2020-01-01 00:00",
            Some("2026-10-20 12:00"),
            &[("2020-01-01 00:00", Available, None, true)],
        ),
    ];
    let m = MonthlyIndicators::compute(&settings, month("2026-10"), &units, &full_team(), Brl(0));
    assert_eq!(m.days_in_month, 31);
    assert_eq!((m.usb.numerator, m.usb.denominator), (51, 52));
    assert_eq!((m.usa.numerator, m.usa.denominator), (19, 19));
    assert_eq!((m.team.numerator, m.team.denominator), (31, 31));
    assert!(close(m.usb.percent().unwrap(), 5100.0 / 52.0));
    assert!(close(m.score.unwrap(), 100.0 - 35.0 / 52.0));
    let usb1: Vec<NaiveDate> = m
        .unit_days
        .iter()
        .filter(|d| d.unit.as_str() == "USB-1")
        .map(|d| d.date)
        .collect();
    assert_eq!(usb1.first(), Some(&date(2026, 10, 11)));
    assert_eq!(usb1.len(), 21);
    let usa_last = m
        .unit_days
        .iter()
        .filter(|d| d.unit_type == UnitType::Usa)
        .map(|d| d.date)
        .max();
    assert_eq!(usa_last, Some(date(2026, 10, 19)));
    assert_eq!(m.incentive_due, Brl(0));
}

#[test]
fn februaries_leap_and_not() {
    // One USB and one USA, the USB in maintenance for the whole of the 14th.
    // February 2028 (leap): (1) = 28/29 = 96,5517… %, (2) = 29/29, (3) = 29/29.
    // February 2027:        (1) = 27/28 = 96,4285… %, (2) = 28/28, (3) = 28/28.
    let settings = one_per_role();
    for (ym, days) in [("2028-02", 29u64), ("2027-02", 28)] {
        let usb = unit(
            "USB-1",
            UnitType::Usb,
            "2020-01-01 00:00",
            None,
            &[
                ("2020-01-01 00:00", Available, None, true),
                (
                    &format!("{ym}-14 00:00"),
                    OutOfService,
                    Some(Maintenance),
                    true,
                ),
                (&format!("{ym}-15 00:00"), Available, None, true),
            ],
        );
        let units = [usb, always_available("USA-1", UnitType::Usa)];
        let m = MonthlyIndicators::compute(&settings, month(ym), &units, &full_team(), Brl(0));
        assert_eq!(u64::from(m.days_in_month), days, "{ym}");
        assert_eq!(
            (m.usb.numerator, m.usb.denominator),
            (days - 1, days),
            "{ym}"
        );
        assert_eq!((m.usa.numerator, m.usa.denominator), (days, days), "{ym}");
        assert_eq!((m.team.numerator, m.team.denominator), (days, days), "{ym}");
        // The out day has exactly 1440 min of maintenance, no more.
        let out = m.unit_days.iter().find(|d| !d.in_operation).unwrap();
        assert_eq!(out.out_ms_of(OutReason::OutOfService(Maintenance)), DAY);
        assert_eq!(out.in_operation_ms, 0);
    }
    let leap = YearMonth::parse("2028-02").unwrap();
    assert!(leap.days().any(|d| d == date(2028, 2, 29)));
}

#[test]
fn out_of_service_across_local_midnight_splits_between_the_two_days() {
    // Maintenance from 10/11 22:30 to 11/11 01:15 local (-03:00), that is
    // 11/11 01:30Z to 04:15Z: both ends fall on the 11th in UTC, but locally
    //   10/11: 22:30–24:00 =  90 min out, 1350 min in operation;
    //   11/11: 00:00–01:15 =  75 min out, 1365 min in operation.
    // Rule "at most 80 min out": the 10th is not in operation, the 11th is.
    let mut settings = CentralSettings::default();
    settings.operation_rule.max_minutes_out = 80;
    let usb = unit(
        "USB-1",
        UnitType::Usb,
        "2020-01-01 00:00",
        None,
        &[
            ("2020-01-01 00:00", Available, None, true),
            ("2026-11-10 22:30", OutOfService, Some(Maintenance), true),
            ("2026-11-11 01:15", Available, None, true),
        ],
    );
    let days = unit_days(&usb, &settings, [date(2026, 11, 10), date(2026, 11, 11)]);
    let maint = OutReason::OutOfService(Maintenance);
    assert_eq!(days[0].out_ms_of(maint), 90 * MIN);
    assert_eq!(days[0].in_operation_ms, 1350 * MIN);
    assert!(!days[0].in_operation);
    assert_eq!(days[1].out_ms_of(maint), 75 * MIN);
    assert_eq!(days[1].in_operation_ms, 1365 * MIN);
    assert!(days[1].in_operation);
    for d in &days {
        assert_eq!(d.in_operation_ms + d.total_out_ms(), d.day_ms);
    }
}

#[test]
fn crew_incomplete_for_part_of_a_day() {
    // USA on 15/11:
    //   14:00–14:45 available, crew incomplete   → 45 min incomplete_crew
    //   14:45–15:20 en route, crew incomplete    → 35 min incomplete_crew
    //   16:00–16:10 no signal, crew complete     → 10 min no_signal
    //   the rest available or en route, complete → 1440 − 90 = 1350 min.
    // Default rule (0 min, no signal counts as operating): counted out 80 → out.
    // Rule 80 min: counted out 80 ≤ 80 → in operation.
    // Rule 80 min, no signal counted as out: 90 > 80 → out.
    let usa = unit(
        "USA-1",
        UnitType::Usa,
        "2020-01-01 00:00",
        None,
        &[
            ("2026-11-14 00:00", Available, None, true),
            ("2026-11-15 14:00", Available, None, false),
            ("2026-11-15 14:45", EnRoute, None, false),
            ("2026-11-15 15:20", EnRoute, None, true),
            ("2026-11-15 16:00", NoSignal, None, true),
            ("2026-11-15 16:10", Available, None, true),
        ],
    );
    let day15 = date(2026, 11, 15);
    let mut settings = CentralSettings::default();
    let d = unit_day(&usa, &settings, day15).unwrap();
    assert_eq!(d.out_ms_of(OutReason::IncompleteCrew), 80 * MIN);
    assert_eq!(d.out_ms_of(OutReason::NoSignal), 10 * MIN);
    assert_eq!(d.in_operation_ms, 1350 * MIN);
    assert_eq!(d.counted_out_ms, 80 * MIN);
    assert!(!d.in_operation);

    settings.operation_rule.max_minutes_out = 80;
    assert!(unit_day(&usa, &settings, day15).unwrap().in_operation);

    settings.operation_rule.no_signal_counts_as_operating = false;
    let d = unit_day(&usa, &settings, day15).unwrap();
    assert_eq!(d.counted_out_ms, 90 * MIN);
    assert!(!d.in_operation);
}

#[test]
fn minutes_before_the_first_event_are_no_data() {
    // Habilitated since 2020 but its first event is 01/11 06:00: 00:00–06:00
    // is 360 min of no_data, and the day is out.
    let usb = unit(
        "USB-1",
        UnitType::Usb,
        "2020-01-01 00:00",
        None,
        &[("2026-11-01 06:00", Available, None, true)],
    );
    let d = unit_day(&usb, &CentralSettings::default(), date(2026, 11, 1)).unwrap();
    assert_eq!(d.out_ms_of(OutReason::NoData), 360 * MIN);
    assert_eq!(d.in_operation_ms, 1080 * MIN);
    assert!(!d.in_operation);
}

#[test]
fn a_23_hour_daylight_saving_day_has_1380_minutes() {
    // 04/11/2018 in São Paulo began at 00:00 = 01:00 DST (03:00Z) and ended
    // at 24:00 DST (02:00Z on the 5th): 23 h = 1380 min, all in operation.
    let usb = unit(
        "USB-1",
        UnitType::Usb,
        "2018-01-01 00:00",
        None,
        &[("2018-01-01 00:00", Available, None, true)],
    );
    let d = unit_day(&usb, &CentralSettings::default(), date(2018, 11, 4)).unwrap();
    assert_eq!(d.day_ms, 1380 * MIN);
    assert_eq!(d.in_operation_ms, 1380 * MIN);
    assert!(d.in_operation);
}

#[test]
fn team_gaps_at_a_shift_change() {
    // 23/11/2026, Uberaba's minimum: day (07–19) 1 regulador, 3 TARM, 1 RO;
    // night 1, 2, 1.
    // Reguladores: night one until 07:00, day one 06:50–19:05, next night one
    //   from 19:00: always ≥ 1.
    // TARM: two night TARM until 07:00; two day TARM from 07:00 and the third
    //   only at 07:20 → gap 07:00–07:20, 2 of 3 (day shift). Two night TARM
    //   from 19:00.
    // RO: night RO until 07:00, day RO 07:00–18:55, night RO only at 19:10
    //   → gaps 18:55–19:00 (day shift, 0 of 1) and 19:00–19:10 (night
    //   shift, 0 of 1). A reachable-only RO 18:50–19:30 does not count.
    // Minutes short = 20 + 5 + 10 = 35; the day is not covered.
    let settings = CentralSettings::for_population(328_272);
    let mut ps = vec![
        presence(
            "p-night",
            StaffRole::Physician,
            "2026-11-22 19:00",
            Some("2026-11-23 07:00"),
        ),
        presence(
            "p-day",
            StaffRole::Physician,
            "2026-11-23 06:50",
            Some("2026-11-23 19:05"),
        ),
        presence(
            "p-night2",
            StaffRole::Physician,
            "2026-11-23 19:00",
            Some("2026-11-24 07:00"),
        ),
        presence(
            "t-n1",
            StaffRole::Tarm,
            "2026-11-22 19:00",
            Some("2026-11-23 07:00"),
        ),
        presence(
            "t-n2",
            StaffRole::Tarm,
            "2026-11-22 19:00",
            Some("2026-11-23 07:00"),
        ),
        presence(
            "t-d1",
            StaffRole::Tarm,
            "2026-11-23 07:00",
            Some("2026-11-23 19:00"),
        ),
        presence(
            "t-d2",
            StaffRole::Tarm,
            "2026-11-23 07:00",
            Some("2026-11-23 19:00"),
        ),
        presence(
            "t-d3",
            StaffRole::Tarm,
            "2026-11-23 07:20",
            Some("2026-11-23 19:00"),
        ),
        presence(
            "t-n3",
            StaffRole::Tarm,
            "2026-11-23 19:00",
            Some("2026-11-24 07:00"),
        ),
        presence(
            "t-n4",
            StaffRole::Tarm,
            "2026-11-23 19:00",
            Some("2026-11-24 07:00"),
        ),
        presence(
            "r-night",
            StaffRole::RadioOperator,
            "2026-11-22 19:00",
            Some("2026-11-23 07:00"),
        ),
        presence(
            "r-day",
            StaffRole::RadioOperator,
            "2026-11-23 07:00",
            Some("2026-11-23 18:55"),
        ),
        presence(
            "r-night2",
            StaffRole::RadioOperator,
            "2026-11-23 19:10",
            Some("2026-11-24 07:00"),
        ),
    ];
    let mut reachable = presence(
        "r-oncall",
        StaffRole::RadioOperator,
        "2026-11-23 18:50",
        Some("2026-11-23 19:30"),
    );
    reachable.reachable_only = true;
    ps.push(reachable);

    let day = samu_indicators::team_day(
        &ps,
        &settings.minimum_team,
        settings.time_zone,
        date(2026, 11, 23),
    );
    let gap = |start: &str, end: &str, role, shift, present, required| TeamGap {
        start: local(start),
        end: local(end),
        role,
        shift,
        present,
        required,
    };
    assert_eq!(
        day.gaps,
        [
            gap(
                "2026-11-23 07:00",
                "2026-11-23 07:20",
                StaffRole::Tarm,
                Shift::Day,
                2,
                3
            ),
            gap(
                "2026-11-23 18:55",
                "2026-11-23 19:00",
                StaffRole::RadioOperator,
                Shift::Day,
                0,
                1
            ),
            gap(
                "2026-11-23 19:00",
                "2026-11-23 19:10",
                StaffRole::RadioOperator,
                Shift::Night,
                0,
                1
            ),
        ]
    );
    assert_eq!(day.short_ms, 35 * MIN);
    assert!(!day.covered);
    assert_eq!(day.day_ms, DAY);
}

#[test]
fn shift_times_are_settings() {
    // With shifts at 06:00/18:00 the day shift needs 3 TARM from 06:00: two
    // TARM all day and a third only 07:00–18:00 leave 06:00–07:00 short
    // (60 min); at night 2 are enough.
    let mut team = MinimumTeam::for_population(100_000);
    team.day_shift_start = chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap();
    team.night_shift_start = chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap();
    let mut ps = full_team();
    ps.push(presence("t2", StaffRole::Tarm, "2020-01-01 00:00", None));
    ps.push(presence(
        "t3",
        StaffRole::Tarm,
        "2026-11-23 07:00",
        Some("2026-11-23 18:00"),
    ));
    let day = samu_indicators::team_day(
        &ps,
        &team,
        chrono_tz::America::Sao_Paulo,
        date(2026, 11, 23),
    );
    assert_eq!(day.short_ms, 60 * MIN);
    assert_eq!(day.gaps.len(), 1);
    assert_eq!(day.gaps[0].start, local("2026-11-23 06:00"));
}

#[test]
fn a_month_crossing_the_year_for_the_annual_figure() {
    // USB-1 in maintenance from 31/12/2026 23:00 to 01/01/2027 01:00 local
    // (01/01 02:00Z–04:00Z: all of it on New Year's Day in UTC). Locally it
    // spoils 31/12/2026 (60 min) and 01/01/2027 (60 min). USA and team perfect.
    // 2026: USB 100 % in January–November, December 30/31 = 96,774… %.
    //   Annual USB 2026 = (11 × 100 + 3000/31) / 12 = 37100/372 = 99,7311… %.
    //   Score 2026 = 100 − 0,35 × (100 − 37100/372) = 100 − 35/372 = 99,9059… %.
    //   Programmed 12 × R$ 23.152,00 = R$ 277.824,00;
    //   incentive = 27 782 400 × (1 − 35/37200) = 27 756 260,645… centavos
    //             → R$ 277.562,61.
    // 2027 (January only): USB 30/31 = 96,774… %, incomplete year.
    let settings = one_per_role();
    let units = [
        unit(
            "USB-1",
            UnitType::Usb,
            "2020-01-01 00:00",
            None,
            &[
                ("2020-01-01 00:00", Available, None, true),
                ("2026-12-31 23:00", OutOfService, Some(Maintenance), true),
                ("2027-01-01 01:00", Available, None, true),
            ],
        ),
        always_available("USA-1", UnitType::Usa),
    ];
    let team = full_team();
    let mut months = Vec::new();
    let mut ym = month("2026-01");
    while ym <= month("2027-01") {
        months.push(MonthlyIndicators::compute(
            &settings,
            ym,
            &units,
            &team,
            Brl(2_315_200),
        ));
        ym = ym.next();
    }
    let dec = &months[11];
    let jan = &months[12];
    assert_eq!((dec.usb.numerator, dec.usb.denominator), (30, 31));
    assert_eq!((jan.usb.numerator, jan.usb.denominator), (30, 31));
    let dec31 = dec.unit_days.iter().find(|d| !d.in_operation).unwrap();
    assert_eq!(dec31.date, date(2026, 12, 31));
    assert_eq!(
        dec31.out_ms_of(OutReason::OutOfService(Maintenance)),
        60 * MIN
    );
    let jan1 = jan.unit_days.iter().find(|d| !d.in_operation).unwrap();
    assert_eq!(jan1.date, date(2027, 1, 1));
    assert_eq!(
        jan1.out_ms_of(OutReason::OutOfService(Maintenance)),
        60 * MIN
    );

    let y2026 = annual(2026, &months, &settings);
    assert!(y2026.complete);
    assert_eq!(y2026.months.len(), 12);
    assert_eq!(y2026.usb.months_counted, 12);
    assert!(close(y2026.usb.value.unwrap(), 37100.0 / 372.0));
    assert!(close(y2026.usa.value.unwrap(), 100.0));
    assert!(close(y2026.team.value.unwrap(), 100.0));
    assert!(close(y2026.score.unwrap(), 100.0 - 35.0 / 372.0));
    assert_eq!(y2026.programmed_amount, Brl(27_782_400));
    assert_eq!(y2026.incentive_due, Brl(27_756_261));

    let y2027 = annual(2027, &months, &settings);
    assert!(!y2027.complete);
    assert_eq!(y2027.months, [month("2027-01")]);
    assert!(close(y2027.usb.value.unwrap(), 3000.0 / 31.0));
}

#[test]
fn a_month_without_usa_is_not_applicable_and_the_score_rescales() {
    // Only a USB, always available; team covered. (2) has denominator 0 → not
    // applicable. Score = (35 × 100 + 30 × 100) / 65 = 100 %.
    let settings = one_per_role();
    let m = MonthlyIndicators::compute(
        &settings,
        month("2026-11"),
        &[always_available("USB-1", UnitType::Usb)],
        &full_team(),
        Brl(100_000),
    );
    assert_eq!(m.usa.denominator, 0);
    assert_eq!(m.usa.percent(), None);
    assert!(close(m.score.unwrap(), 100.0));
    assert_eq!(m.incentive_due, Brl(100_000));
}
