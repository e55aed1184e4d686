//! The wall feed: `GET /ws/wall[?central=ID][&token=…]`.
//!
//! The first frame is a snapshot; then, every tick (50 ms by default), one
//! delta with the units that changed since the previous frame, each at its
//! latest state. One encoder task ([`WallHubs`]) takes each tick's changes,
//! sorts them by filter, and serialises each filter's delta once; each
//! client has its own task that subscribes to its filter's encoded frames
//! *before* reading the snapshot, so nothing falls between the two.
//!
//! A client that cannot keep up never slows anyone else: the broadcast does
//! not wait for it, and when it falls behind by more than the broadcast's
//! capacity it gets a fresh snapshot instead of the changes it missed. A
//! client whose socket stops draining (send blocked longer than the send
//! timeout) or that stops answering pings is closed.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use samu_domain::{CentralId, UnitId};
use samu_runtime::{Central, FleetEvent, UnitView, WallOccurrence};
use serde::{Deserialize, Serialize};
use tokio::sync::{
    broadcast,
    broadcast::error::{RecvError, TryRecvError},
};
use tokio_util::sync::CancellationToken;

/// Settings of the wall feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WallConfig {
    /// Deltas are coalesced over this period, in milliseconds. Half of it,
    /// on average, is added to every change's way to the wall: at 50 ms
    /// (20 frames a second) a change is on the wall well within the
    /// 150 ms the load runs hold it to; a frame costs the same bytes either
    /// way, split finer.
    pub tick_ms: u64,
    /// Ping period, in seconds.
    pub ping_s: u64,
    /// A client silent for this long (no pong, no message) is closed, in seconds.
    pub idle_timeout_s: u64,
    /// A frame that cannot be written within this time closes the client, in seconds.
    pub send_timeout_s: u64,
}

impl Default for WallConfig {
    fn default() -> Self {
        Self {
            tick_ms: 50,
            ping_s: 15,
            idle_timeout_s: 45,
            send_timeout_s: 5,
        }
    }
}

/// One frame of the feed (format in `contracts.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WallFrame {
    /// Everything the client may see.
    Snapshot {
        /// When it was taken.
        at: DateTime<Utc>,
        /// Every unit.
        #[serde(serialize_with = "compact_units")]
        units: Vec<UnitView>,
        /// Open occurrences (no patient data ever).
        occurrences: Vec<WallOccurrence>,
        /// Today's running figures per central.
        indicators: serde_json::Map<String, serde_json::Value>,
    },
    /// What changed since the previous frame.
    Delta {
        /// When it was sent.
        at: DateTime<Utc>,
        /// Changed units, at their latest state.
        #[serde(serialize_with = "compact_units")]
        units: Vec<UnitView>,
        /// Changed occurrences; a closed one comes once more with its final
        /// status, for the wall to drop it.
        occurrences: Vec<WallOccurrence>,
        /// Changed running figures, by central (replace the snapshot's).
        #[serde(skip_serializing_if = "serde_json::Map::is_empty", default)]
        indicators: serde_json::Map<String, serde_json::Value>,
    },
}

/// Units as the wall's JSON carries them: every field of [`UnitView`], with
/// coordinates to 10⁻⁶ degree (11 cm, far below a GPS fix's error), the
/// heading to a tenth of a degree, times to the millisecond, and no
/// `out_of_service_reason` when there is none. At ten thousand changes a
/// second to every wall, a quarter fewer bytes is a quarter less to
/// write, send and parse.
fn compact_units<S: serde::Serializer>(units: &[UnitView], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(units.iter().map(CompactUnit))
}

struct CompactUnit<'a>(&'a UnitView);

impl Serialize for CompactUnit<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        fn round(x: f64, scale: f64) -> f64 {
            (x * scale).round() / scale
        }
        fn millis(t: &DateTime<Utc>) -> String {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }
        let u = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &u.id)?;
        map.serialize_entry("central", &u.central)?;
        map.serialize_entry("type", &u.unit_type)?;
        map.serialize_entry("label", &u.label)?;
        map.serialize_entry("status", &u.status)?;
        if let Some(reason) = &u.out_of_service_reason {
            map.serialize_entry("out_of_service_reason", reason)?;
        }
        map.serialize_entry("lat", &u.lat.map(|x| round(x, 1e6)))?;
        map.serialize_entry("lon", &u.lon.map(|x| round(x, 1e6)))?;
        if let Some(heading) = u.heading {
            map.serialize_entry("heading", &round(f64::from(heading), 10.0))?;
        }
        map.serialize_entry("crew_complete", &u.crew_complete)?;
        map.serialize_entry("fix_at", &u.fix_at.as_ref().map(millis))?;
        map.serialize_entry("updated_at", &millis(&u.updated_at))?;
        map.end()
    }
}

