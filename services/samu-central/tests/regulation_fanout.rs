//! Two instances behind Redis sharing one store: a unit streaming to one is
//! recommended and dispatched from the other, an occurrence taken on one
//! reaches the consoles and walls of the other, and the store keeps two
//! consoles on two instances from sending one unit to two occurrences; the
//! unit's status is written once, by the instance that holds its stream.

mod common;

use common::*;
use samu_proto::v1::{self as pb, regulation_client::RegulationClient};
use samu_store::Role;
use samu_testkit::TestBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_occurrence_taken_on_one_instance_is_seen_and_respected_on_the_other() {
    let channel = test_channel();
    let with_redis = |c: &mut samu_central::config::Config| {
        c.redis_url = Some(samu_testkit::redis_url());
        c.fanout.channel = channel.clone();
    };
    let a = TestApp::spawn_with(TestBackend::Postgres, with_redis).await;
    let b = a.peer(with_redis).await;
    a.seed_central().await;
    // Registered on A after B started, and streaming to A: B learns the unit
    // from A's views, so its recommendation and dispatch checks see it.
    let token = a.add_unit("bh-usa-01", pb::UnitType::Usa).await;
    let mut vehicle = a.vehicle(&token).await.unwrap();
    vehicle
        .report("bh-usa-01", 1, position(-19.9230, -43.9380))
        .await;
    vehicle
        .report("bh-usa-01", 2, available("bh-usa-01", pb::UnitType::Usa))
        .await;
    eventually("B knows A's unit as available", || async {
        let state = b
            .fleet()
            .await
            .get_unit(authed(
                &b.wall_token,
                pb::GetUnitRequest {
                    unit_id: "bh-usa-01".into(),
                },
            ))
            .await
            .ok()?
            .into_inner();
        (state.status == i32::from(pb::UnitStatus::AvailableAtBase)).then_some(())
    })
    .await;

    let tarm = a.login_as(Role::Tarm, "tarm.a").await;
    let physician = a.login_as(Role::Physician, "medico.a").await;
    let radio_a = a.login_as(Role::RadioOperator, "radio.a").await;
    // Sessions made on A are known to B after its credential refresh.
    let radio_b = radio_a.clone();
    let (mut console_b, _) = eventually("B accepts A's session", || async {
        tokio_tungstenite::connect_async(format!(
            "ws://{}/ws/console?central={BH}&token={physician}",
            b.http_addr
        ))
        .await
        .ok()
    })
    .await;
    assert_eq!(next_frame(&mut console_b).await["type"], "snapshot");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let mut rpc_a = RegulationClient::new(a.channel().await);
    let mut rpc_b = RegulationClient::new(b.channel().await);
    let open = |token: &str| {
        authed(
            token,
            pb::OpenOccurrenceRequest {
                central_id: BH.into(),
                call: Some(pb::CallRecord {
                    caller_phone: "31 3000-0000".into(),
                    address: "Rua D, 4".into(),
                    municipality: BH.into(),
                    complaint: "dispneia".into(),
                    nature: pb::Nature::Clinical.into(),
                    location: Some(pb::GeoPoint {
                        latitude: -19.93,
                        longitude: -43.94,
                    }),
                    ..Default::default()
                }),
                received_at: None,
            },
        )
    };
    let first = rpc_a
        .open_occurrence(open(&tarm))
        .await
        .unwrap()
        .into_inner()
        .summary
        .unwrap()
        .id;
    let frame = next_frame(&mut console_b).await;
    assert_eq!(frame["type"], "occurrence");
    assert_eq!(
        frame["occurrence"]["id"],
        first.as_str(),
        "B's console sees A's call"
    );
    // A wall connecting to B now has it in its snapshot.
    let (mut wall_b, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        b.http_addr, b.wall_token
    ))
    .await
    .unwrap();
    let snapshot = next_frame(&mut wall_b).await;
    assert!(
        snapshot["occurrences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == first.as_str()),
        "{snapshot}"
    );

    let second = rpc_a
        .open_occurrence(open(&tarm))
        .await
        .unwrap()
        .into_inner()
        .summary
        .unwrap()
        .id;
    for id in [&first, &second] {
        rpc_a
            .regulate(authed(
                &physician,
                pb::RegulateRequest {
                    occurrence_id: id.clone(),
                    priority: pb::Priority::Vermelho.into(),
                    decision: pb::Decision::Dispatch.into(),
                    unit_types: vec![pb::UnitType::Usa.into()],
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
    }
    // Both instances try to send the one USA at the same time, to different
    // occurrences: exactly one wins.
    let dispatch = |id: &str, token: &str| {
        authed(
            token,
            pb::DispatchRequest {
                occurrence_id: id.into(),
                unit_id: "bh-usa-01".into(),
                reason: "corrida de teste".into(),
                at: None,
            },
        )
    };
    let (ra, rb) = tokio::join!(
        rpc_a.dispatch(dispatch(&first, &radio_a)),
        rpc_b.dispatch(dispatch(&second, &radio_b))
    );
    assert!(
        ra.is_ok() != rb.is_ok(),
        "exactly one dispatch wins: {ra:?} / {rb:?}"
    );
    let loser = ra.err().or(rb.err()).unwrap();
    assert_eq!(loser.code(), tonic::Code::FailedPrecondition, "{loser:?}");
    let engaged = a.store.engaged_units().await.unwrap();
    assert_eq!(engaged.len(), 1);
    // Whichever instance won, the unit's own instance (A) applied and wrote
    // the status, once, and both instances show it.
    for app in [&a, &b] {
        eventually("the unit shows dispatched", || async {
            let state = app
                .fleet()
                .await
                .get_unit(authed(
                    &app.wall_token,
                    pb::GetUnitRequest {
                        unit_id: "bh-usa-01".into(),
                    },
                ))
                .await
                .ok()?
                .into_inner();
            (state.status == i32::from(pb::UnitStatus::Dispatched)).then_some(())
        })
        .await;
    }
    let unit = samu_domain::UnitId::parse("unit", "bh-usa-01").unwrap();
    let history = eventually("the dispatch is stored", || async {
        let h = a.store.status_history(&unit).await.ok()?;
        h.iter()
            .any(|c| c.status == samu_domain::UnitStatus::Dispatched)
            .then_some(h)
    })
    .await;
    let numbers: Vec<u64> = history.iter().map(|c| c.event_no).collect();
    assert_eq!(
        numbers,
        (1..=numbers.len() as u64).collect::<Vec<_>>(),
        "one history, no gaps or doubles"
    );
    assert_eq!(
        history
            .iter()
            .filter(|c| c.status == samu_domain::UnitStatus::Dispatched)
            .count(),
        1
    );
}
