//! Scenarios: short lists of Linux system calls with raw arguments.
//!
//! A scenario never names a real file descriptor or a real path. Descriptors are *slots*
//! (`FdRef::Slot(0)` is whatever the step `open 0 …` returned on that side) or raw numbers
//! meant to be invalid (`FdRef::Raw(-1)`); paths are relative names inside the scenario's
//! own directory on the main filesystem, or on the second ("other") filesystem for
//! cross-filesystem calls. The runner maps both to each side.
//!
//! Every scenario has a text form, one step per line, which [`Scenario::parse`] reads back:
//! that is what the random mode prints when it has shrunk a divergence, and what
//! `splicelab conform --replay FILE` runs.
//!
//! ```
//! use conform::scenario::Scenario;
//! let s = Scenario::parse("demo", "open 0 a RDWR|CREAT\npwrite 0 0 8192 0x61\nficlone 1 0\n").unwrap();
//! assert_eq!(s.lines.len(), 3); // slot 1 was never opened: EBADF on both sides
//! assert_eq!(Scenario::parse("demo", &s.to_text()).unwrap(), s);
//! ```

use std::fmt;

use syscall::api::o;

/// A file descriptor as a scenario names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FdRef {
    /// What `open <slot> …` returned on this side; a slot that holds nothing (never opened,
    /// the open failed, or closed) is passed as `-1`, so both sides say `EBADF`.
    Slot(u8),
    /// A raw number, passed as is on both sides (for `EBADF` cases: `-1`, `9999`).
    Raw(i32),
}

impl fmt::Display for FdRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdRef::Slot(s) => write!(f, "{s}"),
            FdRef::Raw(n) => write!(f, "fd:{n}"),
        }
    }
}

/// A path inside the scenario's directory.
///
/// In the text form a path is one word: `a`, `d/b`, `other:x` (on the other filesystem),
/// `""` (the empty path itself, not a name in the scenario's directory), and `{TEXT*N}`
/// anywhere in the word stands for `N` copies of `TEXT` (`{y*256}`, a name too long;
/// `{./*2040}a`, a path too long).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    /// On the second filesystem (cross-filesystem calls) instead of the main one.
    pub other: bool,
    /// Relative name (`a`, `d/b`); empty for the empty path.
    pub rel: String,
}

impl Path {
    /// A name on the main filesystem.
    pub fn main(rel: &str) -> Path {
        Path {
            other: false,
            rel: rel.to_string(),
        }
    }

    /// A name on the other filesystem.
    pub fn other(rel: &str) -> Path {
        Path {
            other: true,
            rel: rel.to_string(),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.other {
            f.write_str("other:")?;
        }
        if self.rel.is_empty() {
            return f.write_str("\"\"");
        }
        f.write_str(&compress_runs(&self.rel))
    }
}

/// Runs of 8 or more copies of a 1- or 2-byte unit, written `{UNIT*N}`.
fn compress_runs(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < b.len() {
        for unit in [1, 2] {
            if i + unit > b.len() || !s.is_char_boundary(i + unit) {
                continue;
            }
            let u = &b[i..i + unit];
            let mut n = 1;
            while i + (n + 1) * unit <= b.len() && &b[i + n * unit..i + (n + 1) * unit] == u {
                n += 1;
            }
            if n >= 8 && !u.iter().any(|c| b"{}*".contains(c)) {
                out += &format!("{{{}*{n}}}", &s[i..i + unit]);
                i += n * unit;
                continue 'outer;
            }
        }
        let c = s[i..].chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// Expands every `{TEXT*N}` of a path word.
fn expand_runs(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out += &rest[..open];
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| format!("'{{' without '}}' in path '{s}'"))?;
        let inner = &rest[open + 1..close];
        let (unit, n) = inner
            .rsplit_once('*')
            .ok_or_else(|| format!("'{{{inner}}}' in path '{s}' is not {{TEXT*N}}"))?;
        let n: usize = n
            .parse()
            .ok()
            .filter(|&n| n <= 1 << 16)
            .ok_or_else(|| format!("bad repeat count '{n}' in path '{s}'"))?;
        out += &unit.repeat(n);
        rest = &rest[close + 1..];
    }
    out += rest;
    Ok(out)
}

/// What a write writes: a repeated byte, or a seeded pattern (different bytes per offset,
/// so that misplaced data shows in the content hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fill {
    Byte(u8),
    Pattern(u64),
}

