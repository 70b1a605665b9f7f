//! A simulated process: an fd table, a task, and the Linux entry points over the VFS.
//!
//! Each entry point checks its arguments in the order Linux 6.x does (comments name the
//! kernel function whose order is followed), so that a call with several bad arguments
//! fails with the same errno as on a real kernel.

use std::collections::BTreeMap;

use vfs::data::Data;
use vfs::errno::{Errno, KResult};
use vfs::extent::FileKind;
use vfs::file::{Mode, OpenFile};
use vfs::fs::{Stat, falloc_flags};
use vfs::sync::Arc;
use vfs::task::Task;
use vfs::vfs::{Last, Parent, Vfs};

use crate::api::{DedupeDest, DedupeOutcome, StatBuf, SysResult, Syscalls, o, seek};

/// The most one `read`/`write`/`copy_file_range` moves: `INT_MAX & PAGE_MASK`.
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// Lowest file descriptor handed out (0–2 are the standard streams of a real process).
pub const FIRST_FD: i32 = 3;

/// Most open files per process (`RLIMIT_NOFILE` soft limit).
pub const MAX_FDS: usize = 1024;

/// The path as the lab's system calls take it. A C caller cannot pass a NUL byte inside a
/// path (its string ends there, and the kernel never sees the rest); a Rust `&str` can.
/// The lab's answer is `EINVAL`, before any lookup: the call is refused rather than
/// silently applied to the part before the NUL — as Rust's `std::fs` and Python's `os`
/// refuse such a path before making the call.
///
/// # Errors
/// `EINVAL` for a path that holds a NUL byte.
pub fn c_path(path: &str) -> KResult<&str> {
    if path.contains('\0') {
        return Err(Errno::EINVAL);
    }
    Ok(path)
}

/// A simulated process.
pub struct Process {
    pub vfs: Arc<Vfs>,
    pub task: Task,
    fds: BTreeMap<i32, Arc<OpenFile>>,
}

impl Process {
    /// A process with an empty fd table; `tid` names its task in timelines.
    pub fn new(vfs: Arc<Vfs>, tid: u32) -> Process {
        Process {
            vfs,
            task: Task::new(tid),
            fds: BTreeMap::new(),
        }
    }

    /// The open file behind `fd` (`fdget`).
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn file(&self, fd: i32) -> KResult<Arc<OpenFile>> {
        self.fds.get(&fd).cloned().ok_or(Errno::EBADF)
    }

    /// Open descriptors, lowest first.
    pub fn fds(&self) -> impl Iterator<Item = (i32, &Arc<OpenFile>)> {
        self.fds.iter().map(|(&fd, f)| (fd, f))
    }

    /// Forgets every open file (after a crash nothing is open any more).
    pub fn close_all(&mut self) {
        self.fds.clear();
    }

    fn install(&mut self, f: OpenFile) -> KResult<i32> {
        if self.fds.len() >= MAX_FDS {
            return Err(Errno::EMFILE);
        }
        let fd = (FIRST_FD..)
            .find(|fd| !self.fds.contains_key(fd))
            .expect("fewer than MAX_FDS descriptors are open");
        self.fds.insert(fd, Arc::new(f));
        Ok(fd)
    }

    fn statbuf(st: &Stat, dev: u64) -> StatBuf {
        StatBuf {
            ino: st.ino,
            is_dir: st.kind == FileKind::Directory,
            is_regular: st.kind == FileKind::Regular,
            size: st.size,
            blocks: st.blocks,
            blksize: st.blksize,
            nlink: st.nlink as u64,
            dev,
        }
    }

    /// The shared body of `read`/`pread` after the offset is known (`vfs_read`).
    fn do_read(&self, f: &OpenFile, len: usize, pos: u64) -> KResult<Data> {
        f.check_readable()?;
        // rw_verify_area: a count above SSIZE_MAX, or pos + count past LLONG_MAX.
        vfs::checks::rw_verify_area(pos as i64, len as u64)?;
        let st = f.stat()?;
        if st.kind == FileKind::Directory {
            return Err(Errno::EISDIR);
        }
        let len = (len as u64).min(MAX_RW_COUNT);
        // A read takes the inode lock shared (XFS's IOLOCK_SHARED in xfs_file_buffered_read):
        // readers do not wait for each other, nor for a remap that only reads this file.
        let _g = f.inode.lock.lock_shared(&self.task);
        f.mnt.fs.read(&self.task, f.inode.ino, pos, len)
    }

