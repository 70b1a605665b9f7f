//! Runs a scenario on one side (`&mut dyn Syscalls`) and records what every step returned
//! and, after steps that can change files, the [`Snapshot`].

use std::collections::BTreeMap;

use syscall::api::{DedupeDest, Syscalls};
use vfs::Data;
use vfs::errno::Errno;

use crate::observe::{Outcome, Ret, SigClass, Snapshot, classes, hash_data, observe_file};
use crate::scenario::{Cmp, FdRef, Fill, Path, Scenario, Step};

/// Where a scenario's paths live on one side: absolute directories in that side's
/// namespace (`/m/c12` on the main filesystem, `/o/c12` on the other one).
#[derive(Clone, Debug)]
pub struct Dirs {
    pub main: String,
    pub other: String,
}

impl Dirs {
    /// The absolute path of a scenario path (the empty path stays empty).
    pub fn abs(&self, p: &Path) -> String {
        if p.rel.is_empty() {
            return String::new();
        }
        let base = if p.other { &self.other } else { &self.main };
        format!("{base}/{}", p.rel)
    }
}

/// What one step produced on one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    pub outcome: Outcome,
    /// The state afterwards (after steps that can change files and are compared exactly).
    pub snap: Option<Snapshot>,
}

/// The data a write step writes at `pos` (patterns depend on the position, so misplaced
/// bytes change the hash).
pub fn fill_data(fill: Fill, pos: u64, len: u64) -> Data {
    match fill {
        Fill::Byte(b) => Data::fill(b, len),
        Fill::Pattern(seed) => Data::pattern(seed, pos, len),
    }
}

/// The mode every scenario file is created with.
pub const FILE_MODE: u32 = 0o644;

/// Chunk sizes of [`Step::FillUp`], largest first.
const FILL_CHUNKS: [u64; 3] = [1 << 20, 64 << 10, 4 << 10];

/// Most `pwrite`s one [`Step::FillUp`] issues (a guard against a filesystem that never
/// fills up, e.g. a model without `size=`).
const FILL_MAX_CALLS: u32 = 20_000;

/// What one side does besides the system calls.
pub struct Hooks<'a> {
    /// Before each snapshot (the real side lets background work finish there: see
    /// [`crate::env::RealSide::settler`]).
    pub settle: &'a mut dyn FnMut(),
    /// At a [`Step::PowerCut`], after the runner has closed every descriptor: `Err` only
    /// when the power cut itself could not be done.
    pub cut: &'a mut dyn FnMut() -> Result<(), String>,
    /// After step `i` (the simulator plays the kernel's background work there: see
    /// [`crate::run_case`]).
    pub after_step: &'a mut dyn FnMut(usize),
}

struct Runner<'a> {
    sys: &'a mut dyn Syscalls,
    hooks: Hooks<'a>,
    dirs: &'a Dirs,
    slots: BTreeMap<u8, i32>,
    opened: Vec<i32>,
}

