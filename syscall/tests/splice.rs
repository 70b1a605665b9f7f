//! Behaviour of the extended splice (spec §2, §6.2, §6.3, §6.7) on every model.
//!
//! Each test runs over `fs_models::spec::MODELS`, so a new model is covered the moment it
//! is registered. Expectations that depend on whether a model can share at all are derived
//! from the model (`has_remap`, or whether a must-share splice succeeded), never from its
//! name.

mod common;

use common::*;
use syscall::Syscalls;
use syscall::api::{o, seek};
use syscall::flags::splice::{MAY_SHARE, MUST_SHARE, NONBLOCK};
use vfs::Data;
use vfs::copy::MAX_RW_COUNT;
use vfs::errno::Errno;
use vfs::task::{SignalPlan, Task};

const MIB: u64 = 1 << 20;

/// Splices with explicit offsets (left untouched by the caller).
fn splice_at(
    p: &mut syscall::Process,
    s: i32,
    off_in: u64,
    d: i32,
    off_out: u64,
    len: u64,
    flags: u32,
) -> Result<usize, Errno> {
    let (mut i, mut o) = (off_in, off_out);
    p.splice(s, Some(&mut i), d, Some(&mut o), len as usize, flags)
}

#[test]
fn never_share_is_byte_identical_and_leaves_no_shared_block() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(1, 3 * MIB + 123);
        let s = file_with(&mut p, "/s", &data);
        let d = empty(&mut p, "/d");
        // Where the model can share, start from a destination that shares everything:
        // a never-share splice over it must break every shared reference in its range.
        let _ = p.ficlone(d, s);
        let n = splice_at(&mut p, s, 0, d, 0, 1 << 30, 0).unwrap();
        assert_eq!(n as u64, data.len(), "{m}");
        assert!(content(&mut p, d).same_content(&data), "{m}");
        // A write-back cache (nfs-like) holds the copy until it is flushed; the image is
        // the durable side.
        p.fsync(d).unwrap();
        assert_eq!(
            shared_blocks(&p, d),
            0,
            "{m}: never share left shared blocks"
        );
        assert_eq!(shared_blocks(&p, s), 0, "{m}");
        fsck(&p, d);
    }
}

#[test]
fn may_share_shares_aligned_blocks_and_copies_the_rest() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(2, 4 * MIB + 100);
        let s = file_with(&mut p, "/s", &data);
        let bs = remap_block(&p, s);
        // Does this model share at all? Ask the strict call on a scratch file.
        let probe = empty(&mut p, "/probe");
        let shares = splice_at(&mut p, s, 0, probe, 0, 4 * MIB, MUST_SHARE).is_ok();

        // Congruent offsets: unaligned head by copy, the rest shared.
        let d = empty(&mut p, "/d");
        let n = splice_at(&mut p, s, 1000, d, 1000, 1 << 30, MAY_SHARE).unwrap() as u64;
        assert_eq!(n, data.len() - 1000, "{m}");
        let got = content(&mut p, d);
        assert!(got.slice(0, 1000).is_zero(), "{m}");
        assert!(got.slice(1000, n).same_content(&data.slice(1000, n)), "{m}");
        let ibs = block_size(&p, d);
        let whole = (data.len() - bs) / bs * (bs / ibs);
        let shared = shared_blocks(&p, d);
        if shares {
            assert!(shared >= whole, "{m}: {shared} of {whole} blocks shared");
        } else {
            assert_eq!(shared, 0, "{m}");
        }

        // Offsets that differ modulo the block: nothing can be shared, all is copied.
        let e = empty(&mut p, "/e");
        let n = splice_at(&mut p, s, 0, e, 1000, 1 << 30, MAY_SHARE).unwrap() as u64;
        assert_eq!(n, data.len(), "{m}");
        assert!(content(&mut p, e).slice(1000, n).same_content(&data), "{m}");
        assert_eq!(shared_blocks(&p, e), 0, "{m}");
        fsck(&p, e);
    }
}

