//! Log replay: copying one inode's logged state into a recovered image.
//!
//! btrfs's `fsync` writes the whole state of one inode to the log tree — its name (and, for
//! a new inode, the directories leading to it), its size and attributes, and its file
//! extent items — and mount-time recovery replays those items onto the last committed tree
//! (`btrfs_recover_log_trees`). [`Image::transplant`] does the same between two images of
//! one lineage: the committed image and the device view at the `fsync`. Extents that the
//! committed image already has (the same allocation, unsplit or a piece of it, with the same
//! bytes) are shared again, as the replayed file extent items point at the same disk
//! extents; anything else is written anew.

use std::collections::HashMap;

use crate::errno::KResult;
use crate::extent::{FileKind, Image, Ino, Overwrite, PhysKey, ROOT_INO};

impl Image {
    /// The one directory entry `(dir, name)` naming `ino` (the images have no hard links),
    /// if any. O(directories).
    pub fn name_of(&self, ino: Ino) -> Option<(Ino, String)> {
        if ino == ROOT_INO {
            return None;
        }
        self.inodes
            .iter()
            .filter(|(_, n)| n.kind == FileKind::Directory)
            .find_map(|(&d, n)| {
                n.children
                    .iter()
                    .find(|&(_, &c)| c == ino)
                    .map(|(name, _)| (d, name.clone()))
            })
    }

    /// Removes the entry `dir/name` without evicting what it named (an inode left with no
    /// name is an orphan, evicted by recovery).
    fn drop_entry(&mut self, dir: Ino, name: &str) -> KResult<()> {
        let Some(&ino) = self.inode(dir)?.children.get(name) else {
            return Ok(());
        };
        let is_dir = self.inode(ino)?.kind == FileKind::Directory;
        let d = self.inode_mut(dir)?;
        d.children.remove(name);
        if is_dir {
            d.nlink -= 1;
        }
        self.inode_mut(ino)?.nlink = 0;
        Ok(())
    }

    /// Names `ino` as `dir/name`, replacing whatever that entry named.
    fn set_entry(&mut self, dir: Ino, name: &str, ino: Ino) -> KResult<()> {
        self.drop_entry(dir, name)?;
        let is_dir = self.inode(ino)?.kind == FileKind::Directory;
        let d = self.inode_mut(dir)?;
        d.children.insert(name.to_string(), ino);
        if is_dir {
            d.nlink += 1;
        }
        let n = self.inode_mut(ino)?;
        n.nlink = if is_dir { 2 } else { 1 };
        n.parent = dir;
        Ok(())
    }

    /// Makes `ino` in this image what it is in `from`: its name (creating missing parent
    /// directories from `from`, and dropping a name it has here but not there), and for a
    /// regular file its attributes, size and content — holes, unwritten and inline extents
    /// included. An inode that `from` has no name for is left alone (recovery evicts it).
    ///
    /// # Errors
    /// `ENOSPC` when the content does not fit (the image is then partly changed: the
    /// caller discards it or accepts it as a failed replay).
    pub fn transplant(&mut self, from: &Image, ino: Ino) -> KResult<()> {
        let Ok(node) = from.inode(ino) else {
            return Ok(());
        };
        let Some((dir, name)) = from.name_of(ino) else {
            return Ok(());
        };
        if self.inode(dir).is_err() {
            self.transplant(from, dir)?;
        }
        if self.inode(ino).is_err() {
            self.insert_inode(ino, node.kind);
        }
        if let Some((odir, oname)) = self.name_of(ino)
            && (odir, oname.as_str()) != (dir, name.as_str())
        {
            self.drop_entry(odir, &oname)?;
        }
        self.set_entry(dir, &name, ino)?;
        if node.kind == FileKind::Regular {
            self.transplant_content(from, ino)?;
        }
        Ok(())
    }

