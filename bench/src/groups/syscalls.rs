//! Group 3: the syscall path against the real kernel.
//!
//! 4 KiB `pread`/`pwrite`, `copy_file_range` of a 16 KiB file and `FICLONE` of a 16 KiB
//! file, through splicelab ([`syscall::Process`] on tmpfs-like and btrfs-like) and through
//! the real kernel in the same run ([`host::Linux`] on a tmpfs and on a loop-mounted
//! btrfs, as root; skipped with a notice otherwise). Both sides go through the same
//! [`Syscalls`] trait from the same user buffer (a pread's result is copied into it, a
//! pwrite's data is made from it), so the comparison is call for call. The kernel is also
//! called directly (`libc`, no trait) to show what the trait adapter itself costs.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use host::mounts::{RealFs, TestMount, prerequisites};
use syscall::Syscalls;
use syscall::api::o;
use vfs::data::Data;
use vfs::errno::Errno;

use super::{Run, sim};
use crate::measure::{Budget, Summary, per_call};
use crate::report::{Table, ns, rate, ratio, verdict};

/// Target: splicelab does at least this many times the real kernel's operations per second.
pub const TARGET: f64 = 3.0;

const FILE: u64 = 64 << 10;
const SMALL: u64 = 16 << 10;
const OPS: [&str; 5] = [
    "pread 4 KiB",
    "pwrite 4 KiB",
    "copy_file_range 16 KiB",
    "FICLONE 16 KiB",
    "pread 4 KiB of a pattern file",
];

/// Nanoseconds per call of each of [`OPS`] (`None`: not supported there), or the first
/// error.
type Times = [Option<Summary>; 5];

fn budget(quick: bool) -> Budget {
    if quick {
        Budget::new(3, 5, 30)
    } else {
        Budget::new(9, 41, 300)
    }
}

/// Runs `op` in batches unless its first call fails: `Ok(None)` for `EOPNOTSUPP`.
fn time_op(
    quick: bool,
    batch: usize,
    mut op: impl FnMut(u64) -> Result<(), Errno>,
) -> Result<Option<Summary>, String> {
    match op(0) {
        Ok(()) => {}
        Err(Errno::EOPNOTSUPP) => return Ok(None),
        Err(e) => return Err(format!("{e:?}")),
    }
    let err = RefCell::new(None);
    let mut i = 0u64;
    let s = per_call(budget(quick), batch, || {
        i += 1;
        if let Err(e) = op(i) {
            err.borrow_mut().get_or_insert(e);
        }
    });
    match err.into_inner() {
        Some(e) => Err(format!("{e:?}")),
        None => Ok(Some(s)),
    }
}

