//! The regulation room's staff presence, and unit histories for a period.

use chrono::{DateTime, Utc};
use samu_domain::{CentralId, MemberId, StaffRole};
use samu_fleet::StatusChange;
use sqlx::Row;

use crate::{
    registry::{unit_from_row, UnitRow},
    sql::{corrupt, from_ms, ms},
    Store, StoreError,
};

/// One presence of a professional in the regulation room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRow {
    /// Id.
    pub id: String,
    /// The central.
    pub central: CentralId,
    /// The professional (opaque id).
    pub member: MemberId,
    /// The role filled.
    pub role: StaffRole,
    /// Reachable only (on call): recorded, never counted.
    pub reachable_only: bool,
    /// Clock-in.
    pub started_at: DateTime<Utc>,
    /// Clock-out; none while on duty.
    pub ended_at: Option<DateTime<Utc>>,
}

const PRESENCE_COLUMNS: &str =
    "id, central_id, member_id, role, reachable_only, started_at, ended_at";

fn presence_from_row(r: &sqlx::any::AnyRow) -> Result<PresenceRow, StoreError> {
    const T: &str = "staff_presence";
    Ok(PresenceRow {
        id: r.try_get("id")?,
        central: CentralId::parse("central_id", r.try_get("central_id")?).map_err(corrupt(T))?,
        member: MemberId::parse("member_id", r.try_get("member_id")?).map_err(corrupt(T))?,
        role: StaffRole::parse("role", r.try_get("role")?).map_err(corrupt(T))?,
        reachable_only: r.try_get::<i64, _>("reachable_only")? != 0,
        started_at: from_ms(T, r.try_get("started_at")?)?,
        ended_at: r
            .try_get::<Option<i64>, _>("ended_at")?
            .map(|v| from_ms(T, v))
            .transpose()?,
    })
}

impl Store {
    /// Clocks a professional in, or returns the presence already open for
    /// the same central, member and role (clocking in twice is harmless).
    ///
    /// # Errors
    /// A database failure (for example an unknown central).
    pub async fn clock_in(
        &self,
        central: &CentralId,
        member: &MemberId,
        role: StaffRole,
        reachable_only: bool,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PresenceRow, StoreError> {
        let mut tx = self.pool().begin().await?;
        let open = sqlx::query(&format!(
            "SELECT {PRESENCE_COLUMNS} FROM staff_presence \
             WHERE central_id = $1 AND member_id = $2 AND role = $3 AND ended_at IS NULL"
        ))
        .bind(central.as_str())
        .bind(member.as_str())
        .bind(role.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = open {
            return presence_from_row(&row);
        }
        let row = PresenceRow {
            id: uuid::Uuid::now_v7().to_string(),
            central: central.clone(),
            member: member.clone(),
            role,
            reachable_only,
            started_at: at,
            ended_at: None,
        };
        sqlx::query(
            "INSERT INTO staff_presence (id, central_id, member_id, role, reachable_only, started_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(central.as_str())
        .bind(member.as_str())
        .bind(role.as_str())
        .bind(i64::from(reachable_only))
        .bind(ms(at))
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// One presence.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn presence(&self, id: &str) -> Result<Option<PresenceRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PRESENCE_COLUMNS} FROM staff_presence WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| presence_from_row(&r)).transpose()
    }

    /// Clocks a presence out (once: a closed presence keeps its end).
    ///
    /// # Errors
    /// A database failure.
    pub async fn clock_out(
        &self,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<PresenceRow>, StoreError> {
        sqlx::query("UPDATE staff_presence SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(ms(at))
            .execute(self.pool())
            .await?;
        self.presence(id).await
    }

    /// Presences open now at a central.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn on_duty(&self, central: &CentralId) -> Result<Vec<PresenceRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PRESENCE_COLUMNS} FROM staff_presence \
             WHERE central_id = $1 AND ended_at IS NULL ORDER BY role, started_at"
        ))
        .bind(central.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(presence_from_row).collect()
    }

    /// Presences of a central that overlap `[from, to)`.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn presences_between(
        &self,
        central: &CentralId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<PresenceRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PRESENCE_COLUMNS} FROM staff_presence \
             WHERE central_id = $1 AND started_at < $3 AND (ended_at IS NULL OR ended_at > $2) \
             ORDER BY started_at"
        ))
        .bind(central.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(presence_from_row).collect()
    }

    /// Every unit of a central with its status events that matter for
    /// `[from, to)`: the last one before `from` (the state the period
    /// starts in) and every one inside it.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn unit_histories(
        &self,
        central: &CentralId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(UnitRow, Vec<StatusChange>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, central_id, unit_type, base_id, label, habilitated_from, retired_at \
             FROM units WHERE central_id = $1 ORDER BY id",
        )
        .bind(central.as_str())
        .fetch_all(self.pool())
        .await?;
        let mut histories = Vec::with_capacity(rows.len());
        for row in &rows {
            let unit = unit_from_row(row)?;
            let events = self
                .status_history_between(&unit.record.id, from, to)
                .await?;
            histories.push((unit, events));
        }
        Ok(histories)
    }
}
