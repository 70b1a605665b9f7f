//! Copy offload on real filesystems: loop-mounted btrfs, XFS with and without reflink, and
//! tmpfs, driven through `host::Linux`.
//!
//! These tests need root, `mkfs.btrfs`, `mkfs.xfs` and loop devices. Without them each test
//! prints a `SKIP` notice and passes, except with `CI=true`, where a missing prerequisite
//! fails the test.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use host::Linux;
use host::mounts::{self, DEFAULT_SIZE, RealFs, TestMount, TestTree};
use syscall::api::{DedupeDest, StatBuf, Syscalls, dedupe, o};
use vfs::Data;
use vfs::errno::Errno;
use vfs::extent::{FiemapExtent, fiemap_flags};

const MIB: u64 = 1 << 20;

/// A mounted filesystem and a `Linux` rooted on it. Field order matters: the `Linux` (and
/// with it every open descriptor) is dropped first, then the mount. (Don't destructure it:
/// bindings drop in reverse order, which would unmount a busy filesystem.)
struct Fixture {
    linux: Linux,
    mount: TestMount,
}

fn fixture(kind: RealFs, size: u64, who: &str) -> Option<Fixture> {
    if !mounts::ready_or_skip(kind, who) {
        return None;
    }
    let mount = TestMount::new(kind, size).unwrap_or_else(|e| panic!("{who}: mount {kind}: {e}"));
    let linux = Linux::new(mount.path().to_path_buf()).expect("open the mount's root");
    Some(Fixture { linux, mount })
}

fn create(l: &mut Linux, path: &str) -> i32 {
    l.open(path, o::RDWR | o::CREAT | o::TRUNC, 0o644)
        .unwrap_or_else(|e| panic!("create {path}: {e:?}"))
}

fn write_all(l: &mut Linux, fd: i32, data: &Data) {
    assert_eq!(l.pwrite(fd, data, 0), Ok(data.len() as usize));
}

fn content(l: &mut Linux, fd: i32, len: u64) -> Data {
    l.pread(fd, len as usize, 0).expect("pread")
}

/// Checks that `exts` map `[0, len)` without gaps, every extent with `must` set, the last one
/// with `FIEMAP_EXTENT_LAST`.
fn assert_covers(exts: &[FiemapExtent], len: u64, must: u32, what: &str) {
    assert!(!exts.is_empty(), "{what}: no extents");
    let mut at = 0;
    for e in exts {
        assert_eq!(e.logical, at, "{what}: gap or overlap in {exts:x?}");
        assert_eq!(
            e.flags & must,
            must,
            "{what}: flags {:#x} lack {must:#x}",
            e.flags
        );
        at += e.length;
    }
    assert!(at >= len, "{what}: extents end at {at}, before {len}");
    let last = exts.last().map_or(0, |e| e.flags);
    assert_ne!(
        last & fiemap_flags::LAST,
        0,
        "{what}: last extent lacks LAST"
    );
}

