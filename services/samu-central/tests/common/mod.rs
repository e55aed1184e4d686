//! Shared harness: a real server on random ports, on a fresh database, and
//! typed helpers to talk to it.
#![allow(dead_code)]

pub mod page;

use std::{future::Future, time::Duration};

use samu_central::{app::Application, config::Config};
use samu_proto::v1::{
    self as pb, admin_client::AdminClient, fleet_client::FleetClient,
    telemetry_client::TelemetryClient, vehicle_report::Body,
};
use samu_store::Role;
use samu_testkit::{TestBackend, TestDatabase};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{metadata::MetadataValue, transport::Channel, Request, Status, Streaming};

pub const BH: &str = "3106200";

/// A running server.
pub struct TestApp {
    pub grpc_url: String,
    /// The consoles' own gRPC port, when the configuration asked for one.
    pub console_grpc_url: Option<String>,
    pub http_url: String,
    pub http_addr: std::net::SocketAddr,
    pub admin_token: String,
    pub wall_token: String,
    pub config: Config,
    pub shutdown: CancellationToken,
    pub handle: Option<JoinHandle<anyhow::Result<()>>>,
    pub db: std::sync::Arc<TestDatabase>,
    pub data_dir: std::sync::Arc<tempfile_dir::Dir>,
    pub store: samu_store::Store,
    pub central: samu_runtime::Central,
}

