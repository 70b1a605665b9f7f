//! `copy_file_range(2)` and the ioctls `FICLONE`, `FICLONERANGE`, `FIDEDUPERANGE` and
//! `FS_IOC_FIEMAP`: the syscall layer (descriptor lookup, argument decoding, offsets).
//!
//! The checks and the choice of method live in [`vfs::checks`] and [`vfs::copy`]; these
//! functions do what `SYSCALL_DEFINE6(copy_file_range)` (fs/read_write.c) and the
//! `ioctl_file_clone`, `ioctl_file_dedupe_range`, `ioctl_fiemap` helpers (fs/ioctl.c) do,
//! in their order.

use vfs::checks::{FileState, dedupe_source_checks, fiemap_prep};
use vfs::copy::{vfs_clone_file_range, vfs_copy_file_range, vfs_dedupe_file_range_one};
use vfs::errno::Errno;
use vfs::extent::FiemapExtent;

use crate::api::{DedupeDest, DedupeOutcome, SysResult};
use crate::flags::dedupe;
use crate::process::Process;

impl Process {
    /// `copy_file_range(2)` (`SYSCALL_DEFINE6(copy_file_range)` → `vfs_copy_file_range`).
    ///
    /// `None` offsets use and advance the file positions; `Some` offsets are advanced in
    /// place by the bytes copied. With flags 0 this is today's Linux behaviour: the
    /// filesystem's copy method, else sharing through `->remap_file_range` with
    /// `REMAP_FILE_CAN_SHORTEN` (btrfs-like, xfs-like, ocfs2-like share), else a byte copy.
    /// The remap and byte-copy paths move at most `MAX_RW_COUNT` bytes per call; a
    /// filesystem's own copy method is given the whole length and its count is returned
    /// uncapped, as Linux does (`vfs_copy_file_range` does not cap `->copy_file_range`):
    /// on nfs-like one call may return more than `MAX_RW_COUNT` (an asynchronous COPY
    /// covers the whole range; a synchronous one a leading hole of any length). Linux
    /// 5.19+ rule: no copy across mounts.
    ///
    /// # Errors
    /// In check order:
    /// - `EBADF`: `fd_in`, then `fd_out`, is not open;
    /// - `EINVAL`: `flags` is not 0 (checked after the descriptors, as Linux does);
    /// - `EISDIR`: either file is a directory;
    /// - `EINVAL`: either file is not a regular file;
    /// - `EBADF`: `fd_in` not readable, `fd_out` not writable or `O_APPEND`;
    /// - `EXDEV`: the files are on different mounts;
    /// - `EPERM`: the destination is immutable;
    /// - `ETXTBSY`: either file is a swap file;
    /// - `EOVERFLOW`: an offset plus `len` wraps around (a negative offset);
    /// - `EFBIG`: the destination offset is at or past the maximum file size;
    /// - `EINVAL`: same file and overlapping ranges (after shortening to the source EOF);
    /// - `EINVAL`: a negative offset (`rw_verify_area`);
    /// - then, when nothing was copied: `EINTR`, `EIO`, `ENOSPC` from the copy.
    pub fn sys_copy_file_range(
        &mut self,
        fd_in: i32,
        off_in: Option<&mut i64>,
        fd_out: i32,
        off_out: Option<&mut i64>,
        len: usize,
        flags: u32,
    ) -> SysResult<usize> {
        let fin = self.file(fd_in)?;
        let fout = self.file(fd_out)?;
        let pos_in = off_in
            .as_deref()
            .copied()
            .unwrap_or_else(|| fin.pos() as i64);
        let pos_out = off_out
            .as_deref()
            .copied()
            .unwrap_or_else(|| fout.pos() as i64);
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        let n = vfs_copy_file_range(&self.task, &fin, pos_in, &fout, pos_out, len as u64)?;
        if n > 0 {
            let (new_in, new_out) = (pos_in + n as i64, pos_out + n as i64);
            match off_in {
                Some(p) => *p = new_in,
                None => fin.set_pos(new_in as u64),
            }
            match off_out {
                Some(p) => *p = new_out,
                None => fout.set_pos(new_out as u64),
            }
        }
        Ok(n as usize)
    }

