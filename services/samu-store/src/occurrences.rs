//! Occurrences: their append-only events, the one-row-per-occurrence
//! projection queues read, the units engaged on them, and the audit trail.
//!
//! Each new event is written in one transaction with the projection, the
//! engagement change it implies and its audit record, so a reader never sees
//! one without the others. Two consoles racing on one occurrence are told
//! apart by the projection's version: the loser gets
//! [`AppendOutcome::VersionConflict`] and retries on fresh state.

use chrono::{DateTime, Utc};
use samu_domain::{CentralId, UnitId};
use samu_occurrence::{Actor, Clock, Event, EventBody, Occurrence, OccurrenceId, Priority};
use sqlx::Row;

use crate::{
    sql::{corrupt, from_ms, ms},
    Store, StoreError,
};

/// A read or write of an occurrence's personal data (LGPD art. 37).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When.
    pub at: DateTime<Utc>,
    /// The credential used.
    pub credential_id: String,
    /// The user account, for a person.
    pub user_id: Option<String>,
    /// Who, as a name.
    pub actor: String,
    /// Their role.
    pub role: String,
    /// What they did (`read`, `call_received`, `regulated`, …).
    pub action: String,
    /// The occurrence.
    pub occurrence_id: Option<String>,
    /// The personal fields read or written.
    pub fields: Vec<String>,
    /// From where (the client's address, as the server saw it).
    pub remote_addr: Option<String>,
}

/// The engagement change an event implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engagement {
    /// None.
    Unchanged,
    /// The unit starts working this occurrence.
    Engage(UnitId),
    /// The unit stops working it.
    Release(UnitId),
}

/// One event to append, with what goes with it.
#[derive(Debug)]
pub struct OccurrenceWrite<'a> {
    /// The occurrence with the event applied.
    pub occurrence: &'a Occurrence,
    /// The new event (its `no` is the new version).
    pub event: &'a Event,
    /// The console's idempotency key for the command, kept with the event
    /// so a repeat of the command is recognised.
    pub request_key: Option<&'a str>,
    /// Engagement change.
    pub engagement: Engagement,
    /// The audit record of the call.
    pub audit: &'a AuditRecord,
}

/// How an append ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored.
    Appended,
    /// Another event was stored first: reload and try again.
    VersionConflict,
    /// The central's next number was taken meanwhile: try again.
    NumberTaken,
    /// The unit is engaged on another occurrence.
    UnitEngaged(String),
    /// The caller's idempotency key was stored meanwhile by a concurrent
    /// repeat of the command: look it up.
    KeyTaken,
}

/// What an idempotency key was used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandKey {
    /// The occurrence the command changed.
    pub occurrence_id: OccurrenceId,
    /// The event it recorded.
    pub event_no: u64,
    /// The event's kind.
    pub kind: String,
}

/// A stored occurrence's history.
#[derive(Debug, Clone)]
pub struct StoredOccurrence {
    /// Its id.
    pub id: OccurrenceId,
    /// The central's number for it.
    pub number: u64,
    /// Its events, in order.
    pub events: Vec<Event>,
}

const EVENT_COLUMNS: &str = "e.occurrence_id, o.number, e.event_no, e.at, e.recorded_at, \
     e.credential_id, e.actor_label, e.actor_role, e.body";

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db
                    .code()
                    .is_some_and(|c| c == "23505" || c == "1555" || c == "2067")
                || db.message().contains("UNIQUE")
                || db.message().contains("duplicate key")
        }
        _ => false,
    }
}

