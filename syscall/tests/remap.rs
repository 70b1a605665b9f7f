//! Behaviour of today's Linux entry points on every model: copy_file_range(2), FICLONE,
//! FICLONERANGE, FIDEDUPERANGE and FIEMAP.

mod common;

use common::*;
use syscall::Syscalls;
use syscall::api::{DedupeDest, o, seek};
use syscall::flags::{dedupe, fiemap};
use vfs::Data;
use vfs::copy::MAX_RW_COUNT;
use vfs::errno::Errno;

const MIB: u64 = 1 << 20;

fn cfr(p: &mut syscall::Process, s: i32, i: i64, d: i32, o: i64, len: u64) -> Result<usize, Errno> {
    let (mut i, mut o) = (i, o);
    p.copy_file_range(s, Some(&mut i), d, Some(&mut o), len as usize, 0)
}

#[test]
fn ficlone_shares_the_whole_file_or_is_eopnotsupp() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(1, MIB + 100);
        let s = file_with(&mut p, "/s", &data);
        let big = pattern(2, 5 * MIB);
        let d = file_with(&mut p, "/d", &big);
        if !can_share(m) {
            assert_eq!(p.ficlone(d, s), Err(Errno::EOPNOTSUPP), "{m}");
            continue;
        }
        // The source's partial EOF block may not land inside the destination's data
        // (generic_remap_check_len): EINVAL, nothing changed.
        assert_eq!(p.ficlone(d, s), Err(Errno::EINVAL), "{m}");
        assert!(content(&mut p, d).same_content(&big), "{m}");
        p.ftruncate(d, 0).unwrap();
        p.ficlone(d, s).unwrap();
        let got = content(&mut p, d);
        assert!(got.slice(0, data.len()).same_content(&data), "{m}");
        let ibs = block_size(&p, d);
        assert_eq!(shared_blocks(&p, d), data.len().div_ceil(ibs), "{m}");
        if has_fiemap(&p, d) {
            let map = p.fiemap(d, 0, data.len(), 0).unwrap();
            assert!(!map.is_empty());
            assert!(
                map.iter().all(|e| e.flags & fiemap::SHARED != 0),
                "{m}: {map:?}"
            );
        }
        // Write independence (spec §6.4): a write to the clone leaves the source alone.
        p.pwrite(d, &Data::fill(b'x', 10), 5).unwrap();
        assert!(content(&mut p, s).same_content(&data), "{m}");
        fsck(&p, d);
    }
}

#[test]
fn ficlonerange_lengths_and_eof() {
    for m in models() {
        if !can_share(m) {
            continue;
        }
        let mut p = process(m);
        let data = pattern(3, 3 * MIB + 10);
        let s = file_with(&mut p, "/s", &data);
        let d = empty(&mut p, "/d");
        let bs = remap_block(&p, s);
        // Length 0: from the offset to the source's EOF.
        p.ficlonerange(d, s, bs, 0, 0).unwrap();
        assert_eq!(p.fstat(d).unwrap().size, data.len() - bs, "{m}");
        assert!(content(&mut p, d).same_content(&data.slice(bs, data.len())));
        // Past the source's EOF: FICLONERANGE may not shorten.
        let e = empty(&mut p, "/e");
        assert_eq!(
            p.ficlonerange(e, s, 0, 4 * MIB, 0),
            Err(Errno::EINVAL),
            "{m}"
        );
        assert_eq!(p.ficlonerange(e, s, 1, bs, 0), Err(Errno::EINVAL), "{m}");
        assert_eq!(
            p.ficlonerange(e, s, 0, bs, bs + 1),
            Err(Errno::EINVAL),
            "{m}"
        );
        assert_eq!(
            p.fstat(e).unwrap().size,
            0,
            "{m}: failed clones change nothing"
        );
        // Source offset past EOF with length 0.
        assert_eq!(
            p.ficlonerange(e, s, 8 * MIB, 0, 0),
            Err(Errno::EINVAL),
            "{m}"
        );
        // Same file, disjoint ranges: allowed.
        p.ficlonerange(s, s, 0, bs, 2 * MIB).unwrap();
        assert_eq!(
            p.ficlonerange(s, s, 0, 2 * bs, bs),
            Err(Errno::EINVAL),
            "{m}"
        );
        fsck(&p, s);
    }
}

