//! PostgreSQL goes away and comes back (issue 8, "PostgreSQL goes away").
//!
//! The server reaches PostgreSQL through a TCP proxy this test controls.
//! Cutting the proxy drops every open connection and refuses new ones, as a
//! crashed or unreachable database does. Meanwhile vehicle reports are still
//! acknowledged (spooled on local disk), the wall still moves, `/readyz`
//! answers 503 saying `degraded` with the spool's size, and console commands
//! that need the store get a clear 503. When the proxy is restored the spool
//! is flushed in order, `/readyz` turns green, and every acknowledged fix
//! and status change is in the store exactly once, with gapless event
//! numbers.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use common::*;
use samu_proto::v1::{self as pb, ack::Kind};
use samu_store::Role;
use samu_testkit::TestBackend;
use serde_json::{json, Value};
use tokio::{
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};

/// A TCP proxy in front of PostgreSQL that can be cut and restored.
struct StoreProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl StoreProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let cut = cut.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    if cut.load(Ordering::SeqCst) {
                        // The database is gone: the connection is reset.
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Self {
            port,
            cut,
            connections,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for StoreProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A fix dated `seconds_ago` before now: distinct, increasing times.
fn fix_at(seconds_ago: i64, lat: f64, lon: f64) -> pb::vehicle_report::Body {
    let mut body = position(lat, lon);
    if let pb::vehicle_report::Body::Position(p) = &mut body {
        p.fix_time = Some(ts(
            chrono::Utc::now() - chrono::TimeDelta::seconds(seconds_ago)
        ));
    }
    body
}

/// `url` with its `host:port` replaced by the proxy's.
fn through(url: &str, port: u16) -> (String, String) {
    let after_at = url
        .rfind('@')
        .map_or(url.find("://").unwrap() + 3, |at| at + 1);
    let end = url[after_at..]
        .find('/')
        .map_or(url.len(), |slash| after_at + slash);
    let upstream = url[after_at..end].to_owned();
    (
        format!("{}127.0.0.1:{port}{}", &url[..after_at], &url[end..]),
        upstream,
    )
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = reqwest::get(format!("{}/readyz", app.http_url))
        .await
        .expect("/readyz answers");
    let code = response.status().as_u16();
    (code, response.json().await.expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_the_wall_go_on_while_postgres_is_away_and_nothing_acknowledged_is_lost() {
    let db = Arc::new(TestBackend::Postgres.fresh().await);
    // Created through the real address, so the proxy only ever carries the
    // server's own connections.
    let (_, upstream) = through(&db.url, 0);
    let proxy = StoreProxy::start(upstream).await;
    let (proxied, _) = through(&db.url, proxy.port);
    let dir = std::env::temp_dir().join(format!("samu-test-store-outage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = test_config(&db, &dir);
    config.database_url = Some(proxied);
    config.runtime.spool.after_ms = 500;
    // Keep every fix, so the stored track can be counted.
    config.fleet.track.min_interval_s = 0;
    config.fleet.track.min_distance_m = 0.0;
    // The test's wall socket is read only after the reports of the cut, so
    // it answers no ping meanwhile: with the minute-long outage
    // (SAMU_OUTAGE_S=60) the default 45 s idle limit would close it.
    config.http.wall.idle_timeout_s = 600;
    let app = TestApp::start(config, db.clone(), Arc::new(tempfile_dir::Dir(dir.clone()))).await;
    app.seed_central().await;
    let token = app.add_unit("usa-1", pb::UnitType::Usa).await;
    let tarm = app.login_as(Role::Tarm, "tarm.outage").await;
    let mut vehicle = app.vehicle(&token).await.unwrap();
    let mut seq = 0;
    let mut next = || {
        seq += 1;
        seq
    };
    for body in [
        fix_at(5, -19.92, -43.94),
        available("usa-1", pb::UnitType::Usa),
    ] {
        assert!(is_ack(
            &vehicle.report("usa-1", next(), body).await,
            Kind::Applied
        ));
    }
    let (mut wall, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        app.http_addr, app.wall_token
    ))
    .await
    .unwrap();
    assert_eq!(next_frame(&mut wall).await["type"], "snapshot");
    assert_eq!(readyz(&app).await.0, 200);

    // --- PostgreSQL goes away ---------------------------------------------
    proxy.cut();
    // How long PostgreSQL stays away: 3 s in the suite; the minute
    // with `SAMU_OUTAGE_S=60 cargo nextest run -p samu-central --test store_outage`.
    let outage = Duration::from_secs(
        std::env::var("SAMU_OUTAGE_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    let cut_at = std::time::Instant::now();
    let mut acknowledged_fixes = 1;
    let mut lat = -19.92;
    while cut_at.elapsed() < outage || acknowledged_fixes < 10 {
        // A metre every 200 ms: a plausible move, fixed at the real time.
        lat += 0.00001;
        let reply = vehicle.report("usa-1", next(), position(lat, -43.94)).await;
        assert!(
            is_ack(&reply, Kind::Applied),
            "acknowledged without the store: {reply:?}"
        );
        acknowledged_fixes += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let en_route = crew_status(
        pb::UnitStatus::EnRoute,
        full_crew("usa-1", pb::UnitType::Usa),
    );
    assert!(is_ack(
        &vehicle.report("usa-1", next(), en_route).await,
        Kind::Applied
    ));
    // The wall keeps moving.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the wall shows en_route during the outage"
        );
        let frame = next_frame(&mut wall).await;
        if frame["units"].as_array().is_some_and(|units| {
            units
                .iter()
                .any(|u| u["id"] == "usa-1" && u["status"] == "en_route")
        }) {
            break;
        }
    }
    let body = eventually("/readyz says degraded", || async {
        let (code, body) = readyz(&app).await;
        (code == 503 && body["status"] == "degraded").then_some(body)
    })
    .await;
    assert_ne!(body["store"], "ok", "{body}");
    assert!(
        body["spool"]["spooled_batches"].as_u64().unwrap() >= 1,
        "{body}"
    );
    assert_eq!(body["spool"]["degraded"], true, "{body}");
    // A console command that needs the store says so clearly.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/occurrences", app.http_url))
        .bearer_auth(&tarm)
        .json(&json!({
            "central": BH, "caller_phone": "31999990000", "caller_name": "Maria Exemplo",
            "address": "Praça da Liberdade, s/n", "complaint": "queda da própria altura",
            "nature": "trauma", "patient_name": "José Exemplo", "patient_age": 80,
            "location": {"lat": -19.92, "lon": -43.94}
        }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "unavailable", "{error}");

    // --- It comes back ----------------------------------------------------
    proxy.restore();
    let body = eventually("/readyz green once the spool is flushed", || async {
        let (code, body) = readyz(&app).await;
        (code == 200 && body["status"] == "ready").then_some(body)
    })
    .await;
    assert_eq!(body["spool"]["spooled_batches"], 0, "{body}");
    // Writes go straight to the store again.
    assert!(is_ack(
        &vehicle
            .report("usa-1", next(), position(lat + 0.00001, -43.94))
            .await,
        Kind::Applied
    ));
    acknowledged_fixes += 1;

    let unit = samu_domain::UnitId::parse("u", "usa-1").unwrap();
    let track = eventually("every acknowledged fix stored", || async {
        let track = app.store.track(&unit).await.ok()?;
        (track.len() >= acknowledged_fixes).then_some(track)
    })
    .await;
    let mut seqs: Vec<u64> = track.iter().map(|p| p.seq).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), track.len(), "nothing stored twice");
    assert_eq!(track.len(), acknowledged_fixes);
    let history = app.store.status_history(&unit).await.unwrap();
    let numbers: Vec<u64> = history.iter().map(|e| e.event_no).collect();
    assert_eq!(
        numbers,
        (1..=numbers.len() as u64).collect::<Vec<_>>(),
        "gapless, in order"
    );
    assert!(history
        .iter()
        .any(|e| e.status == samu_domain::UnitStatus::EnRoute));
    // The live state the store keeps catches up with the newest report
    // (written behind the reports: runtime.live_state_flush_ms).
    eventually("the stored live state is the newest", || async {
        app.stored_live_state("usa-1")
            .await
            .filter(|stored| stored.last_seq == seq)
    })
    .await;
}
