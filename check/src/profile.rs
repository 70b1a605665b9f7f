//! What the checks need to know about a model, found by asking the mounted filesystem.
//!
//! The checker names no model in its logic: block size, remap granularity, chunk size,
//! whether it can share (asked with a clone on a fork), whether FIEMAP works and the cost
//! model all come from the [`FileSystem`] trait. Facts of the contract come from the
//! model's type name, because asking the model would let a broken one answer for itself:
//! nfs-like is a network client (the server holds the image; durability is per file
//! through COMMIT), and which models overwrite unshared blocks in place (SPEC §4).

use vfs::Data;
use vfs::FileSystem;
use vfs::clock::{CostModel, Nanos};
use vfs::errno::Errno;
use vfs::extent::{FileKind, ROOT_INO};
use vfs::task::Task;

/// The facts about one mounted model that the checks use.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// The mount spec it was built from.
    pub spec: String,
    /// `fs_type()`.
    pub fs_type: String,
    /// Allocation unit (block or cluster) in bytes: the sharing granularity (A6).
    pub block: u64,
    /// Remap alignment in bytes.
    pub remap_block: u64,
    /// Byte-copy chunk in bytes.
    pub chunk: u64,
    /// Whether it shares extents: it has `->remap_file_range` and a one-block clone between
    /// two new files works ([`probe_shares`]; xfs-like `reflink=0` has the method and
    /// refuses every clone).
    pub shares: bool,
    /// Whether `FS_IOC_FIEMAP` works.
    pub fiemap: bool,
    /// A network client (nfs-like): its `image()` is the server's.
    pub nfs: bool,
    /// Nothing survives a crash (tmpfs-like): `fsync` is no durability point.
    pub volatile: bool,
    /// Whether an overwrite of written, unshared blocks stays in place (no allocation call):
    /// [`overwrites_in_place`].
    pub overwrites_in_place: bool,
    /// The most bytes one storage request carries ([`FileSystem::io_size`]: nfs-like
    /// `wsize`).
    pub io_size: u64,
    /// Growing a file rewrites its EOF block even when it is a hole or unwritten
    /// (btrfs `btrfs_truncate_block`; [`vfs::extent::Image::zero_eof_allocates`]).
    pub zero_eof_allocates: bool,
    /// A remap leaves a hole where the source is unwritten instead of sharing it (XFS
    /// remaps written extents only, `xfs_reflink_remap_extent`): xfs-like, and an nfs-like
    /// client, whose server may be one.
    pub remap_skips_unwritten: bool,
    /// The mount stages remaps (`remap=swap`): a clone or dedupe builds its result with no
    /// inode lock held and holds the locks only to install it. From the spec, not asked:
    /// a model that ignored the option would otherwise be judged by its own answer.
    pub remap_swap: bool,
    pub cost: CostModel,
}

impl Profile {
    /// Asks `fs` (mounted from `spec`).
    pub fn of(spec: &str, fs: &dyn FileSystem) -> Profile {
        let fs_type = fs.fs_type().to_string();
        let st = fs.statfs();
        Profile {
            spec: spec.to_string(),
            nfs: fs_type.starts_with("nfs"),
            remap_skips_unwritten: fs_type == "xfs-like" || fs_type.starts_with("nfs"),
            remap_swap: fs_models::spec::Spec::parse(spec)
                .is_ok_and(|sp| sp.options.iter().any(|(k, v)| k == "remap" && v == "swap")),
            volatile: fs.volatile(),
            fs_type,
            block: st.block_size,
            remap_block: fs.remap_block_size().max(1),
            chunk: fs.chunk_size().max(1),
            io_size: fs.io_size().max(1),
            shares: probe_shares(fs),
            overwrites_in_place: overwrites_in_place(fs.fs_type()),
            zero_eof_allocates: fs.image().zero_eof_allocates,
            fiemap: fs.fiemap(ROOT_INO) != Err(Errno::EOPNOTSUPP),
            cost: fs.cost().clone(),
        }
    }

