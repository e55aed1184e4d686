//! [`FleetState`]: applies vehicle reports and answers what changed.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use rstar::RTree;
use samu_domain::{
    CentralId, CrewMember, MemberId, OutOfServiceReason, UnitId, UnitStatus, UnitType,
    ValidationError,
};
use serde::{Deserialize, Serialize};

use crate::{
    config::{seconds, FleetConfig},
    nearest::IndexEntry,
    seq::SeqWindow,
    unit::{Fix, UnitRecord, UnitSnapshot, UnitState},
};

/// The hasher of the fleet's maps, looked up three times for every report:
/// foldhash, seeded per process, instead of the standard SipHash, which
/// was 2.5 % of the server's instructions per report (BENCHMARKS.md,
/// "Instructions per report"). The keys are unit and central ids the
/// server loaded from its own store.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Why a report could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FleetError {
    /// No unit with that id is registered.
    #[error("unit_id: unknown unit {0}")]
    UnknownUnit(UnitId),
    /// A field is out of bounds (a time far off, a bad sequence number).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// A crew/status declaration, validated at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct CrewStatusReport {
    /// When the crew declared it.
    pub reported_at: DateTime<Utc>,
    /// Declared status; never `NoSignal`.
    pub status: UnitStatus,
    /// Present exactly when `status` is `OutOfService`.
    pub out_of_service_reason: Option<OutOfServiceReason>,
    /// Everyone aboard now.
    pub crew: Vec<CrewMember>,
}

/// Who caused a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusSource {
    /// The crew, through the vehicle app.
    Crew,
    /// The server's signal watch.
    Signal,
    /// The central: a radio operator's dispatch or step of an occurrence.
    Central,
}

impl StatusSource {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusSource::Crew => "crew",
            StatusSource::Signal => "signal",
            StatusSource::Central => "central",
        }
    }
}

/// One entry of a unit's status history: the effective status, the reason
/// and whether the crew was complete, from `at` on. The indicators are
/// computed from these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The unit.
    pub unit: UnitId,
    /// Per-unit event number, from 1, without gaps.
    pub event_no: u64,
    /// From when the new state holds.
    pub at: DateTime<Utc>,
    /// Effective status from `at` on.
    pub status: UnitStatus,
    /// Reason, when out of service.
    pub out_of_service_reason: Option<OutOfServiceReason>,
    /// Whether the crew met the minimum from `at` on.
    pub crew_complete: bool,
    /// Who caused it.
    pub source: StatusSource,
}

/// People who boarded or left a unit with a crew report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CrewChange {
    /// Came aboard.
    pub joined: Vec<CrewMember>,
    /// Left.
    pub left: Vec<MemberId>,
    /// When.
    pub at: DateTime<Utc>,
}

/// How a fix was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PositionKind {
    /// The unit's position now.
    Applied,
    /// Older than the unit's latest fix: history only.
    Stale,
    /// Implies an impossible speed: kept as evidence, not trusted.
    Flagged,
}

/// The result of [`FleetState::apply_position`].
#[derive(Debug, Clone, PartialEq)]
pub enum PositionOutcome {
    /// The sequence number was seen before; nothing changed.
    Duplicate,
    /// The fix was taken.
    Taken {
        /// How.
        kind: PositionKind,
        /// Whether the stored track keeps this fix.
        keep_in_track: bool,
        /// The unit came back from "no signal".
        status_change: Option<StatusChange>,
    },
}

/// The result of [`FleetState::apply_crew_status`].
#[derive(Debug, Clone, PartialEq)]
pub enum CrewStatusOutcome {
    /// The sequence number was seen before; nothing changed.
    Duplicate,
    /// Older than the last report applied: ignored.
    Stale,
    /// Applied.
    Applied {
        /// The effective status, reason or crew completeness changed.
        status_change: Option<StatusChange>,
        /// People boarded or left.
        crew_change: Option<CrewChange>,
    },
}

/// Every unit of every central the instance serves, with a spatial index of
/// the dispatchable ones per type.
///
/// Not thread-safe by itself: the runtime wraps it in a lock and keeps each
/// critical section to one method call.
#[derive(Debug)]
pub struct FleetState {
    pub(crate) config: FleetConfig,
    pub(crate) units: Vec<UnitState>,
    pub(crate) by_id: FastMap<UnitId, usize>,
    /// One R-tree per unit type, over unit vectors of dispatchable units.
    pub(crate) index: [RTree<IndexEntry>; 6],
    /// The same per central: a query for one central walks its own
    /// central's tree, not the whole state's filtered (with fifty centrals,
    /// fifty times the entries, and all of them for a central with none).
    pub(crate) central_index: FastMap<CentralId, [RTree<IndexEntry>; 6]>,
    /// Slots of the units marked by [`FleetState::mark_unpersisted`], each
    /// once, oldest mark first.
    pub(crate) unpersisted: Vec<usize>,
}

