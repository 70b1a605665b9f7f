//! Differential conformance against the real Linux kernel (the `conform` crate): every
//! hand-written scenario on btrfs, XFS with and without reflink, and tmpfs, each compared
//! step by step with its model, plus a short random run per filesystem.
//!
//! Needs root, btrfs-progs, xfsprogs and loop devices; without them each test prints a skip
//! notice (and fails when `CI=true`). `docs/conformance.md` is generated from the same
//! code: `splicelab conform --write-doc docs/conformance.md`, or this test binary with
//! `SPLICELAB_WRITE_DOC=1`.

use conform::env::{PAIRS, Pair, RealSide};
use conform::random::{CaseKind, run_random};
use conform::report::{RandomRun, SuiteResult, render, run_suite};
use conform::{run_case, scenarios, transcript};
use host::mounts::{RealFs, ready_or_skip};

/// Random cases per filesystem (the CLI runs thousands; this keeps the suite fast).
const RANDOM_CASES: u64 = 100;
const RANDOM_SEED: u64 = 1;
/// Random power-cut cases per filesystem (each cuts and recovers the loop images once or
/// twice: about 0.1 s on a loop mount).
const RANDOM_POWER_CUTS: u64 = 40;

fn pair(kind: RealFs) -> Pair {
    PAIRS
        .into_iter()
        .find(|p| p.real == kind)
        .expect("every kind has a pair")
}

/// The hand-written scenarios and a random run on one filesystem; panics with the
/// transcript of every divergence.
fn conforms(kind: RealFs) {
    if !ready_or_skip(kind, "conformance") {
        return;
    }
    let p = pair(kind);
    let all = scenarios::all();
    let suite = run_suite(p, &all, &mut |_| {}).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let mut report = String::new();
    for (name, d) in suite.failures() {
        let sc = scenarios::by_name(name).expect("a scenario of the suite");
        let mut real = RealSide::standard(kind).expect("mounting again");
        let c = run_case(&mut real, p, &sc).expect("replaying");
        report += &format!("\n{name}: {d}\n{}", transcript(&sc, &c));
    }
    let mut real = RealSide::standard(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let rnd = run_random(
        &mut real,
        p,
        CaseKind::Calls,
        RANDOM_CASES,
        RANDOM_SEED,
        1,
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{kind}: {e}"));
    let pc = run_random(
        &mut real,
        p,
        CaseKind::PowerCuts,
        RANDOM_POWER_CUTS,
        RANDOM_SEED,
        1,
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{kind}: {e}"));
    for f in rnd.found.iter().chain(&pc.found) {
        report += &format!(
            "\nrandom case {} (seed {:#x}): {}\nshrunk scenario:\n{}",
            f.case,
            f.seed,
            f.divergence,
            f.scenario.to_text()
        );
    }
    eprintln!(
        "conformance {kind}: {}/{} scenarios agree ({} flaky: {:?}), {} random cases with {} divergences ({} flaky), {} random power-cut cases with {} ({} flaky) ({:.1} s + {:.1} s + {:.1} s)",
        suite.passed(),
        suite.total(),
        suite.flaky.len(),
        suite.flaky,
        rnd.cases,
        rnd.divergences,
        rnd.flaky,
        pc.cases,
        pc.divergences,
        pc.flaky,
        suite.elapsed.as_secs_f64(),
        rnd.elapsed.as_secs_f64(),
        pc.elapsed.as_secs_f64()
    );
    assert!(
        suite.passed() == suite.total() && rnd.divergences == 0 && pc.divergences == 0,
        "{kind} diverges from {}:{report}",
        p.model
    );
}

#[test]
fn btrfs_conforms() {
    conforms(RealFs::Btrfs);
}

#[test]
fn xfs_reflink_conforms() {
    conforms(RealFs::XfsReflink);
}

#[test]
fn xfs_noreflink_conforms() {
    conforms(RealFs::XfsNoReflink);
}

#[test]
fn tmpfs_conforms() {
    conforms(RealFs::Tmpfs);
}

/// `docs/conformance.md` lists every hand-written scenario (regenerate it when adding
/// one); with `SPLICELAB_WRITE_DOC=1` this test regenerates it first.
#[test]
fn conformance_doc_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/conformance.md");
    let scs = scenarios::all();
    if std::env::var_os("SPLICELAB_WRITE_DOC").is_some() {
        let mut suites = Vec::new();
        let mut randoms = Vec::new();
        for p in PAIRS {
            if let Err(why) = host::mounts::prerequisites(p.real) {
                suites.push(SuiteResult::skipped(p, why));
                continue;
            }
            suites.push(run_suite(p, &scs, &mut |_| {}).expect("suite"));
            let mut real = RealSide::standard(p.real).expect("mount");
            let report = run_random(
                &mut real,
                p,
                CaseKind::Calls,
                RANDOM_CASES,
                RANDOM_SEED,
                1,
                &mut |_, _| {},
            )
            .expect("random");
            randoms.push(RandomRun {
                pair: p,
                seed: RANDOM_SEED,
                report,
            });
        }
        let doc = render(&host::mounts::kernel_release(), &scs, &suites, &randoms);
        std::fs::write(path, doc).expect("writing docs/conformance.md");
    }
    let doc = std::fs::read_to_string(path).expect("docs/conformance.md exists");
    for s in &scs {
        assert!(
            doc.contains(&format!("| `{}` |", s.name)),
            "docs/conformance.md does not list scenario {} (regenerate it: splicelab conform --write-doc docs/conformance.md)",
            s.name
        );
    }
}
