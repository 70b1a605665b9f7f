//! The system calls the copy needs, as thin `libc` wrappers returning [`Errno`].
//!
//! `copy_file_range` goes through `syscall(2)` rather than glibc's wrapper so that the
//! errno is the kernel's own (some glibc versions emulated the call in user space).

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::Errno;

/// The current thread's errno.
fn last() -> Errno {
    Errno(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// A byte count, or `-1` and errno.
fn count(r: isize) -> Result<u64, Errno> {
    u64::try_from(r).map_err(|_| last())
}

/// What the checks need to know about an open file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub mode: u32,
    pub size: u64,
    pub dev: u64,
    pub ino: u64,
    /// `STATX_ATTR_IMMUTABLE` or `STATX_ATTR_APPEND` (`chattr +i`, `+a`).
    pub immutable_or_append: bool,
    /// The open file's status flags (`F_GETFL`).
    pub open_flags: i32,
}

impl FileInfo {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_regular(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
    pub fn readable(&self) -> bool {
        self.open_flags & libc::O_ACCMODE != libc::O_WRONLY && self.open_flags & libc::O_PATH == 0
    }
    pub fn writable(&self) -> bool {
        self.open_flags & libc::O_ACCMODE != libc::O_RDONLY && self.open_flags & libc::O_PATH == 0
    }
    pub fn append(&self) -> bool {
        self.open_flags & libc::O_APPEND != 0
    }
}

/// `statx(fd, "", AT_EMPTY_PATH, …)` plus `fcntl(F_GETFL)`.
pub fn info(fd: BorrowedFd<'_>) -> Result<FileInfo, Errno> {
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    let mask = libc::STATX_BASIC_STATS;
    // SAFETY: an empty NUL-terminated path with AT_EMPTY_PATH names `fd`; `stx` is a
    // writable statx buffer of the right size.
    let r = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            mask,
            stx.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(last());
    }
    // SAFETY: statx succeeded, so the buffer is initialised.
    let stx = unsafe { stx.assume_init() };
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags.
    let open_flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if open_flags < 0 {
        return Err(last());
    }
    let attrs = (libc::STATX_ATTR_IMMUTABLE | libc::STATX_ATTR_APPEND) as u64;
    Ok(FileInfo {
        mode: u32::from(stx.stx_mode),
        size: stx.stx_size,
        dev: libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
        immutable_or_append: stx.stx_attributes & stx.stx_attributes_mask & attrs != 0,
        open_flags,
    })
}

/// A structure the kernel fills in for `fd` (`fstat`, `fstatfs`).
fn fill<T>(
    fd: BorrowedFd<'_>,
    call: unsafe extern "C" fn(libc::c_int, *mut T) -> libc::c_int,
) -> Result<T, Errno> {
    let mut out = MaybeUninit::<T>::zeroed();
    // SAFETY: `call` is fstat or fstatfs, which write one `T` through the pointer.
    let r = unsafe { call(fd.as_raw_fd(), out.as_mut_ptr()) };
    if r < 0 {
        return Err(last());
    }
    // SAFETY: the call succeeded, so the structure is filled in.
    Ok(unsafe { out.assume_init() })
}

/// The file's size now (`fstat`).
pub fn size(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    Ok(fill(fd, libc::fstat)?.st_size as u64)
}

/// The filesystem's block size (`fstatfs`'s `f_bsize`): the unit of sharing on btrfs
/// (its sector size) and XFS.
pub fn fs_block_size(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    Ok(fill(fd, libc::fstatfs)?.f_bsize as u64)
}

/// `pread(2)` into `buf`.
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], off: u64) -> Result<u64, Errno> {
    // SAFETY: `buf` is writable for its length.
    count(unsafe {
        libc::pread(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            off as i64,
        )
    })
}

/// `pwrite(2)` from `buf`.
pub fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], off: u64) -> Result<u64, Errno> {
    // SAFETY: `buf` is readable for its length.
    count(unsafe { libc::pwrite(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), off as i64) })
}