impl FleetState {
    /// An empty fleet.
    pub fn new(config: FleetConfig) -> Self {
        Self {
            config,
            units: Vec::new(),
            by_id: FastMap::default(),
            index: Default::default(),
            central_index: FastMap::default(),
            unpersisted: Vec::new(),
        }
    }

    /// Notes that `id`'s live state changed and the store has not got it
    /// yet: the runtime writes such states behind the reports, a few
    /// seconds later, instead of with each report (a unit's position is
    /// rewritten at every fix; its history is what each acknowledgement
    /// waits for). Unknown and remote units are ignored.
    pub fn mark_unpersisted(&mut self, id: &UnitId) {
        let Some(&slot) = self.by_id.get(id) else {
            return;
        };
        let unit = &mut self.units[slot];
        if !unit.unpersisted && !unit.remote {
            unit.unpersisted = true;
            self.unpersisted.push(slot);
        }
    }

    /// Snapshots of up to `max` units marked by
    /// [`FleetState::mark_unpersisted`], oldest mark first, and clears
    /// their marks: whatever changes them next marks them again.
    pub fn take_unpersisted(&mut self, max: usize) -> Vec<(UnitId, UnitSnapshot)> {
        let take = max.min(self.unpersisted.len());
        let slots: Vec<usize> = self.unpersisted.drain(..take).collect();
        slots
            .into_iter()
            .map(|slot| {
                let unit = &mut self.units[slot];
                unit.unpersisted = false;
                (unit.record.id.clone(), unit.snapshot())
            })
            .collect()
    }

    /// How many units [`FleetState::take_unpersisted`] has still to take.
    pub fn unpersisted_count(&self) -> usize {
        self.unpersisted.len()
    }

    /// Dispatchable units of `unit_type` in `central` right now.
    pub fn dispatchable_count(&self, central: &CentralId, unit_type: UnitType) -> usize {
        self.central_index
            .get(central)
            .map_or(0, |trees| trees[type_slot(unit_type)].size())
    }

    /// The settings in force.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// Number of units.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Whether no unit is registered.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// A unit's state.
    pub fn unit(&self, id: &UnitId) -> Option<&UnitState> {
        self.by_id.get(id).map(|&slot| &self.units[slot])
    }

    /// Every unit, in registration order.
    pub fn units(&self) -> impl Iterator<Item = &UnitState> {
        self.units.iter()
    }

    /// The units of one central, ordered by id.
    pub fn units_of(&self, central: &CentralId) -> Vec<&UnitState> {
        let mut units: Vec<_> = self
            .units
            .iter()
            .filter(|u| &u.record.central == central)
            .collect();
        units.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        units
    }

    /// Registers a unit, or updates its registry data (type, base, label)
    /// keeping its live state. A new unit starts out of service with no crew
    /// and no signal until its app reports.
    pub fn upsert_unit(&mut self, record: UnitRecord, now: DateTime<Utc>) {
        if let Some(&slot) = self.by_id.get(&record.id) {
            // Out of the index under its old type and central first.
            self.unindex(slot);
            let unit = &mut self.units[slot];
            unit.record = record;
            unit.retired = false;
            unit.crew_check = self
                .config
                .crew_rules
                .check(unit.record.unit_type, &unit.crew);
            self.reindex(slot);
            return;
        }
        let snapshot = UnitSnapshot {
            last_seq: 0,
            fix: None,
            last_heard: None,
            reported_status: UnitStatus::OutOfService,
            out_of_service_reason: Some(OutOfServiceReason::NoCrew),
            no_signal: true,
            status_since: now,
            last_report_at: None,
            crew: Vec::new(),
            event_no: 0,
            last_kept_fix_at: None,
            updated_at: now,
        };
        self.restore_unit(record, snapshot);
    }

    /// Takes a unit out of dispatch for good (its habilitation ended). It
    /// stays known so late reports and queries about it still make sense.
    pub fn retire_unit(&mut self, id: &UnitId) {
        if let Some(&slot) = self.by_id.get(id) {
            self.units[slot].retired = true;
            self.reindex(slot);
        }
    }

