//! The in-process NFSv4.2 server: exports the root of a backend model.
//!
//! Every operation runs on a server [`Task`] whose clock starts when the request arrives;
//! the backend charges its own costs to that task, and the client folds the finishing time
//! into its own clock when the reply arrives (see [`NfsClient`](super::NfsClient)). File
//! handles are the backend's inode numbers.
//!
//! **Stable storage.** The backend's durable state (what its `crash(0)` keeps) is the
//! server's stable storage. UNSTABLE WRITE and COPY results live only in the backend's
//! volatile state until a COMMIT (`fsync` of the backend) — RFC 8881 §18.32, §18.3.
//! Namespace and attribute changes (CREATE, REMOVE, RENAME, SETATTR, ALLOCATE,
//! DEALLOCATE) and CLONE are committed before the reply, as Linux nfsd does on a `sync`
//! export; CLONE must be, because its result carries no verifier a client could check
//! (RFC 7862 §15.13).
//!
//! **Reboot** ([`NfsServer::reboot`]): the backend crashes to its oldest permitted state
//! (`crash(0)`: the last committed or forced image, with nothing of its page cache), the
//! write verifier changes, and
//! every asynchronous copy in progress is forgotten (RFC 7862 §4: a server reboot loses
//! in-progress offloads; the client must restart them).
//!
//! **COPY** (RFC 7862 §15.2). The server copies in chunks of `copychunk` bytes (default
//! 4 MiB — Linux nfsd limits one synchronous COPY to 4 MiB so that an nfsd thread is not
//! blocked for long; a short synchronous result is normal and the client continues).
//! With `copy=reflink` a chunk is first offered to the backend's `remap_file_range` with
//! `CAN_SHORTEN` (as nfsd's `vfs_copy_file_range` reflinks when it can); what it does not
//! share is byte-copied. With `copy=bytes` every byte is copied, and only then does the
//! server advertise [`ServerCaps::nonsharing_copy`] (a lab extension). An asynchronous copy
//! (`ca_synchronous = false`) is registered at once and answered with a callback stateid;
//! it then progresses one chunk at a time on its own server clock, driven lazily: whenever a
//! request arrives at time `t`, every outstanding copy first runs the chunks that *start*
//! before `t` (so a copy makes progress while its client sleeps), and a client waiting for
//! CB_OFFLOAD steps it chunk by chunk (`wait_step`). A chunk always finishes
//! once started: OFFLOAD_CANCEL (RFC 7862 §15.8) stops the copy at the next chunk boundary.

use std::collections::BTreeMap;

use vfs::clock::Nanos;
use vfs::data::Data;
use vfs::errno::Errno;
use vfs::extent::{Attrs, FileKind, Ino};
use vfs::fs::{FileSystem, Stat, remap_flags};
use vfs::sync::{Arc, Mutex, MutexGuard};
use vfs::task::Task;

use super::proto::{
    CopyProgress, CopyRes, NfsResult, NfsStat, Offload, OffloadStatus, ServerCaps, StableHow,
    StateId, Verifier, WriteRes,
};

/// The thread id of server-side tasks.
pub const SERVER_TID: u32 = 0x4e46_5344; // "NFSD"

/// How the server implements COPY (server option `copy=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyMethod {
    /// Share extents when the backend can (`remap_file_range` with `CAN_SHORTEN`), byte-copy
    /// the rest: what Linux nfsd does on btrfs or XFS today.
    Reflink,
    /// Always byte-copy; the server then advertises a non-sharing COPY.
    Bytes,
}

/// Server options (the server half of the `nfs-like` mount spec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// `copy=reflink|bytes` (default `reflink`).
    pub copy: CopyMethod,
    /// `copychunk=SIZE`: bytes per server copy step and the most one synchronous COPY does
    /// (default 4 MiB).
    pub copy_chunk: u64,
    /// `copysync=1`: commit a finished COPY and answer `FILE_SYNC4`; default 0: answer
    /// `UNSTABLE4` (the client must COMMIT, and re-COPY on a verifier change).
    pub copy_sync: bool,
    /// `reboot_after=SIZE`: one-shot fault — the server reboots as soon as an asynchronous
    /// copy has completed this many bytes (at the end of that chunk).
    pub reboot_after: Option<u64>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            copy: CopyMethod::Reflink,
            copy_chunk: 4 << 20,
            copy_sync: false,
            reboot_after: None,
        }
    }
}

