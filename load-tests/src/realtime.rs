//! Real-time priority for the measuring threads (`--probe-realtime`).

use thread_priority::{
    set_thread_priority_and_policy, thread_native_id, RealtimeThreadSchedulePolicy, ThreadPriority,
    ThreadSchedulePolicy,
};

/// Moves the calling thread to `SCHED_FIFO` at the class's lowest priority,
/// as samu-central's `console_grpc_realtime` does with its console thread.
///
/// # Errors
/// The process may not (no `CAP_SYS_NICE`, `RLIMIT_RTPRIO` 0).
pub fn raise_current_thread() -> anyhow::Result<()> {
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}
