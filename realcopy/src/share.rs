//! The three semantics on real files, each as the steps of [`chunked::run`].

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;

use crate::checks::{self, Plan};
use crate::chunked::{self, Ended, HeadToBlock, Outcome, Progress, Steps, Watch};
use crate::sys::{self, FileInfo};
use crate::{Copied, Errno, Failure, MAX_RW_COUNT, Options, Share};

/// The largest buffer a byte copy allocates, whatever [`Options::chunk`] says.
const MAX_BUFFER: u64 = 64 << 20;

/// [`Options`] as the loop's [`Watch`].
struct OptionsWatch<'o, 'a> {
    opts: &'o mut Options<'a>,
}

impl Watch for OptionsWatch<'_, '_> {
    fn stop_before(&mut self, _at: &Progress) -> bool {
        self.opts
            .interrupt
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    fn progress(&mut self, at: &Progress) {
        if let Some(p) = self.opts.progress.as_mut() {
            p(at);
        }
    }
}

/// Runs the loop over `plan.count` bytes.
fn run(steps: &mut impl Steps, plan: &Plan, chunk: u64, opts: &mut Options<'_>) -> Outcome {
    chunked::run(steps, Some(plan.count), chunk, &mut OptionsWatch { opts })
}

/// The `Copied` or `Failure` of a loop's outcome.
fn result(out: Outcome, fallback_bytes: u64) -> Result<Copied, Failure> {
    let copied = |interrupted| Copied {
        bytes: out.done,
        calls: out.calls,
        interrupted,
        fallback_bytes,
    };
    match out.ended {
        Ended::Eof | Ended::Done => Ok(copied(false)),
        Ended::Stopped | Ended::Interrupted => Ok(copied(true)),
        Ended::Failed(errno) => Err(Failure {
            errno,
            copied: out.done,
            restore_failed: None,
        }),
    }
}

/// Never-share and may-share steps.
struct ByteSteps<'f> {
    src: BorrowedFd<'f>,
    dst: BorrowedFd<'f>,
    off_in: u64,
    off_out: u64,
    /// May-share (bytes moved by `pread`/`pwrite` are counted as a fallback).
    may: bool,
    /// May-share: `copy_file_range` first, until it declines.
    offload: bool,
    buf: Vec<u8>,
    buf_len: usize,
    fallback_bytes: u64,
}

impl ByteSteps<'_> {
    /// One `pread` of at most `len` bytes and the `pwrite`s that store all of it.
    fn read_write(&mut self, at_in: u64, at_out: u64, len: u64) -> Result<u64, Errno> {
        if self.buf.is_empty() {
            self.buf = vec![0; self.buf_len];
        }
        let want = len.min(self.buf.len() as u64) as usize;
        let got = sys::pread(self.src, &mut self.buf[..want], at_in)? as usize;
        let mut written = 0usize;
        while written < got {
            match sys::pwrite(self.dst, &self.buf[written..got], at_out + written as u64) {
                // A write that stores nothing without an error would loop forever.
                Ok(0) => {
                    return if written > 0 {
                        Ok(written as u64)
                    } else {
                        Err(Errno::EIO)
                    };
                }
                Ok(n) => written += n as usize,
                // The bytes written so far are in place: report them; the next step
                // meets the error again before moving anything.
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(written as u64)
    }
}

impl Steps for ByteSteps<'_> {
    fn step(&mut self, done: u64, len: u64) -> Result<u64, Errno> {
        let (at_in, at_out) = (self.off_in + done, self.off_out + done);
        if self.offload {
            match sys::copy_file_range(self.src, at_in, self.dst, at_out, len) {
                Ok(n @ 1..) => return Ok(n),
                // 0 is EOF, unless the source is longer than that: files of procfs and
                // sysfs report 0 bytes to copy_file_range (and a FUSE filesystem may).
                Ok(_) => {
                    if sys::size(self.src)? <= at_in {
                        return Ok(0);
                    }
                }
                // "Not between these files": other filesystems (EXDEV before Linux 5.3
                // and again since 5.19), no method and no byte-copy fallback
                // (EOPNOTSUPP), a filesystem that refuses the arguments the checks
                // already passed (EINVAL), a kernel without the call (ENOSYS).
                Err(Errno::EXDEV | Errno::EOPNOTSUPP | Errno::EINVAL | Errno::ENOSYS) => {}
                Err(e) => return Err(e),
            }
            self.offload = false;
        }
        let n = self.read_write(at_in, at_out, len)?;
        if self.may {
            self.fallback_bytes += n;
        }
        Ok(n)
    }
}