/// The snapshot for a client watching `central` (or everything).
pub fn snapshot(central: &Central, filter: Option<&CentralId>) -> WallFrame {
    WallFrame::Snapshot {
        at: Utc::now(),
        units: central.unit_views(filter),
        occurrences: central.wall_occurrences(filter),
        indicators: central
            .running_figures()
            .into_iter()
            .filter(|(id, _)| filter.is_none_or(|c| c.as_str() == id))
            .collect(),
    }
}

/// Why a client's session ended.
#[derive(Debug)]
enum End {
    ClientClosed,
    SendFailed,
    SlowClient,
    Idle,
    Shutdown,
}

/// The shared encoder of the feed: one task takes the changes of each tick
/// at once, sorts them by filter (every central, or one central), and
/// serialises each filter's delta **once**; every client of that filter
/// forwards the same bytes. With a hundred walls, a tick costs one
/// serialisation per filter instead of one per wall.
///
/// One task for every filter, draining the feed once a tick: with a task
/// per filter woken for every change, fifty centrals' walls cost fifty
/// wake-ups and fifty copies of each of 10 000 changes a second, and the
/// hubs fell behind the feed (load-tests' state phase).
///
/// Snapshots come from the encoder too: a client that connects, or that
/// fell behind, asks its filter's hub for one and the encoder writes it at
/// its next tick, once for every client waiting, in order with the deltas.
/// A hundred walls resynchronising together cost one snapshot, not a
/// hundred (a snapshot of 10 000 units is megabytes of JSON: encoded per
/// client, they starved the very ingest the walls were behind on).
#[derive(Debug, Clone, Default)]
pub struct WallHubs {
    hubs: Arc<Mutex<HashMap<Option<CentralId>, Hub>>>,
    /// Set when the encoder task starts, with the first hub.
    encoder: Arc<OnceLock<()>>,
}

/// One filter's hub, as its clients see it.
#[derive(Debug, Clone)]
struct Hub {
    frames: broadcast::Sender<Encoded>,
    /// Set by a client that needs a snapshot; the encoder clears it when
    /// it sends one.
    wants_snapshot: Arc<AtomicBool>,
}

/// A frame serialised once for every client of a hub.
#[derive(Debug, Clone)]
struct Encoded {
    kind: Kind,
    bytes: Utf8Bytes,
}

/// What an encoded frame is, and so who takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The tick's changes: for the clients in sync.
    Delta,
    /// For the clients waiting for one; the others skip it.
    Snapshot,
    /// The encoder itself lost changes: every client takes it.
    SnapshotForAll,
}

/// Encoded frames a hub keeps for slow clients (at 20 ticks a second, a few
/// seconds) before they must resynchronise from a snapshot.
const HUB_CAPACITY: usize = 128;

impl WallHubs {
    /// `filter`'s hub, starting the encoder on first use.
    fn hub(
        &self,
        central: &Central,
        filter: Option<&CentralId>,
        config: &WallConfig,
        shutdown: &CancellationToken,
    ) -> Hub {
        self.encoder.get_or_init(|| {
            tokio::spawn(run_encoder(
                central.clone(),
                self.hubs.clone(),
                Duration::from_millis(config.tick_ms.max(10)),
                shutdown.clone(),
            ));
        });
        let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
        hubs.entry(filter.cloned())
            .or_insert_with(|| Hub {
                frames: broadcast::channel(HUB_CAPACITY).0,
                wants_snapshot: Arc::new(AtomicBool::new(false)),
            })
            .clone()
    }
}

fn encode(frame: &WallFrame) -> Utf8Bytes {
    let kind = match frame {
        WallFrame::Snapshot { .. } => "snapshot",
        WallFrame::Delta { .. } => "delta",
    };
    metrics::counter!("samu_wall_frames_encoded_total", "kind" => kind).increment(1);
    Utf8Bytes::from(serde_json::to_string(frame).expect("wall frames serialize"))
}

