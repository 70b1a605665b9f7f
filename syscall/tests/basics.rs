//! Basic entry points over the plain model: errno and data, like LTP's simple cases.

use syscall::api::{o, seek};
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::errno::Errno;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

fn process() -> Process {
    let vfs = Arc::new(Vfs::new());
    vfs.mount("/", fs_models::spec::make("plain:size=64m").unwrap())
        .unwrap();
    vfs.mount("/other", fs_models::spec::make("plain:size=64m").unwrap())
        .unwrap();
    Process::new(vfs, 1)
}

#[test]
fn write_read_seek_truncate() {
    let mut p = process();
    let fd = p.open("/a", o::CREAT | o::RDWR, 0o644).unwrap();
    assert_eq!(fd, 3);
    assert_eq!(p.pwrite(fd, &Data::fill(b'a', 10_000), 0).unwrap(), 10_000);
    assert_eq!(p.pread(fd, 20_000, 9_990).unwrap().to_vec(), vec![b'a'; 10]);
    assert_eq!(p.lseek(fd, 0, seek::END).unwrap(), 10_000);
    assert_eq!(p.write(fd, &Data::bytes(b"xy")).unwrap(), 2);
    assert_eq!(p.fstat(fd).unwrap().size, 10_002);
    p.ftruncate(fd, 5).unwrap();
    assert_eq!(p.pread(fd, 100, 0).unwrap().to_vec(), b"aaaaa");
    assert_eq!(p.lseek(fd, 0, seek::DATA).unwrap(), 0);
    assert_eq!(p.lseek(fd, 0, seek::HOLE).unwrap(), 5);
    assert_eq!(p.lseek(fd, 5, seek::DATA), Err(Errno::ENXIO));
    assert_eq!(p.lseek(fd, 0, 9), Err(Errno::EINVAL));
    p.close(fd).unwrap();
    assert_eq!(p.close(fd), Err(Errno::EBADF));
}

#[test]
fn errno_order_of_simple_calls() {
    let mut p = process();
    // A negative offset is checked before the descriptor (ksys_pread64).
    assert_eq!(p.pread(99, 1, -1).err(), Some(Errno::EINVAL));
    assert_eq!(p.pread(99, 1, 0).err(), Some(Errno::EBADF));
    assert_eq!(p.ftruncate(99, -1), Err(Errno::EINVAL));
    let ro = p.open("/r", o::CREAT | o::RDONLY, 0o644).unwrap();
    assert_eq!(p.pwrite(ro, &Data::fill(1, 1), 0), Err(Errno::EBADF));
    assert_eq!(p.ftruncate(ro, 0), Err(Errno::EINVAL));
    assert_eq!(
        p.fallocate(ro, 0, 0, 0),
        Err(Errno::EINVAL),
        "len 0 before EBADF"
    );
    assert_eq!(p.fallocate(ro, 0, 0, 1), Err(Errno::EBADF));
    assert_eq!(
        p.fallocate(ro, 2, 0, 1),
        Err(Errno::EOPNOTSUPP),
        "punch needs keep-size"
    );
    assert_eq!(
        p.open("/r", o::CREAT | o::EXCL | o::RDWR, 0),
        Err(Errno::EEXIST)
    );
    assert_eq!(p.open("/missing", o::RDONLY, 0), Err(Errno::ENOENT));
    assert_eq!(p.open("/r/x", o::RDONLY, 0), Err(Errno::ENOTDIR));
    p.mkdir("/d", 0o755).unwrap();
    assert_eq!(p.open("/d", o::RDWR, 0), Err(Errno::EISDIR));
    let d = p.open("/d", o::RDONLY, 0).unwrap();
    assert_eq!(p.pread(d, 1, 0).err(), Some(Errno::EISDIR));
    assert_eq!(p.unlink("/d"), Err(Errno::EISDIR));
    assert_eq!(p.rename("/r", "/other/r"), Err(Errno::EXDEV));
}

#[test]
fn append_writes_at_eof_and_unlinked_open_file_lives_on() {
    let mut p = process();
    let fd = p
        .open("/a", o::CREAT | o::WRONLY | o::APPEND, 0o644)
        .unwrap();
    p.pwrite(fd, &Data::bytes(b"one"), 0).unwrap();
    p.pwrite(fd, &Data::bytes(b"two"), 0).unwrap();
    assert_eq!(
        p.fstat(fd).unwrap().size,
        6,
        "O_APPEND ignores the pwrite offset on Linux"
    );
    let r = p.open("/a", o::RDONLY, 0).unwrap();
    p.unlink("/a").unwrap();
    assert_eq!(p.pread(r, 10, 0).unwrap().to_vec(), b"onetwo");
    assert_eq!(p.stat("/a").err(), Some(Errno::ENOENT));
    let free_before = p.vfs.mounts()[0].fs.statfs().free;
    p.close(fd).unwrap();
    p.close(r).unwrap();
    assert!(
        p.vfs.mounts()[0].fs.statfs().free > free_before,
        "evicted at last close"
    );
    assert!(p.vfs.mounts()[0].fs.fsck().is_empty());
}

#[test]
fn terabyte_pattern_costs_no_memory() {
    let mut p = process();
    let vfs = p.vfs.clone();
    vfs.mount("/big", fs_models::spec::make("plain:size=2t").unwrap())
        .unwrap();
    let fd = p.open("/big/f", o::CREAT | o::RDWR, 0o644).unwrap();
    assert_eq!(
        p.pwrite(fd, &Data::fill(0x62, 1 << 40), 0),
        Ok(0x7fff_f000),
        "MAX_RW_COUNT"
    );
    p.ftruncate(fd, 1 << 40).unwrap();
    assert_eq!(p.fstat(fd).unwrap().size, 1 << 40);
}
