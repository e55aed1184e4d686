//! TLS for a central's two ports (gRPC and HTTP), and the rule for when
//! plaintext is allowed.
//!
//! Both ports carry tokens, and the consoles' calls carry patient data, so
//! a central must not speak plaintext on a network by accident. One mode
//! holds for both ports, decided at start from `[tls]` ([`TlsConfig::load`]):
//!
//! - **certificates configured** (`cert_path` and `key_path`): TLS on both
//!   ports, nothing in plaintext;
//! - **`plaintext = true`**: plaintext for every peer, for a central behind
//!   a TLS-terminating load balancer; said once, as a warning, at start;
//! - **neither**: plaintext for loopback peers only (a local run, the demo,
//!   the tests, a sidecar). A connection from any other address is closed
//!   right after accept, counted (`samu_plaintext_refused_total`) and
//!   reported in the log at most once a minute, with what to configure.
//!
//! The servers' own accept loops ask [`Transport::admit`] what to do with
//! each accepted connection and run [`handshake`] in the connection's own
//! task, so a slow client never holds up the others. Client certificates
//! and reloading certificates without a restart are not supported.
//!
//! # Layout
//! - this file: [`TlsConfig`] (the `[tls]` section), [`TlsError`],
//!   [`Transports`] and [`Transport`] (one port's mode), [`handshake`].
//! - [`client`]: the client side over the same rustls: a connector for
//!   tonic channels, used by the demo's simulator to reach its own TLS port
//!   and by the tests.
#![forbid(unsafe_code)]

pub mod client;

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use rustls::ServerConfig;
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
pub use tokio_rustls::{server::TlsStream, TlsAcceptor};

/// Application protocols offered in the TLS handshake, in the server's
/// order of preference: HTTP/2 (gRPC, and browsers) first, HTTP/1.1 for
/// the rest (gRPC-Web and WebSocket clients that speak only HTTP/1.1; the
/// gRPC port accepts HTTP/1.1 for gRPC-Web too).
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// How often, at most, refused plaintext connections are reported in the
/// log (each one is counted in the metric).
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// The `[tls]` section: certificates for both ports, or an explicit choice
/// of plaintext. Empty (the default) serves plaintext to loopback peers only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server's certificate chain, leaf first
    /// (`SAMU_TLS_CERT`). With `key_path`, both ports speak TLS only.
    pub cert_path: Option<PathBuf>,
    /// PEM file with the certificate's private key: PKCS#8, PKCS#1 or SEC1
    /// (`SAMU_TLS_KEY`).
    pub key_path: Option<PathBuf>,
    /// Serve plaintext to every peer (`SAMU_PLAINTEXT=1`): only for a
    /// central behind a TLS-terminating proxy or load balancer. Without it
    /// and without certificates, only loopback peers are served.
    pub plaintext: bool,
}

