//! The ingest path's writes, batched, and restoring the fleet on start.
//!
//! The runtime collects the changes of many reports into one [`WriteBatch`]
//! and writes it in one transaction: at tens of thousands of reports a second
//! a round trip per report would be the bottleneck. Every row is keyed by
//! unit and per-unit number and rows already stored are skipped (on
//! PostgreSQL the track's `COPY` refuses them and the batch is written again
//! with inserts that skip them), so writing the same batch twice (a retry
//! after a lost commit acknowledgement) stores nothing twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use samu_domain::{CrewMember, GeoPoint, OutOfServiceReason, UnitId, UnitStatus};
use samu_fleet::{
    CrewChange, Fix, PositionKind, StatusChange, StatusSource, UnitRecord, UnitSnapshot,
};
use sqlx::{any::AnyArguments, Any, AnyConnection, Connection, PgConnection, PgPool, Row};

use crate::{
    copy::BinaryCopy,
    registry::unit_from_row,
    sql::{corrupt, from_ms, ms, values_clause},
    BatchPool, Store, StoreError,
};

/// A fix as kept in the track.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PositionRow {
    /// The unit.
    pub unit: UnitId,
    /// The report's sequence number.
    pub seq: u64,
    /// The fix.
    pub fix: Fix,
    /// How the fleet state took it.
    pub kind: PositionKind,
}

/// Everything a batch of reports changed. Serializable: while the store is
/// away, batches wait in the local spool.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WriteBatch {
    /// Fixes the track keeps.
    pub positions: Vec<PositionRow>,
    /// Status history entries.
    pub status_events: Vec<StatusChange>,
    /// People boarding or leaving units.
    pub crew_changes: Vec<(UnitId, CrewChange)>,
    /// The newest live state of each unit touched (one per unit).
    pub live_states: HashMap<UnitId, UnitSnapshot>,
}

impl WriteBatch {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
            && self.status_events.is_empty()
            && self.crew_changes.is_empty()
            && self.live_states.is_empty()
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// Bound parameters per multi-row statement: just under SQLite's limit
/// (32 766; PostgreSQL's is 65 535). Few, large statements: each one is a
/// round trip through a runtime busy with thousands of vehicle streams,
/// and with 500 rows a statement a 4 000-report batch took 16 of them
/// (BENCHMARKS.md, ingest).
const PARAMS_PER_STATEMENT: usize = 32_000;

fn kind_str(kind: PositionKind) -> &'static str {
    match kind {
        PositionKind::Applied => "applied",
        PositionKind::Stale => "stale",
        PositionKind::Flagged => "flagged",
    }
}

