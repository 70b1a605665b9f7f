//! The on-disk image of an extent-based filesystem.
//!
//! An [`Image`] is everything a filesystem would have on its device: the namespace, the
//! inodes with their extent maps, the physical extents with back-references, the free-space
//! allocator, and the block contents (as lazy [`Data`]). Every model in `fs-models` keeps its
//! state in one `Image` and decides *policy* (copy-on-write or in place, alignment, which
//! calls are supported); the mechanics of mapping, splitting, sharing and freeing live here
//! once.
//!
//! Design invariants (checked by [`Image::fsck`], numbered as in `docs/design.md`):
//! - **I1** every mapping references one *whole* physical extent (`mapping.len == extent.len`);
//!   sharing part of an extent first splits it, so a refcount is exact per block.
//! - **I2** an extent's back-references are exactly the mappings that point at it; its
//!   reference count is their number; an extent with no reference is freed at once.
//! - **I3** free blocks + blocks of live extents = capacity; no block is both.
//! - **I4** bytes past EOF in the last block read as zero (so extending a file exposes zeroes).
//! - **I5** every inode reachable from a directory has `nlink > 0`; an unlinked inode keeps its
//!   extents only while it is open (the VFS evicts it at last close).
//!
//! Costs: every operation is O(extents touched · log n); no operation touches bytes except
//! where real bytes are written.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use imbl::OrdMap;

use crate::backrefs::Backrefs;
use crate::data::Data;
use crate::errno::{Errno, KResult};
use crate::phys_table::PhysTable;
use crate::rangeset::RangeSet;
use crate::space::{Allocator, Run};

/// An inode number within one filesystem.
pub type Ino = u64;
/// The key of a physical extent in the image's [`PhysTable`].
pub type PhysKey = usize;

/// The root directory's inode number.
pub const ROOT_INO: Ino = 1;
/// Longest name component, as on Linux filesystems.
pub const NAME_MAX: usize = 255;

/// File type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
}

/// Inode attributes that change what copy and remap calls may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// `chattr +i`: no change at all (`EPERM`).
    pub immutable: bool,
    /// `chattr +a`: writes only at EOF; remap into it is refused (`EPERM`).
    pub append_only: bool,
    /// An active swap file (`ETXTBSY` for copy and remap).
    pub swapfile: bool,
    /// btrfs `chattr +C`: overwrite in place; cannot share extents with datacow files.
    pub nodatacow: bool,
}

/// One logical extent of a file: `len` blocks backed by the whole physical extent `phys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub len: u64,
    pub phys: PhysKey,
    /// Preallocated but never written: reads as zero, SEEK_DATA treats it as a hole.
    pub unwritten: bool,
}

/// A run of physical blocks, the data on them, and who references them.
#[derive(Clone, Debug)]
pub struct PhysExtent {
    pub start: u64,
    pub len: u64,
    pub data: Data,
    /// `(inode, first file block)` of every mapping that references this extent.
    pub backrefs: Backrefs,
    /// Where the piece comes from: `(allocation id, block offset inside that allocation)`.
    /// Every allocation gets a new id; splitting keeps it (the tail's offset grows). Used by
    /// [`Image::fiemap_per_extent`] for btrfs, which keeps a partly overwritten extent whole
    /// and reports sharing per extent, not per block.
    pub origin: (u64, u64),
}

impl PhysExtent {
    /// The reference count: the number of mappings that point here.
    pub fn refs(&self) -> usize {
        self.backrefs.len()
    }
}

/// One inode.
#[derive(Clone, Debug)]
pub struct InodeImage {
    pub kind: FileKind,
    pub size: u64,
    pub nlink: u32,
    pub attrs: Attrs,
    /// File block → mapping. Blocks not covered are holes. A persistent map, like the
    /// inode table: a journal snapshot shares it, and the next change copies only the path
    /// it touches — so the fsync after every step of a long copy (an nfs-like COPY that the
    /// client COMMITs) costs O(log n), not a copy of the whole file's map.
    pub map: OrdMap<u64, Mapping>,
    /// Data stored inline in metadata (btrfs-like small files); when set, `map` is empty.
    pub inline: Option<Data>,
    /// Directory entries (directories only).
    pub children: OrdMap<String, Ino>,
    /// The directory holding this inode's name (the root is its own parent). Kept for
    /// directories, which have exactly one name, so that the rename loop check walks up in
    /// O(depth) instead of searching every directory per level.
    pub parent: Ino,
    /// Change counter, bumped by every modification (stands in for mtime/ctime).
    pub version: u64,
    /// Blocks mapped by `map`, kept by the engine so that `stat` is O(1).
    pub mapped: u64,
    /// The bytes past EOF in the EOF block may be non-zero: a model that leaves a shared
    /// EOF block alone when shrinking (btrfs) keeps the other file's bytes there. Every
    /// operation that moves EOF up zeroes them first ([`Image::zero_eof_tail`]), so they
    /// are never visible; I4 is not checked while this is set.
    pub stale_tail: bool,
    /// Unwritten blocks whose (zero) pages are in the page cache because they were read.
    /// XFS's `SEEK_DATA`/`SEEK_HOLE` count them as data (iomap consults the page cache
    /// for unwritten extents); models with that behaviour record reads here
    /// ([`Image::note_read_unwritten`]). A block leaves the set when it is unmapped,
    /// shifted, or explicitly forgotten (the kernel truncates the page cache there). Kept
    /// as runs, so reading a huge preallocated range costs one entry, not one per block.
    pub cached_unwritten: RangeSet,
    /// File blocks with no cached extent map, for models with
    /// [`Image::hole_extent_map_cache`] (btrfs). Only holes matter: btrfs's
    /// `find_first_non_hole` asks `btrfs_get_extent` for a range, and an uncached hole
    /// comes back exactly as long as that range — which `btrfs_punch_hole` rounds wrongly
    /// (start rounded down, length rounded up), so it can end a block short of the punch
    /// ([`Image::punch_with`]). A clone empties the cache over the destination range;
    /// reads, punches and growing the file fill it again. Kept as runs.
    pub em_uncached: RangeSet,
}

impl InodeImage {
    fn new(kind: FileKind) -> InodeImage {
        InodeImage {
            kind,
            size: 0,
            nlink: 1,
            attrs: Attrs::default(),
            map: OrdMap::new(),
            inline: None,
            children: OrdMap::new(),
            parent: ROOT_INO,
            version: 0,
            mapped: 0,
            stale_tail: false,
            cached_unwritten: RangeSet::new(),
            em_uncached: RangeSet::new(),
        }
    }

    /// The mapping that covers file block `fb`, with its first block.
    pub fn mapping_at(&self, fb: u64) -> Option<(u64, &Mapping)> {
        let (&s, m) = self.map.get_prev(&fb)?;
        (fb < s + m.len).then_some((s, m))
    }

    /// Whether no mapping overlaps file blocks `[from, to)` (one lookup: the last mapping
    /// that starts before `to`).
    pub fn is_hole(&self, from: u64, to: u64) -> bool {
        match to.checked_sub(1).and_then(|last| self.map.get_prev(&last)) {
            Some((&s, m)) => s + m.len <= from,
            None => true,
        }
    }

    /// Mappings that overlap file blocks `[from, to)`, in order.
    pub fn mappings_in(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &Mapping)> {
        let first = self.mapping_at(from).map(|(s, _)| s).unwrap_or(from);
        self.map
            .range(first..to)
            .map(|(&s, m)| (s, m))
            .filter(move |(s, m)| s + m.len > from)
    }
}

/// How a model overwrites a block that is already mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Always in place (no sharing exists: ext4, tmpfs).
    InPlace,
    /// In place when the block is not shared, else copy-on-write (XFS, OCFS2, btrfs nodatacow).
    CowShared,
    /// Always copy-on-write, even unshared blocks (btrfs datacow).
    CowAlways,
}

/// `FIEMAP_EXTENT_*` flags.
pub mod fiemap_flags {
    pub const LAST: u32 = 0x1;
    pub const UNKNOWN: u32 = 0x2;
    pub const DELALLOC: u32 = 0x4;
    pub const ENCODED: u32 = 0x8;
    pub const DATA_ENCRYPTED: u32 = 0x80;
    pub const NOT_ALIGNED: u32 = 0x100;
    pub const DATA_INLINE: u32 = 0x200;
    pub const DATA_TAIL: u32 = 0x400;
    pub const UNWRITTEN: u32 = 0x800;
    pub const MERGED: u32 = 0x1000;
    pub const SHARED: u32 = 0x2000;
}

/// One extent as `FS_IOC_FIEMAP` reports it (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FiemapExtent {
    pub logical: u64,
    pub physical: u64,
    pub length: u64,
    pub flags: u32,
}

