//! The table of physical extents: a slab whose copies share their storage.
//!
//! An [`crate::extent::Image`] is copied for every journal snapshot (fsync, commit, log
//! item), and a copy of a plain slab is O(physical extents): an nfs-like COPY that the
//! client COMMITs made every 4 MiB step of a 1 TiB copy cost time in proportion to the
//! extents already copied (issue 17: `tour --size 1t --fs nfs-like` ran for minutes). The
//! table keeps its slots in a persistent vector (`imbl::Vector`, a chunked RRB tree), so a
//! copy is O(1) and a change copies only the chunk it touches; lookups stay a short tree
//! walk.
//!
//! Keys behave as `slab`'s do: a removed key is reused by the next insert, the most
//! recently freed first, so the keys a workload sees are the same as with a slab.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

use imbl::Vector;

use crate::extent::{PhysExtent, PhysKey};

/// Physical extents by key; cheap to copy (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct PhysTable {
    slots: Vector<Option<Arc<PhysExtent>>>,
    /// Vacant slots, the most recently freed last.
    free: Vector<PhysKey>,
    len: usize,
}

impl PhysTable {
    /// An empty table.
    pub fn new() -> PhysTable {
        PhysTable::default()
    }

    /// Extents in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no extent.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `e` and returns its key: the most recently freed one, or a new one.
    pub fn insert(&mut self, e: Arc<PhysExtent>) -> PhysKey {
        self.len += 1;
        match self.free.pop_back() {
            Some(key) => {
                self.slots.set(key, Some(e));
                key
            }
            None => {
                self.slots.push_back(Some(e));
                self.slots.len() - 1
            }
        }
    }

    /// Removes and returns the extent at `key`.
    ///
    /// # Panics
    /// When `key` holds no extent (an engine bug, as with `slab::Slab::remove`).
    pub fn remove(&mut self, key: PhysKey) -> Arc<PhysExtent> {
        let e = self
            .slots
            .get_mut(key)
            .and_then(Option::take)
            .expect("removing a vacant physical-extent key");
        self.free.push_back(key);
        self.len -= 1;
        e
    }

    /// The extent at `key`, if any.
    pub fn get(&self, key: PhysKey) -> Option<&Arc<PhysExtent>> {
        self.slots.get(key).and_then(Option::as_ref)
    }

    /// The extent at `key`, if any, for changing (copies the chunk a copy still shares).
    pub fn get_mut(&mut self, key: PhysKey) -> Option<&mut Arc<PhysExtent>> {
        self.slots.get_mut(key).and_then(Option::as_mut)
    }

    /// Calls `f` on the extent at each of `keys`, for changing it, in one pass that keeps
    /// its place in the vector between nearby keys (`imbl`'s `focus_mut`): the many
    /// reference-count updates of a clone cost a short step each, not a walk from the root.
    ///
    /// # Panics
    /// When a key holds no extent (an engine bug).
    pub fn update_each(
        &mut self,
        keys: impl IntoIterator<Item = PhysKey>,
        mut f: impl FnMut(&mut Arc<PhysExtent>),
    ) {
        let mut focus = self.slots.focus_mut();
        for key in keys {
            let e = focus
                .get_mut(key)
                .and_then(Option::as_mut)
                .expect("updating a vacant physical-extent key");
            f(e);
        }
    }

    /// Every extent with its key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (PhysKey, &Arc<PhysExtent>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, e)| e.as_ref().map(|e| (k, e)))
    }

    /// Every extent with its key, in key order, for changing.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (PhysKey, &mut Arc<PhysExtent>)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(k, e)| e.as_mut().map(|e| (k, e)))
    }
}

impl Index<PhysKey> for PhysTable {
    type Output = Arc<PhysExtent>;

    fn index(&self, key: PhysKey) -> &Arc<PhysExtent> {
        self.get(key).expect("no physical extent at this key")
    }
}

impl IndexMut<PhysKey> for PhysTable {
    fn index_mut(&mut self, key: PhysKey) -> &mut Arc<PhysExtent> {
        self.get_mut(key).expect("no physical extent at this key")
    }
}

impl<'a> IntoIterator for &'a PhysTable {
    type Item = (PhysKey, &'a Arc<PhysExtent>);
    type IntoIter = Box<dyn Iterator<Item = Self::Item> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backrefs::Backrefs;
    use crate::data::Data;

    fn extent(start: u64) -> Arc<PhysExtent> {
        Arc::new(PhysExtent {
            start,
            len: 1,
            data: Data::zero(0),
            backrefs: Backrefs::default(),
            origin: (start, 0),
        })
    }

    #[test]
    fn keys_are_reused_most_recently_freed_first_as_in_a_slab() {
        let mut t = PhysTable::new();
        assert!(t.is_empty());
        let keys: Vec<PhysKey> = (0..4).map(|i| t.insert(extent(i))).collect();
        assert_eq!(keys, [0, 1, 2, 3]);
        assert!(!t.is_empty());
        t.remove(1);
        t.remove(2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.insert(extent(9)), 2, "the last freed key first");
        assert_eq!(t.insert(extent(9)), 1);
        assert_eq!(t.insert(extent(9)), 4, "then a new one");
        assert_eq!(
            t.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn iter_mut_and_update_each_reach_every_extent_they_name() {
        let mut t = PhysTable::new();
        for i in 0..3 {
            t.insert(extent(i));
        }
        t.remove(1);
        for (_, e) in t.iter_mut() {
            Arc::make_mut(e).len += 10;
        }
        assert_eq!(
            t.iter().map(|(k, e)| (k, e.len)).collect::<Vec<_>>(),
            [(0, 11), (2, 11)]
        );
        t.update_each([2, 0, 2], |e| Arc::make_mut(e).len += 1);
        assert_eq!(
            t.iter().map(|(k, e)| (k, e.len)).collect::<Vec<_>>(),
            [(0, 12), (2, 13)]
        );
    }

    #[test]
    fn a_copy_is_independent_of_later_changes() {
        let mut t = PhysTable::new();
        let k = t.insert(extent(1));
        let snapshot = t.clone();
        Arc::make_mut(&mut t[k]).start = 7;
        t.remove(k);
        assert!(t.get(k).is_none() && t.is_empty());
        assert_eq!(snapshot[k].start, 1);
        assert_eq!(snapshot.len(), 1);
    }
}
