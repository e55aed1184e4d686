//! The fleet's lock: one holder at a time, priority-inheriting on Linux.
//!
//! The console port's thread runs at real-time priority (`SCHED_FIFO`,
//! `console_grpc_realtime`) so that a dispatcher's nearest-unit query does
//! not queue for a core behind the vehicle streams. But the query reads the
//! fleet under this lock, which the ingest's workers, at normal priority,
//! take for a few microseconds per report. When the scheduler preempts a
//! worker while it holds the lock (for PostgreSQL, the walls, anything on
//! the shared cores), the console thread waited out the whole preemption,
//! milliseconds: a priority inversion, and the console's nearest p99 over
//! its 2 ms in a rare load run (BENCHMARKS.md, "The fleet's lock lends its
//! waiter's priority").
//!
//! A priority-inheriting futex (`FUTEX_LOCK_PI`) lends the highest waiter's
//! priority to the holder until it lets go, so the console waits for the
//! critical section, not for the preemption. Uncontended, taking and
//! releasing it is one compare-and-swap each, as for std's mutex.
//!
//! A mutex rather than a read-write lock: priority inheritance needs the one
//! owner to lend to, and the reads (nearest queries, wall snapshots, a few a
//! second) gained nothing from sharing the lock beside tens of thousands of
//! writes a second.

/// The lock: a futex lock with priority inheritance (`priority-inheriting-lock`).
#[cfg(target_os = "linux")]
pub(crate) type FleetLock<T> = priority_inheriting_lock::PriorityInheritingLock<T>;

/// Elsewhere (development machines): std's mutex, without inheritance.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Default)]
pub(crate) struct FleetLock<T>(std::sync::Mutex<T>);

#[cfg(not(target_os = "linux"))]
impl<T> FleetLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    /// The guard; a holder that panicked left nothing half-done that the
    /// fleet cannot take (every fleet method leaves its state consistent).
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::{
        sync::{mpsc, Arc},
        thread,
        time::{Duration, Instant},
    };

    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, RealtimeThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };

    use super::*;

    /// The effective priority of thread `tid` of this process, as the
    /// kernel schedules it: field 18 of its `stat`, 0 to 39 for a normal
    /// thread (its nice level + 20), negative in the real-time range. Read
    /// through `/proc` because a lent priority is the kernel's doing: the
    /// thread's own policy stays what it was.
    fn priority_of(tid: i32) -> i64 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        // The command name, in parentheses, may hold spaces: count after it.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name
            .split_whitespace()
            .nth(18 - 3)
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn excludes_holders_from_each_other() {
        let lock = Arc::new(FleetLock::new(0_u64));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                thread::spawn(move || {
                    for _ in 0..10_000 {
                        let mut n = lock.lock();
                        // Read, yield, write: a second holder in between
                        // would lose an increment.
                        let seen = *n;
                        if seen % 1_000 == 0 {
                            thread::yield_now();
                        }
                        *n = seen + 1;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(*lock.lock(), 40_000);
    }

    /// While a real-time thread waits for the lock, its normal-priority
    /// holder runs at real-time priority, and goes back when it lets go.
    /// Needs the right to raise a thread (`CAP_SYS_NICE`, as root in CI);
    /// without it the test says so and checks nothing more.
    #[test]
    fn a_real_time_waiter_lends_its_priority_to_the_holder() {
        let lock = Arc::new(FleetLock::new(()));
        let (held_tx, held_rx) = mpsc::channel::<i32>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                let tid = priority_inheriting_lock::gettid();
                let guard = lock.lock();
                held_tx.send(tid).unwrap();
                release_rx.recv().unwrap();
                drop(guard);
                // Its priority once it let go.
                priority_of(tid)
            })
        };
        let holder_tid = held_rx.recv().unwrap();
        assert!(
            priority_of(holder_tid) >= 0,
            "the holder starts as a normal thread"
        );

        let (raised_tx, raised_rx) = mpsc::channel::<bool>();
        let waiter = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                let raised = set_thread_priority_and_policy(
                    thread_native_id(),
                    ThreadPriority::Min,
                    ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
                )
                .is_ok();
                raised_tx.send(raised).unwrap();
                if raised {
                    drop(lock.lock());
                }
            })
        };
        if !raised_rx.recv().unwrap() {
            eprintln!("skipped: this process may not raise a thread to SCHED_FIFO");
            release_tx.send(()).unwrap();
            assert!(holder.join().unwrap() >= 0);
            waiter.join().unwrap();
            return;
        }
        // The waiter blocks in the kernel, which then boosts the holder.
        let deadline = Instant::now() + Duration::from_secs(10);
        while priority_of(holder_tid) >= 0 {
            assert!(
                Instant::now() < deadline,
                "the holder was not raised while a real-time thread waited"
            );
            thread::sleep(Duration::from_millis(1));
        }
        release_tx.send(()).unwrap();
        waiter.join().unwrap();
        assert!(
            holder.join().unwrap() >= 0,
            "the holder went back to its own priority once it let go"
        );
    }
}