    /// Registers a unit with the live state a previous run stored.
    pub fn restore_unit(&mut self, record: UnitRecord, snapshot: UnitSnapshot) {
        let crew_check = self
            .config
            .crew_rules
            .check(record.unit_type, &snapshot.crew);
        let last_kept = snapshot
            .last_kept_fix_at
            .and_then(|at| snapshot.fix.map(|fix| Fix { at, ..fix }));
        let state = UnitState {
            record,
            fix: snapshot.fix,
            last_heard: snapshot.last_heard.or(snapshot.fix.map(|f| f.at)),
            reported_status: snapshot.reported_status,
            out_of_service_reason: snapshot.out_of_service_reason,
            no_signal: snapshot.no_signal,
            status_since: snapshot.status_since,
            last_report_at: snapshot.last_report_at,
            crew: snapshot.crew,
            crew_check,
            updated_at: snapshot.updated_at,
            position_flagged: false,
            event_no: snapshot.event_no,
            retired: false,
            seq: SeqWindow::restored(snapshot.last_seq),
            last_kept,
            suspect: None,
            indexed: None,
            vector: None,
            last_event_key: None,
            last_received: None,
            last_event_at: None,
            remote: false,
            unpersisted: false,
        };
        let mut state = state;
        if state.event_no > 0 {
            state.last_event_key = Some((
                state.status(),
                state.out_of_service_reason,
                state.crew_check.complete,
            ));
            // The last event is no older than the current status's start.
            state.last_event_at = Some(state.status_since);
        }
        let id = state.record.id.clone();
        if let Some(&slot) = self.by_id.get(&id) {
            self.unindex(slot);
            self.units[slot] = state;
            self.reindex(slot);
        } else {
            self.units.push(state);
            let slot = self.units.len() - 1;
            self.by_id.insert(id, slot);
            self.reindex(slot);
        }
    }

    /// Applies a GPS fix reported under sequence number `seq`.
    ///
    /// # Errors
    /// [`FleetError::UnknownUnit`], or [`FleetError::Invalid`] when the fix is
    /// timed too far in the future or the past, or `seq` is 0.
    pub fn apply_position(
        &mut self,
        id: &UnitId,
        seq: u64,
        fix: Fix,
        now: DateTime<Utc>,
    ) -> Result<PositionOutcome, FleetError> {
        let slot = self.slot(id)?;
        check_seq(seq)?;
        self.check_time("position.fix_time", fix.at, now)?;
        if !self.units[slot].seq.insert(seq) {
            return Ok(PositionOutcome::Duplicate);
        }
        let max_speed = self.config.max_speed_mps(self.units[slot].record.unit_type);
        let min_track_interval = seconds(self.config.track.min_interval_s);
        let min_track_distance = self.config.track.min_distance_m;
        let unit = &mut self.units[slot];
        // Its app talks to this instance now.
        unit.remote = false;
        unit.last_heard = unit.last_heard.max(Some(fix.at));
        unit.last_received = Some(now);

        if let Some(current) = unit.fix {
            if fix.at <= current.at {
                return Ok(PositionOutcome::Taken {
                    kind: PositionKind::Stale,
                    keep_in_track: true,
                    status_change: None,
                });
            }
            let confirmed_by_suspect = unit
                .suspect
                .is_some_and(|s| s.at < fix.at && plausible(&s, &fix, max_speed));
            if !plausible(&current, &fix, max_speed) && !confirmed_by_suspect {
                unit.suspect = Some(fix);
                unit.position_flagged = true;
                touch(unit, now);
                let status_change = self.recover_signal(slot, fix.at);
                return Ok(PositionOutcome::Taken {
                    kind: PositionKind::Flagged,
                    keep_in_track: true,
                    status_change,
                });
            }
        }

        let unit = &mut self.units[slot];
        unit.fix = Some(fix);
        unit.suspect = None;
        unit.position_flagged = false;
        touch(unit, now);
        let status_change = self.recover_signal(slot, fix.at);
        let unit = &mut self.units[slot];
        let keep_in_track = status_change.is_some()
            || unit.last_kept.is_none_or(|kept| {
                fix.at - kept.at >= min_track_interval
                    || kept.point.distance_m(fix.point) >= min_track_distance
            });
        if keep_in_track {
            unit.last_kept = Some(fix);
        }
        self.reindex(slot);
        Ok(PositionOutcome::Taken {
            kind: PositionKind::Applied,
            keep_in_track,
            status_change,
        })
    }

