//! The central's calendar: months and local days as instants.
//!
//! Annex I counts days; contracts.md says days are counted in the central's
//! own time zone. A local day runs from one local midnight to the next, so it
//! lasts 24 h, or 23 h / 25 h on a daylight-saving change (Brazil has had none
//! since 2019, but the rule is generic and tested with the 2018/2019 dates).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::IndicatorError;

/// A calendar month, the period of the monthly report (`2026-11`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct YearMonth {
    year: i32,
    month: u32,
}

impl YearMonth {
    /// A month.
    ///
    /// # Errors
    /// When `month` is not 1 to 12 or `year` is outside 1900 to 9999.
    pub fn new(year: i32, month: u32) -> Result<Self, IndicatorError> {
        if !(1..=12).contains(&month) {
            return Err(IndicatorError::new(
                "month",
                format!("{month} is not a month (1 to 12)"),
            ));
        }
        if !(1900..=9999).contains(&year) {
            return Err(IndicatorError::new(
                "month",
                format!("{year} is not a plausible year"),
            ));
        }
        Ok(Self { year, month })
    }

    /// Parses `YYYY-MM`, the form of the `report --month` option.
    ///
    /// # Errors
    /// When the text is not `YYYY-MM` with a valid month.
    pub fn parse(raw: &str) -> Result<Self, IndicatorError> {
        let bad = || IndicatorError::new("month", format!("{raw:?} is not a month (YYYY-MM)"));
        let (y, m) = raw.trim().split_once('-').ok_or_else(bad)?;
        // Digits only: `str::parse` would also take a sign ("2026-+1").
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(y, 4) || !digits(m, 2) {
            return Err(bad());
        }
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        Self::new(year, month)
    }

    /// The month containing `date`.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("validated month")
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().expect("validated month")
    }

    /// Number of days: 28 to 31. The denominator of Annex I's "dias do mês".
    pub fn days_in_month(self) -> u32 {
        self.last_day().day()
    }

    /// Every day of the month, in order.
    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        self.first_day()
            .iter_days()
            .take(self.days_in_month() as usize)
    }

    /// Whether `date` falls in this month.
    pub fn contains(self, date: NaiveDate) -> bool {
        Self::of(date) == self
    }

    /// The following month.
    #[must_use]
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The previous month.
    #[must_use]
    pub fn prev(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for YearMonth {
    type Err = IndicatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for YearMonth {
    type Error = IndicatorError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<YearMonth> for String {
    fn from(value: YearMonth) -> Self {
        value.to_string()
    }
}

/// The instant at which the local wall-clock time `local` happens in `tz`.
///
/// A local time skipped by a daylight-saving change (a gap) maps to the first
/// instant after the gap, the moment the clocks jumped; a repeated local time
/// maps to its first occurrence. So local midnight is always "when the day
/// began", even on a day whose midnight never happened.
pub fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Real gaps last minutes to a few hours and begin on a whole
            // minute: the first local minute that exists again is the jump.
            let mut probe = local;
            for _ in 0..(24 * 60) {
                probe += TimeDelta::minutes(1);
                match tz.from_local_datetime(&probe) {
                    LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                        return at.with_timezone(&Utc);
                    }
                    LocalResult::None => {}
                }
            }
            // No zone has a day-long gap; fall back to the UTC reading.
            Utc.from_utc_datetime(&local)
        }
    }
}

/// One day of the central's calendar, as the half-open interval of instants
/// `[start, end)` between two local midnights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LocalDay {
    /// The calendar date in the central's time zone.
    pub date: NaiveDate,
    /// Local midnight that opens the day.
    pub start: DateTime<Utc>,
    /// Local midnight that opens the next day (excluded).
    pub end: DateTime<Utc>,
}

impl LocalDay {
    /// The local day `date` in `tz`.
    pub fn new(tz: Tz, date: NaiveDate) -> Self {
        let next = date.succ_opt().expect("date within chrono's range");
        Self {
            date,
            start: local_instant(tz, date.and_time(chrono::NaiveTime::MIN)),
            end: local_instant(tz, next.and_time(chrono::NaiveTime::MIN)),
        }
    }

    /// Its length in milliseconds: 86 400 000 on an ordinary day.
    pub fn length_ms(&self) -> i64 {
        (self.end - self.start).num_milliseconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_count_their_days() {
        let m = YearMonth::parse("2026-11").unwrap();
        assert_eq!((m.year(), m.month(), m.days_in_month()), (2026, 11, 30));
        assert_eq!(m.to_string(), "2026-11");
        assert_eq!(YearMonth::parse("2028-02").unwrap().days_in_month(), 29);
        assert_eq!(YearMonth::parse("2027-02").unwrap().days_in_month(), 28);
        assert_eq!(YearMonth::parse("2026-12").unwrap().days_in_month(), 31);
        assert_eq!(
            YearMonth::parse("2026-12").unwrap().next(),
            YearMonth::parse("2027-01").unwrap()
        );
        assert_eq!(
            YearMonth::parse("2027-01").unwrap().prev(),
            YearMonth::parse("2026-12").unwrap()
        );
        assert_eq!(YearMonth::parse("2026-12").unwrap().days().count(), 31);
        for bad in ["2026-13", "2026-00", "26-11", "2026/11", "2026-1", ""] {
            assert_eq!(YearMonth::parse(bad).unwrap_err().field, "month", "{bad}");
        }
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, "\"2026-11\"");
        assert_eq!(serde_json::from_str::<YearMonth>(&json).unwrap(), m);
    }

    #[test]
    fn an_ordinary_sao_paulo_day_is_24_h_from_03_00_utc() {
        let day = LocalDay::new(
            chrono_tz::America::Sao_Paulo,
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        );
        assert_eq!(day.start.to_rfc3339(), "2026-11-23T03:00:00+00:00");
        assert_eq!(day.end.to_rfc3339(), "2026-11-24T03:00:00+00:00");
        assert_eq!(day.length_ms(), 86_400_000);
    }

    #[test]
    fn daylight_saving_days_last_23_and_25_hours() {
        let tz = chrono_tz::America::Sao_Paulo;
        // 04/11/2018: clocks jumped from 00:00 to 01:00 (-03 → -02); the
        // day began at the jump, 03:00 UTC, and ended at 02:00 UTC next day.
        let spring = LocalDay::new(tz, NaiveDate::from_ymd_opt(2018, 11, 4).unwrap());
        assert_eq!(spring.start.to_rfc3339(), "2018-11-04T03:00:00+00:00");
        assert_eq!(spring.length_ms(), 23 * 3_600_000);
        // 16/02/2019: at midnight clocks went back to 23:00 (-02 → -03), so
        // the 16th had its 23:00 hour twice.
        let autumn = LocalDay::new(tz, NaiveDate::from_ymd_opt(2019, 2, 16).unwrap());
        assert_eq!(autumn.length_ms(), 25 * 3_600_000);
        assert_eq!(autumn.end.to_rfc3339(), "2019-02-17T03:00:00+00:00");
    }
}
