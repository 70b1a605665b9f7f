//! Which errno wins when several arguments are wrong at once: one table per entry point.
//!
//! Every row passes at least two wrong things (its `what` names them, winner first) and
//! pins the errno Linux 6.x returns for that combination: the order of the checks is what
//! callers observe, so it is part of the interface (spec §2, §3). Each row runs on a fresh
//! fixture for every model; rows marked `Sharing`/`NotSharing` run only on models with /
//! without a remap method, because the filesystem's own checks come after the VFS's.
//!
//! Orders, with the kernel functions they come from:
//! - copy_file_range: fds (`SYSCALL_DEFINE6`) → flags → `generic_file_rw_checks` → cross-sb →
//!   immutable → swapfile → `EOVERFLOW` → EOF shortening → `EFBIG` → overlap
//!   (`generic_copy_file_checks`) → `rw_verify_area` → len 0.
//! - FICLONERANGE: dst fd (`ioctl`) → src fd (`ioctl_file_clone`) → `remap_verify_area` ×2 →
//!   `EXDEV` → `generic_file_rw_checks` → no method (`do_clone_file_range`) → the
//!   filesystem's `generic_remap_file_range_prep`.
//! - FIDEDUPERANGE: src fd → `ENOMEM` (`ioctl_file_dedupe_range`) → source checks →
//!   per destination (`vfs_dedupe_file_range`, `vfs_dedupe_file_range_one`).
//! - splice (proposal): flags → fds → copy_file_range's VFS order (EXDEV only for
//!   must-share) → len 0 → must-share's `EOPNOTSUPP` → the filesystem.

mod common;

use common::*;
use syscall::Process;
use syscall::Syscalls;
use syscall::api::{DedupeDest, o};
use syscall::flags::dedupe::SAME;
use syscall::flags::splice::{MAY_SHARE, MUST_SHARE};
use vfs::errno::Errno;

const EBADF: Errno = Errno::EBADF;
const EINVAL: Errno = Errno::EINVAL;
const EISDIR: Errno = Errno::EISDIR;
const EXDEV: Errno = Errno::EXDEV;
const EPERM: Errno = Errno::EPERM;
const ETXTBSY: Errno = Errno::ETXTBSY;
const EOVERFLOW: Errno = Errno::EOVERFLOW;
const EFBIG: Errno = Errno::EFBIG;
const ENOMEM: Errno = Errno::ENOMEM;
const EOPNOTSUPP: Errno = Errno::EOPNOTSUPP;

/// The descriptors of the fixture.
#[derive(Clone, Copy, Debug)]
enum F {
    /// 64 KiB of data, `O_RDWR`.
    Src,
    /// Empty, `O_RDWR`.
    Dst,
    /// A copy of the source's data, `O_RDONLY`.
    Ro,
    /// A copy of the source's data, `O_WRONLY`.
    Wo,
    /// `O_WRONLY | O_APPEND`.
    App,
    /// A directory, `O_RDONLY`.
    Dir,
    /// Immutable (set after opening `O_RDWR`).
    Imm,
    /// An active swap file, `O_RDWR`.
    Swap,
    /// On the other mount: `O_RDWR`, `O_RDONLY`, immutable, a directory.
    Xdev,
    XRo,
    XImm,
    XDir,
    /// Not an open descriptor.
    Bad,
}

struct Fx {
    p: Process,
    fds: Vec<(&'static str, i32)>,
}

const SIZE: u64 = 64 << 10;

impl Fx {
    fn new(model: &str) -> Fx {
        let mut p = process(model);
        let data = pattern(42, SIZE);
        let mut fds = Vec::new();
        let src = file_with(&mut p, "/src", &data);
        fds.push(("Src", src));
        fds.push(("Dst", empty(&mut p, "/dst")));
        file_with(&mut p, "/ro", &data);
        fds.push(("Ro", open(&mut p, "/ro", o::RDONLY)));
        file_with(&mut p, "/wo", &data);
        fds.push(("Wo", open(&mut p, "/wo", o::WRONLY)));
        empty(&mut p, "/app");
        fds.push(("App", open(&mut p, "/app", o::WRONLY | o::APPEND)));
        p.mkdir("/dir", 0o755).unwrap();
        fds.push(("Dir", open(&mut p, "/dir", o::RDONLY)));
        fds.push(("Imm", file_with(&mut p, "/imm", &data)));
        chattr(&mut p, "/imm", |a| a.immutable = true);
        fds.push(("Swap", file_with(&mut p, "/swap", &data)));
        chattr(&mut p, "/swap", |a| a.swapfile = true);
        fds.push(("Xdev", file_with(&mut p, "/other/x", &data)));
        file_with(&mut p, "/other/ro", &data);
        fds.push(("XRo", open(&mut p, "/other/ro", o::RDONLY)));
        fds.push(("XImm", file_with(&mut p, "/other/imm", &data)));
        chattr(&mut p, "/other/imm", |a| a.immutable = true);
        p.mkdir("/other/dir", 0o755).unwrap();
        fds.push(("XDir", open(&mut p, "/other/dir", o::RDONLY)));
        fds.push(("Bad", 99));
        Fx { p, fds }
    }

