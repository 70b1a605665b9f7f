//! `splicelab check`: random operation sequences against the reference model, with every
//! property of spec §6 checked after every step, and (`--crash`) the systematic
//! crash-state enumeration. The engine is the `check` crate (the same code the property
//! tests run); this module is the command line around it.
//!
//! - Deterministic: case `k` of `--seed S` is generated from seed `S + k`, so
//!   `--seed S+k --cases 1` replays it; the seed is printed first.
//! - Shardable: `--shard I/N` runs the cases with `k % N == I`.
//! - On failure: the shrunk sequence as a script for `splicelab script`, exit status 1.
//! - Planted bugs (`--plant NAME`, `--plant list`) need a build with the feature
//!   `planted-bugs` (`cargo run --release --features splicelab/planted-bugs -- check …`).

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use check::harness::Config;
use check::runner::{self, Options};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vfs::bugs::{self, Bug};

use crate::out::failure;

/// Arguments of `splicelab check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Filesystem model, as a model name or a mount spec MODEL[:key=value,...], or `all`;
    /// two or three mount specs joined with `+` (e.g.
    /// 'xfs-like:chunk=16k+btrfs-like:chunk=64k') check one harness over that many mounts,
    /// with files on each and copies between them
    #[arg(long, value_name = "MODEL|all|A+B[+C]", default_value = "all")]
    pub fs: String,
    /// Random cases per model (default: $SPLICELAB_CHECK_CASES, else 256)
    #[arg(long, value_name = "N")]
    pub cases: Option<u64>,
    /// Seed of case 0 (default: random; printed, so a run can be repeated)
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Run shard I of N (0-based): case k runs iff k % N == I, e.g. 0/4
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Most operations per case (after the two creates), at most 10000
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub ops: usize,
    /// Also check every crash state every N steps (0: only after each fsync and at each
    /// crash; the property tests use 1)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub crash_every: usize,
    /// Also enumerate every crash state of every workload of 1–3 operations (property 9)
    #[arg(long)]
    pub crash: bool,
    /// Switch a planted bug on to see the checks fail (`list` names them; needs a build
    /// with --features splicelab/planted-bugs)
    #[arg(long, value_name = "BUG")]
    pub plant: Vec<String>,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(what.to_string());
    pb
}

