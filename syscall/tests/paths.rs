//! Path lookup by Linux's rules, call by call, on every model. The expected answers were
//! measured on Linux 6.18 (tmpfs, btrfs, XFS and ext4 all agree) and are pinned against
//! the real kernel by the `path_*` scenarios of `splicelab conform`.
//!
//! Every case starts from `/t` holding `f` (a 1-byte file), `d` (an empty directory) and
//! `e` (a directory holding the file `c`); `n` does not exist.

use syscall::api::o;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::errno::Errno;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

fn process(spec: &str) -> Process {
    let vfs = Arc::new(Vfs::new());
    vfs.mount("/", fs_models::spec::make(spec).unwrap())
        .unwrap();
    vfs.mount("/other", fs_models::spec::make(spec).unwrap())
        .unwrap();
    let mut p = Process::new(vfs, 1);
    p.mkdir("/t", 0o755).unwrap();
    let fd = p.open("/t/f", o::CREAT | o::WRONLY, 0o644).unwrap();
    p.pwrite(fd, &Data::fill(b'x', 1), 0).unwrap();
    p.close(fd).unwrap();
    p.mkdir("/t/d", 0o755).unwrap();
    p.mkdir("/t/e", 0o755).unwrap();
    let fd = p.open("/t/e/c", o::CREAT | o::WRONLY, 0o644).unwrap();
    p.close(fd).unwrap();
    p
}

/// What is where: `(path, "file" | "dir")` for every name under `/t`, sorted.
fn tree(p: &mut Process) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for name in ["f", "d", "e", "e/c", "g", "h", "n", "d/x", "n2"] {
        let path = format!("/t/{name}");
        if let Ok(st) = p.stat(&path) {
            out.push((path, if st.is_dir { "dir" } else { "file" }));
        }
    }
    out
}

type Call = fn(&mut Process) -> Result<(), Errno>;

fn open(p: &mut Process, path: &str, flags: i32) -> Result<(), Errno> {
    let fd = p.open(path, flags, 0o644)?;
    p.close(fd)
}

/// A name of `n` bytes.
fn y(n: usize) -> String {
    "y".repeat(n)
}

