//! The user/kernel boundary of splicelab: a process with an fd table and the entry points.
//!
//! [`api::Syscalls`] is the Linux interface; [`process::Process`] implements it over the
//! simulated VFS (and adds the extended `splice`). The `host` crate implements the same
//! trait over the real kernel, which is what the differential tests compare.

pub mod api;
pub mod copy;
pub mod flags;
pub mod process;
pub mod splice;

pub use api::{SysResult, Syscalls};
pub use process::Process;
