//! The sharing models against the `FileSystem` trait: clone, dedupe, copy-on-write, space,
//! media errors and crashes on btrfs-like, ocfs2-like and xfs-like. Every step is followed
//! by an `fsck` that must come back clean (spec §6.5).

use fs_models::local::LocalOptions;
use fs_models::ocfs2::{Ocfs2, Ocfs2Fs};
use fs_models::spec::make;
use vfs::data::Data;
use vfs::errno::{Errno, KResult};
use vfs::extent::{Attrs, FileKind, Image, Ino, ROOT_INO, fiemap_flags};
use vfs::fs::remap_flags::{CAN_SHORTEN, DEDUP};
use vfs::fs::{Fault, FileSystem};
use vfs::sync::Arc;
use vfs::task::Task;

const K: u64 = 4096;
const SHARING: [&str; 3] = ["btrfs-like", "ocfs2-like", "xfs-like"];

struct Lab {
    fs: Arc<dyn FileSystem>,
    t: Task,
}

impl Lab {
    fn new(spec: &str) -> Lab {
        let fs = make(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        Lab {
            fs,
            t: Task::new(1),
        }
    }

    fn clean(&self) {
        let p = self.fs.fsck();
        assert!(p.is_empty(), "{}: {p:#?}", self.fs.fs_type());
    }

    fn file(&self, name: &str) -> Ino {
        let ino = self
            .fs
            .create(&self.t, ROOT_INO, name, FileKind::Regular)
            .unwrap();
        self.clean();
        ino
    }

    fn write(&self, ino: Ino, off: u64, data: &Data) -> KResult<u64> {
        let r = self.fs.write(&self.t, ino, off, data);
        self.clean();
        r
    }

    fn remap(
        &self,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        flags: u32,
    ) -> KResult<u64> {
        let r = self
            .fs
            .remap_file_range(&self.t, src, soff, dst, doff, len, flags);
        self.clean();
        r
    }

    fn clone(&self, src: Ino, soff: u64, dst: Ino, doff: u64, len: u64) -> KResult<u64> {
        self.remap(src, soff, dst, doff, len, 0)
    }

    fn dedupe(&self, src: Ino, soff: u64, dst: Ino, doff: u64, len: u64) -> KResult<u64> {
        self.remap(src, soff, dst, doff, len, DEDUP | CAN_SHORTEN)
    }

    fn bytes(&self, ino: Ino) -> Vec<u8> {
        self.fs
            .read(&self.t, ino, 0, u64::MAX / 2)
            .unwrap()
            .to_vec()
    }

    fn size(&self, ino: Ino) -> u64 {
        self.fs.getattr(ino).unwrap().size
    }

    fn free(&self) -> u64 {
        self.fs.statfs().free
    }

    /// `(offset, length, shared)` of each FIEMAP extent, in blocks of `K`.
    fn extents(&self, ino: Ino) -> Vec<(u64, u64, bool)> {
        self.fs
            .fiemap(ino)
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e.logical / K,
                    e.length / K,
                    e.flags & fiemap_flags::SHARED != 0,
                )
            })
            .collect()
    }

    fn shared_blocks(&self, ino: Ino) -> u64 {
        self.extents(ino).iter().filter(|e| e.2).map(|e| e.1).sum()
    }

    fn unlink(&self, name: &str) {
        let ino = self.fs.remove(&self.t, ROOT_INO, name, false).unwrap();
        self.fs.evict(ino);
        self.clean();
    }
}

fn pattern(seed: u64, len: u64) -> Data {
    Data::pattern(seed, 0, len)
}

fn clean_image(img: &Image) {
    let p = img.fsck();
    assert!(p.is_empty(), "{p:#?}");
}

// ------------------------------------------------------------------ space

#[test]
fn ocfs2_enospc_only_when_overwriting_a_shared_cluster() {
    for spec in ["ocfs2-like:size=64k", "xfs-like:size=64k"] {
        let l = Lab::new(spec);
        let (a, b, c) = (l.file("a"), l.file("b"), l.file("c"));
        l.write(a, 0, &pattern(1, 8 * K)).unwrap();
        assert_eq!(l.clone(a, 0, b, 0, 0), Ok(8 * K));
        assert_eq!(l.free(), 8, "{spec}: the clone took no space");
        l.write(c, 0, &pattern(2, 8 * K)).unwrap();
        assert_eq!(l.free(), 0, "{spec}: full");
        // A shared cluster needs a new one to be written: none left.
        assert_eq!(l.write(b, 100, &Data::fill(9, 10)), Err(Errno::ENOSPC));
        assert_eq!(l.write(a, 0, &Data::fill(9, K)), Err(Errno::ENOSPC));
        assert_eq!(l.bytes(b), pattern(1, 8 * K).to_vec(), "{spec}: unchanged");
        // An unshared one is overwritten in place.
        assert_eq!(l.write(c, 100, &Data::fill(9, 10)), Ok(10));
        assert_eq!(l.free(), 0);
        assert_eq!(l.bytes(c)[100..110], [9; 10]);
        // Once one side is gone, the other side's clusters are unshared again.
        l.unlink("a");
        assert_eq!(l.write(b, 100, &Data::fill(9, 10)), Ok(10), "{spec}");
    }
}

#[test]
fn btrfs_any_overwrite_of_a_full_filesystem_fails() {
    let l = Lab::new("btrfs-like:size=64k");
    let a = l.file("a");
    l.write(a, 0, &pattern(1, 16 * K)).unwrap();
    assert_eq!(l.free(), 0);
    assert_eq!(l.shared_blocks(a), 0);
    // Copy-on-write even of an unshared block: a new block first, the old one freed after.
    assert_eq!(l.write(a, 100, &Data::fill(9, 10)), Err(Errno::ENOSPC));
    assert_eq!(l.bytes(a), pattern(1, 16 * K).to_vec());
    // Freeing one block makes room for exactly one block's CoW.
    l.fs.truncate(&l.t, a, 15 * K).unwrap();
    l.clean();
    assert_eq!(l.write(a, 100, &Data::fill(9, 10)), Ok(10));
    // A nodatacow file overwrites unshared blocks in place.
    let l = Lab::new("btrfs-like:size=64k,nodatacow");
    let a = l.file("a");
    assert!(l.fs.getattr(a).unwrap().attrs.nodatacow);
    l.write(a, 0, &pattern(1, 16 * K)).unwrap();
    assert_eq!(l.write(a, 100, &Data::fill(9, 10)), Ok(10));
}

