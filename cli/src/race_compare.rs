//! `splicelab race --compare`: each cell of the who-waits comparison on the kernel
//! ([`crate::race_real`]) and on the paired model ([`timeline::race`]), as a
//! [`Comparison`] (rendered, and judged against its tolerance, by
//! [`conform::who_waits`]).
//!
//! The cells: `FICLONE` of a many-extent file on btrfs and XFS, and a `copy_file_range`
//! byte copy of a one-extent file on XFS reflink=0 and tmpfs; each with a reader of the
//! source and a reader of the destination.

use conform::who_waits::{Cell, Comparison, KernelSide, Side};
use host::mounts::RealFs;

use crate::pictures::timeline::{self, Arrivals, Other, OtherOp, RaceTarget};
use crate::race_real::{RealCall, Session, real_fs};
use crate::tour;

/// One cell: a call on one real filesystem and which file the reader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellSpec {
    /// The `--real` name.
    pub fs: &'static str,
    pub call: RealCall,
    pub target: RaceTarget,
}

impl CellSpec {
    /// Whether the call shares extents (then the source is cut into `--extents` pieces;
    /// a byte copy's source is one extent).
    pub fn shares(self) -> bool {
        matches!(
            self.call,
            RealCall::Ficlone | RealCall::FicloneRange | RealCall::Must | RealCall::Dedupe
        )
    }
}

/// The cells, in table order.
pub const CELLS: [CellSpec; 8] = {
    const fn c(fs: &'static str, call: RealCall, target: RaceTarget) -> CellSpec {
        CellSpec { fs, call, target }
    }
    use RaceTarget::{Dst, Src};
    [
        c("btrfs", RealCall::Ficlone, Src),
        c("btrfs", RealCall::Ficlone, Dst),
        c("xfs", RealCall::Ficlone, Src),
        c("xfs", RealCall::Ficlone, Dst),
        c("xfs-noreflink", RealCall::CopyFileRange, Src),
        c("xfs-noreflink", RealCall::CopyFileRange, Dst),
        c("tmpfs", RealCall::CopyFileRange, Src),
        c("tmpfs", RealCall::CopyFileRange, Dst),
    ]
};

/// How to run a comparison.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes of every source.
    pub size: u64,
    /// Extents of the sharing cells' sources.
    pub extents: u64,
    /// Kernel runs per cell.
    pub runs: u64,
    /// Second-task calls spread over each call.
    pub calls: u64,
    /// Only this filesystem's cells (`--real`).
    pub only: Option<RealFs>,
    /// The command line, recorded in the result.
    pub command: String,
}

fn reader(target: RaceTarget) -> Other {
    Other {
        op: OtherOp::Read,
        target,
    }
}

fn fragment(spec: CellSpec, size: u64, extents: u64) -> (u64, Option<u64>) {
    if spec.shares() && extents > 1 {
        (
            extents,
            Some(timeline::extent_size_for(size, extents, 4096)),
        )
    } else {
        (1, None)
    }
}

/// The model's side of a cell: `splicelab race --fs MODEL --size SIZE --extents N --call
/// CALL --target FILE --calls CALLS`.
///
/// # Errors
/// A call without a model counterpart; a failing model setup.
pub fn model_side(
    model: &str,
    call: RealCall,
    target: RaceTarget,
    size: u64,
    fragment: Option<u64>,
    calls: u64,
) -> Result<Side, String> {
    let method = call
        .model_method()
        .ok_or_else(|| format!("{} has no model counterpart", call.key()))?;
    let r = timeline::race(
        model,
        model,
        size,
        method,
        fragment,
        reader(target),
        Arrivals::Spread(calls as usize),
    )?;
    Ok(Side {
        src_extents: r.src_extents,
        errno: r.copied.errno.map(tour::errno_name),
        copy_ns: r.copy_end - r.copy_start,
        other_calls: r.reads.len() as u64,
        longest_wait_ns: r.longest_wait(),
        p99_wait_ns: r.wait_percentile(99),
    })
}

