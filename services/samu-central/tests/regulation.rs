//! Regulation end to end on the real server: a call from intake to closed
//! over the HTTP JSON facade and gRPC, the recommendation, the unit's status
//! following the occurrence onto the wall, refused steps with clear errors,
//! response-time figures against a hand-computed fixture (the same numbers
//! in the monthly report), and the LGPD audit trail.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::*;
use samu_proto::v1::{self as pb, regulation_client::RegulationClient};
use samu_store::Role;
use samu_testkit::{backend_tests, TestBackend};
use serde_json::{json, Value};
use tonic::{transport::Channel, Code};

backend_tests! {
    a_call_goes_from_intake_to_closed_and_the_unit_follows => call_to_closed;
    refused_steps_get_clear_errors_and_change_nothing => refused_steps;
    response_times_match_a_hand_computed_fixture => response_times;
    every_access_to_personal_data_is_audited_and_never_reaches_the_wall => audit_trail;
    response_targets_are_settings_of_the_central => targets;
    personal_data_is_erased_after_retention_and_exported_on_request => retention;
    a_command_repeated_with_its_idempotency_key_is_recorded_once => idempotent;
}

/// Where the emergency is: Praça da Liberdade.
const SCENE: (f64, f64) = (-19.9320, -43.9380);
/// Made-up personal data; tests look for it where it must never be.
const PHONE: &str = "(31) 98888-7777";
const PATIENT: &str = "Joana Exemplo";

/// The desk: a logged-in user per console role.
struct Desk {
    tarm: String,
    physician: String,
    radio: String,
    manager: String,
}

async fn desk(app: &TestApp) -> Desk {
    Desk {
        tarm: app.login_as(Role::Tarm, "ana.tarm").await,
        physician: app.login_as(Role::Physician, "bruno.medico").await,
        radio: app.login_as(Role::RadioOperator, "carla.radio").await,
        manager: app.login_as(Role::Manager, "davi.gestor").await,
    }
}

/// A unit at a point, available with its full crew.
async fn ready_unit(
    app: &TestApp,
    id: &str,
    unit_type: pb::UnitType,
    lat: f64,
    lon: f64,
) -> Vehicle {
    let token = app.add_unit(id, unit_type).await;
    let mut vehicle = app.vehicle(&token).await.expect("stream");
    vehicle.report(id, 1, position(lat, lon)).await;
    vehicle.report(id, 2, available(id, unit_type)).await;
    vehicle
}

async fn regulation(app: &TestApp) -> RegulationClient<Channel> {
    RegulationClient::new(app.channel().await)
}

/// A JSON call to the HTTP facade: (status, body).
async fn api(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", app.http_url);
    let mut request = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        _ => unreachable!(),
    }
    .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("HTTP answer");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn call_body() -> Value {
    json!({
        "central": BH, "caller_phone": PHONE, "caller_name": "Maria Exemplo",
        "address": "Praça da Liberdade, s/n", "reference_point": "em frente ao palácio",
        "complaint": "dor no peito há 20 minutos", "nature": "clinico",
        "patient_name": PATIENT, "patient_age": 61,
        "location": {"lat": SCENE.0, "lon": SCENE.1}
    })
}