    /// Applies a crew/status declaration reported under `seq`.
    ///
    /// # Errors
    /// [`FleetError::UnknownUnit`], or [`FleetError::Invalid`] when the report
    /// is timed too far off, declares `NoSignal`, or `seq` is 0.
    pub fn apply_crew_status(
        &mut self,
        id: &UnitId,
        seq: u64,
        report: CrewStatusReport,
        now: DateTime<Utc>,
    ) -> Result<CrewStatusOutcome, FleetError> {
        let slot = self.slot(id)?;
        check_seq(seq)?;
        self.check_time("crew_status.reported_at", report.reported_at, now)?;
        if !report.status.is_reportable() {
            return Err(ValidationError::new(
                "crew_status.status",
                "no_signal is derived by the server and cannot be reported",
            )
            .into());
        }
        if !self.units[slot].seq.insert(seq) {
            return Ok(CrewStatusOutcome::Duplicate);
        }
        let unit = &mut self.units[slot];
        unit.remote = false;
        if unit
            .last_report_at
            .is_some_and(|last| report.reported_at < last)
        {
            return Ok(CrewStatusOutcome::Stale);
        }
        let crew_change = diff_crew(&unit.crew, &report.crew, report.reported_at);
        unit.crew = report.crew;
        unit.crew_check = self
            .config
            .crew_rules
            .check(unit.record.unit_type, &unit.crew);
        unit.reported_status = report.status;
        unit.out_of_service_reason = report
            .out_of_service_reason
            .filter(|_| report.status == UnitStatus::OutOfService);
        unit.last_report_at = Some(report.reported_at);
        touch(unit, now);
        let status_change = self.record_change(slot, report.reported_at, StatusSource::Crew);
        self.reindex(slot);
        Ok(CrewStatusOutcome::Applied {
            status_change,
            crew_change,
        })
    }

    /// Marks units that sent no fix for longer than the no-signal delay.
    ///
    /// The delay runs on the server's clock from when the last fix was
    /// received (after a restart, until the next fix, from the fix's own
    /// time), so a device clock off by minutes does not make a talking unit
    /// flap. The change is dated when the delay ran out, not when the sweep
    /// ran, so the history does not depend on the sweep's period nor on a
    /// leap of the server's clock between two sweeps; it is never dated
    /// before the unit's previous event.
    pub fn sweep_signal(&mut self, now: DateTime<Utc>) -> Vec<StatusChange> {
        let due = self.signal_lost(now);
        self.declare_signal_lost(&due, now)
    }

    /// The units [`sweep_signal`](Self::sweep_signal) would mark at `now`.
    pub fn signal_lost(&self, now: DateTime<Utc>) -> Vec<UnitId> {
        let mut due = Vec::new();
        // All in one part: nothing is left for a next one.
        self.signal_lost_from(0, usize::MAX, &mut due, now);
        due
    }

    /// [`signal_lost`](Self::signal_lost) a part at a time: looks at up to
    /// `count` units from position `from` of the fleet's own order (units
    /// are only ever added, so positions stay), adds those due to `due`,
    /// and returns where the next part starts, `None` at the end. The walk
    /// over a state's fleet takes milliseconds; in parts, a caller holding
    /// the fleet's lock for each lets the queries in between.
    pub fn signal_lost_from(
        &self,
        from: usize,
        count: usize,
        due: &mut Vec<UnitId>,
        now: DateTime<Utc>,
    ) -> Option<usize> {
        let delay = self.config.no_signal_after();
        let end = from.saturating_add(count).min(self.units.len());
        let part = self.units.get(from..end).unwrap_or_default();
        due.extend(
            part.iter()
                .filter(|unit| signal_ran_out(unit, now, delay).is_some())
                .map(|unit| unit.record.id.clone()),
        );
        (end < self.units.len()).then_some(end)
    }

    /// Marks `units` (from [`signal_lost`](Self::signal_lost)) as without
    /// signal, each checked again: one may have reported between the two
    /// calls.
    pub fn declare_signal_lost(
        &mut self,
        units: &[UnitId],
        now: DateTime<Utc>,
    ) -> Vec<StatusChange> {
        let delay = self.config.no_signal_after();
        let mut changes = Vec::new();
        for id in units {
            let Ok(slot) = self.slot(id) else {
                continue;
            };
            let unit = &mut self.units[slot];
            let Some(heard) = signal_ran_out(unit, now, delay) else {
                continue;
            };
            unit.no_signal = true;
            touch(unit, now);
            // `now - heard > delay`, so this neither overflows nor is after `now`.
            let ran_out = heard.checked_add_signed(delay).unwrap_or(now).min(now);
            if let Some(change) = self.record_change(slot, ran_out, StatusSource::Signal) {
                changes.push(change);
            }
            self.reindex(slot);
        }
        changes
    }

    pub(crate) fn slot(&self, id: &UnitId) -> Result<usize, FleetError> {
        self.by_id
            .get(id)
            .copied()
            .ok_or_else(|| FleetError::UnknownUnit(id.clone()))
    }

