//! Group 4: checking throughput.
//!
//! - Operations checked per second: generated sequences (the check crate's own
//!   generator, `check::ops::ops`, seeded) run through `check::harness::run` — every
//!   property of spec §6 checked after every step, crash states after every step — per
//!   model, for a fixed time budget.
//! - Crash states per second: after a fixed short workload without `fsync`,
//!   `FileSystem::crash_states()` plus `Image::fsck` of each state, and the harness's whole
//!   crash-state check (recovery plus the durability history) of the same states.
//! - loom executions per second: only if `tests/tests/loom.rs` exists (timed externally).
//!
//! Each model runs in its own process, so that a panic in a model under construction
//! costs one row, not the run.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use check::harness::{Config, Harness};
use check::ops::{Flag, GenConfig, Op};
use check::profile::Profile;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestRng, TestRunner};

use super::{Run, arg};
use crate::measure::{Budget, sample};
use crate::report::{Table, count, ns, rate, ratio};
use crate::{emit, num, spawn_child};

/// The fixed workload of the crash-state measurement: two files written, copied with
/// each splice flag and cloned, never fsynced.
fn crash_workload(bs: u64) -> Vec<Op> {
    let mut v = vec![
        Op::Create { n: 0 },
        Op::Create { n: 1 },
        Op::Pwrite {
            file: 0,
            off: 0,
            len: 8 * bs,
            byte: 1,
        },
        Op::Pwrite {
            file: 1,
            off: 0,
            len: 4 * bs,
            byte: 2,
        },
    ];
    for (i, flag) in Flag::ALL.into_iter().enumerate() {
        v.push(Op::Splice {
            src: 0,
            dst: 1,
            soff: 0,
            doff: i as u64 * 2 * bs,
            len: 2 * bs,
            flag,
            nonblock: false,
        });
    }
    v.push(Op::Clone {
        src: 0,
        dst: 1,
        soff: 2 * bs,
        doff: 6 * bs,
        len: 2 * bs,
    });
    v.push(Op::Pwrite {
        file: 0,
        off: bs / 2,
        len: 100,
        byte: 3,
    });
    v
}

/// Child: `SPEC BUDGET_MS`.
///
/// # Errors
/// The first failure outside the measured checks.
pub fn child(args: &[String]) -> Result<(), String> {
    let spec: String = arg(args, 0, "spec")?;
    let budget_ms: u64 = arg(args, 1, "budget")?;
    // A failing model must not print a panic per case.
    std::panic::set_hook(Box::new(|_| {}));
    let fs = fs_models::spec::make(&spec)?;
    let profile = Profile::of(&spec, &*fs);
    drop(fs);
    let gen_cfg = GenConfig::new(profile.block, 24);
    let strategy = check::ops::ops(&gen_cfg);
    let mut runner = TestRunner::new_with_rng(
        PtConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let (mut cases, mut steps, mut states, mut failures, mut panics) = (0u64, 0, 0, 0u64, 0u64);
    let mut first_failure = String::new();
    let mut spent = 0u128;
    while spent < budget_ms as u128 * 1_000_000 {
        let ops = strategy
            .new_tree(&mut runner)
            .map_err(|e| format!("generate: {e}"))?
            .current();
        let t = Instant::now();
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            check::harness::run_with(&spec, &ops, Config::default())
        }));
        spent += t.elapsed().as_nanos();
        cases += 1;
        match r {
            Ok(Ok(c)) => {
                steps += c.steps;
                states += c.crash_states;
            }
            Ok(Err(f)) => {
                failures += 1;
                if first_failure.is_empty() {
                    first_failure = f.message.lines().next().unwrap_or("").to_string();
                }
            }
            Err(_) => panics += 1,
        }
    }
    emit("cases", cases);
    emit("steps", steps);
    emit("harness_states", states);
    emit("failures", failures);
    emit("panics", panics);
    emit("first_failure", first_failure.replace('\n', " "));
    emit("run_ns", spent);

    // Crash-state enumeration after a fixed workload.
    let mut h = Harness::with_config(
        &spec,
        Config {
            check_each_step: false,
            crash_every: 0,
            ..Config::default()
        },
    )?;
    for op in crash_workload(profile.block) {
        h.apply(&op).map_err(|e| format!("crash workload: {e}"))?;
    }
    let n_states = h.fs.crash_states().len();
    emit("states", n_states);
    let budget = Budget::new(5, 200, 400);
    let mut bad = 0usize;
    let enum_fsck = sample(budget, |_| {
        let t = Instant::now();
        let states = h.fs.crash_states();
        for s in &states {
            bad += (!s.fsck().is_empty()) as usize;
        }
        t.elapsed().as_nanos() as f64
    });
    emit("enum_fsck_ns", enum_fsck.median);
    emit("bad_states", bad);
    let mut harness_err = String::new();
    let full = sample(budget, |_| {
        // Every state in full, not the reuse of states accepted by the previous sample.
        h.forget_accepted();
        let t = Instant::now();
        if let Err(e) = h.check_crash_states()
            && harness_err.is_empty()
        {
            harness_err = e.lines().next().unwrap_or("").to_string();
        }
        t.elapsed().as_nanos() as f64
    });
    emit("harness_check_ns", full.median);
    emit("harness_err", harness_err.replace('\n', " "));
    Ok(())
}

