//! Redis goes away and comes back (issue 8, "Redis goes away").
//!
//! Two instances share one store and fan out through a `redis-server` this
//! test starts on a free loopback port, so it can kill it and start it again
//! on the same port. While Redis is down each instance keeps ingesting its
//! own vehicles (reports acknowledged once stored) and feeding its own
//! walls, and `/readyz` answers 503 naming Redis. When Redis is back, without
//! restarting anything, the instances resynchronise (a change made on A
//! during the outage shows on B's wall, and the other way round) and the
//! fan-out carries new changes again.

mod common;

use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use futures::StreamExt;
use samu_proto::v1::{self as pb, ack::Kind};
use samu_testkit::TestBackend;
use serde_json::Value;

/// A `redis-server` of this test's own, killable and restartable on its port.
struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port of 127.0.0.1.
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("samu-redis-outage-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts it on the same port and waits until it accepts connections.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let binary =
            std::env::var("SAMU_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &self.dir.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs it: connections drop at once, nothing is said to clients.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `/readyz` of an instance: status code and body.
async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = reqwest::get(format!("{}/readyz", app.http_url))
        .await
        .expect("/readyz answers");
    let code = response.status().as_u16();
    (code, response.json().await.expect("JSON body"))
}

/// Reads wall frames (snapshots or deltas) until unit `id` shows `status`.
async fn wait_on_wall(wall: &mut WallSocket, id: &str, status: &str, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, wall.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for: {what}"))
            .expect("wall socket open")
            .expect("valid frame");
        let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).expect("JSON frame");
        if let Some(unit) = frame["units"].as_array().and_then(|units| {
            units
                .iter()
                .find(|u| u["id"] == id && u["status"] == status)
        }) {
            return unit.clone();
        }
    }
}

async fn open_wall(app: &TestApp) -> WallSocket {
    let (mut wall, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        app.http_addr, app.wall_token
    ))
    .await
    .unwrap();
    assert_eq!(next_frame(&mut wall).await["type"], "snapshot");
    wall
}