    fn check_time(
        &self,
        field: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), ValidationError> {
        // Checked: a limit beyond chrono's range means no limit, not a panic.
        if now
            .checked_add_signed(self.config.max_future_skew())
            .is_some_and(|latest| at > latest)
        {
            return Err(ValidationError::new(
                field,
                format!(
                    "{} is more than {} s in the future (device clock wrong?)",
                    at.to_rfc3339(),
                    self.config.max_future_skew_s
                ),
            ));
        }
        if now
            .checked_sub_signed(self.config.max_report_age())
            .is_some_and(|oldest| at < oldest)
        {
            return Err(ValidationError::new(
                field,
                format!(
                    "{} is more than {} s in the past",
                    at.to_rfc3339(),
                    self.config.max_report_age_s
                ),
            ));
        }
        Ok(())
    }

    /// Clears "no signal" after a fix, recording the change.
    fn recover_signal(&mut self, slot: usize, at: DateTime<Utc>) -> Option<StatusChange> {
        if !self.units[slot].no_signal {
            return None;
        }
        self.units[slot].no_signal = false;
        let change = self.record_change(slot, at, StatusSource::Signal);
        self.reindex(slot);
        change
    }

    /// Appends a status event when the effective status, the reason or the
    /// crew completeness differ from the last event's.
    pub(crate) fn record_change(
        &mut self,
        slot: usize,
        at: DateTime<Utc>,
        source: StatusSource,
    ) -> Option<StatusChange> {
        let unit = &mut self.units[slot];
        let key = (
            unit.status(),
            unit.out_of_service_reason,
            unit.crew_check.complete,
        );
        let last = unit.last_event_key;
        if last == Some(key) {
            return None;
        }
        // Events come from two clocks (the device's, the server's): never
        // date one before the event it follows.
        let at = unit.last_event_at.map_or(at, |previous| previous.max(at));
        unit.last_event_key = Some(key);
        unit.last_event_at = Some(at);
        unit.event_no += 1;
        if last.is_none_or(|(status, _, _)| status != key.0) {
            unit.status_since = at;
        }
        Some(StatusChange {
            unit: unit.record.id.clone(),
            event_no: unit.event_no,
            at,
            status: key.0,
            out_of_service_reason: key.1,
            crew_complete: key.2,
            source,
        })
    }
}

/// When a unit was last heard from, if that was more than `delay` before
/// `now` and it is not marked without signal yet. Units another instance
/// serves are left to it: it holds their app's stream and watches it.
fn signal_ran_out(unit: &UnitState, now: DateTime<Utc>, delay: TimeDelta) -> Option<DateTime<Utc>> {
    if unit.remote || unit.no_signal {
        return None;
    }
    let heard = unit.last_received.or(unit.last_heard)?;
    (now - heard > delay).then_some(heard)
}

/// Marks a unit changed at `now`. `updated_at` never goes back, even when the
/// server's clock does: peers keep the view with the newest `updated_at`, so
/// a step back would hide this unit's changes from them until the clock
/// caught up.
pub(crate) fn touch(unit: &mut UnitState, now: DateTime<Utc>) {
    unit.updated_at = unit.updated_at.max(now);
}

/// Sequence numbers start at 1: 0 is what an app that forgot to set the field sends.
fn check_seq(seq: u64) -> Result<(), ValidationError> {
    if seq == 0 {
        return Err(ValidationError::new("seq", "must be at least 1"));
    }
    Ok(())
}

/// Whether going from `from` to `to` needs no more than `max_speed_mps`.
fn plausible(from: &Fix, to: &Fix, max_speed_mps: f64) -> bool {
    let dt = (to.at - from.at).as_seconds_f64();
    let distance = from.point.distance_m(to.point);
    // Receivers jitter by tens of metres; never flag a move within accuracy.
    let slack = 50.0
        + f64::from(
            to.accuracy_m
                .unwrap_or(0.0)
                .max(from.accuracy_m.unwrap_or(0.0)),
        );
    distance <= slack || (dt > 0.0 && (distance - slack) / dt <= max_speed_mps)
}

fn diff_crew(old: &[CrewMember], new: &[CrewMember], at: DateTime<Utc>) -> Option<CrewChange> {
    let joined: Vec<CrewMember> = new.iter().filter(|m| !old.contains(m)).cloned().collect();
    let left: Vec<MemberId> = old
        .iter()
        .filter(|m| !new.contains(m))
        .map(|m| m.id.clone())
        .collect();
    (!joined.is_empty() || !left.is_empty()).then_some(CrewChange { joined, left, at })
}

/// Unit types index the per-type trees.
pub(crate) fn type_slot(t: UnitType) -> usize {
    t.index()
}
