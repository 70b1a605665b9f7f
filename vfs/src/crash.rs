//! Durable versus volatile state: the page cache, writeback, the journal, and the crash
//! states a model permits.
//!
//! A local model keeps two images. The *live* image is what system calls see: the page
//! cache over the device. The [`Journal`] keeps the *device view* ([`Journal::disk`]):
//! every metadata change (create, unlink, rename, truncate, fallocate, remap, …) is applied
//! to it as well, but a data write only dirties the page cache ([`Journal::dirtied`]) and
//! reaches the device view when the inode is written back — by `fsync` of that file, by
//! `sync`, by a remap or fallocate that flushes the range first (as the kernels do), or by
//! the flusher once the data has been dirty for `dirty_expire` ([`Timers`]).
//!
//! What a crash keeps depends on how the filesystem journals ([`Atomicity`]), each rule
//! decided by power cuts of the real filesystem on this machine (`docs/design.md` D1–D9):
//!
//! - [`Atomicity::Transaction`] (btrfs): the device view at the last transaction commit
//!   (`sync`, or the periodic commit), plus the log tree: `fsync(f)` writes `f`'s whole
//!   state (names, size, extents) to the log, and mount-time recovery replays it onto the
//!   committed tree ([`crate::replay`]). Nothing else of any other file comes along.
//! - [`Atomicity::MetadataLog`] (XFS, OCFS2, ext4): one ordered log of metadata changes.
//!   `fsync(f)` writes `f`'s data back and forces the log, so every metadata change made
//!   before it — other files' creation, renames, unlinks, sizes, clones — is durable too,
//!   but not other files' data still in the page cache. Without a force, a crash keeps the
//!   last forced state plus any prefix of the changes logged since.
//! - [`Atomicity::Volatile`] (tmpfs): nothing survives.
//!
//! [`Journal::states`] lists the permitted crash states, bounded ([`Journal::max_pending`],
//! [`SNAPSHOT_EXTENT_LIMIT`]), for `crash N` and crash-state enumeration (spec §6.9).

use std::collections::{BTreeMap, VecDeque};

use crate::clock::{Nanos, SEC};
use crate::extent::{Image, Ino};

/// What a crash may leave behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Atomicity {
    /// btrfs: transactions, committed by `sync` and every `commit_interval`; `fsync` writes
    /// the inode to a log tree replayed at mount.
    Transaction,
    /// XFS, OCFS2, ext4: one ordered metadata log that `fsync` forces as a whole; a crash
    /// keeps the last forced state plus any prefix of the changes logged since.
    MetadataLog,
    /// tmpfs: memory only, nothing survives a crash.
    Volatile,
}

/// The background timers, in virtual time. Linux's defaults: `vm.dirty_expire_centisecs`
/// = 3000 (dirty data is written back once 30 s old), `vm.dirty_writeback_centisecs` = 500
/// (the flusher wakes every 5 s), btrfs `commit=30`, XFS `fs.xfs.xfssyncd_centisecs` =
/// 3000 (the log worker pushes every 30 s), ext4 and OCFS2 (JBD2) `commit=5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub dirty_expire: Nanos,
    pub writeback_interval: Nanos,
    /// Periodic transaction commit (btrfs) or log push (XFS, JBD2).
    pub commit_interval: Nanos,
}

impl Timers {
    /// Linux's defaults with the given commit interval.
    pub fn linux(commit_interval: Nanos) -> Timers {
        Timers {
            dirty_expire: 30 * SEC,
            writeback_interval: 5 * SEC,
            commit_interval,
        }
    }
}

/// At most this many extents plus inodes in an image for which every logged change keeps
/// its own crash-state snapshot; past it only the forced state and the newest device view
/// are offered (both ends of the permitted range), so long runs on big images do not pay a
/// snapshot per operation. Extents are counted as the larger of the physical extents and
/// the mappings that reference them ([`snapshot_size`]): a block reflinked into thousands
/// of places is one physical extent but thousands of mappings, and the change after a
/// snapshot copies the inode's whole map, so without counting them every reflink into a big
/// file would copy the file's map (issue 17).
pub const SNAPSHOT_EXTENT_LIMIT: usize = 4096;