/// The scenario every kind runs: write, clone, map, copy with bad flags, dedupe.
fn offload_scenario(kind: RealFs) {
    let who = format!("offload_scenario({kind})");
    let Some(mut fx) = fixture(kind, DEFAULT_SIZE, &who) else {
        return;
    };
    let mount = &fx.mount;
    assert_eq!(mount.block_size(), 4096);
    let release = mount.kernel_release();
    let l = &mut fx.linux;
    assert!(
        l.describe()
            .starts_with(&format!("linux {} (", kind.fs_type())),
        "{}",
        l.describe()
    );
    assert_eq!(l.kernel_release(), release);

    let data = Data::pattern(7, 0, MIB);
    let src = create(l, "/src");
    write_all(l, src, &data);
    l.fsync(src).expect("fsync");
    assert!(content(l, src, MIB).same_content(&data));
    let st: StatBuf = l.fstat(src).expect("fstat");
    assert!(
        st.is_regular && st.size == MIB && st.blksize == 4096,
        "{st:?}"
    );

    // FICLONE: shares on btrfs and XFS reflink=1, EOPNOTSUPP where there is no remap.
    let clone = create(l, "/clone");
    let r = l.ficlone(clone, src);
    if kind.supports_reflink() {
        assert_eq!(r, Ok(()), "{kind}: FICLONE");
        assert!(content(l, clone, MIB).same_content(&data));
        let map = l.fiemap(clone, 0, u64::MAX, 0).expect("fiemap clone");
        assert_covers(&map, MIB, fiemap_flags::SHARED, "clone");
        let src_map = l.fiemap(src, 0, u64::MAX, 0).expect("fiemap src");
        assert_covers(&src_map, MIB, fiemap_flags::SHARED, "source");
        assert_eq!(
            map.iter().map(|e| e.physical).collect::<Vec<_>>(),
            src_map.iter().map(|e| e.physical).collect::<Vec<_>>(),
            "clone and source map the same blocks"
        );
    } else {
        assert_eq!(r, Err(Errno::EOPNOTSUPP), "{kind}: FICLONE");
        assert_eq!(
            l.fstat(clone).map(|s| s.size),
            Ok(0),
            "failed clone leaves dst alone"
        );
        let map = l.fiemap(src, 0, u64::MAX, 0);
        if kind == RealFs::Tmpfs {
            assert_eq!(map, Err(Errno::EOPNOTSUPP), "tmpfs has no fiemap");
        } else {
            let map = map.expect("fiemap");
            assert_covers(&map, MIB, 0, "source");
            assert!(
                map.iter().all(|e| e.flags & fiemap_flags::SHARED == 0),
                "{map:x?}"
            );
        }
    }

    // copy_file_range: any flag bit is EINVAL and moves nothing; flags=0 copies.
    let dst = create(l, "/copy");
    let (mut off_in, mut off_out) = (0i64, 0i64);
    let r = l.copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), 4096, 1);
    assert_eq!(r, Err(Errno::EINVAL), "{kind}: copy_file_range flags=1");
    assert_eq!((off_in, off_out), (0, 0));
    let r = l.copy_file_range(
        src,
        Some(&mut off_in),
        dst,
        Some(&mut off_out),
        MIB as usize,
        0,
    );
    assert_eq!(r, Ok(MIB as usize), "{kind}: copy_file_range flags=0");
    assert_eq!((off_in, off_out), (MIB as i64, MIB as i64));
    assert!(content(l, dst, MIB).same_content(&data));

    // FIDEDUPERANGE: SAME for equal data, DIFFERS for different data.
    let same = create(l, "/same");
    write_all(l, same, &data);
    let differs = create(l, "/differs");
    write_all(l, differs, &Data::pattern(8, 0, MIB));
    let dests = [
        DedupeDest {
            fd: same,
            offset: 0,
        },
        DedupeDest {
            fd: differs,
            offset: 0,
        },
    ];
    let r = l.fideduperange(src, 0, MIB, &dests);
    match kind {
        RealFs::Btrfs | RealFs::XfsReflink => {
            let out = r.expect("FIDEDUPERANGE");
            assert_eq!(out[0].status, dedupe::SAME, "{kind}: {out:?}");
            assert_eq!(out[0].bytes_deduped, MIB);
            assert_eq!(out[1].status, dedupe::DIFFERS, "{kind}: {out:?}");
            assert_eq!(out[1].bytes_deduped, 0);
            let map = l.fiemap(same, 0, u64::MAX, 0).expect("fiemap deduped");
            assert_covers(&map, MIB, fiemap_flags::SHARED, "deduped");
        }
        // XFS without reflink accepts the ioctl and fails each destination.
        RealFs::XfsNoReflink => {
            let out = r.expect("FIDEDUPERANGE");
            let want = -Errno::EOPNOTSUPP.raw();
            assert!(
                out.iter().all(|d| d.status == want && d.bytes_deduped == 0),
                "{out:?}"
            );
        }
        // tmpfs has no remap at all: the ioctl itself fails.
        RealFs::Tmpfs => assert_eq!(r, Err(Errno::EOPNOTSUPP)),
    }
    assert!(content(l, same, MIB).same_content(&data));
    assert!(content(l, differs, MIB).same_content(&Data::pattern(8, 0, MIB)));
}

#[test]
fn offload_on_btrfs() {
    offload_scenario(RealFs::Btrfs);
}

#[test]
fn offload_on_xfs_reflink() {
    offload_scenario(RealFs::XfsReflink);
}

#[test]
fn offload_on_xfs_noreflink() {
    offload_scenario(RealFs::XfsNoReflink);
}

#[test]
fn offload_on_tmpfs() {
    offload_scenario(RealFs::Tmpfs);
}

/// The loop device backing a mount is gone once `/sys` no longer knows a backing file.
fn loop_detached(dev: &Path) -> bool {
    let name = dev.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    !Path::new(&format!("/sys/block/{name}/loop/backing_file")).exists()
}

fn panic_unmounts(kind: RealFs) {
    if !mounts::ready_or_skip(kind, "panic_in_test_body_still_unmounts") {
        return;
    }
    let seen: Mutex<Option<(PathBuf, Option<PathBuf>)>> = Mutex::new(None);
    let r = std::panic::catch_unwind(|| {
        let m = TestMount::new(kind, DEFAULT_SIZE).expect("mount");
        let mut l = Linux::new(m.path().to_path_buf()).expect("root");
        let fd = create(&mut l, "/f");
        write_all(&mut l, fd, &Data::fill(1, 8192));
        *seen.lock().unwrap() = Some((
            m.path().to_path_buf(),
            m.loop_device().map(Path::to_path_buf),
        ));
        panic!("deliberate panic in a test body on {kind}");
    });
    assert!(r.is_err());
    let (dir, dev) = seen.lock().unwrap().take().expect("the body ran");
    assert!(
        !dir.exists(),
        "{} still exists after the panic",
        dir.display()
    );
    assert!(
        !dir.parent().is_some_and(Path::exists),
        "the temporary directory is removed"
    );
    if let Some(dev) = dev {
        assert!(loop_detached(&dev), "{} still attached", dev.display());
    }
}

