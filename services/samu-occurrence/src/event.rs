//! Events: what happened to an occurrence, when, and who recorded it.

use chrono::{DateTime, Utc};
use samu_domain::{CentralId, GeoPoint, UnitId, UnitType, ValidationError};
use serde::{Deserialize, Serialize};

use crate::vocabulary::{Cnes, Decision, Nature, NonCaseReason, Priority, UnitStep};

/// What the TARM records when answering. Everything here except `nature`,
/// `municipality` and `location` is personal data (LGPD): it is stored with
/// the occurrence, shown only to the console roles, audited on every read
/// and write, and never put on the wall or in logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The caller's phone number.
    pub caller_phone: String,
    /// The caller's name, when given.
    pub caller_name: Option<String>,
    /// Street address of the emergency.
    pub address: String,
    /// Reference point ("em frente à padaria").
    pub reference_point: Option<String>,
    /// IBGE code of the municipality of the emergency.
    pub municipality: CentralId,
    /// The complaint, in the caller's words.
    pub complaint: String,
    /// The TARM's classification.
    pub nature: Nature,
    /// The patient's name, when known.
    pub patient_name: Option<String>,
    /// The patient's age in years, when known.
    pub patient_age: Option<u16>,
    /// Where the emergency is, when known: needed for the recommendation.
    pub location: Option<GeoPoint>,
}

/// Longest free text accepted, in characters.
pub const MAX_TEXT: usize = 2_000;
/// Longest short field (names, phone, reference point), in characters.
pub const MAX_SHORT: usize = 200;

impl CallRecord {
    /// Trims the text fields (empty optional ones become `None`) and checks
    /// them.
    ///
    /// # Errors
    /// The first field that is missing, too long or malformed.
    pub fn normalized(mut self) -> Result<Self, ValidationError> {
        self.caller_phone = required("caller_phone", &self.caller_phone, MAX_SHORT)?;
        let digits = self
            .caller_phone
            .chars()
            .filter(char::is_ascii_digit)
            .count();
        if !(3..=20).contains(&digits)
            || !self
                .caller_phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +()-.".contains(c))
        {
            return Err(ValidationError::new(
                "caller_phone",
                "must be a phone number: 3 to 20 digits, with + ( ) - . or spaces",
            ));
        }
        self.address = required("address", &self.address, MAX_SHORT * 2)?;
        self.complaint = required("complaint", &self.complaint, MAX_TEXT)?;
        self.caller_name = optional("caller_name", self.caller_name, MAX_SHORT)?;
        self.reference_point = optional("reference_point", self.reference_point, MAX_SHORT)?;
        self.patient_name = optional("patient_name", self.patient_name, MAX_SHORT)?;
        if self.patient_age.is_some_and(|a| a > 130) {
            return Err(ValidationError::new(
                "patient_age",
                "must be between 0 and 130 years",
            ));
        }
        Ok(self)
    }

    /// The same call with every personal field emptied: what is kept after
    /// the retention period (nature, municipality and location stay, for the
    /// figures and the map).
    #[must_use]
    pub fn erased(&self) -> Self {
        Self {
            caller_phone: String::new(),
            caller_name: None,
            address: String::new(),
            reference_point: None,
            municipality: self.municipality.clone(),
            complaint: String::new(),
            nature: self.nature,
            patient_name: None,
            patient_age: None,
            location: self.location,
        }
    }

    /// Whether the personal data was erased.
    pub fn is_erased(&self) -> bool {
        self.caller_phone.is_empty() && self.address.is_empty() && self.complaint.is_empty()
    }

    /// Names of the personal fields that hold a value, for the audit trail.
    pub fn personal_fields(&self) -> Vec<&'static str> {
        if self.is_erased() {
            return Vec::new();
        }
        let mut fields = vec!["caller_phone", "address", "complaint"];
        if self.caller_name.is_some() {
            fields.push("caller_name");
        }
        if self.reference_point.is_some() {
            fields.push("reference_point");
        }
        if self.patient_name.is_some() {
            fields.push("patient_name");
        }
        if self.patient_age.is_some() {
            fields.push("patient_age");
        }
        fields
    }
}

fn required(field: &str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    check_text(field, text, max)?;
    Ok(text.to_owned())
}

fn optional(
    field: &str,
    raw: Option<String>,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => {
            check_text(field, text, max)?;
            Ok(Some(text.to_owned()))
        }
    }
}

