//! nfs-like: an NFSv4.2 client mount talking to a simulated server over a simulated
//! network (RFC 7862 for COPY, CLONE and the offload operations; RFC 8881 for WRITE,
//! COMMIT and sessions).
//!
//! ```text
//!  VFS ──► NfsClient (FileSystem) ──Net: rtt, bandwidth, partitions──► NfsServer ──► backend
//!          page cache of UNSTABLE writes                               write verifier   (any model
//!          uncommitted log, COMMIT/replay                              async copies      from spec::make)
//! ```
//!
//! Mount spec: `nfs-like:server=btrfs-like,policy=strict,async=1,copy=reflink,rtt=200us,bw=10gbit`.
//! Inode numbers are the server backend's (file handles); [`FileSystem::image`] and
//! [`FileSystem::fsck`] are the backend's, so sharing created by the server is visible with
//! `image().shared_blocks(..)`.
//!
//! # Options (defaults)
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `server=MODEL` | `btrfs-like` if registered, else `plain` | the exported backend (any model but nfs-like) |
//! | `size=`, `journal=` | backend's | passed to the backend |
//! | `srvKEY=V` | — | passed to the backend as `KEY=V` (e.g. `srvchunk=64k`) |
//! | `policy=strict\|lenient` | `strict` | never-share copies: see below |
//! | `async=0\|1` | `0` | COPY with `ca_synchronous` false, wait for CB_OFFLOAD |
//! | `copy=reflink\|bytes` | `reflink` | how the server implements COPY |
//! | `copychunk=SIZE` | `4m` | server copy step; the most data one synchronous COPY does (at least 512) |
//! | `copysync=0\|1` | `0` | server commits a COPY and answers FILE_SYNC4 (else UNSTABLE4) |
//! | `reboot_after=SIZE` | off | one-shot: server reboots when an async copy has done SIZE bytes |
//! | `rtt=DURATION` | `200us` | round trip (`ns`, `us`, `ms`, `s`; decimals allowed) |
//! | `bw=RATE` | `10gbit` (1.25 GB/s) | bytes/s with size suffixes (`1g` = 1 GiB/s) or `NNkbit`/`mbit`/`gbit` (decimal bits/s) |
//! | `timeo=DURATION` | none (hard mount) | soft mount: `ETIMEDOUT` when a call cannot finish within it |
//! | `wsize=SIZE` | `1m` | bytes per READ/WRITE RPC (at least 512) |
//! | `wback=SIZE` | `4m` | dirty bytes per file before write-back (0 = at once, else at least 512) |
//! | `chunk=SIZE` | `1m` | the VFS byte-copy chunk for fallbacks (at least 512) |
//!
//! Step sizes (`chunk`, `wsize`, `copychunk`, a non-zero `wback`) below 512 bytes, one
//! sector ([`crate::spec::MIN_STEP`]), are refused: they would make work grow with every
//! byte copied or written.
//!
//! # Decisions
//!
//! 1. **Network faults** ([`net`]): a partition makes calls on a hard mount wait until it
//!    heals (the wait is charged); with `timeo=` they fail with `ETIMEDOUT` after `timeo`.
//!    Message loss outside partitions is not modelled. A soft mount is the one place where
//!    a call that failed may still change a file: a request that reached the server before
//!    its reply was lost was carried out (the well-known soft-mount hazard), and for an
//!    asynchronous COPY that means a copy the client never heard of runs to its end. (A
//!    client already waiting for a copy never gives up on it: a cancel the partition
//!    swallows turns into waiting for CB_OFFLOAD, which the server sends once it heals.)
//! 2. **Costs**: every operation with a task is an RPC: `rtt + bytes/bw` plus the server's
//!    work, charged by the backend on a server task clock that starts at the request's
//!    arrival and is folded into the caller's clock at the reply ([`client`]).
//! 3. **Stable storage**: the backend's durable state. WRITE and COPY answer UNSTABLE4
//!    (unless `copysync=1`); COMMIT is the backend's fsync; namespace/attribute changes and
//!    CLONE are committed before the reply ([`server`]).
//! 4. **Server reboot** (`Fault::Reboot`, script `inject reboot`): backend `crash(0)` (its
//!    last committed state), new write verifier, all asynchronous copies forgotten. Clients
//!    notice at their next operation with a task (session recovery: one extra round trip,
//!    then the logged COPYs are done again so reads see their data; lost WRITEs stay visible
//!    from the cache) and at COMMIT (verifier mismatch → the whole uncommitted log — cached
//!    WRITEs and logged COPYs — is sent again in order, then COMMIT again; a replay cut short
//!    by an error is replayed again at the next COMMIT whatever the verifiers say, since
//!    what it re-sent may have overwritten later entries on the server). Task-less calls
//!    (`getattr`) may show the rebooted server's sizes until then. A COPY that cannot be
//!    done again during session recovery (`ENOSPC`, a media error, a source that lost the
//!    data) is dropped with the rest of that file's lost COPYs, and the error goes to the
//!    file's next `fsync`, not to the call that noticed the reboot — as Linux drops a page
//!    whose write-back failed and reports it through the mapping's errseq.
//! 5. **Client crash** (`FileSystem::crash`): dirty and logged data are lost; the server keeps
//!    whatever it had received (it did not crash), stops the client's asynchronous copies
//!    and frees files the client had unlinked (lease expiry). `crash_states` is that single
//!    image. The new client instance COMMITs each file once before its first COPY or CLONE
//!    from or into it, since the server may hold the crashed instance's UNSTABLE data.
//! 6. **Never-share copies** (`CopyHow::no_share`) — the open question: NFSv4.2 COPY cannot
//!    say "don't share", and a server on btrfs or XFS implements COPY with a reflink
//!    (`copy=reflink`). `policy=strict` answers `EOPNOTSUPP` (the VFS then copies through the
//!    client, over the network) unless the server advertises the lab-extension capability
//!    "non-sharing COPY" ([`ServerCaps::nonsharing_copy`], only with `copy=bytes`);
//!    `policy=lenient` sends COPY anyway and shared blocks can appear on the server. After
//!    the client-side byte copy the VFS calls [`vfs::FileSystem::unshare_copied`]: the
//!    client sends the cached bytes (WRITE) before the splice returns, so the server's file
//!    system has moved the range off any block it shared (a destination that was a reflink
//!    of the source) — spec §2's "no destination block shared after return".
//! 7. **Which operation each call sends** (as Linux 6.x's client): `copy_file_range` and
//!    the offloaded parts of never/may-share splices send COPY only (`nfs42_proc_copy`);
//!    CLONE is sent by the remap ioctls and by the VFS for a may-share splice's aligned
//!    middle ([`NfsClient`]'s `remap_file_range`). After NFS4ERR_NOTSUPP to CLONE the
//!    client stops asking (`NFS_CAP_CLONE`). The server decides for each COPY afresh
//!    whether its backend shares: one refusal (two ocfs2 files in different refcount
//!    trees) changes nothing for the next COPY.
//! 8. **One COPY per call, under the destination's inode lock.** The VFS holds the
//!    destination's inode lock around each `->copy_file_range` call (`nfs42_proc_copy`
//!    does), and a call sends one COPY: a synchronous one does at most `copychunk` bytes
//!    and answers (a short count is normal: `copy_file_range` returns it, a splice calls
//!    again, checking for a signal in between). So a reader or writer of the destination
//!    waits for at most one server step; of the source, not at all.
//! 9. **Asynchronous COPY** (`async=1`): one COPY returns a callback stateid; the client
//!    sleeps until CB_OFFLOAD, waking at the end of each server chunk — the points where a
//!    planned signal (`Task::signal_pending`, counted by `Task::chunk_done`) is delivered.
//!    A signal sends OFFLOAD_STATUS + OFFLOAD_CANCEL; the server stops at the next chunk
//!    boundary (a chunk that started before the cancel arrived still finishes) and the call
//!    returns the bytes done (`EINTR` if none). **No copy outlives its call**: a call
//!    returns only after CB_OFFLOAD, a cancel or the copy's loss, so a call that returned
//!    an error has nothing running that could change a file later. `SPLICE_F_NONBLOCK`
//!    (`how.nonblock`) does not wait for a callback at all: the client sends a synchronous
//!    COPY (one server step) instead.
//! 10. **Copy results**: an UNSTABLE4 COPY result (also a partial one after cancel) goes into
//!     the destination's uncommitted log and is re-COPYed if the verifier changes before a
//!     COMMIT; rules R1/R2 in [`client`] keep the source unchanged until then.
//! 11. **Reboot during an asynchronous copy**: the server forgets the copy. The client
//!     learns it (OFFLOAD_STATUS: NFS4ERR_BAD_STATEID), recovers its session and sends the
//!     COPY again — what the Linux client does when state recovery marks a copy — up to
//!     four times; only then does the call fail with `EIO`. R1 committed source and
//!     destination before the first attempt, so each attempt starts from the same durable
//!     state. (Of a lost attempt, only what the server's file system had already written
//!     back by itself can remain; a call that then ends in `EIO` is the one case where a
//!     failed copy may leave bytes of itself in the destination, as a server crash during
//!     an unacknowledged WRITE can.) Deterministic trigger: mount option `reboot_after=SIZE`,
//!     script `inject reboot after SIZE`, or [`NfsServer::arm_reboot_after`] (reboot when an
//!     async copy reaches SIZE bytes).
//! 12. **Holes cost nothing to copy or read** (work bounded by extents, never by bytes): a
//!     server copy step is the source hole it starts at, whatever its length, plus the
//!     data up to the next hole (at most `copychunk`); where the destination has no block
//!     either, the hole is copied as a hole (a shorter destination is extended, SETATTR),
//!     and where it has blocks (data, or preallocated and possibly shared) zeroes are
//!     written, at most `copychunk` per step, as a byte copy writes them — so a copy
//!     between two exabyte sparse files is a few COPYs, leaves the destination sparse, and
//!     a never-share copy leaves no destination block shared. A READ answers a leading hole as one hole segment
//!     (as READ_PLUS does, RFC 7862 §15.10), then at most `wsize` bytes; only data costs
//!     wire bytes. (Linux nfsd copies holes as zeroes; the lab keeps them holes so that the
//!     simulator's cost follows extents, spec §4.)
//! 13. **Not modelled**: FIEMAP (NFS has none: `EOPNOTSUPP`, as on Linux), dedupe
//!     (`EOPNOTSUPP`), silly rename (a file unlinked while open does not survive a server
//!     reboot: `ESTALE`), other clients' changes to a file this client caches.

