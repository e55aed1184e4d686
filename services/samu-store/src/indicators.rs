//! Indicator settings of each central, and the unit-days and team days the
//! daily job computes.

use chrono::{DateTime, NaiveDate, Utc};
use samu_domain::{CentralId, UnitId, UnitType};
use samu_indicators::{TeamDay, UnitDay};
use sqlx::Row;

use crate::{
    sql::{corrupt, ms, values_clause},
    Store, StoreError,
};

/// A central's stored indicator settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsRow {
    /// JSON of `samu_indicators::CentralSettings`; none means the defaults
    /// for the central's population.
    pub settings: Option<String>,
    /// Monthly amount programmed for the central (seed, Annex II), centavos.
    pub programmed_monthly_centavos: i64,
}

fn date_str(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn parse_date(table: &'static str, raw: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|e| StoreError::Corrupt {
        table,
        message: format!("day {raw:?}: {e}"),
    })
}

fn json_err(table: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt {
        table,
        message: e.to_string(),
    }
}

impl Store {
    /// A central's indicator settings.
    ///
    /// # Errors
    /// A database failure.
    pub async fn central_settings(
        &self,
        central: &CentralId,
    ) -> Result<Option<SettingsRow>, StoreError> {
        let row = sqlx::query("SELECT settings, programmed_monthly_centavos FROM central_settings WHERE central_id = $1")
            .bind(central.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(SettingsRow {
                settings: r.try_get("settings")?,
                programmed_monthly_centavos: r.try_get("programmed_monthly_centavos")?,
            })
        })
        .transpose()
    }

    /// Stores a central's indicator settings.
    ///
    /// # Errors
    /// A database failure (for example an unknown central).
    pub async fn put_central_settings(
        &self,
        central: &CentralId,
        settings: &SettingsRow,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO central_settings (central_id, settings, programmed_monthly_centavos, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (central_id) DO UPDATE SET settings = excluded.settings, \
             programmed_monthly_centavos = excluded.programmed_monthly_centavos, updated_at = excluded.updated_at",
        )
        .bind(central.as_str())
        .bind(settings.settings.clone())
        .bind(settings.programmed_monthly_centavos)
        .bind(ms(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Writes unit-days, replacing those already stored for the same unit
    /// and day (recomputing a period is idempotent).
    ///
    /// # Errors
    /// A database failure.
    pub async fn upsert_unit_days(
        &self,
        central: &CentralId,
        days: &[UnitDay],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for chunk in days.chunks(400) {
            let sql = format!(
                "INSERT INTO unit_days (central_id, unit_id, day, unit_type, day_ms, in_operation_ms, counted_out_ms, \
                 out_ms, in_operation, computed_at) VALUES {} ON CONFLICT (unit_id, day) DO UPDATE SET \
                 unit_type = excluded.unit_type, day_ms = excluded.day_ms, in_operation_ms = excluded.in_operation_ms, \
                 counted_out_ms = excluded.counted_out_ms, out_ms = excluded.out_ms, \
                 in_operation = excluded.in_operation, computed_at = excluded.computed_at",
                values_clause(chunk.len(), 10)
            );
            let mut q = sqlx::query(&sql).persistent(false);
            for d in chunk {
                q = q
                    .bind(central.as_str().to_owned())
                    .bind(d.unit.as_str().to_owned())
                    .bind(date_str(d.date))
                    .bind(d.unit_type.code())
                    .bind(d.day_ms)
                    .bind(d.in_operation_ms)
                    .bind(d.counted_out_ms)
                    .bind(serde_json::to_string(&d.out_ms).unwrap_or_else(|_| "{}".into()))
                    .bind(i64::from(d.in_operation))
                    .bind(ms(now));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes team days, replacing those already stored.
    ///
    /// # Errors
    /// A database failure.
    pub async fn upsert_team_days(
        &self,
        central: &CentralId,
        days: &[TeamDay],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for d in days {
            sqlx::query(
                "INSERT INTO team_days (central_id, day, day_ms, covered, short_ms, gaps, computed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (central_id, day) DO UPDATE SET \
                 day_ms = excluded.day_ms, covered = excluded.covered, short_ms = excluded.short_ms, \
                 gaps = excluded.gaps, computed_at = excluded.computed_at",
            )
            .bind(central.as_str())
            .bind(date_str(d.date))
            .bind(d.day_ms)
            .bind(i64::from(d.covered))
            .bind(d.short_ms)
            .bind(serde_json::to_string(&d.gaps).unwrap_or_else(|_| "[]".into()))
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stored unit-days of a central in `[from, to]`, by unit and day.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn unit_days(
        &self,
        central: &CentralId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<UnitDay>, StoreError> {
        const T: &str = "unit_days";
        let rows = sqlx::query(
            "SELECT unit_id, day, unit_type, day_ms, in_operation_ms, counted_out_ms, out_ms, in_operation \
             FROM unit_days WHERE central_id = $1 AND day >= $2 AND day <= $3 ORDER BY unit_id, day",
        )
        .bind(central.as_str())
        .bind(date_str(from))
        .bind(date_str(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let out: String = r.try_get("out_ms")?;
                Ok(UnitDay {
                    unit: UnitId::parse("unit_id", r.try_get("unit_id")?).map_err(corrupt(T))?,
                    unit_type: UnitType::parse("unit_type", r.try_get("unit_type")?)
                        .map_err(corrupt(T))?,
                    date: parse_date(T, r.try_get("day")?)?,
                    day_ms: r.try_get("day_ms")?,
                    in_operation_ms: r.try_get("in_operation_ms")?,
                    out_ms: serde_json::from_str(&out).map_err(json_err(T))?,
                    counted_out_ms: r.try_get("counted_out_ms")?,
                    in_operation: r.try_get::<i64, _>("in_operation")? != 0,
                })
            })
            .collect()
    }

    /// Stored team days of a central in `[from, to]`.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn team_days(
        &self,
        central: &CentralId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TeamDay>, StoreError> {
        const T: &str = "team_days";
        let rows = sqlx::query(
            "SELECT day, day_ms, covered, short_ms, gaps FROM team_days \
             WHERE central_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
        )
        .bind(central.as_str())
        .bind(date_str(from))
        .bind(date_str(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let gaps: String = r.try_get("gaps")?;
                Ok(TeamDay {
                    date: parse_date(T, r.try_get("day")?)?,
                    day_ms: r.try_get("day_ms")?,
                    covered: r.try_get::<i64, _>("covered")? != 0,
                    short_ms: r.try_get("short_ms")?,
                    gaps: serde_json::from_str(&gaps).map_err(json_err(T))?,
                })
            })
            .collect()
    }

    /// The newest local day the daily job stored for a central.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn last_computed_day(
        &self,
        central: &CentralId,
    ) -> Result<Option<NaiveDate>, StoreError> {
        let day: Option<String> =
            sqlx::query("SELECT MAX(day) AS day FROM team_days WHERE central_id = $1")
                .bind(central.as_str())
                .fetch_one(self.pool())
                .await?
                .try_get("day")?;
        day.map(|d| parse_date("team_days", &d)).transpose()
    }
}
