//! Crew roles, members and the minimum crew of each unit type.
//!
//! A unit is "complete" only when the people aboard can fill every slot of its
//! type's minimum crew, each person filling at most one slot. The rules are
//! configuration ([`CrewRules`]), with the defaults of domain.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{MemberId, UnitType};

/// A professional role aboard a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrewRole {
    /// Condutor socorrista (CBO 7823-20).
    Driver,
    /// Técnico de enfermagem (CBO 3222-05).
    NursingTechnician,
    /// Auxiliar de enfermagem (CBO 3222-30).
    NursingAuxiliary,
    /// Enfermeiro (CBO 2235-05).
    Nurse,
    /// Médico (CBO 2251/2252/2253).
    Physician,
    /// Pilot of an aircraft or a boat.
    Pilot,
}

impl CrewRole {
    /// Portuguese name, as people in the central say it.
    pub fn label_pt(self) -> &'static str {
        match self {
            CrewRole::Driver => "condutor socorrista",
            CrewRole::NursingTechnician => "técnico de enfermagem",
            CrewRole::NursingAuxiliary => "auxiliar de enfermagem",
            CrewRole::Nurse => "enfermeiro",
            CrewRole::Physician => "médico",
            CrewRole::Pilot => "piloto",
        }
    }
}

/// One person aboard: an opaque id and a role, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CrewMember {
    /// The central's id for the professional.
    pub id: MemberId,
    /// The role the person fills on this unit.
    pub role: CrewRole,
}

/// The minimum crew of one unit type: a list of slots, each filled by one
/// person whose role is any of the slot's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinimumCrew {
    /// One entry per person required.
    pub slots: Vec<Vec<CrewRole>>,
}

impl MinimumCrew {
    fn of(slots: &[&[CrewRole]]) -> Self {
        Self {
            slots: slots.iter().map(|s| s.to_vec()).collect(),
        }
    }
}

/// The result of checking a crew against its type's minimum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrewCheck {
    /// Every slot is filled.
    pub complete: bool,
    /// For each unfilled slot, its first (preferred) role.
    pub missing: Vec<CrewRole>,
}

/// Minimum crew for every unit type. Defaults follow domain.md; a central may
/// override them in its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrewRules {
    rules: BTreeMap<UnitType, MinimumCrew>,
}

impl Default for CrewRules {
    fn default() -> Self {
        use CrewRole::*;
        let nursing_basic: &[CrewRole] = &[NursingTechnician, NursingAuxiliary];
        let rules = BTreeMap::from([
            // Condutor socorrista + técnico or auxiliar de enfermagem.
            (UnitType::Usb, MinimumCrew::of(&[&[Driver], nursing_basic])),
            // Condutor socorrista + enfermeiro + médico.
            (
                UnitType::Usa,
                MinimumCrew::of(&[&[Driver], &[Nurse], &[Physician]]),
            ),
            // One rider: técnico de enfermagem or enfermeiro.
            (
                UnitType::Moto,
                MinimumCrew::of(&[&[NursingTechnician, Nurse]]),
            ),
            // Condutor + médico + enfermeiro.
            (
                UnitType::Vir,
                MinimumCrew::of(&[&[Driver], &[Physician], &[Nurse]]),
            ),
            // Médico + enfermeiro; pilots belong to the aircraft operator.
            (UnitType::Aero, MinimumCrew::of(&[&[Physician], &[Nurse]])),
            // Condutor + nursing (basic boat).
            (
                UnitType::Emb,
                MinimumCrew::of(&[
                    &[Driver, Pilot],
                    &[NursingTechnician, NursingAuxiliary, Nurse],
                ]),
            ),
        ]);
        Self { rules }
    }
}

impl CrewRules {
    /// Replaces the rule of one type.
    pub fn set(&mut self, unit_type: UnitType, minimum: MinimumCrew) {
        self.rules.insert(unit_type, minimum);
    }

    /// The rule of one type.
    pub fn minimum(&self, unit_type: UnitType) -> Option<&MinimumCrew> {
        self.rules.get(&unit_type)
    }

    /// Checks a crew against the minimum of `unit_type`. A type with no rule
    /// needs nobody. Assignment is a small bipartite matching (people to
    /// slots), so a nurse is never counted twice and the order of the list
    /// does not matter.
    pub fn check(&self, unit_type: UnitType, crew: &[CrewMember]) -> CrewCheck {
        let Some(minimum) = self.rules.get(&unit_type) else {
            return CrewCheck {
                complete: true,
                missing: Vec::new(),
            };
        };
        let slots = &minimum.slots;
        // slot_owner[s] = index of the member filling slot s.
        let mut slot_owner: Vec<Option<usize>> = vec![None; slots.len()];
        for member in 0..crew.len() {
            let mut seen = vec![false; slots.len()];
            augment(member, crew, slots, &mut slot_owner, &mut seen);
        }
        let missing: Vec<CrewRole> = slots
            .iter()
            .zip(&slot_owner)
            .filter(|(_, owner)| owner.is_none())
            .filter_map(|(slot, _)| slot.first().copied())
            .collect();
        CrewCheck {
            complete: missing.is_empty(),
            missing,
        }
    }
}

