//! Copying between files: the VFS half of `copy_file_range(2)`, the remap ioctls and the
//! extended `splice(2)`.
//!
//! Each function runs the generic checks of [`crate::checks`] in the kernel's order, then
//! picks a method the way `vfs_copy_file_range` does: the filesystem's `->copy_file_range`
//! (an offloaded copy, e.g. NFS COPY), its `->remap_file_range` (sharing extents), or the
//! VFS byte copy in bounded chunks ([`do_splice_direct`]).
//!
//! Locking (spec §2, §6.7):
//! - the byte copy takes both inode locks (in the global order of [`lock_two`]) for one
//!   chunk at a time and holds no inode lock between chunks, so a reader or writer of
//!   either file waits at most one chunk;
//! - a remap (clone, dedupe, must-share, the shared middle of may-share) holds both inode
//!   locks for the whole O(extents) call, as the kernel's filesystems do;
//! - an offloaded copy (`->copy_file_range`, NFS COPY) is called with the destination's
//!   inode lock held around each call, as Linux's NFS client holds it around each COPY and
//!   its wait for CB_OFFLOAD (`nfs42_proc_copy`); the source is not locked. One call is one
//!   COPY, so a reader or writer of the destination waits for at most one server copy
//!   step (`copychunk`) — or, for an asynchronous COPY, for the whole copy, as on Linux.
//!
//! Who records what in [`crate::task::TaskStats`]: the byte copy counts `chunks` and
//! `bytes_copied`; after a remap the VFS counts `bytes_shared` and `extents_remapped` (the
//! extents FIEMAP shows in the remapped destination range) unless the model counted them
//! itself during the call; an offloading filesystem records its own figures.

use crate::checks::{
    CrossFs, FileState, clone_file_checks, dedupe_dest_checks, generic_copy_file_checks,
    remap_verify_area, rw_verify_area,
};
use crate::errno::{Errno, KResult};
use crate::file::OpenFile;
use crate::fs::{CopyHow, remap_flags};
use crate::lock::{InodeGuard, Mode, lock_two};
use crate::task::Task;

/// `INT_MAX & PAGE_MASK`: the most one `read` or `write` moves, and the cap on what one
/// `copy_file_range` moves by remap or byte copy and on what one splice *copies*. Not a
/// cap on a filesystem's copy method called by `copy_file_range` (Linux does not cap
/// `->copy_file_range`: nfs-like's COPY may return more), nor on the shared part of a
/// splice (sharing is O(extents), design assumption A8).
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// The most chunks one call of the VFS byte copy ([`do_splice_direct`]) makes: after them
/// it returns the short count, as after a signal. Not reached with Linux's chunk sizes
/// (`MAX_RW_COUNT` is 2,048 chunks of the default 1 MiB); it bounds a call on a mount with
/// a lab-only tiny `chunk=` (512 bytes: 4 Mi chunks for `MAX_RW_COUNT`) to a fraction of a
/// second. Each chunk takes both inode locks, so the work of a byte copy is O(chunks)
/// whatever the source holds (holes included, design A11); the command loops of
/// `splicelab script` bound the chunks of one command (`MAX_COMMAND_CHUNKS` there).
pub const MAX_CHUNKS_PER_CALL: u64 = 1 << 16;

/// The three semantics of the extended splice (spec §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Share {
    /// No flag: the result is byte-identical to read+write and no destination block is
    /// shared with any other file afterwards.
    Never,
    /// `SPLICE_F_MAY_SHARE`: share whole blocks where the filesystem can, copy the rest.
    May,
    /// `SPLICE_F_MUST_SHARE`: share the whole range or fail leaving the destination as it was.
    Must,
}

impl Share {
    /// All three, weakest first.
    pub const ALL: [Share; 3] = [Share::Never, Share::May, Share::Must];

