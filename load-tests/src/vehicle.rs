//! What the generator's vehicles send, and the bare stream through
//! tonic's client, for comparing the ingest with Redis `GEOADD`
//! ([`crate::h2stream`] is the same loop with a thinner client).

use std::sync::{atomic::Ordering, Arc};

use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_demo::{link::LinkStats, sim::complete_crew};
use samu_proto::v1::{
    self as pb, ingest_reply::Outcome, telemetry_client::TelemetryClient, vehicle_report::Body,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::setup::{authed, LoadUnit};

/// A vehicle's reports: its crew first, then moves of a few metres each.
pub struct Reports {
    rng: StdRng,
    at: (f64, f64),
}

impl Reports {
    /// The reports of vehicle number `n`, starting where `unit` starts.
    pub fn new(n: usize, unit: &LoadUnit) -> Self {
        Self {
            rng: StdRng::seed_from_u64(n as u64),
            at: unit.start,
        }
    }

    /// The random source, for the vehicle's other choices (its phase).
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// The crew declaration a vehicle starts with: complete, available.
    pub fn crew(unit: &LoadUnit) -> Body {
        Body::CrewStatus(pb::CrewStatus {
            reported_at: Some(now_ts()),
            status: pb::UnitStatus::AvailableAtBase.into(),
            out_of_service_reason: 0,
            crew: complete_crew(unit.unit_type, &unit.id),
        })
    }

    /// The next position: a few metres from the last, always plausible.
    pub fn next_position(&mut self) -> Body {
        self.at.0 += self.rng.random_range(-0.00003..0.00003);
        self.at.1 += self.rng.random_range(-0.00003..0.00003);
        Body::Position(pb::Position {
            fix_time: Some(now_ts()),
            latitude: self.at.0,
            longitude: self.at.1,
            speed_mps: Some(8.0),
            heading_deg: Some(self.rng.random_range(0.0..360.0)),
            accuracy_m: Some(5.0),
        })
    }
}

/// Now, as a protobuf timestamp.
pub fn now_ts() -> prost_types::Timestamp {
    let now = chrono::Utc::now();
    prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// One vehicle as a bare stream through tonic's client (`--bare-streams
/// --bare-client tonic`): a single task that sends a report, waits for its
/// acknowledgement, and sends the next, with no app link around it (no
/// resend buffer, no feeder task, no reconnecting: a break ends the
/// vehicle and counts as an error). The Redis side of the comparison is
/// the same loop of `GEOADD`s (`samu-peers`).
pub async fn bare_stream(
    channel: Channel,
    unit: LoadUnit,
    mut reports: Reports,
    first_seq: u64,
    stats: Arc<LinkStats>,
    shutdown: CancellationToken,
) {
    let (out, out_rx) = mpsc::channel(1);
    let Ok(request) = authed(&unit.token, ReceiverStream::new(out_rx)) else {
        stats.reconnects.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut replies = match TelemetryClient::new(channel).stream(request).await {
        Ok(replies) => replies.into_inner(),
        Err(status) => {
            tracing::warn!(unit = %unit.id, %status, "vehicle stream refused");
            stats.reconnects.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut body = Reports::crew(&unit);
    for seq in first_seq.max(1).. {
        if out.send(bare_report(&unit, seq, body)).await.is_err() {
            stats.reconnects.fetch_add(1, Ordering::Relaxed);
            return;
        }
        stats.sent.fetch_add(1, Ordering::Relaxed);
        let reply = tokio::select! {
            _ = shutdown.cancelled() => return,
            reply = replies.message() => reply,
        };
        match reply {
            Ok(Some(reply)) => count_reply(&stats, &unit, seq, reply),
            Ok(None) | Err(_) => {
                if !shutdown.is_cancelled() {
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
        body = reports.next_position();
    }
}

/// A bare stream's report number `seq` of `unit`, saying `body` (the crew
/// declaration first, then moves: [`Reports`]). Shared by both bare
/// clients, so they send the same reports.
pub(crate) fn bare_report(unit: &LoadUnit, seq: u64, body: Body) -> pb::VehicleReport {
    pb::VehicleReport {
        seq,
        unit_id: unit.id.clone(),
        body: Some(body),
    }
}

/// Counts a bare stream's reply to report `seq`: acknowledged, or refused
/// (logged with the field the server named). Shared by both bare clients.
pub(crate) fn count_reply(stats: &LinkStats, unit: &LoadUnit, seq: u64, reply: pb::IngestReply) {
    match reply.outcome {
        Some(Outcome::Rejection(r)) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(unit = %unit.id, seq, field = %r.field, "report rejected: {}", r.message);
        }
        _ => {
            stats.acked.fetch_add(1, Ordering::Relaxed);
        }
    }
}
