//! Regulation: occurrences from call to unit free, run by the people at the
//! consoles through the gRPC and HTTP adapters.
//!
//! Each command loads the occurrence's events from the store, asks
//! `samu-occurrence` whether the new event makes sense, and appends it in
//! one transaction with its projection, the unit's engagement and the audit
//! record. The store is the referee between instances: a race on one
//! occurrence is retried on fresh state, and a unit can be engaged on one
//! occurrence only. After the commit, the unit's status in the fleet follows
//! and the change goes to walls and consoles (and, through Redis, to the
//! other instances).

use chrono::{DateTime, TimeDelta, Utc};
use samu_domain::{CentralId, UnitId, UnitStatus, UnitType, ValidationError};
use samu_fleet::NearestQuery;
use samu_occurrence::{
    Actor, CallRecord, Cnes, Decision, Detail, Event, EventBody, NonCaseReason, Occurrence,
    OccurrenceId, Priority, PriorityTimes, ResponseTargets, Summary, TransitionError, UnitStep,
};
use samu_store::{
    AppendOutcome, AuditRecord, Credential, Engagement, OccurrenceWrite, StoreError,
    StoredOccurrence,
};
use serde::Serialize;

use crate::{central::Central, feed::FleetEvent};

/// Who is calling, and from where (for the audit trail).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's credential (role, central, user).
    pub credential: Credential,
    /// The client's address as the server saw it.
    pub from: Option<String>,
    /// The console's idempotency key for this command, if it sent one.
    pub request_key: Option<RequestKey>,
}

/// A console's idempotency key for one command (the `Idempotency-Key`
/// header, or `idempotency-key` metadata over gRPC): a console that got no
/// answer (the server died, the network dropped) sends the command again
/// with the same key, and gets the occurrence back instead of a second
/// event. Keys belong to the session that used them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey(String);

impl RequestKey {
    /// Most characters in a key (a UUID has 36).
    pub const MAX_LEN: usize = 128;

    /// Checks a key: 1 to 128 visible ASCII characters.
    ///
    /// # Errors
    /// Empty, too long, or with spaces, control or non-ASCII characters.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, ValidationError> {
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                field,
                format!("must have 1 to {} characters", Self::MAX_LEN),
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                field,
                "must be visible ASCII characters only (a UUID, say)",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Caller {
    fn actor(&self) -> Actor {
        Actor {
            credential_id: self.credential.id.clone(),
            label: self.credential.label.clone(),
            role: self.credential.role.as_str().to_owned(),
        }
    }

    fn audit(&self, action: &str, occurrence: &OccurrenceId, fields: &[&str]) -> AuditRecord {
        AuditRecord {
            at: samu_domain::time::now(),
            credential_id: self.credential.id.clone(),
            user_id: self.credential.user_id.clone(),
            actor: self.credential.label.clone(),
            role: self.credential.role.as_str().to_owned(),
            action: action.to_owned(),
            occurrence_id: Some(occurrence.as_str().to_owned()),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            remote_addr: self.from.clone(),
        }
    }

    fn check_central(&self, central: &CentralId) -> Result<(), RegulationError> {
        if self.credential.may_act_for(central) {
            Ok(())
        } else {
            Err(RegulationError::OtherCentral(central.clone()))
        }
    }
}

/// Why a regulation call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegulationError {
    /// Bad input, naming the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No such occurrence, unit or central.
    #[error("{field}: {message}")]
    NotFound {
        /// The field that named it.
        field: &'static str,
        /// What was not found.
        message: String,
    },
    /// The caller works for another central.
    #[error("this occurrence belongs to central {0}, which the caller does not work for")]
    OtherCentral(CentralId),
    /// The step makes no sense now (the message says why).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TransitionError> for RegulationError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Invalid(v) => RegulationError::Invalid(v),
            TransitionError::NotNow(m) => RegulationError::Conflict(m),
        }
    }
}

