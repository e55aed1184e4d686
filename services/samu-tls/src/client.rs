//! The client side over the same rustls (ring) as the servers: client
//! configurations and a connector that tonic's
//! `Endpoint::connect_with_connector(_lazy)` takes, so no TLS feature of
//! tonic (and no second crypto provider) is needed.
//!
//! The demo's simulator dials its own server through [`Connector`] with a
//! configuration that trusts exactly the served certificate ([`pinned`]);
//! the tests use one that trusts their throwaway CA ([`trusting`]).

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use hyper_util::rt::TokioIo;
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::{client::TlsStream, TlsConnector};

/// A client configuration trusting the certificates in `roots`, offering
/// HTTP/2 only (what gRPC speaks; set `alpn_protocols` for anything else).
///
/// # Panics
/// Never: the ring provider supports the default protocol versions.
pub fn trusting(roots: RootCertStore) -> ClientConfig {
    let mut config = ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// A client configuration that trusts exactly the certificate `leaf`,
/// whatever names and issuer it has: for a process dialling its own port
/// (the demo's simulator), where the certificate is known and the name it
/// was issued for may not be `127.0.0.1`. HTTP/2 only, as [`trusting`].
///
/// # Panics
/// Never: the ring provider supports the default protocol versions.
pub fn pinned(leaf: CertificateDer<'static>) -> ClientConfig {
    let provider = crate::provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { leaf, provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// Accepts one certificate, byte for byte; signatures are still checked.
#[derive(Debug)]
struct Pinned {
    leaf: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Dials the URI's host and port over TCP, then TLS as `server_name`: a
/// connector for tonic's `Endpoint::connect_with_connector(_lazy)` (give
/// the endpoint an `http://` URI: TLS is this connector's business).
#[derive(Clone)]
pub struct Connector {
    tls: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector with `config`, verifying the server as `server_name`
    /// (a DNS name or an IP address).
    ///
    /// # Errors
    /// `server_name` is neither.
    pub fn new(config: ClientConfig, server_name: &str) -> Result<Self, io::Error> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// Connects to `addr` (host:port) and completes the handshake.
    ///
    /// # Errors
    /// The TCP connection or the handshake failed.
    pub async fn connect(&self, addr: &str) -> io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        self.tls.connect(self.server_name.clone(), tcp).await
    }
}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URI without a host"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().unwrap_or(443);
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            this.connect(&addr).await.map(TokioIo::new)
        })
    }
}