/// Inodes plus the larger of physical extents and mappings in `img`, what
/// [`SNAPSHOT_EXTENT_LIMIT`] bounds. O(inodes) only when inodes and physical extents are
/// already within the limit (a snapshot then costs as much anyway).
pub fn snapshot_size(img: &Image) -> usize {
    let base = img.phys.len() + img.inodes.len();
    if base > SNAPSHOT_EXTENT_LIMIT {
        return base;
    }
    let mappings: usize = img.inodes.values().map(|n| n.map.len()).sum();
    img.inodes.len() + img.phys.len().max(mappings)
}

/// btrfs: at most this many fsyncs are kept as log items between commits; the next fsync
/// with a change to log commits the transaction instead (as does any fsync on an image past
/// [`SNAPSHOT_EXTENT_LIMIT`]). Bounds the memory a run of fsyncs costs (one image per log
/// item) without changing what short workloads enumerate.
pub const MAX_LOG_ITEMS: usize = 256;

/// An inode's extent map by allocation identity ([`crate::extent::PhysExtent::origin`]):
/// physical-extent keys are reused after a free, allocation ids never are. Pieces that
/// continue each other (a split that changed nothing on disk) are merged.
fn extents(img: &Image, node: &crate::extent::InodeImage) -> Vec<(u64, u64, (u64, u64), bool)> {
    let mut out: Vec<(u64, u64, (u64, u64), bool)> = Vec::new();
    for (&fb, m) in &node.map {
        let origin = img.phys[m.phys].origin;
        if let Some(last) = out.last_mut()
            && last.0 + last.1 == fb
            && last.2.0 == origin.0
            && last.2.1 + last.1 == origin.1
            && last.3 == m.unwritten
        {
            last.1 += m.len;
            continue;
        }
        out.push((fb, m.len, origin, m.unwritten));
    }
    out
}

/// Whether `ino`'s metadata differs between `now_img` and `reference`: its size, extent
/// map by allocation, inline data, attributes, model tags, name or existence (what
/// [`Journal::changed_since`] asks of the device view).
fn metadata_differs(now_img: &Image, reference: &Image, ino: Ino) -> bool {
    let tags = |img: &Image| -> Vec<(&'static str, u64)> {
        img.inode_tags
            .range((ino, "")..)
            .take_while(|((i, _), _)| *i == ino)
            .map(|((_, k), v)| (*k, *v))
            .collect()
    };
    match (now_img.inode(ino), reference.inode(ino)) {
        (Ok(now), Ok(then)) => {
            now.size != then.size
                || extents(now_img, now) != extents(reference, then)
                || now.inline != then.inline
                || now.attrs != then.attrs
                || tags(now_img) != tags(reference)
                || now_img.name_of(ino) != reference.name_of(ino)
        }
        (Err(_), Err(_)) => false,
        _ => true,
    }
}

/// btrfs log replay: `log`'s items replayed in order onto `committed`. Each item carries
/// its inode whole; it also carries the name (or the unlink) of every inode created since
/// the commit and logged earlier — btrfs logs a rename or unlink of such an inode, and the
/// next fsync of any file writes it; an inode that is in the committed tree keeps its
/// committed name (measured, D3). An item that cannot be replayed (the device is full) is
/// skipped.
fn replay_log(committed: &Image, log: &[(Ino, Image)]) -> Image {
    let mut img = committed.clone();
    let mut logged: Vec<Ino> = Vec::new();
    for (ino, at) in log {
        let _ = img.transplant(at, *ino);
        for &earlier in logged.iter().filter(|&&e| e != *ino) {
            if committed.inode(earlier).is_err() {
                let _ = img.transplant_name(at, earlier);
            }
        }
        if !logged.contains(ino) {
            logged.push(*ino);
        }
    }
    img
}

/// What a crash state records of a file's placement: its size, its extents by allocation
/// (as `extents` lists them) and whether it is inline. Writeback that leaves it unchanged
/// overwrote allocated blocks in place ([`Journal::overwrote_in_place`]).
pub type Layout = (u64, Vec<(u64, u64, (u64, u64), bool)>, bool);

/// `ino`'s [`Layout`] in `img`, if it exists there.
pub fn layout(img: &Image, ino: Ino) -> Option<Layout> {
    let n = img.inode(ino).ok()?;
    Some((n.size, extents(img, n), n.inline.is_some()))
}

