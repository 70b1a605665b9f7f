//! The five benchmark groups, the run that ties them together, and the child dispatcher.

pub mod bytes;
pub mod checking;
pub mod scale;
pub mod sharing;
pub mod syscalls;

use std::fmt::Write as _;
use std::path::PathBuf;

use syscall::Process;
use vfs::FileSystem;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

use crate::Options;
use crate::measure::{Machine, Summary, memcpy_4k_ns};
use crate::report::{Table, ns, verdict};

/// One target of the issue and what this run measured for it.
#[derive(Clone, Debug)]
pub struct Target {
    pub group: &'static str,
    pub target: String,
    pub measured: String,
    pub met: Option<bool>,
}

/// Everything a run collects.
pub struct Run {
    pub opts: Options,
    pub machine: Machine,
    /// `copy_from_slice` of 4 KiB, the baseline every group can quote.
    pub memcpy_4k: Summary,
    pub tables: Vec<Table>,
    pub targets: Vec<Target>,
}

impl Run {
    /// Prints a table now and keeps it for the report.
    pub fn table(&mut self, t: Table) {
        print!("{}", t.text());
        self.tables.push(t);
    }

    /// Records a target verdict.
    pub fn target(
        &mut self,
        group: &'static str,
        target: impl Into<String>,
        measured: impl Into<String>,
        met: Option<bool>,
    ) {
        self.targets.push(Target {
            group,
            target: target.into(),
            measured: measured.into(),
            met,
        });
    }
}

/// A simulated process with `spec` mounted at `/`.
///
/// # Errors
/// The model's message for a bad spec.
pub fn sim(spec: &str) -> Result<(Process, Arc<dyn FileSystem>), String> {
    let fs = fs_models::spec::make(spec)?;
    let vfs = Arc::new(Vfs::new());
    vfs.mount("/", fs.clone())
        .map_err(|e| format!("mount {spec}: {e:?}"))?;
    Ok((Process::new(vfs, 1), fs))
}

/// Parses argument `i` of a child.
///
/// # Errors
/// A message naming the missing or bad argument.
pub fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
    args.get(i)
        .ok_or_else(|| format!("missing argument {what}"))?
        .parse()
        .map_err(|_| format!("bad argument {what}: {:?}", args[i]))
}

/// Runs one child measurement.
///
/// # Errors
/// The measurement's message.
pub fn run_child(group: &str, args: &[String]) -> Result<(), String> {
    match group {
        "sharing" => sharing::child(args),
        "race" => sharing::race_child(args),
        "bytes" => bytes::child(args),
        "checking" => checking::child(args),
        "scale-files" => scale::files_child(args),
        "scale-extents" => scale::extents_child(args),
        "scale-reflinks" => scale::reflinks_child(args),
        other => Err(format!("unknown child group {other}")),
    }
}

/// Where the Markdown report goes: `$SPLICELAB_BENCH_REPORT`, else
/// `target/splicelab-bench/report.md` in the workspace.
pub fn report_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SPLICELAB_BENCH_REPORT") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("splicelab-bench")
        .join("report.md")
}

/// Runs the selected groups and writes the report. Returns the exit status (0 even when
/// targets are not met: the bench measures, it does not judge the build).
pub fn run_all(opts: &Options) -> i32 {
    let machine = Machine::this();
    println!(
        "splicelab-bench{}: nproc {}, {}, {} memory, kernel {}, {}, load average {}",
        if opts.quick {
            " (--quick: smoke run)"
        } else {
            ""
        },
        machine.nproc,
        machine.cpu,
        machine.mem_total,
        machine.kernel,
        machine.date,
        machine.loadavg
    );
    let memcpy_4k = memcpy_4k_ns(opts.quick);
    println!(
        "same-run baseline: copy_from_slice of 4 KiB = {} (median of {}, spread ±{:.0}%)",
        ns(memcpy_4k.median),
        memcpy_4k.n,
        memcpy_4k.rel_mad * 100.0
    );
    let mut run = Run {
        opts: opts.clone(),
        machine,
        memcpy_4k,
        tables: Vec::new(),
        targets: Vec::new(),
    };
    let selected = |g: &str| opts.groups.is_empty() || opts.groups.iter().any(|x| x == g);
    let started = std::time::Instant::now();
    for g in crate::GROUPS {
        if !selected(g) {
            continue;
        }
        let t = std::time::Instant::now();
        match g {
            "sharing" => sharing::run(&mut run),
            "bytes" => bytes::run(&mut run),
            "syscalls" => syscalls::run(&mut run),
            "checking" => checking::run(&mut run),
            "scale" => scale::run(&mut run),
            _ => unreachable!("GROUPS lists only these"),
        }
        println!("  ({g}: {:.1} s)", t.elapsed().as_secs_f64());
    }
    let mut summary = Table::new("Targets", &["group", "target", "measured", "verdict"]);
    for t in &run.targets {
        summary.row(vec![
            t.group.to_string(),
            t.target.clone(),
            t.measured.clone(),
            verdict(t.met),
        ]);
    }
    run.table(summary);
    let total = started.elapsed().as_secs_f64();
    println!("\nall groups: {total:.0} s");
    let path = report_path();
    let mut md = String::new();
    let m = &run.machine;
    let _ = writeln!(
        md,
        "Machine: nproc {}, CPU {}, {} memory, kernel {}, date {}, load average at start {}. Baseline: `copy_from_slice` of 4 KiB = {}. Wall time of the run: {total:.0} s.\n",
        m.nproc,
        m.cpu,
        m.mem_total,
        m.kernel,
        m.date,
        m.loadavg,
        ns(run.memcpy_4k.median)
    );
    for t in &run.tables {
        md.push_str(&t.markdown());
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, md) {
        Ok(()) => println!("report: {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
    0
}
