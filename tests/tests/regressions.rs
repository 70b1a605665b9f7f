//! Named regressions: every failure the property tests and crash enumeration shrank to,
//! replayed through the same harness (all of spec §6's checks after every step).
//! Each test names the bug and the file it was in.

use check::harness::run;
use check::ops::{Flag, Op};

fn replay(spec: &str, ops: &[Op]) {
    if let Err(f) = run(spec, ops) {
        panic!("{f}");
    }
}

/// `fpunch` over two partial blocks zeroed the first, then failed with `EIO` on the second
/// (a media error) and returned the error with the first block already changed: an error
/// must leave the file as it was (A2). Bug in `vfs::extent::Image::punch` (two separate
/// read-modify-writes, not all-or-nothing).
#[test]
fn regression_punch_eio_on_second_partial_block_leaves_first_zeroed() {
    replay(
        "plain:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 1,
                off: 4096,
                len: 20481,
                byte: 1,
            },
            Op::Media {
                file: 1,
                off: 24576,
            },
            Op::Punch {
                file: 1,
                off: 24575,
                len: 2,
            },
        ],
    );
}

/// The same non-atomic `fpunch`, with `ENOSPC`: on a copy-on-write model zeroing the
/// second partial block needs a new block, the planned allocation failure hit it after the
/// first block was already zeroed.
#[test]
fn regression_punch_enospc_on_second_partial_block_leaves_first_zeroed() {
    replay(
        "btrfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 24576,
                len: 12289,
                byte: 1,
            },
            Op::Enospc { n: 3 },
            Op::Pwrite {
                file: 0,
                off: 0,
                len: 1,
                byte: 0,
            },
            Op::Punch {
                file: 0,
                off: 24577,
                len: 4096,
            },
        ],
    );
}

/// nfs-like: a may-share `copy_file_range` whose server-side COPY shared the aligned part
/// and then failed the byte copy of the rest (`ENOSPC`) returned the error, although the
/// shared bytes were already in the destination (COPY must report a short `wr_count`).
/// Bug in `fs_models::nfs::server::NfsServer::copy_piece`.
#[test]
fn regression_nfs_copy_error_after_shared_part_loses_count() {
    replay(
        "nfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Enospc { n: 3 },
            Op::Pwrite {
                file: 0,
                off: 12288,
                len: 12288,
                byte: 0,
            },
            Op::Splice {
                src: 0,
                dst: 0,
                soff: 8192,
                doff: 0,
                len: 1,
                flag: Flag::Never,
                nonblock: false,
            },
            Op::Clone {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 8192,
                len: 12288,
            },
            Op::CopyRange {
                src: 0,
                dst: 0,
                soff: 0,
                doff: 24576,
                len: 4097,
            },
        ],
    );
}

/// btrfs-like: a remap whose source is an inline file truncated up past its inline data,
/// starting in the implicit hole after it, copied the inline bytes to the destination
/// instead of zeroes (`clone_inline` ignored the source offset). Bug in
/// `fs_models::btrfs::Btrfs::remap`.
#[test]
fn regression_btrfs_clone_from_hole_after_inline_data_copies_inline_bytes() {
    replay(
        "btrfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 0,
                len: 1,
                byte: 1,
            },
            Op::Truncate {
                file: 0,
                size: 20480,
            },
            Op::Splice {
                src: 0,
                dst: 0,
                soff: 12288,
                doff: 0,
                len: 4096,
                flag: Flag::May,
                nonblock: false,
            },
        ],
    );
}

/// nfs-like: after a server reboot the client's session recovery redid the logged
/// (uncommitted) COPY into a file unlinked since, and returned its `ESTALE` to the
/// unrelated `read` of another file that happened to notice the reboot. Bug in
/// `fs_models::nfs::client::NfsClient::recover`.
#[test]
fn regression_nfs_reboot_recovery_of_unlinked_copy_target_fails_unrelated_read() {
    replay(
        "nfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 16384,
                len: 1,
                byte: 0,
            },
            Op::Create { n: 2 },
            Op::Splice {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 4097,
                len: 1,
                flag: Flag::May,
                nonblock: false,
            },
            Op::Unlink { file: 1 },
            Op::Reboot,
        ],
    );
}