impl fmt::Display for Fill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fill::Byte(b) => write!(f, "{b:#04x}"),
            Fill::Pattern(s) => write!(f, "pat{s}"),
        }
    }
}

/// One system call (or one lab step) with raw Linux arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// `open(path, flags, 0644)`; the descriptor goes into `slot`.
    Open {
        slot: u8,
        path: Path,
        flags: i32,
    },
    Close {
        fd: FdRef,
    },
    /// `pwrite64(fd, fill × len, off)`.
    Pwrite {
        fd: FdRef,
        off: i64,
        len: u64,
        fill: Fill,
    },
    /// `write(fd, fill × len)` at the file position.
    Write {
        fd: FdRef,
        len: u64,
        fill: Fill,
    },
    /// `pread64(fd, len, off)`.
    Pread {
        fd: FdRef,
        off: i64,
        len: u64,
    },
    /// `read(fd, len)` at the file position.
    Read {
        fd: FdRef,
        len: u64,
    },
    Ftruncate {
        fd: FdRef,
        len: i64,
    },
    /// `fallocate(fd, mode, off, len)` with a raw `FALLOC_FL_*` mode.
    Fallocate {
        fd: FdRef,
        mode: i32,
        off: i64,
        len: i64,
    },
    Fsync {
        fd: FdRef,
    },
    Unlink {
        path: Path,
    },
    Rename {
        from: Path,
        to: Path,
    },
    Mkdir {
        path: Path,
    },
    Rmdir {
        path: Path,
    },
    /// `lseek(fd, off, whence)` (`SEEK_DATA` = 3, `SEEK_HOLE` = 4).
    Lseek {
        fd: FdRef,
        off: i64,
        whence: i32,
    },
    /// `copy_file_range`; `None` offsets are NULL pointers (the file positions are used).
    CopyFileRange {
        fd_in: FdRef,
        off_in: Option<i64>,
        fd_out: FdRef,
        off_out: Option<i64>,
        len: u64,
        flags: u32,
    },
    /// Lab step: `copy_file_range(fd_in, &off_in, fd_out, &off_out, len, 0)` with a signal
    /// arriving while the call runs, its handler installed without `SA_RESTART`
    /// ([`syscall::api::Syscalls::copy_file_range_signalled`]: the kernel gets it once the
    /// call has made progress, the simulator after `chunks` chunks of byte copy). The runner
    /// checks that the destination holds exactly the returned prefix, then finishes the copy
    /// from where it stopped with `pread`/`pwrite` (up to what the source held before the
    /// call: where the call stopped differs between the sides, and a `copy_file_range` from
    /// there could share on one and copy on the other); the outcome is the first call's class
    /// ([`crate::observe::SigClass`]), that check, and the bytes copied in all.
    CopySignalled {
        fd_in: FdRef,
        off_in: i64,
        fd_out: FdRef,
        off_out: i64,
        len: u64,
        chunks: u64,
    },
    /// `ioctl(dst, FICLONE, src)`.
    Ficlone {
        dst: FdRef,
        src: FdRef,
    },
    /// `ioctl(dst, FICLONERANGE, {src, src_off, len, dst_off})`.
    Ficlonerange {
        dst: FdRef,
        src: FdRef,
        src_off: u64,
        len: u64,
        dst_off: u64,
    },
    /// `ioctl(src, FIDEDUPERANGE, {off, len, dests})`.
    Dedupe {
        src: FdRef,
        off: u64,
        len: u64,
        dests: Vec<(FdRef, u64)>,
    },
    /// `ioctl(fd, FS_IOC_FIEMAP, {start, len, flags})`.
    Fiemap {
        fd: FdRef,
        start: u64,
        len: u64,
        flags: u32,
    },
    /// `stat(path)`.
    Stat {
        path: Path,
    },
    /// Lab step: `pwrite`s at EOF (1 MiB, then 64 KiB, then 4 KiB at a time) until the
    /// filesystem says `ENOSPC` — the robust way to fill a real filesystem whose usable
    /// space is not known exactly. The outcome is only "full" or the errno that stopped
    /// it otherwise; the file should be listed in [`Scenario::untracked`].
    FillUp {
        fd: FdRef,
    },
    /// `sync(2)`.
    Sync,
    /// Lab step: a power cut. Every descriptor is closed (their slots empty), and each
    /// filesystem is replaced by what its device held at that instant, after mount-time
    /// recovery: on the real side the loop image is copied, the filesystem unmounted and the
    /// copy mounted ([`host::mounts::TestMount::power_cut`]); on the simulator the model
    /// crashes to the permitted state that matches the kernel's, if one does
    /// ([`crate::run_case`]).
    PowerCut,
}

