//! The harness over two or three mounts (issue 19): files live on different mounts, of
//! different models and `chunk=` sizes, and the copies between them run under the same
//! checks as copies within one.
//!
//! A multi-mount spec joins mount specs with `+` (`xfs-like:chunk=16k+btrfs-like:chunk=64k`).
//! Mount `i` is at `/m{i}` on a scratch root ([`ROOT`], never checked), each with a
//! [`Harness`] of its own (its reference model, history, faults and process); operands pick
//! from the files of every mount, so a copy's two files are often on two mounts. What Linux
//! does across mounts, and so what the oracle accepts (`Harness::cross_copy`,
//! `Harness::cross_remap`):
//!
//! | call | across mounts |
//! |---|---|
//! | never- and may-share splice | the VFS byte copy (`do_splice_direct`): chunks of the *smaller* mount's chunk, both inode locks per chunk, nothing shared |
//! | must-share splice | `EXDEV` (nothing else is checked before it) |
//! | `copy_file_range` | `EXDEV` (Linux 5.19+: no copy across super blocks) |
//! | `FICLONERANGE` | `EXDEV` (`clone_file_checks` checks it first) |
//! | `FIDEDUPERANGE` | `EXDEV`, or `EINVAL` from the source checks before it |
//!
//! A byte copy between two mounts holds an inode lock for at most one chunk of the smaller
//! chunk ([`Profile::chunk_hold_bound_between`]), and takes the lock of each file once per
//! chunk (two files with the same inode number on two mounts are two locks). A crash is a
//! power cut of every mount at once; each mount's crash states are checked before it.
//! Faults without a file (`ENOSPC`, signals, server reboots) are armed on every mount (a
//! signal on every mount's task: the replay script's one task takes only the first, so
//! `splicelab check --fs SPEC --seed S --cases 1` is the exact replay).

use std::sync::Arc as StdArc;

use syscall::Syscalls;
use syscall::api::o;
use vfs::errno::Errno;
use vfs::sync::Arc;
use vfs::task::TaskStats;
use vfs::vfs::Vfs;

use super::{Config, CopyKind, Counters, Failure, Harness};
use crate::ops::{Flag, NAMES, Op, command};
use crate::profile::Profile;
use crate::reference::{Class, Tag, block_range};

/// The scratch filesystem at `/` that holds the mount points.
pub const ROOT: &str = "tmpfs-like";

/// Most mounts of one multi-mount spec.
pub const MAX_MOUNTS: usize = 3;

/// Whether `spec` names several mounts (`A+B[+C]`).
pub fn is_multi(spec: &str) -> bool {
    spec.contains('+')
}

/// The mount specs of a multi-mount spec.
///
/// # Errors
/// Fewer than two or more than [`MAX_MOUNTS`] parts, or an empty one.
pub fn parts(spec: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = spec.split('+').collect();
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(format!("'{spec}': an empty mount spec between '+'"));
    }
    if !(2..=MAX_MOUNTS).contains(&parts.len()) {
        return Err(format!(
            "'{spec}': {} mounts; a multi-mount spec has 2 to {MAX_MOUNTS}",
            parts.len()
        ));
    }
    Ok(parts)
}

/// Two or three mounts, side by side with their reference models.
pub struct MultiHarness {
    /// The multi-mount spec.
    pub spec: String,
    /// Mount `i` is at `/m{i}`.
    pub mounts: Vec<Harness>,
    vfs: StdArc<Vfs>,
    /// The whole replay script (each mount's lines, in order).
    lines: Vec<String>,
    /// The mount whose script lines came last (its "current file" is still the script's).
    last: Option<usize>,
    /// Steps applied.
    pub step: usize,
}