/// nfs-like: after a server reboot the client re-sends what the server lost as part of
/// whatever call notices the reboot, and a failure of that re-send (here the planned
/// `ENOSPC`) was returned by that call — a `read` of the file — instead of being kept for
/// the next `fsync` of the file it concerns (Linux reports write-back errors there, through
/// the mapping's errseq). Bug in `fs_models::nfs::client::NfsClient::recover`; the error is
/// now reported once by the next `fsync`, which also re-sends the data.
#[test]
fn regression_nfs_reboot_resend_failure_surfaces_on_read() {
    use syscall::Syscalls;
    let mut h = check::harness::Harness::new("nfs-like:size=64m,chunk=16k").expect("spec");
    for op in [
        Op::Create { n: 0 },
        Op::Create { n: 1 },
        Op::Enospc { n: 3 },
        Op::Pwrite {
            file: 0,
            off: 8192,
            len: 12288,
            byte: 0,
        },
        Op::Splice {
            src: 0,
            dst: 0,
            soff: 4096,
            doff: 8192,
            len: 1,
            flag: Flag::May,
            nonblock: false,
        },
        Op::Create { n: 0 },
        Op::Create { n: 2 },
    ] {
        h.apply(&op).expect("setup");
    }
    h.fs.inject(&h.proc.task, vfs::fs::Fault::Reboot)
        .expect("reboot");
    let fd = h
        .proc
        .open("/f0", syscall::api::o::RDONLY, 0)
        .expect("open");
    let r = h.proc.pread(fd, 1, 0);
    assert!(
        r.is_ok(),
        "read after a server reboot failed with {:?}",
        r.err()
    );
    // The deferred error goes to the file's next fsync, once; that fsync re-sent the COPY,
    // so the next one has nothing to report.
    assert_eq!(h.proc.fsync(fd), Err(vfs::Errno::ENOSPC));
    assert_eq!(h.proc.fsync(fd), Ok(()));
    let problems = h.fs.image().fsck();
    assert!(problems.is_empty(), "{problems:?}");
}

/// nfs-like: a `pwrite` to a file failed with `EIO` because a COPY *from* it, logged by
/// another file and lost in a server reboot, could not be redone (its source had lost the
/// data too, left uncommitted by a crashed client instance). R2 commits such COPYs before
/// the source changes; their failure is the destination's loss, reported by its next
/// `fsync`, not by the write. Bug in `fs_models::nfs::client::NfsClient::before_modify`
/// (found by `splicelab check --fs nfs-like --seed 313452`).
#[test]
fn regression_nfs_lost_copy_fails_a_write_to_its_source() {
    replay(
        "nfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 1,
                len: 1,
                byte: 0x70,
            },
            Op::CopyRange {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 1,
            },
            Op::Crash { pick: 196 },
            Op::Splice {
                src: 1,
                dst: 0,
                soff: 0,
                doff: 0,
                len: 1,
                flag: Flag::May,
                nonblock: false,
            },
            Op::Reboot,
            Op::Pwrite {
                file: 1,
                off: 0,
                len: 1,
                byte: 0x6d,
            },
        ],
    );
}

/// nfs-like: a COPY lost in a server reboot whose redo failed (`ENOSPC`) stayed logged and
/// was redone at the file's next COMMIT — which a later copy *from* that file triggers
/// (R1) — so the file's content changed long after the reboot, in the middle of another
/// call, and the copy took bytes the file had not shown before. A redo that fails after a
/// reboot now drops what it could not redo and reports the loss at the next `fsync`. Bug
/// in `fs_models::nfs::client::NfsClient::recover` (found by `--seed 611733`).
#[test]
fn regression_nfs_failed_redo_changes_the_file_at_a_later_commit() {
    replay(
        "nfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 1,
                off: 36864,
                len: 8192,
                byte: 0xb2,
            },
            Op::Truncate {
                file: 1,
                size: 38519,
            },
            Op::Create { n: 2 },
            Op::Enospc { n: 3 },
            Op::Pwrite {
                file: 1,
                off: 0,
                len: 1,
                byte: 0x8f,
            },
            Op::Splice {
                src: 1,
                dst: 1,
                soff: 36864,
                doff: 4096,
                len: 30547,
                flag: Flag::May,
                nonblock: false,
            },
            Op::Reboot,
            Op::CopyRange {
                src: 1,
                dst: 0,
                soff: 1024,
                doff: 11264,
                len: 4096,
            },
        ],
    );
}