/// Issue 18: a write that ran out of space failed whole (`ENOSPC`, nothing written); Linux
/// returns the bytes written before the reservation that failed. Measured on Linux 6.18
/// (conform `enospc_short_write_in_place`, `enospc_short_write_into_hole`): XFS and tmpfs
/// overwrite a full filesystem's data in place and stop at EOF; btrfs copies on write and
/// writes nothing; into a hole with 16 KiB free, btrfs and tmpfs write 16 KiB and XFS,
/// which reserves the whole hole at once, nothing.
#[test]
fn regression_write_out_of_space_returns_the_bytes_that_fit() {
    for (spec, in_place, into_hole) in [
        ("btrfs-like:size=64k", Err(Errno::ENOSPC), Ok(4 * K)),
        ("xfs-like:size=64k", Ok(4 * K), Err(Errno::ENOSPC)),
        ("xfs-like:size=64k,reflink=0", Ok(4 * K), Err(Errno::ENOSPC)),
        ("tmpfs-like:size=64k", Ok(4 * K), Ok(4 * K)),
        ("plain:size=64k", Ok(4 * K), Ok(4 * K)),
    ] {
        let l = Lab::new(spec);
        let (a, b, fill) = (l.file("a"), l.file("b"), l.file("fill"));
        l.write(a, 0, &pattern(1, 4 * K)).unwrap();
        l.write(fill, 0, &Data::fill(0x5a, 12 * K)).unwrap();
        assert_eq!(l.free(), 0, "{spec}: full");
        // Over a's data and on past its EOF.
        let got = l.write(a, 0, &Data::fill(0x62, 20 * K));
        assert_eq!(got, in_place, "{spec}");
        let want = match got {
            Ok(n) => {
                let mut w = vec![0x62; n as usize];
                w.extend_from_slice(&pattern(1, 4 * K).to_vec()[n as usize..]);
                w
            }
            Err(_) => pattern(1, 4 * K).to_vec(),
        };
        assert_eq!(l.bytes(a), want, "{spec}: the prefix, and nothing past it");
        assert_eq!(l.size(a), 4 * K, "{spec}");
        // Free 16 KiB, then 64 KiB into a hole.
        l.fs.truncate(&l.t, fill, 8 * K).unwrap();
        let got = l.write(b, 0, &Data::fill(0x64, 64 * K));
        assert_eq!(got, into_hole, "{spec}");
        let n = *got.as_ref().unwrap_or(&0);
        assert_eq!(l.size(b), n, "{spec}");
        assert_eq!(l.bytes(b), vec![0x64; n as usize], "{spec}");
    }
}

/// Issue 18: xfs-like shared preallocated (unwritten) source space, so FIEMAP showed the
/// destination shared+unwritten; real XFS remaps written extents only
/// (`xfs_reflink_remap_extent`), and the destination has a hole there (conform
/// `clone_preallocated_into_data`, `clone_preallocated_source`; found once N3 compared
/// unwritten extents as their own class). btrfs shares the preallocated extent.
#[test]
fn regression_xfs_clone_of_preallocated_space_leaves_a_hole() {
    use vfs::extent::fiemap_flags::{SHARED, UNWRITTEN};
    for (spec, want_unwritten_shared) in [("xfs-like:size=1m", false), ("btrfs-like:size=1m", true)]
    {
        let l = Lab::new(spec);
        let (a, b) = (l.file("a"), l.file("b"));
        l.write(a, 0, &pattern(1, 4 * K)).unwrap();
        l.fs.fallocate(&l.t, a, 0, 4 * K, 4 * K).unwrap();
        l.write(b, 0, &Data::fill(0x62, 8 * K)).unwrap();
        assert_eq!(l.clone(a, 0, b, 0, 8 * K), Ok(8 * K), "{spec}");
        l.clean();
        let mut want = pattern(1, 4 * K).to_vec();
        want.resize(8 * K as usize, 0);
        assert_eq!(l.bytes(b), want, "{spec}: the old data is gone either way");
        let ext = l.fs.fiemap(b).unwrap();
        let block1 = ext
            .iter()
            .find(|e| e.logical <= 4 * K && 4 * K < e.logical + e.length);
        match block1 {
            None => assert!(!want_unwritten_shared, "{spec}: a hole at block 1"),
            Some(e) => {
                assert!(want_unwritten_shared, "{spec}: {e:?}");
                assert_eq!(e.flags & (SHARED | UNWRITTEN), SHARED | UNWRITTEN, "{spec}");
            }
        }
    }
}

/// btrfs-like stored a small write on a full filesystem inline without needing space;
/// btrfs reserves data space for the write's sectors first (`btrfs_check_data_free_space`)
/// and answers ENOSPC (found by the conform random mode's filled-up cases, issue 18).
#[test]
fn regression_btrfs_inline_write_on_a_full_filesystem_is_enospc() {
    let l = Lab::new("btrfs-like:size=64k");
    let (a, c) = (l.file("a"), l.file("c"));
    l.write(a, 0, &pattern(1, 16 * K)).unwrap();
    assert_eq!(l.free(), 0);
    assert_eq!(l.write(c, 0, &Data::fill(9, 1326)), Err(Errno::ENOSPC));
    assert_eq!(l.size(c), 0);
    l.fs.truncate(&l.t, a, 15 * K).unwrap();
    assert_eq!(
        l.write(c, 0, &Data::fill(9, 1326)),
        Ok(1326),
        "one free block is enough"
    );
}

/// btrfs-like wrote into a preallocated block in place though another file shared another
/// block of the same allocation; btrfs writes preallocated space in place only while no
/// other file refers to the extent (`can_nocow_extent`: per extent), so it copied on write
/// and the block is no longer reported shared (found by the conform random mode's clones
/// over preallocated space; conform `rnd_write_into_shared_preallocated_extent`).
#[test]
fn regression_btrfs_write_into_a_shared_preallocated_extent_copies_on_write() {
    use vfs::extent::fiemap_flags::SHARED;
    let l = Lab::new("btrfs-like:size=1m");
    let (a, b) = (l.file("a"), l.file("b"));
    l.fs.fallocate(&l.t, a, 0, 0, 8 * K).unwrap();
    assert_eq!(l.clone(a, 0, b, 0, 4 * K), Ok(4 * K));
    l.write(a, 4 * K, &Data::fill(9, 1)).unwrap();
    let ext = l.fs.fiemap(a).unwrap();
    let block1 = ext
        .iter()
        .find(|e| e.logical <= 4 * K && 4 * K < e.logical + e.length)
        .expect("block 1 is mapped");
    assert_eq!(block1.flags & SHARED, 0, "{ext:?}");
    // Unshared preallocated space is still written in place (nocow).
    let c = l.file("c");
    l.fs.fallocate(&l.t, c, 0, 0, 4 * K).unwrap();
    let before = l.free();
    l.write(c, 0, &Data::fill(9, 1)).unwrap();
    assert_eq!(l.free(), before, "in place");
}

