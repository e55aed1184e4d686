//! The occurrence folded from its events, and the rules of what may come next.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use samu_domain::{CentralId, UnitId, UnitType, ValidationError};
use serde::{Deserialize, Serialize};

use crate::{
    event::{check_text, CallRecord, Event, EventBody, MAX_TEXT},
    response::Clock,
    vocabulary::{Cnes, Decision, NonCaseReason, OccurrenceId, Priority, UnitStep},
};

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransitionError {
    /// A field of the event is malformed or missing.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The event makes no sense in the occurrence's present state.
    #[error("{0}")]
    NotNow(String),
}

fn not_now(message: impl Into<String>) -> TransitionError {
    TransitionError::NotNow(message.into())
}

/// Where an occurrence is, derived from its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OccurrenceStatus {
    /// Recorded by the TARM, waiting for the physician.
    AwaitingRegulation,
    /// Regulated as telephone orientation; open until closed.
    Orientation,
    /// Regulated to send units, and some asked-for unit is not yet sent.
    AwaitingDispatch,
    /// Every asked-for unit sent; some still working.
    InProgress,
    /// Every unit sent is free again; waiting to be closed.
    UnitsFree,
    /// Over.
    Closed,
    /// Not a case (prank, wrong number…): closed, not counted.
    NonCase,
}

impl OccurrenceStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OccurrenceStatus::AwaitingRegulation => "awaiting_regulation",
            OccurrenceStatus::Orientation => "orientation",
            OccurrenceStatus::AwaitingDispatch => "awaiting_dispatch",
            OccurrenceStatus::InProgress => "in_progress",
            OccurrenceStatus::UnitsFree => "units_free",
            OccurrenceStatus::Closed => "closed",
            OccurrenceStatus::NonCase => "non_case",
        }
    }

    /// Portuguese label.
    pub fn label_pt(self) -> &'static str {
        match self {
            OccurrenceStatus::AwaitingRegulation => "aguardando regulação",
            OccurrenceStatus::Orientation => "orientação",
            OccurrenceStatus::AwaitingDispatch => "aguardando empenho",
            OccurrenceStatus::InProgress => "em atendimento",
            OccurrenceStatus::UnitsFree => "unidades liberadas",
            OccurrenceStatus::Closed => "encerrada",
            OccurrenceStatus::NonCase => "não caso",
        }
    }

    /// Still open.
    pub fn is_open(self) -> bool {
        !matches!(self, OccurrenceStatus::Closed | OccurrenceStatus::NonCase)
    }
}

/// The physician's latest regulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regulation {
    /// Severity.
    pub priority: Priority,
    /// Orientation, or send units.
    pub decision: Decision,
    /// Unit types asked for, with repetition.
    pub unit_types: Vec<UnitType>,
    /// The event that set it.
    pub event_no: u64,
}

/// A unit sent to the occurrence, and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The unit.
    pub unit: UnitId,
    /// Its type.
    pub unit_type: UnitType,
    /// Its label.
    pub label: String,
    /// Every step with the event that recorded it, in order; the first is
    /// `Dispatched`.
    pub steps: Vec<(UnitStep, u64)>,
    /// Where the patient was taken.
    pub destination_cnes: Option<Cnes>,
}

impl Assignment {
    /// The latest step.
    pub fn step(&self) -> UnitStep {
        self.steps.last().map_or(UnitStep::Dispatched, |s| s.0)
    }

    /// The event of the latest step.
    pub fn step_event(&self) -> u64 {
        self.steps.last().map_or(0, |s| s.1)
    }

    /// The event that recorded `step`, if reached.
    pub fn event_of(&self, step: UnitStep) -> Option<u64> {
        self.steps.iter().find(|s| s.0 == step).map(|s| s.1)
    }
}

/// An occurrence as its events make it.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// Its id.
    pub id: OccurrenceId,
    /// The central's sequential number for it.
    pub number: u64,
    /// The central that answered.
    pub central: CentralId,
    /// What the TARM recorded (personal data).
    pub call: CallRecord,
    /// The latest regulation.
    pub regulation: Option<Regulation>,
    /// The first regulation's event: the clock's "regulated" time.
    pub first_regulation_event: Option<u64>,
    /// Units sent, in dispatch order (a unit sent twice appears twice).
    pub assignments: Vec<Assignment>,
    /// Why it was not a case.
    pub non_case: Option<NonCaseReason>,
    /// The closing event.
    pub closed_event: Option<u64>,
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Corrected times by event number (the latest correction wins).
    corrected: HashMap<u64, DateTime<Utc>>,
}

