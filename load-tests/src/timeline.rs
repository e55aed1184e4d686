//! A second-by-second account of the measured window (`--timeline FILE`):
//! where the machine's cores went and what the probes saw, one JSON line a
//! second.
//!
//! A latency p99 of 600 queries is their sixth worst: a few slow seconds
//! decide it. The summary says that a phase missed; the timeline says
//! which seconds did and what ran in them (the server, PostgreSQL and its
//! autovacuum or checkpoint, the generator).

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::process::CpuReading;

/// The worst value seen since the sampler last looked, and how many were
/// over a limit: what a probe reports into, lock-free.
#[derive(Debug, Default)]
pub struct WorstOf {
    max_us: AtomicU64,
    over: AtomicU64,
}

impl WorstOf {
    /// A new one behind an `Arc`, to share with the probes.
    pub fn shared() -> Arc<Self> {
        Arc::default()
    }

    /// One observation, in microseconds, against `limit_us`.
    pub fn record(&self, micros: u64, limit_us: u64) {
        self.max_us.fetch_max(micros, Ordering::Relaxed);
        if micros > limit_us {
            self.over.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (worst in ms, count over the limit) since the last call, and resets.
    fn take(&self) -> (f64, u64) {
        let max = self.max_us.swap(0, Ordering::Relaxed);
        let over = self.over.swap(0, Ordering::Relaxed);
        ((max as f64 / 10.0).round() / 100.0, over)
    }
}

/// What the timeline follows.
pub struct Sources {
    /// The server's PID, for its CPU.
    pub server_pid: Option<u32>,
    /// The server's `DATABASE_URL`, for PostgreSQL's own activity.
    pub database_url: Option<String>,
    /// The console port's nearest queries (limit: 2 ms, the target).
    pub console_nearest: Arc<WorstOf>,
    /// The main port's nearest queries (limit: 2 ms).
    pub nearest: Arc<WorstOf>,
    /// Every unit view the measuring walls timed (limit: 150 ms).
    pub wall: Arc<WorstOf>,
    /// The loopback floor's round trips (limit: 1 ms), when measured.
    pub floor: Option<Arc<WorstOf>>,
}

/// One second of the window.
#[derive(Debug, Serialize)]
struct Second {
    /// Seconds since the window opened, at the end of this one.
    t: f64,
    /// CPU, % of one core, over the second.
    server_cpu_pct: f64,
    postgres_cpu_pct: Option<f64>,
    generator_cpu_pct: f64,
    /// The machine's busy share of all its cores, %.
    machine_busy_pct: f64,
    console_nearest_max_ms: f64,
    console_nearest_over_2ms: u64,
    nearest_max_ms: f64,
    nearest_over_2ms: u64,
    wall_max_ms: f64,
    wall_over_150ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    floor_max_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    floor_over_1ms: Option<u64>,
    /// What PostgreSQL's autovacuum workers were doing as the second ended
    /// (`VACUUM public.unit_positions`, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    autovacuum: Option<Vec<String>>,
    /// Buffers written by the checkpointer, the background writer and
    /// backends in the second (PostgreSQL ≤ 16's `pg_stat_bgwriter`).
    #[serde(skip_serializing_if = "Option::is_none")]
    buffers_written: Option<i64>,
}

/// Samples every second into `path` until `stop` fires. Errors reading
/// PostgreSQL leave its fields out; a file that cannot be written ends the
/// timeline with a warning, never the run.
pub async fn record(path: PathBuf, sources: Sources, stop: CancellationToken) {
    let mut file = match tokio::fs::File::create(&path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the timeline");
            return;
        }
    };
    let mut db = match &sources.database_url {
        Some(url) => Postgres::connect(url).await,
        None => None,
    };
    // What the probes saw before the window opened is not the window's.
    for worst in [&sources.console_nearest, &sources.nearest, &sources.wall]
        .into_iter()
        .chain(sources.floor.as_ref())
    {
        worst.take();
    }
    let started = Instant::now();
    let mut last = CpuReading::now(sources.server_pid);
    let mut last_buffers = match db.as_mut() {
        Some(db) => db.buffers_written().await,
        None => None,
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = CpuReading::now(sources.server_pid);
        let cpu = now.shares_since(&last, now.at.duration_since(last.at).as_secs_f64());
        let (console_nearest_max_ms, console_nearest_over_2ms) = sources.console_nearest.take();
        let (nearest_max_ms, nearest_over_2ms) = sources.nearest.take();
        let (wall_max_ms, wall_over_150ms) = sources.wall.take();
        let floor = sources.floor.as_ref().map(|f| f.take());
        let (autovacuum, buffers) = match db.as_mut() {
            Some(db) => (db.autovacuum().await, db.buffers_written().await),
            None => (None, None),
        };
        let second = Second {
            t: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            server_cpu_pct: cpu.server.unwrap_or(0.0),
            postgres_cpu_pct: cpu.postgres,
            generator_cpu_pct: cpu.generator.unwrap_or(0.0),
            machine_busy_pct: cpu.machine_busy.unwrap_or(0.0),
            console_nearest_max_ms,
            console_nearest_over_2ms,
            nearest_max_ms,
            nearest_over_2ms,
            wall_max_ms,
            wall_over_150ms,
            floor_max_ms: floor.map(|f| f.0),
            floor_over_1ms: floor.map(|f| f.1),
            autovacuum,
            buffers_written: match (last_buffers, buffers) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            },
        };
        last = now;
        last_buffers = buffers;
        let mut line = serde_json::to_string(&second).expect("a second serializes");
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()).await {
            tracing::warn!(path = %path.display(), error = %e, "the timeline stopped");
            return;
        }
    }
}

/// A connection to the server's PostgreSQL for its activity views.
struct Postgres(sqlx::AnyConnection);

impl Postgres {
    async fn connect(url: &str) -> Option<Self> {
        use sqlx::Connection;
        if !url.starts_with("postgres") {
            return None;
        }
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(url).await.ok().map(Self)
    }

    async fn autovacuum(&mut self) -> Option<Vec<String>> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT regexp_replace(query, '^autovacuum: ', '') AS rel FROM pg_stat_activity \
             WHERE backend_type = 'autovacuum worker' ORDER BY 1",
        )
        .fetch_all(&mut self.0)
        .await
        .ok()?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("rel").ok())
            .collect()
    }

    async fn buffers_written(&mut self) -> Option<i64> {
        use sqlx::Row;
        sqlx::query(
            "SELECT (buffers_checkpoint + buffers_clean + buffers_backend)::BIGINT AS n \
             FROM pg_stat_bgwriter",
        )
        .fetch_one(&mut self.0)
        .await
        .ok()?
        .try_get("n")
        .ok()
    }
}
