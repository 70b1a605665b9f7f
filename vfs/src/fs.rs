//! The filesystem interface.
//!
//! A model implements [`FileSystem`]; the VFS calls it with the inode locks already held
//! where the kernel would hold them. Optional operations have default methods that answer
//! `EOPNOTSUPP`, as a NULL method in `struct file_operations` does.

use crate::clock::CostModel;
use crate::data::Data;
use crate::errno::{Errno, KResult};
use crate::extent::{Attrs, FiemapExtent, FileKind, Image, Ino};
use crate::remap::StagedRemap;
use crate::sync::Arc;
use crate::task::Task;

/// `REMAP_FILE_*` flags of `->remap_file_range`.
pub mod remap_flags {
    /// Compare contents first; share only if equal (`FIDEDUPERANGE`).
    pub const DEDUP: u32 = 1 << 0;
    /// The call may do less than asked (copy_file_range's use of remap).
    pub const CAN_SHORTEN: u32 = 1 << 1;
    /// Advisory: the filesystem may ignore the request (equals CAN_SHORTEN on Linux).
    pub const ADVISORY: u32 = CAN_SHORTEN;
}

/// `fallocate(2)` mode bits.
/// `FIEMAP_FLAG_XATTR`: map the extended-attribute fork instead of the data.
pub const FIEMAP_FLAG_XATTR: u32 = 0x2;

pub mod falloc_flags {
    pub const KEEP_SIZE: u32 = 0x01;
    pub const PUNCH_HOLE: u32 = 0x02;
    pub const NO_HIDE_STALE: u32 = 0x04;
    pub const COLLAPSE_RANGE: u32 = 0x08;
    pub const ZERO_RANGE: u32 = 0x10;
    pub const INSERT_RANGE: u32 = 0x20;
    pub const UNSHARE_RANGE: u32 = 0x40;
}

/// What `stat` reports about an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub ino: Ino,
    pub kind: FileKind,
    pub size: u64,
    /// Allocated space in 512-byte units (shared blocks count for every file).
    pub blocks: u64,
    /// Preferred I/O size (the block or cluster size).
    pub blksize: u64,
    pub nlink: u32,
    pub attrs: Attrs,
    /// Change counter (stands in for mtime).
    pub version: u64,
}

impl Stat {
    /// Builds the `stat` of inode `ino` of `image`.
    ///
    /// # Errors
    /// `ESTALE` if the inode does not exist.
    pub fn of(image: &Image, ino: Ino) -> KResult<Stat> {
        let n = image.inode(ino)?;
        let bs = image.block_size();
        let blocks = if let Some(d) = &n.inline {
            d.len().div_ceil(512)
        } else {
            n.mapped * bs / 512
        };
        Ok(Stat {
            ino,
            kind: n.kind,
            size: n.size,
            blocks,
            blksize: bs,
            nlink: n.nlink,
            attrs: n.attrs,
            version: n.version,
        })
    }
}

/// What `statfs` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatFs {
    pub block_size: u64,
    pub blocks: u64,
    pub free: u64,
}

/// How an offloaded copy (`->copy_file_range`, e.g. NFS COPY) may be done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyHow {
    /// The caller forbids shared references (never-share splice). A filesystem that cannot
    /// promise this must answer `EOPNOTSUPP` so the VFS byte-copies instead.
    pub no_share: bool,
    /// Do not wait for an unfinished asynchronous copy: `EAGAIN`.
    pub nonblock: bool,
}

/// A fault to inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A media error on the physical block behind byte `off` of inode `ino`.
    MediaError { ino: Ino, off: u64 },
    /// The `n`th allocation from now fails with `ENOSPC` (1 = the next one).
    EnospcAfter { n: u64 },
    /// The server reboots (nfs-like).
    Reboot,
    /// The server reboots as soon as an asynchronous copy has done `bytes` bytes, at the
    /// end of that server chunk (nfs-like; one shot): a copy lost in flight.
    RebootAfterCopied { bytes: u64 },
    /// The network drops everything for this many virtual nanoseconds (nfs-like).
    Partition { ns: u64 },
}

/// Who a fault hit: `(inode, byte offset)` of every file that references the damaged block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultReport {
    pub hits: Vec<(Ino, u64)>,
    /// A sentence for people.
    pub note: String,
}