    /// The name the documents, the script language (`splice -F`) and the check harness
    /// use: `never`, `may`, `must`.
    pub fn name(self) -> &'static str {
        match self {
            Share::Never => "never",
            Share::May => "may",
            Share::Must => "must",
        }
    }

    /// The semantics named `name` ([`Share::name`]).
    pub fn from_name(name: &str) -> Option<Share> {
        Share::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Folds the result of one step of a multi-step copy into the running total: an error
/// after some bytes moved becomes the partial count, as `splice_direct_to_actor` does.
fn partial(done: u64, r: KResult<u64>) -> KResult<u64> {
    match r {
        Ok(n) => Ok(done + n),
        Err(_) if done > 0 => Ok(done),
        Err(e) => Err(e),
    }
}

/// One chunk of the byte copy: both inode locks, read, write, unlock.
fn copy_chunk(
    task: &Task,
    fin: &OpenFile,
    pos_in: u64,
    fout: &OpenFile,
    pos_out: u64,
    len: u64,
    nonblock: bool,
) -> KResult<u64> {
    // Planted bug (vfs::bugs): the chunk lands one byte too far.
    let pos_out = pos_out + u64::from(crate::bugs::planted(crate::bugs::Bug::CopyWrongOffset));
    // The source is only read (`inode_lock_shared` in a filesystem's read_iter); the
    // destination is written.
    let _guards = lock_two(
        (&fin.inode.lock, fin.inode.order(), Mode::Shared),
        (&fout.inode.lock, fout.inode.order(), Mode::Exclusive),
        task,
        nonblock,
    )?;
    let data = fin.mnt.fs.read(task, fin.inode.ino, pos_in, len)?;
    if data.is_empty() {
        return Ok(0);
    }
    // A byte copy really moves real bytes: the destination gets its own buffers.
    fout.mnt
        .fs
        .write(task, fout.inode.ino, pos_out, &data.deep_copy())
}

/// `do_splice_direct` (fs/splice.c): the VFS byte copy, in chunks of the smaller of the two
/// mounts' [`chunk_size`](crate::fs::FileSystem::chunk_size). The caller has done the
/// checks and capped `len`.
///
/// Before each chunk a pending signal stops the copy; each chunk takes both inode locks
/// (with `nonblock`, only if they are free) and releases them before the next. A short
/// read (the source shrank meanwhile) ends the copy, and so does the
/// [`MAX_CHUNKS_PER_CALL`]th chunk. Returns the bytes copied; after the first chunk every
/// error becomes the partial count.
///
/// # Errors
/// Only when nothing was copied:
/// - `EINTR`: a signal was pending before the first chunk;
/// - `EAGAIN`: `nonblock` and another task holds either inode lock;
/// - errors of the filesystem's `read` (`EIO`) and `write` (`ENOSPC`, `EIO`).
pub fn do_splice_direct(
    task: &Task,
    fin: &OpenFile,
    pos_in: u64,
    fout: &OpenFile,
    pos_out: u64,
    len: u64,
    nonblock: bool,
) -> KResult<u64> {
    let chunk = fin.mnt.fs.chunk_size().min(fout.mnt.fs.chunk_size()).max(1);
    // Planted bug (vfs::bugs): the larger of the two mounts' chunks.
    let chunk = if crate::bugs::planted(crate::bugs::Bug::CopyChunkOfLargerMount) {
        fin.mnt.fs.chunk_size().max(fout.mnt.fs.chunk_size()).max(1)
    } else {
        chunk
    };
    // Planted bug (vfs::bugs): one chunk for everything, both locks held throughout.
    let chunk = if crate::bugs::planted(crate::bugs::Bug::CopyHoldsLockAcrossChunks) {
        u64::MAX
    } else {
        chunk
    };
    let (mut done, mut chunks) = (0u64, 0u64);
    while done < len && chunks < MAX_CHUNKS_PER_CALL {
        if task.signal_pending() {
            return if done == 0 {
                Err(Errno::EINTR)
            } else {
                Ok(done)
            };
        }
        chunks += 1;
        let want = chunk.min(len - done);
        match copy_chunk(
            task,
            fin,
            pos_in + done,
            fout,
            pos_out + done,
            want,
            nonblock,
        ) {
            Ok(0) => break,
            Ok(n) => {
                task.chunk_done(n);
                done += n;
                if n < want {
                    break;
                }
            }
            Err(e) => return partial(done, Err(e)),
        }
    }
    Ok(done)
}

/// Counts the extents FIEMAP shows in `[off, off + len)` of `f` (for the statistics).
fn extents_in(f: &OpenFile, off: u64, len: u64) -> u64 {
    match f.mnt.fs.fiemap(f.inode.ino) {
        Ok(v) => v
            .iter()
            .filter(|e| e.logical < off + len && e.logical + e.length > off)
            .count() as u64,
        Err(_) => 1,
    }
}

/// How many times a staged remap (`remap=swap`) is built again after an inode changed
/// under it before the VFS falls back to building it under the locks.
pub const MAX_STAGING_ATTEMPTS: u32 = 3;

/// Calls the filesystem's `->remap_file_range` with both inode locks held for the whole
/// call (`lock_two_nondirectories` in the filesystems; the source shared, as Linux ≥ 6.7
/// XFS takes it, the destination exclusive), and records what it shared. On a filesystem
/// that stages remaps (`remap=swap`), the remap is built with no lock held and only
/// installed under them ([`remap_staged`]).
///
/// # Errors
/// `EAGAIN` with `nonblock` when either inode lock is held by another task; whatever the
/// filesystem's `generic_remap_file_range_prep` and remap answer.
#[allow(clippy::too_many_arguments)]
pub fn remap_locked(
    task: &Task,
    fin: &OpenFile,
    pos_in: u64,
    fout: &OpenFile,
    pos_out: u64,
    len: u64,
    flags: u32,
    nonblock: bool,
) -> KResult<u64> {
    let before = task.stats();
    let staged = if fin.same_fs(fout) {
        remap_staged(task, fin, pos_in, fout, pos_out, len, flags, nonblock)?
    } else {
        None
    };
    let n = match staged {
        Some(n) => n,
        None => {
            let _guards = lock_remap_pair(task, fin, fout, nonblock)?;
            fout.mnt.fs.remap_file_range(
                task,
                fin.inode.ino,
                pos_in,
                fout.inode.ino,
                pos_out,
                len,
                flags,
            )?
        }
    };
    if n > 0 {
        // A model that counted its work itself (a network client folds in the server's
        // figures) is not counted twice; what it reports having copied instead of shared
        // (btrfs's inline extents) is not counted as shared.
        let now = task.stats();
        let copied = now.bytes_copied - before.bytes_copied;
        let bytes = if now.bytes_shared == before.bytes_shared {
            n.saturating_sub(copied)
        } else {
            0
        };
        let extents = if now.extents_remapped == before.extents_remapped && copied < n {
            extents_in(fout, pos_out, n)
        } else {
            0
        };
        task.with_stats(|s| {
            s.add_shared(bytes);
            s.add_remapped(extents);
        });
    }
    Ok(n)
}

/// The two inode locks of a remap, in the global order: the source's shared (only its
/// extent map is read), the destination's exclusive.
fn lock_remap_pair<'a>(
    task: &'a Task,
    fin: &'a OpenFile,
    fout: &'a OpenFile,
    nonblock: bool,
) -> KResult<(InodeGuard<'a>, Option<InodeGuard<'a>>)> {
    lock_two(
        (&fin.inode.lock, fin.inode.order(), Mode::Shared),
        (&fout.inode.lock, fout.inode.order(), Mode::Exclusive),
        task,
        nonblock,
    )
}

