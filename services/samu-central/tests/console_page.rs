//! The console page end to end: the demo server, the built page in headless
//! Chromium (driven by `dashboard/e2e/console.mjs` through playwright-core),
//! three people working one occurrence through it (the TARM takes a call in
//! Belo Horizonte, the physician regulates it vermelho with a USA, the radio
//! operator dispatches the first recommended USA with one click), and then
//! the wall feed, which must show the occurrence and the unit dispatched.
//!
//! Needs Debian's Chromium at /usr/bin/chromium (or `CHROMIUM`), Node.js and
//! `dashboard/node_modules` (`scripts/e2e-setup.sh` installs them; so does
//! `./scripts/test.sh`). Without them the test fails, saying so.
//! `SAMU_CONSOLE_SCREENSHOT=path.png` keeps the 1920×1080 screenshot of the
//! radio operator's screen (a relative path is taken from the repository's
//! root; `docs/console.png` is the one in the docs).

mod common;

use std::time::{Duration, Instant};

use common::{
    page::{prerequisites, repo_root, PageScript},
    *,
};
use futures::StreamExt;
use samu_proto::v1 as pb;
use samu_testkit::TestBackend;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Belo Horizonte's central (the IBGE code of its seat).
const CENTRAL: &str = "3106200";
/// Where the call comes from: central Belo Horizonte.
const LAT: f64 = -19.92;
const LON: f64 = -43.94;
/// What the page types into the call; none of it may reach the wall.
const PERSONAL: [&str; 4] = [
    "Afonso Pena",
    "3277-0000",
    "Paciente de Teste",
    "Solicitante de Teste",
];