/// One filter's changes since its last delta, each at its latest state.
#[derive(Debug, Default)]
struct Pending {
    units: BTreeMap<UnitId, UnitView>,
    figures: serde_json::Map<String, serde_json::Value>,
    occurrences: BTreeMap<String, WallOccurrence>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.units.is_empty() && self.figures.is_empty() && self.occurrences.is_empty()
    }

    fn take(&mut self, event: FleetEvent) {
        match event {
            FleetEvent::Unit(view) => {
                self.units.insert(view.id.clone(), view);
            }
            FleetEvent::Occurrence(summary) => {
                self.occurrences
                    .insert(summary.id.to_string(), WallOccurrence::from(&*summary));
            }
            FleetEvent::Indicators { central, figures } => {
                self.figures.insert(central.to_string(), figures);
            }
            FleetEvent::CentralStatus { .. } => {}
        }
    }

    fn delta(&mut self) -> WallFrame {
        WallFrame::Delta {
            at: Utc::now(),
            units: std::mem::take(&mut self.units).into_values().collect(),
            occurrences: std::mem::take(&mut self.occurrences)
                .into_values()
                .collect(),
            indicators: std::mem::take(&mut self.figures),
        }
    }
}

/// How old each unit's fix is as its delta is encoded: with the server's
/// `samu_report_age_seconds`, this tells a wall's latency on the way in
/// from the latency in the server and on the way out to the walls.
fn record_fix_ages(delta: &WallFrame) {
    let WallFrame::Delta { at, units, .. } = delta else {
        return;
    };
    let ages = metrics::histogram!("samu_wall_fix_age_seconds");
    for fix_at in units.iter().filter_map(|unit| unit.fix_at) {
        ages.record(samu_domain::time::span(fix_at, *at).as_secs_f64());
    }
}

/// The central an event belongs to; none for what walls never see.
fn central_of(event: &FleetEvent) -> Option<&CentralId> {
    match event {
        FleetEvent::Unit(view) => Some(&view.central),
        FleetEvent::Occurrence(summary) => Some(&summary.central),
        FleetEvent::Indicators { central, .. } => Some(central),
        FleetEvent::CentralStatus { .. } => None,
    }
}

/// The encoder: each tick, takes every change since the last one from the
/// feed, hands each to the hubs of its central and of the whole state, and
/// sends each hub's delta, then a snapshot to the hubs a client asked one of.
async fn run_encoder(
    central: Central,
    hubs: Arc<Mutex<HashMap<Option<CentralId>, Hub>>>,
    tick: Duration,
    shutdown: CancellationToken,
) {
    let mut changes = central.subscribe();
    let mut by_central: HashMap<CentralId, Pending> = HashMap::new();
    let mut whole_state = Pending::default();
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let current: Vec<(Option<CentralId>, Hub)> = hubs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(filter, hub)| (filter.clone(), hub.clone()))
            .collect();
        let mut has_whole_state = false;
        for (filter, _) in &current {
            match filter {
                // Once per central, not a copy of its id every tick.
                Some(id) if !by_central.contains_key(id) => {
                    by_central.insert(id.clone(), Pending::default());
                }
                Some(_) => {}
                None => has_whole_state = true,
            }
        }
        let mut lagged = false;
        loop {
            match changes.try_recv() {
                Ok(event) => {
                    let Some(id) = central_of(&event) else {
                        continue;
                    };
                    match (by_central.get_mut(id), has_whole_state) {
                        (Some(own), true) => {
                            own.take(event.clone());
                            whole_state.take(event);
                        }
                        (Some(own), false) => own.take(event),
                        (None, true) => whole_state.take(event),
                        (None, false) => {}
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "wall encoder lagged; sending snapshots");
                    metrics::counter!("samu_wall_resyncs_total", "who" => "hub").increment(1);
                    changes = changes.resubscribe();
                    lagged = true;
                    break;
                }
                Err(TryRecvError::Closed) => return,
            }
        }
        if lagged {
            // Start again from now: every client of every filter takes the
            // same fresh snapshot, in sync or not.
            by_central
                .values_mut()
                .for_each(|p| *p = Pending::default());
            whole_state = Pending::default();
            for (filter, hub) in &current {
                hub.wants_snapshot.store(false, Ordering::Release);
                let _ = hub.frames.send(Encoded {
                    kind: Kind::SnapshotForAll,
                    bytes: encode(&snapshot(&central, filter.as_ref())),
                });
            }
            continue;
        }
        for (filter, hub) in &current {
            let pending = match filter {
                Some(id) => by_central.get_mut(id),
                None => Some(&mut whole_state),
            };
            if let Some(pending) = pending.filter(|p| !p.is_empty()) {
                let delta = pending.delta();
                if hub.frames.receiver_count() > 0 {
                    record_fix_ages(&delta);
                    let _ = hub.frames.send(Encoded {
                        kind: Kind::Delta,
                        bytes: encode(&delta),
                    });
                }
            }
            // After the delta: the snapshot reads the fleet now, so it holds
            // everything the delta had.
            if hub.wants_snapshot.swap(false, Ordering::AcqRel) {
                let _ = hub.frames.send(Encoded {
                    kind: Kind::Snapshot,
                    bytes: encode(&snapshot(&central, filter.as_ref())),
                });
            }
        }
    }
}

