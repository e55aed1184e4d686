//! The demo: the ten municipal SAMU of Resolução SES/MG nº 6.953/2019,
//! Annex II, with their fleets, and a simulator that drives every unit
//! through the real gRPC ingest, as the vehicle apps would, while a
//! simulated central desk per SAMU opens, regulates and dispatches
//! occurrences through the real gRPC `Regulation` API, as the consoles do.
//!
//! # Layout
//! - [`catalogue`]: the embedded table (`data/samu-municipal-mg.csv`) and
//!   the deterministic layout of bases and units derived from it.
//! - [`seed`](mod@seed): writing the registry, the demo users and the tokens file.
//! - [`link`]: a vehicle's connection: sequence numbers, resending what is
//!   unacknowledged after a reconnect (also used by the load generator).
//! - [`sim`]: the simulated day of every unit.
//! - [`desk`]: the simulated regulation room of each central, which takes
//!   calls and sends units through the real `Regulation` API.
#![forbid(unsafe_code)]

pub mod catalogue;
pub mod desk;
pub mod link;
pub mod seed;
pub mod sim;

pub use seed::{seed, write_tokens, DemoLogin, DemoTokens};
pub use sim::{simulate, simulate_on, DemoConfig};
