//! The group-commit writer, and the spool that keeps its writes while the
//! store is away.
//!
//! Every applied report becomes a [`WriteItem`] on a bounded queue. One task
//! takes everything queued (up to a batch limit), writes it in one
//! transaction, and only then sends the acknowledgements. Because items are
//! written in queue order, an acknowledgement also proves every earlier item
//! is stored, which is what lets a duplicate report be acknowledged by a
//! [`WriteItem::barrier`] that writes nothing.
//!
//! When the store does not take a batch within `spool.after_ms` because it
//! is away or busy (not because it refuses the data), the batch goes to the
//! local spool ([`samu_spool`]: on disk before the acknowledgement) and so
//! does every later one, in order, until the spool is flushed to the store.
//! Ingest and the walls never wait for the store meanwhile; `/readyz` says
//! degraded. The flush goes in turns of [`FLUSH_TURN`], and after each
//! turn whatever the streams queued meanwhile goes behind the spool, so a
//! long spool flushed to a slow store never fills the write queue (where a
//! report waits before the fleet and the walls see it). A full spool brings
//! back-pressure: nothing more is acknowledged until the store takes some
//! of it.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};

use samu_domain::UnitId;
use samu_fleet::{CrewChange, StatusChange, UnitSnapshot};
use samu_spool::{Spool, SpoolError, SpoolLimits};
use samu_store::{PositionRow, Store, StoreError, WriteBatch};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    central::Inner,
    ingest::{Ack, Reply},
};

/// One report's worth of writes, and who to acknowledge when stored.
///
/// The rare parts are boxed: under a flood tens of thousands of items wait
/// in the queue, most of them a fix and an acknowledgement only (144 bytes
/// an item, against 416 with every part inline).
#[derive(Debug, Default)]
pub(crate) struct WriteItem {
    pub(crate) position: Option<PositionRow>,
    pub(crate) status: Option<Box<StatusChange>>,
    pub(crate) crew: Option<Box<CrewChange>>,
    pub(crate) live: Option<Box<(UnitId, UnitSnapshot)>>,
    pub(crate) ack: Option<(mpsc::Sender<Reply>, Ack)>,
}

impl WriteItem {
    /// Only an acknowledgement, sent once everything queued before is stored.
    pub(crate) fn barrier(to: mpsc::Sender<Reply>, ack: Ack) -> Self {
        Self {
            ack: Some((to, ack)),
            ..Self::default()
        }
    }

    /// A status change decided by the server.
    pub(crate) fn status(change: StatusChange, snapshot: UnitSnapshot) -> Self {
        let unit = change.unit.clone();
        Self {
            status: Some(Box::new(change)),
            live: Some(Box::new((unit, snapshot))),
            ..Self::default()
        }
    }
}

/// Where and how much the writer may spool while the store is away.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool's folder; none means `spool/` in the data folder. One
    /// instance per folder (it is locked while open): give every instance
    /// its own, on a disk that outlives the process.
    pub dir: Option<PathBuf>,
    /// Bytes on disk at most, in MiB. A report takes about 0.4 KiB: the
    /// default keeps an hour of 10 000 vehicles at 1 Hz with room to spare
    /// per minute of outage (about 240 MiB a minute at that rate).
    pub max_mib: u64,
    /// A segment file's size, in MiB.
    pub segment_mib: u64,
    /// How long a batch waits for an unreachable or busy store before it
    /// is spooled, in milliseconds (acknowledgements wait that long).
    pub after_ms: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_mib: 16 * 1024,
            segment_mib: 64,
            after_ms: 2_000,
        }
    }
}

impl SpoolConfig {
    fn limits(&self) -> SpoolLimits {
        SpoolLimits {
            max_bytes: self.max_mib.max(1).saturating_mul(1 << 20),
            segment_bytes: self.segment_mib.max(1).saturating_mul(1 << 20),
        }
    }
}

/// What the writer tells `/readyz` and `/metrics`.
#[derive(Debug, Default)]
pub struct WriteHealth {
    spooled_records: AtomicU64,
    spooled_bytes: AtomicU64,
    spooling: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// A reading of [`WriteHealth`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteHealthReport {
    /// Writes go to the local spool: the store is away or was until the
    /// spool is flushed.
    pub degraded: bool,
    /// Batches in the spool, waiting for the store.
    pub spooled_batches: u64,
    /// The spool's bytes on disk.
    pub spooled_bytes: u64,
    /// Why the last write to the store failed, while degraded.
    pub store_error: Option<String>,
}

