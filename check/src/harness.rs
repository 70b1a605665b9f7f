//! Operations applied to the simulator and to the reference model side by side, with the
//! properties of spec §6 checked after every step.
//!
//! | property | where |
//! |---|---|
//! | 1 content | [`Harness::check_content`] after every step; `pread` results; errors leave content unchanged (the model is not changed on error, the comparison does the rest) |
//! | 2 never-share | a never-share splice promises [`Class::Unshared`] on the destination blocks ([`Harness::check_tags`] after every step), `Image::users_of` of every destination block names only the destination, no byte shared (task stats), a media error on a promised-unshared block hits one file; `pwrite` allocation is exact (`Harness::check_pwrite_space`): overwriting an unshared block needs no new space on ocfs2-like |
//! | 3 must-share | success covers the whole EOF-shortened range, [`Class::SharedWith`] on every block, no byte copied; failure leaves the destination's content *and* extent map unchanged; an aligned, legal request on a sharing model must not fail |
//! | 4 write independence | content of every file after every write (copy-on-write must not change the partner) |
//! | 5 space | `fsck` (I1–I5) after every step and on every crash state |
//! | 6 durability | crash states after every `fsync` and every crash, and every `crash_every` steps ([`crate::durability`]) |
//! | 7 blocking | the longest inode-lock hold of a byte copy ≤ one chunk ([`crate::profile::Profile::chunk_hold_bound`]; between two mounts, of the smaller chunk: [`crate::profile::Profile::chunk_hold_bound_between`]), and each chunk takes both files' inode locks (`Harness::check_locks_per_chunk`); must-share moves no data and holds the locks O(extents) |
//!
//! Operands pick files by index into the live set, so a shrunk sequence stays meaningful;
//! every applied operation is also written as `splicelab script` lines, so a failure comes
//! with a script that replays it (`splicelab script -`). Descriptors are kept open per
//! name like the script runner's file table (an unlinked file stays open until a crash).
//! [`multi`] runs one harness per mount over two or three mounts, with copies between
//! them.

use std::collections::HashMap;

use syscall::api::{DedupeDest, o};
use syscall::flags::splice::NONBLOCK;
use syscall::{Process, Syscalls};
use vfs::errno::Errno;
use vfs::extent::{FiemapExtent, Ino, ROOT_INO, fiemap_flags};
use vfs::fs::Fault;
use vfs::sync::Arc;
use vfs::task::{SignalPlan, Task, TaskStats};
use vfs::vfs::Vfs;
use vfs::{Data, FileSystem};

use crate::content::{describe_at, first_diff, same};
use crate::durability::History;
use crate::ops::{Flag, NAMES, Op, ScriptWriter, command};
use crate::profile::Profile;
use crate::reference::{Class, FileId, Reference, Tag, block_range};

pub mod multi;

/// How much to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Content, sharing promises and fsck after every step (else only where an operation
    /// needs them and at the end).
    pub check_each_step: bool,
    /// Enumerate and check every crash state every this many steps (0: only after `fsync`
    /// and at crashes).
    pub crash_every: usize,
    /// Check every crash state right after each successful `fsync` (spec §6.6).
    pub crash_on_fsync: bool,
    /// Check that every `pwrite` takes exactly the free space its holes and shared blocks
    /// need (spec §6.2 for ocfs2-like, §6.5).
    pub exact_space: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            check_each_step: true,
            crash_every: 1,
            crash_on_fsync: true,
            exact_space: true,
        }
    }
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Operations applied (including skipped ones).
    pub steps: u64,
    /// Operations that needed a live file when there was none.
    pub skipped: u64,
    /// Crash states verified.
    pub crash_states: u64,
    /// Of those, states that were a journal snapshot already accepted under the same
    /// history, and so were not checked again ([`Harness::check_crash_states`]).
    pub crash_states_reused: u64,
    /// Calls that failed with an errno the checks accepted.
    pub errors: u64,
    /// Offloaded (nfs-like asynchronous) copies a signal cancelled.
    pub offloads_cancelled: u64,
    /// Offloaded copies a server reboot lost, sent again by their call.
    pub offloads_restarted: u64,
    /// Copies, clones and dedupes between two mounts ([`multi`]).
    pub cross_mount: u64,
    /// Of those, byte copies that moved bytes.
    pub cross_mount_copied: u64,
    /// `remap=swap`: remaps built with no inode lock held and installed under the locks.
    pub remaps_installed: u64,
    /// `remap=swap`: builds found stale at install and done again.
    pub remaps_restaged: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.steps += o.steps;
        self.skipped += o.skipped;
        self.crash_states += o.crash_states;
        self.crash_states_reused += o.crash_states_reused;
        self.errors += o.errors;
        self.offloads_cancelled += o.offloads_cancelled;
        self.offloads_restarted += o.offloads_restarted;
        self.cross_mount += o.cross_mount;
        self.cross_mount_copied += o.cross_mount_copied;
        self.remaps_installed += o.remaps_installed;
        self.remaps_restaged += o.remaps_restaged;
    }
}

/// Faults in force.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    /// An `EnospcAfter` is armed and has not fired yet.
    enospc: bool,
    /// A signal is planned for after this many more chunks of byte copy (`Task`'s plan,
    /// followed from the chunk counts the copies report).
    signal: Option<u64>,
    /// Some physical block has a media error.
    bad: bool,
    /// The (nfs) server rebooted since the last fsync.
    reboot: bool,
    /// A network client's re-send after a server reboot may have met `ENOSPC` (an
    /// `EnospcAfter` was armed while some file was unsettled): the client keeps it for the
    /// next `fsync` of that file (`NfsClient::recover`), however long after the fault fired.
    resend_enospc: bool,
    /// The same for `EIO` (a media error existed while some file was unsettled, or at the
    /// reboot a crashed client instance had left data uncommitted that a COPY may have read).
    resend_eio: bool,
    /// Server reboots accounted for ([`FileSystem::server_reboots`]): one armed by
    /// [`Op::RebootInCopy`] fires inside a later copy, and is followed after that step.
    reboots_seen: u64,
}

impl Faults {
    /// Whether `e` may be a re-send error kept for an unsettled file's `fsync`.
    fn resend_error(&self, e: Errno) -> bool {
        (e == Errno::ENOSPC && self.resend_enospc) || (e == Errno::EIO && self.resend_eio)
    }
}

/// Free blocks below which `ENOSPC` is an honest answer to any generated operation: the
/// generator's files have at most twelve blocks each and there are [`NAMES`] of them, so
/// one operation (a copy-on-write rewrite of a whole file, a network client writing back
/// every file) may need up to about that many, plus slack for splits.
const NEARLY_FULL_BLOCKS: u64 = NAMES as u64 * 16;

/// Most `copy_file_range` calls one `copy_range` command makes (as the script runner).
const COPY_RANGE_CALLS: usize = 1 << 16;

/// Names whose data a crashed network client may have left on the server uncommitted
/// (a server reboot may still drop it).
type Tainted = std::collections::BTreeSet<String>;

/// Which copy call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CopyKind {
    Splice(Flag),
    CopyRange,
}

/// Whether `off + len` wraps around for the source or the destination of a copy: what
/// `generic_copy_file_checks` refuses with `EOVERFLOW` ("pos_in + count < pos_in", in
/// 64-bit unsigned arithmetic; a sum past 2^63 - 1 that does not wrap is shortened to the
/// source's EOF instead).
fn wraps(soff: u64, doff: u64, len: u64) -> bool {
    soff.checked_add(len).is_none() || doff.checked_add(len).is_none()
}

/// How failures name a copy call.
fn what_of(kind: CopyKind) -> String {
    match kind {
        CopyKind::Splice(f) => format!("{}-share splice", f.name()),
        CopyKind::CopyRange => "copy_file_range".to_string(),
    }
}

/// What a copy call returned, for [`Harness::check_returned`].
struct Returned {
    /// The count.
    n: u64,
    /// What the source holds in range.
    max: u64,
    /// Source and destination offsets before and after the call.
    start: (u64, u64),
    end: (u64, u64),
    /// A signal was pending before the call (and the call is a splice).
    signal_first: bool,
}

/// The extent map of one file as block ranges: `(first, end, first physical, flags)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockMap {
    pub extents: Vec<(u64, u64, u64, u32)>,
    pub inline: bool,
}

impl BlockMap {
    /// The physical block and flags behind file block `b`.
    pub fn at(&self, b: u64) -> Option<(u64, u32)> {
        self.extents
            .iter()
            .find(|e| e.0 <= b && b < e.1)
            .map(|e| (e.2 + (b - e.0), e.3))
    }

    fn from_fiemap(v: &[FiemapExtent], bs: u64) -> BlockMap {
        let mut m = BlockMap::default();
        for e in v {
            if e.flags & fiemap_flags::DATA_INLINE != 0 {
                m.inline = true;
                continue;
            }
            let b0 = e.logical / bs;
            m.extents.push((
                b0,
                b0 + e.length.div_ceil(bs),
                e.physical / bs,
                e.flags & (fiemap_flags::SHARED | fiemap_flags::UNWRITTEN),
            ));
        }
        m
    }

    fn from_image(img: &vfs::extent::Image, ino: Ino) -> Option<BlockMap> {
        let node = img.inode(ino).ok()?;
        let mut m = BlockMap {
            inline: node.inline.is_some(),
            ..BlockMap::default()
        };
        for (&s, map) in &node.map {
            let e = &img.phys[map.phys];
            let mut flags = 0;
            if e.refs() > 1 {
                flags |= fiemap_flags::SHARED;
            }
            if map.unwritten {
                flags |= fiemap_flags::UNWRITTEN;
            }
            m.extents.push((s, s + map.len, e.start, flags));
        }
        Some(m)
    }
}

/// The simulator and the reference model, side by side.
pub struct Harness {
    pub profile: Profile,
    /// Where the mount is, as a path prefix of its files without the leading `/`: empty for
    /// a harness of one mount at `/`, `m1/` for the second mount of a [`multi`] harness.
    prefix: String,
    pub proc: Process,
    pub fs: Arc<dyn FileSystem>,
    /// The task the checks read with (so the process's statistics are the operation's).
    checker: Task,
    pub model: Reference,
    /// Live names in creation order; operands index into it.
    pub live: Vec<String>,
    fds: HashMap<String, i32>,
    /// Descriptors of files that lost their last name (unlinked, or replaced by a
    /// rename), kept open as the script runner's file table keeps them, until
    /// [`Op::CloseUnlinked`] or a crash closes them.
    orphans: Vec<(i32, Ino)>,
    inos: HashMap<String, Ino>,
    pub script: ScriptWriter,
    pub hist: History,
    faults: Faults,
    tainted: Tainted,
    /// Names whose content a network client may still change on its own after a server
    /// reboot (redoing, or failing to redo, what the server lost) until their next
    /// successful fsync: checked against the per-name rule, and followed.
    unsettled: Tainted,
    pub config: Config,
    /// Crash states already accepted: `(history epoch, journal snapshot, media errors)`.
    verified: Vec<(u64, u64, usize)>,
    /// Steps applied so far.
    pub step: usize,
    pub counters: Counters,
}