/// `remap=swap`: build the remap with no inode lock held
/// ([`FileSystem::remap_stage`](crate::fs::FileSystem::remap_stage)), then take both locks
/// and install it ([`FileSystem::remap_install`](crate::fs::FileSystem::remap_install)).
/// A reader of either file waits only for the install. If an inode changed between the
/// two (the plan is stale), the remap is built again, at most [`MAX_STAGING_ATTEMPTS`]
/// times; then `Ok(None)` sends the caller to the locked path, so a busy file cannot
/// starve the call. `Ok(None)` at once when the filesystem does not stage this remap.
///
/// The order is that of the locked path: the build runs the prep's checks, so an error is
/// the answer for the inodes as the build saw them, and nothing changed.
///
/// # Errors
/// As [`remap_locked`].
#[allow(clippy::too_many_arguments)]
fn remap_staged(
    task: &Task,
    fin: &OpenFile,
    pos_in: u64,
    fout: &OpenFile,
    pos_out: u64,
    len: u64,
    flags: u32,
    nonblock: bool,
) -> KResult<Option<u64>> {
    let fs = &fout.mnt.fs;
    let (src, dst) = (fin.inode.ino, fout.inode.ino);
    for _ in 0..MAX_STAGING_ATTEMPTS {
        // Planted bug (vfs::bugs): the build runs under the locks after all.
        let early = crate::bugs::planted(crate::bugs::Bug::SwapBuildsUnderLocks)
            .then(|| lock_remap_pair(task, fin, fout, nonblock))
            .transpose()?;
        let Some(plan) = fs.remap_stage(task, src, pos_in, dst, pos_out, len, flags)? else {
            return Ok(None);
        };
        if plan.result == 0 {
            return Ok(Some(0));
        }
        let _guards = match early {
            Some(held) => held,
            None => {
                // Nothing is held here: a single-threaded driver lets the tasks whose time
                // came during the build run now.
                task.preemption_point();
                lock_remap_pair(task, fin, fout, nonblock)?
            }
        };
        if let Some(n) = fs.remap_install(task, &plan)? {
            task.with_stats(|s| s.remaps_installed += 1);
            return Ok(Some(n));
        }
        task.with_stats(|s| s.remaps_restaged += 1);
    }
    task.with_stats(|s| s.remaps_locked_after_staging += 1);
    Ok(None)
}

