//! A bounded run: vehicles, walls and queries, then the summary.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::StreamExt;
use hdrhistogram::Histogram;
use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_demo::link::{LinkStats, VehicleLink};
use samu_proto::v1::{self as pb, fleet_client::FleetClient};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::{
    args::{Args, BareClient},
    floor::LoopbackFloor,
    h2stream, process, setup,
    timeline::{self, WorstOf},
    vehicle::{self, Reports},
};

/// Latency limits of the targets, in microseconds: what the timeline
/// counts as a slow query or a late unit view.
const NEAREST_LIMIT_US: u64 = 2_000;
const WALL_LIMIT_US: u64 = 150_000;

/// The one line of JSON a run ends with. Latencies in milliseconds; the
/// fields of `contracts.md` first.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Vehicle streams.
    pub vehicles: usize,
    /// Wall clients.
    pub walls: usize,
    /// Centrals the units and walls were spread over.
    pub centrals: usize,
    /// Seconds measured.
    pub duration_s: f64,
    /// Reports handed to the vehicle links (whole run).
    pub reports_sent: u64,
    /// Reports acknowledged by the server (whole run).
    pub reports_acked: u64,
    /// Acknowledgements per second during the measured window.
    pub ingest_per_s: f64,
    /// Fix time to wall frame, median.
    pub wall_latency_p50_ms: f64,
    /// Fix time to wall frame, 99th percentile.
    pub wall_latency_p99_ms: f64,
    /// Nearest-unit query round trip, 99th percentile.
    pub nearest_p99_ms: f64,
    /// Server resident memory at the end, MiB.
    pub server_rss_mib: f64,
    /// Rejections, stream breaks, failed queries, wall disconnects.
    pub errors: u64,
    /// Nearest-unit query round trip, median.
    pub nearest_p50_ms: f64,
    /// Nearest-unit queries made.
    pub nearest_queries: u64,
    /// The same queries on the console port (`--console-grpc`), median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_console_p50_ms: Option<f64>,
    /// The same queries on the console port, 99th percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_console_p99_ms: Option<f64>,
    /// Queries made on the console port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_console_queries: Option<u64>,
    /// The machine's floor in the same window: 64 bytes to an echo thread
    /// and back over loopback from the nearest probes' thread, median
    /// ([`crate::floor`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loopback_p50_ms: Option<f64>,
    /// The same floor, 99th percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loopback_p99_ms: Option<f64>,
    /// Unit views received by the walls during the measured window.
    pub wall_updates: u64,
    /// Server resident memory once the units existed, before the streams.
    pub server_rss_start_mib: f64,
    /// (end RSS − start RSS) ÷ vehicles, KiB.
    pub rss_per_vehicle_kib: f64,
    /// Server CPU during the measured window, % of one core.
    pub server_cpu_pct: f64,
    /// The generator's own CPU during the window, % of one core: on a
    /// shared machine, what the server did not get.
    pub generator_cpu_pct: f64,
    /// The whole machine's busy time during the window, % of all its cores
    /// (100 = saturated; the rest went to PostgreSQL and the kernel).
    pub machine_busy_pct: f64,
    /// Every PostgreSQL process's CPU during the window (backends,
    /// autovacuum, checkpointer, WAL writer), % of one core, when one runs
    /// on this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_cpu_pct: Option<f64>,
    /// Reports the server rejected.
    pub rejected: u64,
    /// Vehicle stream reconnects.
    pub reconnects: u64,
    /// Track rows stored for the run's units (with `--database-url`).
    pub stored_track_rows: Option<u64>,
    /// Whether the server's write queue and local spool were empty when the
    /// track was counted (acknowledged reports may wait in the spool while
    /// the store is slow; they are counted once flushed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_track_settled: Option<bool>,
    /// With `--bare-streams`, their client (`tonic` or `h2`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bare_client: Option<&'static str>,
}

/// What the generator reads of a wall frame: its type and each unit's fix
/// time (serde skips the rest without building it).
#[derive(serde::Deserialize)]
struct WallFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    units: Vec<FixStamp<'a>>,
}

#[derive(serde::Deserialize)]
struct FixStamp<'a> {
    #[serde(default, borrow)]
    fix_at: Option<std::borrow::Cow<'a, str>>,
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

