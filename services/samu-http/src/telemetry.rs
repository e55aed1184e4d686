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
            PrometheusBuilder::new()
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
                .expect("no other metrics recorder is installed")
        })
        .clone()
}
