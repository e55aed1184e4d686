//! The settings of a central that the indicators depend on.
//!
//! Every number that domain.md marks "(verify)" or that Annex I leaves open
//! is a setting with a default, printed on the report, never a constant in the
//! logic.

use chrono::{NaiveTime, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use samu_domain::StaffRole;

use crate::IndicatorError;

/// Everything the indicators of one central depend on besides its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CentralSettings {
    /// IANA time zone of the central: days, shifts and months are counted
    /// in it (contracts.md). Default `America/Sao_Paulo`.
    pub time_zone: Tz,
    /// When a unit-day counts as "in operation".
    pub operation_rule: OperationRule,
    /// Weights of the three indicators in the score (Annex I: 35/35/30).
    pub weights: Weights,
    /// Minimum team of the central per shift.
    pub minimum_team: MinimumTeam,
    /// How the score turns into the incentive due.
    pub incentive_rule: IncentiveRule,
}

impl Default for CentralSettings {
    fn default() -> Self {
        Self::for_population(0)
    }
}

impl CentralSettings {
    /// The defaults for a central covering `population` inhabitants: only the
    /// minimum team depends on it.
    pub fn for_population(population: u64) -> Self {
        Self {
            time_zone: chrono_tz::America::Sao_Paulo,
            operation_rule: OperationRule::default(),
            weights: Weights::default(),
            minimum_team: MinimumTeam::for_population(population),
            incentive_rule: IncentiveRule::default(),
        }
    }

    /// Checks the settings are usable.
    ///
    /// # Errors
    /// A weight negative, not finite or all zero; a shift start not on a whole
    /// minute or the day shift not starting before the night shift; an
    /// incentive band out of 0 to 100 or out of order.
    pub fn validate(&self) -> Result<(), IndicatorError> {
        self.weights.validate()?;
        self.minimum_team.validate()?;
        self.incentive_rule.validate()
    }
}

/// When a unit-day counts as "in operation".
///
/// Annex I asks for units available "24 horas por dia": read strictly, one
/// minute out spoils the day, hence the default of 0. A central may agree a
/// tolerance with the state; whatever is in force is printed on the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationRule {
    /// A day is in operation when its minutes out (as counted by this rule)
    /// are at most this many.
    pub max_minutes_out: u32,
    /// Minutes without signal (a tracking failure, not a service failure)
    /// count as in operation for the rule. They are still shown as
    /// `no_signal` on the report.
    pub no_signal_counts_as_operating: bool,
}

impl Default for OperationRule {
    fn default() -> Self {
        Self {
            max_minutes_out: 0,
            no_signal_counts_as_operating: true,
        }
    }
}

/// Weights of the three indicators in the score, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// "Unidades de Suporte Básico em funcionamento" (Annex I: 35 %).
    pub usb: f64,
    /// "Unidades de Suporte Avançado em funcionamento" (Annex I: 35 %).
    pub usa: f64,
    /// "Dias com manutenção da equipe mínima" (Annex I: 30 %).
    pub team: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            usb: 35.0,
            usa: 35.0,
            team: 30.0,
        }
    }
}

impl Weights {
    fn validate(&self) -> Result<(), IndicatorError> {
        for (field, w) in [
            ("weights.usb", self.usb),
            ("weights.usa", self.usa),
            ("weights.team", self.team),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(IndicatorError::new(
                    field,
                    format!("{w} is not a weight (a number ≥ 0)"),
                ));
            }
        }
        if self.usb + self.usa + self.team <= 0.0 {
            return Err(IndicatorError::new("weights", "all weights are zero"));
        }
        Ok(())
    }
}

/// How many professionals of each role a shift needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleCounts {
    /// Médicos reguladores.
    pub physician: u32,
    /// TARM.
    pub tarm: u32,
    /// Rádio-operadores.
    pub radio_operator: u32,
}

impl RoleCounts {
    /// The count for one role.
    pub fn get(&self, role: StaffRole) -> u32 {
        match role {
            StaffRole::Physician => self.physician,
            StaffRole::Tarm => self.tarm,
            StaffRole::RadioOperator => self.radio_operator,
        }
    }
}

/// A shift of the central's team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shift {
    /// From `day_shift_start` to `night_shift_start`.
    Day,
    /// From `night_shift_start` to the next `day_shift_start`.
    Night,
}

impl Shift {
    /// Portuguese name.
    pub fn label_pt(self) -> &'static str {
        match self {
            Shift::Day => "diurno",
            Shift::Night => "noturno",
        }
    }
}

/// The minimum team of the central per shift (Portaria GM/MS nº 1.010/2012,
/// Annex I, through domain.md; "verify": hence editable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinimumTeam {
    /// Local time the day shift starts (default 07:00).
    pub day_shift_start: NaiveTime,
    /// Local time the night shift starts (default 19:00).
    pub night_shift_start: NaiveTime,
    /// Minimum present during the day shift.
    pub day: RoleCounts,
    /// Minimum present during the night shift.
    pub night: RoleCounts,
}

