//! The quick variant of the load test, in the suite so the generator never
//! rots: a real server in-process, a few vehicles for a couple of seconds.

use samu_testkit::{TestBackend, TestDatabase};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A server in-process on random ports, and the generator's options for it.
struct Quick {
    args: samu_load::Args,
    dir: std::path::PathBuf,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
    _db: TestDatabase,
}

impl Quick {
    async fn start(name: &str) -> Self {
        let db = TestBackend::Sqlite.fresh().await;
        let dir = std::env::temp_dir().join(format!("samu-load-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = samu_central::config::Config {
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            console_grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
            database_url: Some(db.url.clone()),
            data_dir: dir.display().to_string(),
            ..Default::default()
        };
        // Keep every fix so the stored track can be checked against the acks.
        config.fleet.track.min_interval_s = 0;
        config.fleet.track.min_distance_m = 0.0;
        config.http.wall.tick_ms = 50;
        let app = samu_central::app::Application::build(config, false)
            .await
            .unwrap();
        let central = app.central().clone();
        let admin = central
            .issue_access_token(samu_store::Role::Admin, "load admin", None)
            .await
            .unwrap()
            .token;
        let wall = central
            .issue_access_token(samu_store::Role::Wall, "load wall", None)
            .await
            .unwrap()
            .token;
        let token_file = dir.join("tokens.json");
        std::fs::write(
            &token_file,
            serde_json::json!({"admin": admin, "wall": wall}).to_string(),
        )
        .unwrap();
        let (grpc, http) = (
            format!("http://{}", app.grpc_addr()),
            format!("http://{}", app.http_addr()),
        );
        let console_grpc = app.console_grpc_addr().map(|a| format!("http://{a}"));
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());

        let args = samu_load::Args {
            grpc,
            http,
            token_file,
            vehicles: 20,
            walls: 2,
            measured_walls: 1,
            duration: 2,
            warmup: 1,
            rate: 5.0,
            window: 8,
            bare_streams: false,
            bare_client: samu_load::args::BareClient::Tonic,
            nearest_rate: 20.0,
            probe_realtime: false,
            console_grpc,
            central_id: "3199990".into(),
            centrals: 2,
            vehicles_per_connection: 4,
            server_pid: Some(std::process::id()),
            database_url: Some(db.url.clone()),
            max_run_s: 60,
            metrics_out: Some(dir.join("metrics")),
            timeline: Some(dir.join("timeline.jsonl")),
        };
        Self {
            args,
            dir,
            shutdown,
            server,
            _db: db,
        }
    }

