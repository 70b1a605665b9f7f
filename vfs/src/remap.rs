//! The filesystem-level remap checks: `generic_remap_file_range_prep` (fs/remap_range.c).
//!
//! A filesystem's `->remap_file_range` (clone and dedupe) runs these with both inode locks
//! held, after the VFS has done the file-descriptor checks (open modes, `O_APPEND` →
//! `EBADF`, different mounts → `EXDEV`, `remap_verify_area`; see [`crate::checks`]). Here
//! the inputs are the two inodes' state only, so a table of wrong arguments can be fed
//! straight in and the winning errno pinned.
//!
//! The checks run in Linux 6.x's order, split into the kernel's helpers:
//!
//! 1. [`check_remap_inodes`]: immutable destination (`EPERM`), swap files (`ETXTBSY`),
//!    directories (`EISDIR`), other non-regular files (`EINVAL`);
//! 2. [`zero_len_to_eof`]: a length of 0 means "to the source's EOF" for clone, "nothing"
//!    for dedupe;
//! 3. [`generic_remap_checks`]: offset alignment, wrap-around, dedupe ranges inside EOF,
//!    source offset inside EOF, shortening to the source EOF and to `s_maxbytes` (`EFBIG`),
//!    length alignment unless the range ends at the source EOF, same-file overlap, and
//!    "shortened but the caller cannot take a short answer" (`EINVAL`);
//! 4. the dedupe comparison (only with [`DEDUP`]): the ranges' bytes must be equal;
//! 5. [`generic_remap_check_len`]: a partial EOF block may not land inside the destination.
//!
//! [`generic_remap_file_range_prep`] runs them all; [`remap_prep`] does the same against an
//! [`Image`], comparing contents with [`Data::same_content`](crate::data::Data::same_content).
//!
//! **Dedupe verdicts.** In the kernel the comparison happens inside the prep, and "the
//! contents differ" travels as `-EBADE` up to `vfs_dedupe_file_range`, which turns it into
//! `FILE_DEDUPE_RANGE_DIFFERS` for that destination — it never reaches user space as an
//! errno. Here the prep returns the typed [`Prepared::Differs`]; a model's
//! `remap_file_range` converts it to [`Errno::EBADE`] with [`Prepared::into_result`] at the
//! trait boundary, exactly where the kernel has it, and the `FIDEDUPERANGE` entry point
//! maps `EBADE` to `DIFFERS`.
//!
//! Deliberate omissions: `RLIMIT_FSIZE` (the lab's processes have no resource limits);
//! `O_LARGEFILE` (a 64-bit kernel forces it); DAX; the page-cache flush and
//! `inode_dio_wait` (the lab has no write-back cache between a model and its image);
//! `file_modified` (no setuid bits to strip).

use crate::errno::{Errno, KResult};
use crate::extent::{Attrs, FileKind, Image, Ino};
use crate::fs::remap_flags::{CAN_SHORTEN, DEDUP};

/// What the prep looks at in one inode (`file_inode(file)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemapInode {
    pub ino: Ino,
    pub kind: FileKind,
    /// `i_size`.
    pub size: u64,
    /// `IS_IMMUTABLE`, `IS_SWAPFILE`, ….
    pub attrs: Attrs,
}

impl RemapInode {
    /// The state of inode `ino` of `img`.
    ///
    /// # Errors
    /// `ESTALE` if the inode does not exist.
    pub fn of(img: &Image, ino: Ino) -> KResult<RemapInode> {
        let n = img.inode(ino)?;
        Ok(RemapInode {
            ino,
            kind: n.kind,
            size: n.size,
            attrs: n.attrs,
        })
    }

    /// A regular file of `size` bytes with no attributes (for tests and tables).
    pub fn regular(ino: Ino, size: u64) -> RemapInode {
        RemapInode {
            ino,
            kind: FileKind::Regular,
            size,
            attrs: Attrs::default(),
        }
    }
}

/// The super-block figures the prep needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemapGeometry {
    /// `s_blocksize` (`i_blocksize`): offsets, and lengths not ending at EOF, must be
    /// multiples of it. A power of two.
    pub block_size: u64,
    /// `s_maxbytes`: the largest file offset plus one.
    pub max_bytes: u64,
}

