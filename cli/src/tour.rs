//! `splicelab tour` (the default): every model × every way of copying, in one table.
//!
//! For each filesystem model of [`TOUR_MODELS`] and each [`Method`] (the extended splice
//! with no flag, `SPLICE_F_MAY_SHARE`, `SPLICE_F_MUST_SHARE`; today's `copy_file_range`
//! and `FICLONERANGE`) the tour builds a fresh filesystem, writes a pattern file `/src` of
//! the tour size (1 GiB by default; pattern data costs no memory), fsyncs, and copies it to
//! an empty `/dst`. Every cell of the table is then *measured* on that run, never typed in:
//!
//! | column | how it is computed |
//! |---|---|
//! | result | the calls' return values: bytes copied (looping like `cp` on short counts), or the errno of the first call |
//! | shared | [`Image::shared_blocks`] over the destination after the copy and an fsync |
//! | time | the task's virtual clock across the copy calls (the mount's cost model) |
//! | dst lock | [`vfs::lock::LockState::longest_hold`] of the destination inode lock, reset just before the copy: the longest a reader of the destination would have waited |
//! | bad block | [`Fault::MediaError`] injected under byte 0 of the source, after everything else; the files the model reports hit |
//! | overwrite | the filesystem is filled to capacity (a filler file of `statfs().free` blocks), then 4 KiB of the destination are overwritten and fsynced: `ENOSPC` or `ok` |
//! | crash | every image [`vfs::FileSystem::crash_states`] permits, before and after `fsync(dst)`, classified as `kept` / `part` (a prefix) / `lost` |
//!
//! Rows run in parallel (one thread per core); each has its own VFS, so the figures do not
//! depend on the order.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use syscall::api::{DedupeDest, dedupe, o};
use syscall::flags::splice as sf;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::clock::{Nanos, fmt_nanos};
use vfs::errno::Errno;
use vfs::extent::{Image, Ino, ROOT_INO};
use vfs::fs::Fault;
use vfs::sync::Arc;
use vfs::vfs::{Mount, Vfs};

use crate::pictures;

/// The models of the tour: `(label, mount spec)`.
pub const TOUR_MODELS: &[(&str, &str)] = &[
    ("btrfs-like", "btrfs-like"),
    ("ocfs2-like", "ocfs2-like"),
    ("xfs-like", "xfs-like"),
    // Issue 20: the remap built outside the inode locks and installed under them.
    ("btrfs-like swap", "btrfs-like:remap=swap"),
    ("xfs-like swap", "xfs-like:remap=swap"),
    (
        "nfs/btrfs strict",
        "nfs-like:server=btrfs-like,policy=strict",
    ),
    (
        "nfs/btrfs lenient",
        "nfs-like:server=btrfs-like,policy=lenient",
    ),
    ("nfs/plain", "nfs-like:server=plain"),
    ("plain", "plain"),
];

/// Seed of the source file's pattern.
pub const SRC_SEED: u64 = 0x5eed;

/// Bytes of the overwrite the overwrite column tries.
pub const OVERWRITE_LEN: u64 = 4096;

/// Largest `--size` the tour accepts (a byte copy of it must finish in minutes, not days).
pub const MAX_SIZE: u64 = 1 << 40;

/// One way of copying a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `splice(2)` with no share flag: never share.
    SpliceNever,
    /// `splice(2)` with `SPLICE_F_MAY_SHARE`.
    SpliceMay,
    /// `splice(2)` with `SPLICE_F_MUST_SHARE`.
    SpliceMust,
    /// `copy_file_range(2)` with flags 0 (today's Linux).
    CopyFileRange,
    /// `ioctl(FICLONERANGE)` over the whole file.
    FiCloneRange,
    /// `ioctl(FIDEDUPERANGE)` of the whole file against a destination that already holds
    /// the same bytes (`splicelab race` only: the tour copies into an empty file).
    Dedupe,
}

impl Method {
    /// Every method, in table order.
    pub const ALL: [Method; 5] = [
        Method::SpliceNever,
        Method::SpliceMay,
        Method::SpliceMust,
        Method::CopyFileRange,
        Method::FiCloneRange,
    ];

    /// The calls `splicelab race` can race: the tour's and a dedupe.
    pub const RACE: [Method; 6] = [
        Method::SpliceNever,
        Method::SpliceMay,
        Method::SpliceMust,
        Method::CopyFileRange,
        Method::FiCloneRange,
        Method::Dedupe,
    ];

    /// The name in the table (`splice`, `splice MAY`, …).
    pub fn label(self) -> &'static str {
        match self {
            Method::SpliceNever => "splice",
            Method::SpliceMay => "splice MAY",
            Method::SpliceMust => "splice MUST",
            Method::CopyFileRange => "copy_file_range",
            Method::FiCloneRange => "FICLONERANGE",
            Method::Dedupe => "FIDEDUPERANGE",
        }
    }

    /// A stable key for JSON and tests (`never`, `may`, `must`, `copy_file_range`,
    /// `ficlonerange`).
    pub fn key(self) -> &'static str {
        match self {
            Method::SpliceNever => "never",
            Method::SpliceMay => "may",
            Method::SpliceMust => "must",
            Method::CopyFileRange => "copy_file_range",
            Method::FiCloneRange => "ficlonerange",
            Method::Dedupe => "dedupe",
        }
    }

    /// The splice flags, for the splice methods.
    pub fn splice_flags(self) -> Option<u32> {
        match self {
            Method::SpliceNever => Some(0),
            Method::SpliceMay => Some(sf::MAY_SHARE),
            Method::SpliceMust => Some(sf::MUST_SHARE),
            _ => None,
        }
    }
}

