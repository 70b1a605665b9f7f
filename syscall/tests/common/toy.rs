//! `toy-reflink`: a minimal sharing model for these tests only.
//!
//! It exists so that the VFS's sharing paths (FICLONE, FIDEDUPERANGE, may/must-share
//! splice, copy_file_range's remap) are exercised even when `fs_models::spec::MODELS` has
//! no sharing model yet. [`super::models`] adds it only in that case. Its remap follows the
//! shape of `generic_remap_file_range_prep` closely enough for the VFS tests; the real
//! models' checks are tested with the models.

use fs_models::local::{Flavor, LocalFs, LocalOptions};
use vfs::clock::CostModel;
use vfs::crash::Atomicity;
use vfs::errno::{Errno, KResult};
use vfs::extent::{Attrs, FileKind, Image, Ino, Overwrite};
use vfs::fs::remap_flags::{CAN_SHORTEN, DEDUP};
use vfs::task::Task;

pub struct Toy;

impl Flavor for Toy {
    fn name(&self) -> &'static str {
        "toy-reflink"
    }

    fn overwrite(&self, _attrs: &Attrs) -> Overwrite {
        Overwrite::CowShared
    }

    fn atomicity(&self) -> Atomicity {
        Atomicity::PerOperation
    }

    fn remap(
        &self,
        img: &mut Image,
        cost: &CostModel,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        flags: u32,
    ) -> KResult<u64> {
        let bs = img.block_size();
        let (si, di) = (img.inode(src)?.clone(), img.inode(dst)?.clone());
        if di.attrs.immutable {
            return Err(Errno::EPERM);
        }
        if si.attrs.swapfile || di.attrs.swapfile {
            return Err(Errno::ETXTBSY);
        }
        if si.kind == FileKind::Directory || di.kind == FileKind::Directory {
            return Err(Errno::EISDIR);
        }
        let dedup = flags & DEDUP != 0;
        let mut len = len;
        if len == 0 {
            if dedup || soff == si.size {
                return Ok(0);
            }
            if soff > si.size {
                return Err(Errno::EINVAL);
            }
            len = si.size - soff;
        }
        if soff % bs != 0 || doff % bs != 0 {
            return Err(Errno::EINVAL);
        }
        if soff.checked_add(len).is_none() || doff.checked_add(len).is_none() {
            return Err(Errno::EINVAL);
        }
        if dedup && (soff + len > si.size || doff + len > di.size) {
            return Err(Errno::EINVAL);
        }
        if soff >= si.size {
            return Err(Errno::EINVAL);
        }
        let mut count = len.min(si.size - soff);
        let bcount = if soff + count == si.size && (!dedup || doff + count == di.size) {
            si.size.div_ceil(bs) * bs - soff
        } else {
            count = count / bs * bs;
            count
        };
        if src == dst && doff + bcount > soff && doff < soff + bcount {
            return Err(Errno::EINVAL);
        }
        if count != len && flags & CAN_SHORTEN == 0 {
            return Err(Errno::EINVAL);
        }
        if count == 0 {
            return Ok(0);
        }
        if dedup
            && !img
                .read(src, soff, count)?
                .same_content(&img.read(dst, doff, count)?)
        {
            return Err(Errno::EBADE);
        }
        if count % bs != 0 && doff + count < di.size {
            if flags & CAN_SHORTEN == 0 {
                return Err(if dedup { Errno::EBADE } else { Errno::EINVAL });
            }
            count = count / bs * bs;
            if count == 0 {
                return Ok(0);
            }
        }
        let blocks = count.div_ceil(bs);
        let extents = img
            .inode(src)?
            .mappings_in(soff / bs, soff / bs + blocks)
            .count();
        task.charge(cost.metadata(extents as u64 + 1));
        img.share(src, soff / bs, dst, doff / bs, blocks)?;
        let node = img.inode_mut(dst)?;
        node.size = node.size.max(doff + count);
        Ok(count)
    }
}

/// A `toy-reflink` filesystem; `chunk` overrides the byte-copy chunk.
pub fn toy(chunk: Option<u64>) -> LocalFs<Toy> {
    let mut opts = LocalOptions::default();
    if let Some(c) = chunk {
        opts.chunk_size = c;
    }
    LocalFs::new(Toy, opts)
}
