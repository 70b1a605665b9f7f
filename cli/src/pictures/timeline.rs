//! Blocking timelines: who holds the destination's inode lock when, while a copy races a
//! reader.
//!
//! # How the race is simulated
//!
//! Virtual time is a Lamport clock per task (design assumption A4): a task that takes an
//! inode lock moves its clock to the moment the previous holder released it. The copy runs
//! on task 1 with [`vfs::lock::InodeLock::record_timeline`] on for the destination's lock.
//! The reader is task 2 (a second [`Process`] on the same VFS), which preads 4 KiB of the
//! destination at evenly spaced virtual *arrival* times. A single thread interleaves the
//! two in virtual-time order:
//!
//! 1. The copy is driven as `cp` would drive it: a byte copy (never share) is one `splice`
//!    call per chunk of the mount (`chunk_size`, 1 MiB by default), so each call is exactly
//!    one chunk of the in-kernel loop — one lock hold; a sharing copy is one call.
//! 2. Before each call, every read whose arrival time is not after task 1's clock runs
//!    first: the lock is free, so it is granted at once (its clock is set to the arrival
//!    time with a fresh task per read, as if each read came from its own thread).
//! 3. After a call, every read that arrived *during* it runs: taking the lock moves its
//!    clock to the copy's release — that difference is the wait. The copy's next chunk in
//!    turn waits for the reader's release, so reads push the copy back by their own hold.
//!
//! The arrival times are spread over the duration of a first, reader-free run of the same
//! copy (a dry run on an identical filesystem), so the picture is deterministic.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use syscall::api::o;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::clock::{Nanos, fmt_nanos};
use vfs::lock::Hold;
use vfs::task::Task;

use super::svg::{self, esc};
use crate::tour::{Copied, Method, Scenario, copy_with, fmt_size, pwrite_all};

/// What the second task does each time: a 4 KiB `pread` or `pwrite`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherOp {
    Read,
    Write,
}

impl OtherOp {
    /// Every operation, for parsing.
    pub const ALL: [OtherOp; 2] = [OtherOp::Read, OtherOp::Write];

    /// `read` or `write` (the command line's word).
    pub fn name(self) -> &'static str {
        match self {
            OtherOp::Read => "read",
            OtherOp::Write => "write",
        }
    }
}

/// Which file of the copy the second task touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaceTarget {
    Src,
    Dst,
}

/// The second task of a race: what it does, and to which file (whose inode lock the
/// picture follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Other {
    pub op: OtherOp,
    pub target: RaceTarget,
}

impl Other {
    /// The tour's second task: a reader of the destination.
    pub const READER_OF_DST: Other = Other {
        op: OtherOp::Read,
        target: RaceTarget::Dst,
    };

    /// `reader` or `writer`.
    pub fn role(self) -> &'static str {
        match self.op {
            OtherOp::Read => "reader",
            OtherOp::Write => "writer",
        }
    }

    /// `src` or `dst`.
    pub fn file(self) -> &'static str {
        match self.target {
            RaceTarget::Src => "src",
            RaceTarget::Dst => "dst",
        }
    }
}

/// One call of the racing task (a read in the tour's pictures).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderRead {
    /// When the reader wanted the lock.
    pub arrive: Nanos,
    /// When it got it.
    pub start: Nanos,
    /// When it released it.
    pub end: Nanos,
}

impl ReaderRead {
    /// How long the read waited for the lock.
    pub fn wait(&self) -> Nanos {
        self.start.saturating_sub(self.arrive)
    }
}

/// A copy racing a reader of its destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Race {
    /// The model's label.
    pub model: String,
    pub method: Method,
    /// Bytes of the source.
    pub size: u64,
    /// Extents of the source.
    pub src_extents: u64,
    /// Bytes per call (`None`: one call for everything).
    pub call_bytes: Option<u64>,
    /// What the copy returned.
    pub copied: Copied,
    /// Virtual time when the copy started and ended (task 1's clock).
    pub copy_start: Nanos,
    pub copy_end: Nanos,
    /// The second task, and whose lock the race follows.
    pub other: Other,
    /// Task 1's holds of the followed file's lock (the destination's in the tour).
    pub holds: Vec<Hold>,
    /// The second task's calls, in arrival order.
    pub reads: Vec<ReaderRead>,
}

