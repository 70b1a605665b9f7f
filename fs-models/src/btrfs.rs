//! btrfs-like: copy-on-write of every data write, extent back-references, inline small
//! files, `nodatacow` files, clone and dedupe, transactional crash atomicity.
//!
//! What the model captures, and where real btrfs does it:
//!
//! - **CoW always** ([`Overwrite::CowAlways`]): every overwrite of a datacow file goes to new
//!   space, shared or not, so a full filesystem refuses *any* overwrite with `ENOSPC`.
//!   `nodatacow` files (`chattr +C`, mount option `nodatacow`) overwrite unshared extents in
//!   place and copy-on-write shared ones ([`Overwrite::CowShared`]); preallocated extents
//!   are written in place in both (btrfs's NOCOW path for prealloc).
//! - **Checksums**: a media error on a block is detected on read (`EIO`, from the image's
//!   bad-block set). Silent bit rot is not modelled: every damaged block is a media error.
//! - **Inline extents**: a file whose data starts at offset 0 and whose size stays within
//!   `max_inline` (default 2048, `BTRFS_DEFAULT_MAX_INLINE`) and below the sector size is
//!   kept in metadata ([`InodeImage::inline`](vfs::extent::InodeImage::inline)); a write that
//!   makes it bigger, or any block operation, moves it to a regular extent.
//! - **Remap** (`btrfs_remap_file_range`): flags other than DEDUP/ADVISORY → `EINVAL`;
//!   source and destination must agree on `NODATASUM` (nodatacow) → `EINVAL` — checked
//!   *before* the generic prep, so it beats `EPERM`, `EISDIR` and alignment; then
//!   [`vfs::remap::remap_prep`]; then the clone or dedupe. An inline source extent is never
//!   shared: its bytes are copied into the destination (kept inline when the destination
//!   offset is 0 and the destination is not bigger than the inline data,
//!   `clone_copy_inline_extent`; otherwise written to the destination's first block,
//!   `copy_inline_to_page`) — so `FICLONE` of a tiny file succeeds without sharing.
//!   Dedupe works in `BTRFS_MAX_DEDUPE_LEN` (16 MiB) pieces internally
//!   (`btrfs_extent_same`); it neither fails nor shortens because of it.
//! - **Transactions and the log tree** ([`Atomicity::Transaction`], `docs/design.md` D2,
//!   D3, D5): a crash keeps the last committed transaction (`sync`, or every 30 s) plus the
//!   inodes `fsync` wrote to the log tree, each whole; an un-fsynced clone disappears
//!   completely, and a clone *into* another file is not carried by fsync of its source.
//! - **`chattr +C`** (`btrfs_fileattr_set`): honoured on directories (new files inherit it)
//!   and on *empty* regular files; on a non-empty regular file the request succeeds but the
//!   flag silently stays as it was, as in btrfs.
//!
//! Not modelled: compression, subvolumes and snapshots (read-only roots → `EROFS`), send
//! (dedupe → `EAGAIN` while a send runs).

use vfs::clock::CostModel;
use vfs::crash::Atomicity;
use vfs::data::Data;
use vfs::errno::{Errno, KResult};
use vfs::extent::{Attrs, FileKind, Image, Ino, Overwrite};
use vfs::fs::remap_flags::DEDUP;
use vfs::remap::{self, RemapRequest};
use vfs::task::Task;

use crate::cow;
use crate::local::{Flavor, LocalFs, LocalOptions};

/// `BTRFS_DEFAULT_MAX_INLINE` (fs/btrfs/fs.h): the default of the `max_inline` mount
/// option, in bytes.
pub const DEFAULT_MAX_INLINE: u64 = 2048;

/// `BTRFS_MAX_DEDUPE_LEN` (fs/btrfs/reflink.c): dedupe is done in pieces of this size.
pub const MAX_DEDUPE_LEN: u64 = 16 << 20;

