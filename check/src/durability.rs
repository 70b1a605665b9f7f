//! Durability (spec §6.5–6.6, §6.9): which images a crash may recover to, and the checks
//! each crash state must pass.
//!
//! The harness records a [`Snapshot`] of the reference model after every step that changed
//! something; a copy that the simulator may journal piece by piece (a chunked byte copy, a
//! may-share splice) is recorded as a [`FileState::Mix`] of the destination before and
//! after, because a crash in its middle may keep any subset of its pieces.
//!
//! The rule is per name, for every model (durability is per file: `docs/design.md` A5,
//! D1–D9, and COMMIT for nfs-like): every name in a crash state holds what that name held at
//! some step since *its* last `fsync` (absent included) — or, because writeback and
//! UNSTABLE writes reach the device in any order, a byte-wise mixture of those states:
//! every byte comes from some permitted state, never garbage, never another file's bytes.
//! Renames are followed both ways: a crash may keep a rename but not the renamed file's
//! data, and data overwritten in place after a rename shows under the old name in a state
//! that lost the rename.
//!
//! A crash state must also pass [`recovery_problems`]: fsck (I1–I5) and no
//! orphan or unreachable inode after mount-time recovery.
//!
//! Checks read the recovered [`Image`] directly (no process, no VFS), which is what makes
//! crash-state enumeration fast.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use vfs::Data;
use vfs::errno::Errno;
use vfs::extent::{FileKind, Image, Ino, ROOT_INO};

use crate::content::{first_diff, mix_violation, mixture_violation};
use crate::reference::Reference;

/// What a file may hold in one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Exactly these bytes.
    Exact(Data),
    /// Any byte-wise mixture of the two (a copy that a crash may have cut).
    Mix { before: Data, after: Data },
}

/// The model's namespace at one step.
pub type Snapshot = BTreeMap<String, FileState>;

/// Takes a snapshot of the model.
pub fn snapshot(model: &Reference) -> Snapshot {
    model
        .files
        .iter()
        .map(|(n, f)| (n.clone(), FileState::Exact(f.data.clone())))
        .collect()
}

/// One file as recovered: its bytes, with the ranges that read `EIO` (media errors are
/// device state and survive a crash; those bytes are not compared).
#[derive(Clone, Debug)]
pub struct FileView {
    pub data: Data,
    pub bad: Vec<(u64, u64)>,
}

impl FileView {
    /// The view with its unreadable ranges replaced by `like`'s bytes (a wildcard).
    pub fn patched(&self, like: &Data) -> Data {
        let mut d = self.data.clone();
        for &(a, b) in &self.bad {
            let mut piece = like.slice(a, b - a);
            piece.push(b - a - piece.len(), vfs::data::Src::Zero);
            d = d.overlay(a, &piece);
        }
        d
    }

    /// Whether this view is `state` (its bytes, or for a [`FileState::Mix`] a byte-wise
    /// mixture of the two; unreadable ranges match anything).
    pub fn is(&self, state: &FileState) -> bool {
        match state {
            FileState::Exact(want) => first_diff(&self.patched(want), want).is_none(),
            FileState::Mix { before, after } => {
                mix_violation(&self.patched(after), before, after).is_none()
            }
        }
    }
}

/// Reads every regular file in the root directory of `img` (the harness never makes
/// subdirectories).
///
/// # Errors
/// A message if a file cannot be read for another reason than a media error.
pub fn read_files(img: &Image) -> Result<BTreeMap<String, FileView>, String> {
    let root = img.inode(ROOT_INO).map_err(|e| format!("no root: {e:?}"))?;
    let mut out = BTreeMap::new();
    for (name, &ino) in &root.children {
        out.insert(name.clone(), read_file(img, ino)?);
    }
    Ok(out)
}

/// Reads one file of `img`, block by block where media errors make whole reads fail.
///
/// # Errors
/// A message for errors other than `EIO`.
pub fn read_file(img: &Image, ino: Ino) -> Result<FileView, String> {
    let node = img.inode(ino).map_err(|e| format!("inode {ino}: {e:?}"))?;
    let size = node.size;
    match img.read(ino, 0, size) {
        Ok(data) => Ok(FileView {
            data,
            bad: Vec::new(),
        }),
        Err(Errno::EIO) => {
            let bs = img.block_size();
            let mut data = Data::new();
            let mut bad: Vec<(u64, u64)> = Vec::new();
            let mut off = 0;
            while off < size {
                let n = bs.min(size - off);
                match img.read(ino, off, n) {
                    Ok(d) => data.append(d),
                    Err(Errno::EIO) => {
                        data.append(Data::zero(n));
                        match bad.last_mut() {
                            Some(last) if last.1 == off => last.1 = off + n,
                            _ => bad.push((off, off + n)),
                        }
                    }
                    Err(e) => return Err(format!("inode {ino} at {off}: {e:?}")),
                }
                off += n;
            }
            Ok(FileView { data, bad })
        }
        Err(e) => Err(format!("inode {ino}: {e:?}")),
    }
}

