//! `Telemetry/Stream`: one long-lived stream per vehicle.
//!
//! A reader task takes reports off the stream and hands them to the runtime;
//! acknowledgements come back from the writer once stored, and the reader's
//! rejections of bad reports, on one reply channel per stream. The response
//! stream sends those, then ends with the reader's final status once every
//! acknowledgement is out.
//!
//! # Rate limit
//! Every report spends a token of its device's bucket
//! (`runtime.limits.device_*`, keyed by the device credential). A vehicle
//! over its limit is first **paced**, then **cut off**:
//!
//! - Paced: the report in hand waits for the next token, and the stream is
//!   not read meanwhile, so HTTP/2 flow control holds the rest in the app.
//!   The app sees its acknowledgements come at the limit's pace; nothing is
//!   refused, dropped or sent twice. This is what an app needs after a
//!   tunnel: its link (`samu-demo::link`) resends everything
//!   unacknowledged at once on reconnecting, so a stream ended at the first
//!   report over the limit would make it resend the whole backlog again and
//!   again, each time for the handful of reports the bucket had regained.
//! - Cut off: a stream kept over its limit for `device_pace_s` without a
//!   report that passed at once is not draining a backlog but looping. It
//!   ends with `RESOURCE_EXHAUSTED`, naming the limit ("device rate limit:
//!   50 reports/s (burst 1000)"), with a `RetryInfo`. The report in hand is
//!   neither applied nor acknowledged, so the app keeps it and resends it
//!   after reconnecting (with its backoff); everything acknowledged before
//!   was stored, as always. With `device_pace_s = 0` the stream ends at the
//!   first report over the limit.

use std::{pin::Pin, time::Duration};

