//! "Each check can fail": for every property of spec §6, the checker run against a
//! deliberately broken variant of the code (a planted bug, `vfs::bugs`) reports that very
//! violation. The bugs are compiled in because this crate enables vfs's `planted-bugs`
//! feature, and switched on only inside these tests (process-wide, so the tests here run
//! one at a time; no other test binary is affected).
//!
//! Property 8 (lock order) is shown by loom in `tests/loom.rs`
//! (`planted_lock_order_bug_deadlocks`), since only an interleaving exposes a wrong order;
//! a lock-order key that ignores the mount is shown here, by the harness over several
//! mounts (each chunk of a byte copy must take both files' locks).

use std::sync::Mutex;

use check::enumerate;
use check::harness::Config;
use check::runner::{self, Options};
use vfs::bugs::{self, Bug};

static SERIAL: Mutex<()> = Mutex::new(());

// This crate builds vfs with the feature, so the bugs can be planted.
const _: () = assert!(bugs::AVAILABLE);

/// Plants `bug` for the guard's lifetime (and serialises planted-bug tests).
struct Planted(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Planted {
    fn new(bug: Bug) -> Planted {
        let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        bugs::unplant_all();
        bugs::plant(bug).expect("splicelab-tests enables vfs/planted-bugs");
        Planted(g)
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        bugs::unplant_all();
    }
}

/// Runs the random state machine on `model` with `bug` planted and returns the failure
/// message (panics if the checker does not fail).
fn state_machine_fails(bug: Bug, model: &str) -> String {
    state_machine_fails_with(bug, model, Config::default())
}

fn state_machine_fails_with(bug: Bug, model: &str, config: Config) -> String {
    let _p = Planted::new(bug);
    let spec = if check::harness::multi::is_multi(model) {
        model.to_string()
    } else {
        check::profile::spec_for(model)
    };
    let opts = Options {
        specs: vec![spec],
        cases: 500,
        seed: 0x5eed,
        max_ops: 30,
        config,
        shrink_runs: 300,
        ..Options::default()
    };
    let out = runner::run(&opts, |_, _| {});
    let f = out.failure.unwrap_or_else(|| {
        panic!(
            "{} on {model}: the checker found nothing in {} cases",
            bug.name(),
            out.cases
        )
    });
    eprintln!(
        "{} on {model}: case {} (seed {}), shrunk {} -> {} ops:\n{}",
        bug.name(),
        f.case,
        f.seed,
        f.original_ops,
        f.shrunk_ops,
        f.failure
    );
    assert!(
        f.failure.script.lines().count() > 1,
        "a failure comes with a replay script"
    );
    f.failure.message
}

/// Runs the crash-state enumeration on `model` with `bug` planted.
fn enumeration_fails(bug: Bug, model: &str) -> String {
    let _p = Planted::new(bug);
    let f = enumerate::enumerate(model, 2, |_, _| {})
        .err()
        .unwrap_or_else(|| panic!("{}: the enumeration found nothing", bug.name()));
    eprintln!("{} on {model}: {f}", bug.name());
    f.message
}

#[test]
fn property_1_content_catches_a_copy_at_the_wrong_offset() {
    let m = state_machine_fails(Bug::CopyWrongOffset, "plain");
    assert!(m.contains("differs"), "{m}");
}

/// Issue 19, boundary values near 2^63: a write limit one byte off (a copy to offset
/// `s_maxbytes` is shortened to nothing instead of refused) is found by the CI-size run —
/// the options of `.ci/run`'s check section (seed 2013, 1000 cases, both shards) on one
/// model — because generation 4 puts destination offsets at `s_maxbytes` (`ops::to_huge`);
/// and the same run passes on the product as it is.
#[test]
fn property_1_boundaries_catch_a_write_limit_one_byte_off() {
    let spec = check::profile::spec_for("xfs-like");
    let ci = |shard| Options {
        specs: vec![spec.clone()],
        cases: 1000,
        seed: 2013,
        shard,
        ..Options::default()
    };
    {
        let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        bugs::unplant_all();
        for shard in [(0, 2), (1, 2)] {
            let out = runner::run(&ci(shard), |_, _| {});
            assert!(out.failure.is_none(), "clean product: {:?}", out.failure);
        }
    }
    let _p = Planted::new(Bug::WriteLimitOneByteOff);
    for shard in [(0, 2), (1, 2)] {
        let out = runner::run(&ci(shard), |_, _| {});
        let f = out
            .failure
            .unwrap_or_else(|| panic!("shard {shard:?}: the CI-size run found nothing"));
        eprintln!(
            "write-limit-one-byte-off, shard {shard:?}: case {}, shrunk to {} ops:\n{}",
            f.case, f.shrunk_ops, f.failure
        );
        assert!(
            f.failure.message.contains("expected EFBIG"),
            "{}",
            f.failure.message
        );
    }
}

#[test]
fn property_2_never_share_catches_a_reflinking_never_share_splice() {
    let m = state_machine_fails(Bug::NeverShareReflinks, "xfs-like");
    assert!(m.contains("never-share"), "{m}");
}

#[test]
fn property_3_must_share_catches_a_byte_copying_must_share() {
    let m = state_machine_fails(Bug::MustShareByteCopies, "btrfs-like");
    assert!(m.contains("must-share"), "{m}");
}

#[test]
fn property_4_write_independence_catches_cow_writing_shared_blocks_in_place() {
    // (The allocation check would see it first: a write that does not unshare takes no
    // space. Off here, to show the write-independence check itself.)
    let config = Config {
        exact_space: false,
        ..Config::default()
    };
    let m = state_machine_fails_with(Bug::CowWritesSharedInPlace, "ocfs2-like", config);
    // The never-share promise sees the same bug when a never-share byte copy is the write
    // that went into a shared block in place (the destination stays shared).
    assert!(
        m.contains("differs") || m.contains("after a never-share splice"),
        "{m}"
    );
}

#[test]
fn property_5_fsck_catches_a_reference_not_dropped() {
    let m = state_machine_fails(Bug::BackrefNotRemoved, "plain");
    assert!(m.contains("fsck") && m.contains("I2"), "{m}");
}

#[test]
fn property_5_fsck_catches_a_space_leak() {
    // The allocation check (free space taken by a write) or fsck's I3 sees it first.
    let m = state_machine_fails(Bug::SpaceLeak, "btrfs-like");
    assert!(
        m.contains("I3") || m.contains("blocks of free space"),
        "{m}"
    );
}

#[test]
fn property_6_durability_catches_an_fsync_that_persists_nothing() {
    let m = state_machine_fails(Bug::FsyncNotDurable, "xfs-like");
    assert!(m.contains("crash state"), "{m}");
}

#[test]
fn property_7_blocking_catches_a_copy_holding_the_lock_across_chunks() {
    let m = state_machine_fails(Bug::CopyHoldsLockAcrossChunks, "plain");
    assert!(m.contains("held an inode lock"), "{m}");
}

/// The check spec of a harness over several mounts (`check::harness::multi`): each
/// model with the checks' defaults, joined with `+`.
fn mounts(models: &[&str]) -> String {
    models
        .iter()
        .map(|m| check::profile::spec_for(m))
        .collect::<Vec<_>>()
        .join("+")
}

#[test]
fn property_7_blocking_catches_a_copy_in_chunks_of_the_larger_mount() {
    // Issue 19: a byte copy between a 16 KiB-chunk and a 64 KiB-chunk mount that uses the
    // larger chunk holds the locks up to four times too long; only a copy between two
    // mounts can show it.
    let spec = mounts(&["xfs-like:chunk=16k", "btrfs-like:chunk=64k"]);
    let m = state_machine_fails(Bug::CopyChunkOfLargerMount, &spec);
    assert!(m.contains("across mounts held an inode lock"), "{m}");
}

#[test]
fn property_7_blocking_catches_a_staged_remap_built_under_the_locks() {
    // Issue 20: with remap=swap a clone holds the inode locks for its install only; one
    // that builds its result under them is the locked remap again.
    let m = state_machine_fails(Bug::SwapBuildsUnderLocks, "btrfs-like:remap=swap");
    assert!(m.contains("held an inode lock"), "{m}");
}

#[test]
fn property_8_locking_catches_a_lock_order_key_without_the_mount() {
    // Issue 19: with the inode number alone as the key, two files with the same inode
    // number on two mounts lock as one, and the copy writes a file it has not locked.
    let spec = mounts(&["ocfs2-like", "plain:chunk=4k", "nfs-like"]);
    let m = state_machine_fails(Bug::LockOrderIgnoresMount, &spec);
    assert!(m.contains("inode lock 0 times"), "{m}");
}

#[test]
fn property_9_crash_states_catch_garbage() {
    let m = enumeration_fails(Bug::CrashStateGarbage, "ocfs2-like");
    assert!(m.contains("crash state"), "{m}");
}

#[test]
fn property_9_crash_states_catch_orphans_surviving_recovery() {
    let m = enumeration_fails(Bug::OrphansSurviveCrash, "plain");
    assert!(m.contains("survives recovery"), "{m}");
}

#[test]
fn every_property_has_a_planted_bug() {
    let mut props: Vec<u8> = Bug::ALL.iter().map(|b| b.property()).collect();
    props.dedup();
    assert_eq!(props, (1..=9).collect::<Vec<u8>>());
    // And nothing is planted outside these tests.
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(Bug::ALL.iter().all(|&b| !bugs::planted(b)));
}