mod cache;
pub mod client;
pub mod net;
pub mod proto;
pub mod server;

use vfs::FileSystem;
use vfs::clock::Nanos;
use vfs::sync::Arc;

pub use client::{ClientOptions, NfsClient, NfsStats, Policy, client_side_copy};
pub use net::{Net, NetConfig};
pub use proto::{ServerCaps, StableHow, Verifier};
pub use server::{CopyMethod, NfsServer, ServerOptions, ServerStats};

use crate::spec::{Spec, parse_size};

/// Everything an `nfs-like` mount spec says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NfsOptions {
    /// The backend's own mount spec (`btrfs-like:size=1g`).
    pub backend: String,
    pub server: ServerOptions,
    pub client: ClientOptions,
    pub net: NetConfig,
}

/// The option names an `nfs-like` spec accepts (plus `srvKEY=` pass-through).
pub const OPTIONS: &[&str] = &[
    "server",
    "size",
    "journal",
    "policy",
    "async",
    "copy",
    "copychunk",
    "copysync",
    "reboot_after",
    "rtt",
    "bw",
    "timeo",
    "wsize",
    "wback",
    "chunk",
];

/// Parses a duration: a number (decimals allowed) and a unit `ns`, `us` (or `µs`), `ms`
/// or `s`.
///
/// # Errors
/// A message naming the bad duration (no unit, unknown unit, not a number, overflow).
pub fn parse_duration(s: &str) -> Result<Nanos, String> {
    let bad = || format!("invalid duration '{s}' (use a number with ns, us, ms or s)");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return Err(bad()),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let ns = v * mult;
    if !ns.is_finite() || ns >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(ns.round() as Nanos)
}

