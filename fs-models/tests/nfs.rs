//! nfs-like: the NFSv4.2 client/server model driven through the `FileSystem` trait.
//!
//! Each test names the decision of `fs_models::nfs` (module documentation) it pins.

use fs_models::nfs::{self, NfsClient, NfsOptions, client_side_copy};
use fs_models::spec::{self, Spec};
use vfs::clock::{CostModel, Nanos, SEC};
use vfs::data::Data;
use vfs::errno::Errno;
use vfs::extent::{FileKind, Ino, ROOT_INO};
use vfs::fs::{CopyHow, Fault, FileSystem, remap_flags};
use vfs::sync::Arc;
use vfs::task::{SignalPlan, Task};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const BS: u64 = 4096;

/// A backend that shares extents.
fn sharing_backend() -> Arc<dyn FileSystem> {
    spec::make("btrfs-like").expect("btrfs-like")
}

fn plain() -> Arc<dyn FileSystem> {
    spec::make("plain").expect("plain")
}

/// Mounts an nfs-like client of a fresh server exporting `backend` with `opts`
/// (`key=value,...` as in a mount spec).
fn client(backend: Arc<dyn FileSystem>, opts: &str) -> NfsClient {
    let sp = Spec::parse(&format!("nfs-like:{opts}")).unwrap();
    let o = NfsOptions::parse(&sp.options, spec::MODELS).unwrap();
    nfs::mount(backend, &o)
}

/// Creates `name` through the client.
fn create(c: &NfsClient, task: &Task, name: &str) -> Ino {
    c.create(task, ROOT_INO, name, FileKind::Regular).unwrap()
}

/// Fills `ino` with `len` bytes of pattern `seed` directly on the server's backend and
/// commits it (setup that should not cost the client anything).
fn server_fill(c: &NfsClient, ino: Ino, len: u64, seed: u64) {
    let b = c.server().backend();
    let t = Task::new(99);
    b.write(&t, ino, 0, &Data::pattern(seed, 0, len)).unwrap();
    b.fsync(&t, ino, false).unwrap();
}

/// The backend's content of `[off, off + len)` of `ino`.
fn on_server(c: &NfsClient, ino: Ino, off: u64, len: u64) -> Data {
    c.server()
        .backend()
        .read(&Task::new(98), ino, off, len)
        .unwrap()
}

fn never() -> CopyHow {
    CopyHow {
        no_share: true,
        nonblock: false,
    }
}

fn may() -> CopyHow {
    CopyHow::default()
}

/// What the VFS does with a copy method ([`vfs::copy::steps`]): one call after another,
/// checking for a signal in between.
#[allow(clippy::too_many_arguments)]
fn copy_all(
    c: &NfsClient,
    task: &Task,
    s: Ino,
    soff: u64,
    d: Ino,
    doff: u64,
    len: u64,
    how: CopyHow,
) -> Result<u64, Errno> {
    vfs::copy::steps(task, len, |done| {
        c.copy_file_range(task, s, soff + done, d, doff + done, len - done, how)
    })
}

/// A source of `len` pattern bytes and an empty destination.
fn src_dst(c: &NfsClient, task: &Task, len: u64) -> (Ino, Ino) {
    let s = create(c, task, "src");
    let d = create(c, task, "dst");
    server_fill(c, s, len, 7);
    (s, d)
}

fn assert_clean(c: &NfsClient) {
    let p = c.fsck();
    assert!(p.is_empty(), "fsck: {p:#?}");
}

/// Virtual time of copying `len` bytes through the client with the VFS's 1 MiB chunks and
/// an fsync: what `policy=strict` makes a never-share copy cost.
fn client_side(c: &NfsClient, len: u64) -> Nanos {
    let task = Task::new(2);
    let s = create(c, &task, "cs-src");
    let d = create(c, &task, "cs-dst");
    server_fill(c, s, len, 7);
    let t = client_side_copy(c, &task, s, d, len, MIB).unwrap();
    assert!(on_server(c, d, 0, len).same_content(&Data::pattern(7, 0, len)));
    t
}

// ---------------------------------------------------------------------------- COPY

#[test]
fn sync_copy_of_1gib_is_much_faster_than_a_client_side_copy() {
    // Decision 8: one synchronous COPY of at most copychunk (4 MiB) per call.
    let c = client(plain(), "");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, GIB);
    let t0 = task.now();
    assert_eq!(
        c.copy_file_range(&task, s, 0, d, 0, GIB, may()),
        Ok(4 * MIB),
        "one COPY: the server's step"
    );
    assert_eq!(
        copy_all(&c, &task, s, 4 * MIB, d, 4 * MIB, GIB - 4 * MIB, may()),
        Ok(GIB - 4 * MIB)
    );
    c.fsync(&task, d, false).unwrap();
    let offload = task.now() - t0;
    let st = c.stats();
    let by_client = client_side(&c, GIB);
    // Each COPY after the first starts with a COMMIT of its predecessor (R1; Linux commits
    // after each COPY), so the server's byte copy is paid plus 255 commits.
    assert!(
        offload * 5 < by_client * 3,
        "server-side copy {offload} ns should be well under client-side {by_client} ns"
    );
    // It costs at least the server's own byte copy, and the network did not carry the data.
    assert!(offload >= CostModel::local_ssd().byte_copy(GIB));
    assert_eq!(st.rpc("COPY"), 256);
    assert_eq!(st.rpc("CLONE"), 0, "copy_file_range sends COPY only");
    assert!(st.bytes_sent < 10 * MIB, "sent {} bytes", st.bytes_sent);
    assert_eq!(task.stats().chunks, 256);
    assert!(on_server(&c, d, 0, GIB).same_content(&Data::pattern(7, 0, GIB)));
    assert_eq!(c.server().stats().bytes_copied, GIB);
    assert_clean(&c);
}