/// nfs-like: after a client crash, the new client instance COPYed from a file whose data
/// the crashed instance had left UNSTABLE on the server; a server reboot lost that data,
/// and the redo of the COPY read the file's older bytes — a destination content that never
/// existed. R1 now commits a copy's source and destination once per file after a client
/// crash, whatever this instance logged. Bug in
/// `fs_models::nfs::client::NfsClient::copy_file_range` (found by `--seed 514938`).
#[test]
fn regression_nfs_copy_from_a_crashed_clients_unstable_data() {
    replay(
        "nfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 1,
                off: 11,
                len: 10,
                byte: 0xe3,
            },
            Op::Pwrite {
                file: 0,
                off: 10,
                len: 18,
                byte: 0xfd,
            },
            Op::Create { n: 3 },
            Op::CopyRange {
                src: 1,
                dst: 0,
                soff: 10,
                doff: 22,
                len: 9,
            },
            Op::Crash { pick: 157 },
            Op::CopyRange {
                src: 0,
                dst: 1,
                soff: 16,
                doff: 7,
                len: 29,
            },
            Op::Reboot,
        ],
    );
}

/// nfs-like: a COMMIT found a verifier mismatch and replayed the log; an older WRITE was
/// sent again, then the replay failed (`ENOSPC`) on a newer WRITE of the same bytes. The
/// newer entry carried the current verifier, so the next COMMIT trusted it although the
/// replayed older WRITE had overwritten it on the server: an older byte came back. An
/// interrupted replay now makes the next COMMIT replay the log again first. Bug in
/// `fs_models::nfs::client::NfsClient::commit_file` (found by `splicelab check --fs all
/// --seed 13000000`, case 12349).
#[test]
fn regression_nfs_interrupted_replay_leaves_an_older_write_on_top() {
    replay(
        "nfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 28672,
                len: 16384,
                byte: 0x98,
            },
            Op::Pwrite {
                file: 0,
                off: 21039,
                len: 27,
                byte: 0x0f,
            },
            Op::Enospc { n: 3 },
            Op::Truncate { file: 0, size: 0 },
            Op::Reboot,
            Op::Pwrite {
                file: 0,
                off: 20480,
                len: 16384,
                byte: 0x35,
            },
            Op::Enospc { n: 3 },
            Op::CopyRange {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 1,
            },
            Op::Splice {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 1,
                flag: Flag::May,
                nonblock: false,
            },
        ],
    );
}

/// The setup of the two btrfs-like regressions below: `f0` of one byte (its EOF block a
/// hole), `f1` with data, and the third allocation from now planned to fail.
fn btrfs_clone_past_eof_setup() -> Vec<Op> {
    vec![
        Op::Create { n: 0 },
        Op::Create { n: 1 },
        Op::Enospc { n: 3 },
        Op::Truncate { file: 0, size: 1 },
        Op::Pwrite {
            file: 1,
            off: 24574,
            len: 29789,
            byte: 0x84,
        },
        Op::Pwrite {
            file: 1,
            off: 0,
            len: 1,
            byte: 0x8b,
        },
    ]
}

/// btrfs-like: a `FICLONERANGE` past the destination's EOF first zeroes the old EOF block
/// (here: turns the one-byte file into inline data, as `btrfs_cont_expand` does), then
/// failed with `ENOSPC` and kept that change: a failed clone changed the destination's
/// extent map. Remaps are now all or nothing. Bug in
/// `fs_models::local::LocalFs::remap_file_range` (found by `splicelab check --fs all
/// --seed 16000000`, case 2613).
#[test]
fn regression_btrfs_failed_clone_past_eof_keeps_the_zeroed_eof_block() {
    let mut ops = btrfs_clone_past_eof_setup();
    ops.push(Op::Clone {
        src: 1,
        dst: 0,
        soff: 12288,
        doff: 4096,
        len: 16384,
    });
    replay("btrfs-like:size=64m,chunk=16k", &ops);
}

/// The same through the extended splice: a failed must-share splice must leave the
/// destination unchanged, extent map included (spec §6.3).
#[test]
fn regression_btrfs_failed_must_share_past_eof_keeps_the_zeroed_eof_block() {
    let mut ops = btrfs_clone_past_eof_setup();
    ops.push(Op::Splice {
        src: 1,
        dst: 0,
        soff: 12288,
        doff: 4096,
        len: 16384,
        flag: Flag::Must,
        nonblock: false,
    });
    replay("btrfs-like:size=64m,chunk=16k", &ops);
}