/// The four operations through the trait.
fn through_trait(sys: &mut dyn Syscalls, quick: bool) -> Result<Times, String> {
    let e = |what: &str, err: Errno| format!("{what}: {err:?}");
    let a = sys
        .open("/a", o::CREAT | o::RDWR | o::TRUNC, 0o644)
        .map_err(|x| e("open /a", x))?;
    // Real bytes, as a program writes them from its buffer.
    let mut content = vec![0u8; FILE as usize];
    crate::groups::bytes::fill_random(&mut content, 1);
    sys.pwrite(a, &Data::bytes(&content), 0)
        .map_err(|x| e("pwrite /a", x))?;
    // The same size as a lazy seeded pattern (`pwrite -S`-style data in the simulator;
    // real bytes on the kernel side): what reading unmaterialised data costs.
    let pat = sys
        .open("/p", o::CREAT | o::RDWR | o::TRUNC, 0o644)
        .map_err(|x| e("open /p", x))?;
    sys.pwrite(pat, &Data::pattern(1, 0, FILE), 0)
        .map_err(|x| e("pwrite /p", x))?;
    let s = sys
        .open("/s", o::CREAT | o::RDWR | o::TRUNC, 0o644)
        .map_err(|x| e("open /s", x))?;
    sys.pwrite(s, &Data::bytes(&content[..SMALL as usize]), 0)
        .map_err(|x| e("pwrite /s", x))?;
    let d = sys
        .open("/d", o::CREAT | o::RDWR | o::TRUNC, 0o644)
        .map_err(|x| e("open /d", x))?;
    let sys = RefCell::new(sys);
    let mut buf = vec![0x33u8; 4096];
    let blocks = FILE / 4096;
    let pread = time_op(quick, 1000, |i| {
        let data = sys
            .borrow_mut()
            .pread(a, 4096, ((i % blocks) * 4096) as i64)?;
        data.read_into(0, &mut buf);
        Ok(())
    })?;
    let pwrite = time_op(quick, 1000, |i| {
        buf[0] = i as u8;
        let data = Data::bytes(&buf);
        sys.borrow_mut()
            .pwrite(a, &data, ((i % blocks) * 4096) as i64)?;
        Ok(())
    })?;
    let cfr = time_op(quick, 200, |_| {
        let (mut x, mut y) = (0i64, 0i64);
        let n = sys.borrow_mut().copy_file_range(
            s,
            Some(&mut x),
            d,
            Some(&mut y),
            SMALL as usize,
            0,
        )?;
        if n as u64 != SMALL {
            return Err(Errno::EIO);
        }
        Ok(())
    })?;
    let clone = time_op(quick, 200, |_| sys.borrow_mut().ficlone(d, s))?;
    let pread_pattern = time_op(quick, 1000, |i| {
        let data = sys
            .borrow_mut()
            .pread(pat, 4096, ((i % blocks) * 4096) as i64)?;
        data.read_into(0, &mut buf);
        Ok(())
    })?;
    let sys = sys.into_inner();
    for fd in [a, s, d, pat] {
        let _ = sys.close(fd);
    }
    Ok([pread, pwrite, cfr, clone, pread_pattern])
}

/// The four operations straight through `libc` on the files [`through_trait`] left behind
/// under `root`.
fn raw_kernel(root: &std::path::Path, quick: bool) -> Result<Times, String> {
    let open = |n: &str| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(root.join(n))
            .map_err(|e| format!("open {n}: {e}"))
    };
    let (a, s, d, pat) = (open("a")?, open("s")?, open("d")?, open("p")?);
    let errno = || Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    let mut buf = vec![0x33u8; 4096];
    let blocks = FILE / 4096;
    let pread = time_op(quick, 1000, |i| {
        a.read_at(&mut buf, (i % blocks) * 4096)
            .map_err(|_| errno())?;
        Ok(())
    })?;
    let pwrite = time_op(quick, 1000, |i| {
        buf[0] = i as u8;
        a.write_at(&buf, (i % blocks) * 4096).map_err(|_| errno())?;
        Ok(())
    })?;
    let cfr = time_op(quick, 200, |_| {
        let (mut x, mut y) = (0i64, 0i64);
        // SAFETY: both descriptors are open; the offsets point at live i64s.
        let r = unsafe {
            libc::copy_file_range(
                s.as_raw_fd(),
                &mut x,
                d.as_raw_fd(),
                &mut y,
                SMALL as usize,
                0,
            )
        };
        if r < 0 { Err(errno()) } else { Ok(()) }
    })?;
    let clone = time_op(quick, 200, |_| {
        // SAFETY: FICLONE takes the source descriptor as its integer argument.
        let r = unsafe { libc::ioctl(d.as_raw_fd(), 0x4004_9409, s.as_raw_fd()) };
        if r < 0 { Err(errno()) } else { Ok(()) }
    })?;
    let pread_pattern = time_op(quick, 1000, |i| {
        pat.read_at(&mut buf, (i % blocks) * 4096)
            .map_err(|_| errno())?;
        Ok(())
    })?;
    Ok([pread, pwrite, cfr, clone, pread_pattern])
}