/// What the copy calls returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copied {
    /// Bytes copied in total.
    pub bytes: u64,
    /// The errno that ended the loop (the first call's, when `bytes == 0`).
    pub errno: Option<Errno>,
    /// System calls made.
    pub calls: u64,
}

/// What one crash state holds in `/dst`, compared with `/src` of the same image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Keep {
    /// No destination, or an empty one.
    Lost,
    /// A prefix of the copy (shorter, and equal to the source's prefix).
    Part,
    /// The whole copy.
    Kept,
    /// Something else (never expected: garbage or a foreign block).
    Bad,
}

/// The crash states of one moment, classified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashSummary {
    pub lost: usize,
    pub part: usize,
    pub kept: usize,
    pub bad: usize,
}

impl CrashSummary {
    /// Classifies every state.
    pub fn of(states: &[Image], size: u64) -> CrashSummary {
        let mut s = CrashSummary::default();
        for img in states {
            match classify(img, size) {
                Keep::Lost => s.lost += 1,
                Keep::Part => s.part += 1,
                Keep::Kept => s.kept += 1,
                Keep::Bad => s.bad += 1,
            }
        }
        s
    }

    /// Number of states.
    pub fn states(&self) -> usize {
        self.lost + self.part + self.kept + self.bad
    }

    /// `kept`, `lost`, or the outcomes that occur joined by `/` (`lost/kept`, `part/kept`).
    pub fn word(&self) -> String {
        let mut w = Vec::new();
        for (n, name) in [
            (self.lost, "lost"),
            (self.part, "part"),
            (self.kept, "kept"),
            (self.bad, "BAD"),
        ] {
            if n > 0 {
                w.push(name);
            }
        }
        if w.is_empty() {
            "-".into()
        } else {
            w.join("/")
        }
    }

    fn to_json(self) -> Value {
        json!({"states": self.states(), "lost": self.lost, "part": self.part,
               "kept": self.kept, "bad": self.bad, "summary": self.word()})
    }
}

/// Classifies the destination of one crash image.
pub fn classify(img: &Image, size: u64) -> Keep {
    let (Ok(src), Ok(dst)) = (img.lookup(ROOT_INO, "src"), img.lookup(ROOT_INO, "dst")) else {
        return Keep::Lost;
    };
    let dsize = img.inode(dst).map(|n| n.size).unwrap_or(0);
    if dsize == 0 {
        return Keep::Lost;
    }
    if same_extents(img, src, dst, dsize) {
        return if dsize >= size {
            Keep::Kept
        } else {
            Keep::Part
        };
    }
    match (img.read(dst, 0, dsize), img.read(src, 0, dsize)) {
        (Ok(got), Ok(want)) if got.same_content(&want) => {
            if dsize >= size {
                Keep::Kept
            } else {
                Keep::Part
            }
        }
        _ => Keep::Bad,
    }
}

/// Whether the first `len` bytes of `dst` and `src` read the same because they are the
/// same blocks: the same mappings (physical extent, length, written or not) at the same
/// offsets, both files at least `len` long, no inline data and no media error in the
/// image. A shortcut of [`classify`] for shared copies (a clone's map is the source's):
/// the answer reading both would give, without reading a million extents twice.
fn same_extents(img: &Image, src: Ino, dst: Ino, len: u64) -> bool {
    let (Ok(s), Ok(d)) = (img.inode(src), img.inode(dst)) else {
        return false;
    };
    if !img.bad.is_empty() || s.inline.is_some() || d.inline.is_some() || s.size < len {
        return false;
    }
    let blocks = len.div_ceil(img.block_size());
    s.mappings_in(0, blocks).eq(d.mappings_in(0, blocks))
}

/// The overwrite on a full filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverwriteTry {
    /// `None` = the overwrite and its fsync succeeded.
    pub errno: Option<Errno>,
    /// Which call failed (`pwrite` or `fsync`).
    pub failed_call: Option<&'static str>,
    /// Free blocks left after filling (0 unless the filler could not take the last ones).
    pub free_after_fill: u64,
    /// Bytes of filler written.
    pub filler_bytes: u64,
}

impl OverwriteTry {
    /// `ok` or the errno's name.
    pub fn word(&self) -> String {
        match self.errno {
            None => "ok".into(),
            Some(e) => errno_name(e),
        }
    }
}

/// One row of the tour.
#[derive(Clone, Debug)]
pub struct Row {
    pub model: String,
    /// The model spec as given (`nfs-like:server=plain`).
    pub spec: String,
    /// The mount spec actually used (with the device size).
    pub mount: String,
    pub method: Method,
    pub size: u64,
    pub block_size: u64,
    pub copied: Copied,
    /// Destination blocks (in `[0, size)`) referenced by another file too, after the copy.
    pub shared_blocks: u64,
    /// Destination blocks in `[0, size)`.
    pub dst_blocks: u64,
    /// Virtual time of the copy calls.
    pub time_ns: Nanos,
    /// Longest single hold of the destination's inode lock during the copy.
    pub dst_hold_ns: Nanos,
    /// Files hit by one media error under byte 0 of the source (`src`, `dst`, or other).
    pub media_hits: Vec<String>,
    /// The model's sentence about the media error.
    pub media_note: String,
    /// The overwrite on a full filesystem (`None` when nothing was copied).
    pub overwrite: Option<OverwriteTry>,
    /// Crash states before `fsync(dst)` (`None` when nothing was copied).
    pub crash_before: Option<CrashSummary>,
    /// Crash states after `fsync(dst)`.
    pub crash_after: Option<CrashSummary>,
}