/// Issue 18: btrfs-like moved a small file's inline data to a regular extent at a
/// `fallocate` inside the first sector; btrfs keeps the inline extent (FIEMAP still shows
/// it inline, the size grows), so a later clone copies it rather than sharing (conform
/// `falloc_keeps_inline_extent`).
#[test]
fn regression_btrfs_fallocate_inside_an_inline_extent_keeps_it() {
    use vfs::extent::fiemap_flags::{DATA_INLINE, SHARED};
    let l = Lab::new("btrfs-like:size=1m");
    let (a, b) = (l.file("a"), l.file("b"));
    l.write(a, 0, &Data::fill(0x61, 100)).unwrap();
    l.fs.fallocate(&l.t, a, 0, 0, K).unwrap();
    l.clean();
    assert_eq!(l.size(a), K);
    let ext = l.fs.fiemap(a).unwrap();
    assert_eq!(ext.len(), 1, "{ext:?}");
    assert_ne!(ext[0].flags & DATA_INLINE, 0, "{ext:?}");
    let mut want = vec![0x61; 100];
    want.resize(K as usize, 0);
    assert_eq!(l.bytes(a), want);
    assert_eq!(l.clone(a, 0, b, 0, 0), Ok(K));
    assert!(
        l.fs.fiemap(b)
            .unwrap()
            .iter()
            .all(|e| e.flags & SHARED == 0)
    );
    assert_eq!(l.bytes(b), want);
}

/// Issue 18: a punch that starts in a hole a clone made. btrfs's `btrfs_punch_hole` asks
/// `find_first_non_hole` about `round_down(start)` for `round_up(len)` bytes; a clone drops
/// the destination's cached extent maps, so the hole map it gets is exactly that long — one
/// block short of the punch's end — and the rest, inside one block, is zeroed with a real
/// write: a hole block becomes a zeroed data block. A hole that writes or truncation made
/// (one cached map), or one a read cached, is skipped whole. btrfs-like kept every hole a
/// hole (found by the conform random mode, btrfs, seed 3; conform
/// `punch_hole_made_by_clone`, `punch_hole_made_by_clone_after_read_ahead`).
#[test]
fn regression_btrfs_punch_in_a_hole_made_by_a_clone_writes_a_zeroed_block() {
    use vfs::fs::falloc_flags::{KEEP_SIZE, PUNCH_HOLE};
    let data_blocks = |l: &Lab, ino| -> Vec<u64> {
        let mut v: Vec<u64> =
            l.fs.fiemap(ino)
                .unwrap()
                .iter()
                .flat_map(|e| e.logical / K..(e.logical + e.length) / K)
                .collect();
        v.sort_unstable();
        v
    };
    let punch = |l: &Lab, ino, off, len| {
        l.fs.fallocate(&l.t, ino, PUNCH_HOLE | KEEP_SIZE, off, len)
            .unwrap();
        l.clean();
    };
    for spec in ["btrfs-like:size=1m", "xfs-like:size=1m"] {
        let btrfs = spec.starts_with("btrfs");
        let l = Lab::new(spec);
        let (a, b) = (l.file("a"), l.file("b"));
        // [hole 8 KiB][data]: a clone of it, then a punch of [93, 4117) — the measured case.
        l.write(b, 2 * K, &Data::fill(0x61, K)).unwrap();
        assert_eq!(l.clone(b, 0, a, 0, 0), Ok(3 * K));
        punch(&l, a, 93, 4024);
        let want: &[u64] = if btrfs { &[1, 2] } else { &[2] };
        assert_eq!(data_blocks(&l, a), want, "{spec}");
        assert_eq!(l.bytes(a), l.bytes(b), "{spec}: only zeroes were written");
        // The source's hole came from a write past EOF (one cached hole map): skipped.
        punch(&l, b, 93, 4024);
        assert_eq!(data_blocks(&l, b), [2], "{spec}");
        // A read caches what it read ahead: [data][hole ×8][data] read from offset 0 (one
        // block: four blocks of read-ahead) keeps blocks 1–3 cached, not 4.
        let (c, d) = (l.file("c"), l.file("d"));
        l.write(d, 0, &Data::fill(0x62, K)).unwrap();
        l.write(d, 9 * K, &Data::fill(0x62, K)).unwrap();
        assert_eq!(l.clone(d, 0, c, 0, 0), Ok(10 * K));
        l.fs.read(&l.t, c, 0, K).unwrap();
        punch(&l, c, K + 1, K);
        assert_eq!(
            data_blocks(&l, c),
            [0, 9],
            "{spec}: a read-ahead hole is cached"
        );
        punch(&l, c, 4 * K + 1, K);
        let want: &[u64] = if btrfs { &[0, 5, 9] } else { &[0, 9] };
        assert_eq!(data_blocks(&l, c), want, "{spec}");
    }
}

#[test]
fn enospc_fault_hits_only_writes_that_allocate_on_ocfs2() {
    let l = Lab::new("ocfs2-like:size=1m");
    let (a, b) = (l.file("a"), l.file("b"));
    l.write(a, 0, &pattern(1, 4 * K)).unwrap();
    l.clone(a, 0, b, 0, 0).unwrap();
    l.fs.inject(&l.t, Fault::EnospcAfter { n: 1 }).unwrap();
    assert_eq!(l.write(b, 0, &Data::fill(3, 1)), Err(Errno::ENOSPC));
    assert_eq!(
        l.write(b, 0, &Data::fill(3, 1)),
        Ok(1),
        "the fault hit once"
    );
}

// ------------------------------------------------------------------ media errors