/// `(what, call, Linux's answer)`.
const CASES: &[(&str, Call, Result<(), Errno>)] = &[
    // open
    (
        "open n/ O_CREAT",
        |p| open(p, "/t/n/", o::CREAT | o::WRONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open n/ O_CREAT|O_EXCL",
        |p| open(p, "/t/n/", o::CREAT | o::EXCL | o::WRONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open n/",
        |p| open(p, "/t/n/", o::RDONLY),
        Err(Errno::ENOENT),
    ),
    (
        "open f/",
        |p| open(p, "/t/f/", o::RDONLY),
        Err(Errno::ENOTDIR),
    ),
    (
        "open f/ O_TRUNC",
        |p| open(p, "/t/f/", o::RDONLY | o::TRUNC),
        Err(Errno::ENOTDIR),
    ),
    (
        "open f/ O_CREAT",
        |p| open(p, "/t/f/", o::CREAT | o::WRONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open f/.",
        |p| open(p, "/t/f/.", o::RDONLY),
        Err(Errno::ENOTDIR),
    ),
    (
        "open f/..",
        |p| open(p, "/t/f/..", o::RDONLY),
        Err(Errno::ENOTDIR),
    ),
    (
        "open f/../f",
        |p| open(p, "/t/f/../f", o::RDONLY),
        Err(Errno::ENOTDIR),
    ),
    (
        "open n/..",
        |p| open(p, "/t/n/..", o::RDONLY),
        Err(Errno::ENOENT),
    ),
    (
        "open n/../f",
        |p| open(p, "/t/n/../f", o::RDONLY),
        Err(Errno::ENOENT),
    ),
    ("open d/../f", |p| open(p, "/t/d/../f", o::RDONLY), Ok(())),
    ("open d/", |p| open(p, "/t/d/", o::RDONLY), Ok(())),
    (
        "open d/ O_WRONLY",
        |p| open(p, "/t/d/", o::WRONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open d/ O_CREAT",
        |p| open(p, "/t/d/", o::CREAT | o::RDONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open d/ O_CREAT|O_EXCL",
        |p| open(p, "/t/d/", o::CREAT | o::EXCL | o::RDONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open d/. O_CREAT",
        |p| open(p, "/t/d/.", o::CREAT | o::RDONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open d/. O_CREAT|O_EXCL",
        |p| open(p, "/t/d/.", o::CREAT | o::EXCL | o::RDONLY),
        Err(Errno::EEXIST),
    ),
    (
        "open d/.. O_CREAT",
        |p| open(p, "/t/d/..", o::CREAT | o::RDONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open / O_CREAT",
        |p| open(p, "/", o::CREAT | o::RDONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open / O_CREAT|O_EXCL",
        |p| open(p, "/", o::CREAT | o::EXCL | o::RDONLY),
        Err(Errno::EEXIST),
    ),
    (
        "open n/. O_CREAT",
        |p| open(p, "/t/n/.", o::CREAT | o::WRONLY),
        Err(Errno::ENOENT),
    ),
    ("open ''", |p| open(p, "", o::RDONLY), Err(Errno::ENOENT)),
    (
        "open '' O_CREAT",
        |p| open(p, "", o::CREAT | o::WRONLY),
        Err(Errno::ENOENT),
    ),
    (
        "open y*256 O_CREAT",
        |p| open(p, &format!("/t/{}", y(256)), o::CREAT | o::WRONLY),
        Err(Errno::ENAMETOOLONG),
    ),
    (
        "open y*256/ O_CREAT",
        |p| open(p, &format!("/t/{}/", y(256)), o::CREAT | o::WRONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open y*256/n",
        |p| open(p, &format!("/t/{}/n", y(256)), o::RDONLY),
        Err(Errno::ENAMETOOLONG),
    ),
    (
        "open n/y*256",
        |p| open(p, &format!("/t/n/{}", y(256)), o::RDONLY),
        Err(Errno::ENOENT),
    ),
    (
        "open f/y*256",
        |p| open(p, &format!("/t/f/{}", y(256)), o::RDONLY),
        Err(Errno::ENOTDIR),
    ),
    (
        "open y*255 O_CREAT",
        |p| open(p, &format!("/t/{}", y(255)), o::CREAT | o::WRONLY),
        Ok(()),
    ),
    (
        "open f\\0x",
        |p| open(p, "/t/f\0x", o::RDONLY),
        Err(Errno::EINVAL),
    ),
    (
        "open n\\0 O_CREAT",
        |p| open(p, "/t/n\0", o::CREAT | o::WRONLY),
        Err(Errno::EINVAL),
    ),
    // stat
    (
        "stat f/",
        |p| p.stat("/t/f/").map(drop),
        Err(Errno::ENOTDIR),
    ),
    ("stat n/", |p| p.stat("/t/n/").map(drop), Err(Errno::ENOENT)),
    ("stat ''", |p| p.stat("").map(drop), Err(Errno::ENOENT)),
    (
        "stat f/..",
        |p| p.stat("/t/f/..").map(drop),
        Err(Errno::ENOTDIR),
    ),
    (
        "stat n/..",
        |p| p.stat("/t/n/..").map(drop),
        Err(Errno::ENOENT),
    ),
    // unlink
    ("unlink f/", |p| p.unlink("/t/f/"), Err(Errno::ENOTDIR)),
    ("unlink f//", |p| p.unlink("/t/f//"), Err(Errno::ENOTDIR)),
    ("unlink n/", |p| p.unlink("/t/n/"), Err(Errno::ENOENT)),
    ("unlink d/", |p| p.unlink("/t/d/"), Err(Errno::EISDIR)),
    ("unlink d", |p| p.unlink("/t/d"), Err(Errno::EISDIR)),
    ("unlink d/.", |p| p.unlink("/t/d/."), Err(Errno::EISDIR)),
    ("unlink d/..", |p| p.unlink("/t/d/.."), Err(Errno::EISDIR)),
    ("unlink f/.", |p| p.unlink("/t/f/."), Err(Errno::ENOTDIR)),
    ("unlink n/.", |p| p.unlink("/t/n/."), Err(Errno::ENOENT)),
    ("unlink /", |p| p.unlink("/"), Err(Errno::EISDIR)),
    (
        "unlink mount point",
        |p| p.unlink("/other"),
        Err(Errno::EISDIR),
    ),
    ("unlink ''", |p| p.unlink(""), Err(Errno::ENOENT)),
    (
        "unlink y*256",
        |p| p.unlink(&format!("/t/{}", y(256))),
        Err(Errno::ENAMETOOLONG),
    ),
    ("unlink f\\0", |p| p.unlink("/t/f\0"), Err(Errno::EINVAL)),
    ("unlink f", |p| p.unlink("/t/f"), Ok(())),
    // rmdir
    ("rmdir f/", |p| p.rmdir("/t/f/"), Err(Errno::ENOTDIR)),
    ("rmdir f", |p| p.rmdir("/t/f"), Err(Errno::ENOTDIR)),
    ("rmdir n/", |p| p.rmdir("/t/n/"), Err(Errno::ENOENT)),
    ("rmdir d/.", |p| p.rmdir("/t/d/."), Err(Errno::EINVAL)),
    ("rmdir d/..", |p| p.rmdir("/t/d/.."), Err(Errno::ENOTEMPTY)),
    ("rmdir f/.", |p| p.rmdir("/t/f/."), Err(Errno::ENOTDIR)),
    ("rmdir n/.", |p| p.rmdir("/t/n/."), Err(Errno::ENOENT)),
    ("rmdir n/..", |p| p.rmdir("/t/n/.."), Err(Errno::ENOENT)),
    ("rmdir t/.", |p| p.rmdir("/t/."), Err(Errno::EINVAL)),
    ("rmdir t/..", |p| p.rmdir("/t/.."), Err(Errno::ENOTEMPTY)),
    ("rmdir e", |p| p.rmdir("/t/e"), Err(Errno::ENOTEMPTY)),
    ("rmdir /", |p| p.rmdir("/"), Err(Errno::EBUSY)),
    (
        "rmdir mount point",
        |p| p.rmdir("/other"),
        Err(Errno::EBUSY),
    ),
    ("rmdir ''", |p| p.rmdir(""), Err(Errno::ENOENT)),
    (
        "rmdir y*256",
        |p| p.rmdir(&format!("/t/{}", y(256))),
        Err(Errno::ENAMETOOLONG),
    ),
    ("rmdir d/", |p| p.rmdir("/t/d/"), Ok(())),
    // mkdir
    ("mkdir n2/", |p| p.mkdir("/t/n2/", 0o755), Ok(())),
    ("mkdir f/", |p| p.mkdir("/t/f/", 0o755), Err(Errno::EEXIST)),
    ("mkdir d/", |p| p.mkdir("/t/d/", 0o755), Err(Errno::EEXIST)),
    (
        "mkdir d/.",
        |p| p.mkdir("/t/d/.", 0o755),
        Err(Errno::EEXIST),
    ),
    (
        "mkdir d/..",
        |p| p.mkdir("/t/d/..", 0o755),
        Err(Errno::EEXIST),
    ),
    (
        "mkdir n/.",
        |p| p.mkdir("/t/n/.", 0o755),
        Err(Errno::ENOENT),
    ),
    (
        "mkdir f/x",
        |p| p.mkdir("/t/f/x", 0o755),
        Err(Errno::ENOTDIR),
    ),
    ("mkdir /", |p| p.mkdir("/", 0o755), Err(Errno::EEXIST)),
    (
        "mkdir mount point",
        |p| p.mkdir("/other", 0o755),
        Err(Errno::EEXIST),
    ),
    ("mkdir ''", |p| p.mkdir("", 0o755), Err(Errno::ENOENT)),
    (
        "mkdir y*256",
        |p| p.mkdir(&format!("/t/{}", y(256)), 0o755),
        Err(Errno::ENAMETOOLONG),
    ),
    // rename
    (
        "rename f/ g",
        |p| p.rename("/t/f/", "/t/g"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename f g/",
        |p| p.rename("/t/f", "/t/g/"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename f d/",
        |p| p.rename("/t/f", "/t/d/"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename f e/c/",
        |p| p.rename("/t/f", "/t/e/c/"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename e/c/ e/c",
        |p| p.rename("/t/e/c/", "/t/e/c"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename f/ f",
        |p| p.rename("/t/f/", "/t/f"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename n/ g",
        |p| p.rename("/t/n/", "/t/g"),
        Err(Errno::ENOENT),
    ),
    (
        "rename n g/.",
        |p| p.rename("/t/n", "/t/g/."),
        Err(Errno::ENOENT),
    ),
    (
        "rename d/. h",
        |p| p.rename("/t/d/.", "/t/h"),
        Err(Errno::EBUSY),
    ),
    (
        "rename d/.. h",
        |p| p.rename("/t/d/..", "/t/h"),
        Err(Errno::EBUSY),
    ),
    (
        "rename d h/.",
        |p| p.rename("/t/d", "/t/h/."),
        Err(Errno::ENOENT),
    ),
    (
        "rename d e/.",
        |p| p.rename("/t/d", "/t/e/."),
        Err(Errno::EBUSY),
    ),
    (
        "rename d e/..",
        |p| p.rename("/t/d", "/t/e/.."),
        Err(Errno::EBUSY),
    ),
    (
        "rename f d/.",
        |p| p.rename("/t/f", "/t/d/."),
        Err(Errno::EBUSY),
    ),
    (
        "rename n d/.",
        |p| p.rename("/t/n", "/t/d/."),
        Err(Errno::EBUSY),
    ),
    (
        "rename d/. f",
        |p| p.rename("/t/d/.", "/t/f"),
        Err(Errno::EBUSY),
    ),
    (
        "rename d/ d/.",
        |p| p.rename("/t/d/", "/t/d/."),
        Err(Errno::EBUSY),
    ),
    (
        "rename f/. h",
        |p| p.rename("/t/f/.", "/t/h"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename d/. n/x",
        |p| p.rename("/t/d/.", "/t/n/x"),
        Err(Errno::ENOENT),
    ),
    (
        "rename n/x d/.",
        |p| p.rename("/t/n/x", "/t/d/."),
        Err(Errno::ENOENT),
    ),
    ("rename '' h", |p| p.rename("", "/t/h"), Err(Errno::ENOENT)),
    ("rename f ''", |p| p.rename("/t/f", ""), Err(Errno::ENOENT)),
    (
        "rename y*256 h",
        |p| p.rename(&format!("/t/{}", y(256)), "/t/h"),
        Err(Errno::ENAMETOOLONG),
    ),
    (
        "rename f y*256",
        |p| p.rename("/t/f", &format!("/t/{}", y(256))),
        Err(Errno::ENAMETOOLONG),
    ),
    (
        "rename f/ y*256",
        |p| p.rename("/t/f/", &format!("/t/{}", y(256))),
        Err(Errno::ENAMETOOLONG),
    ),
    (
        "rename n y*256",
        |p| p.rename("/t/n", &format!("/t/{}", y(256))),
        Err(Errno::ENOENT),
    ),
    (
        "rename d d/x",
        |p| p.rename("/t/d", "/t/d/x"),
        Err(Errno::EINVAL),
    ),
    (
        "rename e/c e",
        |p| p.rename("/t/e/c", "/t/e"),
        Err(Errno::ENOTEMPTY),
    ),
    (
        "rename e/c t",
        |p| p.rename("/t/e/c", "/t"),
        Err(Errno::ENOTEMPTY),
    ),
    (
        "rename f d",
        |p| p.rename("/t/f", "/t/d"),
        Err(Errno::EISDIR),
    ),
    (
        "rename d f",
        |p| p.rename("/t/d", "/t/f"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename d/ f",
        |p| p.rename("/t/d/", "/t/f"),
        Err(Errno::ENOTDIR),
    ),
    (
        "rename d/. other/h",
        |p| p.rename("/t/d/.", "/other/h"),
        Err(Errno::EXDEV),
    ),
    (
        "rename f/ other/h",
        |p| p.rename("/t/f/", "/other/h"),
        Err(Errno::EXDEV),
    ),
    (
        "rename f other/n/h",
        |p| p.rename("/t/f", "/other/n/h"),
        Err(Errno::ENOENT),
    ),
    ("rename / h", |p| p.rename("/", "/t/h"), Err(Errno::EBUSY)),
    (
        "rename mount point",
        |p| p.rename("/other", "/t/h"),
        Err(Errno::EBUSY),
    ),
    (
        "rename over mount point",
        |p| p.rename("/t/d", "/other"),
        Err(Errno::EBUSY),
    ),
    (
        "open mount point O_CREAT",
        |p| open(p, "/other", o::CREAT | o::RDONLY),
        Err(Errno::EISDIR),
    ),
    (
        "open mount point O_CREAT|O_EXCL",
        |p| open(p, "/other", o::CREAT | o::EXCL | o::RDONLY),
        Err(Errno::EEXIST),
    ),
    (
        "rename f\\0 h",
        |p| p.rename("/t/f\0", "/t/h"),
        Err(Errno::EINVAL),
    ),
    (
        "rename f h\\0",
        |p| p.rename("/t/f", "/t/h\0"),
        Err(Errno::EINVAL),
    ),
    ("rename f f", |p| p.rename("/t/f", "/t/f"), Ok(())),
    ("rename d d/", |p| p.rename("/t/d", "/t/d/"), Ok(())),
    ("rename d/ g/", |p| p.rename("/t/d/", "/t/g/"), Ok(())),
    ("rename d/ e/x", |p| p.rename("/t/d/", "/t/e/x"), Ok(())),
];

#[test]
fn every_path_case_answers_as_linux_and_a_failure_changes_nothing() {
    for spec in fs_models::spec::MODELS {
        for (what, call, want) in CASES {
            let mut p = process(spec);
            let before = tree(&mut p);
            let got = call(&mut p);
            assert_eq!(got, *want, "{spec}: {what}");
            if got.is_err() {
                assert_eq!(
                    tree(&mut p),
                    before,
                    "{spec}: {what} failed but changed the tree"
                );
            }
        }
    }
}

#[test]
fn a_trailing_slash_never_creates_or_removes_a_file() {
    for spec in fs_models::spec::MODELS {
        let mut p = process(spec);
        assert_eq!(
            p.open("/t/nosuch/", o::CREAT | o::WRONLY, 0o644),
            Err(Errno::EISDIR)
        );
        assert_eq!(p.stat("/t/nosuch").err(), Some(Errno::ENOENT), "{spec}");
        assert_eq!(p.unlink("/t/f/"), Err(Errno::ENOTDIR));
        assert!(p.stat("/t/f").is_ok(), "{spec}");
        assert_eq!(p.rename("/t/d/.", "/t/h"), Err(Errno::EBUSY));
        assert!(p.stat("/t/d").is_ok_and(|s| s.is_dir), "{spec}");
        assert_eq!(p.rmdir("/t/d/."), Err(Errno::EINVAL));
        assert!(p.stat("/t/d").is_ok(), "{spec}");
    }
}
