//! A central's indicator settings, as `Admin/UpsertCentral` takes them
//! (`indicator_settings_json`: parsed with serde_json, then `validate()`d,
//! stored, and used by every monthly report).
//!
//! Invariants for settings that pass validation: they survive a JSON round
//! trip; the weighted score of any percentages is none or within 0–100; the
//! incentive share of any score is within 0–100; a month computed under them
//! has unit-days and team days that add up to their day, and an incentive
//! between zero and the programmed amount.
#![no_main]

use chrono::{TimeDelta, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use samu_domain::{MemberId, OutOfServiceReason, UnitId, UnitStatus, UnitType};
use samu_fleet::{StatusChange, StatusSource};
use samu_indicators::{
    weighted_score, Brl, CentralSettings, IncentiveRule, IndicatorKind, MonthlyIndicators,
    Presence, StaffRole, UnitHistory, YearMonth,
};

/// Equal within two units in the last place (serde_json may read a float
/// back one ULP off).
fn close(a: f64, b: f64) -> bool {
    a == b || (a.signum() == b.signum() && a.to_bits().abs_diff(b.to_bits()) <= 2)
}

fn same(a: &CentralSettings, b: &CentralSettings) -> bool {
    let bands_close = match (&a.incentive_rule, &b.incentive_rule) {
        (IncentiveRule::Proportional, IncentiveRule::Proportional) => true,
        (IncentiveRule::Bands { bands: x }, IncentiveRule::Bands { bands: y }) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| {
                    close(p.min_score, q.min_score) && close(p.share_percent, q.share_percent)
                })
        }
        _ => false,
    };
    a.time_zone == b.time_zone
        && a.operation_rule == b.operation_rule
        && a.minimum_team == b.minimum_team
        && close(a.weights.usb, b.weights.usb)
        && close(a.weights.usa, b.weights.usa)
        && close(a.weights.team, b.weights.team)
        && bands_close
}

fn in_percent_range(v: f64) -> bool {
    v.is_finite() && (-1e-9..=100.0 + 1e-9).contains(&v)
}

fn history() -> UnitHistory {
    let unit = UnitId::parse("u", "usb-1").unwrap();
    let start = Utc.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap();
    let steps = [
        (0, UnitStatus::AvailableAtBase, None, true),
        (26, UnitStatus::EnRoute, None, true),
        (
            30,
            UnitStatus::OutOfService,
            Some(OutOfServiceReason::Cleaning),
            true,
        ),
        (31, UnitStatus::AvailableAtBase, None, false),
        (200, UnitStatus::NoSignal, None, true),
        (210, UnitStatus::AvailableAtBase, None, true),
    ];
    UnitHistory {
        unit: unit.clone(),
        unit_type: UnitType::Usb,
        habilitated_from: start - TimeDelta::days(30),
        retired_at: None,
        events: steps
            .iter()
            .enumerate()
            .map(|(i, &(h, status, reason, crew))| StatusChange {
                unit: unit.clone(),
                event_no: i as u64 + 1,
                at: start + TimeDelta::hours(h),
                status,
                out_of_service_reason: reason,
                crew_complete: crew,
                source: StatusSource::Crew,
            })
            .collect(),
    }
}

fn presences() -> Vec<Presence> {
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let roles = [
        StaffRole::Physician,
        StaffRole::Tarm,
        StaffRole::RadioOperator,
    ];
    (0..12)
        .map(|i| Presence {
            member: MemberId::parse("m", &format!("m{i}")).unwrap(),
            role: roles[i % 3],
            from: start + TimeDelta::hours(i as i64 * 5),
            to: (i % 4 != 0).then(|| start + TimeDelta::hours(i as i64 * 5 + 30)),
            reachable_only: i == 5,
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(settings) = serde_json::from_str::<CentralSettings>(json) else {
        return;
    };
    if let Err(e) = settings.validate() {
        assert!(!e.field.is_empty() && !e.message.is_empty());
        return;
    }

    let text = serde_json::to_string(&settings).expect("settings serialise");
    let back: CentralSettings = serde_json::from_str(&text).expect("and read back");
    assert!(same(&back, &settings), "{json}\n=> {text}");
    back.validate().expect("still valid after a round trip");

    let kinds = [
        IndicatorKind::UsbInOperation,
        IndicatorKind::UsaInOperation,
        IndicatorKind::MinimumTeamDays,
    ];
    let grid = [None, Some(0.0), Some(37.5), Some(99.99), Some(100.0)];
    for a in grid {
        for b in grid {
            for c in grid {
                let percents = [(kinds[0], a), (kinds[1], b), (kinds[2], c)];
                if let Some(score) = weighted_score(&settings.weights, &percents) {
                    assert!(in_percent_range(score), "score {score} from {percents:?}");
                }
            }
        }
    }
    for score in [0.0, 0.5, 50.0, 79.999, 80.0, 99.5, 100.0] {
        let share = settings.incentive_rule.share_percent(score);
        assert!(in_percent_range(share), "share {share} of {score}");
    }

    // November 2026, and February 2019, the month Sao Paulo's last
    // daylight-saving time ended (a 25-hour day in that zone).
    let amount = Brl::from_centavos(12_345_678);
    for month in ["2026-11", "2019-02"] {
        let month = YearMonth::parse(month).unwrap();
        let m = MonthlyIndicators::compute(&settings, month, &[history()], &presences(), amount);
        if let Some(score) = m.score {
            assert!(in_percent_range(score), "{score}");
        }
        assert!(
            (0..=amount.centavos()).contains(&m.incentive_due.centavos()),
            "{:?}",
            m.incentive_due
        );
        for day in &m.unit_days {
            assert!(day.in_operation_ms >= 0);
            assert!(day.out_ms.values().all(|&ms| ms > 0));
            assert_eq!(day.in_operation_ms + day.total_out_ms(), day.day_ms);
        }
        for day in &m.team_days {
            assert!((0..=day.day_ms).contains(&day.short_ms));
            assert_eq!(day.covered, day.short_ms == 0);
        }
        assert_eq!(m.team_days.len() as u32, month.days_in_month());
    }
});