/// A crash restored the allocator's injected failure plan from the journal's snapshot:
/// an `ENOSPC` fault that had already fired came back after the crash (and one armed
/// after the last commit would vanish). Media errors already carried over from the live
/// image; the fault plan now does too. Bug in `vfs::crash::Journal::states`.
#[test]
fn regression_crash_resurrects_fired_enospc_fault() {
    use syscall::Syscalls;
    use vfs::Data;
    let mut h = check::harness::Harness::new("plain:size=64m,chunk=16k").expect("spec");
    let fd = h
        .proc
        .open("/a", syscall::api::o::CREAT | syscall::api::o::RDWR, 0o644)
        .expect("create");
    h.fs.inject(&h.proc.task, vfs::fs::Fault::EnospcAfter { n: 2 })
        .expect("inject");
    h.proc
        .pwrite(fd, &Data::fill(1, 4096), 0)
        .expect("first allocation");
    h.proc.fsync(fd).expect("fsync");
    assert_eq!(
        h.proc.pwrite(fd, &Data::fill(2, 4096), 4096),
        Err(vfs::Errno::ENOSPC),
        "the planned failure"
    );
    h.proc.vfs.crash_all(0);
    h.proc.close_all();
    let fd = h.proc.open("/a", syscall::api::o::RDWR, 0).expect("open");
    assert_eq!(
        h.proc.pwrite(fd, &Data::fill(3, 4096), 4096),
        Ok(4096),
        "the fault fired once already"
    );
}

/// The first shrunk failure of the basic property test (recorded before this file
/// existed): a punch inside the first block of a file truncated up past it.
#[test]
fn regression_punch_in_first_block_after_truncate_up() {
    for model in fs_models::spec::MODELS {
        replay(
            &check::profile::spec_for(model),
            &[
                Op::Create { n: 0 },
                Op::Truncate {
                    file: 0,
                    size: 8193,
                },
                Op::Punch {
                    file: 0,
                    off: 0,
                    len: 1,
                },
            ],
        );
    }
}

// ------------------------------------------------------------------ page cache and journal
//
// Found by deep `splicelab check` runs after the page cache and per-model journals came in
// (docs/design.md D1–D9). Each replays the generated case that found it (the seed the run
// printed), through every check; each failed before its fix.

/// Replays case seed `seed` as the generator made it when the bug was found (generation 1,
/// before near-miss dedupes and closing unlinked files).
fn replay_case(spec: &str, seed: u64) {
    let ops = check::runner::generate_with(spec, seed, 40, 1).expect("a valid spec");
    replay(spec, &ops);
}

/// A clone inside the in-memory size put data past the on-disk EOF; restoring the on-disk
/// size left it there without marking the tail stale: fsck I4 failed on the crash state.
/// Fix in `LocalFs::log_change` (stale tail).
#[test]
fn regression_clone_past_on_disk_eof_leaves_a_stale_tail() {
    replay_case("ocfs2-like:size=64m,chunk=16k", 339);
}

/// Writeback past the on-disk EOF zeroed the EOF block's tail on the device, destroying
/// data a clone had put there: fsynced content differed after a crash. Fix: the on-disk
/// size takes up such bytes as they are (`LocalFs::take_up_eof_block`), and a mapping
/// spanning past the EOF block keeps the on-disk size.
#[test]
fn regression_writeback_past_eof_keeps_cloned_tail() {
    replay_case("btrfs-like:size=64m,chunk=16k", 5157);
}

/// A size-extending fallocate logged the new size over stale bytes of the old EOF block.
/// Fix: XFS writes back from the on-disk size first (`setattr_size_flush`), and any
/// logged growth over stale bytes zeroes them.
#[test]
fn regression_fallocate_growth_exposes_no_stale_bytes() {
    replay_case("xfs-like:size=64m,chunk=16k", 12169);
}

/// A remap within one file named the inode twice in the size bookkeeping, so the second
/// entry restored the raised size: stale bytes became file content after a crash.
#[test]
fn regression_same_file_remap_counts_the_inode_once() {
    replay_case("ocfs2-like:size=64m,chunk=16k", 16_003_894);
}

/// The safety zeroing of a grown EOF block compared allocations without the block's offset
/// in them, took a shared block for the old one and zeroed it.
#[test]
fn regression_grown_eof_zeroing_compares_the_block_not_the_extent() {
    replay_case("btrfs-like:size=64m,chunk=16k", 23_003_436);
}

