//! Differential tests of `splicelab-realcopy` (issue 21): every case runs through the
//! library on a real filesystem (btrfs, XFS reflink=1, XFS reflink=0, tmpfs on loop mounts
//! made by `host::mounts`) and through the lab's extended splice on the paired model
//! (`conform::env::PAIRS`), driven by the same chunked loop, and the two must agree on
//! the result or errno, the bytes copied, and both files afterwards: size, content and
//! the class of every block (hole, data, shared; `conform::observe`, N3–N5).
//!
//! The sim side makes must-share one call (the lab's all-or-nothing splice); the library
//! clones in chunks of `chunk` bytes after checking everything up front and restores the
//! destination on failure — agreement shows that the chunked clone is indistinguishable
//! from the single call.
//!
//! Needs root, btrfs-progs, xfsprogs and loop devices; without them each test prints a
//! skip notice (and fails when `CI=true`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

use conform::env::{PAIRS, Pair, RealSide, sim_dirs, sim_process};
use conform::observe::{FileObs, observe_file};
use conform::runner::{Dirs, fill_data};
use conform::scenario::Fill;
use host::mounts::{RealFs, ready_or_skip};
use realcopy::chunked::{self, Ended, HeadToBlock};
use realcopy::{Options, Share};
use syscall::api::{Syscalls, o};
use syscall::flags::splice;
use syscall::splice::SpliceSteps;

const K: u64 = 1024;
const B: u64 = 4096;

/// One write of a setup: offset, length, fill.
type Write = (u64, u64, Fill);

const P1: Fill = Fill::Pattern(1);
const P2: Fill = Fill::Pattern(2);
const X: Fill = Fill::Byte(0x78);

/// Where the destination is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dst {
    /// A second file on the same filesystem.
    Beside,
    /// A file on the other filesystem of the same kind (`/o`).
    OtherFs,
    /// The source file itself.
    SameFile,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    src: &'static [Write],
    /// Writes into the destination before the copy (it is created empty otherwise).
    dst: &'static [Write],
    to: Dst,
    off_in: u64,
    off_out: u64,
    len: u64,
    /// Bytes per call (byte copies and, on the library side, clones).
    chunk: u64,
    /// Open the destination with `O_APPEND`.
    append: bool,
    /// Open the source write-only.
    src_wronly: bool,
}

const BASE: Case = Case {
    name: "",
    src: &[(0, 256 * K, P1)],
    dst: &[],
    to: Dst::Beside,
    off_in: 0,
    off_out: 0,
    len: 256 * K,
    chunk: 64 * K,
    append: false,
    src_wronly: false,
};

/// The cases, each run with never, may and must.
const CASES: &[Case] = &[
    Case {
        name: "whole aligned file into a new file, in 4 chunks",
        ..BASE
    },
    Case {
        name: "unaligned EOF tail into a new file",
        src: &[(0, 300_000, P1)],
        len: 300_000,
        ..BASE
    },
    Case {
        name: "asked past the source EOF: shortened",
        src: &[(0, 10_000, P1)],
        len: 1 << 20,
        ..BASE
    },
    Case {
        name: "small file (btrfs inline extent)",
        src: &[(0, 1000, P1)],
        len: 1000,
        ..BASE
    },
    Case {
        name: "congruent unaligned offsets",
        off_in: 100,
        off_out: 100,
        len: 200_000,
        ..BASE
    },
    Case {
        name: "offsets that differ modulo the block",
        off_out: 512,
        len: 128 * K,
        ..BASE
    },
    Case {
        name: "aligned range over the middle of existing data",
        src: &[(0, 64 * K, P1)],
        dst: &[(0, 128 * K, P2)],
        off_out: 32 * K,
        len: 32 * K,
        ..BASE
    },
    Case {
        name: "unaligned EOF tail landing inside existing data",
        src: &[(0, 10_000, P1)],
        dst: &[(0, 64 * K, P2)],
        len: 10_000,
        ..BASE
    },
    Case {
        name: "unaligned EOF tail landing at the destination EOF",
        src: &[(0, 10_000, P1)],
        dst: &[(0, 10_000, P2)],
        len: 10_000,
        ..BASE
    },
    Case {
        name: "past the destination EOF (a gap of a hole)",
        src: &[(0, 64 * K, P1)],
        dst: &[(0, 5000, P2)],
        off_out: 128 * K,
        len: 64 * K,
        ..BASE
    },
    Case {
        name: "a source with holes",
        src: &[(0, 8 * K, P1), (128 * K, 8 * K, X)],
        len: 136 * K,
        ..BASE
    },
    Case {
        name: "source offset at EOF: 0 bytes",
        off_in: 256 * K,
        ..BASE
    },
    Case {
        name: "length 0",
        len: 0,
        ..BASE
    },
    Case {
        name: "another filesystem of the same kind",
        to: Dst::OtherFs,
        ..BASE
    },
    Case {
        name: "same file, overlapping ranges",
        to: Dst::SameFile,
        off_out: 64 * K,
        len: 128 * K,
        ..BASE
    },
    Case {
        name: "same file, disjoint aligned ranges",
        to: Dst::SameFile,
        off_out: 512 * K,
        len: 128 * K,
        ..BASE
    },
    Case {
        name: "destination opened O_APPEND",
        append: true,
        ..BASE
    },
    Case {
        name: "source opened write-only",
        src_wronly: true,
        ..BASE
    },
    Case {
        name: "many chunks of one block",
        src: &[(0, 64 * K + 1, P1)],
        len: 64 * K + 1,
        chunk: B,
        ..BASE
    },
];