/// A `[tls]` section that cannot be used. Each names the key or the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// One of the two paths without the other.
    #[error("[tls] {given} is set but {missing} is not: set both for TLS, or neither")]
    Incomplete {
        /// The key that is set.
        given: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
    /// Certificates and `plaintext = true` at once.
    #[error(
        "[tls] sets certificates and plaintext = true (SAMU_PLAINTEXT): choose one, TLS or plaintext"
    )]
    Conflict,
    /// A file could not be read.
    #[error("cannot read the TLS {what} {path}: {source}")]
    Read {
        /// "certificate chain" or "private key".
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file was read but holds no usable PEM.
    #[error("invalid TLS {what} {path}: {message}")]
    Invalid {
        /// "certificate chain" or "private key".
        what: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the pair (the key does not match the certificate, an
    /// unsupported key type).
    #[error("TLS certificate {cert} with key {key}: {source}")]
    Unusable {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// rustls's reason.
        source: rustls::Error,
    },
}

impl TlsConfig {
    /// Reads the certificates, when configured, and decides both ports'
    /// mode. Called once at start: a bad section stops the server there.
    ///
    /// # Errors
    /// Only one of the two paths, paths with `plaintext = true`, an
    /// unreadable file, a file without PEM blocks of the right kind, or a
    /// key that does not fit the certificate.
    pub fn load(&self) -> Result<Transports, TlsError> {
        match (&self.cert_path, &self.key_path) {
            (Some(_), None) => Err(TlsError::Incomplete {
                given: "cert_path (SAMU_TLS_CERT)",
                missing: "key_path (SAMU_TLS_KEY)",
            }),
            (None, Some(_)) => Err(TlsError::Incomplete {
                given: "key_path (SAMU_TLS_KEY)",
                missing: "cert_path (SAMU_TLS_CERT)",
            }),
            (Some(_), Some(_)) if self.plaintext => Err(TlsError::Conflict),
            (Some(cert), Some(key)) => {
                let chain = read_chain(cert)?;
                let leaf = chain[0].clone();
                let key_der = read_key(key)?;
                let config =
                    server_config(chain, key_der).map_err(|source| TlsError::Unusable {
                        cert: cert.display().to_string(),
                        key: key.display().to_string(),
                        source,
                    })?;
                let acceptor = TlsAcceptor::from(Arc::new(config));
                Ok(Transports {
                    grpc: Transport::tls("grpc", acceptor.clone()),
                    http: Transport::tls("http", acceptor),
                    leaf: Some(leaf),
                })
            }
            (None, None) if self.plaintext => Ok(Transports {
                grpc: Transport::plaintext("grpc"),
                http: Transport::plaintext("http"),
                leaf: None,
            }),
            (None, None) => Ok(Transports {
                grpc: Transport::loopback_only("grpc"),
                http: Transport::loopback_only("http"),
                leaf: None,
            }),
        }
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    const WHAT: &str = "certificate chain";
    let pem = read_file(WHAT, path)?;
    let invalid = |message: String| TlsError::Invalid {
        what: WHAT,
        path: path.display().to_string(),
        message,
    };
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("no CERTIFICATE block".into()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    const WHAT: &str = "private key";
    let pem = read_file(WHAT, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Invalid {
        what: WHAT,
        path: path.display().to_string(),
        message: match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY block (PKCS#8, RSA PRIVATE KEY or EC PRIVATE KEY)".into()
            }
            e => format!("not PEM: {e}"),
        },
    })
}

/// The ring provider, named rather than taken from the process default, so
/// the server never depends on which provider some other crate installed.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Both ports' modes, from one `[tls]` section.
#[derive(Debug, Clone)]
pub struct Transports {
    /// The gRPC port's.
    pub grpc: Transport,
    /// The HTTP port's.
    pub http: Transport,
    /// The served leaf certificate, so an in-process client (the demo's
    /// simulator) can trust exactly it ([`Transports::self_client`]).
    leaf: Option<CertificateDer<'static>>,
}

impl Transports {
    /// A client configuration that trusts exactly this server's own
    /// certificate, whatever names it carries, for in-process clients that
    /// dial the server's own port (the demo's simulator); `None` without TLS.
    pub fn self_client(&self) -> Option<rustls::ClientConfig> {
        self.leaf.clone().map(client::pinned)
    }

    /// Logs, once at start, each port's address and mode; plaintext for
    /// everyone is a warning.
    pub fn announce(&self, grpc_addr: SocketAddr, http_addr: SocketAddr) {
        tracing::info!(
            %grpc_addr,
            grpc_mode = self.grpc.mode_name(),
            %http_addr,
            http_mode = self.http.mode_name(),
            "transport security"
        );
        if matches!(self.grpc.mode, Mode::Plaintext) || matches!(self.http.mode, Mode::Plaintext) {
            tracing::warn!(
                "plaintext = true: both ports serve plaintext to every peer; only for a central \
                 behind a TLS-terminating proxy or load balancer"
            );
        }
        if matches!(self.grpc.mode, Mode::LoopbackOnly(_)) {
            tracing::info!(
                "no [tls] certificates: plaintext is served to loopback peers only; configure \
                 [tls] cert_path and key_path, or set plaintext = true behind a TLS-terminating \
                 proxy, to serve other hosts"
            );
        }
    }
}

/// One port's mode: what to do with each accepted connection. Cheap to
/// clone (the acceptor and the refusal log are shared).
#[derive(Clone)]
pub struct Transport {
    /// `grpc` or `http`: the metrics' label and the logs' field.
    port: &'static str,
    mode: Mode,
    /// When refusals were last reported, so a scan of the port cannot
    /// flood the log. A std mutex: held for a comparison, never across an
    /// `.await`.
    refusals: Arc<Mutex<RefusalLog>>,
}

#[derive(Clone)]
enum Mode {
    Tls(TlsAcceptor),
    Plaintext,
    /// Plaintext to peers this function calls local ([`is_loopback`],
    /// except in tests of the refusal path).
    LoopbackOnly(fn(IpAddr) -> bool),
}

#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<Instant>,
    unreported: u64,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("port", &self.port)
            .field("mode", &self.mode_name())
            .finish()
    }
}

/// What an accept loop does with one accepted connection.
pub enum Admission {
    /// Serve it as it is.
    Plaintext,
    /// Run [`handshake`] with this acceptor first (in the connection's
    /// own task), then serve the TLS stream.
    Tls(TlsAcceptor),
    /// Close it now: plaintext from a non-loopback peer, already counted
    /// and logged.
    Refused,
}

impl Transport {
    /// TLS on this port with `acceptor`.
    pub fn tls(port: &'static str, acceptor: TlsAcceptor) -> Self {
        Self::new(port, Mode::Tls(acceptor))
    }

    /// Plaintext to every peer.
    pub fn plaintext(port: &'static str) -> Self {
        Self::new(port, Mode::Plaintext)
    }

    /// Plaintext to loopback peers only: the default without `[tls]`.
    pub fn loopback_only(port: &'static str) -> Self {
        Self::loopback_only_judged_by(port, is_loopback)
    }

    /// As [`Transport::loopback_only`], with `is_local` deciding which
    /// peers count as loopback: lets tests on a loopback-only machine
    /// exercise the refusal path (`|_| false` refuses everyone).
    pub fn loopback_only_judged_by(port: &'static str, is_local: fn(IpAddr) -> bool) -> Self {
        Self::new(port, Mode::LoopbackOnly(is_local))
    }

    fn new(port: &'static str, mode: Mode) -> Self {
        Self {
            port,
            mode,
            refusals: Arc::default(),
        }
    }

    /// `tls`, `plaintext` or `plaintext-loopback-only`, for logs.
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Tls(_) => "tls",
            Mode::Plaintext => "plaintext",
            Mode::LoopbackOnly(_) => "plaintext-loopback-only",
        }
    }

    /// `grpc` or `http`.
    pub fn port(&self) -> &'static str {
        self.port
    }

    /// Whether this port speaks TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.mode, Mode::Tls(_))
    }

    /// Decides what to do with a connection just accepted from `peer`. A
    /// refusal is counted and, at most once per [`REFUSAL_LOG_EVERY`],
    /// logged with what the operator should configure.
    pub fn admit(&self, peer: SocketAddr) -> Admission {
        match &self.mode {
            Mode::Tls(acceptor) => Admission::Tls(acceptor.clone()),
            Mode::Plaintext => Admission::Plaintext,
            Mode::LoopbackOnly(is_local) if is_local(peer.ip()) => Admission::Plaintext,
            Mode::LoopbackOnly(_) => {
                self.refused(peer);
                Admission::Refused
            }
        }
    }

    fn refused(&self, peer: SocketAddr) {
        metrics::counter!("samu_plaintext_refused_total", "port" => self.port).increment(1);
        let now = Instant::now();
        let mut log = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        let due = log
            .last
            .is_none_or(|last| now.duration_since(last) >= REFUSAL_LOG_EVERY);
        if !due {
            log.unreported += 1;
            return;
        }
        tracing::warn!(
            port = self.port,
            %peer,
            refused_since_last_report = log.unreported,
            "refused a plaintext connection from a non-loopback address: without [tls] \
             certificates only loopback peers are served; set [tls] cert_path and key_path \
             (SAMU_TLS_CERT, SAMU_TLS_KEY), or plaintext = true (SAMU_PLAINTEXT=1) behind a \
             TLS-terminating proxy"
        );
        log.last = Some(now);
        log.unreported = 0;
    }
}