/// A mounted filesystem model.
pub trait FileSystem: Send + Sync {
    /// The model's name (`"btrfs-like"`).
    fn fs_type(&self) -> &str;
    /// Geometry and free space.
    fn statfs(&self) -> StatFs;
    /// The cost model that charges this filesystem's work.
    fn cost(&self) -> &CostModel;
    /// Byte copies proceed in chunks of this many bytes (mount option; default 1 MiB).
    fn chunk_size(&self) -> u64 {
        1 << 20
    }
    /// The most bytes one request to storage carries: nfs-like's `wsize` (a write-back of
    /// `n` bytes is `n / io_size` round trips); unbounded for a local model. For checkers
    /// that bound how long a flush may hold a lock.
    fn io_size(&self) -> u64 {
        u64::MAX
    }
    /// The largest file size (`s_maxbytes`).
    fn max_file_size(&self) -> u64 {
        i64::MAX as u64
    }
    /// The block size that remap alignment is checked against.
    fn remap_block_size(&self) -> u64 {
        self.statfs().block_size
    }

    // ------------------------------------------------------------ namespace

    /// Looks up a name. # Errors: `ENOENT`, `ENOTDIR`, `ENAMETOOLONG`.
    fn lookup(&self, dir: Ino, name: &str) -> KResult<Ino>;
    /// Creates a file or directory. # Errors: `EEXIST`, `ENOTDIR`, `ENOSPC`.
    fn create(&self, task: &Task, dir: Ino, name: &str, kind: FileKind) -> KResult<Ino>;
    /// Unlinks or (with `rmdir`) removes a directory; returns the unlinked inode.
    fn remove(&self, task: &Task, dir: Ino, name: &str, rmdir: bool) -> KResult<Ino>;
    /// Renames; returns the replaced inode, if any.
    fn rename(
        &self,
        task: &Task,
        odir: Ino,
        oname: &str,
        ndir: Ino,
        nname: &str,
    ) -> KResult<Option<Ino>>;
    /// The last reference to an unlinked inode went away: free it.
    fn evict(&self, ino: Ino);
    /// `stat`.
    fn getattr(&self, ino: Ino) -> KResult<Stat>;
    /// `chattr`-style attributes.
    fn set_attrs(&self, task: &Task, ino: Ino, attrs: Attrs) -> KResult<()>;

    // ------------------------------------------------------------ data

