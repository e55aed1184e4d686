//! Unit-days: how long one USB or USA was in operation on one local day.
//!
//! A unit's stored status history ([`samu_fleet::StatusChange`]) says, from
//! each event on, its effective status, out-of-service reason and whether its
//! crew met the minimum. Every millisecond of a day is classified from the
//! event in force:
//!
//! | event in force | counts as |
//! |---|---|
//! | available or on a call, crew complete | in operation |
//! | available or on a call, crew incomplete | out: `incomplete_crew` |
//! | out of service (reason r; none given → `other`) | out: `out_of_service:r` |
//! | no signal, last declared out of service (reason r) | out: `out_of_service:r` |
//! | no signal, crew incomplete | out: `incomplete_crew` |
//! | no signal otherwise | `no_signal` (out unless the rule says otherwise) |
//! | before the first event | out: `no_data` |
//!
//! Times are kept in milliseconds, the precision of the store, so minutes in
//! operation plus minutes out always add up to the day exactly.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use samu_domain::{OutOfServiceReason, UnitId, UnitStatus, UnitType};
use samu_fleet::StatusChange;
use serde::{Deserialize, Serialize};

use crate::{CentralSettings, IndicatorError, LocalDay};

/// Milliseconds in a minute.
pub const MS_PER_MINUTE: i64 = 60_000;

/// What the indicators need to know of one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitHistory {
    /// The unit.
    pub unit: UnitId,
    /// Its type: only USB and USA have unit-days.
    pub unit_type: UnitType,
    /// Start of its habilitation (the day it joined the fleet counted by the
    /// state).
    pub habilitated_from: DateTime<Utc>,
    /// End of its habilitation, if it ended.
    pub retired_at: Option<DateTime<Utc>>,
    /// Its status events, in `event_no` order.
    pub events: Vec<StatusChange>,
}

/// Why a minute was not in operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OutReason {
    /// Declared out of service, for this reason.
    OutOfService(OutOfServiceReason),
    /// Available or on a call, but with less than the minimum crew.
    IncompleteCrew,
    /// The server lost the unit's signal while it was otherwise in service.
    NoSignal,
    /// Before the unit's first status event: nothing is known.
    NoData,
}

impl OutReason {
    /// Every reason, in report order (the report's columns).
    pub const ALL: [OutReason; 9] = [
        OutReason::OutOfService(OutOfServiceReason::Maintenance),
        OutReason::OutOfService(OutOfServiceReason::NoCrew),
        OutReason::OutOfService(OutOfServiceReason::IncompleteCrew),
        OutReason::OutOfService(OutOfServiceReason::Equipment),
        OutReason::OutOfService(OutOfServiceReason::Cleaning),
        OutReason::OutOfService(OutOfServiceReason::Other),
        OutReason::IncompleteCrew,
        OutReason::NoSignal,
        OutReason::NoData,
    ];

    /// Storage name: `out_of_service:maintenance`, `incomplete_crew`,
    /// `no_signal`, `no_data`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutReason::OutOfService(r) => match r {
                OutOfServiceReason::Maintenance => "out_of_service:maintenance",
                OutOfServiceReason::NoCrew => "out_of_service:no_crew",
                OutOfServiceReason::IncompleteCrew => "out_of_service:incomplete_crew",
                OutOfServiceReason::Equipment => "out_of_service:equipment",
                OutOfServiceReason::Cleaning => "out_of_service:cleaning",
                OutOfServiceReason::Other => "out_of_service:other",
            },
            OutReason::IncompleteCrew => "incomplete_crew",
            OutReason::NoSignal => "no_signal",
            OutReason::NoData => "no_data",
        }
    }

    /// Parses the storage name.
    ///
    /// # Errors
    /// When the name is not a reason.
    pub fn parse(field: &str, raw: &str) -> Result<Self, IndicatorError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| IndicatorError::new(field, format!("{raw:?} is not an out reason")))
    }

    /// Portuguese label for the report.
    pub fn label_pt(self) -> String {
        match self {
            OutReason::OutOfService(r) => format!("fora de serviço: {}", r.label_pt()),
            OutReason::IncompleteCrew => "equipe incompleta".to_owned(),
            OutReason::NoSignal => "sem sinal".to_owned(),
            OutReason::NoData => "sem dados".to_owned(),
        }
    }
}

impl fmt::Display for OutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for OutReason {
    type Error = IndicatorError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("out_reason", &value)
    }
}

impl From<OutReason> for String {
    fn from(value: OutReason) -> Self {
        value.as_str().to_owned()
    }
}

/// One unit on one local day: the row of the report's unit-day table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitDay {
    /// The unit.
    pub unit: UnitId,
    /// USB or USA.
    pub unit_type: UnitType,
    /// The local date.
    pub date: NaiveDate,
    /// Length of the local day (86 400 000, or 23/25 h on a DST change).
    pub day_ms: i64,
    /// Time available or on a call with a complete crew.
    pub in_operation_ms: i64,
    /// Time not in operation, by reason; only reasons with time appear.
    /// `in_operation_ms` plus these add up to `day_ms`.
    pub out_ms: BTreeMap<OutReason, i64>,
    /// The part of `out_ms` the operation rule counts (all of it, less
    /// `no_signal` when the rule counts no signal as operating).
    pub counted_out_ms: i64,
    /// Whether the day counts as in operation: `counted_out_ms` at most the
    /// rule's `max_minutes_out`.
    pub in_operation: bool,
}

