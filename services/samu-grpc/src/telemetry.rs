//! `Telemetry/Stream`: one long-lived stream per vehicle.
//!
//! A reader task takes reports off the stream and hands them to the runtime;
//! acknowledgements come back from the writer once stored, on a channel per
//! stream. The response stream merges those acknowledgements with the
//! reader's rejections and final status.

use std::{pin::Pin, time::Duration};

use futures::Stream;
use samu_domain::{UnitId, ValidationError};
use samu_proto::v1::{self as pb, ack::Kind, ingest_reply::Outcome};
use samu_runtime::{Ack, AckKind, Central, IngestError};
use samu_store::Credential;
use tokio::sync::mpsc;
use tokio_stream::{wrappers::ReceiverStream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::{
    access::{authorize, Rpc},
    convert,
    status::from_ingest,
};

/// Acknowledgements buffered per stream before the writer drops them (the
/// app then resends and is acknowledged as a duplicate).
const ACK_BUFFER: usize = 4_096;

/// How often an open stream checks that its token was not revoked.
const REVOCATION_CHECK: Duration = Duration::from_secs(2);

/// The telemetry service.
#[derive(Debug, Clone)]
pub struct TelemetryService {
    central: Central,
    shutdown: CancellationToken,
}

impl TelemetryService {
    /// A service over `central`; open streams end when `shutdown` fires.
    pub fn new(central: Central, shutdown: CancellationToken) -> Self {
        Self { central, shutdown }
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
        let unit = credential
            .unit
            .clone()
            .ok_or_else(|| Status::permission_denied("this device token is not bound to a unit"))?;
        let (ack_tx, ack_rx) = mpsc::channel::<Ack>(ACK_BUFFER);
        let (control_tx, control_rx) = mpsc::channel(64);
        let reader = Reader {
            central: self.central.clone(),
            credential,
            unit,
            acks: ack_tx,
            control: control_tx,
        };
        tokio::spawn(reader.run(request.into_inner(), self.shutdown.clone()));
        let acks = ReceiverStream::new(ack_rx).map(|ack| Ok(ack_reply(ack)));
        let control = ReceiverStream::new(control_rx);
        Ok(Response::new(Box::pin(acks.merge(control))))
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

fn rejection(seq: u64, e: &ValidationError) -> pb::IngestReply {
    pb::IngestReply {
        seq,
        outcome: Some(Outcome::Rejection(pb::Rejection {
            code: Code::InvalidArgument as i32,
            field: e.field.clone(),
            message: e.to_string(),
        })),
    }
}

struct Reader {
    central: Central,
    credential: Credential,
    unit: UnitId,
    acks: mpsc::Sender<Ack>,
    control: mpsc::Sender<Result<pb::IngestReply, Status>>,
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
    async fn run(self, mut inbound: Streaming<pb::VehicleReport>, shutdown: CancellationToken) {
        let _connected = ConnectedGuard::new();
        let mut revocation = tokio::time::interval(REVOCATION_CHECK);
        revocation.tick().await;
        tracing::debug!(unit = %self.unit, "vehicle stream opened");
        let end = loop {
            let message = tokio::select! {
                m = inbound.message() => m,
                _ = shutdown.cancelled() => break Some(Status::unavailable("the server is shutting down; reconnect")),
                _ = revocation.tick() => {
                    if self.central.credential_is_valid(&self.credential.id) {
                        continue;
                    }
                    break Some(Status::unauthenticated("the device token was revoked"));
                }
            };
            match message {
                Ok(Some(report)) => {
                    if let Err(status) = self.handle(report).await {
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
            let _ = self.control.send(Err(status)).await;
        }
        tracing::debug!(unit = %self.unit, "vehicle stream closed");
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
                return self.reject(report.seq, &e).await;
            }
        };
        match self.central.ingest(parsed, &self.acks).await {
            Ok(()) => Ok(()),
            Err(IngestError::Invalid(e)) => self.reject(report.seq, &e).await,
            Err(e) => Err(from_ingest(&e)),
        }
    }

    async fn reject(&self, seq: u64, e: &ValidationError) -> Result<(), Status> {
        self.control
            .send(Ok(rejection(seq, e)))
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