#[test]
fn async_copy_of_1gib_waits_for_cb_offload() {
    // Decision 9: one COPY, then CB_OFFLOAD at the virtual time the server finished.
    let c = client(plain(), "async=1");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, GIB);
    let t0 = task.now();
    // strict (default) and a copy=reflink server: a never-share copy is refused at once.
    assert_eq!(
        c.copy_file_range(&task, s, 0, d, 0, GIB, never()),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(c.copy_file_range(&task, s, 0, d, 0, GIB, may()), Ok(GIB));
    let offload = task.now() - t0;
    let st = c.stats();
    assert_eq!((st.rpc("COPY"), st.rpc("CB_OFFLOAD")), (1, 1));
    assert_eq!(task.stats().chunks, 256, "one wake-up per server chunk");
    assert!(offload >= CostModel::local_ssd().byte_copy(GIB));
    assert!(offload * 2 < client_side(&c, GIB));
    assert_eq!(c.server().outstanding_copies(), 0);
    c.fsync(&task, d, false).unwrap();
    assert!(on_server(&c, d, 0, GIB).same_content(&Data::pattern(7, 0, GIB)));
    assert_clean(&c);
}

#[test]
fn copy_file_range_sends_copy_and_a_reflinking_server_shares() {
    // Decision 7: COPY only, even for an aligned range; this server (copy=reflink)
    // implements COPY with a (shortened) reflink plus a byte-copied tail.
    let c = client(sharing_backend(), "");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, GIB);
    let t0 = task.now();
    assert_eq!(copy_all(&c, &task, s, 0, d, 0, GIB, may()), Ok(GIB));
    let t = task.now() - t0;
    // No data moves: the time is the 256 COPYs' round trips and the COMMIT before each.
    assert!(
        t < CostModel::local_ssd().byte_copy(GIB) / 2,
        "reflinking COPYs took {t} ns"
    );
    assert_eq!(c.stats().rpc("CLONE"), 0);
    assert_eq!(
        c.stats().rpc("COPY"),
        GIB / (4 * MIB),
        "one COPY per server step"
    );
    assert_eq!(c.image().shared_blocks(d, 0, GIB / BS).unwrap(), GIB / BS);
    let d2 = create(&c, &task, "d2");
    assert_eq!(
        copy_all(&c, &task, s, 0, d2, 0, 10 * MIB + 100, may()),
        Ok(10 * MIB + 100)
    );
    assert_eq!(c.stats().rpc("COPY"), GIB / (4 * MIB) + 3);
    assert!(
        on_server(&c, d2, 0, 10 * MIB + 100).same_content(&Data::pattern(7, 0, 10 * MIB + 100))
    );
    assert_clean(&c);
}

#[test]
fn the_server_decides_sharing_per_copy() {
    // Decision 7: an ocfs2 backend refuses to share two files in different refcount trees
    // (EOPNOTSUPP); the server byte-copies that COPY and still shares the next one.
    let c = client(spec::make("ocfs2-like").unwrap(), "");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, 8 * MIB);
    let other = create(&c, &task, "other");
    let tagged = c.server().backend().image().inode_tags.clone();
    // Put `other` in a refcount tree of its own by cloning into it from a third file.
    let third = create(&c, &task, "third");
    server_fill(&c, third, MIB, 9);
    assert_eq!(
        c.remap_file_range(&task, third, 0, other, 0, MIB, 0),
        Ok(MIB)
    );
    assert_eq!(c.remap_file_range(&task, s, 0, d, 0, MIB, 0), Ok(MIB));
    let img = c.server().backend().image();
    let differ = img
        .inode_tags
        .iter()
        .any(|(&(i, k), &v)| i == s && img.tag(other, k).is_some_and(|w| w != v));
    assert!(
        differ || tagged.is_empty(),
        "s and other are in different trees"
    );
    let shared0 = c.server().stats().bytes_shared;
    assert_eq!(
        copy_all(&c, &task, s, 0, other, 2 * MIB, MIB, may()),
        Ok(MIB)
    );
    if differ {
        assert_eq!(
            c.server().stats().bytes_shared,
            shared0,
            "refused: byte-copied"
        );
    }
    assert_eq!(
        copy_all(&c, &task, s, 2 * MIB, d, 2 * MIB, MIB, may()),
        Ok(MIB)
    );
    assert_eq!(
        c.server().stats().bytes_shared,
        shared0 + MIB,
        "the next COPY between sharable files shares again"
    );
    assert!(on_server(&c, other, 2 * MIB, MIB).same_content(&Data::pattern(7, 0, MIB)));
    assert_clean(&c);
}

// ---------------------------------------------------------------------------- CLONE

