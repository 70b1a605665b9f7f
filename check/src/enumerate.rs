//! Crash-state enumeration (spec §6.9): every workload of 1–3 operations drawn from a
//! fixed alphabet — pwrite, truncate, each splice flag, clone, fsync, rename, unlink — on
//! two small files, run systematically (not randomly); after each workload every crash
//! state the model's atomicity permits (`FileSystem::crash_states`) is checked for
//! properties 5 (fsck, no orphans after recovery) and 6 (the state is one the model
//! permits: never garbage, never a block of an unrelated file, fsynced content kept).
//!
//! States are checked on the recovered [`Image`](vfs::extent::Image) directly
//! ([`crate::durability`]), without building a process on it.

use std::time::{Duration, Instant};

use crate::harness::{Config, Counters, Failure, Harness};
use crate::ops::{Flag, Op};

/// What an enumeration did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Workloads run.
    pub workloads: u64,
    /// Crash states verified (after the workloads, and after every fsync in them).
    pub states: u64,
    /// Of those, states identical to one accepted before, not checked again
    /// ([`crate::harness::Counters::crash_states_reused`]).
    pub reused: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
}

impl Report {
    /// Crash states checked per second.
    pub fn states_per_sec(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, o: Report) {
        self.workloads += o.workloads;
        self.states += o.states;
        self.reused += o.reused;
        self.elapsed += o.elapsed;
    }
}

/// The mount spec enumeration uses: small, with a one-block byte-copy chunk so that a
/// copy is several journaled operations (and a crash can cut it).
pub fn spec_for(model: &str) -> String {
    if model.contains(':') {
        return model.to_string();
    }
    for cand in [
        format!("{model}:size=16m,chunk=4k"),
        format!("{model}:chunk=4k"),
    ] {
        if fs_models::spec::make(&cand).is_ok() {
            return cand;
        }
    }
    model.to_string()
}

/// The setup every workload starts from: `f0` with 3 blocks and 100 bytes of 0x61, `f1`
/// with 2 blocks of 0x62, both durable.
pub fn setup(bs: u64) -> Vec<Op> {
    vec![
        Op::Create { n: 0 },
        Op::Create { n: 1 },
        Op::Pwrite {
            file: 0,
            off: 0,
            len: 3 * bs + 100,
            byte: 0x61,
        },
        Op::Pwrite {
            file: 1,
            off: 0,
            len: 2 * bs,
            byte: 0x62,
        },
        Op::Fsync { file: 0 },
    ]
}

/// The operation alphabet (operands index the live files: 0 is `f0`, 1 is `f1` while both
/// live).
pub fn alphabet(bs: u64) -> Vec<Op> {
    let splice = |src, dst, soff, doff, len, flag| Op::Splice {
        src,
        dst,
        soff,
        doff,
        len,
        flag,
        nonblock: false,
    };
    vec![
        Op::Pwrite {
            file: 0,
            off: 0,
            len: bs,
            byte: 0x71,
        },
        Op::Pwrite {
            file: 1,
            off: 100,
            len: 50,
            byte: 0x72,
        },
        Op::Pwrite {
            file: 0,
            off: 3 * bs + 100,
            len: bs,
            byte: 0x73,
        },
        Op::Truncate { file: 0, size: 100 },
        Op::Truncate {
            file: 1,
            size: 3 * bs,
        },
        splice(0, 1, 0, 0, 3 * bs + 100, Flag::Never),
        splice(0, 1, 100, bs + 904, 2 * bs, Flag::Never),
        splice(0, 1, 0, 0, 3 * bs + 100, Flag::May),
        splice(0, 1, 0, 0, 2 * bs, Flag::Must),
        splice(1, 0, 0, bs, 2 * bs, Flag::Must),
        Op::Clone {
            src: 0,
            dst: 1,
            soff: 0,
            doff: 0,
            len: 0,
        },
        Op::Fsync { file: 0 },
        Op::Fsync { file: 1 },
        Op::Rename { file: 0, to: 1 },
        Op::Rename { file: 1, to: 2 },
        Op::Unlink { file: 0 },
    ]
}