impl MultiHarness {
    /// Mounts every part of `spec` at `/m{i}` on a fresh [`ROOT`].
    ///
    /// # Errors
    /// A bad spec (of the whole or of a part).
    pub fn new(spec: &str, config: Config) -> Result<MultiHarness, String> {
        let parts = parts(spec)?;
        let vfs = Arc::new(Vfs::new());
        vfs.mount("/", fs_models::spec::make(ROOT)?)
            .map_err(|e| format!("mount {ROOT} on /: {e:?}"))?;
        let mut boot = syscall::Process::new(vfs.clone(), 100);
        // The script's `# fs:` line names what `splicelab script` mounts at `/`.
        let mut lines = vec![
            format!("# fs: {ROOT}"),
            format!("# mounts: {spec} at /m0, /m1, ..."),
        ];
        let mut mounts = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let dir = format!("/m{i}");
            boot.mkdir(&dir, 0o755)
                .map_err(|e| format!("mkdir {dir}: {e:?}"))?;
            mounts.push(Harness::on_mount(&vfs, &dir, part, config, 1 + i as u32)?);
            lines.push(format!("mkdir {dir}"));
            lines.push(format!("mount {part} {dir}"));
        }
        Ok(MultiHarness {
            spec: spec.to_string(),
            mounts,
            vfs,
            lines,
            last: None,
            step: 0,
        })
    }

    /// Moves every mount's task to the latest virtual time of them all: the tasks run one
    /// after another, as the replay script's one task does — a task left behind would
    /// wait, under its first inode lock, for the time another task released the second.
    fn sync_clocks(&self) {
        let now = self
            .mounts
            .iter()
            .map(|h| h.proc.task.now())
            .max()
            .unwrap_or(0);
        for h in &self.mounts {
            h.proc.task.wait_until(now);
        }
    }

    /// Every live file as `(mount, index in its harness's live set)`: what operands pick.
    fn live(&self) -> Vec<(usize, u8)> {
        self.mounts
            .iter()
            .enumerate()
            .flat_map(|(m, h)| (0..h.live.len()).map(move |i| (m, i as u8)))
            .collect()
    }

    /// Makes mount `m` the one writing script lines (its current file is forgotten when
    /// another mount wrote since), runs `f` on it, and moves its new lines to the script.
    fn on<R>(&mut self, m: usize, f: impl FnOnce(&mut Harness) -> R) -> R {
        let step = self.step;
        let h = &mut self.mounts[m];
        if self.last != Some(m) {
            h.script.forget_current();
        }
        h.step = step;
        let n0 = h.script.lines.len();
        let r = f(h);
        self.lines.extend(h.script.lines.drain(n0..));
        self.last = Some(m);
        r
    }

    /// Applies one operation and checks every mount it touched.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn apply(&mut self, op: &Op) -> Result<(), String> {
        self.sync_clocks();
        self.step += 1;
        let step = self.step;
        let at = |m: usize| format!("step {step} {op:?} (/m{m})");
        match *op {
            Op::Create { n } => {
                let m = usize::from(n / NAMES) % self.mounts.len();
                let local = Op::Create { n: n % NAMES };
                return self
                    .on(m, |h| h.apply_op(&local).and_then(|()| h.after_step()))
                    .map_err(|e| format!("{}: {e}", at(m)));
            }
            Op::Crash { pick } => {
                return self
                    .crash(pick)
                    .map_err(|e| format!("step {step} {op:?}: {e}"));
            }
            _ => {}
        }
        let Some(target) = op.target() else {
            // Faults without a file: armed on every mount — in the script on the mount
            // named by its path, and the signal once (the script has one task).
            for m in 0..self.mounts.len() {
                let n0 = self.lines.len();
                self.on(m, |h| h.apply_op(op).and_then(|()| h.after_step()))
                    .map_err(|e| format!("{}: {e}", at(m)))?;
                for line in &mut self.lines[n0..] {
                    if line.starts_with("inject ") {
                        line.push_str(&format!(" /m{m}"));
                    }
                }
                if matches!(op, Op::Signal { .. }) && m > 0 {
                    self.lines.truncate(n0);
                }
            }
            return Ok(());
        };
        let live = self.live();
        if live.is_empty() {
            self.mounts[0].counters.skipped += 1;
            return Ok(());
        }
        let (tm, ti) = live[usize::from(target) % live.len()];
        let source = op.source().map(|s| live[usize::from(s) % live.len()]);
        match source {
            Some((sm, si)) if sm != tm => {
                let (from, to) = two(&mut self.mounts, sm, tm);
                let src = from.live[usize::from(si)].clone();
                let dst = to.live[usize::from(ti)].clone();
                if self.last != Some(tm) {
                    to.script.forget_current();
                }
                to.step = step;
                let n0 = to.script.lines.len();
                let r = to
                    .cross(from, op, &src, &dst)
                    .map_err(|e| format!("{}: {e}", at(tm)))
                    .and_then(|()| {
                        to.after_step()
                            .map_err(|e| format!("after {}: {e}", at(tm)))
                    });
                self.lines.extend(to.script.lines.drain(n0..));
                self.last = Some(tm);
                r
            }
            _ => {
                let local = with_operands(op, ti, source.map(|s| s.1));
                self.on(tm, |h| {
                    h.apply_op(&local)
                        .and_then(|()| h.after_step().map_err(|e| format!("after: {e}")))
                })
                .map_err(|e| format!("{}: {e}", at(tm)))
            }
        }
    }

    /// A power cut of every mount: each mount's crash states are checked, then every mount
    /// recovers to its state `pick` (clamped per mount, as the script's `crash`).
    fn crash(&mut self, pick: u8) -> Result<(), String> {
        let mut states = Vec::new();
        for (m, h) in self.mounts.iter_mut().enumerate() {
            states.push(h.before_crash().map_err(|e| format!("/m{m}: {e}"))?);
        }
        let pick = usize::from(super::crash_pick(&self.vfs, pick));
        self.lines.push(format!("crash {pick}"));
        self.vfs.crash_all(pick);
        for (m, h) in self.mounts.iter_mut().enumerate() {
            h.step = self.step;
            h.after_crash(&states[m], pick)
                .and_then(|()| h.after_step())
                .map_err(|e| format!("/m{m}: {e}"))?;
        }
        Ok(())
    }

    /// The script that replays everything applied so far.
    pub fn replay_script(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }

    /// What every mount counted (steps: this harness's).
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for h in &self.mounts {
            c += h.counters;
        }
        c.steps = self.step as u64;
        c
    }

    /// Runs `ops`, then every check on every mount once more.
    ///
    /// # Errors
    /// A [`Failure`] with the replay script.
    pub fn run_ops(&mut self, ops: &[Op]) -> Result<(), Failure> {
        let fail = |h: &MultiHarness, message: String| Failure {
            spec: h.spec.clone(),
            message,
            script: h.replay_script(),
        };
        for op in ops {
            if let Err(e) = self.apply(op) {
                return Err(fail(self, e));
            }
        }
        for m in 0..self.mounts.len() {
            let h = &mut self.mounts[m];
            if let Err(e) = h.check_all().and_then(|()| h.check_crash_states()) {
                return Err(fail(self, format!("at the end, /m{m}: {e}")));
            }
        }
        Ok(())
    }
}