/// What must hold of any image after mount-time recovery, beyond content: fsck is clean
/// (I1–I5) and every inode is reachable from the root with `nlink > 0` (no orphan survives
/// recovery, no inode leaks). One line per problem.
pub fn recovery_problems(img: &Image) -> Vec<String> {
    let mut problems = img.fsck();
    let mut seen = BTreeSet::from([ROOT_INO]);
    let mut stack = vec![ROOT_INO];
    while let Some(d) = stack.pop() {
        if let Ok(node) = img.inode(d) {
            for &c in node.children.values() {
                if seen.insert(c) && img.inode(c).is_ok_and(|n| n.kind == FileKind::Directory) {
                    stack.push(c);
                }
            }
        }
    }
    for (&ino, node) in &img.inodes {
        if !seen.contains(&ino) {
            problems.push(format!(
                "inode {ino} (nlink {}, {} bytes) survives recovery but no directory names it",
                node.nlink, node.size
            ));
        }
    }
    problems
}

/// The states a crash may recover to, as far as the model can tell.
#[derive(Clone, Debug)]
pub struct History {
    /// Snapshots since the oldest point any check still needs.
    snaps: Vec<Snapshot>,
    /// Per name: index into `snaps` of its last fsync.
    synced: HashMap<String, usize>,
    /// Renames `(old, new, snapshot index after it, old's fsync index then)`: a crash may keep the rename but not the data of the renamed file (nfs:
    /// namespace operations are synchronous, data writes are not), so `new` may show any
    /// state `old` had since its last fsync before the rename.
    renames: Vec<(String, String, usize, usize)>,
    /// Bumped whenever a state permitted before may no longer be (an fsync, a reset);
    /// between bumps the permitted states only grow ([`History::epoch`]).
    epoch: u64,
}

impl History {
    /// A history whose only (durable) state is `model`.
    pub fn new(model: &Reference) -> History {
        History {
            snaps: vec![snapshot(model)],
            synced: model.files.keys().map(|n| (n.clone(), 0)).collect(),
            renames: Vec::new(),
            epoch: 0,
        }
    }

    /// Starts afresh from `model`, which is durable (after a crash).
    pub fn reset(&mut self, model: &Reference) {
        let epoch = self.epoch + 1;
        *self = History::new(model);
        self.epoch = epoch;
    }

    /// Changes whenever a crash state [`History::check_state`] accepted may stop being
    /// accepted; while it stays the same, an accepted state stays accepted (records only
    /// add permitted states).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Number of snapshots kept.
    pub fn len(&self) -> usize {
        self.snaps.len()
    }

    /// Whether no snapshot is kept (never: there is always the durable one).
    pub fn is_empty(&self) -> bool {
        self.snaps.is_empty()
    }

    /// Records the model after a step.
    pub fn record(&mut self, model: &Reference) {
        let s = snapshot(model);
        if self.snaps.last() != Some(&s) {
            self.snaps.push(s);
        }
    }

    /// Records a copy into `dst` that may be cut by a crash: `before` is dst's content
    /// before the call, the model already holds the content after it.
    pub fn record_copy(&mut self, model: &Reference, dst: &str, before: Data) {
        let mut s = snapshot(model);
        if let Some(FileState::Exact(after)) = s.get(dst).cloned() {
            s.insert(dst.to_string(), FileState::Mix { before, after });
            self.snaps.push(s);
        }
        self.record(model);
    }

    /// Records a rename from `old` to `new` (after the model did it).
    pub fn record_rename(&mut self, model: &Reference, old: &str, new: &str) {
        self.record(model);
        let from = self.synced.get(old).copied().unwrap_or(0);
        self.renames
            .push((old.to_string(), new.to_string(), self.snaps.len() - 1, from));
    }

