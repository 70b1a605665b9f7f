//! The NFSv4.2 client: a [`FileSystem`] whose every operation is an RPC to an
//! [`NfsServer`] over a [`Net`].
//!
//! ## Cost of an RPC
//! The request leaves at the task's `now` (after waiting out a partition, or failing with
//! `ETIMEDOUT` on a soft mount), arrives after `rtt/2 + bytes/bw`, is served on a server
//! [`Task`] whose clock starts at the arrival (the backend charges its work there), and the
//! reply arrives `rtt/2 + bytes/bw` after the server finished; the task's clock moves to
//! that moment. The first call after a server reboot first recovers the session
//! (NFS4ERR_BADSESSION, RFC 8881 §2.10: one more round trip) and COPYs again the logged
//! COPYs the reboot lost, so that reads see them. Calls without a task (`lookup`,
//! `getattr`, `statfs`, `seek_data_hole`, `evict`) cost nothing: they stand for the
//! client's attribute and dentry caches.
//!
//! ## Data path (RFC 8881 §18.32 WRITE, §18.3 COMMIT)
//! `write` copies into the client's cache (dirty, a memory copy on the task's clock) and
//! returns; dirty data is sent with `WRITE(UNSTABLE4)` in `wsize` pieces when a file's dirty
//! bytes would exceed `wback`, and at `fsync`. Each UNSTABLE result is kept in the file's
//! *uncommitted log* with the server's write verifier, and the bytes stay in the cache.
//! `fsync` flushes, sends `COMMIT`, and compares the verifier: if any logged entry carries
//! another verifier, the server rebooted and may have lost it, so the client replays the
//! whole log in order — WRITE the cached bytes again, COPY the logged copies again — and
//! commits again (at most four rounds, then `EIO`). Reads are served from the server with
//! the cached bytes laid over them, so a reader sees its own writes even when a rebooted
//! server has lost them (and lost COPY results were redone at session recovery). Consequences worth knowing: `ENOSPC` and other write errors may
//! surface at a later `write` (the one that triggers write-back) or at `fsync`, as on Linux
//! NFS; a client crash loses dirty bytes but not what the server already received.
//!
//! ## Copy offload
//! See [`NfsClient`]'s `copy_file_range` and `remap_file_range` and the module
//! documentation of [`crate::nfs`] for the decisions (policy, COPY for `copy_file_range`
//! and CLONE for the remap ioctls, one COPY per call, asynchronous waits, cancellation,
//! lost copies sent again — no copy outlives its call).
//!
//! ## Ordering rules that keep a replayed COPY correct
//! A logged COPY is replayed by asking the server to copy again, so the source must still
//! hold what it held then. Two rules make sure it does (for modifications made through this
//! client; other clients' changes are outside the model, as with close-to-open
//! consistency): **R1** before COPY or CLONE, the client commits the source and the
//! destination (Linux writes both back too), so the source is stable and the destination's
//! log starts with the COPY — after a client crash also what the crashed instance may have
//! left UNSTABLE on the server, once per file; **R2** before anything modifies a file
//! (write, truncate, fallocate, COPY/CLONE into it, unlink of its last name), every file
//! whose log holds a COPY *from* it has what it sent committed first — not its dirty
//! bytes, and a failure there is that file's error (its next `fsync`), never the source's.

use std::collections::{BTreeMap, BTreeSet};

use vfs::clock::{CostModel, Nanos};
use vfs::data::Data;
use vfs::errno::{Errno, KResult};
use vfs::extent::{Attrs, FileKind, Image, Ino};
use vfs::fs::{CopyHow, Fault, FaultReport, FileSystem, Stat, StatFs, falloc_flags, remap_flags};
use vfs::sync::{Arc, Mutex};
use vfs::task::Task;

use super::cache::Overlay;
use super::net::{Net, NetConfig};
use super::proto::{
    CopyProgress, CopyRes, HDR_BYTES, NfsResult, NfsStat, ServerCaps, StableHow, StateId, Verifier,
    WriteRes,
};
use super::server::{NfsServer, SERVER_TID};

/// What a never-share copy does over NFS (mount option `policy=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// A never-share copy (`CopyHow::no_share`) answers `EOPNOTSUPP` — so the VFS byte-copies
    /// through the client — unless the server advertises a non-sharing COPY.
    Strict,
    /// A never-share copy is sent as COPY anyway, trusting the server not to share. A server
    /// that implements COPY with a reflink then breaks the never-share contract.
    Lenient,
}

/// Client mount options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// `policy=strict|lenient` (default strict).
    pub policy: Policy,
    /// `async=1`: send COPY with `ca_synchronous = false` and wait for CB_OFFLOAD
    /// (default 0: synchronous COPYs).
    pub async_copy: bool,
    /// `wsize=SIZE`: bytes per READ or WRITE RPC (default 1 MiB).
    pub wsize: u64,
    /// `wback=SIZE`: dirty bytes per file held before write-back starts (default 4 MiB;
    /// 0 = write through at once, still UNSTABLE).
    pub wback: u64,
    /// `chunk=SIZE`: the VFS byte-copy chunk for fallbacks (default 1 MiB).
    pub chunk: u64,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            policy: Policy::Strict,
            async_copy: false,
            wsize: 1 << 20,
            wback: 4 << 20,
            chunk: 1 << 20,
        }
    }
}

/// What the client did, for reports and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NfsStats {
    /// RPCs sent by operation name (`"WRITE"`, `"COMMIT"`, `"COPY"`, …); `"CB_OFFLOAD"`
    /// counts callbacks received.
    pub rpcs: BTreeMap<&'static str, u64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// COMMITs whose verifier did not match logged data (the server had rebooted).
    pub commit_mismatches: u64,
    /// Bytes sent again by WRITE after a verifier change.
    pub bytes_rewritten: u64,
    /// Logged COPYs done again after a verifier change.
    pub copies_redone: u64,
    /// Session recoveries after a server reboot.
    pub session_recoveries: u64,
    /// OFFLOAD_CANCELs sent.
    pub offload_cancels: u64,
    /// Asynchronous copies a server reboot forgot while their call waited.
    pub copies_lost: u64,
    /// Of those, copies sent again by the same call (it ends in `EIO` only when a reboot
    /// forgets `MAX_COMMIT_ROUNDS` attempts in a row).
    pub copies_restarted: u64,
    /// Never-share copies refused by `policy=strict`.
    pub strict_refusals: u64,
}

impl NfsStats {
    /// How many `op` RPCs were sent.
    pub fn rpc(&self, op: &str) -> u64 {
        self.rpcs.get(op).copied().unwrap_or(0)
    }
}

/// Data the server answered UNSTABLE4 for and the client has not seen committed.
#[derive(Clone, Debug)]
enum Unstable {
    Write {
        off: u64,
        data: Data,
        verf: Verifier,
    },
    Copy {
        src: Ino,
        soff: u64,
        doff: u64,
        len: u64,
        verf: Verifier,
    },
}