/// The btrfs flavor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Btrfs {
    /// `max_inline=`: largest file kept inline, in bytes (0: never inline).
    pub max_inline: u64,
    /// Mount option `nodatacow`: new regular files start nodatacow (and nodatasum).
    pub nodatacow: bool,
}

impl Default for Btrfs {
    fn default() -> Btrfs {
        Btrfs {
            max_inline: DEFAULT_MAX_INLINE,
            nodatacow: false,
        }
    }
}

/// The btrfs-like model.
pub type BtrfsFs = LocalFs<Btrfs>;

/// A btrfs-like filesystem with `flavor`'s options; `opts.cost` is usually
/// [`cost_model`].
pub fn btrfs(flavor: Btrfs, opts: LocalOptions) -> BtrfsFs {
    LocalFs::new(flavor, opts)
}

/// btrfs-like costs: [`CostModel::local_ssd`] (NVMe-class: 2 GB/s read, 1 GB/s write,
/// 1 µs per operation) with
/// - **5 µs per extent** shared: `FICLONE` of a 100,000-extent file took 0.45–0.5 s on
///   btrfs (Linux 6.18, loop device; reference §9), i.e. 4.5–5 µs per extent;
/// - **2 ms per commit** (`fsync`): a transaction commit writes new tree roots and a
///   superblock; an assumed order of magnitude (a whole `FICLONE` + `fsync` of a 1 GiB
///   one-extent file took ≈ 13 ms wall including process start, reference §9).
pub fn cost_model() -> CostModel {
    CostModel {
        per_extent_ns: 5_000,
        flush_ns: 2_000_000,
        ..CostModel::local_ssd()
    }
}

impl Btrfs {
    /// `BTRFS_INODE_NODATASUM`: regular files that are nodatacow have no checksums.
    /// Directories carry only `NODATACOW` (for inheritance).
    fn nodatasum(kind: FileKind, attrs: &Attrs) -> bool {
        kind == FileKind::Regular && attrs.nodatacow
    }

    /// Whether a write leaving the file `new_size` bytes long may keep it inline.
    fn fits_inline(&self, img: &Image, ino: Ino, new_size: u64) -> KResult<bool> {
        let n = img.inode(ino)?;
        Ok(self.max_inline > 0
            && n.kind == FileKind::Regular
            && n.map.is_empty()
            && new_size <= self.max_inline
            && new_size < img.block_size())
    }

    /// What `btrfs_clone` leaves in the destination's extent map cache
    /// ([`vfs::extent::InodeImage::em_uncached`]): each source extent is cloned by
    /// replacing the destination from the end of the previous one (`drop_start =
    /// last_dest_end`), which drops the cached maps there and caches none for the holes in
    /// between; the hole after the last source extent is punched (`fill_holes`, one cached
    /// hole map) inside the destination's size, and only dropped past it. `last`: blocks
    /// of the range up to the end of the last source extent in it (0: none); `old_size`:
    /// the destination's size before the clone; `end`: the clone's end in bytes.
    fn clone_drops_extent_maps(
        img: &mut Image,
        dst: Ino,
        dfb: u64,
        n: u64,
        last: u64,
        old_size: u64,
        end: u64,
    ) {
        let bs = img.block_size();
        img.forget_hole_ems(dst, dfb, dfb + last);
        let size = if last == 0 {
            old_size
        } else {
            old_size.max(((dfb + last) * bs).min(end))
        };
        img.forget_hole_ems(dst, (dfb + last).max(size.div_ceil(bs)), dfb + n);
    }