/// btrfs log replay copied the second mapping of an extent the file maps twice, so a media
/// error on it no longer hit the copy.
#[test]
fn regression_log_replay_reshares_an_extent_the_file_maps_twice() {
    replay_case("btrfs-like:size=64m,chunk=16k", 23_003_828);
}

/// btrfs log replay unmapped the file first, so preallocation took the blocks its logged
/// data extent had to go back to (a media error moved to another file block).
#[test]
fn regression_log_replay_keeps_committed_extents_in_place() {
    replay_case("btrfs-like:size=64m,chunk=16k", 23_004_858);
}

/// After a full-commit fallback at one fsync, a later fsync of a file that had changed
/// since only relative to that commit logged nothing.
#[test]
fn regression_btrfs_fallback_commit_then_fsync_logs_the_change() {
    replay_case("btrfs-like:size=64m,chunk=16k", 31_004_955);
}

/// The growth safety net of `LocalFs::log_change` zeroed bytes a clone had put past the
/// on-disk EOF (marked stale only for I4) when a later truncate logged a size over them:
/// it now writes what the page cache holds there, and only where it differs.
#[test]
fn regression_growth_over_cloned_tail_keeps_the_clone() {
    replay_case("btrfs-like:size=64m,chunk=16k", 18_838);
}

// ------------------------------------------------------------------ nfs-like copies (issue 16)
//
// Found by `splicelab check --fs nfs-like:async=1` once the generators could reach
// asynchronous copies that span several server chunks (check spec `copychunk=16k`), signals
// during them, armed reboots and SPLICE_F_NONBLOCK; shrunk scripts, each failed before its
// fix.

const NFS_ASYNC: &str = "nfs-like:async=1,size=64m,chunk=16k,copychunk=16k";

/// An asynchronous COPY whose second server chunk failed (ENOSPC) reported the error in
/// CB_OFFLOAD, and the client returned it although the first chunk was in the destination:
/// a failed call changed the file. Fix in `NfsClient::wait_async` (the partial count, R1).
/// The same copy cancelled by a signal after its failure: `NfsServer::offload_cancel`
/// answered the error instead of the bytes done.
#[test]
fn regression_nfs_async_copy_failing_after_a_chunk_returns_the_partial_count() {
    replay(
        NFS_ASYNC,
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Enospc { n: 3 },
            Op::Signal { after: 2 },
            Op::Pwrite {
                file: 0,
                off: 28670,
                len: 41607,
                byte: 0x8f,
            },
            Op::CopyRange {
                src: 0,
                dst: 1,
                soff: 36560,
                doff: 44722,
                len: 24585,
            },
        ],
    );
    replay(
        NFS_ASYNC,
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Signal { after: 2 },
            Op::Unlink { file: 1 },
            Op::Enospc { n: 2 },
            Op::Pwrite {
                file: 0,
                off: 34463,
                len: 19738,
                byte: 0xc5,
            },
            Op::Splice {
                src: 0,
                dst: 0,
                soff: 36864,
                doff: 8192,
                len: 23115,
                flag: Flag::May,
                nonblock: false,
            },
        ],
    );
}

/// An nfs-like `copy_file_range` is one COPY: it returned one server step with a signal
/// planned after that step still pending, and the harness took the short count for the
/// delivered signal — the next call's EINTR was then refused. Fix in the harness: the plan
/// is read back from the task (`Task::planned_signal`).
#[test]
fn regression_nfs_one_copy_per_call_leaves_the_signal_for_the_next_call() {
    replay(
        "nfs-like:size=64m,chunk=16k,copychunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Signal { after: 1 },
            Op::Truncate {
                file: 0,
                size: 32768,
            },
            Op::CopyRange {
                src: 0,
                dst: 0,
                soff: 8192,
                doff: 40960,
                len: 19465,
            },
        ],
    );
}

/// Issue 16, reproducer 3: a strict never-share splice into a reflink of its source left
/// the copied bytes in the client's cache and the server's blocks shared after it
/// returned. Fix: the VFS calls `FileSystem::unshare_copied`, and nfs-like writes the range
/// back; the harness checks the server's blocks on nfs-like too (`check_sole_user`).
#[test]
fn regression_nfs_strict_never_share_over_a_reflink_leaves_nothing_shared() {
    replay(
        "nfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 0,
                len: 40960,
                byte: 0x61,
            },
            Op::Fsync { file: 0 },
            Op::Clone {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 0,
            },
            Op::Splice {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 40960,
                flag: Flag::Never,
                nonblock: false,
            },
        ],
    );
}