use chrono::{DateTime, Utc};
use futures::Stream;
use samu_domain::{UnitId, ValidationError};
use samu_proto::v1::{self as pb, ack::Kind, ingest_reply::Outcome};
use samu_runtime::{Ack, AckKind, Central, IngestError, RateLimited, Rejected, Reply};
use samu_store::Credential;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::{wrappers::ReceiverStream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::{
    access::{authorize, Rpc},
    convert,
    status::{from_ingest, rate_limited},
};

/// A time no stream lives to see (about thirty years), for limits beyond
/// the clock's range.
const FAR_AHEAD: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Replies buffered per stream before the writer drops acknowledgements
/// (the app then resends and is acknowledged as a duplicate); a rejection
/// waits for room instead.
const REPLY_BUFFER: usize = 4_096;

/// The telemetry service.
#[derive(Debug, Clone)]
pub struct TelemetryService {
    central: Central,
    silence_limit: Duration,
    shutdown: CancellationToken,
}

impl TelemetryService {
    /// A service over `central`; open streams end when `shutdown` fires, or
    /// when their vehicle sends nothing for `silence_limit`.
    pub fn new(central: Central, silence_limit: Duration, shutdown: CancellationToken) -> Self {
        Self {
            central,
            silence_limit,
            shutdown,
        }
    }
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<pb::IngestReply, Status>> + Send>>;

#[tonic::async_trait]
impl pb::telemetry_server::Telemetry for TelemetryService {
    type StreamStream = ReplyStream;

    async fn stream(
        &self,
        request: Request<Streaming<pb::VehicleReport>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let credential = authorize(&self.central, request.metadata(), Rpc::TelemetryStream)?;
        // The reader keeps the credential's id (its rate limit's key) and
        // expiry, not the whole credential, for the whole shift.
        let Credential {
            id,
            unit,
            expires_at,
            ..
        } = credential;
        let unit = unit
            .ok_or_else(|| Status::permission_denied("this device token is not bound to a unit"))?;
        let (replies_tx, replies_rx) = mpsc::channel::<Reply>(REPLY_BUFFER);
        let (end_tx, end_rx) = oneshot::channel();
        let reader = Reader {
            central: self.central.clone(),
            silence_limit: self.silence_limit,
            credential_id: id.into_boxed_str(),
            credential_expires_at: expires_at,
            unit,
            replies: replies_tx,
        };
        tokio::spawn(reader.run(request.into_inner(), self.shutdown.clone(), end_tx));
        // The status that ends the stream comes after every acknowledgement
        // of what was applied: the reply channel closes only once the reader
        // and every queued write of this stream have let go of it, so an
        // app is never left to resend a report that was stored.
        let replies = ReceiverStream::new(replies_rx).map(|reply| {
            Ok(match reply {
                Reply::Ack(ack) => ack_reply(ack),
                Reply::Rejected(rejected) => rejection(&rejected),
            })
        });
        let end = futures::stream::once(end_rx).filter_map(|end| end.ok().map(Err));
        Ok(Response::new(Box::pin(replies.chain(end))))
    }
}

fn ack_reply(ack: Ack) -> pb::IngestReply {
    let kind = match ack.kind {
        AckKind::Applied => Kind::Applied,
        AckKind::Duplicate => Kind::Duplicate,
        AckKind::Stale => Kind::Stale,
        AckKind::Flagged => Kind::Flagged,
    };
    pb::IngestReply {
        seq: ack.seq,
        outcome: Some(Outcome::Ack(pb::Ack { kind: kind.into() })),
    }
}

fn rejection(rejected: &Rejected) -> pb::IngestReply {
    pb::IngestReply {
        seq: rejected.seq,
        outcome: Some(Outcome::Rejection(pb::Rejection {
            code: Code::InvalidArgument as i32,
            field: rejected.error.field.clone(),
            message: rejected.error.to_string(),
        })),
    }
}

struct Reader {
    central: Central,
    /// A stream without a report for this long is held by a stuck app or a
    /// slow-loris client: it ends, freeing its place (a live app reconnects).
    silence_limit: Duration,
    /// The device credential's id, its rate limit's key.
    credential_id: Box<str>,
    credential_expires_at: Option<DateTime<Utc>>,
    unit: UnitId,
    /// The stream's replies: acknowledgements (through the writer) and
    /// rejections of single reports, after which the stream goes on.
    replies: mpsc::Sender<Reply>,
}

/// Counts open vehicle streams for `/metrics`.
struct ConnectedGuard;

impl ConnectedGuard {
    fn new() -> Self {
        metrics::gauge!("samu_connected_vehicles").increment(1.0);
        Self
    }
}

impl Drop for ConnectedGuard {
    fn drop(&mut self) {
        metrics::gauge!("samu_connected_vehicles").decrement(1.0);
    }
}

impl Reader {
    /// Waits until the device's limit, which just refused the report in
    /// hand with `limited`, admits it (see the module's "Rate limit").
    /// `over_since` is when the stream went over its limit without a break
    /// since. `Err` ends the stream with that status; the report in hand is
    /// then not applied.
    async fn wait_for_admission(
        &self,
        mut limited: RateLimited,
        over_since: &mut Option<tokio::time::Instant>,
        shutdown: &CancellationToken,
    ) -> Result<(), Status> {
        let pace_for = Duration::from_secs(self.central.limits().device_pace_s);
        let mut waited = false;
        loop {
            let now = tokio::time::Instant::now();
            let since = *over_since.get_or_insert(now);
            // Past the pacing time once this wait is over (a pacing time
            // beyond the clock's range never runs out).
            let cut = since.checked_add(pace_for).is_some_and(|deadline| {
                now.checked_add(limited.retry_after)
                    .is_none_or(|ready| ready > deadline)
            });
            if cut {
                metrics::counter!("samu_vehicle_streams_limited_total").increment(1);
                tracing::warn!(
                    unit = %self.unit,
                    over_for_s = (now - since).as_secs(),
                    "vehicle stream ended: {}",
                    limited.describe()
                );
                return Err(rate_limited(&limited));
            }
            if !waited && limited.first {
                tracing::info!(unit = %self.unit, "vehicle paced: {}", limited.describe());
            }
            waited = true;
            tokio::select! {
                _ = tokio::time::sleep(limited.retry_after) => {}
                _ = shutdown.cancelled() => {
                    return Err(Status::unavailable("the server is shutting down; reconnect"));
                }
            }
            limited = match self.central.admit_report(&self.credential_id) {
                // Admitted after a wait: still paced, so `over_since` stays.
                Ok(()) => return Ok(()),
                Err(limited) => limited,
            };
        }
    }

    async fn run(
        self,
        mut inbound: Streaming<pb::VehicleReport>,
        shutdown: CancellationToken,
        end_tx: oneshot::Sender<Status>,
    ) {
        let _connected = ConnectedGuard::new();
        let mut over_since = None;
        // The stream's end signals, each registered once for the stream's
        // life rather than again for every report. Made here, not passed
        // in: an async fn's argument moved into a pinned local is stored
        // twice in its future, for the task's whole life.
        let revoked = self
            .central
            .credential_revocation(&self.credential_id)
            .cancelled_owned();
        let stopping = shutdown.clone().cancelled_owned();
        // One timer for both of the stream's time limits, the silence and
        // the token's expiry, and it is not moved at every report: a
        // report only notes its time, and when the timer fires, it is set
        // again to the silence's end if a report came meanwhile. The timer
        // was moved at every report and a second one waited for the expiry
        // (BENCHMARKS.md, "Instructions per report").
        let started = tokio::time::Instant::now();
        let expires = self.credential_expires_at.map(|at| {
            started
                .checked_add(samu_domain::time::span(Utc::now(), at))
                .unwrap_or(started + FAR_AHEAD)
        });
        let mut last_report = started;
        let deadline = tokio::time::sleep_until(self.next_deadline(last_report, expires));
        tokio::pin!(revoked, stopping, deadline);
        tracing::debug!(unit = %self.unit, "vehicle stream opened");
        let end = loop {
            let message = tokio::select! {
                m = inbound.message() => m,
                () = &mut deadline => {
                    let now = tokio::time::Instant::now();
                    if expires.is_some_and(|at| at <= now) {
                        break Some(Status::unauthenticated("the device token expired"));
                    }
                    if now < self.silence_ends(last_report) {
                        deadline.as_mut().reset(self.next_deadline(last_report, expires));
                        continue;
                    }
                    metrics::counter!("samu_vehicle_streams_silent_total").increment(1);
                    tracing::info!(unit = %self.unit, after_s = self.silence_limit.as_secs(), "vehicle stream ended: silent");
                    break Some(Status::deadline_exceeded(format!(
                        "no report for {} s (grpc.stream_silence_s); reconnect",
                        self.silence_limit.as_secs()
                    )));
                }
                () = &mut stopping => break Some(Status::unavailable("the server is shutting down; reconnect")),
                () = &mut revoked => break Some(Status::unauthenticated("the device token was revoked")),
            };
            match message {
                Ok(Some(report)) => {
                    last_report = tokio::time::Instant::now();
                    // The limit's wait, rare, boxed: its timer and shutdown
                    // wait are not carried in this task for the whole shift.
                    let admitted = match self.central.admit_report(&self.credential_id) {
                        Ok(()) => {
                            over_since = None;
                            Ok(())
                        }
                        Err(limited) => {
                            Box::pin(self.wait_for_admission(limited, &mut over_since, &shutdown))
                                .await
                        }
                    };
                    if let Err(status) = admitted {
                        break Some(status);
                    }
                    // Boxed: the ingest path's state is kilobytes, and this
                    // task lives as long as the vehicle's shift (one
                    // allocation per report instead, freed at once).
                    if let Err(status) = Box::pin(self.handle(report)).await {
                        break Some(status);
                    }
                }
                Ok(None) => break None,
                Err(status) => {
                    // A broken or oversized frame: nothing of it was applied.
                    tracing::debug!(unit = %self.unit, %status, "vehicle stream failed");
                    break Some(resize_status(status));
                }
            }
        };
        if let Some(status) = end {
            let _ = end_tx.send(status);
        }
        tracing::debug!(unit = %self.unit, "vehicle stream closed");
    }

    /// When the stream falls silent if no report comes after one at
    /// `last_report`.
    fn silence_ends(&self, last_report: tokio::time::Instant) -> tokio::time::Instant {
        last_report
            .checked_add(self.silence_limit)
            .unwrap_or(last_report + FAR_AHEAD)
    }

    /// The stream's next time limit: its silence's end, or the token's
    /// expiry when that comes first.
    fn next_deadline(
        &self,
        last_report: tokio::time::Instant,
        expires: Option<tokio::time::Instant>,
    ) -> tokio::time::Instant {
        let silence_ends = self.silence_ends(last_report);
        expires.map_or(silence_ends, |at| at.min(silence_ends))
    }

    /// Handles one report. `Err` ends the stream with that status.
    async fn handle(&self, report: pb::VehicleReport) -> Result<(), Status> {
        if report.unit_id != self.unit.as_str() {
            let known = UnitId::parse("unit_id", &report.unit_id)
                .is_ok_and(|id| self.central.with_fleet(|fleet| fleet.unit(&id).is_some()));
            if !known {
                return Err(Status::not_found(format!(
                    "unit_id: unknown unit {:?}",
                    report.unit_id
                )));
            }
            return Err(Status::permission_denied(format!(
                "unit_id: this device token belongs to unit {}, not {:?}",
                self.unit, report.unit_id
            )));
        }
        let parsed = match convert::report(&report, self.unit.clone()) {
            Ok(parsed) => parsed,
            Err(e) => {
                metrics::counter!("samu_reports_total", "kind" => "unparsed", "outcome" => "rejected")
                    .increment(1);
                return self.reject(report.seq, e).await;
            }
        };
        match self.central.ingest(parsed, &self.replies).await {
            Ok(()) => Ok(()),
            Err(IngestError::Invalid(error)) => self.reject(report.seq, error).await,
            Err(e) => Err(from_ingest(&e)),
        }
    }

    async fn reject(&self, seq: u64, error: ValidationError) -> Result<(), Status> {
        self.replies
            .send(Reply::Rejected(Box::new(Rejected { seq, error })))
            .await
            .map_err(|_| Status::cancelled("client gone"))
    }
}

/// tonic reports an oversized message as OUT_OF_RANGE; the protocol
/// documents RESOURCE_EXHAUSTED, the code gRPC itself uses for size limits.
fn resize_status(status: Status) -> Status {
    if status.code() == Code::OutOfRange && status.message().contains("too large") {
        Status::resource_exhausted(status.message().to_owned())
    } else {
        status
    }
}