#[test]
fn clone_shares_on_a_cloning_server_and_is_eopnotsupp_on_plain() {
    let task = Task::new(1);
    let p = client(plain(), "");
    let (s, d) = src_dst(&p, &task, 8 * MIB);
    assert_eq!(
        p.remap_file_range(&task, s, 0, d, 0, MIB, 0),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        p.remap_file_range(&task, s, 0, d, 0, MIB, 0),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        p.stats().rpc("CLONE"),
        1,
        "NOTSUPP is remembered (no second RPC)"
    );
    assert!(
        p.has_remap(),
        "the client has the method; the server decides"
    );

    let c = client(sharing_backend(), "");
    let (s, d) = src_dst(&c, &task, 8 * MIB);
    assert_eq!(
        c.remap_block_size(),
        c.server().backend().remap_block_size()
    );
    // Checks before any RPC: dedupe, unknown flags, alignment to clone_blksize.
    assert_eq!(
        c.remap_file_range(&task, s, 0, d, 0, MIB, remap_flags::DEDUP),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        c.remap_file_range(&task, s, 0, d, 0, MIB, 1 << 7),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        c.remap_file_range(&task, s, 512, d, 0, MIB, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        c.remap_file_range(&task, s, 0, d, 0, MIB + 1, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(c.stats().rpc("CLONE"), 0);
    // CAN_SHORTEN rounds the length down instead.
    assert_eq!(
        c.remap_file_range(&task, s, 0, d, 0, MIB + 1, remap_flags::CAN_SHORTEN),
        Ok(MIB)
    );
    assert_eq!(
        c.remap_file_range(&task, s, 4 * MIB, d, 4 * MIB, 4 * MIB, 0),
        Ok(4 * MIB)
    );
    assert_eq!(c.stats().rpc("CLONE"), 2);
    let img = c.image();
    assert_eq!(img.shared_blocks(d, 0, 8 * MIB / BS).unwrap(), 5 * MIB / BS);
    // A CLONE is committed by the server: a reboot right after keeps it.
    c.inject(&task, Fault::Reboot).unwrap();
    assert!(on_server(&c, d, 4 * MIB, 4 * MIB).same_content(&Data::pattern(7, 4 * MIB, 4 * MIB)));
    assert_clean(&c);
}

#[test]
fn clone_blksize_follows_the_backend() {
    let task = Task::new(1);
    let c = client(spec::make("ocfs2-like:cluster=64k").unwrap(), "");
    assert_eq!(c.caps().clone_blksize, 64 << 10);
    let (s, d) = src_dst(&c, &task, 8 * MIB);
    assert_eq!(
        c.remap_file_range(&task, s, 4096, d, 4096, MIB, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        c.stats().rpc("CLONE"),
        0,
        "refused by the client before any RPC"
    );
    assert_eq!(
        c.remap_file_range(&task, s, 64 << 10, d, 64 << 10, MIB, 0),
        Ok(MIB)
    );
    let x = client(spec::make("xfs-like").unwrap(), "");
    assert_eq!(x.caps().clone_blksize, 4096);
    let (s, d) = src_dst(&x, &task, 8 * MIB);
    assert_eq!(x.remap_file_range(&task, s, 4096, d, 4096, MIB, 0), Ok(MIB));
    assert_eq!(
        x.image().shared_blocks(d, 1, 1 + MIB / BS).unwrap(),
        MIB / BS
    );
    assert_eq!(c.server().backend().fs_type(), "ocfs2-like");
    assert_eq!(sharing_backend().fs_type(), "btrfs-like");
}

// ---------------------------------------------------------------------------- reboots

#[test]
fn a_copy_lost_in_a_reboot_is_sent_again_by_the_same_call() {
    // Decision 11, trigger by mount option.
    let c = client(plain(), "async=1,reboot_after=256m");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, GIB);
    let v0 = c.server().verifier();
    assert_eq!(c.copy_file_range(&task, s, 0, d, 0, GIB, may()), Ok(GIB));
    assert_ne!(c.server().verifier(), v0);
    assert_eq!(c.server().stats().reboots, 1);
    assert_eq!(c.server().stats().copies_lost, 1);
    let st = c.stats();
    assert_eq!((st.copies_lost, st.copies_restarted), (1, 1));
    assert_eq!(st.rpc("COPY"), 2);
    assert_eq!(c.server().outstanding_copies(), 0);
    // 64 chunks of 4 MiB reach 256 MiB; the reboot ends the 64th before the client hears;
    // then the whole gigabyte again.
    assert_eq!(task.stats().chunks, 63 + 256);
    c.fsync(&task, d, false).unwrap();
    c.inject(&task, Fault::Reboot).unwrap();
    assert!(on_server(&c, d, 0, GIB).same_content(&Data::pattern(7, 0, GIB)));
    assert_clean(&c);

    // Armed by the fault (script `inject reboot after SIZE`): one shot, fired in the
    // first attempt; the second finishes, and nothing is left running.
    let c = client(plain(), "async=1");
    let (s, d) = src_dst(&c, &task, 64 * MIB);
    let note = c
        .inject(&task, Fault::RebootAfterCopied { bytes: 8 * MIB })
        .unwrap()
        .note;
    assert!(note.contains("8388608 bytes"), "{note}");
    assert_eq!(
        c.copy_file_range(&task, s, 0, d, 0, 64 * MIB, may()),
        Ok(64 * MIB)
    );
    assert_eq!(c.stats().copies_restarted, 1);
    assert_eq!(c.server().outstanding_copies(), 0);
    c.fsync(&task, d, false).unwrap();
    assert!(on_server(&c, d, 0, 64 * MIB).same_content(&Data::pattern(7, 0, 64 * MIB)));
}

#[test]
fn nonblocking_copy_on_an_async_mount_is_one_synchronous_copy() {
    // Decision 9: no copy outlives its call. A non-blocking caller does not wait for
    // CB_OFFLOAD, so the client sends a synchronous COPY (one server step) instead of
    // leaving an asynchronous one running behind EAGAIN.
    let c = client(plain(), "async=1");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, 64 * MIB);
    let nb = CopyHow {
        no_share: false,
        nonblock: true,
    };
    assert_eq!(
        c.copy_file_range(&task, s, 0, d, 0, 64 * MIB, nb),
        Ok(4 * MIB)
    );
    assert_eq!(c.server().outstanding_copies(), 0);
    assert_eq!(c.stats().rpc("CB_OFFLOAD"), 0);
    assert_eq!(
        copy_all(&c, &task, s, 4 * MIB, d, 4 * MIB, 60 * MIB, nb),
        Ok(60 * MIB)
    );
    assert!(on_server(&c, d, 0, 64 * MIB).same_content(&Data::pattern(7, 0, 64 * MIB)));
}

#[test]
fn regression_a_failed_nonblocking_copy_never_writes_later() {
    // Issue 16, reproducer 1: `splice -n -F never` answered EAGAIN and the server went on
    // copying, overwriting data written and fsynced after the call.
    let c = client(plain(), "async=1,copy=bytes");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, 32 * MIB);
    let nb = CopyHow {
        no_share: true,
        nonblock: true,
    };
    let n = copy_all(&c, &task, s, 0, d, 0, 32 * MIB, nb).unwrap();
    assert_eq!(n, 32 * MIB);
    c.write(&task, d, 20 * MIB, &Data::fill(b'z', 4096))
        .unwrap();
    c.fsync(&task, d, false).unwrap();
    c.truncate(&task, d, 0).unwrap();
    c.fsync(&task, d, false).unwrap();
    // Much later, with more traffic: nothing grows the file back.
    task.charge(60 * SEC);
    let e = create(&c, &task, "e");
    c.write(&task, e, 0, &Data::fill(b'c', 64 * MIB)).unwrap();
    c.fsync(&task, e, false).unwrap();
    c.crash(0);
    assert_eq!(c.getattr(d).unwrap().size, 0);
    assert_eq!(c.server().outstanding_copies(), 0);
}

#[test]
fn unstable_writes_are_resent_when_commit_sees_a_new_verifier() {
    // Decision 4.
    let c = client(plain(), "wback=1m");
    let task = Task::new(1);
    let f = create(&c, &task, "f");
    let data = Data::pattern(3, 0, 8 * MIB);
    assert_eq!(c.write(&task, f, 0, &data), Ok(8 * MIB));
    assert!(
        c.stats().rpc("WRITE") >= 7,
        "write-back sent UNSTABLE WRITEs"
    );
    assert_eq!(c.uncommitted_bytes(f), 8 * MIB);
    c.inject(&task, Fault::Reboot).unwrap();
    assert_eq!(
        c.server().backend().getattr(f).unwrap().size,
        0,
        "the server lost them"
    );
    // The client still reads its own writes.
    assert!(c.read(&task, f, 0, 8 * MIB).unwrap().same_content(&data));
    c.fsync(&task, f, false).unwrap();
    let st = c.stats();
    assert_eq!(st.commit_mismatches, 1);
    assert_eq!(st.bytes_rewritten, 8 * MIB);
    assert_eq!(st.rpc("COMMIT"), 2);
    assert_eq!(c.uncommitted_bytes(f), 0);
    c.inject(&task, Fault::Reboot).unwrap();
    assert!(on_server(&c, f, 0, 8 * MIB).same_content(&data));
    assert_clean(&c);
}

#[test]
fn an_unstable_copy_is_copied_again_after_a_reboot() {
    // Decision 10.
    let c = client(plain(), "");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, 16 * MIB);
    assert_eq!(
        copy_all(&c, &task, s, 0, d, 0, 16 * MIB, may()),
        Ok(16 * MIB)
    );
    c.inject(&task, Fault::Reboot).unwrap();
    // Each COPY after the first committed its predecessor (R1): only the last is lost.
    assert_eq!(c.server().backend().getattr(d).unwrap().size, 12 * MIB);
    c.fsync(&task, d, false).unwrap();
    assert_eq!(c.stats().copies_redone, 1);
    c.inject(&task, Fault::Reboot).unwrap();
    assert!(on_server(&c, d, 0, 16 * MIB).same_content(&Data::pattern(7, 0, 16 * MIB)));
    // A copy answered FILE_SYNC4 needs no COMMIT and survives a reboot at once.
    let c = client(plain(), "copysync=1");
    let (s, d) = src_dst(&c, &task, 16 * MIB);
    assert_eq!(
        copy_all(&c, &task, s, 0, d, 0, 16 * MIB, may()),
        Ok(16 * MIB)
    );
    c.inject(&task, Fault::Reboot).unwrap();
    assert!(on_server(&c, d, 0, 16 * MIB).same_content(&Data::pattern(7, 0, 16 * MIB)));
}