async fn call_to_closed(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let desk = desk(&app).await;
    // Two USAs: the near one 1 km away, the far one 10 km away.
    let _near = ready_unit(&app, "bh-usa-01", pb::UnitType::Usa, -19.9230, -43.9380).await;
    let _far = ready_unit(&app, "bh-usa-02", pb::UnitType::Usa, -19.8420, -43.9380).await;
    let (mut wall, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        app.http_addr, app.wall_token
    ))
    .await
    .expect("wall connects");
    assert_eq!(next_frame(&mut wall).await["type"], "snapshot");

    let (status, opened) = api(
        &app,
        "POST",
        "/api/v1/occurrences",
        &desk.tarm,
        Some(call_body()),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["summary"]["id"].as_str().unwrap().to_owned();
    assert_eq!(opened["summary"]["status"], "awaiting_regulation");
    assert_eq!(opened["summary"]["number"], 1);
    assert_eq!(opened["call"]["caller_phone"], PHONE);

    let (_, queue) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences?central={BH}"),
        &desk.physician,
        None,
    )
    .await;
    assert_eq!(queue["occurrences"][0]["id"], id.as_str());
    assert!(
        !queue.to_string().contains(PHONE),
        "summaries carry no personal data"
    );

    let (status, regulated) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/regulation"),
        &desk.physician,
        Some(json!({"priority": "vermelho", "decision": "dispatch", "unit_types": ["USA"]})),
    )
    .await;
    assert_eq!(status, 200, "{regulated}");
    assert_eq!(regulated["summary"]["status"], "awaiting_dispatch");
    assert_eq!(regulated["summary"]["target_min"], 10);

    let (status, recommended) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}/recommendation"),
        &desk.radio,
        None,
    )
    .await;
    assert_eq!(status, 200, "{recommended}");
    let usas = &recommended["candidates"][0]["units"];
    assert_eq!(
        usas[0]["unit"], "bh-usa-01",
        "the nearest first: {recommended}"
    );
    assert_eq!(usas[1]["unit"], "bh-usa-02");
    let km = usas[0]["distance_m"].as_f64().unwrap() / 1000.0;
    assert!((0.9..1.1).contains(&km), "about 1 km: {km}");
    assert!(usas[0]["eta_s"].as_f64().unwrap() > 0.0);

    let (status, dispatched) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/dispatch"),
        &desk.radio,
        Some(json!({"unit": "bh-usa-01"})),
    )
    .await;
    assert_eq!(status, 200, "{dispatched}");
    assert_eq!(dispatched["summary"]["status"], "in_progress");
    assert_eq!(
        app.unit_state("bh-usa-01").await.status,
        i32::from(pb::UnitStatus::Dispatched),
        "the unit's status follows the occurrence"
    );
    // The wall sees the occurrence and the dispatched unit.
    let mut seen_occurrence = false;
    let mut seen_unit = false;
    for _ in 0..40 {
        let frame = next_frame(&mut wall).await;
        assert!(!frame.to_string().contains(PHONE) && !frame.to_string().contains(PATIENT));
        for o in frame["occurrences"].as_array().into_iter().flatten() {
            if o["id"] == id.as_str() && o["priority"] == "vermelho" {
                seen_occurrence = true;
            }
        }
        for u in frame["units"].as_array().into_iter().flatten() {
            if u["id"] == "bh-usa-01" && u["status"] == "dispatched" {
                seen_unit = true;
            }
        }
        if seen_occurrence && seen_unit {
            break;
        }
    }
    assert!(
        seen_occurrence && seen_unit,
        "the wall shows the occurrence and the unit"
    );

    let step = |step: &'static str, extra: Value| {
        let mut body = json!({"step": step});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for (name, extra, unit_status) in [
        ("en_route", json!({}), pb::UnitStatus::EnRoute),
        ("on_scene", json!({}), pb::UnitStatus::OnScene),
        ("left_scene", json!({}), pb::UnitStatus::Transporting),
        (
            "at_destination",
            json!({"destination_cnes": "0027014"}),
            pb::UnitStatus::AtDestination,
        ),
        ("free", json!({}), pb::UnitStatus::AvailableOnTheMove),
    ] {
        let (status, answer) = api(
            &app,
            "POST",
            &format!("/api/v1/occurrences/{id}/units/bh-usa-01/steps"),
            &desk.radio,
            Some(step(name, extra)),
        )
        .await;
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(
            app.unit_state("bh-usa-01").await.status,
            i32::from(unit_status),
            "{name}"
        );
    }
    let (status, closed) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/close"),
        &desk.physician,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["summary"]["status"], "closed");
    // The way home after closing.
    let (status, _) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/units/bh-usa-01/steps"),
        &desk.radio,
        Some(json!({"step": "at_base"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.unit_state("bh-usa-01").await.status,
        i32::from(pb::UnitStatus::AvailableAtBase)
    );

    // The same occurrence read over gRPC: the whole timeline, in order.
    let detail = regulation(&app)
        .await
        .get_occurrence(authed(
            &desk.manager,
            pb::OccurrenceRef {
                occurrence_id: id.clone(),
            },
        ))
        .await
        .expect("manager reads it")
        .into_inner();
    let kinds: Vec<&str> = detail.timeline.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "call_received",
            "regulated",
            "unit_dispatched",
            "unit_progressed",
            "unit_progressed",
            "unit_progressed",
            "unit_progressed",
            "unit_progressed",
            "closed",
            "unit_progressed"
        ]
    );
    assert_eq!(
        detail.summary.unwrap().status,
        i32::from(pb::OccurrenceStatus::Closed)
    );

    // A restart keeps everything; the closed occurrence is off the wall.
    let app = app.restart().await;
    let detail = regulation(&app)
        .await
        .get_occurrence(authed(
            &desk.manager,
            pb::OccurrenceRef {
                occurrence_id: id.clone(),
            },
        ))
        .await
        .expect("still there after a restart")
        .into_inner();
    assert_eq!(detail.timeline.len(), 10);
    assert!(app.central.wall_occurrences(None).is_empty());
}

