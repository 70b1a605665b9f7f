//! The back-references of one physical extent: which `(inode, first file block)` mappings
//! point at it.
//!
//! Almost every extent has one or two references (its file, and the one copy that shares
//! it), and an image holds one set per extent — two while a journal snapshot still holds the
//! old extent. So up to two references live inline in the extent, with no allocation at
//! all (sharing an extent into a second file allocates nothing for its back-reference), and
//! only an extent shared into more files gets a set — a persistent one ([`imbl::OrdSet`]):
//! an extent shared by many mappings (a block reflinked into every position of a file) is
//! copied whenever a change finds a journal snapshot still holding it, and that copy must
//! cost O(1), not O(references), or each reflink would cost the references made before it.

use imbl::OrdSet;
use imbl::shared_ptr::DefaultSharedPtr;

use crate::extent::Ino;

/// One back-reference: the inode and the file block where its mapping of the extent starts.
pub type Backref = (Ino, u64);

/// A set of [`Backref`]s, iterated in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backrefs(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    /// `refs[..len]`, sorted, without duplicates; `len <= INLINE`.
    Inline { len: u8, refs: [Backref; INLINE] },
    /// More than [`INLINE`] references at some point (it stays a set when they drop).
    Many(OrdSet<Backref>),
}

/// References kept inline.
const INLINE: usize = 2;

impl Default for Backrefs {
    fn default() -> Backrefs {
        Backrefs(Repr::Inline {
            len: 0,
            refs: [(0, 0); INLINE],
        })
    }
}

impl Backrefs {
    /// The set of one reference.
    pub fn one(r: Backref) -> Backrefs {
        Backrefs(Repr::Inline {
            len: 1,
            refs: [r, (0, 0)],
        })
    }

    /// Adds `r`; false if it was already there.
    pub fn insert(&mut self, r: Backref) -> bool {
        match &mut self.0 {
            Repr::Inline { len, refs } => {
                let n = usize::from(*len);
                match refs[..n].binary_search(&r) {
                    Ok(_) => false,
                    Err(at) if n < INLINE => {
                        refs.copy_within(at..n, at + 1);
                        refs[at] = r;
                        *len += 1;
                        true
                    }
                    Err(_) => {
                        let mut set: OrdSet<Backref> = refs[..n].iter().copied().collect();
                        set.insert(r);
                        self.0 = Repr::Many(set);
                        true
                    }
                }
            }
            Repr::Many(set) => set.insert(r).is_none(),
        }
    }

    /// Removes `r`; false if it was not there.
    pub fn remove(&mut self, r: &Backref) -> bool {
        match &mut self.0 {
            Repr::Inline { len, refs } => {
                let n = usize::from(*len);
                match refs[..n].binary_search(r) {
                    Ok(at) => {
                        refs.copy_within(at + 1..n, at);
                        *len -= 1;
                        true
                    }
                    Err(_) => false,
                }
            }
            Repr::Many(set) => set.remove(r).is_some(),
        }
    }

    /// Whether `r` is in the set.
    pub fn contains(&self, r: &Backref) -> bool {
        match &self.0 {
            Repr::Inline { len, refs } => refs[..usize::from(*len)].binary_search(r).is_ok(),
            Repr::Many(set) => set.contains(r),
        }
    }

    /// The number of references (the extent's reference count).
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Inline { len, .. } => usize::from(*len),
            Repr::Many(set) => set.len(),
        }
    }

    /// Whether no mapping references the extent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The references in order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Inline { len, refs } => Iter::Inline(refs[..usize::from(*len)].iter()),
            Repr::Many(set) => Iter::Many(set.iter()),
        }
    }
}

/// Iterator over [`Backrefs`], in order.
pub enum Iter<'a> {
    Inline(std::slice::Iter<'a, Backref>),
    Many(imbl::ordset::Iter<'a, Backref, DefaultSharedPtr>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Backref;

    fn next(&mut self) -> Option<&'a Backref> {
        match self {
            Iter::Inline(i) => i.next(),
            Iter::Many(i) => i.next(),
        }
    }
}

impl<'a> IntoIterator for &'a Backrefs {
    type Item = &'a Backref;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<Backref> for Backrefs {
    fn from_iter<I: IntoIterator<Item = Backref>>(refs: I) -> Backrefs {
        let mut out = Backrefs::default();
        for r in refs {
            out.insert(r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The set behaves like a `BTreeSet`, before and after it becomes one.
    #[test]
    fn agrees_with_a_btreeset_across_the_switch() {
        let mut ours = Backrefs::default();
        let mut theirs = BTreeSet::new();
        // Insert out of order, with repeats, past INLINE; then remove half of them.
        let keys: Vec<Backref> = (0..100u64).map(|k| ((k * 7919) % 101, k % 5)).collect();
        for &k in &keys {
            assert_eq!(ours.insert(k), theirs.insert(k), "insert {k:?}");
            assert_eq!(ours.len(), theirs.len());
        }
        assert!(matches!(ours.0, Repr::Many(_)));
        for k in keys.iter().step_by(2) {
            assert_eq!(ours.remove(k), theirs.remove(k), "remove {k:?}");
            assert_eq!(ours.contains(k), theirs.contains(k));
        }
        assert!(ours.iter().eq(theirs.iter()));
        assert_eq!(ours.is_empty(), theirs.is_empty());
    }

    #[test]
    fn two_references_stay_inline() {
        let mut b = Backrefs::one((5, 0));
        assert!(b.insert((2, 9)));
        assert!(!b.insert((5, 0)));
        assert!(b.iter().copied().eq([(2, 9), (5, 0)]));
        assert!(matches!(b.0, Repr::Inline { .. }));
        assert!(b.remove(&(2, 9)) && b.remove(&(5, 0)) && b.is_empty());
    }
}
