//! The checks made before any byte moves, in `copy_file_range(2)`'s order
//! (`generic_copy_file_checks`, then `rw_verify_area`), and the extra checks of a
//! must-share copy (`generic_remap_checks`, `generic_remap_check_len`), so that a clone
//! done in several calls cannot fail half-way for a reason knowable at the start.

use std::os::fd::BorrowedFd;

use crate::sys::{self, FileInfo};
use crate::{Errno, Share};

/// A checked copy: the range, shortened to the source's EOF.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub off_in: u64,
    pub off_out: u64,
    /// Bytes to copy (0: nothing to do).
    pub count: u64,
    pub src: FileInfo,
    pub dst: FileInfo,
}

/// The checks common to the three semantics.
///
/// # Errors
/// As listed on [`crate::copy_range`], up to the `loff_t` range check.
pub fn copy_checks(
    src: BorrowedFd<'_>,
    off_in: u64,
    dst: BorrowedFd<'_>,
    off_out: u64,
    len: u64,
    share: Share,
) -> Result<Plan, Errno> {
    let (si, di) = (sys::info(src)?, sys::info(dst)?);
    // generic_file_rw_checks: only regular files have ranges to copy; a directory gets
    // its own errno.
    if si.is_dir() || di.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !si.is_regular() || !di.is_regular() {
        return Err(Errno::EINVAL);
    }
    // The descriptors must allow what the copy does with them; an O_APPEND destination
    // would put every write at EOF instead of at off_out.
    if !si.readable() || !di.writable() || di.append() {
        return Err(Errno::EBADF);
    }
    // A filesystem can only share its own blocks. Byte copies cross filesystems (the
    // proposal's never and may, like the kernel-internal COPY_FILE_SPLICE).
    if share == Share::Must && si.dev != di.dev {
        return Err(Errno::EXDEV);
    }
    // An immutable or append-only destination cannot be overwritten at all.
    if di.immutable_or_append {
        return Err(Errno::EPERM);
    }
    // The range's end must exist as a u64 (the kernel adds the count to the offset).
    if off_in.checked_add(len).is_none() || off_out.checked_add(len).is_none() {
        return Err(Errno::EOVERFLOW);
    }
    // A copy never reads past the source's EOF.
    let count = if off_in >= si.size {
        0
    } else {
        len.min(si.size - off_in)
    };
    // Copying a file onto itself forward over an overlap would read what it just wrote.
    if si.dev == di.dev && si.ino == di.ino && off_out < off_in + count && off_in < off_out + count
    {
        return Err(Errno::EINVAL);
    }
    // rw_verify_area: offsets are loff_t, so neither range may pass i64::MAX.
    let in_loff = |off: u64| off.checked_add(count).is_some_and(|e| e <= i64::MAX as u64);
    if !in_loff(off_in) || !in_loff(off_out) {
        return Err(Errno::EINVAL);
    }
    Ok(Plan {
        off_in,
        off_out,
        count,
        src: si,
        dst: di,
    })
}

/// Whether the filesystem can share `src`'s blocks into `dst` at all. The probe is a
/// `FICLONERANGE` from an unaligned source offset: it changes nothing anywhere, and the
/// kernel answers `EOPNOTSUPP` where the filesystem cannot clone (no
/// `->remap_file_range`: tmpfs, ext4; XFS without reflink answers before looking at the
/// range), `EINVAL` (alignment, checked first by `generic_remap_checks`) where it can.
///
/// # Errors
/// `EOPNOTSUPP`, or any other errno but `EINVAL` that the probe gets.
pub fn can_share(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), Errno> {
    match sys::clone_range(src, 1, dst, 0, 1) {
        Err(Errno::EINVAL) => Ok(()),
        Err(e) => Err(e),
        // generic_remap_checks refuses an unaligned offset before anything changes; a
        // filesystem that took it anyway can share.
        Ok(()) => Ok(()),
    }
}

/// The remap rules a must-share copy of `plan` meets, with `block` the filesystem's
/// sharing unit (`generic_remap_checks` and `generic_remap_check_len`).
///
/// # Errors
/// `EINVAL`, in this order: an offset not a multiple of `block`; a count that is not a
/// multiple of `block` and does not end at the source's EOF; an unaligned EOF block that
/// would land inside the destination's data (its bytes past the source's EOF would
/// become file data).
pub fn remap_alignment(plan: &Plan, block: u64) -> Result<(), Errno> {
    let aligned = |x: u64| x.is_multiple_of(block);
    // Blocks are the unit of sharing: both ranges must start on one.
    if !aligned(plan.off_in) || !aligned(plan.off_out) {
        return Err(Errno::EINVAL);
    }
    if aligned(plan.count) {
        return Ok(());
    }
    // Only the source's partial EOF block may be shared partly.
    let to_eof = plan.off_in + plan.count == plan.src.size;
    if !to_eof {
        return Err(Errno::EINVAL);
    }
    // ...and only where it becomes the destination's EOF block too.
    if plan.off_out + plan.count < plan.dst.size {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(off_in: u64, off_out: u64, count: u64, src_size: u64, dst_size: u64) -> Plan {
        let info = |size| FileInfo {
            mode: libc::S_IFREG,
            size,
            dev: 1,
            ino: 0,
            immutable_or_append: false,
            open_flags: libc::O_RDWR,
        };
        Plan {
            off_in,
            off_out,
            count,
            src: info(src_size),
            dst: info(dst_size),
        }
    }

    const B: u64 = 4096;

    #[test]
    fn remap_alignment_in_kernel_order() {
        // (what, plan, want)
        let rows = [
            ("aligned whole blocks", plan(0, 0, 2 * B, 4 * B, 0), Ok(())),
            (
                "unaligned source offset",
                plan(1, 0, B, 4 * B, 0),
                Err(Errno::EINVAL),
            ),
            (
                "unaligned destination offset",
                plan(0, 512, B, 4 * B, 0),
                Err(Errno::EINVAL),
            ),
            (
                "partial block not at EOF",
                plan(0, 0, B + 1, 4 * B, 0),
                Err(Errno::EINVAL),
            ),
            (
                "partial EOF block past dst EOF",
                plan(0, 0, B + 1, B + 1, 0),
                Ok(()),
            ),
            (
                "partial EOF block at dst EOF",
                plan(0, 0, B + 1, B + 1, B + 1),
                Ok(()),
            ),
            (
                "partial EOF block inside dst",
                plan(0, 0, B + 1, B + 1, 3 * B),
                Err(Errno::EINVAL),
            ),
            (
                "misaligned offset beats the tail rule",
                plan(B, 1, B + 1, 2 * B + 1, 9 * B),
                Err(Errno::EINVAL),
            ),
        ];
        for (what, p, want) in rows {
            assert_eq!(remap_alignment(&p, B), want, "{what}");
        }
    }
}
