//! Health, readiness, metrics, gRPC health and reflection, and the wall feed.

mod common;

use common::*;
use samu_proto::v1::{self as pb, ack::Kind};
use samu_testkit::{backend_tests, TestBackend};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

backend_tests! {
    health_readiness_and_metrics => health_readiness_and_metrics;
    grpc_health_and_reflection => grpc_health_and_reflection;
    the_console_port_serves_the_same_fleet => the_console_port_serves_the_same_fleet;
    wall_gets_a_snapshot_then_deltas => wall_gets_a_snapshot_then_deltas;
    wall_refuses_bad_tokens_and_parameters => wall_refuses_bad_tokens_and_parameters;
}

async fn health_readiness_and_metrics(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/healthz", app.http_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = http
        .get(format!("{}/readyz", app.http_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "ok");
    assert_eq!(body["redis"], "disabled");

    // Some traffic, so the counters exist.
    app.seed_central().await;
    let token = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let mut v = app.vehicle(&token).await.unwrap();
    assert!(is_ack(
        &v.report("usb-1", 1, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    app.fleet()
        .await
        .nearest_units(authed(
            &app.wall_token,
            nearest_request(-19.9, -43.9, &[pb::UnitType::Usb], 1, ""),
        ))
        .await
        .unwrap();
    let metrics = http
        .get(format!("{}/metrics", app.http_url))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    for name in [
        "samu_reports_total",
        "samu_connected_vehicles",
        "samu_nearest_query_seconds_bucket",
        "samu_write_batch_seconds",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    // The ingest path's counters are registered when the central starts
    // (all at 0): the one applied fix is counted where it belongs.
    let count = |labels: &str| -> u64 {
        let prefix = format!("samu_reports_total{{{labels}}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {prefix}in /metrics:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(count(r#"kind="position",outcome="applied""#), 1);
    assert_eq!(count(r#"kind="position",outcome="rejected""#), 0);
    assert_eq!(count(r#"kind="crew_status",outcome="applied""#), 0);
    let missing = http
        .get(format!("{}/nope", app.http_url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"].is_string());

    // A Redis that does not answer makes the instance not ready.
    let app = TestApp::spawn_with(backend, |c| {
        c.redis_url = Some("redis://127.0.0.1:1/".into())
    })
    .await;
    let ready = http
        .get(format!("{}/readyz", app.http_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let app = TestApp::spawn_with(backend, |c| c.redis_url = Some(samu_testkit::redis_url())).await;
    let ready: Value = http
        .get(format!("{}/readyz", app.http_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["redis"], "ok");
}

/// The consoles' own port answers from the same fleet state as the main
/// port, checks tokens the same way, and stops with the server.
async fn the_console_port_serves_the_same_fleet(backend: TestBackend) {
    let mut app = TestApp::spawn_with(backend, |c| {
        c.console_grpc_addr = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    let console_url = app.console_grpc_url.clone().expect("a console port");
    assert_ne!(console_url, app.grpc_url);
    app.seed_central().await;
    let (_, mut v) = app.available_vehicle("usb-1", pb::UnitType::Usb).await;
    assert!(is_ack(
        &v.report("usb-1", 2, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    let request = |token: &str| {
        authed(
            token,
            nearest_request(-19.9, -43.9, &[pb::UnitType::Usb], 1, ""),
        )
    };
    let channel = tonic::transport::Channel::from_shared(console_url)
        .unwrap()
        .connect()
        .await
        .expect("connect to the console port");
    let mut console = pb::fleet_client::FleetClient::new(channel);
    let on_console = console
        .nearest_units(request(&app.wall_token))
        .await
        .expect("nearest on the console port")
        .into_inner();
    let on_main = app
        .fleet()
        .await
        .nearest_units(request(&app.wall_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(on_console.units.len(), 1);
    assert_eq!(on_console, on_main);
    assert_eq!(on_console.units[0].unit.as_ref().unwrap().unit_id, "usb-1");
    let refused = console
        .nearest_units(request("not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    // The console thread ends with the server.
    app.stop().await;
    assert!(console
        .nearest_units(request(&app.wall_token))
        .await
        .is_err());
}

async fn grpc_health_and_reflection(backend: TestBackend) {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let app = TestApp::spawn(backend).await;
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "samu.v1.Telemetry", "samu.v1.Fleet", "samu.v1.Admin"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let mut reflection = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("a service list")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for wanted in [
        "samu.v1.Telemetry",
        "samu.v1.Fleet",
        "samu.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&wanted), "{wanted} not in {names:?}");
    }
}

async fn wall_socket(app: &TestApp, query: &str) -> WallSocket {
    let url = format!("ws://{}/ws/wall{query}", app.http_addr);
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the wall connects");
    socket
}

async fn wall_gets_a_snapshot_then_deltas(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let token_a = app.add_unit("usa-1", pb::UnitType::Usa).await;
    app.add_unit("usb-1", pb::UnitType::Usb).await;

    // Token in the header.
    let mut request = format!("ws://{}/ws/wall?central={BH}", app.http_addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", app.wall_token).parse().unwrap(),
    );
    let (mut wall, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let snapshot = next_frame(&mut wall).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert!(
        snapshot["at"].as_str().unwrap().ends_with('Z')
            || snapshot["at"].as_str().unwrap().contains('+')
    );
    let units = snapshot["units"].as_array().unwrap();
    assert_eq!(units.len(), 2);
    assert_eq!(units[0]["id"], "usa-1");
    assert_eq!(units[0]["type"], "USA");
    assert_eq!(units[0]["central"], BH);
    assert_eq!(units[0]["status"], "no_signal");
    assert_eq!(units[0]["crew_complete"], false);
    assert!(snapshot["occurrences"].is_array());
    assert!(snapshot["indicators"].is_object());

    let mut v = app.vehicle(&token_a).await.unwrap();
    assert!(is_ack(
        &v.report("usa-1", 1, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    assert!(is_ack(
        &v.report("usa-1", 2, available("usa-1", pb::UnitType::Usa))
            .await,
        Kind::Applied
    ));
    // Deltas carry only the changed unit, at its latest state.
    let mut delta = None;
    for _ in 0..20 {
        let frame = next_frame(&mut wall).await;
        assert_eq!(frame["type"], "delta");
        let units = frame["units"].as_array().unwrap().clone();
        assert!(
            units.iter().all(|u| u["id"] == "usa-1"),
            "only what changed: {units:?}"
        );
        if let Some(u) = units
            .into_iter()
            .find(|u| u["status"] == "available_at_base")
        {
            delta = Some(u);
            break;
        }
    }
    let delta = delta.expect("usa-1 available on the wall within 20 frames");
    assert_eq!(delta["lat"], -19.92);
    assert_eq!(delta["crew_complete"], true);

    // Applying the deltas to the snapshot equals a fresh snapshot.
    let mut fresh = wall_socket(&app, &format!("?token={}", app.wall_token)).await;
    let fresh = next_frame(&mut fresh).await;
    let again = fresh["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "usa-1")
        .unwrap()
        .clone();
    assert_eq!(again["status"], delta["status"]);
    assert_eq!(again["lat"], delta["lat"]);
    assert_eq!(again["updated_at"], delta["updated_at"]);

    // Another central's filter sees none of it.
    let mut other = wall_socket(&app, &format!("?token={}&central=3170107", app.wall_token)).await;
    let snapshot = next_frame(&mut other).await;
    assert!(snapshot["units"].as_array().unwrap().is_empty());
    wall.close(None).await.unwrap();
}

async fn wall_refuses_bad_tokens_and_parameters(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let device = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let http = reqwest::Client::new();
    let upgrade = |query: String| {
        http.get(format!("{}/ws/wall{query}", app.http_url))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    let cases = [
        (String::new(), 401),
        ("?token=samu_wrong".to_owned(), 401),
        (format!("?token={device}"), 403),
        (format!("?token={}&central=abc", app.wall_token), 400),
    ];
    for (query, code) in cases {
        let response = upgrade(query.clone()).await.unwrap();
        assert_eq!(response.status(), code, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{query}: {body}");
    }
    let response = upgrade(format!("?token={}&central=abc", app.wall_token))
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "central");
}