fn kind_parse(raw: &str) -> Option<PositionKind> {
    match raw {
        "applied" => Some(PositionKind::Applied),
        "stale" => Some(PositionKind::Stale),
        "flagged" => Some(PositionKind::Flagged),
        _ => None,
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Inserts `rows` in chunks: `head VALUES (...), (...) tail`.
async fn insert_chunked<R>(
    conn: &mut AnyConnection,
    head: &str,
    tail: &str,
    columns: usize,
    rows: &[R],
    bind: impl for<'q> Fn(AnyQuery<'q>, &R) -> AnyQuery<'q>,
) -> Result<(), StoreError> {
    for chunk in rows.chunks((PARAMS_PER_STATEMENT / columns).max(1)) {
        let sql = format!(
            "{head} VALUES {} {tail}",
            values_clause(chunk.len(), columns)
        );
        // Not a cached prepared statement: the same text runs with NULL in
        // a column one time and a value the next, and PostgreSQL must type
        // each execution's parameters afresh (a cached plan typed by an
        // earlier NULL refused later values at 10 000 vehicles).
        let mut query = sqlx::query(&sql).persistent(false);
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

const POSITIONS: &str = "INSERT INTO unit_positions (unit_id, seq, fix_at, lat, lon, speed_mps, \
     heading_deg, accuracy_m, kind)";
const POSITIONS_TAIL: &str = "ON CONFLICT (unit_id, seq) DO NOTHING";
const EVENTS: &str = "INSERT INTO unit_status_events (unit_id, event_no, at, status, \
     out_of_service_reason, crew_complete, source, recorded_at)";
const EVENTS_TAIL: &str = "ON CONFLICT (unit_id, event_no) DO NOTHING";
const LIVE: &str = "INSERT INTO unit_live_state (unit_id, last_seq, fix_at, lat, lon, speed_mps, \
     heading_deg, accuracy_m, last_heard, reported_status, out_of_service_reason, no_signal, \
     status_since, last_report_at, crew, event_no, last_kept_fix_at, updated_at)";
const LIVE_TAIL: &str = "ON CONFLICT (unit_id) DO UPDATE SET last_seq = excluded.last_seq, \
     fix_at = excluded.fix_at, lat = excluded.lat, lon = excluded.lon, \
     speed_mps = excluded.speed_mps, heading_deg = excluded.heading_deg, \
     accuracy_m = excluded.accuracy_m, last_heard = excluded.last_heard, \
     reported_status = excluded.reported_status, \
     out_of_service_reason = excluded.out_of_service_reason, no_signal = excluded.no_signal, \
     status_since = excluded.status_since, last_report_at = excluded.last_report_at, \
     crew = excluded.crew, event_no = excluded.event_no, \
     last_kept_fix_at = excluded.last_kept_fix_at, updated_at = excluded.updated_at \
     WHERE unit_live_state.updated_at <= excluded.updated_at";

/// Rows sent to PostgreSQL as one JSON array, expanded there by
/// `json_to_recordset` with a `*_RECORD` column list (in the insert's
/// column order).
fn recordset<T: serde::Serialize>(rows: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt {
        table: "write batch",
        message: e.to_string(),
    })
}

/// A status event as the table stores it.
#[derive(serde::Serialize)]
struct EventRecord<'a> {
    unit_id: &'a str,
    event_no: i64,
    at: i64,
    status: &'static str,
    out_of_service_reason: Option<&'static str>,
    crew_complete: i64,
    source: &'static str,
    recorded_at: i64,
}

impl<'a> EventRecord<'a> {
    fn new(e: &'a StatusChange, now: DateTime<Utc>) -> Self {
        Self {
            unit_id: e.unit.as_str(),
            event_no: i64_of(e.event_no),
            at: ms(e.at),
            status: e.status.as_str(),
            out_of_service_reason: e.out_of_service_reason.map(|r| r.as_str()),
            crew_complete: i64::from(e.crew_complete),
            source: e.source.as_str(),
            recorded_at: ms(now),
        }
    }
}

const EVENT_RECORD: &str = "unit_id text, event_no bigint, at bigint, status text, \
     out_of_service_reason text, crew_complete bigint, source text, recorded_at bigint";

/// A track row as the table stores it.
#[derive(serde::Serialize)]
struct PositionRecord<'a> {
    unit_id: &'a str,
    seq: i64,
    fix_at: i64,
    lat: f64,
    lon: f64,
    speed_mps: Option<f64>,
    heading_deg: Option<f64>,
    accuracy_m: Option<f64>,
    kind: &'static str,
}

impl<'a> From<&'a PositionRow> for PositionRecord<'a> {
    fn from(p: &'a PositionRow) -> Self {
        Self {
            unit_id: p.unit.as_str(),
            seq: i64_of(p.seq),
            fix_at: ms(p.fix.at),
            lat: p.fix.point.lat(),
            lon: p.fix.point.lon(),
            speed_mps: p.fix.speed_mps.map(f64::from),
            heading_deg: p.fix.heading_deg.map(f64::from),
            accuracy_m: p.fix.accuracy_m.map(f64::from),
            kind: kind_str(p.kind),
        }
    }
}

const POSITION_RECORD: &str = "unit_id text, seq bigint, fix_at bigint, lat double precision, \
     lon double precision, speed_mps double precision, heading_deg double precision, \
     accuracy_m double precision, kind text";