fn status(s: pb::UnitStatus, unit: &str, unit_type: pb::UnitType) -> pb::vehicle_report::Body {
    crew_status(s, full_crew(unit, unit_type))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_keep_serving_while_redis_is_down_and_resynchronise_when_it_returns() {
    let mut redis = RedisServer::start();
    let redis_url = redis.url();
    let channel = format!("samu:outage:{}", redis.port);
    let with_redis = |c: &mut samu_central::config::Config| {
        c.redis_url = Some(redis_url.clone());
        c.fanout.channel = channel.clone();
    };
    let a = TestApp::spawn_with(TestBackend::Postgres, with_redis).await;
    let b = a.peer(with_redis).await;

    a.seed_central().await;
    let token_a = a.add_unit("usa-1", pb::UnitType::Usa).await;
    // Registered through B, whose admin API puts it in B's fleet at once.
    let token_b = b.add_unit("usb-2", pb::UnitType::Usb).await;

    for app in [&a, &b] {
        eventually("ready with Redis", || async {
            (readyz(app).await.0 == 200).then_some(())
        })
        .await;
    }
    let mut wall_a = open_wall(&a).await;
    let mut wall_b = open_wall(&b).await;
    // Let both subscriptions settle before anything is published.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // usa-1 streams to A, usb-2 to B.
    let mut va = a.vehicle(&token_a).await.unwrap();
    let mut vb = b.vehicle(&token_b).await.unwrap();
    let mut seq_a = 0;
    let mut seq_b = 0;
    let mut send_a = |body| {
        seq_a += 1;
        (seq_a, body)
    };
    let mut send_b = |body| {
        seq_b += 1;
        (seq_b, body)
    };
    for (seq, body) in [
        send_a(position(-19.92, -43.94)),
        send_a(available("usa-1", pb::UnitType::Usa)),
    ] {
        assert!(is_ack(&va.report("usa-1", seq, body).await, Kind::Applied));
    }
    for (seq, body) in [
        send_b(position(-19.93, -43.95)),
        send_b(available("usb-2", pb::UnitType::Usb)),
    ] {
        assert!(is_ack(&vb.report("usb-2", seq, body).await, Kind::Applied));
    }
    // The fan-out works both ways before the outage.
    wait_on_wall(&mut wall_b, "usa-1", "available_at_base", "B sees usa-1").await;
    wait_on_wall(&mut wall_a, "usb-2", "available_at_base", "A sees usb-2").await;

    // --- Redis goes away -------------------------------------------------
    redis.kill();
    for app in [&a, &b] {
        let body = eventually("/readyz turns 503 without Redis", || async {
            let (code, body) = readyz(app).await;
            (code == 503).then_some(body)
        })
        .await;
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["store"], "ok", "{body}");
        assert_ne!(body["redis"], "ok", "{body}");
        assert_ne!(body["redis"], "disabled", "{body}");
    }

    // Each instance keeps ingesting its own vehicles (moving a metre a
    // report), acknowledging every report once stored, and feeding its own
    // walls.
    for i in 0..5 {
        let (seq, body) = send_a(position(-19.92 + 0.00001 * f64::from(i), -43.94));
        let reply = va.report("usa-1", seq, body).await;
        assert!(
            is_ack(&reply, Kind::Applied),
            "A acknowledges report {seq} without Redis: {reply:?}"
        );
        let (seq, body) = send_b(position(-19.93, -43.95 + 0.00001 * f64::from(i)));
        let reply = vb.report("usb-2", seq, body).await;
        assert!(
            is_ack(&reply, Kind::Applied),
            "B acknowledges report {seq} without Redis: {reply:?}"
        );
    }
    let (seq, body) = send_a(status(pb::UnitStatus::EnRoute, "usa-1", pb::UnitType::Usa));
    assert!(is_ack(&va.report("usa-1", seq, body).await, Kind::Applied));
    let (seq, body) = send_b(status(pb::UnitStatus::OnScene, "usb-2", pb::UnitType::Usb));
    assert!(is_ack(&vb.report("usb-2", seq, body).await, Kind::Applied));
    wait_on_wall(&mut wall_a, "usa-1", "en_route", "A's wall without Redis").await;
    wait_on_wall(&mut wall_b, "usb-2", "on_scene", "B's wall without Redis").await;
    assert_eq!(
        a.unit_state("usa-1").await.status,
        pb::UnitStatus::EnRoute as i32
    );
    // Stored: the store, not Redis, is what acknowledgements depend on.
    let id = samu_domain::UnitId::parse("u", "usa-1").unwrap();
    let history = a.store.status_history(&id).await.unwrap();
    assert_eq!(
        history.last().unwrap().status,
        samu_domain::UnitStatus::EnRoute
    );
    // Still down (the check above is not a fluke of timing). Redis stays
    // away a few seconds more, so that when it returns the instances'
    // subscribers are in a longer reconnection backoff: the next change may
    // be published before its peer has resubscribed.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(readyz(&b).await.0, 503);

    // --- Redis comes back on the same port --------------------------------
    redis.restart();
    // A change on A at once, before anything had time to reconnect.
    let (seq, body) = send_a(status(pb::UnitStatus::OnScene, "usa-1", pb::UnitType::Usa));
    assert!(is_ack(&va.report("usa-1", seq, body).await, Kind::Applied));
    // It reaches B's wall: published late, or republished when B asks its
    // peers to resynchronise after resubscribing.
    let seen = wait_on_wall(
        &mut wall_b,
        "usa-1",
        "on_scene",
        "a change on A made as Redis returned reaches B's wall",
    )
    .await;
    assert_eq!(seen["crew_complete"], true);
    // And what changed on B during the outage reaches A's wall.
    wait_on_wall(
        &mut wall_a,
        "usb-2",
        "on_scene",
        "A's wall catches up on usb-2's change made during the outage",
    )
    .await;
    for app in [&a, &b] {
        let body = eventually("/readyz is 200 again", || async {
            let (code, body) = readyz(app).await;
            (code == 200).then_some(body)
        })
        .await;
        assert_eq!(body["redis"], "ok");
    }

    // The fan-out carries new changes again, both ways, with nobody
    // restarted.
    let (seq, body) = send_a(status(
        pb::UnitStatus::Transporting,
        "usa-1",
        pb::UnitType::Usa,
    ));
    assert!(is_ack(&va.report("usa-1", seq, body).await, Kind::Applied));
    wait_on_wall(
        &mut wall_b,
        "usa-1",
        "transporting",
        "a change on A reaches B's wall after the outage",
    )
    .await;
    let (seq, body) = send_b(status(
        pb::UnitStatus::AtDestination,
        "usb-2",
        pb::UnitType::Usb,
    ));
    assert!(is_ack(&vb.report("usb-2", seq, body).await, Kind::Applied));
    wait_on_wall(
        &mut wall_a,
        "usb-2",
        "at_destination",
        "a change on B reaches A's wall after the outage",
    )
    .await;

    // A wall connecting to B now gets both units, current, in its snapshot.
    let snapshot = next_frame(&mut open_wall_raw(&b).await).await;
    let units = snapshot["units"].as_array().unwrap();
    let status_of = |id: &str| {
        units
            .iter()
            .find(|u| u["id"] == id)
            .map(|u| u["status"].clone())
    };
    assert_eq!(status_of("usa-1"), Some("transporting".into()));
    assert_eq!(status_of("usb-2"), Some("at_destination".into()));
}

