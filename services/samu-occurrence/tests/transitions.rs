//! Every transition of an occurrence, allowed and refused.

mod common;

use common::*;
use samu_domain::UnitType::{Moto, Usa, Usb};
use samu_occurrence::{
    Decision, EventBody, NonCaseReason, OccurrenceStatus as S, Priority, TransitionError,
    UnitStep::*,
};

fn is_not_now(e: &TransitionError) -> bool {
    matches!(e, TransitionError::NotNow(_))
}

fn invalid_field(e: &TransitionError) -> &str {
    match e {
        TransitionError::Invalid(v) => &v.field,
        TransitionError::NotNow(m) => panic!("expected a field error, got {m}"),
    }
}

#[test]
fn the_whole_clock_from_call_to_base() {
    let mut s = Script::call_at(0.0);
    assert_eq!(s.occurrence.status(), S::AwaitingRegulation);
    s.regulate(1.0, Priority::Vermelho, &[Usa, Moto]);
    assert_eq!(s.occurrence.status(), S::AwaitingDispatch);
    assert_eq!(s.occurrence.uncovered(), [Usa, Moto]);
    s.dispatch(2.0, "bh-usa-01", Usa);
    assert_eq!(
        s.occurrence.status(),
        S::AwaitingDispatch,
        "the MOTO is still missing"
    );
    s.dispatch(2.5, "bh-moto-01", Moto);
    assert_eq!(s.occurrence.status(), S::InProgress);
    s.step(3.0, "bh-usa-01", EnRoute);
    s.step(8.0, "bh-moto-01", OnScene); // departed was not recorded: allowed
    s.step(11.0, "bh-usa-01", OnScene);
    s.step(30.0, "bh-usa-01", LeftScene);
    s.step(31.0, "bh-moto-01", Free);
    s.step(45.0, "bh-usa-01", AtDestination);
    assert_eq!(
        s.occurrence
            .assignment(&unit("bh-usa-01"))
            .unwrap()
            .destination_cnes
            .as_ref()
            .unwrap()
            .as_str(),
        "0027014"
    );
    s.step(60.0, "bh-usa-01", Free);
    assert_eq!(s.occurrence.status(), S::UnitsFree);
    s.at(61.0, EventBody::Closed { note: None });
    assert_eq!(s.occurrence.status(), S::Closed);
    // The way home is still recorded after closing.
    s.step(75.0, "bh-usa-01", AtBase);
    assert_eq!(s.occurrence.version(), 13);
}

#[test]
fn a_prank_is_recorded_and_closed_not_counted() {
    let mut s = Script::call_at(0.0);
    s.at(
        0.5,
        EventBody::NonCase {
            reason: NonCaseReason::Prank,
            note: None,
        },
    );
    assert_eq!(s.occurrence.status(), S::NonCase);
    assert!(!s.occurrence.clock().counted);
    assert!(is_not_now(&s.refused(1.0, regulated(Priority::Verde, &[]))));
    assert!(is_not_now(
        &s.refused(1.0, EventBody::Closed { note: None })
    ));
}

#[test]
fn orientation_needs_no_unit_and_is_closed_by_the_physician() {
    let mut s = Script::call_at(0.0);
    s.regulate(2.0, Priority::Azul, &[]);
    assert_eq!(s.occurrence.status(), S::Orientation);
    assert!(is_not_now(&s.refused(3.0, dispatched("bh-usb-01", Usb))));
    s.at(
        5.0,
        EventBody::Closed {
            note: Some("orientado".into()),
        },
    );
}

#[test]
fn nothing_is_sent_or_closed_before_a_physician_regulates() {
    let mut s = Script::call_at(0.0);
    assert!(is_not_now(&s.refused(1.0, dispatched("bh-usb-01", Usb))));
    assert!(is_not_now(
        &s.refused(1.0, EventBody::Closed { note: None })
    ));
    assert!(is_not_now(
        &s.refused(1.0, progressed("bh-usb-01", OnScene))
    ));
}

#[test]
fn a_decision_must_match_its_unit_types() {
    let mut s = Script::call_at(0.0);
    let orientation_with_units = EventBody::Regulated {
        priority: Priority::Verde,
        decision: Decision::Orientation,
        unit_types: vec![Usb],
        note: None,
    };
    assert_eq!(
        invalid_field(&s.refused(1.0, orientation_with_units)),
        "unit_types"
    );
    let dispatch_without_units = EventBody::Regulated {
        priority: Priority::Amarelo,
        decision: Decision::Dispatch,
        unit_types: vec![],
        note: None,
    };
    assert_eq!(
        invalid_field(&s.refused(1.0, dispatch_without_units)),
        "unit_types"
    );
}

#[test]
fn re_regulation_supersedes_but_orientation_waits_for_engaged_units() {
    let mut s = Script::call_at(0.0);
    s.regulate(1.0, Priority::Amarelo, &[Usb]);
    s.dispatch(2.0, "bh-usb-01", Usb);
    s.regulate(3.0, Priority::Vermelho, &[Usb, Usa]);
    assert_eq!(s.occurrence.uncovered(), [Usa]);
    assert!(is_not_now(&s.refused(4.0, regulated(Priority::Verde, &[]))));
    let clock = s.occurrence.clock();
    assert_eq!(
        clock.priority,
        Some(Priority::Vermelho),
        "the latest priority counts"
    );
    assert_eq!(
        clock.regulated_at,
        Some(t(1.0)),
        "the first regulation stops the clock"
    );
}

