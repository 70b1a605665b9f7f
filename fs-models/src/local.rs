//! The machinery every local (block-device) model shares.
//!
//! [`LocalFs`] keeps one [`Image`] and one [`Journal`] behind a short-held mutex and
//! implements [`FileSystem`] by delegating each policy decision to its [`Flavor`]: how
//! overwrites work (in place / CoW of shared blocks / CoW always), what a crash keeps, and
//! whether and how ranges can be remapped. The mutex is held only inside one method call,
//! never across chunks or while the VFS waits for an inode lock (design assumption A3).

use vfs::clock::{CostModel, Nanos, SEC};
use vfs::crash::{Atomicity, Journal, Timers};
use vfs::data::Data;
use vfs::errno::{Errno, KResult};
use vfs::extent::{Attrs, FiemapExtent, FileKind, Image, Ino, InodeImage, Overwrite};
use vfs::fs::{Fault, FaultReport, FileSystem, Stat, StatFs, falloc_flags};
use vfs::remap::StagedRemap;
use vfs::sync::{Arc, Mutex};
use vfs::task::Task;

/// Mount options common to local models (`size=`, `chunk=`, plus model-specific ones parsed
/// by each model).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalOptions {
    /// Device size in bytes.
    pub size: u64,
    /// Allocation unit (block or cluster) in bytes.
    pub block_size: u64,
    /// Byte-copy chunk for splice and copy_file_range fallbacks (`chunk=`, at least
    /// [`crate::spec::MIN_STEP`] bytes).
    pub chunk_size: u64,
    /// How many logged-but-not-forced states a crash may pick from are kept for crash-state
    /// enumeration (the oldest are dropped first; nothing becomes durable by it).
    pub journal_ops: usize,
    /// The periodic commit (btrfs) or log push (XFS, JBD2) interval (`commit=` seconds);
    /// `None`: the model's default ([`Flavor::commit_interval`]).
    pub commit_interval: Option<Nanos>,
    pub cost: CostModel,
    /// `remap=swap` (sharing models only): a clone or dedupe is built against a snapshot
    /// of the two inodes with no inode lock held and installed under the locks in one
    /// step ([`FileSystem::remap_stage`], [`FileSystem::remap_install`]), so readers wait
    /// only for the install. `false` (`remap=locked`, the default): built under the
    /// locks, as Linux does.
    pub remap_swap: bool,
}

impl Default for LocalOptions {
    fn default() -> LocalOptions {
        LocalOptions {
            size: 1 << 50, // 1 PiB: big enough for 1 TiB tour files with room to spare
            block_size: 4096,
            chunk_size: 1 << 20,
            journal_ops: 16,
            commit_interval: None,
            cost: CostModel::local_ssd(),
            remap_swap: false,
        }
    }
}

/// The [`Image::inode_tags`] key recording that an inode has had space preallocated
/// (`fallocate` modes 0, `KEEP_SIZE`, `ZERO_RANGE`): btrfs's `BTRFS_INODE_PREALLOC`, which
/// its `SEEK_HOLE` consults ([`Quirks::btrfs_seek`]).
pub const PREALLOC_TAG: &str = "inode.prealloc";

/// Small differences between real filesystems' Linux behaviour, as switches a flavor sets
/// ([`Flavor::quirks`]). Each one was measured against the real filesystem
/// (`splicelab conform`, `docs/conformance.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quirks {
    /// The `fallocate` operations implemented besides plain allocation and `KEEP_SIZE`
    /// (`FALLOC_FL_PUNCH_HOLE`, `ZERO_RANGE`, `COLLAPSE_RANGE`, `INSERT_RANGE`,
    /// `UNSHARE_RANGE` bits); the others answer `EOPNOTSUPP`.
    pub fallocate_modes: u32,
    /// A shrinking `ftruncate` zeroes the new EOF block's tail with a real write (XFS
    /// `iomap_truncate_page`: a shared block is copied on write). `false`: a shared EOF
    /// block is left shared until the file grows again (btrfs).
    pub truncate_zeroes_tail: bool,
    /// `fallocate(KEEP_SIZE)` reaching past EOF zeroes the old EOF block's tail
    /// (`btrfs_fallocate` → `btrfs_truncate_block`); XFS does so only when the size grows.
    pub keep_size_falloc_zeroes_tail: bool,
    /// btrfs's `lseek` (`btrfs_file_llseek`, measured on Linux 6.18): a negative offset is
    /// `ENXIO` for `SEEK_DATA` but counts as 0 for `SEEK_HOLE`; and `SEEK_HOLE` answers
    /// `i_size` at once when the inode never had space preallocated and its allocated
    /// bytes equal its size (so a clone of preallocated space reads as data to SEEK_HOLE,
    /// though SEEK_DATA skips it).
    pub btrfs_seek: bool,
    /// `SEEK_DATA`/`SEEK_HOLE` count unwritten blocks that were read (their zeroed pages
    /// are in the page cache) as data: XFS, through iomap (`mapping_seek_hole_data`).
    /// btrfs and tmpfs look at dirty pages only.
    pub seek_sees_read_unwritten: bool,
    /// Growing a file past an unaligned EOF writes a zeroed EOF block even where it is a
    /// hole or unwritten ([`Image::zero_eof_allocates`]): btrfs.
    pub zero_eof_allocates: bool,
    /// `FIEMAP_FLAG_XATTR` is accepted (XFS maps the attribute fork; the models keep no
    /// extended attributes, so the answer is no extents). Elsewhere `EBADR`.
    pub fiemap_xattr: bool,
    /// Punching a partial block that is preallocated writes zeroes into it (btrfs); XFS
    /// leaves it unwritten.
    pub punch_zeroes_unwritten: bool,
    /// With `zero_eof_allocates`: the largest hole-only small file that becomes inline
    /// when zeroed ([`Image::inline_max`]; btrfs `max_inline`).
    pub inline_max: u64,
    /// `fallocate` over blocks an earlier `fallocate` left unwritten initialises them,
    /// so they become data (tmpfs: `SGP_FALLOC` on a `!uptodate` folio).
    pub falloc_initializes_unwritten: bool,
    /// Writeback of any part of a contiguous dirty range writes all of it (btrfs: the
    /// first page written runs delalloc for the whole range, as one extent).
    pub writeback_whole_dirty_range: bool,
    /// A punch or zero-range that reaches an EOF inside a block writes that block back
    /// afterwards, zeroes included (XFS `xfs_free_file_space`: "writeback of the eof page
    /// will do this"; measured: the zeroed tail is on disk after a power cut).
    pub zeroing_to_eof_writes_back: bool,
    /// `ftruncate` to a size past the on-disk size first writes back the page cache from
    /// the on-disk size to the new size (XFS `xfs_setattr_size`, so that no logged size
    /// exposes unwritten data; measured: a same-size truncate of a file with unwritten data
    /// makes that data durable at the next log force).
    pub grow_flushes_from_disk_size: bool,
    /// A rename over an existing file writes the renamed file's page cache back first
    /// (ext4 `auto_da_alloc`: the replace-via-rename idiom keeps its data over a power cut;
    /// measured on ext4, docs/design.md D6). XFS and btrfs do not.
    pub auto_da_alloc: bool,
    /// A buffered write reserves space per extent mapping, not per block: XFS's
    /// `xfs_buffered_write_iomap_begin` reserves delalloc space for the whole hole (or
    /// copy-on-write range) the write covers at once, so out of space part-way it stops at
    /// the start of the first mapping that does not fit whole (measured: 1 MiB into a hole
    /// with 64 KiB free is `ENOSPC`; btrfs and tmpfs write the 64 KiB).
    pub write_reserves_per_mapping: bool,
    /// The model keeps btrfs's extent map cache for holes
    /// ([`Image::hole_extent_map_cache`]): a punch that starts in a hole a clone made can
    /// write a zeroed block (`find_first_non_hole`); reads cache what they read.
    pub hole_extent_map_cache: bool,
}