impl UnitDay {
    /// Time out for one reason (0 when none).
    pub fn out_ms_of(&self, reason: OutReason) -> i64 {
        self.out_ms.get(&reason).copied().unwrap_or(0)
    }

    /// All time out, counted by the rule or not.
    pub fn total_out_ms(&self) -> i64 {
        self.out_ms.values().sum()
    }
}

/// Milliseconds as (fractional) minutes, as the report prints them.
pub fn minutes(ms: i64) -> f64 {
    ms as f64 / MS_PER_MINUTE as f64
}

/// What a stretch of time counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    InOperation,
    Out(OutReason),
}

fn classify(event: &StatusChange) -> Class {
    let status = event.status;
    if status.is_available() || status.is_on_call() {
        return if event.crew_complete {
            Class::InOperation
        } else {
            Class::Out(OutReason::IncompleteCrew)
        };
    }
    match (status, event.out_of_service_reason) {
        (UnitStatus::NoSignal, Some(reason)) => Class::Out(OutReason::OutOfService(reason)),
        (UnitStatus::NoSignal, None) if !event.crew_complete => {
            Class::Out(OutReason::IncompleteCrew)
        }
        (UnitStatus::NoSignal, None) => Class::Out(OutReason::NoSignal),
        (_, reason) => Class::Out(OutReason::OutOfService(
            reason.unwrap_or(OutOfServiceReason::Other),
        )),
    }
}

/// A unit's history as consecutive stretches: stretch `i` runs from
/// `starts[i]` to `starts[i + 1]` (the last one forever); before `starts[0]`
/// there is no data.
struct Timeline {
    starts: Vec<DateTime<Utc>>,
    classes: Vec<Class>,
}

impl Timeline {
    fn new(events: &[StatusChange]) -> Self {
        let mut ordered: Vec<&StatusChange> = events.iter().collect();
        ordered.sort_by_key(|e| e.event_no);
        let mut starts = Vec::with_capacity(ordered.len());
        let mut classes = Vec::with_capacity(ordered.len());
        for event in ordered {
            // A device clock may date an event slightly before the one it
            // follows; the later event still wins from its own time on, and
            // never rewrites the stretch before.
            let at = starts
                .last()
                .map_or(event.at, |&prev: &DateTime<Utc>| prev.max(event.at));
            starts.push(at);
            classes.push(classify(event));
        }
        Self { starts, classes }
    }

    /// Adds the time of `[from, to)` to `in_operation` and `out` by class.
    fn accumulate(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        in_operation: &mut i64,
        out: &mut BTreeMap<OutReason, i64>,
    ) {
        let mut idx = self.starts.partition_point(|&s| s <= from);
        let mut class = if idx == 0 {
            Class::Out(OutReason::NoData)
        } else {
            self.classes[idx - 1]
        };
        let mut t = from;
        while t < to {
            let next = self
                .starts
                .get(idx)
                .copied()
                .filter(|&s| s < to)
                .unwrap_or(to);
            let ms = (next - t).num_milliseconds();
            if ms > 0 {
                match class {
                    Class::InOperation => *in_operation += ms,
                    Class::Out(reason) => *out.entry(reason).or_default() += ms,
                }
            }
            t = next;
            if idx < self.classes.len() {
                class = self.classes[idx];
                idx += 1;
            }
        }
    }
}

/// Whether the unit is habilitated for the whole local day: only such days
/// count (habilitated mid-day, it counts from the next day; retired mid-day,
/// that day does not count).
fn habilitated_whole_day(history: &UnitHistory, day: &LocalDay) -> bool {
    history.habilitated_from <= day.start && history.retired_at.is_none_or(|r| r >= day.end)
}

fn counts(unit_type: UnitType) -> bool {
    matches!(unit_type, UnitType::Usb | UnitType::Usa)
}

fn build_day(
    history: &UnitHistory,
    timeline: &Timeline,
    settings: &CentralSettings,
    date: NaiveDate,
) -> Option<UnitDay> {
    if !counts(history.unit_type) {
        return None;
    }
    let day = LocalDay::new(settings.time_zone, date);
    if !habilitated_whole_day(history, &day) {
        return None;
    }
    let mut in_operation_ms = 0;
    let mut out_ms = BTreeMap::new();
    timeline.accumulate(day.start, day.end, &mut in_operation_ms, &mut out_ms);
    let rule = settings.operation_rule;
    let counted_out_ms = out_ms
        .iter()
        .filter(|(reason, _)| {
            !(rule.no_signal_counts_as_operating && **reason == OutReason::NoSignal)
        })
        .map(|(_, ms)| ms)
        .sum();
    Some(UnitDay {
        unit: history.unit.clone(),
        unit_type: history.unit_type,
        date,
        day_ms: day.length_ms(),
        in_operation_ms,
        out_ms,
        counted_out_ms,
        in_operation: counted_out_ms <= i64::from(rule.max_minutes_out) * MS_PER_MINUTE,
    })
}

