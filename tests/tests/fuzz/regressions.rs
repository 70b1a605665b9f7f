//! Named regressions for what the fuzz suite found (each names the case seed that found it
//! and the file the bug was in).

use syscall::api::o;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::errno::Errno;
use vfs::fs::falloc_flags::ZERO_RANGE;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

fn process(spec: &str) -> Process {
    let vfs = Arc::new(Vfs::new());
    vfs.mount("/", fs_models::spec::make(spec).unwrap())
        .unwrap();
    Process::new(vfs, 1)
}

/// `inject enospc 18446744073709551615` added the count to the allocator's call counter
/// and overflowed (a panic with overflow checks on). Found by `fuzz_hostile_scripts` case
/// seed 17002; bug in `fs_models::local::LocalFs::inject` (now "never", saturating).
#[test]
fn regression_inject_enospc_at_the_largest_count_does_not_overflow() {
    for spec in ["btrfs-like", "xfs-like", "plain", "nfs-like"] {
        let out = splicelab::script::run_str(
            "open -f a\ninject enospc 18446744073709551615\npwrite -q 0 64k\nfsck\n",
            spec,
            false,
        )
        .unwrap();
        assert!(out.contains("fsck: clean"), "{spec}: {out}");
        assert!(!out.contains("pwrite:"), "{spec}: the write failed: {out}");
    }
}

/// `open(path, O_CREAT | O_DIRECTORY)` on a missing name created a regular file and then
/// failed with `ENOTDIR`: an error that changed the filesystem. Linux 6.4 and later refuse
/// the pair with `EINVAL` before any lookup (`build_open_flags`). Found by
/// `fuzz_hostile_calls` case seed 17010; bug in `syscall::Process::open`.
#[test]
fn regression_open_creat_directory_is_einval_and_creates_nothing() {
    for spec in ["plain", "btrfs-like", "xfs-like", "nfs-like"] {
        let mut p = process(spec);
        for flags in [
            o::CREAT | o::DIRECTORY,
            o::CREAT | o::DIRECTORY | o::RDWR,
            o::CREAT | o::EXCL | o::DIRECTORY,
        ] {
            assert_eq!(p.open("/x", flags, 0o644), Err(Errno::EINVAL), "{spec}");
            assert_eq!(
                p.stat("/x").err(),
                Some(Errno::ENOENT),
                "{spec}: /x created"
            );
            // An existing directory, too: refused, not opened.
            assert_eq!(p.open("/", flags, 0o644), Err(Errno::EINVAL), "{spec}");
        }
    }
}

/// `fallocate(FALLOC_FL_ZERO_RANGE)` punched the range, then failed to preallocate it
/// (`ENOSPC`) and returned the error with the data gone (design A2: an error leaves the
/// file as it was). Found by `fuzz_hostile_calls` case seed 17191 on
/// `xfs-like:size=1m,chunk=64k`; bug in `fs_models::local::LocalFs::fallocate`.
#[test]
fn regression_zero_range_enospc_keeps_the_data() {
    for spec in ["xfs-like:size=1m", "btrfs-like:size=1m"] {
        let mut p = process(spec);
        let fd = p.open("/a", o::CREAT | o::RDWR, 0o644).unwrap();
        let data = Data::pattern(7, 0, 65659);
        p.pwrite(fd, &data, 0).unwrap();
        let r = p.fallocate(fd, ZERO_RANGE as i32, 4095, (1 << 32) - 1);
        assert_eq!(r, Err(Errno::ENOSPC), "{spec}");
        let got = p.pread(fd, 1 << 20, 0).unwrap();
        assert!(
            check::content::same(&got, &data),
            "{spec}: a failed ZERO_RANGE changed the data (first difference at {:?})",
            check::content::first_diff(&got, &data)
        );
        for m in p.vfs.mounts() {
            assert!(m.fs.fsck().is_empty(), "{spec}: {:?}", m.fs.fsck());
        }
    }
}

/// An unknown command word of a few MiB (a garbage line) took seconds to refuse: the "did
/// you mean" suggestion computed the edit distance to every command name, allocating per
/// character. Names whose length differs by more than 2 are now skipped (the distance is
/// at least the length difference). Found by `fuzz_malformed_lines` (its 100 KiB lines
/// made it 40 ms a case); bug in `splicelab::script::help::suggest`. Run under the fuzz
/// watchdog: it finds a hang, it does not time the parser.
#[test]
fn regression_a_huge_unknown_word_is_refused_without_a_quadratic_suggestion() {
    let budget = super::harness::Budget::new(0, 1);
    let r = super::harness::run_case(&budget, |p| {
        p.step("parse a 4 MiB unknown word");
        let line = "x".repeat(4 << 20);
        let e = splicelab::script::parse_bytes(line.as_bytes()).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(!e.message.contains("did you mean"));
        assert_eq!(splicelab::script::help::suggest("pwritx"), Some("pwrite"));
        Ok(())
    });
    if let Err(f) = r {
        panic!("{f}");
    }
}

/// `inject partition 18446744073709551615` was accepted: the partition then lasted until
/// the end of 64-bit virtual time, the next RPC waited for it and the clock overflowed in
/// the nfs-like model (`fs_models::nfs::net::Net::send`, reported to its owners: see
/// `known_nfs_clock_overflow_after_an_endless_partition`). A partition longer than
/// `MAX_PARTITION_MS` is now an absurd size, refused on its line (spec §7). Found by the
/// deep run of `fuzz_hostile_scripts`, case seed 17181.
#[test]
fn regression_an_endless_partition_is_refused_on_its_line() {
    let e = splicelab::script::parse_bytes(b"open -f a\ninject partition 18446744073709551615\n")
        .unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("too long"), "{e}");
    let max = splicelab::script::parse::MAX_PARTITION_MS;
    let ok = format!("open -f a\ninject partition {max}\npwrite -q 0 4k\nfsck\n");
    let out = splicelab::script::run_str(&ok, "nfs-like", false).unwrap();
    assert!(out.contains("fsck: clean"), "{out}");
}