    /// `ioctl_file_clone` (fs/ioctl.c), shared by `FICLONE` and `FICLONERANGE`: `len` 0
    /// clones to the source's EOF; otherwise the filesystem must clone exactly `len` bytes.
    fn ioctl_file_clone(
        &mut self,
        dst_fd: i32,
        src_fd: i32,
        off: u64,
        len: u64,
        dest_off: u64,
    ) -> SysResult<()> {
        let dst = self.file(dst_fd)?;
        let src = self.file(src_fd)?;
        let cloned = vfs_clone_file_range(
            &self.task,
            &src,
            off as i64,
            &dst,
            dest_off as i64,
            len as i64,
            0,
        )?;
        if len != 0 && cloned != len {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// `ioctl(dst_fd, FICLONE, src_fd)`: shares the whole source with the destination
    /// (= `FICLONERANGE` with offsets 0 and length 0). Holds both inode locks for the whole
    /// O(extents) call.
    ///
    /// # Errors
    /// As [`Process::sys_ficlonerange`].
    pub fn sys_ficlone(&mut self, dst_fd: i32, src_fd: i32) -> SysResult<()> {
        self.ioctl_file_clone(dst_fd, src_fd, 0, 0, 0)
    }

    /// `ioctl(dst_fd, FICLONERANGE, {src_fd, src_offset, src_length, dest_offset})`
    /// (`ioctl_file_clone` → `vfs_clone_file_range` → the filesystem's
    /// `->remap_file_range`). `src_length` 0 means "to the source's EOF".
    ///
    /// # Errors
    /// In check order:
    /// - `EBADF`: `dst_fd`, then `src_fd`, is not open;
    /// - `EXDEV`: the files are on different mounts;
    /// - `EISDIR`: either file is a directory;
    /// - `EINVAL`: either file is not a regular file;
    /// - `EBADF`: source not readable, destination not writable or `O_APPEND`;
    /// - `EOPNOTSUPP`: the filesystem cannot clone at all (plain, tmpfs-like);
    /// - `EINVAL`: an offset or the length is above `i64::MAX`, or offset + length
    ///   overflows (`remap_verify_area`, source then destination);
    /// - from the filesystem (`generic_remap_file_range_prep`, then the model): `EPERM`
    ///   (immutable destination), `ETXTBSY` (swap file), `EINVAL` (source offset past EOF,
    ///   unaligned offsets or length, same-file overlap, a range past the source EOF), `EFBIG`,
    ///   `EOPNOTSUPP` (files the model will not share), `ENOSPC`;
    /// - `EINVAL`: the filesystem cloned fewer bytes than a non-zero `src_length`.
    pub fn sys_ficlonerange(
        &mut self,
        dst_fd: i32,
        src_fd: i32,
        src_offset: u64,
        src_length: u64,
        dest_offset: u64,
    ) -> SysResult<()> {
        self.ioctl_file_clone(dst_fd, src_fd, src_offset, src_length, dest_offset)
    }

    /// `ioctl(src_fd, FIDEDUPERANGE, …)` (`ioctl_file_dedupe_range` →
    /// `vfs_dedupe_file_range`): for each destination, compare its range with the
    /// source's under both inode locks and share it if equal. The call fails only for
    /// call-level errors; each destination gets its own outcome: `status` `SAME` (0) with
    /// `bytes_deduped` = the (clamped) length, `DIFFERS` (1), or a negative errno.
    ///
    /// # Errors
    /// Call level, in check order:
    /// - `EBADF`: `src_fd` is not open;
    /// - `ENOMEM`: more than 127 destinations (the argument must fit one page);
    /// - `EINVAL`: the source is not open for reading;
    /// - `EISDIR`: the source is a directory;
    /// - `EINVAL`: the source is not a regular file;
    /// - `EOPNOTSUPP`: the filesystem has no remap method (plain, tmpfs-like);
    /// - `EINVAL`: offset or length above `i64::MAX`, or their sum overflows;
    /// - `EINVAL`: the source range ends past the source's EOF.
    ///
    /// Per destination (as `status`), in check order: `-EBADF` (not an open descriptor),
    /// `-EINVAL` (destination offset above `i64::MAX` or overflowing), `-EXDEV` (another
    /// mount), `-EISDIR`, then the filesystem's `-EPERM` (immutable), `-ETXTBSY`,
    /// `-EINVAL` (alignment, a range past the destination's EOF), `-EOPNOTSUPP`, or
    /// `DIFFERS`. A destination open read-only is accepted: Linux lets the file's owner
    /// dedupe, and the lab's single user owns every file. The length is clamped to 1 GiB
    /// and 0 succeeds with 0 bytes.
    pub fn sys_fideduperange(
        &mut self,
        src_fd: i32,
        src_offset: u64,
        src_length: u64,
        dests: &[DedupeDest],
    ) -> SysResult<Vec<DedupeOutcome>> {
        let src = self.file(src_fd)?;
        if dests.len() > dedupe::MAX_DESTS {
            return Err(Errno::ENOMEM);
        }
        let sstate = FileState::of(&src)?;
        let len = dedupe_source_checks(&sstate, src_offset, src_length)?;
        let mut out = Vec::with_capacity(dests.len());
        for d in dests {
            let r = match self.file(d.fd) {
                Ok(dst) => vfs_dedupe_file_range_one(
                    &self.task, &src, &sstate, src_offset, &dst, d.offset, len,
                ),
                Err(e) => Err(e),
            };
            out.push(match r {
                // Linux reports the requested (clamped) length, not the filesystem's count.
                Ok(_) => DedupeOutcome {
                    bytes_deduped: len,
                    status: dedupe::SAME,
                },
                Err(Errno::EBADE) => DedupeOutcome {
                    bytes_deduped: 0,
                    status: dedupe::DIFFERS,
                },
                Err(e) => DedupeOutcome {
                    bytes_deduped: 0,
                    status: -e.raw(),
                },
            });
        }
        Ok(out)
    }

    /// `ioctl(fd, FS_IOC_FIEMAP, …)` (`ioctl_fiemap` → the filesystem's `->fiemap` →
    /// `fiemap_prep`): the extents that overlap `[start, start + len)`, whole (not clipped),
    /// with their flags (`SHARED` 0x2000, `UNWRITTEN` 0x800, `DATA_INLINE` 0x200, `LAST`
    /// 0x1 on the file's last extent). The inode lock is held while the map is read.
    ///
    /// # Errors
    /// In check order:
    /// - `EBADF`: `fd` is not open;
    /// - `EOPNOTSUPP`: the filesystem has no FIEMAP (tmpfs-like);
    /// - `EINVAL`: `len` is 0;
    /// - `EFBIG`: `start` is at or past the maximum file size;
    /// - `EBADR`: a flag other than `FIEMAP_FLAG_SYNC` (the models have no xattr fork).
    pub fn sys_fiemap(
        &mut self,
        fd: i32,
        start: u64,
        len: u64,
        flags: u32,
    ) -> SysResult<Vec<FiemapExtent>> {
        let f = self.file(fd)?;
        // Only regular files have ->fiemap (directories' inode operations lack it).
        if f.stat()?.kind != vfs::extent::FileKind::Regular {
            return Err(Errno::EOPNOTSUPP);
        }
        let map = {
            let _g = f.inode.lock.lock_shared(&self.task);
            f.mnt.fs.fiemap(f.inode.ino)
        };
        // A missing ->fiemap is the ioctl's first check; the model tells us by answering.
        if map == Err(Errno::EOPNOTSUPP) {
            return Err(Errno::EOPNOTSUPP);
        }
        // A flag the filesystem supports (XFS: FIEMAP_FLAG_XATTR) passes fiemap_prep; the
        // models keep no extended attributes, so the attribute fork maps to nothing.
        let xattr = flags & f.mnt.fs.fiemap_flags_supported() & vfs::fs::FIEMAP_FLAG_XATTR;
        let len = fiemap_prep(start, len, flags & !xattr, f.mnt.fs.max_file_size())?;
        // fiemap_prep's last step: FIEMAP_FLAG_SYNC writes the page cache back first.
        if flags & vfs::checks::fiemap_req::SYNC != 0 {
            f.mnt.fs.write_back(&self.task, f.inode.ino)?;
        }
        if xattr != 0 {
            return Ok(Vec::new());
        }
        let end = start.saturating_add(len);
        Ok(map?
            .into_iter()
            .filter(|e| e.logical < end && e.logical.saturating_add(e.length) > start)
            .collect())
    }
}
