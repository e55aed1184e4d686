//! `samu-load`: parse options, run once, print the summary line.

use std::{process::ExitCode, time::Duration};

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = samu_load::Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Thousands of streams need thousands of sockets.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let limit = Duration::from_secs(args.max_run_s);
    match tokio::time::timeout(limit, samu_load::run(args)).await {
        Ok(Ok(summary)) => {
            println!(
                "{}",
                serde_json::to_string(&summary).expect("the summary serializes")
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("samu-load: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("samu-load: the run exceeded --max-run-s");
            ExitCode::FAILURE
        }
    }
}
