//! The [`Central`] handle, start-up and background tasks.

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use samu_domain::{CentralId, UnitId};
use samu_fleet::{FleetConfig, FleetState};
use samu_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{broadcast, mpsc},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::CredentialCache,
    feed::{FleetEvent, UnitView, WallOccurrence},
    fleet_lock::FleetLock,
    writer::{self, SpoolConfig, StartError, WriteHealth, WriteHealthReport, WriteItem, Writer},
};

/// Settings of the runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Reports waiting for the writer; when full, vehicle streams wait
    /// (back-pressure) instead of the server buffering without bound.
    pub write_queue: usize,
    /// Most reports merged into one transaction.
    pub max_batch: usize,
    /// How often the live state of units that only moved (their fixes and
    /// sequence numbers) is written behind the reports, in milliseconds.
    /// Their track and status history are stored before each
    /// acknowledgement; after a crash (not a clean stop) a unit resumes
    /// from a live state at most this much older than its last report,
    /// until its next one. 0 writes every report's live state before its
    /// acknowledgement, as before the write-behind.
    pub live_state_flush_ms: u64,
    /// How often the no-signal sweep runs, in milliseconds.
    pub signal_sweep_ms: u64,
    /// How often the credentials created or revoked in the store (by
    /// another instance) are read, in seconds.
    pub credential_refresh_s: u64,
    /// How often every active credential is read again, in seconds: a
    /// safety net for changes the frequent reads missed, and what drops
    /// expired sessions from memory.
    pub credential_full_refresh_s: u64,
    /// Changes the feed buffers for slow listeners before they must resync.
    pub feed_capacity: usize,
    /// How long shutdown waits for pending writes, in seconds.
    pub shutdown_grace_s: u64,
    /// How often the daily job looks for finished local days, in seconds.
    pub daily_job_s: u64,
    /// How often the wall's running figures are refreshed, in seconds.
    pub running_figures_s: u64,
    /// How long a login session's token lasts, in seconds (a shift: 12 h).
    pub session_ttl_s: u64,
    /// How long an occurrence's personal data is kept after it is closed,
    /// in days (20 years, as a medical record: CFM Res. 1.821/2007).
    pub personal_data_retention_days: u64,
    /// How long stored position fixes are kept, in days (a year).
    pub position_track_retention_days: u64,
    /// How long audit records are kept, in days (ten years, as the seed
    /// keeps accountability documents).
    pub audit_retention_days: u64,
    /// How often the retention job looks for data past its period, in seconds.
    pub retention_job_s: u64,
    /// Rate limits per device, person and login (`[runtime.limits]`).
    pub limits: crate::limits::LimitsConfig,
    /// The local spool that keeps writes while the store is away
    /// (`[runtime.spool]`).
    pub spool: SpoolConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            write_queue: 65_536,
            max_batch: 4_096,
            live_state_flush_ms: 2_000,
            signal_sweep_ms: 1_000,
            credential_refresh_s: 5,
            credential_full_refresh_s: 600,
            feed_capacity: 16_384,
            shutdown_grace_s: 10,
            daily_job_s: 60,
            running_figures_s: 10,
            session_ttl_s: 12 * 3600,
            personal_data_retention_days: 20 * 365 + 5,
            position_track_retention_days: 366,
            audit_retention_days: 10 * 365 + 3,
            retention_job_s: 3600,
            limits: crate::limits::LimitsConfig::default(),
            spool: SpoolConfig::default(),
        }
    }
}

