//! What a monthly report holds: everything the three renderers print, and
//! nothing they compute themselves.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use samu_domain::CentralId;
use samu_indicators::{CentralSettings, MonthlyIndicators, YearMonth};
use serde::{Deserialize, Serialize};

/// The central the report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CentralInfo {
    /// IBGE code of the seat municipality (contracts.md: the central's id).
    pub id: CentralId,
    /// Name, as in the seed's Annex II (`SAMU Uberaba`).
    pub name: String,
    /// Population covered: it sets the default minimum team.
    pub population: u64,
}

pub use samu_occurrence::{ResponseInterval, TimeFigure};

/// The response-time figures of one priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseTimes {
    /// The priority as the central names it (`vermelho`, `amarelo`, …).
    pub priority: String,
    /// One figure per interval, `None` when nothing was measured.
    pub call_to_regulation: Option<TimeFigure>,
    /// Regulation → dispatch.
    pub regulation_to_dispatch: Option<TimeFigure>,
    /// Dispatch → on scene.
    pub dispatch_to_scene: Option<TimeFigure>,
    /// Call → on scene.
    pub call_to_scene: Option<TimeFigure>,
}

impl From<&samu_occurrence::PriorityTimes> for ResponseTimes {
    fn from(p: &samu_occurrence::PriorityTimes) -> Self {
        Self {
            priority: p.priority.as_str().to_owned(),
            call_to_regulation: p.call_to_regulation,
            regulation_to_dispatch: p.regulation_to_dispatch,
            dispatch_to_scene: p.dispatch_to_scene,
            call_to_scene: p.call_to_scene,
        }
    }
}

impl ResponseTimes {
    /// The figure of one interval.
    pub fn figure(&self, interval: ResponseInterval) -> Option<TimeFigure> {
        match interval {
            ResponseInterval::CallToRegulation => self.call_to_regulation,
            ResponseInterval::RegulationToDispatch => self.regulation_to_dispatch,
            ResponseInterval::DispatchToScene => self.dispatch_to_scene,
            ResponseInterval::CallToScene => self.call_to_scene,
        }
    }
}

/// The monthly report of one central ("relatório de acompanhamento").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyReport {
    /// The central.
    pub central: CentralInfo,
    /// The settings in force: time zone, operation rule, weights, minimum
    /// team, incentive rule. Printed on the report.
    pub settings: CentralSettings,
    /// The month's indicators, score, programmed amount, incentive, and the
    /// unit-days and team days behind them.
    pub indicators: MonthlyIndicators,
    /// Response times per priority, of calls received in the month; empty
    /// when there were none (the renderers print "sem dados").
    pub response_times: Vec<ResponseTimes>,
    /// When the report was produced.
    pub generated_at: DateTime<Utc>,
}

impl MonthlyReport {
    /// The month reported.
    pub fn month(&self) -> YearMonth {
        self.indicators.month
    }

    /// The central's time zone, in which every date and time is printed.
    pub fn time_zone(&self) -> Tz {
        self.settings.time_zone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_90th_percentile_is_the_nearest_rank() {
        // 1..=10: rank ⌈0.9 × 10⌉ = 9 → 9; mean 5.5.
        let samples: Vec<f64> = (1..=10).map(f64::from).collect();
        let f = TimeFigure::from_seconds(&samples).unwrap();
        assert_eq!((f.count, f.mean_s, f.p90_s), (10, 5.5, 9.0));
        // 1..=11: rank ⌈9.9⌉ = 10 → 10.
        let samples: Vec<f64> = (1..=11).rev().map(f64::from).collect();
        assert_eq!(TimeFigure::from_seconds(&samples).unwrap().p90_s, 10.0);
        assert_eq!(TimeFigure::from_seconds(&[42.0]).unwrap().p90_s, 42.0);
        assert!(TimeFigure::from_seconds(&[]).is_none());
    }
}
