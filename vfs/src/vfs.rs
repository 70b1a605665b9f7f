//! Mounts, the inode cache, open files and path lookup.
//!
//! Every mount is its own filesystem (its own super block): calls that need one filesystem
//! compare [`Mount::dev`] and answer `EXDEV` across mounts.
//!
//! Path lookup follows the kernel's rules (`fs/namei.c`): a path is walked component by
//! component from `/` (the lab has no working directory, so every path is absolute);
//! `..` steps back to the directory walked through, so `f/..` is `ENOTDIR` for a file `f`
//! and `nosuch/..` is `ENOENT`; the last component is left to the caller together with
//! its kind ([`Last`]: a name, `.`, `..`, or none for `/`) and whether a `/` follows it,
//! because every call treats those differently (`rmdir d/.` is `EINVAL`, `unlink f/` is
//! `ENOTDIR`, `open("n/", O_CREAT)` is `EISDIR`). The lab's answer for a path holding a
//! NUL byte, which no C caller can pass, is in the syscall layer.

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
        // Planted bug (vfs::bugs): the inode number alone.
        if crate::bugs::planted(crate::bugs::Bug::LockOrderIgnoresMount) {
            return self.ino;
        }
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

/// Longest path the kernel accepts, counting the NUL that ends the C string
/// (`PATH_MAX`): a path of `PATH_MAX` bytes or more is `ENAMETOOLONG`.
pub const PATH_MAX: usize = 4096;

/// The checks made on a path before any lookup (`getname` in the kernel): `ENOENT` for an
/// empty path, `ENAMETOOLONG` for one of [`PATH_MAX`] bytes or more.
///
/// # Errors
/// `ENOENT`, `ENAMETOOLONG`.
pub fn check_path(path: &str) -> KResult<()> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// Splits a path into lexically normalised components (`.` dropped, `..` removes the
/// previous component). Only for naming mount points and finding the mount a path lies
/// on; lookups walk the path component by component ([`Vfs::resolve`]).
///
/// # Errors
/// As [`check_path`].
pub fn components(path: &str) -> KResult<Vec<&str>> {
    check_path(path)?;
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

/// What the last component of a path is (the kernel's `last_type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Last {
    /// An ordinary name.
    Name(String),
    /// `.`: the directory itself.
    Dot,
    /// `..`: the directory's parent.
    DotDot,
    /// The path is `/` (or only slashes): there is no last component.
    Root,
}

/// A path resolved up to its last component ([`Vfs::resolve_parent`]).
#[derive(Debug)]
pub struct Parent {
    /// The mount of the directory the last component is in.
    pub mnt: Arc<Mount>,
    /// That directory (for `.` and `..`: the directory they are found in).
    pub dir: Ino,
    /// The last component.
    pub last: Last,
    /// The last component was followed by `/`: it must name a directory.
    pub slash: bool,
    /// For a [`Last::Name`] that is a mount point: the mount whose root it is. The lab
    /// mounts over a path whether or not the parent filesystem has that directory, so a
    /// mount point is found by its path, not by a lookup.
    pub covered: Option<Arc<Mount>>,
    /// The directories walked, root first (`..` steps back along them).
    stack: Vec<At>,
}

/// Where a walk stands: a directory (or, at the end, any inode) and its absolute path.
#[derive(Clone, Debug)]
struct At {
    mnt: Arc<Mount>,
    ino: Ino,
    path: String,
}

impl At {
    fn is_dir(&self) -> KResult<bool> {
        Ok(self.mnt.fs.getattr(self.ino)?.kind == FileKind::Directory)
    }

    fn child_path(&self, name: &str) -> String {
        if self.path == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.path)
        }
    }
}

impl Parent {
    fn new(stack: Vec<At>, last: Last, slash: bool, covered: Option<Arc<Mount>>) -> Parent {
        let top = stack.last().expect("never empty");
        Parent {
            mnt: top.mnt.clone(),
            dir: top.ino,
            last,
            slash,
            covered,
            stack,
        }
    }