/// The running central, shared by every adapter. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Central {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// A sync lock, not an async one: every critical section is one
    /// synchronous fleet method (microseconds) and never spans an `.await`.
    /// Priority-inheriting, for the console's real-time thread
    /// ([`crate::fleet_lock`]).
    pub(crate) fleet: FleetLock<FleetState>,
    pub(crate) store: Store,
    pub(crate) writes: mpsc::Sender<WriteItem>,
    /// Every change, local or from other instances: what walls listen to.
    pub(crate) feed: broadcast::Sender<FleetEvent>,
    /// Changes made on this instance only: what the Redis fan-out publishes
    /// (re-publishing remote changes would echo them forever).
    pub(crate) local_feed: broadcast::Sender<FleetEvent>,
    /// Running figures per central, for the wall.
    pub(crate) figures: RwLock<HashMap<CentralId, serde_json::Value>>,
    pub(crate) credentials: CredentialCache,
    /// Open occurrences as the wall shows them, by id (local and remote).
    pub(crate) occurrences: RwLock<HashMap<samu_occurrence::OccurrenceId, WallOccurrence>>,
    pub(crate) session_ttl: chrono::TimeDelta,
    /// Rate limits: keyed token buckets, each behind short sync locks.
    pub(crate) limits: crate::limits::Limits,
    /// Whether writes go to the store or wait in the spool.
    pub(crate) write_health: Arc<WriteHealth>,
    /// Live states of plain moves are written behind the reports
    /// (`runtime.live_state_flush_ms` > 0).
    pub(crate) live_states_behind: bool,
    /// The ingest path's metric handles.
    pub(crate) ingest_metrics: crate::ingest::IngestMetrics,
}

/// The background tasks of a running central; await [`RuntimeTasks::join`]
/// after cancelling the shutdown token so pending writes are flushed.
#[derive(Debug)]
pub struct RuntimeTasks {
    handles: Vec<JoinHandle<()>>,
}

impl RuntimeTasks {
    /// Waits for every task to end.
    pub async fn join(self) {
        for handle in self.handles {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "runtime task panicked");
            }
        }
    }
}

/// Units the signal sweep looks at per hold of the fleet's lock: about
/// 80 µs of a state's fleet on the load runs' machine (3.5 ms for 45 000).
const SWEEP_PART: usize = 1_024;

impl Central {
    /// Restores the fleet and credentials from the store and starts the
    /// writer, the no-signal sweep and the credential refresh. They run
    /// until `shutdown` is cancelled.
    ///
    /// Whatever an earlier run left in the spool is written to the store
    /// first, so the fleet read back is complete.
    ///
    /// # Errors
    /// The store could not be read, or the spool could not be opened or
    /// flushed.
    pub async fn start(
        store: Store,
        config: RuntimeConfig,
        fleet_config: FleetConfig,
        shutdown: CancellationToken,
    ) -> Result<(Self, RuntimeTasks), StartError> {
        let write_health = Arc::new(WriteHealth::default());
        let spool_dir = config
            .spool
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("samu-data").join("spool"));
        let spool = writer::open_spool(&store, &config.spool, spool_dir, &write_health).await?;
        let now = samu_domain::time::now();
        let mut fleet = FleetState::new(fleet_config);
        let units = store.load_fleet(now).await?;
        for (record, snapshot) in units {
            match snapshot {
                Some(snapshot) => fleet.restore_unit(record, snapshot),
                None => fleet.upsert_unit(record, now),
            }
        }
        tracing::info!(units = fleet.len(), "fleet restored from the store");
        let credentials = CredentialCache::default();
        let credentials_read_at = samu_domain::time::now();
        let mark = credentials.mark();
        credentials.replace(store.active_credentials(credentials_read_at).await?, mark);