    /// The states name `name` may show: its own since its last fsync, and those of any
    /// name renamed to it (before the rename), recursively.
    fn candidates<'a>(
        &'a self,
        name: &str,
        from: Option<usize>,
        upto: usize,
        seen: &mut Vec<(String, usize)>,
        out: &mut Vec<Option<&'a FileState>>,
    ) {
        // The same name may be renamed away more than once; only a repeat of the same
        // window is a cycle.
        if seen.iter().any(|(s, u)| s == name && *u == upto) {
            return;
        }
        seen.push((name.to_string(), upto));
        let from = from
            .unwrap_or_else(|| self.synced.get(name).copied().unwrap_or(0))
            .min(upto);
        for s in &self.snaps[from..=upto] {
            out.push(s.get(name));
        }
        for (old, new, at, old_from) in &self.renames {
            if new == name && *at <= upto && *at >= from {
                self.candidates(old, Some(*old_from), *at, seen, out);
            }
        }
        self.later_names(name, from, upto, &mut Vec::new(), out);
    }

    /// Data overwritten in place after a rename reaches the blocks the old name still maps
    /// in a crash state that lost the rename (XFS and ext4 log no such overwrite): `name`
    /// may show the states of every name it was renamed to since `from`, along chains of
    /// renames.
    fn later_names<'a>(
        &'a self,
        name: &str,
        from: usize,
        upto: usize,
        seen: &mut Vec<(String, usize)>,
        out: &mut Vec<Option<&'a FileState>>,
    ) {
        for (old, new, at, _) in &self.renames {
            if old != name || *at < from || *at > upto || seen.contains(&(new.clone(), *at)) {
                continue;
            }
            seen.push((new.clone(), *at));
            for s in &self.snaps[*at..=upto] {
                out.push(s.get(new));
            }
            self.later_names(new, *at, upto, seen, out);
        }
    }

    /// `fsync` of `name` returned: its current state is durable.
    pub fn synced(&mut self, name: &str) {
        self.epoch += 1;
        self.synced.insert(name.to_string(), self.snaps.len() - 1);
    }

    /// Checks one crash state: recovery problems, then content against the history.
    ///
    /// # Errors
    /// What is wrong with the state.
    pub fn check_state(&self, img: &Image) -> Result<(), String> {
        let problems = recovery_problems(img);
        if !problems.is_empty() {
            return Err(format!("fsck after recovery: {problems:?}"));
        }
        self.check_per_name(&read_files(img)?)
    }

    /// Whether `v` is a byte-wise mixture of the states in `cands` (see
    /// [`mixture_violation`]): without COMMIT, a network client's UNSTABLE writes reach the
    /// server in any order.
    fn mixture_of(v: &FileView, cands: &[Option<&FileState>]) -> bool {
        let mut datas: Vec<&Data> = Vec::new();
        for c in cands.iter().flatten() {
            match c {
                FileState::Exact(d) => datas.push(d),
                FileState::Mix { before, after } => {
                    datas.push(before);
                    datas.push(after);
                }
            }
        }
        let Some(&like) = datas.last() else {
            return false;
        };
        mixture_violation(&v.patched(like), &datas).is_none()
    }

    /// Whether `name` may read as `view` now under the per-name rule (after a server
    /// reboot dropped writes a crashed client never committed).
    pub fn permits(&self, name: &str, view: &FileView) -> bool {
        let mut cands = Vec::new();
        self.candidates(
            name,
            None,
            self.snaps.len() - 1,
            &mut Vec::new(),
            &mut cands,
        );
        cands.iter().any(|c| c.is_some_and(|st| view.is(st))) || Self::mixture_of(view, &cands)
    }

    fn check_per_name(&self, files: &BTreeMap<String, FileView>) -> Result<(), String> {
        let mut names: BTreeSet<&str> = files.keys().map(String::as_str).collect();
        for s in &self.snaps {
            names.extend(s.keys().map(String::as_str));
        }
        let last = self.snaps.len() - 1;
        for name in names {
            let mut cands = Vec::new();
            self.candidates(name, None, last, &mut Vec::new(), &mut cands);
            let got = files.get(name);
            let ok = cands.iter().any(|c| match (c, got) {
                (None, None) => true,
                (Some(st), Some(v)) => v.is(st),
                _ => false,
            }) || got.is_some_and(|v| Self::mixture_of(v, &cands));
            if !ok {
                let want = cands
                    .iter()
                    .map(|c| match c {
                        None => "absent".to_string(),
                        Some(FileState::Exact(d)) => format!("{} bytes", d.len()),
                        Some(FileState::Mix { before, after }) => {
                            format!("a mix of {} and {} bytes", before.len(), after.len())
                        }
                    })
                    .collect::<Vec<_>>();
                let got = match got {
                    None => "absent".to_string(),
                    Some(v) => format!("{} bytes", v.data.len()),
                };
                return Err(format!(
                    "{name} is {got} after the crash, not one of its states since its last fsync: {want:?}"
                ));
            }
        }
        Ok(())
    }
}