#[test]
fn writing_the_source_of_an_uncommitted_copy_commits_the_copy_first() {
    // Rule R2: otherwise a replayed COPY would copy the new bytes.
    let c = client(plain(), "");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, 4 * MIB);
    assert_eq!(
        c.copy_file_range(&task, s, 0, d, 0, 4 * MIB, may()),
        Ok(4 * MIB)
    );
    c.write(&task, s, 0, &Data::fill(b'x', MIB)).unwrap();
    c.fsync(&task, s, false).unwrap();
    c.inject(&task, Fault::Reboot).unwrap();
    c.fsync(&task, d, false).unwrap();
    assert!(on_server(&c, d, 0, 4 * MIB).same_content(&Data::pattern(7, 0, 4 * MIB)));
    assert!(on_server(&c, s, 0, MIB).same_content(&Data::fill(b'x', MIB)));
}

// ---------------------------------------------------------------------------- policy

#[test]
fn strict_and_lenient_policies_with_a_sharing_server() {
    // Decision 6: the open question made visible.
    let task = Task::new(1);
    let len = 64 * MIB;

    let lenient = client(sharing_backend(), "policy=lenient,copy=reflink");
    assert!(!lenient.caps().nonsharing_copy);
    let (s, d) = src_dst(&lenient, &task, len);
    assert_eq!(copy_all(&lenient, &task, s, 0, d, 0, len, never()), Ok(len));
    let shared = lenient.image().shared_blocks(d, 0, len / BS).unwrap();
    assert_eq!(
        shared,
        len / BS,
        "lenient trusted COPY and the server reflinked"
    );

    let strict = client(sharing_backend(), "policy=strict,copy=reflink");
    let (s, d) = src_dst(&strict, &task, len);
    assert_eq!(
        strict.copy_file_range(&task, s, 0, d, 0, len, never()),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(strict.stats().strict_refusals, 1);
    assert_eq!(strict.stats().rpc("COPY"), 0);
    // What the VFS then does: read + write through the client.
    client_side_copy(&strict, &task, s, d, len, MIB).unwrap();
    assert_eq!(strict.image().shared_blocks(d, 0, len / BS).unwrap(), 0);
    assert!(on_server(&strict, d, 0, len).same_content(&Data::pattern(7, 0, len)));

    // A server that advertises a non-sharing COPY gets COPY even on a strict mount.
    let bytes = client(sharing_backend(), "policy=strict,copy=bytes");
    assert!(bytes.caps().nonsharing_copy);
    let (s, d) = src_dst(&bytes, &task, len);
    assert_eq!(copy_all(&bytes, &task, s, 0, d, 0, len, never()), Ok(len));
    assert!(bytes.stats().rpc("COPY") > 0);
    assert_eq!(bytes.image().shared_blocks(d, 0, len / BS).unwrap(), 0);
    assert_eq!(bytes.server().stats().bytes_shared, 0);
}

// ---------------------------------------------------------------------------- crashes

#[test]
fn client_crash_loses_uncommitted_writes_but_keeps_committed_ones() {
    // Decision 5.
    let c = client(plain(), "");
    let task = Task::new(1);
    let f = create(&c, &task, "f");
    c.write(&task, f, 0, &Data::fill(b'a', 64 << 10)).unwrap();
    c.fsync(&task, f, false).unwrap();
    c.write(&task, f, 64 << 10, &Data::fill(b'b', 4096))
        .unwrap();
    assert_eq!(
        c.getattr(f).unwrap().size,
        68 << 10,
        "the client sees its dirty write"
    );
    assert_eq!(c.crash_states().len(), 1);
    c.crash(0);
    assert_eq!(c.getattr(f).unwrap().size, 64 << 10);
    assert!(
        c.read(&task, f, 0, 1 << 20)
            .unwrap()
            .same_content(&Data::fill(b'a', 64 << 10))
    );
    assert_clean(&c);

    // What the server had received (UNSTABLE) survives a client crash: the server did not
    // crash. A server reboot afterwards loses it (nobody will re-send it).
    let c = client(plain(), "wback=0");
    let f = create(&c, &task, "g");
    c.write(&task, f, 0, &Data::fill(b'c', 8192)).unwrap();
    c.crash(0);
    assert!(
        c.read(&task, f, 0, 8192)
            .unwrap()
            .same_content(&Data::fill(b'c', 8192))
    );
    c.inject(&task, Fault::Reboot).unwrap();
    assert_eq!(c.getattr(f).unwrap().size, 0);
}

#[test]
fn client_crash_stops_its_async_copies_and_frees_its_unlinked_files() {
    let c = client(plain(), "async=1");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, 64 * MIB);
    // No copy outlives its call (decision 9): a crash finds none of this client's
    // copies outstanding, and the server would stop any it had (lease expiry).
    assert_eq!(
        copy_all(&c, &task, s, 0, d, 0, 64 * MIB, may()),
        Ok(64 * MIB)
    );
    let t = create(&c, &task, "tmp");
    c.write(&task, t, 0, &Data::fill(1, 8192)).unwrap();
    c.fsync(&task, t, false).unwrap();
    c.remove(&task, ROOT_INO, "tmp", false).unwrap();
    assert!(
        c.image().inode(t).is_ok(),
        "unlinked but (for the VFS) still open"
    );
    let state = c.crash_states().pop().unwrap();
    assert!(state.inode(t).is_err(), "the crash state has it freed");
    c.crash(0);
    assert_eq!(c.server().outstanding_copies(), 0);
    assert!(c.image().inode(t).is_err());
    assert_clean(&c);
}

