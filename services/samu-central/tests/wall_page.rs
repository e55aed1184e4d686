//! The wall page end to end: the demo server, the built page in headless
//! Chromium (driven by `dashboard/e2e/wall.mjs` through playwright-core), and
//! a status change sent through the real gRPC ingest that must appear on the
//! page within 2 seconds.
//!
//! Needs Debian's Chromium at /usr/bin/chromium (or `CHROMIUM`), Node.js and
//! `dashboard/node_modules` (`scripts/e2e-setup.sh` installs them; so does
//! `./scripts/test.sh`). Without them the test fails, saying so.
//! `SAMU_WALL_SCREENSHOT=path.png` keeps the 1920×1080 screenshot (a relative
//! path is taken from the repository's root); `SAMU_WALL_WARMUP_S` (default 5)
//! is how long the simulated fleet runs before the status change.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use samu_proto::v1::{self as pb, ack::Kind};
use samu_testkit::TestBackend;
use tokio::sync::mpsc;

/// Uberaba's first USB: a central of its own, far from the others.
const UNIT: &str = "3170107-usb-01";
/// Above anything the simulator numbers (it counts from the current time in
/// µs), so this report is never taken for a repeat.
const SEQ: u64 = u64::MAX / 2;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium, Node and the page's node packages, or a panic naming what is
/// missing and how to install it.
fn prerequisites() -> (PathBuf, PathBuf) {
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    let dashboard = repo_root().join("dashboard");
    let mut missing = Vec::new();
    if !chromium.exists() {
        missing.push(format!("Chromium ({})", chromium.display()));
    }
    if !Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        missing.push("Node.js (`node`)".to_owned());
    }
    if !dashboard
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push("dashboard/node_modules (playwright-core)".to_owned());
    }
    assert!(
        missing.is_empty(),
        "the wall page's end-to-end test needs {}: run scripts/e2e-setup.sh \
         (./scripts/test.sh runs it) to install them",
        missing.join(", ")
    );
    (chromium, dashboard)
}