/// A live state row as the table stores it.
#[derive(serde::Serialize)]
struct LiveRecord<'a> {
    unit_id: &'a str,
    last_seq: i64,
    fix_at: Option<i64>,
    lat: Option<f64>,
    lon: Option<f64>,
    speed_mps: Option<f64>,
    heading_deg: Option<f64>,
    accuracy_m: Option<f64>,
    last_heard: Option<i64>,
    reported_status: &'static str,
    out_of_service_reason: Option<&'static str>,
    no_signal: i64,
    status_since: i64,
    last_report_at: Option<i64>,
    crew: String,
    event_no: i64,
    last_kept_fix_at: Option<i64>,
    updated_at: i64,
}

impl<'a> LiveRecord<'a> {
    fn new(unit: &'a UnitId, s: &UnitSnapshot) -> Self {
        Self {
            unit_id: unit.as_str(),
            last_seq: i64_of(s.last_seq),
            fix_at: s.fix.map(|f| ms(f.at)),
            lat: s.fix.map(|f| f.point.lat()),
            lon: s.fix.map(|f| f.point.lon()),
            speed_mps: s.fix.and_then(|f| f.speed_mps).map(f64::from),
            heading_deg: s.fix.and_then(|f| f.heading_deg).map(f64::from),
            accuracy_m: s.fix.and_then(|f| f.accuracy_m).map(f64::from),
            last_heard: s.last_heard.map(ms),
            reported_status: s.reported_status.as_str(),
            out_of_service_reason: s.out_of_service_reason.map(|r| r.as_str()),
            no_signal: i64::from(s.no_signal),
            status_since: ms(s.status_since),
            last_report_at: s.last_report_at.map(ms),
            crew: crew_json(&s.crew),
            event_no: i64_of(s.event_no),
            last_kept_fix_at: s.last_kept_fix_at.map(ms),
            updated_at: ms(s.updated_at),
        }
    }
}

const LIVE_RECORD: &str = "unit_id text, last_seq bigint, fix_at bigint, lat double precision, \
     lon double precision, speed_mps double precision, heading_deg double precision, \
     accuracy_m double precision, last_heard bigint, reported_status text, \
     out_of_service_reason text, no_signal bigint, status_since bigint, last_report_at bigint, \
     crew text, event_no bigint, last_kept_fix_at bigint, updated_at bigint";

/// A batch's rows as the tables store them (times in milliseconds, flags
/// as integers, names as text): built once, bound by either backend.
struct BatchRecords<'a> {
    positions: Vec<PositionRecord<'a>>,
    events: Vec<EventRecord<'a>>,
    live: Vec<LiveRecord<'a>>,
}

impl<'a> BatchRecords<'a> {
    fn new(batch: &'a WriteBatch, now: DateTime<Utc>) -> Self {
        Self {
            positions: batch.positions.iter().map(Into::into).collect(),
            events: batch
                .status_events
                .iter()
                .map(|e| EventRecord::new(e, now))
                .collect(),
            live: batch
                .live_states
                .iter()
                .map(|(unit, s)| LiveRecord::new(unit, s))
                .collect(),
        }
    }
}

