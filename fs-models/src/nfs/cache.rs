//! The client's cache of written bytes: disjoint byte ranges with their content.

use std::collections::BTreeMap;

use vfs::data::Data;

/// Disjoint, non-empty, non-adjacent byte ranges of one file with their content (adjacent
/// ranges are merged on insert).
#[derive(Clone, Debug, Default)]
pub(crate) struct Overlay {
    map: BTreeMap<u64, Data>,
    bytes: u64,
}

impl Overlay {
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// One past the last byte held (0 when empty).
    pub(crate) fn end(&self) -> u64 {
        self.map
            .last_key_value()
            .map(|(k, d)| k + d.len())
            .unwrap_or(0)
    }

    /// The ranges in order.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = (u64, &Data)> {
        self.map.iter().map(|(&k, d)| (k, d))
    }

    /// The range containing byte `pos`, as `(start, end)`.
    pub(crate) fn piece_at(&self, pos: u64) -> Option<(u64, u64)> {
        let (&k, d) = self.map.range(..=pos).next_back()?;
        (pos < k + d.len()).then_some((k, k + d.len()))
    }

    /// The first range ending after `pos`, as `(start, end)`.
    pub(crate) fn next_from(&self, pos: u64) -> Option<(u64, u64)> {
        if let Some(p) = self.piece_at(pos) {
            return Some(p);
        }
        self.map.range(pos..).next().map(|(&k, d)| (k, k + d.len()))
    }

    fn overlapping(&self, from: u64, to: u64) -> Vec<u64> {
        let mut keys = Vec::new();
        if let Some((&k, d)) = self.map.range(..from).next_back()
            && k + d.len() > from
        {
            keys.push(k);
        }
        keys.extend(self.map.range(from..to).map(|(&k, _)| k));
        keys
    }

    fn put(&mut self, off: u64, d: Data) {
        if !d.is_empty() {
            self.bytes += d.len();
            self.map.insert(off, d);
        }
    }

    fn take(&mut self, off: u64) -> Option<Data> {
        let d = self.map.remove(&off)?;
        self.bytes -= d.len();
        Some(d)
    }

    /// Forgets `[from, to)`.
    pub(crate) fn remove(&mut self, from: u64, to: u64) {
        if from >= to {
            return;
        }
        for k in self.overlapping(from, to) {
            let d = self.take(k).expect("overlapping key");
            let end = k + d.len();
            if k < from {
                self.put(k, d.slice(0, from - k));
            }
            if end > to {
                self.put(to, d.slice(to - k, end - to));
            }
        }
    }

    /// Records `data` at `off`, replacing what was there.
    pub(crate) fn insert(&mut self, off: u64, data: Data) {
        if data.is_empty() {
            return;
        }
        let end = off + data.len();
        self.remove(off, end);
        let (mut start, mut merged) = (off, data);
        if let Some((&k, d)) = self.map.range(..off).next_back()
            && k + d.len() == off
        {
            let mut left = self.take(k).expect("left neighbour");
            left.append(merged);
            merged = left;
            start = k;
        }
        if let Some(right) = self.take(end) {
            merged.append(right);
        }
        self.put(start, merged);
    }

    /// `base` (the content of `[off, off + base.len())` from elsewhere) with the held ranges
    /// laid over it.
    pub(crate) fn apply(&self, off: u64, base: Data) -> Data {
        let end = off + base.len();
        let mut out = base;
        for k in self.overlapping(off, end) {
            let d = &self.map[&k];
            let a = k.max(off);
            let b = (k + d.len()).min(end);
            out = out.overlay(a - off, &d.slice(a - k, b - a));
        }
        out
    }

    /// The content of `[from, to)` if it is held entirely.
    pub(crate) fn get(&self, from: u64, to: u64) -> Option<Data> {
        let (s, e) = self.piece_at(from)?;
        (to <= e).then(|| self.map[&s].slice(from - s, to - from))
    }

    /// Invariant problems (for fsck).
    pub(crate) fn check(&self, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut prev_end: Option<u64> = None;
        let mut sum = 0;
        for (&k, d) in &self.map {
            if d.is_empty() {
                out.push(format!("{what}: empty range at {k}"));
            }
            if let Some(p) = prev_end
                && k <= p
            {
                out.push(format!(
                    "{what}: range at {k} overlaps or touches the previous one (ends {p})"
                ));
            }
            prev_end = Some(k + d.len());
            sum += d.len();
        }
        if sum != self.bytes {
            out.push(format!("{what}: byte count {} != {sum}", self.bytes));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_merges_and_applies() {
        let mut o = Overlay::default();
        o.insert(10, Data::fill(b'a', 10));
        o.insert(15, Data::fill(b'b', 10));
        o.insert(25, Data::fill(b'c', 5));
        assert_eq!(o.pieces().count(), 1, "adjacent ranges merge");
        assert_eq!(o.bytes(), 20);
        assert_eq!(o.end(), 30);
        let v = o.apply(8, Data::fill(b'.', 24)).to_vec();
        assert_eq!(&v, b"..aaaaabbbbbbbbbbccccc..");
        o.remove(12, 14);
        assert_eq!(o.pieces().count(), 2);
        assert_eq!(o.bytes(), 18);
        assert!(o.get(12, 13).is_none());
        assert_eq!(o.get(20, 27).unwrap().to_vec(), b"bbbbbcc");
        assert_eq!(o.next_from(12), Some((14, 30)));
        assert!(o.check("t").is_empty());
    }
}
