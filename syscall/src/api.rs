//! The Linux system-call interface that both splicelab and the real kernel implement.
//!
//! Arguments keep their Linux types and values (raw `O_*` flags, signed `loff_t` offsets,
//! raw `ioctl` fields), so that invalid arguments can be passed on both sides and the
//! errno compared. Data is passed as [`Data`] so that a 1 TiB pattern write does not need a
//! 1 TiB buffer: the real-kernel side materialises it chunk by chunk.

use vfs::Data;
use vfs::errno::Errno;
use vfs::extent::FiemapExtent;

/// Result of a system call: the value, or the errno the kernel returned.
pub type SysResult<T> = Result<T, Errno>;

/// `open(2)` flags (x86-64 / generic values).
pub mod o {
    pub const RDONLY: i32 = 0o0;
    pub const WRONLY: i32 = 0o1;
    pub const RDWR: i32 = 0o2;
    pub const ACCMODE: i32 = 0o3;
    pub const CREAT: i32 = 0o100;
    pub const EXCL: i32 = 0o200;
    pub const NOCTTY: i32 = 0o400;
    pub const TRUNC: i32 = 0o1000;
    pub const APPEND: i32 = 0o2000;
    pub const NONBLOCK: i32 = 0o4000;
    pub const DSYNC: i32 = 0o10000;
    pub const DIRECT: i32 = 0o40000;
    pub const LARGEFILE: i32 = 0o100000;
    pub const DIRECTORY: i32 = 0o200000;
    pub const NOFOLLOW: i32 = 0o400000;
    pub const CLOEXEC: i32 = 0o2000000;
}

/// `lseek(2)` whence values.
pub mod seek {
    pub const SET: i32 = 0;
    pub const CUR: i32 = 1;
    pub const END: i32 = 2;
    pub const DATA: i32 = 3;
    pub const HOLE: i32 = 4;
}

/// `FIEMAP` request flags (`fm_flags`).
pub mod fiemap_req {
    pub const FLAG_SYNC: u32 = 0x1;
    pub const FLAG_XATTR: u32 = 0x2;
    pub const FLAG_CACHE: u32 = 0x4;
}

/// `FILE_DEDUPE_RANGE_*` per-destination status values.
pub mod dedupe {
    pub const SAME: i32 = 0;
    pub const DIFFERS: i32 = 1;
}

/// What `stat(2)` returns (the fields the lab compares).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatBuf {
    pub ino: u64,
    pub is_dir: bool,
    pub is_regular: bool,
    pub size: u64,
    /// 512-byte units.
    pub blocks: u64,
    pub blksize: u64,
    pub nlink: u64,
    /// Device number (distinct per mount).
    pub dev: u64,
}

/// One destination of `FIDEDUPERANGE` (`struct file_dedupe_range_info` input fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupeDest {
    pub fd: i32,
    pub offset: u64,
}

/// What `FIDEDUPERANGE` reports per destination (`bytes_deduped`, `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupeOutcome {
    pub bytes_deduped: u64,
    /// `dedupe::SAME`, `dedupe::DIFFERS`, or a negative errno.
    pub status: i32,
}

