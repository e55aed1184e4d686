//! The hot fleet state: what the central knows about every unit right now.
//!
//! [`FleetState`] is a plain data structure with no I/O, no async and no
//! clock of its own: every method that depends on time takes `now`. The
//! runtime owns one behind a lock and persists the changes each method
//! returns, so this crate decides *what* changed and the adapters decide
//! *where it goes*.
//!
//! # Layout
//! - [`config`]: tunables (no-signal delay, plausible speeds, ETA model, track rule).
//! - [`unit`]: [`UnitRecord`] (registry data) and [`UnitState`] (live data).
//! - [`state`]: [`FleetState`], applying positions and crew/status reports.
//! - [`nearest`]: the k-nearest available units through per-type R-trees.
//! - [`seq`]: the per-unit sequence window that makes resends idempotent.
#![forbid(unsafe_code)]

pub mod config;
pub mod dispatch;
pub mod nearest;
pub mod remote;
pub mod seq;
pub mod state;
pub mod unit;

pub use config::{EtaModel, FleetConfig, TrackRule};
pub use nearest::{Nearest, NearestQuery};
pub use remote::RemoteView;
pub use state::{
    CrewChange, CrewStatusOutcome, CrewStatusReport, FleetError, FleetState, PositionKind,
    PositionOutcome, StatusChange, StatusSource,
};
pub use unit::{Fix, UnitRecord, UnitSnapshot, UnitState};

#[cfg(test)]
mod tests;
