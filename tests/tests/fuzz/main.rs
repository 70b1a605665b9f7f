//! The project's fuzz suite (issue 17): three seeded generators written from the command
//! language's grammar and from the entry points' signatures, not from known examples.
//!
//! - `fuzz_malformed_lines`: surely malformed lines (every command word, option letter,
//!   operand count off by one, number at and past every boundary in every form, unknown and
//!   repeated options, special forms, control characters, NUL, bytes that are not UTF-8,
//!   very long lines) inside otherwise valid scripts: refused with `script:N:` naming the
//!   line, before anything runs; token soup never panics.
//! - `fuzz_hostile_scripts`: valid scripts with hostile arguments over every model and many
//!   mount specs: they run to the end (exit status 0), never panic, and leave every mount
//!   `fsck`-clean.
//! - `fuzz_hostile_calls`: `syscall::Process` driven directly with hostile descriptors,
//!   offsets, lengths and flag bits: a value or a Linux errno, an error changes nothing,
//!   `fsck` clean.
//!
//! Every case runs on its own thread under a watchdog (`harness::run_case`): a step with no
//! progress for `SPLICELAB_FUZZ_CALL_SECS` (10 s) fails the case, and so does a peak heap
//! above `SPLICELAB_FUZZ_MEM_MIB` (1 GiB). Overflow checks are on (test profile). Budgets:
//! `SPLICELAB_FUZZ_CASES`, `SPLICELAB_FUZZ_SEED`, `SPLICELAB_FUZZ_DEEP=1` (see
//! docs/testing.md, "Fuzzing"). A failure prints the case's seed and the command that
//! replays it.

mod calls;
mod grammar;
mod harness;
mod lines;
mod regressions;
mod scripts;

use harness::{Budget, Case, Known};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

#[global_allocator]
static ALLOC: harness::CountingAlloc = harness::CountingAlloc;

#[test]
fn fuzz_malformed_lines() {
    let budget = Budget::new(17_001, 5000);
    let deep = budget.deep;
    harness::run_generator("fuzz_malformed_lines", &budget, |seed| {
        let w = scripts::world("plain", deep, deep);
        Case {
            spec: "plain".to_string(),
            detail: String::new(),
            run: Box::new(move |_p: &harness::Progress| lines::case(seed, &w)),
        }
    });
}

#[test]
fn fuzz_hostile_scripts() {
    let budget = Budget::new(17_002, 3000);
    let deep = budget.deep;
    harness::run_generator("fuzz_hostile_scripts", &budget, |seed| {
        let (spec, text) = scripts::generate(seed, deep);
        let text2 = text.clone();
        let json = StdRng::seed_from_u64(seed ^ 0x4a53).random_bool(0.2);
        let spec2 = spec.clone();
        Case {
            detail: format!(
                "--- the script (splicelab script --fs {spec}{} FILE):\n{text}",
                if json { " --json" } else { "" }
            ),
            spec,
            run: Box::new(move |p: &harness::Progress| scripts::case(&spec2, &text2, json, p)),
        }
    });
}

#[test]
fn fuzz_hostile_calls() {
    let budget = Budget::new(17_003, 1000);
    let deep = budget.deep;
    harness::run_generator("fuzz_hostile_calls", &budget, |seed| {
        let spec = calls::SPECS
            .choose(&mut StdRng::seed_from_u64(seed))
            .unwrap()
            .to_string();
        let spec2 = spec.clone();
        Case {
            spec,
            detail: String::new(),
            run: Box::new(move |p: &harness::Progress| calls::case(seed, &spec2, deep, p)),
        }
    });
}

// ------------------------------------------------------------------ the grammar is complete

/// Every command of `splicelab script --help` has a grammar entry here, with exactly the
/// option letters its synopsis lists: a new command or option cannot escape the fuzzer.
#[test]
fn grammar_covers_every_command_and_option() {
    use splicelab::script::help::COMMANDS;
    for c in COMMANDS {
        let g = grammar::grammar(c.name);
        if g.special {
            continue;
        }
        let mut want: Vec<char> = Vec::new();
        for tok in c.args.split(|ch: char| ch.is_whitespace() || ch == '|') {
            let t: String = tok.chars().filter(|ch| !"[]()".contains(*ch)).collect();
            if let Some(letters) = t.strip_prefix('-') {
                want.extend(letters.chars().filter(char::is_ascii_alphabetic));
            }
        }
        want.sort_unstable();
        want.dedup();
        let mut have: Vec<char> = g.opts.iter().map(|(ch, _)| *ch).collect();
        have.sort_unstable();
        assert_eq!(
            have, want,
            "{}: options of the grammar vs the synopsis",
            c.name
        );
    }
    assert_eq!(grammar::GRAMMAR.len(), COMMANDS.len());
}