/// `ino`'s [`Layout`] in `img` restricted to file blocks `[from, to)`: its size, whether it
/// is inline, and the extents (by allocation, clipped to the range) there. O(log n + extents
/// in the range), for writeback, which asks whether a write changed the placement of the
/// blocks it covers; a write changes nothing outside them but the old EOF block, which the
/// caller includes in the range.
pub fn layout_in(img: &Image, ino: Ino, from: u64, to: u64) -> Option<Layout> {
    let n = img.inode(ino).ok()?;
    let mut out: Vec<(u64, u64, (u64, u64), bool)> = Vec::new();
    for (s, m) in n.mappings_in(from, to) {
        let (a, b) = (s.max(from), (s + m.len).min(to));
        let origin = img.phys[m.phys].origin;
        let origin = (origin.0, origin.1 + (a - s));
        if let Some(last) = out.last_mut()
            && last.0 + last.1 == a
            && last.2.0 == origin.0
            && last.2.1 + last.1 == origin.1
            && last.3 == m.unwritten
        {
            last.1 += b - a;
            continue;
        }
        out.push((a, b - a, origin, m.unwritten));
    }
    Some((n.size, out, n.inline.is_some()))
}

/// Data of one inode that is in the page cache only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dirty {
    /// When the inode was first dirtied since it was last written back (the flusher writes
    /// it back `dirty_expire` later).
    pub since: Nanos,
    /// Dirty byte ranges, `start → end`, disjoint and not touching.
    pub ranges: BTreeMap<u64, u64>,
}

impl Dirty {
    fn add(&mut self, start: u64, end: u64) {
        let (mut start, mut end) = (start, end);
        // The common case first: the last range starting at or before `end` also starts at
        // or before `start` and reaches it — the write lies inside it or extends it
        // (sequential writes), and, the ranges being disjoint and apart, touches no other.
        if let Some((&s, &e)) = self.ranges.range(..=end).next_back()
            && e >= start
            && s <= start
        {
            self.ranges.insert(s, e.max(end));
            return;
        }
        // Merge every range that overlaps or touches [start, end).
        let touching: Vec<u64> = self
            .ranges
            .range(..=end)
            .rev()
            .take_while(|&(_, &e)| e >= start)
            .map(|(&s, _)| s)
            .collect();
        for s in touching {
            let e = self.ranges.remove(&s).expect("listed");
            start = start.min(s);
            end = end.max(e);
        }
        self.ranges.insert(start, end);
    }

    /// Removes `[start, end)`, splitting a range that straddles it.
    fn remove(&mut self, start: u64, end: u64) {
        let hit: Vec<(u64, u64)> = self
            .ranges
            .range(..end)
            .filter(|&(_, &e)| e > start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in hit {
            self.ranges.remove(&s);
            if s < start {
                self.ranges.insert(s, start);
            }
            if e > end {
                self.ranges.insert(end, e);
            }
        }
    }

    fn clip(&mut self, size: u64) {
        let cut: Vec<(u64, u64)> = self
            .ranges
            .range(..)
            .filter(|&(_, &e)| e > size)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, _) in cut {
            self.ranges.remove(&s);
            if s < size {
                self.ranges.insert(s, size);
            }
        }
    }
}

/// The device view, the durable state, and the images a crash may recover to.
#[derive(Clone, Debug)]
pub struct Journal {
    rule: Atomicity,
    pub timers: Timers,
    /// The latest virtual time the filesystem has seen.
    now: Nanos,
    /// When the last commit or log force happened.
    last_commit: Nanos,
    /// Every metadata change and every written-back byte, durable or not.
    disk: Image,
    /// Inodes with data only in the page cache.
    dirty: BTreeMap<Ino, Dirty>,
    /// The device view at the last commit (btrfs) or log force (metadata log).
    durable: Image,
    /// Metadata log: the device view after each change since the last force, oldest first
    /// (the newest is always kept).
    pending: VecDeque<Image>,
    /// At most this many entries of `pending` are kept (the oldest go first: dropping one
    /// only removes a permitted state from the enumeration, never makes anything durable).
    pub max_pending: usize,
    /// btrfs: the log tree since the last commit: each fsynced inode with the device view
    /// at its fsync.
    log: Vec<(Ino, Image)>,
    /// btrfs: the recovered image for the current `durable` + `log`, built on demand.
    replayed: Option<Vec<Image>>,
    /// The number of the last snapshot taken ([`Image::snapshot`]).
    last_snapshot: u64,
    /// Whether the device view changed since it was last made durable.
    disk_changed: bool,
    /// No dirty inode expires before this ([`Journal::advance`] does nothing until then).
    next_wakeup: Nanos,
    /// Whether logged states since the last force were dropped from `pending`.
    pending_dropped: bool,
}

