//! `samu-peers`: the work samu-central does, done the way teams often do it
//! instead, on this machine, for ratios measured in the same run:
//!
//! - position updates as `GEOADD` to Redis from C concurrent clients, one
//!   command per round trip (no pipelining, like our one report per message);
//! - nearest-of-type as `GEOSEARCH … FROMLONLAT … BYRADIUS … ASC COUNT k`
//!   (Redis) and as a PostGIS `ORDER BY geom <-> point LIMIT k` query;
//! - and, for the same points, samu-central's own `NearestUnits` over gRPC.
//!
//! Prints one line of JSON. Targets only the URLs given (use loopback).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use rand::{rngs::StdRng, Rng, SeedableRng};
use samu_load::process::{CpuReading, CpuShares};
use serde_json::json;

/// Peer benchmarks for samu-central.
#[derive(Debug, Parser)]
#[command(name = "samu-peers", about)]
struct Args {
    /// Redis to benchmark, e.g. redis://127.0.0.1:6379/.
    #[arg(long)]
    redis: String,
    /// PostgreSQL with PostGIS available; skipped with a message when absent.
    #[arg(long)]
    postgis: Option<String>,
    /// samu-central gRPC address, to measure its nearest query the same way.
    #[arg(long)]
    grpc: Option<String>,
    /// samu-central's console gRPC port (`console_grpc_addr`): the same
    /// queries there too.
    #[arg(long)]
    console_grpc: Option<String>,
    /// Token file with a `wall` or `admin` token, with `--grpc`.
    #[arg(long)]
    token_file: Option<std::path::PathBuf>,
    /// Central whose units samu-load created (`--central-id` of samu-load).
    #[arg(long, default_value = "3199990")]
    central_id: String,
    /// Units in each store.
    #[arg(long, default_value_t = 10_000)]
    units: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Seconds of GEOADD load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Nearest queries per system (one client, one query at a time, the
    /// systems interleaved query by query).
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// How many nearest units per query.
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// One half of the work only: `writers` (the concurrent GEOADDs, which
    /// load-tests/run.sh interleaves with samu-load's own writers, slice by
    /// slice, so both face the same machine) or `queries` (the nearest
    /// queries). Both when absent.
    #[arg(long, value_enum)]
    only: Option<Part>,
}

/// A half of samu-peers' work (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    Writers,
    Queries,
}

const CENTRE: (f64, f64) = samu_load::setup::CENTRE;

