//! Faults injected into the real binary: the server killed mid-stream.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use samu_demo::link::VehicleLink;
use samu_proto::v1::{self as pb, admin_client::AdminClient, vehicle_report::Body};
use samu_testkit::{backend_tests, TestBackend};
use tokio_util::sync::CancellationToken;
use tonic::{metadata::MetadataValue, transport::Channel, Request};

backend_tests! {
    a_killed_server_loses_and_doubles_nothing => a_killed_server_loses_and_doubles_nothing;
    a_killed_server_loses_and_doubles_no_occurrence_event => a_killed_server_loses_and_doubles_no_occurrence_event;
}

const BIN: &str = env!("CARGO_BIN_EXE_samu-central");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
}

impl Server {
    fn start(db: &str, config: &std::path::Path, grpc: u16, http: u16) -> Self {
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .env("DATABASE_URL", db)
            .env("SAMU_GRPC_ADDR", format!("127.0.0.1:{grpc}"))
            .env("SAMU_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        Self { child }
    }

    fn kill(&mut self) {
        // SIGKILL: no drain, no flush.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_ready(http: u16) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{http}/readyz")).await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready");
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    r
}

async fn a_killed_server_loses_and_doubles_nothing(backend: TestBackend) {
    let db = backend.fresh().await;
    let dir = std::env::temp_dir().join(format!("samu-fault-{}-{:?}", std::process::id(), backend));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("samu.toml");
    // Keep every fix so the stored track can be counted against what was sent.
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[fleet.track]\nmin_interval_s = 0\nmin_distance_m = 0.0\n",
            dir.display().to_string()
        ),
    )
    .unwrap();
    let admin = Command::new(BIN)
        .args([
            "token",
            "--role",
            "admin",
            "--label",
            "fault test",
            "--config",
        ])
        .arg(&config)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    let admin = String::from_utf8(admin.stdout).unwrap().trim().to_owned();