#[test]
fn media_error_hits_one_file_before_a_clone_and_two_after() {
    for model in SHARING {
        let l = Lab::new(&format!("{model}:size=1m"));
        let (a, b, c) = (l.file("a"), l.file("b"), l.file("c"));
        l.write(a, 0, &pattern(1, 4 * K)).unwrap();
        l.write(c, 0, &pattern(1, 4 * K)).unwrap(); // an independent byte copy
        let r =
            l.fs.inject(&l.t, Fault::MediaError { ino: a, off: 0 })
                .unwrap();
        assert_eq!(r.hits, vec![(a, 0)], "{model}: one file");
        // Sharing never reads the data: the clone succeeds over the bad block.
        assert_eq!(l.clone(a, 0, b, 0, 0), Ok(4 * K), "{model}");
        let r =
            l.fs.inject(&l.t, Fault::MediaError { ino: a, off: 2 * K })
                .unwrap();
        let mut hits = r.hits.clone();
        hits.sort();
        assert_eq!(hits, vec![(a, 2 * K), (b, 2 * K)], "{model}: {}", r.note);
        for ino in [a, b] {
            assert_eq!(l.fs.read(&l.t, ino, 2 * K, 1), Err(Errno::EIO), "{model}");
            assert_eq!(l.fs.read(&l.t, ino, 0, 1), Err(Errno::EIO), "{model}");
            assert!(l.fs.read(&l.t, ino, K, K).is_ok());
        }
        assert_eq!(
            l.bytes(c),
            pattern(1, 4 * K).to_vec(),
            "{model}: the copy is intact"
        );
        // Dedupe reads both ranges to compare them: the bad block surfaces as EIO.
        assert_eq!(l.dedupe(c, 0, a, 0, 4 * K), Err(Errno::EIO), "{model}");
    }
}

// ------------------------------------------------------------------ crashes

#[test]
fn crash_before_fsync_loses_a_btrfs_clone_but_ocfs2_may_keep_it() {
    for model in SHARING {
        let l = Lab::new(&format!("{model}:size=1m"));
        let a = l.file("a");
        l.write(a, 0, &pattern(1, 4 * K)).unwrap();
        l.fs.fsync(&l.t, a, false).unwrap();
        let b = l.file("b");
        l.clone(a, 0, b, 0, 0).unwrap();
        let states = l.fs.crash_states();
        for img in &states {
            clean_image(img);
            // Every permitted state is "no b", "empty b" or "b shares all of a".
            match img.lookup(ROOT_INO, "b") {
                Err(Errno::ENOENT) => {}
                Ok(b) if img.inode(b).unwrap().size == 0 => {}
                Ok(b) => {
                    assert_eq!(
                        img.read(b, 0, 4 * K).unwrap().to_vec(),
                        pattern(1, 4 * K).to_vec()
                    );
                    assert_eq!(img.shared_blocks(b, 0, 4).unwrap(), 4);
                }
                Err(e) => panic!("{model}: {e:?}"),
            }
        }
        let kept = states
            .iter()
            .filter(|img| {
                img.lookup(ROOT_INO, "b")
                    .is_ok_and(|b| img.inode(b).unwrap().size > 0)
            })
            .count();
        if model == "btrfs-like" {
            // The committed state plus a's log item (and the full-commit variant of that
            // fsync): the clone into b is in neither.
            assert!(states.len() <= 2, "{model}");
            assert_eq!(kept, 0);
        } else {
            // Journaled per operation: before the create, after it, after the clone.
            assert_eq!(states.len(), 3, "{model}");
            assert_eq!(kept, 1);
        }
        l.fs.crash(0);
        l.clean();
        assert_eq!(l.fs.lookup(ROOT_INO, "b"), Err(Errno::ENOENT), "{model}");
        assert_eq!(l.bytes(a), pattern(1, 4 * K).to_vec());

        // After fsync both keep it.
        let b = l.file("b");
        l.clone(a, 0, b, 0, 0).unwrap();
        l.fs.fsync(&l.t, b, false).unwrap();
        for img in l.fs.crash_states() {
            let b = img.lookup(ROOT_INO, "b").unwrap();
            assert_eq!(img.inode(b).unwrap().size, 4 * K, "{model}: fsynced, kept");
        }
        l.fs.crash(0);
        l.clean();
        let b = l.fs.lookup(ROOT_INO, "b").unwrap();
        assert_eq!(l.bytes(b), pattern(1, 4 * K).to_vec(), "{model}");
        assert_eq!(l.shared_blocks(b), 4, "{model}");
    }
}

// ------------------------------------------------------------------ dedupe

#[test]
fn dedupe_shares_equal_ranges_and_reports_different_ones() {
    for model in SHARING {
        let l = Lab::new(&format!("{model}:size=1m"));
        let (a, b, c) = (l.file("a"), l.file("b"), l.file("c"));
        l.write(a, 0, &pattern(1, 4 * K)).unwrap();
        // Same bytes, different descriptors: real bytes versus a pattern.
        l.write(b, 0, &Data::bytes(&pattern(1, 4 * K).to_vec()))
            .unwrap();
        l.write(c, 0, &pattern(2, 4 * K)).unwrap();
        let free = l.free();
        assert_eq!(l.dedupe(a, 0, b, 0, 4 * K), Ok(4 * K), "{model}");
        assert_eq!(l.free(), free + 4, "{model}: b's blocks were freed");
        assert_eq!(l.shared_blocks(a), 4);
        assert_eq!(l.shared_blocks(b), 4);
        assert_eq!(l.bytes(b), pattern(1, 4 * K).to_vec());
        // Different contents: EBADE (FILE_DEDUPE_RANGE_DIFFERS above), nothing changes.
        let before = l.extents(c);
        assert_eq!(l.dedupe(a, 0, c, 0, 4 * K), Err(Errno::EBADE), "{model}");
        assert_eq!(l.extents(c), before);
        assert_eq!(l.bytes(c), pattern(2, 4 * K).to_vec());
        // Past the destination's EOF: EINVAL, before any comparison.
        assert_eq!(l.dedupe(a, 0, c, K, 4 * K), Err(Errno::EINVAL));
        // Dedupe does not extend: sizes stay.
        assert_eq!((l.size(a), l.size(b)), (4 * K, 4 * K));
    }
}

// ------------------------------------------------------------------ sharing life cycle

