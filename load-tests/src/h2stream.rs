//! The bare stream over `h2` itself: the gRPC side of the comparison with
//! Redis `GEOADD` with as thin a client as the Redis side's.
//!
//! A tonic client stream costs its process three tasks a report: the
//! caller's, hyper's task that pipes the request body into HTTP/2, and the
//! connection's, with tower's buffer worker beside them. A `GEOADD` through
//! the `redis` crate's multiplexed connection costs two: the caller's and
//! the connection's driver. The generator shares the two cores with the
//! server, so a heavier client takes CPU from the server it measures. This
//! client is the caller's task writing gRPC messages (a 5-byte prefix and
//! the protobuf) straight into the HTTP/2 stream, and `h2`'s connection
//! task: the same two tasks a report as the Redis side. What goes over the
//! wire is the same gRPC call a vehicle app makes, down to its headers; the
//! server cannot tell the two clients apart.

use std::sync::{atomic::Ordering, Arc};

use anyhow::{bail, ensure, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request, Uri};
use prost::Message;
use samu_demo::link::LinkStats;
use samu_proto::v1 as pb;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::{
    setup::LoadUnit,
    vehicle::{bare_report, count_reply, Reports},
};

/// gRPC's length prefix: a compression flag and a big-endian length.
const PREFIX: usize = 5;

/// The largest reply taken, far above an acknowledgement or a refusal.
const MAX_REPLY: usize = 64 * 1024;