impl Journal {
    /// A journal whose device and durable state is `image` (a fresh mkfs).
    pub fn new(image: &Image, rule: Atomicity, timers: Timers) -> Journal {
        let mut disk = image.clone();
        disk.alloc.fail_at_call = None;
        let mut journal = Journal {
            rule,
            timers,
            now: 0,
            last_commit: 0,
            durable: disk.clone(),
            disk,
            dirty: BTreeMap::new(),
            pending: VecDeque::new(),
            max_pending: 16,
            log: Vec::new(),
            replayed: None,
            last_snapshot: 0,
            disk_changed: false,
            pending_dropped: false,
            next_wakeup: Nanos::MAX,
        };
        journal.durable = journal.snapshot_disk();
        journal
    }

    /// A numbered copy of the device view.
    fn snapshot_disk(&mut self) -> Image {
        self.last_snapshot += 1;
        let mut img = self.disk.clone();
        img.snapshot = Some(self.last_snapshot);
        img
    }

    /// The durability rule.
    pub fn rule(&self) -> Atomicity {
        self.rule
    }

    /// Whether metadata changes must be applied to the device view (not for a volatile
    /// filesystem, which has none).
    pub fn keeps_disk(&self) -> bool {
        self.rule != Atomicity::Volatile
    }

    /// The device view, for a model to apply a metadata change to (then call
    /// [`Journal::logged`]).
    pub fn disk_mut(&mut self) -> &mut Image {
        self.replayed = None;
        self.disk_changed = true;
        &mut self.disk
    }

    /// The device view.
    pub fn disk(&self) -> &Image {
        &self.disk
    }

    /// The inodes with data in the page cache only.
    pub fn dirty(&self) -> &BTreeMap<Ino, Dirty> {
        &self.dirty
    }

    /// Whether `ino` has data in the page cache only.
    pub fn is_dirty(&self, ino: Ino) -> bool {
        self.dirty.contains_key(&ino)
    }

    /// A data write of `[off, off + len)` of `ino` went to the page cache.
    pub fn dirtied(&mut self, ino: Ino, off: u64, len: u64) {
        if len == 0 || !self.keeps_disk() {
            return;
        }
        let now = self.now;
        let t = self.timers;
        let d = self.dirty.entry(ino).or_insert_with(|| Dirty {
            since: now,
            ranges: BTreeMap::new(),
        });
        // The flusher's next wake-up that writes anything back (Journal::advance).
        let step = t.writeback_interval.max(1);
        let wakeup = d
            .since
            .saturating_add(t.dirty_expire)
            .div_ceil(step)
            .saturating_mul(step);
        self.next_wakeup = self.next_wakeup.min(wakeup);
        d.add(off, off.saturating_add(len));
    }

    /// `ino`'s size dropped to `size`: page-cache data past its EOF page is gone (the EOF
    /// page stays dirty: its zeroed tail must reach the device before the file grows over
    /// it).
    pub fn truncated(&mut self, ino: Ino, size: u64) {
        let bs = self.disk.block_size();
        if let Some(d) = self.dirty.get_mut(&ino) {
            d.clip(size.div_ceil(bs).saturating_mul(bs));
            if d.ranges.is_empty() {
                self.dirty.remove(&ino);
            }
        }
    }

    /// `ino` was evicted: its page cache goes with it.
    pub fn evicted(&mut self, ino: Ino) {
        self.dirty.remove(&ino);
    }

    /// `ino`'s dirty byte ranges within `[start, end)`, clipped to it.
    pub fn dirty_in(&self, ino: Ino, start: u64, end: u64) -> Vec<(u64, u64)> {
        self.dirty.get(&ino).map_or_else(Vec::new, |d| {
            d.ranges
                .iter()
                .map(|(&s, &e)| (s.max(start), e.min(end)))
                .filter(|(s, e)| s < e)
                .collect()
        })
    }

    /// `[start, end)` of `ino` is no longer dirty (written back, by the caller, from the
    /// live image into [`Journal::disk_mut`]; then it calls [`Journal::logged`]).
    pub fn cleaned(&mut self, ino: Ino, start: u64, end: u64) {
        if let Some(d) = self.dirty.get_mut(&ino) {
            d.remove(start, end);
            if d.ranges.is_empty() {
                self.dirty.remove(&ino);
            }
        }
    }