impl Race {
    /// The longest wait of any read.
    pub fn longest_wait(&self) -> Nanos {
        self.reads.iter().map(ReaderRead::wait).max().unwrap_or(0)
    }

    /// The `p`-th percentile (0–100) of the second task's waits, nearest rank; 0 when it
    /// made no call.
    pub fn wait_percentile(&self, p: u32) -> Nanos {
        let w: Vec<Nanos> = self.reads.iter().map(ReaderRead::wait).collect();
        percentile(w, p)
    }

    /// The copy's longest single hold of the destination lock.
    pub fn longest_hold(&self) -> Nanos {
        self.holds
            .iter()
            .map(|h| h.end - h.start)
            .max()
            .unwrap_or(0)
    }

    /// One line saying what ran.
    pub fn caption(&self) -> String {
        let how = match (self.copied.errno, self.call_bytes) {
            (Some(e), _) if self.copied.bytes == 0 => {
                format!("failed with {}", crate::tour::errno_name(e))
            }
            (_, Some(b)) => format!(
                "{} calls of {} ({} lock holds)",
                self.copied.calls,
                fmt_size(b),
                self.holds.len()
            ),
            (_, None) => format!(
                "{} call{} ({} lock hold{})",
                self.copied.calls,
                if self.copied.calls == 1 { "" } else { "s" },
                self.holds.len(),
                if self.holds.len() == 1 { "" } else { "s" }
            ),
        };
        format!(
            "{} on {}: {} of {} extents, {}, {}",
            self.method.label(),
            self.model,
            fmt_size(self.size),
            self.src_extents,
            how,
            fmt_nanos(self.copy_end - self.copy_start)
        )
    }

    /// One line with the outcome for the reader.
    pub fn summary(&self) -> String {
        let (role, file) = (self.other.role(), self.other.file());
        let calls = format!("{}s", self.other.op.name());
        let lock = if file == "dst" {
            "destination"
        } else {
            "source"
        };
        format!(
            "{} {calls}; longest {role} wait {}; longest hold of the {lock} lock by the copy {}",
            self.reads.len(),
            fmt_nanos(self.longest_wait()),
            fmt_nanos(self.longest_hold())
        )
    }

