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

use std::time::{Duration, Instant};

use common::{
    page::{prerequisites, repo_root, PageScript},
    *,
};
use samu_proto::v1::{self as pb, ack::Kind};
use samu_testkit::TestBackend;

/// Uberaba's first USB: a central of its own, far from the others.
const UNIT: &str = "3170107-usb-01";
/// Above anything the simulator numbers (it counts from the current time in
/// µs), so this report is never taken for a repeat.
const SEQ: u64 = u64::MAX / 2;

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
    let (chromium, dashboard) = prerequisites("the wall page's end-to-end test");
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
    let mut browser = PageScript::start(
        &dashboard,
        "wall.mjs",
        [
            ("WALL_URL", url.as_ref()),
            ("WALL_UNITS", "69".as_ref()),
            ("WALL_UNIT", UNIT.as_ref()),
            ("WALL_STATUS", "out_of_service".as_ref()),
            ("WALL_REASON", "maintenance".as_ref()),
            ("WALL_SCREENSHOT", screenshot.as_os_str()),
            ("CHROMIUM", chromium.as_os_str()),
        ],
        true,
    )
    .expect("start node e2e/wall.mjs");
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