/// A step of an occurrence, as a console asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Not a case.
    NonCase {
        /// Why.
        reason: NonCaseReason,
        /// Free text.
        note: Option<String>,
    },
    /// The physician's regulation.
    Regulate {
        /// Severity.
        priority: Priority,
        /// Orientation, or send units.
        decision: Decision,
        /// Unit types to send.
        unit_types: Vec<UnitType>,
        /// Free text.
        note: Option<String>,
    },
    /// Send a unit.
    Dispatch {
        /// The unit.
        unit: UnitId,
        /// Why, when it is not the first recommended of its type.
        reason: Option<String>,
    },
    /// A unit moved on.
    Step {
        /// The unit.
        unit: UnitId,
        /// Its new step.
        step: UnitStep,
        /// Destination, for `at_destination`.
        destination_cnes: Option<Cnes>,
        /// Free text (required to cancel).
        note: Option<String>,
    },
    /// Corrects an earlier event's time.
    Correct {
        /// The event.
        event_no: u64,
        /// The right time.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// Closes the occurrence.
    Close {
        /// Free text.
        note: Option<String>,
    },
}

impl Command {
    /// The kind of event the command records.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::NonCase { .. } => "non_case",
            Command::Regulate { .. } => "regulated",
            Command::Dispatch { .. } => "unit_dispatched",
            Command::Step { .. } => "unit_progressed",
            Command::Correct { .. } => "time_corrected",
            Command::Close { .. } => "closed",
        }
    }
}

/// A unit the server recommends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The unit.
    pub unit: UnitId,
    /// Its label.
    pub label: String,
    /// Its type.
    #[serde(rename = "type")]
    pub unit_type: UnitType,
    /// Its status.
    pub status: UnitStatus,
    /// Straight-line distance, metres.
    pub distance_m: f64,
    /// Estimated travel time, seconds.
    pub eta_s: f64,
    /// Minimum crew aboard (always true: only complete crews are recommended).
    pub crew_complete: bool,
}

/// The candidates of one unit type, nearest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeCandidates {
    /// The type.
    #[serde(rename = "type")]
    pub unit_type: UnitType,
    /// Nearest available units with complete crews.
    pub units: Vec<Candidate>,
}

/// What the dispatch screen shows for an occurrence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// The occurrence.
    pub occurrence: OccurrenceId,
    /// Per unit type still to send (or every type asked for, when all are sent).
    pub candidates: Vec<TypeCandidates>,
}

/// Candidates per type the recommendation lists.
pub const RECOMMENDED_PER_TYPE: usize = 5;
/// How far ahead of the server's clock a declared time may be.
const FUTURE_SKEW: TimeDelta = TimeDelta::seconds(60);
/// How far back a declared time may be.
const PAST_LIMIT: TimeDelta = TimeDelta::hours(24);
/// Attempts when another console wins a race on the same occurrence.
const ATTEMPTS: usize = 5;
/// How long closed occurrences stay on boards.
pub const CLOSED_VISIBLE: TimeDelta = TimeDelta::hours(1);

/// The unit status an occurrence step implies.
fn status_of(step: UnitStep) -> UnitStatus {
    match step {
        UnitStep::Dispatched => UnitStatus::Dispatched,
        UnitStep::EnRoute => UnitStatus::EnRoute,
        UnitStep::OnScene => UnitStatus::OnScene,
        UnitStep::LeftScene => UnitStatus::Transporting,
        UnitStep::AtDestination => UnitStatus::AtDestination,
        UnitStep::Free | UnitStep::Cancelled => UnitStatus::AvailableOnTheMove,
        UnitStep::AtBase => UnitStatus::AvailableAtBase,
    }
}

/// A stored history folded; a history the rules refuse is a corrupt store.
fn replay(stored: StoredOccurrence) -> Result<Occurrence, RegulationError> {
    Occurrence::replay(stored.id, stored.number, stored.events).map_err(|e| {
        RegulationError::Store(StoreError::Corrupt {
            table: "occurrence_events",
            message: e.to_string(),
        })
    })
}

