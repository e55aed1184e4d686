//! The demo's central desks, end to end: a sped-up demo server, in process,
//! whose simulated regulation rooms log in as the demo users, open calls,
//! regulate them, dispatch the recommended unit through the real
//! `samu.v1.Regulation` API, and whose vehicles then drive to the scene and
//! report it. Read back as the demo's manager through `ListOccurrences`.

mod common;

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use common::*;
use samu_proto::v1::{
    self as pb, accounts_client::AccountsClient, regulation_client::RegulationClient,
};
use samu_testkit::TestBackend;
use serde_json::Value;

/// Steps that mean the unit got to the scene.
const REACHED: [pb::UnitStep; 5] = [
    pb::UnitStep::OnScene,
    pb::UnitStep::LeftScene,
    pb::UnitStep::AtDestination,
    pb::UnitStep::Free,
    pb::UnitStep::AtBase,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_desks_open_regulate_and_dispatch_calls_and_units_reach_the_scene() {
    samu_central::logging::init(samu_central::config::LogFormat::Pretty);
    let db = Arc::new(TestBackend::Sqlite.fresh().await);
    let dir = std::env::temp_dir().join(format!("samu-demo-desk-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = test_config(&db, &dir);
    // A demo day at thirty times speed, with scenes round the corner.
    config.demo.report_interval_ms = 250;
    config.demo.seed = Some(5);
    config.demo.time_scale = 30.0;
    config.demo.mean_call_interval_s = Some(4.0);
    config.demo.driving_speed_mps = 40.0;
    config.demo.max_scene_distance_m = 200.0;
    config.demo.out_of_service_chance = 0.0;
    config.demo.crew_change_chance = 0.0;
    let app = samu_central::app::Application::build(config, true)
        .await
        .expect("the demo server builds");
    let grpc_url = format!("http://{}", app.grpc_addr());
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    let started = Instant::now();

    let tokens_path = dir.join("demo-tokens.json");
    let tokens: Value = eventually("the tokens file with the demo users", || async {
        std::fs::read_to_string(&tokens_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .filter(|t| t["users"]["manager"]["password"].is_string())
    })
    .await;
    let manager = &tokens["users"]["manager"];
    let channel = tonic::transport::Channel::from_shared(grpc_url)
        .unwrap()
        .connect()
        .await
        .expect("the gRPC port");
    let login = AccountsClient::new(channel.clone())
        .login(pb::LoginRequest {
            username: manager["username"].as_str().unwrap().to_owned(),
            password: manager["password"].as_str().unwrap().to_owned(),
        })
        .await
        .expect("the demo manager logs in")
        .into_inner();
    assert_eq!(login.user.as_ref().unwrap().username, "gestor");
    let token = login.token;
    let mut regulation = RegulationClient::new(channel);

    // Within 30 s (usually well under 20): calls opened, regulated,
    // dispatched, and a unit on scene.
    let deadline = started + Duration::from_secs(30);
    let mut opened = BTreeSet::new();
    let (reached, regulated, dispatched) = loop {
        let list = regulation
            .list_occurrences(authed(&token, pb::ListOccurrencesRequest::default()))
            .await
            .expect("the manager lists the occurrences")
            .into_inner()
            .occurrences;
        for o in &list {
            opened.insert(o.central_id.clone());
        }
        let regulated = list
            .iter()
            .filter(|o| o.priority() != pb::Priority::Unspecified)
            .count();
        let dispatched = list
            .iter()
            .filter(|o| o.decision() == pb::Decision::Dispatch && !o.units.is_empty())
            .count();
        let found = list.into_iter().find(|o| {
            o.decision() == pb::Decision::Dispatch
                && o.units.iter().any(|u| REACHED.contains(&u.step()))
        });
        if let Some(found) = found {
            break (found, regulated, dispatched);
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s: calls at {} centrals, {regulated} regulated, {dispatched} with a unit \
             sent, none with a unit on scene",
            opened.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "a unit on scene after {:?}: calls at {} centrals, {regulated} regulated, {dispatched} \
         dispatched",
        started.elapsed(),
        opened.len()
    );
    assert_ne!(reached.priority(), pb::Priority::Unspecified);
    assert_ne!(reached.regulated_at, None);
    let unit = reached
        .units
        .iter()
        .find(|u| REACHED.contains(&u.step()))
        .unwrap();
    assert!(
        unit.unit_id
            .starts_with(&format!("{}-", reached.central_id)),
        "{} is one of the central's own units",
        unit.unit_id
    );

    // Its record: the TARM's call with demo data, the physician's
    // regulation, the operator's dispatch and the unit's steps.
    let detail = regulation
        .get_occurrence(authed(
            &token,
            pb::OccurrenceRef {
                occurrence_id: reached.id.clone(),
            },
        ))
        .await
        .expect("the manager reads the occurrence")
        .into_inner();
    let call = detail.call.unwrap();
    assert!(
        call.caller_phone.contains("90000-"),
        "{}",
        call.caller_phone
    );
    assert!(call.address.starts_with("Rua Exemplo"), "{}", call.address);
    assert!(call.location.is_some());
    let kinds: Vec<&str> = detail.timeline.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "call_received",
        "regulated",
        "unit_dispatched",
        "unit_progressed",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let by = |kind: &str| {
        detail
            .timeline
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.by.clone())
            .unwrap_or_default()
    };
    assert!(
        by("call_received").contains("TARM"),
        "{}",
        by("call_received")
    );
    assert!(by("regulated").contains("médico"), "{}", by("regulated"));
    assert!(
        by("unit_dispatched").contains("rádio"),
        "{}",
        by("unit_dispatched")
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), handle)
        .await
        .expect("the demo server stops within 20 s")
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