impl WriteHealth {
    /// The current reading.
    pub fn report(&self) -> WriteHealthReport {
        let degraded = self.spooling.load(Ordering::Relaxed);
        WriteHealthReport {
            degraded,
            spooled_batches: self.spooled_records.load(Ordering::Relaxed),
            spooled_bytes: self.spooled_bytes.load(Ordering::Relaxed),
            store_error: if degraded {
                self.last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            } else {
                None
            },
        }
    }

    fn observe(&self, spool: &Spool<WriteBatch>) {
        let records = spool.len();
        self.spooled_records.store(records, Ordering::Relaxed);
        self.spooled_bytes.store(spool.bytes(), Ordering::Relaxed);
        self.spooling.store(records > 0, Ordering::Relaxed);
        metrics::gauge!("samu_spool_batches").set(records as f64);
        metrics::gauge!("samu_spool_bytes").set(spool.bytes() as f64);
    }

    fn failed(&self, e: &StoreError) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
    }
}

/// Opens the spool and writes to the store whatever an earlier run left in
/// it, before the fleet is read back from the store.
///
/// # Errors
/// The spool cannot be opened, or the store does not take what it holds.
pub(crate) async fn open_spool(
    store: &Store,
    config: &SpoolConfig,
    dir: PathBuf,
    health: &WriteHealth,
) -> Result<Spool<WriteBatch>, StartError> {
    let mut spool = Spool::open(&dir, config.limits())?;
    if !spool.is_empty() {
        tracing::warn!(
            batches = spool.len(),
            bytes = spool.bytes(),
            dir = %dir.display(),
            "the spool holds writes of an earlier run; writing them to the store first"
        );
        let mut attempts = 0;
        loop {
            match flush(
                store,
                &mut spool,
                FlushBound::ALL,
                Duration::from_secs(30),
                health,
            )
            .await
            {
                Flushed::Empty => break,
                Flushed::StoreAway(e) => {
                    attempts += 1;
                    if attempts >= 5 {
                        return Err(StartError::SpooledWrites(e));
                    }
                    tokio::time::sleep(Duration::from_millis(500 * attempts)).await;
                }
                Flushed::Partly => {}
            }
        }
        tracing::info!("the spool of the earlier run is in the store");
    }
    health.observe(&spool);
    Ok(spool)
}

/// Why a central could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The spool folder cannot be used.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The store did not take what the spool held.
    #[error("the store does not take the spooled writes of an earlier run: {0}")]
    SpooledWrites(StoreError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The write-behind of live states: the units whose fixes or sequence
/// numbers changed without a status or crew change, as
/// [`samu_fleet::FleetState::mark_unpersisted`] noted them.
///
/// Why behind: a unit's live state row is rewritten whole at every report,
/// and on PostgreSQL that upsert cost more than the track insert beside it
/// (BENCHMARKS.md, "Live states written behind"). A unit reporting every
/// second, or several times a second, is now rewritten once per period.
pub(crate) struct LiveStates {
    central: Weak<Inner>,
    /// None: every live state is written with its report, none is behind.
    every: Option<Duration>,
}

/// Live states written per transaction.
const LIVE_CHUNK: usize = 2_000;

/// Live states copied per hold of the fleet's write lock: every query and
/// report waits while it is held, and copying 2 000 snapshots at once held
/// it 1–5 ms (`samu_fleet_write_lock_seconds`, 2026-12-03), a console
/// query's whole budget. 250 hold it a few hundred microseconds.
const LIVE_PER_LOCK: usize = 250;

impl LiveStates {
    pub(crate) fn new(central: Weak<Inner>, every: Option<Duration>) -> Self {
        Self { central, every }
    }

    /// Up to [`LIVE_CHUNK`] marked units' live states, as write items,
    /// taken [`LIVE_PER_LOCK`] at a time.
    async fn take(&self) -> Vec<WriteItem> {
        let Some(central) = self.central.upgrade() else {
            return Vec::new();
        };
        let mut items = Vec::new();
        while items.len() < LIVE_CHUNK {
            let started = std::time::Instant::now();
            let taken = central
                .fleet
                .lock()
                .take_unpersisted(LIVE_PER_LOCK.min(LIVE_CHUNK - items.len()));
            metrics::histogram!("samu_fleet_write_lock_seconds", "by" => "live_states")
                .record(started.elapsed().as_secs_f64());
            let last = taken.len() < LIVE_PER_LOCK;
            items.extend(taken.into_iter().map(|live| WriteItem {
                live: Some(Box::new(live)),
                ..WriteItem::default()
            }));
            if last {
                break;
            }
            // Between slices the lock is free for whoever waits for it, and
            // this worker for its other tasks.
            tokio::task::yield_now().await;
        }
        items
    }
}

/// The writer task's state.
pub(crate) struct Writer {
    pub(crate) store: Store,
    pub(crate) spool: Spool<WriteBatch>,
    pub(crate) health: Arc<WriteHealth>,
    pub(crate) spool_after: Duration,
    pub(crate) max_batch: usize,
    pub(crate) live_states: LiveStates,
    /// How long one turn of flushing the spool may go on ([`FLUSH_TURN`]).
    pub(crate) flush_turn: Duration,
}

/// How long one turn of flushing the spool to the store may go on before
/// the writer takes what the streams queued meanwhile (a turn always
/// writes one spooled batch, however long that takes within `spool_after`).
///
/// A vehicle's report waits for its place in the write queue before the
/// fleet and the walls see it. Flushing turns of 64 batches with no bound
/// in time held that queue for seconds when the store was slow: set 19's
/// state-wide run 1 began with nine spooled batches while autovacuum
/// analysed the track, commits took 1-5 s, the queue filled and the walls
/// stood still for two seconds (BENCHMARKS.md, 2026-12-07).
pub(crate) const FLUSH_TURN: Duration = Duration::from_millis(250);

/// Queue takes after a flush turn at most: the whole queue at its default
/// size and batch limit (65 536 ÷ 4 096), each a spool append.
const QUEUED_TAKES_AFTER_FLUSH: usize = 16;

/// The wait between flush attempts while the store stays away.
const FLUSH_BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(5));

