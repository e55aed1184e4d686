//! Restarts, graceful shutdown, the no-signal watch, and the demo.

mod common;

use common::*;
use samu_proto::v1::{self as pb, ack::Kind};
use samu_testkit::{backend_tests, TestBackend};

backend_tests! {
    a_restart_restores_the_hot_state => a_restart_restores_the_hot_state;
    shutdown_flushes_every_acknowledged_report => shutdown_flushes_every_acknowledged_report;
    live_states_are_written_behind_the_reports => live_states_are_written_behind_the_reports;
    a_clean_stop_writes_the_live_states_still_behind => a_clean_stop_writes_the_live_states_still_behind;
    a_zero_flush_period_writes_live_states_with_each_report => a_zero_flush_period_writes_live_states_with_each_report;
    silent_units_go_to_no_signal_and_back => silent_units_go_to_no_signal_and_back;
    the_demo_seeds_69_units_and_drives_them_through_grpc => the_demo_seeds_69_units_and_drives_them_through_grpc;
}

async fn a_restart_restores_the_hot_state(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let token = app.add_unit("usa-1", pb::UnitType::Usa).await;
    let mut v = app.vehicle(&token).await.unwrap();
    assert!(is_ack(
        &v.report("usa-1", 1, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    assert!(is_ack(
        &v.report("usa-1", 2, available("usa-1", pb::UnitType::Usa))
            .await,
        Kind::Applied
    ));
    let before = app.unit_state("usa-1").await;
    drop(v);

    let app = app.restart().await;
    let after = app.unit_state("usa-1").await;
    assert_eq!(after.status, pb::UnitStatus::AvailableAtBase as i32);
    assert_eq!(after.position, before.position);
    assert_eq!(after.fix_time, before.fix_time);
    assert_eq!(after.status_since, before.status_since);
    assert!(after.crew_complete);
    assert_eq!(after.crew_roles, before.crew_roles);
    // The device token survives; sequence numbers already applied stay applied.
    let mut v = app.vehicle(&token).await.unwrap();
    assert!(is_ack(
        &v.report("usa-1", 2, available("usa-1", pb::UnitType::Usa))
            .await,
        Kind::Duplicate
    ));
    assert!(is_ack(
        &v.report("usa-1", 3, position(-19.9201, -43.94)).await,
        Kind::Applied
    ));
    // And it is offered for dispatch again.
    let nearest = app
        .fleet()
        .await
        .nearest_units(authed(
            &app.wall_token,
            nearest_request(-19.9, -43.9, &[pb::UnitType::Usa], 1, BH),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nearest.units.len(), 1);
    let history = app
        .store
        .status_history(&samu_domain::UnitId::parse("u", "usa-1").unwrap())
        .await
        .unwrap();
    let numbers: Vec<u64> = history.iter().map(|e| e.event_no).collect();
    assert_eq!(
        numbers,
        (1..=numbers.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat across the restart"
    );
}

/// A fix at `lat`, `seconds` after a minute ago: one a second apart, so
/// none is older than the one before however fast they go.
fn fix_after(lat: f64, seconds: i64) -> samu_proto::v1::vehicle_report::Body {
    let at = chrono::Utc::now() - chrono::TimeDelta::seconds(60 - seconds);
    samu_proto::v1::vehicle_report::Body::Position(pb::Position {
        fix_time: Some(ts(at)),
        latitude: lat,
        longitude: -43.94,
        accuracy_m: Some(5.0),
        ..Default::default()
    })
}

async fn live_states_are_written_behind_the_reports(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| c.runtime.live_state_flush_ms = 200).await;
    app.seed_central().await;
    let (_, mut v) = app.available_vehicle("usb-1", pb::UnitType::Usb).await;
    // A status change writes the live state with the report.
    let stored = app.stored_live_state("usb-1").await.unwrap();
    assert_eq!(stored.last_seq, 1);
    assert_eq!(
        stored.reported_status,
        samu_domain::UnitStatus::AvailableAtBase
    );
    // Plain fixes: acknowledged at once, the live state follows within the
    // flush period, once for all of them.
    for seq in 2..=6u64 {
        let reply = v
            .report(
                "usb-1",
                seq,
                fix_after(-19.92 - 0.0001 * seq as f64, seq as i64),
            )
            .await;
        assert!(is_ack(&reply, Kind::Applied), "{reply:?}");
    }
    let stored = eventually("the live state caught up", || async {
        app.stored_live_state("usb-1")
            .await
            .filter(|stored| stored.last_seq == 6)
    })
    .await;
    let fix = stored.fix.expect("a stored fix");
    assert!((fix.point.lat() - (-19.9206)).abs() < 1e-9, "{fix:?}");
    assert_eq!(
        stored.reported_status,
        samu_domain::UnitStatus::AvailableAtBase
    );
    assert_eq!(
        stored.crew.len(),
        full_crew("usb-1", pb::UnitType::Usb).len()
    );
}

async fn a_clean_stop_writes_the_live_states_still_behind(backend: TestBackend) {
    // A flush period longer than the test: only the stop can write them.
    let app = TestApp::spawn_with(backend, |c| c.runtime.live_state_flush_ms = 3_600_000).await;
    app.seed_central().await;
    let (token, mut v) = app.available_vehicle("usb-1", pb::UnitType::Usb).await;
    // The first fix brings the unit's signal back (a status change, written
    // with it); the second only moves it.
    for (seq, lat) in [(2, -19.95), (3, -19.9501)] {
        assert!(is_ack(
            &v.report("usb-1", seq, fix_after(lat, seq as i64)).await,
            Kind::Applied
        ));
    }
    assert_eq!(
        app.stored_live_state("usb-1").await.unwrap().last_seq,
        2,
        "not written with the plain fix"
    );
    let before = app.unit_state("usb-1").await;
    drop(v);

    let app = app.restart().await;
    let after = app.unit_state("usb-1").await;
    assert_eq!(
        after.position, before.position,
        "the last fix survives the restart"
    );
    assert_eq!(after.fix_time, before.fix_time);
    let mut v = app.vehicle(&token).await.unwrap();
    assert!(is_ack(
        &v.report("usb-1", 3, fix_after(-19.9501, 3)).await,
        Kind::Duplicate
    ));
}

async fn a_zero_flush_period_writes_live_states_with_each_report(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| c.runtime.live_state_flush_ms = 0).await;
    app.seed_central().await;
    let (_, mut v) = app.available_vehicle("usb-1", pb::UnitType::Usb).await;
    for seq in 2..=4u64 {
        assert!(is_ack(
            &v.report(
                "usb-1",
                seq,
                fix_after(-19.92 - 0.0001 * seq as f64, seq as i64)
            )
            .await,
            Kind::Applied
        ));
        let stored = app.stored_live_state("usb-1").await.unwrap();
        assert_eq!(stored.last_seq, seq, "stored before the acknowledgement");
    }
}

async fn shutdown_flushes_every_acknowledged_report(backend: TestBackend) {
    let mut app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let token = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let mut v = app.vehicle(&token).await.unwrap();
    let start = chrono::Utc::now() - chrono::TimeDelta::minutes(30);
    for seq in 1..=50u64 {
        let at = start + chrono::TimeDelta::seconds(30 * seq as i64);
        v.send(
            "usb-1",
            seq,
            samu_proto::v1::vehicle_report::Body::Position(pb::Position {
                fix_time: Some(ts(at)),
                latitude: -19.92 - 0.0005 * seq as f64,
                longitude: -43.94,
                ..Default::default()
            }),
        )
        .await;
    }
    // Stop while reports are still arriving; count what was acknowledged.
    let mut acked = std::collections::BTreeSet::new();
    for _ in 0..10 {
        acked.insert(v.reply().await.unwrap().seq);
    }
    app.stop().await;
    while let Ok(reply) = v.reply().await {
        acked.insert(reply.seq);
    }
    // The stopped server closed its store: read through a new connection.
    let store = samu_store::Store::connect(&app.db.url).await.unwrap();
    let stored: std::collections::BTreeSet<u64> = store
        .track(&samu_domain::UnitId::parse("u", "usb-1").unwrap())
        .await
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    assert!(acked.len() >= 10);
    assert!(
        acked.is_subset(&stored),
        "acknowledged {acked:?} but stored {stored:?}"
    );
}

async fn silent_units_go_to_no_signal_and_back(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| c.fleet.no_signal_after_s = 1).await;
    app.seed_central().await;
    let token = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let mut v = app.vehicle(&token).await.unwrap();
    assert!(is_ack(
        &v.report("usb-1", 1, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    assert!(is_ack(
        &v.report("usb-1", 2, available("usb-1", pb::UnitType::Usb))
            .await,
        Kind::Applied
    ));
    eventually("the unit loses its signal", || async {
        (app.unit_state("usb-1").await.status == pb::UnitStatus::NoSignal as i32).then_some(())
    })
    .await;
    let state = app.unit_state("usb-1").await;
    assert_eq!(state.apco_status, "UNKNOWN");
    let id = samu_domain::UnitId::parse("u", "usb-1").unwrap();
    let history = eventually("the no-signal event is stored", || {
        let (store, id) = (app.store.clone(), id.clone());
        async move {
            let events = store.status_history(&id).await.unwrap();
            events
                .iter()
                .any(|e| e.status == samu_domain::UnitStatus::NoSignal)
                .then_some(events)
        }
    })
    .await;
    assert_eq!(
        history.last().unwrap().status,
        samu_domain::UnitStatus::NoSignal
    );
    assert!(is_ack(
        &v.report("usb-1", 3, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    assert_eq!(
        app.unit_state("usb-1").await.status,
        pb::UnitStatus::AvailableAtBase as i32
    );
}

async fn the_demo_seeds_69_units_and_drives_them_through_grpc(backend: TestBackend) {
    let db = std::sync::Arc::new(backend.fresh().await);
    let dir = std::env::temp_dir().join(format!(
        "samu-demo-test-{}",
        std::process::id() as u128 * 1000 + backend as u128
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = test_config(&db, &dir);
    config.demo.report_interval_ms = 200;
    config.demo.seed = Some(7);
    let app = samu_central::app::Application::build(config, true)
        .await
        .unwrap();
    let http_addr = app.http_addr();
    let grpc_url = format!("http://{}", app.grpc_addr());
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());

    let tokens_path = dir.join("demo-tokens.json");
    let tokens: serde_json::Value = eventually("the tokens file", || async {
        std::fs::read_to_string(&tokens_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    })
    .await;
    for role in [
        "admin",
        "wall",
        "tarm",
        "physician",
        "radio_operator",
        "manager",
    ] {
        assert!(
            tokens[role]
                .as_str()
                .is_some_and(|t| t.starts_with("samu_")),
            "{role}"
        );
    }
    assert_eq!(tokens["devices"].as_object().unwrap().len(), 69);
    let wall = tokens["wall"].as_str().unwrap().to_owned();

    // Every unit reports through gRPC: all 69 get a position and a complete crew.
    let channel = tonic::transport::Channel::from_shared(grpc_url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let fleet = pb::fleet_client::FleetClient::new(channel);
    let centrals = [
        "3170107", "3167202", "3151800", "3148004", "3131703", "3131307", "3127701", "3118601",
        "3106705", "3106200",
    ];
    let reporting = eventually("all 69 units report", || {
        let (mut fleet, wall) = (fleet.clone(), wall.clone());
        async move {
            let mut units = Vec::new();
            for c in centrals {
                let list = fleet
                    .list_units(authed(
                        &wall,
                        pb::ListUnitsRequest {
                            central_id: c.into(),
                        },
                    ))
                    .await
                    .ok()?;
                units.extend(list.into_inner().units);
            }
            (units.len() == 69
                && units
                    .iter()
                    .all(|u| u.position.is_some() && u.status != pb::UnitStatus::NoSignal as i32))
            .then_some(units)
        }
    })
    .await;
    assert_eq!(
        reporting
            .iter()
            .filter(|u| u.r#type == pb::UnitType::Usa as i32)
            .count(),
        17
    );
    assert_eq!(
        reporting
            .iter()
            .filter(|u| u.central_id == "3106200")
            .count(),
        32
    );
    // The wall page is served, and its feed shows the 69 units.
    let page = reqwest::get(format!("http://{http_addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("SAMU 192"));
    shutdown.cancel();
    handle.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