    /// Whether the walk went through inode `ino` of mount `dev` (the directories from `/`
    /// down to [`Parent::dir`], all of them its ancestors: directories form a tree).
    pub fn walked_through(&self, dev: u64, ino: Ino) -> bool {
        self.stack
            .iter()
            .any(|at| at.mnt.dev == dev && at.ino == ino)
    }

    /// The last component's name, if it is an ordinary name.
    pub fn name(&self) -> Option<&str> {
        match &self.last {
            Last::Name(n) => Some(n),
            _ => None,
        }
    }
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

    /// The mount at exactly `path` (normalised), if any.
    fn mounted_at(&self, path: &str) -> Option<Arc<Mount>> {
        self.mounts.lock().iter().find(|m| m.path == path).cloned()
    }

    /// Steps from `at` into `name`: a mount point enters the root of what is mounted
    /// there; anything else is looked up in `at`'s filesystem.
    fn enter(&self, at: &At, name: &str) -> KResult<At> {
        let path = at.child_path(name);
        if let Some(m) = self.mounted_at(&path) {
            return Ok(At {
                mnt: m,
                ino: ROOT_INO,
                path,
            });
        }
        let ino = at.mnt.fs.lookup(at.ino, name)?;
        Ok(At {
            mnt: at.mnt.clone(),
            ino,
            path,
        })
    }

    /// Walks every component but the last, in order, as the kernel's `link_path_walk`
    /// does: `.` stays, `..` steps back (never above `/`, and out of a mount to the
    /// directory it is mounted on), a name is looked up; after each component that more
    /// components follow, where the walk stands must be a directory. Paths are absolute
    /// (a leading `/` may be left out: the lab has no working directory).
    ///
    /// # Errors
    /// As [`check_path`]; then, component by component, `ENOENT`, `ENAMETOOLONG` (a name
    /// over 255 bytes, from the filesystem's lookup) or `ENOTDIR` (something other than a
    /// directory in the middle).
    pub fn resolve_parent(&self, path: &str) -> KResult<Parent> {
        check_path(path)?;
        let root = self.mounts.lock().first().cloned().ok_or(Errno::ENOENT)?;
        let mut stack = vec![At {
            mnt: root,
            ino: ROOT_INO,
            path: "/".into(),
        }];
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let Some((&last, dirs)) = comps.split_last() else {
            return Ok(Parent::new(stack, Last::Root, false, None));
        };
        for &c in dirs {
            match c {
                "." => {}
                ".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                }
                name => {
                    let next = self.enter(stack.last().expect("never empty"), name)?;
                    stack.push(next);
                }
            }
            if !stack.last().expect("never empty").is_dir()? {
                return Err(Errno::ENOTDIR);
            }
        }
        let slash = path.ends_with('/');
        let (last, covered) = match last {
            "." => (Last::Dot, None),
            ".." => (Last::DotDot, None),
            name => {
                let at = stack.last().expect("never empty");
                (
                    Last::Name(name.to_string()),
                    self.mounted_at(&at.child_path(name)),
                )
            }
        };
        Ok(Parent::new(stack, last, slash, covered))
    }

    /// Resolves a path to its mount and inode: [`Vfs::resolve_parent`], then the last
    /// component; a trailing `/` asks for a directory.
    ///
    /// # Errors
    /// As [`Vfs::resolve_parent`]; `ENOENT` or `ENAMETOOLONG` for the last name;
    /// `ENOTDIR` for a trailing `/` after something other than a directory.
    pub fn resolve(&self, path: &str) -> KResult<(Arc<Mount>, Ino)> {
        let p = self.resolve_parent(path)?;
        let at = self.last_of(p)?;
        Ok((at.mnt, at.ino))
    }

    /// What the last component of `p` names.
    fn last_of(&self, mut p: Parent) -> KResult<At> {
        let slash = p.slash;
        let at = match &p.last {
            Last::Root | Last::Dot => p.stack.pop().expect("never empty"),
            Last::DotDot => {
                if p.stack.len() > 1 {
                    p.stack.pop();
                }
                p.stack.pop().expect("never empty")
            }
            Last::Name(name) => self.enter(p.stack.last().expect("never empty"), name)?,
        };
        if slash && !at.is_dir()? {
            return Err(Errno::ENOTDIR);
        }
        Ok(at)
    }