impl Writer {
    pub(crate) async fn run(
        mut self,
        mut queue: mpsc::Receiver<WriteItem>,
        grace: Duration,
        shutdown: CancellationToken,
    ) {
        let mut items = Vec::with_capacity(self.max_batch);
        let mut backoff = FLUSH_BACKOFF.0;
        let mut next_flush = tokio::time::Instant::now();
        let live_every = self.live_states.every;
        let mut next_live = tokio::time::Instant::now() + live_every.unwrap_or_default();
        loop {
            items.clear();
            let spooling = !self.spool.is_empty();
            tokio::select! {
                n = queue.recv_many(&mut items, self.max_batch) => {
                    if n == 0 {
                        break;
                    }
                    self.commit(&mut items).await;
                }
                _ = tokio::time::sleep_until(next_flush), if spooling => {
                    let flushed = self.flush_some().await;
                    backoff = match flushed {
                        Flushed::StoreAway(_) => (backoff * 2).min(FLUSH_BACKOFF.1),
                        Flushed::Partly | Flushed::Empty => FLUSH_BACKOFF.0,
                    };
                    // A turn that ended with batches left is followed by the
                    // next as soon as the queue has had its turn.
                    next_flush = tokio::time::Instant::now()
                        + if matches!(flushed, Flushed::Partly) { Duration::ZERO } else { backoff };
                    if !self.spool.is_empty() {
                        self.take_queued(&mut queue, &mut items).await;
                    }
                }
                _ = tokio::time::sleep_until(next_live), if live_every.is_some() => {
                    // One chunk per turn: the queue's reports are served
                    // between chunks instead of waiting for all of them.
                    let full = self.write_live_chunk().await == LIVE_CHUNK;
                    next_live = tokio::time::Instant::now()
                        + if full { Duration::ZERO } else { live_every.unwrap_or_default() };
                }
                _ = shutdown.cancelled() => break,
            }
        }
        // Shutting down: take whatever is still queued (stored or spooled),
        // then give the spool the rest of the grace period.
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            items.clear();
            let idle = tokio::time::sleep(Duration::from_millis(100));
            let received = tokio::select! {
                n = queue.recv_many(&mut items, self.max_batch) => n,
                _ = idle => 0,
            };
            if received == 0 {
                break;
            }
            self.commit(&mut items).await;
            if tokio::time::Instant::now() > deadline {
                break;
            }
        }
        // Every report acknowledged is in the fleet by now: its unit's live
        // state goes to the store (or the spool) before the writer stops.
        while self.write_live_chunk().await > 0 {}
        while !self.spool.is_empty() && tokio::time::Instant::now() < deadline {
            if let Flushed::StoreAway(_) = self.flush_some().await {
                tokio::time::sleep(FLUSH_BACKOFF.0).await;
            }
        }
        if self.spool.is_empty() {
            tracing::info!("writer flushed and stopped");
        } else {
            tracing::warn!(
                batches = self.spool.len(),
                dir = %self.spool.dir().display(),
                "writer stopped with writes in the spool; the next start writes them to the store"
            );
        }
    }

    /// Stores `items` and acknowledges them, spooling instead when the
    /// store is away (or already spooling: order is kept). A failure the
    /// database reports about the data itself is retried a few times, then
    /// the batch is split in halves so one bad report cannot stall
    /// everyone's acknowledgements; a single report that still fails is
    /// logged and left unacknowledged.
    async fn commit(&mut self, items: &mut Vec<WriteItem>) {
        let items = std::mem::take(items);
        let mut stack = vec![items];
        while let Some(items) = stack.pop() {
            let batch = merge(&items);
            let written = if self.spool.is_empty() {
                write_direct(&self.store, &batch, self.spool_after, &self.health).await
            } else {
                Written::StoreAway
            };
            match written {
                Written::Ok => acknowledge(&items),
                Written::StoreAway => {
                    self.spool_batch(&batch).await;
                    acknowledge(&items);
                }
                Written::BadData(e) if items.len() > 1 => {
                    tracing::error!(error = %e, reports = items.len(), "a batch keeps failing on its data; splitting it");
                    let mut items = items;
                    let second = items.split_off(items.len() / 2);
                    stack.push(second);
                    stack.push(items);
                }
                Written::BadData(e) => {
                    metrics::counter!("samu_write_dropped_total").increment(1);
                    tracing::error!(
                        error = %e,
                        unit = ?items.first().and_then(|i| i.live.as_deref().map(|(u, _)| u.to_string())),
                        "one report's writes keep failing on their data; left unacknowledged"
                    );
                }
            }
        }
    }

    /// Takes what the streams queued, without waiting for more, up to
    /// [`QUEUED_TAKES_AFTER_FLUSH`] batches: while the spool holds
    /// batches, each goes behind them with one append to disk and is
    /// acknowledged. Returns the items taken.
    async fn take_queued(
        &mut self,
        queue: &mut mpsc::Receiver<WriteItem>,
        items: &mut Vec<WriteItem>,
    ) -> usize {
        let mut taken = 0;
        for _ in 0..QUEUED_TAKES_AFTER_FLUSH {
            if queue.is_empty() {
                break;
            }
            items.clear();
            // Not empty: this takes what is there without waiting.
            taken += queue.recv_many(items, self.max_batch).await;
            self.commit(items).await;
        }
        taken
    }

    /// Writes one chunk of the live states written behind; returns how many.
    async fn write_live_chunk(&mut self) -> usize {
        let mut items = self.live_states.take().await;
        let taken = items.len();
        if taken > 0 {
            self.commit(&mut items).await;
            metrics::counter!("samu_live_states_written_total").increment(taken as u64);
        }
        taken
    }

    /// Puts `batch` in the spool, on disk when this returns. While the
    /// spool is full (or the disk fails), flushes to the store and tries
    /// again: nothing more is acknowledged meanwhile, so vehicle streams
    /// wait on the full write queue.
    async fn spool_batch(&mut self, batch: &WriteBatch) {
        if batch.is_empty() {
            return;
        }
        let mut backoff = FLUSH_BACKOFF.0;
        loop {
            let appended = blocking(|| self.spool.append(batch));
            self.health.observe(&self.spool);
            match appended {
                Ok(()) => {
                    metrics::counter!("samu_spool_appended_total").increment(1);
                    return;
                }
                Err(e) => {
                    metrics::counter!("samu_spool_errors_total").increment(1);
                    tracing::error!(error = %e, "cannot spool a batch; holding acknowledgements until the store takes some");
                }
            }
            if let Flushed::StoreAway(_) = self.flush_some().await {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(FLUSH_BACKOFF.1);
            }
        }
    }

    /// Writes spooled batches to the store, oldest first, for one turn
    /// ([`Writer::flush_turn`], at least one batch) so queued reports are
    /// not kept waiting behind a long spool.
    async fn flush_some(&mut self) -> Flushed {
        let flushed = flush(
            &self.store,
            &mut self.spool,
            FlushBound {
                batches: FLUSH_SLICE_BATCHES,
                time: self.flush_turn,
            },
            self.spool_after,
            &self.health,
        )
        .await;
        if let Flushed::Empty = flushed {
            tracing::info!("the store is back and the spool is flushed; writing directly again");
        }
        flushed
    }
}

