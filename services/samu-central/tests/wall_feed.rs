//! The wall feed's guarantees: no field outside the allow-list ever (so no
//! patient or caller data), slow clients slow nobody, silent clients are
//! closed.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::*;
use futures::StreamExt;
use samu_proto::v1::{self as pb, ack::Kind};
use samu_testkit::TestBackend;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// Every key path a wall frame may carry. Anything else fails the test:
/// a field added to the feed must be added here, deliberately.
const ALLOWED: &[&str] = &[
    "type",
    "at",
    "units",
    "occurrences",
    "indicators",
    "units[].id",
    "units[].central",
    "units[].type",
    "units[].label",
    "units[].status",
    "units[].out_of_service_reason",
    "units[].lat",
    "units[].lon",
    "units[].heading",
    "units[].crew_complete",
    "units[].fix_at",
    "units[].updated_at",
    "occurrences[].id",
    "occurrences[].priority",
    "occurrences[].status",
    "occurrences[].opened_at",
    // Operational: the central's number for the call, its central, and the
    // ids of the units working it. Never who called, who is hurt, or where.
    "occurrences[].number",
    "occurrences[].central",
    "occurrences[].units",
    "indicators.*",
    "indicators.*.team",
    "indicators.*.team.on_duty",
    "indicators.*.team.minimum",
    "indicators.*.faltam",
];

fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                // Indicator keys are central ids and role names: generalise them.
                let key = if prefix == "indicators"
                    || prefix.ends_with(".on_duty")
                    || prefix.ends_with(".minimum")
                {
                    "*"
                } else {
                    k
                };
                let path = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_of_a_demo_run_stays_inside_the_allow_list() {
    let db = TestBackend::Sqlite.fresh().await;
    let dir = std::env::temp_dir().join(format!("samu-allow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = test_config(&db, &dir);
    config.demo.report_interval_ms = 200;
    config.demo.mean_idle_s = 2;
    config.demo.seed = Some(3);
    let app = samu_central::app::Application::build(config, true)
        .await
        .unwrap();
    let http = app.http_addr();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let tokens_path = dir.join("demo-tokens.json");
    let tokens: Value = eventually("tokens", || async {
        std::fs::read_to_string(&tokens_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    })
    .await;
    let (mut wall, _) = tokio_tungstenite::connect_async(format!(
        "ws://{http}/ws/wall?token={}",
        tokens["wall"].as_str().unwrap()
    ))
    .await
    .unwrap();
    let mut seen = BTreeSet::new();
    let (mut frames, mut deltas) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    while tokio::time::Instant::now() < deadline {
        let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(2), wall.next()).await
        else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        frames += 1;
        deltas += usize::from(frame["type"] == "delta");
        paths(&frame, "", &mut seen);
    }
    assert!(
        frames > 10 && deltas > 5,
        "the demo produced traffic ({frames} frames)"
    );
    let outside: Vec<_> = seen
        .iter()
        .filter(|p| !ALLOWED.contains(&p.as_str()))
        .collect();
    assert!(
        outside.is_empty(),
        "fields outside the allow-list: {outside:?}"
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_slows_neither_ingest_nor_other_walls() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| {
        c.runtime.feed_capacity = 16;
        c.http.wall.tick_ms = 10;
        c.http.wall.send_timeout_s = 1;
    })
    .await;
    app.seed_central().await;
    let token = app.add_unit("usb-1", pb::UnitType::Usb).await;
    // The stuck wall: connected, never reads again.
    let (_stuck, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        app.http_addr, app.wall_token
    ))
    .await
    .unwrap();
    let (mut live, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        app.http_addr, app.wall_token
    ))
    .await
    .unwrap();
    let mut v = app.vehicle(&token).await.unwrap();
    let base = chrono::Utc::now() - chrono::TimeDelta::minutes(20);
    let n = 500u64;
    for seq in 1..=n {
        v.send(
            "usb-1",
            seq,
            samu_proto::v1::vehicle_report::Body::Position(pb::Position {
                fix_time: Some(ts(base + chrono::TimeDelta::seconds(seq as i64))),
                latitude: -19.92 - 0.00002 * seq as f64,
                longitude: -43.94,
                ..Default::default()
            }),
        )
        .await;
    }
    let mut acked = 0;
    while acked < n {
        let reply = v.reply().await.unwrap();
        assert!(is_ack(&reply, Kind::Applied), "{reply:?}");
        acked += 1;
    }
    // The live wall sees the newest position, whatever the stuck one does.
    let last_lat = -19.92 - 0.00002 * n as f64;
    let mut latest = None;
    for _ in 0..2000 {
        let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(5), live.next()).await
        else {
            break;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if let Some(u) = frame["units"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["id"] == "usb-1"))
        {
            latest = u["lat"].as_f64();
            if latest.is_some_and(|lat| (lat - last_lat).abs() < 1e-9) {
                break;
            }
        }
    }
    assert!(
        latest.is_some_and(|lat| (lat - last_lat).abs() < 1e-9),
        "live wall ended at {latest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_answering_pings_is_closed() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| {
        c.http.wall.ping_s = 1;
        c.http.wall.idle_timeout_s = 2;
    })
    .await;
    let (mut wall, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        app.http_addr, app.wall_token
    ))
    .await
    .unwrap();
    let first = wall.next().await.unwrap().unwrap();
    assert!(matches!(first, Message::Text(_)), "the snapshot");
    // Silent for 4 s: the pings go unanswered (a client only answers when it reads).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut closed = false;
    for _ in 0..50 {
        match tokio::time::timeout(Duration::from_secs(5), wall.next()).await {
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                closed = true;
                break;
            }
            Ok(Some(Ok(_))) => continue,
            Err(_) => break,
        }
    }
    assert!(closed, "the server closed the silent client");
}

/// Snapshots encoded so far (`samu_wall_frames_encoded_total`), from `/metrics`.
async fn snapshots_encoded(app: &TestApp) -> u64 {
    let text = reqwest::get(format!("{}/metrics", app.http_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("samu_wall_frames_encoded_total{kind=\"snapshot\"} "))
        .map_or(0, |n| n.trim().parse::<f64>().unwrap() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walls_connecting_together_share_one_snapshot_encoding() {
    // A long tick, so every wall below asks within one or two of them.
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| c.http.wall.tick_ms = 2_000).await;
    app.seed_central().await;
    for i in 0..50 {
        app.add_unit(&format!("usb-{i:02}"), pb::UnitType::Usb)
            .await;
    }
    let before = snapshots_encoded(&app).await;
    let url = format!("ws://{}/ws/wall?token={}", app.http_addr, app.wall_token);
    let mut walls = futures::future::join_all(
        (0..20).map(|_| async { tokio_tungstenite::connect_async(&url).await.unwrap().0 }),
    )
    .await;
    for wall in &mut walls {
        let first = next_frame(wall).await;
        assert_eq!(first["type"], "snapshot");
        assert_eq!(first["units"].as_array().map(Vec::len), Some(50));
    }
    let encoded = snapshots_encoded(&app).await - before;
    assert!(
        (1..=2).contains(&encoded),
        "20 walls took their snapshot from {encoded} encodings"
    );
}
