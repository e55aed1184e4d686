//! The regulation room's staff roles, counted for the central's minimum team.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A role of the regulation room (Portaria GM/MS nº 1.010/2012, Annex I).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Médico regulador.
    Physician,
    /// Técnico Auxiliar de Regulação Médica.
    Tarm,
    /// Rádio-operador.
    RadioOperator,
}

impl StaffRole {
    /// Every role, in a fixed order.
    pub const ALL: [StaffRole; 3] = [
        StaffRole::Physician,
        StaffRole::Tarm,
        StaffRole::RadioOperator,
    ];

    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Physician => "physician",
            StaffRole::Tarm => "tarm",
            StaffRole::RadioOperator => "radio_operator",
        }
    }

    /// Portuguese label.
    pub fn label_pt(self) -> &'static str {
        match self {
            StaffRole::Physician => "médico regulador",
            StaffRole::Tarm => "TARM",
            StaffRole::RadioOperator => "rádio-operador",
        }
    }

    /// Parses a storage name.
    ///
    /// # Errors
    /// When the name is not a staff role.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| ValidationError::new(field, format!("{raw:?} is not a staff role")))
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in StaffRole::ALL {
            assert_eq!(StaffRole::parse("r", r.as_str()).unwrap(), r);
        }
        assert!(StaffRole::parse("role", "driver").is_err());
    }
}