/// Spooled batches written per turn at most, however fast the store.
const FLUSH_SLICE_BATCHES: usize = 64;

/// When a run of [`flush`] stops with batches left: after this many, or
/// once this much time has gone (after the first batch, which is always
/// tried).
struct FlushBound {
    batches: usize,
    time: Duration,
}

impl FlushBound {
    /// Everything, however long it takes: at startup, before any report.
    const ALL: FlushBound = FlushBound {
        batches: usize::MAX,
        time: Duration::MAX,
    };
}

enum Flushed {
    /// Every spooled batch is in the store.
    Empty,
    /// Some were written; more wait.
    Partly,
    /// The store is still away.
    StoreAway(StoreError),
}

/// Writes spooled batches to the store, in order, until `bound`, giving
/// each `patience` before calling the store away (a busy SQLite file or a
/// dead connection would otherwise hold the writer for their own timeouts).
async fn flush(
    store: &Store,
    spool: &mut Spool<WriteBatch>,
    bound: FlushBound,
    patience: Duration,
    health: &WriteHealth,
) -> Flushed {
    let started = std::time::Instant::now();
    let mut written = 0;
    let flushed = loop {
        if written > 0
            && !spool.is_empty()
            && (written >= bound.batches || started.elapsed() >= bound.time)
        {
            break Flushed::Partly;
        }
        let front = match blocking(|| spool.front().map(|b| b.cloned())) {
            Ok(Some(batch)) => batch,
            Ok(None) => break Flushed::Empty,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool");
                break Flushed::StoreAway(StoreError::Io {
                    path: spool.dir().display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                });
            }
        };
        let attempt = tokio::time::timeout(
            patience,
            store.write_batch(&front, samu_domain::time::now()),
        )
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Io {
                path: "store".into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {patience:?}"),
                ),
            })
        });
        match attempt {
            Ok(()) => {}
            Err(e) if e.is_unavailable() => {
                health.failed(&e);
                break Flushed::StoreAway(e);
            }
            Err(e) => {
                // The store refuses this batch's data: keep it aside for
                // the operator instead of blocking everything behind it.
                metrics::counter!("samu_spool_rejected_total").increment(1);
                match blocking(|| spool.reject_front()) {
                    Ok(path) => {
                        tracing::error!(error = %e, kept = %path.display(), "the store refuses a spooled batch; set aside")
                    }
                    Err(io) => {
                        tracing::error!(error = %e, io = %io, "the store refuses a spooled batch and it cannot be set aside")
                    }
                }
                written += 1;
                continue;
            }
        }
        if let Err(e) = blocking(|| spool.pop_front()) {
            tracing::error!(error = %e, "cannot drop a flushed batch from the spool");
        }
        metrics::counter!("samu_spool_flushed_total").increment(1);
        written += 1;
    };
    health.observe(spool);
    flushed
}

