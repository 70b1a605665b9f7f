//! `splicelab race`: who waits while one copy runs. One call (a splice with each sharing
//! semantics, `copy_file_range`, `FICLONERANGE`) copies `/src` to `/dst` on one model while
//! a second task reads or writes 4 KiB of the source or the destination at steady
//! intervals; the command prints the call's time, the second task's longest and 99th
//! percentile wait for the file's inode lock, and the copy's holds of that lock — in
//! virtual time, deterministically (the interleaving is described in
//! [`crate::pictures::timeline`]).
//!
//! `--real FS` runs the same race on the real kernel ([`crate::race_real`]: a loop mount or
//! tmpfs, real threads, wall clock); `--compare` runs the who-waits cells on the kernel and
//! on the paired model and judges them ([`crate::race_compare`], rendered by
//! [`conform::who_waits`]).

use std::io::{self, Write};
use std::path::PathBuf;

use vfs::clock::fmt_nanos;

use conform::who_waits::Comparison;

use crate::pictures::timeline::{self, Arrivals, Other, OtherOp, Race, RaceTarget};
use crate::race_compare;
use crate::race_real::{self, RealCall, Session};
use crate::tour::{self, Method, fmt_size};

/// Arguments of `splicelab race`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_long_help = AFTER_HELP)]
pub struct RaceArgs {
    /// Filesystem model, as a mount spec (btrfs-like, xfs-like:chunk=64k, nfs-like, ...)
    #[arg(long, value_name = "MODEL", default_value = "btrfs-like")]
    pub fs: String,
    /// Size of the source file (xfs_io size syntax: 64m, 1g) [default: 64m; with
    /// --compare 1g]
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Cut the source into this many extents (1: one extent). Sharing costs grow with
    /// extents, byte copies with bytes [default: 1; with --compare 100000, for the
    /// sharing cells]
    #[arg(long, value_name = "N")]
    pub extents: Option<u64>,
    /// The copy: never, may, must (splice with that semantics), copy_file_range,
    /// ficlonerange, dedupe (FIDEDUPERANGE against a destination already holding the same
    /// bytes); with --real also ficlone and dedupe
    #[arg(long, value_name = "CALL", default_value = "must")]
    pub call: String,
    /// What the second task does each time: read or write (4 KiB)
    #[arg(long, value_name = "OP", default_value = "read")]
    pub op: String,
    /// Which file the second task touches: src or dst (the picture follows its lock)
    #[arg(long, value_name = "FILE", default_value = "dst")]
    pub target: String,
    /// Time between the second task's calls (ns, us, ms, s: 100us, 1ms; virtual time,
    /// wall clock with --real); the default is --calls calls spread over the copy
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// With no --interval: how many calls the second task makes
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub calls: usize,
    /// Print one JSON object instead of the text
    #[arg(long)]
    pub json: bool,
    /// Also write the timeline as an SVG picture
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Also write a self-contained HTML page with the summary and the picture
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Race on the real kernel instead of a model: btrfs, xfs, xfs-noreflink or tmpfs on
    /// a fresh loop mount (tmpfs: a fresh tmpfs) in a temporary directory; real threads,
    /// wall clock; needs root. With --compare: only that filesystem's cells
    #[arg(long, value_name = "FS", conflicts_with_all = ["svg", "html"])]
    pub real: Option<String>,
    /// Model against kernel: every cell of the who-waits comparison (FICLONE of a
    /// many-extent file on btrfs and xfs, a copy_file_range byte copy on xfs-noreflink and
    /// tmpfs; a reader of the source, then of the destination) on the kernel and on the
    /// paired model, with the verdict per cell
    #[arg(long, conflicts_with_all = ["svg", "html"])]
    pub compare: bool,
    /// With --compare: runs of each cell on the kernel (the table gives the median)
    #[arg(long, value_name = "N", default_value_t = 3, requires = "compare")]
    pub runs: u64,
    /// With --compare: take the kernel's side from FILE (the JSON of an earlier
    /// --compare --json) and run only the model's side again (no root needed)
    #[arg(
        long,
        value_name = "FILE",
        requires = "compare",
        conflicts_with = "real"
    )]
    pub kernel_from: Option<PathBuf>,
}

