//! Unit types.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// The kind of vehicle; each has its own minimum crew and travel speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum UnitType {
    /// Unidade de Suporte Básico.
    #[serde(rename = "USB")]
    Usb,
    /// Unidade de Suporte Avançado.
    #[serde(rename = "USA")]
    Usa,
    /// Motolância.
    #[serde(rename = "MOTO")]
    Moto,
    /// Veículo de Intervenção Rápida.
    #[serde(rename = "VIR")]
    Vir,
    /// Aeromédico.
    #[serde(rename = "AERO")]
    Aero,
    /// Embarcação.
    #[serde(rename = "EMB")]
    Emb,
}

impl UnitType {
    /// Every type, in a fixed order (used to size per-type tables).
    pub const ALL: [UnitType; 6] = [
        UnitType::Usb,
        UnitType::Usa,
        UnitType::Moto,
        UnitType::Vir,
        UnitType::Aero,
        UnitType::Emb,
    ];

    /// The code used on the wire, the wall and the report (`USB`, `USA`, …).
    pub fn code(self) -> &'static str {
        match self {
            UnitType::Usb => "USB",
            UnitType::Usa => "USA",
            UnitType::Moto => "MOTO",
            UnitType::Vir => "VIR",
            UnitType::Aero => "AERO",
            UnitType::Emb => "EMB",
        }
    }

    /// Position of this type in [`UnitType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a code (`USB`, `usa`, …).
    ///
    /// # Errors
    /// When the code is not one of the six types.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| {
                ValidationError::new(
                    field,
                    format!("{raw:?} is not a unit type (USB, USA, MOTO, VIR, AERO, EMB)"),
                )
            })
    }
}

impl fmt::Display for UnitType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for t in UnitType::ALL {
            assert_eq!(UnitType::parse("t", t.code()).unwrap(), t);
            assert_eq!(UnitType::ALL[t.index()], t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.code()));
        }
        assert_eq!(UnitType::parse("t", "usa").unwrap(), UnitType::Usa);
        assert_eq!(UnitType::parse("type", "UTI").unwrap_err().field, "type");
    }
}
