//! Property 9 (spec §6): every workload of 1–3 operations drawn from {pwrite, truncate,
//! each splice flag, clone, fsync, rename, unlink} on two small files, enumerated
//! systematically (`check::enumerate`), on every model; every crash state the model's
//! atomicity permits is checked for properties 5 (fsck, no orphans after recovery) and 6
//! (a permitted state: never garbage, fsynced content kept). The counts are printed
//! (`--nocapture`); throughput is measured by `splicelab check --crash`, not here.
//!
//! `SPLICELAB_CRASH_OPS=2` makes it shallower (default 3).

fn max_len() -> usize {
    std::env::var("SPLICELAB_CRASH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn enumerate(model: &str) {
    match check::enumerate::enumerate(model, max_len(), |_, _| {}) {
        Ok(r) => println!(
            "{model}: {} workloads, {} crash states verified ({} checked, the rest a \
             snapshot already accepted)",
            r.workloads,
            r.states,
            r.states - r.reused
        ),
        Err(f) => panic!("{model}: {f}"),
    }
}

#[test]
fn plain() {
    enumerate("plain");
}

#[test]
fn tmpfs_like() {
    enumerate("tmpfs-like");
}

#[test]
fn btrfs_like() {
    enumerate("btrfs-like");
}

#[test]
fn ocfs2_like() {
    enumerate("ocfs2-like");
}

#[test]
fn xfs_like() {
    enumerate("xfs-like");
}

/// Issue 20: with `remap=swap` a clone is built outside the locks and installed in one
/// step: every crash state shows the destination's old mapping or its new one, never a
/// mix (a mix matches no state of the reference history), and passes fsck.
#[test]
fn btrfs_like_remap_swap() {
    enumerate("btrfs-like:remap=swap");
}

#[test]
fn xfs_like_remap_swap() {
    enumerate("xfs-like:remap=swap");
}

#[test]
fn ocfs2_like_remap_swap() {
    enumerate("ocfs2-like:remap=swap");
}

#[test]
fn nfs_like() {
    enumerate("nfs-like");
}

#[test]
fn the_alphabet_covers_the_spec_list() {
    use check::ops::{Flag, Op};
    let a = check::enumerate::alphabet(4096);
    let has = |p: &dyn Fn(&Op) -> bool| a.iter().any(p);
    assert!(has(&|o| matches!(o, Op::Pwrite { .. })));
    assert!(has(&|o| matches!(o, Op::Truncate { .. })));
    for f in Flag::ALL {
        assert!(has(&|o| matches!(o, Op::Splice { flag, .. } if *flag == f)));
    }
    assert!(has(&|o| matches!(o, Op::Clone { .. })));
    assert!(has(&|o| matches!(o, Op::Fsync { .. })));
    assert!(has(&|o| matches!(o, Op::Rename { .. })));
    assert!(has(&|o| matches!(o, Op::Unlink { .. })));
    assert_eq!(
        check::enumerate::workloads(&a, 3).len(),
        16 + 16 * 16 + 16 * 16 * 16
    );
}
