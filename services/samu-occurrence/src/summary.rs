//! What consoles and the wall are shown of an occurrence.
//!
//! [`Summary`] carries no personal data: queues, boards, the wall and the
//! fan-out between instances use it. [`Detail`] adds the call record and the
//! timeline, and every time one is built for somebody an audit record is
//! written (the runtime does that).

use chrono::{DateTime, Utc};
use samu_domain::{CentralId, UnitId, UnitType, ValidationError};
use serde::{Deserialize, Serialize};

use crate::{
    event::{CallRecord, EventBody},
    state::{Occurrence, OccurrenceStatus},
    vocabulary::{Decision, Nature, OccurrenceId, Priority, UnitStep},
};

/// A central's targets per priority, call → first unit on scene, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseTargets {
    /// Vermelho.
    pub vermelho: u32,
    /// Amarelo.
    pub amarelo: u32,
    /// Verde.
    pub verde: u32,
    /// Azul.
    pub azul: u32,
}

impl Default for ResponseTargets {
    /// One local protocol's targets (Fortaleza, domain.md): vermelho ≤ 10 min,
    /// amarelo ≤ 30, verde ≤ 60; azul (orientation only) ≤ 120 here.
    fn default() -> Self {
        Self {
            vermelho: 10,
            amarelo: 30,
            verde: 60,
            azul: 120,
        }
    }
}

impl ResponseTargets {
    /// The target of a priority, in minutes.
    pub fn minutes(&self, priority: Priority) -> u32 {
        match priority {
            Priority::Vermelho => self.vermelho,
            Priority::Amarelo => self.amarelo,
            Priority::Verde => self.verde,
            Priority::Azul => self.azul,
        }
    }

    /// Parses and checks targets (1 to 1440 minutes each).
    ///
    /// # Errors
    /// Malformed JSON, an unknown key or a target out of range.
    pub fn from_json(field: &str, json: &str) -> Result<Self, ValidationError> {
        let targets: Self = serde_json::from_str(json)
            .map_err(|e| ValidationError::new(field, format!("not valid targets: {e}")))?;
        for p in Priority::ALL {
            if !(1..=1440).contains(&targets.minutes(*p)) {
                return Err(ValidationError::new(
                    format!("{field}.{p}"),
                    "must be 1 to 1440 minutes",
                ));
            }
        }
        Ok(targets)
    }
}

/// A unit on an occurrence, as boards show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitLine {
    /// The unit.
    pub unit: UnitId,
    /// Its type.
    #[serde(rename = "type")]
    pub unit_type: UnitType,
    /// Its label.
    pub label: String,
    /// Its latest step.
    pub step: UnitStep,
    /// When it reached that step.
    pub at: DateTime<Utc>,
}

/// An occurrence without personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Id.
    pub id: OccurrenceId,
    /// The central's number for it.
    pub number: u64,
    /// The central.
    pub central: CentralId,
    /// Where it is.
    pub status: OccurrenceStatus,
    /// The latest regulation's priority.
    pub priority: Option<Priority>,
    /// The TARM's classification.
    pub nature: Nature,
    /// IBGE code of the municipality of the emergency.
    pub municipality: CentralId,
    /// Call received.
    pub opened_at: DateTime<Utc>,
    /// First regulation.
    pub regulated_at: Option<DateTime<Utc>>,
    /// Closed (or found not to be a case).
    pub closed_at: Option<DateTime<Utc>>,
    /// The latest decision.
    pub decision: Option<Decision>,
    /// Unit types asked for, with repetition.
    pub requested: Vec<UnitType>,
    /// Unit types asked for and not yet sent.
    pub uncovered: Vec<UnitType>,
    /// Units sent.
    pub units: Vec<UnitLine>,
    /// The central's target for the priority, in minutes.
    pub target_min: Option<u32>,
    /// Whether the call has a location (needed for a recommendation).
    pub has_location: bool,
    /// Number of the last event.
    pub version: u64,
    /// When the last event was recorded.
    pub updated_at: DateTime<Utc>,
}

