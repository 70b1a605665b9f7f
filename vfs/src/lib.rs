//! The kernel-side core of splicelab.
//!
//! Nothing here names a particular filesystem: models live in `fs-models` and plug in
//! through [`fs::FileSystem`]. See `docs/design.md` for the layers and the invariants.
//!
//! | module | kernel counterpart |
//! |---|---|
//! | [`errno`] | `include/uapi/asm-generic/errno*.h` |
//! | [`data`], [`extent`], [`backrefs`], [`space`], [`rangeset`] | a filesystem's on-disk extent trees, back-references and refcounts, allocator |
//! | [`fs`] | `struct file_operations` / `super_operations` |
//! | [`vfs`] | mount table, inode cache, path walk |
//! | [`lock`], [`sync`] | `i_rwsem`, `lock_two_nondirectories` |
//! | [`clock`], [`task`] | `current`, with a virtual clock |
//! | [`crash`], [`replay`] | page cache and writeback, journal / transaction commit, log tree replay |
//! | [`remap`] | `generic_remap_file_range_prep`, `generic_remap_checks`, `generic_remap_check_len` (fs/remap_range.c) |
//! | [`checks`] | `generic_copy_file_checks`, `generic_file_rw_checks`, `rw_verify_area` (fs/read_write.c), `remap_verify_area` (fs/remap_range.c), `fiemap_prep` (fs/ioctl.c) |
//! | [`copy`] | `vfs_copy_file_range` (fs/read_write.c), `do_splice_direct` (fs/splice.c), `vfs_clone_file_range`, `vfs_dedupe_file_range_one` (fs/remap_range.c) |

pub mod backrefs;
pub mod bugs;
pub mod checks;
pub mod clock;
pub mod copy;
pub mod crash;
pub mod data;
pub mod errno;
pub mod extent;
pub mod file;
pub mod fs;
pub mod lock;
pub mod phys_table;
pub mod rangeset;
pub mod remap;
pub mod replay;
pub mod space;
pub mod sync;
pub mod task;
pub mod vfs;

pub use data::Data;
pub use errno::{Errno, KResult};
pub use extent::{FileKind, Ino};
pub use fs::FileSystem;
pub use task::Task;