#[test]
fn deleting_one_side_unshares_the_other() {
    for model in SHARING {
        let l = Lab::new(&format!("{model}:size=1m"));
        let (a, b) = (l.file("a"), l.file("b"));
        l.write(a, 0, &pattern(1, 4 * K)).unwrap();
        let free = l.free();
        l.clone(a, 0, b, 0, 0).unwrap();
        assert_eq!(l.shared_blocks(b), 4);
        l.unlink("a");
        assert_eq!(l.shared_blocks(b), 0, "{model}");
        assert_eq!(l.free(), free, "{model}: b owns the blocks alone now");
        assert_eq!(l.bytes(b), pattern(1, 4 * K).to_vec());
        l.unlink("b");
        assert_eq!(l.free(), free + 4);
    }
}

#[test]
fn overwrite_after_reflink_unshares_only_the_written_block() {
    for model in SHARING {
        let l = Lab::new(&format!("{model}:size=1m"));
        let (a, b) = (l.file("a"), l.file("b"));
        l.write(a, 0, &pattern(1, 4 * K)).unwrap();
        l.clone(a, 0, b, 0, 0).unwrap();
        assert_eq!(l.extents(b), vec![(0, 4, true)], "{model}");
        let free = l.free();
        l.write(b, K + 10, &Data::fill(7, 5)).unwrap();
        assert_eq!(l.free(), free - 1, "{model}: one block copied on write");
        let ext = l.extents(b);
        let shared: Vec<bool> = (0..4)
            .map(|blk| ext.iter().any(|e| e.2 && e.0 <= blk && blk < e.0 + e.1))
            .collect();
        assert_eq!(shared, [true, false, true, true], "{model}: {ext:?}");
        // Block by block, exactly the written block of each file is private now.
        let img = l.fs.image();
        assert_eq!(img.shared_blocks(a, 0, 4).unwrap(), 3, "{model}");
        assert_eq!(img.shared_blocks(b, 0, 4).unwrap(), 3, "{model}");
        // FIEMAP of the source: per block on XFS and OCFS2; btrfs reports SHARED per
        // extent, and a's one extent is still referenced by b's other blocks.
        let fiemap_shared = if model == "btrfs-like" { 4 } else { 3 };
        assert_eq!(l.shared_blocks(a), fiemap_shared, "{model}");
        assert_eq!(
            l.bytes(a),
            pattern(1, 4 * K).to_vec(),
            "{model}: a never changes"
        );
        let mut want = pattern(1, 4 * K).to_vec();
        want[K as usize + 10..K as usize + 15].fill(7);
        assert_eq!(l.bytes(b), want);
    }
}

#[test]
fn regression_reclone_over_a_shifted_shared_range() {
    for model in SHARING {
        let l = Lab::new(&format!("{model}:size=1m"));
        let (a, b) = (l.file("a"), l.file("b"));
        l.write(a, 0, &pattern(1, 4 * K)).unwrap();
        l.clone(a, 0, b, 0, 0).unwrap();
        assert_eq!(l.clone(a, 0, b, 2 * K, 4 * K), Ok(4 * K), "{model}");
        let mut want = pattern(1, 2 * K).to_vec();
        want.extend(pattern(1, 4 * K).to_vec());
        assert_eq!(l.bytes(b), want);
        // Within one file, next to a shared copy of itself.
        assert_eq!(l.clone(b, 0, b, 8 * K, 4 * K), Ok(4 * K));
        assert_eq!(l.clone(b, 0, b, 10 * K, 4 * K), Ok(4 * K));
        assert_eq!(l.size(b), 14 * K);
    }
}

// ------------------------------------------------------------------ alignment and EOF

#[test]
fn clone_to_eof_with_an_unaligned_tail() {
    for model in SHARING {
        let l = Lab::new(&format!("{model}:size=1m"));
        let (a, b, c) = (l.file("a"), l.file("b"), l.file("c"));
        let len = 3 * K + 100;
        l.write(a, 0, &pattern(1, len)).unwrap();
        // Length 0: to the source EOF, partial last block included.
        assert_eq!(l.clone(a, 0, b, 0, 0), Ok(len), "{model}");
        assert_eq!(l.size(b), len, "{model}: the size is exact, not rounded");
        assert_eq!(l.bytes(b), pattern(1, len).to_vec());
        assert_eq!(
            l.shared_blocks(b),
            4,
            "{model}: the tail block is shared too"
        );
        // The tail may also land past the destination's EOF, which then grows.
        assert_eq!(l.clone(a, 2 * K, b, 8 * K, 0), Ok(K + 100));
        assert_eq!(l.size(b), 9 * K + 100);
        assert_eq!(
            l.bytes(b)[(4 * K) as usize..(8 * K) as usize],
            [0; 4 * K as usize]
        );
        // But not inside the destination's data: its bytes past the source EOF would show.
        l.write(c, 0, &pattern(2, 8 * K)).unwrap();
        assert_eq!(l.clone(a, 0, c, 0, 0), Err(Errno::EINVAL), "{model}");
        assert_eq!(l.bytes(c), pattern(2, 8 * K).to_vec());
        // copy_file_range's CAN_SHORTEN takes the whole blocks instead.
        assert_eq!(l.remap(a, 0, c, 0, 0, CAN_SHORTEN), Ok(3 * K));
        let mut want = pattern(1, 3 * K).to_vec();
        want.extend(&pattern(2, 8 * K).to_vec()[(3 * K) as usize..]);
        assert_eq!(l.bytes(c), want);
    }
}

#[test]
fn unaligned_clone_is_einval_and_changes_nothing() {
    for model in SHARING {
        let l = Lab::new(&format!("{model}:size=1m"));
        let (a, b) = (l.file("a"), l.file("b"));
        l.write(a, 0, &pattern(1, 8 * K)).unwrap();
        l.write(b, 0, &pattern(2, 8 * K)).unwrap();
        for (soff, doff, len) in [(100, 0, K), (0, 100, K), (0, 0, K + 1), (0, 0, 9 * K)] {
            assert_eq!(
                l.clone(a, soff, b, doff, len),
                Err(Errno::EINVAL),
                "{model} {soff} {doff} {len}"
            );
        }
        // Past the source EOF: EINVAL for clone, shortened under CAN_SHORTEN.
        assert_eq!(l.clone(a, 8 * K, b, 0, K), Err(Errno::EINVAL));
        assert_eq!(l.remap(a, 4 * K, b, 0, 9 * K, CAN_SHORTEN), Ok(4 * K));
        // Overlap within one file.
        assert_eq!(l.clone(a, 0, a, K, 2 * K), Err(Errno::EINVAL));
        assert_eq!(l.bytes(a), pattern(1, 8 * K).to_vec());
        // Unknown remap flags come first, even before "is a directory".
        assert_eq!(l.remap(a, 0, ROOT_INO, 0, K, 1 << 7), Err(Errno::EINVAL));
        assert_eq!(l.clone(a, 0, ROOT_INO, 0, K), Err(Errno::EISDIR));
    }
}