impl Row {
    /// Whether the copy moved any byte.
    pub fn copied_any(&self) -> bool {
        self.copied.bytes > 0
    }

    /// The result cell: the size copied, or the errno.
    pub fn result_word(&self) -> String {
        match (self.copied.bytes, self.copied.errno) {
            (0, Some(e)) => errno_name(e),
            (0, None) => "0 bytes".into(),
            (n, _) if n == self.size => fmt_size(n),
            (n, _) => format!("{} short", fmt_size(n)),
        }
    }

    /// The media-error cell: `1 file`, `both`, `N files`.
    pub fn media_word(&self) -> String {
        let has = |n: &str| self.media_hits.iter().any(|h| h == n);
        match self.media_hits.len() {
            0 => "none".into(),
            1 => "1 file".into(),
            2 if has("src") && has("dst") => "both".into(),
            n => format!("{n} files"),
        }
    }

    /// The row as one JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "model": self.model,
            "spec": self.spec,
            "mount": self.mount,
            "call": self.method.label(),
            "method": self.method.key(),
            "flags": self.method.splice_flags(),
            "size": self.size,
            "block_size": self.block_size,
            "result": self.result_word(),
            "bytes": self.copied.bytes,
            "errno": self.copied.errno.map(errno_name),
            "calls": self.copied.calls,
            "shared_blocks": self.shared_blocks,
            "dst_blocks": self.dst_blocks,
            "time_ns": self.time_ns,
            "dst_lock_longest_hold_ns": self.dst_hold_ns,
            "media_error_hits": self.media_hits,
            "media_error_destroys": self.media_word(),
            "media_error_note": self.media_note,
            "overwrite_when_full": self.overwrite.as_ref().map(|o| o.word()),
            "overwrite_failed_call": self.overwrite.as_ref().and_then(|o| o.failed_call),
            "free_blocks_after_fill": self.overwrite.as_ref().map(|o| o.free_after_fill),
            "crash_before_fsync": self.crash_before.map(CrashSummary::to_json),
            "crash_after_fsync": self.crash_after.map(CrashSummary::to_json),
        })
    }
}

/// An errno's symbolic name (`EOPNOTSUPP`).
pub fn errno_name(e: Errno) -> String {
    e.name()
        .map_or_else(|| format!("errno {}", e.raw()), str::to_string)
}

/// Bytes for people: `1 GiB`, `64 MiB`, `1.50 MiB`, `4 KiB`, `100 B`.
pub fn fmt_size(n: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ];
    for (u, m) in UNITS {
        if n >= m {
            return if n.is_multiple_of(m) {
                format!("{} {u}", n / m)
            } else {
                format!("{:.2} {u}", n as f64 / m as f64)
            };
        }
    }
    "0 B".into()
}

/// Adds `size=DEV` to a mount spec unless it already names a size.
pub fn with_device_size(spec: &str, dev: u64) -> String {
    let opts = spec.split_once(':').map_or("", |(_, o)| o);
    if opts.split(',').any(|kv| kv.starts_with("size=")) {
        spec.to_string()
    } else if spec.contains(':') {
        format!("{spec},size={dev}")
    } else {
        format!("{spec}:size={dev}")
    }
}

/// The device size the tour gives a file of `size` bytes: the source, one copy, and 64 MiB
/// of room, rounded up to 1 MiB (so a filler fills it quickly even over nfs-like).
pub fn device_size(size: u64) -> u64 {
    (2 * size + (64 << 20)).div_ceil(1 << 20) << 20
}

/// A filesystem with a pattern file `/src` of `size` bytes and an empty `/dst`, both
/// durable, and a process (task 1) holding both open.
pub struct Scenario {
    pub proc: Process,
    pub mnt: Arc<Mount>,
    pub src: i32,
    pub dst: i32,
    pub src_ino: Ino,
    pub dst_ino: Ino,
    pub size: u64,
    /// The mount spec used.
    pub mount: String,
}

