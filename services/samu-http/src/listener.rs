//! The HTTP accept loop, with the limits `axum::serve` does not offer: a cap
//! on open connections (past it, new ones wait in the kernel's backlog
//! instead of exhausting the process), and a deadline for a request's
//! headers, so a client trickling them byte by byte (slow loris) is cut off
//! instead of holding a connection forever. Everything else is as
//! `axum::serve`: HTTP/1.1 and HTTP/2, WebSocket upgrades, the peer's
//! address as `ConnectInfo`, and a graceful stop.
//!
//! Each accepted connection is judged by the port's [`Transport`]: served
//! in plaintext, refused (a non-loopback peer without `[tls]`), or secured
//! with a TLS handshake in the connection's own task, under the same header
//! deadline, so a slow handshake never holds up the accept loop.

use std::{net::SocketAddr, pin::pin, sync::Arc, time::Duration};

use axum::{body::Body, extract::ConnectInfo, Router};
use hyper::{body::Incoming, Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use samu_tls::{Admission, Transport};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::Semaphore,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// Connection limits of the HTTP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Open connections at most (walls, consoles, API clients together).
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers.
    pub header_read_timeout_s: u64,
    /// Seconds open connections get to finish when the server stops.
    pub shutdown_grace_s: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4_096,
            header_read_timeout_s: 10,
            shutdown_grace_s: 10,
        }
    }
}

/// Serves `app` on `listener`, secured as `transport` says, until
/// `shutdown` fires.
///
/// # Errors
/// Never: accept errors (out of descriptors, a reset during the handshake)
/// and failed TLS handshakes are logged and the loop goes on.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ConnectionLimits,
    transport: Transport,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let header_timeout = Duration::from_secs(limits.header_read_timeout_s.max(1));
    let connections = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    metrics::counter!("samu_http_accept_errors_total").increment(1);
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = match transport.admit(peer) {
            // Dropping the socket closes it; the permit goes back.
            Admission::Refused => continue,
            Admission::Plaintext => None,
            Admission::Tls(acceptor) => Some(acceptor),
        };
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(Body::new)
            });
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            metrics::gauge!("samu_http_connections").increment(1.0);
            match acceptor {
                None => serve_connection(stream, peer, service, header_timeout, shutdown).await,
                Some(acceptor) => {
                    // The handshake gets the header deadline: both guard
                    // against clients that connect and dawdle.
                    let handshake =
                        samu_tls::handshake("http", &acceptor, stream, peer, header_timeout);
                    let tls = tokio::select! {
                        () = shutdown.cancelled() => None,
                        tls = handshake => tls,
                    };
                    if let Some(tls) = tls {
                        serve_connection(tls, peer, service, header_timeout, shutdown).await;
                    }
                }
            }
            metrics::gauge!("samu_http_connections").decrement(1.0);
            drop(permit);
        });
    }
    connections.close();
    let grace = Duration::from_secs(limits.shutdown_grace_s.max(1));
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the grace period; closing them");
    }
    Ok(())
}

async fn serve_connection<S, IO>(
    stream: IO,
    peer: SocketAddr,
    service: S,
    header_timeout: Duration,
    shutdown: CancellationToken,
) where
    S: tower::Service<
            Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // HTTP/2 WebSockets need the CONNECT protocol, as in axum::serve.
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    let mut connection = pin!(builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service)));
    let mut stopping = pin!(shutdown.cancelled());
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            () = &mut stopping => connection.as_mut().graceful_shutdown(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    use super::*;

    async fn start(transport: Transport) -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let app = Router::new().route("/healthz", get(|| async { "ok" }));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            serve(listener, app, &ConnectionLimits::default(), transport, stop).await
        });
        (addr, shutdown)
    }

    async fn get_healthz(addr: SocketAddr) -> String {
        let mut client = TcpStream::connect(addr).await.unwrap();
        // The server may close before or after the request is written.
        let _ = client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: samu\r\nConnection: close\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer))
            .await
            .expect("the server answers or closes");
        let _ = read;
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Without `[tls]`, a peer that is not loopback is closed without an
    /// answer. (Tests reach only loopback addresses, so the policy is told
    /// to treat every peer as remote.)
    #[tokio::test]
    async fn a_refused_peer_gets_no_answer() {
        let (addr, shutdown) = start(Transport::loopback_only_judged_by("http", |_| false)).await;
        for _ in 0..3 {
            assert_eq!(get_healthz(addr).await, "");
        }
        shutdown.cancel();
    }

    #[tokio::test]
    async fn loopback_and_explicit_plaintext_are_served() {
        for transport in [
            Transport::loopback_only("http"),
            Transport::plaintext("http"),
        ] {
            let (addr, shutdown) = start(transport).await;
            let answer = get_healthz(addr).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            shutdown.cancel();
        }
    }
}
