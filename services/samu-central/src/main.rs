//! The `samu-central` binary: parse the command line, run it.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc's malloc: with 10 000 vehicle connections,
/// each holding many small buffers and tasks, the server's resident memory
/// per vehicle was 18.6 KiB on glibc and 15.3 on jemalloc on the same run
/// (BENCHMARKS.md, "Memory per connected vehicle").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Every vehicle holds a connection: raise the soft limit on open files
    // to the hard limit (10 000 vehicles need more than the usual 1 024).
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    samu_central::cli::run(samu_central::cli::Cli::parse()).await
}
