//! The servers' own limits: a client trickling its headers (slow loris) is
//! cut off after the header deadline, a gRPC connection that says nothing
//! and a vehicle stream that carries nothing are closed, and connections
//! past the cap wait until one closes, while everyone within the cap is
//! served.

mod common;

use std::time::Duration;

use common::*;
use samu_proto::v1::{self as pb, ack::Kind};
use samu_testkit::TestBackend;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| {
        c.http.limits.header_read_timeout_s = 1
    })
    .await;
    let mut slow = TcpStream::connect(app.http_addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: samu\r\nX-Slow: ")
        .await
        .unwrap();
    // Trickle a byte now and then, never ending the headers.
    let trickle = async {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow.write_all(b"a").await.is_err() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(4), trickle).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server closed the connection");
    let text = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    // Everyone else is served as usual.
    let ok = reqwest::get(format!("{}/healthz", app.http_url))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| {
        c.http.limits.max_connections = 2;
        c.http.limits.header_read_timeout_s = 30;
    })
    .await;
    let first = TcpStream::connect(app.http_addr).await.unwrap();
    let _second = TcpStream::connect(app.http_addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let url = format!("{}/healthz", app.http_url);
    assert!(
        client.get(&url).send().await.is_err(),
        "a third connection is not served"
    );
    drop(first);
    let served = eventually("served once a connection closed", || async {
        client
            .get(&url)
            .send()
            .await
            .ok()
            .filter(|r| r.status() == 200)
    })
    .await;
    assert_eq!(served.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_past_the_cap_wait_for_a_free_one() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| c.grpc.max_connections = 2).await;
    let grpc_addr = app.grpc_url.trim_start_matches("http://").to_owned();
    let first = TcpStream::connect(&grpc_addr).await.unwrap();
    let _second = TcpStream::connect(&grpc_addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = || async {
        let channel = tonic::transport::Endpoint::from_shared(app.grpc_url.clone())
            .unwrap()
            .connect_timeout(Duration::from_millis(800))
            .timeout(Duration::from_millis(800))
            .connect_lazy();
        tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
    };
    assert!(health().await.is_err(), "a third connection is not served");
    drop(first);
    eventually("served once a connection closed", || async {
        health().await.ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_connection_that_says_nothing_is_closed_after_the_handshake_deadline() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let grpc_addr = app.grpc_url.trim_start_matches("http://").to_owned();
    let mut silent = TcpStream::connect(&grpc_addr).await.unwrap();
    let opened = std::time::Instant::now();
    let mut buf = [0u8; 64];
    // The server's HTTP/2 settings may come first; then the close.
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a silent connection was kept open");
    let after = opened.elapsed();
    assert!(
        after >= samu_grpc::incoming::HANDSHAKE_DEADLINE - Duration::from_millis(500),
        "closed after {after:?}, before the deadline"
    );
    // A client that does talk is served meanwhile and after.
    app.admin().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vehicle_stream_that_carries_nothing_is_ended() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| c.grpc.stream_silence_s = 2).await;
    app.seed_central().await;
    let token = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let mut vehicle = app.vehicle(&token).await.unwrap();
    // Reports keep it open past the limit...
    for seq in 1..=4 {
        let reply = vehicle
            .report("usb-1", seq, position(-19.92 + 0.0001 * seq as f64, -43.94))
            .await;
        assert!(is_ack(&reply, Kind::Applied), "{reply:?}");
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    // ...and silence ends it, with a status that says why.
    let quiet = std::time::Instant::now();
    let status = vehicle
        .replies
        .message()
        .await
        .expect_err("the stream ends");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("no report for 2 s"), "{status:?}");
    assert!(
        quiet.elapsed() < Duration::from_secs(4),
        "{:?}",
        quiet.elapsed()
    );
    // The app reconnects and goes on.
    let mut again = app.vehicle(&token).await.unwrap();
    let reply = again.report("usb-1", 5, position(-19.9205, -43.94)).await;
    assert!(is_ack(&reply, Kind::Applied), "{reply:?}");
}
