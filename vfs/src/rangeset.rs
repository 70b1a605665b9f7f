//! A set of blocks kept as disjoint runs, in a persistent map.
//!
//! Used where a per-block set would cost memory and copying per block: an inode's record
//! of which unwritten blocks were read into the page cache
//! ([`crate::extent::InodeImage::cached_unwritten`]). Reading 1 GiB of preallocated blocks
//! is one run, not 262,144 entries, and because the runs sit in an [`imbl::OrdMap`], the
//! copy an inode makes when a snapshot still holds it is O(1), not O(runs).

use imbl::OrdMap;

/// Blocks as disjoint, non-adjacent half-open runs `start → end`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    runs: OrdMap<u64, u64>,
}

impl RangeSet {
    /// The empty set.
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// Whether no block is in the set.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The number of runs held (the set's size in memory, not in blocks).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The runs in order, as `(start, end)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.runs.iter().map(|(&s, &e)| (s, e))
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.runs.clear();
    }

    /// Adds blocks `[from, to)`, merging with runs it overlaps or touches.
    pub fn insert(&mut self, from: u64, to: u64) {
        if from >= to {
            return;
        }
        let (mut from, mut to) = (from, to);
        if let Some((&s, &e)) = self.runs.get_prev(&from)
            && e >= from
        {
            from = s;
            to = to.max(e);
        }
        while let Some((&s, &e)) = self.runs.get_next(&from) {
            if s > to {
                break;
            }
            self.runs.remove(&s);
            to = to.max(e);
        }
        self.runs.insert(from, to);
    }

    /// Removes blocks `[from, to)`, splitting runs it cuts.
    pub fn remove(&mut self, from: u64, to: u64) {
        if from >= to {
            return;
        }
        if let Some((&s, &e)) = self.runs.get_prev(&from)
            && s < from
            && e > from
        {
            self.runs.insert(s, from);
            if e > to {
                self.runs.insert(to, e);
                return;
            }
        }
        while let Some((&s, &e)) = self.runs.get_next(&from) {
            if s >= to {
                break;
            }
            self.runs.remove(&s);
            if e > to {
                self.runs.insert(to, e);
                break;
            }
        }
    }

    /// Removes every block at or after `from`.
    pub fn remove_from(&mut self, from: u64) {
        self.remove(from, u64::MAX);
    }

    /// The first block of `[from, to)` in the set.
    pub fn first_in(&self, from: u64, to: u64) -> Option<u64> {
        if from >= to {
            return None;
        }
        if let Some((_, &e)) = self.runs.get_prev(&from)
            && e > from
        {
            return Some(from);
        }
        let (&s, _) = self.runs.get_next(&from)?;
        (s < to).then_some(s)
    }

    /// The first block at or after `b` that is not in the set.
    pub fn end_of_run(&self, b: u64) -> u64 {
        match self.runs.get_prev(&b) {
            Some((_, &e)) if e > b => e,
            _ => b,
        }
    }

    /// Whether block `b` is in the set.
    pub fn contains(&self, b: u64) -> bool {
        self.end_of_run(b) > b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn matches_a_set_of_blocks() {
        let mut set = RangeSet::new();
        let mut model = BTreeSet::new();
        let mut x: u64 = 0x9e37_79b9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..5_000 {
            let a = next() % 200;
            let b = a + next() % 20;
            match next() % 4 {
                0 | 1 => {
                    set.insert(a, b);
                    model.extend(a..b);
                }
                2 => {
                    set.remove(a, b);
                    for k in a..b {
                        model.remove(&k);
                    }
                }
                _ => {
                    set.remove_from(a + 100);
                    model.retain(|&k| k < a + 100);
                }
            }
            for k in 0..230 {
                assert_eq!(set.contains(k), model.contains(&k), "block {k}");
            }
            let (f, t) = (next() % 220, next() % 220);
            assert_eq!(set.first_in(f, t), model.range(f..t.max(f)).next().copied());
            // Runs are disjoint and never touch: the representation is canonical.
            let runs: Vec<(u64, u64)> = set.iter().collect();
            assert!(runs.iter().all(|&(s, e)| s < e));
            assert!(runs.windows(2).all(|w| w[0].1 < w[1].0));
            assert_eq!(
                runs.iter().map(|(s, e)| e - s).sum::<u64>(),
                model.len() as u64
            );
        }
    }
}