#[test]
fn must_share_shares_everything_or_leaves_the_destination_unchanged() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(3, 3 * MIB);
        let old = pattern(4, 5 * MIB + 77);
        let s = file_with(&mut p, "/s", &data);
        let ibs = block_size(&p, s);

        let cases: [(&str, u64, u64, u64); 3] = [
            ("aligned", 0, 0, data.len()),
            ("unaligned source offset", 1000, 0, MIB),
            ("unaligned length inside the destination", 0, 0, MIB + 5),
        ];
        for (what, off_in, off_out, len) in cases {
            let d = file_with(&mut p, "/d", &old);
            p.task.take_stats();
            match splice_at(&mut p, s, off_in, d, off_out, len, MUST_SHARE) {
                Ok(n) => {
                    let n = n as u64;
                    assert_eq!(n, len, "{m} {what}: all or nothing");
                    let f = of(&p, d);
                    let img = f.mnt.fs.image();
                    let (b0, b1) = (off_out / ibs, (off_out + n).div_ceil(ibs));
                    let shared = img.shared_blocks(f.inode.ino, b0, b1).unwrap();
                    assert_eq!(shared, b1 - b0, "{m} {what}: every block shared");
                    let got = content(&mut p, d);
                    assert!(got.slice(off_out, n).same_content(&data.slice(off_in, n)));
                    let st = p.task.take_stats();
                    assert_eq!((st.chunks, st.bytes_copied), (0, 0), "{m}: no byte copied");
                    assert_eq!(st.bytes_shared, n, "{m}");
                    assert!(st.extents_remapped >= 1, "{m}");
                }
                Err(e) => {
                    assert!(
                        !(can_share(m) && what == "aligned"),
                        "{m}: an aligned whole-file must-share failed: {e:?}"
                    );
                    assert!(
                        [Errno::EOPNOTSUPP, Errno::EINVAL].contains(&e),
                        "{m} {what}: {e:?}"
                    );
                    if !can_share(m) {
                        assert_eq!(e, Errno::EOPNOTSUPP, "{m} cannot share at all");
                    }
                    assert!(
                        content(&mut p, d).same_content(&old),
                        "{m} {what}: destination changed by a failed must-share"
                    );
                }
            }
            fsck(&p, d);
        }
    }
}

#[test]
fn flag_and_file_errors() {
    for m in models() {
        let mut p = process(m);
        let s = file_with(&mut p, "/s", &pattern(5, 64 << 10));
        let d = empty(&mut p, "/d");
        assert_eq!(
            splice_at(&mut p, s, 0, d, 0, 4096, MAY_SHARE | MUST_SHARE),
            Err(Errno::EINVAL),
            "{m}: both share flags"
        );
        assert_eq!(
            splice_at(&mut p, s, 0, d, 0, 4096, 0x100),
            Err(Errno::EINVAL),
            "{m}: unknown flag"
        );
        if !can_share(m) {
            assert_eq!(
                splice_at(&mut p, s, 0, d, 0, 4096, MUST_SHARE),
                Err(Errno::EOPNOTSUPP),
                "{m}: must share without sharing"
            );
        }
        // Overlap within one file is refused whatever the semantics.
        for f in [0, MAY_SHARE, MUST_SHARE] {
            assert_eq!(
                splice_at(&mut p, s, 0, s, 4096, 8192, f),
                Err(Errno::EINVAL),
                "{m} flags {f:#x}: same-file overlap"
            );
        }
        p.mkdir("/dir", 0o755).unwrap();
        let dir = open(&mut p, "/dir", o::RDONLY);
        assert_eq!(splice_at(&mut p, dir, 0, d, 0, 1, 0), Err(Errno::EISDIR));
        assert_eq!(splice_at(&mut p, s, 0, dir, 0, 1, 0), Err(Errno::EISDIR));
        let app = open(&mut p, "/d", o::WRONLY | o::APPEND);
        for f in [0, MAY_SHARE, MUST_SHARE] {
            assert_eq!(splice_at(&mut p, s, 0, app, 0, 1, f), Err(Errno::EBADF));
        }
        // The hints are accepted and change nothing between files.
        let hints = syscall::flags::splice::MOVE
            | syscall::flags::splice::MORE
            | syscall::flags::splice::GIFT;
        assert_eq!(splice_at(&mut p, s, 0, d, 0, 4096, hints), Ok(4096));
        // Zero length and a source offset at EOF return 0 (after the checks).
        assert_eq!(splice_at(&mut p, s, 0, d, 0, 0, MUST_SHARE), Ok(0));
        assert_eq!(splice_at(&mut p, s, 64 << 10, d, 0, 10, 0), Ok(0));
        assert_eq!(splice_at(&mut p, dir, 0, d, 0, 0, 0), Err(Errno::EISDIR));
    }
}