fn crew_json(crew: &[CrewMember]) -> String {
    serde_json::to_string(crew).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Writes a batch in one transaction.
    ///
    /// # Errors
    /// A database failure; nothing of the batch is written then.
    pub async fn write_batch(
        &self,
        batch: &WriteBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let rows = BatchRecords::new(batch, now);
        match &self.batches {
            BatchPool::Postgres(pool) => self.write_batch_postgres(pool, &rows, batch).await,
            BatchPool::Shared => self.write_batch_sqlite(&rows, batch).await,
        }
    }

    /// PostgreSQL: the track by binary `COPY`, the status events and the
    /// live states in one statement, crew changes around them; one
    /// transaction. A batch of plain moves (most of them: live states of
    /// moves are written behind) is one `COPY`, its own transaction.
    ///
    /// `COPY` cannot skip rows already stored, so a batch written before
    /// (a retry after a lost commit acknowledgement, a replay of the spool,
    /// reports a vehicle sent again after a crash) fails on the track's
    /// primary key and is written again with inserts that skip them.
    ///
    /// Cancel-safe: dropped half-way (the writer gives up on a slow store
    /// after `spool.after_ms`), its connection is closed, never returned to
    /// the pool; see [`CloseUnlessFinished`].
    async fn write_batch_postgres(
        &self,
        pool: &PgPool,
        rows: &BatchRecords<'_>,
        batch: &WriteBatch,
    ) -> Result<(), StoreError> {
        let mut conn = CloseUnlessFinished(Some(pool.acquire().await?));
        let live = conn.0.as_deref_mut().expect("held until finished");
        let written = match write_postgres(live, rows, batch, TrackWrite::Copy).await {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                metrics::counter!("samu_write_batch_copy_conflicts_total").increment(1);
                write_postgres(live, rows, batch, TrackWrite::Insert).await
            }
            written => written,
        };
        // Finished, well or not: the connection answered, so its protocol
        // is in step and it may go back to the pool.
        drop(conn.0.take());
        written
    }

    /// SQLite: multi-row inserts of the same records, in one transaction.
    async fn write_batch_sqlite(
        &self,
        rows: &BatchRecords<'_>,
        batch: &WriteBatch,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        insert_chunked(
            &mut tx,
            POSITIONS,
            POSITIONS_TAIL,
            9,
            &rows.positions,
            |q, p| {
                q.bind(p.unit_id.to_owned())
                    .bind(p.seq)
                    .bind(p.fix_at)
                    .bind(p.lat)
                    .bind(p.lon)
                    .bind(p.speed_mps)
                    .bind(p.heading_deg)
                    .bind(p.accuracy_m)
                    .bind(p.kind)
            },
        )
        .await?;
        insert_chunked(&mut tx, EVENTS, EVENTS_TAIL, 8, &rows.events, |q, e| {
            q.bind(e.unit_id.to_owned())
                .bind(e.event_no)
                .bind(e.at)
                .bind(e.status)
                .bind(e.out_of_service_reason)
                .bind(e.crew_complete)
                .bind(e.source)
                .bind(e.recorded_at)
        })
        .await?;
        for (unit, change) in &batch.crew_changes {
            write_crew_change(&mut tx, unit, change).await?;
        }
        insert_chunked(&mut tx, LIVE, LIVE_TAIL, 18, &rows.live, |q, l| {
            q.bind(l.unit_id.to_owned())
                .bind(l.last_seq)
                .bind(l.fix_at)
                .bind(l.lat)
                .bind(l.lon)
                .bind(l.speed_mps)
                .bind(l.heading_deg)
                .bind(l.accuracy_m)
                .bind(l.last_heard)
                .bind(l.reported_status)
                .bind(l.out_of_service_reason)
                .bind(l.no_signal)
                .bind(l.status_since)
                .bind(l.last_report_at)
                .bind(l.crew.clone())
                .bind(l.event_no)
                .bind(l.last_kept_fix_at)
                .bind(l.updated_at)
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every unit still habilitated at `now`, with the live state the last
    /// run stored (none for a unit that never reported).
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn load_fleet(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(UnitRecord, Option<UnitSnapshot>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.central_id, u.unit_type, u.base_id, u.label, u.habilitated_from, u.retired_at, \
             s.last_seq, s.fix_at, s.lat, s.lon, s.speed_mps, s.heading_deg, s.accuracy_m, s.last_heard, \
             s.reported_status, s.out_of_service_reason, s.no_signal, s.status_since, s.last_report_at, \
             s.crew, s.event_no, s.last_kept_fix_at, s.updated_at \
             FROM units u LEFT JOIN unit_live_state s ON s.unit_id = u.id \
             WHERE u.retired_at IS NULL OR u.retired_at > $1 ORDER BY u.id",
        )
        .bind(ms(now))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let unit = unit_from_row(r)?;
                let snapshot = match r.try_get::<Option<String>, _>("reported_status")? {
                    None => None,
                    Some(status) => Some(snapshot_from_row(r, &status)?),
                };
                Ok((unit.record, snapshot))
            })
            .collect()
    }

    /// A unit's status history, in event order.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn status_history(&self, unit: &UnitId) -> Result<Vec<StatusChange>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM unit_status_events WHERE unit_id = $1 ORDER BY event_no"
        ))
        .bind(unit.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| event_from_row(unit, r)).collect()
    }

    /// The status events that describe `[from, to)`: the last one dated
    /// before `from` (the state the period starts in), then every one dated
    /// inside it, ordered by date.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn status_history_between(
        &self,
        unit: &UnitId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StatusChange>, StoreError> {
        let before = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM unit_status_events WHERE unit_id = $1 AND at < $2 \
             ORDER BY at DESC, event_no DESC LIMIT 1"
        ))
        .bind(unit.as_str())
        .bind(ms(from))
        .fetch_optional(self.pool())
        .await?;
        let inside = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM unit_status_events WHERE unit_id = $1 AND at >= $2 AND at < $3 \
             ORDER BY at, event_no"
        ))
        .bind(unit.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(self.pool())
        .await?;
        before
            .iter()
            .chain(&inside)
            .map(|r| event_from_row(unit, r))
            .collect()
    }

    /// A unit's stored track, by fix time.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn track(&self, unit: &UnitId) -> Result<Vec<PositionRow>, StoreError> {
        const T: &str = "unit_positions";
        let rows = sqlx::query(
            "SELECT seq, fix_at, lat, lon, speed_mps, heading_deg, accuracy_m, kind \
             FROM unit_positions WHERE unit_id = $1 ORDER BY fix_at, seq",
        )
        .bind(unit.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(PositionRow {
                    unit: unit.clone(),
                    seq: u64::try_from(r.try_get::<i64, _>("seq")?).unwrap_or(0),
                    fix: fix_from(r, "fix_at", T)?.ok_or(StoreError::Corrupt {
                        table: T,
                        message: "fix without coordinates".into(),
                    })?,
                    kind: kind_parse(&kind).ok_or(StoreError::Corrupt {
                        table: T,
                        message: format!("unknown kind {kind:?}"),
                    })?,
                })
            })
            .collect()
    }

    /// Number of stored track points, all units.
    ///
    /// # Errors
    /// A database failure.
    pub async fn track_len(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM unit_positions")
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Crew shifts of a unit: (member, role, started, ended), oldest first.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    #[allow(clippy::type_complexity)]
    pub async fn crew_shifts(
        &self,
        unit: &UnitId,
    ) -> Result<Vec<(String, String, DateTime<Utc>, Option<DateTime<Utc>>)>, StoreError> {
        const T: &str = "crew_shifts";
        let rows = sqlx::query(
            "SELECT member_id, role, started_at, ended_at FROM crew_shifts \
             WHERE unit_id = $1 ORDER BY started_at, member_id",
        )
        .bind(unit.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("member_id")?,
                    r.try_get("role")?,
                    from_ms(T, r.try_get("started_at")?)?,
                    r.try_get::<Option<i64>, _>("ended_at")?
                        .map(|v| from_ms(T, v))
                        .transpose()?,
                ))
            })
            .collect()
    }
}

