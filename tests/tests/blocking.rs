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
    setup_spec(&format!("{model}:size=64m,chunk=64k"))
}

/// As [`setup`] on a whole mount spec.
fn setup_spec(spec: &str) -> (Arc<Vfs>, Profile, u64) {
    let spec = spec.to_string();
    let fs = fs_models::spec::make(&spec).expect("spec");
    let profile = Profile::of(&spec, &*fs);
    let vfs = Arc::new(Vfs::new());
    vfs.mount("/", fs).expect("mount");
    let mut p = Process::new(vfs.clone(), 0);
    let fd = p.open("/src", o::CREAT | o::RDWR, 0o644).expect("create");
    p.pwrite(fd, &Data::pattern(7, 0, SIZE), 0).expect("write");
    let fd = p.open("/dst", o::CREAT | o::RDWR, 0o644).expect("create");
    p.pwrite(fd, &Data::fill(1, SIZE), 0).expect("write");
    // Written back and durable: a copy's first step does not also pay for the setup's
    // write-back (a network client flushes both files before its first COPY).
    p.sync();
    (vfs, profile, p.task.now())
}

/// A thread (tid 1) that splices all of /src into /dst with `flags`, starting at `t0`;
/// joins to the result and the thread's statistics.
fn spawn_splice(
    vfs: &Arc<Vfs>,
    t0: u64,
    flags: u32,
) -> thread::JoinHandle<(Result<usize, vfs::errno::Errno>, vfs::task::TaskStats)> {
    let v = vfs.clone();
    thread::spawn(move || {
        let mut p = Process::new(v, 1);
        p.task.wait_until(t0);
        let s = p.open("/src", o::RDONLY, 0).expect("open");
        let d = p.open("/dst", o::RDWR, 0).expect("open");
        let (mut a, mut b) = (0u64, 0u64);
        let r = p.splice(s, Some(&mut a), d, Some(&mut b), SIZE as usize, flags);
        (r, p.task.take_stats())
    })
}

/// A reader (tid 2) that reads /dst 200 times, 4 KiB at a time, from `t0` on.
fn read_dst_while_copying(vfs: &Arc<Vfs>, t0: u64) {
    let mut p = Process::new(vfs.clone(), 2);
    p.task.wait_until(t0);
    let d = p.open("/dst", o::RDONLY, 0).expect("open");
    for i in 0..200 {
        p.pread(d, 4096, ((i * 4096) % SIZE) as i64).expect("read");
    }
}