/// Linux system calls, as splicelab and the real kernel both offer them.
///
/// Every method returns the errno a Linux 6.x kernel would for the same arguments; file
/// descriptors are per implementation (never compare their numbers across the two sides).
pub trait Syscalls {
    /// A short name for reports ("splicelab btrfs-like", "linux btrfs").
    fn describe(&self) -> String;
    /// `open(2)`; `path` is absolute.
    fn open(&mut self, path: &str, flags: i32, mode: u32) -> SysResult<i32>;
    /// `close(2)`.
    fn close(&mut self, fd: i32) -> SysResult<()>;
    /// `read(2)` at the file position.
    fn read(&mut self, fd: i32, len: usize) -> SysResult<Data>;
    /// `write(2)` at the file position (at EOF with `O_APPEND`).
    fn write(&mut self, fd: i32, data: &Data) -> SysResult<usize>;
    /// `pread64(2)`.
    fn pread(&mut self, fd: i32, len: usize, off: i64) -> SysResult<Data>;
    /// `pwrite64(2)` (Linux writes at EOF on an `O_APPEND` file, ignoring `off`).
    fn pwrite(&mut self, fd: i32, data: &Data, off: i64) -> SysResult<usize>;
    /// `lseek(2)`.
    fn lseek(&mut self, fd: i32, off: i64, whence: i32) -> SysResult<i64>;
    /// `ftruncate(2)`.
    fn ftruncate(&mut self, fd: i32, len: i64) -> SysResult<()>;
    /// `fallocate(2)`.
    fn fallocate(&mut self, fd: i32, mode: i32, off: i64, len: i64) -> SysResult<()>;
    /// `fsync(2)`.
    fn fsync(&mut self, fd: i32) -> SysResult<()>;
    /// `fdatasync(2)`.
    fn fdatasync(&mut self, fd: i32) -> SysResult<()>;
    /// `sync(2)`.
    fn sync(&mut self);
    /// `mkdir(2)`.
    fn mkdir(&mut self, path: &str, mode: u32) -> SysResult<()>;
    /// `unlink(2)`.
    fn unlink(&mut self, path: &str) -> SysResult<()>;
    /// `rmdir(2)`.
    fn rmdir(&mut self, path: &str) -> SysResult<()>;
    /// `rename(2)`.
    fn rename(&mut self, old: &str, new: &str) -> SysResult<()>;
    /// `stat(2)`.
    fn stat(&mut self, path: &str) -> SysResult<StatBuf>;
    /// `fstat(2)`.
    fn fstat(&mut self, fd: i32) -> SysResult<StatBuf>;
    /// `copy_file_range(2)`. `None` offsets use (and advance) the file positions; `Some`
    /// offsets are advanced in place by the bytes copied.
    fn copy_file_range(
        &mut self,
        fd_in: i32,
        off_in: Option<&mut i64>,
        fd_out: i32,
        off_out: Option<&mut i64>,
        len: usize,
        flags: u32,
    ) -> SysResult<usize>;
    /// Lab call: `copy_file_range(fd_in, &off_in, fd_out, &off_out, len, 0)` with a signal
    /// arriving while the call runs, its handler installed without `SA_RESTART` (it only
    /// records the signal). The real kernel (`host::linux`) sends it to the calling thread
    /// once the call has made progress (the destination grew) or shortly after it began;
    /// the simulator makes it pending after `after_chunks` chunks of byte copy
    /// ([`vfs::task::SignalPlan`]; `0`: before the first chunk). A signal not delivered
    /// during the call is delivered after it and changes nothing.
    ///
    /// # Errors
    /// As [`Syscalls::copy_file_range`]; `EINTR` when the signal stopped the call before
    /// any byte moved.
    #[allow(clippy::too_many_arguments)]
    fn copy_file_range_signalled(
        &mut self,
        fd_in: i32,
        off_in: &mut i64,
        fd_out: i32,
        off_out: &mut i64,
        len: usize,
        after_chunks: u64,
    ) -> SysResult<usize>;
    /// Lab: whether the signal of the last [`Syscalls::copy_file_range_signalled`] reached
    /// the caller only after the call had returned, so the call was not interrupted by
    /// chance of timing (the real kernel under load; the simulator delivers its signal
    /// where planned, or not at all, and never misses).
    fn signal_missed(&self) -> bool {
        false
    }
    /// `ioctl(dst, FICLONE, src)`.
    fn ficlone(&mut self, dst_fd: i32, src_fd: i32) -> SysResult<()>;
    /// `ioctl(dst, FICLONERANGE, {src_fd, src_offset, src_length, dest_offset})`.
    fn ficlonerange(
        &mut self,
        dst_fd: i32,
        src_fd: i32,
        src_offset: u64,
        src_length: u64,
        dest_offset: u64,
    ) -> SysResult<()>;
    /// `ioctl(src, FIDEDUPERANGE, …)`: the call's own errno, or one outcome per destination.
    fn fideduperange(
        &mut self,
        src_fd: i32,
        src_offset: u64,
        src_length: u64,
        dests: &[DedupeDest],
    ) -> SysResult<Vec<DedupeOutcome>>;
    /// `ioctl(fd, FS_IOC_FIEMAP, …)` for `[start, start + len)` with `fm_flags`.
    fn fiemap(&mut self, fd: i32, start: u64, len: u64, flags: u32)
    -> SysResult<Vec<FiemapExtent>>;
}