const AFTER_HELP: &str = "\
The copy runs as task 1 (a never-share splice one chunk per call, as cp drives it; the
others as one call); task 2 arrives at its times and waits for the inode lock of the file
it touches while task 1 holds it. Waits and holds are virtual time from the model's cost
model (no wall clock), so a run is deterministic and repeatable.

With --real FS the same race runs on the real kernel: a fresh loop-mounted btrfs or XFS
image (xfs: reflink=1, xfs-noreflink: reflink=0) or tmpfs, torn down again on every exit
(also on ^C, exit status 130); the source is cut into extents by writing every other piece
and fsyncing between the two passes; the call runs in one thread, the second task in
another, wall clock. Without --interval the call first runs alone (twice; the faster
counts), and its duration divided by --calls is the interval. Each arrival counts as its
own thread: it waits for its own 4 KiB call, and first for the rest of an earlier call that
was still inside the kernel when it arrived; the time the scheduler takes to wake the one
real second thread does not count. --real needs root; the call may also be ficlone or
dedupe, and never/may/must are done by the realcopy crate (pread/pwrite in 1 MiB chunks;
copy_file_range; FICLONERANGE).

--compare runs the who-waits cells on the kernel (--runs times each) and on the paired
model (btrfs-like, xfs-like, xfs-like:reflink=0, tmpfs-like) and prints, per cell, the
second task's longest wait as a fraction of the call, model against kernel, and whether
the model agrees, is harsher (makes it wait longer) or kinder, within the tolerance that
docs/conformance.md justifies. --json prints the comparison that
conform/data/who-waits.json holds (the section \"Who waits\" of docs/conformance.md is
rendered from that file).

Examples:
  splicelab race --fs btrfs-like --extents 100000 --call must
  splicelab race --fs xfs-like:reflink=0 --size 1g --call never --interval 1ms --json
  splicelab race --fs xfs-like --call ficlonerange --op write --target src --svg race.svg
  splicelab race --fs btrfs-like:remap=swap --size 800000k --extents 100000 --interval 20us
  sudo splicelab race --real btrfs --size 256m --extents 50000 --call ficlone --target dst
  sudo splicelab race --real tmpfs --size 1g --call copy_file_range --json
  sudo splicelab race --compare --size 64m --extents 16384 --runs 1
  sudo splicelab race --compare --runs 5 --json > conform/data/who-waits.json
  splicelab race --compare --kernel-from conform/data/who-waits.json --json

With remap=swap (the sharing models) a clone or must-share is built with no inode lock held
and only installed under the locks: the second task runs at the point between the two, and
waits for the install only.";

/// The most calls `--calls` may ask for (the same bound as `--interval`'s).
const MAX_CALLS: usize = timeline::MAX_RACE_CALLS as usize;

/// The largest source `race` builds (its extents are built call by call).
const MAX_EXTENTS: u64 = 1_000_000;

fn parse_call(s: &str) -> Result<Method, String> {
    Method::RACE
        .into_iter()
        .find(|m| m.key() == s)
        .ok_or_else(|| {
            format!("--call: unknown call '{s}' (never, may, must, copy_file_range, ficlonerange, dedupe)")
        })
}

fn parse_other(op: &str, target: &str) -> Result<Other, String> {
    let Some(op) = OtherOp::ALL.into_iter().find(|o| o.name() == op) else {
        return Err(format!("--op: unknown operation '{op}' (read or write)"));
    };
    let target = match target {
        "src" => RaceTarget::Src,
        "dst" => RaceTarget::Dst,
        _ => return Err(format!("--target: unknown file '{target}' (src or dst)")),
    };
    Ok(Other { op, target })
}

/// The checked arguments: everything is refused before any filesystem is built.
#[derive(Debug)]
struct Plan {
    size: u64,
    method: Method,
    other: Other,
    arrivals: Arrivals,
    fragment: Option<u64>,
}

