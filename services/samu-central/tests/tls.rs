//! Transport security: with `[tls]` certificates both ports speak TLS and
//! nothing else; with `plaintext = true` both serve plaintext; a bad
//! section stops the start with exit code 64 naming the key or file.
//!
//! Without either, plaintext goes to loopback peers only: every other test
//! of the suite is such a loopback client, and the refusal of other peers is
//! tested on the accept loops themselves (samu-grpc `incoming`, samu-http
//! `listener`) and on the policy (samu-tls), since tests may reach no
//! address but loopback.

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use samu_proto::v1::admin_client::AdminClient;
use samu_testkit::TestBackend;
use samu_tls::client::Connector;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

const BIN: &str = env!("CARGO_BIN_EXE_samu-central");

/// A throwaway CA and a server certificate it signed for `localhost` and
/// 127.0.0.1, written as PEM files into `dir`.
struct TestPki {
    ca_der: rustls::pki_types::CertificateDer<'static>,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
}

impl TestPki {
    fn new(dir: &Path) -> Self {
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "samu test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let cert_path = dir.join("server-chain.pem");
        let key_path = dir.join("server-key.pem");
        std::fs::write(&cert_path, format!("{}{}", cert.pem(), ca.pem())).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Self {
            ca_der: ca.der().clone(),
            cert_path,
            key_path,
        }
    }

    /// A client configuration trusting only the test CA.
    fn client(&self, alpn: &[u8]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let mut config = samu_tls::client::trusting(roots);
        config.alpn_protocols = vec![alpn.to_vec()];
        config
    }
}

async fn tls_app() -> (TestApp, TestPki) {
    let dir = std::env::temp_dir().join(format!("samu-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = TestPki::new(&dir);
    let (cert, key) = (pki.cert_path.clone(), pki.key_path.clone());
    let app = TestApp::spawn_with(TestBackend::Sqlite, move |c| {
        c.tls.cert_path = Some(cert);
        c.tls.key_path = Some(key);
    })
    .await;
    (app, pki)
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// One HTTP/1.1 request over TLS; the whole answer.
async fn https_get(connector: &Connector, port: u16, path: &str) -> std::io::Result<String> {
    let mut tls = connector.connect(&format!("127.0.0.1:{port}")).await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut answer = Vec::new();
    // A close without close_notify is fine here: the answer is complete.
    let _ = tls.read_to_end(&mut answer).await;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn tls_channel(grpc_port: u16, connector: Connector) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect_with_connector_lazy(connector)
}

async fn health(channel: Channel) -> Result<i32, tonic::Status> {
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|r| r.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_certificates_both_ports_speak_tls_and_nothing_else() {
    let (app, pki) = tls_app().await;
    let http_port = app.http_addr.port();
    let grpc_port = port_of(&app.grpc_url);

    // A client that connects and says nothing holds its own handshake
    // task, not the accept loop: everyone else is served meanwhile.
    let _silent = TcpStream::connect(("127.0.0.1", grpc_port)).await.unwrap();
    let _silent_http = TcpStream::connect(("127.0.0.1", http_port)).await.unwrap();

    // HTTPS, verified against the test CA, both by name and by address.
    for name in ["localhost", "127.0.0.1"] {
        let https = Connector::new(pki.client(b"http/1.1"), name).unwrap();
        let answer = https_get(&https, http_port, "/healthz").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    // gRPC over TLS: health, and an authenticated call.
    let grpc = Connector::new(pki.client(b"h2"), "localhost").unwrap();
    let channel = tls_channel(grpc_port, grpc);
    assert_eq!(
        health(channel.clone()).await.expect("health over TLS"),
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    AdminClient::new(channel)
        .upsert_central(authed(
            &app.admin_token,
            samu_proto::v1::Central {
                id: BH.into(),
                name: "SAMU BH".into(),
                time_zone: String::new(),
                population: 2_523_794,
                ..Default::default()
            },
        ))
        .await
        .expect("an admin call over TLS");

    // The demo's simulator trusts exactly the served certificate.
    let own = app.config.tls.load().unwrap().self_client().unwrap();
    let pinned = Connector::new(own, "localhost").unwrap();
    health(tls_channel(grpc_port, pinned))
        .await
        .expect("the pinned client is served");

    // Plaintext gets nothing on either port.
    let plain = Endpoint::from_shared(app.grpc_url.clone())
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
        .connect_lazy();
    assert!(health(plain).await.is_err(), "plaintext gRPC is refused");
    let plain_http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
        .get(format!("{}/healthz", app.http_url))
        .send()
        .await;
    assert!(
        plain_http.is_err(),
        "plaintext HTTP is refused: {plain_http:?}"
    );

    // A client that does not trust the CA is refused too.
    let untrusted = Connector::new(
        samu_tls::client::trusting(rustls::RootCertStore::empty()),
        "localhost",
    )
    .unwrap();
    assert!(https_get(&untrusted, http_port, "/healthz").await.is_err());

    // The failed handshakes are counted, and the server is still up.
    let https = Connector::new(pki.client(b"http/1.1"), "localhost").unwrap();
    let metrics = eventually("handshake failures counted", || async {
        https_get(&https, http_port, "/metrics")
            .await
            .ok()
            .filter(|m| m.contains("samu_tls_handshake_failures_total"))
    })
    .await;
    assert!(metrics.contains("port=\"http\""), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_plaintext_serves_plaintext_on_both_ports() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| c.tls.plaintext = true).await;
    let ok = reqwest::get(format!("{}/healthz", app.http_url))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    health(app.channel().await).await.expect("plaintext gRPC");
}

fn serve_with_env(env: &[(&str, &Path)]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("samu-tls-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .current_dir(&dir)
        .env("SAMU_GRPC_ADDR", "127.0.0.1:0")
        .env("SAMU_HTTP_ADDR", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/samu.db", dir.display()),
        )
        .env("RUST_LOG", "warn")
        .env_remove("SAMU_PLAINTEXT")
        .env_remove("SAMU_TLS_CERT")
        .env_remove("SAMU_TLS_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    // The start fails at once; the timeout only guards against a server
    // that would start anyway.
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[test]
fn a_bad_tls_section_stops_the_start_with_code_64_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("samu-tls-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = TestPki::new(&dir);

    let out = serve_with_env(&[("SAMU_TLS_CERT", &pki.cert_path)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("key_path"), "{stderr}");

    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    let out = serve_with_env(&[("SAMU_TLS_CERT", &garbage), ("SAMU_TLS_KEY", &pki.key_path)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains(&garbage.display().to_string()), "{stderr}");

    let missing = dir.join("missing-key.pem");
    let out = serve_with_env(&[
        ("SAMU_TLS_CERT", &pki.cert_path),
        ("SAMU_TLS_KEY", &missing),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
