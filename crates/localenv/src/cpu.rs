//! CPU time of a process, from `/proc/<pid>/stat` (Linux), for CPU-per-event figures; and its
//! resident memory, from `/proc/<pid>/status`.

use std::time::Duration;

/// User plus system CPU time used so far by process `pid`, if it can be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    stat_cpu_time(&format!("/proc/{pid}/stat"))
}

/// The resident set size of process `pid` now and its peak, in bytes (`VmRSS`, `VmHWM`).
pub fn resident(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User plus system CPU time used so far by the calling thread (in clock ticks, 10 ms here),
/// for the CPU of one side of a benchmark whose other side runs on another thread.
pub fn thread_cpu_time() -> Option<Duration> {
    stat_cpu_time("/proc/thread-self/stat")
}

/// The whole machine's CPU time so far, busy and in all (every core, from the first line of
/// `/proc/stat`: idle and I/O wait are not busy), to tell how busy it was between two readings.
/// On a virtual machine, time the hypervisor gave to other guests (steal) counts as busy.
pub fn machine_time() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let all: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((ticks(all - idle), ticks(all)))
}

fn stat_cpu_time(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ticks(utime + stime))
}

fn ticks(n: u64) -> Duration {
    // Asked once: a process spawned between two readings would count in what they measure.
    static PER_SEC: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let per_sec = *PER_SEC.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .filter(|&t| t > 0)
            .unwrap_or(100)
    });
    Duration::from_secs_f64(n as f64 / per_sec as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_cpu_time() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let t = super::cpu_time(std::process::id()).expect("own /proc stat");
        assert!(t > std::time::Duration::ZERO);
        let thread = super::thread_cpu_time().expect("own thread's /proc stat");
        assert!(thread > std::time::Duration::ZERO && thread <= t);
        let (busy, all) = super::machine_time().expect("/proc/stat");
        assert!(busy >= thread && busy <= all, "{busy:?} busy of {all:?}");
    }
}
