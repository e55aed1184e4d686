//! The group-commit writer.
//!
//! Every applied report becomes a [`WriteItem`] on a bounded queue. One task
//! takes everything queued (up to a batch limit), writes it in one
//! transaction, and only then sends the acknowledgements. Because items are
//! written in queue order, an acknowledgement also proves every earlier item
//! is stored, which is what lets a duplicate report be acknowledged by a
//! [`WriteItem::barrier`] that writes nothing.

use std::time::Duration;

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

/// Writes `items` in one transaction and acknowledges them. A failure the
/// database reports about the data itself (not an unreachable store) is
/// retried a few times, then the batch is split in halves so one bad
/// report cannot stall everyone's acknowledgements; a single report that
/// still fails is logged and left unacknowledged.
async fn commit(store: &Store, items: &mut Vec<WriteItem>, shutdown: &CancellationToken) {
    let items = std::mem::take(items);
    let mut stack = vec![items];
    while let Some(items) = stack.pop() {
        match write_items(store, &items, shutdown).await {
            Written::Ok(acks) => {
                for (to, ack) in acks {
                    // A full or closed reply channel means the app is gone or
                    // not reading; it will resend and get a duplicate
                    // acknowledgement.
                    let _ = to.try_send(ack);
                }
            }
            Written::GaveUp => return,
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
                    unit = ?items.first().and_then(|i| i.live.as_ref().map(|(u, _)| u.to_string())),
                    "one report's writes keep failing on their data; left unacknowledged"
                );
            }
        }
    }
}

enum Written {
    Ok(Vec<(mpsc::Sender<Ack>, Ack)>),
    BadData(samu_store::StoreError),
    GaveUp,
}

async fn write_items(store: &Store, items: &[WriteItem], shutdown: &CancellationToken) -> Written {
    let mut batch = WriteBatch::default();
    let mut acks = Vec::with_capacity(items.len());
    for item in items {
        batch.positions.extend(item.position.clone());
        batch.status_events.extend(item.status.clone());
        if let (Some(crew), Some((unit, _))) = (&item.crew, &item.live) {
            batch.crew_changes.push((unit.clone(), crew.clone()));
        }
        if let Some((unit, snapshot)) = &item.live {
            // Later items carry newer snapshots: the last one wins.
            batch.live_states.insert(unit.clone(), snapshot.clone());
        }
        acks.extend(item.ack.clone());
    }
    let started = std::time::Instant::now();
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0u32;
    while !batch.is_empty() {
        match store.write_batch(&batch, samu_domain::time::now()).await {
            Ok(()) => break,
            Err(e) => {
                attempts += 1;
                metrics::counter!("samu_write_errors_total").increment(1);
                tracing::error!(error = %e, attempts, "writing a batch failed; retrying");
                let bad_data = matches!(&e, samu_store::StoreError::Database(sqlx_error) if sqlx_error.as_database_error().is_some());
                if bad_data && attempts >= 3 {
                    return Written::BadData(e);
                }
                if shutdown.is_cancelled() && attempts >= 5 {
                    tracing::error!(
                        reports = acks.len(),
                        "giving up on a batch at shutdown; its reports stay unacknowledged and apps will resend them"
                    );
                    return Written::GaveUp;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    metrics::histogram!("samu_write_batch_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("samu_write_batch_reports").record(acks.len() as f64);
    Written::Ok(acks)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use samu_domain::{CentralId, UnitId, UnitStatus, UnitType};
    use samu_fleet::{StatusChange, StatusSource, UnitRecord};
    use samu_store::{CentralRow, UnitRow};
    use samu_testkit::TestBackend;

    use super::*;
    use crate::ingest::AckKind;

    fn change(unit: &str) -> StatusChange {
        StatusChange {
            unit: UnitId::parse("u", unit).unwrap(),
            event_no: 1,
            at: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
            status: UnitStatus::AvailableAtBase,
            out_of_service_reason: None,
            crew_complete: true,
            source: StatusSource::Crew,
        }
    }

    async fn a_bad_report_never_blocks_the_good_ones(backend: TestBackend) {
        let db = backend.fresh().await;
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
        let (tx, mut rx) = mpsc::channel(8);
        let ack = |seq| {
            Some((
                tx.clone(),
                Ack {
                    seq,
                    kind: AckKind::Applied,
                },
            ))
        };
        // The second report names a unit the store does not know: a foreign
        // key violation, every time.
        let mut items = vec![
            WriteItem {
                status: Some(change("good")),
                ack: ack(1),
                ..WriteItem::default()
            },
            WriteItem {
                status: Some(change("ghost")),
                ack: ack(2),
                ..WriteItem::default()
            },
        ];
        commit(&store, &mut items, &CancellationToken::new()).await;
        assert_eq!(
            rx.try_recv().unwrap().seq,
            1,
            "the good report is stored and acknowledged"
        );
        assert!(rx.try_recv().is_err(), "the bad one is not acknowledged");
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
}
