//! `splicelab race --real FS` and `splicelab race --compare`: who waits while one copy
//! runs, on the real kernel.
//!
//! # How a real race runs
//!
//! 1. A fresh filesystem: a loop-mounted btrfs or XFS image (reflink=1 or 0) or a tmpfs,
//!    under a private temporary directory ([`host::mounts::TestMount`], which unmounts and
//!    detaches the loop device on every exit path, including a panic or an error).
//! 2. The source, written by the same code that builds the model's
//!    ([`timeline::write_source`]): with `--extents N`, pieces of `size / N` bytes (whole
//!    blocks), the even-numbered ones first, an `fsync`, then the odd ones and an `fsync`,
//!    so the filesystem allocates each piece on its own (reference §9). `FIEMAP` counts
//!    the extents the kernel really made.
//! 3. Dry runs (without `--interval`): the call alone into `/dryN`, timed, twice (the
//!    faster counts, [`Session::dry_run`]); each copy is removed again and the
//!    filesystem synced, so that freeing it is not part of the next call.
//! 4. The race: the call in the main thread, into a fresh `/dstN`; a second thread
//!    preads (or pwrites) 4 KiB of the source or the destination at planned arrival times
//!    `t0 + (i + ½)·interval`, wall clock, until the call returns. The interval is
//!    `--interval`, or the dry run's duration divided by `--calls` (so the reads are
//!    spread over the call as in the model's race). A read's wait runs from its planned
//!    arrival to its return: a read the kernel blocks delays the reads planned behind it,
//!    and their waits count from their own arrivals (as if each came from its own thread,
//!    which is what the model's race does) — no coordinated omission — while the time
//!    the scheduler takes to run the one real second thread does not count
//!    ([`RealRace::waits`]).
//!
//! `^C` stops between the phases (and the second thread at once); everything is torn down
//! before the command exits with 130.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use host::Linux;
use host::mounts::{RealFs, TestMount};
use syscall::api::{DedupeDest, Syscalls, dedupe, o};
use syscall::flags::fiemap;
use vfs::clock::Nanos;
use vfs::errno::Errno;

use crate::cp_real::{INTERRUPTED, catch_sigint};
use crate::pictures::timeline::{self, Other, OtherOp, RaceTarget};
use crate::tour::{self, Method};

/// The calls `race --real` can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealCall {
    /// splice with each semantics, as the `realcopy` crate does it today
    /// (`pread`/`pwrite`; `copy_file_range` with a byte-copy fallback; `FICLONERANGE`).
    Never,
    May,
    Must,
    /// `copy_file_range(2)`, flags 0, called again after a short count.
    CopyFileRange,
    /// `ioctl(FICLONE)`.
    Ficlone,
    /// `ioctl(FICLONERANGE)` over the whole file.
    FicloneRange,
    /// `ioctl(FIDEDUPERANGE)` of the whole file onto a destination written with the same
    /// bytes in the same pieces, called again after a short count.
    Dedupe,
}

impl RealCall {
    pub const ALL: [RealCall; 7] = [
        RealCall::Never,
        RealCall::May,
        RealCall::Must,
        RealCall::CopyFileRange,
        RealCall::Ficlone,
        RealCall::FicloneRange,
        RealCall::Dedupe,
    ];