impl Store {
    /// Appends one event with its projection, engagement and audit record.
    ///
    /// # Errors
    /// A database failure.
    pub async fn append_occurrence_event(
        &self,
        write: &OccurrenceWrite<'_>,
    ) -> Result<AppendOutcome, StoreError> {
        let occ = write.occurrence;
        let event = write.event;
        let mut tx = self.pool().begin().await?;
        if event.no == 1 {
            let insert = sqlx::query(
                "INSERT INTO occurrences (id, central_id, number, status, priority, counted, \
                 opened_at, regulated_at, first_dispatch_at, first_on_scene_at, closed_at, \
                 version, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(occ.id.as_str())
            .bind(occ.central.as_str())
            .bind(i64::try_from(occ.number).unwrap_or(i64::MAX));
            let inserted = bind_projection(insert, occ)
                .bind(1_i64)
                .bind(ms(event.recorded_at))
                .execute(&mut *tx)
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(AppendOutcome::NumberTaken),
                Err(e) => return Err(e.into()),
            }
        } else {
            let update = sqlx::query(
                "UPDATE occurrences SET status = $3, priority = $4, counted = $5, opened_at = $6, \
                 regulated_at = $7, first_dispatch_at = $8, first_on_scene_at = $9, closed_at = $10, \
                 version = $11, updated_at = $12 WHERE id = $1 AND version = $2",
            )
            .bind(occ.id.as_str())
            .bind(i64::try_from(event.no - 1).unwrap_or(i64::MAX));
            let updated = bind_projection(update, occ)
                .bind(i64::try_from(event.no).unwrap_or(i64::MAX))
                .bind(ms(event.recorded_at))
                .execute(&mut *tx)
                .await?;
            if updated.rows_affected() == 0 {
                return Ok(AppendOutcome::VersionConflict);
            }
        }
        let body = serde_json::to_string(&event.body).map_err(|e| StoreError::Corrupt {
            table: "occurrence_events",
            message: e.to_string(),
        })?;
        let inserted = sqlx::query(
            "INSERT INTO occurrence_events (occurrence_id, event_no, kind, at, recorded_at, \
             credential_id, actor_label, actor_role, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(occ.id.as_str())
        .bind(i64::try_from(event.no).unwrap_or(i64::MAX))
        .bind(event.body.kind())
        .bind(ms(event.at))
        .bind(ms(event.recorded_at))
        .bind(&event.actor.credential_id)
        .bind(&event.actor.label)
        .bind(&event.actor.role)
        .bind(body)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(AppendOutcome::VersionConflict),
            Err(e) => return Err(e.into()),
        }
        match &write.engagement {
            Engagement::Unchanged => {}
            Engagement::Engage(unit) => {
                let busy: Option<String> = sqlx::query_scalar(
                    "SELECT occurrence_id FROM unit_engagements WHERE unit_id = $1",
                )
                .bind(unit.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(other) = busy {
                    return Ok(AppendOutcome::UnitEngaged(other));
                }
                let engaged = sqlx::query(
                    "INSERT INTO unit_engagements (unit_id, occurrence_id, since) VALUES ($1, $2, $3)",
                )
                .bind(unit.as_str())
                .bind(occ.id.as_str())
                .bind(ms(event.at))
                .execute(&mut *tx)
                .await;
                match engaged {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Ok(AppendOutcome::UnitEngaged("another occurrence".into()))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Engagement::Release(unit) => {
                sqlx::query(
                    "DELETE FROM unit_engagements WHERE unit_id = $1 AND occurrence_id = $2",
                )
                .bind(unit.as_str())
                .bind(occ.id.as_str())
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(key) = write.request_key {
            let kept = sqlx::query(
                "INSERT INTO command_keys (credential_id, request_key, occurrence_id, event_no, kind, \
                 recorded_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&event.actor.credential_id)
            .bind(key)
            .bind(occ.id.as_str())
            .bind(i64::try_from(event.no).unwrap_or(i64::MAX))
            .bind(event.body.kind())
            .bind(ms(event.recorded_at))
            .execute(&mut *tx)
            .await;
            match kept {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(AppendOutcome::KeyTaken),
                Err(e) => return Err(e.into()),
            }
        }
        insert_audit(&mut tx, write.audit).await?;
        tx.commit().await?;
        Ok(AppendOutcome::Appended)
    }

    /// What `credential`'s command with idempotency key `key` recorded, if
    /// it was recorded.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn command_key(
        &self,
        credential_id: &str,
        key: &str,
    ) -> Result<Option<CommandKey>, StoreError> {
        let row = sqlx::query(
            "SELECT occurrence_id, event_no, kind FROM command_keys \
             WHERE credential_id = $1 AND request_key = $2",
        )
        .bind(credential_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let id: String = r.try_get("occurrence_id")?;
            let event_no: i64 = r.try_get("event_no")?;
            Ok(CommandKey {
                occurrence_id: OccurrenceId::parse("occurrence_id", &id)
                    .map_err(corrupt("command_keys"))?,
                event_no: u64::try_from(event_no).unwrap_or_default(),
                kind: r.try_get("kind")?,
            })
        })
        .transpose()
    }

    /// Writes an audit record on its own (a read).
    ///
    /// # Errors
    /// A database failure.
    pub async fn record_audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        insert_audit(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The central's next occurrence number.
    ///
    /// # Errors
    /// A database failure.
    pub async fn next_occurrence_number(&self, central: &CentralId) -> Result<u64, StoreError> {
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(number) FROM occurrences WHERE central_id = $1")
                .bind(central.as_str())
                .fetch_one(self.pool())
                .await?;
        Ok(u64::try_from(max.unwrap_or(0)).unwrap_or(0) + 1)
    }

    /// One occurrence's history; `None` when unknown.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn occurrence(
        &self,
        id: &OccurrenceId,
    ) -> Result<Option<StoredOccurrence>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM occurrence_events e \
             JOIN occurrences o ON o.id = e.occurrence_id \
             WHERE e.occurrence_id = $1 ORDER BY e.event_no"
        ))
        .bind(id.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(group(&rows)?.into_iter().next())
    }

    /// Histories of the occurrences still open, and of those closed since
    /// `closed_since`, of one central or all, oldest first.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn open_occurrences(
        &self,
        central: Option<&CentralId>,
        closed_since: DateTime<Utc>,
    ) -> Result<Vec<StoredOccurrence>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM occurrence_events e \
             JOIN occurrences o ON o.id = e.occurrence_id \
             WHERE (o.closed_at IS NULL OR o.closed_at >= $1) \
               AND ($2 = '' OR o.central_id = $2) \
             ORDER BY o.opened_at, o.id, e.event_no"
        ))
        .bind(ms(closed_since))
        .bind(central.map_or("", |c| c.as_str()))
        .fetch_all(self.pool())
        .await?;
        group(&rows)
    }

    /// The clocks of a central's occurrences whose call was received in
    /// `[from, to)`, from the projection.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn occurrence_clocks(
        &self,
        central: &CentralId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Clock>, StoreError> {
        const T: &str = "occurrences";
        let rows = sqlx::query(
            "SELECT priority, counted, opened_at, regulated_at, first_dispatch_at, first_on_scene_at \
             FROM occurrences WHERE central_id = $1 AND opened_at >= $2 AND opened_at < $3",
        )
        .bind(central.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(self.pool())
        .await?;
        let opt = |r: &sqlx::any::AnyRow, c: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
            r.try_get::<Option<i64>, _>(c)?
                .map(|v| from_ms(T, v))
                .transpose()
        };
        rows.iter()
            .map(|r| {
                Ok(Clock {
                    central: central.clone(),
                    priority: r
                        .try_get::<Option<String>, _>("priority")?
                        .map(|p| Priority::parse("priority", &p))
                        .transpose()
                        .map_err(corrupt(T))?,
                    counted: r.try_get::<i64, _>("counted")? != 0,
                    call_at: from_ms(T, r.try_get("opened_at")?)?,
                    regulated_at: opt(r, "regulated_at")?,
                    first_dispatch_at: opt(r, "first_dispatch_at")?,
                    first_on_scene_at: opt(r, "first_on_scene_at")?,
                })
            })
            .collect()
    }

    /// Every unit engaged on an occurrence, with it.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn engaged_units(&self) -> Result<Vec<(UnitId, OccurrenceId)>, StoreError> {
        let rows = sqlx::query("SELECT unit_id, occurrence_id FROM unit_engagements")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    UnitId::parse("unit_id", r.try_get("unit_id")?)
                        .map_err(corrupt("unit_engagements"))?,
                    OccurrenceId::parse("occurrence_id", r.try_get("occurrence_id")?)
                        .map_err(corrupt("unit_engagements"))?,
                ))
            })
            .collect()
    }

    /// Every audit record from `since` on (logins included), oldest first,
    /// at most `limit`: the record of processing LGPD art. 37 asks for.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn audit_since(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, credential_id, user_id, actor, role, action, occurrence_id, fields, remote_addr \
             FROM audit_log WHERE at >= $1 ORDER BY at, id LIMIT $2",
        )
        .bind(ms(since))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// The audit trail of one occurrence, oldest first.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn audit_trail(
        &self,
        occurrence: &OccurrenceId,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, credential_id, user_id, actor, role, action, occurrence_id, fields, remote_addr \
             FROM audit_log WHERE occurrence_id = $1 ORDER BY at, id",
        )
        .bind(occurrence.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// A central's response targets per priority (JSON), when set.
    ///
    /// # Errors
    /// A database failure.
    pub async fn response_targets(
        &self,
        central: &CentralId,
    ) -> Result<Option<String>, StoreError> {
        let value: Option<Option<String>> = sqlx::query_scalar(
            "SELECT response_targets FROM central_settings WHERE central_id = $1",
        )
        .bind(central.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(value.flatten())
    }

    /// Sets a central's response targets (JSON); `None` restores the defaults.
    ///
    /// # Errors
    /// A database failure (for example an unknown central).
    pub async fn set_response_targets(
        &self,
        central: &CentralId,
        targets: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO central_settings (central_id, settings, programmed_monthly_centavos, \
             updated_at, response_targets) VALUES ($1, NULL, 0, $2, $3) \
             ON CONFLICT (central_id) DO UPDATE SET response_targets = $3, updated_at = $2",
        )
        .bind(central.as_str())
        .bind(ms(now))
        .bind(targets)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// Binds the projection's derived columns, in the order both statements
/// name them: status, priority, counted, opened, regulated, first dispatch,
/// first on scene, closed.
fn bind_projection<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    occ: &'q Occurrence,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let clock = occ.clock();
    query
        .bind(occ.status().as_str())
        .bind(clock.priority.map(|p| p.as_str()))
        .bind(i64::from(clock.counted))
        .bind(ms(clock.call_at))
        .bind(clock.regulated_at.map(ms))
        .bind(clock.first_dispatch_at.map(ms))
        .bind(clock.first_on_scene_at.map(ms))
        .bind(occ.closed_at().map(ms))
}

fn audit_from_row(r: &sqlx::any::AnyRow) -> Result<AuditRecord, StoreError> {
    let fields: String = r.try_get("fields")?;
    Ok(AuditRecord {
        at: from_ms("audit_log", r.try_get("at")?)?,
        credential_id: r.try_get("credential_id")?,
        user_id: r.try_get("user_id")?,
        actor: r.try_get("actor")?,
        role: r.try_get("role")?,
        action: r.try_get("action")?,
        occurrence_id: r.try_get("occurrence_id")?,
        fields: serde_json::from_str(&fields).map_err(|e| StoreError::Corrupt {
            table: "audit_log",
            message: e.to_string(),
        })?,
        remote_addr: r.try_get("remote_addr")?,
    })
}

async fn insert_audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    record: &AuditRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, credential_id, user_id, actor, role, action, \
         occurrence_id, fields, remote_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(ms(record.at))
    .bind(&record.credential_id)
    .bind(record.user_id.clone())
    .bind(&record.actor)
    .bind(&record.role)
    .bind(&record.action)
    .bind(record.occurrence_id.clone())
    .bind(serde_json::to_string(&record.fields).unwrap_or_else(|_| "[]".into()))
    .bind(record.remote_addr.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Rows of [`EVENT_COLUMNS`], ordered by occurrence then event, into histories.
fn group(rows: &[sqlx::any::AnyRow]) -> Result<Vec<StoredOccurrence>, StoreError> {
    const T: &str = "occurrence_events";
    let mut out: Vec<StoredOccurrence> = Vec::new();
    for r in rows {
        let id: String = r.try_get("occurrence_id")?;
        let body: String = r.try_get("body")?;
        let body: EventBody = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
            table: T,
            message: e.to_string(),
        })?;
        let event = Event {
            no: u64::try_from(r.try_get::<i64, _>("event_no")?).unwrap_or(0),
            at: from_ms(T, r.try_get("at")?)?,
            recorded_at: from_ms(T, r.try_get("recorded_at")?)?,
            actor: Actor {
                credential_id: r.try_get("credential_id")?,
                label: r.try_get("actor_label")?,
                role: r.try_get("actor_role")?,
            },
            body,
        };
        match out.last_mut() {
            Some(last) if last.id.as_str() == id => last.events.push(event),
            _ => out.push(StoredOccurrence {
                id: OccurrenceId::parse("occurrence_id", &id).map_err(corrupt(T))?,
                number: u64::try_from(r.try_get::<i64, _>("number")?).unwrap_or(0),
                events: vec![event],
            }),
        }
    }
    Ok(out)
}