    /// Reads up to `len` bytes at `off` (short at EOF).
    fn read(&self, task: &Task, ino: Ino, off: u64, len: u64) -> KResult<Data>;
    /// Writes `data` at `off`, extending the size; returns bytes written.
    fn write(&self, task: &Task, ino: Ino, off: u64, data: &Data) -> KResult<u64>;
    /// Sets the size.
    fn truncate(&self, task: &Task, ino: Ino, size: u64) -> KResult<()>;
    /// `fallocate` with a mode from [`falloc_flags`].
    fn fallocate(&self, task: &Task, ino: Ino, mode: u32, off: u64, len: u64) -> KResult<()>;
    /// Writes the inode's page cache back and makes it durable; what else becomes durable
    /// with it is the model's journal rule ([`crate::crash::Atomicity`]).
    fn fsync(&self, task: &Task, ino: Ino, datasync: bool) -> KResult<()>;
    /// `syncfs`.
    fn sync_fs(&self, task: &Task) -> KResult<()>;
    /// Writes the inode's page cache back to the device, making nothing durable by itself
    /// (`filemap_write_and_wait`, as `FIEMAP_FLAG_SYNC` asks). Default: nothing to do.
    ///
    /// # Errors
    /// `ESTALE`.
    fn write_back(&self, _task: &Task, _ino: Ino) -> KResult<()> {
        Ok(())
    }
    /// Makes namespace and attribute changes durable without writing back any file's data:
    /// what knfsd's `commit_metadata` asks of an exported filesystem before it replies to
    /// CREATE, REMOVE, RENAME or SETATTR (XFS forces its log; btrfs, through
    /// `write_inode`, commits the transaction). Default: `fsync(ino)`.
    ///
    /// # Errors
    /// As [`FileSystem::fsync`].
    fn commit_metadata(&self, task: &Task, ino: Ino) -> KResult<()> {
        self.fsync(task, ino, false)
    }
    /// `SEEK_DATA` (`data`) / `SEEK_HOLE`.
    fn seek_data_hole(&self, ino: Ino, off: u64, data: bool) -> KResult<u64>;
    /// `SEEK_HOLE` from `off` that looks no further than byte `limit`: the first hole at or
    /// after `off`, or `limit` when none starts before it. For a copy loop that needs where
    /// the data of its next step ends (the nfs-like server's COPY): a model whose hole
    /// search walks its extents bounds the walk by the step, not by the file. Default: the
    /// full `SEEK_HOLE`, clamped.
    ///
    /// # Errors
    /// As [`FileSystem::seek_data_hole`].
    fn seek_hole_within(&self, ino: Ino, off: u64, limit: u64) -> KResult<u64> {
        self.seek_data_hole(ino, off, false)
            .map(|h| h.min(limit.max(off)))
    }
    /// The first byte of `[from, to)` that a block backs — data, or an unwritten
    /// (preallocated) extent, which `SEEK_DATA` may call a hole but which can be shared —
    /// with the end of the backed run from there, at most `max_run` bytes and capped at
    /// `to`; `None` when the range is a hole. Default: from FIEMAP, or from
    /// `SEEK_DATA`/`SEEK_HOLE` where there is no FIEMAP (unwritten extents then count as
    /// holes). A model answers in O(log n + extents in the run).
    ///
    /// # Errors
    /// Those of FIEMAP or SEEK.
    fn backed_run(
        &self,
        ino: Ino,
        from: u64,
        to: u64,
        max_run: u64,
    ) -> KResult<Option<(u64, u64)>> {
        let cap = |start: u64, end: u64| end.min(to).min(start.saturating_add(max_run));
        match self.fiemap(ino) {
            Ok(map) => Ok(map
                .iter()
                .filter(|e| e.logical < to && e.logical.saturating_add(e.length) > from)
                .map(|e| {
                    let start = e.logical.max(from);
                    (start, cap(start, e.logical.saturating_add(e.length)))
                })
                .min()),
            Err(_) => match self.seek_data_hole(ino, from, true) {
                Ok(p) if p < to => {
                    let end = match self.seek_hole_within(ino, p, cap(p, to)) {
                        Ok(h) if h > p => h,
                        _ => to,
                    };
                    Ok(Some((p, cap(p, end))))
                }
                Ok(_) | Err(Errno::ENXIO) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
    /// `FS_IOC_FIEMAP`.
    fn fiemap(&self, _ino: Ino) -> KResult<Vec<FiemapExtent>> {
        Err(Errno::EOPNOTSUPP)
    }
    /// FIEMAP request flags the filesystem accepts besides `FIEMAP_FLAG_SYNC` (the
    /// `supported_flags` it passes to `fiemap_prep`): [`FIEMAP_FLAG_XATTR`] on XFS. Default
    /// none (`EBADR` for any other flag).
    fn fiemap_flags_supported(&self) -> u32 {
        0
    }

    // ------------------------------------------------------------ copy offload

    /// Whether the filesystem has a `->remap_file_range` method at all (as opposed to one
    /// that refuses this particular request). The VFS needs to know before it calls: for
    /// `FIDEDUPERANGE` a missing method is a call-level `EOPNOTSUPP` checked before the
    /// range checks. Default: no method, like the default [`FileSystem::remap_file_range`].
    fn has_remap(&self) -> bool {
        false
    }

    /// `->remap_file_range`: share (or, with [`remap_flags::DEDUP`], dedupe) `len` bytes;
    /// returns bytes remapped. Called with both inode locks held; the VFS has done the
    /// file-level checks, the filesystem does `generic_remap_file_range_prep`'s.
    fn remap_file_range(
        &self,
        _task: &Task,
        _src: Ino,
        _soff: u64,
        _dst: Ino,
        _doff: u64,
        _len: u64,
        _flags: u32,
    ) -> KResult<u64> {
        Err(Errno::EOPNOTSUPP)
    }

    /// `remap=swap`, first half: builds the remap `remap_file_range` would do against a
    /// stable view of both inodes, with neither inode lock held, charging the build to
    /// `task`'s clock, and changes nothing. `Ok(None)`: this filesystem (or this request,
    /// e.g. one that must allocate) is not staged; the VFS takes the locked path. An error
    /// is the remap's answer for the state it saw (nothing changed). Default: not staged.
    ///
    /// # Errors
    /// What `remap_file_range` would answer for the inodes as they were when staged.
    #[allow(clippy::too_many_arguments)]
    fn remap_stage(
        &self,
        _task: &Task,
        _src: Ino,
        _soff: u64,
        _dst: Ino,
        _doff: u64,
        _len: u64,
        _flags: u32,
    ) -> KResult<Option<StagedRemap>> {
        Ok(None)
    }

    /// `remap=swap`, second half: called with both inode locks held (the source's shared,
    /// the destination's exclusive); installs `plan` if neither inode changed since it was
    /// staged and returns the bytes remapped, or `Ok(None)` when the plan is stale (nothing
    /// changed). Charges only the install ([`crate::clock::CostModel::install`]).
    ///
    /// # Errors
    /// `ESTALE` if an inode is gone; what installing fails with (nothing changed).
    fn remap_install(&self, _task: &Task, _plan: &StagedRemap) -> KResult<Option<u64>> {
        Ok(None)
    }

    /// Whether the filesystem has a `->copy_file_range` method (an offloaded copy, such as
    /// NFS COPY) that would take a copy done `how`: false when it has none, or when it
    /// refuses such copies outright without looking at the files (nfs-like `policy=strict`
    /// and a never-share copy its server cannot promise). The VFS offers it every copy
    /// between two of its files it would take, as `vfs_copy_file_range` does, holding the
    /// destination's inode lock around each call.
    fn offers_copy(&self, _how: CopyHow) -> bool {
        false
    }
    /// After a never-share byte copy wrote `[off, off + len)` of `ino` through this
    /// filesystem: make sure that no block backing that range is shared with another file
    /// before the splice returns (spec §2). A local model writes its page cache into new
    /// blocks at `write` time (copy-on-write in the live image), so there is nothing to do;
    /// a network client that caches the bytes sends them, so that the server's file system
    /// moves the range off blocks it shares. A write-back that fails leaves the bytes
    /// cached, to be sent (and the error reported) by the file's next write-back or
    /// `fsync`, as with any write-back.
    fn unshare_copied(&self, _task: &Task, _ino: Ino, _off: u64, _len: u64) {}
    /// `->copy_file_range`: an offloaded copy (NFS COPY). Returns bytes copied, which may
    /// be fewer than asked (the caller continues from there); 0 only at the source EOF.
    /// `EOPNOTSUPP` declines the request (the VFS then copies bytes).
    fn copy_file_range(
        &self,
        _task: &Task,
        _src: Ino,
        _soff: u64,
        _dst: Ino,
        _doff: u64,
        _len: u64,
        _how: CopyHow,
    ) -> KResult<u64> {
        Err(Errno::EOPNOTSUPP)
    }

    // ------------------------------------------------------------ the lab

    /// A snapshot of the on-disk image (for nfs-like: the server's), for checks and pictures.
    fn image(&self) -> Image;
    /// Invariant problems, one line each; empty when clean.
    fn fsck(&self) -> Vec<String> {
        self.image().fsck()
    }
    /// Every image a crash now could recover to (after recovery), oldest first.
    fn crash_states(&self) -> Vec<Image>;
    /// Whether nothing survives a crash (tmpfs): `fsync` is then no durability point.
    fn volatile(&self) -> bool {
        false
    }
    /// Crashes to permitted state `pick` (clamped); all volatile state is lost.
    fn crash(&self, pick: usize);
    /// Injects a fault.
    fn inject(&self, task: &Task, fault: Fault) -> KResult<FaultReport>;
    /// How many times this filesystem's server has rebooted ([`Fault::Reboot`], or an
    /// armed [`Fault::RebootAfterCopied`] that fired inside some call); 0 for a local
    /// model. Lets a checker notice a reboot that happened in the middle of a call.
    fn server_reboots(&self) -> u64 {
        0
    }
    /// An independent copy of this filesystem in its current state — volatile state,
    /// journal and fault plans included — for checkers that explore many continuations of
    /// one prefix (crash-state enumeration). `None` if the model cannot be copied (the
    /// default).
    fn fork(&self) -> Option<Arc<dyn FileSystem>> {
        None
    }
}