/// [`Share::Never`] and [`Share::May`].
pub fn byte_or_offload(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    plan: &Plan,
    share: Share,
    opts: &mut Options<'_>,
) -> Result<Copied, Failure> {
    let chunk = opts.chunk.clamp(1, MAX_RW_COUNT);
    // A copy_file_range call may share, which costs per call and per extent, not per
    // byte: it asks for a sharing chunk (a byte copy in the kernel still returns its
    // partial count on a signal). The pread/pwrite fallback takes `chunk` at a time.
    let offload_chunk = opts.share_chunk.clamp(1, MAX_RW_COUNT);
    let mut steps = ByteSteps {
        src,
        dst,
        off_in: plan.off_in,
        off_out: plan.off_out,
        may: share == Share::May,
        offload: share == Share::May,
        buf: Vec::new(),
        buf_len: chunk.min(MAX_BUFFER).min(plan.count) as usize,
        fallback_bytes: 0,
    };
    if share == Share::Never {
        // The source is read once, front to back: a larger readahead window (GNU cp asks
        // for the same). Advice only; its failure changes nothing.
        sys::advise_sequential(src);
        let out = run(&mut steps, plan, chunk, opts);
        return result(out, 0);
    }
    // May-share: later steps start on a block boundary, so each can share whole blocks.
    let block = sys::fs_block_size(dst).unwrap_or(1);
    let mut aligned = HeadToBlock::new(steps, plan.off_in, plan.off_out, block);
    let out = run(&mut aligned, plan, offload_chunk, opts);
    result(out, aligned.inner.fallback_bytes)
}

/// Must-share steps: one `FICLONERANGE` each.
struct CloneSteps<'f> {
    src: BorrowedFd<'f>,
    dst: BorrowedFd<'f>,
    off_in: u64,
    off_out: u64,
}

impl Steps for CloneSteps<'_> {
    fn step(&mut self, done: u64, len: u64) -> Result<u64, Errno> {
        sys::clone_range(
            self.src,
            self.off_in + done,
            self.dst,
            self.off_out + done,
            len,
        )?;
        Ok(len)
    }
}

/// What a must-share copy writes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The range `[off_out, off_out + count)`; the rest of the destination stays.
    Range,
    /// The whole destination: it is truncated to 0 first ([`crate::copy_file`]).
    Replace,
}

/// What a must-share copy needs to put the destination back after a failure.
struct Restore {
    /// The destination's size before the copy.
    size: u64,
    /// The destination's old bytes in the range (`[off_out, min(end, size))`), cloned
    /// into an unnamed file beside it, when the range overlaps its data.
    saved: Option<(OwnedFd, u64)>,
}

impl Restore {
    /// Saves what a must-share copy of `plan` may overwrite. A clone into an `O_TMPFILE`
    /// file: O(extents), no byte moved, and the saved blocks stay the very same blocks.
    fn prepare(dst: BorrowedFd<'_>, plan: &Plan, target: Target) -> Result<Restore, Errno> {
        let size = plan.dst.size;
        if plan.off_out >= size {
            return Ok(Restore { size, saved: None });
        }
        let len = match target {
            Target::Range => (plan.off_out + plan.count).min(size) - plan.off_out,
            Target::Replace => size,
        };
        let tmp = sys::tmpfile_beside(dst)?;
        // The range is whole blocks, or ends at the destination's EOF (remap_alignment
        // let an unaligned count through only where it reaches that far). A clone reads
        // its source, and the destination may be open write-only.
        let readable = sys::reopen_readable(dst)?;
        sys::clone_range(readable.as_fd(), plan.off_out, tmp.as_fd(), 0, len)?;
        Ok(Restore {
            size,
            saved: Some((tmp, len)),
        })
    }

    /// Puts the destination back. A clone that runs out of space part-way leaves a prefix
    /// of its range shared and the destination's size moved to the end of that prefix
    /// (measured on btrfs and XFS, `docs/design.md` RC4), so first everything the copy may
    /// have put in goes — cut past the old size or the range's start, punched inside
    /// the saved range — which also frees the metadata that the way back needs; then the
    /// saved blocks are cloned back and the old size is set.
    fn restore(&self, dst: BorrowedFd<'_>, off_out: u64) -> Result<(), Errno> {
        let keep = self.size.max(off_out);
        if sys::size(dst)? > keep {
            sys::ftruncate(dst, keep)?;
        }
        if let Some((tmp, len)) = &self.saved {
            sys::punch_hole(dst, off_out, *len)?;
            sys::clone_range(tmp.as_fd(), 0, dst, off_out, *len)?;
        }
        if sys::size(dst)? != self.size {
            sys::ftruncate(dst, self.size)?;
        }
        Ok(())
    }
}

