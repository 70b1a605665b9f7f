//! `splicelab conform`: the same scenarios on the simulator and on the real kernel
//! (loop-mounted btrfs and XFS, tmpfs), compared step by step (the `conform` crate).
//!
//! - `--real KIND`: the hand-written scenarios on one filesystem;
//! - `--real KIND --cases N --seed S`: the random differential mode, shrinking divergences
//!   to replayable scenarios;
//! - `--real KIND --replay FILE|NAME`: one scenario, with a side-by-side transcript;
//! - `--write-doc FILE`: every filesystem, then `docs/conformance.md`.
//!
//! Mounting needs root; without it the command says so and exits with status 2.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use conform::env::{PAIRS, Pair, RealSide, pair_by_name};
use conform::report::{RandomRun, SuiteResult, render, run_suite};
use conform::scenario::Scenario;
use conform::{random, scenarios, transcript};
use indicatif::{ProgressBar, ProgressStyle};

use crate::out::failure;

/// Arguments of `splicelab conform`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConformArgs {
    /// Real filesystem to compare with: btrfs, xfs (reflink=1), xfs-noreflink, tmpfs
    #[arg(long, value_name = "KIND")]
    pub real: Option<String>,
    /// Random differential mode: run N random cases (without it, the hand-written scenarios)
    #[arg(long, value_name = "N")]
    pub cases: Option<u64>,
    /// Seed of the random mode
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// With --write-doc: one random run of --cases cases per seed and filesystem (a
    /// comma-separated list; without it, --seed)
    #[arg(long, value_name = "S,S,...", value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Random mode: cases end in power cuts (the loop images are cut and recovered, and the
    /// kernel's recovered state must be one the model permits)
    #[arg(long)]
    pub power_cut: bool,
    /// How many divergences the random mode shrinks (the rest are only counted)
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub shrink: usize,
    /// Run one scenario: a file in the scenario text form (`-`: stdin) or a scenario's name
    #[arg(long, value_name = "FILE|NAME")]
    pub replay: Option<String>,
    /// Only the hand-written scenarios whose name contains this text
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// List the hand-written scenarios and exit
    #[arg(long)]
    pub list: bool,
    /// Print the transcript of every hand-written scenario, not only of divergences
    #[arg(long)]
    pub verbose: bool,
    /// Run the scenarios on every filesystem (plus --cases random cases each) and write the
    /// report (docs/conformance.md) to FILE
    #[arg(long, value_name = "FILE")]
    pub write_doc: Option<PathBuf>,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({per_sec}, {eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(what.to_string());
    pb
}

/// The pair for `--real`, after checking that it can be mounted here.
fn pair_for(args: &ConformArgs) -> Result<Pair, String> {
    let Some(name) = args.real.as_deref() else {
        return Err("--real KIND is required (btrfs, xfs, xfs-noreflink, tmpfs)".into());
    };
    let pair = pair_by_name(name).ok_or_else(|| {
        format!("unknown filesystem '{name}' for --real (known: btrfs, xfs, xfs-noreflink, tmpfs)")
    })?;
    host::mounts::prerequisites(pair.real).map_err(|why| {
        format!(
            "cannot mount {} here: {why}; the comparison with the real kernel must run as root",
            pair.real
        )
    })?;
    Ok(pair)
}

fn selected(args: &ConformArgs) -> Vec<Scenario> {
    scenarios::all()
        .into_iter()
        .filter(|s| args.filter.as_deref().is_none_or(|f| s.name.contains(f)))
        .collect()
}

fn describe(pair: Pair) -> String {
    format!(
        "linux {} {} vs {}",
        host::mounts::kernel_release(),
        pair.real,
        pair.model
    )
}

/// Runs `conform`; returns the exit status (0: no divergence, 1: divergences, 2: usage or
/// set-up error).
///
/// A closed standard output ends the command quietly with status 0 ([`crate::out`]); the
/// command returns rather than exits, so that the loop mounts are unmounted by their
/// `Drop` on the way out.
pub fn run(args: &ConformArgs) -> i32 {
    // `^C`, `timeout`'s SIGTERM or a closed terminal must not leave the loop mounts behind.
    host::mounts::tear_down_on_termination(true);
    let mut out = crate::out::stdout();
    let r = run_inner(args, &mut out);
    crate::out::exit_status(&mut out, r, "conform", 2)
}

fn run_inner(args: &ConformArgs, out: &mut dyn Write) -> io::Result<i32> {
    if args.list {
        for s in scenarios::all() {
            writeln!(out, "{:<48} {}", s.name, s.about)?;
        }
        return Ok(0);
    }
    if let Some(path) = &args.write_doc {
        return write_doc(args, path, out);
    }
    let pair = pair_for(args).map_err(failure)?;
    if let Some(what) = &args.replay {
        return replay(pair, what, out);
    }
    match args.cases {
        Some(n) => random_mode(args, pair, n, out),
        None => suite_mode(args, pair, out),
    }
}

fn replay(pair: Pair, what: &str, out: &mut dyn Write) -> io::Result<i32> {
    let sc = if let Some(s) = scenarios::by_name(what) {
        s
    } else {
        let text = if what == "-" {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .map_err(|e| failure(format!("reading stdin: {e}")))?;
            t
        } else {
            std::fs::read_to_string(what).map_err(|e| {
                failure(format!(
                    "{what}: {e} (neither a file nor a hand-written scenario's name)"
                ))
            })?
        };
        Scenario::parse("", &text).map_err(|e| failure(format!("{what}: {e}")))?
    };
    let mut real = RealSide::standard(pair.real).map_err(|e| failure(e.to_string()))?;
    let c = conform::run_case(&mut real, pair, &sc).map_err(|e| failure(e.to_string()))?;
    writeln!(
        out,
        "{}: {} ({} steps)",
        describe(pair),
        sc.name,
        sc.lines.len()
    )?;
    write!(out, "{}", transcript(&sc, &c))?;
    match &c.divergence {
        Some(d) => {
            writeln!(out, "divergence: {d}")?;
            Ok(1)
        }
        None => {
            writeln!(out, "no divergence")?;
            Ok(0)
        }
    }
}

fn suite_mode(args: &ConformArgs, pair: Pair, out: &mut dyn Write) -> io::Result<i32> {
    let scs = selected(args);
    if scs.is_empty() {
        return Err(failure("no hand-written scenario matches --filter"));
    }
    writeln!(
        out,
        "conform: {}, {} hand-written scenarios",
        describe(pair),
        scs.len()
    )?;
    let t0 = Instant::now();
    let mut real = RealSide::standard(pair.real).map_err(|e| failure(e.to_string()))?;
    let pb = bar(scs.len() as u64, pair.real.name());
    let (mut passed, mut steps, mut flaky) = (0usize, 0u64, 0usize);
    for sc in &scs {
        let (c, was_flaky) =
            conform::run_case_confirmed(&mut real, pair, sc).map_err(|e| failure(e.to_string()))?;
        steps += c.steps as u64;
        if was_flaky {
            flaky += 1;
            pb.suspend(|| {
                writeln!(
                    out,
                    "FLAKY {}: diverged once, agreed when run again",
                    sc.name
                )
            })?;
        }
        match &c.divergence {
            None => {
                passed += 1;
                if args.verbose {
                    pb.suspend(|| write!(out, "== {}\n{}", sc.name, transcript(sc, &c)))?;
                }
            }
            Some(d) => pb.suspend(|| {
                writeln!(out, "DIVERGENCE in {}: {d}", sc.name)?;
                write!(out, "{}", transcript(sc, &c))
            })?,
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let total = scs.len();
    writeln!(out, "scenarios: {passed}/{total} agree")?;
    writeln!(out, "steps compared: {steps}")?;
    writeln!(out, "divergences: {}", total - passed)?;
    writeln!(out, "flaky (diverged once, agreed when run again): {flaky}")?;
    writeln!(out, "time: {:.1} s", t0.elapsed().as_secs_f64())?;
    Ok(if passed == total { 0 } else { 1 })
}

fn case_kind(args: &ConformArgs) -> random::CaseKind {
    if args.power_cut {
        random::CaseKind::PowerCuts
    } else {
        random::CaseKind::Calls
    }
}

fn random_mode(args: &ConformArgs, pair: Pair, cases: u64, out: &mut dyn Write) -> io::Result<i32> {
    let kind = case_kind(args);
    writeln!(
        out,
        "conform: {}, {cases} random {}cases, seed {}",
        describe(pair),
        if args.power_cut { "power-cut " } else { "" },
        args.seed
    )?;
    let mut real = RealSide::standard(pair.real).map_err(|e| failure(e.to_string()))?;
    let pb = bar(cases, pair.real.name());
    let rep = random::run_random(
        &mut real,
        pair,
        kind,
        cases,
        args.seed,
        args.shrink,
        &mut |_, divs| {
            pb.inc(1);
            if divs > 0 {
                pb.set_message(format!("{divs} divergences"));
            }
        },
    )
    .map_err(|e| failure(e.to_string()))?;
    pb.finish_and_clear();
    for f in &rep.found {
        writeln!(
            out,
            "\nDIVERGENCE in case {} (seed {:#x}): {}",
            f.case, f.seed, f.divergence
        )?;
        writeln!(
            out,
            "shrunk to {} steps; replay with `splicelab conform --real {} --replay FILE`:",
            f.scenario.lines.len(),
            args.real.as_deref().unwrap_or("")
        )?;
        write!(out, "{}", f.scenario.to_text())?;
    }
    let secs = rep.elapsed.as_secs_f64();
    writeln!(out, "cases run: {}", rep.cases)?;
    writeln!(out, "steps compared: {}", rep.steps)?;
    writeln!(out, "divergences: {}", rep.divergences)?;
    writeln!(
        out,
        "flaky (diverged once, agreed when run again): {}",
        rep.flaky
    )?;
    writeln!(
        out,
        "time: {secs:.1} s ({:.0} cases/s)",
        rep.cases as f64 / secs.max(1e-9)
    )?;
    Ok(if rep.divergences == 0 { 0 } else { 1 })
}

fn write_doc(args: &ConformArgs, path: &PathBuf, out: &mut dyn Write) -> io::Result<i32> {
    let scs = scenarios::all();
    let mut suites: Vec<SuiteResult> = Vec::new();
    let mut randoms: Vec<RandomRun> = Vec::new();
    let mut any_divergence = false;
    for pair in PAIRS {
        if let Err(why) = host::mounts::prerequisites(pair.real) {
            eprintln!("conform: skipping {}: {why}", pair.real);
            suites.push(SuiteResult::skipped(pair, why));
            continue;
        }
        let pb = bar(scs.len() as u64, pair.real.name());
        let r = run_suite(pair, &scs, &mut |_| pb.inc(1)).map_err(|e| failure(e.to_string()))?;
        pb.finish_and_clear();
        writeln!(
            out,
            "{}: {}/{} scenarios agree ({:.1} s)",
            pair.real,
            r.passed(),
            r.total(),
            r.elapsed.as_secs_f64()
        )?;
        any_divergence |= r.passed() != r.total();
        suites.push(r);
        let seeds = if args.seeds.is_empty() {
            vec![args.seed]
        } else {
            args.seeds.clone()
        };
        for seed in seeds {
            let Some(n) = args.cases.filter(|&n| n > 0) else {
                break;
            };
            let mut real = RealSide::standard(pair.real).map_err(|e| failure(e.to_string()))?;
            let pb = bar(n, pair.real.name());
            let rep = random::run_random(
                &mut real,
                pair,
                case_kind(args),
                n,
                seed,
                args.shrink,
                &mut |_, _| pb.inc(1),
            )
            .map_err(|e| failure(e.to_string()))?;
            pb.finish_and_clear();
            writeln!(
                out,
                "{}: {} random cases (seed {seed}), {} divergences, {} flaky ({:.1} s)",
                pair.real,
                rep.cases,
                rep.divergences,
                rep.flaky,
                rep.elapsed.as_secs_f64()
            )?;
            any_divergence |= rep.divergences > 0;
            randoms.push(RandomRun {
                pair,
                seed,
                report: rep,
            });
        }
    }
    let doc = render(&host::mounts::kernel_release(), &scs, &suites, &randoms);
    std::fs::write(path, doc).map_err(|e| failure(format!("writing {}: {e}", path.display())))?;
    writeln!(out, "wrote {}", path.display())?;
    Ok(if any_divergence { 1 } else { 0 })
}