/// One vehicle as a bare stream over its own plaintext HTTP/2 connection
/// to `grpc` (`http://host:port`): sends a report, waits for its acknowledgement,
/// sends the next, like [`crate::vehicle::bare_stream`]. A stream that
/// breaks ends the vehicle and counts as an error.
pub async fn h2_stream(
    grpc: Uri,
    unit: LoadUnit,
    mut reports: Reports,
    first_seq: u64,
    stats: Arc<LinkStats>,
    shutdown: CancellationToken,
) {
    let run = async {
        let (mut send, mut replies) = open(&grpc, &unit.token).await?;
        let mut body = Reports::crew(&unit);
        for seq in first_seq.max(1).. {
            send.send_data(encode(&bare_report(&unit, seq, body)), false)
                .context("sending a report")?;
            stats.sent.fetch_add(1, Ordering::Relaxed);
            count_reply(&stats, &unit, seq, replies.next().await?);
            body = reports.next_position();
        }
        anyhow::Ok(())
    };
    tokio::select! {
        () = shutdown.cancelled() => {}
        ended = run => {
            if let Err(e) = ended {
                if !shutdown.is_cancelled() {
                    tracing::warn!(unit = %unit.id, "bare h2 stream ended: {e:#}");
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Connects, and opens `Telemetry/Stream` with the device's token.
async fn open(grpc: &Uri, token: &str) -> anyhow::Result<(h2::SendStream<Bytes>, Replies)> {
    let authority = grpc.authority().context("--grpc has no host:port")?;
    let tcp = TcpStream::connect(authority.as_str())
        .await
        .with_context(|| format!("cannot reach {authority}"))?;
    tcp.set_nodelay(true)?;
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .context("HTTP/2 handshake")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("bare h2 connection ended: {e}");
        }
    });
    let request = Request::post(format!("http://{authority}/samu.v1.Telemetry/Stream"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(())?;
    let mut client = client.ready().await.context("HTTP/2 connection")?;
    let (response, send) = client
        .send_request(request, false)
        .context("opening the stream")?;
    let response = response.await.context("the stream's response")?;
    ensure!(
        response.status() == http::StatusCode::OK,
        "HTTP status {}",
        response.status()
    );
    // A refusal comes as a response with only headers, its status in them.
    grpc_status(response.headers())?;
    Ok((
        send,
        Replies {
            body: response.into_body(),
            frames: Frames::default(),
        },
    ))
}

/// A report as one gRPC message.
fn encode(report: &pb::VehicleReport) -> Bytes {
    let len = report.encoded_len();
    let mut out = BytesMut::with_capacity(PREFIX + len);
    out.put_u8(0);
    out.put_u32(u32::try_from(len).expect("a report is far below 4 GiB"));
    report
        .encode(&mut out)
        .expect("the buffer was sized for the report");
    out.freeze()
}

/// `Err` for a `grpc-status` other than OK; `Ok` when absent or OK.
fn grpc_status(headers: &HeaderMap) -> anyhow::Result<()> {
    match headers.get("grpc-status").map(|v| v.to_str()) {
        None | Some(Ok("0")) => Ok(()),
        Some(code) => {
            let message = headers
                .get("grpc-message")
                .and_then(|m| m.to_str().ok())
                .unwrap_or("");
            bail!("grpc-status {}: {message}", code.unwrap_or("?"))
        }
    }
}

/// The stream's replies, as gRPC messages out of HTTP/2 DATA frames.
struct Replies {
    body: h2::RecvStream,
    frames: Frames,
}

impl Replies {
    /// The next reply; `Err` when the stream ends or breaks first.
    async fn next(&mut self) -> anyhow::Result<pb::IngestReply> {
        loop {
            if let Some(reply) = self.frames.take()? {
                return Ok(reply);
            }
            match self.body.data().await {
                Some(chunk) => {
                    let chunk = chunk.context("reading replies")?;
                    // Read: the server may send as much again.
                    let _ = self.body.flow_control().release_capacity(chunk.len());
                    self.frames.pending.extend_from_slice(&chunk);
                }
                None => {
                    let trailers = self.body.trailers().await.context("the stream's end")?;
                    if let Some(trailers) = trailers {
                        grpc_status(&trailers)?;
                    }
                    bail!("the server ended the stream");
                }
            }
        }
    }
}

/// Bytes received and not yet a whole gRPC message.
#[derive(Debug, Default)]
struct Frames {
    pending: BytesMut,
}

impl Frames {
    /// A whole message off the front, if one is in.
    fn take<M: Message + Default>(&mut self) -> anyhow::Result<Option<M>> {
        if self.pending.len() < PREFIX {
            return Ok(None);
        }
        ensure!(self.pending[0] == 0, "a compressed reply");
        let len = u32::from_be_bytes(self.pending[1..PREFIX].try_into().expect("4 bytes"));
        let len = usize::try_from(len)?;
        ensure!(len <= MAX_REPLY, "a reply of {len} bytes");
        if self.pending.len() < PREFIX + len {
            return Ok(None);
        }
        self.pending.advance(PREFIX);
        let message = self.pending.split_to(len);
        Ok(Some(M::decode(message.freeze())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `encode` writes is one gRPC message, which `Frames` reads back
    /// whether it comes whole or a byte at a time.
    #[test]
    fn messages_are_framed_as_grpc_frames_them() {
        let report = |seq| pb::VehicleReport {
            seq,
            unit_id: "u-1".into(),
            body: None,
        };
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&encode(&report(7)));
        wire.extend_from_slice(&encode(&report(8)));
        assert_eq!(wire[0], 0);
        let first_len = u32::from_be_bytes(wire[1..PREFIX].try_into().unwrap()) as usize;
        assert_eq!(first_len, report(7).encoded_len());

        let mut whole = Frames {
            pending: wire.clone(),
        };
        assert_eq!(whole.take::<pb::VehicleReport>().unwrap(), Some(report(7)));
        assert_eq!(whole.take::<pb::VehicleReport>().unwrap(), Some(report(8)));
        assert_eq!(whole.take::<pb::VehicleReport>().unwrap(), None);

        let mut bytewise = Frames::default();
        let mut got = Vec::new();
        for byte in wire {
            bytewise.pending.put_u8(byte);
            if let Some(message) = bytewise.take::<pb::VehicleReport>().unwrap() {
                got.push(message);
            }
        }
        assert_eq!(got, vec![report(7), report(8)]);
        assert!(bytewise.pending.is_empty());
    }

    /// A length beyond [`MAX_REPLY`] or a compressed message is refused.
    #[test]
    fn oversized_and_compressed_replies_are_refused() {
        let mut huge = Frames::default();
        huge.pending.put_u8(0);
        huge.pending.put_u32(u32::MAX);
        assert!(huge.take::<pb::IngestReply>().is_err());
        let mut compressed = Frames::default();
        compressed.pending.put_u8(1);
        compressed.pending.put_u32(0);
        assert!(compressed.take::<pb::IngestReply>().is_err());
    }

    /// A refusal's status, in the headers or the trailers, is an error.
    #[test]
    fn a_grpc_status_other_than_ok_is_an_error() {
        let mut headers = HeaderMap::new();
        assert!(grpc_status(&headers).is_ok());
        headers.insert("grpc-status", "0".parse().unwrap());
        assert!(grpc_status(&headers).is_ok());
        headers.insert("grpc-status", "16".parse().unwrap());
        headers.insert("grpc-message", "bad token".parse().unwrap());
        let e = grpc_status(&headers).unwrap_err().to_string();
        assert!(e.contains("16") && e.contains("bad token"), "{e}");
    }
}