impl Occurrence {
    /// Folds stored events, checking each as if it were new.
    ///
    /// # Errors
    /// When the first event is not `CallReceived`, or a later one breaks the
    /// rules (which means the stored history is corrupt).
    pub fn replay(
        id: OccurrenceId,
        number: u64,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<Self, TransitionError> {
        let mut events = events.into_iter();
        let first = events
            .next()
            .ok_or_else(|| not_now("an occurrence starts with its call"))?;
        let mut occurrence = Self::start(id, number, first, false)?;
        for event in events {
            occurrence.apply(event)?;
        }
        Ok(occurrence)
    }

    /// A new occurrence from its first event.
    ///
    /// # Errors
    /// When the event is not a valid `CallReceived` numbered 1.
    pub fn open(id: OccurrenceId, number: u64, event: Event) -> Result<Self, TransitionError> {
        Self::start(id, number, event, true)
    }

    /// A new or stored occurrence from its first event. A stored call is
    /// taken as it is: it was checked when recorded, and after the retention
    /// period its personal fields are empty.
    fn start(
        id: OccurrenceId,
        number: u64,
        event: Event,
        validate: bool,
    ) -> Result<Self, TransitionError> {
        let EventBody::CallReceived { central, call } = &event.body else {
            return Err(not_now("an occurrence starts with its call"));
        };
        if event.no != 1 {
            return Err(not_now("the call is event 1"));
        }
        let call = if validate {
            call.clone().normalized()?
        } else {
            call.clone()
        };
        Ok(Self {
            id,
            number,
            central: central.clone(),
            call,
            regulation: None,
            first_regulation_event: None,
            assignments: Vec::new(),
            non_case: None,
            closed_event: None,
            events: vec![event],
            corrected: HashMap::new(),
        })
    }

    /// Number of the last event: the version a client saw.
    pub fn version(&self) -> u64 {
        self.events.len() as u64
    }

    /// The status, derived from the events.
    pub fn status(&self) -> OccurrenceStatus {
        if self.non_case.is_some() {
            return OccurrenceStatus::NonCase;
        }
        if self.closed_event.is_some() {
            return OccurrenceStatus::Closed;
        }
        let Some(regulation) = &self.regulation else {
            return OccurrenceStatus::AwaitingRegulation;
        };
        if regulation.decision == Decision::Orientation {
            return OccurrenceStatus::Orientation;
        }
        if !self.uncovered().is_empty() {
            OccurrenceStatus::AwaitingDispatch
        } else if self.assignments.iter().any(|a| a.step().is_engaged()) {
            OccurrenceStatus::InProgress
        } else {
            OccurrenceStatus::UnitsFree
        }
    }

    /// The effective time of event `no` (corrected when it was).
    pub fn time_of(&self, no: u64) -> Option<DateTime<Utc>> {
        self.corrected.get(&no).copied().or_else(|| {
            self.events
                .get(usize::try_from(no).ok()?.checked_sub(1)?)
                .map(|e| e.at)
        })
    }

    /// When the call was received (event 1, as corrected).
    pub fn opened_at(&self) -> DateTime<Utc> {
        self.time_of(1).unwrap_or(self.events[0].at)
    }

    /// When it was closed, as corrected.
    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        if self.non_case.is_some() {
            return self.events.last().map(|e| e.at);
        }
        self.closed_event.and_then(|no| self.time_of(no))
    }

    /// Unit types asked for and not yet covered by a unit sent (cancelled
    /// units do not cover).
    pub fn uncovered(&self) -> Vec<UnitType> {
        let Some(regulation) = &self.regulation else {
            return Vec::new();
        };
        let mut sent: Vec<UnitType> = self
            .assignments
            .iter()
            .filter(|a| a.step() != UnitStep::Cancelled)
            .map(|a| a.unit_type)
            .collect();
        let mut missing = Vec::new();
        for wanted in &regulation.unit_types {
            match sent.iter().position(|t| t == wanted) {
                Some(i) => {
                    sent.swap_remove(i);
                }
                None => missing.push(*wanted),
            }
        }
        missing
    }

