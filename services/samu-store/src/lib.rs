//! The durable store of a central.
//!
//! One [`Store`] speaks to PostgreSQL (production) or SQLite (the embedded
//! default, `./samu-data/samu.db`) through sqlx's `Any` driver, with a single
//! portable schema in `migrations/`. Times are stored as milliseconds since
//! the Unix epoch; flags as 0/1.
//!
//! # Layout
//! - [`connect`](Store::connect), migration and readiness: this file.
//! - [`registry`]: centrals, municipalities, bases and units.
//! - [`credentials`]: device and user tokens, kept as SHA-256 hashes.
//! - [`indicators`]: indicator settings, stored unit-days and team days.
//! - [`history`]: the batched writes of the ingest path (positions, status
//!   events, crew shifts, live state) and restoring the fleet on start.
//! - [`occurrences`]: occurrence events, their projection, engaged units, the audit trail.
//! - [`users`]: console user accounts (argon2 hashes).
//! - [`team`]: the regulation room's staff presence; unit histories by period.
//! - [`postgres_tuning`]: PostgreSQL-only settings (autovacuum pace, the
//!   track's BRIN time index).
//! - [`sql`]: placeholder and time helpers shared by the modules.
#![forbid(unsafe_code)]

mod copy;
pub mod credentials;
pub mod history;
pub mod indicators;
pub mod occurrences;
mod postgres_tuning;
pub mod registry;
mod sql;
pub mod team;
pub mod users;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    postgres::{PgConnectOptions, PgPoolOptions},
    AnyPool, Executor, PgPool,
};

pub use credentials::{Credential, IssuedCredential, Role};
pub use history::{PositionRow, WriteBatch};
pub use occurrences::{
    AppendOutcome, AuditRecord, CommandKey, Engagement, OccurrenceWrite, StoredOccurrence,
};
pub use registry::{BaseRow, CentralRow, MunicipalityRow, UnitRow};
pub use team::PresenceRow;
pub use users::User;

/// Migrations embedded from the workspace's `migrations/` folder.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value no longer parses (a corrupt or foreign row).
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        /// Table of the row.
        table: &'static str,
        /// What did not parse.
        message: String,
    },
    /// The database URL is not one this server speaks.
    #[error("unsupported DATABASE_URL {0:?}: use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    /// The SQLite file's folder could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the database is away or busy rather than refusing the data:
    /// the connection failed or timed out, PostgreSQL is shutting down,
    /// starting or out of connections (SQLSTATE classes 08, 53, 57), or
    /// SQLite's file is busy or locked by another connection. Writes that
    /// fail this way succeed later unchanged, so they are worth keeping.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return matches!(self, StoreError::Io { .. });
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    // SQLite's extended codes keep the primary one in the low byte.
                    || code
                        .parse::<u32>()
                        .is_ok_and(|n| matches!(n & 0xff, 5 | 6))
            }),
            _ => false,
        }
    }
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite (embedded).
    Sqlite,
}

/// A cheap-to-clone handle to the database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    batches: BatchPool,
    backend: Backend,
}

/// Where write batches go.
#[derive(Debug, Clone)]
enum BatchPool {
    /// PostgreSQL: one native connection of their own. Native, because the
    /// track is written with binary `COPY`, which sqlx's `Any` driver does
    /// not speak; of their own, because a connection's send buffer grows to
    /// the largest message it sent and keeps that size (batches through the
    /// shared pool left every one of its connections holding a few MiB),
    /// and the writer sends one batch at a time anyway.
    Postgres(PgPool),
    /// SQLite: the shared pool.
    Shared,
}

/// The embedded default when no `DATABASE_URL` is set.
pub const DEFAULT_SQLITE_PATH: &str = "samu-data/samu.db";

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://PATH`), creating the
    /// SQLite file and its folder when missing. Does not migrate.
    ///
    /// # Errors
    /// An unsupported URL, an unreachable server, or an uncreatable file.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer at a time; a few connections serve the
            // readers without queuing writers behind each other.
            .max_connections(match backend {
                Backend::Postgres => 16,
                Backend::Sqlite => 4,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; NORMAL sync is
                        // durable across process crashes (not power loss)
                        // and is what makes batched ingest fast.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let batches = match backend {
            Backend::Postgres => BatchPool::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(PgConnectOptions::from_str(&url)?),
            ),
            Backend::Sqlite => BatchPool::Shared,
        };
        Ok(Self {
            pool,
            batches,
            backend,
        })
    }

    /// The database behind the store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations and, on PostgreSQL, the histories'
    /// autovacuum pace (quick; the track's BRIN index is built later, in
    /// the background: [`Store::track_time_index_to_brin`]).
    ///
    /// # Errors
    /// A failed or inconsistent migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        if self.backend == Backend::Postgres {
            sqlx::query(postgres_tuning::HISTORY_VACUUM_PACE)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Answers when the database answers (for `/readyz`).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        if let BatchPool::Postgres(batches) = &self.batches {
            batches.close().await;
        }
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// `sqlite://samu-data/samu.db` → the same with `mode=rwc`, after creating
/// the folder.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    Ok(if rest.contains("mode=") {
        format!("sqlite://{rest}")
    } else if rest.contains('?') {
        format!("sqlite://{rest}&mode=rwc")
    } else {
        format!("sqlite://{rest}?mode=rwc")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_migration_file_is_embedded() {
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "sql")
            })
            .count();
        assert_eq!(super::MIGRATOR.iter().count(), files);
    }
}
