//! `host::Linux` on a plain temporary directory: path mapping, the private descriptor table,
//! and the namespace calls. Needs neither root nor mkfs.

use std::fs;
use std::path::PathBuf;

use host::Linux;
use syscall::api::{Syscalls, o, seek};
use vfs::Data;
use vfs::errno::Errno;

/// A fresh directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("splicelab-host-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn paths_are_rooted_and_cannot_escape() {
    let dir = TempDir::new("paths");
    let mut l = Linux::new(dir.0.clone()).expect("root");
    assert_eq!(
        l.open("/../../../../etc/passwd", o::RDONLY, 0),
        Err(Errno::ENOENT)
    );
    let fd = l.open("/../x", o::RDWR | o::CREAT, 0o644).expect("create");
    assert!(dir.0.join("x").is_file(), "/.. is / itself");
    l.close(fd).unwrap();
    assert_eq!(l.mkdir("/../../d", 0o755), Ok(()));
    assert!(dir.0.join("d").is_dir());
    assert_eq!(l.stat("/..").map(|s| s.ino), l.stat("/").map(|s| s.ino));
    assert_eq!(l.real_path("/d/e"), dir.0.join("d/e"));
    assert_eq!(l.root(), dir.0.as_path());
}

#[test]
fn descriptors_are_private_to_the_instance() {
    let dir = TempDir::new("fds");
    let mut l = Linux::new(dir.0.clone()).expect("root");
    assert_eq!(l.close(1), Err(Errno::EBADF), "stdout is not ours");
    assert_eq!(l.fstat(0), Err(Errno::EBADF));
    assert_eq!(l.write(2, &Data::bytes(b"x")), Err(Errno::EBADF));
    let fd = l.open("/f", o::RDWR | o::CREAT, 0o600).unwrap();
    assert_eq!(l.open_fds().collect::<Vec<_>>(), vec![fd]);
    assert_eq!(l.close(fd), Ok(()));
    assert_eq!(l.close(fd), Err(Errno::EBADF));
    let a = l.open("/f", o::RDONLY, 0).unwrap();
    let b = l.open("/f", o::RDONLY, 0).unwrap();
    l.close_all();
    assert_eq!(l.open_fds().count(), 0);
    assert_eq!(l.fstat(a), Err(Errno::EBADF));
    assert_eq!(l.fstat(b), Err(Errno::EBADF));
}