/// Runs the load and returns its summary.
///
/// # Errors
/// The tokens file is unreadable, the server unreachable, or the admin API
/// refused the setup.
pub async fn run(args: Args) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        !args.bare_streams || args.rate == 0.0,
        "--bare-streams sends as fast as acknowledged: use it with --rate 0"
    );
    anyhow::ensure!(
        args.bare_client == BareClient::Tonic
            || (args.bare_streams && args.vehicles_per_connection <= 1),
        "--bare-client h2 opens one connection per vehicle: use it with --bare-streams and --vehicles-per-connection 1"
    );
    anyhow::ensure!(
        args.bare_client == BareClient::Tonic || args.grpc.starts_with("http://"),
        "--bare-client h2 speaks plaintext HTTP/2 only: give --grpc as http://host:port"
    );
    let tokens: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&args.token_file)
            .with_context(|| format!("cannot read {}", args.token_file.display()))?,
    )
    .context("the token file is not JSON")?;
    let admin = tokens["admin"]
        .as_str()
        .context("no \"admin\" token in the token file")?
        .to_owned();
    let wall = tokens["wall"].as_str().unwrap_or(&admin).to_owned();
    let endpoint = Endpoint::from_shared(args.grpc.clone()).context("invalid --grpc")?;
    let admin_channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach {}", args.grpc))?;
    let centrals = setup::central_ids(&args.central_id, args.centrals)?;
    let units = setup::create(admin_channel.clone(), &admin, &centrals, args.vehicles).await?;
    let pid = args.server_pid.or_else(process::find_server);
    let rss_start = pid.and_then(process::rss_kib).unwrap_or(0);

    let shutdown = CancellationToken::new();
    let measuring = Arc::new(AtomicBool::new(false));
    let walls = Figures::new()?;
    let mut tasks = JoinSet::new();

    let ws_base = args
        .http
        .replacen("http://", "ws://", 1)
        .replacen("https://", "wss://", 1);
    // The clients that measure (the sampled walls, the nearest queries) run
    // on threads and runtimes of their own: on the generator's runtime their
    // reads would queue behind 10 000 vehicle tasks, and the figures would
    // carry the generator's own scheduling delay instead of the server's.
    // The walls and the nearest queries get one thread each: a measuring
    // wall parses every unit of every frame (10 walls of 500 units a tick
    // in the every-wall phase, milliseconds of work), and a nearest answer
    // arriving meanwhile waited behind that parsing, so the client's p99
    // carried the generator's JSON decoding.
    let wall_probes = Probes::start("samu-load-walls", false)?;
    let nearest_probes = Probes::start("samu-load-nearest", args.probe_realtime)?;
    let mut probe_tasks = Vec::new();
    for wall_no in 0..args.walls {
        let measures = wall_no < args.measured_walls.max(1);
        let url = format!(
            "{ws_base}/ws/wall?token={wall}&central={}",
            centrals[wall_no % centrals.len()]
        );
        let client = wall_client(
            url,
            measures,
            shutdown.clone(),
            measuring.clone(),
            walls.clone(),
        );
        if measures {
            probe_tasks.push(wall_probes.spawn(client));
        } else {
            tasks.spawn(client);
        }
    }

    // Vehicles: one link each, over connections of `vehicles_per_connection`.
    let first_seq = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(1);
    let per_connection = args.vehicles_per_connection.max(1);
    let grpc_uri: http::Uri = args.grpc.parse().context("invalid --grpc")?;
    let window = if args.rate > 0.0 {
        64
    } else {
        args.window.max(1)
    };
    let mut stats: Vec<Arc<LinkStats>> = Vec::with_capacity(units.len());
    let mut channel: Option<Channel> = None;
    for (i, unit) in units.iter().enumerate() {
        if i % per_connection == 0 || channel.is_none() {
            channel = Some(endpoint.clone().tcp_nodelay(true).connect_lazy());
        }
        let mut reports = Reports::new(i, unit);
        if args.bare_streams {
            let link_stats = Arc::new(LinkStats::default());
            stats.push(link_stats.clone());
            let (unit, shutdown) = (unit.clone(), shutdown.clone());
            match args.bare_client {
                BareClient::H2 => tasks.spawn(h2stream::h2_stream(
                    grpc_uri.clone(),
                    unit,
                    reports,
                    first_seq,
                    link_stats,
                    shutdown,
                )),
                BareClient::Tonic => tasks.spawn(vehicle::bare_stream(
                    channel.clone().expect("set above"),
                    unit,
                    reports,
                    first_seq,
                    link_stats,
                    shutdown,
                )),
            };
            continue;
        }
        let (link, handle) = VehicleLink::spawn_with_window(
            channel.clone().expect("set above"),
            unit.id.clone(),
            unit.token.clone(),
            first_seq,
            window,
            shutdown.clone(),
        );
        stats.push(link.stats().clone());
        tasks.spawn(async move {
            let _ = handle.await;
        });
        let (unit, shutdown, rate) = (unit.clone(), shutdown.clone(), args.rate);
        tasks.spawn(async move {
            if !link.send(Reports::crew(&unit)).await {
                return;
            }
            let mut ticker = (rate > 0.0).then(|| {
                let period = Duration::from_secs_f64(1.0 / rate);
                let phase = period.mul_f64(reports.rng().random::<f64>());
                tokio::time::interval_at(tokio::time::Instant::now() + phase, period)
            });
            loop {
                if let Some(t) = ticker.as_mut() {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = t.tick() => {}
                    }
                } else if shutdown.is_cancelled() {
                    return;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    sent = link.send(reports.next_position()) => if !sent { return },
                }
            }
        });
    }
    let acked = |stats: &[Arc<LinkStats>]| {
        stats
            .iter()
            .map(|s| s.acked.load(Ordering::Relaxed))
            .sum::<u64>()
    };

    // Ramp: every vehicle's first report acknowledged, or 60 s.
    let ramp_deadline = Instant::now() + Duration::from_secs(60);
    while stats
        .iter()
        .filter(|s| s.acked.load(Ordering::Relaxed) > 0)
        .count()
        < units.len()
        && Instant::now() < ramp_deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The nearest queries: on the main port, and with `--console-grpc` the
    // same queries at the same rate on the console port, side by side.
    let nearest = Figures::new()?;
    let console_nearest = Figures::new()?;
    if args.nearest_rate > 0.0 {
        let mut targets = vec![(endpoint.clone(), nearest.clone())];
        if let Some(url) = &args.console_grpc {
            let console = Endpoint::from_shared(url.clone())
                .with_context(|| format!("bad --console-grpc {url}"))?;
            targets.push((console, console_nearest.clone()));
        }
        for (endpoint, figures) in targets {
            let query = NearestProbe {
                endpoint,
                token: wall.clone(),
                central: centrals[0].clone(),
                rate: args.nearest_rate,
                figures,
                measuring: measuring.clone(),
            };
            probe_tasks.push(nearest_probes.spawn(query.run(shutdown.clone())));
        }
    }
    let floor = if args.nearest_rate > 0.0 {
        let floor = LoopbackFloor::start(args.probe_realtime)?;
        probe_tasks.push(nearest_probes.spawn(floor.clone().run(
            args.nearest_rate,
            measuring.clone(),
            shutdown.clone(),
        )));
        Some(floor)
    } else {
        None
    };

    tokio::time::sleep(Duration::from_secs(args.warmup)).await;

    let cpu_start = process::CpuReading::now(pid);
    let acked_start = acked(&stats);
    scrape_metrics(&args.http, args.metrics_out.as_deref(), "before").await;
    let started = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    let timeline_stop = CancellationToken::new();
    let timeline = args.timeline.clone().map(|path| {
        tokio::spawn(timeline::record(
            path,
            timeline::Sources {
                server_pid: pid,
                database_url: args.database_url.clone(),
                console_nearest: console_nearest.worst.clone(),
                nearest: nearest.worst.clone(),
                wall: walls.worst.clone(),
                floor: floor.as_ref().map(LoopbackFloor::worst),
            },
            timeline_stop.clone(),
        ))
    });
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    timeline_stop.cancel();
    if let Some(task) = timeline {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    scrape_metrics(&args.http, args.metrics_out.as_deref(), "after").await;
    let acked_end = acked(&stats);
    let cpu = process::CpuReading::now(pid).shares_since(&cpu_start, elapsed);
    let rss_end = pid.and_then(process::rss_kib).unwrap_or(0);

    // Let in-flight reports be acknowledged, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
        for task in probe_tasks {
            let _ = task.await;
        }
    })
    .await;
    wall_probes.stop();
    nearest_probes.stop();

    let sum = |f: fn(&LinkStats) -> &AtomicU64| {
        stats
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let rejected = sum(|s| &s.rejected);
    let reconnects = sum(|s| &s.reconnects);
    let (stored_track_rows, stored_track_settled) = match &args.database_url {
        None => (None, None),
        Some(url) => {
            let settled = settle(&args.http, Duration::from_secs(180)).await;
            (
                Some(count_track(url, &centrals, first_seq).await?),
                Some(settled),
            )
        }
    };
    let wall_latency = walls.histogram();
    let nearest_latency = nearest.histogram();
    let console_latency = console_nearest.histogram();
    let console = args.console_grpc.is_some() && args.nearest_rate > 0.0;
    let floor_latency = floor.as_ref().map(LoopbackFloor::histogram);
    Ok(Summary {
        vehicles: units.len(),
        walls: args.walls,
        centrals: centrals.len(),
        duration_s: (elapsed * 100.0).round() / 100.0,
        reports_sent: sum(|s| &s.sent),
        reports_acked: sum(|s| &s.acked),
        ingest_per_s: ((acked_end - acked_start) as f64 / elapsed).round(),
        wall_latency_p50_ms: ms(&wall_latency, 0.5),
        wall_latency_p99_ms: ms(&wall_latency, 0.99),
        nearest_p99_ms: ms(&nearest_latency, 0.99),
        server_rss_mib: (rss_end as f64 / 1024.0 * 10.0).round() / 10.0,
        errors: rejected
            + reconnects
            + nearest.errors.load(Ordering::Relaxed)
            + console_nearest.errors.load(Ordering::Relaxed)
            + walls.errors.load(Ordering::Relaxed),
        nearest_p50_ms: ms(&nearest_latency, 0.5),
        nearest_queries: nearest.count.load(Ordering::Relaxed),
        nearest_console_p50_ms: console.then(|| ms(&console_latency, 0.5)),
        nearest_console_p99_ms: console.then(|| ms(&console_latency, 0.99)),
        nearest_console_queries: console.then(|| console_nearest.count.load(Ordering::Relaxed)),
        loopback_p50_ms: floor_latency.as_ref().map(|h| ms(h, 0.5)),
        loopback_p99_ms: floor_latency.as_ref().map(|h| ms(h, 0.99)),
        wall_updates: walls.count.load(Ordering::Relaxed),
        server_rss_start_mib: (rss_start as f64 / 1024.0 * 10.0).round() / 10.0,
        rss_per_vehicle_kib: if units.is_empty() {
            0.0
        } else {
            ((rss_end.saturating_sub(rss_start)) as f64 / units.len() as f64 * 10.0).round() / 10.0
        },
        server_cpu_pct: cpu.server.unwrap_or(0.0),
        generator_cpu_pct: cpu.generator.unwrap_or(0.0),
        machine_busy_pct: cpu.machine_busy.unwrap_or(0.0),
        postgres_cpu_pct: cpu.postgres,
        rejected,
        reconnects,
        stored_track_rows,
        stored_track_settled,
        bare_client: args.bare_streams.then_some(match args.bare_client {
            BareClient::Tonic => "tonic",
            BareClient::H2 => "h2",
        }),
    })
}