/// One remap request, as `->remap_file_range` receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemapRequest {
    pub pos_in: u64,
    pub pos_out: u64,
    /// Bytes; 0 means "to the source's EOF" for clone (`FICLONE`, `FICLONERANGE` with
    /// `src_length` 0).
    pub len: u64,
    /// [`crate::fs::remap_flags`].
    pub flags: u32,
}

/// What the prep decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// Remap exactly this many bytes, starting at the requested offsets (possibly fewer
    /// than asked with [`CAN_SHORTEN`]). 0 means there is nothing to do and the method
    /// returns 0 at once.
    Remap(u64),
    /// Dedupe only: the two ranges' contents differ, nothing may change. The kernel says
    /// `-EBADE`; see the module documentation.
    Differs,
}

impl Prepared {
    /// The `->remap_file_range` view of the verdict: the length, or `EBADE` for
    /// [`Prepared::Differs`].
    ///
    /// # Errors
    /// `EBADE` for [`Prepared::Differs`].
    pub fn into_result(self) -> KResult<u64> {
        match self {
            Prepared::Remap(n) => Ok(n),
            Prepared::Differs => Err(Errno::EBADE),
        }
    }
}

/// A remap built outside the inode locks, ready to install (`remap=swap`).
///
/// A filesystem that stages remaps ([`FileSystem::remap_stage`](crate::fs::FileSystem::remap_stage))
/// runs the whole remap — the prep's checks, the dedupe comparison, the new extent map of
/// the destination and the reference-count changes — against a snapshot of both inodes
/// while neither inode lock is held, and records here which versions of the two inodes it
/// was built against. [`FileSystem::remap_install`](crate::fs::FileSystem::remap_install)
/// then takes both locks, checks that neither inode changed since (a write, truncate or
/// another remap bumps the version), and installs the result at once; a changed inode makes
/// the plan stale and the VFS builds it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StagedRemap {
    pub src: Ino,
    pub pos_in: u64,
    pub dst: Ino,
    pub pos_out: u64,
    /// The length asked for (0: to the source's EOF), as the call gave it.
    pub len: u64,
    pub flags: u32,
    /// `(source, destination)` inode versions the plan was built against.
    pub versions: (u64, u64),
    /// What the remap returns: the bytes remapped (0: nothing to install).
    pub result: u64,
    /// Extents the remap shares (the statistics; the install's cost is logarithmic in it).
    pub extents: u64,
}

fn is_aligned(x: u64, bs: u64) -> bool {
    x & (bs - 1) == 0
}

fn align_down(x: u64, bs: u64) -> u64 {
    x & !(bs - 1)
}

fn align_up(x: u64, bs: u64) -> u64 {
    align_down(x.saturating_add(bs - 1), bs)
}