/// Copies without sharing unless `how` allows it: the filesystem's `->copy_file_range`
/// when both files are on it and it has one ([`offload`]), else (or when it declines with
/// `EOPNOTSUPP` or `EXDEV` before copying anything) the VFS byte copy.
fn copy_range(
    task: &Task,
    fin: &OpenFile,
    pos_in: u64,
    fout: &OpenFile,
    pos_out: u64,
    len: u64,
    how: CopyHow,
) -> KResult<u64> {
    if len == 0 {
        return Ok(0);
    }
    if fin.same_fs(fout) && fout.mnt.fs.offers_copy(how) {
        match offload(task, fin, pos_in, fout, pos_out, len, how) {
            Err(Errno::EOPNOTSUPP) | Err(Errno::EXDEV) => {}
            r => return r,
        }
    }
    do_splice_direct(task, fin, pos_in, fout, pos_out, len, how.nonblock)
}

/// One call of the filesystem's `->copy_file_range` with the destination's inode lock held
/// (`try_lock` for `how.nonblock`): what `nfs42_proc_copy` does around each COPY.
fn offload_step(
    task: &Task,
    fin: &OpenFile,
    pos_in: u64,
    fout: &OpenFile,
    pos_out: u64,
    len: u64,
    how: CopyHow,
) -> KResult<u64> {
    let _guard = if how.nonblock {
        fout.inode.lock.try_lock(task)?
    } else {
        fout.inode.lock.lock(task)
    };
    fout.mnt.fs.copy_file_range(
        task,
        fin.inode.ino,
        pos_in,
        fout.inode.ino,
        pos_out,
        len,
        how,
    )
}

