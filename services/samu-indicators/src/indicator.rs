//! The three indicators of Annex I, their annual figures, the weighted score
//! and the incentive due.
//!
//! - (1) USB em funcionamento = Σ in-operation USB unit-days / Σ habilitated
//!   USB unit-days × 100. When every USB is habilitated all month the
//!   denominator is Annex I's "unidades habilitadas × dias do mês".
//! - (2) the same for USA.
//! - (3) dias com equipe mínima = covered days / days in the month × 100.
//!
//! An indicator with a zero denominator (no habilitated unit of the type in
//! the month) is not applicable: its percentage is `None` and the weighted
//! score is taken over the applicable indicators only, their weights
//! rescaled to add up to 100 (so a central is neither rewarded nor punished
//! for a type it does not have).

use std::fmt;

use chrono::NaiveDate;
use samu_domain::UnitType;
use serde::{Deserialize, Serialize};

use crate::{
    team_days, unit_days, CentralSettings, IncentiveRule, Presence, TeamDay, UnitDay, UnitHistory,
    Weights, YearMonth,
};

/// Which of the three indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    /// (1) Unidades de Suporte Básico em funcionamento.
    UsbInOperation,
    /// (2) Unidades de Suporte Avançado em funcionamento.
    UsaInOperation,
    /// (3) Dias com manutenção da equipe mínima da Central de Regulação.
    MinimumTeamDays,
}

impl IndicatorKind {
    /// The three, in Annex I's order.
    pub const ALL: [IndicatorKind; 3] = [
        IndicatorKind::UsbInOperation,
        IndicatorKind::UsaInOperation,
        IndicatorKind::MinimumTeamDays,
    ];

    /// Storage and CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::UsbInOperation => "usb_em_funcionamento",
            IndicatorKind::UsaInOperation => "usa_em_funcionamento",
            IndicatorKind::MinimumTeamDays => "dias_equipe_minima",
        }
    }

    /// Annex I's name.
    pub fn label_pt(self) -> &'static str {
        match self {
            IndicatorKind::UsbInOperation => "Unidades de Suporte Básico em funcionamento",
            IndicatorKind::UsaInOperation => "Unidades de Suporte Avançado em funcionamento",
            IndicatorKind::MinimumTeamDays => {
                "Dias com manutenção da equipe mínima da Central de Regulação"
            }
        }
    }

    /// Its weight among `weights`.
    pub fn weight(self, weights: &Weights) -> f64 {
        match self {
            IndicatorKind::UsbInOperation => weights.usb,
            IndicatorKind::UsaInOperation => weights.usa,
            IndicatorKind::MinimumTeamDays => weights.team,
        }
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One indicator of one month, with the exact counts behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indicator {
    /// Which indicator.
    pub kind: IndicatorKind,
    /// Unit-days in operation, or days covered.
    pub numerator: u64,
    /// Habilitated unit-days, or days in the month.
    pub denominator: u64,
}

impl Indicator {
    /// `numerator / denominator × 100`, or `None` when not applicable
    /// (denominator 0).
    pub fn percent(&self) -> Option<f64> {
        (self.denominator > 0).then(|| self.numerator as f64 * 100.0 / self.denominator as f64)
    }
}

/// An amount in reais, held in centavos so that sums are exact.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Brl(pub i64);

impl Brl {
    /// From centavos.
    pub fn from_centavos(centavos: i64) -> Self {
        Self(centavos)
    }

    /// The amount in centavos.
    pub fn centavos(self) -> i64 {
        self.0
    }

    /// The amount in reais, for spreadsheets.
    pub fn reais(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// `percent` % of the amount, rounded to the nearest centavo (halves away
    /// from zero).
    #[must_use]
    pub fn percent_of(self, percent: f64) -> Self {
        Self((self.0 as f64 * percent / 100.0).round() as i64)
    }
}

impl std::ops::Add for Brl {
    type Output = Brl;
    fn add(self, rhs: Self) -> Self {
        Self(self.0 + rhs.0)
    }
}

impl std::iter::Sum for Brl {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        Self(iter.map(|b| b.0).sum())
    }
}

/// The weighted score of indicator percentages, 0 to 100.
///
/// Indicators that are not applicable (`None`) are left out and the weights
/// of the others rescaled; `None` when nothing is applicable or the applicable
/// weights are all zero.
///
/// Any finite weights (settings accept up to `f64::MAX`) give a finite
/// score: weights so large that `weight × percentage` would overflow, or so
/// small that it would lose its precision, are first divided by the largest
/// applicable one. Ordinary weights are used as they are.
pub fn weighted_score(weights: &Weights, percents: &[(IndicatorKind, Option<f64>)]) -> Option<f64> {
    let applicable: Vec<(f64, f64)> = percents
        .iter()
        .filter_map(|&(kind, p)| p.map(|p| (kind.weight(weights), p)))
        .collect();
    let largest = applicable.iter().map(|&(w, _)| w).fold(0.0, f64::max);
    let scale = if largest > 1e300 || (largest > 0.0 && largest < 1e-300) {
        largest
    } else {
        1.0
    };
    let (sum, total_weight) = applicable
        .iter()
        .map(|&(w, p)| (w / scale, p))
        .fold((0.0, 0.0), |(sum, total), (w, p)| (sum + w * p, total + w));
    (total_weight > 0.0).then(|| sum / total_weight)
}

/// The indicators of one central in one month, with the days behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyIndicators {
    /// The month.
    pub month: YearMonth,
    /// Days in the month (28 to 31).
    pub days_in_month: u32,
    /// (1) USB em funcionamento.
    pub usb: Indicator,
    /// (2) USA em funcionamento.
    pub usa: Indicator,
    /// (3) Dias com manutenção da equipe mínima.
    pub team: Indicator,
    /// Weighted score (see [`weighted_score`]).
    pub score: Option<f64>,
    /// Amount programmed for the central for the month (seed Annex II).
    pub programmed_amount: Brl,
    /// The month's share of the incentive under the rule in force: the
    /// programmed amount × the rule's share of the score. The seed pays on
    /// the annual figure ([`AnnualIndicators::incentive_due`]); this is the
    /// month's contribution to it.
    pub incentive_due: Brl,
    /// Every counted unit-day of the month, by type (USB first), unit, date.
    pub unit_days: Vec<UnitDay>,
    /// Every day of the month for the central's team, by date.
    pub team_days: Vec<TeamDay>,
}