impl Unstable {
    fn verf(&self) -> Verifier {
        match self {
            Unstable::Write { verf, .. } | Unstable::Copy { verf, .. } => *verf,
        }
    }

    /// Extends `self` by `next` when it directly continues it (keeps logs short).
    fn absorb(&mut self, next: &Unstable) -> bool {
        match (self, next) {
            (
                Unstable::Write { off, data, verf },
                Unstable::Write {
                    off: o2,
                    data: d2,
                    verf: v2,
                },
            ) if *off + data.len() == *o2 && verf == v2 => {
                data.append(d2.clone());
                true
            }
            (
                Unstable::Copy {
                    src,
                    soff,
                    doff,
                    len,
                    verf,
                },
                Unstable::Copy {
                    src: s2,
                    soff: so2,
                    doff: do2,
                    len: l2,
                    verf: v2,
                },
            ) if src == s2 && *soff + *len == *so2 && *doff + *len == *do2 && verf == v2 => {
                *len += l2;
                true
            }
            _ => false,
        }
    }
}

/// The client's state for one file.
#[derive(Clone, Debug, Default)]
struct FileCache {
    /// Every byte written through this client and not yet seen committed (dirty or sent).
    written: Overlay,
    /// The part of `written` not yet sent.
    dirty: Overlay,
    /// Sent and answered UNSTABLE4, in order.
    log: Vec<Unstable>,
    /// A re-send of this file's data failed in a call that was not about this file (the
    /// call that noticed a server reboot, or a change to a COPY's source): reported once,
    /// by this file's next `fsync`, as Linux reports write-back errors through the
    /// mapping's errseq. What could not be re-sent is lost.
    wb_err: Option<Errno>,
    /// A replay of `log` stopped part-way: the entries it re-sent went to the server after
    /// the later ones, which may carry the current verifier and still have been overwritten
    /// there. The next COMMIT must not trust the verifiers: the log is replayed first.
    interrupted: bool,
}

impl FileCache {
    fn is_clean(&self) -> bool {
        self.written.is_empty()
            && self.dirty.is_empty()
            && self.log.is_empty()
            && self.wb_err.is_none()
    }

    fn push_log(&mut self, e: Unstable) {
        if let Some(last) = self.log.last_mut()
            && last.absorb(&e)
        {
            return;
        }
        self.log.push(e);
    }
}

/// What a replay does with the entry that failed and the selected entries after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failed {
    /// Keep them logged, to be sent again at the next COMMIT (a commit's own replay: its
    /// caller sees the error and may retry).
    Keep,
    /// Drop them: the data is lost, and the file's next `fsync` reports it (redoing what a
    /// server reboot lost, in a call on some other file). Sending them later would change
    /// the file's content long after the reboot; dropping everything from the failure on
    /// leaves the content as it was after the last entry that could be redone.
    DropRest,
}

/// One COPY this client sent: its ranges, and for an asynchronous one its callback stateid
/// (0 for a synchronous one). It lives only inside the call that sent it: the call returns
/// only once the copy has finished, been cancelled (OFFLOAD_CANCEL) or been lost with a
/// server reboot, so no copy a caller was told about can change a file afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CopyRequest {
    id: StateId,
    src: Ino,
    soff: u64,
    dst: Ino,
    doff: u64,
}

/// How the wait for an asynchronous copy ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waited {
    /// Finished (CB_OFFLOAD) or cancelled after a signal with some bytes done: the count.
    Copied(u64),
    /// A server reboot forgot the copy: nothing of it is confirmed.
    Lost,
}

#[derive(Clone, Debug, Default)]
struct ClientState {
    files: BTreeMap<Ino, FileCache>,
    boot_seen: u64,
    /// Inodes this client unlinked (the server frees them when the client goes away).
    unlinked: BTreeSet<Ino>,
    /// The server answered NFS4ERR_NOTSUPP to CLONE: do not ask again (`NFS_CAP_CLONE`).
    clone_unsupported: bool,
    /// This client replaced one that crashed, whose UNSTABLE data the server may still hold
    /// uncommitted (and lose in a reboot) without this client knowing: R1 must then COMMIT
    /// a file before copying from or into it even with nothing logged here.
    inherited: bool,
    /// Files R1 committed since `inherited` was set.
    stable: BTreeSet<Ino>,
    stats: NfsStats,
}

impl ClientState {
    fn file(&mut self, ino: Ino) -> &mut FileCache {
        self.files.entry(ino).or_default()
    }

    fn tidy(&mut self, ino: Ino) {
        if self.files.get(&ino).is_some_and(FileCache::is_clean) {
            self.files.remove(&ino);
        }
    }
}

/// How many COMMIT rounds `fsync` tries before giving up with `EIO` (each round after the
/// first follows a verifier change, i.e. another server reboot).
const MAX_COMMIT_ROUNDS: usize = 4;
/// A file's uncommitted log is committed once it holds this many entries.
const MAX_LOG: usize = 1024;

/// An NFSv4.2 client mount.
pub struct NfsClient {
    server: Arc<NfsServer>,
    net: Net,
    opts: ClientOptions,
    id: u64,
    caps: ServerCaps,
    cost: CostModel,
    state: Mutex<ClientState>,
}

impl std::fmt::Debug for NfsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NfsClient(#{} {:?} {:?} -> {:?})",
            self.id,
            self.opts,
            self.net.config(),
            self.server
        )
    }
}

fn aligned(x: u64, bs: u64) -> bool {
    bs == 0 || x.is_multiple_of(bs)
}

impl NfsClient {
    /// Mounts `server` over a link with `net` parameters.
    pub fn new(server: Arc<NfsServer>, net: NetConfig, opts: ClientOptions) -> NfsClient {
        let id = server.register_client();
        let caps = server.caps();
        let mut cost = server.backend().cost().clone();
        cost.rpc_rtt_ns = net.rtt;
        cost.net_bps = net.bps;
        let boot_seen = server.boot();
        NfsClient {
            server,
            net: Net::new(net),
            opts,
            id,
            caps,
            cost,
            state: Mutex::new(ClientState {
                boot_seen,
                ..ClientState::default()
            }),
        }
    }

    /// The server.
    pub fn server(&self) -> &Arc<NfsServer> {
        &self.server
    }

    /// The mount options.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// The link.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// What the server advertised at mount.
    pub fn caps(&self) -> ServerCaps {
        self.caps
    }

    /// Counters.
    pub fn stats(&self) -> NfsStats {
        self.state.lock().stats.clone()
    }

    /// Bytes of `ino` this client holds that the server has not committed (dirty or
    /// UNSTABLE), as the cache sees them.
    pub fn uncommitted_bytes(&self, ino: Ino) -> u64 {
        self.state
            .lock()
            .files
            .get(&ino)
            .map_or(0, |f| f.written.bytes())
    }

    // ------------------------------------------------------------------ plumbing

