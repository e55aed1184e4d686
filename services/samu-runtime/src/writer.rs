//! The group-commit writer.
//!
//! Every applied report becomes a [`WriteItem`] on a bounded queue. One task
//! takes everything queued (up to a batch limit), writes it in one
//! transaction, and only then sends the acknowledgements. Because items are
//! written in queue order, an acknowledgement also proves every earlier item
//! is stored, which is what lets a duplicate report be acknowledged by a
//! [`WriteItem::barrier`] that writes nothing.

use std::time::Duration;

use chrono::Utc;
use samu_domain::UnitId;
use samu_fleet::{CrewChange, StatusChange, UnitSnapshot};
use samu_store::{PositionRow, Store, WriteBatch};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ingest::Ack;

/// One report's worth of writes, and who to acknowledge when stored.
#[derive(Debug, Default)]
pub(crate) struct WriteItem {
    pub(crate) position: Option<PositionRow>,
    pub(crate) status: Option<StatusChange>,
    pub(crate) crew: Option<CrewChange>,
    pub(crate) live: Option<(UnitId, UnitSnapshot)>,
    pub(crate) ack: Option<(mpsc::Sender<Ack>, Ack)>,
}

impl WriteItem {
    /// Only an acknowledgement, sent once everything queued before is stored.
    pub(crate) fn barrier(to: mpsc::Sender<Ack>, ack: Ack) -> Self {
        Self {
            ack: Some((to, ack)),
            ..Self::default()
        }
    }

    /// A status change decided by the server.
    pub(crate) fn status(change: StatusChange, snapshot: UnitSnapshot) -> Self {
        let unit = change.unit.clone();
        Self {
            status: Some(change),
            live: Some((unit, snapshot)),
            ..Self::default()
        }
    }
}

pub(crate) async fn run(
    store: Store,
    mut queue: mpsc::Receiver<WriteItem>,
    max_batch: usize,
    grace: Duration,
    shutdown: CancellationToken,
) {
    let mut items = Vec::with_capacity(max_batch);
    loop {
        items.clear();
        let received = tokio::select! {
            n = queue.recv_many(&mut items, max_batch) => n,
            _ = shutdown.cancelled() => 0,
        };
        if received == 0 {
            break;
        }
        commit(&store, &mut items, &shutdown).await;
    }
    // Shutting down: flush whatever is still queued, within the grace period.
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        items.clear();
        let idle = tokio::time::sleep(Duration::from_millis(100));
        let received = tokio::select! {
            n = queue.recv_many(&mut items, max_batch) => n,
            _ = idle => 0,
        };
        if received == 0 || tokio::time::Instant::now() > deadline {
            if !items.is_empty() {
                commit(&store, &mut items, &shutdown).await;
            }
            break;
        }
        commit(&store, &mut items, &shutdown).await;
    }
    tracing::info!("writer flushed and stopped");
}

async fn commit(store: &Store, items: &mut Vec<WriteItem>, shutdown: &CancellationToken) {
    let mut batch = WriteBatch::default();
    let mut acks = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        batch.positions.extend(item.position);
        batch.status_events.extend(item.status);
        if let (Some(crew), Some((unit, _))) = (item.crew, &item.live) {
            batch.crew_changes.push((unit.clone(), crew));
        }
        if let Some((unit, snapshot)) = item.live {
            // Later items carry newer snapshots: the last one wins.
            batch.live_states.insert(unit, snapshot);
        }
        acks.extend(item.ack);
    }
    let started = std::time::Instant::now();
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0u32;
    while !batch.is_empty() {
        match store.write_batch(&batch, Utc::now()).await {
            Ok(()) => break,
            Err(e) => {
                attempts += 1;
                metrics::counter!("samu_write_errors_total").increment(1);
                tracing::error!(error = %e, attempts, "writing a batch failed; retrying");
                if shutdown.is_cancelled() && attempts >= 5 {
                    tracing::error!(
                        reports = acks.len(),
                        "giving up on a batch at shutdown; its reports stay unacknowledged and apps will resend them"
                    );
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    metrics::histogram!("samu_write_batch_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("samu_write_batch_reports").record(acks.len() as f64);
    for (to, ack) in acks {
        // A full or closed reply channel means the app is gone or not
        // reading; it will resend and get a duplicate acknowledgement.
        let _ = to.try_send(ack);
    }
}
