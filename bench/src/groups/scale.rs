//! Group 5: the scale curve.
//!
//! Time and memory as the file count (1 … 1,000,000 files created in one directory), the
//! extent count (1 … 1,000,000 extents in one file) and the reflink count (1 … 1,000,000
//! one-block must-share splices onto the end of one file) grow, each point in a fresh
//! process. Every step of ×10 compares the per-item cost with the previous point's: more
//! than ×2 per ×10 step is flagged as super-linear.
//!
//! Two known suspects are measured on purpose:
//! - `vfs::crash::Journal::logged` snapshots the device view after every metadata change
//!   on metadata-log models (plain, ocfs2-like, xfs-like) while it has at most
//!   `SNAPSHOT_EXTENT_LIMIT` extents plus inodes; btrfs-like does not. Hence the same curve
//!   on plain, xfs-like and btrfs-like.
//! - `Image::rename` → `is_ancestor` finds each parent by scanning every inode: a
//!   directory rename costs O(inodes · depth).

use std::time::Instant;

use syscall::Syscalls;
use syscall::api::o;
use syscall::flags::splice::MUST_SHARE;

use super::sharing::build_fragmented;
use super::{Run, arg, sim};
use crate::measure::{Budget, peak_growth, sample, trim};
use crate::report::{Table, bytes, count, ns, ratio};
use crate::{emit, num, spawn_child};

/// A point taking longer than this (projected) is skipped, and so are the larger ones.
const LIMIT_S: f64 = 60.0;
/// Per-item cost growing more than this per ×10 step is flagged.
const FLAG_RATIO: f64 = 2.0;

/// Child: `MODEL N LIMIT_S`: creates N files in `/d`, then times directory and file renames.
///
/// # Errors
/// The first failing call.
pub fn files_child(args: &[String]) -> Result<(), String> {
    let model: String = arg(args, 0, "model")?;
    let n: u64 = arg(args, 1, "files")?;
    let limit: f64 = arg(args, 2, "limit")?;
    let (mut p, _fs) = sim(&model)?;
    p.mkdir("/d", 0o755).map_err(|e| format!("mkdir: {e:?}"))?;
    let (mem, r) = peak_growth(|| -> Result<(f64, u64), String> {
        let t = Instant::now();
        for i in 0..n {
            let fd = p
                .open(&format!("/d/f{i}"), o::CREAT | o::WRONLY, 0o644)
                .map_err(|e| format!("create f{i}: {e:?}"))?;
            p.close(fd).map_err(|e| format!("{e:?}"))?;
            if i % 1024 == 1023 && t.elapsed().as_secs_f64() > limit {
                return Ok((t.elapsed().as_nanos() as f64, i + 1));
            }
        }
        Ok((t.elapsed().as_nanos() as f64, n))
    });
    let (elapsed, done) = r?;
    emit("create_ns", elapsed);
    emit("created", done);
    emit("mem_delta", mem.bytes);
    // A directory rename walks up from the target with is_ancestor; a file rename does not.
    p.mkdir("/d/sub", 0o755).map_err(|e| format!("{e:?}"))?;
    p.mkdir("/d/sub/inner", 0o755)
        .map_err(|e| format!("{e:?}"))?;
    p.mkdir("/e", 0o755).map_err(|e| format!("{e:?}"))?;
    let budget = Budget::new(3, 20, 300);
    let mut flip = false;
    let dir = sample(budget, |_| {
        let (a, b) = if flip {
            ("/e/sub", "/d/sub")
        } else {
            ("/d/sub", "/e/sub")
        };
        flip = !flip;
        let t = Instant::now();
        let r = p.rename(a, b);
        let ns = t.elapsed().as_nanos() as f64;
        if r.is_err() { f64::NAN } else { ns }
    });
    emit("rename_dir_ns", dir.median);
    let fd = p
        .open("/d/x", o::CREAT | o::WRONLY, 0o644)
        .map_err(|e| format!("{e:?}"))?;
    p.close(fd).map_err(|e| format!("{e:?}"))?;
    let mut flip = false;
    let file = sample(budget, |_| {
        let (a, b) = if flip {
            ("/d/y", "/d/x")
        } else {
            ("/d/x", "/d/y")
        };
        flip = !flip;
        let t = Instant::now();
        let r = p.rename(a, b);
        let ns = t.elapsed().as_nanos() as f64;
        if r.is_err() { f64::NAN } else { ns }
    });
    emit("rename_file_ns", file.median);
    Ok(())
}