fn sys<T>(what: &str, r: Result<T, Errno>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// `pwrite`s `data` at `off` in calls of at most 1 GiB.
///
/// # Errors
/// The first failing call's errno.
pub fn pwrite_all<S: Syscalls + ?Sized>(
    p: &mut S,
    fd: i32,
    data: &Data,
    off: u64,
) -> Result<u64, Errno> {
    let mut done = 0;
    while done < data.len() {
        let n = (data.len() - done).min(1 << 30);
        let w = p.pwrite(fd, &data.slice(done, n), (off + done) as i64)? as u64;
        if w == 0 {
            break;
        }
        done += w;
    }
    Ok(done)
}

impl Scenario {
    /// Builds the scenario on a fresh filesystem of model `spec`.
    ///
    /// # Errors
    /// A bad spec, or a failing setup call (a message naming it).
    pub fn new(spec: &str, size: u64) -> Result<Scenario, String> {
        Self::with_source(spec, size, &|p, fd| {
            pwrite_all(p, fd, &Data::pattern(SRC_SEED, 0, size), 0).map(drop)
        })
    }

    /// As [`Scenario::new`], with the source written by `write_src(process, fd)`.
    ///
    /// # Errors
    /// As [`Scenario::new`].
    pub fn with_source(
        spec: &str,
        size: u64,
        write_src: &dyn Fn(&mut Process, i32) -> Result<(), Errno>,
    ) -> Result<Scenario, String> {
        let mount = with_device_size(spec, device_size(size));
        let fs = fs_models::spec::make(&mount)?;
        let vfs = Vfs::new();
        let mnt = sys("mount /", vfs.mount("/", fs))?;
        let mut proc = Process::new(Arc::new(vfs), 1);
        let src = sys("open /src", proc.open("/src", o::CREAT | o::RDWR, 0o644))?;
        sys("write /src", write_src(&mut proc, src))?;
        let dst = sys("open /dst", proc.open("/dst", o::CREAT | o::RDWR, 0o644))?;
        sys("fsync /src", proc.fsync(src))?;
        sys("fsync /dst", proc.fsync(dst))?;
        let src_ino = sys("fstat", proc.fstat(src))?.ino;
        let dst_ino = sys("fstat", proc.fstat(dst))?.ino;
        Ok(Scenario {
            proc,
            mnt,
            src,
            dst,
            src_ino,
            dst_ino,
            size,
            mount,
        })
    }

    /// Copies `/src` to `/dst` with `method`, as `cp` would: splice and copy_file_range
    /// are called again after a short count until everything is copied or a call fails or
    /// returns 0; `FICLONERANGE` is one call over the whole file.
    pub fn copy(&mut self, method: Method) -> Copied {
        copy_with(&mut self.proc, self.src, self.dst, self.size, method, None)
    }

    /// The filesystem's image now (the server's for nfs-like).
    pub fn image(&self) -> Image {
        self.mnt.fs.image()
    }
}

/// What a [`Scenario`] is made of, without its process (which belongs to one thread): the
/// filesystem, the task's clock and figures, the descriptors and inodes. Shared between
/// the tour's threads to fork a scenario per row.
pub struct Setup {
    fs: Arc<dyn vfs::fs::FileSystem>,
    tid: u32,
    now: Nanos,
    stats: vfs::task::TaskStats,
    src: i32,
    dst: i32,
    src_ino: Ino,
    dst_ino: Ino,
    size: u64,
    mount: String,
}

impl Setup {
    /// The parts of `sc`.
    pub fn of(sc: &Scenario) -> Setup {
        Setup {
            fs: sc.mnt.fs.clone(),
            tid: sc.proc.task.tid,
            now: sc.proc.task.now(),
            stats: sc.proc.task.stats(),
            src: sc.src,
            dst: sc.dst,
            src_ino: sc.src_ino,
            dst_ino: sc.dst_ino,
            size: sc.size,
            mount: sc.mount.clone(),
        }
    }

    /// An independent scenario, as [`Scenario::new`] would have built it: the filesystem
    /// forked ([`vfs::fs::FileSystem::fork`]: image, journal, page cache, an nfs-like
    /// client's cache and its server — sharing structure with this one until changed),
    /// mounted on a fresh VFS, and a fresh task at this one's virtual time with its
    /// figures, holding `/src` and `/dst` open with the same descriptors. Opening an
    /// existing file costs no virtual time and calls no filesystem method that changes
    /// anything (lookup, getattr), so the copy sees the same state, clock and descriptors
    /// as on a freshly built scenario. `None` if the model cannot fork.
    ///
    /// The tour builds each model's scenario once and forks it for every call: at 1 TiB
    /// over nfs-like the setup (a million WRITEs of 1 MiB, as the client sends them) was
    /// most of the tour's work, and it was repeated for each of the five calls.
    pub fn fork(&self) -> Option<Scenario> {
        let fs = self.fs.fork()?;
        let vfs = Vfs::new();
        let mnt = vfs.mount("/", fs).ok()?;
        let mut proc = Process::new(Arc::new(vfs), self.tid);
        proc.task.wait_until(self.now);
        let stats = self.stats.clone();
        proc.task.with_stats(|s| *s = stats);
        let src = proc.open("/src", o::RDWR, 0).ok()?;
        let dst = proc.open("/dst", o::RDWR, 0).ok()?;
        (src == self.src && dst == self.dst).then(|| Scenario {
            proc,
            mnt,
            src,
            dst,
            src_ino: self.src_ino,
            dst_ino: self.dst_ino,
            size: self.size,
            mount: self.mount.clone(),
        })
    }
}

/// Copies `size` bytes from `src` to `dst` (offset 0 to offset 0) with `method`, in calls
/// of at most `bs` bytes (`None`: as much as is left). See [`Scenario::copy`].
pub fn copy_with(
    p: &mut Process,
    src: i32,
    dst: i32,
    size: u64,
    method: Method,
    bs: Option<u64>,
) -> Copied {
    let mut c = Copied {
        bytes: 0,
        errno: None,
        calls: 0,
    };
    if method == Method::FiCloneRange {
        c.calls = 1;
        match p.ficlonerange(dst, src, 0, size, 0) {
            Ok(()) => c.bytes = size,
            Err(e) => c.errno = Some(e),
        }
        return c;
    }
    if method == Method::Dedupe {
        // Until everything is deduped (a filesystem may do less per call), as
        // `xfs_io dedupe` callers do.
        while c.bytes < size {
            c.calls += 1;
            let dest = DedupeDest {
                fd: dst,
                offset: c.bytes,
            };
            match p.fideduperange(src, c.bytes, size - c.bytes, &[dest]) {
                Ok(v) => match v.first() {
                    Some(o) if o.status == dedupe::SAME && o.bytes_deduped > 0 => {
                        c.bytes += o.bytes_deduped;
                    }
                    Some(o) if o.status == dedupe::SAME => break,
                    Some(o) if o.status == dedupe::DIFFERS => {
                        c.errno = Some(Errno::EBADE);
                        break;
                    }
                    Some(o) => {
                        c.errno = Some(Errno(o.status.saturating_neg()));
                        break;
                    }
                    None => break,
                },
                Err(e) => {
                    c.errno = Some(e);
                    break;
                }
            }
        }
        return c;
    }
    while c.bytes < size {
        let left = size - c.bytes;
        let want = bs.map_or(left, |b| b.min(left)) as usize;
        c.calls += 1;
        let r = match method.splice_flags() {
            Some(flags) => {
                let (mut si, mut so) = (c.bytes, c.bytes);
                p.splice(src, Some(&mut si), dst, Some(&mut so), want, flags)
            }
            None => {
                let (mut si, mut so) = (c.bytes as i64, c.bytes as i64);
                p.copy_file_range(src, Some(&mut si), dst, Some(&mut so), want, 0)
            }
        };
        match r {
            Ok(0) => break,
            Ok(n) => c.bytes += n as u64,
            Err(e) => {
                c.errno = Some(e);
                break;
            }
        }
    }
    c
}

/// Fills the filesystem of `sc` to capacity with `/filler` (writing `statfs().free`
/// blocks, halving on `ENOSPC`, fsyncing so that an nfs-like server really holds it).
/// Returns `(filler bytes, free blocks left)`.
///
/// Over a network model the filler is allocated (`fallocate`: one ALLOCATE) rather than
/// written: a client writes in `wsize` pieces, so filling 1 TiB was a million WRITEs per
/// row, and what the column measures — whether the destination's overwrite finds a free
/// block — depends only on the blocks taken, which are the same.
pub fn fill_to_capacity(sc: &mut Scenario) -> (u64, u64) {
    let network = sc.mnt.fs.cost().rpc_rtt_ns > 0;
    let p = &mut sc.proc;
    let Ok(fd) = p.open("/filler", o::CREAT | o::RDWR, 0o644) else {
        return (0, sc.mnt.fs.statfs().free);
    };
    let mut off = 0u64;
    let mut want_blocks = u64::MAX;
    for _ in 0..64 {
        let st = sc.mnt.fs.statfs();
        if st.free == 0 {
            break;
        }
        let blocks = st.free.min(want_blocks);
        let len = blocks * st.block_size;
        let wrote = if network {
            p.fallocate(fd, 0, off as i64, len as i64).map(|()| len)
        } else {
            pwrite_all(p, fd, &Data::pattern(0xf111, off, len), off)
        };
        let synced = p.fsync(fd);
        match (wrote, synced) {
            (Ok(n), Ok(())) if n > 0 => {
                off += n;
                want_blocks = u64::MAX;
            }
            _ => {
                // Too much (metadata, a rounding): try half as much, down to one block.
                if blocks <= 1 {
                    break;
                }
                want_blocks = blocks / 2;
                // Forget what the failed attempt may have left in the file.
                let _ = p.ftruncate(fd, off as i64);
                let _ = p.fsync(fd);
            }
        }
    }
    let _ = p.close(fd);
    (off, sc.mnt.fs.statfs().free)
}

/// The overwrite column: fill the filesystem, then overwrite [`OVERWRITE_LEN`] bytes of
/// the destination's last block and fsync it.
pub fn overwrite_when_full(sc: &mut Scenario) -> OverwriteTry {
    let (filler_bytes, free_after_fill) = fill_to_capacity(sc);
    let off = sc.size.saturating_sub(1) / OVERWRITE_LEN * OVERWRITE_LEN;
    let data = Data::pattern(0x0e1f, 0, OVERWRITE_LEN);
    let (errno, failed_call) = match sc.proc.pwrite(sc.dst, &data, off as i64) {
        Err(e) => (Some(e), Some("pwrite")),
        Ok(_) => match sc.proc.fsync(sc.dst) {
            Err(e) => (Some(e), Some("fsync")),
            Ok(()) => (None, None),
        },
    };
    OverwriteTry {
        errno,
        failed_call,
        free_after_fill,
        filler_bytes,
    }
}

/// Runs one row: a fresh scenario, the copy, and every measurement.
///
/// # Errors
/// A bad spec or a failing setup call.
pub fn run_row(model: &str, spec: &str, method: Method, size: u64) -> Result<Row, String> {
    run_row_on(model, spec, method, Scenario::new(spec, size)?)
}

/// [`run_row`] on a scenario built by [`Scenario::new`] (or forked from one).
fn run_row_on(model: &str, spec: &str, method: Method, mut sc: Scenario) -> Result<Row, String> {
    let size = sc.size;
    let dst_file = sys("fd", sc.proc.file(sc.dst))?;
    dst_file.inode.lock.reset_accounting();
    let t0 = sc.proc.task.now();
    let copied = sc.copy(method);
    let time_ns = sc.proc.task.now() - t0;
    let dst_hold_ns = dst_file.inode.lock.with_state(|s| s.longest_hold);
    let any = copied.bytes > 0;
    let crash_before = any.then(|| CrashSummary::of(&sc.mnt.fs.crash_states(), size));
    let synced = sc.proc.fsync(sc.dst);
    let crash_after =
        (any && synced.is_ok()).then(|| CrashSummary::of(&sc.mnt.fs.crash_states(), size));
    let img = sc.image();
    let bs = img.block_size();
    let dst_blocks = copied.bytes.div_ceil(bs);
    let shared_blocks = img
        .shared_blocks(sc.dst_ino, 0, size.div_ceil(bs))
        .unwrap_or(0);
    let overwrite = any.then(|| overwrite_when_full(&mut sc));
    let (media_hits, media_note) = media_error(&sc);
    Ok(Row {
        model: model.to_string(),
        spec: spec.to_string(),
        mount: sc.mount.clone(),
        method,
        size,
        block_size: bs,
        copied,
        shared_blocks,
        dst_blocks,
        time_ns,
        dst_hold_ns,
        media_hits,
        media_note,
        overwrite,
        crash_before,
        crash_after,
    })
}

/// Injects a media error under byte 0 of the source and names the files the model says
/// it hits.
fn media_error(sc: &Scenario) -> (Vec<String>, String) {
    let fault = Fault::MediaError {
        ino: sc.src_ino,
        off: 0,
    };
    match sc.mnt.fs.inject(&sc.proc.task, fault) {
        Err(e) => (Vec::new(), format!("inject: {e}")),
        Ok(rep) => {
            let files: BTreeSet<Ino> = rep.hits.iter().map(|h| h.0).collect();
            let mut names: Vec<String> = files
                .iter()
                .map(|&i| match i {
                    i if i == sc.src_ino => "src".to_string(),
                    i if i == sc.dst_ino => "dst".to_string(),
                    i => format!("inode {i}"),
                })
                .collect();
            names.sort();
            names.dedup();
            (names, rep.note)
        }
    }
}

/// Runs every `(label, spec)` × every method at `size`, in parallel; rows come back in
/// table order.
///
/// # Errors
/// The first row that could not be set up.
pub fn run_tour(models: &[(String, String)], size: u64) -> Result<Vec<Row>, String> {
    let jobs: Vec<(usize, &(String, String), Method)> = models
        .iter()
        .flat_map(|m| Method::ALL.iter().map(move |&me| (m, me)))
        .enumerate()
        .map(|(i, (m, me))| (i, m, me))
        .collect();
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<Row, String>>>> = Mutex::new(vec![None; jobs.len()]);
    // Each model's scenario is built once, by the first row that needs it, and forked for
    // every row ([`Setup::fork`]); a model that cannot fork builds one per row. A model's
    // setup is dropped once its last row has forked it (rows are taken model by model, so
    // about one setup per thread is held).
    type Template = Mutex<(usize, Option<Arc<Result<Setup, String>>>)>;
    let templates: Vec<Template> = models
        .iter()
        .map(|_| Mutex::new((Method::ALL.len(), None)))
        .collect();
    let scenario = |idx: usize, spec: &str| -> Result<Scenario, String> {
        let slot = &templates[idx / Method::ALL.len()];
        let setup = {
            // Held while building: a second row of the model waits for the first's setup.
            let mut t = slot.lock().expect("no worker panics");
            let setup = t
                .1
                .get_or_insert_with(|| Arc::new(Scenario::new(spec, size).map(|sc| Setup::of(&sc))))
                .clone();
            t.0 -= 1;
            if t.0 == 0 {
                t.1 = None;
            }
            setup
        };
        match &*setup {
            Ok(t) => t.fork().map_or_else(|| Scenario::new(spec, size), Ok),
            Err(e) => Err(e.clone()),
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(idx, (label, spec), method)) = jobs.get(i) else {
                        break;
                    };
                    let r = scenario(idx, spec).and_then(|sc| run_row_on(label, spec, method, sc));
                    out.lock().expect("no worker panics")[idx] = Some(r);
                }
            });
        }
    });
    out.into_inner()
        .expect("no worker panics")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