    /// The command line's word (`never`, …, `ficlone`, `dedupe`).
    pub fn key(self) -> &'static str {
        match self {
            RealCall::Never => "never",
            RealCall::May => "may",
            RealCall::Must => "must",
            RealCall::CopyFileRange => "copy_file_range",
            RealCall::Ficlone => "ficlone",
            RealCall::FicloneRange => "ficlonerange",
            RealCall::Dedupe => "dedupe",
        }
    }

    /// For people (`FICLONE`, `splice MUST (realcopy)`).
    pub fn label(self) -> &'static str {
        match self {
            RealCall::Never => "splice (realcopy: pread/pwrite)",
            RealCall::May => "splice MAY (realcopy: copy_file_range)",
            RealCall::Must => "splice MUST (realcopy: FICLONERANGE)",
            RealCall::CopyFileRange => "copy_file_range",
            RealCall::Ficlone => "FICLONE",
            RealCall::FicloneRange => "FICLONERANGE",
            RealCall::Dedupe => "FIDEDUPERANGE",
        }
    }

    /// The model's counterpart, if it has one (`FICLONE` is a `FICLONERANGE` of the whole
    /// file there).
    pub fn model_method(self) -> Option<Method> {
        match self {
            RealCall::Never => Some(Method::SpliceNever),
            RealCall::May => Some(Method::SpliceMay),
            RealCall::Must => Some(Method::SpliceMust),
            RealCall::CopyFileRange => Some(Method::CopyFileRange),
            RealCall::Ficlone | RealCall::FicloneRange => Some(Method::FiCloneRange),
            RealCall::Dedupe => Some(Method::Dedupe),
        }
    }

    /// The call named `s`.
    ///
    /// # Errors
    /// An unknown name, with the list of known ones.
    pub fn parse(s: &str) -> Result<RealCall, String> {
        RealCall::ALL
            .into_iter()
            .find(|c| c.key() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = RealCall::ALL.iter().map(|c| c.key()).collect();
                format!("--call: unknown call '{s}' ({})", all.join(", "))
            })
    }
}

/// The real filesystems `--real` takes, with the model each is paired with
/// ([`conform::env::pair_by_name`]).
///
/// # Errors
/// An unknown name, with the list of known ones.
pub fn real_fs(name: &str) -> Result<conform::env::Pair, String> {
    conform::env::pair_by_name(name).ok_or_else(|| {
        format!("--real: unknown filesystem '{name}' (btrfs, xfs, xfs-noreflink, tmpfs)")
    })
}

/// The lab's default chunk for a byte copy (the models' `chunk=` default), used for the
/// never-share splice so that its chunks are the model's.
pub const CHUNK: u64 = 1 << 20;

/// Runs of the call alone before a race ([`Session::dry_run`]).
pub const DRY_RUNS: u32 = 2;

/// Bytes each call of the second task moves.
pub const OTHER_LEN: usize = 4096;

/// One race (or dry run) on the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealRace {
    pub call: RealCall,
    /// The second task and its interval; `None` for a dry run.
    pub other: Option<(Other, Nanos)>,
    /// Bytes the call copied (shared, deduplicated).
    pub bytes: u64,
    /// System calls (or realcopy chunks) it made.
    pub calls: u64,
    /// How it failed, if it did (`EOPNOTSUPP`; `DIFFERS` for a dedupe).
    pub errno: Option<String>,
    /// The call's duration.
    pub copy_ns: Nanos,
    /// Each call of the second task: (planned arrival, issued, returned), from the
    /// planned start (the call itself starts as soon after it as the thread wakes).
    pub reads: Vec<(Nanos, Nanos, Nanos)>,
}

impl RealRace {
    /// The waits, one per call of the second task, as if each call came from its own
    /// thread (which is what the model's race does): a call that arrives while an
    /// earlier call is inside the kernel (issued, not yet returned) waits until that call
    /// returns, then for its own call; any other call waits for its own call only. So a
    /// call the kernel blocks counts, and so do the arrivals that would have queued
    /// behind the same blocker; the time the scheduler takes to run the one real second
    /// thread does not (measured: a backlog of 19 ms on 2 busy cores while every read
    /// took under 10 µs).
    pub fn waits(&self) -> Vec<Nanos> {
        let mut j = 0;
        let mut out = Vec::with_capacity(self.reads.len());
        for (i, &(arrive, issued, ret)) in self.reads.iter().enumerate() {
            while j < i && self.reads[j].2 <= arrive {
                j += 1;
            }
            let queued = if j < i && self.reads[j].1 <= arrive {
                self.reads[j].2 - arrive
            } else {
                0
            };
            out.push(queued + ret.saturating_sub(issued));
        }
        out
    }