// ---------------------------------------------------------------------------- signals

#[test]
fn a_signal_during_an_async_copy_cancels_it_and_returns_the_partial_count() {
    // Decision 9: signal after 3 server chunks; the chunk that started before
    // OFFLOAD_CANCEL arrived still finishes, so 4 chunks of 4 MiB are done.
    let c = client(plain(), "async=1");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, GIB);
    task.plan_signal(SignalPlan {
        after_chunks: Some(3),
    });
    assert_eq!(
        c.copy_file_range(&task, s, 0, d, 0, GIB, may()),
        Ok(16 * MIB)
    );
    let st = c.stats();
    assert_eq!((st.rpc("OFFLOAD_CANCEL"), st.offload_cancels), (1, 1));
    assert_eq!(c.server().stats().copies_cancelled, 1);
    assert_eq!(c.server().outstanding_copies(), 0);
    assert_eq!(c.getattr(d).unwrap().size, 16 * MIB);
    assert!(on_server(&c, d, 0, 16 * MIB).same_content(&Data::pattern(7, 0, 16 * MIB)));
    // The partial result is UNSTABLE: a reboot before COMMIT makes the client re-copy it.
    c.inject(&task, Fault::Reboot).unwrap();
    c.fsync(&task, d, false).unwrap();
    assert_eq!(c.stats().copies_redone, 1);
    assert!(on_server(&c, d, 0, 16 * MIB).same_content(&Data::pattern(7, 0, 16 * MIB)));

    // A signal before anything moved: EINTR and no COPY at all.
    let d2 = create(&c, &task, "d2");
    task.plan_signal(SignalPlan {
        after_chunks: Some(0),
    });
    let copies = c.stats().rpc("COPY");
    assert_eq!(
        c.copy_file_range(&task, s, 0, d2, 0, GIB, may()),
        Err(Errno::EINTR)
    );
    assert_eq!(c.stats().rpc("COPY"), copies);
}

#[test]
fn a_signal_between_synchronous_copies_returns_the_bytes_done() {
    let c = client(plain(), "copychunk=1m");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, 32 * MIB);
    task.plan_signal(SignalPlan {
        after_chunks: Some(5),
    });
    assert_eq!(
        copy_all(&c, &task, s, 0, d, 0, 32 * MIB, may()),
        Ok(5 * MIB)
    );
    assert_eq!(c.stats().rpc("COPY"), 5);
}

// ---------------------------------------------------------------------------- network

