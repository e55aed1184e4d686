//! Rate limits (`[runtime.limits]`) against a running server with small
//! limits: a flooding device is paced, or cut off with RESOURCE_EXHAUSTED,
//! without losing or doubling anything; a person over the limit gets 429
//! (with `Retry-After`) on HTTP and RESOURCE_EXHAUSTED on gRPC, counted
//! over both doors; logins are limited per username and per address; and
//! in every case the others are served as usual.

mod common;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use common::*;
use samu_proto::v1::{
    self as pb, accounts_client::AccountsClient, ack::Kind, vehicle_report::Body,
};
use samu_store::Role;
use samu_testkit::{backend_tests, TestBackend};
use tonic::Code;

backend_tests! {
    a_device_over_its_limit_is_cut_off_and_nothing_past_it_is_acknowledged => device_cut_off;
}

/// Fix `seq` of a unit moving north, 20 s apart, all in the past: each one
/// is applied and kept in the track.
fn fix(unit: &str, seq: u64) -> pb::VehicleReport {
    let base = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    pb::VehicleReport {
        seq,
        unit_id: unit.into(),
        body: Some(Body::Position(pb::Position {
            fix_time: Some(ts(base + chrono::TimeDelta::seconds(20 * seq as i64))),
            latitude: -19.92 + 0.0003 * seq as f64,
            longitude: -43.94,
            ..Default::default()
        })),
    }
}

async fn stored_seqs(app: &TestApp, unit: &str) -> BTreeSet<u64> {
    app.store
        .track(&samu_domain::UnitId::parse("unit", unit).unwrap())
        .await
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect()
}

async fn device_cut_off(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.runtime.limits.device_reports_per_s = 1.0;
        c.runtime.limits.device_burst = 5;
        c.runtime.limits.device_pace_s = 0;
    })
    .await;
    app.seed_central().await;
    let flooding = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let other = app.add_unit("usb-2", pb::UnitType::Usb).await;

    // Twenty reports at once: five fit the burst.
    let mut v = app.vehicle(&flooding).await.unwrap();
    for seq in 1..=20 {
        v.tx.send(fix("usb-1", seq)).await.unwrap();
    }
    let mut acked = BTreeSet::new();
    let status = loop {
        match v.reply().await {
            Ok(reply) => {
                assert!(is_ack(&reply, Kind::Applied), "{reply:?}");
                acked.insert(reply.seq);
            }
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert!(
        status
            .message()
            .contains("device rate limit: 1 reports/s (burst 5)"),
        "{status}"
    );
    // The burst, and at most a token or two regained meanwhile; never all.
    let k = acked.len() as u64;
    assert!((5..=8).contains(&k), "{acked:?}");
    assert_eq!(acked, (1..=k).collect(), "acknowledged in order, no gaps");
    // Everything acknowledged is stored, and nothing past the report that
    // hit the limit: the app still holds those and will resend them.
    assert_eq!(stored_seqs(&app, "usb-1").await, acked);

    // Another device on the same server is not affected.
    let mut w = app.vehicle(&other).await.unwrap();
    for seq in 1..=5 {
        assert!(is_ack(
            &w.report("usb-2", seq, fix("usb-2", seq).body.unwrap())
                .await,
            Kind::Applied
        ));
    }
    assert_eq!(stored_seqs(&app, "usb-2").await, (1..=5).collect());

    // The flooding app, reconnecting once its bucket has a token again,
    // resends what was not acknowledged and gets on (a report at a time).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut v = app.vehicle(&flooding).await.unwrap();
    let next = k + 1;
    assert!(is_ack(
        &v.report("usb-1", next, fix("usb-1", next).body.unwrap())
            .await,
        Kind::Applied
    ));
    assert!(stored_seqs(&app, "usb-1").await.contains(&next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_over_its_limit_is_paced_and_loses_nothing() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| {
        c.runtime.limits.device_reports_per_s = 20.0;
        c.runtime.limits.device_burst = 5;
        c.runtime.limits.device_pace_s = 60;
    })
    .await;
    app.seed_central().await;
    let flooding = app.add_unit("usb-1", pb::UnitType::Usb).await;
    let other = app.add_unit("usb-2", pb::UnitType::Usb).await;

    // A backlog of 85 at once (as after a tunnel): 5 at once, then 20 a
    // second, so about 4 s.
    const N: u64 = 85;
    let started = Instant::now();
    let mut v = app.vehicle(&flooding).await.unwrap();
    for seq in 1..=N {
        v.tx.send(fix("usb-1", seq)).await.unwrap();
    }
    // Meanwhile another vehicle is served at once: while the first is
    // still being paced through its backlog.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut w = app.vehicle(&other).await.unwrap();
    let reply = w.report("usb-2", 1, fix("usb-2", 1).body.unwrap()).await;
    assert!(is_ack(&reply, Kind::Applied), "{reply:?}");
    let paced_so_far = stored_seqs(&app, "usb-1").await.len() as u64;
    assert!(
        paced_so_far < N,
        "the other vehicle waited for the first one's backlog"
    );

    let mut acked = BTreeSet::new();
    while (acked.len() as u64) < N {
        let reply = v.reply().await.expect("paced, never cut off");
        assert!(is_ack(&reply, Kind::Applied), "{reply:?}");
        acked.insert(reply.seq);
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(3_700),
        "80 reports past the burst at 20/s take about 4 s, not {took:?}"
    );
    assert_eq!(stored_seqs(&app, "usb-1").await, (1..=N).collect());
}

/// An HTTP call of the console as `token`: its status, headers and body.
async fn session(
    app: &TestApp,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/session", app.http_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("HTTP answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

async fn who_am_i(app: &TestApp, token: &str) -> Result<pb::User, tonic::Status> {
    AccountsClient::new(app.channel().await)
        .who_am_i(authed(token, pb::WhoAmIRequest {}))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_over_the_limit_is_refused_on_both_doors_and_others_are_not() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| {
        c.runtime.limits.user_requests_per_s = 0.25;
        c.runtime.limits.user_burst = 4;
    })
    .await;
    let tarm = app.login_as(Role::Tarm, "tarm.rapida").await;
    let physician = app.login_as(Role::Physician, "medica.calma").await;

    // The burst, over both doors: one limit per person.
    for _ in 0..2 {
        assert_eq!(session(&app, &tarm).await.0, 200);
        who_am_i(&app, &tarm).await.unwrap();
    }
    // HTTP: 429, the JSON error shape, and when to come back.
    let (status, headers, body) = session(&app, &tarm).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("user rate limit: 0.25 requests/s (burst 4)"),
        "{body}"
    );
    assert_eq!(body["error"], body["message"]);
    let retry_after: u64 = headers
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=4).contains(&retry_after), "{retry_after}");
    // gRPC: RESOURCE_EXHAUSTED naming the limit.
    let status = who_am_i(&app, &tarm).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert!(status.message().contains("user rate limit"), "{status}");

    // The limit is the person's, not the session's: a new login does not
    // reset it. (Logging in is limited on its own, per username.)
    let password = "tarm.rapida-senha-de-teste";
    let (second, _) = app
        .central
        .login(
            "tarm.rapida",
            password,
            chrono::TimeDelta::hours(1),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(session(&app, &second.token).await.0, 429);

    // Another person is served as usual, through both doors.
    assert_eq!(session(&app, &physician).await.0, 200);
    assert_eq!(
        who_am_i(&app, &physician).await.unwrap().username,
        "medica.calma"
    );

    // Once the wait is over, the person is served again.
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    assert_eq!(session(&app, &tarm).await.0, 200);
}

