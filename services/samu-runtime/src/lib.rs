//! The running central: one cheap-to-clone [`Central`] handle that the gRPC
//! and HTTP adapters share.
//!
//! It owns the hot [`FleetState`](samu_fleet::FleetState) behind a lock, the
//! persistence pipeline that batches every change into the store and only
//! then acknowledges the report, the change feed the wall listens to, and
//! the in-memory credential cache.
//!
//! # Layout
//! - [`central`]: the handle, start-up (restore from the store) and background tasks.
//! - [`ingest`]: applying vehicle reports.
//! - [`writer`]: the group-commit writer and acknowledgements.
//! - [`feed`]: unit views and the broadcast of changes.
//! - [`auth`]: credential cache and token checks.
//! - [`accounts`]: user accounts, argon2 passwords, login sessions.
//! - [`limits`]: rate limits per device, person and login (keyed token buckets).
//! - [`regulation`]: occurrences from call to unit free, recommendation, response times.
//! - [`registry`]: admin operations that touch both store and fleet.
//! - [`reporting`]: the daily job and the monthly report (indicators).
//! - [`retention`]: LGPD erasure after the retention period, and exports.
//! - [`running`]: today's running figures for the wall.
//! - [`team`]: clock-in and clock-out of the regulation room's staff.
#![forbid(unsafe_code)]

pub mod access;
pub mod accounts;
pub mod auth;
pub mod central;
pub mod feed;
mod fleet_lock;
pub mod ingest;
pub mod limits;
pub mod registry;
pub mod regulation;
pub mod reporting;
pub mod retention;
pub mod running;
pub mod team;
pub mod writer;

pub use auth::{AuthError, CredentialEnd};
pub use central::{Central, RuntimeConfig, RuntimeTasks};
pub use feed::{FleetEvent, UnitView, WallOccurrence};
pub use ingest::{Ack, AckKind, IngestError, Rejected, Reply, Report, ReportBody};
pub use limits::{LimitsConfig, RateLimited};
pub use regulation::{Caller, Command, RegulationError, RequestKey};
pub use writer::{SpoolConfig, StartError, WriteHealthReport};