/// `copy_file_range(2)` with explicit offsets and flags 0.
pub fn copy_file_range(
    fd_in: BorrowedFd<'_>,
    off_in: u64,
    fd_out: BorrowedFd<'_>,
    off_out: u64,
    len: u64,
) -> Result<u64, Errno> {
    let (mut i, mut o) = (off_in as i64, off_out as i64);
    // SAFETY: both offsets point at live i64s; the kernel reads and updates them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_copy_file_range,
            fd_in.as_raw_fd(),
            &mut i as *mut i64,
            fd_out.as_raw_fd(),
            &mut o as *mut i64,
            len as usize,
            0u32,
        )
    };
    count(r as isize)
}

/// `struct file_clone_range` (`linux/fs.h`).
#[repr(C)]
struct FileCloneRange {
    src_fd: i64,
    src_offset: u64,
    src_length: u64,
    dest_offset: u64,
}

/// `FICLONERANGE` = `_IOW(0x94, 13, struct file_clone_range)`.
const FICLONERANGE: libc::c_ulong = 0x4020_940d;

/// `ioctl(dst, FICLONERANGE, {src, src_offset, len, dst_offset})`.
pub fn clone_range(
    src: BorrowedFd<'_>,
    src_offset: u64,
    dst: BorrowedFd<'_>,
    dst_offset: u64,
    len: u64,
) -> Result<(), Errno> {
    let arg = FileCloneRange {
        src_fd: i64::from(src.as_raw_fd()),
        src_offset,
        src_length: len,
        dest_offset: dst_offset,
    };
    // SAFETY: FICLONERANGE reads one file_clone_range, which `arg` is.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONERANGE, &arg as *const FileCloneRange) };
    if r < 0 { Err(last()) } else { Ok(()) }
}

/// `fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`: frees `[off, off + len)`.
pub fn punch_hole(fd: BorrowedFd<'_>, off: u64, len: u64) -> Result<(), Errno> {
    // SAFETY: plain system call on a borrowed descriptor.
    let r = unsafe {
        libc::fallocate(
            fd.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            off as i64,
            len as i64,
        )
    };
    if r < 0 { Err(last()) } else { Ok(()) }
}

/// `posix_fadvise(POSIX_FADV_SEQUENTIAL)` on the whole file (advice: errors ignored).
pub fn advise_sequential(fd: BorrowedFd<'_>) {
    // SAFETY: plain system call on a borrowed descriptor.
    unsafe {
        libc::posix_fadvise(fd.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
}

/// `ftruncate(2)`.
pub fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> Result<(), Errno> {
    // SAFETY: plain system call on a borrowed descriptor.
    let r = unsafe { libc::ftruncate(fd.as_raw_fd(), len as i64) };
    if r < 0 { Err(last()) } else { Ok(()) }
}

/// An unnamed file (`O_TMPFILE`) in the directory that holds `fd`'s file, found through
/// `/proc/self/fd`: the same filesystem, so a clone into it is possible.
pub fn tmpfile_beside(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::ENOENT)))?;
    let dir: PathBuf = link.parent().map(PathBuf::from).ok_or(Errno::ENOENT)?;
    let dir = CString::new(dir.as_os_str().as_bytes()).map_err(|_| Errno::ENOENT)?;
    // SAFETY: `dir` is NUL-terminated; the mode argument is read for O_TMPFILE.
    let r = unsafe {
        libc::open(
            dir.as_ptr(),
            libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(last());
    }
    // SAFETY: `r` is a descriptor this call just opened and nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// A new read-only descriptor of `fd`'s file (through `/proc/self/fd`): a clone's source
/// must be open for reading, and a destination is often open write-only.
pub fn reopen_readable(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let path =
        CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `path` is NUL-terminated; no mode is needed without O_CREAT.
    let r = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if r < 0 {
        return Err(last());
    }
    // SAFETY: `r` is a descriptor this call just opened and nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}