/// The source's size and extent size from `--size` and `--extents` (`size` and
/// `extents`: the defaults to use when they are not given).
fn source(args: &RaceArgs, size: &str, extents: u64) -> Result<(u64, u64, Option<u64>), String> {
    let size = tour::parse_tour_size(args.size.as_deref().unwrap_or(size))?;
    let extents = args.extents.unwrap_or(extents);
    // The model's block size is not known before it is built: take 4 KiB for the check
    // (every model's default, and every real filesystem's here) and let the model refuse
    // a spec it cannot hold.
    if extents == 0 || extents > MAX_EXTENTS {
        return Err(format!("--extents: 1 to {MAX_EXTENTS}"));
    }
    if extents > size / 4096 {
        return Err(format!(
            "--extents: a {} source holds at most {} extents of one 4 KiB block",
            fmt_size(size),
            size / 4096
        ));
    }
    let fragment = (extents > 1).then(|| timeline::extent_size_for(size, extents, 4096));
    Ok((size, extents, fragment))
}

fn arrivals(args: &RaceArgs) -> Result<Arrivals, String> {
    Ok(match &args.interval {
        Some(i) => {
            let ns = fs_models::nfs::parse_duration(i).map_err(|e| format!("--interval: {e}"))?;
            if ns == 0 {
                return Err("--interval: must be more than 0".into());
            }
            Arrivals::Every(ns)
        }
        None if args.calls > MAX_CALLS || args.calls == 0 => {
            return Err(format!("--calls: 1 to {MAX_CALLS}"));
        }
        None => Arrivals::Spread(args.calls),
    })
}

fn plan(args: &RaceArgs) -> Result<Plan, String> {
    let (size, _, fragment) = source(args, DEFAULT_SIZE, 1)?;
    let method = parse_call(&args.call)?;
    let other = parse_other(&args.op, &args.target)?;
    let arrivals = arrivals(args)?;
    Ok(Plan {
        size,
        method,
        other,
        arrivals,
        fragment,
    })
}

/// `--size` without `--compare`.
const DEFAULT_SIZE: &str = "64m";

/// Runs `splicelab race`; returns the exit status.
pub fn run(args: &RaceArgs) -> i32 {
    if args.compare || args.real.is_some() {
        // `timeout`'s SIGTERM or a closed terminal must not leave the loop mounts behind
        // (`^C` is the race's own: it stops between phases and tears down).
        host::mounts::tear_down_on_termination(false);
    }
    let mut out = crate::out::stdout();
    let r = run_inner(args, &mut out);
    crate::out::exit_status(&mut out, r, "splicelab race", 1)
}

fn run_inner(args: &RaceArgs, out: &mut dyn Write) -> io::Result<i32> {
    let bad = crate::out::failure;
    if args.compare {
        return compare(args, out);
    }
    if let Some(fs) = &args.real {
        return real(args, fs, out);
    }
    let p = plan(args).map_err(bad)?;
    fs_models::spec::make(&tour::with_device_size(&args.fs, 1 << 30))
        .map_err(|e| bad(format!("--fs: {e}")))?;
    let race = timeline::race(
        &args.fs, &args.fs, p.size, p.method, p.fragment, p.other, p.arrivals,
    )
    .map_err(bad)?;
    if args.json {
        writeln!(out, "{}", to_json(&race, &p))?;
    } else {
        out.write_all(text(&race, &p).as_bytes())?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, race.svg(true))
            .map_err(|e| bad(format!("--svg {}: {e}", path.display())))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html(&race, &p))
            .map_err(|e| bad(format!("--html {}: {e}", path.display())))?;
    }
    // A copy that failed is reported, and is this command's failure.
    Ok(i32::from(
        race.copied.errno.is_some() && race.copied.bytes == 0,
    ))
}