/// Checks free text: bounded, and no control characters but newlines.
///
/// # Errors
/// When too long or with control characters.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<(), ValidationError> {
    if text.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Who recorded an event: a person at a console, a vehicle's crew through
/// its app, or the server itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The credential used (device or user token id).
    pub credential_id: String,
    /// The person's or unit's name, as shown on the timeline.
    pub label: String,
    /// Their role (`tarm`, `physician`, `radio_operator`, `device`, …).
    pub role: String,
}

/// One thing that happened. Append-only: corrections are new events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// The call was answered and recorded. Always event 1.
    CallReceived {
        /// The central that answered.
        central: CentralId,
        /// What the TARM recorded.
        call: CallRecord,
    },
    /// Not a case: recorded and closed, not counted.
    NonCase {
        /// Why.
        reason: NonCaseReason,
        /// Free text.
        note: Option<String>,
    },
    /// The physician's regulation; a later one supersedes it.
    Regulated {
        /// Severity.
        priority: Priority,
        /// Orientation, or send units.
        decision: Decision,
        /// Unit types to send, with repetition; empty for orientation.
        unit_types: Vec<UnitType>,
        /// Free text.
        note: Option<String>,
    },
    /// A unit was assigned (empenhada).
    UnitDispatched {
        /// The unit.
        unit: UnitId,
        /// Its type.
        unit_type: UnitType,
        /// Its label ("USA 01").
        label: String,
        /// The first unit the server recommended for that type, if any.
        recommended: Option<UnitId>,
        /// Why another unit than the recommended one was chosen.
        reason: Option<String>,
    },
    /// A unit moved on in its work.
    UnitProgressed {
        /// The unit.
        unit: UnitId,
        /// Its new step (never `Dispatched`).
        step: UnitStep,
        /// Destination, for `AtDestination`.
        destination_cnes: Option<Cnes>,
        /// Free text (required to cancel).
        note: Option<String>,
    },
    /// The time of an earlier event was wrong; this is the right one.
    TimeCorrected {
        /// The event corrected.
        event_no: u64,
        /// The right time.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// The occurrence is over.
    Closed {
        /// Free text.
        note: Option<String>,
    },
}

impl EventBody {
    /// Storage name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::CallReceived { .. } => "call_received",
            EventBody::NonCase { .. } => "non_case",
            EventBody::Regulated { .. } => "regulated",
            EventBody::UnitDispatched { .. } => "unit_dispatched",
            EventBody::UnitProgressed { .. } => "unit_progressed",
            EventBody::TimeCorrected { .. } => "time_corrected",
            EventBody::Closed { .. } => "closed",
        }
    }

    /// The unit the event is about, if any.
    pub fn unit(&self) -> Option<&UnitId> {
        match self {
            EventBody::UnitDispatched { unit, .. } | EventBody::UnitProgressed { unit, .. } => {
                Some(unit)
            }
            _ => None,
        }
    }
}

/// An event with its number and times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Number within the occurrence, from 1, without gaps.
    pub no: u64,
    /// When it happened (as declared; may be earlier than `recorded_at`).
    pub at: DateTime<Utc>,
    /// When the server stored it.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it.
    pub actor: Actor,
    /// What happened.
    pub body: EventBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallRecord {
        CallRecord {
            caller_phone: " (31) 99999-0000 ".into(),
            caller_name: Some("  ".into()),
            address: "Rua A, 10".into(),
            reference_point: None,
            municipality: CentralId::parse("m", "3106200").unwrap(),
            complaint: "dor no peito".into(),
            nature: Nature::Clinical,
            patient_name: None,
            patient_age: Some(54),
            location: None,
        }
    }

    #[test]
    fn a_call_is_trimmed_and_checked() {
        let c = call().normalized().unwrap();
        assert_eq!(c.caller_phone, "(31) 99999-0000");
        assert_eq!(c.caller_name, None);
        assert_eq!(
            c.personal_fields(),
            ["caller_phone", "address", "complaint", "patient_age"]
        );
        let mut bad = call();
        bad.caller_phone = "abc".into();
        assert_eq!(bad.normalized().unwrap_err().field, "caller_phone");
        let mut bad = call();
        bad.complaint = " ".into();
        assert_eq!(bad.normalized().unwrap_err().field, "complaint");
        let mut bad = call();
        bad.patient_age = Some(200);
        assert_eq!(bad.normalized().unwrap_err().field, "patient_age");
        let mut bad = call();
        bad.address = "a\u{7}b".into();
        assert_eq!(bad.normalized().unwrap_err().field, "address");
    }
}