#[test]
fn a_unit_moves_forward_only() {
    let mut s = Script::call_at(0.0);
    s.regulate(1.0, Priority::Vermelho, &[Usa]);
    s.dispatch(2.0, "bh-usa-01", Usa);
    assert!(
        is_not_now(&s.refused(3.0, dispatched("bh-usa-01", Usa))),
        "sent twice"
    );
    s.step(4.0, "bh-usa-01", OnScene);
    assert!(
        is_not_now(&s.refused(5.0, progressed("bh-usa-01", EnRoute))),
        "backwards"
    );
    assert!(
        is_not_now(&s.refused(5.0, progressed("bh-usa-01", OnScene))),
        "repeated"
    );
    assert!(
        is_not_now(&s.refused(5.0, progressed("bh-usa-01", Cancelled))),
        "cancel after scene"
    );
    assert!(
        is_not_now(&s.refused(5.0, progressed("bh-usa-01", AtBase))),
        "home before free"
    );
    assert!(
        is_not_now(&s.refused(5.0, progressed("bh-usb-99", OnScene))),
        "never sent"
    );
    assert!(
        is_not_now(&s.refused(5.0, EventBody::Closed { note: None })),
        "still engaged"
    );
    assert_eq!(
        invalid_field(&s.refused(3.0, progressed("bh-usa-01", LeftScene))),
        "at"
    );
    let no_cnes = EventBody::UnitProgressed {
        unit: unit("bh-usa-01"),
        step: AtDestination,
        destination_cnes: None,
        note: None,
    };
    assert_eq!(invalid_field(&s.refused(6.0, no_cnes)), "destination_cnes");
    s.step(20.0, "bh-usa-01", Free);
    assert!(is_not_now(&s.refused(21.0, progressed("bh-usa-01", Free))));
}

#[test]
fn a_cancelled_unit_frees_its_slot_and_may_be_sent_again() {
    let mut s = Script::call_at(0.0);
    s.regulate(1.0, Priority::Amarelo, &[Usb]);
    s.dispatch(2.0, "bh-usb-01", Usb);
    let no_note = EventBody::UnitProgressed {
        unit: unit("bh-usb-01"),
        step: Cancelled,
        destination_cnes: None,
        note: None,
    };
    assert_eq!(invalid_field(&s.refused(3.0, no_note)), "note");
    s.step(3.0, "bh-usb-01", Cancelled);
    assert_eq!(s.occurrence.status(), S::AwaitingDispatch);
    assert!(
        is_not_now(&s.refused(3.5, progressed("bh-usb-01", Free))),
        "never on scene"
    );
    s.dispatch(4.0, "bh-usb-01", Usb);
    assert_eq!(s.occurrence.status(), S::InProgress);
    assert!(is_not_now(&s.refused(
        4.5,
        EventBody::NonCase {
            reason: NonCaseReason::Duplicate,
            note: None
        }
    )));
}

#[test]
fn events_before_the_call_are_refused() {
    let mut s = Script::call_at(10.0);
    assert_eq!(
        invalid_field(&s.refused(9.0, regulated(Priority::Verde, &[]))),
        "at"
    );
}

#[test]
fn a_correction_is_a_new_event_that_keeps_the_clock_in_order() {
    let mut s = Script::call_at(0.0);
    s.regulate(1.0, Priority::Vermelho, &[Usa]);
    let dispatch = s.dispatch(2.0, "bh-usa-01", Usa);
    let scene = s.step(12.0, "bh-usa-01", OnScene);
    let correct = |event_no, m, reason: &str| EventBody::TimeCorrected {
        event_no,
        at: t(m),
        reason: reason.into(),
    };
    // The operator pressed "on scene" late: the crew arrived at minute 10.
    s.at(
        13.0,
        correct(scene, 10.0, "equipe informou chegada às 10h10 pelo rádio"),
    );
    assert_eq!(s.occurrence.clock().first_on_scene_at, Some(t(10.0)));
    assert_eq!(
        s.occurrence.events[scene as usize - 1].at,
        t(12.0),
        "the original stays"
    );
    assert_eq!(
        invalid_field(&s.refused(14.0, correct(scene, 1.5, "x"))),
        "at"
    );
    assert_eq!(
        invalid_field(&s.refused(14.0, correct(dispatch, 0.5, "x"))),
        "at"
    );
    assert_eq!(
        invalid_field(&s.refused(14.0, correct(99, 5.0, "x"))),
        "event_no"
    );
    assert_eq!(
        invalid_field(&s.refused(14.0, correct(scene, 9.0, " "))),
        "reason"
    );
    assert_eq!(
        invalid_field(&s.refused(14.0, correct(scene + 1, 9.0, "x"))),
        "event_no"
    );
}

#[test]
fn a_stored_history_replays_to_the_same_state() {
    let mut s = Script::call_at(0.0);
    s.regulate(1.0, Priority::Vermelho, &[Usa]);
    s.dispatch(2.0, "bh-usa-01", Usa);
    s.step(9.0, "bh-usa-01", OnScene);
    let events = s.occurrence.events.clone();
    let json = serde_json::to_string(&events).unwrap();
    let back: Vec<samu_occurrence::Event> = serde_json::from_str(&json).unwrap();
    let replayed = samu_occurrence::Occurrence::replay(s.occurrence.id.clone(), 1, back).unwrap();
    assert_eq!(replayed, s.occurrence);
    // Out of order numbers are refused.
    let mut skipped = events.clone();
    skipped.remove(1);
    assert!(samu_occurrence::Occurrence::replay(s.occurrence.id.clone(), 1, skipped).is_err());
}
