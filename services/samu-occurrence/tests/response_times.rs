//! Response-time figures against hand-computed fixtures.

mod common;

use common::*;
use samu_domain::UnitType::{Usa, Usb};
use samu_occurrence::{
    response_times, Clock, EventBody, NonCaseReason, Priority, ResponseInterval, TimeFigure,
    UnitStep::*,
};

/// A vermelho call: regulated after `reg` min, dispatched `disp` min later,
/// on scene `scene` min after the dispatch.
fn red(reg: f64, disp: f64, scene: f64) -> Clock {
    let mut s = Script::call_at(0.0);
    s.regulate(reg, Priority::Vermelho, &[Usa]);
    s.dispatch(reg + disp, "bh-usa-01", Usa);
    s.step(reg + disp + scene, "bh-usa-01", OnScene);
    s.occurrence.clock()
}

#[test]
fn mean_and_nearest_rank_90th_percentile_per_interval() {
    // Ten vermelho calls; call → regulation of 1..=10 minutes.
    let clocks: Vec<Clock> = (1..=10).map(|m| red(f64::from(m), 2.0, 8.0)).collect();
    let figures = response_times(&clocks);
    assert_eq!(figures.len(), 1);
    let red = &figures[0];
    assert_eq!(red.priority, Priority::Vermelho);
    assert_eq!(red.occurrences, 10);
    // Mean 5.5 min = 330 s; rank ⌈0.9 × 10⌉ = 9 → 9 min = 540 s.
    assert_eq!(
        red.call_to_regulation,
        Some(TimeFigure {
            count: 10,
            mean_s: 330.0,
            p90_s: 540.0
        })
    );
    assert_eq!(
        red.regulation_to_dispatch,
        Some(TimeFigure {
            count: 10,
            mean_s: 120.0,
            p90_s: 120.0
        })
    );
    assert_eq!(
        red.dispatch_to_scene,
        Some(TimeFigure {
            count: 10,
            mean_s: 480.0,
            p90_s: 480.0
        })
    );
    // Call → scene = m + 10 min: mean 15.5 min = 930 s, p90 19 min = 1140 s.
    assert_eq!(
        red.call_to_scene,
        Some(TimeFigure {
            count: 10,
            mean_s: 930.0,
            p90_s: 1140.0
        })
    );
}

#[test]
fn first_unit_on_scene_and_corrected_times_count() {
    let mut s = Script::call_at(0.0);
    s.regulate(0.5, Priority::Amarelo, &[Usb, Usa]);
    s.dispatch(1.0, "bh-usb-01", Usb);
    s.dispatch(3.0, "bh-usa-01", Usa);
    s.step(20.0, "bh-usa-01", OnScene);
    let late = s.step(25.0, "bh-usb-01", OnScene);
    // The USB really arrived at minute 15, before the USA.
    s.at(
        26.0,
        EventBody::TimeCorrected {
            event_no: late,
            at: t(15.0),
            reason: "horário informado pela equipe".into(),
        },
    );
    let clock = s.occurrence.clock();
    assert_eq!(ResponseInterval::CallToScene.seconds(&clock), Some(900.0));
    assert_eq!(
        ResponseInterval::DispatchToScene.seconds(&clock),
        Some(840.0)
    );
    assert_eq!(
        ResponseInterval::RegulationToDispatch.seconds(&clock),
        Some(30.0)
    );
}

#[test]
fn non_cases_are_left_out_and_missing_ends_are_not_measured() {
    let mut prank = Script::call_at(0.0);
    prank.at(
        0.2,
        EventBody::NonCase {
            reason: NonCaseReason::Prank,
            note: None,
        },
    );
    let mut orientation = Script::call_at(0.0);
    orientation.regulate(1.5, Priority::Verde, &[]);
    let mut waiting = Script::call_at(0.0);
    waiting.regulate(0.5, Priority::Verde, &[Usb]);
    let clocks = [
        prank.occurrence.clock(),
        orientation.occurrence.clock(),
        waiting.occurrence.clock(),
    ];
    let figures = response_times(&clocks);
    assert_eq!(figures.len(), 1, "{figures:?}");
    let green = &figures[0];
    assert_eq!(green.priority, Priority::Verde);
    assert_eq!(green.occurrences, 2);
    // Regulation after 90 s and 30 s: mean 60 s, p90 rank ⌈1.8⌉ = 2 → 90 s.
    assert_eq!(
        green.call_to_regulation,
        Some(TimeFigure {
            count: 2,
            mean_s: 60.0,
            p90_s: 90.0
        })
    );
    assert_eq!(green.regulation_to_dispatch, None);
    assert_eq!(green.call_to_scene, None);
}

#[test]
fn priorities_come_most_urgent_first() {
    let mut yellow = Script::call_at(0.0);
    yellow.regulate(1.0, Priority::Amarelo, &[Usb]);
    let clocks = [yellow.occurrence.clock(), red(1.0, 1.0, 1.0)];
    let order: Vec<Priority> = response_times(&clocks).iter().map(|p| p.priority).collect();
    assert_eq!(order, [Priority::Vermelho, Priority::Amarelo]);
    let _ = Cancelled;
}