    /// Crashes every mount to its permitted state `pick` and forgets in-memory inodes.
    pub fn crash_all(&self, pick: usize) {
        for m in self.mounts() {
            m.fs.crash(pick);
            m.drop_caches();
        }
    }
}

#[cfg(test)]
mod tests {
    //! Path lookup by the kernel's rules, on a namespace-only filesystem over [`Image`].

    use super::*;
    use crate::clock::CostModel;
    use crate::data::Data;
    use crate::extent::{Attrs, Image};
    use crate::fs::{Fault, FaultReport, Stat, StatFs};
    use crate::task::Task;

    /// A filesystem with a namespace and nothing else (data calls: `EOPNOTSUPP`).
    struct Tree {
        img: Mutex<Image>,
        cost: CostModel,
    }

    impl FileSystem for Tree {
        fn fs_type(&self) -> &str {
            "tree"
        }
        fn statfs(&self) -> StatFs {
            StatFs {
                block_size: 4096,
                blocks: 16,
                free: 16,
            }
        }
        fn cost(&self) -> &CostModel {
            &self.cost
        }
        fn lookup(&self, dir: Ino, name: &str) -> KResult<Ino> {
            self.img.lock().lookup(dir, name)
        }
        fn create(&self, _: &Task, dir: Ino, name: &str, kind: FileKind) -> KResult<Ino> {
            self.img.lock().create(dir, name, kind)
        }
        fn remove(&self, _: &Task, dir: Ino, name: &str, rmdir: bool) -> KResult<Ino> {
            self.img.lock().remove(dir, name, rmdir)
        }
        fn rename(&self, _: &Task, od: Ino, on: &str, nd: Ino, nn: &str) -> KResult<Option<Ino>> {
            self.img.lock().rename(od, on, nd, nn)
        }
        fn evict(&self, ino: Ino) {
            self.img.lock().evict(ino);
        }
        fn getattr(&self, ino: Ino) -> KResult<Stat> {
            Stat::of(&self.img.lock(), ino)
        }
        fn set_attrs(&self, _: &Task, _: Ino, _: Attrs) -> KResult<()> {
            Err(Errno::EOPNOTSUPP)
        }
        fn read(&self, _: &Task, _: Ino, _: u64, _: u64) -> KResult<Data> {
            Err(Errno::EOPNOTSUPP)
        }
        fn write(&self, _: &Task, _: Ino, _: u64, _: &Data) -> KResult<u64> {
            Err(Errno::EOPNOTSUPP)
        }
        fn truncate(&self, _: &Task, _: Ino, _: u64) -> KResult<()> {
            Err(Errno::EOPNOTSUPP)
        }
        fn fallocate(&self, _: &Task, _: Ino, _: u32, _: u64, _: u64) -> KResult<()> {
            Err(Errno::EOPNOTSUPP)
        }
        fn fsync(&self, _: &Task, _: Ino, _: bool) -> KResult<()> {
            Ok(())
        }
        fn sync_fs(&self, _: &Task) -> KResult<()> {
            Ok(())
        }
        fn seek_data_hole(&self, _: Ino, _: u64, _: bool) -> KResult<u64> {
            Err(Errno::EOPNOTSUPP)
        }
        fn image(&self) -> Image {
            self.img.lock().clone()
        }
        fn crash_states(&self) -> Vec<Image> {
            vec![self.image()]
        }
        fn crash(&self, _: usize) {}
        fn inject(&self, _: &Task, _: Fault) -> KResult<FaultReport> {
            Err(Errno::EOPNOTSUPP)
        }
    }

    fn tree() -> Arc<dyn FileSystem> {
        Arc::new(Tree {
            img: Mutex::new(Image::new(4096, 16)),
            cost: CostModel::local_ssd(),
        })
    }