/// Child: `MODEL EXTENTS`: builds a file of that many extents (a one-block hole after
/// each), then FICLONEs it and copies it with must-share splice.
///
/// # Errors
/// The first failing call.
pub fn extents_child(args: &[String]) -> Result<(), String> {
    let model: String = arg(args, 0, "model")?;
    let e: u64 = arg(args, 1, "extents")?;
    let (mut p, fs) = sim(&model)?;
    let bs = fs.statfs().block_size;
    let size = 2 * e.max(1) * bs;
    let t = Instant::now();
    let (build_mem, src) = peak_growth(|| build_fragmented(&mut p, &fs, "/src", size, e));
    let src = src?;
    emit("build_ns", t.elapsed().as_nanos());
    emit("build_mem", build_mem.bytes);
    let ino = p.file(src).map_err(|x| format!("{x:?}"))?.inode.ino;
    emit(
        "extents",
        fs.fiemap(ino).map_err(|x| format!("{x:?}"))?.len(),
    );
    // FICLONE: the engine's cost, one call whatever the size. The first clone's peak-RSS
    // growth is the memory figure; the time is the median of up to five clones.
    let mut i = 0;
    let mut clone_err = None;
    let clone = sample(Budget::new(1, 5, 300), |_| {
        let path = format!("/clone{i}");
        let Ok(dst) = p.open(&path, o::CREAT | o::RDWR, 0o644) else {
            return f64::NAN;
        };
        let (mem, (ns, r)) = peak_growth(|| {
            let t = Instant::now();
            let r = p.ficlone(dst, src);
            (t.elapsed().as_nanos() as f64, r)
        });
        if i == 0 {
            emit("clone_mem", mem.bytes);
        }
        if let Err(x) = r {
            clone_err.get_or_insert(format!("FICLONE: {x:?}"));
        }
        i += 1;
        let _ = p.close(dst);
        let _ = p.unlink(&path);
        ns
    });
    if let Some(e) = clone_err {
        return Err(e);
    }
    emit("clone_ns", clone.median);
    trim();
    // Must-share splice, called until the whole file is copied.
    let mut i = 0;
    let mut calls = 0u64;
    let mut err = None;
    let copy = sample(Budget::new(1, 5, 500), |_| {
        let path = format!("/dst{i}");
        i += 1;
        let Ok(dst) = p.open(&path, o::CREAT | o::RDWR, 0o644) else {
            return f64::NAN;
        };
        let (mut oi, mut oo) = (0u64, 0u64);
        calls = 0;
        let t = Instant::now();
        while oi < size {
            let want = (size - oi) as usize;
            match p.splice(src, Some(&mut oi), dst, Some(&mut oo), want, MUST_SHARE) {
                Ok(n) if n > 0 => calls += 1,
                r => {
                    err.get_or_insert(format!("splice at {oi}: {r:?}"));
                    break;
                }
            }
        }
        let ns = t.elapsed().as_nanos() as f64;
        let _ = p.close(dst);
        let _ = p.unlink(&path);
        ns
    });
    if let Some(e) = err {
        return Err(e);
    }
    emit("splice_ns", copy.median);
    emit("splice_calls", calls);
    Ok(())
}

