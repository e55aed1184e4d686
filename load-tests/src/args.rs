//! Command-line options.

use std::path::PathBuf;

use clap::Parser;

/// Load generator for samu-central.
#[derive(Debug, Clone, Parser)]
#[command(name = "samu-load", version, about)]
pub struct Args {
    /// gRPC address of the server, e.g. http://127.0.0.1:50051.
    #[arg(long)]
    pub grpc: String,
    /// HTTP address of the server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub http: String,
    /// JSON file with an `admin` token (and a `wall` token), like the demo's
    /// `samu-data/demo-tokens.json`.
    #[arg(long)]
    pub token_file: PathBuf,
    /// Vehicle streams.
    #[arg(long, default_value_t = 100)]
    pub vehicles: usize,
    /// Wall clients.
    #[arg(long, default_value_t = 1)]
    pub walls: usize,
    /// Of the wall clients, how many decode every frame to measure latency;
    /// the others read and drop their frames. Every wall receives the same
    /// bytes, so a sample measures them all, and the generator, which
    /// shares the server's cores, does not spend them parsing 100 copies.
    #[arg(long, default_value_t = 10)]
    pub measured_walls: usize,
    /// Seconds of measured load, after the vehicles are connected and the
    /// warm-up.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of load after every vehicle's first report is acknowledged
    /// and before the window opens: the load's first seconds are the
    /// start, not the steady state (each unit's first fix changes its
    /// status, every wall's first frames carry every unit, the streams'
    /// buffers grow), and the window measures the steady state.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Position reports per second per vehicle; 0 sends as fast as
    /// acknowledged (with `--window` reports in flight per vehicle).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Reports in flight per vehicle when `--rate 0`.
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    /// Each vehicle as the thinnest client, one task sending a report and
    /// waiting for its acknowledgement (needs `--rate 0`), instead of a vehicle app's link
    /// (resend buffer, feeder task, reconnects): with `--rate 0`, the gRPC
    /// side of the comparison with Redis `GEOADD`, whose clients are the
    /// same loop. A stream that breaks ends its vehicle, counted as an error.
    #[arg(long)]
    pub bare_streams: bool,
    /// The bare streams' client: `tonic` (tonic's generated client over
    /// hyper) or `h2` (gRPC messages written straight into `h2`, two tasks
    /// a report like the Redis side's client: `h2stream.rs` says why).
    #[arg(long, value_enum, default_value_t = BareClient::Tonic)]
    pub bare_client: BareClient,
    /// Nearest-unit queries per second (0: none).
    #[arg(long, default_value_t = 20.0)]
    pub nearest_rate: f64,
    /// Runs the nearest queries' thread and the floor's echo thread at
    /// real-time priority (`SCHED_FIFO`, lowest level): a console is on a
    /// machine of its own, not one whose cores this generator keeps busy.
    /// Refused (no `CAP_SYS_NICE`), the run stops with the reason.
    #[arg(long)]
    pub probe_realtime: bool,
    /// The server's console gRPC port (`console_grpc_addr`), e.g.
    /// http://127.0.0.1:50052: the same nearest queries, at the same rate,
    /// go there too, side by side with those on `--grpc`.
    #[arg(long)]
    pub console_grpc: Option<String>,
    /// Where to write the server's `/metrics`, scraped as the measured
    /// window opens and as it closes (`PREFIX-before.txt`, `PREFIX-after.txt`):
    /// the server's own histograms of the window alone, without the ramp.
    #[arg(long)]
    pub metrics_out: Option<std::path::PathBuf>,
    /// Writes a second-by-second account of the measured window here, one
    /// JSON line a second: CPU of the server, PostgreSQL and the generator,
    /// the probes' worst latencies, PostgreSQL's autovacuum and buffer
    /// writes (`timeline.rs`).
    #[arg(long)]
    pub timeline: Option<std::path::PathBuf>,
    /// IBGE-like id of the central the run creates (7 digits, state 11..53).
    #[arg(long, default_value = "3199990")]
    pub central_id: String,
    /// Centrals the run spreads its units and walls over (unit i and wall
    /// i belong to central i mod N), with consecutive ids from
    /// `--central-id`: a state-wide instance, each wall watching its own
    /// central. 1 puts every unit under every wall (the worst case).
    #[arg(long, default_value_t = 1)]
    pub centrals: usize,
    /// Vehicles sharing one HTTP/2 connection (1: one connection each, as
    /// real vehicle apps).
    #[arg(long, default_value_t = 1)]
    pub vehicles_per_connection: usize,
    /// PID of the server, for RSS and CPU; found in /proc by name when absent.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// With the server's DATABASE_URL, count the stored track after the run.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Hard limit on the whole run (setup included), seconds.
    #[arg(long, default_value_t = 600)]
    pub max_run_s: u64,
}

/// The client of `--bare-streams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BareClient {
    /// tonic's generated client over a tonic `Channel`.
    Tonic,
    /// gRPC framing written here over the `h2` crate.
    H2,
}