#[test]
fn across_mounts_must_is_exdev_never_and_may_copy() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(6, MIB + 10);
        let s = file_with(&mut p, "/s", &data);
        let d = empty(&mut p, "/other/d");
        assert_eq!(
            splice_at(&mut p, s, 0, d, 0, 1 << 30, MUST_SHARE),
            Err(Errno::EXDEV),
            "{m}"
        );
        for f in [0, MAY_SHARE] {
            let n = splice_at(&mut p, s, 0, d, 0, 1 << 30, f).unwrap() as u64;
            assert_eq!(n, data.len(), "{m}");
            assert!(content(&mut p, d).same_content(&data), "{m}");
            assert_eq!(shared_blocks(&p, d), 0, "{m}");
        }
        // copy_file_range keeps Linux 5.19+'s rule.
        assert_eq!(
            p.copy_file_range(s, Some(&mut 0), d, Some(&mut 0), 10, 0),
            Err(Errno::EXDEV)
        );
    }
}

#[test]
fn offsets_none_use_and_advance_file_positions() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(7, 100_000);
        let s = file_with(&mut p, "/s", &data);
        let d = empty(&mut p, "/d");
        p.lseek(s, 10, seek::SET).unwrap();
        p.lseek(d, 20, seek::SET).unwrap();
        assert_eq!(p.splice(s, None, d, None, 1000, 0), Ok(1000));
        assert_eq!(p.lseek(s, 0, seek::CUR), Ok(1010), "{m}");
        assert_eq!(p.lseek(d, 0, seek::CUR), Ok(1020), "{m}");
        let (mut i, mut o) = (5000u64, 0u64);
        assert_eq!(
            p.splice(s, Some(&mut i), d, Some(&mut o), 1 << 20, 0),
            Ok(95_000)
        );
        assert_eq!((i, o), (100_000, 95_000), "{m}: offsets advance in place");
        assert_eq!(
            p.lseek(s, 0, seek::CUR),
            Ok(1010),
            "{m}: position untouched"
        );
        let got = content(&mut p, d);
        assert!(got.slice(0, 95_000).same_content(&data.slice(5000, 95_000)));
    }
}

#[test]
fn signal_after_k_chunks_returns_exactly_k_chunks() {
    const CHUNK: u64 = 64 << 10;
    for m in models() {
        for flags in [0, MAY_SHARE] {
            let mut p = process(&format!("{m}:chunk=64k"));
            let data = pattern(8, 10 * CHUNK);
            let s = file_with(&mut p, "/s", &data);
            let d = empty(&mut p, "/d");
            // Unaligned destination offset: may-share has to byte-copy too.
            p.lseek(d, 1, seek::SET).unwrap();
            p.task.take_stats();
            p.task.plan_signal(SignalPlan {
                after_chunks: Some(3),
            });
            let n = p.splice(s, None, d, None, 1 << 30, flags).unwrap() as u64;
            if flags != 0 && n == data.len() && p.task.stats().chunks < 3 {
                // Offloaded to a server-side copy (nfs-like COPY) whose chunks are the
                // server's (`copychunk=`), fewer than 3 here: the planned signal never came.
                p.task.plan_signal(SignalPlan::default());
                continue;
            }
            assert_eq!(n, 3 * CHUNK, "{m} {flags:#x}");
            assert_eq!(p.task.stats().chunks, 3);
            assert_eq!(
                p.fstat(d).unwrap().size,
                1 + 3 * CHUNK,
                "{m}: exactly the prefix"
            );
            let got = content(&mut p, d);
            assert!(got.slice(1, n).same_content(&data.slice(0, n)), "{m}");
            assert_eq!(p.lseek(s, 0, seek::CUR), Ok(n as i64));
            // A caller loop (cp) continues where the call stopped.
            let rest = p.splice(s, None, d, None, 1 << 30, flags).unwrap() as u64;
            assert_eq!(n + rest, data.len());
            assert!(content(&mut p, d).slice(1, data.len()).same_content(&data));
        }
    }
}

/// Issue 17: one call of the byte copy makes at most `MAX_CHUNKS_PER_CALL` chunks and
/// returns that short count (a lab-only tiny `chunk=` made a 2 GiB call 4 Mi chunks). The
/// source is a hole: its zeroes are written, chunk by chunk, as Linux's splice writes them.
#[test]
fn a_byte_copy_call_stops_after_max_chunks_per_call() {
    use vfs::copy::MAX_CHUNKS_PER_CALL;
    for m in ["plain", "xfs-like", "btrfs-like"] {
        let mut p = process(&format!("{m}:chunk=512"));
        let s = empty(&mut p, "/s");
        p.ftruncate(s, (MAX_CHUNKS_PER_CALL * 1024) as i64).unwrap();
        let d = empty(&mut p, "/d");
        p.task.take_stats();
        let n = splice_at(&mut p, s, 1, d, 3, 1 << 30, 0).unwrap() as u64;
        assert_eq!(n, MAX_CHUNKS_PER_CALL * 512, "{m}");
        assert_eq!(p.task.stats().chunks, MAX_CHUNKS_PER_CALL, "{m}");
        assert_eq!(p.fstat(d).unwrap().size, 3 + n, "{m}");
        assert!(
            p.fstat(d).unwrap().blocks > 0,
            "{m}: the zeroes are written"
        );
        fsck(&p, d);
    }
}

