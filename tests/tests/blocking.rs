//! Property 7 (spec §6) with real threads: a reader racing a large default (never-share)
//! splice waits at most one chunk's cost of virtual time per read, and no inode lock is
//! held longer than one chunk; a must-share of the same file moves no data and holds the
//! locks for O(extents). Virtual time makes the bounds exact whatever the interleaving.

use std::thread;

use check::profile::Profile;
use syscall::api::o;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

const CHUNK: u64 = 64 << 10;
const SIZE: u64 = 64 * CHUNK;

/// The files, the model's profile, and the virtual time the setup ended (tasks of the
/// test start then: a task whose clock lagged would count the setup's work as waiting).
fn setup(model: &str) -> (Arc<Vfs>, Profile, u64) {
    let spec = format!("{model}:size=64m,chunk=64k");
    let fs = fs_models::spec::make(&spec).expect("spec");
    let profile = Profile::of(&spec, &*fs);
    let vfs = Arc::new(Vfs::new());
    vfs.mount("/", fs).expect("mount");
    let mut p = Process::new(vfs.clone(), 0);
    let fd = p.open("/src", o::CREAT | o::RDWR, 0o644).expect("create");
    p.pwrite(fd, &Data::pattern(7, 0, SIZE), 0).expect("write");
    let fd = p.open("/dst", o::CREAT | o::RDWR, 0o644).expect("create");
    p.pwrite(fd, &Data::fill(1, SIZE), 0).expect("write");
    (vfs, profile, p.task.now())
}

fn reader_races_copy(model: &str, flags: u32) {
    let (vfs, profile, t0) = setup(model);
    // The destination's lock records every hold (who, from, to).
    let (mnt, ino) = vfs.resolve("/dst").expect("dst");
    let dst_lock = mnt.inode(ino);
    dst_lock.lock.record_timeline(true);
    let v = vfs.clone();
    let copier = thread::spawn(move || {
        let mut p = Process::new(v, 1);
        p.task.wait_until(t0);
        let s = p.open("/src", o::RDONLY, 0).expect("open");
        let d = p.open("/dst", o::RDWR, 0).expect("open");
        let (mut a, mut b) = (0u64, 0u64);
        let r = p.splice(s, Some(&mut a), d, Some(&mut b), SIZE as usize, flags);
        (r, p.task.take_stats())
    });
    let mut p = Process::new(vfs.clone(), 2);
    p.task.wait_until(t0);
    let d = p.open("/dst", o::RDONLY, 0).expect("open");
    for i in 0..200 {
        p.pread(d, 4096, ((i * 4096) % SIZE) as i64).expect("read");
    }
    let (r, st) = copier.join().expect("copier");
    assert_eq!(r, Ok(SIZE as usize));
    let bound = profile.chunk_hold_bound();
    let holds = dst_lock
        .lock
        .with_state(|s| s.timeline.clone().unwrap_or_default());
    let copier_holds: Vec<u64> = holds
        .iter()
        .filter(|h| h.tid == 1)
        .map(|h| h.end - h.start)
        .collect();
    // The destination lock is released between chunks (one hold per chunk), and no hold
    // is longer than one chunk's work: a reader arriving during the copy waits for the
    // rest of one chunk at most. (Lamport clocks make the readers' own waits depend on
    // how far each thread's clock ran ahead (A4), so the holds are what is bounded.)
    assert!(
        copier_holds.len() as u64 >= st.chunks && st.chunks >= SIZE / CHUNK,
        "{model}: {} holds for {} chunks",
        copier_holds.len(),
        st.chunks
    );
    let worst = copier_holds.iter().copied().max().unwrap_or(0);
    assert!(
        worst <= bound,
        "{model}: a chunk held the destination lock {worst} ns > {bound}"
    );
    println!(
        "{model} flags {flags:#x}: {} chunks, {} destination-lock holds by the copy, longest {worst} ns (bound {bound}), {} by the reader",
        st.chunks,
        copier_holds.len(),
        holds.iter().filter(|h| h.tid == 2).count()
    );
}

#[test]
fn a_reader_waits_at_most_one_chunk_of_a_never_share_splice() {
    for model in ["plain", "btrfs-like", "xfs-like", "ocfs2-like"] {
        reader_races_copy(model, 0);
    }
}

#[test]
fn must_share_moves_no_data_and_holds_locks_for_o_extents() {
    for model in ["btrfs-like", "xfs-like", "ocfs2-like"] {
        let (vfs, profile, t0) = setup(model);
        let mut p = Process::new(vfs, 1);
        p.task.wait_until(t0);
        let s = p.open("/src", o::RDONLY, 0).expect("open");
        let d = p.open("/dst", o::RDWR, 0).expect("open");
        let (mut a, mut b) = (0u64, 0u64);
        p.task.take_stats();
        let r = p.splice(s, Some(&mut a), d, Some(&mut b), SIZE as usize, 0x20);
        let st = p.task.take_stats();
        assert_eq!(r, Ok(SIZE as usize), "{model}");
        assert_eq!((st.bytes_copied, st.chunks), (0, 0), "{model}");
        let bound = profile.remap_hold_bound(st.extents_remapped);
        assert!(
            st.longest_hold <= bound,
            "{model}: {} > {bound}",
            st.longest_hold
        );
        // A byte copy of the same range would take far longer than the remap did.
        assert!(
            st.longest_hold * 10 < profile.cost.byte_copy(SIZE),
            "{model}"
        );
    }
}
