//! The patched h2 (`vendor/h2`, `COPY_LIMIT` in `framed_write.rs`) sends an
//! answer of a few hundred bytes and the trailers behind it in one write,
//! so a unary gRPC call's client wakes once for its answer, not twice.
//! Larger payloads are still chained (written from the caller's buffer
//! without a copy), their trailers in a write of their own.

use std::{
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

/// One side of an in-memory connection that counts the writes made on it.
struct CountedWrites {
    inner: DuplexStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for CountedWrites {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedWrites {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(_))) {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(_))) {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        written
    }

    /// As a TCP stream: h2 chains large payloads only on vectored writers.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How many writes the server makes for one answer of `payload` bytes and
/// its trailers, all handed to h2 before its connection is polled again (as
/// hyper does with a unary answer that is ready at once).
async fn answer_writes(payload: usize) -> usize {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let writes = Arc::new(AtomicUsize::new(0));
    let counted = CountedWrites {
        inner: server_io,
        writes: writes.clone(),
    };
    let (before_tx, before_rx) = tokio::sync::oneshot::channel();
    let server_writes = writes.clone();
    let server = tokio::spawn(async move {
        let mut conn = h2::server::handshake(counted).await.unwrap();
        let (_request, mut respond) = conn.accept().await.unwrap().unwrap();
        let _ = before_tx.send(server_writes.load(Ordering::SeqCst));
        let mut body = respond
            .send_response(http::Response::new(()), false)
            .unwrap();
        body.send_data(vec![7u8; payload].into(), false).unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        body.send_trailers(trailers).unwrap();
        // Drives the connection, and so its writes, until the client leaves.
        while let Some(Ok(_)) = conn.accept().await {}
    });

    let (mut client, connection) = h2::client::handshake(client_io).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::post("http://central/samu.v1.Fleet/NearestUnits")
        .body(())
        .unwrap();
    let (answer, _) = client.send_request(request, true).unwrap();
    let mut body = answer.await.unwrap().into_body();
    let mut received = 0;
    while let Some(chunk) = body.data().await {
        received += chunk.unwrap().len();
    }
    assert_eq!(received, payload);
    let trailers = body.trailers().await.unwrap().unwrap();
    assert_eq!(trailers["grpc-status"], "0");
    // On this one thread, a write is counted before its bytes can be read.
    let after = writes.load(Ordering::SeqCst);
    let before = before_rx.await.unwrap();

    drop((client, body));
    connection.abort();
    server.abort();
    after - before
}

#[tokio::test]
async fn an_answer_of_a_few_hundred_bytes_leaves_with_its_trailers_in_one_write() {
    // Five units' states, as a nearest-units answer carries them.
    assert_eq!(answer_writes(700).await, 1);
    assert_eq!(answer_writes(4_096).await, 1);
    // Below h2's own chaining threshold, as upstream.
    assert_eq!(answer_writes(100).await, 1);
}

#[tokio::test]
async fn a_large_answer_is_still_chained_and_its_trailers_follow_it() {
    assert_eq!(answer_writes(4_097).await, 2);
    assert_eq!(answer_writes(12_000).await, 2);
}
