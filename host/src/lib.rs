//! The real Linux kernel behind splicelab's system-call interface.
//!
//! - [`linux::Linux`] implements [`syscall::api::Syscalls`] with real system calls (through
//!   `libc`), inside a directory that stands for the simulated namespace's `/`. The
//!   differential tests run one scenario through it and through the simulator and compare
//!   results, errno values and sharing.
//! - [`mounts`] makes real test filesystems: loop-mounted btrfs and XFS (with and without
//!   reflink) and tmpfs, torn down again on every exit path.
//! - `uapi` (private) holds the ioctl numbers and `#[repr(C)]` layouts of the kernel's
//!   `linux/fs.h` and `linux/fiemap.h`, written from the published ABI and checked by unit
//!   tests.
//!
//! Everything here needs Linux; the mounting fixtures also need root.

pub mod linux;
pub mod mounts;
mod uapi;

pub use linux::Linux;
pub use mounts::{RealFs, TestMount, TestTree};