impl MonthlyIndicators {
    /// Computes the month from stored history: unit histories (USB and USA
    /// are used, others ignored) and the central's staff presence.
    pub fn compute(
        settings: &CentralSettings,
        month: YearMonth,
        units: &[UnitHistory],
        presences: &[Presence],
        programmed_amount: Brl,
    ) -> Self {
        let unit_days = units
            .iter()
            .flat_map(|u| unit_days(u, settings, month.days()))
            .collect();
        let team_days = team_days(
            presences,
            &settings.minimum_team,
            settings.time_zone,
            month.days(),
        );
        Self::from_days(settings, month, unit_days, team_days, programmed_amount)
    }

    /// Computes the month from days computed before (the daily job stores
    /// them). Days outside the month are ignored; a day of the month without
    /// a team day counts as not covered.
    pub fn from_days(
        settings: &CentralSettings,
        month: YearMonth,
        unit_days: Vec<UnitDay>,
        team_days: Vec<TeamDay>,
        programmed_amount: Brl,
    ) -> Self {
        let mut unit_days: Vec<UnitDay> = unit_days
            .into_iter()
            .filter(|d| month.contains(d.date))
            .collect();
        unit_days
            .sort_by(|a, b| (a.unit_type, &a.unit, a.date).cmp(&(b.unit_type, &b.unit, b.date)));
        let mut team_days: Vec<TeamDay> = team_days
            .into_iter()
            .filter(|d| month.contains(d.date))
            .collect();
        team_days.sort_by_key(|d| d.date);
        team_days.dedup_by_key(|d| d.date);

        let units_of = |kind: IndicatorKind, unit_type: UnitType| {
            let days = unit_days.iter().filter(|d| d.unit_type == unit_type);
            Indicator {
                kind,
                numerator: days.clone().filter(|d| d.in_operation).count() as u64,
                denominator: days.count() as u64,
            }
        };
        let usb = units_of(IndicatorKind::UsbInOperation, UnitType::Usb);
        let usa = units_of(IndicatorKind::UsaInOperation, UnitType::Usa);
        let team = Indicator {
            kind: IndicatorKind::MinimumTeamDays,
            numerator: team_days.iter().filter(|d| d.covered).count() as u64,
            denominator: u64::from(month.days_in_month()),
        };
        let score = weighted_score(
            &settings.weights,
            &[usb, usa, team].map(|i| (i.kind, i.percent())),
        );
        let incentive_due = incentive(&settings.incentive_rule, score, programmed_amount);
        Self {
            month,
            days_in_month: month.days_in_month(),
            usb,
            usa,
            team,
            score,
            programmed_amount,
            incentive_due,
            unit_days,
            team_days,
        }
    }

    /// The three indicators in Annex I's order.
    pub fn indicators(&self) -> [Indicator; 3] {
        [self.usb, self.usa, self.team]
    }

    /// The team days that were not covered.
    pub fn uncovered_days(&self) -> impl Iterator<Item = &TeamDay> {
        self.team_days.iter().filter(|d| !d.covered)
    }

    /// The local dates of the month.
    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> {
        self.month.days()
    }
}

