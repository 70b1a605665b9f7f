//! Free-space allocation in blocks.
//!
//! A first-fit allocator over a map of free runs. Allocation is all-or-nothing: a request
//! either gets every block it asked for (possibly in several runs) or fails with `ENOSPC`
//! and changes nothing. A fault plan can make the Nth allocation fail.
//!
//! First fit is the placement rule (design assumption A10): the first free run, in address
//! order from the hint and then wrapping round to block 0, that is long enough. The free runs
//! are kept twice: in a map by start (neighbour merging, log replay, listing) and in a
//! `FitIndex`, a treap by start whose nodes know the longest run in their subtree, so the
//! first fit is found in O(log n) in the number of free runs instead of by a scan.
//!
//! Both are persistent (`imbl`): every journal snapshot holds a copy of the allocator, and
//! a copy must not cost O(free runs) — a byte copy in small unaligned steps leaves
//! thousands of them, and a COPY that the nfs-like client COMMITs snapshots once per step.

use std::sync::Arc;

use imbl::OrdMap;

use crate::errno::{Errno, KResult};

/// A run of physical blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Run {
    pub start: u64,
    pub len: u64,
}

/// Free space of one filesystem, in blocks.
#[derive(Clone, Debug)]
pub struct Allocator {
    capacity: u64,
    free: OrdMap<u64, u64>,
    free_blocks: u64,
    /// The same runs as `free`, indexed for the first-fit search.
    index: FitIndex,
    /// Allocation calls made so far (successful or not).
    pub calls: u64,
    /// Fault: the allocation call with this number (1-based) fails with `ENOSPC`.
    pub fail_at_call: Option<u64>,
}

impl Allocator {
    /// All `capacity` blocks free.
    pub fn new(capacity: u64) -> Allocator {
        let mut free = OrdMap::new();
        let mut index = FitIndex::default();
        if capacity > 0 {
            free.insert(0, capacity);
            index.insert(0, capacity);
        }
        Allocator {
            capacity,
            free,
            free_blocks: capacity,
            index,
            calls: 0,
            fail_at_call: None,
        }
    }

    /// Total blocks.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Free blocks.
    pub fn free_blocks(&self) -> u64 {
        self.free_blocks
    }

    /// The free runs, in address order.
    pub fn free_runs(&self) -> impl Iterator<Item = Run> + '_ {
        self.free.iter().map(|(&start, &len)| Run { start, len })
    }

    /// Allocates `n` blocks, preferring one contiguous run near `hint`.
    ///
    /// # Errors
    /// `ENOSPC` when fewer than `n` blocks are free or the fault plan fails this call; nothing
    /// is allocated then.
    pub fn alloc(&mut self, n: u64, hint: u64) -> KResult<Vec<Run>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        self.calls += 1;
        if self.fail_at_call == Some(self.calls) {
            self.fail_at_call = None;
            return Err(Errno::ENOSPC);
        }
        if self.free_blocks < n {
            return Err(Errno::ENOSPC);
        }
        // One run big enough, at or after the hint, else anywhere; else gather pieces.
        let pick = self
            .index
            .first_fit(hint, n)
            .or_else(|| self.index.first_fit(0, n));
        let mut runs = Vec::new();
        if let Some(start) = pick {
            self.take(start, n);
            runs.push(Run { start, len: n });
        } else {
            let mut left = n;
            while left > 0 {
                let (&start, &len) = self.free.iter().next().expect("free_blocks says enough");
                let take = len.min(left);
                self.take(start, take);
                runs.push(Run { start, len: take });
                left -= take;
            }
        }
        Ok(runs)
    }

    /// Search steps (index nodes visited) the first-fit searches have taken so far: the
    /// measure of the allocator's work that tests bound (O(log n) per allocation).
    pub fn search_steps(&self) -> u64 {
        self.index.steps.get()
    }

    fn insert_run(&mut self, start: u64, len: u64) {
        self.free.insert(start, len);
        self.index.insert(start, len);
    }

    fn remove_run(&mut self, start: u64) -> Option<u64> {
        let len = self.free.remove(&start)?;
        self.index.remove(start);
        Some(len)
    }

    fn take(&mut self, start: u64, n: u64) {
        let len = self.remove_run(start).expect("taking a free run");
        if len > n {
            self.insert_run(start + n, len - n);
        }
        self.free_blocks -= n;
    }

    /// Takes exactly `[start, start + n)` if all of it is free, for log replay, which puts a
    /// logged extent back where the device holds it. Not an allocation call: the fault plan
    /// does not count it.
    pub fn take_exact(&mut self, start: u64, n: u64) -> bool {
        let Some((&s, &l)) = self.free.range(..=start).next_back() else {
            return false;
        };
        if n == 0 || s + l < start.saturating_add(n) {
            return false;
        }
        self.remove_run(s);
        if start > s {
            self.insert_run(s, start - s);
        }
        if s + l > start + n {
            self.insert_run(start + n, s + l - start - n);
        }
        self.free_blocks -= n;
        true
    }

    /// Returns a run to free space, merging with its neighbours.
    pub fn free(&mut self, run: Run) {
        debug_assert!(run.len > 0 && run.start + run.len <= self.capacity);
        let mut start = run.start;
        let mut len = run.len;
        if let Some((&ps, &pl)) = self.free.range(..start).next_back()
            && ps + pl == start
        {
            self.remove_run(ps);
            start = ps;
            len += pl;
        }
        if let Some(nl) = self.remove_run(run.start + run.len) {
            len += nl;
        }
        self.insert_run(start, len);
        self.free_blocks += run.len;
    }
}