impl Default for Quirks {
    /// Plain allocation, `KEEP_SIZE` and punching; XFS-like truncate and seek.
    fn default() -> Quirks {
        Quirks {
            fallocate_modes: falloc_flags::PUNCH_HOLE,
            truncate_zeroes_tail: true,
            keep_size_falloc_zeroes_tail: false,
            btrfs_seek: false,
            seek_sees_read_unwritten: false,
            zero_eof_allocates: false,
            fiemap_xattr: false,
            punch_zeroes_unwritten: false,
            inline_max: 0,
            falloc_initializes_unwritten: false,
            auto_da_alloc: false,
            writeback_whole_dirty_range: false,
            grow_flushes_from_disk_size: false,
            zeroing_to_eof_writes_back: false,
            write_reserves_per_mapping: false,
            hole_extent_map_cache: false,
        }
    }
}

/// Everything inside a [`LocalFs`]'s lock.
#[derive(Clone, Debug)]
pub struct LocalState {
    pub img: Image,
    pub journal: Journal,
}

/// What distinguishes one local model from another.
pub trait Flavor: Clone + Send + Sync + 'static {
    /// The model's name.
    fn name(&self) -> &'static str;
    /// How an overwrite of a mapped block of a file with `attrs` is done.
    fn overwrite(&self, attrs: &Attrs) -> Overwrite;
    /// What a crash keeps.
    fn atomicity(&self) -> Atomicity;
    /// The periodic commit or log push interval of the real filesystem by default: btrfs
    /// `commit=30`, XFS `xfssyncd_centisecs=3000`; JBD2 filesystems (ext4, OCFS2) override it
    /// with 5 s.
    fn commit_interval(&self) -> Nanos {
        30 * SEC
    }
    /// Whether `FS_IOC_FIEMAP` is supported (tmpfs-like: no).
    fn has_fiemap(&self) -> bool {
        true
    }
    /// `FS_IOC_FIEMAP`'s extents. Default: [`Image::fiemap`], `SHARED` per block (XFS,
    /// OCFS2); btrfs reports it per extent ([`Image::fiemap_per_extent`]).
    ///
    /// # Errors
    /// `ESTALE`.
    fn fiemap(&self, img: &Image, ino: Ino) -> KResult<Vec<FiemapExtent>> {
        img.fiemap(ino)
    }
    /// Writes `data` at `off` of `ino` (extending the size). Models with inline extents
    /// override this; the default writes through the extent map.
    ///
    /// # Errors
    /// `ENOSPC`, `EIO`.
    fn write(&self, img: &mut Image, ino: Ino, off: u64, data: &Data) -> KResult<()> {
        let ow = self.overwrite(&img.inode(ino)?.attrs);
        img.write(ino, off, data, ow)
    }
    /// `->remap_file_range` with both inodes locked. Returns bytes remapped.
    ///
    /// # Errors
    /// `EOPNOTSUPP` when the model cannot share (the default).
    fn remap(
        &self,
        _img: &mut Image,
        _cost: &CostModel,
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
    /// The block size remap alignment is checked against (default: the allocation unit).
    fn remap_block_size(&self, img: &Image) -> u64 {
        img.block_size()
    }
    /// Whether a remap can get past the model's own refusals to the generic checks (a
    /// filesystem without reflink refuses first). Default: [`Flavor::has_remap`].
    fn shares(&self) -> bool {
        self.has_remap()
    }
    /// Whether the model has a `->remap_file_range` method at all ([`FileSystem::has_remap`]).
    /// Default yes; a model without one (plain: ext4, tmpfs) says no, and then its
    /// [`Flavor::remap`] must keep answering `EOPNOTSUPP`.
    fn has_remap(&self) -> bool {
        true
    }
    /// `chattr`-style attribute change (`FS_IOC_SETFLAGS`). Models with rules about which
    /// flags may change when (btrfs `+C` only on empty files) override this.
    ///
    /// # Errors
    /// `ESTALE`; model-specific (`EOPNOTSUPP` for a flag the model does not know).
    fn set_attrs(&self, img: &mut Image, ino: Ino, attrs: Attrs) -> KResult<()> {
        img.inode_mut(ino)?.attrs = attrs;
        Ok(())
    }
    /// Attributes a new inode of `kind` in directory `dir` starts with (inherited flags,
    /// mount options). Default: none.
    fn new_inode_attrs(&self, _img: &Image, _dir: Ino, _kind: FileKind) -> Attrs {
        Attrs::default()
    }
    /// Model-specific invariant problems, added to [`Image::fsck`]'s. Default: none.
    fn fsck(&self, _img: &Image) -> Vec<String> {
        Vec::new()
    }
    /// `s_maxbytes`. Default: the largest `loff_t`.
    fn max_file_size(&self) -> u64 {
        i64::MAX as u64
    }
    /// The model's [`Quirks`]. Default: [`Quirks::default`].
    fn quirks(&self) -> Quirks {
        Quirks::default()
    }
}

/// A local filesystem model: an image, a journal, a flavor.
pub struct LocalFs<F: Flavor> {
    flavor: F,
    opts: LocalOptions,
    state: Mutex<LocalState>,
}

impl<F: Flavor> LocalFs<F> {
    /// A freshly formatted filesystem.
    pub fn new(flavor: F, opts: LocalOptions) -> LocalFs<F> {
        let mut img = Image::new(opts.block_size, opts.size / opts.block_size);
        img.zero_eof_allocates = flavor.quirks().zero_eof_allocates;
        img.inline_max = flavor.quirks().inline_max;
        img.hole_extent_map_cache = flavor.quirks().hole_extent_map_cache;
        let commit = opts
            .commit_interval
            .unwrap_or_else(|| flavor.commit_interval());
        let mut journal = Journal::new(&img, flavor.atomicity(), Timers::linux(commit));
        journal.max_pending = opts.journal_ops;
        LocalFs {
            flavor,
            opts,
            state: Mutex::new(LocalState { img, journal }),
        }
    }