    /// One RPC: `send` payload bytes out, `f` on the server, `reply(result)` bytes back.
    fn rpc<R>(
        &self,
        cs: &mut ClientState,
        task: &Task,
        op: &'static str,
        send: u64,
        f: impl FnOnce(&Task) -> NfsResult<R>,
        reply: impl FnOnce(&R) -> u64,
    ) -> KResult<R> {
        let sent = task.now();
        let arrival = self.net.send(task, HDR_BYTES + send)?;
        *cs.stats.rpcs.entry(op).or_default() += 1;
        cs.stats.bytes_sent = cs.stats.bytes_sent.saturating_add(HDR_BYTES + send);
        let st = Task::new(SERVER_TID);
        st.wait_until(arrival);
        let r = f(&st);
        let back = HDR_BYTES + r.as_ref().map_or(0, reply);
        cs.stats.bytes_received = cs.stats.bytes_received.saturating_add(back);
        let remapped = st.stats().extents_remapped;
        task.with_stats(|s| s.add_remapped(remapped));
        self.net.receive(task, sent, st.now(), back)?;
        r.map_err(NfsStat::errno)
    }

    /// Sends `ino`'s dirty bytes with WRITE(UNSTABLE4), logging each result.
    fn flush(&self, cs: &mut ClientState, task: &Task, ino: Ino) -> KResult<()> {
        let pieces: Vec<(u64, Data)> = match cs.files.get(&ino) {
            Some(f) => f.dirty.pieces().map(|(o, d)| (o, d.clone())).collect(),
            None => return Ok(()),
        };
        for (off, data) in pieces {
            let mut pos = 0;
            while pos < data.len() {
                let piece = data.slice(pos, self.opts.wsize);
                let o = off + pos;
                let n = piece.len();
                let w = self.rpc(
                    cs,
                    task,
                    "WRITE",
                    n,
                    |st| self.server.write(st, ino, o, &piece, StableHow::Unstable4),
                    |_| 0,
                )?;
                let f = cs.file(ino);
                f.dirty.remove(o, o + n);
                if !w.committed.is_stable() {
                    f.push_log(Unstable::Write {
                        off: o,
                        data: piece,
                        verf: w.verf,
                    });
                }
                pos += n;
            }
        }
        // Everything is sent: commit it (commit_file would flush again, and with the log
        // still over the limit, again — the recursion that overflowed the stack after
        // MAX_LOG small writes).
        if cs.files.get(&ino).is_some_and(|f| f.log.len() > MAX_LOG) {
            self.commit_sent(cs, task, ino)?;
        }
        Ok(())
    }

    /// Flushes and commits `ino`, replaying its log while the verifier keeps changing.
    fn commit_file(&self, cs: &mut ClientState, task: &Task, ino: Ino) -> KResult<()> {
        self.flush(cs, task, ino)?;
        self.commit_sent(cs, task, ino)
    }

    /// Commits what `ino` has sent (its uncommitted log), replaying the log while the
    /// verifier keeps changing; bytes not sent yet stay dirty and cached.
    fn commit_sent(&self, cs: &mut ClientState, task: &Task, ino: Ino) -> KResult<()> {
        for _ in 0..MAX_COMMIT_ROUNDS {
            let needs_commit = cs.files.get(&ino).is_some_and(|f| !f.log.is_empty());
            if !needs_commit {
                if let Some(f) = cs.files.get_mut(&ino) {
                    f.written = f.dirty.clone();
                }
                cs.tidy(ino);
                return Ok(());
            }
            let v = self.commit_rpc(cs, task, ino)?;
            let f = cs.file(ino);
            if !f.interrupted && f.log.iter().all(|e| e.verf() == v) {
                f.log.clear();
                f.written = f.dirty.clone();
                cs.tidy(ino);
                return Ok(());
            }
            f.interrupted = false;
            cs.stats.commit_mismatches += 1;
            self.replay(cs, task, ino)?;
        }
        Err(Errno::EIO)
    }

    /// The first call after a server reboot fails with NFS4ERR_BADSESSION; the client
    /// re-establishes its session (CREATE_SESSION, RECLAIM_COMPLETE: one round trip, which
    /// also tells it the new write verifier, as a zero-length WRITE would) and then COPYs
    /// again every logged COPY from before the reboot, so that reads see their data — the
    /// cached WRITEs are visible from the cache and wait for the COMMIT to be re-sent.
    /// Called first by every operation that has a task; a reboot in the middle of one is
    /// handled by that operation (a lost asynchronous copy, a restarted synchronous one).
    ///
    /// # Errors
    /// Only those of re-establishing the session (the network's). A failed re-send is the
    /// business of the file it concerns, not of the call that noticed the reboot: what
    /// could not be redone is dropped ([`Failed::DropRest`]) and the error is kept for that
    /// file's next `fsync` ([`FileCache::wb_err`]), as Linux drops a page whose write-back
    /// failed and reports the error through the mapping's errseq.
    fn recover(&self, cs: &mut ClientState, task: &Task) -> KResult<()> {
        let boot = self.server.boot();
        if boot == cs.boot_seen {
            return Ok(());
        }
        let verf = self.rpc(
            cs,
            task,
            "CREATE_SESSION",
            0,
            |_| Ok(self.server.verifier()),
            |_| 0,
        )?;
        cs.boot_seen = boot;
        cs.stats.session_recoveries += 1;
        let stale = |e: &Unstable| matches!(e, Unstable::Copy { .. }) && e.verf() != verf;
        let inos: Vec<Ino> = cs
            .files
            .iter()
            .filter(|(_, f)| f.log.iter().any(stale))
            .map(|(&i, _)| i)
            .collect();
        for ino in inos {
            // A file removed since has nothing left to redo; its failure must not fail
            // the unrelated call that noticed the reboot.
            if self.server.backend().getattr(ino).is_err() {
                cs.file(ino).log.clear();
                continue;
            }
            if let Err(e) = self.replay_where(cs, task, ino, stale, Failed::DropRest) {
                cs.file(ino).wb_err.get_or_insert(e);
            }
        }
        Ok(())
    }

    /// Sends every logged entry of `ino` again, in order.
    fn replay(&self, cs: &mut ClientState, task: &Task, ino: Ino) -> KResult<()> {
        self.replay_where(cs, task, ino, |_| true, Failed::Keep)
    }