fn check_time(
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ValidationError> {
    let at = at.unwrap_or(now);
    if at > now + FUTURE_SKEW {
        return Err(ValidationError::new("at", "is in the future"));
    }
    if at < now - PAST_LIMIT {
        return Err(ValidationError::new("at", "is more than 24 hours ago"));
    }
    Ok(at)
}

impl Central {
    /// A central's response targets (defaults when unset or unreadable).
    ///
    /// # Errors
    /// A store failure.
    pub async fn response_targets(
        &self,
        central: &CentralId,
    ) -> Result<ResponseTargets, StoreError> {
        Ok(match self.store().response_targets(central).await? {
            Some(json) => ResponseTargets::from_json("response_targets", &json).unwrap_or_else(|e| {
                tracing::warn!(%central, error = %e, "stored response targets unreadable; using defaults");
                ResponseTargets::default()
            }),
            None => ResponseTargets::default(),
        })
    }

    async fn load(&self, id: &OccurrenceId) -> Result<Occurrence, RegulationError> {
        let stored =
            self.store()
                .occurrence(id)
                .await?
                .ok_or_else(|| RegulationError::NotFound {
                    field: "occurrence_id",
                    message: format!("no occurrence {id}"),
                })?;
        replay(stored)
    }

    /// Records a new call (TARM).
    ///
    /// # Errors
    /// A bad field, an unknown central, a central the caller does not work
    /// for, or a store failure.
    pub async fn open_occurrence(
        &self,
        caller: &Caller,
        central: &CentralId,
        call: CallRecord,
        received_at: Option<DateTime<Utc>>,
    ) -> Result<Detail, RegulationError> {
        caller.check_central(central)?;
        if self.store().central(central).await?.is_none() {
            return Err(RegulationError::NotFound {
                field: "central_id",
                message: format!("unknown central {central}"),
            });
        }
        let call = call.normalized()?;
        let now = samu_domain::time::now();
        let at = check_time(received_at, now)
            .map_err(|e| ValidationError::new("received_at", e.message))?;
        let id = OccurrenceId::parse("id", &uuid::Uuid::now_v7().to_string())?;
        let targets = self.response_targets(central).await?;
        for _ in 0..ATTEMPTS {
            if let Some(done) = self.repeated(caller, None, "call_received").await? {
                return Ok(done);
            }
            let number = self.store().next_occurrence_number(central).await?;
            let event = Event {
                no: 1,
                at,
                recorded_at: now,
                actor: caller.actor(),
                body: EventBody::CallReceived {
                    central: central.clone(),
                    call: call.clone(),
                },
            };
            let occurrence = Occurrence::open(id.clone(), number, event.clone())?;
            let fields = occurrence.call.personal_fields();
            let audit = caller.audit("call_received", &id, &fields);
            let outcome = self
                .store()
                .append_occurrence_event(&OccurrenceWrite {
                    occurrence: &occurrence,
                    event: &event,
                    request_key: caller.request_key.as_ref().map(RequestKey::as_str),
                    engagement: Engagement::Unchanged,
                    audit: &audit,
                })
                .await?;
            if outcome == AppendOutcome::Appended {
                metrics::counter!("samu_occurrences_opened_total").increment(1);
                tracing::info!(occurrence = %id, number, %central, "call recorded");
                self.publish(FleetEvent::Occurrence(Box::new(Summary::of(
                    &occurrence,
                    &targets,
                ))));
                return Ok(Detail::of(&occurrence, &targets));
            }
        }
        Err(RegulationError::Conflict(
            "the central's occurrence numbers are contended; try again".into(),
        ))
    }

    /// Takes one step of an occurrence (regulation, dispatch, unit steps,
    /// corrections, closing). `at` is when it happened; empty means now.
    ///
    /// # Errors
    /// A bad field, an unknown occurrence or unit, another central, a step
    /// that makes no sense now, or a store failure.
    pub async fn act(
        &self,
        caller: &Caller,
        id: &OccurrenceId,
        command: Command,
        at: Option<DateTime<Utc>>,
    ) -> Result<Detail, RegulationError> {
        let now = samu_domain::time::now();
        let at = check_time(at, now)?;
        for _ in 0..ATTEMPTS {
            if let Some(done) = self.repeated(caller, Some(id), command.kind()).await? {
                return Ok(done);
            }
            let mut occurrence = self.load(id).await?;
            caller.check_central(&occurrence.central)?;
            let (body, engagement) = self.event_for(&occurrence, &command, at)?;
            let event = Event {
                no: occurrence.version() + 1,
                at,
                recorded_at: now,
                actor: caller.actor(),
                body,
            };
            occurrence.apply(event.clone())?;
            let audit = caller.audit(event.body.kind(), id, &occurrence.call.personal_fields());
            let outcome = self
                .store()
                .append_occurrence_event(&OccurrenceWrite {
                    occurrence: &occurrence,
                    event: &event,
                    request_key: caller.request_key.as_ref().map(RequestKey::as_str),
                    engagement,
                    audit: &audit,
                })
                .await?;
            match outcome {
                AppendOutcome::Appended => {
                    tracing::info!(occurrence = %id, event = event.no, kind = event.body.kind(), "occurrence event");
                    self.follow_in_fleet(&occurrence, &event).await;
                    let targets = self.response_targets(&occurrence.central).await?;
                    self.publish(FleetEvent::Occurrence(Box::new(Summary::of(
                        &occurrence,
                        &targets,
                    ))));
                    return Ok(Detail::of(&occurrence, &targets));
                }
                AppendOutcome::VersionConflict
                | AppendOutcome::NumberTaken
                | AppendOutcome::KeyTaken => continue,
                AppendOutcome::UnitEngaged(other) => {
                    return Err(RegulationError::Conflict(format!(
                        "unit {} is engaged on occurrence {other}",
                        event.body.unit().map_or("?", |u| u.as_str())
                    )))
                }
            }
        }
        Err(RegulationError::Conflict(
            "the occurrence is changing too fast; reload and try again".into(),
        ))
    }

    /// When the caller's idempotency key was used already: the occurrence
    /// that command changed, as it is now (the command is not done again).
    /// A key used for another command is refused.
    async fn repeated(
        &self,
        caller: &Caller,
        id: Option<&OccurrenceId>,
        kind: &str,
    ) -> Result<Option<Detail>, RegulationError> {
        let Some(key) = &caller.request_key else {
            return Ok(None);
        };
        let Some(done) = self
            .store()
            .command_key(&caller.credential.id, key.as_str())
            .await?
        else {
            return Ok(None);
        };
        if id.is_some_and(|id| *id != done.occurrence_id) || done.kind != kind {
            return Err(RegulationError::Conflict(format!(
                "idempotency key {} was already used for {} on occurrence {}",
                key.as_str(),
                done.kind,
                done.occurrence_id
            )));
        }
        metrics::counter!("samu_commands_repeated_total").increment(1);
        tracing::info!(occurrence = %done.occurrence_id, event = done.event_no, "a repeated command answered from its first run");
        let occurrence = self.load(&done.occurrence_id).await?;
        let targets = self.response_targets(&occurrence.central).await?;
        Ok(Some(Detail::of(&occurrence, &targets)))
    }

    /// The event a command makes, checked against the fleet.
    fn event_for(
        &self,
        occurrence: &Occurrence,
        command: &Command,
        at: DateTime<Utc>,
    ) -> Result<(EventBody, Engagement), RegulationError> {
        Ok(match command.clone() {
            Command::NonCase { reason, note } => {
                (EventBody::NonCase { reason, note }, Engagement::Unchanged)
            }
            Command::Regulate {
                priority,
                decision,
                unit_types,
                note,
            } => (
                EventBody::Regulated {
                    priority,
                    decision,
                    unit_types,
                    note,
                },
                Engagement::Unchanged,
            ),
            Command::Dispatch { unit, reason } => {
                let (unit_type, label, status, crew_complete, unit_central) = self
                    .with_fleet(|fleet| {
                        fleet.unit(&unit).map(|u| {
                            (
                                u.record.unit_type,
                                u.record.label.clone(),
                                u.status(),
                                u.crew_check.complete,
                                u.record.central.clone(),
                            )
                        })
                    })
                    .ok_or_else(|| RegulationError::NotFound {
                        field: "unit",
                        message: format!("unknown unit {unit}"),
                    })?;
                if unit_central != occurrence.central {
                    return Err(ValidationError::new(
                        "unit",
                        format!("unit {unit} belongs to central {unit_central}"),
                    )
                    .into());
                }
                if status.is_on_call() || status == UnitStatus::OutOfService {
                    return Err(RegulationError::Conflict(format!(
                        "unit {unit} is {} ({})",
                        status.label_pt(),
                        status
                    )));
                }
                let reason = reason.filter(|r| !r.trim().is_empty());
                let recommended = self
                    .candidates(occurrence, &[unit_type], 1)
                    .into_iter()
                    .next()
                    .and_then(|c| c.units.into_iter().next())
                    .map(|c| c.unit);
                let needs_reason =
                    recommended.as_ref() != Some(&unit) || !crew_complete || !status.is_available();
                if needs_reason && reason.is_none() {
                    let why = match &recommended {
                        _ if !status.is_available() => format!("unit {unit} is {status}"),
                        _ if !crew_complete => format!("unit {unit} has an incomplete crew"),
                        Some(r) => format!("{r} is the recommended {unit_type}"),
                        None => {
                            format!("no {unit_type} is recommended (no location or none available)")
                        }
                    };
                    return Err(ValidationError::new(
                        "reason",
                        format!("{why}: say why {unit} is sent instead"),
                    )
                    .into());
                }
                (
                    EventBody::UnitDispatched {
                        unit: unit.clone(),
                        unit_type,
                        label,
                        recommended,
                        reason,
                    },
                    Engagement::Engage(unit),
                )
            }
            Command::Step {
                unit,
                step,
                destination_cnes,
                note,
            } => {
                let engagement = if matches!(step, UnitStep::Free | UnitStep::Cancelled) {
                    Engagement::Release(unit.clone())
                } else {
                    Engagement::Unchanged
                };
                (
                    EventBody::UnitProgressed {
                        unit,
                        step,
                        destination_cnes,
                        note: note.filter(|n| !n.trim().is_empty()),
                    },
                    engagement,
                )
            }
            Command::Correct {
                event_no,
                at: corrected,
                reason,
            } => {
                let _ = at;
                (
                    EventBody::TimeCorrected {
                        event_no,
                        at: corrected,
                        reason,
                    },
                    Engagement::Unchanged,
                )
            }
            Command::Close { note } => (EventBody::Closed { note }, Engagement::Unchanged),
        })
    }

    /// After a dispatch or a unit step: the unit's status follows, unless it
    /// is already working another occurrence.
    async fn follow_in_fleet(&self, occurrence: &Occurrence, event: &Event) {
        let step = match &event.body {
            EventBody::UnitDispatched { .. } => UnitStep::Dispatched,
            EventBody::UnitProgressed { step, .. } => *step,
            _ => return,
        };
        let Some(unit) = event.body.unit() else {
            return;
        };
        if !step.is_engaged() {
            match self.store().engagement_of(unit).await {
                Ok(Some(other)) if other != occurrence.id.as_str() => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, %unit, "could not check the unit's engagement");
                    return;
                }
            }
        }
        if self.with_fleet(|fleet| {
            fleet
                .unit(unit)
                .is_some_and(samu_fleet::UnitState::is_remote)
        }) {
            // Its app streams to another instance: that one applies and writes it.
            self.publish_to_peers(FleetEvent::CentralStatus {
                unit: unit.clone(),
                status: status_of(step),
                at: event.at,
            });
            return;
        }
        if let Some(item) = self.decide_status(unit, status_of(step), event.at, |_| true) {
            if self.inner.writes.send(item).await.is_err() {
                tracing::warn!(%unit, "writer stopped; the status change is not stored");
            }
        }
    }

    /// Nearest available units with complete crews of each type.
    fn candidates(
        &self,
        occurrence: &Occurrence,
        types: &[UnitType],
        limit: usize,
    ) -> Vec<TypeCandidates> {
        let Some(point) = occurrence.call.location else {
            return Vec::new();
        };
        let mut seen: Vec<UnitType> = Vec::new();
        self.with_fleet(|fleet| {
            types
                .iter()
                .filter(|t| {
                    let new = !seen.contains(t);
                    seen.push(**t);
                    new
                })
                .map(|&unit_type| TypeCandidates {
                    unit_type,
                    units: fleet
                        .nearest(&NearestQuery {
                            point,
                            types: &[unit_type],
                            limit,
                            central: Some(&occurrence.central),
                        })
                        .into_iter()
                        .map(|n| Candidate {
                            unit: n.unit.record.id.clone(),
                            label: n.unit.record.label.clone(),
                            unit_type,
                            status: n.unit.status(),
                            distance_m: n.distance_m,
                            eta_s: n.eta_s,
                            crew_complete: n.unit.crew_check.complete,
                        })
                        .collect(),
                })
                .collect()
        })
    }

    /// The units recommended for an occurrence: per type still to send
    /// (every type asked for when all are sent), nearest first.
    ///
    /// # Errors
    /// Unknown occurrence, another central, not regulated to send units, no
    /// location, or a store failure.
    pub async fn recommend(
        &self,
        caller: &Caller,
        id: &OccurrenceId,
    ) -> Result<Recommendation, RegulationError> {
        let occurrence = self.load(id).await?;
        caller.check_central(&occurrence.central)?;
        let Some(regulation) = occurrence
            .regulation
            .as_ref()
            .filter(|r| r.decision == Decision::Dispatch)
        else {
            return Err(RegulationError::Conflict(
                "the occurrence is not regulated to send units".into(),
            ));
        };
        if occurrence.call.location.is_none() {
            return Err(RegulationError::Conflict(
                "the call has no location: the recommendation needs one".into(),
            ));
        }
        let mut types = occurrence.uncovered();
        if types.is_empty() {
            types.clone_from(&regulation.unit_types);
        }
        Ok(Recommendation {
            occurrence: id.clone(),
            candidates: self.candidates(&occurrence, &types, RECOMMENDED_PER_TYPE),
        })
    }

    /// An occurrence with its personal data: the read is audited first.
    ///
    /// # Errors
    /// Unknown occurrence, another central, or a store failure (then
    /// nothing is shown: no read without its audit record).
    pub async fn occurrence_detail(
        &self,
        caller: &Caller,
        id: &OccurrenceId,
    ) -> Result<Detail, RegulationError> {
        self.occurrence_detail_as(caller, id, "read").await
    }

    /// [`Self::occurrence_detail`], audited as `action`.
    pub(crate) async fn occurrence_detail_as(
        &self,
        caller: &Caller,
        id: &OccurrenceId,
        action: &str,
    ) -> Result<Detail, RegulationError> {
        let occurrence = self.load(id).await?;
        caller.check_central(&occurrence.central)?;
        self.store()
            .record_audit(&caller.audit(action, id, &occurrence.call.personal_fields()))
            .await?;
        let targets = self.response_targets(&occurrence.central).await?;
        Ok(Detail::of(&occurrence, &targets))
    }

    /// Summaries of the open occurrences (and those closed in the last
    /// hour) of one central, or of every central the caller works for.
    ///
    /// # Errors
    /// Another central, or a store failure.
    pub async fn occurrence_summaries(
        &self,
        caller: &Caller,
        central: Option<&CentralId>,
    ) -> Result<Vec<Summary>, RegulationError> {
        let scope = match (central, &caller.credential.central) {
            (Some(c), _) => {
                caller.check_central(c)?;
                Some(c.clone())
            }
            (None, own) => own.clone(),
        };
        let now = samu_domain::time::now();
        let stored = self
            .store()
            .open_occurrences(scope.as_ref(), now - CLOSED_VISIBLE)
            .await?;
        let mut targets: std::collections::HashMap<CentralId, ResponseTargets> = Default::default();
        let mut out = Vec::with_capacity(stored.len());
        for s in stored {
            let occurrence = replay(s)?;
            if !targets.contains_key(&occurrence.central) {
                let t = self.response_targets(&occurrence.central).await?;
                targets.insert(occurrence.central.clone(), t);
            }
            out.push(Summary::of(&occurrence, &targets[&occurrence.central]));
        }
        Ok(out)
    }

    /// Response-time figures of a central over calls received in `[from, to)`.
    ///
    /// # Errors
    /// Another central, `from` not before `to`, or a store failure.
    pub async fn response_times(
        &self,
        caller: &Caller,
        central: &CentralId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<PriorityTimes>, RegulationError> {
        caller.check_central(central)?;
        if from >= to {
            return Err(ValidationError::new("to", "must be after from").into());
        }
        let clocks = self.store().occurrence_clocks(central, from, to).await?;
        Ok(samu_occurrence::response_times(&clocks))
    }

    /// The audit trail of an occurrence.
    ///
    /// # Errors
    /// Unknown occurrence, another central, or a store failure.
    pub async fn audit_trail(
        &self,
        caller: &Caller,
        id: &OccurrenceId,
    ) -> Result<Vec<AuditRecord>, RegulationError> {
        let occurrence = self.load(id).await?;
        caller.check_central(&occurrence.central)?;
        Ok(self.store().audit_trail(id).await?)
    }
}