/// Parses a bandwidth in bytes per second: a size (`1g` = 2^30 B/s, as
/// [`parse_size`]) or decimal bits per second with `bit` (`10gbit` = 1.25·10^9 B/s,
/// `100mbit`, `512kbit`).
///
/// # Errors
/// A message naming the bad rate (malformed, zero, overflow).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid bandwidth '{s}' (e.g. 1g for 1 GiB/s, or 10gbit)");
    let lower = s.trim().to_ascii_lowercase();
    let bps = if let Some(num) = lower.strip_suffix("bit") {
        let split = num.find(|c: char| !c.is_ascii_digit()).unwrap_or(num.len());
        let (n, unit) = num.split_at(split);
        let n: u64 = n.parse().map_err(|_| bad())?;
        let mult: u64 = match unit {
            "" => 1,
            "k" => 1_000,
            "m" => 1_000_000,
            "g" => 1_000_000_000,
            "t" => 1_000_000_000_000,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).ok_or_else(bad)? / 8
    } else {
        parse_size(&lower).map_err(|_| bad())?
    };
    if bps == 0 {
        return Err(bad());
    }
    Ok(bps)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("nfs-like: {key}={v}: expected 0 or 1")),
    }
}

/// A step-size option: at least [`crate::spec::MIN_STEP`] bytes.
fn step_size(key: &str, v: &str) -> Result<u64, String> {
    let n = parse_size(v).map_err(|e| format!("nfs-like: {key}: {e}"))?;
    crate::spec::check_step(key, v, n).map_err(|e| format!("nfs-like: {e}"))
}

