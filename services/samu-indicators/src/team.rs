//! Team days: whether the central had at least its minimum team present every
//! minute of a local day (indicator 3, "Dias com manutenção da equipe mínima").
//!
//! The input is the central's presence record (who clocked in and out, in
//! which role). Professionals who are only reachable ("alcançáveis") are
//! recorded but never count (Annex I). A person counts once per role however
//! many overlapping presences they have. The day is cut where a shift starts,
//! where someone arrives or leaves, and at its midnights; each piece is
//! compared, role by role, with the minimum of its shift. The pieces below the
//! minimum are the day's [`TeamGap`]s, merged when consecutive and alike, so a
//! manager sees exactly the hole at a shift change.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use samu_domain::MemberId;
use serde::{Deserialize, Serialize};

use crate::{local_instant, LocalDay, MinimumTeam, Shift, StaffRole};

/// One professional present (or reachable) at the central for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The central's opaque id for the professional (never a name or CPF).
    pub member: MemberId,
    /// The role filled during this presence.
    pub role: StaffRole,
    /// Clock-in.
    pub from: DateTime<Utc>,
    /// Clock-out; `None` while still present.
    pub to: Option<DateTime<Utc>>,
    /// Only reachable (on call from elsewhere): recorded, never counted.
    pub reachable_only: bool,
}

/// A stretch of a day with fewer professionals of one role than the shift's
/// minimum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamGap {
    /// Start of the stretch.
    pub start: DateTime<Utc>,
    /// End of the stretch (excluded).
    pub end: DateTime<Utc>,
    /// The role short.
    pub role: StaffRole,
    /// The shift the stretch belongs to.
    pub shift: Shift,
    /// How many were present.
    pub present: u32,
    /// How many the shift needs.
    pub required: u32,
}

impl TeamGap {
    /// Length in milliseconds.
    pub fn length_ms(&self) -> i64 {
        (self.end - self.start).num_milliseconds()
    }
}

/// One local day of the central's team: the row of the report's team table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamDay {
    /// The local date.
    pub date: NaiveDate,
    /// Length of the local day.
    pub day_ms: i64,
    /// At least the minimum of every role present for the whole day.
    pub covered: bool,
    /// Time during which at least one role was below its minimum.
    pub short_ms: i64,
    /// The stretches below the minimum, by start then role.
    pub gaps: Vec<TeamGap>,
}

/// A member's presence in one role, reduced to an interval.
#[derive(Debug, Clone)]
struct Stint<'a> {
    role: StaffRole,
    member: &'a MemberId,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
}

/// Counted presences, merged per (role, member) so that overlapping
/// clock-ins of one person count once.
fn stints(presences: &[Presence]) -> Vec<Stint<'_>> {
    let mut raw: Vec<Stint<'_>> = presences
        .iter()
        .filter(|p| !p.reachable_only && p.to.is_none_or(|to| to > p.from))
        .map(|p| Stint {
            role: p.role,
            member: &p.member,
            from: p.from,
            to: p.to,
        })
        .collect();
    raw.sort_by(|a, b| (a.role, a.member, a.from).cmp(&(b.role, b.member, b.from)));
    let mut merged: Vec<Stint<'_>> = Vec::with_capacity(raw.len());
    for s in raw {
        if let Some(last) = merged.last_mut() {
            let touches = last.role == s.role
                && last.member == s.member
                && last.to.is_none_or(|to| s.from <= to);
            if touches {
                last.to = match (last.to, s.to) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                continue;
            }
        }
        merged.push(s);
    }
    merged
}