impl Summary {
    /// The summary of an occurrence under a central's targets.
    pub fn of(occurrence: &Occurrence, targets: &ResponseTargets) -> Self {
        let regulation = occurrence.regulation.as_ref();
        Self {
            id: occurrence.id.clone(),
            number: occurrence.number,
            central: occurrence.central.clone(),
            status: occurrence.status(),
            priority: regulation.map(|r| r.priority),
            nature: occurrence.call.nature,
            municipality: occurrence.call.municipality.clone(),
            opened_at: occurrence.opened_at(),
            regulated_at: occurrence
                .first_regulation_event
                .and_then(|no| occurrence.time_of(no)),
            closed_at: occurrence.closed_at(),
            decision: regulation.map(|r| r.decision),
            requested: regulation.map(|r| r.unit_types.clone()).unwrap_or_default(),
            uncovered: occurrence.uncovered(),
            units: occurrence
                .assignments
                .iter()
                .map(|a| UnitLine {
                    unit: a.unit.clone(),
                    unit_type: a.unit_type,
                    label: a.label.clone(),
                    step: a.step(),
                    at: occurrence
                        .time_of(a.step_event())
                        .unwrap_or_else(|| occurrence.opened_at()),
                })
                .collect(),
            target_min: regulation.map(|r| targets.minutes(r.priority)),
            has_location: occurrence.call.location.is_some(),
            version: occurrence.version(),
            updated_at: occurrence
                .events
                .last()
                .map_or_else(|| occurrence.opened_at(), |e| e.recorded_at),
        }
    }
}

/// One line of an occurrence's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Event number.
    pub no: u64,
    /// When it happened (as corrected).
    pub at: DateTime<Utc>,
    /// When it was declared (before any correction).
    pub declared_at: DateTime<Utc>,
    /// When the server stored it.
    pub recorded_at: DateTime<Utc>,
    /// Whether a later event corrected its time.
    pub corrected: bool,
    /// Who recorded it: "name (role)".
    pub by: String,
    /// What happened, in Portuguese, for the console.
    pub text: String,
    /// The event itself.
    pub event: EventBody,
}

/// An occurrence with its personal data and timeline: audited on every read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    /// The summary.
    pub summary: Summary,
    /// The call record (personal data).
    pub call: CallRecord,
    /// Every event, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

impl Detail {
    /// The detail of an occurrence under a central's targets.
    pub fn of(occurrence: &Occurrence, targets: &ResponseTargets) -> Self {
        let timeline = occurrence
            .events
            .iter()
            .map(|e| {
                let at = occurrence.time_of(e.no).unwrap_or(e.at);
                TimelineEntry {
                    no: e.no,
                    at,
                    declared_at: e.at,
                    recorded_at: e.recorded_at,
                    corrected: at != e.at,
                    by: format!("{} ({})", e.actor.label, e.actor.role),
                    text: describe_pt(&e.body),
                    event: e.body.clone(),
                }
            })
            .collect();
        Self {
            summary: Summary::of(occurrence, targets),
            call: occurrence.call.clone(),
            timeline,
        }
    }
}

/// A Portuguese line for the console's timeline (no personal data).
pub fn describe_pt(body: &EventBody) -> String {
    match body {
        EventBody::CallReceived { call, .. } => {
            format!("chamado recebido ({})", call.nature.label_pt())
        }
        EventBody::NonCase { reason, .. } => {
            format!("encerrado como não caso: {}", reason.label_pt())
        }
        EventBody::Regulated {
            priority,
            decision,
            unit_types,
            ..
        } => {
            let units: Vec<&str> = unit_types.iter().map(|t| t.code()).collect();
            if units.is_empty() {
                format!("regulado: {}, {}", priority.label_pt(), decision.label_pt())
            } else {
                format!(
                    "regulado: {}, {} ({})",
                    priority.label_pt(),
                    decision.label_pt(),
                    units.join(", ")
                )
            }
        }
        EventBody::UnitDispatched { label, reason, .. } => match reason {
            Some(r) => format!("{label} empenhada (justificativa: {r})"),
            None => format!("{label} empenhada"),
        },
        EventBody::UnitProgressed {
            unit,
            step,
            destination_cnes,
            ..
        } => match destination_cnes {
            Some(cnes) => format!("{unit}: {} (CNES {})", step.label_pt(), cnes.as_str()),
            None => format!("{unit}: {}", step.label_pt()),
        },
        EventBody::TimeCorrected {
            event_no, reason, ..
        } => format!("horário do evento {event_no} corrigido: {reason}"),
        EventBody::Closed { .. } => "ocorrência encerrada".to_owned(),
    }
}
