//! Response-time figures: call → regulation, regulation → dispatch,
//! dispatch → on scene and call → on scene, per priority, as mean and 90th
//! percentile (the way NHS England reports its categories; domain.md).
//!
//! Each occurrence contributes its own clock ([`Clock`]): the call, the
//! first regulation, the first unit dispatched and the first unit on scene,
//! all as corrected. Non-cases are not counted; an interval is measured only
//! when both of its ends exist. The priority is the latest regulation's.

use chrono::{DateTime, Utc};
use samu_domain::CentralId;
use serde::{Deserialize, Serialize};

use crate::vocabulary::Priority;

/// The points of an occurrence's clock the figures use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clock {
    /// The central that answered.
    pub central: CentralId,
    /// The latest regulation's priority.
    pub priority: Option<Priority>,
    /// False for non-cases (pranks, wrong numbers…).
    pub counted: bool,
    /// Call received.
    pub call_at: DateTime<Utc>,
    /// First regulation.
    pub regulated_at: Option<DateTime<Utc>>,
    /// First unit dispatched.
    pub first_dispatch_at: Option<DateTime<Utc>>,
    /// First unit on scene.
    pub first_on_scene_at: Option<DateTime<Utc>>,
}

/// The interval of an occurrence's clock a figure measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseInterval {
    /// Call received → physician's regulation (priority set).
    CallToRegulation,
    /// Regulation → unit dispatched.
    RegulationToDispatch,
    /// Unit dispatched → first unit on scene.
    DispatchToScene,
    /// Call received → first unit on scene: the response time.
    CallToScene,
}

impl ResponseInterval {
    /// The four, in clock order.
    pub const ALL: [ResponseInterval; 4] = [
        ResponseInterval::CallToRegulation,
        ResponseInterval::RegulationToDispatch,
        ResponseInterval::DispatchToScene,
        ResponseInterval::CallToScene,
    ];

    /// CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseInterval::CallToRegulation => "chamada_regulacao",
            ResponseInterval::RegulationToDispatch => "regulacao_empenho",
            ResponseInterval::DispatchToScene => "empenho_local",
            ResponseInterval::CallToScene => "chamada_local",
        }
    }

    /// Portuguese label.
    pub fn label_pt(self) -> &'static str {
        match self {
            ResponseInterval::CallToRegulation => "chamada → regulação",
            ResponseInterval::RegulationToDispatch => "regulação → empenho",
            ResponseInterval::DispatchToScene => "empenho → chegada ao local",
            ResponseInterval::CallToScene => "chamada → chegada ao local",
        }
    }

    /// The interval's duration in one clock, in seconds, when both ends exist.
    pub fn seconds(self, clock: &Clock) -> Option<f64> {
        let (from, to) = match self {
            ResponseInterval::CallToRegulation => (Some(clock.call_at), clock.regulated_at),
            ResponseInterval::RegulationToDispatch => (clock.regulated_at, clock.first_dispatch_at),
            ResponseInterval::DispatchToScene => (clock.first_dispatch_at, clock.first_on_scene_at),
            ResponseInterval::CallToScene => (Some(clock.call_at), clock.first_on_scene_at),
        };
        let ms = (to? - from?).num_milliseconds();
        // Corrections keep the clock in order; anything else is not a duration.
        (ms >= 0).then(|| ms as f64 / 1000.0)
    }
}

/// Mean and 90th percentile of one interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeFigure {
    /// Occurrences measured.
    pub count: u64,
    /// Mean, in seconds.
    pub mean_s: f64,
    /// 90th percentile (nearest rank), in seconds.
    pub p90_s: f64,
}

impl TimeFigure {
    /// The figure of a set of durations in seconds; `None` when there are
    /// none. The percentile is the nearest-rank one: the smallest sample with
    /// at least 90 % of the samples at or below it.
    pub fn from_seconds(samples: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|s| s.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let rank = (n * 9).div_ceil(10).max(1);
        Some(Self {
            count: n as u64,
            mean_s: sorted.iter().sum::<f64>() / n as f64,
            p90_s: sorted[rank - 1],
        })
    }
}

/// The four figures of one priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorityTimes {
    /// The priority.
    pub priority: Priority,
    /// Occurrences of this priority (counted ones).
    pub occurrences: u64,
    /// Call → regulation.
    pub call_to_regulation: Option<TimeFigure>,
    /// Regulation → dispatch.
    pub regulation_to_dispatch: Option<TimeFigure>,
    /// Dispatch → on scene.
    pub dispatch_to_scene: Option<TimeFigure>,
    /// Call → on scene.
    pub call_to_scene: Option<TimeFigure>,
}

impl PriorityTimes {
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

/// The figures per priority (most urgent first) of the clocks given; a
/// priority without any counted occurrence is left out. The caller picks the
/// clocks: one central's, calls received in a period.
pub fn response_times<'a>(clocks: impl IntoIterator<Item = &'a Clock>) -> Vec<PriorityTimes> {
    let clocks: Vec<&Clock> = clocks.into_iter().filter(|c| c.counted).collect();
    Priority::ALL
        .iter()
        .filter_map(|&priority| {
            let mine: Vec<&Clock> = clocks
                .iter()
                .copied()
                .filter(|c| c.priority == Some(priority))
                .collect();
            if mine.is_empty() {
                return None;
            }
            let figure = |interval: ResponseInterval| {
                let samples: Vec<f64> = mine.iter().filter_map(|c| interval.seconds(c)).collect();
                TimeFigure::from_seconds(&samples)
            };
            Some(PriorityTimes {
                priority,
                occurrences: mine.len() as u64,
                call_to_regulation: figure(ResponseInterval::CallToRegulation),
                regulation_to_dispatch: figure(ResponseInterval::RegulationToDispatch),
                dispatch_to_scene: figure(ResponseInterval::DispatchToScene),
                call_to_scene: figure(ResponseInterval::CallToScene),
            })
        })
        .collect()
}