    /// `/f` (file), `/d` (directory), `/d/g` (file), and a second filesystem on `/m`
    /// holding `/m/x` (file).
    fn vfs() -> Vfs {
        let v = Vfs::new();
        let root = v.mount("/", tree()).unwrap();
        let t = Task::new(1);
        root.fs
            .create(&t, ROOT_INO, "f", FileKind::Regular)
            .unwrap();
        let d = root
            .fs
            .create(&t, ROOT_INO, "d", FileKind::Directory)
            .unwrap();
        root.fs.create(&t, d, "g", FileKind::Regular).unwrap();
        let m = v.mount("/m", tree()).unwrap();
        m.fs.create(&t, ROOT_INO, "x", FileKind::Regular).unwrap();
        v
    }

    fn ino(v: &Vfs, path: &str) -> KResult<(u64, Ino)> {
        v.resolve(path).map(|(m, i)| (m.dev, i))
    }

    #[test]
    fn getname_checks_come_first() {
        let v = vfs();
        assert_eq!(v.resolve("").unwrap_err(), Errno::ENOENT);
        assert_eq!(v.resolve_parent("").unwrap_err(), Errno::ENOENT);
        // PATH_MAX counts the NUL: 4095 bytes are fine, 4096 are too long.
        let ok = format!("{}f", "./".repeat(2047));
        assert_eq!(ok.len(), 4095);
        assert_eq!(ino(&v, &ok), ino(&v, "/f"));
        let long = format!("{ok}f");
        assert_eq!(v.resolve(&long).unwrap_err(), Errno::ENAMETOOLONG);
        assert_eq!(
            v.resolve(&"/".repeat(4096)).unwrap_err(),
            Errno::ENAMETOOLONG
        );
    }

    #[test]
    fn a_name_over_255_bytes_is_too_long_where_it_is_looked_up() {
        let v = vfs();
        let long = "y".repeat(256);
        assert_eq!(
            v.resolve(&format!("/{long}")).unwrap_err(),
            Errno::ENAMETOOLONG
        );
        assert_eq!(
            v.resolve(&format!("/{long}/n")).unwrap_err(),
            Errno::ENAMETOOLONG
        );
        // A missing or non-directory component before it is found first.
        assert_eq!(v.resolve(&format!("/n/{long}")).unwrap_err(), Errno::ENOENT);
        assert_eq!(
            v.resolve(&format!("/f/{long}")).unwrap_err(),
            Errno::ENOTDIR
        );
        // As the last component it is left to the caller.
        let p = v.resolve_parent(&format!("/{long}")).unwrap();
        assert_eq!(p.name(), Some(long.as_str()));
        assert!(
            v.resolve(&format!("/{}", "y".repeat(255)))
                .is_err_and(|e| e == Errno::ENOENT)
        );
    }