/// The valid-line generator's lines all parse (else the malformed-line oracle would be
/// wrong about "the first malformed line").
#[test]
fn generated_valid_lines_parse() {
    let mut rng = StdRng::seed_from_u64(env_seed(17_004));
    for spec in scripts::SPECS {
        for (huge, deep) in [(false, false), (true, false), (true, true)] {
            let w = scripts::world(spec, huge, deep);
            for _ in 0..200 {
                let l = w.line(&mut rng);
                if let Err(e) = splicelab::script::parse::parse_line(l.trim()) {
                    panic!("{l:?} does not parse: {e}");
                }
            }
        }
    }
}

fn env_seed(default: u64) -> u64 {
    harness::env_u64("SPLICELAB_FUZZ_SEED", default)
}

// ------------------------------------------------------------------ known problems

/// Runs `script` on `spec` under the watchdog; the known problem is reached if the case
/// fails the way `known` describes.
fn reach_known(spec: &str, script: &str, known: Known) {
    let mut budget = Budget::new(0, 1);
    if known == Known::PreadVerboseHuge {
        // The dump of 64 MiB is ≈ 300 MB of text: held in memory it would pass this limit.
        budget.mem_limit = budget.mem_limit.min(64 << 20);
    }
    let (spec2, text) = (spec.to_string(), script.to_string());
    let whole = matches!(known, Known::QuadraticSmallCopies | Known::PreadVerboseHuge);
    let r = harness::run_case(&budget, move |p| {
        if whole {
            // A quadratic cost shows in the whole script, not in one line: the per-call
            // limit applies to the script as one step. The transcript goes nowhere, so
            // only what the commands themselves hold counts against the memory limit.
            p.step(format!("the whole script ({} lines)", text.lines().count()));
            let script = splicelab::script::Script::parse(&text).map_err(|e| e.to_string())?;
            let mut runner = splicelab::script::Runner::new(&spec2, false)?;
            return runner
                .run(&script, &mut std::io::sink())
                .map_err(|e| e.to_string());
        }
        scripts::case(&spec2, &text, false, p)
    });
    if let Err(f) = r {
        panic!("{} — {f}", known.reason());
    }
}

#[test]
fn regression_nfs_copy_range_of_a_huge_sparse_range_is_bounded() {
    reach_known(
        "nfs-like",
        "open -f a\npwrite -S 0x61 0 1m\ntruncate 4611686018427387904\nopen -f b\n\
         copy_range -d 512 -l 4611686018427387904 a\n",
        Known::NfsHugeRange,
    );
}

/// 100,000 three-byte copies to unaligned offsets in one script: the allocator's first-fit
/// search scanned every free hole (quadratic), each block kept one segment per write (a
/// later write of the block rebuilt thousands: `vfs::Data::compact`), and on nfs-like the
/// 1,025th unstable WRITE recursed without end (`NfsClient::flush`).
#[test]
fn regression_many_small_unaligned_byte_copies_are_bounded() {
    let mut s = String::from("open -f a\npwrite -S 0x61 0 1m\nopen -f b\n");
    for i in 0..100_000u64 {
        s.push_str(&format!("splice -q -s {} -d {} -l 3 a\n", i * 3, i * 5 + 1));
    }
    for spec in ["xfs-like", "nfs-like"] {
        reach_known(spec, &s, Known::QuadraticSmallCopies);
    }
}

/// 100,000 reflinks into one file: each cost O(extents already in the file).
#[test]
fn regression_many_reflinks_into_one_file_are_bounded() {
    let mut s = String::from("open -f a\npwrite -S 0x61 0 4k\nopen -f b\n");
    for i in 0..100_000u64 {
        s.push_str(&format!("reflink -q a 0 {} 4k\n", i * 8192));
    }
    reach_known("xfs-like", &s, Known::QuadraticSmallCopies);
}

/// `pread -v` of 64 MiB: the dump was built whole in memory before it was printed.
#[test]
fn regression_pread_verbose_streams_its_dump() {
    reach_known(
        "plain",
        "open -f a\npwrite 0 64m\npread -v 0 64m\n",
        Known::PreadVerboseHuge,
    );
}

#[test]
fn regression_md5sum_of_a_tib_sparse_file_is_refused_at_once() {
    reach_known(
        "plain",
        "open -f a\ntruncate 1t\nmd5sum a\n",
        Known::Md5sumHuge,
    );
}

#[test]
fn regression_stats_counters_saturate_on_the_third_ficlone() {
    reach_known(
        "btrfs-like",
        "open -f a\ntruncate 9223372036854775807\nopen -f b\nreflink a\nreflink a\nreflink a\n",
        Known::StatsOverflow,
    );
}