    /// The shared body of `write`/`pwrite` (`vfs_write` + `generic_write_checks`).
    /// `pos == None` means "at EOF" (`O_APPEND`); `asked` is the position the caller gave
    /// (the offset, or the file position), which `rw_verify_area` checks even then.
    fn do_write(
        &self,
        f: &OpenFile,
        data: &Data,
        pos: Option<u64>,
        asked: u64,
    ) -> KResult<(usize, u64)> {
        f.check_writable()?;
        vfs::checks::rw_verify_area(asked as i64, data.len())?;
        let fs = &f.mnt.fs;
        let _g = f.inode.lock.lock(&self.task);
        let st = f.stat()?;
        if st.attrs.immutable {
            return Err(Errno::EPERM);
        }
        let mut len = (data.len()).min(MAX_RW_COUNT);
        // generic_write_checks: nothing to write returns before O_APPEND moves the
        // position to EOF, so a zero-length write leaves it where it was (measured on
        // btrfs, XFS and tmpfs; found by the conform random mode, seed 1, case 1911).
        if len == 0 {
            return Ok((0, asked));
        }
        let pos = pos.unwrap_or(st.size);
        // generic_write_checks_count: nothing may start at or past s_maxbytes.
        let max = fs.max_file_size();
        if pos >= max {
            return Err(Errno::EFBIG);
        }
        len = len.min(max - pos);
        let n = fs.write(&self.task, f.inode.ino, pos, &data.slice(0, len))?;
        Ok((n as usize, pos + n))
    }

    /// `chattr`-style attribute change by path (a lab command; Linux uses `FS_IOC_SETFLAGS`).
    ///
    /// # Errors
    /// Path lookup errors.
    pub fn set_attrs(&mut self, path: &str, attrs: vfs::extent::Attrs) -> KResult<()> {
        let (mnt, ino) = self.vfs.resolve(c_path(path)?)?;
        mnt.fs.set_attrs(&self.task, ino, attrs)
    }
}

impl Syscalls for Process {
    fn describe(&self) -> String {
        let root = self.vfs.mounts().into_iter().next();
        format!(
            "splicelab {}",
            root.map(|m| m.fs.fs_type().to_string()).unwrap_or_default()
        )
    }