/// The offloaded copy of the extended splice: [`offload_step`] in [`steps`], releasing the
/// destination's inode lock between steps, so a reader of it waits at most one step.
fn offload(
    task: &Task,
    fin: &OpenFile,
    pos_in: u64,
    fout: &OpenFile,
    pos_out: u64,
    len: u64,
    how: CopyHow,
) -> KResult<u64> {
    steps(task, len, |done| {
        let (i, o) = (pos_in + done, pos_out + done);
        offload_step(task, fin, i, fout, o, len - done, how)
    })
}

/// Calls `step(done)` — one call of a copy method that may do less than asked — until
/// `len` bytes are done, a step returns 0 (the source ended), a signal (checked before each
/// step, as the byte copy checks before each chunk: `EINTR` before the first), or an error
/// (dropped after progress, as everywhere in a multi-step copy). Returns the bytes done.
/// What the VFS does with a filesystem's `->copy_file_range`; public so that tests driving
/// a filesystem model directly loop the same way.
///
/// # Errors
/// `EINTR` for a signal before the first step; the first step's error.
pub fn steps(task: &Task, len: u64, mut step: impl FnMut(u64) -> KResult<u64>) -> KResult<u64> {
    let mut done = 0;
    while done < len {
        if task.signal_pending() {
            return if done == 0 {
                Err(Errno::EINTR)
            } else {
                Ok(done)
            };
        }
        match step(done) {
            Ok(0) => break,
            Ok(n) => done += n.min(len - done),
            r => return partial(done, r),
        }
    }
    Ok(done)
}

/// Runs the generic checks `copy_file_range` and the extended splice share: snapshots both
/// files, `generic_copy_file_checks` under `rule`, then `rw_verify_area` on both ranges.
/// Returns the shortened count.
fn copy_checks(
    fin: &OpenFile,
    pos_in: i64,
    fout: &OpenFile,
    pos_out: i64,
    len: u64,
    rule: CrossFs,
) -> KResult<(u64, FileState, FileState)> {
    let sin = FileState::of(fin)?;
    let sout = FileState::of(fout)?;
    let count = generic_copy_file_checks(&sin, pos_in, &sout, pos_out, len, rule)?;
    rw_verify_area(pos_in, count)?;
    rw_verify_area(pos_out, count)?;
    Ok((count, sin, sout))
}

/// `vfs_copy_file_range` (fs/read_write.c) for `copy_file_range(2)` with `flags == 0`
/// (the syscall rejects other flags before calling). Returns the bytes copied, which may
/// be fewer than asked: source EOF, `MAX_RW_COUNT`, a remap that shortened the range
/// (Linux returns that count and lets the caller loop), a signal.
///
/// Method order as Linux 6.x: the filesystem's `->copy_file_range` if it has one, called
/// once with the destination's inode lock held (uncapped; its `EOPNOTSUPP` or `EXDEV`
/// becomes a byte copy, as NFS's method does internally — never a clone); else, on the
/// same super block, `->remap_file_range` with
/// `REMAP_FILE_CAN_SHORTEN` on at most `MAX_RW_COUNT` bytes — this is why `copy_file_range`
/// shares extents on btrfs and XFS — and if that shares nothing or fails, whatever the
/// error, the byte copy of at most `MAX_RW_COUNT` bytes.
///
/// # Errors
/// In check order:
/// - `EISDIR`, `EINVAL`, `EBADF`, `EXDEV` (different mounts), `EPERM`, `ETXTBSY`,
///   `EOVERFLOW`, `EFBIG`, `EINVAL` (same-file overlap) from
///   [`checks::generic_copy_file_checks`](crate::checks::generic_copy_file_checks);
/// - `EINVAL` from [`checks::rw_verify_area`](crate::checks::rw_verify_area) (a negative offset);
/// - then (count 0 returns 0 first) errors of the method: the offload's, or the byte
///   copy's (`EINTR`, `EIO`, `ENOSPC`) when nothing was copied.
pub fn vfs_copy_file_range(
    task: &Task,
    fin: &OpenFile,
    pos_in: i64,
    fout: &OpenFile,
    pos_out: i64,
    len: u64,
) -> KResult<u64> {
    let (count, sin, _) = copy_checks(fin, pos_in, fout, pos_out, len, CrossFs::SameSuperBlock)?;
    if count == 0 {
        return Ok(0);
    }
    let (pin, pout) = (pos_in as u64, pos_out as u64);
    // A filesystem with a copy method gets the whole request, and its answer is final:
    // EOPNOTSUPP and EXDEV are what Linux's NFS and CIFS methods answer themselves with a
    // byte copy (`splice_copy_file_range`) — never with a clone.
    if fout.mnt.fs.offers_copy(CopyHow::default()) {
        return match offload_step(task, fin, pin, fout, pout, count, CopyHow::default()) {
            Err(Errno::EOPNOTSUPP) | Err(Errno::EXDEV) => {
                do_splice_direct(task, fin, pin, fout, pout, count.min(MAX_RW_COUNT), false)
            }
            r => r,
        };
    }
    let count = count.min(MAX_RW_COUNT);
    if sin.has_remap {
        // Any error or zero bytes falls back to the byte copy (`ret <= 0` in Linux).
        if let Ok(n @ 1..) = remap_locked(
            task,
            fin,
            pin,
            fout,
            pout,
            count,
            remap_flags::CAN_SHORTEN,
            false,
        ) {
            return Ok(n);
        }
    }
    do_splice_direct(task, fin, pin, fout, pout, count, false)
}