/// Mount `a` shared and mount `b` mutable (`a != b`).
fn two(v: &mut [Harness], a: usize, b: usize) -> (&Harness, &mut Harness) {
    if a < b {
        let (l, r) = v.split_at_mut(b);
        (&l[a], &mut r[0])
    } else {
        let (l, r) = v.split_at_mut(a);
        (&r[0], &mut l[b])
    }
}

/// `op` with its file operands replaced by indices into one mount's live set.
fn with_operands(op: &Op, target: u8, source: Option<u8>) -> Op {
    let mut op = op.clone();
    let (t, s) = op.files_mut();
    if let Some(t) = t {
        *t = target;
    }
    if let (Some(s), Some(source)) = (s, source) {
        *s = source;
    }
    op
}

impl Harness {
    /// A copy, clone or dedupe from `src` of mount `from` to `dst` of this mount (two
    /// different mounts): the call, and what Linux answers across mounts.
    fn cross(&mut self, from: &Harness, op: &Op, src: &str, dst: &str) -> Result<(), String> {
        let line = command(op, Some(&from.shown(src)), Some(&self.shown(dst)));
        self.script.on(Some(&self.shown(dst)), line);
        let old_size = self.model.size(dst);
        self.counters.cross_mount += 1;
        let r = self.cross_call(from, op, src, dst);
        self.eof_block_rewritten(op, dst, old_size);
        r
    }

