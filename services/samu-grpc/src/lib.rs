//! The gRPC adapter: the `samu.v1` services over tonic, plus health and
//! reflection.
//!
//! Every message is parsed into domain types at the door ([`convert`]); every
//! call is authenticated and checked against the role table ([`access`]);
//! every error becomes a `tonic::Status` in one place ([`status`]).
//!
//! # Layout
//! - [`telemetry`]: the per-vehicle ingest stream.
//! - [`fleet`]: nearest units, one unit, a central's units.
//! - [`admin`]: registry and credentials.
//! - [`team`]: clock-in and clock-out of the regulation room's staff.
//! - [`server`]: assembling the services into one router.
#![forbid(unsafe_code)]

pub mod access;
pub mod accounts;
pub mod admin;
pub mod convert;
pub mod fleet;
pub mod incoming;
pub mod regulation;
pub mod server;
pub mod status;
pub mod team;
pub mod telemetry;

pub use server::{serve, GrpcConfig};