/// How a step's outcome is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Cmp {
    /// Result, values and the state of every file afterwards.
    #[default]
    Exact,
    /// Only success or the errno; neither values nor the state afterwards (a real
    /// filesystem's exact free space is not modelled: used for the last step of `ENOSPC`
    /// scenarios).
    ErrnoOnly,
}

/// A step and how to compare it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Line {
    pub step: Step,
    pub cmp: Cmp,
}

/// A named scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    /// What it is about (one line, for the report).
    pub about: String,
    pub lines: Vec<Line>,
    /// Files whose content and extents are not compared (fill files of `ENOSPC` scenarios).
    pub untracked: Vec<Path>,
    /// `Some(bytes)`: the scenario needs a filesystem of its own, this small (the simulator
    /// side gets its model with `size=` this value, the real side the smallest image the
    /// kind allows: their free space differs, so such scenarios fill up with
    /// [`Step::FillUp`] and compare the final call with [`Cmp::ErrnoOnly`]).
    pub small_fs: Option<u64>,
}

impl Scenario {
    /// An empty scenario.
    pub fn new(name: &str, about: &str) -> Scenario {
        Scenario {
            name: name.to_string(),
            about: about.to_string(),
            lines: Vec::new(),
            untracked: Vec::new(),
            small_fs: None,
        }
    }

    /// Appends a step compared exactly.
    pub fn push(&mut self, step: Step) -> &mut Scenario {
        self.lines.push(Line {
            step,
            cmp: Cmp::Exact,
        });
        self
    }

    /// Every path the scenario names, in first-use order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out: Vec<Path> = Vec::new();
        let mut add = |p: &Path| {
            if !out.contains(p) {
                out.push(p.clone());
            }
        };
        for l in &self.lines {
            match &l.step {
                Step::Open { path, .. }
                | Step::Unlink { path }
                | Step::Mkdir { path }
                | Step::Rmdir { path }
                | Step::Stat { path } => add(path),
                Step::Rename { from, to } => {
                    add(from);
                    add(to);
                }
                _ => {}
            }
        }
        out
    }

    /// Whether the scenario has a [`Step::PowerCut`].
    pub fn has_power_cut(&self) -> bool {
        self.lines.iter().any(|l| l.step.is_power_cut())
    }

    /// Whether a step uses the other filesystem.
    pub fn uses_other_fs(&self) -> bool {
        self.paths().iter().any(|p| p.other)
    }

    /// The text form: comment lines (`#`) for the name and description, then one step per
    /// line; `!errno-only` marks a step compared by errno only; `untracked PATH` and
    /// `small-fs BYTES` lines carry the options.
    pub fn to_text(&self) -> String {
        let mut s = format!("# {}\n", self.name);
        if !self.about.is_empty() {
            s += &format!("# {}\n", self.about);
        }
        if let Some(n) = self.small_fs {
            s += &format!("small-fs {n}\n");
        }
        for p in &self.untracked {
            s += &format!("untracked {p}\n");
        }
        for l in &self.lines {
            s += &l.step.to_string();
            if l.cmp == Cmp::ErrnoOnly {
                s += " !errno-only";
            }
            s.push('\n');
        }
        s
    }

    /// Reads the text form back (the name comes from `name`, or the first comment line).
    ///
    /// # Errors
    /// A message naming the line number and the problem.
    pub fn parse(name: &str, text: &str) -> Result<Scenario, String> {
        let mut sc = Scenario::new(name, "");
        let mut comments = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(c) = line.strip_prefix('#') {
                comments += 1;
                match comments {
                    1 if name.is_empty() => sc.name = c.trim().to_string(),
                    1 => {}
                    _ if sc.about.is_empty() => sc.about = c.trim().to_string(),
                    _ => {}
                }
                continue;
            }
            let err = |m: String| format!("line {}: {m}: {line}", i + 1);
            if let Some(p) = line.strip_prefix("untracked ") {
                sc.untracked.push(parse_path(p.trim()).map_err(err)?);
                continue;
            }
            if let Some(n) = line.strip_prefix("small-fs ") {
                sc.small_fs = Some(parse_u64(n.trim()).map_err(err)?);
                continue;
            }
            let (body, cmp) = match line.strip_suffix("!errno-only") {
                Some(b) => (b.trim(), Cmp::ErrnoOnly),
                None => (line, Cmp::Exact),
            };
            let step = parse_step(body).map_err(err)?;
            sc.lines.push(Line { step, cmp });
        }
        if sc.name.is_empty() {
            sc.name = "unnamed".into();
        }
        Ok(sc)
    }
}

