//! `realcopy` on ordinary files in a temporary directory (no root, any filesystem): the
//! checks in their order, exact counts, progress, interruption. What depends on the
//! filesystem (sharing, must-share's errors) is tested against the lab on real btrfs,
//! XFS and tmpfs in `tests/tests/realcopy_differential.rs`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use realcopy::{Errno, Options, Share, copy_file, copy_range};

/// A fresh directory for one test, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("realcopy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Dir(p)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes 0, 1, …, 250, 0, 1, … (a pattern that shows misplaced bytes).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn rw(p: &PathBuf) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .expect("open rw")
}

#[test]
fn never_and_may_copy_exact_ranges_in_chunks() {
    let d = Dir::new("ranges");
    let data = pattern(1_000_000);
    let src = File::open(d.file("src", &data)).expect("open");
    for share in [Share::Never, Share::May] {
        let dst_path = d.file("dst", b"");
        let dst = rw(&dst_path);
        let mut calls = 0;
        let mut progress = |p: &realcopy::Progress| {
            calls += 1;
            assert_eq!(p.total, Some(400_000));
        };
        let mut opts = Options {
            chunk: 4096,
            share_chunk: 65536,
            progress: Some(&mut progress),
            ..Options::default()
        };
        let c = copy_range(&src, 100, &dst, 5000, 400_000, share, &mut opts).expect("copy");
        assert_eq!(c.bytes, 400_000, "{share:?}");
        assert!(!c.interrupted);
        assert!(calls > 1, "{share:?}: progress after every chunk");
        let got = std::fs::read(&dst_path).expect("read");
        assert_eq!(got.len(), 405_000);
        assert!(
            got[..5000].iter().all(|&b| b == 0),
            "{share:?}: a hole before off_out"
        );
        assert!(got[5000..] == data[100..400_100], "{share:?}: content");
    }
}

#[test]
fn a_copy_past_the_source_eof_is_shortened_and_at_eof_is_zero() {
    let d = Dir::new("eof");
    let src = File::open(d.file("src", &pattern(10_000))).expect("open");
    let dst = rw(&d.file("dst", b""));
    for share in [Share::Never, Share::May, Share::Must] {
        let c = copy_range(
            &src,
            10_000,
            &dst,
            0,
            1 << 20,
            share,
            &mut Options::default(),
        );
        assert_eq!(c.map(|c| c.bytes), Ok(0), "{share:?}: at EOF");
    }
    let c = copy_range(
        &src,
        9000,
        &dst,
        0,
        1 << 20,
        Share::Never,
        &mut Options::default(),
    );
    assert_eq!(c.map(|c| c.bytes), Ok(1000));
}

#[test]
fn checks_come_in_copy_file_range_order() {
    let d = Dir::new("checks");
    let a = d.file("a", &pattern(8192));
    let b = d.file("b", b"");
    let dir = File::open(&d.0).expect("open dir");
    let ro = File::open(&b).expect("open ro");
    let app = OpenOptions::new()
        .append(true)
        .open(&b)
        .expect("open append");
    let wo = OpenOptions::new()
        .write(true)
        .custom_flags(0)
        .open(&a)
        .expect("open wo");
    let (src, dst) = (File::open(&a).expect("open"), rw(&b));
    let same = rw(&a);
    let err =
        |r: Result<realcopy::Copied, realcopy::Failure>| r.map(|c| c.bytes).map_err(|f| f.errno);
    let o = &mut Options::default();
    let rows: Vec<(&str, Result<u64, Errno>)> = vec![
        // A directory beats every other problem, even a bad mode.
        (
            "directory",
            err(copy_range(&dir, 0, &ro, 0, 1, Share::Never, o)),
        ),
        (
            "dst read-only",
            err(copy_range(&src, 0, &ro, 0, 1, Share::Never, o)),
        ),
        (
            "src write-only",
            err(copy_range(&wo, 0, &dst, 0, 1, Share::Never, o)),
        ),
        (
            "dst O_APPEND",
            err(copy_range(&src, 0, &app, 0, 1, Share::Never, o)),
        ),
        // EOVERFLOW comes before the EOF shortening (which would make the count 0).
        (
            "overflow",
            err(copy_range(
                &src,
                1 << 40,
                &dst,
                2,
                u64::MAX - 1,
                Share::Never,
                o,
            )),
        ),
        (
            "same file overlap",
            err(copy_range(&same, 0, &same, 4096, 8192, Share::Never, o)),
        ),
        (
            "same file disjoint",
            err(copy_range(&same, 0, &same, 8192, 4096, Share::Never, o)),
        ),
        (
            "past loff_t",
            err(copy_range(
                &src,
                0,
                &dst,
                i64::MAX as u64,
                10,
                Share::Never,
                o,
            )),
        ),
        (
            "length 0 after the checks",
            err(copy_range(&src, 0, &dst, 0, 0, Share::Must, o)),
        ),
    ];
    let want = [
        Err(Errno::EISDIR),
        Err(Errno::EBADF),
        Err(Errno::EBADF),
        Err(Errno::EBADF),
        Err(Errno::EOVERFLOW),
        Err(Errno::EINVAL),
        Ok(4096),
        Err(Errno::EINVAL),
        Ok(0),
    ];
    for ((what, got), want) in rows.into_iter().zip(want) {
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn an_interrupt_stops_between_chunks_with_the_exact_prefix() {
    let d = Dir::new("interrupt");
    let data = pattern(300_000);
    let src = File::open(d.file("src", &data)).expect("open");
    let dst_path = d.file("dst", b"old bytes that get replaced");
    let dst = rw(&dst_path);
    let stop = AtomicBool::new(false);
    let mut after_three = |p: &realcopy::Progress| {
        if p.calls == 3 {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let mut opts = Options {
        chunk: 10_000,
        interrupt: Some(&stop),
        ..Options::default()
    };
    opts.progress = Some(&mut after_three);
    let c = copy_file(&src, &dst, Share::Never, &mut opts).expect("copy");
    assert!(c.interrupted);
    assert_eq!((c.bytes, c.calls), (30_000, 3));
    assert!(std::fs::read(&dst_path).expect("read") == data[..30_000]);
    // Already set: nothing starts.
    let r = copy_range(
        &src,
        0,
        &dst,
        0,
        10,
        Share::Never,
        &mut Options {
            interrupt: Some(&stop),
            ..Options::default()
        },
    );
    assert_eq!(r.map_err(|f| f.errno), Err(Errno::EINTR));
}

#[test]
fn copy_file_replaces_the_destination_whatever_its_size() {
    let d = Dir::new("replace");
    let data = pattern(5000);
    let src = File::open(d.file("src", &data)).expect("open");
    let dst_path = d.file("dst", &pattern(70_000));
    let dst = rw(&dst_path);
    for share in [Share::Never, Share::May] {
        dst.write_all_at(b"junk", 60_000).expect("dirty dst");
        let c = copy_file(&src, &dst, share, &mut Options::default()).expect("copy");
        assert_eq!(c.bytes, 5000);
        assert!(std::fs::read(&dst_path).expect("read") == data, "{share:?}");
    }
}