/// Issue 16, reproducer 1: a non-blocking never-share splice on an asynchronous mount
/// answered EAGAIN and left the server copying; the copy later overwrote data written and
/// fsynced after the call. Now the call sends a synchronous COPY (EAGAIN would fail the
/// harness: nothing is contended), and every later step compares the content again.
#[test]
fn regression_nfs_nonblocking_copy_leaves_nothing_running() {
    replay(
        "nfs-like:async=1,copy=bytes,size=64m,chunk=16k,copychunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 0,
                len: 45056,
                byte: 0x61,
            },
            Op::Fsync { file: 0 },
            Op::Splice {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 45056,
                flag: Flag::Never,
                nonblock: true,
            },
            Op::Pwrite {
                file: 1,
                off: 20480,
                len: 4096,
                byte: 0x7a,
            },
            Op::Fsync { file: 1 },
            Op::Truncate { file: 1, size: 0 },
            Op::Fsync { file: 1 },
            Op::Pwrite {
                file: 0,
                off: 0,
                len: 45056,
                byte: 0x63,
            },
            Op::Fsync { file: 0 },
            Op::Crash { pick: 0 },
        ],
    );
}

/// A reboot armed to fire inside an asynchronous copy: the copy is lost on the server and
/// its call must send it again (the harness notices the reboot through
/// `FileSystem::server_reboots` and follows it).
#[test]
fn regression_nfs_copy_lost_in_a_reboot_is_sent_again() {
    let counters = run(
        NFS_ASYNC,
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 0,
                len: 49152,
                byte: 0x41,
            },
            Op::RebootInCopy { bytes: 16384 },
            // Offsets not congruent modulo the block: nothing to CLONE, all by COPY.
            Op::Splice {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 1000,
                len: 49152,
                flag: Flag::May,
                nonblock: false,
            },
            Op::Fsync { file: 1 },
            Op::Crash { pick: 0 },
        ],
    )
    .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(
        counters.offloads_restarted, 1,
        "the copy was lost once and sent again"
    );
}

/// Issue 18: a must-share splice of a btrfs-like inline source (at most `max_inline`, 2 KiB)
/// copies its bytes, as real btrfs's clone does, and reported them as shared. Now the model
/// reports them as copied (`bytes_copied`, nothing shared), and the harness demands it.
#[test]
fn regression_btrfs_inline_must_share_reports_a_copy() {
    for spec in [
        "btrfs-like:size=64m,chunk=16k",
        "nfs-like:size=64m,chunk=16k",
    ] {
        replay(
            spec,
            &[
                Op::Create { n: 0 },
                Op::Create { n: 1 },
                Op::Pwrite {
                    file: 0,
                    off: 0,
                    len: 100,
                    byte: 0x61,
                },
                Op::Fsync { file: 0 },
                Op::Splice {
                    src: 0,
                    dst: 1,
                    soff: 0,
                    doff: 0,
                    len: 100,
                    flag: Flag::Must,
                    nonblock: false,
                },
            ],
        );
    }
}

/// Issue 17: an nfs-like COPY of a source hole punched the destination's data, then failed
/// to grow the destination (`EIO` zeroing its EOF block) and returned the error with the
/// punch done. The punched part is now reported as a short count. Found by
/// `state_machine::nfs_like_async_over_btrfs_like`. Bug in
/// `fs_models::nfs::server::NfsServer::copy_hole`.
#[test]
fn regression_nfs_hole_copy_failing_to_grow_the_destination_keeps_its_count() {
    replay(
        "nfs-like:async=1,size=64m,chunk=16k,copychunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Create { n: 2 },
            Op::Create { n: 3 },
            Op::Pwrite {
                file: 3,
                off: 0,
                len: 24576,
                byte: 0,
            },
            Op::Truncate {
                file: 3,
                size: 16384,
            },
            Op::Pwrite {
                file: 3,
                off: 8192,
                len: 16385,
                byte: 1,
            },
            Op::Pwrite {
                file: 2,
                off: 24576,
                len: 1,
                byte: 0,
            },
            Op::Media {
                file: 3,
                off: 12288,
            },
            Op::Splice {
                src: 2,
                dst: 3,
                soff: 0,
                doff: 12290,
                len: 12288,
                flag: Flag::May,
                nonblock: false,
            },
        ],
    );
}

