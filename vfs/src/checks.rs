//! The VFS's generic argument checks for copy, splice, remap and FIEMAP.
//!
//! Pure functions over a snapshot of the two open files ([`FileState`]): no locks, no I/O,
//! no filesystem calls, so a table of wrong arguments can be fed straight in. Each function
//! mirrors one Linux 6.x function (named in its doc comment), runs its checks in that
//! function's order, and returns one errno per exit. Callers run the functions in the order
//! the kernel calls them; that order is what user space sees when several things are wrong
//! at once, so `syscall/tests/errno_order.rs` pins it.
//!
//! Positions are `loff_t` ([`i64`]) exactly as user space passed them: a negative offset is
//! representable and fails where the kernel fails it (usually `rw_verify_area`, after
//! earlier checks had their chance). Counts are `size_t` ([`u64`]).
//!
//! The filesystem-level remap checks (`generic_remap_file_range_prep`: alignment, EOF,
//! overlap, dedupe comparison) are not here: the kernel runs them inside each filesystem's
//! `->remap_file_range`, and so do our models (`vfs::remap`).

use crate::errno::{Errno, KResult};
use crate::extent::{Attrs, FileKind, Ino};
use crate::file::{Mode, OpenFile};

/// Everything the generic checks look at, for one open file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileState {
    /// The super block (mount) the file lives on (`inode->i_sb`).
    pub dev: u64,
    /// The inode number (with `dev`, the inode's identity).
    pub ino: Ino,
    pub kind: FileKind,
    /// `f_mode` / `O_APPEND` of the open file description.
    pub mode: Mode,
    /// `i_size`.
    pub size: u64,
    /// `IS_IMMUTABLE`, `IS_SWAPFILE`, ….
    pub attrs: Attrs,
    /// `s_maxbytes` of the file's filesystem.
    pub max_bytes: u64,
    /// Whether the filesystem has a `->remap_file_range` method at all.
    pub has_remap: bool,
}

impl FileState {
    /// Snapshots the state of an open file (`file_inode`, `i_size_read`, `f_mode`).
    ///
    /// # Errors
    /// `ESTALE` if the inode vanished (after a crash).
    pub fn of(f: &OpenFile) -> KResult<FileState> {
        let st = f.stat()?;
        Ok(FileState {
            dev: f.mnt.dev,
            ino: f.inode.ino,
            kind: st.kind,
            mode: f.mode,
            size: st.size,
            attrs: st.attrs,
            max_bytes: f.mnt.fs.max_file_size(),
            has_remap: f.mnt.fs.has_remap(),
        })
    }

    /// Whether two snapshots are the same inode (`inode_in == inode_out`).
    pub fn same_inode(&self, other: &FileState) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// Whether two snapshots are on the same super block.
    pub fn same_sb(&self, other: &FileState) -> bool {
        self.dev == other.dev
    }
}

/// Which pairs of filesystems a copy may span (`generic_copy_file_checks`' cross-sb rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossFs {
    /// Same super block only (`copy_file_range(2)` since Linux 5.19, specialised to the
    /// lab, where no model has a `->copy_file_range` method that accepts a file of another
    /// mount; the must-share splice, because sharing cannot span filesystems).
    SameSuperBlock,
    /// Any two filesystems (the kernel-internal `COPY_FILE_SPLICE`; the lab's never-share
    /// and may-share splice, which byte-copy across mounts).
    Any,
}

/// `generic_file_rw_checks` (fs/read_write.c): the file-type and open-mode checks shared by
/// copy and clone.
///
/// # Errors
/// In check order:
/// - `EISDIR`: either file is a directory (copying a directory makes no sense);
/// - `EINVAL`: either file is not a regular file (pipes, sockets, devices);
/// - `EBADF`: the source is not open for reading, the destination not open for writing,
///   or the destination is open with `O_APPEND` (a positioned write into an append-only
///   stream would break its promise).
pub fn generic_file_rw_checks(fin: &FileState, fout: &FileState) -> KResult<()> {
    if fin.kind == FileKind::Directory || fout.kind == FileKind::Directory {
        return Err(Errno::EISDIR);
    }
    if fin.kind != FileKind::Regular || fout.kind != FileKind::Regular {
        return Err(Errno::EINVAL);
    }
    if !fin.mode.read || !fout.mode.write || fout.mode.append {
        return Err(Errno::EBADF);
    }
    Ok(())
}