async fn refused_steps(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let desk = desk(&app).await;
    let _usa1 = ready_unit(&app, "bh-usa-01", pb::UnitType::Usa, -19.9230, -43.9380).await;
    let _usa2 = ready_unit(&app, "bh-usa-02", pb::UnitType::Usa, -19.8420, -43.9380).await;
    let mut rpc = regulation(&app).await;
    let open = |token: &str| {
        authed(
            token,
            pb::OpenOccurrenceRequest {
                central_id: BH.into(),
                call: Some(pb::CallRecord {
                    caller_phone: PHONE.into(),
                    address: "Rua A, 1".into(),
                    municipality: BH.into(),
                    complaint: "queda".into(),
                    nature: pb::Nature::Trauma.into(),
                    location: Some(pb::GeoPoint {
                        latitude: SCENE.0,
                        longitude: SCENE.1,
                    }),
                    ..Default::default()
                }),
                received_at: None,
            },
        )
    };
    let first = rpc
        .open_occurrence(open(&desk.tarm))
        .await
        .unwrap()
        .into_inner();
    let id = first.summary.unwrap().id;
    let dispatch = |unit: &str, reason: &str| {
        authed(
            &desk.radio,
            pb::DispatchRequest {
                occurrence_id: id.clone(),
                unit_id: unit.into(),
                reason: reason.into(),
                at: None,
            },
        )
    };
    let expect = |result: Result<tonic::Response<pb::OccurrenceDetail>, tonic::Status>,
                  code: Code,
                  words: &str| {
        let status = result.expect_err("refused");
        assert_eq!(status.code(), code, "{status:?}");
        assert!(
            status.message().contains(words),
            "{:?} should say {words:?}",
            status.message()
        );
    };
    expect(
        rpc.dispatch(dispatch("bh-usa-01", "")).await,
        Code::FailedPrecondition,
        "not regulated",
    );
    let regulate = |decision: pb::Decision, types: Vec<i32>| {
        authed(
            &desk.physician,
            pb::RegulateRequest {
                occurrence_id: id.clone(),
                priority: pb::Priority::Vermelho.into(),
                decision: decision.into(),
                unit_types: types,
                note: String::new(),
                at: None,
            },
        )
    };
    expect(
        rpc.regulate(regulate(
            pb::Decision::Orientation,
            vec![pb::UnitType::Usa.into()],
        ))
        .await,
        Code::InvalidArgument,
        "unit_types",
    );
    expect(
        rpc.regulate(regulate(pb::Decision::Unspecified, vec![]))
            .await,
        Code::InvalidArgument,
        "decision",
    );
    rpc.regulate(regulate(
        pb::Decision::Dispatch,
        vec![pb::UnitType::Usa.into()],
    ))
    .await
    .expect("regulated");
    // The far unit, without saying why: refused, naming the recommended one.
    expect(
        rpc.dispatch(dispatch("bh-usa-02", "")).await,
        Code::InvalidArgument,
        "bh-usa-01",
    );
    expect(
        rpc.dispatch(dispatch("bh-nope", "")).await,
        Code::NotFound,
        "bh-nope",
    );
    // With a reason the operator's choice stands, and is recorded.
    let sent = rpc
        .dispatch(dispatch(
            "bh-usa-02",
            "USA 01 com pneu furado, avisou pelo rádio",
        ))
        .await
        .expect("dispatched with a reason")
        .into_inner();
    assert!(sent.timeline[2].event_json.contains("pneu furado"));
    // One unit, one occurrence at a time.
    let second = rpc
        .open_occurrence(open(&desk.tarm))
        .await
        .unwrap()
        .into_inner();
    let second_id = second.summary.unwrap().id;
    rpc.regulate(authed(
        &desk.physician,
        pb::RegulateRequest {
            occurrence_id: second_id.clone(),
            priority: pb::Priority::Amarelo.into(),
            decision: pb::Decision::Dispatch.into(),
            unit_types: vec![pb::UnitType::Usa.into()],
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    let busy = rpc
        .dispatch(authed(
            &desk.radio,
            pb::DispatchRequest {
                occurrence_id: second_id.clone(),
                unit_id: "bh-usa-02".into(),
                reason: "teste".into(),
                at: None,
            },
        ))
        .await;
    expect(busy, Code::FailedPrecondition, "bh-usa-02");
    let close = |note: &str| {
        authed(
            &desk.physician,
            pb::CloseOccurrenceRequest {
                occurrence_id: id.clone(),
                note: note.into(),
                at: None,
            },
        )
    };
    expect(
        rpc.close_occurrence(close("")).await,
        Code::FailedPrecondition,
        "still",
    );
    let step = |step: pb::UnitStep, cnes: &str, at: Option<prost_types::Timestamp>| {
        authed(
            &desk.radio,
            pb::UnitStepRequest {
                occurrence_id: id.clone(),
                unit_id: "bh-usa-02".into(),
                step: step.into(),
                destination_cnes: cnes.into(),
                note: String::new(),
                at,
            },
        )
    };
    expect(
        rpc.record_unit_step(step(pb::UnitStep::AtBase, "", None))
            .await,
        Code::FailedPrecondition,
        "freed",
    );
    expect(
        rpc.record_unit_step(step(pb::UnitStep::Free, "", None))
            .await,
        Code::FailedPrecondition,
        "cancel",
    );
    expect(
        rpc.record_unit_step(step(
            pb::UnitStep::OnScene,
            "",
            Some(ts(Utc::now() + TimeDelta::hours(1))),
        ))
        .await,
        Code::InvalidArgument,
        "future",
    );
    expect(
        rpc.record_unit_step(step(pb::UnitStep::OnScene, "12", None))
            .await,
        Code::InvalidArgument,
        "CNES",
    );
    expect(
        rpc.get_occurrence(authed(
            &desk.radio,
            pb::OccurrenceRef {
                occurrence_id: "no/such".into(),
            },
        ))
        .await,
        Code::InvalidArgument,
        "occurrence_id",
    );
    expect(
        rpc.get_occurrence(authed(
            &desk.radio,
            pb::OccurrenceRef {
                occurrence_id: "nope".into(),
            },
        ))
        .await,
        Code::NotFound,
        "nope",
    );
    // Nothing refused was stored: call, regulation, dispatch.
    let detail = rpc
        .get_occurrence(authed(
            &desk.radio,
            pb::OccurrenceRef {
                occurrence_id: id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(detail.timeline.len(), 3);

    // The HTTP facade answers bad input with JSON naming the field.
    let (status, body) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/regulation"),
        &desk.physician,
        Some(json!({"priority": "roxo", "decision": "dispatch", "unit_types": ["USA"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "priority");
    assert_eq!(body["code"], "invalid_argument");
    let (status, body) = api(
        &app,
        "POST",
        "/api/v1/occurrences",
        &desk.tarm,
        Some(json!({"central": BH})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "caller_phone");
    let (status, body) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/close"),
        &desk.physician,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/regulation"),
        &desk.tarm,
        Some(json!({"priority": "verde", "decision": "orientation"})),
    )
    .await;
    assert_eq!(status, 403, "only a physician regulates");
    let (status, _) = api(&app, "GET", "/api/v1/occurrences", "samu_wrong", None).await;
    assert_eq!(status, 401);
}

async fn response_times(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let desk = desk(&app).await;
    let mut rpc = regulation(&app).await;
    // Three vermelho calls, received 3 hours ago (within today in São Paulo or
    // yesterday: the query below covers both), with times given explicitly:
    //   call → regulation: 60, 90, 150 s   → mean 100 s, p90 (rank 3) 150 s
    //   regulation → dispatch: 30, 30, 60 s → mean 40 s,  p90 60 s
    //   dispatch → scene: 480, 600, 900 s   → mean 660 s, p90 900 s
    //   call → scene: 570, 720, 1110 s      → mean 800 s, p90 1110 s
    let base = samu_domain::time::to_millis(Utc::now() - TimeDelta::hours(3));
    let units = ["bh-usa-01", "bh-usa-02", "bh-usa-03"];
    let mut vehicles = Vec::new();
    for u in units {
        vehicles.push(ready_unit(&app, u, pb::UnitType::Usa, -19.9230, -43.9380).await);
    }
    let plan = [(60, 30, 480), (90, 30, 600), (150, 60, 900)];
    for (i, (reg, disp, scene)) in plan.into_iter().enumerate() {
        let t0 = base + TimeDelta::minutes(30 * i as i64);
        let at = |s: i64| Some(ts(t0 + TimeDelta::seconds(s)));
        let opened = rpc
            .open_occurrence(authed(
                &desk.tarm,
                pb::OpenOccurrenceRequest {
                    central_id: BH.into(),
                    call: Some(pb::CallRecord {
                        caller_phone: PHONE.into(),
                        address: "Rua B, 2".into(),
                        municipality: BH.into(),
                        complaint: "mal súbito".into(),
                        nature: pb::Nature::Clinical.into(),
                        location: Some(pb::GeoPoint {
                            latitude: SCENE.0,
                            longitude: SCENE.1,
                        }),
                        ..Default::default()
                    }),
                    received_at: at(0),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let id = opened.summary.unwrap().id;
        rpc.regulate(authed(
            &desk.physician,
            pb::RegulateRequest {
                occurrence_id: id.clone(),
                priority: pb::Priority::Vermelho.into(),
                decision: pb::Decision::Dispatch.into(),
                unit_types: vec![pb::UnitType::Usa.into()],
                note: String::new(),
                at: at(reg),
            },
        ))
        .await
        .unwrap();
        rpc.dispatch(authed(
            &desk.radio,
            pb::DispatchRequest {
                occurrence_id: id.clone(),
                unit_id: units[i].into(),
                reason: "escolha do teste".into(),
                at: at(reg + disp),
            },
        ))
        .await
        .unwrap();
        rpc.record_unit_step(authed(
            &desk.radio,
            pb::UnitStepRequest {
                occurrence_id: id.clone(),
                unit_id: units[i].into(),
                step: pb::UnitStep::OnScene.into(),
                at: at(reg + disp + scene),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    }
    // A prank in the same period counts for nothing.
    let prank = rpc
        .open_occurrence(authed(
            &desk.tarm,
            pb::OpenOccurrenceRequest {
                central_id: BH.into(),
                call: Some(pb::CallRecord {
                    caller_phone: "190".into(),
                    address: "?".into(),
                    municipality: BH.into(),
                    complaint: "trote".into(),
                    nature: pb::Nature::Other.into(),
                    ..Default::default()
                }),
                received_at: Some(ts(base)),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    rpc.mark_non_case(authed(
        &desk.tarm,
        pb::MarkNonCaseRequest {
            occurrence_id: prank.summary.unwrap().id,
            reason: pb::NonCaseReason::Prank.into(),
            note: String::new(),
        },
    ))
    .await
    .unwrap();

    let from = Utc::now() - TimeDelta::days(1);
    let to = Utc::now() + TimeDelta::minutes(1);
    let figures = rpc
        .response_times(authed(
            &desk.manager,
            pb::ResponseTimesRequest {
                central_id: BH.into(),
                from: Some(ts(from)),
                to: Some(ts(to)),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .priorities;
    assert_eq!(figures.len(), 1);
    let red = &figures[0];
    assert_eq!(red.priority, i32::from(pb::Priority::Vermelho));
    assert_eq!(red.occurrences, 3);
    let check = |f: &Option<pb::TimeFigure>, mean: f64, p90: f64| {
        let f = f.as_ref().expect("measured");
        assert_eq!((f.count, f.mean_s, f.p90_s), (3, mean, p90));
    };
    check(&red.call_to_regulation, 100.0, 150.0);
    check(&red.regulation_to_dispatch, 40.0, 60.0);
    check(&red.dispatch_to_scene, 660.0, 900.0);
    check(&red.call_to_scene, 800.0, 1110.0);
    // The JSON facade gives the same numbers.
    let (status, body) = api(
        &app,
        "GET",
        &format!(
            "/api/v1/centrals/{BH}/response-times?from={}&to={}",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        &desk.manager,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["priorities"][0]["call_to_scene"]["mean_s"], 800.0);
    // And so does the monthly report of the month the calls fall in.
    let month = samu_domain::time::to_millis(base)
        .with_timezone(&chrono_tz::America::Sao_Paulo)
        .format("%Y-%m")
        .to_string();
    let csv = reqwest::Client::new()
        .get(format!("{}/api/reports/{BH}/{month}.csv", app.http_url))
        .bearer_auth(&desk.manager)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = csv
        .lines()
        .find(|l| l.contains("tempo_resposta") && l.contains("chamada_local"))
        .unwrap_or_else(|| panic!("no call-to-scene row in:\n{csv}"));
    assert!(line.contains("vermelho") && line.contains("800"), "{line}");
    drop(vehicles);
}

async fn audit_trail(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let desk = desk(&app).await;
    let _usa = ready_unit(&app, "bh-usa-01", pb::UnitType::Usa, -19.9230, -43.9380).await;
    let (mut wall, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        app.http_addr, app.wall_token
    ))
    .await
    .expect("wall connects");
    let (status, opened) = api(
        &app,
        "POST",
        "/api/v1/occurrences",
        &desk.tarm,
        Some(call_body()),
    )
    .await;
    assert_eq!(status, 201);
    let id = opened["summary"]["id"].as_str().unwrap().to_owned();
    let (status, _) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}"),
        &desk.physician,
        None,
    )
    .await;
    assert_eq!(status, 200);
    api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/regulation"),
        &desk.physician,
        Some(json!({"priority": "amarelo", "decision": "dispatch", "unit_types": ["USA"]})),
    )
    .await;
    // The wall may not read personal data; neither the audit trail.
    let (status, _) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}"),
        &app.wall_token,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}/audit"),
        &desk.tarm,
        None,
    )
    .await;
    assert_eq!(status, 403);

    let (status, trail) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}/audit"),
        &desk.manager,
        None,
    )
    .await;
    assert_eq!(status, 200, "{trail}");
    let records = trail["records"].as_array().unwrap();
    let summary: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("call_received".to_owned(), "tarm".to_owned()),
            ("read".to_owned(), "physician".to_owned()),
            ("regulated".to_owned(), "physician".to_owned()),
        ]
    );
    for r in records {
        assert!(
            r["from"]
                .as_str()
                .is_some_and(|f| f.starts_with("127.0.0.1:")),
            "from where: {r}"
        );
        assert!(
            r["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "caller_phone"),
            "{r}"
        );
        assert!(r["actor"].as_str().unwrap().ends_with("(teste)"));
    }
    // No call changes the trail: the store has no update or delete for it,
    // and the manager reading it twice sees the same records.
    let (_, again) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}/audit"),
        &desk.manager,
        None,
    )
    .await;
    assert_eq!(again["records"], trail["records"]);

    // Nothing personal reached the wall in all this.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        let Ok(frame) =
            tokio::time::timeout(Duration::from_millis(500), next_frame(&mut wall)).await
        else {
            break;
        };
        let text = frame.to_string();
        for secret in [
            PHONE,
            PATIENT,
            "Maria Exemplo",
            "Praça da Liberdade",
            "dor no peito",
        ] {
            assert!(!text.contains(secret), "{secret} on the wall: {text}");
        }
    }
}

async fn targets(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let desk = desk(&app).await;
    let mut admin = app.admin().await;
    let central = |targets: Option<&str>| {
        authed(
            &app.admin_token,
            pb::Central {
                id: BH.into(),
                name: "SAMU BH".into(),
                population: 2_523_794,
                response_targets_json: targets.map(str::to_owned),
                ..Default::default()
            },
        )
    };
    let refused = admin
        .upsert_central(central(Some(
            r#"{"vermelho": 0, "amarelo": 30, "verde": 60, "azul": 120}"#,
        )))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("response_targets_json.vermelho"),
        "{refused:?}"
    );
    admin
        .upsert_central(central(Some(
            r#"{"vermelho": 8, "amarelo": 20, "verde": 45, "azul": 90}"#,
        )))
        .await
        .expect("targets set");
    let (_, opened) = api(
        &app,
        "POST",
        "/api/v1/occurrences",
        &desk.tarm,
        Some(call_body()),
    )
    .await;
    let id = opened["summary"]["id"].as_str().unwrap().to_owned();
    let (_, regulated) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/regulation"),
        &desk.physician,
        Some(json!({"priority": "vermelho", "decision": "dispatch", "unit_types": ["USB"]})),
    )
    .await;
    assert_eq!(regulated["summary"]["target_min"], 8);
    // Absent leaves them; "" restores the defaults.
    admin.upsert_central(central(None)).await.unwrap();
    let (_, list) = api(&app, "GET", "/api/v1/occurrences", &desk.physician, None).await;
    assert_eq!(list["occurrences"][0]["target_min"], 8);
    admin.upsert_central(central(Some(""))).await.unwrap();
    let (_, list) = api(&app, "GET", "/api/v1/occurrences", &desk.physician, None).await;
    assert_eq!(list["occurrences"][0]["target_min"], 10);
}

async fn retention(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let desk = desk(&app).await;
    let (_, opened) = api(
        &app,
        "POST",
        "/api/v1/occurrences",
        &desk.tarm,
        Some(call_body()),
    )
    .await;
    let id = opened["summary"]["id"].as_str().unwrap().to_owned();
    api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/regulation"),
        &desk.physician,
        Some(json!({"priority": "verde", "decision": "orientation"})),
    )
    .await;
    let (status, _) = api(
        &app,
        "POST",
        &format!("/api/v1/occurrences/{id}/close"),
        &desk.physician,
        Some(json!({"note": "orientado"})),
    )
    .await;
    assert_eq!(status, 200);
    // Still within the period: nothing erased.
    let retention = TimeDelta::days(30);
    assert_eq!(
        app.central
            .purge_expired_personal_data(retention, Utc::now())
            .await
            .unwrap(),
        0
    );
    // Thirty-one days later.
    let later = Utc::now() + TimeDelta::days(31);
    assert_eq!(
        app.central
            .purge_expired_personal_data(retention, later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.central
            .purge_expired_personal_data(retention, later)
            .await
            .unwrap(),
        0,
        "once"
    );

    let (status, export) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}/export"),
        &desk.manager,
        None,
    )
    .await;
    assert_eq!(status, 200, "{export}");
    let text = export.to_string();
    for secret in [
        PHONE,
        PATIENT,
        "Maria Exemplo",
        "Praça da Liberdade",
        "dor no peito",
    ] {
        assert!(!text.contains(secret), "{secret} survived the erasure");
    }
    assert!(export["personal_purged_at"].is_string());
    assert_eq!(
        export["occurrence"]["summary"]["priority"], "verde",
        "the facts stay"
    );
    assert_eq!(export["occurrence"]["call"]["nature"], "clinico");
    let actions: Vec<&str> = export["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["call_received", "regulated", "closed", "purged", "export"]
    );
    // Only the manager answers such requests.
    let (status, _) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}/export"),
        &desk.physician,
        None,
    )
    .await;
    assert_eq!(status, 403);
    // Position tracks and audit records have their own periods.
    let _usb = ready_unit(&app, "bh-usb-01", pb::UnitType::Usb, -19.9230, -43.9380).await;
    let unit = samu_domain::UnitId::parse("u", "bh-usb-01").unwrap();
    eventually("the fix is stored", || async {
        (!app.store.track(&unit).await.ok()?.is_empty()).then_some(())
    })
    .await;
    let periods = samu_runtime::retention::Retention {
        personal_data: retention,
        position_track: TimeDelta::days(7),
        audit: TimeDelta::days(3653),
    };
    let (erased, fixes, audit) = app
        .central
        .apply_retention(periods, Utc::now())
        .await
        .unwrap();
    assert_eq!((erased, fixes, audit), (0, 0, 0), "nothing is old yet");
    let (_, fixes, audit) = app.central.apply_retention(periods, later).await.unwrap();
    assert!(fixes >= 1, "a month-old track is deleted");
    assert_eq!(audit, 0, "audit records stay ten years");
    assert!(app.store.track(&unit).await.unwrap().is_empty());
    let eleven_years = Utc::now() + TimeDelta::days(11 * 365);
    let (_, _, audit) = app
        .central
        .apply_retention(periods, eleven_years)
        .await
        .unwrap();
    assert!(
        audit >= 5,
        "audit records past ten years are deleted ({audit})"
    );
    // The figures still count it.
    let clocks = app
        .store
        .occurrence_clocks(
            &samu_domain::CentralId::parse("c", BH).unwrap(),
            Utc::now() - TimeDelta::hours(1),
            Utc::now() + TimeDelta::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(clocks.len(), 1);
}

/// `POST path` with an `Idempotency-Key`.
async fn post_keyed(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", app.http_url))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("HTTP answer");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn idempotent(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let desk = desk(&app).await;

    // A call resent after a lost answer: one occurrence, the same answer.
    let key = "7f0c2a4e-0000-4000-8000-000000000001";
    let (status, first) =
        post_keyed(&app, "/api/v1/occurrences", &desk.tarm, key, call_body()).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) =
        post_keyed(&app, "/api/v1/occurrences", &desk.tarm, key, call_body()).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["summary"]["id"], first["summary"]["id"]);
    let id = first["summary"]["id"].as_str().unwrap().to_owned();
    let (_, list) = api(&app, "GET", "/api/v1/occurrences", &desk.manager, None).await;
    assert_eq!(list["occurrences"].as_array().unwrap().len(), 1, "{list}");

    // A regulation resent: one event.
    let regulate = json!({"priority": "amarelo", "decision": "orientation", "note": "orientado"});
    let path = format!("/api/v1/occurrences/{id}/regulation");
    for _ in 0..3 {
        let (status, body) =
            post_keyed(&app, &path, &desk.physician, "reg-1", regulate.clone()).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, detail) = api(
        &app,
        "GET",
        &format!("/api/v1/occurrences/{id}"),
        &desk.physician,
        None,
    )
    .await;
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["call_received", "regulated"], "{detail}");

    // The same key for another command is refused, and records nothing.
    let (status, body) = post_keyed(
        &app,
        &format!("/api/v1/occurrences/{id}/close"),
        &desk.physician,
        "reg-1",
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("reg-1"),
        "{body}"
    );
    // Keys belong to a session: another user's same key is another command.
    let (status, body) =
        post_keyed(&app, "/api/v1/occurrences", &desk.manager, key, call_body()).await;
    assert!(status == 201 || status == 403, "{body}");
    // A key that is not one is refused by name.
    let (status, body) = post_keyed(
        &app,
        "/api/v1/occurrences",
        &desk.tarm,
        "com espaço",
        call_body(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "Idempotency-Key");

    // Over gRPC, the key is metadata.
    let mut regulation =
        samu_proto::v1::regulation_client::RegulationClient::new(app.channel().await);
    let open = || {
        let mut request = authed(
            &desk.tarm,
            pb::OpenOccurrenceRequest {
                central_id: BH.into(),
                call: Some(pb::CallRecord {
                    caller_phone: PHONE.into(),
                    municipality: BH.into(),
                    caller_name: "Maria Exemplo".into(),
                    address: "Rua da Bahia, 1000".into(),
                    patient_name: PATIENT.into(),
                    complaint: "falta de ar".into(),
                    nature: pb::Nature::Clinical.into(),
                    location: Some(pb::GeoPoint {
                        latitude: SCENE.0,
                        longitude: SCENE.1,
                    }),
                    ..Default::default()
                }),
                received_at: None,
            },
        );
        request
            .metadata_mut()
            .insert("idempotency-key", "grpc-open-1".parse().unwrap());
        request
    };
    let a = regulation
        .open_occurrence(open())
        .await
        .unwrap()
        .into_inner();
    let b = regulation
        .open_occurrence(open())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        a.summary.as_ref().unwrap().id,
        b.summary.as_ref().unwrap().id
    );
}
