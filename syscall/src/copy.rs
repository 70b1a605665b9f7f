//! copy_file_range(2), the remap ioctls, FIEMAP, and the extended splice.
//!
//! PLACEHOLDER until the "extended splice" work lands: every call answers `ENOSYS`.

use vfs::errno::Errno;
use vfs::extent::FiemapExtent;

use crate::api::{DedupeDest, DedupeOutcome, SysResult};
use crate::process::Process;

impl Process {
    /// `copy_file_range(2)`.
    ///
    /// # Errors
    /// `ENOSYS` (not implemented yet).
    pub fn sys_copy_file_range(
        &mut self,
        _fd_in: i32,
        _off_in: Option<&mut i64>,
        _fd_out: i32,
        _off_out: Option<&mut i64>,
        _len: usize,
        _flags: u32,
    ) -> SysResult<usize> {
        Err(Errno::ENOSYS)
    }

    /// `ioctl(FICLONE)`.
    ///
    /// # Errors
    /// `ENOSYS` (not implemented yet).
    pub fn sys_ficlone(&mut self, _dst_fd: i32, _src_fd: i32) -> SysResult<()> {
        Err(Errno::ENOSYS)
    }

    /// `ioctl(FICLONERANGE)`.
    ///
    /// # Errors
    /// `ENOSYS` (not implemented yet).
    pub fn sys_ficlonerange(
        &mut self,
        _d: i32,
        _s: i32,
        _so: u64,
        _l: u64,
        _do: u64,
    ) -> SysResult<()> {
        Err(Errno::ENOSYS)
    }

    /// `ioctl(FIDEDUPERANGE)`.
    ///
    /// # Errors
    /// `ENOSYS` (not implemented yet).
    pub fn sys_fideduperange(
        &mut self,
        _src_fd: i32,
        _so: u64,
        _l: u64,
        _dests: &[DedupeDest],
    ) -> SysResult<Vec<DedupeOutcome>> {
        Err(Errno::ENOSYS)
    }

    /// `ioctl(FS_IOC_FIEMAP)`.
    ///
    /// # Errors
    /// `ENOSYS` (not implemented yet).
    pub fn sys_fiemap(
        &mut self,
        _fd: i32,
        _s: u64,
        _l: u64,
        _f: u32,
    ) -> SysResult<Vec<FiemapExtent>> {
        Err(Errno::ENOSYS)
    }
}