/// The cross-filesystem rule of `generic_copy_file_checks`.
///
/// # Errors
/// `EXDEV` when `rule` is [`CrossFs::SameSuperBlock`] and the files are on different
/// mounts: a filesystem method must never be handed another filesystem's inode.
pub fn check_cross_fs(fin: &FileState, fout: &FileState, rule: CrossFs) -> KResult<()> {
    match rule {
        CrossFs::Any => Ok(()),
        CrossFs::SameSuperBlock if fin.same_sb(fout) => Ok(()),
        CrossFs::SameSuperBlock => Err(Errno::EXDEV),
    }
}

/// `generic_write_check_limits` (fs/read_write.c), without `RLIMIT_FSIZE` (the lab's
/// processes have no resource limits; a 64-bit kernel forces `O_LARGEFILE`). Shortens
/// `count` so the write stays below `s_maxbytes`.
///
/// # Errors
/// `EFBIG`: `pos` is at or past the filesystem's maximum file size.
pub fn generic_write_check_limits(fout: &FileState, pos: i64, count: &mut u64) -> KResult<()> {
    let max = fout.max_bytes.min(i64::MAX as u64) as i64;
    let past = if crate::bugs::planted(crate::bugs::Bug::WriteLimitOneByteOff) {
        pos > max
    } else {
        pos >= max
    };
    if past {
        return Err(Errno::EFBIG);
    }
    // `pos` may be negative here (rw_verify_area rejects it later); i128 keeps the
    // subtraction exact where C would wrap.
    let room = (max as i128 - pos as i128).max(0);
    *count = (*count as i128).min(room) as u64;
    Ok(())
}

/// `generic_copy_file_checks` (fs/read_write.c): everything `copy_file_range` checks before
/// it picks a method. Returns the count shortened to the source's EOF and the
/// destination's size limit.
///
/// # Errors
/// In check order:
/// - `EISDIR`, `EINVAL`, `EBADF` from [`generic_file_rw_checks`];
/// - `EXDEV` from [`check_cross_fs`] under `rule`;
/// - `EPERM`: the destination is immutable;
/// - `ETXTBSY`: either file is an active swap file (its blocks are pinned by the swapper);
/// - `EOVERFLOW`: `pos + count` wraps around for either file;
/// - `EFBIG` from [`generic_write_check_limits`] (after shortening to the source EOF);
/// - `EINVAL`: source and destination are the same inode and the shortened ranges overlap
///   (a forward copy over itself would read what it just wrote).
pub fn generic_copy_file_checks(
    fin: &FileState,
    pos_in: i64,
    fout: &FileState,
    pos_out: i64,
    count: u64,
    rule: CrossFs,
) -> KResult<u64> {
    generic_file_rw_checks(fin, fout)?;
    check_cross_fs(fin, fout, rule)?;
    if fout.attrs.immutable {
        return Err(Errno::EPERM);
    }
    if fin.attrs.swapfile || fout.attrs.swapfile {
        return Err(Errno::ETXTBSY);
    }
    // The kernel adds a loff_t to a u64: unsigned arithmetic, so a negative offset is a
    // huge one and wraps with almost any count.
    if (pos_in as u64).checked_add(count).is_none() || (pos_out as u64).checked_add(count).is_none()
    {
        return Err(Errno::EOVERFLOW);
    }
    // Shorten to the source's EOF: a copy never extends the source.
    let size_in = fin.size.min(i64::MAX as u64) as i64;
    let mut count = if pos_in >= size_in {
        0
    } else {
        count.min((size_in as u64).wrapping_sub(pos_in as u64))
    };
    generic_write_check_limits(fout, pos_out, &mut count)?;
    if fin.same_inode(fout) {
        let (i, o, c) = (pos_in as i128, pos_out as i128, count as i128);
        if o + c > i && o < i + c {
            return Err(Errno::EINVAL);
        }
    }
    Ok(count)
}