/// The whole image of one filesystem. `Clone` is a snapshot (used for crash states).
///
/// Snapshots share structure with the live image. The inode table, directories and each
/// file's extent map are persistent maps ([`imbl::OrdMap`]: a clone is O(1), a change
/// copies one O(log n) path), the physical extents sit in a [`PhysTable`] (a persistent
/// vector), inodes and extents sit behind [`Arc`]s, and the live image copies an inode or
/// an extent only when it first changes one that a snapshot still holds
/// ([`Arc::make_mut`]). A journal snapshot therefore costs O(free-space holes) (the
/// allocator) and the operation after it pays for what it touches.
#[derive(Clone, Debug)]
pub struct Image {
    block_size: u64,
    pub inodes: OrdMap<Ino, Arc<InodeImage>>,
    next_ino: Ino,
    pub alloc: Allocator,
    pub phys: PhysTable,
    /// Physical blocks with a media error: reading them gives `EIO`.
    pub bad: BTreeSet<u64>,
    /// Model-private per-inode metadata that lives on the device (so it survives crashes
    /// with the image), keyed by `(inode, name)`: e.g. ocfs2-like's refcount-tree id.
    /// Dropped when the inode is evicted.
    pub inode_tags: BTreeMap<(Ino, &'static str), u64>,
    /// The next [`PhysExtent::origin`] id.
    next_origin: u64,
    /// [`Image::zero_eof_tail`] writes a zeroed EOF block even where it is a hole or
    /// unwritten (btrfs `btrfs_truncate_block`: measured on Linux 6.18, growing a file whose
    /// EOF block is a hole allocates that block); otherwise only a written block is zeroed
    /// (XFS `iomap_zero_range` skips holes and unwritten extents). Set by the model.
    pub zero_eof_allocates: bool,
    /// With [`Image::zero_eof_allocates`]: a file no bigger than this (and below a block)
    /// whose data is all hole becomes inline data when its EOF block is zeroed (btrfs's
    /// `max_inline`). 0: never.
    pub inline_max: u64,
    /// The model keeps btrfs's extent map cache for holes ([`InodeImage::em_uncached`]):
    /// a punch starting in a hole whose extent map is not cached skips only the block
    /// range `btrfs_get_extent` was asked for. Set by the model (btrfs).
    pub hole_extent_map_cache: bool,
    /// Which journal snapshot this image is, or was recovered from ([`crate::crash::Journal`]
    /// numbers them); `None` for a live image. Snapshots never change, so a checker that
    /// verified a crash state may skip an image with the same number (and the same media
    /// errors) until what it checks against changes.
    pub snapshot: Option<u64>,
    /// `Some`: the zeroing of partial blocks by a punch, zero-range or shrinking truncate
    /// is recorded here as `(inode, offset, length)` instead of done. The kernels zero those
    /// bytes in the page cache, so a model applying such a change to its device view
    /// ([`crate::crash::Journal`]) defers them and dirties the page cache instead; the
    /// bytes keep their old value on the device until writeback, so the inode is marked
    /// [`InodeImage::stale_tail`] (they may lie past EOF).
    pub defer_zeroing: Option<Vec<(Ino, u64, u64)>>,
}

/// Inode `ino` of `inodes`, for changing it: copied first if a snapshot still shares it
/// (copy-on-write, [`Arc::make_mut`]). A function of the inode table alone, so that callers
/// can hold it while they change the extent table.
fn node_mut(inodes: &mut OrdMap<Ino, Arc<InodeImage>>, ino: Ino) -> Option<&mut InodeImage> {
    inodes.get_mut(&ino).map(Arc::make_mut)
}

impl Image {
    /// An empty filesystem of `capacity` blocks of `block_size` bytes with a root directory.
    pub fn new(block_size: u64, capacity: u64) -> Image {
        assert!(block_size.is_power_of_two() && block_size >= 512);
        let mut inodes = OrdMap::new();
        let mut root = InodeImage::new(FileKind::Directory);
        root.nlink = 2;
        inodes.insert(ROOT_INO, Arc::new(root));
        Image {
            block_size,
            inodes,
            next_ino: ROOT_INO + 1,
            alloc: Allocator::new(capacity),
            phys: PhysTable::new(),
            bad: BTreeSet::new(),
            inode_tags: BTreeMap::new(),
            next_origin: 0,
            zero_eof_allocates: false,
            inline_max: 0,
            hole_extent_map_cache: false,
            defer_zeroing: None,
            snapshot: None,
        }
    }

    /// The allocation unit (block or cluster) in bytes.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// An inode.
    ///
    /// # Errors
    /// `ESTALE` for an inode number that does not exist (a handle that outlived its file).
    pub fn inode(&self, ino: Ino) -> KResult<&InodeImage> {
        self.inodes.get(&ino).map(|i| &**i).ok_or(Errno::ESTALE)
    }

    /// An inode, for changing it; bumps its change counter.
    ///
    /// # Errors
    /// `ESTALE` as for [`Image::inode`].
    pub fn inode_mut(&mut self, ino: Ino) -> KResult<&mut InodeImage> {
        let i = node_mut(&mut self.inodes, ino).ok_or(Errno::ESTALE)?;
        i.version += 1;
        Ok(i)
    }

    fn dir(&self, dir: Ino) -> KResult<&InodeImage> {
        let d = self.inode(dir)?;
        if d.kind != FileKind::Directory {
            return Err(Errno::ENOTDIR);
        }
        Ok(d)
    }

    // ---------------------------------------------------------------- namespace

    /// Looks a name up in a directory.
    ///
    /// # Errors
    /// `ENOTDIR` if `dir` is not a directory; `ENAMETOOLONG`; `ENOENT` if absent.
    pub fn lookup(&self, dir: Ino, name: &str) -> KResult<Ino> {
        let d = self.dir(dir)?;
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        d.children.get(name).copied().ok_or(Errno::ENOENT)
    }

    /// Creates a file or directory.
    ///
    /// # Errors
    /// `ENOTDIR`, `ENAMETOOLONG`, `EEXIST`.
    pub fn create(&mut self, dir: Ino, name: &str, kind: FileKind) -> KResult<Ino> {
        let d = self.dir(dir)?;
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if d.children.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let mut node = InodeImage::new(kind);
        node.parent = dir;
        if kind == FileKind::Directory {
            node.nlink = 2;
        }
        self.inodes.insert(ino, Arc::new(node));
        let d = self.inode_mut(dir)?;
        d.children.insert(name.to_string(), ino);
        if kind == FileKind::Directory {
            d.nlink += 1;
        }
        Ok(ino)
    }

    /// Inserts inode `ino` of `kind`, unnamed (`nlink` 0), for log replay
    /// ([`crate::replay`]) which must recreate an inode under its own number. Later creates
    /// get higher numbers.
    pub(crate) fn insert_inode(&mut self, ino: Ino, kind: FileKind) {
        let mut node = InodeImage::new(kind);
        node.nlink = 0;
        self.inodes.insert(ino, Arc::new(node));
        self.next_ino = self.next_ino.max(ino + 1);
    }

    /// Removes a directory entry (`unlink` or, with `rmdir`, `rmdir`). Returns the inode,
    /// whose `nlink` is now 0; the caller evicts it once it is no longer open.
    ///
    /// # Errors
    /// `ENOENT`; `EISDIR` (unlink of a directory); `ENOTDIR` (rmdir of a file);
    /// `ENOTEMPTY`.
    pub fn remove(&mut self, dir: Ino, name: &str, rmdir: bool) -> KResult<Ino> {
        let ino = self.lookup(dir, name)?;
        let node = self.inode(ino)?;
        match (node.kind, rmdir) {
            (FileKind::Directory, false) => return Err(Errno::EISDIR),
            (FileKind::Regular, true) => return Err(Errno::ENOTDIR),
            (FileKind::Directory, true) if !node.children.is_empty() => {
                return Err(Errno::ENOTEMPTY);
            }
            _ => {}
        }
        let d = self.inode_mut(dir)?;
        d.children.remove(name);
        if rmdir {
            d.nlink -= 1;
        }
        self.inode_mut(ino)?.nlink = 0;
        Ok(ino)
    }

    /// Whether directory `anc` is `dir` or one of its ancestors: directories form a tree,
    /// so walk up the parent links to the root.
    fn is_ancestor(&self, anc: Ino, mut dir: Ino) -> bool {
        loop {
            if dir == anc {
                return true;
            }
            match self.inodes.get(&dir) {
                Some(d) if d.parent != dir => dir = d.parent,
                _ => return false,
            }
        }
    }

    /// Renames `odir/oname` to `ndir/nname`, replacing a compatible target. Returns the
    /// replaced inode (now unlinked), if any.
    ///
    /// # Errors
    /// `ENOENT`; `EISDIR` (file over directory); `ENOTDIR` (directory over file);
    /// `ENOTEMPTY` (over a non-empty directory); `EINVAL` (directory into itself).
    pub fn rename(
        &mut self,
        odir: Ino,
        oname: &str,
        ndir: Ino,
        nname: &str,
    ) -> KResult<Option<Ino>> {
        let src = self.lookup(odir, oname)?;
        self.dir(ndir)?;
        if nname.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let kind = self.inode(src)?.kind;
        if kind == FileKind::Directory && self.is_ancestor(src, ndir) {
            return Err(Errno::EINVAL);
        }
        let target = self.lookup(ndir, nname).ok();
        if target == Some(src) {
            return Ok(None);
        }
        if let Some(t) = target {
            let tn = self.inode(t)?;
            match (kind, tn.kind) {
                (FileKind::Regular, FileKind::Directory) => return Err(Errno::EISDIR),
                (FileKind::Directory, FileKind::Regular) => return Err(Errno::ENOTDIR),
                (FileKind::Directory, FileKind::Directory) if !tn.children.is_empty() => {
                    return Err(Errno::ENOTEMPTY);
                }
                _ => {}
            }
            self.remove(ndir, nname, kind == FileKind::Directory)?;
        }
        let o = self.inode_mut(odir)?;
        o.children.remove(oname);
        if kind == FileKind::Directory {
            o.nlink -= 1;
        }
        let n = self.inode_mut(ndir)?;
        n.children.insert(nname.to_string(), src);
        if kind == FileKind::Directory {
            n.nlink += 1;
        }
        // Not a change of the inode's data or attributes: no version bump.
        if let Some(moved) = node_mut(&mut self.inodes, src) {
            moved.parent = ndir;
        }
        Ok(target)
    }

    /// Frees an unlinked inode and its extents.
    pub fn evict(&mut self, ino: Ino) {
        if self.inodes.get(&ino).is_some_and(|i| i.nlink == 0) {
            self.unmap(ino, 0, u64::MAX);
            self.inodes.remove(&ino);
            self.inode_tags.retain(|&(i, _), _| i != ino);
        }
    }

    /// A model-private tag of an inode (see [`Image::inode_tags`]).
    pub fn tag(&self, ino: Ino, name: &'static str) -> Option<u64> {
        self.inode_tags.get(&(ino, name)).copied()
    }

    /// Sets a model-private tag of an inode (see [`Image::inode_tags`]).
    pub fn set_tag(&mut self, ino: Ino, name: &'static str, value: u64) {
        self.inode_tags.insert((ino, name), value);
    }

    // ---------------------------------------------------------------- inline data

    /// Stores `data` inline in the inode (btrfs-like small files): the extent map is
    /// emptied (its extents are released) and the size is left to the caller.
    ///
    /// # Errors
    /// `ESTALE` for a missing inode.
    pub fn set_inline(&mut self, ino: Ino, data: Data) -> KResult<()> {
        self.inode(ino)?;
        self.unmap(ino, 0, u64::MAX);
        self.inode_mut(ino)?.inline = Some(data);
        Ok(())
    }

    /// Moves inline data out to a regular extent (the blocks it needs, the tail of the last
    /// block zero), so the extent machinery can work on the file. No-op for a file without
    /// inline data. All-or-nothing.
    ///
    /// # Errors
    /// `ENOSPC` (the file stays inline).
    pub fn uninline(&mut self, ino: Ino) -> KResult<()> {
        let bs = self.block_size;
        let Some(data) = self.inode(ino)?.inline.clone() else {
            return Ok(());
        };
        let n = data.len().div_ceil(bs);
        let runs = self.alloc.alloc(n, 0)?;
        let mut padded = data;
        padded.push(n * bs - padded.len(), crate::data::Src::Zero);
        self.inode_mut(ino)?.inline = None;
        let id = self.new_origin();
        self.map_runs(ino, 0, runs, &padded, false, (id, 0));
        Ok(())
    }

