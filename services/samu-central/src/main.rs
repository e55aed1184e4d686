//! The `samu-central` binary: parse the command line, run it.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    samu_central::cli::run(samu_central::cli::Cli::parse()).await
}