/// `race --real FS`: one race on the kernel.
fn real(args: &RaceArgs, fs: &str, out: &mut dyn Write) -> io::Result<i32> {
    let bad = crate::out::failure;
    let pair = race_real::real_fs(fs).map_err(bad)?;
    let (size, _, fragment) = source(args, DEFAULT_SIZE, 1).map_err(bad)?;
    let call = RealCall::parse(&args.call).map_err(bad)?;
    let other = parse_other(&args.op, &args.target).map_err(bad)?;
    let arrivals = arrivals(args).map_err(bad)?;
    let r = (|| {
        let mut session = Session::new(pair.real, size, fragment)?;
        let (dry, interval) = match arrivals {
            Arrivals::Every(ns) => (None, ns),
            Arrivals::Spread(n) => {
                let d = session.dry_run(call)?;
                let i = d.copy_ns / n as u64;
                (Some(d), i)
            }
        };
        let r = session.race(call, other, interval)?;
        Ok::<_, String>((r, dry, session.src_extents))
    })();
    let (race, dry, src_extents) = match r {
        Ok(x) => x,
        Err(e) if e == race_real::INTERRUPTED_MSG => {
            eprintln!("splicelab race: interrupted; the filesystem is unmounted");
            return Ok(crate::cp::EXIT_ABORTED);
        }
        Err(e) => return Err(bad(e)),
    };
    let interval = race.other.map_or(0, |o| o.1);
    if args.json {
        let v = serde_json::json!({
            "real": pair.real.name(),
            "kernel": host::mounts::kernel_release(),
            "call": call.key(),
            "size": size,
            "src_extents": src_extents,
            "op": other.op.name(),
            "target": other.file(),
            "interval_ns": interval,
            "bytes": race.bytes,
            "errno": race.errno,
            "copy_calls": race.calls,
            "copy_ns": race.copy_ns,
            "dry_ns": dry.as_ref().map(|d| d.copy_ns),
            "other_calls": race.reads.len(),
            "longest_wait_ns": race.longest_wait(),
            "p99_wait_ns": race.wait_percentile(99),
            "longest_call_ns": race.longest_call(),
            "wait_fraction": race.fraction(),
        });
        writeln!(out, "{v}")?;
    } else {
        let (role, file) = (other.role(), other.file());
        let how = match &race.errno {
            Some(e) if race.bytes == 0 => format!("failed with {e}"),
            Some(e) => format!("ended with {e} after {} bytes", race.bytes),
            None => format!(
                "{} call{}",
                race.calls,
                if race.calls == 1 { "" } else { "s" }
            ),
        };
        let alone = dry
            .as_ref()
            .map(|d| format!(" (alone: {})", fmt_nanos(d.copy_ns)))
            .unwrap_or_default();
        writeln!(
            out,
            "race --real {} (Linux {}): {} of {} in {src_extents} extent{}, {how}, {}{alone}",
            pair.real,
            host::mounts::kernel_release(),
            call.label(),
            fmt_size(size),
            if src_extents == 1 { "" } else { "s" },
            fmt_nanos(race.copy_ns),
        )?;
        writeln!(
            out,
            "  task 2 ({role}) {}s 4 KiB of /{file} every {}: {} calls",
            other.op.name(),
            fmt_nanos(interval),
            race.reads.len()
        )?;
        writeln!(
            out,
            "  {role} waits: longest {} ({:.1} % of the call), p99 {}; longest single call {}",
            fmt_nanos(race.longest_wait()),
            race.fraction() * 100.0,
            fmt_nanos(race.wait_percentile(99)),
            fmt_nanos(race.longest_call())
        )?;
    }
    Ok(i32::from(race.errno.is_some() && race.bytes == 0))
}