#[test]
fn fideduperange_reports_per_destination() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(4, 2 * MIB);
        let s = file_with(&mut p, "/s", &data);
        let same = file_with(&mut p, "/same", &data);
        let differs = file_with(&mut p, "/differs", &pattern(5, 2 * MIB));
        let other = file_with(&mut p, "/other/x", &data);
        p.mkdir("/dir", 0o755).unwrap();
        let dir = open(&mut p, "/dir", o::RDONLY);
        file_with(&mut p, "/ro", &data);
        let ro = open(&mut p, "/ro", o::RDONLY);
        let dests: Vec<DedupeDest> = [same, differs, 999, other, dir, ro]
            .iter()
            .map(|&fd| DedupeDest { fd, offset: 0 })
            .collect();
        let r = p.fideduperange(s, 0, 2 * MIB, &dests);
        if !can_share(m) {
            assert_eq!(r, Err(Errno::EOPNOTSUPP), "{m}");
            continue;
        }
        let r = r.unwrap();
        let statuses: Vec<i32> = r.iter().map(|x| x.status).collect();
        // The VFS answers for the bad descriptor, the other mount and the directory; the
        // filesystem for the rest (a model that cannot dedupe says EOPNOTSUPP each time).
        let dd = dedupes(m);
        let fs = |ok: i32| if dd { ok } else { -Errno::EOPNOTSUPP.raw() };
        assert_eq!(
            statuses,
            vec![
                fs(dedupe::SAME),
                fs(dedupe::DIFFERS),
                -Errno::EBADF.raw(),
                -Errno::EXDEV.raw(),
                -Errno::EISDIR.raw(),
                fs(dedupe::SAME),
            ],
            "{m}"
        );
        if !dd {
            continue;
        }
        assert_eq!(r[0].bytes_deduped, 2 * MIB);
        assert_eq!(r[1].bytes_deduped, 0);
        assert_eq!(
            r[5].bytes_deduped,
            2 * MIB,
            "{m}: owner may dedupe a read-only fd"
        );
        let ibs = block_size(&p, s);
        assert_eq!(shared_blocks(&p, same), 2 * MIB / ibs, "{m}");
        assert_eq!(shared_blocks(&p, differs), 0, "{m}");
        assert!(content(&mut p, differs).same_content(&pattern(5, 2 * MIB)));
        // Length 0 succeeds with nothing done; more than 127 destinations is ENOMEM.
        let r = p.fideduperange(s, 0, 0, &dests[..2]).unwrap();
        assert!(
            r.iter()
                .all(|x| x.status == dedupe::SAME && x.bytes_deduped == 0)
        );
        let many = vec![
            DedupeDest {
                fd: same,
                offset: 0
            };
            128
        ];
        assert_eq!(p.fideduperange(s, 0, MIB, &many), Err(Errno::ENOMEM));
        assert!(p.fideduperange(s, 0, MIB, &many[..127]).is_ok());
        fsck(&p, s);
    }
}

#[test]
fn fideduperange_clamps_to_a_gibibyte() {
    for m in models() {
        if !dedupes(m) {
            continue;
        }
        let mut p = process(m);
        let data = pattern(6, 3 << 30);
        let s = file_with(&mut p, "/s", &data);
        let d = file_with(&mut p, "/d", &data);
        let r = p
            .fideduperange(s, 0, 3 << 30, &[DedupeDest { fd: d, offset: 0 }])
            .unwrap();
        assert_eq!(r[0].status, dedupe::SAME, "{m}");
        assert_eq!(r[0].bytes_deduped, dedupe::MAX_LEN, "{m}");
    }
}

