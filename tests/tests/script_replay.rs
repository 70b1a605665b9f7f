//! A failure's script replays: the `splicelab script` lines the harness writes for a
//! sequence parse, and running them through the real script runner leaves every file
//! exactly as the harness's reference model says (same calls, same order, same fds kept
//! open), for generated sequences on every model.

use check::harness::{Config, Harness};
use syscall::Syscalls;
use syscall::api::o;

fn replay_matches(model: &str, seed: u64) {
    let spec = check::profile::spec_for(model);
    let ops = check::runner::generate(&spec, seed, 30).expect("generate");
    let config = Config {
        check_each_step: false,
        crash_every: 0,
        crash_on_fsync: false,
        exact_space: false,
    };
    let mut h = Harness::with_config(&spec, config).expect("harness");
    for op in &ops {
        if let Err(e) = h.apply(op) {
            panic!("{model} seed {seed}: the harness failed: {e}");
        }
    }
    let script = h.replay_script();
    let parsed = splicelab::script::Script::parse(&script).unwrap_or_else(|e| {
        panic!("{model} seed {seed}: the script does not parse: {e}\n{script}")
    });
    let mut runner = splicelab::script::Runner::new(&spec, false).expect("runner");
    let mut sink = Vec::new();
    runner.run(&parsed, &mut sink).expect("run");
    let p = runner.process_mut();
    for name in &h.live {
        let fd = p
            .open(&format!("/{name}"), o::RDONLY, 0)
            .unwrap_or_else(|e| {
                panic!("{model} seed {seed}: {name} missing after replay: {e:?}\n{script}")
            });
        let got = p.pread(fd, 1 << 24, 0);
        let want = h.model.content(name);
        match got {
            Ok(d) => assert!(
                check::content::same(&d, &want),
                "{model} seed {seed}: {name} differs after replay ({} vs {} bytes)\n{script}\n{}",
                d.len(),
                want.len(),
                String::from_utf8_lossy(&sink)
            ),
            // A media error the harness tolerates in its own checks.
            Err(e) => assert_eq!(e, vfs::Errno::EIO, "{model} seed {seed}: {name}: {e:?}"),
        }
    }
}

#[test]
fn generated_scripts_replay_to_the_model() {
    for model in fs_models::spec::MODELS {
        for seed in 0..60 {
            replay_matches(model, seed);
        }
    }
}

/// The same over two and three mounts (`check::harness::multi`): the script mounts each
/// filesystem on a directory of the scratch root and names files by path. Signals are left
/// out: the harness plans one on every mount's task, the script's one task takes the first.
#[test]
fn generated_multi_mount_scripts_replay_to_the_model() {
    use check::harness::multi::{MultiHarness, ROOT};
    for models in [
        &["xfs-like:chunk=16k", "btrfs-like:chunk=64k"][..],
        &["ocfs2-like", "plain:chunk=4k", "nfs-like:async=1"],
    ] {
        let spec: Vec<String> = models.iter().map(|m| check::profile::spec_for(m)).collect();
        let spec = spec.join("+");
        for seed in 0..60 {
            let ops: Vec<_> = check::runner::generate(&spec, seed, 30)
                .expect("generate")
                .into_iter()
                .filter(|op| !matches!(op, check::ops::Op::Signal { .. }))
                .collect();
            let mut h = MultiHarness::new(&spec, Config::default()).expect("harness");
            for op in &ops {
                if let Err(e) = h.apply(op) {
                    panic!("{spec} seed {seed}: the harness failed: {e}");
                }
            }
            let script = h.replay_script();
            let parsed = splicelab::script::Script::parse(&script).unwrap_or_else(|e| {
                panic!("{spec} seed {seed}: the script does not parse: {e}\n{script}")
            });
            let mut runner = splicelab::script::Runner::new(ROOT, false).expect("runner");
            let mut sink = Vec::new();
            runner.run(&parsed, &mut sink).expect("run");
            let p = runner.process_mut();
            for (m, mount) in h.mounts.iter().enumerate() {
                for name in &mount.live {
                    let path = format!("/m{m}/{name}");
                    let fd = p.open(&path, o::RDONLY, 0).unwrap_or_else(|e| {
                        panic!("{spec} seed {seed}: {path} missing after replay: {e:?}\n{script}")
                    });
                    match p.pread(fd, 1 << 24, 0) {
                        Ok(d) => assert!(
                            check::content::same(&d, &mount.model.content(name)),
                            "{spec} seed {seed}: {path} differs after replay\n{script}\n{}",
                            String::from_utf8_lossy(&sink)
                        ),
                        Err(e) => assert_eq!(e, vfs::Errno::EIO, "{spec} seed {seed}: {path}"),
                    }
                }
            }
        }
    }
}