/// The unit-day of `history` on the local `date`, or `None` when the unit is
/// not a USB or USA or was not habilitated for the whole day.
pub fn unit_day(
    history: &UnitHistory,
    settings: &CentralSettings,
    date: NaiveDate,
) -> Option<UnitDay> {
    build_day(history, &Timeline::new(&history.events), settings, date)
}

/// The unit-days of `history` on each of `dates` (for example
/// `month.days()`), skipping days that do not count.
pub fn unit_days(
    history: &UnitHistory,
    settings: &CentralSettings,
    dates: impl IntoIterator<Item = NaiveDate>,
) -> Vec<UnitDay> {
    let timeline = Timeline::new(&history.events);
    dates
        .into_iter()
        .filter_map(|date| build_day(history, &timeline, settings, date))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use samu_fleet::StatusSource;

    fn event(
        no: u64,
        at: &str,
        status: UnitStatus,
        reason: Option<OutOfServiceReason>,
        crew: bool,
    ) -> StatusChange {
        StatusChange {
            unit: UnitId::parse("u", "USB-1").unwrap(),
            event_no: no,
            at: at.parse().unwrap(),
            status,
            out_of_service_reason: reason,
            crew_complete: crew,
            source: StatusSource::Crew,
        }
    }

    #[test]
    fn reasons_round_trip() {
        for r in OutReason::ALL {
            assert_eq!(OutReason::parse("r", r.as_str()).unwrap(), r);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<OutReason>(&json).unwrap(), r);
        }
        assert!(OutReason::parse("r", "broken").is_err());
    }

    #[test]
    fn statuses_classify_as_the_table_says() {
        use OutOfServiceReason::*;
        use UnitStatus::*;
        let c = |s, r, crew| classify(&event(1, "2026-01-01T00:00:00Z", s, r, crew));
        assert_eq!(c(AvailableAtBase, None, true), Class::InOperation);
        assert_eq!(c(Transporting, None, true), Class::InOperation);
        assert_eq!(
            c(EnRoute, None, false),
            Class::Out(OutReason::IncompleteCrew)
        );
        assert_eq!(
            c(OutOfService, Some(Maintenance), true),
            Class::Out(OutReason::OutOfService(Maintenance))
        );
        assert_eq!(
            c(OutOfService, None, true),
            Class::Out(OutReason::OutOfService(Other))
        );
        assert_eq!(c(NoSignal, None, true), Class::Out(OutReason::NoSignal));
        assert_eq!(
            c(NoSignal, None, false),
            Class::Out(OutReason::IncompleteCrew)
        );
        assert_eq!(
            c(NoSignal, Some(Equipment), false),
            Class::Out(OutReason::OutOfService(Equipment))
        );
    }

    #[test]
    fn an_event_dated_before_its_predecessor_starts_when_the_predecessor_did() {
        // Event 2 claims 09:00 but follows event 1 at 10:00 (-03:00): it holds
        // from 10:00 on, and the 09:00–10:00 hour stays no data.
        let history = UnitHistory {
            unit: UnitId::parse("u", "USB-1").unwrap(),
            unit_type: UnitType::Usb,
            habilitated_from: "2020-01-01T00:00:00Z".parse().unwrap(),
            retired_at: None,
            events: vec![
                event(
                    1,
                    "2026-03-10T13:00:00Z",
                    UnitStatus::OutOfService,
                    Some(OutOfServiceReason::Cleaning),
                    true,
                ),
                event(
                    2,
                    "2026-03-10T12:00:00Z",
                    UnitStatus::AvailableAtBase,
                    None,
                    true,
                ),
            ],
        };
        let day = unit_day(
            &history,
            &CentralSettings::default(),
            NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
        )
        .unwrap();
        // 00:00–10:00 no data (600 min), 10:00–24:00 in operation (840 min),
        // the cleaning event lasting zero time.
        assert_eq!(day.out_ms_of(OutReason::NoData), 600 * MS_PER_MINUTE);
        assert_eq!(day.in_operation_ms, 840 * MS_PER_MINUTE);
        assert_eq!(
            day.out_ms_of(OutReason::OutOfService(OutOfServiceReason::Cleaning)),
            0
        );
        assert!(!day.in_operation);
    }

    #[test]
    fn other_types_have_no_unit_days() {
        let history = UnitHistory {
            unit: UnitId::parse("u", "MOTO-1").unwrap(),
            unit_type: UnitType::Moto,
            habilitated_from: "2020-01-01T00:00:00Z".parse().unwrap(),
            retired_at: None,
            events: vec![],
        };
        assert!(unit_day(
            &history,
            &CentralSettings::default(),
            NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()
        )
        .is_none());
    }
}