/// Whether `ip` is a loopback address: 127.0.0.0/8, `::1`, or an
/// IPv4-mapped loopback (`::ffff:127.0.0.1`, what a dual-stack socket sees).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The TLS handshake of one accepted connection, within `deadline`. A
/// failure (a plaintext client, a scanner, a timeout) is counted in
/// `samu_tls_handshake_failures_total` and logged at debug: it ends this
/// connection only. Run it in the connection's own task.
pub async fn handshake(
    port: &'static str,
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    deadline: Duration,
) -> Option<TlsStream<TcpStream>> {
    let error = match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => return Some(tls),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no handshake within {} s", deadline.as_secs_f32()),
    };
    metrics::counter!("samu_tls_handshake_failures_total", "port" => port).increment(1);
    tracing::debug!(port, %peer, %error, "TLS handshake failed");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("samu-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn self_signed() -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    #[test]
    fn loopback_is_v4_v6_and_mapped() {
        for local in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(local.parse().unwrap()), "{local}");
        }
        for remote in [
            "10.0.0.1",
            "192.168.1.20",
            "0.0.0.0",
            "::",
            "fe80::1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_loopback(remote.parse().unwrap()), "{remote}");
        }
    }

    #[test]
    fn without_certificates_only_loopback_peers_get_plaintext() {
        let t = TlsConfig::default().load().unwrap();
        assert_eq!(t.grpc.mode_name(), "plaintext-loopback-only");
        assert!(matches!(
            t.http.admit("127.0.0.1:9".parse().unwrap()),
            Admission::Plaintext
        ));
        assert!(matches!(
            t.http.admit("[::ffff:127.0.0.1]:9".parse().unwrap()),
            Admission::Plaintext
        ));
        assert!(matches!(
            t.grpc.admit("192.168.0.7:9".parse().unwrap()),
            Admission::Refused
        ));
        assert!(t.self_client().is_none());
    }

    #[test]
    fn explicit_plaintext_serves_everyone() {
        let t = TlsConfig {
            plaintext: true,
            ..TlsConfig::default()
        }
        .load()
        .unwrap();
        assert_eq!(t.http.mode_name(), "plaintext");
        assert!(matches!(
            t.grpc.admit("203.0.113.5:9".parse().unwrap()),
            Admission::Plaintext
        ));
    }

    #[test]
    fn refusals_are_logged_at_most_once_a_period() {
        let t = Transport::loopback_only_judged_by("http", |_| false);
        for _ in 0..5 {
            assert!(matches!(
                t.admit("127.0.0.1:1".parse().unwrap()),
                Admission::Refused
            ));
        }
        let log = t.refusals.lock().unwrap();
        assert!(log.last.is_some());
        assert_eq!(log.unreported, 4, "one report, four counted for the next");
    }

    #[test]
    fn certificates_turn_tls_on_for_both_ports() {
        let dir = temp_dir("ok");
        let (cert, key) = self_signed();
        let t = TlsConfig {
            cert_path: Some(write(&dir, "cert.pem", &cert)),
            key_path: Some(write(&dir, "key.pem", &key)),
            plaintext: false,
        }
        .load()
        .unwrap();
        assert!(t.grpc.is_tls() && t.http.is_tls());
        assert!(matches!(
            t.grpc.admit("127.0.0.1:9".parse().unwrap()),
            Admission::Tls(_)
        ));
        assert!(t.self_client().is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_bad_section_is_refused_naming_the_key_or_file() {
        let dir = temp_dir("bad");
        let (cert, key) = self_signed();
        let cert_path = write(&dir, "cert.pem", &cert);
        let key_path = write(&dir, "key.pem", &key);
        let err = |c: TlsConfig| c.load().unwrap_err().to_string();

        let e = err(TlsConfig {
            cert_path: Some(cert_path.clone()),
            ..TlsConfig::default()
        });
        assert!(e.contains("key_path") && e.contains("SAMU_TLS_KEY"), "{e}");
        let e = err(TlsConfig {
            key_path: Some(key_path.clone()),
            ..TlsConfig::default()
        });
        assert!(e.contains("cert_path"), "{e}");
        let e = err(TlsConfig {
            cert_path: Some(cert_path.clone()),
            key_path: Some(key_path.clone()),
            plaintext: true,
        });
        assert!(e.contains("plaintext"), "{e}");

        let missing = dir.join("nowhere.pem");
        let e = err(TlsConfig {
            cert_path: Some(missing.clone()),
            key_path: Some(key_path.clone()),
            plaintext: false,
        });
        assert!(e.contains(&missing.display().to_string()), "{e}");

        let garbage = write(&dir, "garbage.pem", "not a certificate\n");
        let e = err(TlsConfig {
            cert_path: Some(garbage.clone()),
            key_path: Some(key_path.clone()),
            plaintext: false,
        });
        assert!(
            e.contains(&garbage.display().to_string()) && e.contains("CERTIFICATE"),
            "{e}"
        );
        // A certificate where the key should be.
        let e = err(TlsConfig {
            cert_path: Some(cert_path.clone()),
            key_path: Some(cert_path.clone()),
            plaintext: false,
        });
        assert!(
            e.contains("private key") && e.contains(&cert_path.display().to_string()),
            "{e}"
        );
        // A key that is not the certificate's.
        let (_, other_key) = self_signed();
        let other = write(&dir, "other-key.pem", &other_key);
        let e = err(TlsConfig {
            cert_path: Some(cert_path.clone()),
            key_path: Some(other.clone()),
            plaintext: false,
        });
        assert!(e.contains(&other.display().to_string()), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