fn day_of(stints: &[Stint<'_>], team: &MinimumTeam, tz: Tz, date: NaiveDate) -> TeamDay {
    let day = LocalDay::new(tz, date);
    let day_start_shift = local_instant(tz, date.and_time(team.day_shift_start));
    let night_start_shift = local_instant(tz, date.and_time(team.night_shift_start));
    let shift_of = |at: DateTime<Utc>| {
        if at >= day_start_shift && at < night_start_shift {
            Shift::Day
        } else {
            Shift::Night
        }
    };

    // Everything that overlaps the day, clipped to it.
    let within: Vec<(StaffRole, DateTime<Utc>, DateTime<Utc>)> = stints
        .iter()
        .filter_map(|s| {
            let from = s.from.max(day.start);
            let to = s.to.map_or(day.end, |to| to.min(day.end));
            (from < to).then_some((s.role, from, to))
        })
        .collect();

    let mut cuts = vec![day.start, day.end];
    cuts.extend(
        [day_start_shift, night_start_shift]
            .into_iter()
            .filter(|&t| t > day.start && t < day.end),
    );
    for &(_, from, to) in &within {
        cuts.push(from);
        cuts.push(to);
    }
    cuts.sort();
    cuts.dedup();

    let mut gaps: Vec<TeamGap> = Vec::new();
    let mut short_ms = 0;
    for piece in cuts.windows(2) {
        let (a, b) = (piece[0], piece[1]);
        let shift = shift_of(a);
        let mut short = false;
        for role in StaffRole::ALL {
            let required = team.required(shift, role);
            let present = within
                .iter()
                .filter(|&&(r, from, to)| r == role && from <= a && to >= b)
                .count() as u32;
            if present >= required {
                continue;
            }
            short = true;
            let extends = gaps.iter_mut().rev().find(|g| g.role == role).filter(|g| {
                g.end == a && g.present == present && g.required == required && g.shift == shift
            });
            match extends {
                Some(gap) => gap.end = b,
                None => gaps.push(TeamGap {
                    start: a,
                    end: b,
                    role,
                    shift,
                    present,
                    required,
                }),
            }
        }
        if short {
            short_ms += (b - a).num_milliseconds();
        }
    }
    gaps.sort_by_key(|g| (g.start, g.role));
    TeamDay {
        date,
        day_ms: day.length_ms(),
        covered: short_ms == 0,
        short_ms,
        gaps,
    }
}

/// The team day of the local `date`.
pub fn team_day(presences: &[Presence], team: &MinimumTeam, tz: Tz, date: NaiveDate) -> TeamDay {
    day_of(&stints(presences), team, tz, date)
}

/// The team days of each of `dates` (for example `month.days()`).
pub fn team_days(
    presences: &[Presence],
    team: &MinimumTeam,
    tz: Tz,
    dates: impl IntoIterator<Item = NaiveDate>,
) -> Vec<TeamDay> {
    let stints = stints(presences);
    dates
        .into_iter()
        .map(|date| day_of(&stints, team, tz, date))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(member: &str, role: StaffRole, from: &str, to: Option<&str>) -> Presence {
        Presence {
            member: MemberId::parse("m", member).unwrap(),
            role,
            from: from.parse().unwrap(),
            to: to.map(|t| t.parse().unwrap()),
            reachable_only: false,
        }
    }

    fn one_each() -> MinimumTeam {
        let one = crate::RoleCounts {
            physician: 1,
            tarm: 1,
            radio_operator: 1,
        };
        MinimumTeam {
            day: one,
            night: one,
            ..MinimumTeam::default()
        }
    }

    #[test]
    fn overlapping_presences_of_one_person_count_once() {
        // Two clock-ins of the same TARM overlap from 12:00 to 13:00 UTC; a
        // second TARM would be needed for a minimum of 2, so the whole day
        // stays short of TARM although two presence rows overlap.
        let tz = chrono_tz::UTC;
        let mut team = one_each();
        team.day.tarm = 2;
        team.night.tarm = 2;
        let ps = vec![
            presence(
                "t1",
                StaffRole::Tarm,
                "2026-05-01T00:00:00Z",
                Some("2026-05-01T13:00:00Z"),
            ),
            presence(
                "t1",
                StaffRole::Tarm,
                "2026-05-01T12:00:00Z",
                Some("2026-05-02T00:00:00Z"),
            ),
        ];
        let day = team_day(&ps, &team, tz, NaiveDate::from_ymd_opt(2026, 5, 1).unwrap());
        let tarm: Vec<_> = day
            .gaps
            .iter()
            .filter(|g| g.role == StaffRole::Tarm)
            .collect();
        assert!(tarm.iter().all(|g| g.present == 1 && g.required == 2));
        let tarm_ms: i64 = tarm.iter().map(|g| g.length_ms()).sum();
        assert_eq!(tarm_ms, 86_400_000);
    }

    #[test]
    fn reachable_only_never_counts_and_open_presence_lasts() {
        let tz = chrono_tz::UTC;
        let mut ps = vec![
            presence("p1", StaffRole::Physician, "2026-04-30T00:00:00Z", None),
            presence("t1", StaffRole::Tarm, "2026-04-30T00:00:00Z", None),
            presence("r1", StaffRole::RadioOperator, "2026-04-30T00:00:00Z", None),
        ];
        let date = NaiveDate::from_ymd_opt(2026, 5, 1).unwrap();
        assert!(team_day(&ps, &one_each(), tz, date).covered);
        ps[2].reachable_only = true;
        let day = team_day(&ps, &one_each(), tz, date);
        assert!(!day.covered);
        assert_eq!(day.short_ms, 86_400_000);
        // Cut at the shift changes (07:00 and 19:00) into three gaps.
        assert_eq!(day.gaps.len(), 3);
        assert!(day
            .gaps
            .iter()
            .all(|g| g.role == StaffRole::RadioOperator && g.present == 0));
    }
}