    /// The ASCII picture: the copy's lane (`[###]` per hold) and the reader's (`-` waiting,
    /// `r` reading), `width` columns. A copy of many chunks is shown for its first 12 holds.
    pub fn ascii(&self, width: usize) -> String {
        let width = width.max(16);
        let w0 = self.copy_start;
        let last_read = self.reads.iter().map(|r| r.end).max().unwrap_or(0);
        let full_end = self.copy_end.max(last_read).max(w0 + 1);
        let (w1, cut) = if self.holds.len() > 12 {
            let h = &self.holds[11];
            (h.end + (h.end - h.start) / 4, true)
        } else {
            (full_end + (full_end - w0) / 50, false)
        };
        let span = (w1 - w0).max(1);
        let col = |t: Nanos| -> usize {
            (((t.saturating_sub(w0)) as u128 * width as u128 / span as u128) as usize)
                .min(width - 1)
        };
        // Columns of each hold; a hold that ends in the column where the next one starts
        // gives that column up, so that every hold keeps its own brackets.
        let shown: Vec<&Hold> = self.holds.iter().filter(|h| h.start < w1).collect();
        let mut cols: Vec<(usize, usize, bool)> = shown
            .iter()
            .map(|h| {
                (
                    col(h.start),
                    col(h.end.saturating_sub(1).max(h.start)),
                    h.end <= w1,
                )
            })
            .collect();
        for i in 1..cols.len() {
            if cols[i - 1].1 >= cols[i].0 && cols[i].0 > cols[i - 1].0 {
                cols[i - 1].1 = cols[i].0 - 1;
            }
        }
        let mut copy = vec![' '; width];
        for &(a, b, closed) in &cols {
            if b > a {
                copy[a] = '[';
                for c in &mut copy[a + 1..b] {
                    *c = '#';
                }
                copy[b] = if closed { ']' } else { '#' };
            } else {
                copy[a] = '#';
            }
        }
        let mut reader = vec![' '; width];
        for r in &self.reads {
            if r.arrive >= w1 {
                continue;
            }
            let (a, s) = (col(r.arrive), col(r.start));
            for c in &mut reader[a..s.max(a)] {
                *c = '-';
            }
            if r.start < w1 {
                reader[s] = 'r';
            }
        }
        let tail = if cut { "…" } else { "" };
        let lane = |v: &[char]| v.iter().collect::<String>().trim_end().to_string();
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.caption());
        let _ = writeln!(
            s,
            "  {} shown, 1 column = {}",
            if cut {
                format!("first {} holds ({})", 12, fmt_nanos(span))
            } else {
                format!("whole race ({})", fmt_nanos(span))
            },
            fmt_nanos(span / width as u64)
        );
        let (role, file) = (self.other.role(), self.other.file());
        let _ = writeln!(s, "  copy   (task 1) {file} lock |{}{tail}", lane(&copy));
        let _ = writeln!(
            s,
            "  {role:<6} (task 2) {file} lock |{}{tail}",
            lane(&reader)
        );
        let _ = writeln!(s, "  {}", self.summary());
        s
    }

    /// Virtual time from the copy's start to the end of its last hold or read.
    pub fn span(&self) -> Nanos {
        self.reads
            .iter()
            .map(|r| r.end)
            .chain([self.copy_end])
            .max()
            .unwrap_or(self.copy_start)
            .saturating_sub(self.copy_start)
            .max(1)
    }

    /// The SVG picture of the whole race (see [`svg::open`] for `standalone`).
    pub fn svg(&self, standalone: bool) -> String {
        self.svg_on(standalone, self.span())
    }

    /// The SVG picture on a time axis of `span` from the copy's start (at least the race's
    /// own [`Race::span`]), so that several races can be drawn to one scale.
    pub fn svg_on(&self, standalone: bool, span: Nanos) -> String {
        const LEFT: f64 = 130.0;
        const W: f64 = 720.0;
        const LANE_H: f64 = 26.0;
        let t0 = self.copy_start;
        let t1 = t0 + span.max(self.span());
        let span = (t1 - t0) as f64;
        let x = |t: Nanos| LEFT + (t.saturating_sub(t0)) as f64 / span * W;
        let title = self.caption();
        let height = 40.0 + 2.0 * (LANE_H + 10.0) + 50.0;
        let mut s = svg::open(LEFT + W + 20.0, height, standalone, &title);
        let _ = writeln!(
            s,
            r#"<text x="4" y="16" class="title">{}</text>"#,
            esc(&title)
        );
        let second = format!("{} (task 2)", self.other.role());
        let lanes = [
            ("copy (task 1)", 34.0),
            (second.as_str(), 34.0 + LANE_H + 10.0),
        ];
        for (name, y) in lanes {
            let _ = writeln!(
                s,
                r#"<rect x="{LEFT}" y="{y}" width="{W}" height="{LANE_H}" class="lane"/><text x="{}" y="{}" class="label" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 17.0,
                esc(name)
            );
        }
        let (ycopy, yread) = (lanes[0].1, lanes[1].1);
        for h in &self.holds {
            let w = (x(h.end) - x(h.start)).max(0.8);
            let _ = writeln!(
                s,
                r#"<rect x="{:.2}" y="{}" width="{w:.2}" height="{LANE_H}" class="hold1"><title>copy holds the {} lock {} – {} ({})</title></rect>"#,
                x(h.start),
                ycopy + 2.0,
                self.other.file(),
                fmt_nanos(h.start - t0),
                fmt_nanos(h.end - t0),
                fmt_nanos(h.end - h.start)
            );
        }
        for r in &self.reads {
            let ym = yread + LANE_H / 2.0;
            if r.wait() > 0 {
                let _ = writeln!(
                    s,
                    r#"<line x1="{:.2}" y1="{ym}" x2="{:.2}" y2="{ym}" class="wait"><title>{} waits {}</title></line>"#,
                    x(r.arrive),
                    x(r.start),
                    self.other.role(),
                    fmt_nanos(r.wait())
                );
            }
            let _ = writeln!(
                s,
                r##"<circle cx="{:.2}" cy="{ym}" r="2.5" fill="#e15759"><title>{} arrives at {}</title></circle>"##,
                x(r.arrive),
                self.other.role(),
                fmt_nanos(r.arrive - t0)
            );
            let w = (x(r.end) - x(r.start)).max(2.0);
            let _ = writeln!(
                s,
                r#"<rect x="{:.2}" y="{}" width="{w:.2}" height="{}" class="hold2"><title>{} holds the lock at {} after waiting {}</title></rect>"#,
                x(r.start),
                yread + 4.0,
                LANE_H - 8.0,
                self.other.role(),
                fmt_nanos(r.start - t0),
                fmt_nanos(r.wait())
            );
        }
        let yaxis = yread + LANE_H + 8.0;
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{yaxis}" x2="{}" y2="{yaxis}" class="axis"/>"#,
            LEFT + W
        );
        for i in 0..=5u64 {
            let t = t0 + (t1 - t0) * i / 5;
            let anchor = match i {
                0 => "start",
                5 => "end",
                _ => "middle",
            };
            let _ = writeln!(
                s,
                r#"<line x1="{0:.2}" y1="{yaxis}" x2="{0:.2}" y2="{1}" class="axis"/><text x="{0:.2}" y="{2}" class="note" text-anchor="{anchor}">{3}</text>"#,
                x(t),
                yaxis + 4.0,
                yaxis + 16.0,
                esc(&fmt_nanos(t - t0))
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="4" y="{}" class="note">{}</text>"#,
            yaxis + 36.0,
            esc(&self.summary())
        );
        s.push_str("</svg>\n");
        s
    }
}