/// A login over HTTP: the status and the JSON body.
async fn http_login(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (u16, Option<String>, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.http_url))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .expect("HTTP answer");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry_after,
        response.json().await.unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_logins_are_limited_per_username_and_per_address() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |c| {
        c.runtime.limits.login_per_min = 1.0;
        c.runtime.limits.login_burst = 3;
        c.runtime.limits.login_per_address_per_min = 1.0;
        c.runtime.limits.login_per_address_burst = 12;
    })
    .await;
    for (username, role) in [("tarm.alvo", Role::Tarm), ("medico.outro", Role::Physician)] {
        app.central
            .create_user(samu_runtime::accounts::NewUser {
                username: username.into(),
                name: username.into(),
                role,
                central: None,
                password: format!("{username}-senha-certa"),
            })
            .await
            .unwrap();
    }
    let mut accounts = AccountsClient::new(app.channel().await);
    let login = |username: &str, password: &str| pb::LoginRequest {
        username: username.into(),
        password: password.into(),
    };

    // Three guesses are checked (and wrong)...
    for guess in ["123456", "senha", "samu192"] {
        let status = accounts.login(login("tarm.alvo", guess)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status}");
    }
    // ...the fourth is refused before the password is checked, even the
    // right one, on both doors.
    let status = accounts
        .login(login("TARM.alvo ", "tarm.alvo-senha-certa"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert!(
        status
            .message()
            .contains("login rate limit: 1 attempts/min per username (burst 3)"),
        "{status}"
    );
    let (status, retry_after, body) = http_login(&app, "tarm.alvo", "tarm.alvo-senha-certa").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");
    let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // Another username logs in as usual.
    let (status, _, body) = http_login(&app, "medico.outro", "medico.outro-senha-certa").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));

    // Spraying made-up usernames from one address runs into the address's
    // limit, whatever the names: 12 attempts, of which the six above (four
    // over gRPC, two over HTTP) were spent from this same address.
    let mut refused = None;
    for i in 0..12 {
        let (status, _, body) = http_login(&app, &format!("ninguem.{i}"), "qualquer-coisa").await;
        if status == 429 {
            refused = Some((i, body));
            break;
        }
        assert_eq!(status, 401, "{body}");
    }
    let (i, body) = refused.expect("the address limit refused the spray");
    assert_eq!(i, 6, "refused after {i} made-up names");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("attempts/min per address"),
        "{body}"
    );
}