/// `race --compare`: the who-waits cells, model against kernel.
fn compare(args: &RaceArgs, out: &mut dyn Write) -> io::Result<i32> {
    let bad = crate::out::failure;
    let cmp = if let Some(path) = &args.kernel_from {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(format!("--kernel-from {}: {e}", path.display())))?;
        let cmp = Comparison::from_json(&text)
            .map_err(|e| bad(format!("--kernel-from {}: {e}", path.display())))?;
        race_compare::refresh_model(cmp).map_err(bad)?
    } else {
        let (size, extents, _) = source(args, COMPARE_SIZE, COMPARE_EXTENTS).map_err(bad)?;
        if args.runs == 0 || args.runs > 100 {
            return Err(crate::out::failure("--runs: 1 to 100"));
        }
        if args.interval.is_some() {
            return Err(crate::out::failure(
                "--interval: --compare spreads --calls calls over each call",
            ));
        }
        arrivals(args).map_err(bad)?;
        let only = match &args.real {
            Some(fs) => Some(race_real::real_fs(fs).map_err(bad)?.real),
            None => None,
        };
        let mut command = format!(
            "splicelab race --compare --size {} --extents {extents} --runs {} --calls {}",
            args.size.as_deref().unwrap_or(COMPARE_SIZE),
            args.runs,
            args.calls
        );
        if let Some(fs) = &args.real {
            command += &format!(" --real {fs}");
        }
        command += " --json";
        let opts = race_compare::Options {
            size,
            extents,
            runs: args.runs,
            calls: args.calls as u64,
            only,
            command,
        };
        match race_compare::measure(&opts, &mut |line| eprintln!("race --compare: {line}")) {
            Ok(c) => c,
            Err(e) if e == race_real::INTERRUPTED_MSG => {
                eprintln!("splicelab race: interrupted; the filesystems are unmounted");
                return Ok(crate::cp::EXIT_ABORTED);
            }
            Err(e) => return Err(bad(e)),
        }
    };
    if args.json {
        out.write_all(cmp.to_json().as_bytes())?;
    } else {
        writeln!(
            out,
            "who waits, model against kernel (Linux {}, {} CPUs, {} kernel run{} per cell, {} calls spread over each call)\n",
            cmp.kernel,
            cmp.cpus,
            cmp.runs,
            if cmp.runs == 1 { "" } else { "s" },
            cmp.calls
        )?;
        out.write_all(cmp.table().as_bytes())?;
        writeln!(
            out,
            "\nagree: within {:.2} of the call (docs/conformance.md, \"Who waits\"); widest spread of a cell over the kernel runs here: {:.2}",
            conform::who_waits::TOLERANCE,
            cmp.widest_spread()
        )?;
    }
    Ok(0)
}

/// `--size` and `--extents` of `--compare` (the sharing cells' source).
const COMPARE_SIZE: &str = "1g";
const COMPARE_EXTENTS: u64 = 100_000;

fn interval_text(p: &Plan, race: &Race) -> String {
    match p.arrivals {
        Arrivals::Every(ns) => format!("every {}", fmt_nanos(ns)),
        Arrivals::Spread(_) => format!("{} calls spread over the copy", race.reads.len()),
    }
}

fn text(race: &Race, p: &Plan) -> String {
    let (role, file) = (race.other.role(), race.other.file());
    let what = format!("{}s", race.other.op.name());
    let mut s = format!("race: {}\n", race.caption());
    s += &format!(
        "  task 2 ({role}) {what} 4 KiB of /{file}, {}\n",
        interval_text(p, race)
    );
    s += &format!(
        "  copy {}; {role} waits: longest {}, p99 {}, over {} calls; holds of the {file} lock by the copy: {}, longest {}\n",
        fmt_nanos(race.copy_end - race.copy_start),
        fmt_nanos(race.longest_wait()),
        fmt_nanos(race.wait_percentile(99)),
        race.reads.len(),
        race.holds.len(),
        fmt_nanos(race.longest_hold())
    );
    if let Some(e) = race.copied.errno {
        s += &format!(
            "  the copy ended with {} after {} bytes\n",
            tour::errno_name(e),
            race.copied.bytes
        );
    }
    s += "\n";
    s += &race.ascii(72);
    s
}

fn to_json(race: &Race, p: &Plan) -> serde_json::Value {
    serde_json::json!({
        "model": race.model,
        "call": race.method.key(),
        "size": race.size,
        "src_extents": race.src_extents,
        "op": race.other.op.name(),
        "target": race.other.file(),
        "interval_ns": match p.arrivals { Arrivals::Every(ns) => Some(ns), Arrivals::Spread(_) => None },
        "bytes": race.copied.bytes,
        "errno": race.copied.errno.map(tour::errno_name),
        "copy_calls": race.copied.calls,
        "copy_ns": race.copy_end - race.copy_start,
        "other_calls": race.reads.len(),
        "longest_wait_ns": race.longest_wait(),
        "p99_wait_ns": race.wait_percentile(99),
        "lock_holds": race.holds.len(),
        "longest_hold_ns": race.longest_hold(),
    })
}