/// Runs the group.
pub fn run(run: &mut Run) {
    let quick = run.opts.quick;
    let mut t = Table::new(
        "3. Syscall path: splicelab vs the real kernel (same run)",
        &[
            "fs",
            "operation",
            "splicelab",
            "linux via host::Linux",
            "linux raw libc",
            "splicelab ÷ host::Linux",
            "splicelab ÷ raw",
            "target ≥ ×3",
        ],
    );
    let mut worst: Option<(String, f64)> = None;
    let mut met_all = true;
    let mut any = false;
    for (name, model, kind) in [
        ("tmpfs", "tmpfs-like", RealFs::Tmpfs),
        ("btrfs", "btrfs-like", RealFs::Btrfs),
    ] {
        eprint!("  syscalls: {name} …");
        let sim_times = sim(model).and_then(|(mut p, _fs)| through_trait(&mut p, quick));
        let real = match prerequisites(kind) {
            Err(why) => Err(format!("skipped: {why}")),
            Ok(()) => TestMount::new(kind, kind.min_size().max(256 << 20))
                .map_err(|e| format!("mount {name}: {e}"))
                .and_then(|m| {
                    let mut linux = host::Linux::new(m.path().to_path_buf())
                        .map_err(|e| format!("host::Linux: {e}"))?;
                    let via = through_trait(&mut linux, quick)?;
                    linux.close_all();
                    let raw = raw_kernel(m.path(), quick)?;
                    drop(linux);
                    m.unmount().map_err(|e| format!("unmount: {e}"))?;
                    Ok((via, raw))
                }),
        };
        eprintln!(" done");
        let sim_times = match sim_times {
            Ok(x) => x,
            Err(e) => {
                t.row(vec![name.into(), "error".into(), e]);
                continue;
            }
        };
        if let Err(e) = &real {
            t.note(format!("{name}: real kernel {e}"));
            println!("NOTICE: syscalls group, {name}: real kernel {e}");
        }
        for (i, op) in OPS.iter().enumerate() {
            let s = sim_times[i].map(|x| x.median);
            let (via, raw) = match &real {
                Ok((v, r)) => (v[i].map(|x| x.median), r[i].map(|x| x.median)),
                Err(_) => (None, None),
            };
            let cell = |x: Option<f64>| {
                x.map_or("n/a (EOPNOTSUPP)".to_string(), |v| {
                    format!("{} ({})", ns(v), rate(1e9 / v))
                })
            };
            let speed = match (s, via) {
                (Some(s), Some(v)) => Some(v / s),
                _ => None,
            };
            let speed_raw = match (s, raw) {
                (Some(s), Some(r)) => Some(r / s),
                _ => None,
            };
            // The pattern row shows the simulator's lazy data, not a path the kernel has.
            let informative = i == 4;
            let met = speed.filter(|_| !informative).map(|x| x >= TARGET);
            if let Some(x) = speed.filter(|_| !informative) {
                any = true;
                met_all &= x >= TARGET;
                if worst.as_ref().is_none_or(|w| x < w.1) {
                    worst = Some((format!("{name} {op}"), x));
                }
            }
            t.row(vec![
                name.into(),
                op.to_string(),
                cell(s),
                if real.is_ok() {
                    cell(via)
                } else {
                    "skipped".into()
                },
                if real.is_ok() {
                    cell(raw)
                } else {
                    "skipped".into()
                },
                speed.map_or("—".into(), ratio),
                speed_raw.map_or("—".into(), ratio),
                verdict(met),
            ]);
        }
    }
    t.note("Each figure: median ns per call over ≥9 batches (1,000 calls for pread/pwrite, 200 for the copies), rate in parentheses. splicelab ÷ X = X's time per call / splicelab's (> 1: splicelab is faster).");
    t.note("The files hold real bytes (written from a buffer). The last row reads a file written as a lazy seeded pattern (pwrite -S-style data; real bytes on the kernel side): splicelab materialises it on every read. It shows what unmaterialised data costs and is not a target row.");
    t.note("pread/pwrite cycle over the 16 blocks of a 64 KiB file; copy_file_range and FICLONE copy a 16 KiB file onto the same destination each time (on btrfs both share extents, on tmpfs FICLONE is EOPNOTSUPP on both sides).");
    run.table(t);
    run.target(
        "3 syscalls",
        "splicelab ≥ 3× the real kernel's ops/s (in-memory paths)",
        match &worst {
            Some((l, x)) => format!("worst {} ({l})", ratio(*x)),
            None => "real kernel not measured".into(),
        },
        any.then_some(met_all),
    );
}