    /// The assignment of a unit still working this occurrence, or its latest.
    pub fn assignment(&self, unit: &UnitId) -> Option<&Assignment> {
        self.assignments.iter().rev().find(|a| &a.unit == unit)
    }

    /// Units still working this occurrence.
    pub fn engaged_units(&self) -> impl Iterator<Item = &Assignment> {
        self.assignments.iter().filter(|a| a.step().is_engaged())
    }

    /// The occurrence's clock, for the response-time figures.
    pub fn clock(&self) -> Clock {
        let first_dispatch_at = self
            .assignments
            .iter()
            .filter_map(|a| self.time_of(a.event_of(UnitStep::Dispatched)?))
            .min();
        let first_on_scene_at = self
            .assignments
            .iter()
            .filter_map(|a| self.time_of(a.event_of(UnitStep::OnScene)?))
            .min();
        Clock {
            central: self.central.clone(),
            priority: self.regulation.as_ref().map(|r| r.priority),
            counted: self.non_case.is_none(),
            call_at: self.opened_at(),
            regulated_at: self.first_regulation_event.and_then(|no| self.time_of(no)),
            first_dispatch_at,
            first_on_scene_at,
        }
    }

    /// Whether `body`, happening at `at`, may come next.
    ///
    /// # Errors
    /// [`TransitionError::Invalid`] for a malformed field,
    /// [`TransitionError::NotNow`] for an event that makes no sense now.
    pub fn check(&self, body: &EventBody, at: DateTime<Utc>) -> Result<(), TransitionError> {
        check_notes(body)?;
        if !matches!(body, EventBody::TimeCorrected { .. }) && at < self.opened_at() {
            return Err(TransitionError::Invalid(ValidationError::new(
                "at",
                "is before the call was received",
            )));
        }
        let status = self.status();
        let closed = !status.is_open();
        match body {
            EventBody::CallReceived { .. } => Err(not_now("the call was already recorded")),
            EventBody::NonCase { .. } => {
                if closed {
                    Err(not_now(format!(
                        "the occurrence is already {}",
                        status.as_str()
                    )))
                } else if !self.assignments.is_empty() {
                    Err(not_now(
                        "a unit was already sent: close the occurrence instead",
                    ))
                } else {
                    Ok(())
                }
            }
            EventBody::Regulated {
                decision,
                unit_types,
                ..
            } => {
                if closed {
                    return Err(not_now(format!(
                        "the occurrence is already {}",
                        status.as_str()
                    )));
                }
                match decision {
                    Decision::Orientation if !unit_types.is_empty() => Err(ValidationError::new(
                        "unit_types",
                        "telephone orientation sends no unit: leave unit_types empty",
                    )
                    .into()),
                    Decision::Orientation if self.engaged_units().next().is_some() => Err(not_now(
                        "units are still engaged: cancel or free them before orientation",
                    )),
                    Decision::Dispatch if unit_types.is_empty() => Err(ValidationError::new(
                        "unit_types",
                        "a dispatch decision names at least one unit type",
                    )
                    .into()),
                    Decision::Dispatch if unit_types.len() > 10 => Err(ValidationError::new(
                        "unit_types",
                        "at most 10 units per decision",
                    )
                    .into()),
                    _ => Ok(()),
                }
            }
            EventBody::UnitDispatched { unit, .. } => {
                if closed {
                    return Err(not_now(format!(
                        "the occurrence is already {}",
                        status.as_str()
                    )));
                }
                let Some(regulation) = &self.regulation else {
                    return Err(not_now(
                        "the occurrence is not regulated yet: a physician decides what to send",
                    ));
                };
                if regulation.decision != Decision::Dispatch {
                    return Err(not_now(
                        "the regulation decided telephone orientation: no unit is to be sent",
                    ));
                }
                if let Some(a) = self.assignment(unit).filter(|a| a.step().is_engaged()) {
                    return Err(not_now(format!(
                        "unit {unit} is already {} on this occurrence",
                        a.step()
                    )));
                }
                let regulated_at = self.time_of(regulation.event_no).unwrap_or(at);
                if at < regulated_at {
                    return Err(ValidationError::new("at", "is before the regulation").into());
                }
                Ok(())
            }
            EventBody::UnitProgressed {
                unit,
                step,
                destination_cnes,
                note,
            } => self.check_step(unit, *step, destination_cnes.as_ref(), note.as_deref(), at),
            EventBody::TimeCorrected {
                event_no,
                at: corrected,
                reason,
            } => self.check_correction(*event_no, *corrected, reason),
            EventBody::Closed { .. } => match status {
                OccurrenceStatus::AwaitingRegulation => Err(not_now(
                    "every case is regulated by a physician before it is closed",
                )),
                OccurrenceStatus::Closed | OccurrenceStatus::NonCase => Err(not_now(format!(
                    "the occurrence is already {}",
                    status.as_str()
                ))),
                _ => match self.engaged_units().next() {
                    Some(a) => Err(not_now(format!(
                        "unit {} is still {}: free it before closing",
                        a.unit,
                        a.step()
                    ))),
                    None => Ok(()),
                },
            },
        }
    }

