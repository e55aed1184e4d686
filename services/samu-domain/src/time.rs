//! Time precision. The central works in whole milliseconds: that is what the
//! store keeps, and a receiver's fix is no more precise than that. Every time
//! is truncated where it enters (the wire, the server's clock), so a state
//! restored from the store equals the state that was stored.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// `at` without its sub-millisecond part.
pub fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(at)
}

/// The current time, in whole milliseconds.
pub fn now() -> DateTime<Utc> {
    to_millis(Utc::now())
}

/// The time from `from` to `to`; zero when `to` is not later (an age of a
/// time ahead of the clock, a wait for a time already past).
pub fn span(from: DateTime<Utc>, to: DateTime<Utc>) -> std::time::Duration {
    (to - from).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike};

    #[test]
    fn truncates_below_the_millisecond() {
        let at = chrono::Utc
            .timestamp_opt(1_795_443_169, 411_993_377)
            .unwrap();
        assert_eq!(super::to_millis(at).nanosecond(), 411_000_000);
        assert_eq!(super::now().nanosecond() % 1_000_000, 0);
    }

    #[test]
    fn a_span_backwards_is_zero() {
        let at = chrono::Utc.timestamp_opt(1_795_443_169, 0).unwrap();
        let later = at + chrono::TimeDelta::milliseconds(1_500);
        assert_eq!(
            super::span(at, later),
            std::time::Duration::from_millis(1_500)
        );
        assert_eq!(super::span(later, at), std::time::Duration::ZERO);
    }
}