    /// Evicts every unlinked inode (mount-time orphan cleanup after a crash).
    pub fn evict_orphans(&mut self) {
        let orphans: Vec<Ino> = self
            .inodes
            .iter()
            .filter(|(_, i)| i.nlink == 0)
            .map(|(&n, _)| n)
            .collect();
        for ino in orphans {
            self.evict(ino);
        }
    }

    // ---------------------------------------------------------------- extent mechanics

    /// Makes file block `fb` of `ino` start a mapping, splitting the physical extent under it
    /// (and thereby every mapping that shares it) when `fb` falls inside.
    pub fn split_at(&mut self, ino: Ino, fb: u64) {
        let Some((s, m)) = self.inodes.get(&ino).and_then(|i| i.mapping_at(fb)) else {
            return;
        };
        if s == fb {
            return;
        }
        let key = m.phys;
        self.split_phys(key, fb - s);
    }

    fn split_phys(&mut self, key: PhysKey, at: u64) {
        let bs = self.block_size;
        let e = Arc::make_mut(&mut self.phys[key]);
        debug_assert!(at > 0 && at < e.len);
        let tail = PhysExtent {
            start: e.start + at,
            len: e.len - at,
            data: e.data.slice(at * bs, (e.len - at) * bs),
            backrefs: e.backrefs.iter().map(|&(i, f)| (i, f + at)).collect(),
            origin: (e.origin.0, e.origin.1 + at),
        };
        e.data = e.data.slice(0, at * bs);
        e.len = at;
        let refs: Vec<(Ino, u64)> = e.backrefs.iter().copied().collect();
        let tail_len = tail.len;
        let tail_key = self.phys.insert(Arc::new(tail));
        for (i, f) in refs {
            let map = &mut node_mut(&mut self.inodes, i)
                .expect("backref to a live inode")
                .map;
            let head = map.get_mut(&f).expect("backref to a live mapping");
            head.len = at;
            let unwritten = head.unwritten;
            map.insert(
                f + at,
                Mapping {
                    len: tail_len,
                    phys: tail_key,
                    unwritten,
                },
            );
        }
    }

    /// Drops every mapping of `ino` in file blocks `[from, to)` (splitting at both ends) and
    /// frees extents that lose their last reference.
    pub fn unmap(&mut self, ino: Ino, from: u64, to: u64) {
        if from >= to {
            return;
        }
        self.split_at(ino, from);
        self.split_at(ino, to);
        let Some(node) = node_mut(&mut self.inodes, ino) else {
            return;
        };
        node.cached_unwritten.remove(from, to);
        let gone: Vec<(u64, Mapping)> = node
            .map
            .range(from..to)
            .map(|(&s, m)| (s, m.clone()))
            .collect();
        if gone.len() == node.map.len() {
            // The whole map (evict, truncate to 0): dropped at once, not entry by entry.
            node.map = OrdMap::new();
        } else {
            for (s, _) in &gone {
                node.map.remove(s);
            }
        }
        node.mapped -= gone.iter().map(|(_, m)| m.len).sum::<u64>();
        // Drop the references in one pass over the extent table, then free the extents
        // no file references any more, in the order they became free.
        let mut i = 0;
        let mut unreferenced = Vec::new();
        self.phys
            .update_each(gone.iter().map(|(_, m)| m.phys), |e| {
                let e = Arc::make_mut(e);
                // Planted bugs (vfs::bugs): the reference stays; the blocks are not freed.
                if !crate::bugs::planted(crate::bugs::Bug::BackrefNotRemoved) {
                    e.backrefs.remove(&(ino, gone[i].0));
                }
                if e.backrefs.is_empty() {
                    unreferenced.push(gone[i].1.phys);
                }
                i += 1;
            });
        for key in unreferenced {
            let e = self.phys.remove(key);
            if !crate::bugs::planted(crate::bugs::Bug::SpaceLeak) {
                self.alloc.free(Run {
                    start: e.start,
                    len: e.len,
                });
            }
        }
    }

    /// A fresh [`PhysExtent::origin`] id.
    fn new_origin(&mut self) -> u64 {
        self.next_origin += 1;
        self.next_origin
    }

    /// Maps `runs` at file block `fb`. All pieces belong to one allocation
    /// `origin = (id, file block where the allocation starts)`: btrfs writes one delalloc
    /// range back as one extent.
    fn map_runs(
        &mut self,
        ino: Ino,
        mut fb: u64,
        runs: Vec<Run>,
        data: &Data,
        unwritten: bool,
        origin: (u64, u64),
    ) {
        let bs = self.block_size;
        let mut off = 0u64;
        for run in runs {
            let key = self.phys.insert(Arc::new(PhysExtent {
                start: run.start,
                len: run.len,
                data: data.slice(off, run.len * bs),
                backrefs: Backrefs::one((ino, fb)),
                origin: (origin.0, fb.wrapping_sub(origin.1)),
            }));
            let node = node_mut(&mut self.inodes, ino).expect("mapping into a live inode");
            node.map.insert(
                fb,
                Mapping {
                    len: run.len,
                    phys: key,
                    unwritten,
                },
            );
            node.mapped += run.len;
            fb += run.len;
            off += run.len * bs;
        }
    }

    /// Maps file blocks `[fb, fb + len)` of `ino` to the physical blocks from `start`,
    /// holding `data`, as the piece `origin` of an allocation — if those blocks are free.
    /// Log replay ([`crate::replay`]) puts a logged extent back where the device holds it,
    /// so block numbers, and media errors on them, mean the same in the replayed image.
    /// Returns whether it did.
    pub(crate) fn place_exact(
        &mut self,
        ino: Ino,
        fb: u64,
        len: u64,
        start: u64,
        data: &Data,
        origin: (u64, u64),
    ) -> bool {
        self.unmap(ino, fb, fb + len);
        if !self.alloc.take_exact(start, len) {
            return false;
        }
        self.next_origin = self.next_origin.max(origin.0);
        let runs = vec![Run { start, len }];
        self.map_runs(
            ino,
            fb,
            runs,
            data,
            false,
            (origin.0, fb.wrapping_sub(origin.1)),
        );
        true
    }

    /// The content of file blocks `[from, to)` ignoring EOF (holes and unwritten read zero).
    ///
    /// # Errors
    /// `EIO` if a block in the range has a media error.
    pub fn read_blocks(&self, ino: Ino, from: u64, to: u64) -> KResult<Data> {
        let bs = self.block_size;
        let node = self.inode(ino)?;
        if let Some(inline) = &node.inline {
            let mut d = inline.slice(from * bs, (to - from) * bs);
            let have = d.len();
            d.push((to - from) * bs - have, crate::data::Src::Zero);
            return Ok(d);
        }
        let mut out = Data::new();
        let mut pos = from;
        for (s, m) in node.mappings_in(from, to) {
            let a = s.max(from);
            let b = (s + m.len).min(to);
            out.push((a - pos) * bs, crate::data::Src::Zero);
            let e = &self.phys[m.phys];
            let pa = e.start + (a - s);
            if self.bad.range(pa..pa + (b - a)).next().is_some() {
                return Err(Errno::EIO);
            }
            if m.unwritten {
                out.push((b - a) * bs, crate::data::Src::Zero);
            } else {
                out.append_slice(&e.data, (a - s) * bs, (b - a) * bs);
            }
            pos = b;
        }
        out.push((to - pos) * bs, crate::data::Src::Zero);
        Ok(out)
    }

    /// Reads `[off, off + len)` clamped to EOF.
    ///
    /// # Errors
    /// `EIO` on a media error inside the range.
    pub fn read(&self, ino: Ino, off: u64, len: u64) -> KResult<Data> {
        let bs = self.block_size;
        let size = self.inode(ino)?.size;
        if off >= size || len == 0 {
            return Ok(Data::new());
        }
        let end = size.min(off.saturating_add(len));
        let (b0, b1) = (off / bs, end.div_ceil(bs));
        Ok(self
            .read_blocks(ino, b0, b1)?
            .slice(off - b0 * bs, end - off))
    }

    /// Overwrites the block-aligned span starting at file block `fb` with `span` (a whole
    /// number of blocks), allocating for holes and for blocks the policy copies on write.
    /// All-or-nothing: on `ENOSPC` nothing visible changes.
    fn write_span(&mut self, ino: Ino, fb: u64, span: &Data, ow: Overwrite) -> KResult<()> {
        let bs = self.block_size;
        let n = span.len() / bs;
        debug_assert_eq!(span.len() % bs, 0);
        if n > 0 && self.inode(ino)?.is_hole(fb, fb + n) {
            // Into a hole (an append, most often): the general path below with nothing to
            // split, plan or unmap — one piece of new blocks — in one lookup instead of
            // eight (a file written by an nfs-like client has an extent per WRITE).
            let mut runs = self.alloc.alloc(n, 0)?;
            let origin = self.new_origin();
            node_mut(&mut self.inodes, ino)
                .expect("checked above")
                .cached_unwritten
                .remove(fb, fb + n);
            let mine = take_runs(&mut runs, n);
            self.map_runs(ino, fb, mine, &span.slice(0, n * bs), false, (origin, fb));
            return Ok(());
        }
        self.split_at(ino, fb);
        self.split_at(ino, fb + n);
        // Plan: which pieces are written in place, which need new blocks.
        let node = self.inode(ino)?;
        let mut pieces: Vec<(u64, u64, Option<PhysKey>)> = Vec::new(); // (fb, len, in-place key)
        let mut pos = fb;
        for (s, m) in node.mappings_in(fb, fb + n) {
            if s > pos {
                pieces.push((pos, s - pos, None));
            }
            let refs = self.phys[m.phys].refs();
            // CowAlways writes preallocated space in place (btrfs `run_delalloc_nocow` on
            // a PREALLOC extent) only while no other file refers to the allocation
            // (`can_nocow_extent` → `btrfs_cross_ref_exist`: per extent, not per block).
            let in_place = refs == 1
                && (ow != Overwrite::CowAlways || (m.unwritten && !self.allocation_shared(m.phys)));
            // Planted bug (vfs::bugs): a shared block is overwritten in place.
            let in_place = in_place
                || (refs > 1 && crate::bugs::planted(crate::bugs::Bug::CowWritesSharedInPlace));
            pieces.push((s, m.len, in_place.then_some(m.phys)));
            pos = s + m.len;
        }
        if pos < fb + n {
            pieces.push((pos, fb + n - pos, None));
        }
        let needed: u64 = pieces.iter().filter(|p| p.2.is_none()).map(|p| p.1).sum();
        let hint = pieces
            .first()
            .and_then(|p| p.2)
            .map(|k| self.phys[k].start)
            .unwrap_or(0);
        let mut runs = self.alloc.alloc(needed, hint)?;
        let origin = self.new_origin();
        for (pfb, len, key) in pieces {
            let piece = span.slice((pfb - fb) * bs, len * bs);
            match key {
                Some(k) => {
                    Arc::make_mut(&mut self.phys[k]).data = piece;
                    let node = node_mut(&mut self.inodes, ino).expect("checked above");
                    node.map.get_mut(&pfb).expect("planned mapping").unwritten = false;
                }
                None => {
                    self.unmap(ino, pfb, pfb + len);
                    let mine = take_runs(&mut runs, len);
                    self.map_runs(ino, pfb, mine, &piece, false, (origin, fb));
                }
            }
        }
        Ok(())
    }

