//! Occurrences (ocorrências): a call to 192 from the moment it is answered
//! until the last unit sent to it is free (domain.md, "An occurrence and its
//! clock").
//!
//! An occurrence is an append-only list of [`Event`]s. Nothing is ever
//! overwritten: a re-regulation is a new regulation event, a wrong time is
//! fixed by a [`EventBody::TimeCorrected`] event. [`Occurrence`] is the
//! state folded from those events, and [`Occurrence::check`] refuses an
//! event that makes no sense in that state, saying why.
//!
//! Pure: no I/O and no clock. The runtime loads the events, asks this crate
//! whether the next one is allowed, and stores it.
//!
//! # Layout
//! - [`vocabulary`]: priorities, natures, decisions, unit steps, ids.
//! - [`event`]: events and the call record (the personal data).
//! - [`state`]: the folded occurrence, its status and its transition rules.
//! - [`summary`]: what consoles and the wall see ([`Summary`] has no personal data).
//! - [`response`]: response-time figures (mean and 90th percentile).
#![forbid(unsafe_code)]

pub mod event;
pub mod response;
pub mod state;
pub mod summary;
pub mod vocabulary;

pub use event::{Actor, CallRecord, Event, EventBody};
pub use response::{response_times, Clock, PriorityTimes, ResponseInterval, TimeFigure};
pub use state::{Assignment, Occurrence, OccurrenceStatus, Regulation, TransitionError};
pub use summary::{Detail, ResponseTargets, Summary, TimelineEntry, UnitLine};
pub use vocabulary::{Cnes, Decision, Nature, NonCaseReason, OccurrenceId, Priority, UnitStep};