impl Step {
    /// The descriptors the step names.
    pub fn fds(&self) -> Vec<FdRef> {
        match self {
            Step::Open { .. }
            | Step::Unlink { .. }
            | Step::Rename { .. }
            | Step::Mkdir { .. }
            | Step::Rmdir { .. }
            | Step::Stat { .. }
            | Step::Sync
            | Step::PowerCut => vec![],
            Step::Close { fd }
            | Step::Pwrite { fd, .. }
            | Step::Write { fd, .. }
            | Step::Pread { fd, .. }
            | Step::Read { fd, .. }
            | Step::Ftruncate { fd, .. }
            | Step::Fallocate { fd, .. }
            | Step::Fsync { fd }
            | Step::Lseek { fd, .. }
            | Step::Fiemap { fd, .. }
            | Step::FillUp { fd } => vec![*fd],
            Step::CopyFileRange { fd_in, fd_out, .. }
            | Step::CopySignalled { fd_in, fd_out, .. } => {
                vec![*fd_in, *fd_out]
            }
            Step::Ficlone { dst, src } | Step::Ficlonerange { dst, src, .. } => vec![*dst, *src],
            Step::Dedupe { src, dests, .. } => {
                let mut v = vec![*src];
                v.extend(dests.iter().map(|d| d.0));
                v
            }
        }
    }

    /// Whether the step can change a file (the state is observed after such steps).
    pub fn mutates(&self) -> bool {
        !matches!(
            self,
            Step::Pread { .. }
                | Step::Read { .. }
                | Step::Lseek { .. }
                | Step::Fiemap { .. }
                | Step::Stat { .. }
                | Step::Close { .. }
                | Step::Fsync { .. }
                | Step::Sync
        )
    }

    /// Whether the step is a power cut.
    pub fn is_power_cut(&self) -> bool {
        matches!(self, Step::PowerCut)
    }
}

/// Names for `open` flags in the text form.
const OPEN_FLAGS: &[(&str, i32)] = &[
    ("CREAT", o::CREAT),
    ("EXCL", o::EXCL),
    ("TRUNC", o::TRUNC),
    ("APPEND", o::APPEND),
    ("DIRECTORY", o::DIRECTORY),
];