/// A failed run: what went wrong and the script that replays it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub spec: String,
    pub message: String,
    pub script: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- replay with: splicelab script --fs {} -\n{}",
            self.message,
            // A multi-mount script mounts its filesystems itself, on a scratch root.
            if multi::is_multi(&self.spec) {
                multi::ROOT
            } else {
                &self.spec
            },
            self.script
        )
    }
}

fn errno_list(e: Errno, ok: &[Errno]) -> bool {
    ok.contains(&e)
}

impl Harness {
    /// A process with `/` mounted from `spec`.
    ///
    /// # Errors
    /// The model's message for a bad spec.
    pub fn new(spec: &str) -> Result<Harness, String> {
        Self::with_config(spec, Config::default())
    }

    /// As [`Harness::new`] with a configuration.
    ///
    /// # Errors
    /// The model's message for a bad spec.
    pub fn with_config(spec: &str, config: Config) -> Result<Harness, String> {
        let mut h = Self::on_mount(&Arc::new(Vfs::new()), "/", spec, config, 1)?;
        h.script.comment(&format!("fs: {spec}"));
        Ok(h)
    }

    /// A harness of a new mount from `spec` at `dir` (`/`, or an absolute path on the
    /// mount at `/`) of `vfs`, whose process `tid` works on this mount's files only.
    ///
    /// # Errors
    /// The model's message for a bad spec; the VFS's answer to the mount.
    pub fn on_mount(
        vfs: &Arc<Vfs>,
        dir: &str,
        spec: &str,
        config: Config,
        tid: u32,
    ) -> Result<Harness, String> {
        let fs = fs_models::spec::make(spec)?;
        vfs.mount(dir, fs.clone())
            .map_err(|e| format!("mount {spec} on {dir}: {e:?}"))?;
        let profile = Profile::of(spec, &*fs);
        let model = Reference::new();
        let hist = History::new(&model);
        let prefix = dir.trim_matches('/');
        Ok(Harness {
            profile,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            proc: Process::new(vfs.clone(), tid),
            fs,
            checker: Task::new(99),
            model,
            live: Vec::new(),
            fds: HashMap::new(),
            orphans: Vec::new(),
            inos: HashMap::new(),
            script: ScriptWriter::new(),
            hist,
            faults: Faults::default(),
            tainted: Tainted::new(),
            unsettled: Tainted::new(),
            config,
            verified: Vec::new(),
            step: 0,
            counters: Counters::default(),
        })
    }

    /// An independent copy of this harness — filesystem, reference model, history and
    /// replay script — to explore another continuation of the same prefix, or `None` if
    /// the filesystem cannot be copied ([`FileSystem::fork`]). The copy has a fresh process
    /// (descriptors are opened again as needed) whose tasks start at the original's virtual
    /// time.
    pub fn fork(&self) -> Option<Harness> {
        let fs = self.fs.fork()?;
        let vfs = Arc::new(Vfs::new());
        vfs.mount("/", fs.clone()).ok()?;
        let proc = Process::new(vfs, 1);
        proc.task.wait_until(self.proc.task.now());
        let checker = Task::new(99);
        checker.wait_until(self.checker.now());
        Some(Harness {
            profile: self.profile.clone(),
            prefix: self.prefix.clone(),
            proc,
            fs,
            checker,
            model: self.model.clone(),
            live: self.live.clone(),
            fds: HashMap::new(),
            orphans: Vec::new(),
            inos: self.inos.clone(),
            script: self.script.clone(),
            hist: self.hist.clone(),
            faults: self.faults,
            tainted: self.tainted.clone(),
            unsettled: self.unsettled.clone(),
            config: self.config,
            verified: self.verified.clone(),
            step: self.step,
            counters: self.counters,
        })
    }

    fn bs(&self) -> u64 {
        self.profile.block
    }

    /// The absolute path of file `name` of this mount.
    fn path(&self, name: &str) -> String {
        format!("/{}{name}", self.prefix)
    }

    /// `name` as the replay script names it (relative to `/`).
    fn shown(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn pick(&self, i: u8) -> Option<String> {
        (!self.live.is_empty()).then(|| self.live[i as usize % self.live.len()].clone())
    }

    fn fd(&mut self, name: &str) -> Result<i32, String> {
        if let Some(&fd) = self.fds.get(name) {
            return Ok(fd);
        }
        let fd = self
            .proc
            .open(&self.path(name), o::RDWR, 0)
            .map_err(|e| format!("open {name}: {e:?} (it is live in the model)"))?;
        self.fds.insert(name.to_string(), fd);
        Ok(fd)
    }

    fn src_fd(&mut self, name: &str) -> Result<i32, String> {
        self.proc
            .open(&self.path(name), o::RDONLY, 0)
            .map_err(|e| format!("open {name} read-only: {e:?} (it is live in the model)"))
    }

    fn ino(&self, name: &str) -> Result<Ino, String> {
        self.inos
            .get(name)
            .copied()
            .ok_or_else(|| format!("internal: no inode for {name}"))
    }

    fn id(&self, name: &str) -> FileId {
        self.model.id(name).expect("live file is in the model")
    }

    /// Whether `ENOSPC` may be the honest answer now: an armed `EnospcAfter`, or a disk
    /// too full for what one generated operation may need ([`NEARLY_FULL_BLOCKS`]) — a
    /// mount spec with a tiny disk (`plain:size=64k`) fills up by itself, and a full disk is
    /// no property violation.
    fn enospc_possible(&self) -> bool {
        self.faults.enospc || self.fs.statfs().free < NEARLY_FULL_BLOCKS
    }

    fn fault_ok(&self, e: Errno, copy: bool) -> bool {
        (e == Errno::ENOSPC && self.enospc_possible())
            || (e == Errno::EIO && self.faults.bad)
            || (copy && e == Errno::EINTR && self.faults.signal.is_some())
    }

    /// Applies one operation to both sides and checks the properties.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn apply(&mut self, op: &Op) -> Result<(), String> {
        self.step += 1;
        self.counters.steps += 1;
        let step = self.step;
        self.apply_op(op)
            .map_err(|e| format!("step {step} {op:?}: {e}"))?;
        self.after_step()
            .map_err(|e| format!("after step {step} {op:?}: {e}"))
    }

    fn apply_op(&mut self, op: &Op) -> Result<(), String> {
        if let Op::Create { n } = *op {
            return self.create(&format!("f{}", n % NAMES));
        }
        let target = match op.target() {
            Some(t) => match self.pick(t) {
                Some(n) => Some(n),
                None => {
                    self.counters.skipped += 1;
                    return Ok(());
                }
            },
            None => None,
        };
        let source = op.source().and_then(|s| self.pick(s));
        // Commands on a file make it current; `mv`, `rm`, `inject media` name their path.
        let on = match op {
            Op::Rename { .. } | Op::Unlink { .. } | Op::Media { .. } => None,
            _ => target.as_deref(),
        };
        // `crash N` names a state that exists: the script refuses a number no mount has.
        let written = match *op {
            Op::Crash { pick } => Op::Crash {
                pick: crash_pick(&self.proc.vfs, pick),
            },
            _ => op.clone(),
        };
        let shown = |n: &Option<String>| n.as_deref().map(|n| self.shown(n));
        let line = command(
            &written,
            shown(&source).as_deref(),
            shown(&target).as_deref(),
        );
        let on = on.map(|n| self.shown(n));
        self.script.on(on.as_deref(), line);
        let t = target.clone().unwrap_or_default();
        let s = source.clone().unwrap_or_default();
        let old_size = self.model.size(&t);
        let r = self.apply_on(op, &t, &s);
        self.eof_block_rewritten(op, &t, old_size);
        r
    }

    /// Growing a file rewrites its old partial EOF block (zeroes past EOF), which may
    /// unshare it — also when the call then fails (XFS zeroes before it writes): sharing
    /// promises about that block of `target` (`old_size` bytes before `op`) no longer hold.
    fn eof_block_rewritten(&mut self, op: &Op, target: &str, old_size: u64) {
        let bs = self.bs();
        let grows = Self::reach(op).is_some_and(|end| end > old_size);
        if let Some(id) = self.model.id(target)
            && (grows || self.model.size(target) > old_size)
            && !old_size.is_multiple_of(bs)
        {
            self.model
                .content_changed(id, old_size / bs, old_size / bs + 1);
        }
    }

    /// How far into its target an operation may reach (to tell whether it may grow it).
    fn reach(op: &Op) -> Option<u64> {
        match *op {
            Op::Pwrite { off, len, .. } => Some(off.saturating_add(len)),
            Op::Truncate { size, .. } => Some(size),
            // Even with KEEP_SIZE (btrfs_fallocate zeroes the EOF block's tail).
            Op::Falloc { off, len, .. } => Some(off.saturating_add(len)),
            Op::Splice { doff, len, .. }
            | Op::CopyRange { doff, len, .. }
            | Op::Clone { doff, len, .. } => Some(doff.saturating_add(len.max(1))),
            _ => None,
        }
    }