/// The extended `splice(2)` between two files, after the syscall has decoded the flags
/// (the lab's proposal; `splice_file_range` is its would-be kernel name). Returns the
/// exact number of bytes from `pos_in` whose destination now holds the source data.
///
/// Checks: `generic_copy_file_checks` in `copy_file_range`'s order, with the cross-mount
/// rule relaxed for never/may (they byte-copy across filesystems, as the kernel-internal
/// `COPY_FILE_SPLICE` does), then `rw_verify_area`; a count of 0 (after shortening to the
/// source EOF) returns 0. At most `MAX_RW_COUNT` bytes per call are *copied* (by the byte
/// copy or offloaded); the shared part (must-share, and may-share's aligned middle) is
/// O(extents) and capped only to what `loff_t` holds, rounded down to the remap block.
///
/// - [`Share::Never`]: the filesystem's `->copy_file_range` with
///   `CopyHow { no_share: true }` (a filesystem that cannot promise it answers
///   `EOPNOTSUPP`), else the chunked byte copy. Never calls `->remap_file_range`.
/// - [`Share::May`]: when the offsets are congruent modulo the remap block, byte-copy
///   the unaligned head, remap the rest with `REMAP_FILE_CAN_SHORTEN` (an `EOPNOTSUPP`,
///   `EINVAL` or `EXDEV` answer means "not this range": copy it instead), then copy what
///   the remap left (the unaligned tail). Copies go through the offload with
///   `CopyHow { no_share: false }` where the filesystem has one, else bytes.
/// - [`Share::Must`]: one `->remap_file_range` without `REMAP_FILE_CAN_SHORTEN`, both
///   inode locks held for the whole call; all or nothing.
///
/// # Errors
/// In check order:
/// - `EISDIR`, `EINVAL` (not regular), `EBADF` (modes, `O_APPEND`), `EXDEV` (different
///   mounts, must-share only), `EPERM` (immutable destination), `ETXTBSY` (swap file),
///   `EOVERFLOW`, `EFBIG`, `EINVAL` (same-file overlap) from
///   [`checks::generic_copy_file_checks`](crate::checks::generic_copy_file_checks);
/// - `EINVAL` from [`checks::rw_verify_area`](crate::checks::rw_verify_area);
/// - `EINTR`: a signal was pending before anything moved (every flag);
/// - must-share: `EOPNOTSUPP` (the filesystem cannot share), `EAGAIN` (`nonblock` and an
///   inode lock is taken), then the filesystem's remap errors (`EINVAL` for alignment,
///   `EOPNOTSUPP` for files it will not share, `ENOSPC`, …);
/// - never/may, only when no byte has moved yet: `EINTR` (signal), `EAGAIN`
///   (`nonblock`), `EIO`, `ENOSPC`.
pub fn vfs_splice_file_range(
    task: &Task,
    fin: &OpenFile,
    pos_in: i64,
    fout: &OpenFile,
    pos_out: i64,
    len: u64,
    share: Share,
    nonblock: bool,
) -> KResult<u64> {
    // Planted bug (vfs::bugs): never-share takes the may-share path.
    let share =
        if crate::bugs::planted(crate::bugs::Bug::NeverShareReflinks) && share == Share::Never {
            Share::May
        } else {
            share
        };
    let rule = match share {
        Share::Must => CrossFs::SameSuperBlock,
        Share::Never | Share::May => CrossFs::Any,
    };
    let (count, sin, sout) = copy_checks(fin, pos_in, fout, pos_out, len, rule)?;
    if count == 0 {
        return Ok(0);
    }
    // Spec §2: a signal that arrived before any byte moved gives EINTR — whatever the
    // flag, so also before a must-share's remap, which is not interruptible once started
    // (R5). FICLONE and copy_file_range keep Linux's behaviour (their remap runs).
    if task.signal_pending() {
        return Err(Errno::EINTR);
    }
    let (pin, pout) = (pos_in as u64, pos_out as u64);
    match share {
        Share::Never => {
            let how = CopyHow {
                no_share: true,
                nonblock,
            };
            let n = copy_range(task, fin, pin, fout, pout, count.min(MAX_RW_COUNT), how)?;
            if n > 0 {
                fout.mnt.fs.unshare_copied(task, fout.inode.ino, pout, n);
            }
            Ok(n)
        }
        Share::May => splice_may_share(task, fin, &sin, pin, fout, &sout, pout, count, nonblock),
        Share::Must => {
            // Planted bug (vfs::bugs): must-share byte-copies instead of sharing.
            if crate::bugs::planted(crate::bugs::Bug::MustShareByteCopies) {
                return do_splice_direct(task, fin, pin, fout, pout, count, nonblock);
            }
            if !sin.has_remap {
                return Err(Errno::EOPNOTSUPP);
            }
            let bs = fin.mnt.fs.remap_block_size().max(1);
            // A remap is O(extents): no byte-count cap beyond what loff_t can hold.
            let cap = (i64::MAX as u64) / bs * bs;
            remap_locked(task, fin, pin, fout, pout, count.min(cap), 0, nonblock)
        }
    }
}