/// What the server did, for reports and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub reboots: u64,
    /// Bytes COPY moved by byte copy.
    pub bytes_copied: u64,
    /// Bytes COPY or CLONE shared by remapping extents.
    pub bytes_shared: u64,
    pub async_copies: u64,
    /// Asynchronous copies forgotten by a reboot.
    pub copies_lost: u64,
    /// Asynchronous copies stopped by OFFLOAD_CANCEL (or a client's lease expiring).
    pub copies_cancelled: u64,
    /// COMMITs answered.
    pub commits: u64,
}

/// One asynchronous copy in progress (or finished, waiting for its client).
#[derive(Clone, Debug)]
struct Job {
    owner: u64,
    src: Ino,
    soff: u64,
    dst: Ino,
    doff: u64,
    len: u64,
    done: u64,
    /// Server virtual time at which `done` was reached.
    clock: Nanos,
    result: Option<Offload>,
}

#[derive(Clone, Debug)]
struct ServerState {
    boot: u64,
    verf: Verifier,
    next_id: StateId,
    next_client: u64,
    jobs: BTreeMap<StateId, Job>,
    /// Copies a reboot forgot, with the reboot time, until their client hears of it.
    lost: BTreeMap<StateId, Nanos>,
    reboot_after: Option<u64>,
    stats: ServerStats,
}

fn verifier_of(boot: u64) -> Verifier {
    // Any value unique per boot will do; make it look like one (RFC 8881 suggests the boot
    // time).
    0x5645_5246_0000_0000 ^ boot.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The NFS server.
pub struct NfsServer {
    backend: Arc<dyn FileSystem>,
    opts: ServerOptions,
    state: Mutex<ServerState>,
}

impl std::fmt::Debug for NfsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NfsServer({}, {:?})", self.backend.fs_type(), self.opts)
    }
}

impl NfsServer {
    /// An independent copy of this server — its backend forked ([`FileSystem::fork`]),
    /// sessions, verifier and copy jobs as they are — or `None` if the backend cannot be
    /// forked.
    pub(crate) fn fork(&self) -> Option<Arc<NfsServer>> {
        let backend = self.backend.fork()?;
        let state = self.state.lock().clone();
        Some(Arc::new(NfsServer {
            backend,
            opts: self.opts.clone(),
            state: Mutex::new(state),
        }))
    }

    /// A server exporting the root of `backend`.
    pub fn new(backend: Arc<dyn FileSystem>, opts: ServerOptions) -> Arc<NfsServer> {
        let reboot_after = opts.reboot_after;
        Arc::new(NfsServer {
            backend,
            opts,
            state: Mutex::new(ServerState {
                boot: 0,
                verf: verifier_of(0),
                next_id: 1,
                next_client: 1,
                jobs: BTreeMap::new(),
                lost: BTreeMap::new(),
                reboot_after,
                stats: ServerStats::default(),
            }),
        })
    }

    /// The exported file system.
    pub fn backend(&self) -> &Arc<dyn FileSystem> {
        &self.backend
    }

    /// The server options.
    pub fn options(&self) -> &ServerOptions {
        &self.opts
    }

    /// What the server advertises.
    pub fn caps(&self) -> ServerCaps {
        ServerCaps {
            clone_blksize: self.backend.remap_block_size(),
            nonsharing_copy: self.opts.copy == CopyMethod::Bytes,
        }
    }

    /// The current write verifier.
    pub fn verifier(&self) -> Verifier {
        self.state.lock().verf
    }

    /// The boot instance (0 until the first reboot).
    pub fn boot(&self) -> u64 {
        self.state.lock().boot
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        self.state.lock().stats.clone()
    }

    /// Asynchronous copies not yet collected by their client.
    pub fn outstanding_copies(&self) -> usize {
        self.state.lock().jobs.len()
    }

    /// Arms (or with `None` disarms) the one-shot "reboot once an asynchronous copy has done
    /// `bytes` bytes" fault, as the `reboot_after=` option does at mount.
    pub fn arm_reboot_after(&self, bytes: Option<u64>) {
        self.state.lock().reboot_after = bytes;
    }