    fn fd(&self, f: F) -> i32 {
        let name = format!("{f:?}");
        self.fds.iter().find(|(n, _)| *n == name).unwrap().1
    }

    fn max_bytes(&self) -> i64 {
        let fs = &of(&self.p, self.fd(F::Dst)).mnt.fs;
        fs.max_file_size().min(i64::MAX as u64) as i64
    }
}

/// Which models a row applies to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Only {
    All,
    Sharing,
    NotSharing,
    /// Sharing models whose remap runs `generic_remap_file_range_prep` (told apart by
    /// their deduplicating: Linux's NFS client neither dedupes nor uses the generic prep,
    /// so nfs-like's own order is pinned by its own tests).
    GenericPrep,
}

fn applies(only: Only, model: &str) -> bool {
    match only {
        Only::All => true,
        Only::Sharing => can_share(model),
        Only::NotSharing => !can_share(model),
        Only::GenericPrep => dedupes(model),
    }
}

/// One row of a table: what is wrong (winner first), where it applies, the answer.
type Row<R> = (&'static str, Only, R);

/// `(src_fd, src_offset, src_length, [(dest_fd, dest_offset)])`.
type DedupeCall = (F, u64, u64, Vec<(F, u64)>);

/// Runs `rows` on every model and reports every mismatch at once.
fn run<R: std::fmt::Debug + PartialEq>(
    table: &str,
    rows: &[Row<R>],
    call: impl Fn(&mut Fx, usize) -> R,
) {
    let mut bad = Vec::new();
    for m in models() {
        for (i, (what, only, want)) in rows.iter().enumerate() {
            if !applies(*only, m) {
                continue;
            }
            let mut fx = Fx::new(m);
            let got = call(&mut fx, i);
            if &got != want {
                bad.push(format!("{table} [{m}] {what}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn copy_file_range_errno_order() {
    use F::*;
    // (fd_in, off_in, fd_out, off_out, len, flags); `None` offset = i64::MAX sentinel below.
    const MAXB: i64 = i64::MIN; // replaced by the filesystem's s_maxbytes
    let calls: &[(F, i64, F, i64, u64, u32)] = &[
        (Bad, 0, Bad, 0, 1, 1),
        (Src, 0, Bad, 0, 1, 1),
        (Dir, 0, Ro, 0, 1, 1),
        (Dir, 0, Xdev, 0, 1, 0),
        (Src, 0, Dir, 0, 1, 0),
        (Wo, 0, XImm, 0, 1, 0),
        (Src, 0, Ro, 0, 1, 0),
        (Src, 0, App, 0, 1, 0),
        (Src, 0, XImm, 0, 1, 0),
        (Swap, -1, Imm, 0, 1, 0),
        (Swap, -1, Dst, 0, 1, 0),
        (Src, -1, Src, 0, 10, 0),
        (Src, 0, Src, MAXB, 10, 0),
        (Src, 0, Src, 100, 1000, 0),
        (Src, 0, Dst, -5, 0, 0),
        (Src, SIZE as i64, Src, 0, 10, 0),
        (Src, 0, Dst, 0, 0, 0),
        (Src, 10, Dst, 0, 1 << 40, 0),
    ];
    let rows: &[(&str, Only, Result<usize, Errno>)] = &[
        ("bad fd_in > bad fd_out > flags", Only::All, Err(EBADF)),
        ("bad fd_out > flags", Only::All, Err(EBADF)),
        (
            "flags > EISDIR > EBADF (read-only out)",
            Only::All,
            Err(EINVAL),
        ),
        ("EISDIR > EXDEV", Only::All, Err(EISDIR)),
        ("EISDIR on the destination", Only::All, Err(EISDIR)),
        (
            "EBADF (in not readable) > EXDEV > EPERM",
            Only::All,
            Err(EBADF),
        ),
        ("EBADF (out read-only)", Only::All, Err(EBADF)),
        ("EBADF (out O_APPEND)", Only::All, Err(EBADF)),
        ("EXDEV > EPERM", Only::All, Err(EXDEV)),
        ("EPERM > ETXTBSY > EOVERFLOW", Only::All, Err(EPERM)),
        ("ETXTBSY > EOVERFLOW", Only::All, Err(ETXTBSY)),
        (
            "EOVERFLOW > overlap > negative offset",
            Only::All,
            Err(EOVERFLOW),
        ),
        ("EFBIG (out at s_maxbytes) > overlap", Only::All, Err(EFBIG)),
        ("same-file overlap", Only::All, Err(EINVAL)),
        (
            "len 0 still verifies the area: negative offset",
            Only::All,
            Err(EINVAL),
        ),
        ("source at EOF: count 0 leaves no overlap", Only::All, Ok(0)),
        ("len 0", Only::All, Ok(0)),
        (
            "huge len shortened to the source EOF",
            Only::All,
            Ok(SIZE as usize - 10),
        ),
    ];
    assert_eq!(calls.len(), rows.len());
    run("copy_file_range", rows, |fx, i| {
        let (fi, pi, fo, po, len, flags) = calls[i];
        let po = if po == MAXB { fx.max_bytes() } else { po };
        let (a, b) = (fx.fd(fi), fx.fd(fo));
        let (mut pi, mut po) = (pi, po);
        fx.p.copy_file_range(a, Some(&mut pi), b, Some(&mut po), len as usize, flags)
    });
}

#[test]
fn ficlonerange_errno_order() {
    use F::*;
    const NEG: u64 = 1 << 63;
    // (dst_fd, src_fd, src_offset, src_length, dest_offset)
    let calls: &[(F, F, u64, u64, u64)] = &[
        (Bad, Bad, NEG, 0, 0),
        (Dst, Bad, NEG, 0, 0),
        (Xdev, Src, NEG, 0, 0),
        (Xdev, Src, 0, NEG, 0),
        (Xdev, Src, 0, 0, NEG),
        (XDir, Src, 1, 0, 0),
        (Dir, Wo, 1, 0, 0),
        (Ro, Src, 1, 0, 0),
        (App, Src, 1, 0, 0),
        (Dst, Wo, 1, 0, 0),
        (Imm, Swap, 1, 0, 0),
        (Imm, Swap, 1, 0, 0),
        (Dst, Swap, 1, 0, 0),
        (Src, Src, 1, 4096, 8192),
        (Dst, Src, 0, 1 << 30, 0),
        (Dst, Src, 1 << 20, 0, 0),
        (Src, Src, 0, 8192, 4096),
        (Dst, Src, 0, 0, 0),
        (Dst, Src, SIZE, 0, 0),
    ];
    let rows: &[(&str, Only, Result<(), Errno>)] = &[
        ("bad dst fd > bad src fd > range", Only::All, Err(EBADF)),
        ("bad src fd > range", Only::All, Err(EBADF)),
        // Linux 6.18 checks the files before the range (measured: conform's
        // clonerange_huge_offset_cross_fs).
        ("EXDEV > negative src offset", Only::All, Err(EXDEV)),
        ("EXDEV > negative length", Only::All, Err(EXDEV)),
        ("EXDEV > negative dst offset", Only::All, Err(EXDEV)),
        (
            "EXDEV > EISDIR (unlike copy_file_range)",
            Only::All,
            Err(EXDEV),
        ),
        ("EISDIR > EBADF (src write-only)", Only::All, Err(EISDIR)),
        (
            "EBADF (dst read-only) > no method > alignment",
            Only::All,
            Err(EBADF),
        ),
        ("EBADF (dst O_APPEND)", Only::All, Err(EBADF)),
        ("EBADF (src write-only)", Only::All, Err(EBADF)),
        (
            "no method > EPERM > ETXTBSY > alignment",
            Only::NotSharing,
            Err(EOPNOTSUPP),
        ),
        ("EPERM > ETXTBSY > alignment", Only::GenericPrep, Err(EPERM)),
        ("ETXTBSY > alignment", Only::GenericPrep, Err(ETXTBSY)),
        ("unaligned offset > overlap", Only::Sharing, Err(EINVAL)),
        (
            "length past the source EOF (no shortening)",
            Only::Sharing,
            Err(EINVAL),
        ),
        (
            "length 0 from past the source EOF",
            Only::Sharing,
            Err(EINVAL),
        ),
        ("same-file overlap", Only::Sharing, Err(EINVAL)),
        ("length 0 = to EOF", Only::Sharing, Ok(())),
        (
            "length 0 from exactly EOF clones nothing",
            Only::Sharing,
            Ok(()),
        ),
    ];
    assert_eq!(calls.len(), rows.len());
    run("FICLONERANGE", rows, |fx, i| {
        let (d, s, so, l, dof) = calls[i];
        let (d, s) = (fx.fd(d), fx.fd(s));
        fx.p.ficlonerange(d, s, so, l, dof)
    });
}

#[test]
fn fideduperange_errno_order() {
    use F::*;
    const NEG: u64 = 1 << 63;
    let st = |e: Errno| -e.raw();
    // (src_fd, src_offset, src_length, destinations)
    let calls: Vec<DedupeCall> = vec![
        (Bad, NEG, 1, vec![(Dst, 0); 128]),
        (Wo, NEG, 1, vec![(Dst, 0); 128]),
        (Wo, NEG, 1 << 30, vec![(Dst, 0)]),
        (Dir, NEG, 1 << 30, vec![(Dst, 0)]),
        (Src, NEG, 1 << 30, vec![(Dst, 0)]),
        (Src, NEG, 4096, vec![(Dst, 0)]),
        (Src, 0, SIZE + 1, vec![(Dst, 0)]),
        (
            Src,
            0,
            4096,
            vec![
                (Bad, NEG),
                (Xdev, NEG),
                (XDir, 0),
                (Dir, 0),
                (Imm, 1),
                (Swap, 1),
                (Dst, 0),
                (Ro, 0),
                (Wo, 0),
            ],
        ),
    ];
    let rows: &[Row<Result<Vec<i32>, Errno>>] = &[
        ("bad src fd > ENOMEM", Only::All, Err(EBADF)),
        (
            "ENOMEM (128 destinations) > source checks",
            Only::All,
            Err(ENOMEM),
        ),
        ("src not readable (EINVAL) > range", Only::All, Err(EINVAL)),
        ("EISDIR > range", Only::All, Err(EISDIR)),
        ("no method > range > EOF", Only::NotSharing, Err(EOPNOTSUPP)),
        ("negative offset (EINVAL)", Only::Sharing, Err(EINVAL)),
        ("range past the source EOF", Only::Sharing, Err(EINVAL)),
        (
            "per destination: bad fd; range > EXDEV; EXDEV > EISDIR; EISDIR; \
             EPERM > alignment; ETXTBSY > alignment; past dst EOF; read-only; write-only",
            Only::GenericPrep,
            Ok(vec![
                st(EBADF),
                st(EINVAL),
                st(EXDEV),
                st(EISDIR),
                st(EPERM),
                st(ETXTBSY),
                st(EINVAL),
                SAME,
                SAME,
            ]),
        ),
    ];
    assert_eq!(calls.len(), rows.len());
    run("FIDEDUPERANGE", rows, |fx, i| {
        let (s, off, len, dests) = &calls[i];
        let dests: Vec<DedupeDest> = dests
            .iter()
            .map(|&(f, offset)| DedupeDest {
                fd: fx.fd(f),
                offset,
            })
            .collect();
        let s = fx.fd(*s);
        fx.p.fideduperange(s, *off, *len, &dests)
            .map(|v| v.iter().map(|x| x.status).collect())
    });
}

#[test]
fn splice_errno_order() {
    use F::*;
    const BOTH: u32 = MAY_SHARE | MUST_SHARE;
    // (fd_in, off_in, fd_out, off_out, len, flags)
    let calls: &[(F, u64, F, u64, u64, u32)] = &[
        (Bad, 0, Bad, 0, 1, BOTH),
        (Bad, 0, Bad, 0, 1, 0x40),
        (Src, 0, Bad, 0, 0, MUST_SHARE),
        (Dir, 0, XRo, 0, 1, MUST_SHARE),
        (Wo, 0, XImm, 0, 1, MUST_SHARE),
        (Src, 0, XRo, 0, 1, 0),
        (Src, 0, XImm, 0, 1, MUST_SHARE),
        (Src, 0, XImm, 0, 1, 0),
        (Src, 0, XImm, 0, 1, MAY_SHARE),
        (Swap, 0, Xdev, 0, 1, MAY_SHARE),
        (Src, u64::MAX, Src, 0, 10, MUST_SHARE),
        (Src, 0, Src, 100, 1000, MUST_SHARE),
        (Src, 0, Dst, u64::MAX - 4, 0, MUST_SHARE),
        (Src, 0, Dst, 0, 0, MUST_SHARE),
        (Src, 1, Dst, 0, 4096, MUST_SHARE),
        (Src, 1, Dst, 0, 4096, MUST_SHARE),
        (Src, 0, Xdev, 0, 4096, 0),
        (Src, 1, Dst, 0, 4096, MAY_SHARE),
    ];
    let rows: &[(&str, Only, Result<usize, Errno>)] = &[
        ("both share flags > bad fds", Only::All, Err(EINVAL)),
        ("unknown flag > bad fds", Only::All, Err(EINVAL)),
        ("bad fd > len 0", Only::All, Err(EBADF)),
        ("EISDIR > EBADF > EXDEV", Only::All, Err(EISDIR)),
        (
            "EBADF (in write-only) > EXDEV > EPERM",
            Only::All,
            Err(EBADF),
        ),
        (
            "EBADF (out read-only), across mounts",
            Only::All,
            Err(EBADF),
        ),
        ("must: EXDEV > EPERM", Only::All, Err(EXDEV)),
        ("never: no EXDEV, so EPERM", Only::All, Err(EPERM)),
        ("may: no EXDEV, so EPERM", Only::All, Err(EPERM)),
        ("ETXTBSY across mounts", Only::All, Err(ETXTBSY)),
        ("EOVERFLOW > overlap > no method", Only::All, Err(EOVERFLOW)),
        ("overlap > no method", Only::All, Err(EINVAL)),
        (
            "len 0 still verifies the area: negative offset",
            Only::All,
            Err(EINVAL),
        ),
        ("len 0 returns 0 before EOPNOTSUPP", Only::All, Ok(0)),
        (
            "must: no method > alignment",
            Only::NotSharing,
            Err(EOPNOTSUPP),
        ),
        ("must: unaligned offset", Only::Sharing, Err(EINVAL)),
        ("never across mounts copies", Only::All, Ok(4096)),
        ("may: unaligned offset copies", Only::All, Ok(4096)),
    ];
    assert_eq!(calls.len(), rows.len());
    run("splice", rows, |fx, i| {
        let (fi, pi, fo, po, len, flags) = calls[i];
        let (a, b) = (fx.fd(fi), fx.fd(fo));
        let (mut pi, mut po) = (pi, po);
        fx.p.splice(a, Some(&mut pi), b, Some(&mut po), len as usize, flags)
    });
}

/// A zero-length `write` on an `O_APPEND` descriptor moved the position to EOF; Linux's
/// `generic_write_checks` returns for an empty write before `O_APPEND` sets the position
/// (found by the conform random mode, seed 1, case 1911; conform
/// `rnd_empty_append_write_keeps_position`).
#[test]
fn regression_empty_append_write_keeps_the_position() {
    for m in models() {
        let mut p = process(m);
        file_with(&mut p, "/b", &vfs::Data::fill(0x61, 100));
        let fd = open(&mut p, "/b", o::WRONLY | o::APPEND);
        assert_eq!(p.write(fd, &vfs::Data::new()), Ok(0), "{m}");
        assert_eq!(p.lseek(fd, 0, syscall::api::seek::CUR), Ok(0), "{m}");
        assert_eq!(p.write(fd, &vfs::Data::fill(0x62, 1)), Ok(1), "{m}");
        assert_eq!(p.lseek(fd, 0, syscall::api::seek::CUR), Ok(101), "{m}");
    }
}
