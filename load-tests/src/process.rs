//! The server's memory and CPU, read from `/proc`.

use std::path::Path;

/// Resident set size in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU time used so far (user + system), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    ProcStat::read(pid)?.ticks(2)
}

/// One process's `/proc/PID/stat`.
struct ProcStat(String);

impl ProcStat {
    fn read(pid: impl std::fmt::Display) -> Option<Self> {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .filter(|stat| stat.contains(')'))
            .map(Self)
    }

    /// The command name, as the kernel keeps it (at most 15 bytes).
    fn command(&self) -> &str {
        let head = self.0.rsplit_once(')').map_or("", |(head, _)| head);
        head.split_once('(').map_or("", |(_, name)| name)
    }

    /// The sum of the first `n` of utime, stime, cutime, cstime (fields
    /// 14-17); `None` unless all `n` are there. The command name may
    /// contain spaces and parentheses: the fields are counted after its
    /// last ')'.
    fn ticks(&self, n: usize) -> Option<u64> {
        let tail = self.0.rsplit_once(')').map_or("", |(_, tail)| tail);
        let fields: Vec<u64> = tail
            .split_whitespace()
            .skip(11)
            .take(n)
            .map_while(|f| f.parse().ok())
            .collect();
        (fields.len() == n).then(|| fields.iter().sum())
    }
}

/// The machine's CPU time so far, from `/proc/stat`: (busy, total) in
/// clock ticks over every core; busy is everything but idle and iowait.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is within user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Clock ticks per second (USER_HZ), 100 on Linux.
pub const TICKS_PER_S: f64 = 100.0;

/// CPU time between two tick readings over `elapsed` seconds, % of one
/// core, to a tenth.
fn core_pct(start: Option<u64>, end: Option<u64>, elapsed: f64) -> Option<f64> {
    let (a, b) = (start?, end?);
    (elapsed > 0.0)
        .then(|| (b.saturating_sub(a) as f64 / TICKS_PER_S / elapsed * 1000.0).round() / 10.0)
}

/// The machine's busy share of all its cores between two
/// [`machine_ticks`] readings, %, to a tenth.
fn busy_pct(start: Option<(u64, u64)>, end: Option<(u64, u64)>) -> Option<f64> {
    let ((busy_a, all_a), (busy_b, all_b)) = (start?, end?);
    (all_b > all_a).then(|| {
        (busy_b.saturating_sub(busy_a) as f64 / (all_b - all_a) as f64 * 1000.0).round() / 10.0
    })
}

/// The CPU tick counters a share of the cores is measured between.
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    /// When they were read.
    pub at: std::time::Instant,
    server: Option<u64>,
    postgres: Option<u64>,
    generator: Option<u64>,
    machine: Option<(u64, u64)>,
}

/// Shares of the cores between two [`CpuReading`]s: % of one core, and
/// the machine's busy % of all its cores.
#[derive(Debug, Clone, Copy)]
pub struct CpuShares {
    /// The server's, when its PID is known.
    pub server: Option<f64>,
    /// Every PostgreSQL process's, when one runs here.
    pub postgres: Option<f64>,
    /// This generator's.
    pub generator: Option<f64>,
    /// The machine's busy share of all its cores.
    pub machine_busy: Option<f64>,
}

impl CpuReading {
    /// The server's (when its PID is known), every PostgreSQL process's,
    /// this process's and the machine's counters, now.
    pub fn now(server_pid: Option<u32>) -> Self {
        Self {
            at: std::time::Instant::now(),
            server: server_pid.and_then(cpu_ticks),
            postgres: postgres_ticks(),
            generator: cpu_ticks(std::process::id()),
            machine: machine_ticks(),
        }
    }

    /// What each used since `earlier`, over `elapsed` seconds.
    pub fn shares_since(&self, earlier: &CpuReading, elapsed: f64) -> CpuShares {
        CpuShares {
            server: core_pct(earlier.server, self.server, elapsed),
            postgres: core_pct(earlier.postgres, self.postgres, elapsed),
            generator: core_pct(earlier.generator, self.generator, elapsed),
            machine_busy: busy_pct(earlier.machine, self.machine),
        }
    }
}

/// The PID of a running `samu-central serve` (the newest, if several).
pub fn find_server() -> Option<u32> {
    let mut found = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
            .unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_server = args.first().is_some_and(|a| a.ends_with(b"samu-central"))
            && args.iter().any(|a| *a == b"serve");
        if is_server && found.is_none_or(|f| pid > f) {
            found = Some(pid);
        }
    }
    found
}

/// CPU time of every PostgreSQL process so far, in clock ticks: each
/// running `postgres` process's own time plus its reaped children's, so
/// the autovacuum workers and backends that ended in between still count
/// (through the postmaster). `None` when no PostgreSQL runs here.
pub fn postgres_ticks() -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Some(stat) = ProcStat::read(pid).filter(|stat| stat.command() == "postgres") else {
            continue;
        };
        // Its own time and its reaped children's.
        if let Some(ticks) = stat.ticks(4) {
            *total.get_or_insert(0) += ticks;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command name with spaces and parentheses does not shift the
    /// fields; a cut-off line gives no figure rather than a wrong one.
    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = ProcStat(
            "42 (a (b) c) S 1 42 42 0 -1 4194304 10 0 0 0 7 3 5 1 20 0 1 0 100 0 0".into(),
        );
        assert_eq!(stat.command(), "a (b) c");
        assert_eq!(stat.ticks(2), Some(10));
        assert_eq!(stat.ticks(4), Some(16));
        let cut = ProcStat("42 (postgres) S 1 42 42 0 -1 4194304 10 0 0 0 7".into());
        assert_eq!(cut.command(), "postgres");
        assert_eq!(cut.ticks(2), None);
        assert!(cpu_ticks(std::process::id()).is_some());
    }
}