    /// Makes `ino`'s name here what it is in `from` — renamed, or unlinked when `from` has
    /// no name for it — leaving its content alone.
    ///
    /// # Errors
    /// `ESTALE` for a directory that vanished (not expected of images of one lineage).
    pub fn transplant_name(&mut self, from: &Image, ino: Ino) -> KResult<()> {
        if self.inode(ino).is_err() {
            return Ok(());
        }
        let want = from.name_of(ino);
        let have = self.name_of(ino);
        if want == have {
            return Ok(());
        }
        if let Some((d, n)) = &have {
            self.drop_entry(*d, n)?;
        }
        if let Some((d, n)) = want {
            if self.inode(d).is_err() {
                self.transplant(from, d)?;
            }
            self.set_entry(d, &n, ino)?;
        }
        Ok(())
    }

    fn transplant_content(&mut self, from: &Image, ino: Ino) -> KResult<()> {
        let src = from.inode(ino)?;
        let bs = self.block_size();
        self.inode_mut(ino)?.attrs = src.attrs;
        if let Some(d) = &src.inline {
            self.set_inline(ino, d.clone())?;
        } else {
            self.uninline(ino)?;
            // Mappings this image already has as `from` has them (the same allocation at
            // the same place: the file's committed extents) stay; everything else goes,
            // then the rest is put back — data first, so that preallocation cannot take
            // the blocks a logged extent goes back to.
            let kept: Vec<(u64, u64)> = src
                .map
                .iter()
                .filter(|&(&fb, m)| self.maps_as(from, ino, fb, m))
                .map(|(&fb, m)| (fb, m.len))
                .collect();
            let mut pos = 0;
            for &(fb, len) in &kept {
                self.unmap(ino, pos, fb);
                pos = fb + len;
            }
            self.unmap(ino, pos, u64::MAX);
            let index = self.extents_by_allocation();
            // An extent the file maps twice (a clone within the file) is placed once and
            // shared by the second mapping, as the log's file extent items both point at it.
            let mut placed: HashMap<PhysKey, u64> = HashMap::new();
            let todo = src
                .map
                .iter()
                .filter(|(fb, _)| !kept.iter().any(|(k, _)| k == *fb));
            for (&fb, m) in todo.clone().filter(|(_, m)| !m.unwritten) {
                let p = &from.phys[m.phys];
                if let Some(&first) = placed.get(&m.phys) {
                    self.share(ino, first, ino, fb, m.len)?;
                } else if let Some((user, ufb)) = self.same_extent(&index, p.origin, m.len, &p.data)
                {
                    self.share(user, ufb, ino, fb, m.len)?;
                } else if !self.place_exact(ino, fb, m.len, p.start, &p.data, p.origin) {
                    self.write_at(ino, fb * bs, &p.data, Overwrite::InPlace)?;
                }
                placed.entry(m.phys).or_insert(fb);
            }
            for (&fb, m) in todo.filter(|(_, m)| m.unwritten) {
                self.preallocate(ino, fb * bs, m.len * bs, true)?;
            }
        }
        let n = self.inode_mut(ino)?;
        n.size = src.size;
        n.stale_tail = src.stale_tail;
        Ok(())
    }

    /// Whether this image maps file block `fb` of `ino` exactly as `from` does with `m`:
    /// one mapping of the same length, kind and allocation, holding the same bytes.
    fn maps_as(&self, from: &Image, ino: Ino, fb: u64, m: &crate::extent::Mapping) -> bool {
        let Some((s, mine)) = self.inode(ino).ok().and_then(|n| n.mapping_at(fb)) else {
            return false;
        };
        let (p, q) = (&from.phys[m.phys], &self.phys[mine.phys]);
        s == fb
            && mine.len == m.len
            && mine.unwritten == m.unwritten
            && p.origin == q.origin
            && p.data == q.data
    }

    /// Live physical extents by allocation id: `(offset in the allocation, length, key)`.
    fn extents_by_allocation(&self) -> HashMap<u64, Vec<(u64, u64, PhysKey)>> {
        let mut index: HashMap<u64, Vec<(u64, u64, PhysKey)>> = HashMap::new();
        for (key, p) in &self.phys {
            index
                .entry(p.origin.0)
                .or_default()
                .push((p.origin.1, p.len, key));
        }
        index
    }