#[test]
fn panic_in_test_body_still_unmounts_tmpfs() {
    panic_unmounts(RealFs::Tmpfs);
}

#[test]
fn panic_in_test_body_still_unmounts_btrfs() {
    panic_unmounts(RealFs::Btrfs);
}

/// A descriptor held open past the test body makes the mount busy: teardown retries, then
/// detaches it lazily, and still removes the directory.
#[test]
fn busy_mount_is_detached_lazily() {
    if !mounts::ready_or_skip(RealFs::Tmpfs, "busy_mount_is_detached_lazily") {
        return;
    }
    let held: Mutex<Option<File>> = Mutex::new(None);
    let m = TestMount::new(RealFs::Tmpfs, MIB).expect("mount");
    let dir = m.path().to_path_buf();
    *held.lock().unwrap() = Some(File::create(dir.join("busy")).expect("create"));
    m.unmount().expect("teardown succeeds by detaching lazily");
    assert!(!dir.exists());
    drop(held);
}

/// More extents than one FIEMAP call returns: the loop must continue after the first batch.
fn fiemap_many_extents(kind: RealFs) {
    let Some(mut fx) = fixture(kind, DEFAULT_SIZE, "fiemap_many_extents") else {
        return;
    };
    let l = &mut fx.linux;
    let fd = create(l, "/sparse");
    const N: u64 = 1200;
    // Highest offset first: no write extends the file after the first one, so XFS makes no
    // speculative preallocation past EOF that would turn the holes into unwritten extents.
    for i in (0..N).rev() {
        let r = l.pwrite(fd, &Data::fill(0xab, 4096), (i * 8192) as i64);
        assert_eq!(r, Ok(4096));
    }
    l.fsync(fd).expect("fsync");
    let map = l.fiemap(fd, 0, u64::MAX, 0).expect("fiemap");
    assert_eq!(map.len() as u64, N, "{kind}: one extent per written block");
    for (i, e) in map.iter().enumerate() {
        assert_eq!(
            (e.logical, e.length),
            (i as u64 * 8192, 4096),
            "{kind}: extent {i}"
        );
    }
    assert_ne!(map[map.len() - 1].flags & fiemap_flags::LAST, 0);
    // A window in the middle returns only the extents that overlap it.
    let part = l
        .fiemap(fd, 8192 * 300, 8192 * 700, 0)
        .expect("fiemap window");
    assert_eq!(part.len(), 700);
    assert_eq!(part[0].logical, 8192 * 300);
}

#[test]
fn fiemap_many_extents_btrfs() {
    fiemap_many_extents(RealFs::Btrfs);
}

#[test]
fn fiemap_many_extents_xfs() {
    fiemap_many_extents(RealFs::XfsReflink);
}

/// One namespace over several mounts: everything that crosses a mount is EXDEV.
#[test]
fn namespace_spans_mounts() {
    let who = "namespace_spans_mounts";
    if !mounts::ready_or_skip(RealFs::Btrfs, who) || !mounts::ready_or_skip(RealFs::XfsReflink, who)
    {
        return;
    }
    let mut tree = TestTree::new().expect("tree");
    tree.mount("mnt/btrfs", RealFs::Btrfs, DEFAULT_SIZE)
        .expect("btrfs");
    tree.mount("mnt/btrfs2", RealFs::Btrfs, DEFAULT_SIZE)
        .expect("btrfs2");
    tree.mount("mnt/xfs", RealFs::XfsReflink, DEFAULT_SIZE)
        .expect("xfs");
    let root = tree.path().to_path_buf();
    {
        let mut l = Linux::new(root.clone()).expect("root");
        let src = create(&mut l, "/mnt/btrfs/a");
        write_all(&mut l, src, &Data::pattern(1, 0, MIB));
        let same_fs = create(&mut l, "/mnt/btrfs/b");
        let other_btrfs = create(&mut l, "/mnt/btrfs2/a");
        let xfs = create(&mut l, "/mnt/xfs/a");
        assert_eq!(l.ficlone(same_fs, src), Ok(()));
        assert_eq!(l.ficlone(other_btrfs, src), Err(Errno::EXDEV));
        assert_eq!(l.ficlone(xfs, src), Err(Errno::EXDEV));
        for dst in [other_btrfs, xfs] {
            let r = l.copy_file_range(src, Some(&mut 0), dst, Some(&mut 0), 4096, 0);
            assert_eq!(r, Err(Errno::EXDEV));
        }
        let out = l
            .fideduperange(src, 0, 4096, &[DedupeDest { fd: xfs, offset: 0 }])
            .expect("the ioctl succeeds, the destination fails");
        assert_eq!(out[0].status, -Errno::EXDEV.raw());
        assert_eq!(l.rename("/mnt/btrfs/a", "/mnt/xfs/z"), Err(Errno::EXDEV));
        let (a, b) = (l.stat("/mnt/btrfs").unwrap(), l.stat("/mnt/xfs").unwrap());
        assert_ne!(a.dev, b.dev);
        assert_eq!(l.stat("/mnt/xfs/../btrfs/a").map(|s| s.size), Ok(MIB));
    }
    tree.unmount().expect("teardown");
    assert!(!root.exists());
}