    /// `open(2)` (`do_sys_open` → `path_openat`): `EINVAL` for an invalid access mode or
    /// for `O_CREAT | O_DIRECTORY` (`build_open_flags`, Linux 6.4 and later: nothing is
    /// created); the path's errors ([`c_path`]); `EMFILE` when the table is full (the
    /// descriptor is reserved before the lookup, so nothing is created then either); the
    /// lookup's errors ([`Vfs::resolve_parent`]); with `O_CREAT`, `EISDIR`
    /// for a trailing `/` (`open("n/", O_CREAT)` never creates a file), then `EEXIST` for
    /// `O_EXCL` on anything that exists (`.`, `..` and `/` included) and `EISDIR` for a
    /// directory; without it, `ENOENT`/`ENAMETOOLONG` for the last name and `ENOTDIR` for a
    /// trailing `/` after a file; `EISDIR` for a directory opened for writing;
    /// `ENOTDIR` for `O_DIRECTORY` on a file; `EPERM` for write access to an immutable file or non-append
    /// write access to an append-only one.
    fn open(&mut self, path: &str, flags: i32, _mode: u32) -> SysResult<i32> {
        let acc = flags & o::ACCMODE;
        if acc == o::ACCMODE {
            return Err(Errno::EINVAL);
        }
        // build_open_flags: O_DIRECTORY | O_CREAT once created a regular file and then
        // failed with ENOTDIR; Linux 6.4 refuses the pair before any lookup.
        if flags & (o::DIRECTORY | o::CREAT) == o::DIRECTORY | o::CREAT {
            return Err(Errno::EINVAL);
        }
        let mode = Mode {
            read: acc == o::RDONLY || acc == o::RDWR,
            write: acc == o::WRONLY || acc == o::RDWR,
            append: flags & o::APPEND != 0,
        };
        let path = c_path(path)?;
        // get_unused_fd_flags runs before do_filp_open: a full table creates nothing.
        if self.fds.len() >= MAX_FDS {
            return Err(Errno::EMFILE);
        }
        let (mnt, ino) = if flags & o::CREAT != 0 {
            // open_last_lookups: with O_CREAT a trailing slash is EISDIR before any lookup.
            let p = self.vfs.resolve_parent(path)?;
            // `.`, `..`, `/` and a mount point name an existing directory (do_open).
            let existing_dir = || {
                Err(if flags & o::EXCL != 0 {
                    Errno::EEXIST
                } else {
                    Errno::EISDIR
                })
            };
            let Last::Name(name) = &p.last else {
                return existing_dir();
            };
            if p.slash {
                return Err(Errno::EISDIR);
            }
            if p.covered.is_some() {
                return existing_dir();
            }
            let Parent { mnt, dir, .. } = p;
            match mnt.fs.lookup(dir, name) {
                Ok(ino) => {
                    if flags & o::EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    if mnt.fs.getattr(ino)?.kind == FileKind::Directory {
                        return Err(Errno::EISDIR);
                    }
                    (mnt, ino)
                }
                Err(Errno::ENOENT) => {
                    let ino = mnt.fs.create(&self.task, dir, name, FileKind::Regular)?;
                    (mnt, ino)
                }
                Err(e) => return Err(e),
            }
        } else {
            self.vfs.resolve(path)?
        };
        // A racing unlink may evict the inode right after the lookup: it came first.
        let gone = |e| if e == Errno::ESTALE { Errno::ENOENT } else { e };
        let st = mnt.fs.getattr(ino).map_err(gone)?;
        if st.kind == FileKind::Directory && (mode.write || flags & o::TRUNC != 0) {
            return Err(Errno::EISDIR);
        }
        if flags & o::DIRECTORY != 0 && st.kind != FileKind::Directory {
            return Err(Errno::ENOTDIR);
        }
        // O_TRUNC asks for write permission too (build_open_flags adds MAY_WRITE), and
        // truncates even a read-only open (do_open → handle_truncate).
        let trunc = flags & o::TRUNC != 0 && st.kind == FileKind::Regular;
        if (mode.write || trunc)
            && (st.attrs.immutable || (st.attrs.append_only && (trunc || !mode.append)))
        {
            return Err(Errno::EPERM);
        }
        let inode = mnt.inode(ino);
        if trunc && st.size != 0 {
            let _g = inode.lock.lock(&self.task);
            mnt.fs.truncate(&self.task, ino, 0)?;
        }
        let f = OpenFile::new(mnt, inode, mode, path.to_string());
        // An unlink racing this open may have evicted the inode between the lookup and the
        // open count (Linux's dentry reference closes that window): the unlink came first.
        f.stat().map_err(gone)?;
        self.install(f)
    }

    fn close(&mut self, fd: i32) -> SysResult<()> {
        self.fds.remove(&fd).map(drop).ok_or(Errno::EBADF)
    }

    fn read(&mut self, fd: i32, len: usize) -> SysResult<Data> {
        let f = self.file(fd)?;
        let d = self.do_read(&f, len, f.pos())?;
        f.set_pos(f.pos() + d.len());
        Ok(d)
    }

    fn write(&mut self, fd: i32, data: &Data) -> SysResult<usize> {
        let f = self.file(fd)?;
        let pos = (!f.mode.append).then(|| f.pos());
        let (n, end) = self.do_write(&f, data, pos, f.pos())?;
        f.set_pos(end);
        Ok(n)
    }

    /// `pread64(2)` (`ksys_pread64`): a negative offset is `EINVAL` before the fd is looked
    /// at; then `EBADF`; `EISDIR` for a directory.
    fn pread(&mut self, fd: i32, len: usize, off: i64) -> SysResult<Data> {
        if off < 0 {
            return Err(Errno::EINVAL);
        }
        let f = self.file(fd)?;
        self.do_read(&f, len, off as u64)
    }

