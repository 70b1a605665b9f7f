//! Group 1: sharing cost scales with extents, not bytes.
//!
//! Must-share and may-share splice (and, for reference, `FICLONE`) of a 1 GiB, 1 TiB and
//! 16 TiB file with 1, 1,000 and 100,000 extents on btrfs-like, xfs-like and ocfs2-like.
//! Each cell runs in its own process (its peak-RSS growth is the memory figure).
//!
//! A fragmented source is built cheaply through the filesystem's `write` method (one
//! `pwrite -S` of alternating fill bytes per extent, a one-block hole after each so that
//! FIEMAP shows every extent separately); the extent count is checked with FIEMAP. A copy
//! is what `cp --reflink=always` does with the extended splice: call until the whole file
//! is done. Only byte-copied parts of a call are capped at `MAX_RW_COUNT` (2 GiB − 4 KiB);
//! the shared part is not (design assumption A8), so these copies are one call each when
//! the filesystem can share every block — the table shows both the first call and the
//! whole copy, which differ when it cannot.

use std::time::Instant;

use syscall::api::o;
use syscall::flags::splice::{MAY_SHARE, MUST_SHARE};
use syscall::{Process, Syscalls};
use vfs::FileSystem;
use vfs::data::Data;
use vfs::extent::fiemap_flags::SHARED;
use vfs::sync::Arc;

use super::{Run, arg, sim};
use crate::measure::{Summary, peak_growth, rss, trim};
use crate::report::{Table, bytes, count, ns, ratio, verdict};
use crate::{emit, num, spawn_child};

const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// The models of this group.
pub const MODELS: [&str; 3] = ["btrfs-like", "xfs-like", "ocfs2-like"];

/// Targets (issue "Benchmarks", group 1).
pub const ONE_EXTENT_NS: f64 = 20_000.0;
pub const HUNDRED_K_EXTENTS_NS: f64 = 50_000_000.0;
pub const BYTES_PER_EXTENT: f64 = 256.0;

/// A whole copy still running after this many seconds is stopped: its time is reported as
/// a lower bound (`SPLICELAB_BENCH_COPY_LIMIT_S` overrides).
pub const COPY_LIMIT_S: f64 = 5.0;

/// Writes `path` as a `size`-byte file with `extents` extents through the filesystem's own
/// `write` (no syscall cap): extent `i` is a fill of `0x61 + i % 2` followed by a one-block
/// hole, so neighbouring extents never merge in FIEMAP. Returns the descriptor (O_RDWR).
///
/// # Errors
/// A message when the geometry does not allow that many extents or a call fails.
pub fn build_fragmented(
    p: &mut Process,
    fs: &Arc<dyn FileSystem>,
    path: &str,
    size: u64,
    extents: u64,
) -> Result<i32, String> {
    let bs = fs.statfs().block_size;
    let fd = p
        .open(path, o::CREAT | o::RDWR | o::TRUNC, 0o644)
        .map_err(|e| format!("open {path}: {e:?}"))?;
    let ino = p.file(fd).map_err(|e| format!("{e:?}"))?.inode.ino;
    if extents <= 1 {
        fs.write(&p.task, ino, 0, &Data::fill(0x61, size))
            .map_err(|e| format!("write: {e:?}"))?;
        return Ok(fd);
    }
    let stride = size / bs / extents;
    if stride < 2 {
        return Err(format!(
            "{size} bytes of {bs}-byte blocks cannot hold {extents} separate extents"
        ));
    }
    let len = (stride - 1) * bs;
    for i in 0..extents {
        fs.write(
            &p.task,
            ino,
            i * stride * bs,
            &Data::fill(0x61 + (i % 2) as u8, len),
        )
        .map_err(|e| format!("write extent {i}: {e:?}"))?;
    }
    p.ftruncate(fd, size as i64)
        .map_err(|e| format!("ftruncate: {e:?}"))?;
    Ok(fd)
}

/// What one whole-file copy did.
struct Copied {
    calls: u64,
    /// Nanoseconds of the first call.
    first: f64,
    /// Bytes done: less than the size when the copy was stopped at the time limit.
    done: u64,
}