    /// Reboots the server at virtual time `at`: outstanding copies first progress to `at`,
    /// then the backend crashes to its durable state, the verifier changes and every
    /// asynchronous copy is forgotten. Returns a sentence for reports.
    pub fn reboot(&self, at: Nanos) -> String {
        let mut s = self.state.lock();
        self.advance_locked(&mut s, at);
        self.reboot_locked(&mut s, at)
    }

    fn reboot_locked(&self, s: &mut ServerState, at: Nanos) -> String {
        let old = s.verf;
        self.backend.crash(0);
        s.boot += 1;
        s.verf = verifier_of(s.boot);
        let lost = s.jobs.len();
        for id in std::mem::take(&mut s.jobs).into_keys() {
            s.lost.insert(id, at);
        }
        s.stats.reboots += 1;
        s.stats.copies_lost += lost as u64;
        format!(
            "server rebooted: write verifier {old:#018x} -> {:#018x}, {lost} asynchronous cop{} lost",
            s.verf,
            if lost == 1 { "y" } else { "ies" }
        )
    }

    /// Registers a client; its id owns its asynchronous copies.
    pub(crate) fn register_client(&self) -> u64 {
        let mut s = self.state.lock();
        s.next_client += 1;
        s.next_client - 1
    }

    /// A client went away (crashed): its lease expires and its copies are stopped, as nfsd
    /// shuts down a client's copies when it destroys the client.
    pub(crate) fn client_gone(&self, owner: u64) {
        let mut s = self.state.lock();
        let before = s.jobs.len();
        s.jobs.retain(|_, j| j.owner != owner);
        s.stats.copies_cancelled += (before - s.jobs.len()) as u64;
    }