/// Found by `splicelab check --fs nfs-like:copy=bytes --seed 2223` after the hole copy of
/// issue 17: a never-share COPY of a source hole onto a preallocated extent the destination
/// shared through a clone took the extent (a hole to SEEK_DATA) for a hole and left the
/// block shared. Blocks under a copied hole are now found by FIEMAP and zeroed. Bug in
/// `fs_models::nfs::server::NfsServer::copy_hole`.
#[test]
fn regression_nfs_never_share_hole_copy_over_shared_preallocation_unshares_it() {
    replay(
        "nfs-like:copy=bytes,size=64m,chunk=16k,copychunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Falloc {
                file: 0,
                off: 20480,
                len: 18666,
                keep: false,
            },
            Op::Unlink { file: 1 },
            Op::Create { n: 3 },
            Op::Clone {
                src: 0,
                dst: 1,
                soff: 12288,
                doff: 28672,
                len: 0,
            },
            Op::Splice {
                src: 1,
                dst: 1,
                soff: 32768,
                doff: 40960,
                len: 17,
                flag: Flag::Never,
                nonblock: true,
            },
        ],
    );
}

/// A COPY step over a source hole whose destination range is a hole up to a block
/// preallocated past EOF (`falloc -k`) returned the bytes up to that block without
/// growing the destination: a copy stopped there (a signal after that step) reported
/// bytes the file did not hold. Found by `splicelab check --fs all --cases 20000 --seed 1`
/// (case seed 15993). Fix in `NfsServer::copy_hole` (the size covers the hole it reports).
#[test]
fn regression_nfs_hole_copy_up_to_preallocation_grows_the_destination() {
    replay(
        "nfs-like:size=64m,chunk=16k,copychunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Signal { after: 1 },
            Op::Pwrite {
                file: 1,
                off: 9998,
                len: 4886,
                byte: 0xf0,
            },
            Op::Falloc {
                file: 0,
                off: 4096,
                len: 4096,
                keep: true,
            },
            Op::Splice {
                src: 1,
                dst: 0,
                soff: 1024,
                doff: 148,
                len: 4765,
                flag: Flag::May,
                nonblock: true,
            },
        ],
    );
}

/// FICLONE over nfs-like of a one-byte source still in the client's cache: the client
/// sends it before the CLONE, the btrfs-like server then holds it inline and copies it —
/// reported as copied (issue 18), which the harness refused for a clone since it could not
/// see the inline data beforehand. Found by `check --fs nfs-like:async=1 --seed 2000000`.
#[test]
fn regression_nfs_clone_of_a_source_inline_only_on_the_server_is_a_copy() {
    replay(
        "nfs-like:async=1,size=64m,chunk=16k,copychunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 1,
                off: 0,
                len: 1,
                byte: 0x62,
            },
            Op::Clone {
                src: 1,
                dst: 0,
                soff: 0,
                doff: 28672,
                len: 0,
            },
        ],
    );
}

/// Issue 18: a signal pending before a must-share splice let the remap run (spec §2 says a
/// signal before any byte moved gives EINTR). Now every splice answers EINTR then; FICLONE
/// and copy_file_range keep Linux's behaviour.
#[test]
fn regression_must_share_with_a_signal_pending_gives_eintr() {
    for spec in [
        "btrfs-like:size=64m,chunk=16k",
        "xfs-like:size=64m,chunk=16k",
    ] {
        replay(
            spec,
            &[
                Op::Create { n: 0 },
                Op::Create { n: 1 },
                Op::Pwrite {
                    file: 0,
                    off: 0,
                    len: 16384,
                    byte: 0x61,
                },
                Op::Signal { after: 0 },
                Op::Splice {
                    src: 0,
                    dst: 1,
                    soff: 0,
                    doff: 0,
                    len: 16384,
                    flag: Flag::Must,
                    nonblock: false,
                },
                Op::Fsync { file: 1 },
            ],
        );
    }
}