/// One whole-file copy: `FICLONE`, or splice calls until the file is done — or until
/// `limit_ns` has passed (then the caller extrapolates from the bytes done; every call
/// covers the same share of a uniformly fragmented file).
fn copy(
    p: &mut Process,
    src: i32,
    dst: i32,
    size: u64,
    mode: &str,
    limit_ns: f64,
) -> Result<Copied, String> {
    let flags = match mode {
        "must" => MUST_SHARE,
        "may" => MAY_SHARE,
        "ficlone" => {
            let t = Instant::now();
            p.ficlone(dst, src).map_err(|e| format!("FICLONE: {e:?}"))?;
            return Ok(Copied {
                calls: 1,
                first: t.elapsed().as_nanos() as f64,
                done: size,
            });
        }
        other => return Err(format!("unknown mode {other}")),
    };
    let (mut oi, mut oo) = (0u64, 0u64);
    let (mut calls, mut first) = (0u64, 0.0);
    let start = Instant::now();
    while oi < size {
        let want = (size - oi) as usize;
        let at = oi;
        let t = Instant::now();
        let n = p
            .splice(src, Some(&mut oi), dst, Some(&mut oo), want, flags)
            .map_err(|e| format!("splice at {at}: {e:?}"))?;
        if calls == 0 {
            first = t.elapsed().as_nanos() as f64;
        }
        calls += 1;
        if n == 0 {
            return Err(format!("splice returned 0 at {oi} of {size}"));
        }
        if start.elapsed().as_nanos() as f64 > limit_ns {
            break;
        }
    }
    Ok(Copied {
        calls,
        first,
        done: oi,
    })
}

/// Checks that the destination maps what the source maps, every extent shared.
fn verify_shared(p: &Process, fs: &Arc<dyn FileSystem>, src: i32, dst: i32) -> Result<(), String> {
    let ino = |fd| {
        p.file(fd)
            .map(|f| f.inode.ino)
            .map_err(|e| format!("{e:?}"))
    };
    let s = fs.fiemap(ino(src)?).map_err(|e| format!("fiemap: {e:?}"))?;
    let d = fs.fiemap(ino(dst)?).map_err(|e| format!("fiemap: {e:?}"))?;
    let mapped = |v: &[vfs::extent::FiemapExtent]| v.iter().map(|e| e.length).sum::<u64>();
    if mapped(&s) != mapped(&d) {
        return Err(format!(
            "destination maps {} bytes, source {}",
            mapped(&d),
            mapped(&s)
        ));
    }
    if let Some(e) = d.iter().find(|e| e.flags & SHARED == 0) {
        return Err(format!("destination extent at {} is not shared", e.logical));
    }
    Ok(())
}

/// Child: `MODEL SIZE EXTENTS MODE QUICK`.
///
/// # Errors
/// The first failure.
pub fn child(args: &[String]) -> Result<(), String> {
    let model: String = arg(args, 0, "model")?;
    let size: u64 = arg(args, 1, "size")?;
    let extents: u64 = arg(args, 2, "extents")?;
    let mode: String = arg(args, 3, "mode")?;
    let quick = args.get(4).is_some_and(|q| q == "1");
    let (mut p, fs) = sim(&model)?;
    let bs = fs.statfs().block_size;
    // ocfs2-like with 4 KiB clusters stops at 16 TiB − 4 KiB (s_maxbytes).
    let size = size.min(fs.max_file_size() / bs * bs);
    emit("size", size);
    trim();
    let rss0 = rss();
    let t = Instant::now();
    let src = build_fragmented(&mut p, &fs, "/src", size, extents)?;
    emit("build_ns", t.elapsed().as_nanos());
    trim();
    emit("src_rss", rss().saturating_sub(rss0));
    let src_ino = p.file(src).map_err(|e| format!("{e:?}"))?.inode.ino;
    let fiemap = fs.fiemap(src_ino).map_err(|e| format!("{e:?}"))?;
    emit("extents", fiemap.len());

    let (min_iters, max_iters, budget_ns) = if quick { (1, 2, 2e8) } else { (3, 15, 6e8) };
    // A whole copy that takes longer than this is stopped and extrapolated.
    let limit_ns = std::env::var("SPLICELAB_BENCH_COPY_LIMIT_S")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(if quick { 1e9 } else { COPY_LIMIT_S * 1e9 }, |s| s * 1e9);
    let mut full = Vec::new();
    let mut first_calls = Vec::new();
    let mut calls = 0;
    let mut spent = 0.0;
    for i in 0..max_iters {
        let path = format!("/dst{i}");
        let dst = p
            .open(&path, o::CREAT | o::RDWR | o::TRUNC, 0o644)
            .map_err(|e| format!("open {path}: {e:?}"))?;
        let run = |p: &mut Process| {
            let t = Instant::now();
            let r = copy(p, src, dst, size, &mode, limit_ns);
            (t.elapsed().as_nanos() as f64, r)
        };
        let (elapsed, r) = if i == 0 {
            let (mem, (elapsed, r)) = peak_growth(|| run(&mut p));
            emit("mem_delta", mem.bytes);
            emit("mem_exact", mem.exact as u8);
            (elapsed, r)
        } else {
            run(&mut p)
        };
        let c = r?;
        let whole = if c.done < size {
            // Stopped at the limit: extrapolate by bytes (and calls) done.
            emit("projected_from_calls", c.calls);
            calls = size.div_ceil(c.done / c.calls);
            elapsed * size as f64 / c.done as f64
        } else {
            if i == 0 {
                verify_shared(&p, &fs, src, dst)?;
            }
            calls = c.calls;
            elapsed
        };
        full.push(whole);
        first_calls.push(c.first);
        spent += elapsed;
        p.close(dst).map_err(|e| format!("{e:?}"))?;
        p.unlink(&path).map_err(|e| format!("unlink: {e:?}"))?;
        if c.done < size {
            break;
        }
        let min = if full[0] > 1.5e9 { 1 } else { min_iters };
        if full.len() >= min && spent > budget_ns {
            break;
        }
    }
    let f = Summary::of(&full);
    let c = Summary::of(&first_calls);
    emit("calls", calls);
    emit("copy_median", f.median);
    emit("copy_first", full[0]);
    emit("copy_min", f.min);
    emit("copy_n", f.n);
    emit("copy_spread", f.rel_mad);
    emit("call_median", c.median);
    Ok(())
}