/// A temporary data folder (the SQLite file of the test lives elsewhere).
pub mod tempfile_dir {
    #[derive(Debug)]
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn test_config(db: &TestDatabase, data_dir: &std::path::Path) -> Config {
    let mut config = Config {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: Some(db.url.clone()),
        data_dir: data_dir.display().to_string(),
        ..Config::default()
    };
    config.runtime.signal_sweep_ms = 100;
    config.runtime.running_figures_s = 1;
    config.http.wall.tick_ms = 50;
    config
}

impl TestApp {
    pub async fn spawn(backend: TestBackend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: TestBackend, tweak: impl FnOnce(&mut Config)) -> Self {
        samu_central::logging::init(samu_central::config::LogFormat::Pretty);
        let db = std::sync::Arc::new(backend.fresh().await);
        let dir = std::env::temp_dir().join(format!("samu-test-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = test_config(&db, &dir);
        tweak(&mut config);
        Self::start(config, db, std::sync::Arc::new(tempfile_dir::Dir(dir))).await
    }

    pub async fn start(
        config: Config,
        db: std::sync::Arc<TestDatabase>,
        data_dir: std::sync::Arc<tempfile_dir::Dir>,
    ) -> Self {
        let app = Application::build(config.clone(), false)
            .await
            .expect("the server builds");
        let grpc_addr = app.grpc_addr();
        let console_grpc_url = app.console_grpc_addr().map(|a| format!("http://{a}"));
        let http_addr = app.http_addr();
        let central = app.central().clone();
        let admin_token = central
            .issue_access_token(Role::Admin, "test admin", None)
            .await
            .unwrap()
            .token;
        let wall_token = central
            .issue_access_token(Role::Wall, "test wall", None)
            .await
            .unwrap()
            .token;
        let store = central.store().clone();
        let core = central.clone();
        let shutdown = app.shutdown_token();
        let handle = tokio::spawn(app.run_until_stopped());
        Self {
            grpc_url: format!("http://{grpc_addr}"),
            console_grpc_url,
            http_url: format!("http://{http_addr}"),
            http_addr,
            admin_token,
            wall_token,
            config,
            shutdown,
            handle: Some(handle),
            db,
            data_dir,
            store,
            central: core,
        }
    }

    /// A person with an account, logged in: their session token.
    pub async fn login_as(&self, role: Role, username: &str) -> String {
        let password = format!("{username}-senha-de-teste");
        self.central
            .create_user(samu_runtime::accounts::NewUser {
                username: username.into(),
                name: format!("{username} (teste)"),
                role,
                central: None,
                password: password.clone(),
            })
            .await
            .expect("user created");
        let (issued, _) = self
            .central
            .login(username, &password, chrono::TimeDelta::hours(1), None, None)
            .await
            .expect("login");
        issued.token
    }

    /// Another instance on the same database (its own data folder and
    /// ports), with `tweak` applied to its configuration: the second
    /// instance of the multi-instance tests.
    pub async fn peer(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = std::env::temp_dir().join(format!("samu-test-peer-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = test_config(&self.db, &dir);
        tweak(&mut config);
        Self::start(
            config,
            self.db.clone(),
            std::sync::Arc::new(tempfile_dir::Dir(dir)),
        )
        .await
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Starts a new server on the same database (and new ports).
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let mut config = self.config.clone();
        config.grpc_addr = "127.0.0.1:0".parse().unwrap();
        config.http_addr = "127.0.0.1:0".parse().unwrap();
        if config.console_grpc_addr.is_some() {
            config.console_grpc_addr = Some("127.0.0.1:0".parse().unwrap());
        }
        Self::start(config, self.db.clone(), self.data_dir.clone()).await
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.grpc_url.clone())
            .unwrap()
            .connect()
            .await
            .expect("connect to gRPC")
    }

    pub async fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel().await)
    }

    pub async fn fleet(&self) -> FleetClient<Channel> {
        FleetClient::new(self.channel().await)
    }

    /// Registers the BH central and one base at Praça Sete.
    pub async fn seed_central(&self) {
        let mut admin = self.admin().await;
        admin
            .upsert_central(authed(
                &self.admin_token,
                pb::Central {
                    id: BH.into(),
                    name: "SAMU BH".into(),
                    time_zone: String::new(),
                    population: 2_523_794,
                    ..Default::default()
                },
            ))
            .await
            .expect("central");
        admin
            .upsert_base(authed(
                &self.admin_token,
                pb::Base {
                    id: "bh-base-1".into(),
                    central_id: BH.into(),
                    name: "Base Centro".into(),
                    location: Some(pb::GeoPoint {
                        latitude: -19.9191,
                        longitude: -43.9386,
                    }),
                },
            ))
            .await
            .expect("base");
    }

    /// Registers a unit and returns its device token.
    pub async fn add_unit(&self, id: &str, unit_type: pb::UnitType) -> String {
        let mut admin = self.admin().await;
        admin
            .upsert_unit(authed(
                &self.admin_token,
                pb::Unit {
                    id: id.into(),
                    central_id: BH.into(),
                    r#type: unit_type.into(),
                    base_id: "bh-base-1".into(),
                    label: id.to_uppercase(),
                    habilitated_from: None,
                    retired_at: None,
                },
            ))
            .await
            .expect("unit");
        admin
            .issue_device_token(authed(
                &self.admin_token,
                pb::IssueDeviceTokenRequest { unit_id: id.into() },
            ))
            .await
            .expect("device token")
            .into_inner()
            .token
    }

    /// A unit's state, as the wall role reads it.
    pub async fn unit_state(&self, id: &str) -> pb::UnitState {
        self.fleet()
            .await
            .get_unit(authed(
                &self.wall_token,
                pb::GetUnitRequest { unit_id: id.into() },
            ))
            .await
            .expect("the unit exists")
            .into_inner()
    }

    /// Registers a unit, opens its stream and declares it available with a
    /// full crew (report 1, acknowledged as applied): its device token and
    /// the open stream.
    pub async fn available_vehicle(&self, id: &str, unit_type: pb::UnitType) -> (String, Vehicle) {
        let token = self.add_unit(id, unit_type).await;
        let mut v = self.vehicle(&token).await.expect("a vehicle stream");
        let reply = v.report(id, 1, available(id, unit_type)).await;
        assert!(is_ack(&reply, pb::ack::Kind::Applied), "{reply:?}");
        (token, v)
    }

    /// The live state of `unit` the store keeps (what a restart resumes
    /// from), if it has one.
    pub async fn stored_live_state(&self, unit: &str) -> Option<samu_fleet::UnitSnapshot> {
        let id = samu_domain::UnitId::parse("u", unit).unwrap();
        self.store
            .load_fleet(chrono::Utc::now())
            .await
            .expect("the store answers")
            .into_iter()
            .find(|(record, _)| record.id == id)
            .and_then(|(_, snapshot)| snapshot)
    }

    /// Opens a vehicle stream.
    pub async fn vehicle(&self, token: &str) -> Result<Vehicle, Status> {
        let (tx, rx) = mpsc::channel(1024);
        let mut client = TelemetryClient::new(self.channel().await);
        let replies = client
            .stream(authed(token, ReceiverStream::new(rx)))
            .await?
            .into_inner();
        Ok(Vehicle { tx, replies })
    }
}

/// One open vehicle stream.
pub struct Vehicle {
    pub tx: mpsc::Sender<pb::VehicleReport>,
    pub replies: Streaming<pb::IngestReply>,
}

impl Vehicle {
    pub async fn send(&self, unit: &str, seq: u64, body: Body) {
        self.tx
            .send(pb::VehicleReport {
                seq,
                unit_id: unit.into(),
                body: Some(body),
            })
            .await
            .expect("stream open");
    }

