//! Real-time scheduling for the console port's thread
//! (`console_grpc_realtime`).
//!
//! On a machine whose cores the vehicle streams, the store and the walls
//! keep busy, a dispatcher's nearest-unit query waited for a core: the
//! console thread was one runnable thread among many, and the query's
//! round trip had a p99 of several milliseconds while the handler itself
//! took under one (BENCHMARKS.md, "The console thread at real-time
//! priority"). In the `SCHED_FIFO` class, even at its lowest priority, the
//! thread runs as soon as a call arrives, ahead of every normal thread.
//! The kernel's real-time throttling (`sched_rt_runtime_us`, 95 % of a
//! core by default) still bounds what it can take.

use thread_priority::{
    set_thread_priority_and_policy, thread_native_id, RealtimeThreadSchedulePolicy, ThreadPriority,
    ThreadSchedulePolicy,
};

/// Moves the calling thread to `SCHED_FIFO` at the class's lowest priority.
///
/// # Errors
/// The process may not (it needs `CAP_SYS_NICE`, or an `RLIMIT_RTPRIO` of
/// at least 1: `LimitRTPRIO=1` in a systemd unit).
pub fn raise_current_thread() -> Result<(), thread_priority::Error> {
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
}

#[cfg(test)]
mod tests {
    use thread_priority::{thread_schedule_policy, RealtimeThreadSchedulePolicy};

    use super::*;

    /// Either the thread is real-time afterwards, or the refusal says why:
    /// never a silent no-op. (CI runs as root, where it is granted.)
    #[test]
    fn a_raised_thread_is_fifo_or_the_refusal_is_an_error() {
        std::thread::spawn(|| match raise_current_thread() {
            Ok(()) => assert_eq!(
                thread_schedule_policy().unwrap(),
                ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo)
            ),
            Err(e) => assert!(!e.to_string().is_empty()),
        })
        .join()
        .unwrap();
    }
}
