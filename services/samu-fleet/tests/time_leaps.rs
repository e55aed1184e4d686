//! The server's clock leaps (forward by hours, backward by minutes) and device
//! clocks are off by minutes: the fleet state takes `now` as a parameter, so
//! each leap is just a different `now`.
//!
//! What must hold whatever the clocks do: no panic; a unit's status events
//! keep their numbers gapless and their times in order (the indicators count
//! durations between them); `updated_at`, which peers use to keep the newest
//! view of a unit, never goes backwards; the no-signal sweep dates its change
//! when the delay ran out, never in the future; a unit whose device keeps
//! talking never flaps to "no signal"; and a report timed beyond the
//! configured skew or age is refused with an error naming the field and the
//! limit.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_domain::{
    CentralId, CrewMember, CrewRole, GeoPoint, MemberId, OutOfServiceReason, UnitId, UnitStatus,
    UnitType,
};
use samu_fleet::{
    CrewStatusOutcome, CrewStatusReport, Fix, FleetConfig, FleetError, FleetState, PositionKind,
    PositionOutcome, StatusChange, UnitRecord, UnitSnapshot,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

fn uid(s: &str) -> UnitId {
    UnitId::parse("unit_id", s).unwrap()
}

fn fix(at: DateTime<Utc>, lat: f64, lon: f64) -> Fix {
    Fix {
        at,
        point: GeoPoint::new("p", lat, lon).unwrap(),
        speed_mps: None,
        heading_deg: None,
        accuracy_m: Some(5.0),
    }
}

fn usa_crew() -> Vec<CrewMember> {
    [CrewRole::Driver, CrewRole::Nurse, CrewRole::Physician]
        .into_iter()
        .enumerate()
        .map(|(i, role)| CrewMember {
            id: MemberId::parse("m", &format!("p{i}")).unwrap(),
            role,
        })
        .collect()
}

fn report(at: DateTime<Utc>, status: UnitStatus) -> CrewStatusReport {
    CrewStatusReport {
        reported_at: at,
        status,
        out_of_service_reason: (status == UnitStatus::OutOfService)
            .then_some(OutOfServiceReason::Cleaning),
        crew: usa_crew(),
    }
}

fn record(id: &str) -> UnitRecord {
    UnitRecord {
        id: uid(id),
        central: CentralId::parse("c", "3106200").unwrap(),
        unit_type: UnitType::Usa,
        base: None,
        label: id.to_uppercase(),
    }
}

/// A fleet with one USA, registered at `now`.
fn fleet(config: FleetConfig, now: DateTime<Utc>) -> FleetState {
    let mut fleet = FleetState::new(config);
    fleet.upsert_unit(record("usa1"), now);
    fleet
}

/// Applies what the fleet returns and checks the invariants on the way.
struct Probe {
    fleet: FleetState,
    id: UnitId,
    seq: u64,
    events: Vec<StatusChange>,
    last_updated: DateTime<Utc>,
}

impl Probe {
    fn new(fleet: FleetState) -> Self {
        let id = uid("usa1");
        let last_updated = fleet.unit(&id).unwrap().updated_at;
        Self {
            fleet,
            id,
            seq: 0,
            events: Vec::new(),
            last_updated,
        }
    }

    fn position(
        &mut self,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PositionOutcome, FleetError> {
        self.seq += 1;
        let out = self
            .fleet
            .apply_position(&self.id, self.seq, fix(at, -19.92, -43.94), now);
        if let Ok(PositionOutcome::Taken {
            status_change: Some(change),
            ..
        }) = &out
        {
            self.take(change.clone(), now);
        }
        self.check_unit(now);
        out
    }

    fn status(
        &mut self,
        at: DateTime<Utc>,
        status: UnitStatus,
        now: DateTime<Utc>,
    ) -> Result<CrewStatusOutcome, FleetError> {
        self.seq += 1;
        let out = self
            .fleet
            .apply_crew_status(&self.id, self.seq, report(at, status), now);
        if let Ok(CrewStatusOutcome::Applied {
            status_change: Some(change),
            ..
        }) = &out
        {
            self.take(change.clone(), now);
        }
        self.check_unit(now);
        out
    }

    fn sweep(&mut self, now: DateTime<Utc>) -> Vec<StatusChange> {
        let changes = self.fleet.sweep_signal(now);
        for change in &changes {
            assert_eq!(change.status, UnitStatus::NoSignal);
            // Never in the future, unless the event it follows already is (a
            // device clock ahead, within the skew): order comes first.
            let previous = self.events.last().map_or(now, |e| e.at);
            assert!(
                change.at <= now.max(previous),
                "a no-signal change dated {} is after the sweep at {now}",
                change.at
            );
            self.take(change.clone(), now);
        }
        self.check_unit(now);
        changes
    }

    fn take(&mut self, change: StatusChange, now: DateTime<Utc>) {
        if let Some(last) = self.events.last() {
            assert_eq!(change.event_no, last.event_no + 1, "event numbers gapless");
            assert!(
                change.at >= last.at,
                "event {} at {} is before event {} at {} (now {now})",
                change.event_no,
                change.at,
                last.event_no,
                last.at
            );
        }
        self.events.push(change);
    }

    fn check_unit(&mut self, now: DateTime<Utc>) {
        let unit = self.fleet.unit(&self.id).unwrap();
        assert!(
            unit.updated_at >= self.last_updated,
            "updated_at went back from {} to {} (now {now})",
            self.last_updated,
            unit.updated_at
        );
        self.last_updated = unit.updated_at;
        if let Some(last) = self.events.last() {
            assert!(
                unit.status_since <= last.at,
                "status_since {} is after the last event {}",
                unit.status_since,
                last.at
            );
        }
    }

    fn unit_status(&self) -> UnitStatus {
        self.fleet.unit(&self.id).unwrap().status()
    }

    /// Position then "available", both at `at` on the device, `now` on the server.
    fn make_ready(&mut self, at: DateTime<Utc>, now: DateTime<Utc>) {
        self.position(at, now).unwrap();
        self.status(at, UnitStatus::AvailableAtBase, now).unwrap();
        assert_eq!(self.unit_status(), UnitStatus::AvailableAtBase);
    }
}

#[test]
fn a_forward_leap_of_hours_dates_the_silence_when_the_delay_ran_out_and_does_not_flap() {
    let mut p = Probe::new(fleet(FleetConfig::default(), t0()));
    p.make_ready(t0(), t0());
    assert!(p.sweep(t0() + secs(60)).is_empty());

    // The server's clock jumps three hours ahead between two sweeps.
    let leapt = t0() + secs(61) + hours(3);
    let changes = p.sweep(leapt);
    assert_eq!(changes.len(), 1, "marked once");
    assert_eq!(
        changes[0].at,
        t0() + secs(120),
        "dated when the delay ran out, not at the (wrong) sweep time"
    );
    let unit = p.fleet.unit(&p.id).unwrap();
    assert!(leapt - unit.status_since >= TimeDelta::zero());
    assert!(p.sweep(leapt + secs(1)).is_empty(), "only once");

    // The vehicle, whose clock is right, keeps reporting every 5 s: its fixes
    // are three hours old to the server, well within max_report_age.
    for i in 1..=120 {
        let device = t0() + secs(61 + 5 * i);
        let server = leapt + secs(5 * i);
        let out = p.position(device, server).unwrap();
        assert!(matches!(
            out,
            PositionOutcome::Taken {
                kind: PositionKind::Applied,
                ..
            }
        ));
        assert_eq!(p.unit_status(), UnitStatus::AvailableAtBase, "fix {i}");
        assert!(
            p.sweep(server + secs(2)).is_empty(),
            "the device keeps talking: no flapping to no signal (fix {i})"
        );
    }
    // The first fix (out of service, crew unknown), "available", one loss
    // of signal dated at the delay's end, one recovery never dated before it.
    let kinds: Vec<_> = p.events.iter().map(|e| e.status).collect();
    assert_eq!(
        kinds,
        [
            UnitStatus::OutOfService,
            UnitStatus::AvailableAtBase,
            UnitStatus::NoSignal,
            UnitStatus::AvailableAtBase
        ]
    );
    assert_eq!(p.events[3].at, t0() + secs(120));
}

#[test]
fn a_device_clock_minutes_behind_never_flaps_to_no_signal() {
    // The device's clock is 4 minutes slow (within max_report_age): each fix
    // is 240 s old when it arrives, more than the 120 s no-signal delay.
    let behind = secs(240);
    let mut p = Probe::new(fleet(FleetConfig::default(), t0()));
    p.make_ready(t0() - behind, t0());
    for i in 1..=120 {
        let server = t0() + secs(5 * i);
        p.position(server - behind, server).unwrap();
        assert!(p.sweep(server + secs(1)).is_empty(), "fix {i}");
        assert_eq!(p.unit_status(), UnitStatus::AvailableAtBase);
    }
    // When it does go silent, the delay runs on the server's clock from the
    // last fix received, and the change is not dated in the future.
    let last = t0() + secs(600);
    assert!(p.sweep(last + secs(119)).is_empty());
    let changes = p.sweep(last + secs(121));
    assert_eq!(changes.len(), 1);
    assert!(changes[0].at <= last + secs(121));
}

#[test]
fn a_backward_leap_of_minutes_keeps_history_and_views_in_order() {
    let mut p = Probe::new(fleet(FleetConfig::default(), t0()));
    p.make_ready(t0(), t0());
    for i in 1..=10 {
        p.position(t0() + secs(5 * i), t0() + secs(5 * i)).unwrap();
    }
    let before = p.fleet.unit(&p.id).unwrap().updated_at;

    // The server's clock goes back 4 minutes (NTP stepping it, say). The
    // device's clock is right, so its fixes look up to 4 min early: inside
    // max_future_skew (300 s), accepted.
    let back = secs(240);
    for i in 11..=40 {
        let device = t0() + secs(5 * i);
        let server = device - back;
        let out = p.position(device, server).unwrap();
        assert!(matches!(
            out,
            PositionOutcome::Taken {
                kind: PositionKind::Applied,
                ..
            }
        ));
        assert!(p.sweep(server).is_empty(), "no silence while it talks");
    }
    // updated_at (what peers use to keep the newest view) did not go back.
    assert!(p.fleet.unit(&p.id).unwrap().updated_at >= before);

    // A crew report timed by the device, and a status change: in order.
    p.status(
        t0() + secs(205),
        UnitStatus::Dispatched,
        t0() + secs(205) - back,
    )
    .unwrap();
    assert_eq!(p.unit_status(), UnitStatus::Dispatched);

    // Then the unit goes silent: the delay runs on the (new) server clock
    // from the last fix received, and the change is not dated before the
    // unit's previous event.
    let last_received = t0() + secs(200) - back;
    assert!(p.sweep(last_received + secs(120)).is_empty());
    let changes = p.sweep(last_received + secs(121));
    assert_eq!(changes.len(), 1);
    assert!(changes[0].at >= t0() + secs(205), "{}", changes[0].at);
}

#[test]
fn reports_from_beyond_the_configured_skew_or_age_are_refused_by_field() {
    let config = FleetConfig::default();
    let (skew, age) = (config.max_future_skew_s, config.max_report_age_s);
    let mut p = Probe::new(fleet(config, t0()));
    p.make_ready(t0(), t0());

    // The server's clock went back 10 minutes: the device's correct time is
    // now 600 s "in the future", beyond the 300 s skew.
    let server = t0() + secs(10) - secs(600);
    let err = p.position(t0() + secs(10), server).unwrap_err();
    let FleetError::Invalid(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(e.field, "position.fix_time");
    assert!(
        e.message.contains("in the future") && e.message.contains(&format!("{skew} s")),
        "{e}"
    );
    let err = p
        .status(t0() + secs(10), UnitStatus::EnRoute, server)
        .unwrap_err();
    assert!(
        matches!(&err, FleetError::Invalid(e) if e.field == "crew_status.reported_at" && e.message.contains("in the future")),
        "{err:?}"
    );
    // Exactly at the limit is still accepted.
    let at_limit = server + secs(i64::try_from(skew).unwrap());
    assert!(p.position(at_limit, server).is_ok());
    // The clock is put right.
    let out = p.position(t0() + secs(15), t0() + secs(15)).unwrap();
    assert!(matches!(
        out,
        PositionOutcome::Taken {
            kind: PositionKind::Applied,
            ..
        }
    ));

    // The server's clock leapt 25 hours ahead: the device's fixes are more
    // than max_report_age old and refused the same way.
    let server = t0() + hours(25);
    let err = p.position(t0() + secs(20), server).unwrap_err();
    assert!(
        matches!(&err, FleetError::Invalid(e) if e.field == "position.fix_time"
            && e.message.contains("in the past") && e.message.contains(&format!("{age} s"))),
        "{err:?}"
    );
    // Nothing of a refused report was applied; the sweep marks the silence
    // once, dated when the delay ran out.
    let changes = p.sweep(server);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].at, t0() + secs(15 + 120));
    assert!(p.sweep(server + secs(1)).is_empty());
}

#[test]
fn a_crew_report_while_the_gps_is_silent_keeps_the_history_in_order() {
    // The GPS stops at t0; the crew app still declares a status at t0+200 s.
    // The sweep at t0+300 s finds the fix silent since t0: the change cannot
    // be dated t0+120 s, before the crew's event it follows.
    let mut p = Probe::new(fleet(FleetConfig::default(), t0()));
    p.make_ready(t0(), t0());
    p.status(t0() + secs(200), UnitStatus::EnRoute, t0() + secs(200))
        .unwrap();
    let changes = p.sweep(t0() + secs(300));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].at, t0() + secs(200));
}