    fn apply_on(&mut self, op: &Op, t: &str, s: &str) -> Result<(), String> {
        let (t, s) = (t.to_string(), s.to_string());
        match *op {
            Op::Create { .. } => unreachable!("handled by apply_op"),
            Op::Pwrite { off, len, byte, .. } => self.pwrite(&t, off, len, byte),
            Op::Pread { off, len, .. } => self.pread(&t, off, len),
            Op::Truncate { size, .. } => {
                let fd = self.fd(&t)?;
                match self.proc.ftruncate(fd, size as i64) {
                    Ok(()) => {
                        self.model.truncate(&t, size);
                        self.model
                            .content_changed(self.id(&t), size / self.bs(), u64::MAX);
                        self.hist.record(&self.model);
                        Ok(())
                    }
                    Err(e) => self.accept(e, false, "ftruncate"),
                }
            }
            Op::Punch { off, len, .. } => self.fallocate(&t, 3, off, len),
            Op::Falloc { off, len, keep, .. } => self.fallocate(&t, keep as i32, off, len),
            Op::Fsync { .. } => {
                let fd = self.fd(&t)?;
                match self.proc.fsync(fd) {
                    Ok(()) => {
                        // The fsync may itself have finished a redo after a server reboot:
                        // what the file reads now is what became durable.
                        if self.unsettled.contains(&t) {
                            self.follow_unsettled()?;
                            self.unsettled.remove(&t);
                        }
                        // A network client commits only what *it* wrote: what a crashed
                        // instance left uncommitted on the server stays at risk (as with
                        // Linux's NFS client), so such an fsync is no durability point.
                        if !self.tainted.contains(&t) && !self.profile.volatile {
                            self.hist.synced(&t);
                        }
                        self.faults.reboot = false;
                        if self.profile.nfs {
                            // The server now has what the client had: its extent maps tell
                            // the truth about this file's unshared promises.
                            self.check_tags(Some(self.id(&t)))?;
                        }
                        // Spec §6.6: after fsync returns, a crash keeps the content.
                        if self.config.crash_on_fsync {
                            self.check_crash_states()?;
                        }
                        Ok(())
                    }
                    // A re-send this file's client met before (the file stays unsettled
                    // until an fsync succeeds).
                    Err(e) if self.unsettled.contains(&t) && self.faults.resend_error(e) => {
                        self.counters.errors += 1;
                        Ok(())
                    }
                    Err(e) => self.accept(e, false, "fsync"),
                }
            }
            Op::Rename { to, .. } => self.rename(&t, &format!("f{}", to % NAMES)),
            Op::Unlink { .. } => self.unlink(&t),
            Op::CloseUnlinked => self.close_unlinked(),
            Op::Splice {
                soff,
                doff,
                len,
                flag,
                nonblock,
                ..
            } => self
                .copy(CopyKind::Splice(flag), nonblock, &s, &t, soff, doff, len)
                .map(drop),
            Op::CopyRange {
                soff, doff, len, ..
            } => {
                // xfs_io's copy_range (and so the script runner) calls copy_file_range
                // until the length is done or a call copies nothing or fails.
                let (mut so, mut dof, mut left) = (soff, doff, len);
                for _ in 0..COPY_RANGE_CALLS {
                    match self.copy(CopyKind::CopyRange, false, &s, &t, so, dof, left)? {
                        Some(n) if n > 0 && n < left => {
                            (so, dof, left) = (so + n, dof + n, left - n);
                        }
                        _ => break,
                    }
                }
                Ok(())
            }
            Op::Clone {
                soff, doff, len, ..
            } => self.clone_range(&s, &t, soff, doff, len),
            Op::Dedupe {
                soff, doff, len, ..
            } => self.dedupe(&s, &t, soff, doff, len),
            Op::Crash { pick } => self.crash(pick as usize),
            Op::Media { off, .. } => self.media(&t, off),
            Op::Enospc { n } => {
                match self
                    .fs
                    .inject(&self.proc.task, Fault::EnospcAfter { n: n as u64 })
                {
                    Ok(_) => self.faults.enospc = true,
                    Err(e) => self.accept(e, false, "inject enospc")?,
                }
                Ok(())
            }
            Op::Signal { after } => {
                self.proc.task.plan_signal(SignalPlan {
                    after_chunks: Some(after as u64),
                });
                self.faults.signal = Some(after as u64);
                Ok(())
            }
            Op::Reboot => match self.fs.inject(&self.proc.task, Fault::Reboot) {
                Ok(_) => self.after_reboot(),
                Err(Errno::EOPNOTSUPP) => Ok(()),
                Err(e) => Err(format!("inject reboot: {e:?}")),
            },
            Op::RebootInCopy { bytes } => {
                let f = Fault::RebootAfterCopied { bytes };
                match self.fs.inject(&self.proc.task, f) {
                    Ok(_) | Err(Errno::EOPNOTSUPP) => Ok(()),
                    Err(e) => Err(format!("inject reboot after {bytes}: {e:?}")),
                }
            }
        }
    }

    /// What a server reboot changes for the checks, whenever it happened (an
    /// [`Op::Reboot`], or one armed by [`Op::RebootInCopy`] that fired inside a copy).
    fn after_reboot(&mut self) -> Result<(), String> {
        self.faults.reboots_seen = self.fs.server_reboots();
        self.faults.reboot = true;
        // What a crashed client left uncommitted is gone now. Redoing what the server lost
        // may fail on a fault, or because a COPY's source was such lost data: the file then
        // keeps its older content and its next fsync reports the error.
        let lost = !self.tainted.is_empty();
        self.unsettled.append(&mut self.tainted);
        if self.faults.bad || self.enospc_possible() || lost {
            self.unsettled.extend(self.live.iter().cloned());
        }
        self.faults.resend_eio |= lost;
        // The server's device state came back from its journal.
        let img = self.fs.image();
        self.faults.enospc = img.alloc.fail_at_call.is_some();
        self.faults.bad = !img.bad.is_empty();
        self.follow_unsettled()
    }

    /// An error the checks accept (and count), or a failure.
    fn accept(&mut self, e: Errno, copy: bool, what: &str) -> Result<(), String> {
        if self.fault_ok(e, copy) || (e == Errno::EOPNOTSUPP && what == "fallocate") {
            self.counters.errors += 1;
            if e == Errno::EINTR {
                self.faults.signal = None;
            }
            Ok(())
        } else {
            Err(format!("{what} failed with {e:?}"))
        }
    }