    /// Clones from a source whose data is inline: the bytes are copied, never shared
    /// (`clone_copy_inline_extent`). `len` is the prepared length (the whole inline data:
    /// an inline file is smaller than a block, so an aligned clone must start at 0 and end
    /// at its EOF).
    fn clone_inline(
        &self,
        img: &mut Image,
        src: Ino,
        dst: Ino,
        pos_out: u64,
        len: u64,
    ) -> KResult<u64> {
        let bs = img.block_size();
        let data = img.inode(src)?.inline.clone().unwrap_or_default();
        let datal = data.len();
        let d = img.inode(dst)?;
        let dst_small = d.size <= datal;
        let dst_has_no_extents = d.map.is_empty();
        if pos_out == 0 && dst_small && dst_has_no_extents {
            // The destination becomes (or stays) an inline file with the source's bytes.
            img.set_inline(dst, data.deep_copy())?;
        } else {
            // copy_inline_to_page: the data, then zeroes to the end of the block.
            let mut block = data.deep_copy();
            block.push(bs - datal.min(bs), vfs::data::Src::Zero);
            let ow = self.overwrite(&img.inode(dst)?.attrs);
            img.write_at(dst, pos_out, &block, ow)?;
            // A source truncated up past its inline data has an implicit hole after it,
            // which the clone punches into the destination too.
            let n = len.div_ceil(bs);
            if n > 1 {
                img.punch(dst, pos_out + bs, (n - 1) * bs, ow)?;
            }
        }
        let node = img.inode_mut(dst)?;
        node.size = node.size.max(pos_out + len);
        Ok(len)
    }
}