#[test]
fn signal_before_the_first_chunk_is_eintr_and_changes_nothing() {
    for m in models() {
        let mut p = process(m);
        let s = file_with(&mut p, "/s", &pattern(9, 3 * MIB));
        let d = empty(&mut p, "/d");
        p.task.plan_signal(SignalPlan {
            after_chunks: Some(0),
        });
        assert_eq!(
            p.splice(s, None, d, None, 1 << 30, 0),
            Err(Errno::EINTR),
            "{m}"
        );
        assert_eq!(p.fstat(d).unwrap().size, 0);
        assert_eq!(p.lseek(s, 0, seek::CUR), Ok(0), "{m}: position unchanged");
    }
}

#[test]
fn nonblock_with_the_destination_locked_is_eagain() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(10, 2 * MIB);
        let s = file_with(&mut p, "/s", &data);
        let d = empty(&mut p, "/d");
        let other = Task::new(2);
        let f = of(&p, d);
        let held = f.inode.lock.lock(&other);
        for share in [0, MAY_SHARE, MUST_SHARE] {
            if share == MUST_SHARE && !can_share(m) {
                continue;
            }
            assert_eq!(
                splice_at(&mut p, s, 0, d, 0, 1 << 30, share | NONBLOCK),
                Err(Errno::EAGAIN),
                "{m} {share:#x}"
            );
        }
        drop(held);
        assert_eq!(
            splice_at(&mut p, s, 0, d, 0, 1 << 30, NONBLOCK),
            Ok(data.len() as usize)
        );
    }
}

#[test]
fn byte_copy_holds_locks_one_chunk_at_a_time_and_must_share_for_the_call() {
    for m in models() {
        let mut p = process(m);
        let s = file_with(&mut p, "/s", &pattern(11, 64 * MIB));
        let d = empty(&mut p, "/d");
        let dst = of(&p, d);
        dst.inode.lock.record_timeline(true);
        p.task.take_stats();
        let t0 = p.task.now();
        assert_eq!(
            splice_at(&mut p, s, 0, d, 0, 1 << 30, 0),
            Ok(64 * MIB as usize)
        );
        let elapsed = p.task.now() - t0;
        let chunks = p.task.stats().chunks;
        assert_eq!(chunks, 64, "{m}: 1 MiB chunks");
        // One hold per chunk, released before the next chunk starts.
        let holds = dst.inode.lock.with_state(|s| s.timeline.clone().unwrap());
        assert_eq!(holds.len() as u64, chunks, "{m}");
        assert!(holds.windows(2).all(|w| w[0].end <= w[1].start), "{m}");
        let hold = dst.inode.lock.with_state(|s| s.longest_hold);
        let per_chunk = elapsed / chunks;
        // A chunk costs its read and write (plus, on a write-back client, the flush a write
        // may trigger); on a local model every chunk costs the same.
        assert!(
            hold >= per_chunk / 2,
            "{m}: {hold} ns vs {per_chunk} ns per chunk"
        );
        if of(&p, d).mnt.fs.cost().rpc_rtt_ns == 0 {
            assert!(
                hold <= per_chunk * 2,
                "{m}: {hold} ns vs {per_chunk} ns per chunk"
            );
        }
        assert!(hold * 8 < elapsed, "{m}: no lock held across chunks");

        if can_share(m) {
            let c = empty(&mut p, "/c");
            let cf = of(&p, c);
            cf.inode.lock.reset_accounting();
            let t0 = p.task.now();
            if splice_at(&mut p, s, 0, c, 0, 1 << 30, MUST_SHARE).is_ok() {
                let elapsed = p.task.now() - t0;
                let hold = cf.inode.lock.with_state(|s| s.longest_hold);
                assert!(elapsed > 0, "{m}");
                assert_eq!(
                    hold, elapsed,
                    "{m}: must share holds the destination lock throughout"
                );
            }
        }
    }
}

