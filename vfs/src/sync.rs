//! The only place that names a lock implementation.
//!
//! Normal builds use `parking_lot`; `RUSTFLAGS="--cfg loom"` builds use `loom`'s mocked
//! primitives, so the loom models in `tests/` explore the VFS's real locking code. Both
//! expose the same small API: `Mutex::lock`, `Mutex::try_lock`, atomics; `Arc` is std's.

// `Arc` stays std's under loom too: loom's Arc cannot hold `dyn FileSystem` (no unsized
// coercion), and reference counting is not what the models explore — locks are.
pub use std::sync::Arc;

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A mutual-exclusion lock with parking_lot's API (no poisoning).
#[derive(Debug, Default)]
pub struct Mutex<T> {
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

/// The guard of a [`Mutex`].
#[cfg(not(loom))]
pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
/// The guard of a [`Mutex`].
#[cfg(loom)]
pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub fn new(t: T) -> Mutex<T> {
        Mutex {
            #[cfg(not(loom))]
            inner: parking_lot::Mutex::new(t),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(t),
        }
    }

    /// Blocks until the lock is held.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        {
            self.inner.lock()
        }
        #[cfg(loom)]
        {
            self.inner.lock().expect("loom mutexes are not poisoned")
        }
    }

    /// Takes the lock only if it is free now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        #[cfg(not(loom))]
        {
            self.inner.try_lock()
        }
        #[cfg(loom)]
        {
            self.inner.try_lock().ok()
        }
    }
}
