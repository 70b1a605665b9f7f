//! Differential conformance: the same system-call scenarios on splicelab's filesystem models
//! and on the real Linux kernel (loop-mounted btrfs and XFS, tmpfs), compared step by step.
//!
//! - [`scenario`]: scenarios as lists of steps with raw Linux arguments and symbolic
//!   descriptors, with a text form that can be replayed;
//! - [`runner`]: runs a scenario over any [`syscall::Syscalls`];
//! - [`observe`]: what is compared, and the normalisations (N1–N10);
//! - [`compare`](mod@compare): the first divergence between two runs;
//! - [`env`](mod@env): the real side (a [`host::TestTree`] + [`host::Linux`]) and the simulated side
//!   (a [`syscall::Process`] over the matching model), paired as in [`env::PAIRS`];
//! - [`scenarios`]: the hand-written suite;
//! - [`random`]: seeded random sequences with shrinking;
//! - [`report`]: the suite per filesystem, rendered as `docs/conformance.md`.
//!
//! Everything that touches the real side needs root (it mounts filesystems).

pub mod compare;
pub mod env;
pub mod observe;
pub mod random;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scenarios;
pub mod who_waits;

use std::io;

use host::mounts::RealFs;

use crate::compare::{Divergence, compare};
use crate::env::{Pair, RealSide, sim_dirs, sim_process};
use crate::observe::outcome_text;
use crate::runner::{Dirs, Hooks, StepRecord, run};
use crate::scenario::Scenario;

/// The result of one scenario on one pair.
#[derive(Clone, Debug)]
pub struct CaseOutcome {
    /// Steps compared.
    pub steps: usize,
    pub divergence: Option<Divergence>,
    pub real: Vec<StepRecord>,
    pub sim: Vec<StepRecord>,
}