fn header(r: &reqwest::Response, h: &str) -> String {
    r.headers()
        .get(h)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// `/console` is the embedded page with its cache headers and a policy that
/// lets it talk only to its own server, with no inline script.
async fn check_console_serving(base: &str) {
    let http = reqwest::Client::new();
    let page = http.get(format!("{base}/console")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let csp = header(&page, "content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self';",
        "connect-src 'self' ws: wss:",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "the console's CSP lacks {part}: {csp}");
    }
    let etag = header(&page, "etag");
    assert!(!etag.is_empty());
    let html = page.text().await.unwrap();
    assert!(html.contains("Console de Regulação"));
    assert!(!html.contains("<script>"), "no inline script");
    let again = http
        .get(format!("{base}/console"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let script = html
        .split("src=\"/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("console.html loads a script from /assets/");
    let js = http
        .get(format!("{base}/assets/{script}"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(
        header(&js, "content-type"),
        "text/javascript; charset=utf-8"
    );
}

/// The console API as the page calls it, for the other occurrences of the
/// room (so the queues are not empty around the one the page works).
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn login(&self, users: &Value, role: &str) -> String {
        let user = &users[role];
        let answer = self
            .call(
                reqwest::Method::POST,
                "/api/v1/session",
                "",
                Some(json!({"username": user["username"], "password": user["password"]})),
            )
            .await;
        assert_eq!(answer["user"]["role"], role, "{answer}");
        answer["token"]
            .as_str()
            .expect("a session token")
            .to_owned()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A call, as the TARM records it: the new occurrence's id.
    async fn call_received(&self, tarm: &str, nature: &str, lat: f64, lon: f64) -> String {
        let detail = self
            .call(
                reqwest::Method::POST,
                "/api/v1/occurrences",
                tarm,
                Some(json!({
                    "central": CENTRAL, "municipality": CENTRAL, "caller_phone": "31 0000-0000",
                    "address": "Rua de Teste, 1", "complaint": "teste", "nature": nature,
                    "location": {"lat": lat, "lon": lon},
                })),
            )
            .await;
        detail["summary"]["id"]
            .as_str()
            .expect("the occurrence's id")
            .to_owned()
    }

    async fn regulate(&self, physician: &str, id: &str, priority: &str, unit_type: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/occurrences/{id}/regulation"),
            physician,
            Some(json!({"priority": priority, "decision": "dispatch", "unit_types": [unit_type]})),
        )
        .await;
    }
}

/// The demo's people: `users` of `demo-tokens.json` (username and password
/// per role). Should a demo not write them, they are created here through
/// `samu.v1.Accounts` with the demo's admin token: the TARM state-wide (so
/// the page's central picker is used), the others in Belo Horizonte.
async fn demo_users(tokens: &Value, grpc_url: &str) -> Value {
    let roles = ["tarm", "physician", "radio_operator", "manager"];
    if roles
        .iter()
        .all(|r| tokens["users"][r]["password"].is_string())
    {
        return tokens["users"].clone();
    }
    let admin = tokens["admin"].as_str().expect("the demo's admin token");
    let channel = tonic::transport::Channel::from_shared(grpc_url.to_owned())
        .unwrap()
        .connect()
        .await
        .expect("the gRPC port");
    let mut accounts = pb::accounts_client::AccountsClient::new(channel);
    let mut users = serde_json::Map::new();
    for (key, role, name, central) in [
        ("tarm", pb::Role::Tarm, "Ana Teste", ""),
        ("physician", pb::Role::Physician, "Bruno Teste", CENTRAL),
        (
            "radio_operator",
            pb::Role::RadioOperator,
            "Carla Teste",
            CENTRAL,
        ),
        ("manager", pb::Role::Manager, "Davi Teste", CENTRAL),
    ] {
        let username = format!("e2e-{key}");
        let password = format!("senha-de-teste-{key}");
        accounts
            .create_user(authed(
                admin,
                pb::CreateUserRequest {
                    username: username.clone(),
                    name: name.to_owned(),
                    role: role as i32,
                    central_id: central.to_owned(),
                    password: password.clone(),
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("create the {key} user: {e}"));
        users.insert(
            key.to_owned(),
            json!({"username": username, "password": password}),
        );
    }
    Value::Object(users)
}

/// Frames of the wall feed, read by a task from before the page starts, so
/// a status the unit held only briefly is not missed.
fn follow_wall(mut socket: WallSocket) -> mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if tx.send(frame).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_people_work_an_occurrence_through_the_console_and_the_wall_shows_it() {
    let (chromium, dashboard) = prerequisites("the console page's end-to-end test");
    let started = Instant::now();

    // The demo server, calm: units wait at their bases with complete crews,
    // so the recommendation is stable while the page works.
    let db = std::sync::Arc::new(TestBackend::Sqlite.fresh().await);
    let dir = std::env::temp_dir().join(format!("samu-console-page-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = test_config(&db, &dir);
    config.demo.report_interval_ms = 1_000;
    config.demo.seed = Some(11);
    config.demo.mean_idle_s = 100_000;
    // No simulated desk: its calls would compete for the units the page dispatches.
    config.demo.desk = false;
    config.demo.out_of_service_chance = 0.0;
    config.demo.crew_change_chance = 0.0;
    let app = samu_central::app::Application::build(config, true)
        .await
        .unwrap();
    let http_addr = app.http_addr();
    let grpc_url = format!("http://{}", app.grpc_addr());
    let base = format!("http://{http_addr}");
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());

    let tokens_path = dir.join("demo-tokens.json");
    let tokens: Value = eventually("the tokens file", || async {
        std::fs::read_to_string(&tokens_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .filter(|t| t["wall"].is_string())
    })
    .await;
    let users = demo_users(&tokens, &grpc_url).await;
    let wall = tokens["wall"].as_str().expect("wall token").to_owned();

    check_console_serving(&base).await;

    // The wall, watching Belo Horizonte from before anything happens.
    let (socket, _) = tokio_tungstenite::connect_async(format!(
        "ws://{http_addr}/ws/wall?token={wall}&central={CENTRAL}"
    ))
    .await
    .expect("the wall feed");
    let mut frames = follow_wall(socket);

    // Other work in the room: a call waiting for the physician, and one
    // waiting for a USB.
    let api = Api {
        http: reqwest::Client::new(),
        base: base.clone(),
    };
    let tarm = api.login(&users, "tarm").await;
    let physician = api.login(&users, "physician").await;
    api.call_received(&tarm, "clinico", -19.93, -43.95).await;
    let other = api.call_received(&tarm, "pediatrico", -19.88, -43.97).await;
    api.regulate(&physician, &other, "amarelo", "USB").await;

    // The page, in Chromium: call, regulation, dispatch.
    let screenshot = std::env::var_os("SAMU_CONSOLE_SCREENSHOT")
        .map_or_else(|| dir.join("console.png"), |p| repo_root().join(p));
    let fail_screenshot = dir.join("console-failed.png");
    let url = format!("{base}/console");
    let users_json = users.to_string();
    let (lat, lon) = (LAT.to_string(), LON.to_string());
    let mut browser = PageScript::start(
        &dashboard,
        "console.mjs",
        [
            ("CONSOLE_URL", url.as_ref()),
            ("CONSOLE_USERS", users_json.as_ref()),
            ("CONSOLE_CENTRAL", CENTRAL.as_ref()),
            ("CONSOLE_LAT", lat.as_ref()),
            ("CONSOLE_LON", lon.as_ref()),
            ("CONSOLE_SCREENSHOT", screenshot.as_os_str()),
            ("CONSOLE_FAIL_SCREENSHOT", fail_screenshot.as_os_str()),
            ("CHROMIUM", chromium.as_os_str()),
        ],
        false,
    )
    .expect("start node e2e/console.mjs");
    let call = browser.expect("CALL", Duration::from_secs(60)).await;
    let id = call
        .split_whitespace()
        .next()
        .expect("CALL <id>")
        .to_owned();
    eprintln!("the TARM's call: {call}");
    browser.expect("REGULATED", Duration::from_secs(45)).await;
    let recommended = browser.expect("RECOMMENDED", Duration::from_secs(45)).await;
    eprintln!("recommended: {recommended}");
    let dispatched = browser.expect("DISPATCHED", Duration::from_secs(20)).await;
    let unit = dispatched
        .split_whitespace()
        .nth(1)
        .expect("DISPATCHED <id> <unit>")
        .to_owned();
    assert!(
        unit.starts_with(&format!("{CENTRAL}-usa-")),
        "the dispatched unit {unit} is not one of Belo Horizonte's USA"
    );
    let shot = browser.expect("SHOT", Duration::from_secs(15)).await;
    browser.expect("DONE", Duration::from_secs(10)).await;
    let meta = std::fs::metadata(&shot).expect("the screenshot exists");
    assert!(meta.len() > 10_000, "the screenshot is suspiciously small");
    drop(browser);

    // The API agrees with what the page showed.
    let manager = api.login(&users, "manager").await;
    let detail = api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/occurrences/{id}"),
            &manager,
            None,
        )
        .await;
    let summary = &detail["summary"];
    assert_eq!(summary["priority"], "vermelho", "{summary}");
    assert_eq!(summary["decision"], "dispatch", "{summary}");
    assert_eq!(summary["requested"], json!(["USA"]), "{summary}");
    assert_eq!(summary["units"][0]["unit"], unit.as_str(), "{summary}");
    assert_eq!(summary["units"][0]["step"], "dispatched", "{summary}");
    assert_eq!(detail["call"]["location"]["lat"], LAT, "{detail}");

    // The wall: the occurrence in its feed (without the call's personal
    // data) and the unit dispatched.
    let (mut occurrence_seen, mut unit_dispatched) = (false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(occurrence_seen && unit_dispatched) {
        let frame = match tokio::time::timeout_at(deadline, frames.recv()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("the wall feed closed"),
            Err(_) => panic!(
                "within 10 s the wall feed showed the occurrence: {occurrence_seen}, \
                 {unit} dispatched: {unit_dispatched}"
            ),
        };
        for occurrence in frame["occurrences"].as_array().into_iter().flatten() {
            if occurrence["id"] == id.as_str() {
                occurrence_seen = true;
                let text = occurrence.to_string();
                for personal in PERSONAL {
                    assert!(
                        !text.contains(personal),
                        "the wall feed carries personal data: {text}"
                    );
                }
            }
        }
        unit_dispatched |= frame["units"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| u["id"] == unit.as_str() && u["status"] == "dispatched");
    }
    eprintln!("screenshot: {shot}; whole test {:?}", started.elapsed());

    shutdown.cancel();
    handle.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