#[test]
fn ocfs2_shares_and_aligns_by_cluster() {
    let l = Lab::new("ocfs2-like:cluster=64k,size=4m");
    assert_eq!(l.fs.statfs().block_size, 64 * K / 4);
    let c = 64 << 10;
    let (a, b) = (l.file("a"), l.file("b"));
    l.write(a, 0, &pattern(1, 4 * c)).unwrap();
    assert_eq!(
        l.clone(a, K, b, 0, c),
        Err(Errno::EINVAL),
        "block-aligned is not enough"
    );
    assert_eq!(l.clone(a, c, b, 0, 2 * c), Ok(2 * c));
    let free = l.free();
    l.write(b, 1, &Data::fill(3, 1)).unwrap();
    assert_eq!(l.free(), free - 1, "one byte copies a whole 64 KiB cluster");
    let e = l.fs.fiemap(b).unwrap();
    assert_eq!(e[0].length, c);
    assert_eq!(e[0].flags & fiemap_flags::SHARED, 0);
    assert_eq!(l.fs.max_file_size(), (c << 32) - c);
}

// ------------------------------------------------------------------ btrfs specifics

#[test]
fn btrfs_nodatacow_and_datacow_files_cannot_share() {
    let l = Lab::new("btrfs-like:size=1m");
    let (a, n) = (l.file("a"), l.file("n"));
    l.write(a, 0, &pattern(1, 4 * K)).unwrap();
    let c = Attrs {
        nodatacow: true,
        ..Attrs::default()
    };
    l.fs.set_attrs(&l.t, n, c).unwrap();
    assert!(l.fs.getattr(n).unwrap().attrs.nodatacow);
    assert_eq!(l.clone(a, 0, n, 0, 0), Err(Errno::EINVAL));
    assert_eq!(l.clone(n, 0, a, 0, 0), Err(Errno::EINVAL));
    assert_eq!(l.dedupe(a, 0, n, 0, K), Err(Errno::EINVAL));
    // The checksum rule runs before the generic prep: it beats EPERM.
    let ci = Attrs {
        immutable: true,
        ..c
    };
    l.fs.set_attrs(&l.t, n, ci).unwrap();
    assert_eq!(l.clone(a, 0, n, 0, 0), Err(Errno::EINVAL));
    // Two nodatacow files share fine, and CoW only when shared.
    l.fs.set_attrs(&l.t, n, c).unwrap();
    let m = l.file("m");
    l.fs.set_attrs(&l.t, m, c).unwrap();
    l.write(n, 0, &pattern(2, 4 * K)).unwrap();
    assert_eq!(l.clone(n, 0, m, 0, 0), Ok(4 * K));
    // chattr -C on a non-empty file is silently ignored, so the pair stays consistent.
    l.fs.set_attrs(&l.t, m, Attrs::default()).unwrap();
    assert!(l.fs.getattr(m).unwrap().attrs.nodatacow);
}

#[test]
fn btrfs_inline_source_is_copied_not_shared() {
    let l = Lab::new("btrfs-like:size=1m");
    let (a, b, c) = (l.file("a"), l.file("b"), l.file("c"));
    l.write(a, 0, &pattern(1, 100)).unwrap();
    let inline = |ino| {
        l.fs.fiemap(ino)
            .unwrap()
            .iter()
            .any(|e| e.flags & fiemap_flags::DATA_INLINE != 0)
    };
    assert!(inline(a));
    let free = l.free();
    // FICLONE succeeds, but the bytes are copied: btrfs never shares an inline extent.
    assert_eq!(l.clone(a, 0, b, 0, 0), Ok(100));
    assert!(inline(b));
    assert_eq!(l.bytes(b), pattern(1, 100).to_vec());
    assert_eq!(l.free(), free);
    // At a non-zero offset the copy lands in a regular block of the destination.
    assert_eq!(l.clone(a, 0, c, 2 * K, 0), Ok(100));
    assert_eq!(l.size(c), 2 * K + 100);
    assert_eq!(l.extents(c), vec![(2, 1, false)]);
    assert_eq!(l.bytes(c)[(2 * K) as usize..], pattern(1, 100).to_vec()[..]);
    assert_eq!(l.free(), free - 1);
    // An inline file truncated up has a hole after its data; a clone over a regular
    // destination copies the data and punches the rest.
    l.fs.truncate(&l.t, a, 10_000).unwrap();
    l.clean();
    let d = l.file("d");
    l.write(d, 0, &pattern(2, 2 * K)).unwrap();
    assert_eq!(l.clone(a, 0, d, 0, 0), Ok(10_000));
    let mut want = pattern(1, 100).to_vec();
    want.resize(10_000, 0);
    assert_eq!(l.bytes(d), want);
    l.fs.truncate(&l.t, a, 100).unwrap();
    l.clean();
    // Growing past max_inline moves the data to a regular extent.
    l.write(a, 3000, &Data::fill(5, 10)).unwrap();
    assert!(!inline(a));
    assert_eq!(l.bytes(a)[..100], pattern(1, 100).to_vec()[..]);
    // max_inline=0 turns inline extents off.
    let l = Lab::new("btrfs-like:size=1m,max_inline=0");
    let a = l.file("a");
    l.write(a, 0, &pattern(1, 100)).unwrap();
    assert_eq!(l.extents(a), vec![(0, 1, false)]);
}

#[test]
fn btrfs_dedupe_is_not_capped_at_16_mib() {
    let l = Lab::new("btrfs-like:size=256m");
    let (a, b) = (l.file("a"), l.file("b"));
    let len = 40 << 20;
    l.write(a, 0, &Data::fill(1, len)).unwrap();
    l.write(b, 0, &Data::fill(1, len)).unwrap();
    assert_eq!(l.dedupe(a, 0, b, 0, len), Ok(len));
    assert_eq!(l.shared_blocks(b), len / K);
}