    fn cross_call(&mut self, from: &Harness, op: &Op, src: &str, dst: &str) -> Result<(), String> {
        match *op {
            Op::Splice {
                soff,
                doff,
                len,
                flag,
                nonblock,
                ..
            } => self.cross_copy(
                (from, CopyKind::Splice(flag), nonblock),
                (src, soff),
                (dst, doff),
                len,
            ),
            Op::CopyRange {
                soff, doff, len, ..
            } => self.cross_copy(
                (from, CopyKind::CopyRange, false),
                (src, soff),
                (dst, doff),
                len,
            ),
            Op::Clone { .. } | Op::Dedupe { .. } => self.cross_remap(from, op, src, dst),
            _ => Err(format!("internal: {op:?} has no source")),
        }
    }

    /// The byte copy of a never- or may-share splice between two mounts, and the `EXDEV`
    /// of a must-share splice and of `copy_file_range`.
    fn cross_copy(
        &mut self,
        (from, kind, nonblock): (&Harness, CopyKind, bool),
        (src, soff): (&str, u64),
        (dst, doff): (&str, u64),
        len: u64,
    ) -> Result<(), String> {
        let what = format!("{} across mounts", super::what_of(kind));
        let sfd = self
            .proc
            .open(&from.path(src), o::RDONLY, 0)
            .map_err(|e| format!("open {} read-only: {e:?}", from.shown(src)))?;
        let dfd = self.fd(dst)?;
        let locks0 = (
            self.lock_count(&from.path(src))?,
            self.lock_count(&self.path(dst))?,
        );
        let before = self.model.content(dst);
        let max = from.model.copy_count(src, soff, len);
        let signal_first = self.faults.signal == Some(0);
        self.proc.task.take_stats();
        let (r, (so, dof)) = self.call_copy(kind, nonblock, (sfd, soff), (dfd, doff), len);
        let stats = self.proc.task.take_stats();
        self.proc.close(sfd).ok();
        // Linux: no sharing across super blocks, and no copy_file_range either; a
        // must-share splice and copy_file_range fail before they look at anything else.
        if matches!(kind, CopyKind::Splice(Flag::Must) | CopyKind::CopyRange) {
            return match r {
                Err(Errno::EXDEV) => {
                    self.counters.errors += 1;
                    Ok(())
                }
                other => Err(format!("{what}: {other:?}, expected EXDEV")),
            };
        }
        if super::wraps(soff, doff, len) {
            return self.overflowed(&what, r, &stats).map(drop);
        }
        if self.past_limit(doff) {
            return self.refused(&what, Errno::EFBIG, r, &stats).map(drop);
        }
        if stats.bytes_shared != 0 || stats.extents_remapped != 0 {
            return Err(format!(
                "{what} shared {} bytes ({} extents remapped); two mounts share nothing",
                stats.bytes_shared, stats.extents_remapped
            ));
        }
        let n = match r {
            Ok(n) => n as u64,
            Err(e) => {
                let source_eio = e == Errno::EIO && from.faults.bad;
                if signal_first && max > 0 && e != Errno::EINTR {
                    return Err(format!(
                        "{what} failed with {e:?} although a signal was pending before it moved anything (spec §2: EINTR)"
                    ));
                }
                if signal_first && stats.chunks > 0 {
                    return Err(format!(
                        "{what} copied {} chunks although a signal was pending before the first",
                        stats.chunks
                    ));
                }
                if source_eio || self.fault_ok(e, true) {
                    self.counters.errors += 1;
                    if e == Errno::EINTR {
                        self.faults.signal = self.proc.task.planned_signal();
                    }
                    return Ok(());
                }
                return Err(format!("{what} failed with {e:?}"));
            }
        };
        let may_be_short = self.faults.signal.is_some()
            || self.enospc_possible()
            || self.faults.bad
            || from.faults.bad
            || self.profile.nfs
            || from.profile.nfs;
        let network = self.profile.nfs || from.profile.nfs;
        self.check_returned(
            &what,
            &super::Returned {
                n,
                max,
                start: (soff, doff),
                end: (so, dof),
                signal_first,
            },
            &stats,
            (may_be_short, network),
        )?;
        if n > 0 {
            self.model
                .pwrite(dst, doff, &from.model.content(src).slice(soff, n));
        }
        let bs = self.bs();
        let (b0, b1) = block_range(doff, n, bs);
        let did = self.id(dst);
        self.model.content_changed(did, b0, b1);
        if kind == CopyKind::Splice(Flag::Never) {
            self.model.promise(Tag {
                file: did,
                b0,
                b1,
                class: Class::Unshared,
                step: self.step,
            });
            self.check_sole_user(dst, b0, b1)?;
        } else {
            self.model.unknown(did, b0, b1);
        }
        // (Nothing is offloaded across mounts: it is the VFS byte copy.)
        self.check_locks_per_chunk(&what, &stats, locks0, (&from.path(src), false), dst)?;
        self.check_blocking_between(&what, from, &stats)?;
        if n > 0 {
            self.counters.cross_mount_copied += 1;
            self.hist.record_copy(&self.model, dst, before);
        }
        Ok(())
    }