fn reader_races_copy(model: &str, flags: u32) {
    let (vfs, profile, t0) = setup(model);
    // The destination's lock records every hold (who, from, to).
    let (mnt, ino) = vfs.resolve("/dst").expect("dst");
    let dst_lock = mnt.inode(ino);
    dst_lock.lock.record_timeline(true);
    let copier = spawn_splice(&vfs, t0, flags);
    read_dst_while_copying(&vfs, t0);
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
        let bound = profile.remap_hold_bound(st.extents_remapped, 0);
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

/// The destination lock's holds by thread `tid`, as `(start, end)`.
fn holds_of(vfs: &Arc<Vfs>, path: &str, tid: u32) -> Vec<(u64, u64)> {
    let (mnt, ino) = vfs.resolve(path).expect("resolve");
    mnt.inode(ino).lock.with_state(|s| {
        s.timeline
            .iter()
            .flatten()
            .filter(|h| h.tid == tid)
            .map(|h| (h.start, h.end))
            .collect()
    })
}

/// Issue 16, item 5: an offloaded copy (nfs-like COPY) holds the destination's inode lock
/// around each COPY, as Linux's `nfs42_proc_copy` does — so what a reader or writer of the
/// destination waits is visible in virtual time (the tour's "dst lock" column), and no
/// hold of the reader overlaps one of the copy's. Synchronous COPYs: one hold per server
/// step, released in between.
#[test]
fn an_offloaded_copy_holds_the_destination_lock_per_copy() {
    const STEP: u64 = 256 << 10;
    let spec = format!("nfs-like:server=plain,copy=bytes,copychunk={STEP},size=64m,chunk=64k");
    let (vfs, profile, t0) = setup_spec(&spec);
    let (mnt, ino) = vfs.resolve("/dst").expect("dst");
    mnt.inode(ino).lock.record_timeline(true);
    // Never-share: the server advertises a non-sharing COPY (copy=bytes).
    let copier = spawn_splice(&vfs, t0, 0);
    read_dst_while_copying(&vfs, t0);
    let (r, st) = copier.join().expect("copier");
    assert_eq!(r, Ok(SIZE as usize));
    assert_eq!(st.bytes_shared, 0);
    let copies = holds_of(&vfs, "/dst", 1);
    let reads = holds_of(&vfs, "/dst", 2);
    assert_eq!(copies.len() as u64, SIZE / STEP, "one hold per COPY");
    // Each hold covers the server's copy of one step (the lock is really held while the
    // server works), and at most that plus the commits and round trips around it.
    let step_bound = profile.remap_hold_bound(0, STEP);
    for &(a, b) in &copies {
        assert!(b - a >= profile.cost.byte_copy(STEP), "hold {} ns", b - a);
        assert!(b - a <= step_bound, "hold {} ns > {step_bound}", b - a);
    }
    for &(ra, rb) in &reads {
        for &(ca, cb) in &copies {
            assert!(
                rb <= ca || cb <= ra,
                "read [{ra}, {rb}) overlaps COPY [{ca}, {cb})"
            );
        }
    }
}

/// Issue 16: an asynchronous COPY holds the destination's lock until CB_OFFLOAD (one hold
/// for the whole copy, as on Linux); a writer racing it is serialised in virtual time, and
/// once both have returned nothing changes the file any more — no copy outlives its call.
#[test]
fn a_writer_racing_an_async_copy_waits_for_it_and_nothing_lands_later() {
    let spec = "nfs-like:server=plain,async=1,copy=bytes,copychunk=256k,size=64m,chunk=64k";
    let (vfs, profile, t0) = setup_spec(spec);
    let (mnt, ino) = vfs.resolve("/dst").expect("dst");
    mnt.inode(ino).lock.record_timeline(true);
    let copier = spawn_splice(&vfs, t0, 0);
    let mut p = Process::new(vfs.clone(), 2);
    p.task.wait_until(t0);
    let d = p.open("/dst", o::RDWR, 0).expect("open");
    for i in 0..50u64 {
        p.pwrite(d, &Data::fill(0xee, 4096), ((i * 4096) % SIZE) as i64)
            .expect("write");
    }
    assert_eq!(copier.join().expect("copier").0, Ok(SIZE as usize));
    let copies = holds_of(&vfs, "/dst", 1);
    assert_eq!(copies.len(), 1, "one hold from COPY to CB_OFFLOAD");
    let (ca, cb) = copies[0];
    assert!(
        cb - ca >= profile.cost.byte_copy(SIZE),
        "the whole server copy"
    );
    for (wa, wb) in holds_of(&vfs, "/dst", 2) {
        assert!(
            wb <= ca || cb <= wa,
            "write [{wa}, {wb}) overlaps the copy [{ca}, {cb})"
        );
    }
    // Both returned: the file is what it is now, and stays so however far time moves and
    // whatever else the server is asked to do.
    p.fsync(d).expect("fsync");
    let now = p.pread(d, SIZE as usize, 0).expect("read");
    p.task.wait_until(p.task.now() + 60_000_000_000);
    let e = p.open("/other", o::CREAT | o::RDWR, 0o644).expect("create");
    p.pwrite(e, &Data::fill(3, 1 << 20), 0).expect("write");
    p.fsync(e).expect("fsync");
    let later = p.pread(d, SIZE as usize, 0).expect("read");
    assert!(
        now.same_content(&later),
        "the file changed after both calls returned"
    );
}

/// Issue 19: a byte copy between two mounts with different `chunk=` sizes moves chunks of
/// the smaller one, so each hold of the destination's lock is at most one small chunk —
/// a copy that used the larger chunk would hold it four times as long.
#[test]
fn a_cross_mount_copy_holds_each_lock_at_most_one_chunk_of_the_smaller_mount() {
    const SMALL: u64 = 16 << 10;
    let (vfs, _, t0) = setup("plain");
    let small = format!("btrfs-like:size=64m,chunk={SMALL}");
    let fs = fs_models::spec::make(&small).expect("spec");
    let profile = Profile::of(&small, &*fs);
    vfs.mount("/m", fs).expect("mount");
    let mut p = Process::new(vfs.clone(), 1);
    p.task.wait_until(t0);
    let s = p.open("/src", o::RDONLY, 0).expect("open");
    let d = p.open("/m/dst", o::CREAT | o::RDWR, 0o644).expect("create");
    let (mnt, ino) = vfs.resolve("/m/dst").expect("dst");
    mnt.inode(ino).lock.record_timeline(true);
    let (mut a, mut b) = (0u64, 0u64);
    let r = p.splice(s, Some(&mut a), d, Some(&mut b), SIZE as usize, 0);
    assert_eq!(r, Ok(SIZE as usize));
    let holds = holds_of(&vfs, "/m/dst", 1);
    assert_eq!(holds.len() as u64, SIZE / SMALL, "one hold per small chunk");
    // The bound of a 16 KiB chunk on either model: the plain source's reads cost the same.
    let bound = profile.chunk_hold_bound();
    for (a, b) in holds {
        assert!(
            b - a <= bound,
            "a hold of {} ns > {bound} (one {SMALL}-byte chunk)",
            b - a
        );
    }
}

/// Issue 20, property 7 extended: on a sharing model mounted `remap=swap`, a must-share
/// splice of a fragmented file racing a reader of the destination (real threads) holds the
/// destination's lock only to install the remap it built with no lock held: one hold, no
/// longer than `install_hold_bound`, while the locked remap of the same file holds it for
/// the whole O(extents) build.
#[test]
fn a_staged_must_share_holds_the_destination_lock_only_to_install() {
    for model in ["btrfs-like", "xfs-like", "ocfs2-like"] {
        let mut holds = Vec::new();
        for spec in [
            format!("{model}:size=64m,chunk=64k"),
            format!("{model}:size=64m,chunk=64k,remap=swap"),
        ] {
            let (vfs, profile, t0) = setup_spec(&spec);
            // 256 extents: every other block of /src rewritten (copy on write or a new
            // extent on every model).
            {
                let mut p = Process::new(vfs.clone(), 0);
                p.task.wait_until(t0);
                let s = p.open("/src", o::RDWR, 0).expect("open");
                for i in (0..512u64).step_by(2) {
                    p.pwrite(s, &Data::fill(9, 4096), (i * 4096) as i64)
                        .expect("write");
                }
                p.sync();
            }
            let (mnt, ino) = vfs.resolve("/dst").expect("dst");
            mnt.inode(ino).lock.record_timeline(true);
            let copier = spawn_splice(&vfs, t0, 0x20);
            read_dst_while_copying(&vfs, t0);
            let (r, st) = copier.join().expect("copier");
            assert_eq!(r, Ok(SIZE as usize), "{spec}");
            assert_eq!((st.chunks, st.bytes_copied), (0, 0), "{spec}: moved data");
            let copy_holds = holds_of(&vfs, "/dst", 1);
            assert_eq!(copy_holds.len(), 1, "{spec}: one hold of the destination");
            let longest = copy_holds.iter().map(|(s, e)| e - s).max().unwrap();
            if spec.contains("remap=swap") {
                assert_eq!(st.remaps_installed, 1, "{spec}: not staged: {st:?}");
                let bound = profile.install_hold_bound(st.extents_remapped);
                assert!(longest <= bound, "{spec}: held {longest} ns > {bound} ns");
            } else {
                assert_eq!(st.remaps_installed, 0, "{spec}");
            }
            holds.push((longest, st.extents_remapped));
        }
        let ((locked, extents), (swapped, _)) = (holds[0], holds[1]);
        assert!(extents >= 256, "{model}: {extents} extents");
        assert!(
            swapped * 20 < locked,
            "{model}: the staged hold {swapped} ns is not far below the locked {locked} ns"
        );
    }
}

/// Issue 20: a staged remap whose destination is written between the build and the
/// install finds its plan stale and builds it again; after `MAX_STAGING_ATTEMPTS` stale
/// builds it is built under the locks. The writes run at the copy's preemption point (the
/// single-threaded driver `race` uses), so the interleaving is exact. Every outcome is the
/// remap's whole result over the last write: a stale plan is never installed.
#[test]
fn a_staged_remap_made_stale_by_a_writer_is_built_again() {
    use std::sync::atomic::{AtomicU32, Ordering};
    for (writes, restaged, installed, locked) in [(1, 1, 1, 0), (3, 3, 0, 1), (100, 3, 0, 1)] {
        let (vfs, _, t0) = setup_spec("xfs-like:size=64m,chunk=64k,remap=swap");
        let mut p = Process::new(vfs.clone(), 1);
        p.task.wait_until(t0);
        let s = p.open("/src", o::RDONLY, 0).expect("open");
        let d = p.open("/dst", o::RDWR, 0).expect("open");
        let done = std::sync::Arc::new(AtomicU32::new(0));
        let (v, n) = (vfs.clone(), done.clone());
        p.task.set_preemption(Some(Box::new(move |now| {
            if n.fetch_add(1, Ordering::SeqCst) < writes {
                let mut w = Process::new(v.clone(), 2);
                w.task.wait_until(now);
                let fd = w.open("/dst", o::RDWR, 0).expect("open");
                w.pwrite(fd, &Data::fill(0x77, 4096), 0).expect("write");
            }
        })));
        let (mut a, mut b) = (0u64, 0u64);
        let r = p.splice(s, Some(&mut a), d, Some(&mut b), SIZE as usize, 0x20);
        p.task.set_preemption(None);
        assert_eq!(r, Ok(SIZE as usize), "{writes} writes");
        let st = p.task.take_stats();
        assert_eq!(
            (
                st.remaps_restaged,
                st.remaps_installed,
                st.remaps_locked_after_staging
            ),
            (restaged, installed, locked),
            "{writes} writes: {st:?}"
        );
        assert_eq!(st.bytes_shared, SIZE, "{writes} writes");
        let got = p.pread(d, SIZE as usize, 0).expect("read");
        assert_eq!(
            got,
            Data::pattern(7, 0, SIZE),
            "{writes} writes: the remap's result"
        );
    }
}