    /// The longest wait.
    pub fn longest_wait(&self) -> Nanos {
        self.waits().into_iter().max().unwrap_or(0)
    }

    /// The `p`-th percentile wait (nearest rank).
    pub fn wait_percentile(&self, p: u32) -> Nanos {
        timeline::percentile(self.waits(), p)
    }

    /// The longest single call of the second task (issue to return: time in the kernel).
    pub fn longest_call(&self) -> Nanos {
        self.reads
            .iter()
            .map(|&(_, i, e)| e.saturating_sub(i))
            .max()
            .unwrap_or(0)
    }

    /// The longest wait as a fraction of the call.
    pub fn fraction(&self) -> f64 {
        if self.copy_ns == 0 {
            0.0
        } else {
            self.longest_wait() as f64 / self.copy_ns as f64
        }
    }

    /// The figures a comparison keeps.
    pub fn side(&self, src_extents: u64) -> conform::who_waits::Side {
        conform::who_waits::Side {
            src_extents,
            errno: self.errno.clone(),
            copy_ns: self.copy_ns,
            other_calls: self.reads.len() as u64,
            longest_wait_ns: self.longest_wait(),
            p99_wait_ns: self.wait_percentile(99),
        }
    }
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// The message of a `^C`; [`crate::race`] turns it into exit status 130.
pub const INTERRUPTED_MSG: &str = "interrupted";

fn check_interrupt() -> Result<(), String> {
    if interrupted() {
        Err(INTERRUPTED_MSG.into())
    } else {
        Ok(())
    }
}

/// A mounted real filesystem holding `/src`: races run one after another on it.
pub struct Session {
    // Dropped in this order: the descriptors before the mount.
    linux: Option<Linux>,
    mount: Option<TestMount>,
    kind: RealFs,
    src: i32,
    size: u64,
    fragment: Option<u64>,
    /// Extents of the real source (`FIEMAP`).
    pub src_extents: u64,
    next: u64,
}

impl Session {
    /// Mounts a fresh `kind` filesystem and writes `/src` of `size` bytes, cut into pieces
    /// of `fragment` bytes when given.
    ///
    /// # Errors
    /// `kind` cannot be mounted here (not root, a missing tool: the message says which);
    /// mounting, writing or `FIEMAP` failed; `^C`. Whatever was set up is torn down.
    pub fn new(kind: RealFs, size: u64, fragment: Option<u64>) -> Result<Session, String> {
        host::mounts::prerequisites(kind)
            .map_err(|why| format!("--real {}: cannot mount it here: {why}", kind.name()))?;
        catch_sigint();
        // The source, a copy and a dry run's copy, and room for metadata; the image is
        // sparse, tmpfs takes memory only for what is written.
        let want = (3 * size + (256 << 20)).div_ceil(1 << 20) << 20;
        let mount = TestMount::new(kind, want.max(kind.min_size()))
            .map_err(|e| format!("mounting {kind}: {e}"))?;
        let mut s = Session {
            linux: None,
            kind,
            src: -1,
            size,
            fragment,
            src_extents: 0,
            next: 0,
            mount: Some(mount),
        };
        check_interrupt()?;
        let root = s.mount_path().to_path_buf();
        let mut linux = Linux::new(root).map_err(|e| format!("{kind}: {e}"))?;
        let src = linux
            .open("/src", o::CREAT | o::RDWR, 0o644)
            .map_err(|e| format!("{kind}: open /src: {e}"))?;
        s.src = src;
        timeline::write_source(&mut linux, src, size, fragment, true)
            .map_err(|e| format!("{kind}: writing /src: {e}"))?;
        linux
            .fsync(src)
            .map_err(|e| format!("{kind}: fsync /src: {e}"))?;
        s.src_extents = match linux.fiemap(src, 0, size, fiemap::SYNC) {
            Ok(v) => v.len() as u64,
            // tmpfs has no extents to report: count the pieces written.
            Err(Errno::EOPNOTSUPP) => fragment.map_or(1, |e| size.div_ceil(e)),
            Err(e) => return Err(format!("{kind}: FIEMAP /src: {e}")),
        };
        s.linux = Some(linux);
        check_interrupt()?;
        Ok(s)
    }