/// Must-share of a whole file into an empty destination that nobody watches chunk by
/// chunk (no progress callback, no interrupt flag): one `FICLONE`, as a bare clone, with
/// none of the up-front checks — on success the kernel has made every check the copy
/// needs (open modes, `O_APPEND`, one filesystem, the file types, immutable or append-only,
/// the EOF block), and every block is shared. Costs an `fstat` before and after the clone
/// (issue 21: ×1.1 of a bare `FICLONE` on a dense file, where the checked path's five calls
/// were ×1.3–×1.6).
///
/// `None` when this does not apply, or when the clone failed: then the destination is put
/// back (a clone that failed part-way leaves a prefix, measured in docs/design.md RC4; the
/// destination was empty, so truncating it to 0 restores it — only if it grew, so that a
/// clone that changed nothing leaves the timestamps alone too) and the caller takes the
/// checked path, which answers with the errno in the lab's order.
pub fn must_share_whole_file_unchecked(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    opts: &Options<'_>,
) -> Option<Copied> {
    if opts.progress.is_some() || opts.interrupt.is_some() || sys::size(dst).ok()? != 0 {
        return None;
    }
    // A length of 0 is "to the source's EOF" (FICLONE is FICLONERANGE of the whole file).
    if sys::clone_range(src, 0, dst, 0, 0).is_err() {
        if sys::size(dst).ok()? > 0 {
            sys::ftruncate(dst, 0).ok()?;
        }
        return None;
    }
    let bytes = sys::size(dst).ok()?;
    Some(Copied {
        bytes,
        calls: u64::from(bytes > 0),
        interrupted: false,
        fallback_bytes: 0,
    })
}

/// [`Share::Must`] of `plan` (whose count is not 0).
pub fn must_share(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    plan: &Plan,
    opts: &mut Options<'_>,
    target: Target,
) -> Result<Copied, Failure> {
    let fail = Failure::before_any_change;
    // The filesystem's sharing unit decides the alignment rules.
    let block = sys::fs_block_size(dst).map_err(fail)?.max(1);
    // A destination that is replaced is truncated first: the rules see it empty.
    let ruled = match target {
        Target::Range => *plan,
        Target::Replace => Plan {
            dst: FileInfo {
                size: 0,
                ..plan.dst
            },
            ..*plan
        },
    };
    // EOPNOTSUPP comes before any alignment EINVAL, as the kernel checks the method first:
    // a misaligned copy asks the filesystem whether it can share at all. (An aligned one
    // learns it from its first clone, which then fails before changing anything.)
    if let Err(e) = checks::remap_alignment(&ruled, block) {
        checks::can_share(src, dst).map_err(fail)?;
        return Err(fail(e));
    }
    let old_size = plan.dst.size;
    let (restore, chunk) = match Restore::prepare(dst, plan, target) {
        Ok(r) => (r, (opts.share_chunk / block).max(1) * block),
        // No room to save the old blocks: nothing has changed yet, and nothing will.
        Err(Errno::ENOSPC) => return Err(fail(Errno::ENOSPC)),
        // Replacing needs the saved blocks: truncating without them could not be undone.
        Err(e) if target == Target::Replace && old_size > 0 => return Err(fail(e)),
        // No saved copy of an overwritten range (no O_TMPFILE here): the range goes in
        // one call, which the kernel's own checks guard before it changes anything.
        Err(_) => (
            Restore {
                size: old_size,
                saved: None,
            },
            plan.count,
        ),
    };
    if target == Target::Replace && old_size > 0 {
        sys::ftruncate(dst, 0).map_err(fail)?;
    }
    let mut steps = CloneSteps {
        src,
        dst,
        off_in: plan.off_in,
        off_out: plan.off_out,
    };
    let out = run(&mut steps, plan, chunk, opts);
    if let Ended::Failed(errno) = out.ended {
        // A failed FICLONERANGE may have shared part of its range (btrfs and XFS remap
        // extent by extent, each in its own transaction), and earlier calls shared theirs.
        return Err(Failure {
            restore_failed: restore.restore(dst, plan.off_out).err(),
            ..fail(errno)
        });
    }
    result(out, 0)
}