/// What one side produced: the result (bytes or errno) and both files afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    result: Result<u64, i32>,
    src: FileObs,
    dst: FileObs,
}

fn paths(case: &Case, dirs: &Dirs) -> (String, String) {
    let src = format!("{}/src", dirs.main);
    let dst = match case.to {
        Dst::Beside => format!("{}/dst", dirs.main),
        Dst::OtherFs => format!("{}/dst", dirs.other),
        Dst::SameFile => src.clone(),
    };
    (src, dst)
}

/// Creates the files through `sys` (the same calls on both sides).
fn set_up(sys: &mut dyn Syscalls, case: &Case, src: &str, dst: &str) {
    let mut create = |path: &str, writes: &[Write]| {
        let fd = sys
            .open(path, o::WRONLY | o::CREAT, 0o644)
            .unwrap_or_else(|e| panic!("{}: create {path}: {e:?}", sys.describe()));
        for &(off, len, fill) in writes {
            let n = sys
                .pwrite(fd, &fill_data(fill, off, len), off as i64)
                .unwrap_or_else(|e| panic!("{}: pwrite {path}: {e:?}", sys.describe()));
            assert_eq!(n as u64, len, "{}: short setup write", sys.describe());
        }
        sys.fsync(fd).expect("fsync after setup");
        sys.close(fd).expect("close after setup");
    };
    create(src, case.src);
    if dst != src {
        create(dst, case.dst);
    }
}

/// The open flags of the two descriptors.
fn flags(case: &Case) -> (i32, i32) {
    let src = if case.src_wronly {
        o::WRONLY
    } else {
        o::RDONLY
    };
    let dst = o::WRONLY | if case.append { o::APPEND } else { 0 };
    // The same file is read and written through one pair of descriptors, as a caller would.
    let dst = if case.to == Dst::SameFile {
        o::RDWR | (dst & o::APPEND)
    } else {
        dst
    };
    (src, dst)
}

