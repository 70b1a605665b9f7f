//! `cargo bench -p splicelab-bench --bench realcopy [-- --quick]`: `splicelab-realcopy` on
//! real filesystems against the baselines it must keep up with, measured in the same run on
//! the same 1 GiB file (issue 21; `docs/performance.md`, "Real files"):
//!
//! - never-share (`pread`/`pwrite`, 1 MiB chunks) against GNU `cp --reflink=never`
//!   (target: ≥ 90 % of cp's throughput);
//! - may-share against GNU `cp --reflink=auto` (no target; shown for reference);
//! - must-share (`copy_file`: checks, probe, saved-blocks step, `FICLONERANGE`) against a
//!   bare `ioctl(FICLONE)` (target: within ×1.1 of its time).
//!
//! Needs root (it mounts a loop XFS with reflink=1 and a btrfs, and a tmpfs); every mount
//! is under a temporary directory and is torn down on every exit path (`host::mounts`).
//! Runs alternate between the library and its baseline, a `sync` before each (untimed),
//! and each figure is the median of the runs. `SPLICELAB_BENCH_SIZE` overrides the size,
//! `SPLICELAB_BENCH_CHUNK` the library's byte-copy chunk, `SPLICELAB_BENCH_FS` picks one
//! filesystem (`xfs-reflink`, `btrfs`, `tmpfs`); `SPLICELAB_BENCH_SAMPLES=1` prints every
//! sample.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use host::mounts::{RealFs, TestMount, prerequisites};
use realcopy::{Options, Share};

/// `FICLONE` = `_IOW(0x94, 9, int)`.
const FICLONE: libc::c_ulong = 0x4004_9409;

/// The best and the median of some run times.
#[derive(Clone, Copy)]
struct Times {
    best: f64,
    median: f64,
}

fn times(mut v: Vec<f64>) -> Times {
    v.sort_by(f64::total_cmp);
    Times {
        best: v[0],
        median: v[v.len() / 2],
    }
}

fn sync() {
    // SAFETY: sync(2) has no arguments.
    unsafe { libc::sync() };
}

/// Writes `size` bytes of a seeded pattern (seed printed) to `path`, then syncs.
fn make_source(path: &Path, size: u64, seed: u64) {
    let mut f = File::create(path).expect("create source");
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).expect("write source");
        left -= n as u64;
    }
    f.sync_all().expect("fsync source");
}

/// A sparse file of `size` bytes with a 16 KiB extent of pattern data every 32 KiB.
fn make_fragmented(path: &Path, size: u64, seed: u64) {
    let f = File::create(path).expect("create fragmented source");
    let mut x = seed | 1;
    let mut buf = vec![0u8; 16 << 10];
    for b in buf.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut off = 0;
    while off < size {
        std::os::unix::fs::FileExt::write_all_at(&f, &buf, off).expect("write extent");
        off += 32 << 10;
    }
    f.set_len(size).expect("size");
    f.sync_all().expect("fsync fragmented source");
}

fn fresh(dst: &Path) -> File {
    let _ = std::fs::remove_file(dst);
    sync();
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)
        .expect("create destination")
}