    /// Spec §6.7 across mounts: a byte copy holds an inode lock for at most one chunk of
    /// the smaller of the two mounts' chunks (a network mount may hold it longer to write
    /// back, as within one mount: [`Profile::remap_hold_bound`]).
    fn check_blocking_between(
        &self,
        what: &str,
        from: &Harness,
        st: &TaskStats,
    ) -> Result<(), String> {
        let chunk = Profile::chunk_hold_bound_between(&from.profile, &self.profile);
        let mut bound = chunk;
        for h in [from, self] {
            let p = &h.profile;
            if p.nfs {
                let held: u64 = h.live.iter().map(|n| h.model.size(n)).sum();
                bound = bound.max(p.remap_hold_bound(st.extents_remapped, held));
            }
        }
        if st.longest_hold > bound {
            return Err(format!(
                "{what} held an inode lock for {} ns; one chunk of {} bytes (the smaller of {} and {}) may take {bound} ns ({} chunks, {} bytes copied)",
                st.longest_hold,
                from.profile.chunk.min(self.profile.chunk),
                from.profile.chunk,
                self.profile.chunk,
                st.chunks,
                st.bytes_copied
            ));
        }
        Ok(())
    }

    /// `FICLONERANGE` and `FIDEDUPERANGE` between two mounts: `EXDEV` (a dedupe may say
    /// `EINVAL` first, from the source's own checks); never a success.
    fn cross_remap(&mut self, from: &Harness, op: &Op, src: &str, dst: &str) -> Result<(), String> {
        let sfd = self
            .proc
            .open(&from.path(src), o::RDONLY, 0)
            .map_err(|e| format!("open {} read-only: {e:?}", from.shown(src)))?;
        let dfd = self.fd(dst)?;
        let (r, want) = match *op {
            Op::Clone {
                soff, doff, len, ..
            } => (
                self.proc.ficlonerange(dfd, sfd, soff, len, doff),
                Errno::EXDEV,
            ),
            Op::Dedupe {
                soff, doff, len, ..
            } => {
                let r = match self.dedupe_call((sfd, soff), (dfd, doff), len) {
                    Ok(v) => match v.first() {
                        Some(out) if out.status < 0 => Err(Errno(-out.status)),
                        Some(out) => {
                            self.proc.close(sfd).ok();
                            return Err(format!(
                                "FIDEDUPERANGE across mounts: status {}, expected EXDEV",
                                out.status
                            ));
                        }
                        None => Ok(()),
                    },
                    Err(e) => Err(e),
                };
                // `vfs_dedupe_file_range` checks the source first: a filesystem without
                // `->remap_file_range`, then the source range (past its EOF); only then
                // each destination (another mount).
                let want = if !from.fs.has_remap() {
                    Errno::EOPNOTSUPP
                } else if soff.saturating_add(len) > from.model.size(src) {
                    Errno::EINVAL
                } else {
                    Errno::EXDEV
                };
                (r, want)
            }
            _ => return Err(format!("internal: {op:?} is no remap")),
        };
        self.proc.close(sfd).ok();
        match r {
            Err(e) if e == want => {
                self.counters.errors += 1;
                Ok(())
            }
            other => Err(format!(
                "{op:?} across mounts: {other:?}, expected {want:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{GenConfig, random_multi_ops};

    #[test]
    fn specs_of_two_or_three_mounts() {
        assert_eq!(parts("plain+xfs-like"), Ok(vec!["plain", "xfs-like"]));
        assert!(parts("plain").unwrap_err().contains("2 to 3"));
        assert!(parts("a+b+c+d").unwrap_err().contains("4 mounts"));
        assert!(parts("plain++xfs-like").unwrap_err().contains("empty"));
        assert!(MultiHarness::new("plain+nosuch", Config::default()).is_err());
    }

    /// A copy between two files with the same inode number on two mounts: a byte copy in
    /// chunks (never-share), `EXDEV` for must-share, clone and dedupe; the replay script
    /// mounts both filesystems and names the files by path.
    #[test]
    fn copies_between_two_mounts() {
        let mut h = MultiHarness::new("plain:chunk=4k+btrfs-like:chunk=64k", Config::default())
            .expect("valid spec");
        let splice = |flag| Op::Splice {
            src: 0,
            dst: 1,
            soff: 0,
            doff: 0,
            len: 12288,
            flag,
            nonblock: false,
        };
        let ops = [
            Op::Create { n: 0 },
            Op::Create { n: NAMES },
            Op::Pwrite {
                file: 0,
                off: 0,
                len: 12288,
                byte: 7,
            },
            splice(Flag::Never),
            splice(Flag::May),
            splice(Flag::Must),
            Op::Clone {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 4096,
            },
            Op::Dedupe {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 4096,
            },
            Op::Crash { pick: 0 },
        ];
        h.run_ops(&ops).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(h.mounts[0].ino("f0"), h.mounts[1].ino("f0"));
        let c = h.counters();
        assert_eq!((c.cross_mount, c.cross_mount_copied), (5, 2));
        assert_eq!(c.errors, 3, "must-share, clone and dedupe: EXDEV");
        let script = h.replay_script();
        assert!(script.starts_with("# fs: tmpfs-like\n"), "{script}");
        assert!(
            script.contains("mount btrfs-like:chunk=64k /m1"),
            "{script}"
        );
        assert!(
            script.contains("splice -s 0 -d 0 -l 12288 -F never m0/f0"),
            "{script}"
        );
    }

    #[test]
    fn multi_mount_sequences_start_with_a_file_on_every_mount() {
        let cfg = GenConfig::new(4096, 30);
        let a = random_multi_ops(&cfg, 3, 5);
        assert_eq!(a, random_multi_ops(&cfg, 3, 5));
        assert_eq!(
            a[..3],
            [
                Op::Create { n: 0 },
                Op::Create { n: NAMES },
                Op::Create { n: 2 * NAMES }
            ]
        );
        assert!(
            a.iter()
                .all(|op| !matches!(op, Op::Create { n } if *n >= 3 * NAMES))
        );
    }
}

#[cfg(test)]
mod overflow_tests {
    use super::*;

    /// A copy whose range wraps around 2^64 is `EOVERFLOW` (and one whose end only passes
    /// 2^63 - 1 is shortened to the source's EOF: 0 bytes), on one mount and across two.
    #[test]
    fn copies_past_2_63() {
        let near = i64::MAX as u64 - 100;
        let mut ops = vec![Op::Create { n: 0 }, Op::Create { n: NAMES }];
        for (soff, len) in [(near, 8192), (near, u64::MAX - 50), (0, u64::MAX)] {
            ops.push(Op::Splice {
                src: 0,
                dst: 1,
                soff,
                doff: 0,
                len,
                flag: Flag::Never,
                nonblock: false,
            });
            ops.push(Op::CopyRange {
                src: 1,
                dst: 1,
                soff,
                doff: 4096,
                len,
            });
        }
        let c =
            crate::harness::run("plain:chunk=4k+xfs-like", &ops).unwrap_or_else(|f| panic!("{f}"));
        // (0 + 2^64 - 1 does not wrap: that splice copies the empty source, 0 bytes.)
        assert_eq!(c.errors, 3, "the three copies whose range wraps");
        let mut one = vec![Op::Create { n: 0 }, Op::Create { n: 1 }];
        one.extend_from_slice(&ops[2..]);
        let c = crate::harness::run("xfs-like", &one).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(c.errors, 3);
    }
}