/// The Node side: its stdout lines on a channel, its stdin, killed on drop.
struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Browser {
    /// The next line starting with `tag`, within `within`; a `FAIL` line or
    /// the script's end fails the test.
    async fn expect(&mut self, tag: &str, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Err(_) => panic!("the page script printed no {tag} within {within:?}"),
                Ok(None) => {
                    let status = self.child.wait().ok();
                    panic!("the page script ended before {tag} ({status:?})")
                }
                Ok(Some(line)) => {
                    if let Some(why) = line.strip_prefix("FAIL ") {
                        panic!("the wall page check failed: {why}");
                    }
                    if let Some(rest) = line.strip_prefix(tag) {
                        return rest.trim().to_owned();
                    }
                    eprintln!("[wall.mjs] {line}");
                }
            }
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the page script");
        stdin.flush().expect("flush");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn start_browser(
    dashboard: &Path,
    chromium: &Path,
    url: &str,
    screenshot: &Path,
) -> std::io::Result<Browser> {
    let mut child = Command::new("node")
        .arg("e2e/wall.mjs")
        .current_dir(dashboard)
        .env("WALL_URL", url)
        .env("WALL_UNITS", "69")
        .env("WALL_UNIT", UNIT)
        .env("WALL_STATUS", "out_of_service")
        .env("WALL_REASON", "maintenance")
        .env("WALL_SCREENSHOT", screenshot)
        .env("CHROMIUM", chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stdin = child.stdin.take();
    let (tx, lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(Browser {
        child,
        stdin,
        lines,
    })
}

/// The embedded page is served with its content types and cache headers; an
/// unknown asset is the JSON 404.
async fn check_page_serving(base: &str) {
    let http = reqwest::Client::new();
    let index = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let header = |r: &reqwest::Response, h: &str| {
        r.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(header(&index, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&index, "cache-control"), "no-cache");
    let etag = header(&index, "etag");
    assert!(!etag.is_empty());
    let html = index.text().await.unwrap();
    assert!(html.contains("SAMU 192"));
    let again = http
        .get(format!("{base}/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let script = html
        .split("src=\"/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("index.html loads a script from /assets/");
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
    assert!(header(&js, "cache-control").contains("immutable"));
    let config = http
        .get(format!("{base}/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), 200);
    assert_eq!(header(&config, "content-type"), "application/json");
    let missing = http
        .get(format!("{base}/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "no such path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_page_shows_the_demo_fleet_and_a_status_change_within_2_s() {
    let (chromium, dashboard) = prerequisites();
    let started = Instant::now();

    // The demo server, as recovery.rs starts it.
    let db = std::sync::Arc::new(TestBackend::Sqlite.fresh().await);
    let dir = std::env::temp_dir().join(format!("samu-wall-page-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = test_config(&db, &dir);
    config.demo.report_interval_ms = 500;
    config.demo.seed = Some(7);
    // A busy day: calls within seconds, so the page works amid traffic (and
    // the screenshot shows every status).
    config.demo.mean_idle_s = 3;
    config.demo.out_of_service_chance = 0.1;
    config.demo.crew_change_chance = 0.1;
    let app = samu_central::app::Application::build(config, true)
        .await
        .unwrap();
    let http_addr = app.http_addr();
    let grpc_url = format!("http://{}", app.grpc_addr());
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());

    let tokens_path = dir.join("demo-tokens.json");
    let tokens: serde_json::Value = eventually("the tokens file", || async {
        std::fs::read_to_string(&tokens_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    })
    .await;
    let wall = tokens["wall"].as_str().expect("wall token").to_owned();
    let device = tokens["devices"][UNIT]
        .as_str()
        .expect("the unit's device token")
        .to_owned();

    check_page_serving(&format!("http://{http_addr}")).await;

    // The page, in Chromium, until it shows the 69 units.
    // A relative SAMU_WALL_SCREENSHOT is taken from the repository's root.
    let screenshot = std::env::var_os("SAMU_WALL_SCREENSHOT")
        .map_or_else(|| dir.join("wall-1920x1080.png"), |p| repo_root().join(p));
    let url = format!("http://{http_addr}/?token={wall}");
    let mut browser =
        start_browser(&dashboard, &chromium, &url, &screenshot).expect("start node e2e/wall.mjs");
    let ready = browser.expect("READY", Duration::from_secs(45)).await;
    eprintln!("page shows the fleet: READY {ready}");

    // Let the fleet get busy: the page keeps up with the deltas meanwhile.
    // (SAMU_WALL_WARMUP_S=75 for a screenshot with every status in it.)
    let warmup = std::env::var("SAMU_WALL_WARMUP_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    tokio::time::sleep(Duration::from_secs(warmup)).await;

    // The unit declares itself out of service for maintenance, through gRPC.
    let channel = tonic::transport::Channel::from_shared(grpc_url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = pb::telemetry_client::TelemetryClient::new(channel)
        .stream(authed(
            &device,
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .await
        .expect("open the unit's stream")
        .into_inner();
    browser.say("SENT");
    let sent = Instant::now();
    tx.send(pb::VehicleReport {
        seq: SEQ,
        unit_id: UNIT.into(),
        body: Some(crew_status(
            pb::UnitStatus::OutOfService,
            full_crew(UNIT, pb::UnitType::Usb),
        )),
    })
    .await
    .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(2), replies.message())
        .await
        .expect("an acknowledgement within 2 s")
        .expect("the stream stays open")
        .expect("a reply");
    assert_eq!(reply.seq, SEQ);
    assert!(is_ack(&reply, Kind::Applied), "{reply:?}");

    let seen_ms = browser.expect("SEEN", Duration::from_secs(5)).await;
    let elapsed = sent.elapsed();
    eprintln!("the page showed the change {seen_ms} ms after SENT ({elapsed:?} after the report was sent)");
    assert!(
        elapsed <= Duration::from_secs(2),
        "the change took {elapsed:?} to reach the page"
    );
    let shot = browser.expect("SHOT", Duration::from_secs(15)).await;
    browser.expect("DONE", Duration::from_secs(10)).await;
    let meta = std::fs::metadata(&shot).expect("the screenshot exists");
    assert!(meta.len() > 10_000, "the screenshot is suspiciously small");
    eprintln!("screenshot: {shot}; whole test {:?}", started.elapsed());
    drop(browser);

    drop(tx);
    shutdown.cancel();
    handle.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
