//! Nearest available units of a type.
//!
//! Each unit type has an R-tree over the unit vectors (points on the unit
//! sphere) of its dispatchable units, for the whole state and for each
//! central. Chord length on the sphere is monotonic
//! in great-circle distance, so the tree's Euclidean nearest-neighbour walk
//! returns units in exact great-circle order, with no projection error near
//! the poles or the antimeridian. A unit enters or leaves its tree whenever
//! it becomes or stops being dispatchable, or moves more than
//! [`INDEX_SLACK_M`] from where its entry is.
//!
//! Why the slack: a moving unit was taken out of two trees and put back
//! into both at every fix, the R-tree's largest share of the ingest path's
//! CPU (BENCHMARKS.md, "R-tree slack"). An entry now may lag the unit's
//! fix by up to the slack, and a query walks the tree in entry order until
//! no entry that far away can beat the answer's exact distances, so
//! answers and distances are exactly what a tree without slack gives.

use rstar::primitives::GeomWithData;
use samu_domain::{geo::chord_to_metres, CentralId, GeoPoint, UnitType};

use crate::{
    state::{type_slot, FleetState},
    unit::UnitState,
};

/// An index entry: a unit vector and the unit's slot in the fleet.
pub(crate) type IndexEntry = GeomWithData<[f64; 3], usize>;

/// How far a unit may move from its index entry before the entry moves
/// with it, in metres: an ambulance at 60 km/h reporting every second moves
/// its entries every other fix, a parked or slow one almost never.
pub const INDEX_SLACK_M: f64 = 30.0;

/// [`INDEX_SLACK_M`] as a chord of the unit sphere, the trees' metric,
/// rounded up so the bound holds: a chord is never longer than its arc.
const INDEX_SLACK_CHORD: f64 = INDEX_SLACK_M / 6_371_000.0;

/// Squared Euclidean distance between two unit vectors.
fn chord2(a: [f64; 3], b: [f64; 3]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

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
            // The exact squared chords of this type's best `limit` so far
            // (a max-heap: the worst of them on top).
            let mut best: std::collections::BinaryHeap<OrderedChord> =
                std::collections::BinaryHeap::with_capacity(limit + 1);
            for (entry, entry_d2) in tree.nearest_neighbor_iter_with_distance_2(&target) {
                // Entries come in order of their own distance; a unit is at
                // most the slack from its entry (triangle inequality), so
                // once an entry is farther than the slack beyond the worst
                // of `limit` exact distances, no later unit can be nearer
                // or tie.
                if best.len() >= limit {
                    let worst = best.peek().map_or(f64::INFINITY, |c| c.0.sqrt());
                    if entry_d2.sqrt() - INDEX_SLACK_CHORD > worst {
                        break;
                    }
                }
                let slot = entry.data;
                let exact = self.units[slot]
                    .vector
                    .map_or(entry_d2, |v| chord2(v, target));
                candidates.push((exact, slot));
                best.push(OrderedChord(exact));
                if best.len() > limit {
                    best.pop();
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

    /// Puts the unit in its type's trees (the state's and its central's),
    /// at its current position, when it is dispatchable; takes it out
    /// otherwise.
    pub(crate) fn reindex(&mut self, slot: usize) {
        let unit = &self.units[slot];
        let wanted = unit
            .is_dispatchable()
            .then(|| unit.fix.map(|f| f.point.unit_vector()))
            .flatten();
        let within_slack = match (wanted, unit.indexed) {
            (Some(new), Some(old)) => chord2(new, old) <= INDEX_SLACK_CHORD * INDEX_SLACK_CHORD,
            (None, None) => true,
            _ => false,
        };
        self.units[slot].vector = wanted;
        if within_slack {
            return;
        }
        let unit = &self.units[slot];
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
        self.units[slot].vector = None;
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

/// A squared chord ordered for the query's heap (never NaN: unit vectors).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedChord(f64);

impl Eq for OrderedChord {}

impl PartialOrd for OrderedChord {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedChord {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
