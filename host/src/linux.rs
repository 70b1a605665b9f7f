//! [`Linux`]: the [`Syscalls`] interface implemented with real Linux system calls.
//!
//! # Paths
//!
//! Paths are absolute paths of the *simulated* namespace (`/mnt/a`). A [`Linux`] is rooted
//! at a real directory (often a [`TestMount`](crate::mounts::TestMount) or a
//! [`TestTree`](crate::mounts::TestTree) holding several mounts), and `/mnt/a` names
//! `<root>/mnt/a`. The mapping is done by the kernel, not by string concatenation: every
//! path walk starts at a descriptor of the root with `openat2(2)`'s `RESOLVE_IN_ROOT`, so
//! `..` at the root stays at the root (as in a chroot) and no path can reach outside it.
//! Calls that act on a name in a directory (`mkdir`, `unlink`, `rmdir`, `rename`) resolve
//! the parent that way and pass the last component, unchanged, to the `*at` call, so the
//! kernel still sees trailing slashes, `.` and `..` exactly as the caller wrote them. A
//! path holding a NUL byte never reaches the kernel: it is `EINVAL`, as in the simulator.
//!
//! # File descriptors
//!
//! A [`Linux`] behaves like a process of its own: it only knows the descriptors it opened.
//! A call naming any other number (say 1, the test runner's stdout) is passed to the kernel
//! as `-1`, so the kernel reports `EBADF` in its own check order and nothing outside the
//! instance is ever touched. Descriptors still open when the instance is dropped are closed;
//! every descriptor is opened `O_CLOEXEC` so that helpers such as `umount` never inherit
//! one (the flag is not visible through this interface).
//!
//! # Data
//!
//! [`Data`] is materialised in chunks of [`CHUNK`] bytes, so a large pattern write never
//! needs a buffer of its size. A transfer of at most one chunk is one system call. A larger
//! one stands for *one* logical `write`/`pwrite`/`read`/`pread`:
//!
//! - the check `rw_verify_area` makes on the whole count comes first: if `pos + len` passes
//!   `i64::MAX` (or `len` is negative as `ssize_t`), a zero-length call lets the kernel report
//!   whatever it checks earlier (`EBADF`, `ESPIPE`, …), and otherwise the answer is `EINVAL`,
//!   before any byte moves;
//! - the count is capped at the kernel's [`MAX_RW_COUNT`];
//! - the chunk loop stops at the first short transfer, and an error is returned only if
//!   nothing was transferred (a real write that runs out of space mid-way returns the short
//!   count the same way; the tests compare both on tmpfs).

use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use syscall::api::{DedupeDest, DedupeOutcome, StatBuf, SysResult, Syscalls};
use vfs::Data;
use vfs::errno::Errno;
use vfs::extent::{FiemapExtent, fiemap_flags};

use crate::uapi::{self, off};

/// Bytes materialised per system call when a transfer is larger than this.
pub const CHUNK: usize = 1 << 20;

/// The most one `read`/`write` transfers (`MAX_RW_COUNT` = `INT_MAX & PAGE_MASK`, 4 KiB
/// pages).
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// Extents asked for per `FS_IOC_FIEMAP` call.
pub const FIEMAP_BATCH: usize = 512;

/// `PATH_MAX`, counting the terminating NUL.
const PATH_MAX: usize = 4096;

/// `struct open_how` (`linux/openat2.h`); `libc::open_how` is `non_exhaustive`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The flags `open(2)` keeps (`VALID_OPEN_FLAGS`); it silently drops every other bit, while
/// `openat2(2)` would reject them with `EINVAL`.
const VALID_OPEN_FLAGS: i32 = libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_NOCTTY
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DSYNC
    | libc::O_ASYNC
    | libc::O_DIRECT
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOATIME
    | libc::O_CLOEXEC
    | libc::O_SYNC
    | libc::O_PATH
    | libc::O_TMPFILE;

/// The flags that survive next to `O_PATH` (`O_PATH_FLAGS`).
const O_PATH_FLAGS: i32 = libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_PATH | libc::O_CLOEXEC;

/// `__O_TMPFILE`: the bit of `O_TMPFILE` that is not `O_DIRECTORY`.
const O_TMPFILE_BIT: i32 = libc::O_TMPFILE & !libc::O_DIRECTORY;

/// The `open_how` that makes `openat2(2)` behave as `open(2)` with `flags` and `mode`
/// would (`build_open_how`), rooted with `RESOLVE_IN_ROOT` and always close-on-exec.
fn open_how_like_open(flags: i32, mode: u32) -> OpenHow {
    let mut f = flags & VALID_OPEN_FLAGS;
    if f & libc::O_PATH != 0 {
        f &= O_PATH_FLAGS;
    } else {
        // open(2) forces O_LARGEFILE on 64-bit kernels (openat2 would add it too).
        f |= libc::O_LARGEFILE;
    }
    let creates = f & (libc::O_CREAT | O_TMPFILE_BIT) != 0;
    let mode = if creates { mode & 0o7777 } else { 0 };
    OpenHow {
        flags: (f | libc::O_CLOEXEC) as u32 as u64,
        mode: u64::from(mode),
        resolve: libc::RESOLVE_IN_ROOT,
    }
}