    /// Sends the logged entries of `ino` that `pick` selects again, keeping the log's order.
    /// When one fails, the rest are not sent; `failed` says what becomes of them.
    fn replay_where(
        &self,
        cs: &mut ClientState,
        task: &Task,
        ino: Ino,
        pick: impl Fn(&Unstable) -> bool,
        failed: Failed,
    ) -> KResult<()> {
        let log = std::mem::take(&mut cs.file(ino).log);
        let mut redone: Vec<Unstable> = Vec::new();
        let mut result = Ok(());
        let mut rest = log.into_iter();
        for e in rest.by_ref() {
            if !pick(&e) {
                redone.push(e);
                continue;
            }
            let r = match &e {
                Unstable::Write { off, data, .. } => self.rewrite(cs, task, ino, *off, data),
                Unstable::Copy {
                    src,
                    soff,
                    doff,
                    len,
                    ..
                } => self.recopy(cs, task, *src, *soff, ino, *doff, *len),
            };
            match r {
                Ok(entries) => redone.extend(entries),
                Err(err) => {
                    if failed == Failed::Keep {
                        redone.push(e);
                    }
                    result = Err(err);
                    break;
                }
            }
        }
        match failed {
            Failed::Keep => redone.extend(rest),
            Failed::DropRest => redone.extend(rest.filter(|e| !pick(e))),
        }
        let f = cs.file(ino);
        for e in redone {
            f.push_log(e);
        }
        f.interrupted |= result.is_err() && failed == Failed::Keep;
        result
    }