fn time_secs(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn library(src: &Path, dst: &Path, share: Share) -> f64 {
    let s = File::open(src).expect("open source");
    let d = fresh(dst);
    let mut opts = Options::default();
    if let Some(c) = std::env::var("SPLICELAB_BENCH_CHUNK")
        .ok()
        .and_then(|c| c.parse().ok())
    {
        opts.chunk = c;
    }
    time_secs(|| {
        let c = realcopy::copy_file(&s, &d, share, &mut opts).expect("copy");
        assert!(!c.interrupted);
    })
}

fn gnu_cp(src: &Path, dst: &Path, reflink: &str) -> f64 {
    let _ = std::fs::remove_file(dst);
    sync();
    time_secs(|| {
        let st = Command::new("cp")
            .arg(format!("--reflink={reflink}"))
            .arg(src)
            .arg(dst)
            .status()
            .expect("cp runs");
        assert!(st.success(), "cp --reflink={reflink} failed");
    })
}

fn bare_ficlone(src: &Path, dst: &Path) -> f64 {
    let s = File::open(src).expect("open source");
    let d = fresh(dst);
    time_secs(|| {
        // SAFETY: FICLONE takes the source descriptor as its argument.
        let r = unsafe { libc::ioctl(d.as_raw_fd(), FICLONE, s.as_raw_fd()) };
        assert_eq!(r, 0, "FICLONE failed: {}", std::io::Error::last_os_error());
    })
}

/// Runs `a` and `b` alternately `reps` times.
fn pair(reps: usize, mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (Times, Times) {
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        vb.push(b());
        va.push(a());
    }
    if std::env::var_os("SPLICELAB_BENCH_SAMPLES").is_some() {
        println!("samples (s): library {va:.3?}, baseline {vb:.3?}");
    }
    (times(va), times(vb))
}

/// One row: the library's and the baseline's best and median, in `unit`s (`f` turns a
/// time in seconds into the unit), and the ratio of the best times and of the medians
/// (`ratio` of library and baseline times).
fn row(
    kind: RealFs,
    what: &str,
    baseline: &str,
    (lib, base): (Times, Times),
    f: impl Fn(f64) -> String,
    ratio: impl Fn(f64, f64) -> f64,
    target: &str,
) {
    println!(
        "| {kind} | {what} | {baseline} | {} ({}) | {} ({}) | {:.2} ({:.2}) | {target} |",
        f(lib.best),
        f(lib.median),
        f(base.best),
        f(base.median),
        ratio(lib.best, base.best),
        ratio(lib.median, base.median),
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let size: u64 = std::env::var("SPLICELAB_BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 64 << 20 } else { 1 << 30 });
    let seed = 21;
    println!(
        "realcopy bench: {} MiB source (pattern seed {seed}), kernel {}",
        size >> 20,
        host::mounts::kernel_release()
    );
    let byte_reps = if quick { 3 } else { 9 };
    let clone_reps = if quick { 5 } else { 21 };
    println!(
        "\n| fs | library | baseline | library: best (median) | baseline: best (median) | ratio: best (median) | target |\n|---|---|---|---|---|---|---|"
    );
    let only = std::env::var("SPLICELAB_BENCH_FS").ok();
    for kind in [RealFs::XfsReflink, RealFs::Btrfs, RealFs::Tmpfs] {
        if only.as_deref().is_some_and(|o| o != kind.name()) {
            continue;
        }
        if let Err(why) = prerequisites(kind) {
            println!("NOTICE {kind}: {why}; skipped");
            continue;
        }
        let m = TestMount::new(kind, (3 * size + (512 << 20)).max(kind.min_size())).expect("mount");
        let (src, dst) = (m.path().join("src"), m.path().join("dst"));
        make_source(&src, size, seed);
        let mb = size as f64 / (1 << 20) as f64;
        let mibs = |t: f64| format!("{:.0} MiB/s", mb / t);
        let ms = |t: f64| format!("{:.3} ms", t * 1e3);
        let throughput = |lib: f64, base: f64| base / lib;
        let slowdown = |lib: f64, base: f64| lib / base;
        let never = pair(
            byte_reps,
            || library(&src, &dst, Share::Never),
            || gnu_cp(&src, &dst, "never"),
        );
        row(
            kind,
            "never-share",
            "cp --reflink=never",
            never,
            mibs,
            throughput,
            "throughput ≥ 0.90",
        );
        let may = pair(
            byte_reps,
            || library(&src, &dst, Share::May),
            || gnu_cp(&src, &dst, "auto"),
        );
        row(
            kind,
            "may-share",
            "cp --reflink=auto",
            may,
            ms,
            slowdown,
            "-",
        );
        if kind.supports_reflink() {
            // A fragmented source of the same size: one 16 KiB extent every 32 KiB, so that
            // the clone has real work (O(extents)) to do.
            let frag = m.path().join("frag");
            make_fragmented(&frag, size, seed);
            let must = pair(
                clone_reps.min(7),
                || library(&frag, &dst, Share::Must),
                || bare_ficlone(&frag, &dst),
            );
            let what = format!("must-share, {} extents", size / (32 << 10));
            row(
                kind,
                &what,
                "bare FICLONE",
                must,
                ms,
                slowdown,
                "time ≤ ×1.10",
            );
            let _ = std::fs::remove_file(&frag);
            let must = pair(
                clone_reps,
                || library(&src, &dst, Share::Must),
                || bare_ficlone(&src, &dst),
            );
            row(
                kind,
                "must-share, dense file",
                "bare FICLONE",
                must,
                ms,
                slowdown,
                "time ≤ ×1.10",
            );
        }
        drop(m);
    }
}