    /// Writes `data` at byte offset `off` without changing the size (read-modify-write of
    /// partial head and tail blocks).
    ///
    /// # Errors
    /// `ENOSPC` (nothing written), `EIO` (a partial block to be merged is unreadable).
    pub fn write_at(&mut self, ino: Ino, off: u64, data: &Data, ow: Overwrite) -> KResult<()> {
        let bs = self.block_size;
        let len = data.len();
        if len == 0 {
            return Ok(());
        }
        // Block writes work on the extent map: inline data moves out first.
        self.uninline(ino)?;
        let end = off + len;
        let (b0, b1) = (off / bs, end.div_ceil(bs));
        let mut span = Data::new();
        if off > b0 * bs {
            span.append(self.read_blocks(ino, b0, b0 + 1)?.slice(0, off - b0 * bs));
        }
        span.append(data.clone());
        if end < b1 * bs {
            let tail = self.read_blocks(ino, b1 - 1, b1)?;
            span.append(tail.slice(end - (b1 - 1) * bs, b1 * bs - end));
        }
        // Many small writes into one block must not leave it thousands of segments long.
        span.compact();
        self.write_span(ino, b0, &span, ow)
    }

    /// `pwrite`: writes `data` at `off` and extends the size.
    ///
    /// # Errors
    /// As [`Image::write_at`].
    pub fn write(&mut self, ino: Ino, off: u64, data: &Data, ow: Overwrite) -> KResult<()> {
        // A write starting past EOF first zeroes the rest of the EOF block (XFS
        // `xfs_file_write_checks` → `xfs_zero_range`, btrfs `btrfs_cont_expand`): a real
        // write, so a shared (or, under CowAlways, any) EOF block is copied on write.
        let node = self.inode(ino)?;
        let (size, bs) = (node.size, self.block_size);
        if !data.is_empty() && off > size {
            let inlines = node.map.is_empty() && size <= self.inline_max;
            // btrfs_cont_expand caches one hole extent map up to the write.
            self.cache_hole_ems(ino, size.div_ceil(bs), off.div_ceil(bs));
            if self.zero_eof_allocates
                && !inlines
                && !size.is_multiple_of(bs)
                && off / bs == size / bs + 1
            {
                // btrfs: the zeroed EOF block and the write are one dirty range, written
                // back as one extent (one allocation, for per-extent sharing).
                let mut d = Data::zero(off - size);
                d.append(data.clone());
                self.write_at(ino, size, &d, ow)?;
                self.inode_mut(ino)?.stale_tail = false;
                let node = self.inode_mut(ino)?;
                node.size = node.size.max(off + data.len());
                return Ok(());
            }
            self.zero_eof_tail(ino, ow)?;
        }
        self.write_at(ino, off, data, ow)?;
        let node = self.inode_mut(ino)?;
        node.size = node.size.max(off + data.len());
        Ok(())
    }

    /// Zeroes `[off, off + len)` (inside one block) where it is mapped and written, leaving
    /// holes and unwritten extents as they are. It is a real write even when the bytes are
    /// already zero, as the kernels' block zeroing is (`iomap_zero_range`,
    /// `btrfs_truncate_block`): a shared block is copied on write.
    fn zero_mapped(&mut self, ino: Ino, off: u64, len: u64, ow: Overwrite) -> KResult<()> {
        self.zero_partial(ino, off, len, ow, false)
    }

    /// [`Image::zero_mapped`]; with `unwritten_too`, an unwritten block is written as well
    /// (btrfs `btrfs_truncate_block` on a preallocated extent).
    fn zero_partial(
        &mut self,
        ino: Ino,
        off: u64,
        len: u64,
        ow: Overwrite,
        unwritten_too: bool,
    ) -> KResult<()> {
        if len == 0 {
            return Ok(());
        }
        let bs = self.block_size;
        let fb = off / bs;
        let mapped = self
            .inode(ino)?
            .mapping_at(fb)
            .is_some_and(|(_, m)| unwritten_too || !m.unwritten);
        if !mapped {
            return Ok(());
        }
        if let Some(deferred) = &mut self.defer_zeroing {
            deferred.push((ino, off, len));
            self.inode_mut(ino)?.stale_tail = true;
            return Ok(());
        }
        self.write_at(ino, off, &Data::zero(len), ow)
    }

    /// Zeroes the bytes past EOF in the EOF block (when it is mapped and written), before
    /// an operation moves EOF up: truncate up, a write or clone starting past EOF,
    /// fallocate past EOF. Clears [`InodeImage::stale_tail`].
    ///
    /// # Errors
    /// `ENOSPC` if the zeroing needs a copy-on-write and space is exhausted.
    pub fn zero_eof_tail(&mut self, ino: Ino, ow: Overwrite) -> KResult<()> {
        // Never deferred ([`Image::defer_zeroing`]): the kernels write a zeroed EOF block
        // back before the grown size reaches the disk (XFS `xfs_setattr_size` flushes from
        // the on-disk size; btrfs updates the on-disk size at ordered-extent completion),
        // so stale bytes are never exposed.
        let deferred = self.defer_zeroing.take();
        let r = self.zero_eof_tail_now(ino, ow);
        self.defer_zeroing = deferred;
        r
    }

    fn zero_eof_tail_now(&mut self, ino: Ino, ow: Overwrite) -> KResult<()> {
        let bs = self.block_size;
        let node = self.inode(ino)?;
        let size = node.size;
        if node.inline.is_none() && !size.is_multiple_of(bs) {
            if self.zero_eof_allocates && node.map.is_empty() && size <= self.inline_max {
                // btrfs writes the zeroed small file back inline (cow_file_range_inline).
                self.set_inline(ino, Data::zero(size))?;
            } else if self.zero_eof_allocates {
                self.write_at(ino, size, &Data::zero(bs - size % bs), ow)?;
            } else {
                self.zero_mapped(ino, size, bs - size % bs, ow)?;
            }
        }
        if let Some(n) = node_mut(&mut self.inodes, ino) {
            n.stale_tail = false;
        }
        Ok(())
    }

    /// `ftruncate`: sets the size; shrinking frees whole blocks past EOF and zeroes the tail
    /// of the last block (I4).
    ///
    /// # Errors
    /// `ENOSPC` if zeroing the tail needs a copy-on-write and space is exhausted.
    pub fn set_size(&mut self, ino: Ino, size: u64, ow: Overwrite) -> KResult<()> {
        self.set_size_with(ino, size, ow, true)
    }

    /// [`Image::set_size`], saying how a shrink treats the new EOF block's tail:
    /// `zero_tail` writes zeroes over it (XFS `iomap_truncate_page`: a shared block is
    /// copied on write); otherwise a shared EOF block is left alone and marked
    /// [`InodeImage::stale_tail`], an unshared one zeroed in place (btrfs: measured on
    /// Linux 6.18, a shrinking truncate does not copy the EOF block; the next extension
    /// does). Growing always zeroes the old EOF block's tail first
    /// ([`Image::zero_eof_tail`]).
    ///
    /// # Errors
    /// `ENOSPC` if zeroing needs a copy-on-write and space is exhausted.
    pub fn set_size_with(
        &mut self,
        ino: Ino,
        size: u64,
        ow: Overwrite,
        zero_tail: bool,
    ) -> KResult<()> {
        let bs = self.block_size;
        let old = self.inode(ino)?.size;
        if size > old {
            self.zero_eof_tail(ino, ow)?;
            // btrfs_cont_expand caches one hole extent map over the new blocks.
            self.cache_hole_ems(ino, old.div_ceil(bs), size.div_ceil(bs));
            // btrfs writes the grown file back: inline only while it stays small enough.
            if self.zero_eof_allocates
                && self.inode(ino)?.inline.is_some()
                && (size > self.inline_max || size >= bs)
            {
                self.uninline(ino)?;
            }
        }
        if size < old {
            if let Some(inline) = self.inode(ino)?.inline.clone() {
                self.inode_mut(ino)?.inline = Some(inline.slice(0, size));
            } else {
                if !size.is_multiple_of(bs) {
                    let fb = size / bs;
                    let refs = self
                        .inode(ino)?
                        .mapping_at(fb)
                        .filter(|(_, m)| !m.unwritten)
                        .map(|(_, m)| self.phys[m.phys].refs());
                    match refs {
                        Some(r) if !zero_tail && r > 1 => self.inode_mut(ino)?.stale_tail = true,
                        _ if !zero_tail => {
                            self.zero_mapped(ino, size, bs - size % bs, Overwrite::CowShared)?
                        }
                        _ => self.zero_mapped(ino, size, bs - size % bs, ow)?,
                    }
                }
                self.unmap(ino, size.div_ceil(bs), u64::MAX);
            }
        }
        let node = self.inode_mut(ino)?;
        node.size = size;
        if size.is_multiple_of(bs) {
            node.stale_tail = false;
        }
        Ok(())
    }

    /// Moves every mapping of `ino` at or after file block `from` by `delta` blocks
    /// (negative: towards the start), keeping back-references exact. The caller has made
    /// room (no mapping may land on another).
    fn shift_mappings(&mut self, ino: Ino, from: u64, delta: i64) -> KResult<()> {
        self.split_at(ino, from);
        let node = self.inode_mut(ino)?;
        node.cached_unwritten.remove_from(from);
        let moved: Vec<(u64, Mapping)> = node
            .map
            .range(from..)
            .map(|(&s, m)| (s, m.clone()))
            .collect();
        for (s, _) in &moved {
            node.map.remove(s);
        }
        for (s, m) in &moved {
            let to = s.wrapping_add_signed(delta);
            node.map.insert(to, m.clone());
        }
        for (s, m) in moved {
            let e = Arc::make_mut(&mut self.phys[m.phys]);
            e.backrefs.remove(&(ino, s));
            e.backrefs.insert((ino, s.wrapping_add_signed(delta)));
        }
        Ok(())
    }

    /// `FALLOC_FL_COLLAPSE_RANGE` (block-aligned, checked by the caller): removes
    /// `[off, off + len)` and moves the rest of the file down.
    ///
    /// # Errors
    /// `ESTALE`.
    pub fn collapse(&mut self, ino: Ino, off: u64, len: u64) -> KResult<()> {
        let bs = self.block_size;
        self.uninline(ino)?;
        let (fb, n) = (off / bs, len / bs);
        self.unmap(ino, fb, fb + n);
        self.shift_mappings(ino, fb + n, -(n as i64))?;
        let node = self.inode_mut(ino)?;
        node.size -= len;
        Ok(())
    }