impl Store {
    /// The occurrence a unit is engaged on, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn engagement_of(&self, unit: &UnitId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT occurrence_id FROM unit_engagements WHERE unit_id = $1")
                .bind(unit.as_str())
                .fetch_optional(self.pool())
                .await?,
        )
    }
}

impl Store {
    /// Occurrences closed before `closed_before` whose personal data is still
    /// kept, oldest first, at most `limit`.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn occurrences_to_purge(
        &self,
        closed_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OccurrenceId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM occurrences WHERE closed_at IS NOT NULL AND closed_at < $1 \
             AND personal_purged_at IS NULL ORDER BY closed_at LIMIT $2",
        )
        .bind(ms(closed_before))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        ids.iter()
            .map(|id| OccurrenceId::parse("id", id).map_err(corrupt("occurrences")))
            .collect()
    }

    /// Erases the personal data of one occurrence: its call event's body is
    /// replaced by `erased_body` (the same call with the personal fields
    /// emptied), the projection records when, and the audit trail says who.
    /// The only change ever made to a stored event, by law (LGPD art. 16).
    ///
    /// # Errors
    /// A database failure.
    pub async fn purge_personal_data(
        &self,
        id: &OccurrenceId,
        erased_body: &EventBody,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let body = serde_json::to_string(erased_body).map_err(|e| StoreError::Corrupt {
            table: "occurrence_events",
            message: e.to_string(),
        })?;
        let mut tx = self.pool().begin().await?;
        let marked = sqlx::query(
            "UPDATE occurrences SET personal_purged_at = $2 \
             WHERE id = $1 AND personal_purged_at IS NULL",
        )
        .bind(id.as_str())
        .bind(ms(audit.at))
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE occurrence_events SET body = $2 WHERE occurrence_id = $1 AND event_no = 1",
        )
        .bind(id.as_str())
        .bind(body)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// When an occurrence's personal data was erased, if it was.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn personal_purged_at(
        &self,
        id: &OccurrenceId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<Option<i64>> =
            sqlx::query_scalar("SELECT personal_purged_at FROM occurrences WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(self.pool())
                .await?;
        at.flatten().map(|v| from_ms("occurrences", v)).transpose()
    }
}

impl Store {
    /// Deletes stored position fixes taken before `before`; returns how many.
    ///
    /// # Errors
    /// A database failure.
    pub async fn purge_positions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM unit_positions WHERE fix_at < $1")
            .bind(ms(before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Forgets idempotency keys recorded before `before` (retries are long
    /// over by then); returns how many.
    ///
    /// # Errors
    /// A database failure.
    pub async fn purge_command_keys_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM command_keys WHERE recorded_at < $1")
            .bind(ms(before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes audit records written before `before` (past the ten years
    /// accountability records are kept); returns how many.
    ///
    /// # Errors
    /// A database failure.
    pub async fn purge_audit_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(ms(before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