/// A child of table 1b: `splicelab race` of a must-share splice of a source of `extents`
/// extents of 8 KiB on `spec`, a 4 KiB read of the destination every 20 µs (virtual);
/// emits the race's virtual figures and its wall time.
///
/// # Errors
/// A bad spec or a failing setup call.
pub fn race_child(args: &[String]) -> Result<(), String> {
    use splicelab::pictures::timeline::{self, Arrivals, Other};
    use splicelab::tour::Method;
    let spec: String = arg(args, 0, "spec")?;
    let extents: u64 = arg(args, 1, "extents")?;
    let size = extents * RACE_EXTENT;
    trim();
    let t = Instant::now();
    let (mem, r) = peak_growth(|| {
        timeline::race(
            &spec,
            &spec,
            size,
            Method::SpliceMust,
            Some(RACE_EXTENT),
            Other::READER_OF_DST,
            Arrivals::Every(RACE_INTERVAL_NS),
        )
    });
    emit("wall_ns", t.elapsed().as_nanos());
    let r = r?;
    emit("mem_delta", mem.bytes);
    emit("extents", r.src_extents);
    emit("call_ns", r.copy_end - r.copy_start);
    emit("wait_ns", r.longest_wait());
    emit("hold_ns", r.longest_hold());
    emit("reads", r.reads.len());
    Ok(())
}

/// Table 1b's source: extents of 8 KiB, and the reader's interval (virtual).
const RACE_EXTENT: u64 = 8192;
const RACE_INTERVAL_NS: u64 = 20_000;

/// Targets of issue 20 for `remap=swap`, and of its benchmark.
pub const SWAP_WAIT_SHARE: f64 = 0.01;
pub const SWAP_CALL_RATIO: f64 = 1.5;
pub const RACE_WALL_NS: f64 = 1e9;

