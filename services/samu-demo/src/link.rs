//! A vehicle's link to the central, as a vehicle app keeps it.
//!
//! The link numbers every report, keeps it until the server acknowledges
//! (or rejects) it, and after any break reconnects with backoff and resends
//! everything unacknowledged, in order. The server ignores the repeats, so
//! nothing is lost and nothing is stored twice.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use samu_proto::v1::{
    self as pb, ingest_reply::Outcome, telemetry_client::TelemetryClient, vehicle_report::Body,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{transport::Channel, Code, Request};

/// Reports kept for resending at most; past this the oldest are dropped, as
/// an app with a full buffer would (a position an hour old helps nobody).
pub const MAX_PENDING: usize = 50_000;

/// Counters of a link, shared with whoever watches it.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Reports handed to the link.
    pub sent: AtomicU64,
    /// Reports acknowledged by the server.
    pub acked: AtomicU64,
    /// Reports the server refused.
    pub rejected: AtomicU64,
    /// Times the stream was reopened.
    pub reconnects: AtomicU64,
    /// Reports sent again after a reconnect.
    pub resent: AtomicU64,
    /// Reports dropped because the buffer was full.
    pub dropped: AtomicU64,
}

/// The sending side of a running link.
#[derive(Debug, Clone)]
pub struct VehicleLink {
    reports: mpsc::Sender<Body>,
    stats: Arc<LinkStats>,
}

impl VehicleLink {
    /// Starts a link for `unit_id` over `channel`, numbering reports from
    /// `first_seq`. An app must never reuse a number: starting from the
    /// current time in milliseconds keeps numbers increasing across app
    /// restarts.
    pub fn spawn(
        channel: Channel,
        unit_id: String,
        token: String,
        first_seq: u64,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        Self::spawn_with_window(channel, unit_id, token, first_seq, MAX_PENDING, shutdown)
    }

    /// Like [`Self::spawn`], with at most `max_in_flight` reports sent and
    /// not yet acknowledged: [`Self::send`] waits beyond that, which is how a
    /// load generator sends "as fast as acknowledged".
    pub fn spawn_with_window(
        channel: Channel,
        unit_id: String,
        token: String,
        first_seq: u64,
        max_in_flight: usize,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(1);
        let stats = Arc::new(LinkStats::default());
        let task = Task {
            channel,
            unit_id,
            token,
            next_seq: first_seq.max(1),
            max_in_flight: max_in_flight.clamp(1, MAX_PENDING),
            pending: BTreeMap::new(),
            stats: stats.clone(),
        };
        let handle = tokio::spawn(task.run(rx, shutdown));
        (Self { reports: tx, stats }, handle)
    }

    /// Queues a report; false once the link has stopped.
    pub async fn send(&self, body: Body) -> bool {
        self.reports.send(body).await.is_ok()
    }

    /// The link's counters.
    pub fn stats(&self) -> &Arc<LinkStats> {
        &self.stats
    }
}

struct Task {
    channel: Channel,
    unit_id: String,
    token: String,
    next_seq: u64,
    max_in_flight: usize,
    pending: BTreeMap<u64, pb::VehicleReport>,
    stats: Arc<LinkStats>,
}

/// How a connected session ended.
enum Ended {
    /// Reconnect.
    Broken,
    /// Stop for good (shutdown, or the server refused the credentials).
    Stop,
}

impl Task {
    async fn run(mut self, mut reports: mpsc::Receiver<Body>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut first = true;
        while !shutdown.is_cancelled() {
            if !first {
                self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            match self.session(&mut reports, &shutdown, &mut backoff).await {
                Ended::Stop => break,
                Ended::Broken => {
                    let jitter = Duration::from_millis(rand::random::<u64>() % 100);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff + jitter) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn session(
        &mut self,
        reports: &mut mpsc::Receiver<Body>,
        shutdown: &CancellationToken,
        backoff: &mut Duration,
    ) -> Ended {
        let (out, out_rx) = mpsc::channel(self.pending.len() + 1024);
        for report in self.pending.values() {
            // Capacity covers every pending report.
            let _ = out.try_send(report.clone());
            self.stats.resent.fetch_add(1, Ordering::Relaxed);
        }
        let mut request = Request::new(ReceiverStream::new(out_rx));
        let Ok(auth) = format!("Bearer {}", self.token).parse() else {
            tracing::error!(unit = %self.unit_id, "device token is not valid metadata");
            return Ended::Stop;
        };
        request.metadata_mut().insert("authorization", auth);
        let mut client = TelemetryClient::new(self.channel.clone());
        let mut replies = match client.stream(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => return self.on_error(&status),
        };
        *backoff = Duration::from_millis(100);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ended::Stop,
                body = reports.recv(), if self.pending.len() < self.max_in_flight => {
                    let Some(body) = body else { return Ended::Stop };
                    let report = pb::VehicleReport {
                        seq: self.next_seq,
                        unit_id: self.unit_id.clone(),
                        body: Some(body),
                    };
                    self.next_seq += 1;
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    if self.pending.len() >= MAX_PENDING {
                        self.pending.pop_first();
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    self.pending.insert(report.seq, report.clone());
                    if out.send(report).await.is_err() {
                        return Ended::Broken;
                    }
                }
                reply = replies.message() => match reply {
                    Ok(Some(reply)) => {
                        if self.pending.remove(&reply.seq).is_some() {
                            match reply.outcome {
                                Some(Outcome::Rejection(r)) => {
                                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                                    tracing::warn!(unit = %self.unit_id, seq = reply.seq, field = %r.field, "report rejected: {}", r.message);
                                }
                                _ => {
                                    self.stats.acked.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                    Ok(None) => return Ended::Broken,
                    Err(status) => return self.on_error(&status),
                },
            }
        }
    }

    fn on_error(&self, status: &tonic::Status) -> Ended {
        match status.code() {
            Code::Unauthenticated | Code::PermissionDenied | Code::NotFound => {
                tracing::error!(unit = %self.unit_id, %status, "the central refused this vehicle; stopping its link");
                Ended::Stop
            }
            _ => {
                tracing::debug!(unit = %self.unit_id, %status, "vehicle stream broke; reconnecting");
                Ended::Broken
            }
        }
    }
}