    /// Whether this model's answers about sharing are predictable enough to demand that a
    /// must-share of an aligned, non-overlapping range succeeds.
    pub fn strict_sharing(&self) -> bool {
        self.shares && !self.nfs
    }

    /// Whether the extent maps the checks read are what the client sees: false for a
    /// network client without FIEMAP, whose maps are the server's (and change when the
    /// client flushes).
    pub fn client_view_map(&self) -> bool {
        self.fiemap || !self.nfs
    }

    /// Whether `pwrite` must allocate exactly one block per hole or shared block it
    /// covers (spec §6.2 for ocfs2-like: overwriting an unshared block needs no space).
    pub fn exact_write_allocation(&self) -> bool {
        !self.nfs
    }

    /// The virtual time one chunk of byte copy may hold an inode lock (spec §6.7): read
    /// and write of one chunk, a memory copy of it, and for a network model the round trips
    /// and transfers, plus an eighth for slack and one more operation. (A hold of two chunks
    /// is twice that less the slack, so a lock held across chunks shows.)
    pub fn chunk_hold_bound(&self) -> Nanos {
        let c = &self.cost;
        let k = self.chunk;
        let one = c.read(k)
            + c.write(k)
            + CostModel::transfer(k, c.mem_copy_bps)
            + 2 * c.rpc_rtt_ns
            + 2 * CostModel::transfer(k, c.net_bps);
        one + one / 8 + c.per_op_ns
    }

    /// [`Profile::chunk_hold_bound`] for a byte copy from a file on mount `src` to one on
    /// mount `dst` (issue 19): the chunk is the *smaller* of the two mounts' chunks
    /// (`do_splice_direct`), read at the source's cost and written at the destination's;
    /// the memory copy and the network terms at the slower side's rate.
    pub fn chunk_hold_bound_between(src: &Profile, dst: &Profile) -> Nanos {
        let (r, w) = (&src.cost, &dst.cost);
        let k = src.chunk.min(dst.chunk);
        let slower = |f: fn(&CostModel) -> u64| {
            CostModel::transfer(k, f(r)).max(CostModel::transfer(k, f(w)))
        };
        let one = r.read(k)
            + w.write(k)
            + slower(|c| c.mem_copy_bps)
            + 2 * r.rpc_rtt_ns.max(w.rpc_rtt_ns)
            + 2 * slower(|c| c.net_bps);
        one + one / 8 + r.per_op_ns.max(w.per_op_ns)
    }

    /// The virtual time a remap of `extents` extents may hold the inode locks: O(extents),
    /// never O(bytes) — except on a network client, which first writes back and commits
    /// both files under the locks (NFS CLONE and COPY need the data on the server; Linux's
    /// client does the same inside `inode_lock`), and whose offloaded COPY runs under the
    /// destination's lock: `dirty` is what the call may have to write back or have the
    /// server copy meanwhile (the checks pass every byte the files hold), allowed there on
    /// top of a few commits and round trips.
    pub fn remap_hold_bound(&self, extents: u64, dirty: u64) -> Nanos {
        let c = &self.cost;
        let mut b = c.metadata(16 + 4 * extents) + 4 * c.rpc_rtt_ns;
        if self.nfs {
            b += 8 * (c.flush_ns.max(1_000_000) + c.rpc_rtt_ns) + self.write_back_bound(dirty);
        }
        b
    }

    /// The virtual time a staged remap (`remap=swap`) of `extents` extents may hold the
    /// inode locks (spec §6.7 extended, issue 20): the install step only —
    /// [`CostModel::install`], logarithmic in the extents, plus one operation of slack.
    pub fn install_hold_bound(&self, extents: u64) -> Nanos {
        self.cost.install(extents) + self.cost.per_op_ns
    }

    /// What sending and storing `bytes` to a network server may take: the transfer, one
    /// round trip per `io_size` request, and the server's write (or copy) of them.
    pub fn write_back_bound(&self, bytes: u64) -> Nanos {
        let c = &self.cost;
        CostModel::transfer(bytes, c.net_bps)
            + (bytes.div_ceil(self.io_size) + 1) * c.rpc_rtt_ns
            + c.byte_copy(bytes)
            + c.per_op_ns * (bytes.div_ceil(self.io_size) + 1)
    }
}