    /// Writeback overwrote `[off, off + data.len())` of `ino` in place (no allocation, no
    /// size change): the data went to blocks the durable state already maps, so every
    /// crash state that maps that range to the same allocation sees the new bytes — no log
    /// force is needed for data written in place (measured, D4).
    pub fn overwrote_in_place(&mut self, ino: Ino, off: u64, data: &crate::data::Data) {
        let Ok(node) = self.disk.inode(ino) else {
            return;
        };
        let bs = self.disk.block_size();
        let (b0, b1) = (off / bs, (off + data.len()).div_ceil(bs));
        let want: Vec<_> = extents(&self.disk, node)
            .into_iter()
            .filter(|&(fb, len, _, _)| fb < b1 && fb + len > b0)
            .collect();
        let mut next = self.last_snapshot;
        let mut patch = |img: &mut Image| {
            let same = img.inode(ino).is_ok_and(|n| {
                let have: Vec<_> = extents(img, n)
                    .into_iter()
                    .filter(|&(fb, len, _, _)| fb < b1 && fb + len > b0)
                    .collect();
                have == want
            });
            // Only bytes inside the file as that state knows it (I4: nothing past EOF), and
            // only where they differ (a write of equal bytes changes nothing, and must not
            // copy a block the state shares).
            let size = img.inode(ino).map_or(0, |n| n.size);
            let keep = data.len().min(size.saturating_sub(off));
            let piece = data.slice(0, keep);
            if same
                && keep > 0
                && img.read(ino, off, keep).ok().as_ref() != Some(&piece)
                && img
                    .write_at(ino, off, &piece, crate::extent::Overwrite::InPlace)
                    .is_ok()
            {
                next += 1;
                img.snapshot = Some(next);
            }
        };
        patch(&mut self.durable);
        for img in self.pending.iter_mut() {
            patch(img);
        }
        for (_, img) in self.log.iter_mut() {
            patch(img);
        }
        self.last_snapshot = next;
        self.replayed = None;
    }

    /// Every written extent of `ino` on the device view reached its blocks in place
    /// ([`Journal::overwrote_in_place`] for each): what an `fsync` that logs nothing makes
    /// durable.
    fn written_back_in_place(&mut self, ino: Ino) {
        let Ok(node) = self.disk.inode(ino) else {
            return;
        };
        let bs = self.disk.block_size();
        let size = node.size;
        let pieces: Vec<(u64, crate::data::Data)> = node
            .map
            .iter()
            .filter(|(_, m)| !m.unwritten)
            .filter_map(|(&fb, m)| {
                let off = fb * bs;
                let len = (m.len * bs).min(size.saturating_sub(off));
                (len > 0)
                    .then(|| self.disk.read(ino, off, len).ok().map(|d| (off, d)))
                    .flatten()
            })
            .collect();
        for (off, d) in pieces {
            self.overwrote_in_place(ino, off, &d);
        }
    }

    /// A media error on physical block `pb` of the device (numbered as the device view
    /// numbers it): it survives a crash, in every state.
    pub fn mark_bad(&mut self, pb: u64) {
        self.disk.bad.insert(pb);
        self.replayed = None;
    }

    /// Everything is written back at once: the device view becomes the live image (the
    /// fallback when a change cannot be applied to the device view on its own).
    pub fn write_back_all(&mut self, live: &Image) {
        if !self.keeps_disk() {
            return;
        }
        self.disk = live.clone();
        self.disk_changed = true;
        self.disk.snapshot = None;
        self.disk.alloc.fail_at_call = None;
        self.dirty.clear();
        self.logged();
    }

    /// Advances the filesystem's clock to `now` and returns the inodes the flusher writes
    /// back by then: those dirty for at least `dirty_expire`, at the flusher's next wake-up.
    pub fn advance(&mut self, now: Nanos) -> Vec<Ino> {
        self.now = self.now.max(now);
        if !self.keeps_disk() {
            return Vec::new();
        }
        if self.now < self.next_wakeup {
            return Vec::new();
        }
        let t = self.timers;
        let step = t.writeback_interval.max(1);
        let wakeup = |d: &Dirty| {
            d.since
                .saturating_add(t.dirty_expire)
                .div_ceil(step)
                .saturating_mul(step)
        };
        let due: Vec<Ino> = self
            .dirty
            .iter()
            .filter(|(_, d)| wakeup(d) <= self.now)
            .map(|(&ino, _)| ino)
            .collect();
        self.next_wakeup = self
            .dirty
            .iter()
            .filter(|(i, _)| !due.contains(i))
            .map(|(_, d)| wakeup(d))
            .min()
            .unwrap_or(Nanos::MAX);
        due
    }

