//! Planted bugs: deliberately broken variants of real code paths, so that tests can show
//! that each check of spec §6 *can fail* ("each check can fail").
//!
//! Every switch point in the code is one `if planted(Bug::…)` of one to three lines. The
//! switches exist only with the cargo feature `planted-bugs`; without it [`planted`] is a
//! constant `false` and the compiler removes the broken branches, so a normal build has no
//! reachable broken path. With the feature (the `splicelab-tests` crate enables it, and cargo
//! unifies features across a workspace build) every bug is still *off* until a test or
//! `splicelab check --plant NAME` switches it on at run time, so other tests are unaffected.
//!
//! The switch is process-wide: tests that plant bugs must not run concurrently with tests
//! that expect correct behaviour in the same process (the planted-bug tests live in their
//! own test binary and serialise themselves).
//!
//! | bug | property | switch point |
//! |---|---|---|
//! | [`Bug::CopyWrongOffset`] | 1 content | `copy::copy_chunk` |
//! | [`Bug::WriteLimitOneByteOff`] | 1 results (boundary) | `checks::generic_write_check_limits` |
//! | [`Bug::NeverShareReflinks`] | 2 never-share | `copy::vfs_splice_file_range` |
//! | [`Bug::MustShareByteCopies`] | 3 must-share | `copy::vfs_splice_file_range` |
//! | [`Bug::CowWritesSharedInPlace`] | 4 write independence | `extent::Image::write_span` |
//! | [`Bug::BackrefNotRemoved`] | 5 refcounts | `extent::Image::unmap` |
//! | [`Bug::SpaceLeak`] | 5 space | `extent::Image::unmap` |
//! | [`Bug::FsyncNotDurable`] | 6 durability | `crash::Journal::commit` |
//! | [`Bug::CopyHoldsLockAcrossChunks`] | 7 blocking | `copy::do_splice_direct` |
//! | [`Bug::CopyChunkOfLargerMount`] | 7 blocking (two mounts) | `copy::do_splice_direct` |
//! | [`Bug::SwapBuildsUnderLocks`] | 7 blocking (`remap=swap`) | `copy::remap_staged` |
//! | [`Bug::LockInArgumentOrder`] | 8 concurrency | `lock::lock_two` |
//! | [`Bug::LockOrderIgnoresMount`] | 8 concurrency (two mounts) | `vfs::Inode::order` |
//! | [`Bug::CrashStateGarbage`] | 9 crash states | `crash::Journal::states` |
//! | [`Bug::OrphansSurviveCrash`] | 9 crash states (5 after recovery) | `crash::Journal::states` |

#[cfg(feature = "planted-bugs")]
use std::sync::atomic::{AtomicU32, Ordering};

/// A deliberately broken variant of a code path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// The byte copy writes each chunk one byte past where it belongs.
    CopyWrongOffset,
    /// `generic_write_check_limits` refuses a write only *past* `s_maxbytes`, not at it: a
    /// copy to offset `s_maxbytes` returns 0 where Linux says `EFBIG` (a wrong bound one
    /// byte off, reachable only with destination offsets at the top of the offset space).
    WriteLimitOneByteOff,
    /// A never-share splice takes the may-share path (it reflinks).
    NeverShareReflinks,
    /// A must-share splice byte-copies instead of sharing (and so never fails).
    MustShareByteCopies,
    /// Copy-on-write forgets to unshare: a write to a shared block goes in place, into
    /// every file that shares it.
    CowWritesSharedInPlace,
    /// Unmapping a block range leaves the extent's back-reference behind (the reference
    /// count is not decremented, the extent is never freed).
    BackrefNotRemoved,
    /// Freeing an extent does not return its blocks to free space.
    SpaceLeak,
    /// `fsync` (a journal commit) does not make anything durable.
    FsyncNotDurable,
    /// The byte copy does the whole range as one chunk, holding both inode locks across
    /// what should be many chunks.
    CopyHoldsLockAcrossChunks,
    /// `lock_two` takes the two inode locks in argument order, not the global order.
    LockInArgumentOrder,
    /// `remap=swap` builds the remap with both inode locks already held, so readers wait
    /// for the whole build again (the stall the option exists to remove).
    SwapBuildsUnderLocks,
    /// The byte copy between two mounts uses the larger of their chunk sizes, so each chunk
    /// holds the inode locks longer than the smaller mount's chunk allows.
    CopyChunkOfLargerMount,
    /// The lock-order key is the inode number alone: two files with the same inode number
    /// on two mounts count as one inode, and `lock_two` locks only one of them.
    LockOrderIgnoresMount,
    /// Crash states (except the durable one) have garbage in their last extent.
    CrashStateGarbage,
    /// Recovery after a crash does not evict orphans (unlinked inodes keep their space).
    OrphansSurviveCrash,
}

