//! CPU time and memory of a process, from Linux's /proc.

use std::time::Duration;

/// Clock ticks per second in /proc/PID/stat (USER_HZ, 100 on every Linux
/// architecture Palaver runs on).
const TICKS_PER_SEC: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// User plus system CPU seconds since the process started.
    pub cpu_secs: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `pid` "self" is this
/// process.
pub fn sample(pid: &str) -> anyhow::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|err| {
        anyhow::anyhow!(
            "cannot read /proc/{pid}/stat ({err}): is --relay-pid the relay's pid on this machine?"
        )
    })?;
    // The command name (field 2) may contain spaces; fields after it are
    // counted from the closing parenthesis.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12
    // after the state field, which is fields[0] here.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(Sample {
        cpu_secs: ticks / TICKS_PER_SEC,
        rss_bytes: rss_kib * 1024,
    })
}

/// CPU used between two samples, as a fraction of one core over `wall`.
pub fn cores(before: Sample, after: Sample, wall: Duration) -> f64 {
    (after.cpu_secs - before.cpu_secs) / wall.as_secs_f64().max(1e-9)
}

/// Busy CPU seconds of the whole machine (every process, the kernel
/// included), from the first line of /proc/stat.
pub fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: all but idle and
    // iowait are busy.
    let busy: f64 = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum();
    busy / TICKS_PER_SEC
}
