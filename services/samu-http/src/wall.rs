//! The wall feed: `GET /ws/wall[?central=ID][&token=…]`.
//!
//! The first frame is a snapshot; then, every tick (100 ms by default), one
//! delta with the units that changed since the previous frame, each at its
//! latest state. One encoder task per filter ([`WallHubs`]) builds and
//! serialises each tick's delta once; each client has its own task that
//! subscribes to its filter's encoded frames *before* reading the snapshot,
//! so nothing falls between the two.
//!
//! A client that cannot keep up never slows anyone else: the broadcast does
//! not wait for it, and when it falls behind by more than the broadcast's
//! capacity it gets a fresh snapshot instead of the changes it missed. A
//! client whose socket stops draining (send blocked longer than the send
//! timeout) or that stops answering pings is closed.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use samu_domain::{CentralId, UnitId};
use samu_runtime::{Central, FleetEvent, UnitView, WallOccurrence};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, broadcast::error::RecvError};
use tokio_util::sync::CancellationToken;

/// Settings of the wall feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WallConfig {
    /// Deltas are coalesced over this period, in milliseconds.
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
            tick_ms: 100,
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
        units: Vec<UnitView>,
        /// Changed occurrences; a closed one comes once more with its final
        /// status, for the wall to drop it.
        occurrences: Vec<WallOccurrence>,
        /// Changed running figures, by central (replace the snapshot's).
        #[serde(skip_serializing_if = "serde_json::Map::is_empty", default)]
        indicators: serde_json::Map<String, serde_json::Value>,
    },
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

/// The shared encoders of the feed: one task per filter (every central, or
/// one central) coalesces the changes of each tick and serialises the delta
/// **once**; every client of that filter forwards the same bytes. With a
/// hundred walls, a tick costs one serialisation instead of a hundred.
#[derive(Debug, Clone, Default)]
pub struct WallHubs {
    hubs: Arc<Mutex<HashMap<Option<CentralId>, broadcast::Sender<Utf8Bytes>>>>,
}

/// Encoded frames a hub keeps for slow clients (at 10 ticks a second, a few
/// seconds) before they must resynchronise from a snapshot.
const HUB_CAPACITY: usize = 64;

impl WallHubs {
    /// The encoded frames of `filter`'s hub, starting one on first use.
    fn subscribe(
        &self,
        central: &Central,
        filter: Option<&CentralId>,
        config: &WallConfig,
        shutdown: &CancellationToken,
    ) -> broadcast::Receiver<Utf8Bytes> {
        let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = hubs.get(&filter.cloned()) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(HUB_CAPACITY);
        hubs.insert(filter.cloned(), tx.clone());
        tokio::spawn(hub(
            central.clone(),
            filter.cloned(),
            tx,
            Duration::from_millis(config.tick_ms.max(10)),
            shutdown.clone(),
        ));
        rx
    }
}

fn encode(frame: &WallFrame) -> Utf8Bytes {
    metrics::counter!("samu_wall_frames_encoded_total").increment(1);
    Utf8Bytes::from(serde_json::to_string(frame).expect("wall frames serialize"))
}

/// One filter's encoder: listens to every change, and each tick sends one
/// serialised delta to every client of the filter.
async fn hub(
    central: Central,
    filter: Option<CentralId>,
    frames: broadcast::Sender<Utf8Bytes>,
    tick: Duration,
    shutdown: CancellationToken,
) {
    let filter = filter.as_ref();
    let mut changes = central.subscribe();
    let mut units: BTreeMap<UnitId, UnitView> = BTreeMap::new();
    let mut figures = serde_json::Map::new();
    let mut occurrences: BTreeMap<String, WallOccurrence> = BTreeMap::new();
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            change = changes.recv() => match change {
                Ok(FleetEvent::Unit(view)) => {
                    if filter.is_none_or(|c| c == &view.central) {
                        units.insert(view.id.clone(), view);
                    }
                }
                Ok(FleetEvent::Occurrence(summary)) => {
                    if filter.is_none_or(|c| c == &summary.central) {
                        occurrences.insert(summary.id.to_string(), WallOccurrence::from(&*summary));
                    }
                }
                Ok(FleetEvent::Indicators { central: id, figures: f }) => {
                    if filter.is_none_or(|c| c == &id) {
                        figures.insert(id.to_string(), f);
                    }
                }
                Ok(FleetEvent::CentralStatus { .. }) => {}
                Err(RecvError::Lagged(missed)) => {
                    // The hub itself fell behind: every client of the filter
                    // gets the same fresh snapshot.
                    tracing::warn!(missed, "wall hub lagged; sending a snapshot");
                    metrics::counter!("samu_wall_resyncs_total").increment(1);
                    units.clear();
                    figures.clear();
                    occurrences.clear();
                    let _ = frames.send(encode(&snapshot(&central, filter)));
                }
                Err(RecvError::Closed) => return,
            },
            _ = ticker.tick() => {
                if units.is_empty() && figures.is_empty() && occurrences.is_empty() {
                    continue;
                }
                let delta = WallFrame::Delta {
                    at: Utc::now(),
                    units: std::mem::take(&mut units).into_values().collect(),
                    occurrences: std::mem::take(&mut occurrences).into_values().collect(),
                    indicators: std::mem::take(&mut figures),
                };
                if frames.receiver_count() > 0 {
                    let _ = frames.send(encode(&delta));
                }
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
    // Subscribe before the snapshot: nothing falls between the two (a delta
    // repeating what the snapshot shows is harmless: latest state wins).
    let mut frames = hubs.subscribe(central, filter, config, shutdown);
    let first = Message::Text(encode(&snapshot(central, filter)));
    if !matches!(
        tokio::time::timeout(send_timeout, sink.send(first)).await,
        Ok(Ok(()))
    ) {
        return End::SendFailed;
    }
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
                Ok(bytes) => Message::Text(bytes),
                Err(RecvError::Lagged(missed)) => {
                    // Fell behind: the fresh snapshot replaces what was missed.
                    tracing::debug!(missed, "wall client lagged; resynchronising");
                    metrics::counter!("samu_wall_resyncs_total").increment(1);
                    Message::Text(encode(&snapshot(central, filter)))
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
