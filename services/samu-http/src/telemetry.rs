//! The process-wide Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first use (one per process: tests start many
/// servers in one process) and returns the handle that renders it.
pub fn prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("samu_write_batch_reports".into()),
                        &[1.0, 10.0, 100.0, 1000.0, 4096.0],
                    )
                })
                .and_then(|b| {
                    // The way of a fix to the walls, against a 150 ms target.
                    let age = [
                        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
                    ];
                    b.set_buckets_for_metric(Matcher::Full("samu_report_age_seconds".into()), &age)?
                        .set_buckets_for_metric(
                            Matcher::Full("samu_wall_fix_age_seconds".into()),
                            &age,
                        )
                })
                .expect("valid buckets")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// How often the recorder's histograms fold their new samples in.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the recorder's upkeep every [`UPKEEP_EVERY`] on a thread of its own.
///
/// A histogram keeps every sample recorded since it was last folded in,
/// and the recorder installed alone folds them in only when `/metrics` is
/// rendered: with no scraper, every report's sample (8 bytes) stayed in
/// memory for good, a leak of about 7 GB a day at 10 000 reports a second;
/// between a load run's two scrapes it was 8.3 KB per vehicle of the heap
/// at the flood (heaptrack, BENCHMARKS.md). A thread, not a task: the
/// recorder is process-wide and outlives any one runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name(UPKEEP_THREAD.into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the metrics upkeep; histograms grow until /metrics is read");
    }
}

const UPKEEP_THREAD: &str = "samu-metrics";

#[cfg(test)]
mod tests {
    use super::*;

    /// The upkeep thread runs once the recorder is installed, and only one
    /// however many servers a process starts.
    #[test]
    fn the_recorder_comes_with_one_upkeep_thread() {
        let _ = prometheus();
        let _ = prometheus();
        // A thread names itself once it runs: until then `/proc` shows the
        // parent's name, so wait (bounded) for the name to appear.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while upkeep_threads() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(upkeep_threads(), 1);
        let _ = prometheus();
        assert_eq!(upkeep_threads(), 1, "a later call starts no second thread");
    }

    fn upkeep_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == UPKEEP_THREAD)
            .count()
    }
}
