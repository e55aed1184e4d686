//! The unit status model.
//!
//! There is no national vehicle-status standard in Brazil; statuses map to the
//! common unit statuses of APCO ANS 1.116.2 ("PSC Common Status Codes for Data
//! Exchange") so the data can be exchanged with other systems. The mapping is
//! [`UnitStatus::apco_code`], documented in `docs/status-model.md`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A unit's effective status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    /// Ready for a call, at its base.
    AvailableAtBase,
    /// Ready for a call, away from its base.
    AvailableOnTheMove,
    /// Assigned to an occurrence, not yet moving.
    Dispatched,
    /// Driving to the scene.
    EnRoute,
    /// At the scene.
    OnScene,
    /// Carrying a patient to a destination.
    Transporting,
    /// At the destination, handing over.
    AtDestination,
    /// Not available (see [`OutOfServiceReason`]).
    OutOfService,
    /// Derived by the server: no fix for too long. Never reported by an app.
    NoSignal,
}

impl UnitStatus {
    /// Every status, in a fixed order.
    pub const ALL: [UnitStatus; 9] = [
        UnitStatus::AvailableAtBase,
        UnitStatus::AvailableOnTheMove,
        UnitStatus::Dispatched,
        UnitStatus::EnRoute,
        UnitStatus::OnScene,
        UnitStatus::Transporting,
        UnitStatus::AtDestination,
        UnitStatus::OutOfService,
        UnitStatus::NoSignal,
    ];

    /// The wire and storage name (`available_at_base`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            UnitStatus::AvailableAtBase => "available_at_base",
            UnitStatus::AvailableOnTheMove => "available_on_the_move",
            UnitStatus::Dispatched => "dispatched",
            UnitStatus::EnRoute => "en_route",
            UnitStatus::OnScene => "on_scene",
            UnitStatus::Transporting => "transporting",
            UnitStatus::AtDestination => "at_destination",
            UnitStatus::OutOfService => "out_of_service",
            UnitStatus::NoSignal => "no_signal",
        }
    }

    /// Parses the storage name.
    ///
    /// # Errors
    /// When the name is not a status.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| ValidationError::new(field, format!("{raw:?} is not a unit status")))
    }

    /// The APCO ANS 1.116.2 common status this status maps to.
    pub fn apco_code(self) -> &'static str {
        match self {
            UnitStatus::AvailableAtBase => "AVAILABLE-IN-QUARTERS",
            UnitStatus::AvailableOnTheMove => "AVAILABLE",
            UnitStatus::Dispatched => "DISPATCHED",
            UnitStatus::EnRoute => "ENROUTE",
            UnitStatus::OnScene => "ON-SCENE",
            UnitStatus::Transporting => "TRANSPORTING",
            UnitStatus::AtDestination => "AT-DESTINATION",
            UnitStatus::OutOfService => "OUT-OF-SERVICE",
            UnitStatus::NoSignal => "UNKNOWN",
        }
    }

    /// Portuguese label for the wall and the report.
    pub fn label_pt(self) -> &'static str {
        match self {
            UnitStatus::AvailableAtBase => "disponível na base",
            UnitStatus::AvailableOnTheMove => "disponível em trânsito",
            UnitStatus::Dispatched => "empenhada",
            UnitStatus::EnRoute => "a caminho",
            UnitStatus::OnScene => "no local",
            UnitStatus::Transporting => "transportando",
            UnitStatus::AtDestination => "no destino",
            UnitStatus::OutOfService => "fora de serviço",
            UnitStatus::NoSignal => "sem sinal",
        }
    }

    /// Free to take a new call.
    pub fn is_available(self) -> bool {
        matches!(
            self,
            UnitStatus::AvailableAtBase | UnitStatus::AvailableOnTheMove
        )
    }

    /// Working an occurrence, from dispatch until free.
    pub fn is_on_call(self) -> bool {
        matches!(
            self,
            UnitStatus::Dispatched
                | UnitStatus::EnRoute
                | UnitStatus::OnScene
                | UnitStatus::Transporting
                | UnitStatus::AtDestination
        )
    }

    /// A status an app may report (the server derives `NoSignal` itself).
    pub fn is_reportable(self) -> bool {
        self != UnitStatus::NoSignal
    }
}

impl fmt::Display for UnitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a unit is out of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfServiceReason {
    /// Mechanical maintenance.
    Maintenance,
    /// Nobody aboard.
    NoCrew,
    /// Crew below the type's minimum.
    IncompleteCrew,
    /// Missing or broken equipment.
    Equipment,
    /// Cleaning or disinfection after a call.
    Cleaning,
    /// Anything else.
    Other,
}

impl OutOfServiceReason {
    /// Every reason, in a fixed order.
    pub const ALL: [OutOfServiceReason; 6] = [
        OutOfServiceReason::Maintenance,
        OutOfServiceReason::NoCrew,
        OutOfServiceReason::IncompleteCrew,
        OutOfServiceReason::Equipment,
        OutOfServiceReason::Cleaning,
        OutOfServiceReason::Other,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutOfServiceReason::Maintenance => "maintenance",
            OutOfServiceReason::NoCrew => "no_crew",
            OutOfServiceReason::IncompleteCrew => "incomplete_crew",
            OutOfServiceReason::Equipment => "equipment",
            OutOfServiceReason::Cleaning => "cleaning",
            OutOfServiceReason::Other => "other",
        }
    }

    /// Parses the storage name.
    ///
    /// # Errors
    /// When the name is not a reason.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                ValidationError::new(field, format!("{raw:?} is not an out-of-service reason"))
            })
    }

    /// Portuguese label for the wall and the report.
    pub fn label_pt(self) -> &'static str {
        match self {
            OutOfServiceReason::Maintenance => "manutenção",
            OutOfServiceReason::NoCrew => "sem equipe",
            OutOfServiceReason::IncompleteCrew => "equipe incompleta",
            OutOfServiceReason::Equipment => "equipamento",
            OutOfServiceReason::Cleaning => "limpeza",
            OutOfServiceReason::Other => "outro",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_classes_are_disjoint() {
        for s in UnitStatus::ALL {
            assert_eq!(UnitStatus::parse("s", s.as_str()).unwrap(), s);
            assert!(!(s.is_available() && s.is_on_call()), "{s}");
            assert!(!s.apco_code().is_empty());
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for r in OutOfServiceReason::ALL {
            assert_eq!(OutOfServiceReason::parse("r", r.as_str()).unwrap(), r);
        }
        assert!(UnitStatus::parse("status", "parked").is_err());
        assert!(!UnitStatus::NoSignal.is_reportable());
        assert!(!UnitStatus::OutOfService.is_available());
        assert!(!UnitStatus::OutOfService.is_on_call());
    }
}