    /// `pwrite64(2)` (`ksys_pwrite64`): `EINVAL` for a negative offset, then `EBADF`,
    /// `EFBIG` at the size limit. With `O_APPEND` Linux writes at EOF whatever `off` says.
    fn pwrite(&mut self, fd: i32, data: &Data, off: i64) -> SysResult<usize> {
        if off < 0 {
            return Err(Errno::EINVAL);
        }
        let f = self.file(fd)?;
        let pos = (!f.mode.append).then_some(off as u64);
        Ok(self.do_write(&f, data, pos, off as u64)?.0)
    }

    /// `lseek(2)`: `EBADF`; `EINVAL` for a bad whence or a negative result; `ENXIO` for
    /// `SEEK_DATA`/`SEEK_HOLE` at or past EOF (or no data after the offset). A negative
    /// offset for `SEEK_DATA`/`SEEK_HOLE` goes to the filesystem as the unsigned value it
    /// is (past any EOF: `ENXIO`), since btrfs treats it differently.
    fn lseek(&mut self, fd: i32, off: i64, whence: i32) -> SysResult<i64> {
        let f = self.file(fd)?;
        let st = f.stat()?;
        let new = match whence {
            seek::SET => off,
            // generic_file_llseek_size: the sum wraps negative, and vfs_setpos says EINVAL.
            seek::CUR => (f.pos() as i64).checked_add(off).ok_or(Errno::EINVAL)?,
            seek::END => (st.size as i64).checked_add(off).ok_or(Errno::EINVAL)?,
            seek::DATA | seek::HOLE => {
                if st.kind == FileKind::Directory {
                    return Err(Errno::ENXIO);
                }
                f.mnt
                    .fs
                    .seek_data_hole(f.inode.ino, off as u64, whence == seek::DATA)?
                    as i64
            }
            _ => return Err(Errno::EINVAL),
        };
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        f.set_pos(new as u64);
        Ok(new)
    }

    /// `ftruncate(2)` (`do_sys_ftruncate`): `EINVAL` for a negative length (before the fd
    /// is looked at), `EBADF`, `EINVAL` for a non-regular file or a read-only descriptor,
    /// `EPERM` for an append-only or immutable file, `EFBIG` past the size limit.
    fn ftruncate(&mut self, fd: i32, len: i64) -> SysResult<()> {
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        let f = self.file(fd)?;
        let st = f.stat()?;
        if st.kind != FileKind::Regular || !f.mode.write {
            return Err(Errno::EINVAL);
        }
        if st.attrs.append_only || st.attrs.immutable {
            return Err(Errno::EPERM);
        }
        if len as u64 > f.mnt.fs.max_file_size() {
            return Err(Errno::EFBIG);
        }
        let _g = f.inode.lock.lock(&self.task);
        f.mnt.fs.truncate(&self.task, f.inode.ino, len as u64)
    }

