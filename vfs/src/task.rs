//! The calling thread (the kernel's `current`): its virtual clock, pending signals, and
//! what its last calls did (for reports and checks).

use std::cell::{Cell, RefCell};

use crate::clock::Nanos;

/// When a signal is delivered to the task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalPlan {
    /// Deliver after this many more chunks of byte copy have completed (0 = before the next
    /// chunk starts).
    pub after_chunks: Option<u64>,
}

/// Counters of what the task's calls did, reset by the caller when it wants per-call figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskStats {
    /// Chunks of byte copy done.
    pub chunks: u64,
    /// Bytes moved by byte copy (in the VFS, or by a server on its side).
    pub bytes_copied: u64,
    /// Bytes done by sharing extents.
    pub bytes_shared: u64,
    /// Extents remapped.
    pub extents_remapped: u64,
    /// Total virtual time spent waiting for inode locks.
    pub lock_wait: Nanos,
    /// Longest single hold of an inode lock by this task.
    pub longest_hold: Nanos,
    /// Offloaded (server-side) copies a signal cancelled (NFS OFFLOAD_CANCEL).
    pub offloads_cancelled: u64,
    /// Offloaded copies a server reboot forgot, each sent again by the same call.
    pub offloads_restarted: u64,
    /// `remap=swap`: remaps built with no inode lock held and installed under the locks.
    pub remaps_installed: u64,
    /// `remap=swap`: staged remaps found stale at install (an inode changed while the
    /// remap was built with no lock held), each built again.
    pub remaps_restaged: u64,
    /// `remap=swap`: remaps built under the inode locks after every staged build went
    /// stale ([`crate::copy::MAX_STAGING_ATTEMPTS`]).
    pub remaps_locked_after_staging: u64,
}

impl TaskStats {
    /// Adds `other`'s counts to these (the longest hold is the longer of the two): the
    /// figures of two stretches of calls taken as one. Counters saturate at `u64::MAX`
    /// rather than wrap: a few clones of an exabyte sparse file exceed it.
    pub fn absorb(&mut self, other: &TaskStats) {
        self.chunks = self.chunks.saturating_add(other.chunks);
        self.bytes_copied = self.bytes_copied.saturating_add(other.bytes_copied);
        self.bytes_shared = self.bytes_shared.saturating_add(other.bytes_shared);
        self.extents_remapped = self.extents_remapped.saturating_add(other.extents_remapped);
        self.lock_wait = self.lock_wait.saturating_add(other.lock_wait);
        self.longest_hold = self.longest_hold.max(other.longest_hold);
        self.offloads_cancelled = self
            .offloads_cancelled
            .saturating_add(other.offloads_cancelled);
        self.offloads_restarted = self
            .offloads_restarted
            .saturating_add(other.offloads_restarted);
        self.remaps_installed = self.remaps_installed.saturating_add(other.remaps_installed);
        self.remaps_restaged = self.remaps_restaged.saturating_add(other.remaps_restaged);
        self.remaps_locked_after_staging = self
            .remaps_locked_after_staging
            .saturating_add(other.remaps_locked_after_staging);
    }

    /// Counts `n` bytes copied (saturating).
    pub fn add_copied(&mut self, n: u64) {
        self.bytes_copied = self.bytes_copied.saturating_add(n);
    }

    /// Counts `n` bytes done by sharing (saturating).
    pub fn add_shared(&mut self, n: u64) {
        self.bytes_shared = self.bytes_shared.saturating_add(n);
    }

    /// Counts `n` extents remapped (saturating).
    pub fn add_remapped(&mut self, n: u64) {
        self.extents_remapped = self.extents_remapped.saturating_add(n);
    }
}

/// What a single-threaded driver runs at a task's preemption points
/// ([`Task::set_preemption`]).
type Preemption = Box<dyn FnMut(Nanos) + Send>;

/// A simulated thread. Not shared between threads: each thread owns its task.
#[derive(Default)]
pub struct Task {
    pub tid: u32,
    now: Cell<Nanos>,
    signal: Cell<SignalPlan>,
    stats: RefCell<TaskStats>,
    preemption: RefCell<Option<Preemption>>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("tid", &self.tid)
            .field("now", &self.now.get())
            .field("signal", &self.signal.get())
            .field("stats", &self.stats.borrow())
            .finish_non_exhaustive()
    }
}

impl Task {
    /// A task with its clock at zero.
    pub fn new(tid: u32) -> Task {
        Task {
            tid,
            ..Task::default()
        }
    }

    /// The task's virtual time.
    pub fn now(&self) -> Nanos {
        self.now.get()
    }

    /// Spends `ns` of virtual time.
    pub fn charge(&self, ns: Nanos) {
        // Saturating: the cost of an exabyte-sized request must not wrap the clock.
        self.now.set(self.now.get().saturating_add(ns));
    }

    /// Moves the clock forward to `t` (no-op if already later); returns the wait.
    pub fn wait_until(&self, t: Nanos) -> Nanos {
        let wait = t.saturating_sub(self.now.get());
        self.now.set(self.now.get() + wait);
        wait
    }

    /// Installs (or with `None` removes) what runs at this task's preemption points: a
    /// single-threaded driver, such as `splicelab race`, runs there the other tasks whose
    /// virtual time has come, so that they find the locks as they are at this task's now.
    pub fn set_preemption(&self, run: Option<Preemption>) {
        *self.preemption.borrow_mut() = run;
    }

    /// A point inside a call where this task holds no lock and has done work on its
    /// clock since the call began (`remap=swap` between building a remap and installing
    /// it). With real threads nothing happens here; see [`Task::set_preemption`].
    pub fn preemption_point(&self) {
        // Taken out while it runs: the driver may use this task's clock, not the hook.
        let run = self.preemption.borrow_mut().take();
        if let Some(mut run) = run {
            run(self.now());
            let mut slot = self.preemption.borrow_mut();
            if slot.is_none() {
                *slot = Some(run);
            }
        }
    }

    /// Arranges a signal.
    pub fn plan_signal(&self, plan: SignalPlan) {
        self.signal.set(plan);
    }

    /// The planned signal not yet delivered: after how many more chunks it becomes pending
    /// (0: pending now), or `None`.
    pub fn planned_signal(&self) -> Option<u64> {
        self.signal.get().after_chunks
    }

    /// Called by a byte-copy loop before each chunk: whether a signal is pending now.
    /// Delivering it clears the plan.
    pub fn signal_pending(&self) -> bool {
        let plan = self.signal.get();
        match plan.after_chunks {
            Some(0) => {
                self.signal.set(SignalPlan::default());
                true
            }
            _ => false,
        }
    }

    /// Called by a byte-copy loop after each chunk: counts it towards a planned signal.
    pub fn chunk_done(&self, bytes: u64) {
        let mut plan = self.signal.get();
        if let Some(n) = plan.after_chunks.as_mut() {
            *n = n.saturating_sub(1);
        }
        self.signal.set(plan);
        let mut s = self.stats.borrow_mut();
        s.chunks = s.chunks.saturating_add(1);
        s.bytes_copied = s.bytes_copied.saturating_add(bytes);
    }

    /// Updates the statistics.
    pub fn with_stats<R>(&self, f: impl FnOnce(&mut TaskStats) -> R) -> R {
        f(&mut self.stats.borrow_mut())
    }

    /// A copy of the statistics.
    pub fn stats(&self) -> TaskStats {
        self.stats.borrow().clone()
    }

    /// Returns the statistics and starts counting afresh.
    pub fn take_stats(&self) -> TaskStats {
        std::mem::take(&mut self.stats.borrow_mut())
    }
}