    fn create(&mut self, name: &str) -> Result<(), String> {
        self.script.create(&self.shown(name));
        let fd = self
            .proc
            .open(&self.path(name), o::CREAT | o::RDWR, 0o644)
            .map_err(|e| format!("create {name}: {e:?}"))?;
        if self.fds.contains_key(name) {
            self.proc.close(fd).ok();
        } else {
            self.fds.insert(name.to_string(), fd);
        }
        let ino = self
            .fs
            .lookup(ROOT_INO, name)
            .map_err(|e| format!("lookup {name} after create: {e:?}"))?;
        self.inos.insert(name.to_string(), ino);
        if !self.live.iter().any(|n| n == name) {
            self.live.push(name.to_string());
        }
        if self.model.create(name) {
            self.hist.record(&self.model);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ data operations

    fn pwrite(&mut self, name: &str, off: u64, len: u64, byte: u8) -> Result<(), String> {
        let fd = self.fd(name)?;
        let expect = if self.config.exact_space && self.profile.exact_write_allocation() {
            self.blocks_needing_space(name, off, len)?
        } else {
            None
        };
        let free0 = self.fs.statfs().free;
        // An overwrite of written, unshared blocks on a model that writes in place must not
        // allocate at all — not merely net to zero (copy-on-write then free would).
        let in_place = expect == Some(0)
            && self.profile.overwrites_in_place
            && off + len <= self.model.size(name);
        let calls0 = if in_place {
            self.fs.image().alloc.calls
        } else {
            0
        };
        if let Some(want) = self.pwrite_refused(off, len) {
            let r = self.proc.pwrite(fd, &Data::fill(byte, len), off as i64);
            return self
                .refused(
                    &format!("pwrite {off} {len}"),
                    want,
                    r,
                    &TaskStats::default(),
                )
                .map(drop);
        }
        match self.proc.pwrite(fd, &Data::fill(byte, len), off as i64) {
            Ok(n) if n as u64 == len => {
                self.model.pwrite(name, off, &Data::fill(byte, len));
                let (b0, b1) = block_range(off, len, self.bs());
                self.model.content_changed(self.id(name), b0, b1);
                self.hist.record(&self.model);
                if let Some(want) = expect {
                    self.check_pwrite_space(name, free0, want)?;
                }
                let calls = if in_place {
                    self.fs.image().alloc.calls - calls0
                } else {
                    0
                };
                if calls != 0 {
                    return Err(format!(
                        "pwrite over written, unshared blocks of {name} made {calls} allocation calls; this model overwrites in place"
                    ));
                }
                Ok(())
            }
            Ok(n) => self.short_pwrite(name, off, len, byte, n as u64, expect, free0),
            Err(e) => self.accept(e, false, "pwrite"),
        }
    }

    /// A `pwrite` that returned fewer bytes than asked: allowed only out of space, as
    /// Linux's short write — a non-empty prefix that ends on a block boundary (where a
    /// reservation ends), when the whole write needed more blocks than were free. The
    /// prefix is then what the file holds.
    #[allow(clippy::too_many_arguments)]
    fn short_pwrite(
        &mut self,
        name: &str,
        off: u64,
        len: u64,
        byte: u8,
        n: u64,
        expect: Option<u64>,
        free0: u64,
    ) -> Result<(), String> {
        let bs = self.bs();
        if n == 0 || n >= len || !(off + n).is_multiple_of(bs) {
            return Err(format!(
                "pwrite of {len} bytes at {off} wrote {n}: a short write must be a non-empty prefix ending on a block boundary"
            ));
        }
        if let Some(want) = expect
            && want <= free0
        {
            return Err(format!(
                "pwrite of {len} bytes at {off} wrote {n} though the {want} blocks it needs were free ({free0})"
            ));
        }
        self.model.pwrite(name, off, &Data::fill(byte, n));
        let (b0, b1) = block_range(off, n, bs);
        self.model.content_changed(self.id(name), b0, b1);
        self.hist.record(&self.model);
        Ok(())
    }

    /// Blocks a write of `len` bytes at `off` must take from free space: one per hole it
    /// covers, and for every shared physical block one per reference being rewritten, less
    /// one when every reference is rewritten (the old block is freed). Unshared blocks cost
    /// nothing (in place, or copy-on-write that frees the old block). A write that extends
    /// the file also rewrites the old partial EOF block if it is written (zeroing past EOF,
    /// as XFS's `xfs_zero_range` does), which unshares it if shared. `None` when the file is inline (its
    /// write may stay inline or move out).
    fn blocks_needing_space(&self, name: &str, off: u64, len: u64) -> Result<Option<u64>, String> {
        let bs = self.bs();
        let (b0, b1) = block_range(off, len, bs);
        let map = self.block_map(name)?;
        if map.inline {
            return Ok(None);
        }
        let size = self.model.size(name);
        let mut blocks: Vec<u64> = (b0..b1).collect();
        let eof = size / bs;
        let written = |b| {
            map.at(b)
                .is_some_and(|(_, fl)| fl & fiemap_flags::UNWRITTEN == 0)
        };
        if off > size
            && !size.is_multiple_of(bs)
            && eof < b0
            && (self.profile.zero_eof_allocates || written(eof))
        {
            blocks.push(eof);
        }
        let holes = blocks.iter().filter(|&&b| map.at(b).is_none()).count() as u64;
        let any_shared = blocks.iter().any(|&b| {
            map.at(b)
                .is_some_and(|(_, fl)| fl & fiemap_flags::SHARED != 0)
        });
        if !any_shared {
            return Ok(Some(holes));
        }
        let img = self.fs.image();
        let ino = self.ino(name)?;
        let node = img.inode(ino).map_err(|e| format!("{name}: {e:?}"))?;
        let mut in_range: HashMap<u64, (u64, u64)> = HashMap::new(); // pb -> (k, refs)
        for &b in &blocks {
            if let Some((s, m)) = node.mapping_at(b) {
                let e = &img.phys[m.phys];
                if e.refs() > 1 {
                    let pb = e.start + (b - s);
                    in_range.entry(pb).or_insert((0, e.refs() as u64)).0 += 1;
                }
            }
        }
        let cow: u64 = in_range.values().map(|&(k, r)| k - u64::from(k >= r)).sum();
        Ok(Some(holes + cow))
    }

    /// Spec §6.2/§6.5: a write took exactly one new block per hole or shared block it
    /// covered, so overwriting an unshared block (a never-share destination) needs no new
    /// space on in-place models and nets to zero on copy-on-write ones.
    fn check_pwrite_space(&self, name: &str, free0: u64, want: u64) -> Result<(), String> {
        if self.block_map(name)?.inline {
            return Ok(());
        }
        let free1 = self.fs.statfs().free;
        let used = free0 as i128 - free1 as i128;
        if used != want as i128 {
            return Err(format!(
                "pwrite to {name} used {used} blocks of free space; the holes and shared blocks it covers are {want}"
            ));
        }
        Ok(())
    }

    fn pread(&mut self, name: &str, off: u64, len: u64) -> Result<(), String> {
        let fd = self.fd(name)?;
        match self.proc.pread(fd, len as usize, off as i64) {
            Ok(d) => {
                let want = self.model.content(name).slice(off, len);
                match first_diff(&d, &want) {
                    None => Ok(()),
                    Some(at) => Err(format!(
                        "pread {off} {len} of {name} differs at {at}: got {} ({} bytes), model {} ({} bytes)",
                        describe_at(&d, at),
                        d.len(),
                        describe_at(&want, at),
                        want.len()
                    )),
                }
            }
            Err(e) => self.accept(e, false, "pread"),
        }
    }

    fn fallocate(&mut self, name: &str, mode: i32, off: u64, len: u64) -> Result<(), String> {
        let fd = self.fd(name)?;
        if self.fallocate_refused(off, len) {
            let r = self.proc.fallocate(fd, mode, off as i64, len as i64);
            return self
                .refused(
                    &format!("fallocate mode {mode} {off} {len}"),
                    Errno::EFBIG,
                    r.map(|()| 0),
                    &TaskStats::default(),
                )
                .map(drop);
        }
        match self.proc.fallocate(fd, mode, off as i64, len as i64) {
            Ok(()) => {
                if mode == 3 {
                    self.model.punch(name, off, len);
                } else {
                    self.model.falloc(name, off, len, mode == 1);
                }
                let (b0, b1) = block_range(off, len, self.bs());
                self.model.content_changed(self.id(name), b0, b1);
                self.hist.record(&self.model);
                Ok(())
            }
            Err(e) => self.accept(e, false, "fallocate"),
        }
    }

    // ------------------------------------------------------------------ namespace

    fn rename(&mut self, old: &str, new: &str) -> Result<(), String> {
        self.script.forget_current();
        match self.proc.rename(&self.path(old), &self.path(new)) {
            Ok(()) if old == new => Ok(()),
            Ok(()) => {
                self.model.rename(old, new);
                // The replaced file stays open (an orphan until a crash), as in the script
                // runner's file table.
                if let Some(fd) = self.fds.remove(new) {
                    let ino = self.ino(new)?;
                    self.orphans.push((fd, ino));
                }
                self.live.retain(|n| n != new);
                for n in &mut self.live {
                    if n == old {
                        *n = new.to_string();
                    }
                }
                if let Some(fd) = self.fds.remove(old) {
                    self.fds.insert(new.to_string(), fd);
                }
                if let Some(ino) = self.inos.remove(old) {
                    self.inos.insert(new.to_string(), ino);
                }
                for set in [&mut self.tainted, &mut self.unsettled] {
                    set.remove(new);
                    if set.remove(old) {
                        set.insert(new.to_string());
                    }
                }
                self.hist.record_rename(&self.model, old, new);
                Ok(())
            }
            Err(e) => self.accept(e, false, "rename"),
        }
    }

    fn unlink(&mut self, name: &str) -> Result<(), String> {
        self.script.forget_current();
        match self.proc.unlink(&self.path(name)) {
            Ok(()) => {
                self.model.unlink(name);
                self.live.retain(|n| n != name);
                if let Some(fd) = self.fds.remove(name) {
                    let ino = self.ino(name)?;
                    self.orphans.push((fd, ino));
                }
                self.inos.remove(name);
                self.hist.record(&self.model);
                Ok(())
            }
            Err(e) => self.accept(e, false, "unlink"),
        }
    }

    /// Closes every descriptor of a file with no name left: the last close evicts it, so
    /// afterwards none of those inodes may be in the image (its blocks freed — fsck checks
    /// the space after the step).
    fn close_unlinked(&mut self) -> Result<(), String> {
        self.script.forget_current();
        for (fd, _) in &self.orphans {
            self.proc
                .close(*fd)
                .map_err(|e| format!("close of an unlinked file: {e:?}"))?;
        }
        let img = self.fs.image();
        for (_, ino) in std::mem::take(&mut self.orphans) {
            if img.inode(ino).is_ok_and(|n| n.nlink == 0) {
                return Err(format!(
                    "inode {ino} lost its last name and its last descriptor, and is still there"
                ));
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ copies

    /// Whether a must-share (or clone) of `n` bytes (the EOF-shortened count) from `src`
    /// at `soff` to `dst` at `doff` is a legal, aligned request the model must carry out.
    fn share_must_work(
        &self,
        src: &str,
        soff: u64,
        dst: &str,
        doff: u64,
        n: u64,
    ) -> Result<bool, String> {
        let rb = self.profile.remap_block;
        if !self.profile.strict_sharing() || n == 0 {
            return Ok(false);
        }
        if self.enospc_possible() || self.faults.bad || self.faults.reboot {
            return Ok(false);
        }
        let (ssize, dsize) = (self.model.size(src), self.model.size(dst));
        let overlap = src == dst && soff < doff + n && doff < soff + n;
        let aligned = soff.is_multiple_of(rb)
            && doff.is_multiple_of(rb)
            && (n.is_multiple_of(rb) || (soff + n == ssize && doff + n >= dsize));
        let inline = self.block_map(src)?.inline || self.block_map(dst)?.inline;
        Ok(aligned && !overlap && !inline && !self.different_domains(src, dst)?)
    }

    /// The part of a may-share splice of `n` bytes (EOF-shortened) that it must share:
    /// `(offset from the start, length)` of the whole remap blocks after the unaligned head,
    /// when the offsets are congruent modulo the remap block and a must-share of exactly
    /// that middle would have to succeed ([`Harness::share_must_work`]).
    fn shareable_middle(
        &self,
        src: &str,
        soff: u64,
        dst: &str,
        doff: u64,
        n: u64,
    ) -> Result<Option<(u64, u64)>, String> {
        let rb = self.profile.remap_block;
        if soff % rb != doff % rb {
            return Ok(None);
        }
        let head = (rb - soff % rb) % rb;
        if head >= n {
            return Ok(None);
        }
        let len = (n - head) / rb * rb;
        if len == 0 || !self.share_must_work(src, soff + head, dst, doff + head, len)? {
            return Ok(None);
        }
        Ok(Some((head, len)))
    }

    /// Whether the model keeps `src` and `dst` in different sharing domains (a per-inode
    /// tag both carry with different values, e.g. ocfs2's refcount trees): such files may
    /// refuse to share (`EOPNOTSUPP`, "will not share these files").
    fn different_domains(&self, src: &str, dst: &str) -> Result<bool, String> {
        if self.profile.nfs {
            return Ok(false);
        }
        let (a, b) = (self.ino(src)?, self.ino(dst)?);
        let img = self.fs.image();
        Ok(img
            .inode_tags
            .iter()
            .any(|(&(i, k), &v)| i == a && img.tag(b, k).is_some_and(|w| w != v)))
    }

    /// One copy call (`SPLICE_F_NONBLOCK` with `nonblock`: single-threaded, nothing is ever
    /// contended, so `EAGAIN` is a failure); `Some(bytes)` on success, `None` for an
    /// accepted error. Whatever the outcome, every later step compares the content again:
    /// a call that failed must not change any file afterwards either (nothing it started
    /// may still be running).
    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        kind: CopyKind,
        nonblock: bool,
        src: &str,
        dst: &str,
        soff: u64,
        doff: u64,
        len: u64,
    ) -> Result<Option<u64>, String> {
        let sfd = self.src_fd(src)?;
        let dfd = self.fd(dst)?;
        let before = self.model.content(dst);
        let max = self.model.copy_count(src, soff, len);
        let overlap = src == dst && max > 0 && soff < doff + max && doff < soff + max;
        let must = kind == CopyKind::Splice(Flag::Must);
        let map_before = if must {
            Some(self.block_map(dst)?)
        } else {
            None
        };
        // (A network client's map is the server's, which may not have the data yet.)
        let src_inline = must && self.profile.client_view_map() && self.block_map(src)?.inline;
        let should = must && self.share_must_work(src, soff, dst, doff, max)?;
        let middle = if kind == CopyKind::Splice(Flag::May) {
            self.shareable_middle(src, soff, dst, doff, max)?
        } else {
            None
        };
        // A signal already pending when the call starts: a byte copy must not move a byte
        // (R5: EINTR before the first chunk), whatever it shares first.
        let signal_first = self.faults.signal == Some(0);
        let locks0 = (
            self.lock_count(&self.path(src))?,
            self.lock_count(&self.path(dst))?,
        );
        self.proc.task.take_stats();
        let (r, (so, dof)) = self.call_copy(kind, nonblock, (sfd, soff), (dfd, doff), len);
        let stats = self.proc.task.take_stats();
        if wraps(soff, doff, len) {
            self.proc.close(sfd).ok();
            return self.overflowed(&what_of(kind), r, &stats);
        }
        if self.past_limit(doff) {
            self.proc.close(sfd).ok();
            return self.refused(&what_of(kind), Errno::EFBIG, r, &stats);
        }
        // Data that became inline only during the call (a network client sending a tiny
        // source before the CLONE; btrfs zeroing a one-byte hole file's EOF block before a
        // clone past its EOF) is copied the same way: the model says so, in full — less
        // than a block, no chunk, nothing shared.
        let src_inline = src_inline
            || (must
                && stats.chunks == 0
                && stats.bytes_shared == 0
                && stats.bytes_copied > 0
                && stats.bytes_copied < self.bs());
        self.counters.offloads_cancelled += stats.offloads_cancelled;
        self.counters.offloads_restarted += stats.offloads_restarted;
        self.proc.close(sfd).ok();
        let what = what_of(kind);
        match r {
            Ok(n) => {
                let n = n as u64;
                if overlap {
                    return Err(format!(
                        "{what} between overlapping ranges of one file returned {n}; expected EINVAL"
                    ));
                }
                let may_be_short = self.faults.signal.is_some()
                    || self.enospc_possible()
                    || self.faults.bad
                    || self.profile.nfs
                    || kind == CopyKind::CopyRange;
                self.check_returned(
                    &what,
                    &Returned {
                        n,
                        max,
                        start: (soff, doff),
                        end: (so, dof),
                        signal_first: signal_first && matches!(kind, CopyKind::Splice(_)),
                    },
                    &stats,
                    (!must && may_be_short, self.profile.nfs),
                )?;
                self.model.copy(src, soff, dst, doff, n);
                let bs = self.bs();
                let (b0, b1) = block_range(doff, n, bs);
                let (s0, s1) = block_range(soff, n, bs);
                let (sid, did) = (self.id(src), self.id(dst));
                match kind {
                    CopyKind::Splice(Flag::Never) => {
                        self.model.content_changed(did, b0, b1);
                        self.model.promise(Tag {
                            file: did,
                            b0,
                            b1,
                            class: Class::Unshared,
                            step: self.step,
                        });
                        if stats.bytes_shared != 0 || stats.extents_remapped != 0 {
                            return Err(format!(
                                "never-share splice shared {} bytes ({} extents remapped)",
                                stats.bytes_shared, stats.extents_remapped
                            ));
                        }
                        self.check_sole_user(dst, b0, b1)?;
                    }
                    CopyKind::Splice(Flag::Must) if src_inline => {
                        // btrfs copies an inline source extent instead of sharing it
                        // (clone_copy_inline_extent): less than a block, O(1), and
                        // reported as copied, not shared.
                        if stats.bytes_shared != 0 || stats.bytes_copied != n {
                            return Err(format!(
                                "must-share of an inline source reported {} bytes shared and {} copied; it copies all {n}",
                                stats.bytes_shared, stats.bytes_copied
                            ));
                        }
                        self.model.unknown(did, b0, b1);
                    }
                    CopyKind::Splice(Flag::Must) => {
                        self.promise_shared(sid, s0, s1, did, b0, b1);
                        // R8: what the call reports is what it did.
                        if stats.bytes_shared != n {
                            return Err(format!(
                                "must-share splice of {n} bytes reported {} bytes shared",
                                stats.bytes_shared
                            ));
                        }
                        if stats.bytes_copied != 0 || stats.chunks != 0 {
                            return Err(format!(
                                "must-share splice copied {} bytes in {} chunks (it must only share)",
                                stats.bytes_copied, stats.chunks
                            ));
                        }
                    }
                    CopyKind::Splice(Flag::May) | CopyKind::CopyRange => {
                        self.model.unknown(did, b0, b1);
                        self.model.may_be_shared(sid, s0, s1);
                        // May-share shares every whole block it can: the aligned middle
                        // a must-share of it would have to share, as far as the call got.
                        if let Some((head, len)) = middle {
                            let len = len.min(n.saturating_sub(head)) / self.bs() * self.bs();
                            if len > 0 {
                                let (m0, m1) = block_range(doff + head, len, self.bs());
                                let (t0, t1) = block_range(soff + head, len, self.bs());
                                self.promise_shared(sid, t0, t1, did, m0, m1);
                            }
                        }
                    }
                }
                let remap_only = matches!(kind, CopyKind::Splice(Flag::Must));
                self.check_blocking(&what, &stats, remap_only)?;
                let offloads = self.profile.nfs;
                self.check_locks_per_chunk(
                    &what,
                    &stats,
                    locks0,
                    (&self.path(src), offloads),
                    dst,
                )?;
                if must {
                    self.hist.record(&self.model);
                } else if n > 0 {
                    self.hist.record_copy(&self.model, dst, before);
                }
                Ok(Some(n))
            }
            Err(e) => {
                if must {
                    if stats.bytes_copied != 0 {
                        return Err(format!(
                            "failed must-share splice ({e:?}) copied {} bytes",
                            stats.bytes_copied
                        ));
                    }
                    let after = self.block_map(dst)?;
                    if self.profile.client_view_map() && Some(&after) != map_before.as_ref() {
                        return Err(format!(
                            "failed must-share splice ({e:?}) changed the destination's extent map: {:?} -> {:?}",
                            map_before, after
                        ));
                    }
                    if e == Errno::EINTR && signal_first {
                        // Spec §2: the signal came before anything moved.
                        self.counters.errors += 1;
                        self.faults.signal = self.proc.task.planned_signal();
                        return Ok(None);
                    }
                    if should {
                        return Err(format!(
                            "must-share splice of an aligned {max}-byte range failed with {e:?} on a model that shares"
                        ));
                    }
                    if overlap && e != Errno::EINVAL {
                        return Err(format!(
                            "must-share of overlapping ranges: {e:?}, expected EINVAL"
                        ));
                    }
                    if errno_list(e, &[Errno::EOPNOTSUPP, Errno::EINVAL, Errno::EXDEV])
                        || self.fault_ok(e, false)
                    {
                        self.counters.errors += 1;
                        return Ok(None);
                    }
                    return Err(format!("must-share splice failed with {e:?}"));
                }
                if overlap {
                    if e == Errno::EINVAL {
                        self.counters.errors += 1;
                        return Ok(None);
                    }
                    return Err(format!(
                        "{what} of overlapping ranges: {e:?}, expected EINVAL"
                    ));
                }
                self.accept(e, true, &what).map(|()| None)
            }
        }
    }

    /// Linux's `generic_copy_file_checks`: a copy whose source or destination range wraps
    /// around ([`wraps`]) fails with `EOVERFLOW` before anything else the harness can meet
    /// (the files are regular, open for reading and writing, not immutable) — before a
    /// pending signal's `EINTR`, moving nothing, sharing nothing.
    fn overflowed(
        &mut self,
        what: &str,
        r: Result<usize, Errno>,
        stats: &TaskStats,
    ) -> Result<Option<u64>, String> {
        self.refused(
            &format!("{what} of a range that wraps around 2^64"),
            Errno::EOVERFLOW,
            r,
            stats,
        )
    }

    /// Whether a write or copy to `pos` starts at or past the maximum file size
    /// (`s_maxbytes`): `generic_write_check_limits` refuses it with `EFBIG` — whatever the
    /// source holds, even nothing — where one byte lower is shortened instead.
    fn past_limit(&self, pos: u64) -> bool {
        pos >= self.fs.max_file_size().min(i64::MAX as u64)
    }

    /// A call that must fail with `want` having moved and shared nothing (a check that runs
    /// before any data moves, so before a pending signal's `EINTR` too).
    fn refused(
        &mut self,
        what: &str,
        want: Errno,
        r: Result<usize, Errno>,
        stats: &TaskStats,
    ) -> Result<Option<u64>, String> {
        match r {
            Err(e) if e == want && stats.bytes_copied == 0 && stats.bytes_shared == 0 => {
                self.counters.errors += 1;
                Ok(None)
            }
            other => Err(format!(
                "{what}: {other:?} ({} bytes copied, {} shared), expected {want:?}",
                stats.bytes_copied, stats.bytes_shared
            )),
        }
    }

    /// What the checks before any data moves must answer for a `pwrite` of `len` bytes at
    /// `off`: `EINVAL` when `off + len` passes `LLONG_MAX` (`rw_verify_area`), else `EFBIG`
    /// at or past `s_maxbytes` (`generic_write_checks`).
    fn pwrite_refused(&self, off: u64, len: u64) -> Option<Errno> {
        if len == 0 {
            None
        } else if off.checked_add(len).is_none_or(|end| end > i64::MAX as u64) {
            Some(Errno::EINVAL)
        } else if self.past_limit(off) {
            Some(Errno::EFBIG)
        } else {
            None
        }
    }

    /// `vfs_fallocate`: a range (of non-negative numbers) that ends past `s_maxbytes`, or
    /// past `LLONG_MAX`, is `EFBIG`.
    fn fallocate_refused(&self, off: u64, len: u64) -> bool {
        let top = i64::MAX as u64;
        len > 0
            && off <= top
            && len <= top
            && off
                .checked_add(len)
                .is_none_or(|end| end > self.fs.max_file_size().min(top))
    }

    /// One copy call from `sfd` at `soff` to `dfd` at `doff`: its result and the two
    /// offsets after it (the call advances them by what it copied).
    fn call_copy(
        &mut self,
        kind: CopyKind,
        nonblock: bool,
        (sfd, soff): (i32, u64),
        (dfd, doff): (i32, u64),
        len: u64,
    ) -> (Result<usize, Errno>, (u64, u64)) {
        match kind {
            CopyKind::Splice(flag) => {
                let (mut so, mut dof) = (soff, doff);
                let flags = crate::ops::flag_bits(flag) | if nonblock { NONBLOCK } else { 0 };
                let r =
                    self.proc
                        .splice(sfd, Some(&mut so), dfd, Some(&mut dof), len as usize, flags);
                (r, (so, dof))
            }
            CopyKind::CopyRange => {
                let (mut a, mut b) = (soff as i64, doff as i64);
                let r = self.proc.copy_file_range(
                    sfd,
                    Some(&mut a),
                    dfd,
                    Some(&mut b),
                    len as usize,
                    0,
                );
                (r, (a as u64, b as u64))
            }
        }
    }

    /// The checks on a copy call that returned `r.n` (after `stats`), in this order: a
    /// signal pending before the first chunk moves nothing (spec §2: `EINTR`, for the
    /// splice); at most what the source holds in range, and something if it holds
    /// anything; the offsets advanced by exactly the count; short only where `short_ok` (a
    /// signal or a fault may stop a byte copy); and a planned signal taken exactly after
    /// its chunks — unless `network` (a COPY may end with it pending: the next call takes
    /// it).
    fn check_returned(
        &mut self,
        what: &str,
        r: &Returned,
        stats: &TaskStats,
        (short_ok, network): (bool, bool),
    ) -> Result<(), String> {
        let (n, max) = (r.n, r.max);
        if r.signal_first && max > 0 {
            return Err(format!(
                "{what} returned {n} although a signal was pending before it moved anything (spec §2: EINTR)"
            ));
        }
        if r.signal_first && stats.chunks > 0 {
            return Err(format!(
                "{what} copied {} chunks ({} bytes) although a signal was pending before the first",
                stats.chunks, stats.bytes_copied
            ));
        }
        if n > max || (max > 0 && n == 0) {
            return Err(format!(
                "{what} returned {n}; the source has {max} bytes in range"
            ));
        }
        let ((soff, doff), (so, dof)) = (r.start, r.end);
        if (so, dof) != (soff + n, doff + n) {
            return Err(format!(
                "{what} returned {n} but advanced the offsets to {so}/{dof} from {soff}/{doff}"
            ));
        }
        if n < max && !short_ok {
            return Err(format!(
                "{what} returned {n} of {max} bytes without a signal or fault"
            ));
        }
        // The task delivers a planned signal before the chunk after the planned number: a
        // copy that took it stopped short exactly there.
        if let Some(left) = self.faults.signal {
            let now = self.proc.task.planned_signal();
            if now.is_none() && !network && stats.chunks != left {
                return Err(format!(
                    "{what} took the signal planned after {left} chunks after {} chunks",
                    stats.chunks
                ));
            }
            self.faults.signal = now;
        }
        Ok(())
    }

    /// Must-share, clone and dedupe promise that destination blocks `[b0, b1)` are the
    /// source's blocks `[s0, s1)`.
    /// Where the model remaps written extents only (XFS), the source's unwritten blocks
    /// are left out of the promise: the destination has holes there.
    fn promise_shared(&mut self, sid: FileId, s0: u64, s1: u64, did: FileId, b0: u64, b1: u64) {
        self.model.content_changed(did, b0, b1);
        self.model.may_be_shared(did, b0, b1);
        self.model.may_be_shared(sid, s0, s1);
        let delta = s0 as i64 - b0 as i64;
        let mut runs = vec![(b0, b1)];
        if self.profile.remap_skips_unwritten
            && let Some(map) = self
                .model
                .name_of(sid)
                .and_then(|n| self.ino(n).ok())
                .and_then(|ino| BlockMap::from_image(&self.fs.image(), ino))
        {
            let written = |b: u64| {
                map.at((b as i64 + delta) as u64)
                    .is_none_or(|p| p.1 & fiemap_flags::UNWRITTEN == 0)
            };
            runs.clear();
            let mut start = None;
            for b in b0..b1 {
                match (written(b), start) {
                    (true, None) => start = Some(b),
                    (false, Some(a)) => {
                        runs.push((a, b));
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(a) = start {
                runs.push((a, b1));
            }
        }
        for (r0, r1) in runs {
            self.model.promise(Tag {
                file: did,
                b0: r0,
                b1: r1,
                class: Class::SharedWith { file: sid, delta },
                step: self.step,
            });
        }
    }

    /// Spec §2, §6.2 via `Image::users_of`: when a never-share splice returns, every
    /// physical block behind blocks `[b0, b1)` of `dst` is referenced by `dst` alone, so a
    /// media error there damages one file. On nfs-like the image is the server's (inode
    /// numbers are its file handles): the client must have sent a client-side copy before
    /// returning — unless a fault may have failed that write-back, whose error then waits
    /// for the file's next fsync.
    fn check_sole_user(&self, dst: &str, b0: u64, b1: u64) -> Result<(), String> {
        if self.profile.nfs && (self.enospc_possible() || self.faults.bad) {
            return Ok(());
        }
        let ino = self.ino(dst)?;
        let img = self.fs.image();
        let bs = self.bs();
        for b in b0..b1 {
            if let Ok(Some(pb)) = img.physical_block(ino, b * bs) {
                let users = img.users_of(pb);
                if users.iter().any(|&(i, _)| i != ino) {
                    return Err(format!(
                        "after a never-share splice block {b} of {dst} (physical {pb}) is also used by {users:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Spec §6.7: a byte copy holds an inode lock for at most one chunk; a remap for
    /// O(extents); a staged remap (`remap=swap`) for its O(log extents) install — exactly
    /// that for a call that only remaps (`remap_only`: must-share, `FICLONERANGE`), which
    /// has no byte-copy chunk to hide a long hold behind.
    fn check_blocking(
        &mut self,
        what: &str,
        st: &TaskStats,
        remap_only: bool,
    ) -> Result<(), String> {
        self.counters.remaps_installed += st.remaps_installed;
        self.counters.remaps_restaged += st.remaps_restaged;
        let held: u64 = if self.profile.nfs {
            self.live.iter().map(|n| self.model.size(n)).sum()
        } else {
            0
        };
        // remap=swap: a remap built with no lock held holds the locks for its install
        // only — unless every build went stale and it was built under them.
        let remap = if st.remaps_installed > 0 && st.remaps_locked_after_staging == 0 {
            self.profile.install_hold_bound(st.extents_remapped)
        } else {
            self.profile.remap_hold_bound(st.extents_remapped, held)
        };
        let staged = st.remaps_installed > 0 && st.remaps_locked_after_staging == 0;
        let bound = if st.chunks > 0 {
            self.profile.chunk_hold_bound().max(remap)
        } else if staged && remap_only {
            remap
        } else {
            remap.max(self.profile.chunk_hold_bound())
        };
        if st.longest_hold > bound {
            return Err(format!(
                "{what} held an inode lock for {} ns; one chunk of {} bytes may take {} ns ({} chunks, {} bytes copied)",
                st.longest_hold, self.profile.chunk, bound, st.chunks, st.bytes_copied
            ));
        }
        Ok(())
    }

    /// How often the inode lock of the file at `path` (an open file) has been taken.
    fn lock_count(&self, path: &str) -> Result<u64, String> {
        let (mnt, ino) = self
            .proc
            .vfs
            .resolve(path)
            .map_err(|e| format!("resolve {path}: {e:?}"))?;
        Ok(mnt.inode(ino).lock.with_state(|s| s.acquisitions))
    }

    /// Spec §6.7–6.8: each chunk of a byte copy takes the inode locks of both files (one
    /// lock when they are one file) — also of two files with the same inode number on two
    /// mounts, which are two inodes (`before`: the counts of [`Harness::lock_count`] before
    /// the call, source first). Not for a copy the filesystem may offload (`offloads`: a
    /// network client copying within its mount), which counts the server's copy steps as
    /// chunks and takes only the destination's lock, once per COPY, as Linux's
    /// `nfs42_proc_copy`.
    fn check_locks_per_chunk(
        &self,
        what: &str,
        st: &TaskStats,
        before: (u64, u64),
        (src_path, offloads): (&str, bool),
        dst: &str,
    ) -> Result<(), String> {
        if st.chunks == 0 || offloads {
            return Ok(());
        }
        let taken = [
            (
                "source",
                self.lock_count(src_path)?.saturating_sub(before.0),
            ),
            (
                "destination",
                self.lock_count(&self.path(dst))?.saturating_sub(before.1),
            ),
        ];
        for (who, n) in taken {
            if n < st.chunks {
                return Err(format!(
                    "{what} copied {} chunks but took the {who}'s inode lock {n} times; each chunk takes both files' locks",
                    st.chunks
                ));
            }
        }
        Ok(())
    }

    fn clone_range(
        &mut self,
        src: &str,
        dst: &str,
        soff: u64,
        doff: u64,
        len: u64,
    ) -> Result<(), String> {
        let sfd = self.src_fd(src)?;
        let dfd = self.fd(dst)?;
        let ssize = self.model.size(src);
        let n = if len == 0 {
            ssize.saturating_sub(soff)
        } else {
            self.model.copy_count(src, soff, len)
        };
        let overlap = src == dst && n > 0 && soff < doff + n && doff < soff + n;
        let past_eof = len != 0 && soff.saturating_add(len) > ssize;
        let should = !past_eof && self.share_must_work(src, soff, dst, doff, n)?;
        let map_before = self.block_map(dst)?;
        let src_inline = map_before.inline || self.block_map(src)?.inline;
        let before = self.model.clone();
        self.proc.task.take_stats();
        let r = self.proc.ficlonerange(dfd, sfd, soff, len, doff);
        let stats = self.proc.task.take_stats();
        self.proc.close(sfd).ok();
        // Inline data is copied, and reported as copied — also data that became inline
        // only during the call (a network client sending a tiny source first): less than
        // a block, no chunk, nothing shared.
        let src_inline = src_inline
            || (stats.chunks == 0
                && stats.bytes_shared == 0
                && stats.bytes_copied > 0
                && stats.bytes_copied < self.bs());
        if stats.bytes_copied != 0 && !src_inline {
            return Err(format!("FICLONERANGE copied {} bytes", stats.bytes_copied));
        }
        let (sid, did) = (self.id(src), self.id(dst));
        let bs = self.bs();
        let apply = |h: &mut Harness| {
            h.model.copy(src, soff, dst, doff, n);
            let (b0, b1) = block_range(doff, n, bs);
            let (s0, s1) = block_range(soff, n, bs);
            if src_inline {
                // Inline data is copied, not shared (btrfs clone_copy_inline_extent).
                h.model.unknown(did, b0, b1);
                h.model.may_be_shared(sid, s0, s1);
            } else {
                h.promise_shared(sid, s0, s1, did, b0, b1);
            }
            h.hist.record(&h.model);
        };
        match r {
            Ok(()) => {
                if overlap {
                    return Err("FICLONERANGE of overlapping ranges of one file succeeded".into());
                }
                if past_eof {
                    return Err(format!(
                        "FICLONERANGE of {len} bytes at {soff} succeeded but the source has only {ssize} bytes"
                    ));
                }
                apply(self);
                self.check_blocking("FICLONERANGE", &stats, true)
            }
            Err(Errno::EINVAL) if past_eof && n > 0 => {
                // Linux's ioctl_file_clone: the filesystem clones the EOF-shortened range,
                // then the ioctl reports EINVAL because fewer bytes than asked were cloned.
                // Either outcome is Linux's; the content check below decides which happened.
                self.counters.errors += 1;
                let mut with = before.clone();
                with.copy(src, soff, dst, doff, n);
                if self.file_is(dst, &with.content(dst))?
                    && !self.file_is(dst, &before.content(dst))?
                {
                    apply(self);
                }
                Ok(())
            }
            Err(e) => {
                let after = self.block_map(dst)?;
                if self.profile.client_view_map() && after != map_before {
                    return Err(format!(
                        "failed FICLONERANGE ({e:?}) changed the destination's extent map: {map_before:?} -> {after:?}"
                    ));
                }
                if should {
                    return Err(format!(
                        "FICLONERANGE of an aligned {n}-byte range failed with {e:?} on a model that shares"
                    ));
                }
                if errno_list(e, &[Errno::EOPNOTSUPP, Errno::EINVAL, Errno::EXDEV])
                    || self.fault_ok(e, false)
                {
                    self.counters.errors += 1;
                    Ok(())
                } else {
                    Err(format!("FICLONERANGE failed with {e:?}"))
                }
            }
        }
    }

    fn dedupe(
        &mut self,
        src: &str,
        dst: &str,
        soff: u64,
        doff: u64,
        len: u64,
    ) -> Result<(), String> {
        let sfd = self.src_fd(src)?;
        let dfd = self.fd(dst)?;
        let (sdata, ddata) = (self.model.content(src), self.model.content(dst));
        let (ssize, dsize) = (sdata.len(), ddata.len());
        let l = self.model.copy_count(src, soff, len);
        // What Linux compares and shares (generic_remap_checks with CAN_SHORTEN): the
        // whole range if it ends at both files' EOF, else whole blocks only. It reports
        // the requested length in bytes_deduped either way.
        let rb = self.profile.remap_block;
        let eff = if soff + l == ssize && doff + l == dsize {
            l
        } else {
            l / rb * rb
        };
        let in_dst = doff.saturating_add(eff) <= dsize;
        let equal = in_dst && same(&sdata.slice(soff, eff), &ddata.slice(doff, eff));
        let r = self.dedupe_call((sfd, soff), (dfd, doff), len);
        self.proc.close(sfd).ok();
        let ok_errs = [Errno::EINVAL, Errno::EOPNOTSUPP, Errno::EXDEV, Errno::EPERM];
        match r {
            Ok(v) => {
                let Some(out) = v.first() else {
                    return Err("FIDEDUPERANGE returned no outcome".into());
                };
                match out.status {
                    s if s == syscall::api::dedupe::SAME => {
                        if out.bytes_deduped > len {
                            return Err(format!(
                                "FIDEDUPERANGE deduped {} of {len} bytes",
                                out.bytes_deduped
                            ));
                        }
                        if eff > 0 {
                            if !equal {
                                return Err(format!(
                                    "FIDEDUPERANGE said SAME for {eff} bytes that differ in the model"
                                ));
                            }
                            let bs = self.bs();
                            let (b0, b1) = block_range(doff, eff, bs);
                            let (s0, s1) = block_range(soff, eff, bs);
                            let (sid, did) = (self.id(src), self.id(dst));
                            self.promise_shared(sid, s0, s1, did, b0, b1);
                            self.hist.record(&self.model);
                        }
                        Ok(())
                    }
                    s if s == syscall::api::dedupe::DIFFERS => {
                        if equal && eff > 0 && soff.is_multiple_of(rb) && doff.is_multiple_of(rb) {
                            return Err(format!(
                                "FIDEDUPERANGE said DIFFERS for {eff} bytes that are equal in the model"
                            ));
                        }
                        Ok(())
                    }
                    s if s < 0
                        && (ok_errs.contains(&Errno(-s)) || self.fault_ok(Errno(-s), false)) =>
                    {
                        self.counters.errors += 1;
                        Ok(())
                    }
                    s => Err(format!("FIDEDUPERANGE status {s}")),
                }
            }
            Err(e) if ok_errs.contains(&e) || self.fault_ok(e, false) => {
                self.counters.errors += 1;
                Ok(())
            }
            Err(e) => Err(format!("FIDEDUPERANGE failed with {e:?}")),
        }
    }

    /// `FIDEDUPERANGE` of `len` bytes from `sfd` at `soff` to the one destination `dfd`
    /// at `doff`.
    fn dedupe_call(
        &mut self,
        (sfd, soff): (i32, u64),
        (dfd, doff): (i32, u64),
        len: u64,
    ) -> Result<Vec<syscall::api::DedupeOutcome>, Errno> {
        let dest = DedupeDest {
            fd: dfd,
            offset: doff,
        };
        self.proc.fideduperange(sfd, soff, len, &[dest])
    }

    // ------------------------------------------------------------------ faults

    fn media(&mut self, name: &str, off: u64) -> Result<(), String> {
        let ino = self.ino(name)?;
        let report = match self
            .fs
            .inject(&self.proc.task, Fault::MediaError { ino, off })
        {
            Ok(r) => r,
            // Nothing mapped there, or the model cannot do it.
            Err(Errno::ENXIO | Errno::EOPNOTSUPP) => return Ok(()),
            Err(e) => return Err(format!("inject media: {e:?}")),
        };
        self.faults.bad = true;
        // Spec §6.2: a block promised unshared is referenced by one file only.
        let b = off / self.bs();
        let id = self.id(name);
        let promised = self
            .model
            .tags
            .iter()
            .find(|t| t.file == id && t.class == Class::Unshared && t.b0 <= b && b < t.b1);
        // (On a network client the server may not have the destination's data yet.)
        if let Some(t) = promised
            && report.hits.len() > 1
            && !self.profile.nfs
        {
            return Err(format!(
                "a media error on block {b} of {name} (unshared since the never-share splice of step {}) hits {} files: {:?}",
                t.step,
                report.hits.len(),
                report.hits
            ));
        }
        // Whoever the reference model says shares this block is hit too: a report that
        // names fewer files than share the block understates what the error destroyed.
        if !self.profile.nfs {
            let hit = |ino: Ino, blk: u64| {
                report
                    .hits
                    .iter()
                    .any(|&(i, o)| i == ino && o / self.bs() == blk)
            };
            let mut partners = vec![(name.to_string(), b)];
            for t in &self.model.tags {
                let Class::SharedWith { file, delta } = t.class else {
                    continue;
                };
                let (a, c) = (t.file, file);
                if a == id && t.b0 <= b && b < t.b1 {
                    if let Some(n) = self.model.name_of(c) {
                        partners.push((n.to_string(), (b as i64 + delta) as u64));
                    }
                } else if c == id {
                    let back = b as i64 - delta;
                    if back >= t.b0 as i64
                        && back < t.b1 as i64
                        && let Some(n) = self.model.name_of(a)
                    {
                        partners.push((n.to_string(), back as u64));
                    }
                }
            }
            for (who, blk) in partners {
                let Some(ino) = self.inos.get(&who).copied() else {
                    continue; // no longer live: its blocks may be gone
                };
                if !hit(ino, blk) {
                    return Err(format!(
                        "a media error under block {b} of {name} does not report block {blk} of {who}, which shares it: {:?}",
                        report.hits
                    ));
                }
            }
        }
        Ok(())
    }

    /// Unsettled files (see the field `unsettled`) may read as any state the per-name
    /// rule permits; the model follows what they read.
    fn follow_unsettled(&mut self) -> Result<(), String> {
        let names: Vec<String> = self.unsettled.iter().cloned().collect();
        let mut changed = false;
        for name in names {
            if !self.live.contains(&name) {
                self.unsettled.remove(&name);
                continue;
            }
            let ino = self.ino(&name)?;
            let view = self.client_view(&name, ino)?;
            if !self.hist.permits(&name, &view) {
                return Err(format!(
                    "after the server reboot {name} reads {} bytes, not a state permitted since its last fsync",
                    view.data.len()
                ));
            }
            // What a media error hides stays as the model had it.
            let data = view.patched(&self.model.content(&name));
            if !same(&data, &self.model.content(&name)) {
                self.model.set(&name, data);
                let id = self.id(&name);
                self.model.unknown(id, 0, u64::MAX);
                changed = true;
            }
        }
        if changed {
            self.hist.record(&self.model);
        }
        Ok(())
    }

    fn crash(&mut self, pick: usize) -> Result<(), String> {
        let states = self.before_crash()?;
        self.proc.vfs.crash_all(pick);
        self.after_crash(&states, pick)
    }

    /// Checks every state a crash now may recover to, and returns them.
    fn before_crash(&mut self) -> Result<Vec<vfs::extent::Image>, String> {
        let states = self.fs.crash_states();
        self.check_states(&states)?;
        Ok(states)
    }

    /// After a power cut (`Vfs::crash_all(pick)`): the mount recovered to state `pick` of
    /// `states` (clamped); everything is closed, and the model is what the disk holds.
    fn after_crash(&mut self, states: &[vfs::extent::Image], pick: usize) -> Result<(), String> {
        self.script.forget_current();
        self.proc.close_all();
        self.fds.clear();
        self.orphans.clear();
        let want = &states[pick.min(states.len() - 1)];
        let img = self.fs.image();
        // The recovered image is the state `crash_states` listed under that number.
        let got = crate::durability::read_files(&img)?;
        let listed = crate::durability::read_files(want)?;
        if got.keys().ne(listed.keys())
            || got
                .iter()
                .zip(listed.values())
                .any(|((_, a), b)| !same(&a.data, &b.data))
        {
            return Err(format!(
                "crash {pick} recovered to {:?}, not to the state crash_states() listed",
                got.keys().collect::<Vec<_>>()
            ));
        }
        self.model = Reference::new();
        self.live.clear();
        self.inos.clear();
        for (name, view) in got {
            self.model.set(&name, view.data);
            self.inos.insert(
                name.clone(),
                self.fs
                    .lookup(ROOT_INO, &name)
                    .map_err(|e| format!("lookup {name} after crash: {e:?}"))?,
            );
            self.live.push(name);
        }
        if self.profile.nfs {
            // What the crashed client wrote but never committed may still be on the server
            // (and a server reboot may drop it): the history goes on.
            self.hist.record(&self.model);
            self.tainted = self.live.iter().cloned().collect();
            self.unsettled.clear();
        } else {
            self.hist.reset(&self.model);
        }
        self.faults.enospc = img.alloc.fail_at_call.is_some();
        self.faults.bad = !img.bad.is_empty();
        self.faults.reboot = false;
        Ok(())
    }

    // ------------------------------------------------------------------ checks

    fn after_step(&mut self) -> Result<(), String> {
        if self.fs.server_reboots() != self.faults.reboots_seen {
            self.after_reboot()?;
        }
        // A fault armed while files are unsettled may hit their re-send, which reports it at
        // their next fsync; once every file has been fsynced since, none is pending.
        if self.unsettled.is_empty() {
            (self.faults.resend_enospc, self.faults.resend_eio) = (false, false);
        } else {
            self.faults.resend_enospc |= self.enospc_possible();
            self.faults.resend_eio |= self.faults.bad;
        }
        if self.faults.enospc && self.fs.image().alloc.fail_at_call.is_none() {
            self.faults.enospc = false;
        }
        if self.config.check_each_step {
            self.check_all()?;
        }
        if self.config.crash_every > 0 && self.step.is_multiple_of(self.config.crash_every) {
            self.check_crash_states()?;
        }
        Ok(())
    }

    /// Content, sharing promises and fsck.
    ///
    /// # Errors
    /// The first violation.
    pub fn check_all(&mut self) -> Result<(), String> {
        if !self.unsettled.is_empty() {
            self.follow_unsettled()?;
        }
        self.check_content()?;
        if !self.profile.nfs {
            self.check_tags(None)?;
        }
        let problems = self.fs.fsck();
        if !problems.is_empty() {
            return Err(format!("fsck: {problems:?}"));
        }
        Ok(())
    }

    /// Property 1: every live file reads exactly as the model (block by block, accepting
    /// `EIO` on blocks with a media error, when there are any).
    ///
    /// # Errors
    /// The first difference.
    pub fn check_content(&self) -> Result<(), String> {
        if self.faults.bad {
            return self.check_content_blockwise();
        }
        for name in &self.live {
            let ino = self.ino(name)?;
            let want = self.model.get(name).cloned().unwrap_or_default();
            let mut got = self.fs.read(&self.checker, ino, 0, want.len() + self.bs());
            if self.profile.nfs
                && self.faults.reboot
                && got.as_ref().is_err_and(|&e| self.fault_ok(e, false))
            {
                // The client's reboot recovery failed on a fault and reported it on this
                // read (see the ignored regression test); the next call goes on.
                got = self.fs.read(&self.checker, ino, 0, want.len() + self.bs());
            }
            let got = got.map_err(|e| format!("read {name}: {e:?}"))?;
            if let Some(at) = first_diff(&got, &want) {
                return Err(format!(
                    "content of {name} differs at byte {at}: simulator {} (size {}), model {} (size {})",
                    describe_at(&got, at),
                    got.len(),
                    describe_at(&want, at),
                    want.len()
                ));
            }
        }
        Ok(())
    }

    fn check_content_blockwise(&self) -> Result<(), String> {
        let img = self.fs.image();
        let bs = self.bs();
        for name in &self.live {
            let ino = self.ino(name)?;
            let want = self.model.content(name);
            let size = self
                .fs
                .getattr(ino)
                .map_err(|e| format!("stat {name}: {e:?}"))?
                .size;
            if size != want.len() {
                return Err(format!("size of {name} is {size}, model {}", want.len()));
            }
            let mut off = 0;
            while off < size {
                let n = bs.min(size - off);
                let bad = !self.profile.nfs
                    && img
                        .physical_block(ino, off)
                        .ok()
                        .flatten()
                        .is_some_and(|pb| img.bad.contains(&pb));
                match self.fs.read(&self.checker, ino, off, n) {
                    Err(Errno::EIO) if bad || self.profile.nfs => {}
                    Err(e) => return Err(format!("read {name} at {off}: {e:?}")),
                    Ok(_) if bad => {
                        return Err(format!(
                            "block at {off} of {name} has a media error but reads without EIO"
                        ));
                    }
                    Ok(d) => {
                        let w = want.slice(off, n);
                        if let Some(at) = first_diff(&d, &w) {
                            return Err(format!(
                                "content of {name} differs at byte {}: simulator {}, model {}",
                                off + at,
                                describe_at(&d, at),
                                describe_at(&w, at)
                            ));
                        }
                    }
                }
                off += n;
            }
        }
        Ok(())
    }

    /// What the process sees of `name`, block by block (`EIO` blocks recorded as bad).
    fn client_view(&self, name: &str, ino: Ino) -> Result<crate::durability::FileView, String> {
        // A read lets a network client notice a server reboot and redo what it lost
        // (until then its stat shows the server's size); a redo that fails is reported by
        // the file's next fsync, not here.
        let _ = self.fs.read(&self.checker, ino, 0, 1);
        let size = self
            .fs
            .getattr(ino)
            .map_err(|e| format!("stat {name}: {e:?}"))?
            .size;
        let bs = self.bs();
        let mut view = crate::durability::FileView {
            data: Data::new(),
            bad: Vec::new(),
        };
        let mut off = 0;
        while off < size {
            let n = bs.min(size - off);
            match self.fs.read(&self.checker, ino, off, n) {
                Ok(d) if d.len() == n => view.data.append(d),
                Ok(d) => return Err(format!("{name}: short read of {} at {off}", d.len())),
                Err(Errno::EIO) => {
                    view.data.append(Data::zero(n));
                    view.bad.push((off, off + n));
                }
                Err(e) => return Err(format!("read {name} at {off}: {e:?}")),
            }
            off += n;
        }
        Ok(view)
    }

    /// Whether `name` reads as `want` (blocks with a media error match anything).
    fn file_is(&self, name: &str, want: &Data) -> Result<bool, String> {
        let ino = self.ino(name)?;
        let size = self
            .fs
            .getattr(ino)
            .map_err(|e| format!("stat {name}: {e:?}"))?
            .size;
        if size != want.len() {
            return Ok(false);
        }
        let bs = self.bs();
        let mut off = 0;
        while off < size {
            let n = bs.min(size - off);
            match self.fs.read(&self.checker, ino, off, n) {
                Ok(d) if !same(&d, &want.slice(off, n)) => return Ok(false),
                Ok(_) | Err(Errno::EIO) => {}
                Err(e) => return Err(format!("read {name} at {off}: {e:?}")),
            }
            off += n;
        }
        Ok(true)
    }

    /// The extent map of `name` (FIEMAP, or the image where FIEMAP is not supported).
    ///
    /// # Errors
    /// If neither works.
    pub fn block_map(&self, name: &str) -> Result<BlockMap, String> {
        let ino = self.ino(name)?;
        match self.fs.fiemap(ino) {
            Ok(v) => Ok(BlockMap::from_fiemap(&v, self.bs())),
            Err(_) => BlockMap::from_image(&self.fs.image(), ino)
                .ok_or_else(|| format!("{name}: no extent map")),
        }
    }

    /// Properties 2 and 3 over time: every sharing promise in force still holds (only
    /// those about file `only`, if given: on a network client the server's maps are
    /// checked right after an `fsync` of that file, when they have caught up; then only
    /// its unshared promises, since a partner may still have dirty data).
    ///
    /// # Errors
    /// The first broken promise.
    pub fn check_tags(&self, only: Option<FileId>) -> Result<(), String> {
        // Per-block reference counts come from the image (FIEMAP's SHARED is per extent on
        // btrfs-like, as on btrfs): one snapshot for all promises.
        let tags: Vec<&Tag> = self
            .model
            .tags
            .iter()
            .filter(|t| only.is_none_or(|f| f == t.file && t.class == Class::Unshared))
            .collect();
        if tags.is_empty() {
            return Ok(());
        }
        let img = self.fs.image();
        let mut maps: HashMap<FileId, BlockMap> = HashMap::new();
        for t in tags {
            for id in [
                Some(t.file),
                match t.class {
                    Class::SharedWith { file, .. } => Some(file),
                    Class::Unshared => None,
                },
            ]
            .into_iter()
            .flatten()
            {
                if let std::collections::hash_map::Entry::Vacant(v) = maps.entry(id) {
                    let name = self
                        .model
                        .name_of(id)
                        .ok_or_else(|| format!("internal: a promise about a gone file {id}"))?;
                    let ino = self.ino(name)?;
                    v.insert(
                        BlockMap::from_image(&img, ino)
                            .ok_or_else(|| format!("{name}: inode {ino} not in the image"))?,
                    );
                }
            }
            let name = self.model.name_of(t.file).unwrap_or("?");
            let m = &maps[&t.file];
            match t.class {
                Class::Unshared => {
                    for b in t.b0..t.b1 {
                        if let Some((pb, fl)) = m.at(b)
                            && fl & fiemap_flags::SHARED != 0
                        {
                            return Err(format!(
                                "block {b} of {name} (physical {pb}) is shared, but the never-share splice of step {} made it unshared and nothing shared it since",
                                t.step
                            ));
                        }
                    }
                }
                Class::SharedWith { file, delta } => {
                    let other = self.model.name_of(file).unwrap_or("?");
                    let om = &maps[&file];
                    if (m.inline || om.inline) && self.profile.nfs {
                        continue;
                    }
                    if m.inline || om.inline {
                        return Err(format!(
                            "{name} or {other} is inline after step {} shared them",
                            t.step
                        ));
                    }
                    for b in t.b0..t.b1 {
                        let sb = (b as i64 + delta) as u64;
                        let (x, y) = (m.at(b).map(|p| p.0), om.at(sb).map(|p| p.0));
                        if x != y {
                            return Err(format!(
                                "block {b} of {name} is physical {x:?} but block {sb} of {other} is {y:?}; step {} shared them and nothing wrote them since",
                                t.step
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Properties 5–6 on every state a crash now may recover to.
    ///
    /// # Errors
    /// The first bad state.
    pub fn check_crash_states(&mut self) -> Result<(), String> {
        let states = self.fs.crash_states();
        self.check_states(&states)
    }

    /// Forgets which crash states were accepted, so that the next check runs in full (a
    /// benchmark of the check itself).
    pub fn forget_accepted(&mut self) {
        self.verified.clear();
    }

    /// Checks each crash state against the history, except one accepted before (counted in
    /// [`Counters::crash_states_reused`]): a journal snapshot never changes, and until the
    /// history's epoch moves an accepted state stays accepted; media errors are the
    /// device's and are part of the key.
    fn check_states(&mut self, states: &[vfs::extent::Image]) -> Result<(), String> {
        let epoch = self.hist.epoch();
        self.verified.retain(|v| v.0 == epoch);
        for (i, img) in states.iter().enumerate() {
            self.counters.crash_states += 1;
            let key = img.snapshot.map(|id| (epoch, id, img.bad.len()));
            if key.is_some_and(|k| self.verified.contains(&k)) {
                self.counters.crash_states_reused += 1;
                continue;
            }
            self.hist
                .check_state(img)
                .map_err(|e| format!("crash state {i} of {}: {e}", states.len()))?;
            self.verified.extend(key);
        }
        Ok(())
    }

    /// The script that replays everything applied so far.
    pub fn replay_script(&self) -> String {
        self.script.text()
    }

    /// Runs `ops`, then every check once more.
    ///
    /// # Errors
    /// A [`Failure`] with the replay script.
    pub fn run_ops(&mut self, ops: &[Op]) -> Result<(), Failure> {
        let fail = |h: &Harness, message: String| Failure {
            spec: h.profile.spec.clone(),
            message,
            script: h.replay_script(),
        };
        for op in ops {
            if let Err(e) = self.apply(op) {
                return Err(fail(self, e));
            }
        }
        if let Err(e) = self.check_all().and_then(|()| self.check_crash_states()) {
            return Err(fail(self, format!("at the end: {e}")));
        }
        Ok(())
    }
}

/// The crash state `crash N` with `pick` recovers to: a number some mount of `vfs` has
/// (the script refuses a number no mount has; each mount clamps it to its last state).
fn crash_pick(vfs: &Vfs, pick: u8) -> u8 {
    let most = vfs
        .mounts()
        .iter()
        .map(|m| m.fs.crash_states().len())
        .max()
        .unwrap_or(1);
    pick.min(u8::try_from(most - 1).unwrap_or(u8::MAX))
}

/// Runs a sequence on a fresh `spec` with the default configuration.
///
/// # Errors
/// The first violation, with a script that replays the sequence.
pub fn run(spec: &str, ops: &[Op]) -> Result<Counters, Failure> {
    run_with(spec, ops, Config::default())
}

/// Runs a sequence on a fresh `spec` (of one mount, or of several: [`multi`]).
///
/// # Errors
/// The first violation, with a script that replays the sequence.
pub fn run_with(spec: &str, ops: &[Op], config: Config) -> Result<Counters, Failure> {
    let bad_spec = |message| Failure {
        spec: spec.to_string(),
        message,
        script: String::new(),
    };
    if multi::is_multi(spec) {
        let mut h = multi::MultiHarness::new(spec, config).map_err(bad_spec)?;
        h.run_ops(ops)?;
        return Ok(h.counters());
    }
    let mut h = Harness::with_config(spec, config).map_err(bad_spec)?;
    h.run_ops(ops)?;
    Ok(h.counters)
}
