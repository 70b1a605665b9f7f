//! The 2013 proposal's three copy semantics on real Linux files, today.
//!
//! [`copy_range`] copies a range from one open file to another with a [`Share`] semantics:
//!
//! | [`Share`] | done with | promise |
//! |---|---|---|
//! | [`Share::Never`] | `pread`/`pwrite` | no block of the destination range is shared afterwards, on any filesystem (never `copy_file_range`, `FICLONE` or an NFS `COPY`, any of which may share) |
//! | [`Share::May`] | `copy_file_range(2)`, falling back to `pread`/`pwrite` | shares where the kernel does (btrfs, XFS reflink=1), copies elsewhere; never fails merely because sharing is impossible |
//! | [`Share::Must`] | `FICLONERANGE` | every block shared, or an error with the destination as it was |
//!
//! Every copy is chunked ([`Options::chunk`], [`Options::share_chunk`]), reports
//! progress after each chunk ([`Options::progress`]), stops between chunks when a flag is
//! set (typically from a `SIGINT` handler, [`Options::interrupt`]) and returns the exact
//! number of bytes the destination holds from `off_out` on — also after an interruption or
//! an error ([`Failure::copied`]). The loop is [`chunked::run`], which the splicelab
//! laboratory also drives with its simulated splice.
//!
//! The crate depends on `libc` only; it needs Linux 4.5 (`copy_file_range`,
//! `FICLONERANGE`) and `statx` (4.11).
//!
//! ```no_run
//! use std::fs::File;
//! use realcopy::{copy_range, Options, Share};
//!
//! let src = File::open("big.img")?;
//! let dst = File::options().write(true).create(true).truncate(true).open("copy.img")?;
//! let len = src.metadata()?.len();
//! // A copy that shares no block with big.img, even on btrfs or XFS.
//! let done = copy_range(&src, 0, &dst, 0, len, Share::Never, &mut Options::default())?;
//! assert_eq!(done.bytes, len);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checks;
pub mod chunked;
mod share;
mod sys;

use std::fmt;
use std::os::fd::AsFd;
use std::sync::atomic::AtomicBool;

pub use chunked::Progress;

/// A Linux errno value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const EINTR: Errno = Errno(libc::EINTR);
    pub const EIO: Errno = Errno(libc::EIO);
    pub const EBADF: Errno = Errno(libc::EBADF);
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    pub const EXDEV: Errno = Errno(libc::EXDEV);
    pub const EISDIR: Errno = Errno(libc::EISDIR);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const ETXTBSY: Errno = Errno(libc::ETXTBSY);
    pub const EFBIG: Errno = Errno(libc::EFBIG);
    pub const ENOSPC: Errno = Errno(libc::ENOSPC);
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    pub const EOPNOTSUPP: Errno = Errno(libc::EOPNOTSUPP);
    pub const EOVERFLOW: Errno = Errno(libc::EOVERFLOW);

    /// The C library's text for it ("Operation not supported"), as `strerror(3)` gives it.
    pub fn text(self) -> String {
        let s = std::io::Error::from_raw_os_error(self.0).to_string();
        match s.find(" (os error") {
            Some(i) => s[..i].to_string(),
            None => s,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.0)
    }
}

/// The three semantics of the 2013 proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Share {
    /// Never share: a byte copy; no destination block is shared afterwards.
    Never,
    /// May share: share whole blocks where the filesystem can, copy the rest.
    May,
    /// Must share: share the whole range or fail with the destination unchanged.
    Must,
}

/// The default chunk of a byte copy (one `pread` + `pwrite`): 256 KiB, GNU cp's buffer
/// (coreutils `IO_BUFSIZE`), small enough for the CPU caches — a 1 MiB buffer copied a
/// GiB measurably slower here (`docs/performance.md`).
pub const DEFAULT_CHUNK: u64 = 256 << 10;

/// The default chunk of a sharing call: sharing costs per extent, not per byte, so a
/// chunk of 1 GiB is one call for most files and still lets a 1 TiB clone report progress
/// and be interrupted 1024 times.
pub const DEFAULT_SHARE_CHUNK: u64 = 1 << 30;

