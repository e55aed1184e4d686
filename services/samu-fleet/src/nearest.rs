//! Nearest available units of a type.
//!
//! Each unit type has an R-tree over the unit vectors (points on the unit
//! sphere) of its dispatchable units. Chord length on the sphere is monotonic
//! in great-circle distance, so the tree's Euclidean nearest-neighbour walk
//! returns units in exact great-circle order, with no projection error near
//! the poles or the antimeridian. A unit enters or leaves its tree whenever
//! it becomes or stops being dispatchable, or moves.

use rstar::primitives::GeomWithData;
use samu_domain::{geo::chord_to_metres, CentralId, GeoPoint, UnitType};

use crate::{
    state::{type_slot, FleetState},
    unit::UnitState,
};

/// An index entry: a unit vector and the unit's slot in the fleet.
pub(crate) type IndexEntry = GeomWithData<[f64; 3], usize>;

/// Largest `limit` a query may ask for.
pub const MAX_LIMIT: usize = 50;

/// What the dispatcher asks.
#[derive(Debug, Clone)]
pub struct NearestQuery<'a> {
    /// Where the emergency is.
    pub point: GeoPoint,
    /// Wanted types (any of them).
    pub types: &'a [UnitType],
    /// How many units at most (clamped to 1..=[`MAX_LIMIT`]).
    pub limit: usize,
    /// Only this central's units, when set.
    pub central: Option<&'a CentralId>,
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Nearest<'a> {
    /// The unit.
    pub unit: &'a UnitState,
    /// Great-circle distance from the unit's last fix, in metres.
    pub distance_m: f64,
    /// Estimated travel time, in seconds.
    pub eta_s: f64,
}

impl FleetState {
    /// The `limit` dispatchable units of the wanted types closest to the
    /// point, closest first; equal distances are ordered by unit id so the
    /// answer never depends on insertion order. Empty when none qualifies.
    pub fn nearest(&self, query: &NearestQuery<'_>) -> Vec<Nearest<'_>> {
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let target = query.point.unit_vector();
        // (squared chord, unit id, slot) of every candidate.
        let mut candidates: Vec<(f64, usize)> = Vec::with_capacity(limit + 4);
        let mut types = query.types.to_vec();
        types.sort();
        types.dedup();
        for unit_type in types {
            // With a central, no more than its dispatchable units of the
            // type can be found: stop there (at once when it has none).
            let available = query
                .central
                .map_or(usize::MAX, |c| self.dispatchable_count(c, unit_type));
            if available == 0 {
                continue;
            }
            let mut taken = 0usize;
            let mut last_d2 = f64::NEG_INFINITY;
            for (entry, d2) in
                self.index[type_slot(unit_type)].nearest_neighbor_iter_with_distance_2(&target)
            {
                // Keep walking past `limit` only through exact ties, so the
                // id order among equally distant units is respected.
                if taken >= limit && d2 > last_d2 {
                    break;
                }
                let unit = &self.units[entry.data];
                if query.central.is_some_and(|c| c != &unit.record.central) {
                    continue;
                }
                candidates.push((d2, entry.data));
                taken += 1;
                last_d2 = d2;
                if taken == available {
                    break;
                }
            }
        }
        candidates.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then_with(|| self.units[a.1].record.id.cmp(&self.units[b.1].record.id))
        });
        candidates.truncate(limit);
        candidates
            .into_iter()
            .map(|(d2, slot)| {
                let unit = &self.units[slot];
                let distance_m = chord_to_metres(d2.sqrt());
                Nearest {
                    unit,
                    distance_m,
                    eta_s: self.config.eta.eta_s(unit.record.unit_type, distance_m),
                }
            })
            .collect()
    }

    /// Puts the unit in its type's tree, at its current position, when it is
    /// dispatchable; takes it out otherwise.
    pub(crate) fn reindex(&mut self, slot: usize) {
        let unit = &self.units[slot];
        let wanted = unit
            .is_dispatchable()
            .then(|| unit.fix.map(|f| f.point.unit_vector()))
            .flatten();
        if wanted == unit.indexed {
            return;
        }
        let tree = type_slot(unit.record.unit_type);
        let indexed = unit.indexed;
        match (indexed, wanted) {
            (None, Some(_)) => self.count(slot, true),
            (Some(_), None) => self.count(slot, false),
            _ => {}
        }
        if let Some(old) = indexed {
            self.index[tree].remove(&IndexEntry::new(old, slot));
        }
        if let Some(new) = wanted {
            self.index[tree].insert(IndexEntry::new(new, slot));
        }
        self.units[slot].indexed = wanted;
    }

    /// Takes the unit out of its tree, before its type or central changes.
    pub(crate) fn unindex(&mut self, slot: usize) {
        if let Some(old) = self.units[slot].indexed.take() {
            self.count(slot, false);
            let tree = type_slot(self.units[slot].record.unit_type);
            self.index[tree].remove(&IndexEntry::new(old, slot));
        }
    }

    /// Counts the unit in or out of its central's dispatchable units.
    fn count(&mut self, slot: usize, dispatchable: bool) {
        let record = &self.units[slot].record;
        let tree = type_slot(record.unit_type);
        if dispatchable {
            self.dispatchable.entry(record.central.clone()).or_default()[tree] += 1;
        } else if let Some(counts) = self.dispatchable.get_mut(&record.central) {
            counts[tree] = counts[tree].saturating_sub(1);
        }
    }
}
