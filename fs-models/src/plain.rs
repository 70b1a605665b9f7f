//! plain: the no-sharing baseline (ext4-like without reflink, tmpfs-like).
//!
//! Overwrites happen in place, there is no `->remap_file_range` (clone and dedupe answer
//! `EOPNOTSUPP`; copy_file_range and splice byte-copy), and metadata goes to one JBD2-like
//! log forced by `fsync` and committed every 5 s (ext4 `data=ordered`, `auto_da_alloc`;
//! `docs/design.md` D4, D6, D7). The `tmpfs` variant has no FIEMAP and keeps nothing over a
//! crash.

use vfs::crash::Atomicity;
use vfs::extent::{Attrs, Overwrite};

use crate::local::{Flavor, LocalFs, LocalOptions};

/// The plain flavor.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain {
    /// tmpfs-like: no FIEMAP (`EOPNOTSUPP`), as on Linux tmpfs.
    pub tmpfs: bool,
}

impl Flavor for Plain {
    fn name(&self) -> &'static str {
        if self.tmpfs { "tmpfs-like" } else { "plain" }
    }

    fn overwrite(&self, _attrs: &Attrs) -> Overwrite {
        Overwrite::InPlace
    }

    /// ext4: one JBD2 metadata log (`data=ordered`); tmpfs: nothing survives.
    fn atomicity(&self) -> Atomicity {
        if self.tmpfs {
            Atomicity::Volatile
        } else {
            Atomicity::MetadataLog
        }
    }

    /// ext4's JBD2 commits every 5 s (`commit=5`).
    fn commit_interval(&self) -> vfs::clock::Nanos {
        5 * vfs::clock::SEC
    }

    fn has_fiemap(&self) -> bool {
        !self.tmpfs
    }

    /// ext4 and tmpfs have no `->remap_file_range`.
    fn has_remap(&self) -> bool {
        false
    }

    /// Allocation and punching only (tmpfs: `shmem_fallocate`; the plain baseline keeps
    /// the same minimal set). tmpfs initialises a page an earlier `fallocate` left
    /// `!uptodate` when `fallocate` covers it again.
    fn quirks(&self) -> crate::local::Quirks {
        crate::local::Quirks {
            falloc_initializes_unwritten: self.tmpfs,
            auto_da_alloc: !self.tmpfs,
            ..crate::local::Quirks::default()
        }
    }
}

/// The plain model.
pub type PlainFs = LocalFs<Plain>;

/// A plain filesystem with the given options.
pub fn plain(opts: LocalOptions) -> PlainFs {
    LocalFs::new(Plain::default(), opts)
}
