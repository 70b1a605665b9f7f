//! The case runner behind `splicelab check`: seeded, shardable, shrinking.
//!
//! Case `k` of a run with seed `S` generates its operation sequence from seed `S + k`
//! (wrapping) with proptest's strategies and a ChaCha generator, so
//! `splicelab check --seed S+k --cases 1` replays exactly that case. `--shard I/N` runs the
//! cases with `k % N == I`: shards partition the cases of one seed, so a batch system (a CI
//! matrix, a Kubernetes indexed job, `cargo nextest --partition`) can fan one run out.
//!
//! A failing case is shrunk: first by proptest's value tree (dropping operations and
//! simplifying operands), then by a simple pass that drops single operations and halves
//! lengths and offsets while the failure persists.

use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestRng, TestRunner};

use crate::harness::{Config, Counters, Failure, run_with};
use crate::ops::{GenConfig, Op, ops};
use crate::profile::Profile;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Mount specs to check (each case runs on each).
    pub specs: Vec<String>,
    /// Cases per spec (before sharding).
    pub cases: u64,
    /// Seed of case 0.
    pub seed: u64,
    /// `(I, N)`: run case `k` iff `k % N == I`.
    pub shard: (u64, u64),
    /// Most operations per case (after the two creates).
    pub max_ops: usize,
    /// How much to check per step.
    pub config: Config,
    /// Most shrinking runs per failure.
    pub shrink_runs: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            specs: vec!["plain".into()],
            cases: 256,
            seed: 0,
            shard: (0, 1),
            max_ops: 40,
            config: Config::default(),
            shrink_runs: 2000,
        }
    }
}

/// A failed case, shrunk.
#[derive(Clone, Debug)]
pub struct CaseFailure {
    /// Case number in the run.
    pub case: u64,
    /// The seed that replays it as case 0.
    pub seed: u64,
    /// Operations before and after shrinking.
    pub original_ops: usize,
    pub shrunk_ops: usize,
    pub ops: Vec<Op>,
    /// The shrunk failure (message and replay script).
    pub failure: Failure,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Cases run (per spec, summed).
    pub cases: u64,
    pub counters: Counters,
    pub elapsed: Duration,
    pub failure: Option<CaseFailure>,
}

impl Outcome {
    /// Cases per second.
    pub fn cases_per_sec(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Checked operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.counters.steps as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// 32 seed bytes for ChaCha from a 64-bit seed (splitmix64).
fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut z = seed;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(x ^ (x >> 31)).to_le_bytes());
    }
    out
}

/// The generator configuration for `spec`.
pub fn gen_config(spec: &str, max_ops: usize) -> Result<GenConfig, String> {
    let fs = fs_models::spec::make(spec)?;
    let p = Profile::of(spec, &*fs);
    Ok(GenConfig::new(p.block.max(4096), max_ops))
}

/// The operation sequence of case seed `seed` for `spec` (deterministic), with its value
/// tree for shrinking.
///
/// # Errors
/// A bad spec.
pub fn generate(
    spec: &str,
    seed: u64,
    max_ops: usize,
) -> Result<impl ValueTree<Value = Vec<Op>>, String> {
    let cfg = gen_config(spec, max_ops)?;
    let mut runner = TestRunner::new_with_rng(
        PtConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed)),
    );
    ops(&cfg)
        .new_tree(&mut runner)
        .map_err(|e| format!("generating case: {e}"))
}

/// Shrinks a failing sequence: proptest's value tree first, then dropping single
/// operations and halving operands. Returns the smallest failing sequence and its failure.
pub fn shrink(
    spec: &str,
    mut tree: impl ValueTree<Value = Vec<Op>>,
    first: Failure,
    config: Config,
    max_runs: u32,
) -> (Vec<Op>, Failure) {
    let mut best = (tree.current(), first);
    let mut runs = 0u32;
    let fails = |ops: &[Op], runs: &mut u32| -> Option<Failure> {
        *runs += 1;
        run_with(spec, ops, config).err()
    };
    if tree.simplify() {
        while runs < max_runs {
            let cur = tree.current();
            match fails(&cur, &mut runs) {
                Some(f) => {
                    best = (cur, f);
                    if !tree.simplify() {
                        break;
                    }
                }
                None => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
    }
    // A simple pass: drop one operation, or halve one, while it still fails.
    let mut changed = true;
    while changed && runs < max_runs {
        changed = false;
        let mut i = 0;
        while i < best.0.len() && runs < max_runs {
            let mut cand = best.0.clone();
            cand.remove(i);
            if let Some(f) = fails(&cand, &mut runs) {
                best = (cand, f);
                changed = true;
                continue;
            }
            if let Some(h) = best.0[i].halved() {
                let mut cand = best.0.clone();
                cand[i] = h;
                if let Some(f) = fails(&cand, &mut runs) {
                    best = (cand, f);
                    changed = true;
                    continue;
                }
            }
            i += 1;
        }
    }
    best
}

/// Runs the cases of `opts`, calling `progress(done, total)` after each.
pub fn run(opts: &Options, mut progress: impl FnMut(u64, u64)) -> Outcome {
    let (shard, of) = (opts.shard.0, opts.shard.1.max(1));
    let mine: Vec<u64> = (0..opts.cases).filter(|k| k % of == shard).collect();
    let total = mine.len() as u64 * opts.specs.len() as u64;
    let start = Instant::now();
    let mut out = Outcome::default();
    let mut done = 0;
    for &k in &mine {
        let seed = opts.seed.wrapping_add(k);
        for spec in &opts.specs {
            let tree = match generate(spec, seed, opts.max_ops) {
                Ok(t) => t,
                Err(message) => {
                    out.failure = Some(CaseFailure {
                        case: k,
                        seed,
                        original_ops: 0,
                        shrunk_ops: 0,
                        ops: Vec::new(),
                        failure: Failure {
                            spec: spec.clone(),
                            message,
                            script: String::new(),
                        },
                    });
                    out.elapsed = start.elapsed();
                    return out;
                }
            };
            let ops = tree.current();
            out.cases += 1;
            match run_with(spec, &ops, opts.config) {
                Ok(c) => out.counters += c,
                Err(f) => {
                    out.counters.steps += ops.len() as u64;
                    let (shrunk, failure) = shrink(spec, tree, f, opts.config, opts.shrink_runs);
                    out.failure = Some(CaseFailure {
                        case: k,
                        seed,
                        original_ops: ops.len(),
                        shrunk_ops: shrunk.len(),
                        ops: shrunk,
                        failure,
                    });
                    out.elapsed = start.elapsed();
                    return out;
                }
            }
            done += 1;
            progress(done, total);
        }
    }
    out.elapsed = start.elapsed();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let a = generate("plain", 42, 20).unwrap().current();
        let b = generate("plain", 42, 20).unwrap().current();
        let c = generate("plain", 43, 20).unwrap().current();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn shards_partition_cases() {
        let mut seen = Vec::new();
        for i in 0..3 {
            let opts = Options {
                cases: 10,
                shard: (i, 3),
                max_ops: 3,
                ..Options::default()
            };
            let o = run(&opts, |_, _| {});
            assert!(o.failure.is_none());
            seen.push(o.cases);
        }
        assert_eq!(seen.iter().sum::<u64>(), 10);
        assert_eq!(seen, vec![4, 3, 3]);
    }
}