#[test]
fn a_unit_restored_before_a_forward_leap_is_marked_once() {
    // A restart restores a unit (no receipt time in memory, only its last
    // fix); then the server's clock is hours ahead.
    let mut fleet = FleetState::new(FleetConfig::default());
    let snapshot = UnitSnapshot {
        last_seq: 7,
        fix: Some(fix(t0(), -19.92, -43.94)),
        last_heard: Some(t0()),
        reported_status: UnitStatus::AvailableAtBase,
        out_of_service_reason: None,
        no_signal: false,
        status_since: t0() - secs(30),
        last_report_at: Some(t0() - secs(30)),
        crew: usa_crew(),
        event_no: 4,
        last_kept_fix_at: Some(t0()),
        updated_at: t0(),
    };
    fleet.restore_unit(record("usa1"), snapshot);
    let mut p = Probe::new(fleet);
    p.seq = 7;
    let leapt = t0() + hours(5);
    let changes = p.sweep(leapt);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].event_no, 5);
    assert_eq!(changes[0].at, t0() + secs(120));
    // The next fix brings it back, dated no earlier than the loss.
    p.position(t0() + secs(150), leapt + secs(5)).unwrap();
    assert_eq!(p.unit_status(), UnitStatus::AvailableAtBase);
    assert_eq!(p.events.last().unwrap().at, t0() + secs(150));
    assert!(p.sweep(leapt + secs(6)).is_empty());
}

