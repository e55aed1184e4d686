//! Small helpers shared by the store's modules.

use chrono::{DateTime, TimeZone, Utc};

use crate::StoreError;

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `columns` columns.
/// PostgreSQL and SQLite both take `$N` placeholders; sqlx's `QueryBuilder`
/// writes `?` under the `Any` driver, which PostgreSQL refuses.
pub(crate) fn values_clause(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..columns {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * columns + col + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Milliseconds since the epoch, as stored.
pub(crate) fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored millisecond count back to a time.
pub(crate) fn from_ms(table: &'static str, value: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(value)
        .single()
        .ok_or_else(|| StoreError::Corrupt {
            table,
            message: format!("{value} is not a valid time"),
        })
}

/// Maps a domain validation failure of a stored value to a corruption error.
pub(crate) fn corrupt(table: &'static str) -> impl Fn(samu_domain::ValidationError) -> StoreError {
    move |e| StoreError::Corrupt {
        table,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_clause_numbers_placeholders_row_by_row() {
        assert_eq!(super::values_clause(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::values_clause(1, 1), "($1)");
    }
}
