//! Mounts, the inode cache, open files and path lookup.
//!
//! Every mount is its own filesystem (its own super block): calls that need one filesystem
//! compare [`Mount::dev`] and answer `EXDEV` across mounts. Paths are absolute; `.` and `..`
//! are resolved lexically.

use std::collections::HashMap;

use crate::errno::{Errno, KResult};
use crate::extent::{FileKind, Ino, ROOT_INO};
use crate::fs::FileSystem;
use crate::lock::InodeLock;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering};

/// An in-memory inode: what the VFS keeps while a file is in use.
#[derive(Debug)]
pub struct Inode {
    pub dev: u64,
    pub ino: Ino,
    /// The inode lock (`i_rwsem`).
    pub lock: InodeLock,
    opens: AtomicUsize,
}

impl Inode {
    /// Key of the global lock order: mount first, then inode number.
    pub fn order(&self) -> u64 {
        (self.dev << 48) | self.ino
    }
}

/// A mounted filesystem.
pub struct Mount {
    /// Device number: distinct per mount.
    pub dev: u64,
    /// Where it is mounted (normalised, `/` for the root).
    pub path: String,
    pub fs: Arc<dyn FileSystem>,
    cache: Mutex<HashMap<Ino, Arc<Inode>>>,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mount({} on {}, dev {})",
            self.fs.fs_type(),
            self.path,
            self.dev
        )
    }
}

impl Mount {
    /// The in-memory inode for `ino`, creating it on first use.
    pub fn inode(&self, ino: Ino) -> Arc<Inode> {
        let mut c = self.cache.lock();
        c.entry(ino)
            .or_insert_with(|| {
                Arc::new(Inode {
                    dev: self.dev,
                    ino,
                    lock: InodeLock::new(),
                    opens: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// Counts an open of `inode`.
    pub fn opened(&self, inode: &Inode) {
        // Under the cache lock, so that an unlink's check-then-evict cannot interleave.
        let _c = self.cache.lock();
        inode.opens.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a close of `inode`; evicts it when it was the last open of an unlinked file.
    pub fn closed(&self, inode: &Inode) {
        let mut c = self.cache.lock();
        if inode.opens.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.evict_if_unlinked(&mut c, inode.ino);
        }
    }

    /// After an unlink: frees the inode at once unless it is open.
    pub fn unlinked(&self, ino: Ino) {
        let mut c = self.cache.lock();
        self.evict_if_unlinked(&mut c, ino);
    }

    fn evict_if_unlinked(&self, cache: &mut HashMap<Ino, Arc<Inode>>, ino: Ino) {
        let open = cache
            .get(&ino)
            .is_some_and(|i| i.opens.load(Ordering::SeqCst) > 0);
        if open {
            return;
        }
        if self.fs.getattr(ino).is_ok_and(|s| s.nlink == 0) {
            self.fs.evict(ino);
            cache.remove(&ino);
        }
    }

    /// Forgets every in-memory inode (after a crash: nothing is open any more).
    pub fn drop_caches(&self) {
        self.cache.lock().clear();
    }

    /// Turns lock-timeline recording on for every cached inode and new ones alike.
    pub fn cached_inodes(&self) -> Vec<Arc<Inode>> {
        self.cache.lock().values().cloned().collect()
    }
}

/// The mount table.
#[derive(Default)]
pub struct Vfs {
    mounts: Mutex<Vec<Arc<Mount>>>,
    next_dev: AtomicUsize,
}

/// Splits a path into normalised components.
///
/// # Errors
/// `ENOENT` for an empty path; `ENAMETOOLONG` for a path over 4096 bytes.
pub fn components(path: &str) -> KResult<Vec<&str>> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= 4096 {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

impl Vfs {
    /// An empty mount table.
    pub fn new() -> Vfs {
        Vfs::default()
    }

    /// Mounts `fs` at `path` (the first mount must be `/`).
    ///
    /// # Errors
    /// `EBUSY` if something is already mounted there; `ENOENT` if nothing is mounted at `/`
    /// yet and `path` is not `/`.
    pub fn mount(&self, path: &str, fs: Arc<dyn FileSystem>) -> KResult<Arc<Mount>> {
        let norm = format!("/{}", components(path)?.join("/"));
        let mut m = self.mounts.lock();
        if m.iter().any(|x| x.path == norm) {
            return Err(Errno::EBUSY);
        }
        if m.is_empty() && norm != "/" {
            return Err(Errno::ENOENT);
        }
        let dev = self.next_dev.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        let mnt = Arc::new(Mount {
            dev,
            path: norm,
            fs,
            cache: Mutex::new(HashMap::new()),
        });
        m.push(mnt.clone());
        Ok(mnt)
    }

    /// Every mount, in mount order.
    pub fn mounts(&self) -> Vec<Arc<Mount>> {
        self.mounts.lock().clone()
    }

    /// The mount that holds `path` and the path's components inside it.
    ///
    /// # Errors
    /// As [`components`]; `ENOENT` when nothing is mounted.
    pub fn mount_of<'p>(&self, path: &'p str) -> KResult<(Arc<Mount>, Vec<&'p str>)> {
        let comps = components(path)?;
        let m = self.mounts.lock();
        let best = m
            .iter()
            .filter_map(|mnt| {
                let mc: Vec<&str> = mnt.path.split('/').filter(|c| !c.is_empty()).collect();
                comps.starts_with(&mc).then_some((mc.len(), mnt))
            })
            .max_by_key(|(n, _)| *n)
            .ok_or(Errno::ENOENT)?;
        Ok((best.1.clone(), comps[best.0..].to_vec()))
    }

    fn walk(mnt: &Mount, comps: &[&str]) -> KResult<Ino> {
        let mut ino = ROOT_INO;
        for c in comps {
            ino = mnt.fs.lookup(ino, c)?;
        }
        Ok(ino)
    }

    /// Resolves a path to its mount and inode.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR` (a non-directory in the middle), `ENAMETOOLONG`.
    pub fn resolve(&self, path: &str) -> KResult<(Arc<Mount>, Ino)> {
        let (mnt, comps) = self.mount_of(path)?;
        let ino = Self::walk(&mnt, &comps)?;
        Ok((mnt, ino))
    }

    /// Resolves all but the last component: the directory and the final name.
    ///
    /// # Errors
    /// As [`Vfs::resolve`]; `EBUSY` for a mount point itself (it has no name inside its
    /// filesystem); `ENOTDIR` if the parent is not a directory.
    pub fn resolve_parent(&self, path: &str) -> KResult<(Arc<Mount>, Ino, String)> {
        let (mnt, comps) = self.mount_of(path)?;
        let Some((last, dirs)) = comps.split_last() else {
            return Err(Errno::EBUSY);
        };
        let dir = Self::walk(&mnt, dirs)?;
        if mnt.fs.getattr(dir)?.kind != FileKind::Directory {
            return Err(Errno::ENOTDIR);
        }
        Ok((mnt, dir, last.to_string()))
    }

    /// Crashes every mount to its permitted state `pick` and forgets in-memory inodes.
    pub fn crash_all(&self, pick: usize) {
        for m in self.mounts() {
            m.fs.crash(pick);
            m.drop_caches();
        }
    }
}