#[test]
fn fiemap_filters_the_range_and_validates_the_request() {
    for m in models() {
        let mut p = process(m);
        let f = empty(&mut p, "/f");
        for off in [0, MIB, 2 * MIB] {
            p.pwrite(f, &pattern(7, 4096), off as i64).unwrap();
        }
        let all = p.fiemap(f, 0, u64::MAX, 0);
        if of(&p, f).mnt.fs.fiemap(of(&p, f).inode.ino) == Err(Errno::EOPNOTSUPP) {
            assert_eq!(all, Err(Errno::EOPNOTSUPP), "{m}");
            assert_eq!(
                p.fiemap(f, 0, 0, 0xff),
                Err(Errno::EOPNOTSUPP),
                "{m}: first check"
            );
            continue;
        }
        let all = all.unwrap();
        assert_eq!(all.len(), 3, "{m}: {all:?}");
        assert!(all[2].flags & fiemap::LAST != 0);
        let mid = p.fiemap(f, MIB + 100, 1, fiemap::SYNC).unwrap();
        assert_eq!(mid.len(), 1, "{m}");
        assert_eq!(mid[0].logical, MIB, "{m}: whole extents, not clipped");
        assert_eq!(
            p.fiemap(f, 4096, MIB - 4096, 0).unwrap(),
            vec![],
            "{m}: a hole"
        );
        assert_eq!(p.fiemap(f, 0, 0, 0), Err(Errno::EINVAL));
        // XFS maps the (empty) attribute fork; everyone else refuses the flag.
        let xattr = if m.starts_with("xfs-like") {
            Ok(vec![])
        } else {
            Err(Errno::EBADR)
        };
        assert_eq!(p.fiemap(f, 0, 1, fiemap::XATTR), xattr, "{m}");
        assert_eq!(
            p.fiemap(f, 0, 0, fiemap::XATTR),
            Err(Errno::EINVAL),
            "len first"
        );
        let max = of(&p, f).mnt.fs.max_file_size();
        assert_eq!(p.fiemap(f, max, 1, fiemap::XATTR), Err(Errno::EFBIG));
        assert_eq!(p.fiemap(99, 0, 1, 0), Err(Errno::EBADF));
    }
}

#[test]
fn copy_file_range_shares_where_linux_does_and_copies_elsewhere() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(8, 3 * MIB);
        let s = file_with(&mut p, "/s", &data);
        let bs = remap_block(&p, s);
        let ibs = block_size(&p, s);
        // Aligned: flags 0 shares on sharing models (Linux 6.x on btrfs and XFS).
        let d = empty(&mut p, "/d");
        assert_eq!(cfr(&mut p, s, 0, d, 0, 1 << 30), Ok(data.len() as usize));
        assert!(content(&mut p, d).same_content(&data), "{m}");
        let expect = if can_share(m) { data.len() / ibs } else { 0 };
        assert_eq!(shared_blocks(&p, d), expect, "{m}");
        // Unaligned: the remap refuses, the byte copy takes over.
        let e = empty(&mut p, "/e");
        assert_eq!(cfr(&mut p, s, 1, e, 0, MIB), Ok(MIB as usize));
        assert_eq!(shared_blocks(&p, e), 0, "{m}");
        assert!(content(&mut p, e).same_content(&data.slice(1, MIB)));
        // An unaligned length inside the source: the remap shortens to whole blocks and
        // copy_file_range returns that count; the caller's loop copies the rest.
        let g = empty(&mut p, "/g");
        let want = MIB + 5;
        let first = cfr(&mut p, s, 0, g, 0, want).unwrap() as u64;
        // (A filesystem with a copy method, nfs-like's COPY, does it all in one call.)
        if can_share(m) && first != want {
            assert_eq!(first, MIB / bs * bs, "{m}: shortened remap");
            let second = cfr(&mut p, s, first as i64, g, first as i64, want - first).unwrap();
            assert_eq!(first + second as u64, want, "{m}");
        } else {
            assert_eq!(first, want, "{m}");
        }
        assert!(content(&mut p, g).same_content(&data.slice(0, want)), "{m}");
        fsck(&p, g);
    }
}

