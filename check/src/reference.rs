//! The reference model: files as byte vectors, plus the sharing class each block must have.
//!
//! Everything the simulator does to file *content* must agree with this model after every
//! successful call (spec §6.1), and a failed call must leave it unchanged. Contents are kept
//! as [`Data`] descriptors (fills and zeroes, mostly) so that the model and the comparison
//! cost O(runs), not O(bytes); semantically each file is still a plain byte vector.
//!
//! Besides content the model records what the *sharing* of a destination must be after the
//! calls that promise something about it (spec §6.2–6.3), as [`Tag`]s on block ranges:
//! - [`Class::Unshared`] after a never-share splice: no block backing the range may be
//!   referenced by another file (and so a media error hits only this file);
//! - [`Class::SharedWith`] after must-share, `FICLONERANGE` or a successful dedupe: every
//!   block is the *same* physical block as the source's corresponding block (or both holes).
//!
//! A tag stays valid until something may legitimately change that sharing: a write to a
//! `SharedWith` range (copy-on-write unshares it), a sharing call that uses an `Unshared`
//! range as source or destination, an unlink of the partner, a crash. The harness checks
//! every live tag after every step, so a write that quietly unshares (or shares) blocks it
//! should not touch is caught where it happens.

use std::collections::BTreeMap;

use vfs::Data;

/// A file's identity in the model (stable across renames).
pub type FileId = u64;

/// One file of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileModel {
    pub id: FileId,
    pub data: Data,
}

/// What the sharing of a block range must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// No block is referenced by any other file (after a never-share splice).
    Unshared,
    /// Block `b` is the same physical block as block `b + delta` of `file` (after
    /// must-share, clone, dedupe SAME).
    SharedWith { file: FileId, delta: i64 },
}

/// A sharing promise on blocks `[b0, b1)` of `file`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub file: FileId,
    pub b0: u64,
    pub b1: u64,
    pub class: Class,
    /// Where the promise came from (the step number), for messages.
    pub step: usize,
}

/// Files by name, each its content, and the sharing promises in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reference {
    pub files: BTreeMap<String, FileModel>,
    pub tags: Vec<Tag>,
    next_id: FileId,
}

/// Blocks `[off / bs, ceil((off + len) / bs))`.
/// (empty when `len` is 0).
pub fn block_range(off: u64, len: u64, bs: u64) -> (u64, u64) {
    if len == 0 {
        return (off / bs, off / bs);
    }
    (off / bs, off.saturating_add(len).div_ceil(bs))
}

impl Reference {
    /// An empty namespace.
    pub fn new() -> Reference {
        Reference::default()
    }

