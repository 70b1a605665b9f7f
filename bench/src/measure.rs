//! Timing, memory and machine facts.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Summary of repeated samples of one quantity (nanoseconds, or whatever was sampled).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Median absolute deviation divided by the median (a robust relative spread).
    pub rel_mad: f64,
}

impl Summary {
    /// Summarises samples (empty: all zero).
    pub fn of(samples: &[f64]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let median = median_sorted(&v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Summary {
            n: v.len(),
            median,
            min: v[0],
            max: v[v.len() - 1],
            rel_mad: if median > 0.0 {
                median_sorted(&dev) / median
            } else {
                0.0
            },
        }
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// How long to sample.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub min_samples: usize,
    pub max_samples: usize,
    /// Stop after this much measured time once `min_samples` are in.
    pub time: Duration,
}

impl Budget {
    pub const fn new(min_samples: usize, max_samples: usize, ms: u64) -> Budget {
        Budget {
            min_samples,
            max_samples,
            time: Duration::from_millis(ms),
        }
    }
}

/// Samples `f` (which returns the nanoseconds it measured itself, so that set-up between
/// samples stays outside the timing) within `budget`.
pub fn sample(budget: Budget, mut f: impl FnMut(usize) -> f64) -> Summary {
    let start = Instant::now();
    let mut v = Vec::new();
    while v.len() < budget.max_samples
        && (v.len() < budget.min_samples || start.elapsed() < budget.time)
    {
        v.push(f(v.len()));
    }
    Summary::of(&v)
}

/// Nanoseconds per call of `op`, measured in batches of `batch` calls (one sample per
/// batch), after one warm-up batch.
pub fn per_call(budget: Budget, batch: usize, mut op: impl FnMut()) -> Summary {
    for _ in 0..batch {
        op();
    }
    sample(budget, |_| {
        let t = Instant::now();
        for _ in 0..batch {
            op();
        }
        t.elapsed().as_nanos() as f64 / batch as f64
    })
}

/// Times one run of `f` in nanoseconds.
pub fn time_ns<R>(f: impl FnOnce() -> R) -> (f64, R) {
    let t = Instant::now();
    let r = f();
    (t.elapsed().as_nanos() as f64, r)
}

/// The same-run baseline every group can quote: `copy_from_slice` of 4 KiB between two
/// cache-warm buffers, in nanoseconds.
pub fn memcpy_4k_ns(quick: bool) -> Summary {
    let src = vec![0x5au8; 4096];
    let mut dst = vec![0u8; 4096];
    let budget = if quick {
        Budget::new(5, 11, 50)
    } else {
        Budget::new(21, 101, 300)
    };
    per_call(budget, 10_000, || {
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
    })
}

// ------------------------------------------------------------------------------ memory

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`), or 0 if unreadable.
pub fn status_bytes(field: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// Resident set size now, in bytes.
pub fn rss() -> u64 {
    status_bytes("VmRSS")
}

/// Peak resident set size since the start or the last [`reset_peak`], in bytes.
pub fn peak_rss() -> u64 {
    status_bytes("VmHWM")
}

/// Returns freed heap memory to the kernel (glibc `malloc_trim`), so that later growth
/// shows in the RSS instead of being served from free lists.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resets `VmHWM` to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0).
/// Returns whether that worked.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Measures the peak RSS growth of `f`: trims the heap, resets the peak, runs `f`, and
/// returns `(peak − rss before, f's result)`. When the peak cannot be reset the growth is
/// measured against the old peak, which can only under-report; the caller is told by
/// `exact == false`.
pub fn peak_growth<R>(f: impl FnOnce() -> R) -> (MemDelta, R) {
    trim();
    let exact = reset_peak();
    let before = rss();
    let base = if exact {
        before
    } else {
        peak_rss().max(before)
    };
    let r = f();
    let peak = peak_rss().max(rss());
    (
        MemDelta {
            bytes: peak.saturating_sub(base),
            exact,
        },
        r,
    )
}

/// A peak-RSS growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemDelta {
    pub bytes: u64,
    /// The peak could be reset first (else the figure is a lower bound).
    pub exact: bool,
}

// ------------------------------------------------------------------------------ machine

/// The machine a run was made on: `nproc`, CPU model, kernel, date.
#[derive(Clone, Debug)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub date: String,
    pub mem_total: String,
    /// `/proc/loadavg`'s first three fields when the run started (other work on the
    /// machine makes every figure noisier).
    pub loadavg: String,
}

impl Machine {
    /// Reads the facts of this machine.
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|r| r.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| format!("{:.1} GiB", kib as f64 / (1u64 << 20) as f64))
            .unwrap_or_else(|| "unknown".into());
        let date = std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d %H:%M UTC")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let loadavg = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        Machine {
            loadavg,
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel: host::mounts::kernel_release(),
            date,
            mem_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_robust() {
        let s = Summary::of(&[1.0, 2.0, 3.0, 100.0]);
        assert_eq!(s.median, 2.5);
        assert_eq!((s.min, s.max, s.n), (1.0, 100.0, 4));
        assert_eq!(Summary::of(&[]).n, 0);
    }

    #[test]
    fn status_fields_parse() {
        // Only on Linux with /proc; elsewhere both read 0 and the check is vacuous.
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(rss() > 0);
            assert!(peak_rss() >= rss() / 2);
        }
    }
}
