//! Patient and caller data never reach the logs (LGPD): the real binary at
//! the most talkative log level, JSON format, while a call full of personal
//! data is taken, regulated and read; then every line it wrote is searched.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use samu_proto::v1::{self as pb, accounts_client::AccountsClient, admin_client::AdminClient};
use samu_testkit::TestBackend;
use serde_json::json;
use tonic::{metadata::MetadataValue, transport::Channel, Request};

const BIN: &str = env!("CARGO_BIN_EXE_samu-central");
const SECRETS: [&str; 6] = [
    "(31) 97777-1234",
    "Rosa Exemplo da Silva",
    "Rua dos Segredos, 77",
    "perto da farmácia azul",
    "desmaiou no banho",
    "Tião Exemplo",
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_and_secrets_never_reach_the_log() {
    let db = TestBackend::Sqlite.fresh().await;
    let dir = std::env::temp_dir().join(format!("samu-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("samu.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", dir.display().to_string()),
    )
    .unwrap();
    let admin = Command::new(BIN)
        .args([
            "token", "--role", "admin", "--label", "log test", "--config",
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
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("DATABASE_URL", &db.url)
        .env("SAMU_GRPC_ADDR", format!("127.0.0.1:{grpc}"))
        .env("SAMU_HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("SAMU_LOG_FORMAT", "json")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("the server starts");
    let mut ready = false;
    for _ in 0..200 {
        if reqwest::get(format!("http://127.0.0.1:{http}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the server did not become ready");

    let channel = Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .unwrap()
        .connect_lazy();
    AdminClient::new(channel.clone())
        .upsert_central(authed(
            &admin,
            pb::Central {
                id: "3106200".into(),
                name: "SAMU BH".into(),
                population: 2_500_000,
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let mut accounts = AccountsClient::new(channel);
    let password = "senha-que-nunca-aparece";
    for (username, role) in [
        ("tarm.log", pb::Role::Tarm),
        ("medico.log", pb::Role::Physician),
    ] {
        accounts
            .create_user(authed(
                &admin,
                pb::CreateUserRequest {
                    username: username.into(),
                    name: username.into(),
                    role: role.into(),
                    central_id: String::new(),
                    password: password.into(),
                },
            ))
            .await
            .unwrap();
    }
    let client = reqwest::Client::new();
    let login = |username: &'static str| {
        let client = client.clone();
        async move {
            let body: serde_json::Value = client
                .post(format!("http://127.0.0.1:{http}/api/v1/session"))
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let tarm = login("tarm.log").await;
    let physician = login("medico.log").await;
    let opened: serde_json::Value = client
        .post(format!("http://127.0.0.1:{http}/api/v1/occurrences"))
        .bearer_auth(&tarm)
        .json(&json!({
            "central": "3106200", "caller_phone": SECRETS[0], "caller_name": SECRETS[1],
            "address": SECRETS[2], "reference_point": SECRETS[3], "complaint": SECRETS[4],
            "nature": "clinico", "patient_name": SECRETS[5], "patient_age": 70
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = opened["summary"]["id"].as_str().expect("opened").to_owned();
    let read = client
        .get(format!("http://127.0.0.1:{http}/api/v1/occurrences/{id}"))
        .bearer_auth(&physician)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    // A bad request echoing personal data must not log it either.
    let bad = client
        .post(format!("http://127.0.0.1:{http}/api/v1/occurrences"))
        .bearer_auth(&tarm)
        .json(&json!({"central": "3106200", "caller_phone": SECRETS[0], "address": SECRETS[2]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.lines().count() > 20,
        "the server logged at trace level:\n{text}"
    );
    for secret in SECRETS
        .iter()
        .chain([&password, &tarm.as_str(), &physician.as_str()])
    {
        let hit = text.lines().find(|l| l.contains(secret));
        assert!(
            hit.is_none(),
            "{secret:?} reached the log: {}",
            hit.unwrap_or_default()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