/// The `p`-th percentile (0–100) of `waits`, nearest rank; 0 for none.
pub fn percentile(mut waits: Vec<Nanos>, p: u32) -> Nanos {
    if waits.is_empty() {
        return 0;
    }
    waits.sort_unstable();
    let rank = (u64::from(p.min(100)) * waits.len() as u64)
        .div_ceil(100)
        .max(1);
    waits[rank as usize - 1]
}

/// Writes a source of `size` bytes: one extent, or (`fragment = Some(E)`) extents of `E`
/// bytes — even-numbered pieces first, then odd ones, so that no two neighbouring pieces
/// are physically adjacent. The same code builds the source of a model and of a real
/// filesystem (`splicelab race --real`, through [`host::Linux`]). With `real`, two things
/// make a real filesystem allocate each piece on its own, as the kernel's measurements
/// did (reference §9: "writing every other block"): an `fsync` after each pass, so that
/// delayed allocation (btrfs, XFS) allocates the even pieces before the odd ones exist
/// (it would otherwise merge the two passes into one extent at write-back), and each pass
/// in descending order, so that no write but the first extends the file (XFS reserves
/// speculative preallocation past EOF on an extending write, which turns the holes
/// between the even pieces into unwritten extents that the odd pass fills in place,
/// leaving a few long extents).
///
/// # Errors
/// The first failing `pwrite` or `fsync`.
pub fn write_source<S: Syscalls + ?Sized>(
    p: &mut S,
    fd: i32,
    size: u64,
    fragment: Option<u64>,
    real: bool,
) -> Result<(), vfs::Errno> {
    let Some(e) = fragment.filter(|&e| e > 0 && e < size) else {
        return pwrite_all(p, fd, &Data::pattern(crate::tour::SRC_SEED, 0, size), 0).map(drop);
    };
    let pieces = size.div_ceil(e);
    for first in [0, 1] {
        let pass: Vec<u64> = (first..pieces).step_by(2).collect();
        let order: Box<dyn Iterator<Item = &u64>> = if real {
            Box::new(pass.iter().rev())
        } else {
            Box::new(pass.iter())
        };
        for &b in order {
            let off = b * e;
            let len = e.min(size - off);
            p.pwrite(
                fd,
                &Data::pattern(crate::tour::SRC_SEED, off, len),
                off as i64,
            )?;
        }
        if real {
            p.fsync(fd)?;
        }
    }
    Ok(())
}