/// Why a case could not be compared at all.
#[derive(Debug)]
pub enum SetupError {
    Real(io::Error),
    Sim(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Real(e) => write!(f, "real side: {e}"),
            SetupError::Sim(e) => write!(f, "simulator: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// The real-side size of a scenario's own small filesystem: tmpfs takes the asked size,
/// loop-mounted kinds their minimum (their free space is fuzzy anyway).
pub fn small_real_size(kind: RealFs, asked: u64) -> u64 {
    match kind {
        RealFs::Tmpfs => asked,
        k => k.min_size(),
    }
}

/// Runs `sc` on `real` (a fresh case directory) and on a fresh simulator for `pair`, and
/// compares. A scenario with [`Scenario::small_fs`] gets its own small real filesystem.
///
/// # Errors
/// When either side cannot be set up (mounting, `mkdir`).
pub fn run_case(real: &mut RealSide, pair: Pair, sc: &Scenario) -> Result<CaseOutcome, SetupError> {
    if let Some(n) = sc.small_fs {
        let mut own =
            RealSide::new(pair.real, small_real_size(pair.real, n)).map_err(SetupError::Real)?;
        return run_case_on(&mut own, pair, sc);
    }
    run_case_on(real, pair, sc)
}

fn run_case_on(real: &mut RealSide, pair: Pair, sc: &Scenario) -> Result<CaseOutcome, SetupError> {
    let dirs = real.begin_case().map_err(SetupError::Real)?;
    let r = real.run(sc, &dirs);
    real.end_case(&dirs);
    let picks = sim_picks(pair, sc, &dirs, &r)?;
    let (s, _) = sim_run(pair, sc, &dirs, &picks)?;
    Ok(CaseOutcome {
        steps: sc.lines.len(),
        divergence: compare(sc, &r, &s),
        real: r,
        sim: s,
    })
}

/// What the simulator does at one power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pick {
    /// Each mount crashes to its permitted state `k` (clamped to its last).
    State(usize),
    /// The kernel's background work ran after step `after`: the flusher wrote back the
    /// files of the scenario whose bit is set in `files` (bit `i`: the `i`-th of
    /// [`Scenario::paths`]), then the log worker or a commit made what is logged durable;
    /// the mounts then crash to their least durable state. The model's crash states are the
    /// pessimistic set and do not include these; the comparison accepts them (rule N9: the
    /// kernel may be more durable than the model's least durable state, never less).
    Background { after: usize, files: u32 },
}

/// Background work is tried for at most this many files of a scenario (2^N subsets).
const BACKGROUND_FILES: usize = 6;

/// Runs `sc` on a fresh simulator with `picks[i]` at the `i`-th power cut (the least
/// durable state when not given). Returns the records and, per power cut, how many states
/// the mounts offered (the largest count).
fn sim_run(
    pair: Pair,
    sc: &Scenario,
    dirs: &Dirs,
    picks: &[Pick],
) -> Result<(Vec<StepRecord>, Vec<usize>), SetupError> {
    let mut p = sim_process(pair.model, sc.small_fs).map_err(SetupError::Sim)?;
    sim_dirs(&mut p, dirs).map_err(SetupError::Sim)?;
    if sc.has_power_cut() {
        // As on the real side: the case's directories are durable before it starts.
        syscall::api::Syscalls::sync(&mut p);
    }
    let vfs = p.vfs.clone();
    let paths: Vec<String> = sc.paths().iter().map(|p| dirs.abs(p)).collect();
    let cases = || vfs.mounts().into_iter().filter(|m| m.path != "/");
    let mut background = |i: usize| {
        let task = vfs::Task::new(0);
        for pick in picks {
            let Pick::Background { after, files } = *pick else {
                continue;
            };
            if after != i {
                continue;
            }
            for (bit, path) in paths.iter().enumerate().take(BACKGROUND_FILES) {
                if files & (1 << bit) != 0
                    && let Ok((m, ino)) = vfs.resolve(path)
                {
                    let _ = m.fs.write_back(&task, ino);
                }
            }
            for m in cases() {
                let _ = m.fs.commit_metadata(&task, vfs::extent::ROOT_INO);
            }
        }
    };
    let mut offered = Vec::new();
    let mut cut = || {
        let pick = match picks.get(offered.len()) {
            Some(Pick::State(k)) => *k,
            _ => 0,
        };
        let mut n = 1;
        for m in cases() {
            n = n.max(m.fs.crash_states().len());
            m.fs.crash(pick);
            m.drop_caches();
        }
        offered.push(n);
        Ok(())
    };
    let hooks = Hooks {
        settle: &mut || {},
        cut: &mut cut,
        after_step: &mut background,
    };
    let s = run(sc, &mut p, dirs, true, hooks);
    Ok((s, offered))
}

/// For each power cut of `sc`, what makes the simulator agree with the kernel's recovered
/// state in `real` (every step up to and including the power cut): a permitted crash state
/// first, least durable first; else background work after some step since the previous
/// cut, latest first; else the least durable state (the comparison then shows the
/// divergence).
fn sim_picks(
    pair: Pair,
    sc: &Scenario,
    dirs: &Dirs,
    real: &[StepRecord],
) -> Result<Vec<Pick>, SetupError> {
    let cuts: Vec<usize> = (0..sc.lines.len())
        .filter(|&i| sc.lines[i].step.is_power_cut())
        .collect();
    let mut picks: Vec<Pick> = Vec::new();
    for (c, &at) in cuts.iter().enumerate() {
        let (_, offered) = sim_run(pair, sc, dirs, &picks)?;
        let n = offered.get(c).copied().unwrap_or(1);
        let since = if c == 0 { 0 } else { cuts[c - 1] + 1 };
        let subsets = 1u32 << sc.paths().len().min(BACKGROUND_FILES);
        let candidates =
            (0..n)
                .map(Pick::State)
                .chain((since..at).rev().flat_map(|after| {
                    (0..subsets).map(move |files| Pick::Background { after, files })
                }));
        let mut chosen = Pick::State(0);
        for pick in candidates {
            let mut trial = picks.clone();
            trial.push(pick);
            let (s, _) = sim_run(pair, sc, dirs, &trial)?;
            if compare(sc, &real[..=at], &s[..=at]).is_none() {
                chosen = pick;
                break;
            }
        }
        picks.push(chosen);
    }
    Ok(picks)
}

/// [`run_case`], and when it diverges once more on fresh directories (rule N10): the
/// outcome of the second run when the first diverged, and whether the two disagreed (the
/// case is flaky: the kernel's answer depended on background timing).
///
/// # Errors
/// As [`run_case`].
pub fn run_case_confirmed(
    real: &mut RealSide,
    pair: Pair,
    sc: &Scenario,
) -> Result<(CaseOutcome, bool), SetupError> {
    let c = run_case(real, pair, sc)?;
    if c.divergence.is_none() {
        return Ok((c, false));
    }
    let again = run_case(real, pair, sc)?;
    let flaky = again.divergence.is_none();
    Ok((if flaky { again } else { c }, flaky))
}

/// A side-by-side transcript of a case: each step, both results, and the state of every
/// file where it differs.
pub fn transcript(sc: &Scenario, c: &CaseOutcome) -> String {
    let mut out = String::new();
    for (i, line) in sc.lines.iter().enumerate() {
        let (r, s) = (&c.real[i], &c.sim[i]);
        let (rt, st) = (outcome_text(&r.outcome), outcome_text(&s.outcome));
        let mark = if c.divergence.as_ref().is_some_and(|d| d.step == i) {
            "!!"
        } else {
            "  "
        };
        if rt == st {
            out += &format!("{mark} {:>2}. {:<60} {rt}\n", i + 1, line.step.to_string());
        } else {
            out += &format!(
                "{mark} {:>2}. {:<60} kernel {rt} / model {st}\n",
                i + 1,
                line.step.to_string()
            );
        }
        if let (Some(a), Some(b)) = (&r.snap, &s.snap) {
            for ((name, fa), (_, fb)) in a.files.iter().zip(&b.files) {
                if fa == fb {
                    out += &format!("          {name}: {fa}\n");
                } else {
                    out +=
                        &format!("       !! {name}: kernel {fa}\n       !! {name}: model  {fb}\n");
                }
            }
        }
    }
    out
}
