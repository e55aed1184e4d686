//! PostgreSQL-only physical settings, kept out of the portable migrations
//! (SQLite has neither autovacuum nor BRIN): the autovacuum pace of the
//! append-only histories, applied by [`Store::migrate`], and the track's time
//! index as BRIN, built in the background by
//! [`Store::track_time_index_to_brin`].

use sqlx::{AnyConnection, Connection, Executor, Row};

use crate::{Backend, Store, StoreError};

/// Paces PostgreSQL's autovacuum of the append-only histories that grow at
/// the rate of the reports (the track and the status events), unless a
/// table already carries a pace of its own (a DBA's choice is kept).
///
/// Since PostgreSQL 13, enough inserts start an autovacuum (and its
/// analyze), which at the default pace walks the new pages in a second or
/// two, most of a core, on the cores the server and its consoles share. In
/// the load runs those seconds carried the console's slow nearest queries
/// and late wall frames (`load-tests/` timeline files; BENCHMARKS.md). At
/// 100 cost units per 20 ms the track's pass takes about ten seconds at a
/// fraction of a core. An append-only table loses nothing by a slower
/// pass: it has no dead rows to reclaim, only pages to mark all-visible
/// and, far later, tuples to freeze. Tables that are updated (the live
/// states) keep the default pace, which reclaims their dead rows.
pub(crate) const HISTORY_VACUUM_PACE: &str = "DO $$ DECLARE t TEXT; BEGIN \
    FOREACH t IN ARRAY ARRAY['unit_positions', 'unit_status_events'] LOOP \
        IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = t::regclass \
            AND array_to_string(reloptions, ',') LIKE '%autovacuum_vacuum_cost_%') THEN \
            EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_cost_delay = 20, \
                autovacuum_vacuum_cost_limit = 100)', t); \
        END IF; \
    END LOOP; \
    END $$";

/// The track's time index, as migrations 0005 and 0007 create it (B-tree).
const TIME_INDEX: &str = "unit_positions_fix_at";
/// The BRIN index while it is built, before it takes [`TIME_INDEX`]'s name.
const BUILDING: &str = "unit_positions_fix_at_brin";
/// The B-tree between the swap of names and its drop.
const RETIRED: &str = "unit_positions_fix_at_btree";

/// Held for the whole conversion, so that instances started together
/// against one database do not build twice ("samu" "brin" in ASCII). Tried,
/// not waited for: the instance that holds it does the work, and the
/// others' retention jobs go on without waiting for its end.
const CONVERSION_LOCK: &str = "SELECT pg_try_advisory_lock(8315178083082990190) AS held";

impl Store {
    /// Makes the track's time index (`unit_positions_fix_at`, read only by
    /// the retention job's `DELETE … WHERE fix_at < $1`) a BRIN index on
    /// PostgreSQL, once; returns whether it changed anything. SQLite, which
    /// has no BRIN, keeps the migration's B-tree (`Ok(false)`), and so does
    /// an instance that finds another one converting (`Ok(false)`: the
    /// other finishes, or the next start does).
    ///
    /// Why: the track is appended in time order, so the smallest and
    /// largest `fix_at` of each 128 pages find the rows to delete as well as
    /// a B-tree does, and a row's insert no longer writes an index entry. A
    /// B-tree entry per stored fix cost about 1 µs of PostgreSQL's time per
    /// row (10–20 %, `load-tests/sql/track-brin-cost.sql`) and about a fifth
    /// of the table's size on disk (21 MB per million rows, against 24 kB
    /// as BRIN). `autosummarize` has autovacuum summarize each range as it
    /// fills.
    ///
    /// How: built `CONCURRENTLY` under another name, then the two names are
    /// swapped and the B-tree dropped `CONCURRENTLY`. No step takes a lock
    /// that stops the track's writes, so on a track of hundreds of millions
    /// of rows the build's one sequential scan costs time in the background,
    /// never ingest. The retention job runs it before its first pass. Each
    /// step can be interrupted (a stop, a lost connection): the next call
    /// drops a half-built index and finishes what is left.
    ///
    /// # Errors
    /// A database failure; the index left is always a valid B-tree or BRIN.
    pub async fn track_time_index_to_brin(&self) -> Result<bool, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(false);
        }
        // A connection of its own, out of the pool: the advisory lock is the
        // session's, and closing (or dropping) the connection releases it
        // whatever happened.
        let mut conn = self.pool().acquire().await?.detach();
        let held: bool = sqlx::query(CONVERSION_LOCK)
            .fetch_one(&mut conn)
            .await?
            .get("held");
        if !held {
            tracing::info!("another instance is making the track's time index BRIN");
            conn.close().await?;
            return Ok(false);
        }
        let changed = convert(&mut conn).await?;
        conn.close().await?;
        Ok(changed)
    }
}

/// The steps of [`Store::track_time_index_to_brin`], each resumable.
async fn convert(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    let mut changed = drop_retired(conn).await?;
    if index(conn, TIME_INDEX).await? != Some(true) {
        let built = index(conn, BUILDING).await?;
        if built != Some(true) {
            if built.is_some() {
                // What a stopped build left (an invalid index) goes first.
                conn.execute(format!("DROP INDEX CONCURRENTLY IF EXISTS {BUILDING}").as_str())
                    .await?;
            }
            tracing::info!(
                "building the track's BRIN time index in the background (once; writes go on)"
            );
            conn.execute(
                format!(
                    "CREATE INDEX CONCURRENTLY {BUILDING} ON unit_positions \
                     USING brin (fix_at) WITH (autosummarize = on)"
                )
                .as_str(),
            )
            .await?;
        }
        // Renames take a SHARE UPDATE EXCLUSIVE lock, which writes pass.
        conn.execute(
            format!(
                "DO $$ BEGIN \
                 IF to_regclass('{TIME_INDEX}') IS NOT NULL THEN \
                     ALTER INDEX {TIME_INDEX} RENAME TO {RETIRED}; \
                 END IF; \
                 ALTER INDEX {BUILDING} RENAME TO {TIME_INDEX}; \
                 END $$"
            )
            .as_str(),
        )
        .await?;
        drop_retired(conn).await?;
        changed = true;
        tracing::info!("the track's time index is BRIN");
    }
    Ok(changed)
}

/// Drops the B-tree a swap retired, if one is left; returns whether it was.
async fn drop_retired(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    if index(conn, RETIRED).await?.is_none() {
        return Ok(false);
    }
    conn.execute(format!("DROP INDEX CONCURRENTLY IF EXISTS {RETIRED}").as_str())
        .await?;
    Ok(true)
}

/// Whether an index is a valid BRIN index (`Some(false)`: another method,
/// or the invalid leftover of a stopped build), or `None` when it is missing.
async fn index(conn: &mut AnyConnection, name: &str) -> Result<Option<bool>, StoreError> {
    let row = sqlx::query(
        "SELECT (a.amname = 'brin' AND x.indisvalid) AS valid_brin \
         FROM pg_class i JOIN pg_am a ON a.oid = i.relam JOIN pg_index x ON x.indexrelid = i.oid \
         WHERE i.oid = to_regclass($1)",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.get("valid_brin")))
}