    /// The flavor.
    pub fn flavor(&self) -> &F {
        &self.flavor
    }

    /// The mount options.
    pub fn options(&self) -> &LocalOptions {
        &self.opts
    }

    /// Runs `f` on the locked state (for model-specific operations and tests).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut LocalState) -> R) -> R {
        f(&mut self.state.lock())
    }

    /// Runs a metadata change: the background work due by the task's clock first, then `f`
    /// changes the live image and, on success, the device view the same way (with a scratch
    /// task: virtual time is charged once). A change that succeeds first writes back the
    /// page cache of the byte ranges in `flush`, as it was before the change (the kernels
    /// flush a range after their checks and before they remap, punch or shift it); one that
    /// fails flushes nothing.
    ///
    /// A kernel acts on the in-memory inode, whose size already counts data still in the
    /// page cache; the device view's size is the one written so far (XFS logs a size at I/O
    /// completion). So for the inodes in `sized` — those whose size the change looks at —
    /// the device view is given the live size while `f` runs there, and afterwards keeps
    /// its own unless the change set a new one.
    ///
    /// # Errors
    /// Whatever `f` returns on the live image; nothing is changed then.
    pub fn modify<R>(
        &self,
        task: Option<&Task>,
        flush: &[(Ino, u64, u64)],
        sized: &[Ino],
        f: impl Fn(&mut Image, &Task) -> KResult<R>,
    ) -> KResult<R> {
        let mut st = self.state.lock();
        if let Some(task) = task {
            self.background(&mut st, task.now());
        }
        let pieces = self.dirty_pieces(&mut st, flush);
        // Each inode once (a remap within one file names it twice).
        let mut sized = sized.to_vec();
        sized.dedup();
        let live_before: Vec<Option<u64>> = sized
            .iter()
            .map(|&i| st.img.inode(i).map(|n| n.size).ok())
            .collect();
        let scratch = Task::new(0);
        let r = f(&mut st.img, task.unwrap_or(&scratch))?;
        self.write_pieces(&mut st, pieces);
        self.log_change(&mut st, &sized, &live_before, |disk| {
            f(disk, &scratch).map(drop)
        });
        Ok(r)
    }

    /// `SEEK_DATA`/`SEEK_HOLE`, a hole searched for no further than `limit`
    /// ([`FileSystem::seek_hole_within`]).
    fn seek_limited(&self, ino: Ino, off: u64, data: bool, limit: u64) -> KResult<u64> {
        let st = self.state.lock();
        let img = &st.img;
        let mut off = off;
        if self.flavor.quirks().btrfs_seek {
            let node = img.inode(ino)?;
            if node.size == 0 {
                return Err(Errno::ENXIO);
            }
            if off > i64::MAX as u64 {
                // Measured: SEEK_DATA from a negative offset is ENXIO once the data is on
                // disk, but searches from 0 while it is delalloc in the page cache
                // (`pc_seek_data_negative_offset_over_dirty_data`).
                if data && !st.journal.is_dirty(ino) {
                    return Err(Errno::ENXIO);
                }
                off = 0;
            }
            // find_desired_extent's quick path: no preallocation ever and every byte
            // allocated means no hole before EOF.
            let bytes = match &node.inline {
                Some(d) => d.len(),
                None => node.mapped * img.block_size(),
            };
            if !data
                && off < node.size
                && img.tag(ino, PREALLOC_TAG).is_none()
                && bytes == node.size
            {
                return Ok(node.size.min(limit.max(off)));
            }
        }
        img.seek_within(ino, off, data, limit)
    }

    /// The device-view half of [`LocalFs::modify`]: `f` is applied to the device view with
    /// the in-memory sizes of `sized` (`live_before`: their live sizes before the change),
    /// partial-block zeroing deferred to the page cache; then each inode keeps its on-disk
    /// size unless the change set a new one. Falls back to writing everything back when
    /// the device view cannot take the change on its own.
    fn log_change(
        &self,
        st: &mut LocalState,
        sized: &[Ino],
        live_before: &[Option<u64>],
        f: impl Fn(&mut Image) -> KResult<()>,
    ) {
        let LocalState { img, journal } = st;
        if !journal.keeps_disk() {
            return;
        }
        let disk = journal.disk_mut();
        let bs = disk.block_size();
        // Per inode: its on-disk size, whether bytes past it may be stale, and which
        // allocation holds its EOF block.
        let eof_origin = |disk: &Image, ino: Ino, size: u64| {
            let n = disk.inode(ino).ok()?;
            let (s, m) = n.mapping_at(size / bs)?;
            let (id, off) = disk.phys[m.phys].origin;
            (!m.unwritten).then_some((id, off + (size / bs - s)))
        };
        let mut disk_before = Vec::with_capacity(sized.len());
        for (&ino, &live) in sized.iter().zip(live_before) {
            let own = disk.inode(ino).ok().map(|n| (n.size, n.stale_tail));
            let origin = own.and_then(|(size, _)| eof_origin(disk, ino, size));
            if let (Some(live), Some(_), Ok(n)) = (live, own, disk.inode_mut(ino)) {
                n.size = live;
            }
            disk_before.push((own, origin));
        }
        // Partial blocks a punch or truncate zeroes are zeroed in the page cache: on the
        // device only at writeback.
        disk.defer_zeroing = Some(Vec::new());
        let applied = f(disk);
        let deferred = disk.defer_zeroing.take().unwrap_or_default();
        if applied.is_err() {
            journal.write_back_all(img);
            return;
        }
        for (ino, off, len) in deferred {
            journal.dirtied(ino, off, len);
        }
        let disk = journal.disk_mut();
        let ow = |disk: &Image, ino| {
            disk.inode(ino)
                .map_or(Overwrite::CowShared, |n| self.flavor.overwrite(&n.attrs))
        };
        for ((&ino, &before), &(own, origin)) in sized.iter().zip(live_before).zip(&disk_before) {
            let (Some((own, stale)), Ok(node)) = (own, disk.inode(ino)) else {
                continue;
            };
            let first_past = own.div_ceil(bs);
            // Written blocks past the old on-disk EOF: only the mappings from there on are
            // looked at (O(log n + what lies past EOF), not every extent of the file).
            let beyond = node
                .mappings_in(first_past, u64::MAX)
                .any(|(_, m)| !m.unwritten);
            if before.is_some() && img.inode(ino).ok().map(|n| n.size) == before {
                // The size did not change: the disk keeps its own. The change may have
                // put data in the on-disk EOF block past it (a clone inside the in-memory
                // size): invisible, zeroed before the file grows over it (I4's exception).
                let eof_block_written = !own.is_multiple_of(bs)
                    && node.mapping_at(own / bs).is_some_and(|(_, m)| !m.unwritten);
                if !beyond
                    && node.inline.is_none()
                    && let Ok(n) = disk.inode_mut(ino)
                {
                    n.size = own;
                    n.stale_tail |= eof_block_written;
                    continue;
                }
            }
            // The logged size grows past the old on-disk EOF (a new size, or data the
            // change put in blocks beyond it, as a remap inside the in-memory size does).
            let node = disk.inode(ino).expect("looked up above");
            if stale
                && node.size > own
                && !own.is_multiple_of(bs)
                && eof_origin(disk, ino, own) == origin
            {
                // The logged size grew over bytes past the old on-disk EOF that the change
                // left alone. Where they are not what the page cache holds (the old data a
                // truncate zeroed in memory), the kernel wrote the page cache's back before
                // logging the size; where they are (a clone put them there), they stay.
                let gap = (own.div_ceil(bs) * bs).min(node.size) - own;
                let on_disk = disk
                    .read_blocks(ino, own / bs, own / bs + 1)
                    .map(|b| b.slice(own % bs, gap));
                if let Ok(cached) = img.read(ino, own, gap)
                    && on_disk.as_ref().ok() != Some(&cached)
                {
                    let ow = ow(disk, ino);
                    let _ = disk.write_at(ino, own, &cached, ow);
                }
            }
        }
        journal.logged();
    }

    /// The write that ran out of space, done as far as the kernel gets: the longest prefix
    /// of `data` that ends where a reservation ends — a block boundary (btrfs
    /// `btrfs_buffered_write`, tmpfs `shmem_write_begin`, ext4: page by page), or with
    /// [`Quirks::write_reserves_per_mapping`] the start of an extent mapping (XFS reserves
    /// a whole hole or copy-on-write range at once) — is written and its length returned,
    /// as `generic_perform_write` returns the bytes written before the error.
    ///
    /// The longest prefix is found by bisection on copies of the image (cheap: see
    /// [`Image`]); only the one that fits is written to `img`. A longer prefix never needs
    /// less space than a shorter one, so the bisection is exact.
    ///
    /// # Errors
    /// `ENOSPC` when not even the first piece fits; the write's other errors.
    fn write_what_fits(&self, img: &mut Image, ino: Ino, off: u64, data: &Data) -> KResult<u64> {
        let bs = img.block_size();
        let end = off + data.len();
        // The candidate lengths, ascending: where a reservation ends, strictly inside the write.
        let cuts: Vec<u64> = if self.flavor.quirks().write_reserves_per_mapping {
            let node = img.inode(ino)?;
            let (b0, b1) = (off / bs, end.div_ceil(bs));
            let mut v: Vec<u64> = node
                .mappings_in(b0, b1)
                .flat_map(|(s, m)| [s, s + m.len])
                .map(|b| b * bs)
                .filter(|&p| p > off && p < end)
                .collect();
            v.dedup();
            v.into_iter().map(|p| p - off).collect()
        } else {
            Vec::new()
        };
        // Candidate `k` (1-based) of `count`.
        let per_block = !self.flavor.quirks().write_reserves_per_mapping;
        let count = if per_block {
            (end - 1) / bs - off / bs
        } else {
            cuts.len() as u64
        };
        let cut = |k: u64| {
            if per_block {
                (off / bs + k) * bs - off
            } else {
                cuts[k as usize - 1]
            }
        };
        // Bisection for the largest k whose prefix fits (k = 0: nothing fits).
        let (mut lo, mut hi) = (0u64, count);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let mut trial = img.clone();
            match self
                .flavor
                .write(&mut trial, ino, off, &data.slice(0, cut(mid)))
            {
                Ok(()) => lo = mid,
                Err(Errno::ENOSPC) => hi = mid - 1,
                Err(e) => return Err(e),
            }
        }
        if lo == 0 {
            return Err(Errno::ENOSPC);
        }
        let n = cut(lo);
        self.flavor.write(img, ino, off, &data.slice(0, n))?;
        Ok(n)
    }

    /// The flusher (inodes dirty for `dirty_expire`) and the periodic commit, as due at
    /// virtual time `now`.
    fn background(&self, st: &mut LocalState, now: Nanos) {
        for ino in st.journal.advance(now) {
            self.write_back_inode(st, ino);
        }
        st.journal.periodic_commit();
    }

    /// The page cache of the dirty parts of `ranges` (`(inode, start, end)` in bytes, up to
    /// EOF), read from the live image now: what a writeback of them would write. The page
    /// cache holds the data itself, so a media error the live image has on the block it
    /// gave that data does not stop the writeback.
    fn dirty_pieces(
        &self,
        st: &mut LocalState,
        ranges: &[(Ino, u64, u64)],
    ) -> Vec<(Ino, u64, Data)> {
        let bad = std::mem::take(&mut st.img.bad);
        let pieces = self.dirty_pieces_of(st, ranges);
        st.img.bad = bad;
        pieces
    }

    fn dirty_pieces_of(
        &self,
        st: &LocalState,
        ranges: &[(Ino, u64, u64)],
    ) -> Vec<(Ino, u64, Data)> {
        let mut pieces = Vec::new();
        let whole = self.flavor.quirks().writeback_whole_dirty_range;
        for &(ino, start, end) in ranges {
            let size = st.img.inode(ino).map_or(0, |n| n.size);
            let parts = if whole {
                st.journal
                    .dirty_in(ino, 0, size)
                    .into_iter()
                    .filter(|&(s, e)| s < end && e > start)
                    .collect()
            } else {
                st.journal.dirty_in(ino, start, end.min(size))
            };
            for (s, e) in parts {
                if let Ok(d) = st.img.read(ino, s, e - s) {
                    pieces.push((ino, s, d));
                }
            }
        }
        pieces
    }

    /// Writeback of `pieces`: written to the device view, allocating there as delayed
    /// allocation does at writeback, and no longer dirty. Data that lands on blocks the
    /// device view already maps went in place ([`vfs::crash::Journal::overwrote_in_place`]).
    fn write_pieces(&self, st: &mut LocalState, pieces: Vec<(Ino, u64, Data)>) {
        if pieces.is_empty() {
            return;
        }
        let LocalState { img, journal } = st;
        for (ino, start, d) in pieces {
            journal.cleaned(ino, start, start + d.len());
            Self::take_up_eof_block(img, journal, ino, start);
            // Whether the write went in place is decided on the blocks it covers and the
            // old EOF block (which extending writes zero), not on the whole file's map.
            let disk = journal.disk();
            let bs = disk.block_size();
            let old_size = disk.inode(ino).map_or(start, |n| n.size);
            let (from, to) = (start.min(old_size) / bs, (start + d.len()).div_ceil(bs));
            let before = vfs::crash::layout_in(disk, ino, from, to);
            if self
                .flavor
                .write(journal.disk_mut(), ino, start, &d)
                .is_err()
            {
                journal.write_back_all(img);
                return;
            }
            if before.is_some() && vfs::crash::layout_in(journal.disk(), ino, from, to) == before {
                journal.overwrote_in_place(ino, start, &d);
            }
        }
        journal.logged();
    }

    /// Before writeback past the device view's EOF: when the bytes past that EOF in its
    /// block already hold what the page cache holds there (data a clone put there while
    /// the in-memory size covered it), the on-disk size moves over them as it is. Zeroing
    /// them, as a write past EOF does in memory, would destroy them: the kernel zeroes at
    /// `write` time, in the page cache, never at writeback.
    fn take_up_eof_block(live: &Image, journal: &mut vfs::crash::Journal, ino: Ino, start: u64) {
        let disk = journal.disk();
        let bs = disk.block_size();
        let (Ok(d), Ok(l)) = (disk.inode(ino), live.inode(ino)) else {
            return;
        };
        let size = d.size;
        if start <= size || size.is_multiple_of(bs) || !d.stale_tail || d.inline.is_some() {
            return;
        }
        let end = size.div_ceil(bs) * bs;
        let tail = (end.min(l.size)).saturating_sub(size);
        let raw = disk
            .read_blocks(ino, size / bs, end / bs)
            .map(|b| b.slice(size % bs, tail));
        if tail > 0
            && raw.ok() == live.read(ino, size, tail).ok()
            && let Ok(n) = journal.disk_mut().inode_mut(ino)
        {
            n.size = size + tail;
            n.stale_tail = n.size < end;
        }
    }

    /// Writeback of `ino`: all of its dirty page cache (what lies past EOF is dropped).
    fn write_back_inode(&self, st: &mut LocalState, ino: Ino) {
        let pieces = self.dirty_pieces(st, &[(ino, 0, u64::MAX)]);
        self.write_pieces(st, pieces);
        st.journal.cleaned(ino, 0, u64::MAX);
    }

    /// What setting `ino`'s size to `size` writes back first: XFS `xfs_setattr_size` (also
    /// reached by a size-extending `fallocate`) writes back `[i_disk_size, newsize)` when
    /// the new size is past the on-disk one and the in-memory size was not (or the file
    /// grows, zeroing its old EOF block), so that no logged size exposes unwritten data
    /// (measured: `pc_same_size_truncate_writes_back_from_the_disk_size`).
    fn setattr_size_flush(&self, ino: Ino, size: u64) -> Vec<(Ino, u64, u64)> {
        if !self.flavor.quirks().grow_flushes_from_disk_size {
            return Vec::new();
        }
        let st = self.state.lock();
        match (st.img.inode(ino), st.journal.disk().inode(ino)) {
            (Ok(live), Ok(disk))
                if size > disk.size && (live.size != disk.size || size > live.size) =>
            {
                vec![(ino, disk.size, size)]
            }
            _ => Vec::new(),
        }
    }

    /// What `generic_remap_file_range_prep` writes back once `generic_remap_checks` passed:
    /// both ranges, in whole pages (here: blocks), as they are before the remap — also when
    /// the remap then fails (`generic_remap_check_len`'s `EINVAL` comes after the flush;
    /// measured on XFS, `pc_failed_clone_still_flushes`). A model that refuses every remap
    /// before the generic checks (no reflink) flushes nothing.
    #[allow(clippy::too_many_arguments)]
    fn flush_before_remap(
        &self,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        flags: u32,
    ) {
        if !self.flavor.shares() {
            return;
        }
        let mut st = self.state.lock();
        let geo = vfs::remap::RemapGeometry {
            block_size: self.flavor.remap_block_size(&st.img),
            max_bytes: self.flavor.max_file_size(),
        };
        let req = vfs::remap::RemapRequest {
            pos_in: soff,
            pos_out: doff,
            len,
            flags,
        };
        let Some(n) = vfs::remap::flush_len(&st.img, src, dst, &req, &geo) else {
            return;
        };
        self.background(&mut st, task.now());
        let bs = self.opts.block_size;
        let pages = |off: u64| {
            (
                off / bs * bs,
                off.saturating_add(n).div_ceil(bs).saturating_mul(bs),
            )
        };
        let ((s0, s1), (d0, d1)) = (pages(soff), pages(doff));
        let pieces = self.dirty_pieces(&mut st, &[(src, s0, s1), (dst, d0, d1)]);
        self.write_pieces(&mut st, pieces);
    }

    /// Whether a remap into `d` at `doff` can fail after changing something: only where it
    /// allocates before sharing — zeroing the destination's old EOF block when it grows
    /// (btrfs_clone_files expands the destination first and keeps that on a later ENOSPC)
    /// and moving inline data out to a block.
    fn may_fail_late(s: &InodeImage, d: &InodeImage, doff: u64) -> bool {
        doff > d.size || s.inline.is_some() || d.inline.is_some()
    }

    /// The model's remap, all or nothing, as a failed must-share splice must leave the
    /// destination. Only when it [may fail late](Self::may_fail_late) is the image kept to
    /// put back (a copy shares structure, but holding it makes the share copy every extent
    /// it touches). The allocator's fault plan is the device's: a fault that fired stays
    /// fired.
    #[allow(clippy::too_many_arguments)]
    fn remap_all_or_nothing(
        &self,
        img: &mut Image,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        flags: u32,
    ) -> KResult<u64> {
        let (s, d) = (img.inode(src)?, img.inode(dst)?);
        let before = Self::may_fail_late(s, d, doff).then(|| img.clone());
        let r = self
            .flavor
            .remap(img, &self.opts.cost, task, src, soff, dst, doff, len, flags);
        if let (Err(_), Some(before)) = (&r, before) {
            let (calls, fail_at_call) = (img.alloc.calls, img.alloc.fail_at_call);
            *img = before;
            (img.alloc.calls, img.alloc.fail_at_call) = (calls, fail_at_call);
        }
        r
    }

    /// Writes back every dirty inode.
    fn write_back_all_dirty(&self, st: &mut LocalState) {
        let inos: Vec<Ino> = st.journal.dirty().keys().copied().collect();
        for ino in inos {
            self.write_back_inode(st, ino);
        }
    }

    fn ow(&self, img: &Image, ino: Ino) -> KResult<Overwrite> {
        Ok(self.flavor.overwrite(&img.inode(ino)?.attrs))
    }
}