/// Table 1b: a reader of the destination during a 100,000-extent must-share, with the
/// remap built under the inode locks (Linux's way) and with `remap=swap`.
fn swap_table(run: &mut Run) {
    let extents: u64 = if run.opts.quick { 10_000 } else { 100_000 };
    let mut t = Table::new(
        "1b. remap=swap: who waits during a must-share of many extents",
        &[
            "model",
            "remap",
            "extents",
            "call (virtual)",
            "longest reader wait",
            "wait ÷ call",
            "call ÷ locked",
            "wall time",
            "wall ÷ locked",
            "peak RSS Δ",
            "targets",
        ],
    );
    let (mut worst_share, mut worst_ratio, mut worst_wall) = (0.0f64, 0.0f64, 0.0f64);
    for model in MODELS {
        let mut locked: Option<(f64, f64)> = None;
        for remap in ["locked", "swap"] {
            let spec = format!("{model}:remap={remap}");
            eprint!("  sharing: race {spec} …");
            let r = spawn_child("race", &[spec.clone(), extents.to_string()]);
            eprintln!(" done");
            let f = match r {
                Ok(f) => f,
                Err(e) => {
                    t.row(vec![model.into(), remap.into(), "error".into(), e]);
                    continue;
                }
            };
            let g = |k| num(&f, k).unwrap_or(f64::NAN);
            let (call, wait, wall) = (g("call_ns"), g("wait_ns"), g("wall_ns"));
            let share = wait / call;
            let (call_ratio, wall_ratio) = match locked {
                Some((c, w)) => (call / c, wall / w),
                None => {
                    locked = Some((call, wall));
                    (1.0, 1.0)
                }
            };
            worst_wall = worst_wall.max(wall);
            let ok = if remap == "swap" {
                worst_share = worst_share.max(share);
                worst_ratio = worst_ratio.max(call_ratio);
                Some(share <= SWAP_WAIT_SHARE && call_ratio <= SWAP_CALL_RATIO)
            } else {
                None
            };
            t.row(vec![
                model.into(),
                remap.into(),
                count(g("extents") as u64),
                ns(call),
                ns(wait),
                format!("{:.3} %", share * 100.0),
                ratio(call_ratio),
                ns(wall),
                ratio(wall_ratio),
                bytes(g("mem_delta")),
                verdict(ok),
            ]);
        }
    }
    t.note("`splicelab race --fs MODEL:remap=R --call must --extents N --interval 20us` run in a child: a source of N extents of 8 KiB, a 4 KiB pread of the destination every 20 µs of virtual time; call, wait and their ratios are virtual time (deterministic); wall time and peak RSS Δ are this machine's for the whole race, setup included.");
    t.note("targets (issue 20): with remap=swap the longest reader wait ≤ 1 % of the call and the call ≤ 1.5 × the locked one; the whole race well under a second of wall time.");
    run.table(t);
    run.target(
        "1 sharing",
        format!(
            "remap=swap, {} extents: reader wait ≤ 1 % of the call",
            count(extents)
        ),
        format!("worst {:.3} %", worst_share * 100.0),
        Some(worst_share <= SWAP_WAIT_SHARE),
    );
    run.target(
        "1 sharing",
        "remap=swap: call ≤ 1.5 × the locked remap",
        format!("worst {}", ratio(worst_ratio)),
        Some(worst_ratio <= SWAP_CALL_RATIO),
    );
    run.target(
        "1 sharing",
        "a race of many extents < 1 s of wall time per model",
        format!("worst {}", ns(worst_wall)),
        Some(worst_wall < RACE_WALL_NS),
    );
}

fn size_name(s: u64) -> String {
    bytes(s as f64)
}

