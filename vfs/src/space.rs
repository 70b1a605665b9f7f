//! Free-space allocation in blocks.
//!
//! A first-fit allocator over a map of free runs. Allocation is all-or-nothing: a request
//! either gets every block it asked for (possibly in several runs) or fails with `ENOSPC`
//! and changes nothing. A fault plan can make the Nth allocation fail.

use std::collections::BTreeMap;

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
    free: BTreeMap<u64, u64>,
    free_blocks: u64,
    /// Allocation calls made so far (successful or not).
    pub calls: u64,
    /// Fault: the allocation call with this number (1-based) fails with `ENOSPC`.
    pub fail_at_call: Option<u64>,
}

impl Allocator {
    /// All `capacity` blocks free.
    pub fn new(capacity: u64) -> Allocator {
        let mut free = BTreeMap::new();
        if capacity > 0 {
            free.insert(0, capacity);
        }
        Allocator {
            capacity,
            free,
            free_blocks: capacity,
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
            .free
            .range(hint..)
            .chain(self.free.range(..hint))
            .find(|&(_, &len)| len >= n)
            .map(|(&s, _)| s);
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

    fn take(&mut self, start: u64, n: u64) {
        let len = self.free.remove(&start).expect("taking a free run");
        if len > n {
            self.free.insert(start + n, len - n);
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
        self.free.remove(&s);
        if start > s {
            self.free.insert(s, start - s);
        }
        if s + l > start + n {
            self.free.insert(start + n, s + l - start - n);
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
            self.free.remove(&ps);
            start = ps;
            len += pl;
        }
        if let Some(&nl) = self.free.get(&(run.start + run.len)) {
            self.free.remove(&(run.start + run.len));
            len += nl;
        }
        self.free.insert(start, len);
        self.free_blocks += run.len;
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

    #[test]
    fn planned_failure_hits_exactly_one_call() {
        let mut a = Allocator::new(10);
        a.fail_at_call = Some(2);
        assert!(a.alloc(1, 0).is_ok());
        assert_eq!(a.alloc(1, 0), Err(Errno::ENOSPC));
        assert!(a.alloc(1, 0).is_ok());
    }
}