    /// Whether the periodic commit (btrfs) or log push (metadata log) is due.
    pub fn commit_due(&self) -> bool {
        self.keeps_disk()
            && self.timers.commit_interval > 0
            && self.now >= self.last_commit.saturating_add(self.timers.commit_interval)
    }

    /// The periodic commit or log push: what is on the device view becomes durable, the
    /// page cache stays dirty.
    pub fn periodic_commit(&mut self) {
        if self.commit_due() {
            self.make_durable();
        }
    }

    /// Records that the device view changed (a metadata change or a writeback).
    pub fn logged(&mut self) {
        self.replayed = None;
        if self.rule != Atomicity::MetadataLog {
            return;
        }
        if snapshot_size(&self.disk) > SNAPSHOT_EXTENT_LIMIT {
            // Only the newest device view (taken when states are asked for).
            self.pending.clear();
            self.pending_dropped = true;
            return;
        }
        let snap = self.snapshot_disk();
        self.pending.push_back(snap);
        while self.pending.len() > self.max_pending.max(1) {
            self.pending.pop_front();
            self.pending_dropped = true;
        }
    }

    /// The device view becomes durable (commit, log force).
    fn make_durable(&mut self) {
        // Planted bug (vfs::bugs): nothing becomes durable.
        if crate::bugs::planted(crate::bugs::Bug::FsyncNotDurable) {
            return;
        }
        self.durable = self.snapshot_disk();
        self.pending.clear();
        self.log.clear();
        self.replayed = None;
        self.last_commit = self.now;
        self.disk_changed = false;
        self.pending_dropped = false;
    }

    /// Whether `ino` has a metadata change on the device view since `reference`: its size,
    /// extent map (an allocation, a copy on write, a clone), inline data, attributes, model
    /// tags, name or existence. Overwriting allocated blocks in place is no metadata change
    /// — the fsync of a file that only did that forces no log on XFS (measured, D4). This is
    /// what decides whether an `fsync` has anything to do.
    fn changed_since(&self, reference: &Image, ino: Ino) -> bool {
        metadata_differs(&self.disk, reference, ino)
    }

    /// Whether the metadata log holds a change of `ino` not yet forced: its state on the
    /// device view or after any logged change differs from the forced one (a change undone
    /// later — an allocation at writeback then a punch — is still a log item). When logged
    /// states were dropped ([`Journal::max_pending`], [`SNAPSHOT_EXTENT_LIMIT`]) the log
    /// cannot tell, and is taken to hold one.
    fn in_unforced_log(&self, ino: Ino) -> bool {
        self.changed_since(&self.durable, ino)
            || self.pending_dropped
            || self
                .pending
                .iter()
                .any(|p| metadata_differs(p, &self.durable, ino))
    }

    /// `fsync` of `ino` returned, its data already written back. A metadata log is forced
    /// as a whole — but only when `ino` itself has a change not yet forced (XFS, ext4: the
    /// fsync of a clean file forces nothing, measured D4). btrfs writes `ino` to the log
    /// tree when it changed since the commit or since its last log item (D2).
    pub fn fsynced(&mut self, ino: Ino) {
        match self.rule {
            Atomicity::Volatile => {}
            Atomicity::MetadataLog => {
                if self.in_unforced_log(ino) {
                    self.make_durable();
                } else {
                    // Nothing to log, but data may have been written in place by a
                    // metadata change (the zeroed part of a block a punch or truncate cut):
                    // the kernel wrote it to the page cache, and fsync writes it back.
                    self.written_back_in_place(ino);
                }
            }
            Atomicity::Transaction => {
                if crate::bugs::planted(crate::bugs::Bug::FsyncNotDurable) {
                    return;
                }
                // Nothing to log when the inode is as its last log item (or the commit)
                // has it, and as the newest fsync found it (which may have been a full
                // commit, D5).
                let own = self
                    .log
                    .iter()
                    .rev()
                    .find(|(i, _)| *i == ino)
                    .map_or(&self.durable, |(_, img)| img);
                let newest = self.log.last().map_or(&self.durable, |(_, img)| img);
                if !self.changed_since(own, ino) && !self.changed_since(newest, ino) {
                    return;
                }
                if self.log.len() >= MAX_LOG_ITEMS
                    || snapshot_size(&self.disk) > SNAPSHOT_EXTENT_LIMIT
                {
                    // A log item is a whole image here: past these bounds, commit the
                    // transaction instead (btrfs falls back to a full commit at times, D5),
                    // so that a long run of fsyncs keeps one image, not one per fsync.
                    self.make_durable();
                    return;
                }
                let snap = self.snapshot_disk();
                self.log.push((ino, snap));
                self.replayed = None;
            }
        }
    }

