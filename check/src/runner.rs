//! The case runner behind `splicelab check`: seeded, shardable, shrinking.
//!
//! Case `k` of a run with seed `S` generates its operation sequence from seed `S + k`
//! (wrapping) with [`random_ops`] (the distributions of the proptest strategies, drawn from
//! a seeded `StdRng`), so
//! `splicelab check --seed S+k --cases 1` replays exactly that case. `--shard I/N` runs the
//! cases with `k % N == I`: shards partition the cases of one seed, so a batch system (a CI
//! matrix, a Kubernetes indexed job, `cargo nextest --partition`) can fan one run out.
//!
//! A failing case is shrunk by delta debugging: dropping runs of operations (halving the
//! run down to single operations), then halving lengths and offsets, while the failure
//! persists.

use std::time::{Duration, Instant};

use crate::harness::{Config, Counters, Failure, multi, run_with};
use crate::ops::{GenConfig, Op, random_multi_ops, random_ops};
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

/// The generator configuration for `spec`.
///
/// # Errors
/// A bad spec.
pub fn gen_config(spec: &str, max_ops: usize) -> Result<GenConfig, String> {
    // Several mounts: offsets are biased towards the largest block of them.
    let mut block = 4096;
    let mut limits = Vec::new();
    for part in mount_specs(spec)? {
        let fs = fs_models::spec::make(part)?;
        block = block.max(Profile::of(part, &*fs).block);
        limits.push(fs.max_file_size().min(i64::MAX as u64));
    }
    // Offsets at one mount's s_maxbytes only where every mount has that limit: on a mount
    // with a larger one they would write data there, far past what the reference model's
    // whole files are for (`LLONG_MAX` is at or past every limit).
    let max_bytes = match limits.split_first() {
        Some((&first, rest)) if rest.iter().all(|&m| m == first) => first,
        _ => i64::MAX as u64,
    };
    Ok(GenConfig {
        max_bytes,
        ..GenConfig::new(block, max_ops)
    })
}

/// The mount specs of `spec`: itself, or the parts of a multi-mount spec (`A+B[+C]`).
///
/// # Errors
/// A multi-mount spec with too few or too many parts.
pub fn mount_specs(spec: &str) -> Result<Vec<&str>, String> {
    if multi::is_multi(spec) {
        multi::parts(spec)
    } else {
        Ok(vec![spec])
    }
}

/// The operations of `cfg`'s generator for `spec`: of one mount, or placed on the mounts
/// of a multi-mount spec ([`random_multi_ops`]).
fn ops_for(spec: &str, cfg: &GenConfig, seed: u64) -> Result<Vec<Op>, String> {
    Ok(match mount_specs(spec)?.len() {
        1 => random_ops(cfg, seed),
        n => random_multi_ops(cfg, n, seed),
    })
}

/// The operation sequence of case seed `seed` for `spec` (deterministic).
///
/// # Errors
/// A bad spec.
pub fn generate(spec: &str, seed: u64, max_ops: usize) -> Result<Vec<Op>, String> {
    ops_for(spec, &gen_config(spec, max_ops)?, seed)
}

/// [`generate`] with generator `generation` ([`GenConfig::generation`]): for named
/// regressions that pin a case seed found with an earlier one.
///
/// # Errors
/// A bad spec.
pub fn generate_with(
    spec: &str,
    seed: u64,
    max_ops: usize,
    generation: u8,
) -> Result<Vec<Op>, String> {
    let cfg = GenConfig {
        generation,
        ..gen_config(spec, max_ops)?
    };
    ops_for(spec, &cfg, seed)
}

/// Shrinks a failing sequence (delta debugging): drops runs of operations, halving the run
/// length down to single operations, then halves operands, while the failure persists
/// (the two creates at the front stay). Returns the smallest failing sequence and its
/// failure.
pub fn shrink(
    spec: &str,
    ops: Vec<Op>,
    first: Failure,
    config: Config,
    max_runs: u32,
) -> (Vec<Op>, Failure) {
    let mut best = (ops, first);
    let mut runs = 0u32;
    let fails = |ops: &[Op], runs: &mut u32| -> Option<Failure> {
        *runs += 1;
        run_with(spec, ops, config).err()
    };
    // The failure happened at some step: nothing after it matters.
    let mut changed = true;
    while changed && runs < max_runs {
        changed = false;
        let mut chunk = (best.0.len() / 2).max(1);
        while chunk >= 1 && runs < max_runs {
            let mut i = 2.min(best.0.len());
            while i < best.0.len() && runs < max_runs {
                let mut cand = best.0.clone();
                let end = (i + chunk).min(cand.len());
                cand.drain(i..end);
                if let Some(f) = fails(&cand, &mut runs) {
                    best = (cand, f);
                    changed = true;
                } else {
                    i += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
        let mut i = 0;
        while i < best.0.len() && runs < max_runs {
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
            let ops = match generate(spec, seed, opts.max_ops) {
                Ok(o) => o,
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
            out.cases += 1;
            match run_with(spec, &ops, opts.config) {
                Ok(c) => out.counters += c,
                Err(f) => {
                    out.counters.steps += ops.len() as u64;
                    let (shrunk, failure) =
                        shrink(spec, ops.clone(), f, opts.config, opts.shrink_runs);
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
        let a = generate("plain", 42, 20).unwrap();
        let b = generate("plain", 42, 20).unwrap();
        let c = generate("plain", 43, 20).unwrap();
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
