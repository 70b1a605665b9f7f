//! The two sides of a comparison: a real filesystem and the model that claims to behave
//! like it.
//!
//! Both sides have the same namespace: `/m` is the filesystem under test, `/o` a second
//! filesystem of the same kind (for cross-filesystem calls), and every case runs in fresh
//! directories `/m/cN` and `/o/cN`.
//!
//! - Real: one [`TestTree`] per run with two loop-mounted images (or tmpfs instances) at
//!   `m` and `o`, and one [`Linux`] rooted at the tree. A case's directories are removed
//!   afterwards; every [`SYNC_EVERY`] cases a `sync(2)` commits the deletions (btrfs frees
//!   the space of deleted extents only at transaction commit).
//! - Simulator: a fresh [`Process`] per case whose `/` is a tmpfs-like model with the pair's
//!   model mounted at `/m` and `/o` — fresh models cost microseconds.

use std::io;

use host::Linux;
use host::mounts::{DEFAULT_SIZE, RealFs, TestTree};
use syscall::Process;
use syscall::api::Syscalls;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

use crate::runner::{Dirs, Hooks, StepRecord, run};
use crate::scenario::Scenario;

/// A real filesystem kind and the model (mount spec) that stands for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    pub real: RealFs,
    pub model: &'static str,
}

/// The four pairs. XFS with `reflink=0` is paired with `xfs-like:reflink=0`, not `plain`:
/// real XFS has a `->remap_file_range` even without reflink (it answers `EOPNOTSUPP`), so
/// `FIDEDUPERANGE` reports `-EOPNOTSUPP` per destination there, while on tmpfs (no method at
/// all) the whole ioctl fails with `EOPNOTSUPP` — only the xfs-like configuration has that.
pub const PAIRS: [Pair; 4] = [
    Pair {
        real: RealFs::Btrfs,
        model: "btrfs-like",
    },
    Pair {
        real: RealFs::XfsReflink,
        model: "xfs-like",
    },
    Pair {
        real: RealFs::XfsNoReflink,
        model: "xfs-like:reflink=0",
    },
    Pair {
        real: RealFs::Tmpfs,
        model: "tmpfs-like",
    },
];

/// The pair for a `--real` name: `btrfs`, `xfs` (reflink=1), `xfs-noreflink`, `tmpfs`.
pub fn pair_by_name(name: &str) -> Option<Pair> {
    let kind = match name {
        "btrfs" => RealFs::Btrfs,
        "xfs" | "xfs-reflink" => RealFs::XfsReflink,
        "xfs-noreflink" | "xfs-reflink0" => RealFs::XfsNoReflink,
        "tmpfs" => RealFs::Tmpfs,
        _ => return None,
    };
    PAIRS.iter().copied().find(|p| p.real == kind)
}

/// The mount spec with `size=` added.
pub fn spec_with_size(model: &str, size: Option<u64>) -> String {
    match size {
        None => model.to_string(),
        Some(n) if model.contains(':') => format!("{model},size={n}"),
        Some(n) => format!("{model}:size={n}"),
    }
}

/// A fresh simulated process for one case: `/` tmpfs-like, the model at `/m` and `/o`.
///
/// # Errors
/// A bad spec (a message from `fs_models::spec::make`).
pub fn sim_process(model: &str, small_fs: Option<u64>) -> Result<Process, String> {
    let vfs = Arc::new(Vfs::new());
    let err = |e: vfs::errno::Errno| format!("mounting the simulator: {e:?}");
    vfs.mount("/", fs_models::spec::make("tmpfs-like")?)
        .map_err(err)?;
    vfs.mount(
        "/m",
        fs_models::spec::make(&spec_with_size(model, small_fs))?,
    )
    .map_err(err)?;
    vfs.mount("/o", fs_models::spec::make(model)?)
        .map_err(err)?;
    Ok(Process::new(vfs, 1))
}

/// Cases between two `sync(2)` calls on the real side.
pub const SYNC_EVERY: u64 = 64;

/// The real side: two mounted filesystems of one kind under a [`TestTree`].
pub struct RealSide {
    // Field order matters: the `Linux` (and its descriptors) goes before the mounts.
    linux: Option<Linux>,
    tree: Option<TestTree>,
    kind: RealFs,
    cases: u64,
}

impl RealSide {
    /// Mounts two `kind` filesystems of `size` bytes (at least the kind's minimum).
    ///
    /// # Errors
    /// Whatever mounting reports (not root, missing tools, …).
    pub fn new(kind: RealFs, size: u64) -> io::Result<RealSide> {
        let size = size.max(kind.min_size());
        let mut tree = TestTree::new()?;
        tree.mount("m", kind, size)?;
        tree.mount("o", kind, kind.min_size().max(DEFAULT_SIZE.min(size)))?;
        let linux = Linux::new(tree.path().to_path_buf())?;
        Ok(RealSide {
            linux: Some(linux),
            tree: Some(tree),
            kind,
            cases: 0,
        })
    }

    /// The usual size: [`DEFAULT_SIZE`] (sparse images cost only what is written).
    ///
    /// # Errors
    /// As [`RealSide::new`].
    pub fn standard(kind: RealFs) -> io::Result<RealSide> {
        RealSide::new(kind, DEFAULT_SIZE)
    }

    /// The kind mounted.
    pub fn kind(&self) -> RealFs {
        self.kind
    }

    /// The kernel side.
    pub fn linux(&mut self) -> &mut Linux {
        self.linux.as_mut().expect("live until drop")
    }

