//! Durable versus volatile state, and the crash states a model permits.
//!
//! A [`Journal`] keeps the durable image (what a crash now would certainly keep) and, for
//! models whose operations are individually atomic, the image after each operation since
//! then. A crash picks one permitted state; [`Journal::states`] lists them all for
//! crash-state enumeration (spec §6.9).

use std::collections::VecDeque;

use crate::extent::Image;

/// What a crash may leave behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Atomicity {
    /// Everything since the last commit is one transaction: a crash keeps exactly the last
    /// committed image (btrfs-like).
    Transaction,
    /// Each operation is journaled on its own: a crash keeps the committed image plus any
    /// prefix of the operations since (ocfs2-like, plain/ext4-like ordered journaling).
    PerOperation,
}

/// Per-operation journaling keeps a snapshot per operation only while the image has at most
/// this many physical extents. Past it the journal commits synchronously (every operation is
/// durable when it returns — a permitted per-operation outcome, like a `sync` mount), so long
/// runs on big images do not pay a snapshot per operation.
pub const SNAPSHOT_EXTENT_LIMIT: usize = 4096;

/// The durable image and the images a crash may recover to.
#[derive(Clone, Debug)]
pub struct Journal {
    rule: Atomicity,
    /// `None`: synchronous mode, the durable image is the live one.
    durable: Option<Image>,
    /// Image after each operation since the last commit (per-operation atomicity only).
    pending: VecDeque<Image>,
    /// Per-operation models: beyond this many pending operations the oldest is checkpointed
    /// (becomes durable), as a journal commits on its own timer.
    pub max_pending: usize,
    /// Operations since the last commit.
    ops_since_commit: u64,
    /// The number of the last snapshot taken ([`Image::snapshot`]).
    last_snapshot: u64,
}

impl Journal {
    /// A journal whose durable state is `image`.
    pub fn new(image: &Image, rule: Atomicity) -> Journal {
        let mut journal = Journal {
            rule,
            durable: None,
            pending: VecDeque::new(),
            max_pending: 16,
            ops_since_commit: 0,
            last_snapshot: 0,
        };
        journal.durable = Some(journal.snapshot(image));
        journal
    }

    /// A numbered copy of `live`.
    fn snapshot(&mut self, live: &Image) -> Image {
        self.last_snapshot += 1;
        let mut img = live.clone();
        img.snapshot = Some(self.last_snapshot);
        img
    }

    /// The atomicity rule.
    pub fn rule(&self) -> Atomicity {
        self.rule
    }

    /// Records that a modifying operation finished, leaving `live`.
    pub fn op_done(&mut self, live: &Image) {
        self.ops_since_commit += 1;
        if self.rule == Atomicity::PerOperation {
            if live.phys.len() + live.inodes.len() > SNAPSHOT_EXTENT_LIMIT {
                self.durable = None;
                self.pending.clear();
                return;
            }
            if self.durable.is_none() {
                self.durable = Some(self.snapshot(live));
                return;
            }
            let snap = self.snapshot(live);
            self.pending.push_back(snap);
            while self.pending.len() > self.max_pending {
                self.durable = self.pending.pop_front();
            }
        }
    }

    /// Whether the journal is committing synchronously (see [`SNAPSHOT_EXTENT_LIMIT`]).
    pub fn synchronous(&self) -> bool {
        self.durable.is_none()
    }

    /// `fsync`/`sync`/transaction commit: `live` becomes durable.
    pub fn commit(&mut self, live: &Image) {
        // Planted bug (vfs::bugs): nothing becomes durable.
        if crate::bugs::planted(crate::bugs::Bug::FsyncNotDurable) {
            return;
        }
        self.durable = (self.rule == Atomicity::Transaction
            || live.phys.len() + live.inodes.len() <= SNAPSHOT_EXTENT_LIMIT)
            .then(|| self.snapshot(live));
        self.pending.clear();
        self.ops_since_commit = 0;
    }

    /// Operations not yet known durable.
    pub fn ops_since_commit(&self) -> u64 {
        self.ops_since_commit
    }

    /// Every image a crash now may recover to, oldest first, after mount-time recovery
    /// (orphans evicted). Media errors and the injected allocation-failure plan are
    /// properties of the device (and the test) and carry over from `live`.
    pub fn states(&self, live: &Image) -> Vec<Image> {
        std::iter::once(self.durable.as_ref().unwrap_or(live))
            .chain(self.pending.iter())
            .map(|img| {
                let mut img = img.clone();
                // Planted bugs (vfs::bugs): recovery keeps orphans; states hold garbage.
                if !crate::bugs::planted(crate::bugs::Bug::OrphansSurviveCrash) {
                    img.evict_orphans();
                }
                if crate::bugs::planted(crate::bugs::Bug::CrashStateGarbage) {
                    crate::bugs::garble(&mut img);
                }
                img.bad = live.bad.clone();
                // So is an injected allocation-failure plan: a crash must neither bring back
                // a fault that already fired nor drop one armed since the last commit.
                (img.alloc.calls, img.alloc.fail_at_call) =
                    (live.alloc.calls, live.alloc.fail_at_call);
                img
            })
            .collect()
    }

    /// Crashes to permitted state `pick` (index into [`Journal::states`], clamped), which then
    /// becomes the durable state too.
    pub fn crash(&mut self, live: &Image, pick: usize) -> Image {
        let mut states = self.states(live);
        let pick = pick.min(states.len() - 1);
        let mut img = states.swap_remove(pick);
        img.snapshot = None;
        self.commit(&img);
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Data;
    use crate::extent::{FileKind, Overwrite, ROOT_INO};

    #[test]
    fn big_images_commit_synchronously() {
        let mut img = Image::new(4096, 1 << 20);
        let a = img.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        let mut j = Journal::new(&img, Atomicity::PerOperation);
        // Every other block written: one extent each.
        for b in 0..(SNAPSHOT_EXTENT_LIMIT as u64 + 1) {
            img.write(a, 2 * b * 4096, &Data::fill(1, 4096), Overwrite::InPlace)
                .unwrap();
        }
        j.op_done(&img);
        assert!(j.synchronous());
        let states = j.states(&img);
        assert_eq!(states.len(), 1, "only the live image survives");
        assert_eq!(states[0].inode(a).unwrap().size, img.inode(a).unwrap().size);
        img.set_size(a, 4096, Overwrite::InPlace).unwrap();
        j.commit(&img);
        assert!(
            !j.synchronous(),
            "small again: snapshots resume at the next commit"
        );
    }

    #[test]
    fn transaction_keeps_only_committed_and_per_op_keeps_prefixes() {
        let mut img = Image::new(4096, 16);
        for rule in [Atomicity::Transaction, Atomicity::PerOperation] {
            let mut j = Journal::new(&img, rule);
            let a = img
                .create(ROOT_INO, &format!("{rule:?}"), FileKind::Regular)
                .unwrap();
            j.op_done(&img);
            img.write(a, 0, &Data::fill(1, 10), Overwrite::CowAlways)
                .unwrap();
            j.op_done(&img);
            let n = j.states(&img).len();
            assert_eq!(n, if rule == Atomicity::Transaction { 1 } else { 3 });
            for s in j.states(&img) {
                assert!(s.fsck().is_empty());
            }
            j.commit(&img);
            assert_eq!(j.states(&img).len(), 1);
        }
    }
}
