//! Nearest available units of a type.
//!
//! Each unit type has an R-tree over the unit vectors (points on the unit
//! sphere) of its dispatchable units, for the whole state and for each
//! central. Chord length on the sphere is monotonic
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
            let tree = match query.central {
                None => &self.index[type_slot(unit_type)],
                Some(central) => match self.central_index.get(central) {
                    Some(trees) => &trees[type_slot(unit_type)],
                    None => continue,
                },
            };
            let mut last_d2 = f64::NEG_INFINITY;
            for (taken, (entry, d2)) in tree
                .nearest_neighbor_iter_with_distance_2(&target)
                .enumerate()
            {
                // Keep walking past `limit` only through exact ties, so the
                // id order among equally distant units is respected.
                if taken >= limit && d2 > last_d2 {
                    break;
                }
                candidates.push((d2, entry.data));
                last_d2 = d2;
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

    /// Puts the unit in its type's trees (the state's and its central's),
    /// at its current position, when it is dispatchable; takes it out
    /// otherwise.
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
        // A central's trees are made once: a move, the hot path, copies no id.
        if !self.central_index.contains_key(&unit.record.central) {
            self.central_index
                .insert(unit.record.central.clone(), Default::default());
        }
        let central = self
            .central_index
            .get_mut(&unit.record.central)
            .expect("inserted above");
        if let Some(old) = unit.indexed {
            self.index[tree].remove(&IndexEntry::new(old, slot));
            central[tree].remove(&IndexEntry::new(old, slot));
        }
        if let Some(new) = wanted {
            self.index[tree].insert(IndexEntry::new(new, slot));
            central[tree].insert(IndexEntry::new(new, slot));
        }
        self.units[slot].indexed = wanted;
    }

    /// Takes the unit out of its trees, before its type or central changes.
    pub(crate) fn unindex(&mut self, slot: usize) {
        if let Some(old) = self.units[slot].indexed.take() {
            let record = &self.units[slot].record;
            let tree = type_slot(record.unit_type);
            self.index[tree].remove(&IndexEntry::new(old, slot));
            if let Some(central) = self.central_index.get_mut(&record.central) {
                central[tree].remove(&IndexEntry::new(old, slot));
            }
        }
    }
}