/// `RDWR|CREAT|TRUNC`.
pub fn open_flags_text(flags: i32) -> String {
    let mut parts = vec![match flags & o::ACCMODE {
        o::RDONLY => "RDONLY".to_string(),
        o::WRONLY => "WRONLY".to_string(),
        o::RDWR => "RDWR".to_string(),
        _ => "ACCMODE3".to_string(),
    }];
    let mut rest = flags & !o::ACCMODE;
    for (n, v) in OPEN_FLAGS {
        if rest & v != 0 {
            parts.push(n.to_string());
            rest &= !v;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

fn parse_open_flags(s: &str) -> Result<i32, String> {
    let mut f = 0;
    for p in s.split('|') {
        f |= match p {
            "RDONLY" => o::RDONLY,
            "WRONLY" => o::WRONLY,
            "RDWR" => o::RDWR,
            "ACCMODE3" => o::ACCMODE,
            _ => match OPEN_FLAGS.iter().find(|(n, _)| *n == p) {
                Some((_, v)) => *v,
                None => parse_i64(p)? as i32,
            },
        };
    }
    Ok(f)
}

fn opt(v: Option<i64>) -> String {
    v.map_or("NULL".to_string(), |x| x.to_string())
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Open { slot, path, flags } => {
                write!(f, "open {slot} {path} {}", open_flags_text(*flags))
            }
            Step::Close { fd } => write!(f, "close {fd}"),
            Step::Pwrite { fd, off, len, fill } => write!(f, "pwrite {fd} {off} {len} {fill}"),
            Step::Write { fd, len, fill } => write!(f, "write {fd} {len} {fill}"),
            Step::Pread { fd, off, len } => write!(f, "pread {fd} {off} {len}"),
            Step::Read { fd, len } => write!(f, "read {fd} {len}"),
            Step::Ftruncate { fd, len } => write!(f, "ftruncate {fd} {len}"),
            Step::Fallocate { fd, mode, off, len } => {
                write!(f, "fallocate {fd} {mode:#x} {off} {len}")
            }
            Step::Fsync { fd } => write!(f, "fsync {fd}"),
            Step::Unlink { path } => write!(f, "unlink {path}"),
            Step::Rename { from, to } => write!(f, "rename {from} {to}"),
            Step::Mkdir { path } => write!(f, "mkdir {path}"),
            Step::Rmdir { path } => write!(f, "rmdir {path}"),
            Step::Lseek { fd, off, whence } => {
                let w = match whence {
                    0 => "SET".to_string(),
                    1 => "CUR".to_string(),
                    2 => "END".to_string(),
                    3 => "DATA".to_string(),
                    4 => "HOLE".to_string(),
                    n => n.to_string(),
                };
                write!(f, "lseek {fd} {off} {w}")
            }
            Step::CopyFileRange {
                fd_in,
                off_in,
                fd_out,
                off_out,
                len,
                flags,
            } => write!(
                f,
                "copy_file_range {fd_in} {} {fd_out} {} {len} {flags:#x}",
                opt(*off_in),
                opt(*off_out)
            ),
            Step::CopySignalled {
                fd_in,
                off_in,
                fd_out,
                off_out,
                len,
                chunks,
            } => write!(
                f,
                "copy_file_range_sig {fd_in} {off_in} {fd_out} {off_out} {len} {chunks}"
            ),
            Step::Ficlone { dst, src } => write!(f, "ficlone {dst} {src}"),
            Step::Ficlonerange {
                dst,
                src,
                src_off,
                len,
                dst_off,
            } => write!(f, "ficlonerange {dst} {src} {src_off} {len} {dst_off}"),
            Step::Dedupe {
                src,
                off,
                len,
                dests,
            } => {
                write!(f, "dedupe {src} {off} {len}")?;
                for (fd, o) in dests {
                    write!(f, " {fd}@{o}")?;
                }
                Ok(())
            }
            Step::Fiemap {
                fd,
                start,
                len,
                flags,
            } => write!(f, "fiemap {fd} {start} {len} {flags:#x}"),
            Step::Stat { path } => write!(f, "stat {path}"),
            Step::FillUp { fd } => write!(f, "fill-up {fd}"),
            Step::Sync => f.write_str("sync"),
            Step::PowerCut => f.write_str("power-cut"),
        }
    }
}

fn parse_i64(s: &str) -> Result<i64, String> {
    let (neg, t) = match s.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, s),
    };
    let v = parse_u64(t)?;
    if neg {
        if v > 1 << 63 {
            return Err(format!("number out of range: {s}"));
        }
        Ok((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).map_err(|_| format!("number out of range: {s}"))
    }
}

fn parse_u64(s: &str) -> Result<u64, String> {
    if let Some(h) = s.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).map_err(|_| format!("bad number '{s}'"));
    }
    s.parse::<u64>().map_err(|_| format!("bad number '{s}'"))
}

fn parse_fd(s: &str) -> Result<FdRef, String> {
    if let Some(n) = s.strip_prefix("fd:") {
        return Ok(FdRef::Raw(parse_i64(n)? as i32));
    }
    s.parse::<u8>()
        .map(FdRef::Slot)
        .map_err(|_| format!("bad descriptor '{s}' (a slot 0-255 or fd:N)"))
}

fn parse_path(s: &str) -> Result<Path, String> {
    let (other, rel) = match s.strip_prefix("other:") {
        Some(r) => (true, r),
        None => (false, s),
    };
    let rel = if rel == "\"\"" {
        String::new()
    } else {
        expand_runs(rel)?
    };
    Ok(Path { other, rel })
}

fn parse_fill(s: &str) -> Result<Fill, String> {
    if let Some(p) = s.strip_prefix("pat") {
        return Ok(Fill::Pattern(parse_u64(p)?));
    }
    let v = parse_u64(s)?;
    u8::try_from(v)
        .map(Fill::Byte)
        .map_err(|_| format!("fill byte out of range: {s}"))
}