/// Child: `MODEL N`: writes one block to `/c`, then N times must-share-splices block 0 of
/// `/c` onto its own end (`splice -d … -l 4k -F must c`): each call is one reflink into a
/// file that already holds all the earlier ones. Emits the total time and the time of the
/// last `min(N, 1000)` reflinks (the marginal cost at that size).
///
/// # Errors
/// The first failing call.
pub fn reflinks_child(args: &[String]) -> Result<(), String> {
    let model: String = arg(args, 0, "model")?;
    let n: u64 = arg(args, 1, "reflinks")?;
    let (mut p, fs) = sim(&model)?;
    let bs = fs.statfs().block_size;
    let c = p
        .open("/c", o::CREAT | o::RDWR, 0o644)
        .map_err(|x| format!("open: {x:?}"))?;
    p.pwrite(c, &vfs::Data::fill(b'a', bs), 0)
        .map_err(|x| format!("pwrite: {x:?}"))?;
    p.fsync(c).map_err(|x| format!("fsync: {x:?}"))?;
    let tail = n.min(1000);
    let (mem, r) = peak_growth(|| {
        let t = Instant::now();
        let mut tail_start = t;
        for b in 1..=n {
            if b == n - tail + 1 {
                tail_start = Instant::now();
            }
            let (mut oi, mut oo) = (0u64, b * bs);
            match p.splice(c, Some(&mut oi), c, Some(&mut oo), bs as usize, MUST_SHARE) {
                Ok(k) if k as u64 == bs => {}
                r => return Err(format!("splice to block {b}: {r:?}")),
            }
        }
        Ok((t.elapsed().as_nanos(), tail_start.elapsed().as_nanos()))
    });
    let (total, last) = r?;
    emit("reflinks", n);
    emit("total_ns", total);
    emit("tail_ns", last);
    emit("tail", tail);
    emit("mem", mem.bytes);
    Ok(())
}

/// Per-item cost ratio against the previous point and whether it is flagged.
fn step(prev: Option<f64>, cur: f64) -> (String, bool) {
    match prev {
        Some(p) if p > 0.0 && cur.is_finite() => {
            let r = cur / p;
            (ratio(r), r > FLAG_RATIO)
        }
        _ => ("—".into(), false),
    }
}