    fn mount_path(&self) -> &std::path::Path {
        self.mount
            .as_ref()
            .map_or(std::path::Path::new("/nonexistent"), |m| m.path())
    }

    fn linux(&mut self) -> Result<&mut Linux, String> {
        self.linux
            .as_mut()
            .ok_or_else(|| "the session is closed".to_string())
    }

    /// `syncfs(2)` on the filesystem (errors ignored: it only settles background work).
    fn syncfs(&self) {
        if let Ok(f) = File::open(self.mount_path()) {
            // SAFETY: `f` is an open descriptor for the duration of the call.
            unsafe { libc::syncfs(f.as_raw_fd()) };
        }
    }

    /// The call alone, [`DRY_RUNS`] times (each into a fresh `/dryN`, removed again): the
    /// fastest run. The first calls on a fresh filesystem are the slowest (measured: a
    /// btrfs clone of 16,384 extents took 554, 558, 308 and 110 ms in a row), and the
    /// interval derived from this duration only needs to spread the second task's calls
    /// over the call, so the faster run is the better estimate.
    ///
    /// # Errors
    /// As [`Session::race`].
    pub fn dry_run(&mut self, call: RealCall) -> Result<RealRace, String> {
        let mut best = self.run(call, None)?;
        for _ in 1..DRY_RUNS {
            let r = self.run(call, None)?;
            if r.copy_ns < best.copy_ns {
                best = r;
            }
        }
        Ok(best)
    }

    /// One race: `call` into a fresh destination while `other` runs every `interval`.
    ///
    /// # Errors
    /// A failing setup call (open, write), `^C`. A failing copy call is not an error: it
    /// is reported in [`RealRace::errno`].
    pub fn race(
        &mut self,
        call: RealCall,
        other: Other,
        interval: Nanos,
    ) -> Result<RealRace, String> {
        self.run(call, Some((other, interval.max(1_000))))
    }