#[test]
fn copy_file_range_offsets_and_cap() {
    for m in models() {
        let mut p = process(m);
        let data = pattern(9, 3 << 30);
        let s = file_with(&mut p, "/s", &data);
        let d = empty(&mut p, "/d");
        // None: file positions are used and advanced. At most MAX_RW_COUNT, except through
        // a filesystem's own copy method, which Linux does not cap: nfs-like's one COPY
        // per call returns what the server did in one step (copychunk, 4 MiB).
        p.lseek(s, 1, seek::SET).unwrap();
        let n = p.copy_file_range(s, None, d, None, 3 << 30, 0).unwrap() as u64;
        let one_copy = m.starts_with("nfs") && n == 4 << 20;
        assert!(n == MAX_RW_COUNT || one_copy, "{m}: {n}");
        assert_eq!(p.lseek(s, 0, seek::CUR), Ok(1 + n as i64), "{m}");
        assert_eq!(p.lseek(d, 0, seek::CUR), Ok(n as i64), "{m}");
        // Some: offsets advance in place, positions stay.
        let (mut i, mut o) = (0i64, 0i64);
        let e = empty(&mut p, "/e");
        assert_eq!(
            p.copy_file_range(s, Some(&mut i), e, Some(&mut o), 4096, 0),
            Ok(4096)
        );
        assert_eq!((i, o), (4096, 4096));
        assert_eq!(p.lseek(e, 0, seek::CUR), Ok(0));
        // At or past EOF: 0.
        assert_eq!(cfr(&mut p, s, 3 << 30, e, 0, 10), Ok(0));
        assert_eq!(cfr(&mut p, s, 4 << 30, e, 0, 10), Ok(0));
    }
}

#[test]
fn regression_statistics_saturate_over_exabyte_clones_and_copies() {
    // Issue 17: the third FICLONE of a 2^63-byte sparse file overflowed the task's
    // bytes_shared ("attempt to add with overflow" with overflow checks, a wrapped count
    // in release). Every statistics counter on the remap and copy paths saturates now.
    for m in models() {
        let huge = make(m).max_file_size().min(i64::MAX as u64) / MIB * MIB;
        let mut p = process(m);
        let s = empty(&mut p, "/s");
        p.ftruncate(s, huge as i64).unwrap();
        let d = empty(&mut p, "/d");
        for i in 0..3 {
            if can_share(m) {
                assert_eq!(p.ficlone(d, s), Ok(()), "{m}: clone {i}");
            }
            let n = cfr(&mut p, s, 0, d, 0, huge).unwrap();
            assert!(n > 0, "{m}: copy {i}");
        }
        let st = p.task.stats();
        if can_share(m) && huge > u64::MAX / 3 {
            assert_eq!(st.bytes_shared, u64::MAX, "{m}: saturated, not wrapped");
        }
        let mut total = st.clone();
        total.absorb(&st);
        assert!(total.bytes_shared >= st.bytes_shared, "{m}");
        assert!(total.bytes_copied >= st.bytes_copied, "{m}");
    }
}

#[test]
fn copy_file_range_through_a_copy_method_may_return_more_than_max_rw_count() {
    // Issue 17 item 4: the VFS caps the remap and byte-copy paths at MAX_RW_COUNT, but
    // not a filesystem's own copy method (Linux's vfs_copy_file_range calls it with the
    // whole length, and NFS's returns what the COPY did). On nfs-like one asynchronous COPY
    // covers the whole range, and a synchronous one a leading hole of any length.
    let len = 3u64 << 30;
    let mut p = process("nfs-like:async=1");
    let s = file_with(&mut p, "/s", &pattern(9, len));
    let d = empty(&mut p, "/d");
    assert_eq!(
        cfr(&mut p, s, 0, d, 0, len),
        Ok(len as usize),
        "one async COPY"
    );
    assert!(len > MAX_RW_COUNT);
    let mut p = process("nfs-like");
    let s = empty(&mut p, "/s");
    p.ftruncate(s, len as i64).unwrap();
    let d = empty(&mut p, "/d");
    assert_eq!(
        cfr(&mut p, s, 0, d, 0, len),
        Ok(len as usize),
        "one sync COPY of a hole"
    );
    // Local models keep the cap.
    let mut p = process("plain");
    let s = empty(&mut p, "/s");
    p.ftruncate(s, len as i64).unwrap();
    let d = empty(&mut p, "/d");
    assert_eq!(cfr(&mut p, s, 0, d, 0, len), Ok(MAX_RW_COUNT as usize));
}
