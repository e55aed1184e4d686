//! Fleet tunables. Every number that domain.md marks as local practice is a
//! setting here, with a default, never a constant in the logic.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use samu_domain::{CrewRules, UnitType};
use serde::{Deserialize, Serialize};

/// Settings of the fleet state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// A unit with no fix for longer than this shows as "no signal" and is
    /// not offered for dispatch.
    pub no_signal_after_s: u64,
    /// Fixes and reports timed further than this in the future are refused
    /// (a receiver clock gone wrong).
    pub max_future_skew_s: u64,
    /// Fixes and reports older than this are refused (a device replaying a
    /// week-old buffer must not rewrite the indicators).
    pub max_report_age_s: u64,
    /// Highest believable ground speed per type, in km/h: a fix implying more
    /// than this from the last trusted one is flagged, not trusted.
    pub max_speed_kmh: BTreeMap<UnitType, f64>,
    /// Travel-time estimate until road routing comes.
    pub eta: EtaModel,
    /// Which fixes are kept in the stored position track.
    pub track: TrackRule,
    /// Minimum crew per unit type.
    pub crew_rules: CrewRules,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            no_signal_after_s: 120,
            max_future_skew_s: 300,
            max_report_age_s: 24 * 3600,
            max_speed_kmh: per_type(&[
                (UnitType::Usb, 200.0),
                (UnitType::Usa, 200.0),
                (UnitType::Moto, 220.0),
                (UnitType::Vir, 220.0),
                (UnitType::Aero, 400.0),
                (UnitType::Emb, 120.0),
            ]),
            eta: EtaModel::default(),
            track: TrackRule::default(),
            crew_rules: CrewRules::default(),
        }
    }
}

impl FleetConfig {
    /// [`Self::no_signal_after_s`] as a duration.
    pub fn no_signal_after(&self) -> TimeDelta {
        seconds(self.no_signal_after_s)
    }

    /// [`Self::max_future_skew_s`] as a duration.
    pub fn max_future_skew(&self) -> TimeDelta {
        seconds(self.max_future_skew_s)
    }

    /// [`Self::max_report_age_s`] as a duration.
    pub fn max_report_age(&self) -> TimeDelta {
        seconds(self.max_report_age_s)
    }

    /// Highest believable speed of a type, in metres per second.
    pub fn max_speed_mps(&self, unit_type: UnitType) -> f64 {
        self.max_speed_kmh.get(&unit_type).copied().unwrap_or(200.0) / 3.6
    }
}

/// Straight-line distance times a detour factor, over a speed per type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtaModel {
    /// Road distance over straight-line distance; 1.4 is typical of Brazilian
    /// cities.
    pub detour_factor: f64,
    /// Mean travel speed per type with lights and siren, in km/h.
    pub speed_kmh: BTreeMap<UnitType, f64>,
}

impl Default for EtaModel {
    fn default() -> Self {
        Self {
            detour_factor: 1.4,
            speed_kmh: per_type(&[
                (UnitType::Usb, 40.0),
                (UnitType::Usa, 40.0),
                (UnitType::Moto, 45.0),
                (UnitType::Vir, 50.0),
                (UnitType::Aero, 200.0),
                (UnitType::Emb, 30.0),
            ]),
        }
    }
}

impl EtaModel {
    /// Estimated travel time in seconds over `distance_m` of straight line.
    pub fn eta_s(&self, unit_type: UnitType, distance_m: f64) -> f64 {
        let kmh = self
            .speed_kmh
            .get(&unit_type)
            .copied()
            .unwrap_or(40.0)
            .max(1.0);
        distance_m * self.detour_factor / (kmh / 3.6)
    }
}

/// Downsampling of the stored position track: a fix is kept when at least
/// `min_interval_s` passed or the unit moved at least `min_distance_m` since
/// the last kept fix, or the unit's status changed with it. Fixes that
/// arrive out of order and flagged fixes are always kept, because they are
/// the evidence someone will look for later. The hot state always has every
/// trusted fix; only the stored history is thinned.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackRule {
    /// Seconds between kept fixes when the unit is still.
    pub min_interval_s: u64,
    /// Metres of movement that force a kept fix.
    pub min_distance_m: f64,
}

impl Default for TrackRule {
    fn default() -> Self {
        Self {
            min_interval_s: 15,
            min_distance_m: 100.0,
        }
    }
}

fn per_type(values: &[(UnitType, f64)]) -> BTreeMap<UnitType, f64> {
    values.iter().copied().collect()
}

/// `s` seconds, saturating at the longest `TimeDelta` (a config may say
/// anything up to `u64::MAX`).
pub(crate) fn seconds(s: u64) -> TimeDelta {
    i64::try_from(s)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .unwrap_or(TimeDelta::MAX)
}
