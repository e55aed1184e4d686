//! Two instances behind Redis: a wall on one sees units reporting to the other.

mod common;

use common::*;
use samu_proto::v1::{self as pb, ack::Kind};
use samu_testkit::TestBackend;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_on_one_instance_sees_units_reporting_to_the_other() {
    // Each test run gets its own channel on the shared throwaway Redis.
    let channel = test_channel();
    let with_redis = |c: &mut samu_central::config::Config| {
        c.redis_url = Some(samu_testkit::redis_url());
        c.fanout.channel = channel.clone();
    };
    let a = TestApp::spawn_with(TestBackend::Postgres, with_redis).await;
    let b = a.peer(with_redis).await;

    a.seed_central().await;
    let token = a.add_unit("usa-1", pb::UnitType::Usa).await;

    let (mut wall_b, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        b.http_addr, b.wall_token
    ))
    .await
    .unwrap();
    assert_eq!(next_frame(&mut wall_b).await["type"], "snapshot");
    // Let B's subscription settle before A publishes.
    eventually("B subscribed", || async {
        let metrics = reqwest::get(format!("{}/readyz", b.http_url)).await.ok()?;
        (metrics.status() == 200).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let mut v = a.vehicle(&token).await.unwrap();
    assert!(is_ack(
        &v.report("usa-1", 1, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    assert!(is_ack(
        &v.report("usa-1", 2, available("usa-1", pb::UnitType::Usa))
            .await,
        Kind::Applied
    ));

    let mut seen = None;
    for _ in 0..40 {
        let f = next_frame(&mut wall_b).await;
        if let Some(u) = f["units"].as_array().and_then(|units| {
            units
                .iter()
                .find(|u| u["id"] == "usa-1" && u["status"] == "available_at_base")
                .cloned()
        }) {
            seen = Some(u);
            break;
        }
    }
    let seen = seen.expect("the wall on B saw usa-1 become available");
    assert_eq!(seen["lat"], -19.92);
    assert_eq!(seen["crew_complete"], true);

    // A fresh snapshot on B has the unit's latest state too.
    let (mut fresh, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        b.http_addr, b.wall_token
    ))
    .await
    .unwrap();
    let snapshot = next_frame(&mut fresh).await;
    let unit = snapshot["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "usa-1")
        .cloned()
        .unwrap();
    assert_eq!(unit["status"], "available_at_base");
    assert_eq!(unit["updated_at"], seen["updated_at"]);

    let ready: Value = reqwest::get(format!("{}/readyz", b.http_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["redis"], "ok");
}
