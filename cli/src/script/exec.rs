//! Running parsed commands on a simulated process.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{Value, json};
use syscall::api::{DedupeDest, fiemap_req, o, seek};
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::errno::Errno;
use vfs::extent::{FileKind, Ino, ROOT_INO, fiemap_flags};
use vfs::fs::Fault;
use vfs::sync::Arc;
use vfs::task::SignalPlan;
use vfs::vfs::{Mount, Vfs};

use super::json::Obj;
use super::parse::{Cmd, Inject, Line, OpenFlags, Script, Source};
use super::xfsfmt::{self, FiemapWidths, btobbt};

/// An entry of the file table (xfs_io's `filetable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The descriptor in the simulated process.
    pub fd: i32,
    /// The path as written in the script (what xfs_io prints).
    pub name: String,
    /// How it was opened (shown by `file` and `stat`).
    pub flags: OpenFlags,
}

/// What one command did: its transcript lines and its JSON fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// Text output, one entry per line.
    pub lines: Vec<String>,
    /// Whether the command succeeded.
    pub ok: bool,
    /// Command-specific JSON fields.
    pub fields: Obj,
    /// The errno of a failed system call.
    pub errno: Option<Errno>,
    /// Why it failed (the errno's text, or another message).
    pub error: Option<String>,
}

impl Record {
    fn new() -> Record {
        Record {
            ok: true,
            ..Record::default()
        }
    }

    fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    fn set(&mut self, k: &str, v: impl Into<Value>) {
        self.fields.set(k, v);
    }

    /// A failed system call, printed `prefix: strerror` like `perror(prefix)`.
    fn errno(&mut self, prefix: &str, e: Errno) {
        self.errno_text(format!("{prefix}: {e}"), e);
    }

    /// A failed system call with a message of its own (`text` printed as is).
    fn errno_text(&mut self, text: String, e: Errno) {
        self.line(text);
        self.ok = false;
        self.errno = Some(e);
        self.error = Some(e.to_string());
    }

    /// A failure that is not an errno; `text` is printed as is.
    fn fail(&mut self, text: impl Into<String>, why: impl Into<String>) {
        self.line(text);
        self.ok = false;
        self.error = Some(why.into());
    }

    /// The JSON object for this record.
    pub fn to_json(&self, line: usize, cmd: &str) -> Obj {
        let mut o = Obj::new();
        o.set("line", line);
        o.set("cmd", cmd);
        o.set("ok", self.ok);
        o.extend(self.fields.clone());
        if let Some(e) = self.errno {
            o.set(
                "errno",
                e.name().map_or_else(|| e.raw().to_string(), str::to_string),
            );
        }
        if let Some(e) = &self.error {
            o.set("error", e.as_str());
        }
        o
    }
}

/// Where a command's long output goes: straight to the transcript's writer (`run`), or,
/// without one, into the record's lines (`exec`). A write error is kept for `run` to
/// return, and stops the command.
struct Streamed<'a> {
    out: Option<&'a mut dyn Write>,
    error: Option<io::Error>,
}

impl Streamed<'_> {
    /// One output line of `r`'s command.
    fn line(&mut self, r: &mut Record, l: String) {
        match &mut self.out {
            None => r.line(l),
            Some(_) if self.error.is_some() => {}
            Some(w) => {
                if let Err(e) = writeln!(w, "{l}") {
                    self.error = Some(e);
                }
            }
        }
    }
}

const NO_FILES: &str = "no files are open, try 'help open'";

/// The message when a command's loop reaches [`super::MAX_CALLS`].
fn too_many(r: &mut Record, cmd: &str) {
    r.fail(
        format!(
            "{cmd}: stopped after {} calls (splicelab's limit per command)",
            super::MAX_CALLS
        ),
        "too many calls",
    );
}

/// The message when a command's loop has made [`super::MAX_COMMAND_CHUNKS`] chunks of
/// byte copy (`chunks`: the task's chunk count since the command began).
fn too_many_chunks(r: &mut Record, cmd: &str, chunks: u64) {
    r.fail(
        format!(
            "{cmd}: stopped after {chunks} chunks of byte copy (splicelab's limit per command: {})",
            super::MAX_COMMAND_CHUNKS
        ),
        "too many chunks",
    );
}

/// A script interpreter: a simulated process with a file table.
pub struct Runner {
    proc: Process,
    files: Vec<FileEntry>,
    cur: Option<usize>,
    json: bool,
    quit: bool,
    /// Whether `pwrite`/`pread` may make a run of whole buffers as one call
    /// ([`Runner::batch`]). Off once an `inject enospc N` counted allocation calls: xfs_io's
    /// buffer-sized calls each allocate, so which call fails depends on the calls made.
    batching: bool,
}