#[test]
fn absurd_limits_in_the_config_do_not_overflow() {
    // u64 settings far beyond chrono's range must not panic on any path.
    for big in [u64::MAX, i64::MAX as u64, 1 << 62, 10u64.pow(15)] {
        let mut config = FleetConfig {
            no_signal_after_s: big,
            max_future_skew_s: big,
            max_report_age_s: big,
            ..FleetConfig::default()
        };
        config.track.min_interval_s = big;
        let _ = (
            config.no_signal_after(),
            config.max_future_skew(),
            config.max_report_age(),
        );
        let mut p = Probe::new(fleet(config, t0()));
        p.make_ready(t0(), t0());
        p.position(t0() + secs(10), t0() + secs(10)).unwrap();
        p.position(t0() + hours(24 * 365 * 100), t0()).unwrap();
        p.position(t0() - hours(24 * 365 * 100), t0()).unwrap();
        assert!(p.sweep(t0() + hours(24 * 365 * 1000)).is_empty(), "{big}");
    }
}

#[test]
fn random_leaps_and_skews_keep_every_invariant() {
    // Seeded: a failure names its seed and reproduces.
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut server = t0();
        let mut device = t0();
        let mut p = Probe::new(fleet(FleetConfig::default(), server));
        let statuses = [
            UnitStatus::AvailableAtBase,
            UnitStatus::Dispatched,
            UnitStatus::EnRoute,
            UnitStatus::OnScene,
            UnitStatus::OutOfService,
        ];
        for _ in 0..400 {
            match rng.random_range(0..100) {
                // The server's clock leaps forward by hours...
                0..=2 => server += hours(rng.random_range(1..=30)),
                // ...or back by minutes.
                3..=5 => server -= secs(rng.random_range(1..=900)),
                // The device's clock drifts.
                6..=8 => device += secs(rng.random_range(-600..=600)),
                9..=40 => {
                    let _ = p.sweep(server);
                }
                41..=80 => {
                    let _ = p.position(device, server);
                }
                _ => {
                    let status = statuses[rng.random_range(0..statuses.len())];
                    let _ = p.status(device, status, server);
                }
            }
            let step = secs(rng.random_range(0..=30));
            server += step;
            device += step;
        }
        assert!(!p.events.is_empty(), "seed {seed}");
    }
}