/// A thread running a current-thread runtime for the measuring clients.
struct Probes {
    runtime: tokio::runtime::Handle,
    stop: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl Probes {
    /// A thread named `name` with a runtime of its own, at real-time
    /// priority when `realtime` is set.
    fn start(name: &str, realtime: bool) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot build the probes' runtime")?;
        let handle = runtime.handle().clone();
        let stop = CancellationToken::new();
        let until = stop.clone();
        let thread =
            crate::realtime::spawn(name, realtime, move || runtime.block_on(until.cancelled()))?;
        Ok(Self {
            runtime: handle,
            stop,
            thread,
        })
    }

    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(task)
    }

    /// Ends the thread; tasks still running are dropped with its runtime.
    fn stop(self) {
        self.stop.cancel();
        let _ = self.thread.join();
    }
}

/// A wall client: reads every frame; a measuring one times each unit's
/// fix against the frame's arrival while `measuring` is set.
async fn wall_client(
    url: String,
    measures: bool,
    shutdown: CancellationToken,
    measuring: Arc<AtomicBool>,
    figures: Figures,
) {
    let Figures {
        latency,
        worst,
        count: updates,
        errors,
    } = figures;
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&url).await else {
        errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = socket.next() => m,
        };
        let Some(Ok(message)) = message else {
            if !shutdown.is_cancelled() {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        let Message::Text(text) = message else {
            continue;
        };
        if !measures || !measuring.load(Ordering::Relaxed) {
            continue;
        }
        // The frame's arrival, before it is parsed: parsing is the
        // generator's work, not part of the way to the wall.
        let now = chrono::Utc::now();
        let Ok(frame) = serde_json::from_str::<WallFrame<'_>>(&text) else {
            continue;
        };
        if frame.kind != "delta" {
            continue;
        }
        let mut h = latency.lock().unwrap_or_else(|e| e.into_inner());
        for unit in &frame.units {
            let Some(fix) = unit
                .fix_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            else {
                continue;
            };
            let micros = (now - fix.with_timezone(&chrono::Utc))
                .num_microseconds()
                .unwrap_or(0)
                .max(0);
            let _ = h.record(micros as u64);
            worst.record(micros as u64, WALL_LIMIT_US);
            updates.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a probe measured: one nearest probe, or the measuring walls
/// together (their count: unit views timed).
#[derive(Clone)]
struct Figures {
    latency: Arc<Mutex<Histogram<u64>>>,
    worst: Arc<WorstOf>,
    errors: Arc<AtomicU64>,
    count: Arc<AtomicU64>,
}

impl Figures {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: Arc::new(Mutex::new(Histogram::<u64>::new(3)?)),
            worst: WorstOf::shared(),
            errors: Arc::new(AtomicU64::new(0)),
            count: Arc::new(AtomicU64::new(0)),
        })
    }

    fn histogram(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Nearest-unit queries at a steady rate over a connection of their own.
struct NearestProbe {
    endpoint: Endpoint,
    token: String,
    central: String,
    rate: f64,
    figures: Figures,
    /// Queries are made from the start, timed only inside the window.
    measuring: Arc<AtomicBool>,
}

impl NearestProbe {
    async fn run(self, shutdown: CancellationToken) {
        // Connected from this runtime, so the channel's tasks run here too.
        let Ok(channel) = self.endpoint.clone().tcp_nodelay(true).connect().await else {
            self.figures.errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut fleet = FleetClient::new(channel);
        let mut rng = StdRng::seed_from_u64(99);
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let point = pb::GeoPoint {
                latitude: setup::CENTRE.0 + rng.random_range(-0.25..0.25),
                longitude: setup::CENTRE.1 + rng.random_range(-0.25..0.25),
            };
            let Ok(request) = setup::authed(
                &self.token,
                pb::NearestUnitsRequest {
                    point: Some(point),
                    types: vec![pb::UnitType::Usb.into()],
                    limit: 5,
                    central_id: self.central.clone(),
                },
            ) else {
                continue;
            };
            let started = Instant::now();
            let answer = fleet.nearest_units(request).await;
            if !self.measuring.load(Ordering::Relaxed) {
                continue;
            }
            match answer {
                Ok(_) => {
                    let micros = started.elapsed().as_micros() as u64;
                    let _ = self
                        .figures
                        .latency
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .record(micros);
                    self.figures.worst.record(micros, NEAREST_LIMIT_US);
                    self.figures.count.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.figures.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Writes the server's `/metrics` to `PREFIX-WHEN.txt` when a prefix is
/// given; a failed scrape is reported and the run goes on.
async fn scrape_metrics(http: &str, prefix: Option<&std::path::Path>, when: &str) {
    let Some(prefix) = prefix else {
        return;
    };
    let url = format!("{}/metrics", http.trim_end_matches('/'));
    let path = format!("{}-{when}.txt", prefix.display());
    let body = match reqwest::get(&url).await {
        Ok(response) => response.text().await,
        Err(e) => Err(e),
    };
    let written = match body {
        Ok(body) => std::fs::write(&path, body).map_err(anyhow::Error::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = written {
        eprintln!("samu-load: cannot save {url} to {path}: {e}");
    }
}

/// Waits, up to `limit`, until the server's `/readyz` says its write queue
/// and its local spool are empty: every acknowledged report is then in the
/// store. False when they were not by then.
async fn settle(http: &str, limit: Duration) -> bool {
    let client = reqwest::Client::new();
    let url = format!("{}/readyz", http.trim_end_matches('/'));
    let deadline = Instant::now() + limit;
    loop {
        let ready: Option<serde_json::Value> = match client.get(&url).send().await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let settled = ready.is_some_and(|r| {
            r["write_backlog"].as_u64() == Some(0)
                && r["spool"]["spooled_batches"].as_u64() == Some(0)
        });
        if settled {
            return true;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "samu-load: the server's writes did not settle in {limit:?}; counting anyway"
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Track rows stored for this run's reports: its units, from its first
/// sequence number on (earlier runs on the same centrals started lower).
async fn count_track(url: &str, centrals: &[String], first_seq: u64) -> anyhow::Result<u64> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .context("cannot open --database-url")?;
    let mut total = 0;
    for central in centrals {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM unit_positions WHERE unit_id LIKE $1 AND seq >= $2",
        )
        .bind(format!("load-{central}-%"))
        .bind(i64::try_from(first_seq).unwrap_or(i64::MAX))
        .fetch_one(&mut conn)
        .await?
        .try_get("n")?;
        total += u64::try_from(n).unwrap_or(0);
    }
    Ok(total)
}