    /// `FALLOC_FL_INSERT_RANGE` (block-aligned, checked by the caller): moves everything
    /// from `off` up by `len`, leaving a hole.
    ///
    /// # Errors
    /// `ESTALE`.
    pub fn insert_range(&mut self, ino: Ino, off: u64, len: u64) -> KResult<()> {
        let bs = self.block_size;
        self.uninline(ino)?;
        self.shift_mappings(ino, off / bs, (len / bs) as i64)?;
        let node = self.inode_mut(ino)?;
        node.size += len;
        Ok(())
    }

    /// `FALLOC_FL_UNSHARE_RANGE`: every shared, written block of `[off, off + len)` gets a
    /// private copy (XFS `xfs_reflink_unshare`).
    ///
    /// # Errors
    /// `ENOSPC` (nothing unshared then), `EIO`.
    pub fn unshare(&mut self, ino: Ino, off: u64, len: u64) -> KResult<()> {
        let bs = self.block_size;
        self.uninline(ino)?;
        let (b0, b1) = (off / bs, off.saturating_add(len).div_ceil(bs));
        let shared: Vec<(u64, u64)> = self
            .inode(ino)?
            .mappings_in(b0, b1)
            .filter(|(_, m)| !m.unwritten && self.phys[m.phys].refs() > 1)
            .map(|(s, m)| (s.max(b0), (s + m.len).min(b1)))
            .collect();
        for (a, b) in shared {
            let data = self.read_blocks(ino, a, b)?;
            self.write_span(ino, a, &data, Overwrite::CowShared)?;
        }
        Ok(())
    }

    /// `FALLOC_FL_PUNCH_HOLE`: whole blocks become holes, partial blocks are zeroed.
    ///
    /// # Errors
    /// `ENOSPC` if zeroing a partial block needs a copy-on-write and space is exhausted.
    pub fn punch(&mut self, ino: Ino, off: u64, len: u64, ow: Overwrite) -> KResult<()> {
        self.punch_range(ino, off, len, ow, false)
    }

    /// `FALLOC_FL_PUNCH_HOLE` as the model's `fallocate` does it: [`Image::punch`]; with
    /// `unwritten_too`, partial blocks that are unwritten are written with zeroes too
    /// (btrfs: `btrfs_punch_hole` → `btrfs_truncate_block` writes a preallocated block;
    /// XFS's `iomap_zero_range` skips it). With [`Image::hole_extent_map_cache`], btrfs's
    /// first hole lookup decides first ([`Image::punch_first_hole`]).
    ///
    /// # Errors
    /// As [`Image::punch`].
    pub fn punch_with(
        &mut self,
        ino: Ino,
        off: u64,
        len: u64,
        ow: Overwrite,
        unwritten_too: bool,
    ) -> KResult<()> {
        if self.hole_extent_map_cache && len > 0 {
            self.uninline(ino)?;
            if self.punch_first_hole(ino, off, len, ow)? {
                return Ok(());
            }
            let bs = self.block_size;
            let end = off.saturating_add(len);
            // The middle becomes one cached hole (`fill_holes`), the end blocks were looked
            // up (`find_first_non_hole`).
            self.cache_hole_ems(ino, off / bs, end.div_ceil(bs));
        }
        self.punch_range(ino, off, len, ow, unwritten_too)
    }

    /// btrfs's first `find_first_non_hole` in `btrfs_punch_hole`, when `off` is in a hole:
    /// the hole extent map it gets ends where the cached map ends, or — not cached — where
    /// the range it asked for ends: `round_down(off)` plus `round_up(len)` blocks, one block
    /// short of the punch's end when `off` is unaligned and the end's offset in its block is
    /// smaller than `off`'s. The punch then continues from the map's end; when what is left
    /// lies inside one block, that block is zeroed with a real write
    /// (`btrfs_truncate_block`), so a hole block becomes a zeroed data block. Returns
    /// whether the punch is finished (nothing more to do).
    ///
    /// Cached hole maps next to each other count as one (btrfs merges adjacent hole
    /// extent maps, `try_merge_map`).
    fn punch_first_hole(&mut self, ino: Ino, off: u64, len: u64, ow: Overwrite) -> KResult<bool> {
        let bs = self.block_size;
        let end = off.saturating_add(len);
        let node = self.inode(ino)?;
        let b0 = off / bs;
        if node.mapping_at(b0).is_some() {
            return Ok(false);
        }
        let hole_end = node.map.range(b0..).next().map_or(u64::MAX, |(&s, _)| s);
        let gaps = &node.em_uncached;
        let cached_run_end = |from: u64| gaps.first_in(from, hole_end).unwrap_or(hole_end);
        let em_end = if gaps.contains(b0) {
            let asked = b0.saturating_add(len.div_ceil(bs)).min(hole_end);
            let cached = gaps.end_of_run(b0);
            if cached < asked {
                // Trimmed to the cached map after it, then merged with it.
                cached_run_end(cached)
            } else {
                asked
            }
        } else {
            cached_run_end(b0)
        };
        let size = node.size;
        self.cache_hole_ems(ino, b0, em_end);
        let em_end = em_end.saturating_mul(bs);
        if em_end >= end {
            // "Already in a large hole."
            return Ok(true);
        }
        if end - em_end >= bs {
            return Ok(false);
        }
        // `btrfs_truncate_block` inside the (block-rounded) size only.
        if em_end >= size.div_ceil(bs).saturating_mul(bs) {
            return Ok(true);
        }
        if self.inode(ino)?.mapping_at(em_end / bs).is_none() {
            // A zeroed block where there was a hole.
            self.write_at(ino, em_end, &Data::zero(end - em_end), ow)?;
        } else {
            self.zero_partial(ino, em_end, end - em_end, ow, true)?;
        }
        Ok(true)
    }

    /// Marks file blocks `[from, to)` of `ino` as having no cached extent map (a clone
    /// dropped them); see [`InodeImage::em_uncached`]. Does nothing unless the model keeps
    /// the cache ([`Image::hole_extent_map_cache`]).
    pub fn forget_hole_ems(&mut self, ino: Ino, from: u64, to: u64) {
        if !self.hole_extent_map_cache || from >= to {
            return;
        }
        if let Some(node) = node_mut(&mut self.inodes, ino) {
            node.em_uncached.insert(from, to);
        }
    }

    /// Marks file blocks `[from, to)` of `ino` as cached (looked up, read, punched).
    pub fn cache_hole_ems(&mut self, ino: Ino, from: u64, to: u64) {
        // Looked at before changing: most inodes have nothing uncached, and a change would
        // copy an inode a journal snapshot still shares.
        let any = self
            .inodes
            .get(&ino)
            .is_some_and(|n| n.em_uncached.first_in(from, to).is_some());
        if any && let Some(node) = node_mut(&mut self.inodes, ino) {
            node.em_uncached.remove(from, to);
        }
    }

    /// Records a buffered read of `[off, off + len)` for the extent map cache: the pages
    /// read from disk get their extent maps cached, holes included. A read at offset 0
    /// starts a read-ahead window (`get_init_ra_size`: the request rounded up to a power of
    /// two pages, times 4 up to 32 pages, times 2 up to 256, else btrfs's 4 MiB read-ahead
    /// maximum), a read elsewhere reads what it asked for (a random read). Inside EOF.
    pub fn note_read_hole_ems(&mut self, ino: Ino, off: u64, len: u64) {
        if !self.hole_extent_map_cache || len == 0 {
            return;
        }
        let bs = self.block_size;
        let Ok(node) = self.inode(ino) else { return };
        if node.em_uncached.is_empty() {
            return;
        }
        let eof = node.size.div_ceil(bs);
        let b0 = off / bs;
        let req = off.saturating_add(len).div_ceil(bs) - b0;
        let window = if b0 == 0 {
            let p = req.checked_next_power_of_two().unwrap_or(u64::MAX);
            match p {
                0..=32 => p * 4,
                33..=256 => p * 2,
                _ => req.max(1024),
            }
        } else {
            req
        };
        self.cache_hole_ems(ino, b0, b0.saturating_add(window).min(eof));
    }

    fn punch_range(
        &mut self,
        ino: Ino,
        off: u64,
        len: u64,
        ow: Overwrite,
        unwritten_too: bool,
    ) -> KResult<()> {
        let bs = self.block_size;
        self.uninline(ino)?;
        let end = off.saturating_add(len);
        let (full_from, full_to) = (off.div_ceil(bs), end / bs);
        if full_from > full_to {
            // Inside one block.
            return self.zero_partial(ino, off, len, ow, unwritten_too);
        }
        // Two partial blocks are two read-modify-writes, and the second can fail (EIO,
        // ENOSPC) after the first changed the file: keep the image to put back (A2).
        let node = self.inode(ino)?;
        let two = !off.is_multiple_of(bs)
            && !end.is_multiple_of(bs)
            && node.mapping_at(off / bs).is_some()
            && node.mapping_at(full_to).is_some();
        let saved = two.then(|| self.clone());
        let zeroed = self
            .zero_partial(ino, off, full_from * bs - off, ow, unwritten_too)
            .and_then(|()| {
                self.zero_partial(ino, full_to * bs, end - full_to * bs, ow, unwritten_too)
            });
        if let Err(e) = zeroed {
            if let Some(saved) = saved {
                // The fault plan is device state: it stays as the failed call left it.
                let (calls, fail) = (self.alloc.calls, self.alloc.fail_at_call);
                *self = saved;
                (self.alloc.calls, self.alloc.fail_at_call) = (calls, fail);
            }
            return Err(e);
        }
        self.unmap(ino, full_from, full_to);
        self.inode_mut(ino)?;
        Ok(())
    }

    /// `fallocate` mode 0 / `KEEP_SIZE`: backs holes in the range with unwritten extents.
    ///
    /// # Errors
    /// `ENOSPC` (nothing allocated).
    pub fn preallocate(&mut self, ino: Ino, off: u64, len: u64, keep_size: bool) -> KResult<()> {
        let bs = self.block_size;
        self.uninline(ino)?;
        let end = off + len;
        let (b0, b1) = (off / bs, end.div_ceil(bs));
        let node = self.inode(ino)?;
        let mut holes = Vec::new();
        let mut pos = b0;
        for (s, m) in node.mappings_in(b0, b1) {
            if s > pos {
                holes.push((pos, s - pos));
            }
            pos = s + m.len;
        }
        if pos < b1 {
            holes.push((pos, b1 - pos));
        }
        let needed = holes.iter().map(|h| h.1).sum();
        let mut runs = self.alloc.alloc(needed, 0)?;
        for (fb, n) in holes {
            let mine = take_runs(&mut runs, n);
            let id = self.new_origin();
            self.map_runs(ino, fb, mine, &Data::zero(n * bs), true, (id, fb));
        }
        let node = self.inode_mut(ino)?;
        if !keep_size {
            node.size = node.size.max(end);
        }
        Ok(())
    }