/// The may-share body of [`vfs_splice_file_range`]: head by copy, middle by remap, rest by
/// copy, stopping at the first short step.
fn splice_may_share(
    task: &Task,
    fin: &OpenFile,
    sin: &FileState,
    pin: u64,
    fout: &OpenFile,
    sout: &FileState,
    pout: u64,
    count: u64,
    nonblock: bool,
) -> KResult<u64> {
    let how = CopyHow {
        no_share: false,
        nonblock,
    };
    let mut done = 0u64;
    // Bytes this call copied (the head): with the rest, at most MAX_RW_COUNT.
    let mut copied = 0u64;
    let bs = fin.mnt.fs.remap_block_size().max(1);
    let shareable = sin.same_sb(sout) && sin.has_remap && pin % bs == pout % bs;
    // Only byte copies are capped at MAX_RW_COUNT; the shared middle is O(extents).
    // The shared middle is O(extents) and not capped at MAX_RW_COUNT (only byte-copied
    // parts are, below), so a may-share call never turns a shareable block into a copied
    // tail just because of a byte-count cap.
    let count = if shareable {
        count.min((i64::MAX as u64) / bs * bs)
    } else {
        count.min(MAX_RW_COUNT)
    };
    if shareable {
        let head = ((bs - pin % bs) % bs).min(count);
        let n = partial(0, copy_range(task, fin, pin, fout, pout, head, how))?;
        if n < head {
            return Ok(n);
        }
        done = n;
        copied = n;
        let rest = count - done;
        // A sub-block rest can only be shared as the source's partial EOF block.
        let to_eof = pin + count == sin.size;
        if rest >= bs || (rest > 0 && to_eof) {
            let r = remap_locked(
                task,
                fin,
                pin + done,
                fout,
                pout + done,
                rest,
                remap_flags::CAN_SHORTEN,
                nonblock,
            );
            match r {
                Ok(n) => done += n,
                // The filesystem will not share this range: copy it.
                Err(Errno::EOPNOTSUPP | Errno::EINVAL | Errno::EXDEV) => {}
                Err(e) => return partial(done, Err(e)),
            }
        }
    }
    let rest = (count - done).min(MAX_RW_COUNT - copied);
    partial(
        done,
        copy_range(task, fin, pin + done, fout, pout + done, rest, how),
    )
}