async fn open_wall_raw(app: &TestApp) -> WallSocket {
    tokio_tungstenite::connect_async(format!(
        "ws://{}/ws/wall?token={}",
        app.http_addr, app.wall_token
    ))
    .await
    .unwrap()
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_resubscribes_asks_the_others_for_their_units() {
    // A peer that comes back to Redis after the others did would miss their
    // republished views: on (re)subscribing it asks for them. Here the peer
    // is a bare Redis client on the channel.
    let redis = RedisServer::start();
    let channel = format!("samu:resync:{}", redis.port);
    let a = TestApp::spawn_with(TestBackend::Sqlite, |c| {
        c.redis_url = Some(redis.url());
        c.fanout.channel = channel.clone();
    })
    .await;
    a.seed_central().await;
    let token = a.add_unit("usa-1", pb::UnitType::Usa).await;
    let mut v = a.vehicle(&token).await.unwrap();
    assert!(is_ack(
        &v.report("usa-1", 1, position(-19.92, -43.94)).await,
        Kind::Applied
    ));
    assert!(is_ack(
        &v.report("usa-1", 2, available("usa-1", pb::UnitType::Usa))
            .await,
        Kind::Applied
    ));
    eventually("A ready", || async {
        (readyz(&a).await.0 == 200).then_some(())
    })
    .await;

    // Long after A published, the peer subscribes, then asks.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(&channel).await.unwrap();
    // The wire format of samu-fanout's resync request.
    let request = r#"{"instance":"late-peer","resync":true}"#;
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::AsyncCommands::publish::<_, _, ()>(&mut conn, &channel, request)
        .await
        .unwrap();

    let mut messages = pubsub.on_message();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, messages.next())
            .await
            .expect("A answered the resync request within 10 s")
            .expect("subscription open");
        let payload: String = message.get_payload().unwrap();
        let envelope: Value = serde_json::from_str(&payload).expect("a JSON message");
        let event = &envelope["event"];
        if event["kind"] == "unit" && event["id"] == "usa-1" {
            assert_eq!(event["status"], "available_at_base");
            assert_ne!(envelope["instance"], "late-peer");
            break;
        }
    }
}