#[test]
fn partitions_wait_on_hard_mounts_and_time_out_on_soft_ones() {
    let task = Task::new(1);
    let hard = client(plain(), "");
    let f = create(&hard, &task, "f");
    hard.write(&task, f, 0, &Data::fill(1, 4096)).unwrap();
    hard.inject(&task, Fault::Partition { ns: 3 * SEC })
        .unwrap();
    let t0 = task.now();
    hard.fsync(&task, f, false).unwrap();
    assert!(task.now() - t0 >= 3 * SEC);

    let soft = client(plain(), "timeo=100ms");
    let f = create(&soft, &task, "f");
    soft.write(&task, f, 0, &Data::fill(1, 4096)).unwrap();
    soft.inject(&task, Fault::Partition { ns: 3 * SEC })
        .unwrap();
    let t0 = task.now();
    assert_eq!(soft.fsync(&task, f, false), Err(Errno::ETIMEDOUT));
    assert_eq!(task.now() - t0, 100_000_000);
    task.charge(3 * SEC);
    soft.fsync(&task, f, false).unwrap();
    assert!(on_server(&soft, f, 0, 4096).same_content(&Data::fill(1, 4096)));
}

#[test]
fn every_rpc_costs_a_round_trip_and_bandwidth() {
    let task = Task::new(1);
    let c = client(plain(), "rtt=10ms,bw=100mbit");
    let f = create(&c, &task, "f");
    let t0 = task.now();
    c.write(&task, f, 0, &Data::fill(1, 1_000_000)).unwrap();
    c.fsync(&task, f, false).unwrap();
    // One WRITE (rtt + 1 MB at 12.5 MB/s = 80 ms) and one COMMIT (rtt).
    let t = task.now() - t0;
    assert!(t >= 20_000_000 + 80_000_000, "{t}");
    assert!(t < 20_000_000 + 80_000_000 + 10_000_000, "{t}");
}

// ---------------------------------------------------------------------------- specs

#[test]
fn mount_specs_build_nfs_like_and_refuse_bad_options() {
    let fs = spec::make("nfs-like:server=plain,size=1g,rtt=1ms,async=1").unwrap();
    assert_eq!(fs.fs_type(), "nfs-like");
    assert_eq!(fs.statfs().blocks, GIB / BS);
    assert_eq!(fs.cost().rpc_rtt_ns, 1_000_000);
    let e = spec::make("nfs-like:server=plain,sync=1").err().unwrap();
    assert!(e.contains("unknown mount option 'sync'"), "{e}");
    let e = spec::make("nfs-like:server=zfs-like").err().unwrap();
    assert!(
        e.contains("nfs-like: server: unknown filesystem model 'zfs-like'"),
        "{e}"
    );
    assert!(spec::MODELS.contains(&"nfs-like"));
    // The example of the issue, and backend options passed through with `srv`.
    let fs = spec::make(
        "nfs-like:server=btrfs-like,policy=strict,async=1,copy=reflink,rtt=200us,bw=1g,size=1g",
    )
    .unwrap();
    assert_eq!(fs.cost().net_bps, GIB);
    let fs = spec::make("nfs-like:server=ocfs2-like,srvcluster=64k").unwrap();
    assert_eq!(fs.remap_block_size(), 64 << 10);
    let e = spec::make("nfs-like:server=plain,srvcolour=blue")
        .err()
        .unwrap();
    assert!(e.contains("plain: unknown mount option 'colour'"), "{e}");
}

#[test]
fn reads_see_cached_writes_and_seek_sees_them_too() {
    let c = client(plain(), "wback=64m");
    let task = Task::new(1);
    let f = create(&c, &task, "f");
    c.write(&task, f, 0, &Data::fill(b'a', 8192)).unwrap();
    c.fsync(&task, f, false).unwrap();
    c.write(&task, f, 1 << 20, &Data::fill(b'b', 4096)).unwrap();
    assert_eq!(c.stats().rpc("WRITE"), 1, "the second write is still dirty");
    let d = c.read(&task, f, 4096, (1 << 20) + 4096).unwrap();
    let mut want = Data::fill(b'a', 4096);
    want.append(Data::zero((1 << 20) - 8192));
    want.append(Data::fill(b'b', 4096));
    assert!(d.same_content(&want));
    assert_eq!(c.seek_data_hole(f, 8192, true), Ok(1 << 20));
    assert_eq!(c.seek_data_hole(f, 0, false), Ok(8192));
    assert_eq!(c.seek_data_hole(f, 1 << 20, false), Ok((1 << 20) + 4096));
    assert_eq!(
        c.seek_data_hole(f, (1 << 20) + 4096, true),
        Err(Errno::ENXIO)
    );
}

// ---------------------------------------------------------------------------- random

/// splitmix64: a tiny deterministic generator for the random sequences below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn put(r: &mut Vec<u8>, off: u64, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let end = off as usize + bytes.len();
    if r.len() < end {
        r.resize(end, 0);
    }
    r[off as usize..end].copy_from_slice(bytes);
}