/// The inode checks at the top of `__generic_remap_file_range_prep`.
///
/// # Errors
/// In check order:
/// - `EPERM`: the destination is immutable (`chattr +i`: not even its block map may
///   change). An append-only destination is *not* refused here: Linux refuses it earlier,
///   because such a file can only be open for writing with `O_APPEND`, which
///   `generic_file_rw_checks` answers with `EBADF`;
/// - `ETXTBSY`: either file is an active swap file (the swapper holds its block map);
/// - `EISDIR`: either file is a directory;
/// - `EINVAL`: either file is not a regular file (pipes, sockets, devices).
pub fn check_remap_inodes(src: &RemapInode, dst: &RemapInode) -> KResult<()> {
    if dst.attrs.immutable {
        return Err(Errno::EPERM);
    }
    if src.attrs.swapfile || dst.attrs.swapfile {
        return Err(Errno::ETXTBSY);
    }
    if src.kind == FileKind::Directory || dst.kind == FileKind::Directory {
        return Err(Errno::EISDIR);
    }
    if src.kind != FileKind::Regular || dst.kind != FileKind::Regular {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The zero-length rule of `__generic_remap_file_range_prep`: for clone, a length of 0 means
/// "up to the source's EOF"; a zero-length dedupe does nothing. Returns the length to
/// check, or `None` when the call is done and returns 0 — this happens *before* the
/// alignment checks, so `FICLONERANGE` at exactly the source EOF succeeds with 0 even at an
/// unaligned offset.
///
/// # Errors
/// `EINVAL`: clone to EOF from an offset beyond the source's EOF.
pub fn zero_len_to_eof(
    src: &RemapInode,
    pos_in: u64,
    len: u64,
    flags: u32,
) -> KResult<Option<u64>> {
    if len != 0 {
        return Ok(Some(len));
    }
    if flags & DEDUP != 0 || pos_in == src.size {
        return Ok(None);
    }
    if pos_in > src.size {
        return Err(Errno::EINVAL);
    }
    Ok(Some(src.size - pos_in))
}

/// `generic_remap_checks` (fs/remap_range.c): the range checks. Returns the length to remap,
/// possibly shortened (to the source EOF, to `s_maxbytes`, or down to a block boundary)
/// when `flags` has [`CAN_SHORTEN`].
///
/// # Errors
/// In check order:
/// - `EINVAL`: `pos_in` or `pos_out` is not a multiple of the block size (blocks are the
///   unit of sharing);
/// - `EINVAL`: `pos + len` wraps, or passes the largest `loff_t` (the VFS's
///   `remap_verify_area` normally rejects the latter first, with the same errno);
/// - `EINVAL`: dedupe, and either range starts at or reaches past its file's EOF (dedupe
///   compares existing bytes only);
/// - `EINVAL`: `pos_in` is at or past the source's EOF (nothing to share);
/// - `EFBIG`: `pos_out` is at or past `s_maxbytes` (`generic_write_check_limits`; the
///   length is first shortened to the source EOF, then to `s_maxbytes - pos_out`);
/// - `EINVAL`: the source and destination are the same inode and the ranges overlap; a
///   range ending at the source EOF counts up to the end of its last block;
/// - `EINVAL`: the request had to be shortened (past the source EOF, past `s_maxbytes`, or
///   a length that is not a block multiple and does not end at the source EOF — for dedupe,
///   it must also end at the destination's EOF) and `flags` lacks [`CAN_SHORTEN`]: the
///   caller (`FICLONERANGE`, `FIDEDUPERANGE` without shortening) could not report a short
///   result.
pub fn generic_remap_checks(
    src: &RemapInode,
    pos_in: u64,
    dst: &RemapInode,
    pos_out: u64,
    req_count: u64,
    flags: u32,
    geo: &RemapGeometry,
) -> KResult<u64> {
    let bs = geo.block_size;
    let mut count = req_count;

    // The start of both ranges must be aligned to an fs block.
    if !is_aligned(pos_in, bs) || !is_aligned(pos_out, bs) {
        return Err(Errno::EINVAL);
    }

    // Offsets must not wrap (nor leave loff_t).
    let fits = |pos: u64| pos.checked_add(count).is_some_and(|e| e <= i64::MAX as u64);
    if !fits(pos_in) || !fits(pos_out) {
        return Err(Errno::EINVAL);
    }

    // Dedupe compares existing bytes: both ranges must lie within EOF.
    let (size_in, size_out) = (src.size, dst.size);
    if flags & DEDUP != 0
        && (pos_in >= size_in
            || pos_in + count > size_in
            || pos_out >= size_out
            || pos_out + count > size_out)
    {
        return Err(Errno::EINVAL);
    }

    // The source range must start inside the source; shorten it to the source EOF.
    if pos_in >= size_in {
        return Err(Errno::EINVAL);
    }
    count = count.min(size_in - pos_in);

    // generic_write_check_limits: the destination may not pass s_maxbytes.
    if pos_out >= geo.max_bytes {
        return Err(Errno::EFBIG);
    }
    count = count.min(geo.max_bytes - pos_out);

    // A range that ends at the source EOF may end in a partial block: it is "aligned" for
    // the overlap check by rounding up. Anything else must be whole blocks; round down.
    let bcount;
    if pos_in + count == size_in && (flags & DEDUP == 0 || pos_out + count == size_out) {
        bcount = align_up(size_in, bs) - pos_in;
    } else {
        count = align_down(count, bs);
        bcount = count;
    }

    // No overlapped cloning within one file: the source blocks would change under us.
    if src.ino == dst.ino && pos_out + bcount > pos_in && pos_out < pos_in + bcount {
        return Err(Errno::EINVAL);
    }

    // We shortened the request but the caller cannot deal with that.
    if count != req_count && flags & CAN_SHORTEN == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(count)
}

/// `generic_remap_check_len` (fs/remap_range.c): a partial EOF block of the source may only
/// be shared where it becomes the destination's EOF block too (at or past the destination
/// EOF); in the middle of the destination its bytes past the source EOF would appear as
/// file data. Shortens to whole blocks with [`CAN_SHORTEN`].
///
/// # Errors
/// `EINVAL` (clone), or the dedupe verdict [`Prepared::Differs`] (the kernel's `-EBADE`;
/// unreachable from `FIDEDUPERANGE`, which always allows shortening), when the tail would
/// land inside the destination and shortening is not allowed.
pub fn generic_remap_check_len(
    dst: &RemapInode,
    pos_out: u64,
    len: u64,
    flags: u32,
    geo: &RemapGeometry,
) -> KResult<Prepared> {
    let bs = geo.block_size;
    if is_aligned(len, bs) {
        return Ok(Prepared::Remap(len));
    }
    let mut new_len = len;
    if pos_out + len < dst.size {
        new_len = align_down(len, bs);
    }
    if new_len == len {
        return Ok(Prepared::Remap(len));
    }
    if flags & CAN_SHORTEN != 0 {
        return Ok(Prepared::Remap(new_len));
    }
    if flags & DEDUP != 0 {
        Ok(Prepared::Differs)
    } else {
        Err(Errno::EINVAL)
    }
}

/// `generic_remap_file_range_prep` (fs/remap_range.c): every check a filesystem runs before
/// it remaps, in Linux 6.x order. `compare(pos_in, pos_out, len)` is called for dedupe
/// only, after the range checks, and says whether the two ranges hold the same bytes.
///
/// Returns [`Prepared::Remap`] with the (possibly shortened) length — 0 when there is
/// nothing to do — or [`Prepared::Differs`].
///
/// # Errors
/// In check order:
/// - `EPERM`, `ETXTBSY`, `EISDIR`, `EINVAL` from [`check_remap_inodes`];
/// - `EINVAL` from [`zero_len_to_eof`] (clone to EOF from beyond the source EOF);
/// - `EINVAL`, `EFBIG` from [`generic_remap_checks`] (alignment, wrap, dedupe ranges
///   inside EOF, source offset inside EOF, `s_maxbytes`, overlap, unwanted shortening);
/// - whatever `compare` fails with (`EIO` for an unreadable block);
/// - `EINVAL` from [`generic_remap_check_len`] (a partial EOF block landing inside the
///   destination, without [`CAN_SHORTEN`]).
pub fn generic_remap_file_range_prep(
    src: &RemapInode,
    dst: &RemapInode,
    req: &RemapRequest,
    geo: &RemapGeometry,
    compare: impl FnOnce(u64, u64, u64) -> KResult<bool>,
) -> KResult<Prepared> {
    debug_assert!(geo.block_size.is_power_of_two());
    let RemapRequest {
        pos_in,
        pos_out,
        len,
        flags,
    } = *req;

    check_remap_inodes(src, dst)?;

    let Some(len) = zero_len_to_eof(src, pos_in, len, flags)? else {
        return Ok(Prepared::Remap(0));
    };

    let len = generic_remap_checks(src, pos_in, dst, pos_out, len, flags, geo)?;
    if len == 0 {
        return Ok(Prepared::Remap(0));
    }

    // Dedupe shares only what is already equal; the inode locks keep it that way.
    if flags & DEDUP != 0 && !compare(pos_in, pos_out, len)? {
        return Ok(Prepared::Differs);
    }

    generic_remap_check_len(dst, pos_out, len, flags, geo)
}

/// How many bytes from `req.pos_in` and `req.pos_out` the kernel writes back before a
/// remap: `generic_remap_file_range_prep` flushes both ranges once `generic_remap_checks`
/// passed — before it compares (dedupe) and before `generic_remap_check_len`, so even a
/// remap that then fails with `EINVAL` has flushed them (measured on XFS:
/// `pc_failed_clone_still_flushes`). `None`: nothing is flushed.
pub fn flush_len(
    img: &Image,
    src: Ino,
    dst: Ino,
    req: &RemapRequest,
    geo: &RemapGeometry,
) -> Option<u64> {
    let s = RemapInode::of(img, src).ok()?;
    let d = RemapInode::of(img, dst).ok()?;
    check_remap_inodes(&s, &d).ok()?;
    let len = zero_len_to_eof(&s, req.pos_in, req.len, req.flags).ok()??;
    let len = generic_remap_checks(&s, req.pos_in, &d, req.pos_out, len, req.flags, geo).ok()?;
    (len > 0).then_some(len)
}

/// [`generic_remap_file_range_prep`] against an image: reads both inodes and, for dedupe,
/// compares the two ranges' bytes with
/// [`Data::same_content`](crate::data::Data::same_content) (materialising only where the
/// descriptors differ).
///
/// # Errors
/// `ESTALE` for a missing inode; otherwise as [`generic_remap_file_range_prep`], with `EIO`
/// when a block to compare has a media error.
pub fn remap_prep(
    img: &Image,
    src: Ino,
    dst: Ino,
    req: &RemapRequest,
    geo: &RemapGeometry,
) -> KResult<Prepared> {
    let s = RemapInode::of(img, src)?;
    let d = RemapInode::of(img, dst)?;
    generic_remap_file_range_prep(&s, &d, req, geo, |pi, po, n| {
        let a = img.read(src, pi, n)?;
        let b = img.read(dst, po, n)?;
        Ok(a.same_content(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BS: u64 = 4096;
    const GEO: RemapGeometry = RemapGeometry {
        block_size: BS,
        max_bytes: 1 << 40,
    };
    const CLONE: u32 = 0;
    const SHORTEN: u32 = CAN_SHORTEN;
    const DEDUPE: u32 = DEDUP | CAN_SHORTEN;

    /// One row: the two inodes, the request, whether the contents compare equal, and the
    /// verdict that must win.
    struct Row {
        what: &'static str,
        src: RemapInode,
        dst: RemapInode,
        req: RemapRequest,
        same: bool,
        want: KResult<Prepared>,
    }

    fn file(ino: Ino, size: u64) -> RemapInode {
        RemapInode::regular(ino, size)
    }

    fn with(mut i: RemapInode, f: impl FnOnce(&mut RemapInode)) -> RemapInode {
        f(&mut i);
        i
    }

    fn req(pos_in: u64, pos_out: u64, len: u64, flags: u32) -> RemapRequest {
        RemapRequest {
            pos_in,
            pos_out,
            len,
            flags,
        }
    }

    fn run(rows: &[Row]) {
        for r in rows {
            let got =
                generic_remap_file_range_prep(&r.src, &r.dst, &r.req, &GEO, |_, _, _| Ok(r.same));
            assert_eq!(got, r.want, "{}", r.what);
        }
    }

    const REMAP: fn(u64) -> KResult<Prepared> = |n| Ok(Prepared::Remap(n));
    const EINVAL: KResult<Prepared> = Err(Errno::EINVAL);

    #[test]
    fn inode_checks_win_in_kernel_order() {
        let swap = with(file(1, BS), |i| i.attrs.swapfile = true);
        let dir = with(file(2, 0), |i| i.kind = FileKind::Directory);
        let swap_dir = with(dir, |i| i.attrs.swapfile = true);
        let imm_dir = with(dir, |i| i.attrs.immutable = true);
        run(&[
            Row {
                what: "immutable dst beats swapfile src, a dir and bad alignment",
                src: swap,
                dst: imm_dir,
                req: req(1, 3, 5, CLONE),
                same: true,
                want: Err(Errno::EPERM),
            },
            Row {
                what: "swapfile beats directory",
                src: file(1, BS),
                dst: swap_dir,
                req: req(1, 3, 5, CLONE),
                same: true,
                want: Err(Errno::ETXTBSY),
            },
            Row {
                what: "directory beats alignment and EOF",
                src: file(1, 10),
                dst: dir,
                req: req(1, 3, 5, CLONE),
                same: true,
                want: Err(Errno::EISDIR),
            },
            Row {
                what: "an append-only destination is the VFS's business (EBADF there)",
                src: file(1, BS),
                dst: with(file(2, 0), |i| i.attrs.append_only = true),
                req: req(0, 0, 0, CLONE),
                same: true,
                want: REMAP(BS),
            },
            Row {
                what: "immutable source is fine (only the destination changes)",
                src: with(file(1, BS), |i| i.attrs.immutable = true),
                dst: file(2, 0),
                req: req(0, 0, BS, CLONE),
                same: true,
                want: REMAP(BS),
            },
        ]);
    }

    #[test]
    fn zero_length_means_to_eof_before_alignment() {
        run(&[
            Row {
                what: "len 0 clones to EOF, tail included",
                src: file(1, 3 * BS + 10),
                dst: file(2, 0),
                req: req(BS, 0, 0, CLONE),
                same: true,
                want: REMAP(2 * BS + 10),
            },
            Row {
                what: "len 0 at exactly EOF returns 0 before the alignment check",
                src: file(1, 100),
                dst: file(2, 0),
                req: req(100, 7, 0, CLONE),
                same: true,
                want: REMAP(0),
            },
            Row {
                what: "len 0 past EOF is EINVAL even when unaligned",
                src: file(1, 100),
                dst: file(2, 0),
                req: req(101, 7, 0, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "len 0 dedupe does nothing, whatever else is wrong",
                src: file(1, 100),
                dst: file(2, 0),
                req: req(5001, 7, 0, DEDUPE),
                same: false,
                want: REMAP(0),
            },
        ]);
    }

    #[test]
    fn range_checks_in_order() {
        let max = GEO.max_bytes;
        run(&[
            Row {
                what: "unaligned offset beats EOF and EFBIG",
                src: file(1, BS),
                dst: file(2, 0),
                req: req(2 * BS + 1, max, BS, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "source offset past EOF (EINVAL) beats EFBIG",
                src: file(1, BS),
                dst: file(2, 0),
                req: req(2 * BS, max, BS, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "EFBIG beats the length alignment and the overlap",
                src: file(1, 4 * BS),
                dst: file(1, 4 * BS),
                req: req(0, max, BS + 1, CLONE),
                same: true,
                want: Err(Errno::EFBIG),
            },
            Row {
                what: "wrap-around is EINVAL before the EOF checks",
                src: file(1, BS),
                dst: file(2, 0),
                req: req(0, i64::MAX as u64 & !(BS - 1), 2 * BS, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "s_maxbytes shortens with CAN_SHORTEN",
                src: file(1, 4 * BS),
                dst: file(2, 0),
                req: req(0, max - BS, 4 * BS, SHORTEN),
                same: true,
                want: REMAP(BS),
            },
            Row {
                what: "s_maxbytes shortening without CAN_SHORTEN is EINVAL",
                src: file(1, 4 * BS),
                dst: file(2, 0),
                req: req(0, max - BS, 4 * BS, CLONE),
                same: true,
                want: EINVAL,
            },
        ]);
    }

    #[test]
    fn shortening_needs_can_shorten() {
        run(&[
            Row {
                what: "past the source EOF, clone: EINVAL",
                src: file(1, 2 * BS),
                dst: file(2, 0),
                req: req(0, 0, 4 * BS, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "past the source EOF, CAN_SHORTEN: shortened to EOF",
                src: file(1, 2 * BS + 5),
                dst: file(2, 0),
                req: req(0, 0, 4 * BS, SHORTEN),
                same: true,
                want: REMAP(2 * BS + 5),
            },
            Row {
                what: "unaligned length not at EOF, clone: EINVAL",
                src: file(1, 4 * BS),
                dst: file(2, 0),
                req: req(0, 0, BS + 1, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "unaligned length not at EOF, CAN_SHORTEN: down to a block",
                src: file(1, 4 * BS),
                dst: file(2, 0),
                req: req(0, 0, BS + 1, SHORTEN),
                same: true,
                want: REMAP(BS),
            },
            Row {
                what: "shortened to nothing: 0, nothing to do",
                src: file(1, 4 * BS),
                dst: file(2, 0),
                req: req(0, 0, 100, SHORTEN),
                same: true,
                want: REMAP(0),
            },
            Row {
                what: "unaligned length ending at the source EOF is fine",
                src: file(1, BS + 100),
                dst: file(2, 0),
                req: req(0, 0, BS + 100, CLONE),
                same: true,
                want: REMAP(BS + 100),
            },
        ]);
    }

    #[test]
    fn overlap_within_one_file() {
        let f = file(1, 8 * BS);
        let tail = file(1, 5 * BS + 10);
        run(&[
            Row {
                what: "overlapping ranges of one file",
                src: f,
                dst: f,
                req: req(0, BS, 2 * BS, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "overlap beats unwanted shortening (both EINVAL, overlap first)",
                src: f,
                dst: f,
                req: req(0, BS, 2 * BS + 1, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "adjacent ranges are fine",
                src: f,
                dst: f,
                req: req(0, 2 * BS, 2 * BS, CLONE),
                same: true,
                want: REMAP(2 * BS),
            },
            Row {
                what: "the partial EOF block counts whole for overlap",
                src: tail,
                dst: tail,
                req: req(4 * BS, 5 * BS, 0, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "... and clears once past it",
                src: tail,
                dst: tail,
                req: req(4 * BS, 6 * BS, 0, CLONE),
                same: true,
                want: REMAP(BS + 10),
            },
        ]);
    }

    #[test]
    fn partial_eof_block_must_not_land_inside_destination() {
        let src = file(1, BS + 100);
        run(&[
            Row {
                what: "tail inside the destination, clone: EINVAL",
                src,
                dst: file(2, 4 * BS),
                req: req(0, 0, 0, CLONE),
                same: true,
                want: EINVAL,
            },
            Row {
                what: "tail inside the destination, CAN_SHORTEN: whole blocks only",
                src,
                dst: file(2, 4 * BS),
                req: req(0, 0, 0, SHORTEN),
                same: true,
                want: REMAP(BS),
            },
            Row {
                what: "tail ending exactly at the destination EOF",
                src,
                dst: file(2, BS + 100),
                req: req(0, 0, 0, CLONE),
                same: true,
                want: REMAP(BS + 100),
            },
            Row {
                what: "tail past the destination EOF extends it",
                src,
                dst: file(2, 3 * BS),
                req: req(0, 2 * BS, 0, CLONE),
                same: true,
                want: REMAP(BS + 100),
            },
        ]);
    }

    #[test]
    fn dedupe_checks_eof_then_compares_then_tail() {
        run(&[
            Row {
                what: "dst range past its EOF: EINVAL before comparing",
                src: file(1, 4 * BS),
                dst: file(2, BS),
                req: req(0, 0, 2 * BS, DEDUPE),
                same: false,
                want: EINVAL,
            },
            Row {
                what: "different contents",
                src: file(1, 4 * BS),
                dst: file(2, 4 * BS),
                req: req(0, 0, 2 * BS, DEDUPE),
                same: false,
                want: Ok(Prepared::Differs),
            },
            Row {
                what: "equal contents",
                src: file(1, 4 * BS),
                dst: file(2, 4 * BS),
                req: req(0, BS, 2 * BS, DEDUPE),
                same: true,
                want: REMAP(2 * BS),
            },
            Row {
                what: "source EOF tail not at the destination EOF: rounded down",
                src: file(1, BS + 100),
                dst: file(2, 4 * BS),
                req: req(0, 0, BS + 100, DEDUPE),
                same: true,
                want: REMAP(BS),
            },
            Row {
                what: "both EOFs match: the partial block is deduped too",
                src: file(1, BS + 100),
                dst: file(2, 2 * BS + 100),
                req: req(0, BS, BS + 100, DEDUPE),
                same: true,
                want: REMAP(BS + 100),
            },
            Row {
                what: "without CAN_SHORTEN the rounding is EINVAL, before comparing",
                src: file(1, BS + 100),
                dst: file(2, 4 * BS),
                req: req(0, 0, BS + 100, DEDUP),
                same: false,
                want: EINVAL,
            },
        ]);
    }

    #[test]
    fn check_len_dedupe_without_shortening_is_differs() {
        let geo = GEO;
        assert_eq!(
            generic_remap_check_len(&file(2, 4 * BS), 0, BS + 1, DEDUP, &geo),
            Ok(Prepared::Differs)
        );
        assert_eq!(Prepared::Differs.into_result(), Err(Errno::EBADE));
        assert_eq!(Prepared::Remap(7).into_result(), Ok(7));
    }

    #[test]
    fn remap_prep_compares_image_contents() {
        use crate::data::Data;
        use crate::extent::{Overwrite, ROOT_INO};
        let mut img = Image::new(BS, 64);
        let a = img.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        let b = img.create(ROOT_INO, "b", FileKind::Regular).unwrap();
        img.write(a, 0, &Data::fill(1, 2 * BS), Overwrite::CowShared)
            .unwrap();
        img.write(
            b,
            0,
            &Data::bytes(&[1; 2 * BS as usize]),
            Overwrite::CowShared,
        )
        .unwrap();
        let r = req(0, 0, 2 * BS, DEDUPE);
        assert_eq!(remap_prep(&img, a, b, &r, &GEO), REMAP(2 * BS));
        img.write(b, BS + 7, &Data::fill(2, 1), Overwrite::CowShared)
            .unwrap();
        assert_eq!(remap_prep(&img, a, b, &r, &GEO), Ok(Prepared::Differs));
        assert_eq!(remap_prep(&img, a, 99, &r, &GEO), Err(Errno::ESTALE));
    }
}