/// Every workload of `1..=max_len` operations from `alphabet` (in a fixed order).
pub fn workloads(alphabet: &[Op], max_len: usize) -> Vec<Vec<Op>> {
    let mut out = Vec::new();
    let mut layer: Vec<Vec<Op>> = vec![Vec::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for w in &layer {
            for op in alphabet {
                let mut v = w.clone();
                v.push(op.clone());
                next.push(v);
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

/// The harness configuration of enumeration: checks at the end of each workload and at
/// each fsync, exact space accounting.
fn config(crash_on_fsync: bool) -> Config {
    Config {
        check_each_step: false,
        crash_every: 0,
        crash_on_fsync,
        exact_space: true,
    }
}

/// A fresh harness on `spec` with `setup` applied (its fsync's crash states checked only
/// when `check_setup`).
fn prepared(spec: &str, setup: &[Op], check_setup: bool) -> Result<Harness, Failure> {
    let mut h = Harness::with_config(spec, config(check_setup)).map_err(|message| Failure {
        spec: spec.to_string(),
        message,
        script: String::new(),
    })?;
    for op in setup {
        h.apply(op).map_err(|e| failure(&h, spec, e))?;
    }
    h.config.crash_on_fsync = true;
    Ok(h)
}

fn failure(h: &Harness, spec: &str, message: String) -> Failure {
    Failure {
        spec: spec.to_string(),
        message,
        script: h.replay_script(),
    }
}

/// Applies `op` and checks everything at the end of the workload it completes.
fn step(h: &mut Harness, spec: &str, op: &Op) -> Result<(), Failure> {
    h.apply(op).map_err(|e| failure(h, spec, e))?;
    h.check_all()
        .and_then(|()| h.check_crash_states())
        .map_err(|e| failure(h, spec, format!("at the end: {e}")))
}

/// Runs one workload on a fresh `spec` and checks every crash state at its end. Returns
/// the harness's counters (crash states verified among them).
///
/// # Errors
/// The first violation, with a replay script.
pub fn run_workload(spec: &str, setup: &[Op], ops: &[Op]) -> Result<Counters, Failure> {
    // The setup is the same for every workload: its fsync's crash states are checked once
    // (by the workload of no operations), not again for each workload.
    let mut h = prepared(spec, setup, ops.is_empty())?;
    for op in ops {
        h.apply(op).map_err(|e| failure(&h, spec, e))?;
    }
    h.check_all()
        .and_then(|()| h.check_crash_states())
        .map_err(|e| failure(&h, spec, format!("at the end: {e}")))?;
    Ok(h.counters)
}

/// Enumerates all workloads of `1..=max_len` operations on `model` (a model name or a
/// spec), calling `progress(done, total)` now and then.
///
/// Workloads share prefixes: where the model can be forked ([`Harness::fork`]) the
/// enumeration walks the tree of workloads depth first, applying each operation once to
/// a copy of its prefix's harness and checking the workload it completes — the same
/// checks as running every workload from scratch ([`run_workload`]), without repeating
/// the setup and the prefix for each. The setup's own crash states are checked once.
/// Models that cannot be forked (nfs-like) run every workload from scratch.
///
/// # Errors
/// The first violation, with a replay script.
pub fn enumerate(
    model: &str,
    max_len: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, Failure> {
    let spec = spec_for(model);
    let bs = {
        let fs = fs_models::spec::make(&spec).map_err(|message| Failure {
            spec: spec.clone(),
            message,
            script: String::new(),
        })?;
        fs.statfs().block_size
    };
    let setup = setup(bs);
    let alphabet = alphabet(bs);
    let n = alphabet.len() as u64;
    let total: u64 = (1..=max_len as u32).map(|k| n.pow(k)).sum();
    let start = Instant::now();
    let mut report = Report::default();
    let root = prepared(&spec, &setup, true)?;
    if root.fork().is_some() {
        report.states += root.counters.crash_states;
        report.reused += root.counters.crash_states_reused;
        let mut walk = Walk {
            spec: &spec,
            alphabet: &alphabet,
            max_len,
            total,
            report: &mut report,
            progress: &mut progress,
        };
        walk.below(&root, 0)?;
    } else {
        for (i, w) in workloads(&alphabet, max_len).iter().enumerate() {
            let c = run_workload(&spec, &setup, w)?;
            report.states += c.crash_states;
            report.reused += c.crash_states_reused;
            report.workloads += 1;
            if i % 64 == 0 {
                progress(i as u64, total);
            }
        }
    }
    progress(total, total);
    report.elapsed = start.elapsed();
    Ok(report)
}

/// The depth-first walk of [`enumerate`].
struct Walk<'a, P: FnMut(u64, u64)> {
    spec: &'a str,
    alphabet: &'a [Op],
    max_len: usize,
    total: u64,
    report: &'a mut Report,
    progress: &'a mut P,
}

impl<P: FnMut(u64, u64)> Walk<'_, P> {
    /// Every workload that extends `prefix` (of `depth` operations) by one operation, and
    /// recursively theirs.
    fn below(&mut self, prefix: &Harness, depth: usize) -> Result<(), Failure> {
        for op in self.alphabet {
            let mut h = prefix.fork().expect("forkable: checked at the root");
            step(&mut h, self.spec, op)?;
            self.report.states += h.counters.crash_states - prefix.counters.crash_states;
            self.report.reused +=
                h.counters.crash_states_reused - prefix.counters.crash_states_reused;
            self.report.workloads += 1;
            if self.report.workloads.is_multiple_of(64) {
                (self.progress)(self.report.workloads, self.total);
            }
            if depth + 1 < self.max_len {
                self.below(&h, depth + 1)?;
            }
        }
        Ok(())
    }
}
