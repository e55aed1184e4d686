//! The `samu-central` binary: parse the command line, run it.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // Every vehicle holds a connection: raise the soft limit on open files
    // to the hard limit (10 000 vehicles need more than the usual 1 024).
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    samu_central::cli::run(samu_central::cli::Cli::parse()).await
}
