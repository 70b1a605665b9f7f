//! splicelab's benchmarks.
//!
//! Five groups, each printed as a table of ratios against baselines measured in the same
//! run (ARCHITECTURE.md: never against numbers from another machine or another day):
//!
//! | group | what | baseline |
//! |---|---|---|
//! | [`groups::sharing`] | must/may-share splice (and FICLONE) of 1 GiB … 16 TiB files with 1 … 100,000 extents | a 1-extent must-share of the same model; a 4 KiB `memcpy` |
//! | [`groups::bytes`] | never-share splice of 1 GiB of real bytes on plain | `copy_from_slice` of 1 GiB |
//! | [`groups::syscalls`] | 4 KiB pread/pwrite, copy_file_range and FICLONE of small files | the same calls on the real kernel (tmpfs, loop-mounted btrfs) |
//! | [`groups::checking`] | operations checked/s, crash states/s | a 4 KiB `memcpy` (for scale only) |
//! | [`groups::scale`] | file count and extent count from 1 to 1,000,000 | the previous point of the curve |
//!
//! Measurements whose memory matters run in a fresh process: the bench binary re-executes
//! itself with `--child GROUP ARGS…` ([`spawn_child`]) and reads `@key=value` lines back.
//! Nothing here asserts on time: the targets are printed as met or not met.

pub mod groups;
pub mod measure;
pub mod report;

use std::collections::BTreeMap;
use std::process::Command;

/// The group names, in run order.
pub const GROUPS: [&str; 5] = ["sharing", "bytes", "syscalls", "checking", "scale"];

/// Options of one bench run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Smaller sizes and fewer samples: a smoke run, not a measurement.
    pub quick: bool,
    /// Groups to run (empty: all).
    pub groups: Vec<String>,
}

/// What a child measurement printed: its `@key=value` lines.
pub type Fields = BTreeMap<String, String>;

/// Prints one result field of a child measurement.
pub fn emit(key: &str, value: impl std::fmt::Display) {
    println!("@{key}={value}");
}

/// Runs `GROUP ARGS…` in a fresh copy of this executable and returns what it printed, or
/// a one-line error (its `@error`, its exit status and the tail of its stderr).
pub fn spawn_child(group: &str, args: &[String]) -> Result<Fields, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .arg("--child")
        .arg(group)
        .args(args)
        .output()
        .map_err(|e| format!("spawn child: {e}"))?;
    let mut fields = Fields::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = line.strip_prefix('@').and_then(|l| l.split_once('=')) {
            fields.insert(k.to_string(), v.to_string());
        }
    }
    if let Some(e) = fields.get("error") {
        return Err(e.clone());
    }
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        return Err(format!(
            "child {group} {args:?} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(fields)
}

/// A field as a number.
pub fn num(f: &Fields, key: &str) -> Option<f64> {
    f.get(key).and_then(|v| v.parse().ok())
}

/// The entry point of the bench binary: `[--child GROUP ARGS…] | [--quick] [GROUP…]`.
/// Arguments cargo adds (`--bench`) are ignored. Returns the exit status.
pub fn main_with_args(args: Vec<String>) -> i32 {
    let args: Vec<String> = args.into_iter().filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--child") {
        let Some(group) = args.get(1) else {
            eprintln!("--child needs a group");
            return 2;
        };
        return match groups::run_child(group, &args[2..]) {
            Ok(()) => 0,
            Err(e) => {
                emit("error", e.replace('\n', " "));
                1
            }
        };
    }
    let mut opts = Options::default();
    for a in args {
        match a.as_str() {
            "--quick" => opts.quick = true,
            g if GROUPS.contains(&g) => opts.groups.push(g.to_string()),
            other if other.starts_with("--") => {
                eprintln!("splicelab-bench: unknown option {other} (known: --quick)");
                return 2;
            }
            // libtest-style name filters: run the groups whose name contains it.
            filter => opts.groups.extend(
                GROUPS
                    .iter()
                    .filter(|g| g.contains(filter))
                    .map(|g| g.to_string()),
            ),
        }
    }
    groups::run_all(&opts)
}