    /// A mapping `(inode, file block)` of this image that references the blocks
    /// `origin .. origin + len` of an allocation holding `data`, if there is one.
    fn same_extent(
        &self,
        index: &HashMap<u64, Vec<(u64, u64, PhysKey)>>,
        origin: (u64, u64),
        len: u64,
        data: &crate::data::Data,
    ) -> Option<(Ino, u64)> {
        let bs = self.block_size();
        index.get(&origin.0)?.iter().find_map(|&(off, plen, key)| {
            let inside = off <= origin.1 && origin.1 + len <= off + plen;
            let p = &self.phys[key];
            let skip = origin.1.checked_sub(off)?;
            (inside && p.data.slice(skip * bs, len * bs) == *data)
                .then(|| p.backrefs.iter().next().map(|&(i, fb)| (i, fb + skip)))
                .flatten()
        })
    }

    /// After a crash nothing is in the page cache: forget which unwritten blocks were read.
    pub fn drop_page_cache(&mut self) {
        let cached: Vec<Ino> = self
            .inodes
            .iter()
            .filter(|(_, n)| !n.cached_unwritten.is_empty())
            .map(|(&i, _)| i)
            .collect();
        for ino in cached {
            if let Ok(n) = self.inode_mut(ino) {
                n.cached_unwritten.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::data::Data;
    use crate::extent::{FileKind, Image, Overwrite, ROOT_INO};

    #[test]
    fn transplant_recreates_new_file_in_new_directory() {
        let base = Image::new(4096, 256);
        let mut at = base.clone();
        let d = at.create(ROOT_INO, "d", FileKind::Directory).unwrap();
        let f = at.create(d, "f", FileKind::Regular).unwrap();
        at.write(f, 0, &Data::fill(0x61, 5000), Overwrite::InPlace)
            .unwrap();
        let other = at.create(ROOT_INO, "other", FileKind::Regular).unwrap();
        let mut img = base.clone();
        img.transplant(&at, f).unwrap();
        assert!(img.fsck().is_empty(), "{:?}", img.fsck());
        assert_eq!(img.lookup(ROOT_INO, "d").unwrap(), d);
        assert_eq!(img.lookup(d, "f").unwrap(), f);
        assert_eq!(img.read(f, 0, 5000).unwrap(), Data::fill(0x61, 5000));
        assert!(
            img.inode(other).is_err(),
            "only the logged inode comes along"
        );
        let later = img.create(ROOT_INO, "later", FileKind::Regular).unwrap();
        assert!(later > f, "new inode numbers do not reuse logged ones");
    }

    #[test]
    fn transplant_follows_a_rename_and_keeps_sharing() {
        let mut base = Image::new(4096, 256);
        let a = base.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        base.write(a, 0, &Data::pattern(3, 0, 16384), Overwrite::CowAlways)
            .unwrap();
        let b = base.create(ROOT_INO, "b", FileKind::Regular).unwrap();
        let mut at = base.clone();
        at.share(a, 0, b, 0, 4).unwrap();
        at.inode_mut(b).unwrap().size = 16384;
        at.rename(ROOT_INO, "b", ROOT_INO, "c").unwrap();
        let mut img = base.clone();
        img.transplant(&at, b).unwrap();
        assert!(img.fsck().is_empty(), "{:?}", img.fsck());
        assert!(img.lookup(ROOT_INO, "b").is_err());
        assert_eq!(img.lookup(ROOT_INO, "c").unwrap(), b);
        assert_eq!(
            img.shared_blocks(b, 0, 4).unwrap(),
            4,
            "same extents, shared"
        );
        assert_eq!(
            img.read(b, 0, 16384).unwrap(),
            img.read(a, 0, 16384).unwrap()
        );
    }
}
