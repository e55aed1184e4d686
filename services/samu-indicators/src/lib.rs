//! The state indicators of Resolução SES/MG nº 6.953/2019 (Annex I), computed
//! from stored history.
//!
//! Everything here is pure: no I/O, no async, no clock. The caller (the daily
//! job, the `report` command) loads a unit's status history and the central's
//! staff presence, and this crate turns them into **unit-days**, **team days**,
//! the three monthly indicators, their annual figures, the weighted score and
//! the incentive due. The rules, and every choice where Annex I leaves room,
//! are written out in `docs/indicators.md`.
//!
//! # Layout
//! - [`calendar`]: [`YearMonth`] and [`LocalDay`], the central's calendar in
//!   its own time zone (23- and 25-hour days included).
//! - [`settings`]: [`CentralSettings`]: time zone, [`OperationRule`],
//!   [`Weights`], [`MinimumTeam`] and [`IncentiveRule`], all editable.
//! - [`unit_day`]: [`UnitHistory`] in, [`UnitDay`] out: minutes in operation
//!   and out, by [`OutReason`], of one USB or USA on one local day.
//! - [`team`]: [`Presence`] in, [`TeamDay`] out: whether the central had its
//!   minimum team every minute of a day, and the [`TeamGap`]s when not.
//! - [`indicator`]: [`MonthlyIndicators`], [`AnnualIndicators`], the weighted
//!   score and the incentive in [`Brl`].
//! - [`error`]: [`IndicatorError`], which names the offending setting.
#![forbid(unsafe_code)]

pub mod calendar;
pub mod error;
pub mod indicator;
pub mod settings;
pub mod team;
pub mod unit_day;

pub use calendar::{local_instant, LocalDay, YearMonth};
pub use error::IndicatorError;
pub use indicator::{
    annual, weighted_score, AnnualFigure, AnnualIndicators, Brl, Indicator, IndicatorKind,
    MonthlyIndicators,
};
pub use settings::{
    CentralSettings, IncentiveBand, IncentiveRule, MinimumTeam, OperationRule, RoleCounts, Shift,
    StaffRole, Weights,
};
pub use team::{team_day, team_days, Presence, TeamDay, TeamGap};
pub use unit_day::{unit_day, unit_days, OutReason, UnitDay, UnitHistory};
