//! The simulated network between one client and the server.
//!
//! A message of `n` bytes sent at virtual time `t` arrives at `t + rtt/2 + n/bandwidth`.
//! A partition ([`Net::partition`]) drops every message sent inside its window
//! `[from, from + ns)`. What a caller then experiences depends on the mount:
//!
//! - **hard** (the default, as Linux `hard`): the client retransmits until the partition
//!   heals; the call simply takes longer (the wait is charged to the task's clock);
//! - **soft** (`timeo=` given): a call that cannot complete within `timeo` of being sent
//!   fails with `ETIMEDOUT` after charging `timeo` (as Linux `soft,softerr`). A request
//!   that reached the server but whose reply was delayed past `timeo` *was* done by the
//!   server even though the caller saw `ETIMEDOUT` — the well-known soft-mount hazard.
//!
//! Replies and callbacks sent during a partition are delivered when it heals (the client's
//! retransmission is answered from the server's reply cache). Message loss outside
//! partitions is not modelled.

use vfs::clock::{CostModel, Nanos};
use vfs::errno::{Errno, KResult};
use vfs::sync::Mutex;
use vfs::task::Task;

/// Link parameters (mount options `rtt=`, `bw=`, `timeo=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Round-trip time.
    pub rtt: Nanos,
    /// Bandwidth in bytes per second (each direction).
    pub bps: u64,
    /// Soft mount: give up after this long (`ETIMEDOUT`). `None`: hard mount.
    pub timeo: Option<Nanos>,
}

impl Default for NetConfig {
    /// 0.2 ms round trip, 10 Gbit/s (1.25 GB/s), hard mount.
    fn default() -> NetConfig {
        NetConfig {
            rtt: 200_000,
            bps: 1_250_000_000,
            timeo: None,
        }
    }
}

/// One client's link to the server.
#[derive(Debug)]
pub struct Net {
    cfg: NetConfig,
    /// The current partition window `[from, until)`, if any.
    partition: Mutex<Option<(Nanos, Nanos)>>,
}

impl Net {
    /// An independent copy of this link, partition included.
    pub fn fork(&self) -> Net {
        Net {
            cfg: self.cfg,
            partition: Mutex::new(*self.partition.lock()),
        }
    }

    /// A link with no partition.
    pub fn new(cfg: NetConfig) -> Net {
        Net {
            cfg,
            partition: Mutex::new(None),
        }
    }

    /// The link parameters.
    pub fn config(&self) -> NetConfig {
        self.cfg
    }

    /// Drops every message sent in `[from, from + ns)` (replacing an earlier partition).
    pub fn partition(&self, from: Nanos, ns: Nanos) {
        *self.partition.lock() = Some((from, from.saturating_add(ns)));
    }

    /// When the partition covering `t` heals, if `t` is inside one.
    pub fn partitioned_until(&self, t: Nanos) -> Option<Nanos> {
        match *self.partition.lock() {
            Some((from, until)) if from <= t && t < until => Some(until),
            _ => None,
        }
    }

    /// One-way transfer time of an `bytes`-byte message once it is on the wire.
    pub fn one_way(&self, bytes: u64) -> Nanos {
        (self.cfg.rtt / 2).saturating_add(CostModel::transfer(bytes, self.cfg.bps))
    }

    /// When a message of `bytes` sent at `t` arrives (after any partition heals).
    pub fn deliver(&self, t: Nanos, bytes: u64) -> Nanos {
        let start = self.partitioned_until(t).unwrap_or(t);
        // Saturating here and below: a partition that never heals ends at the end of
        // virtual time, and a message sent then arrives then (not at a wrapped time).
        start.saturating_add(self.one_way(bytes))
    }

    /// Sends a request of `bytes` from `task` now; returns its arrival time at the server.
    ///
    /// # Errors
    /// `ETIMEDOUT` (soft mount only) if a partition outlasts `timeo`; `timeo` is charged.
    pub fn send(&self, task: &Task, bytes: u64) -> KResult<Nanos> {
        let now = task.now();
        if let Some(until) = self.partitioned_until(now) {
            if let Some(timeo) = self.cfg.timeo
                && until - now > timeo
            {
                task.charge(timeo);
                return Err(Errno::ETIMEDOUT);
            }
            task.wait_until(until);
        }
        Ok(task.now().saturating_add(self.one_way(bytes)))
    }

    /// Receives a reply of `bytes` the server sent at `t` for a request `task` sent at
    /// `sent`: moves the task's clock to its arrival.
    ///
    /// # Errors
    /// `ETIMEDOUT` (soft mount only) if the reply arrives more than `timeo` after `sent`;
    /// the task's clock then stands at `sent + timeo`.
    pub fn receive(&self, task: &Task, sent: Nanos, t: Nanos, bytes: u64) -> KResult<()> {
        let at = self.deliver(t, bytes);
        if let Some(timeo) = self.cfg.timeo
            && at.saturating_sub(sent) > timeo
        {
            task.wait_until(sent.saturating_add(timeo));
            return Err(Errno::ETIMEDOUT);
        }
        task.wait_until(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_mounts_wait_and_soft_mounts_time_out() {
        let hard = Net::new(NetConfig::default());
        let t = Task::new(1);
        hard.partition(0, 1_000_000_000);
        let arrival = hard.send(&t, 0).unwrap();
        assert_eq!(t.now(), 1_000_000_000, "waited out the partition");
        assert_eq!(arrival, 1_000_000_000 + 100_000);

        let soft = Net::new(NetConfig {
            timeo: Some(50_000_000),
            ..NetConfig::default()
        });
        let t = Task::new(2);
        soft.partition(0, 1_000_000_000);
        assert_eq!(soft.send(&t, 0), Err(Errno::ETIMEDOUT));
        assert_eq!(t.now(), 50_000_000);
    }

    #[test]
    fn transfer_time_follows_bandwidth() {
        let n = Net::new(NetConfig::default());
        // 1.25 GB at 1.25 GB/s is one second, plus half the round trip.
        assert_eq!(n.one_way(1_250_000_000), 1_000_000_000 + 100_000);
    }
}
