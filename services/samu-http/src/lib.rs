//! The HTTP adapter: `/healthz`, `/readyz`, `/metrics`, the wall's
//! WebSocket feed at `/ws/wall` and the wall page at `/`.
//!
//! # Layout
//! - [`router`]: routes and shared state.
//! - [`reports`]: the monthly report download.
//! - [`wall`]: the wall feed (snapshot, coalesced deltas, resync, pings).
//! - [`assets`]: the wall page (`dashboard/dist`, embedded at compile time).
//! - [`telemetry`]: the Prometheus recorder.
//! - [`error`]: JSON error bodies.
#![forbid(unsafe_code)]

pub mod assets;
pub mod console;
pub mod error;
pub mod listener;
pub mod reports;
pub mod router;
pub mod telemetry;
pub mod wall;

pub use router::{router, serve, HttpConfig, HttpState};
