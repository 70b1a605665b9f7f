//! `splicelab race`: who waits while one copy runs. One call (a splice with each sharing
//! semantics, `copy_file_range`, `FICLONERANGE`) copies `/src` to `/dst` on one model while
//! a second task reads or writes 4 KiB of the source or the destination at steady
//! intervals; the command prints the call's time, the second task's longest and 99th
//! percentile wait for the file's inode lock, and the copy's holds of that lock — in
//! virtual time, deterministically (the interleaving is described in
//! [`crate::pictures::timeline`]).

use std::io::{self, Write};
use std::path::PathBuf;

use vfs::clock::fmt_nanos;

use crate::pictures::timeline::{self, Arrivals, Other, OtherOp, Race, RaceTarget};
use crate::tour::{self, Method, fmt_size};

/// Arguments of `splicelab race`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_long_help = AFTER_HELP)]
pub struct RaceArgs {
    /// Filesystem model, as a mount spec (btrfs-like, xfs-like:chunk=64k, nfs-like, ...)
    #[arg(long, value_name = "MODEL", default_value = "btrfs-like")]
    pub fs: String,
    /// Size of the source file (xfs_io size syntax: 64m, 1g)
    #[arg(long, value_name = "SIZE", default_value = "64m")]
    pub size: String,
    /// Cut the source into this many extents (1: one extent). Sharing costs grow with
    /// extents, byte copies with bytes
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub extents: u64,
    /// The copy: never, may, must (splice with that semantics), copy_file_range,
    /// ficlonerange
    #[arg(long, value_name = "CALL", default_value = "must")]
    pub call: String,
    /// What the second task does each time: read or write (4 KiB)
    #[arg(long, value_name = "OP", default_value = "read")]
    pub op: String,
    /// Which file the second task touches: src or dst (the picture follows its lock)
    #[arg(long, value_name = "FILE", default_value = "dst")]
    pub target: String,
    /// Virtual time between the second task's calls (ns, us, ms, s: 100us, 1ms); the
    /// default is --calls calls spread over the copy
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
}

const AFTER_HELP: &str = "\
The copy runs as task 1 (a never-share splice one chunk per call, as cp drives it; the
others as one call); task 2 arrives at its times and waits for the inode lock of the file
it touches while task 1 holds it. Waits and holds are virtual time from the model's cost
model (no wall clock), so a run is deterministic and repeatable.

Examples:
  splicelab race --fs btrfs-like --extents 100000 --call must
  splicelab race --fs xfs-like:reflink=0 --size 1g --call never --interval 1ms --json
  splicelab race --fs xfs-like --call ficlonerange --op write --target src --svg race.svg
  splicelab race --fs btrfs-like:remap=swap --size 800000k --extents 100000 --interval 20us

With remap=swap (the sharing models) a clone or must-share is built with no inode lock held
and only installed under the locks: the second task runs at the point between the two, and
waits for the install only.";

/// The most calls `--calls` may ask for (the same bound as `--interval`'s).
const MAX_CALLS: usize = timeline::MAX_RACE_CALLS as usize;

/// The largest source `race` builds (its extents are built call by call).
const MAX_EXTENTS: u64 = 1_000_000;

fn parse_call(s: &str) -> Result<Method, String> {
    Method::ALL
        .into_iter()
        .find(|m| m.key() == s)
        .ok_or_else(|| {
            format!("--call: unknown call '{s}' (never, may, must, copy_file_range, ficlonerange)")
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

fn plan(args: &RaceArgs) -> Result<Plan, String> {
    let size = tour::parse_tour_size(&args.size)?;
    let method = parse_call(&args.call)?;
    let other = parse_other(&args.op, &args.target)?;
    let arrivals = match &args.interval {
        Some(i) => {
            let ns = fs_models::nfs::parse_duration(i).map_err(|e| format!("--interval: {e}"))?;
            if ns == 0 {
                return Err("--interval: must be more than 0".into());
            }
            Arrivals::Every(ns)
        }
        None if args.calls > MAX_CALLS => {
            return Err(format!("--calls: at most {MAX_CALLS}"));
        }
        None => Arrivals::Spread(args.calls),
    };
    // The model's block size is not known before it is built: take 4 KiB for the check
    // (every model's default) and let the model refuse a spec it cannot hold.
    if args.extents == 0 || args.extents > MAX_EXTENTS {
        return Err(format!("--extents: 1 to {MAX_EXTENTS}"));
    }
    if args.extents > size / 4096 {
        return Err(format!(
            "--extents: a {} source holds at most {} extents of one 4 KiB block",
            fmt_size(size),
            size / 4096
        ));
    }
    let fragment = (args.extents > 1).then(|| timeline::extent_size_for(size, args.extents, 4096));
    Ok(Plan {
        size,
        method,
        other,
        arrivals,
        fragment,
    })
}

/// Runs `splicelab race`; returns the exit status.
pub fn run(args: &RaceArgs) -> i32 {
    let mut out = crate::out::stdout();
    let r = run_inner(args, &mut out);
    crate::out::exit_status(&mut out, r, "splicelab race", 1)
}

fn run_inner(args: &RaceArgs, out: &mut dyn Write) -> io::Result<i32> {
    let bad = crate::out::failure;
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
            size: "8m".into(),
            extents: 2048,
            call: call.into(),
            op: "read".into(),
            target: "dst".into(),
            interval: None,
            calls: 20,
            json: false,
            svg: None,
            html: None,
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
        a.extents = 1;
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
        a.extents = 0;
        assert!(plan(&a).unwrap_err().contains("--extents"));
        a.extents = 1 << 20;
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