    /// Locks the state and lets outstanding copies progress to the arrival time of the
    /// request being served.
    fn enter(&self, st: &Task) -> MutexGuard<'_, ServerState> {
        let mut s = self.state.lock();
        self.advance_locked(&mut s, st.now());
        s
    }

    fn advance_locked(&self, s: &mut ServerState, t: Nanos) {
        let ids: Vec<StateId> = s.jobs.keys().copied().collect();
        for id in ids {
            while s
                .jobs
                .get(&id)
                .is_some_and(|j| j.result.is_none() && j.clock < t)
            {
                if let CopyProgress::Lost { .. } = self.run_chunk(s, id) {
                    return; // rebooted: nothing is left to advance
                }
            }
        }
    }

    // ------------------------------------------------------------------ copy engine

    /// One server copy step of `[soff, soff + n)` (already clamped to the source EOF): the
    /// source hole it starts with, whatever its length, then the data up to the next hole,
    /// at most `copychunk` bytes.
    /// Returns `(hole, data)`, the lengths of the two parts.
    ///
    /// A hole costs no data movement (the destination range is made a hole too, see
    /// [`NfsServer::copy_hole`]), so only data counts against the step: a copy of a sparse
    /// file takes steps in proportion to its data and extents, never to its size.
    fn step(&self, src: Ino, soff: u64, n: u64) -> NfsResult<(u64, u64)> {
        self.step_at_most(src, soff, n, self.opts.copy_chunk)
    }

    /// [`NfsServer::step`] with at most `max` bytes after the leading hole.
    fn step_at_most(&self, src: Ino, soff: u64, n: u64, max: u64) -> NfsResult<(u64, u64)> {
        if n == 0 {
            return Ok((0, 0));
        }
        let hole = match self.backend.seek_data_hole(src, soff, true) {
            Ok(data) => data.saturating_sub(soff).min(n),
            // No data at or after `soff`: the rest of the range is a hole.
            Err(Errno::ENXIO) => n,
            Err(e) => return Err(e.into()),
        };
        if hole == n {
            return Ok((hole, 0));
        }
        // The data part ends where the next hole starts, so that a hole is never copied
        // as written zeroes.
        // Looked for no further than the step can go: O(extents in one step).
        let from = soff + hole;
        let limit = from.saturating_add((n - hole).min(max));
        let data = match self.backend.seek_hole_within(src, from, limit) {
            Ok(h) if h > from => h - from,
            _ => n - hole,
        };
        Ok((hole, data.min(n - hole).min(max)))
    }

    /// Copies (part of) a source hole to `[doff, doff + len)` of `dst`; returns the bytes
    /// done from `doff`. Where the destination has no block, nothing is written: the range
    /// already reads as zeroes and stays a hole (a destination shorter than `doff + len`
    /// grows to it, `SETATTR(size)`, as a copy of zeroes would have grown it) — O(extents)
    /// whatever `len` is. Where the destination has blocks (data, or preallocated and
    /// possibly shared), zeroes are written as a byte copy writes them, at most `copychunk`
    /// bytes, so that no destination block stays shared after a never-share copy and the
    /// step stays bounded; the step then ends there (a short count; the caller goes on).
    ///
    /// # Errors
    /// Those of FIEMAP/SEEK, of the zero write, or of SETATTR, when nothing was done.
    fn copy_hole(&self, st: &Task, dst: Ino, doff: u64, len: u64) -> NfsResult<u64> {
        if len == 0 {
            return Ok(0);
        }
        let end = doff.saturating_add(len);
        // Up to the first block the destination maps, its range is a hole already: it
        // reads as zeroes once the size covers it.
        let hole_end = match self
            .backend
            .backed_run(dst, doff, end, self.opts.copy_chunk)?
        {
            Some((p, _)) if p > doff => p,
            Some((_, e)) => {
                let n = (e - doff).min(self.opts.copy_chunk);
                self.backend.write(st, dst, doff, &Data::zero(n))?;
                return Ok(n);
            }
            None => end,
        };
        let size = self.backend.getattr(dst)?.size;
        if hole_end > size {
            let inside = size.saturating_sub(doff);
            match self.backend.truncate(st, dst, hole_end) {
                Ok(()) => {}
                // The part inside the old EOF reads as zeroes already: done.
                Err(_) if inside > 0 => return Ok(inside),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(hole_end - doff)
    }

    /// Does one step ([`NfsServer::step`]) of copying `[soff, soff + n)` (already clamped
    /// to the source EOF): the leading source hole as a hole, then the data part by remap
    /// when allowed and by read + write for the rest. Returns `(copied, shared, asked)`:
    /// bytes copied (holes included), bytes shared, and the step's length — fewer done
    /// than asked means the copy cannot go on (the source ended, or an error after
    /// progress).
    ///
    /// Whether the backend shares is decided for this request alone: a backend that
    /// refuses one pair of files (`EOPNOTSUPP` for two ocfs2 files in different refcount
    /// trees, `EINVAL` for an unaligned piece, `EXDEV`) may share the next pair, so nothing
    /// is remembered — as nfsd calls `vfs_copy_file_range` afresh for every COPY.
    #[allow(clippy::too_many_arguments)]
    fn copy_piece(
        &self,
        s: &mut ServerState,
        st: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        n: u64,
    ) -> NfsResult<(u64, u64, u64)> {
        let (hole, data) = self.step(src, soff, n)?;
        let zeroed = self.copy_hole(st, dst, doff, hole)?;
        if zeroed < hole {
            return Ok(self.count(s, zeroed, 0, hole + data));
        }
        let (soff, doff, n) = (soff + hole, doff + hole, data);
        let mut shared = 0;
        if self.opts.copy == CopyMethod::Reflink && self.backend.has_remap() && n > 0 {
            match self.backend.remap_file_range(
                st,
                src,
                soff,
                dst,
                doff,
                n,
                remap_flags::CAN_SHORTEN,
            ) {
                Ok(k) => shared = k.min(n),
                // Not these files, or not this range (unaligned; nodatacow with datacow):
                // vfs_copy_file_range falls back to a byte copy, so does this server.
                Err(Errno::EOPNOTSUPP) | Err(Errno::EINVAL) | Err(Errno::EXDEV) => {}
                // The hole part is in the destination: a short count, not an error.
                Err(_) if hole > 0 => return Ok(self.count(s, hole, 0, hole + n)),
                Err(e) => return Err(e.into()),
            }
        }
        let mut copied = 0;
        if shared < n {
            let rest = self
                .backend
                .read(st, src, soff + shared, n - shared)
                .and_then(|d| {
                    if !d.is_empty() {
                        // A byte copy really moves real bytes: the destination gets its
                        // own buffers.
                        self.backend.write(st, dst, doff + shared, &d.deep_copy())?;
                    }
                    Ok(d.len())
                });
            match rest {
                Ok(k) => copied = k,
                // The hole and shared parts are in the destination: a short count.
                Err(_) if hole + shared > 0 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.count(s, hole + copied, shared, hole + n))
    }

    /// Adds a step's figures to the statistics (saturating: a counter of bytes must not
    /// wrap however many exabyte-sized sparse copies it sees) and returns them.
    fn count(&self, s: &mut ServerState, copied: u64, shared: u64, asked: u64) -> (u64, u64, u64) {
        s.stats.bytes_copied = s.stats.bytes_copied.saturating_add(copied);
        s.stats.bytes_shared = s.stats.bytes_shared.saturating_add(shared);
        (copied, shared, asked)
    }

    fn clamp_to_eof(&self, src: Ino, soff: u64, len: u64) -> NfsResult<u64> {
        let size = self.backend.getattr(src)?.size;
        Ok(len.min(size.saturating_sub(soff)))
    }

    /// Runs the next chunk of job `id` on its own clock (or reports its end).
    fn run_chunk(&self, s: &mut ServerState, id: StateId) -> CopyProgress {
        let Some(job) = s.jobs.get(&id).cloned() else {
            return CopyProgress::Lost {
                at: s.lost.get(&id).copied().unwrap_or(0),
            };
        };
        if let Some(r) = job.result {
            return CopyProgress::Done(r);
        }
        let st = Task::new(SERVER_TID);
        st.wait_until(job.clock);
        let r = self
            .clamp_to_eof(job.src, job.soff + job.done, job.len - job.done)
            .and_then(|n| {
                self.copy_piece(
                    s,
                    &st,
                    job.src,
                    job.soff + job.done,
                    job.dst,
                    job.doff + job.done,
                    n,
                )
            });
        let end = st.now();
        let (copied, shared, want, status) = match r {
            Ok((c, sh, asked)) => (c, sh, asked, Ok(())),
            Err(e) => (0, 0, 0, Err(e)),
        };
        let done = job.done + copied + shared;
        if let Some(th) = s.reboot_after
            && done >= th
        {
            s.reboot_after = None;
            self.reboot_locked(s, end);
            return CopyProgress::Lost { at: end };
        }
        let finished = status.is_err() || done == job.len || want == 0 || copied + shared < want;
        let mut committed = StableHow::Unstable4;
        if finished
            && status.is_ok()
            && self.opts.copy_sync
            && done > 0
            && self.backend.fsync(&st, job.dst, false).is_ok()
        {
            committed = StableHow::FileSync4;
        }
        let verf = s.verf;
        let j = s.jobs.get_mut(&id).expect("job present above");
        j.done = done;
        j.clock = st.now();
        if finished {
            j.result = Some(Offload {
                status,
                write: WriteRes {
                    count: done,
                    committed,
                    verf,
                },
                at: st.now(),
            });
        }
        CopyProgress::Chunk {
            end,
            copied,
            shared,
        }
    }

    // ------------------------------------------------------------------ operations

    /// `GETATTR` (no cost: it stands for the client's attribute cache).
    pub(crate) fn getattr(&self, ino: Ino) -> NfsResult<Stat> {
        Ok(self.backend.getattr(ino)?)
    }

    /// Makes a namespace or attribute change stable before replying.
    fn commit_metadata(&self, st: &Task, ino: Ino) -> NfsResult<()> {
        Ok(self.backend.commit_metadata(st, ino)?)
    }

    /// `OPEN(CREATE)` / `CREATE`.
    pub(crate) fn create(&self, st: &Task, dir: Ino, name: &str, kind: FileKind) -> NfsResult<Ino> {
        let _s = self.enter(st);
        let ino = self.backend.create(st, dir, name, kind)?;
        self.commit_metadata(st, dir)?;
        Ok(ino)
    }

    /// `REMOVE`.
    pub(crate) fn remove(&self, st: &Task, dir: Ino, name: &str, rmdir: bool) -> NfsResult<Ino> {
        let _s = self.enter(st);
        let ino = self.backend.remove(st, dir, name, rmdir)?;
        self.commit_metadata(st, dir)?;
        Ok(ino)
    }

    /// `RENAME`.
    pub(crate) fn rename(
        &self,
        st: &Task,
        odir: Ino,
        oname: &str,
        ndir: Ino,
        nname: &str,
    ) -> NfsResult<Option<Ino>> {
        let _s = self.enter(st);
        let r = self.backend.rename(st, odir, oname, ndir, nname)?;
        self.commit_metadata(st, ndir)?;
        Ok(r)
    }

    /// `SETATTR` of the lab's chattr-style attributes.
    pub(crate) fn set_attrs(&self, st: &Task, ino: Ino, attrs: Attrs) -> NfsResult<()> {
        let _s = self.enter(st);
        self.backend.set_attrs(st, ino, attrs)?;
        self.commit_metadata(st, ino)
    }

    /// `SETATTR(size)`.
    pub(crate) fn truncate(&self, st: &Task, ino: Ino, size: u64) -> NfsResult<()> {
        let _s = self.enter(st);
        self.backend.truncate(st, ino, size)?;
        self.commit_metadata(st, ino)
    }

    /// `ALLOCATE` / `DEALLOCATE` (RFC 7862 §15.1, §15.4) as the fallocate mode says.
    pub(crate) fn fallocate(
        &self,
        st: &Task,
        ino: Ino,
        mode: u32,
        off: u64,
        len: u64,
    ) -> NfsResult<()> {
        let _s = self.enter(st);
        self.backend.fallocate(st, ino, mode, off, len)?;
        // knfsd commits only metadata here; the partial blocks DEALLOCATE zeroes are in the
        // backend's page cache, so a server crash could bring their old bytes back. The
        // model writes them back too (docs/design.md, known deviations).
        Ok(self.backend.fsync(st, ino, false)?)
    }

    /// `READ` as NFSv4.2's READ_PLUS answers it (RFC 7862 §15.10): the hole the range
    /// starts with comes back as one hole segment whatever its length, followed by at most
    /// `max` bytes read from the backend. Returns the content and the length of that
    /// leading hole (which costs no bytes on the wire), so reading a sparse file takes
    /// READs in proportion to its data, not its size.
    pub(crate) fn read(
        &self,
        st: &Task,
        ino: Ino,
        off: u64,
        len: u64,
        max: u64,
    ) -> NfsResult<(Data, u64)> {
        let _s = self.enter(st);
        let size = self.backend.getattr(ino)?.size;
        let len = len.min(size.saturating_sub(off));
        let (hole, data) = self.step_at_most(ino, off, len, max)?;
        let mut out = Data::zero(hole);
        if data > 0 {
            out.append(self.backend.read(st, ino, off + hole, data)?);
        }
        Ok((out, hole))
    }

    /// `WRITE` with `stable` (RFC 8881 §18.32): anything but UNSTABLE4 is committed first.
    pub(crate) fn write(
        &self,
        st: &Task,
        ino: Ino,
        off: u64,
        data: &Data,
        stable: StableHow,
    ) -> NfsResult<WriteRes> {
        let s = self.enter(st);
        let count = self.backend.write(st, ino, off, data)?;
        let committed = if stable.is_stable() {
            self.backend
                .fsync(st, ino, stable == StableHow::DataSync4)?;
            StableHow::FileSync4
        } else {
            StableHow::Unstable4
        };
        Ok(WriteRes {
            count,
            committed,
            verf: s.verf,
        })
    }

    /// `COMMIT` (RFC 8881 §18.3): makes everything stable; returns the verifier.
    pub(crate) fn commit(&self, st: &Task, ino: Ino) -> NfsResult<Verifier> {
        let mut s = self.enter(st);
        self.backend.fsync(st, ino, false)?;
        s.stats.commits += 1;
        Ok(s.verf)
    }

    /// `SEEK` (RFC 7862 §15.11).
    pub(crate) fn seek(&self, ino: Ino, off: u64, data: bool) -> NfsResult<u64> {
        Ok(self.backend.seek_data_hole(ino, off, data)?)
    }

    /// `COPY` (RFC 7862 §15.2), intra-server. The range is clamped to the source EOF, as
    /// nfsd's `vfs_copy_file_range` does. Synchronous: one chunk is done and reported (a
    /// short count is normal). Asynchronous: the copy is registered and a callback stateid
    /// returned at once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy(
        &self,
        st: &Task,
        owner: u64,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
        synchronous: bool,
    ) -> NfsResult<CopyRes> {
        let mut s = self.enter(st);
        for ino in [src, dst] {
            if self.backend.getattr(ino)?.kind != FileKind::Regular {
                return Err(NfsStat::IsDir);
            }
        }
        let len = self.clamp_to_eof(src, soff, len)?;
        let verf = s.verf;
        if !synchronous {
            let id = s.next_id;
            s.next_id += 1;
            s.stats.async_copies += 1;
            s.jobs.insert(
                id,
                Job {
                    owner,
                    src,
                    soff,
                    dst,
                    doff,
                    len,
                    done: 0,
                    clock: st.now(),
                    result: None,
                },
            );
            return Ok(CopyRes {
                callback: Some(id),
                write: WriteRes {
                    count: 0,
                    committed: StableHow::Unstable4,
                    verf,
                },
                shared: 0,
            });
        }
        let (copied, shared, _) = self.copy_piece(&mut s, st, src, soff, dst, doff, len)?;
        let count = copied + shared;
        let committed = if self.opts.copy_sync && count > 0 {
            self.backend.fsync(st, dst, false)?;
            StableHow::FileSync4
        } else {
            StableHow::Unstable4
        };
        Ok(CopyRes {
            callback: None,
            write: WriteRes {
                count,
                committed,
                verf,
            },
            shared,
        })
    }

    /// The waiting client's view of asynchronous copy `id`: runs its next chunk, or reports
    /// its end (collecting it) or its loss.
    ///
    /// # Errors
    /// `NFS4ERR_BAD_STATEID` for a copy the server never had or was already collected.
    pub(crate) fn wait_step(&self, id: StateId) -> NfsResult<CopyProgress> {
        let mut s = self.state.lock();
        if let Some(at) = s.lost.remove(&id) {
            return Ok(CopyProgress::Lost { at });
        }
        if !s.jobs.contains_key(&id) {
            return Err(NfsStat::BadStateid);
        }
        let p = self.run_chunk(&mut s, id);
        if let CopyProgress::Done(_) = p {
            s.jobs.remove(&id);
        }
        Ok(p)
    }

    /// `OFFLOAD_STATUS` (RFC 7862 §15.9); a finished copy is collected.
    pub(crate) fn offload_status(&self, st: &Task, id: StateId) -> NfsResult<OffloadStatus> {
        let mut s = self.enter(st);
        if s.lost.remove(&id).is_some() {
            return Err(NfsStat::BadStateid);
        }
        let j = s.jobs.get(&id).ok_or(NfsStat::BadStateid)?;
        let status = OffloadStatus {
            count: j.done,
            complete: j.result,
        };
        if status.complete.is_some() {
            s.jobs.remove(&id);
        }
        Ok(status)
    }

    /// `OFFLOAD_STATUS` + `OFFLOAD_CANCEL` in one compound (RFC 7862 §15.8, §15.9): stops
    /// the copy at the current chunk boundary and says how far it got. The bytes done stay
    /// in the destination, UNSTABLE under the returned verifier.
    pub(crate) fn offload_cancel(&self, st: &Task, id: StateId) -> NfsResult<WriteRes> {
        let mut s = self.enter(st);
        if s.lost.remove(&id).is_some() {
            return Err(NfsStat::BadStateid);
        }
        let j = s.jobs.remove(&id).ok_or(NfsStat::BadStateid)?;
        if let Some(r) = j.result {
            // It ended before the cancel arrived: what CB_OFFLOAD would have said — the
            // bytes done even when it then failed (coa_bytes_copied), the error if none.
            return match r.status {
                Err(e) if r.write.count == 0 => Err(e),
                _ => Ok(r.write),
            };
        }
        s.stats.copies_cancelled += 1;
        Ok(WriteRes {
            count: j.done,
            committed: StableHow::Unstable4,
            verf: s.verf,
        })
    }

    /// `CLONE` (RFC 7862 §15.13): all or nothing, committed before the reply. Returns the
    /// bytes cloned and, of those, the bytes the backend copied instead of sharing (btrfs's
    /// inline extents), as its task reported them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn clone_range(
        &self,
        st: &Task,
        src: Ino,
        soff: u64,
        dst: Ino,
        doff: u64,
        len: u64,
    ) -> NfsResult<(u64, u64)> {
        let mut s = self.enter(st);
        let copied0 = st.stats().bytes_copied;
        let n = self
            .backend
            .remap_file_range(st, src, soff, dst, doff, len, 0)?;
        let copied = (st.stats().bytes_copied - copied0).min(n);
        self.commit_metadata(st, dst)?;
        s.stats.bytes_shared = s.stats.bytes_shared.saturating_add(n - copied);
        s.stats.bytes_copied = s.stats.bytes_copied.saturating_add(copied);
        Ok((n, copied))
    }
}