#[test]
fn stats_record_chunks_bytes_and_sharing() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(12, 3 * MIB + 123);
        let s = file_with(&mut p, "/s", &data);
        let d = empty(&mut p, "/d");
        p.task.take_stats();
        splice_at(&mut p, s, 0, d, 0, 1 << 30, 0).unwrap();
        let st = p.task.take_stats();
        assert_eq!(st.chunks, 4, "{m}");
        assert_eq!(st.bytes_copied, data.len(), "{m}");
        assert_eq!((st.bytes_shared, st.extents_remapped), (0, 0), "{m}");

        let e = empty(&mut p, "/e");
        let n = splice_at(&mut p, s, 0, e, 0, 1 << 30, MAY_SHARE).unwrap() as u64;
        let st = p.task.take_stats();
        assert_eq!(n, data.len());
        assert_eq!(
            st.bytes_copied + st.bytes_shared,
            n,
            "{m}: every byte accounted once"
        );
        if st.bytes_shared > 0 {
            assert!(st.extents_remapped >= 1, "{m}");
        }
    }
}

#[test]
fn a_terabyte_shares_fast_and_copies_in_virtual_time_only() {
    const TIB: u64 = 1 << 40;
    for m in models() {
        if make(m).cost().rpc_rtt_ns > 0 {
            // A network model moves data in wsize RPCs: a TiB over it is a benchmark.
            continue;
        }
        let mut p = process(&format!("{m}:chunk=1g"));
        let s = file_with(&mut p, "/s", &pattern(13, TIB));
        assert_eq!(p.fstat(s).unwrap().size, TIB);

        // Never share: one call moves MAX_RW_COUNT in virtual time proportional to bytes.
        let d = empty(&mut p, "/d");
        let t0 = p.task.now();
        let n = splice_at(&mut p, s, 0, d, 0, TIB, 0).unwrap() as u64;
        assert_eq!(n, MAX_RW_COUNT, "{m}: per-call cap");
        let elapsed = p.task.now() - t0;
        let cost = of(&p, d).mnt.fs.cost().byte_copy(n);
        assert!(
            elapsed >= cost,
            "{m}: {elapsed} ns for a byte copy that costs {cost}"
        );
        // Pattern data stays a descriptor: no extent holds real bytes.
        let img = of(&p, d).mnt.fs.image();
        assert!(img.phys.iter().all(|(_, e)| !e.data.has_bytes()), "{m}");
        let probe = p.pread(d, 4096, (n - 4096) as i64).unwrap();
        assert!(probe.same_content(&Data::pattern(13, n - 4096, 4096)));

        // Must share: a caller loop over the whole TiB, in time proportional to extents.
        if !can_share(m) {
            continue;
        }
        let c = empty(&mut p, "/c");
        let (mut i, mut o) = (0u64, 0u64);
        let t0 = p.task.now();
        loop {
            match p.splice(s, Some(&mut i), c, Some(&mut o), TIB as usize, MUST_SHARE) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => panic!("{m}: must share failed at {i}: {e:?}"),
            }
        }
        assert_eq!(i, TIB);
        let elapsed = p.task.now() - t0;
        assert!(
            elapsed < vfs::clock::SEC,
            "{m}: sharing a TiB took {} of virtual time",
            vfs::clock::fmt_nanos(elapsed)
        );
        let ibs = block_size(&p, c);
        assert_eq!(shared_blocks(&p, c), TIB / ibs, "{m}");
    }
}

#[test]
fn sharing_calls_are_not_capped_at_max_rw_count() {
    // Sharing is O(extents), so the proposal caps only byte copies at MAX_RW_COUNT
    // (0x7ffff000, not even a multiple of a 1 MiB cluster): a 3 GiB must- or may-share
    // call shares everything in one call (copy_file_range keeps Linux's cap).
    if !models().contains(&"ocfs2-like") {
        return;
    }
    let mut p = process("ocfs2-like:cluster=1m");
    let s = file_with(&mut p, "/s", &pattern(14, 3 << 30));
    for flags in [MUST_SHARE, MAY_SHARE] {
        let d = empty(&mut p, "/d");
        p.task.take_stats();
        let n = splice_at(&mut p, s, 0, d, 0, 3 << 30, flags).unwrap() as u64;
        assert_eq!(n, 3 << 30, "{flags:#x}");
        let st = p.task.take_stats();
        assert_eq!((st.bytes_shared, st.bytes_copied), (n, 0), "{flags:#x}");
    }
}