impl Flavor for Btrfs {
    fn name(&self) -> &'static str {
        "btrfs-like"
    }

    fn overwrite(&self, attrs: &Attrs) -> Overwrite {
        if attrs.nodatacow {
            Overwrite::CowShared
        } else {
            Overwrite::CowAlways
        }
    }

    fn atomicity(&self) -> Atomicity {
        Atomicity::Transaction
    }

    /// Small files starting at offset 0 stay inline (`cow_file_range_inline`); everything
    /// else goes through the extent map, which moves inline data out first.
    fn write(&self, img: &mut Image, ino: Ino, off: u64, data: &Data) -> KResult<()> {
        let size = img.inode(ino)?.size;
        let new_size = size.max(off.saturating_add(data.len()));
        if !data.is_empty() && self.fits_inline(img, ino, new_size)? {
            // The buffered write reserves data space for its sectors before write-back
            // decides to inline them (`btrfs_buffered_write` → `btrfs_check_data_free_space`):
            // on a full filesystem even an inline write is ENOSPC (measured, conform random
            // mode on a filled filesystem).
            let bs = img.block_size();
            let sectors = (off + data.len()).div_ceil(bs) - off / bs;
            if img.alloc.free_blocks() < sectors {
                return Err(Errno::ENOSPC);
            }
            let cur = img.inode(ino)?.inline.clone().unwrap_or_default();
            let new = cur.overlay(off, data);
            img.set_inline(ino, new)?;
            img.inode_mut(ino)?.size = new_size;
            return Ok(());
        }
        let ow = self.overwrite(&img.inode(ino)?.attrs);
        img.write(ino, off, data, ow)
    }

    /// `btrfs_remap_file_range`: see the module documentation for the order.
    fn remap(
        &self,
        img: &mut Image,
        cost: &CostModel,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        flags: u32,
    ) -> KResult<u64> {
        cow::check_remap_flags(flags)?;
        // btrfs_remap_file_range_prep: "Don't make the dst file partly checksummed".
        let (s, d) = (img.inode(src)?, img.inode(dst)?);
        if Btrfs::nodatasum(s.kind, &s.attrs) != Btrfs::nodatasum(d.kind, &d.attrs) {
            return Err(Errno::EINVAL);
        }
        let req = RemapRequest {
            pos_in: soff,
            pos_out: doff,
            len,
            flags,
        };
        let geo = cow::geometry(img, self.max_file_size());
        let len = remap::remap_prep(img, src, dst, &req, &geo)?.into_result()?;
        if len == 0 {
            return Ok(0);
        }
        if flags & DEDUP != 0 {
            cow::charge_dedupe_compare(cost, task, len);
            // btrfs_extent_same: one clone per 16 MiB piece.
            task.charge(cost.per_op_ns * (len.div_ceil(MAX_DEDUPE_LEN) - 1));
        } else if doff > img.inode(dst)?.size {
            // btrfs_cont_expand: the old EOF block's tail is zeroed (copied on write)
            // before the destination grows past it.
            let ow = self.overwrite(&img.inode(dst)?.attrs);
            img.zero_eof_tail(dst, ow)?;
        }
        // Only a range starting at 0 holds inline data; past it (a source truncated up)
        // is a hole, which the generic path shares (punches) like any other.
        if img.inode(src)?.inline.is_some() && soff == 0 {
            task.charge(cost.metadata(0));
            let n = self.clone_inline(img, src, dst, doff, len)?;
            // Reported as what it is: bytes copied, none shared (docs/semantics.md §5).
            task.with_stats(|s| s.add_copied(n));
            return Ok(n);
        }
        let bs = img.block_size();
        let (sfb, dfb, n) = (soff / bs, doff / bs, len.div_ceil(bs));
        let last = img
            .inode(src)?
            .mappings_in(sfb, sfb + n)
            .last()
            .map_or(0, |(s, m)| (s + m.len).min(sfb + n) - sfb);
        let old_size = img.inode(dst)?.size;
        let done = cow::share_range(img, cost, task, src, soff, dst, doff, len)?;
        Btrfs::clone_drops_extent_maps(img, dst, dfb, n, last, old_size, doff + len);
        Ok(done)
    }

    /// btrfs's measured differences (Linux 6.18): `fallocate` allocates, punches and
    /// zeroes only (`btrfs_fallocate`); a shrinking truncate leaves a shared EOF block
    /// shared; `fallocate(KEEP_SIZE)` past EOF zeroes the EOF block's tail; `lseek`'s
    /// negative offsets and `SEEK_HOLE` quick path ([`crate::local::Quirks`]).
    fn quirks(&self) -> crate::local::Quirks {
        use vfs::fs::falloc_flags::*;
        crate::local::Quirks {
            fallocate_modes: PUNCH_HOLE | ZERO_RANGE,
            truncate_zeroes_tail: false,
            keep_size_falloc_zeroes_tail: true,
            btrfs_seek: true,
            zero_eof_allocates: true,
            punch_zeroes_unwritten: true,
            inline_max: self.max_inline,
            writeback_whole_dirty_range: true,
            hole_extent_map_cache: true,
            ..crate::local::Quirks::default()
        }
    }

    /// `btrfs_fiemap`: `SHARED` per extent, as `btrfs_is_data_extent_shared` decides it
    /// (measured on Linux 6.18: after a clone, overwriting block 0 of the copy leaves block
    /// 0 of the original reported shared, since the original extent is still referenced by
    /// the copy's remaining blocks).
    fn fiemap(&self, img: &Image, ino: Ino) -> KResult<Vec<vfs::extent::FiemapExtent>> {
        img.fiemap_per_extent(ino)
    }

    /// `btrfs_fileattr_set`: `+C`/`-C` change a regular file only while it is empty
    /// (silently ignored otherwise); directories take it any time.
    fn set_attrs(&self, img: &mut Image, ino: Ino, attrs: Attrs) -> KResult<()> {
        let n = img.inode(ino)?;
        let mut attrs = attrs;
        if n.kind == FileKind::Regular && n.size != 0 {
            attrs.nodatacow = n.attrs.nodatacow;
        }
        img.inode_mut(ino)?.attrs = attrs;
        Ok(())
    }

    /// `btrfs_inherit_iflags` and the `nodatacow` mount option: a new inode in a `+C`
    /// directory, or any new inode under `-o nodatacow`, starts nodatacow.
    fn new_inode_attrs(&self, img: &Image, dir: Ino, _kind: FileKind) -> Attrs {
        let inherit = img.inode(dir).is_ok_and(|d| d.attrs.nodatacow);
        Attrs {
            nodatacow: self.nodatacow || inherit,
            ..Attrs::default()
        }
    }

    /// btrfs checks: no extent is shared between a nodatacow and a datacow file (the
    /// remap rule, and `+C` only on empty files, keep it so); inline data only in regular
    /// files, within `max_inline` and the sector, never beside an extent map.
    fn fsck(&self, img: &Image) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, e) in &img.phys {
            let mut kinds = e.backrefs.iter().filter_map(|(i, _)| {
                img.inodes
                    .get(i)
                    .map(|n| Btrfs::nodatasum(n.kind, &n.attrs))
            });
            if let Some(first) = kinds.next()
                && kinds.any(|k| k != first)
            {
                problems.push(format!(
                    "btrfs: extent {key} at block {} is shared by nodatacow and datacow files",
                    e.start
                ));
            }
        }
        for (ino, n) in &img.inodes {
            let Some(data) = &n.inline else { continue };
            if n.kind != FileKind::Regular {
                problems.push(format!(
                    "btrfs: inode {ino} is not a file but has inline data"
                ));
            }
            if !n.map.is_empty() {
                problems.push(format!("btrfs: inode {ino} has inline data and extents"));
            }
            if data.len() > self.max_inline || data.len() >= img.block_size() {
                problems.push(format!(
                    "btrfs: inode {ino} has {} bytes inline (max_inline {})",
                    data.len(),
                    self.max_inline
                ));
            }
            if data.len() > n.size {
                problems.push(format!(
                    "btrfs: inode {ino} has {} bytes inline past its size {}",
                    data.len(),
                    n.size
                ));
            }
        }
        problems.extend(cow::fsck_max_size(img, self.name(), self.max_file_size()));
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfs::FileSystem;
    use vfs::extent::ROOT_INO;

    fn fs() -> BtrfsFs {
        btrfs(
            Btrfs::default(),
            LocalOptions {
                size: 1 << 20,
                cost: cost_model(),
                ..LocalOptions::default()
            },
        )
    }

    #[test]
    fn small_file_is_inline_until_it_grows() {
        let fs = fs();
        let t = Task::new(1);
        let a = fs.create(&t, ROOT_INO, "a", FileKind::Regular).unwrap();
        let free = fs.statfs().free;
        fs.write(&t, a, 0, &Data::fill(b'x', 100)).unwrap();
        fs.write(&t, a, 1000, &Data::fill(b'y', 100)).unwrap();
        assert_eq!(fs.statfs().free, free, "inline data takes no data blocks");
        let f = fs.fiemap(a).unwrap();
        assert_eq!(f.len(), 1);
        assert_ne!(f[0].flags & vfs::extent::fiemap_flags::DATA_INLINE, 0);
        fs.write(&t, a, 2000, &Data::fill(b'z', 100)).unwrap();
        assert_eq!(fs.statfs().free, free - 1, "2100 bytes: a regular extent");
        let v = fs.read(&t, a, 0, 3000).unwrap().to_vec();
        assert_eq!(v.len(), 2100);
        assert_eq!((v[99], v[100], v[1000], v[2099]), (b'x', 0, b'y', b'z'));
        assert!(fs.fsck().is_empty(), "{:?}", fs.fsck());
    }

    #[test]
    fn chattr_c_only_on_empty_files_and_inherited_from_directories() {
        let fs = fs();
        let t = Task::new(1);
        let a = fs.create(&t, ROOT_INO, "a", FileKind::Regular).unwrap();
        fs.write(&t, a, 0, &Data::fill(1, 5000)).unwrap();
        let c = Attrs {
            nodatacow: true,
            ..Attrs::default()
        };
        fs.set_attrs(&t, a, c).unwrap();
        assert!(
            !fs.getattr(a).unwrap().attrs.nodatacow,
            "ignored: not empty"
        );
        let d = fs.create(&t, ROOT_INO, "d", FileKind::Directory).unwrap();
        fs.set_attrs(&t, d, c).unwrap();
        let b = fs.create(&t, d, "b", FileKind::Regular).unwrap();
        assert!(fs.getattr(b).unwrap().attrs.nodatacow, "inherited");
    }
}