    fn rewrite(
        &self,
        cs: &mut ClientState,
        task: &Task,
        ino: Ino,
        off: u64,
        data: &Data,
    ) -> KResult<Vec<Unstable>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let piece = data.slice(pos, self.opts.wsize);
            let o = off + pos;
            let w = self.rpc(
                cs,
                task,
                "WRITE",
                piece.len(),
                |st| self.server.write(st, ino, o, &piece, StableHow::Unstable4),
                |_| 0,
            )?;
            cs.stats.bytes_rewritten = cs.stats.bytes_rewritten.saturating_add(piece.len());
            pos += piece.len();
            out.push(Unstable::Write {
                off: o,
                data: piece,
                verf: w.verf,
            });
        }
        Ok(out)
    }

    /// Re-does a logged COPY with synchronous COPYs (even on an `async=1` mount: the client
    /// is inside `fsync` and has nothing better to do than wait).
    #[allow(clippy::too_many_arguments)]
    fn recopy(
        &self,
        cs: &mut ClientState,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
    ) -> KResult<Vec<Unstable>> {
        let mut out = Vec::new();
        let mut done = 0;
        while done < len {
            let r = self.copy_rpc(
                cs,
                task,
                src,
                soff + done,
                dst,
                doff + done,
                len - done,
                true,
            )?;
            let n = r.write.count;
            if n == 0 {
                // The source no longer holds the range: the data cannot be recreated.
                return Err(Errno::EIO);
            }
            out.push(Unstable::Copy {
                src,
                soff: soff + done,
                doff: doff + done,
                len: n,
                verf: r.write.verf,
            });
            done += n;
        }
        cs.stats.copies_redone += 1;
        Ok(out)
    }

    /// R1: commits `ino` before a COPY or CLONE from or into it — what this client logged,
    /// and, after a client crash, once per file whatever a crashed instance left UNSTABLE
    /// (a COPY replayed after a server reboot must find the source as it was).
    fn commit_for_copy(&self, cs: &mut ClientState, task: &Task, ino: Ino) -> KResult<()> {
        self.commit_file(cs, task, ino)?;
        if cs.inherited && !cs.stable.contains(&ino) {
            self.commit_rpc(cs, task, ino)?;
            cs.stable.insert(ino);
        }
        Ok(())
    }

    /// One COMMIT of `ino`; the answer is the server's write verifier.
    fn commit_rpc(&self, cs: &mut ClientState, task: &Task, ino: Ino) -> KResult<Verifier> {
        self.rpc(
            cs,
            task,
            "COMMIT",
            0,
            |st| self.server.commit(st, ino),
            |_| 0,
        )
    }

    /// R2: commits every file whose log copies from `ino`, before `ino` changes — what
    /// each of them has *sent* ([`NfsClient::commit_sent`]): the logged COPY must be
    /// stable before its source changes; the destination's dirty bytes are not the
    /// source's business and are not flushed here.
    ///
    /// A commit that fails for a reason of the destination's — `ENOSPC` or `EIO` when a
    /// replay after a server reboot cannot store or redo the data, a media error — is the
    /// destination's loss, not this call's: it is kept for the destination's next `fsync`
    /// ([`FileCache::wb_err`]), as Linux reports a failed write-back through the mapping's
    /// errseq, and the destination's COPYs from `ino` are dropped from its log (once `ino`
    /// changes they could only copy the wrong bytes). So a destination that cannot be
    /// committed never holds its source hostage: the source can still be written,
    /// truncated, punched and unlinked.
    ///
    /// # Errors
    /// `ETIMEDOUT` from the network on a soft mount (the call itself could not talk to the
    /// server either), with nothing changed: the call can be retried.
    fn before_modify(&self, cs: &mut ClientState, task: &Task, ino: Ino) -> KResult<()> {
        let dsts: Vec<Ino> = cs
            .files
            .iter()
            .filter(|(_, f)| {
                f.log
                    .iter()
                    .any(|e| matches!(e, Unstable::Copy { src, .. } if *src == ino))
            })
            .map(|(&d, _)| d)
            .collect();
        for d in dsts {
            match self.commit_sent(cs, task, d) {
                Ok(()) => {}
                Err(e @ Errno::ETIMEDOUT) => return Err(e),
                Err(e) => {
                    let f = cs.file(d);
                    f.wb_err.get_or_insert(e);
                    f.log
                        .retain(|e| !matches!(e, Unstable::Copy { src, .. } if *src == ino));
                }
            }
        }
        Ok(())
    }

    /// The client's view of the size: the server's, extended by cached writes.
    fn view_size(&self, cs: &ClientState, ino: Ino) -> KResult<u64> {
        let size = self.server.getattr(ino).map_err(NfsStat::errno)?.size;
        Ok(cs
            .files
            .get(&ino)
            .map_or(size, |f| size.max(f.written.end())))
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_rpc(
        &self,
        cs: &mut ClientState,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        synchronous: bool,
    ) -> KResult<CopyRes> {
        let owner = self.id;
        self.rpc(
            cs,
            task,
            "COPY",
            0,
            |st| {
                self.server
                    .copy(st, owner, src, soff, dst, doff, len, synchronous)
            },
            |_| 0,
        )
    }

    fn account_chunk(task: &Task, copied: u64, shared: u64) {
        task.chunk_done(copied);
        if shared > 0 {
            task.with_stats(|s| s.add_shared(shared));
        }
    }

    /// Logs an UNSTABLE4 copy result in the destination's uncommitted log (rule R1 made
    /// the source stable, so the COPY can be redone after a verifier change).
    fn log_copy(cs: &mut ClientState, c: &CopyRequest, w: WriteRes) -> u64 {
        if w.count > 0 && !w.committed.is_stable() {
            cs.file(c.dst).push_log(Unstable::Copy {
                src: c.src,
                soff: c.soff,
                doff: c.doff,
                len: w.count,
                verf: w.verf,
            });
        }
        w.count
    }

    /// One synchronous COPY (`ca_synchronous` true): the server does at most one
    /// `copychunk` step and answers; a short count is normal and the caller continues.
    #[allow(clippy::too_many_arguments)]
    fn copy_sync(
        &self,
        cs: &mut ClientState,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
    ) -> KResult<u64> {
        let r = self.copy_rpc(cs, task, src, soff, dst, doff, len, true)?;
        Self::account_chunk(task, r.write.count - r.shared, r.shared);
        let c = CopyRequest {
            id: 0,
            src,
            soff,
            dst,
            doff,
        };
        Ok(Self::log_copy(cs, &c, r.write))
    }

    /// One asynchronous COPY, waited for to its end (RFC 7862 §4.8, §15.2.3).
    ///
    /// The copy never outlives the call: it finishes (CB_OFFLOAD: its count), or a signal
    /// cancels it (OFFLOAD_CANCEL: the bytes done, `EINTR` if none), or a server reboot
    /// forgets it — then, as the Linux client does when state recovery marks a copy, the
    /// client recovers its session and sends the COPY again, up to `MAX_COMMIT_ROUNDS`
    /// times (`EIO` after that). A copy the server answers synchronously is taken as it is.
    #[allow(clippy::too_many_arguments)]
    fn copy_async(
        &self,
        cs: &mut ClientState,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
    ) -> KResult<u64> {
        for attempt in 0..MAX_COMMIT_ROUNDS {
            if attempt > 0 {
                // The reboot may have taken other files' logged COPYs with it: redo what
                // the session lost before copying again.
                self.recover(cs, task)?;
                cs.stats.copies_restarted += 1;
                task.with_stats(|s| s.offloads_restarted += 1);
            }
            let r = self.copy_rpc(cs, task, src, soff, dst, doff, len, false)?;
            let c = CopyRequest {
                id: r.callback.unwrap_or(0),
                src,
                soff,
                dst,
                doff,
            };
            if r.callback.is_none() {
                Self::account_chunk(task, r.write.count - r.shared, r.shared);
                return Ok(Self::log_copy(cs, &c, r.write));
            }
            match self.wait_async(cs, task, &c)? {
                Waited::Copied(n) => return Ok(n),
                Waited::Lost => cs.stats.copies_lost += 1,
            }
        }
        Err(Errno::EIO)
    }

    /// The copy is gone with a server reboot. The client learns it when it next talks to the
    /// server: OFFLOAD_STATUS answers NFS4ERR_BAD_STATEID.
    fn learn_lost(&self, cs: &mut ClientState, task: &Task, c: &CopyRequest) -> Waited {
        let _ = self.rpc(
            cs,
            task,
            "OFFLOAD_STATUS",
            0,
            |st| self.server.offload_status(st, c.id),
            |_| 0,
        );
        Waited::Lost
    }

    /// Waits for CB_OFFLOAD, one server chunk at a time; a pending signal sends
    /// OFFLOAD_STATUS + OFFLOAD_CANCEL and ends the wait with the bytes done.
    ///
    /// # Errors
    /// The error CB_OFFLOAD reported when the copy did nothing (after some bytes the call
    /// returns their count: an error must not leave bytes behind, so the Linux client's
    /// habit of dropping the partial count is not followed); `EINTR` when a cancelled copy
    /// had done nothing. A cancel the network did not deliver is no error: the copy runs
    /// on, and the wait goes on to its end.
    fn wait_async(&self, cs: &mut ClientState, task: &Task, c: &CopyRequest) -> KResult<Waited> {
        loop {
            if task.signal_pending() {
                cs.stats.offload_cancels += 1;
                task.with_stats(|s| s.offloads_cancelled += 1);
                let r = self.rpc(
                    cs,
                    task,
                    "OFFLOAD_CANCEL",
                    0,
                    |st| self.server.offload_cancel(st, c.id),
                    |_| 0,
                );
                match r {
                    Ok(w) if w.count == 0 => return Err(Errno::EINTR),
                    Ok(w) => return Ok(Waited::Copied(Self::log_copy(cs, c, w))),
                    // NFS4ERR_BAD_STATEID: a reboot forgot it before the cancel arrived.
                    Err(Errno::EIO) => return Ok(Waited::Lost),
                    // The cancel did not get through (a soft mount timing out in a
                    // partition): the copy still runs, so the call may not return an
                    // error. Wait for its end, as if the signal had come after it.
                    Err(_) => continue,
                }
            }
            match self.server.wait_step(c.id) {
                Ok(CopyProgress::Chunk {
                    end,
                    copied,
                    shared,
                }) => {
                    task.wait_until(end);
                    Self::account_chunk(task, copied, shared);
                }
                Ok(CopyProgress::Done(off)) => {
                    task.wait_until(self.net.deliver(off.at, HDR_BYTES));
                    *cs.stats.rpcs.entry("CB_OFFLOAD").or_default() += 1;
                    return match off.status {
                        // An error after some bytes: CB_OFFLOAD's coa_bytes_copied is the
                        // partial count (R1 of docs/semantics.md), UNSTABLE under the
                        // verifier the COPY reply carried — a reboot since would have lost
                        // the copy instead of finishing it.
                        Err(_) if off.write.count > 0 => {
                            Ok(Waited::Copied(Self::log_copy(cs, c, off.write)))
                        }
                        Err(e) => Err(e.errno()),
                        Ok(()) => Ok(Waited::Copied(Self::log_copy(cs, c, off.write))),
                    };
                }
                Ok(CopyProgress::Lost { at }) => {
                    task.wait_until(at);
                    return Ok(self.learn_lost(cs, task, c));
                }
                Err(_) => return Ok(self.learn_lost(cs, task, c)),
            }
        }
    }

    /// Decision 6: `policy=strict` refuses a never-share copy unless the server advertises
    /// a COPY that never shares.
    fn refuses(&self, how: CopyHow) -> bool {
        how.no_share && self.opts.policy == Policy::Strict && !self.caps.nonsharing_copy
    }

    /// Whether a CLONE of the range can satisfy `generic_remap_checks`-style alignment
    /// against `clone_blksize` (the tail may be unaligned only at the source EOF).
    fn clone_aligned(&self, soff: u64, doff: u64, len: u64, src_size: u64) -> bool {
        let bs = self.caps.clone_blksize;
        aligned(soff, bs) && aligned(doff, bs) && (aligned(len, bs) || soff + len == src_size)
    }

    fn clone_rpc(
        &self,
        cs: &mut ClientState,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
    ) -> KResult<u64> {
        let r = self.rpc(
            cs,
            task,
            "CLONE",
            0,
            |st| self.server.clone_range(st, src, soff, dst, doff, len),
            |_| 0,
        );
        if r == Err(Errno::EOPNOTSUPP) {
            cs.clone_unsupported = true;
        }
        let (n, copied) = r?;
        // What the server shared, and what its file system copied instead (btrfs inline).
        task.with_stats(|s| {
            s.add_shared(n - copied);
            s.add_copied(copied);
        });
        Ok(n)
    }

    /// Combines the server's SEEK with the cached ranges.
    fn seek_view(&self, cs: &ClientState, ino: Ino, off: u64, data: bool) -> KResult<u64> {
        let ssize = self.server.getattr(ino).map_err(NfsStat::errno)?.size;
        let empty = Overlay::default();
        let cached = cs.files.get(&ino).map_or(&empty, |f| &f.written);
        let size = ssize.max(cached.end());
        if off >= size {
            return Err(Errno::ENXIO);
        }
        let server_seek = |p: u64| -> KResult<Option<u64>> {
            if p >= ssize {
                return Ok(None);
            }
            match self.server.seek(ino, p, data) {
                Ok(x) => Ok(Some(x)),
                Err(NfsStat::Nxio) => Ok(None),
                Err(e) => Err(e.errno()),
            }
        };
        if data {
            let a = server_seek(off)?;
            let b = cached.next_from(off).map(|(s, _)| s.max(off));
            return match (a, b) {
                (Some(x), Some(y)) => Ok(x.min(y)),
                (Some(x), None) | (None, Some(x)) => Ok(x),
                (None, None) => Err(Errno::ENXIO),
            };
        }
        let mut p = off;
        loop {
            // Past the server's EOF everything not cached is a hole.
            let q = server_seek(p)?.unwrap_or(p);
            match cached.piece_at(q) {
                Some((_, e)) if e > q => p = e,
                _ => return Ok(q.min(size)),
            }
            if p >= size {
                return Ok(size);
            }
        }
    }
}

