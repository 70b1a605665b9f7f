//! The kernel-side core of splicelab.
//!
//! Nothing here names a particular filesystem: models live in `fs-models` and plug in
//! through [`fs::FileSystem`]. See `docs/design.md` for the layers and the invariants.
//!
//! | module | kernel counterpart |
//! |---|---|
//! | [`errno`] | `include/uapi/asm-generic/errno*.h` |
//! | [`data`], [`extent`], [`space`] | a filesystem's on-disk extent trees, refcounts, allocator |
//! | [`fs`] | `struct file_operations` / `super_operations` |
//! | [`vfs`] | mount table, inode cache, path walk |
//! | [`lock`], [`sync`] | `i_rwsem`, `lock_two_nondirectories` |
//! | [`clock`], [`task`] | `current`, with a virtual clock |
//! | [`crash`] | journal / transaction commit |

pub mod clock;
pub mod crash;
pub mod data;
pub mod errno;
pub mod extent;
pub mod file;
pub mod fs;
pub mod lock;
pub mod space;
pub mod sync;
pub mod task;
pub mod vfs;

pub use data::Data;
pub use errno::{Errno, KResult};
pub use extent::{FileKind, Ino};
pub use fs::FileSystem;
pub use task::Task;
