//! People's accounts: login with argon2id-hashed passwords, one answer for
//! every wrong pair, expiring and revocable session tokens, disabled users,
//! a central-bound user kept to their central; and the live queues
//! (`Regulation/WatchOccurrences`, `/ws/console`) that consoles follow.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::*;
use futures::StreamExt;
use samu_proto::v1::{
    self as pb, accounts_client::AccountsClient, occurrence_update::Update,
    regulation_client::RegulationClient,
};
use samu_store::Role;
use samu_testkit::{backend_tests, TestBackend};
use serde_json::{json, Value};
use tonic::Code;

backend_tests! {
    sessions_log_in_expire_and_end => sessions;
    queues_follow_every_change_live => live_queues;
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", app.http_url))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn sessions(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| c.runtime.credential_refresh_s = 1).await;
    app.seed_central().await;
    let mut accounts = AccountsClient::new(app.channel().await);
    // The admin creates a TARM bound to Belo Horizonte.
    let created = accounts
        .create_user(authed(
            &app.admin_token,
            pb::CreateUserRequest {
                username: "Ana.Tarm".into(),
                name: "Ana Souza".into(),
                role: pb::Role::Tarm.into(),
                central_id: BH.into(),
                password: "uma senha longa".into(),
            },
        ))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(
        created.username, "ana.tarm",
        "usernames are case-insensitive"
    );
    let duplicate = accounts
        .create_user(authed(
            &app.admin_token,
            pb::CreateUserRequest {
                username: "ana.tarm".into(),
                name: "Outra".into(),
                role: pb::Role::Tarm.into(),
                central_id: String::new(),
                password: "outra senha longa".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let short = accounts
        .create_user(authed(
            &app.admin_token,
            pb::CreateUserRequest {
                username: "bia".into(),
                name: "Bia".into(),
                role: pb::Role::Physician.into(),
                central_id: String::new(),
                password: "curta".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(short.code(), Code::InvalidArgument);
    assert!(short.message().contains("password"));

    // One answer for an unknown user and a wrong password.
    let (s1, b1) = post(
        &app,
        "/api/v1/session",
        None,
        json!({"username": "ninguem", "password": "x"}),
    )
    .await;
    let (s2, b2) = post(
        &app,
        "/api/v1/session",
        None,
        json!({"username": "ana.tarm", "password": "errada!"}),
    )
    .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1["error"], b2["error"]);
    let (status, session) = post(
        &app,
        "/api/v1/session",
        None,
        json!({"username": "ANA.TARM", "password": "uma senha longa"}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["role"], "tarm");
    assert_eq!(session["user"]["central"], BH);
    let token = session["token"].as_str().unwrap().to_owned();
    let expires: chrono::DateTime<Utc> =
        serde_json::from_value(session["expires_at"].clone()).unwrap();
    let ttl = expires - Utc::now();
    assert!(
        ttl > TimeDelta::hours(11) && ttl <= TimeDelta::hours(12),
        "a shift: {ttl}"
    );
    let me = accounts
        .who_am_i(authed(&token, pb::WhoAmIRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.name, "Ana Souza");

    // Bound to BH: another central's business is refused.
    let mut regulation = RegulationClient::new(app.channel().await);
    let other = regulation
        .list_occurrences(authed(
            &token,
            pb::ListOccurrencesRequest {
                central_id: "3170107".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);

    // Logging out ends the token at once.
    let status = reqwest::Client::new()
        .delete(format!("{}/api/v1/session", app.http_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 204);
    let gone = accounts
        .who_am_i(authed(&token, pb::WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::Unauthenticated);

    // An expired session is refused (issued already past its end).
    let user = app.store.user(&created.id).await.unwrap().unwrap();
    let now = Utc::now();
    let expired = app
        .store
        .issue_session(&user, now - TimeDelta::seconds(1), now)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // the credential refresh
    let refused = accounts
        .who_am_i(authed(&expired.token, pb::WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // Disabling the user ends their sessions and refuses new logins.
    let login = accounts
        .login(pb::LoginRequest {
            username: "ana.tarm".into(),
            password: "uma senha longa".into(),
        })
        .await
        .unwrap()
        .into_inner();
    accounts
        .disable_user(authed(
            &app.admin_token,
            pb::DisableUserRequest {
                user_id: created.id.clone(),
            },
        ))
        .await
        .unwrap();
    let ended = accounts
        .who_am_i(authed(&login.token, pb::WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated);
    let again = accounts
        .login(pb::LoginRequest {
            username: "ana.tarm".into(),
            password: "uma senha longa".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::Unauthenticated);
    // Every attempt is in the audit log, failures included.
    let logins = app
        .store
        .audit_since(Utc::now() - TimeDelta::hours(1), 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action.starts_with("login"))
        .count();
    assert_eq!(
        logins, 5,
        "2 failed + 1 login + 1 login + 1 refused after disabling"
    );
}

async fn live_queues(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.seed_central().await;
    let tarm = app.login_as(Role::Tarm, "tarm.fila").await;
    let physician = app.login_as(Role::Physician, "medico.fila").await;
    let mut regulation = RegulationClient::new(app.channel().await);
    let mut watch = regulation
        .watch_occurrences(authed(
            &physician,
            pb::ListOccurrencesRequest {
                central_id: BH.into(),
            },
        ))
        .await
        .expect("watching")
        .into_inner();
    let (mut console, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/console?central={BH}&token={physician}",
        app.http_addr
    ))
    .await
    .expect("console connects");
    let first = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first.update, Some(Update::Snapshot(ref s)) if s.occurrences.is_empty()));
    assert_eq!(next_frame(&mut console).await["type"], "snapshot");

    let (status, opened) = post(
        &app,
        "/api/v1/occurrences",
        Some(&tarm),
        json!({"central": BH, "caller_phone": "31 3333-4444", "address": "Rua C, 3",
               "complaint": "convulsão", "nature": "clinico"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["summary"]["id"].as_str().unwrap();
    let update = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(Update::Occurrence(summary)) = update.update else {
        panic!("expected an occurrence update, got {update:?}");
    };
    assert_eq!(summary.id, id);
    assert_eq!(
        summary.status,
        i32::from(pb::OccurrenceStatus::AwaitingRegulation)
    );
    let frame = next_frame(&mut console).await;
    assert_eq!(frame["type"], "occurrence");
    assert_eq!(frame["occurrence"]["id"], id);
    assert!(
        !frame.to_string().contains("3333-4444"),
        "queues carry no personal data"
    );

    post(
        &app,
        &format!("/api/v1/occurrences/{id}/regulation"),
        Some(&physician),
        json!({"priority": "verde", "decision": "orientation"}),
    )
    .await;
    let frame = next_frame(&mut console).await;
    assert_eq!(frame["occurrence"]["status"], "orientation");
    assert_eq!(frame["occurrence"]["target_min"], 60);
    // Nothing else happened, so nothing else arrives.
    let wall = next_or_nothing(&mut console).await;
    assert!(wall.is_none(), "nothing else: {wall:?}");

    // Logging out ends both: they wait on the session's end.
    let response = reqwest::Client::new()
        .delete(format!("{}/api/v1/session", app.http_url))
        .bearer_auth(&physician)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match watch.next().await {
                Some(Ok(_)) => continue,
                Some(Err(status)) => break status,
                None => panic!("the watch ended without a status"),
            }
        }
    })
    .await
    .expect("the watch ends");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // Told why: the end it waited on, not a later check's guess.
    assert_eq!(status.message(), "the token was revoked", "{status:?}");
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match console.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None => break,
                Some(Ok(_)) => continue,
                Some(Err(_)) => break,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the console socket closes");
}

async fn next_or_nothing(socket: &mut WallSocket) -> Option<Value> {
    tokio::time::timeout(Duration::from_millis(500), next_frame(socket))
        .await
        .ok()
}