    /// Makes file blocks `[dfb, dfb + n)` of `dst` reference the same physical blocks as
    /// `[sfb, sfb + n)` of `src` (holes stay holes). Needs no new space, except to move
    /// inline data of either file out to an extent first. The caller has checked alignment,
    /// overlap and sizes.
    ///
    /// # Errors
    /// `ESTALE` for a missing inode; `ENOSPC` when inline data cannot be moved out (nothing
    /// changed then).
    pub fn share(&mut self, src: Ino, sfb: u64, dst: Ino, dfb: u64, n: u64) -> KResult<()> {
        self.share_with(src, sfb, dst, dfb, n, false)
    }

    /// [`Image::share`]; with `written_only`, the source's unwritten (preallocated)
    /// extents are not shared: the destination has a hole there, as XFS's
    /// `xfs_reflink_remap_extent` treats an unwritten source mapping as a hole (measured:
    /// a clone of preallocated space leaves the destination a hole).
    ///
    /// # Errors
    /// As [`Image::share`].
    pub fn share_with(
        &mut self,
        src: Ino,
        sfb: u64,
        dst: Ino,
        dfb: u64,
        n: u64,
        written_only: bool,
    ) -> KResult<()> {
        self.inode(src)?;
        self.inode(dst)?;
        self.uninline(src)?;
        self.uninline(dst)?;
        // Cut the destination's boundaries *before* collecting the source pieces: a source
        // extent may also be mapped (by an earlier share) across a destination boundary,
        // and splitting it later would leave the collected pieces stale.
        self.split_at(dst, dfb);
        self.split_at(dst, dfb + n);
        self.split_at(src, sfb);
        self.split_at(src, sfb + n);
        let pieces: Vec<(u64, Mapping)> = self
            .inode(src)?
            .mappings_in(sfb, sfb + n)
            .filter(|(_, m)| !(written_only && m.unwritten))
            .map(|(s, m)| (s, m.clone()))
            .collect();
        self.unmap(dst, dfb, dfb + n);
        // A source EOF block with stale bytes past EOF carries them along.
        let src_node = self.inode(src)?;
        let stale = src_node.stale_tail && sfb + n > src_node.size / self.block_size;
        // Every mapping of the source, at the same blocks: the destination's map is the
        // source's, shared (O(1), a persistent map), whatever the extent count (FICLONE).
        let whole =
            (sfb == dfb && pieces.len() == src_node.map.len()).then(|| src_node.map.clone());
        let node = self.inode_mut(dst)?;
        node.stale_tail |= stale;
        match whole {
            Some(map) if node.map.is_empty() => {
                node.mapped += pieces.iter().map(|(_, m)| m.len).sum::<u64>();
                node.map = map;
            }
            _ => {
                for (s, m) in &pieces {
                    node.mapped += m.len;
                    node.map.insert(dfb + (s - sfb), m.clone());
                }
            }
        }
        let mut refs = pieces.iter().map(|(s, _)| (dst, dfb + (s - sfb)));
        self.phys
            .update_each(pieces.iter().map(|(_, m)| m.phys), |e| {
                let r = refs.next().expect("one reference per piece");
                Arc::make_mut(e).backrefs.insert(r);
            });
        Ok(())
    }

    /// Whether another (inode, file offset) key than `phys`'s own refers to any piece of
    /// `phys`'s allocation ([`PhysExtent::origin`]): btrfs's notion of a shared extent.
    /// O(physical extents); asked only for preallocated space under copy-on-write.
    fn allocation_shared(&self, phys: PhysKey) -> bool {
        let origin = self.phys[phys].origin.0;
        let mut keys = BTreeSet::new();
        for (_, e) in self.phys.iter().filter(|(_, e)| e.origin.0 == origin) {
            keys.extend(
                e.backrefs
                    .iter()
                    .map(|&(i, f)| (i, f.wrapping_sub(e.origin.1))),
            );
            if keys.len() > 1 {
                return true;
            }
        }
        false
    }

    /// `FS_IOC_FIEMAP`: the extents of a file, adjacent contiguous ones with equal flags
    /// merged, the last one marked `LAST`. `SHARED` is per block: set when the block is
    /// referenced more than once (XFS, OCFS2).
    pub fn fiemap(&self, ino: Ino) -> KResult<Vec<FiemapExtent>> {
        self.fiemap_with(ino, false)
    }

    /// [`Image::fiemap`] with btrfs's notion of `SHARED` (`btrfs_is_data_extent_shared`):
    /// per *extent*, i.e. per allocation ([`PhysExtent::origin`]). btrfs keeps an extent
    /// whole while any part of it is referenced, and each file extent item references it
    /// with the key `(inode, file offset − offset inside the extent)`; the extent is shared
    /// when it has a reference with any other key. So after a clone, overwriting one block
    /// of one file leaves the *other* file's copy of that block reported `SHARED`, while a
    /// file whose extent was merely split by its own overwrite is not.
    pub fn fiemap_per_extent(&self, ino: Ino) -> KResult<Vec<FiemapExtent>> {
        self.fiemap_with(ino, true)
    }

    fn fiemap_with(&self, ino: Ino, per_extent: bool) -> KResult<Vec<FiemapExtent>> {
        use fiemap_flags::*;
        let bs = self.block_size;
        let node = self.inode(ino)?;
        // Per allocation: the distinct (inode, base) keys that reference any piece of it.
        let mut keys: BTreeMap<u64, BTreeSet<(Ino, u64)>> = BTreeMap::new();
        if per_extent {
            for m in node.map.values() {
                keys.entry(self.phys[m.phys].origin.0).or_default();
            }
            for (_, e) in self.phys.iter() {
                if let Some(set) = keys.get_mut(&e.origin.0) {
                    set.extend(
                        e.backrefs
                            .iter()
                            .map(|&(i, f)| (i, f.wrapping_sub(e.origin.1))),
                    );
                }
            }
        }
        let mut out: Vec<FiemapExtent> = Vec::new();
        if let Some(inline) = &node.inline {
            if !inline.is_empty() {
                // btrfs's extent map for an inline extent ends at the data's end rounded up
                // to the sector (measured on Linux 6.18: a 1-byte file reports 4096 bytes).
                out.push(FiemapExtent {
                    logical: 0,
                    physical: 0,
                    length: inline.len().next_multiple_of(self.block_size),
                    flags: DATA_INLINE | NOT_ALIGNED,
                });
            }
        } else {
            for (&s, m) in &node.map {
                let e = &self.phys[m.phys];
                let mut flags = 0;
                if m.unwritten {
                    flags |= UNWRITTEN;
                }
                let shared = if per_extent {
                    keys.get(&e.origin.0).is_some_and(|k| k.len() > 1)
                } else {
                    e.refs() > 1
                };
                if shared {
                    flags |= SHARED;
                }
                let ext = FiemapExtent {
                    logical: s * bs,
                    physical: e.start * bs,
                    length: m.len * bs,
                    flags,
                };
                match out.last_mut() {
                    Some(p)
                        if p.logical + p.length == ext.logical
                            && p.physical + p.length == ext.physical
                            && p.flags == ext.flags =>
                    {
                        p.length += ext.length
                    }
                    _ => out.push(ext),
                }
            }
        }
        if let Some(last) = out.last_mut() {
            last.flags |= LAST;
        }
        Ok(out)
    }

    /// `lseek(SEEK_DATA)` (`data`) or `lseek(SEEK_HOLE)`; unwritten extents count as holes,
    /// except blocks in [`InodeImage::cached_unwritten`].
    ///
    /// # Errors
    /// `ENXIO` when `off` is at or past EOF, or no data follows `off`.
    pub fn seek(&self, ino: Ino, off: u64, data: bool) -> KResult<u64> {
        self.seek_within(ino, off, data, u64::MAX)
    }

    /// [`Image::seek`] that looks no further than byte `limit` for a hole: `SEEK_HOLE`
    /// answers the first hole at or after `off`, or `limit` when there is none before it.
    /// A hole search walks the mappings from `off` on, so a copy loop that only needs to
    /// know where its next step's data ends bounds the walk by its step instead of by the
    /// file: O(log n + mappings in `[off, limit)`). `SEEK_DATA` ignores `limit`.
    ///
    /// # Errors
    /// As [`Image::seek`].
    pub fn seek_within(&self, ino: Ino, off: u64, data: bool, limit: u64) -> KResult<u64> {
        let bs = self.block_size;
        let node = self.inode(ino)?;
        if off >= node.size {
            return Err(Errno::ENXIO);
        }
        if node.inline.is_some() {
            return Ok(if data { off } else { node.size });
        }
        let fb = off / bs;
        let cached = &node.cached_unwritten;
        if data {
            for (s, m) in node.mappings_in(fb, u64::MAX) {
                let first = s.max(fb);
                let hit = if m.unwritten {
                    cached.first_in(first, s + m.len)
                } else {
                    Some(first)
                };
                if let Some(b) = hit {
                    let p = (b * bs).max(off);
                    return if p < node.size {
                        Ok(p)
                    } else {
                        Err(Errno::ENXIO)
                    };
                }
            }
            return Err(Errno::ENXIO);
        }
        // The first block at or after fb that is neither written nor cached.
        let last = limit.div_ceil(bs);
        let mut pos = fb;
        for (s, m) in node.mappings_in(fb, u64::MAX) {
            if s > pos || pos >= last {
                break;
            }
            if m.unwritten {
                let end = s + m.len;
                if pos < end {
                    pos = cached.end_of_run(pos).min(end);
                }
                if pos < end {
                    break;
                }
            } else {
                pos = s + m.len;
            }
        }
        Ok(pos
            .saturating_mul(bs)
            .max(off)
            .min(node.size)
            .min(limit.max(off)))
    }

