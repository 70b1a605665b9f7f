//! Virtual time and the per-filesystem cost model.
//!
//! Every task (a simulated thread) carries its own virtual clock in nanoseconds. Work adds
//! its cost from the mount's [`CostModel`]; waiting for an inode lock moves the waiter's
//! clock to the time the holder released it (a Lamport clock over lock hand-offs), so waits
//! and lock-hold times are deterministic for a given order of lock acquisitions.

/// Virtual nanoseconds.
pub type Nanos = u64;

/// One second in [`Nanos`].
pub const SEC: Nanos = 1_000_000_000;

/// What operations cost on one filesystem. Bandwidths are bytes per second.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    /// Reading data from the device.
    pub media_read_bps: u64,
    /// Writing data to the device.
    pub media_write_bps: u64,
    /// Copying bytes in memory (page cache to page cache).
    pub mem_copy_bps: u64,
    /// Fixed cost of one system call / metadata operation.
    pub per_op_ns: Nanos,
    /// Cost of creating, splitting or sharing one extent (metadata update).
    pub per_extent_ns: Nanos,
    /// Cost of a cache flush / journal commit (fsync).
    pub flush_ns: Nanos,
    /// Network round trip (nfs-like only; 0 elsewhere).
    pub rpc_rtt_ns: Nanos,
    /// Network bandwidth (nfs-like only; 0 elsewhere).
    pub net_bps: u64,
}

impl CostModel {
    /// A local SSD-class device. Defaults documented in `docs/design.md` (cost models).
    pub fn local_ssd() -> CostModel {
        CostModel {
            media_read_bps: 2_000_000_000,
            media_write_bps: 1_000_000_000,
            mem_copy_bps: 8_000_000_000,
            per_op_ns: 1_000,
            per_extent_ns: 2_000,
            flush_ns: 1_000_000,
            rpc_rtt_ns: 0,
            net_bps: 0,
        }
    }

    /// Time to move `bytes` at `bps` bytes per second.
    pub fn transfer(bytes: u64, bps: u64) -> Nanos {
        if bps == 0 {
            return 0;
        }
        // Saturating: a slow link and an exabyte must not wrap around to a short time.
        ((bytes as u128 * SEC as u128) / bps as u128).min(Nanos::MAX as u128) as Nanos
    }

    /// A byte copy of `bytes` within the device: read it, write it.
    pub fn byte_copy(&self, bytes: u64) -> Nanos {
        Self::transfer(bytes, self.media_read_bps) + Self::transfer(bytes, self.media_write_bps)
    }

    /// Reading `bytes` into user memory.
    pub fn read(&self, bytes: u64) -> Nanos {
        self.per_op_ns + Self::transfer(bytes, self.media_read_bps)
    }

    /// Writing `bytes` from user memory.
    pub fn write(&self, bytes: u64) -> Nanos {
        self.per_op_ns + Self::transfer(bytes, self.media_write_bps)
    }

    /// A metadata operation touching `extents` extents.
    pub fn metadata(&self, extents: u64) -> Nanos {
        self.per_op_ns + self.per_extent_ns * extents
    }

    /// Installing a remap built outside the inode locks (`remap=swap`) over `extents`
    /// extents: one metadata operation plus one extent update per level of a balanced
    /// tree holding them — the new subtree's root is swapped in and the reference-count
    /// changes are queued as one record; nothing is done per extent.
    pub fn install(&self, extents: u64) -> Nanos {
        let levels = u64::from(u64::BITS - extents.leading_zeros());
        self.per_op_ns + self.per_extent_ns * levels
    }
}

/// Formats virtual time for people: `1.25 s`, `3.10 ms`, `12 µs`, `800 ns`.
pub fn fmt_nanos(ns: Nanos) -> String {
    match ns {
        n if n >= SEC => format!("{:.2} s", n as f64 / SEC as f64),
        n if n >= 1_000_000 => format!("{:.2} ms", n as f64 / 1e6),
        n if n >= 1_000 => format!("{} µs", n / 1_000),
        n => format!("{n} ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_copy_of_a_gib_takes_about_1_5_s_on_the_default_ssd() {
        let c = CostModel::local_ssd();
        let t = c.byte_copy(1 << 30);
        assert!(t > SEC && t < 2 * SEC, "{}", fmt_nanos(t));
        assert_eq!(fmt_nanos(1_500), "1 µs");
    }
}