impl Bug {
    /// Every planted bug.
    pub const ALL: [Bug; 15] = [
        Bug::CopyWrongOffset,
        Bug::WriteLimitOneByteOff,
        Bug::NeverShareReflinks,
        Bug::MustShareByteCopies,
        Bug::CowWritesSharedInPlace,
        Bug::BackrefNotRemoved,
        Bug::SpaceLeak,
        Bug::FsyncNotDurable,
        Bug::CopyHoldsLockAcrossChunks,
        Bug::CopyChunkOfLargerMount,
        Bug::SwapBuildsUnderLocks,
        Bug::LockInArgumentOrder,
        Bug::LockOrderIgnoresMount,
        Bug::CrashStateGarbage,
        Bug::OrphansSurviveCrash,
    ];

    /// The command-line name (`never-share-reflinks`).
    pub fn name(self) -> &'static str {
        match self {
            Bug::CopyWrongOffset => "copy-wrong-offset",
            Bug::WriteLimitOneByteOff => "write-limit-one-byte-off",
            Bug::NeverShareReflinks => "never-share-reflinks",
            Bug::MustShareByteCopies => "must-share-byte-copies",
            Bug::CowWritesSharedInPlace => "cow-writes-shared-in-place",
            Bug::BackrefNotRemoved => "backref-not-removed",
            Bug::SpaceLeak => "space-leak",
            Bug::FsyncNotDurable => "fsync-not-durable",
            Bug::CopyHoldsLockAcrossChunks => "copy-holds-lock-across-chunks",
            Bug::LockInArgumentOrder => "lock-in-argument-order",
            Bug::CopyChunkOfLargerMount => "copy-chunk-of-larger-mount",
            Bug::SwapBuildsUnderLocks => "swap-builds-under-locks",
            Bug::LockOrderIgnoresMount => "lock-order-ignores-mount",
            Bug::CrashStateGarbage => "crash-state-garbage",
            Bug::OrphansSurviveCrash => "orphans-survive-crash",
        }
    }

    /// The property of spec §6 whose check this bug breaks.
    pub fn property(self) -> u8 {
        match self {
            Bug::CopyWrongOffset | Bug::WriteLimitOneByteOff => 1,
            Bug::NeverShareReflinks => 2,
            Bug::MustShareByteCopies => 3,
            Bug::CowWritesSharedInPlace => 4,
            Bug::BackrefNotRemoved | Bug::SpaceLeak => 5,
            Bug::FsyncNotDurable => 6,
            Bug::CopyHoldsLockAcrossChunks
            | Bug::CopyChunkOfLargerMount
            | Bug::SwapBuildsUnderLocks => 7,
            Bug::LockInArgumentOrder | Bug::LockOrderIgnoresMount => 8,
            Bug::CrashStateGarbage | Bug::OrphansSurviveCrash => 9,
        }
    }

    /// Looks a bug up by its command-line name.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    #[cfg(feature = "planted-bugs")]
    fn bit(self) -> u32 {
        1 << Bug::ALL.iter().position(|&b| b == self).expect("listed")
    }
}

/// Whether planted bugs can be switched on in this build (cargo feature `planted-bugs`).
pub const AVAILABLE: bool = cfg!(feature = "planted-bugs");

#[cfg(feature = "planted-bugs")]
static PLANTED: AtomicU32 = AtomicU32::new(0);

/// Whether `bug` is switched on. Always `false` without the `planted-bugs` feature.
#[inline(always)]
pub fn planted(bug: Bug) -> bool {
    #[cfg(feature = "planted-bugs")]
    {
        PLANTED.load(Ordering::Relaxed) & bug.bit() != 0
    }
    #[cfg(not(feature = "planted-bugs"))]
    {
        let _ = bug;
        false
    }
}

/// Switches `bug` on (process-wide).
///
/// # Errors
/// A message when the build lacks the `planted-bugs` feature.
pub fn plant(bug: Bug) -> Result<(), String> {
    #[cfg(feature = "planted-bugs")]
    {
        PLANTED.fetch_or(bug.bit(), Ordering::SeqCst);
        Ok(())
    }
    #[cfg(not(feature = "planted-bugs"))]
    {
        Err(format!(
            "cannot plant '{}': this build lacks the cargo feature planted-bugs \
             (e.g. cargo run --release --features splicelab/planted-bugs -- check --plant {})",
            bug.name(),
            bug.name()
        ))
    }
}

/// Switches every bug off.
pub fn unplant_all() {
    #[cfg(feature = "planted-bugs")]
    PLANTED.store(0, Ordering::SeqCst);
}

/// [`Bug::CrashStateGarbage`]: overwrites the data of the last extent of a crash state with
/// a byte no workload writes.
pub fn garble(img: &mut crate::extent::Image) {
    if let Some((_, e)) = img.phys.iter_mut().last() {
        let e = std::sync::Arc::make_mut(e);
        e.data = crate::data::Data::fill(0xee, e.data.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_default_is_off() {
        for b in Bug::ALL {
            assert_eq!(Bug::from_name(b.name()), Some(b));
            assert!((1..=9).contains(&b.property()));
            if !AVAILABLE {
                assert!(!planted(b));
                assert!(plant(b).is_err());
            }
        }
        let mut props: Vec<u8> = Bug::ALL.iter().map(|b| b.property()).collect();
        props.dedup();
        assert_eq!(
            props,
            (1..=9).collect::<Vec<_>>(),
            "every property has a bug"
        );
    }
}