impl Default for MinimumTeam {
    fn default() -> Self {
        Self::for_population(0)
    }
}

impl MinimumTeam {
    /// domain.md's table by population covered, day/night:
    ///
    /// | population | reguladores | TARM | rádio-operadores |
    /// |---|---|---|---|
    /// | up to 350 000 | 1/1 | 3/2 (the table says "2–3") | 1/1 |
    /// | up to 1 500 000 | 3/2 | 5/3 | 1/1 |
    /// | 1 500 001 – 3 750 000 | 7/5 | 10/7 | 3/2 |
    /// | above 3 750 000 | 15/12 | 31/25 | 11/8 |
    ///
    /// Shifts start at 07:00 and 19:00.
    pub fn for_population(population: u64) -> Self {
        let (day, night) = match population {
            0..=350_000 => ((1, 3, 1), (1, 2, 1)),
            350_001..=1_500_000 => ((3, 5, 1), (2, 3, 1)),
            1_500_001..=3_750_000 => ((7, 10, 3), (5, 7, 2)),
            _ => ((15, 31, 11), (12, 25, 8)),
        };
        let counts = |(physician, tarm, radio_operator)| RoleCounts {
            physician,
            tarm,
            radio_operator,
        };
        Self {
            day_shift_start: NaiveTime::from_hms_opt(7, 0, 0).expect("valid time"),
            night_shift_start: NaiveTime::from_hms_opt(19, 0, 0).expect("valid time"),
            day: counts(day),
            night: counts(night),
        }
    }

    /// The shift a local time of day belongs to.
    pub fn shift_at(&self, local: NaiveTime) -> Shift {
        if local >= self.day_shift_start && local < self.night_shift_start {
            Shift::Day
        } else {
            Shift::Night
        }
    }

    /// How many of `role` the shift needs.
    pub fn required(&self, shift: Shift, role: StaffRole) -> u32 {
        match shift {
            Shift::Day => self.day.get(role),
            Shift::Night => self.night.get(role),
        }
    }

    fn validate(&self) -> Result<(), IndicatorError> {
        for (field, t) in [
            ("minimum_team.day_shift_start", self.day_shift_start),
            ("minimum_team.night_shift_start", self.night_shift_start),
        ] {
            if t.second() != 0 || t.nanosecond() != 0 {
                return Err(IndicatorError::new(field, "must be a whole minute (hh:mm)"));
            }
        }
        if self.day_shift_start >= self.night_shift_start {
            return Err(IndicatorError::new(
                "minimum_team.night_shift_start",
                "must be later in the day than day_shift_start",
            ));
        }
        Ok(())
    }
}

/// How the weighted score turns into the share of the programmed amount due.
///
/// The seed (Art. 4 § 2 and Annex I) says the amount is "calculado a partir
/// do cumprimento do indicador" and gives each indicator a weight, but sets
/// no bands: the default is proportional. A central whose Termo de
/// Compromisso sets bands configures them here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum IncentiveRule {
    /// Due = programmed amount × score / 100: each indicator pays its weight's
    /// share of the amount in proportion to its compliance.
    #[default]
    Proportional,
    /// Due = programmed amount × the `share_percent` of the highest band whose
    /// `min_score` the score reaches (0 below every band).
    Bands {
        /// Bands in increasing `min_score`.
        bands: Vec<IncentiveBand>,
    },
}

/// One band of [`IncentiveRule::Bands`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncentiveBand {
    /// Lowest score (percent, inclusive) of the band.
    pub min_score: f64,
    /// Percent of the programmed amount due in the band.
    pub share_percent: f64,
}

impl IncentiveRule {
    /// The percent of the programmed amount due for `score` (0 to 100).
    pub fn share_percent(&self, score: f64) -> f64 {
        match self {
            IncentiveRule::Proportional => score.clamp(0.0, 100.0),
            IncentiveRule::Bands { bands } => bands
                .iter()
                .rev()
                .find(|b| score >= b.min_score)
                .map_or(0.0, |b| b.share_percent),
        }
    }