fn positive_size(key: &str, v: &str) -> Result<u64, String> {
    let n = parse_size(v).map_err(|e| format!("nfs-like: {key}: {e}"))?;
    if n == 0 {
        return Err(format!("nfs-like: {key} must be at least 1 byte"));
    }
    Ok(n)
}

impl NfsOptions {
    /// Parses the options of an `nfs-like` spec; `models` are the model names the backend
    /// may be (for the default and for errors).
    ///
    /// # Errors
    /// A message naming the first unknown option or bad value; `server=nfs-like` is refused
    /// (an nfs-like server exports a local model).
    pub fn parse(options: &[(String, String)], models: &[&str]) -> Result<NfsOptions, String> {
        let default_server = if models.contains(&"btrfs-like") {
            "btrfs-like"
        } else {
            "plain"
        };
        let mut model = default_server.to_string();
        let mut backend_opts: Vec<String> = Vec::new();
        let mut server = ServerOptions::default();
        let mut client = ClientOptions::default();
        let mut net = NetConfig::default();
        for (k, v) in options {
            let v = v.as_str();
            match k.as_str() {
                "server" => {
                    if v == "nfs-like" {
                        return Err("nfs-like: server=nfs-like: the server exports a local \
                                    model, not another nfs-like mount"
                            .into());
                    }
                    model = v.to_string();
                }
                "size" | "journal" => backend_opts.push(format!("{k}={v}")),
                "policy" => {
                    client.policy = match v {
                        "strict" => Policy::Strict,
                        "lenient" => Policy::Lenient,
                        _ => {
                            return Err(format!(
                                "nfs-like: policy={v}: expected strict or lenient"
                            ));
                        }
                    }
                }
                "async" => client.async_copy = parse_bool(k, v)?,
                "copy" => {
                    server.copy = match v {
                        "reflink" => CopyMethod::Reflink,
                        "bytes" => CopyMethod::Bytes,
                        _ => {
                            return Err(format!("nfs-like: copy={v}: expected reflink or bytes"));
                        }
                    }
                }
                "copychunk" => server.copy_chunk = step_size(k, v)?,
                "copysync" => server.copy_sync = parse_bool(k, v)?,
                "reboot_after" => server.reboot_after = Some(positive_size(k, v)?),
                "rtt" => net.rtt = parse_duration(v).map_err(|e| format!("nfs-like: rtt: {e}"))?,
                "bw" => net.bps = parse_rate(v).map_err(|e| format!("nfs-like: bw: {e}"))?,
                "timeo" => {
                    let t = parse_duration(v).map_err(|e| format!("nfs-like: timeo: {e}"))?;
                    if t == 0 {
                        return Err("nfs-like: timeo must be longer than 0".into());
                    }
                    net.timeo = Some(t);
                }
                "wsize" => client.wsize = step_size(k, v)?,
                "wback" => {
                    client.wback = parse_size(v).map_err(|e| format!("nfs-like: wback: {e}"))?;
                    if client.wback != 0 {
                        client.wback = step_size(k, v)?;
                    }
                }
                "chunk" => client.chunk = step_size(k, v)?,
                other => match other.strip_prefix("srv") {
                    Some(key) if !key.is_empty() => backend_opts.push(format!("{key}={v}")),
                    _ => {
                        return Err(format!(
                            "nfs-like: unknown mount option '{other}' (known: {}, srvKEY=VALUE)",
                            OPTIONS.join(", ")
                        ));
                    }
                },
            }
        }
        let backend = if backend_opts.is_empty() {
            model
        } else {
            format!("{model}:{}", backend_opts.join(","))
        };
        Ok(NfsOptions {
            backend,
            server,
            client,
            net,
        })
    }
}

/// Mounts a client of a fresh server exporting `backend`.
pub fn mount(backend: Arc<dyn FileSystem>, opts: &NfsOptions) -> NfsClient {
    let server = NfsServer::new(backend, opts.server.clone());
    NfsClient::new(server, opts.net, opts.client.clone())
}