impl<F: Flavor> FileSystem for LocalFs<F> {
    fn fs_type(&self) -> &str {
        self.flavor.name()
    }

    fn statfs(&self) -> StatFs {
        let st = self.state.lock();
        StatFs {
            block_size: st.img.block_size(),
            blocks: st.img.alloc.capacity(),
            free: st.img.alloc.free_blocks(),
        }
    }

    fn cost(&self) -> &CostModel {
        &self.opts.cost
    }

    fn chunk_size(&self) -> u64 {
        self.opts.chunk_size
    }

    fn remap_block_size(&self) -> u64 {
        self.flavor.remap_block_size(&self.state.lock().img)
    }

    fn has_remap(&self) -> bool {
        self.flavor.has_remap()
    }

    fn max_file_size(&self) -> u64 {
        self.flavor.max_file_size()
    }

    fn lookup(&self, dir: Ino, name: &str) -> KResult<Ino> {
        self.state.lock().img.lookup(dir, name)
    }

    fn create(&self, task: &Task, dir: Ino, name: &str, kind: FileKind) -> KResult<Ino> {
        task.charge(self.opts.cost.metadata(1));
        self.modify(Some(task), &[], &[], |img, _| {
            let attrs = self.flavor.new_inode_attrs(img, dir, kind);
            let ino = img.create(dir, name, kind)?;
            if attrs != Attrs::default() {
                img.inode_mut(ino)?.attrs = attrs;
            }
            Ok(ino)
        })
    }

