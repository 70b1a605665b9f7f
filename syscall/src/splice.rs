//! The extended `splice(2)` between two files (spec §2): the lab's proposal.
//!
//! Only file→file splice is simulated (the lab has no pipes). The entry point decodes the
//! flags and descriptors the way `SYSCALL_DEFINE6(splice)` does, reads the offsets the way
//! `copy_file_range` does, and hands the rest to
//! [`vfs::copy::vfs_splice_file_range`], which runs the generic checks in
//! `copy_file_range`'s order and picks never/may/must-share behaviour.

use realcopy::chunked::Steps;
use vfs::copy::vfs_splice_file_range;

use crate::api::SysResult;
use crate::flags::splice_mode;
use crate::process::Process;

impl Process {
    /// `splice(2)` between two regular files, with the proposed share flags.
    ///
    /// `off_in`/`off_out`: `None` uses the file position and advances it by the result;
    /// `Some` is read as a `loff_t` and advanced in place by the result (the file position
    /// is left alone). `flags`: any of `SPLICE_F_MOVE`, `SPLICE_F_NONBLOCK`,
    /// `SPLICE_F_MORE`, `SPLICE_F_GIFT` (the three hints have no effect between files) and
    /// at most one of `SPLICE_F_MAY_SHARE` and `SPLICE_F_MUST_SHARE`; see
    /// [`crate::flags::splice`] and `docs/semantics.md` for the three contracts.
    ///
    /// Returns the exact number of bytes whose destination now holds the source data:
    /// fewer than `len` at source EOF, when the bytes *copied* (by the VFS or offloaded to
    /// the filesystem's copy method) reach `MAX_RW_COUNT` (0x7ffff000) — the shared part of
    /// a may- or must-share call is not capped — on a signal or on an error after some
    /// bytes moved; 0 when `len` is 0 or the source offset is at or
    /// past EOF (after all checks).
    ///
    /// # Errors
    /// In check order:
    /// - `EINVAL`: an unknown flag bit, or both share flags (checked before the
    ///   descriptors, as Linux checks `SPLICE_F_ALL`);
    /// - `EBADF`: `fd_in`, then `fd_out`, is not an open descriptor;
    /// - `EISDIR`: either file is a directory;
    /// - `EINVAL`: either file is not a regular file;
    /// - `EBADF`: `fd_in` not open for reading, `fd_out` not open for writing, or `fd_out`
    ///   has `O_APPEND`;
    /// - `EXDEV`: must-share and the files are on different filesystems (never and may
    ///   byte-copy across filesystems);
    /// - `EPERM`: the destination is immutable;
    /// - `ETXTBSY`: either file is an active swap file;
    /// - `EOVERFLOW`: an offset plus `len` wraps around;
    /// - `EFBIG`: the destination offset is at or past the maximum file size;
    /// - `EINVAL`: same file and overlapping ranges;
    /// - `EINVAL`: a negative offset;
    /// - must-share: `EOPNOTSUPP` (the filesystem cannot share, or will not share these
    ///   files), `EAGAIN` (`SPLICE_F_NONBLOCK` and an inode lock is taken), `EINVAL`
    ///   (offsets or length not aligned to the filesystem block, an unaligned source EOF
    ///   block that would land inside the destination), `ENOSPC`; the destination is
    ///   unchanged after any of them;
    /// - never/may, only before the first byte moved: `EINTR` (a signal), `EAGAIN`
    ///   (`SPLICE_F_NONBLOCK`), `EIO`, `ENOSPC`.
    pub fn splice(
        &mut self,
        fd_in: i32,
        off_in: Option<&mut u64>,
        fd_out: i32,
        off_out: Option<&mut u64>,
        len: usize,
        flags: u32,
    ) -> SysResult<usize> {
        let mode = splice_mode(flags)?;
        let fin = self.file(fd_in)?;
        let fout = self.file(fd_out)?;
        let pos_in = off_in.as_deref().copied().unwrap_or_else(|| fin.pos()) as i64;
        let pos_out = off_out.as_deref().copied().unwrap_or_else(|| fout.pos()) as i64;
        let n = vfs_splice_file_range(
            &self.task,
            &fin,
            pos_in,
            &fout,
            pos_out,
            len as u64,
            mode.share,
            mode.nonblock,
        )?;
        if n > 0 {
            let (new_in, new_out) = (pos_in as u64 + n, pos_out as u64 + n);
            match off_in {
                Some(p) => *p = new_in,
                None => fin.set_pos(new_in),
            }
            match off_out {
                Some(p) => *p = new_out,
                None => fout.set_pos(new_out),
            }
        }
        Ok(n as usize)
    }
}

/// The extended splice as the steps of [`realcopy::chunked::run`]: the lab's `cp` and the
/// differential tests drive the simulated call with the same loop that copies real files.
pub struct SpliceSteps<'p> {
    pub proc: &'p mut Process,
    pub fd_in: i32,
    pub off_in: u64,
    pub fd_out: i32,
    pub off_out: u64,
    /// `SPLICE_F_*` flags of every call.
    pub flags: u32,
}

impl Steps for SpliceSteps<'_> {
    fn step(&mut self, done: u64, len: u64) -> Result<u64, realcopy::Errno> {
        let (mut i, mut o) = (self.off_in + done, self.off_out + done);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.proc
            .splice(
                self.fd_in,
                Some(&mut i),
                self.fd_out,
                Some(&mut o),
                len,
                self.flags,
            )
            .map(|n| n as u64)
            .map_err(|e| realcopy::Errno(e.0))
    }
}
