//! The vocabulary of a SAMU 192 central, parsed and validated once at the edge.
//!
//! Everything here is pure: no I/O, no async, no clocks. Adapters (gRPC, HTTP,
//! store) turn raw strings and floats into these types with the `parse`/`new`
//! constructors, and the rest of the system never sees unchecked input.
//!
//! # Layout
//! - [`ids`]: identifiers (`CentralId` is an IBGE code, `UnitId`, `BaseId`, `MemberId`).
//! - [`geo`]: [`GeoPoint`], a checked WGS84 coordinate, and great-circle distance.
//! - [`unit`]: [`UnitType`] (USB, USA, MOTO, VIR, AERO, EMB).
//! - [`crew`]: crew roles, members and the minimum-crew rules per unit type.
//! - [`staff`]: the regulation room's roles (minimum team).
//! - [`status`]: the unit status model and its APCO ANS 1.116.2 mapping.
//! - [`time`]: millisecond precision, the central's unit of time.
//! - [`error`]: [`ValidationError`], which always names the offending field.
#![forbid(unsafe_code)]

pub mod crew;
pub mod error;
pub mod geo;
pub mod ids;
pub mod staff;
pub mod status;
pub mod time;
pub mod unit;

pub use crew::{CrewCheck, CrewMember, CrewRole, CrewRules, MinimumCrew};
pub use error::ValidationError;
pub use geo::GeoPoint;
pub use ids::{BaseId, CentralId, MemberId, UnitId};
pub use staff::StaffRole;
pub use status::{OutOfServiceReason, UnitStatus};
pub use unit::UnitType;