    fn check_step(
        &self,
        unit: &UnitId,
        step: UnitStep,
        destination: Option<&Cnes>,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        let Some(assignment) = self.assignment(unit) else {
            return Err(not_now(format!(
                "unit {unit} was not sent to this occurrence"
            )));
        };
        let current = assignment.step();
        if step == UnitStep::Dispatched {
            return Err(
                ValidationError::new("step", "dispatch a unit with the dispatch call").into(),
            );
        }
        if step == current {
            return Err(not_now(format!("unit {unit} is already {step}")));
        }
        if self.closed_event.is_some() || self.non_case.is_some() {
            // Only the way home is recorded after closing.
            if !(step == UnitStep::AtBase && matches!(current, UnitStep::Free)) {
                return Err(not_now("the occurrence is closed"));
            }
        }
        match step {
            UnitStep::Cancelled => {
                if current.rank() >= UnitStep::OnScene.rank() {
                    return Err(not_now(format!(
                        "unit {unit} is {current}: only a unit that has not reached the scene is cancelled; free it instead"
                    )));
                }
                if note.is_none() {
                    return Err(
                        ValidationError::new("note", "say why the unit is cancelled").into(),
                    );
                }
            }
            UnitStep::Free => {
                if current.rank() < UnitStep::OnScene.rank() {
                    return Err(not_now(format!(
                        "unit {unit} is {current} and never reached the scene: cancel it instead"
                    )));
                }
                if current.rank() >= UnitStep::Free.rank() {
                    return Err(not_now(format!("unit {unit} is already {current}")));
                }
            }
            UnitStep::AtBase => {
                if current != UnitStep::Free && current != UnitStep::Cancelled {
                    return Err(not_now(format!(
                        "unit {unit} is {current}: it is freed before it is back at base"
                    )));
                }
            }
            _ => {
                if !current.is_engaged() {
                    return Err(not_now(format!("unit {unit} is already {current}")));
                }
                if step.rank() < current.rank() {
                    return Err(not_now(format!(
                        "unit {unit} is {current}; {step} comes before that (a wrong time is corrected, not re-recorded)"
                    )));
                }
                if step == UnitStep::AtDestination && destination.is_none() {
                    return Err(ValidationError::new(
                        "destination_cnes",
                        "the destination hospital's CNES is required",
                    )
                    .into());
                }
                if step == UnitStep::AtDestination
                    && assignment.event_of(UnitStep::OnScene).is_none()
                {
                    return Err(not_now(format!(
                        "unit {unit} never reached the scene: record on_scene first"
                    )));
                }
            }
        }
        if step != UnitStep::AtDestination && destination.is_some() {
            return Err(ValidationError::new(
                "destination_cnes",
                "only an at_destination step has a destination",
            )
            .into());
        }
        if let Some(previous) = self.time_of(assignment.step_event()) {
            if at < previous {
                return Err(ValidationError::new(
                    "at",
                    format!("is before the unit's previous step ({current})"),
                )
                .into());
            }
        }
        Ok(())
    }