    let (grpc, http) = (free_port(), free_port());
    let mut server = Server::start(&db.url, &config, grpc, http);
    wait_ready(http).await;
    let channel = Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .unwrap()
        .connect_lazy();
    let mut api = AdminClient::new(channel.clone());
    api.upsert_central(authed(
        &admin,
        pb::Central {
            id: "3106200".into(),
            name: "SAMU BH".into(),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    api.upsert_unit(authed(
        &admin,
        pb::Unit {
            id: "usb-1".into(),
            central_id: "3106200".into(),
            r#type: pb::UnitType::Usb.into(),
            label: "USB 1".into(),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    let token = api
        .issue_device_token(authed(
            &admin,
            pb::IssueDeviceTokenRequest {
                unit_id: "usb-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .token;

    // A vehicle app streaming 400 fixes, one second apart in fix time.
    let shutdown = CancellationToken::new();
    let (link, handle) =
        VehicleLink::spawn_with_window(channel, "usb-1".into(), token, 1, 32, shutdown.clone());
    let stats = link.stats().clone();
    const N: u64 = 400;
    let start = chrono::Utc::now() - chrono::TimeDelta::seconds(N as i64 + 60);
    // The second half waits for the kill, so the kill always lands with the
    // app's stream open and reports still to send, however fast the server
    // and however late this test's own task gets to run on a busy machine.
    let killed = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn({
        let killed = killed.clone();
        async move {
            for i in 0..N {
                if i == N / 2 {
                    while !killed.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                let at = start + chrono::TimeDelta::seconds(i as i64);
                let body = Body::Position(pb::Position {
                    fix_time: Some(prost_types::Timestamp {
                        seconds: at.timestamp(),
                        nanos: 0,
                    }),
                    latitude: -19.92 - 0.00001 * i as f64,
                    longitude: -43.94,
                    ..Default::default()
                });
                assert!(link.send(body).await);
            }
            link
        }
    });

    // Kill the server in the middle of the stream, then bring it back.
    for _ in 0..400 {
        if stats.acked.load(Ordering::Relaxed) >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked_before_kill = stats.acked.load(Ordering::Relaxed);
    assert!(
        (100..N).contains(&acked_before_kill),
        "killed mid-stream ({acked_before_kill} acked)"
    );
    server.kill();
    killed.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = Server::start(&db.url, &config, grpc, http);
    wait_ready(http).await;

    let link = tokio::time::timeout(Duration::from_secs(30), sender)
        .await
        .expect("all sent")
        .unwrap();
    for _ in 0..600 {
        if stats.acked.load(Ordering::Relaxed) >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        stats.acked.load(Ordering::Relaxed),
        N,
        "every report acknowledged in the end"
    );
    assert!(
        stats.reconnects.load(Ordering::Relaxed) >= 1,
        "the app reconnected"
    );
    assert_eq!(stats.rejected.load(Ordering::Relaxed), 0);

    let store = samu_store::Store::connect(&db.url).await.unwrap();
    let track = store
        .track(&samu_domain::UnitId::parse("u", "usb-1").unwrap())
        .await
        .unwrap();
    let mut seqs: Vec<u64> = track.iter().map(|p| p.seq).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), track.len(), "nothing stored twice");
    assert_eq!(
        seqs,
        (1..=N).collect::<Vec<_>>(),
        "nothing lost: every fix stored once"
    );
    shutdown.cancel();
    drop(link);
    let _ = handle.await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `POST path` as the console page does it: with an idempotency key, sent
/// again with the same key while no answer comes (connection refused or
/// reset, 503) until `deadline`.
async fn command(
    client: &reqwest::Client,
    http: u16,
    path: &str,
    token: &str,
    key: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sent = client
            .post(format!("http://127.0.0.1:{http}{path}"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                return response.json().await.expect("JSON answer")
            }
            Ok(response) if response.status() != 503 => {
                panic!(
                    "{path} refused: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                )
            }
            _ => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{path} never answered"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn a_killed_server_loses_and_doubles_no_occurrence_event(backend: TestBackend) {
    let db = backend.fresh().await;
    let dir = std::env::temp_dir().join(format!(
        "samu-fault-occ-{}-{:?}",
        std::process::id(),
        backend
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("samu.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", dir.display().to_string()),
    )
    .unwrap();
    let admin = Command::new(BIN)
        .args([
            "token",
            "--role",
            "admin",
            "--label",
            "fault test",
            "--config",
        ])
        .arg(&config)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(admin.status.success());
    let admin = String::from_utf8(admin.stdout).unwrap().trim().to_owned();
    let (grpc, http) = (free_port(), free_port());
    let mut server = Server::start(&db.url, &config, grpc, http);
    wait_ready(http).await;
    let channel = Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .unwrap()
        .connect_lazy();
    AdminClient::new(channel.clone())
        .upsert_central(authed(
            &admin,
            pb::Central {
                id: "3106200".into(),
                name: "SAMU BH".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for (username, role) in [
        ("ana.tarm", pb::Role::Tarm),
        ("bruno.medico", pb::Role::Physician),
    ] {
        let password = format!("{username}-senha-longa");
        samu_proto::v1::accounts_client::AccountsClient::new(channel.clone())
            .create_user(authed(
                &admin,
                pb::CreateUserRequest {
                    username: username.into(),
                    name: username.into(),
                    role: role.into(),
                    central_id: String::new(),
                    password: password.clone(),
                },
            ))
            .await
            .unwrap();
        let session: serde_json::Value = client
            .post(format!("http://127.0.0.1:{http}/api/v1/session"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(session["token"].as_str().unwrap().to_owned());
    }
    let (tarm, physician) = (tokens[0].clone(), tokens[1].clone());

    // The desk takes calls and regulates them, one after the other, while
    // the server is killed under it.
    const CALLS: usize = 30;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let desk = {
        let done = done.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut ids = Vec::new();
            for i in 0..CALLS {
                let call = serde_json::json!({
                    "central": "3106200", "caller_phone": format!("(31) 9{i:04}-0000"),
                    "caller_name": "Maria Exemplo", "address": "Rua da Bahia, 1000",
                    "complaint": "dor no peito", "nature": "clinico", "patient_name": "José",
                    "location": {"lat": -19.92, "lon": -43.94}
                });
                let opened = command(
                    &client,
                    http,
                    "/api/v1/occurrences",
                    &tarm,
                    &format!("open-{i}"),
                    &call,
                )
                .await;
                let id = opened["summary"]["id"].as_str().unwrap().to_owned();
                let regulation = serde_json::json!({"priority": "verde", "decision": "orientation", "note": "orientado"});
                command(
                    &client,
                    http,
                    &format!("/api/v1/occurrences/{id}/regulation"),
                    &physician,
                    &format!("regulate-{i}"),
                    &regulation,
                )
                .await;
                ids.push(id);
                done.fetch_add(1, Ordering::Relaxed);
            }
            ids
        })
    };
    for _ in 0..600 {
        if done.load(Ordering::Relaxed) >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(done.load(Ordering::Relaxed) < CALLS, "killed mid-desk");
    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = Server::start(&db.url, &config, grpc, http);
    let ids = tokio::time::timeout(Duration::from_secs(120), desk)
        .await
        .expect("the desk finished")
        .unwrap();

    let store = samu_store::Store::connect(&db.url).await.unwrap();
    let stored = store
        .open_occurrences(None, chrono::Utc::now() - chrono::TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        CALLS,
        "one occurrence per call, none lost or doubled"
    );
    let mut answered: Vec<String> = ids.clone();
    answered.sort();
    answered.dedup();
    assert_eq!(answered.len(), CALLS);
    for occurrence in &stored {
        assert!(ids.iter().any(|id| id == occurrence.id.as_str()));
        let kinds: Vec<&str> = occurrence.events.iter().map(|e| e.body.kind()).collect();
        assert_eq!(kinds, ["call_received", "regulated"], "each event once");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