fn points(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (
                CENTRE.0 + rng.random_range(-0.25..0.25),
                CENTRE.1 + rng.random_range(-0.25..0.25),
            )
        })
        .collect()
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// The writers run on a multi-threaded runtime, as many clients would; the
/// sequential queries of every system run on one current-thread runtime,
/// each over a connection opened there, so no system's client pays
/// cross-thread wake-ups the others do not.
fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let writers = tokio::runtime::Runtime::new()?;
    let queries = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let key = format!("samu:peer:{}:USB", std::process::id());
    let mut out = serde_json::Map::new();
    out.insert("units".into(), json!(args.units));
    out.insert("clients".into(), json!(args.clients));
    out.insert("k".into(), json!(args.k));
    let (client, units) = writers.block_on(redis_load(&args, &key))?;
    if args.only != Some(Part::Queries) {
        let figures = writers.block_on(redis_writers(&args, &key, &client, &units))?;
        out.insert("redis_geoadd_per_s".into(), json!(figures.per_s));
        // Where the cores went in the window, as samu-load reports for
        // ours: CPU per update on each side, beside the rates.
        let cpu = figures.cpu;
        for (name, share) in [
            ("redis_cpu_pct", cpu.server),
            ("postgres_cpu_pct", cpu.postgres),
            ("generator_cpu_pct", cpu.generator),
            ("machine_busy_pct", cpu.machine_busy),
        ] {
            if let Some(share) = share {
                out.insert(name.into(), json!(share));
            }
        }
    }
    if args.only != Some(Part::Writers) {
        queries.block_on(sequential_queries(&args, &key, &units, &mut out))?;
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

/// Loads the units into Redis under `key`, for both halves of the work.
async fn redis_load(args: &Args, key: &str) -> anyhow::Result<(redis::Client, Vec<(f64, f64)>)> {
    let units = points(args.units, args.units as u64);
    let client = redis::Client::open(args.redis.as_str())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .context("cannot reach Redis")?;
    let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
    for chunk in units.chunks(1000).enumerate() {
        let mut cmd = redis::cmd("GEOADD");
        cmd.arg(key);
        for (i, (lat, lon)) in chunk.1.iter().enumerate() {
            cmd.arg(lon)
                .arg(lat)
                .arg(format!("u{}", chunk.0 * 1000 + i));
        }
        let _: i64 = cmd.query_async(&mut conn).await?;
    }
    Ok((client, units))
}

/// The GEOADD writers' rate, and the cores' shares in their window (the
/// Redis server's in `server`, when it runs on this machine).
struct WriterFigures {
    per_s: f64,
    cpu: CpuShares,
}

/// Concurrent `GEOADD`s to the loaded units: how many a second.
async fn redis_writers(
    args: &Args,
    key: &str,
    client: &redis::Client,
    units: &[(f64, f64)],
) -> anyhow::Result<WriterFigures> {
    let ops = Arc::new(AtomicU64::new(0));
    // One connection per client, like one stream per vehicle, all opened
    // before the measured window starts (samu-load measures after its ramp).
    let mut connections = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        connections.push(client.get_multiplexed_async_connection().await?);
    }
    let redis_pid = match connections.first_mut() {
        Some(conn) => local_redis_pid(conn).await,
        None => None,
    };
    let cpu_before = CpuReading::now(redis_pid);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut writers = Vec::new();
    for (c, mut conn) in connections.into_iter().enumerate() {
        let (ops, key) = (ops.clone(), key.to_owned());
        let mine: Vec<(usize, (f64, f64))> = units
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| i % args.clients == c)
            .collect();
        writers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(c as u64);
            let mut n = 0usize;
            while Instant::now() < deadline && !mine.is_empty() {
                let (i, (lat, lon)) = mine[n % mine.len()];
                n += 1;
                let (lat, lon) = (
                    lat + rng.random_range(-0.0001..0.0001),
                    lon + rng.random_range(-0.0001..0.0001),
                );
                let done: redis::RedisResult<i64> = redis::cmd("GEOADD")
                    .arg(&key)
                    .arg(lon)
                    .arg(lat)
                    .arg(format!("u{i}"))
                    .query_async(&mut conn)
                    .await;
                if done.is_ok() {
                    ops.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for w in writers {
        w.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(WriterFigures {
        per_s: (ops.load(Ordering::Relaxed) as f64 / elapsed).round(),
        cpu: CpuReading::now(redis_pid).shares_since(&cpu_before, elapsed),
    })
}

/// The PID of the Redis server behind `conn` (`INFO server`), when that
/// process runs on this machine: its CPU is then read from `/proc`.
async fn local_redis_pid(conn: &mut redis::aio::MultiplexedConnection) -> Option<u32> {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(conn)
        .await
        .ok()?;
    let pid = redis_process_id(&info)?;
    let command = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    command.trim().starts_with("redis-server").then_some(pid)
}

/// `process_id` of an `INFO server` reply.
fn redis_process_id(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("process_id:"))
        .and_then(|pid| pid.parse().ok())
}

/// The systems whose nearest query is measured.
const REDIS: usize = 0;
const POSTGIS: usize = 1;
const SAMU: usize = 2;
const SAMU_CONSOLE: usize = 3;

/// The same nearest queries, one at a time, against each system,
/// interleaved: each query point goes to every system in turn, the turn's
/// first system rotating, so a burst of the machine's other work (the
/// database's background writes after a flood of track rows, say) lands on
/// all of them alike instead of on whichever system's block it overlaps.
async fn sequential_queries(
    args: &Args,
    key: &str,
    units: &[(f64, f64)],
    out: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let queries = points(args.queries, 99);
    let mut redis = redis::Client::open(args.redis.as_str())?
        .get_multiplexed_async_connection()
        .await
        .context("cannot reach Redis")?;
    let mut postgis = match &args.postgis {
        None => {
            out.insert("postgis".into(), json!("skipped: no --postgis URL"));
            None
        }
        Some(url) => match postgis_load(url, units).await {
            Ok(conn) => Some(conn),
            Err(e) => {
                eprintln!("samu-peers: PostGIS skipped: {e:#}");
                out.insert("postgis".into(), json!(format!("skipped: {e:#}")));
                None
            }
        },
    };
    let token = match &args.token_file {
        Some(file) => {
            let tokens: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
            Some(
                tokens["wall"]
                    .as_str()
                    .or(tokens["admin"].as_str())
                    .context("no wall/admin token")?
                    .to_owned(),
            )
        }
        None => None,
    };
    let mut samu = match (&args.grpc, &token) {
        (Some(grpc), Some(_)) => Some(fleet_client(grpc).await?),
        _ => None,
    };
    let mut samu_console = match (&args.console_grpc, &token, &samu) {
        (Some(console), Some(_), Some(_)) => Some(fleet_client(console).await?),
        _ => None,
    };
    let token = token.unwrap_or_default();

    let mut histograms = [
        Histogram::<u64>::new(3)?,
        Histogram::<u64>::new(3)?,
        Histogram::<u64>::new(3)?,
        Histogram::<u64>::new(3)?,
    ];
    for (n, &(lat, lon)) in queries.iter().enumerate() {
        for turn in 0..histograms.len() {
            let system = (n + turn) % histograms.len();
            let t = Instant::now();
            match system {
                REDIS => redis_nearest(&mut redis, key, (lat, lon), args.k).await?,
                POSTGIS => match postgis.as_mut() {
                    Some(conn) => postgis_nearest(conn, (lat, lon), args.k).await?,
                    None => continue,
                },
                SAMU | SAMU_CONSOLE => {
                    let client = if system == SAMU {
                        samu.as_mut()
                    } else {
                        samu_console.as_mut()
                    };
                    match client {
                        Some(client) => samu_nearest(client, &token, (lat, lon), args).await?,
                        None => continue,
                    }
                }
                _ => unreachable!("four systems"),
            }
            histograms[system].record(t.elapsed().as_micros() as u64)?;
        }
    }

    let [redis_h, postgis_h, samu_h, console_h] = &histograms;
    out.insert("redis_geosearch_p50_ms".into(), json!(ms(redis_h, 0.5)));
    out.insert("redis_geosearch_p99_ms".into(), json!(ms(redis_h, 0.99)));
    let _: () = redis::cmd("DEL").arg(key).query_async(&mut redis).await?;
    if let Some(mut conn) = postgis {
        use sqlx::Executor;
        out.insert("postgis_knn_p50_ms".into(), json!(ms(postgis_h, 0.5)));
        out.insert("postgis_knn_p99_ms".into(), json!(ms(postgis_h, 0.99)));
        conn.execute("DROP TABLE samu_peer_units").await?;
    }
    if samu.is_some() {
        out.insert("samu_nearest_p50_ms".into(), json!(ms(samu_h, 0.5)));
        out.insert("samu_nearest_p99_ms".into(), json!(ms(samu_h, 0.99)));
    }
    if samu_console.is_some() {
        out.insert(
            "samu_console_nearest_p50_ms".into(),
            json!(ms(console_h, 0.5)),
        );
        out.insert(
            "samu_console_nearest_p99_ms".into(),
            json!(ms(console_h, 0.99)),
        );
    }
    Ok(())
}

async fn redis_nearest(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    (lat, lon): (f64, f64),
    k: usize,
) -> anyhow::Result<()> {
    let found: Vec<String> = redis::cmd("GEOSEARCH")
        .arg(key)
        .arg("FROMLONLAT")
        .arg(lon)
        .arg(lat)
        .arg("BYRADIUS")
        .arg(100)
        .arg("km")
        .arg("ASC")
        .arg("COUNT")
        .arg(k)
        .query_async(conn)
        .await?;
    anyhow::ensure!(found.len() == k, "GEOSEARCH found {} units", found.len());
    Ok(())
}

type Fleet = samu_proto::v1::fleet_client::FleetClient<tonic::transport::Channel>;

/// A connection to samu-central's fleet service at `grpc`, opened on the
/// queries' runtime.
async fn fleet_client(grpc: &str) -> anyhow::Result<Fleet> {
    let channel = tonic::transport::Endpoint::from_shared(grpc.to_owned())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot reach {grpc}"))?;
    Ok(Fleet::new(channel))
}

async fn samu_nearest(
    fleet: &mut Fleet,
    token: &str,
    (lat, lon): (f64, f64),
    args: &Args,
) -> anyhow::Result<()> {
    let request = samu_load::setup::authed(
        token,
        samu_proto::v1::NearestUnitsRequest {
            point: Some(samu_proto::v1::GeoPoint {
                latitude: lat,
                longitude: lon,
            }),
            types: vec![samu_proto::v1::UnitType::Usb.into()],
            limit: args.k as u32,
            central_id: args.central_id.clone(),
        },
    )?;
    let found = fleet.nearest_units(request).await?.into_inner();
    anyhow::ensure!(
        !found.units.is_empty(),
        "samu-central found no unit: run samu-load first"
    );
    Ok(())
}

/// Loads `units` into a fresh PostGIS table with a GiST index.
async fn postgis_load(url: &str, units: &[(f64, f64)]) -> anyhow::Result<sqlx::AnyConnection> {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .context("cannot reach PostgreSQL")?;
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        .await
        .context("PostGIS is not installed")?;
    conn.execute("DROP TABLE IF EXISTS samu_peer_units").await?;
    conn.execute(
        "CREATE TABLE samu_peer_units (id TEXT PRIMARY KEY, unit_type TEXT NOT NULL, available BOOLEAN NOT NULL, geom geography(Point, 4326) NOT NULL)",
    )
    .await?;
    for (n, chunk) in units.chunks(1000).enumerate() {
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, (lat, lon))| {
                format!(
                    "('u{}', 'USB', true, ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)::geography)",
                    n * 1000 + i
                )
            })
            .collect();
        conn.execute(format!("INSERT INTO samu_peer_units VALUES {}", values.join(", ")).as_str())
            .await?;
    }
    conn.execute("CREATE INDEX ON samu_peer_units USING GIST (geom)")
        .await?;
    conn.execute("ANALYZE samu_peer_units").await?;
    Ok(conn)
}