    fn validate(&self) -> Result<(), IndicatorError> {
        let IncentiveRule::Bands { bands } = self else {
            return Ok(());
        };
        let mut previous = f64::NEG_INFINITY;
        for (i, band) in bands.iter().enumerate() {
            for (name, v) in [
                ("min_score", band.min_score),
                ("share_percent", band.share_percent),
            ] {
                if !(0.0..=100.0).contains(&v) {
                    return Err(IndicatorError::new(
                        format!("incentive_rule.bands[{i}].{name}"),
                        format!("{v} is not a percentage (0 to 100)"),
                    ));
                }
            }
            if band.min_score <= previous {
                return Err(IndicatorError::new(
                    format!("incentive_rule.bands[{i}].min_score"),
                    "bands must be in increasing min_score",
                ));
            }
            previous = band.min_score;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_team_follows_the_population_table() {
        let small = MinimumTeam::for_population(328_272);
        assert_eq!(
            (
                small.day.physician,
                small.day.tarm,
                small.day.radio_operator
            ),
            (1, 3, 1)
        );
        assert_eq!(
            (
                small.night.physician,
                small.night.tarm,
                small.night.radio_operator
            ),
            (1, 2, 1)
        );
        assert_eq!(MinimumTeam::for_population(350_000).day.tarm, 3);
        assert_eq!(MinimumTeam::for_population(350_001).day.physician, 3);
        assert_eq!(MinimumTeam::for_population(1_500_000).night.tarm, 3);
        let bh = MinimumTeam::for_population(2_523_794);
        assert_eq!((bh.day.physician, bh.night.physician), (7, 5));
        assert_eq!((bh.day.tarm, bh.night.tarm), (10, 7));
        assert_eq!((bh.day.radio_operator, bh.night.radio_operator), (3, 2));
        let big = MinimumTeam::for_population(3_750_001);
        assert_eq!((big.day.tarm, big.night.radio_operator), (31, 8));
    }

    #[test]
    fn shifts_split_at_07_and_19() {
        let team = MinimumTeam::default();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(team.shift_at(t(6, 59)), Shift::Night);
        assert_eq!(team.shift_at(t(7, 0)), Shift::Day);
        assert_eq!(team.shift_at(t(18, 59)), Shift::Day);
        assert_eq!(team.shift_at(t(19, 0)), Shift::Night);
        assert_eq!(team.required(Shift::Day, StaffRole::Tarm), 3);
        assert_eq!(team.required(Shift::Night, StaffRole::Tarm), 2);
    }

    #[test]
    fn settings_are_validated_and_read_from_toml_like_json() {
        assert!(CentralSettings::default().validate().is_ok());
        let mut s = CentralSettings::default();
        s.weights.usa = -1.0;
        assert_eq!(s.validate().unwrap_err().field, "weights.usa");
        let mut s = CentralSettings::default();
        s.minimum_team.night_shift_start = NaiveTime::from_hms_opt(6, 0, 0).unwrap();
        assert_eq!(
            s.validate().unwrap_err().field,
            "minimum_team.night_shift_start"
        );
        let s = CentralSettings {
            incentive_rule: IncentiveRule::Bands {
                bands: vec![
                    IncentiveBand {
                        min_score: 90.0,
                        share_percent: 100.0,
                    },
                    IncentiveBand {
                        min_score: 80.0,
                        share_percent: 80.0,
                    },
                ],
            },
            ..CentralSettings::default()
        };
        assert_eq!(
            s.validate().unwrap_err().field,
            "incentive_rule.bands[1].min_score"
        );

        let s: CentralSettings = serde_json::from_str(
            r#"{"time_zone": "America/Manaus",
                "operation_rule": {"max_minutes_out": 15},
                "incentive_rule": {"kind": "bands", "bands": [
                    {"min_score": 80, "share_percent": 80},
                    {"min_score": 95, "share_percent": 100}]}}"#,
        )
        .unwrap();
        assert_eq!(s.time_zone, chrono_tz::America::Manaus);
        assert_eq!(s.operation_rule.max_minutes_out, 15);
        assert!(s.operation_rule.no_signal_counts_as_operating);
        assert_eq!(s.weights, Weights::default());
        assert!(s.validate().is_ok());
        assert_eq!(s.incentive_rule.share_percent(79.9), 0.0);
        assert_eq!(s.incentive_rule.share_percent(80.0), 80.0);
        assert_eq!(s.incentive_rule.share_percent(99.0), 100.0);
        assert_eq!(IncentiveRule::Proportional.share_percent(87.5), 87.5);

        let team: MinimumTeam = serde_json::from_str(
            r#"{"day_shift_start": "06:00", "night_shift_start": "18:00:00",
                "day": {"physician": 3, "tarm": 5, "radio_operator": 1},
                "night": {"physician": 2, "tarm": 3, "radio_operator": 1}}"#,
        )
        .unwrap();
        assert_eq!(
            team.day_shift_start,
            NaiveTime::from_hms_opt(6, 0, 0).unwrap()
        );
        assert_eq!(team, {
            let mut t = MinimumTeam::for_population(1_000_000);
            t.day_shift_start = NaiveTime::from_hms_opt(6, 0, 0).unwrap();
            t.night_shift_start = NaiveTime::from_hms_opt(18, 0, 0).unwrap();
            t
        });
    }
}
