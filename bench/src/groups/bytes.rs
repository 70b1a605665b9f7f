//! Group 2: the byte path close to memory bandwidth.
//!
//! A never-share splice of 1 GiB of materialised random bytes (`Data::bytes`) on plain,
//! against `copy_from_slice` of the same 1 GiB in the same process: once into a fresh
//! destination (which, like the simulator's copy, has to fault its pages in) and once into
//! a warm one (pure bandwidth).

use std::hint::black_box;
use std::time::Instant;

use syscall::Syscalls;
use syscall::api::o;
use vfs::data::Data;

use super::{Run, arg, sim};
use crate::measure::Summary;
use crate::report::{Table, bytes, ns, verdict};
use crate::{emit, num, spawn_child};

/// Target: the byte path reaches this fraction of `copy_from_slice`.
pub const TARGET: f64 = 0.5;

/// Fills `buf` with splitmix64 output (fast, reproducible, incompressible).
pub fn fill_random(buf: &mut [u8], seed: u64) {
    let mut z = seed;
    for chunk in buf.chunks_mut(8) {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

/// Child: `SIZE SPEC REPS`.
///
/// # Errors
/// The first failure.
pub fn child(args: &[String]) -> Result<(), String> {
    let size: usize = arg(args, 0, "size")?;
    let spec: String = arg(args, 1, "spec")?;
    let reps: usize = arg(args, 2, "reps")?;
    // Keep freed heap memory in the process (glibc otherwise hands 1 MiB chunks back to
    // the kernel and faults them in again): the timed copies then measure the simulator's
    // steady state, like the warm baseline, not this machine's page-fault cost. The first,
    // cold copy is reported on its own.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; no allocation is in flight.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
    let mut buf = vec![0u8; size];
    fill_random(&mut buf, 42);

    // Baselines: copy_from_slice into a fresh (not yet faulted) and a warm destination.
    let mut fresh = Vec::new();
    // Page faults dominate this one; three are enough for a median.
    for _ in 0..reps.min(3) {
        let mut d = vec![0u8; size];
        let t = Instant::now();
        d.copy_from_slice(black_box(&buf));
        fresh.push(t.elapsed().as_nanos() as f64);
        black_box(&d);
    }
    let mut warm = Vec::new();
    {
        let mut d = vec![1u8; size];
        for _ in 0..reps {
            let t = Instant::now();
            d.copy_from_slice(black_box(&buf));
            warm.push(t.elapsed().as_nanos() as f64);
            black_box(&mut d);
        }
    }
    let data = Data::bytes(&buf);
    drop(buf);

    let (mut p, fs) = sim(&spec)?;
    let src = p
        .open("/src", o::CREAT | o::RDWR, 0o644)
        .map_err(|e| format!("{e:?}"))?;
    let n = p
        .pwrite(src, &data, 0)
        .map_err(|e| format!("pwrite: {e:?}"))?;
    if n != size {
        return Err(format!("pwrite wrote {n} of {size}"));
    }
    let mut sim_ns = Vec::new();
    let mut cold = 0.0;
    for i in 0..=reps {
        let path = format!("/dst{i}");
        let dst = p
            .open(&path, o::CREAT | o::RDWR, 0o644)
            .map_err(|e| format!("{e:?}"))?;
        let (mut oi, mut oo) = (0u64, 0u64);
        let t = Instant::now();
        while (oi as usize) < size {
            let want = size - oi as usize;
            let n = p
                .splice(src, Some(&mut oi), dst, Some(&mut oo), want, 0)
                .map_err(|e| format!("splice: {e:?}"))?;
            if n == 0 {
                return Err("splice returned 0".into());
            }
        }
        let ns = t.elapsed().as_nanos() as f64;
        if i == 0 {
            cold = ns;
        } else {
            sim_ns.push(ns);
        }
        if i == 0 {
            let f = p.file(dst).map_err(|e| format!("{e:?}"))?;
            let got = fs
                .read(&p.task, f.inode.ino, 0, size as u64)
                .map_err(|e| format!("{e:?}"))?;
            if !got.has_bytes() || !got.same_content(&data) {
                return Err("destination differs from the source".into());
            }
            let stats = p.task.stats();
            emit("chunks", stats.chunks);
            emit("bytes_shared", stats.bytes_shared);
        }
        p.close(dst).map_err(|e| format!("{e:?}"))?;
        p.unlink(&path).map_err(|e| format!("{e:?}"))?;
    }
    emit("sim_cold", cold);
    for (k, v) in [("fresh", &fresh), ("warm", &warm), ("sim", &sim_ns)] {
        let s = Summary::of(v);
        emit(&format!("{k}_median"), s.median);
        emit(&format!("{k}_min"), s.min);
        emit(&format!("{k}_first"), v[0]);
    }
    Ok(())
}

/// Runs the group.
pub fn run(run: &mut Run) {
    let (size, reps) = if run.opts.quick {
        (64usize << 20, 2)
    } else {
        (1usize << 30, 5)
    };
    let mut t = Table::new(
        "2. Byte path: never-share splice of real bytes on plain",
        &[
            "mount",
            "size",
            "copy_from_slice fresh",
            "copy_from_slice warm",
            "splice cold (1st)",
            "splice (median)",
            "splice GB/s",
            "÷ fresh (speed)",
            "÷ warm (speed)",
            "target ≥ 50% of warm",
        ],
    );
    for (i, spec) in ["plain"].iter().enumerate() {
        eprint!("  bytes: {spec} …");
        let r = spawn_child(
            "bytes",
            &[size.to_string(), spec.to_string(), reps.to_string()],
        );
        eprintln!(" done");
        let f = match r {
            Ok(f) => f,
            Err(e) => {
                t.row(vec![spec.to_string(), "error".into(), e]);
                continue;
            }
        };
        let g = |k| num(&f, k).unwrap_or(f64::NAN);
        let (fresh, warm, sim) = (g("fresh_median"), g("warm_median"), g("sim_median"));
        let speed_fresh = fresh / sim;
        let speed_warm = warm / sim;
        t.row(vec![
            spec.to_string(),
            bytes(size as f64),
            ns(fresh),
            ns(warm),
            ns(g("sim_cold")),
            ns(sim),
            format!("{:.2}", size as f64 / sim),
            format!("{:.0}%", speed_fresh * 100.0),
            format!("{:.0}%", speed_warm * 100.0),
            verdict(Some(speed_warm >= TARGET)),
        ]);
        if i == 0 {
            run.target(
                "2 bytes",
                format!(
                    "never-share {} on plain ≥ 50% of copy_from_slice",
                    bytes(size as f64)
                ),
                format!(
                    "{:.0}% of a warm copy_from_slice ({:.0}% of one into a fresh buffer); {:.2} GB/s",
                    speed_warm * 100.0,
                    speed_fresh * 100.0,
                    size as f64 / sim
                ),
                Some(speed_warm >= TARGET),
            );
        }
    }
    t.note("fresh: into a newly allocated buffer (page faults included); warm: into an already faulted buffer (pure bandwidth). Medians of 3 (fresh) and 5 (warm, splice) in the same process as the splice; each splice goes to a new destination file, unlinked untimed afterwards.");
    t.note("splice cold: the first copy, whose destination buffers are new memory (page faults, which are slow and variable on this VM); splice (median): the next 5, with glibc told to keep freed memory (mallopt M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD max), i.e. the simulator's steady state — compared with the warm baseline for the target.");
    t.note("÷ = copy_from_slice time / splice time, i.e. the splice's speed as a fraction of the baseline's.");
    run.table(t);
}