// ------------------------------------------------------------------ xfs / ocfs2 specifics

#[test]
fn xfs_without_reflink_answers_eopnotsupp() {
    let l = Lab::new("xfs-like:reflink=0");
    assert_eq!(l.fs.fs_type(), "xfs-like");
    let (a, b) = (l.file("a"), l.file("b"));
    l.write(a, 0, &pattern(1, 4 * K)).unwrap();
    // Before any argument check, even an unaligned one.
    assert_eq!(l.clone(a, 1, b, 0, 0), Err(Errno::EOPNOTSUPP));
    assert_eq!(l.dedupe(a, 0, b, 0, K), Err(Errno::EOPNOTSUPP));
    // But unknown flags are refused first.
    assert_eq!(l.remap(a, 0, b, 0, 0, 1 << 4), Err(Errno::EINVAL));
    // XFS has no FS_NOCOW_FL.
    let c = Attrs {
        nodatacow: true,
        ..Attrs::default()
    };
    assert_eq!(l.fs.set_attrs(&l.t, b, c), Err(Errno::EOPNOTSUPP));
    assert_eq!(Lab::new("xfs-like").fs.fs_type(), "xfs-like");
    assert_eq!(Lab::new("ocfs2-like").fs.fs_type(), "ocfs2-like");
    assert_eq!(Lab::new("btrfs-like").fs.fs_type(), "btrfs-like");
}

fn ocfs2_fs(cluster: u64) -> Ocfs2Fs {
    let flavor = Ocfs2::with_cluster(cluster).unwrap();
    let base = LocalOptions {
        size: 16 << 20,
        ..LocalOptions::default()
    };
    fs_models::ocfs2::ocfs2(flavor, flavor.options(base))
}

#[test]
fn ocfs2_whole_file_reflink_and_refcount_trees() {
    let fs = ocfs2_fs(4096);
    let t = Task::new(1);
    let check = |fs: &Ocfs2Fs| assert!(fs.fsck().is_empty(), "{:#?}", fs.fsck());
    let a = fs.create(&t, ROOT_INO, "a", FileKind::Regular).unwrap();
    fs.write(&t, a, 0, &pattern(1, 3 * K + 7)).unwrap();
    let free = fs.statfs().free;
    let snap = fs.reflink_file(&t, a, ROOT_INO, "snap", true).unwrap();
    check(&fs);
    assert_eq!(fs.statfs().free, free);
    assert_eq!(fs.getattr(snap).unwrap().size, 3 * K + 7);
    assert_eq!(
        fs.read(&t, snap, 0, 1 << 20).unwrap().to_vec(),
        pattern(1, 3 * K + 7).to_vec()
    );
    let tree = fs.refcount_tree(snap).unwrap();
    assert_eq!(tree.len(), 1);
    assert_eq!((tree[0].length, tree[0].refcount), (4 * K, 2));
    assert_eq!(fs.refcount_tree_id(a), fs.refcount_tree_id(snap));
    assert_eq!(
        fs.reflink_file(&t, a, ROOT_INO, "snap", false),
        Err(Errno::EEXIST)
    );
    let imm = Attrs {
        immutable: true,
        ..Attrs::default()
    };
    fs.set_attrs(&t, a, imm).unwrap();
    assert_eq!(
        fs.reflink_file(&t, a, ROOT_INO, "x", false),
        Err(Errno::EPERM)
    );
    fs.set_attrs(&t, a, Attrs::default()).unwrap();
    assert_eq!(
        fs.reflink_file(&t, ROOT_INO, ROOT_INO, "x", false),
        Err(Errno::EPERM),
        "only regular files"
    );
    // Two files already in different refcount trees cannot share.
    let c = fs.create(&t, ROOT_INO, "c", FileKind::Regular).unwrap();
    fs.write(&t, c, 0, &pattern(2, 4 * K)).unwrap();
    let d = fs.reflink_file(&t, c, ROOT_INO, "d", false).unwrap();
    assert_ne!(fs.refcount_tree_id(c), fs.refcount_tree_id(a));
    assert_eq!(
        fs.remap_file_range(&t, a, 0, d, 0, 2 * K, 0),
        Err(Errno::EOPNOTSUPP)
    );
    // A file without a tree joins its partner's.
    let e = fs.create(&t, ROOT_INO, "e", FileKind::Regular).unwrap();
    assert_eq!(fs.remap_file_range(&t, a, 0, e, 0, 0, 0), Ok(3 * K + 7));
    assert_eq!(fs.refcount_tree_id(e), fs.refcount_tree_id(a));
    check(&fs);
    // The whole reflink is one journaled operation: a crash keeps all or nothing.
    for img in fs.crash_states() {
        clean_image(&img);
        if let Ok(s) = img.lookup(ROOT_INO, "snap") {
            assert_eq!(img.inode(s).unwrap().size, 3 * K + 7);
        }
    }
}

// ------------------------------------------------------------------ cost

#[test]
fn clone_costs_per_extent_not_per_byte() {
    for (model, per_extent) in [
        ("btrfs-like", 5_000),
        ("xfs-like", 8_500),
        ("ocfs2-like", 8_500),
    ] {
        let l = Lab::new(&format!("{model}:size=64m"));
        let (a, b) = (l.file("a"), l.file("b"));
        // 100 extents: every other block written.
        for i in 0..100 {
            l.write(a, 2 * i * K, &Data::fill(1, K)).unwrap();
        }
        let t0 = l.t.now();
        assert_eq!(l.clone(a, 0, b, 0, 0), Ok(199 * K));
        let spent = l.t.now() - t0;
        assert_eq!(spent, l.fs.cost().per_op_ns + 100 * per_extent, "{model}");
        assert_eq!(l.t.stats().extents_remapped, 100);
        // A one-extent gigabyte costs one extent.
        let (c, d) = (l.file("c"), l.file("d"));
        l.write(c, 0, &Data::fill(2, 32 << 20)).unwrap();
        let t0 = l.t.now();
        l.clone(c, 0, d, 0, 0).unwrap();
        assert_eq!(
            l.t.now() - t0,
            l.fs.cost().per_op_ns + per_extent,
            "{model}"
        );
    }
}

// ------------------------------------------------------------------ mount specs