    /// The first byte of `[from, to)` of `ino` that a block backs — written or unwritten —
    /// with the end of the run of backed blocks from there, at most `max_run` bytes long
    /// and capped at `to`; `None` when the range is all hole (or past EOF's blocks).
    /// O(log n + mappings in the run).
    ///
    /// # Errors
    /// `ENOENT` for an unknown inode.
    pub fn backed_run(
        &self,
        ino: Ino,
        from: u64,
        to: u64,
        max_run: u64,
    ) -> KResult<Option<(u64, u64)>> {
        let bs = self.block_size;
        let node = self.inode(ino)?;
        if from >= to {
            return Ok(None);
        }
        if let Some(d) = &node.inline {
            let end = d.len().min(to);
            return Ok((from < end).then_some((from, end.min(from.saturating_add(max_run)))));
        }
        let (b0, b1) = (from / bs, to.div_ceil(bs));
        let mut runs = node.mappings_in(b0, b1);
        let Some((s, m)) = runs.next() else {
            return Ok(None);
        };
        let start = (s * bs).max(from);
        let cap = start.saturating_add(max_run).min(to);
        let mut end = (s + m.len).saturating_mul(bs);
        for (s, m) in runs {
            if end >= cap || s * bs != end {
                break;
            }
            end = (s + m.len).saturating_mul(bs);
        }
        Ok(Some((start, end.min(cap))))
    }

    /// Records that `[off, off + len)` of `ino` was read: its unwritten blocks inside EOF
    /// are now cached (see [`InodeImage::cached_unwritten`]).
    pub fn note_read_unwritten(&mut self, ino: Ino, off: u64, len: u64) {
        let bs = self.block_size;
        let Some(node) = node_mut(&mut self.inodes, ino) else {
            return;
        };
        let end = off.saturating_add(len).min(node.size);
        if off >= end {
            return;
        }
        let (b0, b1) = (off / bs, end.div_ceil(bs));
        let hits: Vec<(u64, u64)> = node
            .mappings_in(b0, b1)
            .filter(|(_, m)| m.unwritten)
            .map(|(s, m)| (s.max(b0), (s + m.len).min(b1)))
            .collect();
        for (from, to) in hits {
            node.cached_unwritten.insert(from, to);
        }
    }

    /// Makes the unwritten blocks of `[from, to)` written (zero) data: tmpfs's `fallocate`
    /// initialises a page it had allocated earlier and left `!uptodate`
    /// (`shmem_get_folio_gfp` with `SGP_FALLOC`), so it becomes data for `SEEK_DATA`.
    pub fn mark_written(&mut self, ino: Ino, from: u64, to: u64) {
        if from >= to {
            return;
        }
        self.split_at(ino, from);
        self.split_at(ino, to);
        if let Some(node) = node_mut(&mut self.inodes, ino) {
            let starts: Vec<u64> = node.map.range(from..to).map(|(&s, _)| s).collect();
            for s in starts {
                if let Some(m) = node.map.get_mut(&s) {
                    m.unwritten = false;
                }
            }
        }
    }

    /// Forgets cached unwritten blocks in file blocks `[from, to)` (the kernel truncated
    /// the page cache there: punch, zero range).
    pub fn forget_cached(&mut self, ino: Ino, from: u64, to: u64) {
        if let Some(node) = node_mut(&mut self.inodes, ino) {
            node.cached_unwritten.remove(from, to);
        }
    }

    // ---------------------------------------------------------------- inspection

    /// Per-block sharing of `[from, to)`: for each mapped piece `(file block, len, refs)`.
    pub fn sharing(&self, ino: Ino, from: u64, to: u64) -> KResult<Vec<(u64, u64, usize)>> {
        let node = self.inode(ino)?;
        Ok(node
            .mappings_in(from, to)
            .map(|(s, m)| {
                let a = s.max(from);
                let b = (s + m.len).min(to);
                (a, b - a, self.phys[m.phys].refs())
            })
            .collect())
    }

    /// Number of blocks in `[from, to)` of `ino` whose extent is referenced more than once.
    pub fn shared_blocks(&self, ino: Ino, from: u64, to: u64) -> KResult<u64> {
        Ok(self
            .sharing(ino, from, to)?
            .iter()
            .filter(|p| p.2 > 1)
            .map(|p| p.1)
            .sum())
    }

    /// The physical block behind byte `off` of `ino`, if mapped.
    pub fn physical_block(&self, ino: Ino, off: u64) -> KResult<Option<u64>> {
        let fb = off / self.block_size;
        Ok(self
            .inode(ino)?
            .mapping_at(fb)
            .map(|(s, m)| self.phys[m.phys].start + (fb - s)))
    }

    /// Who references physical block `pb`: `(inode, byte offset)` pairs.
    pub fn users_of(&self, pb: u64) -> Vec<(Ino, u64)> {
        self.phys
            .iter()
            .filter(|(_, e)| e.start <= pb && pb < e.start + e.len)
            .flat_map(|(_, e)| {
                e.backrefs
                    .iter()
                    .map(move |&(i, f)| (i, (f + pb - e.start) * self.block_size))
            })
            .collect()
    }