    /// `sync`/`syncfs`, everything already written back: a full commit.
    pub fn synced(&mut self) {
        if self.keeps_disk() {
            self.make_durable();
        }
    }

    /// btrfs: the committed image with the log tree replayed, cached until either changes.
    /// Each log item carries its inode whole; it also carries the name (or the unlink) of
    /// every inode created in this transaction and logged earlier — btrfs logs a rename or
    /// unlink of such an inode, and the next fsync of any file writes it; an inode that is
    /// in the committed tree keeps its committed name (measured, D3).
    ///
    /// Also, when btrfs had to fall back to a full transaction commit at one of the fsyncs
    /// (measured D5: a new block group on a small filesystem), the device view as it was
    /// then with the later log items replayed onto it (for the last `max_pending` fsyncs).
    /// Numbered, and cached until the log or the commit changes.
    fn replay(&mut self) -> Vec<Image> {
        if let Some(states) = &self.replayed {
            return states.clone();
        }
        let mut states = vec![replay_log(&self.durable, &self.log)];
        let from = self.log.len().saturating_sub(self.max_pending.max(1));
        for j in from..self.log.len() {
            states.push(replay_log(&self.log[j].1, &self.log[j + 1..]));
        }
        if !self.log.is_empty() {
            for img in &mut states {
                self.last_snapshot += 1;
                img.snapshot = Some(self.last_snapshot);
            }
        }
        self.replayed = Some(states.clone());
        states
    }

    /// Every image a crash now may recover to, least durable first, after mount-time
    /// recovery (orphans evicted, the page cache empty). Media errors and the injected
    /// allocation-failure plan are properties of the device (and the test) and carry over
    /// from `live`.
    pub fn states(&mut self, live: &Image) -> Vec<Image> {
        let raw: Vec<Image> = match self.rule {
            // The empty filesystem it was made as (numbered, so checked once).
            Atomicity::Volatile => vec![self.durable.clone()],
            Atomicity::Transaction => self.replay(),
            Atomicity::MetadataLog => {
                let mut v: Vec<Image> = std::iter::once(&self.durable)
                    .chain(self.pending.iter())
                    .cloned()
                    .collect();
                if self.pending.is_empty() && self.disk_changed {
                    let newest = self.snapshot_disk();
                    v.push(newest);
                }
                v
            }
        };
        raw.into_iter()
            .map(|mut img| {
                // Planted bugs (vfs::bugs): recovery keeps orphans; states hold garbage.
                if !crate::bugs::planted(crate::bugs::Bug::OrphansSurviveCrash) {
                    img.evict_orphans();
                }
                img.drop_page_cache();
                if crate::bugs::planted(crate::bugs::Bug::CrashStateGarbage) {
                    crate::bugs::garble(&mut img);
                }
                // The device's bad blocks, numbered as the device view numbers them (the
                // live image may have placed page-cache data elsewhere).
                img.bad = if self.keeps_disk() {
                    self.disk.bad.clone()
                } else {
                    live.bad.clone()
                };
                // So is an injected allocation-failure plan: a crash must neither bring back
                // a fault that already fired nor drop one armed since the last commit.
                (img.alloc.calls, img.alloc.fail_at_call) =
                    (live.alloc.calls, live.alloc.fail_at_call);
                img
            })
            .collect()
    }

