//! The kernel-side core of splicelab.
//!
//! Nothing here names a particular filesystem: models live in `fs-models` and plug in
//! through [`fs::FileSystem`]. See `docs/design.md` for the layers and the invariants.

pub mod data;
pub mod errno;
pub mod extent;
pub mod space;

pub use data::Data;
pub use errno::{Errno, KResult};
