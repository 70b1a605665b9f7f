//! Flag and request values of the copy, splice and remap entry points.
//!
//! Values are Linux's (`include/uapi/linux/splice.h`, `include/uapi/linux/fs.h`,
//! `include/uapi/linux/fiemap.h`) except the two share flags, which are the lab's proposal
//! (spec §2). Everything here is a plain constant, so user-space code written against the
//! simulator reads like code written against the kernel headers.

use vfs::copy::Share;
use vfs::errno::{Errno, KResult};

/// `SPLICE_F_*` flags of `splice(2)`.
pub mod splice {
    /// Move pages instead of copying (a hint; no effect between files).
    pub const MOVE: u32 = 0x01;
    /// Do not block: `EAGAIN` instead of waiting for a contended inode lock or for an
    /// unfinished asynchronous copy.
    pub const NONBLOCK: u32 = 0x02;
    /// More data will come (a hint for sockets; no effect between files).
    pub const MORE: u32 = 0x04;
    /// Pages are a gift (vmsplice only; accepted and ignored between files).
    pub const GIFT: u32 = 0x08;
    /// Proposed: sharing extents with the source is allowed (may share).
    pub const MAY_SHARE: u32 = 0x10;
    /// Proposed: share the whole range or fail without changing the destination (must
    /// share).
    pub const MUST_SHARE: u32 = 0x20;
    /// The flags Linux 6.x accepts (`SPLICE_F_ALL`).
    pub const ALL_LINUX: u32 = MOVE | NONBLOCK | MORE | GIFT;
    /// The flags the extended splice accepts.
    pub const ALL: u32 = ALL_LINUX | MAY_SHARE | MUST_SHARE;
}

/// What a valid set of splice flags asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpliceMode {
    pub share: Share,
    pub nonblock: bool,
}

/// Decodes `splice(2)` flags (the first check of the syscall, before the descriptors are
/// looked up, as Linux does for `SPLICE_F_ALL`).
///
/// # Errors
/// `EINVAL` for a bit outside [`splice::ALL`], or for both share flags at once (the two
/// contracts contradict each other).
pub fn splice_mode(flags: u32) -> KResult<SpliceMode> {
    if flags & !splice::ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let share = match (
        flags & splice::MAY_SHARE != 0,
        flags & splice::MUST_SHARE != 0,
    ) {
        (false, false) => Share::Never,
        (true, false) => Share::May,
        (false, true) => Share::Must,
        (true, true) => return Err(Errno::EINVAL),
    };
    Ok(SpliceMode {
        share,
        nonblock: flags & splice::NONBLOCK != 0,
    })
}

/// The flags that select `share` (for callers such as `cp --reflink=`).
pub fn share_flags(share: Share) -> u32 {
    match share {
        Share::Never => 0,
        Share::May => splice::MAY_SHARE,
        Share::Must => splice::MUST_SHARE,
    }
}

/// `ioctl(2)` request numbers (x86-64), for reports and the differential tests.
pub mod ioctl {
    /// `FICLONE` = `_IOW(0x94, 9, int)`.
    pub const FICLONE: u64 = 0x4004_9409;
    /// `FICLONERANGE` = `_IOW(0x94, 13, struct file_clone_range)`.
    pub const FICLONERANGE: u64 = 0x4020_940d;
    /// `FIDEDUPERANGE` = `_IOWR(0x94, 54, struct file_dedupe_range)`.
    pub const FIDEDUPERANGE: u64 = 0xc018_9436;
    /// `FS_IOC_FIEMAP` = `_IOWR('f', 11, struct fiemap)`.
    pub const FS_IOC_FIEMAP: u64 = 0xc020_660b;
}

/// `FIDEDUPERANGE` limits and per-destination status values.
pub mod dedupe {
    /// `FILE_DEDUPE_RANGE_SAME`: the ranges were equal and are now shared.
    pub const SAME: i32 = 0;
    /// `FILE_DEDUPE_RANGE_DIFFERS`: the ranges differ; nothing changed.
    pub const DIFFERS: i32 = 1;
    /// Most destinations per call: the argument (24-byte header + 32 bytes per
    /// destination) must fit one 4 KiB page, else `ENOMEM`.
    pub const MAX_DESTS: usize = 127;
    /// Longest range compared per call (`vfs_dedupe_file_range` clamps to 1 GiB).
    pub const MAX_LEN: u64 = vfs::checks::DEDUPE_MAX_LEN;
}

/// `FIEMAP_FLAG_*` request flags and `FIEMAP_EXTENT_*` result flags.
pub mod fiemap {
    pub use vfs::checks::fiemap_req::{CACHE, COMPAT, SYNC, XATTR};
    pub use vfs::extent::fiemap_flags::*;
}

/// `REMAP_FILE_*` flags of `->remap_file_range`.
pub use vfs::fs::remap_flags as remap;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_flags_decode() {
        assert_eq!(splice_mode(0).unwrap().share, Share::Never);
        assert_eq!(splice_mode(splice::MAY_SHARE).unwrap().share, Share::May);
        let m = splice_mode(splice::MUST_SHARE | splice::NONBLOCK | splice::GIFT).unwrap();
        assert_eq!((m.share, m.nonblock), (Share::Must, true));
        assert_eq!(
            splice_mode(splice::MAY_SHARE | splice::MUST_SHARE),
            Err(Errno::EINVAL)
        );
        assert_eq!(splice_mode(0x40), Err(Errno::EINVAL));
        for s in [Share::Never, Share::May, Share::Must] {
            assert_eq!(splice_mode(share_flags(s)).unwrap().share, s);
        }
    }
}