/// `rw_verify_area` (fs/read_write.c) for a regular file (no `FMODE_UNSIGNED_OFFSET`).
///
/// # Errors
/// `EINVAL`: the count does not fit `ssize_t`, the position is negative, or the range
/// ends past the largest `loff_t`.
pub fn rw_verify_area(pos: i64, count: u64) -> KResult<()> {
    if count > i64::MAX as u64 {
        return Err(Errno::EINVAL);
    }
    if pos < 0 || pos.checked_add(count as i64).is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `remap_verify_area` (fs/remap_range.c): the range of a clone or dedupe, as `loff_t`s.
///
/// # Errors
/// `EINVAL`: a negative position or length (a `u64` above `i64::MAX` from user space), or
/// a range whose end overflows `loff_t`.
pub fn remap_verify_area(pos: i64, len: i64) -> KResult<()> {
    if pos < 0 || len < 0 {
        return Err(Errno::EINVAL);
    }
    if pos.checked_add(len).is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The file-level checks of `do_clone_file_range` (fs/remap_range.c), made before the
/// filesystem's `->remap_file_range` runs `generic_remap_file_range_prep`.
///
/// # Errors
/// In check order:
/// - `EXDEV`: different super blocks (a filesystem can only share its own blocks; the
///   ioctls used to compare mounts, Linux 5.18+ compares super blocks, and in the lab every
///   mount is its own super block);
/// - `EISDIR`, `EINVAL`, `EBADF` from [`generic_file_rw_checks`];
/// - `EOPNOTSUPP`: the filesystem has no `->remap_file_range` (ext4, tmpfs).
pub fn clone_file_checks(fin: &FileState, fout: &FileState) -> KResult<()> {
    if !fin.same_sb(fout) {
        return Err(Errno::EXDEV);
    }
    generic_file_rw_checks(fin, fout)?;
    if !fin.has_remap {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}

/// The longest range one `FIDEDUPERANGE` call compares (`vfs_dedupe_file_range`'s 1 GiB).
pub const DEDUPE_MAX_LEN: u64 = 1 << 30;

/// The call-level checks of `vfs_dedupe_file_range` (fs/remap_range.c) on the source.
/// Returns the length clamped to [`DEDUPE_MAX_LEN`].
///
/// # Errors
/// In check order (the reserved fields of the ioctl structure are not modelled):
/// - `EINVAL`: the source is not open for reading (dedupe reads it to compare);
/// - `EISDIR`: the source is a directory;
/// - `EINVAL`: the source is not a regular file;
/// - `EOPNOTSUPP`: the filesystem has no `->remap_file_range`;
/// - `EINVAL` from [`remap_verify_area`] on the source range;
/// - `EINVAL`: the source range ends past the source's EOF.
pub fn dedupe_source_checks(src: &FileState, off: u64, len: u64) -> KResult<u64> {
    if !src.mode.read {
        return Err(Errno::EINVAL);
    }
    if src.kind == FileKind::Directory {
        return Err(Errno::EISDIR);
    }
    if src.kind != FileKind::Regular {
        return Err(Errno::EINVAL);
    }
    if !src.has_remap {
        return Err(Errno::EOPNOTSUPP);
    }
    remap_verify_area(off as i64, len as i64)?;
    if off.saturating_add(len) > src.size {
        return Err(Errno::EINVAL);
    }
    Ok(len.min(DEDUPE_MAX_LEN))
}

/// The per-destination checks of `vfs_dedupe_file_range_one` (fs/remap_range.c), made
/// before the filesystem's `->remap_file_range(REMAP_FILE_DEDUP)`. An error here becomes
/// that destination's negative `status`; it does not fail the call.
///
/// `may_dedupe_file` is always satisfied: the lab has one user, who owns every file, and
/// Linux lets an owner dedupe into a file open read-only.
///
/// # Errors
/// In check order:
/// - `EINVAL` from [`remap_verify_area`] on the source and the destination ranges;
/// - `EXDEV`: the destination is on another super block;
/// - `EISDIR`: the destination is a directory;
/// - `EINVAL`: the destination's filesystem has no `->remap_file_range`.
pub fn dedupe_dest_checks(
    src: &FileState,
    off: u64,
    dst: &FileState,
    dst_off: u64,
    len: u64,
) -> KResult<()> {
    remap_verify_area(off as i64, len as i64)?;
    remap_verify_area(dst_off as i64, len as i64)?;
    if !src.same_sb(dst) {
        return Err(Errno::EXDEV);
    }
    if dst.kind == FileKind::Directory {
        return Err(Errno::EISDIR);
    }
    if !dst.has_remap {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `FIEMAP_FLAG_*` request flags (`fm_flags`).
pub mod fiemap_req {
    /// Flush dirty data before mapping.
    pub const SYNC: u32 = 0x1;
    /// Map the extended-attribute fork instead of the data.
    pub const XATTR: u32 = 0x2;
    /// ext4: cache the extent tree (stripped by ext4 before `fiemap_prep`).
    pub const CACHE: u32 = 0x4;
    /// `FIEMAP_FLAGS_COMPAT`: the flags `fiemap_prep` can ever accept.
    pub const COMPAT: u32 = SYNC | XATTR;
}

/// `fiemap_prep` (fs/ioctl.c): validates a FIEMAP request. Returns the length shortened so
/// that the range stays below `s_maxbytes`. The lab's models support `FIEMAP_FLAG_SYNC`
/// only (no extended-attribute fork is modelled, as on btrfs).
///
/// # Errors
/// In check order:
/// - `EINVAL`: `len` is 0;
/// - `EFBIG`: `start` is at or past the maximum file size;
/// - `EBADR`: a flag the filesystem does not support (Linux also writes the offending
///   flags back into `fm_flags`).
pub fn fiemap_prep(start: u64, len: u64, flags: u32, max_bytes: u64) -> KResult<u64> {
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    if start >= max_bytes {
        return Err(Errno::EFBIG);
    }
    let len = if len > max_bytes || max_bytes - len < start {
        max_bytes - start
    } else {
        len
    };
    let supported = fiemap_req::SYNC & fiemap_req::COMPAT;
    if flags & !supported != 0 {
        return Err(Errno::EBADR);
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(ino: Ino, size: u64) -> FileState {
        FileState {
            dev: 1,
            ino,
            kind: FileKind::Regular,
            mode: Mode {
                read: true,
                write: true,
                append: false,
            },
            size,
            attrs: Attrs::default(),
            max_bytes: i64::MAX as u64,
            has_remap: true,
        }
    }

    const SS: CrossFs = CrossFs::SameSuperBlock;

    #[test]
    fn copy_checks_shorten_to_eof_and_size_limit() {
        let (a, mut b) = (file(2, 100), file(3, 0));
        assert_eq!(generic_copy_file_checks(&a, 10, &b, 0, 1000, SS), Ok(90));
        assert_eq!(generic_copy_file_checks(&a, 100, &b, 0, 1000, SS), Ok(0));
        assert_eq!(generic_copy_file_checks(&a, 500, &b, 0, 1000, SS), Ok(0));
        b.max_bytes = 50;
        assert_eq!(generic_copy_file_checks(&a, 0, &b, 40, 1000, SS), Ok(10));
        assert_eq!(
            generic_copy_file_checks(&a, 0, &b, 50, 1000, SS),
            Err(Errno::EFBIG)
        );
    }

    #[test]
    fn copy_checks_run_in_linux_order() {
        let a = file(2, 100);
        let mut dir = file(4, 0);
        dir.kind = FileKind::Directory;
        dir.mode.write = false;
        dir.dev = 9;
        // EISDIR beats EBADF and EXDEV.
        assert_eq!(
            generic_copy_file_checks(&a, 0, &dir, 0, 1, SS),
            Err(Errno::EISDIR)
        );
        let mut ro = file(5, 0);
        ro.mode.write = false;
        ro.dev = 9;
        ro.attrs.immutable = true;
        // EBADF beats EXDEV and EPERM.
        assert_eq!(
            generic_copy_file_checks(&a, 0, &ro, 0, 1, SS),
            Err(Errno::EBADF)
        );
        ro.mode.write = true;
        assert_eq!(
            generic_copy_file_checks(&a, 0, &ro, 0, 1, SS),
            Err(Errno::EXDEV)
        );
        assert_eq!(
            generic_copy_file_checks(&a, 0, &ro, 0, 1, CrossFs::Any),
            Err(Errno::EPERM)
        );
        // EOVERFLOW only for offsets that wrap as u64 (negative loff_t).
        let b = file(3, 0);
        assert_eq!(
            generic_copy_file_checks(&a, -1, &b, 0, 1, SS),
            Err(Errno::EOVERFLOW)
        );
        assert_eq!(generic_copy_file_checks(&a, 0, &b, -5, 0, SS), Ok(0));
        assert_eq!(rw_verify_area(-5, 0), Err(Errno::EINVAL));
        // Same inode, overlapping after shortening to EOF.
        assert_eq!(
            generic_copy_file_checks(&a, 0, &a, 50, 60, SS),
            Err(Errno::EINVAL)
        );
        assert_eq!(generic_copy_file_checks(&a, 0, &a, 50, 50, SS), Ok(50));
        assert_eq!(generic_copy_file_checks(&a, 60, &a, 0, 1000, SS), Ok(40));
    }

    #[test]
    fn remap_and_fiemap_checks() {
        assert_eq!(remap_verify_area(-1, 0), Err(Errno::EINVAL));
        assert_eq!(remap_verify_area(0, -1), Err(Errno::EINVAL));
        assert_eq!(remap_verify_area(i64::MAX, 1), Err(Errno::EINVAL));
        assert_eq!(remap_verify_area(4096, 4096), Ok(()));
        let (a, mut b) = (file(2, 100), file(3, 100));
        b.dev = 7;
        b.kind = FileKind::Directory;
        assert_eq!(clone_file_checks(&a, &b), Err(Errno::EXDEV), "EXDEV first");
        let mut src = file(2, 100);
        src.has_remap = false;
        src.mode.read = false;
        assert_eq!(dedupe_source_checks(&src, 0, 1000), Err(Errno::EINVAL));
        src.mode.read = true;
        assert_eq!(dedupe_source_checks(&src, 0, 1000), Err(Errno::EOPNOTSUPP));
        src.has_remap = true;
        assert_eq!(dedupe_source_checks(&src, 0, 1000), Err(Errno::EINVAL));
        assert_eq!(dedupe_source_checks(&src, 0, 100), Ok(100));
        assert_eq!(dedupe_dest_checks(&src, 0, &b, 0, 100), Err(Errno::EXDEV));
        assert_eq!(fiemap_prep(0, 0, 0, 1 << 40), Err(Errno::EINVAL));
        assert_eq!(fiemap_prep(1 << 40, 1, 0xff, 1 << 40), Err(Errno::EFBIG));
        assert_eq!(
            fiemap_prep(0, 1, fiemap_req::XATTR, 1 << 40),
            Err(Errno::EBADR)
        );
        assert_eq!(fiemap_prep(10, u64::MAX, fiemap_req::SYNC, 100), Ok(90));
    }
}