/// Random writes, truncates, copies (both semantics, strict fallback done as the VFS would),
/// clones, fsyncs and server reboots (with or without a following `syncfs`) against
/// files-as-byte-vectors: every file reads as the reference after each step, and fsck stays
/// clean.
#[test]
fn random_operations_match_a_byte_vector_reference() {
    for (backend, opts) in [
        ("plain", "wback=64k,wsize=16k,copychunk=32k"),
        ("btrfs-like", "wback=64k,wsize=16k,copychunk=32k,async=1"),
        ("btrfs-like", "policy=lenient,wback=0,copychunk=8k"),
        ("xfs-like", "copy=bytes,async=1,copychunk=16k"),
    ] {
        for seed in 0..12u64 {
            let c = client(spec::make(backend).unwrap(), opts);
            let task = Task::new(1);
            let mut rng = Rng(seed * 7919 + 1);
            let files: Vec<Ino> = (0..3)
                .map(|i| create(&c, &task, &format!("f{i}")))
                .collect();
            let mut refs: Vec<Vec<u8>> = vec![Vec::new(); 3];
            for step in 0..150 {
                let what = rng.below(100);
                let f = rng.below(3) as usize;
                let g = (f + 1 + rng.below(2) as usize) % 3;
                let ctx = format!("{backend} {opts} seed {seed} step {step} op {what}");
                if what < 35 {
                    let off = rng.below(200_000);
                    let len = 1 + rng.below(40_000);
                    let byte = (rng.below(255) + 1) as u8;
                    let data = Data::fill(byte, len);
                    assert_eq!(c.write(&task, files[f], off, &data), Ok(len), "{ctx}");
                    put(&mut refs[f], off, &vec![byte; len as usize]);
                } else if what < 45 {
                    let size = rng.below(256_000);
                    c.truncate(&task, files[f], size).unwrap();
                    refs[f].resize(size as usize, 0);
                } else if what < 70 {
                    let soff = rng.below(refs[f].len() as u64 + 1);
                    let doff = rng.below(200_000);
                    let len = 1 + rng.below(100_000);
                    let how = if rng.below(2) == 0 { never() } else { may() };
                    let n = match c.copy_file_range(&task, files[f], soff, files[g], doff, len, how)
                    {
                        Ok(n) => n,
                        Err(Errno::EOPNOTSUPP) => {
                            // The VFS byte copy through the client.
                            let d = c.read(&task, files[f], soff, len).unwrap();
                            c.write(&task, files[g], doff, &d).unwrap();
                            d.len()
                        }
                        Err(e) => panic!("{ctx}: copy {e:?}"),
                    };
                    let src = refs[f].clone();
                    let end = (soff as usize + n as usize).min(src.len());
                    assert_eq!(end - soff as usize, n as usize, "{ctx}: count");
                    put(&mut refs[g], doff, &src[soff as usize..end]);
                } else if what < 78 {
                    let blocks = refs[f].len() as u64 / BS;
                    let sb = rng.below(blocks + 1);
                    let n = rng.below(blocks - sb + 1) * BS;
                    let db = rng.below(48);
                    match c.remap_file_range(&task, files[f], sb * BS, files[g], db * BS, n, 0) {
                        Ok(k) => {
                            let src = refs[f].clone();
                            let (a, b) = ((sb * BS) as usize, (sb * BS + k) as usize);
                            put(&mut refs[g], db * BS, &src[a..b]);
                        }
                        Err(Errno::EOPNOTSUPP) | Err(Errno::EINVAL) => {}
                        Err(e) => panic!("{ctx}: clone {e:?}"),
                    }
                } else if what < 90 {
                    c.fsync(&task, files[f], false).unwrap();
                } else if what < 95 {
                    // Half the time nobody syncs: the next call recovers the session and
                    // COPYs lost copies again; lost WRITEs stay visible from the cache.
                    c.inject(&task, Fault::Reboot).unwrap();
                    if rng.below(2) == 0 {
                        c.sync_fs(&task).unwrap();
                    }
                } else {
                    task.charge(rng.below(SEC / 10));
                }
                for (i, &ino) in files.iter().enumerate() {
                    // read first: getattr has no task and cannot recover a session.
                    let got = c.read(&task, ino, 0, 1 << 20).unwrap();
                    assert!(
                        got.same_content(&Data::bytes(&refs[i])),
                        "{ctx}: content f{i}"
                    );
                    assert_eq!(
                        c.getattr(ino).unwrap().size,
                        refs[i].len() as u64,
                        "{ctx}: size f{i}"
                    );
                }
                assert_clean(&c);
            }
            // Everything committed survives one more reboot.
            c.sync_fs(&task).unwrap();
            c.inject(&task, Fault::Reboot).unwrap();
            for (i, &ino) in files.iter().enumerate() {
                let got = on_server(&c, ino, 0, 1 << 20);
                assert!(
                    got.same_content(&Data::bytes(&refs[i])),
                    "{backend} seed {seed}: f{i} after sync + reboot"
                );
            }
        }
    }
}

#[test]
fn a_cancel_lost_in_a_partition_waits_for_the_copy_instead_of_failing() {
    // Decision 1 and 9: on a soft mount the OFFLOAD_CANCEL a signal sends can time out in
    // a partition while the server keeps copying. The call then may not return an error
    // (the copy would change the file afterwards): it waits for CB_OFFLOAD, which the
    // server sends when the partition heals, and returns the whole count.
    let c = client(plain(), "async=1,timeo=100ms");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, 64 * MIB);
    c.fsync(&task, s, false).unwrap();
    c.net().partition(task.now() + 5_000_000, 10 * SEC);
    task.plan_signal(SignalPlan {
        after_chunks: Some(2),
    });
    assert_eq!(
        c.copy_file_range(&task, s, 0, d, 0, 64 * MIB, may()),
        Ok(64 * MIB)
    );
    let st = c.stats();
    assert_eq!((st.offload_cancels, st.rpc("CB_OFFLOAD")), (1, 1));
    assert_eq!(c.server().outstanding_copies(), 0);
    assert!(
        task.now() >= 10 * SEC,
        "the callback came after the partition healed"
    );
}

// ------------------------------------------------------------ hostile sizes (issue 17)

/// The mount options the huge-range tests run with: synchronous and asynchronous COPY,
/// reflinking and byte-copying servers, both policies.
const HUGE_OPTS: &[&str] = &[
    "",
    "async=1",
    "copy=bytes",
    "policy=lenient,copy=bytes,async=1",
];