/// A may-share splice inside one xfs-like file remapped blocks past its on-disk EOF while
/// the in-memory size (grown by a write, its EOF block's tail zeroed only in the page
/// cache) stayed as it was: the change logged the in-memory size over the old on-disk EOF
/// block, whose tail still held bytes a truncate had cut — a crash state showed them.
/// Found by `state_machine::xfs_like` (proptest, through a near-miss dedupe); fix in
/// `LocalFs::log_change` (the page cache's bytes of that tail are written back whenever
/// the logged size grows over it).
#[test]
fn regression_remap_past_the_on_disk_eof_does_not_expose_a_cut_tail() {
    replay(
        "xfs-like:size=64m,chunk=16k",
        &[
            Op::Create { n: 0 },
            Op::Create { n: 1 },
            Op::Pwrite {
                file: 0,
                off: 16384,
                len: 8192,
                byte: 1,
            },
            Op::Truncate {
                file: 0,
                size: 32767,
            },
            Op::Truncate {
                file: 0,
                size: 24575,
            },
            Op::Splice {
                src: 0,
                dst: 0,
                soff: 20480,
                doff: 12288,
                len: 12287,
                flag: Flag::Never,
                nonblock: false,
            },
            Op::Pwrite {
                file: 0,
                off: 24574,
                len: 1,
                byte: 0,
            },
            Op::Dedupe {
                src: 0,
                dst: 0,
                soff: 20480,
                doff: 12288,
                len: 12287,
            },
            Op::Fsync { file: 0 },
            Op::Pwrite {
                file: 0,
                off: 36864,
                len: 1,
                byte: 0,
            },
            Op::Splice {
                src: 0,
                dst: 0,
                soff: 8192,
                doff: 24576,
                len: 8192,
                flag: Flag::May,
                nonblock: false,
            },
        ],
    );
}

/// More than `MAX_LOG` (1,024) unstable WRITEs without an fsync: the client commits its
/// log once it is that long, but did it through `commit_file`, which flushes first, whose
/// flush found the log still over the limit and committed through `commit_file` again —
/// endless recursion, a stack overflow (found by the fuzz suite's 100,000 small unaligned
/// copies on nfs-like). Bug in `fs_models::nfs::client::NfsClient::flush`.
#[test]
fn regression_nfs_more_unstable_writes_than_the_log_holds_commit_once() {
    let mut ops = vec![Op::Create { n: 0 }];
    for i in 0..1100u64 {
        ops.push(Op::Pwrite {
            file: 0,
            off: i * 5 + 1,
            len: 3,
            byte: (i % 7) as u8 + 1,
        });
    }
    ops.push(Op::Fsync { file: 0 });
    replay("nfs-like:size=64m,chunk=16k,wsize=4k", &ops);
}

/// Found by the state machine (`state_machine::xfs_like`, then `ocfs2_like` on the same
/// persisted case): a write past EOF zeroes the tail of the old EOF block in the page
/// cache, but that page was not marked dirty. After a crash had left a truncated byte on
/// the device past EOF in that block, the clone's write-back of its range
/// (`generic_remap_file_range_prep`) skipped the zeroed tail, the clone shared the block
/// as the device held it, and a crash after the clone showed the destination with the
/// truncated byte where every permitted state has a zero. Bug in
/// `fs_models::local::LocalFs::write` (the zeroed tail now joins the dirty range).
#[test]
fn regression_a_write_past_eof_writes_back_the_zeroed_tail_before_a_clone_shares_it() {
    for spec in [
        "xfs-like:size=64m,chunk=16k",
        "ocfs2-like:size=64m,chunk=16k",
    ] {
        replay(
            spec,
            &[
                Op::Create { n: 0 },
                Op::Create { n: 1 },
                Op::Pwrite {
                    file: 29,
                    off: 4096,
                    len: 16384,
                    byte: 1,
                },
                Op::Fsync { file: 109 },
                Op::Truncate {
                    file: 31,
                    size: 12287,
                },
                Op::Truncate {
                    file: 12,
                    size: 8191,
                },
                Op::Splice {
                    src: 31,
                    dst: 12,
                    soff: 4096,
                    doff: 0,
                    len: 8191,
                    flag: Flag::Never,
                    nonblock: false,
                },
                Op::Pwrite {
                    file: 12,
                    off: 8190,
                    len: 1,
                    byte: 0,
                },
                Op::Dedupe {
                    src: 31,
                    dst: 12,
                    soff: 4096,
                    doff: 0,
                    len: 8191,
                },
                Op::Crash { pick: 1 },
                Op::Pwrite {
                    file: 73,
                    off: 24576,
                    len: 1,
                    byte: 0,
                },
                Op::Clone {
                    src: 73,
                    dst: 0,
                    soff: 0,
                    doff: 0,
                    len: 12288,
                },
            ],
        );
    }
}
