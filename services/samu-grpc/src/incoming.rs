//! The gRPC port's accept loop: a cap on open connections, the port's
//! transport security, and TLS handshakes that never hold up the others.
//!
//! Past the cap, new vehicles and consoles wait in the kernel's backlog
//! until one closes, instead of exhausting descriptors and memory (each
//! vehicle keeps one long-lived connection). Each accepted connection is
//! judged by the port's [`Transport`]: served in plaintext, refused (a
//! non-loopback peer without `[tls]`), or handed to a task of its own for
//! the TLS handshake, so a slow or silent client cannot stall the accept
//! loop. Ready connections reach tonic through a channel. Accept errors and
//! failed handshakes are logged and never end the server.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::{Future, Stream};
use samu_tls::{Admission, TlsStream, Transport};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, OwnedSemaphorePermit, Semaphore},
};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long a client has to finish the TLS handshake. A vehicle on a weak
/// mobile link needs a few round trips; a client that has not finished in
/// this time is cut off and its place under the cap freed.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Ready connections waiting for tonic to take them. Tonic takes them as
/// they come; the bound only keeps a stalled server from piling up sockets.
const READY_QUEUE: usize = 64;

/// An accepted connection, plaintext or TLS, holding one of the cap's
/// permits until it closes.
#[derive(Debug)]
pub struct CappedStream {
    inner: Transported,
    /// Until its first bytes, a plaintext connection has the handshake
    /// deadline to start talking (a TLS one has met it already): a client
    /// that connects and says nothing (slow loris) is closed, not left
    /// holding a place under the cap.
    first_bytes_by: Option<Pin<Box<tokio::time::Sleep>>>,
    _permit: OwnedSemaphorePermit,
}

/// The two kinds of connection the port serves.
#[derive(Debug)]
enum Transported {
    Plain(TcpStream),
    // Boxed: a rustls connection is a few kilobytes, a TcpStream a few words.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connected for CappedStream {
    // The TCP peer in both cases, so `Request::remote_addr` (the audit
    // trail's "from where") works alike with and without TLS.
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match &self.inner {
            Transported::Plain(tcp) => tcp.connect_info(),
            Transported::Tls(tls) => tls.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = match &mut this.inner {
            Transported::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transported::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if let Some(deadline) = this.first_bytes_by.as_mut() {
            match &polled {
                Poll::Ready(Ok(())) if buf.filled().len() > before => this.first_bytes_by = None,
                Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                    metrics::counter!("samu_grpc_silent_connections_total").increment(1);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within the handshake deadline",
                    )));
                }
                _ => {}
            }
        }
        polled
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.inner {
            Transported::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transported::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Transported::Plain(s) => Pin::new(s).poll_flush(cx),
            Transported::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Transported::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transported::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.inner {
            Transported::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transported::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Transported::Plain(s) => s.is_write_vectored(),
            Transported::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// Accepted connections, at most `max` open at once, secured as
/// `transport` says, until `shutdown` fires or the stream is dropped.
///
/// The accept loop runs in a task of its own and each TLS handshake in
/// another, so connections come out ready, in the order their handshakes
/// finish.
pub fn capped(
    listener: TcpListener,
    max: usize,
    transport: Transport,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<CappedStream, io::Error>> {
    let (ready, incoming) = mpsc::channel(READY_QUEUE);
    tokio::spawn(accept_loop(listener, max, transport, ready, shutdown));
    ReceiverStream::new(incoming)
}

async fn accept_loop(
    listener: TcpListener,
    max: usize,
    transport: Transport,
    ready: mpsc::Sender<Result<CappedStream, io::Error>>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(max.max(1)));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => return,
            () = ready.closed() => return,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            () = ready.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    metrics::counter!("samu_grpc_accept_errors_total").increment(1);
                    tracing::warn!(error = %e, "accepting a gRPC connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match transport.admit(peer) {
            // Dropping the socket closes it; the permit goes back.
            Admission::Refused => {}
            Admission::Plaintext => {
                let plain = CappedStream {
                    inner: Transported::Plain(stream),
                    first_bytes_by: Some(Box::pin(tokio::time::sleep(HANDSHAKE_DEADLINE))),
                    _permit: permit,
                };
                if ready.send(Ok(plain)).await.is_err() {
                    return;
                }
            }
            Admission::Tls(acceptor) => {
                tokio::spawn(secure(
                    acceptor,
                    stream,
                    peer,
                    permit,
                    ready.clone(),
                    shutdown.clone(),
                ));
            }
        }
    }
}

/// One connection's TLS handshake, then its hand-over to tonic.
async fn secure(
    acceptor: samu_tls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    ready: mpsc::Sender<Result<CappedStream, io::Error>>,
    shutdown: CancellationToken,
) {
    let handshake = samu_tls::handshake("grpc", &acceptor, stream, peer, HANDSHAKE_DEADLINE);
    let tls = tokio::select! {
        () = shutdown.cancelled() => return,
        tls = handshake => match tls {
            Some(tls) => tls,
            None => return,
        },
    };
    let _ = ready
        .send(Ok(CappedStream {
            inner: Transported::Tls(Box::new(tls)),
            first_bytes_by: None,
            _permit: permit,
        }))
        .await;
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use tokio::io::AsyncReadExt;

    use super::*;

    /// Without `[tls]`, a peer that is not loopback is closed right after
    /// accept and never reaches tonic. (The machine's only reachable
    /// addresses in tests are loopback, so the policy is told to treat
    /// every peer as remote.)
    #[tokio::test]
    async fn a_refused_peer_is_closed_and_never_served() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let transport = Transport::loopback_only_judged_by("grpc", |_| false);
        let mut incoming = Box::pin(capped(listener, 1, transport, shutdown.clone()));
        for _ in 0..3 {
            let mut client = TcpStream::connect(addr).await.unwrap();
            let mut buf = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
                .await
                .expect("closed by the server");
            assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        }
        // The refused connections gave their permits back (cap of 1), and
        // none reached the server.
        let none = tokio::time::timeout(Duration::from_millis(200), incoming.next()).await;
        assert!(none.is_err(), "nothing was handed to tonic");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_loopback_peer_is_served_in_plaintext() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let mut incoming = Box::pin(capped(
            listener,
            4,
            Transport::loopback_only("grpc"),
            shutdown.clone(),
        ));
        let _client = TcpStream::connect(addr).await.unwrap();
        let served = tokio::time::timeout(Duration::from_secs(5), incoming.next())
            .await
            .expect("handed to tonic")
            .expect("a connection")
            .expect("no error");
        assert!(matches!(served.inner, Transported::Plain(_)));
        shutdown.cancel();
    }
}