#[test]
fn regression_a_copy_between_exabyte_sparse_files_is_bounded_by_extents() {
    // Issue 17: `copy_range -s 4096` between two sparse files of 2^62 + 1 bytes made the
    // server copy 4 MiB of zeroes per step (a ~3 GiB allocation, or 2^40 steps). A source
    // hole is now copied as a hole in one step: COPYs and extents follow the data.
    const HUGE: u64 = (1 << 62) + 1;
    const FAR: u64 = 1 << 40;
    for backend in ["btrfs-like", "plain"] {
        for opts in HUGE_OPTS {
            let what = format!("{backend} {opts:?}");
            let c = client(spec::make(backend).unwrap(), opts);
            let task = Task::new(1);
            let s = create(&c, &task, "src");
            let d = create(&c, &task, "dst");
            c.truncate(&task, s, HUGE).unwrap();
            c.truncate(&task, d, HUGE).unwrap();
            c.write(&task, s, FAR, &Data::fill(b'x', 2 * BS)).unwrap();
            // Data of the destination inside the copied range, where the source has a hole.
            c.write(&task, d, 1 << 50, &Data::fill(b'y', BS)).unwrap();
            let n = copy_all(&c, &task, s, BS, d, 0, HUGE - BS, may()).unwrap();
            assert_eq!(n, HUGE - BS, "{what}");
            let copies = c.stats().rpc("COPY");
            assert!(copies <= 6, "{what}: {copies} COPYs");
            assert!(
                c.read(&task, d, FAR - BS, 2 * BS)
                    .unwrap()
                    .same_content(&Data::fill(b'x', 2 * BS)),
                "{what}"
            );
            assert!(c.read(&task, d, 1 << 50, BS).unwrap().is_zero(), "{what}");
            c.fsync(&task, d, false).unwrap();
            assert_eq!(c.getattr(d).unwrap().size, HUGE, "{what}");
            // The destination stays sparse: its data is the copied data and the block it
            // had under the source's hole, now zeroes (written, as a byte copy writes them).
            assert_eq!(c.seek_data_hole(d, 0, true), Ok(FAR - BS), "{what}");
            assert_eq!(c.seek_data_hole(d, FAR + BS, true), Ok(1 << 50), "{what}");
            assert_eq!(
                c.seek_data_hole(d, (1 << 50) + BS, true),
                Err(Errno::ENXIO),
                "{what}"
            );
            let extents = c.image().inode(d).unwrap().map.len();
            assert!(extents <= 6, "{what}: {extents} extents");
            assert_clean(&c);
        }
    }
}

#[test]
fn regression_a_copy_of_an_8_eib_hole_into_an_empty_file_returns_at_once() {
    // Issue 17: ftruncate a 2^63 - 4096, then copy_file_range a→b of 2^63 - 100147 bytes
    // never returned (an asynchronous copy stepping 4 MiB at a time, memory growing).
    const SIZE: u64 = 9_223_372_036_854_771_712;
    const LEN: u64 = 9_223_372_036_854_675_661;
    for opts in HUGE_OPTS {
        let c = client(sharing_backend(), opts);
        let task = Task::new(1);
        let a = create(&c, &task, "a");
        let b = create(&c, &task, "b");
        c.truncate(&task, a, SIZE).unwrap();
        let n = c.copy_file_range(&task, a, 0, b, 0, LEN, may()).unwrap();
        assert_eq!(n, LEN, "{opts:?}: one call, one COPY");
        assert_eq!(c.stats().rpc("COPY"), 1, "{opts:?}");
        assert_eq!(c.getattr(b).unwrap().size, LEN, "{opts:?}");
        assert_eq!(c.seek_data_hole(b, 0, true), Err(Errno::ENXIO), "{opts:?}");
        assert!(c.image().inode(b).unwrap().map.is_empty(), "{opts:?}");
        c.fsync(&task, b, false).unwrap();
        assert_clean(&c);
    }
}

#[test]
fn regression_reading_a_huge_hole_takes_reads_in_proportion_to_data() {
    // READ answers a leading hole as one hole segment (READ_PLUS), so reading 1 PiB of a
    // sparse file is a few READs and a few Data segments, not 2^30 READs of wsize.
    let c = client(sharing_backend(), "");
    let task = Task::new(1);
    let s = create(&c, &task, "s");
    c.truncate(&task, s, 1 << 50).unwrap();
    c.write(&task, s, 1 << 40, &Data::fill(b'x', BS)).unwrap();
    c.fsync(&task, s, false).unwrap();
    let d = c.read(&task, s, 0, 1 << 50).unwrap();
    assert_eq!(d.len(), 1 << 50);
    assert!(d.segments().len() <= 3, "{:?}", d.segments());
    assert!(c.stats().rpc("READ") <= 3, "{:?}", c.stats().rpcs);
    let mut b = [0u8; 2];
    d.read_into((1 << 40) - 1, &mut b);
    assert_eq!(b, [0, b'x']);
}

#[test]
fn regression_enospc_of_a_copy_destination_never_holds_the_source_hostage() {
    // Issue 17: R2 committed every destination of a logged COPY from the source before
    // the source changed — flushing the destination's dirty bytes too. When the server
    // could not store those, every unlink, truncate, write and punch of the SOURCE
    // answered ENOSPC, even after fsync(dst) had reported it. R2 now commits only what the
    // destination has sent (the COPY); its dirty bytes and their error stay its own.
    let c = client(spec::make("plain:size=16m").unwrap(), "wback=64m");
    let task = Task::new(1);
    let (s, d) = src_dst(&c, &task, MIB);
    assert_eq!(c.copy_file_range(&task, s, 0, d, 0, MIB, may()), Ok(MIB));
    // Cached in the client; more than the server can hold.
    c.write(&task, d, MIB, &Data::fill(b'd', 32 * MIB)).unwrap();
    assert_eq!(
        c.fsync(&task, d, false),
        Err(Errno::ENOSPC),
        "dst's own error"
    );
    c.write(&task, s, 0, &Data::fill(b's', BS)).unwrap();
    c.truncate(&task, s, 2 * BS).unwrap();
    c.fallocate(
        &task,
        s,
        vfs::fs::falloc_flags::PUNCH_HOLE | vfs::fs::falloc_flags::KEEP_SIZE,
        0,
        BS,
    )
    .unwrap();
    c.remove(&task, ROOT_INO, "src", false).unwrap();
    // The COPY was committed before the source changed: the destination keeps it.
    assert!(on_server(&c, d, 0, MIB).same_content(&Data::pattern(7, 0, MIB)));
    assert!(
        c.read(&task, d, 0, MIB)
            .unwrap()
            .same_content(&Data::pattern(7, 0, MIB))
    );
    // The destination's dirty bytes still cannot be stored: its fsync says so.
    assert_eq!(c.fsync(&task, d, false), Err(Errno::ENOSPC));
    assert_clean(&c);
}