/// The most one `copy_file_range`, `read` or `write` call moves (`MAX_RW_COUNT`).
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// How a copy runs.
pub struct Options<'a> {
    /// Bytes per `pread` + `pwrite` (never-share, and may-share's fallback); capped at
    /// [`MAX_RW_COUNT`]. Default [`DEFAULT_CHUNK`].
    pub chunk: u64,
    /// Bytes per call that may share: may-share's `copy_file_range` (capped at
    /// [`MAX_RW_COUNT`]) and must-share's `FICLONERANGE` (rounded down to the filesystem
    /// block, at least one block). Default [`DEFAULT_SHARE_CHUNK`].
    pub share_chunk: u64,
    /// Checked before every chunk: once `true`, the copy stops and returns what it copied
    /// with [`Copied::interrupted`] set. A `SIGINT` handler stores into it.
    pub interrupt: Option<&'a AtomicBool>,
    /// Called after every chunk that moved bytes.
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            chunk: DEFAULT_CHUNK,
            share_chunk: DEFAULT_SHARE_CHUNK,
            interrupt: None,
            progress: None,
        }
    }
}

/// A copy that ended normally or by an interruption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copied {
    /// Bytes the destination holds from `off_out` on: the source's bytes from `off_in`.
    pub bytes: u64,
    /// Calls made (for must-share, `FICLONERANGE` calls).
    pub calls: u64,
    /// The copy stopped early because [`Options::interrupt`] was set (or a call returned
    /// `EINTR`): `bytes` is the exact prefix copied.
    pub interrupted: bool,
    /// May-share: bytes that went through the `pread`/`pwrite` fallback after
    /// `copy_file_range` declined (`EXDEV`, `EOPNOTSUPP`, `EINVAL`, `ENOSYS`, or 0 before
    /// the source's EOF).
    pub fallback_bytes: u64,
}

/// A copy that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub errno: Errno,
    /// Bytes the destination holds from `off_out` on before the failing call: the copy
    /// can be resumed there. Always 0 for must-share, which restores the destination.
    pub copied: u64,
    /// Must-share: putting the destination back failed too, with this errno; the
    /// destination then holds part of the clone (a full filesystem can refuse even the
    /// way back). `None` whenever the destination is as it was.
    pub restore_failed: Option<Errno>,
}