/// The models a `--fs` value selects: a tour label or model name picks that row (`nfs-like`
/// picks all three nfs rows); anything else is taken as a mount spec of its own.
///
/// # Errors
/// A spec the models reject (unknown model, bad option).
pub fn select_models(fs: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let all = || {
        TOUR_MODELS
            .iter()
            .map(|(l, s)| (l.to_string(), s.to_string()))
    };
    let Some(fs) = fs else {
        return Ok(all().collect());
    };
    let picked: Vec<(String, String)> = all()
        .filter(|(l, s)| l == fs || s == fs || (fs == "nfs-like" && s.starts_with("nfs-like")))
        .collect();
    if !picked.is_empty() {
        return Ok(picked);
    }
    fs_models::spec::make(&with_device_size(fs, 1 << 30))?;
    Ok(vec![(fs.to_string(), fs.to_string())])
}

/// The column headings and the legend's explanation of each, in table order.
pub const COLUMNS: &[(&str, &str)] = &[
    (
        "model",
        "the filesystem model (nfs/X: an nfs-like client of a server on X; X swap: X mounted with remap=swap, which builds a clone outside the inode locks and holds them only to install it — on this one-extent file that is one more metadata operation, on a fragmented one the reader's wait drops from the whole clone to the install: see the blocking timelines, or splicelab race)",
    ),
    (
        "call",
        "splice = the proposed splice(2) between files with no flag (never share); MAY/MUST = SPLICE_F_MAY_SHARE / SPLICE_F_MUST_SHARE; copy_file_range with flags 0 and FICLONERANGE as Linux has them",
    ),
    (
        "result",
        "what the calls returned: the bytes copied (a cp-like loop over short counts), or the errno of the call; a refusal is a result too",
    ),
    (
        "shared",
        "blocks of the destination that another file also references afterwards (Image::shared_blocks after fsync)",
    ),
    (
        "time",
        "virtual time of the copy calls on the mount's cost model (a byte copy pays for every byte, sharing for every extent)",
    ),
    (
        "dst lock",
        "the longest single hold of the destination's inode lock during the call = the longest a reader of the destination would have waited (LockState::longest_hold)",
    ),
    (
        "bad block",
        "what one media error under the source's first block destroys: a Fault::MediaError injected at the end of the run; '1 file' = only the source, 'both' = the copy is gone too",
    ),
    (
        "overwrite",
        "the filesystem is filled to capacity after the copy, then 4 KiB of the destination are overwritten and fsynced: 'ENOSPC' = an overwrite needs new space (copy-on-write), 'ok' = in place",
    ),
    (
        "crash",
        "what every crash state the model permits (FileSystem::crash_states) holds in the destination if the machine crashes right after the call, before fsync: kept, lost, part (a prefix), or several of them",
    ),
    ("+fsync", "the same after fsync(dst) returned"),
];