/// A pattern larger than one chunk is one logical write: the same answer as a single real
/// system call with a buffer of the full size.
#[test]
fn large_writes_match_a_single_system_call() {
    let who = "large_writes_match_a_single_system_call";
    let Some(mut fx) = fixture(RealFs::Tmpfs, 64 * MIB, who) else {
        return;
    };
    let l = &mut fx.linux;
    let data = Data::pattern(3, 0, 3 * MIB + 5);
    let fd = create(l, "/big");
    assert_eq!(l.pwrite(fd, &data, 0), Ok(data.len() as usize));
    assert!(
        l.pread(fd, 4 * MIB as usize, 0)
            .unwrap()
            .same_content(&data)
    );
    assert_eq!(l.lseek(fd, 0, 0), Ok(0));
    assert!(l.read(fd, 4 * MIB as usize).unwrap().same_content(&data));
    assert_eq!(
        l.write(fd, &data),
        Ok(data.len() as usize),
        "write at the position"
    );
    assert_eq!(l.fstat(fd).unwrap().size, 2 * data.len());

    let buf = vec![0x5a_u8; 2 * MIB as usize];
    let raw = |fd: i32, off: i64| {
        // SAFETY: `buf` is readable for its length; `fd` is a descriptor of this process.
        let r = unsafe { libc::pwrite64(fd, buf.as_ptr().cast(), buf.len(), off) };
        if r < 0 {
            Err(Errno(
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            ))
        } else {
            Ok(r as usize)
        }
    };
    let two = Data::fill(0x5a, 2 * MIB);
    let near_max = i64::MAX - 100;
    assert_eq!(raw(fd, near_max), Err(Errno::EINVAL));
    assert_eq!(l.pwrite(fd, &two, near_max), Err(Errno::EINVAL));
    assert_eq!(l.pwrite(fd, &two, -1), raw(fd, -1));
    let ro = l.open("/big", o::RDONLY, 0).unwrap();
    assert_eq!(
        raw(ro, near_max),
        Err(Errno::EBADF),
        "EBADF comes before the range check"
    );
    assert_eq!(l.pwrite(ro, &two, near_max), Err(Errno::EBADF));
    assert_eq!(l.pwrite(ro, &two, 0), Err(Errno::EBADF));
    assert_eq!(
        l.pwrite(99, &two, 0),
        Err(Errno::EBADF),
        "not this instance's descriptor"
    );

    // Running out of space in the middle: a short count, as one big write gives.
    let Some(mut fx_small) = fixture(RealFs::Tmpfs, MIB, who) else {
        return;
    };
    let small = &mut fx_small.linux;
    let a = create(small, "/a");
    let chunked = small.pwrite(a, &Data::fill(1, 3 * MIB), 0);
    let b = create(small, "/b");
    small.unlink("/a").unwrap();
    small.close(a).unwrap();
    let big = vec![1u8; 3 * MIB as usize];
    // SAFETY: `big` is readable for its length; `b` is a descriptor of this process.
    let single = unsafe { libc::pwrite64(b, big.as_ptr().cast(), big.len(), 0) };
    assert_eq!(chunked, Ok(single as usize), "short write at ENOSPC");
    assert!(single > 0 && (single as u64) < 3 * MIB, "{single}");
}

/// Each kind can be made at exactly its documented minimum size.
#[test]
fn minimum_sizes_can_be_made() {
    for kind in RealFs::ALL {
        if !mounts::ready_or_skip(kind, "minimum_sizes_can_be_made") {
            continue;
        }
        let m = TestMount::new(kind, kind.min_size())
            .unwrap_or_else(|e| panic!("{kind} at {} bytes: {e}", kind.min_size()));
        assert_eq!(m.size(), kind.min_size());
        m.unmount().expect("teardown");
    }
}