/// Builds an `nfs-like` mount from a parsed spec (called by [`crate::spec::make`]).
///
/// # Errors
/// A message for a bad option or a backend spec `spec::make` refuses.
pub fn make(sp: &Spec) -> Result<Arc<dyn FileSystem>, String> {
    let opts = NfsOptions::parse(&sp.options, crate::spec::MODELS)?;
    let backend = crate::spec::make(&opts.backend).map_err(|e| format!("nfs-like: server: {e}"))?;
    Ok(Arc::new(mount(backend, &opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &str) -> Result<NfsOptions, String> {
        let sp = Spec::parse(s)?;
        NfsOptions::parse(&sp.options, &["plain", "btrfs-like"])
    }

    #[test]
    fn defaults_and_every_option() {
        let d = opts("nfs-like").unwrap();
        assert_eq!(d.backend, "btrfs-like");
        assert_eq!(d.client.policy, Policy::Strict);
        assert!(!d.client.async_copy);
        assert_eq!(d.server.copy, CopyMethod::Reflink);
        assert_eq!(d.net.rtt, 200_000);
        assert_eq!(d.net.bps, 1_250_000_000);
        assert_eq!(d.net.timeo, None);
        let sp = Spec::parse("nfs-like").unwrap();
        assert_eq!(
            NfsOptions::parse(&sp.options, &["plain"]).unwrap().backend,
            "plain"
        );

        let o = opts(
            "nfs-like:server=plain,size=1g,srvchunk=64k,policy=lenient,async=1,copy=bytes,\
             copychunk=1m,copysync=1,reboot_after=8m,rtt=1.5ms,bw=1g,timeo=2s,wsize=64k,\
             wback=0,chunk=256k",
        )
        .unwrap();
        assert_eq!(o.backend, "plain:size=1g,chunk=64k");
        assert_eq!(o.client.policy, Policy::Lenient);
        assert!(o.client.async_copy);
        assert_eq!(o.server.copy, CopyMethod::Bytes);
        assert_eq!(o.server.copy_chunk, 1 << 20);
        assert!(o.server.copy_sync);
        assert_eq!(o.server.reboot_after, Some(8 << 20));
        assert_eq!(o.net.rtt, 1_500_000);
        assert_eq!(o.net.bps, 1 << 30);
        assert_eq!(o.net.timeo, Some(2_000_000_000));
        assert_eq!(o.client.wsize, 64 << 10);
        assert_eq!(o.client.wback, 0);
        assert_eq!(o.client.chunk, 256 << 10);
    }

    #[test]
    fn bad_options_are_clear_errors() {
        for (spec, want) in [
            ("nfs-like:colour=blue", "unknown mount option 'colour'"),
            (
                "nfs-like:policy=loose",
                "policy=loose: expected strict or lenient",
            ),
            ("nfs-like:async=yes", "async=yes: expected 0 or 1"),
            (
                "nfs-like:copy=clone",
                "copy=clone: expected reflink or bytes",
            ),
            ("nfs-like:rtt=200", "invalid duration '200'"),
            ("nfs-like:bw=fast", "invalid bandwidth 'fast'"),
            ("nfs-like:bw=0", "invalid bandwidth '0'"),
            ("nfs-like:copychunk=0", "copychunk=0: at least 512 bytes"),
            (
                "nfs-like:chunk=1",
                "chunk=1: at least 512 bytes (one sector)",
            ),
            ("nfs-like:wsize=511", "wsize=511: at least 512 bytes"),
            ("nfs-like:wback=1", "wback=1: at least 512 bytes"),
            ("nfs-like:server=nfs-like", "server=nfs-like"),
            ("nfs-like:srv=1", "unknown mount option 'srv'"),
        ] {
            let e = opts(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }

    #[test]
    fn durations_and_rates() {
        assert_eq!(parse_duration("200us"), Ok(200_000));
        assert_eq!(parse_duration("0.2ms"), Ok(200_000));
        assert_eq!(parse_duration("3s"), Ok(3_000_000_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("ms").is_err());
        assert_eq!(parse_rate("10gbit"), Ok(1_250_000_000));
        assert_eq!(parse_rate("100MBIT"), Ok(12_500_000));
        assert_eq!(parse_rate("512k"), Ok(512 << 10));
        assert!(parse_rate("99999999999999999999gbit").is_err());
    }
}