impl Failure {
    /// A failure before the destination changed: nothing copied, nothing to restore.
    pub fn before_any_change(errno: Errno) -> Failure {
        Failure {
            errno,
            copied: 0,
            restore_failed: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.errno)?;
        if self.copied > 0 {
            write!(f, " (after {} bytes)", self.copied)?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for std::io::Error {
    fn from(e: Failure) -> std::io::Error {
        e.errno.into()
    }
}

/// Copies `len` bytes from `src` at `off_in` to `dst` at `off_out` with the semantics
/// `share`; shorter at the source's EOF. File positions are neither used nor changed.
///
/// Returns the exact number of bytes the destination now holds from `off_out` on
/// ([`Copied::bytes`]): `len`, fewer at the source's EOF, or the prefix done when
/// [`Options::interrupt`] was set ([`Copied::interrupted`]).
///
/// The checks run up front, in the order of Linux's `copy_file_range(2)` (the order the
/// splicelab laboratory gives its extended splice), so that a must-share copy never fails
/// half-way for a reason that was knowable before it started.
///
/// # Errors
/// In check order, each with [`Failure::copied`] 0:
/// - `EBADF`: a descriptor that `statx` cannot use;
/// - `EISDIR`: either file is a directory;
/// - `EINVAL`: either file is not a regular file;
/// - `EBADF`: `src` not open for reading, `dst` not open for writing, or `dst` opened
///   with `O_APPEND`;
/// - `EXDEV`: must-share and the files are on different filesystems (never and may
///   byte-copy across filesystems);
/// - `EPERM`: the destination is immutable or append-only (`chattr +i`, `+a`);
/// - `EOVERFLOW`: an offset plus `len` passes `u64::MAX`;
/// - `EINVAL`: the same file and overlapping ranges (after shortening to the source EOF);
/// - `EINVAL`: an offset or the shortened range passes `i64::MAX` (`loff_t`);
/// - (a shortened length of 0 returns `Ok` with 0 bytes here)
/// - `EINTR`: [`Options::interrupt`] was already set;
/// - must-share only: `EOPNOTSUPP` (the filesystem cannot share: ext4, tmpfs, XFS
///   without reflink, or it refuses these files), then `EINVAL` (an offset not a multiple
///   of the filesystem block; a length that is not, unless the range ends at the source's
///   EOF; such an unaligned EOF block landing inside the destination's data), then
///   whatever `FICLONERANGE` answers (`ENOSPC`, `EIO`, `EINVAL` for files btrfs will not
///   share, …) — after such a failure the destination is restored to what it was: the
///   blocks it may overwrite are saved first by a clone into an `O_TMPFILE` file beside it
///   and cloned back (splicelab's `docs/design.md`, RC4).
///
/// Never and may: then the errors of `pread`, `pwrite` or `copy_file_range` that do not
/// mean "copy instead" (`EIO`, `ENOSPC`, `EFBIG`, …), with [`Failure::copied`] the bytes
/// done before the failing call. `ETXTBSY` (a swap file) and `EFBIG` (past the
/// filesystem's largest file) are not checked up front: the kernel reports them.
pub fn copy_range(
    src: &impl AsFd,
    off_in: u64,
    dst: &impl AsFd,
    off_out: u64,
    len: u64,
    share: Share,
    opts: &mut Options<'_>,
) -> Result<Copied, Failure> {
    let (src, dst) = (src.as_fd(), dst.as_fd());
    let fail = Failure::before_any_change;
    let plan = checks::copy_checks(src, off_in, dst, off_out, len, share).map_err(fail)?;
    if plan.count == 0 {
        return Ok(Copied {
            bytes: 0,
            calls: 0,
            interrupted: false,
            fallback_bytes: 0,
        });
    }
    if opts
        .interrupt
        .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    {
        return Err(fail(Errno::EINTR));
    }
    match share {
        Share::Never | Share::May => share::byte_or_offload(src, dst, &plan, share, opts),
        Share::Must => share::must_share(src, dst, &plan, opts, share::Target::Range),
    }
}

/// Makes `dst` a copy of the whole of `src` with the semantics `share`, as `cp` does:
/// afterwards `dst` holds exactly `src`'s bytes (or, after an interruption, exactly the
/// first [`Copied::bytes`] of them).
///
/// Never and may truncate `dst` and copy into it. Must-share first runs every check (with
/// `dst` taken as empty, since it is replaced), then saves `dst`'s old blocks by cloning
/// them into an unnamed file beside it (O(extents), no byte moved), truncates and clones;
/// on a failure it clones the old blocks back, so `dst` is as it was — the same bytes in
/// the same (possibly shared) blocks. Into an empty `dst` with neither a progress callback
/// nor an interrupt flag, must-share is one `FICLONE` first (the kernel's own checks are
/// the library's, so a success means every check passed), and the checked path runs only
/// after a failure, once `dst` is put back, to answer in the lab's errno order.
///
/// # Errors
/// As [`copy_range`] over the whole of `src`; for must-share also the errors of saving
/// `dst`'s old blocks (`ENOSPC`) before anything changed; `ftruncate`'s errors.
pub fn copy_file(
    src: &impl AsFd,
    dst: &impl AsFd,
    share: Share,
    opts: &mut Options<'_>,
) -> Result<Copied, Failure> {
    let (src, dst) = (src.as_fd(), dst.as_fd());
    let fail = Failure::before_any_change;
    if share == Share::Must
        && let Some(done) = share::must_share_whole_file_unchecked(src, dst, opts)
    {
        return Ok(done);
    }
    // "To the source's EOF": the checks shorten the count to the size they see.
    let to_eof = u64::MAX;
    let plan = checks::copy_checks(src, 0, dst, 0, to_eof, share).map_err(fail)?;
    // An empty source makes an empty destination, whatever the semantics (a count of 0
    // succeeds after the checks, as for copy_range).
    if plan.count == 0 {
        if plan.dst.size > 0 {
            sys::ftruncate(dst, 0).map_err(fail)?;
        }
        return Ok(Copied {
            bytes: 0,
            calls: 0,
            interrupted: false,
            fallback_bytes: 0,
        });
    }
    if share == Share::Must {
        if opts
            .interrupt
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(fail(Errno::EINTR));
        }
        return share::must_share(src, dst, &plan, opts, share::Target::Replace);
    }
    if plan.dst.size > 0 {
        sys::ftruncate(dst, 0).map_err(fail)?;
    }
    share::byte_or_offload(src, dst, &plan, share, opts)
}