impl FileSystem for NfsClient {
    fn fs_type(&self) -> &str {
        "nfs-like"
    }

    fn statfs(&self) -> StatFs {
        self.server.backend().statfs()
    }

    fn cost(&self) -> &CostModel {
        &self.cost
    }

    fn chunk_size(&self) -> u64 {
        self.opts.chunk
    }

    fn io_size(&self) -> u64 {
        self.opts.wsize
    }

    fn max_file_size(&self) -> u64 {
        self.server.backend().max_file_size()
    }

    /// `clone_blksize` as the server advertised it.
    fn remap_block_size(&self) -> u64 {
        self.caps.clone_blksize
    }

    /// The client always has the method (CLONE); whether the server's file system can
    /// share is only known when it answers.
    fn has_remap(&self) -> bool {
        true
    }

    fn lookup(&self, dir: Ino, name: &str) -> KResult<Ino> {
        self.server.backend().lookup(dir, name)
    }

    fn create(&self, task: &Task, dir: Ino, name: &str, kind: FileKind) -> KResult<Ino> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        self.rpc(
            &mut cs,
            task,
            "CREATE",
            name.len() as u64,
            |st| self.server.create(st, dir, name, kind),
            |_| 0,
        )
    }

    fn remove(&self, task: &Task, dir: Ino, name: &str, rmdir: bool) -> KResult<Ino> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        if let Ok(victim) = self.server.backend().lookup(dir, name) {
            self.before_modify(&mut cs, task, victim)?;
        }
        let ino = self.rpc(
            &mut cs,
            task,
            "REMOVE",
            name.len() as u64,
            |st| self.server.remove(st, dir, name, rmdir),
            |_| 0,
        )?;
        if self.server.getattr(ino).is_ok_and(|s| s.nlink == 0) {
            cs.unlinked.insert(ino);
        }
        Ok(ino)
    }

    fn rename(
        &self,
        task: &Task,
        odir: Ino,
        oname: &str,
        ndir: Ino,
        nname: &str,
    ) -> KResult<Option<Ino>> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        if let Ok(victim) = self.server.backend().lookup(ndir, nname) {
            self.before_modify(&mut cs, task, victim)?;
        }
        let r = self.rpc(
            &mut cs,
            task,
            "RENAME",
            (oname.len() + nname.len()) as u64,
            |st| self.server.rename(st, odir, oname, ndir, nname),
            |_| 0,
        )?;
        if let Some(old) = r
            && self.server.getattr(old).is_ok_and(|s| s.nlink == 0)
        {
            cs.unlinked.insert(old);
        }
        Ok(r)
    }

    fn evict(&self, ino: Ino) {
        let mut cs = self.state.lock();
        cs.files.remove(&ino);
        cs.unlinked.remove(&ino);
        // The last CLOSE: the server frees the unlinked file.
        self.server.backend().evict(ino);
    }

    fn getattr(&self, ino: Ino) -> KResult<Stat> {
        let cs = self.state.lock();
        let mut st = self.server.getattr(ino).map_err(NfsStat::errno)?;
        if let Some(f) = cs.files.get(&ino) {
            st.size = st.size.max(f.written.end());
        }
        Ok(st)
    }

    fn set_attrs(&self, task: &Task, ino: Ino, attrs: Attrs) -> KResult<()> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        self.rpc(
            &mut cs,
            task,
            "SETATTR",
            0,
            |st| self.server.set_attrs(st, ino, attrs),
            |_| 0,
        )
    }

    fn read(&self, task: &Task, ino: Ino, off: u64, len: u64) -> KResult<Data> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        let ssize = self.server.getattr(ino).map_err(NfsStat::errno)?.size;
        let size = cs
            .files
            .get(&ino)
            .map_or(ssize, |f| ssize.max(f.written.end()));
        if off >= size || len == 0 {
            return Ok(Data::new());
        }
        let end = size.min(off.saturating_add(len));
        if let Some(d) = cs.files.get(&ino).and_then(|f| f.written.get(off, end)) {
            // A page-cache hit.
            task.charge(self.cost.per_op_ns + CostModel::transfer(d.len(), self.cost.mem_copy_bps));
            return Ok(d);
        }
        let mut base = Data::new();
        let mut pos = off;
        while pos < end.min(ssize) {
            let want = end.min(ssize) - pos;
            let (d, _) = self.rpc(
                &mut cs,
                task,
                "READ",
                0,
                |st| self.server.read(st, ino, pos, want, self.opts.wsize),
                // A hole travels as a hole segment (READ_PLUS): only data costs bytes.
                |(d, hole)| d.len() - hole,
            )?;
            if d.is_empty() {
                break;
            }
            pos += d.len();
            base.append(d);
        }
        let have = base.len();
        base.append(Data::zero(end - off - have));
        Ok(match cs.files.get(&ino) {
            Some(f) => f.written.apply(off, base),
            None => base,
        })
    }

    fn write(&self, task: &Task, ino: Ino, off: u64, data: &Data) -> KResult<u64> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        self.server.getattr(ino).map_err(NfsStat::errno)?;
        self.before_modify(&mut cs, task, ino)?;
        let dirty = cs.files.get(&ino).map_or(0, |f| f.dirty.bytes());
        if dirty > 0 && dirty + data.len() > self.opts.wback {
            self.flush(&mut cs, task, ino)?;
        }
        task.charge(self.cost.per_op_ns + CostModel::transfer(data.len(), self.cost.mem_copy_bps));
        let f = cs.file(ino);
        f.written.insert(off, data.clone());
        f.dirty.insert(off, data.clone());
        if f.dirty.bytes() > self.opts.wback {
            // Write-back errors surface at the next write or fsync, as on Linux NFS.
            let _ = self.flush(&mut cs, task, ino);
        }
        Ok(data.len())
    }

    fn truncate(&self, task: &Task, ino: Ino, size: u64) -> KResult<()> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        self.before_modify(&mut cs, task, ino)?;
        self.commit_file(&mut cs, task, ino)?;
        self.rpc(
            &mut cs,
            task,
            "SETATTR",
            0,
            |st| self.server.truncate(st, ino, size),
            |_| 0,
        )
    }

    /// NFSv4.2 has ALLOCATE (modes 0 and `KEEP_SIZE`) and DEALLOCATE (`PUNCH_HOLE |
    /// KEEP_SIZE`); other modes answer `EOPNOTSUPP` without an RPC, as the Linux client does.
    fn fallocate(&self, task: &Task, ino: Ino, mode: u32, off: u64, len: u64) -> KResult<()> {
        use falloc_flags::*;
        let op = match mode {
            0 | KEEP_SIZE => "ALLOCATE",
            m if m == PUNCH_HOLE | KEEP_SIZE => "DEALLOCATE",
            _ => return Err(Errno::EOPNOTSUPP),
        };
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        self.before_modify(&mut cs, task, ino)?;
        self.commit_file(&mut cs, task, ino)?;
        self.rpc(
            &mut cs,
            task,
            op,
            0,
            |st| self.server.fallocate(st, ino, mode, off, len),
            |_| 0,
        )
    }

    /// Flushes and commits the file, then reports a write-back error an earlier re-send of
    /// this file met (`FileCache::wb_err`), once.
    fn fsync(&self, task: &Task, ino: Ino, _datasync: bool) -> KResult<()> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        let committed = self.commit_file(&mut cs, task, ino);
        let deferred = cs.files.get_mut(&ino).and_then(|f| f.wb_err.take());
        cs.tidy(ino);
        committed?;
        deferred.map_or(Ok(()), Err)
    }

    fn sync_fs(&self, task: &Task) -> KResult<()> {
        let mut cs = self.state.lock();
        self.recover(&mut cs, task)?;
        let inos: Vec<Ino> = cs.files.keys().copied().collect();
        for ino in inos {
            self.commit_file(&mut cs, task, ino)?;
        }
        Ok(())
    }

    fn seek_data_hole(&self, ino: Ino, off: u64, data: bool) -> KResult<u64> {
        let cs = self.state.lock();
        self.seek_view(&cs, ino, off, data)
    }

    /// CLONE (RFC 7862 §15.13).
    ///
    /// # Errors
    /// In check order: `EOPNOTSUPP` for `REMAP_FILE_DEDUP` (NFSv4.2 has no dedupe
    /// operation); `EINVAL` for other flags than `REMAP_FILE_ADVISORY`; `EOPNOTSUPP` without
    /// an RPC once the server has answered NFS4ERR_NOTSUPP; `ESTALE` for a source the
    /// server no longer has; `EINVAL` if `soff`, `doff` or `len` is not a multiple of
    /// `clone_blksize` (an unaligned `len` is allowed when it ends at the source EOF; with
    /// `REMAP_FILE_CAN_SHORTEN` it is first rounded down, `EINVAL` if that leaves 0); then errors of flushing and committing both files (R1) and
    /// of the CLONE itself (NFS4ERR_NOTSUPP → `EOPNOTSUPP` from a server whose file system
    /// cannot share, the backend's `EINVAL`, `EPERM`, `ETXTBSY`, `ENOSPC`, …), and
    /// `ETIMEDOUT` on a soft mount during a partition.
    fn remap_file_range(
        &self,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        flags: u32,
    ) -> KResult<u64> {
        if flags & remap_flags::DEDUP != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if flags & !remap_flags::ADVISORY != 0 {
            return Err(Errno::EINVAL);
        }
        let mut cs = self.state.lock();
        if cs.clone_unsupported {
            return Err(Errno::EOPNOTSUPP);
        }
        self.recover(&mut cs, task)?;
        let src_size = self.view_size(&cs, src)?;
        let bs = self.caps.clone_blksize;
        let mut len = len;
        if flags & remap_flags::CAN_SHORTEN != 0
            && bs > 0
            && !aligned(len, bs)
            && soff.saturating_add(len) < src_size
        {
            // CLONE has no partial result: shorten here, as generic_remap_checks does.
            len = len / bs * bs;
            if len == 0 {
                return Err(Errno::EINVAL);
            }
        }
        if !self.clone_aligned(soff, doff, len, src_size) {
            return Err(Errno::EINVAL);
        }
        self.before_modify(&mut cs, task, dst)?;
        self.commit_for_copy(&mut cs, task, src)?;
        self.commit_for_copy(&mut cs, task, dst)?;
        self.clone_rpc(&mut cs, task, src, soff, dst, doff, len)
    }

    /// COPY (RFC 7862 §15.2), intra-server; returns the bytes whose destination now holds
    /// the source data — one COPY's worth, which may be fewer than asked (the VFS, like a
    /// `copy_file_range` caller, continues from there).
    ///
    /// Linux 6.x sends COPY and nothing else here (`nfs42_proc_copy`): CLONE is what the
    /// remap ioctls send ([`FileSystem::remap_file_range`]), and the VFS shares a may-share
    /// splice's aligned middle through that. Decisions, in order: `len == 0` returns 0
    /// without an RPC (a COPY count of 0 would mean "to EOF"); a never-share copy on a
    /// `policy=strict` mount whose server does not advertise a non-sharing COPY answers
    /// `EOPNOTSUPP` at once (the VFS then byte-copies through this client and calls
    /// [`FileSystem::unshare_copied`]); a pending signal gives `EINTR` before anything is
    /// sent; then R2, then R1 (flush and commit source and destination); the range is
    /// clamped to the client's view of the source EOF; then one COPY — synchronous
    /// (`async=0`, or `how.nonblock`: a non-blocking caller does not wait for CB_OFFLOAD,
    /// and the lab never leaves a copy running behind a call that returned) or asynchronous
    /// and waited for ([`NfsClient`]'s `copy_async`). The VFS holds the destination's inode
    /// lock around this call, as `nfs42_proc_copy` holds it around each COPY and its wait.
    ///
    /// # Errors
    /// In check order: `EOPNOTSUPP` (strict policy refusing a never-share copy); `EINTR`
    /// (a signal before anything was sent); errors of R2/R1 commits (`EIO` after repeated
    /// verifier changes, `ENOSPC`, `ETIMEDOUT`, …); the COPY's own errors (`EOPNOTSUPP`
    /// from a server without COPY, `EISDIR`, `ESTALE`, backend errors such as `ENOSPC`);
    /// for an asynchronous copy the error CB_OFFLOAD reported with nothing copied (after
    /// some bytes, their count), `EINTR` if a signal
    /// cancelled it before any byte was copied, and `EIO` if server reboots forgot every
    /// attempt. After an error no COPY of this call is left running on the server.
    fn copy_file_range(
        &self,
        task: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        how: CopyHow,
    ) -> KResult<u64> {
        if len == 0 {
            return Ok(0);
        }
        let mut cs = self.state.lock();
        if self.refuses(how) {
            cs.stats.strict_refusals += 1;
            return Err(Errno::EOPNOTSUPP);
        }
        if task.signal_pending() {
            return Err(Errno::EINTR);
        }
        self.recover(&mut cs, task)?;
        self.before_modify(&mut cs, task, dst)?;
        self.commit_for_copy(&mut cs, task, src)?;
        if dst != src {
            self.commit_for_copy(&mut cs, task, dst)?;
        }
        let src_size = self.view_size(&cs, src)?;
        let len = len.min(src_size.saturating_sub(soff));
        if len == 0 {
            return Ok(0);
        }
        if self.opts.async_copy && !how.nonblock {
            self.copy_async(&mut cs, task, src, soff, dst, doff, len)
        } else {
            self.copy_sync(&mut cs, task, src, soff, dst, doff, len)
        }
    }

    /// Every copy but a never-share one that `policy=strict` refuses (the server has no
    /// non-sharing COPY): that refusal needs no file and no lock.
    fn offers_copy(&self, how: CopyHow) -> bool {
        let refused = self.refuses(how);
        if refused {
            self.state.lock().stats.strict_refusals += 1;
        }
        !refused
    }

    /// A never-share byte copy through this client leaves the bytes in its cache, and the
    /// server's blocks under the range as they were — shared, if the destination was a
    /// reflink. Sending them now (WRITE) makes the server's file system write them, which
    /// on btrfs, XFS or ocfs2 moves the range to blocks of its own. A failed WRITE keeps
    /// the bytes dirty, to be sent again by the next write-back or `fsync` (which reports
    /// its own error), as the write-back that `write` starts does.
    fn unshare_copied(&self, task: &Task, ino: Ino, _off: u64, _len: u64) {
        let mut cs = self.state.lock();
        let _ = self
            .recover(&mut cs, task)
            .and_then(|()| self.flush(&mut cs, task, ino));
    }

    fn image(&self) -> Image {
        self.server.backend().image()
    }

    /// The server backend's fsck, plus the client cache's own invariants.
    fn fsck(&self) -> Vec<String> {
        let mut out = self.server.backend().fsck();
        let cs = self.state.lock();
        for (ino, f) in &cs.files {
            out.extend(f.written.check(&format!("nfs client: inode {ino} cache")));
            out.extend(f.dirty.check(&format!("nfs client: inode {ino} dirty")));
            for (o, d) in f.dirty.pieces() {
                if f.written.get(o, o + d.len()).is_none() {
                    out.push(format!(
                        "nfs client: inode {ino}: dirty bytes [{o}, {}) are not in the cache",
                        o + d.len()
                    ));
                }
            }
            for e in &f.log {
                if let Unstable::Write { off, data, .. } = e
                    && data.is_empty()
                {
                    out.push(format!(
                        "nfs client: inode {ino}: empty logged write at {off}"
                    ));
                }
            }
        }
        out
    }

    /// A client crash keeps exactly what the server holds now (the server did not crash),
    /// with the files this client had unlinked freed — its lease expires.
    fn crash_states(&self) -> Vec<Image> {
        let cs = self.state.lock();
        let mut img = self.server.backend().image();
        for &ino in &cs.unlinked {
            if img.inode(ino).is_ok_and(|n| n.nlink == 0) {
                img.evict(ino);
            }
        }
        vec![img]
    }

    /// The client (cache, log, pending copies) with a fork of its server and of the link
    /// to it: a client alone cannot be copied, since its state describes the server's.
    fn fork(&self) -> Option<Arc<dyn FileSystem>> {
        let server = self.server.fork()?;
        let state = self.state.lock().clone();
        Some(Arc::new(NfsClient {
            server,
            net: self.net.fork(),
            opts: self.opts.clone(),
            id: self.id,
            caps: self.caps,
            cost: self.cost.clone(),
            state: Mutex::new(state),
        }))
    }

    /// Client crash: dirty and logged data are lost, the server keeps what it received;
    /// the client's lease expires, so the server stops its asynchronous copies and frees
    /// files it had unlinked. `pick` is ignored (there is one state).
    fn crash(&self, _pick: usize) {
        let mut cs = self.state.lock();
        let unlinked = std::mem::take(&mut cs.unlinked);
        let stats = std::mem::take(&mut cs.stats);
        *cs = ClientState {
            boot_seen: self.server.boot(),
            inherited: true,
            stats,
            ..ClientState::default()
        };
        self.server.client_gone(self.id);
        let backend = self.server.backend();
        for ino in unlinked {
            if backend.getattr(ino).is_ok_and(|s| s.nlink == 0) {
                backend.evict(ino);
            }
        }
    }

    fn server_reboots(&self) -> u64 {
        self.server.boot()
    }

    /// `Reboot`: the server reboots now (see [`NfsServer::reboot`]). `Partition { ns }`: this
    /// client's link drops everything for `ns` from now. Media errors and ENOSPC go to the
    /// server's backend.
    fn inject(&self, task: &Task, fault: Fault) -> KResult<FaultReport> {
        match fault {
            Fault::Reboot => Ok(FaultReport {
                hits: Vec::new(),
                note: self.server.reboot(task.now()),
            }),
            Fault::RebootAfterCopied { bytes } => {
                self.server.arm_reboot_after(Some(bytes));
                Ok(FaultReport {
                    hits: Vec::new(),
                    note: format!(
                        "the server will reboot once an asynchronous copy has done {bytes} bytes"
                    ),
                })
            }
            Fault::Partition { ns } => {
                self.net.partition(task.now(), ns);
                Ok(FaultReport {
                    hits: Vec::new(),
                    note: format!(
                        "network partitioned for {} from {}",
                        vfs::clock::fmt_nanos(ns),
                        vfs::clock::fmt_nanos(task.now())
                    ),
                })
            }
            other => self.server.backend().inject(task, other),
        }
    }
}

/// Virtual time a client-side copy of `len` bytes through `client` would take: reads and
/// writes in `chunk`-sized pieces and a final fsync (for reports comparing with COPY).
///
/// # Errors
/// Those of the reads, writes and fsync.
pub fn client_side_copy(
    client: &dyn FileSystem,
    task: &Task,
    src: Ino,
    dst: Ino,
    len: u64,
    chunk: u64,
) -> KResult<Nanos> {
    let t0 = task.now();
    let mut off = 0;
    while off < len {
        let d = client.read(task, src, off, chunk.min(len - off))?;
        if d.is_empty() {
            break;
        }
        client.write(task, dst, off, &d)?;
        off += d.len();
    }
    client.fsync(task, dst, false)?;
    Ok(task.now() - t0)
}