/// `vfs_clone_file_range` + `do_clone_file_range` (fs/remap_range.c): `FICLONE` and
/// `FICLONERANGE`. `len` 0 means "to the source's EOF" (the filesystem resolves it).
/// Returns the bytes the filesystem remapped.
///
/// # Errors
/// In check order (Linux 6.18's `vfs_clone_file_range`, which checks the range after the
/// files: measured, a huge offset across filesystems is `EXDEV` and on tmpfs `EOPNOTSUPP`):
/// - `EXDEV`, `EISDIR`, `EINVAL`, `EBADF`, `EOPNOTSUPP` from [`checks::clone_file_checks`](crate::checks::clone_file_checks);
/// - `EINVAL` from [`checks::remap_verify_area`](crate::checks::remap_verify_area) on the source, then the destination
///   (offsets or length above `i64::MAX`);
/// - the filesystem's `generic_remap_file_range_prep` and remap errors: `EPERM`
///   (immutable), `ETXTBSY` (swap file), `EINVAL` (alignment, source EOF, overlap, a
///   range that would need shortening), `EFBIG`, `EOPNOTSUPP`, `ENOSPC`.
pub fn vfs_clone_file_range(
    task: &Task,
    fin: &OpenFile,
    pos_in: i64,
    fout: &OpenFile,
    pos_out: i64,
    len: i64,
    flags: u32,
) -> KResult<u64> {
    let sin = FileState::of(fin)?;
    let sout = FileState::of(fout)?;
    clone_file_checks(&sin, &sout)?;
    remap_verify_area(pos_in, len)?;
    remap_verify_area(pos_out, len)?;
    remap_locked(
        task,
        fin,
        pos_in as u64,
        fout,
        pos_out as u64,
        len as u64,
        flags,
        false,
    )
}

/// `vfs_dedupe_file_range_one` (fs/remap_range.c): one destination of `FIDEDUPERANGE`.
/// `len` was clamped by [`checks::dedupe_source_checks`](crate::checks::dedupe_source_checks). Returns the bytes deduplicated.
///
/// # Errors
/// In check order: `EINVAL`, `EXDEV`, `EISDIR`, `EINVAL` from
/// [`checks::dedupe_dest_checks`](crate::checks::dedupe_dest_checks); then the filesystem's: `EBADE` (contents differ), `EINVAL`
/// (alignment, past EOF), `EPERM`, `ETXTBSY`, `EOPNOTSUPP`.
pub fn vfs_dedupe_file_range_one(
    task: &Task,
    src: &OpenFile,
    src_state: &FileState,
    off: u64,
    dst: &OpenFile,
    dst_off: u64,
    len: u64,
) -> KResult<u64> {
    let dstate = FileState::of(dst)?;
    dedupe_dest_checks(src_state, off, &dstate, dst_off, len)?;
    if len == 0 {
        return Ok(0);
    }
    remap_locked(
        task,
        src,
        off,
        dst,
        dst_off,
        len,
        remap_flags::DEDUP | remap_flags::CAN_SHORTEN,
        false,
    )
}