/// How the PostgreSQL path writes the track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrackWrite {
    /// Binary `COPY`: fast, refuses rows already stored.
    Copy,
    /// `INSERT … ON CONFLICT DO NOTHING`: skips rows already stored.
    Insert,
}

const COPY_TRACK: &str = "COPY unit_positions (unit_id, seq, fix_at, lat, lon, speed_mps, \
     heading_deg, accuracy_m, kind) FROM STDIN (FORMAT binary)";

/// Bytes a track row takes in binary `COPY`, about: the field count, nine
/// lengths, a 16-byte unit id, two integers, five floats, a kind name.
const COPY_ROW_BYTES: usize = 120;

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

async fn write_postgres(
    conn: &mut PgConnection,
    rows: &BatchRecords<'_>,
    batch: &WriteBatch,
    track: TrackWrite,
) -> Result<(), StoreError> {
    let track_only =
        rows.events.is_empty() && rows.live.is_empty() && batch.crew_changes.is_empty();
    if track_only && track == TrackWrite::Copy {
        return copy_track(conn, &rows.positions).await;
    }
    let mut tx = conn.begin().await?;
    if !rows.positions.is_empty() {
        match track {
            TrackWrite::Copy => copy_track(&mut tx, &rows.positions).await?,
            TrackWrite::Insert => {
                sqlx::query(&format!(
                    "{POSITIONS} SELECT * FROM json_to_recordset($1::json) AS r({POSITION_RECORD}) \
                     {POSITIONS_TAIL}"
                ))
                .bind(recordset(&rows.positions)?)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    if !(rows.events.is_empty() && rows.live.is_empty()) {
        sqlx::query(&format!(
            "WITH events AS ({EVENTS} SELECT * FROM json_to_recordset($1::json) AS r({EVENT_RECORD}) {EVENTS_TAIL}), \
             live AS ({LIVE} SELECT * FROM json_to_recordset($2::json) AS r({LIVE_RECORD}) {LIVE_TAIL}) \
             SELECT 1"
        ))
        .bind(recordset(&rows.events)?)
        .bind(recordset(&rows.live)?)
        .execute(&mut *tx)
        .await?;
    }
    for (unit, change) in &batch.crew_changes {
        write_crew_change_pg(&mut tx, unit, change).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A batch's pooled connection, closed if the write is dropped before it
/// finishes.
///
/// sqlx returns a dropped connection to the pool after a ping, and the ping
/// first waits for the answer to what was in flight. A write dropped while
/// its `COPY` waited for the track's lock leaves a backend that gets the
/// lock later and then waits for `COPY` data forever: the ping never
/// returns, so the batch pool's one connection never comes back and every
/// later batch waits for it until the writer spools; the backend keeps its
/// transaction and its lock on the track, and the next session to ask for
/// a conflicting lock (a `LOCK`, a non-concurrent index build) queues
/// behind it. The store takes nothing more until the server restarts
/// (BENCHMARKS.md, 2026-12-07 evening, the store stall). Closing the
/// connection instead ends the backend's transaction as soon as it reads,
/// and the pool opens a new one.
struct CloseUnlessFinished(Option<sqlx::pool::PoolConnection<sqlx::Postgres>>);

impl Drop for CloseUnlessFinished {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            metrics::counter!("samu_write_batch_abandoned_total").increment(1);
            conn.close_on_drop();
        }
    }
}

/// The track's rows by binary `COPY` ([`crate::copy`]).
async fn copy_track(
    conn: &mut PgConnection,
    rows: &[PositionRecord<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut data = BinaryCopy::with_capacity(rows.len(), COPY_ROW_BYTES);
    for p in rows {
        data.row(9)
            .text(p.unit_id)
            .int8(p.seq)
            .int8(p.fix_at)
            .float8(p.lat)
            .float8(p.lon)
            .float8_or_null(p.speed_mps)
            .float8_or_null(p.heading_deg)
            .float8_or_null(p.accuracy_m)
            .text(p.kind);
    }
    let mut copy = conn.copy_in_raw(COPY_TRACK).await?;
    copy.send(data.finish()).await?;
    copy.finish().await?;
    Ok(())
}

/// Crew changes, rare, go change by change with plain statements, on the
/// `Any` connection (SQLite) or the native one of PostgreSQL's batches.
macro_rules! crew_change_writer {
    ($name:ident, $conn:ty) => {
        async fn $name(
            conn: &mut $conn,
            unit: &UnitId,
            change: &CrewChange,
        ) -> Result<(), StoreError> {
            let at = ms(change.at);
            for member in &change.left {
                sqlx::query(
                    "UPDATE crew_shifts SET ended_at = $3 \
                     WHERE unit_id = $1 AND member_id = $2 AND ended_at IS NULL",
                )
                .bind(unit.as_str())
                .bind(member.as_str())
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            for member in &change.joined {
                let role = serde_json::to_value(member.role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                sqlx::query(
                    "INSERT INTO crew_members (id, role, first_seen) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(member.id.as_str())
                .bind(&role)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO crew_shifts (unit_id, member_id, role, started_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (unit_id, member_id, started_at) DO NOTHING",
                )
                .bind(unit.as_str())
                .bind(member.id.as_str())
                .bind(&role)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }
    };
}

crew_change_writer!(write_crew_change, AnyConnection);
crew_change_writer!(write_crew_change_pg, PgConnection);

const EVENT_COLUMNS: &str = "event_no, at, status, out_of_service_reason, crew_complete, source";

fn event_from_row(unit: &UnitId, r: &sqlx::any::AnyRow) -> Result<StatusChange, StoreError> {
    const T: &str = "unit_status_events";
    let source: String = r.try_get("source")?;
    Ok(StatusChange {
        unit: unit.clone(),
        event_no: u64::try_from(r.try_get::<i64, _>("event_no")?).unwrap_or(0),
        at: from_ms(T, r.try_get("at")?)?,
        status: UnitStatus::parse("status", r.try_get("status")?).map_err(corrupt(T))?,
        out_of_service_reason: reason(r, T)?,
        crew_complete: r.try_get::<i64, _>("crew_complete")? != 0,
        source: match source.as_str() {
            "signal" => StatusSource::Signal,
            "central" => StatusSource::Central,
            _ => StatusSource::Crew,
        },
    })
}

fn reason(
    r: &sqlx::any::AnyRow,
    table: &'static str,
) -> Result<Option<OutOfServiceReason>, StoreError> {
    r.try_get::<Option<String>, _>("out_of_service_reason")?
        .map(|s| OutOfServiceReason::parse("out_of_service_reason", &s))
        .transpose()
        .map_err(corrupt(table))
}

fn fix_from(
    r: &sqlx::any::AnyRow,
    at_column: &str,
    table: &'static str,
) -> Result<Option<Fix>, StoreError> {
    let Some(at) = r.try_get::<Option<i64>, _>(at_column)? else {
        return Ok(None);
    };
    let point = GeoPoint::new("", r.try_get("lat")?, r.try_get("lon")?).map_err(corrupt(table))?;
    let f32_of = |col: &str| -> Result<Option<f32>, StoreError> {
        Ok(r.try_get::<Option<f64>, _>(col)?.map(|v| v as f32))
    };
    Ok(Some(Fix {
        at: from_ms(table, at)?,
        point,
        speed_mps: f32_of("speed_mps")?,
        heading_deg: f32_of("heading_deg")?,
        accuracy_m: f32_of("accuracy_m")?,
    }))
}

fn snapshot_from_row(r: &sqlx::any::AnyRow, status: &str) -> Result<UnitSnapshot, StoreError> {
    const T: &str = "unit_live_state";
    let opt_time = |col: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        r.try_get::<Option<i64>, _>(col)?
            .map(|v| from_ms(T, v))
            .transpose()
    };
    let crew: String = r.try_get("crew")?;
    let crew: Vec<CrewMember> = serde_json::from_str(&crew).map_err(|e| StoreError::Corrupt {
        table: T,
        message: format!("crew: {e}"),
    })?;
    Ok(UnitSnapshot {
        last_seq: u64::try_from(r.try_get::<i64, _>("last_seq")?).unwrap_or(0),
        fix: fix_from(r, "fix_at", T)?,
        last_heard: opt_time("last_heard")?,
        reported_status: UnitStatus::parse("reported_status", status).map_err(corrupt(T))?,
        out_of_service_reason: reason(r, T)?,
        no_signal: r.try_get::<i64, _>("no_signal")? != 0,
        status_since: from_ms(T, r.try_get("status_since")?)?,
        last_report_at: opt_time("last_report_at")?,
        crew,
        event_no: u64::try_from(r.try_get::<i64, _>("event_no")?).unwrap_or(0),
        last_kept_fix_at: opt_time("last_kept_fix_at")?,
        updated_at: from_ms(T, r.try_get("updated_at")?)?,
    })
}