/// The current thread's `errno`.
fn last_errno() -> Errno {
    Errno(
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// `0` or `-1` + `errno`, as most calls return.
fn cvt(r: libc::c_int) -> SysResult<()> {
    if r < 0 { Err(last_errno()) } else { Ok(()) }
}

/// A byte count or `-1` + `errno`.
fn cvt_size(r: isize) -> SysResult<usize> {
    usize::try_from(r).map_err(|_| last_errno())
}

/// A `syscall(2)` result: a non-negative value or `-1` + `errno`.
fn cvt_long(r: libc::c_long) -> SysResult<libc::c_long> {
    if r < 0 { Err(last_errno()) } else { Ok(r) }
}

/// The path as a C string. A C caller cannot pass a path with a NUL byte inside (its
/// string ends there); like the simulator (`syscall::process::c_path`), this side refuses
/// such a path with `EINVAL` before any system call, rather than quietly acting on the
/// part before the NUL.
///
/// # Errors
/// `EINVAL` for a path holding a NUL byte.
fn c_path(path: &str) -> SysResult<CString> {
    CString::new(path).map_err(|_| Errno::EINVAL)
}

/// The last component of a path that names something in a directory.
#[derive(Debug, PartialEq, Eq)]
enum Last {
    /// The path is `/` (or `//…`): the root itself, which has no name in a directory.
    Root,
    /// The last component, with any trailing slashes (`b/`, `.`, `..`).
    Name(CString),
}

/// Splits `path` into the directory to resolve and the last component, as the kernel's
/// `filename_parentat` does.
///
/// # Errors
/// `EINVAL` for a path holding a NUL byte ([`c_path`]); `ENOENT` for an empty path,
/// `ENAMETOOLONG` for one of `PATH_MAX` bytes or more (the checks `getname` makes before
/// any lookup).
fn split_parent(path: &str) -> SysResult<(CString, Last)> {
    let p = path;
    c_path(p)?;
    if p.is_empty() {
        return Err(Errno::ENOENT);
    }
    if p.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok((c_path("/")?, Last::Root));
    }
    let (dir, last) = match trimmed.rfind('/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => (".", p),
    };
    Ok((c_path(dir)?, Last::Name(c_path(last)?)))
}

/// `openat2(dirfd, path, how)`, retried on the `EAGAIN` a scoped lookup reports when a
/// concurrent rename elsewhere raced with a `..` step.
fn openat2(dirfd: RawFd, path: &CStr, how: &OpenHow) -> SysResult<OwnedFd> {
    let mut tries = 0;
    loop {
        // SAFETY: `path` is a NUL-terminated string and `how` a live `open_how` whose size
        // is passed along; the kernel only reads both.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::c_long::from(dirfd),
                path.as_ptr(),
                how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match cvt_long(r) {
            Ok(fd) => {
                let fd = RawFd::try_from(fd).map_err(|_| Errno::EBADF)?;
                // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            Err(Errno::EAGAIN) if tries < 64 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// `fstat(2)` into the fields the lab compares.
fn fstat_raw(fd: RawFd) -> SysResult<StatBuf> {
    // SAFETY: an all-zero `struct stat` is a valid value of the plain-data type.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a writable `struct stat`.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    let fmt = st.st_mode & libc::S_IFMT;
    Ok(StatBuf {
        ino: st.st_ino,
        is_dir: fmt == libc::S_IFDIR,
        is_regular: fmt == libc::S_IFREG,
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        blksize: st.st_blksize as u64,
        nlink: st.st_nlink,
        dev: st.st_dev,
    })
}

/// The filesystem type's usual name from its `statfs` magic number.
fn fs_name(magic: u64) -> String {
    match magic & 0xffff_ffff {
        0x9123_683e => "btrfs".into(),
        0x5846_5342 => "xfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0xef53 => "ext4".into(),
        0x794c_7630 => "overlayfs".into(),
        0x6969 => "nfs".into(),
        0x7461_636f => "ocfs2".into(),
        0xf2f5_2010 => "f2fs".into(),
        0xca45_1a4e => "bcachefs".into(),
        0x2fc1_2fc1 => "zfs".into(),
        m => format!("fs {m:#x}"),
    }
}

/// Would the kernel's `rw_verify_area` reject a transfer of `len` bytes at `pos` with
/// `EINVAL` (a count that is negative as `ssize_t`, or `pos + len` past `i64::MAX`)?
fn range_overflows(pos: i64, len: u64) -> bool {
    if len > isize::MAX as u64 {
        return true;
    }
    pos >= 0
        && (pos as u64)
            .checked_add(len)
            .is_none_or(|end| end > i64::MAX as u64)
}

/// One `write(2)` (at the file position) or `pwrite64(2)`.
fn write_once(kfd: RawFd, buf: &[u8], pos: Option<i64>) -> SysResult<usize> {
    // SAFETY: `buf` is readable for `buf.len()` bytes.
    let r = unsafe {
        match pos {
            Some(p) => libc::pwrite64(kfd, buf.as_ptr().cast(), buf.len(), p),
            None => libc::write(kfd, buf.as_ptr().cast(), buf.len()),
        }
    };
    cvt_size(r)
}

/// One `read(2)` (at the file position) or `pread64(2)`.
fn read_once(kfd: RawFd, buf: &mut [u8], pos: Option<i64>) -> SysResult<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let r = unsafe {
        match pos {
            Some(p) => libc::pread64(kfd, buf.as_mut_ptr().cast(), buf.len(), p),
            None => libc::read(kfd, buf.as_mut_ptr().cast(), buf.len()),
        }
    };
    cvt_size(r)
}

/// The real kernel, rooted at a directory that stands for the simulated `/`.
///
/// Implements [`Syscalls`]; see the [module documentation](self) for how paths, descriptors
/// and [`Data`] are mapped.
#[derive(Debug)]
pub struct Linux {
    root: PathBuf,
    root_fd: OwnedFd,
    fds: BTreeSet<RawFd>,
    fs_name: String,
    release: String,
    /// See [`Syscalls::signal_missed`].
    signal_missed: bool,
}

impl Linux {
    /// A process-like view of the real kernel in which `/` is the directory `root`.
    ///
    /// # Errors
    /// Whatever opening `root` as a directory or `fstatfs(2)` on it reports (`ENOENT`,
    /// `ENOTDIR`, `EACCES`, …).
    pub fn new(root: PathBuf) -> io::Result<Linux> {
        let croot = CString::new(root.as_os_str().as_encoded_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `croot` is NUL-terminated; the flags ask for a directory handle only.
        let fd = unsafe {
            libc::open(
                croot.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `open` just returned this descriptor; we are its only owner.
        let root_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero `struct statfs` is a valid value of the plain-data type.
        let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `sfs` is a writable `struct statfs`.
        if unsafe { libc::fstatfs(root_fd.as_raw_fd(), &mut sfs) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Linux {
            root,
            root_fd,
            fds: BTreeSet::new(),
            fs_name: fs_name(sfs.f_type as u64),
            release: crate::mounts::kernel_release(),
            signal_missed: false,
        })
    }

    /// The real directory that stands for `/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The filesystem type of the root directory (`"btrfs"`, `"xfs"`, `"tmpfs"`, …).
    pub fn fs_type(&self) -> &str {
        &self.fs_name
    }

    /// The running kernel's release (`uname -r`).
    pub fn kernel_release(&self) -> &str {
        &self.release
    }

    /// Where a simulated path lives on the real system, for messages and for tools run
    /// beside the test (`..` is not interpreted here; the system calls themselves never
    /// leave the root).
    pub fn real_path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The descriptors this instance has open, lowest first.
    pub fn open_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.fds.iter().copied()
    }

    /// Closes every descriptor this instance has open (as process exit would).
    pub fn close_all(&mut self) {
        for fd in std::mem::take(&mut self.fds) {
            // SAFETY: `fd` was returned to this instance by the kernel and not closed since.
            unsafe { libc::close(fd) };
        }
    }

    /// The kernel descriptor for `fd`: `fd` itself if this instance opened it, else `-1`
    /// (which every call rejects with `EBADF`, at the point of its own check order).
    fn kfd(&self, fd: i32) -> RawFd {
        if self.fds.contains(&fd) { fd } else { -1 }
    }

    /// A directory descriptor for the parent part of a split path.
    fn parent_fd(&self, dir: &CStr) -> SysResult<OwnedFd> {
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: libc::RESOLVE_IN_ROOT,
        };
        openat2(self.root_fd.as_raw_fd(), dir, &how)
    }

    /// One logical `write`/`pwrite` of `data` (see the module documentation).
    fn do_write(&mut self, fd: i32, data: &Data, pos: Option<i64>) -> SysResult<usize> {
        let kfd = self.kfd(fd);
        let len = data.len();
        if len <= CHUNK as u64 {
            let mut buf = vec![0u8; len as usize];
            data.read_into(0, &mut buf);
            return write_once(kfd, &buf, pos);
        }
        if self.whole_range_invalid(kfd, pos, len) {
            // Let the kernel report what it checks before the range (EBADF, ESPIPE, …).
            write_once(kfd, &[], pos)?;
            return Err(Errno::EINVAL);
        }
        let total = len.min(MAX_RW_COUNT);
        let mut buf = vec![0u8; CHUNK];
        let mut done = 0u64;
        while done < total {
            let n = (total - done).min(CHUNK as u64) as usize;
            data.read_into(done, &mut buf[..n]);
            let at = pos.map(|p| p.wrapping_add(done as i64));
            match write_once(kfd, &buf[..n], at) {
                Ok(w) => {
                    done += w as u64;
                    if w < n {
                        break;
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done as usize)
    }

    /// One logical `read`/`pread` of up to `len` bytes (see the module documentation).
    fn do_read(&mut self, fd: i32, len: usize, pos: Option<i64>) -> SysResult<Data> {
        let kfd = self.kfd(fd);
        if len <= CHUNK {
            let mut buf = vec![0u8; len];
            let n = read_once(kfd, &mut buf, pos)?;
            return Ok(Data::bytes(&buf[..n]));
        }
        if self.whole_range_invalid(kfd, pos, len as u64) {
            read_once(kfd, &mut [], pos)?;
            return Err(Errno::EINVAL);
        }
        let total = (len as u64).min(MAX_RW_COUNT);
        let mut buf = vec![0u8; CHUNK];
        let mut out = Data::new();
        let mut done = 0u64;
        while done < total {
            let n = (total - done).min(CHUNK as u64) as usize;
            let at = pos.map(|p| p.wrapping_add(done as i64));
            match read_once(kfd, &mut buf[..n], at) {
                Ok(r) => {
                    out.append(Data::bytes(&buf[..r]));
                    done += r as u64;
                    if r < n {
                        break;
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// Whether the kernel would refuse a transfer of `len` bytes at `pos` (or at the file
    /// position) as a whole, before moving any byte.
    fn whole_range_invalid(&self, kfd: RawFd, pos: Option<i64>, len: u64) -> bool {
        let at = match pos {
            Some(p) => p,
            // SAFETY: lseek only reads the descriptor's position.
            None => match unsafe { libc::lseek64(kfd, 0, libc::SEEK_CUR) } {
                p if p >= 0 => p,
                _ => return len > isize::MAX as u64,
            },
        };
        range_overflows(at, len)
    }

    /// Resolves `path`'s parent and runs `op` on (parent descriptor, last component).
    fn at_parent<T>(
        &self,
        path: &str,
        op: impl FnOnce(RawFd, &Last) -> SysResult<T>,
    ) -> SysResult<T> {
        let (dir, last) = split_parent(path)?;
        let pfd = self.parent_fd(&dir)?;
        op(pfd.as_raw_fd(), &last)
    }
}

impl Drop for Linux {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// The name to pass to an `*at` call: the root (which has no name) acts as `.`, which the
/// kernel rejects the same way for `mkdir` (`EEXIST`), `unlink` (`EISDIR`) and `rename`
/// (`EBUSY`).
fn at_name(last: &Last) -> &CStr {
    match last {
        Last::Root => c".",
        Last::Name(n) => n,
    }
}

impl Syscalls for Linux {
    fn describe(&self) -> String {
        format!("linux {} ({})", self.fs_name, self.release)
    }

    /// `open(2)`, done as `openat2(2)` from the root with `RESOLVE_IN_ROOT`; flags and mode
    /// are reduced the way `open(2)` reduces them, so unknown flag bits are ignored, not
    /// rejected.
    fn open(&mut self, path: &str, flags: i32, mode: u32) -> SysResult<i32> {
        let how = open_how_like_open(flags, mode);
        let fd = openat2(self.root_fd.as_raw_fd(), &c_path(path)?, &how)?;
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        self.fds.insert(raw);
        Ok(raw)
    }

    fn close(&mut self, fd: i32) -> SysResult<()> {
        let kfd = self.kfd(fd);
        // Linux frees the descriptor even when close reports an error (other than EBADF).
        self.fds.remove(&fd);
        // SAFETY: `kfd` is ours (or -1, which the kernel rejects).
        cvt(unsafe { libc::close(kfd) })
    }

    fn read(&mut self, fd: i32, len: usize) -> SysResult<Data> {
        self.do_read(fd, len, None)
    }

    fn write(&mut self, fd: i32, data: &Data) -> SysResult<usize> {
        self.do_write(fd, data, None)
    }

    fn pread(&mut self, fd: i32, len: usize, off: i64) -> SysResult<Data> {
        self.do_read(fd, len, Some(off))
    }

    fn pwrite(&mut self, fd: i32, data: &Data, off: i64) -> SysResult<usize> {
        self.do_write(fd, data, Some(off))
    }

    fn lseek(&mut self, fd: i32, off: i64, whence: i32) -> SysResult<i64> {
        // SAFETY: plain integer arguments.
        let r = unsafe { libc::lseek64(self.kfd(fd), off, whence) };
        // Only -1 is an error: a kernel that overflows past LLONG_MAX returns a negative
        // offset (btrfs and tmpfs SEEK_HOLE in the last page before 2^63 return LLONG_MIN).
        if r == -1 { Err(last_errno()) } else { Ok(r) }
    }

    fn ftruncate(&mut self, fd: i32, len: i64) -> SysResult<()> {
        // SAFETY: plain integer arguments.
        cvt(unsafe { libc::ftruncate64(self.kfd(fd), len) })
    }

    fn fallocate(&mut self, fd: i32, mode: i32, off: i64, len: i64) -> SysResult<()> {
        // SAFETY: plain integer arguments.
        cvt(unsafe { libc::fallocate64(self.kfd(fd), mode, off, len) })
    }

    fn fsync(&mut self, fd: i32) -> SysResult<()> {
        // SAFETY: plain integer argument.
        cvt(unsafe { libc::fsync(self.kfd(fd)) })
    }

    fn fdatasync(&mut self, fd: i32) -> SysResult<()> {
        // SAFETY: plain integer argument.
        cvt(unsafe { libc::fdatasync(self.kfd(fd)) })
    }

    fn sync(&mut self) {
        // SAFETY: no arguments.
        unsafe { libc::sync() }
    }

    fn mkdir(&mut self, path: &str, mode: u32) -> SysResult<()> {
        self.at_parent(path, |dfd, last| {
            // SAFETY: the name is NUL-terminated; `dfd` is a live directory descriptor.
            cvt(unsafe { libc::mkdirat(dfd, at_name(last).as_ptr(), mode as libc::mode_t) })
        })
    }

    fn unlink(&mut self, path: &str) -> SysResult<()> {
        self.at_parent(path, |dfd, last| {
            // SAFETY: as in `mkdir`.
            cvt(unsafe { libc::unlinkat(dfd, at_name(last).as_ptr(), 0) })
        })
    }

    fn rmdir(&mut self, path: &str) -> SysResult<()> {
        self.at_parent(path, |dfd, last| match last {
            // rmdir("/") is EBUSY (the root), while rmdir(".") would be EINVAL.
            Last::Root => Err(Errno::EBUSY),
            Last::Name(n) => {
                // SAFETY: as in `mkdir`.
                cvt(unsafe { libc::unlinkat(dfd, n.as_ptr(), libc::AT_REMOVEDIR) })
            }
        })
    }

    fn rename(&mut self, old: &str, new: &str) -> SysResult<()> {
        let (old_dir, old_last) = split_parent(old)?;
        let (new_dir, new_last) = split_parent(new)?;
        let old_fd = self.parent_fd(&old_dir)?;
        let new_fd = self.parent_fd(&new_dir)?;
        // SAFETY: both names are NUL-terminated; both descriptors are live directories.
        cvt(unsafe {
            libc::renameat(
                old_fd.as_raw_fd(),
                at_name(&old_last).as_ptr(),
                new_fd.as_raw_fd(),
                at_name(&new_last).as_ptr(),
            )
        })
    }

    fn stat(&mut self, path: &str) -> SysResult<StatBuf> {
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: libc::RESOLVE_IN_ROOT,
        };
        let fd = openat2(self.root_fd.as_raw_fd(), &c_path(path)?, &how)?;
        fstat_raw(fd.as_raw_fd())
    }

    fn fstat(&mut self, fd: i32) -> SysResult<StatBuf> {
        fstat_raw(self.kfd(fd))
    }

    fn copy_file_range(
        &mut self,
        fd_in: i32,
        off_in: Option<&mut i64>,
        fd_out: i32,
        off_out: Option<&mut i64>,
        len: usize,
        flags: u32,
    ) -> SysResult<usize> {
        let pin: *mut i64 = off_in.map_or(std::ptr::null_mut(), |p| p as *mut i64);
        let pout: *mut i64 = off_out.map_or(std::ptr::null_mut(), |p| p as *mut i64);
        // SAFETY: the offset pointers are null or point at live `i64`s that the kernel may
        // update; every other argument is an integer, passed at the width `syscall` reads.
        let r = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                libc::c_long::from(self.kfd(fd_in)),
                pin,
                libc::c_long::from(self.kfd(fd_out)),
                pout,
                len,
                libc::c_long::from(flags),
            )
        };
        cvt_long(r).map(|n| n as usize)
    }

    fn copy_file_range_signalled(
        &mut self,
        fd_in: i32,
        off_in: &mut i64,
        fd_out: i32,
        off_out: &mut i64,
        len: usize,
        _after_chunks: u64,
    ) -> SysResult<usize> {
        let (r, landed) = copy_with_signal(self.kfd(fd_in), off_in, self.kfd(fd_out), off_out, len);
        self.signal_missed = !landed;
        r
    }

    fn signal_missed(&self) -> bool {
        self.signal_missed
    }

    fn ficlone(&mut self, dst_fd: i32, src_fd: i32) -> SysResult<()> {
        let src = libc::c_long::from(self.kfd(src_fd));
        // SAFETY: FICLONE takes the source descriptor itself as its argument.
        cvt(unsafe { libc::ioctl(self.kfd(dst_fd), uapi::FICLONE as _, src) })
    }

    fn ficlonerange(
        &mut self,
        dst_fd: i32,
        src_fd: i32,
        src_offset: u64,
        src_length: u64,
        dest_offset: u64,
    ) -> SysResult<()> {
        let arg = uapi::FileCloneRange {
            src_fd: i64::from(self.kfd(src_fd)),
            src_offset,
            src_length,
            dest_offset,
        };
        // SAFETY: `arg` is a live `struct file_clone_range`, which the kernel only reads.
        cvt(unsafe {
            libc::ioctl(
                self.kfd(dst_fd),
                uapi::FICLONERANGE as _,
                &arg as *const uapi::FileCloneRange,
            )
        })
    }

    /// `FIDEDUPERANGE`. The ABI's `dest_count` is 16 bits wide: with more than 65535
    /// destinations only the first 65535 are passed (the kernel refuses far fewer, 127 on
    /// 4 KiB pages, with `ENOMEM`).
    fn fideduperange(
        &mut self,
        src_fd: i32,
        src_offset: u64,
        src_length: u64,
        dests: &[DedupeDest],
    ) -> SysResult<Vec<DedupeOutcome>> {
        let dests = &dests[..dests.len().min(usize::from(u16::MAX))];
        let hdr = std::mem::size_of::<uapi::FileDedupeRange>();
        let info = std::mem::size_of::<uapi::FileDedupeRangeInfo>();
        // The kernel copies the buffer in and out with copy_{from,to}_user, which needs no
        // alignment.
        let mut buf = vec![0u8; hdr + info * dests.len()];
        uapi::put_u64(&mut buf, off::DR_SRC_OFFSET, src_offset);
        uapi::put_u64(&mut buf, off::DR_SRC_LENGTH, src_length);
        uapi::put_u16(&mut buf, off::DR_DEST_COUNT, dests.len() as u16);
        for (i, d) in dests.iter().enumerate() {
            let at = hdr + i * info;
            let kfd = i64::from(self.kfd(d.fd));
            uapi::put_u64(&mut buf, at + off::DRI_DEST_FD, kfd as u64);
            uapi::put_u64(&mut buf, at + off::DRI_DEST_OFFSET, d.offset);
        }
        // SAFETY: `buf` holds a `struct file_dedupe_range` followed by exactly `dest_count`
        // `struct file_dedupe_range_info`, which the kernel reads and updates.
        let r =
            unsafe { libc::ioctl(self.kfd(src_fd), uapi::FIDEDUPERANGE as _, buf.as_mut_ptr()) };
        cvt(r)?;
        Ok((0..dests.len())
            .map(|i| {
                let at = hdr + i * info;
                DedupeOutcome {
                    bytes_deduped: uapi::get_u64(&buf, at + off::DRI_BYTES_DEDUPED),
                    status: uapi::get_u32(&buf, at + off::DRI_STATUS) as i32,
                }
            })
            .collect())
    }

    /// `FS_IOC_FIEMAP`, asked for [`FIEMAP_BATCH`] extents at a time and repeated from the
    /// end of the last extent until one carries `FIEMAP_EXTENT_LAST`, a call maps fewer
    /// extents than asked for, or the range is done. Errors of a later call are returned
    /// as well (they do not happen on a file nobody else changes).
    fn fiemap(
        &mut self,
        fd: i32,
        start: u64,
        len: u64,
        flags: u32,
    ) -> SysResult<Vec<FiemapExtent>> {
        let kfd = self.kfd(fd);
        let hdr = std::mem::size_of::<uapi::Fiemap>();
        let ext = std::mem::size_of::<uapi::FiemapExtentRaw>();
        let size = hdr + ext * FIEMAP_BATCH;
        let mut buf = vec![0u8; size];
        let end = start.saturating_add(len);
        let (mut cur, mut cur_len) = (start, len);
        let mut out = Vec::new();
        loop {
            buf.fill(0);
            uapi::put_u64(&mut buf, off::FM_START, cur);
            uapi::put_u64(&mut buf, off::FM_LENGTH, cur_len);
            uapi::put_u32(&mut buf, off::FM_FLAGS, flags);
            uapi::put_u32(&mut buf, off::FM_EXTENT_COUNT, FIEMAP_BATCH as u32);
            // SAFETY: `buf` holds a `struct fiemap` followed by room for
            // `fm_extent_count` `struct fiemap_extent`, which the kernel fills.
            let r = unsafe { libc::ioctl(kfd, uapi::FS_IOC_FIEMAP as _, buf.as_mut_ptr()) };
            cvt(r)?;
            let mapped = (uapi::get_u32(&buf, off::FM_MAPPED_EXTENTS) as usize).min(FIEMAP_BATCH);
            let mut last = None;
            for i in 0..mapped {
                let at = hdr + i * ext;
                let e = FiemapExtent {
                    logical: uapi::get_u64(&buf, at + off::FE_LOGICAL),
                    physical: uapi::get_u64(&buf, at + off::FE_PHYSICAL),
                    length: uapi::get_u64(&buf, at + off::FE_LENGTH),
                    flags: uapi::get_u32(&buf, at + off::FE_FLAGS),
                };
                out.push(e);
                last = Some(e);
            }
            let Some(last) = last else { break };
            if mapped < FIEMAP_BATCH || last.flags & fiemap_flags::LAST != 0 {
                break;
            }
            let next = last.logical.saturating_add(last.length);
            if next <= cur || next >= end {
                break;
            }
            cur = next;
            cur_len = end - next;
        }
        Ok(out)
    }
}

/// The signal [`Syscalls::copy_file_range_signalled`] sends on the real side.
const COPY_SIGNAL: libc::c_int = libc::SIGUSR2;

/// Set by [`record_signal`], the handler of [`COPY_SIGNAL`] (async-signal-safe: it only
/// stores to an atomic).
static SIGNAL_SEEN: AtomicBool = AtomicBool::new(false);

/// One signalled copy at a time in the process: the handler is process-wide.
static SIGNAL_STEP: Mutex<()> = Mutex::new(());

/// The signal is sent once the destination has grown, or this long after the helper
/// started watching if it has not (an overwrite inside the file, a sharing call).
const SIGNAL_FALLBACK: Duration = Duration::from_micros(300);

extern "C" fn record_signal(_sig: libc::c_int) {
    SIGNAL_SEEN.store(true, Ordering::SeqCst);
}

/// Restores the disposition and signal mask a signalled copy changed, when dropped.
struct SignalRestore {
    old_action: libc::sigaction,
    old_mask: libc::sigset_t,
}

impl Drop for SignalRestore {
    fn drop(&mut self) {
        // SAFETY: both values were filled by the kernel when the handler was installed and
        // the signal unblocked; restoring them only affects this signal.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut());
            libc::sigaction(COPY_SIGNAL, &self.old_action, std::ptr::null_mut());
        }
    }
}

/// Installs [`record_signal`] for [`COPY_SIGNAL`] without `SA_RESTART` and unblocks the
/// signal in this thread.
fn install_copy_signal() -> SysResult<SignalRestore> {
    // SAFETY: all-zero `sigaction`/`sigset_t` are valid plain-data values, which the calls
    // below fill in; the handler is an `extern "C" fn(c_int)` that only sets an atomic.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = record_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        new.sa_flags = 0;
        libc::sigemptyset(&mut new.sa_mask);
        let mut old_action: libc::sigaction = std::mem::zeroed();
        cvt(libc::sigaction(COPY_SIGNAL, &new, &mut old_action))?;
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, COPY_SIGNAL);
        let mut old_mask: libc::sigset_t = std::mem::zeroed();
        let r = libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, &mut old_mask);
        if r != 0 {
            libc::sigaction(COPY_SIGNAL, &old_action, std::ptr::null_mut());
            return Err(Errno(r));
        }
        Ok(SignalRestore {
            old_action,
            old_mask,
        })
    }
}

/// The size of `fd`'s file, 0 when `fstat` fails.
fn size_of(fd: RawFd) -> u64 {
    fstat_raw(fd).map(|s| s.size).unwrap_or(0)
}

/// `copy_file_range(fd_in, &off_in, fd_out, &off_out, len, 0)` on real descriptors while a
/// second thread sends [`COPY_SIGNAL`] to the calling thread once the destination has
/// grown past its size before the call (the call has copied a chunk and is still running,
/// or has just returned), or [`SIGNAL_FALLBACK`] after it began watching. The handler (no
/// `SA_RESTART`) only records the signal; the previous disposition and mask are restored
/// before returning, after a sent signal has been handled. Also returns whether the signal
/// had been handled when the call returned (it reached the thread during the call).
fn copy_with_signal(
    fd_in: RawFd,
    off_in: &mut i64,
    fd_out: RawFd,
    off_out: &mut i64,
    len: usize,
) -> (SysResult<usize>, bool) {
    let _serial = SIGNAL_STEP.lock().unwrap_or_else(PoisonError::into_inner);
    SIGNAL_SEEN.store(false, Ordering::SeqCst);
    let _restore = match install_copy_signal() {
        Ok(r) => r,
        Err(e) => return (Err(e), false),
    };
    let size0 = size_of(fd_out);
    // SAFETY: `gettid` and `getpid` cannot fail.
    let (tid, pid) = unsafe { (libc::gettid(), libc::getpid()) };
    let done = AtomicBool::new(false);
    let (r, landed, sent) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let t0 = Instant::now();
            loop {
                if done.load(Ordering::SeqCst) {
                    return false;
                }
                if size_of(fd_out) > size0 || t0.elapsed() >= SIGNAL_FALLBACK {
                    // SAFETY: sends a signal to one thread of this process, which has a
                    // handler for it installed above.
                    unsafe {
                        libc::syscall(
                            libc::SYS_tgkill,
                            libc::c_long::from(pid),
                            libc::c_long::from(tid),
                            libc::c_long::from(COPY_SIGNAL),
                        );
                    }
                    return true;
                }
                std::thread::yield_now();
            }
        });
        let (pin, pout): (*mut i64, *mut i64) = (off_in, off_out);
        // SAFETY: the offset pointers point at live `i64`s the kernel may update; every
        // other argument is an integer, passed at the width `syscall` reads.
        let r = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                libc::c_long::from(fd_in),
                pin,
                libc::c_long::from(fd_out),
                pout,
                len,
                0 as libc::c_long,
            )
        };
        let r = cvt_long(r).map(|n| n as usize);
        // A signal sent during the call was handled on its way out, before this line.
        let landed = SIGNAL_SEEN.load(Ordering::SeqCst);
        done.store(true, Ordering::SeqCst);
        (r, landed, watcher.join().unwrap_or(true))
    });
    // A signal sent after the call returned is pending on this thread: every system call
    // returns through signal delivery, so it is handled by the time one returns.
    let mut tries = 0;
    while sent && !SIGNAL_SEEN.load(Ordering::SeqCst) && tries < 10_000 {
        std::thread::yield_now();
        tries += 1;
    }
    (r, landed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Last {
        Last::Name(cs(s))
    }

    fn cs(s: &str) -> CString {
        c_path(s).unwrap()
    }

    #[test]
    fn split_parent_keeps_the_last_component_as_written() {
        assert_eq!(split_parent("/a/b").unwrap(), (cs("/a/"), name("b")));
        assert_eq!(split_parent("/a/b/").unwrap(), (cs("/a/"), name("b/")));
        assert_eq!(split_parent("/a//b//").unwrap(), (cs("/a//"), name("b//")));
        assert_eq!(split_parent("/a").unwrap(), (cs("/"), name("a")));
        assert_eq!(split_parent("a").unwrap(), (cs("."), name("a")));
        assert_eq!(split_parent("/a/..").unwrap(), (cs("/a/"), name("..")));
        assert_eq!(split_parent("/").unwrap(), (cs("/"), Last::Root));
        assert_eq!(split_parent("///").unwrap(), (cs("/"), Last::Root));
    }

    #[test]
    fn split_parent_reports_getname_errors() {
        assert_eq!(split_parent(""), Err(Errno::ENOENT));
        assert_eq!(split_parent("\0/a"), Err(Errno::EINVAL));
        assert_eq!(split_parent(&"/".repeat(4096)), Err(Errno::ENAMETOOLONG));
        assert!(split_parent(&"/".repeat(4095)).is_ok());
        assert_eq!(split_parent("/a\0/b"), Err(Errno::EINVAL));
        assert_eq!(split_parent("/a\0"), Err(Errno::EINVAL));
    }

    #[test]
    fn open_how_mirrors_open() {
        let h = open_how_like_open(libc::O_RDWR | libc::O_CREAT | 0x4000_0000, 0o100_644);
        assert_eq!(
            h.flags as i32,
            libc::O_RDWR | libc::O_CREAT | libc::O_LARGEFILE | libc::O_CLOEXEC
        );
        assert_eq!(h.mode, 0o644, "file-type bits are dropped");
        let h = open_how_like_open(libc::O_RDONLY, 0o644);
        assert_eq!(h.mode, 0, "mode is ignored without O_CREAT/O_TMPFILE");
        let h = open_how_like_open(libc::O_PATH | libc::O_RDWR | libc::O_TRUNC, 0);
        assert_eq!(h.flags as i32, libc::O_PATH | libc::O_CLOEXEC);
        let h = open_how_like_open(libc::O_TMPFILE | libc::O_RDWR, 0o600);
        assert_eq!(h.mode, 0o600);
        assert_eq!(h.resolve, libc::RESOLVE_IN_ROOT);
    }

    #[test]
    fn range_checks_follow_rw_verify_area() {
        assert!(!range_overflows(0, 1 << 40));
        assert!(!range_overflows(i64::MAX - 10, 10));
        assert!(range_overflows(i64::MAX - 10, 11));
        assert!(range_overflows(0, u64::MAX));
        assert!(range_overflows(0, isize::MAX as u64 + 1));
        assert!(
            !range_overflows(-1, 10),
            "a negative offset is pread's own EINVAL"
        );
    }

    #[test]
    fn fs_names() {
        assert_eq!(fs_name(0x9123_683e), "btrfs");
        assert_eq!(fs_name(0x5846_5342), "xfs");
        assert_eq!(fs_name(0x0102_1994), "tmpfs");
        assert_eq!(fs_name(0x1234), "fs 0x1234");
    }
}
