//! Fixtures shared by the copy/splice/remap tests.

#![allow(dead_code)]

use syscall::api::o;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::FileSystem;
use vfs::extent::Attrs;
use vfs::file::OpenFile;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

/// Every model the spec module knows.
pub fn models() -> Vec<&'static str> {
    fs_models::spec::MODELS.to_vec()
}

/// Builds a filesystem, panicking with the model's message on a bad spec.
pub fn make(spec: &str) -> Arc<dyn FileSystem> {
    fs_models::spec::make(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// Whether `model` has a remap method (can share at all).
pub fn can_share(model: &str) -> bool {
    make(model).has_remap()
}

/// Whether `model` deduplicates (`FIDEDUPERANGE` of two equal ranges answers `SAME`).
/// Models whose remap follows `generic_remap_file_range_prep` do; nfs-like does not (Linux's
/// NFS client answers `EOPNOTSUPP` to dedupe and checks clone alignment itself).
pub fn dedupes(model: &str) -> bool {
    if !can_share(model) {
        return false;
    }
    let mut p = process(model);
    let d = pattern(99, 8192);
    let a = file_with(&mut p, "/dedupe-probe-a", &d);
    let b = file_with(&mut p, "/dedupe-probe-b", &d);
    let r = p
        .fideduperange(a, 0, 8192, &[syscall::api::DedupeDest { fd: b, offset: 0 }])
        .unwrap();
    r[0].status == syscall::flags::dedupe::SAME
}

/// Whether FIEMAP works on the filesystem behind `fd`.
pub fn has_fiemap(p: &Process, fd: i32) -> bool {
    let f = of(p, fd);
    f.mnt.fs.fiemap(f.inode.ino) != Err(vfs::errno::Errno::EOPNOTSUPP)
}

/// A process with `spec` mounted at `/` and a second instance of the same spec at
/// `/other` (a different filesystem: `EXDEV` territory).
pub fn process(spec: &str) -> Process {
    let vfs = Arc::new(Vfs::new());
    vfs.mount("/", make(spec)).unwrap();
    vfs.mount("/other", make(spec)).unwrap();
    Process::new(vfs, 1)
}

/// Creates (or truncates) `path`, writes `data` at 0 and returns an `O_RDWR` descriptor.
pub fn file_with(p: &mut Process, path: &str, data: &Data) -> i32 {
    let fd = p.open(path, o::CREAT | o::TRUNC | o::RDWR, 0o644).unwrap();
    let mut off = 0u64;
    while off < data.len() {
        let n = p
            .pwrite(fd, &data.slice(off, data.len() - off), off as i64)
            .unwrap() as u64;
        off += n;
    }
    fd
}

/// An empty file opened `O_RDWR`.
pub fn empty(p: &mut Process, path: &str) -> i32 {
    file_with(p, path, &Data::new())
}

/// Opens an existing path with `flags`.
pub fn open(p: &mut Process, path: &str, flags: i32) -> i32 {
    p.open(path, flags, 0).unwrap()
}

/// The open file behind `fd`.
pub fn of(p: &Process, fd: i32) -> Arc<OpenFile> {
    p.file(fd).unwrap()
}

/// The whole content of the file behind `fd`.
pub fn content(p: &mut Process, fd: i32) -> Data {
    let size = p.fstat(fd).unwrap().size;
    let mut out = Data::new();
    let mut off = 0u64;
    while off < size {
        let d = p.pread(fd, (size - off) as usize, off as i64).unwrap();
        assert!(!d.is_empty());
        off += d.len();
        out.append(d);
    }
    out
}

/// Blocks of the file behind `fd` whose extent is referenced more than once.
pub fn shared_blocks(p: &Process, fd: i32) -> u64 {
    let f = of(p, fd);
    f.mnt
        .fs
        .image()
        .shared_blocks(f.inode.ino, 0, u64::MAX)
        .unwrap()
}

/// The allocation block size of the filesystem behind `fd`.
pub fn block_size(p: &Process, fd: i32) -> u64 {
    of(p, fd).mnt.fs.statfs().block_size
}

/// The remap alignment of the filesystem behind `fd`.
pub fn remap_block(p: &Process, fd: i32) -> u64 {
    of(p, fd).mnt.fs.remap_block_size()
}

/// Sets `chattr`-style attributes on `path`.
pub fn chattr(p: &mut Process, path: &str, f: impl FnOnce(&mut Attrs)) {
    let (mnt, ino) = p.vfs.resolve(path).unwrap();
    let mut a = mnt.fs.getattr(ino).unwrap().attrs;
    f(&mut a);
    p.set_attrs(path, a).unwrap();
}

/// A deterministic pattern of `len` bytes.
pub fn pattern(seed: u64, len: u64) -> Data {
    Data::pattern(seed, 0, len)
}

/// Asserts the filesystem behind `fd` is consistent.
pub fn fsck(p: &Process, fd: i32) {
    let problems = of(p, fd).mnt.fs.fsck();
    assert!(problems.is_empty(), "{problems:#?}");
}
