//! The wall feed: `GET /ws/wall[?central=ID][&token=…]`.
//!
//! The first frame is a snapshot; then, every tick (100 ms by default), one
//! delta with the units that changed since the previous frame, each at its
//! latest state. Each client has its own task: it subscribes to the change
//! broadcast *before* reading the snapshot, so nothing falls between the two.
//!
//! A client that cannot keep up never slows anyone else: the broadcast does
//! not wait for it, and when it falls behind by more than the broadcast's
//! capacity it gets a fresh snapshot instead of the changes it missed. A
//! client whose socket stops draining (send blocked longer than the send
//! timeout) or that stops answering pings is closed.

use std::{collections::BTreeMap, time::Duration};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use samu_domain::{CentralId, UnitId};
use samu_runtime::{Central, FleetEvent, UnitView, WallOccurrence};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
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

/// Runs one wall client until it leaves, stalls or the server stops.
pub async fn run_client(
    socket: WebSocket,
    central: Central,
    filter: Option<CentralId>,
    config: WallConfig,
    shutdown: CancellationToken,
) {
    metrics::gauge!("samu_wall_clients").increment(1.0);
    let end = session(socket, &central, filter.as_ref(), &config, &shutdown).await;
    metrics::gauge!("samu_wall_clients").decrement(1.0);
    tracing::debug!(?end, "wall client left");
}

async fn session(
    socket: WebSocket,
    central: &Central,
    filter: Option<&CentralId>,
    config: &WallConfig,
    shutdown: &CancellationToken,
) -> End {
    let (mut sink, mut stream) = socket.split();
    let send_timeout = Duration::from_secs(config.send_timeout_s.max(1));
    let send = |frame: WallFrame| {
        let text = serde_json::to_string(&frame).expect("wall frames serialize");
        Message::Text(Utf8Bytes::from(text))
    };
    let mut changes = central.subscribe();
    if !matches!(
        tokio::time::timeout(send_timeout, sink.send(send(snapshot(central, filter)))).await,
        Ok(Ok(()))
    ) {
        return End::SendFailed;
    }
    let mut pending: BTreeMap<UnitId, UnitView> = BTreeMap::new();
    let mut pending_figures = serde_json::Map::new();
    let mut pending_occurrences: BTreeMap<String, WallOccurrence> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(config.tick_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            change = changes.recv() => match change {
                Ok(FleetEvent::Unit(view)) => {
                    if filter.is_none_or(|c| c == &view.central) {
                        pending.insert(view.id.clone(), view);
                    }
                    None
                }
                Ok(FleetEvent::Occurrence(summary)) => {
                    if filter.is_none_or(|c| c == &summary.central) {
                        pending_occurrences.insert(summary.id.to_string(), WallOccurrence::from(&*summary));
                    }
                    None
                }
                Ok(FleetEvent::Indicators { central: id, figures }) => {
                    if filter.is_none_or(|c| c == &id) {
                        pending_figures.insert(id.to_string(), figures);
                    }
                    None
                }
                Err(RecvError::Lagged(missed)) => {
                    // Fell behind: the fresh snapshot replaces what was missed.
                    tracing::debug!(missed, "wall client lagged; resynchronising");
                    metrics::counter!("samu_wall_resyncs_total").increment(1);
                    pending.clear();
                    pending_figures.clear();
                    pending_occurrences.clear();
                    Some(send(snapshot(central, filter)))
                }
                Err(RecvError::Closed) => return End::Shutdown,
            },
            _ = tick.tick() => {
                if pending.is_empty() && pending_figures.is_empty() && pending_occurrences.is_empty() {
                    None
                } else {
                    let units = std::mem::take(&mut pending).into_values().collect();
                    let indicators = std::mem::take(&mut pending_figures);
                    let occurrences = std::mem::take(&mut pending_occurrences).into_values().collect();
                    Some(send(WallFrame::Delta { at: Utc::now(), units, occurrences, indicators }))
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > idle_timeout {
                    return End::Idle;
                }
                Some(Message::Ping(Default::default()))
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return End::ClientClosed,
                Some(Ok(_)) => {
                    last_heard = tokio::time::Instant::now();
                    None
                }
            },
        };
        if let Some(message) = outgoing {
            match tokio::time::timeout(send_timeout, sink.send(message)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return End::SendFailed,
                Err(_) => {
                    metrics::counter!("samu_wall_slow_clients_total").increment(1);
                    return End::SlowClient;
                }
            }
        }
    }
}
