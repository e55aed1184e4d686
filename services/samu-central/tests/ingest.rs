//! Telemetry through gRPC into the fleet state and the store, the nearest
//! unit answer, and every kind of bad input.

mod common;

use common::*;
use samu_proto::v1::{self as pb, ack::Kind, vehicle_report::Body};
use samu_testkit::{backend_tests, TestBackend};
use tonic::Code;
use tonic_types::StatusExt;

backend_tests! {
    positions_drive_the_nearest_unit_answer => positions_drive_the_nearest_unit_answer;
    bad_reports_are_rejected_by_field_and_change_nothing => bad_reports_are_rejected_by_field_and_change_nothing;
    stream_level_errors_end_the_stream_with_a_status => stream_level_errors_end_the_stream_with_a_status;
    resending_after_a_reconnect_stores_nothing_twice => resending_after_a_reconnect_stores_nothing_twice;
    fleet_queries_validate_their_input => fleet_queries_validate_their_input;
    roles_are_enforced => roles_are_enforced;
    a_revoked_device_token_ends_its_open_stream_within_seconds => revoked_stream;
    a_device_token_that_expires_ends_its_open_stream_while_it_reports => expiring_stream;
}

async fn positions_drive_the_nearest_unit_answer(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let units = [
        ("usa-near", pb::UnitType::Usa, -19.9200, -43.9400),
        ("usa-far", pb::UnitType::Usa, -19.9800, -43.9400),
        ("usb-nearest", pb::UnitType::Usb, -19.9192, -43.9387),
        ("usa-busy", pb::UnitType::Usa, -19.9191, -43.9386),
    ];
    for (id, t, lat, lon) in units {
        let token = app.add_unit(id, t).await;
        let mut v = app.vehicle(&token).await.unwrap();
        assert!(is_ack(
            &v.report(id, 1, position(lat, lon)).await,
            Kind::Applied
        ));
        assert!(is_ack(
            &v.report(id, 2, available(id, t)).await,
            Kind::Applied
        ));
        if id == "usa-busy" {
            let en_route = crew_status(pb::UnitStatus::EnRoute, full_crew(id, t));
            assert!(is_ack(&v.report(id, 3, en_route).await, Kind::Applied));
        }
    }
    let mut fleet = app.fleet().await;
    let answer = fleet
        .nearest_units(authed(
            &app.wall_token,
            nearest_request(-19.9191, -43.9386, &[pb::UnitType::Usa], 5, BH),
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = answer
        .units
        .iter()
        .map(|n| n.unit.as_ref().unwrap().unit_id.clone())
        .collect();
    assert_eq!(
        ids,
        ["usa-near", "usa-far"],
        "available USA only, nearest first"
    );
    let first = &answer.units[0];
    assert!(
        (100.0..200.0).contains(&first.distance_m),
        "{}",
        first.distance_m
    );
    assert!(
        first.eta_s > first.distance_m / 12.0,
        "ETA uses a road detour and a realistic speed"
    );
    let state = first.unit.as_ref().unwrap();
    assert!(state.crew_complete);
    assert_eq!(state.apco_status, "AVAILABLE-IN-QUARTERS");
    assert_eq!(state.status, pb::UnitStatus::AvailableAtBase as i32);

    let both = fleet
        .nearest_units(authed(
            &app.wall_token,
            nearest_request(
                -19.9191,
                -43.9386,
                &[pb::UnitType::Usa, pb::UnitType::Usb],
                1,
                "",
            ),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(both.units[0].unit.as_ref().unwrap().unit_id, "usb-nearest");

    let none = fleet
        .nearest_units(authed(
            &app.wall_token,
            nearest_request(-19.9191, -43.9386, &[pb::UnitType::Moto], 0, ""),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        none.units.is_empty(),
        "no MOTO in the fleet: an empty answer, not an error"
    );

    let busy = fleet
        .get_unit(authed(
            &app.wall_token,
            pb::GetUnitRequest {
                unit_id: "usa-busy".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(busy.status, pb::UnitStatus::EnRoute as i32);
    assert_eq!(busy.apco_status, "ENROUTE");
    let listed = fleet
        .list_units(authed(
            &app.wall_token,
            pb::ListUnitsRequest {
                central_id: BH.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.units.len(), 4);
    // Everything acknowledged is in the store.
    let history = app
        .store
        .status_history(&"usa-busy".parse_unit())
        .await
        .unwrap();
    assert_eq!(
        history.last().unwrap().status,
        samu_domain::UnitStatus::EnRoute
    );
}

trait ParseUnit {
    fn parse_unit(&self) -> samu_domain::UnitId;
}
impl ParseUnit for &str {
    fn parse_unit(&self) -> samu_domain::UnitId {
        samu_domain::UnitId::parse("unit", self).unwrap()
    }
}

async fn bad_reports_are_rejected_by_field_and_change_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let token = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let mut v = app.vehicle(&token).await.unwrap();
    assert!(is_ack(
        &v.report("usb-1", 1, position(-19.92, -43.94)).await,
        Kind::Applied
    ));

    let hour = chrono::TimeDelta::hours(1);
    let fix = |lat: f64, lon: f64, at: chrono::DateTime<chrono::Utc>| {
        Body::Position(pb::Position {
            fix_time: Some(ts(at)),
            latitude: lat,
            longitude: lon,
            speed_mps: None,
            heading_deg: None,
            accuracy_m: None,
        })
    };
    let now = chrono::Utc::now();
    let cases: Vec<(Body, &str)> = vec![
        (fix(f64::NAN, -43.9, now), "position.latitude"),
        (fix(-19.9, f64::INFINITY, now), "position.longitude"),
        (fix(-91.0, -43.9, now), "position.latitude"),
        (fix(-19.9, 181.0, now), "position.longitude"),
        (fix(-19.9, -43.9, now + hour), "position.fix_time"),
        (fix(-19.9, -43.9, now - hour * 48), "position.fix_time"),
        (
            Body::Position(pb::Position {
                fix_time: None,
                latitude: 0.0,
                longitude: 0.0,
                ..Default::default()
            }),
            "position.fix_time",
        ),
        (
            Body::Position(pb::Position {
                fix_time: Some(now_ts()),
                speed_mps: Some(f32::NAN),
                ..Default::default()
            }),
            "position.speed_mps",
        ),
        (
            crew_status(pb::UnitStatus::NoSignal, vec![]),
            "crew_status.status",
        ),
        (
            Body::CrewStatus(pb::CrewStatus {
                reported_at: Some(now_ts()),
                status: pb::UnitStatus::OutOfService.into(),
                out_of_service_reason: 0,
                crew: vec![],
            }),
            "crew_status.out_of_service_reason",
        ),
        (
            crew_status(
                pb::UnitStatus::AvailableAtBase,
                vec![pb::CrewMember {
                    member_id: "a b".into(),
                    role: pb::CrewRole::Driver.into(),
                }],
            ),
            "crew_status.crew[0].member_id",
        ),
        (
            crew_status(
                pb::UnitStatus::AvailableAtBase,
                (0..13)
                    .map(|i| pb::CrewMember {
                        member_id: format!("m{i}"),
                        role: 1,
                    })
                    .collect(),
            ),
            "crew_status.crew",
        ),
    ];
    for (seq, (body, field)) in (2u64..).zip(cases) {
        let reply = v.report("usb-1", seq, body).await;
        assert_eq!(
            rejected_field(&reply).as_deref(),
            Some(field),
            "seq {seq}: {reply:?}"
        );
    }
    // A report with no body and one with seq 0.
    v.tx.send(pb::VehicleReport {
        seq: 50,
        unit_id: "usb-1".into(),
        body: None,
    })
    .await
    .unwrap();
    assert_eq!(
        rejected_field(&v.reply().await.unwrap()).as_deref(),
        Some("body")
    );
    v.tx.send(pb::VehicleReport {
        seq: 0,
        unit_id: "usb-1".into(),
        body: Some(position(-19.9, -43.9)),
    })
    .await
    .unwrap();
    assert_eq!(
        rejected_field(&v.reply().await.unwrap()).as_deref(),
        Some("seq")
    );

    // The stream is still open and the unit's position is the good one.
    assert!(is_ack(
        &v.report("usb-1", 60, position(-19.9203, -43.94)).await,
        Kind::Applied
    ));
    let unit = app.unit_state("usb-1").await;
    assert_eq!(unit.position.unwrap().latitude, -19.9203);
    let track = app.store.track(&"usb-1".parse_unit()).await.unwrap();
    assert!(track
        .iter()
        .all(|p| p.fix.point.lat() > -20.0 && p.fix.point.lat() < -19.0));
}

async fn stream_level_errors_end_the_stream_with_a_status(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let token_a = app.add_unit("usb-a", pb::UnitType::Usb).await;
    app.add_unit("usb-b", pb::UnitType::Usb).await;

    // No token, a wrong token, a person's token.
    let mut client = pb::telemetry_client::TelemetryClient::new(app.channel().await);
    let (_tx, rx) = tokio::sync::mpsc::channel::<pb::VehicleReport>(1);
    let err = client
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(
        app.vehicle("samu_not-a-token").await.err().unwrap().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        app.vehicle(&app.wall_token).await.err().unwrap().code(),
        Code::PermissionDenied
    );

    // A device token used for another unit.
    let mut v = app.vehicle(&token_a).await.unwrap();
    v.send("usb-b", 1, position(-19.9, -43.9)).await;
    let status = v.reply().await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("unit_id"), "{status}");

    // A unit that does not exist.
    let mut v = app.vehicle(&token_a).await.unwrap();
    v.send("ghost", 1, position(-19.9, -43.9)).await;
    let status = v.reply().await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("unit_id"), "{status}");

    // An oversized message (the limit is 64 KiB).
    let mut v = app.vehicle(&token_a).await.unwrap();
    let huge: Vec<pb::CrewMember> = (0..5_000)
        .map(|i| pb::CrewMember {
            member_id: format!("member-{i:040}"),
            role: 1,
        })
        .collect();
    v.send(
        "usb-a",
        1,
        crew_status(pb::UnitStatus::AvailableAtBase, huge),
    )
    .await;
    let status = v.reply().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");

    // None of it changed the units.
    let unit = app.unit_state("usb-b").await;
    assert!(unit.position.is_none());
    assert!(app
        .store
        .track(&"usb-a".parse_unit())
        .await
        .unwrap()
        .is_empty());
    assert!(app
        .store
        .track(&"usb-b".parse_unit())
        .await
        .unwrap()
        .is_empty());

    // A stream that stops in the middle of a message.
    truncated_message(&app, &token_a).await;
    let mut v = app.vehicle(&token_a).await.unwrap();
    assert!(
        is_ack(
            &v.report("usb-a", 1, position(-19.92, -43.94)).await,
            Kind::Applied
        ),
        "seq 1 was never applied"
    );
    assert_eq!(
        app.store.track(&"usb-a".parse_unit()).await.unwrap().len(),
        1
    );
}

/// Opens a raw HTTP/2 stream, sends a gRPC frame that announces 200 bytes
/// but carries 20, and drops the connection.
async fn truncated_message(app: &TestApp, token: &str) {
    use prost::Message;
    let tcp = tokio::net::TcpStream::connect(app.grpc_url.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}/samu.v1.Telemetry/Stream", app.grpc_url))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let (_response, mut send) = client.send_request(request, false).unwrap();
    let report = pb::VehicleReport {
        seq: 1,
        unit_id: "usb-a".into(),
        body: Some(position(-19.92, -43.94)),
    };
    let encoded = report.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&200u32.to_be_bytes());
    frame.extend_from_slice(&encoded[..20.min(encoded.len())]);
    send.send_data(bytes::Bytes::from(frame), false).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(send);
    drop(client);
    driver.abort();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}

async fn resending_after_a_reconnect_stores_nothing_twice(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let token = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let base = chrono::Utc::now() - chrono::TimeDelta::minutes(10);
    // Twenty fixes 20 s apart along a street: every one is kept in the track.
    let reports: Vec<pb::VehicleReport> = (1..=20u64)
        .map(|seq| pb::VehicleReport {
            seq,
            unit_id: "usb-1".into(),
            body: Some(Body::Position(pb::Position {
                fix_time: Some(ts(base + chrono::TimeDelta::seconds(20 * seq as i64))),
                latitude: -19.92 - 0.0003 * seq as f64,
                longitude: -43.94,
                ..Default::default()
            })),
        })
        .collect();
    {
        let mut first = app.vehicle(&token).await.unwrap();
        for r in &reports {
            first.tx.send(r.clone()).await.unwrap();
        }
        // Read a few acknowledgements, then vanish without closing cleanly.
        for _ in 0..5 {
            first.reply().await.unwrap();
        }
    }
    let mut second = app.vehicle(&token).await.unwrap();
    for r in &reports {
        second.tx.send(r.clone()).await.unwrap();
    }
    let mut acked = std::collections::BTreeSet::new();
    while acked.len() < reports.len() {
        let reply = second.reply().await.unwrap();
        assert!(
            is_ack(&reply, Kind::Duplicate) || is_ack(&reply, Kind::Applied),
            "every resent report is acknowledged: {reply:?}"
        );
        acked.insert(reply.seq);
    }
    let track = app.store.track(&"usb-1".parse_unit()).await.unwrap();
    assert_eq!(track.len(), 20, "each fix stored exactly once");
    let seqs: Vec<u64> = track.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    let unit = app.unit_state("usb-1").await;
    assert!(
        (unit.position.unwrap().latitude - (-19.926)).abs() < 1e-9,
        "the newest fix wins"
    );
}

async fn fleet_queries_validate_their_input(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let mut fleet = app.fleet().await;
    let request = |point: Option<pb::GeoPoint>, types: Vec<i32>, limit: u32, central: &str| {
        authed(
            &app.wall_token,
            pb::NearestUnitsRequest {
                point,
                types,
                limit,
                central_id: central.into(),
            },
        )
    };
    let here = Some(pb::GeoPoint {
        latitude: -19.9,
        longitude: -43.9,
    });
    let usa = vec![pb::UnitType::Usa as i32];
    let cases = [
        (request(None, usa.clone(), 5, ""), "point"),
        (
            request(
                Some(pb::GeoPoint {
                    latitude: f64::NAN,
                    longitude: 0.0,
                }),
                usa.clone(),
                5,
                "",
            ),
            "point.latitude",
        ),
        (
            request(
                Some(pb::GeoPoint {
                    latitude: 0.0,
                    longitude: 200.0,
                }),
                usa.clone(),
                5,
                "",
            ),
            "point.longitude",
        ),
        (request(here, vec![], 5, ""), "types"),
        (request(here, vec![0], 5, ""), "types[0]"),
        (request(here, vec![99], 5, ""), "types[0]"),
        (request(here, usa.clone(), 51, ""), "limit"),
        (request(here, usa.clone(), 5, "123"), "central_id"),
    ];
    for (req, field) in cases {
        let status = fleet.nearest_units(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status}");
        assert!(status.message().starts_with(field), "{field}: {status}");
        let details = status.get_error_details();
        let violation = &details
            .bad_request()
            .expect("BadRequest details")
            .field_violations[0];
        assert_eq!(violation.field, field);
    }
    let status = fleet
        .get_unit(authed(
            &app.wall_token,
            pb::GetUnitRequest {
                unit_id: "nope".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = fleet
        .get_unit(authed(
            &app.wall_token,
            pb::GetUnitRequest {
                unit_id: "bad id".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

async fn roles_are_enforced(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let device = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let mut admin = app.admin().await;
    let status = admin
        .upsert_central(authed(
            &app.wall_token,
            pb::Central {
                id: BH.into(),
                name: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .fleet()
        .await
        .list_units(authed(
            &device,
            pb::ListUnitsRequest {
                central_id: BH.into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .fleet()
        .await
        .list_units(tonic::Request::new(pb::ListUnitsRequest {
            central_id: BH.into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Admin input is validated too.
    let status = admin
        .upsert_central(authed(
            &app.admin_token,
            pb::Central {
                id: BH.into(),
                name: "SAMU".into(),
                time_zone: "Mars/Olympus".into(),
                population: 1,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("time_zone"));
    let status = admin
        .issue_device_token(authed(
            &app.admin_token,
            pb::IssueDeviceTokenRequest {
                unit_id: "ghost".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // A revoked token stops working at once.
    let issued = admin
        .issue_access_token(authed(
            &app.admin_token,
            pb::IssueAccessTokenRequest {
                role: pb::Role::Manager.into(),
                label: "gestor".into(),
                ttl_s: 3600,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(issued.expires_at.is_some());
    let list = |token: String| {
        let app = &app;
        async move {
            app.fleet()
                .await
                .list_units(authed(
                    &token,
                    pb::ListUnitsRequest {
                        central_id: BH.into(),
                    },
                ))
                .await
        }
    };
    assert!(list(issued.token.clone()).await.is_ok());
    revoke(&app, issued.token_id).await;
    assert_eq!(
        list(issued.token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

async fn revoked_stream(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    app.add_unit("usa-1", pb::UnitType::Usa).await;
    let mut admin = app.admin().await;
    let issued = admin
        .issue_device_token(authed(
            &app.admin_token,
            pb::IssueDeviceTokenRequest {
                unit_id: "usa-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut vehicle = app.vehicle(&issued.token).await.unwrap();
    assert!(is_ack(
        &vehicle.report("usa-1", 1, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    let revoked_at = std::time::Instant::now();
    revoke(&app, issued.token_id).await;
    // The open stream ends by itself, without the app sending anything.
    let status = loop {
        match vehicle.reply().await {
            Ok(_) => continue,
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{status:?}");
    assert!(
        revoked_at.elapsed() < std::time::Duration::from_secs(8),
        "ended {:?} after the revocation",
        revoked_at.elapsed()
    );
    // And the token opens nothing any more.
    assert_eq!(
        app.vehicle(&issued.token).await.err().map(|s| s.code()),
        Some(Code::Unauthenticated)
    );
}

/// A device token past its expiry ends the stream it opened, on time, even
/// while the vehicle keeps reporting: its reports move the stream's silence
/// limit, never the token's expiry (one timer holds both).
async fn expiring_stream(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| c.runtime.credential_refresh_s = 1).await;
    app.seed_central().await;
    app.add_unit("usa-1", pb::UnitType::Usa).await;
    // The admin API issues device tokens without an expiry; the store
    // keeps one when it is given.
    let now = chrono::Utc::now();
    let expires_at = now + chrono::Duration::seconds(5);
    let unit = samu_domain::UnitId::parse("unit_id", "usa-1").unwrap();
    let issued = app
        .store
        .issue_credential(
            samu_store::Role::Device,
            Some(&unit),
            "device of usa-1, expiring",
            Some(expires_at),
            now,
        )
        .await
        .unwrap();
    // The next refresh of the credential cache brings it in.
    let mut vehicle = loop {
        match app.vehicle(&issued.token).await {
            Ok(vehicle) => break vehicle,
            Err(status) => {
                assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                assert!(chrono::Utc::now() < expires_at, "the token never worked");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let mut seq = 0;
    let status = loop {
        seq += 1;
        let report = pb::VehicleReport {
            seq,
            unit_id: "usa-1".into(),
            body: Some(position(-19.92 + 0.0001 * seq as f64, -43.94)),
        };
        // A stream already ended may refuse the report; its status says why.
        let _ = vehicle.tx.send(report).await;
        match vehicle.reply().await {
            Ok(reply) => assert!(is_ack(&reply, Kind::Applied), "{reply:?}"),
            Err(status) => break status,
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    let ended_at = chrono::Utc::now();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("expired"), "{status:?}");
    assert!(
        ended_at >= expires_at,
        "ended at {ended_at}, before {expires_at}"
    );
    assert!(
        ended_at - expires_at < chrono::Duration::seconds(3),
        "ended at {ended_at}, expiry {expires_at}"
    );
    assert!(seq > 3, "the vehicle reported only {seq} times");
}

/// Revokes a token through the admin API.
async fn revoke(app: &TestApp, token_id: String) {
    app.admin()
        .await
        .revoke_token(authed(
            &app.admin_token,
            pb::RevokeTokenRequest { token_id },
        ))
        .await
        .unwrap();
}