    /// Crashes to permitted state `pick` (index into [`Journal::states`], clamped), which then
    /// is the device view and the durable state.
    pub fn crash(&mut self, live: &Image, pick: usize) -> Image {
        let mut states = self.states(live);
        let pick = pick.min(states.len() - 1);
        let mut img = states.swap_remove(pick);
        img.snapshot = None;
        if self.keeps_disk() {
            self.disk = img.clone();
            self.disk.alloc.fail_at_call = None;
        }
        self.dirty.clear();
        self.pending.clear();
        self.log.clear();
        self.replayed = None;
        self.durable = self.snapshot_disk();
        self.last_commit = self.now;
        self.disk_changed = false;
        self.pending_dropped = false;
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Data;
    use crate::extent::{FileKind, Overwrite, ROOT_INO};

    fn journal(img: &Image, rule: Atomicity) -> Journal {
        Journal::new(img, rule, Timers::linux(30 * SEC))
    }

    #[test]
    fn dirty_ranges_merge_and_clip() {
        let mut d = Dirty::default();
        d.add(0, 10);
        d.add(20, 30);
        d.add(10, 20);
        assert_eq!(d.ranges.iter().collect::<Vec<_>>(), vec![(&0, &30)]);
        d.add(40, 50);
        d.clip(45);
        assert_eq!(
            d.ranges.iter().map(|(&a, &b)| (a, b)).collect::<Vec<_>>(),
            vec![(0, 30), (40, 45)]
        );
        d.clip(20);
        assert_eq!(
            d.ranges.iter().map(|(&a, &b)| (a, b)).collect::<Vec<_>>(),
            vec![(0, 20)]
        );
        d.add(5, 20);
        d.add(20, 24);
        assert_eq!(
            d.ranges.iter().map(|(&a, &b)| (a, b)).collect::<Vec<_>>(),
            vec![(0, 24)],
            "inside, then extending: one range"
        );
        d.clip(20);
        d.remove(5, 8);
        assert_eq!(
            d.ranges.iter().map(|(&a, &b)| (a, b)).collect::<Vec<_>>(),
            vec![(0, 5), (8, 20)]
        );
        d.remove(0, 100);
        assert!(d.ranges.is_empty());
    }

    #[test]
    fn flusher_writes_back_at_its_wakeup_after_expiry() {
        let img = Image::new(4096, 64);
        let mut j = journal(&img, Atomicity::MetadataLog);
        j.advance(SEC);
        j.dirtied(7, 0, 4096);
        assert!(j.advance(30 * SEC).is_empty(), "dirtied at 1 s: 29 s old");
        assert!(
            j.advance(34 * SEC).is_empty(),
            "expired at 31 s, flusher wakes at 35 s"
        );
        assert_eq!(j.advance(35 * SEC), vec![7]);
    }

    #[test]
    fn metadata_log_keeps_forced_state_and_prefixes() {
        let mut live = Image::new(4096, 64);
        let mut j = journal(&live, Atomicity::MetadataLog);
        let a = live.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        j.disk_mut()
            .create(ROOT_INO, "a", FileKind::Regular)
            .unwrap();
        j.logged();
        live.write(a, 0, &Data::fill(1, 10), Overwrite::InPlace)
            .unwrap();
        j.dirtied(a, 0, 10);
        let states = j.states(&live);
        assert_eq!(states.len(), 2, "nothing, or the create");
        assert!(states[0].lookup(ROOT_INO, "a").is_err());
        assert_eq!(
            states[1].inode(a).unwrap().size,
            0,
            "data only in the page cache"
        );
        for s in &states {
            assert!(s.fsck().is_empty());
        }
        j.fsynced(a);
        assert_eq!(j.states(&live).len(), 1);
    }

    #[test]
    fn volatile_keeps_nothing() {
        let mut live = Image::new(4096, 64);
        let mut j = journal(&live, Atomicity::Volatile);
        live.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        j.synced();
        let states = j.states(&live);
        assert_eq!(states.len(), 1);
        assert!(states[0].lookup(ROOT_INO, "a").is_err());
    }

    #[test]
    fn regression_a_run_of_btrfs_fsyncs_keeps_a_bounded_log() {
        // Issue 17: every fsync with a change kept a whole image as a log item until the
        // next commit: 16 K fsyncs of an nfs-like copy cost 9 GB. Past MAX_LOG_ITEMS the
        // fsync commits instead, and the log starts again.
        let live = Image::new(4096, 1024);
        let mut j = journal(&live, Atomicity::Transaction);
        let a = j
            .disk_mut()
            .create(ROOT_INO, "a", FileKind::Regular)
            .unwrap();
        for i in 0..(MAX_LOG_ITEMS as u64 + 10) {
            j.disk_mut()
                .set_size_with(a, i + 1, Overwrite::InPlace, false)
                .unwrap();
            j.fsynced(a);
            assert!(j.log.len() <= MAX_LOG_ITEMS, "after {i} fsyncs");
        }
        assert!(
            j.log.len() < 20,
            "a commit emptied the log: {}",
            j.log.len()
        );
        assert_eq!(j.durable.inode(a).unwrap().size, MAX_LOG_ITEMS as u64 + 1);
    }
}