/// Runs blocking file work (the spool's `fdatasync`) without stalling the
/// runtime's other tasks on this worker.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Sends the acknowledgements of `items`, stored (or spooled), in order.
fn acknowledge(items: &[WriteItem]) {
    for (to, ack) in items.iter().filter_map(|item| item.ack.as_ref()) {
        // A full or closed reply channel means the app is gone or not
        // reading; it will resend and get a duplicate acknowledgement.
        let _ = to.try_send(Reply::Ack(*ack));
    }
}

/// One transaction's writes for `items`.
fn merge(items: &[WriteItem]) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for item in items {
        batch.positions.extend(item.position.clone());
        batch.status_events.extend(item.status.as_deref().cloned());
        if let (Some(crew), Some((unit, _))) = (item.crew.as_deref(), item.live.as_deref()) {
            batch.crew_changes.push((unit.clone(), crew.clone()));
        }
        if let Some((unit, snapshot)) = item.live.as_deref() {
            // Later items carry newer snapshots: the last one wins.
            batch.live_states.insert(unit.clone(), snapshot.clone());
        }
    }
    batch
}

enum Written {
    Ok,
    BadData(StoreError),
    StoreAway,
}

/// Writes `batch`, retrying with backoff: a refusal of the data three
/// times is [`Written::BadData`]; a store that stays away or busy for
/// `spool_after` is [`Written::StoreAway`].
async fn write_direct(
    store: &Store,
    batch: &WriteBatch,
    spool_after: Duration,
    health: &WriteHealth,
) -> Written {
    if batch.is_empty() {
        return Written::Ok;
    }
    let started = tokio::time::Instant::now();
    let give_up = started + spool_after;
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0u32;
    loop {
        // A statement stuck on a dead connection or a locked file must not
        // hold acknowledgements past `spool_after`. Abandoning it is safe:
        // the transaction rolls back, or it committed and the spooled copy
        // is written again later, which the store's natural keys ignore.
        let attempt =
            tokio::time::timeout_at(give_up, store.write_batch(batch, samu_domain::time::now()))
                .await;
        let e = match attempt {
            Ok(Ok(())) => break,
            Ok(Err(e)) => e,
            Err(_) => {
                tracing::warn!(after = ?spool_after, "the store did not take a batch in time; spooling");
                return Written::StoreAway;
            }
        };
        attempts += 1;
        metrics::counter!("samu_write_errors_total").increment(1);
        if e.is_unavailable() {
            health.failed(&e);
            if tokio::time::Instant::now() + backoff >= give_up {
                tracing::warn!(error = %e, "the store is away; spooling");
                return Written::StoreAway;
            }
        } else {
            tracing::error!(error = %e, attempts, "writing a batch failed on its data; retrying");
            if attempts >= 3 {
                return Written::BadData(e);
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
    metrics::histogram!("samu_write_batch_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("samu_write_batch_reports").record(batch.positions.len() as f64);
    Written::Ok
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use samu_domain::{CentralId, UnitId, UnitStatus, UnitType};
    use samu_fleet::{StatusChange, StatusSource, UnitRecord};
    use samu_store::{CentralRow, UnitRow};
    use samu_testkit::TestBackend;
    use sqlx::{Connection, Executor};

    use super::*;
    use crate::ingest::AckKind;

    fn change(unit: &str, event_no: u64) -> StatusChange {
        StatusChange {
            unit: UnitId::parse("u", unit).unwrap(),
            event_no,
            at: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
                + chrono::TimeDelta::seconds(event_no as i64),
            status: UnitStatus::AvailableAtBase,
            out_of_service_reason: None,
            crew_complete: true,
            source: StatusSource::Crew,
        }
    }

    /// A migrated store with the central and the unit `good`.
    async fn store_with_unit(db: &samu_testkit::TestDatabase) -> Store {
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let now = Utc::now();
        let central = CentralId::parse("c", "3106200").unwrap();
        store
            .upsert_central(
                &CentralRow {
                    id: central.clone(),
                    name: "BH".into(),
                    time_zone: "America/Sao_Paulo".into(),
                    population: 1,
                },
                now,
            )
            .await
            .unwrap();
        let record = UnitRecord {
            id: UnitId::parse("u", "good").unwrap(),
            central,
            unit_type: UnitType::Usb,
            base: None,
            label: "G".into(),
        };
        store
            .upsert_unit(&UnitRow {
                record,
                habilitated_from: now,
                retired_at: None,
            })
            .await
            .unwrap();
        store
    }

    fn writer(store: &Store, spool_dir: &std::path::Path, spool_after: Duration) -> Writer {
        Writer {
            store: store.clone(),
            spool: Spool::open(spool_dir, SpoolConfig::default().limits()).unwrap(),
            health: Arc::default(),
            spool_after,
            max_batch: 64,
            live_states: LiveStates::new(Weak::new(), None),
            flush_turn: FLUSH_TURN,
        }
    }

    fn item(change: StatusChange, to: &mpsc::Sender<Reply>, seq: u64) -> WriteItem {
        WriteItem {
            status: Some(Box::new(change)),
            ack: Some((
                to.clone(),
                Ack {
                    seq,
                    kind: AckKind::Applied,
                },
            )),
            ..WriteItem::default()
        }
    }

    async fn a_bad_report_never_blocks_the_good_ones(backend: TestBackend) {
        let db = backend.fresh().await;
        let store = store_with_unit(&db).await;
        let spool_dir = tempfile::tempdir().unwrap();
        let mut writer = writer(&store, spool_dir.path(), Duration::from_secs(5));
        let (tx, mut rx) = mpsc::channel(8);
        // The second report names a unit the store does not know: a foreign
        // key violation, every time.
        let mut items = vec![
            item(change("good", 1), &tx, 1),
            item(change("ghost", 1), &tx, 2),
        ];
        writer.commit(&mut items).await;
        assert_eq!(
            rx.try_recv().unwrap().seq(),
            1,
            "the good report is stored and acknowledged"
        );
        assert!(rx.try_recv().is_err(), "the bad one is not acknowledged");
        assert!(writer.spool.is_empty(), "bad data is not spooled");
        assert_eq!(
            store
                .status_history(&UnitId::parse("u", "good").unwrap())
                .await
                .unwrap()
                .len(),
            1
        );
    }

    samu_testkit::backend_tests! {
        bad_report_isolated => a_bad_report_never_blocks_the_good_ones;
    }

    /// Another connection holds SQLite's write lock: the store is busy, not
    /// refusing the data.
    async fn lock_sqlite(url: &str) -> sqlx::AnyConnection {
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        conn.execute("BEGIN EXCLUSIVE").await.unwrap();
        conn
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_store_gets_spooled_writes_acknowledged_then_flushed_in_order() {
        let db = TestBackend::Sqlite.fresh().await;
        let store = store_with_unit(&db).await;
        let spool_dir = tempfile::tempdir().unwrap();
        let mut writer = writer(&store, spool_dir.path(), Duration::from_millis(300));
        let (tx, mut rx) = mpsc::channel(8);
        let mut lock = lock_sqlite(&db.url).await;

        writer
            .commit(&mut vec![item(change("good", 1), &tx, 1)])
            .await;
        assert_eq!(rx.try_recv().unwrap().seq(), 1, "acknowledged once spooled");
        let health = writer.health.report();
        assert!(health.degraded, "{health:?}");
        assert_eq!(health.spooled_batches, 1);
        // While the spool holds something, later writes queue behind it
        // without waiting for the store.
        let started = std::time::Instant::now();
        writer
            .commit(&mut vec![item(change("good", 2), &tx, 2)])
            .await;
        assert_eq!(rx.try_recv().unwrap().seq(), 2);
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "no wait once spooling"
        );
        assert_eq!(writer.health.report().spooled_batches, 2);
        assert!(matches!(writer.flush_some().await, Flushed::StoreAway(_)));

        lock.execute("COMMIT").await.unwrap();
        assert!(matches!(writer.flush_some().await, Flushed::Empty));
        assert!(!writer.health.report().degraded);
        let history = store
            .status_history(&UnitId::parse("u", "good").unwrap())
            .await
            .unwrap();
        assert_eq!(
            history.iter().map(|e| e.event_no).collect::<Vec<_>>(),
            vec![1, 2]
        );
        // And writes go straight to the store again.
        writer
            .commit(&mut vec![item(change("good", 3), &tx, 3)])
            .await;
        assert_eq!(rx.try_recv().unwrap().seq(), 3);
        assert!(writer.spool.is_empty());
    }

    /// A SQLite store with the unit `good`, and a writer on it whose spool
    /// holds `batches` batches, one status change each (event numbers 1,
    /// 2, …), acknowledged on the returned channel. The database and the
    /// spool's folder live as long as the first and third values.
    async fn writer_with_spooled(
        batches: u64,
    ) -> (
        samu_testkit::TestDatabase,
        Store,
        tempfile::TempDir,
        Writer,
        mpsc::Sender<Reply>,
        mpsc::Receiver<Reply>,
    ) {
        let db = TestBackend::Sqlite.fresh().await;
        let store = store_with_unit(&db).await;
        let spool_dir = tempfile::tempdir().unwrap();
        let mut writer = writer(&store, spool_dir.path(), Duration::from_millis(300));
        let (tx, rx) = mpsc::channel(64);
        let mut lock = lock_sqlite(&db.url).await;
        for n in 1..=batches {
            writer
                .commit(&mut vec![item(change("good", n), &tx, n)])
                .await;
        }
        lock.execute("ROLLBACK").await.unwrap();
        assert_eq!(writer.spool.len(), batches);
        (db, store, spool_dir, writer, tx, rx)
    }

    /// Queues status changes `numbers` (event and sequence numbers alike)
    /// on `queue`, acknowledged on `tx`, as the streams would.
    async fn enqueue(
        queue: &mpsc::Sender<WriteItem>,
        tx: &mpsc::Sender<Reply>,
        numbers: std::ops::RangeInclusive<u64>,
    ) {
        for n in numbers {
            queue.send(item(change("good", n), tx, n)).await.unwrap();
        }
    }

    async fn event_numbers(store: &Store) -> Vec<u64> {
        store
            .status_history(&UnitId::parse("u", "good").unwrap())
            .await
            .unwrap()
            .iter()
            .map(|e| e.event_no)
            .collect()
    }

    /// A flush turn stops once its time is up, with batches left, and what
    /// the streams queued meanwhile is taken at once: spooled behind the
    /// older batches and acknowledged, never kept waiting for the whole
    /// spool to reach the store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flush_turn_ends_in_time_and_the_queue_goes_behind_the_spool() {
        let (_db, store, _spool_dir, mut writer, tx, mut rx) = writer_with_spooled(4).await;
        for seq in 1..=4 {
            assert_eq!(
                rx.try_recv().unwrap().seq(),
                seq,
                "acknowledged once spooled"
            );
        }

        // A turn with no time at all still writes one batch, then stops.
        writer.flush_turn = Duration::ZERO;
        assert!(matches!(writer.flush_some().await, Flushed::Partly));
        assert_eq!(writer.spool.len(), 3);
        assert_eq!(event_numbers(&store).await, vec![1]);

        let (queue_tx, mut queue) = mpsc::channel(16);
        enqueue(&queue_tx, &tx, 5..=6).await;
        let mut items = Vec::new();
        assert_eq!(writer.take_queued(&mut queue, &mut items).await, 2);
        assert_eq!(rx.try_recv().unwrap().seq(), 5);
        assert_eq!(rx.try_recv().unwrap().seq(), 6);
        assert_eq!(writer.spool.len(), 4, "behind the three batches left");
        assert_eq!(
            writer.take_queued(&mut queue, &mut items).await,
            0,
            "an empty queue is not waited for"
        );

        // A turn of the default length empties this short spool, in order.
        writer.flush_turn = FLUSH_TURN;
        assert!(matches!(writer.flush_some().await, Flushed::Empty));
        assert_eq!(event_numbers(&store).await, vec![1, 2, 3, 4, 5, 6]);
        assert!(!writer.health.report().degraded);
    }

    /// The writer's own loop with the shortest turns: a report queued while
    /// the spool holds batches is acknowledged, stored after them, and the
    /// writer goes back to writing straight to the store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_interleaves_its_queue_with_a_spool_flush_and_keeps_the_order() {
        let (_db, store, _spool_dir, mut writer, tx, mut rx) = writer_with_spooled(8).await;
        writer.flush_turn = Duration::ZERO;
        let health = writer.health.clone();

        let (queue_tx, queue) = mpsc::channel(4);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(writer.run(queue, Duration::from_secs(5), shutdown.clone()));
        enqueue(&queue_tx, &tx, 9..=12).await;
        let mut acknowledged = Vec::new();
        while acknowledged.len() < 12 {
            let reply = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("every report acknowledged")
                .unwrap();
            acknowledged.push(reply.seq());
        }
        assert_eq!(acknowledged, (1..=12).collect::<Vec<_>>());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while event_numbers(&store).await.len() < 12 {
            assert!(
                std::time::Instant::now() < deadline,
                "the spool reaches the store"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(event_numbers(&store).await, (1..=12).collect::<Vec<_>>());

        enqueue(&queue_tx, &tx, 13..=13).await;
        let reply = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("acknowledged")
            .unwrap();
        assert_eq!(reply.seq(), 13);
        assert!(!health.report().degraded, "{:?}", health.report());
        assert_eq!(event_numbers(&store).await, (1..=13).collect::<Vec<_>>());
        shutdown.cancel();
        running.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_writes_what_the_last_run_spooled_before_anything_else() {
        let db = TestBackend::Sqlite.fresh().await;
        let store = store_with_unit(&db).await;
        let spool_dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::channel(8);
        {
            let mut lock = lock_sqlite(&db.url).await;
            let mut writer = writer(&store, spool_dir.path(), Duration::from_millis(200));
            writer
                .commit(&mut vec![item(change("good", 1), &tx, 1)])
                .await;
            assert_eq!(writer.spool.len(), 1);
            lock.execute("ROLLBACK").await.unwrap();
            // The process dies here with the batch in the spool only.
        }
        let unit = UnitId::parse("u", "good").unwrap();
        assert!(store.status_history(&unit).await.unwrap().is_empty());
        let health = WriteHealth::default();
        let spool = open_spool(
            &store,
            &SpoolConfig::default(),
            spool_dir.path().to_owned(),
            &health,
        )
        .await
        .unwrap();
        assert!(spool.is_empty());
        assert!(!health.report().degraded);
        assert_eq!(store.status_history(&unit).await.unwrap().len(), 1);
    }
}