    fn check_correction(
        &self,
        event_no: u64,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), TransitionError> {
        if reason.trim().is_empty() {
            return Err(ValidationError::new("reason", "say why the time is corrected").into());
        }
        let Some(target) = usize::try_from(event_no)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.events.get(i))
        else {
            return Err(ValidationError::new(
                "event_no",
                format!("no event {event_no} in this occurrence"),
            )
            .into());
        };
        if matches!(target.body, EventBody::TimeCorrected { .. }) {
            return Err(ValidationError::new(
                "event_no",
                "a correction is corrected by correcting the original event again",
            )
            .into());
        }
        let mut candidate = self.corrected.clone();
        candidate.insert(event_no, at);
        match self.order_violation(&candidate) {
            Some(why) => Err(TransitionError::Invalid(ValidationError::new("at", why))),
            None => Ok(()),
        }
    }

    /// Whether the clock stays in order with these corrected times.
    fn order_violation(&self, corrected: &HashMap<u64, DateTime<Utc>>) -> Option<String> {
        let time = |no: u64| {
            corrected
                .get(&no)
                .copied()
                .or_else(|| self.events.get(no as usize - 1).map(|e| e.at))
        };
        let call = time(1)?;
        for event in &self.events[1..] {
            if matches!(event.body, EventBody::TimeCorrected { .. }) {
                continue;
            }
            if time(event.no).is_some_and(|t| t < call) {
                return Some(format!(
                    "would put event {} ({}) before the call",
                    event.no,
                    event.body.kind()
                ));
            }
        }
        if let Some(first_regulation) = self.first_regulation_event.and_then(time) {
            for a in &self.assignments {
                let dispatched = a.event_of(UnitStep::Dispatched).and_then(time);
                if dispatched.is_some_and(|d| d < first_regulation) {
                    return Some(format!(
                        "would put the dispatch of {} before the regulation",
                        a.unit
                    ));
                }
            }
        }
        for a in &self.assignments {
            let mut previous: Option<(UnitStep, DateTime<Utc>)> = None;
            for (step, no) in &a.steps {
                let Some(t) = time(*no) else { continue };
                if let Some((p, pt)) = previous {
                    if t < pt {
                        return Some(format!("would put {} of {} before its {}", step, a.unit, p));
                    }
                }
                previous = Some((*step, t));
            }
        }
        None
    }

    /// Checks and folds the next event.
    ///
    /// # Errors
    /// As [`Occurrence::check`], or when the event's number is not the next one.
    pub fn apply(&mut self, event: Event) -> Result<(), TransitionError> {
        if event.no != self.version() + 1 {
            return Err(not_now(format!(
                "event {} does not follow event {}",
                event.no,
                self.version()
            )));
        }
        self.check(&event.body, event.at)?;
        match &event.body {
            EventBody::CallReceived { .. } => unreachable!("refused by check"),
            EventBody::NonCase { reason, .. } => self.non_case = Some(*reason),
            EventBody::Regulated {
                priority,
                decision,
                unit_types,
                ..
            } => {
                self.regulation = Some(Regulation {
                    priority: *priority,
                    decision: *decision,
                    unit_types: unit_types.clone(),
                    event_no: event.no,
                });
                self.first_regulation_event.get_or_insert(event.no);
            }
            EventBody::UnitDispatched {
                unit,
                unit_type,
                label,
                ..
            } => self.assignments.push(Assignment {
                unit: unit.clone(),
                unit_type: *unit_type,
                label: label.clone(),
                steps: vec![(UnitStep::Dispatched, event.no)],
                destination_cnes: None,
            }),
            EventBody::UnitProgressed {
                unit,
                step,
                destination_cnes,
                ..
            } => {
                let assignment = self
                    .assignments
                    .iter_mut()
                    .rev()
                    .find(|a| &a.unit == unit)
                    .expect("checked");
                assignment.steps.push((*step, event.no));
                if destination_cnes.is_some() {
                    assignment.destination_cnes.clone_from(destination_cnes);
                }
            }
            EventBody::TimeCorrected { event_no, at, .. } => {
                self.corrected.insert(*event_no, *at);
            }
            EventBody::Closed { .. } => self.closed_event = Some(event.no),
        }
        self.events.push(event);
        Ok(())
    }
}

/// Bounds the free-text notes of an event.
fn check_notes(body: &EventBody) -> Result<(), ValidationError> {
    let note = match body {
        EventBody::NonCase { note, .. }
        | EventBody::Regulated { note, .. }
        | EventBody::UnitProgressed { note, .. }
        | EventBody::Closed { note } => note.as_deref(),
        EventBody::UnitDispatched { reason, .. } => {
            return reason
                .as_deref()
                .map_or(Ok(()), |r| check_text("reason", r, MAX_TEXT));
        }
        EventBody::TimeCorrected { reason, .. } => {
            return check_text("reason", reason, MAX_TEXT);
        }
        EventBody::CallReceived { .. } => None,
    };
    note.map_or(Ok(()), |n| check_text("note", n, MAX_TEXT))
}