        let (writes, write_rx) = mpsc::channel(config.write_queue.max(1));
        let (feed, _) = broadcast::channel(config.feed_capacity.max(16));
        let (local_feed, _) = broadcast::channel(config.feed_capacity.max(16));
        let central = Central {
            inner: Arc::new(Inner {
                fleet: FleetLock::new(fleet),
                store: store.clone(),
                writes,
                feed,
                local_feed,
                figures: RwLock::default(),
                credentials,
                occurrences: RwLock::default(),
                write_health: write_health.clone(),
                session_ttl: chrono::TimeDelta::seconds(
                    i64::try_from(config.session_ttl_s.clamp(60, 7 * 86_400)).unwrap_or(43_200),
                ),
                limits: crate::limits::Limits::new(config.limits.clone()),
                live_states_behind: config.live_state_flush_ms > 0,
                ingest_metrics: crate::ingest::IngestMetrics::register(),
            }),
        };
        let open = store
            .open_occurrences(None, now)
            .await?
            .into_iter()
            .filter_map(|s| samu_occurrence::Occurrence::replay(s.id, s.number, s.events).ok())
            .filter(|o| o.status().is_open())
            .map(|o| {
                let summary = samu_occurrence::Summary::of(&o, &Default::default());
                (o.id.clone(), WallOccurrence::from(&summary))
            })
            .collect::<HashMap<_, _>>();
        tracing::info!(occurrences = open.len(), "open occurrences restored");
        *central
            .inner
            .occurrences
            .write()
            .unwrap_or_else(|e| e.into_inner()) = open;
        let writer = Writer {
            store,
            spool,
            health: write_health,
            spool_after: Duration::from_millis(config.spool.after_ms.max(1)),
            max_batch: config.max_batch.max(1),
            flush_turn: writer::FLUSH_TURN,
            live_states: writer::LiveStates::new(
                Arc::downgrade(&central.inner),
                central
                    .inner
                    .live_states_behind
                    .then(|| Duration::from_millis(config.live_state_flush_ms)),
            ),
        };
        let handles = vec![
            tokio::spawn(writer.run(
                write_rx,
                Duration::from_secs(config.shutdown_grace_s),
                shutdown.clone(),
            )),
            tokio::spawn(central.clone().sweep_signal(
                Duration::from_millis(config.signal_sweep_ms.max(10)),
                shutdown.clone(),
            )),
            tokio::spawn(crate::reporting::daily_job(
                central.inner.store.clone(),
                Duration::from_secs(config.daily_job_s.max(1)),
                shutdown.clone(),
            )),
            tokio::spawn(crate::running::refresh(
                central.clone(),
                Duration::from_secs(config.running_figures_s.max(1)),
                shutdown.clone(),
            )),
            tokio::spawn(crate::retention::retention_job(
                central.clone(),
                crate::retention::Retention {
                    personal_data: days(config.personal_data_retention_days),
                    position_track: days(config.position_track_retention_days),
                    audit: days(config.audit_retention_days),
                },
                Duration::from_secs(config.retention_job_s.max(1)),
                shutdown.clone(),
            )),
            tokio::spawn(crate::limits::prune(
                central.clone(),
                Duration::from_secs(config.limits.prune_s.max(1)),
                shutdown.clone(),
            )),
            tokio::spawn(central.clone().refresh_credentials(
                credentials_read_at,
                Duration::from_secs(config.credential_refresh_s.max(1)),
                Duration::from_secs(config.credential_full_refresh_s.max(1)),
                shutdown,
            )),
        ];
        Ok((central, RuntimeTasks { handles }))
    }

    /// How long a login session lasts.
    pub fn session_ttl(&self) -> chrono::TimeDelta {
        self.inner.session_ttl
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Runs `f` with read access to the fleet. Keep `f` short and
    /// synchronous: ingest and every other reader wait while it runs.
    pub fn with_fleet<R>(&self, f: impl FnOnce(&FleetState) -> R) -> R {
        let fleet = self.inner.fleet.lock();
        f(&fleet)
    }

    pub(crate) fn with_fleet_mut<R>(&self, f: impl FnOnce(&mut FleetState) -> R) -> R {
        let mut fleet = self.inner.fleet.lock();
        f(&mut fleet)
    }

    /// Views of every unit, or of one central's, ordered by id. A unit that
    /// reports to another instance is in the fleet state too, at its
    /// owner's latest view.
    pub fn unit_views(&self, central: Option<&CentralId>) -> Vec<UnitView> {
        let mut views: Vec<UnitView> = self.with_fleet(|fleet| {
            fleet
                .units()
                .filter(|u| central.is_none_or(|c| &u.record.central == c))
                .map(UnitView::from)
                .collect()
        });
        views.sort_by(|a, b| a.id.cmp(&b.id));
        views
    }

    /// Views of the units whose reports this instance took (those it has
    /// live data for), for republishing to peers.
    pub fn local_unit_views(&self) -> Vec<UnitView> {
        self.with_fleet(|fleet| {
            fleet
                .units()
                .filter(|u| u.last_seq() > 0 && !u.is_remote())
                .map(UnitView::from)
                .collect()
        })
    }

    /// Listens to every fleet change from now on (local and remote).
    pub fn subscribe(&self) -> broadcast::Receiver<FleetEvent> {
        self.inner.feed.subscribe()
    }

    /// Listens to changes made on this instance only.
    pub fn subscribe_local(&self) -> broadcast::Receiver<FleetEvent> {
        self.inner.local_feed.subscribe()
    }

    /// Open occurrences as the wall shows them, of one central or all,
    /// oldest first.
    pub fn wall_occurrences(&self, central: Option<&CentralId>) -> Vec<WallOccurrence> {
        let mut list: Vec<WallOccurrence> = self
            .inner
            .occurrences
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|o| central.is_none_or(|c| &o.central == c))
            .cloned()
            .collect();
        list.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        list
    }

    /// Keeps the wall's list of open occurrences current.
    fn remember_occurrence(&self, summary: &samu_occurrence::Summary) {
        let mut open = self
            .inner
            .occurrences
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if summary.status.is_open() {
            open.insert(summary.id.clone(), WallOccurrence::from(summary));
        } else {
            open.remove(&summary.id);
        }
    }

    /// Tells the other instances only (through the fan-out), not the walls.
    pub(crate) fn publish_to_peers(&self, event: FleetEvent) {
        let _ = self.inner.local_feed.send(event);
    }

    /// Publishes a change made on this instance.
    pub fn publish(&self, event: FleetEvent) {
        if let FleetEvent::Occurrence(summary) = &event {
            self.remember_occurrence(summary);
        }
        // No listener is not an error: no wall is connected. Without the
        // Redis fan-out nothing listens to the local feed: the copy for it
        // (a unit's id, central and label, on every fix) is not made.
        if self.inner.local_feed.receiver_count() > 0 {
            let _ = self.inner.local_feed.send(event.clone());
        }
        let _ = self.inner.feed.send(event);
    }

    /// Takes in a change made on another instance: remembered for snapshots
    /// and passed to this instance's walls. Older than what is known: ignored.
    pub fn apply_remote(&self, event: FleetEvent) {
        if let FleetEvent::Indicators { central, figures } = &event {
            self.inner
                .figures
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(central.clone(), figures.clone());
            let _ = self.inner.feed.send(event);
            return;
        }
        if let FleetEvent::Occurrence(summary) = &event {
            self.remember_occurrence(summary);
            let _ = self.inner.feed.send(event);
            return;
        }
        if let FleetEvent::CentralStatus { unit, status, at } = event {
            self.apply_peer_directive(unit, status, at);
            return;
        }
        let FleetEvent::Unit(view) = &event else {
            return;
        };
        // Kept in the fleet state (nearest-unit answers, dispatch checks,
        // wall snapshots) and passed to the walls, unless older than what
        // this instance knows.
        if self.with_fleet_mut(|fleet| fleet.apply_remote_view(view.to_remote())) {
            let _ = self.inner.feed.send(event);
        }
    }

    /// A peer decided a unit's status; applied and written here only when
    /// this instance holds the unit's stream (or last did).
    fn apply_peer_directive(
        &self,
        unit: UnitId,
        status: samu_domain::UnitStatus,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let owned = |state: &samu_fleet::UnitState| !state.is_remote() && state.last_seq() > 0;
        if let Some(item) = self.decide_status(&unit, status, at, owned) {
            let writes = self.inner.writes.clone();
            tokio::spawn(async move {
                if writes.send(item).await.is_err() {
                    tracing::warn!("writer stopped; a peer's status decision is not stored");
                }
            });
        }
    }

    /// Applies a status the central decided for a unit, when `accept` says
    /// so of the unit's state: the fleet changes and walls hear of it; the
    /// status event is returned for the caller to queue for the writer.
    /// `None` when the unit is unknown, refused, or nothing changed.
    pub(crate) fn decide_status(
        &self,
        unit: &UnitId,
        status: samu_domain::UnitStatus,
        at: chrono::DateTime<chrono::Utc>,
        accept: impl FnOnce(&samu_fleet::UnitState) -> bool,
    ) -> Option<WriteItem> {
        let now = samu_domain::time::now();
        let (item, view) = self.with_fleet_mut(|fleet| {
            if !accept(fleet.unit(unit)?) {
                return None;
            }
            let change = fleet.apply_central_status(unit, status, at, now).ok()??;
            let state = fleet.unit(unit)?;
            Some((
                WriteItem::status(change, state.snapshot()),
                UnitView::from(state),
            ))
        })?;
        self.publish(FleetEvent::Unit(view));
        Some(item)
    }

    /// Reports waiting for the writer.
    pub fn write_backlog(&self) -> usize {
        self.inner.writes.max_capacity() - self.inner.writes.capacity()
    }

    /// Whether writes reach the store or wait in the local spool.
    pub fn write_health(&self) -> WriteHealthReport {
        self.inner.write_health.report()
    }

    /// Whether the store answers.
    ///
    /// # Errors
    /// The store's error.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.inner.store.ping().await
    }

    async fn sweep_signal(self, every: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let now = samu_domain::time::now();
            // The walk over every unit, a few milliseconds on a state's
            // fleet, goes in parts of `SWEEP_PART` units, each under the
            // lock on its own: in one hold it made every query and report
            // of that moment wait as long (a console's nearest over its
            // 2 ms, BENCHMARKS.md set 17). Then the lock once more for the
            // units that did go silent, if any.
            let mut due = Vec::new();
            let mut next = Some(0);
            let mut longest = Duration::ZERO;
            while let Some(from) = next {
                let started = std::time::Instant::now();
                next = self
                    .with_fleet(|fleet| fleet.signal_lost_from(from, SWEEP_PART, &mut due, now));
                longest = longest.max(started.elapsed());
            }
            let mut items = Vec::new();
            if !due.is_empty() {
                let started = std::time::Instant::now();
                items = self.with_fleet_mut(|fleet| {
                    fleet
                        .declare_signal_lost(&due, now)
                        .into_iter()
                        .filter_map(|change| {
                            let unit = fleet.unit(&change.unit)?;
                            Some((
                                WriteItem::status(change, unit.snapshot()),
                                UnitView::from(unit),
                            ))
                        })
                        .collect::<Vec<_>>()
                });
                longest = longest.max(started.elapsed());
            }
            // The sweep's longest hold of the lock.
            metrics::histogram!("samu_fleet_write_lock_seconds", "by" => "signal_sweep")
                .record(longest.as_secs_f64());
            for (item, view) in items {
                tracing::info!(unit = %view.id, "unit has no signal");
                self.publish(FleetEvent::Unit(view));
                if self.inner.writes.send(item).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Keeps the credential cache in step with the store, where other
    /// instances issue and revoke: every `every`, what was created or
    /// revoked since the last read (from [`CREDENTIAL_OVERLAP`] before it);
    /// every `full_every`, every active credential again, which also drops
    /// the expired ones. Reading them all every few seconds was a burst of
    /// work on a runtime worker each time, growing with every token issued.
    async fn refresh_credentials(
        self,
        mut read_at: DateTime<Utc>,
        every: Duration,
        full_every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut full_at = tokio::time::Instant::now() + full_every;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let started = std::time::Instant::now();
            let now = samu_domain::time::now();
            let mark = self.inner.credentials.mark();
            let store = &self.inner.store;
            let full = tokio::time::Instant::now() >= full_at;
            let read = if full {
                match store.active_credentials(now).await {
                    Ok(active) => {
                        let central = self.clone();
                        // Building a set of tens of thousands is milliseconds
                        // of work: off the runtime's workers.
                        tokio::task::spawn_blocking(move || {
                            central.inner.credentials.replace(active, mark)
                        })
                        .await
                        .map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                }
            } else {
                store
                    .credentials_changed_since(read_at - CREDENTIAL_OVERLAP)
                    .await
                    .map(|changes| self.inner.credentials.apply(changes, mark))
                    .map_err(|e| e.to_string())
            };
            match read {
                Ok(()) => {
                    read_at = now;
                    if full {
                        full_at = tokio::time::Instant::now() + full_every;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, full, "credential refresh failed; keeping the cached set")
                }
            }
            metrics::histogram!("samu_credential_refresh_seconds", "kind" => if full { "full" } else { "changes" })
                .record(started.elapsed().as_secs_f64());
        }
    }
}

/// How far back each credential refresh reads before the previous read:
/// a credential is stamped by its issuing instance's clock before its
/// insert commits, so a read can miss one stamped just before it that
/// commits just after, or stamped by a clock running behind. Reading the
/// last minute again catches both; the full reads catch anything else.
const CREDENTIAL_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// A retention period in days, between one day and a century.
fn days(n: u64) -> chrono::TimeDelta {
    chrono::TimeDelta::days(i64::try_from(n.clamp(1, 36_500)).unwrap_or(36_500))
}