impl Runner<'_> {
    /// The descriptor for `r`: an open slot's descriptor, `-1` for a slot that holds
    /// none, or the raw number.
    fn fd(&self, r: FdRef) -> i32 {
        match r {
            FdRef::Slot(s) => self.slots.get(&s).copied().unwrap_or(-1),
            FdRef::Raw(n) => n,
        }
    }

    fn step(&mut self, step: &Step) -> Outcome {
        match step {
            Step::Open { slot, path, flags } => {
                let p = self.dirs.abs(path);
                match self.sys.open(&p, *flags, FILE_MODE) {
                    Ok(fd) => {
                        self.slots.insert(*slot, fd);
                        self.opened.push(fd);
                        Ok(Ret::Ok)
                    }
                    Err(e) => {
                        self.slots.remove(slot);
                        Err(e)
                    }
                }
            }
            Step::Close { fd } => {
                let k = self.fd(*fd);
                if let FdRef::Slot(s) = fd {
                    self.slots.remove(s);
                }
                self.opened.retain(|&x| x != k);
                self.sys.close(k).map(|_| Ret::Ok)
            }
            Step::Pwrite { fd, off, len, fill } => {
                let d = fill_data(*fill, (*off).max(0) as u64, *len);
                self.sys
                    .pwrite(self.fd(*fd), &d, *off)
                    .map(|n| Ret::Count(n as u64))
            }
            Step::Write { fd, len, fill } => {
                let d = fill_data(*fill, 0, *len);
                self.sys
                    .write(self.fd(*fd), &d)
                    .map(|n| Ret::Count(n as u64))
            }
            Step::Pread { fd, off, len } => {
                self.sys
                    .pread(self.fd(*fd), *len as usize, *off)
                    .map(|d| Ret::Data {
                        len: d.len(),
                        hash: hash_data(&d),
                    })
            }
            Step::Read { fd, len } => {
                self.sys
                    .read(self.fd(*fd), *len as usize)
                    .map(|d| Ret::Data {
                        len: d.len(),
                        hash: hash_data(&d),
                    })
            }
            Step::Ftruncate { fd, len } => self.sys.ftruncate(self.fd(*fd), *len).map(|_| Ret::Ok),
            Step::Fallocate { fd, mode, off, len } => self
                .sys
                .fallocate(self.fd(*fd), *mode, *off, *len)
                .map(|_| Ret::Ok),
            Step::Fsync { fd } => self.sys.fsync(self.fd(*fd)).map(|_| Ret::Ok),
            Step::Unlink { path } => self.sys.unlink(&self.dirs.abs(path)).map(|_| Ret::Ok),
            Step::Rename { from, to } => {
                let (a, b) = (self.dirs.abs(from), self.dirs.abs(to));
                self.sys.rename(&a, &b).map(|_| Ret::Ok)
            }
            Step::Mkdir { path } => self.sys.mkdir(&self.dirs.abs(path), 0o755).map(|_| Ret::Ok),
            Step::Rmdir { path } => self.sys.rmdir(&self.dirs.abs(path)).map(|_| Ret::Ok),
            Step::Lseek { fd, off, whence } => {
                self.sys.lseek(self.fd(*fd), *off, *whence).map(Ret::Offset)
            }
            Step::CopyFileRange {
                fd_in,
                off_in,
                fd_out,
                off_out,
                len,
                flags,
            } => {
                let (mut i, mut o) = (*off_in, *off_out);
                let (fi, fo) = (self.fd(*fd_in), self.fd(*fd_out));
                let n = self.sys.copy_file_range(
                    fi,
                    i.as_mut(),
                    fo,
                    o.as_mut(),
                    *len as usize,
                    *flags,
                )?;
                Ok(Ret::Copied {
                    n: n as u64,
                    off_in: i,
                    off_out: o,
                })
            }
            Step::CopySignalled {
                fd_in,
                off_in,
                fd_out,
                off_out,
                len,
                chunks,
            } => self.copy_signalled(
                self.fd(*fd_in),
                *off_in,
                self.fd(*fd_out),
                *off_out,
                *len,
                *chunks,
            ),
            Step::Ficlone { dst, src } => self
                .sys
                .ficlone(self.fd(*dst), self.fd(*src))
                .map(|_| Ret::Ok),
            Step::Ficlonerange {
                dst,
                src,
                src_off,
                len,
                dst_off,
            } => self
                .sys
                .ficlonerange(self.fd(*dst), self.fd(*src), *src_off, *len, *dst_off)
                .map(|_| Ret::Ok),
            Step::Dedupe {
                src,
                off,
                len,
                dests,
            } => {
                let d: Vec<DedupeDest> = dests
                    .iter()
                    .map(|(fd, o)| DedupeDest {
                        fd: self.fd(*fd),
                        offset: *o,
                    })
                    .collect();
                let v = self.sys.fideduperange(self.fd(*src), *off, *len, &d)?;
                Ok(Ret::Dedupe(
                    v.iter().map(|x| (x.status, x.bytes_deduped)).collect(),
                ))
            }
            Step::Fiemap {
                fd,
                start,
                len,
                flags,
            } => {
                let k = self.fd(*fd);
                let ext = self.sys.fiemap(k, *start, *len, *flags)?;
                let size = self.sys.fstat(k).map(|s| s.size).unwrap_or(0);
                let first = start / crate::observe::CLASS_BLOCK;
                let last = start
                    .saturating_add(*len)
                    .div_ceil(crate::observe::CLASS_BLOCK)
                    .min(size.div_ceil(crate::observe::CLASS_BLOCK));
                Ok(Ret::Extents(classes(&ext, first, last.max(first))))
            }
            Step::Stat { path } => {
                let st = self.sys.stat(&self.dirs.abs(path))?;
                Ok(Ret::Stat {
                    dir: st.is_dir,
                    size: if st.is_dir { 0 } else { st.size },
                })
            }
            Step::FillUp { fd } => self.fill_up(self.fd(*fd)),
            Step::Sync => {
                self.sys.sync();
                Ok(Ret::Ok)
            }
            Step::PowerCut => {
                for fd in std::mem::take(&mut self.opened) {
                    let _ = self.sys.close(fd);
                }
                self.slots.clear();
                match (self.hooks.cut)() {
                    Ok(()) => Ok(Ret::Ok),
                    // Not an errno of the filesystem under test: report it as EIO, which
                    // both sides then disagree on, with the reason on stderr.
                    Err(e) => {
                        eprintln!("power cut failed: {e}");
                        Err(Errno::EIO)
                    }
                }
            }
        }
    }

    /// [`Step::CopySignalled`]: the signalled call, the prefix check on the first
    /// [`SIG_CHECK_MAX`] bytes of the range, then the rest of the copy by `pread` and
    /// `pwrite` (up to the source's size before the call, at most [`SIG_FINISH_CALLS`]
    /// pieces, stopping at the first that moves nothing or fails).
    fn copy_signalled(
        &mut self,
        fd_in: i32,
        off_in: i64,
        fd_out: i32,
        off_out: i64,
        len: u64,
        chunks: u64,
    ) -> Outcome {
        let window = len.min(SIG_CHECK_MAX) as usize;
        let bytes = |d: Option<Data>| {
            d.map(|d| {
                let mut v = vec![0u8; d.len() as usize];
                d.read_into(0, &mut v);
                v
            })
            .unwrap_or_default()
        };
        let src_size = self.sys.fstat(fd_in).map_or(0, |st| st.size);
        let src = bytes(self.sys.pread(fd_in, window, off_in).ok());
        let len_arg = usize::try_from(len).unwrap_or(usize::MAX);
        // A signal that reached the kernel's caller only after the call had returned (a
        // loaded machine) tested nothing: the call is made again, up to SIG_ATTEMPTS times.
        // The copy is idempotent (the same bytes, or the same sharing, over the same range),
        // so the state afterwards is that of one call.
        // Again means the count the missed call copied, not `len`: a copy within one file
        // past its end would otherwise see the file it grew (an overlap, `EINVAL`).
        let mut attempts = 0;
        let mut len_now = len_arg;
        let (before, first) = loop {
            attempts += 1;
            let before = bytes(self.sys.pread(fd_out, window, off_out).ok());
            let (mut i, mut o) = (off_in, off_out);
            let r = self
                .sys
                .copy_file_range_signalled(fd_in, &mut i, fd_out, &mut o, len_now, chunks);
            match r {
                Ok(n) if n > 0 && self.sys.signal_missed() && attempts < SIG_ATTEMPTS => {
                    len_now = n;
                }
                _ => break (before, r),
            }
        };
        let (n, class) = match first {
            Ok(n) => (n as u64, SigClass::Partial),
            Err(Errno::EINTR) => (0, SigClass::Eintr),
            Err(e) => return Err(e),
        };
        let after = bytes(self.sys.pread(fd_out, window, off_out).ok());
        let prefix = prefix_holds(window, &src, &before, &after, n);
        // The rest goes up to what the source held before the call (a copy into the same
        // file past its end would otherwise chase its own growing end), with `pread` and
        // `pwrite`: a `copy_file_range` from where the call stopped could share blocks on
        // btrfs and XFS, and where it stopped differs between the sides (the kernel stops at
        // a page boundary of the source, the model after whole chunks).
        let goal = len.min(src_size.saturating_sub(off_in.max(0) as u64));
        let class = match class {
            SigClass::Partial if n >= goal => SigClass::Full,
            c => c,
        };
        let mut total = n;
        let mut calls = 0;
        while total < goal && calls < SIG_FINISH_CALLS {
            calls += 1;
            let want = (goal - total).min(SIG_FINISH_PIECE) as usize;
            let d = match self.sys.pread(fd_in, want, off_in + total as i64) {
                Ok(d) if !d.is_empty() => d,
                _ => break,
            };
            match self.sys.pwrite(fd_out, &d, off_out + total as i64) {
                Ok(w) if w > 0 => total += w as u64,
                _ => break,
            }
        }
        Ok(Ret::Signalled {
            class,
            prefix,
            total,
        })
    }

    /// [`Step::FillUp`]: `Full` when the filesystem answered `ENOSPC`.
    fn fill_up(&mut self, fd: i32) -> Outcome {
        let mut calls = 0;
        for chunk in FILL_CHUNKS {
            loop {
                let size = self.sys.fstat(fd)?.size;
                calls += 1;
                if calls > FILL_MAX_CALLS {
                    return Ok(Ret::Count(size));
                }
                match self.sys.pwrite(fd, &Data::fill(0x5a, chunk), size as i64) {
                    Ok(n) if n as u64 == chunk => {}
                    // A short write: the filesystem is nearly full; the next call says so.
                    Ok(_) => {}
                    Err(Errno::ENOSPC) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Ret::Full)
    }

    fn snapshot(&mut self, files: &[(String, String)]) -> Snapshot {
        let mut snap = Snapshot::default();
        (self.hooks.settle)();
        // Write everything back first: on XFS a copy-on-write of a shared block is
        // remapped (and the other file's block unshared) only when the *writer's* pages
        // are written back, so one file's extents depend on another file's write-back.
        for (_, abs) in files {
            sync_file(&mut *self.sys, abs);
        }
        // Files reachable only through a descriptor (unlinked while open) too.
        for &fd in self.slots.values() {
            let _ = self
                .sys
                .fiemap(fd, 0, u64::MAX, syscall::api::fiemap_req::FLAG_SYNC);
        }
        for (label, abs) in files {
            snap.files
                .push((label.clone(), observe_file(&mut *self.sys, abs)));
        }
        for (&slot, &fd) in &self.slots {
            snap.positions
                .push((slot, self.sys.lseek(fd, 0, syscall::api::seek::CUR)));
        }
        snap
    }
}

/// The most bytes of a [`Step::CopySignalled`]'s range the prefix check reads (each side
/// holds three buffers of this size).
pub const SIG_CHECK_MAX: u64 = 64 << 20;

/// Most times a [`Step::CopySignalled`] makes its call while the kernel's signal arrives
/// only after it.
const SIG_ATTEMPTS: u32 = 8;

/// Most `pread` + `pwrite` pairs that finish a [`Step::CopySignalled`], and the bytes of
/// each.
const SIG_FINISH_CALLS: u32 = 1024;
const SIG_FINISH_PIECE: u64 = 1 << 20;

/// Whether, after a copy that returned `n`, the destination window `after` holds exactly
/// the first `n` bytes of the source window `src`, followed by what it held `before`
/// (nothing past the returned prefix changed). The windows are the first `window` bytes of
/// the ranges (shorter where a file ended).
fn prefix_holds(window: usize, src: &[u8], before: &[u8], after: &[u8], n: u64) -> bool {
    let head = usize::try_from(n).unwrap_or(usize::MAX).min(window);
    head <= src.len()
        && after.len() == head.max(before.len())
        && after[..head] == src[..head]
        && after[head..] == before[head.min(before.len())..]
}

/// Writes back one file's dirty data (`FIEMAP_FLAG_SYNC` on a read-only descriptor: works
/// on every kind that has FIEMAP, and costs nothing where there is nothing to write).
fn sync_file(sys: &mut dyn Syscalls, path: &str) {
    if let Ok(fd) = sys.open(path, syscall::api::o::RDONLY, 0) {
        let _ = sys.fiemap(fd, 0, u64::MAX, syscall::api::fiemap_req::FLAG_SYNC);
        let _ = sys.close(fd);
    }
}

/// Runs `sc` through `sys` with its paths under `dirs`; `observe` turns the snapshots on,
/// `hooks` are the side's own work around the steps. Every descriptor the scenario opened
/// is closed at the end.
///
/// In a scenario with power cuts, the state is observed only at each power cut and after
/// the last one: observing reads extent maps with `FIEMAP_FLAG_SYNC`, which writes dirty
/// data back on a real kernel and would change what the power cut finds.
pub fn run<'a>(
    sc: &Scenario,
    sys: &'a mut dyn Syscalls,
    dirs: &'a Dirs,
    observe: bool,
    hooks: Hooks<'a>,
) -> Vec<StepRecord> {
    let files: Vec<(String, String)> = sc
        .paths()
        .into_iter()
        .filter(|p| !sc.untracked.contains(p))
        .map(|p| (p.to_string(), dirs.abs(&p)))
        .collect();
    let last_cut = sc.lines.iter().rposition(|l| l.step.is_power_cut());
    let mut r = Runner {
        sys,
        hooks,
        dirs,
        slots: BTreeMap::new(),
        opened: Vec::new(),
    };
    let mut out = Vec::with_capacity(sc.lines.len());
    for (i, line) in sc.lines.iter().enumerate() {
        let outcome = r.step(&line.step);
        (r.hooks.after_step)(i);
        let observable = line.step.is_power_cut() || last_cut.is_none_or(|c| i > c);
        let snap = (observe && observable && line.cmp == Cmp::Exact && line.step.mutates())
            .then(|| r.snapshot(&files));
        out.push(StepRecord { outcome, snap });
    }
    for fd in std::mem::take(&mut r.opened) {
        let _ = r.sys.close(fd);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix check accepts exactly "the first `n` source bytes, then what the
    /// destination held", within the checked window.
    #[test]
    fn prefix_holds_only_for_the_returned_prefix() {
        let src = [1u8, 2, 3, 4];
        let before = [9u8, 9];
        assert!(prefix_holds(4, &src, &before, &[1, 2, 3], 3));
        assert!(prefix_holds(4, &src, &before, &[1, 9], 1));
        assert!(prefix_holds(4, &src, &before, &[9, 9], 0));
        // One byte too many, one too few, a changed byte past the prefix.
        assert!(!prefix_holds(4, &src, &before, &[1, 2, 3], 2));
        assert!(!prefix_holds(4, &src, &before, &[1, 2], 3));
        assert!(!prefix_holds(4, &src, &before, &[1, 8], 1));
        // More than the source had; a count past the window checks the window only.
        assert!(!prefix_holds(8, &src, &[], &[1, 2, 3, 4, 0], 5));
        assert!(prefix_holds(2, &src[..2], &[], &[1, 2], 1 << 40));
    }

    /// Timing: partial and EINTR agree with each other, the full count only with itself.
    #[test]
    fn signal_classes_that_agree() {
        use SigClass::{Eintr, Full, Partial};
        assert!(SigClass::agrees(Partial, Eintr) && SigClass::agrees(Eintr, Partial));
        assert!(SigClass::agrees(Full, Full) && SigClass::agrees(Partial, Partial));
        assert!(!SigClass::agrees(Full, Partial) && !SigClass::agrees(Eintr, Full));
    }
}