/// The extent size that cuts `size` bytes into at most `extents` extents of whole blocks
/// of `bs` bytes.
pub fn extent_size_for(size: u64, extents: u64, bs: u64) -> u64 {
    size.div_ceil(extents.max(1)).div_ceil(bs).max(1) * bs
}

/// Runs each of `methods` from `/src` of one fresh `spec` filesystem while a reader preads
/// the destination `readers` times (see the module documentation for the interleaving).
/// With `fragment = Some(E)` the source is cut into extents of `E` bytes (see
/// [`extent_size_for`]).
///
/// Each method first copies `/src` to `/dry-KEY` without readers; the reads then arrive
/// evenly over the longest of these durations (the same arrivals for every method), while
/// each method races into `/dst-KEY`. All copies share one filesystem, so building a
/// fragmented source is paid once; the copies only add files, and neither a byte copy's
/// nor a remap's cost depends on other files sharing the source.
///
/// # Errors
/// A bad spec or a failing setup call.
pub fn races(
    model: &str,
    spec: &str,
    size: u64,
    methods: &[Method],
    fragment: Option<u64>,
    readers: usize,
) -> Result<Vec<Race>, String> {
    let dev = (2 * methods.len() as u64 + 1) * size + (64 << 20);
    let spec = crate::tour::with_device_size(spec, dev.div_ceil(1 << 20) << 20);
    let mut sc = Scenario::with_source(&spec, size, &|p, fd| {
        write_source(p, fd, size, fragment, false)
    })?;
    let n = readers as u64;
    // Dry runs first: the reader's arrivals are spread over the longest of them and are the
    // same for every method, so the pictures compare the copies under the same load.
    let mut span = 1;
    for &m in methods {
        let dry = run_race(
            &mut sc,
            model,
            m,
            &format!("/dry-{}", m.key()),
            Other::READER_OF_DST,
            false,
            &|_| Vec::new(),
        )?;
        span = span.max(dry.copy_end - dry.copy_start);
    }
    let mut out = Vec::new();
    for &m in methods {
        out.push(run_race(
            &mut sc,
            model,
            m,
            &format!("/dst-{}", m.key()),
            Other::READER_OF_DST,
            false,
            &|start| {
                (0..n)
                    .map(|i| start + span * (2 * i + 1) / (2 * n))
                    .collect()
            },
        )?);
    }
    Ok(out)
}

/// When the second task of [`race`] calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrivals {
    /// This many calls, spread evenly over the copy's own duration.
    Spread(usize),
    /// One call every this many nanoseconds of virtual time from the copy's start, until
    /// the copy's own duration has passed (at most [`MAX_RACE_CALLS`]).
    Every(Nanos),
}

/// The most calls the second task of [`race`] makes.
pub const MAX_RACE_CALLS: u64 = 100_000;