/// Whether `fs` really shares extents: asks a fork of it (so `fs` itself is untouched) to
/// clone one block between two new files. A model without a remap method does not; one
/// that cannot be forked is taken at its word (`has_remap`).
pub fn probe_shares(fs: &dyn FileSystem) -> bool {
    if !fs.has_remap() {
        return false;
    }
    let Some(f) = fs.fork() else {
        return true;
    };
    let t = Task::new(0);
    let bs = f.remap_block_size().max(f.statfs().block_size).max(1);
    let cloned = (|| {
        let a = f.create(&t, ROOT_INO, ".probe-src", FileKind::Regular)?;
        let b = f.create(&t, ROOT_INO, ".probe-dst", FileKind::Regular)?;
        f.write(&t, a, 0, &Data::fill(1, bs))?;
        f.remap_file_range(&t, a, 0, b, 0, bs, 0)
    })();
    cloned != Err(Errno::EOPNOTSUPP)
}

/// Whether model `fs_type` promises to overwrite written, unshared blocks in place (no
/// allocation call): a fact of the contract, not something to ask the model — a model that
/// copied on every overwrite would answer a probe "no" and escape the check. SPEC §4 for
/// ocfs2-like ("in-place overwrite of unshared clusters") and so xfs-like, its 4 KiB
/// configuration; plain and tmpfs-like by design; btrfs-like copies every write, and a
/// network client's writes reach the server later.
pub fn overwrites_in_place(fs_type: &str) -> bool {
    matches!(fs_type, "ocfs2-like" | "xfs-like" | "plain" | "tmpfs-like")
}

/// The options the checks add to a mount spec that does not set them, when the model
/// accepts them: a small disk (64 MiB) so images stay cheap; a 16 KiB byte-copy chunk so
/// that copies of a few blocks take several chunks (signals, blocking and
/// crash-in-the-middle states get exercised); and on nfs-like a 16 KiB server copy step, so
/// that one COPY is several server chunks (signals cancel asynchronous copies part-way,
/// armed reboots lose them part-way).
pub const CHECK_DEFAULTS: &[(&str, &str)] =
    &[("size", "64m"), ("chunk", "16k"), ("copychunk", "16k")];

/// The mount spec the checks use for `model` (a model name or a whole mount spec): the
/// spec with each of [`CHECK_DEFAULTS`] it does not set and the model accepts.
pub fn spec_for(model: &str) -> String {
    let Ok(sp) = fs_models::spec::Spec::parse(model) else {
        return model.to_string();
    };
    let mut spec = model.to_string();
    for (key, value) in CHECK_DEFAULTS {
        if sp.options.iter().any(|(k, _)| k == key) {
            continue;
        }
        let sep = if spec.contains(':') { ',' } else { ':' };
        let cand = format!("{spec}{sep}{key}={value}");
        if fs_models::spec::make(&cand).is_ok() {
            spec = cand;
        }
    }
    spec
}

/// Every model `fs_models::spec::MODELS` lists, as check specs.
pub fn all_specs() -> Vec<String> {
    fs_models::spec::MODELS
        .iter()
        .map(|m| spec_for(m))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(spec: &str) -> Profile {
        let spec = spec_for(spec);
        let fs = fs_models::spec::make(&spec).expect("spec");
        Profile::of(&spec, &*fs)
    }

    #[test]
    fn probes_ask_the_model() {
        for (spec, shares, in_place) in [
            ("plain", false, true),
            ("tmpfs-like", false, true),
            ("btrfs-like", true, false),
            ("ocfs2-like", true, true),
            ("xfs-like", true, true),
            ("xfs-like:reflink=0", false, true),
            ("nfs-like", true, false),
            ("nfs-like:server=plain", false, false),
        ] {
            let p = profile(spec);
            assert_eq!(
                (p.shares, p.overwrites_in_place),
                (shares, in_place),
                "{spec}"
            );
        }
    }
}