/// The most operations `--ops` may ask for per case: a case's operations are generated,
/// run and shrunk in memory, each step checked against the reference model, so a case of
/// 2^64 operations would only abort (allocation failure) or never end.
pub const MAX_OPS: usize = check::ops::MAX_OPS;

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard: expected I/N with 0 <= I < N, got '{s}'");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn specs(fs: &str) -> Result<Vec<String>, String> {
    if fs == "all" {
        return Ok(check::profile::all_specs());
    }
    if check::harness::multi::is_multi(fs) {
        let parts = check::harness::multi::parts(fs).map_err(|e| format!("--fs: {e}"))?;
        let mut specs = Vec::new();
        for part in parts {
            let spec = check::profile::spec_for(part);
            fs_models::spec::make(&spec).map_err(|e| format!("--fs: {e}"))?;
            specs.push(spec);
        }
        return Ok(vec![specs.join("+")]);
    }
    let spec = check::profile::spec_for(fs);
    fs_models::spec::make(&spec).map_err(|e| format!("--fs: {e}"))?;
    Ok(vec![spec])
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Runs `check`; returns the exit status (0 all checks passed, 1 a check failed, 2 bad
/// arguments).
pub fn run(args: &CheckArgs) -> i32 {
    let mut out = crate::out::stdout();
    let r = run_inner(args, &mut out);
    crate::out::exit_status(&mut out, r, "splicelab check", 2)
}

fn run_inner(args: &CheckArgs, out: &mut dyn Write) -> io::Result<i32> {
    if args.plant.iter().any(|p| p == "list") {
        for b in Bug::ALL {
            writeln!(out, "{:<32} property {}", b.name(), b.property())?;
        }
        if !bugs::AVAILABLE {
            writeln!(
                out,
                "(this build lacks the feature planted-bugs: --features splicelab/planted-bugs)"
            )?;
        }
        return Ok(0);
    }
    for name in &args.plant {
        let Some(b) = Bug::from_name(name) else {
            return Err(failure(format!(
                "unknown planted bug '{name}' (see --plant list)"
            )));
        };
        bugs::plant(b).map_err(|e| failure(e.to_string()))?;
    }
    let shard = args
        .shard
        .as_deref()
        .map(parse_shard)
        .transpose()
        .map_err(failure)?
        .unwrap_or((0, 1));
    if args.ops > MAX_OPS {
        return Err(failure(format!(
            "--ops {}: at most {MAX_OPS} operations per case",
            args.ops
        )));
    }
    let specs = specs(&args.fs).map_err(failure)?;
    let cases = args.cases.unwrap_or_else(|| {
        std::env::var("SPLICELAB_CHECK_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256)
    });
    let seed = args.seed.unwrap_or_else(rand::random);
    writeln!(
        out,
        "check: seed {seed}, {cases} cases x {} model{} ({}), shard {}/{}, up to {} ops per case{}",
        specs.len(),
        if specs.len() == 1 { "" } else { "s" },
        specs.join(" "),
        shard.0,
        shard.1,
        args.ops,
        if args.plant.is_empty() {
            String::new()
        } else {
            format!(", planted: {}", args.plant.join(" "))
        }
    )?;
    let opts = Options {
        specs: specs.clone(),
        cases,
        seed,
        shard,
        max_ops: args.ops.max(1),
        config: Config {
            crash_every: args.crash_every,
            ..Config::default()
        },
        ..Options::default()
    };
    let mine = (0..cases).filter(|k| k % shard.1 == shard.0).count() as u64;
    let pb = bar(mine * specs.len() as u64, "cases");
    let outcome = runner::run(&opts, |done, _| pb.set_position(done));
    pb.finish_and_clear();
    let t = secs(outcome.elapsed);
    let crash_when = match args.crash_every {
        0 => "after every fsync and crash".to_string(),
        1 => "after every step".to_string(),
        n => format!("after every fsync, crash and {n}th step"),
    };
    writeln!(
        out,
        "checked {} cases, {} operations, {} crash states ({} of them a snapshot already \
         accepted) in {t:.2} s: {:.0} cases/s, {:.0} ops/s (properties 1-5 and 7 after every \
         step, crash states {crash_when})",
        outcome.cases,
        outcome.counters.steps,
        outcome.counters.crash_states,
        outcome.counters.crash_states_reused,
        outcome.cases_per_sec(),
        outcome.ops_per_sec(),
    )?;
    let c = &outcome.counters;
    if c.offloads_cancelled + c.offloads_restarted > 0 {
        writeln!(
            out,
            "offloaded copies: {} cancelled by a signal, {} lost in a server reboot and sent again",
            c.offloads_cancelled, c.offloads_restarted
        )?;
    }
    if c.remaps_installed + c.remaps_restaged > 0 {
        writeln!(
            out,
            "remap=swap: {} remaps built with no inode lock held and installed under the \
             locks, {} builds found stale and done again",
            c.remaps_installed, c.remaps_restaged
        )?;
    }
    if c.cross_mount > 0 {
        writeln!(
            out,
            "between mounts: {} copies, clones and dedupes, {} of them byte copies that moved data",
            c.cross_mount, c.cross_mount_copied
        )?;
    }
    if let Some(f) = outcome.failure {
        writeln!(
            out,
            "FAILED: case {} (seed {}) on {}, shrunk from {} to {} operations:\n{}",
            f.case, f.seed, f.failure.spec, f.original_ops, f.shrunk_ops, f.failure
        )?;
        writeln!(
            out,
            "replay the case: splicelab check --fs {} --seed {} --cases 1 --ops {}{}",
            f.failure.spec,
            f.seed,
            args.ops,
            args.plant
                .iter()
                .map(|p| format!(" --plant {p}"))
                .collect::<String>()
        )?;
        return Ok(1);
    }
    if args.crash {
        let start = Instant::now();
        let mut total = check::enumerate::Report::default();
        // The enumeration is of one model at a time: each mount's of a multi-mount spec.
        let mut models: Vec<&str> = Vec::new();
        for spec in &specs {
            for part in check::runner::mount_specs(spec).map_err(failure)? {
                let model = part.split(':').next().unwrap_or(part);
                if !models.contains(&model) {
                    models.push(model);
                }
            }
        }
        for model in models {
            let pb = bar(0, "crash");
            let r = check::enumerate::enumerate(model, 3, |done, all| {
                pb.set_length(all);
                pb.set_position(done);
            });
            pb.finish_and_clear();
            match r {
                Ok(r) => {
                    writeln!(
                        out,
                        "crash enumeration {model}: {} workloads, {} crash states ({} of them a snapshot already accepted) in {:.2} s ({:.0} states/s)",
                        r.workloads,
                        r.states,
                        r.reused,
                        secs(r.elapsed),
                        r.states_per_sec()
                    )?;
                    total += r;
                }
                Err(f) => {
                    writeln!(out, "FAILED: crash enumeration on {model}:\n{f}")?;
                    return Ok(1);
                }
            }
        }
        writeln!(
            out,
            "crash enumeration: {} workloads, {} crash states ({} of them a snapshot already accepted) in {:.2} s ({:.0} states/s)",
            total.workloads,
            total.states,
            total.reused,
            secs(start.elapsed()),
            total.states as f64 / secs(start.elapsed()).max(1e-9)
        )?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse() {
        assert_eq!(parse_shard("0/4"), Ok((0, 4)));
        assert_eq!(parse_shard("3/4"), Ok((3, 4)));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1/0").is_err());
        assert!(parse_shard("x").is_err());
    }
}