/// Kuhn's augmenting path: tries to give `member` a slot, moving earlier
/// members to other slots when that frees one. Crews are a handful of people,
/// so the simple algorithm is the right one.
fn augment(
    member: usize,
    crew: &[CrewMember],
    slots: &[Vec<CrewRole>],
    slot_owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for (s, roles) in slots.iter().enumerate() {
        if seen[s] || !roles.contains(&crew[member].role) {
            continue;
        }
        seen[s] = true;
        let free = match slot_owner[s] {
            None => true,
            Some(other) => augment(other, crew, slots, slot_owner, seen),
        };
        if free {
            slot_owner[s] = Some(member);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use CrewRole::*;

    fn crew(roles: &[CrewRole]) -> Vec<CrewMember> {
        roles
            .iter()
            .enumerate()
            .map(|(i, &role)| CrewMember {
                id: MemberId::parse("m", &format!("m{i}")).unwrap(),
                role,
            })
            .collect()
    }

    fn complete(t: UnitType, roles: &[CrewRole]) -> bool {
        CrewRules::default().check(t, &crew(roles)).complete
    }

    #[test]
    fn usb_needs_driver_and_basic_nursing() {
        assert!(complete(UnitType::Usb, &[Driver, NursingTechnician]));
        assert!(complete(UnitType::Usb, &[NursingAuxiliary, Driver]));
        assert!(!complete(UnitType::Usb, &[Driver]));
        assert!(!complete(UnitType::Usb, &[Driver, Driver]));
        assert!(!complete(
            UnitType::Usb,
            &[NursingTechnician, NursingAuxiliary]
        ));
        let check = CrewRules::default().check(UnitType::Usb, &crew(&[NursingTechnician]));
        assert_eq!(check.missing, vec![Driver]);
    }

    #[test]
    fn usa_needs_driver_nurse_and_physician() {
        assert!(complete(UnitType::Usa, &[Physician, Nurse, Driver]));
        assert!(!complete(
            UnitType::Usa,
            &[Physician, NursingTechnician, Driver]
        ));
        let check = CrewRules::default().check(UnitType::Usa, &crew(&[Driver]));
        assert_eq!(check.missing, vec![Nurse, Physician]);
        assert!(!check.complete);
    }

    #[test]
    fn moto_needs_one_nursing_rider() {
        assert!(complete(UnitType::Moto, &[NursingTechnician]));
        assert!(complete(UnitType::Moto, &[Nurse]));
        assert!(!complete(UnitType::Moto, &[Driver]));
        assert!(!complete(UnitType::Moto, &[]));
    }

    #[test]
    fn vir_aero_and_emb_follow_their_rules() {
        assert!(complete(UnitType::Vir, &[Driver, Physician, Nurse]));
        assert!(!complete(UnitType::Vir, &[Driver, Physician]));
        assert!(complete(UnitType::Aero, &[Physician, Nurse, Pilot]));
        assert!(!complete(UnitType::Aero, &[Pilot, Nurse]));
        assert!(complete(UnitType::Emb, &[Pilot, Nurse]));
        assert!(complete(UnitType::Emb, &[Driver, NursingAuxiliary]));
        assert!(!complete(UnitType::Emb, &[Nurse, Nurse]));
        assert!(!complete(UnitType::Emb, &[Driver]));
    }

    #[test]
    fn matching_moves_people_between_slots() {
        // The nurse could fill EMB's first-choice nursing slot, but the
        // matching must still find driver→slot 0, nurse→slot 1 whatever the order.
        assert!(complete(UnitType::Emb, &[Nurse, Driver]));
        let mut rules = CrewRules::default();
        // A slot that accepts nurse or physician, and one that needs a nurse:
        // the nurse must move to the second slot when the physician arrives.
        rules.set(
            UnitType::Vir,
            MinimumCrew {
                slots: vec![vec![Nurse, Physician], vec![Nurse]],
            },
        );
        assert!(
            rules
                .check(UnitType::Vir, &crew(&[Nurse, Physician]))
                .complete
        );
        assert!(
            !rules
                .check(UnitType::Vir, &crew(&[Physician, Physician]))
                .complete
        );
    }

    #[test]
    fn extra_people_never_hurt() {
        assert!(complete(
            UnitType::Usb,
            &[Driver, NursingTechnician, Physician, Nurse]
        ));
    }
}