/// Runs the group.
pub fn run(run: &mut Run) {
    let quick = run.opts.quick;
    let limit = if quick { 5.0 } else { LIMIT_S };
    let max_pow = if quick { 4 } else { 6 };
    let points: Vec<u64> = (0..=max_pow).map(|k| 10u64.pow(k)).collect();
    let mut flags: Vec<String> = Vec::new();

    // ---------------------------------------------------------------- file count
    let mut t = Table::new(
        "5a. Scale: N files created in one directory",
        &[
            "model",
            "files",
            "create total",
            "per create",
            "÷ previous point",
            "÷ btrfs-like",
            "peak RSS Δ per file",
            "dir rename",
            "file rename",
            "super-linear?",
        ],
    );
    let models = ["btrfs-like", "plain", "xfs-like"];
    let mut btrfs_per: Vec<f64> = Vec::new();
    for model in models {
        let mut prev: Option<f64> = None;
        let mut prev_rename: Option<f64> = None;
        let mut skip: Option<String> = None;
        for (k, &n) in points.iter().enumerate() {
            if let Some(why) = &skip {
                t.row(vec![model.into(), count(n), why.clone()]);
                continue;
            }
            eprint!("  scale: {model} {} files …", count(n));
            let r = spawn_child(
                "scale-files",
                &[model.to_string(), n.to_string(), limit.to_string()],
            );
            eprintln!(" done");
            let f = match r {
                Ok(f) => f,
                Err(e) => {
                    t.row(vec![model.into(), count(n), "error".into(), e]);
                    skip = Some("skipped after an error".into());
                    continue;
                }
            };
            let g = |k| num(&f, k).unwrap_or(f64::NAN);
            let created = g("created");
            let total = g("create_ns");
            let per = total / created;
            if model == "btrfs-like" {
                btrfs_per.push(per);
            }
            let vs_btrfs = btrfs_per.get(k).map_or(f64::NAN, |b| per / b);
            let (r, flagged) = step(prev, per);
            let (rr, rflag) = step(prev_rename, g("rename_dir_ns"));
            let mut flag_cell = String::new();
            if flagged {
                flag_cell.push_str(&format!("FLAG: create {r}"));
                flags.push(format!(
                    "{model}: per-create cost {r} from {} to {} files",
                    count(n / 10),
                    count(n)
                ));
            }
            if rflag && n >= 1000 {
                if !flag_cell.is_empty() {
                    flag_cell.push_str("; ");
                }
                flag_cell.push_str(&format!("FLAG: dir rename {rr}"));
                flags.push(format!(
                    "{model}: directory rename cost {rr} from {} to {} files",
                    count(n / 10),
                    count(n)
                ));
            }
            let partial = created < n as f64;
            t.row(vec![
                model.into(),
                if partial {
                    format!("{} (stopped at {})", count(n), count(created as u64))
                } else {
                    count(n)
                },
                ns(total),
                ns(per),
                r,
                ratio(vs_btrfs),
                bytes(g("mem_delta") / created),
                ns(g("rename_dir_ns")),
                ns(g("rename_file_ns")),
                if flag_cell.is_empty() {
                    "no".into()
                } else {
                    flag_cell
                },
            ]);
            // Project the next point: ten times the items at a per-item cost that keeps
            // growing as it just did.
            let growth = prev.map_or(1.0, |p| (per / p).max(1.0));
            let next_s = per * growth * (n * 10) as f64 / 1e9;
            if partial || (k + 1 < points.len() && next_s > limit) {
                skip = Some(format!(
                    "skipped: projected ≈ {:.0} s (limit {limit:.0} s)",
                    if partial {
                        per * growth * 10.0 * n as f64 / 1e9
                    } else {
                        next_s
                    }
                ));
            }
            prev = Some(per);
            prev_rename = Some(g("rename_dir_ns"));
        }
    }
    t.note("Each point in a fresh process: mkdir /d, then N × (open(O_CREAT) + close). peak RSS Δ per file: peak-RSS growth during the creates / N. dir rename: rename(2) of a directory between two parents (Image::rename → is_ancestor); file rename: rename(2) of a file in /d.");
    t.note("÷ previous point: per-create (or per-rename) cost ratio to the point with 10× fewer files; more than ×2 is flagged as super-linear (directory renames only from 1,000 files on; below that the timer dominates).");
    run.table(t);

    // ---------------------------------------------------------------- extent count
    let mut t = Table::new(
        "5b. Scale: one file with E extents",
        &[
            "model",
            "extents",
            "build per extent",
            "FICLONE",
            "per extent",
            "÷ previous point",
            "must-share copy (calls)",
            "per extent",
            "build RSS per extent",
            "FICLONE RSS Δ per extent",
            "super-linear?",
        ],
    );
    for model in ["btrfs-like", "xfs-like"] {
        let mut prev: Option<f64> = None;
        let mut prev_splice: Option<f64> = None;
        let mut skip: Option<String> = None;
        for &e in &points {
            if let Some(why) = &skip {
                t.row(vec![model.into(), count(e), why.clone()]);
                continue;
            }
            eprint!("  scale: {model} {} extents …", count(e));
            let r = spawn_child("scale-extents", &[model.to_string(), e.to_string()]);
            eprintln!(" done");
            let f = match r {
                Ok(f) => f,
                Err(err) => {
                    t.row(vec![model.into(), count(e), "error".into(), err]);
                    skip = Some("skipped after an error".into());
                    continue;
                }
            };
            let g = |k| num(&f, k).unwrap_or(f64::NAN);
            let ext = g("extents");
            let per_clone = g("clone_ns") / ext;
            let per_splice = g("splice_ns") / ext;
            let (r, flagged) = step(prev, per_clone);
            let (rs, sflag) = step(prev_splice, per_splice);
            let mut flag_cell = String::new();
            if flagged && e >= 1000 {
                flag_cell.push_str(&format!("FLAG: FICLONE {r}"));
                flags.push(format!(
                    "{model}: FICLONE per-extent cost {r} from {} to {} extents",
                    count(e / 10),
                    count(e)
                ));
            }
            if sflag && e >= 1000 {
                if !flag_cell.is_empty() {
                    flag_cell.push_str("; ");
                }
                flag_cell.push_str(&format!("FLAG: splice {rs}"));
                flags.push(format!(
                    "{model}: must-share copy per-extent cost {rs} from {} to {} extents",
                    count(e / 10),
                    count(e)
                ));
            }
            t.row(vec![
                model.into(),
                count(ext as u64),
                ns(g("build_ns") / ext),
                ns(g("clone_ns")),
                ns(per_clone),
                r,
                format!(
                    "{} ({})",
                    ns(g("splice_ns")),
                    count(g("splice_calls") as u64)
                ),
                format!("{} ({rs})", ns(per_splice)),
                bytes(g("build_mem") / ext),
                bytes(g("clone_mem") / ext),
                if flag_cell.is_empty() {
                    "no".into()
                } else {
                    flag_cell
                },
            ]);
            let next_s = g("build_ns") * 10.0 / 1e9;
            if next_s > limit {
                skip = Some(format!("skipped: projected build ≈ {next_s:.0} s"));
            }
            prev = Some(per_clone);
            prev_splice = Some(per_splice);
        }
    }
    t.note("File size 2·E blocks (a one-block hole after each extent). Each point in a fresh process; FICLONE: median of up to 5 (each to a new file, unlinked untimed), RSS Δ of the first; the must-share copy is splice(SPLICE_F_MUST_SHARE) called until the file is done (median of up to 5). Extent steps are flagged from 1,000 extents on (below that, fixed per-call costs dominate the per-extent figure).");
    run.table(t);

    // ---------------------------------------------------------------- reflink count
    let mut t = Table::new(
        "5c. Scale: N reflinks into one file",
        &[
            "model",
            "reflinks",
            "total",
            "per reflink",
            "÷ previous point",
            "last ≤1,000: per reflink",
            "÷ previous point",
            "÷ memcpy 4 KiB",
            "peak RSS Δ per reflink",
            "super-linear?",
        ],
    );
    for model in ["xfs-like", "ocfs2-like", "btrfs-like"] {
        let mut prev: Option<f64> = None;
        let mut prev_tail: Option<f64> = None;
        let mut skip: Option<String> = None;
        for &n in &points {
            if let Some(why) = &skip {
                t.row(vec![model.into(), count(n), why.clone()]);
                continue;
            }
            eprint!("  scale: {model} {} reflinks …", count(n));
            let r = spawn_child("scale-reflinks", &[model.to_string(), n.to_string()]);
            eprintln!(" done");
            let f = match r {
                Ok(f) => f,
                Err(err) => {
                    t.row(vec![model.into(), count(n), "error".into(), err]);
                    skip = Some("skipped after an error".into());
                    continue;
                }
            };
            let g = |k| num(&f, k).unwrap_or(f64::NAN);
            let per = g("total_ns") / g("reflinks");
            let per_tail = g("tail_ns") / g("tail");
            let (r, flagged) = step(prev, per);
            let (rt, tflag) = step(prev_tail, per_tail);
            let mut flag_cell = String::new();
            // From 1,000 reflinks on: below that, fixed per-call costs dominate.
            if n >= 1000 && (flagged || tflag) {
                flag_cell = format!("FLAG: per reflink {r}, marginal {rt}");
                flags.push(format!(
                    "{model}: per-reflink cost {r} (marginal {rt}) from {} to {} reflinks",
                    count(n / 10),
                    count(n)
                ));
            }
            t.row(vec![
                model.into(),
                count(n),
                ns(g("total_ns")),
                ns(per),
                r,
                ns(per_tail),
                rt,
                ratio(per / run.memcpy_4k.median),
                bytes(g("mem") / g("reflinks")),
                if flag_cell.is_empty() {
                    "no".into()
                } else {
                    flag_cell
                },
            ]);
            let next_s = g("total_ns") * 10.0 / 1e9;
            if next_s > limit {
                skip = Some(format!("skipped: projected ≈ {next_s:.0} s"));
            }
            prev = Some(per);
            prev_tail = Some(per_tail);
        }
    }
    t.note("Each point in a fresh process: one block written to /c and fsynced, then N × splice(/c, off_in 0, /c, off_out = b·4 KiB, 4 KiB, SPLICE_F_MUST_SHARE) for b = 1 … N — every call one reflink of the same block onto the end of the file, which holds all the earlier ones (a metadata-log model snapshots its device view after each). per reflink: total ÷ N; last ≤1,000: the marginal cost at that size (the last min(N, 1,000) calls). ÷ previous point: against the point with 10× fewer reflinks, flagged above ×2 from 1,000 reflinks on; ÷ memcpy 4 KiB: against the same-run baseline.");
    run.table(t);
    let n = flags.len();
    run.target(
        "5 scale",
        "no super-linear step (> ×2 per-item cost per ×10)",
        if flags.is_empty() {
            "none flagged".to_string()
        } else {
            format!("{n} flagged: {}", flags.join("; "))
        },
        Some(flags.is_empty()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_flag_only_above_twice() {
        assert!(!step(None, 5.0).1);
        assert!(!step(Some(1.0), 2.0).1);
        assert!(step(Some(1.0), 2.5).1);
    }
}