    /// Ten bare streams for a second, as fast as acknowledged, with nothing
    /// else running (tonic's client unless the caller picks another).
    fn bare_args(&self) -> samu_load::Args {
        samu_load::Args {
            vehicles: 10,
            walls: 0,
            duration: 1,
            rate: 0.0,
            window: 1,
            bare_streams: true,
            nearest_rate: 0.0,
            metrics_out: None,
            ..self.args.clone()
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every acknowledged position is in the store once the writes settled
/// (the acknowledgements include one crew report per vehicle).
fn assert_nothing_lost(summary: &samu_load::Summary) {
    let json = serde_json::to_value(summary).unwrap();
    assert_eq!(summary.stored_track_settled, Some(true), "{json}");
    let stored = summary.stored_track_rows.unwrap();
    assert!(
        stored + summary.vehicles as u64 >= summary.reports_acked,
        "stored {stored} of {} acked: {json}",
        summary.reports_acked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_reports_every_figure() {
    let quick = Quick::start("quick").await;
    let dir = quick.dir.clone();
    let summary = samu_load::run(quick.args.clone()).await.unwrap();
    let json = serde_json::to_value(&summary).unwrap();
    for field in [
        "vehicles",
        "walls",
        "duration_s",
        "reports_sent",
        "reports_acked",
        "ingest_per_s",
        "wall_latency_p50_ms",
        "wall_latency_p99_ms",
        "nearest_p99_ms",
        "server_rss_mib",
        "errors",
    ] {
        assert!(!json[field].is_null(), "{field} missing from {json}");
    }
    assert_eq!(summary.vehicles, 20);
    assert_eq!(summary.errors, 0, "{json}");
    assert!(summary.reports_acked >= 20 * 5, "{json}");
    assert!(summary.ingest_per_s > 0.0, "{json}");
    assert!(summary.nearest_queries > 0, "{json}");
    assert!(summary.nearest_console_queries.unwrap() > 0, "{json}");
    assert!(summary.nearest_console_p99_ms.unwrap() > 0.0, "{json}");
    // The machine's floor is measured beside the queries, in the window.
    assert!(summary.loopback_p99_ms.unwrap() > 0.0, "{json}");
    assert!(
        summary.loopback_p50_ms.unwrap() <= summary.loopback_p99_ms.unwrap(),
        "{json}"
    );
    assert!(summary.wall_updates > 0, "{json}");
    assert!(summary.server_rss_mib > 0.0, "{json}");
    assert_nothing_lost(&summary);
    // The server's histograms of the measured window, scraped at its ends:
    // the fixes' way in and their way to the walls were both observed by
    // the time the window closed.
    let before = std::fs::read_to_string(dir.join("metrics-before.txt")).unwrap();
    let after = std::fs::read_to_string(dir.join("metrics-after.txt")).unwrap();
    for name in ["samu_report_age_seconds", "samu_wall_fix_age_seconds"] {
        let count = |text: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}_count ")))
                .and_then(|n| n.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        assert!(
            count(&after) > count(&before),
            "{name} not observed in the window: {after}"
        );
    }
    // The window second by second: CPU and the probes' worst, each second.
    let timeline = std::fs::read_to_string(dir.join("timeline.jsonl")).unwrap();
    let seconds: Vec<serde_json::Value> = timeline
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!seconds.is_empty(), "no second in the timeline");
    for second in &seconds {
        assert!(second["t"].as_f64().unwrap() > 0.0, "{second}");
        for field in [
            "server_cpu_pct",
            "machine_busy_pct",
            "console_nearest_max_ms",
            "nearest_max_ms",
            "wall_max_ms",
            "floor_max_ms",
        ] {
            assert!(second[field].is_number(), "{field} missing from {second}");
        }
    }
    assert!(
        seconds
            .iter()
            .any(|s| s["console_nearest_max_ms"].as_f64().unwrap() > 0.0),
        "{timeline}"
    );
    quick.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_streams_send_as_fast_as_acknowledged_and_lose_nothing() {
    let quick = Quick::start("bare").await;
    let args = quick.bare_args();
    let summary = samu_load::run(args.clone()).await.unwrap();
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(summary.vehicles, 10);
    assert_eq!(summary.errors, 0, "{json}");
    // Each vehicle's crew report, then positions one after another.
    assert!(summary.reports_acked > 10 * 5, "{json}");
    assert!(summary.ingest_per_s > 0.0, "{json}");
    assert_nothing_lost(&summary);
    // Bare streams send as fast as acknowledged, never at a rate.
    let paced = samu_load::Args {
        rate: 1.0,
        central_id: "3199980".into(),
        ..args
    };
    let refused = samu_load::run(paced).await.unwrap_err();
    assert!(refused.to_string().contains("--rate 0"), "{refused}");
    quick.stop().await;
}

/// The bare streams over `h2` itself: the same gRPC call, acknowledged and
/// stored like tonic's; refused on shared connections, without
/// `--bare-streams` (where it has nothing to stand for) and for an
/// `https://` server (it speaks plaintext HTTP/2 only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_h2_streams_are_acknowledged_and_lose_nothing() {
    use samu_load::args::BareClient;
    let quick = Quick::start("bare-h2").await;
    let args = samu_load::Args {
        bare_client: BareClient::H2,
        vehicles_per_connection: 1,
        ..quick.bare_args()
    };
    let summary = samu_load::run(args.clone()).await.unwrap();
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(summary.vehicles, 10);
    assert_eq!(summary.bare_client, Some("h2"), "{json}");
    assert_eq!(summary.errors, 0, "{json}");
    assert!(summary.reports_acked > 10 * 5, "{json}");
    assert!(summary.ingest_per_s > 0.0, "{json}");
    assert_nothing_lost(&summary);
    for wrong in [
        samu_load::Args {
            vehicles_per_connection: 4,
            central_id: "3199981".into(),
            ..args.clone()
        },
        samu_load::Args {
            bare_streams: false,
            central_id: "3199982".into(),
            ..args.clone()
        },
        samu_load::Args {
            grpc: args.grpc.replacen("http://", "https://", 1),
            central_id: "3199983".into(),
            ..args
        },
    ] {
        let refused = samu_load::run(wrong).await.unwrap_err();
        assert!(
            refused.to_string().contains("--bare-client h2"),
            "{refused}"
        );
    }
    quick.stop().await;
}
