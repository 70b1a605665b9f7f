//! The reference model: files as plain byte vectors.
//!
//! Everything the simulator does to file *content* must agree with this model after every
//! successful call (spec §6.1). It knows nothing of extents, sharing or crashes; those are
//! checked against the simulator's own invariants (fsck) and the sharing class each test
//! expects.

use std::collections::BTreeMap;

/// Files by name, each its content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reference {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Reference {
    /// An empty namespace.
    pub fn new() -> Reference {
        Reference::default()
    }

    /// The content of `name` (empty if it does not exist).
    pub fn content(&self, name: &str) -> &[u8] {
        self.files.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Creates `name` if absent.
    pub fn create(&mut self, name: &str) {
        self.files.entry(name.to_string()).or_default();
    }

    /// `pwrite`: bytes at `off`, zero-filling any gap.
    pub fn pwrite(&mut self, name: &str, off: u64, bytes: &[u8]) {
        let f = self.files.entry(name.to_string()).or_default();
        let end = off as usize + bytes.len();
        if f.len() < end {
            f.resize(end, 0);
        }
        f[off as usize..end].copy_from_slice(bytes);
    }

    /// `ftruncate`.
    pub fn truncate(&mut self, name: &str, size: u64) {
        self.files
            .entry(name.to_string())
            .or_default()
            .resize(size as usize, 0);
    }

    /// `fallocate(PUNCH_HOLE|KEEP_SIZE)`: zeroes within EOF, size unchanged.
    pub fn punch(&mut self, name: &str, off: u64, len: u64) {
        let f = self.files.entry(name.to_string()).or_default();
        let end = (off + len).min(f.len() as u64) as usize;
        if (off as usize) < end {
            f[off as usize..end].fill(0);
        }
    }

    /// `fallocate(0)` or `KEEP_SIZE`: content unchanged; the size grows without `keep_size`.
    pub fn falloc(&mut self, name: &str, off: u64, len: u64, keep_size: bool) {
        let f = self.files.entry(name.to_string()).or_default();
        if !keep_size && f.len() < (off + len) as usize {
            f.resize((off + len) as usize, 0);
        }
    }

    /// A copy of `len` bytes from `src` at `soff` to `dst` at `doff`, shortened at the
    /// source's EOF, as read+write would do it. Returns the bytes copied.
    pub fn copy(&mut self, src: &str, soff: u64, dst: &str, doff: u64, len: u64) -> u64 {
        let s = self.content(src);
        let start = (soff as usize).min(s.len());
        let end = (soff.saturating_add(len) as usize).min(s.len());
        let bytes = s[start..end].to_vec();
        if !bytes.is_empty() {
            self.pwrite(dst, doff, &bytes);
        }
        bytes.len() as u64
    }

    /// `unlink`.
    pub fn unlink(&mut self, name: &str) {
        self.files.remove(name);
    }

    /// `rename` (replacing the target).
    pub fn rename(&mut self, old: &str, new: &str) {
        if let Some(v) = self.files.remove(old) {
            self.files.insert(new.to_string(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_semantics() {
        let mut r = Reference::new();
        r.pwrite("a", 2, b"xy");
        assert_eq!(r.content("a"), b"\0\0xy");
        r.punch("a", 3, 100);
        assert_eq!(r.content("a"), b"\0\0x\0");
        r.falloc("a", 0, 10, true);
        assert_eq!(r.content("a").len(), 4);
        r.falloc("a", 0, 10, false);
        assert_eq!(r.content("a").len(), 10);
        assert_eq!(r.copy("a", 2, "b", 1, 100), 8);
        assert_eq!(&r.content("b")[..3], b"\0x\0");
        r.truncate("b", 1);
        assert_eq!(r.content("b"), b"\0");
    }
}