/// One copy by `method` from `/src` (of `size` bytes; cut into extents of `fragment`
/// bytes) of a fresh `spec` filesystem, while a second task does `other` at `arrivals`
/// (see the module documentation for the interleaving; the copy's own duration comes from
/// a dry run without the second task on the same filesystem).
///
/// # Errors
/// A bad spec or a failing setup call.
pub fn race(
    model: &str,
    spec: &str,
    size: u64,
    method: Method,
    fragment: Option<u64>,
    other: Other,
    arrivals: Arrivals,
) -> Result<Race, String> {
    let spec = crate::tour::with_device_size(spec, (3 * size + (64 << 20)).div_ceil(1 << 20) << 20);
    let mut sc = Scenario::with_source(&spec, size, &|p, fd| {
        write_source(p, fd, size, fragment, false)
    })?;
    let dry = run_race(&mut sc, model, method, "/dry", other, false, &|_| {
        Vec::new()
    })?;
    let span = (dry.copy_end - dry.copy_start).max(1);
    // A call that byte-copies in chunks holds the lock once per chunk, and the second task
    // can only run between calls here: such a copy is driven one chunk per call, as cp
    // drives a never-share splice, so that the second task gets in between chunks as it
    // would in the kernel's loop.
    let split = dry.holds.len() as u64 > dry.copied.calls;
    run_race(
        &mut sc,
        model,
        method,
        "/dst",
        other,
        split,
        &|start| match arrivals {
            Arrivals::Spread(n) => {
                let n = n as u64;
                (0..n)
                    .map(|i| start + span * (2 * i + 1) / (2 * n))
                    .collect()
            }
            Arrivals::Every(every) => {
                let every = every.max(1);
                (0..(span / every).min(MAX_RACE_CALLS))
                    .map(|i| start + every * i)
                    .collect()
            }
        },
    )
}

/// The second task of a race: its process and descriptor, and the arrival times of its
/// calls, run in arrival order as the copy's clock passes them.
struct SecondTask {
    process: Process,
    fd: i32,
    other: Other,
    arrivals: Vec<Nanos>,
    /// The first call not yet run.
    next: usize,
    /// The file's size and block size: where each call lands.
    size: u64,
    block: u64,
}

impl SecondTask {
    /// Runs every call that arrives at or before `t`, each as its own thread arriving at
    /// its time (a fresh task per call).
    fn run_until(&mut self, t: Nanos) {
        while let Some(&a) = self.arrivals.get(self.next).filter(|&&a| a <= t) {
            let i = self.next as u64;
            self.next += 1;
            self.process.task = Task::new(2);
            self.process.task.wait_until(a);
            let off = (i * 7919 * self.block) % self.size.max(1) / self.block * self.block;
            let _ = match self.other.op {
                OtherOp::Read => self.process.pread(self.fd, 4096, off as i64).map(drop),
                OtherOp::Write => self
                    .process
                    .pwrite(self.fd, &Data::fill(0x77, 4096), off as i64)
                    .map(drop),
            };
        }
    }
}