/// Runs one wall client until it leaves, stalls or the server stops.
pub async fn run_client(
    socket: WebSocket,
    central: Central,
    filter: Option<CentralId>,
    config: WallConfig,
    hubs: WallHubs,
    shutdown: CancellationToken,
) {
    metrics::gauge!("samu_wall_clients").increment(1.0);
    let end = session(socket, &central, filter.as_ref(), &config, &hubs, &shutdown).await;
    metrics::gauge!("samu_wall_clients").decrement(1.0);
    tracing::debug!(?end, "wall client left");
}

async fn session(
    socket: WebSocket,
    central: &Central,
    filter: Option<&CentralId>,
    config: &WallConfig,
    hubs: &WallHubs,
    shutdown: &CancellationToken,
) -> End {
    let (mut sink, mut stream) = socket.split();
    let send_timeout = Duration::from_secs(config.send_timeout_s.max(1));
    // Subscribe, then ask for a snapshot: the hub sends it in order with
    // its deltas, so nothing falls between the two. Until it comes, deltas
    // are skipped (the snapshot holds them); once in sync, snapshots meant
    // for other clients are.
    let hub = hubs.hub(central, filter, config, shutdown);
    let mut frames = hub.frames.subscribe();
    hub.wants_snapshot.store(true, Ordering::Release);
    let mut in_sync = false;
    let mut ping = tokio::time::interval(Duration::from_secs(config.ping_s.max(1)));
    ping.tick().await;
    let idle_timeout = Duration::from_secs(config.idle_timeout_s.max(1));
    let mut last_heard = tokio::time::Instant::now();

    loop {
        let outgoing = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                return End::Shutdown;
            }
            frame = frames.recv() => match frame {
                Ok(Encoded { kind, bytes }) => {
                    let take = match kind {
                        Kind::Delta => in_sync,
                        Kind::Snapshot => !in_sync,
                        Kind::SnapshotForAll => true,
                    };
                    if !take {
                        // A delta before our snapshot (which holds it), or a
                        // snapshot for another client.
                        continue;
                    }
                    in_sync = true;
                    Message::Text(bytes)
                }
                Err(RecvError::Lagged(missed)) => {
                    // Fell behind: skip what is left of the backlog and
                    // wait for a fresh snapshot, which replaces it.
                    tracing::debug!(missed, "wall client lagged; resynchronising");
                    metrics::counter!("samu_wall_resyncs_total", "who" => "client").increment(1);
                    frames = frames.resubscribe();
                    hub.wants_snapshot.store(true, Ordering::Release);
                    in_sync = false;
                    continue;
                }
                Err(RecvError::Closed) => return End::Shutdown,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > idle_timeout {
                    return End::Idle;
                }
                Message::Ping(Default::default())
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return End::ClientClosed,
                Some(Ok(_)) => {
                    last_heard = tokio::time::Instant::now();
                    continue;
                }
            },
        };
        match tokio::time::timeout(send_timeout, sink.send(outgoing)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return End::SendFailed,
            Err(_) => {
                metrics::counter!("samu_wall_slow_clients_total").increment(1);
                return End::SlowClient;
            }
        }
    }
}