/// Found by this suite: a partition that never heals moved the task's clock to the end of
/// time, and the next RPC's `task.now() + one_way` overflowed (`fs_models::nfs::net::Net`).
/// The link's arithmetic saturates now: the message arrives at the end of virtual time.
/// Scripts still cannot ask for such a partition (`MAX_PARTITION_MS`); the model takes
/// `Fault::Partition` of any length, and this test does.
#[test]
fn regression_nfs_clock_saturates_after_an_endless_partition() {
    let budget = Budget::new(0, 1);
    let r = harness::run_case(&budget, |p| {
        use syscall::Syscalls;
        p.step("nfs-like: Fault::Partition { ns: u64::MAX }, then pwrite");
        let vfs = vfs::sync::Arc::new(vfs::vfs::Vfs::new());
        let fs = fs_models::spec::make("nfs-like").unwrap();
        vfs.mount("/", fs.clone()).unwrap();
        let mut proc = syscall::Process::new(vfs, 1);
        let fd = proc
            .open("/a", syscall::api::o::CREAT | syscall::api::o::RDWR, 0o644)
            .unwrap();
        fs.inject(&proc.task, vfs::fs::Fault::Partition { ns: u64::MAX })
            .unwrap();
        let r = proc.pwrite(fd, &vfs::Data::fill(1, 4096), 0);
        let _ = proc.fsync(fd);
        let _ = r;
        Ok(())
    });
    if let Err(f) = r {
        panic!("nfs-like clock after an endless partition — {f}");
    }
}

/// Found by this suite's deep run (case seed 18925 of `fuzz_hostile_scripts`): a byte copy
/// at unaligned offsets reads a hole as zeroes and writes them, chunk by chunk, so a sparse
/// range of 64 TiB was 2^26 chunks (the command's call limit did not bound it: 2^20 calls
/// of 2 GiB each). Linux writes those zeroes too (real-kernel scenario `cfr_sparse_source`;
/// measured on tmpfs and XFS reflink=0: a sparse 1 GiB copied at unaligned offsets
/// allocates the whole destination), and each chunk takes both inode locks, so the work
/// stays O(chunks) (design A11); one command now stops after
/// `script::MAX_COMMAND_CHUNKS` chunks with a clear error, and one call after
/// `vfs::copy::MAX_CHUNKS_PER_CALL`. Runs under the watchdog: the line must end within the
/// per-call limit and the memory limit.
#[test]
fn regression_byte_copy_of_a_huge_sparse_range_at_unaligned_offsets_is_bounded() {
    let budget = Budget::new(0, 1);
    let r = harness::run_case(&budget, |p| {
        let text = "open -f a\ntruncate 64t\nopen -f b\ncopy_range -s 1 -d 3 a\nfsck\n";
        let script = splicelab::script::Script::parse(text).map_err(|e| e.to_string())?;
        let mut runner = splicelab::script::Runner::new("xfs-like", false)?;
        let mut out = Vec::new();
        for line in &script.lines {
            p.step(format!(
                "{} (line {}, --fs xfs-like)",
                line.text, line.lineno
            ));
            out.extend(runner.exec(line).lines);
        }
        let limit = splicelab::script::MAX_COMMAND_CHUNKS;
        let want = format!(
            "copy_range: stopped after {limit} chunks of byte copy (splicelab's limit per command: {limit})"
        );
        if !out.contains(&want) || !out.iter().any(|l| l == "fsck: clean") {
            return Err(format!("expected {want:?} and a clean fsck, got {out:?}"));
        }
        Ok(())
    });
    if let Err(f) = r {
        panic!("{} — {f}", Known::HugeByteCopy.reason());
    }
}

#[test]
fn regression_check_ops_max_is_clamped() {
    let budget = Budget::new(0, 1);
    let r = harness::run_case(&budget, |p| {
        // What `splicelab check --ops 18446744073709551615` does first (without its
        // printing: a case frozen by the watchdog must not hold the stdout lock).
        p.step("check::runner::generate(plain, seed 1, usize::MAX ops)");
        let spec = check::profile::spec_for("plain");
        check::runner::generate(&spec, 1, usize::MAX).map(drop)
    });
    if let Err(f) = r {
        panic!("{} — {f}", Known::CheckOpsMax.reason());
    }
}

/// Prints the script of case `SPLICELAB_FUZZ_SEED` of `fuzz_hostile_scripts` (with
/// `SPLICELAB_FUZZ_DEEP=1` for a deep-run case), to replay it with `splicelab script`.
#[test]
#[ignore = "a tool: prints one case's script"]
fn print_case_script() {
    let (spec, text) = scripts::generate(env_seed(17_002), harness::deep());
    println!("--fs {spec}\n{text}");
}