/// The second task, shared between the driver's loop and the copy's preemption points
/// (one thread: never contended).
fn lock_second(m: &Mutex<SecondTask>) -> std::sync::MutexGuard<'_, SecondTask> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One race of [`races`] or [`race`]: a fresh destination `dst_path`, the second task
/// doing `other` at `arrivals(copy start)`; with `split`, the copy is driven one chunk of
/// the mount per call whatever its method.
#[allow(clippy::too_many_arguments)]
fn run_race(
    sc: &mut Scenario,
    model: &str,
    method: Method,
    dst_path: &str,
    other: Other,
    split: bool,
    arrivals: &dyn Fn(Nanos) -> Vec<Nanos>,
) -> Result<Race, String> {
    let size = sc.size;
    let bs = sc.mnt.fs.statfs().block_size;
    let src_extents = sc.image().fiemap(sc.src_ino).map_or(0, |v| v.len() as u64);
    let dst_fd = sc
        .proc
        .open(dst_path, o::CREAT | o::RDWR, 0o644)
        .map_err(|e| format!("open {dst_path}: {e}"))?;
    if method == Method::Dedupe {
        // A dedupe needs a destination holding the same bytes: a byte copy first, before
        // the race starts (and before its locks are recorded).
        let c = copy_with(
            &mut sc.proc,
            sc.src,
            dst_fd,
            size,
            Method::SpliceNever,
            None,
        );
        if let Some(e) = c.errno {
            return Err(format!("copying /src to {dst_path} before the dedupe: {e}"));
        }
    }
    let mut reader = Process::new(sc.proc.vfs.clone(), 2);
    let target_path = match other.target {
        RaceTarget::Src => "/src",
        RaceTarget::Dst => dst_path,
    };
    let mode = match other.op {
        OtherOp::Read => o::RDONLY,
        OtherOp::Write => o::WRONLY,
    };
    let rfd = reader
        .open(target_path, mode, 0)
        .map_err(|e| format!("open {target_path} for the {}: {e}", other.role()))?;
    let followed = match other.target {
        RaceTarget::Src => sc.src,
        RaceTarget::Dst => dst_fd,
    };
    let file = sc.proc.file(followed).map_err(|e| format!("fd: {e}"))?;
    let lock = &file.inode.lock;
    lock.record_timeline(true);
    let chunk = sc.mnt.fs.chunk_size();
    let call_bytes = (method == Method::SpliceNever || split).then_some(chunk);
    let copy_start = sc.proc.task.now();
    let second = Arc::new(Mutex::new(SecondTask {
        process: reader,
        fd: rfd,
        other,
        arrivals: arrivals(copy_start),
        next: 0,
        size,
        block: bs,
    }));
    // Inside a call, where the copy holds no lock (remap=swap between building a remap
    // and installing it), the calls that arrived meanwhile run too.
    let at_preemption = second.clone();
    sc.proc.task.set_preemption(Some(Box::new(move |now| {
        lock_second(&at_preemption).run_until(now);
    })));
    let mut copied = Copied {
        bytes: 0,
        errno: None,
        calls: 0,
    };
    loop {
        lock_second(&second).run_until(sc.proc.task.now());
        if copied.bytes >= size || copied.errno.is_some() {
            break;
        }
        // One call: a chunk for the byte copy, the rest for the others; the second task's
        // arrivals run between calls (copy_file_range may return short counts).
        let want = call_bytes.map_or(size - copied.bytes, |b| b.min(size - copied.bytes));
        let c = match method.splice_flags() {
            Some(flags) => {
                let (mut si, mut so) = (copied.bytes, copied.bytes);
                sc.proc.splice(
                    sc.src,
                    Some(&mut si),
                    dst_fd,
                    Some(&mut so),
                    want as usize,
                    flags,
                )
            }
            None if method == Method::CopyFileRange => {
                let (mut si, mut so) = (copied.bytes as i64, copied.bytes as i64);
                sc.proc.copy_file_range(
                    sc.src,
                    Some(&mut si),
                    dst_fd,
                    Some(&mut so),
                    want as usize,
                    0,
                )
            }
            None => {
                // FICLONERANGE, FIDEDUPERANGE: one call for everything.
                copied = copy_with(&mut sc.proc, sc.src, dst_fd, size, method, None);
                break;
            }
        };
        copied.calls += 1;
        match c {
            Ok(0) => break,
            Ok(n) => copied.bytes += n as u64,
            Err(e) => copied.errno = Some(e),
        }
    }
    let copy_end = sc.proc.task.now();
    sc.proc.task.set_preemption(None);
    let mut second = lock_second(&second);
    second.run_until(Nanos::MAX);
    let timeline = lock.with_state(|s| s.timeline.clone().unwrap_or_default());
    lock.record_timeline(false);
    let _ = second.process.close(rfd);
    let _ = sc.proc.close(dst_fd);
    let arrivals = std::mem::take(&mut second.arrivals);
    let holds: Vec<Hold> = timeline.iter().filter(|h| h.tid == 1).copied().collect();
    let reads: Vec<ReaderRead> = timeline
        .iter()
        .filter(|h| h.tid == 2)
        .zip(&arrivals)
        .map(|(h, &a)| ReaderRead {
            arrive: a,
            start: h.start,
            end: h.end,
        })
        .collect();
    Ok(Race {
        model: model.to_string(),
        method,
        size,
        src_extents,
        call_bytes,
        copied,
        copy_start,
        copy_end,
        other,
        holds,
        reads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_share_reader_waits_at_most_one_chunk_must_share_waits_for_the_call() {
        let both = races(
            "btrfs-like",
            "btrfs-like",
            8 << 20,
            &[Method::SpliceNever, Method::SpliceMust],
            Some(4096),
            10,
        )
        .unwrap();
        let (never, must) = (&both[0], &both[1]);
        assert_eq!(never.copied.bytes, 8 << 20);
        assert_eq!(never.holds.len(), 8, "one hold per 1 MiB chunk");
        assert_eq!(never.reads.len(), 10);
        assert!(never.longest_wait() <= never.longest_hold());
        assert_eq!(must.copied.bytes, 8 << 20);
        assert_eq!(must.holds.len(), 1);
        assert_eq!(must.src_extents, 2048);
        assert!(must.longest_wait() > must.longest_hold() / 2);
        let a = never.ascii(64);
        assert!(a.contains("copy   (task 1) dst lock |["), "{a}");
        assert!(must.ascii(64).contains("[####"), "{}", must.ascii(64));
        assert_eq!(never.svg(false).matches("class=\"hold1\"").count(), 8);
    }

    /// Issue 20: with remap=swap the second task runs at the copy's preemption point
    /// (after the build, before the install), so a reader of the destination waits for the
    /// install only — under 1 % of the call with 10,000 extents — while the locked remap
    /// makes it wait for nearly the whole call.
    #[test]
    fn a_staged_must_share_makes_readers_wait_for_the_install_only() {
        let every = Arrivals::Every(20_000);
        let run = |spec: &str| {
            race(
                spec,
                spec,
                80 << 20,
                Method::SpliceMust,
                Some(8192),
                Other::READER_OF_DST,
                every,
            )
            .unwrap()
        };
        let (locked, swap) = (run("xfs-like"), run("xfs-like:remap=swap"));
        assert_eq!(swap.src_extents, 10_240);
        for r in [&locked, &swap] {
            assert_eq!(r.copied.bytes, 80 << 20);
            assert_eq!(r.holds.len(), 1);
            assert!(r.reads.len() > 100, "{} reads", r.reads.len());
        }
        let call = |r: &Race| r.copy_end - r.copy_start;
        assert!(
            locked.longest_wait() * 10 > call(&locked) * 9,
            "locked: whole call"
        );
        assert!(
            swap.longest_wait() <= swap.longest_hold(),
            "swap: the install only"
        );
        assert!(
            swap.longest_wait() * 100 <= call(&swap),
            "swap: under 1 % of the call"
        );
        assert!(
            call(&swap) * 2 <= call(&locked) * 3,
            "swap: at most 1.5x the locked call"
        );
    }

    /// `--call dedupe`: the destination is made a byte copy of the source before the race
    /// (outside its lock records), then one FIDEDUPERANGE shares it all; the comparison is
    /// O(bytes), and with remap=swap it too runs with no lock held.
    #[test]
    fn a_dedupe_race_compares_outside_the_locks_with_remap_swap() {
        let run = |spec: &str| {
            race(
                spec,
                spec,
                8 << 20,
                Method::Dedupe,
                Some(8192),
                Other::READER_OF_DST,
                Arrivals::Every(20_000),
            )
            .unwrap()
        };
        let (locked, swap) = (run("btrfs-like"), run("btrfs-like:remap=swap"));
        for r in [&locked, &swap] {
            assert_eq!((r.copied.bytes, r.copied.errno), (8 << 20, None));
            assert_eq!(
                r.holds.len(),
                1,
                "the byte copy before the race is not in it"
            );
        }
        assert!(locked.longest_wait() * 10 > (locked.copy_end - locked.copy_start) * 9);
        assert!(swap.longest_wait() <= swap.longest_hold());
        let plain = run("plain");
        assert_eq!(plain.copied.errno, Some(vfs::errno::Errno::EOPNOTSUPP));
        assert!(plain.holds.is_empty());
    }

    #[test]
    fn extent_sizes() {
        assert_eq!(extent_size_for(64 << 20, 4096, 4096), 16384);
        assert_eq!(extent_size_for(1 << 20, 4096, 4096), 4096);
        assert_eq!(extent_size_for(10_000, 3, 4096), 4096);
    }
}