    fn run(&mut self, call: RealCall, other: Option<(Other, Nanos)>) -> Result<RealRace, String> {
        check_interrupt()?;
        self.next += 1;
        let dst_path = if other.is_some() {
            format!("/dst{}", self.next)
        } else {
            format!("/dry{}", self.next)
        };
        let (kind, size, fragment, src) = (self.kind, self.size, self.fragment, self.src);
        let linux = self.linux()?;
        let dst = linux
            .open(&dst_path, o::CREAT | o::RDWR | o::TRUNC, 0o644)
            .map_err(|e| format!("{kind}: open {dst_path}: {e}"))?;
        if call == RealCall::Dedupe {
            timeline::write_source(linux, dst, size, fragment, true)
                .map_err(|e| format!("{kind}: writing {dst_path}: {e}"))?;
        }
        linux
            .fsync(dst)
            .map_err(|e| format!("{kind}: fsync {dst_path}: {e}"))?;
        let (src_real, dst_real) = (linux.real_path("/src"), linux.real_path(&dst_path));
        // realcopy works on files; the second task has its own descriptor, as a second
        // process would.
        let files = match call {
            RealCall::Never | RealCall::May | RealCall::Must => Some((
                File::open(&src_real).map_err(|e| format!("open {}: {e}", src_real.display()))?,
                OpenOptions::new()
                    .write(true)
                    .open(&dst_real)
                    .map_err(|e| format!("open {}: {e}", dst_real.display()))?,
            )),
            _ => None,
        };
        let target = match other {
            Some((o, _)) => {
                let path = match o.target {
                    RaceTarget::Src => &src_real,
                    RaceTarget::Dst => &dst_real,
                };
                let f = OpenOptions::new()
                    .read(o.op == OtherOp::Read)
                    .write(o.op == OtherOp::Write)
                    .open(path)
                    .map_err(|e| format!("open {} for the second task: {e}", path.display()))?;
                Some((f, o.op, other.map_or(1, |x| x.1)))
            }
            None => None,
        };
        let end = AtomicU64::new(u64::MAX);
        let barrier = Barrier::new(if target.is_some() { 2 } else { 1 });
        // The start, planned a little ahead so that both threads are ready for it.
        let t0 = Instant::now() + Duration::from_millis(2);
        let blocks = (size / OTHER_LEN as u64).max(1);
        let (outcome, reads) = std::thread::scope(|scope| {
            let reader = target.as_ref().map(|(f, op, interval)| {
                let (end, barrier) = (&end, &barrier);
                scope.spawn(move || second_task(f, *op, *interval, blocks, t0, end, barrier))
            });
            barrier.wait();
            sleep_until(t0);
            let start = Instant::now();
            let outcome = do_call(linux, call, src, dst, size, files.as_ref());
            let copy_ns = start.elapsed().as_nanos() as u64;
            end.store(
                Instant::now().saturating_duration_since(t0).as_nanos() as u64,
                Ordering::Release,
            );
            let reads = reader
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default();
            ((outcome, copy_ns), reads)
        });
        let ((bytes, calls, errno), copy_ns) = outcome;
        drop(files);
        drop(target);
        let _ = linux.close(dst);
        let _ = linux.unlink(&dst_path);
        self.syncfs();
        check_interrupt()?;
        Ok(RealRace {
            call,
            other,
            bytes,
            calls,
            errno,
            copy_ns,
            reads,
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.linux.take());
        drop(self.mount.take());
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// The second task: one call of [`OTHER_LEN`] bytes at each planned arrival until the
/// copy has ended (`end`, from `t0`, is stored by the copy's thread), at offsets spread
/// over the file. Returns (arrival, issued, returned) per call, from `t0`.
fn second_task(
    f: &File,
    op: OtherOp,
    interval: Nanos,
    blocks: u64,
    t0: Instant,
    end: &AtomicU64,
    barrier: &Barrier,
) -> Vec<(Nanos, Nanos, Nanos)> {
    let since = |t: Instant| t.saturating_duration_since(t0).as_nanos() as u64;
    let mut buf = vec![0u8; OTHER_LEN];
    let data = vec![0x77u8; OTHER_LEN];
    let mut out = Vec::new();
    barrier.wait();
    for i in 0..timeline::MAX_RACE_CALLS {
        let arrive = interval * i + interval / 2;
        sleep_until(t0 + Duration::from_nanos(arrive));
        if arrive > end.load(Ordering::Acquire) || interrupted() {
            break;
        }
        let off = (i * 7919 % blocks) * OTHER_LEN as u64;
        let issued = since(Instant::now());
        // Errors are not the point (a read past the destination's EOF returns 0 at once).
        let _ = match op {
            OtherOp::Read => f.read_at(&mut buf, off),
            OtherOp::Write => f.write_at(&data, off),
        };
        out.push((arrive, issued, since(Instant::now())));
    }
    out
}

/// The call itself: (bytes, calls, errno).
fn do_call(
    linux: &mut Linux,
    call: RealCall,
    src: i32,
    dst: i32,
    size: u64,
    files: Option<&(File, File)>,
) -> (u64, u64, Option<String>) {
    let name = |e: Errno| tour::errno_name(e);
    match call {
        RealCall::Ficlone => match linux.ficlone(dst, src) {
            Ok(()) => (size, 1, None),
            Err(e) => (0, 1, Some(name(e))),
        },
        RealCall::FicloneRange => match linux.ficlonerange(dst, src, 0, size, 0) {
            Ok(()) => (size, 1, None),
            Err(e) => (0, 1, Some(name(e))),
        },
        RealCall::CopyFileRange => {
            let (mut done, mut calls) = (0u64, 0u64);
            while done < size {
                let (mut i, mut o) = (done as i64, done as i64);
                calls += 1;
                match linux.copy_file_range(
                    src,
                    Some(&mut i),
                    dst,
                    Some(&mut o),
                    (size - done) as usize,
                    0,
                ) {
                    Ok(0) => break,
                    Ok(n) => done += n as u64,
                    Err(e) => return (done, calls, Some(name(e))),
                }
            }
            (done, calls, None)
        }
        RealCall::Dedupe => {
            let (mut done, mut calls) = (0u64, 0u64);
            while done < size {
                calls += 1;
                let dest = [DedupeDest {
                    fd: dst,
                    offset: done,
                }];
                match linux.fideduperange(src, done, size - done, &dest) {
                    Ok(v) => match v.first() {
                        Some(r) if r.status < 0 => {
                            return (done, calls, Some(name(Errno(-r.status))));
                        }
                        Some(r) if r.status == dedupe::DIFFERS => {
                            return (done, calls, Some("DIFFERS".into()));
                        }
                        Some(r) if r.bytes_deduped > 0 => done += r.bytes_deduped,
                        _ => break,
                    },
                    Err(e) => return (done, calls, Some(name(e))),
                }
            }
            (done, calls, None)
        }
        RealCall::Never | RealCall::May | RealCall::Must => {
            let share = match call {
                RealCall::Never => realcopy::Share::Never,
                RealCall::May => realcopy::Share::May,
                _ => realcopy::Share::Must,
            };
            let Some((s, d)) = files else {
                return (0, 0, Some("no files".into()));
            };
            let mut opts = realcopy::Options {
                chunk: CHUNK,
                ..realcopy::Options::default()
            };
            match realcopy::copy_range(s, 0, d, 0, size, share, &mut opts) {
                Ok(c) => (c.bytes, c.calls, None),
                Err(f) => (f.copied, 0, Some(name(Errno(f.errno.0)))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn race(reads: Vec<(Nanos, Nanos, Nanos)>) -> RealRace {
        RealRace {
            call: RealCall::Ficlone,
            other: None,
            bytes: 0,
            calls: 1,
            errno: None,
            copy_ns: 1000,
            reads,
        }
    }

    #[test]
    fn arrivals_behind_a_blocked_call_wait_for_it_late_wakeups_do_not_count() {
        // Read 0 blocked 10..1000; reads 1 and 2 arrived meanwhile and queue behind it;
        // read 3 arrived at 1500 but its thread woke only at 1900.
        let r = race(vec![
            (10, 10, 1000),
            (20, 1000, 1001),
            (30, 1001, 1002),
            (1500, 1900, 1901),
        ]);
        assert_eq!(r.waits(), vec![990, 981, 971, 1]);
        assert_eq!(r.longest_wait(), 990);
        assert_eq!(r.longest_call(), 990);
        assert!((r.fraction() - 0.99).abs() < 1e-9);
        // A backlog made by the scheduler alone (no call was inside the kernel when the
        // others arrived) is not a wait.
        let r = race(vec![(10, 500, 501), (20, 501, 502), (30, 502, 503)]);
        assert_eq!(r.waits(), vec![1, 1, 1]);
    }

    #[test]
    fn calls_and_filesystems_parse() {
        for c in RealCall::ALL {
            assert_eq!(RealCall::parse(c.key()), Ok(c));
        }
        assert!(
            RealCall::parse("sometimes")
                .unwrap_err()
                .contains("ficlone")
        );
        assert_eq!(real_fs("xfs").unwrap().real, RealFs::XfsReflink);
        assert!(
            real_fs("zfs")
                .unwrap_err()
                .contains("unknown filesystem 'zfs'")
        );
    }
}