    #[test]
    fn a_trailing_slash_asks_for_a_directory() {
        let v = vfs();
        assert_eq!(v.resolve("/f/").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(v.resolve("/f//").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(v.resolve("/d/g/").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(v.resolve("/n/").unwrap_err(), Errno::ENOENT);
        assert_eq!(ino(&v, "/d/"), ino(&v, "/d"));
        assert_eq!(ino(&v, "/d//"), ino(&v, "/d"));
        let p = v.resolve_parent("/f/").unwrap();
        assert!(p.slash);
        assert_eq!(p.name(), Some("f"));
        assert!(!v.resolve_parent("/f").unwrap().slash);
    }

    #[test]
    fn dot_and_dotdot_are_walked_not_dropped() {
        let v = vfs();
        // Something other than a directory cannot be walked through, not even by `.`/`..`.
        assert_eq!(v.resolve("/f/.").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(v.resolve("/f/..").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(v.resolve("/f/../d").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(v.resolve("/f/./").unwrap_err(), Errno::ENOTDIR);
        // A missing directory cannot be walked out of.
        assert_eq!(v.resolve("/n/..").unwrap_err(), Errno::ENOENT);
        assert_eq!(v.resolve("/n/../f").unwrap_err(), Errno::ENOENT);
        assert_eq!(v.resolve("/n/.").unwrap_err(), Errno::ENOENT);
        assert_eq!(ino(&v, "/d/../f"), ino(&v, "/f"));
        assert_eq!(ino(&v, "/d/./g"), ino(&v, "/d/g"));
        assert_eq!(ino(&v, "/.."), ino(&v, "/"));
        assert_eq!(ino(&v, "/../../d"), ino(&v, "/d"));
        assert_eq!(ino(&v, "d"), ino(&v, "/d"), "no working directory: from /");
    }

    #[test]
    fn the_last_component_is_classified() {
        let v = vfs();
        let d = ino(&v, "/d").unwrap().1;
        let p = v.resolve_parent("/d/.").unwrap();
        assert_eq!((p.last.clone(), p.dir, p.slash), (Last::Dot, d, false));
        let p = v.resolve_parent("/d/..").unwrap();
        assert_eq!((p.last.clone(), p.dir), (Last::DotDot, d));
        let p = v.resolve_parent("/d/./").unwrap();
        assert_eq!((p.last.clone(), p.slash), (Last::Dot, true));
        for root in ["/", "///"] {
            let p = v.resolve_parent(root).unwrap();
            assert_eq!((p.last.clone(), p.dir), (Last::Root, ROOT_INO));
        }
        let p = v.resolve_parent("/d/g").unwrap();
        assert_eq!((p.name(), p.dir), (Some("g"), d));
        assert!(p.walked_through(p.mnt.dev, d) && p.walked_through(p.mnt.dev, ROOT_INO));
        // The parent must exist and be a directory; the name need not exist.
        assert_eq!(v.resolve_parent("/n/x").unwrap_err(), Errno::ENOENT);
        assert_eq!(v.resolve_parent("/f/x").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(v.resolve_parent("/d/n").unwrap().name(), Some("n"));
    }

    #[test]
    fn mounts_are_entered_and_left() {
        let v = vfs();
        let (mdev, _) = ino(&v, "/m").unwrap();
        let (rdev, _) = ino(&v, "/").unwrap();
        assert_ne!(mdev, rdev);
        assert_eq!(ino(&v, "/m"), Ok((mdev, ROOT_INO)));
        assert_eq!(ino(&v, "/m/."), Ok((mdev, ROOT_INO)));
        assert_eq!(ino(&v, "/m/x").unwrap().0, mdev);
        assert_eq!(ino(&v, "/m/../f"), ino(&v, "/f"));
        assert_eq!(ino(&v, "/m/.."), Ok((rdev, ROOT_INO)));
        // The mount point's name, as a last component, is covered by the mount.
        let p = v.resolve_parent("/m").unwrap();
        assert_eq!(p.name(), Some("m"));
        assert_eq!(p.covered.as_ref().map(|m| m.dev), Some(mdev));
        assert!(v.resolve_parent("/f").unwrap().covered.is_none());
        // Inside the mount the parent is the mount's root.
        let p = v.resolve_parent("/m/x").unwrap();
        assert_eq!((p.mnt.dev, p.dir), (mdev, ROOT_INO));
    }

    /// Issue 19: the global lock order is by mount, then inode number — two files with the
    /// same inode number on two mounts are two locks, and `lock_two` takes both (a key that
    /// ignored the mount would take one and leave the other file unlocked).
    #[test]
    fn lock_order_key_includes_the_mount() {
        use crate::lock::{Mode, lock_two};
        use crate::task::Task;
        let vfs = Vfs::new();
        let a = vfs.mount("/", tree()).unwrap();
        let b = vfs.mount("/m", tree()).unwrap();
        let (ia, ib) = (a.inode(7), b.inode(7));
        assert_ne!(ia.order(), ib.order());
        let t = Task::new(1);
        let (_ga, gb) = lock_two(
            (&ia.lock, ia.order(), Mode::Exclusive),
            (&ib.lock, ib.order(), Mode::Exclusive),
            &t,
            false,
        )
        .unwrap();
        assert!(gb.is_some(), "two locks for two files");
        let other = Task::new(2);
        assert!(ia.lock.try_lock(&other).is_err() && ib.lock.try_lock(&other).is_err());
    }
}