/// Runs every cell (of `opts.only`, if given) on the kernel and on the model;
/// `progress` gets one line per kernel run.
///
/// # Errors
/// A filesystem that cannot be mounted here (the message says why), a failing setup or
/// a failing call on the kernel, `^C`.
pub fn measure(opts: &Options, progress: &mut dyn FnMut(&str)) -> Result<Comparison, String> {
    let mut cells = Vec::new();
    let mut fss: Vec<&str> = CELLS.iter().map(|c| c.fs).collect();
    fss.dedup();
    for fs in fss {
        let pair = real_fs(fs)?;
        if opts.only.is_some_and(|k| k != pair.real) {
            continue;
        }
        let specs: Vec<CellSpec> = CELLS.iter().copied().filter(|c| c.fs == fs).collect();
        let call = specs[0].call;
        let (extents, frag) = fragment(specs[0], opts.size, opts.extents);
        progress(&format!("{fs}: building the source"));
        let mut session = Session::new(pair.real, opts.size, frag)?;
        let dry = session.dry_run(call)?;
        if let Some(e) = &dry.errno {
            return Err(format!("{fs}: {} failed: {e}", call.label()));
        }
        let interval = dry.copy_ns / opts.calls.max(1);
        let mut runs: Vec<Vec<Side>> = vec![Vec::new(); specs.len()];
        for run in 0..opts.runs {
            for (i, spec) in specs.iter().enumerate() {
                let r = session.race(call, reader(spec.target), interval)?;
                progress(&format!(
                    "{fs}: {} run {}/{}, reader of {}: call {}, longest wait {} ({:.0} %)",
                    call.key(),
                    run + 1,
                    opts.runs,
                    reader(spec.target).file(),
                    vfs::clock::fmt_nanos(r.copy_ns),
                    vfs::clock::fmt_nanos(r.longest_wait()),
                    r.fraction() * 100.0
                ));
                runs[i].push(r.side(session.src_extents));
            }
        }
        for (spec, runs) in specs.iter().zip(runs) {
            let model_side = model_side(
                pair.model,
                spec.call,
                spec.target,
                opts.size,
                frag,
                opts.calls,
            )?;
            cells.push(Cell {
                fs: fs.to_string(),
                model: pair.model.to_string(),
                kernel_call: spec.call.key().to_string(),
                model_call: spec.call.model_method().map_or("", |m| m.key()).to_string(),
                op: OtherOp::Read.name().to_string(),
                target: reader(spec.target).file().to_string(),
                size: opts.size,
                extents,
                kernel_side: KernelSide {
                    src_extents: session.src_extents,
                    dry_ns: dry.copy_ns,
                    runs,
                },
                model_side,
            });
        }
    }
    Ok(Comparison {
        kernel: host::mounts::kernel_release(),
        command: opts.command.clone(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        runs: opts.runs,
        calls: opts.calls,
        cells,
    })
}

/// `cmp` with the model's side of every cell run again (the kernel's measurements kept).
///
/// # Errors
/// A cell naming an unknown call, target or model; a failing model setup.
pub fn refresh_model(mut cmp: Comparison) -> Result<Comparison, String> {
    for c in &mut cmp.cells {
        let call = RealCall::parse(&c.kernel_call)?;
        let target = match c.target.as_str() {
            "src" => RaceTarget::Src,
            "dst" => RaceTarget::Dst,
            t => return Err(format!("a cell with an unknown target '{t}'")),
        };
        let frag = (c.extents > 1).then(|| timeline::extent_size_for(c.size, c.extents, 4096));
        c.model_side = model_side(&c.model, call, target, c.size, frag, cmp.calls)?;
    }
    Ok(cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_name_known_filesystems_and_model_calls() {
        for c in CELLS {
            assert!(real_fs(c.fs).is_ok(), "{}", c.fs);
            assert!(c.call.model_method().is_some());
        }
        assert!(CELLS[0].shares() && !CELLS[4].shares());
        assert_eq!(fragment(CELLS[0], 64 << 20, 16384), (16384, Some(4096)));
        assert_eq!(fragment(CELLS[4], 64 << 20, 16384), (1, None));
    }

    #[test]
    fn the_model_side_is_the_virtual_race() {
        let s = model_side(
            "btrfs-like",
            RealCall::Ficlone,
            RaceTarget::Dst,
            8 << 20,
            Some(4096),
            20,
        )
        .unwrap();
        assert_eq!(s.src_extents, 2048);
        assert_eq!(s.other_calls, 20);
        assert!(s.longest_wait_ns > s.copy_ns / 2);
        // The virtual race has a dedupe too (against a byte copy made before the race).
        let d = model_side(
            "btrfs-like",
            RealCall::Dedupe,
            RaceTarget::Dst,
            1 << 20,
            None,
            2,
        )
        .unwrap();
        assert!(d.copy_ns > 0, "{d:?}");
    }
}