    /// `fallocate(2)` (`vfs_fallocate`): `EBADF`; `EINVAL` for a negative offset or a
    /// non-positive length; `EOPNOTSUPP` for unknown bits or a combination Linux 6.13+
    /// refuses (two operations at once, punch without keep-size, collapse/insert/
    /// write-zeroes with keep-size); `EBADF` if not open for writing; `EPERM` (append-only with anything but
    /// keep-size, immutable); `ETXTBSY` (swap file); `EISDIR`; `EFBIG` past the size
    /// limit; then the filesystem (`EOPNOTSUPP` for modes it lacks, `ENOSPC`).
    fn fallocate(&mut self, fd: i32, mode: i32, off: i64, len: i64) -> SysResult<()> {
        use falloc_flags::*;
        let f = self.file(fd)?;
        let mode = mode as u32;
        if off < 0 || len <= 0 {
            return Err(Errno::EINVAL);
        }
        // FALLOC_FL_WRITE_ZEROES (Linux 6.17+): known to the VFS, implemented by no model.
        const WRITE_ZEROES: u32 = 0x80;
        let ops =
            PUNCH_HOLE | COLLAPSE_RANGE | ZERO_RANGE | INSERT_RANGE | UNSHARE_RANGE | WRITE_ZEROES;
        if mode & !(ops | KEEP_SIZE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        // Exactly one operation (or plain allocation), with the keep-size rule of each.
        let keep = mode & KEEP_SIZE != 0;
        match mode & ops {
            0 | UNSHARE_RANGE | ZERO_RANGE => {}
            PUNCH_HOLE if keep => {}
            COLLAPSE_RANGE | INSERT_RANGE | WRITE_ZEROES if !keep => {}
            _ => return Err(Errno::EOPNOTSUPP),
        }
        if !f.mode.write {
            return Err(Errno::EBADF);
        }
        let st = f.stat()?;
        if mode & !KEEP_SIZE != 0 && st.attrs.append_only {
            return Err(Errno::EPERM);
        }
        if st.attrs.immutable {
            return Err(Errno::EPERM);
        }
        if st.attrs.swapfile {
            return Err(Errno::ETXTBSY);
        }
        if st.kind == FileKind::Directory {
            return Err(Errno::EISDIR);
        }
        match (off as u64).checked_add(len as u64) {
            Some(end) if end <= f.mnt.fs.max_file_size() && end <= i64::MAX as u64 => {}
            _ => return Err(Errno::EFBIG),
        }
        let _g = f.inode.lock.lock(&self.task);
        f.mnt
            .fs
            .fallocate(&self.task, f.inode.ino, mode, off as u64, len as u64)
    }

    fn fsync(&mut self, fd: i32) -> SysResult<()> {
        let f = self.file(fd)?;
        f.mnt.fs.fsync(&self.task, f.inode.ino, false)
    }

    fn fdatasync(&mut self, fd: i32) -> SysResult<()> {
        let f = self.file(fd)?;
        f.mnt.fs.fsync(&self.task, f.inode.ino, true)
    }

    fn sync(&mut self) {
        for m in self.vfs.mounts() {
            let _ = m.fs.sync_fs(&self.task);
        }
    }

    /// `mkdir(2)` (`filename_create`): the path's errors; `EEXIST` for `.`, `..`, `/`
    /// and a mount point; then the filesystem's answer (`ENAMETOOLONG`, `EEXIST`,
    /// `ENOSPC`). A trailing `/` is allowed: the new name is a directory.
    fn mkdir(&mut self, path: &str, _mode: u32) -> SysResult<()> {
        let p = self.vfs.resolve_parent(c_path(path)?)?;
        let Some(name) = p.name().filter(|_| p.covered.is_none()) else {
            return Err(Errno::EEXIST);
        };
        p.mnt
            .fs
            .create(&self.task, p.dir, name, FileKind::Directory)?;
        Ok(())
    }

    /// `unlink(2)` (`do_unlinkat`): the path's errors; `EISDIR` for `.`, `..`, `/` and a
    /// mount point; `ENOENT`/`ENAMETOOLONG` for the name; with a trailing `/`, `EISDIR`
    /// for a directory and `ENOTDIR` for anything else (never an unlink); then the
    /// filesystem's answer (`EISDIR` for a directory).
    fn unlink(&mut self, path: &str) -> SysResult<()> {
        let p = self.vfs.resolve_parent(c_path(path)?)?;
        let Some(name) = p.name().filter(|_| p.covered.is_none()) else {
            return Err(Errno::EISDIR);
        };
        if p.slash {
            let ino = p.mnt.fs.lookup(p.dir, name)?;
            return Err(match p.mnt.fs.getattr(ino)?.kind {
                FileKind::Directory => Errno::EISDIR,
                _ => Errno::ENOTDIR,
            });
        }
        let ino = p.mnt.fs.remove(&self.task, p.dir, name, false)?;
        p.mnt.unlinked(ino);
        Ok(())
    }

    /// `rmdir(2)` (`do_rmdir`): the path's errors; `ENOTEMPTY` for `..`, `EINVAL` for `.`,
    /// `EBUSY` for `/` and a mount point; then the filesystem's answer (`ENOENT`,
    /// `ENAMETOOLONG`, `ENOTDIR`, `ENOTEMPTY`).
    fn rmdir(&mut self, path: &str) -> SysResult<()> {
        let p = self.vfs.resolve_parent(c_path(path)?)?;
        let name = match &p.last {
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Dot => return Err(Errno::EINVAL),
            Last::Root => return Err(Errno::EBUSY),
            Last::Name(_) if p.covered.is_some() => return Err(Errno::EBUSY),
            Last::Name(n) => n,
        };
        let ino = p.mnt.fs.remove(&self.task, p.dir, name, true)?;
        p.mnt.unlinked(ino);
        Ok(())
    }

    /// `rename(2)` (`do_renameat2`): the old path's errors, then the new one's; `EXDEV`
    /// across mounts; `EBUSY` when either path ends in `.`, `..` or is `/`, or names a
    /// mount point; `ENOENT`/`ENAMETOOLONG` for the old name, `ENAMETOOLONG` for the new
    /// one; `ENOTDIR` for a trailing `/` on either side when the source is not a
    /// directory; `ENOTEMPTY` for a target that is an ancestor of the source; then the
    /// filesystem's answer.
    fn rename(&mut self, old: &str, new: &str) -> SysResult<()> {
        let o = self.vfs.resolve_parent(c_path(old)?)?;
        let n = self.vfs.resolve_parent(c_path(new)?)?;
        if o.mnt.dev != n.mnt.dev {
            return Err(Errno::EXDEV);
        }
        let (Some(oname), Some(nname)) = (o.name(), n.name()) else {
            return Err(Errno::EBUSY);
        };
        if o.covered.is_some() || n.covered.is_some() {
            return Err(Errno::EBUSY);
        }
        let fs = &o.mnt.fs;
        let src = fs.lookup(o.dir, oname)?;
        let target = match fs.lookup(n.dir, nname) {
            Ok(t) => Some(t),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        if (o.slash || n.slash) && fs.getattr(src)?.kind != FileKind::Directory {
            return Err(Errno::ENOTDIR);
        }
        // The filesystem answers EINVAL for a directory moved into itself; a target that
        // is an ancestor of the source is ENOTEMPTY, before any check of the two kinds.
        if target.is_some_and(|t| o.walked_through(o.mnt.dev, t)) {
            return Err(Errno::ENOTEMPTY);
        }
        if let Some(replaced) = fs.rename(&self.task, o.dir, oname, n.dir, nname)? {
            o.mnt.unlinked(replaced);
        }
        Ok(())
    }

    fn stat(&mut self, path: &str) -> SysResult<StatBuf> {
        let (mnt, ino) = self.vfs.resolve(c_path(path)?)?;
        Ok(Self::statbuf(&mnt.fs.getattr(ino)?, mnt.dev))
    }

    fn fstat(&mut self, fd: i32) -> SysResult<StatBuf> {
        let f = self.file(fd)?;
        Ok(Self::statbuf(&f.stat()?, f.mnt.dev))
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
        self.sys_copy_file_range(fd_in, off_in, fd_out, off_out, len, flags)
    }

    fn copy_file_range_signalled(
        &mut self,
        fd_in: i32,
        off_in: &mut i64,
        fd_out: i32,
        off_out: &mut i64,
        len: usize,
        after_chunks: u64,
    ) -> SysResult<usize> {
        self.task.plan_signal(vfs::task::SignalPlan {
            after_chunks: Some(after_chunks),
        });
        let r = self.sys_copy_file_range(fd_in, Some(off_in), fd_out, Some(off_out), len, 0);
        // Not delivered during the call: its handler runs after it, which changes nothing.
        self.task.plan_signal(vfs::task::SignalPlan::default());
        r
    }

    fn ficlone(&mut self, dst_fd: i32, src_fd: i32) -> SysResult<()> {
        self.sys_ficlone(dst_fd, src_fd)
    }

    fn ficlonerange(
        &mut self,
        dst_fd: i32,
        src_fd: i32,
        src_offset: u64,
        src_length: u64,
        dest_offset: u64,
    ) -> SysResult<()> {
        self.sys_ficlonerange(dst_fd, src_fd, src_offset, src_length, dest_offset)
    }

    fn fideduperange(
        &mut self,
        src_fd: i32,
        src_offset: u64,
        src_length: u64,
        dests: &[DedupeDest],
    ) -> SysResult<Vec<DedupeOutcome>> {
        self.sys_fideduperange(src_fd, src_offset, src_length, dests)
    }

    fn fiemap(
        &mut self,
        fd: i32,
        start: u64,
        len: u64,
        flags: u32,
    ) -> SysResult<Vec<vfs::extent::FiemapExtent>> {
        self.sys_fiemap(fd, start, len, flags)
    }
}