    /// What runs before every snapshot. XFS inactivates unlinked inodes in the background
    /// (inodegc) and until then their blocks are still referenced: the other file of a
    /// clone keeps showing `SHARED` for tens of milliseconds after the unlink. On XFS the
    /// settler issues `XFS_IOC_FREE_EOFBLOCKS` with `XFS_EOF_FLAGS_SYNC` on both mounts,
    /// which runs the block garbage collector and then waits for inodegc
    /// (`xfs_blockgc_free_space` → `xfs_inodegc_flush`); it also trims post-EOF
    /// speculative preallocation, which the comparison ignores anyway. 0.1 ms per call.
    /// Elsewhere it does nothing.
    pub fn settler(&self) -> impl FnMut() + use<> {
        let xfs = matches!(self.kind, RealFs::XfsReflink | RealFs::XfsNoReflink);
        let roots: Vec<std::ffi::CString> = if xfs {
            self.tree
                .as_ref()
                .map(|t| {
                    t.mounts()
                        .iter()
                        .map(|m| m.path().to_path_buf())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok())
                .collect()
        } else {
            Vec::new()
        };
        move || {
            for r in &roots {
                xfs_flush_inodegc(r);
            }
        }
    }

    /// Runs `sc` in the case directories `dirs`. A scenario with power cuts starts with a
    /// `sync(2)` (the case's directories are durable before it begins), and each power cut
    /// is [`TestTree::power_cut`] of both filesystems.
    pub fn run(&mut self, sc: &Scenario, dirs: &Dirs) -> Vec<StepRecord> {
        let mut settle = self.settler();
        let RealSide { linux, tree, .. } = self;
        let linux = linux.as_mut().expect("live until drop");
        let tree = tree.as_mut().expect("live until drop");
        if sc.has_power_cut() {
            linux.sync();
        }
        let mut cut = || tree.power_cut().map_err(|e| e.to_string());
        let hooks = Hooks {
            settle: &mut settle,
            cut: &mut cut,
            after_step: &mut |_| {},
        };
        run(sc, linux, dirs, true, hooks)
    }

    /// Fresh directories for the next case.
    ///
    /// # Errors
    /// `mkdir` failures (a full filesystem).
    pub fn begin_case(&mut self) -> io::Result<Dirs> {
        self.cases += 1;
        if self.cases.is_multiple_of(SYNC_EVERY) {
            self.linux().sync();
        }
        let n = self.cases;
        let dirs = Dirs {
            main: format!("/m/c{n}"),
            other: format!("/o/c{n}"),
        };
        let l = self.linux();
        for d in [&dirs.main, &dirs.other] {
            l.mkdir(d, 0o755)
                .map_err(|e| io::Error::other(format!("mkdir {d}: {e:?}")))?;
        }
        Ok(dirs)
    }

    /// Removes a case's directories.
    pub fn end_case(&mut self, dirs: &Dirs) {
        let l = self.linux();
        l.close_all();
        for d in [&dirs.main, &dirs.other] {
            let p = l.real_path(d);
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

impl Drop for RealSide {
    fn drop(&mut self) {
        // The kernel-side descriptors must be closed before the filesystems are unmounted.
        drop(self.linux.take());
        drop(self.tree.take());
    }
}

/// `struct xfs_fs_eofblocks` (`xfs_fs.h`): version, flags, uid, gid, project id, padding,
/// minimum file size, 12 × 64 bits of padding.
#[repr(C)]
struct XfsEofblocks {
    version: u32,
    flags: u32,
    uid: u32,
    gid: u32,
    prid: u32,
    pad32: u32,
    min_file_size: u64,
    pad64: [u64; 12],
}

/// `XFS_IOC_FREE_EOFBLOCKS` = `_IOR('X', 58, struct xfs_fs_eofblocks)`.
const XFS_IOC_FREE_EOFBLOCKS: u64 = 0x8080_583a;

/// `XFS_IOC_FREE_EOFBLOCKS` with `XFS_EOF_FLAGS_SYNC` on the filesystem holding `dir`
/// (errors ignored: the settler is best effort, a divergence would show).
fn xfs_flush_inodegc(dir: &std::ffi::CStr) {
    let arg = XfsEofblocks {
        version: 1,
        flags: 1,
        uid: 0,
        gid: 0,
        prid: 0,
        pad32: 0,
        min_file_size: 0,
        pad64: [0; 12],
    };
    // SAFETY: `dir` is a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            dir.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return;
    }
    // SAFETY: `arg` is a live `struct xfs_fs_eofblocks`, which the kernel only reads.
    unsafe {
        libc::ioctl(fd, XFS_IOC_FREE_EOFBLOCKS as _, &arg as *const XfsEofblocks);
        libc::close(fd);
    }
}

/// The simulator's directories for a case (the same names as the real side's).
pub fn sim_dirs(p: &mut Process, dirs: &Dirs) -> Result<(), String> {
    for d in [&dirs.main, &dirs.other] {
        p.mkdir(d, 0o755)
            .map_err(|e| format!("simulator mkdir {d}: {e:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xfs_eofblocks_matches_the_abi() {
        assert_eq!(std::mem::size_of::<XfsEofblocks>(), 128);
        assert_eq!(
            XFS_IOC_FREE_EOFBLOCKS >> 16 & 0x3fff,
            128,
            "size field of _IOR"
        );
    }

    #[test]
    fn pairs_and_specs() {
        assert_eq!(pair_by_name("xfs").unwrap().model, "xfs-like");
        assert_eq!(
            pair_by_name("xfs-noreflink").unwrap().model,
            "xfs-like:reflink=0"
        );
        assert!(pair_by_name("zfs").is_none());
        assert_eq!(
            spec_with_size("xfs-like:reflink=0", Some(8)),
            "xfs-like:reflink=0,size=8"
        );
        assert_eq!(spec_with_size("btrfs-like", Some(8)), "btrfs-like:size=8");
        for p in PAIRS {
            sim_process(p.model, Some(8 << 20)).unwrap();
        }
    }
}
