//! Real-time priority for the measuring threads (`--probe-realtime`).

use anyhow::Context;

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

/// Starts a thread named `name` that runs `body`, first moved to real-time
/// priority when `realtime` is set; returns once the priority is in place,
/// or with the reason it was refused (the thread then ends without
/// running `body`).
///
/// # Errors
/// No thread, or real-time priority refused.
pub fn spawn<F>(name: &str, realtime: bool, body: F) -> anyhow::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let (raised, raised_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let outcome = if realtime {
                raise_current_thread()
            } else {
                Ok(())
            };
            let refused = outcome.is_err();
            let _ = raised.send(outcome);
            if !refused {
                body();
            }
        })
        .with_context(|| format!("cannot start the {name} thread"))?;
    raised_rx
        .recv()
        .with_context(|| format!("the {name} thread ended at once"))?
        .with_context(|| format!("cannot run {name} at real-time priority"))?;
    Ok(thread)
}
