//! The words of an occurrence: priorities, natures, decisions and unit steps.
//!
//! Each is stored and sent by its snake_case name (`vermelho`, `on_scene`);
//! each has a Portuguese label for the people in the room.

use std::fmt;

use samu_domain::ValidationError;
use serde::{Deserialize, Serialize};

/// Declares a closed vocabulary: the enum, its wire names, its Portuguese
/// labels, `ALL`, `parse` and `Display`.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal / $pt:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Wire and storage name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }

            /// Portuguese label.
            pub fn label_pt(self) -> &'static str {
                match self { $($name::$variant => $pt,)+ }
            }

            /// Parses a wire name.
            ///
            /// # Errors
            /// When `raw` is not one of the names, listing them.
            pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == raw.trim())
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        ValidationError::new(
                            field,
                            format!("{raw:?} is not {}; expected one of {}", $what, names.join(", ")),
                        )
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// The physician's judgement of severity, most urgent first. Targets per
    /// priority are settings of each central.
    Priority, "a priority" {
        /// Immediate risk to life.
        Vermelho = "vermelho" / "vermelho",
        /// Urgent, not immediately life-threatening.
        Amarelo = "amarelo" / "amarelo",
        /// Less urgent; often orientation.
        Verde = "verde" / "verde",
        /// Orientation only.
        Azul = "azul" / "azul",
    }
}

vocabulary! {
    /// What the call is about, as the TARM classifies it: operational, not
    /// personal, so queues and boards may show it.
    Nature, "a nature" {
        /// Clinical.
        Clinical = "clinico" / "clínico",
        /// Trauma.
        Trauma = "trauma" / "trauma",
        /// Obstetric.
        Obstetric = "obstetrico" / "obstétrico",
        /// Psychiatric.
        Psychiatric = "psiquiatrico" / "psiquiátrico",
        /// Paediatric.
        Paediatric = "pediatrico" / "pediátrico",
        /// Anything else.
        Other = "outro" / "outro",
    }
}

vocabulary! {
    /// Why a call was not a case: recorded and closed, never counted.
    NonCaseReason, "a non-case reason" {
        /// Trote.
        Prank = "prank" / "trote",
        /// Engano.
        WrongNumber = "wrong_number" / "engano",
        /// The call dropped before anything could be recorded.
        Dropped = "dropped" / "queda da ligação",
        /// A request for information.
        Information = "information" / "informação",
        /// Another call about an occurrence already open.
        Duplicate = "duplicate" / "duplicado",
    }
}

vocabulary! {
    /// The physician's decision.
    Decision, "a decision" {
        /// Telephone orientation only.
        Orientation = "orientation" / "orientação por telefone",
        /// Send one or more units.
        Dispatch = "dispatch" / "envio de unidade",
    }
}

vocabulary! {
    /// Where a unit sent to an occurrence is in its work, in clock order.
    UnitStep, "a unit step" {
        /// Empenhada: assigned by the radio operator.
        Dispatched = "dispatched" / "empenhada",
        /// Left for the scene.
        EnRoute = "en_route" / "a caminho",
        /// Arrived on scene.
        OnScene = "on_scene" / "no local",
        /// Left the scene (transporting, or released).
        LeftScene = "left_scene" / "saiu do local",
        /// At the destination hospital.
        AtDestination = "at_destination" / "no destino",
        /// Free for another call.
        Free = "free" / "livre",
        /// Back at its base.
        AtBase = "at_base" / "na base",
        /// Sent back before reaching the scene.
        Cancelled = "cancelled" / "cancelada",
    }
}

impl UnitStep {
    /// Still working the occurrence: the unit cannot take another.
    pub fn is_engaged(self) -> bool {
        matches!(
            self,
            UnitStep::Dispatched
                | UnitStep::EnRoute
                | UnitStep::OnScene
                | UnitStep::LeftScene
                | UnitStep::AtDestination
        )
    }

    /// Position in the clock; `Cancelled` sits beside `Free`.
    pub(crate) fn rank(self) -> u8 {
        match self {
            UnitStep::Dispatched => 0,
            UnitStep::EnRoute => 1,
            UnitStep::OnScene => 2,
            UnitStep::LeftScene => 3,
            UnitStep::AtDestination => 4,
            UnitStep::Free | UnitStep::Cancelled => 5,
            UnitStep::AtBase => 6,
        }
    }
}

/// An occurrence's id: a UUID (v7, so ids sort by creation), or any 1 to 64
/// characters of `[A-Za-z0-9-]` made elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OccurrenceId(String);

impl OccurrenceId {
    /// Parses an id.
    ///
    /// # Errors
    /// When empty, too long or with other characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 64 {
            return Err(ValidationError::new(field, "must be 1 to 64 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ValidationError::new(
                field,
                format!("{raw:?} is not an occurrence id ([A-Za-z0-9-])"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OccurrenceId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("occurrence_id", &value)
    }
}

impl From<OccurrenceId> for String {
    fn from(value: OccurrenceId) -> Self {
        value.0
    }
}

impl fmt::Display for OccurrenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A health establishment's CNES code (7 digits): where a patient was taken.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cnes(String);

impl Cnes {
    /// Parses a CNES code.
    ///
    /// # Errors
    /// When not 7 digits.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if raw.len() != 7 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(
                field,
                format!("{raw:?} is not a CNES code (7 digits)"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Cnes {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("destination_cnes", &value)
    }
}

impl From<Cnes> for String {
    fn from(value: Cnes) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_named() {
        for p in Priority::ALL {
            assert_eq!(Priority::parse("p", p.as_str()), Ok(*p));
        }
        let e = Priority::parse("priority", "roxo").unwrap_err();
        assert_eq!(e.field, "priority");
        assert!(e.message.contains("vermelho, amarelo, verde, azul"), "{e}");
        assert_eq!(UnitStep::parse("s", "on_scene"), Ok(UnitStep::OnScene));
        assert_eq!(Nature::Obstetric.label_pt(), "obstétrico");
        // The wire name in JSON is the same as `as_str`, for every value.
        for n in Nature::ALL {
            assert_eq!(serde_json::to_value(n).unwrap(), n.as_str());
        }
        for s in UnitStep::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn ids_and_cnes_are_checked() {
        assert!(OccurrenceId::parse("id", "0193a-b").is_ok());
        assert!(OccurrenceId::parse("id", "a/b").is_err());
        assert!(OccurrenceId::parse("id", "").is_err());
        assert!(Cnes::parse("c", "0027014").is_ok());
        assert_eq!(Cnes::parse("c", "12345").unwrap_err().field, "c");
    }
}