fn parse_opt(s: &str) -> Result<Option<i64>, String> {
    if s == "NULL" {
        Ok(None)
    } else {
        parse_i64(s).map(Some)
    }
}

fn parse_whence(s: &str) -> Result<i32, String> {
    Ok(match s {
        "SET" => 0,
        "CUR" => 1,
        "END" => 2,
        "DATA" => 3,
        "HOLE" => 4,
        n => parse_i64(n)? as i32,
    })
}

/// Parses one step line.
///
/// # Errors
/// A message for an unknown command, a wrong argument count or a bad argument.
pub fn parse_step(line: &str) -> Result<Step, String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let Some((&cmd, args)) = w.split_first() else {
        return Err("empty step".into());
    };
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("{cmd} takes {n} arguments, not {}", args.len()))
        }
    };
    Ok(match cmd {
        "open" => {
            want(3)?;
            Step::Open {
                slot: args[0]
                    .parse()
                    .map_err(|_| format!("bad slot '{}'", args[0]))?,
                path: parse_path(args[1])?,
                flags: parse_open_flags(args[2])?,
            }
        }
        "close" => {
            want(1)?;
            Step::Close {
                fd: parse_fd(args[0])?,
            }
        }
        "pwrite" => {
            want(4)?;
            Step::Pwrite {
                fd: parse_fd(args[0])?,
                off: parse_i64(args[1])?,
                len: parse_u64(args[2])?,
                fill: parse_fill(args[3])?,
            }
        }
        "write" => {
            want(3)?;
            Step::Write {
                fd: parse_fd(args[0])?,
                len: parse_u64(args[1])?,
                fill: parse_fill(args[2])?,
            }
        }
        "pread" => {
            want(3)?;
            Step::Pread {
                fd: parse_fd(args[0])?,
                off: parse_i64(args[1])?,
                len: parse_u64(args[2])?,
            }
        }
        "read" => {
            want(2)?;
            Step::Read {
                fd: parse_fd(args[0])?,
                len: parse_u64(args[1])?,
            }
        }
        "ftruncate" => {
            want(2)?;
            Step::Ftruncate {
                fd: parse_fd(args[0])?,
                len: parse_i64(args[1])?,
            }
        }
        "fallocate" => {
            want(4)?;
            Step::Fallocate {
                fd: parse_fd(args[0])?,
                mode: parse_i64(args[1])? as i32,
                off: parse_i64(args[2])?,
                len: parse_i64(args[3])?,
            }
        }
        "fsync" => {
            want(1)?;
            Step::Fsync {
                fd: parse_fd(args[0])?,
            }
        }
        "unlink" => {
            want(1)?;
            Step::Unlink {
                path: parse_path(args[0])?,
            }
        }
        "rename" => {
            want(2)?;
            Step::Rename {
                from: parse_path(args[0])?,
                to: parse_path(args[1])?,
            }
        }
        "mkdir" => {
            want(1)?;
            Step::Mkdir {
                path: parse_path(args[0])?,
            }
        }
        "rmdir" => {
            want(1)?;
            Step::Rmdir {
                path: parse_path(args[0])?,
            }
        }
        "lseek" => {
            want(3)?;
            Step::Lseek {
                fd: parse_fd(args[0])?,
                off: parse_i64(args[1])?,
                whence: parse_whence(args[2])?,
            }
        }
        "copy_file_range" => {
            want(6)?;
            Step::CopyFileRange {
                fd_in: parse_fd(args[0])?,
                off_in: parse_opt(args[1])?,
                fd_out: parse_fd(args[2])?,
                off_out: parse_opt(args[3])?,
                len: parse_u64(args[4])?,
                flags: parse_u64(args[5])? as u32,
            }
        }
        "copy_file_range_sig" => {
            want(6)?;
            Step::CopySignalled {
                fd_in: parse_fd(args[0])?,
                off_in: parse_i64(args[1])?,
                fd_out: parse_fd(args[2])?,
                off_out: parse_i64(args[3])?,
                len: parse_u64(args[4])?,
                chunks: parse_u64(args[5])?,
            }
        }
        "ficlone" => {
            want(2)?;
            Step::Ficlone {
                dst: parse_fd(args[0])?,
                src: parse_fd(args[1])?,
            }
        }
        "ficlonerange" => {
            want(5)?;
            Step::Ficlonerange {
                dst: parse_fd(args[0])?,
                src: parse_fd(args[1])?,
                src_off: parse_u64(args[2])?,
                len: parse_u64(args[3])?,
                dst_off: parse_u64(args[4])?,
            }
        }
        "dedupe" => {
            if args.len() < 3 {
                return Err("dedupe takes SRC OFF LEN [FD@OFF ...]".into());
            }
            let mut dests = Vec::new();
            for d in &args[3..] {
                let (fd, off) = d
                    .split_once('@')
                    .ok_or_else(|| format!("bad destination '{d}' (FD@OFF)"))?;
                dests.push((parse_fd(fd)?, parse_u64(off)?));
            }
            Step::Dedupe {
                src: parse_fd(args[0])?,
                off: parse_u64(args[1])?,
                len: parse_u64(args[2])?,
                dests,
            }
        }
        "fiemap" => {
            want(4)?;
            Step::Fiemap {
                fd: parse_fd(args[0])?,
                start: parse_u64(args[1])?,
                len: parse_u64(args[2])?,
                flags: parse_u64(args[3])? as u32,
            }
        }
        "stat" => {
            want(1)?;
            Step::Stat {
                path: parse_path(args[0])?,
            }
        }
        "fill-up" => {
            want(1)?;
            Step::FillUp {
                fd: parse_fd(args[0])?,
            }
        }
        "sync" => {
            want(0)?;
            Step::Sync
        }
        "power-cut" => {
            want(0)?;
            Step::PowerCut
        }
        other => return Err(format!("unknown step '{other}'")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signalled_copy_round_trips() {
        let t = "open 0 a RDWR|CREAT\ncopy_file_range_sig 0 4096 fd:-1 100 33554432 2\n";
        let s = Scenario::parse("sig", t).unwrap();
        assert_eq!(
            s.lines[1].step,
            Step::CopySignalled {
                fd_in: FdRef::Slot(0),
                off_in: 4096,
                fd_out: FdRef::Raw(-1),
                off_out: 100,
                len: 32 << 20,
                chunks: 2,
            }
        );
        assert_eq!(Scenario::parse("sig", &s.to_text()).unwrap(), s);
        assert!(Scenario::parse("sig", "copy_file_range_sig 0 NULL 1 0 5 1").is_err());
    }

    #[test]
    fn text_round_trips() {
        let mut s = Scenario::new("t", "about it");
        s.small_fs = Some(1 << 20);
        s.untracked.push(Path::main("fill"));
        s.push(Step::Open {
            slot: 0,
            path: Path::main("a"),
            flags: o::RDWR | o::CREAT | o::TRUNC,
        })
        .push(Step::Open {
            slot: 1,
            path: Path::other("d/b"),
            flags: o::WRONLY | o::APPEND | 0o40000,
        })
        .push(Step::Pwrite {
            fd: FdRef::Slot(0),
            off: -5,
            len: 10,
            fill: Fill::Pattern(7),
        })
        .push(Step::CopyFileRange {
            fd_in: FdRef::Slot(0),
            off_in: None,
            fd_out: FdRef::Raw(-1),
            off_out: Some(i64::MIN),
            len: u64::MAX,
            flags: 1,
        })
        .push(Step::Dedupe {
            src: FdRef::Slot(0),
            off: 0,
            len: 4096,
            dests: vec![(FdRef::Slot(1), 0), (FdRef::Raw(99), 4096)],
        })
        .push(Step::Lseek {
            fd: FdRef::Slot(0),
            off: -1,
            whence: 3,
        })
        .push(Step::Fallocate {
            fd: FdRef::Slot(0),
            mode: 0x3,
            off: 0,
            len: 1,
        })
        .push(Step::FillUp { fd: FdRef::Slot(1) });
        s.lines.last_mut().unwrap().cmp = Cmp::ErrnoOnly;
        let t = s.to_text();
        assert_eq!(Scenario::parse("", &t).unwrap(), s, "{t}");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = Scenario::parse("x", "open 0 a RDWR\nfrobnicate 0\n").unwrap_err();
        assert!(e.starts_with("line 2: unknown step"), "{e}");
        let e = Scenario::parse("x", "pread zz 0 1\n").unwrap_err();
        assert!(e.contains("bad descriptor 'zz'"), "{e}");
    }
}