fn html(race: &Race, p: &Plan) -> String {
    let esc = crate::pictures::svg::esc;
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>splicelab race</title></head>\
         <body><h1>splicelab race</h1><pre>{}</pre>{}</body></html>\n",
        esc(&text(race, p)),
        race.svg(false)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(call: &str) -> RaceArgs {
        RaceArgs {
            fs: "btrfs-like".into(),
            size: Some("8m".into()),
            extents: Some(2048),
            call: call.into(),
            op: "read".into(),
            target: "dst".into(),
            interval: None,
            calls: 20,
            json: false,
            svg: None,
            html: None,
            real: None,
            compare: false,
            runs: 3,
            kernel_from: None,
        }
    }

    fn run_race(a: &RaceArgs) -> Race {
        let p = plan(a).unwrap();
        timeline::race(
            &a.fs, &a.fs, p.size, p.method, p.fragment, p.other, p.arrivals,
        )
        .unwrap()
    }

    #[test]
    fn must_share_stalls_a_reader_of_the_destination_for_the_call_never_share_for_a_chunk() {
        let must = run_race(&args("must"));
        let call = must.copy_end - must.copy_start;
        assert_eq!(must.holds.len(), 1, "one remap, one hold");
        assert!(must.longest_wait() > call / 2, "{}", must.summary());
        let never = run_race(&args("never"));
        assert_eq!(never.holds.len(), 8, "one hold per 1 MiB chunk");
        assert!(
            never.longest_wait() <= never.longest_hold(),
            "{}",
            never.summary()
        );
        assert!(never.wait_percentile(99) <= never.longest_wait());
    }

    #[test]
    fn a_writer_of_the_source_races_the_source_lock() {
        let mut a = args("ficlonerange");
        a.op = "write".into();
        a.target = "src".into();
        a.interval = Some("1us".into());
        let r = run_race(&a);
        assert_eq!(r.other.file(), "src");
        assert!(!r.reads.is_empty());
        assert!(r.longest_wait() > 0, "{}", r.summary());
        assert!(text(&r, &plan(&a).unwrap()).contains("writer (task 2) src lock |"));
    }

    #[test]
    fn a_byte_copy_inside_one_call_is_raced_chunk_by_chunk() {
        // copy_file_range without reflink byte-copies 8 MiB in one call: 8 chunks, and
        // the reader gets in between them, as in the kernel's loop.
        let mut a = args("copy_file_range");
        a.fs = "xfs-like:reflink=0".into();
        a.extents = Some(1);
        let r = run_race(&a);
        assert!(r.holds.len() >= 8, "{}", r.caption());
        assert!(r.longest_wait() <= r.longest_hold(), "{}", r.summary());
    }

    #[test]
    fn bad_arguments_are_refused_before_anything_runs() {
        let mut a = args("sometimes");
        assert!(plan(&a).unwrap_err().contains("--call"));
        a.call = "must".into();
        a.op = "truncate".into();
        assert!(plan(&a).unwrap_err().contains("--op"));
        a.op = "read".into();
        a.interval = Some("0ms".into());
        assert!(plan(&a).unwrap_err().contains("--interval"));
        a.interval = Some("soon".into());
        assert!(plan(&a).unwrap_err().contains("--interval"));
        a.interval = None;
        a.extents = Some(0);
        assert!(plan(&a).unwrap_err().contains("--extents"));
        a.extents = Some(1 << 20);
        assert!(plan(&a).unwrap_err().contains("--extents"));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut r = run_race(&args("must"));
        r.reads = (1..=100)
            .map(|i| timeline::ReaderRead {
                arrive: 0,
                start: i,
                end: i + 1,
            })
            .collect();
        assert_eq!(r.wait_percentile(99), 99);
        assert_eq!(r.wait_percentile(100), 100);
        assert_eq!(r.wait_percentile(1), 1);
        r.reads.clear();
        assert_eq!(r.wait_percentile(99), 0);
    }
}