#[test]
fn open_ignores_what_open_ignores() {
    let dir = TempDir::new("open");
    let mut l = Linux::new(dir.0.clone()).expect("root");
    // An unknown flag bit and a mode without O_CREAT are ignored by open(2), not EINVAL.
    let fd = l
        .open("/f", o::RDWR | o::CREAT | 0x4000_0000, 0o600)
        .expect("unknown bit");
    l.close(fd).unwrap();
    let fd = l.open("/f", o::RDONLY, 0o7777).expect("mode ignored");
    l.close(fd).unwrap();
    assert_eq!(
        l.open("/f", o::RDONLY | o::CREAT | o::EXCL, 0o600),
        Err(Errno::EEXIST)
    );
    assert_eq!(l.open("/f/", o::RDONLY, 0), Err(Errno::ENOTDIR));
    assert_eq!(
        l.open("/f", o::RDONLY | o::DIRECTORY, 0),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(l.open("", o::RDONLY, 0), Err(Errno::ENOENT));
    assert_eq!(
        l.open(&"a".repeat(300), o::RDONLY, 0),
        Err(Errno::ENAMETOOLONG)
    );
}

#[test]
fn namespace_calls_report_linux_errnos() {
    let dir = TempDir::new("ns");
    let mut l = Linux::new(dir.0.clone()).expect("root");
    assert_eq!(l.mkdir("/d", 0o755), Ok(()));
    assert_eq!(l.mkdir("/d", 0o755), Err(Errno::EEXIST));
    assert_eq!(
        l.mkdir("/d/e/", 0o755),
        Ok(()),
        "trailing slash is fine for mkdir"
    );
    assert_eq!(l.mkdir("/nope/e", 0o755), Err(Errno::ENOENT));
    let fd = l.open("/d/f", o::WRONLY | o::CREAT, 0o644).unwrap();
    l.close(fd).unwrap();
    assert_eq!(l.mkdir("/d/f/g", 0o755), Err(Errno::ENOTDIR));
    assert_eq!(l.unlink("/d/f/"), Err(Errno::ENOTDIR));
    assert_eq!(l.unlink("/d"), Err(Errno::EISDIR));
    assert_eq!(l.rmdir("/d"), Err(Errno::ENOTEMPTY));
    assert_eq!(l.rmdir("/d/f"), Err(Errno::ENOTDIR));
    assert_eq!(l.rmdir("/d/e/."), Err(Errno::EINVAL));
    assert_eq!(l.rmdir("/d/e/.."), Err(Errno::ENOTEMPTY));
    assert_eq!(l.rename("/d/f", "/d/g"), Ok(()));
    assert_eq!(l.stat("/d/g").map(|s| s.is_regular), Ok(true));
    assert_eq!(l.stat("/d/f"), Err(Errno::ENOENT));
    assert_eq!(l.unlink("/d/g"), Ok(()));
    assert_eq!(l.rmdir("/d/e"), Ok(()));
    // The root has no name in a directory.
    assert_eq!(l.rmdir("/"), Err(Errno::EBUSY));
    assert_eq!(l.mkdir("/", 0o755), Err(Errno::EEXIST));
    assert_eq!(l.unlink("//"), Err(Errno::EISDIR));
    assert_eq!(l.rename("/", "/z"), Err(Errno::EBUSY));
    assert_eq!(l.rename("/d", "/nope/z"), Err(Errno::ENOENT));
    assert_eq!(l.stat("/").map(|s| s.is_dir), Ok(true));
    assert!(dir.0.exists());
}

#[test]
fn file_calls_round_trip() {
    let dir = TempDir::new("file");
    let mut l = Linux::new(dir.0.clone()).expect("root");
    let fd = l.open("/f", o::RDWR | o::CREAT, 0o644).unwrap();
    assert_eq!(l.write(fd, &Data::bytes(b"hello")), Ok(5));
    assert_eq!(l.pwrite(fd, &Data::fill(b'x', 3), 10), Ok(3));
    assert_eq!(l.pread(fd, 100, 0).unwrap().to_vec(), b"hello\0\0\0\0\0xxx");
    assert_eq!(l.lseek(fd, 1, seek::SET), Ok(1));
    assert_eq!(l.read(fd, 4).unwrap().to_vec(), b"ello");
    assert_eq!(l.pread(fd, 4, -1), Err(Errno::EINVAL));
    assert_eq!(l.ftruncate(fd, 2), Ok(()));
    assert_eq!(l.fstat(fd).map(|s| s.size), Ok(2));
    assert_eq!(l.fallocate(fd, 0, 0, 8192), Ok(()));
    assert_eq!(l.fstat(fd).map(|s| s.size), Ok(8192));
    assert_eq!(l.fsync(fd), Ok(()));
    assert_eq!(l.fdatasync(fd), Ok(()));
    l.sync();
    let ap = l.open("/f", o::WRONLY | o::APPEND, 0).unwrap();
    assert_eq!(
        l.pwrite(ap, &Data::bytes(b"end"), 0),
        Ok(3),
        "O_APPEND ignores the offset"
    );
    assert_eq!(l.pread(fd, 3, 8192).unwrap().to_vec(), b"end");
    let mut off = 8192i64;
    let copy = l.open("/g", o::RDWR | o::CREAT, 0o644).unwrap();
    assert_eq!(
        l.copy_file_range(fd, Some(&mut off), copy, None, 100, 0),
        Ok(3)
    );
    assert_eq!(off, 8195);
    assert_eq!(
        l.lseek(copy, 0, seek::CUR),
        Ok(3),
        "None uses and advances the position"
    );
    assert_eq!(
        l.copy_file_range(fd, None, copy, None, 1, 0x10),
        Err(Errno::EINVAL)
    );
    assert!(l.describe().starts_with("linux "), "{}", l.describe());
}