fn incentive(rule: &IncentiveRule, score: Option<f64>, amount: Brl) -> Brl {
    score.map_or(Brl(0), |s| amount.percent_of(rule.share_percent(s)))
}

/// The annual figure of one indicator: Annex I's "somatório do percentual
/// cumprido nos 12 meses do ano, dividido por 12".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnnualFigure {
    /// Which indicator.
    pub kind: IndicatorKind,
    /// Months of the year in which the indicator was applicable.
    pub months_counted: u32,
    /// Sum of those months' percentages.
    pub sum_of_percents: f64,
    /// `sum_of_percents / months_counted`: with twelve applicable months,
    /// exactly Annex I's sum ÷ 12. `None` when no month was applicable.
    pub value: Option<f64>,
}

/// The year's figures of one central.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnualIndicators {
    /// The calendar year.
    pub year: i32,
    /// The months of the year that were given, in order.
    pub months: Vec<YearMonth>,
    /// All twelve months were given.
    pub complete: bool,
    /// (1) USB em funcionamento.
    pub usb: AnnualFigure,
    /// (2) USA em funcionamento.
    pub usa: AnnualFigure,
    /// (3) Dias com manutenção da equipe mínima.
    pub team: AnnualFigure,
    /// Weighted score of the three annual figures.
    pub score: Option<f64>,
    /// Sum of the months' programmed amounts.
    pub programmed_amount: Brl,
    /// The incentive due for the year: the programmed amount × the rule's
    /// share of the annual score (Annex I: the amount is computed from the
    /// annual figure).
    pub incentive_due: Brl,
}

/// The annual figures of `year` from its months; months of other years are
/// ignored (so a list running December to January can be passed for either
/// year), and a month given twice counts once.
pub fn annual(
    year: i32,
    months: &[MonthlyIndicators],
    settings: &CentralSettings,
) -> AnnualIndicators {
    let mut of_year: Vec<&MonthlyIndicators> =
        months.iter().filter(|m| m.month.year() == year).collect();
    of_year.sort_by_key(|m| m.month);
    of_year.dedup_by_key(|m| m.month);
    let figure = |kind: IndicatorKind| {
        let percents: Vec<f64> = of_year
            .iter()
            .filter_map(|m| m.indicators().into_iter().find(|i| i.kind == kind))
            .filter_map(|i| i.percent())
            .collect();
        let sum: f64 = percents.iter().sum();
        let n = percents.len() as u32;
        AnnualFigure {
            kind,
            months_counted: n,
            sum_of_percents: sum,
            value: (n > 0).then(|| sum / f64::from(n)),
        }
    };
    let usb = figure(IndicatorKind::UsbInOperation);
    let usa = figure(IndicatorKind::UsaInOperation);
    let team = figure(IndicatorKind::MinimumTeamDays);
    let score = weighted_score(
        &settings.weights,
        &[usb, usa, team].map(|f| (f.kind, f.value)),
    );
    let programmed_amount = of_year.iter().map(|m| m.programmed_amount).sum();
    AnnualIndicators {
        year,
        months: of_year.iter().map(|m| m.month).collect(),
        complete: of_year.len() == 12,
        usb,
        usa,
        team,
        score,
        programmed_amount,
        incentive_due: incentive(&settings.incentive_rule, score, programmed_amount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_applicable_indicators_leave_the_score_and_weights_rescale() {
        let w = Weights::default();
        use IndicatorKind::*;
        // All applicable: (35×90 + 35×80 + 30×100) / 100 = 89.5.
        let s = weighted_score(
            &w,
            &[
                (UsbInOperation, Some(90.0)),
                (UsaInOperation, Some(80.0)),
                (MinimumTeamDays, Some(100.0)),
            ],
        )
        .unwrap();
        assert!((s - 89.5).abs() < 1e-9);
        // No USA: (35×90 + 30×100) / 65 = 6150 / 65 = 94.615…
        let s = weighted_score(
            &w,
            &[
                (UsbInOperation, Some(90.0)),
                (UsaInOperation, None),
                (MinimumTeamDays, Some(100.0)),
            ],
        )
        .unwrap();
        assert!((s - 6150.0 / 65.0).abs() < 1e-9);
        assert_eq!(weighted_score(&w, &[(UsbInOperation, None)]), None);
    }

    #[test]
    fn money_rounds_to_the_centavo() {
        // 23 152,00 × 89,5 % = 20 721,04.
        assert_eq!(Brl(2_315_200).percent_of(89.5), Brl(2_072_104));
        // 1 800,00 × 33,3333…% = 600,00 (599,99994 rounds up).
        assert_eq!(Brl(180_000).percent_of(100.0 / 3.0), Brl(60_000));
        assert_eq!([Brl(1), Brl(2)].into_iter().sum::<Brl>(), Brl(3));
        assert_eq!(Brl(123_456).reais(), 1234.56);
    }
}