    /// Checks invariants I1–I5; returns one line per problem (empty when clean).
    pub fn fsck(&self) -> Vec<String> {
        let bs = self.block_size;
        let mut problems = Vec::new();
        let mut used = 0u64;
        let mut extents: Vec<(u64, u64)> = Vec::new();
        for (key, e) in &self.phys {
            used += e.len;
            extents.push((e.start, e.len));
            if e.backrefs.is_empty() {
                problems.push(format!(
                    "I2: extent {key} at block {} has no reference",
                    e.start
                ));
            }
            if e.data.len() != e.len * bs {
                problems.push(format!(
                    "extent {key}: data length {} != {} blocks",
                    e.data.len(),
                    e.len
                ));
            }
            for &(i, f) in &e.backrefs {
                match self.inodes.get(&i).and_then(|n| n.map.get(&f)) {
                    Some(m) if m.phys == key && m.len == e.len => {}
                    Some(m) if m.phys == key => problems.push(format!(
                        "I1: inode {i} block {f} maps {} blocks of a {}-block extent",
                        m.len, e.len
                    )),
                    _ => problems.push(format!(
                        "I2: extent {key} has a back-reference to inode {i} block {f} that does not map it"
                    )),
                }
            }
        }
        for (&ino, node) in &self.inodes {
            let mapped: u64 = node.map.values().map(|m| m.len).sum();
            if node.mapped != mapped {
                problems.push(format!(
                    "inode {ino}: mapped-block count {} != {mapped} blocks in its map",
                    node.mapped
                ));
            }
            for (&s, m) in &node.map {
                match self.phys.get(m.phys) {
                    Some(e) if e.backrefs.contains(&(ino, s)) => {}
                    _ => problems.push(format!(
                        "I2: inode {ino} block {s} maps extent {} without a back-reference",
                        m.phys
                    )),
                }
            }
            if node.kind == FileKind::Regular
                && !node.size.is_multiple_of(bs)
                && node.inline.is_none()
                && !node.stale_tail
            {
                let last = node.size / bs;
                if let Ok(d) = self.read_blocks(ino, last, last + 1)
                    && !d.slice(node.size % bs, bs).is_zero()
                {
                    problems.push(format!("I4: inode {ino} has non-zero bytes past EOF"));
                }
            }
            for (name, c) in &node.children {
                match self.inodes.get(c) {
                    Some(ch) if ch.nlink > 0 => {}
                    _ => problems.push(format!("I5: entry {name:?} in {ino} names dead inode {c}")),
                }
                if let Some(ch) = self.inodes.get(c)
                    && ch.kind == FileKind::Directory
                    && ch.parent != ino
                {
                    problems.push(format!(
                        "directory {c} ({name:?} in {ino}) records parent {}",
                        ch.parent
                    ));
                }
            }
        }
        if used + self.alloc.free_blocks() != self.alloc.capacity() {
            problems.push(format!(
                "I3: used {used} + free {} != capacity {}",
                self.alloc.free_blocks(),
                self.alloc.capacity()
            ));
        }
        extents.extend(self.alloc.free_runs().map(|r| (r.start, r.len)));
        extents.sort_unstable();
        for w in extents.windows(2) {
            if w[0].0 + w[0].1 > w[1].0 {
                problems.push(format!("I3: blocks {} and {} overlap", w[0].0, w[1].0));
            }
        }
        problems
    }
}

fn take_runs(runs: &mut Vec<Run>, mut n: u64) -> Vec<Run> {
    let mut out = Vec::new();
    while n > 0 {
        let r = &mut runs[0];
        let take = r.len.min(n);
        out.push(Run {
            start: r.start,
            len: take,
        });
        r.start += take;
        r.len -= take;
        n -= take;
        if r.len == 0 {
            runs.remove(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BS: u64 = 4096;

    fn img() -> (Image, Ino, Ino) {
        let mut i = Image::new(BS, 64);
        let a = i.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        let b = i.create(ROOT_INO, "b", FileKind::Regular).unwrap();
        (i, a, b)
    }

    fn clean(i: &Image) {
        let p = i.fsck();
        assert!(p.is_empty(), "{p:#?}");
    }

    #[test]
    fn regression_reading_unwritten_blocks_caches_runs_not_blocks() {
        // Issue 17: reading preallocated blocks recorded each block, so a 1 GiB read left
        // 262,144 entries that every later change of the inode copied (xfs-like).
        let blocks = (1u64 << 30) / BS;
        let mut i = Image::new(BS, blocks + 64);
        let a = i.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        i.preallocate(a, 0, blocks * BS, false).unwrap();
        for chunk in 0..1024 {
            let len = blocks * BS / 1024;
            i.note_read_unwritten(a, chunk * len, len);
        }
        let node = i.inode(a).unwrap();
        assert_eq!(
            node.cached_unwritten.runs(),
            1,
            "one run for the whole read"
        );
        assert_eq!(i.seek(a, 0, true), Ok(0), "read unwritten blocks are data");
        assert_eq!(i.seek(a, 0, false), Ok(blocks * BS));
        i.forget_cached(a, 10, 20);
        assert_eq!(i.inode(a).unwrap().cached_unwritten.runs(), 2);
        assert_eq!(i.seek(a, 0, false), Ok(10 * BS));
        assert_eq!(i.seek(a, 10 * BS, true), Ok(20 * BS));
        clean(&i);
    }

    /// The write into a hole takes a shortcut (`Image::write_span`): one lookup, then the
    /// general path's outcome — a fresh allocation with no hint, cached unwritten blocks
    /// forgotten — while a write that touches a mapping takes the general path.
    #[test]
    fn is_hole_and_writes_into_holes() {
        let (mut i, a, b) = img();
        i.write(a, 0, &Data::fill(1, 2 * BS), Overwrite::InPlace)
            .unwrap();
        i.write(a, 10 * BS, &Data::fill(2, 2 * BS), Overwrite::InPlace)
            .unwrap();
        let n = i.inode(a).unwrap();
        assert!(n.is_hole(2, 10) && n.is_hole(12, 100) && n.is_hole(5, 5));
        assert!(!n.is_hole(1, 3) && !n.is_hole(9, 11) && !n.is_hole(0, 100));
        // b's append lands right after a's blocks (first fit from block 0), as before.
        i.write(b, 0, &Data::fill(3, BS), Overwrite::InPlace)
            .unwrap();
        let a10 = i.physical_block(a, 10 * BS).unwrap().unwrap();
        assert_eq!(i.physical_block(b, 0).unwrap(), Some(a10 + 2));
        // Into a's hole, then across its data: content and fsck.
        i.write(a, 3 * BS, &Data::fill(4, BS), Overwrite::InPlace)
            .unwrap();
        i.write(a, BS, &Data::fill(5, 10 * BS), Overwrite::InPlace)
            .unwrap();
        let got = i.read(a, 0, 12 * BS).unwrap();
        let mut want = Data::fill(1, BS);
        want.append(Data::fill(5, 10 * BS));
        want.append(Data::fill(2, BS));
        assert!(got.same_content(&want));
        clean(&i);
    }

    #[test]
    fn write_read_roundtrip_unaligned() {
        let (mut i, a, _) = img();
        i.write(a, 100, &Data::fill(b'x', 5000), Overwrite::InPlace)
            .unwrap();
        assert_eq!(i.inode(a).unwrap().size, 5100);
        let d = i.read(a, 0, 10_000).unwrap();
        assert_eq!(d.len(), 5100);
        let v = d.to_vec();
        assert!(v[..100].iter().all(|&b| b == 0));
        assert!(v[100..].iter().all(|&b| b == b'x'));
        clean(&i);
    }

    #[test]
    fn share_then_cow_unshares_only_written_block() {
        let (mut i, a, b) = img();
        i.write(a, 0, &Data::fill(b'a', 4 * BS), Overwrite::CowShared)
            .unwrap();
        i.share(a, 0, b, 0, 4).unwrap();
        i.inode_mut(b).unwrap().size = 4 * BS;
        assert_eq!(i.shared_blocks(b, 0, 4).unwrap(), 4);
        let free = i.alloc.free_blocks();
        i.write(b, BS, &Data::fill(b'b', 10), Overwrite::CowShared)
            .unwrap();
        assert_eq!(i.alloc.free_blocks(), free - 1, "one block copied on write");
        assert_eq!(i.shared_blocks(b, 0, 4).unwrap(), 3);
        assert_eq!(i.read(a, BS, 10).unwrap().to_vec(), vec![b'a'; 10]);
        assert_eq!(i.read(b, BS, 11).unwrap().to_vec(), b"bbbbbbbbbba");
        clean(&i);
        // Unshared overwrite in place under CowShared, new space under CowAlways.
        let free = i.alloc.free_blocks();
        i.write(b, BS, &Data::fill(b'c', 1), Overwrite::CowShared)
            .unwrap();
        assert_eq!(i.alloc.free_blocks(), free);
        i.write(b, BS, &Data::fill(b'c', 1), Overwrite::CowAlways)
            .unwrap();
        assert_eq!(
            i.alloc.free_blocks(),
            free,
            "old block freed, new one taken"
        );
        clean(&i);
    }

    #[test]
    fn delete_one_side_unshares_the_other() {
        let (mut i, a, b) = img();
        i.write(a, 0, &Data::fill(1, 2 * BS), Overwrite::CowShared)
            .unwrap();
        i.share(a, 0, b, 0, 2).unwrap();
        i.remove(ROOT_INO, "a", false).unwrap();
        i.evict(a);
        assert_eq!(i.shared_blocks(b, 0, 2).unwrap(), 0);
        clean(&i);
    }

    #[test]
    fn enospc_is_all_or_nothing() {
        let mut i = Image::new(BS, 4);
        let a = i.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        i.write(a, 0, &Data::fill(1, 3 * BS), Overwrite::CowAlways)
            .unwrap();
        let before = i.read(a, 0, 3 * BS).unwrap();
        assert_eq!(
            i.write(a, 0, &Data::fill(2, 2 * BS), Overwrite::CowAlways),
            Err(Errno::ENOSPC)
        );
        assert_eq!(i.read(a, 0, 3 * BS).unwrap(), before);
        clean(&i);
    }

    #[test]
    fn truncate_zeroes_tail_and_punch_makes_holes() {
        let (mut i, a, _) = img();
        i.write(a, 0, &Data::fill(b'z', 3 * BS), Overwrite::InPlace)
            .unwrap();
        i.set_size(a, BS + 10, Overwrite::InPlace).unwrap();
        i.set_size(a, 3 * BS, Overwrite::InPlace).unwrap();
        let v = i.read(a, BS, 20).unwrap().to_vec();
        assert_eq!(&v[..10], &[b'z'; 10]);
        assert_eq!(&v[10..], &[0; 10]);
        i.write(a, 0, &Data::fill(b'z', 3 * BS), Overwrite::InPlace)
            .unwrap();
        i.punch(a, 100, 2 * BS, Overwrite::InPlace).unwrap();
        assert_eq!(i.seek(a, 0, false).unwrap(), BS, "first whole hole block");
        assert_eq!(i.seek(a, BS, true).unwrap(), 2 * BS);
        clean(&i);
    }

    #[test]
    fn regression_share_over_a_shifted_copy_of_itself() {
        // A source extent already mapped by the destination across a destination
        // boundary: the boundary split must not leave the collected pieces stale.
        let (mut i, a, b) = img();
        i.write(a, 0, &Data::pattern(3, 0, 4 * BS), Overwrite::CowShared)
            .unwrap();
        i.share(a, 0, b, 0, 4).unwrap();
        i.share(a, 0, b, 2, 4).unwrap();
        i.inode_mut(b).unwrap().size = 6 * BS;
        clean(&i);
        let want = Data::pattern(3, 0, 4 * BS);
        assert_eq!(i.read(b, 2 * BS, 4 * BS).unwrap().to_vec(), want.to_vec());
        assert_eq!(
            i.read(b, 0, 2 * BS).unwrap().to_vec(),
            want.slice(0, 2 * BS).to_vec()
        );
        // The same within one file.
        i.share(b, 0, b, 8, 4).unwrap();
        i.share(b, 0, b, 10, 4).unwrap();
        i.inode_mut(b).unwrap().size = 14 * BS;
        clean(&i);
    }

    #[test]
    fn inline_data_moves_out_for_block_operations() {
        let (mut i, a, b) = img();
        i.set_inline(a, Data::fill(7, 100)).unwrap();
        i.inode_mut(a).unwrap().size = 100;
        let free = i.alloc.free_blocks();
        i.write(a, BS, &Data::fill(8, 10), Overwrite::CowAlways)
            .unwrap();
        assert!(i.inode(a).unwrap().inline.is_none());
        assert_eq!(i.alloc.free_blocks(), free - 2);
        assert_eq!(i.read(a, 0, 101).unwrap().to_vec()[99..], [7, 0]);
        clean(&i);
        i.set_inline(b, Data::fill(9, 10)).unwrap();
        i.inode_mut(b).unwrap().size = 10;
        i.share(b, 0, a, 4, 1).unwrap();
        assert!(i.inode(b).unwrap().inline.is_none());
        i.inode_mut(a).unwrap().size = 4 * BS + 10;
        assert_eq!(i.read(a, 4 * BS, 20).unwrap().to_vec(), vec![9; 10]);
        clean(&i);
    }

    #[test]
    fn inline_extent_reports_a_whole_sector_to_fiemap() {
        // As btrfs on Linux 6.18: `xfs_io -c "fiemap -v"` of a 1-byte inline file shows
        // `[0..7]` with flags 0x301.
        let (mut i, a, _) = img();
        i.set_inline(a, Data::fill(7, 1)).unwrap();
        i.inode_mut(a).unwrap().size = 1;
        let f = i.fiemap(a).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].logical, f[0].length), (0, BS));
        assert_eq!(
            f[0].flags,
            fiemap_flags::DATA_INLINE | fiemap_flags::NOT_ALIGNED | fiemap_flags::LAST
        );
    }

    #[test]
    fn fiemap_merges_and_flags() {
        let (mut i, a, b) = img();
        i.write(a, 0, &Data::fill(1, 4 * BS), Overwrite::CowShared)
            .unwrap();
        i.share(a, 2, b, 0, 2).unwrap();
        let f = i.fiemap(a).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].flags, 0);
        assert_eq!(f[1].flags, fiemap_flags::SHARED | fiemap_flags::LAST);
        assert_eq!(f[0].length + f[1].length, 4 * BS);
    }

    #[test]
    fn media_error_reports_every_user() {
        let (mut i, a, b) = img();
        i.write(a, 0, &Data::fill(1, BS), Overwrite::CowShared)
            .unwrap();
        i.share(a, 0, b, 0, 1).unwrap();
        let pb = i.physical_block(a, 0).unwrap().unwrap();
        i.bad.insert(pb);
        let mut users = i.users_of(pb);
        users.sort();
        assert_eq!(users, vec![(a, 0), (b, 0)]);
        i.inode_mut(a).unwrap().size = BS;
        assert_eq!(i.read(a, 0, 1), Err(Errno::EIO));
    }

    #[test]
    fn rename_refuses_a_directory_into_its_own_subtree_after_moves() {
        // /x/y moved to /z/y: the loop check must follow the recorded parents as they are
        // now, not as they were at creation.
        let mut i = Image::new(BS, 64);
        let x = i.create(ROOT_INO, "x", FileKind::Directory).unwrap();
        let y = i.create(x, "y", FileKind::Directory).unwrap();
        let z = i.create(ROOT_INO, "z", FileKind::Directory).unwrap();
        i.rename(x, "y", z, "y").unwrap();
        assert_eq!(i.inode(y).unwrap().parent, z);
        assert_eq!(i.rename(ROOT_INO, "z", y, "z"), Err(Errno::EINVAL));
        assert_eq!(i.rename(ROOT_INO, "z", z, "self"), Err(Errno::EINVAL));
        // x is no longer above y: moving it under y is allowed.
        i.rename(ROOT_INO, "x", y, "x").unwrap();
        assert_eq!(i.inode(x).unwrap().parent, y);
        clean(&i);
    }

    #[test]
    fn snapshots_share_until_written() {
        let (mut i, a, b) = img();
        i.write(a, 0, &Data::fill(1, 2 * BS), Overwrite::InPlace)
            .unwrap();
        let snap = i.clone();
        assert!(Arc::ptr_eq(&snap.inodes[&b], &i.inodes[&b]));
        i.write(a, 0, &Data::fill(2, BS), Overwrite::InPlace)
            .unwrap();
        // The written inode's extent was copied; the snapshot still reads the old bytes.
        assert!(Arc::ptr_eq(&snap.inodes[&b], &i.inodes[&b]));
        assert_eq!(snap.read(a, 0, 1).unwrap().to_vec(), vec![1]);
        assert_eq!(i.read(a, 0, 1).unwrap().to_vec(), vec![2]);
        clean(&i);
        clean(&snap);
    }
}