    /// The content of `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<&Data> {
        self.files.get(name).map(|f| &f.data)
    }

    /// The content of `name` (empty if it does not exist).
    pub fn content(&self, name: &str) -> Data {
        self.get(name).cloned().unwrap_or_default()
    }

    /// The size of `name` (0 if it does not exist).
    pub fn size(&self, name: &str) -> u64 {
        self.get(name).map_or(0, Data::len)
    }

    /// The identity of `name`.
    pub fn id(&self, name: &str) -> Option<FileId> {
        self.files.get(name).map(|f| f.id)
    }

    /// The name of file `id`, if it is linked.
    pub fn name_of(&self, id: FileId) -> Option<&str> {
        self.files
            .iter()
            .find(|(_, f)| f.id == id)
            .map(|(n, _)| n.as_str())
    }

    /// Creates `name` if absent (`open(O_CREAT)`); returns whether it was created.
    pub fn create(&mut self, name: &str) -> bool {
        if self.files.contains_key(name) {
            return false;
        }
        self.next_id += 1;
        self.files.insert(
            name.to_string(),
            FileModel {
                id: self.next_id,
                data: Data::new(),
            },
        );
        true
    }

    /// Sets the content of `name` (creating it), e.g. after a crash.
    pub fn set(&mut self, name: &str, data: Data) {
        self.create(name);
        self.files.get_mut(name).expect("created").data = data;
    }

    fn data_mut(&mut self, name: &str) -> &mut Data {
        self.create(name);
        &mut self.files.get_mut(name).expect("created").data
    }

    /// `pwrite`: `data` at `off`, zero-filling any gap.
    pub fn pwrite(&mut self, name: &str, off: u64, data: &Data) {
        let d = self.data_mut(name);
        *d = d.overlay(off, data);
    }

    /// `ftruncate`.
    pub fn truncate(&mut self, name: &str, size: u64) {
        let d = self.data_mut(name);
        let len = d.len();
        if size < len {
            *d = d.slice(0, size);
        } else if size > len {
            d.append(Data::zero(size - len));
        }
    }

    /// `fallocate(PUNCH_HOLE|KEEP_SIZE)`: zeroes within EOF, size unchanged.
    pub fn punch(&mut self, name: &str, off: u64, len: u64) {
        let d = self.data_mut(name);
        let end = off.saturating_add(len).min(d.len());
        if off < end {
            *d = d.overlay(off, &Data::zero(end - off));
        }
    }

    /// `fallocate(0)` or `KEEP_SIZE`: content unchanged; the size grows without `keep_size`.
    pub fn falloc(&mut self, name: &str, off: u64, len: u64, keep_size: bool) {
        if !keep_size {
            let end = off + len;
            if self.size(name) < end {
                self.truncate(name, end);
            }
        }
    }

    /// The bytes a copy of `len` bytes from `src` at `soff` would move: shortened at the
    /// source's EOF, as read+write would do it.
    pub fn copy_count(&self, src: &str, soff: u64, len: u64) -> u64 {
        let size = self.size(src);
        if soff >= size {
            0
        } else {
            len.min(size - soff)
        }
    }

    /// A copy of exactly `n` bytes from `src` at `soff` to `dst` at `doff` (the caller
    /// knows `n` from the call's result).
    pub fn copy(&mut self, src: &str, soff: u64, dst: &str, doff: u64, n: u64) {
        if n == 0 {
            return;
        }
        let bytes = self.content(src).slice(soff, n);
        debug_assert_eq!(bytes.len(), n, "copy past the source's EOF");
        self.pwrite(dst, doff, &bytes);
    }

    /// `unlink`.
    pub fn unlink(&mut self, name: &str) {
        if let Some(f) = self.files.remove(name) {
            self.forget(f.id);
        }
    }

    /// `rename` (replacing the target).
    pub fn rename(&mut self, old: &str, new: &str) {
        if old == new {
            return;
        }
        if let Some(v) = self.files.remove(old)
            && let Some(t) = self.files.insert(new.to_string(), v)
        {
            self.forget(t.id);
        }
    }

    // ------------------------------------------------------------------ sharing tags

    /// Removes `[b0, b1)` of `file` from every tag that `pred` selects (splitting tags).
    fn cut(&mut self, file: FileId, b0: u64, b1: u64, pred: impl Fn(&Tag) -> bool) {
        let mut out = Vec::with_capacity(self.tags.len());
        for t in self.tags.drain(..) {
            if t.file != file || t.b1 <= b0 || t.b0 >= b1 || !pred(&t) {
                out.push(t);
                continue;
            }
            if t.b0 < b0 {
                out.push(Tag { b1: b0, ..t });
            }
            if t.b1 > b1 {
                out.push(Tag { b0: b1, ..t });
            }
        }
        self.tags = out;
    }

    /// Removes every `SharedWith` promise that points into blocks `[b0, b1)` of `target`.
    fn cut_pointers(&mut self, target: FileId, b0: u64, b1: u64) {
        let mut out = Vec::with_capacity(self.tags.len());
        for t in self.tags.drain(..) {
            let Class::SharedWith { file, delta } = t.class else {
                out.push(t);
                continue;
            };
            // Blocks of `t.file` whose partner block lies in [b0, b1).
            let big = |x: u64| x.min(i64::MAX as u64 / 2) as i64;
            let lo = (big(b0) - delta).max(big(t.b0));
            let hi = (big(b1) - delta).min(big(t.b1));
            if file != target || lo >= hi {
                out.push(t);
                continue;
            }
            if (t.b0 as i64) < lo {
                out.push(Tag { b1: lo as u64, ..t });
            }
            if (t.b1 as i64) > hi {
                out.push(Tag { b0: hi as u64, ..t });
            }
        }
        self.tags = out;
    }

    /// The content of blocks `[b0, b1)` of `file` changed (write, punch, truncate,
    /// fallocate, a copy into it): sharing promises about them no longer hold, but an
    /// unshared block stays unshared.
    pub fn content_changed(&mut self, file: FileId, b0: u64, b1: u64) {
        self.cut(file, b0, b1, |t| {
            matches!(t.class, Class::SharedWith { .. })
        });
        self.cut_pointers(file, b0, b1);
    }

    /// Blocks `[b0, b1)` of `file` may now be shared with something (the source of a
    /// sharing call, the destination of may-share): "unshared" no longer holds.
    pub fn may_be_shared(&mut self, file: FileId, b0: u64, b1: u64) {
        self.cut(file, b0, b1, |t| t.class == Class::Unshared);
    }

    /// Nothing is known about the sharing of `[b0, b1)` of `file` any more.
    pub fn unknown(&mut self, file: FileId, b0: u64, b1: u64) {
        self.content_changed(file, b0, b1);
        self.may_be_shared(file, b0, b1);
    }

    /// Adds a promise (after the caller cleared what it replaces).
    pub fn promise(&mut self, tag: Tag) {
        if tag.b0 < tag.b1 {
            self.tags.push(tag);
        }
    }

    /// `file` is gone: its promises and every promise that points at it go.
    pub fn forget(&mut self, file: FileId) {
        self.tags.retain(|t| {
            t.file != file && !matches!(t.class, Class::SharedWith { file: f, .. } if f == file)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::same;

    fn bytes(r: &Reference, n: &str) -> Vec<u8> {
        r.content(n).to_vec()
    }

    #[test]
    fn model_semantics() {
        let mut r = Reference::new();
        r.pwrite("a", 2, &Data::bytes(b"xy"));
        assert_eq!(bytes(&r, "a"), b"\0\0xy");
        r.punch("a", 3, 100);
        assert_eq!(bytes(&r, "a"), b"\0\0x\0");
        r.falloc("a", 0, 10, true);
        assert_eq!(r.size("a"), 4);
        r.falloc("a", 0, 10, false);
        assert_eq!(r.size("a"), 10);
        assert_eq!(r.copy_count("a", 2, 100), 8);
        r.copy("a", 2, "b", 1, 8);
        assert_eq!(&bytes(&r, "b")[..3], b"\0x\0");
        r.truncate("b", 1);
        assert_eq!(bytes(&r, "b"), b"\0");
        r.rename("a", "b");
        assert!(r.get("a").is_none());
        assert_eq!(r.size("b"), 10);
        assert!(same(&r.content("b").slice(2, 1), &Data::fill(b'x', 1)));
    }

    #[test]
    fn tags_split_and_follow_partners() {
        let mut r = Reference::new();
        r.create("a");
        r.create("b");
        let (a, b) = (r.id("a").unwrap(), r.id("b").unwrap());
        r.promise(Tag {
            file: b,
            b0: 0,
            b1: 10,
            class: Class::SharedWith { file: a, delta: 5 },
            step: 0,
        });
        r.promise(Tag {
            file: a,
            b0: 0,
            b1: 4,
            class: Class::Unshared,
            step: 0,
        });
        // A write to a's blocks 7..9 breaks b's blocks 2..4.
        r.content_changed(a, 7, 9);
        let mut got: Vec<(u64, u64)> = r
            .tags
            .iter()
            .filter(|t| t.file == b)
            .map(|t| (t.b0, t.b1))
            .collect();
        got.sort();
        assert_eq!(got, vec![(0, 2), (4, 10)]);
        // a's unshared promise survives a write, not a share.
        assert!(r.tags.iter().any(|t| t.file == a));
        r.may_be_shared(a, 1, 2);
        assert_eq!(r.tags.iter().filter(|t| t.file == a).count(), 2);
        r.unlink("a");
        assert!(r.tags.is_empty());
    }
}