/// One free run in the [`FitIndex`] treap. Children are shared between copies of the
/// index ([`Arc`]): a change copies the nodes on its path (`Arc::make_mut`) and shares the
/// rest, so a copy of the whole index is O(1).
#[derive(Clone, Debug)]
struct Node {
    start: u64,
    len: u64,
    /// The longest run in this node's subtree.
    max: u64,
    prio: u64,
    left: Tree,
    right: Tree,
}

type Tree = Option<Arc<Node>>;

/// The free runs as a treap by start address, each node augmented with the longest run in
/// its subtree: "the first run at or after `from` with at least `n` blocks" descends one
/// path, skipping every subtree too short, in O(log n) expected steps. Priorities are a
/// hash of the start, so the shape (and every figure derived from it) is deterministic.
/// Persistent: nodes are shared between copies and copied on the path a change takes.
#[derive(Clone, Debug, Default)]
struct FitIndex {
    root: Tree,
    /// Nodes visited by [`FitIndex::first_fit`] (a counter for tests, not state).
    steps: std::cell::Cell<u64>,
}

fn priority(start: u64) -> u64 {
    // splitmix64's finaliser: a fixed, well-mixed priority per start address.
    let mut z = start.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn max_of(t: &Tree) -> u64 {
    t.as_ref().map_or(0, |n| n.max)
}

/// `t` with its left and right subtrees replaced, its `max` recomputed.
fn rebuild(mut t: Arc<Node>, left: Tree, right: Tree) -> Tree {
    let n = Arc::make_mut(&mut t);
    n.max = n.len.max(max_of(&left)).max(max_of(&right));
    n.left = left;
    n.right = right;
    Some(t)
}

/// Splits `t` into (starts < `key`, starts ≥ `key`).
fn split(t: Tree, key: u64) -> (Tree, Tree) {
    let Some(mut node) = t else {
        return (None, None);
    };
    let n = Arc::make_mut(&mut node);
    let (left, right) = (n.left.take(), n.right.take());
    if n.start < key {
        let (a, b) = split(right, key);
        (rebuild(node, left, a), b)
    } else {
        let (a, b) = split(left, key);
        (a, rebuild(node, b, right))
    }
}

/// Joins two treaps, every start of `a` below every start of `b`.
fn merge(a: Tree, b: Tree) -> Tree {
    match (a, b) {
        (None, t) | (t, None) => t,
        (Some(mut x), Some(mut y)) => {
            if x.prio > y.prio {
                let n = Arc::make_mut(&mut x);
                let (l, r) = (n.left.take(), n.right.take());
                let m = merge(r, Some(y));
                rebuild(x, l, m)
            } else {
                let n = Arc::make_mut(&mut y);
                let (l, r) = (n.left.take(), n.right.take());
                let m = merge(Some(x), l);
                rebuild(y, m, r)
            }
        }
    }
}

impl FitIndex {
    fn insert(&mut self, start: u64, len: u64) {
        let node = Arc::new(Node {
            start,
            len,
            max: len,
            prio: priority(start),
            left: None,
            right: None,
        });
        let (a, b) = split(self.root.take(), start);
        self.root = merge(merge(a, Some(node)), b);
    }

    fn remove(&mut self, start: u64) {
        let (a, b) = split(self.root.take(), start);
        let (m, c) = split(b, start + 1);
        debug_assert!(m.is_some(), "removing a run the index holds");
        self.root = merge(a, c);
    }

    /// The start of the first run (by address) at or after `from` with at least `n` blocks.
    fn first_fit(&self, from: u64, n: u64) -> Option<u64> {
        self.find(&self.root, from, n)
    }

    fn find(&self, t: &Tree, from: u64, n: u64) -> Option<u64> {
        let node = t.as_ref().filter(|node| node.max >= n)?;
        self.steps.set(self.steps.get() + 1);
        if node.start < from {
            return self.find(&node.right, from, n);
        }
        if let Some(s) = self.find(&node.left, from, n) {
            return Some(s);
        }
        if node.len >= n {
            return Some(node.start);
        }
        self.find(&node.right, from, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_merge() {
        let mut a = Allocator::new(10);
        let r1 = a.alloc(4, 0).unwrap();
        let r2 = a.alloc(4, 0).unwrap();
        assert_eq!(a.free_blocks(), 2);
        assert_eq!(a.alloc(3, 0), Err(Errno::ENOSPC));
        assert_eq!(a.free_blocks(), 2, "a failed allocation changes nothing");
        a.free(r1[0]);
        let r3 = a.alloc(6, 0).unwrap();
        assert_eq!(r3.len(), 2, "fragmented allocation gathers pieces");
        a.free(r2[0]);
        for r in r3 {
            a.free(r);
        }
        assert_eq!(
            a.free_runs().collect::<Vec<_>>(),
            vec![Run { start: 0, len: 10 }]
        );
    }

    /// The placement rule as it was written before the index: a scan of every free run.
    fn first_fit_by_scan(a: &Allocator, n: u64, hint: u64) -> Option<u64> {
        a.free
            .range(hint..)
            .chain(a.free.range(..hint))
            .find(|&(_, &len)| len >= n)
            .map(|(&s, _)| s)
    }

    #[test]
    fn index_places_exactly_as_the_first_fit_scan() {
        // A seeded mix of allocations and frees with hints: every allocation lands where
        // the old scan over all free runs would have put it.
        let mut a = Allocator::new(4096);
        let mut live: Vec<Run> = Vec::new();
        let mut x: u64 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let r = next();
            if r % 3 != 0 || live.is_empty() {
                let n = 1 + next() % 40;
                let hint = next() % 4096;
                let expect = first_fit_by_scan(&a, n, hint);
                match a.alloc(n, hint) {
                    Ok(runs) => {
                        if let Some(start) = expect {
                            assert_eq!(runs, vec![Run { start, len: n }]);
                        } else {
                            assert!(runs.len() > 1, "gathered pieces");
                        }
                        live.extend(runs);
                    }
                    Err(e) => {
                        assert_eq!(e, Errno::ENOSPC);
                        assert!(a.free_blocks() < n);
                    }
                }
            } else {
                let i = (next() % live.len() as u64) as usize;
                a.free(live.swap_remove(i));
            }
            let runs: Vec<Run> = a.free_runs().collect();
            assert_eq!(runs.iter().map(|r| r.len).sum::<u64>(), a.free_blocks());
        }
    }

    #[test]
    fn regression_first_fit_is_logarithmic_in_free_runs() {
        // 100,000 one-block holes below one big free run: a 2-block request used to scan
        // every hole (issue 17: a byte copy to an unaligned offset was quadratic).
        let holes = 100_000;
        let mut a = Allocator::new(2 * holes + 1_000_000);
        let all = a.alloc(2 * holes, 0).unwrap();
        assert_eq!(all.len(), 1);
        for i in 0..holes {
            a.free(Run {
                start: 2 * i,
                len: 1,
            });
        }
        assert_eq!(a.free_runs().count() as u64, holes + 1);
        let before = a.search_steps();
        for _ in 0..1000 {
            let runs = a.alloc(2, 0).unwrap();
            assert_eq!(runs.len(), 1);
            assert!(runs[0].start >= 2 * holes, "no hole of one block fits");
        }
        let per_alloc = (a.search_steps() - before) / 1000;
        assert!(per_alloc > 0, "the search steps are counted");
        // A treap of 10^5 nodes is ~40 levels deep at worst in practice; a scan is 10^5.
        assert!(per_alloc <= 200, "{per_alloc} search steps per allocation");
    }

    #[test]
    fn planned_failure_hits_exactly_one_call() {
        let mut a = Allocator::new(10);
        a.fail_at_call = Some(2);
        assert!(a.alloc(1, 0).is_ok());
        assert_eq!(a.alloc(1, 0), Err(Errno::ENOSPC));
        assert!(a.alloc(1, 0).is_ok());
    }
}