/// An absolute path: scripts may name `a` for `/a`.
fn abs(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

impl Runner {
    /// A process whose `/` is a fresh filesystem built from the mount spec `fs`.
    ///
    /// # Errors
    /// The model's message for a bad spec (unknown model, bad option).
    pub fn new(fs: &str, json: bool) -> Result<Runner, String> {
        let root = fs_models::spec::make(fs)?;
        let vfs = Vfs::new();
        vfs.mount("/", root)
            .map_err(|e| format!("cannot mount /: {e}"))?;
        Ok(Runner {
            proc: Process::new(Arc::new(vfs), 1),
            files: Vec::new(),
            cur: None,
            json,
            quit: false,
            batching: true,
        })
    }

    /// The simulated process.
    pub fn process(&self) -> &Process {
        &self.proc
    }

    /// The simulated process, to continue where a script left off.
    pub fn process_mut(&mut self) -> &mut Process {
        &mut self.proc
    }

    /// The file table and the index of the current file.
    pub fn files(&self) -> (&[FileEntry], Option<usize>) {
        (&self.files, self.cur)
    }

    /// Whether a `quit` has run.
    pub fn quitted(&self) -> bool {
        self.quit
    }

    /// Runs every line of `script` (up to a `quit`), writing text or JSON lines to `out`.
    ///
    /// # Errors
    /// Only if writing to `out` fails; failing commands are part of the transcript.
    pub fn run(&mut self, script: &Script, out: &mut dyn Write) -> io::Result<()> {
        for line in &script.lines {
            if self.quit {
                break;
            }
            // Long outputs (`pread -v`) go to `out` line by line as they are made, not
            // through the record; JSON has no text lines, so there they go nowhere.
            let mut discard = io::sink();
            let sink: &mut dyn Write = if self.json { &mut discard } else { &mut *out };
            let mut streamed = Streamed {
                out: Some(sink),
                error: None,
            };
            let rec = self.exec_to(line, &mut streamed);
            if let Some(e) = streamed.error {
                return Err(e);
            }
            if self.json {
                writeln!(out, "{}", rec.to_json(line.lineno, line.name).to_line())?;
            } else {
                for l in &rec.lines {
                    // Lines quote input (an echo, a path): never raw control characters.
                    writeln!(out, "{}", super::parse::escape_controls(l))?;
                }
            }
        }
        Ok(())
    }

    /// Runs one line.
    pub fn exec(&mut self, line: &Line) -> Record {
        self.exec_to(
            line,
            &mut Streamed {
                out: None,
                error: None,
            },
        )
    }

    /// Runs one line; long outputs go to `streamed` when it has a writer.
    fn exec_to(&mut self, line: &Line, streamed: &mut Streamed<'_>) -> Record {
        let mut r = Record::new();
        match &line.cmd {
            Cmd::Open { path, flags } => self.open(&mut r, path.as_deref(), *flags),
            Cmd::File { index } => self.file(&mut r, *index),
            Cmd::Echo { text } => {
                r.line(text.clone());
                r.set("text", text.as_str());
            }
            Cmd::Quit => self.quit = true,
            Cmd::Sync => self.proc.sync(),
            Cmd::Signal { after_chunks } => {
                self.proc.task.plan_signal(SignalPlan {
                    after_chunks: *after_chunks,
                });
                r.set("after_chunks", *after_chunks);
            }
            Cmd::Mount { spec, fs, dir } => self.mount(&mut r, spec, fs.0.clone(), dir),
            Cmd::Md5sum { path } => self.md5sum(&mut r, path),
            Cmd::Shared { path } => self.shared(&mut r, path),
            Cmd::Mkdir { path } => {
                if let Err(e) = self.proc.mkdir(&abs(path), 0o755) {
                    r.errno(&format!("mkdir: cannot create directory '{path}'"), e);
                }
            }
            Cmd::Rmdir { path } => {
                if let Err(e) = self.proc.rmdir(&abs(path)) {
                    r.errno(&format!("rmdir: failed to remove '{path}'"), e);
                }
            }
            Cmd::Rm { path } => {
                if let Err(e) = self.proc.unlink(&abs(path)) {
                    r.errno(&format!("rm: cannot remove '{path}'"), e);
                }
            }
            Cmd::Mv { old, new } => {
                if let Err(e) = self.proc.rename(&abs(old), &abs(new)) {
                    r.errno(&format!("mv: cannot move '{old}' to '{new}'"), e);
                }
            }
            Cmd::Chattr { changes, path } => self.chattr(&mut r, changes, path),
            Cmd::Crash { pick } => self.crash(&mut r, *pick),
            Cmd::Inject(i) => self.inject(&mut r, i),
            Cmd::Fsck => self.fsck(&mut r),
            Cmd::CloseUnlinked => self.close_unlinked(&mut r),
            // Everything else works on the current file.
            cmd => {
                let Some(idx) = self.cur else {
                    r.fail(NO_FILES, NO_FILES);
                    return r;
                };
                let f = self.files[idx].clone();
                self.on_file(&mut r, cmd, &f, streamed);
            }
        }
        r
    }

    fn on_file(&mut self, r: &mut Record, cmd: &Cmd, f: &FileEntry, streamed: &mut Streamed<'_>) {
        let fd = f.fd;
        match cmd {
            Cmd::Close => self.close(r),
            Cmd::Pwrite {
                off,
                len,
                bs,
                seed,
                quiet,
                compact,
                fsync,
                fdatasync,
            } => self.pwrite(
                r, fd, *off, *len, *bs, *seed, *quiet, *compact, *fsync, *fdatasync,
            ),
            Cmd::Pread {
                off,
                len,
                bs,
                verbose,
                quiet,
                compact,
            } => self.pread(r, fd, *off, *len, *bs, *verbose, *quiet, *compact, streamed),
            Cmd::Truncate { size } => {
                if let Err(e) = self.proc.ftruncate(fd, *size as i64) {
                    r.errno("ftruncate", e);
                }
            }
            Cmd::Falloc { mode, off, len } => {
                r.set("mode", *mode);
                if let Err(e) = self
                    .proc
                    .fallocate(fd, *mode as i32, *off as i64, *len as i64)
                {
                    r.errno("fallocate", e);
                }
            }
            Cmd::Seek {
                data,
                hole,
                all,
                start,
                off,
            } => self.seek(r, fd, *data, *hole, *all, *start, *off),
            Cmd::Fsync => {
                if let Err(e) = self.proc.fsync(fd) {
                    r.errno("fsync", e);
                }
            }
            Cmd::Fdatasync => {
                if let Err(e) = self.proc.fdatasync(fd) {
                    r.errno("fdatasync", e);
                }
            }
            Cmd::Stat => self.stat(r, f),
            Cmd::Fiemap {
                verbose,
                lflag,
                max,
                off,
                len,
            } => self.fiemap(r, f, *verbose, *lflag, *max, *off, *len),
            Cmd::Reflink {
                src,
                range,
                quiet,
                compact,
            } => self.reflink(r, fd, src, *range, *quiet, *compact),
            Cmd::Dedupe {
                src,
                soff,
                doff,
                len,
                quiet,
                compact,
            } => self.dedupe(r, fd, src, *soff, *doff, *len, *quiet, *compact),
            Cmd::CopyRange {
                src,
                soff,
                doff,
                len,
            } => self.copy_range(r, fd, src, *soff, *doff, *len),
            Cmd::Splice {
                src,
                soff,
                doff,
                len,
                flags,
                all,
                quiet,
                compact,
            } => self.splice(
                r, fd, src, *soff, *doff, *len, *flags, *all, *quiet, *compact,
            ),
            other => unreachable!("{other:?} does not need the current file"),
        }
    }

    // ------------------------------------------------------------------ file table

    fn open(&mut self, r: &mut Record, path: Option<&str>, flags: OpenFlags) {
        let Some(path) = path else {
            // xfs_io: `open` without arguments shows the current file.
            match self.cur {
                Some(i) => {
                    let f = self.files[i].clone();
                    self.stat(r, &f);
                }
                None => r.fail(NO_FILES, NO_FILES),
            }
            return;
        };
        let mut oflags = if flags.readonly { o::RDONLY } else { o::RDWR };
        if flags.append {
            oflags |= o::APPEND;
        }
        if flags.create {
            oflags |= o::CREAT;
        }
        if flags.trunc {
            oflags |= o::TRUNC;
        }
        let mut flags = flags;
        let res = match self.proc.open(&abs(path), oflags, 0o600) {
            // xfs_io opens a directory read-only when read-write fails with EISDIR.
            Err(Errno::EISDIR) if !flags.readonly => {
                flags.readonly = true;
                self.proc
                    .open(&abs(path), (oflags & !o::ACCMODE) | o::RDONLY, 0o600)
            }
            res => res,
        };
        match res {
            Ok(fd) => {
                self.files.push(FileEntry {
                    fd,
                    name: path.to_string(),
                    flags,
                });
                self.cur = Some(self.files.len() - 1);
                r.set("fd", fd);
                r.set("index", self.files.len() - 1);
                r.set("path", path);
            }
            Err(e) => r.errno(path, e),
        }
    }

    fn file_list(&self, r: &mut Record) {
        let mut list = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            let cur = Some(i) == self.cur;
            r.line(format!(
                "{}{i:03}{} {:<14} (foreign,non-sync,non-direct,{}{})",
                if cur { '[' } else { ' ' },
                if cur { ']' } else { ' ' },
                f.name,
                if f.flags.readonly {
                    "read-only"
                } else {
                    "read-write"
                },
                if f.flags.append { ",append-only" } else { "" },
            ));
            list.push(json!({"index": i, "path": f.name, "fd": f.fd, "current": cur}));
        }
        r.set("files", list);
    }

    /// The message for file-table entry `i` that does not exist (xfs_io's, or, with
    /// nothing open, what to do about it).
    fn no_entry(&self, what: &str, i: i64) -> String {
        match self.files.len() {
            0 => format!("file {i}: {NO_FILES}"),
            n => format!("{what} {i} is out of range (0-{})", n - 1),
        }
    }

    fn file(&mut self, r: &mut Record, index: Option<i64>) {
        if let Some(i) = index {
            if i < 0 || i >= self.files.len() as i64 {
                let m = self.no_entry("value", i);
                r.fail(m.clone(), m);
                return;
            }
            self.cur = Some(i as usize);
        }
        self.file_list(r);
    }

    fn close(&mut self, r: &mut Record) {
        let idx = self.cur.expect("checked by the caller");
        if let Err(e) = self.proc.close(self.files[idx].fd) {
            r.errno("close", e);
            return;
        }
        self.files.remove(idx);
        self.cur = if self.files.is_empty() {
            None
        } else {
            Some(idx.min(self.files.len() - 1))
        };
        self.file_list(r);
    }

    /// `close -u`: closes every open file whose link count is 0 (unlinked, or replaced by
    /// a rename); the last close evicts it. Lists the files still open.
    fn close_unlinked(&mut self, r: &mut Record) {
        let mut keep = Vec::new();
        for (i, f) in std::mem::take(&mut self.files).into_iter().enumerate() {
            let nameless = self.proc.fstat(f.fd).is_ok_and(|st| st.nlink == 0);
            if !nameless {
                keep.push((i, f));
                continue;
            }
            if let Err(e) = self.proc.close(f.fd) {
                r.errno("close", e);
                keep.push((i, f));
            }
        }
        let cur = self.cur;
        self.cur = cur.and_then(|c| keep.iter().position(|(i, _)| *i == c));
        if self.cur.is_none() && !keep.is_empty() {
            self.cur = Some(keep.len() - 1);
        }
        self.files = keep.into_iter().map(|(_, f)| f).collect();
        self.file_list(r);
    }

    /// Looks up a source for `copy_range`/`splice`: its fd and whether we opened it.
    fn source_fd(&mut self, r: &mut Record, src: &Source) -> Option<(i32, bool)> {
        match src {
            Source::Index(i) => {
                if *i < 0 || *i >= self.files.len() as i64 {
                    let m = self.no_entry("file value", *i);
                    r.fail(m.clone(), m);
                    None
                } else {
                    Some((self.files[*i as usize].fd, false))
                }
            }
            Source::Path(p) => self.open_src(r, p).map(|fd| (fd, true)),
        }
    }

    /// `openfile(path, IO_READONLY)`: errors print as `perror(path)`.
    fn open_src(&mut self, r: &mut Record, path: &str) -> Option<i32> {
        match self.proc.open(&abs(path), o::RDONLY, 0) {
            Ok(fd) => Some(fd),
            Err(e) => {
                r.errno(path, e);
                None
            }
        }
    }

    fn close_src(&mut self, fd: i32, opened: bool) {
        if opened {
            let _ = self.proc.close(fd);
        }
    }

    // ------------------------------------------------------------------ I/O

    #[allow(clippy::too_many_arguments)]
    fn pwrite(
        &mut self,
        r: &mut Record,
        fd: i32,
        offset: u64,
        count: u64,
        bs: u64,
        seed: u8,
        quiet: bool,
        compact: bool,
        fsync: bool,
        fdatasync: bool,
    ) {
        let t0 = self.proc.task.now();
        let (mut off, mut left, mut total, mut ops) = (offset, count, 0u64, 0u64);
        r.set("offset", offset);
        r.set("count", count);
        // io/pwrite.c write_buffer: pwrite min(left, bs) until done, short, or 0. A run of
        // whole buffers is made as one call ([`Runner::batch`]); a call is made alone
        // where the run's call stopped, and from the first run that fails on.
        let (mut calls, mut batch) = (0u64, true);
        let failed = loop {
            if calls == super::MAX_CALLS {
                too_many(r, "pwrite");
                return;
            }
            calls += 1;
            let run = left / bs.max(1);
            if batch && self.batching && bs > 0 && run >= 2 {
                let big = run * bs;
                match self.proc.pwrite(fd, &Data::fill(seed, big), off as i64) {
                    Ok(n) => {
                        let n = n as u64;
                        let done = self.batch(fd, n, bs);
                        ops += done;
                        total += n;
                        off += n;
                        left -= n;
                        // A call that wrote less than a whole buffer (or nothing) ended
                        // the loop; after a run that stopped on a buffer boundary, the
                        // next buffer's call is made alone.
                        if !n.is_multiple_of(bs) || n == 0 || left == 0 {
                            break None;
                        }
                        if n == big {
                            continue;
                        }
                    }
                    // Made one buffer at a time, the calls may get further (a hole XFS
                    // cannot reserve whole, `rw_verify_area` for the run's end).
                    Err(_) => batch = false,
                }
            }
            let want = left.min(bs);
            match self.proc.pwrite(fd, &Data::fill(seed, want), off as i64) {
                Err(e) => break Some(e),
                Ok(0) => break None,
                Ok(n) => {
                    let n = n as u64;
                    ops += 1;
                    total += n;
                    if n < want {
                        break None;
                    }
                    off += n;
                    left -= n;
                    if left == 0 {
                        break None;
                    }
                }
            }
        };
        r.set("bytes", total);
        r.set("ops", ops);
        if let Some(e) = failed {
            r.errno("pwrite", e);
            return;
        }
        if fsync && let Err(e) = self.proc.fsync(fd) {
            r.errno("fsync", e);
            return;
        }
        if fdatasync && let Err(e) = self.proc.fdatasync(fd) {
            r.errno("fdatasync", e);
            return;
        }
        let dt = self.proc.task.now() - t0;
        r.set("time_ns", dt);
        if !quiet {
            r.lines.extend(xfsfmt::report_io_times(
                "wrote", dt, offset, count, total, ops, compact,
            ));
        }
    }

    /// A run of whole `bs`-byte buffers made as one `pread`/`pwrite` call that returned
    /// `n`: how many of xfs_io's calls it stands for — the whole buffers, and the buffer
    /// that came back short — with the fixed cost of the calls not made charged to the
    /// task. The run's call moves the same bytes the calls one by one would: a read is
    /// short only at EOF, a write only where a space reservation failed (`docs/design.md`
    /// A2; per block or per extent mapping, either of which a buffer's own call reaches
    /// too). Data is lazy, so a 1 TiB pattern write in 4 KiB buffers costs one call.
    fn batch(&self, fd: i32, n: u64, bs: u64) -> u64 {
        let calls = n.div_ceil(bs);
        if let Ok(f) = self.proc.file(fd) {
            let per_call = f.mnt.fs.cost().per_op_ns;
            self.proc
                .task
                .charge(per_call.saturating_mul(calls.saturating_sub(1)));
        }
        calls
    }

    #[allow(clippy::too_many_arguments)]
    fn pread(
        &mut self,
        r: &mut Record,
        fd: i32,
        offset: u64,
        count: u64,
        bs: u64,
        verbose: bool,
        quiet: bool,
        compact: bool,
        streamed: &mut Streamed<'_>,
    ) {
        let t0 = self.proc.task.now();
        let (mut off, mut left, mut total, mut ops) = (offset, count, 0u64, 0u64);
        r.set("offset", offset);
        r.set("count", count);
        let mut buf = Vec::new();
        // io/pread.c read_forward, a run of whole buffers read as one call ([`Runner::batch`]).
        let (mut calls, mut batch) = (0u64, true);
        while left > 0 {
            if calls == super::MAX_CALLS {
                too_many(r, "pread");
                break;
            }
            calls += 1;
            let run = left / bs.max(1);
            let mut want = left.min(bs);
            let d = if batch && self.batching && bs > 0 && run >= 2 {
                match self.proc.pread(fd, (run * bs) as usize, off as i64) {
                    Ok(d) => {
                        want = run * bs;
                        d
                    }
                    // One buffer at a time the calls may get further (a media error
                    // inside the run): read them so.
                    Err(_) => {
                        batch = false;
                        continue;
                    }
                }
            } else {
                match self.proc.pread(fd, want as usize, off as i64) {
                    Err(e) => {
                        r.set("bytes", total);
                        r.errno("pread", e);
                        return;
                    }
                    Ok(d) => d,
                }
            };
            let n = d.len();
            if n == 0 {
                break;
            }
            ops += if want > bs { self.batch(fd, n, bs) } else { 1 };
            if verbose {
                // 64 KiB at a time, each line written out as it is made (xfs_io's
                // dump_buffer prints every line; it collapses no runs).
                buf.resize(64 * 1024, 0);
                let mut done = 0;
                while done < n {
                    let k = (n - done).min(buf.len() as u64) as usize;
                    d.read_into(done, &mut buf[..k]);
                    xfsfmt::dump_each(off + done, &buf[..k], |l| streamed.line(r, l));
                    done += k as u64;
                    if streamed.error.is_some() {
                        return;
                    }
                }
            }
            total += n;
            if n < want {
                break;
            }
            off += n;
            left -= n;
        }
        let dt = self.proc.task.now() - t0;
        r.set("bytes", total);
        r.set("ops", ops);
        r.set("time_ns", dt);
        if !quiet && r.ok {
            r.lines.extend(xfsfmt::report_io_times(
                "read", dt, offset, count, total, ops, compact,
            ));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seek(
        &mut self,
        r: &mut Record,
        fd: i32,
        data: bool,
        hole: bool,
        all: bool,
        startflag: bool,
        off: u64,
    ) {
        const DATA: usize = 0;
        const HOLE: usize = 1;
        let names = ["DATA", "HOLE"];
        let whence = [seek::DATA, seek::HOLE];
        let dflag = 1u8;
        let hflag = 2u8;
        let masks = [dflag, hflag];
        let rbit = 4u8;
        let mut flag = if data { dflag } else { 0 }
            | if hole { hflag } else { 0 }
            | if all { rbit } else { 0 };
        let mut results = Vec::new();
        let out = |r: &mut Record,
                   results: &mut Vec<Value>,
                   ty: &str,
                   start: i64,
                   res: Result<i64, Errno>| {
            match res {
                Err(Errno::ENXIO) => {
                    r.line(if startflag {
                        format!("{ty}\t{start}\tEOF")
                    } else {
                        format!("{ty}\tEOF")
                    });
                    results.push(json!({"whence": ty, "start": start, "eof": true}));
                }
                Err(e) => {
                    // printf("ERR\t%lld\t"); perror("") prints just the message.
                    r.line(format!("ERR\t{start}\t{e}"));
                    r.ok = false;
                    r.errno = Some(e);
                    r.error = Some(e.to_string());
                }
                Ok(o) => {
                    r.line(if startflag {
                        format!("{ty}\t{start}\t{o}")
                    } else {
                        format!("{ty}\t{o}")
                    });
                    results.push(json!({"whence": ty, "start": start, "offset": o}));
                }
            }
        };
        let start0 = off as i64;
        let mut start = start0;
        let mut current;
        let mut res;
        let bad = |r: &mut Record, start: i64, cur: usize, o: i64| {
            r.fail(
                format!(
                    "Invalid seek result: lseek(<fd>, {start}, SEEK_{}) = {o}",
                    names[cur]
                ),
                "invalid seek result",
            );
        };
        'found: {
            if flag & hflag != 0 {
                current = HOLE;
                res = self.proc.lseek(fd, start, seek::HOLE);
                if let Ok(o) = res
                    && o < start
                {
                    bad(r, start, current, o);
                    return;
                }
                if res == Ok(start) || flag & dflag == 0 {
                    break 'found;
                }
            }
            current = DATA;
            res = self.proc.lseek(fd, start, seek::DATA);
            if let Ok(o) = res
                && o < start
            {
                bad(r, start, current, o);
                return;
            }
        }
        r.line(if startflag {
            "Whence\tStart\tResult"
        } else {
            "Whence\tResult"
        });
        let mut c = 0;
        while flag != 0 {
            let o = match res {
                Err(e) => {
                    // Print an error, or EOF if it is the only entry; then stop.
                    if e != Errno::ENXIO || c == 0 {
                        out(r, &mut results, names[current], start, res);
                    }
                    break;
                }
                Ok(o) => o,
            };
            if flag & masks[current] != 0 {
                out(r, &mut results, names[current], start, res);
            }
            if flag & rbit == 0 {
                flag &= !masks[current];
            }
            current ^= 1;
            start = o;
            res = self.proc.lseek(fd, start, whence[current]);
            if let Ok(n) = res
                && n <= start
            {
                bad(r, start, current, n);
                break;
            }
            c += 1;
        }
        r.set("results", results);
    }

    fn stat(&mut self, r: &mut Record, f: &FileEntry) {
        match self.proc.fstat(f.fd) {
            Err(e) => r.errno("fstat", e),
            Ok(st) => {
                let ty = if st.is_dir {
                    "directory"
                } else if st.is_regular {
                    "regular file"
                } else {
                    "(null)"
                };
                let flags = format!(
                    "non-sync,non-direct,{}{}",
                    if f.flags.readonly {
                        "read-only"
                    } else {
                        "read-write"
                    },
                    if f.flags.append { ",append-only" } else { "" }
                );
                r.line(format!("fd.path = \"{}\"", f.name));
                r.line(format!("fd.flags = {flags}"));
                r.line(format!("stat.ino = {}", st.ino));
                r.line(format!("stat.type = {ty}"));
                r.line(format!("stat.size = {}", st.size));
                r.line(format!("stat.blocks = {}", st.blocks));
                r.set("path", f.name.as_str());
                r.set("flags", flags);
                r.set("ino", st.ino);
                r.set("type", ty);
                r.set("size", st.size);
                r.set("blocks", st.blocks);
                r.set("blksize", st.blksize);
                r.set("nlink", st.nlink);
                r.set("dev", st.dev);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fiemap(
        &mut self,
        r: &mut Record,
        f: &FileEntry,
        verbose: bool,
        lflag: bool,
        max: Option<i64>,
        off: Option<u64>,
        len: Option<u64>,
    ) {
        // io/fiemap.c fiemap_f.
        let start = off.unwrap_or(0);
        let mut last_logical = start;
        let mut range_end = match len {
            Some(l) => start.wrapping_add(l),
            None => u64::MAX,
        };
        r.line(format!("{}:", f.name));
        let exts = match self.proc.fiemap(
            f.fd,
            start,
            range_end.wrapping_sub(start),
            fiemap_req::FLAG_SYNC,
        ) {
            Ok(e) => e,
            Err(e) => {
                r.line(format!(
                    "splicelab: ioctl(FS_IOC_FIEMAP) [\"{}\"]: {e}",
                    f.name
                ));
                r.ok = false;
                r.errno = Some(e);
                r.error = Some(e.to_string());
                return;
            }
        };
        r.set(
            "extents",
            exts.iter()
                .map(|e| {
                    json!({"logical": e.logical, "physical": e.physical,
                           "length": e.length, "flags": e.flags})
                })
                .collect::<Vec<_>>(),
        );
        let mut w = FiemapWidths::default();
        let mut cur: i64 = 0;
        let hit_max = |cur: i64| max == Some(cur);
        'batches: for batch in exts.chunks(32) {
            for ext in batch {
                let llast = btobbt(last_logical);
                let lstart = btobbt(ext.logical);
                let blen = btobbt(ext.length);
                let block = btobbt(ext.physical);
                let lend = lstart.wrapping_add(blen).wrapping_sub(1);
                let bend = block.wrapping_add(blen).wrapping_sub(1);
                if verbose {
                    if cur == 0 {
                        for e in batch {
                            let (l, n, b) =
                                (btobbt(e.logical), btobbt(e.length), btobbt(e.physical));
                            let lb = format!("[{l}..{}]", l.wrapping_add(n).wrapping_sub(1));
                            let bb = format!("{b}..{}", b.wrapping_add(n).wrapping_sub(1));
                            w.foff = w.foff.max(lb.len());
                            w.boff = w.boff.max(bb.len());
                            w.tot = w.tot.max(xfsfmt::numlen(n, 10));
                            w.flg = w.flg.max(xfsfmt::numlen(u64::from(e.flags), 16));
                            if e.flags & fiemap_flags::LAST != 0 {
                                break;
                            }
                        }
                        r.line(format!(
                            "{:>4}: {:<fw$} {:<bw$} {:>tw$} {:>gw$}",
                            "EXT",
                            "FILE-OFFSET",
                            "BLOCK-RANGE",
                            "TOTAL",
                            "FLAGS",
                            fw = w.foff,
                            bw = w.boff,
                            tw = w.tot,
                            gw = w.flg
                        ));
                    }
                    if lstart > llast {
                        r.line(xfsfmt::fiemap_hole(
                            &w,
                            cur as usize,
                            false,
                            false,
                            llast,
                            lstart,
                        ));
                        cur += 1;
                    }
                    if !hit_max(cur) {
                        let lbuf = format!("[{lstart}..{lend}]:");
                        let bbuf = format!("{block}..{bend}");
                        let flg = format!("0x{:x}", ext.flags);
                        r.line(format!(
                            "{cur:4}: {lbuf:<fw$} {bbuf:<bw$} {blen:>tw$} {flg:>gw$}",
                            fw = w.foff,
                            bw = w.boff,
                            tw = w.tot,
                            gw = w.flg
                        ));
                        cur += 1;
                    }
                } else {
                    if lstart > llast {
                        r.line(xfsfmt::fiemap_hole(
                            &w,
                            cur as usize,
                            lflag,
                            true,
                            llast,
                            lstart,
                        ));
                        cur += 1;
                    }
                    if !hit_max(cur) {
                        let mut s = format!("\t{cur}: [{lstart}..{lend}]: {block}..{bend}");
                        if lflag {
                            s.push_str(&format!(" {blen} blocks"));
                        }
                        r.line(s);
                        cur += 1;
                    }
                }
                last_logical = ext.logical.wrapping_add(ext.length);
                if ext.flags & fiemap_flags::LAST != 0 || last_logical >= range_end || hit_max(cur)
                {
                    break 'batches;
                }
            }
        }
        if hit_max(cur) {
            return;
        }
        let size = match self.proc.fstat(f.fd) {
            Ok(st) => st.size,
            Err(e) => {
                r.line(format!("splicelab: fstat failed: {e}"));
                r.ok = false;
                r.errno = Some(e);
                r.error = Some(e.to_string());
                return;
            }
        };
        range_end = range_end.min(size);
        if cur > 0 && last_logical < range_end {
            r.line(xfsfmt::fiemap_hole(
                &w,
                cur as usize,
                lflag,
                !verbose,
                btobbt(last_logical),
                btobbt(range_end),
            ));
        }
    }

    // ------------------------------------------------------------------ copy offload

    fn reflink(
        &mut self,
        r: &mut Record,
        dst: i32,
        src: &str,
        range: Option<(u64, u64, u64)>,
        quiet: bool,
        compact: bool,
    ) {
        let Some(sfd) = self.open_src(r, src) else {
            return;
        };
        let (soff, doff, len) = range.unwrap_or((0, 0, 0));
        r.set("src_offset", soff);
        r.set("offset", doff);
        r.set("count", len);
        let t0 = self.proc.task.now();
        // io/reflink.c: FICLONE when all three are zero, else FICLONERANGE.
        let res = if (soff, doff, len) == (0, 0, 0) {
            self.proc
                .ficlone(dst, sfd)
                .map_err(|e| ("XFS_IOC_CLONE", e))
        } else {
            self.proc
                .ficlonerange(dst, sfd, soff, len, doff)
                .map_err(|e| ("XFS_IOC_CLONE_RANGE", e))
        };
        let dt = self.proc.task.now() - t0;
        self.close_src(sfd, true);
        match res {
            Err((what, e)) => r.errno(what, e),
            Ok(()) => {
                r.set("bytes", len);
                r.set("time_ns", dt);
                if !quiet {
                    r.lines.extend(xfsfmt::report_io_times(
                        "linked", dt, doff, len, len, 1, compact,
                    ));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn dedupe(
        &mut self,
        r: &mut Record,
        dst: i32,
        src: &str,
        soff: u64,
        doff: u64,
        len: u64,
        quiet: bool,
        compact: bool,
    ) {
        const WHAT: &str = "XFS_IOC_FILE_EXTENT_SAME";
        let Some(sfd) = self.open_src(r, src) else {
            return;
        };
        r.set("src_offset", soff);
        r.set("offset", doff);
        r.set("count", len);
        let t0 = self.proc.task.now();
        // io/reflink.c dedupe_ioctl.
        let (mut s, mut d, mut left, mut deduped, mut ops) = (soff, doff, len, 0u64, 0u64);
        while left > 0 || ops == 0 {
            if ops == super::MAX_CALLS {
                too_many(r, "dedupe");
                break;
            }
            let outcome =
                match self
                    .proc
                    .fideduperange(sfd, s, left, &[DedupeDest { fd: dst, offset: d }])
                {
                    Err(e) => {
                        r.errno(WHAT, e);
                        break;
                    }
                    Ok(v) => v.first().copied(),
                };
            let Some(info) = outcome else {
                r.errno(WHAT, Errno::EINVAL);
                break;
            };
            if info.status < 0 {
                r.errno(WHAT, Errno(-info.status));
                break;
            }
            if deduped == 0 && info.status == syscall::api::dedupe::DIFFERS {
                r.fail(
                    format!("{WHAT}: Extents did not match."),
                    "Extents did not match.",
                );
                r.set("status", "DIFFERS");
                break;
            }
            if left != 0 && (info.bytes_deduped == 0 || info.bytes_deduped > left) {
                break;
            }
            ops += 1;
            s += info.bytes_deduped;
            d += info.bytes_deduped;
            left = left.saturating_sub(info.bytes_deduped);
            deduped += info.bytes_deduped;
        }
        let dt = self.proc.task.now() - t0;
        self.close_src(sfd, true);
        r.set("bytes", deduped);
        r.set("ops", ops);
        r.set("time_ns", dt);
        if ops > 0 && !quiet && r.ok {
            r.lines.extend(xfsfmt::report_io_times(
                "deduped", dt, doff, len, deduped, ops, compact,
            ));
        }
    }

    /// The `-l` length, or (io/copy_file_range.c: without `-l`) from the source offset to
    /// the source's EOF. `None` after reporting a failed `fstat` and closing a source this
    /// command opened.
    fn len_or_to_eof(
        &mut self,
        r: &mut Record,
        sfd: i32,
        opened: bool,
        soff: u64,
        len: Option<u64>,
    ) -> Option<u64> {
        if let Some(l) = len {
            return Some(l);
        }
        match self.proc.fstat(sfd) {
            Ok(st) => Some(st.size.saturating_sub(soff)),
            Err(e) => {
                r.errno("fstat", e);
                self.close_src(sfd, opened);
                None
            }
        }
    }

    fn copy_range(
        &mut self,
        r: &mut Record,
        dst: i32,
        src: &Source,
        soff: u64,
        doff: u64,
        len: Option<u64>,
    ) {
        let Some((sfd, opened)) = self.source_fd(r, src) else {
            return;
        };
        let (mut s, mut d) = (soff as i64, doff as i64);
        let Some(mut len) = self.len_or_to_eof(r, sfd, opened, soff, len) else {
            return;
        };
        r.set("src_offset", soff);
        r.set("offset", doff);
        r.set("count", len);
        let count = len;
        let t0 = self.proc.task.now();
        let chunks0 = self.proc.task.stats().chunks;
        let (mut total, mut ops) = (0u64, 0u64);
        loop {
            if ops == super::MAX_CALLS {
                too_many(r, "copy_range");
                break;
            }
            let chunks = self.proc.task.stats().chunks.saturating_sub(chunks0);
            if chunks >= super::MAX_COMMAND_CHUNKS {
                r.line(format!("copied {total}/{count} bytes at offset {doff}"));
                too_many_chunks(r, "copy_range", chunks);
                break;
            }
            match self
                .proc
                .copy_file_range(sfd, Some(&mut s), dst, Some(&mut d), len as usize, 0)
            {
                Err(e) => {
                    // xfs_io prints nothing on success; after earlier calls moved bytes,
                    // a failure also says how far the copy got, then the error.
                    if total > 0 {
                        r.line(format!("copied {total}/{count} bytes at offset {doff}"));
                    }
                    r.errno("copy_range", e);
                    break;
                }
                Ok(0) => break,
                Ok(n) => {
                    ops += 1;
                    total += n as u64;
                    len = len.saturating_sub(n as u64);
                    if len == 0 {
                        break;
                    }
                }
            }
        }
        let dt = self.proc.task.now() - t0;
        self.close_src(sfd, opened);
        r.set("bytes", total);
        r.set("ops", ops);
        r.set("time_ns", dt);
    }

    #[allow(clippy::too_many_arguments)]
    fn splice(
        &mut self,
        r: &mut Record,
        dst: i32,
        src: &Source,
        soff: u64,
        doff: u64,
        len: Option<u64>,
        flags: u32,
        all: bool,
        quiet: bool,
        compact: bool,
    ) {
        let Some((sfd, opened)) = self.source_fd(r, src) else {
            return;
        };
        let Some(count) = self.len_or_to_eof(r, sfd, opened, soff, len) else {
            return;
        };
        r.set("src_offset", soff);
        r.set("offset", doff);
        r.set("count", count);
        r.set("flags", flags);
        // Per-call figures: count afresh, then fold them back into the task's totals.
        let saved = self.proc.task.take_stats();
        let t0 = self.proc.task.now();
        let (mut s, mut d, mut left, mut total, mut ops) = (soff, doff, count, 0u64, 0u64);
        let (mut failed, mut chunk_limit) = (None, false);
        loop {
            if ops == super::MAX_CALLS {
                too_many(r, "splice");
                break;
            }
            if self.proc.task.stats().chunks >= super::MAX_COMMAND_CHUNKS {
                chunk_limit = true;
                break;
            }
            match self
                .proc
                .splice(sfd, Some(&mut s), dst, Some(&mut d), left as usize, flags)
            {
                Err(e) => {
                    failed = Some(e);
                    break;
                }
                Ok(n) => {
                    ops += 1;
                    total += n as u64;
                    left = left.saturating_sub(n as u64);
                    if !all || n == 0 || left == 0 {
                        break;
                    }
                }
            }
        }
        let dt = self.proc.task.now() - t0;
        let st = self.proc.task.take_stats();
        self.proc.task.with_stats(|t| {
            *t = saved.clone();
            t.absorb(&st);
        });
        self.close_src(sfd, opened);
        let chunks = st.chunks;
        let shared = self.shared_blocks(dst, doff, total);
        r.set("bytes", total);
        r.set("ops", ops);
        r.set("chunks", chunks);
        r.set("shared_blocks", shared);
        r.set("bytes_copied", st.bytes_copied);
        r.set("bytes_shared", st.bytes_shared);
        r.set("extents_remapped", st.extents_remapped);
        r.set("lock_wait_ns", st.lock_wait);
        r.set("longest_hold_ns", st.longest_hold);
        r.set("time_ns", dt);
        if !quiet && total > 0 && (failed.is_some() || chunk_limit) {
            // What the earlier calls moved, then why the loop stopped.
            Self::splice_report(r, doff, count, total, ops, chunks, shared, dt, compact);
        }
        if let Some(e) = failed {
            r.errno("splice", e);
            return;
        }
        if chunk_limit {
            too_many_chunks(r, "splice", chunks);
            return;
        }
        if quiet || !r.ok {
            return;
        }
        Self::splice_report(r, doff, count, total, ops, chunks, shared, dt, compact);
    }

    /// The progress lines of `splice`: `spliced N/COUNT bytes at offset D` and the figures
    /// (or one compact line).
    #[allow(clippy::too_many_arguments)]
    fn splice_report(
        r: &mut Record,
        doff: u64,
        count: u64,
        total: u64,
        ops: u64,
        chunks: u64,
        shared: u64,
        dt: u64,
        compact: bool,
    ) {
        if compact {
            let l = xfsfmt::report_io_times("spliced", dt, doff, count, total, ops, true);
            r.line(format!("{},{chunks},{shared}", l[0]));
        } else {
            r.line(format!("spliced {total}/{count} bytes at offset {doff}"));
            r.line(format!(
                "{}, {ops} ops, {chunks} chunks, {shared} blocks shared; {} ({}/sec and {} ops/sec)",
                xfsfmt::cvtstr(total as f64),
                xfsfmt::timestr(dt, false),
                xfsfmt::cvtstr(xfsfmt::tdiv(total as f64, dt)),
                xfsfmt::cfloat(xfsfmt::tdiv(ops as f64, dt), 4)
            ));
        }
    }

    /// Blocks of `[off, off + len)` of the file behind `fd` that another reference shares.
    fn shared_blocks(&self, fd: i32, off: u64, len: u64) -> u64 {
        let Ok(f) = self.proc.file(fd) else {
            return 0;
        };
        if len == 0 {
            return 0;
        }
        let img = f.mnt.fs.image();
        let bs = img.block_size();
        img.shared_blocks(f.inode.ino, off / bs, (off + len).div_ceil(bs))
            .unwrap_or(0)
    }

    // ------------------------------------------------------------------ lab commands

    fn mount(&mut self, r: &mut Record, spec: &str, fs: Arc<dyn vfs::FileSystem>, dir: &str) {
        let path = abs(dir);
        match self.proc.stat(&path) {
            Err(e) => return r.errno(&format!("mount: {dir}"), e),
            Ok(st) if !st.is_dir => return r.errno(&format!("mount: {dir}"), Errno::ENOTDIR),
            Ok(_) => {}
        }
        match self.proc.vfs.mount(&path, fs) {
            Err(e) => r.errno(&format!("mount: {dir}"), e),
            Ok(m) => {
                r.set("spec", spec);
                r.set("fs", m.fs.fs_type());
                r.set("dir", m.path.as_str());
                r.set("dev", m.dev);
            }
        }
    }

    fn md5sum(&mut self, r: &mut Record, path: &str) {
        let prefix = format!("md5sum: {path}");
        let fd = match self.proc.open(&abs(path), o::RDONLY, 0) {
            Ok(fd) => fd,
            Err(e) => return r.errno(&prefix, e),
        };
        let (hex, off) = match crate::cp::md5_file(&mut self.proc, fd) {
            Ok(x) => x,
            Err(vfs::Errno::EFBIG) => {
                let _ = self.proc.close(fd);
                let m = format!(
                    "{prefix}: larger than the {} the lab hashes (MD5 reads every byte, holes too)",
                    crate::tour::fmt_size(crate::cp::MD5_MAX_BYTES)
                );
                return r.errno_text(m, vfs::Errno::EFBIG);
            }
            Err(e) => {
                let _ = self.proc.close(fd);
                return r.errno(&prefix, e);
            }
        };
        let _ = self.proc.close(fd);
        r.line(format!("{hex}  {path}"));
        r.set("path", path);
        r.set("md5", hex);
        r.set("bytes", off);
    }

    /// `shared PATH`: the runs of blocks whose extent has more than one reference, read
    /// from the filesystem image (the server's, on nfs-like), so sharing that no system
    /// call reports (NFS has no FIEMAP) is still visible.
    fn shared(&mut self, r: &mut Record, path: &str) {
        let (mnt, ino) = match self.proc.vfs.resolve(&abs(path)) {
            Ok(x) => x,
            Err(e) => return r.errno(&format!("shared: {path}"), e),
        };
        let img = mnt.fs.image();
        let Ok(node) = img.inode(ino) else {
            return r.errno(&format!("shared: {path}"), vfs::Errno::ESTALE);
        };
        let bs = img.block_size();
        let blocks = node.size.div_ceil(bs);
        let pieces = img.sharing(ino, 0, blocks).unwrap_or_default();
        // Merge adjacent shared pieces with equal reference counts into runs.
        let mut runs: Vec<(u64, u64, usize)> = Vec::new();
        for (fb, len, refs) in pieces.into_iter().filter(|p| p.2 > 1) {
            match runs.last_mut() {
                Some(last) if last.0 + last.1 == fb && last.2 == refs => last.1 += len,
                _ => runs.push((fb, len, refs)),
            }
        }
        let shared: u64 = runs.iter().map(|r| r.1).sum();
        r.line(format!(
            "{path}: {shared}/{blocks} blocks shared ({bs}-byte blocks)"
        ));
        for (fb, len, refs) in &runs {
            r.line(format!(
                "  blocks {}..{}: {refs} references",
                fb,
                fb + len - 1
            ));
        }
        r.set("path", path);
        r.set("blocks", blocks);
        r.set("shared", shared);
        r.set("block_size", bs);
    }

    fn chattr(&mut self, r: &mut Record, changes: &[(char, bool)], path: &str) {
        let p = abs(path);
        let (mnt, ino) = match self.proc.vfs.resolve(&p) {
            Ok(x) => x,
            Err(e) => return r.errno_text(format!("chattr: {e} while trying to stat {path}"), e),
        };
        let mut attrs = match mnt.fs.getattr(ino) {
            Ok(st) => st.attrs,
            Err(e) => return r.errno_text(format!("chattr: {e} while trying to stat {path}"), e),
        };
        for &(c, on) in changes {
            match c {
                'i' => attrs.immutable = on,
                'a' => attrs.append_only = on,
                _ => attrs.nodatacow = on,
            }
        }
        if let Err(e) = self.proc.set_attrs(&p, attrs) {
            r.errno_text(format!("chattr: {e} while setting flags on {path}"), e);
        }
        r.set("immutable", attrs.immutable);
        r.set("append_only", attrs.append_only);
        r.set("nodatacow", attrs.nodatacow);
    }

    fn crash(&mut self, r: &mut Record, pick: Option<usize>) {
        let pick = pick.unwrap_or(0);
        let mounts = self.proc.vfs.mounts();
        let counts: Vec<usize> = mounts.iter().map(|m| m.fs.crash_states().len()).collect();
        // State N of each mount, clamped to the mount's last; a number no mount has is a
        // mistake, refused before anything crashes.
        let most = counts.iter().copied().max().unwrap_or(1);
        if pick >= most {
            let m = format!(
                "crash: no mount has a crash state {pick}: the states are 0..{} (0 is the durable state)",
                most - 1
            );
            r.fail(m.clone(), m);
            return;
        }
        self.proc.vfs.crash_all(pick);
        // Nothing is open after a crash; drop the descriptors after the crash so that
        // closing them cannot add operations to the journal that the crash then picks from.
        let closed = self.files.len();
        self.proc.close_all();
        self.files.clear();
        self.cur = None;
        let mut list = Vec::new();
        for (m, n) in mounts.iter().zip(counts) {
            let kept = pick.min(n.saturating_sub(1));
            let what = if kept == 0 {
                "the durable state"
            } else if kept + 1 == n {
                "every logged change"
            } else {
                "a prefix of the logged changes"
            };
            r.line(format!(
                "crash: {} ({}): recovered to state {kept} of 0..{} ({what})",
                m.path,
                m.fs.fs_type(),
                n.saturating_sub(1)
            ));
            list.push(json!({"path": m.path, "fs": m.fs.fs_type(), "state": kept, "states": n}));
        }
        r.line(format!(
            "crash: {closed} open file{} closed",
            if closed == 1 { "" } else { "s" }
        ));
        r.set("mounts", list);
        r.set("closed", closed);
    }

    /// The mount an `inject` acts on.
    fn inject_mount(&self, path: Option<&str>) -> Result<Arc<Mount>, Errno> {
        match path {
            Some(p) => Ok(self.proc.vfs.mount_of(&abs(p))?.0),
            None => match self.cur.and_then(|i| self.proc.file(self.files[i].fd).ok()) {
                Some(f) => Ok(f.mnt.clone()),
                None => self
                    .proc
                    .vfs
                    .mounts()
                    .into_iter()
                    .next()
                    .ok_or(Errno::ENOENT),
            },
        }
    }

    fn inject(&mut self, r: &mut Record, i: &Inject) {
        let target = match i {
            Inject::Media { path, off } => self
                .proc
                .vfs
                .resolve(&abs(path))
                .map(|(m, ino)| (m, Fault::MediaError { ino, off: *off })),
            Inject::Enospc { n, path } => {
                self.batching = false;
                self.inject_mount(path.as_deref())
                    .map(|m| (m, Fault::EnospcAfter { n: *n }))
            }
            Inject::Reboot { path } => self
                .inject_mount(path.as_deref())
                .map(|m| (m, Fault::Reboot)),
            Inject::RebootAfter { bytes, path } => self
                .inject_mount(path.as_deref())
                .map(|m| (m, Fault::RebootAfterCopied { bytes: *bytes })),
            Inject::Partition { ms, path } => self.inject_mount(path.as_deref()).map(|m| {
                (
                    m,
                    Fault::Partition {
                        ns: ms.saturating_mul(1_000_000),
                    },
                )
            }),
        };
        let (mnt, fault) = match target {
            Ok(t) => t,
            Err(e) => return r.errno("inject", e),
        };
        let res = mnt.fs.inject(&self.proc.task, fault);
        if let (
            Err(Errno::EOPNOTSUPP),
            Inject::Reboot { .. } | Inject::RebootAfter { .. } | Inject::Partition { .. },
        ) = (&res, i)
            && mnt.fs.fs_type() != "nfs-like"
        {
            let what = match i {
                Inject::Partition { .. } => "partition",
                _ => "reboot",
            };
            return r.errno_text(
                format!(
                    "inject {what}: {} is a {} mount; {what} needs an nfs-like mount \
                     (mount nfs-like:server=MODEL DIR)",
                    mnt.path,
                    mnt.fs.fs_type(),
                ),
                Errno::EOPNOTSUPP,
            );
        }
        if let (Err(Errno::ENXIO), Inject::Media { path, off }) = (&res, i) {
            return r.errno_text(
                format!("inject: no block behind offset {off} of {path} (a hole, or past EOF)"),
                Errno::ENXIO,
            );
        }
        match res {
            Err(e) => r.errno("inject", e),
            Ok(rep) => {
                r.line(format!("inject: {}", rep.note));
                let names = ino_paths(&mnt);
                let mut hits = Vec::new();
                for (ino, off) in &rep.hits {
                    let name = names
                        .get(ino)
                        .cloned()
                        .unwrap_or_else(|| format!("(unlinked inode {ino})"));
                    r.line(format!("inject:   {name} at offset {off}"));
                    hits.push(json!({"path": name, "ino": ino, "offset": off}));
                }
                r.set("mount", mnt.path.as_str());
                r.set("note", rep.note.as_str());
                r.set("hits", hits);
            }
        }
    }

    fn fsck(&mut self, r: &mut Record) {
        let mut problems = Vec::new();
        for m in self.proc.vfs.mounts() {
            for p in m.fs.fsck() {
                problems.push(format!("{}: {p}", m.path));
            }
        }
        if problems.is_empty() {
            r.line("fsck: clean");
        } else {
            for p in &problems {
                r.line(format!("fsck: {p}"));
            }
            r.ok = false;
            r.error = Some(format!("{} problem(s)", problems.len()));
        }
        r.set("clean", problems.is_empty());
        r.set("problems", problems);
    }
}

/// Paths (with the mount's prefix) of every linked inode of `mnt`.
fn ino_paths(mnt: &Mount) -> HashMap<Ino, String> {
    let img = mnt.fs.image();
    let prefix = if mnt.path == "/" {
        String::new()
    } else {
        mnt.path.clone()
    };
    let mut out = HashMap::new();
    let mut stack = vec![(ROOT_INO, prefix.clone())];
    out.insert(
        ROOT_INO,
        if prefix.is_empty() {
            "/".into()
        } else {
            prefix
        },
    );
    while let Some((dir, path)) = stack.pop() {
        let Ok(node) = img.inode(dir) else { continue };
        for (name, &child) in &node.children {
            let p = format!("{path}/{name}");
            if out.insert(child, p.clone()).is_none()
                && img
                    .inode(child)
                    .is_ok_and(|n| n.kind == FileKind::Directory)
            {
                stack.push((child, p));
            }
        }
    }
    out
}