    /// The next reply, within 10 s.
    pub async fn reply(&mut self) -> Result<pb::IngestReply, Status> {
        match tokio::time::timeout(Duration::from_secs(10), self.replies.message()).await {
            Ok(Ok(Some(r))) => Ok(r),
            Ok(Ok(None)) => Err(Status::cancelled("stream ended")),
            Ok(Err(status)) => Err(status),
            Err(_) => panic!("no reply within 10 s"),
        }
    }

    /// Sends and waits for the reply to that sequence number.
    pub async fn report(&mut self, unit: &str, seq: u64, body: Body) -> pb::IngestReply {
        self.send(unit, seq, body).await;
        loop {
            let reply = self.reply().await.expect("a reply");
            if reply.seq == seq {
                return reply;
            }
        }
    }
}

/// A nearest-units question at a point, for `types`; `central` empty asks
/// the whole state.
pub fn nearest_request(
    latitude: f64,
    longitude: f64,
    types: &[pb::UnitType],
    limit: u32,
    central: &str,
) -> pb::NearestUnitsRequest {
    pb::NearestUnitsRequest {
        point: Some(pb::GeoPoint {
            latitude,
            longitude,
        }),
        types: types.iter().map(|t| (*t).into()).collect(),
        limit,
        central_id: central.into(),
    }
}

pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    request
}

pub fn now_ts() -> prost_types::Timestamp {
    ts(chrono::Utc::now())
}

pub fn ts(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Now, but always at least a millisecond after the last fix this test
/// binary made: the server keeps fix times to the millisecond and takes a
/// fix no newer than the unit's last as stale, and two reports can go and
/// be acknowledged within one millisecond.
pub fn fix_now() -> prost_types::Timestamp {
    static LAST_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now = chrono::Utc::now().timestamp_millis();
    let previous = LAST_MS
        .fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |last| Some(now.max(last + 1)),
        )
        .unwrap_or(now);
    let ms = now.max(previous + 1);
    ts(chrono::DateTime::from_timestamp_millis(ms).expect("a valid time"))
}

pub fn position(lat: f64, lon: f64) -> Body {
    Body::Position(pb::Position {
        fix_time: Some(fix_now()),
        latitude: lat,
        longitude: lon,
        speed_mps: Some(0.0),
        heading_deg: Some(90.0),
        accuracy_m: Some(5.0),
    })
}

/// A complete crew of the unit's type.
pub fn full_crew(unit: &str, unit_type: pb::UnitType) -> Vec<pb::CrewMember> {
    samu_demo::sim::complete_crew(unit_type, unit)
}

pub fn available(unit: &str, unit_type: pb::UnitType) -> Body {
    crew_status(pb::UnitStatus::AvailableAtBase, full_crew(unit, unit_type))
}

pub fn crew_status(status: pb::UnitStatus, crew: Vec<pb::CrewMember>) -> Body {
    Body::CrewStatus(pb::CrewStatus {
        reported_at: Some(now_ts()),
        status: status.into(),
        out_of_service_reason: if status == pb::UnitStatus::OutOfService {
            pb::OutOfServiceReason::Maintenance.into()
        } else {
            0
        },
        crew,
    })
}

pub fn is_ack(reply: &pb::IngestReply, kind: pb::ack::Kind) -> bool {
    matches!(&reply.outcome, Some(pb::ingest_reply::Outcome::Ack(a)) if a.kind == kind as i32)
}

pub fn rejected_field(reply: &pb::IngestReply) -> Option<String> {
    match &reply.outcome {
        Some(pb::ingest_reply::Outcome::Rejection(r)) => Some(r.field.clone()),
        _ => None,
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most 10 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A Redis channel of this test's own on the shared throwaway Redis.
pub fn test_channel() -> String {
    format!("samu:test:{}", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A wall client's socket.
pub type WallSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame of a wall socket, as JSON, within 10 s.
pub async fn next_frame(socket: &mut WallSocket) -> serde_json::Value {
    use futures::StreamExt;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("valid frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON frame");
        }
    }
}