    fn remove(&self, task: &Task, dir: Ino, name: &str, rmdir: bool) -> KResult<Ino> {
        task.charge(self.opts.cost.metadata(1));
        self.modify(Some(task), &[], &[], |img, _| img.remove(dir, name, rmdir))
    }

    fn rename(
        &self,
        task: &Task,
        odir: Ino,
        oname: &str,
        ndir: Ino,
        nname: &str,
    ) -> KResult<Option<Ino>> {
        task.charge(self.opts.cost.metadata(1));
        let flush: Vec<(Ino, u64, u64)> = if self.flavor.quirks().auto_da_alloc {
            let img = &self.state.lock().img;
            match (img.lookup(odir, oname), img.lookup(ndir, nname)) {
                (Ok(moved), Ok(replaced)) if moved != replaced => vec![(moved, 0, u64::MAX)],
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        self.modify(Some(task), &flush, &[], |img, _| {
            img.rename(odir, oname, ndir, nname)
        })
    }

    fn evict(&self, ino: Ino) {
        let _ = self.modify(None, &[], &[], |img, _| {
            img.evict(ino);
            Ok(())
        });
        self.state.lock().journal.evicted(ino);
    }

    fn getattr(&self, ino: Ino) -> KResult<Stat> {
        Stat::of(&self.state.lock().img, ino)
    }

    fn set_attrs(&self, task: &Task, ino: Ino, attrs: Attrs) -> KResult<()> {
        self.modify(Some(task), &[], &[], |img, _| {
            self.flavor.set_attrs(img, ino, attrs)
        })
    }

    fn read(&self, task: &Task, ino: Ino, off: u64, len: u64) -> KResult<Data> {
        let d = {
            let mut st = self.state.lock();
            let d = st.img.read(ino, off, len)?;
            if self.flavor.quirks().seek_sees_read_unwritten {
                st.img.note_read_unwritten(ino, off, d.len());
            }
            st.img.note_read_hole_ems(ino, off, len);
            d
        };
        task.charge(self.opts.cost.read(d.len()));
        Ok(d)
    }

    /// A buffered write: the live image (the page cache) changes, the device view only at
    /// writeback. Out of space part-way, the bytes before the first reservation that
    /// failed are written and counted ([`LocalFs::write_what_fits`]); `ENOSPC` only when
    /// nothing fits.
    fn write(&self, task: &Task, ino: Ino, off: u64, data: &Data) -> KResult<u64> {
        task.charge(self.opts.cost.write(data.len()));
        let mut st = self.state.lock();
        self.background(&mut st, task.now());
        let planned = st.img.alloc.fail_at_call;
        let old = st.img.inode(ino).map(|n| (n.size, n.inline.is_some()))?;
        let n = match self.flavor.write(&mut st.img, ino, off, data) {
            Ok(()) => data.len(),
            // An injected failure (`inject enospc N`) fails the one allocation the model's
            // write makes for all of it: the whole write, as before short writes existed.
            Err(Errno::ENOSPC) if planned.is_some() && st.img.alloc.fail_at_call.is_none() => {
                return Err(Errno::ENOSPC);
            }
            Err(Errno::ENOSPC) => self.write_what_fits(&mut st.img, ino, off, data)?,
            Err(e) => return Err(e),
        };
        // A write past EOF zeroed the old EOF block's tail in the page cache
        // (`iomap_zero_range` from `xfs_file_write_checks`, `btrfs_cont_expand`): that page
        // is dirty too, and goes to the device with the next writeback of its range —
        // before a clone shares the block, say (found by the state machine: the device
        // kept a truncated byte there and a crash after the clone showed it).
        let bs = st.img.block_size();
        let (size, inline) = old;
        if n > 0 && off > size && !size.is_multiple_of(bs) && !inline {
            let tail_end = (size.div_ceil(bs) * bs).min(off);
            st.journal.dirtied(ino, size, tail_end - size);
        }
        st.journal.dirtied(ino, off, n);
        Ok(n)
    }

    fn truncate(&self, task: &Task, ino: Ino, size: u64) -> KResult<()> {
        task.charge(self.opts.cost.metadata(1));
        let q = self.flavor.quirks();
        let zero_tail = q.truncate_zeroes_tail;
        let flush = self.setattr_size_flush(ino, size);
        self.modify(Some(task), &flush, &[ino], |img, _| {
            let ow = self.ow(img, ino)?;
            img.set_size_with(ino, size, ow, zero_tail)
        })?;
        self.state.lock().journal.truncated(ino, size);
        Ok(())
    }

    /// The filesystem part of `fallocate(2)`: the VFS has checked the mode combination
    /// and the range. Operations the flavor lacks ([`Quirks::fallocate_modes`]) are
    /// `EOPNOTSUPP`; `COLLAPSE_RANGE` and `INSERT_RANGE` follow XFS
    /// (`xfs_falloc_collapse_range`, `xfs_falloc_insert_range`): block-aligned offset and
    /// length or `EINVAL`, a collapse must end before EOF and an insert start before it
    /// (`EINVAL`), an insert may not grow the file past `s_maxbytes` (`EFBIG`).
    fn fallocate(&self, task: &Task, ino: Ino, mode: u32, off: u64, len: u64) -> KResult<()> {
        use falloc_flags::*;
        task.charge(self.opts.cost.metadata(1));
        let q = self.flavor.quirks();
        let op = mode & !KEEP_SIZE;
        if op & !q.fallocate_modes != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let keep = mode & KEEP_SIZE != 0;
        let max = self.flavor.max_file_size();
        // Everything but plain allocation flushes the range first, rounded out to blocks
        // (XFS `xfs_flush_unmap_range`, btrfs `btrfs_punch_hole` →
        // `btrfs_wait_ordered_range`); shifting flushes from the offset to EOF
        // (`xfs_prepare_shift`).
        let bs = self.opts.block_size;
        let from = off / bs * bs;
        let end = off.saturating_add(len);
        let grows = if keep {
            Vec::new()
        } else {
            self.setattr_size_flush(ino, end)
        };
        let flush: &[(Ino, u64, u64)] = match op {
            0 => &grows,
            COLLAPSE_RANGE | INSERT_RANGE => &[(ino, from, u64::MAX)],
            _ => &[(
                ino,
                from,
                off.saturating_add(len).div_ceil(bs).saturating_mul(bs),
            )],
        };
        let r = self.modify(Some(task), flush, &[ino], |img, _| {
            let ow = self.ow(img, ino)?;
            let bs = img.block_size();
            let size = img.inode(ino)?.size;
            let end = off.saturating_add(len);
            // Reaching past EOF zeroes the old EOF block's tail first (the size grows, or
            // btrfs does it anyway).
            let zero_tail = end > size && (!keep || q.keep_size_falloc_zeroes_tail);
            match op {
                // btrfs: an inline extent already covers the first sector, and
                // `btrfs_fallocate` allocates only where no extent is: a range inside it
                // keeps the file inline and at most grows the size (measured: a 100-byte
                // file after `fallocate(0, 0, 4096)` is 4096 bytes, FIEMAP still inline).
                0 if end <= bs
                    && img.inode(ino)?.inline.is_some()
                    && img.inode(ino)?.map.is_empty() =>
                {
                    if !keep {
                        let node = img.inode_mut(ino)?;
                        node.size = node.size.max(end);
                    }
                    Ok(())
                }
                0 => {
                    if zero_tail {
                        img.zero_eof_tail(ino, ow)?;
                    }
                    if q.falloc_initializes_unwritten {
                        img.mark_written(ino, off / bs, end.div_ceil(bs));
                    }
                    img.preallocate(ino, off, len, keep)?;
                    img.set_tag(ino, PREALLOC_TAG, 1);
                    Ok(())
                }
                PUNCH_HOLE => {
                    img.forget_cached(ino, off / bs, end.div_ceil(bs));
                    img.punch_with(ino, off, len, ow, q.punch_zeroes_unwritten)
                }
                ZERO_RANGE => {
                    img.forget_cached(ino, off / bs, end.div_ceil(bs));
                    if zero_tail {
                        img.zero_eof_tail(ino, ow)?;
                    }
                    // Punch, then preallocate: an ENOSPC from the allocation must not leave
                    // the range punched (A2: an error leaves the file's data as it was; the
                    // zeroed EOF tail above stays, as for any growing call). The allocator's
                    // fault plan is the device's: a fault that fired stays fired.
                    let before = img.clone();
                    let r = img
                        .punch(ino, off, len, ow)
                        .and_then(|()| img.preallocate(ino, off, len, keep));
                    if let Err(e) = r {
                        let (calls, fail_at_call) = (img.alloc.calls, img.alloc.fail_at_call);
                        *img = before;
                        (img.alloc.calls, img.alloc.fail_at_call) = (calls, fail_at_call);
                        return Err(e);
                    }
                    img.set_tag(ino, PREALLOC_TAG, 1);
                    Ok(())
                }
                COLLAPSE_RANGE | INSERT_RANGE => {
                    if !off.is_multiple_of(bs) || !len.is_multiple_of(bs) {
                        return Err(Errno::EINVAL);
                    }
                    if op == COLLAPSE_RANGE {
                        if end >= size {
                            return Err(Errno::EINVAL);
                        }
                        img.collapse(ino, off, len)
                    } else {
                        if off >= size {
                            return Err(Errno::EINVAL);
                        }
                        if size.saturating_add(len) > max {
                            return Err(Errno::EFBIG);
                        }
                        // XFS grows the file first, which zeroes the EOF block's tail
                        // (copied on write if shared), then shifts.
                        img.zero_eof_tail(ino, ow)?;
                        img.insert_range(ino, off, len)
                    }
                }
                UNSHARE_RANGE => {
                    if zero_tail {
                        img.zero_eof_tail(ino, ow)?;
                    }
                    img.unshare(ino, off, len)?;
                    // XFS (6.12+ xfs_falloc_unshare_range) also allocates the range's holes.
                    img.preallocate(ino, off, len, keep)?;
                    img.set_tag(ino, PREALLOC_TAG, 1);
                    Ok(())
                }
                _ => Err(Errno::EOPNOTSUPP),
            }
        });
        if r.is_ok() && q.zeroing_to_eof_writes_back && (op == PUNCH_HOLE || op == ZERO_RANGE) {
            let mut st = self.state.lock();
            let size = st.img.inode(ino).map_or(0, |n| n.size);
            if off.saturating_add(len) >= size && !size.is_multiple_of(bs) {
                let pieces = self.dirty_pieces(&mut st, &[(ino, size / bs * bs, u64::MAX)]);
                self.write_pieces(&mut st, pieces);
            }
        }
        r
    }

    /// `fsync`/`fdatasync`: the file's page cache is written back, then the journal makes
    /// it durable as the model's rule says ([`vfs::crash::Journal::fsynced`]).
    fn fsync(&self, task: &Task, ino: Ino, _datasync: bool) -> KResult<()> {
        task.charge(self.opts.cost.flush_ns);
        let mut st = self.state.lock();
        self.background(&mut st, task.now());
        self.write_back_inode(&mut st, ino);
        st.journal.fsynced(ino);
        Ok(())
    }

    fn write_back(&self, task: &Task, ino: Ino) -> KResult<()> {
        let mut st = self.state.lock();
        st.img.inode(ino)?;
        self.background(&mut st, task.now());
        self.write_back_inode(&mut st, ino);
        Ok(())
    }

    /// The device view as it stands becomes durable (a log force, a transaction commit);
    /// no page cache is written back.
    fn commit_metadata(&self, task: &Task, _ino: Ino) -> KResult<()> {
        task.charge(self.opts.cost.flush_ns);
        let mut st = self.state.lock();
        self.background(&mut st, task.now());
        st.journal.synced();
        Ok(())
    }

    /// `syncfs`: every dirty inode is written back, then a full commit.
    fn sync_fs(&self, task: &Task) -> KResult<()> {
        task.charge(self.opts.cost.flush_ns);
        let mut st = self.state.lock();
        self.background(&mut st, task.now());
        self.write_back_all_dirty(&mut st);
        st.journal.synced();
        Ok(())
    }

    /// `SEEK_DATA`/`SEEK_HOLE`; `off` is the raw `loff_t` reinterpreted, so a negative
    /// offset arrives above `i64::MAX` and is `ENXIO` (past any EOF), as in the generic code,
    /// iomap and tmpfs — except under [`Quirks::btrfs_seek`].
    fn seek_data_hole(&self, ino: Ino, off: u64, data: bool) -> KResult<u64> {
        self.seek_limited(ino, off, data, u64::MAX)
    }

    fn seek_hole_within(&self, ino: Ino, off: u64, limit: u64) -> KResult<u64> {
        self.seek_limited(ino, off, false, limit)
    }

    fn backed_run(
        &self,
        ino: Ino,
        from: u64,
        to: u64,
        max_run: u64,
    ) -> KResult<Option<(u64, u64)>> {
        self.state.lock().img.backed_run(ino, from, to, max_run)
    }

    fn fiemap_flags_supported(&self) -> u32 {
        if self.flavor.quirks().fiemap_xattr {
            vfs::fs::FIEMAP_FLAG_XATTR
        } else {
            0
        }
    }

    fn fiemap(&self, ino: Ino) -> KResult<Vec<FiemapExtent>> {
        if !self.flavor.has_fiemap() {
            return Err(Errno::EOPNOTSUPP);
        }
        self.flavor.fiemap(&self.state.lock().img, ino)
    }

    fn remap_file_range(
        &self,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        flags: u32,
    ) -> KResult<u64> {
        // Both ranges are flushed once the checks pass (`generic_remap_file_range_prep`
        // writes them back and waits before anything is shared).
        self.flush_before_remap(task, src, soff, dst, doff, len, flags);
        self.modify(Some(task), &[], &[src, dst], |img, task| {
            self.remap_all_or_nothing(img, task, src, soff, dst, doff, len, flags)
        })
    }

    /// `remap=swap`: the remap is built on a snapshot of the image (persistent structures:
    /// taking it copies nothing) while the caller holds no inode lock, so its cost —
    /// O(extents) for a clone, O(bytes) for a dedupe's comparison — is charged outside the
    /// locks. A remap that would allocate (growing the destination past its EOF block,
    /// inline data) is not staged: its failure could come late, after a change.
    fn remap_stage(
        &self,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        flags: u32,
    ) -> KResult<Option<StagedRemap>> {
        if !self.opts.remap_swap || !self.flavor.shares() {
            return Ok(None);
        }
        // Write-back needs no inode lock (filemap_write_and_wait_range); a write racing it
        // bumps the version and makes the plan stale.
        self.flush_before_remap(task, src, soff, dst, doff, len, flags);
        let (mut view, versions) = {
            let mut st = self.state.lock();
            self.background(&mut st, task.now());
            let (s, d) = (st.img.inode(src)?, st.img.inode(dst)?);
            if Self::may_fail_late(s, d, doff) {
                return Ok(None);
            }
            let versions = (s.version, d.version);
            (st.img.clone(), versions)
        };
        let build = Task::new(task.tid);
        build.wait_until(task.now());
        let r = self.flavor.remap(
            &mut view,
            &self.opts.cost,
            &build,
            src,
            soff,
            dst,
            doff,
            len,
            flags,
        );
        task.wait_until(build.now());
        let result = r?;
        Ok(Some(StagedRemap {
            src,
            pos_in: soff,
            dst,
            pos_out: doff,
            len,
            flags,
            versions,
            result,
            extents: build.stats().extents_remapped,
        }))
    }

    /// Installs a staged remap: the two inodes are checked against the versions it was
    /// built on, then the remap is applied to the live image and its journal in one step.
    /// The lab applies it again rather than grafting the built map in: the image's shared
    /// extents are split per block (invariant I1) across every file that shares them, and
    /// the inodes being unchanged makes the result the one built. Only
    /// [`CostModel::install`] is charged: a kernel would swap in the new subtree's root and
    /// queue the reference-count changes (btrfs's delayed refs, XFS's deferred refcount
    /// intents) as one record.
    fn remap_install(&self, task: &Task, plan: &StagedRemap) -> KResult<Option<u64>> {
        {
            let st = self.state.lock();
            let (s, d) = (st.img.inode(plan.src)?, st.img.inode(plan.dst)?);
            if (s.version, d.version) != plan.versions {
                return Ok(None);
            }
        }
        // Unchanged since the build and both locks held: nothing can change them now.
        let apply = Task::new(task.tid);
        let StagedRemap {
            src,
            pos_in,
            dst,
            pos_out,
            len,
            flags,
            ..
        } = *plan;
        let n = self.modify(Some(task), &[], &[src, dst], |img, _| {
            self.remap_all_or_nothing(img, &apply, src, pos_in, dst, pos_out, len, flags)
        })?;
        task.charge(self.opts.cost.install(plan.extents));
        task.with_stats(|s| s.add_remapped(plan.extents));
        Ok(Some(n))
    }

    fn image(&self) -> Image {
        self.state.lock().img.clone()
    }

    fn fsck(&self) -> Vec<String> {
        let st = self.state.lock();
        let mut problems = st.img.fsck();
        problems.extend(self.flavor.fsck(&st.img));
        problems
    }

    fn crash_states(&self) -> Vec<Image> {
        let mut st = self.state.lock();
        let LocalState { img, journal } = &mut *st;
        journal.states(img)
    }

    fn volatile(&self) -> bool {
        self.flavor.atomicity() == Atomicity::Volatile
    }

    fn crash(&self, pick: usize) {
        let mut st = self.state.lock();
        let LocalState { img, journal } = &mut *st;
        *img = journal.crash(img, pick);
    }

    /// Everything a local model has is its image and journal (cheap to copy: they share
    /// structure until changed).
    fn fork(&self) -> Option<Arc<dyn FileSystem>> {
        let state = self.state.lock().clone();
        Some(Arc::new(LocalFs {
            flavor: self.flavor.clone(),
            opts: self.opts.clone(),
            state: Mutex::new(state),
        }))
    }

    fn inject(&self, _task: &Task, fault: Fault) -> KResult<FaultReport> {
        let mut st = self.state.lock();
        if let Fault::MediaError { ino, off } = fault {
            // A media error is on the device: the page cache goes there first (once the
            // block is known to exist), so that the device view has the block too.
            st.img.physical_block(ino, off)?.ok_or(Errno::ENXIO)?;
            self.write_back_inode(&mut st, ino);
        }
        let LocalState { img, journal } = &mut *st;
        match fault {
            Fault::MediaError { ino, off } => {
                let pb = img.physical_block(ino, off)?.ok_or(Errno::ENXIO)?;
                img.bad.insert(pb);
                if journal.keeps_disk()
                    && let Ok(Some(dpb)) = journal.disk().physical_block(ino, off)
                {
                    journal.mark_bad(dpb);
                }
                let hits = img.users_of(pb);
                let mut files: Vec<Ino> = hits.iter().map(|h| h.0).collect();
                files.sort_unstable();
                files.dedup();
                let note = format!(
                    "media error on physical block {pb}: damages {} file{}",
                    files.len(),
                    if files.len() == 1 { "" } else { "s" }
                );
                Ok(FaultReport { hits, note })
            }
            Fault::EnospcAfter { n } => {
                // `inject enospc 18446744073709551615`: "never" rather than an overflow.
                img.alloc.fail_at_call = Some(img.alloc.calls.saturating_add(n.max(1)));
                Ok(FaultReport {
                    hits: Vec::new(),
                    note: format!("allocation call {} from now fails with ENOSPC", n.max(1)),
                })
            }
            Fault::Reboot | Fault::RebootAfterCopied { .. } | Fault::Partition { .. } => {
                Err(Errno::EOPNOTSUPP)
            }
        }
    }
}