fn real_open(path: &std::path::Path, flags: i32) -> File {
    let mut oo = OpenOptions::new();
    match flags & o::ACCMODE {
        o::RDONLY => oo.read(true),
        o::WRONLY => oo.write(true),
        _ => oo.read(true).write(true),
    };
    oo.custom_flags(flags & o::APPEND)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// The case through the library on the real filesystem.
fn run_real(real: &mut RealSide, case: &Case, share: Share) -> Seen {
    let dirs = real.begin_case().expect("case directories");
    let (src, dst) = paths(case, &dirs);
    set_up(real.linux(), case, &src, &dst);
    let (sf, df) = flags(case);
    let (s, d) = (
        real_open(&real.linux().real_path(&src), sf),
        real_open(&real.linux().real_path(&dst), df),
    );
    let mut opts = Options {
        chunk: case.chunk,
        share_chunk: case.chunk,
        ..Options::default()
    };
    let r = realcopy::copy_range(
        &s,
        case.off_in,
        &d,
        case.off_out,
        case.len,
        share,
        &mut opts,
    );
    drop((s, d));
    let result = match r {
        Ok(c) => {
            assert!(!c.interrupted, "nothing interrupts this copy");
            Ok(c.bytes)
        }
        Err(f) => {
            if share == Share::Must {
                assert_eq!(f.copied, 0, "a failed must-share reports nothing copied");
            }
            Err(f.errno.0)
        }
    };
    // XFS frees the must-share copy's saved blocks (an unlinked O_TMPFILE) in the
    // background; until then they show as shared.
    real.settler()();
    let seen = Seen {
        result,
        src: observe_file(real.linux(), &src),
        dst: observe_file(real.linux(), &dst),
    };
    real.end_case(&dirs);
    seen
}

/// The case through the lab's extended splice, driven by the same loop.
fn run_sim(pair: Pair, case: &Case, share: Share, dirs: &Dirs) -> Seen {
    let mut p = sim_process(pair.model, None).expect("simulator");
    sim_dirs(&mut p, dirs).expect("simulator directories");
    let (src, dst) = paths(case, dirs);
    set_up(&mut p, case, &src, &dst);
    let (sf, df) = flags(case);
    let sfd = p.open(&src, sf, 0).expect("open src");
    let dfd = p.open(&dst, df, 0).expect("open dst");
    let block = p
        .file(dfd)
        .map(|f| f.mnt.fs.remap_block_size())
        .unwrap_or(B);
    let flags = match share {
        Share::Never => 0,
        Share::May => splice::MAY_SHARE,
        Share::Must => splice::MUST_SHARE,
    };
    let steps = SpliceSteps {
        proc: &mut p,
        fd_in: sfd,
        off_in: case.off_in,
        fd_out: dfd,
        off_out: case.off_out,
        flags,
    };
    // The library checks the whole range as one call would; chunks of a range copied onto
    // itself overlap less than the range does, so the lab sees the same range in one call.
    let chunk = if case.to == Dst::SameFile {
        case.len
    } else {
        case.chunk
    };
    let out = match share {
        // A zero-length copy is one call, so that its checks run.
        _ if case.len == 0 => {
            let mut s = steps;
            let r = realcopy::chunked::Steps::step(&mut s, 0, 0);
            chunked::Outcome {
                done: r.unwrap_or(0),
                calls: 1,
                ended: r.map_or_else(Ended::Failed, |_| Ended::Done),
                last: Some(r),
            }
        }
        Share::Never => chunked::run(&mut { steps }, Some(case.len), chunk, &mut ()),
        Share::May => {
            let mut s = HeadToBlock::new(steps, case.off_in, case.off_out, block);
            chunked::run(&mut s, Some(case.len), chunk, &mut ())
        }
        // The lab's must-share is one all-or-nothing call.
        Share::Must => chunked::run(&mut { steps }, Some(case.len), case.len, &mut ()),
    };
    let result = match out.ended {
        Ended::Done | Ended::Eof => Ok(out.done),
        Ended::Failed(e) => {
            assert_eq!(
                out.done, 0,
                "{}: a failure after {} bytes",
                case.name, out.done
            );
            Err(e.0)
        }
        other => panic!("{}: the lab's copy ended {other:?}", case.name),
    };
    let _ = p.close(sfd);
    let _ = p.close(dfd);
    Seen {
        result,
        src: observe_file(&mut p, &src),
        dst: observe_file(&mut p, &dst),
    }
}

fn show(r: &Result<u64, i32>) -> String {
    match r {
        Ok(n) => format!("{n} bytes"),
        Err(e) => realcopy::Errno(*e).text(),
    }
}

fn agrees(kind: RealFs) {
    if !ready_or_skip(kind, "realcopy differential") {
        return;
    }
    let pair = PAIRS
        .into_iter()
        .find(|p| p.real == kind)
        .expect("a pair per kind");
    let mut real = RealSide::standard(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let t0 = std::time::Instant::now();
    let mut report = String::new();
    let mut runs = 0;
    for case in CASES {
        for share in [Share::Never, Share::May, Share::Must] {
            let r = run_real(&mut real, case, share);
            // The sim side uses the same directory names as the real case just run.
            let dirs = Dirs {
                main: format!("/m/s{runs}"),
                other: format!("/o/s{runs}"),
            };
            let s = run_sim(pair, case, share, &dirs);
            runs += 1;
            // The contracts themselves, on the real side: never leaves no shared block
            // behind; must on a whole aligned file shares every block or says why not.
            let shared =
                |o: &FileObs| matches!(o, FileObs::File { extents: Ok(e), .. } if e.contains('S'));
            if share == Share::Never && case.to != Dst::SameFile && shared(&r.dst) {
                report += &format!(
                    "
{} [Never]: {kind} left shared blocks: {}\n",
                    case.name, r.dst
                );
            }
            if share == Share::Must && case.name == CASES[0].name {
                let want = if kind.supports_reflink() {
                    "extents S64"
                } else {
                    ""
                };
                let ok = match &r.result {
                    Ok(_) => !want.is_empty() && r.dst.to_string().contains(want),
                    Err(e) => want.is_empty() && *e == libc::EOPNOTSUPP,
                };
                if !ok {
                    report += &format!(
                        "
{} [Must]: {kind}: {} | dst {}\n",
                        case.name,
                        show(&r.result),
                        r.dst
                    );
                }
            }
            if (r.result, &r.src, &r.dst) != (s.result, &s.src, &s.dst) {
                report += &format!(
                    "\n{} [{share:?}]\n  {kind}: {} | src {} | dst {}\n  {}: {} | src {} | dst {}\n",
                    case.name,
                    show(&r.result),
                    r.src,
                    r.dst,
                    pair.model,
                    show(&s.result),
                    s.src,
                    s.dst
                );
            }
        }
    }
    eprintln!(
        "realcopy differential {kind}: {runs} runs in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        report.is_empty(),
        "{kind}: library and lab disagree:{report}"
    );
}

#[test]
fn btrfs_library_agrees_with_the_lab() {
    agrees(RealFs::Btrfs);
}

#[test]
fn xfs_reflink_library_agrees_with_the_lab() {
    agrees(RealFs::XfsReflink);
}

#[test]
fn xfs_noreflink_library_agrees_with_the_lab() {
    agrees(RealFs::XfsNoReflink);
}

#[test]
fn tmpfs_library_agrees_with_the_lab() {
    agrees(RealFs::Tmpfs);
}

/// A must-share copy that fails after its first chunk (the source is cut short between two
/// chunks, so the second `FICLONERANGE` reaches past its EOF: `EINVAL`) leaves the
/// destination exactly as it was — size, content and every block's class, shared blocks
/// included — as the lab's all-or-nothing must-share does by construction.
fn must_share_failing_part_way_restores(kind: RealFs) {
    if !ready_or_skip(kind, "realcopy must-share restore") {
        return;
    }
    let mut real = RealSide::standard(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let dirs = real.begin_case().expect("case directories");
    let (src, dst) = (format!("{}/src", dirs.main), format!("{}/dst", dirs.main));
    let (other, src2) = (
        format!("{}/other", dirs.main),
        format!("{}/src2", dirs.main),
    );
    let case = Case {
        src: &[(0, 256 * K, P1)],
        dst: &[(0, 192 * K + 100, P2)],
        ..BASE
    };
    set_up(real.linux(), &case, &src, &dst);
    // Some of the destination's blocks are shared with a third file before the copy: the
    // restore must give back the very same (shared) blocks.
    set_up(real.linux(), &Case { src: &[], ..BASE }, &other, &src2);
    {
        let l = real.linux();
        let (d, t) = (
            l.open(&dst, o::RDONLY, 0).expect("open dst"),
            l.open(&other, o::RDWR, 0).expect("open other"),
        );
        l.ficlonerange(t, d, 0, 64 * K, 0)
            .expect("share dst's head");
        let _ = (l.close(d), l.close(t));
    }
    real.settler()();
    let before = observe_file(real.linux(), &dst);
    // (btrfs flags the whole extent that a clone references part of: "S49" there.)
    let shared = matches!(&before, FileObs::File { extents: Ok(e), .. } if e.contains('S'));
    assert!(shared, "{kind}: {before}");

    let s = real_open(&real.linux().real_path(&src), o::RDWR);
    let d = real_open(&real.linux().real_path(&dst), o::WRONLY);
    let r = {
        let mut cut_source = |p: &realcopy::Progress| {
            if p.calls == 1 {
                s.set_len(100 * K).expect("cut the source short");
            }
        };
        let mut opts = Options {
            share_chunk: 64 * K,
            progress: Some(&mut cut_source),
            ..Options::default()
        };
        realcopy::copy_range(&s, 0, &d, 0, 256 * K, Share::Must, &mut opts)
    };
    drop((s, d));
    assert_eq!(
        r.map_err(|f| (f.errno, f.copied)),
        Err((realcopy::Errno::EINVAL, 0)),
        "{kind}: the second clone fails"
    );
    real.settler()();
    let after = observe_file(real.linux(), &dst);
    assert_eq!(after, before, "{kind}: the destination is as it was");
    real.end_case(&dirs);
}

#[test]
fn btrfs_must_share_failing_part_way_restores() {
    must_share_failing_part_way_restores(RealFs::Btrfs);
}

#[test]
fn xfs_must_share_failing_part_way_restores() {
    must_share_failing_part_way_restores(RealFs::XfsReflink);
}