/// The loom test binary built by `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom
/// cargo test --release -p splicelab-tests --test loom --no-run`, if there is one.
fn loom_binary() -> Option<std::path::PathBuf> {
    let deps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/loom/release/deps");
    std::fs::read_dir(deps)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("loom-") && p.extension().is_none()
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

/// Loom executions per second: runs each loom model of the prebuilt loom test binary on
/// its own (one thread) and sums the interleavings each prints ("loom explored N
/// interleavings") over the wall time. The bench does not build it (a second build of the
/// workspace with `--cfg loom`); without a binary the figure is n/a.
fn loom_throughput(quick: bool) -> (String, String) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tests/loom.rs");
    if !src.exists() {
        return (
            "loom executions/s: n/a (tests/tests/loom.rs does not exist)".into(),
            String::new(),
        );
    }
    let build = "RUSTFLAGS=\"--cfg loom\" CARGO_TARGET_DIR=target/loom cargo test --release -p splicelab-tests --test loom --no-run";
    let Some(bin) = loom_binary() else {
        return (
            format!(
                "loom executions/s: n/a (no prebuilt loom binary; build it with `{build}`, then rerun)"
            ),
            String::new(),
        );
    };
    if quick {
        return (
            "loom executions/s: skipped in --quick".into(),
            String::new(),
        );
    }
    let list = std::process::Command::new(&bin)
        .args(["--list", "--format", "terse"])
        .output();
    let Ok(list) = list else {
        return (
            format!("loom executions/s: could not run {}", bin.display()),
            String::new(),
        );
    };
    let tests: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect();
    let (mut runs, mut secs, mut failed) = (0u64, 0.0, 0);
    let mut per: Vec<String> = Vec::new();
    for name in &tests {
        let t = Instant::now();
        let out = std::process::Command::new(&bin)
            .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
            .output();
        let dt = t.elapsed().as_secs_f64();
        let Ok(out) = out else { continue };
        if !out.status.success() {
            failed += 1;
        }
        let n: u64 = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter_map(|l| {
                l.strip_prefix("loom explored ")?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        runs += n;
        secs += dt;
        per.push(format!("{name} {n} in {dt:.2} s"));
    }
    (
        format!(
            "loom executions/s: {} ({} interleavings in {secs:.1} s over {} models, {failed} failing)",
            rate(runs as f64 / secs),
            count(runs),
            tests.len(),
        ),
        format!(
            " — each model run alone from the prebuilt {} (wall time incl. process start): {}",
            bin.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            per.join("; ")
        ),
    )
}

/// Runs the group.
pub fn run(run: &mut Run) {
    let budget_ms = if run.opts.quick { 300 } else { 2500 };
    let memcpy = run.memcpy_4k.median;
    let mut t = Table::new(
        "4. Checking throughput",
        &[
            "model (check spec)",
            "cases",
            "ops checked/s",
            "crash states/s in the harness",
            "failing cases",
            "states after workload",
            "crash_states()+fsck per state",
            "states/s (enum+fsck)",
            "states/s (harness check)",
            "per state ÷ memcpy 4 KiB",
        ],
    );
    let mut worst_ops: Option<(String, f64)> = None;
    let mut worst_states: Option<(String, f64)> = None;
    for spec in check::profile::all_specs() {
        eprint!("  checking: {spec} …");
        let r = spawn_child("checking", &[spec.clone(), budget_ms.to_string()]);
        eprintln!(" done");
        let f = match r {
            Ok(f) => f,
            Err(e) => {
                t.row(vec![spec.clone(), "error".into(), e]);
                continue;
            }
        };
        let g = |k| num(&f, k).unwrap_or(f64::NAN);
        let secs = g("run_ns") / 1e9;
        let ops_s = g("steps") / secs;
        let harness_states_s = g("harness_states") / secs;
        let n_states = g("states");
        let per_state = g("enum_fsck_ns") / n_states;
        let states_s = 1e9 / per_state;
        let full_s = n_states * 1e9 / g("harness_check_ns");
        let failing = g("failures") + g("panics");
        let mut fail_cell = count(failing as u64);
        if failing > 0.0 {
            let ff = f.get("first_failure").cloned().unwrap_or_default();
            if g("panics") > 0.0 {
                fail_cell.push_str(&format!(" ({} panics)", g("panics")));
            }
            t.note(format!(
                "{spec}: {} of {} cases failed a check — first: {}",
                failing,
                g("cases"),
                ff.chars().take(160).collect::<String>()
            ));
        }
        if let Some(e) = f.get("harness_err").filter(|e| !e.is_empty()) {
            t.note(format!("{spec}: harness crash-state check reported: {e}"));
        }
        if g("bad_states") > 0.0 {
            t.note(format!(
                "{spec}: {} crash states failed fsck",
                g("bad_states")
            ));
        }
        for (w, x) in [(&mut worst_ops, ops_s), (&mut worst_states, states_s)] {
            if x.is_finite() && w.as_ref().is_none_or(|c| x < c.1) {
                *w = Some((spec.clone(), x));
            }
        }
        t.row(vec![
            spec.clone(),
            count(g("cases") as u64),
            rate(ops_s),
            rate(harness_states_s),
            fail_cell,
            format!("{n_states:.0}"),
            ns(per_state),
            rate(states_s),
            rate(full_s),
            ratio(per_state / memcpy),
        ]);
    }
    t.note(format!("ops checked/s: generated sequences (check::ops::ops, ≤24 operations after 2 creates, seeded) through check::harness::run_with with every check after every step, for {:.1} s of run time per model; failing cases count in the time but not in the operations. crash states/s in the harness: states verified per second of those runs (checked, or the same journal snapshot already accepted under the same history and so not checked again — Counters::crash_states_reused).", budget_ms as f64 / 1e3));
    t.note("states after workload: crash states of a fixed 11-operation workload without fsync (creates, pwrites, splice never/may/must, FICLONERANGE, a partial-block pwrite); enum+fsck: FileSystem::crash_states() and Image::fsck of each; harness check: Harness::check_crash_states (recovery and durability history too), every state checked in full (Harness::forget_accepted before each sample).");
    let (loom_summary, loom_detail) = loom_throughput(run.opts.quick);
    t.note(format!("{loom_summary}{loom_detail}"));
    run.table(t);
    run.target(
        "4 checking",
        "loom executions per second (report)",
        loom_summary,
        None,
    );
    if let Some((l, x)) = worst_ops {
        run.target(
            "4 checking",
            "operations checked per second (report)",
            format!("lowest {} ({l})", rate(x)),
            None,
        );
    }
    if let Some((l, x)) = worst_states {
        run.target(
            "4 checking",
            "crash states per second (report)",
            format!("lowest {} ({l})", rate(x)),
            None,
        );
    }
}