/// Runs the group.
pub fn run(run: &mut Run) {
    let quick = run.opts.quick;
    let sizes: Vec<u64> = if quick {
        vec![GIB, 16 * TIB]
    } else {
        vec![GIB, TIB, 16 * TIB]
    };
    let extent_counts: Vec<u64> = if quick {
        vec![1, 1000]
    } else {
        vec![1, 1000, 100_000]
    };
    let modes: Vec<&str> = if quick {
        vec!["must"]
    } else {
        vec!["must", "may", "ficlone"]
    };
    let memcpy = run.memcpy_4k.median;
    let mut t = Table::new(
        "1. Sharing cost: extents, not bytes",
        &[
            "model",
            "size",
            "extents",
            "mode",
            "calls",
            "1st call",
            "whole copy",
            "÷ 1-ext must 1 GiB",
            "÷ memcpy 4 KiB",
            "peak RSS Δ",
            "B/extent",
            "time target",
            "mem target",
        ],
    );
    // (model, mode) → worst verdicts, for the summary.
    let mut one_ext: Vec<(String, f64)> = Vec::new();
    let mut hundred_k: Vec<(String, f64)> = Vec::new();
    let mut per_ext: Vec<(String, f64)> = Vec::new();
    let mut per_call_one: Vec<f64> = Vec::new();
    for model in MODELS {
        let mut base = f64::NAN;
        for &size in &sizes {
            for &n in &extent_counts {
                for &mode in &modes {
                    let args = vec![
                        model.to_string(),
                        size.to_string(),
                        n.to_string(),
                        mode.to_string(),
                        (quick as u8).to_string(),
                    ];
                    let label = format!("{model} {} {} extents {mode}", size_name(size), count(n));
                    eprint!("  sharing: {label} …");
                    let r = spawn_child("sharing", &args);
                    eprintln!(" done");
                    let f = match r {
                        Ok(f) => f,
                        Err(e) => {
                            t.row(vec![
                                model.into(),
                                size_name(size),
                                count(n),
                                mode.into(),
                                "error".into(),
                                e,
                            ]);
                            continue;
                        }
                    };
                    let g = |k| num(&f, k).unwrap_or(f64::NAN);
                    let copy = g("copy_median");
                    if size == GIB && n == 1 && mode == "must" {
                        base = copy;
                    }
                    let ext = g("extents");
                    let mem = g("mem_delta");
                    let per = if n >= 1000 { mem / ext } else { f64::NAN };
                    let time_ok = if n == 1 {
                        one_ext.push((label.clone(), copy));
                        per_call_one.push(g("call_median"));
                        Some(copy <= ONE_EXTENT_NS)
                    } else if n == 100_000 {
                        hundred_k.push((label.clone(), copy));
                        Some(copy <= HUNDRED_K_EXTENTS_NS)
                    } else {
                        None
                    };
                    let mem_ok = if n >= 1000 {
                        per_ext.push((label.clone(), per));
                        Some(per <= BYTES_PER_EXTENT)
                    } else {
                        None
                    };
                    let real_size = g("size") as u64;
                    t.row(vec![
                        model.into(),
                        if real_size == size {
                            size_name(size)
                        } else {
                            format!("{} (s_maxbytes)", bytes(real_size as f64))
                        },
                        count(ext as u64),
                        mode.into(),
                        count(g("calls") as u64),
                        ns(g("call_median")),
                        match f.get("projected_from_calls") {
                            Some(k) => format!(
                                "≥ {} (stopped after {} calls; lower bound)",
                                ns(copy),
                                count(k.parse().unwrap_or(0))
                            ),
                            None => ns(copy),
                        },
                        ratio(copy / base),
                        ratio(copy / memcpy),
                        bytes(mem),
                        if per.is_finite() {
                            format!("{per:.0}")
                        } else {
                            "—".into()
                        },
                        verdict(time_ok),
                        verdict(mem_ok),
                    ]);
                }
            }
        }
    }
    t.note("calls: splice calls per whole copy (byte-copied parts are capped at MAX_RW_COUNT = 2 GiB − 4 KiB per call, shared parts are not); 1st call: median time of the first call of a copy; whole copy: median over ≥3 copies (each to a new destination, unlinked untimed afterwards).");
    t.note("≥ … lower bound: a whole copy still running after 5 s was stopped and its time extrapolated linearly by bytes done. Every call covers the same share of the evenly fragmented file, but later calls may cost more (the destination grows), so the true time may be higher; the peak RSS Δ is of the part done.");
    t.note("peak RSS Δ: peak-RSS growth during the first copy in a fresh process (heap trimmed, VmHWM reset via /proc/self/clear_refs); B/extent = Δ / extents (page-granular, so only meaningful from 1,000 extents).");
    t.note("time target: 1 extent ≤ 20 µs for the whole copy; 100,000 extents ≤ 50 ms; mem target ≤ 256 B/extent.");
    run.table(t);
    let worst = |v: &[(String, f64)]| {
        v.iter()
            .filter(|x| x.1.is_finite())
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .cloned()
    };
    if let Some((l, x)) = worst(&one_ext) {
        let over = one_ext.iter().filter(|x| x.1 > ONE_EXTENT_NS).count();
        run.target(
            "1 sharing",
            "1-extent copy of any size ≤ 20 µs",
            format!(
                "worst {} ({l}); {over} of {} cells over; single calls ≤ {}",
                ns(x),
                one_ext.len(),
                ns(per_call_one.iter().cloned().fold(0.0, f64::max))
            ),
            Some(over == 0),
        );
    }
    if let Some((l, x)) = worst(&hundred_k) {
        let over = hundred_k
            .iter()
            .filter(|x| x.1 > HUNDRED_K_EXTENTS_NS)
            .count();
        run.target(
            "1 sharing",
            "100,000 extents ≤ 50 ms",
            format!(
                "worst {} ({l}); {over} of {} cells over",
                ns(x),
                hundred_k.len()
            ),
            Some(over == 0),
        );
    }
    if let Some((l, x)) = worst(&per_ext) {
        let over = per_ext.iter().filter(|x| x.1 > BYTES_PER_EXTENT).count();
        run.target(
            "1 sharing",
            "memory ≤ 256 B per extent",
            format!(
                "worst {x:.0} B ({l}); {over} of {} cells over",
                per_ext.len()
            ),
            Some(over == 0),
        );
    }
    swap_table(run);
}