async fn postgis_nearest(
    conn: &mut sqlx::AnyConnection,
    (lat, lon): (f64, f64),
    k: usize,
) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT id FROM samu_peer_units WHERE unit_type = 'USB' AND available \
         ORDER BY geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography LIMIT $3",
    )
    .bind(lon)
    .bind(lat)
    .bind(k as i64)
    .fetch_all(&mut *conn)
    .await?;
    anyhow::ensure!(rows.len() == k, "PostGIS found {} units", rows.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The Redis server's PID is read off its `INFO server` reply.
    #[test]
    fn the_redis_process_id_is_read_from_info() {
        let info = "# Server\r\nredis_version:7.0.15\r\nprocess_id:4242\r\ntcp_port:6379\r\n";
        assert_eq!(redis_process_id(info), Some(4242));
        assert_eq!(
            redis_process_id("# Server\r\nredis_version:7.0.15\r\n"),
            None
        );
        assert_eq!(redis_process_id("process_id:not-a-pid\r\n"), None);
    }

    /// `--only` takes one half of the work by name; both when absent.
    #[test]
    fn only_names_one_half_of_the_work() {
        Args::command().debug_assert();
        let parse = |extra: &[&str]| {
            Args::try_parse_from(
                ["samu-peers", "--redis", "redis://127.0.0.1/"]
                    .iter()
                    .chain(extra),
            )
        };
        assert_eq!(parse(&[]).unwrap().only, None);
        assert_eq!(
            parse(&["--only", "writers"]).unwrap().only,
            Some(Part::Writers)
        );
        assert_eq!(
            parse(&["--only", "queries"]).unwrap().only,
            Some(Part::Queries)
        );
        assert!(parse(&["--only", "both"]).is_err());
    }
}