#[test]
fn mount_specs() {
    for spec in [
        "btrfs-like:size=256m",
        "btrfs-like:nodatacow,max_inline=1k",
        "btrfs-like:nodatacow=0",
        "ocfs2-like:cluster=64k",
        "ocfs2-like:cluster=1m,size=1g,reflink=1",
        "xfs-like",
        "xfs-like:reflink=0",
    ] {
        assert!(make(spec).is_ok(), "{spec}");
    }
    for (spec, msg) in [
        ("ocfs2-like:cluster=3k", "not a power of two from 4k to 1m"),
        ("ocfs2-like:cluster=2m", "not a power of two from 4k to 1m"),
        ("ocfs2-like:cluster=2k", "not a power of two from 4k to 1m"),
        ("ocfs2-like:cluster=lots", "invalid size 'lots'"),
        ("ocfs2-like:cluster=1m,size=8m", "too small"),
        (
            "xfs-like:cluster=64k",
            "xfs-like: unknown mount option 'cluster'",
        ),
        (
            "xfs-like:reflink=maybe",
            "xfs-like: mount option 'reflink=maybe' is not a boolean",
        ),
        (
            "btrfs-like:compress=zstd",
            "btrfs-like: unknown mount option 'compress'",
        ),
        ("btrfs-like:max_inline=x", "invalid size 'x'"),
    ] {
        let e = make(spec)
            .err()
            .unwrap_or_else(|| panic!("{spec} should fail"));
        assert!(e.contains(msg), "{spec}: {e}");
    }
}

// ------------------------------------------------------------------ random walk

/// A seeded random walk of writes, clones, dedupes, truncates and hole punches on three
/// files, compared after every step with plain byte vectors, `fsck` clean throughout.
#[test]
fn random_operations_match_byte_vectors() {
    use vfs::fs::falloc_flags::{KEEP_SIZE, PUNCH_HOLE};
    let specs = [
        "btrfs-like:size=4m",
        "btrfs-like:size=4m,nodatacow",
        "ocfs2-like:size=4m",
        "ocfs2-like:size=16m,cluster=16k",
        "xfs-like:size=4m",
    ];
    // MODELS_RANDOM_SEEDS=N runs seeds 1..=N instead (for longer soaks); a failing seed is
    // named in the panic message and replays exactly.
    let seeds: Vec<u64> = match std::env::var("MODELS_RANDOM_SEEDS") {
        Ok(n) => (1..=n.parse::<u64>().expect("a number")).collect(),
        Err(_) => vec![0x2545_f491_4f6c_dd1d, 7, 0xdead_beef, 42],
    };
    for (spec, seed0) in specs
        .iter()
        .flat_map(|s| seeds.iter().map(move |x| (*s, *x)))
    {
        let l = Lab::new(spec);
        let bs = l.fs.statfs().block_size;
        let inos: Vec<Ino> = ["a", "b", "c"].iter().map(|n| l.file(n)).collect();
        let mut want: Vec<Vec<u8>> = vec![Vec::new(); 3];
        let mut seed = seed0;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        for step in 0..400 {
            let (i, j) = (rnd(3) as usize, rnd(3) as usize);
            let what = rnd(6);
            let ctx = format!("{spec} seed {seed0} step {step} op {what} files {i}->{j}");
            match what {
                0 | 1 => {
                    let off = rnd(6 * bs);
                    let max = if rnd(2) == 0 { 3000 } else { 3 * bs };
                    let len = 1 + rnd(max);
                    let bytes: Vec<u8> = (0..len).map(|_| rnd(256) as u8).collect();
                    l.write(inos[i], off, &Data::bytes(&bytes)).unwrap();
                    let w = &mut want[i];
                    let end = (off + len) as usize;
                    if w.len() < end {
                        w.resize(end, 0);
                    }
                    w[off as usize..end].copy_from_slice(&bytes);
                }
                2 | 3 => {
                    let soff = rnd(4) * bs;
                    let doff = rnd(6) * bs;
                    let len = if rnd(3) == 0 { 0 } else { rnd(4 * bs) };
                    let flags = if rnd(2) == 0 { 0 } else { CAN_SHORTEN };
                    let before = want[j].clone();
                    let ctx = format!("{ctx}: remap {soff} {doff} {len} {flags:#x}");
                    match l.remap(inos[i], soff, inos[j], doff, len, flags) {
                        Ok(0) => {}
                        Ok(n) => {
                            let src = want[i][soff as usize..(soff + n) as usize].to_vec();
                            let w = &mut want[j];
                            let end = (doff + n) as usize;
                            if w.len() < end {
                                w.resize(end, 0);
                            }
                            w[doff as usize..end].copy_from_slice(&src);
                        }
                        Err(e) => {
                            assert!(
                                matches!(e, Errno::EINVAL | Errno::EOPNOTSUPP),
                                "{ctx}: {e:?}"
                            );
                            assert_eq!(l.bytes(inos[j]), before, "{ctx}: failed remap changed dst");
                        }
                    }
                }
                4 => {
                    let soff = rnd(4) * bs;
                    let doff = rnd(4) * bs;
                    let len = rnd(3 * bs);
                    match l.dedupe(inos[i], soff, inos[j], doff, len) {
                        // EOPNOTSUPP: ocfs2-like files in different refcount trees.
                        Ok(_) | Err(Errno::EBADE | Errno::EINVAL | Errno::EOPNOTSUPP) => {}
                        Err(e) => panic!("{ctx}: {e:?}"),
                    }
                }
                _ => {
                    if rnd(2) == 0 {
                        let size = rnd(7 * bs);
                        l.fs.truncate(&l.t, inos[i], size).unwrap();
                        want[i].resize(size as usize, 0);
                    } else {
                        let off = rnd(5 * bs);
                        let len = 1 + rnd(2 * bs);
                        l.fs.fallocate(&l.t, inos[i], PUNCH_HOLE | KEEP_SIZE, off, len)
                            .unwrap();
                        let w = &mut want[i];
                        let end = ((off + len) as usize).min(w.len());
                        if (off as usize) < end {
                            w[off as usize..end].fill(0);
                        }
                    }
                    l.clean();
                }
            }
            for k in 0..3 {
                let got = l.bytes(inos[k]);
                if got != want[k] {
                    let first = got.iter().zip(&want[k]).position(|(x, y)| x != y);
                    panic!(
                        "{ctx}: file {k}: len {} want {}, first difference at {first:?}",
                        got.len(),
                        want[k].len()
                    );
                }
            }
        }
    }
}