/// The table cells of a row, in [`COLUMNS`] order.
pub fn cells(r: &Row) -> Vec<String> {
    let dash = || "-".to_string();
    vec![
        r.model.clone(),
        r.method.label().to_string(),
        r.result_word(),
        r.shared_blocks.to_string(),
        fmt_nanos(r.time_ns),
        fmt_nanos(r.dst_hold_ns),
        r.media_word(),
        r.overwrite.as_ref().map_or_else(dash, OverwriteTry::word),
        r.crash_before.map_or_else(dash, |c| c.word()),
        r.crash_after.map_or_else(dash, |c| c.word()),
    ]
}

/// The table as text: a header, one line per row, a blank line between models.
pub fn render_table(rows: &[Row]) -> String {
    let table: Vec<Vec<String>> = rows.iter().map(cells).collect();
    let mut w: Vec<usize> = COLUMNS.iter().map(|c| c.0.chars().count()).collect();
    for r in &table {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    // Numbers and times read better right-aligned.
    let right = |i: usize| matches!(i, 3..=5);
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            if i > 0 {
                s.push_str("  ");
            }
            if right(i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let head: Vec<String> = COLUMNS.iter().map(|c| c.0.to_string()).collect();
    let mut out = line(&head);
    let total: usize = w.iter().sum::<usize>() + 2 * (w.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    let mut prev: Option<&str> = None;
    for (r, c) in rows.iter().zip(&table) {
        if prev.is_some_and(|p| p != r.model) {
            out.push('\n');
        }
        let mut c = c.clone();
        if prev == Some(r.model.as_str()) {
            // The model names its group once.
            c[0].clear();
        }
        prev = Some(&r.model);
        out.push_str(&line(&c));
    }
    out
}

/// Wraps `text` at `width` columns: `first` starts the first line, `rest` the others.
fn wrap(text: &str, first: &str, rest: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut fresh = true;
    for word in text.split_whitespace() {
        if !fresh && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_string();
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The legend: what each row did, then one paragraph per column, wrapped at 96 columns.
pub fn render_legend(rows: &[Row]) -> String {
    let mut out = String::new();
    if let Some(r) = rows.first() {
        let intro = format!(
            "Each row: a fresh filesystem, /src = {} of pattern data (fsynced), copied to an \
             empty /dst; every cell is measured on that run. Blocks are {} bytes; the file \
             has {} of them.",
            fmt_size(r.size),
            r.block_size,
            r.size.div_ceil(r.block_size)
        );
        out.push_str(&wrap(&intro, "", "", 96));
    }
    for (name, text) in COLUMNS {
        out.push_str(&wrap(text, &format!("  {name:<10} "), &" ".repeat(13), 96));
    }
    out
}

/// Arguments of `splicelab tour`.
#[derive(clap::Args, Debug, Clone)]
pub struct TourArgs {
    /// Size of the file to copy (xfs_io size syntax: 1g, 64m, 4k)
    #[arg(long, value_name = "SIZE", default_value = "1g")]
    pub size: String,
    /// Only this model: a tour label (btrfs-like, nfs/plain, nfs-like for all three nfs
    /// rows) or any mount spec (ocfs2-like:cluster=64k)
    #[arg(long, value_name = "MODEL")]
    pub fs: Option<String>,
    /// Print one JSON object per row instead of the table
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report (table, extent maps, lock timelines)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also print the pictures as text: extent maps per model and the blocking timelines
    #[arg(long)]
    pub pictures: bool,
}

impl Default for TourArgs {
    fn default() -> TourArgs {
        TourArgs {
            size: "1g".into(),
            fs: None,
            json: false,
            html: None,
            pictures: false,
        }
    }
}

/// Parses and checks `--size`.
///
/// # Errors
/// A message for a size that does not parse, is 0, or is above [`MAX_SIZE`].
pub fn parse_tour_size(s: &str) -> Result<u64, String> {
    let n = fs_models::spec::parse_size(s).map_err(|e| format!("--size: {e}"))?;
    if n == 0 {
        return Err("--size: the file must not be empty".into());
    }
    if n > MAX_SIZE {
        return Err(format!(
            "--size: {} is more than the tour's limit of {}",
            fmt_size(n),
            fmt_size(MAX_SIZE)
        ));
    }
    Ok(n)
}

/// Runs the tour; returns the exit status.
pub fn run(args: &TourArgs) -> i32 {
    let mut out = crate::out::stdout();
    let r = run_inner(args, &mut out).map(|()| 0);
    crate::out::exit_status(&mut out, r, "splicelab tour", 1)
}

fn run_inner(args: &TourArgs, out: &mut dyn Write) -> io::Result<()> {
    let bad = crate::out::failure;
    let size = parse_tour_size(&args.size).map_err(bad)?;
    let models = select_models(args.fs.as_deref()).map_err(|e| bad(format!("--fs: {e}")))?;
    let rows = run_tour(&models, size).map_err(bad)?;
    if args.json {
        for r in &rows {
            writeln!(out, "{}", r.to_json())?;
        }
    } else {
        writeln!(
            out,
            "splicelab tour: copying a {} file, every model x every call (virtual time)\n",
            fmt_size(size)
        )?;
        out.write_all(render_table(&rows).as_bytes())?;
        writeln!(out)?;
        out.write_all(render_legend(&rows).as_bytes())?;
    }
    let need_pictures = args.pictures || args.html.is_some();
    let pics = if need_pictures {
        Some(pictures::tour_pictures(&models, size, args.fs.as_deref()).map_err(bad)?)
    } else {
        None
    };
    if let (true, Some(p)) = (args.pictures && !args.json, &pics) {
        writeln!(out)?;
        out.write_all(p.text().as_bytes())?;
    }
    if let (Some(path), Some(p)) = (&args.html, &pics) {
        let html = pictures::html::report(&rows, p);
        std::fs::write(path, html).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if !args.json {
            writeln!(out, "\nwrote {}", path.display())?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_size_and_spec() {
        assert_eq!(with_device_size("plain", 1 << 20), "plain:size=1048576");
        assert_eq!(
            with_device_size("nfs-like:server=plain", 4096),
            "nfs-like:server=plain,size=4096"
        );
        assert_eq!(with_device_size("plain:size=1g", 4096), "plain:size=1g");
        assert_eq!(device_size(1 << 30), (2 << 30) + (64 << 20));
        assert_eq!(fmt_size(1 << 30), "1 GiB");
        assert_eq!(fmt_size(3 << 19), "1.50 MiB");
    }

    #[test]
    fn sizes_are_checked() {
        assert!(parse_tour_size("0").is_err());
        assert!(parse_tour_size("2t").is_err());
        assert!(parse_tour_size("12q").is_err());
        assert_eq!(parse_tour_size("64m"), Ok(64 << 20));
    }

    #[test]
    fn plain_must_share_is_eopnotsupp_and_btrfs_may_share_shares() {
        let r = run_row("plain", "plain", Method::SpliceMust, 1 << 20).unwrap();
        assert_eq!(r.copied.errno, Some(Errno::EOPNOTSUPP));
        assert_eq!(r.result_word(), "EOPNOTSUPP");
        assert!(r.overwrite.is_none() && r.crash_before.is_none());
        let r = run_row("btrfs-like", "btrfs-like", Method::SpliceMay, 1 << 20).unwrap();
        assert_eq!(r.copied.bytes, 1 << 20);
        assert_eq!(r.shared_blocks, 256);
        assert_eq!(r.media_word(), "both");
        assert_eq!(r.overwrite.unwrap().word(), "ENOSPC");
    }

    /// The tour forks one setup per model for its rows: every cell of a row on a fork is
    /// the cell on a freshly built scenario, for every model and call (the clock, the
    /// figures, the extents, the crash states, the filler).
    #[test]
    fn a_row_on_a_forked_scenario_is_the_row_on_a_fresh_one() {
        let size = 1 << 20;
        for (label, spec) in TOUR_MODELS {
            let setup = Setup::of(&Scenario::new(spec, size).unwrap());
            for method in Method::ALL {
                let fresh = run_row(label, spec, method, size).unwrap();
                let forked = run_row_on(label, spec, method, setup.fork().unwrap()).unwrap();
                assert_eq!(forked.to_json(), fresh.to_json(), "{label} {method:?}");
            }
        }
    }

    #[test]
    fn unknown_model_is_an_error() {
        let e = select_models(Some("zfs-like")).unwrap_err();
        assert!(e.contains("zfs-like"), "{e}");
        assert_eq!(select_models(Some("nfs-like")).unwrap().len(), 3);
        assert_eq!(select_models(None).unwrap().len(), TOUR_MODELS.len());
    }
}
