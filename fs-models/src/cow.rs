//! Helpers shared by the sharing models (btrfs-like, ocfs2-like, xfs-like): the remap-flag
//! check every `->remap_file_range` starts with, the extent sharing itself, what it
//! costs, and the refcount view used for pictures and tests.

use vfs::clock::CostModel;
use vfs::errno::{Errno, KResult};
use vfs::extent::{Image, Ino};
use vfs::fs::remap_flags::{ADVISORY, DEDUP};
use vfs::remap::RemapGeometry;
use vfs::task::Task;

/// The first check of `btrfs_remap_file_range`, `xfs_file_remap_range` and
/// `ocfs2_remap_file_range`: only `REMAP_FILE_DEDUP` and `REMAP_FILE_ADVISORY`
/// (= `CAN_SHORTEN`) are understood.
///
/// # Errors
/// `EINVAL` for any other bit (a flag the filesystem would silently ignore could change
/// the meaning of the call).
pub fn check_remap_flags(flags: u32) -> KResult<()> {
    if flags & !(DEDUP | ADVISORY) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The prep's geometry for `img`: its allocation unit as the alignment block, and the
/// model's `s_maxbytes`.
pub fn geometry(img: &Image, max_bytes: u64) -> RemapGeometry {
    RemapGeometry {
        block_size: img.block_size(),
        max_bytes,
    }
}

/// Shares an already prepared range: `len` bytes from `pos_in` of `src` to `pos_out` of
/// `dst`, in whole blocks (a range that ends at the source EOF takes its partial last block
/// whole — the prep made sure it lands at or past the destination EOF, where the bytes
/// past the source EOF read as zero anyway). The destination grows to `pos_out + len` if
/// that is larger, never to a block boundary. Charges one metadata operation plus one
/// extent update per source extent shared, and counts the extents in the task's
/// statistics. Returns `len`.
///
/// # Errors
/// `ESTALE` for a missing inode; `ENOSPC` only if inline data has to move out first.
pub fn share_range(
    img: &mut Image,
    cost: &CostModel,
    task: &Task,
    src: Ino,
    pos_in: u64,
    dst: Ino,
    pos_out: u64,
    len: u64,
) -> KResult<u64> {
    share_range_with(img, cost, task, (src, pos_in), (dst, pos_out), len, false)
}

/// [`share_range`]; with `written_only` the source's unwritten extents leave holes in the
/// destination instead of being shared (XFS: [`Image::share_with`]).
///
/// # Errors
/// As [`share_range`].
pub fn share_range_with(
    img: &mut Image,
    cost: &CostModel,
    task: &Task,
    (src, pos_in): (Ino, u64),
    (dst, pos_out): (Ino, u64),
    len: u64,
    written_only: bool,
) -> KResult<u64> {
    let bs = img.block_size();
    let n = len.div_ceil(bs);
    let (sfb, dfb) = (pos_in / bs, pos_out / bs);
    let extents = img.inode(src)?.mappings_in(sfb, sfb + n).count() as u64;
    img.share_with(src, sfb, dst, dfb, n, written_only)?;
    let node = img.inode_mut(dst)?;
    node.size = node.size.max(pos_out + len);
    task.charge(cost.metadata(extents));
    task.with_stats(|s| s.add_remapped(extents));
    Ok(len)
}

/// Charges the dedupe comparison: the kernel reads both ranges through the page cache
/// (`vfs_dedupe_file_range_compare`), so dedupe costs O(bytes), unlike clone.
pub fn charge_dedupe_compare(cost: &CostModel, task: &Task, len: u64) {
    task.charge(CostModel::transfer(2 * len, cost.media_read_bps));
}

/// One record of a file's refcount view: a run of the file backed by one physical extent
/// and how many mappings (in this file or others) reference that extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefcountRecord {
    /// File offset in bytes.
    pub logical: u64,
    /// Device offset in bytes.
    pub physical: u64,
    /// Bytes.
    pub length: u64,
    /// References to the physical extent (1 = not shared).
    pub refcount: usize,
    /// Preallocated, never written.
    pub unwritten: bool,
}

/// The refcount view of a file, in file order (holes omitted). Exact per block: the image
/// splits an extent whenever part of it is shared (invariant I1).
///
/// # Errors
/// `ESTALE` for a missing inode.
pub fn refcount_records(img: &Image, ino: Ino) -> KResult<Vec<RefcountRecord>> {
    let bs = img.block_size();
    let node = img.inode(ino)?;
    Ok(node
        .map
        .iter()
        .map(|(&fb, m)| {
            let e = &img.phys[m.phys];
            RefcountRecord {
                logical: fb * bs,
                physical: e.start * bs,
                length: m.len * bs,
                refcount: e.refs(),
                unwritten: m.unwritten,
            }
        })
        .collect())
}

/// Model check: no file is larger than `s_maxbytes`.
pub fn fsck_max_size(img: &Image, model: &str, max: u64) -> Vec<String> {
    img.inodes
        .iter()
        .filter(|(_, n)| n.size > max)
        .map(|(ino, n)| {
            format!(
                "{model}: inode {ino} size {} exceeds s_maxbytes {max}",
                n.size
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfs::data::Data;
    use vfs::extent::{FileKind, Overwrite, ROOT_INO};
    use vfs::fs::remap_flags::CAN_SHORTEN;

    #[test]
    fn flags_and_refcount_view() {
        assert_eq!(check_remap_flags(DEDUP | CAN_SHORTEN), Ok(()));
        assert_eq!(check_remap_flags(1 << 5), Err(Errno::EINVAL));
        let mut img = Image::new(4096, 32);
        let a = img.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        let b = img.create(ROOT_INO, "b", FileKind::Regular).unwrap();
        img.write(a, 0, &Data::fill(1, 3 * 4096 + 5), Overwrite::CowShared)
            .unwrap();
        let task = Task::new(1);
        let cost = CostModel::local_ssd();
        assert_eq!(
            share_range(&mut img, &cost, &task, a, 4096, b, 0, 2 * 4096 + 5),
            Ok(2 * 4096 + 5)
        );
        assert_eq!(img.inode(b).unwrap().size, 2 * 4096 + 5);
        assert_eq!(task.stats().extents_remapped, 1);
        let recs = refcount_records(&img, a).unwrap();
        let refs: Vec<(u64, usize)> = recs.iter().map(|r| (r.logical, r.refcount)).collect();
        assert_eq!(refs, vec![(0, 1), (4096, 2)]);
        assert!(img.fsck().is_empty());
    }
}
